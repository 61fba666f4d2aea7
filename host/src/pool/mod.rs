//! [`Pool`]: a fork-based process pool with Python's API that survives dying workers.
//!
//! ```
//! use ringfork::Pool;
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! let pool = Pool::new(2)?;
//! assert_eq!(pool.apply(square, 7)?, 49);
//! assert_eq!(pool.map(square, 0..5u64)?, vec![0, 1, 4, 9, 16]);
//! let r = pool.apply_async(square, 9)?;
//! assert_eq!(r.get()?, 81);
//! pool.close();
//! pool.join()?;
//! # Ok::<(), ringfork::PoolError>(())
//! ```
//!
//! # Tasks are `fn` pointers; arguments and results are any serde type
//! As Python pickles a function by name, a task here is an `fn(A) -> R` (not a closure): workers are
//! forks of the parent (or, with [`PoolBuilder::start_method`]`(Spawn)`, re-executions of the same
//! program: the function travels as its offset from an anchor function of the executable), so the
//! function's code is there. Its arguments and results are any `Serialize + DeserializeOwned + Send`
//! types, as Python's are anything picklable: `String`s, `PathBuf`s, `Vec`s, your own structs,
//! `Option`/`Result` returns. They are encoded with [`Serde`](crate::encoding::Serde) straight into
//! the pool's shared memory and decoded straight out of it; plain numbers (`u64`, `f64`, ...) take
//! its scalar fast path and travel as their bytes, with no encoding step.
//!
//! There is no size limit but the machine's: a chunk's arguments and results travel inside the task
//! and result slots when they are small, in the pool's shared arena ([`PoolBuilder::arena_size`])
//! otherwise, and anything larger than the arena in a shared-memory segment of its own, created for
//! that task and removed when it is done (see `docs/layout.md`, "Pool"). A chunk whose arguments
//! would take more than a quarter of the arena is cut into smaller tasks.
//!
//! ```
//! use ringfork::Pool;
//!
//! fn count_bytes(path: String) -> usize {
//!     path.len()
//! }
//!
//! fn parse(s: String) -> Result<u32, String> {
//!     s.parse().map_err(|e| format!("{s:?}: {e}"))
//! }
//!
//! let pool = Pool::new(2)?;
//! let sizes = pool.map(count_bytes, vec![String::from("a"), String::from("bb"), "c".repeat(1 << 20)])?;
//! assert_eq!(sizes, vec![1, 2, 1 << 20]);
//! let parsed = pool.map(parse, ["7".to_string(), "x".to_string()])?;
//! assert_eq!(parsed[0], Ok(7));
//! assert!(parsed[1].is_err());
//! # Ok::<(), ringfork::PoolError>(())
//! ```
//!
//! Two-argument functions go through [`Pool::starmap`].
//!
//! # Scheduling
//! As in Python, tasks wait in one queue and whichever worker is free takes the next one: tasks
//! *start* in submission order, no worker idles while a submitted task waits, and a slow task delays
//! only itself. The queue is a ring in shared memory that the parent fills and idle workers claim
//! from (see `shared.rs`, `TaskQueue`); up to `ring_slots × processes` tasks are in it at once, the
//! rest wait in the parent and follow as the pool's calls run.
//!
//! # Dying workers
//! A worker that is SIGKILLed (or crashes, or calls `exit`) in the middle of a task turns *that* task
//! into [`PoolError::WorkerDied`]; a task it had claimed but not started goes back to the queue; a
//! replacement worker is forked; every other task completes. (Python's `Pool` hangs forever here;
//! `concurrent.futures` breaks the whole pool.) See `worker.rs` for the protocol.
//!
//! # No background threads
//! The parent has no helper threads (forking from a multi-threaded process is unsafe in general):
//! the pool makes progress inside its own calls — `get`, `wait`, `map`, iterating `imap`, `join`.
//! Callbacks given to [`Pool::apply_async_with`] run in the parent, inside whichever of those calls
//! collects the result.

mod alloc;
mod inner;
mod results;
mod shared;
mod spill;
mod task;
mod worker;

pub use results::{AsyncResult, IMap, IMapUnordered, MapResult};

/// The spawn target name of pool workers (built in: no registration needed).
pub(crate) const SPAWN_WORKER_TARGET: &str = "ringfork-pool-worker";

/// The entry point of a spawned pool worker: arguments `[index, k0, k1, parent pid, maxtasks]` and
/// the pool segment.
pub(crate) fn spawned_worker(args: crate::process::TargetArgs) {
    let fail = |msg: &str| -> ! {
        eprintln!("ringfork: pool worker: {msg}");
        std::process::exit(2)
    };
    let num = |i: usize| -> u64 {
        args.arg_str(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| fail("bad arguments"))
    };
    let (idx, k0, k1, parent, maxtasks) = (num(0) as usize, num(1), num(2), num(3) as libc::pid_t, num(4));
    let Some(seg) = args.segments().first() else {
        fail("no pool segment")
    };
    let lay = inner::Layout::attach(seg).unwrap_or_else(|e| fail(&e));
    if idx >= lay.workers {
        fail("worker index out of range");
    }
    let key = task::Key::from_words(k0, k1);
    worker::worker_main(&lay, idx, &key, parent, None, (maxtasks > 0).then_some(maxtasks))
}

use crate::encoding::{DecodeError, EncodeError};
use inner::{Inner, JobKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why a pool call or a task failed.
///
/// ```
/// use ringfork::{Pool, PoolError};
///
/// fn checked(x: u32) -> u32 {
///     assert!(x != 3, "three is not allowed");
///     x
/// }
///
/// fn quits(_: u32) -> u32 {
///     std::process::exit(5) // a task must return, not exit
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     assert!(matches!(Pool::new(0), Err(PoolError::InvalidParameter { name: "processes", .. })));
///     let pool = Pool::new(2)?;
///     match pool.apply(checked, 3) {
///         Err(PoolError::TaskPanicked { message }) => assert!(message.contains("three is not allowed")),
///         other => panic!("expected a panic, got {other:?}"),
///     }
///     let died = pool.apply(quits, 0);
///     assert_eq!(died, Err(PoolError::WorkerDied { signal: None, exit_code: Some(5) }));
///     assert_eq!(pool.apply(checked, 4)?, 4); // the pool replaced the worker and goes on
///     pool.close();
///     pool.join()?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// The task panicked; the message is the panic's (truncated to ~100 bytes).
    TaskPanicked {
        /// The panic message.
        message: String,
    },
    /// The worker running the task died: killed by `signal`, or exited with `exit_code`.
    WorkerDied {
        /// The signal that killed it (e.g. 9 for SIGKILL).
        signal: Option<i32>,
        /// Its exit code, if it exited instead.
        exit_code: Option<i32>,
    },
    /// `get_timeout`/`wait_timeout` expired first (the task goes on; ask again later).
    TimedOut,
    /// The pool was terminated before the task finished.
    Terminated,
    /// A task was submitted after `close`/`terminate`.
    Closed,
    /// `join` was called before `close` or `terminate` (as in Python, a ValueError there).
    NotClosed,
    /// `successful` was asked of a result that is not ready.
    NotReady,
    /// `Pool::new(0)`, a zero chunk size, or another unusable parameter.
    InvalidParameter {
        /// Which.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// An argument (in the parent: nothing of the call was submitted; or in a worker) or a result
    /// (in the worker) could not be encoded: its `Serialize` impl failed.
    Encode(EncodeError),
    /// An argument (in the worker: the task did not run) or a result (in the parent) did not decode
    /// as its type: its `Deserialize` impl rejects what its `Serialize` wrote, or shared memory was
    /// corrupted. The pool goes on.
    Decode(DecodeError),
    /// Workers keep dying before running anything (e.g. the initializer panics): the pool gave up.
    WorkersFailing {
        /// Consecutive failed starts.
        failures: u32,
    },
    /// A task slot failed validation in the worker (shared memory was corrupted); nothing ran.
    Corrupted,
    /// Creating the pool's segment or forking a worker failed.
    Os {
        /// What failed.
        op: &'static str,
        /// The error text (with errno).
        message: String,
    },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::TaskPanicked { message } => write!(f, "task panicked: {message}"),
            PoolError::WorkerDied { signal: Some(s), .. } => write!(
                f,
                "the worker running this task died from signal {s}; the pool replaced it and other tasks were not affected"
            ),
            PoolError::WorkerDied { exit_code, .. } => write!(
                f,
                "the worker running this task exited (code {}) before finishing it; a task must return, not exit",
                exit_code.unwrap_or(-1)
            ),
            PoolError::TimedOut => f.write_str("timed out waiting for the result (the task is still running; ask again)"),
            PoolError::Terminated => f.write_str("the pool was terminated before the task finished"),
            PoolError::Closed => f.write_str("the pool is closed: no new tasks after close() or terminate()"),
            PoolError::NotClosed => f.write_str("join() needs close() or terminate() first (as in Python)"),
            PoolError::NotReady => f.write_str("the result is not ready yet"),
            PoolError::InvalidParameter { name, reason } => write!(f, "invalid {name}: {reason}"),
            PoolError::Encode(e) => write!(f, "{e}"),
            PoolError::Decode(e) => write!(f, "{e}"),
            PoolError::WorkersFailing { failures } => write!(
                f,
                "{failures} workers in a row died before running a task (does the initializer panic?); the pool gave up"
            ),
            PoolError::Corrupted => f.write_str("a task slot failed validation: the pool's shared memory was corrupted"),
            PoolError::Os { op, message } => write!(f, "{op} failed: {message}"),
        }
    }
}

impl std::error::Error for PoolError {}

/// Options for a [`Pool`].
///
/// ```
/// use ringfork::{Pool, RawValue};
///
/// fn worker_pid(_: u32) -> u32 {
///     std::process::id()
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let inits = RawValue::new(0u64)?;
///     let inits2 = inits.clone();
///     let pool = Pool::builder()
///         .processes(2)
///         .maxtasksperchild(1) // a fresh worker for every task
///         .initializer(move || {
///             inits2.fetch_add(1);
///         })
///         .build()?;
///     let mut pids = pool.map_chunked(worker_pid, 0..4u32, Some(1))?;
///     pool.close();
///     pool.join()?;
///     pids.sort_unstable();
///     pids.dedup();
///     assert_eq!(pids.len(), 4);
///     assert!(inits.load() >= 4 && pool.workers_started() >= 4);
///     Ok(())
/// }
/// ```
pub struct PoolBuilder {
    processes: usize,
    start_method: crate::StartMethod,
    initializer: Option<Arc<dyn Fn() + Send + Sync>>,
    maxtasksperchild: Option<u64>,
    ring_slots: u32,
    arena_size: usize,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("maxtasksperchild", &self.maxtasksperchild)
            .field("ring_slots", &self.ring_slots)
            .field("arena_size", &self.arena_size)
            .finish()
    }
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            processes: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            start_method: crate::StartMethod::Fork,
            initializer: None,
            maxtasksperchild: None,
            ring_slots: 64,
            arena_size: 16 << 20,
        }
    }
}

impl PoolBuilder {
    /// Number of worker processes (default: the CPU count).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = n;
        self
    }

    /// Runs once in every worker process when it starts (Python's `initializer`). Captured state is
    /// copied into each worker by `fork`.
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// How workers are started (Python's `context`): `Fork` (default) or `Spawn`, which re-executes
    /// the program, so it is safe from a multi-threaded parent. The program's `main` must call
    /// [`crate::process::spawn_main_hook`] (or `spawn_main`) first. With `Spawn` there is no
    /// initializer closure (a closure cannot cross `exec`).
    pub fn start_method(mut self, m: crate::StartMethod) -> Self {
        self.start_method = m;
        self
    }

    /// Replace a worker after it has completed `n` tasks (Python's `maxtasksperchild`).
    pub fn maxtasksperchild(mut self, n: u64) -> Self {
        self.maxtasksperchild = Some(n);
        self
    }

    /// Queue slots per worker (rounded up to a power of two; default 64): the shared task queue holds
    /// `ring_slots × processes` tasks (rounded up to a power of two, at most 65536), and each
    /// worker's result ring `min(queue, 4 × ring_slots)` results.
    pub fn ring_slots(mut self, n: u32) -> Self {
        self.ring_slots = n;
        self
    }

    /// Bytes of shared arena for arguments and results that do not fit inline (default 16 MiB).
    /// Larger ones still go through, each in a shared-memory segment of its own (slower: a few
    /// system calls per task).
    pub fn arena_size(mut self, n: usize) -> Self {
        self.arena_size = n;
        self
    }

    /// Creates the pool and forks its workers.
    pub fn build(self) -> Result<Pool, PoolError> {
        // A spawned child whose main skipped the dispatch call exits here instead of starting a pool
        // (see `process::spawn`, "A forgotten dispatch call").
        crate::process::exit_if_undispatched_child();
        if self.processes == 0 {
            return Err(PoolError::InvalidParameter {
                name: "processes",
                reason: "a pool needs at least 1 worker".into(),
            });
        }
        if self.processes > 1024 {
            return Err(PoolError::InvalidParameter {
                name: "processes",
                reason: "more than 1024 workers".into(),
            });
        }
        if self.maxtasksperchild == Some(0) {
            return Err(PoolError::InvalidParameter {
                name: "maxtasksperchild",
                reason: "must be at least 1".into(),
            });
        }
        if self.ring_slots == 0 || self.ring_slots > 1 << 16 {
            return Err(PoolError::InvalidParameter {
                name: "ring_slots",
                reason: "must be in 1..=65536".into(),
            });
        }
        if self.start_method == crate::StartMethod::Spawn && self.initializer.is_some() {
            return Err(PoolError::InvalidParameter {
                name: "initializer",
                reason: "a closure cannot cross exec: with StartMethod::Spawn, initialize at the start of your tasks \
                         or use StartMethod::Fork"
                    .into(),
            });
        }
        let inner = Inner::new(
            self.processes,
            self.ring_slots.next_power_of_two(),
            self.arena_size,
            self.initializer,
            self.maxtasksperchild,
            self.start_method,
        )?;
        Ok(Pool {
            inner: Arc::new(Mutex::new(inner)),
        })
    }
}

/// A pool of worker processes (Python's `multiprocessing.Pool`). See the module docs.
///
/// A worker killed in the middle of a task fails that task only:
///
/// ```
/// use ringfork::signal::{self, Signal};
/// use ringfork::{Pool, PoolError};
/// use std::time::Duration;
///
/// fn tenfold(x: u64) -> u64 {
///     if x == 2 {
///         signal::send(std::process::id(), Signal::Kill).expect("kill this worker");
///         std::thread::sleep(Duration::from_secs(60));
///     }
///     x * 10
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let pool = Pool::new(2)?;
///     let pending = (0..4).map(|x| pool.apply_async(tenfold, x)).collect::<Result<Vec<_>, _>>()?;
///     let results: Vec<_> = pending.iter().map(|r| r.get()).collect();
///     pool.close();
///     pool.join()?;
///     assert_eq!(results[2], Err(PoolError::WorkerDied { signal: Some(9), exit_code: None }));
///     assert_eq!((&results[..2], &results[3]), (&[Ok(0), Ok(10)][..], &Ok(30)));
///     Ok(())
/// }
/// ```
pub struct Pool {
    inner: Arc<Mutex<Inner>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.with(|i| i.worker_count());
        f.debug_struct("Pool").field("processes", &n).finish()
    }
}

impl Pool {
    /// A pool of `processes` workers (Python's `Pool(processes)`); see [`Pool::builder`] for options.
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        PoolBuilder::default().processes(processes).build()
    }

    /// A pool with one worker per CPU.
    pub fn with_cpu_count() -> Result<Pool, PoolError> {
        PoolBuilder::default().build()
    }

    /// Options: `initializer`, `maxtasksperchild`, sizes.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Runs `f(arg)` in a worker and waits for the result (Python's `apply`).
    pub fn apply<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<R, PoolError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Submits `f(arg)`; the [`AsyncResult`] gives the result later (Python's `apply_async`).
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<AsyncResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let spec = task::JobSpec::new(f, vec![arg]).map_err(PoolError::Encode)?;
        let job = self.with(|i| i.submit(spec, 1, JobKind::Apply, None))?;
        Ok(AsyncResult::new(self.inner.clone(), job))
    }

    /// [`Pool::apply_async`] with Python's `callback` / `error_callback`: exactly one of them runs in
    /// the parent when the result is collected.
    #[doc(alias = "callback")]
    #[doc(alias = "error_callback")]
    pub fn apply_async_with<A, R>(
        &self,
        f: fn(A) -> R,
        arg: A,
        callback: impl FnOnce(R) + Send + 'static,
        error_callback: impl FnOnce(&PoolError) + Send + 'static,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let cb: inner::Callback = Box::new(move |res: Result<&[u8], &PoolError>| match res {
            Ok(bytes) => match results::decode::<R>(bytes) {
                Ok(v) => callback(v),
                Err(e) => error_callback(&e),
            },
            Err(e) => error_callback(e),
        });
        let spec = task::JobSpec::new(f, vec![arg]).map_err(PoolError::Encode)?;
        let job = self.with(|i| i.submit(spec, 1, JobKind::Apply, Some(cb)))?;
        Ok(AsyncResult::new(self.inner.clone(), job))
    }

    /// `f` over every item, results in input order (Python's `map`); the first failure is returned.
    /// Chunks are sized as Python does (`len / (4 * workers)`, rounded up).
    pub fn map<A, R>(&self, f: fn(A) -> R, items: impl IntoIterator<Item = A>) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async(f, items, None)?.get()
    }

    /// [`Pool::map`] with a chunk size (`Some(1)`: one task per item; `None`: as [`Pool::map`]).
    /// Every chunk-size parameter of the pool is an `Option<usize>` whose `None` means Python's
    /// default for that method.
    pub fn map_chunked<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async(f, items, chunksize)?.get()
    }

    /// Submits a whole map; the [`MapResult`] gives the results later (Python's `map_async`).
    pub fn map_async<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let spec = task::JobSpec::new(f, items.into_iter().collect()).map_err(PoolError::Encode)?;
        let n = spec.items;
        let job = self.submit_items(spec, n, chunksize, JobKind::Map)?;
        Ok(MapResult::new(self.inner.clone(), job))
    }

    /// `f(a, b)` over pairs, results in order (Python's `starmap`).
    pub fn starmap<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        B: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let spec = task::JobSpec::new2(f, items.into_iter().collect()).map_err(PoolError::Encode)?;
        let n = spec.items;
        let job = self.submit_items(spec, n, chunksize, JobKind::Map)?;
        MapResult::new(self.inner.clone(), job).get()
    }

    /// Results in input order, each as soon as it and all before it are ready (Python's `imap`;
    /// `chunksize` `None` is Python's default there, 1).
    pub fn imap<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<IMap<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let spec = task::JobSpec::new(f, items.into_iter().collect()).map_err(PoolError::Encode)?;
        let n = spec.items;
        let job = self.submit_items(spec, n, Some(chunksize.unwrap_or(1)), JobKind::Map)?;
        Ok(IMap::new(self.inner.clone(), job, n))
    }

    /// Results in completion order, each exactly once, as `(input index, result)` (Python's
    /// `imap_unordered`, plus the index; `chunksize` `None` is Python's default there, 1).
    pub fn imap_unordered<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<IMapUnordered<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let spec = task::JobSpec::new(f, items.into_iter().collect()).map_err(PoolError::Encode)?;
        let n = spec.items;
        let job = self.submit_items(spec, n, Some(chunksize.unwrap_or(1)), JobKind::Unordered)?;
        Ok(IMapUnordered::new(self.inner.clone(), job, n))
    }

    fn submit_items(
        &self,
        spec: task::JobSpec,
        n: usize,
        chunksize: Option<usize>,
        kind: JobKind,
    ) -> Result<u64, PoolError> {
        let workers = self.with(|i| i.worker_count());
        let chunk = match chunksize {
            Some(0) => {
                return Err(PoolError::InvalidParameter {
                    name: "chunksize",
                    reason: "must be at least 1".into(),
                })
            }
            Some(c) => c,
            None => n.div_ceil(workers * 4).max(1),
        };
        self.with(|i| i.submit(spec, chunk, kind, None))
    }

    /// No more tasks may be submitted; workers exit once everything submitted is done (Python's
    /// `close`).
    pub fn close(&self) {
        self.with(|i| i.close());
    }

    /// Stops the workers now (SIGTERM, then SIGKILL after 200 ms), reaps them, and fails every
    /// unfinished task with [`PoolError::Terminated`] (Python's `terminate`).
    pub fn terminate(&self) {
        self.with(|i| i.terminate());
    }

    /// Waits for the workers to exit; requires [`Pool::close`] or [`Pool::terminate`] first, as in
    /// Python.
    pub fn join(&self) -> Result<(), PoolError> {
        loop {
            match self.with(|i| i.join_step()) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Current worker pids.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.with(|i| i.worker_pids())
    }

    /// Workers forked so far (initial ones plus replacements).
    pub fn workers_started(&self) -> u64 {
        self.with(|i| i.workers_started())
    }

    /// How long to wait between checks of worker liveness while blocked.
    pub const LIVENESS_SLICE: Duration = inner::PARK_SLICE;
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Dropping the pool terminates and reaps its workers, as leaving Python's `with Pool()` block
        // does. Results still held afterwards report `Terminated` instead of hanging.
        self.with(|i| i.terminate());
    }
}
