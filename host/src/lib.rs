//! `ringfork`: Python's `multiprocessing`, rebuilt in Rust on raw shared memory.
//!
//! Processes, a pool that survives dying workers, queues, pipes, locks, semaphores, events,
//! conditions, barriers and shared values — each a cheap-to-clone handle to an object in shared
//! memory, so moving a clone into a child's closure is how you share it. The objects themselves live
//! in [`ringfork_core`] (`no_std`, with a validated, versioned layout).
//!
//! ```
//! use ringfork::{Pool, Process, Queue, Value};
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let q = Queue::<u64>::new(16)?;              // Python's Queue(16)
//!     let counter = Value::new(0u64)?;             // Value('Q', 0), with its own robust lock
//!     let (q2, c2) = (q.clone(), counter.clone());
//!     let mut p = Process::new(move || {           // Process(target=...)
//!         q2.put(42).unwrap();
//!         c2.with_lock(|v| *v += 1).unwrap();
//!     });
//!     p.start()?;
//!     assert_eq!(q.get()?, 42);
//!     p.join()?;
//!     assert_eq!(p.exitcode(), Some(0));
//!     assert_eq!(counter.get()?, 1);
//!
//!     let pool = Pool::new(2)?;                    // a worker killed mid-task fails only that task
//!     assert_eq!(pool.map(square, 0..4u64)?, vec![0, 1, 4, 9]);
//!     Ok(())
//! }
//! ```
//!
//! Every error is `'static + Send + Sync`, so `?` works everywhere; a lock taken over from a dead
//! holder comes back as a guard with [`MutexGuard::owner_died`](sync::MutexGuard::owner_died) set.
//! See `docs/python.md` for the Python name of everything and `host/examples/` for one program per
//! capability.
//!
//! # Only the user API is public
//! The pool's task slots, keys and arenas, the spawn protocol and the fork internals are private:
//! safe code cannot forge a task (a function pointer plus raw offsets) for a worker to run.
//!
//! ```compile_fail
//! use ringfork::pool::task::{run_slot, Key}; // private: the pool's task protocol
//! let _ = Key::from_words(1, 2);
//! ```
//!
//! ```compile_fail
//! use ringfork::pool::shared::TaskSlot; // private: the pool's shared layout
//! ```
//!
//! ```compile_fail
//! use ringfork::process::sys::fork; // private: `ringfork::os::fork` is the (unsafe) public one
//! ```
//!
//! # One access mode per object
//! A locked [`Value`] has no lock-free path (that would race with `with_lock`); lock-free counters
//! are [`RawValue`]s:
//!
//! ```compile_fail
//! let v = ringfork::Value::new(0u64).unwrap();
//! v.with_lock(|x| *x += 1).unwrap();
//! v.fetch_add(1); // no such method: use RawValue for atomics
//! ```
//!
//! ```
//! let v = ringfork::RawValue::new(0u64).unwrap();
//! v.fetch_add(1);
//! assert_eq!(v.load(), 1);
//! ```

#[cfg(feature = "async")]
pub mod aio;
mod child;
pub mod encoding;
pub mod handle;
pub mod os;
pub mod pipe;
pub mod pool;
pub mod process;
pub mod queue;
pub mod segment;
pub mod signal;
pub mod sync;

pub use encoding::{Plain, Serde};
pub use handle::ShmCell;
pub use pipe::{pipe, pipe_with, Connection, PipeError};
pub use pool::{AsyncResult, Pool, PoolBuilder, PoolError};
pub use process::{active_children, cpu_count, current_process, parent_process, Process, ProcessError, StartMethod};
pub use queue::{ByteQueue, JoinableQueue, PlainQueue, PopError, PushError, Queue, SimpleQueue, TaskDoneError};
pub use ringfork_core as core;
pub use ringfork_core::{shm_safe::ShmSafe, RingforkShmSafe as ShmSafe};
pub use segment::{OpenOptions, Segment, SegmentError, UnsafeEntry};
pub use sync::{
    Array, Barrier, BoundedSemaphore, Condition, Event, Lock, Mutex, RLock, RawArray, RawValue, Semaphore, SpinLock,
    Value,
};

/// Spawn targets the library itself provides (the pool's worker entry point). The process layer looks
/// names up here before the user's registered targets; defining the table at the crate root keeps the
/// layers importing downward only (process does not know the pool).
pub(crate) const BUILTIN_TARGETS: &[(&str, process::TargetFn)] = &[(pool::SPAWN_WORKER_TARGET, pool::spawned_worker)];
