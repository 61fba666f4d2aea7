//! [`ByteRing`]: a single-producer single-consumer ring of variable-length byte messages.
//!
//! # Framing
//! Positions are free-running byte counts, always multiples of 8, so a record's 8-byte frame header
//! never straddles the end of the data area. A record is
//!
//! | offset | size             | field                                               |
//! |-------:|-----------------:|-----------------------------------------------------|
//! | 0      | 4                | `len`: payload bytes, `0..=msg_limit`               |
//! | 4      | 4                | `!len`: a check word (a frame header that fails it is corruption) |
//! | 8      | `len`            | payload, split in two copies where it wraps          |
//! | 8+len  | pad to 8         | -                                                   |
//!
//! so a message of `len` bytes takes `8 + align_up(len, 8)` bytes of the ring. The data area is at
//! least one largest record, so a message of `msg_limit` bytes always fits an empty ring. A message
//! longer than the limit is refused with [`PushError::TooLarge`], never truncated.
//!
//! Every frame header read from shared memory is checked against the limit, its check word and the
//! bytes actually published; on a mismatch the consumer discards everything pending (it cannot find
//! the next frame) and reports [`PopError::Corrupted`].
//!
//! # Crash semantics
//! As for [`super::spsc`]: the commit is one Release store of `tail` (send) or `head` (receive); a
//! killed sender's partial message is absent, a killed receiver's message is received again by the
//! next receiver handle.
//!
//! # Layout
//! Header and [`super::RingCtrl`], then `capacity` data bytes at [`super::DATA_OFFSET`]. Header:
//! `capacity` = data bytes (a multiple of 8; a power of two where layouts use 32-bit words, whose
//! positions wrap at 2^32), `msg_limit` = largest payload.

use super::{check_ring, PopError, PushError, RingCtrl, DATA_OFFSET, RING_ALIGN};
use crate::atomic::{Ordering, SignedWord, Word};
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams};
use crate::region::{align_up, Region};
use crate::time::Deadline;
use crate::wait::Wait;
use core::cell::Cell;

/// Largest message limit a byte ring accepts (the frame's length field is 32 bits).
pub const MAX_MSG_LIMIT: usize = (u32::MAX as usize) - 8;

/// Bytes a message of `len` payload bytes takes in the ring.
pub fn record_size(len: usize) -> Option<usize> {
    align_up(len, 8)?.checked_add(8)
}

/// A view of a byte ring. Not `Copy` or `Clone`: turn it into its ends with [`ByteRing::split`],
/// [`ByteRing::sender`] or [`ByteRing::receiver`] (each consumes the view), so one view yields at
/// most one sender and one receiver (see [`crate::queue::spsc::Spsc`] for the reasoning).
///
/// ```
/// use ringfork_core::queue::bytering::ByteRing;
/// use ringfork_core::{wait::DefaultWait, Deadline, Kind, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let region = Region::from_mut(&mut buf.0);
/// let ring = ByteRing::init::<DefaultWait>(region, Kind::ByteRing, 256, 64).unwrap();
/// let peer = ByteRing::attach::<DefaultWait>(region, Kind::ByteRing, Deadline::Immediate).unwrap();
/// let (mut tx, mut rx) = (ring.sender(), peer.receiver());
/// for msg in [&b"a"[..], b"bcd", b""] {
///     tx.try_send(msg).unwrap();
/// }
/// let mut out = [0u8; 64];
/// assert_eq!(rx.try_recv_into(&mut out), Ok(1));
/// assert_eq!(rx.try_recv_into(&mut out).map(|n| &out[..n]), Ok(&b"bcd"[..]));
/// assert_eq!(rx.try_recv_into(&mut out), Ok(0)); // empty messages are messages too
/// ```
pub struct ByteRing<'a> {
    ctrl: &'a RingCtrl,
    data: *mut u8,
    cap: Word,
    limit: usize,
}

// SAFETY: atomics plus byte copies between the position handshakes (see the module docs).
unsafe impl Send for ByteRing<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for ByteRing<'_> {}

impl core::fmt::Debug for ByteRing<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ByteRing")
            .field("capacity", &self.cap)
            .field("msg_limit", &self.limit)
            .finish()
    }
}

impl<'a> ByteRing<'a> {
    /// The data-area size actually used for a requested `capacity` and `msg_limit`: rounded up to a
    /// multiple of 8 and to at least one largest record. `None` if unrepresentable.
    pub fn data_capacity(capacity: usize, msg_limit: usize) -> Option<usize> {
        if msg_limit > MAX_MSG_LIMIT {
            return None;
        }
        let cap = align_up(capacity, 8)?.max(record_size(msg_limit)?);
        if crate::atomic::WORDS32 {
            // 32-bit positions wrap at 2^32: only a power-of-two data area maps every window of
            // consecutive positions to distinct bytes across the wrap.
            return cap.checked_next_power_of_two().filter(|&c| c <= 1 << 31);
        }
        Some(cap)
    }

    /// Bytes a ring needs (see [`Self::data_capacity`]).
    pub fn size(capacity: usize, msg_limit: usize) -> Option<usize> {
        DATA_OFFSET.checked_add(Self::data_capacity(capacity, msg_limit)?)
    }

    /// Alignment the region needs.
    pub fn align() -> usize {
        RING_ALIGN
    }

    /// Creates a byte ring of (at least) `capacity` data bytes whose messages hold up to `msg_limit`
    /// bytes, with `kind` in its header (`ByteRing`, or `Pipe` for a pipe direction).
    pub fn init<W: Wait>(region: Region<'a>, kind: Kind, capacity: usize, msg_limit: usize) -> Result<Self, InitError> {
        if capacity == 0 {
            return Err(InitError::InvalidParameter {
                name: "capacity",
                reason: "must be at least 1 byte",
            });
        }
        let cap = Self::data_capacity(capacity, msg_limit).ok_or(InitError::InvalidParameter {
            name: "msg_limit",
            reason: "message limit must be below 4 GiB and the ring must fit the address space",
        })?;
        let size = Self::size(capacity, msg_limit).ok_or(InitError::InvalidParameter {
            name: "capacity",
            reason: "overflows the address space",
        })?;
        let mut params = ObjectParams::new(kind, size as u64);
        params.capacity = cap as u64;
        params.msg_limit = msg_limit as u64;
        let claim = Header::claim(region, &params, RING_ALIGN)?;
        // SAFETY: claim checked size (>= DATA_OFFSET) and alignment.
        let ctrl = unsafe { RingCtrl::at(region) };
        ctrl.init();
        claim.publish::<W>();
        Ok(Self::view(region, ctrl, cap as Word, msg_limit))
    }

    /// Attaches to the byte ring at the start of `region` (of kind `kind`), validating its layout.
    pub fn attach<W: Wait>(region: Region<'a>, kind: Kind, deadline: Deadline) -> Result<Self, AttachError> {
        let header = Header::attach::<W>(region, kind, deadline)?;
        let cap = header.capacity();
        let limit = usize::try_from(header.msg_limit()).unwrap_or(usize::MAX);
        let pow2 = !crate::atomic::WORDS32 || cap.is_power_of_two();
        if cap == 0 || cap % 8 != 0 || !pow2 || cap > crate::atomic::widen(Word::MAX) || limit > MAX_MSG_LIMIT {
            return Err(AttachError::Corrupted {
                what: "byte ring capacity is 0, not a multiple of 8 (a power of two with 32-bit words) or too \
                       large, or its message limit is too large",
            });
        }
        let capu = usize::try_from(cap).map_err(|_| AttachError::Corrupted {
            what: "capacity too large",
        })?;
        if record_size(limit).is_none_or(|r| r > capu) {
            return Err(AttachError::Corrupted {
                what: "a largest message does not fit the byte ring",
            });
        }
        check_ring(region, header, DATA_OFFSET.checked_add(capu))?;
        // SAFETY: check_ring validated size >= DATA_OFFSET and alignment.
        let ctrl = unsafe { RingCtrl::at(region) };
        Ok(Self::view(region, ctrl, cap as Word, limit))
    }

    fn view(region: Region<'a>, ctrl: &'a RingCtrl, cap: Word, limit: usize) -> Self {
        ByteRing {
            ctrl,
            data: region.as_ptr().wrapping_add(DATA_OFFSET),
            cap,
            limit,
        }
    }

    /// The shared control block.
    pub fn ctrl(&self) -> &'a RingCtrl {
        self.ctrl
    }

    /// Data bytes.
    pub fn capacity(&self) -> usize {
        self.cap as usize
    }

    /// The largest message.
    pub fn msg_limit(&self) -> usize {
        self.limit
    }

    /// Bytes pending (frames included) at some instant during the call.
    pub fn pending_bytes(&self) -> usize {
        // Ordering: Acquire; a snapshot.
        let head = self.ctrl.head.load(Ordering::Acquire);
        let tail = self.ctrl.tail.load(Ordering::Acquire);
        // Signed, so a scribbled pair reads as 0 rather than full.
        (tail.wrapping_sub(head) as SignedWord).clamp(0, self.cap as SignedWord) as usize
    }

    /// Both ends: `(sender, receiver)`.
    pub fn split(self) -> (ByteSender<'a>, ByteReceiver<'a>) {
        let second = self.dup();
        (self.sender(), second.receiver())
    }

    /// A second view of the same ring, for this module's end constructors (and tests) only.
    #[inline]
    fn dup(&self) -> Self {
        ByteRing {
            ctrl: self.ctrl,
            data: self.data,
            cap: self.cap,
            limit: self.limit,
        }
    }

    /// The sending half (consumes the view).
    pub fn sender(self) -> ByteSender<'a> {
        // SAFETY: the view is consumed, so no other end comes from it.
        unsafe { self.sender_unchecked() }
    }

    /// The receiving half (consumes the view).
    pub fn receiver(self) -> ByteReceiver<'a> {
        // SAFETY: the view is consumed, so no other end comes from it.
        unsafe { self.receiver_unchecked() }
    }

    /// A sending half from a borrowed view, for owners that re-create their half (after `fork`).
    ///
    /// # Safety
    /// No other `ByteSender` of this ring may be used concurrently with the returned one in this
    /// process (two senders racing on one slot is a data race). An owner that hands out its half
    /// through `&mut self` only, and drops the previous half before making a new one, satisfies this.
    pub unsafe fn sender_unchecked(&self) -> ByteSender<'a> {
        // Ordering: Acquire pairs with both sides' Release stores.
        let tail = self.ctrl.tail.load(Ordering::Acquire) & !7;
        let cached_head = self.ctrl.head.load(Ordering::Acquire);
        ByteSender {
            ring: self.dup(),
            tail,
            cached_head,
        }
    }

    /// A receiving half from a borrowed view (see [`ByteRing::sender_unchecked`]).
    ///
    /// # Safety
    /// As for [`ByteRing::sender_unchecked`], for receivers.
    pub unsafe fn receiver_unchecked(&self) -> ByteReceiver<'a> {
        // Ordering: as `sender`.
        let head = self.ctrl.head.load(Ordering::Acquire) & !7;
        let cached_tail = self.ctrl.tail.load(Ordering::Acquire);
        ByteReceiver {
            ring: self.dup(),
            head,
            cached_tail,
        }
    }

    /// Copies `len` bytes from `src` into the data area at byte position `pos`, wrapping.
    ///
    /// # Safety
    /// `src` is readable for `len <= cap` bytes, and the bytes `pos..pos+len` (mod cap) are owned by
    /// the caller.
    unsafe fn write_at(&self, pos: Word, src: *const u8, len: usize) {
        let off = (pos % self.cap) as usize;
        let first = len.min(self.cap as usize - off);
        // SAFETY: off < cap and off + first <= cap; the rest (< cap) goes at the start; caller owns them.
        unsafe {
            core::ptr::copy_nonoverlapping(src, self.data.add(off), first);
            core::ptr::copy_nonoverlapping(src.add(first), self.data, len - first);
        }
    }

    /// Copies from byte position `pos` into `dst`, wrapping.
    ///
    /// # Safety
    /// `dst.len() <= cap`, and the bytes were published to the caller.
    unsafe fn read_at(&self, pos: Word, dst: &mut [u8]) {
        let off = (pos % self.cap) as usize;
        let first = dst.len().min(self.cap as usize - off);
        // SAFETY: as in `write_at`.
        unsafe {
            core::ptr::copy_nonoverlapping(self.data.add(off), dst.as_mut_ptr(), first);
            core::ptr::copy_nonoverlapping(self.data, dst.as_mut_ptr().add(first), dst.len() - first);
        }
    }

    /// Closes the ring (see [`super::blocking::Control::close`]).
    pub fn close<W: Wait>(&self) {
        self.ctrl.control.close::<W>();
    }
}

/// The sending half of a [`ByteRing`].
///
/// ```
/// use ringfork_core::queue::{bytering::ByteRing, PushError};
/// use ringfork_core::{wait::DefaultWait, Kind, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = ByteRing::init::<DefaultWait>(Region::from_mut(&mut buf.0), Kind::ByteRing, 64, 16).unwrap();
/// let (mut tx, _rx) = ring.split();
/// tx.try_send(b"hello").unwrap(); // an 8-byte frame, then 5 bytes rounded up to 8
/// assert_eq!(tx.ring().pending_bytes(), 16);
/// assert_eq!(tx.try_send(&[0; 17]), Err(PushError::TooLarge { len: 17, limit: 16 }));
/// while tx.try_send(b"x").is_ok() {}
/// assert_eq!(tx.try_send(b"x"), Err(PushError::Full));
/// ```
#[derive(Debug)]
pub struct ByteSender<'a> {
    ring: ByteRing<'a>,
    tail: Word,
    cached_head: Word,
}

impl<'a> ByteSender<'a> {
    /// The ring this end belongs to (a borrowed view cannot make another end).
    pub fn ring(&self) -> &ByteRing<'a> {
        &self.ring
    }

    /// Sends `msg` if it fits now (never blocks, never wakes anyone).
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), PushError> {
        // SAFETY: a slice is readable for its length.
        unsafe { self.try_send_raw(msg.as_ptr(), msg.len()) }
    }

    /// [`Self::try_send`] from raw memory (e.g. the bytes of a `ShmSafe` value, padding included,
    /// which must not be viewed as a `&[u8]`).
    ///
    /// # Safety
    /// `src` is readable for `len` bytes.
    pub unsafe fn try_send_raw(&mut self, src: *const u8, len: usize) -> Result<(), PushError> {
        let r = &self.ring;
        if len > r.limit {
            return Err(PushError::TooLarge { len, limit: r.limit });
        }
        // record_size cannot overflow: len <= limit <= MAX_MSG_LIMIT.
        let need = record_size(len).unwrap_or(usize::MAX) as Word;
        let used = self.tail.wrapping_sub(self.cached_head);
        if used > r.cap || r.cap - used < need {
            // Ordering: Acquire pairs with the receiver's Release store of `head`.
            self.cached_head = r.ctrl.head.load(Ordering::Acquire);
            let used = self.tail.wrapping_sub(self.cached_head);
            if used > r.cap {
                return Err(PushError::Corrupted);
            }
            if r.cap - used < need {
                return Err(PushError::Full);
            }
        }
        let len32 = len as u32;
        let frame = ((u64::from(!len32) << 32) | u64::from(len32)).to_le_bytes();
        // SAFETY: need <= free bytes, so tail..tail+need (mod cap) is ours; 8 + len <= need <= cap;
        // `src` is readable for len bytes (caller).
        unsafe {
            r.write_at(self.tail, frame.as_ptr(), 8);
            r.write_at(self.tail.wrapping_add(8), src, len);
        }
        self.tail = self.tail.wrapping_add(need);
        // Ordering: Release publishes the record to the receiver's Acquire load of `tail`. Commit.
        r.ctrl.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Sends `msg`, waiting (through `W`) for room until `deadline`; wakes a sleeping receiver.
    /// Fails with [`PushError::Closed`] if the ring is closed or every registered receiver died.
    pub fn send<W: Wait>(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), PushError> {
        let ctrl = self.ring.ctrl;
        if ctrl.control.is_closed() {
            return Err(PushError::Closed);
        }
        ctrl.control.push_wait::<W, ()>(
            Some(&ctrl.consumers),
            deadline,
            &Cell::new(false),
            || self.try_send(msg),
            || {},
        )?;
        ctrl.control.not_empty.notify_one::<W>();
        Ok(())
    }
}

/// The receiving half of a [`ByteRing`].
///
/// ```
/// use ringfork_core::queue::{bytering::ByteRing, PopError};
/// use ringfork_core::{wait::DefaultWait, Kind, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = ByteRing::init::<DefaultWait>(Region::from_mut(&mut buf.0), Kind::ByteRing, 64, 16).unwrap();
/// let (mut tx, mut rx) = ring.split();
/// tx.try_send(b"hello").unwrap();
/// assert_eq!(rx.next_len(), Ok(5));
/// let mut small = [0u8; 2];
/// assert_eq!(rx.try_recv_into(&mut small), Err(PopError::BufferTooSmall { needed: 5 })); // stays queued
/// let mut out = [0u8; 16];
/// assert_eq!(rx.try_recv_into(&mut out).map(|n| &out[..n]), Ok(&b"hello"[..]));
/// assert_eq!(rx.try_recv_into(&mut out), Err(PopError::Empty));
/// ```
#[derive(Debug)]
pub struct ByteReceiver<'a> {
    ring: ByteRing<'a>,
    head: Word,
    cached_tail: Word,
}

impl<'a> ByteReceiver<'a> {
    /// The ring this end belongs to (a borrowed view cannot make another end).
    pub fn ring(&self) -> &ByteRing<'a> {
        &self.ring
    }

    /// The length of the next message, if one is pending (never blocks).
    pub fn next_len(&mut self) -> Result<usize, PopError> {
        let r = &self.ring;
        let mut avail = self.cached_tail.wrapping_sub(self.head);
        if avail == 0 || avail > r.cap {
            // Ordering: Acquire pairs with the sender's Release store of `tail`.
            self.cached_tail = r.ctrl.tail.load(Ordering::Acquire);
            avail = self.cached_tail.wrapping_sub(self.head);
            if avail == 0 {
                return Err(PopError::Empty);
            }
        }
        let mut frame = [0u8; 8];
        if avail > r.cap || avail < 8 || avail % 8 != 0 {
            return Err(self.resync());
        }
        // SAFETY: 8 <= avail published bytes.
        unsafe { r.read_at(self.head, &mut frame) };
        let frame = u64::from_le_bytes(frame);
        let len = frame as u32;
        let check = (frame >> 32) as u32;
        let len_us = len as usize;
        if check != !len || len_us > r.limit || record_size(len_us).is_none_or(|n| n as Word > avail) {
            return Err(self.resync());
        }
        Ok(len_us)
    }

    /// Discards everything pending after a corrupted frame.
    #[cold]
    fn resync(&mut self) -> PopError {
        // Ordering: Acquire, as in `next_len`.
        let tail = self.ring.ctrl.tail.load(Ordering::Acquire) & !7;
        self.head = tail;
        self.cached_tail = tail;
        // Ordering: Release, as a normal commit.
        self.ring.ctrl.head.store(tail, Ordering::Release);
        PopError::Corrupted
    }

    /// Receives the next message into `buf` (never blocks, never wakes anyone); returns its length.
    /// A buffer shorter than the message fails with [`PopError::BufferTooSmall`] and leaves it queued.
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, PopError> {
        let len = self.next_len()?;
        if buf.len() < len {
            return Err(PopError::BufferTooSmall { needed: len });
        }
        // SAFETY: next_len checked 8 + len <= published bytes.
        unsafe { self.ring.read_at(self.head.wrapping_add(8), &mut buf[..len]) };
        self.head = self.head.wrapping_add(record_size(len).unwrap_or(0) as Word);
        // Ordering: Release orders our reads before the sender reuses the bytes. Commit.
        self.ring.ctrl.head.store(self.head, Ordering::Release);
        Ok(len)
    }

    /// Receives into `buf`, waiting (through `W`) until `deadline`; wakes a sleeping sender. Fails
    /// with [`PopError::Closed`] once closed and drained, [`PopError::Disconnected`] once empty with
    /// every registered sender dead.
    pub fn recv_into<W: Wait>(&mut self, buf: &mut [u8], deadline: Deadline) -> Result<usize, PopError> {
        let ctrl = self.ring.ctrl;
        let n = ctrl.control.pop_wait::<W, usize>(
            Some(&ctrl.producers),
            deadline,
            &Cell::new(false),
            || self.try_recv_into(buf),
            || {},
        )?;
        ctrl.control.not_full.notify_one::<W>();
        Ok(n)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wait::Spin;
    use std::vec;
    use std::vec::Vec;

    use super::super::test_region as region;

    /// Byte positions crossing the top of the word (2^64, or 2^32 with 32-bit words).
    #[test]
    fn positions_wrap_around_the_word() {
        use crate::atomic::Word;
        let limit = 24;
        let mut mem = vec![0u8; ByteRing::size(64, limit).unwrap() + RING_ALIGN];
        let r = ByteRing::init::<Spin>(region(&mut mem), Kind::ByteRing, 64, limit).unwrap();
        let start = (Word::MAX - 200) & !7;
        // Ordering: Relaxed; single-threaded setup before any handle exists.
        r.ctrl().head.store(start, Ordering::Relaxed);
        r.ctrl().tail.store(start, Ordering::Relaxed);
        let mut buf = [0u8; 24];
        for i in 0..100usize {
            let (mut s, mut rx) = (r.dup().sender(), r.dup().receiver());
            let msg: Vec<u8> = (0..i % (limit + 1)).map(|k| (k + i) as u8).collect();
            s.try_send(&msg).unwrap();
            assert_eq!(rx.try_recv_into(&mut buf), Ok(msg.len()));
            assert_eq!(&buf[..msg.len()], &msg[..]);
        }
        assert!(r.ctrl().head.load(Ordering::Relaxed) < start, "the positions wrapped");
    }

    #[test]
    fn edge_sizes_and_wraparound() {
        let limit = 100;
        let mut mem = vec![0u8; ByteRing::size(300, limit).unwrap() + RING_ALIGN];
        let r = ByteRing::init::<Spin>(region(&mut mem), Kind::ByteRing, 300, limit).unwrap();
        assert_eq!(r.capacity(), 304);
        let (mut s, mut rx) = (r.dup().sender(), r.dup().receiver());
        let mut buf = vec![0u8; limit];
        for len in [0, 1, limit - 1, limit] {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            s.try_send(&msg).unwrap();
            assert_eq!(rx.try_recv_into(&mut buf), Ok(len));
            assert_eq!(&buf[..len], &msg[..]);
        }
        assert_eq!(
            s.try_send(&vec![0u8; limit + 1]),
            Err(PushError::TooLarge { len: limit + 1, limit })
        );
        // Pseudo-random sizes force many wrap-arounds; contents are checked byte for byte.
        let mut x = 12345u32;
        let mut sent = std::collections::VecDeque::new();
        for _ in 0..5000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let len = (x >> 16) as usize % (limit + 1);
            let msg: Vec<u8> = (0..len).map(|i| (i as u32 ^ x) as u8).collect();
            match s.try_send(&msg) {
                Ok(()) => sent.push_back(msg),
                Err(PushError::Full) => {
                    let want = sent.pop_front().unwrap();
                    let n = rx.try_recv_into(&mut buf).unwrap();
                    assert_eq!(&buf[..n], &want[..]);
                }
                Err(e) => panic!("{e}"),
            }
        }
        let mut small = [0u8; 0];
        while let Some(want) = sent.pop_front() {
            if !want.is_empty() {
                assert_eq!(
                    rx.try_recv_into(&mut small),
                    Err(PopError::BufferTooSmall { needed: want.len() })
                );
            }
            let n = rx.try_recv_into(&mut buf).unwrap();
            assert_eq!(&buf[..n], &want[..]);
        }
        assert_eq!(rx.try_recv_into(&mut buf), Err(PopError::Empty));
        assert!(ByteRing::attach::<Spin>(region(&mut mem), Kind::Pipe, Deadline::Immediate).is_err());
    }

    #[test]
    fn corrupted_frame_is_reported_and_skipped() {
        let mut mem = vec![0u8; ByteRing::size(256, 64).unwrap() + RING_ALIGN];
        let reg = region(&mut mem);
        let r = ByteRing::init::<Spin>(reg, Kind::ByteRing, 256, 64).unwrap();
        let (mut s, mut rx) = (r.dup().sender(), r.dup().receiver());
        s.try_send(b"hello").unwrap();
        // Scribble over the frame header.
        // SAFETY: DATA_OFFSET is inside the region.
        unsafe { reg.as_ptr().add(DATA_OFFSET).write_volatile(0xff) };
        let mut buf = [0u8; 64];
        assert_eq!(rx.try_recv_into(&mut buf), Err(PopError::Corrupted));
        s.try_send(b"again").unwrap();
        assert_eq!(rx.try_recv_into(&mut buf), Ok(5));
        assert_eq!(&buf[..5], b"again");
    }
}
