//! The benchmark rows. Each entry measures ours and its baseline alternately (see `harness::measure`).

use super::baseline as b;
use super::harness::{measure, BenchOpts, PythonPair, Row, Spec};
use crate::bench::baseline::Words;
use ringfork_core::atomic::Ordering;
use ringfork_core::wait::{Futex, Wait};
use ringfork_core::Deadline;
use std::time::Instant;

/// A row group: a name (for the filter) and the function that measures its rows.
pub type Group = (&'static str, fn(&BenchOpts) -> Vec<Row>);

/// Every row group, in run order.
pub fn all() -> Vec<Group> {
    vec![
        ("queues", super::queue_rows::rows),
        ("sync", super::sync_rows::rows),
        ("serde", super::serde_rows::rows),
        ("wait_pingpong", wait_pingpong),
        ("async", super::async_rows::rows),
        ("limits", limits),
    ]
}

/// Rows against Python's `multiprocessing` (run with `--python`).
pub fn python_pairs() -> Vec<PythonPair> {
    vec![
        PythonPair {
            row: "queue_vs_python",
            ours_name: "ringfork_queue_1p1c_blocking",
            ours: |o| super::queue_rows::queue_blocking(o.iters(2_000_000)),
            python: "python_queue",
            unit: "Mitems/s",
            higher_is_better: true,
            target: Some(100.0),
            note: "Queue<u64>, one producer process, blocking put/get",
        },
        PythonPair {
            row: "queue_struct_vs_python",
            ours_name: "ringfork_queue_job_1p1c",
            ours: |o| super::serde_rows::queue_struct(o.iters(200_000)),
            python: "python_queue_struct",
            unit: "Mitems/s",
            higher_is_better: true,
            target: Some(50.0),
            note: "a Job record (16-char path, one tag, 8 floats) vs the equivalent dict, one producer process",
        },
        PythonPair {
            row: "queue_1mib_vs_python",
            ours_name: "ringfork_queue_1mib_1p1c",
            ours: |o| super::serde_rows::queue_bytes(1 << 20, o.iters(4_000)),
            python: "python_queue_1mib",
            unit: "Mmsgs/s",
            higher_is_better: true,
            target: Some(10.0),
            note: "1 MiB messages (Vec<u8> vs bytes), one producer process",
        },
        PythonPair {
            row: "lock_4p_vs_python",
            ours_name: "ringfork_robust_mutex_4p",
            ours: |o| super::sync_rows::robust_mutex(4, o.iters(250_000)),
            python: "python_lock_4p",
            unit: "Mops/s",
            higher_is_better: true,
            target: None,
            note: "4 processes increment a shared counter under one lock",
        },
        PythonPair {
            row: "value_4p_vs_python",
            ours_name: "ringfork_value_with_lock_4p",
            ours: |o| super::sync_rows::value_increments(4, o.iters(250_000)),
            python: "python_value_4p",
            unit: "Mops/s",
            higher_is_better: true,
            target: None,
            note: "4 processes increment a shared Value under its own lock",
        },
        PythonPair {
            row: "simplequeue_vs_python",
            ours_name: "ringfork_simplequeue_1p1c",
            ours: |o| super::sync_rows::simple_queue(o.iters(2_000_000)),
            python: "python_simplequeue",
            unit: "Mitems/s",
            higher_is_better: true,
            target: None,
            note: "SimpleQueue<u64>, one producer process, blocking put/get",
        },
        PythonPair {
            row: "event_vs_python",
            ours_name: "ringfork_event_pingpong",
            ours: |o| super::sync_rows::event_pingpong(o.iters(10_000)),
            python: "python_event_pingpong",
            unit: "ns/roundtrip",
            higher_is_better: false,
            target: None,
            note: "set / wait / clear each way",
        },
        PythonPair {
            row: "pipe_vs_python",
            ours_name: "ringfork_spsc_blocking_pingpong",
            ours: |o| super::queue_rows::spsc_pingpong(o.iters(20_000), true, false, false),
            python: "python_pipe_pingpong",
            unit: "ns/roundtrip",
            higher_is_better: false,
            target: None,
            note: "a blocking round trip",
        },
        PythonPair {
            row: "pool_map_chunk1",
            ours_name: "ringfork_pool2_map_chunk1",
            ours: |o| pool_map_rate(o.iters(100_000), Some(1)),
            python: "python_pool_map_chunk1",
            unit: "Mtasks/s",
            higher_is_better: true,
            target: Some(50.0),
            note: "100 000 tiny tasks, one per dispatch, Pool(2); the parent dispatches and collects alone",
        },
        PythonPair {
            row: "pool_map_strings_vs_python",
            ours_name: "ringfork_pool2_map_strings_chunk1",
            ours: |o| pool_map_strings_rate(o.iters(100_000)),
            python: "python_pool_map_strings_chunk1",
            unit: "Mtasks/s",
            higher_is_better: true,
            target: Some(20.0),
            note: "100 000 short strings (\"item-N\") -> their lengths, one per dispatch, Pool(2): serde arguments",
        },
        PythonPair {
            row: "pool_map",
            ours_name: "ringfork_pool2_map",
            ours: |o| pool_map_rate(o.iters(100_000), None),
            python: "python_pool_map",
            unit: "Mtasks/s",
            higher_is_better: true,
            target: Some(1.0),
            note: "100 000 tiny tasks, default chunking on both sides, Pool(2)",
        },
        PythonPair {
            row: "pool_uneven_vs_python",
            ours_name: "ringfork_pool2_uneven",
            ours: |o| pool_uneven_makespan(o.iters(200)),
            python: "python_pool_uneven",
            unit: "ms/makespan",
            higher_is_better: false,
            target: Some(1.0),
            note:
                "200 apply_async tasks on Pool(2), every tenth sleeps 20 ms, the others 1 ms; submit all, then get all",
        },
        PythonPair {
            row: "pool_apply_async",
            ours_name: "ringfork_pool2_apply_async",
            ours: |o| pool_apply_roundtrip(o.iters(20_000)),
            python: "python_pool_apply_async",
            unit: "us/roundtrip",
            higher_is_better: false,
            target: None,
            note: "submit one task, wait for its result, repeat",
        },
        PythonPair {
            row: "process_start_join_vs_python",
            ours_name: "ringfork_fork_waitpid",
            ours: |o| b::fork_waitpid(o.iters(2_000).min(2_000)),
            python: "python_process_start_join",
            unit: "us/process",
            higher_is_better: false,
            target: None,
            note: "a no-op child: fork, exit, reap",
        },
    ]
}

fn sq(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// `Pool(2).map` of `n` tiny tasks (pool already warm): Mtasks/s.
fn pool_map_rate(n: u64, chunksize: Option<usize>) -> f64 {
    let Ok(pool) = ringfork::Pool::new(2) else {
        return f64::NAN;
    };
    let _ = pool.map(sq, 0..100u64);
    let start = Instant::now();
    let r = match chunksize {
        Some(c) => pool.map_chunked(sq, 0..n, Some(c)),
        None => pool.map(sq, 0..n),
    };
    let rate = n as f64 / start.elapsed().as_secs_f64() / 1e6;
    match r {
        Ok(v) if v.len() as u64 == n => rate,
        _ => f64::NAN,
    }
}

fn str_len(s: String) -> usize {
    s.len()
}

/// `Pool(2).map` of `str_len` over `n` short strings, chunk size 1: Mtasks/s.
fn pool_map_strings_rate(n: u64) -> f64 {
    let Ok(pool) = ringfork::Pool::new(2) else {
        return f64::NAN;
    };
    let _ = pool.map(str_len, (0..100).map(|i| format!("item-{i}")));
    let items: Vec<String> = (0..n).map(|i| format!("item-{i}")).collect();
    let last = items.last().map_or(0, String::len);
    let start = Instant::now();
    let r = pool.map_chunked(str_len, items, Some(1));
    let rate = n as f64 / start.elapsed().as_secs_f64() / 1e6;
    match r {
        Ok(v) if v.len() as u64 == n && v.last().copied().unwrap_or(0) == last => rate,
        _ => f64::NAN,
    }
}

/// One of the uneven tasks: every tenth sleeps 20 ms, the others 1 ms.
fn uneven_task(i: u64) -> u64 {
    let ms = if i % 10 == 0 { 20 } else { 1 };
    std::thread::sleep(std::time::Duration::from_millis(ms));
    i
}

/// Makespan of `n` uneven tasks submitted with `apply_async` on a warm `Pool(2)`: ms.
fn pool_uneven_makespan(n: u64) -> f64 {
    let Ok(pool) = ringfork::Pool::new(2) else {
        return f64::NAN;
    };
    let _ = pool.map(sq, 0..100u64);
    let start = Instant::now();
    let rs: Result<Vec<_>, _> = (0..n).map(|i| pool.apply_async(uneven_task, i)).collect();
    let Ok(rs) = rs else { return f64::NAN };
    for (i, r) in rs.iter().enumerate() {
        if r.get().ok() != Some(i as u64) {
            return f64::NAN;
        }
    }
    start.elapsed().as_secs_f64() * 1e3
}

/// `apply_async(..).get()` round trips on `Pool(2)`: µs each.
fn pool_apply_roundtrip(n: u64) -> f64 {
    let Ok(pool) = ringfork::Pool::new(2) else {
        return f64::NAN;
    };
    let _ = pool.apply(sq, 1);
    let start = Instant::now();
    for i in 0..n {
        match pool.apply_async(sq, i).and_then(|r| r.get()) {
            Ok(v) if v == sq(i) => {}
            _ => return f64::NAN,
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// Our `Wait` layer (`Futex`: spin briefly, then park) in a ping-pong against raw futex syscalls.
pub fn wait_pingpong(o: &BenchOpts) -> Vec<Row> {
    let iters = o.iters(20_000);
    let mut rows = Vec::new();
    for pinned in [false, true] {
        rows.push(measure(
            o,
            Spec {
                name: if pinned {
                    "wait_pingpong_pinned"
                } else {
                    "wait_pingpong"
                },
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: (
                    "ringfork_wait_futex",
                    Box::new(move || ours_wait_pingpong(iters, pinned)),
                ),
                baseline: ("raw_futex", Box::new(move || b::futex_pingpong(iters, pinned))),
                target: None,
                note: "the wait layer alone; spinning first wins when the partner answers within ~1 us",
            },
        ));
    }
    rows
}

fn ours_wait_pingpong(iters: u64, pinned: bool) -> f64 {
    let w = Words::new(1);
    let word = w.word(0);
    b::pingpong(
        iters,
        pinned.then_some(0),
        |i| {
            let i = i as u32;
            // Ordering: Acquire pairs with the parent's Release store.
            while word.load(Ordering::Acquire) != 2 * i + 1 {
                let _ = Futex::wait(word, 2 * i, Deadline::Never);
            }
            // Ordering: Release publishes the answer to the parent's Acquire load.
            word.store(2 * i + 2, Ordering::Release);
            Futex::wake(word, 1);
        },
        |i| {
            let i = i as u32;
            // Ordering: Release publishes our turn to the partner's Acquire load.
            word.store(2 * i + 1, Ordering::Release);
            Futex::wake(word, 1);
            // Ordering: Acquire pairs with the partner's Release store.
            while word.load(Ordering::Acquire) != 2 * i + 2 {
                let _ = Futex::wait(word, 2 * i + 1, Deadline::Never);
            }
        },
    )
}

/// Baselines against each other, so the table shows the machine's limits: atomic vs futex vs pipe vs
/// socketpair ping-pong, and pthread robust vs plain process-shared mutex.
pub fn limits(o: &BenchOpts) -> Vec<Row> {
    let iters = o.iters(20_000);
    let ops = o.iters(200_000);
    vec![
        measure(
            o,
            Spec {
                name: "limits_pipe_vs_socketpair",
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: ("pipe", Box::new(move || b::pipe_pingpong(iters, false))),
                baseline: ("socketpair", Box::new(move || b::socketpair_pingpong(iters, false))),
                target: None,
                note: "two kernel baselines side by side",
            },
        ),
        measure(
            o,
            Spec {
                name: "limits_atomic_vs_futex",
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: ("atomic_busy", Box::new(move || b::atomic_pingpong(iters))),
                baseline: ("raw_futex", Box::new(move || b::futex_pingpong(iters, false))),
                target: None,
                note: "busy polling vs parking: the price of sleeping",
            },
        ),
        measure(
            o,
            Spec {
                name: "limits_futex_timed",
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: (
                    "raw_futex_50ms_timeout",
                    Box::new(move || b::futex_pingpong_timed(iters)),
                ),
                baseline: ("raw_futex_untimed", Box::new(move || b::futex_pingpong(iters, false))),
                target: None,
                note: "what a timer per wait costs (blocking calls that probe peers' liveness need one)",
            },
        ),
        measure(
            o,
            Spec {
                name: "limits_pthread_4p",
                unit: "Mops/s",
                higher_is_better: true,
                ours: (
                    "pthread_shared",
                    Box::new(move || b::pthread_mutex(b::PthreadKind::Shared, 4, ops)),
                ),
                baseline: (
                    "pthread_robust",
                    Box::new(move || b::pthread_mutex(b::PthreadKind::Robust, 4, ops)),
                ),
                target: None,
                note: "what robustness costs glibc under 4-process contention",
            },
        ),
    ]
}
