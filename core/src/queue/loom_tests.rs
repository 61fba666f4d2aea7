//! loom models of the SPSC and MPMC rings (small capacities, 2-3 threads). Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p ringfork-core --release --lib loom`.

use super::mpmc::Mpmc;
use super::spsc::{Slot as SpscSlot, Spsc};
use super::{PopError, PushError, RingCtrl};
use crate::atomic::AtomicU64;
use core::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::vec::Vec;

struct SpscMem {
    ctrl: RingCtrl,
    data: [SpscSlot<u64>; 2],
}

// SAFETY: the ring protocol under test serializes access to `data`.
unsafe impl Sync for SpscMem {}
// SAFETY: as for Sync.
unsafe impl Send for SpscMem {}

fn spsc(m: &SpscMem) -> Spsc<'_, u64> {
    // SAFETY: `data` holds 2 fresh slots and lives as long as `m`; the ring only mutates them through
    // their atomics and UnsafeCells.
    unsafe { Spsc::from_parts(&m.ctrl, m.data.as_ptr() as *mut SpscSlot<u64>, 2) }
}

#[test]
fn loom_spsc_in_order() {
    loom::model(|| {
        let m = Arc::new(SpscMem {
            ctrl: RingCtrl::new(),
            data: [SpscSlot::new(0), SpscSlot::new(0)],
        });
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let mut p = spsc(&m2).producer();
            for i in 1..=3u64 {
                loop {
                    match p.try_push(i) {
                        Ok(()) => break,
                        Err(PushError::Full) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut c = spsc(&m).consumer();
        for i in 1..=3u64 {
            loop {
                match c.try_pop() {
                    Ok(v) => {
                        assert_eq!(v, i);
                        break;
                    }
                    Err(PopError::Empty) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        t.join().unwrap();
    });
}

#[repr(C)]
struct Slot {
    seq: AtomicU64,
    data: UnsafeCell<u64>,
}

/// A [`Slot`] padded to a line pair: rings of these start their blocking operations with an eager
/// claim (`Mpmc::eager_claims`), rings of bare `Slot`s do not.
#[repr(C, align(128))]
struct WideSlot(Slot);

const _: () = assert!(core::mem::size_of::<WideSlot>() >= crate::padded::CACHE_LINE);

/// A slot layout for the models: [`Slot`] or [`WideSlot`].
trait ModelSlot: Sized + 'static {
    fn fresh(i: u64) -> Self;
}

impl ModelSlot for Slot {
    fn fresh(i: u64) -> Self {
        Slot {
            seq: AtomicU64::new(Mpmc::initial_word(i)),
            data: UnsafeCell::new(0),
        }
    }
}

impl ModelSlot for WideSlot {
    fn fresh(i: u64) -> Self {
        WideSlot(Slot::fresh(i))
    }
}

struct MpmcMem<S = Slot> {
    ctrl: RingCtrl,
    slots: [S; 2],
}

// SAFETY: the ring protocol under test serializes access to the slots' data.
unsafe impl<S> Sync for MpmcMem<S> {}
// SAFETY: as for Sync.
unsafe impl<S> Send for MpmcMem<S> {}

/// A fresh 2-slot MPMC ring (slot words initialised by `Mpmc::initial_word`).
fn mpmc_mem() -> Arc<MpmcMem> {
    mpmc_mem_of::<Slot>()
}

/// [`mpmc_mem`] with slots of layout `S`.
fn mpmc_mem_of<S: ModelSlot>() -> Arc<MpmcMem<S>> {
    Arc::new(MpmcMem {
        ctrl: RingCtrl::new(),
        slots: [0u64, 1].map(S::fresh),
    })
}

fn mpmc<S>(m: &MpmcMem<S>) -> Mpmc<'_> {
    let stride = core::mem::size_of::<S>();
    // A `WideSlot` holds its `Slot` at offset 0 (`repr(C)`).
    let off = core::mem::offset_of!(Slot, data);
    // SAFETY: 2 slots laid out as described, words initialised by `Mpmc::initial_word`.
    unsafe { Mpmc::from_parts(&m.ctrl, m.slots.as_ptr() as *mut u8, 2, stride, off) }
}

fn push(q: &Mpmc<'_>, v: u64) {
    loop {
        // SAFETY: the payload is an 8-aligned u64 owned by us between claim and publish.
        match q.try_push_with(None, |p| unsafe { (p as *mut u64).write(v) }) {
            Ok(()) => return,
            Err(PushError::Full) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

fn pop(q: &Mpmc<'_>) -> u64 {
    loop {
        // SAFETY: the payload is a published u64 owned by us between claim and free.
        match q.try_pop_with(None, |p| unsafe { (p as *const u64).read() }) {
            Ok(v) => return v,
            Err(PopError::Empty) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn loom_mpmc_two_producers_exactly_once() {
    // Two producers race for the claim CAS on the slot words of a ring of capacity 2 (the loser steps
    // to the next position); the consumer must receive both items exactly once. (With capacity 1
    // both producers and the consumer spin, and the model exceeds loom's branch limit; the
    // cross-process tests cover the full-ring case.) Bounded to three preemptions, loom's
    // recommendation: unbounded, the three threads' interleavings take 13 minutes.
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let m = mpmc_mem();
        let hs: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|v| {
                let m = m.clone();
                thread::spawn(move || push(&mpmc(&m), v))
            })
            .collect();
        let q = mpmc(&m);
        let mut got = [pop(&q), pop(&q)];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn loom_mpmc_fifo_with_wraparound() {
    // One producer laps a ring of capacity 2 while a consumer drains it: order and values survive
    // the sequence-number handoff between laps.
    loom::model(|| {
        let m = mpmc_mem();
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let q = mpmc(&m2);
            for v in 1..=3 {
                push(&q, v);
            }
        });
        let q = mpmc(&m);
        for v in 1..=3 {
            assert_eq!(pop(&q), v);
        }
        t.join().unwrap();
    });
}

#[test]
fn loom_mpmc_two_consumers_capacity_one() {
    loom::model(|| {
        let m = mpmc_mem();
        let m2 = m.clone();
        let c = thread::spawn(move || pop(&mpmc1(&m2)));
        let q = mpmc1(&m);
        push(&q, 1);
        push(&q, 2);
        let mine = pop(&q);
        let theirs = c.join().unwrap();
        let mut all = [mine, theirs];
        all.sort_unstable();
        assert_eq!(all, [1, 2]);
    });
}

fn mpmc1<S>(m: &MpmcMem<S>) -> Mpmc<'_> {
    let stride = core::mem::size_of::<S>();
    let off = core::mem::offset_of!(Slot, data);
    // SAFETY: only the first slot is used (capacity 1); its word is `Mpmc::initial_word(0)`.
    unsafe { Mpmc::from_parts(&m.ctrl, m.slots.as_ptr() as *mut u8, 1, stride, off) }
}

/// A `Wait` for the blocking-layer models: `park` really blocks (yielding to loom) until the word
/// changes, whatever the deadline, and `wake` does nothing — so a waiter whose wake-up was lost waits
/// forever and loom reports the livelock. No clock: the blocking layer's slices are then "no
/// deadline", and its spin phase is compiled out under loom.
struct LoomPark;

impl crate::wait::Wait for LoomPark {
    type Clock = crate::time::NoClock;

    fn wait(
        word: &crate::atomic::AtomicU32,
        expected: u32,
        _deadline: crate::Deadline,
    ) -> Result<(), crate::wait::TimedOut> {
        // Ordering: Acquire, as in every Wait implementation.
        while word.load(crate::atomic::Ordering::Acquire) == expected {
            thread::yield_now();
        }
        Ok(())
    }

    fn wake(_word: &crate::atomic::AtomicU32, _n: u32) -> usize {
        0
    }
}

#[test]
fn loom_spsc_blocking_pop_no_lost_wakeup() {
    // The consumer may register as a sleeper at any point relative to the producer's commit (a plain
    // Release stamp store, then the fenced sleeper check): it must always get the item.
    loom::model(|| {
        let m = Arc::new(SpscMem {
            ctrl: RingCtrl::new(),
            data: [SpscSlot::new(0), SpscSlot::new(0)],
        });
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let mut p = spsc(&m2).producer();
            p.push::<LoomPark>(7, crate::Deadline::Never).unwrap();
        });
        let mut c = spsc(&m).consumer();
        assert_eq!(c.pop::<LoomPark>(crate::Deadline::Never), Ok(7));
        t.join().unwrap();
    });
}

#[test]
fn loom_mpmc_blocking_pop_no_lost_wakeup() {
    // As above for the MPMC ring, whose producer reads the sleeper count right after its SeqCst claim
    // CAS (no fence), commits with a plain store, then wakes: a consumer that re-checks after the
    // claim sees "writing" and polls instead of waiting for a wake-up.
    blocking_pop_model::<Slot>();
}

#[test]
fn loom_mpmc_eager_blocking_pop_no_lost_wakeup() {
    // The same with slots of a line pair, whose blocking operations start with an eager claim (a
    // CAS expecting the slot free, or committed, for the hinted position, with no load before it).
    blocking_pop_model::<WideSlot>();
}

fn blocking_pop_model<S: ModelSlot>() {
    loom::model(|| {
        let m = mpmc_mem_of::<S>();
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let q = mpmc(&m2);
            // SAFETY: the payload is an 8-aligned u64 owned by us between claim and publish.
            q.push_with::<LoomPark>(None, crate::Deadline::Never, |p| unsafe { (p as *mut u64).write(9) })
                .unwrap();
        });
        let q = mpmc(&m);
        // SAFETY: the payload is a published u64 owned by us between claim and free.
        let v = q.pop_with::<LoomPark, u64>(None, crate::Deadline::Never, |p| unsafe { (p as *const u64).read() });
        assert_eq!(v, Ok(9));
        t.join().unwrap();
    });
}

#[test]
fn loom_mpmc_blocking_push_no_lost_wakeup() {
    // Capacity 1: the producer's second push waits for room, which the consumer makes with its claim
    // CAS (reading the producers' sleeper count) and a plain-store free. A producer that re-checks
    // while the slot is being read sees "reading" and polls; otherwise the consumer must wake it.
    blocking_push_model::<Slot>();
}

#[test]
fn loom_mpmc_eager_blocking_push_no_lost_wakeup() {
    // The same with eager claims (see `loom_mpmc_eager_blocking_pop_no_lost_wakeup`).
    blocking_push_model::<WideSlot>();
}

fn blocking_push_model<S: ModelSlot>() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let m = mpmc_mem_of::<S>();
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let q = mpmc1(&m2);
            for v in [5u64, 6] {
                // SAFETY: the payload is an 8-aligned u64 owned by us between claim and commit.
                q.push_with::<LoomPark>(None, crate::Deadline::Never, |p| unsafe { (p as *mut u64).write(v) })
                    .unwrap();
            }
        });
        let q = mpmc1(&m);
        for v in [5u64, 6] {
            // SAFETY: the payload is a committed u64 owned by us between claim and free.
            let got =
                q.pop_with::<LoomPark, u64>(None, crate::Deadline::Never, |p| unsafe { (p as *const u64).read() });
            assert_eq!(got, Ok(v));
        }
        t.join().unwrap();
    });
}

#[test]
fn loom_mpmc_eager_two_producers_exactly_once() {
    // Two producers race their eager claims (and then the usual ones) for the slots of a ring of
    // capacity 2 through the blocking operations; the consumer must receive both items exactly
    // once, and nobody may wait for a wake-up that never comes.
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let m = mpmc_mem_of::<WideSlot>();
        let hs: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|v| {
                let m = m.clone();
                thread::spawn(move || {
                    // SAFETY: the payload is an 8-aligned u64 owned by us between claim and commit.
                    mpmc(&m)
                        .push_with::<LoomPark>(None, crate::Deadline::Never, |p| unsafe { (p as *mut u64).write(v) })
                })
            })
            .collect();
        let q = mpmc(&m);
        // SAFETY: the payload is a committed u64 owned by us between claim and free.
        let pop = || q.pop_with::<LoomPark, u64>(None, crate::Deadline::Never, |p| unsafe { (p as *const u64).read() });
        let mut got = [pop().unwrap(), pop().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        for h in hs {
            assert_eq!(h.join().unwrap(), Ok(()));
        }
    });
}
