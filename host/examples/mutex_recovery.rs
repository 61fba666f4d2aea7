//! Recovering a mutex whose owner was killed: a child takes the lock, starts an update and is
//! SIGKILLed half-way; the parent's `lock()` gets the lock back with `owner_died()` set, repairs the
//! data and marks it consistent. (Python's `multiprocessing.Lock` would hang here forever.)
//!
//! `cargo run -p ringfork --example mutex_recovery`

use ringfork::{Event, Mutex, Process, ShmSafe};
use std::time::Duration;

/// Two fields that must agree: `debit == credit`. Plain data: `#[derive(ShmSafe)]` checks at compile
/// time that it is `#[repr(C)]`, made of `ShmSafe` fields and free of padding.
#[derive(Clone, Copy, Debug, Default, ShmSafe)]
#[repr(C)]
struct Ledger {
    debit: u64,
    credit: u64,
}

/// `ringfork::ShmSafe` is also the trait.
fn assert_plain<T: ShmSafe>() {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    assert_plain::<Ledger>();
    let ledger = Mutex::new(Ledger::default())?;
    let halfway = Event::new()?;
    let (l2, h2) = (ledger.clone(), halfway.clone());
    let mut child = Process::new(move || {
        let mut g = l2.lock().expect("free");
        g.debit += 100; // ... and dies before the matching credit
        h2.set();
        std::thread::sleep(Duration::from_secs(60));
    });
    child.start()?;
    assert!(halfway.wait_timeout(Duration::from_secs(10)));
    child.kill()?; // SIGKILL while it holds the lock
    child.join()?;
    println!("child exit code: {:?}", child.exitcode());

    let mut g = ledger.lock()?; // taken over from the dead owner within milliseconds
    assert!(g.owner_died());
    println!("owner died mid-update: {:?}", *g);
    g.credit = g.debit; // repair the invariant
    g.mark_consistent(); // without this, dropping the guard would make the mutex unusable
    drop(g);
    let g = ledger.lock()?;
    assert!(!g.owner_died());
    assert_eq!(g.debit, g.credit);
    println!("repaired: {:?}", *g);
    Ok(())
}
