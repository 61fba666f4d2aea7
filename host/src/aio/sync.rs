//! `Event::wait_async` and `Semaphore::acquire_async`.

use super::reactor::Keep;
use super::{Attempt, Expect, WordWait};
use crate::sync::{Event, Semaphore};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bit 0 of an event's state word: the flag (bits 1.. count the `set`s; see
/// `ringfork_core::sync::event`).
const EVENT_SET: u32 = 1;

/// The future of [`Event::wait_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct EventWait {
    e: Event,
    /// The state word when the wait began (the flag was clear then).
    seen: Option<u32>,
    wait: WordWait,
}

impl Future for EventWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let word = this.e.core().wait_word();
        let seen = *this.seen.get_or_insert_with(|| word.load());
        let e = &this.e;
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
    pub fn wait_async(&self) -> EventWait {
        EventWait {
            e: self.clone(),
            seen: None,
            wait: WordWait::default(),
        }
    }
}

/// The future of [`Semaphore::acquire_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Acquire {
    s: Semaphore,
    wait: WordWait,
}

impl Future for Acquire {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let s = &this.s;
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
    pub fn acquire_async(&self) -> Acquire {
        Acquire {
            s: self.clone(),
            wait: WordWait::default(),
        }
    }
}
