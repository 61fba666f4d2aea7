//! Any serde type through every channel (issue 17's "first program", unchanged): records with
//! `String`s and `Vec`s through a `Queue` from a child process (one of them 8 MiB, far larger than the
//! queue's buffer), a `Vec<String>` through a pipe, `String` arguments through `Pool::map`, plain `u64`s
//! through a `Queue` (copied, no encoding), and a `#[derive(ShmSafe)]` struct in a `Value`.
//!
//! Run: `cargo run -p ringfork --example any_message`

//! The program is in `program.rs`, byte for byte as issue 17 gives it (included, so `cargo fmt` leaves its
//! layout alone).

include!("program.rs");
