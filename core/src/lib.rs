//! `ringfork-core`: everything that lives *inside* shared memory.
//!
//! This crate is `#![no_std]`. It defines the shared-memory ABI (the [`header::Header`] every object
//! starts with, the [`segment::SegmentHeader`] at the start of a ringfork segment), the [`ShmSafe`]
//! marker for plain data, the [`region::Region`] / [`region::Arena`] placement layer, the pluggable
//! blocking layer ([`wait::Wait`], with [`wait::Spin`] always and [`wait::Futex`] on Linux), and the
//! primitives built on them.
//!
//! An object lives in any memory both sides can reach — a `MAP_SHARED` mapping, a static buffer on a
//! microcontroller, here a local buffer — and is *initialized* by one side and *attached* (validated)
//! by the others:
//!
//! ```
//! use ringfork_core::queue::spsc::Spsc;
//! use ringfork_core::region::Region;
//! use ringfork_core::wait::Spin;
//! use ringfork_core::Deadline;
//!
//! #[repr(C, align(128))]
//! struct Buf([u8; 8192]);
//! let mut buf = Buf([0; 8192]);
//! let region = Region::from_mut(&mut buf.0);
//! assert!(Spsc::<u32>::size(16).unwrap() <= region.len());
//!
//! let ring = Spsc::<u32>::init::<Spin>(region, 16).unwrap(); // the creating side
//! let seen = Spsc::<u32>::attach::<Spin>(region, Deadline::Immediate).unwrap(); // another side
//! let (mut tx, mut rx) = (ring.producer(), seen.consumer());
//! for i in 0..10 {
//!     tx.try_push(i).unwrap();
//! }
//! assert_eq!((0..10).map(|_| rx.try_pop().unwrap()).sum::<u32>(), 45);
//! assert!(rx.try_pop().is_err()); // empty
//! ```
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
//! - `derive`: `#[derive(ShmSafe)]` (`ringfork_core::ShmSafe` then names both the trait and the
//!   derive), which checks a struct's layout at compile time; a build-time proc macro, nothing of it
//!   is linked into the program.
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
pub mod racy_copy;
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
#[cfg(feature = "derive")]
pub use ringfork_derive::ShmSafe;
pub use shm_safe::ShmSafe;
// The same derive for users of `ringfork` (its generated code names `::ringfork::core::ShmSafe`);
// `ringfork` re-exports it as `ringfork::ShmSafe`.
#[cfg(feature = "derive")]
#[doc(hidden)]
pub use ringfork_derive::RingforkShmSafe;
pub use time::{Deadline, Instant};
pub use wait::Wait;
