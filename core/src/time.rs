//! Time without `std`: a monotonic [`Instant`] in nanoseconds, [`Deadline`]s, and the [`Clock`] that
//! reads them.
//!
//! Timeouts are `core::time::Duration` values (available without `std`); a timeout becomes a
//! [`Deadline`] once, at the start of an operation, so retries and spurious wake-ups never extend it.

use core::time::Duration;

/// A point on a monotonic clock, in nanoseconds since an arbitrary origin (`CLOCK_MONOTONIC` on Linux).
///
/// Two `Instant`s are comparable only when they come from the same [`Clock`]. `CLOCK_MONOTONIC` is
/// system-wide on Linux, so instants taken in different processes compare correctly.
///
/// ```
/// use ringfork_core::Instant;
/// use std::time::Duration;
/// let t = Instant(1_000);
/// let later = t.saturating_add(Duration::from_micros(1));
/// assert_eq!(later, Instant(2_000));
/// assert_eq!(later.saturating_duration_since(t), Duration::from_nanos(1_000));
/// assert_eq!(t.saturating_duration_since(later), Duration::ZERO); // never negative
/// assert_eq!(Instant(u64::MAX).saturating_add(Duration::MAX), Instant(u64::MAX));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    /// The instant `d` after `self`, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Instant {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ns))
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// A source of monotonic time.
///
/// A clock for a target without an OS, e.g. a board's timer counting nanoseconds:
/// ```
/// use ringfork_core::time::Clock;
/// use ringfork_core::{Deadline, Instant};
/// use std::time::Duration;
/// struct Timer;
/// impl Clock for Timer {
///     fn now() -> Option<Instant> {
///         Some(Instant(5_000)) // read the hardware counter here
///     }
/// }
/// let d = Deadline::after::<Timer>(Duration::from_micros(1));
/// assert_eq!(d, Deadline::At(Instant(6_000)));
/// assert_eq!(d.remaining::<Timer>(), Some(Duration::from_micros(1)));
/// ```
pub trait Clock {
    /// The current instant, or `None` if this clock cannot tell time (then every finite deadline is
    /// treated as already expired: operations degrade to "try once", never to "wait forever").
    fn now() -> Option<Instant>;
}

/// The operating system's monotonic clock (`clock_gettime(CLOCK_MONOTONIC)` through rustix's vDSO
/// path; no `std`).
///
/// ```
/// use ringfork_core::time::{Clock, OsClock};
/// use std::time::Duration;
/// let a = OsClock::now().unwrap();
/// std::thread::sleep(Duration::from_millis(2));
/// let b = OsClock::now().unwrap();
/// assert!(b.saturating_duration_since(a) >= Duration::from_millis(2));
/// ```
#[cfg(feature = "futex")]
#[derive(Clone, Copy, Debug, Default)]
pub struct OsClock;

#[cfg(feature = "futex")]
impl Clock for OsClock {
    #[inline]
    fn now() -> Option<Instant> {
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        // CLOCK_MONOTONIC is never negative; clamp anyway rather than wrap.
        let ns = (ts.tv_sec.max(0) as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec.max(0) as u64);
        Some(Instant(ns))
    }
}

/// A clock that cannot tell time, for targets without one. Finite deadlines expire at once.
///
/// ```
/// use ringfork_core::time::{Clock, NoClock};
/// use ringfork_core::Deadline;
/// use std::time::Duration;
/// assert_eq!(NoClock::now(), None);
/// // A finite timeout degrades to "try once", never to "wait forever".
/// assert_eq!(Deadline::after::<NoClock>(Duration::from_secs(5)), Deadline::Immediate);
/// assert_eq!(Deadline::from_timeout::<NoClock>(None), Deadline::Never);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoClock;

impl Clock for NoClock {
    fn now() -> Option<Instant> {
        None
    }
}

/// When a blocking operation gives up.
///
// The example needs the `futex` feature (the default): the OS monotonic clock (`OsClock`) for its deadline.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::time::OsClock;
/// use ringfork_core::Deadline;
/// use std::time::Duration;
/// let d = Deadline::after::<OsClock>(Duration::from_secs(60)); // fixed once, at the start
/// assert!(matches!(d, Deadline::At(_)) && !d.expired::<OsClock>());
/// assert!(d.remaining::<OsClock>().unwrap() > Duration::from_secs(59));
/// assert!(Deadline::Immediate.expired::<OsClock>());
/// assert_eq!(Deadline::from_timeout::<OsClock>(None), Deadline::Never);
/// assert_eq!(Deadline::Never.remaining::<OsClock>(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Wait as long as it takes.
    Never,
    /// Give up at this instant.
    At(Instant),
    /// Do not wait at all ("try" / `*_nowait`).
    Immediate,
}

impl Deadline {
    /// The deadline `timeout` from now on clock `C`. A clock that cannot tell time gives
    /// [`Deadline::Immediate`] for any finite timeout.
    pub fn after<C: Clock>(timeout: Duration) -> Deadline {
        if timeout.is_zero() {
            return Deadline::Immediate;
        }
        match C::now() {
            Some(now) => Deadline::At(now.saturating_add(timeout)),
            None => Deadline::Immediate,
        }
    }

    /// `None` means "no timeout": wait forever.
    pub fn from_timeout<C: Clock>(timeout: Option<Duration>) -> Deadline {
        match timeout {
            None => Deadline::Never,
            Some(t) => Deadline::after::<C>(t),
        }
    }

    /// How long is left, by clock `C`: `None` for [`Deadline::Never`], zero once expired.
    pub fn remaining<C: Clock>(self) -> Option<Duration> {
        match self {
            Deadline::Never => None,
            Deadline::Immediate => Some(Duration::ZERO),
            Deadline::At(at) => match C::now() {
                Some(now) => Some(at.saturating_duration_since(now)),
                None => Some(Duration::ZERO),
            },
        }
    }

    /// Whether the deadline has passed, by clock `C`.
    pub fn expired<C: Clock>(self) -> bool {
        self.remaining::<C>().is_some_and(|r| r.is_zero())
    }
}

/// A monotonic clock from `std`, standing in (in unit tests without the `futex` feature) for the
/// clock an embedded user supplies.
///
/// No doc example: this type exists only in unit-test builds (`cfg(test)`), which rustdoc neither
/// documents nor runs doc tests for.
#[cfg(all(test, not(feature = "futex")))]
#[derive(Clone, Copy, Debug, Default)]
pub struct StdTestClock;

#[cfg(all(test, not(feature = "futex")))]
impl Clock for StdTestClock {
    fn now() -> Option<Instant> {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let start = *START.get_or_init(std::time::Instant::now);
        Some(Instant(start.elapsed().as_nanos() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_clock_degrades_to_try() {
        assert_eq!(Deadline::after::<NoClock>(Duration::from_secs(5)), Deadline::Immediate);
        assert!(Deadline::Immediate.expired::<NoClock>());
        assert!(!Deadline::Never.expired::<NoClock>());
    }

    #[test]
    fn saturating_math() {
        let i = Instant(u64::MAX - 1);
        assert_eq!(i.saturating_add(Duration::from_secs(1)), Instant(u64::MAX));
        assert_eq!(Instant(5).saturating_duration_since(Instant(9)), Duration::ZERO);
    }

    #[cfg(feature = "futex")]
    #[test]
    fn os_clock_deadline_expires() {
        let d = Deadline::after::<OsClock>(Duration::from_millis(20));
        assert!(!d.expired::<OsClock>());
        std::thread::sleep(Duration::from_millis(30));
        assert!(d.expired::<OsClock>());
    }
}
