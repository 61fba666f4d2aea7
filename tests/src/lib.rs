//! Shared support for ringfork's cross-process tests.
//!
//! # The test-process model
//! Forking from a multi-threaded process is unsafe in general (the child inherits locks other
//! threads held), and libtest runs tests on threads. So every test binary in this package that forks
//! uses `harness = false` and [`harness::run`]: the binary re-executes itself once per test case, each
//! case runs alone on the main thread of a fresh, single-threaded process in its own process group,
//! under a deadline. When a case ends (or hangs past its deadline) the harness SIGKILLs its whole
//! process group, so nothing it started outlives it. Output mimics libtest, so `cargo test` reports
//! these binaries like any other.

pub mod harness;
pub mod util;
