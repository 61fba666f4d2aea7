//! A pool task that panics, and one whose worker is killed: each fails alone, with a typed error,
//! and every other task completes. (Python's `Pool` hangs forever on a killed worker.)
//!
//! `cargo run -p ringfork --example pool_failures`

use ringfork::signal::{self, Signal};
use ringfork::{Pool, PoolError};

fn work(x: u64) -> u64 {
    if x == 3 {
        panic!("task {x} cannot be done");
    }
    if x == 5 {
        // The worker process dies mid-task, as if the OOM killer chose it.
        let _ = signal::send(ringfork::os::getpid(), Signal::Kill);
    }
    x * 10
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(2)?;
    let results: Vec<_> = (0..8u64).map(|x| pool.apply_async(work, x)).collect::<Result<_, _>>()?;
    for (x, r) in results.iter().enumerate() {
        match r.get() {
            Ok(v) => println!("task {x}: {v}"),
            Err(PoolError::TaskPanicked { message }) => {
                assert_eq!(x, 3);
                println!("task {x}: panicked: {message}");
            }
            Err(PoolError::WorkerDied { signal, .. }) => {
                assert_eq!(x, 5);
                println!("task {x}: its worker died (signal {signal:?}); the pool replaced it");
            }
            Err(e) => return Err(e.into()),
        }
    }
    // The pool is whole again: every worker slot is filled.
    assert_eq!(pool.map(work, vec![1, 2])?, vec![10, 20]);
    Ok(())
}
