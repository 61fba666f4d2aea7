//! Seed 001 "并发文件写入 / 文件锁": pool workers append generated phone numbers to one file, each record
//! under `flock(LOCK_EX)`. Every record is intact at the end. With `--no-lock` the same writes run
//! unlocked and records can tear (each record is written in several `write` calls here, as a
//! buffered writer flushing mid-record would, so the interleaving is visible).

use super::{say, Ctx, Demo};
use ringfork::Pool;
use serde::{Deserialize, Serialize};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

pub const DEMO: Demo = Demo {
    name: "flock",
    summary: "pool workers append phone numbers to one file under flock; every record intact",
    seed: "001 并发文件写入 文件锁",
    run,
};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Job {
    seed: u64,
    lock: bool,
    path: PathBuf,
}

/// The notes' `create_phone`: a plausible Chinese mobile number `1` + second + third + 8 digits.
fn phone(seed: u64) -> String {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    };
    let second = [3, 4, 5, 7, 8][next(5) as usize];
    let third = match second {
        3 | 8 => next(10),
        4 => [5, 7, 9][next(3) as usize],
        5 => [0, 1, 2, 3, 5, 6, 7, 8, 9][next(9) as usize],
        _ => [0, 1, 2, 3, 5, 6, 7, 8][next(8) as usize],
    };
    format!("1{second}{third}{:08}", next(100_000_000))
}

/// Appends one record; returns 1 on success.
fn create_phone(job: Job) -> u32 {
    let Ok(f) = std::fs::OpenOptions::new().append(true).create(true).open(&job.path) else {
        return 0;
    };
    let fd = f.as_raw_fd();
    if job.lock {
        // SAFETY: flock on an fd we own; released when the file is closed.
        if unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
            return 0;
        }
    }
    let rec = format!("{}|", phone(job.seed));
    // Three writes per record: a record is only intact if nobody writes in between.
    for part in [&rec[..3], &rec[3..7], &rec[7..]] {
        // SAFETY: writing our own buffer to an fd we own.
        unsafe { libc::write(fd, part.as_ptr().cast(), part.len()) };
    }
    1
}

fn run(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let lock = std::env::var_os("RINGFORK_DEMO_NO_LOCK").is_none();
    let dir = std::env::temp_dir().join(format!("ringfork-flock-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("phone.txt");
    let n: u64 = if ctx.quick { 2_000 } else { 20_000 };
    let pool = Pool::new(3)?;
    say(format!(
        "{n} apply_async(create_phone) tasks on Pool(3), {} flock",
        if lock { "with" } else { "WITHOUT" }
    ));
    let results: Vec<_> = (0..n)
        .map(|i| {
            pool.apply_async(
                create_phone,
                Job {
                    seed: i + 1,
                    lock,
                    path: path.clone(),
                },
            )
        })
        .collect::<Result<_, _>>()?;
    let ok: u64 = results.iter().map(|r| r.get().map(u64::from)).sum::<Result<u64, _>>()?;
    pool.close();
    pool.join()?;
    say("--完成--");
    let text = std::fs::read_to_string(&path)?;
    let records: Vec<&str> = text.split('|').filter(|r| !r.is_empty()).collect();
    let intact = records
        .iter()
        .filter(|r| r.len() == 11 && r.starts_with('1') && r.bytes().all(|b| b.is_ascii_digit()))
        .count();
    let torn = records.len() - intact;
    say(format!(
        "{} records in phone.txt, {intact} intact, {torn} torn; first: {:?}",
        records.len(),
        records.first()
    ));
    ctx.fact("locked", lock);
    ctx.fact("tasks", n);
    ctx.fact("records", records.len());
    ctx.fact("intact", intact);
    ctx.fact("torn", torn);
    ctx.check(ok == n, "every task appended its record");
    if lock {
        ctx.check(intact as u64 == n && torn == 0, "under flock every record is intact");
    } else {
        say(format!(
            "without the lock, {torn} record(s) tore (the count varies run to run; 0 is possible)"
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
