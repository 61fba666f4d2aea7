//! [`Event`]: a flag processes wait on (Python's `multiprocessing.Event`).
//!
//! # Layout (72 bytes, align 8)
//!
//! | offset | size | field      | written by                                  |
//! |-------:|-----:|------------|---------------------------------------------|
//! | 0      | 64   | header     | initializer                                 |
//! | 64     | 4    | `state`    | `set` / `clear` (RMW); futex word: `generation << 1 \| SET` |
//! | 68     | 4    | `sleepers` | waiters (+1 before parking, −1 after)       |
//!
//! # A pulse reaches every waiter
//! Bit 0 of `state` is the flag; bits 1..32 count the `set`s that found the flag clear (the
//! generation, wrapping). A waiter remembers the state it saw clear, parks while `state` still holds
//! exactly that value, and returns `true` as soon as the generation differs from the one it saw — even
//! if the flag is clear again by then. So a waiter blocked when `set` is called returns `true` though
//! `clear` follows at once, as Python promises (its `Event.wait` waits on a condition notified by
//! `set`). `clear` keeps the generation, so it never wakes anybody.
//!
//! `set` changes `state` and then reads `sleepers`; a waiter adds to `sleepers` and then reads
//! `state` (both SeqCst), so a waiter never sleeps through a `set`. A waiter that saw generation `g`
//! would miss a pulse only if exactly 2^31 `set`s happened between two of its reads.

use crate::atomic::{AtomicU32, Ordering};
use crate::error::{AttachError, InitError};
use crate::header::{Header, Kind, ObjectParams};
use crate::region::Region;
use crate::sync::common::{attach_body, init_body};
use crate::time::Deadline;
use crate::wait::{DefaultWait, Wait};
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

/// Bit 0 of `state`: the flag.
const SET: u32 = 1;
/// One generation in `state`.
const GEN_ONE: u32 = 2;

#[repr(C)]
struct Body {
    state: AtomicU32,
    sleepers: AtomicU32,
}

#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Body>() == 8);

/// An event flag in shared memory. A view: `Copy`.
///
/// ```
/// use ringfork_core::sync::event::Event;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let e = Event::<DefaultWait>::init(Region::from_mut(&mut buf.0)).unwrap();
/// assert!(!e.wait_timeout(std::time::Duration::from_millis(1)));
/// e.set();
/// assert!(e.is_set() && e.wait_timeout(std::time::Duration::from_millis(1)));
/// ```
pub struct Event<'a, W: Wait = DefaultWait> {
    header: &'a Header,
    body: &'a Body,
    _w: PhantomData<fn() -> W>,
}

impl<W: Wait> Clone for Event<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: Wait> Copy for Event<'_, W> {}

impl<W: Wait> fmt::Debug for Event<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event").field("set", &self.is_set()).finish()
    }
}

impl<'a, W: Wait> Event<'a, W> {
    /// Bytes an event needs.
    pub const SIZE: usize = 72;
    /// Alignment an event needs.
    pub const ALIGN: usize = 8;

    /// Creates a cleared event at the start of `region`.
    pub fn init(region: Region<'a>) -> Result<Self, InitError> {
        let (header, body) = init_body::<Body, W>(region, ObjectParams::new(Kind::Event, 0), |b| {
            // Ordering: Relaxed: published by the header's Release store of READY.
            b.state.store(0, Ordering::Relaxed);
            b.sleepers.store(0, Ordering::Relaxed);
        })?;
        Ok(Event {
            header,
            body,
            _w: PhantomData,
        })
    }

    /// Attaches to the event at the start of `region`.
    pub fn attach(region: Region<'a>, deadline: Deadline) -> Result<Self, AttachError> {
        let (header, body) = attach_body::<Body, W>(region, Kind::Event, deadline)?;
        Ok(Event {
            header,
            body,
            _w: PhantomData,
        })
    }

    /// Sets the flag and wakes every waiter. Every process blocked in a wait when `set` is called
    /// returns `true`, even if the event is cleared again at once.
    pub fn set(&self) {
        // SeqCst: the store half of the store-load handshake with waiters (module docs); the RMW
        // also publishes what the setter wrote before (waiters read `state` with SeqCst/Acquire).
        let prev = self.body.state.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
            (s & SET == 0).then(|| s.wrapping_add(GEN_ONE) | SET)
        });
        if prev.is_ok() && self.body.sleepers.load(Ordering::SeqCst) > 0 {
            W::wake_all(&self.body.state);
        }
    }

    /// Clears the flag (the generation stays, so waiters that saw the last `set` still return
    /// `true`).
    pub fn clear(&self) {
        // Ordering: Release pairs with the Acquire load in `is_set`: a process that sees the flag
        // cleared also sees what the clearer wrote before clearing.
        self.body.state.fetch_and(!SET, Ordering::Release);
    }

    /// Whether the flag is set (stale at once).
    pub fn is_set(&self) -> bool {
        // Ordering: Acquire pairs with `set`'s SeqCst RMW: seeing it set means seeing what the setter
        // wrote before setting.
        self.body.state.load(Ordering::Acquire) & SET != 0
    }

    /// Waits until the flag is set.
    pub fn wait(&self) {
        let _ = self.wait_until(Deadline::Never);
    }

    /// Waits until the flag is set or `timeout` passes (never earlier); returns `true` if the flag
    /// was set, or was set at some point during the wait (a pulse: `set` then `clear`).
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Deadline::after::<W::Clock>(timeout))
    }

    /// The `state` word and the sleeper count, for a waiter that does not park a thread: snapshot the
    /// state, add a sleeper, re-check [`Self::is_set`], then wait for the state to differ from the
    /// snapshot (every `set` of a clear flag changes it: bit 0 is the flag, bits 1.. the generation
    /// a `set` bumps; see the module docs and [`crate::wait::WaitWord`]).
    ///
    /// ```
    /// use ringfork_core::sync::event::Event;
    /// use ringfork_core::{wait::DefaultWait, Region};
    /// #[repr(C, align(128))]
    /// struct Buf([u8; 128]);
    /// let mut buf = Buf([0; 128]);
    /// let e = Event::<DefaultWait>::init(Region::from_mut(&mut buf.0)).unwrap();
    /// let w = e.wait_word();
    /// let seen = w.load();
    /// e.set();
    /// assert_ne!(w.load(), seen);
    /// ```
    pub fn wait_word(&self) -> crate::wait::WaitWord<'a> {
        crate::wait::WaitWord::new(&self.body.state, &self.body.sleepers)
    }

    /// Waits until the flag is set or `deadline` passes; returns `true` if the flag was set, or was
    /// set at some point during the wait.
    pub fn wait_until(&self, deadline: Deadline) -> bool {
        // Ordering: Acquire, as in `is_set`.
        let seen = self.body.state.load(Ordering::Acquire);
        if seen & SET != 0 {
            return true;
        }
        // Set (or set and cleared) since we looked: the generation moved on.
        let pulsed = |s: u32| s & SET != 0 || (s ^ seen) & !SET != 0;
        if deadline == Deadline::Immediate {
            return false;
        }
        loop {
            self.body.sleepers.fetch_add(1, Ordering::SeqCst);
            let cur = self.body.state.load(Ordering::SeqCst);
            let r = if cur == seen {
                W::wait(&self.body.state, seen, deadline)
            } else {
                Ok(())
            };
            self.body.sleepers.fetch_sub(1, Ordering::SeqCst);
            // Ordering: Acquire, as in `is_set`.
            if pulsed(self.body.state.load(Ordering::Acquire)) {
                return true;
            }
            if r.is_err() {
                return false;
            }
        }
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Instant;

    #[repr(C, align(128))]
    struct Buf([u8; 128]);

    /// Issue 16 item 5: every waiter blocked when `set` is called returns true, though `clear`
    /// follows at once.
    #[cfg(feature = "futex")]
    #[test]
    fn a_pulse_reaches_every_blocked_waiter() {
        let mut buf = Buf([0; 128]);
        let e = Event::<DefaultWait>::init(Region::from_mut(&mut buf.0)).unwrap();
        for round in 0..20 {
            std::thread::scope(|s| {
                let waiters: std::vec::Vec<_> = (0..3)
                    .map(|_| s.spawn(|| e.wait_timeout(Duration::from_secs(5))))
                    .collect();
                // All three announced themselves as sleepers: each is parked or about to re-check.
                let start = Instant::now();
                while e.body.sleepers.load(Ordering::SeqCst) < 3 {
                    assert!(start.elapsed() < Duration::from_secs(10), "waiters never parked");
                    std::thread::yield_now();
                }
                e.set();
                e.clear();
                for w in waiters {
                    assert!(w.join().unwrap(), "round {round}: a waiter missed the pulse");
                }
            });
            assert!(!e.is_set());
        }
        // A waiter that starts after the pulse does not see it.
        assert!(!e.wait_timeout(Duration::from_millis(10)));
    }

    #[test]
    fn set_is_idempotent_and_clear_keeps_the_generation() {
        let mut buf = Buf([0; 128]);
        let e = Event::<DefaultWait>::init(Region::from_mut(&mut buf.0)).unwrap();
        e.set();
        e.set();
        // Ordering: Relaxed; single-threaded test.
        assert_eq!(e.body.state.load(Ordering::Relaxed), GEN_ONE | SET);
        e.clear();
        e.clear();
        assert_eq!(e.body.state.load(Ordering::Relaxed), GEN_ONE);
        assert!(!e.is_set() && !e.wait_timeout(Duration::from_millis(1)));
        // Any word a scribbler leaves is a valid state.
        e.body.state.store(u32::MAX, Ordering::Relaxed);
        assert!(e.is_set() && e.wait_timeout(Duration::from_millis(1)));
        e.clear();
        e.set();
        assert_eq!(e.body.state.load(Ordering::Relaxed), SET, "the generation wraps");
    }
}
