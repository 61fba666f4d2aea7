//! The fast thread-identity source for robust locks (see [`ringfork_core::sync::identity`]).
//!
//! `ringfork-core` cannot use thread-local storage, so by default it asks the kernel for the TID on
//! every lock and does not know the owner's start time. The host installs a hook backed by a
//! `thread_local!` cache of (TID, start time): the first lock in a thread reads `/proc/self/task/<tid>`
//! once; every later lock costs a TLS read. A `pthread_atfork` child handler clears the forking
//! thread's cache, because the child of `fork` runs under a new TID (it is the only thread there, so
//! no other cache needs clearing).
//!
//! Every host constructor and `open` in this crate calls [`install_identity`]; code that uses
//! `ringfork_core` locks directly in a host program should call it once at start-up (it is cheap and
//! idempotent). A child created by a raw `clone`/`fork` system call that bypasses libc's `fork` does
//! not run the atfork handler and would keep its parent's identity: create processes through libc.

use ringfork_core::sync::identity::{set_identity_source, ThreadIdentity};
use std::cell::Cell;
use std::sync::Once;

thread_local! {
    static ME: Cell<Option<ThreadIdentity>> = const { Cell::new(None) };
}

fn lookup() -> ThreadIdentity {
    let tid = ringfork_core::os::gettid();
    let start_time = ringfork_core::os::stat(tid).map(|s| s.start_time).unwrap_or(0);
    ThreadIdentity { tid, start_time }
}

fn current() -> ThreadIdentity {
    // `try_with` fails only during thread-local destruction at thread exit: ask the kernel then.
    ME.try_with(|c| match c.get() {
        Some(me) => me,
        None => {
            let me = lookup();
            c.set(Some(me));
            me
        }
    })
    .unwrap_or_else(|_| lookup())
}

extern "C" fn after_fork_in_child() {
    // A const-initialized Cell of a Copy type: no lazy init, no destructor registration, so this is a
    // plain store to this thread's TLS block (fine inside an atfork handler).
    let _ = ME.try_with(|c| c.set(None));
}

/// Installs the cached identity hook (once per process; later calls return at once).
pub fn install_identity() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a handler that only clears a thread-local Cell; passing None for the
        // prepare/parent handlers is allowed.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        if rc == 0 {
            set_identity_source(current);
        }
        // If registration failed (ENOMEM), keep core's uncached fallback: slower, never wrong.
    });
}
