//! Raw mechanisms measured as baselines: what a user could pick instead of ringfork, and the hardware
//! limits (an atomic ping-pong on one cache line, `memcpy`).
//!
//! Every cross-process measurement forks a partner from the (single-threaded) `ringfork` process. A
//! partner that does not finish within [`PARTNER_DEADLINE`] is SIGKILLed and the sample is NaN.

use ringfork::Segment;
use ringfork_core::atomic::{AtomicU32, Ordering};
use ringfork_core::wait::Futex;
use ringfork_core::Deadline;
use std::time::{Duration, Instant};

pub use crate::child::{fork_partner, pin, unpin, Partner};

/// A 4 KiB anonymous shared scratch area with `n` words, each on its own 128-byte line.
pub struct Words {
    seg: Segment,
    off: usize,
}

impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Words")
    }
}

impl Words {
    /// `n` (≤ 32) zeroed words.
    pub fn new(n: usize) -> Words {
        let seg = Segment::anonymous(4096 + n * 128).expect("anonymous segment");
        let off = seg
            .alloc(ringfork_core::Kind::Cell, "bench-words", n.max(1) * 128, 128)
            .expect("alloc");
        Words { seg, off }
    }

    /// Word `i` as an atomic.
    pub fn word(&self, i: usize) -> &AtomicU32 {
        let r = self.seg.sub_region(self.off + i * 128, 4).expect("word in bounds");
        // SAFETY: 4 bytes inside our live mapping, 128-aligned; only accessed atomically.
        unsafe { &*(r.as_ptr() as *const AtomicU32) }
    }

    /// Raw pointer to the `i`-th 128-byte line (for foreign structures such as pthread mutexes,
    /// which need up to 40 bytes).
    pub fn line_ptr(&self, i: usize) -> *mut u8 {
        self.seg
            .sub_region(self.off + i * 128, 128)
            .expect("line in bounds")
            .as_ptr()
    }
}

/// The fork-partner skeleton of every ping-pong row: forks a partner (pinned to `cpu`, as this
/// process is for the run, if given) that runs `answer(i)` for `i` in `0..iters`, then times this
/// process running `ask(i)` for the same `i`s: ns per round trip, NaN if the partner failed.
pub fn pingpong(iters: u64, cpu: Option<usize>, mut answer: impl FnMut(u64), mut ask: impl FnMut(u64)) -> f64 {
    if let Some(c) = cpu {
        pin(c);
    }
    let child = fork_partner(cpu, move || (0..iters).for_each(&mut answer));
    let start = Instant::now();
    (0..iters).for_each(&mut ask);
    let ns = start.elapsed().as_nanos() as f64 / iters as f64;
    let ok = child.join();
    if cpu.is_some() {
        unpin();
    }
    if ok {
        ns
    } else {
        f64::NAN
    }
}

/// Round trips of a busy-spinning atomic ping-pong on one word between two processes: ns/roundtrip.
/// The hardware limit for cross-core signalling.
pub fn atomic_pingpong(iters: u64) -> f64 {
    let w = Words::new(1);
    let word = w.word(0);
    pingpong(
        iters,
        None,
        |i| {
            let i = i as u32;
            // Ordering: Acquire pairs with the parent's Release store of the odd value.
            while word.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            // Ordering: Release publishes the answer.
            word.store(2 * i + 2, Ordering::Release);
        },
        |i| {
            let i = i as u32;
            // Ordering: Release publishes our turn to the partner's Acquire load.
            word.store(2 * i + 1, Ordering::Release);
            // Ordering: Acquire pairs with the partner's Release store.
            while word.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
            }
        },
    )
}

/// Round trips of a raw shared-futex ping-pong (no spinning: every wait parks): ns/roundtrip. With
/// `pinned`, both processes share CPU 0, so the figure is the pure syscall + context-switch cost.
pub fn futex_pingpong(iters: u64, pinned: bool) -> f64 {
    futex_pingpong_with(iters, pinned, None)
}

/// [`futex_pingpong`] where every wait carries a timeout (as waits that must wake up to probe a
/// peer's liveness do): ns/roundtrip. Shows what arming a timer per wait costs.
pub fn futex_pingpong_timed(iters: u64) -> f64 {
    futex_pingpong_with(iters, false, Some(Duration::from_millis(50)))
}

fn futex_pingpong_with(iters: u64, pinned: bool, timeout: Option<Duration>) -> f64 {
    let deadline = move || match timeout {
        None => Deadline::Never,
        Some(t) => Deadline::after::<<Futex as ringfork_core::Wait>::Clock>(t),
    };
    let w = Words::new(1);
    let word = w.word(0);
    // Parks until the word holds `want`.
    let park_until = |want: u32| loop {
        // Ordering: Acquire pairs with the other side's Release store.
        let v = word.load(Ordering::Acquire);
        if v == want {
            break;
        }
        let _ = <Futex as ringfork_core::Wait>::park(word, v, deadline());
    };
    pingpong(
        iters,
        pinned.then_some(0),
        |i| {
            let i = i as u32;
            park_until(2 * i + 1);
            // Ordering: Release publishes the answer to the parent's Acquire load.
            word.store(2 * i + 2, Ordering::Release);
            <Futex as ringfork_core::Wait>::wake(word, 1);
        },
        |i| {
            let i = i as u32;
            // Ordering: Release publishes our turn; the partner loads it with Acquire.
            word.store(2 * i + 1, Ordering::Release);
            <Futex as ringfork_core::Wait>::wake(word, 1);
            park_until(2 * i + 2);
        },
    )
}

fn fd_pingpong(iters: u64, pinned: bool, socket: bool) -> f64 {
    let mut a = [0i32; 2];
    let mut b = [0i32; 2];
    // SAFETY: pipe/socketpair write two fds into the arrays.
    unsafe {
        if socket {
            libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, a.as_mut_ptr());
            b = a;
        } else {
            libc::pipe2(a.as_mut_ptr(), libc::O_CLOEXEC);
            libc::pipe2(b.as_mut_ptr(), libc::O_CLOEXEC);
        }
    }
    // Parent writes to `pw`, reads from `pr`; child the opposite.
    let (pw, cr) = if socket { (a[0], a[1]) } else { (a[1], a[0]) };
    let (cw, pr) = if socket { (a[1], a[0]) } else { (b[1], b[0]) };
    let cpu = pinned.then_some(0);
    if pinned {
        pin(0);
    }
    let child = fork_partner(cpu, move || {
        let mut byte = [0u8; 1];
        for _ in 0..iters {
            // SAFETY: reading/writing one byte from/to fds we own.
            unsafe {
                if libc::read(cr, byte.as_mut_ptr().cast(), 1) != 1 {
                    panic!("read failed");
                }
                libc::write(cw, byte.as_ptr().cast(), 1);
            }
        }
    });
    let mut byte = [7u8; 1];
    let start = Instant::now();
    for _ in 0..iters {
        // SAFETY: as above.
        unsafe {
            libc::write(pw, byte.as_ptr().cast(), 1);
            if libc::read(pr, byte.as_mut_ptr().cast(), 1) != 1 {
                break;
            }
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / iters as f64;
    let ok = child.join();
    if pinned {
        unpin();
    }
    // SAFETY: closing fds we own (each once).
    unsafe {
        libc::close(a[0]);
        libc::close(a[1]);
        if !socket {
            libc::close(b[0]);
            libc::close(b[1]);
        }
    }
    if ok {
        ns
    } else {
        f64::NAN
    }
}

/// 1-byte ping-pong over two pipes: ns/roundtrip.
pub fn pipe_pingpong(iters: u64, pinned: bool) -> f64 {
    fd_pingpong(iters, pinned, false)
}

/// 1-byte ping-pong over a unix socketpair: ns/roundtrip.
pub fn socketpair_pingpong(iters: u64, pinned: bool) -> f64 {
    fd_pingpong(iters, pinned, true)
}

/// In-process SPSC throughput of `rtrb` (producer and consumer threads): Mitems/s. The ceiling a
/// cross-process ring can hope to match.
pub fn rtrb_spsc(items: u64) -> f64 {
    let (mut p, mut c) = rtrb::RingBuffer::<u64>::new(4096);
    let start = Instant::now();
    let t = std::thread::spawn(move || {
        let mut i = 0;
        while i < items {
            if p.push(i).is_ok() {
                i += 1;
            } else {
                std::hint::spin_loop();
            }
        }
    });
    let mut expect = 0;
    while expect < items {
        match c.pop() {
            Ok(v) => {
                assert_eq!(v, expect);
                expect += 1;
            }
            Err(_) => std::hint::spin_loop(),
        }
    }
    let _ = t.join();
    items as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// In-process 2-producer/2-consumer throughput of crossbeam's `ArrayQueue`: Mitems/s.
pub fn crossbeam_mpmc(items: u64) -> f64 {
    let q = std::sync::Arc::new(crossbeam_queue::ArrayQueue::<u64>::new(4096));
    let per = items / 2;
    let start = Instant::now();
    let mut ts = Vec::new();
    for _ in 0..2 {
        let q = q.clone();
        ts.push(std::thread::spawn(move || {
            for i in 0..per {
                let mut v = i;
                while let Err(back) = q.push(v) {
                    v = back;
                    std::hint::spin_loop();
                }
            }
        }));
    }
    let got = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    for _ in 0..2 {
        let q = q.clone();
        let got = got.clone();
        ts.push(std::thread::spawn(move || loop {
            // Ordering: Relaxed: a completion counter; the threads are joined before the result is used.
            if got.load(std::sync::atomic::Ordering::Relaxed) >= 2 * per {
                break;
            }
            if q.pop().is_some() {
                // Ordering: Relaxed: as above.
                got.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            } else {
                std::hint::spin_loop();
            }
        }));
    }
    for t in ts {
        let _ = t.join();
    }
    (2 * per) as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// `memcpy` of `size`-byte messages from one buffer to another: messages/s (millions). The copying
/// limit for a byte ring that copies each message in and out once.
pub fn memcpy_rate(size: usize, msgs: u64) -> f64 {
    let src = vec![0xA5u8; size.max(1) * 16];
    let mut dst = vec![0u8; size.max(1) * 16];
    let start = Instant::now();
    for i in 0..msgs as usize {
        let o = (i % 16) * size;
        dst[o..o + size].copy_from_slice(&src[o..o + size]);
        std::hint::black_box(&mut dst);
    }
    msgs as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// Streams `msgs` messages of `size` bytes through a pipe to a child that reads them: Mmsgs/s.
pub fn pipe_stream(size: usize, msgs: u64) -> f64 {
    let mut p = [0i32; 2];
    // SAFETY: pipe2 writes two fds.
    unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) };
    let (r, w) = (p[0], p[1]);
    let total = size as u64 * msgs;
    let child = fork_partner(None, move || {
        // SAFETY: closing the write end in the child; reading into our own buffer.
        unsafe { libc::close(w) };
        let mut buf = vec![0u8; 65536];
        let mut got = 0u64;
        while got < total {
            // SAFETY: as above.
            let n = unsafe { libc::read(r, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            got += n as u64;
        }
        assert_eq!(got, total);
    });
    // SAFETY: closing the read end in the parent.
    unsafe { libc::close(r) };
    let msg = vec![0x5Au8; size];
    let start = Instant::now();
    for _ in 0..msgs {
        let mut off = 0;
        while off < size {
            // SAFETY: writing from our own buffer.
            let n = unsafe { libc::write(w, msg[off..].as_ptr().cast(), size - off) };
            if n <= 0 {
                break;
            }
            off += n as usize;
        }
    }
    // SAFETY: closing our fd.
    unsafe { libc::close(w) };
    let ok = child.join();
    let rate = msgs as f64 / start.elapsed().as_secs_f64() / 1e6;
    if ok {
        rate
    } else {
        f64::NAN
    }
}

/// Which pthread mutex flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PthreadKind {
    /// `PTHREAD_PROCESS_SHARED`.
    Shared,
    /// `PTHREAD_PROCESS_SHARED` + `PTHREAD_MUTEX_ROBUST`.
    Robust,
}

/// `procs` processes each do `ops` lock/increment/unlock rounds on one pthread mutex in shared memory:
/// total Mops/s. With `procs == 1`, the uncontended cost.
pub fn pthread_mutex(kind: PthreadKind, procs: usize, ops: u64) -> f64 {
    let w = Words::new(2);
    let m = w.line_ptr(0) as *mut libc::pthread_mutex_t;
    let counter = w.word(1);
    // SAFETY: m points to 128 zeroed bytes of shared memory (pthread_mutex_t is 40 bytes), aligned;
    // the attribute object is local and destroyed after use.
    unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        libc::pthread_mutexattr_init(&mut attr);
        libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
        if kind == PthreadKind::Robust {
            libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
        }
        libc::pthread_mutex_init(m, &attr);
        libc::pthread_mutexattr_destroy(&mut attr);
    }
    let mp = m as usize;
    contended(procs, ops, counter, move || {
        let m = mp as *mut libc::pthread_mutex_t;
        // SAFETY: m is the initialized process-shared mutex in the inherited mapping.
        unsafe { libc::pthread_mutex_lock(m) };
        move || {
            // SAFETY: as above; we hold it.
            unsafe { libc::pthread_mutex_unlock(m) };
        }
    })
}

/// The same loop on a test-and-test-and-set spin lock (no parking): total Mops/s. Collapses when
/// processes outnumber cores.
pub fn spin_lock(procs: usize, ops: u64) -> f64 {
    let w = Words::new(2);
    let lock = w.word(0) as *const AtomicU32 as usize;
    let counter = w.word(1);
    contended(procs, ops, counter, move || {
        // SAFETY: the word lives in the inherited mapping for the whole measurement.
        let l = unsafe { &*(lock as *const AtomicU32) };
        loop {
            // Ordering: Acquire on success pairs with the Release unlock below.
            if l.compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                break;
            }
            // Ordering: Relaxed: the test before the test-and-set; the CAS (Acquire) orders the critical section.
            while l.load(Ordering::Relaxed) != 0 {
                std::hint::spin_loop();
            }
        }
        // Ordering: Release publishes the critical section to the next Acquire CAS.
        move || l.store(0, Ordering::Release)
    })
}

/// Runs `procs` forked workers doing `ops` critical sections each (`lock` returns the unlock closure);
/// the critical section increments a shared counter non-atomically (load + store), so a broken lock
/// shows up as a wrong total (reported as NaN). Returns total Mops/s.
pub fn contended<U: FnOnce()>(procs: usize, ops: u64, counter: &AtomicU32, lock: impl Fn() -> U + Copy) -> f64 {
    let go = Words::new(1);
    let mut kids = Vec::new();
    for _ in 0..procs {
        let go = &go;
        kids.push(fork_partner(None, move || {
            // Ordering: Acquire pairs with the Release start signal below.
            while go.word(0).load(Ordering::Acquire) == 0 {
                std::hint::spin_loop();
            }
            for _ in 0..ops {
                let unlock = lock();
                // Ordering: Relaxed; the lock orders these; a split load/store detects broken exclusion.
                let v = counter.load(Ordering::Relaxed);
                counter.store(v.wrapping_add(1), Ordering::Relaxed);
                unlock();
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(5));
    let start = Instant::now();
    // Ordering: Release: the start signal.
    go.word(0).store(1, Ordering::Release);
    let ok = kids.into_iter().map(Partner::join).fold(true, |a, b| a & b);
    let secs = start.elapsed().as_secs_f64();
    let total = procs as u64 * ops;
    // Ordering: Acquire: every participant was reaped (waitpid orders their writes before this).
    if ok && counter.load(Ordering::Acquire) as u64 == total & 0xFFFF_FFFF {
        total as f64 / secs / 1e6
    } else {
        f64::NAN
    }
}

/// fork + `_exit(0)` + waitpid of a no-op child: µs per process.
pub fn fork_waitpid(n: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        if !fork_partner(None, || {}).join() {
            return f64::NAN;
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}
