//! The worker process's loop: take a task from its ring, run it, answer on its result ring.
//!
//! Crash protocol (what the parent relies on when a worker dies):
//! 1. the worker *peeks* a task (it stays in the ring);
//! 2. stores its id in `current` **before** running any user code;
//! 3. runs it, pushes the result, clears `current`, and only then advances the task ring.
//!
//! So after a worker's death the parent drains its result ring (answered tasks complete normally), and
//! the oldest unanswered task is the one that was running if and only if `current` names it: that task
//! fails with `WorkerDied`; every other unanswered task never started and is dispatched again.

use super::inner::Layout;
use super::shared::ResultSlot;
use super::task::{run_slot, Arena, Key};
use ringfork_core::atomic::{fence, Ordering};
use ringfork_core::wait::{Futex, Wait};
use ringfork_core::Deadline;
use std::time::Duration;

/// How long an idle worker parks before re-checking that its parent is alive.
const IDLE_SLICE: Duration = Duration::from_millis(200);

/// Runs the worker loop for block `idx` and exits the process (never returns).
pub fn worker_main(
    lay: &Layout,
    idx: usize,
    key: &Key,
    parent: libc::pid_t,
    initializer: Option<&(dyn Fn() + Send + Sync)>,
    maxtasks: Option<u64>,
) -> ! {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        // The parent died before PDEATHSIG was armed.
        exit(0);
    }
    if let Some(init) = initializer {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(init)).is_err() {
            exit(3);
        }
    }
    let ctl = lay.worker(idx);
    let tasks = lay.task_ring(idx);
    let results = lay.result_ring(idx);
    let pool = lay.pool_ctl();
    let arena = Arena {
        base: lay.arena_ptr(),
        len: lay.arena_len,
    };
    let mut done: u64 = 0;
    let (mut tail_cache, mut head_cache) = (0u32, 0u32);
    loop {
        let Some(slot) = tasks.peek_cached(&mut tail_cache, false) else {
            // Ordering: Acquire pairs with the parent's Release store of `stop` (nothing else is
            // published through it, but the task ring is re-checked after).
            if ctl.stop.load(Ordering::Acquire) != 0 {
                exit(0);
            }
            idle_wait(lay, idx, parent);
            continue;
        };
        // Step 2 of the crash protocol: name the task before running user code.
        // Ordering: Relaxed is enough: the parent reads `current` only after this process is dead
        // (reaped by waitpid), when every store it executed is in memory.
        ctl.current.store(slot.id, Ordering::Relaxed);
        let r: ResultSlot = run_slot(key, &slot, arena);
        while !results.push_cached(r, &mut head_cache, false) {
            // Cannot happen while the parent respects the ring capacity (at most `cap` tasks
            // outstanding, one result each); back off rather than overwrite.
            std::thread::sleep(Duration::from_micros(50));
        }
        // Ordering: Relaxed: as the store of `current` above (read only after this process is reaped).
        ctl.current.store(0, Ordering::Relaxed);
        tasks.advance();
        // Wake the parent if it parked waiting for results (Dekker pairing with `Inner::park`):
        // our Release push of the result, then a SeqCst fence, then the read of its flag.
        fence(Ordering::SeqCst);
        // Ordering: Relaxed after the SeqCst fence (see above).
        if pool.parent_sleeping.load(Ordering::Relaxed) != 0 {
            pool.result_seq.fetch_add(1, Ordering::Release);
            Futex::wake_all(&pool.result_seq);
        }
        done += 1;
        // Ordering: Relaxed: a statistic, read after this process is reaped.
        ctl.completed.store(done, Ordering::Relaxed);
        if maxtasks.is_some_and(|m| done >= m) {
            exit(0);
        }
    }
}

/// Polls before parking: a parent that is dispatching refills the ring within microseconds, and a
/// futex sleep/wake pair costs tens of microseconds on these machines. Yielding (rather than spinning)
/// lets the parent or another worker use this core meanwhile.
const IDLE_YIELDS: u32 = 64;

fn idle_wait(lay: &Layout, idx: usize, parent: libc::pid_t) {
    let ctl = lay.worker(idx);
    let tasks = lay.task_ring(idx);
    for _ in 0..IDLE_YIELDS {
        if !tasks.is_empty() {
            return;
        }
        std::thread::yield_now();
    }
    // Ordering: the flag store, then a SeqCst fence, then re-reading the ring: pairs with the parent's
    // push, SeqCst fence, read of the flag (see `Inner::push_task`); one of us sees the other.
    ctl.sleeping.store(1, Ordering::Relaxed);
    fence(Ordering::SeqCst);
    // Ordering: Acquire pairs with the parent's Release store of the tail.
    let tail = tasks.tail_word().load(Ordering::Acquire);
    if tasks.is_empty() && ctl.stop.load(Ordering::Acquire) == 0 {
        let d = Deadline::after::<<Futex as Wait>::Clock>(IDLE_SLICE);
        let _ = Futex::wait(tasks.tail_word(), tail, d);
    }
    // Ordering: Relaxed: a parent that still sees 1 makes a harmless extra wake; the flag is set again (with the fence) before every park.
    ctl.sleeping.store(0, Ordering::Relaxed);
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        exit(0);
    }
}

fn exit(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: leave the forked worker without running the parent's atexit handlers or destructors
    // of state that belongs to the parent.
    unsafe { libc::_exit(code) }
}
