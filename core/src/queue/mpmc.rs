//! [`Mpmc`]: a bounded multi-producer multi-consumer ring of fixed-size slots in shared memory, with
//! recovery from participants killed mid-operation.
//!
//! # Algorithm
//! Dmitry Vyukov's bounded MPMC queue
//! (<https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue>): every slot
//! carries a sequence number; a producer claims position `p` with a CAS on `tail` when slot `p % cap`
//! says "free for lap p", writes, then publishes; a consumer claims with a CAS on `head` when the slot
//! says "published for p", reads, then frees the slot for lap `p + cap`. Here the sequence is doubled
//! so that capacity 1 works (Vyukov's original needs >= 2):
//!
//! | `seq` (bit 63 clear)   | meaning                                                    |
//! |------------------------|------------------------------------------------------------|
//! | `2p`                   | free: the producer of position `p` may claim it              |
//! | `2p + 1`               | published: the consumer of position `p` may claim it         |
//! | `2p + 1` with bit 63   | skipped: position `p` was forced past; consumers discard it  |
//!
//! # What a killed participant does (heapless issue #583)
//! A claimant stopped between its claim CAS and its publish wedges everyone at that slot; a killed
//! process is a claimant stopped forever. Each participant therefore registers (per process) in the
//! ring's [`super::peers::PeerTable`] with its [`crate::os::ProcessStamp`], and records the position
//! it is about to claim *before* the claim CAS (cleared after the commit). A waiter that has been
//! blocked for a [`super::blocking::PROBE_INTERVAL`] calls [`Mpmc::recover`], which acts only when the
//! table holds a **dead participant whose recorded claim is the wedged position** (or, once the
//! same position has stayed wedged for [`STUCK_PROBES`] probes, about half a second, a dead
//! participant with *any* claim: threads of one process share one record):
//! - consumers' side: if the slot at `head` is claimed by a producer (`tail > head`) but unpublished,
//!   marks it *skipped* with a CAS (`2p -> (2p+1) | SKIP`); the message of the dead producer was never
//!   committed, so nothing is lost;
//! - producers' side: if the slot at `tail` was claimed by a consumer (`head > tail - cap`) but never
//!   freed, frees it with a CAS and counts the message as **lost** ([`super::blocking::Control::lost`]):
//!   a consumer killed mid-read takes that one message with it, counted, never silently.
//!
//! Commits are CASes (publish `2p -> 2p+1`, free `2p+1 -> 2(p+cap)`), so a slow but *alive*
//! participant that was forced past by mistake notices: a producer re-pushes its message at a new
//! position (its own messages stay in order), a consumer discards its possibly torn copy (already
//! counted lost) and pops again. A forced skip therefore never duplicates or silently drops a message.
//! One residual risk, documented rather than hidden: a forced skip of a *live* producer (possible only
//! if a process died right after losing the claim race for that very position and the winner then
//! stalled for a whole probe interval) lets that producer's late payload write overlap the slot's next
//! message, which may then arrive torn. Garbage data, never an out-of-bounds access.
//!
//! Limits: a process that could not register (more than [`super::peers::PEERS`] live processes on one
//! side) is not recoverable if killed mid-operation. Values read from the slots are not trusted: a
//! sequence number that contradicts the positions yields [`PopError::Corrupted`] / [`PushError::Corrupted`].
//!
//! # Layout
//! Header and [`super::RingCtrl`] (`head` = next position to take, `tail` = next to claim), then
//! `capacity` slots of `stride` bytes at [`super::DATA_OFFSET`]:
//!
//! | offset in slot | size        | field  | written by                                     |
//! |---------------:|------------:|--------|------------------------------------------------|
//! | 0              | 8           | `seq`  | producers (publish), consumers (free), recovery|
//! | `data_off`     | `slot_size` | data   | the producer that claimed the slot             |
//!
//! `data_off = max(8, elem_align)`, `stride = align_up(data_off + slot_size, data_off)`. Header:
//! `capacity` = slots, `elem_size` = `slot_size`, `elem_align`, `msg_limit` = byte-slot limit (byte
//! flavour) or 0.

use super::peers::{PeerId, NO_CLAIM};
use super::{check_ring, mask_for, slot_of, PopError, PushError, RingCtrl, DATA_OFFSET, RING_ALIGN};
use crate::atomic::{AtomicU64, Ordering};
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams};
use crate::region::{align_up, Region};
use crate::time::Deadline;
use crate::wait::Wait;

/// Bit 63 of a slot's sequence: the position was skipped by recovery.
pub const SKIP: u64 = 1 << 63;

/// Layout parameters of an MPMC ring.
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
        self.align.max(8)
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
#[derive(Clone, Copy)]
pub struct Mpmc<'a> {
    ctrl: &'a RingCtrl,
    slots: *mut u8,
    cap: u64,
    mask: u64,
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
        if layout.capacity >= 1 << 61 {
            return Err(InitError::InvalidParameter {
                name: "capacity",
                reason: "must be below 2^61",
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
            ring.seq(i as usize).store(2 * i, Ordering::Relaxed);
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
        if layout.capacity == 0 || layout.capacity >= 1 << 61 {
            return Err(AttachError::Corrupted {
                what: "capacity is 0 or absurdly large",
            });
        }
        check_ring(region, header, layout.size())?;
        // SAFETY: check_ring validated size >= DATA_OFFSET and alignment.
        let ctrl = unsafe { RingCtrl::at(region) };
        Ok(Self::view(region, ctrl, layout, header.msg_limit()))
    }

    fn view(region: Region<'a>, ctrl: &'a RingCtrl, layout: MpmcLayout, msg_limit: u64) -> Self {
        let data = align_up(DATA_OFFSET, layout.region_align()).unwrap_or(usize::MAX);
        Mpmc {
            ctrl,
            slots: region.as_ptr().wrapping_add(data),
            cap: layout.capacity,
            mask: mask_for(layout.capacity),
            stride: layout.stride().unwrap_or(0),
            data_off: layout.data_off(),
            slot_size: layout.slot_size,
            msg_limit,
        }
    }

    /// A view over memory a loom model built: `slots` holds `cap` slots of `stride` bytes, each an
    /// `AtomicU64` sequence followed (at `data_off`) by `slot_size` payload bytes.
    ///
    /// # Safety
    /// `slots` is valid for `'a` as described, and every sequence was initialised to `2 * index`.
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
    fn seq(&self, slot: usize) -> &'a AtomicU64 {
        debug_assert!((slot as u64) < self.cap);
        // SAFETY: slot < cap (every caller reduces positions with `slot_of`), so the slot lies inside
        // the validated region; slots are stride-aligned to >= 8 from a CACHE_LINE-aligned base.
        unsafe { &*(self.slots.add(slot * self.stride) as *const AtomicU64) }
    }

    #[inline(always)]
    fn payload(&self, slot: usize) -> *mut u8 {
        debug_assert!((slot as u64) < self.cap);
        // SAFETY: as in `seq`; data_off + slot_size <= stride.
        unsafe { self.slots.add(slot * self.stride + self.data_off) }
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

    /// Messages claimed-for-writing and not yet taken, at some instant during the call, clamped to
    /// `0..=capacity` (see the host `Queue::qsize` for why this is only a hint).
    pub fn len(&self) -> usize {
        let mut tries = 0;
        loop {
            // Ordering: Acquire; re-read tail to get a consistent pair (crossbeam's `len` technique).
            let tail = self.ctrl.tail.load(Ordering::Acquire);
            let head = self.ctrl.head.load(Ordering::Acquire);
            tries += 1;
            // Bounded: a peer rewriting `tail` non-stop must not keep us here.
            if self.ctrl.tail.load(Ordering::Acquire) == tail || tries >= 64 {
                return tail.saturating_sub(head).min(self.cap) as usize;
            }
        }
    }

    /// Whether the ring looked empty at some instant during the call.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring looked full at some instant during the call.
    pub fn is_full(&self) -> bool {
        self.len() as u64 >= self.cap
    }

    /// Claims a slot, lets `write` fill its `slot_size` payload bytes, and publishes it. Never blocks.
    /// `who` is the caller's producer registration (for crash recovery; `None` = unrecoverable).
    #[inline]
    pub fn try_push_with(&self, who: Who, mut write: impl FnMut(*mut u8)) -> Result<(), PushError> {
        let ctrl = self.ctrl;
        // Ordering: Relaxed; the slot's sequence (Acquire) is what synchronizes.
        let mut pos = ctrl.tail.load(Ordering::Relaxed);
        loop {
            let slot = slot_of(pos, self.cap, self.mask);
            let seq_word = self.seq(slot);
            // Ordering: Acquire pairs with the consumer's Release free of this slot: its reads of
            // the previous lap happen before our writes.
            let seq = seq_word.load(Ordering::Acquire) & !SKIP;
            let dif = seq.wrapping_sub(pos.wrapping_mul(2)) as i64;
            if dif == 0 {
                if let Some(id) = who {
                    ctrl.producers.set_claim(id, pos);
                }
                // Ordering: AcqRel: Release publishes the claim record above to a survivor's
                // Acquire load of `tail`; Acquire orders our slot writes after the claim.
                match ctrl
                    .tail
                    .compare_exchange_weak(pos, pos.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
                {
                    Ok(_) => {
                        write(self.payload(slot));
                        // Ordering: SeqCst: Release publishes the payload to the consumer's Acquire
                        // load of the sequence, and SeqCst lets `push_with` skip the fence before its
                        // sleeper check (see `Signal::notify_one_after_seqcst`). The commit point; a
                        // CAS so a forced skip is detected.
                        let ok = seq_word
                            .compare_exchange(
                                pos.wrapping_mul(2),
                                pos.wrapping_mul(2).wrapping_add(1),
                                Ordering::SeqCst,
                                Ordering::Relaxed,
                            )
                            .is_ok();
                        if let Some(id) = who {
                            ctrl.producers.set_claim(id, NO_CLAIM);
                        }
                        if ok {
                            return Ok(());
                        }
                        // Forced past by recovery: push the message again at a new position.
                        // Ordering: Relaxed, as at the top.
                        pos = ctrl.tail.load(Ordering::Relaxed);
                    }
                    Err(p) => pos = p,
                }
            } else if dif < 0 {
                return Err(PushError::Full);
            } else {
                // Ordering: Relaxed, as at the top. A sequence ahead of its position implies `tail`
                // moved on (the claim CAS happens before the sequence advances).
                let p = ctrl.tail.load(Ordering::Relaxed);
                if p == pos {
                    return Err(PushError::Corrupted);
                }
                pos = p;
            }
        }
    }

    /// Claims the oldest published slot, lets `read` copy its payload, and frees it. Never blocks.
    /// `read` may run on a slot that turns out to be torn (then its result is discarded and the pop
    /// is retried); it must only copy.
    #[inline]
    pub fn try_pop_with<R>(&self, who: Who, mut read: impl FnMut(*const u8) -> R) -> Result<R, PopError> {
        let ctrl = self.ctrl;
        // Ordering: Relaxed; the slot's sequence (Acquire) is what synchronizes.
        let mut pos = ctrl.head.load(Ordering::Relaxed);
        loop {
            let slot = slot_of(pos, self.cap, self.mask);
            let seq_word = self.seq(slot);
            // Ordering: Acquire pairs with the producer's Release publish: its payload writes
            // happen before our reads.
            let raw = seq_word.load(Ordering::Acquire);
            let seq = raw & !SKIP;
            let dif = seq.wrapping_sub(pos.wrapping_mul(2).wrapping_add(1)) as i64;
            if dif == 0 {
                if let Some(id) = who {
                    ctrl.consumers.set_claim(id, pos);
                }
                // Ordering: AcqRel, as for the producer's claim.
                match ctrl
                    .head
                    .compare_exchange_weak(pos, pos.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
                {
                    Ok(_) => {
                        let r = if raw & SKIP == 0 {
                            Some(read(self.payload(slot)))
                        } else {
                            None
                        };
                        let next = pos.wrapping_add(self.cap).wrapping_mul(2);
                        // Ordering: SeqCst: Release orders our payload reads before the next
                        // producer's writes (its Acquire load of the sequence); SeqCst as in the
                        // producer's commit. The commit point.
                        let ok = seq_word
                            .compare_exchange(raw, next, Ordering::SeqCst, Ordering::Relaxed)
                            .is_ok();
                        if let Some(id) = who {
                            ctrl.consumers.set_claim(id, NO_CLAIM);
                        }
                        if let (true, Some(r)) = (ok, r) {
                            return Ok(r);
                        }
                        // Skipped position, or our slot was freed under us (copy possibly torn,
                        // already counted lost by the recoverer): take the next one.
                        // Ordering: Relaxed, as at the top.
                        pos = ctrl.head.load(Ordering::Relaxed);
                    }
                    Err(p) => pos = p,
                }
            } else if dif < 0 {
                return Err(PopError::Empty);
            } else {
                // Ordering: Relaxed; see `try_push_with`.
                let p = ctrl.head.load(Ordering::Relaxed);
                if p == pos {
                    return Err(PopError::Corrupted);
                }
                pos = p;
            }
        }
    }

    /// Forces past a slot wedged by a dead participant whose recorded claim is exactly the wedged
    /// position (see the module docs). Returns whether it did. Cheap when nothing is wedged; blocked
    /// waiters call it once per probe interval.
    pub fn recover(&self) -> bool {
        self.recover_with(false)
    }

    /// [`Self::recover`]; with `any_claim`, a dead participant with *any* claim in progress is enough
    /// (threads of one process share one record, so a dead multi-threaded process may show another
    /// position). Blocked waiters use it once the same position has been wedged for
    /// [`STUCK_PROBES`] probe intervals.
    pub fn recover_with(&self, any_claim: bool) -> bool {
        let ctrl = self.ctrl;
        let mut did = false;
        // Consumers' side: an unpublished slot at `head` whose producer claimed it.
        // Ordering: Acquire pairs with the claim CAS (AcqRel) so the claim records are visible.
        let head = ctrl.head.load(Ordering::Acquire);
        let tail = ctrl.tail.load(Ordering::Acquire);
        let slot = slot_of(head, self.cap, self.mask);
        // Ordering: Acquire, as in `try_pop_with`.
        let h2 = head.wrapping_mul(2);
        if tail > head
            && self.seq(slot).load(Ordering::Acquire) == h2
            && ctrl.producers.dead_claimant(|c| any_claim || c == head)
        {
            // Ordering: Release pairs with the consumer's Acquire load of the sequence.
            did |= self
                .seq(slot)
                .compare_exchange(h2, h2.wrapping_add(1) | SKIP, Ordering::Release, Ordering::Relaxed)
                .is_ok();
        }
        // Producers' side: a taken-but-never-freed slot at `tail`.
        if let Some(prev) = tail.checked_sub(self.cap) {
            let slot = slot_of(tail, self.cap, self.mask);
            // Ordering: Acquire, as in `try_push_with`.
            let raw = self.seq(slot).load(Ordering::Acquire);
            if head > prev
                && raw & !SKIP == prev.wrapping_mul(2).wrapping_add(1)
                && ctrl.consumers.dead_claimant(|c| any_claim || c == prev)
            {
                // Ordering: Release pairs with the producer's Acquire load of the sequence.
                if self
                    .seq(slot)
                    .compare_exchange(raw, tail.wrapping_mul(2), Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    if raw & SKIP == 0 {
                        ctrl.control.add_lost();
                    }
                    did = true;
                }
            }
        }
        // Forget dead participants' claims that are settled, so their entries can be reused.
        // Ordering: Acquire, as above.
        ctrl.producers.clear_dead_claims(|p| {
            ctrl.tail.load(Ordering::Acquire) <= p
                || self.seq(slot_of(p, self.cap, self.mask)).load(Ordering::Acquire) != p.wrapping_mul(2)
        });
        ctrl.consumers.clear_dead_claims(|c| {
            ctrl.head.load(Ordering::Acquire) <= c
                || self.seq(slot_of(c, self.cap, self.mask)).load(Ordering::Acquire) & !SKIP
                    != c.wrapping_mul(2).wrapping_add(1)
        });
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
        control.push_wait::<W, ()>(
            Some(&self.ctrl.consumers),
            deadline,
            || self.try_push_with(who, &mut write),
            Self::prober(&self.ctrl.tail, |any| {
                self.recover_with(any);
            }),
        )?;
        // The commit was a SeqCst CAS (`try_push_with`).
        control.not_empty.notify_one_after_seqcst::<W>();
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
        let r = control.pop_wait::<W, R>(
            Some(&self.ctrl.producers),
            deadline,
            || self.try_pop_with(who, &mut read),
            Self::prober(&self.ctrl.head, |any| {
                self.recover_with(any);
            }),
        )?;
        // The commit was a SeqCst CAS (`try_pop_with`).
        control.not_full.notify_one_after_seqcst::<W>();
        Ok(r)
    }

    /// Closes the ring (see [`super::blocking::Control::close`]).
    pub fn close<W: Wait>(&self) {
        self.ctrl.control.close::<W>();
    }

    /// The probe hook of a blocked waiter: recovers exactly-matching claims at once, and any dead
    /// claim once `pos` has not moved for [`STUCK_PROBES`] probes.
    fn prober<'p>(pos: &'p AtomicU64, mut recover: impl FnMut(bool) + 'p) -> impl FnMut() + 'p {
        let mut last = None;
        let mut stuck = 0u32;
        move || {
            // Ordering: Relaxed; only compared with its previous value.
            let p = pos.load(Ordering::Relaxed);
            if last == Some(p) {
                stuck = stuck.saturating_add(1);
            } else {
                last = Some(p);
                stuck = 0;
            }
            recover(stuck >= STUCK_PROBES);
        }
    }
}

/// Probe intervals a position must stay wedged before a waiter accepts any dead claim as the cause
/// (see [`Mpmc::recover_with`]): about half a second.
pub const STUCK_PROBES: u32 = 10;

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
            let layout = MpmcLayout {
                capacity: cap,
                slot_size: 8,
                align: 8,
            };
            let mut buf = vec![0u8; layout.size().unwrap() + RING_ALIGN];
            let q = Mpmc::init::<Spin>(region(&mut buf), Kind::Mpmc, layout, 0, 0).unwrap();
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

    #[test]
    fn dead_producer_claim_is_skipped_and_dead_consumer_claim_is_freed() {
        let layout = MpmcLayout {
            capacity: 2,
            slot_size: 8,
            align: 8,
        };
        let mut buf = vec![0u8; layout.size().unwrap() + RING_ALIGN];
        let q = Mpmc::init::<Spin>(region(&mut buf), Kind::Mpmc, layout, 0, 0).unwrap();
        // A "dead" producer (pid 0x7fff_fff0 never exists) claims position 0 and never publishes.
        let dead = q.ctrl().producers.register(0x7fff_fff0, 1).unwrap();
        q.ctrl().producers.set_claim(dead, 0);
        // Ordering: Relaxed; single-threaded test playing a dead producer.
        q.ctrl().tail.store(1, Ordering::Relaxed);
        push(&q, 7).unwrap();
        assert_eq!(pop(&q), Err(PopError::Empty));
        assert!(q.recover());
        assert_eq!(pop(&q), Ok(7));
        // A dead consumer takes position 2 and never frees it.
        push(&q, 8).unwrap();
        push(&q, 9).unwrap();
        let dc = q.ctrl().consumers.register(0x7fff_fff0, 1).unwrap();
        q.ctrl().consumers.set_claim(dc, 2);
        // Ordering: Relaxed; single-threaded test playing a dead consumer.
        q.ctrl().head.store(3, Ordering::Relaxed);
        assert_eq!(pop(&q), Ok(9));
        assert_eq!(push(&q, 10), Err(PushError::Full));
        assert!(q.recover());
        push(&q, 10).unwrap();
        assert_eq!(q.ctrl().control.lost(), 1);
        push(&q, 11).unwrap();
        assert_eq!(pop(&q), Ok(10));
        assert_eq!(pop(&q), Ok(11));
    }

    #[test]
    fn garbage_sequences_are_errors_not_hangs() {
        let layout = MpmcLayout {
            capacity: 4,
            slot_size: 8,
            align: 8,
        };
        let mut buf = vec![0u8; layout.size().unwrap() + RING_ALIGN];
        let q = Mpmc::init::<Spin>(region(&mut buf), Kind::Mpmc, layout, 0, 0).unwrap();
        // Ordering: Relaxed; a test playing a hostile peer.
        q.seq(0).store(1000, Ordering::Relaxed);
        assert_eq!(pop(&q), Err(PopError::Corrupted));
        assert_eq!(push(&q, 1), Err(PushError::Corrupted));
    }
}
