//! The low-level process toolkit the course notes teach (`os.fork`, `os.wait`, `os.waitpid`,
//! zombies, orphans, double fork, `nice`): thin wrappers over the system calls with typed results.
//!
//! These use raw `pid_t` values (`i32`), like the calls they wrap: `waitpid(-1, ..)` means "any
//! child". Children created here are *not* managed by [`Process`](crate::Process): nothing reaps
//! them behind your back, and you must reap them yourself ([`wait`], [`waitpid`]) or they stay
//! zombies. Conversely, [`wait`]/[`waitpid`] may reap a child that a `Process` handle owns; ringfork
//! then records the status for that handle, so nothing is lost.
//!
//! Prefer [`Process`](crate::Process) for anything but teaching and tools: it reaps, reports Python's
//! exit codes and works with the Spawn start method.
//!
//! ```
//! use ringfork::os::{self, ForkResult, WaitStatus};
//! // SAFETY: the child only calls `_exit` (async-signal-safe).
//! match unsafe { os::fork() }? {
//!     ForkResult::Child => unsafe { libc::_exit(7) },
//!     ForkResult::Parent { child } => {
//!         let (pid, st) = os::waitpid(child, false)?.expect("blocking waitpid reports the child");
//!         assert_eq!(pid, child);
//!         assert_eq!(st, WaitStatus::Exited(7));
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

pub use crate::process::sys::{
    child_exit, double_fork, fork, get_nice, getpid, getppid, ignore_sigchld, nice, proc_state, set_nice, wait,
    waitpid, waitpid_untraced, ForkResult, WaitStatus,
};
pub use ringfork_core::os::{Liveness, ProcStat, StatError};
