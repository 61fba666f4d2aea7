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
//! load of a line that only changes when someone sleeps. A notifier whose operation began with a
//! SeqCst read-modify-write that the waiter's re-check observes (the MPMC ring's claim CAS) needs no
//! fence: it reads `sleepers` right after that RMW ([`Signal::sleeping_after_seqcst`]), and a waiter
//! whose re-check sees the operation in progress, rather than done, is told so (`busy`) and polls in
//! short sleeps instead of waiting for a wake-up ([`Signal::wait_for`]).
//!
//! # Spin, then sleep — adaptively
//! Before registering as a sleeper a waiter spins, re-checking its condition, for a process-local
//! *adaptive* budget (see [`SpinState`]): when the other side runs on another core and answers within
//! microseconds, both sides stay out of the kernel entirely (no wake system call, no wake-up latency,
//! which on these VMs is 3-80 µs); when the other side can only run once this waiter yields its CPU
//! (both on one core, or more runnable processes than cores), the budget drops to zero so the waiter
//! parks at once, and it is re-probed with exponentially growing pauses. The budget grows to cover
//! the waits it just saw (up to [`spin_limit`], 200 µs by default — the same window KVM's adaptive
//! halt-polling uses) and halves after waits longer than that. [`set_spin_limit`] tunes it
//! (`Duration::ZERO` never spins).
//!
//! # Disconnection
//! A waiter parks in slices of [`PROBE_INTERVAL`]; between slices it asks the other side's
//! [`PeerTable`] whether any holder other than the caller can still act, and gives up with
//! [`PopError::Disconnected`] (or [`PushError::Closed`] for a producer whose consumers all died) once
//! the ring is also empty. So a blocked `get` notices a killed peer within about 50 ms.
//!
//! # Layout of [`Control`] (4 cache lines of [`crate::padded::CACHE_LINE`] bytes)
//! In parentheses: where layouts use 32-bit words (see [`crate::atomic::Word`]); offsets from 128 on
//! are then multiples of 64 (`CACHE_LINE` is 64 on those targets).
//! | offset (x86_64) | size | field                 | written by                                  |
//! |----------------:|-----:|-----------------------|---------------------------------------------|
//! | 0               | 4    | `closed`              | `close` (0 -> 1, sticky)                    |
//! | 8 (4)           | 8 (4)| `lost`                | survivors recovering a dead consumer's slot |
//! | 16 (8)          | 4    | `tasks`               | JoinableQueue `put` (+1) and `task_done` (-1)|
//! | 20 (12)         | 4    | `tasks_lost`          | a `join`er that took over a dead consumer's tasks |
//! | 128             | 4    | `not_empty.seq`       | producers (bump when consumers sleep), close|
//! | 132             | 4    | `not_empty.sleepers`  | consumers (+1 before parking, -1 after)      |
//! | 256             | 4    | `not_full.seq`        | consumers (bump when producers sleep), close|
//! | 260             | 4    | `not_full.sleepers`   | producers                                   |
//! | 384             | 4    | `tasks_sleepers`      | `join` callers                               |

use crate::atomic::{fence, AtomicU32, AtomicWord, Ordering};
use crate::padded::CachePadded;
use crate::queue::peers::{PeerTable, SideState};
use crate::queue::{PopError, PushError};
use crate::time::{Clock, Deadline};
use crate::wait::Wait;
use core::cell::Cell;
use core::time::Duration;

/// Re-checks of the condition (one spin-loop hint apart) a waiter makes before it registers as a
/// sleeper when its `Wait` has no clock (so the adaptive, time-based budget cannot be used).
pub const PRE_SPIN: u32 = 50;

/// Spin-loop hints between two re-checks of the condition while spinning.
const POLL_PAUSES: u32 = 3;
/// How long a spinning waiter that found the other side mid-operation leaves it alone before its
/// first re-check (ns).
const FIRST_RECHECK_NS: u64 = 300;

/// The spin budget a process starts with (ns).
const INITIAL_SPIN_NS: u32 = 2_000;
/// The default [`spin_limit`] (ns).
const DEFAULT_SPIN_LIMIT_NS: u32 = 200_000;
/// The longest pause between re-probes of a budget that proved useless: 2^10 waits.
const MAX_BACKOFF: u8 = 10;
/// Consecutive "woken sooner than spun" waits that make [`SpinState::on_park`] stop spinning.
pub const STRIKES: u8 = 2;

/// The upper bound of the adaptive spin budget, in ns (process-local).
static SPIN_LIMIT_NS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(DEFAULT_SPIN_LIMIT_NS);
/// The state a process starts with.
const INITIAL_STATE: SpinState = SpinState {
    budget_ns: INITIAL_SPIN_NS,
    cooldown: 0,
    backoff: 0,
    strikes: 0,
};
/// The packed [`SpinState`] (process-local).
#[cfg(any(loom, target_has_atomic = "64"))]
static SPIN_STATE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(INITIAL_STATE.pack());
/// The packed [`SpinState`] (process-local). Without 64-bit atomics a load may combine the halves of
/// two states; every field of either is valid, so that is one more lost update of a heuristic.
#[cfg(not(any(loom, target_has_atomic = "64")))]
static SPIN_STATE: crate::atomic::SplitU64 = crate::atomic::SplitU64::new(INITIAL_STATE.pack());

/// Sets the longest time a blocked `get`/`put`/`recv`/`send` of this process spins before it sleeps
/// in the kernel (default 200 µs; clamped to 1 s). `Duration::ZERO` disables spinning: every wait
/// parks at once, which saves CPU time and costs the wake-up latency on every message.
pub fn set_spin_limit(limit: Duration) {
    let ns = limit.as_nanos().min(1_000_000_000) as u32;
    // Ordering: Relaxed; a tuning knob, no data is published through it.
    SPIN_LIMIT_NS.store(ns, Ordering::Relaxed);
    // Ordering: Relaxed; the state is a heuristic.
    let st = SpinState::unpack(SPIN_STATE.load(Ordering::Relaxed));
    let st = SpinState {
        budget_ns: st.budget_ns.min(ns),
        ..st
    };
    // Ordering: Relaxed; as above.
    SPIN_STATE.store(st.pack(), Ordering::Relaxed);
}

/// The current upper bound of the adaptive spin budget (see [`set_spin_limit`]).
pub fn spin_limit() -> Duration {
    // Ordering: Relaxed; a tuning knob.
    Duration::from_nanos(SPIN_LIMIT_NS.load(Ordering::Relaxed).into())
}

/// The adaptive spin policy's state: how long the next wait spins, and the back-off after a spin
/// proved useless. Pure functions of the outcomes the waits report, kept process-local in one
/// atomic word (threads of a process share it; a lost update only delays adaptation).
///
/// ```
/// use ringfork_core::queue::blocking::SpinState;
/// let st = SpinState { budget_ns: 1000, cooldown: 0, backoff: 0, strikes: 0 };
/// // Woken sooner after parking than it had spun, twice in a row: the partner shares our core.
/// let once = st.on_park(1000, 300, 200_000);
/// let twice = once.on_park(1000, 300, 200_000);
/// assert_eq!((once.strikes, twice.budget_ns, twice.cooldown), (1, 0, 2)); // park at once, twice
/// // A short wait that a longer spin would have caught: spin twice as long next time.
/// assert_eq!(st.on_park(1000, 2000, 200_000).budget_ns, 6000);
/// assert_eq!(twice.on_spin_success().backoff, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpinState {
    /// How long the next wait spins before it registers as a sleeper (ns).
    pub budget_ns: u32,
    /// Waits left that park at once before the budget may grow again.
    pub cooldown: u16,
    /// log2 of the next cooldown.
    pub backoff: u8,
    /// Waits in a row, without a spin success between them, that were woken sooner after parking
    /// than they had spun (see [`Self::on_park`]).
    pub strikes: u8,
}

impl SpinState {
    const fn pack(self) -> u64 {
        self.budget_ns as u64 | (self.cooldown as u64) << 32 | (self.backoff as u64) << 48 | (self.strikes as u64) << 56
    }

    fn unpack(w: u64) -> SpinState {
        SpinState {
            budget_ns: w as u32,
            cooldown: (w >> 32) as u16,
            backoff: ((w >> 48) as u8).min(MAX_BACKOFF),
            strikes: (w >> 56) as u8,
        }
    }

    /// The spin phase found the condition true: spinning works; keep the budget.
    pub fn on_spin_success(self) -> SpinState {
        SpinState {
            backoff: 0,
            strikes: 0,
            ..self
        }
    }

    /// The waiter spun `spun_ns`, then slept `parked_ns` until its condition came true.
    ///
    /// - Woken sooner after it stopped spinning than it had spun (`parked_ns < spun_ns`), for the
    ///   [`STRIKES`]th wait in a row without a spin success in between: the other side made progress
    ///   as soon as this one left the CPU — they share a core, and spinning only delays both. Stop
    ///   spinning for 2^backoff waits, and double that pause next time. (Once is not enough: on a
    ///   busy machine a partner on another core that was preempted while we spun comes back at a
    ///   random moment, often just after we parked.)
    /// - Else, in a cooldown: count it down.
    /// - Else, a wait no longer than the limit: a spin twice as long would have caught it (this is
    ///   also how two processes on two cores fall back into the syscall-free regime after a hiccup).
    /// - Else (a long wait: the other side is idle): halve the budget.
    pub fn on_park(self, spun_ns: u64, parked_ns: u64, limit_ns: u32) -> SpinState {
        if spun_ns > 0 && parked_ns < spun_ns {
            if self.strikes.saturating_add(1) < STRIKES {
                return SpinState {
                    strikes: self.strikes + 1,
                    ..self
                };
            }
            let backoff = (self.backoff + 1).min(MAX_BACKOFF);
            return SpinState {
                budget_ns: 0,
                cooldown: 1 << backoff,
                backoff,
                strikes: 0,
            };
        }
        let st = SpinState { strikes: 0, ..self };
        if st.cooldown > 0 {
            return SpinState {
                budget_ns: 0,
                cooldown: st.cooldown - 1,
                ..st
            };
        }
        let total = spun_ns.saturating_add(parked_ns);
        let budget_ns = if total <= u64::from(limit_ns) {
            total.saturating_mul(2).min(u64::from(limit_ns)) as u32
        } else {
            st.budget_ns / 2
        };
        SpinState { budget_ns, ..st }
    }
}

/// What a waiter's `give_up` check is told about the wait so far.
///
/// What a `give_up` check of [`Signal::wait_for`] sees:
// The example needs the `futex` feature (the default): the OS monotonic clock (`OsClock`) for its deadline.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use core::cell::Cell;
/// use ringfork_core::queue::spsc::Spsc;
/// use ringfork_core::{time::OsClock, wait::DefaultWait, Deadline, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
/// let soon = Deadline::after::<OsClock>(std::time::Duration::from_millis(5));
/// let mut infos = Vec::new();
/// let r = ring.ctrl().control.not_empty.wait_for::<DefaultWait, (), _>(
///     soon, &Cell::new(false), || None, |info| { infos.push(info); None }, "timed out");
/// assert_eq!(r, Err("timed out"));
/// assert!(!infos[0].parked); // asked before the first sleep, too
/// let last = infos.last().unwrap(); // asked once more when the deadline has passed
/// assert!(last.last && last.parked && last.since.is_some());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct WaitInfo {
    /// Whether the waiter has parked in the kernel at least once (liveness probes are only worth
    /// their cost after that).
    pub parked: bool,
    /// When the wait's spin phase began (None without a clock).
    pub since: Option<crate::time::Instant>,
    /// The deadline has passed and the wait is about to report a time-out: the last chance to find
    /// a better answer (a dead peer) for a wait that was too short for a regular probe.
    pub last: bool,
}

/// One wait's spin phase and the bookkeeping that feeds [`SpinState`].
struct Spinner<C: Clock> {
    /// When the spin phase started (None: not started, or no clock).
    start: Option<crate::time::Instant>,
    /// How long it spun.
    spun_ns: u64,
    /// The last clock reading (end of the spin phase).
    last_now: Option<crate::time::Instant>,
    parked: bool,
    _c: core::marker::PhantomData<C>,
}

impl<C: Clock> Spinner<C> {
    fn new() -> Self {
        Spinner {
            start: None,
            spun_ns: 0,
            last_now: None,
            parked: false,
            _c: core::marker::PhantomData,
        }
    }

    /// Spins (re-checking `ready`) for the adaptive budget; returns what `ready` produced, if it did.
    /// Never spins past `deadline`, so a short timeout is not overshot by the spin budget. `busy`:
    /// the last attempt found the other side mid-operation (see [`FIRST_RECHECK_NS`]).
    #[inline]
    fn spin<R>(&mut self, ready: &mut impl FnMut() -> Option<R>, deadline: Deadline, busy: bool) -> Option<R> {
        if self.start.is_some() || self.parked {
            // Spin once per wait: after a wake-up the waiter re-checks, then parks again.
            return None;
        }
        #[cfg(loom)]
        {
            let _ = (ready, deadline, busy);
            None
        }
        #[cfg(not(loom))]
        {
            let Some(t0) = C::now() else {
                for _ in 0..PRE_SPIN {
                    crate::atomic::spin_hint();
                    if let Some(r) = ready() {
                        return Some(r);
                    }
                }
                return None;
            };
            self.start = Some(t0);
            // Ordering: Relaxed; heuristic state.
            let st = SpinState::unpack(SPIN_STATE.load(Ordering::Relaxed));
            // Ordering: Relaxed; a tuning knob.
            let budget = u64::from(st.budget_ns.min(SPIN_LIMIT_NS.load(Ordering::Relaxed)));
            let mut end = t0.0.saturating_add(budget);
            if let Deadline::At(d) = deadline {
                end = end.min(d.0);
            }
            let mut now = t0;
            // If the attempt saw the other side in the middle of an operation on the very slot we
            // want (`busy`: a streaming partner just ahead of us), leave it alone for a moment
            // before the first re-check, so it fills whole cache lines undisturbed instead of
            // having each slot's line pulled away the moment it writes it (Queue 1P1C: ~28 ->
            // ~41 M/s in alternating runs). A ping-pong partner is not mid-operation when we start
            // waiting (it is still reading our message), so round trips do not pay this.
            let quiet = if busy {
                t0.0.saturating_add(FIRST_RECHECK_NS).min(end)
            } else {
                0
            };
            while now.0 < quiet {
                for _ in 0..8 {
                    crate::atomic::spin_hint();
                }
                now = C::now().unwrap_or(crate::time::Instant(u64::MAX));
            }
            while now.0 < end {
                // Read the clock (~20 ns) once per 8 re-checks.
                for _ in 0..8 {
                    // Each re-check pulls the line the other side is writing into our cache and
                    // stalls its next locked write; a few hints between re-checks let it finish a
                    // burst first (Queue streaming +25 %, ping-pong latency unchanged).
                    for _ in 0..POLL_PAUSES {
                        crate::atomic::spin_hint();
                    }
                    if let Some(r) = ready() {
                        // Ordering: Relaxed; heuristic state.
                        SPIN_STATE.store(st.on_spin_success().pack(), Ordering::Relaxed);
                        return Some(r);
                    }
                }
                now = C::now().unwrap_or(crate::time::Instant(u64::MAX));
            }
            self.spun_ns = now.0.saturating_sub(t0.0);
            self.last_now = Some(now);
            None
        }
    }

    /// The waiter is about to park.
    fn parking(&mut self) {
        self.parked = true;
    }

    /// What the waiter's `give_up` check gets to know.
    fn info(&self) -> WaitInfo {
        WaitInfo {
            parked: self.parked,
            since: self.start,
            last: false,
        }
    }

    /// A recent clock reading (the end of the spin phase), or a fresh one.
    fn now(&mut self) -> Option<crate::time::Instant> {
        self.last_now.take().or_else(C::now)
    }

    /// The condition came true; if the waiter had parked, report how long that took.
    fn done(&self) {
        if !self.parked {
            return;
        }
        let (Some(t0), Some(now)) = (self.start, C::now()) else {
            return;
        };
        let parked_ns = now.0.saturating_sub(t0.0).saturating_sub(self.spun_ns);
        // Ordering: Relaxed; heuristic state and a tuning knob.
        let st = SpinState::unpack(SPIN_STATE.load(Ordering::Relaxed));
        let limit = SPIN_LIMIT_NS.load(Ordering::Relaxed);
        // Ordering: Relaxed; heuristic state.
        SPIN_STATE.store(st.on_park(self.spun_ns, parked_ns, limit).pack(), Ordering::Relaxed);
    }
}

/// How long a blocked waiter sleeps before it re-checks the other side's liveness.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// The first sleep of a waiter whose condition is about to come true without a notification (see
/// [`Signal::wait_for`]); each further one doubles, up to [`PROBE_INTERVAL`].
pub const BUSY_SLICE: Duration = Duration::from_micros(20);

/// A futex word plus a sleeper count. See the module docs.
///
/// ```
/// use core::cell::Cell;
/// use ringfork_core::queue::spsc::Spsc;
/// use ringfork_core::{wait::DefaultWait, Deadline, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
/// let not_empty = &ring.ctrl().control.not_empty; // consumers sleep on it, producers notify it
/// let (mut tx, mut rx) = ring.split();
/// tx.try_push(1).unwrap();
/// not_empty.notify_one::<DefaultWait>(); // nobody sleeps: no system call
/// let busy = Cell::new(false);
/// let got = not_empty.wait_for::<DefaultWait, _, _>(Deadline::Never, &busy, || rx.try_pop().ok(), |_| None, ());
/// assert_eq!(got, Ok(1));
/// ```
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

    /// The `seq` word and the sleeper count, for a waiter that does not park a thread (an event
    /// loop): snapshot `seq`, add a sleeper, re-check, then wait for `seq` to differ from the
    /// snapshot (see [`crate::wait::WaitWord`]).
    ///
    /// ```
    /// use ringfork_core::queue::spsc::Spsc;
    /// use ringfork_core::{wait::DefaultWait, Region};
    /// #[repr(C, align(128))]
    /// struct Buf([u8; 8192]);
    /// let mut buf = Buf([0; 8192]);
    /// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
    /// let w = ring.ctrl().control.not_empty.wait_word();
    /// let seq = w.load();
    /// w.add_sleeper();
    /// ring.ctrl().control.not_empty.notify_one::<DefaultWait>(); // sees the sleeper: bumps `seq`
    /// assert_ne!(w.load(), seq);
    /// w.remove_sleeper();
    /// ```
    pub fn wait_word(&self) -> crate::wait::WaitWord<'_> {
        crate::wait::WaitWord::new(&self.seq, &self.sleepers)
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

    /// Whether a waiter is registered as a sleeper, for a caller that just made a **SeqCst
    /// read-modify-write** R that a waiter's re-check would observe (a claim, committed shortly
    /// after): that RMW takes the place of [`Self::notify_one`]'s fence. Either our SeqCst load of
    /// `sleepers` follows the waiter's SeqCst increment in the single total order S (then we see the
    /// sleeper), or it precedes it; then R, sequenced before the load, also precedes the waiter's
    /// SeqCst fence in S, and the waiter's re-check, sequenced after that fence, observes R (C++20
    /// `[atomics.order]` p4: were both missed, the waiter's fence Y would precede R in S (4.3: Y
    /// happens before the re-check, which is coherence-ordered before R), R precedes our load L
    /// (sequenced, both SC), L precedes the increment F (4.1), and F precedes Y (sequenced): a
    /// cycle). On x86 this saves an `mfence` per operation; on aarch64 the SC load after the
    /// store-release of the CAS is ordered by the architecture's RCsc rules. The caller commits, then
    /// calls [`Self::wake_one`] if this said yes.
    ///
    /// loom models SeqCst accesses as AcqRel (tokio-rs/loom#180), so under loom a fence is added,
    /// and the no-lost-wake-up models check the protocol around it.
    #[inline(always)]
    pub fn sleeping_after_seqcst(&self) -> bool {
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        // Ordering: SeqCst; see above.
        self.sleepers.load(Ordering::SeqCst) != 0
    }

    /// Wakes one sleeper (after [`Self::sleeping_after_seqcst`] said there is one).
    #[inline]
    pub fn wake_one<W: Wait>(&self) {
        self.bump::<W>(1);
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

    /// Waits (through `W`) until `ready()` returns `Some`, `deadline` passes, or `give_up(info)`
    /// returns `Some` (checked before the wait sleeps and after every wake-up, at least once per
    /// [`PROBE_INTERVAL`] of sleep). `ready` must be cheap and non-blocking.
    ///
    /// `ready` sets `busy` when the condition is about to come true *without* a notification (the
    /// other side claimed what we wait for before we registered as a sleeper, so it may not have
    /// seen us): the waiter then leaves the sleeper count and sleeps in short slices
    /// ([`BUSY_SLICE`], doubling) instead of waiting for a wake-up, so that wake-ups go to waiters
    /// that need them.
    pub fn wait_for<W: Wait, R, E>(
        &self,
        deadline: Deadline,
        busy: &Cell<bool>,
        mut ready: impl FnMut() -> Option<R>,
        mut give_up: impl FnMut(WaitInfo) -> Option<E>,
        timed_out: E,
    ) -> Result<R, E> {
        let mut spinner = Spinner::<W::Clock>::new();
        let mut busy_parks = 0u32;
        loop {
            if let Some(r) = ready() {
                spinner.done();
                return Ok(r);
            }
            if let Some(e) = give_up(spinner.info()) {
                // One last look: something may have arrived just before the peer died.
                return ready().ok_or(e);
            }
            if deadline == Deadline::Immediate || deadline.expired::<W::Clock>() {
                if spinner.parked {
                    let last = WaitInfo {
                        last: true,
                        ..spinner.info()
                    };
                    if let Some(e) = give_up(last) {
                        return ready().ok_or(e);
                    }
                }
                return ready().ok_or(timed_out);
            }
            // Spin *before* registering as a sleeper: while registered, every commit on the other
            // side pays a wake system call, so the cheap phase must come first.
            if let Some(r) = spinner.spin(&mut ready, deadline, busy.get()) {
                return Ok(r);
            }
            // Ordering: Acquire pairs with the Release bump; the snapshot must precede the re-check.
            let seq = self.seq.load(Ordering::Acquire);
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            busy.set(false);
            if let Some(r) = ready() {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                return Ok(r);
            }
            let longest = if busy.get() {
                let slice = BUSY_SLICE.saturating_mul(1 << busy_parks.min(12)).min(PROBE_INTERVAL);
                busy_parks = busy_parks.saturating_add(1);
                slice
            } else {
                // A new busy episode starts from the shortest slice again.
                busy_parks = 0;
                PROBE_INTERVAL
            };
            let slice = match spinner.now() {
                Some(now) => match deadline {
                    Deadline::At(d) if d < now.saturating_add(longest) => Deadline::At(d),
                    _ => Deadline::At(now.saturating_add(longest)),
                },
                // No clock and the other side mid-operation: re-check without sleeping.
                None if busy.get() => {
                    self.sleepers.fetch_sub(1, Ordering::SeqCst);
                    crate::atomic::spin_hint();
                    continue;
                }
                // A clock that cannot tell time: spin-check once per call.
                None => match deadline {
                    Deadline::Never => Deadline::Immediate,
                    d => d,
                },
            };
            spinner.parking();
            if busy.get() {
                // Not a sleeper that needs a wake-up: leave the count, so a notifier's single wake
                // goes to a waiter that does, and just sleep the slice (on a private word).
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                let _ = W::park(&AtomicU32::new(0), 0, slice);
                continue;
            }
            let _ = W::park(&self.seq, seq, slice);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The control block every ring carries. See the module docs for the layout.
///
/// ```
/// use ringfork_core::queue::spsc::Spsc;
/// use ringfork_core::{wait::DefaultWait, Deadline, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
/// let control = &ring.ctrl().control;
/// control.add_task().unwrap(); // a JoinableQueue put
/// assert_eq!(control.unfinished_tasks(), 1);
/// control.task_done::<DefaultWait>().unwrap();
/// assert!(control.join::<DefaultWait>(Deadline::Immediate).is_ok());
/// control.close::<DefaultWait>();
/// assert!(control.is_closed() && control.lost() == 0);
/// ```
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
    lost: AtomicWord,
    tasks: AtomicU32,
    tasks_lost: AtomicU32,
}

#[cfg(not(loom))]
const _: () = {
    use crate::padded::CACHE_LINE;
    assert!(core::mem::size_of::<Control>() == 4 * CACHE_LINE);
    assert!(core::mem::offset_of!(Control, not_empty) == CACHE_LINE);
    assert!(core::mem::offset_of!(Control, not_full) == 2 * CACHE_LINE);
    // 32-bit words: `lost` at 4, `tasks` at 8, `tasks_lost` at 12 (docs/layout.md, "32-bit words").
    let w = core::mem::size_of::<AtomicWord>();
    assert!(core::mem::offset_of!(State, lost) == w);
    assert!(core::mem::offset_of!(State, tasks) == 2 * w);
    assert!(core::mem::offset_of!(State, tasks_lost) == 2 * w + 4);
};

/// `task_done` was called more times than items were put.
///
/// ```
/// use ringfork_core::queue::{blocking::TaskDoneError, spsc::Spsc};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
/// // More `task_done`s than puts (Python raises `ValueError`).
/// let err = ring.ctrl().control.task_done::<DefaultWait>().unwrap_err();
/// assert!(matches!(err, TaskDoneError));
/// assert_eq!(ring.ctrl().control.unfinished_tasks(), 0);
/// ```
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
                lost: AtomicWord::new(0),
                tasks: AtomicU32::new(0),
                tasks_lost: AtomicU32::new(0),
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
        self.state.tasks_lost.store(0, Ordering::Relaxed);
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

    /// Messages lost because the consumer that claimed them was killed before finishing its copy
    /// (modulo 2^32 where layouts use 32-bit words).
    pub fn lost(&self) -> u64 {
        // Ordering: Relaxed; a statistic.
        crate::atomic::widen(self.state.lost.load(Ordering::Relaxed))
    }

    /// Counts one message as lost: taken by a consumer that could not deliver it (the rings'
    /// recovery of a dead reader's slot; the host's large-message lane when a reader gives up on a
    /// stalled stream past its deadline).
    pub fn add_lost(&self) {
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

    /// Tasks taken over from consumers that died between taking an item and `task_done`
    /// ([`Self::reclaim_tasks`]).
    pub fn tasks_lost(&self) -> u32 {
        // Ordering: Relaxed; a statistic.
        self.state.tasks_lost.load(Ordering::Relaxed)
    }

    /// Accounts for `n` tasks whose consumer died before `task_done` (the caller took them over
    /// exactly once, see [`crate::queue::peers::PeerTable::reclaim_pending`]): they stop counting
    /// as unfinished (never below 0) and count in [`Self::tasks_lost`]; `join`ers wake if none are
    /// left.
    pub fn reclaim_tasks<W: Wait>(&self, n: u32) {
        if n == 0 {
            return;
        }
        // Ordering: Relaxed; a statistic.
        self.state.tasks_lost.fetch_add(n, Ordering::Relaxed);
        // Ordering: AcqRel, as `task_done`.
        let prev = self
            .state
            .tasks
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |t| Some(t.saturating_sub(n)))
            .unwrap_or(0);
        if prev != 0 && prev <= n {
            fence(Ordering::SeqCst);
            // Ordering: Relaxed after the fence (Dekker with `join`).
            if self.tasks_sleepers.load(Ordering::Relaxed) != 0 {
                W::wake_all(&self.state.tasks);
            }
        }
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

    /// The unfinished-task counter and the `join` sleeper count, for a joiner that does not park a
    /// thread: add a sleeper, re-check [`Self::unfinished_tasks`], then wait for the counter to
    /// change from the value it held (see [`crate::wait::WaitWord`]).
    ///
    /// ```
    /// use ringfork_core::queue::spsc::Spsc;
    /// use ringfork_core::{wait::DefaultWait, Region};
    /// #[repr(C, align(128))]
    /// struct Buf([u8; 8192]);
    /// let mut buf = Buf([0; 8192]);
    /// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
    /// let control = &ring.ctrl().control;
    /// control.add_task().unwrap();
    /// let w = control.tasks_wait_word();
    /// assert_eq!(w.load(), 1);
    /// control.task_done::<DefaultWait>().unwrap();
    /// assert_eq!(w.load(), 0);
    /// ```
    pub fn tasks_wait_word(&self) -> crate::wait::WaitWord<'_> {
        crate::wait::WaitWord::new(&self.state.tasks, &self.tasks_sleepers)
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
    /// no producer other than the caller can act (see [`PeerTable::side_state`]) and the ring is empty.
    #[inline(always)]
    pub fn pop_wait<W: Wait, R>(
        &self,
        producers: Option<&PeerTable>,
        deadline: Deadline,
        busy: &Cell<bool>,
        try_pop: impl FnMut() -> Result<R, PopError>,
        on_probe: impl FnMut(),
    ) -> Result<R, PopError> {
        let errors = OpErrors {
            busy,
            would_block: PopError::Empty,
            closed: PopError::Closed,
            others_dead: PopError::Disconnected,
            timed_out: PopError::TimedOut,
        };
        self.op::<W, R, PopError>(&self.not_empty, producers, deadline, try_pop, on_probe, errors)
    }

    /// Waits to push: `try_push` until it succeeds (calling `on_probe` as for [`Self::pop_wait`]),
    /// the deadline passes, the ring is closed, or no consumer other than the caller can act (then
    /// [`PushError::Closed`]: nobody will ever make room).
    #[inline(always)]
    pub fn push_wait<W: Wait, R>(
        &self,
        consumers: Option<&PeerTable>,
        deadline: Deadline,
        busy: &Cell<bool>,
        try_push: impl FnMut() -> Result<R, PushError>,
        on_probe: impl FnMut(),
    ) -> Result<R, PushError> {
        let errors = OpErrors {
            busy,
            would_block: PushError::Full,
            closed: PushError::Closed,
            others_dead: PushError::Closed,
            timed_out: PushError::TimedOut,
        };
        self.op::<W, R, PushError>(&self.not_full, consumers, deadline, try_push, on_probe, errors)
    }

    /// The loop behind [`Self::pop_wait`] and [`Self::push_wait`]: `attempt` until it stops failing
    /// with `would_block`, waiting on `signal`; probes the other side's `peers` once per
    /// [`PROBE_INTERVAL`] of sleep.
    /// The common case first, outside the waiting machinery of [`Self::op_wait`] (which makes this
    /// same attempt first, but costs about as much again as the whole operation to set up).
    #[inline(always)]
    fn op<W: Wait, R, E: Copy + PartialEq>(
        &self,
        signal: &Signal,
        peers: Option<&PeerTable>,
        deadline: Deadline,
        mut attempt: impl FnMut() -> Result<R, E>,
        on_probe: impl FnMut(),
        errors: OpErrors<'_, E>,
    ) -> Result<R, E> {
        match attempt() {
            Err(e) if e == errors.would_block => {}
            r => return r,
        }
        self.op_wait::<W, R, E>(signal, peers, deadline, attempt, on_probe, errors)
    }

    #[inline(never)]
    fn op_wait<W: Wait, R, E: Copy + PartialEq>(
        &self,
        signal: &Signal,
        peers: Option<&PeerTable>,
        deadline: Deadline,
        mut attempt: impl FnMut() -> Result<R, E>,
        mut on_probe: impl FnMut(),
        errors: OpErrors<'_, E>,
    ) -> Result<R, E> {
        let mut last_probe = None;
        let mut probed = false;
        // A hard error from `attempt` ends the wait at once: `ready` yields it as `Some(Err(e))`.
        let r = signal.wait_for::<W, Result<R, E>, E>(
            deadline,
            errors.busy,
            || match attempt() {
                Err(e) if e == errors.would_block => None,
                r => Some(r),
            },
            |w| {
                if self.is_closed() {
                    return Some(errors.closed);
                }
                // Regularly once per PROBE_INTERVAL of sleep; and once at the end of a wait that
                // slept but was too short for that (a `get(timeout=10ms)` loop must still learn
                // that every producer died). Never for a wait that did not sleep: a `try_get` loop
                // must stay cheap.
                let probe = if w.last {
                    !probed
                } else {
                    w.parked && due::<W::Clock>(&mut last_probe, w.since)
                };
                if probe {
                    probed = true;
                    on_probe();
                    if peers.is_some_and(|p| p.side_state() == SideState::AllDead) {
                        return Some(errors.others_dead);
                    }
                }
                None
            },
            errors.timed_out,
        );
        match r {
            Ok(r) => r,
            Err(e) if e == errors.timed_out && deadline == Deadline::Immediate => Err(errors.would_block),
            Err(e) => Err(e),
        }
    }
}

/// The errors one direction of [`Control::op_wait`] reports, and its "busy" flag (see
/// [`Signal::wait_for`]).
#[derive(Clone, Copy)]
struct OpErrors<'a, E> {
    /// Set by the attempt when the condition is about to come true without a notification.
    busy: &'a Cell<bool>,
    /// "Try again": `Empty` / `Full` (also what an `Immediate` deadline reports).
    would_block: E,
    /// The ring was closed.
    closed: E,
    /// Every registered participant on the other side is dead.
    others_dead: E,
    /// The deadline passed.
    timed_out: E,
}

/// Whether a liveness probe is due: [`PROBE_INTERVAL`] after the previous one, or after `since` (when
/// the wait began) for the first; always without a clock.
fn due<C: Clock>(last: &mut Option<crate::time::Instant>, since: Option<crate::time::Instant>) -> bool {
    let Some(now) = C::now() else {
        return true;
    };
    let from = last.or(since).unwrap_or(now);
    if now.saturating_duration_since(from) < PROBE_INTERVAL {
        *last = Some(from);
        false
    } else {
        *last = Some(now);
        true
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const LIMIT: u32 = DEFAULT_SPIN_LIMIT_NS;

    /// Plays `waits` waits against a partner that answers `answer_ns` after the wait begins if the
    /// waiter does not hold its CPU (`shared_cpu == false`), or `answer_ns` after the waiter parks
    /// (`shared_cpu == true`: the partner cannot run while the waiter spins). Returns the final state
    /// and the total time spent spinning.
    fn play(mut st: SpinState, waits: u32, answer_ns: u64, shared_cpu: bool) -> (SpinState, u64) {
        let mut burned = 0;
        for _ in 0..waits {
            let budget = u64::from(st.budget_ns);
            if !shared_cpu && answer_ns <= budget {
                burned += answer_ns;
                st = st.on_spin_success();
            } else {
                burned += budget;
                let parked = if shared_cpu { answer_ns } else { answer_ns - budget };
                st = st.on_park(budget, parked, LIMIT);
            }
        }
        (st, burned)
    }

    fn start() -> SpinState {
        SpinState::unpack(INITIAL_STATE.pack())
    }

    #[test]
    fn packing_round_trips() {
        let st = SpinState {
            budget_ns: 123_456,
            cooldown: 512,
            backoff: 9,
            strikes: 1,
        };
        assert_eq!(SpinState::unpack(st.pack()), st);
        // A garbage backoff is clamped.
        assert_eq!(SpinState::unpack(u64::MAX).backoff, MAX_BACKOFF);
    }

    #[test]
    fn shared_cpu_stops_spinning() {
        // Both processes on one CPU: the partner answers 1.5 µs after we park, never while we spin.
        let (st, burned) = play(start(), 10_000, 1_500, true);
        assert!(st.backoff >= MAX_BACKOFF - 1, "{st:?}");
        // Probes happen every 2^backoff waits: the spin time stays a small fraction of the parked time.
        let parked_total = 10_000 * 1_500;
        assert!(burned * 20 < parked_total, "spun {burned} ns over 10 000 waits");
    }

    #[test]
    fn one_early_wake_up_between_successes_keeps_spinning() {
        // Another core, but the partner is preempted now and then and comes back just after we
        // parked (woken sooner than we spun): isolated, that must not stop the spinning.
        let mut st = start();
        for _ in 0..100 {
            st = st.on_park(u64::from(st.budget_ns), 1_000, LIMIT);
            assert!(st.budget_ns > 0, "{st:?}");
            for _ in 0..10 {
                st = st.on_spin_success();
            }
        }
        // Twice in a row is a shared CPU.
        let st = st.on_park(2_000, 1_000, LIMIT).on_park(2_000, 1_000, LIMIT);
        assert_eq!(st.budget_ns, 0);
    }

    #[test]
    fn two_cores_fall_into_the_spinning_regime() {
        // The partner runs on another core but each wake-up takes 60 µs: after one park the budget
        // covers it, and the following waits are caught by spinning.
        let (st, _) = play(start(), 3, 60_000, false);
        assert!(u64::from(st.budget_ns) >= 60_000, "{st:?}");
        let (st2, burned) = play(st, 100, 300, false);
        assert_eq!(burned, 100 * 300);
        assert_eq!(st2.budget_ns, st.budget_ns);
    }

    #[test]
    fn idle_partner_halves_the_budget() {
        let busy = SpinState {
            budget_ns: LIMIT,
            cooldown: 0,
            backoff: 0,
            strikes: 0,
        };
        // Messages every 10 ms: spinning cannot catch them; the budget decays to nothing quickly.
        let (st, burned) = play(busy, 20, 10_000_000, false);
        assert!(st.budget_ns < 1_000, "{st:?}");
        assert!(burned < 2 * u64::from(LIMIT), "spun {burned} ns");
    }

    #[test]
    fn limit_bounds_the_budget() {
        assert_eq!(start().on_park(0, 20_000, 50_000).budget_ns, 40_000);
        assert_eq!(start().on_park(0, 40_000, 50_000).budget_ns, 50_000);
        // Longer than the limit: halve.
        assert_eq!(start().on_park(0, 150_000, 50_000).budget_ns, INITIAL_SPIN_NS / 2);
        let st = start().on_park(0, 10_000, 0);
        assert_eq!(st.budget_ns, INITIAL_SPIN_NS / 2);
    }
}
