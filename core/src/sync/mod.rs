//! Synchronization primitives and shared values that live in shared memory, robust to owner death.
//!
//! - [`raw_mutex::RawMutex`]: the embeddable robust lock word every locking primitive builds on.
//! - [`mutex::Mutex`] (Python's `Lock` is `Mutex<()>`), [`rlock::RLock`], [`spinlock::SpinLock`].
//! - [`semaphore::Semaphore`] (bounded or not), [`event::Event`], [`condition::Condition`],
//!   [`barrier::Barrier`].
//! - [`value::Value`] / [`value::RawValue`], [`array::Array`] / [`array::RawArray`].
//! - [`identity`]: who the calling thread is (TID + start time), for owner words.
//!
//! Every object is generic over the blocking strategy `W: Wait` (default [`crate::wait::DefaultWait`])
//! and is a `Copy` view of memory placed with `init` / `attach`, like [`crate::cell::ShmCell`].

pub mod array;
pub mod barrier;
mod common;
pub mod condition;
pub mod event;
pub mod identity;
pub mod mutex;
pub mod raw_mutex;
pub mod rlock;
pub mod semaphore;
pub mod spinlock;
pub mod value;

pub use array::{Array, IndexError, RawArray};
pub use barrier::{Barrier, BarrierError};
pub use condition::{CondGuard, Condition, RawCondvar};
pub use event::Event;
pub use mutex::{LockResult, Mutex, MutexError, MutexGuard};
pub use raw_mutex::{LockError, LockOutcome, RawGuard, RawMutex, UnlockError};
pub use rlock::RLock;
pub use semaphore::{Semaphore, SemaphoreError};
pub use spinlock::{SpinGuard, SpinLock};
pub use value::{AtomicValue, RawValue, Value};
