//! [`Semaphore`] and bounded semaphores (Python's `Semaphore` / `BoundedSemaphore`) in shared memory.
//!
//! # Layout (72 bytes, align 8)
//!
//! | offset | size | field      | written by                                        |
//! |-------:|-----:|------------|---------------------------------------------------|
//! | 0      | 64   | header     | initializer; `capacity` = bound (bounded) or 0; `flags` bit 0 = bounded; `tag` = initial value |
//! | 64     | 4    | `count`    | acquirers (CAS −1), releasers (CAS +n); futex word |
//! | 68     | 4    | `sleepers` | waiters (+1 before parking, −1 after)             |
//!
//! Releasers wake only when `sleepers` is non-zero. The pair "releaser: add to `count`, then read
//! `sleepers`" / "waiter: add to `sleepers`, then read `count`" is a store-load handshake (both SeqCst),
//! so at least one side sees the other: no lost wake-up.
//!
//! # Owner death
//! A semaphore has no owner: a process that dies holding a permit never releases it (as with POSIX
//! semaphores). If that matters, release permits from a supervisor that watches the workers (the
//! process layer's exit codes), or use a [`crate::sync::mutex::Mutex`], which is robust.

use crate::atomic::{AtomicU32, Ordering};
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams};
use crate::region::Region;
use crate::sync::common::{attach_body, init_body};
use crate::time::Deadline;
use crate::wait::{DefaultWait, TimedOut, Wait};
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

/// Header flag: the semaphore is bounded by its initial value.
pub const FLAG_BOUNDED: u32 = 1;
/// The largest count an unbounded semaphore holds (`SEM_VALUE_MAX` on Linux).
pub const SEM_VALUE_MAX: u32 = i32::MAX as u32;

#[repr(C)]
struct Body {
    count: AtomicU32,
    sleepers: AtomicU32,
}

#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Body>() == 8);

impl Body {
    fn try_take(&self) -> bool {
        // Ordering: Relaxed load; the CAS acquires.
        let mut c = self.count.load(Ordering::Relaxed);
        while c > 0 {
            // Ordering: Acquire pairs with the releaser's SeqCst (Release) CAS, so what the releaser
            // did before releasing is visible to the acquirer.
            match self
                .count
                .compare_exchange_weak(c, c - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(cur) => c = cur,
            }
        }
        false
    }

    fn acquire<W: Wait>(&self, deadline: Deadline) -> Result<(), TimedOut> {
        loop {
            if self.try_take() {
                return Ok(());
            }
            if deadline == Deadline::Immediate {
                return Err(TimedOut);
            }
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let r = if self.count.load(Ordering::SeqCst) == 0 {
                W::wait(&self.count, 0, deadline)
            } else {
                Ok(())
            };
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            if r.is_err() {
                // One last look: a permit released at the deadline is still ours to take.
                return if self.try_take() { Ok(()) } else { Err(TimedOut) };
            }
        }
    }

    fn release<W: Wait>(&self, n: u32, max: u32) -> Result<(), SemaphoreError> {
        // Ordering: Relaxed load; the CAS releases.
        let mut c = self.count.load(Ordering::Relaxed);
        loop {
            let new = match c.checked_add(n) {
                Some(v) if v <= max => v,
                _ => return Err(SemaphoreError::Overflow { value: c, n, max }),
            };
            match self
                .count
                .compare_exchange_weak(c, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(cur) => c = cur,
            }
        }
        if n > 0 && self.sleepers.load(Ordering::SeqCst) > 0 {
            W::wake(&self.count, n);
        }
        Ok(())
    }
}

/// Why a release was refused.
///
/// ```
/// use ringfork_core::sync::semaphore::{Semaphore, SemaphoreError};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let s = Semaphore::<DefaultWait>::init(Region::from_mut(&mut buf.0), 1, true).unwrap();
/// // Bounded (Python's `BoundedSemaphore`): released more often than acquired.
/// let err = s.release(1).unwrap_err();
/// assert_eq!(err, SemaphoreError::Overflow { value: 1, n: 1, max: 1 });
/// assert_eq!(s.get_value(), 1); // unchanged
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SemaphoreError {
    /// Releasing would raise the count above the bound (Python's `ValueError: Semaphore released
    /// too many times`), or above [`SEM_VALUE_MAX`].
    Overflow {
        /// The count before the release.
        value: u32,
        /// How many permits the release tried to add.
        n: u32,
        /// The largest count allowed.
        max: u32,
    },
}

impl fmt::Display for SemaphoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SemaphoreError::Overflow { value, n, max } => write!(
                f,
                "semaphore released too many times: releasing {n} at value {value} would exceed the maximum {max}; \
                 release only permits you acquired"
            ),
        }
    }
}

impl core::error::Error for SemaphoreError {}

/// A counting semaphore in shared memory. A view: `Copy`. Bounded or not (see [`Semaphore::init`]).
///
/// ```
/// use ringfork_core::sync::semaphore::Semaphore;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let s = Semaphore::<DefaultWait>::init(Region::from_mut(&mut buf.0), 1, true).unwrap();
/// assert!(s.try_acquire());
/// assert!(!s.try_acquire());
/// s.release(1).unwrap();
/// assert!(s.release(1).is_err()); // bounded: over-release is an error
/// ```
pub struct Semaphore<'a, W: Wait = DefaultWait> {
    header: &'a Header,
    body: &'a Body,
    _w: PhantomData<fn() -> W>,
}

impl<W: Wait> Clone for Semaphore<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: Wait> Copy for Semaphore<'_, W> {}

impl<W: Wait> fmt::Debug for Semaphore<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.get_value())
            .field("max", &self.max())
            .finish()
    }
}

impl<'a, W: Wait> Semaphore<'a, W> {
    /// Bytes a semaphore needs.
    pub const SIZE: usize = 72;
    /// Alignment a semaphore needs.
    pub const ALIGN: usize = 8;

    /// Creates a semaphore with `value` permits at the start of `region`. If `bounded`, releases
    /// past `value` fail with [`SemaphoreError::Overflow`].
    pub fn init(region: Region<'a>, value: u32, bounded: bool) -> Result<Self, InitError> {
        if value > SEM_VALUE_MAX {
            return Err(InitError::InvalidParameter {
                name: "value",
                reason: "larger than SEM_VALUE_MAX (2^31 - 1)",
            });
        }
        let mut params = ObjectParams::new(Kind::Semaphore, 0);
        params.capacity = if bounded { value.into() } else { 0 };
        params.flags = if bounded { FLAG_BOUNDED } else { 0 };
        params.tag = value.into();
        let (header, body) = init_body::<Body, W>(region, params, |b| {
            // Ordering: Relaxed: published by the header's Release store of READY.
            b.count.store(value, Ordering::Relaxed);
            b.sleepers.store(0, Ordering::Relaxed);
        })?;
        Ok(Semaphore {
            header,
            body,
            _w: PhantomData,
        })
    }

    /// Attaches to the semaphore at the start of `region`.
    pub fn attach(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let (header, body) = attach_body::<Body, W>(region, Kind::Semaphore, deadline)?;
        if header.flags() & !FLAG_BOUNDED != 0 || header.capacity() > u64::from(SEM_VALUE_MAX) {
            return Err(AttachError::Corrupted {
                what: "semaphore flags or bound out of range",
            });
        }
        Ok(Semaphore {
            header,
            body,
            _w: PhantomData,
        })
    }

    /// Whether releases are bounded by the initial value.
    pub fn is_bounded(&self) -> bool {
        self.header.flags() & FLAG_BOUNDED != 0
    }

    /// The largest count allowed: the bound, or [`SEM_VALUE_MAX`].
    pub fn max(&self) -> u32 {
        if self.is_bounded() {
            u32::try_from(self.header.capacity()).unwrap_or(SEM_VALUE_MAX)
        } else {
            SEM_VALUE_MAX
        }
    }

    /// Takes a permit, waiting as long as it takes.
    pub fn acquire(&self) {
        // Never cannot time out.
        let _ = self.acquire_until(Deadline::Never);
    }

    /// The `count` word and the sleeper count, for a waiter that does not park a thread: add a
    /// sleeper, re-check [`Self::try_acquire`], then wait while the count is 0 (see
    /// [`crate::wait::WaitWord`], whose example uses a semaphore).
    pub fn wait_word(&self) -> crate::wait::WaitWord<'a> {
        crate::wait::WaitWord::new(&self.body.count, &self.body.sleepers)
    }

    /// Takes a permit if one is available now.
    #[doc(alias = "acquire")]
    pub fn try_acquire(&self) -> bool {
        self.acquire_until(Deadline::Immediate).is_ok()
    }

    /// Takes a permit, giving up after `timeout` (never earlier); `true` if taken.
    #[doc(alias = "acquire")]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_until(Deadline::after::<W::Clock>(timeout)).is_ok()
    }

    /// Takes a permit, giving up at `deadline`.
    pub fn acquire_until(&self, deadline: Deadline) -> Result<(), TimedOut> {
        self.body.acquire::<W>(deadline)
    }

    /// Returns `n` permits, waking up to `n` waiters.
    pub fn release(&self, n: u32) -> Result<(), SemaphoreError> {
        self.body.release::<W>(n, self.max())
    }

    /// The current count (stale at once). Python's `get_value()`.
    pub fn get_value(&self) -> u32 {
        // Ordering: Relaxed: a snapshot.
        self.body.count.load(Ordering::Relaxed)
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    type W = crate::wait::Spin<spin::relax::Loop, crate::time::NoClock>;

    #[test]
    fn loom_semaphore_limits_holders() {
        loom::model(|| {
            let body = Arc::new(Body {
                count: AtomicU32::new(1),
                sleepers: AtomicU32::new(0),
            });
            let holders = Arc::new(AtomicU32::new(0));
            let run = |body: Arc<Body>, holders: Arc<AtomicU32>| {
                body.acquire::<W>(Deadline::Never).unwrap();
                assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                holders.fetch_sub(1, Ordering::SeqCst);
                body.release::<W>(1, 1).unwrap();
            };
            let t = {
                let (b, h) = (body.clone(), holders.clone());
                loom::thread::spawn(move || run(b, h))
            };
            run(body.clone(), holders.clone());
            t.join().unwrap();
            assert_eq!(body.count.load(Ordering::SeqCst), 1);
        });
    }
}
