//! Shared arrays: [`Array`] (`len` elements of `T` with one robust lock, Python's
//! `multiprocessing.Array`) and [`RawArray`] (no lock), with atomic element access for integers.
//!
//! # Layout
//! `Array<T>` (flags = [`FLAG_LOCKED`], header `capacity` = `len`):
//!
//! | offset                          | size                  | field    | written by        |
//! |--------------------------------:|----------------------:|----------|-------------------|
//! | 0                               | 64                    | header   | initializer (kind `Array`) |
//! | 64                              | 16                    | lock     | [`RawMutex`] protocol |
//! | `align_up(80, max(8, align_of::<T>()))` | `len * size_of::<T>()` | elements | the lock holder |
//!
//! `RawArray<T>` (flags 0): the elements start at `align_up(64, max(8, align_of::<T>()))`.
//!
//! The length is read from the header at attach and checked against the size the header claims and
//! the region (so a corrupted length cannot make an index go out of bounds). The lock and the atomic
//! element operations interact as described in [`crate::sync::value`].

use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams, HEADER_SIZE};
use crate::region::{align_up, Region};
use crate::sync::mutex::{check_align, data_align, lock_at, LockResult, MutexGuard, LOCK_OFFSET, LOCK_SIZE};
use crate::sync::raw_mutex::RawMutex;
use crate::sync::value::AtomicValue;
pub use crate::sync::value::FLAG_LOCKED;
use crate::time::Deadline;
use crate::wait::{DefaultWait, Wait};
use crate::ShmSafe;
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

/// An index past the end of an array.
///
/// ```
/// use ringfork_core::sync::array::{IndexError, RawArray};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let a = RawArray::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4, |_| 0).unwrap();
/// assert_eq!(a.set(9, 1), Err(IndexError { index: 9, len: 4 }));
/// assert_eq!(a.get(9), None); // reads past the end are `None`, never a panic
/// assert_eq!(IndexError { index: 9, len: 4 }.to_string(), "index 9 out of range for an array of length 4");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexError {
    /// The index asked for.
    pub index: usize,
    /// The array's length.
    pub len: usize,
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "index {} out of range for an array of length {}",
            self.index, self.len
        )
    }
}

impl core::error::Error for IndexError {}

fn offset_for<T>(locked: bool) -> usize {
    let base = if locked { LOCK_OFFSET + LOCK_SIZE } else { HEADER_SIZE };
    align_up(base, data_align::<T>()).unwrap_or(usize::MAX)
}

fn size_for<T>(locked: bool, len: usize) -> Option<usize> {
    len.checked_mul(core::mem::size_of::<T>())?
        .checked_add(offset_for::<T>(locked))
}

/// Claims and fills an array object; returns the header and the element pointer.
fn init_array<'a, T: ShmSafe, W: Wait>(
    region: Region<'a>,
    locked: bool,
    len: usize,
    fill: impl Fn(usize) -> T,
) -> Result<(&'a Header, *mut T), InitError> {
    let size = size_for::<T>(locked, len).ok_or(InitError::InvalidParameter {
        name: "len",
        reason: "the array's size overflows the address space",
    })?;
    let mut params = ObjectParams::new(Kind::Array, size as u64).with_elem::<T>();
    params.capacity = len as u64;
    params.flags = if locked { FLAG_LOCKED } else { 0 };
    let claim = Header::claim(region, &params, data_align::<T>())?;
    if locked {
        lock_at(region).init();
    }
    let data = region.as_ptr().wrapping_add(offset_for::<T>(locked)) as *mut T;
    for i in 0..len {
        // SAFETY: the claim checked the region holds `size` bytes, aligned to data_align::<T>(); i <
        // len, so the element is in bounds; we own the body until publish.
        unsafe { data.add(i).write_volatile(fill(i)) };
    }
    Ok((claim.publish::<W>(), data))
}

fn attach_array<'a, T: ShmSafe, W: Wait>(
    region: Region<'a>,
    locked: bool,
    deadline: Deadline,
) -> Result<(&'a Header, *mut T, usize), AttachError> {
    let header = Header::attach::<W>(region, Kind::Array, deadline)?;
    header.expect_elem::<T>()?;
    Header::expect(
        "flags",
        if locked { FLAG_LOCKED } else { 0 }.into(),
        header.flags().into(),
    )?;
    let len = usize::try_from(header.capacity()).map_err(|_| AttachError::Corrupted {
        what: "array length does not fit in usize",
    })?;
    let size = size_for::<T>(locked, len).ok_or(AttachError::Corrupted {
        what: "array length overflows",
    })?;
    // Header::attach checked header.size() <= region.len(); the length must match that size.
    Header::expect("size", size as u64, header.size())?;
    check_align(region, data_align::<T>())?;
    let data = region.as_ptr().wrapping_add(offset_for::<T>(locked)) as *mut T;
    Ok((header, data, len))
}

/// `len` elements of `T` with one robust lock in shared memory (Python's `multiprocessing.Array`). A
/// view: `Copy`. Every access takes the lock; lock-free elements are [`RawArray`]'s.
///
/// ```
/// use ringfork_core::sync::array::Array;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 256]);
/// let mut buf = Buf([0; 256]);
/// let a = Array::<i32, DefaultWait>::init(Region::from_mut(&mut buf.0), 4, |i| i as i32).unwrap();
/// a.with_lock(|s| s.reverse()).unwrap();
/// a.with_lock(|s| s[3] += 5).unwrap();
/// let mut out = [0; 4];
/// a.with_lock(|s| out.copy_from_slice(s)).unwrap();
/// assert_eq!(out, [3, 2, 1, 5]);
/// ```
pub struct Array<'a, T: ShmSafe, W: Wait = DefaultWait> {
    header: &'a Header,
    raw: &'a RawMutex,
    data: *mut T,
    len: usize,
    _p: crate::sync::mutex::Marker<'a, T, W>,
}

impl<T: ShmSafe, W: Wait> Clone for Array<'_, T, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ShmSafe, W: Wait> Copy for Array<'_, T, W> {}
// SAFETY: elements reached only under the lock or atomically; T is plain ShmSafe data.
unsafe impl<T: ShmSafe, W: Wait> Send for Array<'_, T, W> {}
// SAFETY: as for Send.
unsafe impl<T: ShmSafe, W: Wait> Sync for Array<'_, T, W> {}

impl<T: ShmSafe, W: Wait> fmt::Debug for Array<'_, T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("len", &self.len)
            .field("lock", self.raw)
            .finish()
    }
}

impl<'a, T: ShmSafe, W: Wait> Array<'a, T, W> {
    /// Bytes an `Array<T>` of `len` elements needs (`None` on overflow).
    pub fn size(len: usize) -> Option<usize> {
        size_for::<T>(true, len)
    }

    /// Alignment an `Array<T>` needs.
    pub fn align() -> usize {
        data_align::<T>()
    }

    /// Creates an array of `len` elements, element `i` = `fill(i)`, at the start of `region`.
    pub fn init(region: Region<'a>, len: usize, fill: impl Fn(usize) -> T) -> Result<Self, InitError> {
        let (header, data) = init_array::<T, W>(region, true, len, fill)?;
        Ok(Array {
            header,
            raw: lock_at(region),
            data,
            len,
            _p: PhantomData,
        })
    }

    /// Attaches to the locked array at the start of `region`; the length comes from its header.
    pub fn attach(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let (header, data, len) = attach_array::<T, W>(region, true, deadline)?;
        Ok(Array {
            header,
            raw: lock_at(region),
            data,
            len,
            _p: PhantomData,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Locks the array; the guard derefs to `[T]`.
    #[doc(alias = "acquire")]
    pub fn get_lock(&self) -> LockResult<MutexGuard<'a, [T], W>> {
        self.lock_until(Deadline::Never)
    }

    /// Locks, giving up after `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<MutexGuard<'a, [T], W>> {
        self.lock_until(Deadline::after::<W::Clock>(timeout))
    }

    /// Locks, giving up at `deadline`.
    pub fn lock_until(&self, deadline: Deadline) -> LockResult<MutexGuard<'a, [T], W>> {
        let slice = core::ptr::slice_from_raw_parts_mut(self.data, self.len);
        // SAFETY: `len` elements from `data` are inside the validated region, aligned, ShmSafe, and
        // protected by this lock, for 'a.
        unsafe { MutexGuard::acquire(self.raw, slice, deadline) }
    }

    /// Runs `f` on the elements under the lock (see [`crate::sync::value::Value::with_lock`]).
    pub fn with_lock<R>(
        &self,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> Result<R, crate::sync::MutexError<MutexGuard<'a, [T], W>>> {
        let mut g = self.get_lock()?;
        Ok(f(&mut g))
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

/// `len` elements of `T` without a lock (Python's `RawArray`): element copies made of atomic
/// accesses, atomic read-modify-writes for integers. Its locked twin is [`Array`], which has no
/// unlocked access.
///
/// ```
/// use ringfork_core::sync::array::RawArray;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 256]);
/// let mut buf = Buf([0; 256]);
/// let a = RawArray::<u64>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 8, |i| i as u64).unwrap();
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..100 {
///                 a.fetch_add(0, 1); // lock-free counters
///             }
///         });
///     }
/// });
/// assert_eq!(a.load(0), Some(400));
/// a.set(7, 70).unwrap();
/// assert_eq!((a.get(6), a.get(7), a.len()), (Some(6), Some(70), 8));
/// ```
pub struct RawArray<'a, T: ShmSafe> {
    header: &'a Header,
    data: *mut T,
    len: usize,
    _p: PhantomData<&'a T>,
}

impl<T: ShmSafe> Clone for RawArray<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ShmSafe> Copy for RawArray<'_, T> {}
// SAFETY: volatile copies of ShmSafe data and atomics only.
unsafe impl<T: ShmSafe> Send for RawArray<'_, T> {}
// SAFETY: as for Send.
unsafe impl<T: ShmSafe> Sync for RawArray<'_, T> {}

impl<T: ShmSafe> fmt::Debug for RawArray<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawArray").field("len", &self.len).finish()
    }
}

impl<'a, T: ShmSafe> RawArray<'a, T> {
    /// Bytes a `RawArray<T>` of `len` elements needs (`None` on overflow).
    pub fn size(len: usize) -> Option<usize> {
        size_for::<T>(false, len)
    }

    /// Alignment a `RawArray<T>` needs.
    pub fn align() -> usize {
        data_align::<T>()
    }

    /// Creates an array of `len` elements, element `i` = `fill(i)`.
    pub fn init<W: Wait>(region: Region<'a>, len: usize, fill: impl Fn(usize) -> T) -> Result<Self, InitError> {
        let (header, data) = init_array::<T, W>(region, false, len, fill)?;
        Ok(RawArray {
            header,
            data,
            len,
            _p: PhantomData,
        })
    }

    /// Attaches to the lock-less array at the start of `region`.
    pub fn attach<W: Wait>(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let (header, data, len) = attach_array::<T, W>(region, false, deadline)?;
        Ok(RawArray {
            header,
            data,
            len,
            _p: PhantomData,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of element `i` made of atomic loads (`None` if out of range; see [`RawValue::get`](crate::sync::RawValue::get)).
    pub fn get(&self, i: usize) -> Option<T> {
        // SAFETY: i < len: in bounds of the validated region, aligned, ShmSafe; every in-process
        // access is atomic (racy_copy or the same-width AtomicValue methods).
        (i < self.len).then(|| unsafe { crate::racy_copy::load(self.data.add(i)) })
    }

    /// Overwrites element `i` (volatile).
    pub fn set(&self, i: usize, v: T) -> Result<(), IndexError> {
        if i >= self.len {
            return Err(IndexError {
                index: i,
                len: self.len,
            });
        }
        // SAFETY: as for `get`.
        unsafe { crate::racy_copy::store(self.data.add(i), v) };
        Ok(())
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }
}

impl<T: AtomicValue> RawArray<'_, T> {
    /// Atomic load of element `i`.
    pub fn load(&self, i: usize) -> Option<T> {
        // SAFETY: in-bounds element, aligned to its size (8-aligned base, stride = size).
        (i < self.len).then(|| unsafe { T::atomic_load(self.data.add(i)) })
    }

    /// Atomic store to element `i`.
    pub fn store(&self, i: usize, v: T) -> Result<(), IndexError> {
        if i >= self.len {
            return Err(IndexError {
                index: i,
                len: self.len,
            });
        }
        // SAFETY: as for `load`.
        unsafe { T::atomic_store(self.data.add(i), v) };
        Ok(())
    }

    /// Atomic wrapping add to element `i`; returns the previous value.
    pub fn fetch_add(&self, i: usize, v: T) -> Option<T> {
        // SAFETY: as for `load`.
        (i < self.len).then(|| unsafe { T::atomic_fetch_add(self.data.add(i), v) })
    }
}
