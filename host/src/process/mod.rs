//! Processes: Python's `multiprocessing.Process` and the low-level toolkit of `os.fork`/`os.wait`.
//!
//! - [`Process`]: start a child from a closure, a [`Run`] value or a registered spawn target, with
//!   Python's lifecycle (`start`, `join`, `join_timeout`, `is_alive`, `exitcode`, `terminate`, `kill`,
//!   `daemon`) and exit codes (`-signal` when killed).
//! - [`StartMethod`]: `Fork` (default) or `Spawn` (re-execute this program; see [`spawn_main`]).
//! - Exit behaviour: when `main` returns, non-daemon children are joined and daemon children
//!   terminated ([`shutdown`], run from an `atexit` hook registered by the first `start`, or from a
//!   [`MainGuard`]). Daemon children also get `PR_SET_PDEATHSIG(SIGKILL)`.
//! - Reaping: every child is reaped on every path (`docs/processes.md` says how and when).
//! - [`crate::os`]: `fork`, `wait`, `waitpid`, `ignore_sigchld`, `double_fork`, `proc_state`, `nice`.
//! - [`current_process`], [`parent_pid`], [`active_children`], [`cpu_count`].
//!
//! See `docs/processes.md` for the design and `docs/python.md` for the Python name of everything.

mod error;
pub(crate) mod handle;
pub(crate) mod reap;
pub(crate) mod spawn;
pub(crate) mod sys;

pub use error::ProcessError;
pub use handle::{fork_thread_warnings, get_start_method, set_start_method, Process, Run, StartMethod};
pub use reap::{active_children, reap_detached, shutdown, ChildInfo, MainGuard, DAEMON_GRACE};
pub(crate) use spawn::exit_if_undispatched_child;
pub use spawn::{register_target, spawn_main, spawn_main_hook, TargetArgs, TargetFn, EXIT_NOT_DISPATCHED};

/// The calling process as the process layer sees it (Python's `current_process()`).
///
/// ```
/// use ringfork::{current_process, Process, ShmCell};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let me = current_process();
///     assert_eq!((me.name.as_str(), me.daemon, me.identity.len()), ("MainProcess", false, 0));
///     let seen = ShmCell::new(0u32)?;
///     let seen2 = seen.clone();
///     let mut p = Process::new(move || {
///         let me = current_process();
///         if me.name == "worker" && me.identity.len() == 1 {
///             seen2.set(me.pid);
///         }
///     })
///     .name("worker");
///     p.start()?;
///     p.join()?;
///     assert_eq!(Some(seen.get()), p.pid());
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentProcess {
    /// Its pid.
    pub pid: u32,
    /// `"MainProcess"` in the main process, the [`Process`] name in a child.
    pub name: String,
    /// Whether it is a daemon child.
    pub daemon: bool,
    /// Python's `_identity`: child counters from the main process (`[]` in the main process, `[2]`
    /// in the second child, `[2, 1]` in that child's first child).
    pub identity: Vec<u32>,
}

/// The calling process: pid, name, daemon flag (Python's `multiprocessing.current_process()`).
///
/// ```
/// let me = ringfork::current_process();
/// assert_eq!(me.pid, std::process::id());
/// assert_eq!(me.name, "MainProcess");
/// ```
#[doc(alias = "multiprocessing.current_process")]
pub fn current_process() -> CurrentProcess {
    let st = reap::lock();
    CurrentProcess {
        pid: std::process::id(),
        name: st.name.clone(),
        daemon: st.daemon,
        identity: st.identity.clone(),
    }
}

/// Renames the calling process as [`current_process`] reports it (Python's
/// `current_process().name = ...`).
pub fn set_current_process_name(name: impl Into<String>) {
    reap::lock().name = name.into();
}

/// The parent's pid (Python's `multiprocessing.parent_process().pid` / `os.getppid()`).
pub fn parent_pid() -> u32 {
    sys::getppid()
}

/// The pid of the process that started this one with [`Process`] (or a pool), 0 in a main process.
static STARTED_BY: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Records, in a new child, who started it and how: [`parent_process`] and [`get_start_method`]
/// answer from this (Python's child also reports its own start method).
pub(crate) fn mark_child(parent: u32, method: StartMethod) {
    // Ordering: Relaxed: written once at the start of the child, before its body runs on this thread.
    STARTED_BY.store(parent, std::sync::atomic::Ordering::Relaxed);
    set_start_method(method);
}

/// The process that started this one (Python 3.8's `multiprocessing.parent_process()`): `None` in a
/// main process (one not started by [`Process`] or a pool).
///
/// ```
/// assert!(ringfork::process::parent_process().is_none()); // a main process
/// ```
#[doc(alias = "multiprocessing.parent_process")]
pub fn parent_process() -> Option<ParentProcess> {
    // Ordering: see `mark_child`.
    let pid = STARTED_BY.load(std::sync::atomic::Ordering::Relaxed);
    (pid != 0).then_some(ParentProcess { pid })
}

/// The parent as seen from a child (see [`parent_process`]): its pid, whether it is alive, and a
/// wait for its end.
///
/// ```
/// use ringfork::{process::parent_process, Process, ShmCell};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let seen = ShmCell::new(0u32)?;
///     let seen2 = seen.clone();
///     let mut p = Process::new(move || {
///         let parent = parent_process().expect("started by a Process");
///         if parent.is_alive() {
///             seen2.set(parent.pid());
///         }
///     });
///     p.start()?;
///     p.join()?;
///     assert_eq!(seen.get(), std::process::id());
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentProcess {
    pid: u32,
}

impl ParentProcess {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the parent is still alive. A child is reparented (to init or a subreaper) the moment
    /// its parent dies, so this is `getppid() == pid`: exact, and immune to pid reuse.
    pub fn is_alive(&self) -> bool {
        sys::getppid() == self.pid
    }

    /// Waits until the parent has ended (Python's `parent_process().join()`).
    pub fn join(&self) {
        while !self.join_timeout(std::time::Duration::from_secs(3600)) {}
    }

    /// Waits at most `timeout` for the parent to end: `true` once it has, `false` if it is still alive
    /// when the timeout passed (never earlier).
    #[doc(alias = "join")]
    pub fn join_timeout(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now().checked_add(timeout);
        // A pidfd of the parent, valid only if the parent is still ours after opening it (otherwise
        // the pid may already name another process).
        // SAFETY: pidfd_open takes a pid and flags; the result is checked.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid as libc::pid_t, 0) } as i32;
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: a fresh descriptor we own.
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        });
        loop {
            if !self.is_alive() {
                return true;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(std::time::Instant::now()),
                None => std::time::Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            match &pidfd {
                Some(fd) => {
                    let mut p = libc::pollfd {
                        fd: std::os::fd::AsRawFd::as_raw_fd(fd),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
                    // SAFETY: one valid pollfd; a pidfd becomes readable when the process ends.
                    unsafe { libc::poll(&mut p, 1, ms) };
                }
                // No pidfd (old kernel): poll the parent's pid every few milliseconds.
                None => std::thread::sleep(left.min(std::time::Duration::from_millis(5))),
            }
        }
    }
}

/// The number of CPUs online (Python's `multiprocessing.cpu_count()`); at least 1.
///
/// ```
/// assert!(ringfork::cpu_count() >= 1);
/// ```
#[doc(alias = "multiprocessing.cpu_count")]
#[doc(alias = "os.cpu_count")]
pub fn cpu_count() -> usize {
    // SAFETY: sysconf takes an integer.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n >= 1 {
        n as usize
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }
}

/// The number of CPUs this process may run on (its affinity mask; Python 3.13's
/// `process_cpu_count()`); at least 1.
pub fn process_cpu_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
