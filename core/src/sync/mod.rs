//! Synchronization primitives and shared values that live in shared memory, robust to owner death.
//!
//! - [`raw_mutex::RawMutex`]: the embeddable robust lock word every locking primitive builds on.
//! - [`identity`]: who the calling thread is (TID + start time), for owner words.

pub mod identity;
pub mod raw_mutex;

pub use raw_mutex::{LockError, LockOutcome, RawGuard, RawMutex, UnlockError};
