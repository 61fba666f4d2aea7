//! Stress targets for the synchronization primitives: `mutex`, `semaphore`, `value`, `barrier`.
//!
//! Each forks `procs` participants through `supervise`, which SIGKILLs `--kill` of them at seeded
//! random moments (recording when, in shared memory, so a survivor can time its detection), reaps
//! them, and fires the watchdog if the run would hang.

use super::{Killer, StressOpts, StressReport};
use crate::child::{try_fork_partner, Partner};
use ringfork::sync::LockError;
use ringfork::{Barrier, Event, Mutex, RawValue, Segment, Semaphore, Value};
use ringfork_core::atomic::{AtomicU64, Ordering};
use ringfork_core::sync::mutex::MutexError;
use ringfork_core::time::{Clock, OsClock};
use ringfork_core::Kind;
use std::time::{Duration, Instant};

/// How often participants report progress.
pub(super) const PROGRESS_EVERY: u64 = 64;

pub(super) fn now_ns() -> u64 {
    OsClock::now().map(|i| i.0).unwrap_or(0)
}

/// A few shared u64 counters (violations, recoveries, detection times, the last kill's time).
#[derive(Clone)]
pub(super) struct Counters {
    seg: Segment,
}

impl Counters {
    pub(super) const VIOL: usize = 0;
    pub(super) const RECOVER: usize = 1;
    const DETECT_NS: usize = 2;
    pub(super) const LAST_KILL_NS: usize = 3;
    pub(super) const DONE: usize = 4;
    /// Operations done so far, bumped by participants every `PROGRESS_EVERY` operations: kills are
    /// planned by progress, not by time, so they land mid-run however fast the machine is.
    pub(super) const PROGRESS: usize = 5;
    /// Set by the supervisor once every participant is forked: all start together.
    const GO: usize = 6;
    /// Slots 7..N are the targets' own (a second violation count is `N - 1`).
    pub(super) const N: usize = 16;

    pub(super) fn new() -> Result<Counters, ringfork::SegmentError> {
        let seg = Segment::anonymous(4096)?;
        seg.alloc(Kind::Cell, "counters", Self::N * 8, 64)?;
        Ok(Counters { seg })
    }

    pub(super) fn get(&self, i: usize) -> &AtomicU64 {
        let e = self.seg.find("counters").expect("counters");
        let r = self
            .seg
            .sub_region(e.offset + i.min(Self::N - 1) * 8, 8)
            .expect("in bounds");
        // SAFETY: 8 bytes inside the live mapping, 8-aligned; only accessed atomically.
        unsafe { &*(r.as_ptr() as *const AtomicU64) }
    }

    fn clone_view(&self) -> Counters {
        Counters { seg: self.seg.clone() }
    }
}

/// Forks `n` participants running `body(i)`, kills per the options, reaps all; returns the
/// participants that were killed. A participant that exits non-zero (101: it panicked) or dies of a
/// signal the supervisor did not send (SIGSEGV, SIGBUS, an abort) is a `participant_failed` violation.
pub(super) fn supervise(o: &StressOpts, rep: &mut StressReport, c: &Counters, n: usize, body: impl Fn(usize)) -> usize {
    supervise_with(o, rep, c, n, body, &|| None)
}

/// [`supervise`], with `prefer` naming a victim to kill when one is due (e.g. the lock's current
/// owner), if it is a live participant; otherwise a random live participant dies.
pub(super) fn supervise_with(
    o: &StressOpts,
    rep: &mut StressReport,
    c: &Counters,
    n: usize,
    body: impl Fn(usize),
    prefer: &dyn Fn() -> Option<u32>,
) -> usize {
    let start = Instant::now();
    let mut kids: Vec<Partner> = Vec::new();
    for i in 0..n {
        let b = &body;
        let go = c.clone();
        match try_fork_partner(move || {
            while go.get(Counters::GO).load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            b(i)
        }) {
            Ok(k) => kids.push(k),
            Err(e) => rep.notes.push(format!("fork failed: {e}")),
        }
    }
    c.get(Counters::GO).store(1, Ordering::SeqCst);
    // Kill points: with --duration, moments in time; otherwise fractions (5%..70%) of the total work.
    let total = o.ops.saturating_mul(n as u64);
    let mut killer = Killer::new(o.seed, o.kill, o.duration.unwrap_or(Duration::from_millis(1)));
    let mut rng = super::Rng::new(o.seed ^ 0x5EED);
    let mut points: Vec<u64> = (0..o.kill)
        .map(|_| total / 20 + rng.below((total * 13 / 20).max(1)))
        .collect();
    points.sort_unstable_by(|a, b| b.cmp(a));
    let deadline = start + super::watchdog(o);
    let mut done = vec![false; kids.len()];
    let mut killed = 0;
    let mut victims: Vec<libc::pid_t> = Vec::new();
    loop {
        for (i, k) in kids.iter().enumerate() {
            if !done[i] {
                if let Some(st) = k.try_wait() {
                    done[i] = true;
                    if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) != 0 {
                        rep.notes
                            .push(format!("participant {} exited with {}", k.pid(), libc::WEXITSTATUS(st)));
                        rep.violate("participant_failed", 1);
                    } else if libc::WIFSIGNALED(st) && !victims.contains(&k.pid()) {
                        rep.notes.push(format!(
                            "participant {} died of signal {} (not one of the supervisor's kills)",
                            k.pid(),
                            libc::WTERMSIG(st)
                        ));
                        rep.violate("participant_failed", 1);
                    }
                }
            }
        }
        let due = if o.duration.is_some() {
            killer.is_due()
        } else {
            points
                .last()
                .is_some_and(|&p| c.get(Counters::PROGRESS).load(Ordering::SeqCst) >= p)
        };
        if due {
            points.pop();
            let live: Vec<libc::pid_t> = kids
                .iter()
                .zip(&done)
                .filter(|(_, d)| !**d)
                .map(|(k, _)| k.pid())
                .collect();
            if !live.is_empty() {
                let preferred = prefer().map(|p| p as libc::pid_t).filter(|p| live.contains(p));
                let victim = preferred.unwrap_or(live[rng.below(live.len() as u64) as usize]);
                // Record the kill time first, so the detector never sees a kill from the future.
                c.get(Counters::LAST_KILL_NS).store(now_ns(), Ordering::SeqCst);
                // SAFETY: kill(2) on a child's pid; no memory effects.
                unsafe { libc::kill(victim, libc::SIGKILL) };
                victims.push(victim);
                if o.duration.is_some() {
                    let _ = killer.tick_pids(&[]);
                }
                rep.kills += 1;
                killed += 1;
            }
        }
        if done.iter().all(|d| *d) {
            break;
        }
        if Instant::now() > deadline {
            rep.hung = true;
            rep.notes
                .push("watchdog: participants still running; killed them".into());
            for (k, d) in kids.iter().zip(&done) {
                if !*d {
                    k.signal(libc::SIGKILL);
                    let _ = k.wait_timeout(Duration::from_secs(2));
                }
            }
            break;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    rep.seconds = start.elapsed().as_secs_f64();
    killed
}

pub(super) fn finish(rep: &mut StressReport, c: &Counters) {
    rep.recoveries = c.get(Counters::RECOVER).load(Ordering::SeqCst);
    rep.max_detect_ms = c.get(Counters::DETECT_NS).load(Ordering::SeqCst) as f64 / 1e6;
    if rep.hung {
        rep.violate("completed", 1);
    }
}

/// `mutex`: critical sections with an "occupied" flag and a counter inside `Mutex<[u64; 2]>`.
/// A participant killed inside its critical section leaves the lock to a survivor, which gets
/// `OwnerDied`, repairs the flag, marks the data consistent, and times the detection.
pub fn mutex(o: &StressOpts) -> StressReport {
    let mut rep = StressReport::new("mutex", o.procs, &["mutual_exclusion", "counter_total", "completed"]);
    let (Ok(m), Ok(c)) = (Mutex::new([0u64; 2]), Counters::new()) else {
        rep.violate("completed", 1);
        return rep;
    };
    let ops = o.ops;
    let deadline = o.duration;
    let cv = c.clone_view();
    let m2 = m.clone();
    let m3 = m.clone();
    // Kill the lock's holder when one is due: that is the case robustness is about.
    let prefer = move || m3.owner();
    supervise_with(
        o,
        &mut rep,
        &c,
        o.procs,
        move |_| {
            let start = Instant::now();
            let mut i = 0;
            while deadline.map_or(i < ops, |d| start.elapsed() < d) {
                let mut g = match m2.lock() {
                    Ok(mut g) if g.owner_died() => {
                        let kill = cv.get(Counters::LAST_KILL_NS).load(Ordering::SeqCst);
                        cv.get(Counters::DETECT_NS)
                            .fetch_max(now_ns().saturating_sub(kill), Ordering::SeqCst);
                        cv.get(Counters::RECOVER).fetch_add(1, Ordering::SeqCst);
                        g[1] = 0; // repair: the dead owner left "occupied" set
                        g.mark_consistent();
                        g
                    }
                    Ok(g) => g,
                    Err(_) => std::process::exit(3),
                };
                if g[1] != 0 {
                    cv.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
                }
                g[1] = 1;
                g[0] += 1;
                // A little work inside the critical section, so kills land in it too.
                for _ in 0..64 {
                    std::hint::black_box(&g);
                }

                g[1] = 0;
                drop(g);
                i += 1;
                if i % PROGRESS_EVERY == 0 {
                    cv.get(Counters::PROGRESS).fetch_add(PROGRESS_EVERY, Ordering::SeqCst);
                }
            }
            cv.get(Counters::DONE).fetch_add(i, Ordering::SeqCst);
        },
        &prefer,
    );
    let data = match m.lock() {
        Ok(mut g) if g.owner_died() => {
            g.mark_consistent();
            *g
        }
        Ok(g) => *g,
        Err(_) => [0, 0],
    };
    rep.violate("mutual_exclusion", c.get(Counters::VIOL).load(Ordering::SeqCst));
    let done = c.get(Counters::DONE).load(Ordering::SeqCst);
    // Killed participants never reported their count: the counter may exceed the reported total by
    // what they did, but never fall short of it.
    if data[0] < done {
        rep.violate("counter_total", done - data[0]);
    }
    if rep.kills == 0 && data[0] != done {
        rep.violate("counter_total", data[0].abs_diff(done));
    }
    rep.ops = data[0];
    finish(&mut rep, &c);
    rep.notes.push(format!(
        "counter {} / reported {done}; max_detect_ms = owner death to OwnerDied",
        data[0]
    ));
    rep
}

/// `semaphore`: at most `procs / 2` holders at once, checked with a shared holder count.
pub fn semaphore(o: &StressOpts) -> StressReport {
    let mut rep = StressReport::new("semaphore", o.procs, &["bound", "completed"]);
    let limit = (o.procs / 2).max(1) as u32;
    let (Ok(s), Ok(holders), Ok(c)) = (Semaphore::new(limit), RawValue::new(0u64), Counters::new()) else {
        rep.violate("completed", 1);
        return rep;
    };
    let (ops, cv, s2, h2) = (o.ops / 4 + 1, c.clone_view(), s.clone(), holders.clone());
    let killed = supervise(o, &mut rep, &c, o.procs, move |_| {
        for _ in 0..ops {
            // A killed holder never releases (as with POSIX semaphores): survivors use timeouts.
            if !s2.acquire_timeout(Duration::from_secs(2)) {
                cv.get(Counters::RECOVER).fetch_add(1, Ordering::SeqCst);
                continue;
            }
            if h2.fetch_add(1) >= u64::from(limit) {
                cv.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
            }
            std::hint::spin_loop();
            h2.fetch_add(u64::MAX); // -1
            let _ = s2.release();
            cv.get(Counters::DONE).fetch_add(1, Ordering::SeqCst);
            cv.get(Counters::PROGRESS).fetch_add(4, Ordering::SeqCst);
        }
    });
    rep.violate("bound", c.get(Counters::VIOL).load(Ordering::SeqCst));
    rep.ops = c.get(Counters::DONE).load(Ordering::SeqCst);
    finish(&mut rep, &c);
    rep.notes.push(format!(
        "limit {limit}; a killed holder's permit is gone for good (POSIX semantics): {killed} kill(s) may cost \
         that many permits, and `recoveries` counts survivors' acquire timeouts"
    ));
    rep
}

/// `value`: `procs` processes add to a `Value<u64>` under its lock and to an atomic counter; both
/// totals must match what the survivors report (a killed adder may have added once more than it told).
pub fn value(o: &StressOpts) -> StressReport {
    let mut rep = StressReport::new("value", o.procs, &["counter_total", "completed"]);
    let (Ok(v), Ok(a), Ok(c)) = (Value::new(0u64), RawValue::new(0u64), Counters::new()) else {
        rep.violate("completed", 1);
        return rep;
    };
    let (ops, cv, v2, a2) = (o.ops, c.clone_view(), v.clone(), a.clone());
    supervise(o, &mut rep, &c, o.procs, move |_| {
        let mut n = 0;
        for _ in 0..ops {
            match v2.with_lock(|x| *x += 1) {
                Ok(()) => {}
                Err(LockError::OwnerDied) => {
                    // The dead adder either added or did not: the value is consistent either way (the
                    // call recovered the lock and reports the death once).
                    cv.get(Counters::RECOVER).fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                Err(_) => std::process::exit(3),
            }
            a2.fetch_add(1);
            n += 1;
            if n % PROGRESS_EVERY == 0 {
                cv.get(Counters::PROGRESS).fetch_add(PROGRESS_EVERY, Ordering::SeqCst);
            }
        }
        cv.get(Counters::DONE).fetch_add(n, Ordering::SeqCst);
    });
    let locked = match v.get() {
        Ok(x) => x,
        Err(LockError::OwnerDied) => v.get().unwrap_or(0),
        Err(_) => 0,
    };
    let atomic = a.get();
    let done = c.get(Counters::DONE).load(Ordering::SeqCst);
    let slack = u64::from(rep.kills) * o.ops; // a killed adder's whole work is unreported
    if locked < done || locked > done + slack || atomic < done || atomic > done + slack {
        rep.violate("counter_total", 1);
    }
    rep.ops = locked;
    finish(&mut rep, &c);
    rep.notes.push(format!(
        "locked total {locked}, atomic total {atomic}, survivors reported {done}"
    ));
    rep
}

/// `barrier`: `procs` parties run rounds; every round hands out each index once. A killed party
/// breaks the barrier for everyone (waits time out); survivors then stop.
pub fn barrier(o: &StressOpts) -> StressReport {
    let mut rep = StressReport::new("barrier", o.procs, &["round_indices", "completed"]);
    let parties = o.procs as u32;
    let rounds = (o.ops / 50).clamp(1, 10_000);
    let (Ok(b), Ok(c)) = (Barrier::new(parties), Counters::new()) else {
        rep.violate("completed", 1);
        return rep;
    };
    let Ok(marks) = RawValue::new(0u64) else {
        rep.violate("completed", 1);
        return rep;
    };
    let (cv, b2, m2) = (c.clone_view(), b.clone(), marks.clone());
    supervise(o, &mut rep, &c, o.procs, move |_| {
        let mut done = 0;
        for r in 0..rounds {
            match b2.wait_timeout(Duration::from_millis(500)) {
                // Each round's indices must be exactly {0..parties}: add 1 << index to a per-round sum.
                Ok(idx) if idx < parties => {
                    m2.fetch_add((1u64 << idx) + (r << 40));
                }
                Ok(_) => {
                    cv.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => {
                    cv.get(Counters::RECOVER).fetch_add(1, Ordering::SeqCst);
                    break; // broken: a party died or timed out
                }
            }
            done += 1;
            cv.get(Counters::PROGRESS).fetch_add(50, Ordering::SeqCst);
        }
        cv.get(Counters::DONE).fetch_add(done, Ordering::SeqCst);
    });
    let done = c.get(Counters::DONE).load(Ordering::SeqCst);
    if rep.kills == 0 {
        // Without kills every round completes: the low bits sum to rounds * (2^parties - 1).
        let expected_low = rounds * ((1u64 << parties) - 1);
        let expected_high = (0..rounds).sum::<u64>() * u64::from(parties);
        let total = marks.get();
        let low_mask = (1u64 << 40) - 1;
        if total & low_mask != expected_low & low_mask || total >> 40 != expected_high & ((1 << 24) - 1) {
            rep.violate("round_indices", 1);
        }
        if done != rounds * u64::from(parties) {
            rep.violate("completed", 1);
        }
    }
    rep.violate("round_indices", c.get(Counters::VIOL).load(Ordering::SeqCst));
    rep.ops = done;
    finish(&mut rep, &c);
    rep.notes.push(format!("{rounds} round(s) of {parties} parties; a killed party breaks the barrier (recoveries = survivors that saw it broken)"));
    rep
}

/// `rlock`: like `mutex`, but each critical section takes the `RLock` twice (reentrantly) and
/// releases it twice; the holder is killed when a kill is due.
pub fn rlock(o: &StressOpts) -> StressReport {
    use ringfork_core::sync::LockOutcome;
    let mut rep = StressReport::new("rlock", o.procs, &["mutual_exclusion", "reentrancy", "completed"]);
    let (Ok(l), Ok(busy), Ok(c)) = (ringfork::RLock::new(), RawValue::new(0u64), Counters::new()) else {
        rep.violate("completed", 1);
        return rep;
    };
    let (ops, cv, l2, b2, l3) = (o.ops, c.clone(), l.clone(), busy.clone(), l.clone());
    let prefer = move || l3.owner();
    supervise_with(
        o,
        &mut rep,
        &c,
        o.procs,
        move |_| {
            for i in 0..ops {
                match l2.acquire() {
                    Ok(LockOutcome::Acquired) => {}
                    Ok(LockOutcome::OwnerDied) => {
                        let kill = cv.get(Counters::LAST_KILL_NS).load(Ordering::SeqCst);
                        cv.get(Counters::DETECT_NS)
                            .fetch_max(now_ns().saturating_sub(kill), Ordering::SeqCst);
                        cv.get(Counters::RECOVER).fetch_add(1, Ordering::SeqCst);
                        b2.set(0); // repair: the dead holder left "busy" set
                        let _ = l2.mark_consistent();
                    }
                    Err(_) => std::process::exit(3),
                }
                // Reentrant: the owner takes it again without blocking.
                if !matches!(l2.acquire(), Ok(LockOutcome::Acquired)) || l2.depth() != 2 {
                    cv.get(Counters::N - 1).fetch_add(1, Ordering::SeqCst);
                }
                if b2.get() != 0 {
                    cv.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
                }
                b2.set(1);
                std::hint::black_box(&b2);
                b2.set(0);
                let _ = l2.release();
                let _ = l2.release();
                if (i + 1) % PROGRESS_EVERY == 0 {
                    cv.get(Counters::PROGRESS).fetch_add(PROGRESS_EVERY, Ordering::SeqCst);
                }
            }
            cv.get(Counters::DONE).fetch_add(ops, Ordering::SeqCst);
        },
        &prefer,
    );
    rep.violate("mutual_exclusion", c.get(Counters::VIOL).load(Ordering::SeqCst));
    rep.violate("reentrancy", c.get(Counters::N - 1).load(Ordering::SeqCst));
    rep.ops = c.get(Counters::DONE).load(Ordering::SeqCst);
    finish(&mut rep, &c);
    rep
}

/// Receives a `u64`, giving up after 2 s: a peer killed before it ever used its end never
/// registered, so its death cannot be detected (as for the raw rings' `spsc`/`bytes` targets, the
/// deadline is the survivor's way out).
fn recv_within_2s(conn: &mut ringfork::Connection) -> Result<u64, ringfork::PipeError> {
    conn.recv_plain_timeout::<u64>(Duration::from_secs(2))
}

/// One pipe message: a sequence number and a payload whose bytes are a function of both, so the
/// receiver can check every byte. Most payloads are small (0-256 B); every 128th one, for the first 32
/// of them, is large: random in 0 B-16 MiB, far above the pipe's frame limit, so it is streamed.
fn pipe_payload(seed: u64, pair: usize, k: u64) -> Vec<u8> {
    let mut rng = super::Rng::new(seed ^ (pair as u64).wrapping_mul(0x9E37_79B9) ^ k.wrapping_mul(0x85EB_CA6B));
    let len = if k % 128 == 64 && k < 128 * 32 {
        rng.below((16 << 20) + 1)
    } else {
        rng.below(257)
    } as usize;
    (0..len).map(|i| pattern_byte(k, i)).collect()
}

fn pattern_byte(k: u64, i: usize) -> u8 {
    (k as usize).wrapping_mul(31).wrapping_add(i).wrapping_mul(0x9D) as u8 ^ (i >> 8) as u8
}

/// Whether a received payload is the one `pipe_payload` made for `k` (length is the sender's choice;
/// every byte is checked).
fn payload_ok(k: u64, p: &[u8]) -> bool {
    p.iter().enumerate().all(|(i, &b)| b == pattern_byte(k, i))
}

/// `pipe`: `procs / 2` pairs ping-pong sequence numbers over duplex pipes. A killed peer must be
/// reported to the survivor (`Disconnected`/`BrokenPipe`/`Eof`) instead of a hang; `max_detect_ms` is
/// kill → that error (or the survivor's 2 s deadline, when the peer died before it ever used its
/// end, see `recv_within_2s`). The initiator's messages are serde `(u64, Vec<u8>)` values of random
/// size, up to 16 MiB (streamed in frames; see `pipe_payload`); every byte is checked (`order`).
pub fn pipe(o: &StressOpts) -> StressReport {
    let mut rep = StressReport::new("pipe", o.procs, &["order", "completed"]);
    let pairs = (o.procs / 2).max(1);
    let Ok(c) = Counters::new() else {
        rep.violate("completed", 1);
        return rep;
    };
    // Each forked participant takes its own end out of its copy of this table.
    let ends = std::cell::RefCell::new(Vec::new());
    for _ in 0..pairs {
        match ringfork::pipe(true) {
            Ok((a, b)) => ends.borrow_mut().push((Some(a), Some(b))),
            Err(e) => {
                rep.violate("completed", 1);
                rep.notes.push(format!("pipe: {e}"));
                return rep;
            }
        }
    }
    let ops = o.ops;
    let seed = o.seed;
    let cv = c.clone();
    let detected = move |cv: &Counters| {
        let kill = cv.get(Counters::LAST_KILL_NS).load(Ordering::SeqCst);
        if kill != 0 {
            cv.get(Counters::DETECT_NS)
                .fetch_max(now_ns().saturating_sub(kill), Ordering::SeqCst);
            cv.get(Counters::RECOVER).fetch_add(1, Ordering::SeqCst);
        }
    };
    // Peers are the processes that *hold* an end (a forked child inherits every end its parent
    // holds, as Python's children inherit pipe fds): each participant keeps only its own end, and
    // the supervisor lets go of its copies once every participant is forked (when the first kill is
    // due), so that a killed participant's partner learns of it (`Disconnected`) at once.
    let ends = std::rc::Rc::new(ends);
    let parent_ends = ends.clone();
    let let_go = move || {
        parent_ends.borrow_mut().clear();
        None
    };
    supervise_with(
        o,
        &mut rep,
        &c,
        pairs * 2,
        move |i| {
            let taken = {
                let mut e = ends.borrow_mut();
                let pair = &mut e[i / 2];
                let mine = if i % 2 == 0 { pair.0.take() } else { pair.1.take() };
                e.clear();
                mine
            };
            let Some(mut conn) = taken else { return };
            let mut done = 0u64;
            for k in 0..ops {
                if i % 2 == 0 {
                    // Initiator: send (k, payload), expect k + 1.
                    if conn.send(&(k, pipe_payload(seed, i / 2, k))).is_err() {
                        detected(&cv);
                        break;
                    }
                    match recv_within_2s(&mut conn) {
                        Ok(v) if v == k + 1 => {}
                        Ok(_) => {
                            cv.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => {
                            detected(&cv);
                            break;
                        }
                    }
                } else {
                    match conn.recv_timeout::<(u64, Vec<u8>)>(Duration::from_secs(2)) {
                        Ok((v, payload)) => {
                            if v != k || !payload_ok(v, &payload) {
                                cv.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
                            }
                            if conn.send_plain(&(v + 1)).is_err() {
                                detected(&cv);
                                break;
                            }
                        }
                        Err(_) => {
                            detected(&cv);
                            break;
                        }
                    }
                }
                done += 1;
                if done % PROGRESS_EVERY == 0 {
                    cv.get(Counters::PROGRESS).fetch_add(PROGRESS_EVERY, Ordering::SeqCst);
                }
            }
            cv.get(Counters::DONE).fetch_add(done, Ordering::SeqCst);
        },
        &let_go,
    );
    rep.violate("order", c.get(Counters::VIOL).load(Ordering::SeqCst));
    rep.ops = c.get(Counters::DONE).load(Ordering::SeqCst);
    finish(&mut rep, &c);
    rep.notes.push(format!(
        "{pairs} pair(s); recoveries = survivors that got the peer-death error instead of hanging"
    ));
    rep
}

/// Which side of a producer/consumer pair a participant plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairEnd {
    /// Sends.
    Producer,
    /// Receives.
    Consumer,
}

/// What a pair participant reports to the supervisor (through shared counters).
pub struct PairReport {
    c: Counters,
    since_progress: u64,
}

impl std::fmt::Debug for PairReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairReport")
    }
}

impl PairReport {
    /// One operation done.
    pub fn progress(&mut self) {
        self.since_progress += 1;
        if self.since_progress == PROGRESS_EVERY {
            self.c
                .get(Counters::PROGRESS)
                .fetch_add(PROGRESS_EVERY, Ordering::SeqCst);
            self.c.get(Counters::DONE).fetch_add(PROGRESS_EVERY, Ordering::SeqCst);
            self.since_progress = 0;
        }
    }

    /// An invariant was violated (order, checksum).
    pub fn violation(&mut self) {
        self.c.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
    }

    /// The peer's death was reported to us (instead of a hang): time it from the last kill.
    pub fn peer_died(&mut self) {
        let kill = self.c.get(Counters::LAST_KILL_NS).load(Ordering::SeqCst);
        if kill != 0 {
            self.c
                .get(Counters::DETECT_NS)
                .fetch_max(now_ns().saturating_sub(kill), Ordering::SeqCst);
            self.c.get(Counters::RECOVER).fetch_add(1, Ordering::SeqCst);
        } else {
            // An error without any kill is a failure of the primitive.
            self.c.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Runs `pairs` producer/consumer pairs (participant `2p` produces, `2p + 1` consumes) under the
/// supervisor; invariants `order` (violations reported by the body) and `completed`.
pub fn supervise_pairs(
    o: &StressOpts,
    target: &str,
    pairs: usize,
    body: impl Fn(usize, PairEnd, &mut PairReport),
) -> StressReport {
    let mut rep = StressReport::new(target, o.procs, &["order", "completed"]);
    let Ok(c) = Counters::new() else {
        rep.violate("completed", 1);
        return rep;
    };
    let cv = c.clone();
    supervise(o, &mut rep, &c, pairs * 2, move |i| {
        let end = if i % 2 == 0 {
            PairEnd::Producer
        } else {
            PairEnd::Consumer
        };
        let mut r = PairReport {
            c: cv.clone(),
            since_progress: 0,
        };
        body(i / 2, end, &mut r);
        r.c.get(Counters::DONE).fetch_add(r.since_progress, Ordering::SeqCst);
    });
    rep.violate("order", c.get(Counters::VIOL).load(Ordering::SeqCst));
    rep.ops = c.get(Counters::DONE).load(Ordering::SeqCst);
    finish(&mut rep, &c);
    rep.notes.push(format!(
        "{pairs} pair(s); recoveries = survivors told of their peer's death instead of hanging"
    ));
    rep
}

/// `event`: participant 0 sets the `Event` once per round (after publishing the round number and
/// clearing it from the last round); every other participant waits for each round. Invariant
/// `no_lost_wakeup`: a waiter never times out while the event has been set for its round for more
/// than 100 ms. A killed setter leaves waiters timing out (they stop: `recoveries`); a killed waiter
/// only costs the setter a short ack timeout.
pub fn event(o: &StressOpts) -> StressReport {
    let mut rep = StressReport::new("event", o.procs, &["no_lost_wakeup", "completed"]);
    let rounds = (o.ops / 10).clamp(1, 1000);
    let waiters = (o.procs - 1).max(1) as u64;
    let (Ok(e), Ok(round), Ok(acks), Ok(set_at), Ok(c)) = (
        Event::new(),
        RawValue::new(0u64),
        RawValue::new(0u64),
        RawValue::new(0u64),
        Counters::new(),
    ) else {
        rep.violate("completed", 1);
        return rep;
    };
    let cv = c.clone();
    supervise(o, &mut rep, &c, o.procs, move |i| {
        if i == 0 {
            // Waiters still answering: a round whose acks time out shrinks it (the missing ones died).
            let mut expected = waiters;
            for r in 1..=rounds {
                let before = acks.load();
                e.clear();
                round.store(r);
                set_at.store(now_ns());
                e.set();
                let end = Instant::now() + Duration::from_millis(200);
                while acks.load() < before + expected && Instant::now() < end {
                    std::thread::yield_now();
                }
                expected = expected.min(acks.load() - before);
                // Progress in the units the kill points use (total = ops * procs).
                cv.get(Counters::PROGRESS)
                    .fetch_add((waiters + 1) * 10, Ordering::SeqCst);
            }
            return;
        }
        let mut timeouts = 0;
        for r in 1..=rounds {
            // A round that does not come within 2 s means the setter is gone (it may have died with
            // the event still set, so "woke" alone proves nothing).
            let give_up = Instant::now() + Duration::from_secs(2);
            loop {
                let woke = e.wait_timeout(Duration::from_millis(500));
                if round.load() >= r {
                    break;
                }
                if Instant::now() > give_up {
                    cv.get(Counters::RECOVER).fetch_add(1, Ordering::SeqCst);
                    return;
                }
                if woke {
                    std::thread::yield_now(); // still set from the last round: wait for the next
                } else {
                    timeouts += 1;
                }
            }
            // Timed out although the event was set for this round long ago: a lost wake-up.
            if round.load() >= r && e.is_set() && now_ns().saturating_sub(set_at.load()) > 100_000_000 && timeouts > 0 {
                cv.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
            }
            acks.fetch_add(1);
            cv.get(Counters::DONE).fetch_add(1, Ordering::SeqCst);
        }
    });
    rep.violate("no_lost_wakeup", c.get(Counters::VIOL).load(Ordering::SeqCst));
    rep.ops = c.get(Counters::DONE).load(Ordering::SeqCst);
    if rep.kills == 0 && rep.ops != rounds * waiters {
        rep.violate("completed", 1);
    }
    finish(&mut rep, &c);
    rep.notes.push(format!(
        "{rounds} round(s), {waiters} waiter(s); recoveries = waiters that saw the setter gone"
    ));
    rep
}

/// The bounded buffer the `condition` target passes items through (inside `Condition<Buf>`).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Buf {
    items: [u64; 16],
    head: u64,
    tail: u64,
}

// SAFETY: repr(C) of u64s only: every bit pattern is valid; no pointers, no Drop.
unsafe impl ringfork_core::ShmSafe for Buf {}

/// Locks a condition, repairing after a dead owner (the buffer's head/tail are only advanced after
/// the item is written or read, so it is consistent whatever instruction the owner died at).
fn lock_cond<'a>(c: &'a ringfork::Condition<Buf>, cv: &Counters) -> Option<ringfork_core::sync::CondGuard<'a, Buf>> {
    match c.lock() {
        Ok(mut g) if g.owner_died() => {
            let kill = cv.get(Counters::LAST_KILL_NS).load(Ordering::SeqCst);
            cv.get(Counters::DETECT_NS)
                .fetch_max(now_ns().saturating_sub(kill), Ordering::SeqCst);
            cv.get(Counters::RECOVER).fetch_add(1, Ordering::SeqCst);
            g.mark_consistent();
            Some(g)
        }
        Ok(g) => Some(g),
        Err(_) => None,
    }
}

/// `condition`: producers and consumers pass `(producer, seq)` items through a 16-slot buffer in a
/// `Condition`, waiting while full / empty. Invariants: `exactly_once` (no item taken twice),
/// `order_per_producer` (each consumer sees a producer's items in order), `completed`.
pub fn condition(o: &StressOpts) -> StressReport {
    let mut rep = StressReport::new(
        "condition",
        o.procs,
        &["exactly_once", "order_per_producer", "completed"],
    );
    let producers = (o.procs / 2).max(1);
    let consumers = (o.procs - producers).max(1);
    let ops = (o.ops / 4).clamp(1, 100_000);
    let buf = Buf {
        items: [0; 16],
        head: 0,
        tail: 0,
    };
    let (Ok(cond), Ok(c)) = (ringfork::Condition::new(buf), Counters::new()) else {
        rep.violate("completed", 1);
        return rep;
    };
    let Ok(seen) = ringfork::RawArray::new(&vec![0u32; producers * ops as usize]) else {
        rep.violate("completed", 1);
        return rep;
    };
    let Ok(producers_done) = RawValue::new(0u64) else {
        rep.violate("completed", 1);
        return rep;
    };
    let cv = c.clone();
    // Progress in the units the kill points use (total = --ops * procs).
    let step = (o.procs as u64 * o.ops / (producers as u64 * ops).max(1)).max(1);
    supervise(o, &mut rep, &c, producers + consumers, move |i| {
        if i < producers {
            for s in 0..ops {
                let Some(mut g) = lock_cond(&cond, &cv) else { return };
                let mut waits = 0;
                while g.tail.wrapping_sub(g.head) >= 16 {
                    match g.wait_timeout(Duration::from_millis(200)) {
                        Ok((g2, _)) => g = g2,
                        Err(MutexError::OwnerDied(mut g2)) => {
                            g2.mark_consistent();
                            g = g2;
                        }
                        Err(_) => return,
                    }
                    waits += 1;
                    if waits > 25 {
                        return; // every consumer is gone
                    }
                }
                let t = g.tail;
                g.items[(t % 16) as usize] = (i as u64) << 32 | s;
                g.tail = t + 1; // commit: only after the item is written
                g.notify_all();
                drop(g);
                cv.get(Counters::PROGRESS).fetch_add(step, Ordering::SeqCst);
            }
            producers_done.fetch_add(1);
            if let Some(g) = lock_cond(&cond, &cv) {
                g.notify_all();
            }
        } else {
            let mut last = vec![-1i64; producers];
            loop {
                let Some(mut g) = lock_cond(&cond, &cv) else { return };
                let mut idle = 0;
                while g.tail == g.head {
                    if producers_done.get() == producers as u64 || idle > 5 {
                        return; // everything produced was taken, or the producers are gone
                    }
                    match g.wait_timeout(Duration::from_millis(200)) {
                        Ok((g2, timed_out)) => {
                            g = g2;
                            idle += usize::from(timed_out);
                        }
                        Err(MutexError::OwnerDied(mut g2)) => {
                            g2.mark_consistent();
                            g = g2;
                        }
                        Err(_) => return,
                    }
                }
                let h = g.head;
                let item = g.items[(h % 16) as usize];
                g.head = h + 1;
                g.notify_all();
                drop(g);
                let (p, s) = ((item >> 32) as usize, item & 0xFFFF_FFFF);
                if p >= producers || s >= ops {
                    cv.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                if seen.fetch_add(p * ops as usize + s as usize, 1).unwrap_or(1) != 0 {
                    cv.get(Counters::VIOL).fetch_add(1, Ordering::SeqCst);
                }
                if (s as i64) <= last[p] {
                    cv.get(Counters::N - 1).fetch_add(1, Ordering::SeqCst);
                }
                last[p] = s as i64;
                cv.get(Counters::DONE).fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    rep.violate("exactly_once", c.get(Counters::VIOL).load(Ordering::SeqCst));
    rep.violate("order_per_producer", c.get(Counters::N - 1).load(Ordering::SeqCst));
    rep.ops = c.get(Counters::DONE).load(Ordering::SeqCst);
    if rep.kills == 0 && rep.ops != producers as u64 * ops {
        rep.violate("completed", 1);
    }
    finish(&mut rep, &c);
    rep.notes.push(format!(
        "{producers} producer(s), {consumers} consumer(s), {ops} item(s) each"
    ));
    rep
}
