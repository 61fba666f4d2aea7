//! The system-call layer under `Process` and [`crate::os`]: fork with the process layer's locks held,
//! reaping that records statuses for `Process` handles, and the seed toolkit re-exported by `os`.

use super::reap;
use super::ProcessError;
use ringfork_core::os::{ProcStat, StatError};
use std::io::{self, Write};

/// What [`fork`] returns on each side. The [`os`](crate::os) module shows a whole `fork`/`waitpid`
/// round trip; code that forks usually hands each side to its own function:
///
/// ```
/// use ringfork::os::ForkResult;
///
/// fn role(r: ForkResult) -> String {
///     match r {
///         ForkResult::Parent { child } => format!("parent of {child}"),
///         ForkResult::Child => "child".to_owned(),
///     }
/// }
/// assert_eq!(role(ForkResult::Parent { child: 4242 }), "parent of 4242");
/// assert_eq!(role(ForkResult::Child), "child");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForkResult {
    /// In the parent: the new child's pid.
    Parent {
        /// The child's pid.
        child: i32,
    },
    /// In the child.
    Child,
}

/// How a child changed state (decoded `waitpid` status).
///
/// ```
/// use ringfork::{os::WaitStatus, Process};
/// use std::time::Duration;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let mut p = Process::new(|| std::process::exit(3));
///     p.start()?;
///     p.join()?;
///     assert_eq!(p.wait_status(), Some(WaitStatus::Exited(3)));
///
///     let mut q = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
///     q.start()?;
///     q.kill()?;
///     q.join()?;
///     assert_eq!(q.wait_status(), Some(WaitStatus::Signaled(libc::SIGKILL)));
///     assert_eq!(q.wait_status().and_then(WaitStatus::exitcode), Some(-9)); // Python's exitcode
///     Ok(())
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitStatus {
    /// It exited with this code (`WEXITSTATUS`).
    Exited(i32),
    /// It was killed by this signal (`WTERMSIG`).
    Signaled(i32),
    /// It was stopped by this signal (only reported by [`waitpid_untraced`]).
    Stopped(i32),
    /// It was continued by `SIGCONT` (only reported by [`waitpid_untraced`]).
    Continued,
}

impl WaitStatus {
    /// Decodes a raw `wait` status.
    pub fn from_raw(status: i32) -> WaitStatus {
        if libc::WIFEXITED(status) {
            WaitStatus::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            WaitStatus::Signaled(libc::WTERMSIG(status))
        } else if libc::WIFSTOPPED(status) {
            WaitStatus::Stopped(libc::WSTOPSIG(status))
        } else {
            WaitStatus::Continued
        }
    }

    /// Python's `exitcode`: the exit code, or `-signal` if killed; `None` for stop/continue.
    pub fn exitcode(self) -> Option<i32> {
        match self {
            WaitStatus::Exited(c) => Some(c),
            WaitStatus::Signaled(s) => Some(-s),
            _ => None,
        }
    }
}

/// Forks the calling process.
///
/// The child is registered in the registry of every named segment it inherited, gets a fresh
/// signal self-pipe, and starts with no [`Process`](super::Process) children of its own. Locks of the
/// process layer are held across the call, so they are never inherited in a locked state.
///
/// # Safety
/// In the child, only the forking thread exists. If the parent has other threads, any lock they held
/// (the allocator's, stdout's, a `Mutex` of yours) stays locked forever in the child, so the child
/// must restrict itself to async-signal-safe operations and shared memory before it `_exit`s or
/// `exec`s. In a single-threaded parent the child may do anything. The child should end with
/// `libc::_exit`, not by returning into code that assumes it is the parent.
#[doc(alias = "os.fork")]
pub unsafe fn fork() -> io::Result<ForkResult> {
    // SAFETY: forwarded to the caller.
    let pid = unsafe { fork_with(|_, _| {}) }?;
    Ok(if pid == 0 {
        ForkResult::Child
    } else {
        ForkResult::Parent { child: pid }
    })
}

/// `fork` with the process-layer locks held; `in_parent` runs in the parent, under the state lock,
/// with the child's pid (so the child is recorded before anyone else looks).
///
/// The child inherits every handle, so the parent registers it, before it lets it run on, as an
/// attacher of every named segment and as a holder of every ring side it holds (see
/// [`crate::queue::registration`]); the child waits for that on a pipe (a `read`, async-signal-safe)
/// and then only adopts those registrations. In the child, no lock is taken that another thread of
/// the parent could hold: every registry it touches was locked by the forking thread across the
/// `fork`, and is released by that thread's copy of the guard.
///
/// # Safety
/// As for [`fork`].
pub(crate) unsafe fn fork_with(in_parent: impl FnOnce(&mut reap::State, i32)) -> io::Result<i32> {
    let mut go = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(go.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (go_rd, go_wr) = (go[0], go[1]);
    let mut st = reap::lock();
    let cbs = crate::signal::fork_guard();
    let targets = super::spawn::fork_guard();
    let named = crate::segment::fork_guard();
    let mut held = crate::queue::registration::fork_guard();
    // Installs the atfork hook that tells handles in the child that they were copied.
    let _ = crate::queue::registration::fork_generation();
    // SAFETY: fork(2) itself is always sound; what the child may do afterwards is the caller's
    // contract. The guards above are copied into the child still owned by this thread, which drops them.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: closing the two fds we just created.
        unsafe {
            libc::close(go_rd);
            libc::close(go_wr);
        }
        return Err(e);
    }
    if pid == 0 {
        // SAFETY: closing our copy of the write end, then a blocking read of one byte: EOF (0) if
        // the parent died before it registered us.
        let registered = unsafe {
            libc::close(go_wr);
            let mut b = 0u8;
            let n = loop {
                let n = libc::read(go_rd, (&mut b as *mut u8).cast(), 1);
                if n >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    break n;
                }
            };
            libc::close(go_rd);
            n == 1
        };
        let me = ringfork_core::os::ProcessStamp::current_process().map(|s| (s.pid, s.start_time));
        held.adopt(me, registered);
        if let Some(me) = me {
            named.adopt(me, registered);
        }
        drop(held);
        drop(named);
        st.reset_after_fork(std::process::id());
        drop(targets);
        drop(cbs);
        crate::signal::after_fork_child();
        drop(st);
    } else {
        // The child's start time: its /proc entry exists from the moment fork returns (a zombie's
        // too, and we have not reaped it).
        if let Ok(s) = ringfork_core::os::stat(pid as u32) {
            let child = (pid as u32, s.start_time);
            named.register_child(child);
            held.register_child(child);
        }
        drop(held);
        drop(named);
        // SAFETY: a one-byte write to our pipe, then closing it (the child reads EOF if the write
        // failed, and registers itself).
        unsafe {
            libc::close(go_rd);
            let _ = libc::write(go_wr, [1u8].as_ptr().cast(), 1);
            libc::close(go_wr);
        }
        in_parent(&mut st, pid);
    }
    Ok(pid)
}

/// Ends a forked child (Python's `os._exit` after a `fork`): joins its own children
/// ([`reap::shutdown`]), releases its peer-table entries and segment registry slots (an orderly
/// goodbye, so the next child finds them free), flushes stdout and stderr, then `_exit`s (no atexit
/// handlers, no destructors of the parent's objects).
#[doc(alias = "os._exit")]
pub fn child_exit(code: i32) -> ! {
    let _ = std::panic::catch_unwind(reap::shutdown);
    crate::queue::registration::release_for_exit();
    crate::segment::release_for_exit();
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: _exit ends the process immediately; nothing of the parent's state runs.
    unsafe { libc::_exit(code) }
}

/// `waitpid(pid, flags)` with EINTR retried; `Ok(None)` when `WNOHANG` found nothing.
pub(crate) fn waitpid_raw(pid: i32, flags: i32) -> io::Result<Option<(i32, WaitStatus)>> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r > 0 {
            return Ok(Some((r, WaitStatus::from_raw(status))));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

fn wait_impl(pid: i32, nohang: bool, untraced: bool) -> io::Result<Option<(i32, WaitStatus)>> {
    let report = if untraced {
        libc::WUNTRACED | libc::WCONTINUED
    } else {
        0
    };
    loop {
        if !nohang {
            // Block until a matching child is waitable *without* reaping it (WNOWAIT), then reap
            // under the state lock so a Process handle waiting for the same pid records it too.
            let (idtype, id) = match pid {
                -1 => (libc::P_ALL, 0),
                p if p > 0 => (libc::P_PID, p as libc::id_t),
                0 => (libc::P_PGID, 0),
                p => (libc::P_PGID, p.unsigned_abs() as libc::id_t),
            };
            let flags = libc::WEXITED | libc::WNOWAIT | if untraced { libc::WSTOPPED | libc::WCONTINUED } else { 0 };
            // SAFETY: a zeroed siginfo_t is a valid out-buffer for waitid.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waitid with a valid out-pointer.
            if unsafe { libc::waitid(idtype, id, &mut info, flags) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e);
            }
        }
        let mut st = reap::lock();
        match waitpid_raw(pid, libc::WNOHANG | report)? {
            Some((p, ws)) => {
                st.record(p as u32, ws);
                return Ok(Some((p, ws)));
            }
            None if nohang => return Ok(None),
            None => continue, // another thread reaped it first; wait again
        }
    }
}

/// Waits for any child to exit and reaps it (Python's `os.wait()`). `ECHILD` when there is none.
#[doc(alias = "os.wait")]
pub fn wait() -> io::Result<(i32, WaitStatus)> {
    match wait_impl(-1, false, false)? {
        Some(r) => Ok(r),
        None => Err(io::Error::from_raw_os_error(libc::ECHILD)),
    }
}

/// Waits for child `pid` (`-1`: any child; `0`: any in our process group; `< -1`: any in group
/// `-pid`) to exit and reaps it. With `nohang` (Python's `WNOHANG`), returns `Ok(None)` at once if
/// none has exited. `ECHILD` if there is no such child.
#[doc(alias = "os.waitpid")]
#[doc(alias = "WNOHANG")]
pub fn waitpid(pid: i32, nohang: bool) -> io::Result<Option<(i32, WaitStatus)>> {
    wait_impl(pid, nohang, false)
}

/// [`waitpid`] that also reports children stopped ([`WaitStatus::Stopped`], `WUNTRACED`) and
/// continued ([`WaitStatus::Continued`], `WCONTINUED`).
#[doc(alias = "WUNTRACED")]
pub fn waitpid_untraced(pid: i32, nohang: bool) -> io::Result<Option<(i32, WaitStatus)>> {
    wait_impl(pid, nohang, true)
}

/// Sets `SIGCHLD` to `SIG_IGN`: the kernel then reaps every child itself as it exits, so none ever
/// becomes a zombie (the seeds' fourth way to avoid zombies). The price: exit statuses are lost,
/// `wait` fails with `ECHILD`, and [`Process`](super::Process) handles report
/// [`ProcessError::ChildLost`]. Undo with `signal::default(Signal::Chld)`.
#[doc(alias = "signal.signal(SIGCHLD, SIG_IGN)")]
pub fn ignore_sigchld() -> Result<(), crate::signal::SignalError> {
    crate::signal::ignore(crate::signal::Signal::Chld)
}

/// Runs `f` in a grandchild whose parent exits at once, so the grandchild is reparented (to init or
/// the nearest subreaper) and can never become *our* zombie: the seeds' "double fork" orphan trick.
/// Returns the grandchild's pid. The intermediate child is reaped before this returns. The
/// grandchild `_exit`s with 0 after `f` returns, or 1 if `f` panicked.
///
/// Forking from a multi-threaded process is unsafe in general; see [`fork`]. This function is safe to
/// call, like [`Process::start`](super::Process::start), and documented the same way: call it while
/// the process has one thread.
pub fn double_fork(f: impl FnOnce()) -> Result<u32, ProcessError> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(ProcessError::Fork(io::Error::last_os_error()));
    }
    let (rd, wr) = (fds[0], fds[1]);
    // SAFETY: the children below only fork, write to a pipe, run `f` and `_exit` (documented above).
    let child = match unsafe { fork_with(|_, _| {}) } {
        Ok(p) => p,
        Err(e) => {
            // SAFETY: closing the two fds we just created.
            unsafe {
                libc::close(rd);
                libc::close(wr);
            }
            return Err(ProcessError::Fork(e));
        }
    };
    if child == 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(rd) };
        // SAFETY: as above; this child is single-threaded.
        let msg: i32 = match unsafe { fork_with(|_, _| {}) } {
            Ok(0) => {
                // SAFETY: closing the grandchild's copy of the write end.
                unsafe { libc::close(wr) };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
                child_exit(if r.is_ok() { 0 } else { 1 });
            }
            Ok(grandchild) => grandchild,
            Err(e) => -e.raw_os_error().unwrap_or(libc::EAGAIN),
        };
        let b = msg.to_ne_bytes();
        // SAFETY: write(2) of a 4-byte local; a short write is impossible for 4 bytes into a pipe.
        unsafe { libc::write(wr, b.as_ptr().cast(), 4) };
        // SAFETY: _exit: the middle child has nothing else to do.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: closing the parent's copy of the write end.
    unsafe { libc::close(wr) };
    let mut b = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        // SAFETY: read into the rest of a local buffer.
        let r = unsafe { libc::read(rd, b[got..].as_mut_ptr().cast(), 4 - got) };
        if r > 0 {
            got += r as usize;
        } else if r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    // SAFETY: closing the read end.
    unsafe { libc::close(rd) };
    let _ = waitpid_raw(child, 0);
    let msg = i32::from_ne_bytes(b);
    if got < 4 || msg == 0 {
        return Err(ProcessError::Fork(io::Error::other(
            "the intermediate child died before reporting",
        )));
    }
    if msg < 0 {
        return Err(ProcessError::Fork(io::Error::from_raw_os_error(-msg)));
    }
    Ok(msg as u32)
}

/// `/proc/<pid>/stat` of `pid`: state letter (`R` running, `S` sleeping, `D` disk wait, `Z` zombie,
/// `T` stopped...), parent pid and nice value.
///
/// ```
/// let me = ringfork::os::proc_state(std::process::id())?;
/// assert_eq!(me.state, b'R'); // it is reading its own stat right now
/// # Ok::<(), ringfork_core::os::StatError>(())
/// ```
pub fn proc_state(pid: u32) -> Result<ProcStat, StatError> {
    ringfork_core::os::stat(pid)
}

/// Adds `increment` to the calling process's nice value and returns the new value (Python's
/// `os.nice`). Lowering it (a negative increment) needs `CAP_SYS_NICE`.
#[doc(alias = "os.nice")]
pub fn nice(increment: i32) -> io::Result<i32> {
    // SAFETY: errno is thread-local; cleared so a legitimate -1 result can be told from an error.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: nice(2) takes an integer.
    let r = unsafe { libc::nice(increment) };
    if r == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(0) {
            return Err(e);
        }
    }
    Ok(r)
}

/// The nice value of process `pid` (0: the calling process), via `getpriority`.
#[doc(alias = "os.getpriority")]
pub fn get_nice(pid: u32) -> io::Result<i32> {
    // SAFETY: errno is thread-local; cleared so a legitimate -1 result can be told from an error.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: getpriority takes integers.
    let r = unsafe { libc::getpriority(libc::PRIO_PROCESS as _, pid as libc::id_t) };
    if r == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(0) {
            return Err(e);
        }
    }
    Ok(r)
}

/// Sets the nice value of process `pid` (0: the calling process) to `value` (-20..=19), via
/// `setpriority`. Lowering it needs `CAP_SYS_NICE`.
#[doc(alias = "os.setpriority")]
pub fn set_nice(pid: u32, value: i32) -> io::Result<()> {
    // SAFETY: setpriority takes integers.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS as _, pid as libc::id_t, value) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling process's pid (Python's `os.getpid`).
#[doc(alias = "os.getpid")]
pub fn getpid() -> u32 {
    std::process::id()
}

/// The parent's pid (Python's `os.getppid`); 1 (or a subreaper) once the parent died.
#[doc(alias = "os.getppid")]
pub fn getppid() -> u32 {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() as u32 }
}
