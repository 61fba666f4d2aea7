//! [`Spsc`]: a single-producer single-consumer ring of `T: ShmSafe` in shared memory.
//!
//! Positions `head` (next to read, written by the consumer) and `tail` (next to write, written by the
//! producer) are free-running [`Word`]s on separate cache lines; slot = position modulo the capacity,
//! which may be any value >= 1 (each handle carries its slot index along instead of dividing). Where
//! the target lacks 64-bit atomics, `Word` is `u32`, positions wrap at 2^32, and the capacity must be
//! a power of two so the slots stay consecutive across the wrap.
//!
//! # One cache line per message
//! Each slot carries a 32-bit *stamp* next to its element: the producer writes the element, then
//! stores `stamp = position + 1` (Release). The consumer never reads `tail`: it polls the stamp of the
//! slot at `head` (Acquire), which sits on the same cache line as the element, so a message crosses
//! from one core to the other as **one** cache-line transfer. With an index-only design (rtrb,
//! crossbeam) the consumer first misses on the line holding `tail` and then on the line holding the
//! element: two dependent transfers, which is what a ping-pong latency measures. (This is the
//! FastForward idea — Giacomoni, Moseley and Vachharajani, PPoPP 2008 — with a stamp instead of a
//! null value, since every bit pattern of a `ShmSafe` element is a valid message.)
//!
//! The producer still decides "full" from `head`, through a process-local cached copy refreshed only
//! when the cache says full ("possibly full -> refresh the cached head -> really full"), and still
//! stores `tail` after the stamps, for [`Spsc::len`] and for a producer handle created later.
//!
//! A stamp from an earlier lap is `position + 1 - k * capacity` (k >= 1), never equal to the current
//! one because the capacity is below 2^31; a fresh ring's stamps are 0, which no position before
//! 2^32 - 1 (by then every slot was written) expects.
//!
//! # Crash semantics
//! A push commits with the Release store of the slot's stamp, a pop with one Release store of `head`.
//! A producer killed before its stamp store leaves no trace of the message; one killed after it but
//! before its `tail` store left a committed message that the consumer receives, and the next producer
//! handle skips past it (it scans the stamps from `tail`). A consumer killed before its `head` store
//! leaves the message in the ring, where the next consumer handle (in any process) receives it again:
//! **redelivered**, never lost.
//!
//! # One producer, one consumer
//! At most one [`Producer`] and one [`Consumer`] may be used at a time (across all processes). The
//! ring cannot enforce this; two producers corrupt messages (never memory outside the ring).
//!
//! # Layout
//! Header and [`super::RingCtrl`] (see there), then `capacity` [`Slot`]s (`stamp: u32`, then the
//! element at `align_up(4, align_of::<T>())`; `#[repr(C)]`) at [`super::DATA_OFFSET`] (aligned to
//! `max(CACHE_LINE, align_of::<T>())`). Header fields: `capacity` = slots (1 ..= 2^31 - 1),
//! `elem_size`/`elem_align` = `T`'s.

use super::{check_ring, PopError, PushError, RingCtrl, DATA_OFFSET, RING_ALIGN};
use crate::atomic::{AtomicU32, Ordering, SignedWord, Word};
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams};
use crate::region::Region;
use crate::time::Deadline;
use crate::wait::Wait;
use crate::ShmSafe;
use core::cell::{Cell, UnsafeCell};
use core::marker::PhantomData;

/// The largest capacity: stamps are 32-bit, and a stamp from the previous lap must differ from the
/// current one.
pub const MAX_CAPACITY: usize = (1 << 31) - 1;

/// One slot of an [`Spsc`] ring: the stamp that publishes it, then the element.
///
/// ```
/// use ringfork_core::queue::spsc::{Slot, Spsc};
/// use ringfork_core::queue::DATA_OFFSET;
/// // A 4-byte stamp, then the element (padded to the element's alignment).
/// assert_eq!(core::mem::size_of::<Slot<u32>>(), 8);
/// assert_eq!(core::mem::size_of::<Slot<u64>>(), 16);
/// // The slots follow the control block.
/// assert_eq!(Spsc::<u64>::size(16), Some(DATA_OFFSET + 16 * 16));
/// ```
#[repr(C)]
pub struct Slot<T> {
    /// `position + 1` (truncated to 32 bits) once the element for `position` is written.
    stamp: AtomicU32,
    value: UnsafeCell<T>,
}

impl<T> core::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Ordering: Relaxed, display only.
        f.debug_struct("Slot")
            .field("stamp", &self.stamp.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T: ShmSafe> Slot<T> {
    /// A fresh, empty slot (for loom models, whose atomics cannot live in raw memory).
    #[cfg(loom)]
    pub fn new(v: T) -> Self {
        Slot {
            stamp: AtomicU32::new(0),
            value: UnsafeCell::new(v),
        }
    }
}

/// Attaches to the header of a `kind` ring of `T` at the start of `region`: element type, capacity
/// (1 ..= [`MAX_CAPACITY`]), alignment, and the size `size(capacity)` implies. Returns the capacity.
fn attach_header<T, W: Wait>(
    region: Region<'_>,
    kind: Kind,
    deadline: Deadline,
    size: fn(usize) -> Option<usize>,
) -> Result<Word, AttachError> {
    attach_header_elem::<W>(region, kind, deadline, ElemLayout::of::<T>(), &|cap| size(cap))
}

/// [`attach_header`] for an element layout known at run time.
fn attach_header_elem<W: Wait>(
    region: Region<'_>,
    kind: Kind,
    deadline: Deadline,
    elem: ElemLayout,
    size: &dyn Fn(usize) -> Option<usize>,
) -> Result<Word, AttachError> {
    let header = Header::attach::<W>(region, kind, deadline)?;
    Header::expect("elem_size", elem.size as u64, header.elem_size().into())?;
    Header::expect("elem_align", elem.align as u64, header.elem_align().into())?;
    let cap = header.capacity();
    if cap == 0 {
        return Err(AttachError::Corrupted { what: "capacity is 0" });
    }
    if cap > MAX_CAPACITY as u64 {
        return Err(AttachError::Corrupted {
            what: "capacity is 2^31 or more",
        });
    }
    if crate::atomic::WORDS32 && !cap.is_power_of_two() {
        return Err(AttachError::Corrupted {
            what: "capacity is not a power of two (required with 32-bit words)",
        });
    }
    check_ring(region, header, usize::try_from(cap).ok().and_then(size))?;
    Ok(cap as Word)
}

/// The size and alignment of an element type known only at run time (a foreign caller's type):
/// what [`RawSpsc`] stores, and what the header records as `elem_size` / `elem_align`.
///
/// ```
/// use ringfork_core::queue::spsc::{ElemLayout, RawSpsc, Spsc};
/// let e = ElemLayout::new(8, 8).unwrap();
/// assert_eq!(e, ElemLayout::of::<u64>());
/// assert_eq!(RawSpsc::size(16, e), Spsc::<u64>::size(16)); // the same layout
/// assert!(ElemLayout::new(8, 3).is_none()); // alignment must be a power of two
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElemLayout {
    /// `size_of` the element type.
    pub size: usize,
    /// `align_of` the element type (a power of two).
    pub align: usize,
}

impl ElemLayout {
    /// The largest alignment a run-time element may ask for (the page alignment every segment
    /// object can get).
    pub const MAX_ALIGN: usize = 4096;

    /// `T`'s layout.
    pub const fn of<T>() -> Self {
        ElemLayout {
            size: core::mem::size_of::<T>(),
            align: core::mem::align_of::<T>(),
        }
    }

    /// A layout of `size` bytes aligned to `align`, or `None` if `align` is not a power of two up to
    /// [`Self::MAX_ALIGN`], `size` is not a multiple of `align` (no C or Rust type has such a
    /// layout), or `size` does not fit the header's 32-bit field.
    pub fn new(size: usize, align: usize) -> Option<Self> {
        if !align.is_power_of_two() || align > Self::MAX_ALIGN || size % align != 0 || u32::try_from(size).is_err() {
            return None;
        }
        Some(ElemLayout { size, align })
    }

    /// Offset of the element in a [`Slot`]: after the 4-byte stamp, aligned.
    const fn value_offset(&self) -> usize {
        let a = if self.align > 4 { self.align } else { 4 };
        // `a` is a power of two <= MAX_ALIGN: no overflow.
        (4 + a - 1) & !(a - 1)
    }

    /// `size_of::<Slot<T>>()` for a `T` of this layout, or `None` on overflow.
    fn slot_stride(&self) -> Option<usize> {
        let a = self.align.max(4);
        crate::region::align_up(self.value_offset().checked_add(self.size)?, a)
    }
}

/// An [`Spsc`] ring whose element type is known only at run time by its [`ElemLayout`] (for the C
/// ABI): the same layout and protocol as `Spsc<T>` for any `T` of that layout, so a ring made by one
/// attaches as the other. Elements go in and out as byte slices of exactly `elem.size` bytes. Like
/// `Spsc`, a view is turned into its ends ([`RawSpsc::producer`], [`RawSpsc::consumer`]); one
/// producer and one consumer at a time across all processes.
///
/// ```
/// use ringfork_core::queue::spsc::{ElemLayout, RawSpsc, Spsc};
/// use ringfork_core::{wait::Spin, Deadline, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let region = Region::from_mut(&mut buf.0);
/// let mut tx = RawSpsc::init::<Spin>(region, 4, ElemLayout::of::<u64>()).unwrap().producer();
/// tx.try_push(&7u64.to_ne_bytes()).unwrap();
/// let mut rx = Spsc::<u64>::attach::<Spin>(region, Deadline::Immediate).unwrap().consumer();
/// assert_eq!(rx.try_pop(), Ok(7));
/// ```
pub struct RawSpsc<'a> {
    ctrl: &'a RingCtrl,
    data: *mut u8,
    stride: usize,
    value_off: usize,
    elem: ElemLayout,
    cap: Word,
    _t: PhantomData<&'a u8>,
}

// SAFETY: as for `Spsc`: atomics, and element bytes copied with atomic chunks under the stamp protocol.
unsafe impl Send for RawSpsc<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for RawSpsc<'_> {}

impl core::fmt::Debug for RawSpsc<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawSpsc")
            .field("capacity", &self.cap)
            .field("elem", &self.elem)
            .field("len", &self.len())
            .finish()
    }
}

impl<'a> RawSpsc<'a> {
    /// Alignment the region needs.
    pub fn align(elem: ElemLayout) -> usize {
        RING_ALIGN.max(elem.align)
    }

    fn data_offset(elem: ElemLayout) -> usize {
        crate::region::align_up(DATA_OFFSET, Self::align(elem)).unwrap_or(usize::MAX)
    }

    /// Bytes a ring of `capacity` elements needs, or `None` if that overflows.
    pub fn size(capacity: usize, elem: ElemLayout) -> Option<usize> {
        let data = crate::region::align_up(DATA_OFFSET, Self::align(elem))?;
        data.checked_add(capacity.checked_mul(elem.slot_stride()?)?)
    }

    /// Creates a ring of `capacity` (>= 1) elements at the start of `region` and publishes it.
    pub fn init<W: Wait>(region: Region<'a>, capacity: usize, elem: ElemLayout) -> Result<Self, InitError> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(InitError::InvalidParameter {
                name: "capacity",
                reason: "must be at least 1 and below 2^31 (slot stamps are 32-bit)",
            });
        }
        if ElemLayout::new(elem.size, elem.align).is_none() {
            return Err(InitError::InvalidParameter {
                name: "elem",
                reason: "alignment must be a power of two up to 4096 and the size a multiple of it below 4 GiB",
            });
        }
        check_pow2(capacity)?;
        let size = Self::size(capacity, elem).ok_or(InitError::InvalidParameter {
            name: "capacity",
            reason: "capacity times element size overflows the address space",
        })?;
        let mut params = ObjectParams::new(Kind::Spsc, size as u64);
        params.elem_size = elem.size as u32;
        params.elem_align = elem.align as u32;
        params.capacity = capacity as u64;
        let claim = Header::claim(region, &params, Self::align(elem))?;
        // SAFETY: claim checked size (>= DATA_OFFSET) and alignment.
        let ctrl = unsafe { RingCtrl::at(region) };
        ctrl.init();
        let ring = Self::view(region, ctrl, capacity as Word, elem);
        for i in 0..capacity {
            // Ordering: Relaxed; published by the header's Release store of READY.
            ring.stamp(i).store(0, Ordering::Relaxed);
        }
        claim.publish::<W>();
        Ok(ring)
    }

    /// Attaches to the ring at the start of `region`, validating the element layout and capacity.
    pub fn attach<W: Wait>(region: Region<'a>, elem: ElemLayout, deadline: Deadline) -> Result<Self, AttachError> {
        if ElemLayout::new(elem.size, elem.align).is_none() {
            return Err(AttachError::Corrupted {
                what: "element layout: the alignment must be a power of two up to 4096 and the size a multiple of it",
            });
        }
        let cap = attach_header_elem::<W>(region, Kind::Spsc, deadline, elem, &|c| Self::size(c, elem))?;
        // SAFETY: check_ring validated size >= DATA_OFFSET and alignment.
        let ctrl = unsafe { RingCtrl::at(region) };
        Ok(Self::view(region, ctrl, cap, elem))
    }

    fn view(region: Region<'a>, ctrl: &'a RingCtrl, cap: Word, elem: ElemLayout) -> Self {
        RawSpsc {
            ctrl,
            data: region.as_ptr().wrapping_add(Self::data_offset(elem)),
            stride: elem.slot_stride().unwrap_or(0),
            value_off: elem.value_offset(),
            elem,
            cap,
            _t: PhantomData,
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

    /// The element layout.
    pub fn elem(&self) -> ElemLayout {
        self.elem
    }

    /// The stamp of slot `i` (`i < cap`, maintained locally).
    #[inline(always)]
    fn stamp(&self, i: usize) -> &'a AtomicU32 {
        debug_assert!((i as Word) < self.cap);
        // SAFETY: `data` points to `cap` slots `stride` bytes apart inside the validated region, each
        // starting with its 4-aligned stamp (the region is CACHE_LINE-aligned, the stride a multiple
        // of 4); callers pass i < cap. AtomicU32 accepts any bytes.
        unsafe { &*self.data.add(i * self.stride).cast::<AtomicU32>() }
    }

    /// The element bytes of slot `i` (`i < cap`).
    #[inline(always)]
    fn value(&self, i: usize) -> *mut u8 {
        self.data.wrapping_add(i * self.stride + self.value_off)
    }

    /// Messages in the ring at some instant during the call (clamped to `0..=capacity`).
    pub fn len(&self) -> usize {
        // Ordering: Acquire on both; a snapshot (see `Spsc::len`).
        let head = self.ctrl.head.load(Ordering::Acquire);
        let tail = self.ctrl.tail.load(Ordering::Acquire);
        let d = tail.wrapping_sub(head);
        if (d as SignedWord) < 0 {
            0
        } else {
            d.min(self.cap) as usize
        }
    }

    /// Whether the ring was empty at some instant during the call.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the ring: pushes fail with `Closed`; pops drain, then fail with `Closed`. Wakes all.
    pub fn close<W: Wait>(&self) {
        self.ctrl.control.close::<W>();
    }

    /// The producer half (consumes the view), starting past any message a killed producer committed
    /// but did not count in `tail` (as [`Spsc::producer`]).
    pub fn producer(self) -> RawProducer<'a> {
        // Ordering: Acquire pairs with the previous producer's and consumer's Release stores.
        let mut tail = self.ctrl.tail.load(Ordering::Acquire);
        let head = self.ctrl.head.load(Ordering::Acquire);
        if (head.wrapping_sub(tail) as SignedWord) > 0 {
            tail = head;
        }
        for _ in 0..self.cap {
            let used = tail.wrapping_sub(head);
            let full = (used as SignedWord) >= 0 && used >= self.cap;
            // Ordering: Acquire pairs with the dead producer's Release stamp store.
            if full || self.stamp((tail % self.cap) as usize).load(Ordering::Acquire) != stamp_of(tail) {
                break;
            }
            tail = tail.wrapping_add(1);
        }
        let slot = (tail % self.cap) as usize;
        RawProducer {
            ring: self,
            tail,
            slot,
            cached_head: head,
        }
    }

    /// The consumer half (consumes the view).
    pub fn consumer(self) -> RawConsumer<'a> {
        // Ordering: Acquire pairs with the previous consumer's Release store of `head`.
        let head = self.ctrl.head.load(Ordering::Acquire);
        let slot = (head % self.cap) as usize;
        RawConsumer { ring: self, head, slot }
    }
}

/// The writing half of a [`RawSpsc`] ring (see [`Producer`]).
pub struct RawProducer<'a> {
    ring: RawSpsc<'a>,
    tail: Word,
    slot: usize,
    cached_head: Word,
}

impl core::fmt::Debug for RawProducer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawProducer").field("tail", &self.tail).finish()
    }
}

impl<'a> RawProducer<'a> {
    /// The ring this end belongs to.
    pub fn ring(&self) -> &RawSpsc<'a> {
        &self.ring
    }

    #[inline(always)]
    fn free(&mut self) -> Result<Word, PushError> {
        let cap = self.ring.cap;
        let used = self.tail.wrapping_sub(self.cached_head);
        if used < cap {
            return Ok(cap - used);
        }
        // Ordering: Acquire pairs with the consumer's Release store of `head` (see `Producer::free`).
        self.cached_head = self.ring.ctrl.head.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(self.cached_head);
        if used > cap {
            return Err(PushError::Corrupted);
        }
        Ok(cap - used)
    }

    /// Pushes `elem` (exactly the ring's element size; otherwise [`PushError::TooLarge`] with `limit`
    /// the element size) if there is room; never blocks, never wakes anyone.
    #[inline]
    pub fn try_push(&mut self, elem: &[u8]) -> Result<(), PushError> {
        if elem.len() != self.ring.elem.size {
            return Err(PushError::TooLarge {
                len: elem.len(),
                limit: self.ring.elem.size,
            });
        }
        if self.free()? == 0 {
            return Err(PushError::Full);
        }
        let i = self.slot;
        // SAFETY: slot `i` is free (head refreshed with Acquire), only this producer writes elements,
        // and the element bytes lie inside the validated region, aligned to `elem.align`.
        unsafe { crate::racy_copy::store_bytes(self.ring.value(i), elem.as_ptr(), elem.len(), self.ring.elem.align) };
        // Ordering: Release publishes the element to the consumer's Acquire load of the stamp.
        self.ring.stamp(i).store(stamp_of(self.tail), Ordering::Release);
        self.tail = self.tail.wrapping_add(1);
        self.slot += 1;
        if self.slot == self.ring.cap as usize {
            self.slot = 0;
        }
        // Ordering: Release so a reader of `tail` sees the stamps before it.
        self.ring.ctrl.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// [`Self::try_push`] of a ring whose element is one 8-byte word (size 8, alignment 8): the
    /// one-store fast path, for callers across a foreign-function boundary. Any other ring:
    /// [`PushError::TooLarge`].
    #[inline]
    pub fn try_push_u64(&mut self, v: u64) -> Result<(), PushError> {
        let e = self.ring.elem;
        if e.size != 8 || e.align < 8 {
            return Err(PushError::TooLarge { len: 8, limit: e.size });
        }
        if self.free()? == 0 {
            return Err(PushError::Full);
        }
        let i = self.slot;
        // SAFETY: as in `try_push`; the element is 8 bytes, 8-aligned inside the validated region
        // (`store_bytes` makes that one store where the target has 64-bit words).
        unsafe { crate::racy_copy::store_bytes(self.ring.value(i), (&v as *const u64).cast(), 8, 8) };
        // Ordering: Release publishes the element to the consumer's Acquire load of the stamp.
        self.ring.stamp(i).store(stamp_of(self.tail), Ordering::Release);
        self.tail = self.tail.wrapping_add(1);
        self.slot += 1;
        if self.slot == self.ring.cap as usize {
            self.slot = 0;
        }
        // Ordering: Release so a reader of `tail` sees the stamps before it.
        self.ring.ctrl.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Pushes `elem`, waiting (through `W`) for room until `deadline`, and wakes a sleeping consumer
    /// (as [`Producer::push`]).
    pub fn push<W: Wait>(&mut self, elem: &[u8], deadline: Deadline) -> Result<(), PushError> {
        let ctrl = self.ring.ctrl;
        if ctrl.control.is_closed() {
            return Err(PushError::Closed);
        }
        ctrl.control.push_wait::<W, ()>(
            Some(&ctrl.consumers),
            deadline,
            &Cell::new(false),
            || self.try_push(elem),
            || {},
        )?;
        ctrl.control.not_empty.notify_one::<W>();
        Ok(())
    }

    /// Wakes a sleeping consumer after `try_push` calls (which do not).
    pub fn notify<W: Wait>(&self) {
        self.ring.ctrl.control.not_empty.notify_one::<W>();
    }
}

/// The reading half of a [`RawSpsc`] ring (see [`Consumer`]).
pub struct RawConsumer<'a> {
    ring: RawSpsc<'a>,
    head: Word,
    slot: usize,
}

impl core::fmt::Debug for RawConsumer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawConsumer").field("head", &self.head).finish()
    }
}

impl<'a> RawConsumer<'a> {
    /// The ring this end belongs to.
    pub fn ring(&self) -> &RawSpsc<'a> {
        &self.ring
    }

    /// Takes the oldest element into `out[..elem.size]` if there is one (never blocks, never wakes
    /// anyone). `out` shorter than the element: [`PopError::BufferTooSmall`].
    #[inline]
    pub fn try_pop(&mut self, out: &mut [u8]) -> Result<(), PopError> {
        let size = self.ring.elem.size;
        if out.len() < size {
            return Err(PopError::BufferTooSmall { needed: size });
        }
        let i = self.slot;
        // Ordering: Acquire pairs with the producer's Release stamp store.
        if self.ring.stamp(i).load(Ordering::Acquire) != stamp_of(self.head) {
            return Err(PopError::Empty);
        }
        // SAFETY: the element is published (stamp Acquire above) and lies inside the validated
        // region, aligned; `out` holds at least `size` bytes.
        unsafe { crate::racy_copy::load_bytes(out.as_mut_ptr(), self.ring.value(i), size, self.ring.elem.align) };
        self.head = self.head.wrapping_add(1);
        self.slot += 1;
        if self.slot == self.ring.cap as usize {
            self.slot = 0;
        }
        // Ordering: Release orders our element reads before the producer's reuse of the slot.
        self.ring.ctrl.head.store(self.head, Ordering::Release);
        Ok(())
    }

    /// [`Self::try_pop`] of a ring whose element is one 8-byte word (see
    /// [`RawProducer::try_push_u64`]). Any other ring: [`PopError::BufferTooSmall`].
    #[inline]
    pub fn try_pop_u64(&mut self) -> Result<u64, PopError> {
        let e = self.ring.elem;
        if e.size != 8 || e.align < 8 {
            return Err(PopError::BufferTooSmall { needed: e.size });
        }
        let i = self.slot;
        // Ordering: Acquire pairs with the producer's Release stamp store.
        if self.ring.stamp(i).load(Ordering::Acquire) != stamp_of(self.head) {
            return Err(PopError::Empty);
        }
        let mut v = 0u64;
        // SAFETY: published (stamp Acquire above); 8 bytes, 8-aligned inside the validated region.
        unsafe { crate::racy_copy::load_bytes((&mut v as *mut u64).cast(), self.ring.value(i), 8, 8) };
        self.head = self.head.wrapping_add(1);
        self.slot += 1;
        if self.slot == self.ring.cap as usize {
            self.slot = 0;
        }
        // Ordering: Release orders our element read before the producer's reuse of the slot.
        self.ring.ctrl.head.store(self.head, Ordering::Release);
        Ok(v)
    }

    /// Takes the oldest element, waiting (through `W`) until `deadline`; wakes a sleeping producer
    /// (as [`Consumer::pop`]).
    pub fn pop<W: Wait>(&mut self, out: &mut [u8], deadline: Deadline) -> Result<(), PopError> {
        let ctrl = self.ring.ctrl;
        ctrl.control.pop_wait::<W, ()>(
            Some(&ctrl.producers),
            deadline,
            &Cell::new(false),
            || self.try_pop(out),
            || {},
        )?;
        ctrl.control.not_full.notify_one::<W>();
        Ok(())
    }

    /// Wakes a sleeping producer after `try_pop` calls (which do not).
    pub fn notify<W: Wait>(&self) {
        self.ring.ctrl.control.not_full.notify_one::<W>();
    }
}

/// Where layouts use 32-bit words, positions wrap at 2^32, and only a power-of-two capacity maps
/// the positions on both sides of the wrap to consecutive slots.
fn check_pow2(capacity: usize) -> Result<(), InitError> {
    if crate::atomic::WORDS32 && !capacity.is_power_of_two() {
        return Err(InitError::InvalidParameter {
            name: "capacity",
            reason: "must be a power of two on targets without 64-bit atomics (32-bit positions wrap)",
        });
    }
    Ok(())
}

/// The stamp that marks position `pos` as published.
#[inline(always)]
#[allow(clippy::unnecessary_cast)] // the identity where `Word` is `u32`
fn stamp_of(pos: Word) -> u32 {
    (pos as u32).wrapping_add(1)
}

/// A view of an SPSC ring. It is not `Copy` or `Clone`: turn it into its ends with [`Spsc::split`],
/// [`Spsc::producer`] or [`Spsc::consumer`] (each consumes the view), so one view yields at most one
/// producer and one consumer and two threads cannot both produce through copies of it. Attaching the
/// region again makes a new view: attach once per role (one producer and one consumer per ring,
/// across all threads and processes, is the ring's contract).
///
/// ```compile_fail
/// use ringfork_core::{queue::spsc::Spsc, region::Region, wait::Spin};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = Spsc::<u32>::init::<Spin>(Region::from_mut(&mut buf.0), 4).unwrap();
/// let copy = ring; // a move, not a copy
/// let (p1, p2) = (ring.producer(), copy.producer()); // error: `ring` was moved
/// ```
///
/// ```
/// use ringfork_core::{queue::spsc::Spsc, region::Region, wait::Spin};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = Spsc::<u32>::init::<Spin>(Region::from_mut(&mut buf.0), 4).unwrap();
/// let (mut tx, mut rx) = ring.split(); // one producer, one consumer
/// tx.try_push(5).unwrap();
/// assert_eq!(rx.try_pop(), Ok(5));
/// assert_eq!(tx.ring().len(), 0);
/// ```
pub struct Spsc<'a, T: ShmSafe> {
    ctrl: &'a RingCtrl,
    data: *mut Slot<T>,
    /// Bytes from one slot to the next: `size_of::<Slot<T>>()`, or twice that in an [`SpscPair`].
    stride: usize,
    cap: Word,
    _t: PhantomData<&'a T>,
}

// SAFETY: the control block and the stamps are atomics; elements are ShmSafe (any bit pattern valid)
// and are accessed with volatile copies only between the Acquire/Release stamp and head handshakes.
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
        data.checked_add(capacity.checked_mul(core::mem::size_of::<Slot<T>>())?)
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
        if capacity > MAX_CAPACITY {
            return Err(InitError::InvalidParameter {
                name: "capacity",
                reason: "must be below 2^31 (slot stamps are 32-bit)",
            });
        }
        check_pow2(capacity)?;
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
        let ring = Self::view(region, ctrl, capacity as Word);
        for i in 0..capacity {
            // Ordering: Relaxed; published by the header's Release store of READY.
            ring.slot(i).stamp.store(0, Ordering::Relaxed);
        }
        claim.publish::<W>();
        Ok(ring)
    }

    /// Attaches to the ring at the start of `region`, validating the element type and capacity.
    pub fn attach<W: Wait>(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let cap = attach_header::<T, W>(region, Kind::Spsc, deadline, Self::size)?;
        // SAFETY: check_ring validated size >= DATA_OFFSET and alignment.
        let ctrl = unsafe { RingCtrl::at(region) };
        Ok(Self::view(region, ctrl, cap))
    }

    fn view(region: Region<'a>, ctrl: &'a RingCtrl, cap: Word) -> Self {
        Spsc {
            ctrl,
            data: region.as_ptr().wrapping_add(Self::data_offset()) as *mut Slot<T>,
            stride: core::mem::size_of::<Slot<T>>(),
            cap,
            _t: PhantomData,
        }
    }

    /// A view over memory a loom model built.
    ///
    /// # Safety
    /// `data` points to `cap` fresh slots valid for `'a`.
    #[cfg(loom)]
    pub unsafe fn from_parts(ctrl: &'a RingCtrl, data: *mut Slot<T>, cap: Word) -> Self {
        Spsc {
            ctrl,
            data,
            stride: core::mem::size_of::<Slot<T>>(),
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

    /// Slot `i` (`i < cap`, maintained locally, never read from shared memory).
    #[inline(always)]
    fn slot(&self, i: usize) -> &'a Slot<T> {
        debug_assert!((i as Word) < self.cap);
        // The reference only reaches the atomic stamp directly; the element goes through the
        // UnsafeCell under the stamp/head protocol.
        // SAFETY: `data` points to `cap` slots `stride` bytes apart inside the region (attach/init
        // checked the size), valid for 'a; callers pass i < cap.
        unsafe { &*(self.data as *mut u8).add(i * self.stride).cast::<Slot<T>>() }
    }

    /// Messages in the ring at some instant during the call (clamped to `0..=capacity`).
    pub fn len(&self) -> usize {
        // Ordering: Acquire on both; the answer is a snapshot, stale as soon as it is returned.
        let head = self.ctrl.head.load(Ordering::Acquire);
        let tail = self.ctrl.tail.load(Ordering::Acquire);
        // The consumer may run ahead of `tail` (it follows the stamps, which the producer stores
        // first): a small negative difference means empty.
        let d = tail.wrapping_sub(head);
        if (d as SignedWord) < 0 {
            0
        } else {
            d.min(self.cap) as usize
        }
    }

    /// Whether the ring was empty at some instant during the call.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Both ends: `(producer, consumer)`.
    pub fn split(self) -> (Producer<'a, T>, Consumer<'a, T>) {
        let c = self.dup().consumer();
        (self.producer(), c)
    }

    /// A second view of the same ring, for this module's end constructors only.
    fn dup(&self) -> Self {
        Spsc {
            ctrl: self.ctrl,
            data: self.data,
            stride: self.stride,
            cap: self.cap,
            _t: PhantomData,
        }
    }

    /// The producer half (consumes the view). Use one at a time (see the module docs).
    ///
    /// Starts at the shared `tail`, then skips the slots a previous producer published but was killed
    /// before counting in `tail` (at most `capacity`).
    pub fn producer(self) -> Producer<'a, T> {
        // Ordering: Acquire pairs with the previous producer's and consumer's Release stores.
        let mut tail = self.ctrl.tail.load(Ordering::Acquire);
        let head = self.ctrl.head.load(Ordering::Acquire);
        // Positions below `head` were consumed, so they were committed: start there if `tail` lags
        // (the slots between may already hold a later lap's stamps, which the scan would stop at).
        if (head.wrapping_sub(tail) as SignedWord) > 0 {
            tail = head;
        }
        for _ in 0..self.cap {
            // Ordering: Acquire pairs with the dead producer's Release stamp store.
            // `tail` may legitimately be behind `head` here (the consumer followed stamps past it).
            let used = tail.wrapping_sub(head);
            let full = (used as SignedWord) >= 0 && used >= self.cap;
            if full || self.slot((tail % self.cap) as usize).stamp.load(Ordering::Acquire) != stamp_of(tail) {
                break;
            }
            tail = tail.wrapping_add(1);
        }
        let slot = (tail % self.cap) as usize;
        Producer {
            ring: self,
            tail,
            slot,
            cached_head: head,
        }
    }

    /// The consumer half (consumes the view). Use one at a time (see the module docs).
    pub fn consumer(self) -> Consumer<'a, T> {
        // Ordering: Acquire pairs with the previous consumer's Release store of `head`.
        let head = self.ctrl.head.load(Ordering::Acquire);
        let slot = (head % self.cap) as usize;
        Consumer { ring: self, head, slot }
    }
}

/// The writing half of an [`Spsc`] ring, with its process-local cache of the consumer's position.
///
/// ```
/// use ringfork_core::queue::spsc::Spsc;
/// use ringfork_core::{wait::DefaultWait, Deadline, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let (mut tx, mut rx) = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap().split();
/// assert_eq!(tx.push_slice(&[1, 2, 3, 4, 5]), Ok(4)); // as many as fit
/// let sum = std::thread::scope(|s| {
///     let consumer = s.spawn(move || (0..5).map(|_| rx.pop::<DefaultWait>(Deadline::Never).unwrap()).sum::<u32>());
///     tx.push::<DefaultWait>(5, Deadline::Never).unwrap(); // waits for room
///     consumer.join().unwrap()
/// });
/// assert_eq!(sum, 15);
/// ```
pub struct Producer<'a, T: ShmSafe> {
    ring: Spsc<'a, T>,
    tail: Word,
    slot: usize,
    cached_head: Word,
}

impl<T: ShmSafe> core::fmt::Debug for Producer<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer").field("tail", &self.tail).finish()
    }
}

impl<'a, T: ShmSafe> Producer<'a, T> {
    /// The ring this end belongs to (for `len`, `capacity`, `close`, `ctrl`; a borrowed view cannot
    /// make another end).
    pub fn ring(&self) -> &Spsc<'a, T> {
        &self.ring
    }

    /// Free slots, refreshing the cached head only when the cache says "full" for `want` items.
    #[inline(always)]
    fn free(&mut self, want: Word) -> Result<Word, PushError> {
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
        self.write(v);
        self.publish_tail();
        Ok(())
    }

    /// Writes `v` into the slot at `tail` and stamps it (the commit point); advances locally.
    #[inline(always)]
    fn write(&mut self, v: T) {
        let slot = self.ring.slot(self.slot);
        // SAFETY: the slot is free (head refreshed with Acquire in `free`, so the consumer finished
        // reading it), and only this producer writes elements; T is ShmSafe (plain bytes).
        unsafe { slot.value.get().write_volatile(v) };
        // Ordering: Release publishes the element write to the consumer's Acquire load of the stamp.
        slot.stamp.store(stamp_of(self.tail), Ordering::Release);
        self.tail = self.tail.wrapping_add(1);
        self.slot += 1;
        if self.slot == self.ring.cap as usize {
            self.slot = 0;
        }
    }

    /// Stores the local `tail` for `len()` and later producer handles (not read by the consumer).
    #[inline(always)]
    fn publish_tail(&self) {
        // Ordering: Release so a reader of `tail` (len, a new producer handle) sees the stamps before it.
        self.ring.ctrl.tail.store(self.tail, Ordering::Release);
    }

    /// Pushes as many items of `items` as fit (possibly none); returns how many.
    pub fn push_slice(&mut self, items: &[T]) -> Result<usize, PushError> {
        let free = self.free(items.len().min(MAX_CAPACITY) as Word)?;
        let n = items.len().min(free as usize);
        if n == 0 {
            return Ok(0);
        }
        for &v in &items[..n] {
            self.write(v);
        }
        self.publish_tail();
        Ok(n)
    }

    /// Pushes `v`, waiting (through `W`) for room until `deadline`, and wakes a sleeping consumer.
    /// Fails with [`PushError::Closed`] if the ring is closed or every registered consumer died.
    pub fn push<W: Wait>(&mut self, v: T, deadline: Deadline) -> Result<(), PushError> {
        let ctrl = self.ring.ctrl;
        if ctrl.control.is_closed() {
            return Err(PushError::Closed);
        }
        ctrl.control.push_wait::<W, ()>(
            Some(&ctrl.consumers),
            deadline,
            &Cell::new(false),
            || self.try_push(v),
            || {},
        )?;
        ctrl.control.not_empty.notify_one::<W>();
        Ok(())
    }

    /// Wakes a sleeping consumer after `try_push`/`push_slice` calls (which do not).
    pub fn notify<W: Wait>(&self) {
        self.ring.ctrl.control.not_empty.notify_one::<W>();
    }
}

/// The reading half of an [`Spsc`] ring (it follows the slot stamps; see the module docs).
///
/// ```
/// use ringfork_core::queue::{spsc::Spsc, PopError};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let (mut tx, mut rx) = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 8).unwrap().split();
/// assert_eq!(rx.try_pop(), Err(PopError::Empty));
/// tx.push_slice(&[7, 8, 9]).unwrap();
/// let mut out = [0; 8];
/// assert_eq!(rx.pop_slice(&mut out), Ok(3));
/// assert_eq!(out[..3], [7, 8, 9]);
/// ```
pub struct Consumer<'a, T: ShmSafe> {
    ring: Spsc<'a, T>,
    head: Word,
    slot: usize,
}

impl<T: ShmSafe> core::fmt::Debug for Consumer<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer").field("head", &self.head).finish()
    }
}

impl<'a, T: ShmSafe> Consumer<'a, T> {
    /// The ring this end belongs to (for `len`, `capacity`, `close`, `ctrl`; a borrowed view cannot
    /// make another end).
    pub fn ring(&self) -> &Spsc<'a, T> {
        &self.ring
    }

    /// Reads the element at `head` if its stamp says it is published; advances locally.
    #[inline(always)]
    fn read(&mut self) -> Option<T> {
        let slot = self.ring.slot(self.slot);
        // Ordering: Acquire pairs with the producer's Release stamp store: its element write happens
        // before our read.
        if slot.stamp.load(Ordering::Acquire) != stamp_of(self.head) {
            return None;
        }
        // SAFETY: the element was published (stamp Acquire above) and the producer does not touch the
        // slot again until `head` passes it; T is ShmSafe, so any bytes are a valid T.
        let v = unsafe { slot.value.get().read_volatile() };
        self.head = self.head.wrapping_add(1);
        self.slot += 1;
        if self.slot == self.ring.cap as usize {
            self.slot = 0;
        }
        Some(v)
    }

    /// Stores the local `head`: the commit point of the pops so far.
    #[inline(always)]
    fn publish_head(&self) {
        // Ordering: Release orders our element reads before the producer's reuse of the slots (its
        // Acquire load of `head`).
        self.ring.ctrl.head.store(self.head, Ordering::Release);
    }

    /// Takes the oldest element if there is one (never blocks, never wakes anyone).
    ///
    /// A ring whose producer scribbles garbage stamps can only make this return `Empty` (a stall) or
    /// a garbage element, so unlike the MPMC ring it never reports [`PopError::Corrupted`].
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, PopError> {
        match self.read() {
            Some(v) => {
                self.publish_head();
                Ok(v)
            }
            None => Err(PopError::Empty),
        }
    }

    /// Takes up to `out.len()` elements; returns how many (possibly none).
    pub fn pop_slice(&mut self, out: &mut [T]) -> Result<usize, PopError> {
        let mut n = 0;
        for o in out.iter_mut() {
            match self.read() {
                Some(v) => *o = v,
                None => break,
            }
            n += 1;
        }
        if n > 0 {
            self.publish_head();
        }
        Ok(n)
    }

    /// Takes the oldest element, waiting (through `W`) until `deadline`; wakes a sleeping producer.
    /// After [`Spsc::close`] it drains what is left, then fails with [`PopError::Closed`].
    pub fn pop<W: Wait>(&mut self, deadline: Deadline) -> Result<T, PopError> {
        let ctrl = self.ring.ctrl;
        let v = ctrl.control.pop_wait::<W, T>(
            Some(&ctrl.producers),
            deadline,
            &Cell::new(false),
            || self.try_pop(),
            || {},
        )?;
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

/// Two [`Spsc`] rings of the same capacity whose slots interleave: position `p` of the forward ring
/// and position `p` of the backward ring are adjacent (`[fwd 0][bwd 0][fwd 1][bwd 1]...`).
///
/// A request/response exchange — a ping-pong — then keeps both messages of one round trip on one
/// cache line: the answer is written into the line the request just arrived on, which the asker is
/// already polling. Two independent rings need two lines (one per direction), and two lines each
/// written by one side cost about twice the round trip of one line written by both (measured by
/// `ringfork bench pingpong_busy`; see docs/performance.md). For one-way streaming use a plain
/// [`Spsc`]: interleaving buys nothing there.
///
/// # Layout
/// Header (`capacity` = slots per direction, `elem_size`/`elem_align` = `T`'s), the forward ring's
/// [`RingCtrl`] at [`super::CTRL_OFFSET`], the backward ring's at [`super::DATA_OFFSET`], then `capacity`
/// pairs of [`Slot`]s from `align_up(DATA_OFFSET + size_of::<RingCtrl>(), max(CACHE_LINE, align T))`.
///
/// ```
/// use ringfork_core::queue::spsc::SpscPair;
/// use ringfork_core::{wait::DefaultWait, Deadline, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 16384]);
/// let mut buf = Buf([0; 16384]);
/// let region = Region::from_mut(&mut buf.0);
/// let (fwd, bwd) = SpscPair::<u64>::init::<DefaultWait>(region, 8).unwrap().split();
/// let (mut ask, mut answers) = (fwd.producer(), bwd.consumer()); // the creating side
/// let (fwd, bwd) = SpscPair::<u64>::attach::<DefaultWait>(region, Deadline::Immediate).unwrap().split();
/// let (mut questions, mut reply) = (fwd.consumer(), bwd.producer()); // the other side
/// ask.try_push(20).unwrap();
/// reply.try_push(questions.try_pop().unwrap() + 1).unwrap();
/// assert_eq!(answers.try_pop(), Ok(21));
/// ```
pub struct SpscPair<'a, T: ShmSafe> {
    fwd: Spsc<'a, T>,
    bwd: Spsc<'a, T>,
}

impl<T: ShmSafe> core::fmt::Debug for SpscPair<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpscPair")
            .field("forward", &self.fwd)
            .field("backward", &self.bwd)
            .finish()
    }
}

impl<'a, T: ShmSafe> SpscPair<'a, T> {
    fn ctrl2_offset() -> usize {
        DATA_OFFSET
    }

    fn data_offset() -> Option<usize> {
        let end = DATA_OFFSET.checked_add(core::mem::size_of::<RingCtrl>())?;
        crate::region::align_up(end, Spsc::<T>::align())
    }

    /// Bytes a pair of rings of `capacity` slots each needs, or `None` if that overflows.
    pub fn size(capacity: usize) -> Option<usize> {
        let pairs = capacity.checked_mul(2 * core::mem::size_of::<Slot<T>>())?;
        Self::data_offset()?.checked_add(pairs)
    }

    /// Alignment the region needs.
    pub fn align() -> usize {
        Spsc::<T>::align()
    }

    /// Creates the pair (`capacity` >= 1 slots per direction) at the start of `region` and publishes
    /// it.
    pub fn init<W: Wait>(region: Region<'a>, capacity: usize) -> Result<Self, InitError> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(InitError::InvalidParameter {
                name: "capacity",
                reason: "must be at least 1 and below 2^31 (slot stamps are 32-bit)",
            });
        }
        check_pow2(capacity)?;
        let size = Self::size(capacity).ok_or(InitError::InvalidParameter {
            name: "capacity",
            reason: "capacity times element size overflows the address space",
        })?;
        let mut params = ObjectParams::new(Kind::SpscPair, size as u64).with_elem::<T>();
        params.capacity = capacity as u64;
        let claim = Header::claim(region, &params, Self::align())?;
        let pair = Self::view(region, capacity as Word);
        pair.fwd.ctrl.init();
        pair.bwd.ctrl.init();
        for i in 0..capacity {
            // Ordering: Relaxed; published by the header's Release store of READY.
            pair.fwd.slot(i).stamp.store(0, Ordering::Relaxed);
            // Ordering: as above.
            pair.bwd.slot(i).stamp.store(0, Ordering::Relaxed);
        }
        claim.publish::<W>();
        Ok(pair)
    }

    /// Attaches to the pair at the start of `region`, validating the element type and capacity.
    pub fn attach<W: Wait>(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let cap = attach_header::<T, W>(region, Kind::SpscPair, deadline, Self::size)?;
        Ok(Self::view(region, cap))
    }

    /// The views. The caller validated that `region` holds `size(cap)` bytes, aligned.
    fn view(region: Region<'a>, cap: Word) -> Self {
        let stride = 2 * core::mem::size_of::<Slot<T>>();
        let data = Self::data_offset().unwrap_or(usize::MAX);
        // SAFETY: claim/check_ring validated the size (>= data offset > both control blocks) and
        // the cache-line alignment.
        let fwd_ctrl = unsafe { RingCtrl::at(region) };
        // SAFETY: the second block lies at `ctrl2_offset` (DATA_OFFSET, a multiple of CACHE_LINE),
        // entirely below the data offset and so inside the validated size; the region is CACHE_LINE
        // aligned, and RingCtrl is made of atomics only (any bytes are a valid value).
        let bwd_ctrl = unsafe { &*(region.as_ptr().add(Self::ctrl2_offset()) as *const RingCtrl) };
        let base = region.as_ptr().wrapping_add(data);
        SpscPair {
            fwd: Spsc {
                ctrl: fwd_ctrl,
                data: base as *mut Slot<T>,
                stride,
                cap,
                _t: PhantomData,
            },
            bwd: Spsc {
                ctrl: bwd_ctrl,
                data: base.wrapping_add(core::mem::size_of::<Slot<T>>()) as *mut Slot<T>,
                stride,
                cap,
                _t: PhantomData,
            },
        }
    }

    /// The two rings, `(forward, backward)`: by convention the side that created the pair produces
    /// into the forward ring and consumes the answers from the backward one. Consumes the view (see
    /// [`Spsc`] for why views are not `Copy`).
    pub fn split(self) -> (Spsc<'a, T>, Spsc<'a, T>) {
        (self.fwd, self.bwd)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wait::Spin;
    use std::vec;

    use super::super::test_region as region;

    #[test]
    fn raw_ring_has_the_typed_layout_and_interoperates() {
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[repr(C, align(16))]
        struct Big([u64; 3], u64);
        // SAFETY: repr(C), four u64s, 32 bytes, no padding.
        unsafe impl ShmSafe for Big {}
        fn same<T: ShmSafe>(cap: usize) {
            assert_eq!(RawSpsc::size(cap, ElemLayout::of::<T>()), Spsc::<T>::size(cap));
            assert_eq!(
                ElemLayout::of::<T>().slot_stride(),
                Some(core::mem::size_of::<Slot<T>>())
            );
            assert_eq!(RawSpsc::align(ElemLayout::of::<T>()), Spsc::<T>::align());
        }
        same::<u8>(3);
        same::<u16>(5);
        same::<u32>(7);
        same::<u64>(16);
        same::<[u8; 3]>(9);
        same::<Big>(4);
        let mut buf = vec![0u8; Spsc::<Big>::size(8).unwrap() + RING_ALIGN];
        let r = region(&mut buf);
        let mut tx = RawSpsc::init::<Spin>(r, 8, ElemLayout::of::<Big>()).unwrap().producer();
        let mut rx = Spsc::<Big>::attach::<Spin>(r, Deadline::Immediate).unwrap().consumer();
        for round in 0..5u64 {
            for i in 0..8u64 {
                let v = Big([round, i, 7], round * 100 + i);
                // SAFETY: Big is plain data with no padding: viewing it as bytes is fine.
                let bytes = unsafe { core::slice::from_raw_parts(&v as *const Big as *const u8, 32) };
                tx.try_push(bytes).unwrap();
            }
            assert_eq!(tx.try_push(&[0; 32]), Err(PushError::Full));
            assert_eq!(tx.try_push(&[0; 8]), Err(PushError::TooLarge { len: 8, limit: 32 }));
            for i in 0..8u64 {
                assert_eq!(rx.try_pop(), Ok(Big([round, i, 7], round * 100 + i)));
            }
        }
        // And the other way round: typed producer, raw consumer.
        let (mut ttx, _) = Spsc::<Big>::attach::<Spin>(r, Deadline::Immediate).unwrap().split();
        let mut rrx = RawSpsc::attach::<Spin>(r, ElemLayout::of::<Big>(), Deadline::Immediate)
            .unwrap()
            .consumer();
        ttx.try_push(Big([1, 2, 3], 4)).unwrap();
        let mut out = [0u8; 32];
        assert_eq!(
            rrx.try_pop(&mut out[..31]),
            Err(PopError::BufferTooSmall { needed: 32 })
        );
        rrx.try_pop(&mut out).unwrap();
        assert_eq!(out[..8], 1u64.to_ne_bytes());
        assert_eq!(out[24..], 4u64.to_ne_bytes());
        assert_eq!(rrx.try_pop(&mut out), Err(PopError::Empty));
        let wrong = RawSpsc::attach::<Spin>(r, ElemLayout::of::<u64>(), Deadline::Immediate).unwrap_err();
        assert!(matches!(wrong, AttachError::LayoutMismatch { field: "elem_size", .. }));
    }

    #[test]
    fn capacity_one_and_odd_capacities() {
        for cap in [1usize, 2, 3, 7, 16] {
            let mut buf = vec![0u8; Spsc::<u64>::size(cap).unwrap() + RING_ALIGN];
            let r = region(&mut buf);
            let q = Spsc::<u64>::init::<Spin>(r, cap).unwrap();
            let (mut p, mut c) = (q.dup().producer(), q.dup().consumer());
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

    /// Positions crossing the top of the word (2^64, or 2^32 where layouts use 32-bit words): FIFO,
    /// exactly once, across fresh handles created on both sides of the wrap.
    #[test]
    fn positions_wrap_around_the_word() {
        use crate::atomic::Word;
        let cap = 8;
        let mut buf = vec![0u8; Spsc::<u32>::size(cap).unwrap() + RING_ALIGN];
        let q = Spsc::<u32>::init::<Spin>(region(&mut buf), cap).unwrap();
        let start = Word::MAX - 20;
        // Ordering: Relaxed; single-threaded setup before any handle exists.
        q.ctrl().head.store(start, Ordering::Relaxed);
        q.ctrl().tail.store(start, Ordering::Relaxed);
        let (mut next, mut expect) = (0u32, 0u32);
        for round in 0..12 {
            // New handles each round: slot indices recomputed from the shared positions.
            let (mut p, mut c) = (q.dup().producer(), q.dup().consumer());
            while p.try_push(next).is_ok() {
                next += 1;
            }
            assert_eq!(q.len(), cap, "round {round}");
            for _ in 0..(3 + round % 5) {
                assert_eq!(c.try_pop(), Ok(expect));
                expect += 1;
            }
        }
        let mut c = q.dup().consumer();
        while let Ok(v) = c.try_pop() {
            assert_eq!(v, expect);
            expect += 1;
        }
        assert_eq!(expect, next);
        assert!(q.ctrl().head.load(Ordering::Relaxed) < start, "the positions wrapped");
    }

    #[test]
    fn batches_wrap() {
        let mut buf = vec![0u8; Spsc::<u32>::size(5).unwrap() + RING_ALIGN];
        let q = Spsc::<u32>::init::<Spin>(region(&mut buf), 5).unwrap();
        let (mut p, mut c) = (q.dup().producer(), q.dup().consumer());
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
        let (mut p, mut c) = (q.dup().producer(), q.dup().consumer());
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
        let mut c = q.dup().consumer();
        // Ordering: Relaxed; a test playing a hostile peer.
        q.ctrl().tail.store(1 << 40, Ordering::Relaxed);
        // The consumer follows stamps, not `tail`: a garbage tail cannot conjure messages.
        assert_eq!(c.try_pop(), Err(PopError::Empty));
        assert_eq!(q.len(), 4);
        let mut p = q.dup().producer();
        // Ordering: Relaxed; a test playing a hostile peer.
        q.ctrl().head.store(12345, Ordering::Relaxed);
        let mut corrupted = false;
        for _ in 0..10 {
            corrupted |= p.try_push(1) == Err(PushError::Corrupted);
        }
        assert!(corrupted);
    }

    #[test]
    fn killed_producer_between_stamp_and_tail() {
        let mut buf = vec![0u8; 8192];
        let q = Spsc::<u64>::init::<Spin>(region(&mut buf), 3).unwrap();
        let mut p = q.dup().producer();
        let mut c = q.dup().consumer();
        for round in 0..4u64 {
            // A producer that stamps two slots and "dies" before storing tail.
            p.write(round * 10);
            p.write(round * 10 + 1);
            let tail_before = q.ctrl().tail.load(Ordering::Relaxed);
            assert_eq!(q.len(), 0, "tail not yet stored (tail {tail_before})");
            // The consumer receives the committed message and runs ahead of `tail`.
            assert_eq!(c.try_pop(), Ok(round * 10));
            assert_eq!(q.len(), 0);
            // A new producer skips both committed slots.
            p = q.dup().producer();
            p.try_push(round * 10 + 2).unwrap();
            assert_eq!(c.try_pop(), Ok(round * 10 + 1));
            assert_eq!(c.try_pop(), Ok(round * 10 + 2));
            assert_eq!(c.try_pop(), Err(PopError::Empty));
        }
    }

    #[test]
    fn pair_directions_are_independent_and_interleaved() {
        let mut buf = vec![0u8; SpscPair::<u64>::size(5).unwrap() + RING_ALIGN];
        let r = region(&mut buf);
        let pair = SpscPair::<u64>::init::<Spin>(r, 5).unwrap();
        let (fwd, bwd) = pair.split();
        if crate::padded::CACHE_LINE == 128 {
            // docs/layout.md (kind 19).
            assert_eq!(SpscPair::<u64>::data_offset(), Some(10112));
        }
        // Position p of each direction sits next to the other's.
        let stride = core::mem::size_of::<Slot<u64>>();
        assert_eq!(bwd.data as usize - fwd.data as usize, stride);
        assert_eq!(
            fwd.slot(1) as *const _ as usize - fwd.slot(0) as *const _ as usize,
            2 * stride
        );
        let (mut p, mut c) = (fwd.dup().producer(), fwd.dup().consumer());
        let (mut bp, mut bc) = (bwd.dup().producer(), bwd.dup().consumer());
        for round in 0..4u64 {
            for i in 0..5 {
                p.try_push(round * 100 + i).unwrap();
            }
            assert_eq!(p.try_push(0), Err(PushError::Full));
            assert_eq!(bc.try_pop(), Err(PopError::Empty));
            for i in 0..5 {
                let v = c.try_pop().unwrap();
                assert_eq!(v, round * 100 + i);
                bp.try_push(v + 1).unwrap();
            }
            for i in 0..5 {
                assert_eq!(bc.try_pop(), Ok(round * 100 + i + 1));
            }
            assert_eq!(fwd.len(), 0);
            assert_eq!(bwd.len(), 0);
        }
        let again = SpscPair::<u64>::attach::<Spin>(r, Deadline::Immediate).unwrap();
        assert_eq!(again.split().0.capacity(), 5);
        assert!(SpscPair::<u32>::attach::<Spin>(r, Deadline::Immediate).is_err());
        assert!(Spsc::<u64>::attach::<Spin>(r, Deadline::Immediate).is_err());
        assert!(matches!(
            SpscPair::<u64>::init::<Spin>(region(&mut vec![0u8; 65536]), 0),
            Err(InitError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn producers_killed_twice_in_a_row_mid_batch() {
        // P1 stamps a whole batch and dies before `tail`; the consumer takes it all; P2 (starting
        // behind `head`) stamps one more and dies too; P3 must still find its place.
        let mut buf = vec![0u8; 8192];
        let q = Spsc::<u64>::init::<Spin>(region(&mut buf), 4).unwrap();
        let mut c = q.dup().consumer();
        let mut p1 = q.dup().producer();
        for v in 0..4 {
            p1.write(v);
        }
        for v in 0..4 {
            assert_eq!(c.try_pop(), Ok(v));
        }
        let mut p2 = q.dup().producer();
        p2.write(4);
        let mut p3 = q.dup().producer();
        p3.try_push(5).unwrap();
        assert_eq!(c.try_pop(), Ok(4));
        assert_eq!(c.try_pop(), Ok(5));
        assert_eq!(c.try_pop(), Err(PopError::Empty));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn oversized_capacity_is_rejected() {
        let mut buf = vec![0u8; 8192];
        assert!(matches!(
            Spsc::<u8>::init::<Spin>(region(&mut buf), MAX_CAPACITY + 1),
            Err(InitError::InvalidParameter { .. })
        ));
    }
}
