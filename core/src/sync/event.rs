//! [`Event`]: a flag processes wait on (Python's `multiprocessing.Event`).
//!
//! # Layout (72 bytes, align 8)
//!
//! | offset | size | field      | written by                                  |
//! |-------:|-----:|------------|---------------------------------------------|
//! | 0      | 64   | header     | initializer                                 |
//! | 64     | 4    | `flag`     | `set` (1) / `clear` (0); futex word         |
//! | 68     | 4    | `sleepers` | waiters (+1 before parking, −1 after)       |
//!
//! `set` stores 1 and then reads `sleepers`; a waiter adds to `sleepers` and then reads `flag` (both
//! SeqCst), so a waiter never sleeps through a `set`.

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

#[repr(C)]
struct Body {
    flag: AtomicU32,
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
            b.flag.store(0, Ordering::Relaxed);
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

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.body.flag.store(1, Ordering::SeqCst);
        if self.body.sleepers.load(Ordering::SeqCst) > 0 {
            W::wake_all(&self.body.flag);
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        // Ordering: Release pairs with the Acquire load in `is_set`: a process that sees the flag
        // cleared also sees what the clearer wrote before clearing.
        self.body.flag.store(0, Ordering::Release);
    }

    /// Whether the flag is set (stale at once).
    pub fn is_set(&self) -> bool {
        // Ordering: Acquire pairs with `set`'s SeqCst store: seeing 1 means seeing what the setter
        // wrote before setting.
        self.body.flag.load(Ordering::Acquire) != 0
    }

    /// Waits until the flag is set.
    pub fn wait(&self) {
        let _ = self.wait_until(Deadline::Never);
    }

    /// Waits until the flag is set or `timeout` passes (never earlier); returns whether it is set.
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Deadline::after::<W::Clock>(timeout))
    }

    /// Waits until the flag is set or `deadline` passes; returns whether it is set.
    pub fn wait_until(&self, deadline: Deadline) -> bool {
        loop {
            if self.is_set() {
                return true;
            }
            if deadline == Deadline::Immediate {
                return false;
            }
            self.body.sleepers.fetch_add(1, Ordering::SeqCst);
            let r = if self.body.flag.load(Ordering::SeqCst) == 0 {
                W::wait(&self.body.flag, 0, deadline)
            } else {
                Ok(())
            };
            self.body.sleepers.fetch_sub(1, Ordering::SeqCst);
            if r.is_err() {
                return self.is_set();
            }
        }
    }

    /// The object header.
    pub fn header(&self) -> &'a Header {
        self.header
    }
}
