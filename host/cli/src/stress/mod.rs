//! `ringfork stress`: hammer a primitive with many processes, check invariants live, SIGKILL
//! participants at random moments, and report. This is how the crash model in `docs/reliability.md`
//! is proven rather than claimed.
//!
//! Every target follows the same shape: fork `procs` participants that work on shared objects and
//! record what they did in shared memory (per-producer sequence numbers, checksums, occupancy flags);
//! the supervisor (this process) kills `--kill` of them at seeded random moments, waits for the rest
//! under a watchdog, and checks the invariants. A run that would hang is a failure: the watchdog kills
//! everything it started and reports `hung`.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub mod pool;
pub mod queue;
pub mod rings;
pub mod scribble;
pub mod sync;
pub mod targets;

/// Options from the command line.
#[derive(Debug, Clone)]
pub struct StressOpts {
    /// Participant processes.
    pub procs: usize,
    /// Operations per participant (targets scale it to their unit of work).
    pub ops: u64,
    /// Run for this long instead of a fixed number of operations (participants loop until told to stop).
    pub duration: Option<Duration>,
    /// Participants to SIGKILL at random moments.
    pub kill: u32,
    /// Seed for every random choice (victims, moments, sizes).
    pub seed: u64,
}

/// The result of one target's run.
#[derive(Debug, Clone, Default)]
pub struct StressReport {
    /// Target name.
    pub target: String,
    /// Participants.
    pub procs: usize,
    /// Operations completed (all participants).
    pub ops: u64,
    /// Seconds the run took.
    pub seconds: f64,
    /// Participants killed.
    pub kills: u32,
    /// Documented recoveries observed (OwnerDied repaired, dead peer detected, ...).
    pub recoveries: u64,
    /// Invariant name → violations.
    pub violations: BTreeMap<String, u64>,
    /// Longest time from a kill to its detection by a survivor, in ms.
    pub max_detect_ms: f64,
    /// Whether the watchdog had to kill a stuck run.
    pub hung: bool,
    /// Target-specific measurements (e.g. `max_overrun_ms`); a merge keeps each one's maximum.
    pub metrics: BTreeMap<String, f64>,
    /// Free-form notes (what was stuck, what the numbers mean).
    pub notes: Vec<String>,
}

impl StressReport {
    /// A report for `target` with every invariant in `invariants` at zero violations.
    pub fn new(target: &str, procs: usize, invariants: &[&str]) -> StressReport {
        StressReport {
            target: target.to_owned(),
            procs,
            violations: invariants.iter().map(|i| (i.to_string(), 0)).collect(),
            ..Default::default()
        }
    }

    /// Adds `n` violations of `invariant`.
    pub fn violate(&mut self, invariant: &str, n: u64) {
        *self.violations.entry(invariant.to_owned()).or_insert(0) += n;
    }

    /// Total violations.
    pub fn total_violations(&self) -> u64 {
        self.violations.values().sum()
    }

    /// Whether the run passed (no violation, not hung).
    pub fn passed(&self) -> bool {
        self.total_violations() == 0 && !self.hung
    }

    /// This report plus a later round's: counts add up, the worst detection and any hang stay.
    pub fn merge(mut self, r: StressReport) -> StressReport {
        let failed = !r.passed();
        self.ops += r.ops;
        self.seconds += r.seconds;
        self.kills += r.kills;
        self.recoveries += r.recoveries;
        for (k, v) in r.violations {
            *self.violations.entry(k).or_insert(0) += v;
        }
        self.max_detect_ms = self.max_detect_ms.max(r.max_detect_ms);
        for (k, v) in r.metrics {
            let m = self.metrics.entry(k).or_insert(v);
            *m = m.max(v);
        }
        self.hung |= r.hung;
        // Notes describe one round; the first round's stand for all (a failing round's are kept).
        if failed {
            self.notes.extend(r.notes);
        }
        self
    }

    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ops as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The JSON object `ringfork stress --json` prints.
    pub fn to_json(&self) -> Value {
        json!({"target": self.target, "procs": self.procs, "ops": self.ops, "ops_per_sec": self.ops_per_sec(),
               "seconds": self.seconds, "kills": self.kills, "recoveries": self.recoveries,
               "violations": self.violations, "max_detect_ms": self.max_detect_ms, "hung": self.hung,
               "passed": self.passed(), "metrics": self.metrics, "notes": self.notes})
    }

    /// A human-readable report.
    pub fn text(&self) -> String {
        let mut s = format!(
            "stress {}: {} procs, {} ops in {:.2} s ({:.0} ops/s), {} killed, {} recoveries, max detection {:.1} ms{}\n",
            self.target,
            self.procs,
            self.ops,
            self.seconds,
            self.ops_per_sec(),
            self.kills,
            self.recoveries,
            self.max_detect_ms,
            if self.hung { ", HUNG (watchdog fired)" } else { "" }
        );
        for (k, v) in &self.violations {
            s.push_str(&format!("  {:<28} {:>6} violation(s)\n", k, v));
        }
        for (k, v) in &self.metrics {
            s.push_str(&format!("  {:<28} {:>10.3}\n", k, v));
        }
        for n in &self.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        s.push_str(if self.passed() {
            "  result: PASS\n"
        } else {
            "  result: FAIL\n"
        });
        s
    }
}

/// A small seeded PRNG (xorshift64*), so every run is reproducible from `--seed`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded (a zero seed is remapped: xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Plans and carries out random kills: `k` moments spread over `window`, each choosing a live victim.
#[derive(Debug)]
pub struct Killer {
    rng: Rng,
    moments: Vec<Duration>,
    start: Instant,
    /// When each kill happened (for detection latency).
    pub killed_at: Vec<(libc::pid_t, Instant)>,
}

impl Killer {
    /// `k` kills at random moments in `window` (from now).
    pub fn new(seed: u64, k: u32, window: Duration) -> Killer {
        let mut rng = Rng::new(seed.wrapping_add(0xC0FFEE));
        let mut moments: Vec<Duration> = (0..k)
            .map(|_| Duration::from_micros(rng.below(window.as_micros().max(1) as u64)))
            .collect();
        moments.sort();
        moments.reverse();
        Killer {
            rng,
            moments,
            start: Instant::now(),
            killed_at: Vec::new(),
        }
    }

    /// If a kill is due, SIGKILLs one of `pids` (those not yet finished) and returns its index.
    pub fn tick_pids(&mut self, pids: &[libc::pid_t]) -> Option<usize> {
        let due = self.moments.last().is_some_and(|m| self.start.elapsed() >= *m);
        if !due || pids.is_empty() {
            return None;
        }
        self.moments.pop();
        let i = self.rng.below(pids.len() as u64) as usize;
        // SAFETY: kill(2) on a child's pid; no memory effects.
        unsafe { libc::kill(pids[i], libc::SIGKILL) };
        self.killed_at.push((pids[i], Instant::now()));
        Some(i)
    }

    /// Whether a kill is due now.
    pub fn is_due(&self) -> bool {
        self.moments.last().is_some_and(|m| self.start.elapsed() >= *m)
    }
}

/// A stress target: a name and its run function.
pub type Target = (&'static str, fn(&StressOpts) -> StressReport);

/// Targets whose participants loop until `--duration` themselves.
pub const TIMED_TARGETS: [&str; 2] = ["mutex", "pool"];

/// Runs target `name`. With `--duration`, a target that works by operation count
/// (every one but [`TIMED_TARGETS`]) runs in rounds of `--ops` — each with its own processes, kills
/// and invariant checks, seeds `seed`, `seed + 1`, ... — until the duration has passed or a round
/// fails; the report adds the rounds up.
pub fn run(name: &str, f: fn(&StressOpts) -> StressReport, opts: &StressOpts) -> StressReport {
    let Some(d) = opts.duration.filter(|_| !TIMED_TARGETS.contains(&name)) else {
        return f(opts);
    };
    let start = Instant::now();
    let mut total: Option<StressReport> = None;
    let mut rounds = 0u64;
    loop {
        let o = StressOpts {
            duration: None,
            seed: opts.seed.wrapping_add(rounds),
            ..opts.clone()
        };
        let r = f(&o);
        rounds += 1;
        let t = match total.take() {
            None => r,
            Some(t) => t.merge(r),
        };
        let stop = !t.passed() || start.elapsed() >= d;
        total = Some(t);
        if stop {
            break;
        }
    }
    let mut t = total.unwrap_or_default();
    t.notes.push(format!(
        "--duration {:.0} s: {rounds} round(s) of --ops {} (seeds {}..={})",
        d.as_secs_f64(),
        opts.ops,
        opts.seed,
        opts.seed.wrapping_add(rounds - 1)
    ));
    t
}

/// The deadline a whole target run gets before its watchdog fires.
pub fn watchdog(opts: &StressOpts) -> Duration {
    opts.duration.unwrap_or(Duration::ZERO) + Duration::from_secs(60)
}
