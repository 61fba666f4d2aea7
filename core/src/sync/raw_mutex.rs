//! [`RawMutex`]: an embeddable, robust, process-shared lock word (no object header of its own).
//!
//! Queues, values and conditions embed a `RawMutex` inside their own `#[repr(C)]` layout; the typed
//! [`crate::sync::mutex::Mutex`] wraps one with a header and data.
//!
//! # Layout (16 bytes, align 8)
//!
//! | offset | size | field      | written by                                        |
//! |-------:|-----:|------------|---------------------------------------------------|
//! | 0      | 4    | `word`     | lockers (CAS), the owner (unlock), takers-over     |
//! | 4      | 4    | `probed`   | non-blocking lockers: when the owner was last probed (ms, wrapping) |
//! | 8      | 8    | `owner`    | the owner, right after acquiring (plain store)    |
//!
//! # The lock word (Linux robust-futex format)
//!
//! | bits   | name          | meaning                                                            |
//! |--------|---------------|--------------------------------------------------------------------|
//! | 0..30  | TID           | owner's kernel thread id; 0 = unlocked; `0x3fff_ffff` = NOT_RECOVERABLE |
//! | 30     | [`OWNER_DIED`]| the owner took the lock over from a dead owner and has not yet called [`RawMutex::mark_consistent`] |
//! | 31     | [`WAITERS`]   | a waiter may be parked on the word; unlock must wake one            |
//!
//! | word                       | state                        | who may change it, to what                     |
//! |----------------------------|------------------------------|------------------------------------------------|
//! | `0`                        | unlocked                     | any locker: `tid` (fast) or `tid\|WAITERS` (after waiting) |
//! | `tid`                      | locked, nobody parked        | owner: `0`; waiter: `tid\|WAITERS`; taker-over (owner dead) |
//! | `tid\|WAITERS`             | locked, waiters may sleep    | owner: `0` + wake one; taker-over              |
//! | `tid\|OWNER_DIED[\|WAITERS]` | locked, data inconsistent  | owner: clear OWNER_DIED (`mark_consistent`) or unlock → NOT_RECOVERABLE |
//! | `NOT_RECOVERABLE`          | permanently unusable         | nobody                                         |
//!
//! The `owner` word holds [`ThreadIdentity::pack`] of the owner (TID and start time), so a waiter
//! probing a stalled owner is not fooled by a TID the kernel reused for an unrelated thread.
//!
//! # Algorithm
//! Lock: one CAS `0 → tid` (Acquire), then a plain store of the owner stamp. Unlock: one CAS
//! `tid → 0` (Release). Contended lock: spin briefly while nobody is parked (test-and-test-and-set),
//! then set WAITERS and park through [`Wait::wait`] in slices of [`PROBE_SLICE`]; a waiter that has
//! seen the same owner for a whole slice probes it ([`identity::owner_may_be_alive`]) and, if it is
//! positively dead, CASes the word from that exact value to `me|WAITERS|OWNER_DIED` and returns
//! [`LockOutcome::OwnerDied`]. A waiter that parked acquires with WAITERS set (it cannot know whether
//! others still sleep), as in Drepper's "Futexes Are Tricky" mutex 3. Unlock wakes one waiter only if
//! WAITERS was set.
//!
//! A non-blocking attempt ([`RawMutex::try_lock`], a zero timeout) that finds the lock held probes
//! the owner too, but at most once per [`PROBE_SLICE`] per lock (across all processes): the `probed`
//! word holds the time of the last such probe in wrapping milliseconds of the monotonic clock, and a
//! prober claims the next probe with a CAS on it. So repeated `try_lock` calls on a lock whose owner
//! died return [`LockOutcome::OwnerDied`] within one probe slice of the first attempt after the death
//! (glibc's `tst-robust2`: `pthread_mutex_trylock` reports `EOWNERDEAD`), and a polling loop against
//! a live owner costs at most 40 `/proc` reads a second for the whole system. Any value in `probed`
//! (a scribbler's too) only moves a probe earlier or delays it by at most one slice.
//!
//! # Who "holds" the lock
//! The calling thread holds the lock when the word's TID is its TID *and* the owner stamp is its own
//! [`ThreadIdentity::pack`] (TID and start time): a thread that inherited the TID of a dead owner is
//! not that owner. [`RawMutex::unlock`], [`RawMutex::mark_consistent`],
//! [`RawMutex::is_held_by_current_thread`] (and so `RLock`'s depth and ownership) all compare the full
//! identity. The holder wrote its stamp right after its winning CAS, so it always sees its own stamp.
//!
//! # Why the owner stamp may be a plain store
//! The stamp is written *after* the winning CAS, so an owner can die between the two. Then the stamp
//! still names the previous owner (a different TID, or this very thread from an earlier hold, whose
//! start time is the same). A prober uses the start time only when the stamp's TID equals the TID in
//! the lock word; otherwise it falls back to "does this TID exist", which is exactly right for a
//! dead owner unless the kernel reused its TID within that window. Making the pair one RMW would cost
//! a second atomic RMW on every lock, or a 64-bit word with fewer TID bits; the window is two
//! instructions long.
//!
//! # Without the `futex` feature
//! There is no liveness probe: a lock whose owner died stays locked forever, [`LockOutcome::OwnerDied`]
//! is never returned, and waiters with a deadline time out. Bare-metal users typically have no
//! processes to die. Identity comes from the hook in [`identity`].
//!
//! # Known limits
//! - A lock is taken over only from an owner *positively* dead: if `/proc` is unreadable (e.g.
//!   `hidepid`), a dead owner is treated as alive.
//! - Start times count clock ticks (10 ms at the usual `CLK_TCK` of 100). If an owner dies and the
//!   kernel gives its TID to a new thread that started *in the same tick* as the dead owner, the
//!   stamps are equal: the new thread is taken for the owner (`lock` reports
//!   [`LockError::Deadlock`] instead of [`LockOutcome::OwnerDied`], and it may unlock). Linux hands
//!   out PIDs cyclically, so this needs the whole PID space (`/proc/sys/kernel/pid_max`, 4 194 304 on
//!   64-bit systems by default) to wrap within one tick of the dead owner's start, which no real
//!   fork rate reaches; a small `pid_max` plus a fork storm could. Without the host's identity hook
//!   (start time unknown, 0) any reuse of the TID has this effect.
//! - A prober takes over by CAS on the word value it probed; if, between its probe and its CAS (a few
//!   microseconds), the kernel reused the dead TID for a new thread *and* that thread acquired this
//!   very lock, the lock would be stolen from a live owner.

use crate::atomic::{spin_hint, AtomicU32, AtomicU64Field, Ordering};
use crate::sync::identity::{self, ThreadIdentity};
use crate::time::Deadline;
use crate::wait::Wait;
use core::fmt;
use core::time::Duration;

/// Lock-word bit: a waiter may be parked; unlock must wake one.
pub const WAITERS: u32 = 0x8000_0000;
/// Lock-word bit: the owner took the lock over from a dead owner; the data may be inconsistent.
pub const OWNER_DIED: u32 = 0x4000_0000;
/// Lock-word mask of the owner's TID.
pub const TID_MASK: u32 = 0x3fff_ffff;
/// Lock-word value of a mutex unlocked while inconsistent: unusable forever.
pub const NOT_RECOVERABLE: u32 = TID_MASK;

/// How long a waiter parks before re-checking the owner's liveness.
pub const PROBE_SLICE: Duration = Duration::from_millis(25);

/// How many times a contended locker re-reads the word before parking, while nobody is parked.
#[cfg(not(loom))]
const SPIN_LIMIT: u32 = 64;
#[cfg(loom)]
const SPIN_LIMIT: u32 = 1;

/// How a successful lock went.
///
// The example needs the `futex` feature (the default): per-thread owner identities and owner liveness probes.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::sync::raw_mutex::{LockOutcome, RawMutex};
/// use ringfork_core::{time::OsClock, wait::DefaultWait, Deadline};
/// let m = RawMutex::new();
/// // A thread takes the lock and ends without releasing it, as a killed process would.
/// std::thread::scope(|s| {
///     s.spawn(|| assert_eq!(m.try_lock(), Ok(LockOutcome::Acquired)));
/// });
/// let soon = Deadline::after::<OsClock>(std::time::Duration::from_secs(5));
/// assert_eq!(m.lock::<DefaultWait>(soon), Ok(LockOutcome::OwnerDied)); // held; the data is suspect
/// m.mark_consistent().unwrap(); // ... after repairing the data
/// m.unlock::<DefaultWait>().unwrap();
/// assert_eq!(m.try_lock(), Ok(LockOutcome::Acquired));
/// ```
#[must_use = "OwnerDied means the protected data may be inconsistent: repair it and call mark_consistent"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockOutcome {
    /// The lock was acquired normally.
    Acquired,
    /// The lock was acquired from an owner that died holding it. The protected data may be half
    /// updated: repair it, then call [`RawMutex::mark_consistent`] before unlocking, or the mutex
    /// becomes NOT_RECOVERABLE for everyone (pthread `EOWNERDEAD` semantics).
    OwnerDied,
}

impl LockOutcome {
    /// Whether the previous owner died holding the lock.
    pub fn owner_died(self) -> bool {
        self == LockOutcome::OwnerDied
    }
}

/// Why a lock attempt failed.
///
// The example needs the `futex` feature (the default): per-thread owner identities and owner liveness probes.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::sync::raw_mutex::{LockError, LockOutcome, RawMutex};
/// use ringfork_core::{wait::DefaultWait, Deadline};
/// let m = RawMutex::new();
/// assert_eq!(m.try_lock(), Ok(LockOutcome::Acquired));
/// assert_eq!(m.lock::<DefaultWait>(Deadline::Never), Err(LockError::Deadlock)); // not reentrant
/// std::thread::scope(|s| {
///     s.spawn(|| assert_eq!(m.try_lock(), Err(LockError::TimedOut))); // held by another thread
/// });
/// assert!(LockError::Deadlock.to_string().contains("use RLock"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockError {
    /// The deadline passed while another thread held the lock (for `try_lock`: it was held).
    TimedOut,
    /// A previous owner took the lock over from a dead owner and unlocked it without calling
    /// `mark_consistent`: the protected data is considered lost, and the mutex is unusable.
    NotRecoverable,
    /// The calling thread already holds this (non-reentrant) lock; waiting would never end.
    Deadlock,
    /// The previous holder died holding the lock, so the data may be half updated. Only calls that
    /// cannot hand a guard back (`Value::get`, `set`, `with_lock`, `Array::to_vec` in `ringfork`)
    /// report it this way, once, to the process that took the lock over, after marking the lock
    /// consistent; locking calls return the guard instead, with `owner_died()` set, and
    /// [`RawMutex::lock`] returns [`LockOutcome::OwnerDied`].
    OwnerDied,
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::TimedOut => f.write_str("timed out waiting for the lock: another thread or process holds it"),
            LockError::NotRecoverable => f.write_str(
                "the mutex is not recoverable: a process took it over from a dead owner and released it \
                 without calling mark_consistent; create a new mutex and rebuild its data",
            ),
            LockError::Deadlock => {
                f.write_str("the calling thread already holds this lock; it is not reentrant (use RLock to re-enter)")
            }
            LockError::OwnerDied => f.write_str(
                "the previous holder died while holding the lock, so the data may be half updated; the lock \
                 was recovered and works again: check or rewrite the data (lock it to repair under the lock)",
            ),
        }
    }
}

impl core::error::Error for LockError {}

/// Why an unlock (or `mark_consistent`) was refused.
///
// The example needs the `futex` feature (the default): per-thread owner identities and owner liveness probes.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::sync::raw_mutex::{RawMutex, UnlockError};
/// use ringfork_core::{wait::DefaultWait, Deadline};
/// let m = RawMutex::new();
/// assert_eq!(m.unlock::<DefaultWait>(), Err(UnlockError::NotOwner { owner: 0 })); // not held
/// let _guard = m.lock_guard::<DefaultWait>(Deadline::Never).unwrap();
/// assert_eq!(m.mark_consistent(), Err(UnlockError::NotInconsistent)); // nothing to repair
/// std::thread::scope(|s| {
///     s.spawn(|| assert!(matches!(m.unlock::<DefaultWait>(), Err(UnlockError::NotOwner { .. }))));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnlockError {
    /// The calling thread does not hold the lock.
    NotOwner {
        /// The TID found in the lock word (0: unlocked; [`NOT_RECOVERABLE`]: unusable).
        owner: u32,
    },
    /// `mark_consistent` on a lock that is not in the owner-died state (POSIX `EINVAL`): there is
    /// nothing to repair.
    NotInconsistent,
}

impl fmt::Display for UnlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            UnlockError::NotOwner { owner: 0 } => f.write_str("the lock is not held: nothing to release"),
            UnlockError::NotOwner { owner: NOT_RECOVERABLE } => {
                f.write_str("the lock is not recoverable: nothing to release")
            }
            UnlockError::NotOwner { owner } => write!(
                f,
                "the calling thread does not hold the lock (thread {owner} does); only the owner may release it"
            ),
            UnlockError::NotInconsistent => f.write_str(
                "mark_consistent called on a lock that is not in the owner-died state: call it only after \
                 a lock reported OwnerDied",
            ),
        }
    }
}

impl core::error::Error for UnlockError {}

/// A robust, process-shared mutex word. See the module docs for the layout and the protocol.
///
/// Fresh (zeroed) shared memory is a valid unlocked `RawMutex`.
///
// The example needs the `futex` feature (the default): per-thread owner identities and owner liveness probes.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::sync::raw_mutex::RawMutex;
/// use ringfork_core::{wait::DefaultWait, Deadline};
/// let m = RawMutex::new(); // as zeroed shared memory: unlocked
/// assert_eq!(core::mem::size_of::<RawMutex>(), 16);
/// let guard = m.lock_guard::<DefaultWait>(Deadline::Never).unwrap();
/// assert!(m.is_held_by_current_thread() && m.owner_tid().is_some());
/// std::thread::scope(|s| {
///     s.spawn(|| assert!(m.is_locked() && !m.is_held_by_current_thread()));
/// });
/// drop(guard);
/// assert!(!m.is_locked());
/// ```
#[repr(C)]
pub struct RawMutex {
    word: AtomicU32,
    probed: AtomicU32,
    owner: AtomicU64Field,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<RawMutex>() == 16);
    assert!(core::mem::align_of::<RawMutex>() == 8);
    assert!(core::mem::offset_of!(RawMutex, word) == 0);
    assert!(core::mem::offset_of!(RawMutex, probed) == 4);
    assert!(core::mem::offset_of!(RawMutex, owner) == 8);
};

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ordering: Relaxed: a diagnostic snapshot.
        let w = self.word.load(Ordering::Relaxed);
        f.debug_struct("RawMutex")
            .field("owner_tid", &(w & TID_MASK))
            .field("waiters", &(w & WAITERS != 0))
            .field("owner_died", &(w & OWNER_DIED != 0))
            .finish()
    }
}

/// The clock the probe threshold is measured with.
#[cfg(all(feature = "futex", not(loom)))]
fn probe_clock() -> crate::time::Instant {
    use crate::time::Clock;
    crate::time::OsClock::now().unwrap_or(crate::time::Instant(0))
}

/// The earlier of two deadlines.
pub(crate) fn earliest(a: Deadline, b: Deadline) -> Deadline {
    match (a, b) {
        (Deadline::Immediate, _) | (_, Deadline::Immediate) => Deadline::Immediate,
        (Deadline::Never, x) | (x, Deadline::Never) => x,
        (Deadline::At(x), Deadline::At(y)) => Deadline::At(x.min(y)),
    }
}

impl RawMutex {
    /// An unlocked mutex.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawMutex {
            word: AtomicU32::new(0),
            probed: AtomicU32::new(0),
            owner: AtomicU64Field::new(0),
        }
    }

    /// An unlocked mutex.
    #[cfg(loom)]
    pub fn new() -> Self {
        RawMutex {
            word: AtomicU32::new(0),
            probed: AtomicU32::new(0),
            owner: AtomicU64Field::new(0),
        }
    }

    /// Re-initializes in place to unlocked. Only for an embedding object's init, before it is
    /// published (no other process may be using it).
    pub fn init(&self) {
        // Ordering: Relaxed: published by the embedding object's Release store of READY.
        self.word.store(0, Ordering::Relaxed);
        self.probed.store(0, Ordering::Relaxed);
        self.owner.store(0, Ordering::Relaxed);
    }

    /// Acquires the lock, waiting through `W` until `deadline`.
    ///
    /// Returns [`LockOutcome::OwnerDied`] if the previous owner died holding it (see there). Errors:
    /// [`LockError::TimedOut`] (never before the deadline), [`LockError::NotRecoverable`],
    /// [`LockError::Deadlock`] (the caller holds it already).
    #[inline]
    pub fn lock<W: Wait>(&self, deadline: Deadline) -> Result<LockOutcome, LockError> {
        let me = identity::current();
        // Ordering: Acquire pairs with the Release CAS in `unlock`, so the previous holder's writes to
        // the protected data are visible to us.
        if self
            .word
            .compare_exchange(0, me.tid, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.set_owner(me);
            return Ok(LockOutcome::Acquired);
        }
        self.lock_slow::<W>(me, deadline)
    }

    /// Acquires the lock only if it is free right now ([`LockError::TimedOut`] if it is held). Never
    /// blocks. If the owner has died, returns [`LockOutcome::OwnerDied`] (taking the lock over) once
    /// its liveness has been probed: probes happen at most once per [`PROBE_SLICE`] per lock, so a
    /// caller retrying `try_lock` gets `OwnerDied` within one slice of its first attempt after the
    /// death (see the module docs).
    #[inline]
    pub fn try_lock(&self) -> Result<LockOutcome, LockError> {
        // Spin's wait is never reached with an Immediate deadline; any W would do.
        self.lock::<crate::wait::Spin>(Deadline::Immediate)
    }

    /// Acquires the lock and returns a guard that unlocks it when dropped.
    pub fn lock_guard<W: Wait>(&self, deadline: Deadline) -> Result<RawGuard<'_, W>, LockError> {
        let outcome = self.lock::<W>(deadline)?;
        Ok(RawGuard {
            mutex: self,
            outcome,
            _w: core::marker::PhantomData,
        })
    }

    /// Whether the owner stamp is `me`'s (see "Who holds the lock" in the module docs).
    #[inline(always)]
    fn stamp_is(&self, me: ThreadIdentity) -> bool {
        // Ordering: Relaxed: if we hold the lock we wrote the stamp ourselves (program order); if we
        // do not, no store by another thread can make it equal to our identity.
        self.owner.load(Ordering::Relaxed) == me.pack()
    }

    /// Whether a non-blocking locker should probe the owner now, and if so claims the probe (see
    /// the module docs: at most one probe per [`PROBE_SLICE`] per lock, across processes).
    #[cfg(all(feature = "futex", not(loom)))]
    fn claim_try_probe(&self) -> bool {
        let now_ms = (probe_clock().0 / 1_000_000) as u32;
        // Ordering: Relaxed: a rate limiter; the probe and the takeover CAS carry the ordering.
        let last = self.probed.load(Ordering::Relaxed);
        // Wrapping: any value (a stale one, a scribbled one "in the future") is either within the
        // last slice, or due.
        if now_ms.wrapping_sub(last) < PROBE_SLICE.as_millis() as u32 {
            return false;
        }
        // Ordering: Relaxed, as above. Losing the CAS means another locker probes right now.
        self.probed
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    fn set_owner(&self, me: ThreadIdentity) {
        // Ordering: Relaxed: probers read it without ordering and validate it against the TID in the
        // lock word (see "Why the owner stamp may be a plain store").
        self.owner.store(me.pack(), Ordering::Relaxed);
    }

    /// Tries to move the word from `from` (unlocked, or a dead owner's) to `to` (`to` holds our TID).
    fn take(&self, from: u32, to: u32, me: ThreadIdentity) -> Result<LockOutcome, u32> {
        // Ordering: Acquire pairs with the Release CAS in `unlock` (or, for a takeover, with whatever
        // the dead owner published before dying; its last writes may be lost, hence OwnerDied).
        self.word
            .compare_exchange(from, to, Ordering::Acquire, Ordering::Relaxed)
            .map(|_| {
                self.set_owner(me);
                if to & OWNER_DIED != 0 {
                    LockOutcome::OwnerDied
                } else {
                    LockOutcome::Acquired
                }
            })
    }

    #[cold]
    fn lock_slow<W: Wait>(&self, me: ThreadIdentity, deadline: Deadline) -> Result<LockOutcome, LockError> {
        let tid = me.tid & TID_MASK;
        // Ordering: Relaxed loads below only decide what to CAS; the CAS itself acquires.
        let mut w = self.word.load(Ordering::Relaxed);
        // Phase 1: spin while nobody is parked; a holder on another core usually leaves within
        // a microsecond.
        if deadline != Deadline::Immediate {
            for _ in 0..SPIN_LIMIT {
                if w & WAITERS != 0 {
                    break;
                }
                if w & TID_MASK == 0 {
                    match self.take(w, tid | (w & OWNER_DIED), me) {
                        Ok(o) => return Ok(o),
                        Err(cur) => w = cur,
                    }
                    continue;
                }
                spin_hint();
                // Ordering: Relaxed, see above.
                w = self.word.load(Ordering::Relaxed);
            }
        }
        // Phase 2: park in slices, probing a stalled owner.
        let mut watched = 0u32; // the owner TID we have been waiting on
        #[cfg(all(feature = "futex", not(loom)))]
        let mut since = crate::time::Instant(0);
        loop {
            // Ordering: Relaxed, see above.
            let w = self.word.load(Ordering::Relaxed);
            let owner = w & TID_MASK;
            if owner == NOT_RECOVERABLE {
                return Err(LockError::NotRecoverable);
            }
            if owner == 0 {
                // We may have parked, so others may be parked too: keep WAITERS set.
                match self.take(w, tid | WAITERS | (w & OWNER_DIED), me) {
                    Ok(o) => return Ok(o),
                    Err(_) => continue,
                }
            }
            if owner == tid {
                // Only one live thread has our TID: us. If the stamp is ours we hold it; otherwise a
                // dead thread whose TID we inherited does.
                if self.stamp_is(me) {
                    return Err(LockError::Deadlock);
                }
                match self.take(w, tid | (w & WAITERS) | OWNER_DIED, me) {
                    Ok(o) => return Ok(o),
                    Err(_) => continue,
                }
            }
            if deadline == Deadline::Immediate {
                // A non-blocking attempt probes a held lock's owner too, rate-limited per lock.
                #[cfg(all(feature = "futex", not(loom)))]
                if self.claim_try_probe() {
                    // Ordering: Relaxed: validated against the TID (see the module docs).
                    let stamp = self.owner.load(Ordering::Relaxed);
                    if !identity::owner_may_be_alive(owner, stamp) {
                        // Ordering: Relaxed, see above.
                        let cur = self.word.load(Ordering::Relaxed);
                        if cur & TID_MASK == owner {
                            if let Ok(o) = self.take(cur, tid | (cur & WAITERS) | OWNER_DIED, me) {
                                return Ok(o);
                            }
                        }
                        // The word moved on (unlocked, or taken over by another prober): look again.
                        // The probe slot is now ours, so this cannot loop.
                        continue;
                    }
                }
                return Err(LockError::TimedOut);
            }
            if w & WAITERS == 0 {
                // Ordering: Relaxed: only announces a sleeper; the data is acquired by `take`.
                if self
                    .word
                    .compare_exchange(w, w | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
            }
            let slice = earliest(deadline, Deadline::after::<W::Clock>(PROBE_SLICE));
            let waited = W::wait(&self.word, w | WAITERS, slice);
            let expired = waited.is_err() && deadline.expired::<W::Clock>();
            // Decide whether to probe: the same owner for a whole slice, or about to give up.
            #[allow(unused_mut)]
            let mut should_probe = waited.is_err() || expired;
            if owner != watched {
                watched = owner;
                #[cfg(all(feature = "futex", not(loom)))]
                {
                    since = probe_clock();
                }
            } else {
                #[cfg(all(feature = "futex", not(loom)))]
                {
                    let now = probe_clock();
                    if now.saturating_duration_since(since) >= PROBE_SLICE {
                        should_probe = true;
                    }
                }
            }
            if should_probe {
                #[cfg(all(feature = "futex", not(loom)))]
                {
                    since = probe_clock();
                }
                // Ordering: Relaxed: validated against the TID (see the module docs).
                let stamp = self.owner.load(Ordering::Relaxed);
                if !identity::owner_may_be_alive(owner, stamp) {
                    // Ordering: Relaxed, see above.
                    let cur = self.word.load(Ordering::Relaxed);
                    if cur & TID_MASK == owner {
                        if let Ok(o) = self.take(cur, tid | WAITERS | OWNER_DIED, me) {
                            return Ok(o);
                        }
                    }
                    continue;
                }
            }
            if expired {
                return Err(LockError::TimedOut);
            }
            spin_hint();
        }
    }

    /// Releases the lock. If the caller took it over from a dead owner and did not call
    /// [`RawMutex::mark_consistent`], the mutex becomes NOT_RECOVERABLE for everyone (and every waiter
    /// is woken to see it). Errors with [`UnlockError::NotOwner`] if the calling thread does not hold
    /// it (for example a child after `fork`: its TID differs from the parent's).
    #[inline]
    pub fn unlock<W: Wait>(&self) -> Result<(), UnlockError> {
        let me = identity::current();
        let tid = me.tid & TID_MASK;
        // A thread that inherited a dead owner's TID is not the owner (module docs).
        if self.stamp_is(me) {
            // Ordering: Release publishes the critical section's writes to the next locker's Acquire
            // CAS.
            if self
                .word
                .compare_exchange(tid, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(());
            }
        }
        self.unlock_slow::<W>(me)
    }

    #[cold]
    fn unlock_slow<W: Wait>(&self, me: ThreadIdentity) -> Result<(), UnlockError> {
        let tid = me.tid & TID_MASK;
        // Ordering: Relaxed: the CAS below releases.
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            let owner = w & TID_MASK;
            if owner != tid || owner == NOT_RECOVERABLE || owner == 0 || !self.stamp_is(me) {
                return Err(UnlockError::NotOwner { owner });
            }
            let new = if w & OWNER_DIED != 0 { NOT_RECOVERABLE } else { 0 };
            // Ordering: Release, as in the fast path.
            match self.word.compare_exchange(w, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    if new == NOT_RECOVERABLE {
                        W::wake_all(&self.word);
                    } else if w & WAITERS != 0 {
                        W::wake(&self.word, 1);
                    }
                    return Ok(());
                }
                Err(cur) => w = cur,
            }
        }
    }

    /// Declares the protected data repaired after [`LockOutcome::OwnerDied`]: clears OWNER_DIED so
    /// that unlocking leaves a normal, usable mutex. Errors with [`UnlockError::NotOwner`] if the
    /// calling thread does not hold the lock, and with [`UnlockError::NotInconsistent`] if it holds
    /// it but the lock is not in the owner-died state (POSIX `pthread_mutex_consistent`: `EINVAL`).
    pub fn mark_consistent(&self) -> Result<(), UnlockError> {
        let me = identity::current();
        let tid = me.tid & TID_MASK;
        // Ordering: Relaxed: only the owner (us) changes OWNER_DIED; no data is published here.
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            let owner = w & TID_MASK;
            if owner != tid || owner == NOT_RECOVERABLE || owner == 0 || !self.stamp_is(me) {
                return Err(UnlockError::NotOwner { owner });
            }
            if w & OWNER_DIED == 0 {
                return Err(UnlockError::NotInconsistent);
            }
            // Ordering: Relaxed, see above (waiters may set WAITERS concurrently, hence the CAS).
            match self
                .word
                .compare_exchange(w, w & !OWNER_DIED, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(cur) => w = cur,
            }
        }
    }

    /// Whether someone holds the lock (or it is not recoverable). Stale as soon as it returns.
    pub fn is_locked(&self) -> bool {
        // Ordering: Relaxed: a snapshot that can change at once anyway.
        self.word.load(Ordering::Relaxed) & TID_MASK != 0
    }

    /// Whether the mutex is permanently unusable.
    pub fn is_not_recoverable(&self) -> bool {
        // Ordering: Relaxed: NOT_RECOVERABLE is final.
        self.word.load(Ordering::Relaxed) & TID_MASK == NOT_RECOVERABLE
    }

    /// Whether the calling thread holds the lock: the word names its TID and the owner stamp is its
    /// identity (TID and start time), so a thread that inherited a dead owner's TID does not hold it.
    pub fn is_held_by_current_thread(&self) -> bool {
        let me = identity::current();
        let tid = me.tid & TID_MASK;
        // Ordering: Relaxed: only we can make this true or false for ourselves.
        let owner = self.word.load(Ordering::Relaxed) & TID_MASK;
        owner == tid && owner != NOT_RECOVERABLE && self.stamp_is(me)
    }

    /// The owner's TID, if locked (and recoverable).
    pub fn owner_tid(&self) -> Option<u32> {
        // Ordering: Relaxed: a diagnostic snapshot.
        match self.word.load(Ordering::Relaxed) & TID_MASK {
            0 | NOT_RECOVERABLE => None,
            t => Some(t),
        }
    }

    /// The raw lock word, for embedding objects that wait on it or inspect it (diagnostics).
    pub fn word(&self) -> &AtomicU32 {
        &self.word
    }

    /// Test support: plays a (dead) owner by writing the word and the stamp directly.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn force_owner_for_test(&self, word: u32, stamp: u64) {
        // Ordering: Relaxed; single-threaded test setup.
        self.word.store(word, Ordering::Relaxed);
        self.owner.store(stamp, Ordering::Relaxed);
    }
}

/// A held [`RawMutex`], unlocked on drop (see [`RawMutex::lock_guard`]).
///
/// If the lock was taken over from a dead owner ([`RawGuard::owner_died`]) and the guard is dropped
/// without [`RawGuard::mark_consistent`], the mutex becomes NOT_RECOVERABLE.
///
// The example needs the `futex` feature (the default): per-thread owner identities and owner liveness probes.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::sync::raw_mutex::{LockError, RawMutex};
/// use ringfork_core::{time::OsClock, wait::DefaultWait, Deadline};
/// let m = RawMutex::new();
/// // A thread dies holding the lock.
/// std::thread::scope(|s| {
///     s.spawn(|| core::mem::forget(m.lock_guard::<DefaultWait>(Deadline::Never).unwrap()));
/// });
/// let soon = Deadline::after::<OsClock>(std::time::Duration::from_secs(5));
/// let guard = m.lock_guard::<DefaultWait>(soon).unwrap();
/// assert!(guard.owner_died());
/// drop(guard); // without `mark_consistent`: the data is declared lost, for everyone
/// assert!(m.is_not_recoverable());
/// assert_eq!(m.try_lock(), Err(LockError::NotRecoverable));
/// ```
#[must_use = "dropping the guard unlocks at once"]
pub struct RawGuard<'a, W: Wait> {
    mutex: &'a RawMutex,
    outcome: LockOutcome,
    _w: core::marker::PhantomData<fn() -> W>,
}

impl<W: Wait> fmt::Debug for RawGuard<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawGuard").field("outcome", &self.outcome).finish()
    }
}

impl<W: Wait> RawGuard<'_, W> {
    /// Whether the previous owner died holding the lock and the data has not been marked consistent.
    pub fn owner_died(&self) -> bool {
        self.outcome.owner_died()
    }

    /// Declares the protected data repaired (see [`RawMutex::mark_consistent`]).
    pub fn mark_consistent(&mut self) {
        // We hold the lock, so this cannot fail with NotOwner unless a hostile peer rewrote the word;
        // then there is nothing to repair either.
        let _ = self.mutex.mark_consistent();
        self.outcome = LockOutcome::Acquired;
    }
}

impl<W: Wait> Drop for RawGuard<'_, W> {
    fn drop(&mut self) {
        // Fails only if a hostile peer rewrote the word; never panic in drop.
        let _ = self.mutex.unlock::<W>();
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_tests;
