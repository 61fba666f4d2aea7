//! `ringfork`: Python's `multiprocessing`, rebuilt in Rust on raw shared memory.
//!
//! This is the host shell around [`ringfork_core`] (the `no_std` crate of everything that lives in
//! shared memory): shared-memory [`Segment`]s, handle types that clone across `fork`, and the tools
//! behind the `ringfork` command. See `docs/architecture.md`.

pub mod bench;
pub mod child;
pub mod demo;
pub mod handle;
pub mod pipe;
pub mod pool;
pub mod process;
pub mod queue;
pub mod segment;
pub mod shmls;
pub mod signal;
pub mod stress;
pub mod sync;

pub use handle::ShmCell;
pub use pipe::{pipe, pipe_with, Connection, PipeError};
pub use pool::{AsyncResult, Pool, PoolBuilder, PoolError};
pub use process::{active_children, cpu_count, current_process, Process, ProcessError, StartMethod};
pub use queue::{ByteQueue, JoinableQueue, PopError, PushError, Queue, SimpleQueue, TaskDoneError};
pub use ringfork_core as core;
pub use segment::{OpenOptions, Segment, SegmentError, UnsafeEntry};
pub use sync::{
    Array, Barrier, BoundedSemaphore, Condition, Event, Lock, Mutex, RLock, RawArray, RawValue, Semaphore, SpinLock,
    Value,
};
