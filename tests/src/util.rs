//! Helpers for tests that fork: run a closure in a child with a deadline, wait with deadlines, and
//! check for zombies.

use std::time::{Duration, Instant};

/// Forks; the child runs `f` and `_exit`s with 0 (or 101 if `f` panicked). Returns the child's pid.
///
/// Only call this from a single-threaded process (every harness case is one).
pub fn fork_child(f: impl FnOnce()) -> libc::pid_t {
    // SAFETY: the harness runs each case alone on the main thread of its own process, so no other
    // thread holds a lock the child could inherit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let code = if r.is_ok() { 0 } else { 101 };
        // SAFETY: _exit skips atexit handlers and destructors that belong to the parent's state.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Waits for `pid` until `deadline` from now; on timeout SIGKILLs and reaps it and panics.
/// Returns the raw wait status.
pub fn wait_child(pid: libc::pid_t, deadline: Duration) -> i32 {
    let end = Instant::now() + deadline;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return status;
        }
        assert!(r == 0, "waitpid({pid}) failed: {}", std::io::Error::last_os_error());
        if Instant::now() > end {
            // SAFETY: signalling and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("child {pid} did not finish within {deadline:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits for `pid` and asserts it exited with status 0.
pub fn join_ok(pid: libc::pid_t, deadline: Duration) {
    let st = wait_child(pid, deadline);
    assert!(
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
        "child {pid} failed: raw status {st:#x}"
    );
}

/// Children of this process that are zombies right now (read from /proc).
pub fn zombie_children() -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Ok(s) = ringfork_core::os::stat(pid) {
                if s.ppid == me && s.state == b'Z' {
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// Polls `cond` every millisecond until it holds or `deadline` passes; returns whether it held.
pub fn wait_until(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
