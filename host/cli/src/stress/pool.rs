//! `ringfork stress pool`: tasks through a `Pool` while workers are SIGKILLed at random moments.
//!
//! Invariants: every task's result is yielded exactly once; every `Ok` is the right value; only a
//! task whose worker was killed may fail, with `WorkerDied`, so failures ≤ kills; the run completes.
//! Detection time: from a kill to the `WorkerDied` result of the task it interrupted.

use super::{Killer, StressOpts, StressReport};
use ringfork::{Pool, PoolError};
use std::time::{Duration, Instant};

/// A task of some tens of microseconds, so most kills land mid-task (the rest between tasks).
fn work(x: u64) -> u64 {
    let mut h = x ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
    }
    h
}

/// Runs the target.
pub fn run(o: &StressOpts) -> StressReport {
    let mut rep = StressReport::new(
        "pool",
        o.procs,
        &["exactly_once", "correct_value", "failures_le_kills", "completed"],
    );
    let n = o.ops.max(1) * o.procs as u64;
    let pool = match Pool::new(o.procs) {
        Ok(p) => p,
        Err(e) => {
            rep.violate("completed", 1);
            rep.notes.push(format!("cannot start the pool: {e}"));
            return rep;
        }
    };
    let start = Instant::now();
    let window = o
        .duration
        .unwrap_or(Duration::from_micros(n * 3 / o.procs as u64 + 1000));
    let mut killer = Killer::new(o.seed, o.kill, window);
    let deadline = start + super::watchdog(o);
    let mut seen = vec![false; n as usize];
    let mut yielded = 0u64;
    let mut died = 0u64;
    let mut rounds = 0u64;
    loop {
        let it = match pool.imap_unordered(work, 0..n, Some(1)) {
            Ok(it) => it,
            Err(e) => {
                rep.violate("completed", 1);
                rep.notes.push(format!("submit failed: {e}"));
                break;
            }
        };
        seen.iter_mut().for_each(|s| *s = false);
        for (i, r) in it {
            if Instant::now() > deadline {
                rep.hung = true;
                rep.notes.push("watchdog: the pool stopped yielding results".into());
                break;
            }
            // Only live workers are candidates (a killed one stays in the list until the pool notices).
            let pids: Vec<libc::pid_t> = if !killer.is_due() {
                Vec::new()
            } else {
                pool.worker_pids()
                    .into_iter()
                    .filter(|&p| ringfork_core::os::pid_exists(p) != ringfork_core::os::Liveness::Dead)
                    .map(|p| p as libc::pid_t)
                    .collect()
            };
            if killer.tick_pids(&pids).is_some() {
                rep.kills += 1;
            }
            if std::mem::replace(&mut seen[i], true) {
                rep.violate("exactly_once", 1);
            }
            yielded += 1;
            match r {
                Ok(v) if v == work(i as u64) => {}
                Ok(_) => rep.violate("correct_value", 1),
                Err(PoolError::WorkerDied { .. }) => {
                    died += 1;
                    rep.recoveries += 1;
                    if let Some((_, at)) = killer.killed_at.last() {
                        rep.max_detect_ms = rep.max_detect_ms.max(at.elapsed().as_secs_f64() * 1e3);
                    }
                }
                Err(e) => {
                    rep.violate("correct_value", 1);
                    if rep.violations.get("correct_value").is_some_and(|&n| n <= 5) {
                        rep.notes.push(format!("task {i}: {e}"));
                    }
                }
            }
        }
        rounds += 1;
        if rep.hung || o.duration.is_none_or(|d| start.elapsed() >= d) {
            break;
        }
    }
    if !rep.hung && yielded != n * rounds {
        rep.violate("completed", n * rounds - yielded.min(n * rounds));
    }
    if died > u64::from(rep.kills) {
        rep.violate("failures_le_kills", died - u64::from(rep.kills));
    }
    rep.ops = yielded;
    rep.seconds = start.elapsed().as_secs_f64();
    pool.terminate();
    rep.notes.push(format!(
        "{died} task(s) failed with WorkerDied after {} kill(s) (kills between tasks fail none)",
        rep.kills
    ));
    rep
}
