//! `Mutex::lock_async` (and so `Lock::lock_async`).

use super::reactor::{Keep, Registration, Source};
use crate::sync::{LockError, LockResult, Mutex};
use ringfork_core::atomic::Ordering;
use ringfork_core::sync::raw_mutex::{PROBE_SLICE, TID_MASK, WAITERS};
use ringfork_core::sync::MutexGuard;
use ringfork_core::ShmSafe;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How long a lock future waits before re-polling when the lock word keeps changing under it.
const CONTENDED_SLICE: Duration = Duration::from_micros(50);

/// The future of [`Mutex::lock_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct LockFuture<'a, T: ShmSafe> {
    m: &'a Mutex<T>,
    reg: Option<Registration>,
    /// This future set WAITERS and waited: when it takes the lock, it keeps WAITERS set (others
    /// may sleep too, and its unlock must wake one), as a blocking locker that parked does.
    parked: bool,
}

impl<T: ShmSafe> Unpin for LockFuture<'_, T> {}

impl<'a, T: ShmSafe> Future for LockFuture<'a, T> {
    type Output = LockResult<MutexGuard<'a, T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if super::still_pending(&mut this.reg, cx) {
            return Poll::Pending;
        }
        let word = this.m.lock_word();
        for _ in 0..4 {
            // `try_lock` also probes a stalled owner (at most once per PROBE_SLICE per lock) and
            // takes the lock over from a dead one: the guard then says `owner_died()`.
            match this.m.try_lock() {
                Ok(g) => {
                    if this.parked {
                        // Ordering: Relaxed: we hold the lock; only the flag changes.
                        word.fetch_or(WAITERS, Ordering::Relaxed);
                    }
                    return Poll::Ready(Ok(g));
                }
                Err(LockError::TimedOut) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Ordering: Relaxed: the value only arms the kernel's compare; the lock is taken by
            // `try_lock`'s Acquire CAS.
            let w = word.load(Ordering::Relaxed);
            if w & TID_MASK == 0 {
                continue; // freed meanwhile: try again
            }
            let target = w | WAITERS;
            // Ordering: Relaxed, as the blocking locker's WAITERS CAS: it publishes nothing.
            if w & WAITERS == 0
                && word
                    .compare_exchange(w, target, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            this.parked = true;
            // The unlock that clears the word wakes one waiter (WAITERS is set); the kernel's
            // compare against `target` catches an unlock since our load. Re-poll every PROBE_SLICE
            // anyway, so a dead owner is probed and taken over.
            this.reg = Some(Registration::new(
                Source::Futex {
                    addr: word as *const _ as usize,
                    expected: target,
                },
                Some(Instant::now() + PROBE_SLICE),
                None,
                Keep::Segment(this.m.segment().clone()),
                cx.waker(),
            ));
            return Poll::Pending;
        }
        // The word kept changing: re-poll shortly.
        this.reg = Some(Registration::new(
            Source::Timer,
            Some(Instant::now() + CONTENDED_SLICE),
            None,
            Keep::None,
            cx.waker(),
        ));
        Poll::Pending
    }
}

impl<T: ShmSafe> Mutex<T> {
    /// Locks without blocking a thread (see [`crate::aio`]), with the crash semantics of
    /// [`Self::lock`]: a lock whose holder died is taken over within about two
    /// [`PROBE_SLICE`]s and the guard's `owner_died()` says so.
    ///
    /// The guard is not `Send` (the lock belongs to the thread that took it), so it can be held
    /// across an `.await` only where the future stays on one thread (`block_on`, a `LocalSet`, a
    /// current-thread runtime's `spawn_local`); on tokio's multi-thread `spawn` the compiler refuses
    /// it. Cancel safe: a dropped future holds nothing (a wake-up it was given is passed on).
    ///
    /// ```
    /// let m = ringfork::Mutex::new(0u64)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(async {
    ///     let mut g = m.lock_async().await.unwrap();
    ///     *g += 1;
    /// });
    /// assert_eq!(*m.lock().unwrap(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "acquire")]
    pub fn lock_async(&self) -> LockFuture<'_, T> {
        LockFuture {
            m: self,
            reg: None,
            parked: false,
        }
    }
}
