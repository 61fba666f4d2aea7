//! Benchmark rows for serde messages (issue 17): a `Job` record through `Queue<Job>` against Python's
//! `multiprocessing.Queue` (with the equivalent dict) and against `ipc-channel` (the serde IPC crate Rust
//! users pick today), and 1 MiB messages against Python and against an in-process `memcpy`.

use super::baseline::{self as b, fork_partner};
use super::harness::{measure, BenchOpts, Row, Spec};
use ringfork::Queue;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The record of `queue_struct_*`: a 16-character path, one tag, 8 floats (as in issue 17's example;
/// the Python peer sends the equivalent dict).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Job {
    id: u64,
    path: String,
    tags: Vec<String>,
    weights: Vec<f64>,
}

impl Job {
    /// Record `id` (built in the producer, as a producer that makes its records would).
    pub fn new(id: u64) -> Job {
        Job {
            id,
            path: format!("/data/{id:010}"),
            tags: vec!["a".into()],
            weights: vec![0.5; 8],
        }
    }

    /// Whether this is record `id` (the consumer checks every record).
    fn is(&self, id: u64) -> bool {
        self.id == id && self.path.len() == 16 && self.tags.len() == 1 && self.weights.len() == 8
    }
}

/// `Queue<Job>` one producer process → this process, blocking `put`/`get`: Mitems/s, or NaN if a record
/// was wrong or missing.
pub fn queue_struct(items: u64) -> f64 {
    let Ok(q) = Queue::<Job>::new(1024) else {
        return f64::NAN;
    };
    let q2 = q.clone();
    let start = Instant::now();
    let child = fork_partner(None, move || {
        for i in 0..items {
            if q2.put(Job::new(i)).is_err() {
                return;
            }
        }
    });
    let mut ok = true;
    for i in 0..items {
        ok &= q.get().is_ok_and(|j| j.is(i));
    }
    let rate = items as f64 / start.elapsed().as_secs_f64() / 1e6;
    child.measured(ok, rate)
}

/// The same records through an `ipc-channel` channel (created before the fork; the child inherits the
/// sending socket): Mitems/s, or NaN.
pub fn ipc_channel_struct(items: u64) -> f64 {
    let Ok((tx, rx)) = ipc_channel::ipc::channel::<Job>() else {
        return f64::NAN;
    };
    let start = Instant::now();
    let child = fork_partner(None, move || {
        for i in 0..items {
            if tx.send(Job::new(i)).is_err() {
                return;
            }
        }
    });
    let mut ok = true;
    for i in 0..items {
        ok &= rx.recv().is_ok_and(|j| j.is(i));
    }
    let rate = items as f64 / start.elapsed().as_secs_f64() / 1e6;
    child.measured(ok, rate)
}

/// The serde work of [`queue_struct`] with nothing passing between the two processes: a producer
/// process builds each record and encodes it (postcard, the queue's encoding, into a stack buffer, as
/// `put` does) while this process decodes (and checks, then drops) one encoded record as many times,
/// as `get` does. Mitems/s, or NaN: the ceiling of `queue_struct` on this machine, since a queue can
/// only add work to it (claiming slots, copying bytes, cache lines moving between the cores).
pub fn serde_work_only(items: u64) -> f64 {
    let mut encoded = [0u8; 256];
    let Ok(len) = postcard::to_slice(&Job::new(items / 2), &mut encoded).map(|b| b.len()) else {
        return f64::NAN;
    };
    let start = Instant::now();
    let child = fork_partner(None, move || {
        let mut buf = [0u8; 256];
        for i in 0..items {
            let job = Job::new(i);
            if postcard::to_slice(&job, &mut buf).is_err() {
                return;
            }
            std::hint::black_box(&buf);
        }
    });
    let mut ok = true;
    for _ in 0..items {
        let bytes = std::hint::black_box(&encoded[..len]);
        ok &= postcard::from_bytes::<Job>(bytes).is_ok_and(|j| j.is(items / 2));
    }
    let rate = items as f64 / start.elapsed().as_secs_f64() / 1e6;
    child.measured(ok, rate)
}

/// `msgs` messages of `size` bytes through `Queue<Vec<u8>>` (a 4-slot queue: every message is far larger
/// than its buffer) from a producer process that builds each message (a copy of a template) to this
/// process, which checks its length and ends: Mmsgs/s, or NaN.
pub fn queue_bytes(size: usize, msgs: u64) -> f64 {
    let Ok(q) = Queue::<Vec<u8>>::new(4) else {
        return f64::NAN;
    };
    let q2 = q.clone();
    let start = Instant::now();
    let child = fork_partner(None, move || {
        let template = vec![0xA5u8; size];
        for _ in 0..msgs {
            if q2.put(template.clone()).is_err() {
                return;
            }
        }
    });
    let mut ok = true;
    for _ in 0..msgs {
        ok &= q
            .get()
            .is_ok_and(|m| m.len() == size && m.first() == Some(&0xA5) && m.last() == Some(&0xA5));
    }
    let rate = msgs as f64 / start.elapsed().as_secs_f64() / 1e6;
    child.measured(ok, rate)
}

/// The rows (those against Python are in `rows::python_pairs`).
pub fn rows(o: &BenchOpts) -> Vec<Row> {
    let items = o.iters(200_000);
    let big = o.iters(2_000);
    vec![
        measure(
            o,
            Spec {
                name: "queue_struct_vs_ipc_channel",
                unit: "Mitems/s",
                higher_is_better: true,
                ours: ("ringfork_queue_job_1p1c", Box::new(move || queue_struct(items))),
                baseline: ("ipc_channel_job_1p1c", Box::new(move || ipc_channel_struct(items))),
                target: Some(3.0),
                note: "a Job record (16-char path, one tag, 8 floats) from a producer process, serde on both sides",
            },
        ),
        measure(
            o,
            Spec {
                name: "queue_struct_vs_serde_only",
                unit: "Mitems/s",
                higher_is_better: true,
                ours: ("ringfork_queue_job_1p1c", Box::new(move || queue_struct(items))),
                baseline: ("serde_work_2proc_no_queue", Box::new(move || serde_work_only(items))),
                target: None,
                note: "the same records built+encoded in one process and decoded in another with no queue between: the ceiling",
            },
        ),
        measure(
            o,
            Spec {
                name: "queue_1mib_vs_memcpy",
                unit: "Mmsgs/s",
                higher_is_better: true,
                ours: ("ringfork_queue_1mib_1p1c", Box::new(move || queue_bytes(1 << 20, big))),
                baseline: ("memcpy_1proc", Box::new(move || b::memcpy_rate(1 << 20, big))),
                target: Some(0.3),
                note: "1 MiB Vec<u8> messages through a 4-slot Queue across processes vs one in-process memcpy each",
            },
        ),
    ]
}
