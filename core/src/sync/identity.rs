//! Who the calling thread is, for lock owner words: its TID and (when known) its start time.
//!
//! A robust lock records its owner as a TID in the lock word plus a [`ThreadIdentity`] stamp (TID and
//! start time) in a separate word, so a waiter can tell a dead owner from a live one even after the
//! kernel has reused the TID (see [`crate::os`]).
//!
//! Finding out who we are must be cheap: it is on every lock's fast path. `core` has no thread-local
//! storage, so the fast source is a *hook*: the host crate (`ringfork`) installs a function backed by a
//! `thread_local!` cache (reset in the child after `fork`, whose TID differs) with
//! [`set_identity_source`]. Without a hook, [`current`] asks the kernel for the TID on every call (one
//! `gettid` system call) and reports the start time as unknown (0); waiters then probe a stalled
//! owner by TID existence only, which cannot detect a dead owner whose TID was already reused.
//! Without the `futex` feature there is no OS to ask: install a hook (e.g. a CPU or task number).

use crate::atomic::Ordering;
use core::sync::atomic::AtomicPtr;

/// The calling thread as a lock owner: TID and start time (0 = unknown).
///
// The example needs the `futex` feature (the default): per-thread owner identities and owner liveness probes.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::sync::identity::{self, ThreadIdentity};
/// let me = identity::current(); // what a lock records as its owner
/// assert_ne!(me.tid, 0);
/// assert_eq!(ThreadIdentity::unpack(me.pack()), me); // the owner-stamp word format
/// let other = std::thread::spawn(identity::current).join().unwrap();
/// assert_ne!(other.tid, me.tid);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThreadIdentity {
    /// Kernel thread id (non-zero, below 2^22 on Linux).
    pub tid: u32,
    /// Start time in clock ticks since boot (`/proc/<tid>/stat` field 22), or 0 if unknown.
    pub start_time: u64,
}

/// Bits of a TID kept in an owner stamp. Linux's `PID_MAX_LIMIT` is 2^22, so every real TID fits.
pub const STAMP_TID_BITS: u32 = 22;
const STAMP_TID_MASK: u64 = (1 << STAMP_TID_BITS) - 1;

impl ThreadIdentity {
    /// Packs the identity into one `u64` (`start_time << 22 | tid`), the format of owner-stamp words.
    /// Start times beyond 2^42 ticks (1.4 billion years at 100 Hz) are truncated.
    pub const fn pack(self) -> u64 {
        (self.start_time << STAMP_TID_BITS) | (self.tid as u64 & STAMP_TID_MASK)
    }

    /// Unpacks a stamp written by [`ThreadIdentity::pack`] (any `u64` is accepted).
    pub const fn unpack(stamp: u64) -> ThreadIdentity {
        ThreadIdentity {
            tid: (stamp & STAMP_TID_MASK) as u32,
            start_time: stamp >> STAMP_TID_BITS,
        }
    }
}

/// The installed identity source (a `fn() -> ThreadIdentity`), or null.
///
/// A process-local static: each process (and each forked child, with its copy) has its own.
static SOURCE: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the function [`current`] calls. It must return the calling thread's TID (as the kernel
/// numbers it, so that other processes can probe it) and its start time or 0, and must be correct in
/// a child after `fork` (the child's TID differs from its parent's).
///
/// Returning a wrong identity cannot cause memory unsafety, but it breaks mutual exclusion and owner
/// checks for every lock the process uses.
pub fn set_identity_source(f: fn() -> ThreadIdentity) {
    // Ordering: Release pairs with the Acquire load in `current`, so a thread that sees the pointer
    // sees whatever the hook's code depends on that the installer initialized first.
    SOURCE.store(f as *mut (), Ordering::Release);
}

/// Whether a hook is installed.
pub fn has_identity_source() -> bool {
    // Ordering: Acquire, as in `current`.
    !SOURCE.load(Ordering::Acquire).is_null()
}

/// The calling thread's identity (see the module docs).
#[inline]
pub fn current() -> ThreadIdentity {
    #[cfg(loom)]
    {
        model::current()
    }
    #[cfg(not(loom))]
    {
        // Ordering: Acquire pairs with the Release store in `set_identity_source`.
        let p = SOURCE.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: the only non-null value ever stored in SOURCE is a `fn() -> ThreadIdentity`
            // cast to a data pointer (in `set_identity_source`); fn pointers and data pointers have
            // the same size on every target Rust supports for this crate.
            let f = unsafe { core::mem::transmute::<*mut (), fn() -> ThreadIdentity>(p) };
            return f();
        }
        fallback()
    }
}

#[cfg(all(not(loom), feature = "futex"))]
fn fallback() -> ThreadIdentity {
    ThreadIdentity {
        tid: crate::os::gettid(),
        start_time: 0,
    }
}

#[cfg(all(not(loom), not(feature = "futex"), not(test)))]
fn fallback() -> ThreadIdentity {
    // No OS and no hook: every caller is "thread 1". Locks still exclude *other* owners that installed
    // hooks, but cannot tell callers without one apart; documented in the module docs.
    ThreadIdentity { tid: 1, start_time: 0 }
}

/// Unit tests without the `futex` feature: the identity hook an embedded user installs, played by
/// `std` (a distinct number per test thread).
#[cfg(all(not(loom), not(feature = "futex"), test))]
fn fallback() -> ThreadIdentity {
    static NEXT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);
    std::thread_local! {
        // Ordering: Relaxed; only uniqueness matters.
        static TID: u32 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ThreadIdentity {
        tid: TID.with(|t| *t),
        start_time: 0,
    }
}

/// Whether the thread that wrote `stamp` (and whose TID is `tid` in a lock word) may still be alive.
///
/// `true` when it is alive or when we cannot tell (no liveness source, `/proc` unreadable): a lock is
/// only ever taken over from an owner positively known to be dead.
pub fn owner_may_be_alive(tid: u32, stamp: u64) -> bool {
    #[cfg(loom)]
    {
        let _ = stamp;
        !model::is_dead(tid)
    }
    #[cfg(all(not(loom), feature = "futex"))]
    {
        use crate::os::{pid_exists, probe, Liveness, ProcessStamp};
        let s = ThreadIdentity::unpack(stamp);
        // Trust the start time only if the stamp belongs to this TID: the owner writes its stamp just
        // *after* winning the lock word, so a stamp naming another TID is its predecessor's.
        let live = if s.tid == tid & STAMP_TID_MASK as u32 && s.start_time != 0 {
            probe(ProcessStamp {
                pid: tid,
                start_time: s.start_time,
            })
        } else {
            pid_exists(tid)
        };
        live != Liveness::Dead
    }
    #[cfg(all(not(loom), not(feature = "futex")))]
    {
        let _ = (tid, stamp);
        true
    }
}

/// Model-checking stand-ins: loom threads get small TIDs, and a model "kills" a thread by marking it
/// dead (it then returns without unlocking).
#[cfg(loom)]
pub mod model {
    use super::ThreadIdentity;
    extern crate std;
    use std::sync::Mutex;
    use std::vec::Vec;

    static DEAD: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    static NEXT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);

    loom::thread_local! {
        static TID: u32 = NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed) % 0x3f_ffff + 1;
    }

    /// The model thread's identity.
    pub fn current() -> ThreadIdentity {
        ThreadIdentity {
            tid: TID.with(|t| *t),
            start_time: 1,
        }
    }

    /// Marks the calling model thread dead.
    pub fn die() {
        let t = current().tid;
        DEAD.lock().unwrap().push(t);
    }

    /// Whether `tid` was marked dead.
    pub fn is_dead(tid: u32) -> bool {
        DEAD.lock().unwrap().contains(&tid)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip_and_masking() {
        let i = ThreadIdentity {
            tid: 123_456,
            start_time: 987_654_321,
        };
        assert_eq!(ThreadIdentity::unpack(i.pack()), i);
        assert_eq!(ThreadIdentity::unpack(u64::MAX).tid, (1 << 22) - 1);
    }

    #[cfg(feature = "futex")]
    #[test]
    fn self_is_alive_and_bogus_tid_is_dead() {
        let me = crate::os::ProcessStamp::current_thread().unwrap();
        let id = ThreadIdentity {
            tid: me.pid,
            start_time: me.start_time,
        };
        assert!(owner_may_be_alive(me.pid, id.pack()));
        // Same TID, another start time: a reused TID, so the stamped owner is dead.
        let other = ThreadIdentity {
            tid: me.pid,
            start_time: me.start_time + 7,
        };
        assert!(!owner_may_be_alive(me.pid, other.pack()));
        // Unknown start time: TID existence decides.
        assert!(owner_may_be_alive(me.pid, 0));
        assert!(!owner_may_be_alive(0x3f_fff0, 0));
    }
}
