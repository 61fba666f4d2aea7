//! [`Mutex`]: a robust, process-shared mutex protecting a `T` in shared memory, and the guard and
//! error types every locked object here shares ([`MutexGuard`], [`MutexError`]).
//!
//! # Layout (header + 16-byte lock + data; align `max(8, align_of::<T>())`)
//!
//! | offset                          | size            | field    | written by                       |
//! |--------------------------------:|----------------:|----------|----------------------------------|
//! | 0                               | 64              | header   | initializer (kind `Mutex`, elem = `T`) |
//! | 64                              | 16              | lock     | [`RawMutex`] protocol            |
//! | `align_up(80, max(8, align_of::<T>()))` | `size_of::<T>()` | data | the lock holder            |
//!
//! # Owner death: impossible to ignore
//! [`Mutex::lock`] returns `Err(MutexError::OwnerDied(guard))` when the previous owner died holding the
//! lock: `m.lock()?` or `.unwrap()` fails loudly instead of silently handing out half-updated data.
//! To recover, take the guard out of the error, repair the data, and call
//! [`MutexGuard::mark_consistent`]; dropping the guard without it makes the mutex NOT_RECOVERABLE for
//! every process (pthread `EOWNERDEAD` / `ENOTRECOVERABLE` semantics).
//!
//! ```
//! use ringfork_core::sync::mutex::{Mutex, MutexError};
//! use ringfork_core::{wait::DefaultWait, Region};
//! #[repr(C, align(128))]
//! struct Buf([u8; 256]);
//! let mut buf = Buf([0; 256]);
//! let m = Mutex::<u64, DefaultWait>::init(Region::from_mut(&mut buf.0), 5).unwrap();
//! match m.lock() {
//!     Ok(mut g) => *g += 1,
//!     Err(MutexError::OwnerDied(mut g)) => {
//!         *g = 0; // repair
//!         g.mark_consistent();
//!     }
//!     Err(e) => panic!("{e}"),
//! }
//! assert_eq!(*m.lock().unwrap(), 6);
//! ```

use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams, HEADER_SIZE};
use crate::region::{align_up, Region};
use crate::sync::raw_mutex::{LockError, LockOutcome, RawMutex};
use crate::time::Deadline;
use crate::wait::{DefaultWait, Wait};
use crate::ShmSafe;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::time::Duration;

/// The marker of a view borrowing `T` for `'a` and parameterized by a strategy `W` (variance and
/// auto traits only).
pub(crate) type Marker<'a, T, W> = PhantomData<(&'a T, fn() -> W)>;
/// As [`Marker`], for a guard with exclusive access.
pub(crate) type MarkerMut<'a, T, W> = PhantomData<(&'a mut T, fn() -> W)>;

/// Offset of the embedded [`RawMutex`] in every locked object.
pub const LOCK_OFFSET: usize = HEADER_SIZE;
/// Size of the embedded lock.
pub const LOCK_SIZE: usize = core::mem::size_of::<RawMutex>();

/// Alignment of the data of a locked object holding `T`s (at least 8, so integer values up to 64 bits
/// can be used atomically on every target).
pub const fn data_align<T>() -> usize {
    let a = core::mem::align_of::<T>();
    if a > 8 {
        a
    } else {
        8
    }
}

/// Offset of the data after a 64-byte header and a 16-byte lock.
pub(crate) fn locked_data_offset<T>() -> usize {
    align_up(LOCK_OFFSET + LOCK_SIZE, data_align::<T>()).unwrap_or(usize::MAX)
}

/// Why a lock on a data-carrying object failed. `G` is the guard type.
///
// The example needs the `futex` feature (the default): per-thread owner identities and owner liveness probes.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::sync::mutex::{Mutex, MutexError};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let m = Mutex::<u32, DefaultWait>::init(Region::from_mut(&mut buf.0), 0).unwrap();
/// // A thread dies holding the lock half-way through an update.
/// std::thread::scope(|s| {
///     s.spawn(|| core::mem::forget(m.lock().unwrap()));
/// });
/// let err = m.lock_timeout(std::time::Duration::from_secs(5)).unwrap_err();
/// assert!(matches!(err, MutexError::OwnerDied(_)));
/// let mut g = err.into_owner_died().unwrap(); // the lock is held: repair the data
/// *g = 0;
/// g.mark_consistent();
/// drop(g);
/// assert!(m.try_lock().is_ok());
/// ```
pub enum MutexError<G> {
    /// The lock *was* acquired, but from an owner that died holding it: the data may be half
    /// updated. Repair it through the guard and call its `mark_consistent`, or drop the guard to
    /// make the mutex NOT_RECOVERABLE for everyone.
    OwnerDied(G),
    /// The deadline passed (for `try_lock`: the lock was held).
    TimedOut,
    /// The mutex was released after an owner death without `mark_consistent`; it is unusable.
    NotRecoverable,
    /// The calling thread already holds this lock.
    Deadlock,
}

/// The result of locking a data-carrying object.
///
// The example needs the `futex` feature (the default): per-thread owner identities and owner liveness probes.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::sync::mutex::{LockResult, Mutex, MutexError, MutexGuard};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let m = Mutex::<u32, DefaultWait>::init(Region::from_mut(&mut buf.0), 5).unwrap();
/// let held: LockResult<MutexGuard<'_, u32, DefaultWait>> = m.lock();
/// let g = held.unwrap();
/// std::thread::scope(|s| {
///     s.spawn(|| assert!(matches!(m.try_lock(), Err(MutexError::TimedOut))));
/// });
/// assert!(matches!(m.try_lock(), Err(MutexError::Deadlock))); // this thread holds it
/// assert_eq!(*g, 5);
/// ```
pub type LockResult<G> = Result<G, MutexError<G>>;

impl<G> MutexError<G> {
    /// The guard, if the lock was acquired from a dead owner.
    pub fn into_owner_died(self) -> Option<G> {
        match self {
            MutexError::OwnerDied(g) => Some(g),
            _ => None,
        }
    }

    /// The error without its guard (`OwnerDied`'s guard is dropped, which makes the mutex
    /// NOT_RECOVERABLE: only call this when giving up on the data).
    pub fn lock_error(&self) -> Option<LockError> {
        match self {
            MutexError::OwnerDied(_) => None,
            MutexError::TimedOut => Some(LockError::TimedOut),
            MutexError::NotRecoverable => Some(LockError::NotRecoverable),
            MutexError::Deadlock => Some(LockError::Deadlock),
        }
    }

    /// Converts the guard type (used by wrappers).
    pub fn map<H>(self, f: impl FnOnce(G) -> H) -> MutexError<H> {
        match self {
            MutexError::OwnerDied(g) => MutexError::OwnerDied(f(g)),
            MutexError::TimedOut => MutexError::TimedOut,
            MutexError::NotRecoverable => MutexError::NotRecoverable,
            MutexError::Deadlock => MutexError::Deadlock,
        }
    }
}

impl<G> From<LockError> for MutexError<G> {
    fn from(e: LockError) -> Self {
        match e {
            LockError::TimedOut => MutexError::TimedOut,
            LockError::NotRecoverable => MutexError::NotRecoverable,
            LockError::Deadlock => MutexError::Deadlock,
            // Locking reports a dead owner as `LockOutcome::OwnerDied` (with the lock held), never as
            // this error; a value carrying it has no guard to hand back, so the closest state is
            // "the data cannot be trusted".
            LockError::OwnerDied => MutexError::NotRecoverable,
        }
    }
}

impl<G> fmt::Debug for MutexError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MutexError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            MutexError::TimedOut => f.write_str("TimedOut"),
            MutexError::NotRecoverable => f.write_str("NotRecoverable"),
            MutexError::Deadlock => f.write_str("Deadlock"),
        }
    }
}

impl<G> fmt::Display for MutexError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MutexError::OwnerDied(_) => f.write_str(
                "the previous owner died holding the lock: the data may be inconsistent; repair it \
                 through the guard in this error and call mark_consistent()",
            ),
            MutexError::TimedOut => fmt::Display::fmt(&LockError::TimedOut, f),
            MutexError::NotRecoverable => fmt::Display::fmt(&LockError::NotRecoverable, f),
            MutexError::Deadlock => fmt::Display::fmt(&LockError::Deadlock, f),
        }
    }
}

impl<G> core::error::Error for MutexError<G> {}

/// Exclusive access to data in shared memory while a [`RawMutex`] is held; unlocks on drop.
///
/// Not `Send`: the lock is owned by the thread that took it (its TID is in the lock word).
///
/// ```
/// use ringfork_core::sync::mutex::Mutex;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let m = Mutex::<[u32; 4], DefaultWait>::init(Region::from_mut(&mut buf.0), [0; 4]).unwrap();
/// {
///     let mut g = m.lock().unwrap();
///     g[1] = 7; // derefs to the data in shared memory
///     assert!(m.is_locked() && !g.owner_died());
/// } // unlocked here
/// assert_eq!(m.lock().unwrap()[1], 7);
/// ```
#[must_use = "dropping the guard unlocks at once"]
pub struct MutexGuard<'a, T: ?Sized, W: Wait = DefaultWait> {
    raw: &'a RawMutex,
    data: *mut T,
    inconsistent: bool,
    _p: crate::sync::mutex::MarkerMut<'a, T, W>,
}

impl<'a, T: ?Sized, W: Wait> MutexGuard<'a, T, W> {
    /// Wraps a held lock.
    ///
    /// # Safety
    /// The calling thread holds `raw`, and `data` is valid, aligned, `ShmSafe` data (any bit pattern
    /// valid) that `raw` protects, for `'a`.
    pub unsafe fn new(raw: &'a RawMutex, data: *mut T, outcome: LockOutcome) -> Self {
        MutexGuard {
            raw,
            data,
            inconsistent: outcome.owner_died(),
            _p: PhantomData,
        }
    }

    /// Locks `raw` and wraps the outcome in a guard / [`MutexError`].
    ///
    /// # Safety
    /// As for [`MutexGuard::new`], except that the lock is taken here.
    pub unsafe fn acquire(raw: &'a RawMutex, data: *mut T, deadline: Deadline) -> LockResult<Self> {
        match raw.lock::<W>(deadline) {
            // SAFETY: we hold the lock now; the rest is forwarded from the caller.
            Ok(LockOutcome::Acquired) => Ok(unsafe { Self::new(raw, data, LockOutcome::Acquired) }),
            // SAFETY: as above.
            Ok(LockOutcome::OwnerDied) => Err(MutexError::OwnerDied(unsafe {
                Self::new(raw, data, LockOutcome::OwnerDied)
            })),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the lock was taken over from a dead owner and not yet marked consistent.
    pub fn owner_died(&self) -> bool {
        self.inconsistent
    }

    /// Declares the data repaired: unlocking then leaves a normal mutex.
    ///
    /// On a guard that did not come from `OwnerDied` ([`MutexGuard::owner_died`] is `false`) there is
    /// nothing to repair and this does nothing; the guard knows its state, so no error is needed.
    /// The lock-level [`RawMutex::mark_consistent`] (and `RLock::mark_consistent`), which cannot
    /// know, report [`crate::sync::raw_mutex::UnlockError::NotInconsistent`] there (POSIX `EINVAL`).
    pub fn mark_consistent(&mut self) {
        // We hold the lock; NotOwner only if a hostile peer rewrote the word.
        let _ = self.raw.mark_consistent();
        self.inconsistent = false;
    }

    /// The lock this guard holds.
    pub fn raw(&self) -> &'a RawMutex {
        self.raw
    }

    /// Gives up the guard without unlocking (the caller unlocks `raw` itself later).
    pub fn into_raw_parts(self) -> (&'a RawMutex, *mut T, bool) {
        let parts = (self.raw, self.data, self.inconsistent);
        core::mem::forget(self);
        parts
    }
}

impl<T: ?Sized, W: Wait> Deref for MutexGuard<'_, T, W> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock, so no cooperating thread or process accesses the data; it is
        // valid, aligned ShmSafe data (constructor contract), so any bytes a hostile peer wrote still
        // form a valid T.
        unsafe { &*self.data }
    }
}

impl<T: ?Sized, W: Wait> DerefMut for MutexGuard<'_, T, W> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; the lock gives us exclusive access.
        unsafe { &mut *self.data }
    }
}

impl<T: ?Sized + fmt::Debug, W: Wait> fmt::Debug for MutexGuard<'_, T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexGuard")
            .field("data", &&**self)
            .field("owner_died", &self.inconsistent)
            .finish()
    }
}

impl<T: ?Sized, W: Wait> Drop for MutexGuard<'_, T, W> {
    fn drop(&mut self) {
        // Unlocking while inconsistent makes the mutex NOT_RECOVERABLE (RawMutex::unlock). Fails only
        // if a hostile peer rewrote the word; never panic in drop.
        let _ = self.raw.unlock::<W>();
    }
}

/// A robust mutex with data `T`, in shared memory. A view: `Copy`, cheap. Python's `Lock` is
/// `Mutex<()>`. See the module docs.
///
/// ```
/// use ringfork_core::sync::mutex::Mutex;
/// use ringfork_core::{wait::DefaultWait, Deadline, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let region = Region::from_mut(&mut buf.0);
/// let m = Mutex::<u64, DefaultWait>::init(region, 0).unwrap();
/// let other = Mutex::<u64, DefaultWait>::attach(region, Deadline::Immediate).unwrap();
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| (0..100).for_each(|_| *other.lock().unwrap() += 1));
///     }
/// });
/// assert_eq!(*m.lock().unwrap(), 400);
/// ```
pub struct Mutex<'a, T: ShmSafe, W: Wait = DefaultWait> {
    pub(crate) header: &'a Header,
    pub(crate) raw: &'a RawMutex,
    pub(crate) data: *mut T,
    pub(crate) _p: crate::sync::mutex::Marker<'a, T, W>,
}

impl<T: ShmSafe, W: Wait> Clone for Mutex<'_, T, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ShmSafe, W: Wait> Copy for Mutex<'_, T, W> {}

// SAFETY: the data is only reached through a guard, which requires holding the lock; T is ShmSafe
// (Send + Sync plain data); the header and lock are atomics.
unsafe impl<T: ShmSafe, W: Wait> Send for Mutex<'_, T, W> {}
// SAFETY: as for Send.
unsafe impl<T: ShmSafe, W: Wait> Sync for Mutex<'_, T, W> {}

impl<T: ShmSafe, W: Wait> fmt::Debug for Mutex<'_, T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").field("lock", self.raw).finish()
    }
}

/// Places a header + lock + `T` object of `kind` (a `Mutex`, or a `Value`: the same layout under
/// another kind and flags) and returns the mutex view of it.
pub(crate) fn init_locked<'a, T: ShmSafe, W: Wait>(
    region: Region<'a>,
    kind: Kind,
    flags: u32,
    value: T,
) -> Result<Mutex<'a, T, W>, InitError> {
    let size = locked_data_offset::<T>().saturating_add(core::mem::size_of::<T>());
    let mut params = ObjectParams::new(kind, size as u64).with_elem::<T>();
    params.flags = flags;
    let claim = Header::claim(region, &params, data_align::<T>())?;
    let (raw, data) = locked_parts::<T>(region);
    raw.init();
    // SAFETY: the claim checked the region holds `size` bytes aligned to data_align::<T>(), so the
    // data pointer is in bounds and aligned; we own the body until publish.
    unsafe { data.write_volatile(value) };
    let header = claim.publish::<W>();
    Ok(Mutex {
        header,
        raw,
        data,
        _p: PhantomData,
    })
}

/// Attaches to a header + lock + `T` object of `kind` with `flags`; returns the mutex view of it.
pub(crate) fn attach_locked<'a, T: ShmSafe, W: Wait>(
    region: Region<'a>,
    kind: Kind,
    flags: u32,
    deadline: Deadline,
) -> Result<Mutex<'a, T, W>, AttachError> {
    let header = Header::attach::<W>(region, kind, deadline)?;
    let size = locked_data_offset::<T>().saturating_add(core::mem::size_of::<T>());
    header.expect_elem::<T>()?;
    Header::expect("size", size as u64, header.size())?;
    Header::expect("flags", flags.into(), header.flags().into())?;
    check_align(region, data_align::<T>())?;
    let (raw, data) = locked_parts::<T>(region);
    Ok(Mutex {
        header,
        raw,
        data,
        _p: PhantomData,
    })
}

pub(crate) fn check_align(region: Region<'_>, align: usize) -> Result<(), AttachError> {
    let offset = region.addr() % align;
    if offset != 0 {
        return Err(AttachError::Misaligned { align, offset });
    }
    Ok(())
}

/// The lock at offset 64 of a validated region of at least 80 bytes.
pub(crate) fn lock_at(region: Region<'_>) -> &RawMutex {
    debug_assert!(region.len() >= LOCK_OFFSET + LOCK_SIZE);
    // SAFETY: every caller validated (claim or attach) that the region holds the header, the lock
    // and the data, and is at least 8-aligned; RawMutex is all atomics, so any bytes are a valid value
    // and concurrent access from other processes is not a data race.
    unsafe { &*(region.as_ptr().add(LOCK_OFFSET) as *const RawMutex) }
}

fn locked_parts<T>(region: Region<'_>) -> (&RawMutex, *mut T) {
    let data = region.as_ptr().wrapping_add(locked_data_offset::<T>()) as *mut T;
    (lock_at(region), data)
}

impl<'a, T: ShmSafe, W: Wait> Mutex<'a, T, W> {
    /// Bytes a `Mutex<T>` needs.
    pub fn size() -> usize {
        locked_data_offset::<T>().saturating_add(core::mem::size_of::<T>())
    }

    /// Alignment a `Mutex<T>` needs.
    pub fn align() -> usize {
        data_align::<T>()
    }

    /// Creates an unlocked mutex holding `value` at the start of `region` (zeroed memory).
    pub fn init(region: Region<'a>, value: T) -> Result<Self, InitError> {
        init_locked(region, Kind::Mutex, 0, value)
    }

    /// Attaches to the mutex at the start of `region`, validating kind and element type.
    pub fn attach(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        attach_locked(region, Kind::Mutex, 0, deadline)
    }

    /// Locks, waiting as long as it takes.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<MutexGuard<'a, T, W>> {
        self.lock_until(Deadline::Never)
    }

    /// Locks if free right now (`Err(TimedOut)` if held).
    pub fn try_lock(&self) -> LockResult<MutexGuard<'a, T, W>> {
        self.lock_until(Deadline::Immediate)
    }

    /// Locks, giving up after `timeout` (never earlier).
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<MutexGuard<'a, T, W>> {
        self.lock_until(Deadline::after::<W::Clock>(timeout))
    }

    /// Locks, giving up at `deadline`.
    pub fn lock_until(&self, deadline: Deadline) -> LockResult<MutexGuard<'a, T, W>> {
        // SAFETY: `data` is the validated, aligned ShmSafe slot this lock protects, valid for 'a.
        unsafe { MutexGuard::acquire(self.raw, self.data, deadline) }
    }

    /// Whether someone holds the lock right now (stale at once).
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
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

/// A [`Mutex`] (kind `mutex`) or locked [`crate::sync::Value`] (kind `value`) whose data type is
/// known only at run time by its size and alignment (for the C ABI): the layout of `Mutex<T>` /
/// `Value<T>` for any `T` of that layout, so either side attaches what the other made. The data is
/// reached as raw bytes ([`LockedBytes::data`]) while the caller holds the lock.
///
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::sync::mutex::{LockedBytes, Mutex};
/// use ringfork_core::{queue::spsc::ElemLayout, wait::DefaultWait, Deadline, Kind, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let region = Region::from_mut(&mut buf.0);
/// let raw = LockedBytes::<DefaultWait>::init(region, Kind::Mutex, ElemLayout::of::<u64>(), Some(&5u64.to_ne_bytes())).unwrap();
/// let typed = Mutex::<u64, DefaultWait>::attach(region, Deadline::Immediate).unwrap();
/// assert_eq!(*typed.lock().unwrap(), 5);
/// assert!(raw.lock(Deadline::Immediate).is_ok());
/// assert!(typed.try_lock().is_err()); // held through the raw view
/// raw.unlock().unwrap();
/// ```
pub struct LockedBytes<'a, W: Wait = DefaultWait> {
    header: &'a Header,
    raw: &'a RawMutex,
    data: *mut u8,
    elem: crate::queue::spsc::ElemLayout,
    _p: Marker<'a, u8, W>,
}

impl<W: Wait> Clone for LockedBytes<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: Wait> Copy for LockedBytes<'_, W> {}

impl<W: Wait> fmt::Debug for LockedBytes<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockedBytes")
            .field("kind", &self.header.snapshot().kind)
            .field("elem", &self.elem)
            .field("raw", self.raw)
            .finish()
    }
}

// SAFETY: a view of atomics (header, lock) and of data bytes only touched by the lock holder.
unsafe impl<W: Wait> Send for LockedBytes<'_, W> {}
// SAFETY: as for Send.
unsafe impl<W: Wait> Sync for LockedBytes<'_, W> {}

impl<'a, W: Wait> LockedBytes<'a, W> {
    fn flags(kind: Kind) -> Option<u32> {
        match kind {
            Kind::Mutex => Some(0),
            Kind::Value => Some(crate::sync::value::FLAG_LOCKED),
            _ => None,
        }
    }

    /// Alignment of the object (`max(8, elem.align)`).
    pub fn align(elem: crate::queue::spsc::ElemLayout) -> usize {
        elem.align.max(8)
    }

    fn data_offset(elem: crate::queue::spsc::ElemLayout) -> Option<usize> {
        align_up(LOCK_OFFSET + LOCK_SIZE, Self::align(elem))
    }

    /// Bytes the object needs, or `None` if that overflows.
    pub fn size(elem: crate::queue::spsc::ElemLayout) -> Option<usize> {
        Self::data_offset(elem)?.checked_add(elem.size)
    }

    /// Creates an unlocked mutex (`kind` = [`Kind::Mutex`]) or locked value ([`Kind::Value`]) whose
    /// data is `init` (exactly `elem.size` bytes; `None`: zeroes) at the start of `region`.
    pub fn init(
        region: Region<'a>,
        kind: Kind,
        elem: crate::queue::spsc::ElemLayout,
        init: Option<&[u8]>,
    ) -> Result<Self, InitError> {
        let flags = Self::flags(kind).ok_or(InitError::InvalidParameter {
            name: "kind",
            reason: "a locked object is a mutex or a value",
        })?;
        let bad = InitError::InvalidParameter {
            name: "elem",
            reason: "the alignment must be a power of two up to 4096 and the size a multiple of it below 4 GiB, \
                     and the initial data exactly the size",
        };
        if crate::queue::spsc::ElemLayout::new(elem.size, elem.align).is_none()
            || init.is_some_and(|i| i.len() != elem.size)
        {
            return Err(bad);
        }
        let size = Self::size(elem).ok_or(bad)?;
        let mut params = ObjectParams::new(kind, size as u64);
        params.elem_size = elem.size as u32;
        params.elem_align = elem.align as u32;
        params.flags = flags;
        let claim = Header::claim(region, &params, Self::align(elem))?;
        let raw = lock_at(region);
        raw.init();
        let data = region
            .as_ptr()
            .wrapping_add(Self::data_offset(elem).unwrap_or(usize::MAX));
        match init {
            // SAFETY: the claim checked the region holds `size` bytes aligned to the object's
            // alignment; we own the body until publish.
            Some(init) => unsafe { crate::racy_copy::store_bytes(data, init.as_ptr(), init.len(), elem.align) },
            None => {
                const ZEROES: [u8; 64] = [0; 64];
                let mut off = 0;
                while off < elem.size {
                    let n = (elem.size - off).min(64);
                    // SAFETY: as above; `data + off` is in the data and aligned to min(align, 64).
                    unsafe { crate::racy_copy::store_bytes(data.add(off), ZEROES.as_ptr(), n, elem.align.min(64)) };
                    off += n;
                }
            }
        }
        let header = claim.publish::<W>();
        Ok(LockedBytes {
            header,
            raw,
            data,
            elem,
            _p: PhantomData,
        })
    }

    /// Attaches to the mutex or locked value of `kind` at the start of `region`, validating its
    /// element layout.
    pub fn attach(
        region: Region<'a>,
        kind: Kind,
        elem: crate::queue::spsc::ElemLayout,
        deadline: Deadline,
    ) -> Result<Self, AttachError> {
        let flags = Self::flags(kind).ok_or(AttachError::KindMismatch {
            expected: Kind::Mutex,
            found: kind as u32,
        })?;
        let header = Header::attach::<W>(region, kind, deadline)?;
        Header::expect("elem_size", elem.size as u64, header.elem_size().into())?;
        Header::expect("elem_align", elem.align as u64, header.elem_align().into())?;
        let size = crate::queue::spsc::ElemLayout::new(elem.size, elem.align)
            .and_then(Self::size)
            .ok_or(AttachError::Corrupted {
                what: "element layout: the alignment must be a power of two up to 4096 and the size a multiple of it",
            })?;
        Header::expect("size", size as u64, header.size())?;
        Header::expect("flags", flags.into(), header.flags().into())?;
        check_align(region, Self::align(elem))?;
        if region.len() < size {
            return Err(AttachError::TooSmall {
                needed: size,
                available: region.len(),
            });
        }
        let data = region
            .as_ptr()
            .wrapping_add(Self::data_offset(elem).unwrap_or(usize::MAX));
        Ok(LockedBytes {
            header,
            raw: lock_at(region),
            data,
            elem,
            _p: PhantomData,
        })
    }

    /// Locks until `deadline` ([`LockOutcome::OwnerDied`]: the caller holds the lock, the previous
    /// owner died holding it; repair the data and call [`RawMutex::mark_consistent`] before unlocking).
    pub fn lock(&self, deadline: Deadline) -> Result<LockOutcome, LockError> {
        self.raw.lock::<W>(deadline)
    }

    /// Unlocks (the calling thread must hold the lock).
    pub fn unlock(&self) -> Result<(), crate::sync::UnlockError> {
        self.raw.unlock::<W>()
    }

    /// The embedded lock.
    pub fn raw(&self) -> &'a RawMutex {
        self.raw
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }

    /// The element layout.
    pub fn elem(&self) -> crate::queue::spsc::ElemLayout {
        self.elem
    }

    /// The data: `elem.size` bytes aligned to `elem.align`, to be touched only while holding the lock
    /// (and through [`crate::racy_copy`]-style copies: another process may be hostile).
    pub fn data(&self) -> *mut u8 {
        self.data
    }

    /// Copies the data into `out` (exactly `elem.size` bytes). The caller holds the lock.
    ///
    /// # Safety
    /// The calling thread holds the lock (a copy without it may tear, never leave the object).
    pub unsafe fn read_locked(&self, out: &mut [u8]) {
        let n = out.len().min(self.elem.size);
        // SAFETY: `data` holds `elem.size` bytes inside the validated region, aligned; n <= size.
        unsafe { crate::racy_copy::load_bytes(out.as_mut_ptr(), self.data, n, self.elem.align) }
    }

    /// Copies `src` (at most `elem.size` bytes) into the data. The caller holds the lock.
    ///
    /// # Safety
    /// As for [`Self::read_locked`].
    pub unsafe fn write_locked(&self, src: &[u8]) {
        let n = src.len().min(self.elem.size);
        // SAFETY: as in `read_locked`.
        unsafe { crate::racy_copy::store_bytes(self.data, src.as_ptr(), n, self.elem.align) }
    }
}
