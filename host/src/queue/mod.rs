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
mod lane;
pub(crate) mod registration;

pub use joinable::{JoinableQueue, SimpleQueue, RECLAIM_INTERVAL};
pub use ringfork_core::queue::blocking::{set_spin_limit, spin_limit, TaskDoneError};
pub use ringfork_core::queue::{PopError, PushError};

pub(crate) use crate::encoding::{Plain, Serde};
pub use lane::DEFAULT_LANE_BYTES;

use crate::encoding::Encoding;
use crate::handle::{attach_err, locate, place, ATTACH_TIMEOUT};
use crate::segment::{Segment, SegmentError};
use lane::{lane_capacity, lane_size, Lane, ReadFail};
use registration::Hold;
use ringfork_core::queue::mpmc::{Mpmc, MpmcLayout};
use ringfork_core::queue::RING_ALIGN;
use ringfork_core::region::align_up;
use ringfork_core::wait::DefaultWait;
use ringfork_core::{Deadline, Kind, Wait};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

type Clock = <DefaultWait as Wait>::Clock;

/// Header `flags` of a typed queue whose encoding has a fixed size (plain data, serde scalars).
const FLAG_TYPED: u32 = 0;
/// Header `flags` of a byte queue.
const FLAG_BYTES: u32 = 1;
/// Header `flags` of a typed queue with a variable-size (serde) encoding: slots with a length word
/// and an inline capacity, plus the large-message lane.
const FLAG_SERDE: u32 = 2;

/// Default inline capacity of a serde queue's slots: messages whose encoding is at most this many
/// bytes travel in the slot itself (encoded straight into it, decoded straight out of it); larger
/// ones are streamed through the queue's large-message lane. With the ring's 8-byte slot word and
/// the 8-byte length word, a slot is 256 bytes: every slot starts on a cache line, so no two slots
/// share one (an inline capacity of `64k + 48` keeps that for [`Queue::with_buffers`]).
pub const DEFAULT_INLINE: usize = 240;
/// Largest inline capacity accepted.
const MAX_INLINE: usize = 1 << 20;
/// Largest encoding buffer a thread keeps between large `put`s.
const KEEP_LARGE_BUF: usize = 64 << 20;

thread_local! {
    /// The buffer a large message is encoded into before it is streamed (reused).
    static LARGE_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Descriptor word: the message is in the lane (low 62 bits: its length; next 8 bytes: its ticket).
const DESC_LANE: u64 = 1 << 63;
/// Descriptor word: the producer's encoding failed after claiming the slot; readers skip it.
const DESC_INVALID: u64 = 1 << 62;

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
    // Field order: `ring`, `lane` and `regs` borrow the mapping `seg` keeps alive (dropped first).
    ring: Mpmc<'static>,
    /// The large-message lane (serde queues only).
    lane: Option<Lane>,
    pub(crate) regs: Arc<Regs>,
    seg: Segment,
}

impl fmt::Debug for RawQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.ring, f)
    }
}

/// For an `async` attempt (`crate::aio`): the flag a non-blocking ring operation sets when its
/// `Full`/`Empty` answer is about to change without a wake-up; `None` for the blocking calls.
#[cfg(feature = "async")]
pub(crate) type Busy<'a> = Option<&'a std::cell::Cell<bool>>;
/// Without the `async` feature nothing is ever busy-polled.
#[cfg(not(feature = "async"))]
pub(crate) type Busy<'a> = Option<&'a std::convert::Infallible>;

/// The largest inline capacity whose messages `put` encodes onto the stack in one pass.
const STACK_ENCODE: usize = 1024;

pub(crate) fn deadline(timeout: Option<Duration>) -> Deadline {
    Deadline::from_timeout::<Clock>(timeout)
}

fn init_err(e: ringfork_core::InitError) -> SegmentError {
    SegmentError::ObjectInit(e)
}

impl RawQueue {
    /// Where the lane starts in a region whose ring has `layout`.
    fn lane_offset(layout: &MpmcLayout) -> Option<usize> {
        align_up(layout.size()?, RING_ALIGN)
    }

    fn create(
        seg: Option<&Segment>,
        name: &str,
        kind: Kind,
        layout: MpmcLayout,
        limit: u64,
        flags: u32,
        lane_bytes: Option<usize>,
    ) -> Result<Self, SegmentError> {
        let too_big = || {
            SegmentError::ObjectInit(ringfork_core::InitError::InvalidParameter {
                name: "maxsize",
                reason: "maxsize times element size overflows the address space",
            })
        };
        let ring_size = layout.size().ok_or_else(too_big)?;
        let lane_at = Self::lane_offset(&layout).ok_or_else(too_big)?;
        let size = match lane_bytes {
            None => ring_size,
            Some(b) => lane_size(layout.capacity as usize, b)
                .and_then(|l| lane_at.checked_add(l))
                .ok_or_else(too_big)?,
        };
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
        let lane_err = |reason| init_err(ringfork_core::InitError::InvalidParameter { name: "lane", reason });
        let mut lane_region = None;
        if let Some(b) = lane_bytes {
            // The lane is initialized before the ring header publishes READY (attachers wait for it).
            let r = region
                .sub(lane_at, size - lane_at)
                .map_err(|_| lane_err("the large-message lane does not fit"))?;
            if !Lane::init(r, layout.capacity as usize, b) {
                return Err(lane_err("the large-message lane does not fit"));
            }
            lane_region = Some(r);
        }
        let ring = Mpmc::init::<DefaultWait>(region, kind, layout, limit, flags).map_err(init_err)?;
        let lane = match lane_region {
            Some(r) => Some(Lane::attach(r, ring).map_err(lane_err)?),
            None => None,
        };
        Ok(RawQueue {
            regs: Regs::new(&ring),
            ring,
            lane,
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
        let mut lane = None;
        if flags == FLAG_SERDE {
            let corrupted = |what| attach_err(seg, ringfork_core::AttachError::Corrupted { what });
            let layout = MpmcLayout {
                capacity: ring.capacity() as u64,
                slot_size: slot,
                align,
            };
            let at = Self::lane_offset(&layout).ok_or_else(|| corrupted("ring size overflows"))?;
            let r = region
                .sub(at, region.len().saturating_sub(at))
                .map_err(|_| corrupted("the large-message lane does not fit its region"))?;
            lane = Some(Lane::attach(r, ring).map_err(corrupted)?);
        }
        Ok(RawQueue {
            regs: Regs::new(&ring),
            ring,
            lane,
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

    /// `push`, or with `busy` (an `async` attempt, `crate::aio`) one non-blocking `try_push_busy`.
    #[inline(always)]
    fn push_any(&self, deadline: Deadline, busy: Busy<'_>, write: impl FnMut(*mut u8)) -> Result<(), PushError> {
        #[cfg(feature = "async")]
        if let Some(busy) = busy {
            return self.try_push_busy(busy, write);
        }
        let _ = busy;
        self.push(deadline, write)
    }

    /// `pop`, or with `busy` (an `async` attempt) one non-blocking `try_pop_busy`.
    #[inline(always)]
    fn pop_any<R>(&self, deadline: Deadline, busy: Busy<'_>, read: impl FnMut(*const u8) -> R) -> Result<R, PopError> {
        #[cfg(feature = "async")]
        if let Some(busy) = busy {
            return self.try_pop_busy(busy, read);
        }
        let _ = busy;
        self.pop(deadline, read)
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
/// `T` is any serde type by default (`E` = [`Serde`]): a message of any size goes through, however
/// small the queue (see "Messages of any size" below). Plain shared-memory data
/// (`#[derive(ShmSafe)]`) moves by copy with no encoding step through `Queue<T, Plain>` (alias
/// [`PlainQueue`]); integer and float scalars take that fixed-size path with the default encoding
/// too, so a `Queue<u64>` is exactly as fast as a `Queue<u64, Plain>`.
///
/// ```
/// use ringfork::{Process, Queue};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
/// struct Job { id: u64, path: String, tags: Vec<String> }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let q = Queue::<Job>::new(4)?;
///     let q2 = q.clone();
///     let mut p = Process::new(move || {
///         for id in 0..10 {
///             q2.put(Job { id, path: format!("/data/{id}.csv"), tags: vec!["a".into()] }).unwrap();
///         }
///         // far larger than the queue's buffers: streamed through its large-message lane
///         q2.put(Job { id: 10, path: "x".repeat(3 << 20), tags: vec![] }).unwrap();
///     });
///     p.start()?;
///     for id in 0..10 {
///         assert_eq!(q.get()?.id, id);
///     }
///     assert_eq!(q.get()?.path.len(), 3 << 20);
///     p.join()?;
///     assert_eq!(p.exitcode(), Some(0));
///     Ok(())
/// }
/// ```
///
/// Non-blocking and timed calls, and `close` (shown with plain `u64`s):
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
///
/// # Messages of any size
/// A serde queue's slots hold a length word and [`DEFAULT_INLINE`] bytes (see
/// [`Queue::with_buffers`]): a message whose encoding fits is encoded straight into its slot and
/// decoded straight out of it. A larger one is streamed through the queue's *large-message lane*,
/// a byte stream of [`DEFAULT_LANE_BYTES`] in the same segment: the slot carries a descriptor and
/// the `get` that takes it copies the frames out as the producer writes them, so a message of any
/// size goes through while both sides run. (A single thread that puts a message larger than the
/// lane's free space before getting it would wait for itself: its `put` returns only once the
/// lane has taken the whole message, so give such a `put` a timeout or another process to read.)
/// Large messages are read in the order their descriptors were taken; their crash semantics are
/// those of every message: a producer killed mid-message loses that message only (the reader skips
/// it within about 50 ms and takes the next one), a consumer killed mid-message takes it with it,
/// counted in [`Queue::lost`]. Design and layout: `docs/architecture.md`, `docs/layout.md`.
///
/// # Errors
/// A value whose `Serialize` fails is [`PushError::Encode`] (nothing was put); a message that does
/// not decode as `T` (another type was put, or garbage) is [`PopError::Decode`]: the message was
/// taken, the next `get` is unaffected:
///
/// ```
/// use ringfork::{PopError, Queue, Segment};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let seg = Segment::anonymous(1 << 22)?;
///     let strings = Queue::<String>::new_in(&seg, "q", 4)?;
///     let numbers = Queue::<Vec<u32>>::open(&seg, "q")?; // same queue, another type
///     strings.put("\u{ff}".to_string())?; // not a valid Vec<u32> encoding
///     strings.put("\u{1}\u{7}".to_string())?; // happens to be vec![7]
///     assert!(matches!(numbers.get(), Err(PopError::Decode { .. })));
///     assert_eq!(numbers.get()?, vec![7]);
///     Ok(())
/// }
/// ```
#[doc(alias = "multiprocessing.Queue")]
pub struct Queue<T, E: Encoding<T> = Serde> {
    raw: RawQueue,
    inline: usize,
    _t: PhantomData<fn(T) -> (T, E)>,
}

/// A queue of plain shared-memory data moved by copy, with no encoding step: `Queue<T, Plain>`.
///
/// ```
/// #[derive(Clone, Copy, Debug, PartialEq, ringfork::ShmSafe)]
/// #[repr(C)]
/// struct Tick { seq: u64, price: f64 }
///
/// let q = ringfork::PlainQueue::<Tick>::new(16)?;
/// q.put(Tick { seq: 1, price: 2.5 })?;
/// assert_eq!(q.get()?, Tick { seq: 1, price: 2.5 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type PlainQueue<T> = Queue<T, Plain>;

impl<T, E: Encoding<T>> Clone for Queue<T, E> {
    fn clone(&self) -> Self {
        Queue {
            raw: self.raw.clone(),
            inline: self.inline,
            _t: PhantomData,
        }
    }
}

impl<T, E: Encoding<T>> fmt::Debug for Queue<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("ring", &self.raw).finish()
    }
}

/// What one pop of a serde queue produced. A decoded value is not in here: it is written straight
/// into the caller's `Option<T>` (see [`Queue::take`]).
enum Taken {
    /// The value was decoded into the caller's slot.
    Value,
    /// The message did not decode (its length).
    Undecodable(usize),
    Bytes(Vec<u8>),
    Skip,
    /// A large message given up on past the deadline (counted lost).
    Lost,
}

/// What [`Queue::get_counted`] reports to its counter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Count {
    /// A message was taken (inside the ring's pop, before it is read).
    Taken,
    /// The take yielded no value: a skipped or undecodable message.
    Untaken,
    /// The take was dropped and counted lost (a large message given up on past the deadline).
    Lost,
}

impl<T, E: Encoding<T>> Queue<T, E> {
    fn decode_err(len: usize) -> PopError {
        PopError::Decode {
            len,
            type_name: std::any::type_name::<T>(),
        }
    }

    fn encode_err() -> PushError {
        PushError::Encode {
            type_name: std::any::type_name::<T>(),
        }
    }

    pub(crate) fn create(seg: Option<&Segment>, name: &str, kind: Kind, maxsize: usize) -> Result<Self, SegmentError> {
        Self::create_with(seg, name, kind, maxsize, DEFAULT_INLINE, DEFAULT_LANE_BYTES)
    }

    pub(crate) fn create_with(
        seg: Option<&Segment>,
        name: &str,
        kind: Kind,
        maxsize: usize,
        inline: usize,
        lane: usize,
    ) -> Result<Self, SegmentError> {
        let raw = match E::fixed_size() {
            Some(n) => RawQueue::create(
                seg,
                name,
                kind,
                MpmcLayout {
                    capacity: maxsize as u64,
                    slot_size: n,
                    align: std::mem::align_of::<T>(),
                },
                0,
                FLAG_TYPED,
                None,
            )?,
            None => {
                let inline = inline.clamp(8, MAX_INLINE);
                let layout = MpmcLayout {
                    capacity: maxsize as u64,
                    slot_size: 8 + inline,
                    align: 8,
                };
                RawQueue::create(
                    seg,
                    name,
                    kind,
                    layout,
                    inline as u64,
                    FLAG_SERDE,
                    Some(lane_capacity(lane)),
                )?
            }
        };
        Ok(Self::from_raw(raw))
    }

    /// The typed handle over a created or opened ring (a serde queue's inline capacity is its slot
    /// less the descriptor word).
    fn from_raw(raw: RawQueue) -> Self {
        let inline = match raw.lane {
            Some(_) => raw.ring.slot_size() - 8,
            None => 0,
        };
        Queue {
            raw,
            inline,
            _t: PhantomData,
        }
    }

    pub(crate) fn open_kind(seg: &Segment, name: &str, kind: Kind) -> Result<Self, SegmentError> {
        let raw = match E::fixed_size() {
            Some(n) => RawQueue::open(seg, name, kind, n, std::mem::align_of::<T>(), Some(0), FLAG_TYPED)?,
            None => {
                // SAFETY: only reads the header to learn the inline capacity; RawQueue::open
                // validates everything (flags first).
                let region = unsafe { locate(seg, name)? };
                let header = ringfork_core::Header::attach::<DefaultWait>(
                    region,
                    kind,
                    Deadline::after::<Clock>(ATTACH_TIMEOUT),
                )
                .map_err(|e| attach_err(seg, e))?;
                let inline = usize::try_from(header.msg_limit())
                    .ok()
                    .filter(|&l| l <= MAX_INLINE)
                    .unwrap_or(0);
                RawQueue::open(seg, name, kind, 8 + inline, 8, Some(inline as u64), FLAG_SERDE)?
            }
        };
        Ok(Self::from_raw(raw))
    }

    /// A queue of at most `maxsize` (>= 1) items in a new anonymous segment.
    pub fn new(maxsize: usize) -> Result<Self, SegmentError> {
        Self::create(None, "queue", Kind::Queue, maxsize)
    }

    /// A queue of at most `maxsize` items whose slots hold messages of up to `inline` encoded bytes
    /// (clamped to 8 ..= 1 MiB; default [`DEFAULT_INLINE`]) and whose large-message lane streams
    /// larger ones through `lane_bytes` bytes (at least 4 KiB; default [`DEFAULT_LANE_BYTES`]), in
    /// a new anonymous segment. Fixed-size encodings (plain data, scalars) ignore both.
    ///
    /// ```
    /// let q = ringfork::Queue::<String>::with_buffers(8, 64, 1 << 16)?;
    /// assert_eq!(q.inline_capacity(), 64);
    /// q.put("short".into())?; // in its slot
    /// q.put("long ".repeat(100))?; // 500 bytes: through the lane
    /// assert_eq!(q.get()?, "short");
    /// assert_eq!(q.get()?.len(), 500);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_buffers(maxsize: usize, inline: usize, lane_bytes: usize) -> Result<Self, SegmentError> {
        Self::create_with(None, "queue", Kind::Queue, maxsize, inline, lane_bytes)
    }

    crate::handle::open_or_create!(maxsize: usize);

    /// A queue of at most `maxsize` items placed in `seg` under `name` (default buffers: the
    /// segment needs room for the ring, and for a serde queue its lane of [`DEFAULT_LANE_BYTES`]).
    pub fn new_in(seg: &Segment, name: &str, maxsize: usize) -> Result<Self, SegmentError> {
        Self::create(Some(seg), name, Kind::Queue, maxsize)
    }

    /// Attaches to the queue called `name` in `seg`, checking that its encoding flavour (fixed-size
    /// or serde), element size and alignment match `Queue<T, E>`'s.
    pub fn open(seg: &Segment, name: &str) -> Result<Self, SegmentError> {
        Self::open_kind(seg, name, Kind::Queue)
    }

    /// Bytes of encoding a message may have to travel in its slot (larger ones take the lane); 0
    /// for fixed-size encodings.
    pub fn inline_capacity(&self) -> usize {
        self.inline
    }

    /// Puts `v`, waiting as long as it takes for room. Fails with [`PushError::Closed`] if the queue
    /// is closed (or, with the queue full, no live process other than this one holds it), and with
    /// [`PushError::Encode`] if `v` cannot be encoded.
    pub fn put(&self, v: T) -> Result<(), PushError> {
        self.put_deadline(v, Deadline::Never)
    }

    /// Puts `v`, waiting at most `timeout` for room ([`PushError::TimedOut`] after that; a large
    /// message partly streamed at the deadline is withdrawn: its reader skips it).
    pub fn put_timeout(&self, v: T, timeout: Duration) -> Result<(), PushError> {
        self.put_deadline(v, deadline(Some(timeout)))
    }

    /// Puts `v` if there is room now ([`PushError::Full`] otherwise; for a message larger than
    /// the inline capacity, room means room in the lane for all of it). Wakes a sleeping consumer.
    ///
    /// Linearizable: `Full` only if the queue was full at some instant during the call. A consumer
    /// caught between taking an item and freeing its slot is waited for (up to
    /// [`ringfork_core::queue::mpmc::CLAIM_PATIENCE`], 100 ms, if it is stopped) instead of
    /// reporting a queue full that is not.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, v: T) -> Result<(), PushError> {
        self.put_deadline(v, Deadline::Immediate)
    }

    /// Whether the encoding is the value's own bytes: a fixed size equal to `size_of::<T>()`.
    /// Every fixed-size encoding of the sealed set is (`Plain`: the bytes of a `ShmSafe` value;
    /// `Serde`'s scalar fast paths: native-endian integers and floats; checked by the unit test
    /// `fixed_size_encodings_are_the_values_bytes`), and every bit pattern of those types is a
    /// valid value. Such queues move the value with one unaligned copy, as before encodings
    /// existed: measured 3-5 ns per put+get cheaper than going through `encode_raw`/`decode_raw`.
    /// (`usize` on a 32-bit target encodes to 8 bytes: not its own bytes, so it takes the codec.)
    #[inline(always)]
    fn own_bytes() -> bool {
        E::fixed_size() == Some(std::mem::size_of::<T>())
    }

    /// Puts `v` with an explicit deadline.
    #[inline]
    pub fn put_deadline(&self, v: T, deadline: Deadline) -> Result<(), PushError> {
        self.put_any(v, deadline, None)
    }

    /// One `put` attempt (`busy`: an `async` attempt, see [`Busy`]) of an owned value, or of a
    /// borrowed one (an `async` attempt that may have to retry).
    #[inline(always)]
    pub(crate) fn put_any<V: std::borrow::Borrow<T>>(
        &self,
        v: V,
        deadline: Deadline,
        busy: Busy<'_>,
    ) -> Result<(), PushError> {
        if Self::own_bytes() {
            let v = v.borrow();
            return self.raw.push_any(deadline, busy, |p| {
                // SAFETY: the payload holds size_of::<T>() bytes (the layout); the encoding is the
                // value's bytes (see `own_bytes`), so a byte copy of `v` is the message.
                unsafe { std::ptr::copy_nonoverlapping(v as *const T as *const u8, p, std::mem::size_of::<T>()) };
            });
        }
        match E::fixed_size() {
            Some(n) => self.raw.push_any(deadline, busy, |p| {
                // SAFETY: the slot's payload holds `n` bytes (the layout). Fixed-size encodings
                // cannot fail for a right length.
                let _ = unsafe { E::encode_raw(v.borrow(), p, n) };
            }),
            None => self.put_var(v, deadline, busy),
        }
    }

    /// Whether `v` travels through the large-message lane (its encoding exceeds the inline
    /// capacity): an `async` put hands such a message to a thread (`crate::aio`).
    #[cfg(feature = "async")]
    pub(crate) fn needs_lane(&self, v: &T) -> Result<bool, PushError> {
        if E::fixed_size().is_some() {
            return Ok(false);
        }
        Ok(E::encoded_len(v).map_err(|_| Self::encode_err())? > self.inline)
    }

    /// Puts a serde value (owned, or borrowed as for [`Self::put_any`]).
    fn put_var<V: std::borrow::Borrow<T>>(&self, v: V, deadline: Deadline, busy: Busy<'_>) -> Result<(), PushError> {
        if self.inline <= STACK_ENCODE {
            // One encoding pass onto the stack (no separate sizing pass), then one copy of the
            // bytes into the slot: the common case of a small record.
            let mut stack = std::mem::MaybeUninit::<[u8; STACK_ENCODE]>::uninit();
            // SAFETY: the buffer is writable for `inline` <= STACK_ENCODE bytes.
            let fit = unsafe { E::encode_bounded(v.borrow(), stack.as_mut_ptr().cast::<u8>(), self.inline) }
                .map_err(|_| Self::encode_err())?;
            if let Some(len) = fit {
                // An owned value is dropped once encoded, before the push: its destructor (a
                // record's frees) runs before the commit rather than after it, which a consumer
                // waiting for that commit notices (1P1C `Job` records: +3-7 % in alternating runs).
                drop(v);
                let bytes = stack.as_ptr().cast::<u8>();
                return self.raw.push_any(deadline, busy, |p| {
                    // SAFETY: the payload is 8 + inline bytes, 8-aligned (data_off 8); len <= inline;
                    // `bytes` holds the `len` bytes encode_bounded wrote, in private memory.
                    unsafe {
                        std::ptr::copy_nonoverlapping(bytes, p.add(8), len);
                        (p as *mut u64).write_volatile(len as u64);
                    }
                });
            }
        }
        let v = v.borrow();
        let len = E::encoded_len(v).map_err(|_| Self::encode_err())?;
        if len <= self.inline {
            let mut failed = false;
            self.raw.push_any(deadline, busy, |p| {
                // SAFETY: the payload is 8 + inline bytes, 8-aligned (data_off 8); len <= inline.
                unsafe {
                    failed = E::encode_raw(v, p.add(8), len).is_err();
                    let head = if failed { DESC_INVALID } else { len as u64 };
                    (p as *mut u64).write_volatile(head);
                }
            })?;
            return if failed { Err(Self::encode_err()) } else { Ok(()) };
        }
        let Some(lane) = self.raw.lane else {
            return Err(PushError::Corrupted);
        };
        // Encoded once into this thread's reusable buffer (no fresh allocation, and so no page
        // faults, per large message), then streamed from it.
        let mut buf = LARGE_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
        buf.clear();
        if buf.try_reserve_exact(len).is_err() {
            return Err(Self::encode_err());
        }
        // SAFETY: `buf` has capacity for `len` bytes, written by encode_raw before set_len (on
        // failure the length stays 0).
        let encoded = unsafe { E::encode_raw(v, buf.as_mut_ptr(), len) };
        if encoded.is_err() {
            return Err(Self::encode_err());
        }
        // SAFETY: encode_raw wrote exactly `len` bytes.
        unsafe { buf.set_len(len) };
        let total = len as u64;
        let r = Self::stream(&self.raw, lane, &buf, total, deadline);
        if buf.capacity() <= KEEP_LARGE_BUF {
            LARGE_BUF.with(|b| *b.borrow_mut() = buf);
        }
        r
    }

    fn stream(raw: &RawQueue, lane: Lane, bytes: &[u8], total: u64, deadline: Deadline) -> Result<(), PushError> {
        lane.put(bytes, deadline, |ticket, record| {
            raw.push(deadline, |p| {
                record(p);
                // SAFETY: the payload is 8 + inline (>= 16) bytes, 8-aligned.
                unsafe {
                    (p as *mut u64).write_volatile(DESC_LANE | (total & !(DESC_LANE | DESC_INVALID)));
                    (p.add(8) as *mut u64).write_volatile(ticket);
                }
            })
        })
    }

    /// Takes the oldest item, waiting as long as it takes. Fails with [`PopError::Closed`] once the
    /// queue is closed and drained, [`PopError::Disconnected`] once it is empty and no live process
    /// other than this one holds the queue (see the module docs), [`PopError::Decode`] if the
    /// message taken does not decode as a `T`.
    pub fn get(&self) -> Result<T, PopError> {
        self.get_deadline(Deadline::Never)
    }

    /// Takes the oldest item, waiting at most `timeout` ([`PopError::TimedOut`] after that; never
    /// earlier). A large message already taken is read to its end while its stream makes progress;
    /// if it stalls for a probe interval (50 ms) past the deadline (its producer stopped, a lane
    /// scribbled over), it is dropped, counted in [`Self::lost`], and the call fails with
    /// `TimedOut`.
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
        self.get_counted(deadline, &|_| {})
    }

    /// [`Self::get_deadline`], calling `count(Count::Taken)` inside the ring's pop the moment a
    /// message is taken (before a large one is read: a consumer killed mid-read has already counted
    /// it), then `Count::Untaken` if that take yields no value (a skipped or undecodable message) or
    /// `Count::Lost` if it was given up on. `JoinableQueue` counts its pending tasks with it.
    #[inline(always)]
    pub(crate) fn get_counted(&self, deadline: Deadline, count: &impl Fn(Count)) -> Result<T, PopError> {
        self.get_any(deadline, None, count)
    }

    /// [`Self::get_counted`], or with `busy` one non-blocking `async` attempt (see [`Busy`]; a
    /// large message taken is then read as by `try_get`: to its end while its stream progresses).
    #[inline(always)]
    pub(crate) fn get_any(&self, deadline: Deadline, busy: Busy<'_>, count: &impl Fn(Count)) -> Result<T, PopError> {
        if Self::own_bytes() {
            return self.raw.pop_any(deadline, busy, |p| {
                count(Count::Taken);
                // SAFETY: the payload holds size_of::<T>() bytes; the encoding is the value's bytes
                // and every bit pattern is a valid T (see `own_bytes`); unaligned read.
                unsafe { (p as *const T).read_unaligned() }
            });
        }
        let undo = |r: Result<T, PopError>| {
            if r.is_err() {
                count(Count::Untaken);
            }
            r
        };
        match E::fixed_size() {
            Some(n) => undo(
                self.raw
                    .pop_any(deadline, busy, |p| {
                        count(Count::Taken);
                        // SAFETY: the slot's payload holds `n` bytes (the layout); decode_raw
                        // reads them with one unaligned read and accepts any bytes of that length.
                        unsafe { E::decode_raw(p, n) }.ok()
                    })?
                    .ok_or_else(|| Self::decode_err(n)),
            ),
            None => loop {
                let mut value = None;
                let taken = self.raw.pop_any(deadline, busy, |p| {
                    count(Count::Taken);
                    self.take(p, deadline, &mut value)
                })?;
                match taken {
                    // `take` reports `Value` only after storing one.
                    Taken::Value => return undo(value.ok_or(PopError::Corrupted)),
                    Taken::Undecodable(len) => return undo(Err(Self::decode_err(len))),
                    Taken::Bytes(b) => {
                        let len = b.len();
                        return undo(E::decode_vec(b).map_err(|_| Self::decode_err(len)));
                    }
                    Taken::Skip => {
                        count(Count::Untaken);
                        continue;
                    }
                    Taken::Lost => {
                        count(Count::Lost);
                        return Err(PopError::TimedOut);
                    }
                }
            },
        }
    }

    /// Reads the message in the serde slot at `p` (inside the ring's pop: a large message is read
    /// from the lane while the slot is held). A small record is decoded into `out`, which lives in
    /// the caller's frame, and only a small status travels back through the ring's layers: returned
    /// from the pop instead, each record was moved through several frames (store-forwarding stalls on
    /// each move), which cost `get` of a small record about 25 ns of its ~155 (measured).
    #[inline(always)]
    fn take(&self, p: *const u8, deadline: Deadline, out: &mut Option<T>) -> Taken {
        // SAFETY: the payload is 8 + inline bytes, 8-aligned; the slot is ours until we return.
        let head = unsafe { (p as *const u64).read_volatile() };
        if head & DESC_LANE != 0 {
            // SAFETY: as above (inline >= 8).
            let ticket = unsafe { (p.add(8) as *const u64).read_volatile() };
            let Some(lane) = self.raw.lane else {
                return Taken::Skip;
            };
            return match lane.read(ticket, head & !(DESC_LANE | DESC_INVALID), deadline) {
                Ok(b) => Taken::Bytes(b),
                Err(ReadFail::Skipped) => Taken::Skip,
                Err(ReadFail::GaveUp) => Taken::Lost,
            };
        }
        if head & DESC_INVALID != 0 {
            return Taken::Skip;
        }
        let len = usize::try_from(head).unwrap_or(usize::MAX);
        if len > self.inline {
            return Taken::Undecodable(len);
        }
        // SAFETY: len <= inline: inside the payload; decode_raw copies the bytes out first.
        match unsafe { E::decode_raw(p.add(8), len) } {
            Ok(v) => {
                *out = Some(v);
                Taken::Value
            }
            Err(_) => Taken::Undecodable(len),
        }
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

    /// Messages lost because the consumer that had taken them was killed mid-copy (for a large
    /// message: mid-stream, or before its turn to read).
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
            raw: RawQueue::create(seg, name, Kind::Queue, layout, msg_limit as u64, FLAG_BYTES, None)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of<T>(v: &T) -> Vec<u8> {
        // SAFETY: reading the bytes of a padding-free scalar or ShmSafe value.
        unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) }.to_vec()
    }

    fn check<T, E: Encoding<T>>(v: T) {
        if E::fixed_size() != Some(std::mem::size_of::<T>()) {
            return;
        }
        let mut out = vec![0u8; std::mem::size_of::<T>()];
        // SAFETY: `out` holds the encoded length.
        unsafe { E::encode_raw(&v, out.as_mut_ptr(), out.len()) }.unwrap();
        assert_eq!(out, bytes_of(&v), "{}", std::any::type_name::<T>());
    }

    #[test]
    fn fixed_size_encodings_are_the_values_bytes() {
        check::<u8, Serde>(0xa5);
        check::<u16, Serde>(0xa55a);
        check::<u32, Serde>(0xdead_beef);
        check::<u64, Serde>(0x0123_4567_89ab_cdef);
        check::<u128, Serde>(u128::MAX / 3);
        check::<usize, Serde>(usize::MAX / 5);
        check::<i8, Serde>(-3);
        check::<i16, Serde>(-300);
        check::<i32, Serde>(-70_000);
        check::<i64, Serde>(i64::MIN + 7);
        check::<i128, Serde>(i128::MIN + 9);
        check::<isize, Serde>(-11);
        check::<f32, Serde>(1.5);
        check::<f64, Serde>(-2.25);
        check::<[u32; 3], Plain>([1, 2, 3]);
        check::<u64, Plain>(42);
    }
}
