//! The large-message lane of a serde [`super::Queue`]: how a message larger than a slot's inline
//! capacity goes through a queue whose buffer is smaller than the message.
//!
//! # Design
//! The lane lives in the queue's own region, right after the MPMC ring: a control block, one
//! *ticket entry* per ring slot, and a byte stream of `capacity` bytes. A large message is
//!
//! 1. **announced**: its producer takes the lane's robust *producer lock* (held until the message is
//!    streamed, so lane order is ticket order), takes the next ticket `t`, and pushes a descriptor
//!    `(LANE | total length, t)` through the ring like any message; inside the push it records in
//!    entry `t % entries` which ring slot (and lap) the descriptor occupies ([`Mpmc::claim_of`]);
//! 2. **streamed**: the producer writes the encoding in frames `[ticket u64][len u32][!len u32]
//!    [payload, padded to 8]` into the byte stream, waiting for room as a pipe writer does;
//! 3. **read**: the consumer that popped descriptor `t` does the whole read *inside* the ring's pop
//!    (the descriptor slot stays "reading" with its tag until the message is complete): it waits for
//!    its turn (`read_next == t`: tickets are read in order), takes the robust *consumer lock*,
//!    copies its frames out, sets `read_next = t + 1` and unlocks.
//!
//! # Crashes and aborts
//! - A producer killed mid-message (or whose `put` timed out mid-message) loses that message only:
//!   its reader finds no more frames while the entry still says "streaming" and the producer lock's
//!   owner is dead (a `try_lock` takes the lock over within one probe slice) or the entry says
//!   "aborted", or finds the next ticket's frame; it skips the message and its `get` goes on to the
//!   next one. The next producer taking the lock over marks the dead producer's ticket aborted.
//! - A consumer killed mid-read (or between popping the descriptor and its turn) takes that message
//!   with it, **counted** in `lost()`: its descriptor slot is still "reading" with its tag, so
//!   anyone blocked on the lane (a later reader waiting for its turn, a producer waiting for room)
//!   runs the *janitor* once per probe interval: under the consumer lock (a `try_lock`, which takes
//!   it over from a dead holder), for the ticket at `read_next` whose entry shows its descriptor
//!   read by a gone consumer, or consumed while `read_next` did not move (recovered, or never
//!   committed), or aborted, it recovers the ring (counting the loss), drops that ticket's frames and
//!   advances `read_next`. A producer still streaming that ticket sees `read_next > t` and stops.
//! - Nothing read from the lane is trusted: frame lengths are bounded by the bytes published and the
//!   frame limit, positions by the capacity, tickets only select frames; a scribbled lane corrupts
//!   or drops lane messages (typed errors), never makes a process access memory out of bounds.
//!
//! Everything is in the queue's segment: nothing outlives it, nothing survives `ringfork clean`.

use ringfork_core::atomic::AtomicU32;
use ringfork_core::queue::blocking::PROBE_INTERVAL;
use ringfork_core::queue::mpmc::{Claim, Fate, Mpmc};
use ringfork_core::queue::peers::SideState;
use ringfork_core::queue::PushError;
use ringfork_core::sync::{LockError, LockOutcome, RawMutex};
use ringfork_core::wait::DefaultWait;
use ringfork_core::{Deadline, Region, Wait};
use std::sync::atomic::{AtomicU64, Ordering};

type Clock = <DefaultWait as Wait>::Clock;

/// `"RFLANE"` + layout version 1.
const LANE_MAGIC: u64 = 0x5246_4c41_4e45_0001;
/// Bytes of a frame header.
const FRAME_HEADER: u64 = 16;
/// No slot recorded yet in an entry.
const NO_SLOT: u64 = u64::MAX;

/// Entry states.
const ST_STREAMING: u64 = 1;
const ST_DONE: u64 = 2;
const ST_ABORTED: u64 = 3;

/// Default byte-stream capacity of a lane (1 MiB; anonymous shared memory is only backed once
/// touched).
pub const DEFAULT_LANE_BYTES: usize = 1 << 20;
/// Largest lane capacity accepted (1 GiB).
const MAX_LANE_BYTES: u64 = 1 << 30;

/// The lane's control block (`#[repr(C)]`, all atomics; see docs/layout.md).
#[repr(C)]
pub(crate) struct LaneCtrl {
    magic: AtomicU64,
    /// Data bytes (a multiple of 8).
    capacity: AtomicU64,
    /// Ticket entries (= the ring's capacity).
    entries: AtomicU64,
    /// Next ticket to hand out (written under `prod`).
    next_ticket: AtomicU64,
    /// Next ticket to read (written under `cons`).
    read_next: AtomicU64,
    /// Bytes published by producers (free-running; written under `prod`).
    tail: AtomicU64,
    /// Bytes consumed (free-running; written under `cons`).
    head: AtomicU64,
    /// Futex word: bumped on every change of the above.
    seq: AtomicU32,
    /// Processes sleeping on `seq`.
    sleepers: AtomicU32,
    prod: RawMutex,
    cons: RawMutex,
}

/// One ticket's entry (`#[repr(C)]`, 32 bytes).
#[repr(C)]
struct Entry {
    ticket: AtomicU64,
    state: AtomicU64,
    /// The descriptor's ring slot, or [`NO_SLOT`].
    slot: AtomicU64,
    /// The descriptor slot's word at the claim.
    word: AtomicU64,
}

const CTRL_SIZE: usize = 128;
// The layout in docs/layout.md.
const _: () = {
    assert!(std::mem::size_of::<Entry>() == 32);
    assert!(std::mem::size_of::<LaneCtrl>() <= CTRL_SIZE);
    assert!(std::mem::offset_of!(LaneCtrl, next_ticket) == 24);
    assert!(std::mem::offset_of!(LaneCtrl, seq) == 56);
    assert!(std::mem::offset_of!(LaneCtrl, prod) == 64);
    assert!(std::mem::offset_of!(LaneCtrl, cons) == 80);
};

/// Bytes a lane with `entries` entries and `capacity` data bytes takes, or `None` on overflow.
pub(crate) fn lane_size(entries: usize, capacity: usize) -> Option<usize> {
    CTRL_SIZE
        .checked_add(entries.checked_mul(std::mem::size_of::<Entry>())?)?
        .checked_add(capacity)
}

/// The data capacity used for a requested one: a multiple of 8, at least 4 KiB.
pub(crate) fn lane_capacity(requested: usize) -> usize {
    requested.clamp(4096, MAX_LANE_BYTES as usize).div_ceil(8) * 8
}

/// A view of a lane (in a mapping kept alive by the queue handle that holds it).
#[derive(Clone, Copy)]
pub(crate) struct Lane {
    ctrl: &'static LaneCtrl,
    entries: &'static [Entry],
    data: *mut u8,
    cap: u64,
    ring: Mpmc<'static>,
}

// SAFETY: atomics, plus byte copies into and out of the data area between the head/tail handshakes
// made under the producer and consumer locks (see the module docs).
unsafe impl Send for Lane {}
// SAFETY: as for Send.
unsafe impl Sync for Lane {}

/// Why a lane read produced no message.
pub(crate) enum ReadFail {
    /// The message was aborted by its producer (killed, timed out) or dropped as garbage: skip it.
    Skipped,
    /// The caller's deadline passed while the message made no progress for a probe interval (a
    /// stopped producer, a stalled earlier reader, a scribbled lane): the message was dropped and
    /// counted lost.
    GaveUp,
}

/// A frame header read from the stream.
struct Frame {
    ticket: u64,
    len: u64,
}

impl Lane {
    /// Initializes a lane of `entries` ticket entries and `capacity` data bytes in `region` (fresh
    /// memory no other process uses yet; published by the ring header's READY, stored after this).
    /// `false` if it does not fit.
    pub(crate) fn init(region: Region<'static>, entries: usize, capacity: usize) -> bool {
        match lane_size(entries, capacity) {
            Some(n) if n <= region.len() && region.addr() % 64 == 0 && capacity % 8 == 0 && capacity > 0 => {}
            _ => return false,
        }
        // SAFETY: size and alignment checked; LaneCtrl is atomics only.
        let c = unsafe { &*(region.as_ptr() as *const LaneCtrl) };
        // SAFETY: the entries follow the control block, inside the region (checked); atomics only.
        let es = unsafe { std::slice::from_raw_parts(region.as_ptr().add(CTRL_SIZE) as *const Entry, entries) };
        // Ordering (Relaxed, all): published by the ring header's Release store of READY, which
        // the caller performs after this.
        c.capacity.store(capacity as u64, Ordering::Relaxed);
        c.entries.store(entries as u64, Ordering::Relaxed);
        c.next_ticket.store(0, Ordering::Relaxed);
        c.read_next.store(0, Ordering::Relaxed);
        c.tail.store(0, Ordering::Relaxed);
        c.head.store(0, Ordering::Relaxed);
        c.seq.store(0, Ordering::Relaxed);
        c.sleepers.store(0, Ordering::Relaxed);
        c.prod.init();
        c.cons.init();
        for e in es {
            e.ticket.store(u64::MAX, Ordering::Relaxed);
            e.state.store(ST_ABORTED, Ordering::Relaxed);
            e.slot.store(NO_SLOT, Ordering::Relaxed);
            e.word.store(0, Ordering::Relaxed);
        }
        c.magic.store(LANE_MAGIC, Ordering::Relaxed);
        true
    }

    /// Attaches to the lane in `region` (after the ring attached, so it is initialized), validating
    /// its magic, entry count and capacity against the region.
    pub(crate) fn attach(region: Region<'static>, ring: Mpmc<'static>) -> Result<Lane, &'static str> {
        if region.len() < CTRL_SIZE || region.addr() % 64 != 0 {
            return Err("the large-message lane does not fit its region");
        }
        // SAFETY: size and alignment checked; atomics only.
        let c = unsafe { &*(region.as_ptr() as *const LaneCtrl) };
        // Ordering: Acquire (redundant with the header's READY) for the fields below.
        if c.magic.load(Ordering::Acquire) != LANE_MAGIC {
            return Err("the large-message lane has a bad magic or layout version");
        }
        let entries = ring.capacity();
        // Ordering (Relaxed): initialized before READY, which the caller acquired.
        if c.entries.load(Ordering::Relaxed) != entries as u64 {
            return Err("the large-message lane's entry count does not match the ring");
        }
        let cap = c.capacity.load(Ordering::Relaxed);
        if cap == 0 || cap % 8 != 0 || cap > MAX_LANE_BYTES {
            return Err("the large-message lane's capacity is invalid");
        }
        match lane_size(entries, cap as usize) {
            Some(n) if n <= region.len() => {}
            _ => return Err("the large-message lane does not fit its region"),
        }
        // SAFETY: validated above.
        Ok(unsafe { Self::view(region, ring, entries, cap as usize) })
    }

    /// # Safety
    /// `region` holds `lane_size(entries, capacity)` bytes, 64-aligned, mapped for `'static` (the
    /// caller's handle keeps the mapping).
    unsafe fn view(region: Region<'static>, ring: Mpmc<'static>, entries: usize, capacity: usize) -> Lane {
        let base = region.as_ptr();
        // SAFETY: in bounds and aligned (caller); atomics only.
        let ctrl = unsafe { &*(base as *const LaneCtrl) };
        // SAFETY: `entries` entries follow the control block (caller); Entry is atomics only.
        let entries = unsafe { std::slice::from_raw_parts(base.add(CTRL_SIZE) as *const Entry, entries) };
        // SAFETY: the data area follows the entries, inside the region (caller).
        let data = unsafe { base.add(CTRL_SIZE + std::mem::size_of_val(entries)) };
        Lane {
            ctrl,
            entries,
            data,
            cap: capacity as u64,
            ring,
        }
    }

    fn entry(&self, ticket: u64) -> &Entry {
        &self.entries[(ticket % self.entries.len() as u64) as usize]
    }

    /// Largest frame payload: a quarter of the stream, so writer and reader overlap.
    fn frame_max(&self) -> u64 {
        (self.cap / 4).max(8) / 8 * 8
    }

    /// Tells waiters something changed.
    fn bump(&self) {
        // Ordering: SeqCst: Dekker pair with `wait_change` (sleepers up, then seq re-check).
        self.ctrl.seq.fetch_add(1, Ordering::SeqCst);
        // Ordering: SeqCst, as above.
        if self.ctrl.sleepers.load(Ordering::SeqCst) != 0 {
            DefaultWait::wake_all(&self.ctrl.seq);
        }
    }

    /// The change counter to pass to [`Self::wait_change`] (read before checking a condition).
    fn seen(&self) -> u32 {
        // Ordering: SeqCst, as in `bump`.
        self.ctrl.seq.load(Ordering::SeqCst)
    }

    /// Sleeps until something changed since `seen`, `until`, or one probe interval.
    fn wait_change(&self, seen: u32, until: Deadline) {
        let slice = Deadline::after::<Clock>(PROBE_INTERVAL);
        let d = match until {
            Deadline::At(_) if until.expired::<Clock>() => return,
            Deadline::Immediate => return,
            Deadline::Never => slice,
            d => earlier(d, slice),
        };
        // Ordering: SeqCst, as in `bump`.
        self.ctrl.sleepers.fetch_add(1, Ordering::SeqCst);
        // Ordering: SeqCst, as in `bump`.
        if self.ctrl.seq.load(Ordering::SeqCst) == seen {
            let _ = DefaultWait::wait(&self.ctrl.seq, seen, d);
        }
        // Ordering: SeqCst, as in `bump`.
        self.ctrl.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Copies `len` bytes from `src` to stream position `pos` (wrapping).
    ///
    /// # Safety
    /// `src` readable for `len` bytes; `len <= cap`; the range is owned by the caller (free space,
    /// under the producer lock).
    unsafe fn write_at(&self, pos: u64, src: *const u8, len: u64) {
        let off = pos % self.cap;
        let first = len.min(self.cap - off);
        // SAFETY: off + first <= cap and len - first <= cap: inside the data area; private source.
        unsafe {
            std::ptr::copy_nonoverlapping(src, self.data.add(off as usize), first as usize);
            std::ptr::copy_nonoverlapping(src.add(first as usize), self.data, (len - first) as usize);
        }
    }

    /// Copies `len` bytes from stream position `pos` (wrapping) to `dst`.
    ///
    /// # Safety
    /// `dst` writable for `len` bytes; `len <= cap`.
    unsafe fn read_at(&self, pos: u64, dst: *mut u8, len: u64) {
        let off = pos % self.cap;
        let first = len.min(self.cap - off);
        // SAFETY: inside the data area (bounds as in `write_at`); `dst` is private memory.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data.add(off as usize), dst, first as usize);
            std::ptr::copy_nonoverlapping(self.data, dst.add(first as usize), (len - first) as usize);
        }
    }

    /// The frame at the front of the stream, if one is published. `Err` if the published bytes are
    /// inconsistent (then the caller drops everything pending).
    fn front(&self) -> Result<Option<(Frame, u64)>, ()> {
        // Ordering: Acquire pairs with the producer's Release store of `tail`: the frame bytes
        // before it are visible. `head` is ours (we hold the consumer lock).
        let tail = self.ctrl.tail.load(Ordering::Acquire);
        // Ordering: Relaxed: written under the consumer lock we hold.
        let head = self.ctrl.head.load(Ordering::Relaxed);
        let avail = tail.wrapping_sub(head);
        if avail == 0 {
            return Ok(None);
        }
        if avail > self.cap || avail < FRAME_HEADER || head % 8 != 0 {
            return Err(());
        }
        let mut h = [0u8; 16];
        // SAFETY: 16 bytes into a local array; 16 <= cap.
        unsafe { self.read_at(head, h.as_mut_ptr(), FRAME_HEADER) };
        let ticket = u64::from_ne_bytes(h[0..8].try_into().unwrap_or_default());
        let len = u32::from_ne_bytes(h[8..12].try_into().unwrap_or_default());
        let check = u32::from_ne_bytes(h[12..16].try_into().unwrap_or_default());
        let len = u64::from(len);
        if check != !(len as u32) || len > self.frame_max() || FRAME_HEADER + len.div_ceil(8) * 8 > avail {
            return Err(());
        }
        Ok(Some((Frame { ticket, len }, head)))
    }

    /// Consumes the frame at `head` (payload `len`).
    fn pop_frame(&self, head: u64, len: u64) {
        // Ordering: Release orders our reads of the frame before a producer reuses the bytes.
        self.ctrl
            .head
            .store(head.wrapping_add(FRAME_HEADER + len.div_ceil(8) * 8), Ordering::Release);
        self.bump();
    }

    /// Drops everything published (the stream is inconsistent).
    fn drop_all(&self) {
        // Ordering: Acquire, as in `front`; Release as in `pop_frame`.
        let tail = self.ctrl.tail.load(Ordering::Acquire);
        self.ctrl.head.store(tail, Ordering::Release);
        self.bump();
    }

    /// Drops frames of tickets below `keep` at the front. Under the consumer lock.
    fn drop_stale(&self, keep: u64) {
        loop {
            match self.front() {
                Ok(Some((f, head))) if f.ticket < keep => self.pop_frame(head, f.len),
                Ok(_) => return,
                Err(()) => return self.drop_all(),
            }
        }
    }

    /// Takes a lock, repairing nothing (the lane's state is consistent at every step); `None` if it
    /// is held by a live owner until `until`, or unusable.
    fn lock(m: &RawMutex, until: Deadline) -> Option<bool> {
        match m.lock::<DefaultWait>(until) {
            Ok(LockOutcome::Acquired) => Some(false),
            Ok(LockOutcome::OwnerDied) => {
                let _ = m.mark_consistent();
                Some(true)
            }
            Err(LockError::Deadlock) => None,
            Err(_) => None,
        }
    }

    fn unlock(m: &RawMutex) {
        let _ = m.unlock::<DefaultWait>();
    }

    /// The janitor (see the module docs): skips tickets at `read_next` whose reader is gone or whose
    /// message was aborted, and stale frames. Does nothing if the consumer lock is busy.
    fn janitor(&self) {
        if Self::lock(&self.ctrl.cons, Deadline::Immediate).is_none() {
            return;
        }
        self.janitor_locked();
        Self::unlock(&self.ctrl.cons);
    }

    fn janitor_locked(&self) {
        // At most `entries` tickets can be pending (a scribbled `next_ticket` cannot make this long).
        for _ in 0..self.entries.len() {
            // Ordering: Relaxed: ours (consumer lock). Acquire on next_ticket pairs with the
            // producer's Release store after it filled the entry.
            let r = self.ctrl.read_next.load(Ordering::Relaxed);
            let next = self.ctrl.next_ticket.load(Ordering::Acquire);
            if r >= next {
                break;
            }
            let e = self.entry(r);
            // Ordering: Acquire pairs with the producer's Release stores into the entry.
            let state = e.state.load(Ordering::Acquire);
            let slot = e.slot.load(Ordering::Acquire);
            let word = e.word.load(Ordering::Acquire);
            let skip = if e.ticket.load(Ordering::Acquire) != r || state == ST_ABORTED {
                true
            } else if slot == NO_SLOT {
                false // the producer is about to push its descriptor (or died: the next one aborts it)
            } else {
                match self.ring.fate(Claim { slot, word }) {
                    Fate::Reading { gone: true } => {
                        self.ring.recover();
                        true
                    }
                    Fate::Writing { gone: true } | Fate::Consumed => true,
                    Fate::Writing { gone: false } | Fate::Queued | Fate::Reading { gone: false } => false,
                }
            };
            if !skip {
                break;
            }
            // Ordering: Release: paired with readers' Acquire loads of read_next.
            self.ctrl.read_next.store(r + 1, Ordering::Release);
            self.bump();
        }
        // Ordering: Relaxed: ours.
        self.drop_stale(self.ctrl.read_next.load(Ordering::Relaxed));
    }

    /// Streams one large message (`bytes`) through the lane: takes the producer lock and a ticket,
    /// pushes the descriptor with `push` (which must call `record` with the slot payload pointer
    /// and write the descriptor for `(len, ticket)`), then writes the frames.
    pub(crate) fn put(
        &self,
        bytes: &[u8],
        until: Deadline,
        push: impl FnOnce(u64, &dyn Fn(*const u8)) -> Result<(), PushError>,
    ) -> Result<(), PushError> {
        let c = self.ctrl;
        // The producer lock (a dead holder's ticket is marked aborted).
        let mut recovered = match c.prod.lock::<DefaultWait>(until) {
            Ok(LockOutcome::Acquired) => false,
            Ok(LockOutcome::OwnerDied) => {
                let _ = c.prod.mark_consistent();
                true
            }
            Err(LockError::TimedOut) => return Err(PushError::TimedOut),
            Err(_) => return Err(PushError::Corrupted),
        };
        let r = self.put_locked(bytes, until, push, &mut recovered);
        Self::unlock(&c.prod);
        r
    }

    fn put_locked(
        &self,
        bytes: &[u8],
        until: Deadline,
        push: impl FnOnce(u64, &dyn Fn(*const u8)) -> Result<(), PushError>,
        recovered: &mut bool,
    ) -> Result<(), PushError> {
        let c = self.ctrl;
        // Ordering: Relaxed: written under the producer lock we hold.
        let t = c.next_ticket.load(Ordering::Relaxed);
        if *recovered && t > 0 {
            let e = self.entry(t - 1);
            // Ordering: Release, as every entry store (readers Acquire).
            let _ = e
                .state
                .compare_exchange(ST_STREAMING, ST_ABORTED, Ordering::Release, Ordering::Relaxed);
            self.bump();
        }
        // Room for a ticket entry: at most `entries` tickets unread.
        let mut pace = Pace::new();
        loop {
            let seen = self.seen();
            // Ordering: Acquire pairs with the readers' Release store of read_next.
            if t.wrapping_sub(c.read_next.load(Ordering::Acquire)) < self.entries.len() as u64 {
                break;
            }
            if pace.due() {
                self.janitor();
            }
            if self.ring.ctrl().control.is_closed() {
                return Err(PushError::Closed);
            }
            if until == Deadline::Immediate || until.expired::<Clock>() {
                return Err(if until == Deadline::Immediate {
                    PushError::Full
                } else {
                    PushError::TimedOut
                });
            }
            self.wait_change(seen, until);
        }
        let e = self.entry(t);
        // Ordering: Release, as every entry store; the ticket store comes last (readers check it).
        e.slot.store(NO_SLOT, Ordering::Release);
        e.state.store(ST_STREAMING, Ordering::Release);
        e.ticket.store(t, Ordering::Release);
        // Ordering: Release publishes the entry to the janitor's Acquire load.
        c.next_ticket.store(t + 1, Ordering::Release);
        let record = |p: *const u8| {
            if let Some(claim) = self.ring.claim_of(p) {
                // Ordering: Release; word before slot (the janitor loads slot, then word).
                e.word.store(claim.word, Ordering::Release);
                e.slot.store(claim.slot, Ordering::Release);
            }
        };
        if let Err(err) = push(t, &record) {
            // Ordering: Release, as above.
            e.state.store(ST_ABORTED, Ordering::Release);
            self.bump();
            return Err(err);
        }
        let fmax = self.frame_max();
        let mut off = 0usize;
        let mut pace = Pace::new();
        while off < bytes.len() {
            let seen = self.seen();
            // Ordering: Acquire pairs with the Release stores of read_next / head.
            if c.read_next.load(Ordering::Acquire) > t {
                // Our reader is gone (the janitor skipped the ticket, counting the loss): stop.
                return Ok(());
            }
            let head = c.head.load(Ordering::Acquire);
            // Ordering: Relaxed: ours.
            let tail = c.tail.load(Ordering::Relaxed);
            let free = self.cap.saturating_sub(tail.wrapping_sub(head));
            let want = ((bytes.len() - off) as u64).min(fmax);
            if free >= FRAME_HEADER + 8 {
                let len = want.min((free - FRAME_HEADER) / 8 * 8).min(want);
                let mut h = [0u8; 16];
                h[0..8].copy_from_slice(&t.to_ne_bytes());
                h[8..12].copy_from_slice(&(len as u32).to_ne_bytes());
                h[12..16].copy_from_slice(&(!(len as u32)).to_ne_bytes());
                // SAFETY: the range [tail, tail + 16 + pad(len)) is free space (free >= that); we
                // hold the producer lock; sources are private.
                unsafe {
                    self.write_at(tail, h.as_ptr(), FRAME_HEADER);
                    self.write_at(tail + FRAME_HEADER, bytes.as_ptr().add(off), len);
                }
                off += len as usize;
                pace.reset();
                // Ordering: Release publishes the frame to the reader's Acquire load of tail.
                c.tail
                    .store(tail + FRAME_HEADER + len.div_ceil(8) * 8, Ordering::Release);
                self.bump();
                continue;
            }
            // Full: the reader of the front ticket drains it; now and then make sure it is alive.
            let probe = pace.due();
            if probe {
                self.janitor();
            }
            if probe && self.ring.ctrl().consumers.side_state() == SideState::AllDead {
                // Ordering: Release, as every entry store (readers Acquire).
                e.state.store(ST_ABORTED, Ordering::Release);
                self.bump();
                return Err(PushError::Closed);
            }
            if until == Deadline::Immediate || until.expired::<Clock>() {
                // Ordering: Release, as above.
                e.state.store(ST_ABORTED, Ordering::Release);
                self.bump();
                return Err(if until == Deadline::Immediate {
                    PushError::Full
                } else {
                    PushError::TimedOut
                });
            }
            self.wait_change(seen, until);
        }
        // Ordering: Release, as above.
        e.state.store(ST_DONE, Ordering::Release);
        self.bump();
        Ok(())
    }

    /// Reads large message `ticket` of `total` bytes (from a descriptor this process holds
    /// "reading"): waits for its turn, then copies its frames out under the consumer lock.
    pub(crate) fn read(&self, ticket: u64, total: u64, until: Deadline) -> Result<Vec<u8>, ReadFail> {
        let c = self.ctrl;
        // Turn: every earlier ticket read or skipped.
        let mut pace = Pace::new();
        let mut last = u64::MAX;
        loop {
            let seen = self.seen();
            // Ordering: Acquire pairs with the Release store of read_next.
            let r = c.read_next.load(Ordering::Acquire);
            if r > ticket {
                return Err(ReadFail::Skipped);
            }
            // Ordering: Acquire, as above. A ticket not handed out yet, or more unread tickets
            // than entries: the lane was scribbled over.
            if c.next_ticket.load(Ordering::Acquire) <= ticket || ticket - r >= self.entries.len() as u64 {
                return Err(ReadFail::Skipped);
            }
            if r != last {
                last = r;
                pace.reset();
            }
            if r == ticket {
                let slice = Deadline::after::<Clock>(PROBE_INTERVAL);
                if Self::lock(&c.cons, slice).is_some() {
                    // Ordering: Relaxed: under the lock now.
                    if c.read_next.load(Ordering::Relaxed) == ticket {
                        break;
                    }
                    Self::unlock(&c.cons);
                    continue;
                }
                // The lock stayed busy for a whole slice: fall through to the deadline check.
            }
            if pace.due() {
                self.janitor();
                if until.expired::<Clock>() {
                    self.ring.ctrl().control.add_lost();
                    return Err(ReadFail::GaveUp);
                }
            }
            self.wait_change(seen, Deadline::Never);
        }
        let r = self.read_locked(ticket, total, until);
        // Ordering: Release: paired with the Acquire loads of read_next (our frames are consumed).
        c.read_next.store(ticket + 1, Ordering::Release);
        self.bump();
        Self::unlock(&c.cons);
        r
    }

    fn read_locked(&self, ticket: u64, total: u64, until: Deadline) -> Result<Vec<u8>, ReadFail> {
        let e = self.entry(ticket);
        if total == 0 {
            return Err(ReadFail::Skipped); // a large message is never empty: garbage
        }
        let mut buf = Vec::<u8>::new();
        let mut pace = Pace::new();
        // A claimed total is not trusted with an allocation: reserve as the bytes arrive.
        let _ = buf.try_reserve_exact(total.min(64 << 20) as usize);
        loop {
            let seen = self.seen();
            match self.front() {
                Err(()) => {
                    self.drop_all();
                    return Err(ReadFail::Skipped);
                }
                Ok(Some((f, head))) => {
                    if f.ticket < ticket {
                        self.pop_frame(head, f.len);
                        continue;
                    }
                    if f.ticket > ticket {
                        return Err(ReadFail::Skipped); // ours was aborted; leave theirs
                    }
                    if f.len > total - buf.len() as u64 || buf.try_reserve(f.len as usize).is_err() {
                        self.pop_frame(head, f.len);
                        return Err(ReadFail::Skipped);
                    }
                    let at = buf.len();
                    // SAFETY: reserved above; `read_at` initializes the `len` bytes before set_len;
                    // the frame lies within the published bytes (`front` checked).
                    unsafe {
                        self.read_at(head + FRAME_HEADER, buf.as_mut_ptr().add(at), f.len);
                        buf.set_len(at + f.len as usize);
                    }
                    self.pop_frame(head, f.len);
                    pace.reset();
                    if buf.len() as u64 == total {
                        return Ok(buf);
                    }
                }
                Ok(None) => {
                    // Ordering: Acquire pairs with the producer's Release store of the state.
                    let ticket_ok = e.ticket.load(Ordering::Acquire) == ticket;
                    match e.state.load(Ordering::Acquire) {
                        ST_STREAMING if ticket_ok && !pace.due() => self.wait_change(seen, Deadline::Never),
                        ST_STREAMING if ticket_ok => {
                            // Is its producer alive? It holds the producer lock while streaming.
                            match self.ctrl.prod.try_lock() {
                                Err(_) if until.expired::<Clock>() => {
                                    // A live producer that made no progress for a whole interval,
                                    // past the caller's deadline.
                                    self.ring.ctrl().control.add_lost();
                                    return Err(ReadFail::GaveUp);
                                }
                                Err(_) => self.wait_change(seen, Deadline::Never),
                                Ok(outcome) => {
                                    if outcome.owner_died() {
                                        let _ = self.ctrl.prod.mark_consistent();
                                        // Ordering: Release, as the producers' entry stores.
                                        let _ = e.state.compare_exchange(
                                            ST_STREAMING,
                                            ST_ABORTED,
                                            Ordering::Release,
                                            Ordering::Relaxed,
                                        );
                                    }
                                    Self::unlock(&self.ctrl.prod);
                                    // Frames published just before the unlock are read first.
                                    if matches!(self.front(), Ok(Some(_))) {
                                        continue;
                                    }
                                    // Nobody streams it any more: incomplete.
                                    return Err(ReadFail::Skipped);
                                }
                            }
                        }
                        _ => {
                            // Done or aborted, and nothing more for us: incomplete. A frame may have
                            // been published right before the state store: look once more.
                            if matches!(self.front(), Ok(Some(_))) {
                                continue;
                            }
                            return Err(ReadFail::Skipped);
                        }
                    }
                }
            }
        }
    }
}

/// Paces the expensive liveness checks of a blocked caller (a janitor pass, a peer-table or lock
/// probe that may read `/proc`) to one per [`PROBE_INTERVAL`] of being blocked: the first comes
/// after one interval without progress.
struct Pace(Option<std::time::Instant>);

impl Pace {
    fn new() -> Pace {
        Pace(None)
    }

    /// Whether to probe now (called each time the caller finds itself blocked).
    fn due(&mut self) -> bool {
        let now = std::time::Instant::now();
        match self.0 {
            None => {
                self.0 = Some(now + PROBE_INTERVAL);
                false
            }
            Some(t) if now >= t => {
                self.0 = Some(now + PROBE_INTERVAL);
                true
            }
            Some(_) => false,
        }
    }

    /// Progress was made: the next block starts a new interval.
    fn reset(&mut self) {
        self.0 = None;
    }
}

/// The earlier of two deadlines.
fn earlier(a: Deadline, b: Deadline) -> Deadline {
    match (a, b) {
        (Deadline::Immediate, _) | (_, Deadline::Immediate) => Deadline::Immediate,
        (Deadline::Never, d) | (d, Deadline::Never) => d,
        (Deadline::At(x), Deadline::At(y)) => Deadline::At(x.min(y)),
    }
}
