//! [`RLock`]: a reentrant robust lock (Python's `multiprocessing.RLock`): the owning thread may
//! acquire it again; it is released when every acquire has been matched by a release.
//!
//! # Layout (88 bytes, align 8)
//!
//! | offset | size | field      | written by                            |
//! |-------:|-----:|------------|---------------------------------------|
//! | 0      | 64   | header     | initializer                           |
//! | 64     | 16   | lock       | [`RawMutex`] protocol (owner TID)     |
//! | 80     | 4    | `count`    | the owner only (recursion depth)      |
//! | 84     | 4    | `reserved` | nobody                                |
//!
//! Ownership is by the full thread identity, as for [`RawMutex`] (TID in the lock word *and* the
//! owner stamp's start time): a forked child does not own its parent's hold, and a process that
//! inherited a dead holder's PID does not inherit its hold — [`RLock::acquire`] takes the lock over
//! with [`LockOutcome::OwnerDied`] at depth 1, and [`RLock::release`], [`RLock::depth`] and
//! [`RLock::is_owned`] treat it as not held. If the owner dies, the next acquirer gets
//! [`LockOutcome::OwnerDied`] with a depth of 1, and must call [`RLock::mark_consistent`] before its
//! final release (or the lock becomes NOT_RECOVERABLE).

use crate::atomic::{AtomicU32, Ordering};
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams};
use crate::region::Region;
use crate::sync::common::{attach_body, init_body};
use crate::sync::raw_mutex::{LockError, LockOutcome, RawMutex, UnlockError};
use crate::time::Deadline;
use crate::wait::{DefaultWait, Wait};
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

#[repr(C)]
struct Body {
    lock: RawMutex,
    count: AtomicU32,
    reserved: AtomicU32,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<Body>() == 24);
    assert!(core::mem::offset_of!(Body, count) == 16);
};

/// A reentrant robust lock in shared memory. A view: `Copy`.
///
/// ```
/// use ringfork_core::sync::rlock::RLock;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let l = RLock::<DefaultWait>::init(Region::from_mut(&mut buf.0)).unwrap();
/// assert!(!l.acquire().unwrap().owner_died());
/// assert!(!l.acquire().unwrap().owner_died());
/// assert_eq!(l.depth(), 2);
/// l.release().unwrap();
/// l.release().unwrap();
/// assert!(l.release().is_err()); // not held any more
/// ```
pub struct RLock<'a, W: Wait = DefaultWait> {
    header: &'a Header,
    body: &'a Body,
    _w: PhantomData<fn() -> W>,
}

impl<W: Wait> Clone for RLock<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: Wait> Copy for RLock<'_, W> {}

impl<W: Wait> fmt::Debug for RLock<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock").field("lock", &self.body.lock).finish()
    }
}

impl<'a, W: Wait> RLock<'a, W> {
    /// Bytes an RLock needs.
    pub const SIZE: usize = 88;
    /// Alignment an RLock needs.
    pub const ALIGN: usize = 8;

    /// Creates an unlocked RLock at the start of `region`.
    pub fn init(region: Region<'a>) -> Result<Self, InitError> {
        let (header, body) = init_body::<Body, W>(region, ObjectParams::new(Kind::RLock, 0), |b| {
            b.lock.init();
            // Ordering: Relaxed: published by the header's Release store of READY.
            b.count.store(0, Ordering::Relaxed);
            b.reserved.store(0, Ordering::Relaxed);
        })?;
        Ok(RLock {
            header,
            body,
            _w: PhantomData,
        })
    }

    /// Attaches to the RLock at the start of `region`.
    pub fn attach(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let (header, body) = attach_body::<Body, W>(region, Kind::RLock, deadline)?;
        Ok(RLock {
            header,
            body,
            _w: PhantomData,
        })
    }

    /// Acquires (again, if the caller already holds it), waiting as long as it takes.
    pub fn acquire(&self) -> Result<LockOutcome, LockError> {
        self.acquire_until(Deadline::Never)
    }

    /// Acquires if free or already held by the caller.
    pub fn try_acquire(&self) -> Result<LockOutcome, LockError> {
        self.acquire_until(Deadline::Immediate)
    }

    /// Acquires, giving up after `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockOutcome, LockError> {
        self.acquire_until(Deadline::after::<W::Clock>(timeout))
    }

    /// Acquires, giving up at `deadline`. [`LockError::Deadlock`] here means the depth would
    /// overflow `u32`.
    pub fn acquire_until(&self, deadline: Deadline) -> Result<LockOutcome, LockError> {
        if self.body.lock.is_held_by_current_thread() {
            // Ordering: Relaxed: only the owner (us) touches `count`.
            let c = self.body.count.load(Ordering::Relaxed).max(1);
            let n = c.checked_add(1).ok_or(LockError::Deadlock)?;
            // Ordering: Relaxed, as above.
            self.body.count.store(n, Ordering::Relaxed);
            return Ok(LockOutcome::Acquired);
        }
        let outcome = self.body.lock.lock::<W>(deadline)?;
        // Ordering: Relaxed: we own the lock (its Acquire CAS orders this after the last owner's
        // writes).
        self.body.count.store(1, Ordering::Relaxed);
        Ok(outcome)
    }

    /// Releases one level; the lock is free when the depth reaches 0. Errors if the caller does not
    /// hold it.
    pub fn release(&self) -> Result<(), UnlockError> {
        if !self.body.lock.is_held_by_current_thread() {
            return Err(UnlockError::NotOwner {
                owner: self.body.lock.owner_tid().unwrap_or(0),
            });
        }
        // Ordering: Relaxed: only the owner touches `count`; a corrupted 0 counts as 1.
        let c = self.body.count.load(Ordering::Relaxed);
        if c > 1 {
            // Ordering: Relaxed, as above.
            self.body.count.store(c - 1, Ordering::Relaxed);
            return Ok(());
        }
        // Ordering: Relaxed, as above; published by the unlock's Release CAS.
        self.body.count.store(0, Ordering::Relaxed);
        self.body.lock.unlock::<W>()
    }

    /// Declares the state repaired after [`LockOutcome::OwnerDied`].
    pub fn mark_consistent(&self) -> Result<(), UnlockError> {
        self.body.lock.mark_consistent()
    }

    /// The caller's recursion depth (0 if it does not hold the lock).
    pub fn depth(&self) -> u32 {
        if self.body.lock.is_held_by_current_thread() {
            // Ordering: Relaxed: ours.
            self.body.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Whether the caller holds the lock.
    pub fn is_owned(&self) -> bool {
        self.body.lock.is_held_by_current_thread()
    }

    /// The embedded lock.
    pub fn raw(&self) -> &'a RawMutex {
        &self.body.lock
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::identity::{self, ThreadIdentity};
    use crate::sync::raw_mutex::TID_MASK;

    #[repr(C, align(128))]
    struct Buf([u8; 128]);

    /// A dead holder at depth 3 whose TID this thread now has (pid reuse: same TID, another start
    /// time). Nothing of its hold may pass to us, and a third party must not get it too. (Without
    /// the `futex` feature every thread has the same fallback identity, so the "third party" thread
    /// would be us.)
    #[cfg(feature = "futex")]
    #[test]
    fn a_reused_tid_does_not_inherit_the_hold() {
        let mut buf = Buf([0; 128]);
        let l = RLock::<DefaultWait>::init(Region::from_mut(&mut buf.0)).unwrap();
        let me = identity::current();
        let dead = ThreadIdentity {
            tid: me.tid,
            start_time: me.start_time.wrapping_add(777),
        };
        l.raw().force_owner_for_test(me.tid & TID_MASK, dead.pack());
        // Ordering: Relaxed; single-threaded setup.
        l.body.count.store(3, Ordering::Relaxed);
        assert!(!l.is_owned());
        assert_eq!(l.depth(), 0);
        assert!(matches!(l.release(), Err(UnlockError::NotOwner { .. })));
        assert_eq!(
            l.acquire(),
            Ok(LockOutcome::OwnerDied),
            "not a re-entry at the dead depth"
        );
        assert!(l.is_owned());
        assert_eq!(l.depth(), 1);
        assert_eq!(l.acquire(), Ok(LockOutcome::Acquired));
        assert_eq!(l.depth(), 2);
        l.release().unwrap();
        // Another thread (a "third process") sees it held by a live owner: no second holder.
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(l.try_acquire(), Err(LockError::TimedOut));
                assert!(!l.is_owned());
            });
        });
        l.mark_consistent().unwrap();
        assert_eq!(l.mark_consistent(), Err(UnlockError::NotInconsistent));
        l.release().unwrap();
        assert!(!l.raw().is_locked());
    }
}
