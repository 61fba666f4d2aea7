//! A tokio service that hands CPU-heavy jobs to a process `Pool` and awaits the results without a
//! thread per pending job (`cargo run -p ringfork --example async_pool --features async`).
//!
//! Clients send requests over a tokio channel; the service submits each one with `apply_async` and
//! awaits the `AsyncResult` in its own task, so many jobs are in flight while the runtime's single
//! thread stays free. A worker killed mid-job fails only that job (`WorkerDied`).

use ringfork::{Pool, PoolError};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// The job: count the primes below `n` (plain data in, plain data out).
fn count_primes(n: u64) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

/// One request: the input and where to send the answer.
type Request = (u64, oneshot::Sender<Result<u64, PoolError>>);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Start the workers before the runtime (forking a process that runs threads is unsafe).
    let pool = Pool::new(2)?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<Request>(64);
        // The service: one task per job, each awaiting its pool result.
        let service = tokio::spawn(async move {
            let mut jobs = Vec::new();
            while let Some((n, reply)) = rx.recv().await {
                match pool.apply_async(count_primes, n) {
                    Ok(result) => jobs.push(tokio::spawn(async move {
                        let _ = reply.send(result.await);
                    })),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            for j in jobs {
                let _ = j.await;
            }
        });
        // Clients.
        let start = Instant::now();
        let mut answers = Vec::new();
        for n in [10_000u64, 20_000, 30_000, 40_000, 50_000, 60_000] {
            let (reply, answer) = oneshot::channel();
            tx.send((n, reply)).await?;
            answers.push((n, answer));
        }
        drop(tx);
        for (n, answer) in answers {
            let primes = answer.await??;
            assert_eq!(primes, count_primes(n));
            println!("primes below {n}: {primes}");
        }
        service.await?;
        println!(
            "6 jobs on 2 worker processes in {:.1} ms, awaited from one thread",
            start.elapsed().as_secs_f64() * 1e3
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
