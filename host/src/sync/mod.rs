//! Synchronization primitives and shared values in shared memory, with Python-aligned names.
//!
//! Every type here is a thin handle over a [`ringfork_core::sync`] object placed in a
//! [`crate::Segment`]: `new` (its own anonymous segment), `new_in(&seg, name, ..)`, `open(&seg, name)`
//! (validated: kind, element type, parameters), and a cheap `Clone` (a segment reference plus a view)
//! to move into a child process's closure. Guards and error types are the core ones, re-exported.
//!
//! Locks are owned by the *thread* that took them (the robust-lock format records its TID): unlike
//! Python's `Lock`, a lock cannot be released by another process, and a child after `fork` does not
//! own its parent's locks.

mod identity;
mod locks;
mod shared;
mod signal;

pub use identity::install_identity;
pub use locks::{Lock, Mutex, RLock, SpinLock};
pub use ringfork_core::sync::{
    BarrierError, CondGuard, IndexError, LockError, LockOutcome, MutexGuard, SemaphoreError, SpinGuard, UnlockError,
};

/// What every locking call returns: the guard in `Ok` — with [`MutexGuard::owner_died`] set when the
/// lock was taken over from a holder that died, so the data may need repair (call
/// `mark_consistent()` on the guard once it is repaired; dropping it unrepaired makes the mutex
/// unusable for everyone, as POSIX robust mutexes do) — or a `'static` [`LockError`], so `?` works.
///
/// A child dies holding the lock; the parent's next `lock()` still returns `Ok`, flagged:
///
/// ```
/// use ringfork::sync::{LockResult, MutexGuard};
/// use ringfork::{Mutex, Process};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let m = Mutex::new(0u64)?;
///     let m2 = m.clone();
///     let mut p = Process::new(move || {
///         let mut g = m2.lock().expect("free");
///         *g = 99; // half-way through an update...
///         std::mem::forget(g);
///         std::process::exit(0); // ...and gone, still holding the lock
///     });
///     p.start()?;
///     p.join()?;
///     let r: LockResult<MutexGuard<'_, u64>> = m.lock();
///     let mut g = r?;
///     assert!(g.owner_died());
///     assert_eq!(*g, 99);
///     *g = 0; // repair, then declare it consistent
///     g.mark_consistent();
///     drop(g);
///     assert!(!m.lock()?.owner_died());
///     Ok(())
/// }
/// ```
pub type LockResult<G> = Result<G, LockError>;

/// Core's lock result (a dead owner's guard inside the error) to ours (the guard in `Ok`, flagged).
pub(crate) fn guarded<G>(r: ringfork_core::sync::LockResult<G>) -> LockResult<G> {
    use ringfork_core::sync::MutexError;
    match r {
        Ok(g) | Err(MutexError::OwnerDied(g)) => Ok(g),
        Err(MutexError::TimedOut) => Err(LockError::TimedOut),
        Err(MutexError::NotRecoverable) => Err(LockError::NotRecoverable),
        Err(MutexError::Deadlock) => Err(LockError::Deadlock),
    }
}

/// A convenience call's result (it ran under the lock and kept no guard) to ours: a dead owner is
/// reported once, as [`LockError::OwnerDied`], after the lock was marked consistent and released, so
/// the object stays usable; the data are as the dead holder left them.
pub(crate) fn settled<R, T: ?Sized>(
    r: Result<R, ringfork_core::sync::MutexError<MutexGuard<'_, T>>>,
) -> Result<R, LockError> {
    use ringfork_core::sync::MutexError;
    match r {
        Ok(v) => Ok(v),
        Err(MutexError::OwnerDied(mut g)) => {
            g.mark_consistent();
            drop(g);
            Err(LockError::OwnerDied)
        }
        Err(MutexError::TimedOut) => Err(LockError::TimedOut),
        Err(MutexError::NotRecoverable) => Err(LockError::NotRecoverable),
        Err(MutexError::Deadlock) => Err(LockError::Deadlock),
    }
}
pub use shared::{Array, RawArray, RawValue, Value};
pub use signal::{Barrier, BoundedSemaphore, Condition, Event, Semaphore};

use crate::handle::{attach_err, locate, place, ATTACH_TIMEOUT};
use crate::segment::{Segment, SegmentError};
use ringfork_core::wait::DefaultWait;
use ringfork_core::{AttachError, Deadline, InitError, Kind, Region};

/// The anonymous segment size for an object of `size` bytes aligned to `align`.
fn anon(size: usize, align: usize) -> Result<Segment, SegmentError> {
    install_identity();
    Segment::anonymous(size.saturating_add(align))
}

/// Places a new object in `seg` and initializes it with `init`.
fn create<T>(
    seg: &Segment,
    kind: Kind,
    name: &str,
    size: usize,
    align: usize,
    init: impl FnOnce(Region<'static>) -> Result<T, InitError>,
) -> Result<T, SegmentError> {
    install_identity();
    // SAFETY: every handle stores a clone of `seg` next to the view returned here.
    let region = unsafe { place(seg, kind, name, size, align)? };
    init(region).map_err(SegmentError::ObjectInit)
}

/// Attaches to the object `name` in `seg` with `attach` (waiting up to [`ATTACH_TIMEOUT`]).
fn open<T>(
    seg: &Segment,
    name: &str,
    attach: impl FnOnce(Region<'static>, Deadline) -> Result<T, AttachError>,
) -> Result<T, SegmentError> {
    install_identity();
    // SAFETY: every handle stores a clone of `seg` next to the view returned here.
    let region = unsafe { locate(seg, name)? };
    let deadline = Deadline::after::<<DefaultWait as ringfork_core::Wait>::Clock>(ATTACH_TIMEOUT);
    attach(region, deadline).map_err(|e| attach_err(seg, e))
}
