//! Synchronization primitives and shared values in shared memory, with Python-aligned names.
//!
//! Every type here is a thin handle over a `ringfork_core::sync` object placed in a [`crate::Segment`]:
//! `new` (its own anonymous segment), `new_in(&seg, name, ..)`, `open(&seg, name)` (validated), and a
//! cheap `Clone` to move into a child process.

mod identity;

pub use identity::install_identity;
