use super::*;
use crate::sync::identity::model;
use crate::time::NoClock;
use loom::sync::Arc;

type W = crate::wait::Spin<spin::relax::Loop, NoClock>;

#[test]
fn loom_raw_mutex_excludes() {
    loom::model(|| {
        let m = Arc::new(RawMutex::new());
        let n = Arc::new(AtomicU32::new(0));
        let t = {
            let (m, n) = (m.clone(), n.clone());
            loom::thread::spawn(move || {
                assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::Acquired));
                let v = n.load(Ordering::Relaxed);
                n.store(v + 1, Ordering::Relaxed);
                m.unlock::<W>().unwrap();
            })
        };
        assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::Acquired));
        let v = n.load(Ordering::Relaxed);
        n.store(v + 1, Ordering::Relaxed);
        m.unlock::<W>().unwrap();
        t.join().unwrap();
        assert_eq!(n.load(Ordering::Relaxed), 2);
        assert!(!m.is_locked());
    });
}

#[test]
fn loom_raw_mutex_owner_death() {
    loom::model(|| {
        let m = Arc::new(RawMutex::new());
        let t = {
            let m = m.clone();
            loom::thread::spawn(move || {
                let _ = m.lock::<W>(Deadline::Never).unwrap();
                // "Killed" holding the lock.
                model::die();
            })
        };
        // Races with the dying thread: either we get it first (then it dies holding it after we
        // unlock) or we take it over.
        let first = m.lock::<W>(Deadline::Never).unwrap();
        if first == LockOutcome::OwnerDied {
            m.mark_consistent().unwrap();
        }
        m.unlock::<W>().unwrap();
        t.join().unwrap();
        if first == LockOutcome::Acquired {
            assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::OwnerDied));
            // No repair: unusable.
            m.unlock::<W>().unwrap();
            assert_eq!(m.lock::<W>(Deadline::Never), Err(LockError::NotRecoverable));
        } else {
            assert_eq!(m.lock::<W>(Deadline::Never), Ok(LockOutcome::Acquired));
            m.unlock::<W>().unwrap();
        }
    });
}
