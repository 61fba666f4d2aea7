//! [`PeerTable`]: the processes that *hold* one side of a ring (producers or consumers), with the
//! stamps that let a survivor tell whether they are still alive.
//!
//! # Who is a peer
//! A peer is a process that holds the side, not one that has used it: the host layer registers a
//! process when it creates or attaches a handle, registers a forked or spawned child (the parent
//! knows its pid) before the child can run user code, and unregisters the process when its last
//! handle on the ring is dropped. A process holds **one** entry per table (per mapping of the ring),
//! however many handles it has: [`PeerTable::register`] first looks for an entry already holding the
//! caller's `(pid, start_time)` and returns it, and the host keeps a per-process reference count.
//!
//! A process registers itself by claiming a free entry with a CAS on `pid`, bumping the entry's
//! generation, then writing its start time. A process found dead may have its entry taken over by a
//! new registrant, which first locks it by swinging the dead owner's start time to 0 with a CAS, then
//! writes its pid, bumps the generation and writes its start time. An MPMC participant stamps the
//! slots it claims with its [`PeerTable::tag`] (entry index and generation); a survivor asks
//! [`PeerTable::tag_gone`] whether the process behind a tag can still act (see
//! [`crate::queue::mpmc`]).
//!
//! # What [`PeerTable::side_state`] answers
//! "Can any process *other than the caller* still act on this side?" — [`SideState::AllDead`] when
//! every holder other than the caller is dead or gone, *and* some process other than the caller
//! has held the side (`first`, `shared`; a ring only the caller ever held reports
//! [`SideState::Unknown`], so a single-process program blocks and times out as Python's would),
//! *and* the caller itself cannot act on it (it holds no entry, or it is single-threaded: a blocked
//! thread cannot put while it waits, another thread could). Holders that found the table full are counted in `overflow`
//! (while they hold the side); while it is non-zero the answer is [`SideState::Unknown`].
//!
//! # Layout of one entry (64 bytes, align 64)
//! In parentheses: where layouts use 32-bit words ([`crate::atomic::Word`]; there are no processes to
//! tell apart on those targets, and tables have 4 entries).
//! | offset | size | field        | written by                                      |
//! |-------:|-----:|--------------|-------------------------------------------------|
//! | 0      | 4    | `pid`        | registrant (CAS 0 -> pid; after a takeover lock) |
//! | 4      | 4    | `gen`        | registrant (+1 after the pid CAS)               |
//! | 8      | 8 (4)| `start_time` | registrant (last; 0 = being written), taker (CAS dead -> 0) |
//! | 16 (12)| 4    | `pending`    | the owner (JoinableQueue: items taken, `task_done` not yet called); a survivor that reclaims a dead owner's count (swap -> 0) |
//! | 20 (16)| 44 (48) | padding   | nobody                                          |
//!
//! # Layout of a table (`64 + 64 * PEERS` bytes, align 64)
//! | offset | size       | field      | written by                                         |
//! |-------:|-----------:|------------|----------------------------------------------------|
//! | 0      | 4          | `overflow` | holders without an entry (+1 when the table is full, -1 when they release) |
//! | 4      | 4          | `shared`   | registrants (sticky 1: a process other than `first` registered) |
//! | 8      | 4          | `first`    | the first registrant (CAS 0 -> its pid)            |
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
///
/// Entries are reached through a ring's tables and named by [`PeerId`]s:
/// ```
/// use ringfork_core::queue::peers::{Peer, PeerTable, PEERS};
/// use ringfork_core::queue::spsc::Spsc;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
/// let consumers = &ring.ctrl().consumers;
/// let id = consumers.register(1234, 5).unwrap(); // pid 1234, start time 5
/// consumers.add_pending(id, 1); // took an item, owes a `task_done`
/// assert!(consumers.take_pending(id) && !consumers.take_pending(id));
/// assert_eq!(core::mem::size_of::<Peer>(), 64); // one entry per cache line
/// assert_eq!(core::mem::size_of::<PeerTable>(), 64 + 64 * PEERS);
/// ```
#[repr(C, align(64))]
pub struct Peer {
    pid: AtomicU32,
    gen: AtomicU32,
    pub(crate) start_time: AtomicWord,
    pending: AtomicU32,
}

/// The participants on one side of a ring. See the module docs for the layout.
///
// The example needs the `futex` feature (the default): `register_current` and liveness probes of peers.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::queue::{peers::SideState, spsc::Spsc};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
/// let producers = &ring.ctrl().producers;
/// let me = producers.register_current().unwrap(); // before the first push
/// assert_eq!(producers.register_current(), Some(me)); // one entry per process
/// assert_eq!(producers.side_state(), SideState::Unknown); // nobody else ever held it
/// assert_eq!(producers.unregister(me), 0); // no `task_done`s owed
/// ```
#[repr(C, align(64))]
pub struct PeerTable {
    overflow: AtomicU32,
    shared: AtomicU32,
    first: AtomicU32,
    entries: [Peer; PEERS],
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<Peer>() == 64);
    assert!(core::mem::offset_of!(Peer, start_time) == 8);
    assert!(core::mem::offset_of!(Peer, gen) == 4);
    assert!(core::mem::offset_of!(Peer, pending) == 8 + core::mem::size_of::<AtomicWord>());
    assert!(core::mem::offset_of!(PeerTable, shared) == 4);
    assert!(core::mem::offset_of!(PeerTable, first) == 8);
    assert!(core::mem::offset_of!(PeerTable, entries) == 64);
    assert!(core::mem::size_of::<PeerTable>() == 64 + 64 * PEERS);
};

/// What the table says about one side.
///
// The example needs the `futex` feature (the default): `register_current` and liveness probes of peers.
#[cfg_attr(feature = "futex", doc = "```")]
#[cfg_attr(not(feature = "futex"), doc = "```ignore")]
/// use ringfork_core::queue::{peers::SideState, spsc::Spsc};
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
/// let producers = &ring.ctrl().producers;
/// producers.register(0x7fff_fff0, 1).unwrap(); // a pid no process has
/// assert_eq!(producers.side_state_for(0), SideState::AllDead); // nobody can put any more
/// producers.register_current().unwrap();
/// assert_eq!(producers.side_state_for(0), SideState::Alive);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideState {
    /// Only one process ever held this side, or a holder has no entry (the table was full):
    /// liveness unknown.
    Unknown,
    /// A holder other than the caller may be alive (or the caller has other threads).
    Alive,
    /// Every holder other than the caller is dead or gone, and the caller cannot act either.
    AllDead,
}

/// A registration: the index of this process's entry in a [`PeerTable`].
///
/// ```
/// use ringfork_core::queue::spsc::Spsc;
/// use ringfork_core::{wait::DefaultWait, Region};
/// #[repr(C, align(128))]
/// struct Buf([u8; 8192]);
/// let mut buf = Buf([0; 8192]);
/// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
/// let producers = &ring.ctrl().producers;
/// let id = producers.register(1234, 5).unwrap();
/// assert_eq!(producers.find(1234, 5), Some(id));
/// assert_eq!(producers.id(id.index()), Some(id)); // an index stored in a cache names it again
/// assert_ne!(producers.tag(id), 0); // what an MPMC claim is stamped with
/// ```
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
            pending: AtomicU32::new(0),
        }
    }
}

impl PeerTable {
    /// A fresh table for loom models (real tables are zeroed shared memory set up by [`Self::init`]).
    #[cfg(loom)]
    pub fn new() -> Self {
        PeerTable {
            overflow: AtomicU32::new(0),
            shared: AtomicU32::new(0),
            first: AtomicU32::new(0),
            entries: core::array::from_fn(|_| Peer::new()),
        }
    }

    /// Prepares a table in freshly claimed (zeroed) memory.
    pub fn init(&self) {
        // Ordering (all Relaxed): published by the object header's Release store of READY.
        self.overflow.store(0, Ordering::Relaxed);
        self.shared.store(0, Ordering::Relaxed);
        self.first.store(0, Ordering::Relaxed);
        for e in &self.entries {
            e.pid.store(0, Ordering::Relaxed);
            e.gen.store(0, Ordering::Relaxed);
            e.start_time.store(0, Ordering::Relaxed);
            e.pending.store(0, Ordering::Relaxed);
        }
    }

    /// Registers the process `pid` with start time `start_time`, or finds the entry that already
    /// holds exactly that stamp (a process holds one entry per table); returns the entry, or `None`
    /// if all [`PEERS`] entries belong to live processes. On `None` the caller counts itself with
    /// [`Self::add_unregistered`] while it holds the side (the table then reports
    /// [`SideState::Unknown`], and claims by that process are not recoverable).
    pub fn register(&self, pid: u32, start_time: Word) -> Option<PeerId> {
        let start_time = start_time.max(1);
        // Ordering: Relaxed; `first`/`shared` are hints read by `side_state`, which a stale value
        // only delays by one probe interval (they are written before the entry, whose Release store
        // of the start time publishes them to a reader that sees the entry).
        match self
            .first
            .compare_exchange(0, pid, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => {}
            Err(first) if first != pid => self.shared.store(1, Ordering::Relaxed),
            Err(_) => {}
        }
        if let Some(id) = self.find(pid, start_time) {
            return Some(id);
        }
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
                    e.start_time.store(start_time, Ordering::Release);
                    return Some(PeerId(i as u32));
                }
            }
        }
        None
    }

    /// The entry that holds exactly the stamp `(pid, start_time)`, if any (a registration made for
    /// this process by its parent at fork or spawn, or by an earlier handle).
    pub fn find(&self, pid: u32, start_time: Word) -> Option<PeerId> {
        let start_time = start_time.max(1);
        self.entries
            .iter()
            .position(|e| {
                // Ordering: Acquire pairs with the registrant's Release store of the start time.
                e.start_time.load(Ordering::Acquire) == start_time && e.pid.load(Ordering::Acquire) == pid
            })
            .map(|i| PeerId(i as u32))
    }

    /// Counts a holder that got no entry ([`Self::register`] returned `None`); undo with
    /// [`Self::remove_unregistered`] when it releases the side or gets an entry later.
    pub fn add_unregistered(&self) {
        // Ordering: Relaxed; a count read as a hint by `side_state`.
        self.overflow.fetch_add(1, Ordering::Relaxed);
    }

    /// Undoes one [`Self::add_unregistered`] (never below 0).
    pub fn remove_unregistered(&self) {
        // Ordering: Relaxed, as above.
        let _ = self
            .overflow
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Registers the calling process (see [`Self::register`]); `None` if the OS cannot tell its
    /// identity or the table is full. A raw ring's users call this on the side they take, before their
    /// first operation, so that the other side learns of their death (the host queues and pipes do it
    /// for you).
    #[cfg(feature = "futex")]
    pub fn register_current(&self) -> Option<PeerId> {
        let id = current_stamp().and_then(|(pid, start_time)| self.register(pid, start_time));
        if id.is_none() {
            self.add_unregistered();
        }
        id
    }

    /// Removes a registration (an orderly goodbye: the process will not use this side again). Any
    /// `pending` count of the entry is returned (the caller still owes those `task_done`s; see
    /// [`Self::add_pending`]).
    pub fn unregister(&self, id: PeerId) -> u32 {
        if let Some(e) = self.entries.get(id.index()) {
            // Ordering: Relaxed; the owner's own counter, read back by the owner.
            let pending = e.pending.swap(0, Ordering::Relaxed);
            // Ordering: Relaxed, then Release on `pid`: a later registrant's Acquire CAS sees both.
            e.start_time.store(0, Ordering::Relaxed);
            e.pid.store(0, Ordering::Release);
            return pending;
        }
        0
    }

    /// [`Self::unregister`], unless the entry still owes `task_done`s (`pending` ≠ 0): such an
    /// entry stays until its process dies, so that a survivor can account for those tasks
    /// ([`Self::reclaim_pending`]). Returns whether it was unregistered.
    pub fn unregister_if_idle(&self, id: PeerId) -> bool {
        let idle = self.entries.get(id.index()).is_some_and(|e| {
            // Ordering: Relaxed; the owner's own counter.
            e.pending.load(Ordering::Relaxed) == 0
        });
        if idle {
            self.unregister(id);
        }
        idle
    }

    /// Adds `n` to the `pending` count of entry `id` (a JoinableQueue consumer: items taken whose
    /// `task_done` has not been called).
    pub fn add_pending(&self, id: PeerId, n: u32) {
        if let Some(e) = self.entries.get(id.index()) {
            // Ordering: Release pairs with the Acquire swap in `reclaim_pending`: a survivor that
            // takes the count over sees the take that caused it.
            e.pending.fetch_add(n, Ordering::Release);
        }
    }

    /// Takes one from the `pending` count of entry `id`; `false` if it was 0 (the `task_done` is
    /// for an item another process took).
    pub fn take_pending(&self, id: PeerId) -> bool {
        self.entries.get(id.index()).is_some_and(|e| {
            e.pending
                // Ordering: Relaxed; the owner's own counter (a survivor only swaps a dead owner's).
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }

    /// Takes over the `pending` counts of dead owners (each count is taken exactly once: a swap to
    /// 0); returns their sum. The entries stay registered (dead) until reused.
    pub fn reclaim_pending(&self) -> u32 {
        let mut total = 0u32;
        for e in &self.entries {
            // Ordering: Relaxed pre-check; the swap below is the real claim.
            if e.pending.load(Ordering::Relaxed) == 0 {
                continue;
            }
            // Ordering: Acquire pairs with the owner's registration (Release store of start_time).
            let pid = e.pid.load(Ordering::Acquire);
            // Ordering: Acquire, as above.
            let st = e.start_time.load(Ordering::Acquire);
            if pid == 0 || st == 0 || probe(pid, st) {
                continue;
            }
            // Ordering: Acquire pairs with the owner's Release `add_pending`.
            total = total.saturating_add(e.pending.swap(0, Ordering::Acquire));
        }
        total
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

    /// Whether a process other than the caller can still act on this side (see the module docs).
    pub fn side_state(&self) -> SideState {
        self.side_state_for(current_pid())
    }

    /// [`Self::side_state`] as seen by the process `me` (0: by a process that holds no entry).
    pub fn side_state_for(&self, me: u32) -> SideState {
        // Ordering: Relaxed hints; a stale answer only delays a Disconnected by one probe interval.
        if self.overflow.load(Ordering::Relaxed) != 0 {
            return SideState::Unknown;
        }
        // Ordering: Relaxed hints, as above.
        let first = self.first.load(Ordering::Relaxed);
        if first == 0 || (first == me && self.shared.load(Ordering::Relaxed) == 0) {
            // Nobody, or only the caller, ever held this side.
            return SideState::Unknown;
        }
        let mut mine = false;
        for e in &self.entries {
            // Ordering: Acquire pairs with the registrant's CAS.
            let pid = e.pid.load(Ordering::Acquire);
            if pid != 0 && Self::entry_alive(e) {
                if pid != me {
                    return SideState::Alive;
                }
                mine = true;
            }
        }
        if mine && other_threads() {
            // Another thread of the caller's process may act while this one waits.
            return SideState::Alive;
        }
        // Two processes have held this side, and every holder other than the caller is gone.
        SideState::AllDead
    }

    /// Whether a process other than the caller (`me`) may still act on this side, with liveness
    /// answered by `alive(pid, start_time)` (a caller probing many tables can cache the answers).
    /// Unlike [`Self::side_state_for`], the caller's own entry never counts, whatever threads it
    /// has: for an event loop, whose waits do not stop the other tasks of its thread (the host's
    /// `*_async` calls document that their process is not its own peer).
    ///
    /// ```
    /// use ringfork_core::queue::{peers::SideState, spsc::Spsc};
    /// use ringfork_core::{wait::DefaultWait, Region};
    /// #[repr(C, align(128))]
    /// struct Buf([u8; 8192]);
    /// let mut buf = Buf([0; 8192]);
    /// let ring = Spsc::<u32>::init::<DefaultWait>(Region::from_mut(&mut buf.0), 4).unwrap();
    /// let t = &ring.ctrl().producers;
    /// t.register(4242, 7).unwrap();
    /// t.register(4343, 8).unwrap();
    /// // 4242 asks: 4343 is alive, then dead.
    /// assert_eq!(t.others_state_with(4242, |_, _| true), SideState::Alive);
    /// assert_eq!(t.others_state_with(4242, |pid, _| pid == 4242), SideState::AllDead);
    /// ```
    pub fn others_state_with(&self, me: u32, mut alive: impl FnMut(u32, u64) -> bool) -> SideState {
        // Ordering: Relaxed hints; a stale answer only delays a Disconnected by one probe interval.
        if self.overflow.load(Ordering::Relaxed) != 0 {
            return SideState::Unknown;
        }
        // Ordering: Relaxed hints, as above.
        let first = self.first.load(Ordering::Relaxed);
        if first == 0 || (first == me && self.shared.load(Ordering::Relaxed) == 0) {
            return SideState::Unknown;
        }
        for e in &self.entries {
            // Ordering: Acquire pairs with the registrant's CAS / Release store.
            let pid = e.pid.load(Ordering::Acquire);
            if pid == 0 || pid == me {
                continue;
            }
            // Ordering: Acquire pairs with the Release store in `register`.
            let start = crate::atomic::widen(e.start_time.load(Ordering::Acquire));
            // 0: being written; ask about the pid alone (`alive` is given start 0).
            if alive(pid, start) {
                return SideState::Alive;
            }
        }
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

#[cfg(all(feature = "futex", not(loom)))]
fn current_pid() -> u32 {
    crate::os::getpid()
}

#[cfg(any(not(feature = "futex"), loom))]
fn current_pid() -> u32 {
    0
}

/// Whether the calling process has more than one thread (unknown counts as yes).
#[cfg(all(feature = "futex", not(loom)))]
fn other_threads() -> bool {
    crate::os::stat(crate::os::getpid()).map_or(true, |s| s.threads != 1)
}

#[cfg(any(not(feature = "futex"), loom))]
fn other_threads() -> bool {
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

#[cfg(all(test, not(loom), feature = "futex"))]
mod tests {
    use super::*;

    fn table() -> std::boxed::Box<PeerTable> {
        let layout = std::alloc::Layout::new::<PeerTable>();
        // SAFETY: a zeroed allocation of PeerTable's layout (non-zero size); PeerTable is all
        // atomics, for which zero bytes are a valid value; Box frees it with the same layout.
        let t: std::boxed::Box<PeerTable> = unsafe {
            let p = std::alloc::alloc_zeroed(layout) as *mut PeerTable;
            assert!(!p.is_null());
            std::boxed::Box::from_raw(p)
        };
        t.init();
        t
    }

    const DEAD: u32 = 0x7fff_fff0;

    #[test]
    fn one_entry_per_process_stamp() {
        let t = table();
        let me = current_stamp().unwrap();
        let a = t.register(me.0, me.1).unwrap();
        for _ in 0..100 {
            assert_eq!(t.register(me.0, me.1), Some(a), "the same stamp finds its entry");
        }
        assert_eq!(t.find(me.0, me.1), Some(a));
        assert_eq!(t.find(me.0, me.1 + 1), None);
        t.unregister(a);
        assert_eq!(t.find(me.0, me.1), None);
    }

    #[test]
    fn side_state_excludes_the_caller_and_needs_another_holder() {
        let t = table();
        let me = current_stamp().unwrap();
        assert_eq!(t.side_state(), SideState::Unknown, "nobody ever held it");
        t.register(me.0, me.1).unwrap();
        assert_eq!(t.side_state(), SideState::Unknown, "only the caller ever held it");
        let dead = t.register(DEAD, 1).unwrap();
        // The caller is single-threaded here only if the test harness runs one thread; either way
        // the dead holder is not a reason to wait.
        let own = t.side_state();
        assert!(own == SideState::AllDead || own == SideState::Alive);
        assert_eq!(
            t.side_state_for(12345),
            SideState::Alive,
            "another caller sees `me` alive"
        );
        t.unregister(dead);
        // Overflow: a holder without an entry makes liveness unknown until it releases.
        t.add_unregistered();
        assert_eq!(t.side_state_for(12345), SideState::Unknown);
        t.remove_unregistered();
        t.remove_unregistered(); // never below 0
        assert_eq!(t.side_state_for(12345), SideState::Alive);
    }

    #[test]
    fn a_dead_consumers_pending_tasks_are_reclaimed_once() {
        let t = table();
        let me = current_stamp().unwrap();
        let live = t.register(me.0, me.1).unwrap();
        let dead = t.register(DEAD, 1).unwrap();
        t.add_pending(live, 2);
        t.add_pending(dead, 3);
        assert!(t.take_pending(live));
        assert_eq!(t.reclaim_pending(), 3);
        assert_eq!(t.reclaim_pending(), 0, "taken exactly once");
        assert_eq!(t.unregister(live), 1);
        assert!(!t.take_pending(live));
    }
}
