//! Helper program for `tests/process.rs`: spawns a child, but its `main` forgets the dispatch call
//! (`spawn_main` / `spawn_main_hook`), so the spawned child runs this `main` again.
//!
//! Every run of `main` prints `main pid <pid> gen <generation>` first (the generation comes from
//! `RF_FORGOT_GEN`, set before spawning). Mode (`RF_FORGOT_MODE`): `respawn` (the accidental child
//! goes on to spawn again, as the original program would) or `return` (the accidental child's main
//! returns at once) or `pool` (the original process starts a one-worker spawn pool; the accidental
//! child, the worker, reaches `PoolBuilder::build` in its `main`). The original process prints how
//! its `join` (or its pool call) ended. A safety net stops at
//! generation 3 (printing `runaway`) so a broken build cannot fork-bomb the test machine.

use ringfork::process::{register_target, Process, StartMethod, TargetArgs};
use std::io::Write;

fn target(_: TargetArgs) {}

fn square(x: u64) -> u64 {
    x * x
}

fn main() {
    // Registered, but no spawn_main_hook: the mistake under test.
    register_target("forgot", target).unwrap();
    let gen: u32 = std::env::var("RF_FORGOT_GEN")
        .ok()
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    println!("main pid {} gen {gen}", std::process::id());
    let _ = std::io::stdout().flush();
    let mode = std::env::var("RF_FORGOT_MODE").unwrap_or_default();
    if gen >= 3 {
        println!("runaway");
        return;
    }
    if gen > 0 && mode == "return" {
        return;
    }
    // Single-threaded here: setting the environment for the child is sound.
    std::env::set_var("RF_FORGOT_GEN", (gen + 1).to_string());
    if mode == "pool" {
        let pool = ringfork::Pool::builder()
            .processes(1)
            .start_method(StartMethod::Spawn)
            .build()
            .unwrap();
        match pool.apply(square, 3) {
            Ok(v) => println!("pool ok {v}"),
            Err(e) => println!("pool error: {e}"),
        }
        return;
    }
    let mut p = Process::target("forgot").start_method(StartMethod::Spawn);
    p.start().unwrap();
    match p.join() {
        Ok(()) => println!("join ok exitcode {:?}", p.exitcode()),
        Err(e) => println!("join error: {e:?} | {e}"),
    }
}
