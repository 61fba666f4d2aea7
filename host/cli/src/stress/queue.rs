//! `ringfork stress queue`: producers and consumers on one `Queue` while random participants are
//! SIGKILLed.
//!
//! Items carry (producer, sequence, checksum). Consumers mark each item in a shared table the moment
//! they get it. Invariants: no item is seen twice (`exactly_once`); every checksum matches
//! (`checksum`); each consumer sees each producer's items in increasing order (`order_per_producer`);
//! every item a producer committed (its `put` returned) was received, except at most one per killed
//! consumer plus what the queue itself counted as lost (`committed_not_lost`); the run ends
//! (`completed`, watchdog).
//!
//! The `queue` target runs two phases under the same invariants: plain 16-byte items
//! (`Queue<Item, Plain>`), then serde messages of random size from 0 B to 16 MiB (mostly small,
//! now and then far larger than the queue's whole buffer, so they stream through its large-message
//! lane) whose every byte is a function of (producer, sequence) and is checked.

use super::{Killer, StressOpts, StressReport};
use crate::child::{try_fork_partner, Partner};
use ringfork::encoding::{Encoding, Plain, Serde};
use ringfork::{Queue, Segment, ShmCell};
use ringfork_core::atomic::{AtomicU32, AtomicU64, Ordering};
use ringfork_core::{Kind, ShmSafe};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Item {
    producer: u32,
    seq: u32,
    check: u64,
}

// SAFETY: repr(C) integers, no padding (4 + 4 + 8).
unsafe impl ShmSafe for Item {}

fn check(p: u32, s: u32) -> u64 {
    (u64::from(p) << 32 | u64::from(s)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDEAD_BEEF
}

/// What a stress phase moves: built from (producer, sequence), checked on arrival.
trait Load: Clone + Send + 'static {
    /// The queue's encoding.
    type Enc: Encoding<Self>;
    /// Rough time per item through the queue (sizes the kill window).
    const MICROS_PER_ITEM: f64;
    fn make(p: u32, s: u32) -> Self;
    /// (producer, sequence, intact).
    fn ident(&self) -> (u32, u32, bool);
}

impl Load for Item {
    type Enc = Plain;
    const MICROS_PER_ITEM: f64 = 0.25;
    fn make(p: u32, s: u32) -> Self {
        Item {
            producer: p,
            seq: s,
            check: check(p, s),
        }
    }
    fn ident(&self) -> (u32, u32, bool) {
        (self.producer, self.seq, self.check == check(self.producer, self.seq))
    }
}

/// A serde message of random size (0 B - 16 MiB): its bytes are a function of (producer, seq).
#[derive(Clone, Serialize, Deserialize)]
struct Big {
    producer: u32,
    seq: u32,
    data: Vec<u8>,
}

fn big_len(p: u32, s: u32) -> usize {
    let mut x = (u64::from(p) << 32 | u64::from(s)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5851_F42D_4C95_7F2D;
    x ^= x >> 29;
    let r = x % 1000;
    let y = x >> 10;
    match r {
        0..=899 => (y % 512) as usize,                                // inline or just above
        900..=989 => 512 + (y % (256 << 10)) as usize,                // lane, a few frames
        _ => (256 << 10) + (y % ((16 << 20) - (256 << 10))) as usize, // lane, up to 16 MiB
    }
}

fn big_byte(p: u32, s: u32, i: usize) -> u8 {
    (i as u64 ^ (i as u64 >> 11) ^ (u64::from(p) * 0x35) ^ (u64::from(s) * 0x1b)) as u8
}

impl Load for Big {
    type Enc = Serde;
    const MICROS_PER_ITEM: f64 = 50.0;
    fn make(p: u32, s: u32) -> Self {
        Big {
            producer: p,
            seq: s,
            data: (0..big_len(p, s)).map(|i| big_byte(p, s, i)).collect(),
        }
    }
    fn ident(&self) -> (u32, u32, bool) {
        let (p, s) = (self.producer, self.seq);
        let ok = self.data.len() == big_len(p, s) && self.data.iter().enumerate().all(|(i, &b)| b == big_byte(p, s, i));
        (p, s, ok)
    }
}

/// Shared counters: a "seen" count per (producer, seq), violations, and each consumer's longest wait.
struct Table {
    seg: Segment,
    producers: usize,
    ops: usize,
}

impl Table {
    fn new(producers: usize, ops: usize, consumers: usize) -> Result<Table, ringfork::SegmentError> {
        let seg = Segment::anonymous(producers * ops * 4 + 64 + consumers * 8 + 4096)?;
        seg.alloc(Kind::Cell, "seen", producers * ops * 4, 64)?;
        seg.alloc(Kind::Cell, "viol", 64, 64)?;
        seg.alloc(Kind::Cell, "wait", consumers.max(1) * 8, 64)?;
        Ok(Table { seg, producers, ops })
    }

    fn words<T>(&self, name: &str, n: usize) -> &[T] {
        let e = self.seg.find(name).expect("table object");
        let r = self.seg.sub_region(e.offset, e.size).expect("in bounds");
        assert!(n * std::mem::size_of::<T>() <= e.size);
        // SAFETY: `n` atomics inside the live mapping (asserted), 64-aligned, zero-initialized;
        // atomics may be shared between processes.
        unsafe { std::slice::from_raw_parts(r.as_ptr() as *const T, n) }
    }

    fn seen(&self) -> &[AtomicU32] {
        self.words("seen", self.producers * self.ops)
    }

    /// [checksum, order] violation counters.
    fn viol(&self) -> &[AtomicU64] {
        self.words("viol", 2)
    }

    fn waits(&self, consumers: usize) -> &[AtomicU64] {
        self.words("wait", consumers)
    }
}

/// Runs the target: plain items, then serde messages of random size up to 16 MiB. The `--kill K`
/// kills are shared: `K - K/2` in the plain phase, `K/2` in the large-message phase.
pub fn run(o: &StressOpts) -> StressReport {
    let plain_opts = StressOpts {
        kill: o.kill - o.kill / 2,
        ..o.clone()
    };
    let large_opts = StressOpts {
        kill: o.kill / 2,
        seed: o.seed.wrapping_add(0x5eed),
        ..o.clone()
    };
    let plain = run_mode::<Item>(&plain_opts, false, o.ops);
    // Large messages: fewer of them (about 100 KiB each on average, 1 % up to 16 MiB).
    let large = run_mode::<Big>(&large_opts, false, (o.ops / 20).clamp(1, 2_000));
    let notes: Vec<String> = large.notes.iter().map(|n| format!("large messages: {n}")).collect();
    let mut rep = plain.merge(large);
    rep.notes.extend(notes);
    rep
}

/// `ringfork stress mpmc`: the same ring driven by busy `try_put`/`try_get` polling (the lock-free
/// MPMC fast path), calling `recover()` while it spins, as busy pollers must (they never block, so the
/// blocking layer's dead-claim recovery does not run for them).
pub fn mpmc(o: &StressOpts) -> StressReport {
    run_mode::<Item>(o, true, o.ops)
}

fn put<M: Load>(q: &Queue<M, M::Enc>, item: M, busy: bool) -> bool {
    if !busy {
        return q.put_timeout(item, Duration::from_secs(20)).is_ok();
    }
    let end = Instant::now() + Duration::from_secs(20);
    let mut spins = 0u32;
    loop {
        // Busy polling is only used with plain (Copy) items: the clone is a copy.
        match q.try_put(item.clone()) {
            Ok(()) => return true,
            Err(ringfork::PushError::Full) if Instant::now() < end => {
                spins += 1;
                if spins % 4096 == 0 {
                    q.recover();
                    std::thread::yield_now();
                }
                std::hint::spin_loop();
            }
            Err(_) => return false,
        }
    }
}

fn get<M: Load>(q: &Queue<M, M::Enc>, busy: bool) -> Option<M> {
    if !busy {
        return q.get_timeout(Duration::from_secs(20)).ok();
    }
    let end = Instant::now() + Duration::from_secs(20);
    let mut spins = 0u32;
    loop {
        match q.try_get() {
            Ok(i) => return Some(i),
            Err(ringfork::PopError::Empty) if Instant::now() < end && !q.is_closed() => {
                spins += 1;
                if spins % 4096 == 0 {
                    q.recover();
                    std::thread::yield_now();
                }
                std::hint::spin_loop();
            }
            Err(ringfork::PopError::Empty) if q.is_closed() => {
                // Closed while we polled: drain what is left, then stop.
                return q.try_get().ok();
            }
            Err(_) => return None,
        }
    }
}

fn run_mode<M: Load>(o: &StressOpts, busy: bool, ops: u64) -> StressReport {
    let invariants = [
        "exactly_once",
        "checksum",
        "order_per_producer",
        "committed_not_lost",
        "completed",
    ];
    let mut rep = StressReport::new(if busy { "mpmc" } else { "queue" }, o.procs, &invariants);
    let producers = (o.procs / 2).max(1);
    let consumers = (o.procs - producers).max(1);
    let ops = ops.clamp(1, 1_000_000) as usize;
    let setup = (|| -> Result<_, Box<dyn std::error::Error>> {
        let q = Queue::<M, M::Enc>::new(256)?;
        let t = Table::new(producers, ops, consumers)?;
        let committed: Vec<ShmCell<u32>> = (0..producers).map(|_| ShmCell::new(0u32)).collect::<Result<_, _>>()?;
        Ok((q, t, committed))
    })();
    let (q, table, committed) = match setup {
        Ok(s) => s,
        Err(e) => {
            rep.violate("completed", 1);
            rep.notes.push(format!("setup failed: {e}"));
            return rep;
        }
    };
    let start = Instant::now();
    let mut kids: Vec<(Partner, bool)> = Vec::new(); // (process, is_producer)
    for (p, c) in committed.iter().enumerate() {
        let (q, c) = (q.clone(), c.clone());
        match try_fork_partner(move || {
            for s in 0..ops as u32 {
                let item = M::make(p as u32, s);
                if !put(&q, item, busy) {
                    return;
                }
                c.set(s + 1);
            }
        }) {
            Ok(k) => kids.push((k, true)),
            Err(e) => rep.notes.push(format!("fork failed: {e}")),
        }
    }
    for ci in 0..consumers {
        let q = q.clone();
        let t = Table {
            seg: table.seg.clone(),
            producers,
            ops,
        };
        match try_fork_partner(move || {
            let mut last = vec![-1i64; producers];
            loop {
                let w = Instant::now();
                let Some(item) = get(&q, busy) else {
                    break; // Closed (drained), Disconnected, or timed out
                };
                let waited = w.elapsed().as_micros() as u64;
                // Ordering: Relaxed: read by the supervisor after every participant is reaped (waitpid orders it).
                t.waits(consumers)[ci].fetch_max(waited, Ordering::Relaxed);
                let (p, s, intact) = item.ident();
                let (p, s) = (p as usize, s as usize);
                if p >= producers || s >= ops || !intact {
                    // Ordering: Relaxed: as above.
                    t.viol()[0].fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                // Ordering: Relaxed; the supervisor reads the table after every consumer is reaped.
                t.seen()[p * ops + s].fetch_add(1, Ordering::Relaxed);
                if (s as i64) <= last[p] {
                    t.viol()[1].fetch_add(1, Ordering::Relaxed);
                }
                last[p] = s as i64;
            }
        }) {
            Ok(k) => kids.push((k, false)),
            Err(e) => rep.notes.push(format!("fork failed: {e}")),
        }
    }
    // Kills land in the first part of the run (about 0.25 µs per item is the fast end here).
    let expected_ms = ((ops * producers) as f64 * M::MICROS_PER_ITEM / 1000.0) as u64 + 2;
    let mut killer = Killer::new(o.seed, o.kill, Duration::from_millis(expected_ms));
    let deadline = start + super::watchdog(o);
    let mut killed_consumers = 0u64;
    let mut done = vec![false; kids.len()];
    let mut closed = false;
    loop {
        for (i, (k, _)) in kids.iter().enumerate() {
            if !done[i] && k.try_wait().is_some() {
                done[i] = true;
            }
        }
        let live: Vec<libc::pid_t> = kids
            .iter()
            .zip(&done)
            .filter(|(_, d)| !**d)
            .map(|((k, _), _)| k.pid())
            .collect();
        if killer.is_due() {
            if let Some(i) = killer.tick_pids(&live) {
                rep.kills += 1;
                if let Some((_, is_prod)) = kids.iter().find(|(k, _)| k.pid() == live[i]) {
                    if !is_prod {
                        killed_consumers += 1;
                    }
                }
            }
        }
        let producers_done = kids.iter().zip(&done).filter(|((_, p), _)| *p).all(|(_, d)| *d);
        if producers_done && !closed {
            q.close(); // consumers drain what is left, then see Closed
            closed = true;
        }
        if done.iter().all(|d| *d) {
            break;
        }
        if Instant::now() > deadline {
            rep.hung = true;
            for ((k, _), d) in kids.iter().zip(&done) {
                if !*d {
                    k.signal(libc::SIGKILL);
                    let _ = k.wait_timeout(Duration::from_secs(2));
                }
            }
            rep.notes
                .push("watchdog: participants were still running; killed".into());
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    rep.seconds = start.elapsed().as_secs_f64();
    let seen = table.seen();
    // If every consumer was killed, what they left is still queued: the supervisor drains it, so a
    // committed item counts as lost only if it is really gone.
    let mut drained = 0u64;
    while let Ok(item) = q.try_get() {
        let (p, s, intact) = item.ident();
        let (p, s) = (p as usize, s as usize);
        if p < producers && s < ops && intact {
            // Ordering: Relaxed: the supervisor's own table, read below in this thread.
            seen[p * ops + s].fetch_add(1, Ordering::Relaxed);
            drained += 1;
        } else {
            rep.violate("checksum", 1);
        }
    }
    let mut received = 0u64;
    let mut missing = 0u64;
    for p in 0..producers {
        let c = committed[p].get() as usize;
        for s in 0..ops {
            // Ordering: Relaxed: every participant was reaped (waitpid orders their writes).
            let n = seen[p * ops + s].load(Ordering::Relaxed);
            received += u64::from(n);
            if n > 1 {
                rep.violate("exactly_once", u64::from(n - 1));
            }
            if s < c.min(ops) && n == 0 {
                missing += 1;
            }
        }
    }
    let allowed = killed_consumers + q.lost();
    if missing > allowed {
        rep.violate("committed_not_lost", missing - allowed);
    }
    // Ordering: Relaxed: as above.
    rep.violate("checksum", table.viol()[0].load(Ordering::Relaxed));
    // Ordering: Relaxed: as above.
    rep.violate("order_per_producer", table.viol()[1].load(Ordering::Relaxed));
    if rep.hung {
        rep.violate("completed", 1);
    }
    rep.ops = received;
    rep.recoveries = missing.min(allowed);
    let max_wait = table
        .waits(consumers)
        .iter()
        // Ordering: Relaxed: as above.
        .map(|w| w.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    if rep.kills > 0 {
        rep.max_detect_ms = max_wait as f64 / 1e3;
    }
    rep.notes.push(format!(
        "{producers} producer(s), {consumers} consumer(s); {missing} committed item(s) missing, allowed {allowed} \
         ({killed_consumers} killed consumer(s), {} counted lost by the queue); {drained} left in the queue \
         drained by the supervisor; max_detect_ms = the longest single get() wait",
        q.lost()
    ));
    rep
}
