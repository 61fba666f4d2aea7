//! Shared-memory segments: anonymous (inherited across `fork`, passable to spawned children by file
//! descriptor) and named POSIX segments that unrelated processes open by name.
//!
//! Every segment starts with a [`SegmentHeader`] (see `docs/layout.md`): an object directory so that
//! objects can be found by name, and a registry of attached processes so that `ringfork clean` can
//! tell a leaked segment from one in use.
//!
//! ```
//! use ringfork::Segment;
//! let seg = Segment::anonymous(64 * 1024)?;
//! let off = seg.alloc(ringfork_core::Kind::Cell, "counter", 128, 64)?;
//! assert!(off >= ringfork_core::segment::DATA_START);
//! # Ok::<(), ringfork::SegmentError>(())
//! ```

use ringfork_core::header::HeaderSnapshot;
use ringfork_core::os::{probe, Liveness, ProcessStamp};
use ringfork_core::region::ArenaError;
use ringfork_core::segment::{Attacher, ObjectEntry, SegmentHeader, SegmentInfo, DATA_START};
use ringfork_core::{AttachError, Header, InitError, Kind, Region};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::Mode;
use rustix::mm::{MapFlags, ProtFlags};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How long object creation waits for the segment's directory lock (held for microseconds by a live
/// creator; taken over at once from a dead one).
const DIR_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a segment operation failed.
///
/// ```
/// use ringfork::{Segment, SegmentError};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let name = format!("ringfork-doc-error-{}", std::process::id());
///     let seg = Segment::create(&name, 4096)?;
///     match Segment::create(&name, 4096) {
///         Err(SegmentError::AlreadyExists { name: taken }) => assert_eq!(taken, format!("/{name}")),
///         other => panic!("expected AlreadyExists, got {other:?}"),
///     }
///     Segment::unlink(&name)?;
///     drop(seg);
///     let gone = Segment::open(&name).unwrap_err();
///     assert!(matches!(gone, SegmentError::NotFound { .. }));
///     assert!(gone.to_string().contains("no segment named"));
///     assert!(matches!(Segment::anonymous(0), Err(SegmentError::InvalidLength { len: 0, .. })));
///     Ok(())
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SegmentError {
    /// A system call failed.
    Os {
        /// What was being done (e.g. `"shm_open"`).
        op: &'static str,
        /// The segment name, if any.
        name: Option<String>,
        /// The OS error.
        source: std::io::Error,
    },
    /// `create` found a segment of that name already.
    AlreadyExists {
        /// The name.
        name: String,
    },
    /// `open`/`unlink` found no segment of that name.
    NotFound {
        /// The name.
        name: String,
    },
    /// The name is not a valid POSIX shared-memory name.
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The requested length is unusable.
    InvalidLength {
        /// The length asked for.
        len: usize,
        /// Why.
        reason: &'static str,
    },
    /// The segment exists but is not a (valid, ready) ringfork segment.
    Attach {
        /// The name, if any.
        name: Option<String>,
        /// What the header check found.
        source: AttachError,
    },
    /// The segment header could not be initialized.
    Init(InitError),
    /// An object (queue, lock, value, ...) could not be created with the parameters given.
    ObjectInit(InitError),
    /// An object of that name already exists in the segment (names are unique; `open` it, or use
    /// the type's `open_or_create`).
    ObjectExists {
        /// The object name.
        name: String,
    },
    /// The segment is mapped read-only ([`Segment::open_read_only`]): objects in it can be listed
    /// and inspected, not created or opened (every object writes to its memory).
    ReadOnly {
        /// The segment name, if any.
        name: Option<String>,
    },
    /// No object of that name in the segment's directory.
    NoSuchObject {
        /// The object name.
        name: String,
    },
    /// No room (or no directory entry) for another object.
    Alloc(ArenaError),
    /// The segment file's size differs from the length its header records: another process with
    /// write permission truncated or grew it (mapping it could kill this process with `SIGBUS`).
    SizeChanged {
        /// The name, if any.
        name: Option<String>,
        /// The length the header records (what the creator made).
        expected: u64,
        /// The file's size now.
        found: u64,
    },
    /// The name in `/dev/shm` is not a segment file this process should open (see
    /// [`UnsafeEntry`]); nothing was mapped.
    Unsafe {
        /// The name.
        name: String,
        /// What was found instead.
        reason: UnsafeEntry,
    },
}

/// Why [`Segment::open_at`] refused a directory entry (checked with `fstat` on a descriptor opened
/// with `O_NOFOLLOW | O_NONBLOCK`, so neither a symlink nor a FIFO can redirect or block the open).
///
/// ```
/// use ringfork::{OpenOptions, Segment, SegmentError, UnsafeEntry};
/// use std::os::fd::AsFd;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let dir = std::env::temp_dir().join(format!("ringfork-doc-unsafe-{}", std::process::id()));
///     std::fs::create_dir_all(dir.join("subdir"))?;
///     std::os::unix::fs::symlink("/etc/passwd", dir.join("link"))?;
///     let d = std::fs::File::open(&dir)?;
///     let link = Segment::open_at(d.as_fd(), "link", OpenOptions::default()).unwrap_err();
///     let ro = OpenOptions { read_only: true, ..OpenOptions::default() };
///     let sub = Segment::open_at(d.as_fd(), "subdir", ro).unwrap_err();
///     std::fs::remove_dir_all(&dir)?;
///     assert!(matches!(link, SegmentError::Unsafe { reason: UnsafeEntry::Symlink, .. }));
///     let expected = UnsafeEntry::NotRegular { file_type: "directory" };
///     assert!(matches!(sub, SegmentError::Unsafe { reason, .. } if reason == expected));
///     Ok(())
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsafeEntry {
    /// A symbolic link (never followed).
    Symlink,
    /// Not a regular file (a FIFO, socket, device or directory).
    NotRegular {
        /// What it is: `"fifo"`, `"socket"`, `"character device"`, `"block device"`, `"directory"`.
        file_type: &'static str,
    },
    /// A regular file owned by another user (opened only with [`OpenOptions::any_owner`]).
    ForeignOwner {
        /// Its owner.
        uid: u32,
    },
}

impl fmt::Display for UnsafeEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsafeEntry::Symlink => f.write_str("it is a symbolic link (not followed)"),
            UnsafeEntry::NotRegular { file_type } => write!(f, "it is a {file_type}, not a regular file"),
            UnsafeEntry::ForeignOwner { uid } => write!(
                f,
                "it is owned by uid {uid}, not by this user (pass `any_owner` to open it anyway)"
            ),
        }
    }
}

/// How [`Segment::open_at`] opens a segment file.
///
/// A read-only view, as an inspection tool opens a segment: it maps the same bytes but does not
/// register as an attacher.
///
/// ```
/// use ringfork::{OpenOptions, Segment};
/// use std::time::Duration;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let name = format!("ringfork-doc-options-{}", std::process::id());
///     let seg = Segment::create(&name, 4096)?;
///     let opts = OpenOptions { read_only: true, wait: Duration::from_millis(100), ..OpenOptions::default() };
///     let view = Segment::open_with(&name, opts)?;
///     Segment::unlink(&name)?;
///     assert_eq!(view.len(), seg.len());
///     let attachers: Vec<u32> = view.attachers().iter().map(|(a, _)| a.pid).collect();
///     assert_eq!(attachers, vec![std::process::id()]); // the creator only
///     Ok(())
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Map it read-only and do not register as an attacher (inspection tools).
    pub read_only: bool,
    /// Accept a file owned by another user (by default only the caller's own files are opened).
    pub any_owner: bool,
    /// How long to wait for a segment another process is still creating.
    pub wait: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            read_only: false,
            any_owner: false,
            wait: OPEN_READY_TIMEOUT,
        }
    }
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentError::Os { op, name: Some(n), source } => write!(f, "{op} failed for segment {n:?}: {source}"),
            SegmentError::Os { op, name: None, source } => write!(f, "{op} failed: {source}"),
            SegmentError::AlreadyExists { name } => write!(
                f,
                "segment {name:?} already exists; open it, or remove it with `ringfork clean` (if unused) or Segment::unlink"
            ),
            SegmentError::NotFound { name } => {
                write!(f, "no segment named {name:?} (see `ringfork ls` for the segments that exist)")
            }
            SegmentError::InvalidName { name, reason } => write!(f, "invalid segment name {name:?}: {reason}"),
            SegmentError::InvalidLength { len, reason } => write!(f, "invalid segment length {len}: {reason}"),
            SegmentError::Attach { name: Some(n), source } => write!(f, "segment {n:?} is not usable: {source}"),
            SegmentError::Attach { name: None, source } => write!(f, "segment is not usable: {source}"),
            SegmentError::Init(e) => write!(f, "cannot initialize the segment's header: {e}"),
            SegmentError::ObjectInit(e) => write!(f, "cannot create the object: {e}"),
            SegmentError::ObjectExists { name } => write!(
                f,
                "the segment already has an object named {name:?}; open it (or use open_or_create to \
                 create it only if missing)"
            ),
            SegmentError::ReadOnly { name: Some(n) } => write!(
                f,
                "segment {n:?} is mapped read-only: objects can be listed and inspected, not created or \
                 opened; open it with Segment::open to use them"
            ),
            SegmentError::ReadOnly { name: None } => f.write_str(
                "the segment is mapped read-only: objects can be listed and inspected, not created or opened",
            ),
            SegmentError::NoSuchObject { name } => {
                write!(f, "the segment has no object named {name:?} (`ringfork inspect` lists its objects)")
            }
            SegmentError::Alloc(e) => write!(f, "cannot place object in segment: {e}"),
            SegmentError::SizeChanged { name, expected, found } => write!(
                f,
                "segment {} was resized to {found} bytes behind its users' backs (its header says {expected}); \
                 a process with write permission truncated or grew it: recreate the segment",
                name.as_deref().unwrap_or("(anonymous)")
            ),
            SegmentError::Unsafe { name, reason } => write!(f, "not opening {name:?}: {reason}"),
        }
    }
}

impl std::error::Error for SegmentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SegmentError::Os { source, .. } => Some(source),
            SegmentError::Attach { source, .. } => Some(source),
            SegmentError::Init(e) | SegmentError::ObjectInit(e) => Some(e),
            SegmentError::Alloc(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ArenaError> for SegmentError {
    fn from(e: ArenaError) -> Self {
        SegmentError::Alloc(e)
    }
}

fn os_err(op: &'static str, name: Option<&str>, e: rustix::io::Errno) -> SegmentError {
    SegmentError::Os {
        op,
        name: name.map(str::to_owned),
        source: std::io::Error::from_raw_os_error(e.raw_os_error()),
    }
}

/// How long `open` waits for a segment that is still being created to become READY.
const OPEN_READY_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest segment `create`/`anonymous` accept (1 TiB): a sanity bound, not a resource limit.
pub const MAX_SEGMENT_LEN: usize = 1 << 40;

/// The mapping behind a [`Segment`]; unmapped when the last clone is dropped.
struct Mapping {
    ptr: *mut u8,
    len: usize,
    fd: OwnedFd,
    name: Option<String>,
    /// Mapped `PROT_READ` only: every call that would write through the mapping refuses with
    /// [`SegmentError::ReadOnly`] (a write would be a SIGSEGV).
    read_only: bool,
    /// The pid of the process that holds a registry slot for this mapping (0: none). A forked child
    /// has its own copy of this word, set when it adopts the slot its parent registered for it.
    attached: AtomicU32,
}

// SAFETY: the mapping is shared memory accessed only through atomics and ringfork objects; the raw
// pointer is just its address. Moving or sharing the handle between threads is fine.
unsafe impl Send for Mapping {}
// SAFETY: as for Send.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Ordering: Relaxed; a process-local word, written by this process only.
        if self.attached.load(Ordering::Relaxed) == std::process::id() {
            if let Some(h) = self.header_ref() {
                // One slot per mapping: release the first one holding this process's stamp (a
                // process that maps a segment twice holds two, one per mapping).
                let me = me();
                if let Some(slot) = h.find_attacher(me) {
                    h.unregister(slot, me);
                }
            }
        }
        // SAFETY: ptr/len are exactly what mmap returned; no reference into the mapping outlives the
        // Mapping (every handle holds an Arc to it).
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

impl Mapping {
    fn header_ref(&self) -> Option<&SegmentHeader> {
        // SAFETY: the mapping is valid for self's lifetime (see `region`).
        SegmentHeader::attach(unsafe { Region::from_raw_parts(self.ptr, self.len) }).ok()
    }
}

/// Named mappings of this process (and mappings of inherited fds, see [`Segment::from_fd`]), so
/// that the parent can register a forked child as an attacher of each (see [`NamedGuard`]).
static NAMED: Mutex<Vec<Weak<Mapping>>> = Mutex::new(Vec::new());

fn named() -> MutexGuard<'static, Vec<Weak<Mapping>>> {
    NAMED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The list of this process's named mappings, locked across a `fork` by the forking thread (so the
/// child finds it consistent and unlocked, whatever other threads of the parent were doing).
///
/// The parent registers the child (its pid is known once `fork` returns) in the registry of every
/// named segment it maps *before* it lets the child run on ([`Self::register_child`]); the child
/// then only notes that those slots are its own ([`Self::adopt`]): it takes no lock and makes no
/// registration another thread of the parent could be in the middle of.
pub(crate) struct NamedGuard(MutexGuard<'static, Vec<Weak<Mapping>>>);

/// An orderly goodbye at process exit: releases this process's registry slot in every named
/// segment it maps (see [`crate::queue::registration::release_for_exit`]). Only `try_lock`s.
pub(crate) fn release_for_exit() {
    let Ok(v) = NAMED.try_lock() else { return };
    let me = me();
    for w in v.iter() {
        let Some(m) = w.upgrade() else { continue };
        // Ordering: Relaxed; process-local (see `Mapping::attached`).
        if m.attached.swap(0, Ordering::Relaxed) == me.0 {
            if let Some(h) = m.header_ref() {
                if let Some(slot) = h.find_attacher(me) {
                    h.unregister(slot, me);
                }
            }
        }
    }
}

/// Locks the named-mapping list for a fork (see [`NamedGuard`]).
pub(crate) fn fork_guard() -> NamedGuard {
    NamedGuard(named())
}

impl NamedGuard {
    fn each(&self, mut f: impl FnMut(&Mapping)) {
        for w in self.0.iter() {
            if let Some(map) = w.upgrade() {
                f(&map);
            }
        }
    }

    /// In the parent: registers the child `(pid, start_time)` as an attacher of every named segment
    /// this process maps.
    pub(crate) fn register_child(&self, child: (u32, u64)) {
        self.each(|m| {
            if let Some(h) = m.header_ref() {
                let _ = h.register(child, is_dead);
            }
        });
    }

    /// In the child, after the parent registered it (`registered`), or without that (the parent
    /// died first): takes over the slots, or registers itself. Lock-free.
    pub(crate) fn adopt(&self, me: (u32, u64), registered: bool) {
        self.each(|m| {
            let Some(h) = m.header_ref() else { return };
            // Ordering: Relaxed; process-local (see `Mapping::attached`).
            let ours = m.attached.load(Ordering::Relaxed) != 0;
            if !ours {
                // Read-only mappings (inspection tools) are not attachers.
                return;
            }
            if registered || h.register(me, is_dead).is_some() {
                // Ordering: as above.
                m.attached.store(me.0, Ordering::Relaxed);
            } else {
                // Ordering: as above.
                m.attached.store(0, Ordering::Relaxed);
            }
        });
    }
}

/// A mapped shared-memory segment. Cloning is cheap (a reference count); the mapping lives until the
/// last clone is dropped. Clones moved into a forked child's closure refer to the same memory.
///
/// Two handles on one named segment, as two unrelated programs would open it (the second one by
/// name only), see the same objects:
///
/// ```
/// use ringfork::{Segment, ShmCell};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let name = format!("ringfork-doc-segment-{}", std::process::id());
///     let creator = Segment::create(&name, 64 * 1024)?;
///     let counter = ShmCell::new_in(&creator, "counter", 7u64)?;
///
///     let opener = Segment::open(&name)?; // another program: by name only
///     Segment::unlink(&name)?; // the name goes; both mappings stay valid
///     let same = ShmCell::<u64>::open(&opener, "counter")?;
///     assert_eq!(same.get(), 7);
///     same.set(8);
///     assert_eq!(counter.get(), 8);
///     assert!(!opener.same_mapping(&creator));
///     assert_eq!(opener.name(), Some(format!("/{name}").as_str()));
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Segment {
    map: Arc<Mapping>,
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.map.name)
            .field("len", &self.map.len)
            .finish()
    }
}

/// Validates and normalizes a POSIX shm name to `/name`.
pub fn normalize_name(name: &str) -> Result<String, SegmentError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let bad = |reason| {
        Err(SegmentError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if bare.is_empty() {
        return bad("empty");
    }
    if bare.len() > 200 {
        return bad("longer than 200 bytes");
    }
    if bare.contains('/') {
        return bad("contains '/' (POSIX shared-memory names are a single path component)");
    }
    if bare == "." || bare == ".." {
        return bad("'.' and '..' are not names");
    }
    if bare.contains('\0') {
        return bad("contains a NUL byte");
    }
    Ok(format!("/{bare}"))
}

fn me() -> (u32, u64) {
    ProcessStamp::current_process()
        .map(|s| (s.pid, s.start_time))
        .unwrap_or((std::process::id(), 0))
}

fn is_dead(pid: u32, start: u64) -> bool {
    probe(ProcessStamp { pid, start_time: start }) == Liveness::Dead
}

impl Segment {
    /// A new anonymous segment of at least `len` usable bytes (plus the segment header): a `memfd`
    /// mapped shared, inherited by forked children and passable to spawned children by fd. The
    /// memfd is sealed against shrinking and growing (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`):
    /// no process, not even one that reaches it through `/proc/PID/fd`, can truncate it under its
    /// users.
    pub fn anonymous(len: usize) -> Result<Segment, SegmentError> {
        let total = total_len(len)?;
        let fd = rustix::fs::memfd_create(
            "ringfork",
            rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| os_err("memfd_create", None, e))?;
        rustix::fs::ftruncate(&fd, total as u64).map_err(|e| os_err("ftruncate", None, e))?;
        // Sealed against resizing (a shrink would make every user's next access SIGBUS; the memfd is
        // reachable through /proc/PID/fd) and against further seals (a write seal would stop a
        // spawned child from mapping it writable).
        rustix::fs::fcntl_add_seals(
            &fd,
            rustix::fs::SealFlags::SHRINK | rustix::fs::SealFlags::GROW | rustix::fs::SealFlags::SEAL,
        )
        .map_err(|e| os_err("fcntl(F_ADD_SEALS)", None, e))?;
        let seg = Self::map(fd, total, None)?;
        SegmentHeader::init(seg.region(), me()).map_err(SegmentError::Init)?;
        Ok(seg)
    }

    /// Creates the named segment `name` (`O_CREAT|O_EXCL`, mode 0600) with at least `len` usable bytes.
    /// Fails with [`SegmentError::AlreadyExists`] if the name is taken.
    pub fn create(name: &str, len: usize) -> Result<Segment, SegmentError> {
        let name = normalize_name(name)?;
        let total = total_len(len)?;
        let fd = match rustix::shm::open(
            name.as_str(),
            rustix::shm::OFlags::CREATE | rustix::shm::OFlags::EXCL | rustix::shm::OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => return Err(SegmentError::AlreadyExists { name }),
            Err(e) => return Err(os_err("shm_open", Some(&name), e)),
        };
        let result = (|| {
            rustix::fs::ftruncate(&fd, total as u64).map_err(|e| os_err("ftruncate", Some(&name), e))?;
            let seg = Self::map(fd, total, Some(name.clone()))?;
            SegmentHeader::init(seg.region(), me()).map_err(SegmentError::Init)?;
            seg.register(false);
            Ok(seg)
        })();
        if result.is_err() {
            let _ = rustix::shm::unlink(name.as_str());
        }
        result
    }

    /// Opens the named segment `name`, validating its size and header (waiting up to 2 s for a
    /// segment another process is still creating). Only a regular file owned by this user is opened
    /// (see [`Segment::open_at`]).
    pub fn open(name: &str) -> Result<Segment, SegmentError> {
        Self::open_with(name, OpenOptions::default())
    }

    /// Opens `name` read-only (for inspection tools), waiting at most `wait` for a segment still being
    /// created; the registry is not touched. Never follows a symlink or blocks on a FIFO.
    pub fn open_read_only(name: &str, wait: Duration) -> Result<Segment, SegmentError> {
        Self::open_with(
            name,
            OpenOptions {
                read_only: true,
                wait,
                ..OpenOptions::default()
            },
        )
    }

    /// Opens the named segment `name` in `/dev/shm` with `opts` (see [`Segment::open_at`]).
    pub fn open_with(name: &str, opts: OpenOptions) -> Result<Segment, SegmentError> {
        let dir = rustix::fs::open(
            SHM_DIR,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| os_err("open", Some(SHM_DIR), e))?;
        Self::open_at(dir.as_fd(), name, opts)
    }

    /// Opens the segment file `name` relative to the directory `dir` (normally `/dev/shm`), safely
    /// whatever another local user put there: the file is opened with `O_NOFOLLOW | O_NONBLOCK |
    /// O_CLOEXEC` (a symlink is refused, a FIFO cannot block), then `fstat`ed and must be a regular
    /// file owned by the caller (unless [`OpenOptions::any_owner`]) before anything is mapped;
    /// otherwise [`SegmentError::Unsafe`] says what it was. Its size must match the length its
    /// header records ([`SegmentError::SizeChanged`] otherwise).
    pub fn open_at(dir: BorrowedFd<'_>, name: &str, opts: OpenOptions) -> Result<Segment, SegmentError> {
        let name = normalize_name(name)?;
        let fd = open_checked(dir, &name, opts)?;
        let read_only = opts.read_only;
        let wait = opts.wait;
        let start = Instant::now();
        loop {
            let st = rustix::fs::fstat(&fd).map_err(|e| os_err("fstat", Some(&name), e))?;
            let size = usize::try_from(st.st_size).unwrap_or(0);
            if size >= DATA_START {
                let seg = Self::map_with(
                    rustix::io::fcntl_dupfd_cloexec(&fd, 0).map_err(|e| os_err("dup", Some(&name), e))?,
                    size,
                    Some(name.clone()),
                    read_only,
                )?;
                match SegmentHeader::attach(seg.region()) {
                    Ok(h) => {
                        let expected = h.info(usize::MAX).len;
                        if expected != size as u64 {
                            return Err(SegmentError::SizeChanged {
                                name: Some(name),
                                expected,
                                found: size as u64,
                            });
                        }
                        if !read_only {
                            seg.register(false);
                        }
                        return Ok(seg);
                    }
                    Err(AttachError::TooSmall { needed, available }) if needed > available => {
                        // The header records more than the file holds: it was truncated.
                        return Err(SegmentError::SizeChanged {
                            name: Some(name),
                            expected: needed as u64,
                            found: available as u64,
                        });
                    }
                    Err(AttachError::NotReady { .. }) if start.elapsed() < wait => {}
                    Err(source) => {
                        return Err(SegmentError::Attach {
                            name: Some(name),
                            source,
                        })
                    }
                }
            } else if start.elapsed() >= wait {
                return Err(SegmentError::Attach {
                    name: Some(name),
                    source: AttachError::TooSmall {
                        needed: DATA_START,
                        available: size,
                    },
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Checks that the file behind this mapping still has the mapping's length (a named segment
    /// can be resized by any process with write permission on it; an anonymous one is sealed).
    /// [`SegmentError::SizeChanged`] if not: touching the part past the new end would `SIGBUS`.
    pub fn check_size(&self) -> Result<(), SegmentError> {
        let st = rustix::fs::fstat(&self.map.fd).map_err(|e| os_err("fstat", self.name(), e))?;
        let found = u64::try_from(st.st_size).unwrap_or(0);
        if found != self.map.len as u64 {
            return Err(SegmentError::SizeChanged {
                name: self.map.name.clone(),
                expected: self.map.len as u64,
                found,
            });
        }
        Ok(())
    }

    /// Removes the name `name` (existing mappings stay valid until unmapped).
    pub fn unlink(name: &str) -> Result<(), SegmentError> {
        let name = normalize_name(name)?;
        match rustix::shm::unlink(name.as_str()) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::NOENT) => Err(SegmentError::NotFound { name }),
            Err(e) => Err(os_err("shm_unlink", Some(&name), e)),
        }
    }

    /// Maps an inherited memfd or shm file descriptor (e.g. one passed to a spawned child).
    pub fn from_fd(fd: OwnedFd) -> Result<Segment, SegmentError> {
        let st = rustix::fs::fstat(&fd).map_err(|e| os_err("fstat", None, e))?;
        let size = usize::try_from(st.st_size).unwrap_or(0);
        let seg = Self::map(fd, size, None)?;
        let h = SegmentHeader::attach(seg.region()).map_err(|source| match source {
            AttachError::TooSmall { needed, available } if needed > available && available >= DATA_START => {
                SegmentError::SizeChanged {
                    name: None,
                    expected: needed as u64,
                    found: available as u64,
                }
            }
            source => SegmentError::Attach { name: None, source },
        })?;
        let expected = h.info(usize::MAX).len;
        if expected != size as u64 {
            return Err(SegmentError::SizeChanged {
                name: None,
                expected,
                found: size as u64,
            });
        }
        // Every process that maps a segment is an attacher, however it got it (a spawned child's
        // parent registered it before `exec`; then this adopts that slot). Listed with the named
        // mappings, so that this process's forked children are registered too.
        seg.register(true);
        let mut v = named();
        v.retain(|w| w.strong_count() > 0);
        v.push(Arc::downgrade(&seg.map));
        drop(v);
        Ok(seg)
    }

    fn map(fd: OwnedFd, len: usize, name: Option<String>) -> Result<Segment, SegmentError> {
        Self::map_with(fd, len, name, false)
    }

    fn map_with(fd: OwnedFd, len: usize, name: Option<String>, read_only: bool) -> Result<Segment, SegmentError> {
        if len < DATA_START {
            return Err(SegmentError::InvalidLength {
                len,
                reason: "smaller than the segment header",
            });
        }
        let prot = if read_only {
            ProtFlags::READ
        } else {
            ProtFlags::READ | ProtFlags::WRITE
        };
        // SAFETY: a fresh shared mapping of `len` bytes of `fd` at an address the kernel chooses; it
        // aliases no Rust object. Its contents are accessed only through atomics / ringfork objects.
        let ptr = unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, &fd, 0) }
            .map_err(|e| os_err("mmap", name.as_deref(), e))?;
        let map = Arc::new(Mapping {
            ptr: ptr.cast(),
            len,
            fd,
            name,
            read_only,
            attached: AtomicU32::new(0),
        });
        if map.name.is_some() {
            let mut v = named();
            v.retain(|w| w.strong_count() > 0);
            v.push(Arc::downgrade(&map));
        }
        Ok(Segment { map })
    }

    /// Registers this process as an attacher of the segment (one slot per mapping); with `adopt`,
    /// first looks for a slot the parent registered for it (a spawned child mapping an inherited fd).
    fn register(&self, adopt: bool) {
        let stamp = me();
        let h = self.header();
        let slot = if adopt { h.find_attacher(stamp) } else { None };
        if slot.or_else(|| h.register(stamp, is_dead)).is_some() {
            // Ordering: Relaxed; process-local (see `Mapping::attached`).
            self.map.attached.store(stamp.0, Ordering::Relaxed);
        }
    }

    /// Registers another live process `stamp` (pid, start time) as an attacher of this segment, so
    /// that `ringfork clean` keeps the segment while that process lives (the pool's result spill
    /// segments: created by a worker, read later by the parent). The slot is released when that
    /// process unmaps the segment or is found dead.
    pub(crate) fn register_other(&self, stamp: (u32, u64)) {
        if self.map.read_only {
            return;
        }
        let _ = self.header().register(stamp, is_dead);
    }

    /// The address range of the mapping, for the spawn path (which registers a child in the objects
    /// of the segments it passes).
    pub(crate) fn addr_range(&self) -> std::ops::Range<usize> {
        let lo = self.map.ptr as usize;
        lo..lo + self.map.len
    }

    /// Registers `child` as an attacher in the segment mapped at `range` (one of this process's
    /// mappings), from the child side of a spawn between `fork` and `exec`: lock-free,
    /// allocation-free, async-signal-safe (atomics and `/proc` reads).
    ///
    /// # Safety
    /// `range` is a live mapping of a ringfork segment ([`Self::addr_range`] of a segment that is
    /// held for the whole call).
    pub(crate) unsafe fn register_at(range: std::ops::Range<usize>, child: (u32, u64)) {
        // SAFETY: forwarded to the caller.
        let r = unsafe { Region::from_raw_parts(range.start as *mut u8, range.len()) };
        if let Ok(h) = SegmentHeader::attach(r) {
            let _ = h.register(child, is_dead);
        }
    }

    /// The whole mapping as a region (valid while `self` lives), for reading the segment header and
    /// for the constructors (which write only on writable mappings).
    pub(crate) fn region(&self) -> Region<'_> {
        // SAFETY: ptr..ptr+len is our live shared mapping; it stays mapped while `self` (an Arc to the
        // Mapping) is borrowed; its contents are only accessed through ringfork objects.
        unsafe { Region::from_raw_parts(self.map.ptr, self.map.len) }
    }

    /// Whether the segment is mapped read-only ([`Segment::open_read_only`]): objects cannot be
    /// created or opened in it (they write: registrations, locks, positions), only listed and
    /// inspected ([`Segment::objects`], [`Segment::inspect_object`], [`Segment::attachers`]).
    pub fn is_read_only(&self) -> bool {
        self.map.read_only
    }

    fn writable(&self) -> Result<(), SegmentError> {
        if self.map.read_only {
            return Err(SegmentError::ReadOnly {
                name: self.map.name.clone(),
            });
        }
        Ok(())
    }

    /// The region `offset..offset+len` of this segment, bounds-checked, for building
    /// [`ringfork_core`] objects in it. [`SegmentError::ReadOnly`] on a read-only mapping: every core
    /// object writes through its region.
    pub fn sub_region(&self, offset: usize, len: usize) -> Result<Region<'_>, SegmentError> {
        self.writable()?;
        Ok(self.region().sub(offset, len)?)
    }

    /// The validated header of the object `entry` (from [`Segment::objects`]), without waiting: a
    /// snapshot of its fields, and whether it attaches as the kind its directory entry names (a
    /// typed [`AttachError`] if not). Reads only, so it works on read-only mappings (`ringfork
    /// inspect`).
    pub fn inspect_object(&self, entry: &ObjectEntry) -> (Option<HeaderSnapshot>, Result<(), AttachError>) {
        let r = match self.region().sub(entry.offset, entry.size) {
            Ok(r) => r,
            Err(_) => {
                return (
                    None,
                    Err(AttachError::Corrupted {
                        what: "the directory entry points outside the segment",
                    }),
                )
            }
        };
        let snap = Header::peek(r).ok().map(|h| h.snapshot());
        let status = match Kind::from_raw(entry.kind) {
            // Header::attach only loads (it waits for READY, here not at all).
            Some(kind) => {
                Header::attach::<ringfork_core::wait::Spin>(r, kind, ringfork_core::Deadline::Immediate).map(|_| ())
            }
            None => Err(AttachError::Corrupted {
                what: "unknown kind in the directory",
            }),
        };
        (snap, status)
    }

    /// The region `offset..offset+len` with a `'static` lifetime, for handle types that keep a clone
    /// of this segment next to the objects they view.
    ///
    /// # Safety
    /// The caller must keep a clone of this `Segment` alive for as long as the region (or any
    /// reference derived from it) is used.
    pub(crate) unsafe fn sub_region_static(&self, offset: usize, len: usize) -> Result<Region<'static>, SegmentError> {
        self.writable()?;
        let r = self.region().sub(offset, len)?;
        // SAFETY: the caller keeps the mapping alive (see above); the bounds were checked by `sub`.
        Ok(unsafe { Region::from_raw_parts(r.as_ptr(), r.len()) })
    }

    /// The segment header (read by `objects`, `find`, `attachers`, `info`; written only through
    /// calls that check [`Segment::is_read_only`] first).
    pub(crate) fn header(&self) -> &SegmentHeader {
        // Every constructor validated the header; a peer can only scribble over atomics, which every
        // reader bounds. If it was overwritten since, fall back to a re-validation failure being
        // impossible to report here: SegmentHeader::attach cannot fail on a region we initialized
        // unless a peer corrupted it, and then every method bounds what it reads.
        let r = self.region();
        match SegmentHeader::attach(r) {
            Ok(h) => h,
            // SAFETY: the region is at least DATA_START bytes and page-aligned (checked at map time);
            // SegmentHeader is all atomics, so reinterpreting corrupted bytes is still sound.
            Err(_) => unsafe { &*(r.as_ptr() as *const SegmentHeader) },
        }
    }

    /// Reserves `size` bytes aligned to `align` for an object of `kind` called `name`; returns the
    /// offset. Objects are never freed individually (the segment is the unit of lifetime).
    pub fn alloc(&self, kind: Kind, name: &str, size: usize, align: usize) -> Result<usize, SegmentError> {
        self.writable()?;
        let deadline = ringfork_core::Deadline::after::<ringfork_core::wait::DefaultClock>(DIR_LOCK_TIMEOUT);
        match self
            .header()
            .alloc::<ringfork_core::wait::DefaultWait>(self.map.len, kind, name, size, align, deadline)
        {
            Ok(off) => Ok(off),
            Err(ArenaError::NameTaken { .. }) => Err(SegmentError::ObjectExists { name: name.to_owned() }),
            Err(e) => Err(e.into()),
        }
    }

    /// The objects listed in the directory.
    pub fn objects(&self) -> Vec<ObjectEntry> {
        self.header().objects(self.map.len).collect()
    }

    /// The first object called `name`.
    pub fn find(&self, name: &str) -> Option<ObjectEntry> {
        self.header().find(self.map.len, name)
    }

    /// Registered attachers with their liveness.
    pub fn attachers(&self) -> Vec<(Attacher, Liveness)> {
        self.header()
            .attachers()
            .map(|a| {
                let l = if a.start_time == 0 {
                    Liveness::Unknown
                } else {
                    probe(ProcessStamp {
                        pid: a.pid,
                        start_time: a.start_time,
                    })
                };
                (a, l)
            })
            .collect()
    }

    /// Summary numbers.
    pub fn info(&self) -> SegmentInfo {
        self.header().info(self.map.len)
    }

    /// Mapping length in bytes (header included).
    pub fn len(&self) -> usize {
        self.map.len
    }

    /// Always false: a segment has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The name, for named segments (`/name`).
    pub fn name(&self) -> Option<&str> {
        self.map.name.as_deref()
    }

    /// The file descriptor behind the mapping (a memfd or an shm fd).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.map.fd.as_fd()
    }

    /// The raw fd number.
    pub fn raw_fd(&self) -> i32 {
        self.map.fd.as_raw_fd()
    }

    /// Whether two handles refer to the same mapping.
    pub fn same_mapping(&self, other: &Segment) -> bool {
        Arc::ptr_eq(&self.map, &other.map)
    }
}

/// Where POSIX shared memory lives on Linux.
pub const SHM_DIR: &str = "/dev/shm";

/// Opens `/name` relative to `dir` without following a symlink or blocking on a FIFO, and checks
/// with `fstat` that it is a regular file owned by the caller (unless `opts.any_owner`).
fn open_checked(dir: BorrowedFd<'_>, name: &str, opts: OpenOptions) -> Result<OwnedFd, SegmentError> {
    use rustix::fs::{FileType, OFlags};
    let bare = name.strip_prefix('/').unwrap_or(name);
    let access = if opts.read_only { OFlags::RDONLY } else { OFlags::RDWR };
    let unsafe_entry = |reason| SegmentError::Unsafe {
        name: name.to_owned(),
        reason,
    };
    let fd = match rustix::fs::openat(
        dir,
        bare,
        access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Err(SegmentError::NotFound { name: name.to_owned() }),
        Err(rustix::io::Errno::LOOP) => return Err(unsafe_entry(UnsafeEntry::Symlink)),
        Err(rustix::io::Errno::NXIO) => return Err(unsafe_entry(UnsafeEntry::NotRegular { file_type: "socket" })),
        Err(e) => return Err(os_err("openat", Some(name), e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| os_err("fstat", Some(name), e))?;
    let file_type = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => None,
        FileType::Fifo => Some("fifo"),
        FileType::Socket => Some("socket"),
        FileType::CharacterDevice => Some("character device"),
        FileType::BlockDevice => Some("block device"),
        FileType::Directory => Some("directory"),
        FileType::Symlink => return Err(unsafe_entry(UnsafeEntry::Symlink)),
        _ => Some("special file"),
    };
    if let Some(file_type) = file_type {
        return Err(unsafe_entry(UnsafeEntry::NotRegular { file_type }));
    }
    let uid = st.st_uid;
    if !opts.any_owner && uid != rustix::process::geteuid().as_raw() {
        return Err(unsafe_entry(UnsafeEntry::ForeignOwner { uid }));
    }
    Ok(fd)
}

fn total_len(len: usize) -> Result<usize, SegmentError> {
    if len == 0 {
        return Err(SegmentError::InvalidLength {
            len,
            reason: "zero usable bytes",
        });
    }
    if len > MAX_SEGMENT_LEN {
        return Err(SegmentError::InvalidLength {
            len,
            reason: "larger than 1 TiB",
        });
    }
    let page = rustix::param::page_size();
    let total = DATA_START + len;
    Ok(total.div_ceil(page) * page)
}
