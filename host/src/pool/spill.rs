//! Spill segments: the arguments or results of one task that are too large for the pool's arena
//! travel in a named segment of their own, created for that task and removed as soon as it is done.
//!
//! The arena is fixed at pool creation (16 MiB by default) and mapped by workers that are already
//! running, so it cannot grow; a new anonymous mapping made after the fork would not be visible to
//! them. A named POSIX segment is: its name is derived from values both sides know (the parent's
//! pid, a per-pool nonce derived from the pool key, the task id and the direction), so nothing
//! about it is read from the pool's shared memory.
//!
//! | direction | created by | opened by | removed by |
//! |-----------|------------|-----------|------------|
//! | arguments (`-a`) | the parent, when it dispatches the task | the worker that runs it (read, then unmapped) | the parent, when the task completes or fails |
//! | results (`-r`)   | the worker, after running the task      | the parent, when it collects the result         | the parent, right after reading (or when the worker died) |
//!
//! Every spill segment is a ringfork segment (a segment header with its attacher registry) holding
//! one object, `pool-spill`: an object header (kind `pool`, `msg_limit` = the payload length)
//! followed by the payload (an argument or result *area*, see `shared::TaskSlot`). A worker that
//! creates a result spill registers the parent as an attacher before it unmaps the segment, so
//! `ringfork clean` leaves it alone while the parent lives; once the parent is gone (and with it,
//! by `PR_SET_PDEATHSIG`, its workers), every spill segment left behind has no live attacher and
//! `ringfork clean` removes it.

use crate::segment::SegmentError;
use crate::Segment;
use ringfork_core::header::{Header, ObjectParams, HEADER_SIZE};
use ringfork_core::wait::DefaultWait;
use ringfork_core::{Deadline, Kind};

/// The object name inside a spill segment.
const OBJECT: &str = "pool-spill";
/// Object alignment inside the segment.
const ALIGN: usize = 64;

/// Which area a spill segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// A task's arguments (parent → worker).
    Args,
    /// A task's results (worker → parent).
    Results,
}

/// Names the spill segments of one pool.
#[derive(Debug, Clone, Copy)]
pub struct Namer {
    /// The pool's parent process.
    pub parent: u32,
    /// A per-pool nonce (from the pool key), so two pools of one parent never collide.
    pub nonce: u32,
}

impl Namer {
    /// The segment name of task `task`'s area in direction `dir`.
    pub fn name(&self, task: u64, dir: Dir) -> String {
        let d = match dir {
            Dir::Args => 'a',
            Dir::Results => 'r',
        };
        format!("ringfork-pool-{}-{:08x}-{task}-{d}", self.parent, self.nonce)
    }

    /// Removes task `task`'s spill segment in direction `dir` if it exists (errors are ignored:
    /// there is usually none).
    pub fn remove(&self, task: u64, dir: Dir) {
        let _ = Segment::unlink(&self.name(task, dir));
    }
}

/// A mapped spill segment and where its payload is.
pub struct Spill {
    seg: Segment,
    ptr: *mut u8,
    len: usize,
}

impl std::fmt::Debug for Spill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spill")
            .field("seg", &self.seg)
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: `ptr` points into the mapping `seg` keeps alive; a Spill is used by one thread at a time
// (the pool's parent state is under its mutex).
unsafe impl Send for Spill {}

impl Spill {
    /// Creates the segment `name` (`O_EXCL`, mode 0600) with a payload of `len` bytes.
    pub fn create(name: &str, len: usize) -> Result<Spill, SegmentError> {
        let size = HEADER_SIZE + len.max(1);
        let seg = Segment::create(name, size + ALIGN)?;
        let placed = (|| {
            let off = seg.alloc(Kind::Pool, OBJECT, size, ALIGN)?;
            let region = seg.sub_region(off, size)?;
            let mut params = ObjectParams::new(Kind::Pool, size as u64);
            params.msg_limit = len as u64;
            let claim = Header::claim(region, &params, ALIGN).map_err(SegmentError::ObjectInit)?;
            claim.publish::<DefaultWait>();
            Ok::<_, SegmentError>(region.as_ptr().wrapping_add(HEADER_SIZE))
        })();
        match placed {
            Ok(ptr) => Ok(Spill { seg, ptr, len }),
            Err(e) => {
                let _ = Segment::unlink(name);
                Err(e)
            }
        }
    }

    /// Opens the segment `name` and checks that its payload holds at least `need` bytes (the
    /// length the task's control fields promise); `None` if it is missing or does not validate.
    pub fn open(name: &str, need: usize) -> Option<Spill> {
        // No waiting: the other side made the segment READY before it published the task or the
        // result, so one that is not ready is a scribble (and a deadline call must not stall on it).
        let opts = crate::OpenOptions {
            wait: std::time::Duration::ZERO,
            ..crate::OpenOptions::default()
        };
        let seg = Segment::open_with(name, opts).ok()?;
        let entry = seg.find(OBJECT)?;
        let region = seg.sub_region(entry.offset, entry.size).ok()?;
        let h = Header::attach::<DefaultWait>(region, Kind::Pool, Deadline::Immediate).ok()?;
        // Bound the recorded length by the object (the peer that created it may have written anything).
        let len = usize::try_from(h.msg_limit()).ok()?;
        if len < need || len > region.len().saturating_sub(HEADER_SIZE) {
            return None;
        }
        let ptr = region.as_ptr().wrapping_add(HEADER_SIZE);
        Some(Spill { seg, ptr, len: need })
    }

    /// The payload's start (valid for `len()` bytes while `self` lives).
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Payload bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Registers the process `stamp` (pid, start time) as an attacher of this segment, so that
    /// `ringfork clean` keeps it while that process lives.
    pub fn register(&self, stamp: (u32, u64)) {
        self.seg.register_other(stamp);
    }
}
