//! Serde queues across processes (issue 17): any serde type, any size (through the large-message
//! lane), exactly once and FIFO per producer with several producers and consumers, typed decode
//! errors, and the crash cases of the lane (producer or consumer killed mid-message).

use ringfork::{JoinableQueue, Plain, PopError, Process, PushError, Queue, Segment, SimpleQueue};
use ringfork_tests::harness::{run, Case};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Job {
    id: u64,
    path: String,
    tags: Vec<String>,
    weights: Vec<f64>,
}

/// Joins `p` within `limit`, killing it (and failing) otherwise; returns its exit code.
fn join_within(p: &Process, limit: Duration) -> Option<i32> {
    if !p.join_timeout(limit).unwrap() {
        let _ = p.kill();
        let _ = p.join_timeout(Duration::from_secs(5));
        panic!("child did not finish within {limit:?}; killed");
    }
    p.exitcode()
}

/// The Queue part of the program: 100 small Jobs and one with an 8 MiB path, from a child.
fn job_round_trip_with_an_8_mib_message() {
    let q = Queue::<Job>::new(4).unwrap();
    let q2 = q.clone();
    let mut p = Process::new(move || {
        for id in 0..100 {
            let job = Job {
                id,
                path: format!("/data/{id}.csv"),
                tags: vec!["a".into()],
                weights: vec![0.5; 8],
            };
            q2.put(job).unwrap();
        }
        q2.put(Job {
            id: 100,
            path: "x".repeat(8 << 20),
            tags: vec![],
            weights: vec![],
        })
        .unwrap();
    });
    p.start().unwrap();
    for id in 0..100 {
        let j = q.get_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(j.id, id);
        assert_eq!(j.path, format!("/data/{id}.csv"));
        assert_eq!(j.weights, vec![0.5; 8]);
    }
    let big = q.get_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(big.id, 100);
    assert_eq!(big.path.len(), 8 << 20);
    assert!(big.path.bytes().all(|b| b == b'x'));
    assert_eq!(join_within(&p, Duration::from_secs(30)), Some(0));
    assert_eq!(q.lost(), 0);

    let plain = Queue::<u64>::new(8).unwrap();
    plain.put(7).unwrap();
    assert_eq!(plain.get().unwrap(), 7);
}

/// A message of random size: its bytes are a function of (producer, seq).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Msg {
    producer: u32,
    seq: u64,
    data: Vec<u8>,
}

fn rng(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

fn byte_of(producer: u32, seq: u64, i: usize) -> u8 {
    (u64::from(producer) * 31 + seq * 7 + i as u64 * 13 + (i as u64 >> 8)) as u8
}

fn size_for(producer: u32, seq: u64) -> usize {
    let mut s = u64::from(producer) << 32 | seq;
    let r = rng(&mut s) % 100;
    match r {
        0..=59 => (rng(&mut s) % 64) as usize,               // inline
        60..=89 => 48 + (rng(&mut s) % 400) as usize,        // around the 64-byte boundary
        90..=97 => (rng(&mut s) % 200_000) as usize,         // lane, several frames
        _ => (1 << 20) + (rng(&mut s) % (3 << 20)) as usize, // lane, far larger than it
    }
}

/// 3 producers and 2 consumers (all children) over a queue with 64-byte slots and a 64 KiB lane:
/// random sizes across the inline/lane boundary, every byte checked, exactly once, FIFO per
/// producer as seen by each consumer.
fn random_sizes_exactly_once_fifo_per_producer() {
    const PRODUCERS: u32 = 3;
    const PER: u64 = 400;
    let q = Queue::<Msg>::with_buffers(8, 64, 64 << 10).unwrap();
    let results = Queue::<Vec<(u32, u64)>>::new(4).unwrap();
    let mut procs = Vec::new();
    for producer in 0..PRODUCERS {
        let q = q.clone();
        let mut p = Process::new(move || {
            for seq in 0..PER {
                let n = size_for(producer, seq);
                let data = (0..n).map(|i| byte_of(producer, seq, i)).collect();
                q.put(Msg { producer, seq, data }).unwrap();
            }
        });
        p.start().unwrap();
        procs.push(p);
    }
    for _ in 0..2 {
        let q = q.clone();
        let results = results.clone();
        let mut p = Process::new(move || {
            let mut got = Vec::new();
            let mut last: HashMap<u32, u64> = HashMap::new();
            loop {
                let m = match q.get_timeout(Duration::from_secs(60)) {
                    Ok(m) => m,
                    Err(PopError::Closed) => break,
                    Err(e) => panic!("get: {e}"),
                };
                assert_eq!(
                    m.data.len(),
                    size_for(m.producer, m.seq),
                    "length of {}:{}",
                    m.producer,
                    m.seq
                );
                for (i, &b) in m.data.iter().enumerate() {
                    assert_eq!(b, byte_of(m.producer, m.seq, i), "byte {i} of {}:{}", m.producer, m.seq);
                }
                if let Some(&prev) = last.get(&m.producer) {
                    assert!(
                        m.seq > prev,
                        "producer {} out of order: {} after {prev}",
                        m.producer,
                        m.seq
                    );
                }
                last.insert(m.producer, m.seq);
                got.push((m.producer, m.seq));
            }
            results.put(got).unwrap();
        });
        p.start().unwrap();
        procs.push(p);
    }
    for p in &procs[..PRODUCERS as usize] {
        assert_eq!(join_within(p, Duration::from_secs(120)), Some(0));
    }
    // Drained? Then close: the consumers report.
    let start = Instant::now();
    while !q.empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "consumers did not drain the queue"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    q.close();
    let mut all = Vec::new();
    for _ in 0..2 {
        all.extend(results.get_timeout(Duration::from_secs(60)).unwrap());
    }
    for p in &procs[PRODUCERS as usize..] {
        assert_eq!(join_within(p, Duration::from_secs(30)), Some(0));
    }
    all.sort_unstable();
    let want: Vec<(u32, u64)> = (0..PRODUCERS).flat_map(|p| (0..PER).map(move |s| (p, s))).collect();
    assert_eq!(all, want, "exactly once");
    assert_eq!(q.lost(), 0);
}

/// A message that does not decode as the receiver's type is a typed error; the next one is fine,
/// inline and through the lane. Opening with another encoding flavour is an attach error.
fn garbage_is_a_typed_error_and_the_queue_stays_usable() {
    let seg = Segment::anonymous(8 << 20).unwrap();
    let jobs = Queue::<Job>::new_in(&seg, "q", 4).unwrap();
    let bytes = Queue::<Vec<u8>>::open(&seg, "q").unwrap();
    let job = Job {
        id: 1,
        path: "p".into(),
        tags: vec![],
        weights: vec![1.0],
    };
    bytes.put(vec![0xff; 10]).unwrap(); // inline garbage
    jobs.put(job.clone()).unwrap();
    bytes.put(vec![0xff; 100_000]).unwrap(); // lane garbage
    let big = Job {
        path: "y".repeat(300_000),
        ..job.clone()
    };
    jobs.put(big.clone()).unwrap();
    match jobs.get() {
        Err(PopError::Decode { len, type_name }) => {
            assert_eq!(len, 10);
            assert!(type_name.contains("Job"), "{type_name}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(jobs.get().unwrap(), job);
    assert!(matches!(jobs.get(), Err(PopError::Decode { len: 100_000, .. })));
    assert_eq!(jobs.get().unwrap(), big);
    // Errors work with `?` into Box<dyn Error> and print an actionable message.
    let e: Box<dyn std::error::Error> = Box::new(PopError::Decode {
        len: 3,
        type_name: "Job",
    });
    assert!(e.to_string().contains("same type"), "{e}");
    // Flavours: a fixed-size queue is not a serde queue and vice versa.
    Queue::<u64>::new_in(&seg, "n", 4).unwrap();
    assert!(Queue::<Job>::open(&seg, "n").is_err());
    assert!(Queue::<u64>::open(&seg, "q").is_err());
    assert!(Queue::<u64, Plain>::open(&seg, "n").is_ok()); // the same layout
                                                           // A value whose Serialize fails is an Encode error and nothing is put.
    let q = Queue::<Bad>::new(2).unwrap();
    match q.put(Bad(1)) {
        Err(e @ PushError::Encode { .. }) => assert!(e.to_string().contains("Bad"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(q.try_get().map(|b| b.0), Err(PopError::Empty));
}

#[derive(Deserialize, Debug)]
struct Bad(u8);

impl Serialize for Bad {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refuses to serialize"))
    }
}

/// Whether process `pid` is sleeping ('S' in /proc/<pid>/stat).
fn sleeping(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().starts_with('S')))
        .unwrap_or(false)
}

fn signal(p: &Process, sig: i32) {
    let pid = p.pid().unwrap() as libc::pid_t;
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

/// A producer killed while streaming a message far larger than the lane: only that message is
/// lost (not counted: it was never committed whole), the consumer skips it and gets the next one.
fn producer_killed_mid_large_message_loses_only_it() {
    let q = Queue::<Vec<u8>>::with_buffers(4, 64, 64 << 10).unwrap();
    let q2 = q.clone();
    let mut p = Process::new(move || {
        q2.put(b"before".to_vec()).unwrap();
        q2.put(vec![7u8; 32 << 20]).unwrap(); // blocks: nobody reads yet
        std::thread::sleep(Duration::from_secs(60));
    });
    p.start().unwrap();
    let start = Instant::now();
    // Both descriptors committed and the producer blocked mid-stream on the full lane.
    while !(q.qsize() == 2 && sleeping(p.pid().unwrap())) {
        assert!(start.elapsed() < Duration::from_secs(30), "producer never blocked");
        std::thread::sleep(Duration::from_millis(1));
    }
    p.kill().unwrap();
    assert_eq!(join_within(&p, Duration::from_secs(10)), Some(-libc::SIGKILL));
    q.put(b"after".to_vec()).unwrap();
    assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), b"before");
    assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), b"after");
    assert_eq!(q.lost(), 0);
    // The lane works again for the next large messages.
    let q3 = q.clone();
    let mut reader = Process::new(move || {
        assert_eq!(q3.get().unwrap(), vec![9u8; 200_000]);
        assert_eq!(q3.get().unwrap(), vec![1u8; 3 << 20]);
    });
    reader.start().unwrap();
    q.put(vec![9u8; 200_000]).unwrap();
    q.put(vec![1u8; 3 << 20]).unwrap();
    assert_eq!(join_within(&reader, Duration::from_secs(30)), Some(0));
}

/// A consumer killed mid-read of a large message: that message is counted in `lost()`, the
/// producer streaming it does not hang (its `put` returns), and the queue carries on.
fn consumer_killed_mid_large_message_is_counted_lost() {
    let q = Queue::<Vec<u8>>::with_buffers(4, 64, 64 << 10).unwrap();
    let q2 = q.clone();
    let mut producer = Process::new(move || {
        q2.put(vec![3u8; 16 << 20]).unwrap();
        q2.put(b"after".to_vec()).unwrap();
    });
    producer.start().unwrap();
    let start = Instant::now();
    while !(q.qsize() == 1 && sleeping(producer.pid().unwrap())) {
        assert!(start.elapsed() < Duration::from_secs(30), "producer never blocked");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Freeze the producer so the consumer is caught mid-message, waiting for more frames.
    signal(&producer, libc::SIGSTOP);
    let q3 = q.clone();
    let mut consumer = Process::new(move || {
        let _ = q3.get();
        std::process::exit(3); // never reached while the producer is stopped
    });
    consumer.start().unwrap();
    let start = Instant::now();
    while !sleeping(consumer.pid().unwrap()) {
        assert!(start.elapsed() < Duration::from_secs(30), "consumer never blocked");
        std::thread::sleep(Duration::from_millis(1));
    }
    consumer.kill().unwrap();
    assert_eq!(join_within(&consumer, Duration::from_secs(10)), Some(-libc::SIGKILL));
    signal(&producer, libc::SIGCONT);
    // The producer's put returns (the message was taken and lost), then it puts "after".
    assert_eq!(q.get_timeout(Duration::from_secs(30)).unwrap(), b"after");
    assert_eq!(join_within(&producer, Duration::from_secs(30)), Some(0));
    assert_eq!(q.lost(), 1);
    let q4 = q.clone();
    let mut reader = Process::new(move || {
        assert_eq!(q4.get().unwrap(), vec![5u8; 1 << 20]);
    });
    reader.start().unwrap();
    q.put(vec![5u8; 1 << 20]).unwrap();
    assert_eq!(join_within(&reader, Duration::from_secs(30)), Some(0));
}

/// A `put_timeout` whose deadline passes mid-stream withdraws its message: `TimedOut`, and the
/// reader skips the partial message and gets the next one; `try_put` of a message larger than the
/// lane's free room is `Full`.
fn a_timed_out_large_put_is_withdrawn() {
    let q = Queue::<Vec<u8>>::with_buffers(4, 64, 64 << 10).unwrap();
    let t = Instant::now();
    assert_eq!(
        q.put_timeout(vec![2u8; 4 << 20], Duration::from_millis(100)),
        Err(PushError::TimedOut)
    );
    assert!(t.elapsed() >= Duration::from_millis(100) && t.elapsed() < Duration::from_secs(2));
    q.put(b"next".to_vec()).unwrap();
    assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), b"next");
    assert_eq!(q.lost(), 0);
    assert_eq!(q.try_put(vec![3u8; 1 << 20]), Err(PushError::Full));
    q.put(b"again".to_vec()).unwrap();
    assert_eq!(q.try_get().unwrap(), b"again");
    assert_eq!(q.try_get(), Err(PopError::Empty));
    // A large message that fits the lane goes through in one process.
    q.put(vec![4u8; 40 << 10]).unwrap();
    assert_eq!(q.get().unwrap(), vec![4u8; 40 << 10]);
}

/// A JoinableQueue consumer killed while it reads a large message: the message is counted lost,
/// its task is accounted as lost, and `join` returns.
fn joinable_consumer_killed_mid_large_message() {
    let q = JoinableQueue::<Vec<u8>>::new(4).unwrap();
    let q2 = q.clone();
    let mut producer = Process::new(move || {
        q2.put(vec![6u8; 16 << 20]).unwrap();
    });
    producer.start().unwrap();
    let start = Instant::now();
    while !(q.queue().qsize() == 1 && sleeping(producer.pid().unwrap())) {
        assert!(start.elapsed() < Duration::from_secs(30), "producer never blocked");
        std::thread::sleep(Duration::from_millis(1));
    }
    signal(&producer, libc::SIGSTOP);
    let q3 = q.clone();
    let mut consumer = Process::new(move || {
        let _ = q3.get();
        std::process::exit(3);
    });
    consumer.start().unwrap();
    let start = Instant::now();
    while !sleeping(consumer.pid().unwrap()) {
        assert!(start.elapsed() < Duration::from_secs(30), "consumer never blocked");
        std::thread::sleep(Duration::from_millis(1));
    }
    consumer.kill().unwrap();
    assert_eq!(join_within(&consumer, Duration::from_secs(10)), Some(-libc::SIGKILL));
    signal(&producer, libc::SIGCONT);
    assert_eq!(join_within(&producer, Duration::from_secs(30)), Some(0));
    assert!(q.join_timeout(Duration::from_secs(10)), "join did not return");
    assert_eq!(q.tasks_lost(), 1);
    assert_eq!(q.queue().lost(), 1);
}

/// SimpleQueue and JoinableQueue carry Strings (and large ones) across processes.
fn simple_and_joinable_queues_carry_strings() {
    let sq = SimpleQueue::<String>::new().unwrap();
    let jq = JoinableQueue::<String>::new(8).unwrap();
    let (sq2, jq2) = (sq.clone(), jq.clone());
    let mut p = Process::new(move || {
        let s = sq2.get().unwrap();
        jq2.put(s.to_uppercase()).unwrap();
        let big = sq2.get().unwrap();
        jq2.put(big.clone()).unwrap();
        let _ = jq2.get().unwrap();
        jq2.task_done().unwrap();
    });
    p.start().unwrap();
    sq.put("héllo".into()).unwrap();
    sq.put("z".repeat(2 << 20)).unwrap();
    assert_eq!(jq.get_timeout(Duration::from_secs(30)).unwrap(), "HÉLLO");
    jq.task_done().unwrap();
    assert_eq!(jq.get_timeout(Duration::from_secs(30)).unwrap().len(), 2 << 20);
    jq.task_done().unwrap();
    jq.put("for the child".into()).unwrap();
    assert!(jq.join_timeout(Duration::from_secs(30)));
    assert_eq!(join_within(&p, Duration::from_secs(30)), Some(0));
    assert!(sq.empty());
}

/// A peer scribbling random words over a serde queue's slots and large-message lane while this
/// process puts and gets messages of every size with deadlines: every call returns (a message, a
/// typed error, a timeout) within its deadline plus the documented probe bounds; nothing crashes.
fn hostile_peer_scribbles_over_the_lane() {
    let q = Queue::<Vec<u8>>::with_buffers(8, 64, 64 << 10).unwrap();
    let e = q.segment().objects()[0];
    let base = q.segment().sub_region(e.offset, e.size).unwrap().as_ptr() as usize;
    let size = e.size;
    let mut scribbler = Process::new(move || {
        let mut x = 12345u64;
        let end = Instant::now() + Duration::from_millis(2000);
        while Instant::now() < end {
            // Past the ring's header line: its control block, slots, and the whole lane.
            let off = 128 + (rng(&mut x) as usize % (size - 136)) / 8 * 8;
            let v = match rng(&mut x) % 4 {
                0 => rng(&mut x) % 64,
                1 => rng(&mut x),
                2 => (1 << 63) | (rng(&mut x) % (1 << 24)),
                _ => 0,
            };
            // SAFETY: inside the object's region of the shared mapping, 8-aligned.
            // Ordering: Relaxed; a hostile peer's scribble synchronizes with nothing.
            unsafe {
                ((base + off) as *const std::sync::atomic::AtomicU64)
                    .as_ref()
                    .unwrap()
                    .store(v, std::sync::atomic::Ordering::Relaxed)
            };
            if rng(&mut x) % 16 == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    });
    scribbler.start().unwrap();
    let t = Instant::now();
    let mut ops = 0usize;
    let limit = Duration::from_millis(100) + Duration::from_secs(1);
    while t.elapsed() < Duration::from_millis(2000) {
        let n = [3, 70, 5000, 200_000][ops % 4];
        let c = Instant::now();
        let _ = q.put_timeout(vec![1u8; n], Duration::from_millis(100));
        assert!(c.elapsed() < limit, "put overran: {:?}", c.elapsed());
        let c = Instant::now();
        let _ = q.get_timeout(Duration::from_millis(100));
        assert!(c.elapsed() < limit, "get overran: {:?}", c.elapsed());
        let _ = q.try_get();
        let _ = q.qsize();
        ops += 1;
    }
    assert_eq!(join_within(&scribbler, Duration::from_secs(10)), Some(0));
    assert!(ops > 3);
}

fn main() {
    run(&[
        Case::new(
            "job_round_trip_with_an_8_mib_message",
            job_round_trip_with_an_8_mib_message,
        ),
        Case::new(
            "random_sizes_exactly_once_fifo_per_producer",
            random_sizes_exactly_once_fifo_per_producer,
        )
        .timeout(Duration::from_secs(240)),
        Case::new(
            "garbage_is_a_typed_error_and_the_queue_stays_usable",
            garbage_is_a_typed_error_and_the_queue_stays_usable,
        ),
        Case::new(
            "producer_killed_mid_large_message_loses_only_it",
            producer_killed_mid_large_message_loses_only_it,
        ),
        Case::new(
            "consumer_killed_mid_large_message_is_counted_lost",
            consumer_killed_mid_large_message_is_counted_lost,
        ),
        Case::new(
            "simple_and_joinable_queues_carry_strings",
            simple_and_joinable_queues_carry_strings,
        ),
        Case::new("a_timed_out_large_put_is_withdrawn", a_timed_out_large_put_is_withdrawn),
        Case::new(
            "joinable_consumer_killed_mid_large_message",
            joinable_consumer_killed_mid_large_message,
        ),
        Case::new(
            "hostile_peer_scribbles_over_the_lane",
            hostile_peer_scribbles_over_the_lane,
        ),
    ]);
}
