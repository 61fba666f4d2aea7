//! Raw forked helpers for the tools (`bench`, `stress`, `demo`): fork a closure, wait with a deadline,
//! kill. The user-facing process API is `Process`; these are the minimal pieces the tools need to
//! control children precisely (pids to SIGKILL at random moments, no bookkeeping in between).

use std::time::{Duration, Instant};

/// Longest [`Partner::join`] waits before killing the partner.
pub const PARTNER_DEADLINE: Duration = Duration::from_secs(60);

/// The wait status reported for a child reaped by the kernel (`SIGCHLD` ignored): "exited 255".
pub const STATUS_UNKNOWN: i32 = 255 << 8;

/// A forked helper process.
#[derive(Debug)]
pub struct Partner(libc::pid_t);

/// Forks a partner that runs `f` and `_exit`s (0, or 101 if it panicked). Optionally pinned to `cpu`.
pub fn fork_partner(cpu: Option<usize>, f: impl FnOnce()) -> Partner {
    // SAFETY: the ringfork CLI runs benchmarks from its single main thread (in-process baselines join
    // their threads before returning), so no lock can be held by another thread at fork time.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        if let Some(c) = cpu {
            pin(c);
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        // SAFETY: leave without running the parent's atexit handlers or destructors.
        unsafe { libc::_exit(if r.is_ok() { 0 } else { 101 }) };
    }
    Partner(pid)
}

/// Forks through the process layer ([`ringfork::os::fork`]: its locks are held across the
/// fork, the child gets a fresh signal self-pipe and is registered in the named segments it
/// inherits); the child runs `f` and `_exit`s (0, or 101 if it panicked).
pub fn try_fork_partner(f: impl FnOnce()) -> std::io::Result<Partner> {
    // SAFETY: callers (the pool, the stress tool) fork from the thread that owns the objects the
    // child uses; the child only runs `f` and then `_exit`s (see `fork_partner` for the threading
    // caveat, which is the same as for any fork).
    match unsafe { ringfork::os::fork() }? {
        ringfork::os::ForkResult::Child => {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            // SAFETY: leave without running the parent's atexit handlers or destructors.
            unsafe { libc::_exit(if r.is_ok() { 0 } else { 101 }) };
        }
        ringfork::os::ForkResult::Parent { child } => Ok(Partner(child)),
    }
}

impl Partner {
    /// The partner's pid.
    pub fn pid(&self) -> libc::pid_t {
        self.0
    }

    /// Sends `sig` to the partner (ignored if it is already gone).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory effects.
        unsafe { libc::kill(self.0, sig) };
    }

    /// Non-blocking: `Some(raw wait status)` once the partner has exited (it is then reaped).
    ///
    /// If the program ignores `SIGCHLD` (the kernel then reaps children itself and `waitpid` fails
    /// with `ECHILD`), a partner whose pid is gone is reported with [`STATUS_UNKNOWN`].
    pub fn try_wait(&self) -> Option<i32> {
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
    pub fn wait_timeout(&self, deadline: Duration) -> Option<i32> {
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

    /// Joins the partner (as [`Self::join`]) and returns `measured` if it exited cleanly and the
    /// measuring side's checks passed (`ok`), NaN otherwise: how a bench row reports a run.
    pub fn measured(self, ok: bool, measured: f64) -> f64 {
        if self.join() && ok {
            measured
        } else {
            f64::NAN
        }
    }

    /// Waits for the partner (killing it past the deadline); returns whether it exited 0.
    pub fn join(self) -> bool {
        let end = Instant::now() + PARTNER_DEADLINE;
        loop {
            let mut st = 0;
            // SAFETY: waitpid on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.0, &mut st, libc::WNOHANG) };
            if r == self.0 {
                return libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0;
            }
            if r < 0 || Instant::now() > end {
                // SAFETY: killing and reaping our own child.
                unsafe {
                    libc::kill(self.0, libc::SIGKILL);
                    libc::waitpid(self.0, &mut st, 0);
                }
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Pins the calling process to one CPU (best effort).
pub fn pin(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET and sched_setaffinity read/write only `set`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Removes any pinning of the calling process.
pub fn unpin() {
    // SAFETY: as in `pin`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in 0..libc::CPU_SETSIZE as usize {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
