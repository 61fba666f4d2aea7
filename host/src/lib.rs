//! `ringfork`: Python's `multiprocessing`, rebuilt in Rust on raw shared memory.
//!
//! This is the host shell around [`ringfork_core`] (the `no_std` crate of everything that lives in
//! shared memory): shared-memory [`Segment`]s, handle types that clone across `fork`, and the tools
//! behind the `ringfork` command. See `docs/architecture.md`.

pub mod handle;
pub mod segment;
pub mod shmls;
pub mod sync;

pub use handle::ShmCell;
pub use ringfork_core as core;
pub use segment::{Segment, SegmentError};
pub use sync::{
    Array, Barrier, BoundedSemaphore, Condition, Event, Lock, Mutex, RLock, RawArray, RawValue, Semaphore, SpinLock,
    Value,
};
