//! Measures `Pool(2).map` of tiny tasks with one task per dispatch and with default chunking.
//! `cargo run --release -p ringfork --example pool_throughput [N]`

use ringfork::Pool;
use std::time::Instant;

fn sq(x: u64) -> u64 {
    x.wrapping_mul(x)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let pool = Pool::new(2)?;
    pool.map(sq, 0..1000u64)?;
    for (label, chunk) in [("chunksize=1", Some(1)), ("default chunks", None)] {
        let start = Instant::now();
        let out = match chunk {
            Some(c) => pool.map_chunked(sq, 0..n, c)?,
            None => pool.map(sq, 0..n)?,
        };
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(out.len() as u64, n);
        assert_eq!(out[7], 49);
        println!(
            "{label:<16} {:>8.3} M tasks/s ({n} tasks in {secs:.3} s)",
            n as f64 / secs / 1e6
        );
    }
    let start = Instant::now();
    for i in 0..10_000u64 {
        assert_eq!(pool.apply_async(sq, i)?.get()?, sq(i));
    }
    println!(
        "apply_async+get  {:>8.1} us/roundtrip",
        start.elapsed().as_secs_f64() * 1e6 / 10_000.0
    );
    Ok(())
}
