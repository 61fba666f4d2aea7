//! A pool over a CPU-bound function: `Pool::map` spreads the work over worker processes.
//!
//! `cargo run --release -p ringfork --example pool`

use ringfork::Pool;

/// Counts the primes below `n` the slow way: real work for a worker.
fn primes_below(n: u64) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::with_cpu_count()?; // Python's Pool(): one worker per CPU
    let limits: Vec<u64> = (1..=16).map(|i| i * 2_000).collect();
    let counts = pool.map(primes_below, limits.clone())?; // results in input order
    assert_eq!(counts[0], 303, "there are 303 primes below 2000");
    for (n, c) in limits.iter().zip(&counts).step_by(5) {
        println!("{c:>5} primes below {n}");
    }
    // One task, asynchronously: the result comes back through an AsyncResult.
    let r = pool.apply_async(primes_below, 100)?;
    assert_eq!(r.get()?, 25);
    pool.close();
    pool.join()?;
    Ok(())
}
