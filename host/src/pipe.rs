//! [`pipe`]: Python's `multiprocessing.Pipe` on shared-memory byte rings
//! ([`ringfork_core::queue::bytering`]), one ring per direction.
//!
//! ```
//! let (mut a, mut b) = ringfork::pipe(true)?;
//! a.send_bytes(b"ping")?;
//! assert_eq!(b.recv_bytes()?, b"ping");
//! b.send(&vec![String::from("hello"), String::from("世界")])?; // any serde type, any size
//! assert_eq!(a.recv::<Vec<String>>()?, vec!["hello", "世界"]);
//! b.send_plain(&42u64)?; // plain data: its own bytes, no encoding
//! assert_eq!(a.recv_plain::<u64>()?, 42);
//! let (mut r, mut w) = ringfork::pipe(false)?; // simplex: r receives, w sends
//! assert_eq!(r.send_bytes(b"x"), Err(ringfork::PipeError::NotWritable));
//! w.close();
//! assert_eq!(r.recv_bytes(), Err(ringfork::PipeError::Eof));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Ends and processes
//! A [`Connection`] is one end. It is not `Clone`: move it into the child that uses it (as Python's
//! `Pipe` ends are inherited). As in Python, two processes must not use the *same* end at the same
//! time (the messages would be corrupted, never memory outside the ring); using it from one process
//! after another is fine: after a `fork` the end re-reads the ring's positions.
//!
//! # End of file and dead peers
//! `recv` on an empty pipe fails with [`PipeError::Eof`] once the other end called
//! [`Connection::close`], and with [`PipeError::Disconnected`] within about 50 ms once no live
//! process other than the caller *holds* the other end (and the caller has no other thread that
//! could send on it). A process holds an end from the moment it has the [`Connection`]: the creator
//! at once, a forked child from the fork (its parent registers it before it runs), until the
//! `Connection` is dropped or the process exits — so a holder killed before it ever used its end is
//! still a death `recv` reports, as an OS pipe would give EOF. Messages sent before either event are
//! still received first.
//!
//! # Typed messages
//! [`Connection::send`] / [`Connection::recv`] carry any serde type, encoded with postcard. A message
//! that fits the pipe's message limit takes one frame (`0x01`, then the encoding); a larger one is
//! streamed: a first frame (`0x02`, the total length as a little-endian `u64`, the first bytes), then
//! continuation frames (`0x03`, the next bytes) in order — a direction has one sending end, so a
//! message's frames are contiguous. The receiver reserves the total up front (at most
//! [`MAX_MESSAGE`]; a larger claim is refused) and decodes once the last frame is in. A sender killed
//! mid-stream loses only that message: the receiver drops the partial bytes and reports
//! [`PipeError::Disconnected`] (or, if a new message starts instead, carries on with it); a timeout
//! mid-stream keeps the partial message for the next call. A frame that fits no message is
//! [`PipeError::BadFrame`] and bytes that do not decode as the requested type are
//! [`PipeError::Decode`], on that call only: the next message is received normally. Typed frames and
//! `send_bytes` messages must not be mixed in one direction (a raw message read by `recv` is a
//! `BadFrame` or a `Decode` error, never undefined behaviour).

use crate::queue::deadline;
use crate::queue::registration::{fork_generation, Hold};
use crate::segment::{Segment, SegmentError};
use ringfork_core::queue::bytering::{ByteReceiver, ByteRing, ByteSender};
use ringfork_core::queue::peers::SideState;
use ringfork_core::queue::{PopError, PushError, DATA_OFFSET, RING_ALIGN};
use ringfork_core::wait::DefaultWait;
use ringfork_core::{Deadline, Kind, ShmSafe};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::Cell;
use std::fmt;
use std::time::Duration;

/// Data bytes per direction of a [`pipe`].
pub const DEFAULT_PIPE_CAPACITY: usize = 1 << 18;
/// Largest message of a [`pipe`].
pub const DEFAULT_MSG_LIMIT: usize = 1 << 16;
/// Largest encoded message [`Connection::send`] streams and [`Connection::recv`] accepts (1 GiB):
/// a peer claiming more is refused rather than trusted with an allocation.
pub const MAX_MESSAGE: usize = 1 << 30;

/// Frame kinds of typed messages (see the module docs).
const FRAME_WHOLE: u8 = 0x01;
const FRAME_FIRST: u8 = 0x02;
const FRAME_CONT: u8 = 0x03;
/// Bytes before the data in a first frame: kind + total length.
const FIRST_HEADER: usize = 1 + 8;

/// Why a pipe operation failed.
///
/// ```
/// use ringfork::{pipe_with, PipeError};
/// use std::time::Duration;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let (mut a, mut b) = pipe_with(true, 4096, 16)?; // messages of at most 16 bytes
///     assert_eq!(a.send_bytes(&[0; 17]), Err(PipeError::TooLarge { len: 17, limit: 16 }));
///     assert_eq!(b.recv_bytes_timeout(Duration::from_millis(10)), Err(PipeError::TimedOut));
///     a.send_plain(&7u32)?;
///     assert_eq!(b.recv_plain::<u64>(), Err(PipeError::WrongSize { expected: 8, found: 4 }));
///     a.send(&7u64)?;
///     assert_eq!(b.recv::<String>(), Err(PipeError::Decode));
///     a.send("ok")?; // the next message is fine
///     assert_eq!(b.recv::<String>()?, "ok");
///     a.close();
///     assert_eq!(b.recv_bytes(), Err(PipeError::Eof)); // Python's EOFError
///     assert_eq!(b.send_bytes(b"hi"), Err(PipeError::BrokenPipe));
///     Ok(())
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PipeError {
    /// The other end was closed and everything it sent has been received (Python's `EOFError`).
    #[doc(alias = "EOFError")]
    Eof,
    /// Nothing is left and no live process other than this one holds the other end.
    Disconnected,
    /// This end was closed; it cannot be used any more.
    Closed,
    /// The other end is closed or no live process other than this one holds it: nobody will read this message
    /// (Python's `BrokenPipeError`).
    #[doc(alias = "BrokenPipeError")]
    BrokenPipe,
    /// This is the receive-only end of a simplex pipe.
    NotWritable,
    /// This is the send-only end of a simplex pipe.
    NotReadable,
    /// The message is longer than the pipe's message limit (raw and plain messages), or a typed
    /// message's encoding is longer than [`MAX_MESSAGE`].
    TooLarge {
        /// Message length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The timeout passed.
    TimedOut,
    /// A `recv_plain::<T>` found a message of another size.
    WrongSize {
        /// `size_of::<T>()`.
        expected: usize,
        /// The message's length (the message was consumed).
        found: usize,
    },
    /// The ring's shared state was corrupted by a process writing over it; pending data was dropped.
    Corrupted,
    /// `send` could not encode the value (its `Serialize` impl failed, or it is a sequence of
    /// unknown length, which postcard cannot encode).
    Encode,
    /// `recv::<T>` received a message whose bytes do not decode as a `T` (the message was consumed).
    Decode,
    /// `recv` received a frame that fits no message (a raw `send_bytes` message, garbage, or a claimed
    /// length above [`MAX_MESSAGE`]); it was discarded with the rest of its message.
    BadFrame,
}

impl fmt::Display for PipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PipeError::Eof => f.write_str("end of file: the other end closed the pipe and nothing is left"),
            PipeError::Disconnected => {
                f.write_str("disconnected: nothing is left and every process at the other end has exited")
            }
            PipeError::Closed => f.write_str("this end of the pipe is closed"),
            PipeError::BrokenPipe => f.write_str("broken pipe: the other end is closed or its process exited"),
            PipeError::NotWritable => {
                f.write_str("this is the receive-only end of a simplex pipe; send on the other end")
            }
            PipeError::NotReadable => {
                f.write_str("this is the send-only end of a simplex pipe; receive on the other end")
            }
            PipeError::TooLarge { len, limit } => write!(
                f,
                "message of {len} bytes exceeds the limit of {limit} bytes; raw and plain messages: create the \
                 pipe with `pipe_with` and a larger limit, or use `send`, which streams messages up to 1 GiB"
            ),
            PipeError::TimedOut => f.write_str("timed out"),
            PipeError::WrongSize { expected, found } => write!(
                f,
                "received a message of {found} bytes where a value of {expected} bytes was expected; both ends \
                 must agree on the type"
            ),
            PipeError::Corrupted => f.write_str("the pipe's shared state was corrupted; pending data was discarded"),
            PipeError::Encode => f.write_str(
                "the value could not be encoded: its Serialize impl failed or it is a sequence of unknown length",
            ),
            PipeError::Decode => f.write_str(
                "the received message does not decode as the requested type; both ends must agree on the type",
            ),
            PipeError::BadFrame => f.write_str(
                "received a frame that is not part of a well-formed typed message (raw `send_bytes` data, \
                 garbage, or a length above 1 GiB); it was discarded",
            ),
        }
    }
}

impl std::error::Error for PipeError {}

/// One end of a pipe. See the module docs.
///
/// Move one end into a child and talk to it:
///
/// ```
/// use ringfork::{pipe, Process};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let (mut here, mut there) = pipe(true)?;
///     let mut p = Process::new(move || {
///         let n: u64 = there.recv().expect("a number from the parent");
///         there.send(&(n * 2)).expect("the parent reads the answer");
///     });
///     p.start()?;
///     here.send(&21u64)?;
///     assert_eq!(here.recv::<u64>()?, 42);
///     p.join()?;
///     assert_eq!(p.exitcode(), Some(0));
///     Ok(())
/// }
/// ```
pub struct Connection {
    // Field order: the rings, halves and holds borrow the mapping `seg` keeps alive.
    rx: Option<(ByteRing<'static>, Option<ByteReceiver<'static>>)>,
    tx: Option<(ByteRing<'static>, Option<ByteSender<'static>>)>,
    /// This process's holds: consumer side of `rx`'s ring, producer side of `tx`'s.
    holds: Vec<Hold>,
    gen: u32,
    closed: bool,
    /// A typed message being reassembled (see the module docs).
    partial: Partial,
    seg: Segment,
}

/// Receive-side state of a streamed typed message.
enum Partial {
    /// Between messages.
    Idle,
    /// Frames of a message of `total` bytes are arriving.
    Filling { buf: Vec<u8>, total: usize },
    /// The rest of a refused message: its continuation frames are dropped.
    Skipping,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.rx.is_some())
            .field("writable", &self.tx.is_some())
            .field("closed", &self.closed)
            .finish()
    }
}

/// A pipe with the default capacity and message limit: `(conn1, conn2)`. With `duplex` both ends
/// send and receive; otherwise `conn1` only receives and `conn2` only sends (as in Python).
#[doc(alias = "Pipe")]
pub fn pipe(duplex: bool) -> Result<(Connection, Connection), SegmentError> {
    pipe_with(duplex, DEFAULT_PIPE_CAPACITY, DEFAULT_MSG_LIMIT)
}

/// A pipe whose directions hold `capacity` data bytes each and carry messages of up to `msg_limit`
/// bytes (the capacity is rounded up to fit one largest message).
pub fn pipe_with(duplex: bool, capacity: usize, msg_limit: usize) -> Result<(Connection, Connection), SegmentError> {
    let bad = |reason| {
        SegmentError::ObjectInit(ringfork_core::InitError::InvalidParameter {
            name: "capacity",
            reason,
        })
    };
    let size = ByteRing::size(capacity, msg_limit).ok_or(bad("capacity or message limit too large"))?;
    let n = if duplex { 2 } else { 1 };
    let seg = Segment::anonymous((size + RING_ALIGN) * n)?;
    let make = |name: &str| -> Result<ByteRing<'static>, SegmentError> {
        // SAFETY: every Connection stores a clone of `seg`.
        let region = unsafe { crate::handle::place(&seg, Kind::Pipe, name, size, RING_ALIGN)? };
        ByteRing::init::<DefaultWait>(region, Kind::Pipe, capacity, msg_limit).map_err(SegmentError::ObjectInit)
    };
    let to1 = make("to1")?;
    let to2 = if duplex { Some(make("to2")?) } else { None };
    debug_assert!(DATA_OFFSET < size);
    // Each end gets its own view of each ring (views are not Copy: one view, one role).
    let again = |name: &str| -> Result<ByteRing<'static>, SegmentError> {
        // SAFETY: as for `make`.
        let region = unsafe { crate::handle::locate(&seg, name)? };
        ByteRing::attach::<DefaultWait>(region, Kind::Pipe, Deadline::Immediate)
            .map_err(|e| crate::handle::attach_err(&seg, e))
    };
    let to1b = again("to1")?;
    let to2b = if duplex { Some(again("to2")?) } else { None };
    let c1 = Connection::new(Some(to1), to2, &seg);
    let c2 = Connection::new(to2b, Some(to1b), &seg);
    Ok((c1, c2))
}

/// Decodes one whole typed message: all of `bytes`, or [`PipeError::Decode`].
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PipeError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Ok(v),
        _ => Err(PipeError::Decode),
    }
}

fn pop_err(e: PopError) -> PipeError {
    match e {
        PopError::Closed => PipeError::Eof,
        PopError::Disconnected => PipeError::Disconnected,
        PopError::TimedOut | PopError::Empty => PipeError::TimedOut,
        _ => PipeError::Corrupted,
    }
}

fn push_err(e: PushError) -> PipeError {
    match e {
        PushError::Closed => PipeError::BrokenPipe,
        PushError::TimedOut | PushError::Full => PipeError::TimedOut,
        PushError::TooLarge { len, limit } => PipeError::TooLarge { len, limit },
        _ => PipeError::Corrupted,
    }
}

impl Connection {
    fn new(rx: Option<ByteRing<'static>>, tx: Option<ByteRing<'static>>, seg: &Segment) -> Connection {
        let holds = rx
            .iter()
            .map(|r| Hold::new(&r.ctrl().consumers))
            .chain(tx.iter().map(|t| Hold::new(&t.ctrl().producers)))
            .collect();
        Connection {
            holds,
            rx: rx.map(|r| (r, None)),
            tx: tx.map(|r| (r, None)),
            gen: 0,
            closed: false,
            partial: Partial::Idle,
            seg: seg.clone(),
        }
    }

    /// (Re)loads the halves, on first use and after a fork (the process is registered as a holder
    /// from the moment it has the end: see the module docs).
    #[inline]
    fn refresh(&mut self) -> Result<(), PipeError> {
        if self.closed {
            return Err(PipeError::Closed);
        }
        let gen = fork_generation();
        if gen != self.gen {
            self.gen = gen;
            if let Some((ring, half)) = &mut self.rx {
                // SAFETY: this Connection is the only user of its half: halves are used through
                // `&mut self` only, and the previous half (the parent's, before a fork) is replaced.
                *half = Some(unsafe { ring.receiver_unchecked() });
            }
            if let Some((ring, half)) = &mut self.tx {
                // SAFETY: as for the receiver above.
                *half = Some(unsafe { ring.sender_unchecked() });
            }
            for h in &self.holds {
                // A child forked behind the process layer's back registers here (see `Hold::id`).
                let _ = h.id();
            }
        }
        Ok(())
    }

    /// Sends `len` bytes at `src`.
    ///
    /// # Safety
    /// `src` is readable for `len` bytes.
    unsafe fn send_raw(&mut self, src: *const u8, len: usize, deadline: Deadline) -> Result<(), PipeError> {
        self.refresh()?;
        let Some((ring, Some(tx))) = &mut self.tx else {
            return Err(PipeError::NotWritable);
        };
        let ctrl = ring.ctrl();
        if ctrl.control.is_closed() {
            return Err(PipeError::BrokenPipe);
        }
        let try_send = || {
            // SAFETY: `src` is readable for `len` bytes (forwarded from the caller).
            unsafe { tx.try_send_raw(src, len) }
        };
        ctrl.control
            .push_wait::<DefaultWait, ()>(Some(&ctrl.consumers), deadline, &Cell::new(false), try_send, || {})
            .map_err(push_err)?;
        ctrl.control.not_empty.notify_one::<DefaultWait>();
        Ok(())
    }

    /// Sends one message, waiting for room as long as it takes.
    pub fn send_bytes(&mut self, msg: &[u8]) -> Result<(), PipeError> {
        // SAFETY: a slice is readable for its length.
        unsafe { self.send_raw(msg.as_ptr(), msg.len(), Deadline::Never) }
    }

    /// Sends one message, waiting at most `timeout` for room.
    pub fn send_bytes_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), PipeError> {
        // SAFETY: a slice is readable for its length.
        unsafe { self.send_raw(msg.as_ptr(), msg.len(), deadline(Some(timeout))) }
    }

    /// Sends any serde value, of any size up to [`MAX_MESSAGE`] encoded bytes (receive it with
    /// [`Self::recv`]): postcard-encoded, in one frame or streamed (see the module docs). Waits for
    /// room as long as it takes.
    pub fn send<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), PipeError> {
        let (body, limit) = self.encode(v)?;
        Self::each_frame(&body, limit, |frame| self.send_bytes(frame))
    }

    /// `v` encoded for sending, with the sending ring's message limit; the checks of [`Self::send`]
    /// (closed, not writable, encoding, too large) done.
    fn encode<T: Serialize + ?Sized>(&self, v: &T) -> Result<(Vec<u8>, usize), PipeError> {
        if self.closed {
            return Err(PipeError::Closed);
        }
        let Some((ring, _)) = &self.tx else {
            return Err(PipeError::NotWritable);
        };
        let limit = ring.msg_limit();
        let body = postcard::to_allocvec(v).map_err(|_| PipeError::Encode)?;
        if body.len() < limit {
            return Ok((body, limit));
        }
        if body.len() > MAX_MESSAGE {
            return Err(PipeError::TooLarge {
                len: body.len(),
                limit: MAX_MESSAGE,
            });
        }
        if limit <= FIRST_HEADER {
            // Not even one data byte fits beside a first frame's header.
            return Err(PipeError::TooLarge {
                len: body.len(),
                limit: limit.saturating_sub(1),
            });
        }
        Ok((body, limit))
    }

    /// Hands the frames of the encoded message `body` to `emit`, in order: one whole frame if it fits
    /// the ring's message `limit`, else a first frame (with the total length) and continuations (see
    /// the module docs). `body` and `limit` come from [`Self::encode`].
    fn each_frame(
        body: &[u8],
        limit: usize,
        mut emit: impl FnMut(&[u8]) -> Result<(), PipeError>,
    ) -> Result<(), PipeError> {
        if body.len() < limit {
            let mut frame = Vec::with_capacity(1 + body.len());
            frame.push(FRAME_WHOLE);
            frame.extend_from_slice(body);
            return emit(&frame);
        }
        let mut frame = Vec::with_capacity(limit);
        frame.push(FRAME_FIRST);
        frame.extend_from_slice(&(body.len() as u64).to_le_bytes());
        let first = limit - FIRST_HEADER;
        frame.extend_from_slice(&body[..first]);
        emit(&frame)?;
        for chunk in body[first..].chunks(limit - 1) {
            frame.clear();
            frame.push(FRAME_CONT);
            frame.extend_from_slice(chunk);
            emit(&frame)?;
        }
        Ok(())
    }

    /// The frames [`Self::send`] would send for `v`, in order (for `crate::aio`, which sends them one
    /// at a time without blocking).
    #[cfg(feature = "async")]
    pub(crate) fn frames<T: Serialize + ?Sized>(&self, v: &T) -> Result<Vec<Vec<u8>>, PipeError> {
        let (body, limit) = self.encode(v)?;
        let mut frames = Vec::new();
        Self::each_frame(&body, limit, |frame| {
            frames.push(frame.to_vec());
            Ok(())
        })?;
        Ok(frames)
    }

    /// The control blocks of the receiving and sending rings, and the segment they live in (for
    /// `crate::aio`).
    #[cfg(feature = "async")]
    pub(crate) fn rings(
        &self,
    ) -> (
        Option<&'static ringfork_core::queue::RingCtrl>,
        Option<&'static ringfork_core::queue::RingCtrl>,
        &Segment,
    ) {
        (
            self.rx.as_ref().map(|(r, _)| r.ctrl()),
            self.tx.as_ref().map(|(r, _)| r.ctrl()),
            &self.seg,
        )
    }

    /// Sends a plain-data value as its `size_of::<T>()` bytes, with no encoding step (receive it
    /// with [`Self::recv_plain`]).
    pub fn send_plain<T: ShmSafe>(&mut self, v: &T) -> Result<(), PipeError> {
        // SAFETY: `v` is readable for size_of::<T>() bytes (copied raw, padding included).
        unsafe { self.send_raw(v as *const T as *const u8, std::mem::size_of::<T>(), Deadline::Never) }
    }

    fn recv_deadline(&mut self, out: &mut Vec<u8>, deadline: Deadline) -> Result<usize, PipeError> {
        self.refresh()?;
        let Some((ring, Some(rx))) = &mut self.rx else {
            return Err(PipeError::NotReadable);
        };
        let ctrl = ring.ctrl();
        let n = ctrl
            .control
            .pop_wait::<DefaultWait, usize>(
                Some(&ctrl.producers),
                deadline,
                &Cell::new(false),
                || {
                    let len = rx.next_len()?;
                    if out.len() < len {
                        out.resize(len, 0);
                    }
                    rx.try_recv_into(out)
                },
                || {},
            )
            .map_err(pop_err)?;
        ctrl.control.not_full.notify_one::<DefaultWait>();
        out.truncate(n);
        Ok(n)
    }

    /// Receives one message, waiting as long as it takes (or until [`PipeError::Eof`] /
    /// [`PipeError::Disconnected`]).
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>, PipeError> {
        let mut v = Vec::new();
        self.recv_deadline(&mut v, Deadline::Never)?;
        Ok(v)
    }

    /// Receives one message, waiting at most `timeout` ([`PipeError::TimedOut`]).
    pub fn recv_bytes_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, PipeError> {
        let mut v = Vec::new();
        self.recv_deadline(&mut v, deadline(Some(timeout)))?;
        Ok(v)
    }

    /// Receives one message into `buf` (resized to the message), reusing its allocation.
    pub fn recv_bytes_into(&mut self, buf: &mut Vec<u8>) -> Result<usize, PipeError> {
        self.recv_deadline(buf, Deadline::Never)
    }

    /// Receives a value sent with [`Self::send`], waiting as long as it takes (or until
    /// [`PipeError::Eof`] / [`PipeError::Disconnected`]). Bytes that do not decode as a `T` are
    /// [`PipeError::Decode`]; the next message is received normally.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, PipeError> {
        self.recv_message(Deadline::Never)
    }

    /// Receives a value sent with [`Self::send`], waiting at most `timeout` for the whole message
    /// ([`PipeError::TimedOut`]; a message partly received is kept for the next call; Python:
    /// `poll(timeout)` then `recv()`).
    pub fn recv_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T, PipeError> {
        self.recv_message(deadline(Some(timeout)))
    }

    fn recv_message<T: DeserializeOwned>(&mut self, deadline: Deadline) -> Result<T, PipeError> {
        let mut frame = Vec::new();
        loop {
            if let Err(e) = self.recv_deadline(&mut frame, deadline) {
                if e != PipeError::TimedOut {
                    // The sender is gone or closed mid-message: that message is lost.
                    self.partial = Partial::Idle;
                }
                return Err(e);
            }
            let Some((&kind, data)) = frame.split_first() else {
                self.partial = Partial::Idle;
                return Err(PipeError::BadFrame);
            };
            match kind {
                FRAME_WHOLE => {
                    // A new message: whatever was partly received before is abandoned.
                    self.partial = Partial::Idle;
                    return decode(data);
                }
                FRAME_FIRST => {
                    self.partial = Partial::Idle;
                    let Some((len, data)) = data.split_first_chunk::<8>() else {
                        return Err(PipeError::BadFrame);
                    };
                    let total = u64::from_le_bytes(*len);
                    let Some(total) = usize::try_from(total)
                        .ok()
                        .filter(|&t| t <= MAX_MESSAGE && t >= data.len())
                    else {
                        self.partial = Partial::Skipping;
                        return Err(PipeError::BadFrame);
                    };
                    let mut buf = Vec::new();
                    if buf.try_reserve_exact(total).is_err() {
                        self.partial = Partial::Skipping;
                        return Err(PipeError::TooLarge {
                            len: total,
                            limit: MAX_MESSAGE,
                        });
                    }
                    buf.extend_from_slice(data);
                    if buf.len() == total {
                        return decode(&buf);
                    }
                    self.partial = Partial::Filling { buf, total };
                }
                FRAME_CONT => match std::mem::replace(&mut self.partial, Partial::Idle) {
                    Partial::Filling { mut buf, total } => {
                        if data.len() > total - buf.len() {
                            self.partial = Partial::Skipping;
                            return Err(PipeError::BadFrame);
                        }
                        buf.extend_from_slice(data);
                        if buf.len() == total {
                            return decode(&buf);
                        }
                        self.partial = Partial::Filling { buf, total };
                    }
                    Partial::Skipping => self.partial = Partial::Skipping,
                    Partial::Idle => {
                        // A continuation of no message: report it once, drop the rest of its kind.
                        self.partial = Partial::Skipping;
                        return Err(PipeError::BadFrame);
                    }
                },
                _ => {
                    self.partial = Partial::Idle;
                    return Err(PipeError::BadFrame);
                }
            }
        }
    }

    /// Receives a plain-data value sent with [`Self::send_plain`].
    pub fn recv_plain<T: ShmSafe>(&mut self) -> Result<T, PipeError> {
        self.recv_value(Deadline::Never)
    }

    /// Receives a plain-data value sent with [`Self::send_plain`], waiting at most `timeout`
    /// ([`PipeError::TimedOut`]).
    pub fn recv_plain_timeout<T: ShmSafe>(&mut self, timeout: Duration) -> Result<T, PipeError> {
        self.recv_value(deadline(Some(timeout)))
    }

    fn recv_value<T: ShmSafe>(&mut self, deadline: Deadline) -> Result<T, PipeError> {
        let mut v = Vec::new();
        let n = self.recv_deadline(&mut v, deadline)?;
        if n != std::mem::size_of::<T>() {
            return Err(PipeError::WrongSize {
                expected: std::mem::size_of::<T>(),
                found: n,
            });
        }
        // SAFETY: v holds size_of::<T>() bytes; read_unaligned copes with the Vec's alignment; T is
        // ShmSafe, so any bytes form a valid T.
        Ok(unsafe { (v.as_ptr() as *const T).read_unaligned() })
    }

    /// Whether a `recv` would not block: a message is waiting, or the other end is closed or gone.
    /// Waits up to `timeout` (`None`: as long as it takes; zero: just look).
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<bool, PipeError> {
        self.refresh()?;
        let Some((ring, Some(rx))) = &mut self.rx else {
            return Err(PipeError::NotReadable);
        };
        let ctrl = ring.ctrl();
        let d = match timeout {
            Some(t) if t.is_zero() => Deadline::Immediate,
            t => deadline(t),
        };
        match ctrl.control.pop_wait::<DefaultWait, usize>(
            Some(&ctrl.producers),
            d,
            &Cell::new(false),
            || rx.next_len(),
            || {},
        ) {
            Ok(_) | Err(PopError::Closed) | Err(PopError::Disconnected) | Err(PopError::Corrupted) => Ok(true),
            // "Just look" never sleeps, so the wait did not probe the peer: ask directly (a few /proc
            // reads; Python's poll is a system call too).
            Err(PopError::Empty) => Ok(ctrl.producers.side_state() == SideState::AllDead),
            Err(_) => Ok(false),
        }
    }

    /// Closes this end: the other end's `recv` reports [`PipeError::Eof`] once it has drained what
    /// was sent, and its `send` fails with [`PipeError::BrokenPipe`]; this end fails with
    /// [`PipeError::Closed`] from now on. Idempotent.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        for ring in self.rx.iter().map(|r| &r.0).chain(self.tx.iter().map(|t| &t.0)) {
            ring.close::<DefaultWait>();
        }
    }

    /// Whether this end can receive.
    pub fn readable(&self) -> bool {
        self.rx.is_some()
    }

    /// Whether this end can send.
    pub fn writable(&self) -> bool {
        self.tx.is_some()
    }

    /// Whether this end was closed.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// The segment both directions live in.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }
}
