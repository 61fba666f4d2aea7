//! Seed 002 "GIL / 效率测试": the notes time CPU-bound and IO-bound work single-threaded, with threads
//! and with processes, and find CPython's threads no faster (the GIL). Rust has no GIL: threads and
//! processes both use every core. The table shows the three side by side on this machine.

use super::{say, Ctx, Demo};
use ringfork::Pool;
use std::io::{Read, Write};
use std::time::Instant;

pub const DEMO: Demo = Demo {
    name: "threads",
    summary: "efficiency test: CPU- and IO-bound work single, with 4 threads, with 4 processes",
    seed: "002 GIL 效率测试",
    run,
};

/// Units of work per run (each mode does all of them).
const UNITS: u64 = 8;

/// One unit of CPU-bound work (the notes' counting loop); returns a checksum.
fn cpu_unit(seed: u64) -> u64 {
    let iters = if super::scaled(1.0).as_secs_f64() < 1.0 {
        2_000_000
    } else {
        40_000_000
    };
    let mut x = seed | 1;
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// One unit of IO-bound work (the notes' write-then-read loop); returns bytes read back.
fn io_unit(seed: u64) -> u64 {
    let lines = if super::scaled(1.0).as_secs_f64() < 1.0 {
        20_000
    } else {
        400_000
    };
    let path = std::env::temp_dir().join(format!("ringfork-io-{}-{seed}", std::process::id()));
    let mut total = 0u64;
    if let Ok(mut f) = std::fs::File::create(&path) {
        for i in 0..lines {
            // Unbuffered small writes, as the notes' `f.write` per line: one syscall each.
            let _ = f.write_all(format!("Hello world {i}\n").as_bytes());
        }
    }
    if let Ok(mut f) = std::fs::File::open(&path) {
        let mut buf = [0u8; 64];
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    let _ = std::fs::remove_file(&path);
    total
}

fn single(f: fn(u64) -> u64) -> (f64, u64) {
    let t = Instant::now();
    let sum = (0..UNITS).map(f).fold(0u64, u64::wrapping_add);
    (t.elapsed().as_secs_f64(), sum)
}

fn threads(f: fn(u64) -> u64) -> (f64, u64) {
    let t = Instant::now();
    let sum = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4u64)
            .map(|k| s.spawn(move || (k..UNITS).step_by(4).map(f).fold(0u64, u64::wrapping_add)))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or(0))
            .fold(0u64, u64::wrapping_add)
    });
    (t.elapsed().as_secs_f64(), sum)
}

fn processes(pool: &Pool, f: fn(u64) -> u64) -> Result<(f64, u64), ringfork::PoolError> {
    let t = Instant::now();
    let sum = pool
        .map_chunked(f, 0..UNITS, 1)?
        .into_iter()
        .fold(0u64, u64::wrapping_add);
    Ok((t.elapsed().as_secs_f64(), sum))
}

fn run(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    // The pool is forked before any thread exists, as fork requires.
    let pool = Pool::new(4)?;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    say(format!("{UNITS} units of work per run on {cpus} CPU(s)"));
    say(format!(
        "{:<10} {:>12} {:>12} {:>14}",
        "", "single", "4 threads", "4 processes"
    ));
    for (label, f) in [("cpu", cpu_unit as fn(u64) -> u64), ("io", io_unit as fn(u64) -> u64)] {
        let (ts, s1) = single(f);
        let (tt, s2) = threads(f);
        let (tp, s3) = processes(&pool, f)?;
        say(format!("line {label:<5} {ts:>11.3}s {tt:>11.3}s {tp:>13.3}s"));
        ctx.fact(&format!("{label}_single_s"), ts);
        ctx.fact(&format!("{label}_threads_s"), tt);
        ctx.fact(&format!("{label}_processes_s"), tp);
        ctx.check(
            s1 == s2 && s2 == s3,
            format!("{label}: all three modes computed the same result"),
        );
    }
    say("The notes measured CPython: threads made CPU-bound work slower (85 s -> 97 s) because the GIL");
    say("lets one thread run Python at a time. Rust has no GIL: threads and processes both scale with");
    say("the cores; processes add isolation (a crash kills one worker, not the program) at the price of");
    say("explicit sharing (segments, queues).");
    pool.close();
    pool.join()?;
    Ok(())
}
