//! Python-shaped queues on the shared-memory MPMC ring ([`ringfork_core::queue::mpmc`]):
//! [`Queue<T>`], [`ByteQueue`] (bytes and `String`s of bounded size), [`SimpleQueue<T>`] and
//! [`JoinableQueue<T>`].
//!
//! Every queue follows the handle pattern of [`crate::ShmCell`]: `new` (its own anonymous segment,
//! inherited by forked children), `new_in(&seg, name, ..)`, `open(&seg, name)` (validated), and a cheap
//! `Clone` to move into a child process's closure.
//!
//! # Crash semantics (see `docs/reliability.md` and [`ringfork_core::queue::mpmc`])
//! - A producer killed mid-`put` loses only the message it had not committed.
//! - A consumer killed between claiming a message and finishing its copy takes that one message with
//!   it: it is **counted** in [`Queue::lost`], never silently dropped, never delivered twice.
//! - A slot wedged by a killed participant is forced past by the survivors' blocking calls within
//!   about 50 ms ([`ringfork_core::queue::blocking::PROBE_INTERVAL`]).
//!
//! # Disconnection (Python cannot do this)
//! The processes that *hold* a queue are its peers: a process is registered (pid and start time,
//! once per process however many handles it has) when it creates or opens a handle, a forked child
//! is registered by its parent before it runs, and a process is released when its last handle is
//! dropped. A blocking `get` on an empty queue fails with [`PopError::Disconnected`] within about
//! 50 ms once no live process other than the caller holds the queue (and the caller has no other
//! thread that could put); a blocking `put` on a full queue fails with [`PushError::Closed`] on the
//! same condition. A process that holds the queue but has not put yet still counts: a live child
//! that will put a moment later keeps the parent's `get` waiting. A queue that only one process
//! ever held never reports `Disconnected` (as in Python, such a `get` waits or times out). See
//! [`ringfork_core::queue::peers`].

mod joinable;
pub(crate) mod registration;

pub use joinable::{JoinableQueue, SimpleQueue, RECLAIM_INTERVAL};
pub use ringfork_core::queue::blocking::{set_spin_limit, spin_limit, TaskDoneError};
pub use ringfork_core::queue::{PopError, PushError};

use crate::handle::{attach_err, locate, place, ATTACH_TIMEOUT};
use crate::segment::{Segment, SegmentError};
use registration::Hold;
use ringfork_core::queue::mpmc::{Mpmc, MpmcLayout};
use ringfork_core::queue::RING_ALIGN;
use ringfork_core::wait::DefaultWait;
use ringfork_core::{Deadline, Kind, ShmSafe, Wait};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

type Clock = <DefaultWait as Wait>::Clock;

/// Header `flags` of a typed queue.
const FLAG_TYPED: u32 = 0;
/// Header `flags` of a byte queue.
const FLAG_BYTES: u32 = 1;

/// This process's holds on both sides of the ring (a queue handle can put and get).
#[derive(Debug)]
pub(crate) struct Regs {
    pub(crate) producer: Hold,
    pub(crate) consumer: Hold,
}

impl Regs {
    fn new(ring: &Mpmc<'static>) -> Arc<Regs> {
        Arc::new(Regs {
            producer: Hold::new(&ring.ctrl().producers),
            consumer: Hold::new(&ring.ctrl().consumers),
        })
    }
}

/// The untyped core of every queue handle: a segment clone, the ring view, registrations.
#[derive(Clone)]
pub(crate) struct RawQueue {
    // Field order: `ring` and `regs` borrow the mapping `seg` keeps alive (dropped first).
    ring: Mpmc<'static>,
    pub(crate) regs: Arc<Regs>,
    seg: Segment,
}

impl fmt::Debug for RawQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.ring, f)
    }
}

pub(crate) fn deadline(timeout: Option<Duration>) -> Deadline {
    Deadline::from_timeout::<Clock>(timeout)
}

fn init_err(e: ringfork_core::InitError) -> SegmentError {
    SegmentError::ObjectInit(e)
}

impl RawQueue {
    fn create(
        seg: Option<&Segment>,
        name: &str,
        kind: Kind,
        layout: MpmcLayout,
        limit: u64,
        flags: u32,
    ) -> Result<Self, SegmentError> {
        let size = layout
            .size()
            .ok_or(SegmentError::ObjectInit(ringfork_core::InitError::InvalidParameter {
                name: "maxsize",
                reason: "maxsize times element size overflows the address space",
            }))?;
        if layout.capacity == 0 {
            return Err(init_err(ringfork_core::InitError::InvalidParameter {
                name: "maxsize",
                reason: "must be at least 1 (ringfork queues are bounded; Python's maxsize=0 means unbounded)",
            }));
        }
        let own;
        let seg = match seg {
            Some(s) => s,
            None => {
                own = Segment::anonymous(size + layout.region_align())?;
                &own
            }
        };
        // SAFETY: the returned handle stores a clone of `seg`.
        let region = unsafe { place(seg, kind, name, size, layout.region_align())? };
        let ring = Mpmc::init::<DefaultWait>(region, kind, layout, limit, flags).map_err(init_err)?;
        Ok(RawQueue {
            regs: Regs::new(&ring),
            ring,
            seg: seg.clone(),
        })
    }

    fn open(
        seg: &Segment,
        name: &str,
        kind: Kind,
        slot: usize,
        align: usize,
        limit: Option<u64>,
        flags: u32,
    ) -> Result<Self, SegmentError> {
        // SAFETY: the returned handle stores a clone of `seg`.
        let region = unsafe { locate(seg, name)? };
        let ring = Mpmc::attach::<DefaultWait>(
            region,
            kind,
            slot,
            align,
            limit,
            flags,
            Deadline::after::<Clock>(ATTACH_TIMEOUT),
        )
        .map_err(|e| attach_err(seg, e))?;
        Ok(RawQueue {
            regs: Regs::new(&ring),
            ring,
            seg: seg.clone(),
        })
    }

    #[inline]
    fn push(&self, deadline: Deadline, write: impl FnMut(*mut u8)) -> Result<(), PushError> {
        let who = self.regs.producer.id();
        if deadline == Deadline::Immediate {
            let control = &self.ring.ctrl().control;
            if control.is_closed() {
                return Err(PushError::Closed);
            }
            self.ring.try_push_with(who, write)?;
            control.not_empty.notify_one::<DefaultWait>();
            return Ok(());
        }
        self.ring.push_with::<DefaultWait>(who, deadline, write)
    }

    /// One non-blocking push for an `async` waiter (`crate::aio`): as `push(Deadline::Immediate, ..)`,
    /// and sets `busy` when a `Full` answer is about to change without a wake-up.
    #[cfg(feature = "async")]
    pub(crate) fn try_push_busy(
        &self,
        busy: &std::cell::Cell<bool>,
        write: impl FnMut(*mut u8),
    ) -> Result<(), PushError> {
        let control = &self.ring.ctrl().control;
        if control.is_closed() {
            return Err(PushError::Closed);
        }
        self.ring.try_push_with_busy(self.regs.producer.id(), busy, write)?;
        control.not_empty.notify_one::<DefaultWait>();
        Ok(())
    }

    /// One non-blocking pop for an `async` waiter: as `pop(Deadline::Immediate, ..)`, and sets
    /// `busy` when an `Empty` answer is about to change without a wake-up.
    #[cfg(feature = "async")]
    pub(crate) fn try_pop_busy<R>(
        &self,
        busy: &std::cell::Cell<bool>,
        read: impl FnMut(*const u8) -> R,
    ) -> Result<R, PopError> {
        let control = &self.ring.ctrl().control;
        match self.ring.try_pop_with_busy(self.regs.consumer.id(), busy, read) {
            Ok(r) => {
                control.not_full.notify_one::<DefaultWait>();
                Ok(r)
            }
            Err(PopError::Empty) if control.is_closed() => Err(PopError::Closed),
            Err(e) => Err(e),
        }
    }

    #[inline]
    fn pop<R>(&self, deadline: Deadline, read: impl FnMut(*const u8) -> R) -> Result<R, PopError> {
        let who = self.regs.consumer.id();
        if deadline == Deadline::Immediate {
            let control = &self.ring.ctrl().control;
            return match self.ring.try_pop_with(who, read) {
                Ok(r) => {
                    control.not_full.notify_one::<DefaultWait>();
                    Ok(r)
                }
                Err(PopError::Empty) if control.is_closed() => Err(PopError::Closed),
                Err(e) => Err(e),
            };
        }
        self.ring.pop_with::<DefaultWait, R>(who, deadline, read)
    }
}

/// A bounded multi-producer multi-consumer FIFO queue of `T` in shared memory: Python's
/// `multiprocessing.Queue` (with a mandatory `maxsize`).
///
/// ```
/// use std::time::Duration;
/// let q = ringfork::Queue::<u64>::new(3)?;
/// for i in 0..3 {
///     q.try_put(i)?;
/// }
/// assert!(q.full());
/// assert_eq!(q.try_put(3), Err(ringfork::PushError::Full));
/// assert_eq!(q.get()?, 0);
/// assert_eq!(q.get_timeout(Duration::from_millis(10))?, 1);
/// assert_eq!(q.qsize(), 1);
/// q.close();
/// assert_eq!(q.try_get()?, 2); // drained after close...
/// assert_eq!(q.get(), Err(ringfork::PopError::Closed)); // ...then Closed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "multiprocessing.Queue")]
pub struct Queue<T: ShmSafe> {
    raw: RawQueue,
    _t: PhantomData<T>,
}

impl<T: ShmSafe> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            raw: self.raw.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: ShmSafe> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("ring", &self.raw).finish()
    }
}

impl<T: ShmSafe> Queue<T> {
    fn layout(maxsize: usize) -> MpmcLayout {
        MpmcLayout {
            capacity: maxsize as u64,
            slot_size: std::mem::size_of::<T>(),
            align: std::mem::align_of::<T>(),
        }
    }

    pub(crate) fn create(seg: Option<&Segment>, name: &str, kind: Kind, maxsize: usize) -> Result<Self, SegmentError> {
        Ok(Queue {
            raw: RawQueue::create(seg, name, kind, Self::layout(maxsize), 0, FLAG_TYPED)?,
            _t: PhantomData,
        })
    }

    pub(crate) fn open_kind(seg: &Segment, name: &str, kind: Kind) -> Result<Self, SegmentError> {
        Ok(Queue {
            raw: RawQueue::open(
                seg,
                name,
                kind,
                std::mem::size_of::<T>(),
                std::mem::align_of::<T>(),
                Some(0),
                FLAG_TYPED,
            )?,
            _t: PhantomData,
        })
    }

    /// A queue of at most `maxsize` (>= 1) items in a new anonymous segment.
    pub fn new(maxsize: usize) -> Result<Self, SegmentError> {
        Self::create(None, "queue", Kind::Queue, maxsize)
    }

    crate::handle::open_or_create!(maxsize: usize);

    /// A queue of at most `maxsize` items placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, maxsize: usize) -> Result<Self, SegmentError> {
        Self::create(Some(seg), name, Kind::Queue, maxsize)
    }

    /// Attaches to the queue called `name` in `seg`, checking that its element size and alignment
    /// match `T`'s.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        Self::open_kind(seg, name, Kind::Queue)
    }

    /// Puts `v`, waiting as long as it takes for room. Fails with [`PushError::Closed`] if the queue
    /// is closed (or, with the queue full, no live process other than this one holds it).
    pub fn put(&self, v: T) -> Result<(), PushError> {
        self.put_deadline(v, Deadline::Never)
    }

    /// Puts `v`, waiting at most `timeout` for room ([`PushError::TimedOut`] after that).
    pub fn put_timeout(&self, v: T, timeout: Duration) -> Result<(), PushError> {
        self.put_deadline(v, deadline(Some(timeout)))
    }

    /// Puts `v` if there is room now ([`PushError::Full`] otherwise). Wakes a sleeping consumer.
    ///
    /// Linearizable: `Full` only if the queue was full at some instant during the call. A consumer
    /// caught between taking an item and freeing its slot is waited for (up to
    /// [`ringfork_core::queue::mpmc::CLAIM_PATIENCE`], 100 ms, if it is stopped) instead of
    /// reporting a queue full that is not.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, v: T) -> Result<(), PushError> {
        self.put_deadline(v, Deadline::Immediate)
    }

    /// Puts `v` with an explicit deadline.
    #[inline]
    pub fn put_deadline(&self, v: T, deadline: Deadline) -> Result<(), PushError> {
        // SAFETY: the payload pointer is aligned for T and holds size_of::<T>() bytes (layout).
        self.raw.push(deadline, |p| unsafe { (p as *mut T).write_volatile(v) })
    }

    /// Takes the oldest item, waiting as long as it takes. Fails with [`PopError::Closed`] once the
    /// queue is closed and drained, [`PopError::Disconnected`] once it is empty and no live process
    /// other than this one holds the queue (see the module docs).
    pub fn get(&self) -> Result<T, PopError> {
        self.get_deadline(Deadline::Never)
    }

    /// Takes the oldest item, waiting at most `timeout` ([`PopError::TimedOut`] after that; never
    /// earlier).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        self.get_deadline(deadline(Some(timeout)))
    }

    /// Takes the oldest item if there is one now ([`PopError::Empty`] otherwise).
    ///
    /// Linearizable: `Empty` only if the queue was empty at some instant during the call (so a
    /// process that `try_put` an item and then calls `try_get` gets an item). A producer caught
    /// between claiming a slot and committing it while a later item is already queued is waited for
    /// (a dead one's slot is forced), up to [`ringfork_core::queue::mpmc::CLAIM_PATIENCE`], 100 ms,
    /// if it is stopped.
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, PopError> {
        self.get_deadline(Deadline::Immediate)
    }

    /// Takes the oldest item with an explicit deadline.
    #[inline]
    pub fn get_deadline(&self, deadline: Deadline) -> Result<T, PopError> {
        // SAFETY: aligned for T, size_of::<T>() bytes; T is ShmSafe, so any bytes are a valid T.
        self.raw.pop(deadline, |p| unsafe { (p as *const T).read_volatile() })
    }

    /// The number of items in the queue at some instant during the call.
    ///
    /// Like Python's `qsize`, the answer may be stale by the time it is used: other processes put
    /// and get concurrently. It was true at the instant both positions were read consistently (the
    /// tail read twice around the head), and is clamped to `0..=maxsize`. Items being written or
    /// read at that instant are counted.
    pub fn qsize(&self) -> usize {
        self.raw.ring.len()
    }

    /// Whether the queue was empty at some instant during the call (stale, as [`Self::qsize`]).
    pub fn empty(&self) -> bool {
        self.raw.ring.is_empty()
    }

    /// Whether the queue was full at some instant during the call (stale, as [`Self::qsize`]).
    pub fn full(&self) -> bool {
        self.raw.ring.is_full()
    }

    /// The queue's `maxsize`.
    pub fn capacity(&self) -> usize {
        self.raw.ring.capacity()
    }

    /// Closes the queue **for every process**: puts fail with [`PushError::Closed`], gets drain what
    /// is left and then fail with [`PopError::Closed`], and every blocked caller wakes. (Python's
    /// `close` only says "this process will put no more"; here that is implied by process exit.)
    pub fn close(&self) {
        self.raw.ring.close::<DefaultWait>();
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.raw.ring.ctrl().control.is_closed()
    }

    /// Messages lost because the consumer that had taken them was killed mid-copy.
    pub fn lost(&self) -> u64 {
        self.raw.ring.ctrl().control.lost()
    }

    /// Forces past slots wedged by killed processes now, instead of at the next blocked call's probe.
    /// Busy-polling (`try_*`) users call this when they see no progress for a while.
    pub fn recover(&self) -> bool {
        self.raw.ring.recover()
    }

    /// The segment the queue lives in.
    pub fn segment(&self) -> &Segment {
        &self.raw.seg
    }

    pub(crate) fn ctrl(&self) -> &'static ringfork_core::queue::RingCtrl {
        self.raw.ring.ctrl()
    }

    /// The untyped ring handle (for `crate::aio`).
    #[cfg(feature = "async")]
    pub(crate) fn raw(&self) -> &RawQueue {
        &self.raw
    }
}

/// A bounded MPMC queue of byte messages of `0..=msg_limit` bytes (and UTF-8 `String`s): the
/// variable-size flavour of [`Queue`]. Each slot holds a largest message, so memory is
/// `maxsize * (msg_limit + 8)` bytes.
///
/// ```
/// let q = ringfork::ByteQueue::new(4, 16)?;
/// q.put(b"hello")?;
/// q.put_str("wörld")?;
/// assert_eq!(q.get()?, b"hello");
/// assert_eq!(q.get_string()?, "wörld");
/// assert!(matches!(q.try_put(&[0; 17]), Err(ringfork::PushError::TooLarge { len: 17, limit: 16 })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ByteQueue {
    raw: RawQueue,
    limit: usize,
}

/// Why [`ByteQueue::get_string`] failed.
///
/// ```
/// use ringfork::{queue::StrGetError, ByteQueue};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let q = ByteQueue::new(4, 16)?;
///     q.put(&[0xff, 0xfe])?;
///     q.put_str("ok")?;
///     // The bad message is taken and handed back; the next one is unaffected.
///     assert_eq!(q.get_string(), Err(StrGetError::NotUtf8(vec![0xff, 0xfe])));
///     assert_eq!(q.get_string()?, "ok");
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrGetError {
    /// The queue operation failed.
    Pop(PopError),
    /// The message was not UTF-8 (it has been taken; its bytes are returned).
    NotUtf8(Vec<u8>),
}

impl fmt::Display for StrGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrGetError::Pop(e) => fmt::Display::fmt(e, f),
            StrGetError::NotUtf8(b) => write!(
                f,
                "message of {} bytes is not valid UTF-8; use `get` for bytes",
                b.len()
            ),
        }
    }
}

impl std::error::Error for StrGetError {}

impl From<PopError> for StrGetError {
    fn from(e: PopError) -> Self {
        StrGetError::Pop(e)
    }
}

impl ByteQueue {
    fn layout(maxsize: usize, limit: usize) -> Option<MpmcLayout> {
        Some(MpmcLayout {
            capacity: maxsize as u64,
            slot_size: limit.checked_add(8).filter(|s| *s <= u32::MAX as usize)?,
            align: 8,
        })
    }

    fn create(seg: Option<&Segment>, name: &str, maxsize: usize, msg_limit: usize) -> Result<Self, SegmentError> {
        let layout = Self::layout(maxsize, msg_limit).ok_or(SegmentError::ObjectInit(
            ringfork_core::InitError::InvalidParameter {
                name: "msg_limit",
                reason: "must be below 4 GiB",
            },
        ))?;
        Ok(ByteQueue {
            raw: RawQueue::create(seg, name, Kind::Queue, layout, msg_limit as u64, FLAG_BYTES)?,
            limit: msg_limit,
        })
    }

    /// A queue of at most `maxsize` messages of at most `msg_limit` bytes, in a new anonymous segment.
    pub fn new(maxsize: usize, msg_limit: usize) -> Result<Self, SegmentError> {
        Self::create(None, "bytequeue", maxsize, msg_limit)
    }

    crate::handle::open_or_create!(maxsize: usize, msg_limit: usize);

    /// As [`Self::new`], placed in `seg` under `name`.
    pub fn new_in(seg: &Segment, name: &str, maxsize: usize, msg_limit: usize) -> Result<Self, SegmentError> {
        Self::create(Some(seg), name, maxsize, msg_limit)
    }

    /// Attaches to the byte queue called `name` in `seg` (whatever its limit).
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        // SAFETY: only reads the header to learn the limit; the ring is validated by RawQueue::open.
        let region = unsafe { locate(seg, name)? };
        let header =
            ringfork_core::Header::attach::<DefaultWait>(region, Kind::Queue, Deadline::after::<Clock>(ATTACH_TIMEOUT))
                .map_err(|e| attach_err(seg, e))?;
        let limit = usize::try_from(header.msg_limit()).unwrap_or(usize::MAX);
        let layout = Self::layout(1, limit).ok_or_else(|| {
            attach_err(
                seg,
                ringfork_core::AttachError::Corrupted {
                    what: "message limit too large",
                },
            )
        })?;
        Ok(ByteQueue {
            raw: RawQueue::open(
                seg,
                name,
                Kind::Queue,
                layout.slot_size,
                8,
                Some(limit as u64),
                FLAG_BYTES,
            )?,
            limit,
        })
    }

    /// The largest message.
    pub fn msg_limit(&self) -> usize {
        self.limit
    }

    /// Puts `msg` with an explicit deadline.
    pub fn put_deadline(&self, msg: &[u8], deadline: Deadline) -> Result<(), PushError> {
        if msg.len() > self.limit {
            return Err(PushError::TooLarge {
                len: msg.len(),
                limit: self.limit,
            });
        }
        self.raw.push(deadline, |p| {
            // SAFETY: the slot holds 8 + limit bytes, 8-aligned; msg.len() <= limit.
            unsafe {
                (p as *mut u64).write_volatile(msg.len() as u64);
                std::ptr::copy_nonoverlapping(msg.as_ptr(), p.add(8), msg.len());
            }
        })
    }

    /// Puts `msg`, waiting as long as it takes.
    pub fn put(&self, msg: &[u8]) -> Result<(), PushError> {
        self.put_deadline(msg, Deadline::Never)
    }

    /// Puts `msg`, waiting at most `timeout`.
    pub fn put_timeout(&self, msg: &[u8], timeout: Duration) -> Result<(), PushError> {
        self.put_deadline(msg, deadline(Some(timeout)))
    }

    /// Puts `msg` if there is room now.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, msg: &[u8]) -> Result<(), PushError> {
        self.put_deadline(msg, Deadline::Immediate)
    }

    /// Puts a string (its UTF-8 bytes), waiting as long as it takes.
    pub fn put_str(&self, s: &str) -> Result<(), PushError> {
        self.put(s.as_bytes())
    }

    /// Takes the oldest message with an explicit deadline.
    pub fn get_deadline(&self, deadline: Deadline) -> Result<Vec<u8>, PopError> {
        let limit = self.limit;
        let mut out = Vec::new();
        self.raw.pop(deadline, |p| {
            // SAFETY: the slot holds 8 + limit bytes, 8-aligned; the length read from shared memory
            // is clamped to the limit before use.
            unsafe {
                let len = ((p as *const u64).read_volatile()).min(limit as u64) as usize;
                out.clear();
                out.extend_from_slice(std::slice::from_raw_parts(p.add(8), len));
            }
        })?;
        Ok(out)
    }

    /// Takes the oldest message, waiting as long as it takes.
    pub fn get(&self) -> Result<Vec<u8>, PopError> {
        self.get_deadline(Deadline::Never)
    }

    /// Takes the oldest message, waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<Vec<u8>, PopError> {
        self.get_deadline(deadline(Some(timeout)))
    }

    /// Takes the oldest message if there is one now.
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<Vec<u8>, PopError> {
        self.get_deadline(Deadline::Immediate)
    }

    /// Takes the oldest message as a `String`, waiting as long as it takes.
    pub fn get_string(&self) -> Result<String, StrGetError> {
        String::from_utf8(self.get()?).map_err(|e| StrGetError::NotUtf8(e.into_bytes()))
    }

    /// Messages queued at some instant (stale, as [`Queue::qsize`]).
    pub fn qsize(&self) -> usize {
        self.raw.ring.len()
    }

    /// Whether the queue was empty at some instant.
    pub fn empty(&self) -> bool {
        self.raw.ring.is_empty()
    }

    /// Whether the queue was full at some instant.
    pub fn full(&self) -> bool {
        self.raw.ring.is_full()
    }

    /// Closes the queue for every process (see [`Queue::close`]).
    pub fn close(&self) {
        self.raw.ring.close::<DefaultWait>();
    }

    /// Messages lost to consumers killed mid-copy.
    pub fn lost(&self) -> u64 {
        self.raw.ring.ctrl().control.lost()
    }

    /// The segment the queue lives in.
    pub fn segment(&self) -> &Segment {
        &self.raw.seg
    }
}

/// Alignment used for queue regions (exported for segment sizing).
pub const QUEUE_ALIGN: usize = RING_ALIGN;
