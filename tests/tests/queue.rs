//! Queues across processes: SPSC order, MPMC exactly-once, Queue(3) semantics, JoinableQueue, byte
//! messages, crash recovery, and a hostile peer scribbling over the ring.

use ringfork::{ByteQueue, JoinableQueue, PopError, Process, PushError, Queue, Segment, SimpleQueue};
use ringfork_core::queue::spsc::{Spsc, SpscPair};
use ringfork_core::wait::{DefaultWait, Wait};
use ringfork_core::{Deadline, Kind};
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::{fork_child, join_ok, wait_child};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

type Clock = <DefaultWait as Wait>::Clock;

fn secs(n: u64) -> Deadline {
    Deadline::after::<Clock>(Duration::from_secs(n))
}

fn spsc_region<'a>(seg: &'a Segment, name: &str) -> ringfork_core::Region<'a> {
    let e = seg.find(name).unwrap();
    seg.sub_region(e.offset, e.size).unwrap()
}

/// An `SpscPair` across processes: 100 000 request/answer round trips (busy and blocking), each
/// answer checked; then the answering process is killed and a blocked `pop` reports `Disconnected`.
fn spsc_pair_round_trips() {
    const N: u64 = 100_000;
    let size = SpscPair::<u64>::size(8).unwrap();
    let seg = Segment::anonymous(size + 4096).unwrap();
    seg.alloc(Kind::SpscPair, "p", size, SpscPair::<u64>::align()).unwrap();
    SpscPair::<u64>::init::<DefaultWait>(spsc_region(&seg, "p"), 8).unwrap();
    let s2 = seg.clone();
    let pid = fork_child(move || {
        let pair = SpscPair::<u64>::attach::<DefaultWait>(spsc_region(&s2, "p"), secs(5)).unwrap();
        let (fwd, bwd) = pair.split();
        fwd.ctrl().consumers.register_current();
        bwd.ctrl().producers.register_current();
        let (mut rx, mut tx) = (fwd.consumer(), bwd.producer());
        loop {
            let v = rx.pop::<DefaultWait>(secs(30)).unwrap();
            if v == u64::MAX {
                // Answer, then hang around without ever answering again (killed by the parent).
                tx.push::<DefaultWait>(0, secs(5)).unwrap();
                std::thread::sleep(Duration::from_secs(60));
            }
            tx.push::<DefaultWait>(v.wrapping_mul(3) + 1, secs(30)).unwrap();
        }
    });
    let pair = SpscPair::<u64>::attach::<DefaultWait>(spsc_region(&seg, "p"), secs(5)).unwrap();
    let (fwd, bwd) = pair.split();
    let (mut tx, mut rx) = (fwd.producer(), bwd.consumer());
    for i in 0..N {
        if i % 2 == 0 {
            tx.push::<DefaultWait>(i, secs(30)).unwrap();
            assert_eq!(rx.pop::<DefaultWait>(secs(30)).unwrap(), i * 3 + 1);
        } else {
            while tx.try_push(i).is_err() {
                std::hint::spin_loop();
            }
            tx.notify::<DefaultWait>();
            let start = Instant::now();
            let v = loop {
                if let Ok(v) = rx.try_pop() {
                    break v;
                }
                assert!(start.elapsed() < Duration::from_secs(30), "no answer to {i}");
                std::hint::spin_loop();
            };
            assert_eq!(v, i * 3 + 1);
        }
    }
    tx.push::<DefaultWait>(u64::MAX, secs(5)).unwrap();
    assert_eq!(rx.pop::<DefaultWait>(secs(5)), Ok(0));
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let start = Instant::now();
    assert_eq!(rx.pop::<DefaultWait>(secs(10)), Err(PopError::Disconnected));
    assert!(start.elapsed() < Duration::from_millis(500), "{:?}", start.elapsed());
    wait_child(pid, Duration::from_secs(5));
    assert_eq!(tx.ring().len(), 0);
    assert_eq!(rx.ring().len(), 0);
}

/// 10 million u64 from a child producer to the parent, in order, with blocking and batch calls.
fn spsc_ten_million_in_order() {
    const N: u64 = 10_000_000;
    let cap = 4096;
    let size = Spsc::<u64>::size(cap).unwrap();
    let seg = Segment::anonymous(size + 4096).unwrap();
    seg.alloc(Kind::Spsc, "s", size, Spsc::<u64>::align()).unwrap();
    Spsc::<u64>::init::<DefaultWait>(spsc_region(&seg, "s"), cap).unwrap();
    let s2 = seg.clone();
    let pid = fork_child(move || {
        let q = Spsc::<u64>::attach::<DefaultWait>(spsc_region(&s2, "s"), secs(5)).unwrap();
        let mut p = q.producer();
        let mut next = 0u64;
        let mut batch = [0u64; 64];
        while next < N {
            if next % 3 == 0 {
                // Single blocking pushes...
                p.push::<DefaultWait>(next, secs(30)).unwrap();
                next += 1;
            } else {
                // ...and batches.
                let n = batch.len().min((N - next) as usize);
                for (i, b) in batch[..n].iter_mut().enumerate() {
                    *b = next + i as u64;
                }
                let k = p.push_slice(&batch[..n]).unwrap();
                next += k as u64;
                p.notify::<DefaultWait>();
                if k == 0 {
                    std::hint::spin_loop();
                }
            }
        }
    });
    let q = Spsc::<u64>::attach::<DefaultWait>(spsc_region(&seg, "s"), secs(5)).unwrap();
    let mut c = q.consumer();
    let mut expect = 0u64;
    let mut buf = [0u64; 100];
    while expect < N {
        if expect % 2 == 0 {
            let n = c.pop_slice(&mut buf).unwrap();
            for v in &buf[..n] {
                assert_eq!(*v, expect);
                expect += 1;
            }
            if n == 0 {
                let v = c.pop::<DefaultWait>(secs(30)).unwrap();
                assert_eq!(v, expect);
                expect += 1;
            } else {
                c.notify::<DefaultWait>();
            }
        } else {
            assert_eq!(c.pop::<DefaultWait>(secs(30)).unwrap(), expect);
            expect += 1;
        }
    }
    join_ok(pid, Duration::from_secs(60));
    assert_eq!(c.try_pop(), Err(PopError::Empty));
}

/// Capacity 1 and a small odd capacity across processes, with close at the end.
fn spsc_capacity_edges_across_processes() {
    for cap in [1usize, 3] {
        let size = Spsc::<u32>::size(cap).unwrap();
        let seg = Segment::anonymous(size + 4096).unwrap();
        seg.alloc(Kind::Spsc, "s", size, Spsc::<u32>::align()).unwrap();
        let q = Spsc::<u32>::init::<DefaultWait>(spsc_region(&seg, "s"), cap).unwrap();
        let s2 = seg.clone();
        let pid = fork_child(move || {
            let q = Spsc::<u32>::attach::<DefaultWait>(spsc_region(&s2, "s"), secs(5)).unwrap();
            let mut p = q.producer();
            for i in 0..20_000 {
                p.push::<DefaultWait>(i, secs(30)).unwrap();
            }
            p.ring().close::<DefaultWait>();
        });
        let mut c = q.consumer();
        for i in 0..20_000 {
            assert_eq!(c.pop::<DefaultWait>(secs(30)), Ok(i));
        }
        assert_eq!(c.pop::<DefaultWait>(secs(30)), Err(PopError::Closed));
        join_ok(pid, Duration::from_secs(30));
        assert!(Spsc::<u64>::attach::<DefaultWait>(spsc_region(&seg, "s"), secs(1)).is_err());
    }
}

/// `n` atomic words in a shared segment (clones share them across fork).
#[derive(Clone)]
struct Words {
    seg: Segment,
    n: usize,
}

impl Words {
    fn new(n: usize) -> Words {
        let seg = Segment::anonymous(n * 8 + 4096).unwrap();
        seg.alloc(Kind::Array, "words", n * 8, 8).unwrap();
        Words { seg, n }
    }
    fn all(&self) -> &[AtomicU64] {
        let e = self.seg.find("words").unwrap();
        let r = self.seg.sub_region(e.offset, e.size).unwrap();
        // SAFETY: the region is inside the mapping, 8-aligned, and alive while `self.seg` is;
        // AtomicU64 has no invalid bit patterns.
        unsafe { std::slice::from_raw_parts(r.as_ptr() as *const AtomicU64, self.n) }
    }
    fn at(&self, i: usize) -> &AtomicU64 {
        &self.all()[i]
    }
}

/// A bitmap of seen items in shared memory, plus a duplicate flag: detects duplicates across
/// processes.
#[derive(Clone)]
struct Seen {
    words: Words,
    dup: Words,
    bits: usize,
}

impl Seen {
    fn new(bits: usize) -> Seen {
        Seen {
            words: Words::new(bits.div_ceil(64)),
            dup: Words::new(1),
            bits,
        }
    }
    /// Marks `i`; records a duplicate if it was already marked.
    fn mark(&self, i: usize) {
        assert!(i < self.bits, "item {i} out of range");
        let bit = 1u64 << (i % 64);
        // Ordering: AcqRel on the bitmap and the counter: the parent reads them (Acquire) after
        // reaping the consumers, which already orders everything; the orderings are belt and braces.
        if self.words.at(i / 64).fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            self.dup.at(0).fetch_add(1, Ordering::AcqRel);
        }
    }
    fn dups(&self) -> u64 {
        // Ordering: Acquire pairs with the AcqRel increments in `mark`.
        self.dup.at(0).load(Ordering::Acquire)
    }
    fn is_set(&self, i: usize) -> bool {
        // Ordering: Acquire pairs with the AcqRel fetch_or in `mark`.
        self.words.at(i / 64).load(Ordering::Acquire) & (1 << (i % 64)) != 0
    }
    fn count(&self) -> usize {
        // Ordering: Acquire pairs with the AcqRel fetch_or in `mark`.
        self.words
            .all()
            .iter()
            .map(|w| w.load(Ordering::Acquire).count_ones() as usize)
            .sum()
    }
}

/// 4 producers x 4 consumers x 250 000 items tagged (producer, seq): every item exactly once, and each
/// producer's items in order as seen by each consumer.
fn mpmc_four_by_four_exactly_once() {
    const P: u64 = 4;
    const PER: u64 = 250_000;
    let q = Queue::<u64>::new(1024).unwrap();
    let seen = Seen::new((P * PER) as usize);
    let mut pids = Vec::new();
    for c in 0..4 {
        let q = q.clone();
        let seen = seen.clone();
        pids.push(fork_child(move || {
            let mut last = [None::<u64>; P as usize];
            let mut n = 0u64;
            loop {
                match q.get_timeout(Duration::from_secs(30)) {
                    Ok(v) => {
                        let (p, s) = ((v >> 32) as usize, v & 0xffff_ffff);
                        assert!(p < P as usize, "consumer {c}: bad tag {v:#x}");
                        if let Some(l) = last[p] {
                            assert!(s > l, "consumer {c}: producer {p} out of order: {s} after {l}");
                        }
                        last[p] = Some(s);
                        seen.mark(p * PER as usize + s as usize);
                        n += 1;
                    }
                    Err(PopError::Closed) => break,
                    Err(e) => panic!("consumer {c}: {e}"),
                }
            }
            assert!(n > 0 || PER == 0);
        }));
    }
    let mut prods = Vec::new();
    for p in 0..P {
        let q = q.clone();
        prods.push(fork_child(move || {
            for s in 0..PER {
                q.put((p << 32) | s).unwrap();
            }
        }));
    }
    for pid in prods {
        join_ok(pid, Duration::from_secs(120));
    }
    q.close();
    for pid in pids {
        join_ok(pid, Duration::from_secs(60));
    }
    assert_eq!(seen.dups(), 0, "an item was delivered twice");
    assert_eq!(seen.count(), (P * PER) as usize, "items were lost");
    assert_eq!(q.lost(), 0);
}

/// Queue(3): three try_puts, full, the fourth is Full; get_timeout(100 ms) on empty is bounded.
fn queue_three_full_and_timeout() {
    let q = Queue::<u32>::new(3).unwrap();
    assert!(q.empty());
    for i in 0..3 {
        q.try_put(i).unwrap();
    }
    assert!(q.full());
    assert_eq!(q.qsize(), 3);
    assert_eq!(q.try_put(3), Err(PushError::Full));
    let t = Instant::now();
    assert_eq!(q.put_timeout(3, Duration::from_millis(100)), Err(PushError::TimedOut));
    assert!(t.elapsed() >= Duration::from_millis(100));
    for i in 0..3 {
        assert_eq!(q.try_get(), Ok(i));
    }
    assert_eq!(q.try_get(), Err(PopError::Empty));
    let t = Instant::now();
    assert_eq!(q.get_timeout(Duration::from_millis(100)), Err(PopError::TimedOut));
    let el = t.elapsed();
    assert!(el >= Duration::from_millis(100), "returned early: {el:?}");
    assert!(el < Duration::from_secs(2), "returned late: {el:?}");
    // Bad input is a typed error.
    assert!(Queue::<u32>::new(0).is_err());
    assert!(Queue::<u64>::new(usize::MAX / 2).is_err());
    // A blocked get is woken by a put from another process.
    let q2 = q.clone();
    let pid = fork_child(move || {
        std::thread::sleep(Duration::from_millis(50));
        q2.put(77).unwrap();
    });
    assert_eq!(q.get_timeout(Duration::from_secs(10)), Ok(77));
    join_ok(pid, Duration::from_secs(10));
    // Use after close.
    q.close();
    assert_eq!(q.put(1), Err(PushError::Closed));
    assert_eq!(q.get(), Err(PopError::Closed));
}

/// Named placement: open validates the element type; the byte flavour rejects a typed attach.
fn open_by_name_validates() {
    let seg = Segment::anonymous(1 << 20).unwrap();
    let q = Queue::<u64>::new_in(&seg, "jobs", 8).unwrap();
    let b = ByteQueue::new_in(&seg, "text", 4, 32).unwrap();
    q.put(5).unwrap();
    b.put_str("héllo").unwrap();
    assert!(Queue::<u32>::open(&seg, "jobs").is_err());
    assert!(Queue::<u64>::open(&seg, "text").is_err());
    assert!(JoinableQueue::<u64>::open(&seg, "jobs").is_err());
    let s2 = seg.clone();
    let pid = fork_child(move || {
        let q = Queue::<u64>::open(&s2, "jobs").unwrap();
        let b = ByteQueue::open(&s2, "text").unwrap();
        assert_eq!(b.msg_limit(), 32);
        assert_eq!(b.get_string().unwrap(), "héllo");
        q.put(q.get().unwrap() + 1).unwrap();
    });
    join_ok(pid, Duration::from_secs(10));
    assert_eq!(q.get(), Ok(6));
}

/// Byte queue: sizes 0, 1, limit-1, limit, limit+1 (error), and random sizes, checksummed, across
/// processes.
fn byte_queue_sizes() {
    const LIMIT: usize = 300;
    let q = ByteQueue::new(7, LIMIT).unwrap();
    assert_eq!(
        q.try_put(&[0; LIMIT + 1]),
        Err(PushError::TooLarge {
            len: LIMIT + 1,
            limit: LIMIT
        })
    );
    let q2 = q.clone();
    let pid = fork_child(move || {
        for len in [0, 1, LIMIT - 1, LIMIT] {
            q2.put(&vec![len as u8; len]).unwrap();
        }
        let mut x = 7u32;
        for i in 0..20_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let len = (x >> 8) as usize % (LIMIT + 1);
            let mut m: Vec<u8> = (0..len).map(|k| (k as u32 ^ i) as u8).collect();
            if len >= 4 {
                m[..4].copy_from_slice(&i.to_le_bytes());
            }
            q2.put(&m).unwrap();
        }
    });
    for len in [0, 1, LIMIT - 1, LIMIT] {
        assert_eq!(q.get().unwrap(), vec![len as u8; len]);
    }
    let mut x = 7u32;
    for i in 0..20_000u32 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let len = (x >> 8) as usize % (LIMIT + 1);
        let mut m: Vec<u8> = (0..len).map(|k| (k as u32 ^ i) as u8).collect();
        if len >= 4 {
            m[..4].copy_from_slice(&i.to_le_bytes());
        }
        assert_eq!(q.get_timeout(Duration::from_secs(30)).unwrap(), m, "message {i}");
    }
    join_ok(pid, Duration::from_secs(30));
}

/// JoinableQueue: the producer's join returns only after every item got task_done.
fn joinable_join_waits_for_every_task_done() {
    const N: u32 = 200;
    let q = JoinableQueue::<u32>::new(16).unwrap();
    let done = Words::new(1);
    let mut pids = Vec::new();
    for _ in 0..2 {
        let (q, done) = (q.clone(), done.clone());
        pids.push(fork_child(move || loop {
            match q.get() {
                Ok(_) => {
                    std::thread::sleep(Duration::from_micros(200));
                    // Ordering: AcqRel; pairs with the parent's Acquire load after `join`, which
                    // itself is ordered after this by `task_done`'s Release.
                    done.at(0).fetch_add(1, Ordering::AcqRel);
                    q.task_done().unwrap();
                }
                Err(PopError::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }));
    }
    for i in 0..N {
        q.put(i).unwrap();
    }
    q.join();
    // Ordering: Acquire pairs with the consumers' AcqRel increments.
    assert_eq!(
        done.at(0).load(Ordering::Acquire),
        u64::from(N),
        "join returned before every task_done"
    );
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.task_done().is_err(), "task_done past zero must fail");
    q.queue().close();
    for pid in pids {
        join_ok(pid, Duration::from_secs(30));
    }
    assert!(q.join_timeout(Duration::from_millis(10)));
}

/// SimpleQueue basics across a fork.
fn simple_queue_across_fork() {
    let q = SimpleQueue::<[u8; 3]>::with_capacity(2).unwrap();
    let q2 = q.clone();
    let pid = fork_child(move || {
        for i in 0..100u8 {
            q2.put([i, i, i]).unwrap();
        }
    });
    for i in 0..100u8 {
        assert_eq!(q.get(), Ok([i, i, i]));
    }
    assert!(q.empty());
    join_ok(pid, Duration::from_secs(10));
}

/// Every producer dies: a blocked get returns Disconnected within a bounded time.
fn get_reports_disconnected_when_producers_die() {
    let q = Queue::<u64>::new(4).unwrap();
    let q2 = q.clone();
    let pid = fork_child(move || {
        q2.put(1).unwrap();
        std::thread::sleep(Duration::from_secs(60));
    });
    assert_eq!(q.get_timeout(Duration::from_secs(10)), Ok(1));
    // SAFETY: killing our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_child(pid, Duration::from_secs(10));
    let t = Instant::now();
    assert_eq!(q.get(), Err(PopError::Disconnected));
    assert!(t.elapsed() < Duration::from_millis(500), "took {:?}", t.elapsed());
    // Waits shorter than the probe interval learn it too (each one that slept probes once at its
    // end), while a non-blocking `try_get` keeps Python's `Empty`.
    assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(PopError::Disconnected));
    assert_eq!(q.try_get(), Err(PopError::Empty));
}

/// A producer killed between its claim and its publish, and a consumer killed between its claim and
/// its free, wedge one slot each; survivors' blocking calls force them past: the dead producer's
/// message is simply absent, the dead consumer's is counted in `lost`, everything else arrives.
fn killed_claimants_are_recovered() {
    use ringfork_core::queue::mpmc::{Mpmc, MpmcLayout};
    use ringfork_core::queue::peers::current_stamp;
    let layout = MpmcLayout {
        capacity: 4,
        slot_size: 8,
        align: 8,
    };
    let size = layout.size().unwrap();
    let seg = Segment::anonymous(size + 4096).unwrap();
    let off = seg.alloc(Kind::Mpmc, "m", size, layout.region_align()).unwrap();
    let ring = |seg: &Segment| -> Mpmc<'static> {
        let r = seg.sub_region(off, size).unwrap();
        // SAFETY: every caller keeps `seg` (or a clone) alive while it uses the ring.
        let r = unsafe { ringfork_core::Region::from_raw_parts(r.as_ptr(), r.len()) };
        Mpmc::attach::<DefaultWait>(r, Kind::Mpmc, 8, 8, None, 0, secs(5)).unwrap()
    };
    Mpmc::init::<DefaultWait>(seg.sub_region(off, size).unwrap(), Kind::Mpmc, layout, 0, 0).unwrap();
    let q = ring(&seg);
    let me = current_stamp().unwrap();
    let parent_c = q.ctrl().consumers.register(me.0, me.1);
    let parent_p = q.ctrl().producers.register(me.0, me.1);
    let put = |q: &Mpmc<'_>, who, v: u64| {
        q.push_with::<DefaultWait>(who, secs(10), |p| {
            // SAFETY: the payload is an 8-aligned u64 slot owned by us between claim and publish.
            unsafe { (p as *mut u64).write(v) }
        })
    };
    let get = |q: &Mpmc<'_>, who| {
        q.pop_with::<DefaultWait, u64>(who, secs(10), |p| {
            // SAFETY: the payload is a published 8-aligned u64 owned by us between claim and free.
            unsafe { (p as *const u64).read() }
        })
    };

    // 1. A producer claims position 0 and hangs in its write: killed there.
    let s2 = seg.clone();
    let stuck = fork_child(move || {
        let q = ring(&s2);
        let me = current_stamp().unwrap();
        let who = q.ctrl().producers.register(me.0, me.1);
        let _ = q.try_push_with(who, |_| loop {
            std::thread::sleep(Duration::from_secs(1));
        });
    });
    assert!(ringfork_tests::util::wait_until(Duration::from_secs(5), || q.len() == 1));
    // SAFETY: killing our own child.
    unsafe { libc::kill(stuck, libc::SIGKILL) };
    wait_child(stuck, Duration::from_secs(10));
    put(&q, parent_p, 1).unwrap();
    put(&q, parent_p, 2).unwrap();
    let t = Instant::now();
    assert_eq!(get(&q, parent_c), Ok(1), "the wedged slot was not skipped");
    assert!(t.elapsed() < Duration::from_secs(2), "recovery took {:?}", t.elapsed());
    assert_eq!(get(&q, parent_c), Ok(2));

    // 2. A consumer claims the next message and hangs in its read: killed there.
    put(&q, parent_p, 3).unwrap();
    let s3 = seg.clone();
    let stuck = fork_child(move || {
        let q = ring(&s3);
        let me = current_stamp().unwrap();
        let who = q.ctrl().consumers.register(me.0, me.1);
        let _ = q.try_pop_with(who, |_| loop {
            std::thread::sleep(Duration::from_secs(1));
        });
    });
    // Wait until the child has claimed (head moved past the message, the slot not yet freed).
    assert!(ringfork_tests::util::wait_until(Duration::from_secs(5), || q.is_empty()));
    // SAFETY: killing our own child.
    unsafe { libc::kill(stuck, libc::SIGKILL) };
    wait_child(stuck, Duration::from_secs(10));
    // Fill the ring: the producer reaching the wedged slot must recover it.
    for v in 10..14 {
        put(&q, parent_p, v).unwrap();
    }
    assert_eq!(
        q.ctrl().control.lost(),
        1,
        "the dead consumer's message must be counted"
    );
    for v in 10..14 {
        assert_eq!(get(&q, parent_c), Ok(v));
    }
}

fn rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// SIGKILL producers and consumers at random moments over many rounds; survivors finish, committed
/// items are neither lost (beyond the counted `lost` and the items a killed consumer had already
/// taken) nor duplicated.
fn crash_producers_and_consumers_at_random() {
    const INC: usize = 48; // producer incarnations
    const MAX_PER: u64 = 1 << 16; // items per incarnation at most
    let q = Queue::<u64>::new(64).unwrap();
    let seen = Seen::new(INC * MAX_PER as usize);
    // committed[i] = items producer incarnation i saw `put` return Ok for.
    let committed = Words::new(INC);
    let spawn_producer = |i: usize| {
        let q = q.clone();
        let committed = committed.clone();
        fork_child(move || {
            for s in 0..MAX_PER {
                q.put(((i as u64) << 32) | s).unwrap();
                // Ordering: Release pairs with the parent's Acquire load after the kill.
                committed.at(i).store(s + 1, Ordering::Release);
            }
            std::thread::sleep(Duration::from_secs(120));
        })
    };
    let spawn_consumer = || {
        let q = q.clone();
        let seen = seen.clone();
        fork_child(move || loop {
            match q.get() {
                Ok(v) => {
                    let (p, s) = ((v >> 32) as usize, v & 0xffff_ffff);
                    seen.mark(p * MAX_PER as usize + s as usize);
                }
                // The parent closes the queue once every producer is dead (the consumers, the parent
                // and each other hold the queue, so they are all possible producers: no
                // `Disconnected` while they live).
                Err(PopError::Closed) => break,
                Err(e) => panic!("consumer: {e}"),
            }
        })
    };
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    let mut next_inc = 0;
    let mut producers: Vec<libc::pid_t> = Vec::new();
    let mut consumers: Vec<libc::pid_t> = Vec::new();
    for _ in 0..2 {
        producers.push(spawn_producer(next_inc));
        next_inc += 1;
        consumers.push(spawn_consumer());
    }
    let mut consumer_kills = 0u64;
    for _round in 0..40 {
        std::thread::sleep(Duration::from_millis(5 + rand(&mut rng) % 25));
        let kill_consumer = rand(&mut rng) % 2 == 0;
        let list = if kill_consumer { &mut consumers } else { &mut producers };
        let k = (rand(&mut rng) % list.len() as u64) as usize;
        let pid = list[k];
        // SAFETY: killing our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        wait_child(pid, Duration::from_secs(10));
        if kill_consumer {
            consumer_kills += 1;
            list[k] = spawn_consumer();
        } else if next_inc < INC {
            list[k] = spawn_producer(next_inc);
            next_inc += 1;
        } else {
            list.remove(k);
            if list.is_empty() {
                break;
            }
        }
    }
    // Let the last producers run a little, then kill them all and close: consumers drain and see
    // Closed.
    std::thread::sleep(Duration::from_millis(50));
    for pid in producers {
        // SAFETY: killing our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        wait_child(pid, Duration::from_secs(10));
    }
    q.close();
    for pid in consumers {
        join_ok(pid, Duration::from_secs(30));
    }
    assert_eq!(seen.dups(), 0, "an item was delivered twice");
    let mut missing = 0u64;
    for i in 0..next_inc {
        // Ordering: Acquire pairs with the producer's Release store.
        let c = committed.at(i).load(Ordering::Acquire);
        for s in 0..c {
            if !seen.is_set(i * MAX_PER as usize + s as usize) {
                missing += 1;
            }
        }
        // Nothing beyond the one put in flight when the producer died was received.
        for s in (c + 1)..MAX_PER.min(c + 1000) {
            assert!(!seen.is_set(i * MAX_PER as usize + s as usize), "phantom item {i}/{s}");
        }
    }
    eprintln!(
        "crash: {} received, {missing} committed missing, lost() = {}, consumer kills = {consumer_kills}, \
         producer incarnations = {next_inc}",
        seen.count(),
        q.lost()
    );
    // A killed consumer may take at most one item with it: counted in lost(), or taken just before it
    // could record it.
    assert!(
        missing <= q.lost() + consumer_kills,
        "{missing} committed items missing; lost() = {}, consumer kills = {consumer_kills}",
        q.lost()
    );
    assert!(seen.count() > 1000, "too little traffic to be a test: {}", seen.count());
}

/// A hostile process writes random bytes over the ring's positions and slot sequences while this
/// process uses the queue: only errors or garbage data, no crash, no hang.
fn hostile_peer_scribbles_over_indices() {
    let q = Queue::<u64>::new(16).unwrap();
    let bq = ByteQueue::new(4, 64).unwrap();
    let targets: Vec<(usize, usize)> = [q.segment(), bq.segment()]
        .iter()
        .map(|s| {
            let e = &s.objects()[0];
            (s.sub_region(e.offset, e.size).unwrap().as_ptr() as usize, e.size)
        })
        .collect();
    let pid = fork_child(move || {
        let mut rng = 12345u64;
        let end = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < end {
            for &(base, size) in &targets {
                // Positions live at 128..384; slot sequences and data from DATA_OFFSET on.
                let off = match rand(&mut rng) % 3 {
                    0 => 128,
                    1 => 256,
                    _ => {
                        ringfork_core::queue::DATA_OFFSET
                            + (rand(&mut rng) as usize % (size - ringfork_core::queue::DATA_OFFSET - 8)) / 8 * 8
                    }
                };
                // SAFETY: inside the object's region of the shared mapping, 8-aligned.
                // Ordering: Relaxed; a hostile peer's scribble synchronizes with nothing.
                unsafe {
                    ((base + off) as *const AtomicU64)
                        .as_ref()
                        .unwrap()
                        .store(rand(&mut rng) % 64, Ordering::Relaxed)
                };
            }
            std::thread::yield_now();
        }
    });
    let t = Instant::now();
    let mut ops = 0u64;
    while t.elapsed() < Duration::from_millis(1500) {
        let _ = q.try_put(ops);
        let _ = q.try_get();
        let _ = q.get_timeout(Duration::from_millis(1));
        let _ = q.put_timeout(ops, Duration::from_millis(1));
        let _ = q.qsize();
        let _ = bq.try_put(&[7; 40]);
        let _ = bq.get_timeout(Duration::from_millis(1));
        ops += 1;
    }
    join_ok(pid, Duration::from_secs(10));
    assert!(ops > 10);
}

/// Issue 16 item 8: crossbeam's `ArrayQueue` test `linearizable`, across processes. Each actor
/// pushes (retrying `try_put` until Ok) and then `try_get`s; with at most one item per actor in a
/// queue of capacity 4, the queue holds at least the actor's own item at that moment, so `Empty`
/// would be an answer no instant of the call justifies. Two actors (the setting) and four
/// (crossbeam's), 25,000 rounds each, ten times.
fn mpmc_try_ops_are_linearizable() {
    for actors in [2usize, 4].repeat(10) {
        let q = Queue::<u64>::new(4).unwrap();
        let pids: Vec<_> = (0..actors)
            .map(|_| {
                let q = q.clone();
                fork_child(move || {
                    for i in 0..25_000u64 {
                        loop {
                            match q.try_put(i) {
                                Ok(()) => break,
                                Err(PushError::Full) => {}
                                Err(e) => panic!("try_put: {e}"),
                            }
                        }
                        if let Err(e) = q.try_get() {
                            panic!("try_get right after our own put: {e:?} ({actors} actors, round {i})");
                        }
                    }
                })
            })
            .collect();
        for p in pids {
            join_ok(p, Duration::from_secs(120));
        }
        assert_eq!(q.try_get(), Err(PopError::Empty));
    }
}

/// Issue 16.3(b): a queue whose earlier producer exited, and a live child that holds the queue and
/// puts a moment later: the parent's blocking `get` waits for it (the child is a holder from its
/// fork on, not from its first put), and reports `Disconnected` only once no other holder lives.
fn get_waits_for_a_live_holder_that_has_not_put_yet() {
    let q = Queue::<u64>::new(4).unwrap();
    let q1 = q.clone();
    let mut early = Process::new(move || q1.put(1).unwrap());
    early.start().unwrap();
    assert!(early.join_timeout(Duration::from_secs(10)).unwrap());
    assert_eq!(early.exitcode(), Some(0));
    let q2 = q.clone();
    let mut late = Process::new(move || {
        std::thread::sleep(Duration::from_millis(300));
        q2.put(2).unwrap();
    });
    late.start().unwrap();
    assert_eq!(q.get(), Ok(1));
    // The early producer is dead; the late one lives and has not put yet.
    assert_eq!(q.get(), Ok(2));
    assert!(late.join_timeout(Duration::from_secs(10)).unwrap());
    assert_eq!(late.exitcode(), Some(0));
    // Every other holder is gone now.
    let t = Instant::now();
    assert_eq!(q.get(), Err(PopError::Disconnected));
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
}

/// Issue 16.3(c): `put` on a full queue whose earlier consumer exited, with a live consumer child
/// that gets a moment later: the put waits for room instead of failing with `Closed`.
fn put_waits_for_a_live_holder_that_has_not_got_yet() {
    let q = Queue::<u64>::new(1).unwrap();
    q.put(0).unwrap();
    let q1 = q.clone();
    let mut early = Process::new(move || assert_eq!(q1.get(), Ok(0)));
    early.start().unwrap();
    assert!(early.join_timeout(Duration::from_secs(10)).unwrap());
    assert_eq!(early.exitcode(), Some(0));
    q.put(1).unwrap(); // full again
    let q2 = q.clone();
    let mut late = Process::new(move || {
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(q2.get(), Ok(1));
        assert_eq!(q2.get(), Ok(2));
    });
    late.start().unwrap();
    // The early consumer is dead; the late one lives and has not got yet.
    assert_eq!(q.put(2), Ok(()));
    assert!(late.join_timeout(Duration::from_secs(10)).unwrap());
    assert_eq!(late.exitcode(), Some(0), "the late consumer got both items");
    // With every other holder gone, a put that has to wait for room reports Closed.
    q.put(3).unwrap();
    let t = Instant::now();
    assert_eq!(q.put(4), Err(PushError::Closed));
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
}

/// Issue 15.8: one registration per process per ring, whatever the number of handles: 100
/// open/put/drop cycles (in the parent and in the child) do not fill the peer tables, and the
/// parent's blocking `get` still reports `Disconnected` when the child holding the queue dies.
fn open_drop_cycles_keep_disconnection_working() {
    let seg = Segment::anonymous(1 << 20).unwrap();
    let q = Queue::<u64>::new_in(&seg, "q", 8).unwrap();
    for i in 0..100 {
        let h = Queue::<u64>::open(&seg, "q").unwrap();
        h.put(i).unwrap();
        drop(h);
        assert_eq!(q.get(), Ok(i));
    }
    let s2 = seg.clone();
    let mut child = Process::new(move || {
        for i in 0..100 {
            let h = Queue::<u64>::open(&s2, "q").unwrap();
            h.put(i).unwrap();
        }
        let keep = Queue::<u64>::open(&s2, "q").unwrap();
        keep.put(1000).unwrap();
        std::thread::sleep(Duration::from_secs(60));
    });
    child.start().unwrap();
    for i in 0..100 {
        assert_eq!(q.get_timeout(Duration::from_secs(10)), Ok(i));
    }
    assert_eq!(q.get_timeout(Duration::from_secs(10)), Ok(1000));
    child.kill().unwrap();
    assert!(child.join_timeout(Duration::from_secs(10)).unwrap());
    let t = Instant::now();
    assert_eq!(q.get(), Err(PopError::Disconnected));
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
}

/// Issue 16.4: a consumer SIGKILLed between `get` and `task_done`: `join_timeout` honours its
/// deadline while the task is outstanding, and once the consumer is dead `join` returns within
/// about a second, the task accounted as lost (`tasks_lost`), not left unfinished forever.
fn joinable_dead_consumer_is_accounted_as_lost() {
    let q = JoinableQueue::<u64>::new(8).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    let q2 = q.clone();
    let mut c = Process::new(move || {
        assert_eq!(q2.get(), Ok(1));
        q2.task_done().unwrap();
        assert_eq!(q2.get(), Ok(2));
        std::thread::sleep(Duration::from_secs(60)); // dies before task_done
    });
    c.start().unwrap();
    let t = Instant::now();
    while q.unfinished_tasks() != 1 || !q.queue().empty() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the consumer did not take both items"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let t = Instant::now();
    assert!(
        !q.join_timeout(Duration::from_millis(150)),
        "a live consumer still holds the task"
    );
    let el = t.elapsed();
    assert!(
        el >= Duration::from_millis(150) && el < Duration::from_secs(2),
        "{el:?}"
    );
    assert_eq!(q.tasks_lost(), 0);
    c.kill().unwrap();
    assert!(c.join_timeout(Duration::from_secs(10)).unwrap());
    let t = Instant::now();
    q.join();
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    assert_eq!(q.tasks_lost(), 1);
    assert_eq!(q.unfinished_tasks(), 0);
    // The queue keeps working, and a finished task is not lost.
    q.put(3).unwrap();
    assert_eq!(q.get(), Ok(3));
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::from_secs(1)));
    assert_eq!(q.tasks_lost(), 1);
}

/// Spawn target: holds the segments it was given (and so every queue in them) until killed.
fn hold_queue_segment(_args: ringfork::process::TargetArgs) {
    std::thread::sleep(Duration::from_secs(60));
}

/// Issue 16.3 with `Spawn`: a spawned child is a holder of the queues the parent holds in the
/// segments it passes, from before `start` returns (registered between its fork and exec): while it
/// lives a `get` waits; killed before it ever opened the queue, its death is reported.
fn spawned_child_is_a_queue_holder() {
    let seg = Segment::anonymous(1 << 16).unwrap();
    let q = Queue::<u64>::new_in(&seg, "q", 4).unwrap();
    let mut c = Process::target("hold_queue_segment")
        .segment(&seg)
        .start_method(ringfork::StartMethod::Spawn);
    c.start().unwrap();
    assert_eq!(q.get_timeout(Duration::from_millis(200)), Err(PopError::TimedOut));
    c.kill().unwrap();
    assert!(c.join_timeout(Duration::from_secs(10)).unwrap());
    let t = Instant::now();
    assert_eq!(q.get(), Err(PopError::Disconnected));
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
}

/// A child forked behind the library's back (`libc::fork`) that drops its copy of a handle without
/// ever using it must not release its *parent's* registration: another process still sees the
/// parent as a live holder (`TimedOut`, not `Disconnected`).
fn bare_fork_child_dropping_a_handle_keeps_the_parent_registered() {
    let q = Queue::<u64>::new(4).unwrap();
    let q2 = q.clone();
    let pid = fork_child(move || drop(q2));
    join_ok(pid, Duration::from_secs(10));
    let q3 = q.clone();
    let mut c = Process::new(move || {
        assert_eq!(q3.get_timeout(Duration::from_millis(300)), Err(PopError::TimedOut));
    });
    c.start().unwrap();
    assert!(c.join_timeout(Duration::from_secs(10)).unwrap());
    assert_eq!(c.exitcode(), Some(0), "the child saw its parent as a live holder");
}

fn main() {
    ringfork::process::register_target("hold_queue_segment", hold_queue_segment).unwrap();
    run(&[
        Case::new("spsc_ten_million_in_order", spsc_ten_million_in_order).timeout(Duration::from_secs(120)),
        Case::new("spsc_pair_round_trips", spsc_pair_round_trips).timeout(Duration::from_secs(120)),
        Case::new(
            "spsc_capacity_edges_across_processes",
            spsc_capacity_edges_across_processes,
        ),
        Case::new("mpmc_four_by_four_exactly_once", mpmc_four_by_four_exactly_once).timeout(Duration::from_secs(180)),
        Case::new("mpmc_try_ops_are_linearizable", mpmc_try_ops_are_linearizable).timeout(Duration::from_secs(240)),
        Case::new("queue_three_full_and_timeout", queue_three_full_and_timeout),
        Case::new("open_by_name_validates", open_by_name_validates),
        Case::new("byte_queue_sizes", byte_queue_sizes),
        Case::new(
            "joinable_join_waits_for_every_task_done",
            joinable_join_waits_for_every_task_done,
        ),
        Case::new("simple_queue_across_fork", simple_queue_across_fork),
        Case::new(
            "get_reports_disconnected_when_producers_die",
            get_reports_disconnected_when_producers_die,
        ),
        Case::new("killed_claimants_are_recovered", killed_claimants_are_recovered),
        Case::new(
            "crash_producers_and_consumers_at_random",
            crash_producers_and_consumers_at_random,
        )
        .timeout(Duration::from_secs(120)),
        Case::new(
            "hostile_peer_scribbles_over_indices",
            hostile_peer_scribbles_over_indices,
        ),
        Case::new(
            "get_waits_for_a_live_holder_that_has_not_put_yet",
            get_waits_for_a_live_holder_that_has_not_put_yet,
        )
        .timeout(Duration::from_secs(30)),
        Case::new(
            "put_waits_for_a_live_holder_that_has_not_got_yet",
            put_waits_for_a_live_holder_that_has_not_got_yet,
        )
        .timeout(Duration::from_secs(30)),
        Case::new(
            "open_drop_cycles_keep_disconnection_working",
            open_drop_cycles_keep_disconnection_working,
        )
        .timeout(Duration::from_secs(30)),
        Case::new(
            "joinable_dead_consumer_is_accounted_as_lost",
            joinable_dead_consumer_is_accounted_as_lost,
        )
        .timeout(Duration::from_secs(30)),
        Case::new("spawned_child_is_a_queue_holder", spawned_child_is_a_queue_holder).timeout(Duration::from_secs(30)),
        Case::new(
            "bare_fork_child_dropping_a_handle_keeps_the_parent_registered",
            bare_fork_child_dropping_a_handle_keeps_the_parent_registered,
        )
        .timeout(Duration::from_secs(30)),
    ]);
}
