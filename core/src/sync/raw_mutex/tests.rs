use super::*;
#[cfg(feature = "futex")]
use crate::sync::identity::ThreadIdentity;
use crate::wait::{DefaultWait, Spin};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

type W = DefaultWait;

#[test]
fn uncontended_lock_unlock_and_errors() {
    let m = RawMutex::new();
    assert!(!m.is_locked());
    assert_eq!(m.unlock::<W>(), Err(UnlockError::NotOwner { owner: 0 }));
    assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::Acquired));
    assert!(m.is_locked());
    assert!(m.is_held_by_current_thread());
    assert_eq!(m.lock::<W>(Deadline::Never), Err(LockError::Deadlock));
    assert_eq!(m.try_lock(), Err(LockError::Deadlock));
    // POSIX EINVAL: nothing to repair.
    assert_eq!(m.mark_consistent(), Err(UnlockError::NotInconsistent));
    assert!(
        m.is_held_by_current_thread(),
        "a refused mark_consistent leaves the hold alone"
    );
    assert_eq!(m.unlock::<W>(), Ok(()));
    assert!(!m.is_locked());
    assert_eq!(m.try_lock(), Ok(LockOutcome::Acquired));
    assert_eq!(m.unlock::<W>(), Ok(()));
}

#[test]
fn non_owner_cannot_unlock_and_try_lock_fails() {
    let m = Arc::new(RawMutex::new());
    assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::Acquired));
    let m2 = m.clone();
    std::thread::spawn(move || {
        assert!(matches!(m2.unlock::<W>(), Err(UnlockError::NotOwner { owner }) if owner != 0));
        assert_eq!(m2.try_lock(), Err(LockError::TimedOut));
        assert!(m2.mark_consistent().is_err());
        assert!(!m2.is_held_by_current_thread());
    })
    .join()
    .unwrap();
    m.unlock::<W>().unwrap();
}

fn counter_under_contention<W2: Wait>() {
    let m = Arc::new(RawMutex::new());
    let n = Arc::new(AtomicUsize::new(0));
    let threads: std::vec::Vec<_> = (0..4)
        .map(|_| {
            let (m, n) = (m.clone(), n.clone());
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    assert_eq!(m.lock::<W2>(Deadline::Never), Ok(LockOutcome::Acquired));
                    // A non-atomic read-modify-write: lost updates if exclusion fails.
                    let v = n.load(Ordering::Relaxed);
                    n.store(v + 1, Ordering::Relaxed);
                    m.unlock::<W2>().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(n.load(Ordering::Relaxed), 80_000);
    assert!(!m.is_locked());
    // Ordering: Relaxed; all threads joined.
    assert_eq!(m.word().load(Ordering::Relaxed) & !WAITERS, 0);
}

#[test]
fn mutual_exclusion_futex() {
    counter_under_contention::<W>();
}

#[test]
fn mutual_exclusion_spin() {
    counter_under_contention::<Spin>();
}

#[test]
fn timeout_is_bounded_both_ways() {
    let m = Arc::new(RawMutex::new());
    let m2 = m.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let _ = m2.lock::<W>(Deadline::Never).unwrap();
        tx.send(()).unwrap();
        done_rx.recv().unwrap();
        m2.unlock::<W>().unwrap();
    });
    rx.recv().unwrap();
    let start = Instant::now();
    let d = Deadline::after::<<W as Wait>::Clock>(Duration::from_millis(100));
    assert_eq!(m.lock::<W>(d), Err(LockError::TimedOut));
    let el = start.elapsed();
    assert!(el >= Duration::from_millis(100), "early: {el:?}");
    assert!(el < Duration::from_secs(2), "late: {el:?}");
    done_tx.send(()).unwrap();
    t.join().unwrap();
    assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::Acquired));
    m.unlock::<W>().unwrap();
}

#[cfg(feature = "futex")]
#[test]
fn dead_thread_owner_is_taken_over_then_not_recoverable() {
    let m = Arc::new(RawMutex::new());
    let m2 = m.clone();
    // A thread that exits holding the lock: its TID disappears, as a killed process's does.
    std::thread::spawn(move || {
        let _ = m2.lock::<W>(Deadline::Never).unwrap();
    })
    .join()
    .unwrap();
    let start = Instant::now();
    assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::OwnerDied));
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(m.is_held_by_current_thread());
    // Unlock without repair: unusable for everyone.
    m.unlock::<W>().unwrap();
    assert!(m.is_not_recoverable());
    assert_eq!(m.lock::<W>(Deadline::Never), Err(LockError::NotRecoverable));
    assert_eq!(m.try_lock(), Err(LockError::NotRecoverable));
    assert_eq!(m.unlock::<W>(), Err(UnlockError::NotOwner { owner: NOT_RECOVERABLE }));
}

#[cfg(feature = "futex")]
#[test]
fn dead_owner_repaired_with_mark_consistent() {
    let m = Arc::new(RawMutex::new());
    let m2 = m.clone();
    std::thread::spawn(move || {
        let _ = m2.lock::<W>(Deadline::Never).unwrap();
    })
    .join()
    .unwrap();
    // A short timeout still probes the owner once before giving up.
    let d = Deadline::after::<<W as Wait>::Clock>(Duration::from_millis(5));
    let mut g = m.lock_guard::<W>(d).unwrap();
    assert!(g.owner_died());
    g.mark_consistent();
    assert!(!g.owner_died());
    drop(g);
    assert!(!m.is_locked());
    assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::Acquired));
    m.unlock::<W>().unwrap();
}

#[cfg(feature = "futex")]
#[test]
fn hostile_words_do_not_panic() {
    for w in [
        0x3fff_fff0u32,
        WAITERS | 0x3fff_fff0,
        OWNER_DIED | 0x3f_fff0,
        u32::MAX,
        NOT_RECOVERABLE,
    ] {
        let m = RawMutex::new();
        // Ordering: Relaxed; single-threaded setup.
        m.word().store(w, Ordering::Relaxed);
        m.owner.store(u64::MAX, Ordering::Relaxed);
        let d = Deadline::after::<<W as Wait>::Clock>(Duration::from_millis(60));
        match m.lock::<W>(d) {
            Ok(o) => {
                assert_eq!(o, LockOutcome::OwnerDied, "word {w:#x}");
                m.unlock::<W>().unwrap();
            }
            Err(e) => assert!(
                e == LockError::NotRecoverable || e == LockError::TimedOut,
                "word {w:#x}: {e:?}"
            ),
        }
    }
}

#[test]
fn earliest_deadline() {
    use crate::time::Instant as I;
    assert_eq!(earliest(Deadline::Never, Deadline::At(I(5))), Deadline::At(I(5)));
    assert_eq!(earliest(Deadline::At(I(9)), Deadline::At(I(5))), Deadline::At(I(5)));
    assert_eq!(earliest(Deadline::Immediate, Deadline::Never), Deadline::Immediate);
    assert_eq!(earliest(Deadline::Never, Deadline::Never), Deadline::Never);
}

/// A live thread whose TID is in the lock word: with its own stamp it is alive (we time out); with a
/// stamp carrying another start time, the TID was "reused" and the stamped owner is dead.
#[cfg(feature = "futex")]
#[test]
fn pid_reuse_is_detected_by_start_time() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        tx.send(crate::os::ProcessStamp::current_thread().unwrap()).unwrap();
        stop_rx.recv().unwrap();
    });
    let live = rx.recv().unwrap();
    let m = RawMutex::new();
    // Ordering: Relaxed; single-threaded setup of the words.
    m.word().store(live.pid, Ordering::Relaxed);
    let genuine = ThreadIdentity {
        tid: live.pid,
        start_time: live.start_time,
    };
    m.owner.store(genuine.pack(), Ordering::Relaxed);
    let d = Deadline::after::<<W as Wait>::Clock>(Duration::from_millis(100));
    assert_eq!(
        m.lock::<W>(d),
        Err(LockError::TimedOut),
        "a live owner must not be taken over"
    );
    let reused = ThreadIdentity {
        tid: live.pid,
        start_time: live.start_time + 1,
    };
    m.owner.store(reused.pack(), Ordering::Relaxed);
    let start = Instant::now();
    assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::OwnerDied));
    assert!(start.elapsed() < Duration::from_secs(2));
    m.mark_consistent().unwrap();
    m.unlock::<W>().unwrap();
    stop_tx.send(()).unwrap();
    t.join().unwrap();
}

/// glibc tst-robust2: a non-blocking lock of a dead owner's mutex takes it over with OwnerDied.
/// Probes are rate-limited per lock, so the first attempt may still report TimedOut, but repeated
/// attempts succeed within one probe slice of it.
#[cfg(feature = "futex")]
#[test]
fn try_lock_takes_over_a_dead_owner() {
    for zero_timeout in [false, true] {
        let m = Arc::new(RawMutex::new());
        let m2 = m.clone();
        std::thread::spawn(move || {
            let _ = m2.lock::<W>(Deadline::Never).unwrap();
        })
        .join()
        .unwrap();
        let start = Instant::now();
        let outcome = loop {
            let r = if zero_timeout {
                m.lock::<W>(Deadline::after::<<W as Wait>::Clock>(Duration::ZERO))
            } else {
                m.try_lock()
            };
            match r {
                Err(LockError::TimedOut) if start.elapsed() < Duration::from_secs(2) => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                r => break r,
            }
        };
        assert_eq!(outcome, Ok(LockOutcome::OwnerDied), "zero timeout: {zero_timeout}");
        assert!(m.is_held_by_current_thread());
        m.mark_consistent().unwrap();
        m.unlock::<W>().unwrap();
        assert_eq!(m.try_lock(), Ok(LockOutcome::Acquired));
        m.unlock::<W>().unwrap();
    }
}

/// A live owner is never taken over by try_lock, however often it is probed.
#[cfg(feature = "futex")]
#[test]
fn try_lock_never_takes_over_a_live_owner() {
    let m = Arc::new(RawMutex::new());
    let m2 = m.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let _ = m2.lock::<W>(Deadline::Never).unwrap();
        tx.send(()).unwrap();
        stop_rx.recv().unwrap();
        m2.unlock::<W>().unwrap();
    });
    rx.recv().unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(120) {
        assert_eq!(m.try_lock(), Err(LockError::TimedOut));
        std::thread::sleep(Duration::from_millis(2));
    }
    stop_tx.send(()).unwrap();
    t.join().unwrap();
}

/// A thread whose TID equals the dead owner's (pid reuse), but whose start time differs, is not the
/// owner: it does not hold the lock, cannot unlock or repair it, and locking takes it over with
/// OwnerDied instead of reporting Deadlock.
#[test]
fn a_reused_tid_is_not_the_owner() {
    let me = crate::sync::identity::current();
    let m = RawMutex::new();
    let dead = ThreadIdentity {
        tid: me.tid,
        start_time: me.start_time.wrapping_add(12_345),
    };
    // Ordering: Relaxed; single-threaded setup of the words.
    m.word().store(me.tid & TID_MASK, Ordering::Relaxed);
    m.owner.store(dead.pack(), Ordering::Relaxed);
    assert!(!m.is_held_by_current_thread());
    assert!(matches!(m.unlock::<W>(), Err(UnlockError::NotOwner { .. })));
    assert!(matches!(m.mark_consistent(), Err(UnlockError::NotOwner { .. })));
    assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::OwnerDied));
    assert!(m.is_held_by_current_thread());
    m.mark_consistent().unwrap();
    m.unlock::<W>().unwrap();
    assert!(!m.is_locked());
}
