//! The worker process's loop: claim the oldest task from the shared queue, run it, answer on its
//! own result ring.
//!
//! Crash protocol (what the parent relies on when a worker dies):
//! 1. the worker *claims* a task: one CAS writes its owner code into the slot's state word (see
//!    `TaskQueue`), so the parent knows who holds the slot even if the worker dies the next instant;
//! 2. copies the task out and stores its id in `current`;
//! 3. only then releases the slot (state "done"), and runs user code after that;
//! 4. pushes the result, then clears `current`.
//!
//! So after a worker's death the parent drains its result ring (answered tasks complete normally);
//! a slot still marked as claimed by it holds a task that never started: it is queued again; the
//! task named in `current` (released, unanswered) was running: it fails with `WorkerDied`. Every
//! other task is in the shared queue, untouched, for the other workers.
//!
//! Results too large for the result slot and the task's reserved arena block go into a result
//! spill segment (`pool::spill`) that the worker creates in step 4, before it pushes the result; a
//! worker that dies in between leaves it behind, and the parent removes it when it fails the task.

use super::inner::Layout;
use super::shared::{owner_of, Claim, ResultSlot};
use super::spill::Namer;
use super::task::{run_slot, Arena, Ctx, Key};
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
    let queue = lay.task_queue();
    let owner = owner_of(idx);
    let results = lay.result_ring(idx);
    let pool = lay.pool_ctl();
    let ctx = Ctx {
        arena: Arena {
            base: lay.arena_ptr(),
            len: lay.arena_len,
        },
        namer: Namer {
            parent: parent as u32,
            nonce: key.nonce(),
        },
        // The parent's start time, so the result spill segments this worker hands it are known to
        // be in use exactly while the parent lives (0 if /proc cannot tell: treated as unknown, so
        // in use).
        parent_stamp: (
            parent as u32,
            ringfork_core::os::stat(parent as u32).map_or(0, |s| s.start_time),
        ),
    };
    let mut done: u64 = 0;
    let mut head_cache = 0u32;
    let mut full_spins = 0u32;
    loop {
        // Claim a task only with room to answer it, so a finished result never waits inside a
        // worker (where a crash would lose it). The ring is full only while the parent is busy
        // outside the pool's calls; it drains every result ring whenever it runs.
        if !results.has_room(&mut head_cache) {
            // Give the core to the parent first (with more processes than cores it is often the
            // one waiting for a CPU), then back off.
            full_spins += 1;
            if full_spins < FULL_YIELDS {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
                check_parent(parent);
            }
            continue;
        }
        full_spins = 0;
        let Claim::Got(seq, slot) = queue.claim(owner) else {
            // Ordering: Acquire pairs with the parent's Release store of `stop` (nothing else is
            // published through it, but the queue is re-checked after).
            if ctl.stop.load(Ordering::Acquire) != 0 {
                exit(0);
            }
            idle_wait(lay, idx, parent);
            continue;
        };
        // Step 2 of the crash protocol: name the task before releasing the slot and running user code.
        // Ordering: Relaxed is enough: the parent reads `current` only after this process is dead
        // (reaped by waitpid), when every store it executed is in memory.
        ctl.current.store(slot.id, Ordering::Relaxed);
        queue.release(seq, owner);
        let r: ResultSlot = run_slot(key, &slot, &ctx);
        while !results.push_cached(r, &mut head_cache, false) {
            // Cannot happen: we checked for room before claiming and only this worker pushes.
            std::thread::sleep(Duration::from_micros(50));
        }
        // Ordering: Relaxed: as the store of `current` above (read only after this process is reaped).
        ctl.current.store(0, Ordering::Relaxed);
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

/// Yields before a worker whose result ring is full starts sleeping between checks.
const FULL_YIELDS: u32 = 256;

/// Polls before parking: a parent that is dispatching refills the ring within microseconds, and a
/// futex sleep/wake pair costs tens of microseconds on these machines. Yielding (rather than spinning)
/// lets the parent or another worker use this core meanwhile.
const IDLE_YIELDS: u32 = 64;

fn idle_wait(lay: &Layout, idx: usize, parent: libc::pid_t) {
    let ctl = lay.worker(idx);
    let queue = lay.task_queue();
    for _ in 0..IDLE_YIELDS {
        if queue.maybe_ready() {
            return;
        }
        std::thread::yield_now();
    }
    // Ordering: the flag store, then a SeqCst fence, then re-reading the queue: pairs with the
    // parent's publications, SeqCst fence, read of the flag (see `Inner::dispatch`); one of us sees
    // the other.
    ctl.sleeping.store(1, Ordering::Relaxed);
    fence(Ordering::SeqCst);
    // Ordering: Acquire pairs with the parent's Release bump of `published`.
    let seen = queue.published_word().load(Ordering::Acquire);
    if !queue.maybe_ready() && ctl.stop.load(Ordering::Acquire) == 0 {
        let d = Deadline::after::<<Futex as Wait>::Clock>(IDLE_SLICE);
        let _ = Futex::wait(queue.published_word(), seen, d);
    }
    // Ordering: Relaxed: a parent that still sees 1 makes a harmless extra wake; the flag is set again (with the fence) before every park.
    ctl.sleeping.store(0, Ordering::Relaxed);
    check_parent(parent);
}

/// Exits if the parent is gone (PDEATHSIG covers most cases; this covers the rest).
fn check_parent(parent: libc::pid_t) {
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
