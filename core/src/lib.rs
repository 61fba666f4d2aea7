//! `ringfork-core`: everything that lives *inside* shared memory.
//!
//! This crate is `#![no_std]`. It defines the shared-memory ABI (the [`header::Header`] every object
//! starts with, the [`segment::SegmentHeader`] at the start of a ringfork segment), the [`ShmSafe`]
//! marker for plain data, the [`region::Region`] / [`region::Arena`] placement layer, the pluggable
//! blocking layer ([`wait::Wait`], with [`wait::Spin`] always and [`wait::Futex`] on Linux), and the
//! primitives built on them.
//!
//! Rules every module follows (see `docs/layout.md`):
//! 1. nothing in shared memory holds a pointer, only offsets;
//! 2. every object starts with a validated [`header::Header`];
//! 3. every index and length read from shared memory is bounded before use;
//! 4. only [`ShmSafe`] types are stored.
//!
//! # Features
//! - `futex` (default): Linux shared futexes, a monotonic clock and process liveness probes, through
//!   `rustix` without `std`. Without it only [`wait::Spin`] exists, and deadlines need a user
//!   [`time::Clock`].
#![no_std]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

// The `futex` feature probes processes by (pid, 64-bit start time) stamps stored in peer tables and
// owner words, which need 64-bit atomics.
#[cfg(all(feature = "futex", not(target_has_atomic = "64")))]
compile_error!(
    "ringfork-core's `futex` feature needs a target with 64-bit atomics; build with \
     `--no-default-features` for this target (see docs/embedded.md)"
);

pub mod atomic;
pub mod cell;
pub mod error;
pub mod header;
#[cfg(feature = "futex")]
pub mod os;
pub mod padded;
pub mod payload;
pub mod queue;
pub mod region;
#[cfg(target_has_atomic = "64")]
pub mod segment;
pub mod shm_safe;
pub mod sync;
pub mod time;
pub mod wait;

pub use error::{AttachError, InitError};
pub use header::{Header, Kind, ObjectParams, ABI_VERSION, MAGIC};
pub use padded::CachePadded;
pub use region::{Arena, ArenaError, Region};
pub use shm_safe::ShmSafe;
pub use time::{Deadline, Instant};
pub use wait::Wait;
