//! [`ProcessError`]: everything that can go wrong starting, waiting for or signalling a process.

use std::fmt;
use std::io;

/// Why a process operation failed. Every variant says what to do about it.
///
/// ```
/// use ringfork::{Process, ProcessError};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let mut p = Process::new(|| {}).name("once");
///     assert!(matches!(p.join(), Err(ProcessError::NotStarted { .. })));
///     p.start()?;
///     let twice = p.start().unwrap_err();
///     assert!(matches!(twice, ProcessError::AlreadyStarted { ref name, .. } if name == "once"));
///     p.join()?;
///     assert_eq!(p.exitcode(), Some(0));
///     Ok(())
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// `start` was called on a process that was already started (Python: `AssertionError: cannot
    /// start a process twice`).
    AlreadyStarted {
        /// The process name.
        name: String,
        /// Its pid.
        pid: u32,
    },
    /// `join`, `terminate`, `kill` or `exitcode`-style waiting on a process that was never started.
    NotStarted {
        /// The process name.
        name: String,
    },
    /// A daemon process tried to start a child (Python: `daemonic processes are not allowed to have
    /// children`).
    DaemonCannotHaveChildren {
        /// The daemon's name.
        name: String,
    },
    /// `fork` failed. `EAGAIN` means a process limit (`RLIMIT_NPROC`, `pids.max` of the cgroup or
    /// `kernel.pid_max`) was reached; `ENOMEM` means no memory for the copy.
    Fork(io::Error),
    /// Re-executing the current program for [`StartMethod::Spawn`](super::StartMethod::Spawn) failed.
    Spawn {
        /// What was being done (`"current_exe"`, `"memfd_create"`, `"exec"`...).
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// No spawn target is registered under this name.
    UnknownTarget {
        /// The name asked for.
        name: String,
    },
    /// A different function is already registered under this target name.
    DuplicateTarget {
        /// The name.
        name: String,
    },
    /// A process built from a closure or a [`Run`](super::Run) value cannot be started with
    /// [`StartMethod::Spawn`](super::StartMethod::Spawn): a closure cannot cross `exec`.
    SpawnNeedsTarget {
        /// The process name.
        name: String,
    },
    /// The daemon flag was changed after `start` (Python: `process has already started`).
    DaemonAfterStart {
        /// The process name.
        name: String,
    },
    /// The handle belongs to another process (e.g. it was moved into a child's closure): only the
    /// process that started a child can join or signal it (Python: `can only join a child process`).
    NotAChild {
        /// The process name.
        name: String,
        /// Its pid.
        pid: u32,
    },
    /// The child was reaped by someone else, so its exit status is unknown: `SIGCHLD` is ignored
    /// (the kernel reaps children itself) or code outside ringfork called `waitpid` on the pid.
    ChildLost {
        /// The child's pid.
        pid: u32,
    },
    /// Sending a signal failed.
    Signal(crate::signal::SignalError),
    /// A child started with [`StartMethod::Spawn`](super::StartMethod::Spawn) exited without its
    /// copy of the program reaching [`spawn_main`](super::spawn_main) /
    /// [`spawn_main_hook`](super::spawn_main_hook): `main` lacks the dispatch call, so the child ran
    /// `main` again instead of its target (and stopped itself before spawning again).
    SpawnNotDispatched {
        /// The process name.
        name: String,
        /// Its pid.
        pid: u32,
        /// Its exit code ([`EXIT_NOT_DISPATCHED`](super::EXIT_NOT_DISPATCHED) when it stopped itself).
        exitcode: i32,
    },
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::AlreadyStarted { name, pid } => write!(
                f,
                "process {name:?} was already started (pid {pid}); a Process starts once, build a new one to run again"
            ),
            ProcessError::NotStarted { name } => {
                write!(f, "process {name:?} has not been started; call start() first")
            }
            ProcessError::DaemonCannotHaveChildren { name } => write!(
                f,
                "daemon process {name:?} may not start children (daemons are killed with their parent and would \
                 orphan them); make it a non-daemon process"
            ),
            ProcessError::Fork(e) if e.raw_os_error() == Some(libc::EAGAIN) => write!(
                f,
                "fork failed: {e}: the process limit is reached (RLIMIT_NPROC / `ulimit -u`, the cgroup's pids.max \
                 or kernel.pid_max); join finished children or raise the limit"
            ),
            ProcessError::Fork(e) => write!(f, "fork failed: {e}"),
            ProcessError::Spawn { op, source } => {
                write!(f, "spawning a child failed at {op}: {source}")
            }
            ProcessError::UnknownTarget { name } => write!(
                f,
                "no spawn target named {name:?}; register it with ringfork::process::register_target (or \
                 spawn_main) at the top of main, before anything else runs"
            ),
            ProcessError::DuplicateTarget { name } => write!(
                f,
                "another function is already registered as spawn target {name:?}; target names must be unique"
            ),
            ProcessError::SpawnNeedsTarget { name } => write!(
                f,
                "process {name:?} runs a closure, which cannot cross exec; use StartMethod::Fork, or build it with \
                 Process::target(name) from a registered target"
            ),
            ProcessError::DaemonAfterStart { name } => {
                write!(f, "process {name:?} has already started; set daemon before start()")
            }
            ProcessError::NotAChild { name, pid } => write!(
                f,
                "process {name:?} (pid {pid}) is not a child of this process; only the process that started it \
                 can join or signal it"
            ),
            ProcessError::ChildLost { pid } => write!(
                f,
                "child {pid} was reaped outside ringfork (SIGCHLD ignored, or waitpid called on it), so its exit \
                 status is unknown; do not ignore SIGCHLD while using Process"
            ),
            ProcessError::Signal(e) => write!(f, "{e}"),
            ProcessError::SpawnNotDispatched { name, pid, exitcode } => write!(
                f,
                "spawned process {name:?} (pid {pid}) exited with code {exitcode} without running its target: the \
                 program's main does not call ringfork::process::spawn_main(&[(\"name\", target), ...]) (or \
                 register_target + spawn_main_hook) first, so the child ran main again; add that call as the \
                 first line of main"
            ),
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcessError::Fork(e) => Some(e),
            ProcessError::Spawn { source, .. } => Some(source),
            ProcessError::Signal(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::signal::SignalError> for ProcessError {
    fn from(e: crate::signal::SignalError) -> Self {
        ProcessError::Signal(e)
    }
}
