//! `ringfork stress scribble`: a hostile writer scribbles random bytes over every object of a
//! segment holding one of each primitive, while the other participants keep operating on them
//! with deadlines.
//!
//! The crash model allows a peer that writes garbage to corrupt the *data* of the objects it
//! scribbles over, to stall them, or to make calls fail with typed errors; it does not allow it to
//! crash another process, to make a call with a deadline overrun that deadline, or to hang anyone.
//! Those three are the invariants:
//!
//! - `participant_failed`: every participant the supervisor did not kill exits 0 (no panic, no
//!   SIGSEGV/SIGBUS/abort);
//! - `deadline`: no call returns later than its timeout plus [`MARGIN`] (non-blocking calls have a
//!   timeout of zero); the longest overrun seen is reported as the `max_overrun_ms` metric;
//! - `completed`: the run ends before the watchdog fires.
//!
//! Participants: `max(1, procs / 4)` scribblers, the rest operators. Each scribbler writes seeded
//! random values (random bits, small numbers, 0, all ones, its own pid — a lock word naming a live
//! thread) of 1, 2, 4 or 8 bytes at random offsets of every object — half of the writes in the
//! first 512 bytes, where headers, lock words and ring positions live — until the operators are
//! done. Each operator runs `--ops / 200` rounds; a round calls every primitive once or more, each
//! call timed: Queue, SimpleQueue (only `empty`: its `put`/`get` have no deadline, as in Python),
//! JoinableQueue, ByteQueue, a duplex pipe of its own (its own segment, scribbled too), Lock, Mutex,
//! RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier, Value, Array, RawValue, RawArray,
//! ShmCell and SpinLock. Garbage data and typed errors are counted, never checked: they are allowed.

use super::sync::{finish, supervise_with, Counters, PROGRESS_EVERY};
use super::{Rng, StressOpts, StressReport};
use ringfork::sync::{LockOutcome, MutexGuard};
use ringfork::{
    Array, Barrier, BoundedSemaphore, ByteQueue, Condition, Connection, Event, JoinableQueue, Lock, Mutex, Queue,
    RLock, RawArray, RawValue, Segment, Semaphore, ShmCell, SimpleQueue, SpinLock, Value,
};
use ringfork_core::sync::mutex::MutexError;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// How far past its timeout a call may return before it counts as a `deadline` violation. The
/// documented bounds are tighter (a `Condition` re-lock has 25 ms of grace); this margin is for a
/// loaded machine's scheduling delays, generous so the verdict never depends on timing luck.
pub const MARGIN: Duration = Duration::from_secs(2);

/// Counter slots of our own (after the ones `supervise` uses).
const LATE: usize = 7;
const MAX_OVERRUN_NS: usize = 8;
const FINISHED: usize = 9;
const ERRORS: usize = 10;
const WRITES: usize = 11;
/// The pid of the operator that last started a round: the victim when a kill is due (killing the
/// scribbler would end the scribbling; killing an operator mid-call leaves locks to take over).
const VICTIM: usize = 12;

/// Units of `--ops` per round (a round makes some 120 calls, a dozen of which wait up to ~1 ms).
const OPS_PER_ROUND: u64 = 200;

/// Every object the operators use, all but the pipes in one segment.
#[derive(Clone)]
struct Objects {
    seg: Segment,
    queue: Queue<u64>,
    simple: SimpleQueue<u64>,
    joinable: JoinableQueue<u64>,
    bytes: ByteQueue,
    lock: Lock,
    mutex: Mutex<[u64; 4]>,
    rlock: RLock,
    sem: Semaphore,
    bsem: BoundedSemaphore,
    event: Event,
    cond: Condition<u64>,
    barrier: Barrier,
    value: Value<u64>,
    array: Array<u64>,
    raw_value: RawValue<u64>,
    raw_array: RawArray<u64>,
    cell: ShmCell<u64>,
    spin: SpinLock<u64>,
}

impl Objects {
    fn new(operators: usize) -> Result<Objects, ringfork::SegmentError> {
        let seg = Segment::anonymous(1 << 18)?;
        let s = &seg;
        Ok(Objects {
            queue: Queue::new_in(s, "queue", 8)?,
            simple: SimpleQueue::new_in(s, "simplequeue", 8)?,
            joinable: JoinableQueue::new_in(s, "joinable", 8)?,
            bytes: ByteQueue::new_in(s, "bytequeue", 4, 64)?,
            lock: Lock::new_in(s, "lock", ())?,
            mutex: Mutex::new_in(s, "mutex", [0; 4])?,
            rlock: RLock::new_in(s, "rlock")?,
            sem: Semaphore::new_in(s, "semaphore", 2)?,
            bsem: BoundedSemaphore::new_in(s, "bsemaphore", 2)?,
            event: Event::new_in(s, "event")?,
            cond: Condition::new_in(s, "condition", 0)?,
            barrier: Barrier::new_in(s, "barrier", operators.clamp(1, 4) as u32)?,
            value: Value::new_in(s, "value", 0)?,
            array: Array::new_in(s, "array", &[0; 8])?,
            raw_value: RawValue::new_in(s, "rawvalue", 0)?,
            raw_array: RawArray::new_in(s, "rawarray", &[0; 8])?,
            cell: ShmCell::new_in(s, "cell", 0)?,
            spin: SpinLock::new_in(s, "spinlock", 0)?,
            seg,
        })
    }
}

/// `(address, length)` of every object in `seg` (valid in a forked child: the mapping is inherited).
fn object_ranges(seg: &Segment) -> Vec<(usize, usize)> {
    let base = seg.sub_region(0, seg.len()).expect("a writable segment").as_ptr() as usize;
    seg.objects()
        .iter()
        .filter(|e| e.size > 0 && e.offset.saturating_add(e.size) <= seg.len())
        .map(|e| (base + e.offset, e.size))
        .collect()
}

/// Times one call against its deadline `t`: records the overrun (the longest, and how many exceed
/// [`MARGIN`]) and counts the call.
struct Timer<'a> {
    c: &'a Counters,
    calls: u64,
    errors: u64,
    max_overrun: Duration,
}

impl Timer<'_> {
    fn call<R>(&mut self, t: Duration, f: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let r = f();
        let over = start.elapsed().saturating_sub(t);
        if over > MARGIN {
            self.c.get(LATE).fetch_add(1, Ordering::SeqCst);
        }
        self.max_overrun = self.max_overrun.max(over);
        self.calls += 1;
        r
    }

    /// [`Self::call`] for a call returning a `Result`: an `Err` is counted (typed errors are allowed).
    fn res<T, E>(&mut self, t: Duration, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let r = self.call(t, f);
        self.errors += u64::from(r.is_err());
        r
    }

    fn flush(&mut self) {
        self.c.get(Counters::DONE).fetch_add(self.calls, Ordering::SeqCst);
        self.c.get(ERRORS).fetch_add(self.errors, Ordering::SeqCst);
        self.c
            .get(MAX_OVERRUN_NS)
            .fetch_max(self.max_overrun.as_nanos() as u64, Ordering::SeqCst);
        self.calls = 0;
        self.errors = 0;
    }
}

/// A lock taken over from a dead holder (a killed operator, or a scribbled word naming a dead one).
fn recovered(c: &Counters) {
    c.get(Counters::RECOVER).fetch_add(1, Ordering::SeqCst);
}

/// Counts and marks consistent a guard taken over from a dead holder (garbage data needs no repair).
fn repair<'a, T: ?Sized>(mut g: MutexGuard<'a, T>, c: &Counters) -> MutexGuard<'a, T> {
    if g.owner_died() {
        recovered(c);
        g.mark_consistent();
    }
    g
}

/// One round: every primitive, every call with a deadline `t` (or none, for the non-blocking ones).
fn round(o: &Objects, pipe: &mut (Connection, Connection), rng: &mut Rng, tm: &mut Timer<'_>, c: &Counters) {
    let t = Duration::from_micros(100 + rng.below(1000));
    let z = Duration::ZERO;
    let x = rng.next_u64();

    let _ = tm.res(t, || o.queue.put_timeout(x, t));
    let _ = tm.res(t, || o.queue.get_timeout(t));
    let _ = tm.res(z, || o.queue.try_put(x));
    let _ = tm.res(z, || o.queue.try_get());
    let _ = tm.call(z, || o.queue.qsize());
    let _ = tm.call(z, || o.simple.empty());

    let _ = tm.res(t, || o.joinable.put_timeout(x, t));
    if tm.res(t, || o.joinable.get_timeout(t)).is_ok() {
        let _ = tm.res(z, || o.joinable.task_done());
    }
    let _ = tm.call(t, || o.joinable.join_timeout(t));

    let msg = x.to_le_bytes().repeat(1 + (x % 7) as usize);
    let _ = tm.res(t, || o.bytes.put_timeout(&msg, t));
    let _ = tm.res(t, || o.bytes.get_timeout(t));

    let (a, b) = pipe;
    let _ = tm.res(t, || a.send_bytes_timeout(&msg, t));
    let _ = tm.res(t, || b.poll(Some(t)));
    let _ = tm.res(t, || b.recv_bytes_timeout(t));
    let _ = tm.res(t, || b.send_bytes_timeout(&msg, t));
    let _ = tm.res(t, || a.recv_bytes_timeout(t));

    if let Ok(g) = tm.res(t, || o.lock.lock_timeout(t)) {
        drop(repair(g, c));
    }
    if let Ok(g) = tm.res(t, || o.mutex.lock_timeout(t)) {
        let mut g = repair(g, c);
        g[(x % 4) as usize] = g[0].wrapping_add(x);
    }
    if let Ok(outcome) = tm.res(t, || o.rlock.acquire_timeout(t)) {
        if outcome == LockOutcome::OwnerDied {
            recovered(c);
            let _ = tm.res(z, || o.rlock.mark_consistent());
        }
        if tm.res(z, || o.rlock.try_acquire()).is_ok() {
            let _ = tm.res(z, || o.rlock.release());
        }
        let _ = tm.res(z, || o.rlock.release());
    }

    if tm.call(t, || o.sem.acquire_timeout(t)) {
        let _ = tm.res(z, || o.sem.release());
    }
    if tm.call(t, || o.bsem.acquire_timeout(t)) {
        let _ = tm.res(z, || o.bsem.release());
    }
    let _ = tm.call(z, || o.sem.get_value());

    match x % 3 {
        0 => tm.call(z, || o.event.set()),
        1 => tm.call(z, || o.event.clear()),
        _ => {}
    }
    let _ = tm.call(t, || o.event.wait_timeout(t));

    if let Ok(mut g) = tm.res(t, || o.cond.lock_timeout(t)) {
        if g.owner_died() {
            recovered(c);
            g.mark_consistent();
        }
        *g = g.wrapping_add(1);
        if x % 2 == 0 {
            g.notify_all();
        } else {
            match tm.res(t, || g.wait_timeout(t)) {
                Ok((g, _)) => g.notify_one(),
                // The wait re-took the lock from a dead holder: the guard comes in the error.
                Err(MutexError::OwnerDied(mut g)) => {
                    recovered(c);
                    g.mark_consistent();
                }
                // Timed out without the lock (a live holder kept it past the grace), or unusable.
                Err(_) => {}
            }
        }
    }

    if tm.res(t, || o.barrier.wait_timeout(t)).is_err() && x % 8 == 0 {
        tm.call(z, || o.barrier.reset());
    }
    let _ = tm.call(z, || (o.barrier.n_waiting(), o.barrier.broken(), o.barrier.parties()));

    if let Ok(g) = tm.res(t, || o.value.lock_timeout(t)) {
        let mut g = repair(g, c);
        *g = g.wrapping_add(1);
    }
    if let Ok(g) = tm.res(t, || o.array.lock_timeout(t)) {
        let mut g = repair(g, c);
        let n = g.len();
        if n > 0 {
            g[(x as usize) % n] = x;
        }
    }

    let i = (x % 10) as usize; // 8 and 9 are out of bounds: a typed error
    let _ = tm.call(z, || o.raw_value.fetch_add(1));
    tm.call(z, || o.raw_value.set(x));
    let _ = tm.call(z, || o.raw_value.get());
    let _ = tm.res(z, || o.raw_array.set(i, x));
    let _ = tm.call(z, || o.raw_array.fetch_add(i, 1));
    let _ = tm.call(z, || o.raw_array.to_vec());
    tm.call(z, || o.cell.set(x));
    let _ = tm.call(z, || o.cell.get());

    if let Ok(mut g) = tm.res(t, || o.spin.lock_timeout(t)) {
        *g = g.wrapping_add(1);
    }
}

/// A scribbler: random writes over `ranges` until `stop()` says the operators are done.
fn scribble(ranges: &[(usize, usize)], rng: &mut Rng, c: &Counters, stop: impl Fn() -> bool) {
    let me = std::process::id() as u64;
    let mut writes = 0u64;
    while !stop() {
        for &(base, len) in ranges {
            for _ in 0..4 {
                let width = 1usize << rng.below(4); // 1, 2, 4 or 8 bytes
                if len < width {
                    continue;
                }
                // Half the writes in the first 512 bytes (headers, lock words, ring positions).
                let span = if rng.below(2) == 0 { len.min(512) } else { len };
                let off = (rng.below((span - width + 1) as u64) as usize) & !(width - 1);
                let v = match rng.below(6) {
                    0 => 0,
                    1 => u64::MAX,
                    2 => rng.below(64),
                    3 => me, // a lock word naming a live thread: this one
                    _ => rng.next_u64(),
                };
                let p = base + off;
                // `p..p + width` lies inside an object of a segment this process maps (directory
                // ranges, bounded by the segment's length; the mapping is inherited across fork) and
                // is `width`-aligned (object offsets are at least 8-aligned). Every ringfork object is
                // accessed only atomically or through copies that tolerate concurrent writers, so an
                // atomic store of any width is what a hostile peer can do.
                // Ordering: Relaxed; a scribble synchronizes with nothing.
                // SAFETY: in bounds, aligned, and atomic against every other access (see above).
                unsafe {
                    match width {
                        1 => (*(p as *const AtomicU8)).store(v as u8, Ordering::Relaxed),
                        2 => (*(p as *const AtomicU16)).store(v as u16, Ordering::Relaxed),
                        4 => (*(p as *const AtomicU32)).store(v as u32, Ordering::Relaxed),
                        _ => (*(p as *const AtomicU64)).store(v, Ordering::Relaxed),
                    }
                }
                writes += 1;
            }
        }
        // Counted as we go: a scribbler may be the one a kill picks.
        c.get(WRITES).fetch_add(writes, Ordering::SeqCst);
        writes = 0;
        // Leave the operators CPU time (the machine may have fewer cores than participants).
        std::thread::sleep(Duration::from_micros(20));
    }
}

/// Runs the target.
pub fn run(o: &StressOpts) -> StressReport {
    let mut rep = StressReport::new("scribble", o.procs, &["participant_failed", "deadline", "completed"]);
    let scribblers = (o.procs / 4).max(1);
    let operators = o.procs.saturating_sub(scribblers).max(1);
    let (Ok(objs), Ok(c)) = (Objects::new(operators), Counters::new()) else {
        rep.violate("completed", 1);
        rep.notes.push("cannot create the objects".into());
        return rep;
    };
    // One duplex pipe per operator (a pipe end is single-owner), in its own segment.
    let mut pipes = Vec::new();
    for _ in 0..operators {
        match ringfork::pipe_with(true, 256, 64) {
            Ok(p) => pipes.push(p),
            Err(e) => {
                rep.violate("completed", 1);
                rep.notes.push(format!("pipe: {e}"));
                return rep;
            }
        }
    }
    // The scribblers keep the pipes' segments mapped (they drop the ends, which are not theirs).
    let pipe_segs: Vec<Segment> = pipes.iter().map(|(a, _)| a.segment().clone()).collect();
    let mut ranges = object_ranges(&objs.seg);
    for s in &pipe_segs {
        ranges.extend(object_ranges(s));
    }
    let rounds = (o.ops / OPS_PER_ROUND).max(1);
    let n = scribblers + operators;
    // Progress in the units the kill points use (total = --ops * participants).
    let step = (o.ops * n as u64 / (rounds * operators as u64)).max(1);
    // Scribblers stop once the operators are done: those still expected to finish (a killed one
    // never reports), or at the latest before the watchdog would fire.
    let expected = operators.saturating_sub(o.kill as usize).max(1) as u64;
    let hard_stop = super::watchdog(o).saturating_sub(Duration::from_secs(10));
    let pipes = std::cell::RefCell::new(pipes);
    let cv = c.clone();
    let prefer = || {
        u32::try_from(c.get(VICTIM).load(Ordering::SeqCst))
            .ok()
            .filter(|&p| p != 0)
    };
    supervise_with(
        o,
        &mut rep,
        &c,
        n,
        |i| {
            let mut rng = Rng::new(o.seed.wrapping_mul(1000).wrapping_add(i as u64));
            if i < scribblers {
                pipes.borrow_mut().clear();
                let _mapped = &pipe_segs;
                let start = Instant::now();
                scribble(&ranges, &mut rng, &cv, || {
                    cv.get(FINISHED).load(Ordering::SeqCst) >= expected || start.elapsed() > hard_stop
                });
                return;
            }
            let mut pipe = {
                let mut all = pipes.borrow_mut();
                let mine = all.swap_remove(i - scribblers);
                all.clear();
                mine
            };
            let mut tm = Timer {
                c: &cv,
                calls: 0,
                errors: 0,
                max_overrun: Duration::ZERO,
            };
            cv.get(VICTIM).store(u64::from(std::process::id()), Ordering::SeqCst);
            for r in 0..rounds {
                cv.get(VICTIM).store(u64::from(std::process::id()), Ordering::SeqCst);
                round(&objs, &mut pipe, &mut rng, &mut tm, &cv);
                cv.get(Counters::PROGRESS).fetch_add(step, Ordering::SeqCst);
                if (r + 1) % (PROGRESS_EVERY / 8) == 0 {
                    tm.flush();
                }
            }
            tm.flush();
            cv.get(FINISHED).fetch_add(1, Ordering::SeqCst);
        },
        &prefer,
    );
    rep.violate("deadline", c.get(LATE).load(Ordering::SeqCst));
    rep.ops = c.get(Counters::DONE).load(Ordering::SeqCst);
    finish(&mut rep, &c);
    let overrun_ms = c.get(MAX_OVERRUN_NS).load(Ordering::SeqCst) as f64 / 1e6;
    rep.metrics.insert("max_overrun_ms".into(), overrun_ms);
    rep.notes.push(format!(
        "{scribblers} scribbler(s) made {} random write(s) over {} object(s) while {operators} operator(s) made \
         {} timed call(s) ({} typed error(s), allowed); longest overrun past a deadline {overrun_ms:.1} ms \
         (limit {} ms); recoveries = locks taken over from a dead holder",
        c.get(WRITES).load(Ordering::SeqCst),
        ranges.len(),
        rep.ops,
        c.get(ERRORS).load(Ordering::SeqCst),
        MARGIN.as_millis()
    ));
    rep
}
