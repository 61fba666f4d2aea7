//! [`Spsc`]: a single-producer single-consumer ring of `T: ShmSafe` in shared memory.
//!
//! Positions `head` (next to read, written by the consumer) and `tail` (next to write, written by the
//! producer) are free-running `u64`s on separate cache lines; slot = position modulo the capacity,
//! which may be any value >= 1 (each handle carries its slot index along instead of dividing). Each
//! handle caches the other side's position in its own process-local memory, so the fast path touches
//! only the shared line it owns: "possibly full -> refresh the cached head -> really full" (the rtrb and
//! crossbeam technique).
//!
//! # Crash semantics
//! A push commits with one Release store of `tail`, a pop with one Release store of `head`. A producer
//! killed before its store leaves no trace of the message; a consumer killed before its store leaves
//! the message in the ring, where the next consumer handle (in any process) receives it again:
//! **redelivered**, never lost.
//!
//! # One producer, one consumer
//! At most one [`Producer`] and one [`Consumer`] may be used at a time (across all processes). The
//! ring cannot enforce this; two producers corrupt messages (never memory outside the ring).
//!
//! # Layout
//! Header and [`super::RingCtrl`] (see there), then `capacity` elements of `T` at
//! [`super::DATA_OFFSET`] (aligned to `max(CACHE_LINE, align_of::<T>())`). Header fields: `capacity`
//! = slots, `elem_size`/`elem_align` = `T`'s.

use super::{check_ring, PopError, PushError, RingCtrl, DATA_OFFSET, RING_ALIGN};
use crate::atomic::Ordering;
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams};
use crate::region::Region;
use crate::time::Deadline;
use crate::wait::Wait;
use crate::ShmSafe;
use core::marker::PhantomData;

/// A view of an SPSC ring. Copying it is free; split it with [`Spsc::producer`] /
/// [`Spsc::consumer`].
pub struct Spsc<'a, T: ShmSafe> {
    ctrl: &'a RingCtrl,
    data: *mut T,
    cap: u64,
    _t: PhantomData<&'a T>,
}

impl<T: ShmSafe> Clone for Spsc<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ShmSafe> Copy for Spsc<'_, T> {}

// SAFETY: the control block is atomics; elements are ShmSafe (any bit pattern valid) and are accessed
// with volatile copies only between the Acquire/Release position handshakes.
unsafe impl<T: ShmSafe> Send for Spsc<'_, T> {}
// SAFETY: as for Send.
unsafe impl<T: ShmSafe> Sync for Spsc<'_, T> {}

impl<T: ShmSafe> core::fmt::Debug for Spsc<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Spsc")
            .field("capacity", &self.cap)
            .field("len", &self.len())
            .finish()
    }
}

impl<'a, T: ShmSafe> Spsc<'a, T> {
    /// Bytes a ring of `capacity` elements needs, or `None` if that overflows.
    pub fn size(capacity: usize) -> Option<usize> {
        let data = crate::region::align_up(DATA_OFFSET, Self::align())?;
        data.checked_add(capacity.checked_mul(core::mem::size_of::<T>())?)
    }

    /// Alignment the region needs.
    pub fn align() -> usize {
        RING_ALIGN.max(core::mem::align_of::<T>())
    }

    fn data_offset() -> usize {
        crate::region::align_up(DATA_OFFSET, Self::align()).unwrap_or(usize::MAX)
    }

    /// Creates a ring of `capacity` (>= 1) elements at the start of `region` and publishes it.
    pub fn init<W: Wait>(region: Region<'a>, capacity: usize) -> Result<Self, InitError> {
        if capacity == 0 {
            return Err(InitError::InvalidParameter {
                name: "capacity",
                reason: "must be at least 1",
            });
        }
        let size = Self::size(capacity).ok_or(InitError::InvalidParameter {
            name: "capacity",
            reason: "capacity times element size overflows the address space",
        })?;
        let mut params = ObjectParams::new(Kind::Spsc, size as u64).with_elem::<T>();
        params.capacity = capacity as u64;
        let claim = Header::claim(region, &params, Self::align())?;
        // SAFETY: claim checked size (>= DATA_OFFSET) and alignment.
        let ctrl = unsafe { RingCtrl::at(region) };
        ctrl.init();
        claim.publish::<W>();
        Ok(Self::view(region, ctrl, capacity as u64))
    }

    /// Attaches to the ring at the start of `region`, validating the element type and capacity.
    pub fn attach<W: Wait>(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let header = Header::attach::<W>(region, Kind::Spsc, deadline)?;
        Header::expect("elem_size", core::mem::size_of::<T>() as u64, header.elem_size().into())?;
        Header::expect(
            "elem_align",
            core::mem::align_of::<T>() as u64,
            header.elem_align().into(),
        )?;
        let cap = header.capacity();
        if cap == 0 {
            return Err(AttachError::Corrupted { what: "capacity is 0" });
        }
        check_ring(region, header, usize::try_from(cap).ok().and_then(Self::size))?;
        // SAFETY: check_ring validated size >= DATA_OFFSET and alignment.
        let ctrl = unsafe { RingCtrl::at(region) };
        Ok(Self::view(region, ctrl, cap))
    }

    fn view(region: Region<'a>, ctrl: &'a RingCtrl, cap: u64) -> Self {
        Spsc {
            ctrl,
            data: region.as_ptr().wrapping_add(Self::data_offset()) as *mut T,
            cap,
            _t: PhantomData,
        }
    }

    /// A view over memory a loom model built.
    ///
    /// # Safety
    /// `data` points to `cap` elements valid for `'a`.
    #[cfg(loom)]
    pub unsafe fn from_parts(ctrl: &'a RingCtrl, data: *mut T, cap: u64) -> Self {
        Spsc {
            ctrl,
            data,
            cap,
            _t: PhantomData,
        }
    }

    /// The shared control block (positions, blocking words, peer tables).
    pub fn ctrl(&self) -> &'a RingCtrl {
        self.ctrl
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.cap as usize
    }

    /// Messages in the ring at some instant during the call (clamped to the capacity).
    pub fn len(&self) -> usize {
        // Ordering: Acquire on both; the answer is a snapshot, stale as soon as it is returned.
        let head = self.ctrl.head.load(Ordering::Acquire);
        let tail = self.ctrl.tail.load(Ordering::Acquire);
        tail.wrapping_sub(head).min(self.cap) as usize
    }

    /// Whether the ring was empty at some instant during the call.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The producer half. Use one at a time (see the module docs).
    pub fn producer(&self) -> Producer<'a, T> {
        // Ordering: Acquire pairs with the previous producer's and consumer's Release stores.
        let tail = self.ctrl.tail.load(Ordering::Acquire);
        let head = self.ctrl.head.load(Ordering::Acquire);
        Producer {
            ring: *self,
            tail,
            slot: (tail % self.cap) as usize,
            cached_head: head,
        }
    }

    /// The consumer half. Use one at a time (see the module docs).
    pub fn consumer(&self) -> Consumer<'a, T> {
        // Ordering: Acquire pairs with the Release stores of both sides.
        let head = self.ctrl.head.load(Ordering::Acquire);
        let tail = self.ctrl.tail.load(Ordering::Acquire);
        Consumer {
            ring: *self,
            head,
            slot: (head % self.cap) as usize,
            cached_tail: tail,
        }
    }
}

/// The writing half of an [`Spsc`] ring, with its process-local cache of the consumer's position.
pub struct Producer<'a, T: ShmSafe> {
    ring: Spsc<'a, T>,
    tail: u64,
    slot: usize,
    cached_head: u64,
}

impl<T: ShmSafe> core::fmt::Debug for Producer<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer").field("tail", &self.tail).finish()
    }
}

impl<'a, T: ShmSafe> Producer<'a, T> {
    /// Free slots, refreshing the cached head only when the cache says "full" for `want` items.
    #[inline(always)]
    fn free(&mut self, want: u64) -> Result<u64, PushError> {
        let cap = self.ring.cap;
        let used = self.tail.wrapping_sub(self.cached_head);
        if used <= cap && cap - used >= want {
            return Ok(cap - used);
        }
        // Possibly full: refresh.
        // Ordering: Acquire pairs with the consumer's Release store of `head`: its reads of the slots
        // it frees happen before our writes to them.
        self.cached_head = self.ring.ctrl.head.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(self.cached_head);
        if used > cap {
            // Really inconsistent: the shared head is ahead of our tail or too far behind.
            return Err(PushError::Corrupted);
        }
        Ok(cap - used)
    }

    /// Pushes `v` if there is room (never blocks, never wakes anyone: the busy-poll primitive).
    #[inline]
    pub fn try_push(&mut self, v: T) -> Result<(), PushError> {
        if self.free(1)? == 0 {
            return Err(PushError::Full);
        }
        debug_assert!(self.slot < self.ring.cap as usize);
        // SAFETY: slot < cap (maintained locally, never read from shared memory); the slot is free
        // (head refreshed with Acquire above), so the consumer is not reading it.
        unsafe { self.ring.data.add(self.slot).write_volatile(v) };
        self.advance(1);
        Ok(())
    }

    #[inline(always)]
    fn advance(&mut self, n: usize) {
        self.tail = self.tail.wrapping_add(n as u64);
        self.slot += n;
        if self.slot >= self.ring.cap as usize {
            self.slot -= self.ring.cap as usize;
        }
        // Ordering: Release publishes the element writes to the consumer's Acquire load of `tail`.
        // This store is the commit point.
        self.ring.ctrl.tail.store(self.tail, Ordering::Release);
    }

    /// Pushes as many items of `items` as fit (possibly none); returns how many.
    pub fn push_slice(&mut self, items: &[T]) -> Result<usize, PushError> {
        let free = self.free(items.len() as u64)?;
        let n = (items.len() as u64).min(free) as usize;
        if n == 0 {
            return Ok(0);
        }
        let cap = self.ring.cap as usize;
        let first = n.min(cap - self.slot);
        // SAFETY: slot + first <= cap and the n slots are free (see `try_push`); `items` is a
        // separate, process-local buffer.
        unsafe {
            core::ptr::copy_nonoverlapping(items.as_ptr(), self.ring.data.add(self.slot), first);
            core::ptr::copy_nonoverlapping(items.as_ptr().add(first), self.ring.data, n - first);
        }
        self.advance(n);
        Ok(n)
    }

    /// Pushes `v`, waiting (through `W`) for room until `deadline`, and wakes a sleeping consumer.
    /// Fails with [`PushError::Closed`] if the ring is closed or every registered consumer died.
    pub fn push<W: Wait>(&mut self, v: T, deadline: Deadline) -> Result<(), PushError> {
        let ctrl = self.ring.ctrl;
        if ctrl.control.is_closed() {
            return Err(PushError::Closed);
        }
        ctrl.control
            .push_wait::<W, ()>(Some(&ctrl.consumers), deadline, || self.try_push(v), || {})?;
        ctrl.control.not_empty.notify_one::<W>();
        Ok(())
    }

    /// Wakes a sleeping consumer after `try_push`/`push_slice` calls (which do not).
    pub fn notify<W: Wait>(&self) {
        self.ring.ctrl.control.not_empty.notify_one::<W>();
    }
}

/// The reading half of an [`Spsc`] ring, with its process-local cache of the producer's position.
pub struct Consumer<'a, T: ShmSafe> {
    ring: Spsc<'a, T>,
    head: u64,
    slot: usize,
    cached_tail: u64,
}

impl<T: ShmSafe> core::fmt::Debug for Consumer<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer").field("head", &self.head).finish()
    }
}

impl<'a, T: ShmSafe> Consumer<'a, T> {
    #[inline(always)]
    fn available(&mut self) -> Result<u64, PopError> {
        let avail = self.cached_tail.wrapping_sub(self.head);
        if avail != 0 && avail <= self.ring.cap {
            return Ok(avail);
        }
        // Possibly empty: refresh.
        // Ordering: Acquire pairs with the producer's Release store of `tail`: the element writes
        // happen before our reads.
        self.cached_tail = self.ring.ctrl.tail.load(Ordering::Acquire);
        let avail = self.cached_tail.wrapping_sub(self.head);
        if avail > self.ring.cap {
            return Err(PopError::Corrupted);
        }
        Ok(avail)
    }

    /// Takes the oldest element if there is one (never blocks, never wakes anyone).
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, PopError> {
        if self.available()? == 0 {
            return Err(PopError::Empty);
        }
        debug_assert!(self.slot < self.ring.cap as usize);
        // SAFETY: slot < cap (local); the element was published (tail Acquire above) and the
        // producer does not touch it until we release it; T is ShmSafe, so any bytes are a valid T.
        let v = unsafe { self.ring.data.add(self.slot).read_volatile() };
        self.advance(1);
        Ok(v)
    }

    #[inline(always)]
    fn advance(&mut self, n: usize) {
        self.head = self.head.wrapping_add(n as u64);
        self.slot += n;
        if self.slot >= self.ring.cap as usize {
            self.slot -= self.ring.cap as usize;
        }
        // Ordering: Release orders our element reads before the producer's reuse of the slots
        // (its Acquire load of `head`). This store is the commit point.
        self.ring.ctrl.head.store(self.head, Ordering::Release);
    }

    /// Takes up to `out.len()` elements; returns how many (possibly none).
    pub fn pop_slice(&mut self, out: &mut [T]) -> Result<usize, PopError> {
        if out.is_empty() {
            return Ok(0);
        }
        let n = (out.len() as u64).min(self.available()?) as usize;
        if n == 0 {
            return Ok(0);
        }
        let cap = self.ring.cap as usize;
        let first = n.min(cap - self.slot);
        // SAFETY: slot + first <= cap and n elements are published (see `try_pop`); `out` is a
        // separate, process-local buffer of at least n elements.
        unsafe {
            core::ptr::copy_nonoverlapping(self.ring.data.add(self.slot), out.as_mut_ptr(), first);
            core::ptr::copy_nonoverlapping(self.ring.data, out.as_mut_ptr().add(first), n - first);
        }
        self.advance(n);
        Ok(n)
    }

    /// Takes the oldest element, waiting (through `W`) until `deadline`; wakes a sleeping producer.
    /// After [`Spsc::close`] it drains what is left, then fails with [`PopError::Closed`].
    pub fn pop<W: Wait>(&mut self, deadline: Deadline) -> Result<T, PopError> {
        let ctrl = self.ring.ctrl;
        let v = ctrl
            .control
            .pop_wait::<W, T>(Some(&ctrl.producers), deadline, || self.try_pop(), || {})?;
        ctrl.control.not_full.notify_one::<W>();
        Ok(v)
    }

    /// Wakes a sleeping producer after `try_pop`/`pop_slice` calls (which do not).
    pub fn notify<W: Wait>(&self) {
        self.ring.ctrl.control.not_full.notify_one::<W>();
    }
}

impl<T: ShmSafe> Spsc<'_, T> {
    /// Closes the ring: pushes fail with `Closed`; pops drain, then fail with `Closed`. Wakes all.
    pub fn close<W: Wait>(&self) {
        self.ctrl.control.close::<W>();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wait::Spin;
    use std::vec;

    fn region(buf: &mut [u8]) -> Region<'_> {
        let off = buf.as_ptr().align_offset(RING_ALIGN);
        let len = buf.len() - off;
        Region::from_mut(&mut buf[off..off + len])
    }

    #[test]
    fn capacity_one_and_odd_capacities() {
        for cap in [1usize, 2, 3, 7, 16] {
            let mut buf = vec![0u8; Spsc::<u64>::size(cap).unwrap() + RING_ALIGN];
            let r = region(&mut buf);
            let q = Spsc::<u64>::init::<Spin>(r, cap).unwrap();
            let (mut p, mut c) = (q.producer(), q.consumer());
            for round in 0..5u64 {
                for i in 0..cap as u64 {
                    p.try_push(round * 100 + i).unwrap();
                }
                assert_eq!(p.try_push(9), Err(PushError::Full));
                assert_eq!(q.len(), cap);
                for i in 0..cap as u64 {
                    assert_eq!(c.try_pop(), Ok(round * 100 + i));
                }
                assert_eq!(c.try_pop(), Err(PopError::Empty));
            }
            let q2 = Spsc::<u64>::attach::<Spin>(r, Deadline::Immediate).unwrap();
            assert_eq!(q2.capacity(), cap);
            assert!(Spsc::<u32>::attach::<Spin>(r, Deadline::Immediate).is_err());
        }
    }

    #[test]
    fn batches_wrap() {
        let mut buf = vec![0u8; Spsc::<u32>::size(5).unwrap() + RING_ALIGN];
        let q = Spsc::<u32>::init::<Spin>(region(&mut buf), 5).unwrap();
        let (mut p, mut c) = (q.producer(), q.consumer());
        let mut next = 0u32;
        let mut expect = 0u32;
        for _ in 0..50 {
            let items: vec::Vec<u32> = (next..next + 4).collect();
            let n = p.push_slice(&items).unwrap();
            next += n as u32;
            let mut out = [0u32; 3];
            let m = c.pop_slice(&mut out).unwrap();
            for v in &out[..m] {
                assert_eq!(*v, expect);
                expect += 1;
            }
        }
        assert!(expect > 100);
    }

    #[test]
    fn zero_capacity_and_close() {
        let mut buf = vec![0u8; 8192];
        assert!(matches!(
            Spsc::<u64>::init::<Spin>(region(&mut buf), 0),
            Err(InitError::InvalidParameter { .. })
        ));
        let q = Spsc::<u64>::init::<Spin>(region(&mut buf), 4).unwrap();
        let (mut p, mut c) = (q.producer(), q.consumer());
        p.push::<Spin>(1, Deadline::Never).unwrap();
        q.close::<Spin>();
        assert_eq!(p.push::<Spin>(2, Deadline::Never), Err(PushError::Closed));
        assert_eq!(c.pop::<Spin>(Deadline::Never), Ok(1));
        assert_eq!(c.pop::<Spin>(Deadline::Never), Err(PopError::Closed));
    }

    #[test]
    fn corrupted_positions_are_errors() {
        let mut buf = vec![0u8; 8192];
        let q = Spsc::<u64>::init::<Spin>(region(&mut buf), 4).unwrap();
        let mut c = q.consumer();
        // Ordering: Relaxed; a test playing a hostile peer.
        q.ctrl().tail.store(1 << 40, Ordering::Relaxed);
        assert_eq!(c.try_pop(), Err(PopError::Corrupted));
        let mut p = q.producer();
        // Ordering: Relaxed; a test playing a hostile peer.
        q.ctrl().head.store(12345, Ordering::Relaxed);
        for _ in 0..10 {
            let _ = p.try_push(1);
        }
    }
}
