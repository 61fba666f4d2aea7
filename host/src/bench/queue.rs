//! Queue and pipe rows: SPSC and MPMC throughput across processes, busy and blocking ping-pong,
//! byte messages at 64 B / 1 KiB / 64 KiB.

use super::baseline as b;
use super::harness::{measure, BenchOpts, Row, Spec};
use crate::child::fork_partner;
use crate::queue::{PopError, Queue};
use crate::segment::Segment;
use ringfork_core::queue::spsc::Spsc;
use ringfork_core::wait::DefaultWait;
use ringfork_core::Kind;
use std::time::Instant;

/// A cross-process SPSC ring of `u64` in its own segment.
struct SpscSeg {
    seg: Segment,
    off: usize,
    size: usize,
}

impl SpscSeg {
    fn new(cap: usize) -> Option<SpscSeg> {
        let size = Spsc::<u64>::size(cap)?;
        let seg = Segment::anonymous(size + 4096).ok()?;
        let off = seg.alloc(Kind::Spsc, "bench-spsc", size, Spsc::<u64>::align()).ok()?;
        let s = SpscSeg { seg, off, size };
        Spsc::<u64>::init::<DefaultWait>(s.seg.sub_region(off, size).ok()?, cap).ok()?;
        Some(s)
    }

    fn ring(&self) -> Spsc<'_, u64> {
        let r = self.seg.sub_region(self.off, self.size).expect("ring in bounds");
        Spsc::<u64>::attach::<DefaultWait>(r, ringfork_core::Deadline::Immediate).expect("ring attaches")
    }
}

/// `items` u64 through a 4096-slot SPSC ring from a child producer to the parent, busy-polling
/// `try_push`/`try_pop` one item at a time (the same shape as the rtrb baseline): Mitems/s.
fn spsc_rate(items: u64) -> f64 {
    let Some(s) = SpscSeg::new(4096) else { return f64::NAN };
    let child = {
        let s = &s;
        fork_partner(None, move || {
            let mut p = s.ring().producer();
            let mut i = 0;
            while i < items {
                if p.try_push(i).is_ok() {
                    i += 1;
                } else {
                    std::hint::spin_loop();
                }
            }
        })
    };
    let mut c = s.ring().consumer();
    let start = Instant::now();
    let mut expect = 0;
    while expect < items {
        match c.try_pop() {
            Ok(v) if v == expect => expect += 1,
            Ok(_) => return f64::NAN,
            Err(_) => std::hint::spin_loop(),
        }
    }
    let rate = items as f64 / start.elapsed().as_secs_f64() / 1e6;
    if child.join() {
        rate
    } else {
        f64::NAN
    }
}

/// `Queue<u64>` (the blocking MPMC queue) with one producer child and the parent consuming, through
/// the blocking `put`/`get`: Mitems/s.
fn queue_rate(items: u64, producers: u64) -> f64 {
    let Ok(q) = Queue::<u64>::new(4096) else {
        return f64::NAN;
    };
    let per = items / producers;
    let kids: Vec<_> = (0..producers)
        .map(|_| {
            let q = q.clone();
            fork_partner(None, move || {
                for i in 0..per {
                    if q.put(i).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    for _ in 0..per * producers {
        if q.get().is_err() {
            return f64::NAN;
        }
    }
    let rate = (per * producers) as f64 / start.elapsed().as_secs_f64() / 1e6;
    let ok = kids.into_iter().all(|k| k.join());
    if ok {
        rate
    } else {
        f64::NAN
    }
}

/// Busy ping-pong over two SPSC rings (`try_push`/`try_pop` spinning): ns/roundtrip.
fn spsc_pingpong(iters: u64) -> f64 {
    let (Some(ab), Some(ba)) = (SpscSeg::new(16), SpscSeg::new(16)) else {
        return f64::NAN;
    };
    let child = {
        let (ab, ba) = (&ab, &ba);
        fork_partner(None, move || {
            let mut rx = ab.ring().consumer();
            let mut tx = ba.ring().producer();
            for _ in 0..iters {
                let v = loop {
                    match rx.try_pop() {
                        Ok(v) => break v,
                        Err(_) => std::hint::spin_loop(),
                    }
                };
                while tx.try_push(v + 1).is_err() {
                    std::hint::spin_loop();
                }
            }
        })
    };
    let mut tx = ab.ring().producer();
    let mut rx = ba.ring().consumer();
    let start = Instant::now();
    for i in 0..iters {
        while tx.try_push(i).is_err() {
            std::hint::spin_loop();
        }
        loop {
            match rx.try_pop() {
                Ok(v) if v == i + 1 => break,
                Ok(_) => return f64::NAN,
                Err(_) => std::hint::spin_loop(),
            }
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / iters as f64;
    if child.join() {
        ns
    } else {
        f64::NAN
    }
}

/// Busy ping-pong over two `Queue<u64>`s (`try_put`/`try_get` spinning, including the claim and
/// commit CASes and the sleeper check of every `try_*`): ns/roundtrip.
fn queue_busy_pingpong(iters: u64) -> f64 {
    let (Ok(ab), Ok(ba)) = (Queue::<u64>::new(16), Queue::<u64>::new(16)) else {
        return f64::NAN;
    };
    let child = {
        let (ab, ba) = (ab.clone(), ba.clone());
        fork_partner(None, move || {
            for _ in 0..iters {
                let v = loop {
                    match ab.try_get() {
                        Ok(v) => break v,
                        Err(_) => std::hint::spin_loop(),
                    }
                };
                while ba.try_put(v + 1).is_err() {
                    std::hint::spin_loop();
                }
            }
        })
    };
    let start = Instant::now();
    for i in 0..iters {
        while ab.try_put(i).is_err() {
            std::hint::spin_loop();
        }
        loop {
            match ba.try_get() {
                Ok(v) if v == i + 1 => break,
                Ok(_) => return f64::NAN,
                Err(_) => std::hint::spin_loop(),
            }
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / iters as f64;
    if child.join() {
        ns
    } else {
        f64::NAN
    }
}

/// Blocking ping-pong over two `Queue<u64>`s (`put`/`get`: spin briefly, then park): ns/roundtrip.
fn queue_pingpong(iters: u64) -> f64 {
    let (Ok(ab), Ok(ba)) = (Queue::<u64>::new(16), Queue::<u64>::new(16)) else {
        return f64::NAN;
    };
    let child = {
        let (ab, ba) = (ab.clone(), ba.clone());
        fork_partner(None, move || {
            for _ in 0..iters {
                match ab.get() {
                    Ok(v) => {
                        if ba.put(v + 1).is_err() {
                            return;
                        }
                    }
                    Err(PopError::Closed) | Err(_) => return,
                }
            }
        })
    };
    let start = Instant::now();
    for i in 0..iters {
        if ab.put(i).is_err() || ba.get() != Ok(i + 1) {
            return f64::NAN;
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / iters as f64;
    if child.join() {
        ns
    } else {
        f64::NAN
    }
}

/// Streams `msgs` messages of `size` bytes through a simplex [`crate::pipe`] to a child: Mmsgs/s.
fn pipe_rate(size: usize, msgs: u64) -> f64 {
    let Ok((mut r, mut w)) = crate::pipe::pipe_with(false, (size + 8) * 64, size) else {
        return f64::NAN;
    };
    let child = fork_partner(None, move || {
        let mut buf = Vec::with_capacity(size);
        for _ in 0..msgs {
            if r.recv_bytes_into(&mut buf) != Ok(size) {
                panic!("short message");
            }
        }
    });
    let msg = vec![0xA5u8; size];
    let start = Instant::now();
    for _ in 0..msgs {
        if w.send_bytes(&msg).is_err() {
            return f64::NAN;
        }
    }
    // The rate includes the child draining the last messages.
    let ok = child.join();
    let rate = msgs as f64 / start.elapsed().as_secs_f64() / 1e6;
    if ok {
        rate
    } else {
        f64::NAN
    }
}

/// The queue and pipe rows.
pub fn queues(o: &BenchOpts) -> Vec<Row> {
    let items = o.iters(20_000_000);
    let qitems = o.iters(5_000_000);
    let iters = o.iters(200_000);
    let biters = o.iters(20_000);
    let mut rows = vec![
        measure(
            o,
            Spec {
                name: "queue_spsc_u64",
                unit: "Mitems/s",
                higher_is_better: true,
                ours: ("ringfork_spsc_2proc", Box::new(move || spsc_rate(items))),
                baseline: ("rtrb_in_process", Box::new(move || b::rtrb_spsc(items))),
                target: Some(0.8),
                note: "busy try_push/try_pop one item at a time, 4096 slots; ours across two processes",
            },
        ),
        measure(
            o,
            Spec {
                name: "queue_mpmc_u64_1p1c",
                unit: "Mitems/s",
                higher_is_better: true,
                ours: ("ringfork_queue_2proc", Box::new(move || queue_rate(qitems, 1))),
                baseline: ("crossbeam_arrayqueue_2p2c", Box::new(move || b::crossbeam_mpmc(qitems))),
                target: None,
                note: "blocking put/get (sleeper-counted wakes); Python's mp.Queue is ~0.25 M/s, target >= 25",
            },
        ),
        measure(
            o,
            Spec {
                name: "queue_busy_pingpong",
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: ("ringfork_spsc_pair", Box::new(move || spsc_pingpong(iters))),
                baseline: ("atomic_busy", Box::new(move || b::atomic_pingpong(iters))),
                target: Some(1.0 / 1.5),
                note: "two SPSC rings vs one raw atomic word; target: ours <= 1.5x the raw round trip",
            },
        ),
        measure(
            o,
            Spec {
                name: "queue_busy_pingpong_mpmc",
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: ("ringfork_queue_try_pair", Box::new(move || queue_busy_pingpong(iters))),
                baseline: ("atomic_busy", Box::new(move || b::atomic_pingpong(iters))),
                target: Some(1.0 / 1.5),
                note: "two Queue<u64> with try_put/try_get spinning vs one raw atomic word",
            },
        ),
        measure(
            o,
            Spec {
                name: "queue_blocking_pingpong",
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: ("ringfork_queue_pair", Box::new(move || queue_pingpong(biters))),
                baseline: ("raw_futex", Box::new(move || b::futex_pingpong(biters, false))),
                target: Some(1.0 / 1.2),
                note: "blocking put/get on two Queue<u64> vs raw futex wait/wake; target: <= 1.2x",
            },
        ),
    ];
    for (name, size, n) in [
        ("queue_bytes_64", 64usize, 2_000_000u64),
        ("queue_bytes_1k", 1024, 500_000),
        ("queue_bytes_64k", 65536, 20_000),
    ] {
        let msgs = o.iters(n);
        rows.push(measure(
            o,
            Spec {
                name,
                unit: "Mmsgs/s",
                higher_is_better: true,
                ours: ("ringfork_pipe", Box::new(move || pipe_rate(size, msgs))),
                baseline: ("os_pipe", Box::new(move || b::pipe_stream(size, msgs))),
                target: None,
                note: "one-way message stream, simplex pipe (byte ring) vs an OS pipe",
            },
        ));
    }
    rows
}
