//! Which ring sides this process *holds*, registered once per process in each side's
//! [`PeerTable`] and released with the last handle (see [`ringfork_core::queue::peers`]).
//!
//! Every queue or pipe handle holds a [`Hold`] per side it can act on. The first `Hold` of a process
//! on a table registers the process; further ones (clones, re-opens, other handle types on the same
//! ring) only count; the last one dropped unregisters it. So a process never holds more than one
//! entry per table, however many handles it opens and drops.
//!
//! # Fork and spawn
//! A forked child inherits every handle, so it holds what its parent held. The fork path
//! ([`crate::process::sys`]) locks this registry across `fork` ([`fork_guard`]); the parent then
//! registers the child's `(pid, start_time)` in every table it holds ([`HeldGuard::register_child`])
//! before it lets the child run on, and the child adopts those entries ([`HeldGuard::adopt`]): no
//! lock another thread could hold, no window in which a live child is not counted, and a child
//! killed before it ever ran is still a registered holder whose death the others see. A spawned
//! child is registered from the child side of the spawn, before `exec`, in the tables this process
//! holds inside the segments it passes ([`HeldGuard::tables_in`], [`register_in`]).

use ringfork_core::queue::peers::{current_stamp, PeerId, PeerTable};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

/// Bumped in every forked child (a `pthread_atfork` child handler), so a handle copied into a child
/// knows its cached entry belongs to the parent.
static FORK_GEN: AtomicU32 = AtomicU32::new(1);
static ATFORK: Once = Once::new();

extern "C" fn after_fork_in_child() {
    // Ordering: Relaxed; the child is single-threaded right after fork.
    FORK_GEN.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation (installs the `pthread_atfork` hook on first use).
#[inline]
pub(crate) fn fork_generation() -> u32 {
    ATFORK.call_once(|| {
        // SAFETY: registering a child handler that only does an atomic add (async-signal-safe).
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    // Ordering: Relaxed; only this process writes it, and only in the child handler.
    FORK_GEN.load(Ordering::Relaxed)
}

/// Whether the entries in `HELD` are this process's (not a bare-`fork` child's copy of its
/// parent's, before its first use of a handle).
fn adopted() -> bool {
    // Ordering: Relaxed; process-local.
    ADOPTED.load(Ordering::Relaxed) == fork_generation()
}

/// Entry index meaning "no entry" (the table was full: counted with `add_unregistered`).
const NONE: u32 = u32::MAX;

/// One table this process holds.
#[derive(Debug)]
struct Held {
    /// The table's address (in this process's mapping).
    table: usize,
    /// Live [`Hold`]s on it in this process.
    count: usize,
    /// This process's entry, or [`NONE`].
    idx: u32,
}

static HELD: Mutex<Vec<Held>> = Mutex::new(Vec::new());

/// The fork generation whose entries `HELD` holds: behind [`fork_generation`] in a child forked
/// with a bare `fork(2)` (not through [`crate::process`]), which then adopts lazily, on the first
/// use of a handle (see [`Hold::id`]).
static ADOPTED: AtomicU32 = AtomicU32::new(1);

fn held() -> MutexGuard<'static, Vec<Held>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// The table at `addr`.
///
/// # Safety
/// `addr` is the address of a `PeerTable` in a mapping that stays mapped while the returned
/// reference is used: a [`Held`] entry with `count > 0` (some live [`Hold`] keeps its segment).
unsafe fn table_at<'a>(addr: usize) -> &'a PeerTable {
    // SAFETY: forwarded to the caller; PeerTable is all atomics.
    unsafe { &*(addr as *const PeerTable) }
}

/// Registers the calling process in `table`; the entry index or [`NONE`] (then counted as an
/// unregistered holder).
fn register_self(table: &PeerTable) -> u32 {
    match current_stamp().and_then(|(pid, st)| table.register(pid, st)) {
        Some(id) => id.index() as u32,
        None => {
            table.add_unregistered();
            NONE
        }
    }
}

fn pack(gen: u32, idx: u32) -> u64 {
    (u64::from(gen) << 32) | u64::from(idx)
}

/// This process's hold on one side of a ring (see the module docs). Not `Clone`: a clone of a
/// handle takes its own `Hold` (or shares one behind an `Arc`).
#[derive(Debug)]
pub(crate) struct Hold {
    table: &'static PeerTable,
    /// `(fork generation << 32) | entry index`: this process's entry, cached.
    cache: AtomicU64,
}

impl Hold {
    /// Holds `table` for this process, registering it if this is its first hold.
    ///
    /// `table` must stay mapped while the `Hold` lives (the handle that owns the `Hold` keeps its
    /// segment and drops the `Hold` first).
    pub(crate) fn new(table: &'static PeerTable) -> Hold {
        let addr = table as *const PeerTable as usize;
        let gen = fork_generation();
        let mut h = held();
        let idx = match h.iter_mut().find(|e| e.table == addr) {
            Some(e) => {
                e.count += 1;
                if e.idx == NONE {
                    // Entries may have been freed since: try again.
                    if let Some(id) = current_stamp().and_then(|(pid, st)| table.register(pid, st)) {
                        table.remove_unregistered();
                        e.idx = id.index() as u32;
                    }
                }
                e.idx
            }
            None => {
                let idx = register_self(table);
                h.push(Held {
                    table: addr,
                    count: 1,
                    idx,
                });
                idx
            }
        };
        Hold {
            table,
            cache: AtomicU64::new(pack(gen, idx)),
        }
    }

    /// This process's entry in the table (`None`: the table was full when it registered).
    #[inline]
    pub(crate) fn id(&self) -> Option<PeerId> {
        let gen = fork_generation();
        // Ordering: Relaxed; the cache is written by this process only, and the entry it names was
        // registered (and published with Release) before the cache was filled.
        let v = self.cache.load(Ordering::Relaxed);
        let idx = if (v >> 32) as u32 == gen {
            v as u32
        } else {
            self.refresh(gen)
        };
        if idx == NONE {
            None
        } else {
            self.table.id(idx as usize)
        }
    }

    #[cold]
    fn refresh(&self, gen: u32) -> u32 {
        let addr = self.table as *const PeerTable as usize;
        let mut h = held();
        // Ordering: Relaxed; process-local, written under the HELD lock.
        if ADOPTED.load(Ordering::Relaxed) != gen {
            // A child forked behind the process layer's back: nobody registered it, so it
            // registers itself now, on first use (a holder killed before that goes unnoticed; fork
            // through `Process`/`sys::fork` to close that window).
            adopt(&mut h, current_stamp(), false);
        }
        let idx = h.iter().find(|e| e.table == addr).map_or(NONE, |e| e.idx);
        // Ordering: Relaxed; see `id`.
        self.cache.store(pack(gen, idx), Ordering::Relaxed);
        idx
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let addr = self.table as *const PeerTable as usize;
        let mut h = held();
        let Some(pos) = h.iter().position(|e| e.table == addr) else {
            return;
        };
        h[pos].count -= 1;
        if h[pos].count == 0 {
            let e = h.swap_remove(pos);
            if !adopted() {
                // A child forked behind our back that never used a handle: the entries are its
                // parent's, not to be released here.
                return;
            }
            match self.table.id(e.idx as usize) {
                Some(id) if e.idx != NONE => {
                    let _ = self.table.unregister_if_idle(id);
                }
                _ => self.table.remove_unregistered(),
            }
        }
    }
}

/// An orderly goodbye at process exit (a child of the process layer, or a spawned child):
/// unregisters this process from every table it holds, so that its entries are free for the next
/// child instead of waiting to be found dead (which costs a `/proc` read per entry). Entries that
/// still owe `task_done`s stay (see [`PeerTable::unregister_if_idle`]). Only `try_lock`s: a thread
/// of this process holding the registry just means the entries are found dead later.
pub(crate) fn release_for_exit() {
    let Ok(mut h) = HELD.try_lock() else { return };
    if !adopted() {
        return;
    }
    for e in h.drain(..) {
        // SAFETY: count > 0, so a Hold keeps the table mapped (none is dropped while we hold the
        // lock, and the process exits right after).
        let t = unsafe { table_at(e.table) };
        match t.id(e.idx as usize) {
            Some(id) if e.idx != NONE => {
                let _ = t.unregister_if_idle(id);
            }
            _ => t.remove_unregistered(),
        }
    }
}

/// The holder registry, locked across a `fork` by the forking thread (see the module docs).
pub(crate) struct HeldGuard(MutexGuard<'static, Vec<Held>>);

/// Locks the holder registry for a fork or spawn.
pub(crate) fn fork_guard() -> HeldGuard {
    HeldGuard(held())
}

impl HeldGuard {
    /// In the parent, right after `fork`: registers the child in every table this process holds.
    /// A table that is full is left to the child ([`Self::adopt`] counts it then).
    pub(crate) fn register_child(&self, child: (u32, u64)) {
        for e in self.0.iter() {
            // SAFETY: count > 0 (entries are removed at 0, under this lock), so a Hold keeps the
            // table mapped; the lock is held.
            let t = unsafe { table_at(e.table) };
            let _ = t.register(child.0, child.1);
        }
    }

    /// In the child, once the parent registered it (`registered`; false if the parent died
    /// first): takes over the entries the parent made for it, or registers itself. Lock-free on the
    /// shared tables; the registry itself is this guard's.
    pub(crate) fn adopt(&mut self, me: Option<(u32, u64)>, registered: bool) {
        adopt(&mut self.0, me, registered);
    }

    /// The tables this process holds inside `range` (a segment's mapping), for a spawn that passes
    /// that segment.
    pub(crate) fn tables_in(&self, range: &std::ops::Range<usize>) -> Vec<usize> {
        self.0
            .iter()
            .filter(|e| range.contains(&e.table))
            .map(|e| e.table)
            .collect()
    }
}

/// Takes over (or makes) the entries of the process `me` in every table of `held`, in a child after
/// a fork (see [`HeldGuard::adopt`]); marks the registry adopted for this fork generation.
fn adopt(held: &mut [Held], me: Option<(u32, u64)>, registered: bool) {
    for e in held.iter_mut() {
        // SAFETY: count > 0 (entries are removed at 0), so a Hold keeps the table mapped.
        let t = unsafe { table_at(e.table) };
        let found = me.and_then(|(pid, st)| {
            if registered {
                t.find(pid, st).or_else(|| t.register(pid, st))
            } else {
                t.register(pid, st)
            }
        });
        e.idx = match found {
            Some(id) => id.index() as u32,
            None => {
                t.add_unregistered();
                NONE
            }
        };
    }
    // Ordering: Relaxed; process-local, under the HELD lock.
    ADOPTED.store(fork_generation(), Ordering::Relaxed);
}

/// Registers `child` in the table at `addr`, from the child side of a spawn between `fork` and
/// `exec` (lock-free, allocation-free).
///
/// # Safety
/// `addr` came from [`HeldGuard::tables_in`] and the holds on it are still alive in the parent (so
/// the child's copy of the mapping is intact).
pub(crate) unsafe fn register_in(addr: usize, child: (u32, u64)) {
    // SAFETY: forwarded to the caller.
    let t = unsafe { table_at(addr) };
    let _ = t.register(child.0, child.1);
}
