//! [`PeerTable`]: the processes taking part on one side of a ring (producers or consumers), with the
//! stamps that let a survivor tell whether they are still alive.
//!
//! A process registers itself (lazily, on its first operation) by claiming a free entry with a CAS on
//! `pid`, bumping the entry's generation, then writing its start time. A process found dead may have
//! its entry taken over by a new registrant, which first locks it by swinging the dead owner's start
//! time to 0 with a CAS, then writes its pid, bumps the generation and writes its start time. An MPMC participant
//! stamps the slots it claims with its [`PeerTable::tag`] (entry index and generation); a survivor
//! asks [`PeerTable::tag_gone`] whether the process behind a tag can still act (see
//! [`crate::queue::mpmc`]).
//!
//! # Layout of one entry (64 bytes, align 64)
//! In parentheses: where layouts use 32-bit words ([`crate::atomic::Word`]; there are no processes to
//! tell apart on those targets, and tables have 4 entries).
//! | offset | size | field        | written by                                      |
//! |-------:|-----:|--------------|-------------------------------------------------|
//! | 0      | 4    | `pid`        | registrant (CAS 0 -> pid; after a takeover lock) |
//! | 4      | 4    | `gen`        | registrant (+1 after the pid CAS)               |
//! | 8      | 8 (4)| `start_time` | registrant (last; 0 = being written), taker (CAS dead -> 0) |
//! | 16     | 48   | padding      | nobody                                          |
//!
//! # Layout of a table (`8 + 64 * PEERS` bytes rounded to 64, align 64)
//! | offset | size       | field      | written by                                         |
//! |-------:|-----------:|------------|----------------------------------------------------|
//! | 0      | 4          | `overflow` | a registrant that found no entry (sticky 1)         |
//! | 4      | 4          | `ever`     | registrants (sticky 1: someone registered once)     |
//! | 64     | 64 * PEERS | `entries`  | see above                                          |

use crate::atomic::{AtomicU32, AtomicWord, Ordering, Word};

/// Entries per table: at most this many processes per side are tracked at once (dead entries are
/// reused).
pub const PEERS: usize = if crate::atomic::WORDS32 { 4 } else { 32 };

/// Bits of a [`PeerTable::tag`]: 1 presence bit, 5 bits of entry index, 11 bits of generation.
pub const TAG_BITS: u32 = 17;
/// Generation bits kept in a tag.
const TAG_GEN_BITS: u32 = 11;

const _: () = assert!(PEERS <= 32, "a tag holds a 5-bit entry index");

/// One participant. See the module docs for the layout.
#[repr(C, align(64))]
pub struct Peer {
    pid: AtomicU32,
    gen: AtomicU32,
    pub(crate) start_time: AtomicWord,
}

/// The participants on one side of a ring. See the module docs for the layout.
#[repr(C, align(64))]
pub struct PeerTable {
    overflow: AtomicU32,
    ever: AtomicU32,
    entries: [Peer; PEERS],
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<Peer>() == 64);
    assert!(core::mem::offset_of!(Peer, start_time) == 8);
    assert!(core::mem::offset_of!(Peer, gen) == 4);
    assert!(core::mem::offset_of!(PeerTable, entries) == 64);
    assert!(core::mem::size_of::<PeerTable>() == 64 + 64 * PEERS);
};

/// What the table says about one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideState {
    /// Nobody has registered yet (or the table overflowed once): liveness unknown.
    Unknown,
    /// At least one registered participant may be alive.
    Alive,
    /// Participants registered, and every one of them is dead.
    AllDead,
}

/// A registration: the index of this process's entry in a [`PeerTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerId(pub(crate) u32);

impl PeerTable {
    /// The id of entry `index`, if it exists (for caches that stored the index).
    pub fn id(&self, index: usize) -> Option<PeerId> {
        (index < PEERS).then_some(PeerId(index as u32))
    }
}

impl PeerId {
    /// The entry index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl core::fmt::Debug for Peer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Ordering: Relaxed, display only.
        f.debug_struct("Peer")
            .field("pid", &self.pid.load(Ordering::Relaxed))
            .field("gen", &self.gen.load(Ordering::Relaxed))
            .finish()
    }
}

impl Peer {
    #[cfg(loom)]
    fn new() -> Self {
        Peer {
            pid: AtomicU32::new(0),
            gen: AtomicU32::new(0),
            start_time: AtomicWord::new(0),
        }
    }
}

impl PeerTable {
    /// A fresh table for loom models (real tables are zeroed shared memory set up by [`Self::init`]).
    #[cfg(loom)]
    pub fn new() -> Self {
        PeerTable {
            overflow: AtomicU32::new(0),
            ever: AtomicU32::new(0),
            entries: core::array::from_fn(|_| Peer::new()),
        }
    }

    /// Prepares a table in freshly claimed (zeroed) memory.
    pub fn init(&self) {
        // Ordering (all Relaxed): published by the object header's Release store of READY.
        self.overflow.store(0, Ordering::Relaxed);
        self.ever.store(0, Ordering::Relaxed);
        for e in &self.entries {
            e.pid.store(0, Ordering::Relaxed);
            e.gen.store(0, Ordering::Relaxed);
            e.start_time.store(0, Ordering::Relaxed);
        }
    }

    /// Registers the process `pid` with start time `start_time`; returns its entry, or `None` if all
    /// [`PEERS`] entries belong to live processes (the table then reports [`SideState::Unknown`]
    /// forever, and claims by this process are not recoverable).
    pub fn register(&self, pid: u32, start_time: Word) -> Option<PeerId> {
        // Ordering: Relaxed; `ever` is a hint read by `side_state` after it reads the entries.
        self.ever.store(1, Ordering::Relaxed);
        for pass in 0..2 {
            for (i, e) in self.entries.iter().enumerate() {
                let won = if pass == 0 {
                    // A free entry (its start time is 0): the pid CAS decides.
                    // Ordering: AcqRel: Acquire orders our writes after the previous owner's;
                    // Release is irrelevant (start_time is published by its own Release store).
                    e.pid
                        .compare_exchange(0, pid, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                } else {
                    // A dead entry may be reused at once: the generation bump below tells survivors
                    // that slots still tagged with the old generation belong to a process that is
                    // gone. Lock it first by swinging the dead owner's start time to 0 ("being
                    // written", which reads as alive): exactly one registrant wins that CAS, and no
                    // one can mistake a half-written entry for a dead one and take it twice.
                    // Ordering: Acquire pairs with the owner's Release store of its start time (its gen
                    // and pid were written before it).
                    let g = e.gen.load(Ordering::Acquire);
                    // Ordering: Acquire, as above.
                    let st = e.start_time.load(Ordering::Acquire);
                    // Ordering: Acquire, as above.
                    let cur = e.pid.load(Ordering::Acquire);
                    cur != 0
                        && st != 0
                        && !probe(cur, st)
                        && e.start_time
                            // Ordering: AcqRel: Acquire orders our writes and the re-check below after
                            // the store we read from.
                            .compare_exchange(st, 0, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                        && Self::still_theirs(e, g, cur, st)
                };
                if won {
                    // Ordering: Relaxed; published by the Release store of start_time below.
                    e.pid.store(pid, Ordering::Relaxed);
                    // Ordering: Relaxed, as above. Until that store, `entry_alive` reads the entry
                    // as alive (start time 0), so survivors wait rather than act (safe).
                    e.gen.fetch_add(1, Ordering::Relaxed);
                    // Ordering: Release pairs with the Acquire load in `entry_alive`.
                    e.start_time.store(start_time.max(1), Ordering::Release);
                    return Some(PeerId(i as u32));
                }
            }
        }
        // Ordering: Relaxed; a sticky hint.
        self.overflow.store(1, Ordering::Relaxed);
        None
    }

    /// Registers the calling process (see [`Self::register`]); `None` if the OS cannot tell its
    /// identity or the table is full. A raw ring's users call this on the side they take, before their
    /// first operation, so that the other side learns of their death (the host queues and pipes do it
    /// for you).
    #[cfg(feature = "futex")]
    pub fn register_current(&self) -> Option<PeerId> {
        current_stamp().and_then(|(pid, start_time)| self.register(pid, start_time))
    }

    /// Removes a registration (an orderly goodbye: the process will not use this side again).
    pub fn unregister(&self, id: PeerId) {
        if let Some(e) = self.entries.get(id.index()) {
            // Ordering: Relaxed, then Release on `pid`: a later registrant's Acquire CAS sees both.
            e.start_time.store(0, Ordering::Relaxed);
            e.pid.store(0, Ordering::Release);
        }
    }

    /// After locking entry `e` (start time CAS to 0): whether it still holds the dead owner we
    /// judged (generation `g`, pid `cur`). Another registrant may have taken it over between our
    /// reads and the CAS and written an equal start time (clock ticks: processes forked together
    /// share one); its registration bumped `gen`, and our CAS read from its Release store, so this
    /// sees it, and gives the entry back (restores `st`).
    pub(crate) fn still_theirs(e: &Peer, g: u32, cur: u32, st: Word) -> bool {
        // Ordering: Acquire, ordered after the locking CAS (AcqRel).
        let same = e.gen.load(Ordering::Acquire) == g && e.pid.load(Ordering::Acquire) == cur;
        if !same {
            // Ordering: Release, as a registration's final store.
            e.start_time.store(st, Ordering::Release);
        }
        same
    }

    /// The tag entry `id` stamps on the slots it claims: never 0, [`TAG_BITS`] wide (presence bit,
    /// entry index, low bits of the entry's generation). Read by the owner, whose own entry's
    /// generation cannot change while it is alive and registered.
    #[inline(always)]
    pub fn tag(&self, id: PeerId) -> u32 {
        let index = id.index().min(PEERS - 1) as u32;
        let gen = self.entries.get(id.index()).map_or(0, |e| {
            // Ordering: Relaxed; our own entry, written by our own registration.
            e.gen.load(Ordering::Relaxed)
        });
        1 | index << 1 | (gen & ((1 << TAG_GEN_BITS) - 1)) << 6
    }

    /// Whether the process behind `tag` can no longer act on this ring: its entry was re-registered
    /// since (generation changed), unregistered, or belongs to a dead process. `tag == 0`
    /// (unregistered claimant) is never gone. May answer "not gone" for a gone owner while a
    /// registration is in progress (the caller retries later); never "gone" for a live owner.
    pub fn tag_gone(&self, tag: u32) -> bool {
        if tag & 1 == 0 {
            return false;
        }
        let Some(e) = self.entries.get(((tag >> 1) & 31) as usize) else {
            return false;
        };
        // Ordering: Acquire. The caller read the tagged slot word with Acquire, and the owner
        // registered before its tagging CAS, so these loads see that registration or a newer one: a
        // live owner always shows its own generation and pid here.
        let gen = e.gen.load(Ordering::Acquire);
        if gen & ((1 << TAG_GEN_BITS) - 1) != tag >> 6 {
            return true;
        }
        // Ordering: Acquire pairs with the registrant's CAS and `unregister`'s Release store.
        e.pid.load(Ordering::Acquire) == 0 || !Self::entry_alive(e)
    }

    /// The entries, for unit tests that play a registrant caught mid-takeover.
    #[cfg(all(test, not(loom), feature = "futex"))]
    pub(crate) fn entries_for_test(&self) -> &[Peer; PEERS] {
        &self.entries
    }

    /// Liveness of this side as a whole.
    pub fn side_state(&self) -> SideState {
        // Ordering: Relaxed hints; a stale answer only delays a Disconnected by one probe interval.
        if self.overflow.load(Ordering::Relaxed) != 0 || self.ever.load(Ordering::Relaxed) == 0 {
            return SideState::Unknown;
        }
        for e in &self.entries {
            // Ordering: Acquire pairs with the registrant's CAS.
            if e.pid.load(Ordering::Acquire) != 0 && Self::entry_alive(e) {
                return SideState::Alive;
            }
        }
        // Someone registered once, and every entry is now dead or unregistered (an orderly goodbye):
        // nobody on this side can act any more.
        SideState::AllDead
    }

    /// Whether the process in entry `e` may be alive (unknown counts as alive).
    fn entry_alive(e: &Peer) -> bool {
        // Ordering: Acquire pairs with the Release store in `register`.
        let pid = e.pid.load(Ordering::Acquire);
        let start = e.start_time.load(Ordering::Acquire);
        if pid == 0 {
            return false;
        }
        if start == 0 {
            // Being written right now (a registration, or a takeover holding the lock): alive while
            // a process with that pid exists, so that a registrant killed mid-way does not make its
            // entry look alive forever (such an entry stays locked: never taken again, one lost).
            return probe_pid(pid);
        }
        probe(pid, start)
    }
}

#[cfg(all(feature = "futex", not(loom)))]
fn probe(pid: u32, start_time: Word) -> bool {
    crate::os::probe(crate::os::ProcessStamp { pid, start_time }) != crate::os::Liveness::Dead
}

#[cfg(all(feature = "futex", not(loom)))]
fn probe_pid(pid: u32) -> bool {
    crate::os::pid_exists(pid) != crate::os::Liveness::Dead
}

#[cfg(any(not(feature = "futex"), loom))]
fn probe_pid(_pid: u32) -> bool {
    true
}

#[cfg(any(not(feature = "futex"), loom))]
fn probe(_pid: u32, _start_time: Word) -> bool {
    // Without an OS there is no way to tell: everyone is presumed alive.
    true
}

/// The calling process's `(pid, start_time)` stamp, if the OS can tell.
#[cfg(feature = "futex")]
pub fn current_stamp() -> Option<(u32, u64)> {
    crate::os::ProcessStamp::current_process().map(|s| (s.pid, s.start_time))
}

impl core::fmt::Debug for PeerTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut l = f.debug_list();
        for e in &self.entries {
            // Ordering: Relaxed, display only.
            let pid = e.pid.load(Ordering::Relaxed);
            if pid != 0 {
                l.entry(&pid);
            }
        }
        l.finish()
    }
}
