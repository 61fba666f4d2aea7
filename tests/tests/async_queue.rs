//! The `async` feature (issue 19): `*_async` futures served by one reactor thread per process, on
//! tokio's current-thread and multi-thread runtimes: 1,000 queues awaited at once, thread count and
//! idle CPU, a producer SIGKILLed while tasks await, and cancellation with exactly-once accounting.
//!
//! Every case forks its producers *before* the reactor or a runtime starts threads (each case runs
//! in a fresh single-threaded process; see `ringfork_tests::harness`).

use ringfork::{Event, JoinableQueue, PopError, Process, PushError, Queue, Semaphore, SimpleQueue};
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::{fork_child, join_ok, wait_child};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn multi_thread(n: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(n)
        .enable_time()
        .build()
        .unwrap()
}

/// The `Threads:` line of /proc/self/status.
fn threads() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut ru), 0);
        ru
    };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Every `*_async` primitive once, on both runtimes.
fn each_primitive_on_both_runtimes() {
    // Barrier::wait_async across processes: a blocking party in a child, an awaiting one here.
    let b = ringfork::Barrier::new(2).unwrap();
    let b2 = b.clone();
    let pid = fork_child(move || {
        for _ in 0..100 {
            b2.wait_timeout(Duration::from_secs(10)).unwrap();
        }
    });
    // Process::join_async: a pidfd watched by the reactor.
    let mut p = Process::new(|| std::thread::sleep(Duration::from_millis(30)));
    p.start().unwrap();
    // (Both children forked before any thread exists.)
    current_thread().block_on(async {
        for _ in 0..100 {
            assert!(b.wait_async().await.unwrap() < 2);
        }
    });
    join_ok(pid, Duration::from_secs(10));
    current_thread().block_on(p.join_async()).unwrap();
    assert_eq!(p.exitcode(), Some(0));
    for rt in [current_thread(), multi_thread(2)] {
        let q = Queue::<u64>::new(2).unwrap();
        let sq = SimpleQueue::<u64>::new().unwrap();
        let jq = JoinableQueue::<u64>::new(2).unwrap();
        let e = Event::new().unwrap();
        let s = Semaphore::new(0).unwrap();
        let (q2, sq2, jq2, e2, s2) = (q.clone(), sq.clone(), jq.clone(), e.clone(), s.clone());
        rt.block_on(async move {
            let t = tokio::spawn(async move {
                let a = q2.get_async().await.unwrap();
                let b = sq2.get_async().await.unwrap();
                let c = jq2.get_async().await.unwrap();
                jq2.task_done().unwrap();
                e2.wait_async().await;
                s2.acquire_async().await;
                a + b + c
            });
            tokio::time::sleep(Duration::from_millis(5)).await;
            q.put_async(1).await.unwrap();
            sq.put_async(10).await.unwrap();
            jq.put(100).unwrap();
            e.set();
            s.release().unwrap();
            assert_eq!(t.await.unwrap(), 111);
            // put_async waits for room.
            q.put_async(1).await.unwrap();
            q.put_async(2).await.unwrap();
            let q3 = q.clone();
            let t = tokio::spawn(async move { q3.put_async(3).await });
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(q.get_async().await, Ok(1));
            t.await.unwrap().unwrap();
            assert_eq!(q.get_async().await, Ok(2));
            assert_eq!(q.get_async().await, Ok(3));
            // Closing wakes a pending get.
            let q4 = q.clone();
            let t = tokio::spawn(async move { q4.get_async().await });
            tokio::time::sleep(Duration::from_millis(5)).await;
            q.close();
            assert_eq!(t.await.unwrap(), Err(PopError::Closed));
            assert_eq!(q.put_async(9).await, Err(PushError::Closed));
        });
    }
    assert!(ringfork::aio::backend().is_some());
}

fn square(x: u64) -> u64 {
    x * x
}

fn die_on_13(x: u64) -> u64 {
    if x == 13 {
        // SAFETY: a worker killing itself mid-task, as a crash would.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    x + 1
}

/// `AsyncResult` awaited, `imap` as a stream, and a worker SIGKILLed mid-task: that task's future
/// gets `WorkerDied`, every other completes (both runtimes).
fn pool_results_await() {
    // Fork the workers before any runtime thread exists.
    let pool = ringfork::Pool::new(2).unwrap();
    for rt in [current_thread(), multi_thread(2)] {
        rt.block_on(async {
            let rs: Vec<_> = (0..20u64).map(|i| pool.apply_async(square, i).unwrap()).collect();
            for (i, r) in rs.into_iter().enumerate() {
                assert_eq!(r.await, Ok(i as u64 * i as u64));
            }
            let mut s = pool.imap(square, 0..50u64, None).unwrap().into_stream();
            let mut n = 0u64;
            while let Some(r) = s.next_async().await {
                assert_eq!(r, Ok(n * n));
                n += 1;
            }
            assert_eq!(n, 50);
        });
    }
    current_thread().block_on(async {
        let rs: Vec<_> = (10..16u64)
            .map(|i| (i, pool.apply_async(die_on_13, i).unwrap()))
            .collect();
        for (i, r) in rs {
            match r.get_async().await {
                Ok(v) => assert_eq!(v, i + 1),
                Err(ringfork::PoolError::WorkerDied { signal, .. }) => {
                    assert_eq!(i, 13);
                    assert_eq!(signal, Some(libc::SIGKILL));
                }
                Err(e) => panic!("task {i}: {e}"),
            }
        }
    });
}

/// 1,000 queues, each awaited by one task of a current-thread runtime, fed by 4 producer processes
/// in random order: every task gets its own item; the process has at most the main thread and the
/// reactor thread (+1 slack); CPU time stays near zero while the 1,000 waits are pending.
fn thousand_waiters(backend: Option<&str>) {
    const N: usize = 1000;
    const PRODUCERS: u64 = 4;
    if let Some(b) = backend {
        std::env::set_var("RINGFORK_AIO", b);
    }
    let queues: Vec<Queue<u64>> = (0..N).map(|_| Queue::new(2).unwrap()).collect();
    let go = Event::new().unwrap();
    let ready = Semaphore::new(0).unwrap();
    let mut pids = Vec::new();
    for k in 0..PRODUCERS {
        let (qs, go, ready) = (queues.clone(), go.clone(), ready.clone());
        pids.push(fork_child(move || {
            // A bare-fork child registers as a holder of every queue on its first use of one: do
            // that now, so no queue looks abandoned while this producer has not started yet.
            assert_eq!(qs[0].try_get(), Err(PopError::Empty));
            ready.release().unwrap();
            assert!(go.wait_timeout(Duration::from_secs(30)));
            let mut mine: Vec<usize> = (0..N).filter(|i| *i as u64 % PRODUCERS == k).collect();
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (k + 1));
            for i in (1..mine.len()).rev() {
                mine.swap(i, rng.below(i as u64 + 1) as usize);
            }
            for i in mine {
                qs[i].put(i as u64 * 7 + 1).unwrap();
            }
        }));
    }
    for _ in 0..PRODUCERS {
        assert!(ready.acquire_timeout(Duration::from_secs(30)));
    }
    let rt = current_thread();
    let (idle_cpu, threads_pending) = rt.block_on(async {
        let mut tasks = Vec::new();
        for (i, q) in queues.iter().enumerate() {
            let q = q.clone();
            tasks.push(tokio::spawn(async move { (i, q.get_async().await) }));
        }
        // Let every task register, then measure an idle second.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let threads_pending = threads();
        let (c0, t0) = (cpu_time(), Instant::now());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = (cpu_time() - c0).as_secs_f64() / t0.elapsed().as_secs_f64();
        go.set();
        for t in tasks {
            let (i, r) = t.await.unwrap();
            assert_eq!(r, Ok(i as u64 * 7 + 1), "task {i}");
        }
        (idle, threads_pending)
    });
    for pid in pids {
        join_ok(pid, Duration::from_secs(30));
    }
    eprintln!(
        "1000 waiters ({:?}): {threads_pending} threads, idle CPU {:.2}% of a core",
        ringfork::aio::backend(),
        idle_cpu * 100.0
    );
    // Main thread + reactor (+1 slack for the runtime). Generous CPU bound; the bench has the figure.
    assert!(threads_pending <= 3, "{threads_pending} threads");
    assert!(idle_cpu < 0.10, "idle CPU {:.1}% of a core", idle_cpu * 100.0);
}

fn thousand_waiters_io_uring() {
    thousand_waiters(None);
}

fn thousand_waiters_futex_waitv() {
    thousand_waiters(Some("waitv"));
    assert_eq!(ringfork::aio::backend(), Some(ringfork::aio::Backend::FutexWaitv));
}

/// The last-resort backend (kernels without io_uring futex ops or futex_waitv): every wait compared
/// in user space every 10 ms, never a hang.
fn thousand_waiters_timed_poll() {
    thousand_waiters(Some("poll"));
    assert_eq!(ringfork::aio::backend(), Some(ringfork::aio::Backend::Poll));
}

/// A producer SIGKILLed while tasks await its queue: every task gets `Disconnected` within the
/// detection time (generous bound), on both runtimes; `put_async` on a full queue whose consumer
/// died gets `Closed`.
fn killed_producer_disconnects_waiters() {
    for multi in [false, true] {
        let q = Queue::<u64>::new(4).unwrap();
        let full = Queue::<u64>::new(1).unwrap();
        let (q2, full2) = (q.clone(), full.clone());
        let pid = fork_child(move || {
            q2.put(1).unwrap();
            let _hold = full2;
            std::thread::sleep(Duration::from_secs(60));
        });
        let rt = if multi { multi_thread(2) } else { current_thread() };
        rt.block_on(async {
            assert_eq!(q.get_async().await, Ok(1));
            full.put_async(5).await.unwrap();
            let mut tasks = Vec::new();
            for _ in 0..10 {
                let q = q.clone();
                tasks.push(tokio::spawn(async move { q.get_async().await }));
            }
            let f = full.clone();
            let putter = tokio::spawn(async move { f.put_async(6).await });
            tokio::time::sleep(Duration::from_millis(100)).await;
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let t = Instant::now();
            for task in tasks {
                assert_eq!(task.await.unwrap(), Err(PopError::Disconnected));
            }
            assert_eq!(putter.await.unwrap(), Err(PushError::Closed));
            assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
        });
        wait_child(pid, Duration::from_secs(10));
    }
}

/// `Connection::recv_async` / `send_async` across processes (a message larger than the ring is
/// streamed), then the sender is SIGKILLed: a pending `recv_async` gets `Disconnected`.
fn pipe_async_across_processes() {
    let (mut here, mut there) = ringfork::pipe_with(true, 8, 256).unwrap();
    let pid = fork_child(move || {
        let rt = current_thread();
        rt.block_on(async {
            for i in 0..1000u64 {
                let v: u64 = there.recv_async().await.unwrap();
                assert_eq!(v, i);
                there.send_async(&(v * 2)).await.unwrap();
            }
            let big: Vec<u64> = there.recv_async().await.unwrap();
            there.send_async(&big).await.unwrap();
        });
        std::thread::sleep(Duration::from_secs(60));
    });
    let rt = current_thread();
    rt.block_on(async {
        for i in 0..1000u64 {
            here.send_async(&i).await.unwrap();
            assert_eq!(here.recv_async::<u64>().await, Ok(i * 2));
        }
        let big: Vec<u64> = (0..100_000).collect();
        here.send_async(&big).await.unwrap();
        assert_eq!(here.recv_async::<Vec<u64>>().await.unwrap(), big);
        // SAFETY: killing our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let t = Instant::now();
        assert_eq!(here.recv_async::<u64>().await, Err(ringfork::PipeError::Disconnected));
        assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    });
    wait_child(pid, Duration::from_secs(10));
}

/// `Mutex::lock_async` against a blocking locker in another process (mutual exclusion: every
/// increment counted), then a holder SIGKILLed while we await: we take the lock over, told so.
fn lock_async_across_processes() {
    const N: u64 = 20_000;
    let m = ringfork::Mutex::new(0u64).unwrap();
    let m2 = m.clone();
    let pid = fork_child(move || {
        for _ in 0..N {
            *m2.lock().unwrap() += 1;
        }
    });
    // Forked now, before the reactor thread exists; it takes the lock when told to.
    let (holder, go) = (Event::new().unwrap(), Event::new().unwrap());
    let (m3, h3, go3) = (m.clone(), holder.clone(), go.clone());
    let dead = fork_child(move || {
        assert!(go3.wait_timeout(Duration::from_secs(60)));
        let _g = m3.lock().unwrap();
        h3.set();
        std::thread::sleep(Duration::from_secs(60));
    });
    let rt = current_thread();
    rt.block_on(async {
        for _ in 0..N {
            let mut g = m.lock_async().await.unwrap();
            *g += 1;
            assert!(!g.owner_died());
        }
    });
    join_ok(pid, Duration::from_secs(60));
    assert_eq!(*m.lock().unwrap(), 2 * N);
    go.set();
    assert!(holder.wait_timeout(Duration::from_secs(10)));
    rt.block_on(async {
        let waiter = m.lock_async();
        // SAFETY: killing our own child.
        unsafe { libc::kill(dead, libc::SIGKILL) };
        let t = Instant::now();
        let mut g = waiter.await.unwrap();
        assert!(g.owner_died(), "the holder died: the guard must say so");
        g.mark_consistent();
        assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    });
    wait_child(dead, Duration::from_secs(10));
    assert_eq!(*m.lock().unwrap(), 2 * N);
}

/// Polls `f` up to `polls` times with a no-op waker; `Some` if it completed.
fn poll_a_few<F: Future>(f: F, polls: u32) -> Option<F::Output> {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..polls {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return Some(v);
        }
    }
    None
}

/// 100,000 items from a producer process through a small queue while the consumer drops pending
/// `get_async` futures at random points (after 0-3 polls, or by a runtime timeout): every item is
/// received exactly once, in order.
fn cancellation_is_exactly_once() {
    const N: u64 = 100_000;
    for multi in [false, true] {
        let q = Queue::<u64>::new(8).unwrap();
        let q2 = q.clone();
        let pid = fork_child(move || {
            for i in 0..N {
                q2.put(i).unwrap();
            }
        });
        let rt = if multi { multi_thread(2) } else { current_thread() };
        let (got, dropped) = rt.block_on(async {
            let mut rng = Rng(0x1234_5678 + u64::from(multi));
            let (mut next, mut dropped) = (0u64, 0u64);
            let deadline = Instant::now() + Duration::from_secs(120);
            while next < N {
                assert!(Instant::now() < deadline, "stuck at {next}");
                let r = match rng.below(4) {
                    0 => Some(q.get_async().await.unwrap()),
                    1 => tokio::time::timeout(Duration::from_micros(rng.below(200)), q.get_async())
                        .await
                        .ok()
                        .map(|r| r.unwrap()),
                    _ => poll_a_few(q.get_async(), rng.below(4) as u32).map(|r| r.unwrap()),
                };
                match r {
                    Some(v) => {
                        assert_eq!(v, next, "lost or duplicated");
                        next += 1;
                    }
                    None => dropped += 1,
                }
            }
            (next, dropped)
        });
        join_ok(pid, Duration::from_secs(30));
        assert_eq!(got, N);
        assert!(q.try_get().is_err(), "an extra item");
        assert!(dropped > 0);
        assert_eq!(q.lost(), 0);
        eprintln!("cancellation (multi={multi}): {N} items, {dropped} futures dropped while pending");
    }
}

/// Serde messages awaited (issue 17 x issue 19): `String`s of random size up to 4 MiB (far larger
/// than a slot: streamed through the large-message lane) from a producer process to awaiting tasks,
/// exactly once and in order; then, in one current-thread runtime, a task awaits the `put_async` of
/// a 3 MiB message while another task of the same thread awaits it (the large put runs on a thread of
/// its own, so the executor is never stuck behind the lane's reader), and a `JoinableQueue<String>`
/// counts awaited takes as tasks.
fn serde_messages_awaited() {
    let q = Queue::<String>::new(4).unwrap();
    let q2 = q.clone();
    let n = 300u64;
    let size = |i: u64| -> usize {
        let mut r = Rng(i * 7919 + 1);
        if i % 10 == 0 {
            r.below(4 << 20) as usize
        } else {
            r.below(600) as usize
        }
    };
    let pid = fork_child(move || {
        for i in 0..n {
            let body = char::from(b'a' + (i % 26) as u8).to_string().repeat(size(i));
            q2.put(format!("{i}:{body}")).unwrap();
        }
    });
    for multi in [false, true] {
        let rt = if multi { multi_thread(2) } else { current_thread() };
        let half = if multi { n / 2..n } else { 0..n / 2 };
        rt.block_on(async {
            for i in half {
                let m = tokio::time::timeout(Duration::from_secs(30), q.get_async())
                    .await
                    .unwrap()
                    .unwrap();
                let (id, body) = m.split_once(':').unwrap();
                assert_eq!(id.parse::<u64>().unwrap(), i);
                assert_eq!(body.len(), size(i));
                assert!(body.bytes().all(|b| b == b'a' + (i % 26) as u8));
            }
        });
    }
    wait_child(pid, Duration::from_secs(30));

    let rt = current_thread();
    rt.block_on(async {
        let big = "z".repeat(3 << 20);
        let q3 = q.clone();
        let getter = tokio::spawn(async move { q3.get_async().await });
        tokio::time::timeout(Duration::from_secs(30), q.put_async(big.clone()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(getter.await.unwrap().unwrap(), big);

        let jq = JoinableQueue::<String>::new(2).unwrap();
        jq.put_async("job".into()).await.unwrap();
        assert_eq!(jq.unfinished_tasks(), 1);
        assert_eq!(jq.get_async().await.unwrap(), "job");
        jq.task_done().unwrap();
        tokio::time::timeout(Duration::from_secs(10), jq.join_async())
            .await
            .unwrap();
    });
    assert_eq!(q.lost(), 0);
}

fn main() {
    run(&[
        Case::new("serde_messages_awaited", serde_messages_awaited).timeout(Duration::from_secs(120)),
        Case::new("each_primitive_on_both_runtimes", each_primitive_on_both_runtimes).timeout(Duration::from_secs(60)),
        Case::new("pool_results_await", pool_results_await).timeout(Duration::from_secs(60)),
        Case::new("thousand_waiters_io_uring", thousand_waiters_io_uring).timeout(Duration::from_secs(60)),
        Case::new("thousand_waiters_timed_poll", thousand_waiters_timed_poll).timeout(Duration::from_secs(60)),
        Case::new("thousand_waiters_futex_waitv", thousand_waiters_futex_waitv).timeout(Duration::from_secs(60)),
        Case::new(
            "killed_producer_disconnects_waiters",
            killed_producer_disconnects_waiters,
        )
        .timeout(Duration::from_secs(60)),
        Case::new("pipe_async_across_processes", pipe_async_across_processes).timeout(Duration::from_secs(60)),
        Case::new("lock_async_across_processes", lock_async_across_processes).timeout(Duration::from_secs(90)),
        Case::new("cancellation_is_exactly_once", cancellation_is_exactly_once).timeout(Duration::from_secs(180)),
    ]);
}
