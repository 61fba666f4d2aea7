//! Two unrelated processes meet through a named segment: this program creates `/dev/shm/<name>`
//! with a queue and a counter in it, starts a second, independent program (itself, re-executed with
//! `reader NAME`) that opens the segment by name, and exchanges data with it.
//!
//! `cargo run -p ringfork --example named_segment`

use ringfork::{Queue, Segment, Value};
use std::process::Command;

fn reader(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let seg = Segment::open(name)?; // validated: a ringfork segment, its header ready
    let q = Queue::<u32>::open(&seg, "numbers")?; // validated: a queue of u32
    let total = Value::<u64>::open(&seg, "total")?;
    for _ in 0..100 {
        let n = q.get()?;
        total.with_lock(|t| *t += u64::from(n))?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "reader" {
        return reader(&args[2]);
    }
    let name = format!("ringfork-example-{}", std::process::id());
    let seg = Segment::create(&name, 1 << 16)?; // mode 0600, fails if the name exists
    let q = Queue::<u32>::new_in(&seg, "numbers", 16)?;
    let total = Value::new_in(&seg, "total", 0u64)?;
    let mut other = Command::new(std::env::current_exe()?).args(["reader", &name]).spawn()?;
    for n in 1..=100u32 {
        q.put(n)?;
    }
    let status = other.wait()?;
    Segment::unlink(&name)?; // the name goes; mappings stay valid until dropped
    assert!(status.success(), "reader failed: {status}");
    assert_eq!(total.get()?, 5050);
    println!("the other process added up 1..=100: {}", total.get()?);
    Ok(())
}
