//! Typed errors for placing and attaching shared objects.

use crate::header::Kind;
use core::fmt;

/// Why [`crate::header::Header::attach`] (or any primitive's `attach`) refused a region.
///
/// Every variant says what was found and what was expected, so a user can tell a stale segment from
/// the wrong name from a corrupted one.
///
/// ```
/// use ringfork_core::cell::ShmCell;
/// use ringfork_core::{wait::DefaultWait, AttachError, Deadline, Header, Kind, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let region = Region::from_mut(&mut buf.0);
/// ShmCell::<u64>::init::<DefaultWait>(region, 7).unwrap();
/// let err = Header::attach::<DefaultWait>(region, Kind::Mutex, Deadline::Immediate).unwrap_err();
/// assert!(matches!(err, AttachError::KindMismatch { expected: Kind::Mutex, found: 17 }));
/// let err = ShmCell::<u32>::attach::<DefaultWait>(region, Deadline::Immediate).unwrap_err();
/// assert!(matches!(err, AttachError::LayoutMismatch { field: "elem_size", expected: 4, found: 8 }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// The region is smaller than the header or than the size the header claims.
    TooSmall {
        /// Bytes the object needs.
        needed: usize,
        /// Bytes the region has.
        available: usize,
    },
    /// The region's start is not aligned for the object.
    Misaligned {
        /// Alignment the object needs.
        align: usize,
        /// The region's address modulo `align`.
        offset: usize,
    },
    /// The first word is not ringfork's magic number: not a ringfork object (or not initialized).
    BadMagic {
        /// The word found.
        found: u32,
    },
    /// The object was written by an incompatible version of ringfork.
    VersionMismatch {
        /// This build's ABI version.
        expected: u32,
        /// The version in the header.
        found: u32,
    },
    /// The object was written by a build whose shared layouts use words of another width (a target
    /// without 64-bit atomics writes 32-bit positions and counters, see `ringfork_core::atomic::Word`).
    WordWidthMismatch {
        /// This build's word width in bits (32 or 64).
        expected: u32,
        /// The word width the object was created with.
        found: u32,
    },
    /// The object is a different kind of primitive.
    KindMismatch {
        /// The kind the caller asked for.
        expected: Kind,
        /// The raw kind found in the header (see [`Kind::from_raw`]).
        found: u32,
    },
    /// A layout parameter differs (element size, capacity, ...).
    LayoutMismatch {
        /// Which parameter.
        field: &'static str,
        /// The value this attacher expects.
        expected: u64,
        /// The value in the header.
        found: u64,
    },
    /// The object did not reach READY before the attach deadline (its creator is still initializing
    /// it, or died while doing so).
    NotReady {
        /// The raw init state found.
        state: u32,
    },
    /// The header is internally inconsistent (e.g. a capacity that does not fit the size it claims).
    Corrupted {
        /// What is wrong.
        what: &'static str,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AttachError::TooSmall { needed, available } => write!(
                f,
                "region too small: the object needs {needed} bytes but the region has {available}; \
                 check the segment size and the object's offset"
            ),
            AttachError::Misaligned { align, offset } => write!(
                f,
                "region misaligned: the object needs {align}-byte alignment but starts {offset} bytes past \
                 an aligned address"
            ),
            AttachError::BadMagic { found } => write!(
                f,
                "not a ringfork object: bad magic {found:#010x} (expected {:#010x}); wrong name or offset, \
                 or the object was never initialized",
                crate::header::MAGIC
            ),
            AttachError::VersionMismatch { expected, found } => write!(
                f,
                "ABI version mismatch: this build speaks version {expected}, the object was created by \
                 version {found}; rebuild both sides with the same ringfork"
            ),
            AttachError::WordWidthMismatch { expected, found } => write!(
                f,
                "word width mismatch: this build's layouts use {expected}-bit words, the object was created \
                 with {found}-bit words (by a build for a target {}); both sides of an object must be built \
                 for targets with the same atomic width",
                if found == 32 {
                    "without 64-bit atomics"
                } else {
                    "with 64-bit atomics"
                }
            ),
            AttachError::KindMismatch { expected, found } => match Kind::from_raw(found) {
                Some(k) => write!(
                    f,
                    "kind mismatch: this handle type opens objects of kind `{expected}`, the object is of \
                     kind `{k}`; open it with the matching type"
                ),
                None => write!(
                    f,
                    "kind mismatch: this handle type opens objects of kind `{expected}`, the object has the \
                     unknown kind number {found} (a newer ringfork, or not a ringfork object)"
                ),
            },
            AttachError::LayoutMismatch { field, expected, found } => write!(
                f,
                "layout mismatch in `{field}`: this side expects {expected}, the object has {found}; \
                 both sides must use the same element type and parameters"
            ),
            AttachError::NotReady { state } => write!(
                f,
                "object not ready (init state {state}): its creator has not finished initializing it, \
                 or died while doing so"
            ),
            AttachError::Corrupted { what } => write!(f, "corrupted header: {what}"),
        }
    }
}

/// Why an object could not be initialized in a region.
///
/// ```
/// use ringfork_core::cell::ShmCell;
/// use ringfork_core::{wait::DefaultWait, InitError, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let region = Region::from_mut(&mut buf.0);
/// ShmCell::<u64>::init::<DefaultWait>(region, 7).unwrap();
/// let again = ShmCell::<u64>::init::<DefaultWait>(region, 8); // one object per region
/// assert!(matches!(again, Err(InitError::AlreadyInitialized { .. })));
/// let small = ShmCell::<[u8; 100]>::init::<DefaultWait>(region, [0; 100]);
/// assert!(matches!(small, Err(InitError::TooSmall { needed: 164, available: 128 })));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The region is too small for the requested parameters.
    TooSmall {
        /// Bytes the object needs.
        needed: usize,
        /// Bytes the region has.
        available: usize,
    },
    /// The region's start is not aligned for the object.
    Misaligned {
        /// Alignment the object needs.
        align: usize,
        /// The region's address modulo `align`.
        offset: usize,
    },
    /// Another process already claimed this region (its init state is not UNINIT).
    AlreadyInitialized {
        /// The raw init state found.
        state: u32,
    },
    /// A parameter is out of range (capacity 0, a size that overflows, ...).
    InvalidParameter {
        /// Which parameter.
        name: &'static str,
        /// Why it is rejected.
        reason: &'static str,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InitError::TooSmall { needed, available } => {
                write!(
                    f,
                    "region too small: the object needs {needed} bytes but the region has {available}"
                )
            }
            InitError::Misaligned { align, offset } => {
                write!(
                    f,
                    "region misaligned: needs {align}-byte alignment, starts {offset} bytes past one"
                )
            }
            InitError::AlreadyInitialized { state } => write!(
                f,
                "region already claimed (init state {state}): another object lives here; attach to it \
                 instead, or use a fresh region"
            ),
            InitError::InvalidParameter { name, reason } => write!(f, "invalid `{name}`: {reason}"),
        }
    }
}

impl core::error::Error for AttachError {}
impl core::error::Error for InitError {}
