//! Benchmark rows for the rings and queues (issue 6 targets), each against its baseline in the same
//! run: SPSC vs in-process rtrb, MPMC vs in-process crossbeam, busy ping-pong vs a raw atomic
//! ping-pong, blocking ping-pong vs a raw futex / pipe / socketpair, byte messages vs memcpy and a
//! pipe, and `Queue` vs Python's `multiprocessing.Queue`.

use super::baseline::{self as b, fork_partner};
use super::harness::{measure, BenchOpts, Row, Spec};
use ringfork::{Queue, Segment};
use ringfork_core::queue::bytering::ByteRing;
use ringfork_core::queue::spsc::{Spsc, SpscPair};
use ringfork_core::wait::DefaultWait;
use ringfork_core::{Deadline, Kind, Region};
use std::time::Instant;

fn region<'a>(seg: &'a Segment, name: &str) -> Region<'a> {
    let e = seg.find(name).expect("object placed");
    seg.sub_region(e.offset, e.size).expect("in bounds")
}

fn ring_seg(cap: usize, rings: &[&str]) -> Segment {
    let size = Spsc::<u64>::size(cap).expect("size");
    let seg = Segment::anonymous((size + 4096) * rings.len()).expect("segment");
    for r in rings {
        seg.alloc(Kind::Spsc, r, size, Spsc::<u64>::align()).expect("alloc");
        Spsc::<u64>::init::<DefaultWait>(region(&seg, r), cap).expect("init");
    }
    seg
}

fn attach<'a>(seg: &'a Segment, name: &str) -> Spsc<'a, u64> {
    Spsc::<u64>::attach::<DefaultWait>(region(seg, name), Deadline::Never).expect("attach")
}

/// Cross-process SPSC throughput (busy try_push/try_pop of single u64s): Mitems/s.
pub fn spsc_throughput(items: u64) -> f64 {
    let seg = ring_seg(4096, &["s"]);
    let start = Instant::now();
    let child = {
        let seg = &seg;
        fork_partner(None, move || {
            let q = attach(seg, "s");
            let mut p = q.producer();
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
    let q = attach(&seg, "s");
    let mut c = q.consumer();
    let mut expect = 0;
    while expect < items {
        match c.try_pop() {
            Ok(v) => {
                if v != expect {
                    return f64::NAN;
                }
                expect += 1;
            }
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

// The C driver (src/bench/c_spsc.c, compiled by build.rs) calls the C ABI of ringfork-capi; naming
// the crate links its rlib, whose `#[no_mangle]` functions resolve the driver's calls.
use ringfork_c as _;

extern "C" {
    fn rf_bench_c_produce(mem: *mut u8, len: usize, items: u64) -> i32;
    fn rf_bench_c_consume(mem: *mut u8, len: usize, items: u64) -> i32;
}

/// [`spsc_throughput`] with both loops in C, through the C ABI (`ringfork_spsc_try_push`/`_try_pop`
/// per item): Mitems/s.
pub fn c_spsc_throughput(items: u64) -> f64 {
    let seg = ring_seg(4096, &["s"]);
    let r = region(&seg, "s");
    let (ptr, len) = (r.as_ptr() as usize, r.len());
    let start = Instant::now();
    let child = fork_partner(None, move || {
        // SAFETY: `ptr..ptr+len` is the ring the parent placed in the segment this child inherited,
        // mapped for the whole call.
        let rc = unsafe { rf_bench_c_produce(ptr as *mut u8, len, items) };
        assert_eq!(rc, 0, "C producer");
    });
    // SAFETY: as above; `seg` keeps the mapping alive until the end of this function.
    let rc = unsafe { rf_bench_c_consume(ptr as *mut u8, len, items) };
    let rate = items as f64 / start.elapsed().as_secs_f64() / 1e6;
    if rc == 0 && child.join() {
        rate
    } else {
        f64::NAN
    }
}

/// Opens the two directions of a ping-pong.
type OpenRings = for<'a> fn(&'a Segment) -> (Spsc<'a, u64>, Spsc<'a, u64>);

fn open_two(seg: &Segment) -> (Spsc<'_, u64>, Spsc<'_, u64>) {
    (attach(seg, "ping"), attach(seg, "pong"))
}

fn open_pair(seg: &Segment) -> (Spsc<'_, u64>, Spsc<'_, u64>) {
    let p = SpscPair::<u64>::attach::<DefaultWait>(region(seg, "pair"), Deadline::Never).expect("attach");
    p.split()
}

/// The two directions of a ping-pong: an [`SpscPair`] (`paired`) or two separate rings.
fn pingpong_rings(paired: bool) -> (Segment, OpenRings) {
    if !paired {
        return (ring_seg(64, &["ping", "pong"]), open_two);
    }
    let size = SpscPair::<u64>::size(64).expect("size");
    let seg = Segment::anonymous(size + 4096).expect("segment");
    seg.alloc(Kind::SpscPair, "pair", size, SpscPair::<u64>::align())
        .expect("alloc");
    SpscPair::<u64>::init::<DefaultWait>(region(&seg, "pair"), 64).expect("init");
    (seg, open_pair)
}

/// Round trips over an SPSC pair (`paired`) or two SPSC rings: busy polling (`blocking == false`) or
/// blocking push/pop that park on the futex: ns/roundtrip.
pub fn spsc_pingpong(iters: u64, blocking: bool, pinned: bool, paired: bool) -> f64 {
    let (seg, open) = pingpong_rings(paired);
    if pinned {
        b::pin(0);
    }
    let child = {
        let seg = &seg;
        fork_partner(pinned.then_some(0), move || {
            let (ping, pong) = open(seg);
            let (mut rx, mut tx) = (ping.consumer(), pong.producer());
            for _ in 0..iters {
                let v = if blocking {
                    rx.pop::<DefaultWait>(Deadline::Never).unwrap_or(0)
                } else {
                    loop {
                        if let Ok(v) = rx.try_pop() {
                            break v;
                        }
                        std::hint::spin_loop();
                    }
                };
                if blocking {
                    let _ = tx.push::<DefaultWait>(v + 1, Deadline::Never);
                } else {
                    while tx.try_push(v + 1).is_err() {
                        std::hint::spin_loop();
                    }
                }
            }
        })
    };
    let (ping, pong) = open(&seg);
    let (mut tx, mut rx) = (ping.producer(), pong.consumer());
    let start = Instant::now();
    let mut ok = true;
    for i in 0..iters {
        let v = if blocking {
            let _ = tx.push::<DefaultWait>(i, Deadline::Never);
            rx.pop::<DefaultWait>(Deadline::Never).unwrap_or(u64::MAX)
        } else {
            while tx.try_push(i).is_err() {
                std::hint::spin_loop();
            }
            loop {
                if let Ok(v) = rx.try_pop() {
                    break v;
                }
                std::hint::spin_loop();
            }
        };
        ok &= v == i + 1;
    }
    let ns = start.elapsed().as_nanos() as f64 / iters as f64;
    ok &= child.join();
    if pinned {
        b::unpin();
    }
    if ok {
        ns
    } else {
        f64::NAN
    }
}

/// `Queue<u64>` (the MPMC queue) with 2 producer and 2 consumer processes, busy try_put/try_get:
/// Mitems/s.
pub fn queue_mpmc(items: u64) -> f64 {
    let Ok(q) = Queue::<u64>::new(4096) else {
        return f64::NAN;
    };
    let per = items / 2;
    let start = Instant::now();
    let mut kids = Vec::new();
    for _ in 0..2 {
        let q = q.clone();
        kids.push(fork_partner(None, move || {
            for i in 0..per {
                while q.try_put(i).is_err() {
                    std::hint::spin_loop();
                }
            }
        }));
    }
    let got = Queue::<u64>::new(4).ok();
    for _ in 0..2 {
        let (q, got) = (q.clone(), got.clone());
        kids.push(fork_partner(None, move || {
            let mut n = 0u64;
            // Each consumer takes half; the sum of both halves is checked by the item count.
            while n < per {
                if q.try_get().is_ok() {
                    n += 1;
                } else {
                    std::hint::spin_loop();
                }
            }
            if let Some(g) = got {
                let _ = g.put(n);
            }
        }));
    }
    let ok = kids.into_iter().map(|k| k.join()).fold(true, |a, b| a & b);
    let rate = (2 * per) as f64 / start.elapsed().as_secs_f64() / 1e6;
    if ok {
        rate
    } else {
        f64::NAN
    }
}

/// `Queue<u64>` 1 producer / 1 consumer with blocking `put`/`get` (Python's usage): Mitems/s.
pub fn queue_blocking(items: u64) -> f64 {
    let Ok(q) = Queue::<u64>::new(1024) else {
        return f64::NAN;
    };
    let q2 = q.clone();
    stream_1p1c(items, move |i| q2.put(i).is_ok(), move || q.get().ok())
}

/// Streams `0..items` from a forked producer (`put`, false = give up) to this process (`get`), checking
/// order: Mitems/s, or NaN if anything went wrong.
pub fn stream_1p1c(items: u64, put: impl Fn(u64) -> bool, mut get: impl FnMut() -> Option<u64>) -> f64 {
    let start = Instant::now();
    let child = fork_partner(None, move || {
        for i in 0..items {
            if !put(i) {
                return;
            }
        }
    });
    let mut ok = true;
    for i in 0..items {
        ok &= get() == Some(i);
    }
    let rate = items as f64 / start.elapsed().as_secs_f64() / 1e6;
    child.measured(ok, rate)
}

/// Streams `msgs` messages of `size` bytes through a byte ring to a child that receives them into a
/// buffer: Mmsgs/s.
pub fn bytes_stream(size: usize, msgs: u64) -> f64 {
    let cap = (size + 16).max(4096) * 16;
    let Some(bytes) = ByteRing::size(cap, size) else {
        return f64::NAN;
    };
    let Ok(seg) = Segment::anonymous(bytes + 4096) else {
        return f64::NAN;
    };
    if seg.alloc(Kind::ByteRing, "b", bytes, ByteRing::align()).is_err() {
        return f64::NAN;
    }
    if ByteRing::init::<DefaultWait>(region(&seg, "b"), Kind::ByteRing, cap, size).is_err() {
        return f64::NAN;
    }
    let start = Instant::now();
    let child = {
        let seg = &seg;
        fork_partner(None, move || {
            let Ok(r) = ByteRing::attach::<DefaultWait>(region(seg, "b"), Kind::ByteRing, Deadline::Never) else {
                return;
            };
            let mut rx = r.receiver();
            let mut buf = vec![0u8; size.max(1)];
            let mut got = 0;
            while got < msgs {
                match rx.recv_into::<DefaultWait>(&mut buf, Deadline::Never) {
                    Ok(n) if n == size => got += 1,
                    _ => panic!("bad message"),
                }
            }
        })
    };
    let Ok(r) = ByteRing::attach::<DefaultWait>(region(&seg, "b"), Kind::ByteRing, Deadline::Never) else {
        return f64::NAN;
    };
    let mut tx = r.sender();
    let msg = vec![0x5Au8; size];
    for _ in 0..msgs {
        if tx.send::<DefaultWait>(&msg, Deadline::Never).is_err() {
            return f64::NAN;
        }
    }
    let ok = child.join();
    let rate = msgs as f64 / start.elapsed().as_secs_f64() / 1e6;
    if ok {
        rate
    } else {
        f64::NAN
    }
}

/// The queue rows.
pub fn rows(o: &BenchOpts) -> Vec<Row> {
    let items = o.iters(10_000_000);
    let pp = o.iters(100_000);
    let bp = o.iters(20_000);
    let mut rows = vec![
        measure(
            o,
            Spec {
                name: "spsc_u64",
                unit: "Mitems/s",
                higher_is_better: true,
                ours: ("ringfork_spsc_2proc", Box::new(move || spsc_throughput(items))),
                baseline: ("rtrb_in_process", Box::new(move || b::rtrb_spsc(items))),
                target: Some(0.8),
                note: "single-item try_push/try_pop, busy; ours crosses processes, rtrb stays in one",
            },
        ),
        measure(
            o,
            Spec {
                name: "c_spsc_vs_rust",
                unit: "Mitems/s",
                higher_is_better: true,
                ours: ("c_abi_spsc_2proc", Box::new(move || c_spsc_throughput(items))),
                baseline: ("ringfork_spsc_2proc", Box::new(move || spsc_throughput(items))),
                target: Some(0.8),
                note: "the spsc_u64 loops driven from C through ringfork.h vs the same ring from Rust",
            },
        ),
        measure(
            o,
            Spec {
                name: "mpmc_2p2c",
                unit: "Mitems/s",
                higher_is_better: true,
                ours: ("ringfork_queue_4proc", Box::new(move || queue_mpmc(items / 4))),
                baseline: (
                    "crossbeam_arrayqueue_4threads",
                    Box::new(move || b::crossbeam_mpmc(items / 4)),
                ),
                target: Some(0.8),
                note: "2 producers + 2 consumers on 2 cores (oversubscribed), busy polling",
            },
        ),
        measure(
            o,
            Spec {
                name: "pingpong_busy",
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: (
                    "ringfork_spscpair_busy",
                    Box::new(move || spsc_pingpong(pp, false, false, true)),
                ),
                baseline: ("raw_atomic", Box::new(move || b::atomic_pingpong(pp))),
                target: Some(1.0 / 1.5),
                note: "SpscPair (request and answer share a cache line) vs one word written by both sides",
            },
        ),
        measure(
            o,
            Spec {
                name: "pingpong_busy_two_rings",
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: (
                    "ringfork_two_spsc_busy",
                    Box::new(move || spsc_pingpong(pp, false, false, false)),
                ),
                baseline: ("raw_atomic", Box::new(move || b::atomic_pingpong(pp))),
                target: None,
                note: "two separate rings: one line per direction, each written by one side (~2x one shared line)",
            },
        ),
    ];
    for pinned in [false, true] {
        rows.push(measure(
            o,
            Spec {
                name: if pinned {
                    "pingpong_block_pinned"
                } else {
                    "pingpong_block"
                },
                unit: "ns/roundtrip",
                higher_is_better: false,
                ours: (
                    "ringfork_spsc_blocking",
                    Box::new(move || spsc_pingpong(bp, true, pinned, false)),
                ),
                baseline: ("raw_futex", Box::new(move || b::futex_pingpong(bp, pinned))),
                target: Some(1.0 / 1.2),
                note: if pinned {
                    "both processes on CPU 0: the pure syscall + context-switch cost"
                } else {
                    "free placement: cross-core futex wake-ups dominate"
                },
            },
        ));
    }
    rows.push(measure(
        o,
        Spec {
            name: "pingpong_block_vs_pipe",
            unit: "ns/roundtrip",
            higher_is_better: false,
            ours: (
                "ringfork_spsc_blocking",
                Box::new(move || spsc_pingpong(bp, true, false, false)),
            ),
            baseline: ("pipe", Box::new(move || b::pipe_pingpong(bp, false))),
            target: Some(5.0),
            note: "a blocking ring round trip against a pipe(2) round trip",
        },
    ));
    rows.push(measure(
        o,
        Spec {
            name: "pingpong_block_vs_socketpair",
            unit: "ns/roundtrip",
            higher_is_better: false,
            ours: (
                "ringfork_spsc_blocking",
                Box::new(move || spsc_pingpong(bp, true, false, false)),
            ),
            baseline: ("socketpair", Box::new(move || b::socketpair_pingpong(bp, false))),
            target: None,
            note: "a blocking ring round trip against a unix socketpair round trip",
        },
    ));
    for (name, size, n) in [
        ("bytes_64", 64usize, 2_000_000u64),
        ("bytes_1k", 1024, 500_000),
        ("bytes_64k", 65536, 20_000),
    ] {
        let n = o.iters(n);
        rows.push(measure(
            o,
            Spec {
                name,
                unit: "Mmsgs/s",
                higher_is_better: true,
                ours: ("ringfork_bytering_2proc", Box::new(move || bytes_stream(size, n))),
                baseline: ("memcpy_1proc", Box::new(move || b::memcpy_rate(size, n))),
                target: None,
                note: "ours copies each message in and out across processes; memcpy copies once in one process",
            },
        ));
        rows.push(measure(
            o,
            Spec {
                name: match name {
                    "bytes_64" => "bytes_64_vs_pipe",
                    "bytes_1k" => "bytes_1k_vs_pipe",
                    _ => "bytes_64k_vs_pipe",
                },
                unit: "Mmsgs/s",
                higher_is_better: true,
                ours: ("ringfork_bytering_2proc", Box::new(move || bytes_stream(size, n))),
                baseline: ("pipe_stream", Box::new(move || b::pipe_stream(size, n))),
                target: None,
                note: "the same stream through pipe(2)",
            },
        ));
    }
    rows
}
