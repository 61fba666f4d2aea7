//! [`Condition`]: a condition variable with its own robust mutex and protected data `T` (Python's
//! `multiprocessing.Condition`; use `T = ()` for the data-less Python shape).
//!
//! # Layout (align `max(8, align_of::<T>())`)
//!
//! | offset                          | size            | field      | written by                     |
//! |--------------------------------:|----------------:|------------|--------------------------------|
//! | 0                               | 64              | header     | initializer (kind `Condition`, elem = `T`) |
//! | 64                              | 16              | lock       | [`RawMutex`] protocol          |
//! | 80                              | 4               | `seq`      | notifiers (+1); futex word     |
//! | 84                              | 4               | `sleepers` | waiters (+1 before parking, −1 after) |
//! | `align_up(88, max(8, align_of::<T>()))` | `size_of::<T>()` | data | the lock holder          |
//!
//! The two condition words are a [`RawCondvar`], embeddable on its own next to a [`RawMutex`].
//!
//! # Algorithm (sequence-number futex)
//! A waiter, holding the lock, reads `seq`, announces itself in `sleepers`, unlocks, and parks while
//! `seq` is unchanged. A notifier increments `seq` and, if `sleepers` is non-zero, wakes one (or all).
//! The state change a notifier announces is made under the lock, before the notify; so either the
//! waiter saw it before waiting (it re-checks its predicate under the lock) or the notify's increment
//! comes after the waiter's read of `seq` and the park returns at once. No wake-up is lost. Like every
//! condition variable, a wait may return spuriously (and `notify_one` may wake more than one waiter):
//! wait in a loop, or use [`CondGuard::wait_while`].
//!
//! # Owner death
//! Re-acquiring the mutex after a wait can find its owner dead: then the wait returns
//! `Err(MutexError::OwnerDied(guard))`, exactly like [`crate::sync::mutex::Mutex::lock`].
//!
//! # Deadlines are deadlines
//! A timed wait re-takes the mutex with a deadline too: its own deadline plus [`RELOCK_GRACE`].
//! If another process holds the mutex past that (stuck, stopped, or a scribbled word naming a live
//! thread), the wait returns `Err(MutexError::TimedOut)` **without the lock** instead of blocking
//! (Python's `Condition.wait(timeout)` would block to re-acquire; there is no guard to hand back,
//! so the error owns none). An untimed wait re-takes the mutex without a deadline, as Python does.

use crate::atomic::{AtomicU32, Ordering};
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams};
use crate::region::{align_up, Region};
use crate::sync::mutex::{
    check_align, data_align, lock_at, LockResult, MutexError, MutexGuard, LOCK_OFFSET, LOCK_SIZE,
};
use crate::sync::raw_mutex::{LockError, LockOutcome, RawMutex};
use crate::time::Deadline;
use crate::wait::{DefaultWait, Wait};
use crate::ShmSafe;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::time::Duration;

const SEQ_OFFSET: usize = LOCK_OFFSET + LOCK_SIZE;

/// How long past its deadline a timed wait may spend re-taking the mutex before it gives up with
/// `TimedOut` (not holding the lock). One owner-probe slice: long enough for a lock held for a
/// moment by a notifier, or held by a dead owner (probed at expiry), to be taken.
pub const RELOCK_GRACE: Duration = crate::sync::raw_mutex::PROBE_SLICE;

/// The deadline for re-taking a lock after a wait (or an internal lock of a timed call) that must
/// end by `deadline`: unbounded for an unbounded wait, else `deadline` plus [`RELOCK_GRACE`].
pub(crate) fn relock_deadline<W: Wait>(deadline: Deadline) -> Deadline {
    match deadline {
        Deadline::Never => Deadline::Never,
        Deadline::Immediate => Deadline::after::<W::Clock>(RELOCK_GRACE),
        Deadline::At(t) => Deadline::At(t.saturating_add(RELOCK_GRACE)),
    }
}

fn data_offset<T>() -> usize {
    align_up(SEQ_OFFSET + 8, data_align::<T>()).unwrap_or(usize::MAX)
}

/// An embeddable condition-variable state (8 bytes, align 4; no header): the two words at offset 80
/// of a [`Condition`], for objects that embed a [`RawMutex`] in their own layout (queues wait for
/// "not empty" / "not full" with one of these each).
///
/// | offset | size | field      | written by                               |
/// |-------:|-----:|------------|------------------------------------------|
/// | 0      | 4    | `seq`      | notifiers (+1); futex word               |
/// | 4      | 4    | `sleepers` | waiters (+1 before parking, −1 after)    |
///
/// Zeroed memory is a valid `RawCondvar`. See the module docs for why no wake-up is lost.
///
/// ```
/// use ringfork_core::atomic::{AtomicBool, Ordering::Relaxed};
/// use ringfork_core::sync::{condition::RawCondvar, raw_mutex::RawMutex};
/// use ringfork_core::{wait::DefaultWait, Deadline};
/// let (m, cv, ready) = (RawMutex::new(), RawCondvar::new(), AtomicBool::new(false));
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         let _guard = m.lock_guard::<DefaultWait>(Deadline::Never).unwrap();
///         ready.store(true, Relaxed);
///         cv.notify_all::<DefaultWait>();
///     });
///     let _guard = m.lock_guard::<DefaultWait>(Deadline::Never).unwrap();
///     while !ready.load(Relaxed) {
///         // Releases `m` while it sleeps, holds it again when it returns.
///         let (_outcome, timed_out) = cv.wait_until::<DefaultWait>(&m, Deadline::Never).unwrap();
///         assert!(!timed_out);
///     }
/// });
/// ```
#[repr(C)]
pub struct RawCondvar {
    seq: AtomicU32,
    sleepers: AtomicU32,
}

#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<RawCondvar>() == 8);

impl fmt::Debug for RawCondvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawCondvar")
            .field("seq", &self.seq.load(Ordering::SeqCst))
            .field("sleepers", &self.sleepers.load(Ordering::SeqCst))
            .finish()
    }
}

impl Default for RawCondvar {
    fn default() -> Self {
        Self::new()
    }
}

impl RawCondvar {
    /// A condition variable with no waiters.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawCondvar {
            seq: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }
    }

    /// A condition variable with no waiters.
    #[cfg(loom)]
    pub fn new() -> Self {
        RawCondvar {
            seq: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }
    }

    /// Re-initializes in place (only inside an embedding object's init, before it is published).
    pub fn init(&self) {
        // Ordering: Relaxed: published by the embedding object's Release store of READY.
        self.seq.store(0, Ordering::Relaxed);
        self.sleepers.store(0, Ordering::Relaxed);
    }

    /// Atomically releases `mutex` (which the caller holds), waits for a notify (or a spurious
    /// wake-up, or `deadline`), and re-locks `mutex` (until `deadline` plus [`RELOCK_GRACE`]; with
    /// no deadline, as long as it takes, as Python does). Returns the re-lock's outcome (`OwnerDied`
    /// if the mutex's owner died meanwhile) and whether the wait timed out. Errors are the re-lock's:
    /// `NotRecoverable`, or `TimedOut` — then the caller does **not** hold `mutex`.
    ///
    /// If the caller still holds `mutex` inconsistent (after `OwnerDied`, before `mark_consistent`),
    /// the release makes it NOT_RECOVERABLE.
    pub fn wait_until<W: Wait>(&self, mutex: &RawMutex, deadline: Deadline) -> Result<(LockOutcome, bool), LockError> {
        // Ordering: SeqCst, with the notifier's SeqCst increment and `sleepers` handshake.
        let seq = self.seq.load(Ordering::SeqCst);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        // Not the owner (a caller bug) leaves the mutex alone; we still wait and then lock it.
        let _ = mutex.unlock::<W>();
        let r = W::wait(&self.seq, seq, deadline);
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        let outcome = mutex.lock::<W>(relock_deadline::<W>(deadline))?;
        Ok((outcome, r.is_err()))
    }

    /// Wakes up to `n` waiters (`u32::MAX`: all). Waiters must re-check their predicate: more may
    /// wake than asked.
    pub fn notify<W: Wait>(&self, n: u32) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        if n > 0 && self.sleepers.load(Ordering::SeqCst) > 0 {
            if n == u32::MAX {
                W::wake_all(&self.seq);
            } else {
                W::wake(&self.seq, n);
            }
        }
    }

    /// Wakes one waiter (possibly more).
    pub fn notify_one<W: Wait>(&self) {
        self.notify::<W>(1)
    }

    /// Wakes every waiter.
    pub fn notify_all<W: Wait>(&self) {
        self.notify::<W>(u32::MAX)
    }
}

/// A condition variable with a robust mutex and data `T`, in shared memory. A view: `Copy`.
///
/// Waiting and notifying are methods of the guard ([`CondGuard`]), so neither can be done without
/// holding the lock (Python raises `RuntimeError` for both).
///
/// ```
/// use ringfork_core::sync::condition::Condition;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 256]);
/// let mut buf = Buf([0; 256]);
/// let c = Condition::<u32, DefaultWait>::init(Region::from_mut(&mut buf.0), 0).unwrap();
/// let g = c.lock().unwrap();
/// let (g, timed_out) = g.wait_timeout(std::time::Duration::from_millis(5)).unwrap();
/// assert!(timed_out && *g == 0);
/// ```
pub struct Condition<'a, T: ShmSafe, W: Wait = DefaultWait> {
    header: &'a Header,
    raw: &'a RawMutex,
    words: &'a RawCondvar,
    data: *mut T,
    _p: crate::sync::mutex::Marker<'a, T, W>,
}

impl<T: ShmSafe, W: Wait> Clone for Condition<'_, T, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ShmSafe, W: Wait> Copy for Condition<'_, T, W> {}
// SAFETY: data reached only through a guard (lock held); the rest is atomics.
unsafe impl<T: ShmSafe, W: Wait> Send for Condition<'_, T, W> {}
// SAFETY: as for Send.
unsafe impl<T: ShmSafe, W: Wait> Sync for Condition<'_, T, W> {}

impl<T: ShmSafe, W: Wait> fmt::Debug for Condition<'_, T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition").field("lock", self.raw).finish()
    }
}

fn words_at(region: Region<'_>) -> &RawCondvar {
    // SAFETY: callers validated that the region holds at least data_offset::<T>() >= 88 bytes and is
    // 8-aligned; RawCondvar is two atomics (any bytes valid, no data race).
    unsafe { &*(region.as_ptr().add(SEQ_OFFSET) as *const RawCondvar) }
}

impl<'a, T: ShmSafe, W: Wait> Condition<'a, T, W> {
    /// Bytes a `Condition<T>` needs.
    pub fn size() -> usize {
        data_offset::<T>().saturating_add(core::mem::size_of::<T>())
    }

    /// Alignment a `Condition<T>` needs.
    pub fn align() -> usize {
        data_align::<T>()
    }

    /// Creates a condition with data `value` at the start of `region`.
    pub fn init(region: Region<'a>, value: T) -> Result<Self, InitError> {
        let params = ObjectParams::new(Kind::Condition, Self::size() as u64).with_elem::<T>();
        let claim = Header::claim(region, &params, Self::align())?;
        let raw = lock_at(region);
        raw.init();
        let words = words_at(region);
        // Ordering: Relaxed: published by the header's Release store of READY.
        words.seq.store(0, Ordering::Relaxed);
        words.sleepers.store(0, Ordering::Relaxed);
        let data = region.as_ptr().wrapping_add(data_offset::<T>()) as *mut T;
        // SAFETY: the claim checked size and alignment; we own the body until publish.
        unsafe { data.write_volatile(value) };
        Ok(Condition {
            header: claim.publish::<W>(),
            raw,
            words,
            data,
            _p: PhantomData,
        })
    }

    /// Attaches to the condition at the start of `region`.
    pub fn attach(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let header = Header::attach::<W>(region, Kind::Condition, deadline)?;
        header.expect_elem::<T>()?;
        Header::expect("size", Self::size() as u64, header.size())?;
        check_align(region, Self::align())?;
        Ok(Condition {
            header,
            raw: lock_at(region),
            words: words_at(region),
            data: region.as_ptr().wrapping_add(data_offset::<T>()) as *mut T,
            _p: PhantomData,
        })
    }

    fn wrap(&self, r: LockResult<MutexGuard<'a, T, W>>) -> LockResult<CondGuard<'a, T, W>> {
        let words = self.words;
        r.map(|g| CondGuard { inner: g, words })
            .map_err(|e| e.map(|g| CondGuard { inner: g, words }))
    }

    /// Locks the condition's mutex.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<CondGuard<'a, T, W>> {
        self.lock_until(Deadline::Never)
    }

    /// Locks if free now.
    pub fn try_lock(&self) -> LockResult<CondGuard<'a, T, W>> {
        self.lock_until(Deadline::Immediate)
    }

    /// Locks, giving up after `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<CondGuard<'a, T, W>> {
        self.lock_until(Deadline::after::<W::Clock>(timeout))
    }

    /// Locks, giving up at `deadline`.
    pub fn lock_until(&self, deadline: Deadline) -> LockResult<CondGuard<'a, T, W>> {
        // SAFETY: `data` is the validated, aligned ShmSafe slot this lock protects, valid for 'a.
        self.wrap(unsafe { MutexGuard::acquire(self.raw, self.data, deadline) })
    }

    /// The embedded lock.
    pub fn raw(&self) -> &'a RawMutex {
        self.raw
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }
}

fn notify<W: Wait>(words: &RawCondvar, n: u32) {
    words.notify::<W>(n)
}

/// The condition's mutex, held; derefs to the data. Waiting consumes and returns it.
///
/// ```
/// use ringfork_core::sync::condition::Condition;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 256]);
/// let mut buf = Buf([0; 256]);
/// let c = Condition::<u32, DefaultWait>::init(Region::from_mut(&mut buf.0), 0).unwrap();
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         let mut g = c.lock().unwrap();
///         *g = 1;
///         g.notify_all();
///     });
///     // Releases the lock while it sleeps; holds it again when it returns.
///     let g = c.lock().unwrap().wait_while(|ready| *ready == 0).unwrap();
///     assert_eq!(*g, 1);
/// });
/// ```
#[must_use = "dropping the guard unlocks at once"]
pub struct CondGuard<'a, T: ShmSafe, W: Wait = DefaultWait> {
    inner: MutexGuard<'a, T, W>,
    words: &'a RawCondvar,
}

impl<T: ShmSafe + fmt::Debug, W: Wait> fmt::Debug for CondGuard<'_, T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<T: ShmSafe, W: Wait> Deref for CondGuard<'_, T, W> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ShmSafe, W: Wait> DerefMut for CondGuard<'_, T, W> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<'a, T: ShmSafe, W: Wait> CondGuard<'a, T, W> {
    /// Whether the mutex was taken over from a dead owner and not yet marked consistent.
    pub fn owner_died(&self) -> bool {
        self.inner.owner_died()
    }

    /// Declares the data repaired (see [`MutexGuard::mark_consistent`]).
    pub fn mark_consistent(&mut self) {
        self.inner.mark_consistent()
    }

    /// Unlocks, waits for a notify (or a spurious wake-up), and re-locks.
    pub fn wait(self) -> LockResult<Self> {
        self.wait_until(Deadline::Never).map(|(g, _)| g)
    }

    /// As [`CondGuard::wait`], giving up after `timeout` (never earlier); the `bool` is `true` if it
    /// timed out (Python's `wait(timeout)` returning `False`).
    ///
    /// Returns within `timeout` plus [`RELOCK_GRACE`] whatever other processes do: if the lock
    /// cannot be re-taken by then (another process holds it and does not let go), the result is
    /// `Err(MutexError::TimedOut)` and the lock is **not** held (see the module docs).
    pub fn wait_timeout(self, timeout: Duration) -> Result<(Self, bool), MutexError<Self>> {
        self.wait_until(Deadline::after::<W::Clock>(timeout))
    }

    /// As [`CondGuard::wait`], giving up at `deadline`; the `bool` is `true` if it timed out.
    /// `Err(MutexError::TimedOut)`: the lock could not be re-taken by `deadline` plus
    /// [`RELOCK_GRACE`], and is not held.
    pub fn wait_until(self, deadline: Deadline) -> Result<(Self, bool), MutexError<Self>> {
        let words = self.words;
        let (raw, data, _inconsistent) = self.inner.into_raw_parts();
        let wrap = |g| CondGuard { inner: g, words };
        match words.wait_until::<W>(raw, deadline) {
            Ok((outcome, timed_out)) => {
                // SAFETY: `data` came from a guard of this very lock, which we hold again.
                let g = unsafe { MutexGuard::<T, W>::new(raw, data, outcome) };
                if outcome.owner_died() {
                    Err(MutexError::OwnerDied(wrap(g)))
                } else {
                    Ok((wrap(g), timed_out))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Waits while `condition` holds (Python's `wait_for(lambda: not condition)`).
    #[doc(alias = "wait_for")]
    pub fn wait_while(self, mut condition: impl FnMut(&mut T) -> bool) -> LockResult<Self> {
        let mut g = self;
        while condition(&mut g) {
            g = g.wait()?;
        }
        Ok(g)
    }

    /// Waits while `condition` holds, giving up after `timeout`; the `bool` is `true` if it timed
    /// out with the condition still holding. Bounded like [`CondGuard::wait_timeout`]
    /// (`Err(MutexError::TimedOut)`: the lock could not be re-taken in time and is not held).
    pub fn wait_timeout_while(
        self,
        timeout: Duration,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> Result<(Self, bool), MutexError<Self>> {
        let deadline = Deadline::after::<W::Clock>(timeout);
        let mut g = self;
        while condition(&mut g) {
            let (ng, timed_out) = g.wait_until(deadline)?;
            g = ng;
            if timed_out {
                let still = condition(&mut g);
                return Ok((g, still));
            }
        }
        Ok((g, false))
    }

    /// Wakes one waiter (possibly more: waiters must re-check their predicate).
    ///
    /// Notifying is a method of the guard, so it cannot be called without holding the condition's
    /// lock (Python raises `RuntimeError` for that).
    #[doc(alias = "notify")]
    pub fn notify_one(&self) {
        notify::<W>(self.words, 1);
    }

    /// Wakes up to `n` waiters (Python's `notify(n)`; possibly more).
    pub fn notify(&self, n: u32) {
        notify::<W>(self.words, n);
    }

    /// Wakes every waiter.
    #[doc(alias = "notifyAll")]
    pub fn notify_all(&self) {
        notify::<W>(self.words, u32::MAX);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    type W = crate::wait::Spin<spin::relax::Loop, crate::time::NoClock>;

    struct Shared {
        raw: RawMutex,
        words: RawCondvar,
        data: core::cell::UnsafeCell<u32>,
    }
    // SAFETY (test): `data` is only touched under `raw`.
    unsafe impl Sync for Shared {}
    // SAFETY (test): as above.
    unsafe impl Send for Shared {}

    fn lock(s: &Shared) -> CondGuard<'_, u32, W> {
        // SAFETY: `data` is protected by `raw` and lives as long as `s`.
        let g = unsafe { MutexGuard::<u32, W>::acquire(&s.raw, s.data.get(), Deadline::Never) };
        CondGuard {
            inner: g.ok().expect("no owner dies in this model"),
            words: &s.words,
        }
    }

    /// A waiter that checks its predicate under the lock never sleeps through the notify.
    #[test]
    fn loom_condition_no_lost_wakeup() {
        loom::model(|| {
            let s = Arc::new(Shared {
                raw: RawMutex::new(),
                words: RawCondvar {
                    seq: AtomicU32::new(0),
                    sleepers: AtomicU32::new(0),
                },
                data: core::cell::UnsafeCell::new(0),
            });
            let s2 = s.clone();
            let t = loom::thread::spawn(move || {
                let mut g = lock(&s2);
                *g = 1;
                drop(g);
                notify::<W>(&s2.words, 1);
            });
            let g = lock(&s);
            let g = g.wait_while(|v| *v == 0).ok().expect("no owner dies");
            assert_eq!(*g, 1);
            drop(g);
            t.join().unwrap();
        });
    }
}
