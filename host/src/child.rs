//! Forked pool workers: fork a closure through the process layer, wait with a deadline, kill. The
//! user-facing process API is `Process`; the pool keeps these minimal handles so that it can replace a
//! dead worker without the bookkeeping of a `Process`.

use std::time::{Duration, Instant};

/// The wait status reported for a child reaped by the kernel (`SIGCHLD` ignored): "exited 255".
pub(crate) const STATUS_UNKNOWN: i32 = 255 << 8;

/// A forked helper process.
#[derive(Debug)]
pub(crate) struct Partner(libc::pid_t);

/// Forks through the process layer ([`crate::process::sys::fork`]: its locks are held across the
/// fork, the child gets a fresh signal self-pipe and is registered in the named segments it
/// inherits); the child runs `f` and `_exit`s (0, or 101 if it panicked).
pub(crate) fn try_fork_partner(f: impl FnOnce()) -> std::io::Result<Partner> {
    // SAFETY: callers (the pool, the stress tool) fork from the thread that owns the objects the
    // child uses; the child only runs `f` and then `_exit`s (see `fork_partner` for the threading
    // caveat, which is the same as for any fork).
    match unsafe { crate::process::sys::fork() }? {
        crate::process::sys::ForkResult::Child => {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            // SAFETY: leave without running the parent's atexit handlers or destructors.
            unsafe { libc::_exit(if r.is_ok() { 0 } else { 101 }) };
        }
        crate::process::sys::ForkResult::Parent { child } => Ok(Partner(child)),
    }
}

impl Partner {
    /// The partner's pid.
    pub(crate) fn pid(&self) -> libc::pid_t {
        self.0
    }

    /// Sends `sig` to the partner (ignored if it is already gone).
    pub(crate) fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory effects.
        unsafe { libc::kill(self.0, sig) };
    }

    /// Non-blocking: `Some(raw wait status)` once the partner has exited (it is then reaped).
    ///
    /// If the program ignores `SIGCHLD` (the kernel then reaps children itself and `waitpid` fails
    /// with `ECHILD`), a partner whose pid is gone is reported with [`STATUS_UNKNOWN`].
    pub(crate) fn try_wait(&self) -> Option<i32> {
        let mut st = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(self.0, &mut st, libc::WNOHANG) };
        if r == self.0 {
            return Some(st);
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            let gone = ringfork_core::os::pid_exists(self.0 as u32) == ringfork_core::os::Liveness::Dead;
            return gone.then_some(STATUS_UNKNOWN);
        }
        None
    }

    /// Waits up to `deadline`; on timeout SIGKILLs and reaps the partner and returns `None`.
    pub(crate) fn wait_timeout(&self, deadline: Duration) -> Option<i32> {
        let end = Instant::now() + deadline;
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if Instant::now() > end {
                self.signal(libc::SIGKILL);
                let mut st = 0;
                // SAFETY: reaping our own child.
                unsafe { libc::waitpid(self.0, &mut st, 0) };
                return None;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
