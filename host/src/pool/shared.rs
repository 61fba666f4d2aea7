//! The pool's shared-memory layout: a header, the shared task queue (one ring that every idle worker
//! claims from), one control block per worker (its result ring back to the parent and its "running
//! task" record), the slots, and a data arena for arguments and results too large to travel inline.
//!
//! # Layout (pool layout 3; see `docs/layout.md`, "Pool")
//!
//! | offset                  | size             | what                                                    | written by |
//! |------------------------:|-----------------:|---------------------------------------------------------|------------|
//! | 0                       | 64               | object header (kind `pool`, capacity = ring slots, elem_size = workers) | parent |
//! | 128                     | 128              | [`PoolCtl`]: parent's sleeping flag, result sequence    | parent / workers |
//! | 256                     | 256              | [`QueueCtl`]: claim index `head`, `published` futex word | workers / parent |
//! | 512                     | 384 × workers    | [`WorkerCtl`] per worker                                 | see there  |
//! | states_off (128-aligned)| 8 × qcap         | task slot state words (see [`TaskQueue`])                | both       |
//! | slots_off (128-aligned) | 128 × qcap       | [`TaskSlot`]s of the shared queue                        | parent     |
//! | results_off             | 128 × cap × w    | [`ResultSlot`] rings, one per worker                     | worker     |
//! | arena_off (4096-aligned)| arena_len        | argument/result blocks (parent allocates)                | both       |
//!
//! Areas larger than the arena travel in spill segments of their own (see `pool::spill`).
//!
//! `qcap` = `cap × workers` rounded up to a power of two, at most 65536. Every index read from here is
//! masked by a capacity (a power of two), and every arena offset/length is checked against the arena
//! before use.

use ringfork_core::atomic::{AtomicU32, AtomicU64, Ordering};
use ringfork_core::CachePadded;

/// Bytes of arguments that travel inside a task slot.
pub const TASK_INLINE: usize = 56;
/// Bytes of results (or a panic or error message) that travel inside a result slot.
pub const RESULT_INLINE: usize = 104;

/// Task flag: the arguments are inline in the slot (`arg_len` bytes of `inline`).
pub const F_INLINE_ARGS: u32 = 1;
/// Task flag: the arguments are in the task's argument spill segment (see `pool::spill`), not in
/// the arena.
pub const F_SPILL_ARGS: u32 = 2;

/// Result status: the task's items all ran; `len` bytes of encoded results are inline (`len <=
/// RESULT_INLINE`), in the task's arena result block (`len <= res_cap`), or else in the task's
/// result spill segment.
pub const S_OK: u32 = 0;
/// Result status: item `item` panicked; the inline bytes hold the message (UTF-8, truncated).
pub const S_PANICKED: u32 = 1;
/// Result status: the task slot failed validation (tag mismatch, bounds, framing); nothing ran.
pub const S_CORRUPT: u32 = 2;
/// Result status: argument `item` (a record of `len` bytes) did not decode; nothing ran; the inline
/// bytes hold the decoder's reason.
pub const S_DECODE: u32 = 3;
/// Result status: every item ran but result `item` did not encode; the inline bytes hold the
/// encoder's reason.
pub const S_ENCODE: u32 = 4;
/// Result status: every item ran but the worker could not create the result spill segment for `len`
/// bytes of results; the inline bytes hold the OS error.
pub const S_SPILL_FAILED: u32 = 5;

/// One task, parent → worker (128 bytes, plain data).
///
/// | offset | size | field     | meaning                                                    |
/// |-------:|-----:|-----------|------------------------------------------------------------|
/// | 0      | 8    | `id`      | task id (never 0)                                          |
/// | 8      | 8    | `tag`     | keyed hash of every other control field (see `pool::task`) |
/// | 16     | 8    | `tramp`   | trampoline, as an offset from the pool's anchor function   |
/// | 24     | 8    | `func`    | user function, as an offset from the anchor                |
/// | 32     | 8    | `arg_off` | arena offset of the arguments (unless inline or spilled)   |
/// | 40     | 8    | `res_off` | arena offset of the result block (if `res_cap > 0`)        |
/// | 48     | 8    | `arg_len` | bytes of encoded arguments (the argument area)             |
/// | 56     | 8    | `res_cap` | bytes reserved for results at `res_off` (0: none)          |
/// | 64     | 4    | `count`   | items in this task (a chunk)                               |
/// | 68     | 4    | `flags`   | `F_INLINE_ARGS`, `F_SPILL_ARGS`                            |
/// | 72     | 56   | `inline`  | inline arguments                                           |
///
/// An argument or result *area* holds `count` encoded items: for a fixed-size encoding (the
/// scalars) `count × size` bytes back to back; otherwise each item as a native-endian `u64` length
/// followed by that many bytes.
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
    /// Argument bytes.
    pub arg_len: u64,
    /// Result block bytes.
    pub res_cap: u64,
    /// Items.
    pub count: u32,
    /// Flags.
    pub flags: u32,
    /// Inline arguments.
    pub inline: [u8; TASK_INLINE],
}

/// One result, worker → parent (128 bytes, plain data).
///
/// | offset | size | field    | meaning                                                      |
/// |-------:|-----:|----------|--------------------------------------------------------------|
/// | 0      | 8    | `id`     | the task id                                                  |
/// | 8      | 4    | `status` | `S_OK`, `S_PANICKED`, `S_CORRUPT`, `S_DECODE`, `S_ENCODE`, `S_SPILL_FAILED` |
/// | 12     | 4    | `item`   | index of the item that failed                                |
/// | 16     | 8    | `len`    | `S_OK`: bytes of the result area; otherwise bytes of `inline` used |
/// | 24     | 104  | `inline` | inline results, or the message (for `S_DECODE` and `S_SPILL_FAILED` after a `u64`: the record's length / the result bytes) |
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct ResultSlot {
    /// Task id.
    pub id: u64,
    /// Status.
    pub status: u32,
    /// Failing item.
    pub item: u32,
    /// Result or message length.
    pub len: u64,
    /// Inline payload.
    pub inline: [u8; RESULT_INLINE],
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

/// Per-worker control block (384 bytes).
///
/// | offset | size | field       | written by                                                |
/// |-------:|-----:|-------------|-----------------------------------------------------------|
/// | 0      | 256  | `results`   | head: parent; tail: worker                                |
/// | 256    | 8    | `current`   | worker: the task id it runs (0 between tasks)             |
/// | 264    | 4    | `sleeping`  | worker: 1 while parked waiting for tasks                  |
/// | 268    | 4    | `stop`      | parent: 1 asks the worker to exit once the queue is empty |
/// | 272    | 8    | `completed` | worker: tasks finished                                    |
#[derive(Debug)]
#[repr(C)]
pub struct WorkerCtl {
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

/// The shared task queue's control words (256 bytes).
///
/// | offset | size | field       | written by                                                          |
/// |-------:|-----:|-------------|---------------------------------------------------------------------|
/// | 0      | 8    | `head`      | workers: the next sequence number to claim (any worker helps it on) |
/// | 128    | 4    | `published` | parent: bumped after each batch of published tasks (futex word)     |
#[derive(Debug)]
#[repr(C)]
pub struct QueueCtl {
    /// Next sequence number to claim.
    pub head: CachePadded<AtomicU64>,
    /// Publication counter idle workers park on.
    pub published: CachePadded<AtomicU32>,
}

const _: () = {
    assert!(core::mem::size_of::<PoolCtl>() == 128);
    assert!(core::mem::size_of::<RingIdx>() == 256);
    assert!(core::mem::size_of::<WorkerCtl>() == 384);
    assert!(core::mem::offset_of!(WorkerCtl, current) == 256);
    assert!(core::mem::size_of::<QueueCtl>() == 256);
};

impl WorkerCtl {
    /// Resets the ring and flags (only while no worker process uses this block).
    pub fn reset(&self) {
        // Ordering: Relaxed: nobody else touches the block now; the replacement worker is forked
        // after this, and fork orders everything before it.
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

    /// Producer: whether a push would succeed now (possibly full, refresh, really full).
    pub fn has_room(&self, head_cache: &mut u32) -> bool {
        // Ordering: Relaxed: only this producer writes `tail`.
        let tail = self.idx.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(*head_cache) > self.mask {
            // Ordering: Acquire as in `push_cached`.
            *head_cache = self.idx.head.load(Ordering::Acquire);
        }
        tail.wrapping_sub(*head_cache) <= self.mask
    }

    /// Whether empty (as seen by the consumer).
    pub fn is_empty(&self) -> bool {
        // Ordering: Acquire as in `peek`.
        self.idx.head.load(Ordering::Relaxed) == self.idx.tail.load(Ordering::Acquire)
    }
}

/// Bits of a sequence number kept in a slot state word.
const SEQ_BITS: u32 = 48;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
/// Owner code of a published, unclaimed slot.
const OWNER_READY: u64 = 0;
/// Owner code of a slot whose task was copied out by its claimant (free for the parent to reuse).
const OWNER_DONE: u64 = 0xFFFF;

/// A slot state word: the slot's sequence number (low 48 bits) and its owner code.
pub fn slot_state(seq: u64, owner: u64) -> u64 {
    ((seq & SEQ_MASK) << 16) | owner
}

/// The owner code of worker `w` (`w < 1024`).
pub fn owner_of(w: usize) -> u64 {
    w as u64 + 1
}

/// Whether the 48-bit sequence `seq` is a later lap than `h` (within half the sequence space).
fn is_later(seq: u64, h: u64) -> bool {
    let d = seq.wrapping_sub(h) & SEQ_MASK;
    d != 0 && d < 1 << (SEQ_BITS - 1)
}

/// What [`TaskQueue::claim`] found.
#[derive(Debug)]
pub enum Claim {
    /// The task at sequence number `.0`, copied out; the slot is still marked as ours until
    /// [`TaskQueue::release`].
    Got(u64, TaskSlot),
    /// Nothing published is unclaimed.
    Empty,
}

/// Claim attempts before a worker treats a queue whose words keep changing under it (or were
/// scribbled over) as empty for now; it re-checks after parking briefly.
const CLAIM_TRIES: u32 = 4096;

/// The shared task queue: one producer (the parent), many consumers (the workers), FIFO claims.
///
/// # Algorithm
/// Sequence numbers are free-running `u64`s; sequence `s` lives in slot `s & (qcap - 1)`. Each slot
/// has a state word `seq << 16 | owner` (see [`slot_state`]):
///
/// | state              | meaning                                                   | next (by whom)              |
/// |--------------------|-----------------------------------------------------------|-----------------------------|
/// | `(s, READY)`       | task `s` published, unclaimed                             | `(s, w+1)` (worker `w`, CAS) |
/// | `(s, w+1)`         | claimed by worker `w`, being copied out                   | `(s, DONE)` (worker `w`; the parent if `w` died) |
/// | `(s, DONE)`        | copied out; the slot is free for `s + qcap`               | `(s + qcap, READY)` (parent) |
///
/// A worker reads `head` = `h` and the state of slot `h`: `(h, READY)` is claimed by a CAS that
/// writes its own owner code, so the claim and the record of *who* claimed are one atomic step (a
/// worker killed right after it is still known to hold the task). Then it moves `head` on by a CAS
/// from `h` (anyone who sees slot `h` claimed or done does the same, so a claimant that dies before
/// moving `head` does not wedge the queue). A state of an older sequence means `h` is not published:
/// the queue is empty. Claims therefore happen in sequence order: tasks *start* in submission order,
/// and whichever worker is free takes the next one (no task waits behind a busy worker).
///
/// The parent publishes `s` only into a slot in state `(s - qcap, DONE)` (initially every slot is
/// in that state), writes the task, then stores `(s, READY)` with Release.
///
/// # What a peer can do
/// Every index is masked. A scribbled state or `head` can stall the queue or make a worker take a
/// slot twice; the slot's contents are authenticated (see `pool::task`) and its arena ranges
/// bounded, so the worst outcome is a wrong or missing result, never a wild read or write.
pub struct TaskQueue<'a> {
    ctl: &'a QueueCtl,
    states: *const AtomicU64,
    slots: *mut TaskSlot,
    mask: u64,
}

impl std::fmt::Debug for TaskQueue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskQueue").field("cap", &(self.mask + 1)).finish()
    }
}

impl<'a> TaskQueue<'a> {
    /// A view of `cap` (power of two) states at `states` and slots at `slots`.
    ///
    /// # Safety
    /// Both arrays must hold `cap` entries inside a live shared mapping for `'a`.
    pub unsafe fn new(ctl: &'a QueueCtl, states: *const AtomicU64, slots: *mut TaskSlot, cap: u64) -> Self {
        debug_assert!(cap.is_power_of_two());
        TaskQueue {
            ctl,
            states,
            slots,
            mask: cap - 1,
        }
    }

    /// Slots.
    pub fn cap(&self) -> u64 {
        self.mask + 1
    }

    fn state(&self, seq: u64) -> &AtomicU64 {
        let i = (seq & self.mask) as usize;
        debug_assert!((i as u64) <= self.mask);
        // SAFETY: the index is masked into 0..cap; the array lives for 'a (see `new`).
        unsafe { &*self.states.add(i) }
    }

    /// Parent, at creation only: every slot in state "done, one lap ago", the claim index at 0.
    pub fn init(&self) {
        for i in 0..self.cap() {
            // Ordering: Relaxed: no worker exists yet (they are forked or spawned after this).
            self.state(i)
                .store(slot_state(i.wrapping_sub(self.cap()), OWNER_DONE), Ordering::Relaxed);
        }
        // Ordering: Relaxed: as above.
        self.ctl.head.store(0, Ordering::Relaxed);
    }

    /// Parent: whether the slot for sequence `seq` is free (its previous task was copied out).
    pub fn slot_free(&self, seq: u64) -> bool {
        // Ordering: Acquire pairs with the claimant's Release in `release` (or the parent's own
        // store in `force_done`): its copy of the old task happened before we overwrite the slot.
        self.state(seq).load(Ordering::Acquire) == slot_state(seq.wrapping_sub(self.cap()), OWNER_DONE)
    }

    /// Parent: writes task `seq` into its slot and publishes it (after [`TaskQueue::slot_free`]).
    pub fn publish(&self, seq: u64, slot: TaskSlot) {
        let i = (seq & self.mask) as usize;
        // SAFETY: masked index; the slot is free (checked by the caller), so no worker reads it
        // until the READY store below.
        unsafe { self.slots.add(i).write_volatile(slot) };
        // Ordering: Release publishes the slot contents to the claimant's Acquire load of the state.
        self.state(seq).store(slot_state(seq, OWNER_READY), Ordering::Release);
    }

    /// Parent: bumps the word idle workers park on (after a batch of `publish`).
    pub fn bump_published(&self) {
        // Ordering: Release: a worker that reads the new value (Acquire) also sees the states.
        self.ctl.published.fetch_add(1, Ordering::Release);
    }

    /// The futex word idle workers park on.
    pub fn published_word(&self) -> &AtomicU32 {
        &self.ctl.published
    }

    /// Parent, after the worker `owner` died: whether it held slot `seq` claimed (not yet copied
    /// out and released), i.e. the task never started.
    pub fn claimed_by(&self, seq: u64, owner: u64) -> bool {
        // Ordering: Relaxed: the claimant is dead and reaped (waitpid ordered its stores before us).
        self.state(seq).load(Ordering::Relaxed) == slot_state(seq, owner)
    }

    /// Parent: frees slot `seq` that a dead worker had claimed.
    pub fn force_done(&self, seq: u64) {
        // Ordering: Release pairs with `slot_free`'s Acquire (only the parent reads it for reuse).
        self.state(seq).store(slot_state(seq, OWNER_DONE), Ordering::Release);
    }

    /// Worker: claims the oldest published task (see the type docs).
    pub fn claim(&self, owner: u64) -> Claim {
        // Ordering: Acquire: pairs with other workers' head CAS (not needed for data, which the
        // state word carries; Acquire keeps the reasoning local).
        let mut h = self.ctl.head.load(Ordering::Acquire);
        for _ in 0..CLAIM_TRIES {
            let word = self.state(h);
            // Ordering: Acquire pairs with the parent's Release store in `publish`: the slot's
            // contents are visible once we see READY.
            let st = word.load(Ordering::Acquire);
            if st == slot_state(h, OWNER_READY) {
                // Ordering: Acquire on success as for the load above; Relaxed on failure (we re-read).
                if word
                    .compare_exchange(st, slot_state(h, owner), Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    self.advance(h);
                    let i = (h & self.mask) as usize;
                    // SAFETY: masked index; the parent will not overwrite the slot before we mark it
                    // done (`release`); TaskSlot is plain data.
                    let slot = unsafe { self.slots.add(i).read_volatile() };
                    return Claim::Got(h, slot);
                }
            } else if st >> 16 == h & SEQ_MASK || is_later(st >> 16, h) {
                // Claimed or done at `h` (or the slot already reused for a later lap, so `h` was
                // done), but `head` not moved on yet (or its claimant died): help.
                self.advance(h);
            } else {
                // Ordering: Acquire as the first load of `head`.
                let now = self.ctl.head.load(Ordering::Acquire);
                if now == h {
                    return Claim::Empty;
                }
                h = now;
                continue;
            }
            // Ordering: Acquire as the first load of `head`.
            h = self.ctl.head.load(Ordering::Acquire);
        }
        Claim::Empty
    }

    fn advance(&self, h: u64) {
        // Ordering: AcqRel/Relaxed: `head` is only a hint of where to look; the state words decide
        // every claim, so a stale or failed CAS is harmless.
        let _ = self
            .ctl
            .head
            .compare_exchange(h, h.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Worker: marks claimed slot `seq` copied out (the parent may reuse it).
    pub fn release(&self, seq: u64, owner: u64) {
        // Only this worker holds the slot (it won the claim CAS), so a plain store does: no other
        // process changes a claimed slot's state while its claimant lives.
        debug_assert_ne!(owner, OWNER_DONE);
        // Ordering: Release pairs with the parent's Acquire in `slot_free`: our copy of the slot
        // happened before it is overwritten.
        self.state(seq).store(slot_state(seq, OWNER_DONE), Ordering::Release);
    }

    /// Worker: whether a claim might succeed now (used to re-check before parking).
    pub fn maybe_ready(&self) -> bool {
        // Ordering: Acquire as in `claim`.
        let h = self.ctl.head.load(Ordering::Acquire);
        // Ordering: Acquire as in `claim`.
        let st = self.state(h).load(Ordering::Acquire);
        // Anything at sequence `h` or later (ready, or claimed/done with `head` still to move) means
        // work or progress to make; an older sequence means nothing is published at `h`.
        st >> 16 == h & SEQ_MASK || is_later(st >> 16, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    /// A zeroed, 128-aligned buffer holding a queue of `cap` slots (control block, states, slots).
    struct Mem {
        ptr: *mut u8,
        layout: std::alloc::Layout,
        cap: u64,
    }

    impl Mem {
        fn new(cap: u64) -> Mem {
            let size = size_of::<QueueCtl>() + cap as usize * (8 + size_of::<TaskSlot>());
            let layout = std::alloc::Layout::from_size_align(size, 128).unwrap();
            // SAFETY: non-zero size.
            let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
            assert!(!ptr.is_null());
            Mem { ptr, layout, cap }
        }

        fn queue(&self) -> TaskQueue<'_> {
            let states = size_of::<QueueCtl>();
            let slots = states + self.cap as usize * 8;
            // SAFETY: the buffer holds the control block (128-aligned, zeroed atomics are valid),
            // `cap` states (8-aligned) and `cap` slots, and lives as long as the view.
            unsafe {
                TaskQueue::new(
                    &*(self.ptr as *const QueueCtl),
                    self.ptr.add(states) as *const AtomicU64,
                    self.ptr.add(slots) as *mut TaskSlot,
                    self.cap,
                )
            }
        }
    }

    impl Drop for Mem {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { std::alloc::dealloc(self.ptr, self.layout) };
        }
    }

    fn task(id: u64) -> TaskSlot {
        TaskSlot {
            id,
            tag: 0,
            tramp: 0,
            func: 0,
            arg_off: 0,
            res_off: 0,
            arg_len: 0,
            res_cap: 0,
            count: 1,
            flags: 0,
            inline: [0; TASK_INLINE],
        }
    }

    fn got(c: Claim) -> (u64, u64) {
        match c {
            Claim::Got(seq, slot) => (seq, slot.id),
            Claim::Empty => panic!("expected a task"),
        }
    }

    #[test]
    fn claims_are_fifo_across_laps_and_slots_free_only_when_released() {
        let mem = Mem::new(4);
        let q = mem.queue();
        q.init();
        assert!(matches!(q.claim(owner_of(0)), Claim::Empty));
        assert!(!q.maybe_ready());
        let mut next_id = 100;
        for lap in 0..5u64 {
            for s in lap * 4..lap * 4 + 4 {
                assert!(q.slot_free(s), "slot for {s} not free");
                q.publish(s, task(next_id + s));
            }
            assert!(!q.slot_free(lap * 4 + 4), "a full queue has no free slot");
            assert!(q.maybe_ready());
            for s in lap * 4..lap * 4 + 4 {
                let w = (s % 2) as usize;
                assert_eq!(got(q.claim(owner_of(w))), (s, next_id + s));
                assert!(!q.slot_free(s + 4), "claimed but not released");
                q.release(s, owner_of(w));
                assert!(q.slot_free(s + 4));
            }
            assert!(matches!(q.claim(owner_of(1)), Claim::Empty));
            next_id += 1000;
        }
    }

    #[test]
    fn a_claimant_that_dies_before_moving_head_does_not_wedge_the_queue() {
        let mem = Mem::new(4);
        let q = mem.queue();
        q.init();
        for s in 0..3 {
            q.publish(s, task(s + 1));
        }
        // Worker 0 claims seq 0 and "dies" before moving `head` on (undo its advance).
        assert_eq!(got(q.claim(owner_of(0))), (0, 1));
        q.ctl.head.store(0, Ordering::SeqCst);
        // Another worker helps `head` past the claimed slot and takes the next task.
        assert_eq!(got(q.claim(owner_of(1))), (1, 2));
        q.release(1, owner_of(1));
        // The parent finds the dead worker's claim, frees the slot and republishes the task.
        assert!(q.claimed_by(0, owner_of(0)));
        assert!(!q.claimed_by(0, owner_of(1)) && !q.claimed_by(1, owner_of(1)));
        q.force_done(0);
        for s in 3..5 {
            assert!(q.slot_free(s));
            q.publish(s, task(s + 1));
        }
        let order: Vec<u64> = (0..3)
            .map(|_| {
                let (seq, id) = got(q.claim(owner_of(2)));
                q.release(seq, owner_of(2));
                id
            })
            .collect();
        assert_eq!(order, vec![3, 4, 5]);
        assert!(matches!(q.claim(owner_of(2)), Claim::Empty));
    }

    #[test]
    fn a_stale_head_behind_a_reused_slot_is_helped_on() {
        let mem = Mem::new(2);
        let q = mem.queue();
        q.init();
        q.publish(0, task(1));
        assert_eq!(got(q.claim(owner_of(0))), (0, 1));
        q.ctl.head.store(0, Ordering::SeqCst); // the claimant died before moving head
        q.force_done(0);
        q.publish(1, task(2));
        q.publish(2, task(3)); // slot 0 reused for the next lap while head still says 0
        assert!(q.maybe_ready());
        assert_eq!(got(q.claim(owner_of(1))), (1, 2));
        q.release(1, owner_of(1));
        assert_eq!(got(q.claim(owner_of(1))), (2, 3));
    }

    #[test]
    fn scribbled_words_give_empty_never_a_wild_access() {
        let mem = Mem::new(4);
        let q = mem.queue();
        q.init();
        q.publish(0, task(1));
        for v in [u64::MAX, 0, 1 << 63, 0xFFFF, 12345] {
            q.ctl.head.store(v, Ordering::SeqCst);
            for i in 0..4 {
                q.state(i).store(v.rotate_left(i as u32 * 7), Ordering::SeqCst);
            }
            // Any answer is acceptable; what matters is that it returns and touches only the queue.
            let _ = q.claim(owner_of(0));
            let _ = q.maybe_ready();
        }
    }
}
