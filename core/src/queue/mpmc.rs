//! [`Mpmc`]: a bounded multi-producer multi-consumer ring of fixed-size slots in shared memory, with
//! recovery from participants killed mid-operation.
//!
//! # Algorithm
//! A bounded ring of sequence-stamped slots after Dmitry Vyukov's bounded MPMC queue
//! (<https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue>): every slot
//! carries a word saying which position it currently holds and in what state, so producers and
//! consumers synchronise on the slot itself. Where Vyukov claims a position with a CAS on a shared
//! index and commits with a store, here the **claim is a CAS on the slot word** that also writes the
//! claimant's owner tag, and `tail` / `head` are only hints (where to start looking), advanced with a
//! plain store after each claim. Claims happen at the frontier only (a participant moves past
//! position `p` only once `p` is claimed), so claimed positions always form a prefix and FIFO order
//! is Vyukov's. Per message: one locked instruction per side (the claim), one plain store (the
//! commit), no fence (the claim CAS is SeqCst and doubles as the sleeper-check fence, see below).
//!
//! Slot word (`u64`; the encodings are plain functions in `super::slotword`, unit-tested for both
//! widths on every host):
//!
//! | bits    | field    | meaning                                                              |
//! |---------|----------|----------------------------------------------------------------------|
//! | 0-1     | state    | 0 free, 1 writing (claimed by a producer), 2 full, 3 reading (claimed by a consumer) |
//! | 2       | skip     | with "full": the position carries no message (its producer died)     |
//! | 3-19    | tag      | the claimant's [`super::peers::PeerTable::tag`] (0 = unregistered)   |
//! | 20-63   | position | the position the slot holds, modulo 2^44 (compared as a signed distance) |
//!
//! Where the target has no 64-bit atomics (layouts with 32-bit words, [`crate::atomic::Word`]), the
//! slot word is a `u32`, its own ABI variant (the header's `WORDS32` bit): the peer tables have 4
//! entries there, so the tag's entry index is packed into 2 bits (lossless; presence and all 11
//! generation bits are kept), which leaves 15 bits of position:
//!
//! | bits    | field    | meaning                                                              |
//! |---------|----------|----------------------------------------------------------------------|
//! | 0-1     | state    | as above                                                             |
//! | 2       | skip     | as above                                                             |
//! | 3-16    | tag      | the claimant's tag, packed: presence (3), entry index (4-5), generation (6-16) |
//! | 17-31   | position | the position the slot holds, modulo 2^15 (compared as a signed distance) |
//!
//! A slot moves `free(p) -> writing(p, tag) -> full(p) -> reading(p, tag) -> free(p + cap)`; the
//! first and third arrows are the claim CASes, the others plain Release stores by the claimant.
//!
//! # Positions modulo 2^k
//! A slot word keeps its position modulo 2^k (k = 44, or 15 with 32-bit words), and every decision
//! reads it as the signed distance from the position the caller is at, which is exact while the true
//! distance is below 2^(k-1) in magnitude. Every word the ring writes depends only on positions
//! modulo 2^k, so the ring behaves exactly like one whose positions live modulo 2^k as long as the
//! distances it reads are exact. Capacities are kept far below that: below 2^40 (64-bit words), or
//! powers of two of at most 2^12 (32-bit words; a power of two also keeps the slot a position maps to
//! consecutive across the wrap of the 32-bit positions at 2^32, as in the other rings). The
//! distances legitimately read are:
//! - within a lap (`-cap ..= cap`) of the frontier, for a participant whose position is current;
//! - for a hint moved back by a claimant preempted inside `advance`: at most about a lap, because
//!   that claimant holds its claimed slot while it stores the hint, so the other side cannot pass
//!   that slot and its own side cannot get more than a lap ahead of it;
//! - for a participant stalled *inside one operation* (between loading a hint or a slot word and its
//!   CAS, holding nothing; this includes a consumer preempted inside `advance` after discarding a
//!   skipped position, which holds nothing either): whatever the others moved that side's frontier
//!   meanwhile.
//!
//! So the bound is on a stall: the ring is exact as long as no participant stalls inside one operation
//! while the others move the frontier it works on by 2^(k-1) − capacity positions or more (64-bit
//! words: 2^43 − 2^40, never; 32-bit words: 2^14 − 2^12 = 12,288 operations). A stale claim CAS
//! needs more: free and full words carry no tag, so the word the claimant loaded recurs only when the
//! slot holds a position exactly a multiple of 2^k later, i.e. after 2^k (32,768 with 32-bit words)
//! operations of the others on that side, and before that the CAS fails and the claimant re-reads.
//! Beyond the bound, the misread is a wrong `Full` / `Empty` / `Corrupted` answer, or a claim out of
//! frontier order that can leave the ring reporting full and empty forever (recreate it); never an
//! access out of bounds (slots are always reduced modulo the capacity) and never a torn or duplicated
//! message (a claimed slot is still held by one claimant only). On a microcontroller, "stalled inside
//! an operation" means the main loop interrupted mid-call while handlers perform 12,288 operations on
//! the same ring before it resumes, or one core halted mid-call (a debugger) while the other runs on.
//!
//! # Waking
//! A waiter registers as a sleeper and re-checks (see [`super::blocking`]); a claimant reads the
//! other side's sleeper count right after its claim CAS (SeqCst), and wakes one after committing if
//! it saw one. A waiter whose re-check missed the claim is seen by that read; a waiter whose
//! re-check saw the claim in progress (`writing` at the position it wants to read; `reading`, or a
//! skipped position about to be discarded, in the slot it wants to fill) knows a commit is imminent
//! and may get no wake-up, so it leaves the sleeper count and sleeps in short slices
//! ([`super::blocking::BUSY_SLICE`], doubling).
//!
//! # Eager claims
//! A claim loads the slot word and then CASes it. When the word's line was last written by the
//! other side (the consumer freed the slot a lap ago; the producer just committed it), the load
//! fetches the line shared and the CAS then has to upgrade it: two cross-core transfers before the
//! claim retires, and a locked instruction cannot retire early. Where a slot spans at least a line
//! pair (`stride >= CACHE_LINE`: every serde queue's slots), the blocking `push_with`/`pop_with`
//! therefore start with one *eager* claim: a CAS at the frontier hint expecting the exact word
//! "free for this position" (or "committed for this position"), which fetches the line exclusive
//! in one transfer. It claims exactly what the usual path would claim for that word, so nothing
//! else changes; if the word is anything else, nothing was written and the usual path runs. Only
//! the first attempt is eager: re-checks of an empty (full) ring load, so that a waiting side does
//! not keep taking the line of the slot the other side is writing (reading); the `try_*` calls,
//! which callers poll, never are; nor are rings of small slots, where the line an eager claim takes
//! holds neighbouring slots the other side may be using. The eager paths are out of line, so rings
//! of small slots pay one predictable branch (`Queue<u64>` unchanged, 78-81 against 79-81 M/s in
//! alternating runs). A `Job` record through a `Queue` went from 0.69-0.80 to 0.87-0.96 of a
//! claim-free ring (`queue_struct_vs_floor_ring`), 5.0-5.4 to 6.3-6.7 M/s in near phases.
//!
//! # Linearizable `try_*`
//! A non-blocking attempt reports `Empty` (`Full`) only if the ring was empty (full) at some instant
//! during the call, as crossbeam's `ArrayQueue` promises (its `linearizable` test is ported in
//! `tests/tests/queue.rs` and below). The one state that needs care is a claim in progress at the
//! frontier: a consumer finding position `p` *writing* while `p + 1` is already claimed must not say
//! `Empty` (the push of `p + 1` may have returned before this pop began, and FIFO order puts `p`
//! first), and a producer finding the previous lap's slot *reading* while the next position is
//! already taken must not say `Full`. Such an attempt waits the claim out ([`Mpmc::try_pop_with`]:
//! spin, then `sched_yield`): a live claimant commits within nanoseconds unless it is preempted.
//! While it waits it asks, after 1 ms and then every 10 ms, whether the claimant can still act, and
//! forces the slot (as recovery below) if not. It gives up after [`CLAIM_PATIENCE`] (100 ms: a
//! claimant stopped, e.g. by SIGSTOP, or one that could not register and so cannot be probed) and
//! answers `Empty` / `Full` then; that is the only non-linearizable answer, and it is bounded.
//! Without anything claimed beyond `p`, `Empty` at `p` *writing* is linearizable (the pending push
//! is ordered after this pop) and is returned at once. A skipped position in the slot a producer
//! needs is discarded by that producer itself, so a skip never makes the ring look full.
//! Blocking calls do not wait inside an attempt: their waiting layer already treats these states as
//! "busy" (see "Waking").
//!
//! # What a killed participant does (heapless issue #583)
//! A claimant stopped between its claim and its commit wedges everyone at that slot; a killed
//! process is a claimant stopped forever. Because the claim CAS writes the claimant's tag into the
//! slot, a survivor knows *exactly* who holds a wedged slot, and forces it only when
//! [`super::peers::PeerTable::tag_gone`] says that process can no longer act (dead, or its table
//! entry re-registered since). A waiter blocked for a [`super::blocking::PROBE_INTERVAL`] calls
//! [`Mpmc::recover_frontier`] (the slots from the consumers' to the producers' frontier: few while
//! consumers wait on an empty ring, all while producers wait on a full one); [`Mpmc::recover`] checks every
//! slot, for callers that only ever use `try_*` (which never recover by themselves). For each slot
//! held by a gone owner:
//! - `writing` by a gone producer: marked `full` + skip (CAS); consumers discard it. The message was
//!   never committed, so nothing is lost.
//! - `reading` by a gone consumer: freed for the next lap (CAS) and counted **lost**
//!   ([`super::blocking::Control::lost`]): a consumer killed mid-copy takes that one message with it,
//!   counted, never silently.
//!
//! A live participant is never forced, however slow, so commits can be plain stores and no message is
//! ever torn or duplicated by recovery. Limits: a process that could not register (more than
//! [`super::peers::PEERS`] live processes on one side) tags its claims 0 and is not recoverable if
//! killed mid-operation. Values read from the slots are not trusted: a slot word that contradicts the
//! positions yields [`PopError::Corrupted`] / [`PushError::Corrupted`], and every loop is bounded.
//!
//! # Layout
//! Header and [`super::RingCtrl`] (`head` = where consumers start looking, `tail` = where producers
//! start looking), then `capacity` slots of `stride` bytes at [`super::DATA_OFFSET`]:
//!
//! | offset in slot | size        | field  | written by                                     |
//! |---------------:|------------:|--------|------------------------------------------------|
//! | 0              | 8 (4)       | `word` | claimants (CAS), committers (store), recovery (CAS) |
//! | `data_off`     | `slot_size` | data   | the producer that claimed the slot             |
//!
//! `data_off = max(8, elem_align)` (with 32-bit words: `max(4, elem_align)`),
//! `stride = align_up(data_off + slot_size, data_off)`. Header: `capacity` = slots (below 2^40; with
//! 32-bit words a power of two, at most 2^12), `elem_size` = `slot_size`, `elem_align`, `msg_limit` =
//! byte-slot limit (byte flavour) or 0.

use super::peers::{PeerId, PeerTable, TAG_BITS};
use super::{check_ring, mask_for, slot_of, PopError, PushError, RingCtrl, DATA_OFFSET, RING_ALIGN};
#[cfg(target_has_atomic = "64")]
use crate::atomic::AtomicU64;
use crate::atomic::{AtomicWord, Ordering, SignedWord, Word};
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams};
use crate::padded::CACHE_LINE;
use crate::region::{align_up, Region};
use crate::time::Deadline;
use crate::wait::Wait;
use core::cell::Cell;
use core::time::Duration;

// The slot word of this target's ABI variant (`u64`, or `u32` without 64-bit atomics): its fields
// and functions (`word`, `dist`, `tag_of`, ...) are in `super::slotword`.
/// With the "full" state: the position was skipped by recovery and carries no message.
pub use super::slotword::native::SKIP;
#[cfg(all(test, not(loom)))]
use super::slotword::native::TAG_SHIFT;
use super::slotword::native::{
    dist, pos_of, tag_bits, tag_of, word, SlotWord, FREE, FULL, MAX_CAPACITY, READING, STATE, WRITING,
};

/// Why `init` refuses a capacity of `MAX_CAPACITY` or more.
#[cfg(target_has_atomic = "64")]
const CAPACITY_LIMIT: &str = "must be below 2^40";
#[cfg(not(target_has_atomic = "64"))]
const CAPACITY_LIMIT: &str = "must be at most 4096 (2^12) on targets without 64-bit atomics";

/// The atomic slot word.
#[cfg(target_has_atomic = "64")]
type AtomicSlotWord = AtomicU64;
/// The atomic slot word.
#[cfg(not(target_has_atomic = "64"))]
type AtomicSlotWord = crate::atomic::AtomicU32;

// The 32-bit slot word keeps 2 bits of a tag's entry index.
#[cfg(not(target_has_atomic = "64"))]
const _: () = assert!(super::peers::PEERS <= 1 << super::slotword::w32::INDEX_BITS);

/// Iterations one non-blocking attempt may take, beyond two laps of steps, before it calls the
/// ring corrupted: far more than any legitimate contention produces (each iteration is a lost race
/// or a step past a claimed position), and a bound for a peer that scribbles slot words.
const MAX_STEPS: Word = 1 << 20;

/// How long a non-blocking attempt waits for a claim in progress at the frontier before it gives
/// up and answers `Empty` / `Full` (see "Linearizable `try_*`" in the module docs).
pub const CLAIM_PATIENCE: Duration = Duration::from_millis(100);
/// Re-reads of a claimed slot word before a patient attempt starts yielding its CPU.
#[cfg(not(loom))]
const CLAIM_SPINS: u32 = 256;
#[cfg(loom)]
const CLAIM_SPINS: u32 = 1;
/// When a patient attempt first asks whether the claimant can still act, and how often after that.
#[cfg(all(feature = "futex", not(loom)))]
const CLAIM_FIRST_PROBE: Duration = Duration::from_millis(1);
#[cfg(all(feature = "futex", not(loom)))]
const CLAIM_PROBE_EVERY: Duration = Duration::from_millis(10);

/// The next position to look at after the slot of `pos` was found holding the later position
/// `pos + d` (`d > 0`) in word `w`: claims and takes happen at the frontier only, so every position
/// below a claimed one is claimed, and every position up to a freed one's previous lap is taken. On
/// the producers' side (`taken_state` = [`WRITING`]'s side) a non-free slot means everything up to
/// its position is claimed; a free one, everything up to its previous lap. On the consumers' side
/// only a [`READING`] slot says its own position was taken. The result is at least `pos + 1` and
/// lands within a lap of the frontier, so a hint left arbitrarily stale by a preempted claimant costs
/// at most about one lap of steps.
#[inline(always)]
fn step(pos: Word, d: SignedWord, w: SlotWord, cap: Word, consumer: bool) -> Word {
    let q = pos.wrapping_add(d as Word);
    let st = w & STATE;
    let own_position_done = if consumer { st == READING } else { st != FREE };
    let next = if own_position_done {
        q.wrapping_add(1)
    } else {
        q.wrapping_sub(cap).wrapping_add(1)
    };
    if (next.wrapping_sub(pos) as SignedWord) > 0 {
        next
    } else {
        pos.wrapping_add(1)
    }
}

/// Stores `v` into the hint `h` unless `h` is already at or past it.
#[inline(always)]
fn advance(h: &AtomicWord, v: Word) {
    // Ordering: Relaxed; only decides whether to store.
    if (v.wrapping_sub(h.load(Ordering::Relaxed)) as SignedWord) > 0 {
        // Ordering: Release, so a reader that Acquire-loads the hint also sees the claim behind it
        // (and the slot word it will read next is no older than that claim). A claimant preempted
        // between the load above and this store may move the hint back by any amount; readers step
        // over claimed positions by the slot words' positions (`step`), and `len` walks from the
        // hints, so a stale hint costs time, never correctness.
        h.store(v, Ordering::Release);
    }
}

/// A producer's claim on one slot position, from [`Mpmc::claim_of`]: plain numbers (they may be
/// stored in shared memory and are bounded again by [`Mpmc::fate`]).
///
/// ```
/// use ringfork_core::queue::mpmc::{Claim, Fate, Mpmc, MpmcLayout};
/// use ringfork_core::{wait::DefaultWait, Kind, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let layout = MpmcLayout { capacity: 4, slot_size: 8, align: 8 };
/// let q = Mpmc::init::<DefaultWait>(Region::from_mut(&mut buf.0), Kind::Mpmc, layout, 0, 0).unwrap();
/// let mut claim = None;
/// // SAFETY: a slot's payload is 8 bytes aligned to 8.
/// q.try_push_with(None, |slot| {
///     claim = q.claim_of(slot);
///     unsafe { slot.cast::<u64>().write(7) }
/// })
/// .unwrap();
/// let claim = claim.unwrap();
/// assert_eq!(q.fate(claim), Fate::Queued);
/// // SAFETY: as above.
/// let got = q.try_pop_with(None, |slot| {
///     assert_eq!(q.fate(claim), Fate::Reading { gone: false }); // being read, by a live reader
///     unsafe { slot.cast::<u64>().read() }
/// });
/// assert_eq!(got, Ok(7));
/// assert_eq!(q.fate(claim), Fate::Consumed);
/// assert_eq!(q.fate(Claim { slot: 99, word: 0 }), Fate::Consumed); // out of range: bounded
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The slot index.
    pub slot: u64,
    /// The slot word at the claim (its position bits identify the lap).
    pub word: u64,
}

/// What became of a message pushed under a [`Claim`] ([`Mpmc::fate`]; example there).
///
/// ```
/// use ringfork_core::queue::mpmc::Fate;
/// let f = Fate::Reading { gone: true }; // its reader was killed mid-read
/// assert!(matches!(f, Fate::Reading { gone: true }));
/// assert_ne!(f, Fate::Consumed);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Still being written (by a process that is `gone`, or not).
    Writing {
        /// The writer can no longer act.
        gone: bool,
    },
    /// Committed and waiting for a consumer.
    Queued,
    /// Taken by a consumer that is still reading it (or is `gone`: killed mid-read).
    Reading {
        /// The reader can no longer act.
        gone: bool,
    },
    /// Done with: read and freed, freed by recovery (counted lost), or skipped (never committed).
    Consumed,
}

/// Layout parameters of an MPMC ring.
///
/// ```
/// use ringfork_core::queue::{mpmc::MpmcLayout, DATA_OFFSET};
/// let layout = MpmcLayout { capacity: 1024, slot_size: 24, align: 8 };
/// // Each slot: an 8-byte sequence word, then the payload, rounded up to 8.
/// assert_eq!(layout.size(), Some(DATA_OFFSET + 1024 * 32));
/// assert_eq!(layout.region_align() % 8, 0);
/// assert_eq!(MpmcLayout { capacity: u64::MAX, ..layout }.size(), None); // overflow, not a panic
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpmcLayout {
    /// Slots.
    pub capacity: u64,
    /// Bytes of payload per slot.
    pub slot_size: usize,
    /// Payload alignment (power of two).
    pub align: usize,
}

impl MpmcLayout {
    fn data_off(&self) -> usize {
        self.align.max(core::mem::size_of::<SlotWord>())
    }

    fn stride(&self) -> Option<usize> {
        align_up(self.data_off().checked_add(self.slot_size)?, self.data_off())
    }

    /// Total bytes of the ring, or `None` on overflow.
    pub fn size(&self) -> Option<usize> {
        let cap = usize::try_from(self.capacity).ok()?;
        align_up(DATA_OFFSET, self.region_align())?.checked_add(cap.checked_mul(self.stride()?)?)
    }

    /// Alignment the region needs.
    pub fn region_align(&self) -> usize {
        RING_ALIGN.max(self.align)
    }
}

/// A view of an MPMC ring of untyped slots. Copying it is free. Typed and byte flavours live in the
/// host crate (`Queue<T>`, `ByteQueue`); the core API is slot-level: [`Mpmc::try_push_with`] and
/// [`Mpmc::try_pop_with`] hand the caller a pointer to the slot's payload.
///
/// ```
/// use ringfork_core::queue::mpmc::{Mpmc, MpmcLayout};
/// use ringfork_core::{wait::DefaultWait, Kind, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let layout = MpmcLayout { capacity: 4, slot_size: 8, align: 8 };
/// let q = Mpmc::init::<DefaultWait>(Region::from_mut(&mut buf.0), Kind::Mpmc, layout, 0, 0).unwrap();
/// // SAFETY: a slot's payload is `slot_size` (8) bytes aligned to `align` (8).
/// q.try_push_with(None, |slot| unsafe { slot.cast::<u64>().write(42) }).unwrap();
/// // SAFETY: as above; the slot was committed with a u64.
/// let got = q.try_pop_with(None, |slot| unsafe { slot.cast::<u64>().read() });
/// assert_eq!(got, Ok(42));
/// assert!(q.is_empty());
/// ```
#[derive(Clone, Copy)]
pub struct Mpmc<'a> {
    ctrl: &'a RingCtrl,
    slots: *mut u8,
    cap: Word,
    mask: Word,
    stride: usize,
    data_off: usize,
    slot_size: usize,
    msg_limit: u64,
}

// SAFETY: the control block and sequences are atomics; payloads are copied between the claim and
// commit CASes that give one process the slot.
unsafe impl Send for Mpmc<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for Mpmc<'_> {}

impl core::fmt::Debug for Mpmc<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mpmc")
            .field("capacity", &self.cap)
            .field("slot_size", &self.slot_size)
            .field("len", &self.len())
            .finish()
    }
}

/// Who is operating: the registration of the calling process on that side, if any.
///
// The example needs the `futex` feature (the default): `register_current` and liveness probes of peers.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::queue::mpmc::{Mpmc, MpmcLayout, Who};
/// use ringfork_core::{wait::DefaultWait, Kind, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let layout = MpmcLayout { capacity: 4, slot_size: 1, align: 1 };
/// let q = Mpmc::init::<DefaultWait>(Region::from_mut(&mut buf.0), Kind::Mpmc, layout, 0, 0).unwrap();
/// // Registered: a claim this process leaves half done when killed can be recovered by others.
/// let me: Who = q.ctrl().producers.register_current();
/// assert!(me.is_some());
/// // SAFETY: the payload is one byte.
/// q.try_push_with(me, |slot| unsafe { slot.write(7) }).unwrap();
/// assert_eq!(q.len(), 1);
/// ```
pub type Who = Option<PeerId>;

impl<'a> Mpmc<'a> {
    /// Creates a ring at the start of `region` and publishes it. `kind` lets queue flavours keep their
    /// own kind number; `msg_limit` is recorded for byte flavours (0 otherwise); `flags` tell flavours
    /// apart (checked by `attach`).
    pub fn init<W: Wait>(
        region: Region<'a>,
        kind: Kind,
        layout: MpmcLayout,
        msg_limit: u64,
        flags: u32,
    ) -> Result<Self, InitError> {
        if layout.capacity == 0 {
            return Err(InitError::InvalidParameter {
                name: "capacity",
                reason: "must be at least 1",
            });
        }
        if layout.capacity >= MAX_CAPACITY {
            return Err(InitError::InvalidParameter {
                name: "capacity",
                reason: CAPACITY_LIMIT,
            });
        }
        if crate::atomic::WORDS32 && !layout.capacity.is_power_of_two() {
            return Err(InitError::InvalidParameter {
                name: "capacity",
                reason: "must be a power of two on targets without 64-bit atomics (32-bit positions wrap)",
            });
        }
        if !layout.align.is_power_of_two() || u32::try_from(layout.slot_size).is_err() {
            return Err(InitError::InvalidParameter {
                name: "slot",
                reason: "alignment must be a power of two and the slot size below 4 GiB",
            });
        }
        let size = layout.size().ok_or(InitError::InvalidParameter {
            name: "capacity",
            reason: "capacity times slot size overflows the address space",
        })?;
        let mut params = ObjectParams::new(kind, size as u64);
        params.capacity = layout.capacity;
        params.elem_size = layout.slot_size as u32;
        params.elem_align = layout.align as u32;
        params.msg_limit = msg_limit;
        params.flags = flags;
        let claim = Header::claim(region, &params, layout.region_align())?;
        // SAFETY: claim checked size (>= DATA_OFFSET) and alignment.
        let ctrl = unsafe { RingCtrl::at(region) };
        ctrl.init();
        let ring = Self::view(region, ctrl, layout, msg_limit);
        for i in 0..layout.capacity {
            // Ordering: Relaxed; published by the header's Release store of READY.
            ring.slot_word(i as usize)
                .store(Self::initial_word(i), Ordering::Relaxed);
        }
        claim.publish::<W>();
        Ok(ring)
    }

    /// Attaches to the ring at the start of `region`, checking kind, flags, slot size and alignment
    /// (and the message limit, if `msg_limit` is `Some`).
    pub fn attach<W: Wait>(
        region: Region<'a>,
        kind: Kind,
        slot_size: usize,
        align: usize,
        msg_limit: Option<u64>,
        flags: u32,
        deadline: Deadline,
    ) -> Result<Self, AttachError> {
        let header = Header::attach::<W>(region, kind, deadline)?;
        Header::expect("flags", flags.into(), header.flags().into())?;
        Header::expect("elem_size", slot_size as u64, header.elem_size().into())?;
        Header::expect("elem_align", align as u64, header.elem_align().into())?;
        if let Some(l) = msg_limit {
            Header::expect("msg_limit", l, header.msg_limit())?;
        }
        let layout = MpmcLayout {
            capacity: header.capacity(),
            slot_size,
            align,
        };
        if layout.capacity == 0 || layout.capacity >= MAX_CAPACITY {
            return Err(AttachError::Corrupted {
                what: "capacity is 0 or absurdly large",
            });
        }
        if crate::atomic::WORDS32 && !layout.capacity.is_power_of_two() {
            return Err(AttachError::Corrupted {
                what: "capacity is not a power of two (required with 32-bit words)",
            });
        }
        check_ring(region, header, layout.size())?;
        // SAFETY: check_ring validated size >= DATA_OFFSET and alignment.
        let ctrl = unsafe { RingCtrl::at(region) };
        Ok(Self::view(region, ctrl, layout, header.msg_limit()))
    }

    #[allow(clippy::unnecessary_cast)] // the identity where `Word` is `u64`; capacity < MAX_CAPACITY
    fn view(region: Region<'a>, ctrl: &'a RingCtrl, layout: MpmcLayout, msg_limit: u64) -> Self {
        let data = align_up(DATA_OFFSET, layout.region_align()).unwrap_or(usize::MAX);
        Mpmc {
            ctrl,
            slots: region.as_ptr().wrapping_add(data),
            cap: layout.capacity as Word,
            mask: mask_for(layout.capacity as Word),
            stride: layout.stride().unwrap_or(0),
            data_off: layout.data_off(),
            slot_size: layout.slot_size,
            msg_limit,
        }
    }

    /// The word slot `index` starts with: free for position `index`.
    #[allow(clippy::unnecessary_cast)] // the identity where `Word` is `u64`
    pub const fn initial_word(index: u64) -> SlotWord {
        word(index as Word, FREE)
    }

    /// A view over memory a loom model built: `slots` holds `cap` slots of `stride` bytes, each an
    /// `AtomicU64` slot word followed (at `data_off`) by `slot_size` payload bytes.
    ///
    /// # Safety
    /// `slots` is valid for `'a` as described, and every word was initialised to
    /// [`Self::initial_word`] of its index.
    #[cfg(loom)]
    pub unsafe fn from_parts(ctrl: &'a RingCtrl, slots: *mut u8, cap: u64, stride: usize, data_off: usize) -> Self {
        Mpmc {
            ctrl,
            slots,
            cap,
            mask: mask_for(cap),
            stride,
            data_off,
            slot_size: stride - data_off,
            msg_limit: 0,
        }
    }

    #[inline(always)]
    fn slot_word(&self, slot: usize) -> &'a AtomicSlotWord {
        debug_assert!((slot as Word) < self.cap);
        // SAFETY: slot < cap (every caller reduces positions with `slot_of`), so the slot lies inside
        // the validated region; slots are stride-aligned to >= 8 from a CACHE_LINE-aligned base.
        unsafe { &*(self.slots.add(slot * self.stride) as *const AtomicSlotWord) }
    }

    #[inline(always)]
    fn payload(&self, slot: usize) -> *mut u8 {
        debug_assert!((slot as Word) < self.cap);
        // SAFETY: as in `seq`; data_off + slot_size <= stride.
        unsafe { self.slots.add(slot * self.stride + self.data_off) }
    }

    /// The claim a producer holds on the slot whose payload starts at `payload`: call it from inside
    /// the `write` closure of a push (the slot word then says "writing" this position), keep the
    /// result, and ask [`Self::fate`] later what became of the message. `None` if `payload` is not a
    /// slot payload of this ring. Used by the host's large-message lane, whose producer streams a
    /// message after committing its descriptor and must notice when the consumer that took it died.
    pub fn claim_of(&self, payload: *const u8) -> Option<Claim> {
        let off = (payload as usize)
            .checked_sub(self.slots as usize)?
            .checked_sub(self.data_off)?;
        if self.stride == 0 || off % self.stride != 0 {
            return None;
        }
        let slot = off / self.stride;
        if (slot as Word) >= self.cap {
            return None;
        }
        // Ordering: Relaxed: our own claim CAS wrote this word (program order).
        let w = self.slot_word(slot).load(Ordering::Relaxed);
        #[allow(clippy::unnecessary_cast)] // the identity where the slot word is u64
        Some(Claim {
            slot: slot as u64,
            word: w as u64,
        })
    }

    /// What became of the message pushed under `claim` (from [`Self::claim_of`]; the fields may come
    /// from shared memory: an out-of-range slot is [`Fate::Consumed`]). Asks the OS about the
    /// slot's current claimant only when it holds the slot.
    pub fn fate(&self, claim: Claim) -> Fate {
        let Ok(slot) = usize::try_from(claim.slot) else {
            return Fate::Consumed;
        };
        if (slot as Word) >= self.cap {
            return Fate::Consumed;
        }
        // Ordering: Acquire pairs with the claimants' CAS, so `tag_gone` sees their registration.
        let w = self.slot_word(slot).load(Ordering::Acquire);
        #[allow(clippy::unnecessary_cast)] // the identity where the slot word is u64
        if pos_of(w) != pos_of(claim.word as SlotWord) {
            return Fate::Consumed;
        }
        match w & STATE {
            WRITING => Fate::Writing {
                gone: self.ctrl.producers.tag_gone(tag_of(w)),
            },
            FULL if w & SKIP != 0 => Fate::Consumed,
            FULL => Fate::Queued,
            READING => Fate::Reading {
                gone: self.ctrl.consumers.tag_gone(tag_of(w)),
            },
            _ => Fate::Consumed,
        }
    }

    /// The shared control block.
    pub fn ctrl(&self) -> &'a RingCtrl {
        self.ctrl
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.cap as usize
    }

    /// Payload bytes per slot.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The message limit recorded at init (byte flavours).
    pub fn msg_limit(&self) -> u64 {
        self.msg_limit
    }

    /// Positions claimed by producers and not yet taken by consumers (messages being written count),
    /// from frontiers read at nearly the same instant, clamped to `0..=capacity` (see the host
    /// `Queue::qsize` for why this is only a hint while others operate).
    pub fn len(&self) -> usize {
        let mut tries = 0;
        loop {
            // Re-read the tail frontier to get a consistent pair (crossbeam's `len` technique).
            let tail = self.frontier(false);
            let head = self.frontier(true);
            tries += 1;
            // Bounded: a peer rewriting slot words non-stop must not keep us here.
            if self.frontier(false) == tail || tries >= 64 {
                // Signed: under load the head read last may have passed the tail read first.
                return (tail.wrapping_sub(head) as SignedWord).clamp(0, self.cap as SignedWord) as usize;
            }
        }
    }

    /// The producers' (`consumer == false`: first unclaimed position) or consumers' (first untaken
    /// position) frontier: the hint, walked forward over the slots that show it is stale (hints are
    /// advanced after claims and may lag, or have been moved back by a preempted claimant). Read-only;
    /// at most one lap of steps (a scribbled region can only make the answer wrong).
    fn frontier(&self, consumer: bool) -> Word {
        let hint = if consumer { &self.ctrl.head } else { &self.ctrl.tail };
        // Ordering: Acquire pairs with the Release store in `advance`.
        let mut pos = hint.load(Ordering::Acquire);
        for _ in 0..=self.cap {
            // Ordering: Acquire, as in `push_once`/`pop_once`.
            let w = self
                .slot_word(slot_of(pos, self.cap, self.mask))
                .load(Ordering::Acquire);
            let d = dist(w, pos);
            let done = match d {
                // A skipped position carries no message: count it as taken.
                0 if consumer => w & STATE == READING || (w & STATE == FULL && w & SKIP != 0),
                0 => w & STATE != FREE,
                d => d > 0,
            };
            if !done {
                break;
            }
            pos = if d == 0 {
                pos.wrapping_add(1)
            } else {
                step(pos, d, w, self.cap, consumer)
            };
        }
        pos
    }

    /// The bound of one non-blocking attempt's loop (see [`MAX_STEPS`]).
    fn max_steps(&self) -> Word {
        self.cap.saturating_mul(2).saturating_add(MAX_STEPS)
    }

    /// Whether the ring looked empty at some instant during the call.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring looked full at some instant during the call.
    pub fn is_full(&self) -> bool {
        self.len() as Word >= self.cap
    }

    /// Claims a slot, lets `write` fill its `slot_size` payload bytes, and commits it. Never sleeps,
    /// wakes nobody (the blocking [`Self::push_with`] does). `who` is the caller's producer
    /// registration (for crash recovery; `None` = unrecoverable if killed mid-operation).
    ///
    /// Reports [`PushError::Full`] only if the ring was full at some instant during the call (see
    /// "Linearizable `try_*`" in the module docs: it may wait up to [`CLAIM_PATIENCE`] for a consumer
    /// caught between its claim and its free).
    #[inline]
    pub fn try_push_with(&self, who: Who, mut write: impl FnMut(*mut u8)) -> Result<(), PushError> {
        self.push_once(
            self.tag(&self.ctrl.producers, who),
            true,
            &Cell::new(false),
            &mut write,
            || (),
        )
    }

    /// Takes the oldest message, lets `read` copy its payload, and frees the slot. Never sleeps, wakes
    /// nobody (the blocking [`Self::pop_with`] does). `read` only ever sees a committed slot that
    /// this call owns; like everything in shared memory, its bytes may still be garbage if a peer
    /// scribbled over the region.
    ///
    /// Reports [`PopError::Empty`] only if the ring was empty at some instant during the call (see
    /// "Linearizable `try_*`" in the module docs: it may wait up to [`CLAIM_PATIENCE`] for a
    /// producer caught between its claim and its commit while a later position is already claimed).
    #[inline]
    pub fn try_pop_with<R>(&self, who: Who, mut read: impl FnMut(*const u8) -> R) -> Result<R, PopError> {
        self.pop_once(
            self.tag(&self.ctrl.consumers, who),
            true,
            &Cell::new(false),
            &mut read,
            || (),
        )
        .map(|(r, ())| r)
    }

    /// [`Self::try_push_with`] that also tells whether a `Full` answer is about to become wrong without
    /// a wake-up (`busy`: a consumer is freeing the slot right now and may not have seen a sleeper).
    /// For waiters that do not park a thread: on `busy`, re-check after a short sleep instead of
    /// waiting for a notification.
    #[inline]
    pub fn try_push_with_busy(
        &self,
        who: Who,
        busy: &Cell<bool>,
        mut write: impl FnMut(*mut u8),
    ) -> Result<(), PushError> {
        self.push_once(self.tag(&self.ctrl.producers, who), true, busy, &mut write, || ())
    }

    /// [`Self::try_pop_with`] that also tells whether an `Empty` answer is about to become wrong
    /// without a wake-up (`busy`: a producer is writing the next message right now; see
    /// [`Self::try_push_with_busy`]).
    #[inline]
    pub fn try_pop_with_busy<R>(
        &self,
        who: Who,
        busy: &Cell<bool>,
        mut read: impl FnMut(*const u8) -> R,
    ) -> Result<R, PopError> {
        self.pop_once(self.tag(&self.ctrl.consumers, who), true, busy, &mut read, || ())
            .map(|(r, ())| r)
    }

    /// Whether position `pos + 1` is claimed by a producer (read from its slot word; `pos` itself is
    /// being written): then a pop at `pos` must not report `Empty`.
    #[inline(never)]
    fn claimed_after(&self, pos: Word) -> bool {
        let next = pos.wrapping_add(1);
        // Ordering: Relaxed: only decides whether to wait; what we then read is re-loaded with
        // Acquire.
        let w = self
            .slot_word(slot_of(next, self.cap, self.mask))
            .load(Ordering::Relaxed);
        match dist(w, next) {
            0 => w & STATE != FREE,
            d => d > 0,
        }
    }

    /// Whether position `pos - cap + 1` was taken by a consumer (read from the slot of `pos + 1`;
    /// the slot of `pos` still holds `pos - cap`, being read): then a push at `pos` must not report
    /// `Full`.
    #[inline(never)]
    fn taken_after(&self, pos: Word) -> bool {
        let q = pos.wrapping_sub(self.cap).wrapping_add(1);
        // Ordering: Relaxed, as in `claimed_after`.
        let w = self.slot_word(slot_of(q, self.cap, self.mask)).load(Ordering::Relaxed);
        match dist(w, q) {
            0 => w & STATE == READING || (w & STATE == FULL && w & SKIP != 0),
            d => d > 0,
        }
    }

    /// Waits while the slot word of `slot` still holds `w`, a claim in progress (by a consumer if
    /// `consumer_claim`), for at most [`CLAIM_PATIENCE`]: spins, then yields the CPU, and forces the
    /// slot if its claimant can no longer act. `true` when the word changed (the caller re-reads it),
    /// `false` when it gave up.
    #[cold]
    #[inline(never)]
    fn await_claim(&self, slot: usize, w: SlotWord, consumer_claim: bool) -> bool {
        let sw = self.slot_word(slot);
        for _ in 0..CLAIM_SPINS {
            crate::atomic::spin_hint();
            // Ordering: Relaxed: the caller re-loads the word with Acquire before using it.
            if sw.load(Ordering::Relaxed) != w {
                return true;
            }
        }
        #[cfg(all(feature = "futex", not(loom)))]
        {
            use crate::time::{Clock, OsClock};
            let Some(start) = OsClock::now() else { return false };
            let mut next_probe = CLAIM_FIRST_PROBE;
            loop {
                rustix::thread::sched_yield();
                // Ordering: Relaxed, as above.
                if sw.load(Ordering::Relaxed) != w {
                    return true;
                }
                let waited = OsClock::now().map_or(CLAIM_PATIENCE, |now| now.saturating_duration_since(start));
                if waited >= next_probe {
                    next_probe = waited.saturating_add(CLAIM_PROBE_EVERY);
                    let table = if consumer_claim {
                        &self.ctrl.consumers
                    } else {
                        &self.ctrl.producers
                    };
                    let tag = tag_of(w);
                    if tag != 0 && table.tag_gone(tag) {
                        self.recover_slots(core::iter::once(slot));
                        return true;
                    }
                }
                if waited >= CLAIM_PATIENCE {
                    return false;
                }
            }
        }
        #[cfg(not(all(feature = "futex", not(loom))))]
        {
            let _ = consumer_claim;
            false
        }
    }

    /// The slot-word tag bits of `who` on the side whose table is `table`.
    #[inline(always)]
    fn tag(&self, table: &PeerTable, who: Who) -> SlotWord {
        who.map_or(0, |id| tag_bits(table.tag(id)))
    }

    /// Whether the blocking operations start with an eager claim (see "Eager claims" in the module
    /// docs): only where a slot spans at least a line pair, so that the line an eager claim takes
    /// holds no other slot's word.
    #[inline(always)]
    fn eager_claims(&self) -> bool {
        self.stride >= CACHE_LINE
    }

    /// An eager push (module docs, "Eager claims"): one CAS on the slot at the producers' frontier
    /// hint, expecting it free for that very position, and the rest of the push if it was. `None`:
    /// nothing changed (but where the slot's line is), and the caller takes the usual way.
    #[inline(never)]
    fn push_eager<X>(&self, tag: SlotWord, write: &mut impl FnMut(*mut u8), claimed: impl FnOnce() -> X) -> Option<X> {
        // Ordering: Acquire pairs with the Release store in `advance` (see there).
        let pos = self.ctrl.tail.load(Ordering::Acquire);
        let slot = slot_of(pos, self.cap, self.mask);
        let sw = self.slot_word(slot);
        // Ordering: SeqCst, as the claim in `push_once` (its Acquire pairs with the consumer's
        // Release free of this slot; SeqCst is the fence of the Dekker pair with a sleeping
        // consumer). Failure: Relaxed, the value is not used.
        sw.compare_exchange(
            word(pos, FREE),
            word(pos, WRITING | tag),
            Ordering::SeqCst,
            Ordering::Relaxed,
        )
        .ok()?;
        Some(self.fill(sw, slot, pos, claimed, write))
    }

    /// An eager pop: [`Self::push_eager`] for the consumers, expecting the slot at their frontier hint
    /// committed (and not skipped) for that very position.
    #[inline(never)]
    fn pop_eager<R, X>(
        &self,
        tag: SlotWord,
        read: &mut impl FnMut(*const u8) -> R,
        claimed: impl FnOnce() -> X,
    ) -> Option<(R, X)> {
        // Ordering: Acquire pairs with the Release store in `advance` (see there).
        let pos = self.ctrl.head.load(Ordering::Acquire);
        let slot = slot_of(pos, self.cap, self.mask);
        let sw = self.slot_word(slot);
        // Ordering: SeqCst, as the claim in `pop_once` (its Acquire pairs with the producer's
        // Release commit; SeqCst is the fence of the Dekker pair with a sleeping producer).
        // Failure: Relaxed, the value is not used.
        sw.compare_exchange(
            word(pos, FULL),
            word(pos, READING | tag),
            Ordering::SeqCst,
            Ordering::Relaxed,
        )
        .ok()?;
        Some(self.empty(sw, slot, pos, claimed, read))
    }

    /// The rest of a push once the producer holds slot `slot` for position `pos`: advances the tail
    /// hint, runs `claimed`, writes the payload and commits.
    #[inline(always)]
    fn fill<X>(
        &self,
        sw: &AtomicSlotWord,
        slot: usize,
        pos: Word,
        claimed: impl FnOnce() -> X,
        write: &mut impl FnMut(*mut u8),
    ) -> X {
        advance(&self.ctrl.tail, pos.wrapping_add(1));
        let x = claimed();
        write(self.payload(slot));
        // Ordering: Release publishes the payload to the consumer's Acquire load of the word. A
        // plain store: nobody else writes a slot we hold (recovery only touches slots of gone
        // owners). The commit point.
        sw.store(word(pos, FULL), Ordering::Release);
        x
    }

    /// The rest of a pop once the consumer holds slot `slot` for position `pos`: advances the head
    /// hint, runs `claimed`, reads the payload and frees the slot for the next lap.
    #[inline(always)]
    fn empty<R, X>(
        &self,
        sw: &AtomicSlotWord,
        slot: usize,
        pos: Word,
        claimed: impl FnOnce() -> X,
        read: &mut impl FnMut(*const u8) -> R,
    ) -> (R, X) {
        advance(&self.ctrl.head, pos.wrapping_add(1));
        let x = claimed();
        let r = read(self.payload(slot));
        // Ordering: Release orders our payload reads before the next producer's writes (its Acquire
        // load of the word). A plain store, as the commit.
        sw.store(word(pos.wrapping_add(self.cap), FREE), Ordering::Release);
        (r, x)
    }

    /// One non-blocking push attempt. `claimed` runs right after the claim CAS (the blocking layer
    /// reads the consumers' sleeper count there). Sets `busy` when the ring is full but the slot we
    /// need is being freed right now (see the module docs, "Waking"). `patient`: wait out a
    /// consumer's claim that would make a `Full` answer non-linearizable (module docs).
    #[inline(always)]
    fn push_once<X>(
        &self,
        tag: SlotWord,
        patient: bool,
        busy: &Cell<bool>,
        write: &mut impl FnMut(*mut u8),
        claimed: impl FnOnce() -> X,
    ) -> Result<X, PushError> {
        let ctrl = self.ctrl;
        let cap = self.cap as SignedWord;
        // Ordering: Acquire pairs with the Release store in `advance` (see there).
        let mut pos = ctrl.tail.load(Ordering::Acquire);
        for _ in 0..self.max_steps() {
            let slot = slot_of(pos, self.cap, self.mask);
            let sw = self.slot_word(slot);
            // Ordering: Acquire pairs with the consumer's Release free of this slot: its reads of
            // the previous lap happen before our writes.
            let w = sw.load(Ordering::Acquire);
            let d = dist(w, pos);
            if d == 0 {
                if w & STATE != FREE {
                    // Another producer claimed `pos`: the frontier moved on.
                    pos = pos.wrapping_add(1);
                    continue;
                }
                // Ordering: SeqCst. Acquire as above (a failed CAS retries with a fresh load);
                // Release publishes nothing yet; SeqCst makes this the fence of the Dekker pair with
                // a consumer registering as a sleeper (`Signal::sleeping_after_seqcst`).
                if sw
                    .compare_exchange(w, word(pos, WRITING | tag), Ordering::SeqCst, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
                return Ok(self.fill(sw, slot, pos, claimed, write));
            } else if d == -cap {
                // The slot still holds the previous lap: full, unless that position is skipped (no
                // message: discard it ourselves) or being read while a later one was already taken
                // (wait for the reader, module docs). A slot being read is freed any moment, maybe
                // without a wake-up: `busy`.
                let st = w & STATE;
                if st == FULL && w & SKIP != 0 {
                    // Ordering: SeqCst, as the consumers' discard of a skipped position.
                    let _ = sw.compare_exchange(w, word(pos, FREE), Ordering::SeqCst, Ordering::Relaxed);
                    continue;
                }
                if st == READING {
                    if patient && self.taken_after(pos) && self.await_claim(slot, w, true) {
                        continue;
                    }
                    busy.set(true);
                }
                return Err(PushError::Full);
            } else if d < 0 {
                // Older than the previous lap: only a scribbled word or hint does that.
                return Err(PushError::Corrupted);
            } else {
                // Lapped: our starting hint was stale.
                pos = step(pos, d, w, self.cap, false);
            }
        }
        Err(PushError::Corrupted)
    }

    /// One non-blocking pop attempt; `claimed` as for [`Self::push_once`]. Sets `busy` when the
    /// ring is empty but the message we want is being written right now. `patient`: wait out a
    /// producer's claim that would make an `Empty` answer non-linearizable (module docs).
    #[inline(always)]
    fn pop_once<R, X>(
        &self,
        tag: SlotWord,
        patient: bool,
        busy: &Cell<bool>,
        read: &mut impl FnMut(*const u8) -> R,
        claimed: impl FnOnce() -> X,
    ) -> Result<(R, X), PopError> {
        let ctrl = self.ctrl;
        let cap = self.cap as SignedWord;
        // Ordering: Acquire pairs with the Release store in `advance` (see there).
        let mut pos = ctrl.head.load(Ordering::Acquire);
        for _ in 0..self.max_steps() {
            let slot = slot_of(pos, self.cap, self.mask);
            let sw = self.slot_word(slot);
            // Ordering: Acquire pairs with the producer's Release commit: its payload writes happen
            // before our reads.
            let w = sw.load(Ordering::Acquire);
            let d = dist(w, pos);
            if d == 0 {
                match w & STATE {
                    FREE => return Err(PopError::Empty),
                    WRITING => {
                        if patient && self.claimed_after(pos) && self.await_claim(slot, w, false) {
                            continue;
                        }
                        busy.set(true);
                        return Err(PopError::Empty);
                    }
                    READING => pos = pos.wrapping_add(1),
                    _ if w & SKIP != 0 => {
                        // A position recovery skipped: discard it by freeing the slot.
                        // Ordering: SeqCst, as the claim below (a waiting producer saw "busy").
                        if sw
                            .compare_exchange(
                                w,
                                word(pos.wrapping_add(self.cap), FREE),
                                Ordering::SeqCst,
                                Ordering::Relaxed,
                            )
                            .is_ok()
                        {
                            advance(&ctrl.head, pos.wrapping_add(1));
                            pos = pos.wrapping_add(1);
                        }
                    }
                    _ => {
                        // Ordering: SeqCst, as the producer's claim (Dekker pair with a producer
                        // registering as a sleeper); Acquire is already given by the load above for
                        // this very value.
                        if sw
                            .compare_exchange(w, word(pos, READING | tag), Ordering::SeqCst, Ordering::Relaxed)
                            .is_err()
                        {
                            continue;
                        }
                        return Ok(self.empty(sw, slot, pos, claimed, read));
                    }
                }
            } else if d == -cap {
                // The slot still holds the previous lap: `pos` has not been produced yet.
                return Err(PopError::Empty);
            } else if d < 0 {
                return Err(PopError::Corrupted);
            } else {
                pos = step(pos, d, w, self.cap, true);
            }
        }
        Err(PopError::Corrupted)
    }

    /// Forces past every slot held by a claimant that can no longer act (see the module docs):
    /// skips positions whose producer died mid-write, frees slots whose consumer died mid-read
    /// (counting the message lost). Returns whether it did anything. Reads every slot word; asks the
    /// OS about a process only when a slot is held by it. For `try_*` pollers and tools; blocked
    /// waiters use the cheaper [`Self::recover_frontier`].
    pub fn recover(&self) -> bool {
        self.recover_slots(0..self.capacity())
    }

    /// [`Self::recover`] restricted to the slots that can stall a blocked waiter: the positions from
    /// the consumers' to the producers' frontier, inclusive (what is queued or being written, plus
    /// the slot the next producer needs). Few while consumers wait on an empty ring; the whole ring
    /// while producers wait on a full one (a wedged position anywhere in it keeps the ring full).
    /// Blocked waiters call it once per probe interval.
    pub fn recover_frontier(&self) -> bool {
        let tail = self.frontier(false);
        let head = self.frontier(true);
        let queued = (tail.wrapping_sub(head) as SignedWord).clamp(0, self.cap as SignedWord - 1) as Word;
        self.recover_slots((0..=queued).map(|i| slot_of(head.wrapping_add(i), self.cap, self.mask)))
    }

    fn recover_slots(&self, slots: impl Iterator<Item = usize>) -> bool {
        let mut did = false;
        // Per-call memo of `tag_gone` (a /proc read each): (side << TAG_BITS | tag, gone) for the
        // last few tags seen. Both tables hand out the same tags, so the side is part of the key.
        let mut memo: [(u32, bool); 8] = [(0, false); 8];
        let mut gone = |consumer: bool, tag: u32| {
            let key = u32::from(consumer) << TAG_BITS | tag;
            if let Some(&(_, g)) = memo.iter().find(|(k, _)| *k == key) {
                return g;
            }
            let table = if consumer {
                &self.ctrl.consumers
            } else {
                &self.ctrl.producers
            };
            let g = table.tag_gone(tag);
            memo.rotate_right(1);
            memo[0] = (key, g);
            g
        };
        for slot in slots {
            let sw = self.slot_word(slot);
            // Ordering: Acquire pairs with the claimant's CAS, so `tag_gone` sees its registration.
            let w = sw.load(Ordering::Acquire);
            let tag = tag_of(w);
            let st = w & STATE;
            if tag == 0 || (st != WRITING && st != READING) {
                continue;
            }
            let pos = pos_of(w);
            if st == WRITING && gone(false, tag) {
                // Ordering: Release pairs with the consumers' Acquire load of the word (nothing of
                // ours to publish, but the skip must not be reordered before our checks).
                did |= sw
                    .compare_exchange(w, word(pos, FULL | SKIP), Ordering::Release, Ordering::Relaxed)
                    .is_ok();
            } else if st == READING && gone(true, tag) {
                // Ordering: Release pairs with the producers' Acquire load of the word.
                if sw
                    .compare_exchange(
                        w,
                        word(pos.wrapping_add(self.cap), FREE),
                        Ordering::Release,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    self.ctrl.control.add_lost();
                    did = true;
                }
            }
        }
        did
    }

    /// Pushes through `write`, waiting (through `W`) until `deadline` for room, and wakes a consumer.
    pub fn push_with<W: Wait>(
        &self,
        who: Who,
        deadline: Deadline,
        mut write: impl FnMut(*mut u8),
    ) -> Result<(), PushError> {
        let control = &self.ctrl.control;
        if control.is_closed() {
            return Err(PushError::Closed);
        }
        let tag = self.tag(&self.ctrl.producers, who);
        let eager = if self.eager_claims() {
            self.push_eager(tag, &mut write, || control.not_empty.sleeping_after_seqcst())
        } else {
            None
        };
        let wake = match eager {
            Some(wake) => wake,
            None => {
                let busy = Cell::new(false);
                control.push_wait::<W, bool>(
                    Some(&self.ctrl.consumers),
                    deadline,
                    &busy,
                    || {
                        self.push_once(tag, false, &busy, &mut write, || {
                            control.not_empty.sleeping_after_seqcst()
                        })
                    },
                    || {
                        self.recover_frontier();
                    },
                )?
            }
        };
        if wake {
            control.not_empty.wake_one::<W>();
        }
        Ok(())
    }

    /// Pops through `read`, waiting (through `W`) until `deadline`, and wakes a producer.
    pub fn pop_with<W: Wait, R>(
        &self,
        who: Who,
        deadline: Deadline,
        mut read: impl FnMut(*const u8) -> R,
    ) -> Result<R, PopError> {
        let control = &self.ctrl.control;
        let tag = self.tag(&self.ctrl.consumers, who);
        let eager = if self.eager_claims() {
            self.pop_eager(tag, &mut read, || control.not_full.sleeping_after_seqcst())
        } else {
            None
        };
        let (r, wake) = match eager {
            Some(done) => done,
            None => {
                let busy = Cell::new(false);
                control.pop_wait::<W, (R, bool)>(
                    Some(&self.ctrl.producers),
                    deadline,
                    &busy,
                    || {
                        self.pop_once(tag, false, &busy, &mut read, || {
                            control.not_full.sleeping_after_seqcst()
                        })
                    },
                    || {
                        self.recover_frontier();
                    },
                )?
            }
        };
        if wake {
            control.not_full.wake_one::<W>();
        }
        Ok(r)
    }

    /// Closes the ring (see [`super::blocking::Control::close`]).
    pub fn close<W: Wait>(&self) {
        self.ctrl.control.close::<W>();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wait::Spin;
    use std::vec;

    use super::super::test_region as region;

    fn push(q: &Mpmc<'_>, v: u64) -> Result<(), PushError> {
        // SAFETY: 8-byte aligned payload of 8 bytes.
        q.try_push_with(None, |p| unsafe { (p as *mut u64).write(v) })
    }
    fn pop(q: &Mpmc<'_>) -> Result<u64, PopError> {
        // SAFETY: 8-byte aligned payload of 8 bytes.
        q.try_pop_with(None, |p| unsafe { (p as *const u64).read() })
    }

    #[test]
    fn fifo_at_every_capacity() {
        for cap in [1u64, 2, 3, 8] {
            let mut buf = vec![];
            let q = ring(&mut buf, cap);
            for round in 0..10 {
                for i in 0..cap {
                    push(&q, round * 100 + i).unwrap();
                }
                assert!(q.is_full());
                assert_eq!(push(&q, 0), Err(PushError::Full));
                for i in 0..cap {
                    assert_eq!(pop(&q), Ok(round * 100 + i));
                }
                assert_eq!(pop(&q), Err(PopError::Empty));
            }
        }
    }

    /// A ring of capacity `cap` in `buf`.
    fn ring(buf: &mut std::vec::Vec<u8>, cap: u64) -> Mpmc<'_> {
        let layout = MpmcLayout {
            capacity: cap,
            slot_size: 8,
            align: 8,
        };
        buf.resize(layout.size().unwrap() + RING_ALIGN, 0);
        Mpmc::init::<Spin>(region(buf), Kind::Mpmc, layout, 0, 0).unwrap()
    }

    #[test]
    fn slot_words_encode_positions_modulo_2_44() {
        for pos in [0u64, 1, 5, (1 << 44) - 1, 1 << 44, u64::MAX - 3] {
            for d in [-5i64, -1, 0, 1, 1024, -(1 << 40)] {
                let w = word(pos.wrapping_add(d as u64), READING | 0x1234 << TAG_SHIFT);
                assert_eq!(dist(w, pos), d, "pos {pos} d {d}");
                assert_eq!(w & STATE, READING);
                assert_eq!(tag_of(w), 0x1234);
            }
        }
    }

    #[cfg(feature = "futex")] // liveness probes
    #[test]
    fn gone_claimants_are_forced_and_live_ones_never() {
        let mut buf = vec![];
        let q = ring(&mut buf, 2);
        // A "dead" producer (pid 0x7fff_fff0 never exists) claims position 0 and never commits.
        let dead = q.ctrl().producers.register(0x7fff_fff0, 1).unwrap();
        let dead_tag = u64::from(q.ctrl().producers.tag(dead)) << TAG_SHIFT;
        // Ordering: Relaxed; single-threaded test playing a dead producer's claim.
        q.slot_word(0).store(word(0, WRITING | dead_tag), Ordering::Relaxed);
        q.ctrl().tail.store(1, Ordering::Relaxed);
        // Before anything is committed behind it, the wedged claim makes the ring empty ...
        assert_eq!(pop(&q), Err(PopError::Empty));
        push(&q, 7).unwrap();
        // ... after that, a try_pop must not say Empty: it waits for the claimant, finds it gone,
        // and forces its slot (linearizability, issue 16 item 8).
        assert_eq!(pop(&q), Ok(7));
        assert!(!q.recover(), "nothing left to recover");
        // A dead consumer takes position 2 and never frees it.
        push(&q, 8).unwrap();
        push(&q, 9).unwrap();
        let dc = q.ctrl().consumers.register(0x7fff_fff0, 1).unwrap();
        let dc_tag = u64::from(q.ctrl().consumers.tag(dc)) << TAG_SHIFT;
        // Ordering: Relaxed; single-threaded test playing a dead consumer's claim.
        q.slot_word(0).store(word(2, READING | dc_tag), Ordering::Relaxed);
        q.ctrl().head.store(3, Ordering::Relaxed);
        // Position 3 not taken yet: the ring (2 wedged, 3 queued) is full.
        assert_eq!(push(&q, 10), Err(PushError::Full));
        assert_eq!(pop(&q), Ok(9));
        // Position 3 taken: a try_push must not say Full; it forces the gone reader's slot.
        push(&q, 10).unwrap();
        assert!(!q.recover());
        assert_eq!(q.ctrl().control.lost(), 1);
        push(&q, 11).unwrap();
        assert_eq!(pop(&q), Ok(10));
        assert_eq!(pop(&q), Ok(11));

        // A live claimant (this process) is never forced, however long it takes.
        let me = crate::queue::peers::current_stamp().unwrap();
        let live = q.ctrl().producers.register(me.0, me.1).unwrap();
        let live_tag = u64::from(q.ctrl().producers.tag(live)) << TAG_SHIFT;
        q.slot_word(0).store(word(4, WRITING | live_tag), Ordering::Relaxed);
        q.ctrl().tail.store(5, Ordering::Relaxed);
        assert!(!q.recover());
        // An unregistered claimant (tag 0) neither.
        q.slot_word(0).store(word(4, WRITING), Ordering::Relaxed);
        assert!(!q.recover());
        assert_eq!(pop(&q), Err(PopError::Empty));
    }

    /// A live claimant stalled at the frontier, with a later message committed: a try_pop waits
    /// for it for CLAIM_PATIENCE (never forcing it), then answers Empty; bounded.
    #[cfg(feature = "futex")]
    #[test]
    fn a_stalled_live_claimant_is_waited_for_a_bounded_time() {
        let mut buf = vec![];
        let q = ring(&mut buf, 4);
        let me = crate::queue::peers::current_stamp().unwrap();
        let live = q.ctrl().producers.register(me.0, me.1).unwrap();
        let live_tag = u64::from(q.ctrl().producers.tag(live)) << TAG_SHIFT;
        // Ordering: Relaxed; single-threaded test playing a stalled producer's claim of position 0.
        q.slot_word(0).store(word(0, WRITING | live_tag), Ordering::Relaxed);
        q.ctrl().tail.store(1, Ordering::Relaxed);
        push(&q, 1).unwrap();
        let start = std::time::Instant::now();
        assert_eq!(pop(&q), Err(PopError::Empty));
        let el = start.elapsed();
        assert!(el >= CLAIM_PATIENCE && el < std::time::Duration::from_secs(2), "{el:?}");
        // The claimant commits: everything flows in order.
        // SAFETY: slot 0's payload is 8 aligned bytes; we play its (single) writer.
        unsafe { (q.payload(0) as *mut u64).write(0) };
        q.slot_word(0).store(word(0, FULL), Ordering::Release);
        assert_eq!(pop(&q), Ok(0));
        assert_eq!(pop(&q), Ok(1));
    }

    /// A skipped position in the slot a producer needs does not make the ring look full: the
    /// producer discards it.
    #[test]
    fn a_skipped_position_does_not_make_the_ring_full() {
        let mut buf = vec![];
        let q = ring(&mut buf, 2);
        push(&q, 1).unwrap();
        push(&q, 2).unwrap();
        // Position 0 turns out to carry no message (as recovery leaves a dead producer's claim).
        // Ordering: Relaxed; single-threaded test.
        q.slot_word(0).store(word(0, FULL | SKIP), Ordering::Relaxed);
        push(&q, 3).unwrap();
        assert_eq!(push(&q, 4), Err(PushError::Full));
        assert_eq!(pop(&q), Ok(2));
        assert_eq!(pop(&q), Ok(3));
        assert_eq!(pop(&q), Err(PopError::Empty));
    }

    /// crossbeam's `ArrayQueue` test `linearizable`, on threads: an actor that pushed (retrying
    /// until Ok) must then pop something. (Needs the OS: without it a patient attempt only spins
    /// briefly, see `await_claim`.)
    #[cfg(feature = "futex")]
    #[test]
    fn linearizable() {
        // Repeated: without the waiting, a violation shows up in about one run of the pair in three.
        for actors in [2usize, 4].repeat(10) {
            let mut buf = vec![];
            let q = ring(&mut buf, 4);
            std::thread::scope(|s| {
                for _ in 0..actors {
                    s.spawn(|| {
                        for i in 0..25_000u64 {
                            while push(&q, i).is_err() {}
                            assert!(pop(&q).is_ok(), "Empty right after our own push ({actors} actors)");
                        }
                    });
                }
            });
            assert_eq!(pop(&q), Err(PopError::Empty));
        }
    }

    #[cfg(feature = "futex")] // liveness probes
    #[test]
    fn a_re_registered_entry_makes_old_tags_gone() {
        let mut buf = vec![];
        let q = ring(&mut buf, 2);
        let t = &q.ctrl().producers;
        let me = crate::queue::peers::current_stamp().unwrap();
        let first = t.register(me.0, me.1).unwrap();
        let old = t.tag(first);
        assert!(!t.tag_gone(old));
        t.unregister(first);
        assert!(t.tag_gone(old), "an unregistered owner cannot act");
        let again = t.register(me.0, me.1).unwrap();
        assert_eq!(again.index(), first.index());
        assert_ne!(t.tag(again), old);
        assert!(t.tag_gone(old), "the entry's generation moved on");
        assert!(!t.tag_gone(t.tag(again)));
        assert!(!t.tag_gone(0));
    }

    #[cfg(feature = "futex")] // liveness probes
    #[test]
    fn a_gone_producer_does_not_make_a_live_consumer_with_the_same_tag_gone() {
        let mut buf = vec![];
        let q = ring(&mut buf, 4);
        // First registration on each side: entry 0, generation 1 — the same tag on both tables.
        let dead = q.ctrl().producers.register(0x7fff_fff0, 1).unwrap();
        let me = crate::queue::peers::current_stamp().unwrap();
        let live = q.ctrl().consumers.register(me.0, me.1).unwrap();
        let (pt, ct) = (q.ctrl().producers.tag(dead), q.ctrl().consumers.tag(live));
        assert_eq!(pt, ct);
        push(&q, 1).unwrap();
        // Slot 0: a live consumer is reading position 0; slot 1: a dead producer is writing 1.
        q.slot_word(0)
            .store(word(0, READING | u64::from(ct) << TAG_SHIFT), Ordering::Relaxed);
        q.slot_word(1)
            .store(word(1, WRITING | u64::from(pt) << TAG_SHIFT), Ordering::Relaxed);
        q.ctrl().head.store(1, Ordering::Relaxed);
        q.ctrl().tail.store(2, Ordering::Relaxed);
        assert!(q.recover());
        assert_eq!(q.ctrl().control.lost(), 0, "the live consumer's slot was freed");
        // Ordering: Relaxed; single-threaded test.
        let w0 = q.slot_word(0).load(Ordering::Relaxed);
        assert_eq!((w0 & STATE, dist(w0, 0)), (READING, 0));
        let w1 = q.slot_word(1).load(Ordering::Relaxed);
        assert_eq!((w1 & STATE, w1 & SKIP, dist(w1, 1)), (FULL, SKIP, 0));
    }

    #[cfg(feature = "futex")] // liveness probes
    #[test]
    fn a_dead_entry_being_taken_over_is_not_taken_twice() {
        let mut buf = vec![];
        let q = ring(&mut buf, 2);
        let t = &q.ctrl().producers;
        for pid in 0..crate::queue::peers::PEERS as u32 {
            t.register(0x7fff_0000 + pid, 1).unwrap();
        }
        // Every entry belongs to a dead process. A taker holds entry 0's lock (start time 0).
        t.entries_for_test()[0].start_time.store(0, Ordering::Relaxed);
        let me = crate::queue::peers::current_stamp().unwrap();
        let id = t.register(me.0, me.1).unwrap();
        assert_ne!(id.index(), 0, "a locked entry must not be taken");
        assert!(!t.tag_gone(t.tag(id)));
    }

    #[cfg(feature = "futex")] // liveness probes
    #[test]
    fn a_takeover_that_lost_the_race_gives_the_entry_back() {
        use crate::queue::peers::{PeerTable, PEERS};
        let mut buf = vec![];
        let q = ring(&mut buf, 2);
        let t = &q.ctrl().producers;
        let me = crate::queue::peers::current_stamp().unwrap();
        // Entry 0: a dead process that happened to start in the same clock tick as us.
        for pid in 0..PEERS as u32 {
            t.register(0x7fff_0000 + pid, me.1).unwrap();
        }
        let e = &t.entries_for_test()[0];
        // Registrant R1 reads the dead owner (gen, pid, start) ...
        let (g, cur, st) = (1, 0x7fff_0000, me.1);
        // ... then R2 (us) takes the entry over completely, with an equal start time ...
        let r2 = t.register(me.0, me.1).unwrap();
        assert_eq!(r2.index(), 0);
        // ... then R1's lock CAS succeeds (same start time) and its re-check must give it back.
        assert!(e
            .start_time
            .compare_exchange(st, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok());
        assert!(!PeerTable::still_theirs(e, g, cur, st));
        assert_eq!(e.start_time.load(Ordering::Relaxed), st);
        assert!(!t.tag_gone(t.tag(r2)), "the live registrant must stay alive");
    }

    #[test]
    fn stale_hints_are_stepped_over() {
        let mut buf = vec![];
        let q = ring(&mut buf, 4);
        for v in 0..3 {
            push(&q, v).unwrap();
        }
        // Hints moved back (racing stores): claimants step over claimed positions, and `len`
        // walks from them.
        q.ctrl().tail.store(0, Ordering::Relaxed);
        assert_eq!(q.len(), 3);
        push(&q, 3).unwrap();
        assert_eq!(push(&q, 4), Err(PushError::Full));
        assert_eq!(pop(&q), Ok(0));
        q.ctrl().head.store(0, Ordering::Relaxed);
        assert_eq!(q.len(), 3);
        for v in 1..4 {
            assert_eq!(pop(&q), Ok(v));
        }
        assert_eq!(pop(&q), Err(PopError::Empty));
        assert!(q.is_empty());
        // Many laps later, hints put back to 0 by a claimant preempted for that long: a push and a
        // pop still find the frontier (by the slot words' positions, not by walking every lap).
        for v in 0..1000 {
            push(&q, v).unwrap();
            assert_eq!(pop(&q), Ok(v));
        }
        push(&q, 7).unwrap();
        q.ctrl().tail.store(0, Ordering::Relaxed);
        q.ctrl().head.store(0, Ordering::Relaxed);
        assert_eq!(q.len(), 1);
        push(&q, 8).unwrap();
        assert_eq!(pop(&q), Ok(7));
        assert_eq!(pop(&q), Ok(8));
    }

    #[test]
    fn garbage_words_are_errors_not_hangs() {
        let mut buf = vec![];
        let q = ring(&mut buf, 4);
        // A slot word two laps behind its position: impossible without a scribbler.
        q.slot_word(0)
            .store(word(0u64.wrapping_sub(8), FULL), Ordering::Relaxed);
        assert_eq!(pop(&q), Err(PopError::Corrupted));
        assert_eq!(push(&q, 1), Err(PushError::Corrupted));
        // Every slot claims to be far ahead, and the hints point nowhere useful: bounded, no hang.
        for i in 0..4 {
            q.slot_word(i).store(word(1 << 42, READING), Ordering::Relaxed);
        }
        assert!(pop(&q).is_err());
        assert!(push(&q, 1).is_err());
    }
}
