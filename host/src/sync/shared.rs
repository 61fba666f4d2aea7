//! Host handles for shared values: [`Value`], [`Array`] (with a lock), [`RawValue`], [`RawArray`]
//! (without). See [`ringfork_core::sync::value`] for how the lock and the atomic fast paths interact.

use super::{anon, create, open};
use super::{guarded, settled, LockResult};
use crate::segment::{Segment, SegmentError};
use ringfork_core::sync::{self as core_sync, AtomicValue, IndexError, LockError, MutexGuard};
use ringfork_core::{InitError, Kind, ShmSafe};
use std::fmt;
use std::time::Duration;

/// The handle boilerplate of the shared-data types: the core view plus the segment that keeps it
/// mapped (both cheap to clone), and `Debug` through the view.
macro_rules! shared_handle {
    ($(#[$m:meta])* $name:ident => $core:ident $(, Debug if $bound:path)?) => {
        $(#[$m])*
        pub struct $name<T: ShmSafe> {
            inner: core_sync::$core<'static, T>,
            seg: Segment,
        }

        impl<T: ShmSafe> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name {
                    inner: self.inner,
                    seg: self.seg.clone(),
                }
            }
        }

        impl<T: ShmSafe $(+ $bound)?> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.inner, f)
            }
        }

        impl<T: ShmSafe> $name<T> {
            /// The handle for a view created or attached in `seg`.
            fn wrap(inner: core_sync::$core<'static, T>, seg: &Segment) -> Self {
                $name {
                    inner,
                    seg: seg.clone(),
                }
            }
        }
    };
}

shared_handle! {
    /// A `T` with its own robust lock (Python's `multiprocessing.Value`). Every access takes the
    /// lock; for a lock-free counter use [`RawValue`] (one access mode per type, so a locked update
    /// can never race with an atomic one).
    ///
    /// ```
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let v = ringfork::Value::new(0u64)?;
    ///     v.with_lock(|x| *x += 2)?; // `with v.get_lock(): v.value += 2`
    ///     v.set(v.get()? + 1)?;
    ///     assert_eq!(v.get()?, 3);
    ///     Ok(())
    /// }
    /// ```
    Value => Value
}

impl<T: ShmSafe> Value<T> {
    /// A value in a new anonymous segment.
    pub fn new(value: T) -> Result<Self, SegmentError> {
        let seg = anon(core_sync::Value::<T>::size(), core_sync::Value::<T>::align())?;
        Self::new_in(&seg, "value", value)
    }

    crate::handle::open_or_create!(value: T);

    /// A value placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, value: T) -> Result<Self, SegmentError> {
        let (size, align) = (core_sync::Value::<T>::size(), core_sync::Value::<T>::align());
        create(seg, Kind::Value, name, size, align, |r| {
            core_sync::Value::init(r, value)
        })
        .map(|inner| Self::wrap(inner, seg))
    }

    /// Attaches to the value `name` in `seg` (kind, `T` and "has a lock" validated).
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        open(seg, name, core_sync::Value::attach).map(|inner| Self::wrap(inner, seg))
    }

    /// Locks the value; the guard derefs to it.
    #[doc(alias = "acquire")]
    pub fn get_lock(&self) -> LockResult<MutexGuard<'_, T>> {
        guarded(self.inner.get_lock())
    }

    /// Locks, giving up after `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<MutexGuard<'_, T>> {
        guarded(self.inner.lock_timeout(timeout))
    }

    /// Runs `f` under the lock. If the previous holder died holding it, `f` does not run and the
    /// call returns [`LockError::OwnerDied`] once (the lock is recovered; see [`LockError`]).
    pub fn with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, LockError> {
        settled(self.inner.with_lock(f))
    }

    /// A copy read under the lock (Python's `v.value`).
    #[doc(alias = "value")]
    pub fn get(&self) -> Result<T, LockError> {
        settled(self.inner.get())
    }

    /// Writes under the lock (Python's `v.value = x`).
    pub fn set(&self, value: T) -> Result<(), LockError> {
        settled(self.inner.set(value))
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}

fn len_err() -> SegmentError {
    SegmentError::ObjectInit(InitError::InvalidParameter {
        name: "len",
        reason: "the array's size overflows the address space",
    })
}

shared_handle! {
    /// `len` elements with one robust lock (Python's `multiprocessing.Array`).
    ///
    /// Every access takes the lock; for lock-free elements use [`RawArray`].
    ///
    /// ```
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let a = ringfork::Array::new(&[1i64, 2, 3])?;
    ///     a.with_lock(|s| {
    ///         s[0] = 10;
    ///         s[1] += 5;
    ///     })?;
    ///     assert_eq!(a.to_vec()?, vec![10, 7, 3]);
    ///     Ok(())
    /// }
    /// ```
    Array => Array
}

impl<T: ShmSafe> Array<T> {
    /// An array holding a copy of `items`, in a new anonymous segment.
    pub fn new(items: &[T]) -> Result<Self, SegmentError> {
        let size = core_sync::Array::<T>::size(items.len()).ok_or_else(len_err)?;
        Self::new_in(&anon(size, core_sync::Array::<T>::align())?, "array", items)
    }

    crate::handle::open_or_create!(items: &[T]);

    /// An array holding a copy of `items`, placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, items: &[T]) -> Result<Self, SegmentError> {
        let size = core_sync::Array::<T>::size(items.len()).ok_or_else(len_err)?;
        let align = core_sync::Array::<T>::align();
        create(seg, Kind::Array, name, size, align, |r| {
            core_sync::Array::init(r, items.len(), |i| items[i])
        })
        .map(|inner| Self::wrap(inner, seg))
    }

    /// Attaches to the array `name` in `seg`; the length comes from its header.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        open(seg, name, core_sync::Array::attach).map(|inner| Self::wrap(inner, seg))
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Locks the array; the guard derefs to `[T]`.
    #[doc(alias = "acquire")]
    pub fn get_lock(&self) -> LockResult<MutexGuard<'_, [T]>> {
        guarded(self.inner.get_lock())
    }

    /// Locks, giving up after `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<MutexGuard<'_, [T]>> {
        guarded(self.inner.lock_timeout(timeout))
    }

    /// Runs `f` on the elements under the lock (a dead previous holder: see [`Value::with_lock`]).
    pub fn with_lock<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> Result<R, LockError> {
        settled(self.inner.with_lock(f))
    }

    /// A copy of every element, read under the lock (Python's `arr[:]`).
    pub fn to_vec(&self) -> Result<Vec<T>, LockError> {
        settled(self.inner.with_lock(|s| s.to_vec()))
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}

shared_handle! {
    /// A `T` without a lock (Python's `RawValue`).
    ///
    /// ```
    /// let v = ringfork::RawValue::new(1.5f64)?;
    /// v.set(2.5);
    /// assert_eq!(v.get(), 2.5);
    /// # Ok::<(), ringfork::SegmentError>(())
    /// ```
    RawValue => RawValue, Debug if fmt::Debug
}

impl<T: ShmSafe> RawValue<T> {
    /// A value in a new anonymous segment.
    pub fn new(value: T) -> Result<Self, SegmentError> {
        let seg = anon(core_sync::RawValue::<T>::size(), core_sync::RawValue::<T>::align())?;
        Self::new_in(&seg, "rawvalue", value)
    }

    crate::handle::open_or_create!(value: T);

    /// A value placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, value: T) -> Result<Self, SegmentError> {
        let (size, align) = (core_sync::RawValue::<T>::size(), core_sync::RawValue::<T>::align());
        create(seg, Kind::Value, name, size, align, |r| {
            core_sync::RawValue::init::<ringfork_core::wait::DefaultWait>(r, value)
        })
        .map(|inner| Self::wrap(inner, seg))
    }

    /// Attaches to the lock-less value `name` in `seg`.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        open(
            seg,
            name,
            core_sync::RawValue::attach::<ringfork_core::wait::DefaultWait>,
        )
        .map(|inner| Self::wrap(inner, seg))
    }

    /// A copy of the value.
    #[doc(alias = "value")]
    pub fn get(&self) -> T {
        self.inner.get()
    }

    /// Overwrites the value.
    pub fn set(&self, v: T) {
        self.inner.set(v)
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}

impl<T: AtomicValue> RawValue<T> {
    /// Atomic load.
    pub fn load(&self) -> T {
        self.inner.load()
    }

    /// Atomic store.
    pub fn store(&self, v: T) {
        self.inner.store(v)
    }

    /// Atomic wrapping add; returns the previous value.
    pub fn fetch_add(&self, v: T) -> T {
        self.inner.fetch_add(v)
    }

    /// Atomic compare-and-exchange.
    pub fn compare_exchange(&self, current: T, new: T) -> Result<T, T> {
        self.inner.compare_exchange(current, new)
    }
}

shared_handle! {
    /// `len` elements without a lock (Python's `RawArray`).
    ///
    /// ```
    /// let a = ringfork::RawArray::new(&[0u8; 4])?;
    /// a.set(3, 9).unwrap();
    /// assert_eq!(a.get(3), Some(9));
    /// assert!(a.set(4, 1).is_err());
    /// # Ok::<(), ringfork::SegmentError>(())
    /// ```
    RawArray => RawArray
}

impl<T: ShmSafe> RawArray<T> {
    /// An array holding a copy of `items`, in a new anonymous segment.
    pub fn new(items: &[T]) -> Result<Self, SegmentError> {
        let size = core_sync::RawArray::<T>::size(items.len()).ok_or_else(len_err)?;
        Self::new_in(&anon(size, core_sync::RawArray::<T>::align())?, "rawarray", items)
    }

    crate::handle::open_or_create!(items: &[T]);

    /// An array holding a copy of `items`, placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, items: &[T]) -> Result<Self, SegmentError> {
        let size = core_sync::RawArray::<T>::size(items.len()).ok_or_else(len_err)?;
        let align = core_sync::RawArray::<T>::align();
        create(seg, Kind::Array, name, size, align, |r| {
            core_sync::RawArray::init::<ringfork_core::wait::DefaultWait>(r, items.len(), |i| items[i])
        })
        .map(|inner| Self::wrap(inner, seg))
    }

    /// Attaches to the lock-less array `name` in `seg`.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        open(
            seg,
            name,
            core_sync::RawArray::attach::<ringfork_core::wait::DefaultWait>,
        )
        .map(|inner| Self::wrap(inner, seg))
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// A copy of element `i`.
    pub fn get(&self, i: usize) -> Option<T> {
        self.inner.get(i)
    }

    /// Overwrites element `i`.
    pub fn set(&self, i: usize, v: T) -> Result<(), IndexError> {
        self.inner.set(i, v)
    }

    /// A copy of every element (unsynchronized).
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len()).filter_map(|i| self.inner.get(i)).collect()
    }

    /// The segment it lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}

impl<T: AtomicValue> RawArray<T> {
    /// Atomic load of element `i`.
    pub fn load(&self, i: usize) -> Option<T> {
        self.inner.load(i)
    }

    /// Atomic store to element `i`.
    pub fn store(&self, i: usize, v: T) -> Result<(), IndexError> {
        self.inner.store(i, v)
    }

    /// Atomic wrapping add to element `i`.
    pub fn fetch_add(&self, i: usize, v: T) -> Option<T> {
        self.inner.fetch_add(i, v)
    }
}
