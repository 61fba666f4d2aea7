//! [`Region`]: a bounds-carrying view of raw (shared) memory, and [`Arena`]: placing several objects in
//! one region by offset.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// A span of memory that shared objects are placed in: a start address and a length, valid for `'a`.
///
/// A region hands out no byte access of its own; objects placed in it are made of atomics and
/// `UnsafeCell`s, so several `Region`s over the same memory (in one process or many) are fine.
///
/// ```
/// use ringfork_core::Region;
/// #[repr(C, align(128))]
/// struct Buf([u8; 256]);
/// let mut buf = Buf([0; 256]);
/// let region = Region::from_mut(&mut buf.0);
/// assert_eq!((region.len(), region.addr() % 128), (256, 0));
/// let tail = region.sub(192, 64).unwrap(); // bytes 192..256, for a second object
/// assert_eq!(tail.addr(), region.addr() + 192);
/// assert!(region.sub(200, 64).is_err()); // would leave the region
/// ```
#[derive(Clone, Copy)]
pub struct Region<'a> {
    ptr: NonNull<u8>,
    len: usize,
    _lt: PhantomData<&'a UnsafeCell<[u8]>>,
}

// SAFETY: a Region is an address range; the objects placed in it are Sync (atomics, or data guarded by
// locks). Sending the range to another thread is as safe as sharing `&UnsafeCell<[u8]>` across threads
// under those objects' own synchronization.
unsafe impl Send for Region<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for Region<'_> {}

impl fmt::Debug for Region<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({:#x}, {} bytes)", self.addr(), self.len)
    }
}

impl<'a> Region<'a> {
    /// A region over a buffer this code owns exclusively for `'a` (a `static` buffer, a local array, a
    /// mapping it just created). Fresh objects need zeroed memory (see [`crate::header::Header::claim`]).
    pub fn from_mut(buf: &'a mut [u8]) -> Region<'a> {
        Region {
            ptr: NonNull::from(&mut *buf).cast(),
            len: buf.len(),
            _lt: PhantomData,
        }
    }

    /// A region over raw memory, e.g. a shared mapping.
    ///
    /// # Safety
    /// - `ptr..ptr+len` must stay mapped, readable and writable for `'a`;
    /// - during `'a`, that memory is accessed only through ringfork objects (other processes may write
    ///   any bytes to it: objects treat its contents as untrusted).
    pub unsafe fn from_raw_parts(ptr: *mut u8, len: usize) -> Region<'a> {
        // A null pointer is never a valid mapping; map it to a dangling empty region instead of UB.
        match NonNull::new(ptr) {
            Some(ptr) => Region {
                ptr,
                len,
                _lt: PhantomData,
            },
            None => Region {
                ptr: NonNull::dangling(),
                len: 0,
                _lt: PhantomData,
            },
        }
    }

    /// The start address.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The start address as an integer.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sub-region `offset..offset+len`, if it lies inside this one.
    pub fn sub(&self, offset: usize, len: usize) -> Result<Region<'a>, ArenaError> {
        let end = offset.checked_add(len).ok_or(ArenaError::Overflow)?;
        if end > self.len {
            return Err(ArenaError::OutOfBounds {
                offset,
                len,
                region_len: self.len,
            });
        }
        // SAFETY: offset <= end <= self.len, so the result stays inside the region (Region invariant).
        let ptr = unsafe { self.ptr.add(offset) };
        Ok(Region {
            ptr,
            len,
            _lt: PhantomData,
        })
    }
}

/// Rounds `x` up to a multiple of `align` (a power of two), or `None` on overflow.
pub const fn align_up(x: usize, align: usize) -> Option<usize> {
    debug_assert!(align.is_power_of_two());
    match x.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

/// Why a placement failed.
///
/// ```
/// use ringfork_core::{Arena, ArenaError, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 256]);
/// let mut buf = Buf([0; 256]);
/// let mut arena = Arena::new(Region::from_mut(&mut buf.0));
/// let err = arena.place(512, 8).unwrap_err();
/// assert!(matches!(err, ArenaError::OutOfSpace { size: 512, free: 256, .. }));
/// assert_eq!(arena.place(8, 3).unwrap_err(), ArenaError::BadAlign { align: 3 });
/// assert!(err.to_string().contains("create a larger segment"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArenaError {
    /// The arena has no room for `size` more bytes at the required alignment.
    OutOfSpace {
        /// Bytes requested.
        size: usize,
        /// Alignment requested.
        align: usize,
        /// Bytes left (before alignment padding).
        free: usize,
    },
    /// The requested range is outside the region.
    OutOfBounds {
        /// Start of the range.
        offset: usize,
        /// Length of the range.
        len: usize,
        /// The region's length.
        region_len: usize,
    },
    /// The alignment is zero or not a power of two.
    BadAlign {
        /// The alignment given.
        align: usize,
    },
    /// An offset or size computation overflowed.
    Overflow,
    /// An object name longer than the directory holds (names are never silently cut).
    NameTooLong {
        /// The name's length in bytes.
        len: usize,
        /// The longest name that fits.
        max: usize,
    },
    /// The directory already lists an object of that name (names are unique in a segment).
    NameTaken {
        /// Its directory entry.
        index: usize,
    },
    /// The directory lock was not acquired within the deadline.
    DirectoryBusy,
    /// The segment's object directory is full.
    DirectoryFull,
}

impl fmt::Display for ArenaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ArenaError::OutOfSpace { size, align, free } => write!(
                f,
                "out of space: {size} bytes at alignment {align} requested, {free} bytes free; create a larger segment"
            ),
            ArenaError::OutOfBounds {
                offset,
                len,
                region_len,
            } => {
                write!(
                    f,
                    "range {offset}..{offset}+{len} lies outside a region of {region_len} bytes"
                )
            }
            ArenaError::BadAlign { align } => write!(f, "alignment {align} is not a power of two"),
            ArenaError::Overflow => f.write_str("offset or size overflows the address space"),
            ArenaError::DirectoryFull => f.write_str("the segment's object directory is full"),
            ArenaError::NameTooLong { len, max } => write!(
                f,
                "object name of {len} bytes is too long: at most {max} bytes fit in a segment's directory"
            ),
            ArenaError::NameTaken { index } => write!(
                f,
                "an object of that name already exists (directory entry {index}); open it, or use open_or_create"
            ),
            ArenaError::DirectoryBusy => f.write_str(
                "the segment's directory lock could not be taken in time (a live process holds it, or its word \
                 was overwritten); retry, or create a new segment",
            ),
        }
    }
}

impl core::error::Error for ArenaError {}

/// A bump allocator placing objects one after another in a region this process owns.
///
/// Placements never overlap and never leave the region: each one starts at or after the end of the
/// previous one, aligned, and is checked against the region's end. The arena itself lives in the
/// placing process; to let *other* processes find objects, use a segment directory
/// ([`crate::segment::SegmentHeader`]).
///
/// ```
/// use ringfork_core::{Arena, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 512]);
/// let mut buf = Buf([0; 512]);
/// let mut arena = Arena::new(Region::from_mut(&mut buf.0));
/// let (a, _) = arena.place(10, 8).unwrap();
/// let (b, rb) = arena.place(64, 64).unwrap();
/// assert_eq!((a, b), (0, 64)); // `b` starts at the next multiple of its alignment
/// assert_eq!(rb.len(), 64);
/// assert_eq!((arena.used(), arena.free()), (128, 384));
/// ```
#[derive(Debug)]
pub struct Arena<'a> {
    region: Region<'a>,
    next: usize,
}

impl<'a> Arena<'a> {
    /// An arena over all of `region`.
    pub fn new(region: Region<'a>) -> Self {
        Arena { region, next: 0 }
    }

    /// Reserves `size` bytes aligned to `align` *in memory* (absolute address, not just offset).
    pub fn place(&mut self, size: usize, align: usize) -> Result<(usize, Region<'a>), ArenaError> {
        let (offset, end) = placement(self.region.addr(), self.region.len(), self.next, size, align)?;
        let r = self.region.sub(offset, size)?;
        self.next = end;
        Ok((offset, r))
    }

    /// Bytes not yet placed.
    pub fn free(&self) -> usize {
        self.region.len() - self.next
    }

    /// Offset of the next free byte.
    pub fn used(&self) -> usize {
        self.next
    }
}

/// Where a `size`-byte, `align`-aligned placement goes in a region at `base` of `len` bytes whose first
/// free offset is `next`: `(offset, end)`, fully checked.
pub fn placement(
    base: usize,
    len: usize,
    next: usize,
    size: usize,
    align: usize,
) -> Result<(usize, usize), ArenaError> {
    if align == 0 || !align.is_power_of_two() {
        return Err(ArenaError::BadAlign { align });
    }
    if next > len {
        return Err(ArenaError::OutOfBounds {
            offset: next,
            len: 0,
            region_len: len,
        });
    }
    let abs = base.checked_add(next).ok_or(ArenaError::Overflow)?;
    let aligned = align_up(abs, align).ok_or(ArenaError::Overflow)?;
    let offset = aligned - base;
    let end = offset.checked_add(size).ok_or(ArenaError::Overflow)?;
    if end > len {
        return Err(ArenaError::OutOfSpace {
            size,
            align,
            free: len - next,
        });
    }
    Ok((offset, end))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn placements_never_overlap_or_escape() {
        #[repr(align(256))]
        struct Buf([u8; 4096]);
        let mut buf = Buf([0; 4096]);
        let mut arena = Arena::new(Region::from_mut(&mut buf.0));
        let mut taken: std::vec::Vec<(usize, usize)> = std::vec::Vec::new();
        let mut seed = 0x1234_5678_u64;
        loop {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let size = (seed % 300) as usize;
            let align = 1usize << ((seed >> 20) % 8);
            match arena.place(size, align) {
                Ok((off, r)) => {
                    assert_eq!(r.addr() % align, 0, "alignment");
                    assert!(off + size <= 4096, "in bounds");
                    for &(o, s) in &taken {
                        assert!(off >= o + s || off + size <= o || size == 0 || s == 0, "overlap");
                    }
                    taken.push((off, size));
                }
                Err(ArenaError::OutOfSpace { .. }) => break,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert!(taken.len() > 5);
        assert_eq!(arena.place(1, 3).unwrap_err(), ArenaError::BadAlign { align: 3 });
        assert_eq!(arena.place(1, 0).unwrap_err(), ArenaError::BadAlign { align: 0 });
        assert!(matches!(
            arena.place(usize::MAX, 1),
            Err(ArenaError::Overflow | ArenaError::OutOfSpace { .. })
        ));
    }

    #[test]
    fn sub_is_bounded() {
        let mut b = [0u8; 64];
        let r = Region::from_mut(&mut b);
        assert!(r.sub(0, 64).is_ok());
        assert!(r.sub(1, 64).is_err());
        assert_eq!(r.sub(usize::MAX, 2).unwrap_err(), ArenaError::Overflow);
        assert!(placement(0, 10, 11, 0, 1).is_err());
    }
}
