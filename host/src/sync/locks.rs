//! Host handles for the locks: [`Mutex`] / [`Lock`], [`RLock`], [`SpinLock`].

use super::{anon, create, open};
use super::{guarded, LockResult};
use crate::segment::{Segment, SegmentError};
use ringfork_core::sync::{self as core_sync, LockError, LockOutcome, MutexGuard, SpinGuard, UnlockError};
use ringfork_core::{Kind, ShmSafe};
use std::fmt;
use std::time::Duration;

/// A robust process-shared mutex protecting a `T` (Python's `Lock` when `T = ()`: see [`Lock`]).
///
/// `lock()` returns the guard; if the previous owner died holding it, the guard's `owner_died()` is
/// true: repair the data through the guard and call `mark_consistent()` (dropping it unrepaired makes
/// the mutex unusable for everyone, as with POSIX robust mutexes). Errors are `'static`, so `?` works.
///
/// ```
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let m = ringfork::Mutex::new(0u64)?;
///     let m2 = m.clone(); // what a child process would get
///     *m2.lock()? += 5;
///     let mut g = m.lock()?;
///     if g.owner_died() {
///         *g = 0; // repair, then declare it consistent
///         g.mark_consistent();
///     }
///     assert_eq!(*g, 5);
///     Ok(())
/// }
/// ```
pub struct Mutex<T: ShmSafe> {
    inner: core_sync::Mutex<'static, T>,
    seg: Segment,
}

/// Python's `multiprocessing.Lock`: a [`Mutex`] with no data. `acquire`/`release` are `lock()` and
/// dropping the guard.
///
/// ```
/// let lock = ringfork::Lock::new(())?;
/// {
///     let _g = lock.lock().unwrap(); // `with lock:`
///     assert!(lock.try_lock().is_err());
/// }
/// assert!(lock.try_lock().is_ok());
/// # Ok::<(), ringfork::SegmentError>(())
/// ```
pub type Lock = Mutex<()>;

impl<T: ShmSafe> Clone for Mutex<T> {
    fn clone(&self) -> Self {
        Mutex {
            inner: self.inner,
            seg: self.seg.clone(),
        }
    }
}

impl<T: ShmSafe> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<T: ShmSafe> Mutex<T> {
    /// A mutex holding `value` in a new anonymous segment.
    pub fn new(value: T) -> Result<Self, SegmentError> {
        let seg = anon(core_sync::Mutex::<T>::size(), core_sync::Mutex::<T>::align())?;
        Self::new_in(&seg, "mutex", value)
    }

    crate::handle::open_or_create!(value: T);

    /// A mutex holding `value`, placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, value: T) -> Result<Self, SegmentError> {
        let (size, align) = (core_sync::Mutex::<T>::size(), core_sync::Mutex::<T>::align());
        let inner = create(seg, Kind::Mutex, name, size, align, |r| {
            core_sync::Mutex::init(r, value)
        })?;
        Ok(Mutex {
            inner,
            seg: seg.clone(),
        })
    }

    /// Attaches to the mutex `name` in `seg` (kind and `T` validated).
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        let inner = open(seg, name, core_sync::Mutex::attach)?;
        Ok(Mutex {
            inner,
            seg: seg.clone(),
        })
    }

    /// Locks, waiting as long as it takes.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        guarded(self.inner.lock())
    }

    /// Locks if free now (`Err(LockError::TimedOut)` if held). Python's `acquire(block=False)`.
    #[doc(alias = "acquire")]
    pub fn try_lock(&self) -> LockResult<MutexGuard<'_, T>> {
        guarded(self.inner.try_lock())
    }

    /// Locks, giving up after `timeout` (never earlier). Python's `acquire(timeout=..)`.
    #[doc(alias = "acquire")]
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<MutexGuard<'_, T>> {
        guarded(self.inner.lock_timeout(timeout))
    }

    /// Whether someone holds it now (stale at once).
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// The thread id (for a single-threaded process, its pid) of the holder, if locked: a snapshot,
    /// stale at once (diagnostics, or choosing which process to signal).
    pub fn owner(&self) -> Option<u32> {
        self.inner.raw().owner_tid()
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }

    /// The lock word (for `crate::aio`).
    #[cfg(feature = "async")]
    pub(crate) fn lock_word(&self) -> &'static ringfork_core::atomic::AtomicU32 {
        self.inner.raw().word()
    }
}

/// A reentrant robust lock (Python's `multiprocessing.RLock`).
///
/// ```
/// let l = ringfork::RLock::new()?;
/// l.acquire().unwrap();
/// l.acquire().unwrap();
/// l.release().unwrap();
/// l.release().unwrap();
/// assert!(l.release().is_err());
/// # Ok::<(), ringfork::SegmentError>(())
/// ```
#[derive(Clone)]
pub struct RLock {
    inner: core_sync::RLock<'static>,
    seg: Segment,
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl RLock {
    /// An RLock in a new anonymous segment.
    pub fn new() -> Result<Self, SegmentError> {
        let seg = anon(<core_sync::RLock<'static>>::SIZE, <core_sync::RLock<'static>>::ALIGN)?;
        Self::new_in(&seg, "rlock")
    }

    crate::handle::open_or_create!();

    /// An RLock placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        let inner = create(
            seg,
            Kind::RLock,
            name,
            <core_sync::RLock<'static>>::SIZE,
            8,
            core_sync::RLock::init,
        )?;
        Ok(RLock {
            inner,
            seg: seg.clone(),
        })
    }

    /// Attaches to the RLock `name` in `seg`.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        let inner = open(seg, name, core_sync::RLock::attach)?;
        Ok(RLock {
            inner,
            seg: seg.clone(),
        })
    }

    /// Acquires (again, if held by the caller). `Ok(LockOutcome::OwnerDied)`: the previous owner
    /// died holding it; call [`RLock::mark_consistent`] before the last release.
    pub fn acquire(&self) -> Result<LockOutcome, LockError> {
        self.inner.acquire()
    }

    /// Acquires if free or held by the caller. Python's `acquire(block=False)`.
    #[doc(alias = "acquire")]
    pub fn try_acquire(&self) -> Result<LockOutcome, LockError> {
        self.inner.try_acquire()
    }

    /// Acquires, giving up after `timeout`.
    #[doc(alias = "acquire")]
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockOutcome, LockError> {
        self.inner.acquire_timeout(timeout)
    }

    /// Releases one level; errors if the caller does not hold it (Python's `RuntimeError`).
    pub fn release(&self) -> Result<(), UnlockError> {
        self.inner.release()
    }

    /// Declares the state repaired after an `OwnerDied` acquire.
    pub fn mark_consistent(&self) -> Result<(), UnlockError> {
        self.inner.mark_consistent()
    }

    /// The caller's recursion depth.
    pub fn depth(&self) -> u32 {
        self.inner.depth()
    }

    /// Whether the caller holds it.
    pub fn is_owned(&self) -> bool {
        self.inner.is_owned()
    }

    /// The thread id (for a single-threaded process, its pid) of the holder, if locked: a snapshot,
    /// stale at once (diagnostics, or choosing which process to signal).
    pub fn owner(&self) -> Option<u32> {
        self.inner.raw().owner_tid()
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}

/// A pure spin lock protecting a `T`: no OS, not robust, not fair (see
/// [`ringfork_core::sync::spinlock`]). For measurements and one-process-per-core setups.
///
/// ```
/// use ringfork::{sync::LockError, Process, SpinLock};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let total = SpinLock::new(0u64)?;
///     let total2 = total.clone();
///     let mut p = Process::new(move || (0..1000).for_each(|_| *total2.lock() += 1));
///     p.start()?;
///     (0..1000).for_each(|_| *total.lock() += 1);
///     p.join()?;
///     let g = total.lock();
///     assert_eq!(*g, 2000);
///     assert!(matches!(total.try_lock(), Err(LockError::TimedOut))); // held (and not re-entrant)
///     Ok(())
/// }
/// ```
pub struct SpinLock<T: ShmSafe> {
    inner: core_sync::SpinLock<'static, T>,
    seg: Segment,
}

impl<T: ShmSafe> Clone for SpinLock<T> {
    fn clone(&self) -> Self {
        SpinLock {
            inner: self.inner,
            seg: self.seg.clone(),
        }
    }
}

impl<T: ShmSafe> fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<T: ShmSafe> SpinLock<T> {
    /// A spin lock holding `value` in a new anonymous segment.
    pub fn new(value: T) -> Result<Self, SegmentError> {
        let seg = anon(core_sync::SpinLock::<T>::size(), core_sync::SpinLock::<T>::align())?;
        Self::new_in(&seg, "spinlock", value)
    }

    crate::handle::open_or_create!(value: T);

    /// A spin lock placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, value: T) -> Result<Self, SegmentError> {
        let (size, align) = (core_sync::SpinLock::<T>::size(), core_sync::SpinLock::<T>::align());
        let inner = create(seg, Kind::SpinLock, name, size, align, |r| {
            core_sync::SpinLock::init(r, value)
        })?;
        Ok(SpinLock {
            inner,
            seg: seg.clone(),
        })
    }

    /// Attaches to the spin lock `name` in `seg`.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        let inner = open(seg, name, core_sync::SpinLock::attach)?;
        Ok(SpinLock {
            inner,
            seg: seg.clone(),
        })
    }

    /// Locks, spinning as long as it takes.
    pub fn lock(&self) -> SpinGuard<'_, T> {
        self.inner.lock()
    }

    /// Locks if free now (`Err(LockError::TimedOut)` if held: the same shape as [`Mutex::try_lock`]).
    pub fn try_lock(&self) -> Result<SpinGuard<'_, T>, LockError> {
        self.inner.try_lock().ok_or(LockError::TimedOut)
    }

    /// Locks, spinning for at most `timeout` (`Err(LockError::TimedOut)` after it).
    pub fn lock_timeout(&self, timeout: Duration) -> Result<SpinGuard<'_, T>, LockError> {
        self.inner
            .lock_until(ringfork_core::Deadline::after::<ringfork_core::wait::DefaultClock>(
                timeout,
            ))
            .ok_or(LockError::TimedOut)
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}
