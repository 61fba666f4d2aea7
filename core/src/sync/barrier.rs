//! [`Barrier`]: `parties` processes wait until all have arrived (Python's `multiprocessing.Barrier`).
//!
//! # Layout (96 bytes, align 8)
//!
//! | offset | size | field       | written by                                              |
//! |-------:|-----:|-------------|---------------------------------------------------------|
//! | 0      | 64   | header      | initializer; `capacity` = parties                       |
//! | 64     | 16   | lock        | [`RawMutex`] protocol (guards the three words below)    |
//! | 80     | 4    | `gen`       | lock holder: `epoch << 1 \| BROKEN`; futex word           |
//! | 84     | 4    | `count`     | lock holder: arrivals in this epoch                     |
//! | 88     | 4    | `last_trip` | lock holder: the last epoch that tripped normally       |
//! | 92     | 4    | `reserved`  | nobody                                                  |
//!
//! An arrival locks, takes index `count`, and either trips the barrier (the last party: records
//! `last_trip = epoch`, starts the next epoch, wakes all) or unlocks and parks on `gen`. A waiter whose
//! epoch ended passed if `last_trip` names its epoch, and was broken otherwise ([`Barrier::reset`]
//! starts a new epoch without tripping). [`Barrier::abort`] and a timeout set BROKEN in the current
//! epoch: every waiter, and every later `wait` until `reset`, gets [`BarrierError::Broken`].
//!
//! # Dead participants
//! A party that dies before arriving never arrives: the others wait until their deadline. Use
//! [`Barrier::wait_timeout`] when parties may die; the first timeout breaks the barrier for everyone.
//! A party that dies *inside* the barrier's short critical section leaves the lock to be taken over;
//! the taker cannot trust the counters and breaks the barrier.
//!
//! # Deadlines are deadlines
//! [`Barrier::wait_until`] takes the internal lock with a deadline too (its own plus
//! [`crate::sync::condition::RELOCK_GRACE`]), on arrival and when it breaks the barrier after
//! timing out. If a live process holds that lock past it (stuck or stopped inside the critical
//! section, or a scribbled word naming a live thread), the wait still returns
//! [`BarrierError::Broken`] in time, after marking the epoch broken with a CAS on `gen` (best
//! effort: the stuck holder, if it resumes, may overwrite that mark with its own update of `gen`).

use crate::atomic::{AtomicU32, Ordering};
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams};
use crate::region::Region;
use crate::sync::common::{attach_body, init_body};
use crate::sync::condition::relock_deadline;
use crate::sync::raw_mutex::{LockOutcome, RawMutex};
use crate::time::Deadline;
use crate::wait::{DefaultWait, Wait};
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

const BROKEN: u32 = 1;

#[repr(C)]
struct Body {
    lock: RawMutex,
    gen: AtomicU32,
    count: AtomicU32,
    last_trip: AtomicU32,
    reserved: AtomicU32,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<Body>() == 32);
    assert!(core::mem::offset_of!(Body, gen) == 16);
};

/// Why a barrier wait failed.
///
/// ```
/// use ringfork_core::sync::barrier::{Barrier, BarrierError};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let b = Barrier::<DefaultWait>::init(Region::from_mut(&mut buf.0), 2).unwrap();
/// // The other party never comes: the time-out breaks the barrier for everyone.
/// assert_eq!(b.wait_timeout(std::time::Duration::from_millis(5)), Err(BarrierError::Broken));
/// assert!(b.broken());
/// assert_eq!(b.wait(), Err(BarrierError::Broken)); // at once
/// b.reset();
/// assert!(!b.broken());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarrierError {
    /// The barrier is broken (aborted, reset while waiting, or a party timed out). Python's
    /// `BrokenBarrierError`. Call [`Barrier::reset`] to use it again.
    Broken,
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken (aborted, reset, or a party timed out); call reset() before using it again")
    }
}

impl core::error::Error for BarrierError {}

/// Where [`Barrier::arrive`] left the caller.
///
/// See [`Barrier::arrive`] for an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The caller was the last party: the barrier tripped; its arrival index.
    Tripped(u32),
    /// Wait for epoch `epoch` to end (see [`Barrier::outcome`]); `index` is the arrival index.
    Wait {
        /// The caller's arrival index.
        index: u32,
        /// The `gen` word value to wait out.
        epoch: u32,
    },
}

/// A barrier for `parties` processes/threads, in shared memory. A view: `Copy`.
///
/// ```
/// use ringfork_core::sync::barrier::{Barrier, BarrierError};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let b = Barrier::<DefaultWait>::init(Region::from_mut(&mut buf.0), 1).unwrap();
/// assert_eq!(b.wait(), Ok(0)); // one party: never waits
/// b.abort();
/// assert_eq!(b.wait(), Err(BarrierError::Broken));
/// b.reset();
/// assert_eq!(b.wait(), Ok(0));
/// ```
pub struct Barrier<'a, W: Wait = DefaultWait> {
    header: &'a Header,
    body: &'a Body,
    parties: u32,
    _w: PhantomData<fn() -> W>,
}

impl<W: Wait> Clone for Barrier<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: Wait> Copy for Barrier<'_, W> {}

impl<W: Wait> fmt::Debug for Barrier<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

impl<'a, W: Wait> Barrier<'a, W> {
    /// Bytes a barrier needs.
    pub const SIZE: usize = 96;
    /// Alignment a barrier needs.
    pub const ALIGN: usize = 8;

    /// Creates a barrier for `parties` (at least 1) at the start of `region`.
    pub fn init(region: Region<'a>, parties: u32) -> Result<Self, InitError> {
        if parties == 0 {
            return Err(InitError::InvalidParameter {
                name: "parties",
                reason: "a barrier needs at least one party",
            });
        }
        let mut params = ObjectParams::new(Kind::Barrier, 0);
        params.capacity = parties.into();
        let (header, body) = init_body::<Body, W>(region, params, |b| {
            b.lock.init();
            // Ordering: Relaxed: published by the header's Release store of READY.
            b.gen.store(0, Ordering::Relaxed);
            b.count.store(0, Ordering::Relaxed);
            b.last_trip.store(u32::MAX, Ordering::Relaxed);
            b.reserved.store(0, Ordering::Relaxed);
        })?;
        Ok(Barrier {
            header,
            body,
            parties,
            _w: PhantomData,
        })
    }

    /// Attaches to the barrier at the start of `region`.
    pub fn attach(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let (header, body) = attach_body::<Body, W>(region, Kind::Barrier, deadline)?;
        let parties = match u32::try_from(header.capacity()) {
            Ok(p) if p > 0 => p,
            _ => {
                return Err(AttachError::Corrupted {
                    what: "barrier parties out of range",
                })
            }
        };
        Ok(Barrier {
            header,
            body,
            parties,
            _w: PhantomData,
        })
    }

    /// The number of parties.
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// How many parties are waiting in the current epoch (stale at once).
    pub fn n_waiting(&self) -> u32 {
        // Ordering: Relaxed: a snapshot, clamped against corruption.
        self.body.count.load(Ordering::Relaxed).min(self.parties)
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> bool {
        // Ordering: Acquire pairs with the Release store of `gen` under the lock.
        self.body.gen.load(Ordering::Acquire) & BROKEN != 0
    }

    /// Runs `f` with the barrier's lock held, taking it by `deadline`. A taker-over from a dead party
    /// breaks the barrier and repairs the lock (the counters cannot be trusted). `None` if the lock
    /// is unusable or could not be taken in time.
    fn locked<R>(&self, deadline: Deadline, f: impl FnOnce(&Body) -> R) -> Option<R> {
        let g = self.body.lock.lock::<W>(deadline).ok()?;
        if g == LockOutcome::OwnerDied {
            // Ordering: Relaxed under the lock; gen is published with Release below.
            let gen = self.body.gen.load(Ordering::Relaxed);
            self.body.count.store(0, Ordering::Relaxed);
            // Ordering: Release pairs with waiters' Acquire loads of gen.
            self.body.gen.store(gen | BROKEN, Ordering::Release);
            W::wake_all(&self.body.gen);
            let _ = self.body.lock.mark_consistent();
        }
        let r = f(self.body);
        let _ = self.body.lock.unlock::<W>();
        Some(r)
    }

    /// Waits for all parties; returns this party's arrival index in `0..parties` (the last to arrive
    /// gets `parties - 1`).
    pub fn wait(&self) -> Result<u32, BarrierError> {
        self.wait_until(Deadline::Never)
    }

    /// As [`Barrier::wait`], giving up after `timeout` (never earlier), which breaks the barrier for
    /// everyone.
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BarrierError> {
        self.wait_until(Deadline::after::<W::Clock>(timeout))
    }

    /// As [`Barrier::wait`], giving up at `deadline` (which breaks the barrier).
    ///
    /// Returns by `deadline` plus [`crate::sync::condition::RELOCK_GRACE`] whatever other processes
    /// do (see the module docs).
    pub fn wait_until(&self, deadline: Deadline) -> Result<u32, BarrierError> {
        let lock_by = relock_deadline::<W>(deadline);
        let (idx, gen) = match self.arrive(deadline)? {
            Arrival::Tripped(idx) => return Ok(idx),
            Arrival::Wait { index, epoch } => (index, epoch),
        };
        loop {
            let r = W::wait(&self.body.gen, gen, deadline);
            if let Some(done) = self.outcome(gen, idx) {
                return done;
            }
            if r.is_err() {
                // Timed out: break the barrier for everyone, unless it tripped meanwhile.
                let res = self.locked(lock_by, |b| {
                    // Ordering: Relaxed under the lock.
                    if b.gen.load(Ordering::Relaxed) == gen {
                        b.count.store(0, Ordering::Relaxed);
                        // Ordering: Release pairs with waiters' Acquire loads.
                        b.gen.store(gen | BROKEN, Ordering::Release);
                        W::wake_all(&b.gen);
                    }
                });
                if res.is_none() {
                    self.break_unlocked(gen);
                }
                return self.outcome(gen, idx).unwrap_or(Err(BarrierError::Broken));
            }
        }
    }

    /// The first half of [`Self::wait_until`], for a waiter that does not park a thread (the host's
    /// `Barrier::wait_async`): arrives (taking the internal lock by `deadline` plus
    /// [`crate::sync::condition::RELOCK_GRACE`]) and either trips the barrier or says which epoch to
    /// wait out: wait while [`Self::gen_word`] holds `epoch` (every end of an epoch wakes all), then
    /// ask [`Self::outcome`].
    ///
    /// ```
    /// use ringfork_core::sync::barrier::{Arrival, Barrier};
    /// use ringfork_core::{wait::DefaultWait, Deadline, Region};
    /// #[repr(C, align(128))]
    /// struct Buf([u8; 128]);
    /// let mut buf = Buf([0; 128]);
    /// let b = Barrier::<DefaultWait>::init(Region::from_mut(&mut buf.0), 2).unwrap();
    /// let Arrival::Wait { index, epoch } = b.arrive(Deadline::Never).unwrap() else { panic!() };
    /// assert_eq!((index, b.outcome(epoch, index)), (0, None)); // still waiting
    /// assert_eq!(b.arrive(Deadline::Never).unwrap(), Arrival::Tripped(1));
    /// assert_ne!(b.gen_word().load(ringfork_core::atomic::Ordering::Acquire), epoch);
    /// assert_eq!(b.outcome(epoch, index), Some(Ok(0)));
    /// ```
    pub fn arrive(&self, deadline: Deadline) -> Result<Arrival, BarrierError> {
        let parties = self.parties;
        let lock_by = relock_deadline::<W>(deadline);
        let arrived = self.locked(lock_by, |b| {
            // Ordering: Relaxed: all three words are written under the lock we hold.
            let gen = b.gen.load(Ordering::Relaxed);
            if gen & BROKEN != 0 {
                return Err(BarrierError::Broken);
            }
            let idx = b.count.load(Ordering::Relaxed);
            if idx >= parties {
                // Corrupted counter: break rather than hand out an index out of range.
                b.gen.store(gen | BROKEN, Ordering::Release);
                W::wake_all(&b.gen);
                return Err(BarrierError::Broken);
            }
            if idx + 1 == parties {
                // Ordering: Relaxed (count) / Relaxed (last_trip) are published by the Release store
                // of the new gen, which waiters load with Acquire.
                b.count.store(0, Ordering::Relaxed);
                b.last_trip.store(gen >> 1, Ordering::Relaxed);
                b.gen.store(gen.wrapping_add(2) & !BROKEN, Ordering::Release);
                W::wake_all(&b.gen);
                return Ok(Arrival::Tripped(idx));
            }
            // Ordering: Relaxed under the lock.
            b.count.store(idx + 1, Ordering::Relaxed);
            Ok(Arrival::Wait { index: idx, epoch: gen })
        });
        match arrived {
            None => {
                // The lock is unusable, or held past our deadline: break what we can without it.
                // Ordering: Acquire, as in `outcome`.
                let gen = self.body.gen.load(Ordering::Acquire);
                self.break_unlocked(gen);
                Err(BarrierError::Broken)
            }
            Some(r) => r,
        }
    }

    /// The futex word every end of an epoch (trip, break, reset) changes and wakes all on.
    pub fn gen_word(&self) -> &'a AtomicU32 {
        &self.body.gen
    }

    /// Marks epoch `gen` broken without the lock (which is held past our deadline, or unusable):
    /// a CAS, so a trip or reset that already ended the epoch is left alone. Best effort, see the
    /// module docs.
    fn break_unlocked(&self, gen: u32) {
        if gen & BROKEN != 0 {
            return;
        }
        // Ordering: Release pairs with waiters' Acquire loads of gen (nothing of ours to publish,
        // but the mark must not be reordered before our reads).
        if self
            .body
            .gen
            .compare_exchange(gen, gen | BROKEN, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            W::wake_all(&self.body.gen);
        }
    }

    /// What happened to a waiter of epoch `gen` that arrived as `idx`, if its epoch is over
    /// (`Ok(idx)`: it tripped; `Err(Broken)`: broken or reset).
    pub fn outcome(&self, gen: u32, idx: u32) -> Option<Result<u32, BarrierError>> {
        // Ordering: Acquire pairs with the Release store of gen, making last_trip visible.
        let cur = self.body.gen.load(Ordering::Acquire);
        if cur == gen {
            return None;
        }
        if cur >> 1 != gen >> 1 {
            // Ordering: Relaxed: ordered by the Acquire load above.
            if self.body.last_trip.load(Ordering::Relaxed) == gen >> 1 {
                return Some(Ok(idx));
            }
        }
        Some(Err(BarrierError::Broken))
    }

    /// Breaks the barrier: current and future waiters get [`BarrierError::Broken`] until
    /// [`Barrier::reset`].
    pub fn abort(&self) {
        let _ = self.locked(Deadline::Never, |b| {
            // Ordering: Relaxed under the lock; Release publishes to waiters.
            let gen = b.gen.load(Ordering::Relaxed);
            b.count.store(0, Ordering::Relaxed);
            b.gen.store(gen | BROKEN, Ordering::Release);
            W::wake_all(&b.gen);
        });
    }

    /// Returns the barrier to its initial state; parties waiting now get [`BarrierError::Broken`].
    pub fn reset(&self) {
        let _ = self.locked(Deadline::Never, |b| {
            // Ordering: Relaxed under the lock; Release publishes to waiters.
            let gen = b.gen.load(Ordering::Relaxed);
            b.count.store(0, Ordering::Relaxed);
            b.gen
                .store(((gen >> 1).wrapping_add(1) << 1) & !BROKEN, Ordering::Release);
            W::wake_all(&b.gen);
        });
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Instant;

    #[repr(C, align(128))]
    struct Buf([u8; 128]);

    /// Runs `f` while another (live) thread holds the barrier's internal lock and sleeps on it.
    #[cfg(feature = "futex")]
    fn with_lock_held_by_a_stuck_thread(b: &Barrier<'_, DefaultWait>, f: impl FnOnce()) {
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            s.spawn(move || {
                assert_eq!(
                    b.body.lock.lock::<DefaultWait>(Deadline::Never),
                    Ok(LockOutcome::Acquired)
                );
                held_tx.send(()).unwrap();
                let _ = go_rx.recv_timeout(Duration::from_secs(60));
                b.body.lock.unlock::<DefaultWait>().unwrap();
            });
            held_rx.recv().unwrap();
            f();
            go_tx.send(()).unwrap();
        });
    }

    #[cfg(feature = "futex")]
    fn assert_bounded(start: Instant, timeout: Duration) {
        let el = start.elapsed();
        assert!(el >= timeout && el < Duration::from_secs(2), "{el:?}");
    }

    /// Issue 15 item 9: the internal lock held by a live-but-stuck party at arrival.
    #[cfg(feature = "futex")]
    #[test]
    fn wait_timeout_returns_when_the_lock_is_held_at_arrival() {
        let mut buf = Buf([0; 128]);
        let b = Barrier::<DefaultWait>::init(Region::from_mut(&mut buf.0), 2).unwrap();
        with_lock_held_by_a_stuck_thread(&b, || {
            let start = Instant::now();
            assert_eq!(b.wait_timeout(Duration::from_millis(50)), Err(BarrierError::Broken));
            assert_bounded(start, Duration::from_millis(50));
        });
        assert!(b.broken(), "the timeout broke the barrier for everyone");
    }

    /// Issue 15 item 9: the internal lock taken by a stuck party while we wait; breaking the barrier
    /// at our deadline must not wait for it.
    #[cfg(feature = "futex")]
    #[test]
    fn wait_timeout_returns_when_the_lock_is_held_at_the_deadline() {
        let mut buf = Buf([0; 128]);
        let b = Barrier::<DefaultWait>::init(Region::from_mut(&mut buf.0), 2).unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let start = Instant::now();
                // Long enough for the stuck thread below to take the lock before the deadline.
                let r = b.wait_timeout(Duration::from_secs(1));
                (r, start.elapsed())
            });
            let start = Instant::now();
            while b.n_waiting() < 1 {
                assert!(start.elapsed() < Duration::from_secs(10));
                std::thread::yield_now();
            }
            with_lock_held_by_a_stuck_thread(&b, || {
                let (r, el) = waiter.join().unwrap();
                assert_eq!(r, Err(BarrierError::Broken));
                assert!(el >= Duration::from_secs(1) && el < Duration::from_secs(3), "{el:?}");
            });
        });
        assert!(b.broken());
        b.reset();
        assert!(!b.broken());
    }
}
