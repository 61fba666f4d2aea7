//! The pluggable blocking layer: [`Wait`], with [`Spin`] (no OS) and [`Futex`] (Linux shared futexes,
//! spin-then-park).
//!
//! Every primitive blocks through a `Wait` implementation chosen by type parameter, so the same ring or
//! lock works on bare metal (pure spinning) and on Linux (parking in the kernel). The contract is the
//! futex contract: [`Wait::wait`] returns when the word *may* have changed — callers always re-check
//! their condition in a loop — and [`Wait::wake`] wakes waiters parked on the word.
//!
//! # Spinning versus parking
//! On a machine with fewer cores than runnable processes, a spinning waiter burns the time slice the
//! process it waits for needs. [`Futex::wait`] therefore spins only briefly (about a microsecond:
//! enough to catch a partner that is running on another core and answers at once) and then sleeps in
//! the kernel. [`Spin`] never sleeps: it is for targets without an OS and for measurements, and it
//! collapses under oversubscription (see `docs/performance.md`).

use crate::atomic::{AtomicU32, Ordering};
use crate::time::{Clock, Deadline};
use core::marker::PhantomData;

/// The deadline passed before the condition was met.
///
/// ```
/// use ringfork_core::atomic::AtomicU32;
/// use ringfork_core::wait::{Spin, TimedOut, Wait};
/// use ringfork_core::Deadline;
/// let word = AtomicU32::new(7);
/// // The word still holds 7 and the deadline is now: the wait gives up.
/// assert_eq!(<Spin as Wait>::wait(&word, 7, Deadline::Immediate), Err(TimedOut));
/// // It no longer holds 5: return at once, the caller re-checks its condition.
/// assert_eq!(<Spin as Wait>::wait(&word, 5, Deadline::Immediate), Ok(()));
/// assert_eq!(TimedOut.to_string(), "the operation timed out");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut;

impl core::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the operation timed out")
    }
}

/// How a primitive blocks on a 32-bit word in shared memory.
///
/// Implementations must work across processes: a waiter in one process is woken by a `wake` in
/// another process on the same physical word (so no per-process, address-keyed wait queues).
///
/// Waiting for a word to change, the futex way (re-check after every return):
/// ```
/// use ringfork_core::atomic::{AtomicU32, Ordering};
/// use ringfork_core::wait::{DefaultWait, Wait};
/// use ringfork_core::Deadline;
/// let word = AtomicU32::new(0);
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         word.store(1, Ordering::Release);
///         DefaultWait::wake_all(&word);
///     });
///     while word.load(Ordering::Acquire) == 0 {
///         DefaultWait::wait(&word, 0, Deadline::Never).unwrap();
///     }
/// });
/// assert_eq!(word.load(Ordering::Relaxed), 1);
/// ```
pub trait Wait {
    /// The clock deadlines are measured with.
    type Clock: Clock;

    /// Blocks while `word` holds `expected`, until woken, until `deadline`, or spuriously.
    ///
    /// Returns `Ok(())` when the caller should re-check its condition (the word changed, a wake-up
    /// arrived, a signal interrupted the wait, or a spurious return), and `Err(TimedOut)` only when the
    /// deadline has passed. With [`Deadline::Immediate`] it checks once and never blocks.
    fn wait(word: &AtomicU32, expected: u32, deadline: Deadline) -> Result<(), TimedOut>;

    /// Blocks like [`Wait::wait`], but with no spinning phase of its own: for callers that already
    /// spun (the rings' adaptive spin). The default is [`Wait::wait`].
    fn park(word: &AtomicU32, expected: u32, deadline: Deadline) -> Result<(), TimedOut> {
        Self::wait(word, expected, deadline)
    }

    /// Wakes up to `n` waiters parked on `word`; returns how many were woken if known (0 otherwise).
    fn wake(word: &AtomicU32, n: u32) -> usize;

    /// Wakes every waiter parked on `word`.
    fn wake_all(word: &AtomicU32) -> usize {
        Self::wake(word, u32::MAX)
    }
}

/// Pure spinning, no OS. `R` is the relax strategy (from the `spin` crate: `spin::relax::Spin` issues
/// the CPU's spin-loop hint; `spin::relax::Loop` does nothing), `C` the clock for deadlines.
///
/// **Warning:** a spinning waiter never yields its core. If the process it waits for is not running
/// (more runnable processes than cores, or a lower priority), the waiter burns its whole time slice
/// for nothing, and a priority inversion can last forever on a real-time scheduler. Use it where no OS
/// exists, or with one process per core.
///
/// Any primitive blocks by spinning when given `Spin` as its wait parameter:
/// ```
/// use ringfork_core::sync::semaphore::Semaphore;
/// use ringfork_core::{wait::Spin, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let s = Semaphore::<Spin>::init(Region::from_mut(&mut buf.0), 0, false).unwrap();
/// std::thread::scope(|t| {
///     t.spawn(|| s.release(1).unwrap());
///     s.acquire(); // spins until the other thread releases
/// });
/// assert_eq!(s.get_value(), 0);
/// ```
pub struct Spin<R = spin::relax::Spin, C = DefaultClock> {
    _p: PhantomData<(R, C)>,
}

impl<R, C> core::fmt::Debug for Spin<R, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Spin")
    }
}

/// The default clock: the OS monotonic clock with the `futex` feature, [`crate::time::NoClock`]
/// otherwise.
///
/// ```
/// use ringfork_core::time::Clock;
/// use ringfork_core::wait::DefaultClock;
/// // With the `futex` feature: the OS monotonic clock.
/// let (a, b) = (DefaultClock::now().unwrap(), DefaultClock::now().unwrap());
/// assert!(b >= a);
/// ```
#[cfg(feature = "futex")]
pub type DefaultClock = crate::time::OsClock;
/// The default clock: the OS monotonic clock with the `futex` feature, [`crate::time::NoClock`]
/// otherwise.
///
/// ```
/// use ringfork_core::time::Clock;
/// use ringfork_core::wait::DefaultClock;
/// // Without the `futex` feature: no clock, finite timeouts mean "try once".
/// assert_eq!(DefaultClock::now(), None);
/// ```
#[cfg(all(not(feature = "futex"), not(test)))]
pub type DefaultClock = crate::time::NoClock;
/// Unit tests without the `futex` feature: the clock an embedded user supplies, played by `std`.
///
/// No doc example: this alias exists only in unit-test builds (`cfg(test)`), which rustdoc neither
/// documents nor runs doc tests for.
#[cfg(all(not(feature = "futex"), test))]
pub type DefaultClock = crate::time::StdTestClock;

impl<R: spin::relax::RelaxStrategy, C: Clock> Wait for Spin<R, C> {
    type Clock = C;

    fn wait(word: &AtomicU32, expected: u32, deadline: Deadline) -> Result<(), TimedOut> {
        let mut i: u32 = 0;
        loop {
            // Ordering: Acquire pairs with the Release store/RMW of whoever changed the word, so the
            // caller's re-check after we return sees what was published before the change.
            if word.load(Ordering::Acquire) != expected {
                return Ok(());
            }
            // Reading the clock costs ~20 ns; look at it every 64 relaxations only.
            if i % 64 == 0 {
                match deadline {
                    Deadline::Never => {}
                    _ if deadline.expired::<C>() => return Err(TimedOut),
                    _ => {}
                }
            }
            i = i.wrapping_add(1);
            R::relax();
            #[cfg(loom)]
            crate::atomic::spin_hint();
        }
    }

    fn wake(_word: &AtomicU32, _n: u32) -> usize {
        // Spinners watch the word themselves; nothing to do.
        0
    }
}

/// Linux shared futexes (`FUTEX_WAIT`/`FUTEX_WAKE` *without* `FUTEX_PRIVATE_FLAG`, so the kernel keys
/// the wait queue by the physical page and a waiter in one process is woken from another), after a
/// short spin.
///
/// ```
/// use ringfork_core::atomic::AtomicU32;
/// use ringfork_core::time::OsClock;
/// use ringfork_core::wait::{Futex, Wait};
/// use ringfork_core::Deadline;
/// use std::time::{Duration, Instant};
/// let word = AtomicU32::new(0);
/// let (start, deadline) = (Instant::now(), Deadline::after::<OsClock>(Duration::from_millis(20)));
/// // Nobody changes the word: the waiter sleeps in the kernel until the deadline.
/// while Futex::wait(&word, 0, deadline).is_ok() {} // `Ok` = re-check (a spurious wake-up)
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// assert_eq!(Futex::wake(&word, 1), 0); // nobody was parked on it
/// ```
#[cfg(feature = "futex")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Futex;

/// The most spin-loop hints [`Futex::wait`] spends before parking (~1.2 µs at the ~12 ns a `pause`
/// takes on the Xeons these machines run).
#[cfg(feature = "futex")]
pub const FUTEX_SPIN_LIMIT: u32 = 100;

/// The current spin budget of [`Futex::wait`] (adaptive, process-local; see there).
#[cfg(feature = "futex")]
static SPIN_BUDGET: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(FUTEX_SPIN_LIMIT);

/// The smallest spin budget: a few probes, so a budget that shrank can still observe success and grow.
#[cfg(feature = "futex")]
const FUTEX_SPIN_MIN: u32 = 4;

#[cfg(feature = "futex")]
impl Wait for Futex {
    type Clock = crate::time::OsClock;

    /// Spins for an *adaptive* budget (at most [`FUTEX_SPIN_LIMIT`] spin-loop hints), then parks.
    ///
    /// The budget is process-local: each wait that the spin phase satisfies grows it by an eighth, each
    /// wait that had to park halves it (down to 4). So a process whose partner answers within a
    /// microsecond (another core, busy) keeps spinning and never pays the ~35 µs cross-core futex
    /// wake-up, while a process whose partner cannot run until it sleeps (both on one core, or more
    /// processes than cores) stops burning its time slice after a few waits.
    fn wait(word: &AtomicU32, expected: u32, deadline: Deadline) -> Result<(), TimedOut> {
        if deadline == Deadline::Immediate {
            // Ordering: Acquire pairs with the Release change made by the waker (see Spin::wait).
            return if word.load(Ordering::Acquire) != expected {
                Ok(())
            } else {
                Err(TimedOut)
            };
        }
        // Ordering: Relaxed: the budget is a heuristic; no data is published through it.
        let budget = SPIN_BUDGET.load(Ordering::Relaxed);
        for _ in 0..budget {
            // Ordering: Acquire pairs with the Release change made by the waker (see Spin::wait).
            if word.load(Ordering::Acquire) != expected {
                let grown = (budget + budget / 8 + 1).min(FUTEX_SPIN_LIMIT);
                SPIN_BUDGET.store(grown, Ordering::Relaxed);
                return Ok(());
            }
            crate::atomic::spin_hint();
        }
        SPIN_BUDGET.store((budget / 2).max(FUTEX_SPIN_MIN), Ordering::Relaxed);
        Self::park(word, expected, deadline)
    }

    /// Parks at once, with no spinning phase.
    fn park(word: &AtomicU32, expected: u32, deadline: Deadline) -> Result<(), TimedOut> {
        #[cfg(not(loom))]
        use rustix::thread::futex;
        let ts;
        let timeout = match deadline {
            Deadline::Never => None,
            _ => {
                let left = deadline.remaining::<crate::time::OsClock>().unwrap_or_default();
                if left.is_zero() {
                    // Ordering: Acquire, as in the spinning phase.
                    return if word.load(Ordering::Acquire) != expected {
                        Ok(())
                    } else {
                        Err(TimedOut)
                    };
                }
                ts = rustix::time::Timespec {
                    tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
                    tv_nsec: i64::from(left.subsec_nanos()),
                };
                Some(&ts)
            }
        };
        // Under loom the word is loom's model atomic, which the kernel cannot wait on: spin once
        // (loom yields) and report a spurious wake-up; callers re-check.
        #[cfg(loom)]
        {
            let _ = timeout;
            crate::atomic::spin_hint();
            return if word.load(Ordering::Acquire) == expected && deadline.expired::<crate::time::OsClock>() {
                Err(TimedOut)
            } else {
                Ok(())
            };
        }
        // Flags::empty(): a *shared* futex. FUTEX_PRIVATE_FLAG would key the queue by (mm, address)
        // and never match a waker in another process.
        #[cfg(not(loom))]
        match futex::wait(word, futex::Flags::empty(), expected, timeout) {
            Ok(()) => Ok(()),
            // EAGAIN: the word no longer held `expected`; EINTR: a signal. Both mean "re-check".
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(rustix::io::Errno::TIMEDOUT) => {
                if deadline.expired::<crate::time::OsClock>() {
                    Err(TimedOut)
                } else {
                    Ok(())
                }
            }
            // Any other error (EFAULT cannot happen for a valid reference): report a spurious
            // wake-up; the caller's loop re-checks and re-evaluates its deadline.
            Err(_) => Ok(()),
        }
    }

    fn wake(word: &AtomicU32, n: u32) -> usize {
        let n = n.min(i32::MAX as u32);
        #[cfg(loom)]
        {
            let _ = (word, n);
            0
        }
        #[cfg(not(loom))]
        rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), n).unwrap_or(0)
    }
}

/// The blocking strategy primitives use by default: [`Futex`] with the `futex` feature, [`Spin`]
/// otherwise.
///
/// ```
/// use ringfork_core::sync::semaphore::Semaphore;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// // Leaving the wait parameter out means `DefaultWait`.
/// let s: Semaphore<'_> = Semaphore::<DefaultWait>::init(Region::from_mut(&mut buf.0), 0, false).unwrap();
/// s.release(2).unwrap();
/// assert!(s.try_acquire() && s.try_acquire() && !s.try_acquire());
/// ```
#[cfg(feature = "futex")]
pub type DefaultWait = Futex;
/// The blocking strategy primitives use by default: [`Futex`] with the `futex` feature, [`Spin`]
/// otherwise.
///
/// ```
/// use ringfork_core::sync::semaphore::Semaphore;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// // Leaving the wait parameter out means `DefaultWait`.
/// let s: Semaphore<'_> = Semaphore::<DefaultWait>::init(Region::from_mut(&mut buf.0), 0, false).unwrap();
/// s.release(2).unwrap();
/// assert!(s.try_acquire() && s.try_acquire() && !s.try_acquire());
/// ```
#[cfg(not(feature = "futex"))]
pub type DefaultWait = Spin;

/// A futex word together with the count of sleepers its wakers consult before they make the wake
/// system call: what an event loop needs to wait on a primitive without parking a thread (the host
/// crate's `async` feature hands the word to a reactor thread that waits on many at once).
///
/// The protocol is the primitives' own: snapshot the word, [`add_sleeper`](Self::add_sleeper) (a
/// SeqCst increment and fence), re-check the condition, and only then wait in the kernel for the word
/// to differ from the snapshot; [`remove_sleeper`](Self::remove_sleeper) once the wait is over.
/// A waker commits, fences, and wakes only if it sees a sleeper: either the re-check sees the commit
/// or the waker sees the sleeper (a Dekker pair), and the kernel's compare of the word against the
/// snapshot closes the window between the re-check and the wait.
///
/// ```
/// use ringfork_core::sync::semaphore::Semaphore;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 128]);
/// let mut buf = Buf([0; 128]);
/// let s = Semaphore::<DefaultWait>::init(Region::from_mut(&mut buf.0), 0, false).unwrap();
/// let w = s.wait_word();
/// let (snapshot, expected) = (w.load(), 0); // a semaphore waiter waits while the count is 0
/// w.add_sleeper();
/// assert!(!s.try_acquire()); // re-check after registering: still nothing, so wait on the word
/// assert_eq!(snapshot, expected);
/// s.release(1).unwrap(); // sees the sleeper: bumps the count and wakes the word
/// assert_ne!(w.load(), snapshot); // a kernel wait on (word, snapshot) would return at once
/// w.remove_sleeper();
/// assert!(s.try_acquire());
/// ```
#[derive(Clone, Copy)]
pub struct WaitWord<'a> {
    word: &'a AtomicU32,
    sleepers: &'a AtomicU32,
}

impl core::fmt::Debug for WaitWord<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Ordering: Relaxed, display only.
        f.debug_struct("WaitWord")
            .field("word", &self.word.load(Ordering::Relaxed))
            .field("sleepers", &self.sleepers.load(Ordering::Relaxed))
            .finish()
    }
}

impl<'a> WaitWord<'a> {
    /// Pairs a futex word with its sleeper count (for the primitives of this crate).
    pub(crate) fn new(word: &'a AtomicU32, sleepers: &'a AtomicU32) -> Self {
        WaitWord { word, sleepers }
    }

    /// The futex word to wait on (shared: wakers in other processes wake it).
    pub fn word(&self) -> &'a AtomicU32 {
        self.word
    }

    /// The word's current value (Acquire: pairs with the Release change a waker made before it woke).
    pub fn load(&self) -> u32 {
        // Ordering: Acquire pairs with the waker's Release change of the word.
        self.word.load(Ordering::Acquire)
    }

    /// Registers one sleeper (SeqCst increment, then a SeqCst fence: the waiter's half of the Dekker
    /// pair). Re-check the condition after this, before waiting.
    pub fn add_sleeper(&self) {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        crate::atomic::fence(Ordering::SeqCst);
    }

    /// Removes a sleeper added by [`Self::add_sleeper`] (never below 0: a count a peer scribbled
    /// over stays a count).
    pub fn remove_sleeper(&self) {
        let _ = self
            .sleepers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_sub(1)));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::time::Duration;
    use std::sync::Arc;

    fn wakes_across_threads<W: Wait + 'static>() {
        let word = Arc::new(AtomicU32::new(0));
        let w2 = word.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w2.store(1, Ordering::Release);
            W::wake_all(&w2);
        });
        while word.load(Ordering::Acquire) == 0 {
            W::wait(&word, 0, Deadline::Never).unwrap();
        }
        t.join().unwrap();
    }

    fn deadline_expires<W: Wait>() {
        let word = AtomicU32::new(7);
        let start = std::time::Instant::now();
        let d = Deadline::after::<W::Clock>(Duration::from_millis(50));
        while W::wait(&word, 7, d).is_ok() {}
        let el = start.elapsed();
        assert!(el >= Duration::from_millis(50), "returned early: {el:?}");
        assert!(el < Duration::from_secs(2), "returned late: {el:?}");
        assert_eq!(W::wait(&word, 7, Deadline::Immediate), Err(TimedOut));
        assert_eq!(W::wait(&word, 8, Deadline::Immediate), Ok(()));
    }

    #[test]
    fn spin_wakes_and_expires() {
        wakes_across_threads::<Spin>();
        deadline_expires::<Spin>();
    }

    #[cfg(feature = "futex")]
    #[test]
    fn futex_wakes_and_expires() {
        wakes_across_threads::<Futex>();
        deadline_expires::<Futex>();
    }
}
