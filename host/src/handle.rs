//! Handle types: a clone of a [`Segment`] plus a typed view of one object in it.
//!
//! Every host primitive follows the pattern shown by [`ShmCell`]: `new` (its own anonymous segment),
//! `new_in` (placed in a given segment under a name), `open` (attached by name, validated), and cheap
//! `Clone` so that `let x2 = x.clone();` can be moved into a child process's closure.

use crate::segment::{Segment, SegmentError};
use ringfork_core::wait::DefaultWait;
use ringfork_core::{Deadline, Kind, Region, ShmSafe};
use std::fmt;
use std::time::Duration;

/// How long `open` waits for an object another process is still initializing.
pub const ATTACH_TIMEOUT: Duration = Duration::from_secs(2);

/// Places a new object of `kind` in `seg` and returns its region with a `'static` lifetime.
///
/// # Safety
/// The caller keeps a clone of `seg` alive while it uses the region (handle types store one).
pub(crate) unsafe fn place(
    seg: &Segment,
    kind: Kind,
    name: &str,
    size: usize,
    align: usize,
) -> Result<Region<'static>, SegmentError> {
    let off = seg.alloc(kind, name, size, align)?;
    // SAFETY: forwarded to the caller.
    unsafe { seg.sub_region_static(off, size) }
}

/// The region of the object called `name` in `seg` (its directory entry, bounds-checked).
///
/// # Safety
/// As for [`place`].
pub(crate) unsafe fn locate(seg: &Segment, name: &str) -> Result<Region<'static>, SegmentError> {
    let e = seg
        .find(name)
        .ok_or_else(|| SegmentError::NoSuchObject { name: name.to_owned() })?;
    // SAFETY: forwarded to the caller.
    unsafe { seg.sub_region_static(e.offset, e.size) }
}

/// Converts an attach failure into a segment error naming the segment.
pub(crate) fn attach_err(seg: &Segment, source: ringfork_core::AttachError) -> SegmentError {
    SegmentError::Attach {
        name: seg.name().map(str::to_owned),
        source,
    }
}

/// Defines `open_or_create` on a handle type from its `new_in` and `open`: race-free "create if
/// missing" (the segment's directory serializes creation and names are unique).
macro_rules! open_or_create {
    ($($arg:ident: $ty:ty),*) => {
        /// Opens the object `name` in `seg`, creating it with these parameters if the segment has none.
        /// Race-free: when several processes do this at once, exactly one object results (the
        /// segment's directory serializes creation and names are unique); the others open what the
        /// winner created, waiting up to two seconds for it to be ready. If the object already
        /// existed, its own parameters win (`open` checks its kind and element type).
        pub fn open_or_create(seg: &Segment, name: &str, $($arg: $ty),*) -> Result<Self, SegmentError> {
            match Self::new_in(seg, name, $($arg),*) {
                Err(SegmentError::ObjectExists { .. }) => Self::open(seg, name),
                r => r,
            }
        }
    };
}
pub(crate) use open_or_create;

/// A `T` in shared memory with no lock (see [`ringfork_core::cell`]): for data written before the
/// reader looks, e.g. a result slot a child fills before it exits.
///
/// ```
/// let c = ringfork::ShmCell::new(1u64)?;
/// c.set(2);
/// assert_eq!(c.get(), 2);
/// # Ok::<(), ringfork::SegmentError>(())
/// ```
#[derive(Clone)]
pub struct ShmCell<T: ShmSafe> {
    // Field order matters: `cell` borrows the mapping `seg` keeps alive, and fields drop in order.
    cell: ringfork_core::cell::ShmCell<'static, T>,
    seg: Segment,
}

impl<T: ShmSafe + fmt::Debug> fmt::Debug for ShmCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmCell").field("value", &self.get()).finish()
    }
}

impl<T: ShmSafe> ShmCell<T> {
    /// A cell holding `value` in a new anonymous segment.
    pub fn new(value: T) -> Result<Self, SegmentError> {
        let seg = Segment::anonymous(ringfork_core::cell::ShmCell::<T>::size())?;
        Self::new_in(&seg, "cell", value)
    }

    crate::handle::open_or_create!(value: T);

    /// A cell holding `value`, placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, value: T) -> Result<Self, SegmentError> {
        let size = ringfork_core::cell::ShmCell::<T>::size();
        // SAFETY: the returned handle stores a clone of `seg`.
        let region = unsafe { place(seg, Kind::Cell, name, size, ringfork_core::cell::ShmCell::<T>::align())? };
        let cell =
            ringfork_core::cell::ShmCell::init::<DefaultWait>(region, value).map_err(SegmentError::ObjectInit)?;
        Ok(ShmCell { cell, seg: seg.clone() })
    }

    /// Attaches to the cell called `name` in `seg`, validating its header and element type.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        // SAFETY: the returned handle stores a clone of `seg`.
        let region = unsafe { locate(seg, name)? };
        let cell = ringfork_core::cell::ShmCell::attach::<DefaultWait>(
            region,
            Deadline::after::<<DefaultWait as ringfork_core::Wait>::Clock>(ATTACH_TIMEOUT),
        )
        .map_err(|e| attach_err(seg, e))?;
        Ok(ShmCell { cell, seg: seg.clone() })
    }

    /// Reads the value.
    pub fn get(&self) -> T {
        self.cell.get()
    }

    /// Writes the value.
    pub fn set(&self, v: T) {
        self.cell.set(v)
    }

    /// The segment the cell lives in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}
