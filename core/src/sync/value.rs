//! Shared values: [`Value`] (a `T` with its own robust lock, Python's `Value(typecode, v)`) and
//! [`RawValue`] (no lock, Python's `RawValue`), with atomic fast paths for integers ([`AtomicValue`]).
//!
//! # Layout
//! `Value<T>`: exactly the [`crate::sync::mutex`] layout, with kind `Value` and flags = [`FLAG_LOCKED`].
//!
//! `RawValue<T>`:
//!
//! | offset                          | size            | field  | written by        |
//! |--------------------------------:|----------------:|--------|-------------------|
//! | 0                               | 64              | header | initializer (kind `Value`, flags 0) |
//! | `align_up(64, max(8, align_of::<T>()))` | `size_of::<T>()` | value | anyone   |
//!
//! # One access mode per type
//! [`Value`] is only ever accessed under its lock ([`Value::get_lock`], [`Value::with_lock`],
//! [`Value::get`], [`Value::set`]); [`RawValue`] only without one (copies made of atomic accesses,
//! and [`RawValue::load`], [`RawValue::store`], [`RawValue::fetch_add`],
//! [`RawValue::compare_exchange`] for integers). A locked read-modify-write (`*g += 1`) overlapping
//! an atomic `fetch_add` would lose an update (and in one process be a data race), so no type offers
//! both: pick `Value` for multi-step updates or non-integer `T`, `RawValue` for counters.

use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams, HEADER_SIZE};
use crate::region::{align_up, Region};
use crate::sync::mutex::{attach_locked, check_align, data_align, init_locked, LockResult, MutexGuard};
use crate::sync::raw_mutex::RawMutex;
use crate::time::Deadline;
use crate::wait::{DefaultWait, Wait};
use crate::ShmSafe;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::Ordering::SeqCst;
use core::time::Duration;

/// Header flag of `Value` / `Array` objects that carry their own lock.
pub const FLAG_LOCKED: u32 = 1;

/// Integer types with lock-free atomic operations on their shared-memory slot.
///
/// # Safety
/// Implementors must perform the operations with a native atomic of the same size, on a pointer
/// aligned to the type's size (guaranteed by the objects of this module).
pub unsafe trait AtomicValue: ShmSafe + PartialEq {
    /// Atomic load (SeqCst).
    ///
    /// # Safety
    /// `p` is valid for reads and writes, aligned to `size_of::<Self>()`, and only accessed atomically
    /// while others may access it.
    unsafe fn atomic_load(p: *mut Self) -> Self;
    /// Atomic store (SeqCst).
    ///
    /// # Safety
    /// As for [`AtomicValue::atomic_load`].
    unsafe fn atomic_store(p: *mut Self, v: Self);
    /// Atomic wrapping add (SeqCst); returns the previous value.
    ///
    /// # Safety
    /// As for [`AtomicValue::atomic_load`].
    unsafe fn atomic_fetch_add(p: *mut Self, v: Self) -> Self;
    /// Atomic compare-and-exchange (SeqCst); `Ok(previous)` if it was `current`, else `Err(actual)`.
    ///
    /// # Safety
    /// As for [`AtomicValue::atomic_load`].
    unsafe fn atomic_compare_exchange(p: *mut Self, current: Self, new: Self) -> Result<Self, Self>;
}

macro_rules! atomic_value {
    ($($t:ty => $a:ty),*) => { $(
        // SAFETY: uses the native atomic of the same size; alignment is the caller's contract.
        unsafe impl AtomicValue for $t {
            unsafe fn atomic_load(p: *mut Self) -> Self {
                // SAFETY: forwarded contract: valid, aligned, accessed atomically.
                unsafe { <$a>::from_ptr(p) }.load(SeqCst)
            }
            unsafe fn atomic_store(p: *mut Self, v: Self) {
                // SAFETY: as above.
                unsafe { <$a>::from_ptr(p) }.store(v, SeqCst)
            }
            unsafe fn atomic_fetch_add(p: *mut Self, v: Self) -> Self {
                // SAFETY: as above.
                unsafe { <$a>::from_ptr(p) }.fetch_add(v, SeqCst)
            }
            unsafe fn atomic_compare_exchange(p: *mut Self, c: Self, n: Self) -> Result<Self, Self> {
                // SAFETY: as above.
                unsafe { <$a>::from_ptr(p) }.compare_exchange(c, n, SeqCst, SeqCst)
            }
        }
    )* };
}

atomic_value!(
    u32 => crate::atomic::native::AtomicU32,
    i32 => crate::atomic::native::AtomicI32,
    usize => crate::atomic::native::AtomicUsize,
    isize => crate::atomic::native::AtomicIsize
);
// Targets without 64-bit atomics have no lock-free path for 64-bit values (use the lock).
#[cfg(target_has_atomic = "64")]
atomic_value!(
    u64 => crate::atomic::native::AtomicU64,
    i64 => crate::atomic::native::AtomicI64
);

/// A `T` with its own robust lock in shared memory (Python's `multiprocessing.Value`). A view:
/// `Copy`. Every access takes the lock (see the module docs: one access mode per type).
///
/// ```
/// use ringfork_core::sync::value::Value;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 256]);
/// let mut buf = Buf([0; 256]);
/// let v = Value::<u64, DefaultWait>::init(Region::from_mut(&mut buf.0), 1).unwrap();
/// v.with_lock(|x| *x += 1).unwrap();
/// v.set(v.get().unwrap() + 10).unwrap();
/// assert_eq!(v.get().unwrap(), 12);
/// ```
pub struct Value<'a, T: ShmSafe, W: Wait = DefaultWait> {
    /// The same layout as a [`Mutex`](crate::sync::mutex::Mutex) (header, lock, `T`), under its own
    /// kind and the "has a lock" flag; every access goes through this view. `Send`/`Sync` as the
    /// mutex's.
    lock: crate::sync::mutex::Mutex<'a, T, W>,
}

impl<T: ShmSafe, W: Wait> Clone for Value<'_, T, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ShmSafe, W: Wait> Copy for Value<'_, T, W> {}

impl<T: ShmSafe, W: Wait> fmt::Debug for Value<'_, T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value").field("lock", self.lock.raw()).finish()
    }
}

impl<'a, T: ShmSafe, W: Wait> Value<'a, T, W> {
    /// Bytes a `Value<T>` needs.
    pub fn size() -> usize {
        crate::sync::mutex::Mutex::<T, W>::size()
    }

    /// Alignment a `Value<T>` needs.
    pub fn align() -> usize {
        data_align::<T>()
    }

    /// Creates a value at the start of `region` (zeroed memory).
    pub fn init(region: Region<'a>, value: T) -> Result<Self, InitError> {
        Ok(Value {
            lock: init_locked(region, Kind::Value, FLAG_LOCKED, value)?,
        })
    }

    /// Attaches to the locked value at the start of `region`.
    pub fn attach(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        Ok(Value {
            lock: attach_locked(region, Kind::Value, FLAG_LOCKED, deadline)?,
        })
    }

    /// Locks the value and returns a guard that derefs to it (Python's `with v.get_lock():`).
    #[doc(alias = "acquire")]
    pub fn get_lock(&self) -> LockResult<MutexGuard<'a, T, W>> {
        self.lock.lock()
    }

    /// Locks, giving up after `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<MutexGuard<'a, T, W>> {
        self.lock.lock_timeout(timeout)
    }

    /// Locks, giving up at `deadline`.
    pub fn lock_until(&self, deadline: Deadline) -> LockResult<MutexGuard<'a, T, W>> {
        self.lock.lock_until(deadline)
    }

    /// Runs `f` on the value under the lock. If the previous owner died, `f` does not run and the
    /// guard comes back in [`crate::sync::mutex::MutexError::OwnerDied`] for repair.
    pub fn with_lock<R>(
        &self,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, crate::sync::MutexError<MutexGuard<'a, T, W>>> {
        let mut g = self.get_lock()?;
        Ok(f(&mut g))
    }

    /// A copy of the value, read under the lock (Python's `v.value`).
    #[doc(alias = "value")]
    pub fn get(&self) -> Result<T, crate::sync::MutexError<MutexGuard<'a, T, W>>> {
        self.with_lock(|v| *v)
    }

    /// Replaces the value under the lock (Python's `v.value = x`).
    pub fn set(&self, value: T) -> Result<(), crate::sync::MutexError<MutexGuard<'a, T, W>>> {
        self.with_lock(|v| *v = value)
    }

    /// The embedded lock.
    pub fn raw(&self) -> &'a RawMutex {
        self.lock.raw()
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.lock.header()
    }
}

/// A `T` in shared memory without a lock (Python's `multiprocessing.sharedctypes.RawValue`): copies
/// made of atomic accesses, plus atomic read-modify-writes for integers. Concurrent `set`s of a `T`
/// wider than a machine word can tear. Its locked twin is [`Value`], which has no unlocked access
/// (one access mode per type, so a locked update can never race with an atomic one).
///
/// ```
/// use ringfork_core::sync::value::RawValue;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let v = RawValue::<u64>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 0).unwrap();
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..100 {
///                 v.fetch_add(1); // lock-free
///             }
///         });
///     }
/// });
/// assert_eq!(v.load(), 400);
/// assert_eq!(v.compare_exchange(400, 1), Ok(400));
/// assert_eq!(v.compare_exchange(400, 2), Err(1));
/// ```
pub struct RawValue<'a, T: ShmSafe> {
    header: &'a Header,
    data: *mut T,
    _p: PhantomData<&'a T>,
}

impl<T: ShmSafe> Clone for RawValue<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ShmSafe> Copy for RawValue<'_, T> {}
// SAFETY: only volatile copies of ShmSafe data (a torn value is still a valid T) and atomics.
unsafe impl<T: ShmSafe> Send for RawValue<'_, T> {}
// SAFETY: as for Send.
unsafe impl<T: ShmSafe> Sync for RawValue<'_, T> {}

impl<T: ShmSafe + fmt::Debug> fmt::Debug for RawValue<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawValue").field("value", &self.get()).finish()
    }
}

fn raw_offset<T>() -> usize {
    align_up(HEADER_SIZE, data_align::<T>()).unwrap_or(usize::MAX)
}

impl<'a, T: ShmSafe> RawValue<'a, T> {
    /// Bytes a `RawValue<T>` needs.
    pub fn size() -> usize {
        raw_offset::<T>().saturating_add(core::mem::size_of::<T>())
    }

    /// Alignment a `RawValue<T>` needs.
    pub fn align() -> usize {
        data_align::<T>()
    }

    /// Creates a value at the start of `region` (zeroed memory).
    pub fn init<W: Wait>(region: Region<'a>, value: T) -> Result<Self, InitError> {
        let params = ObjectParams::new(Kind::Value, Self::size() as u64).with_elem::<T>();
        let claim = Header::claim(region, &params, Self::align())?;
        let data = region.as_ptr().wrapping_add(raw_offset::<T>()) as *mut T;
        // SAFETY: the claim checked size and alignment; we own the body until publish.
        unsafe { data.write_volatile(value) };
        let header = claim.publish::<W>();
        Ok(RawValue {
            header,
            data,
            _p: PhantomData,
        })
    }

    /// Attaches to the lock-less value at the start of `region`.
    pub fn attach<W: Wait>(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let header = Header::attach::<W>(region, Kind::Value, deadline)?;
        header.expect_elem::<T>()?;
        Header::expect("size", Self::size() as u64, header.size())?;
        Header::expect("flags", 0, header.flags().into())?;
        check_align(region, Self::align())?;
        Ok(RawValue {
            header,
            data: region.as_ptr().wrapping_add(raw_offset::<T>()) as *mut T,
            _p: PhantomData,
        })
    }

    /// A copy of the value made of atomic loads ([`crate::racy_copy`]): never a data race with a
    /// concurrent `set`; a `T` wider than a machine word may be torn (still a valid `T`).
    #[doc(alias = "value")]
    pub fn get(&self) -> T {
        // SAFETY: validated, aligned slot of ShmSafe data, mapped for 'a; every in-process access to
        // it is atomic (racy_copy, or the AtomicValue methods, whose width racy_copy matches).
        unsafe { crate::racy_copy::load(self.data) }
    }

    /// Overwrites the value with atomic stores ([`crate::racy_copy`]).
    pub fn set(&self, v: T) {
        // SAFETY: as for `get`.
        unsafe { crate::racy_copy::store(self.data, v) }
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }
}

impl<T: AtomicValue> RawValue<'_, T> {
    /// Atomic load.
    pub fn load(&self) -> T {
        // SAFETY: valid slot aligned to at least 8.
        unsafe { T::atomic_load(self.data) }
    }

    /// Atomic store.
    pub fn store(&self, v: T) {
        // SAFETY: as for `load`.
        unsafe { T::atomic_store(self.data, v) }
    }

    /// Atomic wrapping add; returns the previous value.
    pub fn fetch_add(&self, v: T) -> T {
        // SAFETY: as for `load`.
        unsafe { T::atomic_fetch_add(self.data, v) }
    }

    /// Atomic compare-and-exchange.
    pub fn compare_exchange(&self, current: T, new: T) -> Result<T, T> {
        // SAFETY: as for `load`.
        unsafe { T::atomic_compare_exchange(self.data, current, new) }
    }
}
