//! The pool's shared-memory layout: a header, one control block per worker (a task ring from the
//! parent, a result ring back), the ring slots, and a data arena for arguments and results too large
//! to travel inline.
//!
//! # Layout (ABI version 1; see `docs/layout.md`, "Pool")
//!
//! | offset                 | size             | what                                          | written by |
//! |-----------------------:|-----------------:|-----------------------------------------------|------------|
//! | 0                      | 64               | object header (kind `pool`, capacity = ring slots, elem_size = workers) | parent |
//! | 64                     | 128              | [`PoolCtl`]: parent's sleeping flag, result sequence | parent / workers |
//! | 192                    | 640 × workers    | [`WorkerCtl`] per worker                       | see there  |
//! | slots_off              | 128 × cap × w    | [`TaskSlot`] rings, worker after worker        | parent     |
//! | results_off            | 128 × cap × w    | [`ResultSlot`] rings                           | worker     |
//! | arena_off (4096-aligned)| arena_len       | argument/result blocks (parent allocates)      | both       |
//!
//! Every index read from here is masked by the ring capacity (a power of two), and every arena
//! offset/length is checked against the arena before use.

use ringfork_core::atomic::{AtomicU32, AtomicU64, Ordering};
use ringfork_core::CachePadded;
use std::mem::MaybeUninit;

/// Bytes of arguments that travel inside a task slot.
pub const TASK_INLINE: usize = 72;
/// Bytes of results (or a panic message) that travel inside a result slot.
pub const RESULT_INLINE: usize = 104;

/// Task flag: arguments are inline in the slot.
pub const F_INLINE_ARGS: u32 = 1;
/// Task flag: results go inline into the result slot.
pub const F_INLINE_RES: u32 = 2;

/// Result status: the task's items all ran; results are inline or in the arena block.
pub const S_OK: u32 = 0;
/// Result status: item `item` panicked; the inline bytes hold the message (UTF-8, truncated).
pub const S_PANICKED: u32 = 1;
/// Result status: the task slot failed validation (tag mismatch, bounds); nothing ran.
pub const S_CORRUPT: u32 = 2;

/// One task, parent → worker (128 bytes, plain data). The inline areas are `MaybeUninit` bytes: an
/// argument or result type with padding leaves some of them uninitialized.
///
/// | offset | size | field     | meaning                                                    |
/// |-------:|-----:|-----------|------------------------------------------------------------|
/// | 0      | 8    | `id`      | task id (never 0)                                          |
/// | 8      | 8    | `tag`     | keyed hash of every other control field (see `pool::task`) |
/// | 16     | 8    | `tramp`   | trampoline, as an offset from the pool's anchor function   |
/// | 24     | 8    | `func`    | user function, as an offset from the anchor                |
/// | 32     | 8    | `arg_off` | arena offset of the arguments (unless inline)              |
/// | 40     | 8    | `res_off` | arena offset for the results (unless inline)               |
/// | 48     | 4    | `count`   | items in this task (a chunk)                               |
/// | 52     | 4    | `flags`   | `F_INLINE_ARGS`, `F_INLINE_RES`                            |
/// | 56     | 72   | `inline`  | inline arguments                                           |
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct TaskSlot {
    /// Task id.
    pub id: u64,
    /// Authentication tag.
    pub tag: u64,
    /// Trampoline offset.
    pub tramp: i64,
    /// Function offset.
    pub func: i64,
    /// Argument block offset.
    pub arg_off: u64,
    /// Result block offset.
    pub res_off: u64,
    /// Items.
    pub count: u32,
    /// Flags.
    pub flags: u32,
    /// Inline arguments.
    pub inline: [MaybeUninit<u8>; TASK_INLINE],
}

/// One result, worker → parent (128 bytes, plain data).
///
/// | offset | size | field    | meaning                                      |
/// |-------:|-----:|----------|----------------------------------------------|
/// | 0      | 8    | `id`     | the task id                                  |
/// | 8      | 4    | `status` | `S_OK`, `S_PANICKED`, `S_CORRUPT`            |
/// | 12     | 4    | `item`   | index of the item that panicked              |
/// | 16     | 4    | `len`    | bytes used in `inline`                       |
/// | 20     | 4    | `pad`    | zero                                         |
/// | 24     | 104  | `inline` | inline results or the panic message          |
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct ResultSlot {
    /// Task id.
    pub id: u64,
    /// Status.
    pub status: u32,
    /// Failing item.
    pub item: u32,
    /// Inline length.
    pub len: u32,
    /// Padding.
    pub pad: u32,
    /// Inline payload.
    pub inline: [MaybeUninit<u8>; RESULT_INLINE],
}

const _: () = {
    assert!(core::mem::size_of::<TaskSlot>() == 128);
    assert!(core::mem::size_of::<ResultSlot>() == 128);
};

/// Indices of one single-producer single-consumer ring, each on its own line.
#[derive(Debug)]
#[repr(C)]
pub struct RingIdx {
    /// Next slot the consumer reads (written by the consumer).
    pub head: CachePadded<AtomicU32>,
    /// Next slot the producer writes (written by the producer).
    pub tail: CachePadded<AtomicU32>,
}

/// Pool-wide words.
#[derive(Debug)]
#[repr(C)]
pub struct PoolCtl {
    /// 1 while the parent is (about to be) parked waiting for results.
    pub parent_sleeping: AtomicU32,
    /// Bumped by a worker that published a result while the parent slept; the parent parks on it.
    pub result_seq: AtomicU32,
    _pad: [u8; 120],
}

/// Per-worker control block (640 bytes).
///
/// | offset | size | field       | written by                                                |
/// |-------:|-----:|-------------|-----------------------------------------------------------|
/// | 0      | 256  | `tasks`     | head: worker; tail: parent                                |
/// | 256    | 256  | `results`   | head: parent; tail: worker                                |
/// | 512    | 8    | `current`   | worker: the task id it runs (0 between tasks)             |
/// | 520    | 4    | `sleeping`  | worker: 1 while parked waiting for tasks                  |
/// | 524    | 4    | `stop`      | parent: 1 asks the worker to exit once its ring is empty  |
/// | 528    | 8    | `completed` | worker: tasks finished                                    |
#[derive(Debug)]
#[repr(C)]
pub struct WorkerCtl {
    /// Task ring indices.
    pub tasks: RingIdx,
    /// Result ring indices.
    pub results: RingIdx,
    /// Task in progress.
    pub current: AtomicU64,
    /// Parked flag.
    pub sleeping: AtomicU32,
    /// Stop request.
    pub stop: AtomicU32,
    /// Tasks completed.
    pub completed: AtomicU64,
    _pad: [u8; 104],
}

const _: () = {
    assert!(core::mem::size_of::<PoolCtl>() == 128);
    assert!(core::mem::size_of::<RingIdx>() == 256);
    assert!(core::mem::size_of::<WorkerCtl>() == 640);
    assert!(core::mem::offset_of!(WorkerCtl, current) == 512);
};

impl WorkerCtl {
    /// Resets the rings and flags (only while no worker process uses this block).
    pub fn reset(&self) {
        // Ordering: Relaxed: nobody else touches the block now; the replacement worker is forked
        // after this, and fork orders everything before it.
        self.tasks.head.store(0, Ordering::Relaxed);
        self.tasks.tail.store(0, Ordering::Relaxed);
        // Ordering: Relaxed: as above.
        self.results.head.store(0, Ordering::Relaxed);
        // Ordering: Relaxed: as above.
        self.results.tail.store(0, Ordering::Relaxed);
        // Ordering: Relaxed: as above.
        self.current.store(0, Ordering::Relaxed);
        // Ordering: Relaxed: as above.
        self.sleeping.store(0, Ordering::Relaxed);
        // Ordering: Relaxed: as above.
        self.stop.store(0, Ordering::Relaxed);
        // Ordering: Relaxed: as above.
        self.completed.store(0, Ordering::Relaxed);
    }
}

/// A typed view of one SPSC ring of `T` slots: the indices plus the slot array.
pub struct Ring<'a, T: Copy> {
    idx: &'a RingIdx,
    slots: *mut T,
    mask: u32,
}

impl<T: Copy> std::fmt::Debug for Ring<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").field("cap", &(self.mask + 1)).finish()
    }
}

impl<'a, T: Copy> Ring<'a, T> {
    /// A view of `cap` (power of two) slots at `slots`.
    ///
    /// # Safety
    /// `slots` must point to `cap` slots of `T` inside a live shared mapping for `'a`.
    pub unsafe fn new(idx: &'a RingIdx, slots: *mut T, cap: u32) -> Self {
        debug_assert!(cap.is_power_of_two());
        Ring {
            idx,
            slots,
            mask: cap - 1,
        }
    }

    /// Producer: appends `v` unless the ring is full, using `head_cache` (the producer's last view
    /// of the consumer's index, kept in process-local memory) so the shared `head` line is read only
    /// when the ring looks full: possibly full, refresh, really full.
    pub fn push_cached(&self, v: T, head_cache: &mut u32, refresh: bool) -> bool {
        // Ordering: Relaxed: only this producer writes `tail`.
        let tail = self.idx.tail.load(Ordering::Relaxed);
        if refresh || tail.wrapping_sub(*head_cache) > self.mask {
            // Ordering: Acquire pairs with the consumer's Release store of `head`: the slot we are
            // about to overwrite has been read.
            *head_cache = self.idx.head.load(Ordering::Acquire);
            if tail.wrapping_sub(*head_cache) > self.mask {
                return false;
            }
        }
        // SAFETY: the index is masked into 0..cap; the slot is ours until we publish `tail`.
        unsafe { self.slots.add((tail & self.mask) as usize).write_volatile(v) };
        // Ordering: Release publishes the slot contents to the consumer's Acquire load of `tail`.
        self.idx.tail.store(tail.wrapping_add(1), Ordering::Release);
        true
    }

    /// Consumer: a copy of the oldest slot, without removing it, with `tail_cache` (the consumer's last view of the producer's index, in
    /// process-local memory) so the shared `tail` line is read only when the ring looks empty.
    pub fn peek_cached(&self, tail_cache: &mut u32, refresh: bool) -> Option<T> {
        // Ordering: Relaxed: only this consumer writes `head`.
        let head = self.idx.head.load(Ordering::Relaxed);
        if refresh || head == *tail_cache {
            // Ordering: Acquire pairs with the producer's Release store of `tail`.
            *tail_cache = self.idx.tail.load(Ordering::Acquire);
            if head == *tail_cache {
                return None;
            }
        }
        // Bound a corrupted distance: a cache ahead of the producer by more than the capacity cannot
        // be right; re-read next time.
        if tail_cache.wrapping_sub(head) > self.mask + 1 {
            *tail_cache = head;
            return None;
        }
        // SAFETY: masked index; the producer published this slot (Acquire above, now or when the
        // cache was filled) and will not overwrite it before we advance `head`. T is plain data,
        // any bytes are a valid T.
        Some(unsafe { self.slots.add((head & self.mask) as usize).read_volatile() })
    }

    /// Consumer: removes the oldest slot (after `peek_cached`).
    pub fn advance(&self) {
        // Ordering: Relaxed: only this consumer writes `head`.
        let head = self.idx.head.load(Ordering::Relaxed);
        // Ordering: Release: our read of the slot happens before the producer may reuse it.
        self.idx.head.store(head.wrapping_add(1), Ordering::Release);
    }

    /// The word the consumer parks on (the tail).
    pub fn tail_word(&self) -> &AtomicU32 {
        &self.idx.tail
    }

    /// Whether empty (as seen by the consumer).
    pub fn is_empty(&self) -> bool {
        // Ordering: Acquire as in `peek`.
        self.idx.head.load(Ordering::Relaxed) == self.idx.tail.load(Ordering::Acquire)
    }
}
