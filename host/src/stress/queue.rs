//! `ringfork stress queue`: producers and consumers on one `Queue<u64>` while participants are
//! SIGKILLed at random moments.
//!
//! Half the participants (at least one) produce `(producer, seq)` items and record, after each `put`
//! returns, how many they committed; the others consume until the queue reports `Disconnected` (every
//! producer has exited or was killed) and mark each item in a shared bitmap.
//!
//! Invariants: `exactly_once` (no item is received twice); `per_producer_order` (each consumer sees
//! each producer's items in increasing order); `committed_not_lost` (committed items missing at the
//! end ≤ `lost()` + consumers killed, since a consumer killed between `get` and its bitmap mark took
//! a delivered item with it); `no_phantoms` (nothing beyond a producer's commit count plus the one in
//! flight); `completed` (every survivor finished; a blocked consumer noticed the producers' deaths).
//! Detection time: from the last producer's exit to the last consumer's `Disconnected`.

use super::{Killer, StressOpts, StressReport};
use crate::child::{fork_partner, Partner};
use crate::queue::{PopError, Queue};
use crate::segment::Segment;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `n` atomic words in an anonymous shared segment.
struct Words {
    seg: Segment,
    off: usize,
    n: usize,
}

impl Words {
    fn new(n: usize) -> Option<Words> {
        let seg = Segment::anonymous(n * 8 + 4096).ok()?;
        let off = seg.alloc(ringfork_core::Kind::Array, "stress-words", n * 8, 8).ok()?;
        Some(Words { seg, off, n })
    }

    fn all(&self) -> &[AtomicU64] {
        match self.seg.sub_region(self.off, self.n * 8) {
            // SAFETY: n words inside our live mapping, 8-aligned; AtomicU64 has no invalid values.
            Ok(r) => unsafe { std::slice::from_raw_parts(r.as_ptr() as *const AtomicU64, self.n) },
            Err(_) => &[],
        }
    }
}

/// Runs the target.
pub fn run(o: &StressOpts) -> StressReport {
    let inv = [
        "exactly_once",
        "per_producer_order",
        "committed_not_lost",
        "no_phantoms",
        "completed",
    ];
    let mut rep = StressReport::new("queue", o.procs, &inv);
    let producers = (o.procs / 2).max(1);
    let consumers = (o.procs - producers).max(1);
    let per = if o.duration.is_some() {
        1 << 22
    } else {
        o.ops.clamp(1, 1 << 22)
    };
    let (Ok(q), Some(bits), Some(committed), Some(flags)) = (
        Queue::<u64>::new(256),
        Words::new((producers * per as usize).div_ceil(64)),
        Words::new(producers),
        Words::new(2),
    ) else {
        rep.violate("completed", 1);
        rep.notes.push("cannot create the shared objects".into());
        return rep;
    };
    // flags[0]: stop (duration mode); flags[1]: per-producer order violations seen by consumers.
    let start = Instant::now();
    let mut cons: Vec<Option<Partner>> = (0..consumers)
        .map(|_| {
            let (q, bits, flags) = (&q, &bits, &flags);
            Some(fork_partner(None, move || {
                let mut last = vec![None::<u64>; producers];
                loop {
                    match q.get() {
                        Ok(v) => {
                            let (p, s) = ((v >> 40) as usize, v & ((1 << 40) - 1));
                            if p >= producers || s >= per {
                                continue;
                            }
                            if last[p].is_some_and(|l| s <= l) {
                                // Ordering: Relaxed; a counter read after this process is reaped.
                                flags.all()[1].fetch_add(1, Ordering::Relaxed);
                            }
                            last[p] = Some(s);
                            let i = p * per as usize + s as usize;
                            // Ordering: Relaxed; read by the supervisor after reaping (waitpid orders it).
                            let old = bits.all()[i / 64].fetch_or(1 << (i % 64), Ordering::Relaxed);
                            if old & (1 << (i % 64)) != 0 {
                                // Ordering: Relaxed, as above.
                                flags.all()[1].fetch_add(1 << 32, Ordering::Relaxed);
                            }
                        }
                        Err(PopError::Disconnected) | Err(PopError::Closed) => return,
                        Err(e) => panic!("consumer: {e}"),
                    }
                }
            }))
        })
        .collect();
    let mut prods: Vec<Option<Partner>> = (0..producers)
        .map(|p| {
            let (q, committed, flags) = (&q, &committed, &flags);
            Some(fork_partner(None, move || {
                for s in 0..per {
                    // Ordering: Relaxed; the stop flag is a hint.
                    if flags.all()[0].load(Ordering::Relaxed) != 0 || q.put(((p as u64) << 40) | s).is_err() {
                        break;
                    }
                    // Ordering: Relaxed; read by the supervisor after reaping.
                    committed.all()[p].store(s + 1, Ordering::Relaxed);
                }
            }))
        })
        .collect();
    let window = o
        .duration
        .unwrap_or(Duration::from_micros(per * producers as u64 / 2 + 1000));
    let mut killer = Killer::new(o.seed, o.kill, window);
    let deadline = start + super::watchdog(o);
    let mut consumer_kills = 0u64;
    let mut producers_done_at = None;
    loop {
        let live: Vec<libc::pid_t> = prods.iter().chain(cons.iter()).flatten().map(|p| p.pid()).collect();
        if let Some(i) = killer.tick_pids(&live) {
            rep.kills += 1;
            let n_prod = prods.iter().flatten().count();
            if i >= n_prod {
                consumer_kills += 1;
            }
        }
        if o.duration.is_some_and(|d| start.elapsed() >= d) {
            // Ordering: Relaxed; a hint.
            flags.all()[0].store(1, Ordering::Relaxed);
        }
        for slot in prods.iter_mut().chain(cons.iter_mut()) {
            if let Some(st) = slot.as_ref().and_then(|p| p.try_wait()) {
                let killed = libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL;
                let clean = libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0;
                if !(killed || clean) {
                    rep.violate("completed", 1);
                    rep.notes.push(format!("a participant failed: raw wait status {st:#x}"));
                }
                *slot = None;
            }
        }
        if producers_done_at.is_none() && prods.iter().all(Option::is_none) {
            producers_done_at = Some(Instant::now());
        }
        if prods.iter().chain(cons.iter()).all(Option::is_none) {
            break;
        }
        if Instant::now() > deadline {
            rep.hung = true;
            rep.notes.push("watchdog: participants still running".into());
            for p in prods.iter().chain(cons.iter()).flatten() {
                p.signal(libc::SIGKILL);
                let _ = p.wait_timeout(Duration::from_secs(5));
            }
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    if let Some(t) = producers_done_at {
        rep.max_detect_ms = t.elapsed().as_secs_f64() * 1e3;
    }
    rep.seconds = start.elapsed().as_secs_f64();
    let f = flags.all();
    // Ordering: Relaxed; every writer has been reaped.
    let (order, dups) = (
        f[1].load(Ordering::Relaxed) & 0xffff_ffff,
        f[1].load(Ordering::Relaxed) >> 32,
    );
    rep.violate("per_producer_order", order);
    rep.violate("exactly_once", dups);
    let b = bits.all();
    let is_set = |i: usize| b[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0;
    let mut missing = 0u64;
    for p in 0..producers {
        // Ordering: Relaxed; the producer has been reaped.
        let c = committed.all()[p].load(Ordering::Relaxed);
        missing += (0..c).filter(|&s| !is_set(p * per as usize + s as usize)).count() as u64;
        let phantoms = ((c + 1)..per)
            .filter(|&s| is_set(p * per as usize + s as usize))
            .count() as u64;
        rep.violate("no_phantoms", phantoms);
        rep.ops += c;
    }
    let allowed = q.lost() + consumer_kills;
    if missing > allowed {
        rep.violate("committed_not_lost", missing - allowed);
    }
    rep.recoveries = q.lost();
    rep.notes.push(format!(
        "{producers} producer(s), {consumers} consumer(s); {missing} committed item(s) missing, allowed \
         {allowed} (lost() = {}, consumers killed = {consumer_kills})",
        q.lost()
    ));
    rep
}
