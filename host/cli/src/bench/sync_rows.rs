//! Benchmark rows for the locks, semaphores, events and processes (issue 5 and 10 targets): the
//! robust mutex uncontended and under 2/4/8-process contention against glibc's process-shared (and
//! robust) `pthread_mutex_t` and a spin-only lock; semaphore and event ping-pong against a raw futex;
//! `Process` start+join against a raw fork/waitpid.

use super::baseline::{self as b, contended, PthreadKind};
use super::harness::{measure, BenchOpts, Row, Spec};
use ringfork::process::Process;
use ringfork::{Event, Lock, Semaphore};
use std::time::Instant;

/// `procs` processes each lock/increment/unlock `ops` times on our robust `Lock`: total Mops/s.
pub fn robust_mutex(procs: usize, ops: u64) -> f64 {
    let Ok(lock) = Lock::new(()) else { return f64::NAN };
    let words = b::Words::new(1);
    let counter = words.word(0);
    let lock = &lock;
    contended(procs, ops, counter, move || {
        let guard = lock.lock();
        move || drop(guard)
    })
}

/// `procs` processes each add 1 to a `Value<u64>` under its lock `ops` times: total Mops/s (NaN if
/// the total is wrong).
pub fn value_increments(procs: usize, ops: u64) -> f64 {
    let Ok(v) = ringfork::Value::new(0u64) else {
        return f64::NAN;
    };
    let start = Instant::now();
    let kids: Vec<_> = (0..procs)
        .map(|_| {
            let v = v.clone();
            b::fork_partner(None, move || {
                for _ in 0..ops {
                    let _ = v.with_lock(|x| *x += 1);
                }
            })
        })
        .collect();
    let ok = kids.into_iter().map(b::Partner::join).fold(true, |a, b| a & b);
    let rate = (procs as u64 * ops) as f64 / start.elapsed().as_secs_f64() / 1e6;
    let total = v.get().ok();
    if ok && total == Some(procs as u64 * ops) {
        rate
    } else {
        f64::NAN
    }
}

/// `SimpleQueue<u64>`: one producer process, the parent consumes: Mitems/s.
pub fn simple_queue(items: u64) -> f64 {
    let Ok(q) = ringfork::SimpleQueue::<u64>::new() else {
        return f64::NAN;
    };
    let q2 = q.clone();
    super::queue_rows::stream_1p1c(items, move |i| q2.put(i).is_ok(), move || q.get().ok())
}

/// Ping-pong through two semaphores (each side releases the other's): ns/roundtrip.
pub fn semaphore_pingpong(iters: u64) -> f64 {
    let (Ok(ping), Ok(pong)) = (Semaphore::new(0), Semaphore::new(0)) else {
        return f64::NAN;
    };
    b::pingpong(
        iters,
        None,
        |_| {
            ping.acquire();
            let _ = pong.release();
        },
        |_| {
            let _ = ping.release();
            pong.acquire();
        },
    )
}

/// Ping-pong through two events (set by one side, waited and cleared by the other): ns/roundtrip.
pub fn event_pingpong(iters: u64) -> f64 {
    let (Ok(ping), Ok(pong)) = (Event::new(), Event::new()) else {
        return f64::NAN;
    };
    b::pingpong(
        iters,
        None,
        |_| {
            ping.wait();
            ping.clear();
            pong.set();
        },
        |_| {
            ping.set();
            pong.wait();
            pong.clear();
        },
    )
}

/// `Process::new(no-op).start()` + `join()`: µs per process.
pub fn process_start_join(n: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let mut p = Process::new(|| {});
        if p.start().is_err() || p.join().is_err() || p.exitcode() != Some(0) {
            return f64::NAN;
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// The rows.
pub fn rows(o: &BenchOpts) -> Vec<Row> {
    let ops = o.iters(1_000_000);
    let mut rows = vec![measure(
        o,
        Spec {
            name: "mutex_uncontended",
            unit: "Mops/s",
            higher_is_better: true,
            ours: ("ringfork_robust_mutex", Box::new(move || robust_mutex(1, ops))),
            baseline: (
                "pthread_robust",
                Box::new(move || b::pthread_mutex(PthreadKind::Robust, 1, ops)),
            ),
            target: Some(1.0 / 1.2),
            note: "one process: lock + unlock cost (one CAS each for ours)",
        },
    )];
    for procs in [2usize, 4, 8] {
        let per = ops / procs as u64;
        let (n_r, n_s, n_sp) = match procs {
            2 => ("mutex_2p_vs_robust", "mutex_2p_vs_shared", "mutex_2p_vs_spin"),
            4 => ("mutex_4p_vs_robust", "mutex_4p_vs_shared", "mutex_4p_vs_spin"),
            _ => ("mutex_8p_vs_robust", "mutex_8p_vs_shared", "mutex_8p_vs_spin"),
        };
        rows.push(measure(
            o,
            Spec {
                name: n_r,
                unit: "Mops/s",
                higher_is_better: true,
                ours: ("ringfork_robust_mutex", Box::new(move || robust_mutex(procs, per))),
                baseline: (
                    "pthread_robust",
                    Box::new(move || b::pthread_mutex(PthreadKind::Robust, procs, per)),
                ),
                target: Some(1.0),
                note: "contended, 2 cores: 4 and 8 processes are oversubscribed",
            },
        ));
        rows.push(measure(
            o,
            Spec {
                name: n_s,
                unit: "Mops/s",
                higher_is_better: true,
                ours: ("ringfork_robust_mutex", Box::new(move || robust_mutex(procs, per))),
                baseline: (
                    "pthread_shared",
                    Box::new(move || b::pthread_mutex(PthreadKind::Shared, procs, per)),
                ),
                target: None,
                note: "against glibc's non-robust process-shared mutex",
            },
        ));
        rows.push(measure(
            o,
            Spec {
                name: n_sp,
                unit: "Mops/s",
                higher_is_better: true,
                ours: ("ringfork_robust_mutex", Box::new(move || robust_mutex(procs, per))),
                baseline: ("spin_only", Box::new(move || b::spin_lock(procs, per))),
                target: None,
                note: "a test-and-test-and-set spin lock collapses once processes outnumber cores",
            },
        ));
    }
    let pp = o.iters(20_000);
    rows.push(measure(
        o,
        Spec {
            name: "semaphore_pingpong",
            unit: "ns/roundtrip",
            higher_is_better: false,
            ours: ("ringfork_semaphore", Box::new(move || semaphore_pingpong(pp))),
            baseline: ("raw_futex", Box::new(move || b::futex_pingpong(pp, false))),
            target: None,
            note: "release/acquire each way",
        },
    ));
    rows.push(measure(
        o,
        Spec {
            name: "event_pingpong",
            unit: "ns/roundtrip",
            higher_is_better: false,
            ours: ("ringfork_event", Box::new(move || event_pingpong(pp))),
            baseline: ("raw_futex", Box::new(move || b::futex_pingpong(pp, false))),
            target: None,
            note: "set / wait / clear each way",
        },
    ));
    let n = o.iters(2_000).min(2_000);
    rows.push(measure(
        o,
        Spec {
            name: "process_start_join",
            unit: "us/process",
            higher_is_better: false,
            ours: ("ringfork_process", Box::new(move || process_start_join(n))),
            baseline: ("raw_fork_waitpid", Box::new(move || b::fork_waitpid(n))),
            target: None,
            note: "Process adds bookkeeping, a pidfd and Python's exit semantics to fork + waitpid",
        },
    ));
    rows
}
