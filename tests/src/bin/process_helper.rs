//! Helper program for `tests/process.rs`: starts two daemon children (one forked, one spawned) and
//! (mode `exit`) a non-daemon child, prints their pids and start times, then returns from `main` (mode
//! `exit`) or SIGKILLs itself (mode `sigkill`). Usage: `process_helper <exit|sigkill> <segment name>`; the segment holds a `u32` cell
//! `done` that the non-daemon child sets to 1 after 300 ms of work.

use ringfork::{Process, Segment, ShmCell};
use std::io::Write;
use std::time::Duration;

fn start_time(pid: u32) -> u64 {
    ringfork_core::os::stat(pid).map(|s| s.start_time).unwrap_or(0)
}

fn sleeper(_: ringfork::process::TargetArgs) {
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn main() {
    ringfork::process::spawn_main(&[("sleeper", sleeper)]);
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: process_helper <exit|sigkill> <segment name>");
        std::process::exit(2);
    }
    let seg = Segment::open(&args[2]).expect("open segment");
    let done = ShmCell::<u32>::open(&seg, "done").expect("open cell");
    let mut daemon = Process::new(|| loop {
        std::thread::sleep(Duration::from_millis(50));
    })
    .daemon(true)
    .name("daemon");
    daemon.start().expect("start daemon");
    let dpid = daemon.pid().expect("started");
    let mut spawned = Process::target("sleeper")
        .daemon(true)
        .start_method(ringfork::StartMethod::Spawn);
    spawned.start().expect("spawn daemon");
    let spid = spawned.pid().expect("started");
    match args[1].as_str() {
        "exit" => {
            let d2 = done.clone();
            let mut worker = Process::new(move || {
                std::thread::sleep(Duration::from_millis(300));
                d2.set(1);
            })
            .name("worker");
            worker.start().expect("start worker");
            let wpid = worker.pid().expect("started");
            println!(
                "{dpid} {} {spid} {} {wpid} {}",
                start_time(dpid),
                start_time(spid),
                start_time(wpid)
            );
            std::io::stdout().flush().expect("flush");
            // Return from main without joining: the handles are dropped (detached) and the exit hook
            // terminates the daemon and joins the worker.
        }
        "sigkill" => {
            println!("{dpid} {} {spid} {}", start_time(dpid), start_time(spid));
            std::io::stdout().flush().expect("flush");
            ringfork::signal::send(std::process::id(), ringfork::signal::Signal::Kill).expect("kill self");
            std::thread::sleep(Duration::from_secs(60));
        }
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2);
        }
    }
}
