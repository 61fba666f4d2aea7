//! Host handles for [`Semaphore`], [`BoundedSemaphore`], [`Event`], [`Condition`], [`Barrier`].

use super::{anon, create, open};
use super::{guarded, LockResult};
use crate::segment::{Segment, SegmentError};
use ringfork_core::sync::{self as core_sync, BarrierError, CondGuard, SemaphoreError};
use ringfork_core::{AttachError, Kind, ShmSafe};
use std::fmt;
use std::ops::Deref;
use std::time::Duration;

/// A counting semaphore (Python's `multiprocessing.Semaphore`). A process that dies holding a permit
/// never returns it (as with POSIX semaphores).
///
/// ```
/// let s = ringfork::Semaphore::new(2)?;
/// assert!(s.try_acquire() && s.try_acquire() && !s.try_acquire());
/// s.release().unwrap();
/// assert_eq!(s.get_value(), 1);
/// # Ok::<(), ringfork::SegmentError>(())
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: core_sync::Semaphore<'static>,
    seg: Segment,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

#[cfg(feature = "async")]
impl Semaphore {
    /// The semaphore in shared memory (for `crate::aio`).
    pub(crate) fn core(&self) -> core_sync::Semaphore<'static> {
        self.inner
    }

    /// The segment the semaphore lives in (for `crate::aio`).
    pub(crate) fn seg(&self) -> &Segment {
        &self.seg
    }
}

impl Semaphore {
    /// A semaphore with `value` permits in a new anonymous segment.
    pub fn new(value: u32) -> Result<Self, SegmentError> {
        Self::new_in(&anon(<core_sync::Semaphore<'static>>::SIZE, 8)?, "semaphore", value)
    }

    crate::handle::open_or_create!(value: u32);

    /// A semaphore placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, value: u32) -> Result<Self, SegmentError> {
        Self::make(seg, name, value, false)
    }

    fn make(seg: &Segment, name: &str, value: u32, bounded: bool) -> Result<Self, SegmentError> {
        let inner = create(
            seg,
            Kind::Semaphore,
            name,
            <core_sync::Semaphore<'static>>::SIZE,
            8,
            |r| core_sync::Semaphore::init(r, value, bounded),
        )?;
        Ok(Semaphore {
            inner,
            seg: seg.clone(),
        })
    }

    /// Attaches to the semaphore `name` in `seg` (bounded or not).
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        let inner = open(seg, name, core_sync::Semaphore::attach)?;
        Ok(Semaphore {
            inner,
            seg: seg.clone(),
        })
    }

    /// Takes a permit, waiting as long as it takes.
    pub fn acquire(&self) {
        self.inner.acquire()
    }

    /// Takes a permit if one is free now. Python's `acquire(block=False)`.
    #[doc(alias = "acquire")]
    pub fn try_acquire(&self) -> bool {
        self.inner.try_acquire()
    }

    /// Takes a permit, giving up after `timeout` (never earlier). Python's `acquire(timeout=..)`.
    #[doc(alias = "acquire")]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.inner.acquire_timeout(timeout)
    }

    /// Returns one permit.
    pub fn release(&self) -> Result<(), SemaphoreError> {
        self.inner.release(1)
    }

    /// Returns `n` permits (Python's `release(n)`).
    #[doc(alias = "release")]
    pub fn release_n(&self, n: u32) -> Result<(), SemaphoreError> {
        self.inner.release(n)
    }

    /// The current count (stale at once).
    pub fn get_value(&self) -> u32 {
        self.inner.get_value()
    }

    /// Whether releases are bounded by the initial value.
    pub fn is_bounded(&self) -> bool {
        self.inner.is_bounded()
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}

/// A semaphore whose releases may not exceed its initial value (Python's `BoundedSemaphore`; the
/// `ValueError` is [`SemaphoreError::Overflow`]). Derefs to [`Semaphore`] for the operations.
///
/// ```
/// let s = ringfork::BoundedSemaphore::new(1)?;
/// s.acquire();
/// s.release().unwrap();
/// assert!(s.release().is_err());
/// # Ok::<(), ringfork::SegmentError>(())
/// ```
#[derive(Clone, Debug)]
pub struct BoundedSemaphore(Semaphore);

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits in a new anonymous segment.
    pub fn new(value: u32) -> Result<Self, SegmentError> {
        Self::new_in(&anon(<core_sync::Semaphore<'static>>::SIZE, 8)?, "semaphore", value)
    }

    crate::handle::open_or_create!(value: u32);

    /// A bounded semaphore placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, value: u32) -> Result<Self, SegmentError> {
        Semaphore::make(seg, name, value, true).map(BoundedSemaphore)
    }

    /// Attaches to the bounded semaphore `name` in `seg`; an unbounded one is a layout mismatch.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        let s = Semaphore::open(seg, name)?;
        if !s.is_bounded() {
            return Err(crate::handle::attach_err(
                seg,
                AttachError::LayoutMismatch {
                    field: "flags (bounded)",
                    expected: 1,
                    found: 0,
                },
            ));
        }
        Ok(BoundedSemaphore(s))
    }
}

impl Deref for BoundedSemaphore {
    type Target = Semaphore;
    fn deref(&self) -> &Semaphore {
        &self.0
    }
}

/// An event flag (Python's `multiprocessing.Event`).
///
/// ```
/// let e = ringfork::Event::new()?;
/// assert!(!e.wait_timeout(std::time::Duration::from_millis(1)));
/// e.set();
/// e.wait();
/// # Ok::<(), ringfork::SegmentError>(())
/// ```
#[derive(Clone)]
pub struct Event {
    inner: core_sync::Event<'static>,
    seg: Segment,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl Event {
    /// A cleared event in a new anonymous segment.
    pub fn new() -> Result<Self, SegmentError> {
        Self::new_in(&anon(<core_sync::Event<'static>>::SIZE, 8)?, "event")
    }

    crate::handle::open_or_create!();

    /// A cleared event placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        let inner = create(
            seg,
            Kind::Event,
            name,
            <core_sync::Event<'static>>::SIZE,
            8,
            core_sync::Event::init,
        )?;
        Ok(Event {
            inner,
            seg: seg.clone(),
        })
    }

    /// Attaches to the event `name` in `seg`.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        let inner = open(seg, name, core_sync::Event::attach)?;
        Ok(Event {
            inner,
            seg: seg.clone(),
        })
    }

    /// The event in shared memory (for `crate::aio`).
    #[cfg(feature = "async")]
    pub(crate) fn core(&self) -> core_sync::Event<'static> {
        self.inner
    }

    /// The segment the event lives in (for `crate::aio`).
    #[cfg(feature = "async")]
    pub(crate) fn seg(&self) -> &Segment {
        &self.seg
    }

    /// Sets the flag, waking every waiter.
    pub fn set(&self) {
        self.inner.set()
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.inner.clear()
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.inner.is_set()
    }

    /// Waits until set.
    pub fn wait(&self) {
        self.inner.wait()
    }

    /// Waits until set or `timeout` passes; returns whether it is set (Python's `wait(timeout)`).
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.inner.wait_timeout(timeout)
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}

/// A condition variable with its own robust mutex and data `T` (Python's
/// `multiprocessing.Condition`; `T = ()` for the data-less shape). Waiting and notifying are methods
/// of the guard ([`CondGuard`]): neither can be done without holding the lock, which Python checks at
/// run time (`RuntimeError: cannot notify on un-acquired lock`).
///
/// ```
/// let c = ringfork::Condition::new(0u32)?;
/// let mut g = c.lock().unwrap();
/// *g = 1;
/// g.notify_all();
/// let g = g.wait_while(|v| *v == 0).unwrap(); // already 1: returns at once
/// assert_eq!(*g, 1);
/// # Ok::<(), ringfork::SegmentError>(())
/// ```
///
/// Notifying without the lock does not compile:
///
/// ```compile_fail
/// let c = ringfork::Condition::new(0u32)?;
/// c.notify_all();
/// # Ok::<(), ringfork::SegmentError>(())
/// ```
pub struct Condition<T: ShmSafe = ()> {
    inner: core_sync::Condition<'static, T>,
    seg: Segment,
}

impl<T: ShmSafe> Clone for Condition<T> {
    fn clone(&self) -> Self {
        Condition {
            inner: self.inner,
            seg: self.seg.clone(),
        }
    }
}

impl<T: ShmSafe> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<T: ShmSafe> Condition<T> {
    /// A condition with data `value` in a new anonymous segment.
    pub fn new(value: T) -> Result<Self, SegmentError> {
        let seg = anon(core_sync::Condition::<T>::size(), core_sync::Condition::<T>::align())?;
        Self::new_in(&seg, "condition", value)
    }

    crate::handle::open_or_create!(value: T);

    /// A condition placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, value: T) -> Result<Self, SegmentError> {
        let (size, align) = (core_sync::Condition::<T>::size(), core_sync::Condition::<T>::align());
        let inner = create(seg, Kind::Condition, name, size, align, |r| {
            core_sync::Condition::init(r, value)
        })?;
        Ok(Condition {
            inner,
            seg: seg.clone(),
        })
    }

    /// Attaches to the condition `name` in `seg`.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        let inner = open(seg, name, core_sync::Condition::attach)?;
        Ok(Condition {
            inner,
            seg: seg.clone(),
        })
    }

    /// Locks the condition's mutex; wait through the guard.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<CondGuard<'_, T>> {
        guarded(self.inner.lock())
    }

    /// Locks if free now.
    #[doc(alias = "acquire")]
    pub fn try_lock(&self) -> LockResult<CondGuard<'_, T>> {
        guarded(self.inner.try_lock())
    }

    /// Locks, giving up after `timeout`.
    #[doc(alias = "acquire")]
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<CondGuard<'_, T>> {
        guarded(self.inner.lock_timeout(timeout))
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}

/// A barrier for `parties` processes (Python's `multiprocessing.Barrier`).
///
/// ```
/// let b = ringfork::Barrier::new(1)?;
/// assert_eq!(b.wait(), Ok(0));
/// assert!(ringfork::Barrier::new(0).is_err());
/// # Ok::<(), ringfork::SegmentError>(())
/// ```
#[derive(Clone)]
pub struct Barrier {
    inner: core_sync::Barrier<'static>,
    seg: Segment,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

#[cfg(feature = "async")]
impl Barrier {
    /// The barrier in shared memory (for `crate::aio`).
    pub(crate) fn core(&self) -> core_sync::Barrier<'static> {
        self.inner
    }

    /// The segment the barrier lives in (for `crate::aio`).
    pub(crate) fn seg(&self) -> &Segment {
        &self.seg
    }
}

impl Barrier {
    /// A barrier for `parties` (at least 1) in a new anonymous segment.
    pub fn new(parties: u32) -> Result<Self, SegmentError> {
        Self::new_in(&anon(<core_sync::Barrier<'static>>::SIZE, 8)?, "barrier", parties)
    }

    crate::handle::open_or_create!(parties: u32);

    /// A barrier placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, parties: u32) -> Result<Self, SegmentError> {
        let inner = create(seg, Kind::Barrier, name, <core_sync::Barrier<'static>>::SIZE, 8, |r| {
            core_sync::Barrier::init(r, parties)
        })?;
        Ok(Barrier {
            inner,
            seg: seg.clone(),
        })
    }

    /// Attaches to the barrier `name` in `seg`.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        let inner = open(seg, name, core_sync::Barrier::attach)?;
        Ok(Barrier {
            inner,
            seg: seg.clone(),
        })
    }

    /// Waits for every party; returns this party's index in `0..parties`.
    pub fn wait(&self) -> Result<u32, BarrierError> {
        self.inner.wait()
    }

    /// Waits, giving up after `timeout` — which breaks the barrier for everyone, as in Python.
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BarrierError> {
        self.inner.wait_timeout(timeout)
    }

    /// Breaks the barrier.
    pub fn abort(&self) {
        self.inner.abort()
    }

    /// Returns it to the initial state (current waiters get `Broken`).
    pub fn reset(&self) {
        self.inner.reset()
    }

    /// The number of parties.
    pub fn parties(&self) -> u32 {
        self.inner.parties()
    }

    /// Parties waiting now.
    pub fn n_waiting(&self) -> u32 {
        self.inner.n_waiting()
    }

    /// Whether it is broken.
    pub fn broken(&self) -> bool {
        self.inner.broken()
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}
