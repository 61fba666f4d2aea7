//! Measurement plumbing: statistics, rows, alternation, the table and the JSON report.

use indicatif::ProgressBar;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

/// Options from the command line.
#[derive(Debug, Clone)]
pub struct BenchOpts {
    /// Only groups, or rows, whose name contains this.
    pub filter: Option<String>,
    /// Set by [`run`] while it runs a group whose name does not match `filter`: [`measure`] then
    /// skips the rows whose own name does not match either.
    pub row_filter: Option<String>,
    /// Fewer iterations and repetitions (a smoke run).
    pub quick: bool,
    /// Also run the Python peer (`host/cli/src/bench/python_peer.py`) when `python3` exists.
    pub python: bool,
    /// Repetitions per side (alternating).
    pub reps: usize,
}

impl BenchOpts {
    /// Scales an iteration count down in quick mode.
    pub fn iters(&self, full: u64) -> u64 {
        if self.quick {
            (full / 50).max(10)
        } else {
            full
        }
    }
}

/// One side of a row: repeated samples of one measurement.
#[derive(Debug, Clone)]
pub struct Stat {
    /// What was measured (e.g. `ringfork_spsc`, `rtrb_in_process`).
    pub name: String,
    /// Unit of the samples (e.g. `Mitems/s`, `ns/roundtrip`).
    pub unit: &'static str,
    /// Whether larger samples are better.
    pub higher_is_better: bool,
    /// The samples.
    pub samples: Vec<f64>,
}

impl Stat {
    /// An empty stat.
    pub fn new(name: impl Into<String>, unit: &'static str, higher_is_better: bool) -> Stat {
        Stat {
            name: name.into(),
            unit,
            higher_is_better,
            samples: Vec::new(),
        }
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.samples.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }

    /// The median sample (NaN if none).
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// The smallest sample.
    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    /// The largest sample.
    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    fn to_json(&self) -> Value {
        json!({"name": self.name, "median": finite(self.median()), "min": finite(self.min()),
               "max": finite(self.max()), "unit": self.unit, "higher_is_better": self.higher_is_better,
               "samples": self.samples.len()})
    }
}

fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// One row: ours against a baseline, with an optional target ratio.
#[derive(Debug, Clone)]
pub struct Row {
    /// Row name (e.g. `spsc_u64`).
    pub name: String,
    /// Our primitive.
    pub ours: Stat,
    /// The baseline.
    pub baseline: Stat,
    /// The ratio the issue asks for (ours must be at least this many times better), if any.
    pub target: Option<f64>,
    /// What limits this row / how to read it.
    pub note: String,
}

impl Row {
    /// How many times better ours is than the baseline (> 1: ours wins).
    pub fn ratio(&self) -> f64 {
        let (o, b) = (self.ours.median(), self.baseline.median());
        if self.ours.higher_is_better {
            o / b
        } else {
            b / o
        }
    }

    /// Whether the target (if any) is met.
    pub fn meets(&self) -> Option<bool> {
        self.target.map(|t| self.ratio() >= t)
    }

    fn to_json(&self) -> Value {
        json!({"name": self.name, "ours": self.ours.to_json(), "baseline": self.baseline.to_json(),
               "ratio": finite(self.ratio()), "target": self.target, "meets_target": self.meets(),
               "note": self.note})
    }
}

/// A spec for a row measured by alternating two closures.
pub struct Spec<'a> {
    /// Row name.
    pub name: &'static str,
    /// Unit of both sides.
    pub unit: &'static str,
    /// Direction of both sides.
    pub higher_is_better: bool,
    /// Our side: name and measurement (one sample per call).
    pub ours: (&'static str, Box<dyn FnMut() -> f64 + 'a>),
    /// Baseline side.
    pub baseline: (&'static str, Box<dyn FnMut() -> f64 + 'a>),
    /// Target ratio.
    pub target: Option<f64>,
    /// Note.
    pub note: &'static str,
}

impl std::fmt::Debug for Spec<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec").field("name", &self.name).finish()
    }
}

/// Measures a spec: `reps` samples per side, alternating ours/baseline (starting side alternates too).
pub fn measure(opts: &BenchOpts, mut spec: Spec<'_>) -> Row {
    let mut ours = Stat::new(spec.ours.0, spec.unit, spec.higher_is_better);
    let mut base = Stat::new(spec.baseline.0, spec.unit, spec.higher_is_better);
    if opts
        .row_filter
        .as_ref()
        .is_some_and(|f| !spec.name.contains(f.as_str()))
    {
        // Skipped: no samples; `run` drops the row.
        return Row {
            name: spec.name.into(),
            ours,
            baseline: base,
            target: spec.target,
            note: spec.note.into(),
        };
    }
    eprintln!("bench:   {} ...", spec.name);
    // One untimed warm-up each (page faults, caches, frequency).
    let _ = (spec.ours.1)();
    let _ = (spec.baseline.1)();
    for rep in 0..opts.reps {
        if rep % 2 == 0 {
            ours.samples.push((spec.ours.1)());
            base.samples.push((spec.baseline.1)());
        } else {
            base.samples.push((spec.baseline.1)());
            ours.samples.push((spec.ours.1)());
        }
    }
    Row {
        name: spec.name.into(),
        ours,
        baseline: base,
        target: spec.target,
        note: spec.note.into(),
    }
}

/// A full report.
#[derive(Debug, Clone)]
pub struct Report {
    /// Machine facts.
    pub machine: Value,
    /// Rows in run order.
    pub rows: Vec<Row>,
    /// Seconds the whole run took.
    pub seconds: f64,
}

impl Report {
    /// `{"machine": {...}, "rows": [...]}`.
    pub fn to_json(&self) -> Value {
        json!({"machine": self.machine, "seconds": self.seconds,
               "rows": self.rows.iter().map(Row::to_json).collect::<Vec<_>>()})
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{:<26} {:>14} {:>14} {:<14} {:>8}  {:<28} {:>8} {}\n",
            "row", "ours", "baseline", "unit", "ratio", "baseline name", "target", "ok"
        ));
        for r in &self.rows {
            s.push_str(&format!(
                "{:<26} {:>14} {:>14} {:<14} {:>8.2}  {:<28} {:>8} {}\n",
                r.name,
                fmt_num(r.ours.median()),
                fmt_num(r.baseline.median()),
                r.ours.unit,
                r.ratio(),
                r.baseline.name,
                r.target.map(|t| format!(">={t:.2}")).unwrap_or_default(),
                match r.meets() {
                    Some(true) => "yes",
                    Some(false) => "MISSED",
                    None => "",
                }
            ));
        }
        s
    }
}

fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// Machine facts for the report.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "cpu_model": cpu,
           "kernel": kernel, "unix_time": now, "ringfork_version": env!("CARGO_PKG_VERSION")})
}

/// The round trip of one cache line between two busy processes (ns, the median of three short
/// atomic ping-pongs), recorded at the start and the end of every run: on a VM whose host moves its
/// vCPUs between cores and dies, it changes by up to 5x between runs, and with it every row whose
/// cost is cross-core traffic (a 1P1C queue). Compare such rows between runs only at similar values.
fn line_round_trip() -> f64 {
    let mut v: Vec<f64> = (0..3).map(|_| super::baseline::atomic_pingpong(50_000)).collect();
    v.sort_by(f64::total_cmp);
    v[1]
}

/// The Python peer script, embedded so the binary works wherever it is run from.
const PYTHON_PEER: &str = include_str!("python_peer.py");

/// Runs `host/cli/src/bench/python_peer.py` for the named scenarios; returns its stats by name.
pub fn python_peer(opts: &BenchOpts, names: &[&str]) -> Result<HashMap<String, Stat>, String> {
    let dir = std::env::temp_dir().join(format!("ringfork-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir: {e}"))?;
    let script = dir.join("python_peer.py");
    std::fs::write(&script, PYTHON_PEER).map_err(|e| format!("writing the peer script: {e}"))?;
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script)
        .arg("--reps")
        .arg(opts.reps.min(5).to_string())
        .arg("--only")
        .arg(names.join(","));
    if opts.quick {
        cmd.arg("--quick");
    }
    let out = cmd.stderr(std::process::Stdio::inherit()).output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.map_err(|e| format!("python3 not runnable ({e}); install Python 3 or drop --python"))?;
    if !out.status.success() {
        return Err(format!("python peer failed with {}", out.status));
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("python peer printed invalid JSON: {e}"))?;
    let mut map = HashMap::new();
    if let Some(results) = v["results"].as_object() {
        for (name, r) in results {
            let unit: &'static str = match r["unit"].as_str().unwrap_or("") {
                "Mitems/s" => "Mitems/s",
                "ns/roundtrip" => "ns/roundtrip",
                "Mops/s" => "Mops/s",
                "Mtasks/s" => "Mtasks/s",
                "Mmsgs/s" => "Mmsgs/s",
                "us/roundtrip" => "us/roundtrip",
                "us/process" => "us/process",
                _ => "?",
            };
            let mut st = Stat::new(name.clone(), unit, r["higher_is_better"].as_bool().unwrap_or(true));
            // The peer reports median/min/max; keep all three as samples so median/min/max survive.
            for k in ["min", "median", "max"] {
                if let Some(x) = r[k].as_f64() {
                    st.samples.push(x);
                }
            }
            map.insert(name.clone(), st);
        }
    }
    Ok(map)
}

/// Runs every row matching the filter, then (with `--python`) the rows against Python's
/// `multiprocessing`; prints progress on stderr.
pub fn run(opts: &BenchOpts, bar: &ProgressBar) -> Report {
    let start = Instant::now();
    let rtt_start = line_round_trip();
    let wanted = |name: &str| opts.filter.as_ref().is_none_or(|f| name.contains(f.as_str()));
    let say = |what: &str| {
        if bar.is_hidden() {
            eprintln!("bench: {what} ...");
        } else {
            bar.set_message(what.to_owned());
        }
    };
    let groups = super::rows::all();
    bar.set_length(groups.len() as u64 + u64::from(opts.python));
    let mut rows = Vec::new();
    for (name, f) in groups {
        let mut o = opts.clone();
        if !wanted(name) {
            // Run the group's rows whose own names match, if any.
            o.row_filter = opts.filter.clone();
        } else {
            say(name);
        }
        rows.extend(f(&o).into_iter().filter(|r| !r.ours.samples.is_empty()));
        bar.inc(1);
    }
    if opts.python {
        let pairs: Vec<_> = super::rows::python_pairs()
            .into_iter()
            .filter(|p| wanted(p.row))
            .collect();
        if !pairs.is_empty() {
            let names: Vec<&str> = pairs.iter().map(|p| p.python).collect();
            // Half of our samples before the peer runs, half after: same run, same conditions.
            let mut ours: Vec<Stat> = pairs
                .iter()
                .map(|p| Stat::new(p.ours_name, p.unit, p.higher_is_better))
                .collect();
            let half = opts.reps.div_ceil(2);
            for (p, st) in pairs.iter().zip(ours.iter_mut()) {
                say(&format!("{} (ours)", p.row));
                for _ in 0..half {
                    st.samples.push((p.ours)(opts));
                }
            }
            say("python peer");
            match python_peer(opts, &names) {
                Ok(py) => {
                    for (p, mut st) in pairs.into_iter().zip(ours) {
                        for _ in half..opts.reps {
                            st.samples.push((p.ours)(opts));
                        }
                        let baseline = py
                            .get(p.python)
                            .cloned()
                            .unwrap_or_else(|| Stat::new(p.python, p.unit, p.higher_is_better));
                        rows.push(Row {
                            name: p.row.into(),
                            ours: st,
                            baseline,
                            target: p.target,
                            note: p.note.into(),
                        });
                    }
                }
                Err(e) => eprintln!("bench: skipping the Python rows: {e}"),
            }
        }
    }
    if opts.python {
        bar.inc(1);
    }
    let rtt_end = line_round_trip();
    bar.finish_and_clear();
    let mut machine = machine();
    machine["line_round_trip_ns"] = json!({"start": rtt_start, "end": rtt_end});
    Report {
        machine,
        rows,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// A row against Python's `multiprocessing`: ours is measured here, the baseline by the peer script.
#[derive(Debug)]
pub struct PythonPair {
    /// Row name.
    pub row: &'static str,
    /// Our side's name.
    pub ours_name: &'static str,
    /// Our measurement (one sample).
    pub ours: fn(&BenchOpts) -> f64,
    /// The peer's scenario name (starts with `python_`).
    pub python: &'static str,
    /// Unit (must match the peer's).
    pub unit: &'static str,
    /// Direction.
    pub higher_is_better: bool,
    /// Target ratio.
    pub target: Option<f64>,
    /// Note.
    pub note: &'static str,
}
