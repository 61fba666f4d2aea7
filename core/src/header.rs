//! The object header every shared object starts with, and its init protocol.
//!
//! # Layout (64 bytes, align 8; ABI version 2)
//!
//! | offset | size | field        | written by                     | meaning                                   |
//! |-------:|-----:|--------------|--------------------------------|-------------------------------------------|
//! | 0      | 4    | `magic`      | initializer, once              | [`MAGIC`] (`"RFK!"`)                       |
//! | 4      | 4    | `version`    | initializer, once              | [`VERSION_WORD`]: [`ABI_VERSION`] \| [`WORDS32`] if 32-bit words |
//! | 8      | 4    | `kind`       | initializer, once              | [`Kind`] as `u32`                         |
//! | 12     | 4    | `state`      | initializer (CAS, then Release)| [`UNINIT`] → [`INITIALIZING`] → [`READY`] |
//! | 16     | 8    | `size`       | initializer, once              | total bytes of the object, header included|
//! | 24     | 8    | `capacity`   | initializer, once              | slots / bytes / parties (kind-specific)   |
//! | 32     | 4    | `elem_size`  | initializer, once              | `size_of` of the element type (0 if none) |
//! | 36     | 4    | `elem_align` | initializer, once              | `align_of` of the element type            |
//! | 40     | 8    | `msg_limit`  | initializer, once              | largest message in bytes (byte rings)     |
//! | 48     | 8    | `tag`        | initializer, once              | kind-specific layout fingerprint          |
//! | 56     | 4    | `flags`      | initializer, once              | kind-specific option bits                 |
//! | 60     | 4    | `reserved`   | nobody                         | zero                                      |
//!
//! The header is the same in both word-width variants (see [`crate::atomic::Word`]); on targets without
//! 64-bit atomics its 8-byte fields are [`crate::atomic::SplitU64`]s (two 32-bit halves, same bytes),
//! which is enough because they are written before `READY` is published.
//!
//! Every field is an atomic so that a reader in another process never races a plain write, even if the
//! writer is buggy or hostile; loads are `Relaxed` except `state` (see [`Header::attach`]).
//!
//! # Protocol
//! [`Header::claim`] moves `state` from `UNINIT` to `INITIALIZING` with a CAS (so two initializers can
//! never both succeed), writes the fields, and returns a [`Claim`]; the primitive writes its body and
//! calls [`Claim::publish`], which stores `READY` with Release and wakes attachers. [`Header::attach`]
//! waits (bounded by a deadline) for `READY` with Acquire, then validates every field. A creator that
//! dies mid-init leaves `INITIALIZING` forever; attachers then fail with [`AttachError::NotReady`].

use crate::atomic::{AtomicU32, AtomicU64Field, Ordering};
use crate::error::{AttachError, InitError};
use crate::region::Region;
use crate::time::Deadline;
use crate::wait::Wait;
use core::fmt;

/// The first word of every ringfork object: `"RFK!"` read as a little-endian `u32`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"RFK!");
/// The version of the shared-memory ABI this build reads and writes. Bumped on any layout change;
/// see `docs/layout.md` ("Versioning").
pub const ABI_VERSION: u32 = 4;

/// Bit of the header's version word set by builds whose layouts use 32-bit words (targets without
/// 64-bit atomics, see [`crate::atomic::Word`]): the 32-bit layouts are their own ABI variant. A
/// build for the other width refuses such an object with [`AttachError::WordWidthMismatch`], and a
/// build older than this bit with [`AttachError::VersionMismatch`].
pub const WORDS32: u32 = 1 << 16;

/// The version word this build writes into (and expects in) every header: [`ABI_VERSION`], plus
/// [`WORDS32`] where layouts use 32-bit words.
pub const VERSION_WORD: u32 = if crate::atomic::WORDS32 {
    ABI_VERSION | WORDS32
} else {
    ABI_VERSION
};

/// The width in bits of the words in the layouts of an object whose header holds `version`.
pub const fn word_bits(version: u32) -> u32 {
    if version & WORDS32 != 0 {
        32
    } else {
        64
    }
}

/// Init state: the region has not been claimed (fresh shared memory is zero).
pub const UNINIT: u32 = 0;
/// Init state: an initializer owns the region and is writing it.
pub const INITIALIZING: u32 = 1;
/// Init state: the object is fully written and may be attached.
pub const READY: u32 = 2;

/// The header's size in bytes (the body of an object starts at or after this offset).
pub const HEADER_SIZE: usize = 64;

/// What kind of primitive an object is. The numbers are ABI: never reuse one.
///
/// ```
/// use ringfork_core::cell::ShmCell;
/// use ringfork_core::{wait::DefaultWait, Kind, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let cell = ShmCell::<u64>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 0).unwrap();
/// let raw = cell.header().snapshot().kind; // the number stored in shared memory
/// assert_eq!(Kind::from_raw(raw), Some(Kind::Cell));
/// assert_eq!(Kind::from_raw(999), None); // a number this build does not know: no guess
/// assert!(Kind::ALL.contains(&Kind::Cell));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum Kind {
    /// Robust mutex with protected data.
    Mutex = 1,
    /// Pure spin lock.
    SpinLock = 2,
    /// Reentrant lock.
    RLock = 3,
    /// Counting semaphore (bounded or not, see `flags`).
    Semaphore = 4,
    /// Event flag.
    Event = 5,
    /// Condition variable.
    Condition = 6,
    /// Barrier.
    Barrier = 7,
    /// Shared value (with or without its own lock).
    Value = 8,
    /// Shared array (with or without its own lock).
    Array = 9,
    /// Single-producer single-consumer ring of fixed-size elements.
    Spsc = 10,
    /// Multi-producer multi-consumer ring of fixed-size elements.
    Mpmc = 11,
    /// Ring of variable-length byte messages.
    ByteRing = 12,
    /// Blocking MPMC queue (Python's `Queue`).
    Queue = 13,
    /// Joinable queue.
    JoinableQueue = 14,
    /// One direction of a pipe.
    Pipe = 15,
    /// Process pool bookkeeping.
    Pool = 16,
    /// A plain cell of `ShmSafe` data (tests, examples, user data).
    Cell = 17,
    /// Simple queue.
    SimpleQueue = 18,
    /// Two SPSC rings with interleaved slots (a duplex channel).
    SpscPair = 19,
}

impl Kind {
    /// Every kind, for lookups.
    pub const ALL: [Kind; 19] = [
        Kind::Mutex,
        Kind::SpinLock,
        Kind::RLock,
        Kind::Semaphore,
        Kind::Event,
        Kind::Condition,
        Kind::Barrier,
        Kind::Value,
        Kind::Array,
        Kind::Spsc,
        Kind::Mpmc,
        Kind::ByteRing,
        Kind::Queue,
        Kind::JoinableQueue,
        Kind::Pipe,
        Kind::Pool,
        Kind::Cell,
        Kind::SimpleQueue,
        Kind::SpscPair,
    ];

    /// The kind numbered `raw`, if any.
    pub fn from_raw(raw: u32) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| *k as u32 == raw)
    }

    /// A short lowercase name (`"mutex"`, `"spsc"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mutex => "mutex",
            Kind::SpinLock => "spinlock",
            Kind::RLock => "rlock",
            Kind::Semaphore => "semaphore",
            Kind::Event => "event",
            Kind::Condition => "condition",
            Kind::Barrier => "barrier",
            Kind::Value => "value",
            Kind::Array => "array",
            Kind::Spsc => "spsc",
            Kind::Mpmc => "mpmc",
            Kind::ByteRing => "bytering",
            Kind::Queue => "queue",
            Kind::JoinableQueue => "joinablequeue",
            Kind::Pipe => "pipe",
            Kind::Pool => "pool",
            Kind::Cell => "cell",
            Kind::SimpleQueue => "simplequeue",
            Kind::SpscPair => "spscpair",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The parameters that fix an object's layout, written into its header at init.
///
/// ```
/// use ringfork_core::{Header, Kind, ObjectParams, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let params = ObjectParams::new(Kind::Cell, 72).with_elem::<u64>();
/// assert_eq!((params.elem_size, params.elem_align, params.capacity), (8, 8, 0));
/// let claim = Header::claim(Region::from_mut(&mut buf.0), &params, 8).unwrap();
/// assert_eq!((claim.header().size(), claim.header().elem_size()), (72, 8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectParams {
    /// The kind of object.
    pub kind: Kind,
    /// Total bytes, header included.
    pub size: u64,
    /// Slots, bytes, parties... (kind-specific; 0 if unused).
    pub capacity: u64,
    /// `size_of` the element type (0 if none).
    pub elem_size: u32,
    /// `align_of` the element type (1 if none).
    pub elem_align: u32,
    /// Largest message in bytes (0 if unused).
    pub msg_limit: u64,
    /// Kind-specific fingerprint (0 if unused).
    pub tag: u64,
    /// Kind-specific option bits.
    pub flags: u32,
}

impl ObjectParams {
    /// Parameters for `kind` with `size` bytes and everything else zero / align 1.
    pub const fn new(kind: Kind, size: u64) -> Self {
        ObjectParams {
            kind,
            size,
            capacity: 0,
            elem_size: 0,
            elem_align: 1,
            msg_limit: 0,
            tag: 0,
            flags: 0,
        }
    }

    /// Sets the element type's size and alignment from `T`.
    pub const fn with_elem<T>(mut self) -> Self {
        self.elem_size = core::mem::size_of::<T>() as u32;
        self.elem_align = core::mem::align_of::<T>() as u32;
        self
    }
}

/// The 64-byte header at the start of every shared object. See the module docs for the layout table.
///
/// Writing an object by hand: claim, fill the body, publish; the other side attaches and checks.
/// ```
/// use ringfork_core::{wait::DefaultWait, Deadline, Header, Kind, ObjectParams, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let region = Region::from_mut(&mut buf.0);
/// let params = ObjectParams::new(Kind::Cell, 96).with_elem::<u32>();
/// let claim = Header::claim(region, &params, 8).unwrap();
/// // ... write the body through `claim.region()` here ...
/// claim.publish::<DefaultWait>();
/// let h = Header::attach::<DefaultWait>(region, Kind::Cell, Deadline::Immediate).unwrap();
/// assert_eq!(h.size(), 96);
/// assert!(h.expect_elem::<u32>().is_ok() && h.expect_elem::<u64>().is_err());
/// ```
#[repr(C)]
pub struct Header {
    magic: AtomicU32,
    version: AtomicU32,
    kind: AtomicU32,
    state: AtomicU32,
    size: AtomicU64Field,
    capacity: AtomicU64Field,
    elem_size: AtomicU32,
    elem_align: AtomicU32,
    msg_limit: AtomicU64Field,
    tag: AtomicU64Field,
    flags: AtomicU32,
    reserved: AtomicU32,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<Header>() == HEADER_SIZE);
    assert!(core::mem::align_of::<Header>() == 8);
    assert!(core::mem::offset_of!(Header, state) == 12);
    assert!(core::mem::offset_of!(Header, size) == 16);
    assert!(core::mem::offset_of!(Header, msg_limit) == 40);
    assert!(core::mem::offset_of!(Header, reserved) == 60);
};

/// A snapshot of a header's fields, read without validation (for `ringfork inspect`).
///
/// ```
/// use ringfork_core::cell::ShmCell;
/// use ringfork_core::header::{Header, READY};
/// use ringfork_core::{wait::DefaultWait, Region, MAGIC};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let region = Region::from_mut(&mut buf.0);
/// ShmCell::<u32>::init::<DefaultWait>(region, 9).unwrap();
/// let snap = Header::peek(region).unwrap().snapshot(); // no validation: any bytes give a snapshot
/// assert_eq!((snap.magic, snap.state, snap.elem_size), (MAGIC, READY, 4));
/// assert_eq!(snap.size, ShmCell::<u32>::size() as u64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderSnapshot {
    /// Raw magic.
    pub magic: u32,
    /// Raw ABI version.
    pub version: u32,
    /// Raw kind.
    pub kind: u32,
    /// Raw init state.
    pub state: u32,
    /// Claimed total size.
    pub size: u64,
    /// Capacity parameter.
    pub capacity: u64,
    /// Element size.
    pub elem_size: u32,
    /// Element alignment.
    pub elem_align: u32,
    /// Message limit.
    pub msg_limit: u64,
    /// Kind-specific tag.
    pub tag: u64,
    /// Kind-specific flags.
    pub flags: u32,
}

/// An object claimed by [`Header::claim`]: the header is written, the state is `INITIALIZING`, and the
/// caller owns the body until [`Claim::publish`]. Dropping a claim without publishing returns the
/// region to `UNINIT`, so a failed init can be retried.
///
/// ```
/// use ringfork_core::header::{Claim, READY};
/// use ringfork_core::{wait::DefaultWait, Deadline, Header, Kind, ObjectParams, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let region = Region::from_mut(&mut buf.0);
/// let params = ObjectParams::new(Kind::Cell, 128);
/// let failed: Claim<'_> = Header::claim(region, &params, 8).unwrap();
/// drop(failed); // never published: rolled back, so a retry may claim the region
/// let claim = Header::claim(region, &params, 8).unwrap();
/// assert_eq!(claim.publish::<DefaultWait>().state(), READY);
/// assert!(Header::attach::<DefaultWait>(region, Kind::Cell, Deadline::Immediate).is_ok());
/// ```
#[must_use = "an unpublished claim is rolled back when dropped"]
pub struct Claim<'a> {
    region: Region<'a>,
    header: &'a Header,
    published: bool,
}

impl fmt::Debug for Claim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim").field("region", &self.region).finish()
    }
}

impl<'a> Claim<'a> {
    /// The claimed region (the whole object, header included).
    pub fn region(&self) -> Region<'a> {
        self.region
    }

    /// The header being initialized.
    pub fn header(&self) -> &'a Header {
        self.header
    }

    /// Marks the object READY (Release) and wakes attachers waiting through `W`.
    pub fn publish<W: Wait>(mut self) -> &'a Header {
        self.published = true;
        // Ordering: Release publishes every write made to the header and body before this store to
        // the attacher's Acquire load of `state` in `Header::attach`.
        self.header.state.store(READY, Ordering::Release);
        W::wake_all(&self.header.state);
        self.header
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.published {
            // Ordering: Release so a later claimant that CASes UNINIT -> INITIALIZING (Acquire) sees
            // our partial writes finished before it rewrites them.
            self.header.state.store(UNINIT, Ordering::Release);
        }
    }
}

impl Header {
    /// Claims `region` for a new object described by `params` and writes the header.
    ///
    /// Fails if the region is too small or misaligned for `params.size` / `align`, or if its state is
    /// not `UNINIT` (fresh shared memory is zero; a used region must not be re-initialized while others
    /// may be attached to it).
    pub fn claim<'a>(region: Region<'a>, params: &ObjectParams, align: usize) -> Result<Claim<'a>, InitError> {
        let align = align.max(core::mem::align_of::<Header>());
        let size = usize::try_from(params.size).map_err(|_| InitError::InvalidParameter {
            name: "size",
            reason: "does not fit in this platform's address space",
        })?;
        if size < HEADER_SIZE {
            return Err(InitError::InvalidParameter {
                name: "size",
                reason: "smaller than the 64-byte header",
            });
        }
        if region.len() < size {
            return Err(InitError::TooSmall {
                needed: size,
                available: region.len(),
            });
        }
        let offset = region.addr() % align;
        if offset != 0 {
            return Err(InitError::Misaligned { align, offset });
        }
        // SAFETY: the region is at least HEADER_SIZE bytes (checked above) and 8-aligned, valid for
        // 'a (Region's invariant); Header is all atomics, so a shared reference to shared memory is
        // sound whatever other processes do to those bytes.
        let header = unsafe { &*(region.as_ptr() as *const Header) };
        // Ordering: Acquire pairs with the Release store of UNINIT by a rolled-back claim.
        if let Err(state) = header
            .state
            .compare_exchange(UNINIT, INITIALIZING, Ordering::Acquire, Ordering::Relaxed)
        {
            return Err(InitError::AlreadyInitialized { state });
        }
        // Ordering (all Relaxed stores below): published by the Release store of READY in `publish`.
        header.magic.store(MAGIC, Ordering::Relaxed);
        header.version.store(VERSION_WORD, Ordering::Relaxed);
        header.kind.store(params.kind as u32, Ordering::Relaxed);
        header.size.store(params.size, Ordering::Relaxed);
        header.capacity.store(params.capacity, Ordering::Relaxed);
        header.elem_size.store(params.elem_size, Ordering::Relaxed);
        header.elem_align.store(params.elem_align, Ordering::Relaxed);
        header.msg_limit.store(params.msg_limit, Ordering::Relaxed);
        header.tag.store(params.tag, Ordering::Relaxed);
        header.flags.store(params.flags, Ordering::Relaxed);
        header.reserved.store(0, Ordering::Relaxed);
        Ok(Claim {
            region,
            header,
            published: false,
        })
    }

    /// Attaches to the object at the start of `region`: waits (through `W`, until `deadline`) for it
    /// to be READY, then checks magic, version, kind, and that the size it claims fits the region.
    /// The caller then validates its kind-specific parameters (use [`Header::expect`]).
    ///
    /// Whatever bytes the region holds, this returns an error or a header; it never panics.
    pub fn attach<'a, W: Wait>(region: Region<'a>, kind: Kind, deadline: Deadline) -> Result<&'a Header, AttachError> {
        let header = Self::peek(region)?;
        loop {
            // Ordering: Acquire pairs with the Release store of READY in `Claim::publish`, so every
            // field and the body written before it are visible below.
            let state = header.state.load(Ordering::Acquire);
            match state {
                READY => break,
                UNINIT | INITIALIZING => {
                    if W::wait(&header.state, state, deadline).is_err() {
                        return Err(AttachError::NotReady { state });
                    }
                }
                _ => {
                    let magic = header.magic.load(Ordering::Relaxed);
                    return Err(if magic != MAGIC {
                        AttachError::BadMagic { found: magic }
                    } else {
                        AttachError::Corrupted {
                            what: "init state is not UNINIT, INITIALIZING or READY",
                        }
                    });
                }
            }
        }
        let s = header.snapshot();
        if s.magic != MAGIC {
            return Err(AttachError::BadMagic { found: s.magic });
        }
        if s.version != VERSION_WORD {
            return Err(if s.version ^ WORDS32 == VERSION_WORD {
                AttachError::WordWidthMismatch {
                    expected: word_bits(VERSION_WORD),
                    found: word_bits(s.version),
                }
            } else {
                AttachError::VersionMismatch {
                    expected: VERSION_WORD,
                    found: s.version,
                }
            });
        }
        if s.kind != kind as u32 {
            return Err(AttachError::KindMismatch {
                expected: kind,
                found: s.kind,
            });
        }
        if s.size < HEADER_SIZE as u64 {
            return Err(AttachError::Corrupted {
                what: "size is smaller than the header",
            });
        }
        if s.size > region.len() as u64 {
            return Err(AttachError::TooSmall {
                needed: usize::try_from(s.size).unwrap_or(usize::MAX),
                available: region.len(),
            });
        }
        if s.elem_align != 0 && !s.elem_align.is_power_of_two() {
            return Err(AttachError::Corrupted {
                what: "element alignment is not a power of two",
            });
        }
        Ok(header)
    }

    /// The header at the start of `region` without waiting or validating anything beyond size and
    /// alignment (for inspection tools).
    pub fn peek(region: Region<'_>) -> Result<&Header, AttachError> {
        if region.len() < HEADER_SIZE {
            return Err(AttachError::TooSmall {
                needed: HEADER_SIZE,
                available: region.len(),
            });
        }
        let align = core::mem::align_of::<Header>();
        let offset = region.addr() % align;
        if offset != 0 {
            return Err(AttachError::Misaligned { align, offset });
        }
        // SAFETY: at least HEADER_SIZE bytes, 8-aligned (both checked above), valid for the region's
        // lifetime; Header is all atomics, so any bytes are a valid Header and concurrent writers
        // cannot cause a data race.
        Ok(unsafe { &*(region.as_ptr() as *const Header) })
    }

    /// Checks one kind-specific layout parameter.
    pub fn expect(field: &'static str, expected: u64, found: u64) -> Result<(), AttachError> {
        if expected == found {
            Ok(())
        } else {
            Err(AttachError::LayoutMismatch { field, expected, found })
        }
    }

    /// Checks that the header records `T`'s size and alignment as the element type
    /// ([`AttachError::LayoutMismatch`] on `elem_size` or `elem_align` otherwise).
    pub fn expect_elem<T>(&self) -> Result<(), AttachError> {
        Header::expect("elem_size", core::mem::size_of::<T>() as u64, self.elem_size().into())?;
        Header::expect(
            "elem_align",
            core::mem::align_of::<T>() as u64,
            self.elem_align().into(),
        )
    }

    /// Reads every field (Relaxed; call after a successful attach, or for display only).
    pub fn snapshot(&self) -> HeaderSnapshot {
        // Ordering: Relaxed is enough: either we attached (the Acquire load of READY ordered these
        // after the initializer's writes) or this is a best-effort display.
        HeaderSnapshot {
            magic: self.magic.load(Ordering::Relaxed),
            version: self.version.load(Ordering::Relaxed),
            kind: self.kind.load(Ordering::Relaxed),
            state: self.state.load(Ordering::Acquire),
            size: self.size.load(Ordering::Relaxed),
            capacity: self.capacity.load(Ordering::Relaxed),
            elem_size: self.elem_size.load(Ordering::Relaxed),
            elem_align: self.elem_align.load(Ordering::Relaxed),
            msg_limit: self.msg_limit.load(Ordering::Relaxed),
            tag: self.tag.load(Ordering::Relaxed),
            flags: self.flags.load(Ordering::Relaxed),
        }
    }

    /// The kind-specific capacity parameter.
    pub fn capacity(&self) -> u64 {
        // Ordering: Relaxed; written once before READY, read after attach's Acquire.
        self.capacity.load(Ordering::Relaxed)
    }

    /// The element size parameter.
    pub fn elem_size(&self) -> u32 {
        // Ordering: as `capacity`.
        self.elem_size.load(Ordering::Relaxed)
    }

    /// The element alignment parameter.
    pub fn elem_align(&self) -> u32 {
        // Ordering: as `capacity`.
        self.elem_align.load(Ordering::Relaxed)
    }

    /// The message limit parameter.
    pub fn msg_limit(&self) -> u64 {
        // Ordering: as `capacity`.
        self.msg_limit.load(Ordering::Relaxed)
    }

    /// The total size parameter.
    pub fn size(&self) -> u64 {
        // Ordering: as `capacity`.
        self.size.load(Ordering::Relaxed)
    }

    /// The kind-specific tag.
    pub fn tag(&self) -> u64 {
        // Ordering: as `capacity`.
        self.tag.load(Ordering::Relaxed)
    }

    /// The kind-specific flags.
    pub fn flags(&self) -> u32 {
        // Ordering: as `capacity`.
        self.flags.load(Ordering::Relaxed)
    }

    /// The raw init state.
    pub fn state(&self) -> u32 {
        // Ordering: Acquire, as in `attach`.
        self.state.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.snapshot(), f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
