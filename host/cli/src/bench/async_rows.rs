//! The `async` rows (issue 19): a round trip with one side awaiting through the reactor against the
//! same with blocking calls and against tokio's in-process `mpsc`, and what 1,000 pending awaits cost
//! (threads, idle CPU).
//!
//! The bench process must stay single-threaded (it forks partners), so everything that starts a
//! runtime or the reactor thread runs in a forked child, which reports its figure through shared
//! memory.

use super::baseline::Words;
use super::harness::{measure, BenchOpts, Row, Spec};
use crate::child::fork_partner;
use ringfork::Queue;
use ringfork_core::atomic::Ordering;
use std::time::{Duration, Instant};

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_time().build().ok()
}

/// Runs `f` in a forked child and returns what it measured (NaN if it failed).
fn in_child(f: impl FnOnce() -> f64) -> f64 {
    let w = Words::new(2);
    let (lo, hi) = (w.word(0), w.word(1));
    let child = fork_partner(None, move || {
        let bits = f().to_bits();
        // Ordering: Relaxed; the parent reads after reaping the child.
        lo.store(bits as u32, Ordering::Relaxed);
        // Ordering: Relaxed, as above.
        hi.store((bits >> 32) as u32, Ordering::Relaxed);
    });
    if !child.join() {
        return f64::NAN;
    }
    // Ordering: Relaxed; the child was reaped (waitpid orders its writes before our reads).
    f64::from_bits(u64::from(lo.load(Ordering::Relaxed)) | u64::from(hi.load(Ordering::Relaxed)) << 32)
}

/// `iters` round trips over two `Queue<u64>`s: an answering child (awaiting with tokio if
/// `answer_async`) and the asker (awaiting if `ask_async`, else blocking): ns/roundtrip. Forks; call it
/// from a single-threaded process.
fn queue_pingpong(iters: u64, answer_async: bool, ask_async: bool) -> f64 {
    let (Ok(ab), Ok(ba)) = (Queue::<u64>::new(1), Queue::<u64>::new(1)) else {
        return f64::NAN;
    };
    let (ab2, ba2) = (ab.clone(), ba.clone());
    let child = fork_partner(None, move || {
        if answer_async {
            let Some(rt) = runtime() else { return };
            rt.block_on(async {
                for _ in 0..iters {
                    let Ok(v) = ab2.get_async().await else { return };
                    if ba2.put_async(v + 1).await.is_err() {
                        return;
                    }
                }
            });
        } else {
            for _ in 0..iters {
                let Ok(v) = ab2.get() else { return };
                if ba2.put(v + 1).is_err() {
                    return;
                }
            }
        }
    });
    let start = Instant::now();
    let ok = if ask_async {
        runtime().is_some_and(|rt| {
            rt.block_on(async {
                for i in 0..iters {
                    if ab.put_async(i).await.is_err() || ba.get_async().await != Ok(i + 1) {
                        return false;
                    }
                }
                true
            })
        })
    } else {
        (0..iters).all(|i| ab.put(i).is_ok() && ba.get() == Ok(i + 1))
    };
    let ns = start.elapsed().as_nanos() as f64 / iters as f64;
    drop((ab, ba));
    child.measured(ok, ns)
}

/// `iters` round trips between two threads of one process over tokio `mpsc` channels (each thread
/// its own current-thread runtime): ns/roundtrip.
fn tokio_mpsc_pingpong(iters: u64) -> f64 {
    let (tx_a, mut rx_a) = tokio::sync::mpsc::channel::<u64>(1);
    let (tx_b, mut rx_b) = tokio::sync::mpsc::channel::<u64>(1);
    let t = std::thread::spawn(move || {
        if let Some(rt) = runtime() {
            rt.block_on(async {
                while let Some(v) = rx_a.recv().await {
                    if tx_b.send(v + 1).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let ns = runtime().map_or(f64::NAN, |rt| {
        rt.block_on(async {
            let start = Instant::now();
            for i in 0..iters {
                if tx_a.send(i).await.is_err() || rx_b.recv().await != Some(i + 1) {
                    return f64::NAN;
                }
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
    });
    drop(tx_a);
    let _ = t.join();
    ns
}

/// The `Threads:` line of /proc/self/status.
fn threads() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(f64::NAN)
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// 1,000 queues, each awaited by one task (`spawn_blocking` gets instead if `blocking`, today's
/// workaround: a thread per wait, up to tokio's 512); returns the thread count while they wait, or
/// (with `cpu`) the CPU they cost over an idle second in % of one core. Run in a child.
fn thousand_waiters(blocking: bool, cpu: bool) -> f64 {
    const N: usize = 1000;
    let Ok(queues) = (0..N).map(|_| Queue::<u64>::new(1)).collect::<Result<Vec<_>, _>>() else {
        return f64::NAN;
    };
    let Some(rt) = runtime() else { return f64::NAN };
    rt.block_on(async {
        let mut tasks = Vec::new();
        for q in &queues {
            let q = q.clone();
            tasks.push(if blocking {
                tokio::task::spawn_blocking(move || q.get().is_err())
            } else {
                tokio::spawn(async move { q.get_async().await.is_err() })
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let figure = if cpu {
            let (c0, t0) = (cpu_time(), Instant::now());
            tokio::time::sleep(Duration::from_secs(1)).await;
            (cpu_time() - c0).as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0
        } else {
            threads()
        };
        // Closing wakes every waiter (with `Closed`).
        for q in &queues {
            q.close();
        }
        for t in tasks {
            if !matches!(t.await, Ok(true)) {
                return f64::NAN;
            }
        }
        figure
    })
}

/// The async rows.
pub fn rows(o: &BenchOpts) -> Vec<Row> {
    let iters = o.iters(20_000);
    vec![
        measure(
            o,
            Spec {
                name: "async_pingpong_vs_blocking",
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: (
                    "ringfork_queue_one_side_tokio",
                    Box::new(move || queue_pingpong(iters, true, false)),
                ),
                baseline: (
                    "ringfork_queue_blocking",
                    Box::new(move || queue_pingpong(iters, false, false)),
                ),
                target: Some(0.5),
                note:
                    "Queue<u64> round trip between two processes; ours: the answering side awaits get_async/put_async \
                       on a current-thread runtime (one reactor hop per wait)",
            },
        ),
        measure(
            o,
            Spec {
                name: "async_pingpong_vs_tokio_mpsc",
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: (
                    "ringfork_queue_both_sides_tokio",
                    Box::new(move || in_child(move || queue_pingpong(iters, true, true))),
                ),
                baseline: (
                    "tokio_mpsc_two_threads",
                    Box::new(move || in_child(move || tokio_mpsc_pingpong(iters))),
                ),
                target: Some(0.5),
                note: "ours: two processes, both awaiting on Queues; baseline: two threads of one process, both \
                       awaiting tokio mpsc channels",
            },
        ),
        measure(
            o,
            Spec {
                name: "async_1000_waiters",
                unit: "threads",
                higher_is_better: false,
                ours: (
                    "get_async_x1000",
                    Box::new(|| in_child(|| thousand_waiters(false, false))),
                ),
                baseline: (
                    "spawn_blocking_get_x1000",
                    Box::new(|| in_child(|| thousand_waiters(true, false))),
                ),
                target: None,
                note: "threads of a process with 1,000 pending gets (asked: <= 2); baseline: today's spawn_blocking \
                       workaround (a thread per wait, capped by tokio at 512)",
            },
        ),
        measure(
            o,
            Spec {
                name: "async_1000_waiters_idle_cpu",
                unit: "% of a core",
                higher_is_better: false,
                ours: (
                    "get_async_x1000",
                    Box::new(|| in_child(|| thousand_waiters(false, true))),
                ),
                baseline: (
                    "spawn_blocking_get_x1000",
                    Box::new(|| in_child(|| thousand_waiters(true, true))),
                ),
                target: None,
                note: "CPU used over an idle second by 1,000 pending gets (asked: <= 1 %); the reactor's 50 ms \
                       liveness tick is all it does",
            },
        ),
    ]
}
