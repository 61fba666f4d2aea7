//! `Process::join_async`: a pidfd watched by the reactor (no thread per child).

use super::reactor::{Keep, Registration, Source, OVERFLOW_POLL};
use crate::process::{Process, ProcessError};
use std::future::Future;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The future of [`Process::join_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Join<'a> {
    p: &'a mut Process,
    reg: Option<Registration>,
}

impl Future for Join<'_> {
    type Output = Result<(), ProcessError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if super::still_pending(&mut this.reg, cx) {
            return Poll::Pending;
        }
        // A zero timeout only checks (and reaps the child if it ended).
        match this.p.join_timeout(Duration::ZERO) {
            Ok(true) => return Poll::Ready(Ok(())),
            Err(e) => return Poll::Ready(Err(e)),
            Ok(false) => {}
        }
        // Still running (so unreaped, and its pid still ours): a pidfd becomes readable when it ends.
        let fd = this
            .p
            .pid()
            .and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
            .and_then(|pid| rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok());
        this.reg = Some(match fd {
            Some(fd) => Registration::new(Source::Fd(fd.as_raw_fd()), None, None, Keep::Fd(fd), cx.waker()),
            // No pidfds (Linux < 5.3): poll the child every few milliseconds.
            None => Registration::new(
                Source::Timer,
                Some(Instant::now() + OVERFLOW_POLL),
                None,
                Keep::None,
                cx.waker(),
            ),
        });
        Poll::Pending
    }
}

impl Process {
    /// Waits until the child ends and reaps it, without blocking a thread: the reactor watches a
    /// pidfd of the child (see [`crate::aio`]). Errors as [`Self::join`]. Cancel safe.
    ///
    /// ```
    /// let mut p = ringfork::Process::new(|| std::thread::sleep(std::time::Duration::from_millis(20)));
    /// p.start()?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(p.join_async())?;
    /// assert_eq!(p.exitcode(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "join")]
    pub fn join_async(&mut self) -> Join<'_> {
        Join { p: self, reg: None }
    }
}
