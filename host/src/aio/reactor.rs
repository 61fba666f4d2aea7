//! The per-process reactor: one thread, started on first use, that waits on many shared-memory futex
//! words (and pidfds, and deadlines) at once and wakes the tasks whose word changed.
//!
//! # Backends
//! - **io_uring** (Linux >= 6.7, chosen when the kernel's opcode probe lists `IORING_OP_FUTEX_WAIT`):
//!   one `FUTEX_WAIT` request per registered word, one `POLL_ADD` per pidfd, a `FUTEX_WAIT` on the
//!   reactor's own doorbell word (rung when a registration is added), and the submit call's timeout
//!   for deadlines and the liveness tick. Any number of waits; the thread sleeps in the kernel until
//!   one completes.
//! - **futex_waitv** (Linux >= 5.16, or `RINGFORK_AIO=waitv`): one `futex_waitv` call on the doorbell
//!   and up to [`WAITV_MAX`] − 1 registered words. Registrations beyond that are polled: the
//!   reactor then wakes every [`OVERFLOW_POLL`] and compares them in user space (a timed poll, so a
//!   wait costs at most that much extra latency, never a hang). Pidfds are polled the same way.
//!
//! Without either (a kernel older than 5.16, or both system calls forbidden by a seccomp filter), every
//! registration is polled every [`OVERFLOW_POLL`]: slower and a little CPU, never a silent hang.
//!
//! # No lost wake-up (see also `docs/architecture.md`)
//! A future snapshots the word, registers as a sleeper with the primitive (so wakers make the wake
//! system call), re-checks its condition, and only then registers `(word, snapshot)` here. The kernel
//! compares the word with the snapshot when the wait is queued and fails it with `EAGAIN` if it
//! changed, and a `futex_wake` after the wait is queued completes it: a change between the re-check
//! and the queueing is never missed. The polled paths compare in user space on every pass.
//!
//! # Liveness
//! Every [`PROBE_INTERVAL`] the reactor runs the probes registered with the waits (is every peer of
//! this queue dead?), with one `/proc` read per distinct process per tick shared by all of them, and
//! completes the waits whose probe says so. So a thousand pending `get_async` calls cost one tick
//! per 50 ms, not a thousand task wake-ups.

use ringfork_core::atomic::{AtomicU32, Ordering};
use std::collections::HashMap;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::AtomicPtr;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

/// How often pending waits' liveness probes run (the blocking calls' probe interval).
pub const PROBE_INTERVAL: Duration = ringfork_core::queue::blocking::PROBE_INTERVAL;

/// The most words one `futex_waitv` call takes (a kernel limit).
pub const WAITV_MAX: usize = 128;

/// How often waits that the kernel is not watching (beyond [`WAITV_MAX`], or pidfds, in the
/// fallback backends) are compared in user space.
pub const OVERFLOW_POLL: Duration = Duration::from_millis(10);

/// How a pending wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fired {
    /// The word changed, was woken, or the fd became readable (re-check the condition).
    Woken,
    /// The wait's deadline passed.
    Deadline,
    /// The wait's liveness probe says to give up.
    Probe,
}

/// What a wait waits for.
#[derive(Debug)]
pub(crate) enum Source {
    /// A 32-bit futex word (its address; kept mapped by the entry's `keep`) and the value it held.
    Futex { addr: usize, expected: u32 },
    /// A file descriptor to become readable (a pidfd: the process exited).
    Fd(RawFd),
    /// Only the deadline.
    Timer,
}

/// What keeps a wait's memory or descriptor alive until the kernel is done with it.
pub(crate) enum Keep {
    /// The mapping the futex word lives in.
    Segment(crate::segment::Segment),
    /// The descriptor polled.
    Fd(OwnedFd),
    /// Nothing (a timer).
    None,
}

impl std::fmt::Debug for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Keep::Segment(_) => "Keep::Segment",
            Keep::Fd(fd) => return write!(f, "Keep::Fd({})", std::os::fd::AsRawFd::as_raw_fd(fd)),
            Keep::None => "Keep::None",
        })
    }
}

/// A liveness probe: `true` means "give up waiting" (asked once per [`PROBE_INTERVAL`]).
pub(crate) type Probe = Box<dyn FnMut(&mut Liveness) -> bool + Send>;

/// Per-tick cache of process liveness answers, so many probes over the same peers read `/proc` once.
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    answers: HashMap<(u32, u64), bool>,
}

impl Liveness {
    /// Whether the process `pid` with start time `start` (0: unknown) may still be alive.
    pub(crate) fn alive(&mut self, pid: u32, start: u64) -> bool {
        *self.answers.entry((pid, start)).or_insert_with(|| {
            use ringfork_core::os::{self, Liveness as L};
            if start == 0 {
                os::pid_exists(pid) != L::Dead
            } else {
                os::probe(os::ProcessStamp { pid, start_time: start }) != L::Dead
            }
        })
    }
}

struct Entry {
    source: Source,
    deadline: Option<Instant>,
    probe: Option<Probe>,
    waker: Option<Waker>,
    fired: Option<Fired>,
    /// A kernel request (io_uring) refers to the entry's word or fd.
    in_kernel: bool,
    /// The registration was dropped: remove once the kernel is done.
    dropped: bool,
    keep: Keep,
}

enum Todo {
    Arm(u64),
    Cancel(u64),
}

#[derive(Default)]
struct Table {
    next_id: u64,
    entries: HashMap<u64, Entry>,
    todo: Vec<Todo>,
}

pub(crate) struct Reactor {
    /// The process the reactor (and its thread) belongs to.
    pid: u32,
    table: Mutex<Table>,
    /// Rung (bumped and woken) by every registration so the thread re-reads the table.
    doorbell: AtomicU32,
    /// Which backend the thread runs (for tests and the bench).
    backend: OnceLock<Backend>,
}

/// The waiting mechanism the reactor uses (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// io_uring futex waits (Linux >= 6.7).
    IoUring,
    /// `futex_waitv` on up to 127 words, the rest polled (Linux >= 5.16).
    FutexWaitv,
    /// Every wait compared in user space every [`OVERFLOW_POLL`].
    Poll,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("pid", &self.pid)
            .field("backend", &self.backend.get())
            .finish()
    }
}

const DOORBELL_UD: u64 = u64::MAX;
const CANCEL_UD: u64 = u64::MAX - 1;

/// This process's reactor (null before the first registration). A forked child finds its parent's
/// here, recognises it by the pid, and starts its own: the reactor is per *process*, and the child
/// must not touch locks the parent's threads may have held at the fork.
static CURRENT: AtomicPtr<Reactor> = AtomicPtr::new(std::ptr::null_mut());
/// The pid of the process starting a reactor right now (0: nobody).
static STARTING: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn lock(m: &Mutex<Table>) -> MutexGuard<'_, Table> {
    // A panic while holding the table (none is expected) must not wedge every future.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn current(me: u32) -> Option<&'static Reactor> {
    // Ordering: Acquire pairs with the Release store that published the reactor.
    let p = CURRENT.load(std::sync::atomic::Ordering::Acquire);
    // SAFETY: a non-null CURRENT points to a leaked (never freed) Reactor.
    let r = unsafe { p.as_ref() }?;
    (r.pid == me).then_some(r)
}

/// The process's reactor, its thread started if it is not running. `None` if the thread cannot be
/// started (the caller polls instead; see [`Registration::new`]).
fn reactor() -> Option<&'static Reactor> {
    use std::sync::atomic::Ordering as O;
    let me = std::process::id();
    if let Some(r) = current(me) {
        return Some(r);
    }
    loop {
        // Ordering: Acquire/Relaxed: a plain try-lock; what it protects is published through CURRENT.
        match STARTING.compare_exchange(0, me, O::Acquire, O::Relaxed) {
            Ok(_) => break,
            // Another thread of this process is starting it: wait for it.
            Err(p) if p == me => {
                std::thread::yield_now();
                if let Some(r) = current(me) {
                    return Some(r);
                }
            }
            // Left over from the parent by a fork in the middle of a start: ours to take.
            Err(p) => {
                // Ordering: as above.
                let _ = STARTING.compare_exchange(p, me, O::Acquire, O::Relaxed);
            }
        }
    }
    let r = current(me).or_else(|| {
        let r: &'static Reactor = Box::leak(Box::new(Reactor {
            pid: me,
            table: Mutex::new(Table::default()),
            doorbell: AtomicU32::new(0),
            backend: OnceLock::new(),
        }));
        let spawned = std::thread::Builder::new()
            .name("ringfork-aio".into())
            .spawn(move || run(r));
        spawned.ok()?;
        // Ordering: Release publishes the reactor to `current`'s Acquire load.
        CURRENT.store((r as *const Reactor).cast_mut(), O::Release);
        Some(r)
    });
    // Ordering: Release ends the try-lock.
    STARTING.store(0, O::Release);
    r
}

/// The backend the process's reactor runs, starting it if needed (`None`: it could not start).
///
/// ```
/// # #[cfg(feature = "async")] {
/// let b = ringfork::aio::backend();
/// assert!(b.is_some());
/// # }
/// ```
pub fn backend() -> Option<Backend> {
    let r = reactor()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(b) = r.backend.get() {
            return Some(*b);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One pending wait, registered with the reactor until dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    id: u64,
    reactor: Option<&'static Reactor>,
    /// Without a reactor: the wait reports itself woken at once (the caller re-checks: a poll).
    deadline: Option<Instant>,
}

impl Registration {
    /// Registers a wait; `waker` is woken when it fires.
    pub(crate) fn new(
        source: Source,
        deadline: Option<Instant>,
        probe: Option<Probe>,
        keep: Keep,
        waker: &Waker,
    ) -> Registration {
        let Some(r) = reactor() else {
            // No thread: degrade to polling rather than hang (the caller re-polls at once).
            waker.wake_by_ref();
            return Registration {
                id: 0,
                reactor: None,
                deadline,
            };
        };
        let arm = !matches!(source, Source::Timer);
        let id = {
            let mut t = lock(&r.table);
            t.next_id += 1;
            let id = t.next_id;
            t.entries.insert(
                id,
                Entry {
                    source,
                    deadline,
                    probe,
                    waker: Some(waker.clone()),
                    fired: None,
                    in_kernel: false,
                    dropped: false,
                    keep,
                },
            );
            if arm {
                t.todo.push(Todo::Arm(id));
            }
            id
        };
        r.ring();
        Registration {
            id,
            reactor: Some(r),
            deadline,
        }
    }

    /// How the wait ended, if it did; otherwise stores `waker` to be woken.
    pub(crate) fn fired(&self, waker: &Waker) -> Option<Fired> {
        let Some(r) = self.reactor else {
            return Some(match self.deadline {
                Some(d) if Instant::now() >= d => Fired::Deadline,
                _ => Fired::Woken,
            });
        };
        if r.pid != std::process::id() {
            // Polled in a forked child: the parent's reactor does not run here. Report a wake-up so
            // the future re-checks and registers with this process's reactor.
            return Some(Fired::Woken);
        }
        let mut t = lock(&r.table);
        let Some(e) = t.entries.get_mut(&self.id) else {
            // Gone (cannot happen while the registration lives; never wait on nothing).
            return Some(Fired::Woken);
        };
        if e.fired.is_none() {
            match &e.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => e.waker = Some(waker.clone()),
            }
        }
        e.fired
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(r) = self.reactor else { return };
        if r.pid != std::process::id() {
            // A forked child's copy of its parent's registration: the parent's table (and its lock,
            // which another thread may have held at the fork) is not ours to touch.
            return;
        }
        let mut t = lock(&r.table);
        let Some(e) = t.entries.get_mut(&self.id) else {
            return;
        };
        if e.in_kernel {
            e.dropped = true;
            e.waker = None;
            e.probe = None;
            t.todo.push(Todo::Cancel(self.id));
            drop(t);
            r.ring();
        } else {
            let e = t.entries.remove(&self.id);
            drop(t);
            // Dropped outside the lock: a `keep` may unmap a segment.
            drop(e);
        }
    }
}

impl Reactor {
    fn ring(&self) {
        // Ordering: Release pairs with the reactor's Acquire load before it drains the table (the
        // table's mutex already orders the entries; this only has to change the word).
        self.doorbell.fetch_add(1, Ordering::Release);
        let _ = rustix::thread::futex::wake(&self.doorbell, rustix::thread::futex::Flags::empty(), 1);
    }

    /// Marks `id` fired (if still wanted) and returns its waker.
    fn fire(t: &mut Table, id: u64, how: Fired) -> Option<Waker> {
        let e = t.entries.get_mut(&id)?;
        if e.fired.is_some() {
            return None;
        }
        e.fired = Some(how);
        e.waker.take()
    }

    /// Runs due probes and deadlines; fires what is due. Returns the next deadline among entries.
    fn sweep(&self, tick: bool, live: &mut Liveness, woken: &mut Vec<Waker>) -> Option<Instant> {
        let now = Instant::now();
        let mut next = None::<Instant>;
        let mut t = lock(&self.table);
        let mut fire = Vec::new();
        for (id, e) in t.entries.iter_mut() {
            if e.fired.is_some() || e.dropped {
                continue;
            }
            if let Some(d) = e.deadline {
                if now >= d {
                    fire.push((*id, Fired::Deadline));
                    continue;
                }
                next = Some(next.map_or(d, |n| n.min(d)));
            }
            if tick {
                if let Some(p) = e.probe.as_mut() {
                    if p(live) {
                        fire.push((*id, Fired::Probe));
                    }
                }
            }
        }
        for (id, how) in fire {
            woken.extend(Self::fire(&mut t, id, how));
        }
        next
    }
}

fn timeout_until(at: Instant) -> Duration {
    at.saturating_duration_since(Instant::now())
}

fn run(r: &'static Reactor) {
    let prefer_waitv = std::env::var_os("RINGFORK_AIO").is_some_and(|v| v == "waitv");
    let prefer_poll = std::env::var_os("RINGFORK_AIO").is_some_and(|v| v == "poll");
    if !prefer_waitv && !prefer_poll {
        if let Some(ring) = uring::open() {
            let _ = r.backend.set(Backend::IoUring);
            uring::run(r, ring);
            return;
        }
    }
    if !prefer_poll && waitv_works() {
        let _ = r.backend.set(Backend::FutexWaitv);
        run_waitv(r, WAITV_MAX);
    } else {
        let _ = r.backend.set(Backend::Poll);
        run_waitv(r, 0);
    }
}

/// Whether `futex_waitv` exists here (a call on a word that does not hold the value fails with
/// `EAGAIN`; an old kernel says `ENOSYS`).
fn waitv_works() -> bool {
    use rustix::thread::futex;
    let word = AtomicU32::new(1);
    let mut w = futex::Wait::new();
    w.val = 0;
    w.uaddr = futex::WaitPtr::new(word.as_ptr().cast());
    w.flags = futex::WaitFlags::SIZE_U32;
    let r = futex::waitv(&[w], futex::WaitvFlags::empty(), None, rustix::time::ClockId::Monotonic);
    matches!(r, Err(rustix::io::Errno::AGAIN) | Ok(_))
}

/// The `futex_waitv` backend (`kernel_max` words in the kernel; 0: the pure polling backend).
fn run_waitv(r: &'static Reactor, kernel_max: usize) {
    use rustix::thread::futex;
    let mut live = Liveness::default();
    let mut next_tick = Instant::now() + PROBE_INTERVAL;
    let mut waits: Vec<futex::Wait> = Vec::new();
    let mut woken = Vec::new();
    let mut keep: Vec<crate::segment::Segment> = Vec::new();
    let mut fds: Vec<(u64, RawFd)> = Vec::new();
    loop {
        // Ordering: Acquire pairs with `ring`'s Release bump; read before the table is scanned so a
        // registration made after the scan changes it and fails the wait with EAGAIN.
        let bell = r.doorbell.load(Ordering::Acquire);
        let tick = Instant::now() >= next_tick;
        if tick {
            live.answers.clear();
            next_tick = Instant::now() + PROBE_INTERVAL;
        }
        let next_deadline = r.sweep(tick, &mut live, &mut woken);
        waits.clear();
        keep.clear();
        fds.clear();
        let mut polled = false;
        {
            let mut t = lock(&r.table);
            t.todo.clear();
            let mut fire = Vec::new();
            for (id, e) in t.entries.iter() {
                if e.fired.is_some() {
                    continue;
                }
                match e.source {
                    Source::Futex { addr, expected } => {
                        // SAFETY: `addr` is a 4-aligned futex word in a mapping the entry's `keep`
                        // holds (the registration's owner created it from a `&AtomicU32`).
                        let word = unsafe { &*(addr as *const AtomicU32) };
                        // Ordering: Acquire pairs with the waker's Release change.
                        if word.load(Ordering::Acquire) != expected {
                            fire.push(*id);
                        } else if waits.len() + 1 < kernel_max {
                            let mut w = futex::Wait::new();
                            w.val = u64::from(expected);
                            w.uaddr = futex::WaitPtr::new(addr as *mut _);
                            w.flags = futex::WaitFlags::SIZE_U32;
                            waits.push(w);
                            if let Keep::Segment(s) = &e.keep {
                                keep.push(s.clone());
                            }
                        } else {
                            polled = true;
                        }
                    }
                    Source::Fd(fd) => {
                        fds.push((*id, fd));
                        polled = true;
                    }
                    Source::Timer => {}
                }
            }
            if !fds.is_empty() {
                let mut pfds: Vec<libc::pollfd> = fds
                    .iter()
                    .map(|(_, fd)| libc::pollfd {
                        fd: *fd,
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect();
                // SAFETY: `pfds` is a valid array of pollfd; the fds are kept open by the entries
                // (their `keep`), which cannot be removed while we hold the table lock.
                let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 0) };
                if n > 0 {
                    for (p, (id, _)) in pfds.iter().zip(&fds) {
                        if p.revents != 0 {
                            fire.push(*id);
                        }
                    }
                }
            }
            for id in fire {
                woken.extend(Reactor::fire(&mut t, id, Fired::Woken));
            }
        }
        for w in woken.drain(..) {
            w.wake();
        }
        let mut until = next_tick;
        if let Some(d) = next_deadline {
            until = until.min(d);
        }
        if polled {
            until = until.min(Instant::now() + OVERFLOW_POLL);
        }
        let mut bellw = futex::Wait::new();
        bellw.val = u64::from(bell);
        bellw.uaddr = futex::WaitPtr::new(r.doorbell.as_ptr().cast());
        bellw.flags = futex::WaitFlags::SIZE_U32;
        waits.push(bellw);
        let left = timeout_until(until);
        if kernel_max == 0 {
            // Pure polling: sleep on the doorbell alone.
            let ts = rustix::time::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let _ = futex::wait(&r.doorbell, futex::Flags::empty(), bell, Some(&ts));
            continue;
        }
        // futex_waitv takes an absolute CLOCK_MONOTONIC timeout.
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let total = (now.tv_nsec as u128) + left.as_nanos() + (now.tv_sec as u128) * 1_000_000_000;
        let abs = rustix::time::Timespec {
            tv_sec: (total / 1_000_000_000) as i64,
            tv_nsec: (total % 1_000_000_000) as i64,
        };
        // Whatever woke us, the next pass compares every word in user space. An unexpected error
        // would repeat at once: pause rather than spin.
        match futex::waitv(
            &waits,
            futex::WaitvFlags::empty(),
            Some(&abs),
            rustix::time::ClockId::Monotonic,
        ) {
            Ok(_) | Err(rustix::io::Errno::AGAIN | rustix::io::Errno::TIMEDOUT | rustix::io::Errno::INTR) => {}
            Err(_) => std::thread::sleep(OVERFLOW_POLL),
        }
    }
}

mod uring {
    use super::*;
    use io_uring::{opcode, types, IoUring};

    /// futex2 flags: a 32-bit, *shared* futex (woken by `futex_wake` from other processes).
    const FUTEX2_SIZE_U32: u32 = 2;
    const FUTEX_BITSET_MATCH_ANY: u64 = 0xffff_ffff;

    pub(super) fn open() -> Option<IoUring> {
        let ring = IoUring::new(512).ok()?;
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe).ok()?;
        if !probe.is_supported(opcode::FutexWait::CODE) || !probe.is_supported(opcode::PollAdd::CODE) {
            return None;
        }
        Some(ring)
    }

    fn push(ring: &mut IoUring, sqe: &io_uring::squeue::Entry) {
        loop {
            // SAFETY: every SQE we build refers to memory (a futex word in a mapping kept by its entry,
            // the leaked reactor's doorbell) or an fd (kept open by its entry) that outlives the
            // request: an entry is only removed after its request's completion was seen.
            if unsafe { ring.submission().push(sqe) }.is_ok() {
                return;
            }
            // Full: hand what we have to the kernel and retry.
            let _ = ring.submit();
        }
    }

    pub(super) fn run(r: &'static Reactor, mut ring: IoUring) {
        let mut live = Liveness::default();
        let mut next_tick = Instant::now() + PROBE_INTERVAL;
        let mut bell_armed = false;
        let mut woken = Vec::new();
        let mut removed = Vec::new();
        loop {
            // Ordering: Acquire pairs with `ring`'s Release bump (see run_waitv).
            let bell = r.doorbell.load(Ordering::Acquire);
            {
                let mut t = lock(&r.table);
                let todo = std::mem::take(&mut t.todo);
                for td in todo {
                    match td {
                        Todo::Arm(id) => {
                            let Some(e) = t.entries.get_mut(&id) else { continue };
                            if e.fired.is_some() || e.dropped || e.in_kernel {
                                continue;
                            }
                            let sqe = match e.source {
                                Source::Futex { addr, expected } => opcode::FutexWait::new(
                                    addr as *const u32,
                                    u64::from(expected),
                                    FUTEX_BITSET_MATCH_ANY,
                                    FUTEX2_SIZE_U32,
                                )
                                .build(),
                                Source::Fd(fd) => opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32).build(),
                                Source::Timer => continue,
                            };
                            e.in_kernel = true;
                            push(&mut ring, &sqe.user_data(id));
                        }
                        Todo::Cancel(id) => {
                            push(&mut ring, &opcode::AsyncCancel::new(id).build().user_data(CANCEL_UD));
                        }
                    }
                }
            }
            if !bell_armed {
                let sqe = opcode::FutexWait::new(
                    r.doorbell.as_ptr().cast_const(),
                    u64::from(bell),
                    FUTEX_BITSET_MATCH_ANY,
                    FUTEX2_SIZE_U32,
                )
                .build()
                .user_data(DOORBELL_UD);
                push(&mut ring, &sqe);
                bell_armed = true;
            }
            let tick = Instant::now() >= next_tick;
            if tick {
                live.answers.clear();
                next_tick = Instant::now() + PROBE_INTERVAL;
            }
            let next_deadline = r.sweep(tick, &mut live, &mut woken);
            for w in woken.drain(..) {
                w.wake();
            }
            let until = next_deadline.map_or(next_tick, |d| d.min(next_tick));
            let left = timeout_until(until).max(Duration::from_micros(1));
            let ts = types::Timespec::new().sec(left.as_secs()).nsec(left.subsec_nanos());
            let args = types::SubmitArgs::new().timespec(&ts);
            // ETIME (the timeout), EINTR and EBUSY (completions to reap first) are normal; any other
            // error (ENOMEM, ...) would repeat at once: pause rather than spin, the loop re-checks.
            if let Err(e) = ring.submitter().submit_with_args(1, &args) {
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) {
                    std::thread::sleep(OVERFLOW_POLL);
                }
            }
            {
                let mut t = lock(&r.table);
                for cqe in ring.completion() {
                    let id = cqe.user_data();
                    if id == DOORBELL_UD {
                        bell_armed = false;
                        continue;
                    }
                    if id == CANCEL_UD {
                        continue;
                    }
                    let Some(e) = t.entries.get_mut(&id) else { continue };
                    e.in_kernel = false;
                    if e.dropped {
                        if let (0, Source::Futex { addr, .. }) = (cqe.result(), &e.source) {
                            // A wake-one (a queue's notify, a semaphore's release) reached a wait
                            // whose future is gone: pass it on so a live waiter does not miss it.
                            // SAFETY: the entry's `keep` still maps the word (removed just below).
                            let word = unsafe { &*(*addr as *const AtomicU32) };
                            let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), 1);
                        }
                        removed.extend(t.entries.remove(&id));
                        continue;
                    }
                    // 0: woken; -EAGAIN: the word had changed; a poll result: readable. Anything
                    // else (-EINTR, ...) is a spurious wake-up: the future re-checks and re-arms.
                    let _ = cqe.result();
                    woken.extend(Reactor::fire(&mut t, id, Fired::Woken));
                }
            }
            // Outside the lock: dropping a `keep` may unmap a segment or close a pidfd.
            removed.clear();
            for w in woken.drain(..) {
                w.wake();
            }
        }
    }
}
