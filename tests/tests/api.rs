//! The public API's shape: every error works with `?` (`'static + Send + Sync + Error`), lock calls
//! included, and a dead owner behind a convenience call is reported once without breaking the object.

use ringfork::sync::{LockError, UnlockError};
use ringfork::{Array, Condition, Event, Mutex, Value};
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::{fork_child, wait_child};
use std::error::Error;
use std::time::Duration;

fn is_question_mark_error<E: Error + Send + Sync + 'static>() {}

/// Compile-time: every error type of the public API converts into `Box<dyn Error + Send + Sync>`.
fn every_error_is_static_send_sync() {
    is_question_mark_error::<ringfork::SegmentError>();
    is_question_mark_error::<ringfork::ProcessError>();
    is_question_mark_error::<ringfork::PoolError>();
    is_question_mark_error::<ringfork::PipeError>();
    is_question_mark_error::<ringfork::PushError>();
    is_question_mark_error::<ringfork::PopError>();
    is_question_mark_error::<ringfork::TaskDoneError>();
    is_question_mark_error::<ringfork::signal::SignalError>();
    is_question_mark_error::<LockError>();
    is_question_mark_error::<UnlockError>();
    is_question_mark_error::<ringfork::sync::SemaphoreError>();
    is_question_mark_error::<ringfork::sync::BarrierError>();
    is_question_mark_error::<ringfork::sync::IndexError>();
    is_question_mark_error::<ringfork::os::StatError>();
}

/// The README's pattern: `?` on every lock-based call in a function returning `Box<dyn Error>`.
fn lock_calls() -> Result<u64, Box<dyn Error + Send + Sync>> {
    let counter = Value::new(0u64)?;
    counter.set(40)?;
    counter.with_lock(|v| *v += 1)?;
    let v = counter.get()?;
    let arr = Array::new(&[1u32, 2, 3])?;
    let sum: u32 = arr.to_vec()?.iter().sum();
    let m = Mutex::new(0u64)?;
    *m.lock()? += 1;
    let g = m.lock_timeout(Duration::from_millis(10))?;
    assert!(!g.owner_died());
    let c = Condition::new(0u32)?;
    *c.lock()? += 1;
    Ok(v + u64::from(sum) - 6 + *g)
}

fn question_mark_works_on_lock_calls() {
    assert_eq!(lock_calls().unwrap(), 42);
}

/// A holder killed inside `with_lock`: the next convenience call reports `OwnerDied` once (the lock
/// is recovered), the value is as the dead holder left it, and every later call works.
fn value_owner_died_is_reported_once_then_usable() {
    let v = Value::new(7u64).unwrap();
    let held = Event::new().unwrap();
    let (v2, h2) = (v.clone(), held.clone());
    let pid = fork_child(move || {
        let _ = v2.with_lock(|x| {
            *x = 999; // a half-done update
            h2.set();
            std::thread::sleep(Duration::from_secs(600));
        });
    });
    assert!(held.wait_timeout(Duration::from_secs(10)), "holder never locked");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let st = wait_child(pid, Duration::from_secs(10));
    assert!(libc::WIFSIGNALED(st));
    assert_eq!(v.get(), Err(LockError::OwnerDied));
    assert!(LockError::OwnerDied.to_string().contains("died"));
    assert_eq!(
        v.get(),
        Ok(999),
        "recovered: the dead holder's write is visible, the lock works"
    );
    v.set(8).unwrap();
    assert_eq!(v.get(), Ok(8));
}

/// A holder killed while holding a `Mutex`: `lock()?` hands back the guard with `owner_died()` set.
fn mutex_owner_died_comes_back_inside_ok() {
    let m = Mutex::new(1u64).unwrap();
    let held = Event::new().unwrap();
    let (m2, h2) = (m.clone(), held.clone());
    let pid = fork_child(move || {
        let _g = m2.lock().unwrap();
        h2.set();
        std::thread::sleep(Duration::from_secs(600));
    });
    assert!(held.wait_timeout(Duration::from_secs(10)), "holder never locked");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_child(pid, Duration::from_secs(10));
    let repaired = || -> Result<u64, Box<dyn Error>> {
        let mut g = m.lock()?;
        assert!(g.owner_died());
        *g = 2;
        g.mark_consistent();
        Ok(*g)
    };
    assert_eq!(repaired().unwrap(), 2);
    assert_eq!(*m.lock().unwrap(), 2);
    assert!(!m.lock().unwrap().owner_died());
}

/// Errors name the thing that failed: the object (not the segment) for bad parameters, the kinds
/// without broken articles for a kind mismatch, names as text in `Debug`.
fn errors_name_the_right_thing() {
    let e = ringfork::Queue::<u64>::new(0).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("cannot create the object"), "{text}");
    assert!(!text.contains("segment"), "{text}");
    let seg = ringfork::Segment::anonymous(1 << 16).unwrap();
    ringfork::Queue::<u64>::new_in(&seg, "jobs", 4).unwrap();
    let e = Event::open(&seg, "jobs").unwrap_err().to_string();
    assert!(e.contains("kind `event`") && !e.contains("a event"), "{e}");
    let entry = seg.objects().into_iter().next().unwrap();
    let dbg = format!("{entry:?}");
    assert!(dbg.contains("name: \"jobs\""), "{dbg}");
}

/// Lock-free cells (`ShmCell`, `RawValue`, `RawArray`) copied from two threads at once: every copy
/// is made of atomic accesses, so this is not a data race (ThreadSanitizer checks it; see
/// docs/reliability.md), and every read is a value some `set` wrote, chunk by chunk.
fn lock_free_cells_are_race_free_across_threads() {
    let cell = ringfork::ShmCell::new([0u64; 4]).unwrap();
    let raw = ringfork::RawValue::new(0u32).unwrap();
    let arr = ringfork::RawArray::new(&[0u16; 8]).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 1..=20_000u64 {
                cell.set([i; 4]);
                raw.set(i as u32);
                raw.fetch_add(1);
                arr.set((i % 8) as usize, i as u16).unwrap();
            }
        });
        s.spawn(|| {
            let mut last = 0u64;
            for _ in 0..20_000 {
                let v = cell.get();
                for x in v {
                    assert!(x <= 20_000, "a chunk no set wrote: {v:?}");
                }
                last = last.max(v[0]);
                let _ = raw.get();
                let _ = arr.get(3);
            }
            assert!(last <= 20_000);
        });
    });
    assert_eq!(cell.get(), [20_000; 4]);
    assert_eq!(raw.get(), 20_001);
}

/// Issue 15.11: object names are never cut (a long one is a typed error), a duplicate is
/// `ObjectExists`, and `open_or_create` raced by eight processes yields exactly one object.
fn object_names_are_unique_and_never_cut() {
    let seg = ringfork::Segment::anonymous(1 << 20).unwrap();
    let long = "n".repeat(41);
    match ringfork::Queue::<u64>::new_in(&seg, &long, 4) {
        Err(ringfork::SegmentError::Alloc(e)) => assert!(e.to_string().contains("too long"), "{e}"),
        other => panic!("a 41-byte name: {other:?}"),
    }
    let fits = "n".repeat(40);
    ringfork::Queue::<u64>::new_in(&seg, &fits, 4).unwrap();
    ringfork::Queue::<u64>::open(&seg, &fits).unwrap();
    ringfork::Value::new_in(&seg, "v", 1u64).unwrap();
    match ringfork::Value::new_in(&seg, "v", 2u64) {
        Err(ringfork::SegmentError::ObjectExists { name }) => assert_eq!(name, "v"),
        other => panic!("a duplicate name: {other:?}"),
    }
    match Event::new_in(&seg, "v") {
        Err(ringfork::SegmentError::ObjectExists { .. }) => {}
        other => panic!("a duplicate name of another kind: {other:?}"),
    }
    // open_or_create on an existing object opens it (its parameters win).
    assert_eq!(ringfork::Value::open_or_create(&seg, "v", 9u64).unwrap().get(), Ok(1));
    // Eight processes race to create the same queue; each puts its number.
    let go = Event::new_in(&seg, "go").unwrap();
    let pids: Vec<_> = (0..8u64)
        .map(|i| {
            let (seg, go) = (seg.clone(), go.clone());
            fork_child(move || {
                assert!(go.wait_timeout(Duration::from_secs(10)));
                let q = ringfork::Queue::<u64>::open_or_create(&seg, "jobs", 16).unwrap();
                q.put(i).unwrap();
            })
        })
        .collect();
    go.set();
    for p in pids {
        let st = wait_child(p, Duration::from_secs(20));
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "racer failed: {st}");
    }
    let jobs: Vec<_> = seg.objects().into_iter().filter(|e| e.name() == Some("jobs")).collect();
    assert_eq!(jobs.len(), 1, "exactly one object results: {jobs:?}");
    let q = ringfork::Queue::<u64>::open(&seg, "jobs").unwrap();
    let mut got: Vec<u64> = (0..8).map(|_| q.get_timeout(Duration::from_secs(5)).unwrap()).collect();
    got.sort();
    assert_eq!(got, (0..8).collect::<Vec<_>>());
}

fn main() {
    run(&[
        Case::new("every_error_is_static_send_sync", every_error_is_static_send_sync),
        Case::new("question_mark_works_on_lock_calls", question_mark_works_on_lock_calls),
        Case::new(
            "value_owner_died_is_reported_once_then_usable",
            value_owner_died_is_reported_once_then_usable,
        ),
        Case::new(
            "mutex_owner_died_comes_back_inside_ok",
            mutex_owner_died_comes_back_inside_ok,
        ),
        Case::new("errors_name_the_right_thing", errors_name_the_right_thing),
        Case::new(
            "object_names_are_unique_and_never_cut",
            object_names_are_unique_and_never_cut,
        ),
        Case::new(
            "lock_free_cells_are_race_free_across_threads",
            lock_free_cells_are_race_free_across_threads,
        ),
    ]);
}
