//! A duplex pipe: Python's `Pipe()`. The child answers each request on its end.
//!
//! `cargo run -p ringfork --example pipe`

use ringfork::{pipe, PipeError, Process};

/// The message that ends the child's loop.
const STOP: u64 = u64::MAX;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut parent_end, mut child_end) = pipe(true)?;
    let mut child = Process::new(move || loop {
        match child_end.recv::<u64>() {
            Ok(STOP) => break,
            Ok(x) => child_end.send(&(x * 2)).expect("parent alive"),
            // The parent process died: there is nobody left to answer.
            Err(PipeError::Disconnected | PipeError::Eof) => break,
            Err(e) => panic!("{e}"),
        }
    });
    child.start()?;
    for x in 0..10u64 {
        parent_end.send(&x)?;
        assert_eq!(parent_end.recv::<u64>()?, 2 * x);
    }
    parent_end.send(&STOP)?;
    child.join()?;
    assert_eq!(child.exitcode(), Some(0));
    println!("10 round trips and a clean shutdown");
    Ok(())
}
