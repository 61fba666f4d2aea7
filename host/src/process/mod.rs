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
pub use spawn::{register_target, spawn_main, spawn_main_hook, TargetArgs, TargetFn};

/// The calling process as the process layer sees it (Python's `current_process()`).
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
#[doc(alias = "parent_process")]
pub fn parent_pid() -> u32 {
    sys::getppid()
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
