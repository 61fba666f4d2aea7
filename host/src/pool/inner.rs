//! The parent's side of the pool: the shared layout, worker processes, the task table, dispatch,
//! collection, death handling. Everything here runs in the parent, under the pool's mutex.

use super::alloc::ArenaAlloc;
use super::shared::{
    owner_of, PoolCtl, QueueCtl, ResultSlot, Ring, TaskQueue, TaskSlot, WorkerCtl, RESULT_INLINE, S_CORRUPT, S_DECODE,
    S_ENCODE, S_OK, S_PANICKED, S_SPILL_FAILED, TASK_INLINE,
};
use super::spill::{Dir, Namer, Spill};
use super::task::{make_slot, split_area, Arena, ArgPlace, JobSpec, Key, Plan};
use super::{worker, PoolError};
use crate::child::{try_fork_partner, Partner, STATUS_UNKNOWN};
use crate::process::{sys::WaitStatus, Process, StartMethod};
use crate::Segment;
use ringfork_core::atomic::{fence, AtomicU64, Ordering};
use ringfork_core::header::{Header, ObjectParams, HEADER_SIZE};
use ringfork_core::wait::{DefaultWait, Futex, Wait};
use ringfork_core::{Deadline, Kind};
use std::collections::VecDeque;
use std::mem::size_of;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the parent parks before checking worker liveness again when no result arrives.
pub const PARK_SLICE: Duration = Duration::from_millis(10);
/// Yields the parent polls for results before parking.
const PARK_YIELDS: u32 = 64;
/// Consecutive worker deaths before any task ran that make the pool give up.
const MAX_START_FAILURES: u32 = 5;

/// Where everything is in the pool segment (computed once; identical in every worker by fork).
#[derive(Debug, Clone)]
pub struct Layout {
    base: *mut u8,
    /// Workers.
    pub workers: usize,
    /// Result ring slots per worker: `min(qcap, 4 × cap)`.
    pub rcap: u32,
    /// Slots of the shared task queue (power of two).
    pub qcap: u64,
    ctl_off: usize,
    queue_off: usize,
    workers_off: usize,
    states_off: usize,
    slots_off: usize,
    results_off: usize,
    arena_off: usize,
    /// Arena bytes.
    pub arena_len: usize,
    /// Total bytes.
    pub total: usize,
}

// SAFETY: the layout is addresses into a shared mapping that the pool keeps alive; all access goes
// through atomics or ring protocols.
unsafe impl Send for Layout {}

/// The largest shared task queue.
const MAX_QCAP: u64 = 1 << 16;

impl Layout {
    fn compute(workers: usize, cap: u32, arena_len: usize) -> Layout {
        let qcap = (u64::from(cap) * workers as u64).next_power_of_two().min(MAX_QCAP);
        let rcap = qcap.min(4 * u64::from(cap)) as u32;
        let ctl_off = HEADER_SIZE.next_multiple_of(128);
        let queue_off = ctl_off + size_of::<PoolCtl>();
        let workers_off = queue_off + size_of::<QueueCtl>();
        let states_off = (workers_off + workers * size_of::<WorkerCtl>()).next_multiple_of(128);
        let slots_off = (states_off + qcap as usize * 8).next_multiple_of(128);
        let results_off = slots_off + qcap as usize * size_of::<TaskSlot>();
        let ring = rcap as usize * size_of::<ResultSlot>();
        let arena_off = (results_off + workers * ring).next_multiple_of(4096);
        Layout {
            base: std::ptr::null_mut(),
            workers,
            rcap,
            qcap,
            ctl_off,
            queue_off,
            workers_off,
            states_off,
            slots_off,
            results_off,
            arena_off,
            arena_len,
            total: arena_off + arena_len,
        }
    }

    fn at<T>(&self, off: usize) -> *mut T {
        self.base.wrapping_add(off) as *mut T
    }

    /// Pool-wide words.
    pub fn pool_ctl(&self) -> &PoolCtl {
        // SAFETY: inside the mapping (layout computed for it), 128-aligned, all atomics.
        unsafe { &*self.at::<PoolCtl>(self.ctl_off) }
    }

    /// Worker `i`'s control block (`i < workers`).
    pub fn worker(&self, i: usize) -> &WorkerCtl {
        assert!(i < self.workers);
        // SAFETY: i is in range; inside the mapping; 128-aligned; all atomics.
        unsafe { &*self.at::<WorkerCtl>(self.workers_off + i * size_of::<WorkerCtl>()) }
    }

    /// The shared task queue.
    pub fn task_queue(&self) -> TaskQueue<'_> {
        // SAFETY: the control block, `qcap` states and `qcap` slots lie inside the mapping by
        // construction of the layout; the control block is 128-aligned and all atomics.
        unsafe {
            TaskQueue::new(
                &*self.at::<QueueCtl>(self.queue_off),
                self.at::<AtomicU64>(self.states_off),
                self.at::<TaskSlot>(self.slots_off),
                self.qcap,
            )
        }
    }

    /// Worker `i`'s result ring.
    pub fn result_ring(&self, i: usize) -> Ring<'_, ResultSlot> {
        let slots = self.at::<ResultSlot>(self.results_off + i * self.rcap as usize * size_of::<ResultSlot>());
        // SAFETY: `rcap` slots for worker i lie inside the mapping by construction of the layout.
        unsafe { Ring::new(&self.worker(i).results, slots, self.rcap) }
    }

    /// The arena's start.
    pub fn arena_ptr(&self) -> *mut u8 {
        self.at::<u8>(self.arena_off)
    }
}

/// A callback run in the parent with a job's single result (its encoded bytes) or its error.
pub type Callback = Box<dyn FnOnce(Result<&[u8], &PoolError>) + Send>;

/// A job's results as the parent keeps them: encoded, decoded when handed out (so `get` can be
/// asked again).
#[derive(Debug)]
pub enum Store {
    /// A fixed-size result type: `size` bytes per item, back to back.
    Fixed {
        /// Bytes per item.
        size: usize,
        /// Every item's bytes.
        bytes: Vec<u8>,
    },
    /// A variable-size result type: each item's record.
    Var(Vec<Vec<u8>>),
}

impl Store {
    fn new(res_fixed: Option<usize>, total: usize) -> Store {
        match res_fixed {
            Some(size) => Store::Fixed {
                size,
                bytes: vec![0; total * size],
            },
            None => Store::Var(vec![Vec::new(); total]),
        }
    }

    /// Item `i`'s encoded bytes.
    pub fn get(&self, i: usize) -> &[u8] {
        match self {
            Store::Fixed { size, bytes } => bytes.get(i * size..(i + 1) * size).unwrap_or(&[]),
            Store::Var(v) => v.get(i).map_or(&[][..], Vec::as_slice),
        }
    }

    /// Item `i`'s encoded bytes, moved out (for results handed out once).
    fn take(&mut self, i: usize) -> Vec<u8> {
        match self {
            Store::Fixed { .. } => self.get(i).to_vec(),
            Store::Var(v) => v.get_mut(i).map(std::mem::take).unwrap_or_default(),
        }
    }
}

/// How a job's results are consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// One item.
    Apply,
    /// Ordered results (map, imap, starmap).
    Map,
    /// Completion order (imap_unordered).
    Unordered,
}

struct Job {
    spec: JobSpec,
    total: usize,
    done: usize,
    results: Store,
    ready: Vec<bool>,
    /// Failed tasks as `(first item, items, error)`: errors are per task and rare, so a short list
    /// beats a per-item slot.
    failed: Vec<(usize, usize, PoolError)>,
    /// Item indices in completion order (kept for imap_unordered only).
    completed: VecDeque<usize>,
    callback: Option<Callback>,
    kind: JobKind,
}

impl Job {
    /// Where task `t`'s arguments and results go (recomputed when needed rather than stored per
    /// task: it depends only on the task's items and the arena).
    fn plan(&self, t: &Task, arena: usize) -> Plan {
        Plan::new(
            self.spec.args.bytes(t.first, t.count),
            t.count,
            self.spec.res_fixed,
            arena,
        )
    }

    fn error_of(&self, i: usize) -> Option<&PoolError> {
        self.failed
            .iter()
            .find(|(f, n, _)| (*f..*f + *n).contains(&i))
            .map(|(_, _, e)| e)
    }
}

struct Task {
    job: u64,
    first: usize,
    count: usize,
    block: Option<(usize, usize)>,
    /// Its argument spill segment (created at the first dispatch; removed when the task is done).
    /// Boxed, like everything rare here: the table holds one `Task` per chunk, and its size is
    /// memory traffic on the dispatch path.
    spill: Option<Box<Spill>>,
    /// The queue sequence number it was published under; `None` while it waits in `pending`.
    seq: Option<u64>,
}

/// A worker process: forked (a [`Partner`] reaped here), or spawned (a [`Process`] the process layer
/// reaps). Statuses are raw `wait` statuses either way.
enum Child {
    Forked(Partner),
    Spawned(Process),
}

impl Child {
    fn pid(&self) -> i32 {
        match self {
            Child::Forked(p) => p.pid(),
            Child::Spawned(p) => p.pid().map(|p| p as i32).unwrap_or(0),
        }
    }

    fn raw_status(p: &Process) -> i32 {
        match p.wait_status() {
            Some(WaitStatus::Exited(c)) => (c & 0xff) << 8,
            Some(WaitStatus::Signaled(s)) => s & 0x7f,
            _ => STATUS_UNKNOWN,
        }
    }

    fn try_wait(&self) -> Option<i32> {
        match self {
            Child::Forked(p) => p.try_wait(),
            Child::Spawned(p) => match p.join_timeout(Duration::ZERO) {
                Ok(true) => Some(Self::raw_status(p)),
                Ok(false) => None,
                Err(_) => Some(STATUS_UNKNOWN),
            },
        }
    }

    /// Whether a spawned worker exited without reaching the program's `spawn_main` call.
    fn not_dispatched(&self) -> bool {
        match self {
            Child::Forked(_) => false,
            Child::Spawned(p) => matches!(
                p.join_timeout(Duration::ZERO),
                Err(crate::process::ProcessError::SpawnNotDispatched { .. })
            ),
        }
    }

    fn signal(&self, sig: i32) {
        match self {
            Child::Forked(p) => p.signal(sig),
            Child::Spawned(p) => {
                let _ = if sig == libc::SIGKILL { p.kill() } else { p.terminate() };
            }
        }
    }

    fn wait_timeout(&self, d: Duration) -> Option<i32> {
        match self {
            Child::Forked(p) => p.wait_timeout(d),
            Child::Spawned(p) => match p.join_timeout(d) {
                Ok(true) => Some(Self::raw_status(p)),
                _ => {
                    let _ = p.kill();
                    let _ = p.join_timeout(Duration::from_secs(5));
                    None
                }
            },
        }
    }
}

/// Entries keyed by sequential ids (tasks, jobs): O(1) without hashing; freed entries at the front
/// are dropped, so memory follows the oldest live id.
struct Table<T> {
    base: u64,
    slots: VecDeque<Option<T>>,
    live: usize,
}

impl<T> Table<T> {
    fn new(first: u64) -> Self {
        Table {
            base: first,
            slots: VecDeque::new(),
            live: 0,
        }
    }

    /// Inserts under the next id (which the caller must use: `base + slots.len()`).
    fn push(&mut self, id: u64, v: T) {
        debug_assert_eq!(id, self.base + self.slots.len() as u64);
        self.slots.push_back(Some(v));
        self.live += 1;
    }

    fn index(&self, id: u64) -> Option<usize> {
        let i = usize::try_from(id.checked_sub(self.base)?).ok()?;
        (i < self.slots.len()).then_some(i)
    }

    fn get(&self, id: u64) -> Option<&T> {
        self.slots.get(self.index(id)?)?.as_ref()
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let i = self.index(id)?;
        self.slots.get_mut(i)?.as_mut()
    }

    fn remove(&mut self, id: u64) -> Option<T> {
        let i = self.index(id)?;
        let v = self.slots.get_mut(i)?.take();
        if v.is_some() {
            self.live -= 1;
        }
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.base += 1;
        }
        v
    }

    fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn ids(&self) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| self.base + i as u64)
            .collect()
    }
}

struct WorkerState {
    partner: Option<Child>,
    /// Our last view of the worker's result-ring tail (see `Ring::peek_cached`).
    tail_cache: u32,
}

impl WorkerState {
    fn new(partner: Option<Child>) -> Self {
        WorkerState { partner, tail_cache: 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Closed,
    Terminated,
}

/// The parent's pool state.
pub struct Inner {
    seg: Segment,
    lay: Layout,
    key: Key,
    namer: Namer,
    workers: Vec<WorkerState>,
    /// Tasks not yet published in the shared queue (it was full, or the arena was), in order.
    pending: VecDeque<u64>,
    /// The next queue sequence number to publish.
    ring_tail: u64,
    /// The task published in each queue slot (by slot index), for a dead worker's claimed slot.
    slot_task: Vec<u64>,
    tasks: Table<Task>,
    jobs: Table<Job>,
    next_task: u64,
    next_job: u64,
    alloc: ArenaAlloc,
    state: State,
    initializer: Option<Arc<dyn Fn() + Send + Sync>>,
    maxtasks: Option<u64>,
    start_method: StartMethod,
    started: u64,
    start_failures: u32,
    broken: Option<PoolError>,
    last_check: Instant,
}

// SAFETY: Inner is only used under the pool's Mutex; its raw pointers point into the segment it owns.
unsafe impl Send for Inner {}

fn os(op: &'static str, e: impl std::fmt::Display) -> PoolError {
    PoolError::Os {
        op,
        message: e.to_string(),
    }
}

impl Inner {
    pub fn new(
        workers: usize,
        cap: u32,
        arena_len: usize,
        initializer: Option<Arc<dyn Fn() + Send + Sync>>,
        maxtasks: Option<u64>,
        start_method: StartMethod,
    ) -> Result<Inner, PoolError> {
        let arena_len = arena_len.next_multiple_of(4096);
        let mut lay = Layout::compute(workers, cap, arena_len);
        let seg = Segment::anonymous(lay.total + 4096).map_err(|e| os("creating the pool segment", e))?;
        let off = seg
            .alloc(Kind::Pool, "pool", lay.total, 4096)
            .map_err(|e| os("placing the pool", e))?;
        // SAFETY: the handle (Inner) owns `seg` for as long as it uses the region.
        let region = unsafe { seg.sub_region_static(off, lay.total) }.map_err(|e| os("placing the pool", e))?;
        let mut params = ObjectParams::new(Kind::Pool, lay.total as u64);
        params.capacity = u64::from(cap);
        params.elem_size = workers as u32;
        params.msg_limit = arena_len as u64;
        let claim = Header::claim(region, &params, 4096).map_err(|e| os("initializing the pool", e))?;
        lay.base = region.as_ptr();
        // The body is zeroed memory: every ring empty, every flag clear; the task queue's slots start
        // "done, one lap ago" (see `TaskQueue`).
        lay.task_queue().init();
        claim.publish::<DefaultWait>();
        let key = Key::new();
        let namer = Namer {
            parent: std::process::id(),
            nonce: key.nonce(),
        };
        let mut inner = Inner {
            seg,
            lay,
            key,
            namer,
            workers: Vec::new(),
            pending: VecDeque::new(),
            ring_tail: 0,
            slot_task: Vec::new(),
            tasks: Table::new(1),
            jobs: Table::new(1),
            next_task: 1,
            next_job: 1,
            alloc: ArenaAlloc::new(arena_len),
            state: State::Running,
            initializer,
            maxtasks,
            start_method,
            started: 0,
            start_failures: 0,
            broken: None,
            last_check: Instant::now(),
        };
        inner.slot_task = vec![0; inner.lay.qcap as usize];
        for i in 0..workers {
            inner.workers.push(WorkerState::new(None));
            inner.spawn(i)?;
        }
        Ok(inner)
    }

    fn spawn(&mut self, i: usize) -> Result<(), PoolError> {
        self.lay.worker(i).reset();
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        let child = match self.start_method {
            StartMethod::Fork => {
                crate::process::handle::warn_if_threaded();
                let lay = self.lay.clone();
                let key = self.key.clone();
                let init = self.initializer.clone();
                let maxtasks = self.maxtasks;
                Child::Forked(
                    try_fork_partner(move || {
                        crate::process::mark_child(parent as u32, StartMethod::Fork);
                        worker::worker_main(&lay, i, &key, parent, init.as_deref(), maxtasks)
                    })
                    .map_err(|e| os("fork", e))?,
                )
            }
            StartMethod::Spawn => {
                // Re-execute this program; the worker maps the pool segment from the fd it inherits and
                // gets its index and the task key through the private bootstrap record.
                let (k0, k1) = self.key.to_words();
                let mut p = Process::target(super::SPAWN_WORKER_TARGET)
                    .args([
                        i.to_string(),
                        k0.to_string(),
                        k1.to_string(),
                        parent.to_string(),
                        self.maxtasks.unwrap_or(0).to_string(),
                    ])
                    .segment(&self.seg)
                    .name(format!("PoolWorker-{i}"))
                    .start_method(StartMethod::Spawn);
                p.start().map_err(|e| os("spawn", e))?;
                Child::Spawned(p)
            }
        };
        self.workers[i] = WorkerState::new(Some(child));
        self.started += 1;
        Ok(())
    }

    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers
            .iter()
            .filter_map(|w| w.partner.as_ref().map(|p| p.pid() as u32))
            .collect()
    }

    pub fn workers_started(&self) -> u64 {
        self.started
    }

    fn arena(&self) -> Arena {
        Arena {
            base: self.lay.arena_ptr(),
            len: self.lay.arena_len,
        }
    }

    /// Submits a job of `spec` cut into tasks of `chunk` items.
    pub fn submit(
        &mut self,
        spec: JobSpec,
        chunk: usize,
        kind: JobKind,
        callback: Option<Callback>,
    ) -> Result<u64, PoolError> {
        if self.state != State::Running {
            return Err(PoolError::Closed);
        }
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let total = spec.items;
        debug_assert!(kind != JobKind::Apply || total == 1);
        let chunk = chunk.clamp(1, u32::MAX as usize);
        let arena = self.lay.arena_len;
        // A chunk's arguments take at most a quarter of the arena (so several are in flight): a
        // chunk that would be larger is cut; one item larger than that travels alone (in the arena,
        // or in a spill segment if it is larger than the arena).
        let limit = (arena / 4).max(TASK_INLINE);
        let id = self.next_job;
        self.next_job += 1;
        let mut first = 0;
        while first < total {
            let max = chunk.min(total - first);
            let mut count = max;
            if spec.args.bytes(first, max) > limit {
                count = 1;
                while count < max && spec.args.bytes(first, count + 1) <= limit {
                    count += 1;
                }
            }
            let t = self.next_task;
            self.next_task += 1;
            self.tasks.push(
                t,
                Task {
                    job: id,
                    first,
                    count,
                    block: None,
                    spill: None,
                    seq: None,
                },
            );
            self.pending.push_back(t);
            first += count;
        }
        let results = Store::new(spec.res_fixed, total);
        self.jobs.push(
            id,
            Job {
                spec,
                total,
                done: 0,
                results,
                ready: vec![false; total],
                failed: Vec::new(),
                completed: VecDeque::new(),
                callback,
                kind,
            },
        );
        if total == 0 {
            self.finish_job_if_done(id);
        }
        self.dispatch();
        Ok(id)
    }

    /// Publishes pending tasks into the shared queue (in order, while slots are free), then wakes
    /// as many parked workers as there are new tasks.
    fn dispatch(&mut self) {
        let mut published: usize = 0;
        let queue_mask = self.lay.qcap - 1;
        // Tasks published and not yet answered: at most `qcap`, so a worker's result ring (up to
        // `qcap` slots) rarely fills while the parent is away.
        let mut in_flight = self.tasks.live.saturating_sub(self.pending.len());
        while let Some(&t) = self.pending.front() {
            if in_flight >= self.lay.qcap as usize {
                break;
            }
            let seq = self.ring_tail;
            if !self.lay.task_queue().slot_free(seq) {
                break; // every slot holds an unclaimed task: all workers are busy
            }
            let Some(task) = self.tasks.get(t) else {
                self.pending.pop_front();
                continue;
            };
            let Some(job) = self.jobs.get(task.job) else {
                self.pending.pop_front();
                continue;
            };
            let plan = job.plan(task, self.lay.arena_len);
            let (has_spill, old_block) = (task.spill.is_some(), task.block);
            let need = plan.arena_bytes();
            let block = if need > 0 {
                match old_block {
                    Some(b) => Some(b),
                    None => match self.alloc.alloc(need) {
                        Some(b) => Some(b),
                        None => break, // arena full: wait for results to free blocks
                    },
                }
            } else {
                None
            };
            let mut failed = None;
            if plan.place == ArgPlace::Spill && !has_spill {
                if let Some(task) = self.tasks.get_mut(t) {
                    match Spill::create(&self.namer.name(t, Dir::Args), plan.arg_len) {
                        Ok(sp) => task.spill = Some(Box::new(sp)),
                        Err(e) => failed = Some(os("creating an argument spill segment", e)),
                    }
                }
            }
            let slot = match failed {
                Some(e) => Err(e),
                None => {
                    // Both exist (looked up above; nothing removed them since).
                    let (Some(task), Some(job)) =
                        (self.tasks.get(t), self.tasks.get(t).and_then(|x| self.jobs.get(x.job)))
                    else {
                        if let (None, Some((off, size))) = (old_block, block) {
                            self.alloc.free(off, size);
                        }
                        self.pending.pop_front();
                        continue;
                    };
                    // SAFETY: the block (if any) was allocated for this task with `plan.arena_bytes()`
                    // bytes inside the arena; a spilled task's segment was created above with
                    // `plan.arg_len` bytes.
                    unsafe {
                        make_slot(
                            &self.key,
                            t,
                            &job.spec,
                            task.first,
                            task.count,
                            &plan,
                            block.map(|b| b.0 as u64),
                            self.arena(),
                            task.spill.as_deref(),
                        )
                    }
                    .map_err(PoolError::Encode)
                }
            };
            let slot = match slot {
                Ok(slot) => slot,
                Err(e) => {
                    // This task cannot be sent (its segment could not be made, or an argument's
                    // Serialize failed this time): it fails alone (its block is freed); the rest
                    // goes on.
                    if let Some(task) = self.tasks.get_mut(t) {
                        task.block = block;
                    }
                    self.pending.pop_front();
                    self.complete(t, Err(e));
                    continue;
                }
            };
            if let Some(task) = self.tasks.get_mut(t) {
                task.block = block;
                task.seq = Some(seq);
            }
            self.lay.task_queue().publish(seq, slot);
            self.slot_task[(seq & queue_mask) as usize] = t;
            self.ring_tail = seq.wrapping_add(1);
            self.pending.pop_front();
            published += 1;
            in_flight += 1;
        }
        if published == 0 {
            return;
        }
        let queue = self.lay.task_queue();
        queue.bump_published();
        // Dekker pairing with `worker::idle_wait`: our Release publications, one SeqCst fence, then
        // each worker's flag (a worker that parks after the fence re-checks the queue and sees them).
        fence(Ordering::SeqCst);
        let sleepers = (0..self.workers.len())
            // Ordering: Relaxed after the SeqCst fence.
            .filter(|&w| self.lay.worker(w).sleeping.load(Ordering::Relaxed) != 0)
            .count();
        if sleepers > 0 {
            Futex::wake(queue.published_word(), published.min(sleepers) as u32);
        }
    }

    /// Collects every available result; returns how many.
    fn collect(&mut self) -> usize {
        let mut n = 0;
        for w in 0..self.workers.len() {
            n += self.collect_from(w);
        }
        n
    }

    fn collect_from(&mut self, w: usize) -> usize {
        let mut n = 0;
        loop {
            let ring = self.lay.result_ring(w);
            let Some(r) = ring.peek_cached(&mut self.workers[w].tail_cache, false) else {
                break;
            };
            ring.advance();
            n += 1;
            // A result must answer a published task that is still owed.
            if self.tasks.get(r.id).is_none_or(|t| t.seq.is_none()) {
                // A corrupted or stale slot: ignore it; the task is still owed and will be failed if
                // the worker running it dies.
                continue;
            }
            self.start_failures = 0;
            self.complete(r.id, Ok(&r));
        }
        n
    }

    /// Finishes task `t` with a result slot or an error.
    fn complete(&mut self, t: u64, res: Result<&ResultSlot, PoolError>) {
        let Some(mut task) = self.tasks.remove(t) else { return };
        let arena = self.arena();
        let namer = self.namer;
        if let Some(sp) = task.spill.take() {
            drop(sp);
            namer.remove(t, Dir::Args);
        }
        if task.seq.is_some() && !matches!(res, Ok(r) if r.status == S_OK) {
            // A worker that died (or failed) after creating the result spill segment left it behind.
            namer.remove(t, Dir::Results);
        }
        let Some(job) = self.jobs.get_mut(task.job) else {
            if let Some((off, size)) = task.block {
                self.alloc.free(off, size);
            }
            if task.seq.is_some() {
                namer.remove(t, Dir::Results);
            }
            return;
        };
        let arena_len = self.lay.arena_len;
        let message = |r: &ResultSlot, from: usize| -> String {
            let len = usize::try_from(r.len).unwrap_or(usize::MAX).min(RESULT_INLINE);
            String::from_utf8_lossy(r.inline.get(from..len).unwrap_or(&[])).into_owned()
        };
        let outcome: Result<(), PoolError> = match res {
            Ok(r) if r.status == S_OK => {
                let len = usize::try_from(r.len).unwrap_or(usize::MAX);
                let mut spill = None;
                // The same rule as the worker's (`task::run_items`), with our own plan, never a
                // location read from shared memory.
                let plan = (len > RESULT_INLINE).then(|| job.plan(&task, arena_len));
                let src: Option<*const u8> = if len <= RESULT_INLINE {
                    Some(r.inline.as_ptr())
                } else if let Some(plan) = plan.filter(|p| len <= p.res_cap) {
                    // Our block lies inside the arena and holds `res_cap` result bytes after the
                    // arguments (if those are in the block too).
                    let args_here = if plan.place == ArgPlace::Arena { plan.arg_len } else { 0 };
                    task.block
                        .map(|(off, _)| arena.base.wrapping_add(off + args_here) as *const u8)
                } else {
                    spill = Spill::open(&namer.name(t, Dir::Results), len);
                    spill.as_ref().map(|s| s.ptr() as *const u8)
                };
                let stored = match src {
                    None => false,
                    Some(src) => match (&mut job.results, job.spec.res_fixed) {
                        (Store::Fixed { size, bytes }, _) => {
                            let at = task.first * *size;
                            if task.count.checked_mul(*size) == Some(len) && at + len <= bytes.len() {
                                // SAFETY: `src` is valid for `len` bytes (the private inline array, our
                                // block's result area with len <= res_cap, or a spill payload checked
                                // to hold `len`); the destination range is inside `bytes`.
                                unsafe { std::ptr::copy_nonoverlapping(src, bytes.as_mut_ptr().add(at), len) };
                                true
                            } else {
                                false
                            }
                        }
                        (Store::Var(items), fixed) => {
                            // SAFETY: as above, `src` is valid for `len` bytes.
                            match unsafe { split_area(src, len, task.count, fixed) } {
                                Some(recs) => {
                                    for (k, rec) in recs.into_iter().enumerate() {
                                        items[task.first + k] = rec;
                                    }
                                    true
                                }
                                None => false,
                            }
                        }
                    },
                };
                if spill.take().is_some() {
                    namer.remove(t, Dir::Results);
                }
                if stored {
                    Ok(())
                } else {
                    Err(PoolError::Corrupted)
                }
            }
            Ok(r) if r.status == S_PANICKED => Err(PoolError::TaskPanicked { message: message(r, 0) }),
            Ok(r) if r.status == S_DECODE && r.len >= 8 => {
                let mut rec = [0u8; 8];
                rec.copy_from_slice(&r.inline[..8]);
                let rec = usize::try_from(u64::from_ne_bytes(rec)).unwrap_or(usize::MAX);
                Err(PoolError::Decode((job.spec.arg_error)(rec, message(r, 8))))
            }
            Ok(r) if r.status == S_ENCODE => Err(PoolError::Encode((job.spec.res_error)(message(r, 0)))),
            Ok(r) if r.status == S_SPILL_FAILED && r.len >= 8 => Err(PoolError::Os {
                op: "creating a result spill segment (in the worker)",
                message: message(r, 8),
            }),
            Ok(r) if r.status == S_CORRUPT => Err(PoolError::Corrupted),
            Ok(_) => Err(PoolError::Corrupted),
            Err(e) => Err(e),
        };
        if let Some((off, size)) = task.block {
            self.alloc.free(off, size);
        }
        let Some(job) = self.jobs.get_mut(task.job) else { return };
        for i in task.first..task.first + task.count {
            job.ready[i] = true;
            if job.kind == JobKind::Unordered {
                job.completed.push_back(i);
            }
        }
        if let Err(e) = outcome {
            job.failed.push((task.first, task.count, e));
        }
        job.done += task.count;
        self.finish_job_if_done(task.job);
    }

    fn finish_job_if_done(&mut self, id: u64) {
        let Some(job) = self.jobs.get_mut(id) else { return };
        if job.done < job.total {
            return;
        }
        if let Some(cb) = job.callback.take() {
            let res = match job.failed.first() {
                Some((_, _, e)) => Err(e.clone()),
                None => Ok(()),
            };
            match res {
                Ok(()) => cb(Ok(job.results.get(0))),
                Err(e) => cb(Err(&e)),
            }
        }
    }

    /// Checks every worker for death; handles each dead one. Returns whether any died.
    fn check_workers(&mut self) -> bool {
        self.last_check = Instant::now();
        let mut any = false;
        for w in 0..self.workers.len() {
            let Some(st) = self.workers[w].partner.as_ref().and_then(|p| p.try_wait()) else {
                continue;
            };
            any = true;
            self.worker_died(w, st);
        }
        any
    }

    fn worker_died(&mut self, w: usize, status: i32) {
        let child = self.workers[w].partner.take();
        if child.as_ref().is_some_and(Child::not_dispatched) {
            // Every replacement would fail the same way: say what to fix now.
            self.break_pool(PoolError::Os {
                op: "spawning a pool worker",
                message: "the worker (a re-execution of this program) never reached ringfork::process::spawn_main; \
                          add `ringfork::process::spawn_main(&[])` (or spawn_main_hook) as the first line of main"
                    .into(),
            });
            return;
        }
        // 1. Results it answered before dying count.
        self.collect_from(w);
        let ctl = self.lay.worker(w);
        // Ordering: Relaxed: the worker is dead and reaped (waitpid ordered its stores before us).
        let current = ctl.current.load(Ordering::Relaxed);
        let completed = ctl.completed.load(Ordering::Relaxed);
        // 2. A slot it claimed but had not copied out and released: that task never started (the
        //    worker names its task in `current` before releasing the slot, and runs user code
        //    only after): it goes back to the front of the line.
        let queue = self.lay.task_queue();
        let owner = owner_of(w);
        let mut requeue = Vec::new();
        let lo = self.ring_tail.saturating_sub(self.lay.qcap);
        for seq in lo..self.ring_tail {
            if queue.claimed_by(seq, owner) {
                queue.force_done(seq);
                let t = self.slot_task[(seq & (self.lay.qcap - 1)) as usize];
                if let Some(task) = self.tasks.get_mut(t) {
                    if task.seq == Some(seq) {
                        task.seq = None;
                        requeue.push(t);
                    }
                }
            }
        }
        // 3. The task it was running (named in `current`, released from the queue, not answered)
        //    fails with WorkerDied; nothing else it touched is lost.
        if current != 0 && self.tasks.get(current).is_some_and(|t| t.seq.is_some()) {
            let (signal, exit_code) = if libc::WIFSIGNALED(status) {
                (Some(libc::WTERMSIG(status)), None)
            } else {
                (None, Some(libc::WEXITSTATUS(status)))
            };
            self.complete(current, Err(PoolError::WorkerDied { signal, exit_code }));
        }
        for t in requeue.into_iter().rev() {
            self.pending.push_front(t);
        }
        let retired = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        // A worker that *exits* on its own before running anything is failing to start (e.g. its
        // initializer panics); one killed by a signal is not (someone else killed it).
        if !retired && completed == 0 && current == 0 && libc::WIFEXITED(status) {
            self.start_failures += 1;
        }
        if self.state == State::Terminated {
            return;
        }
        if self.start_failures >= MAX_START_FAILURES {
            self.break_pool(PoolError::WorkersFailing {
                failures: self.start_failures,
            });
            return;
        }
        let all_done = self.state == State::Closed && self.pending.is_empty() && self.tasks.is_empty();
        if !all_done {
            if let Err(e) = self.spawn(w) {
                self.break_pool(e);
            }
        }
    }

    fn break_pool(&mut self, e: PoolError) {
        self.broken = Some(e.clone());
        let ids: Vec<u64> = self.tasks.ids();
        for t in ids {
            self.complete(t, Err(e.clone()));
        }
        self.pending.clear();
    }

    /// One step of progress: dispatch, collect, check liveness; parks up to `wait` if nothing happened.
    pub fn pump(&mut self, wait: Duration) {
        self.dispatch();
        let got = self.collect();
        if self.last_check.elapsed() >= PARK_SLICE {
            self.check_workers();
        }
        if got > 0 || wait.is_zero() {
            self.dispatch();
            return;
        }
        self.park(wait.min(PARK_SLICE));
        self.collect();
        self.check_workers();
        self.dispatch();
    }

    /// Parks until a worker publishes a result or `d` passes (Dekker pairing with the worker).
    fn park(&self, d: Duration) {
        // Poll first (yielding the core to the workers): with tasks outstanding, results usually
        // arrive within microseconds, and a futex sleep/wake pair costs tens of them here.
        let busy = self.tasks.live > self.pending.len();
        if busy {
            for _ in 0..PARK_YIELDS {
                if (0..self.workers.len()).any(|w| !self.lay.result_ring(w).is_empty()) {
                    return;
                }
                std::thread::yield_now();
            }
        }
        let ctl = self.lay.pool_ctl();
        // Ordering: Relaxed: the SeqCst fence below orders it before our re-check (Dekker pair with the worker).
        ctl.parent_sleeping.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        // Ordering: Acquire: pairs with the workers' Release increments.
        let seq = ctl.result_seq.load(Ordering::Acquire);
        let any = (0..self.workers.len()).any(|w| !self.lay.result_ring(w).is_empty());
        if !any {
            let _ = Futex::wait(&ctl.result_seq, seq, Deadline::after::<<Futex as Wait>::Clock>(d));
        }
        // Ordering: Relaxed: a worker that still sees 1 only makes a harmless extra wake.
        ctl.parent_sleeping.store(0, Ordering::Relaxed);
    }

    /// Whether job `id` is complete (or unknown, i.e. already consumed).
    pub fn job_done(&self, id: u64) -> bool {
        self.jobs.get(id).is_none_or(|j| j.done >= j.total)
    }

    /// Item `i` of job `id` (its encoded bytes): `None` while not ready. With `take`, the bytes are
    /// moved out (for results handed out once: `imap`, `imap_unordered`).
    pub fn item(&mut self, id: u64, i: usize, take: bool) -> Option<Result<Vec<u8>, PoolError>> {
        let job = self.jobs.get_mut(id)?;
        if !*job.ready.get(i)? {
            return None;
        }
        if let Some(e) = job.error_of(i) {
            return Some(Err(e.clone()));
        }
        Some(Ok(if take {
            job.results.take(i)
        } else {
            job.results.get(i).to_vec()
        }))
    }

    /// The next item of job `id` in completion order.
    pub fn next_completed(&mut self, id: u64) -> Option<usize> {
        self.jobs.get_mut(id)?.completed.pop_front()
    }

    /// The job's first error, if done and failed.
    pub fn job_error(&self, id: u64) -> Option<PoolError> {
        let job = self.jobs.get(id)?;
        // The lowest failing item's error, as a sequential map would have met it first.
        job.failed
            .iter()
            .min_by_key(|(first, _, _)| *first)
            .map(|(_, _, e)| e.clone())
    }

    /// Every result of a done job that did not fail (encoded).
    pub fn job_results(&self, id: u64) -> Option<(usize, &Store)> {
        let job = self.jobs.get(id)?;
        if job.done < job.total || !job.failed.is_empty() {
            return None;
        }
        Some((job.total, &job.results))
    }

    /// Forgets job `id` (its results were handed out).
    pub fn forget(&mut self, id: u64) {
        if self.job_done(id) {
            self.jobs.remove(id);
        }
    }

    /// For an `async` waiter (`crate::aio`): raises the parent-sleeping flag (as [`Self::park`]
    /// does; never lowered here, which costs at most a spurious wake-up), and returns the address of
    /// `result_seq` with its value (wait while it holds it), a clone of the segment it lives in, and
    /// whether a result is already waiting to be collected (then do not wait).
    #[cfg(feature = "async")]
    pub(crate) fn async_park(&self) -> (&ringfork_core::atomic::AtomicU32, u32, Segment, bool) {
        let ctl = self.lay.pool_ctl();
        // Ordering: Relaxed: the SeqCst fence below orders it before our re-check (Dekker pair with the worker).
        ctl.parent_sleeping.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        // Ordering: Acquire: pairs with the workers' Release increments.
        let seq = ctl.result_seq.load(Ordering::Acquire);
        let any = (0..self.workers.len()).any(|w| !self.lay.result_ring(w).is_empty());
        (&ctl.result_seq, seq, self.seg.clone(), any)
    }

    /// Whether the pool was terminated.
    pub fn terminated(&self) -> bool {
        self.state == State::Terminated
    }

    pub fn close(&mut self) {
        if self.state == State::Running {
            self.state = State::Closed;
        }
    }

    /// One step of `join`: `Ok(true)` once every worker has exited and been reaped.
    pub fn join_step(&mut self) -> Result<bool, PoolError> {
        match self.state {
            State::Running => return Err(PoolError::NotClosed),
            State::Terminated => return Ok(self.workers.iter().all(|w| w.partner.is_none())),
            State::Closed => {}
        }
        if !self.tasks.is_empty() {
            self.pump(PARK_SLICE);
            return Ok(false);
        }
        // Everything is done: ask every worker to stop, wake them all, reap them.
        for w in 0..self.workers.len() {
            let ctl = self.lay.worker(w);
            // Ordering: Release pairs with the worker's Acquire load of `stop`.
            ctl.stop.store(1, Ordering::Release);
        }
        let queue = self.lay.task_queue();
        queue.bump_published();
        Futex::wake_all(queue.published_word());
        for w in 0..self.workers.len() {
            if let Some(p) = self.workers[w].partner.take() {
                // A worker that does not stop within 5 s is killed (it is stuck in user code).
                let _ = p.wait_timeout(Duration::from_secs(5));
            }
        }
        Ok(true)
    }

    pub fn terminate(&mut self) {
        if self.state == State::Terminated && self.workers.iter().all(|w| w.partner.is_none()) {
            return;
        }
        self.state = State::Terminated;
        for w in &self.workers {
            if let Some(p) = &w.partner {
                p.signal(libc::SIGTERM);
            }
        }
        let grace = Instant::now() + Duration::from_millis(200);
        for w in 0..self.workers.len() {
            if let Some(p) = self.workers[w].partner.take() {
                let left = grace.saturating_duration_since(Instant::now());
                // Past the grace period, wait_timeout SIGKILLs and reaps.
                let _ = p.wait_timeout(left);
            }
        }
        let ids: Vec<u64> = self.tasks.ids();
        for t in ids {
            self.complete(t, Err(PoolError::Terminated));
        }
        self.pending.clear();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.terminate();
    }
}

impl Layout {
    /// The layout of the pool object in `seg` (a spawned worker's view), validated against its header.
    pub fn attach(seg: &Segment) -> Result<Layout, String> {
        let e = seg.find("pool").ok_or("the segment has no pool object")?;
        // SAFETY: the worker keeps `seg` for its whole life (it exits from `worker_main`).
        let region = unsafe { seg.sub_region_static(e.offset, e.size) }.map_err(|e| e.to_string())?;
        let h = Header::attach::<DefaultWait>(region, Kind::Pool, Deadline::Immediate).map_err(|e| e.to_string())?;
        let (cap, workers, arena) = (h.capacity(), h.elem_size() as usize, h.msg_limit() as usize);
        if cap == 0 || !cap.is_power_of_two() || cap > 1 << 16 || workers == 0 || workers > 1024 {
            return Err("pool header parameters out of range".into());
        }
        let mut lay = Layout::compute(workers, cap as u32, arena);
        if lay.total as u64 != h.size() || lay.total > region.len() {
            return Err("pool header size does not match its parameters".into());
        }
        lay.base = region.as_ptr();
        Ok(lay)
    }
}
