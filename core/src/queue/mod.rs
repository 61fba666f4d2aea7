//! Ring-buffer queues in shared memory.
//!
//! - [`spsc`]: single-producer single-consumer ring of `T: ShmSafe` (cached remote index, batch ops);
//! - [`mpmc`]: multi-producer multi-consumer ring of fixed-size slots (Vyukov's bounded queue with
//!   per-slot sequence numbers), with recovery from participants killed mid-operation;
//! - [`bytering`]: single-producer single-consumer ring of variable-length byte messages;
//! - [`blocking`]: the not-empty / not-full waiting layer shared by all three (sleeper counts, so the
//!   fast path makes no system call when nobody sleeps), `close`, and peer-liveness checks;
//! - [`peers`]: the table of participating processes (with [`crate::os::ProcessStamp`]s) every ring
//!   carries, used to detect disconnection and to recover from killed claimants.
//!
//! Every ring is a *view* over a region: a header, control words on their own cache lines, the peer
//! tables, then the data. Nothing read from the region is trusted: indices are reduced modulo the
//! capacity recorded at attach time (in process-local memory), and lengths are bounded by the message
//! limit and by the bytes actually published, so a peer that scribbles over the region can corrupt
//! messages or stall the ring (operations then fail with [`PopError::Corrupted`] or time out), never
//! make this process read or write out of bounds.

pub mod blocking;
pub mod bytering;
pub mod mpmc;
pub mod peers;
mod slotword;
pub mod spsc;

use core::fmt;

/// Why a push (put / send) failed.
///
// The example needs the `futex` feature (the default): the OS monotonic clock (`OsClock`) for its deadline.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::queue::{spsc::Spsc, PushError};
/// use ringfork_core::{time::OsClock, wait::DefaultWait, Deadline, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let (mut tx, _rx) = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 2).unwrap().split();
/// tx.push_slice(&[1, 2]).unwrap();
/// assert_eq!(tx.try_push(3), Err(PushError::Full));
/// let soon = Deadline::after::<OsClock>(std::time::Duration::from_millis(5));
/// assert_eq!(tx.push::<DefaultWait>(3, soon), Err(PushError::TimedOut));
/// tx.ring().close::<DefaultWait>();
/// let later = Deadline::after::<OsClock>(std::time::Duration::from_secs(5));
/// assert_eq!(tx.push::<DefaultWait>(3, later), Err(PushError::Closed)); // at once, no wait
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError {
    /// The ring is full (a `try_*` call, or Python's `queue.Full` from `put_nowait`).
    #[doc(alias = "queue.Full")]
    Full,
    /// The deadline passed while the ring stayed full.
    TimedOut,
    /// The ring was closed: nothing more may be pushed.
    Closed,
    /// The message is larger than the ring's message limit.
    TooLarge {
        /// The message's length in bytes.
        len: usize,
        /// The largest message the ring accepts.
        limit: usize,
    },
    /// The ring's shared state is inconsistent (a peer wrote garbage over it).
    Corrupted,
    /// The value could not be encoded (its `Serialize` impl failed, or it serializes a sequence of
    /// unknown length); nothing was put.
    Encode {
        /// The value's type.
        type_name: &'static str,
    },
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PushError::Full => f.write_str("the queue is full; retry later or use a blocking put"),
            PushError::TimedOut => f.write_str("timed out: the queue stayed full until the deadline"),
            PushError::Closed => f.write_str("the queue is closed; nothing more can be put on it"),
            PushError::TooLarge { len, limit } => write!(
                f,
                "message of {len} bytes exceeds the queue's limit of {limit} bytes; create the queue with a \
                 larger message limit or split the message"
            ),
            PushError::Corrupted => {
                f.write_str("the queue's shared state is corrupted (a process wrote over it); recreate the queue")
            }
            PushError::Encode { type_name } => write!(
                f,
                "cannot encode a `{type_name}`: its Serialize impl failed or it serializes a sequence of unknown \
                 length; nothing was put"
            ),
        }
    }
}

/// Why a pop (get / recv) failed.
///
// The example needs the `futex` feature (the default): the OS monotonic clock (`OsClock`) for its deadline.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::queue::{spsc::Spsc, PopError};
/// use ringfork_core::{time::OsClock, wait::DefaultWait, Deadline, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let (mut tx, mut rx) = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 2).unwrap().split();
/// assert_eq!(rx.try_pop(), Err(PopError::Empty));
/// let soon = Deadline::after::<OsClock>(std::time::Duration::from_millis(5));
/// assert_eq!(rx.pop::<DefaultWait>(soon), Err(PopError::TimedOut));
/// tx.try_push(1).unwrap();
/// rx.ring().close::<DefaultWait>();
/// let later = Deadline::after::<OsClock>(std::time::Duration::from_secs(5));
/// assert_eq!(rx.pop::<DefaultWait>(later), Ok(1)); // pushed before the close: still delivered
/// assert_eq!(rx.pop::<DefaultWait>(later), Err(PopError::Closed)); // at once, no wait
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PopError {
    /// The ring is empty (a `try_*` call, or Python's `queue.Empty` from `get_nowait`).
    #[doc(alias = "queue.Empty")]
    Empty,
    /// The deadline passed while the ring stayed empty.
    TimedOut,
    /// The ring was closed and everything committed before the close has been taken.
    Closed,
    /// The ring is empty and every producer that ever registered is dead: nothing can arrive.
    Disconnected,
    /// The ring's shared state is inconsistent (a peer wrote garbage over it). Byte rings discard what
    /// was pending and carry on; retrying is allowed.
    Corrupted,
    /// The caller's buffer is smaller than the next message (which stays in the ring).
    BufferTooSmall {
        /// The next message's length.
        needed: usize,
    },
    /// The message taken does not decode as the receiver's type (the two ends disagree on the
    /// type, or a peer wrote garbage). The message was consumed; the next one is unaffected.
    Decode {
        /// The message's encoded length in bytes.
        len: usize,
        /// The receiver's type.
        type_name: &'static str,
    },
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PopError::Empty => f.write_str("the queue is empty; retry later or use a blocking get"),
            PopError::TimedOut => f.write_str("timed out: the queue stayed empty until the deadline"),
            PopError::Closed => f.write_str("the queue is closed and drained"),
            PopError::Disconnected => {
                f.write_str("the queue is empty and every process that put on it has exited or was killed")
            }
            PopError::Corrupted => f.write_str(
                "the queue's shared state is corrupted (a process wrote over it); pending data was discarded",
            ),
            PopError::BufferTooSmall { needed } => {
                write!(f, "the next message needs a {needed}-byte buffer; it stays queued")
            }
            PopError::Decode { len, type_name } => write!(
                f,
                "a message of {len} bytes does not decode as a `{type_name}`: every process must put and get \
                 the same type; the message was taken, the queue stays usable"
            ),
        }
    }
}

impl core::error::Error for PushError {}
impl core::error::Error for PopError {}

/// Slot index of free-running position `pos` in a ring of `cap` slots: a mask when `cap` is a power
/// of two (`mask = cap - 1`), a division otherwise (`mask = 0`). Always `< cap`.
#[inline(always)]
pub(crate) fn slot_of(pos: Word, cap: Word, mask: Word) -> usize {
    debug_assert!(cap >= 1);
    let i = if mask != 0 || cap == 1 { pos & mask } else { pos % cap };
    i as usize
}

/// `cap - 1` if `cap` is a power of two, else 0 (see [`slot_of`]).
pub(crate) const fn mask_for(cap: Word) -> Word {
    if cap.is_power_of_two() {
        cap - 1
    } else {
        0
    }
}

/// The `RING_ALIGN`-aligned part of a test buffer, as a region (unit tests of the rings).
#[cfg(all(test, not(loom)))]
pub(crate) fn test_region(buf: &mut [u8]) -> crate::Region<'_> {
    let off = buf.as_ptr().align_offset(RING_ALIGN);
    let len = buf.len() - off;
    crate::Region::from_mut(&mut buf[off..off + len])
}

#[cfg(all(test, not(loom), target_has_atomic = "64"))]
mod tests {
    use super::*;

    #[test]
    fn slot_of_is_in_bounds() {
        for cap in [1u64, 2, 3, 7, 8, 1000, 1024] {
            let m = mask_for(cap);
            for pos in [0u64, 1, 5, 1023, 1024, u64::MAX - 1, u64::MAX] {
                assert!((slot_of(pos, cap, m) as u64) < cap);
                assert_eq!(slot_of(pos, cap, m) as u64, pos % cap);
            }
        }
    }
}

use crate::atomic::{AtomicWord, Ordering, Word};
use crate::padded::{CachePadded, CACHE_LINE};
use blocking::Control;
use peers::PeerTable;

/// The control words every ring places right after its header (at offset [`CACHE_LINE`]).
///
/// # Layout (x86_64 / aarch64, `CACHE_LINE` = 128; offsets relative to the ring's start)
/// With 32-bit words (targets without 64-bit atomics; `CACHE_LINE` = 64, 4 peer entries per table):
/// `head` (4 bytes) at 64, `tail` at 128, `control` at 192, `producers` (320 bytes) at 448,
/// `consumers` at 768, data at 1088 (docs/layout.md, "32-bit words").
/// | offset | size  | field        | written by                                              |
/// |-------:|------:|--------------|---------------------------------------------------------|
/// | 0      | 64    | header       | initializer                                             |
/// | 128    | 8     | `head`       | consumers (position of the next message to take)        |
/// | 256    | 8     | `tail`       | producers (position of the next message to write)       |
/// | 384    | 512   | `control`    | see [`blocking::Control`]                               |
/// | 896    | 2112  | `producers`  | see [`peers::PeerTable`]                                |
/// | 3008   | 2112  | `consumers`  | see [`peers::PeerTable`]                                |
/// | 5120   | ...   | data         | ring-specific (slots / bytes), aligned to `CACHE_LINE`   |
///
/// Every ring starts with one, reached through the ring's `ctrl()`:
/// ```
/// use ringfork_core::atomic::Ordering;
/// use ringfork_core::queue::{spsc::Spsc, RingCtrl, CTRL_OFFSET};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let region = Region::from_mut(&mut buf.0);
/// let (mut tx, _rx) = Spsc::<u32>::init::<DefaultWait>(region, 4).unwrap().split();
/// let ctrl: &RingCtrl = tx.ring().ctrl();
/// assert_eq!(ctrl as *const RingCtrl as usize, region.addr() + CTRL_OFFSET);
/// tx.push_slice(&[7, 8]).unwrap();
/// let (head, tail) = (ctrl.head.load(Ordering::Acquire), ctrl.tail.load(Ordering::Acquire));
/// assert_eq!(tail.wrapping_sub(head), 2); // free-running positions
/// assert!(!ctrl.control.is_closed());
/// ```
#[repr(C)]
pub struct RingCtrl {
    /// Consumer position (free-running; in the MPMC ring, a hint of where to start looking).
    pub head: CachePadded<AtomicWord>,
    /// Producer position (free-running; in the MPMC ring, a hint of where to start looking).
    pub tail: CachePadded<AtomicWord>,
    /// Blocking, close, counters.
    pub control: Control,
    /// Producer processes.
    pub producers: PeerTable,
    /// Consumer processes.
    pub consumers: PeerTable,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::offset_of!(RingCtrl, tail) == CACHE_LINE);
    assert!(core::mem::offset_of!(RingCtrl, control) == 2 * CACHE_LINE);
    assert!(core::mem::offset_of!(RingCtrl, producers) == 6 * CACHE_LINE);
    assert!(DATA_OFFSET % CACHE_LINE == 0);
    // The table above (and docs/layout.md) for 128-byte lines.
    if CACHE_LINE == 128 {
        assert!(core::mem::offset_of!(RingCtrl, consumers) == 3008 - CTRL_OFFSET);
        assert!(DATA_OFFSET == 5120);
    }
    // The 32-bit-word table in docs/layout.md (64-byte lines, 4 peer entries per table).
    if CACHE_LINE == 64 && crate::atomic::WORDS32 {
        assert!(core::mem::offset_of!(RingCtrl, producers) == 448 - CTRL_OFFSET);
        assert!(core::mem::offset_of!(RingCtrl, consumers) == 768 - CTRL_OFFSET);
        assert!(DATA_OFFSET == 1088);
    }
};

/// Where a ring's [`RingCtrl`] starts.
pub const CTRL_OFFSET: usize = CACHE_LINE;
/// Where a ring's data starts (the control block rounded up to a cache line).
pub const DATA_OFFSET: usize = {
    let end = CTRL_OFFSET + core::mem::size_of::<RingCtrl>();
    end.div_ceil(CACHE_LINE) * CACHE_LINE
};

impl core::fmt::Debug for RingCtrl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Ordering: Relaxed, display only.
        f.debug_struct("RingCtrl")
            .field("head", &self.head.load(Ordering::Relaxed))
            .field("tail", &self.tail.load(Ordering::Relaxed))
            .field("control", &self.control)
            .field("producers", &self.producers)
            .field("consumers", &self.consumers)
            .finish()
    }
}

impl RingCtrl {
    /// A fresh block for loom models.
    #[cfg(loom)]
    pub fn new() -> Self {
        RingCtrl {
            head: CachePadded::new(AtomicWord::new(0)),
            tail: CachePadded::new(AtomicWord::new(0)),
            control: Control::new(),
            producers: PeerTable::new(),
            consumers: PeerTable::new(),
        }
    }

    /// Resets the block in freshly claimed memory.
    pub fn init(&self) {
        // Ordering (Relaxed): published by the header's Release store of READY.
        self.head.store(0, Ordering::Relaxed);
        self.tail.store(0, Ordering::Relaxed);
        self.control.init();
        self.producers.init();
        self.consumers.init();
    }

    /// The block of the ring that starts at `region` (which must be validated to hold at least
    /// [`DATA_OFFSET`] bytes, aligned to [`CACHE_LINE`]).
    ///
    /// # Safety
    /// `region` is at least `DATA_OFFSET` bytes long and `CACHE_LINE`-aligned, valid for `'a`.
    pub(crate) unsafe fn at<'a>(region: crate::Region<'a>) -> &'a RingCtrl {
        debug_assert!(region.len() >= DATA_OFFSET && region.addr() % CACHE_LINE == 0);
        // SAFETY: in bounds and aligned (caller); RingCtrl is made of atomics only, so any bytes form
        // a valid value and concurrent writers from other processes cannot cause a data race.
        unsafe { &*(region.as_ptr().add(CTRL_OFFSET) as *const RingCtrl) }
    }
}

/// Alignment every ring region needs.
pub const RING_ALIGN: usize = CACHE_LINE;

/// Checks the generic part of an attached ring: alignment and that the header's size is what the
/// parameters imply.
pub(crate) fn check_ring(
    region: crate::Region<'_>,
    header: &crate::Header,
    expected_size: Option<usize>,
) -> Result<(), crate::AttachError> {
    if region.addr() % RING_ALIGN != 0 {
        return Err(crate::AttachError::Misaligned {
            align: RING_ALIGN,
            offset: region.addr() % RING_ALIGN,
        });
    }
    let size = expected_size.ok_or(crate::AttachError::Corrupted {
        what: "capacity and element size do not fit in memory",
    })?;
    crate::Header::expect("size", size as u64, header.size())?;
    if region.len() < size {
        return Err(crate::AttachError::TooSmall {
            needed: size,
            available: region.len(),
        });
    }
    Ok(())
}

#[cfg(all(test, loom))]
mod loom_tests;
