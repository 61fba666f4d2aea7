//! The blocking layer shared by every ring: not-empty / not-full waiting with deadlines, `close`, and
//! peer-liveness checks, on top of any [`Wait`] strategy.
//!
//! # Waking without system calls
//! Each direction has a [`Signal`]: a futex word `seq` that notifiers bump, and a count of
//! `sleepers`. A waiter increments `sleepers`, snapshots `seq`, re-checks its condition, and only then
//! parks on `seq`. A notifier commits its operation, issues a SeqCst fence, and bumps `seq` and makes
//! the wake system call only if `sleepers` is non-zero. The two SeqCst fences (the waiter's, after its
//! increment; the notifier's, after its commit) form a Dekker pair: either the waiter's re-check sees
//! the commit, or the notifier sees the sleeper. With nobody asleep the fast path is one fence and one
//! load of a line that only changes when someone sleeps.
//!
//! # Disconnection
//! A waiter parks in slices of [`PROBE_INTERVAL`]; between slices it asks the other side's
//! [`PeerTable`] whether every registered participant is dead, and gives up with
//! [`PopError::Disconnected`] (or [`PushError::Closed`] for a producer whose consumers all died) once
//! the ring is also empty. So a blocked `get` notices a killed peer within about 50 ms.
//!
//! # Layout of [`Control`] (4 cache lines of [`crate::padded::CACHE_LINE`] bytes)
//! | offset (x86_64) | size | field                 | written by                                  |
//! |----------------:|-----:|-----------------------|---------------------------------------------|
//! | 0               | 4    | `closed`              | `close` (0 -> 1, sticky)                    |
//! | 8               | 8    | `lost`                | survivors recovering a dead consumer's slot |
//! | 16              | 4    | `tasks`               | JoinableQueue `put` (+1) and `task_done` (-1)|
//! | 128             | 4    | `not_empty.seq`       | producers (bump when consumers sleep), close|
//! | 132             | 4    | `not_empty.sleepers`  | consumers (+1 before parking, -1 after)      |
//! | 256             | 4    | `not_full.seq`        | consumers (bump when producers sleep), close|
//! | 260             | 4    | `not_full.sleepers`   | producers                                   |
//! | 384             | 4    | `tasks_sleepers`      | `join` callers                               |

use crate::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use crate::padded::CachePadded;
use crate::queue::peers::{PeerTable, SideState};
use crate::queue::{PopError, PushError};
use crate::time::{Clock, Deadline};
use crate::wait::Wait;
use core::time::Duration;

/// Re-checks of the condition (one spin-loop hint apart, a few microseconds in all) a waiter makes
/// before it registers as a sleeper.
pub const PRE_SPIN: u32 = 50;

/// How long a blocked waiter sleeps before it re-checks the other side's liveness.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// A futex word plus a sleeper count. See the module docs.
#[repr(C)]
pub struct Signal {
    seq: AtomicU32,
    sleepers: AtomicU32,
}

impl core::fmt::Debug for Signal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Ordering: Relaxed, display only.
        f.debug_struct("Signal")
            .field("seq", &self.seq.load(Ordering::Relaxed))
            .field("sleepers", &self.sleepers.load(Ordering::Relaxed))
            .finish()
    }
}

impl core::fmt::Debug for Control {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Control")
            .field("closed", &self.is_closed())
            .field("lost", &self.lost())
            .field("tasks", &self.unfinished_tasks())
            .finish()
    }
}

impl Signal {
    #[cfg(loom)]
    fn new() -> Self {
        Signal {
            seq: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }
    }

    /// Wakes one sleeper, if any, after the caller committed an operation.
    #[inline(always)]
    pub fn notify_one<W: Wait>(&self) {
        fence(Ordering::SeqCst);
        // Ordering: Relaxed after the SeqCst fence (Dekker pair with the waiter's fence).
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.bump::<W>(1);
        }
    }

    /// Wakes every sleeper, if any.
    #[inline]
    pub fn notify_all<W: Wait>(&self) {
        fence(Ordering::SeqCst);
        // Ordering: as `notify_one`.
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.bump::<W>(u32::MAX);
        }
    }

    #[cold]
    fn bump<W: Wait>(&self, n: u32) {
        // Ordering: Release pairs with the Acquire load in `Wait::wait`, so a woken waiter sees our
        // commit (which already happened before this bump).
        self.seq.fetch_add(1, Ordering::Release);
        W::wake(&self.seq, n);
    }

    /// Waits (through `W`) until `ready()` returns `Some`, `deadline` passes, or `give_up()` returns
    /// `Some` (checked every [`PROBE_INTERVAL`] of sleep). `ready` must be cheap and non-blocking.
    pub fn wait_for<W: Wait, R, E>(
        &self,
        deadline: Deadline,
        mut ready: impl FnMut() -> Option<R>,
        mut give_up: impl FnMut() -> Option<E>,
        timed_out: E,
    ) -> Result<R, E> {
        loop {
            if let Some(r) = ready() {
                return Ok(r);
            }
            if let Some(e) = give_up() {
                // One last look: something may have arrived just before the peer died.
                return ready().ok_or(e);
            }
            if deadline == Deadline::Immediate || deadline.expired::<W::Clock>() {
                return ready().ok_or(timed_out);
            }
            // Spin a little *before* registering as a sleeper: while registered, every commit on the
            // other side pays a wake system call, so the cheap phase must come first.
            for _ in 0..PRE_SPIN {
                crate::atomic::spin_hint();
                if let Some(r) = ready() {
                    return Ok(r);
                }
            }
            // Ordering: Acquire pairs with the Release bump; the snapshot must precede the re-check.
            let seq = self.seq.load(Ordering::Acquire);
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if let Some(r) = ready() {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                return Ok(r);
            }
            let slice = match Deadline::after::<W::Clock>(PROBE_INTERVAL) {
                Deadline::At(s) => match deadline {
                    Deadline::At(d) if d < s => Deadline::At(d),
                    _ => Deadline::At(s),
                },
                // A clock that cannot tell time: spin-check once per call.
                other => match deadline {
                    Deadline::Never => other,
                    d => d,
                },
            };
            let _ = W::wait(&self.seq, seq, slice);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The control block every ring carries. See the module docs for the layout.
#[repr(C)]
pub struct Control {
    state: CachePadded<State>,
    /// Signalled when a message is committed (and on close).
    pub not_empty: CachePadded<Signal>,
    /// Signalled when a slot is freed (and on close).
    pub not_full: CachePadded<Signal>,
    tasks_sleepers: CachePadded<AtomicU32>,
}

#[repr(C)]
struct State {
    closed: AtomicU32,
    lost: AtomicU64,
    tasks: AtomicU32,
}

#[cfg(not(loom))]
const _: () = {
    use crate::padded::CACHE_LINE;
    assert!(core::mem::size_of::<Control>() == 4 * CACHE_LINE);
    assert!(core::mem::offset_of!(Control, not_empty) == CACHE_LINE);
    assert!(core::mem::offset_of!(Control, not_full) == 2 * CACHE_LINE);
    assert!(core::mem::offset_of!(State, lost) == 8);
    assert!(core::mem::offset_of!(State, tasks) == 16);
};

/// `task_done` was called more times than items were put.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskDoneError;

impl core::fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("task_done() called more times than there were items put on the queue")
    }
}

impl core::error::Error for TaskDoneError {}

impl Control {
    /// A fresh control block for loom models.
    #[cfg(loom)]
    pub fn new() -> Self {
        Control {
            state: CachePadded::new(State {
                closed: AtomicU32::new(0),
                lost: AtomicU64::new(0),
                tasks: AtomicU32::new(0),
            }),
            not_empty: CachePadded::new(Signal::new()),
            not_full: CachePadded::new(Signal::new()),
            tasks_sleepers: CachePadded::new(AtomicU32::new(0)),
        }
    }

    /// Resets the block in freshly claimed memory.
    pub fn init(&self) {
        // Ordering (all Relaxed): published by the header's Release store of READY.
        self.state.closed.store(0, Ordering::Relaxed);
        self.state.lost.store(0, Ordering::Relaxed);
        self.state.tasks.store(0, Ordering::Relaxed);
        for s in [&*self.not_empty, &*self.not_full] {
            s.seq.store(0, Ordering::Relaxed);
            s.sleepers.store(0, Ordering::Relaxed);
        }
        // Ordering: Relaxed; published by the header's Release store of READY.
        self.tasks_sleepers.store(0, Ordering::Relaxed);
    }

    /// Whether the ring was closed.
    #[inline(always)]
    pub fn is_closed(&self) -> bool {
        // Ordering: Acquire pairs with the Release swap in `close`: callers drain after seeing it.
        self.state.closed.load(Ordering::Acquire) != 0
    }

    /// Closes the ring and wakes every waiter on both sides. Idempotent.
    pub fn close<W: Wait>(&self) {
        // Ordering: Release pairs with `is_closed`.
        self.state.closed.swap(1, Ordering::Release);
        for s in [&*self.not_empty, &*self.not_full] {
            // Ordering: Release, as in `Signal::bump`; unconditional so no sleeper is missed.
            s.seq.fetch_add(1, Ordering::Release);
            W::wake_all(&s.seq);
        }
    }

    /// Messages lost because the consumer that claimed them was killed before finishing its copy.
    pub fn lost(&self) -> u64 {
        // Ordering: Relaxed; a statistic.
        self.state.lost.load(Ordering::Relaxed)
    }

    pub(crate) fn add_lost(&self) {
        // Ordering: Relaxed; a statistic.
        self.state.lost.fetch_add(1, Ordering::Relaxed);
    }

    /// The number of unfinished tasks (JoinableQueue).
    pub fn unfinished_tasks(&self) -> u32 {
        // Ordering: Acquire pairs with the Release decrement in `task_done`.
        self.state.tasks.load(Ordering::Acquire)
    }

    /// Adds an unfinished task (before the item is pushed). Fails when the counter would overflow.
    pub fn add_task(&self) -> Result<(), PushError> {
        // Ordering: Relaxed; the push that follows publishes the item.
        let r = self
            .state
            .tasks
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| t.checked_add(1));
        r.map(|_| ()).map_err(|_| PushError::Full)
    }

    /// Takes back a task added for an item whose push failed.
    pub fn undo_task<W: Wait>(&self) {
        let _ = self.task_done::<W>();
    }

    /// Marks one task done; wakes `join`ers when none are left.
    pub fn task_done<W: Wait>(&self) -> Result<(), TaskDoneError> {
        // Ordering: AcqRel: Release so a joiner that sees 0 sees everything the task did.
        let prev = self
            .state
            .tasks
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |t| t.checked_sub(1))
            .map_err(|_| TaskDoneError)?;
        if prev == 1 {
            fence(Ordering::SeqCst);
            // Ordering: Relaxed after the fence (Dekker with `join`).
            if self.tasks_sleepers.load(Ordering::Relaxed) != 0 {
                W::wake_all(&self.state.tasks);
            }
        }
        Ok(())
    }

    /// Waits until the unfinished-task count is 0 or `deadline` passes.
    pub fn join<W: Wait>(&self, deadline: Deadline) -> Result<(), crate::wait::TimedOut> {
        loop {
            let t = self.unfinished_tasks();
            if t == 0 {
                return Ok(());
            }
            self.tasks_sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let t = self.unfinished_tasks();
            let r = if t == 0 {
                Ok(())
            } else {
                W::wait(&self.state.tasks, t, deadline)
            };
            self.tasks_sleepers.fetch_sub(1, Ordering::SeqCst);
            if r.is_err() && self.unfinished_tasks() != 0 {
                return Err(crate::wait::TimedOut);
            }
        }
    }

    /// Waits to pop: `try_pop` until it yields (calling `on_probe` once per [`PROBE_INTERVAL`] of
    /// waiting, e.g. to recover a wedged slot), the deadline passes, the ring is closed and drained, or
    /// every registered producer is dead and the ring is empty.
    pub fn pop_wait<W: Wait, R>(
        &self,
        producers: Option<&PeerTable>,
        deadline: Deadline,
        mut try_pop: impl FnMut() -> Result<R, PopError>,
        mut on_probe: impl FnMut(),
    ) -> Result<R, PopError> {
        let err = core::cell::Cell::new(None);
        let mut last_probe = W::Clock::now();
        let r = self.not_empty.wait_for::<W, R, PopError>(
            deadline,
            || match try_pop() {
                Ok(r) => Some(r),
                Err(PopError::Empty) => None,
                Err(e) => {
                    err.set(Some(e));
                    None
                }
            },
            || {
                if let Some(e) = err.take() {
                    return Some(e);
                }
                if self.is_closed() {
                    return Some(PopError::Closed);
                }
                if due(&mut last_probe, W::Clock::now()) {
                    on_probe();
                    if producers.is_some_and(|p| p.side_state() == SideState::AllDead) {
                        return Some(PopError::Disconnected);
                    }
                }
                None
            },
            PopError::TimedOut,
        );
        match r {
            Err(PopError::TimedOut) if deadline == Deadline::Immediate => Err(PopError::Empty),
            r => r,
        }
    }

    /// Waits to push: `try_push` until it succeeds (calling `on_probe` as for [`Self::pop_wait`]), the deadline passes, the ring is closed, or every
    /// registered consumer is dead (then [`PushError::Closed`]: nobody will ever make room).
    pub fn push_wait<W: Wait, R>(
        &self,
        consumers: Option<&PeerTable>,
        deadline: Deadline,
        mut try_push: impl FnMut() -> Result<R, PushError>,
        mut on_probe: impl FnMut(),
    ) -> Result<R, PushError> {
        let err = core::cell::Cell::new(None);
        let mut last_probe = W::Clock::now();
        let r = self.not_full.wait_for::<W, R, PushError>(
            deadline,
            || match try_push() {
                Ok(r) => Some(r),
                Err(PushError::Full) => None,
                Err(e) => {
                    err.set(Some(e));
                    None
                }
            },
            || {
                if let Some(e) = err.take() {
                    return Some(e);
                }
                if self.is_closed() {
                    return Some(PushError::Closed);
                }
                if due(&mut last_probe, W::Clock::now()) {
                    on_probe();
                    if consumers.is_some_and(|p| p.side_state() == SideState::AllDead) {
                        return Some(PushError::Closed);
                    }
                }
                None
            },
            PushError::TimedOut,
        );
        match r {
            Err(PushError::TimedOut) if deadline == Deadline::Immediate => Err(PushError::Full),
            r => r,
        }
    }
}

/// Whether a liveness probe is due (one per [`PROBE_INTERVAL`]; always, without a clock).
fn due(last: &mut Option<crate::time::Instant>, now: Option<crate::time::Instant>) -> bool {
    match (*last, now) {
        (Some(l), Some(n)) if n.saturating_duration_since(l) < PROBE_INTERVAL => false,
        _ => {
            *last = now;
            true
        }
    }
}
