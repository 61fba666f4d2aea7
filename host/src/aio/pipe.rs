//! `Connection::recv_async` / `send_async`.

use super::reactor::{Keep, Liveness, Probe};
use super::{Attempt, Expect, WordWait};
use crate::pipe::{Connection, PipeError};
use ringfork_core::queue::peers::SideState;
use ringfork_core::queue::RingCtrl;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The probe of a wait on `table` (the other end's side of the ring): give up once every other
/// process that held it is dead.
fn probe(ctrl: &'static RingCtrl, producers: bool) -> Probe {
    let me = std::process::id();
    Box::new(move |live: &mut Liveness| {
        let table = if producers { &ctrl.producers } else { &ctrl.consumers };
        table.others_state_with(me, |pid, start| live.alive(pid, start)) == SideState::AllDead
    })
}

/// The future of [`Connection::recv_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct RecvFuture<'a, T> {
    c: &'a mut Connection,
    wait: WordWait,
    _t: PhantomData<fn() -> T>,
}

impl<T> Unpin for RecvFuture<'_, T> {}

impl<T: DeserializeOwned> Future for RecvFuture<'_, T> {
    type Output = Result<T, PipeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (rx, _, seg) = this.c.rings();
        let Some(ctrl) = rx else {
            return Poll::Ready(Err(PipeError::NotReadable));
        };
        let seg = seg.clone();
        let c = &mut *this.c;
        this.wait.poll(
            cx,
            ctrl.control.not_empty.wait_word(),
            Expect::Snapshot,
            move || Keep::Segment(seg),
            || Some(probe(ctrl, true)),
            // A zero timeout only looks (a message partly received stays for the next call).
            || match c.recv_timeout::<T>(Duration::ZERO) {
                Err(PipeError::TimedOut) => Attempt::Blocked { busy: false },
                r => Attempt::Done(r),
            },
            || Err(PipeError::Disconnected),
        )
    }
}

/// The future of [`Connection::send_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct SendFuture<'a> {
    c: &'a mut Connection,
    /// The frames not yet sent (in reverse order), or the encoding error.
    frames: Result<Vec<Vec<u8>>, PipeError>,
    wait: WordWait,
}

impl Unpin for SendFuture<'_> {}

impl Future for SendFuture<'_> {
    type Output = Result<(), PipeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let frames = match &mut this.frames {
            Ok(f) => f,
            Err(e) => return Poll::Ready(Err(*e)),
        };
        let (_, tx, seg) = this.c.rings();
        let Some(ctrl) = tx else {
            return Poll::Ready(Err(PipeError::NotWritable));
        };
        let seg = seg.clone();
        let c = &mut *this.c;
        this.wait.poll(
            cx,
            ctrl.control.not_full.wait_word(),
            Expect::Snapshot,
            move || Keep::Segment(seg),
            || Some(probe(ctrl, false)),
            || loop {
                let Some(frame) = frames.last() else {
                    return Attempt::Done(Ok(()));
                };
                match c.send_bytes_timeout(frame, Duration::ZERO) {
                    Ok(()) => {
                        frames.pop();
                    }
                    Err(PipeError::TimedOut) => return Attempt::Blocked { busy: false },
                    Err(e) => return Attempt::Done(Err(e)),
                }
            },
            || Err(PipeError::BrokenPipe),
        )
    }
}

impl Connection {
    /// Receives a value sent with [`Self::send`], without blocking a thread (see [`crate::aio`]).
    /// Errors as [`Self::recv`] ([`PipeError::Disconnected`] once every other process holding the
    /// other end died; this process never counts as its own peer here).
    ///
    /// Cancel safe: a frame is taken only in a poll that keeps it, and a message streamed in several
    /// frames and partly received when the future is dropped is completed by the next `recv*`.
    ///
    /// ```
    /// let (mut a, mut b) = ringfork::pipe(true)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(async {
    ///     a.send_async(&"hello".to_string()).await?;
    ///     assert_eq!(b.recv_async::<String>().await?, "hello");
    ///     Ok::<(), ringfork::PipeError>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "recv")]
    pub fn recv_async<T: DeserializeOwned>(&mut self) -> RecvFuture<'_, T> {
        RecvFuture {
            c: self,
            wait: WordWait::default(),
            _t: PhantomData,
        }
    }

    /// Sends any serde value (as [`Self::send`]), awaiting room without blocking a thread.
    ///
    /// A message that fits one frame is sent whole or not at all, so a dropped future sent nothing.
    /// A larger one is streamed frame by frame: dropped half-way, the receiver discards the partial
    /// message when the next one begins (it is lost, never half-delivered).
    #[doc(alias = "send")]
    pub fn send_async<T: Serialize + ?Sized>(&mut self, v: &T) -> SendFuture<'_> {
        let frames = self.frames(v).map(|mut f| {
            f.reverse();
            f
        });
        SendFuture {
            c: self,
            frames,
            wait: WordWait::default(),
        }
    }
}
