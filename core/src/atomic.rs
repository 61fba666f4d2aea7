//! Atomics used by shared objects, swapped for `loom`'s under `cfg(loom)` so the state machines can be
//! model-checked.
//!
//! Under `cfg(loom)` only in-process (thread) models run; nothing is placed in real shared memory.

#[cfg(not(loom))]
pub use core::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// A spin-loop hint that yields to the model checker under loom.
#[inline]
pub fn spin_hint() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}
