//! [`SpinLock`]: a pure spin lock with data `T`, no OS at all (for bare-metal users).
//!
//! # Layout (align `max(8, align_of::<T>())`)
//!
//! | offset                          | size            | field      | written by              |
//! |--------------------------------:|----------------:|------------|-------------------------|
//! | 0                               | 64              | header     | initializer (kind `SpinLock`) |
//! | 64                              | 4               | `word`     | 0 free, 1 held (CAS / Release store) |
//! | 68                              | 4               | `reserved` | nobody                  |
//! | `align_up(72, max(8, align_of::<T>()))` | `size_of::<T>()` | data | the holder      |
//!
//! # What it does not promise
//! - **No robustness**: the word records no owner, so a holder that dies leaves it locked forever.
//! - **No fairness** and no parking: waiters burn their CPU. With more runnable processes than cores
//!   (or real-time priorities) a waiter can spin away the time slice the holder needs, and a priority
//!   inversion can last forever. Use [`crate::sync::mutex::Mutex`] on an OS.
//! - No owner check: only the guard unlocks, so misuse is prevented by the type, not at run time.

use crate::atomic::{spin_hint, AtomicU32, Ordering};
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams, HEADER_SIZE};
use crate::region::{align_up, Region};
use crate::sync::mutex::{check_align, data_align};
use crate::time::{Clock, Deadline};
use crate::wait::DefaultClock;
use crate::ShmSafe;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

fn data_offset<T>() -> usize {
    align_up(HEADER_SIZE + 8, data_align::<T>()).unwrap_or(usize::MAX)
}

/// A spin lock with data `T` in shared memory. A view: `Copy`. `C` is the clock for deadlines.
///
/// ```
/// use ringfork_core::sync::spinlock::SpinLock;
/// use ringfork_core::Region;
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let s = SpinLock::<u32>::init(Region::from_mut(&mut buf.0), 1).unwrap();
/// *s.lock() += 1;
/// let g = s.lock();
/// assert!(s.try_lock().is_none());
/// assert_eq!(*g, 2);
/// ```
pub struct SpinLock<'a, T: ShmSafe, C: Clock = DefaultClock> {
    header: &'a Header,
    word: &'a AtomicU32,
    data: *mut T,
    _p: crate::sync::mutex::Marker<'a, T, C>,
}

impl<T: ShmSafe, C: Clock> Clone for SpinLock<'_, T, C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ShmSafe, C: Clock> Copy for SpinLock<'_, T, C> {}
// SAFETY: data reached only through a guard (lock held); T is plain ShmSafe data.
unsafe impl<T: ShmSafe, C: Clock> Send for SpinLock<'_, T, C> {}
// SAFETY: as for Send.
unsafe impl<T: ShmSafe, C: Clock> Sync for SpinLock<'_, T, C> {}

impl<T: ShmSafe, C: Clock> fmt::Debug for SpinLock<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpinLock").field("locked", &self.is_locked()).finish()
    }
}

impl<'a, T: ShmSafe, C: Clock> SpinLock<'a, T, C> {
    /// Bytes a `SpinLock<T>` needs.
    pub fn size() -> usize {
        data_offset::<T>().saturating_add(core::mem::size_of::<T>())
    }

    /// Alignment a `SpinLock<T>` needs.
    pub fn align() -> usize {
        data_align::<T>()
    }

    fn parts(region: Region<'a>) -> (&'a AtomicU32, *mut T) {
        // SAFETY: callers validated the region (size >= data offset > 68, 8-aligned); an AtomicU32
        // accepts any bytes and concurrent access.
        let word = unsafe { &*(region.as_ptr().add(HEADER_SIZE) as *const AtomicU32) };
        (word, region.as_ptr().wrapping_add(data_offset::<T>()) as *mut T)
    }

    /// Creates an unlocked spin lock holding `value` at the start of `region`.
    pub fn init(region: Region<'a>, value: T) -> Result<Self, InitError> {
        let params = ObjectParams::new(Kind::SpinLock, Self::size() as u64).with_elem::<T>();
        let claim = Header::claim(region, &params, Self::align())?;
        let (word, data) = Self::parts(region);
        // Ordering: Relaxed: published by the header's Release store of READY.
        word.store(0, Ordering::Relaxed);
        // SAFETY: the claim checked size and alignment; we own the body until publish.
        unsafe { data.write_volatile(value) };
        // Spinners never park, so publishing needs no waker: Spin's wake is a no-op.
        let header = claim.publish::<crate::wait::Spin<spin::relax::Spin, C>>();
        Ok(SpinLock {
            header,
            word,
            data,
            _p: PhantomData,
        })
    }

    /// Attaches to the spin lock at the start of `region` (spinning for READY until `deadline`).
    pub fn attach(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let header = Header::attach::<crate::wait::Spin<spin::relax::Spin, C>>(region, Kind::SpinLock, deadline)?;
        header.expect_elem::<T>()?;
        Header::expect("size", Self::size() as u64, header.size())?;
        check_align(region, Self::align())?;
        let (word, data) = Self::parts(region);
        Ok(SpinLock {
            header,
            word,
            data,
            _p: PhantomData,
        })
    }

    /// Locks, spinning as long as it takes.
    pub fn lock(&self) -> SpinGuard<'a, T> {
        loop {
            if let Some(g) = self.try_lock() {
                return g;
            }
            // Test-and-test-and-set: wait with plain loads, so waiters do not bounce the line.
            // Ordering: Relaxed: the CAS in try_lock acquires.
            while self.word.load(Ordering::Relaxed) != 0 {
                spin_hint();
            }
        }
    }

    /// Locks if free right now.
    pub fn try_lock(&self) -> Option<SpinGuard<'a, T>> {
        // Ordering: Acquire pairs with the guard's Release store of 0.
        self.word
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SpinGuard {
                word: self.word,
                data: self.data,
                _p: PhantomData,
            })
    }

    /// Locks, spinning until `deadline` (clock `C`); `None` if it passed.
    pub fn lock_until(&self, deadline: Deadline) -> Option<SpinGuard<'a, T>> {
        let mut i: u32 = 0;
        loop {
            if let Some(g) = self.try_lock() {
                return Some(g);
            }
            if i % 64 == 0 && deadline.expired::<C>() {
                return None;
            }
            i = i.wrapping_add(1);
            spin_hint();
        }
    }

    /// Whether it is held (stale at once).
    pub fn is_locked(&self) -> bool {
        // Ordering: Relaxed: a snapshot.
        self.word.load(Ordering::Relaxed) != 0
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }
}

/// A held [`SpinLock`]; derefs to the data; unlocks on drop.
///
/// ```
/// use ringfork_core::sync::spinlock::SpinLock;
/// use ringfork_core::Region;
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let l = SpinLock::<u32>::init(Region::from_mut(&mut buf.0), 1).unwrap();
/// {
///     let mut g = l.lock();
///     *g += 1; // derefs to the data in shared memory
///     assert!(l.is_locked() && l.try_lock().is_none());
/// } // unlocked here
/// assert_eq!(*l.lock(), 2);
/// ```
#[must_use = "dropping the guard unlocks at once"]
pub struct SpinGuard<'a, T: ShmSafe> {
    word: &'a AtomicU32,
    data: *mut T,
    _p: PhantomData<&'a mut T>,
}

impl<T: ShmSafe + fmt::Debug> fmt::Debug for SpinGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SpinGuard").field(&**self).finish()
    }
}

impl<T: ShmSafe> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock; the slot is validated, aligned ShmSafe data.
        unsafe { &*self.data }
    }
}

impl<T: ShmSafe> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for deref; exclusive while held.
        unsafe { &mut *self.data }
    }
}

impl<T: ShmSafe> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // Ordering: Release publishes the critical section to the next Acquire CAS.
        self.word.store(0, Ordering::Release);
    }
}
