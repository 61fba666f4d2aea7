//! `Event::wait_async` and `Semaphore::acquire_async`.

use super::reactor::{Keep, Registration, Source};
use super::{Attempt, Expect, WordWait};
use crate::sync::{Barrier, Event, Semaphore};
use ringfork_core::sync::barrier::Arrival;
use ringfork_core::sync::BarrierError;
use ringfork_core::Deadline;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bit 0 of an event's state word: the flag (bits 1.. count the `set`s; see
/// `ringfork_core::sync::event`).
const EVENT_SET: u32 = 1;

/// The future of [`Event::wait_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct EventWait<'a> {
    e: &'a Event,
    /// The state word when the wait began (the flag was clear then).
    seen: Option<u32>,
    wait: WordWait,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let word = this.e.core().wait_word();
        let seen = *this.seen.get_or_insert_with(|| word.load());
        let e = this.e;
        this.wait.poll(
            cx,
            word,
            Expect::Snapshot,
            || Keep::Segment(e.seg().clone()),
            || None,
            || {
                // Set now, or set (and maybe cleared again) since the wait began: a pulse counts, as
                // for the blocking `wait`.
                let s = word.load();
                if s & EVENT_SET != 0 || (s ^ seen) & !EVENT_SET != 0 {
                    Attempt::Done(())
                } else {
                    Attempt::Blocked { busy: false }
                }
            },
            || (),
        )
    }
}

impl Event {
    /// Waits until the flag is set, without blocking a thread (see [`crate::aio`]). Like
    /// [`Self::wait`], a `set` during the wait completes it even if a `clear` follows at once.
    /// Cancel safe (it changes nothing).
    ///
    /// ```
    /// let e = ringfork::Event::new()?;
    /// let e2 = e.clone();
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(async move {
    ///     let waiter = tokio::spawn(async move { e2.wait_async().await });
    ///     e.set();
    ///     waiter.await
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "wait")]
    pub fn wait_async(&self) -> EventWait<'_> {
        EventWait {
            e: self,
            seen: None,
            wait: WordWait::default(),
        }
    }
}

/// The future of [`Semaphore::acquire_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Acquire<'a> {
    s: &'a Semaphore,
    wait: WordWait,
}

impl Future for Acquire<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let s = this.s;
        let core = s.core();
        this.wait.poll(
            cx,
            core.wait_word(),
            // Waits while the count is 0.
            Expect::Value(0),
            || Keep::Segment(s.seg().clone()),
            || None,
            || {
                if core.try_acquire() {
                    Attempt::Done(())
                } else {
                    Attempt::Blocked { busy: false }
                }
            },
            || (),
        )
    }
}

impl Semaphore {
    /// Takes a permit, awaiting one without blocking a thread (see [`crate::aio`]). Cancel safe: the
    /// permit is taken in the poll that completes the future.
    ///
    /// ```
    /// let s = ringfork::Semaphore::new(0)?;
    /// let s2 = s.clone();
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(async move {
    ///     let waiter = tokio::spawn(async move { s2.acquire_async().await });
    ///     s.release().unwrap();
    ///     waiter.await
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "acquire")]
    pub fn acquire_async(&self) -> Acquire<'_> {
        Acquire {
            s: self,
            wait: WordWait::default(),
        }
    }
}

/// The future of [`Barrier::wait_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct BarrierWait<'a> {
    b: &'a Barrier,
    /// Set by the first poll (the arrival): the epoch to wait out and the arrival index.
    arrived: Option<(u32, u32)>,
    reg: Option<Registration>,
}

impl Future for BarrierWait<'_> {
    type Output = Result<u32, BarrierError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let core = this.b.core();
        let (epoch, index) = match this.arrived {
            Some(a) => a,
            None => match core.arrive(Deadline::Never) {
                Ok(Arrival::Tripped(i)) => return Poll::Ready(Ok(i)),
                Ok(Arrival::Wait { index, epoch }) => {
                    this.arrived = Some((epoch, index));
                    (epoch, index)
                }
                Err(e) => return Poll::Ready(Err(e)),
            },
        };
        if super::still_pending(&mut this.reg, cx) {
            return Poll::Pending;
        }
        if let Some(r) = core.outcome(epoch, index) {
            return Poll::Ready(r);
        }
        // Every end of an epoch changes the word and wakes all (no sleeper count to join): the
        // kernel's compare against `epoch` closes the window between the check and the wait.
        this.reg = Some(Registration::new(
            Source::Futex {
                addr: core.gen_word() as *const _ as usize,
                expected: epoch,
            },
            None,
            None,
            Keep::Segment(this.b.seg().clone()),
            cx.waker(),
        ));
        Poll::Pending
    }
}

impl Barrier {
    /// Waits for all parties without blocking a thread (see [`crate::aio`]); returns this party's
    /// arrival index, as [`Self::wait`].
    ///
    /// The first poll arrives (taking the barrier's internal lock for its short critical section).
    /// **Not cancel safe**: a future dropped after its first poll has arrived, and the barrier trips
    /// without it. Compose a timeout with `tokio::time::timeout` and [`Self::abort`] if parties may
    /// die (the blocking `wait_timeout` breaks the barrier the same way).
    ///
    /// ```
    /// let b = ringfork::Barrier::new(2)?;
    /// let b2 = b.clone();
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// let mut idx = rt.block_on(async move {
    ///     let other = tokio::spawn(async move { b2.wait_async().await });
    ///     let mine = b.wait_async().await;
    ///     vec![mine.unwrap(), other.await.unwrap().unwrap()]
    /// });
    /// idx.sort();
    /// assert_eq!(idx, vec![0, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "wait")]
    pub fn wait_async(&self) -> BarrierWait<'_> {
        BarrierWait {
            b: self,
            arrived: None,
            reg: None,
        }
    }
}
