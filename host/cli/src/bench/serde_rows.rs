//! Benchmark rows for serde messages (issue 17): a `Job` record through `Queue<Job>` against Python's
//! `multiprocessing.Queue` (with the equivalent dict) and against `ipc-channel` (the serde IPC crate Rust
//! users pick today), and 1 MiB messages against Python and against an in-process `memcpy`.

use super::baseline::{self as b, fork_partner};
use super::harness::{measure, BenchOpts, Row, Spec};
use ringfork::Queue;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Bytes of [`floor_bytes_struct`]'s ring (256 KiB, room for about 2,800 records).
const FLOOR_BYTES: usize = 1 << 18;

/// Longest a side of [`floor_bytes_struct`] waits for the other before the sample is NaN.
const FLOOR_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// The same records as [`queue_struct`] through the least a shared-memory queue can do: a bench-only
/// single-producer single-consumer byte ring (rtrb's design, for bytes) where each side owns its end
/// and publishes it with a plain Release store: the producer's `head` and the consumer's `tail` each
/// alone in a line, each side caching the other's index and reloading it only when the ring looks empty
/// (consumer) or full (producer); records postcard-encoded and packed as a `u32` length and the bytes,
/// padded to 8, a length of `u32::MAX` meaning "continue at offset 0". No locked instruction, no claims,
/// no crash recovery, no blocking (both sides spin, yielding every 4096 polls). Mitems/s, or NaN. Not a
/// queue a user could be given (one producer and one consumer forever, a crash loses the ring, a waiting
/// side burns its core); it measures what the hardware leaves for any design once the serde work and the
/// cache lines that must move between the two cores are paid. (A ring of 256-byte slots with a sequence
/// word alone in each slot's first line measured the same.)
pub fn floor_bytes_struct(items: u64) -> f64 {
    let total = FLOOR_BYTES + 256;
    let Ok(seg) = ringfork::Segment::anonymous(total + 8192) else {
        return f64::NAN;
    };
    let Ok(off) = seg.alloc(ringfork_core::Kind::Cell, "bench-floor-bytes", total, 128) else {
        return f64::NAN;
    };
    let Ok(region) = seg.sub_region(off, total) else {
        return f64::NAN;
    };
    let base = region.as_ptr() as usize;
    // SAFETY: a 128-aligned word inside the mapping `seg` keeps alive for this function (and the
    // child's copy); only accessed atomically.
    let head = unsafe { &*(base as *const AtomicU64) };
    // SAFETY: as `head`, on the next 128-byte line.
    let tail = unsafe { &*((base + 128) as *const AtomicU64) };
    let data = base + 256;
    let bytes = |at: usize, len: usize| {
        debug_assert!(at + len <= FLOOR_BYTES);
        // SAFETY: `at + len` ≤ FLOOR_BYTES (the callers keep records inside the ring), so the bytes lie
        // in the mapping; the head/tail protocol gives the producer sole access to [head, tail + size)
        // and the consumer to [tail, head) until it publishes its index, so no byte is used by both.
        unsafe { std::slice::from_raw_parts_mut((data + at) as *mut u8, len) }
    };
    let start = Instant::now();
    let end = start + FLOOR_DEADLINE;
    let size = FLOOR_BYTES as u64;
    let child = fork_partner(None, move || {
        let mut h = 0u64;
        let mut seen_tail = 0u64;
        let mut buf = [0u8; 256];
        for i in 0..items {
            let Ok(n) = postcard::to_slice(&Job::new(i), &mut buf).map(|b| b.len()) else {
                return;
            };
            let rec = (4 + n as u64).next_multiple_of(8);
            let at = (h % size) as usize;
            let wrap = if at as u64 + rec > size { size - at as u64 } else { 0 };
            let mut polls = 0u32;
            while h + wrap + rec - seen_tail > size {
                // Ordering: Acquire pairs with the consumer's Release store of `tail`: the bytes it read
                // before are no longer read once we overwrite them.
                seen_tail = tail.load(Ordering::Acquire);
                polls = polls.wrapping_add(1);
                if polls % 4096 == 0 {
                    if Instant::now() > end {
                        return;
                    }
                    std::thread::yield_now();
                }
            }
            if wrap > 0 {
                bytes(at, 4).copy_from_slice(&u32::MAX.to_le_bytes());
                h += wrap;
            }
            let at = (h % size) as usize;
            let slot = bytes(at, 4 + n);
            slot[..4].copy_from_slice(&(n as u32).to_le_bytes());
            slot[4..].copy_from_slice(&buf[..n]);
            h += rec;
            // Ordering: Release publishes the record written above to the consumer's Acquire load.
            head.store(h, Ordering::Release);
        }
    });
    let mut ok = true;
    let mut t = 0u64;
    let mut seen_head = 0u64;
    'items: for i in 0..items {
        loop {
            let mut polls = 0u32;
            while seen_head == t {
                // Ordering: Acquire pairs with the producer's Release store of `head`.
                seen_head = head.load(Ordering::Acquire);
                polls = polls.wrapping_add(1);
                if polls % 4096 == 0 {
                    if Instant::now() > end {
                        ok = false;
                        break 'items;
                    }
                    std::thread::yield_now();
                }
            }
            let at = (t % size) as usize;
            let mut len = [0u8; 4];
            len.copy_from_slice(bytes(at, 4));
            let n = u32::from_le_bytes(len);
            if n == u32::MAX {
                t += size - at as u64;
                continue;
            }
            let n = (n as usize).min(FLOOR_BYTES - at - 4);
            ok &= postcard::from_bytes::<Job>(bytes(at + 4, n)).is_ok_and(|j| j.is(i));
            t += (4 + n as u64).next_multiple_of(8);
            // Ordering: Release orders the reads above before the producer reuses the bytes.
            tail.store(t, Ordering::Release);
            break;
        }
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
                name: "queue_struct_vs_floor_ring",
                unit: "Mitems/s",
                higher_is_better: true,
                ours: ("ringfork_queue_job_1p1c", Box::new(move || queue_struct(items))),
                baseline: ("spsc_byte_ring_no_claims_spinning", Box::new(move || floor_bytes_struct(items))),
                target: None,
                note: "the same records through a bench-only SPSC byte ring with no locked instruction, no recovery, no blocking: what any design can reach here",
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
