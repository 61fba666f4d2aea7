//! Per-process registration of a handle in a ring's peer tables, re-done after `fork`.

use ringfork_core::queue::peers::{PeerId, PeerTable};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Once;

/// Bumped in every forked child (a `pthread_atfork` child handler), so a handle copied into a child
/// knows its registration belongs to the parent.
static FORK_GEN: AtomicU32 = AtomicU32::new(1);
static ATFORK: Once = Once::new();

extern "C" fn after_fork_in_child() {
    // Ordering: Relaxed; the child is single-threaded right after fork.
    FORK_GEN.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation (installs the `pthread_atfork` hook on first use).
pub(crate) fn fork_generation() -> u32 {
    ATFORK.call_once(|| {
        // SAFETY: registering a child handler that only does an atomic add (async-signal-safe).
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    // Ordering: Relaxed; only this process writes it, and only in the child handler.
    FORK_GEN.load(Ordering::Relaxed)
}

const NONE: u32 = u32::MAX;

/// A registration cache: `(fork generation << 32) | entry index` (index `NONE` = could not register).
/// Shared by the clones of a handle within one process (it sits behind an `Arc`).
#[derive(Debug, Default)]
pub(crate) struct Registration(AtomicU64);

impl Registration {
    /// This process's entry in `table`, registering on first use in this process.
    #[inline]
    pub(crate) fn get(&self, table: &PeerTable) -> Option<PeerId> {
        let gen = fork_generation();
        // Ordering: Acquire pairs with the Release store in `register`: a thread that finds another
        // thread's registration here also sees that registration's writes to the entry (its
        // generation goes into the tags this thread stamps). A race just registers twice.
        let v = self.0.load(Ordering::Acquire);
        if (v >> 32) as u32 == gen {
            let idx = v as u32;
            return (idx != NONE).then(|| table_id(table, idx)).flatten();
        }
        self.register(table, gen)
    }

    #[cold]
    fn register(&self, table: &PeerTable, gen: u32) -> Option<PeerId> {
        let id = ringfork_core::queue::peers::current_stamp().and_then(|(pid, st)| table.register(pid, st));
        let idx = id.map_or(NONE, |i| i.index() as u32);
        // Ordering: Release; see `get`.
        self.0.store((u64::from(gen) << 32) | u64::from(idx), Ordering::Release);
        id
    }
}

fn table_id(table: &PeerTable, idx: u32) -> Option<PeerId> {
    table.id(idx as usize)
}
