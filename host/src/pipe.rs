//! [`pipe`]: Python's `multiprocessing.Pipe` on shared-memory byte rings
//! ([`ringfork_core::queue::bytering`]), one ring per direction.
//!
//! ```
//! let (mut a, mut b) = ringfork::pipe(true)?;
//! a.send_bytes(b"ping")?;
//! assert_eq!(b.recv_bytes()?, b"ping");
//! b.send(&42u64)?;
//! assert_eq!(a.recv::<u64>()?, 42);
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

use crate::queue::deadline;
use crate::queue::registration::{fork_generation, Hold};
use crate::segment::{Segment, SegmentError};
use ringfork_core::queue::bytering::{ByteReceiver, ByteRing, ByteSender};
use ringfork_core::queue::peers::SideState;
use ringfork_core::queue::{PopError, PushError, DATA_OFFSET, RING_ALIGN};
use ringfork_core::wait::DefaultWait;
use ringfork_core::{Deadline, Kind, ShmSafe};
use std::cell::Cell;
use std::fmt;
use std::time::Duration;

/// Data bytes per direction of a [`pipe`].
pub const DEFAULT_PIPE_CAPACITY: usize = 1 << 18;
/// Largest message of a [`pipe`].
pub const DEFAULT_MSG_LIMIT: usize = 1 << 16;

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
///     a.send(&7u32)?;
///     assert_eq!(b.recv::<u64>(), Err(PipeError::WrongSize { expected: 8, found: 4 }));
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
    /// The message is longer than the pipe's message limit.
    TooLarge {
        /// Message length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The timeout passed.
    TimedOut,
    /// A typed `recv::<T>` found a message of another size.
    WrongSize {
        /// `size_of::<T>()`.
        expected: usize,
        /// The message's length (the message was consumed).
        found: usize,
    },
    /// The ring's shared state was corrupted by a process writing over it; pending data was dropped.
    Corrupted,
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
                "message of {len} bytes exceeds the pipe's limit of {limit} bytes; create it with `pipe_with` \
                 and a larger limit"
            ),
            PipeError::TimedOut => f.write_str("timed out"),
            PipeError::WrongSize { expected, found } => write!(
                f,
                "received a message of {found} bytes where a value of {expected} bytes was expected; both ends \
                 must agree on the type"
            ),
            PipeError::Corrupted => f.write_str("the pipe's shared state was corrupted; pending data was discarded"),
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
    seg: Segment,
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

    /// Sends a value as its `size_of::<T>()` bytes (receive it with [`Self::recv`]).
    pub fn send<T: ShmSafe>(&mut self, v: &T) -> Result<(), PipeError> {
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

    /// Receives a value sent with [`Self::send`].
    pub fn recv<T: ShmSafe>(&mut self) -> Result<T, PipeError> {
        self.recv_value(Deadline::Never)
    }

    /// Receives a value sent with [`Self::send`], waiting at most `timeout`
    /// ([`PipeError::TimedOut`]; Python: `poll(timeout)` then `recv()`).
    pub fn recv_timeout<T: ShmSafe>(&mut self, timeout: Duration) -> Result<T, PipeError> {
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
