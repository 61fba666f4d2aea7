//! `ringfork bench`: every row measures one of our primitives and its baseline *alternately in the same
//! run*, so the ratio survives a noisy, shared machine even when absolute numbers drift.
//!
//! A row's `ratio` is how many times *better* ours is than the baseline (> 1 means ours wins), whatever
//! the unit's direction, so a script can check every target without knowing the units.

pub mod async_rows;
pub mod baseline;
pub mod harness;
pub mod queue_rows;
pub mod rows;
pub mod serde_rows;
pub mod sync_rows;

pub use harness::{run, BenchOpts};

/// The group names (`ringfork bench list`).
pub fn groups() -> Vec<&'static str> {
    rows::all().into_iter().map(|(name, _)| name).collect()
}

/// The names of the rows measured against Python (`ringfork bench list`).
pub fn python_rows() -> Vec<&'static str> {
    rows::python_pairs().into_iter().map(|p| p.row).collect()
}
