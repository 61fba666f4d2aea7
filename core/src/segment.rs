//! The segment header: what sits at offset 0 of every ringfork segment (a shared mapping made by the
//! host crate), so that unrelated processes can find the objects in it and tools can tell who uses it.
//!
//! # Layout (unchanged since ABI version 2; 5184 bytes used, objects start at [`DATA_START`] = 8192)
//!
//! | offset | size | field            | written by                  | meaning                                 |
//! |-------:|-----:|------------------|-----------------------------|-----------------------------------------|
//! | 0      | 8    | `magic`          | creator, once               | [`SEGMENT_MAGIC`] (`"RINGFORK"`)        |
//! | 8      | 4    | `version`        | creator, once               | [`crate::ABI_VERSION`]                  |
//! | 12     | 4    | `state`          | creator (CAS, then Release) | UNINIT → INITIALIZING → READY           |
//! | 16     | 8    | `len`            | creator, once               | total segment length in bytes           |
//! | 24     | 8    | `used`           | any allocator (CAS)         | offset of the first free byte           |
//! | 32     | 4    | `dir_len`        | any allocator (CAS)         | directory entries claimed (≤ 64)        |
//! | 36     | 4    | `overflow`       | any attacher (fetch_add)    | attachers that found the registry full  |
//! | 40     | 4    | `creator_pid`    | creator, once               | pid of the creating process             |
//! | 44     | 4    | `reserved0`      | nobody                      | zero                                    |
//! | 48     | 8    | `creator_start`  | creator, once               | its start time (clock ticks since boot) |
//! | 56     | 8    | `reserved1`      | nobody                      | zero                                    |
//! | 64     | 1024 | `attachers[64]`  | each attacher, its own slot | [`AttachSlot`]: who has it mapped       |
//! | 1088   | 4096 | `dir[64]`        | each allocator, its entry   | [`DirEntry`]: the objects, by name      |
//! | 5184   | 16   | `dir_lock`       | allocators                  | [`RawMutex`]: one `alloc` at a time (unique names) |
//!
//! Total 5200 bytes, align 8; objects start at [`DATA_START`].
//!
//! Every field is atomic; every value read from here (`len`, `used`, `dir_len`, offsets, sizes) is
//! bounded by the *real* mapping length, which the caller passes in, before use.

use crate::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::error::{AttachError, InitError};
use crate::header::{Kind, INITIALIZING, READY, UNINIT};
use crate::region::{placement, ArenaError, Region};
use crate::sync::raw_mutex::{LockOutcome, RawMutex};
use crate::time::Deadline;
use crate::wait::Wait;
use core::fmt;

/// `"RINGFORK"` as a little-endian `u64`.
pub const SEGMENT_MAGIC: u64 = u64::from_le_bytes(*b"RINGFORK");
/// Number of attacher slots.
pub const MAX_ATTACHERS: usize = 64;
/// Number of directory entries.
pub const MAX_OBJECTS: usize = 64;
/// Longest object name in bytes.
pub const NAME_MAX: usize = 40;
/// Offset of the first object: the header rounded up to a page, so objects can ask for up to
/// page alignment whatever address each process maps the segment at.
pub const DATA_START: usize = 8192;
/// The largest alignment an object in a segment can ask for (mappings are page-aligned).
pub const MAX_ALIGN: usize = 4096;

/// One registry slot: a process that has the segment mapped.
///
/// `pid == 0` is a free slot; `start_time == 0` with a pid means "being registered" (treated as alive).
///
/// Slots are reached through [`SegmentHeader::register`] and read back as [`Attacher`]s:
/// ```
/// use ringfork_core::segment::{AttachSlot, SegmentHeader, MAX_ATTACHERS};
/// use ringfork_core::Region;
/// #[repr(C, align(4096))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let seg = SegmentHeader::init(Region::from_mut(&mut buf.0), (1, 1)).unwrap();
/// let me = (std::process::id(), 42); // (pid, start time)
/// let slot = seg.register(me, |_pid, _start| false).unwrap();
/// assert!(slot < MAX_ATTACHERS && seg.find_attacher(me) == Some(slot));
/// assert_eq!(core::mem::size_of::<AttachSlot>(), 16);
/// ```
#[derive(Debug)]
#[repr(C)]
pub struct AttachSlot {
    pid: AtomicU32,
    reserved: AtomicU32,
    start_time: AtomicU64,
}

/// Directory entry states (0 = free, never written: fresh memory is zero).
const ENTRY_WRITING: u32 = 1;
const ENTRY_READY: u32 = 2;
const ENTRY_VOID: u32 = 3;

/// One object directory entry (64 bytes).
///
/// Entries are written by [`SegmentHeader::alloc`] and read back, bounds-checked, as [`ObjectEntry`]s:
/// ```
/// use ringfork_core::segment::{DirEntry, SegmentHeader};
/// use ringfork_core::{Kind, Region};
/// #[repr(C, align(4096))]
/// struct Buf([u8; 16384]);
/// let mut buf = Buf([0; 16384]);
/// let seg = SegmentHeader::init(Region::from_mut(&mut buf.0), (1, 1)).unwrap();
/// for name in ["a", "b"] {
///     seg.alloc::<ringfork_core::wait::Spin>(16384, Kind::Cell, name, 128, 8, ringfork_core::Deadline::Never).unwrap();
/// }
/// let names: Vec<String> = seg.objects(16384).map(|e| e.name().unwrap().into()).collect();
/// assert_eq!(names, ["a", "b"]);
/// assert_eq!(core::mem::size_of::<DirEntry>(), 64);
/// ```
#[derive(Debug)]
#[repr(C)]
pub struct DirEntry {
    state: AtomicU32,
    kind: AtomicU32,
    offset: AtomicU64,
    size: AtomicU64,
    name: [AtomicU64; NAME_MAX / 8],
}

/// The header at offset 0 of a ringfork segment. See the module docs.
///
/// ```
/// use ringfork_core::segment::SegmentHeader;
/// use ringfork_core::{Kind, Region};
/// #[repr(C, align(4096))]
/// struct Buf([u8; 16384]);
/// let mut buf = Buf([0; 16384]);
/// let region = Region::from_mut(&mut buf.0);
/// let seg = SegmentHeader::init(region, (std::process::id(), 1)).unwrap();
/// let offset = seg.alloc::<ringfork_core::wait::Spin>(region.len(), Kind::Cell, "counter", 128, 64, ringfork_core::Deadline::Never).unwrap();
/// // Another process maps the segment, validates it and finds the object by name.
/// let entry = SegmentHeader::attach(region).unwrap().find(region.len(), "counter").unwrap();
/// assert_eq!((entry.offset, Kind::from_raw(entry.kind)), (offset, Some(Kind::Cell)));
/// assert!(region.sub(entry.offset, entry.size).is_ok());
/// ```
#[repr(C)]
pub struct SegmentHeader {
    magic: AtomicU64,
    version: AtomicU32,
    state: AtomicU32,
    len: AtomicU64,
    used: AtomicU64,
    dir_len: AtomicU32,
    overflow: AtomicU32,
    creator_pid: AtomicU32,
    reserved0: AtomicU32,
    creator_start: AtomicU64,
    reserved1: AtomicU64,
    attachers: [AttachSlot; MAX_ATTACHERS],
    dir: [DirEntry; MAX_OBJECTS],
    /// Serializes [`SegmentHeader::alloc`]: names are unique, so creating an object and checking
    /// that no other has its name must be one step. Robust: a creator killed inside takes only its
    /// half-written entry with it (the next locker voids it).
    dir_lock: RawMutex,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<AttachSlot>() == 16);
    assert!(core::mem::size_of::<DirEntry>() == 64);
    assert!(core::mem::offset_of!(SegmentHeader, attachers) == 64);
    assert!(core::mem::offset_of!(SegmentHeader, dir) == 1088);
    assert!(core::mem::offset_of!(SegmentHeader, dir_lock) == 5184);
    assert!(core::mem::size_of::<SegmentHeader>() == 5200);
    assert!(core::mem::size_of::<SegmentHeader>() <= DATA_START);
};

/// An object listed in a segment's directory (values already bounds-checked).
///
/// ```
/// use ringfork_core::segment::{SegmentHeader, DATA_START};
/// use ringfork_core::{Kind, Region};
/// #[repr(C, align(4096))]
/// struct Buf([u8; 16384]);
/// let mut buf = Buf([0; 16384]);
/// let seg = SegmentHeader::init(Region::from_mut(&mut buf.0), (1, 1)).unwrap();
/// seg.alloc::<ringfork_core::wait::Spin>(16384, Kind::Event, "ready", 64, 8, ringfork_core::Deadline::Never).unwrap();
/// let e = seg.find(16384, "ready").unwrap();
/// assert_eq!((e.index, e.name(), e.size), (0, Some("ready"), 64));
/// assert!(e.offset >= DATA_START); // objects start after the segment header
/// assert!(seg.find(16384, "other").is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ObjectEntry {
    /// Directory index.
    pub index: usize,
    /// The raw kind (see [`Kind::from_raw`]).
    pub kind: u32,
    /// Offset of the object from the segment start.
    pub offset: usize,
    /// Bytes reserved for it.
    pub size: usize,
    /// Its name (UTF-8 bytes, at most [`NAME_MAX`]).
    pub name: [u8; NAME_MAX],
    /// Length of the name.
    pub name_len: usize,
}

impl fmt::Debug for ObjectEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name[..self.name_len.min(NAME_MAX)];
        let mut d = f.debug_struct("ObjectEntry");
        d.field("index", &self.index).field("kind", &self.kind);
        match core::str::from_utf8(name) {
            Ok(s) => d.field("name", &s),
            Err(_) => d.field("name", &name),
        };
        d.field("offset", &self.offset).field("size", &self.size).finish()
    }
}

impl ObjectEntry {
    /// The name, if valid UTF-8.
    pub fn name(&self) -> Option<&str> {
        core::str::from_utf8(&self.name[..self.name_len]).ok()
    }
}

/// A registered attacher, as read from the registry.
///
/// ```
/// use ringfork_core::segment::{Attacher, SegmentHeader};
/// use ringfork_core::Region;
/// #[repr(C, align(4096))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let seg = SegmentHeader::init(Region::from_mut(&mut buf.0), (1, 1)).unwrap();
/// let me = (std::process::id(), 42);
/// let slot = seg.register(me, |_, _| false).unwrap();
/// let all: Vec<Attacher> = seg.attachers().collect();
/// assert_eq!(all, [Attacher { slot, pid: me.0, start_time: me.1 }]);
/// seg.unregister(slot, me);
/// assert_eq!(seg.attachers().count(), 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attacher {
    /// Slot index.
    pub slot: usize,
    /// Its pid.
    pub pid: u32,
    /// Its start time (0 while registering).
    pub start_time: u64,
}

/// Summary numbers of a segment header.
///
/// ```
/// use ringfork_core::segment::{SegmentHeader, DATA_START};
/// use ringfork_core::{Kind, Region};
/// #[repr(C, align(4096))]
/// struct Buf([u8; 16384]);
/// let mut buf = Buf([0; 16384]);
/// let seg = SegmentHeader::init(Region::from_mut(&mut buf.0), (7, 99)).unwrap();
/// seg.alloc::<ringfork_core::wait::Spin>(16384, Kind::Cell, "x", 256, 64, ringfork_core::Deadline::Never).unwrap();
/// let info = seg.info(16384);
/// assert_eq!((info.creator_pid, info.creator_start, info.objects), (7, 99, 1));
/// assert_eq!((info.len, info.used), (16384, DATA_START as u64 + 256));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Length the header claims.
    pub len: u64,
    /// Bytes in use (bump pointer), clamped to the mapping.
    pub used: u64,
    /// Objects listed.
    pub objects: u32,
    /// Attachers that could not be registered because the registry was full.
    pub overflow: u32,
    /// The creating process.
    pub creator_pid: u32,
    /// Its start time.
    pub creator_start: u64,
}

impl SegmentHeader {
    /// Initializes a segment header at the start of `region` (which must be zeroed, as fresh mappings
    /// are). `creator` is the creating process's `(pid, start_time)`.
    pub fn init<'a>(region: Region<'a>, creator: (u32, u64)) -> Result<&'a SegmentHeader, InitError> {
        if region.len() < DATA_START {
            return Err(InitError::TooSmall {
                needed: DATA_START,
                available: region.len(),
            });
        }
        let h = Self::cast(region).map_err(|_| InitError::Misaligned {
            align: 8,
            offset: region.addr() % 8,
        })?;
        // Ordering: Acquire/Relaxed: the CAS only claims the header; what we write is published by
        // the Release store of READY below.
        h.state
            .compare_exchange(UNINIT, INITIALIZING, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|state| InitError::AlreadyInitialized { state })?;
        // Ordering (Relaxed stores): published by the Release store of READY.
        h.magic.store(SEGMENT_MAGIC, Ordering::Relaxed);
        h.version.store(crate::ABI_VERSION, Ordering::Relaxed);
        h.len.store(region.len() as u64, Ordering::Relaxed);
        h.used.store(DATA_START as u64, Ordering::Relaxed);
        h.dir_len.store(0, Ordering::Relaxed);
        h.creator_pid.store(creator.0, Ordering::Relaxed);
        h.creator_start.store(creator.1, Ordering::Relaxed);
        // Ordering: Release publishes the fields above to `attach`'s Acquire load.
        h.state.store(READY, Ordering::Release);
        Ok(h)
    }

    /// Validates the segment header at the start of `region` (no waiting: a segment is created
    /// READY before its name is visible to others, see the host crate).
    pub fn attach(region: Region<'_>) -> Result<&SegmentHeader, AttachError> {
        if region.len() < DATA_START {
            return Err(AttachError::TooSmall {
                needed: DATA_START,
                available: region.len(),
            });
        }
        let h = Self::cast(region)?;
        // Ordering: Relaxed for the magic (validated again after the Acquire below).
        let magic = h.magic.load(Ordering::Relaxed);
        // Ordering: Acquire pairs with the Release store of READY in `init`.
        let state = h.state.load(Ordering::Acquire);
        if state != READY {
            if magic != SEGMENT_MAGIC && state != UNINIT && state != INITIALIZING {
                return Err(AttachError::BadMagic { found: magic as u32 });
            }
            return Err(AttachError::NotReady { state });
        }
        let magic = h.magic.load(Ordering::Relaxed);
        if magic != SEGMENT_MAGIC {
            return Err(AttachError::BadMagic { found: magic as u32 });
        }
        let version = h.version.load(Ordering::Relaxed);
        if version != crate::ABI_VERSION {
            return Err(AttachError::VersionMismatch {
                expected: crate::ABI_VERSION,
                found: version,
            });
        }
        let len = h.len.load(Ordering::Relaxed);
        if len > region.len() as u64 {
            return Err(AttachError::TooSmall {
                needed: usize::try_from(len).unwrap_or(usize::MAX),
                available: region.len(),
            });
        }
        Ok(h)
    }

    fn cast(region: Region<'_>) -> Result<&SegmentHeader, AttachError> {
        let align = core::mem::align_of::<SegmentHeader>();
        if region.addr() % align != 0 {
            return Err(AttachError::Misaligned {
                align,
                offset: region.addr() % align,
            });
        }
        // SAFETY: region is at least DATA_START >= size_of::<SegmentHeader>() bytes (checked by both
        // callers) and aligned (checked above); SegmentHeader is all atomics, so any bytes form a valid
        // value and concurrent writers in other processes cannot cause a data race.
        Ok(unsafe { &*(region.as_ptr() as *const SegmentHeader) })
    }

    /// Summary numbers, bounded by `map_len` (the real mapping length).
    pub fn info(&self, map_len: usize) -> SegmentInfo {
        // Ordering: Relaxed throughout: a display snapshot; each value is bounded before use.
        SegmentInfo {
            len: self.len.load(Ordering::Relaxed).min(map_len as u64),
            used: self.used.load(Ordering::Relaxed).min(map_len as u64),
            objects: self.dir_len.load(Ordering::Relaxed).min(MAX_OBJECTS as u32),
            overflow: self.overflow.load(Ordering::Relaxed),
            creator_pid: self.creator_pid.load(Ordering::Relaxed),
            creator_start: self.creator_start.load(Ordering::Relaxed),
        }
    }

    /// Reserves `size` bytes at `align` (≤ [`MAX_ALIGN`]) for an object of `kind` called `name` and
    /// lists it in the directory. Returns the offset. Safe to call from several processes at once:
    /// calls are serialized by the directory lock (waiting at most until `deadline`:
    /// [`ArenaError::DirectoryBusy`]), so of N processes creating the same name exactly one succeeds
    /// and the others get [`ArenaError::NameTaken`]. A name longer than [`NAME_MAX`] is
    /// [`ArenaError::NameTooLong`] (never cut). `map_len` is the real mapping length.
    pub fn alloc<W: Wait>(
        &self,
        map_len: usize,
        kind: Kind,
        name: &str,
        size: usize,
        align: usize,
        deadline: Deadline,
    ) -> Result<usize, ArenaError> {
        if name.len() > NAME_MAX {
            return Err(ArenaError::NameTooLong {
                len: name.len(),
                max: NAME_MAX,
            });
        }
        if align == 0 || !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(ArenaError::BadAlign { align });
        }
        match self.dir_lock.lock::<W>(deadline) {
            Ok(LockOutcome::Acquired) => {}
            Ok(LockOutcome::OwnerDied) => {
                // The previous creator died inside: its entry (if it claimed one) is half written.
                for e in &self.dir {
                    // Ordering: Relaxed load; the Release store publishes VOID to readers.
                    if e.state.load(Ordering::Relaxed) == ENTRY_WRITING {
                        e.state.store(ENTRY_VOID, Ordering::Release);
                    }
                }
                // We hold the lock; an error means a peer rewrote the word: the unlock below fails
                // the same way and the next locker repairs again.
                let _ = self.dir_lock.mark_consistent();
            }
            Err(_) => return Err(ArenaError::DirectoryBusy),
        }
        let r = match self.find_index(map_len, name) {
            Some(index) => Err(ArenaError::NameTaken { index }),
            None => self.alloc_locked(map_len, kind, name.as_bytes(), size, align),
        };
        // A failure here means a hostile peer rewrote the lock word; nothing of ours to undo.
        let _ = self.dir_lock.unlock::<W>();
        r
    }

    /// The directory index of the published object called `name`, if any.
    fn find_index(&self, map_len: usize, name: &str) -> Option<usize> {
        (0..MAX_OBJECTS).find(|&i| self.object(map_len, i).is_some_and(|e| e.name() == Some(name)))
    }

    /// `alloc` with the directory lock held and the name checked.
    fn alloc_locked(
        &self,
        map_len: usize,
        kind: Kind,
        name: &[u8],
        size: usize,
        align: usize,
    ) -> Result<usize, ArenaError> {
        // 1. Claim a directory entry.
        // Ordering: Relaxed; the CAS only hands out indices; the entry's contents are published by
        // its own Release store of ENTRY_READY.
        let mut n = self.dir_len.load(Ordering::Relaxed);
        let index = loop {
            if n as usize >= MAX_OBJECTS {
                return Err(ArenaError::DirectoryFull);
            }
            match self
                .dir_len
                .compare_exchange_weak(n, n + 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break n as usize,
                Err(cur) => n = cur,
            }
        };
        let entry = &self.dir[index];
        // Ordering: Relaxed; the entry is ours (unique index).
        entry.state.store(ENTRY_WRITING, Ordering::Relaxed);
        // 2. Bump the allocation pointer.
        let len = (self.len.load(Ordering::Relaxed) as usize).min(map_len);
        let mut used = self.used.load(Ordering::Relaxed);
        let offset = loop {
            let next = (used as usize).max(DATA_START);
            // Offsets are aligned relative to the segment start, which is page-aligned in every
            // process, so the address is aligned too (align <= MAX_ALIGN).
            let (offset, end) = match placement(0, len, next, size, align) {
                Ok(p) => p,
                Err(e) => {
                    // Ordering: Release so readers that see VOID never read a half-written entry.
                    entry.state.store(ENTRY_VOID, Ordering::Release);
                    return Err(e);
                }
            };
            // Ordering: Relaxed; the range is ours once the CAS succeeds; objects publish their own
            // contents through their headers.
            match self
                .used
                .compare_exchange_weak(used, end as u64, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break offset,
                Err(cur) => used = cur,
            }
        };
        // 3. Fill the entry and publish it.
        entry.kind.store(kind as u32, Ordering::Relaxed);
        entry.offset.store(offset as u64, Ordering::Relaxed);
        entry.size.store(size as u64, Ordering::Relaxed);
        let mut words = [0u64; NAME_MAX / 8];
        for (i, b) in name.iter().enumerate() {
            words[i / 8] |= u64::from(*b) << ((i % 8) * 8);
        }
        for (w, v) in entry.name.iter().zip(words) {
            w.store(v, Ordering::Relaxed);
        }
        // Ordering: Release publishes kind/offset/size/name to `object`'s Acquire load.
        entry.state.store(ENTRY_READY, Ordering::Release);
        Ok(offset)
    }

    /// Directory entry `index`, if it is published and its range lies inside the mapping
    /// (`map_len`) past the segment header. Corrupted entries read as `None`.
    pub fn object(&self, map_len: usize, index: usize) -> Option<ObjectEntry> {
        let entry = self.dir.get(index)?;
        // Ordering: Acquire pairs with the Release store of ENTRY_READY in `alloc`.
        if entry.state.load(Ordering::Acquire) != ENTRY_READY {
            return None;
        }
        let offset = usize::try_from(entry.offset.load(Ordering::Relaxed)).ok()?;
        let size = usize::try_from(entry.size.load(Ordering::Relaxed)).ok()?;
        if offset < DATA_START || offset.checked_add(size)? > map_len {
            return None;
        }
        let mut name = [0u8; NAME_MAX];
        for (i, w) in entry.name.iter().enumerate() {
            name[i * 8..i * 8 + 8].copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        let name_len = name.iter().position(|&b| b == 0).unwrap_or(NAME_MAX);
        Some(ObjectEntry {
            index,
            kind: entry.kind.load(Ordering::Relaxed),
            offset,
            size,
            name,
            name_len,
        })
    }

    /// Every published, in-bounds object.
    pub fn objects(&self, map_len: usize) -> impl Iterator<Item = ObjectEntry> + '_ {
        (0..MAX_OBJECTS).filter_map(move |i| self.object(map_len, i))
    }

    /// The first object called `name`.
    pub fn find(&self, map_len: usize, name: &str) -> Option<ObjectEntry> {
        self.objects(map_len).find(|e| e.name() == Some(name))
    }

    /// Registers an attacher `(pid, start_time)`; returns its slot, or `None` if the registry is full
    /// of live processes (then `overflow` is incremented, and cleanup tools treat the segment as in
    /// use by someone unknown). `is_dead(pid, start_time)` decides whether an occupied slot may be
    /// reused.
    pub fn register(&self, me: (u32, u64), is_dead: impl Fn(u32, u64) -> bool) -> Option<usize> {
        for pass in 0..2 {
            for (i, slot) in self.attachers.iter().enumerate() {
                // Ordering: Relaxed for the probe; the claim below is a CAS.
                let pid = slot.pid.load(Ordering::Relaxed);
                if pid == 0 {
                    // Ordering: AcqRel so the slot's previous owner's clearing happened before ours.
                    if slot
                        .pid
                        .compare_exchange(0, me.0, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                    {
                        slot.start_time.store(me.1, Ordering::Release);
                        return Some(i);
                    }
                } else if pass == 1 {
                    // Second pass: reclaim slots of dead processes.
                    let start = slot.start_time.load(Ordering::Acquire);
                    if start != 0 && is_dead(pid, start) {
                        // Mark "registering" (start 0) first so no reader sees our pid with the dead
                        // start time; then take the pid. Only one reclaimer can win the first CAS.
                        if slot
                            .start_time
                            .compare_exchange(start, 0, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                            && slot
                                .pid
                                .compare_exchange(pid, me.0, Ordering::AcqRel, Ordering::Relaxed)
                                .is_ok()
                        {
                            slot.start_time.store(me.1, Ordering::Release);
                            return Some(i);
                        }
                    }
                }
            }
        }
        // Ordering: Relaxed; a counter read by display tools only.
        self.overflow.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// The first registry slot holding exactly the stamp `me` (a registration made for this
    /// process by its parent at fork or spawn).
    pub fn find_attacher(&self, me: (u32, u64)) -> Option<usize> {
        self.attachers.iter().position(|s| {
            // Ordering: Acquire pairs with the Release store of the start time in `register`.
            s.start_time.load(Ordering::Acquire) == me.1 && s.pid.load(Ordering::Acquire) == me.0
        })
    }

    /// Releases a slot returned by [`SegmentHeader::register`] (only if it still holds `me`).
    pub fn unregister(&self, slot: usize, me: (u32, u64)) {
        let Some(s) = self.attachers.get(slot) else {
            return;
        };
        // Ordering: Acquire to read the start time our own register stored (same process).
        if s.pid.load(Ordering::Acquire) == me.0 && s.start_time.load(Ordering::Acquire) == me.1 {
            s.start_time.store(0, Ordering::Release);
            // Ordering: Release so the next claimant (AcqRel CAS) sees the cleared start time.
            let _ = s.pid.compare_exchange(me.0, 0, Ordering::Release, Ordering::Relaxed);
        }
    }

    /// Every occupied registry slot.
    pub fn attachers(&self) -> impl Iterator<Item = Attacher> + '_ {
        self.attachers.iter().enumerate().filter_map(|(slot, s)| {
            // Ordering: Acquire pairs with the Release store of the start time in `register`.
            let pid = s.pid.load(Ordering::Acquire);
            (pid != 0).then(|| Attacher {
                slot,
                pid,
                start_time: s.start_time.load(Ordering::Acquire),
            })
        })
    }
}

impl core::fmt::Debug for SegmentHeader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SegmentHeader")
            .field("info", &self.info(usize::MAX))
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::vec;

    type W = crate::wait::DefaultWait;
    const D: Deadline = Deadline::Never;

    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    fn buf(pages: usize) -> std::vec::Vec<Page> {
        (0..pages).map(|_| Page([0; 4096])).collect()
    }

    #[test]
    fn alloc_lists_objects_in_bounds_and_aligned() {
        let mut b = buf(8);
        let len = b.len() * 4096;
        // SAFETY: the vector's pages are contiguous, owned, zeroed and outlive the region.
        let r = unsafe { Region::from_raw_parts(b.as_mut_ptr() as *mut u8, len) };
        let h = SegmentHeader::init(r, (1, 2)).unwrap();
        assert!(SegmentHeader::init(r, (1, 2)).is_err());
        let a = h.alloc::<W>(len, Kind::Mutex, "lock", 100, 64, D).unwrap();
        assert_eq!(
            h.alloc::<W>(
                len,
                Kind::Spsc,
                "queue-with-a-long-name-that-does-not-fit-in-forty",
                1000,
                128,
                D
            ),
            Err(ArenaError::NameTooLong { len: 49, max: NAME_MAX })
        );
        let long = "q".repeat(NAME_MAX);
        let q = h.alloc::<W>(len, Kind::Spsc, &long, 1000, 128, D).unwrap();
        assert_eq!(
            h.alloc::<W>(len, Kind::Cell, "lock", 8, 8, D),
            Err(ArenaError::NameTaken { index: 0 })
        );
        assert_eq!(a, DATA_START);
        assert_eq!(q % 128, 0);
        assert!(q >= a + 100);
        assert!(matches!(
            h.alloc::<W>(len, Kind::Cell, "big", len, 8, D),
            Err(ArenaError::OutOfSpace { .. })
        ));
        assert_eq!(
            h.alloc::<W>(len, Kind::Cell, "x", 8, 8192, D),
            Err(ArenaError::BadAlign { align: 8192 })
        );
        let objs: vec::Vec<_> = h.objects(len).collect();
        assert_eq!(objs.len(), 2, "the failed allocs are void or never claimed, not listed");
        assert_eq!(objs[0].name(), Some("lock"));
        assert_eq!(objs[1].name().unwrap().len(), NAME_MAX);
        assert_eq!(h.find(len, "lock").unwrap().offset, a);
        // A mapping shorter than an entry's range hides the entry instead of reading past the end.
        assert!(h.object(DATA_START + 50, 0).is_none());
        for i in 0..MAX_OBJECTS {
            if h.alloc::<W>(len, Kind::Cell, &std::format!("c{i}"), 8, 8, D).is_err() {
                assert!(i >= MAX_OBJECTS - 3);
                break;
            }
        }
        assert_eq!(
            h.alloc::<W>(len, Kind::Cell, "one-more", 8, 8, D),
            Err(ArenaError::DirectoryFull)
        );
    }

    #[test]
    fn registry_reuses_dead_slots_only() {
        let mut b = buf(2);
        // SAFETY: as above.
        let r = unsafe { Region::from_raw_parts(b.as_mut_ptr() as *mut u8, 8192) };
        let h = SegmentHeader::init(r, (1, 2)).unwrap();
        let mut slots = vec::Vec::new();
        for pid in 1..=MAX_ATTACHERS as u32 {
            slots.push(h.register((pid, 100), |_, _| false).unwrap());
        }
        assert_eq!(h.register((999, 100), |_, _| false), None);
        assert_eq!(h.info(8192).overflow, 1);
        let s = h.register((999, 100), |pid, _| pid == 7).unwrap();
        assert_eq!(s, 6);
        h.unregister(s, (999, 100));
        assert_eq!(h.attachers().count(), MAX_ATTACHERS - 1);
        h.unregister(0, (5, 100)); // not the owner: no effect
        assert_eq!(h.attachers().count(), MAX_ATTACHERS - 1);
        assert_eq!(h.find_attacher((8, 100)), Some(7));
        assert_eq!(h.find_attacher((8, 101)), None);
        assert_eq!(h.find_attacher((999, 100)), None);
    }

    #[test]
    fn attach_rejects_garbage() {
        let mut b = buf(2);
        // SAFETY: as above.
        let r = unsafe { Region::from_raw_parts(b.as_mut_ptr() as *mut u8, 8192) };
        assert!(matches!(
            SegmentHeader::attach(r),
            Err(AttachError::NotReady { state: 0 })
        ));
        b[0].0[12] = 2;
        assert!(matches!(SegmentHeader::attach(r), Err(AttachError::BadMagic { .. })));
        b[0].0[12] = 9;
        assert!(matches!(SegmentHeader::attach(r), Err(AttachError::BadMagic { .. })));
    }
}
