//! `async`/`await` without a thread per wait (cargo feature `async`).
//!
//! Every `*_async` method returns a runtime-agnostic future (it only uses [`std::task::Waker`]): it
//! tries the non-blocking operation, and if that would block, registers the primitive's futex word
//! with the process's **reactor**, one thread started on first use that sleeps on every registered
//! word at once (io_uring futex waits on Linux >= 6.7, `futex_waitv` on >= 5.16, a timed poll
//! otherwise: see [`Backend`]). A thousand pending waits cost that one thread and nothing while idle.
//!
//! ```
//! use ringfork::Queue;
//!
//! let q = Queue::<u64>::new(4)?;
//! let q2 = q.clone();
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! let got = rt.block_on(async move {
//!     let getter = tokio::spawn(async move { q2.get_async().await });
//!     q.put_async(7).await?;
//!     Ok::<_, Box<dyn std::error::Error>>(getter.await??)
//! })?;
//! assert_eq!(got, 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Cancellation (tokio's "cancel safe")
//! - `get_async` (every queue) is **cancel safe**: a dropped future has taken nothing; a message is
//!   taken and returned in the same poll, so it either completed or did nothing.
//! - `put_async` is cancel safe in the same sense as tokio's `mpsc::Sender::send`: a dropped future
//!   put nothing, and the value it held is dropped with it. One exception: a serde message larger
//!   than a slot's inline capacity travels through the queue's large-message lane, which waits for
//!   readers (who may be tasks on the executor's own thread), so its first poll hands the value to a
//!   short-lived thread that does the blocking `put`; the future then awaits that thread, and dropping
//!   it no longer withdraws the message (it goes in, or fails, on that thread).
//! - A `get_async` that takes a large message reads it to its end in that poll while its stream
//!   progresses (as `try_get` does; the producer is streaming it at that moment).
//! - `Event::wait_async`, `Semaphore::acquire_async` (a permit is taken in the poll that returns it)
//!   and `Process::join_async` are cancel safe.
//!
//! Timeouts compose with the runtime's own (`tokio::time::timeout(d, q.get_async())`).
//!
//! # Crash guarantees
//! As their blocking twins: a `get_async` on an empty queue whose every other holder died fails with
//! [`PopError::Disconnected`](crate::PopError::Disconnected), a `put_async` on a full queue whose
//! every other holder died with [`PushError::Closed`](crate::PushError::Closed), within about
//! [`PROBE_INTERVAL`] (the reactor probes the peers of every pending wait once per interval, reading
//! `/proc` once per distinct process), and a slot wedged by a killed peer is forced past. One
//! difference: **the waiting process is never its own peer** for `*_async` calls. A blocking `get`
//! in a multi-threaded process keeps waiting (another thread might put); an async task cannot tell
//! whether another task of its process will, so once every *other* process holding the queue is
//! gone, `get_async` on an empty queue reports `Disconnected`.

mod locks;
mod pipe;
mod pool;
mod process;
mod queue;
pub(crate) mod reactor;
mod sync;

pub use locks::LockFuture;
pub use pipe::{RecvFuture, SendFuture};
pub use pool::{IMapStream, ResultFuture};
pub use process::Join;
pub use queue::{GetFuture, JoinFuture, JoinableGetFuture, PutFuture};
pub use reactor::{backend, Backend, OVERFLOW_POLL, PROBE_INTERVAL, WAITV_MAX};
pub use sync::{Acquire, BarrierWait, EventWait};

use reactor::{Fired, Keep, Probe, Registration, Source};
use ringfork_core::wait::WaitWord;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The first sleep of a waiter whose condition is about to come true without a wake-up (the other
/// side is mid-operation); each further one doubles, up to [`PROBE_INTERVAL`] (as the blocking
/// calls do).
const BUSY_SLICE: Duration = ringfork_core::queue::blocking::BUSY_SLICE;

/// The most an `*_async` poll spins re-checking its condition before it registers with the reactor
/// (the adaptive budget's ceiling; the blocking calls allow 200 µs, but a poll holds its executor's
/// thread, so other tasks wait while it spins).
pub const SPIN_LIMIT: Duration = Duration::from_micros(200);

/// The adaptive spin budget of this process's `*_async` polls, in ns: a wait that parked grows it
/// to twice what it took (so a longer spin would have caught it), up to [`SPIN_LIMIT`]; a wait
/// longer than the limit halves it (an idle partner: spinning is wasted). Unlike the blocking calls'
/// policy there is no "partner shares our core" rule: a parked async wait also pays the reactor
/// hop, which that rule would mistake for a partner that only runs once we yield.
static SPIN_NS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(20_000);

fn spin_budget() -> Duration {
    // Ordering: Relaxed; a heuristic (a lost update only delays adaptation).
    Duration::from_nanos(u64::from(SPIN_NS.load(std::sync::atomic::Ordering::Relaxed))).min(SPIN_LIMIT)
}

fn on_parked(spun: Duration, parked: Duration) {
    let total = spun.saturating_add(parked);
    let next = if total <= SPIN_LIMIT {
        total.saturating_mul(2).min(SPIN_LIMIT)
    } else {
        spin_budget() / 2
    };
    // Ordering: Relaxed; a heuristic.
    SPIN_NS.store(next.as_nanos() as u32, std::sync::atomic::Ordering::Relaxed);
}

/// What one non-blocking attempt of an operation found.
pub(crate) enum Attempt<R> {
    /// Finished (with a value or an error).
    Done(R),
    /// Would block; `busy`: the other side is mid-operation and may not wake us.
    Blocked { busy: bool },
}

/// The first step of a poll that may hold a reactor registration from an earlier poll: `true` while
/// it has not fired (the waker is refreshed; the future stays pending), else the spent registration
/// is dropped and the poll goes on to re-check its condition.
pub(crate) fn still_pending(reg: &mut Option<Registration>, cx: &Context<'_>) -> bool {
    if let Some(r) = reg {
        if r.fired(cx.waker()).is_none() {
            return true;
        }
        *reg = None;
    }
    false
}

/// What a wait on a [`WaitWord`] waits for.
#[derive(Clone, Copy)]
pub(crate) enum Expect {
    /// The word to change from the value it held before the sleeper registered (sequence words).
    Snapshot,
    /// The word to leave this value (a semaphore's count leaving 0).
    Value(u32),
}

/// The state of one pending `*_async` wait on a primitive's futex word: its registration with the
/// reactor and its sleeper count entry (both undone on drop, which makes the futures cancel-safe).
#[derive(Debug, Default)]
pub(crate) struct WordWait {
    reg: Option<Registration>,
    sleeper: Option<WaitWord<'static>>,
    /// Consecutive busy slices (their length doubles).
    busy_parks: u32,
    /// This wait's spin: how long it spun, and when it registered with the reactor (to feed the
    /// adaptive budget when the condition comes true).
    spun: Option<Duration>,
    parked_at: Option<Instant>,
}

/// How long an attempt has kept finding the other side mid-operation (for recovery of slots wedged by
/// dead peers, as the blocking calls' probe does).
#[derive(Debug, Default)]
pub(crate) struct BusyClock {
    since: Option<Instant>,
}

impl BusyClock {
    /// Records an attempt's `busy` answer; `true` once a busy episode has lasted a probe interval
    /// (time to force slots of dead peers), then the count restarts.
    pub(crate) fn note(&mut self, busy: bool) -> bool {
        if !busy {
            self.since = None;
            return false;
        }
        let now = Instant::now();
        match self.since {
            Some(t) if now.saturating_duration_since(t) >= PROBE_INTERVAL => {
                self.since = Some(now);
                true
            }
            Some(_) => false,
            None => {
                self.since = Some(now);
                false
            }
        }
    }
}

impl WordWait {
    fn reset(&mut self) {
        self.reg = None;
        if let Some(w) = self.sleeper.take() {
            w.remove_sleeper();
        }
    }

    /// One poll of an operation that waits on `word`.
    ///
    /// `attempt` is the non-blocking operation; `keep` what keeps `word`'s mapping alive (a segment
    /// clone), `probe` the liveness probe the reactor runs every [`PROBE_INTERVAL`], and `gave_up`
    /// the result when that probe fires (after one last attempt).
    ///
    /// The protocol (no lost wake-up): snapshot the word, add a sleeper, re-check with `attempt`,
    /// and only then register `(word, snapshot)` with the reactor, whose kernel wait fails at once
    /// if the word changed since the snapshot.
    #[allow(clippy::too_many_arguments)] // the protocol's pieces, each a closure of the caller's
    pub(crate) fn poll<R>(
        &mut self,
        cx: &mut Context<'_>,
        word: WaitWord<'static>,
        expect: Expect,
        keep: impl FnOnce() -> Keep,
        probe: impl FnOnce() -> Option<Probe>,
        mut attempt: impl FnMut() -> Attempt<R>,
        gave_up: impl FnOnce() -> R,
    ) -> Poll<R> {
        let fired = match &self.reg {
            Some(r) => r.fired(cx.waker()),
            None => Some(Fired::Woken),
        };
        if let Attempt::Done(r) = attempt() {
            self.reset();
            self.done();
            return Poll::Ready(r);
        }
        if self.spun.is_none() {
            // The first time this wait would block: spin for the adaptive budget first (a partner on
            // another core usually answers within microseconds, and a reactor hop costs two
            // thread wake-ups).
            let t0 = Instant::now();
            let budget = spin_budget();
            while t0.elapsed() < budget {
                // Read the clock once per 8 re-checks, with a few spin hints between re-checks (as
                // the blocking calls' spin: each re-check pulls the line the partner writes).
                for _ in 0..8 {
                    for _ in 0..3 {
                        std::hint::spin_loop();
                    }
                    if let Attempt::Done(r) = attempt() {
                        self.reset();
                        return Poll::Ready(r);
                    }
                }
            }
            self.spun = Some(t0.elapsed());
        }
        match fired {
            // Still registered (a poll for another reason): the waker is updated, keep waiting.
            None => return Poll::Pending,
            Some(Fired::Probe) => {
                self.reset();
                return Poll::Ready(gave_up());
            }
            Some(Fired::Woken) | Some(Fired::Deadline) => {}
        }
        self.reset();
        let snapshot = word.load();
        word.add_sleeper();
        self.sleeper = Some(word);
        let busy = match attempt() {
            Attempt::Done(r) => {
                self.reset();
                self.done();
                return Poll::Ready(r);
            }
            Attempt::Blocked { busy } => busy,
        };
        self.parked_at.get_or_insert_with(Instant::now);
        if busy {
            // Not a sleeper that needs a wake-up (the other side may not have seen us): leave the
            // count and re-check after a short sleep, doubling.
            self.reset();
            let slice = BUSY_SLICE
                .saturating_mul(1 << self.busy_parks.min(12))
                .min(PROBE_INTERVAL);
            self.busy_parks = self.busy_parks.saturating_add(1);
            self.reg = Some(Registration::new(
                Source::Timer,
                Some(Instant::now() + slice),
                probe(),
                Keep::None,
                cx.waker(),
            ));
            return Poll::Pending;
        }
        self.busy_parks = 0;
        let expected = match expect {
            Expect::Snapshot => snapshot,
            Expect::Value(v) => v,
        };
        self.reg = Some(Registration::new(
            Source::Futex {
                addr: word.word() as *const _ as usize,
                expected,
            },
            None,
            probe(),
            keep(),
            cx.waker(),
        ));
        Poll::Pending
    }
}

impl WordWait {
    /// The condition came true: if the wait parked, report how long that took to the spin policy.
    fn done(&mut self) {
        if let (Some(spun), Some(at)) = (self.spun.take(), self.parked_at.take()) {
            on_parked(spun, at.elapsed());
        }
    }
}

impl Drop for WordWait {
    fn drop(&mut self) {
        self.reset();
    }
}
