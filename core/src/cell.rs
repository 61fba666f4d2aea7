//! [`ShmCell`]: one `ShmSafe` value in shared memory behind an object header, with no lock.
//!
//! The simplest object: it exists to show (and test) the init/attach protocol end to end, and for data
//! that one side writes before the other reads (publish it with a separate flag, event or queue).
//! Concurrent writers can tear a value larger than 8 bytes; use the `Value` types for locked access.
//!
//! # Layout
//! | offset              | size          | field    | written by          |
//! |--------------------:|--------------:|----------|---------------------|
//! | 0                   | 64            | header   | initializer         |
//! | align_up(64, align) | `size_of::<T>` | value  | anyone (volatile)   |

use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams, HEADER_SIZE};
use crate::region::{align_up, Region};
use crate::time::Deadline;
use crate::wait::Wait;
use crate::ShmSafe;
use core::marker::PhantomData;

/// A `T` in shared memory. See the module docs. A `ShmCell` is a view (a reference to the header and
/// a pointer to the value): copying it is free.
///
/// ```
/// use ringfork_core::cell::ShmCell;
/// use ringfork_core::{wait::DefaultWait, Deadline, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let region = Region::from_mut(&mut buf.0);
/// assert!(ShmCell::<[u32; 4]>::size() <= region.len());
/// let cell = ShmCell::<[u32; 4]>::init::<DefaultWait>(region, [1, 2, 3, 4]).unwrap();
/// let seen = ShmCell::<[u32; 4]>::attach::<DefaultWait>(region, Deadline::Immediate).unwrap();
/// cell.set([5; 4]);
/// assert_eq!(seen.get(), [5; 4]);
/// ```
#[derive(Clone, Copy)]
pub struct ShmCell<'a, T: ShmSafe> {
    header: &'a Header,
    value: *mut T,
    _t: PhantomData<&'a T>,
}

// SAFETY: the value is only accessed with volatile copies of a `ShmSafe` (Copy, any bit pattern) type;
// a torn read yields some valid T, never UB from the type's point of view. The header is atomics.
unsafe impl<T: ShmSafe> Send for ShmCell<'_, T> {}
// SAFETY: as for Send.
unsafe impl<T: ShmSafe> Sync for ShmCell<'_, T> {}

impl<T: ShmSafe + core::fmt::Debug> core::fmt::Debug for ShmCell<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShmCell").field("value", &self.get()).finish()
    }
}

impl<'a, T: ShmSafe> ShmCell<'a, T> {
    fn value_offset() -> usize {
        // HEADER_SIZE + align can only overflow for absurd alignments; fall back to a size that
        // `claim` rejects.
        align_up(HEADER_SIZE, core::mem::align_of::<T>()).unwrap_or(usize::MAX)
    }

    /// Bytes a cell of `T` needs.
    pub fn size() -> usize {
        Self::value_offset().saturating_add(core::mem::size_of::<T>())
    }

    /// Alignment a cell of `T` needs.
    pub fn align() -> usize {
        core::mem::align_of::<T>().max(8)
    }

    /// Creates a cell holding `value` at the start of `region` and publishes it.
    pub fn init<W: Wait>(region: Region<'a>, value: T) -> Result<Self, InitError> {
        let params = ObjectParams::new(Kind::Cell, Self::size() as u64).with_elem::<T>();
        let claim = Header::claim(region, &params, Self::align())?;
        let ptr = Self::value_ptr(region);
        // SAFETY: claim succeeded, so the region holds Self::size() bytes aligned for T (claim checked
        // size and alignment), and we own the body until publish.
        unsafe { ptr.write_volatile(value) };
        let header = claim.publish::<W>();
        Ok(ShmCell {
            header,
            value: ptr,
            _t: PhantomData,
        })
    }

    /// Attaches to the cell at the start of `region`, waiting for READY until `deadline`.
    pub fn attach<W: Wait>(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let header = Header::attach::<W>(region, Kind::Cell, deadline)?;
        header.expect_elem::<T>()?;
        Header::expect("size", Self::size() as u64, header.size())?;
        // Header::attach checked size <= region.len() and the region's alignment (8); T's alignment:
        if region.addr() % Self::align() != 0 {
            return Err(AttachError::Misaligned {
                align: Self::align(),
                offset: region.addr() % Self::align(),
            });
        }
        Ok(ShmCell {
            header,
            value: Self::value_ptr(region),
            _t: PhantomData,
        })
    }

    fn value_ptr(region: Region<'a>) -> *mut T {
        // The offset is inside the region for every caller (size validated); wrapping_add avoids UB
        // even if it were not, and the pointer is not dereferenced on error paths.
        region.as_ptr().wrapping_add(Self::value_offset()) as *mut T
    }

    /// Reads the value: a copy made of atomic loads ([`crate::racy_copy`]), so a concurrent `set`
    /// is not a data race; a `T` wider than a machine word may be torn (still a valid `T`).
    pub fn get(&self) -> T {
        // SAFETY: `value` points inside the validated region, aligned for T, mapped for 'a; every
        // access to it goes through racy_copy (atomic) or another process.
        unsafe { crate::racy_copy::load(self.value) }
    }

    /// Writes the value: atomic stores ([`crate::racy_copy`]).
    pub fn set(&self, v: T) {
        // SAFETY: as for `get`; writes of plain data cannot break another process's invariants beyond
        // the value itself.
        unsafe { crate::racy_copy::store(self.value, v) }
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }
}
