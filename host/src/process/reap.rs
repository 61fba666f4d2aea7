//! The children this process owns, and reaping them: per-pid `waitpid`, never `waitpid(-1)`.
//!
//! # Ownership
//! Every child started through [`Process`](super::Process) is recorded here (pid, name, daemon flag,
//! and once reaped its status). Reaping a recorded pid happens only while the state lock is held, and
//! signals are sent to a recorded pid only while it is unreaped (so it is still ours: a zombie keeps
//! its pid). Children the user forks with [`sys::fork`](super::sys::fork) are not recorded and never
//! reaped here. Blocking waits happen *without* the lock: `poll(2)` on a pidfd opened under the lock
//! (falling back to short sleeps on kernels without pidfds), then a `WNOHANG` reap under the lock.
//!
//! # Dropped handles
//! Dropping a [`Process`](super::Process) whose child still runs hands the pid to a *detached* list.
//! Detached children are reaped (like Python's `_cleanup`) by the next `start`, [`active_children`],
//! [`reap_detached`] or [`shutdown`], and at exit.

use super::sys::WaitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How a child's end was observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reaped {
    /// We reaped it and know its status.
    Status(WaitStatus),
    /// Someone else reaped it (`SIGCHLD` ignored, or a foreign `waitpid`).
    Lost,
}

#[derive(Debug)]
pub(crate) struct Child {
    pub pid: u32,
    pub name: String,
    pub daemon: bool,
    pub result: Option<Reaped>,
    /// The handle was dropped: nobody will collect the result.
    pub detached: bool,
}

/// Process-wide state of the process layer.
#[derive(Debug)]
pub(crate) struct State {
    /// The pid this state belongs to; a forked child that finds another pid here starts afresh.
    owner: u32,
    /// `current_process().name`.
    pub name: String,
    /// Python's `_identity`: the path of child counters from the main process.
    pub identity: Vec<u32>,
    /// Whether this process is a daemon child.
    pub daemon: bool,
    /// How many children this process has created (names `Process-<identity>:<n>`).
    pub counter: u32,
    pub children: Vec<Child>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static ATEXIT: AtomicBool = AtomicBool::new(false);

/// The locked state, reset if this process is a fork of the one that created it.
pub(crate) struct Guard(MutexGuard<'static, Option<State>>);

impl std::ops::Deref for Guard {
    type Target = State;
    fn deref(&self) -> &State {
        // Invariant: `lock` always leaves `Some`.
        self.0.as_ref().expect("process state initialized by lock()")
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut State {
        self.0.as_mut().expect("process state initialized by lock()")
    }
}

pub(crate) fn lock() -> Guard {
    let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let me = std::process::id();
    match g.as_mut() {
        Some(st) if st.owner == me => {}
        Some(st) => st.reset_after_fork(me),
        None => {
            *g = Some(State {
                owner: me,
                name: "MainProcess".to_owned(),
                identity: Vec::new(),
                daemon: false,
                counter: 0,
                children: Vec::new(),
            })
        }
    }
    Guard(g)
}

impl State {
    /// In a fork child: the parent's children are not ours.
    pub(crate) fn reset_after_fork(&mut self, me: u32) {
        self.owner = me;
        self.children.clear();
        self.counter = 0;
    }

    fn child(&mut self, pid: u32) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.pid == pid)
    }

    /// Reaps `pid` if it ended (never blocks); the result stays recorded.
    pub(crate) fn try_reap(&mut self, pid: u32) -> Option<Reaped> {
        let c = self.child(pid)?;
        if c.result.is_none() {
            c.result = match super::sys::waitpid_raw(pid as i32, libc::WNOHANG) {
                Ok(Some((_, st))) => Some(Reaped::Status(st)),
                Ok(None) => None,
                Err(_) => Some(Reaped::Lost),
            };
        }
        c.result
    }

    /// Records a reap done elsewhere in ringfork (the low-level `wait`/`waitpid`).
    pub(crate) fn record(&mut self, pid: u32, st: WaitStatus) {
        if let Some(c) = self.child(pid) {
            if c.result.is_none() && !matches!(st, WaitStatus::Stopped(_) | WaitStatus::Continued) {
                c.result = Some(Reaped::Status(st));
            }
        }
        self.children.retain(|c| !(c.detached && c.result.is_some()));
    }

    /// Reaps what detached children ended; returns how many were reaped.
    pub(crate) fn cleanup(&mut self) -> usize {
        let pids: Vec<u32> = self
            .children
            .iter()
            .filter(|c| c.detached && c.result.is_none())
            .map(|c| c.pid)
            .collect();
        let mut n = 0;
        for pid in pids {
            if self.try_reap(pid).is_some() {
                n += 1;
            }
        }
        self.children.retain(|c| !(c.detached && c.result.is_some()));
        n
    }

    /// Sends `sig` to `pid` if it is an unreaped child; `Ok(false)` if it already ended.
    pub(crate) fn signal(&mut self, pid: u32, sig: i32) -> std::io::Result<bool> {
        if self.try_reap(pid).is_some() {
            return Ok(false);
        }
        // SAFETY: kill(2) with plain integers; `pid` is our unreaped child (see the module docs).
        if unsafe { libc::kill(pid as i32, sig) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(true)
    }
}

/// Registers the exit hook once (called by the first `start`).
pub(crate) fn ensure_atexit() {
    if !ATEXIT.swap(true, Ordering::SeqCst) {
        // SAFETY: `at_exit` is an `extern "C" fn()` that never unwinds.
        unsafe { libc::atexit(at_exit) };
    }
}

extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(shutdown);
}

/// Blocks until `pid` (an unreaped recorded child) may have ended, or `deadline` passes, or a slice of
/// at most one second passed; the caller re-checks.
fn block(pid: u32, deadline: Option<Instant>) {
    let slice = Duration::from_secs(1);
    let now = Instant::now();
    let left = match deadline {
        Some(d) if d <= now => return,
        Some(d) => (d - now).min(slice),
        None => slice,
    };
    let fd = {
        let mut st = lock();
        if st.try_reap(pid).is_some() {
            return;
        }
        // Opened under the lock while the child is unreaped, so the pid cannot have been reused.
        rustix::process::Pid::from_raw(pid as i32)
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok())
    };
    match fd {
        Some(fd) => {
            use std::os::fd::AsRawFd;
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // Rounded up to whole milliseconds: callers loop until their deadline really passed.
            let ms = left.as_millis().saturating_add(1).min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd on a pidfd we own; EINTR just returns early, callers loop.
            unsafe { libc::poll(&mut p, 1, ms) };
        }
        None => std::thread::sleep(left.min(Duration::from_millis(2))),
    }
}

/// Waits until `pid` ended (reaping it) or `deadline` passed. `None` = still running.
pub(crate) fn wait(pid: u32, deadline: Option<Instant>) -> Option<Reaped> {
    loop {
        {
            let mut st = lock();
            if let Some(r) = st.try_reap(pid) {
                return Some(r);
            }
            if st.child(pid).is_none() {
                // Not (or no longer) recorded: nothing can ever be reaped here, so never wait for it.
                return Some(Reaped::Lost);
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        block(pid, deadline);
    }
}

/// How long daemons get between `SIGTERM` and `SIGKILL` at exit.
pub const DAEMON_GRACE: Duration = Duration::from_secs(1);

/// Python's exit behaviour, run at exit (an `atexit` hook registered by the first `start`), by
/// [`MainGuard`], and by every child after its target returns: reap detached children, send `SIGTERM`
/// to every daemon child, join every non-daemon child (waiting as long as they run), then wait for the
/// daemons, `SIGKILL`ing any still alive after [`DAEMON_GRACE`]. Safe to call more than once.
pub fn shutdown() {
    let (daemons, others) = {
        let mut st = lock();
        st.cleanup();
        let running: Vec<(u32, bool)> = st
            .children
            .iter()
            .filter(|c| c.result.is_none())
            .map(|c| (c.pid, c.daemon))
            .collect();
        let mut daemons = Vec::new();
        let mut others = Vec::new();
        for (pid, daemon) in running {
            if daemon {
                let _ = st.signal(pid, libc::SIGTERM);
                daemons.push(pid);
            } else {
                others.push(pid);
            }
        }
        (daemons, others)
    };
    for pid in others {
        wait(pid, None);
    }
    for pid in daemons {
        if wait(pid, Some(Instant::now() + DAEMON_GRACE)).is_none() {
            let _ = lock().signal(pid, libc::SIGKILL);
            wait(pid, None);
        }
    }
    lock().cleanup();
}

/// Reaps children whose [`Process`](super::Process) handle was dropped while they ran and that have
/// ended since; returns how many. Called automatically by `start`, [`active_children`] and at exit.
pub fn reap_detached() -> usize {
    lock().cleanup()
}

/// One running child, as listed by [`active_children`].
///
/// ```
/// use ringfork::{active_children, Event, Process};
/// use std::time::Duration;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let go = Event::new()?;
///     let go2 = go.clone();
///     let mut p = Process::new(move || {
///         go2.wait_timeout(Duration::from_secs(30));
///     })
///     .name("waiter");
///     p.start()?;
///     let kids = active_children();
///     go.set();
///     p.join()?;
///     assert_eq!(kids.len(), 1);
///     assert_eq!((Some(kids[0].pid), kids[0].name.as_str(), kids[0].daemon), (p.pid(), "waiter", false));
///     assert!(active_children().is_empty());
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildInfo {
    /// Its pid.
    pub pid: u32,
    /// Its name.
    pub name: String,
    /// Whether it is a daemon.
    pub daemon: bool,
}

/// The children of this process that are still running (reaping any that ended, like Python).
#[doc(alias = "multiprocessing.active_children")]
pub fn active_children() -> Vec<ChildInfo> {
    let mut st = lock();
    st.cleanup();
    let pids: Vec<u32> = st.children.iter().map(|c| c.pid).collect();
    let mut out = Vec::new();
    for pid in pids {
        if st.try_reap(pid).is_none() {
            if let Some(c) = st.children.iter().find(|c| c.pid == pid) {
                out.push(ChildInfo {
                    pid,
                    name: c.name.clone(),
                    daemon: c.daemon,
                });
            }
        }
    }
    out
}

/// A guard for `main` that runs [`shutdown`] when dropped: non-daemon children are joined and daemon
/// children terminated even if `main` unwinds. The same happens at normal exit without a guard (the
/// `atexit` hook); the guard makes the moment explicit and also covers a panicking `main`.
///
/// ```
/// use ringfork::{process::MainGuard, Process};
/// use std::time::Duration;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let guard = MainGuard::new(); // normally `let _guard = ...` on the first line of main
///     let mut worker = Process::new(|| std::thread::sleep(Duration::from_millis(100)));
///     let mut daemon = Process::new(|| std::thread::sleep(Duration::from_secs(30))).daemon(true);
///     worker.start()?;
///     daemon.start()?;
///     drop(guard); // joins `worker`, terminates `daemon`
///     assert_eq!(worker.exitcode(), Some(0));
///     assert_eq!(daemon.exitcode(), Some(-libc::SIGTERM));
///     Ok(())
/// }
/// ```
#[derive(Debug, Default)]
#[must_use = "the guard joins children when dropped; bind it with `let _guard = ...`"]
pub struct MainGuard {
    _private: (),
}

impl MainGuard {
    /// A new guard.
    pub fn new() -> MainGuard {
        MainGuard { _private: () }
    }
}

impl Drop for MainGuard {
    fn drop(&mut self) {
        shutdown();
    }
}
