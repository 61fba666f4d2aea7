//! Synchronization primitives and shared values across processes (issue 5).

use ringfork::sync::{BarrierError, LockError, SemaphoreError, UnlockError};
use ringfork::{
    Array, Barrier, BoundedSemaphore, Condition, Event, Lock, Mutex, RLock, RawArray, RawValue, Segment, Semaphore,
    Value,
};
use ringfork_core::sync::MutexError;
use ringfork_core::time::{Clock, OsClock};
use ringfork_core::ShmSafe;
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::{fork_child, join_ok, wait_child, wait_until};
use std::time::{Duration, Instant};

const JOIN: Duration = Duration::from_secs(120);

fn now_ns() -> u64 {
    OsClock::now().unwrap().0
}

fn kill9(pid: libc::pid_t) {
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
}

fn value_counter_8_processes_exact() {
    let v = Value::new(0u64).unwrap();
    // A start gate, so the children really overlap instead of finishing one by one.
    let go = Event::new().unwrap();
    let pids: Vec<_> = (0..8)
        .map(|_| {
            let (v, go) = (v.clone(), go.clone());
            fork_child(move || {
                go.wait();
                for _ in 0..100_000 {
                    *v.get_lock().unwrap() += 1;
                }
            })
        })
        .collect();
    go.set();
    for p in pids {
        join_ok(p, JOIN);
    }
    assert_eq!(v.get().unwrap(), 800_000);

    // The same without the lock: read, then write. Updates can be lost (a demonstration, not a
    // pass/fail on the count), but never more than were attempted.
    let raw = RawValue::new(0u64).unwrap();
    let pids: Vec<_> = (0..8)
        .map(|_| {
            let raw = raw.clone();
            fork_child(move || {
                for _ in 0..100_000 {
                    let x = raw.get();
                    raw.set(x + 1);
                }
            })
        })
        .collect();
    for p in pids {
        join_ok(p, JOIN);
    }
    let unlocked = raw.get();
    eprintln!("without the lock: {unlocked} of 800000 increments survived");
    assert!(unlocked <= 800_000 && unlocked > 0);
    // The atomic fast path (RawValue: no lock, one access mode) loses nothing.
    raw.set(0);
    let pids: Vec<_> = (0..4)
        .map(|_| {
            let raw = raw.clone();
            fork_child(move || {
                for _ in 0..50_000 {
                    raw.fetch_add(1);
                }
            })
        })
        .collect();
    for p in pids {
        join_ok(p, JOIN);
    }
    assert_eq!(raw.load(), 200_000);
}

fn mutual_exclusion_checker() {
    let lock = Lock::new(()).unwrap();
    let occupied = RawValue::new(0u32).unwrap();
    let violations = RawValue::new(0u64).unwrap();
    let go = Event::new().unwrap();
    let pids: Vec<_> = (0..4)
        .map(|_| {
            let (lock, occupied, violations, go) = (lock.clone(), occupied.clone(), violations.clone(), go.clone());
            fork_child(move || {
                go.wait();
                for _ in 0..200_000 {
                    let g = lock.lock().unwrap();
                    if occupied.compare_exchange(0, 1).is_err() {
                        violations.fetch_add(1);
                    }
                    occupied.store(0);
                    drop(g);
                }
            })
        })
        .collect();
    go.set();
    for p in pids {
        join_ok(p, JOIN);
    }
    assert_eq!(
        violations.load(),
        0,
        "two processes were inside the critical section at once"
    );
    assert!(!lock.is_locked());
}

/// A child takes the mutex, says so, and sleeps; it is SIGKILLed; another process must get OwnerDied
/// within 200 ms of the kill.
fn kill_holder(m: &Mutex<u64>) -> (libc::pid_t, Event) {
    let held = Event::new().unwrap();
    let (m2, h2) = (m.clone(), held.clone());
    let pid = fork_child(move || {
        let mut g = m2.lock().unwrap();
        *g = 999; // a half-done update
        h2.set();
        std::thread::sleep(Duration::from_secs(600));
        drop(g);
    });
    assert!(held.wait_timeout(Duration::from_secs(10)), "holder never locked");
    (pid, held)
}

fn owner_killed_gives_owner_died_then_recovers() {
    let m = Mutex::new(7u64).unwrap();
    let (holder, _) = kill_holder(&m);
    // A waiter in another process, blocked before the kill.
    let killed_at = RawValue::new(0u64).unwrap();
    let (m2, k2) = (m.clone(), killed_at.clone());
    let waiter = fork_child(move || match m2.lock() {
        Ok(mut g) if g.owner_died() => {
            let took = now_ns().saturating_sub(k2.load());
            assert!(k2.load() != 0, "lock returned before the owner was killed");
            assert!(
                took < 200_000_000,
                "OwnerDied came {} ms after the kill",
                took / 1_000_000
            );
            assert_eq!(*g, 999, "the dead owner's partial write is visible for repair");
            *g = 7;
            g.mark_consistent();
        }
        other => panic!("expected OwnerDied, got {:?}", other.map(|_| ())),
    });
    std::thread::sleep(Duration::from_millis(100)); // let the waiter park
    killed_at.store(now_ns());
    kill9(holder);
    join_ok(waiter, Duration::from_secs(10));
    let st = wait_child(holder, Duration::from_secs(10));
    assert!(libc::WIFSIGNALED(st));
    // Repaired: a normal mutex again, for everyone.
    *m.lock().unwrap() += 1;
    let m3 = m.clone();
    join_ok(
        fork_child(move || assert_eq!(*m3.lock().unwrap(), 8)),
        Duration::from_secs(10),
    );
}

fn owner_killed_without_repair_is_not_recoverable() {
    let m = Mutex::new(1u64).unwrap();
    let (holder, _) = kill_holder(&m);
    kill9(holder);
    wait_child(holder, Duration::from_secs(10));
    let start = Instant::now();
    match m.lock() {
        Ok(g) if g.owner_died() => drop(g), // no mark_consistent
        other => panic!("expected OwnerDied, got {:?}", other.map(|_| ())),
    }
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(matches!(m.lock(), Err(LockError::NotRecoverable)));
    let m2 = m.clone();
    join_ok(
        fork_child(move || {
            assert!(matches!(m2.lock(), Err(LockError::NotRecoverable)));
            assert!(matches!(m2.try_lock(), Err(LockError::NotRecoverable)));
        }),
        Duration::from_secs(10),
    );
}

fn ownership_is_per_process_and_checked() {
    let lock = Lock::new(()).unwrap();
    let g = lock.lock().unwrap();
    let l2 = lock.clone();
    join_ok(
        fork_child(move || {
            // The child inherited the parent's *hold* in memory, not its ownership.
            assert!(matches!(l2.try_lock(), Err(LockError::TimedOut)));
            let start = Instant::now();
            assert!(matches!(
                l2.lock_timeout(Duration::from_millis(100)),
                Err(LockError::TimedOut)
            ));
            let el = start.elapsed();
            assert!(
                el >= Duration::from_millis(100) && el < Duration::from_secs(2),
                "{el:?}"
            );
        }),
        Duration::from_secs(10),
    );
    drop(g);
    // A child's lock records the child's TID (the identity cache was reset by fork).
    let l3 = lock.clone();
    let held = Event::new().unwrap();
    let release = Event::new().unwrap();
    let (h2, r2) = (held.clone(), release.clone());
    let pid = fork_child(move || {
        let _g = l3.lock().unwrap();
        h2.set();
        assert!(r2.wait_timeout(Duration::from_secs(20)));
    });
    assert!(held.wait_timeout(Duration::from_secs(10)));
    assert_eq!(lock.owner(), Some(pid as u32));
    assert!(matches!(lock.try_lock(), Err(LockError::TimedOut)));
    release.set();
    join_ok(pid, Duration::from_secs(10));
    assert!(lock.try_lock().is_ok());
}

/// Forks a child that runs `hold` (which takes a lock and keeps it), waits until `held` says so,
/// SIGKILLs the child and reaps it.
fn kill_while_holding(hold: impl FnOnce(&Event)) {
    let held = Event::new().unwrap();
    let h2 = held.clone();
    let pid = fork_child(move || {
        hold(&h2);
        std::thread::sleep(Duration::from_secs(600));
    });
    assert!(held.wait_timeout(Duration::from_secs(10)), "the holder never locked");
    kill9(pid);
    assert!(libc::WIFSIGNALED(wait_child(pid, Duration::from_secs(10))));
}

/// Retries `attempt` (a non-blocking lock) every millisecond while it reports "held", for at most
/// 2 s; returns the first other answer. A dead owner must be taken over within one probe slice.
fn retry_nonblocking<R>(mut attempt: impl FnMut() -> Option<R>) -> R {
    let start = Instant::now();
    loop {
        if let Some(r) = attempt() {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "a non-blocking lock kept reporting TimedOut on a dead owner's lock"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Issue 16 item 6 (glibc tst-robust2): try_lock / lock_timeout(0) on a lock whose owner was killed
/// takes it over and reports OwnerDied, for every lock flavour.
fn try_lock_on_a_dead_owner_reports_owner_died() {
    let m = Mutex::new(1u64).unwrap();
    let m2 = m.clone();
    kill_while_holding(move |held| {
        std::mem::forget(m2.lock().unwrap());
        held.set();
    });
    let mut g = retry_nonblocking(|| match m.try_lock() {
        Err(LockError::TimedOut) => None,
        Ok(g) if g.owner_died() => Some(g),
        other => panic!("Mutex::try_lock: expected OwnerDied, got {:?}", other.map(|_| ())),
    });
    g.mark_consistent();
    drop(g);
    assert!(m.try_lock().is_ok());

    let lock = Lock::new(()).unwrap();
    let l2 = lock.clone();
    kill_while_holding(move |held| {
        std::mem::forget(l2.lock().unwrap());
        held.set();
    });
    let mut g = retry_nonblocking(|| match lock.lock_timeout(Duration::ZERO) {
        Err(LockError::TimedOut) => None,
        Ok(g) if g.owner_died() => Some(g),
        other => panic!("Lock::lock_timeout(0): expected OwnerDied, got {:?}", other.map(|_| ())),
    });
    g.mark_consistent();
    drop(g);

    let r = RLock::new().unwrap();
    let r2 = r.clone();
    kill_while_holding(move |held| {
        assert!(!r2.acquire().unwrap().owner_died());
        assert!(!r2.acquire().unwrap().owner_died());
        held.set();
    });
    let outcome = retry_nonblocking(|| match r.try_acquire() {
        Err(LockError::TimedOut) => None,
        other => Some(other),
    });
    assert_eq!(outcome, Ok(ringfork::sync::LockOutcome::OwnerDied));
    assert_eq!(r.depth(), 1);
    r.mark_consistent().unwrap();
    r.release().unwrap();

    let v = Value::new(5u64).unwrap();
    let v2 = v.clone();
    kill_while_holding(move |held| {
        std::mem::forget(v2.get_lock().unwrap());
        held.set();
    });
    let mut g = retry_nonblocking(|| match v.lock_timeout(Duration::ZERO) {
        Err(LockError::TimedOut) => None,
        Ok(g) if g.owner_died() => Some(g),
        other => panic!(
            "Value::lock_timeout(0): expected OwnerDied, got {:?}",
            other.map(|_| ())
        ),
    });
    assert_eq!(*g, 5);
    g.mark_consistent();
    drop(g);
    assert_eq!(v.get().unwrap(), 5);

    let a = Array::new(&[1u32, 2]).unwrap();
    let a2 = a.clone();
    kill_while_holding(move |held| {
        std::mem::forget(a2.get_lock().unwrap());
        held.set();
    });
    let mut g = retry_nonblocking(|| match a.lock_timeout(Duration::ZERO) {
        Err(LockError::TimedOut) => None,
        Ok(g) if g.owner_died() => Some(g),
        other => panic!(
            "Array::lock_timeout(0): expected OwnerDied, got {:?}",
            other.map(|_| ())
        ),
    });
    g.mark_consistent();
    drop(g);
    assert_eq!(a.to_vec().unwrap(), vec![1, 2]);
}

/// Issue 16 item 7: `mark_consistent` on a lock that is not in the owner-died state is refused
/// (POSIX EINVAL).
fn mark_consistent_without_owner_death_is_an_error() {
    let r = RLock::new().unwrap();
    assert!(!r.acquire().unwrap().owner_died());
    assert_eq!(r.mark_consistent(), Err(UnlockError::NotInconsistent));
    r.release().unwrap();
    assert!(matches!(r.mark_consistent(), Err(UnlockError::NotOwner { owner: 0 })));
    let m = Mutex::new(0u32).unwrap();
    let g = m.lock().unwrap();
    assert_eq!(g.raw().mark_consistent(), Err(UnlockError::NotInconsistent));
    drop(g);
    assert!(!m.is_locked());
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Ring {
    items: [u64; 8],
    head: u64,
    tail: u64,
    done_producers: u64,
}
// SAFETY: repr(C), only u64 fields (checked below): every bit pattern is valid, no pointers.
unsafe impl ShmSafe for Ring {}
ringfork_core::assert_shm_safe_fields!(Ring: [u64; 8], u64, u64, u64);

fn condition_bounded_buffer_exactly_once() {
    const PER: u64 = 20_000;
    const PRODUCERS: u64 = 2;
    let c = Condition::new(Ring {
        items: [0; 8],
        head: 0,
        tail: 0,
        done_producers: 0,
    })
    .unwrap();
    let seen = RawArray::new(&vec![0u32; (PER * PRODUCERS) as usize]).unwrap();
    let mut pids = Vec::new();
    for p in 0..PRODUCERS {
        let c = c.clone();
        pids.push(fork_child(move || {
            for i in 0..PER {
                let g = c.lock().unwrap();
                let mut g = g.wait_while(|r| r.tail.wrapping_sub(r.head) >= 8).unwrap();
                let slot = (g.tail % 8) as usize;
                g.items[slot] = p * PER + i;
                g.tail += 1;
                g.notify_all();
                drop(g);
            }
            let mut g = c.lock().unwrap();
            g.done_producers += 1;
            g.notify_all();
        }));
    }
    for _ in 0..2 {
        let (c, seen) = (c.clone(), seen.clone());
        pids.push(fork_child(move || loop {
            let g = c.lock().unwrap();
            let mut g = g
                .wait_while(|r| r.tail == r.head && r.done_producers < PRODUCERS)
                .unwrap();
            if g.tail == g.head {
                return; // drained and every producer done
            }
            let item = g.items[(g.head % 8) as usize];
            g.head += 1;
            g.notify_all();
            drop(g);
            seen.fetch_add(item as usize, 1).expect("item out of range");
        }));
    }
    for p in pids {
        join_ok(p, JOIN);
    }
    let counts = seen.to_vec();
    let lost = counts.iter().filter(|&&n| n == 0).count();
    let dup = counts.iter().filter(|&&n| n > 1).count();
    assert_eq!((lost, dup), (0, 0), "lost {lost}, duplicated {dup}");
}

fn condition_wait_timeout_bounds() {
    let c = Condition::new(()).unwrap();
    let g = c.lock().unwrap();
    let start = Instant::now();
    let (_g, timed_out) = g.wait_timeout(Duration::from_millis(100)).unwrap();
    let el = start.elapsed();
    assert!(timed_out);
    assert!(
        el >= Duration::from_millis(100) && el < Duration::from_secs(2),
        "{el:?}"
    );
}

/// Issue 15 item 9: a timed condition wait returns by its deadline plus a bounded margin even when
/// a live process takes the lock during the wait and never lets go; it then reports TimedOut
/// without the lock instead of blocking to re-take it.
fn condition_wait_timeout_is_bounded_by_a_stuck_holder() {
    let c = Condition::new(0u32).unwrap();
    let g = c.lock().unwrap();
    let held = Event::new().unwrap();
    let (c2, h2) = (c.clone(), held.clone());
    // Blocks on the lock until our wait releases it, then holds it and sleeps (live but stuck).
    let holder = fork_child(move || {
        let g = c2.lock().unwrap();
        h2.set();
        std::thread::sleep(Duration::from_secs(600));
        drop(g);
    });
    // The holder is asleep on the lock (state S) before we wait, so it takes the lock as soon as the
    // wait releases it, long before the wait's deadline.
    assert!(wait_until(Duration::from_secs(10), || ringfork_core::os::stat(
        holder as u32
    )
    .is_ok_and(|s| s.state == b'S')));
    let start = Instant::now();
    let r = g.wait_timeout(Duration::from_secs(1));
    let el = start.elapsed();
    assert!(held.is_set(), "the holder never got the lock during the wait");
    match r {
        Err(MutexError::TimedOut) => {}
        other => panic!("expected TimedOut without the lock, got {:?}", other.map(|_| ())),
    }
    assert!(el >= Duration::from_secs(1) && el < Duration::from_secs(3), "{el:?}");
    assert!(
        matches!(c.try_lock(), Err(LockError::TimedOut)),
        "the holder still has it"
    );
    kill9(holder);
    wait_child(holder, Duration::from_secs(10));
}

fn condition_waiter_reacquires_from_dead_owner() {
    let c = Condition::new(0u32).unwrap();
    let c2 = c.clone();
    let waiter = fork_child(move || {
        let mut g = c2.lock().unwrap();
        *g = 1; // "I am waiting"
        match g.wait_while(|v| *v != 2) {
            Err(MutexError::OwnerDied(mut g)) => {
                assert_eq!(*g, 2, "the dead owner's update is visible");
                g.mark_consistent();
            }
            other => panic!("expected OwnerDied on reacquire, got {:?}", other.map(|_| ())),
        }
    });
    // Wait (outside the lock) until the waiter is parked in wait: it set 1 and released the lock.
    assert!(wait_until(Duration::from_secs(10), || c
        .try_lock()
        .map(|g| *g == 1)
        .unwrap_or(false)));
    let held = Event::new().unwrap();
    let (c3, h3) = (c.clone(), held.clone());
    let holder = fork_child(move || {
        let mut g = c3.lock().unwrap();
        *g = 2;
        g.notify_all();
        h3.set();
        std::thread::sleep(Duration::from_secs(600));
        drop(g);
    });
    assert!(held.wait_timeout(Duration::from_secs(10)));
    kill9(holder);
    join_ok(waiter, Duration::from_secs(10));
    wait_child(holder, Duration::from_secs(10));
    assert_eq!(*c.lock().unwrap(), 2);
}

fn barrier_rounds_give_each_index_once() {
    const ROUNDS: usize = 1000;
    let b = Barrier::new(4).unwrap();
    let slots = RawArray::new(&vec![0u32; ROUNDS * 4]).unwrap();
    let pids: Vec<_> = (0..4)
        .map(|_| {
            let (b, slots) = (b.clone(), slots.clone());
            fork_child(move || {
                for r in 0..ROUNDS {
                    let idx = b.wait().unwrap() as usize;
                    assert!(idx < 4);
                    slots.fetch_add(r * 4 + idx, 1).unwrap();
                }
            })
        })
        .collect();
    for p in pids {
        join_ok(p, JOIN);
    }
    assert!(
        slots.to_vec().iter().all(|&n| n == 1),
        "some round did not see indices exactly {{0,1,2,3}}"
    );
    assert!(!b.broken());
}

fn barrier_timeout_breaks_it_for_all() {
    let b = Barrier::new(3).unwrap();
    let b2 = b.clone();
    // This waiter has no timeout: only the other's timeout can release it.
    let patient = fork_child(move || assert_eq!(b2.wait(), Err(BarrierError::Broken)));
    assert!(wait_until(Duration::from_secs(10), || b.n_waiting() == 1));
    let start = Instant::now();
    assert_eq!(b.wait_timeout(Duration::from_millis(100)), Err(BarrierError::Broken));
    let el = start.elapsed();
    assert!(
        el >= Duration::from_millis(100) && el < Duration::from_secs(2),
        "{el:?}"
    );
    join_ok(patient, Duration::from_secs(10));
    assert!(b.broken());
    assert_eq!(b.wait(), Err(BarrierError::Broken));
    b.reset();
    assert!(!b.broken());
    // abort wakes a waiter too.
    let b3 = b.clone();
    let w = fork_child(move || assert_eq!(b3.wait(), Err(BarrierError::Broken)));
    assert!(wait_until(Duration::from_secs(10), || b.n_waiting() == 1));
    b.abort();
    join_ok(w, Duration::from_secs(10));
    assert!(Barrier::new(0).is_err());
}

fn semaphore_limits_concurrency() {
    let s = Semaphore::new(2).unwrap();
    let inside = RawValue::new(0u32).unwrap();
    let max_seen = RawValue::new(0u32).unwrap();
    let pids: Vec<_> = (0..5)
        .map(|_| {
            let (s, inside, max_seen) = (s.clone(), inside.clone(), max_seen.clone());
            fork_child(move || {
                for _ in 0..2_000 {
                    s.acquire();
                    let n = inside.fetch_add(1) + 1;
                    let mut m = max_seen.load();
                    while n > m {
                        match max_seen.compare_exchange(m, n) {
                            Ok(_) => break,
                            Err(cur) => m = cur,
                        }
                    }
                    std::hint::spin_loop();
                    inside.fetch_add(u32::MAX); // -1
                    s.release().unwrap();
                }
            })
        })
        .collect();
    for p in pids {
        join_ok(p, JOIN);
    }
    assert!(max_seen.load() <= 2, "{} holders at once", max_seen.load());
    assert_eq!(s.get_value(), 2);
    // Timeout bounds.
    assert!(s.try_acquire() && s.try_acquire());
    let start = Instant::now();
    assert!(!s.acquire_timeout(Duration::from_millis(100)));
    let el = start.elapsed();
    assert!(
        el >= Duration::from_millis(100) && el < Duration::from_secs(2),
        "{el:?}"
    );
    // A release in another process wakes a blocked acquirer.
    let s2 = s.clone();
    let p = fork_child(move || {
        std::thread::sleep(Duration::from_millis(50));
        s2.release().unwrap();
    });
    assert!(s.acquire_timeout(Duration::from_secs(10)));
    join_ok(p, Duration::from_secs(10));
}

fn bounded_semaphore_over_release_is_an_error() {
    let s = BoundedSemaphore::new(2).unwrap();
    s.acquire();
    s.release().unwrap();
    assert_eq!(s.release(), Err(SemaphoreError::Overflow { value: 2, n: 1, max: 2 }));
    assert!(s.release_n(3).is_err());
    assert_eq!(s.get_value(), 2);
    let seg = Segment::anonymous(4096).unwrap();
    Semaphore::new_in(&seg, "plain", 1).unwrap();
    assert!(
        BoundedSemaphore::open(&seg, "plain").is_err(),
        "an unbounded semaphore is not bounded"
    );
}

fn event_across_processes() {
    let e = Event::new().unwrap();
    let e2 = e.clone();
    let p = fork_child(move || {
        assert!(e2.wait_timeout(Duration::from_secs(10)));
    });
    std::thread::sleep(Duration::from_millis(50));
    e.set();
    join_ok(p, Duration::from_secs(10));
    e.clear();
    let start = Instant::now();
    assert!(!e.wait_timeout(Duration::from_millis(100)));
    let el = start.elapsed();
    assert!(
        el >= Duration::from_millis(100) && el < Duration::from_secs(2),
        "{el:?}"
    );
}

/// Issue 16 item 5: five processes in `wait_timeout`; the setter calls `set()` then at once
/// `clear()`; every waiter must return true (Python: the pulse, not the current flag, decides).
/// The program waits 1 s; 3 s here so that a loaded machine cannot expire a waiter before
/// the setter sees all five asleep.
fn event_pulse_wakes_every_blocked_waiter() {
    let e = Event::new().unwrap();
    let ready = RawValue::new(0u32).unwrap();
    for round in 0..20 {
        ready.store(0);
        let pids: Vec<_> = (0..5)
            .map(|_| {
                let (e, ready) = (e.clone(), ready.clone());
                fork_child(move || {
                    ready.fetch_add(1);
                    assert!(e.wait_timeout(Duration::from_secs(3)), "missed the pulse");
                })
            })
            .collect();
        // Every child announced itself and is asleep (state S: parked in the wait, the only
        // blocking call after the announcement).
        assert!(wait_until(Duration::from_secs(10), || ready.load() == 5
            && pids.iter().all(
                |&p| ringfork_core::os::stat(p as u32).is_ok_and(|s| s.state == b'S')
            )));
        e.set();
        e.clear();
        for p in pids {
            let st = wait_child(p, Duration::from_secs(10));
            assert!(
                libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
                "round {round}: a waiter timed out although it was blocked when set() was called"
            );
        }
    }
}

/// Issue 15 item 10: a process whose TID equals a dead holder's (pid reuse, simulated: the dead
/// holder's stamp stays, and the lock word is made to name our TID) does not inherit the hold: it
/// does not own it, has depth 0, cannot release it, and `acquire` takes it over with OwnerDied at
/// depth 1; a third process cannot take it as well.
fn rlock_pid_reuse_does_not_inherit_the_hold() {
    let l = RLock::new().unwrap();
    let l2 = l.clone();
    kill_while_holding(move |held| {
        assert!(!l2.acquire().unwrap().owner_died());
        assert!(!l2.acquire().unwrap().owner_died());
        held.set();
    });
    // The kernel hands the dead holder's number to us: the word names our TID (this case's process
    // is single-threaded, so its TID is its pid), the stamp is still the dead holder's.
    // Play the hostile peer through the core view of the same object (the host handle has no raw
    // access to its lock word).
    let seg = l.segment();
    let e = seg.find("rlock").unwrap();
    let core_view = ringfork_core::sync::RLock::<ringfork_core::wait::DefaultWait>::attach(
        seg.sub_region(e.offset, e.size).unwrap(),
        ringfork_core::Deadline::Immediate,
    )
    .unwrap();
    let word = core_view.raw().word();
    let flags = word.load(std::sync::atomic::Ordering::SeqCst) & !ringfork_core::sync::raw_mutex::TID_MASK;
    word.store(std::process::id() | flags, std::sync::atomic::Ordering::SeqCst);
    assert!(!l.is_owned(), "a reused pid must not own the dead holder's lock");
    assert_eq!(l.depth(), 0);
    assert!(matches!(l.release(), Err(UnlockError::NotOwner { .. })));
    assert_eq!(l.acquire(), Ok(ringfork::sync::LockOutcome::OwnerDied));
    assert_eq!(l.depth(), 1);
    let l3 = l.clone();
    join_ok(
        fork_child(move || {
            assert_eq!(l3.try_acquire(), Err(LockError::TimedOut), "a second holder");
            assert_eq!(l3.acquire_timeout(Duration::from_millis(100)), Err(LockError::TimedOut));
        }),
        Duration::from_secs(10),
    );
    l.mark_consistent().unwrap();
    l.release().unwrap();
    assert!(!core_view.raw().is_locked());
}

fn rlock_reentrant_and_owner_checked() {
    let l = RLock::new().unwrap();
    assert!(!l.acquire().unwrap().owner_died());
    assert!(!l.acquire().unwrap().owner_died());
    assert_eq!(l.depth(), 2);
    let l2 = l.clone();
    join_ok(
        fork_child(move || {
            assert!(matches!(l2.release(), Err(UnlockError::NotOwner { .. })));
            assert_eq!(l2.try_acquire(), Err(LockError::TimedOut));
        }),
        Duration::from_secs(10),
    );
    l.release().unwrap();
    l.release().unwrap();
    assert!(l.release().is_err());
    // A dead owner's RLock is taken over.
    let l3 = l.clone();
    let p = fork_child(move || {
        let _ = l3.acquire().unwrap();
        let _ = l3.acquire().unwrap();
        std::thread::sleep(Duration::from_secs(600));
    });
    assert!(wait_until(Duration::from_secs(10), || l.owner().is_some()));
    kill9(p);
    wait_child(p, Duration::from_secs(10));
    assert!(l.acquire_timeout(Duration::from_secs(5)).unwrap().owner_died());
    assert_eq!(l.depth(), 1);
    l.mark_consistent().unwrap();
    l.release().unwrap();
    assert!(!l.acquire().unwrap().owner_died());
    l.release().unwrap();
}

fn spinlock_counter_and_array_lock_across_processes() {
    let s = ringfork::SpinLock::new(0u64).unwrap();
    let a = Array::new(&[0u64; 4]).unwrap();
    let pids: Vec<_> = (0..2)
        .map(|_| {
            let (s, a) = (s.clone(), a.clone());
            fork_child(move || {
                for _ in 0..100_000 {
                    *s.lock() += 1;
                }
                for _ in 0..10_000 {
                    a.with_lock(|v| v.iter_mut().for_each(|x| *x += 1)).unwrap();
                }
            })
        })
        .collect();
    for p in pids {
        join_ok(p, JOIN);
    }
    assert_eq!(*s.lock(), 200_000);
    assert_eq!(a.to_vec().unwrap(), vec![20_000; 4]);
    let g = s.lock();
    let start = Instant::now();
    assert_eq!(
        s.lock_timeout(Duration::from_millis(50)).err(),
        Some(LockError::TimedOut)
    );
    assert!(start.elapsed() >= Duration::from_millis(50));
    drop(g);
}

fn open_validates_kind_and_type() {
    let seg = Segment::anonymous(1 << 16).unwrap();
    Value::new_in(&seg, "v", 1u64).unwrap();
    Array::new_in(&seg, "a", &[1u32, 2, 3]).unwrap();
    Event::new_in(&seg, "e").unwrap();
    assert!(Value::<u32>::open(&seg, "v").is_err(), "wrong element type");
    assert!(RawValue::<u64>::open(&seg, "v").is_err(), "locked value opened as raw");
    assert!(Mutex::<u64>::open(&seg, "v").is_err(), "wrong kind");
    assert!(Semaphore::open(&seg, "e").is_err(), "wrong kind");
    assert!(RawArray::<u32>::open(&seg, "a").is_err(), "locked array opened as raw");
    let a = Array::<u32>::open(&seg, "a").unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(a.to_vec().unwrap(), vec![1, 2, 3]);
    let e = Event::open(&seg, "e").unwrap();
    e.set();
    let s2 = seg.clone();
    join_ok(
        fork_child(move || {
            assert!(Event::open(&s2, "e").unwrap().is_set());
            Value::<u64>::open(&s2, "v").unwrap().set(5).unwrap();
        }),
        Duration::from_secs(10),
    );
    assert_eq!(Value::<u64>::open(&seg, "v").unwrap().get().unwrap(), 5);
    let err = Value::<u32>::open(&seg, "v").unwrap_err().to_string();
    assert!(err.contains("elem_size"), "{err}");
}

fn main() {
    run(&[
        Case::new("value_counter_8_processes_exact", value_counter_8_processes_exact).timeout(Duration::from_secs(240)),
        Case::new("mutual_exclusion_checker", mutual_exclusion_checker).timeout(Duration::from_secs(240)),
        Case::new(
            "owner_killed_gives_owner_died_then_recovers",
            owner_killed_gives_owner_died_then_recovers,
        ),
        Case::new(
            "owner_killed_without_repair_is_not_recoverable",
            owner_killed_without_repair_is_not_recoverable,
        ),
        Case::new(
            "ownership_is_per_process_and_checked",
            ownership_is_per_process_and_checked,
        ),
        Case::new(
            "condition_bounded_buffer_exactly_once",
            condition_bounded_buffer_exactly_once,
        )
        .timeout(Duration::from_secs(240)),
        Case::new("condition_wait_timeout_bounds", condition_wait_timeout_bounds),
        Case::new(
            "condition_wait_timeout_is_bounded_by_a_stuck_holder",
            condition_wait_timeout_is_bounded_by_a_stuck_holder,
        )
        .timeout(Duration::from_secs(30)),
        Case::new(
            "condition_waiter_reacquires_from_dead_owner",
            condition_waiter_reacquires_from_dead_owner,
        ),
        Case::new(
            "barrier_rounds_give_each_index_once",
            barrier_rounds_give_each_index_once,
        )
        .timeout(Duration::from_secs(240)),
        Case::new("barrier_timeout_breaks_it_for_all", barrier_timeout_breaks_it_for_all),
        Case::new("semaphore_limits_concurrency", semaphore_limits_concurrency).timeout(Duration::from_secs(240)),
        Case::new(
            "bounded_semaphore_over_release_is_an_error",
            bounded_semaphore_over_release_is_an_error,
        ),
        Case::new("event_across_processes", event_across_processes),
        Case::new(
            "event_pulse_wakes_every_blocked_waiter",
            event_pulse_wakes_every_blocked_waiter,
        ),
        Case::new("rlock_reentrant_and_owner_checked", rlock_reentrant_and_owner_checked),
        Case::new(
            "rlock_pid_reuse_does_not_inherit_the_hold",
            rlock_pid_reuse_does_not_inherit_the_hold,
        ),
        Case::new("open_validates_kind_and_type", open_validates_kind_and_type),
        Case::new(
            "try_lock_on_a_dead_owner_reports_owner_died",
            try_lock_on_a_dead_owner_reports_owner_died,
        ),
        Case::new(
            "mark_consistent_without_owner_death_is_an_error",
            mark_consistent_without_owner_death_is_an_error,
        ),
        Case::new(
            "spinlock_counter_and_array_lock_across_processes",
            spinlock_counter_and_array_lock_across_processes,
        ),
    ]);
}
