//! A queue between processes: a producer child puts numbered jobs, the parent gets them in order.
//!
//! `cargo run -p ringfork --example queue`

use ringfork::{Process, Queue};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<u64>::new(8)?; // Python's Queue(8): a full queue makes `put` wait
    let q2 = q.clone(); // a clone moved into the child is how the child gets the queue
    let mut producer = Process::new(move || {
        for job in 0..1000u64 {
            q2.put(job * job).expect("the parent is alive and getting");
        }
    });
    producer.start()?;
    let mut sum = 0;
    for job in 0..1000u64 {
        let v = q.get()?; // waits; `Disconnected` if the producer died without putting
        assert_eq!(v, job * job, "FIFO order");
        sum += v;
    }
    producer.join()?;
    assert_eq!(producer.exitcode(), Some(0));
    println!("got 1000 items in order, sum {sum}");
    Ok(())
}
