//! `ringfork`: Python's `multiprocessing`, rebuilt in Rust on raw shared memory.
//!
//! This is the host shell around [`ringfork_core`] (the `no_std` crate of everything that lives in
//! shared memory): shared-memory [`Segment`]s, processes, the pool, queues, pipes, locks and shared values,
//! as handle types that clone across `fork`. See `docs/architecture.md`.

mod child;
pub mod handle;
pub mod os;
pub mod pipe;
pub mod pool;
pub mod process;
pub mod queue;
pub mod segment;
pub mod signal;
pub mod sync;

pub use handle::ShmCell;
pub use pipe::{pipe, pipe_with, Connection, PipeError};
pub use pool::{AsyncResult, Pool, PoolBuilder, PoolError};
pub use process::{active_children, cpu_count, current_process, Process, ProcessError, StartMethod};
pub use queue::{ByteQueue, JoinableQueue, PopError, PushError, Queue, SimpleQueue, TaskDoneError};
pub use ringfork_core as core;
pub use segment::{Segment, SegmentError};
pub use sync::{
    Array, Barrier, BoundedSemaphore, Condition, Event, Lock, Mutex, RLock, RawArray, RawValue, Semaphore, SpinLock,
    Value,
};

/// Spawn targets the library itself provides (the pool's worker entry point). The process layer looks
/// names up here before the user's registered targets; defining the table at the crate root keeps the
/// layers importing downward only (process does not know the pool).
pub(crate) const BUILTIN_TARGETS: &[(&str, process::TargetFn)] = &[(pool::SPAWN_WORKER_TARGET, pool::spawned_worker)];
