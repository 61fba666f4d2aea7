//! Pipes across processes: ping-pong, EOF, simplex direction errors, dead peers, message sizes.

use ringfork::{pipe, pipe_with, PipeError, Process};
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::{fork_child, join_ok, wait_child};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Duplex ping-pong, 100 000 round trips: the child answers every n with n + 1.
fn duplex_ping_pong_100k() {
    let (mut a, mut b) = pipe(true).unwrap();
    let pid = fork_child(move || loop {
        match b.recv_plain::<u64>() {
            Ok(n) => b.send_plain(&(n + 1)).unwrap(),
            Err(PipeError::Eof) => break,
            Err(e) => panic!("{e}"),
        }
    });
    let t = Instant::now();
    for i in 0..100_000u64 {
        a.send_plain(&i).unwrap();
        assert_eq!(a.recv_plain::<u64>(), Ok(i + 1));
    }
    let el = t.elapsed();
    eprintln!(
        "pipe ping-pong: {:.2} us per round trip",
        el.as_secs_f64() * 1e6 / 100_000.0
    );
    a.close();
    join_ok(pid, Duration::from_secs(30));
}

/// The peer process is SIGKILLed: a blocked recv returns Disconnected within 500 ms, and a send that
/// has to wait for room fails with BrokenPipe.
fn killed_peer_gives_disconnected() {
    let (mut a, mut b) = pipe_with(true, 64, 16).unwrap();
    let pid = fork_child(move || {
        b.send_bytes(b"hi").unwrap();
        std::thread::sleep(Duration::from_secs(60));
    });
    assert_eq!(a.recv_bytes().unwrap(), b"hi");
    // SAFETY: killing our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_child(pid, Duration::from_secs(10));
    let t = Instant::now();
    assert_eq!(a.recv_bytes(), Err(PipeError::Disconnected));
    let el = t.elapsed();
    assert!(el < Duration::from_millis(500), "took {el:?}");
    assert_eq!(a.poll(Some(Duration::from_secs(5))), Ok(true));
    // "Just look" and a wait shorter than the probe interval see it as well.
    assert_eq!(a.poll(Some(Duration::ZERO)), Ok(true));
    assert_eq!(a.poll(Some(Duration::from_millis(5))), Ok(true));
    // Fill the direction nobody reads any more: the blocked send notices the dead reader.
    let mut r = Ok(());
    for _ in 0..100 {
        r = a.send_bytes(&[1; 16]);
        if r.is_err() {
            break;
        }
    }
    assert_eq!(r, Err(PipeError::BrokenPipe));
}

/// Simplex: conn1 only receives, conn2 only sends; close gives EOF after the data.
fn simplex_directions_and_eof() {
    let (mut r, mut w) = pipe(false).unwrap();
    assert!(r.readable() && !r.writable() && w.writable() && !w.readable());
    assert_eq!(r.send_bytes(b"x"), Err(PipeError::NotWritable));
    assert_eq!(w.recv_bytes(), Err(PipeError::NotReadable));
    let pid = fork_child(move || {
        for i in 0..1000u32 {
            w.send_plain(&i).unwrap();
        }
        w.close();
        assert_eq!(w.send_plain(&0u32), Err(PipeError::Closed));
    });
    for i in 0..1000u32 {
        assert_eq!(r.recv_plain::<u32>(), Ok(i));
    }
    assert_eq!(r.recv_bytes(), Err(PipeError::Eof));
    assert_eq!(r.poll(Some(Duration::ZERO)), Ok(true));
    join_ok(pid, Duration::from_secs(10));
    // Typed receive of the wrong size is a typed error.
    let (mut a, mut b) = pipe(true).unwrap();
    a.send_plain(&1u16).unwrap();
    assert_eq!(
        b.recv_plain::<u64>(),
        Err(PipeError::WrongSize { expected: 8, found: 2 })
    );
}

/// Sizes 0, 1, limit-1, limit, limit+1 (error) and random sizes that wrap a small ring, checksummed.
fn message_sizes_and_wraparound() {
    const LIMIT: usize = 1000;
    let (mut a, mut b) = pipe_with(false, 2048, LIMIT).unwrap();
    // (The parent never uses `b`: a process that used an end counts as its peer while it lives.)
    let pid = fork_child(move || {
        assert_eq!(
            b.send_bytes(&vec![0; LIMIT + 1]),
            Err(PipeError::TooLarge {
                len: LIMIT + 1,
                limit: LIMIT
            })
        );
        for len in [0, 1, LIMIT - 1, LIMIT] {
            b.send_bytes(&vec![0xA5; len]).unwrap();
        }
        let mut x = 99u64;
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % (LIMIT as u64 + 1)) as usize;
            let msg: Vec<u8> = (0..len).map(|k| (k as u64 * 31 + i) as u8).collect();
            b.send_bytes(&msg).unwrap();
        }
    });
    for len in [0, 1, LIMIT - 1, LIMIT] {
        assert_eq!(a.recv_bytes().unwrap(), vec![0xA5; len]);
    }
    let mut x = 99u64;
    let mut buf = Vec::new();
    for i in 0..20_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % (LIMIT as u64 + 1)) as usize;
        let n = a.recv_bytes_into(&mut buf).unwrap();
        assert_eq!(n, len, "message {i}");
        let sum: u64 = buf.iter().map(|&c| u64::from(c)).sum();
        let want: u64 = (0..len).map(|k| u64::from((k as u64 * 31 + i) as u8)).sum();
        assert_eq!(sum, want, "message {i} checksum");
    }
    join_ok(pid, Duration::from_secs(30));
    assert_eq!(
        a.recv_bytes_timeout(Duration::from_millis(100)),
        Err(PipeError::Disconnected)
    );
}

/// poll with a timeout: false after >= the timeout on an empty pipe, true once a message arrives.
fn poll_timeout_bounds() {
    let (mut a, mut b) = pipe(true).unwrap();
    let t = Instant::now();
    assert_eq!(a.poll(Some(Duration::from_millis(100))), Ok(false));
    let el = t.elapsed();
    assert!(
        el >= Duration::from_millis(100) && el < Duration::from_secs(2),
        "{el:?}"
    );
    let pid = fork_child(move || {
        std::thread::sleep(Duration::from_millis(30));
        b.send_bytes(b"late").unwrap();
    });
    assert_eq!(a.poll(Some(Duration::from_secs(10))), Ok(true));
    assert_eq!(a.recv_bytes().unwrap(), b"late");
    join_ok(pid, Duration::from_secs(10));
}

/// recv_timeout: `TimedOut` after >= the timeout on an empty pipe (the message arriving later is
/// not lost), the value once one is there, `WrongSize` for a message of another size.
fn recv_timeout_bounds() {
    let (mut a, mut b) = pipe(true).unwrap();
    let t = Instant::now();
    assert_eq!(
        a.recv_plain_timeout::<u64>(Duration::from_millis(100)),
        Err(PipeError::TimedOut)
    );
    let el = t.elapsed();
    assert!(
        el >= Duration::from_millis(100) && el < Duration::from_secs(2),
        "{el:?}"
    );
    b.send_plain(&7u64).unwrap();
    b.send_plain(&8u32).unwrap();
    assert_eq!(a.recv_plain_timeout::<u64>(Duration::from_secs(10)), Ok(7));
    assert_eq!(
        a.recv_plain_timeout::<u64>(Duration::from_secs(10)),
        Err(PipeError::WrongSize { expected: 8, found: 4 })
    );
}

/// Issue 16.3(a): the only other holder of a pipe end is SIGKILLed before it ever used it (before it
/// even ran, most likely): `recv()` without a timeout reports `Disconnected` in bounded time. While
/// that holder lived, an unused end kept `recv` waiting (`TimedOut`, not `Disconnected`).
fn holder_killed_before_first_use_gives_disconnected() {
    for round in 0..2 {
        let (mut r, w) = pipe(false).unwrap();
        let mut p = Process::new(move || {
            let _w = w; // held, never used
            std::thread::sleep(Duration::from_secs(60));
        });
        p.start().unwrap(); // the parent's copy of `w` is dropped here
        if round == 1 {
            assert_eq!(
                r.recv_bytes_timeout(Duration::from_millis(200)),
                Err(PipeError::TimedOut),
                "a live holder that has not sent yet is still a possible sender"
            );
        }
        p.kill().unwrap();
        assert!(p.join_timeout(Duration::from_secs(10)).unwrap());
        assert_eq!(p.exitcode(), Some(-libc::SIGKILL));
        let t = Instant::now();
        assert_eq!(r.recv_bytes(), Err(PipeError::Disconnected));
        assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Job {
    id: u64,
    path: String,
    tags: Vec<String>,
    weights: Vec<f64>,
}

/// Issue 17: serde values through `send`/`recv`: the issue's `Vec<String>`, a struct with
/// `String`/`Vec` fields, across processes both ways, and `recv_timeout` of a typed value.
fn serde_values_round_trip() {
    let (mut a, mut b) = pipe(true).unwrap();
    a.send(&vec![String::from("hello"), String::from("世界")]).unwrap();
    assert_eq!(b.recv::<Vec<String>>().unwrap(), vec!["hello", "世界"]);
    let pid = fork_child(move || {
        while let Ok(mut job) = b.recv::<Job>() {
            job.id += 1;
            job.tags.push(format!("seen {}", job.path));
            b.send(&job).unwrap();
        }
    });
    for id in 0..100u64 {
        let job = Job {
            id,
            path: format!("/data/{id}.csv"),
            tags: vec!["a".into(); (id % 4) as usize],
            weights: vec![0.5; id as usize],
        };
        a.send(&job).unwrap();
        let back: Job = a.recv_timeout(Duration::from_secs(10)).unwrap();
        let mut want = job.clone();
        want.id += 1;
        want.tags.push(format!("seen {}", job.path));
        assert_eq!(back, want);
    }
    a.close();
    join_ok(pid, Duration::from_secs(30));
}

/// The byte pattern of a message of `len` bytes (seeded, so both processes agree) and its checksum.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn checksum(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Issue 17: messages of 0 B to above 16 MiB across processes, streamed through a 256 KiB ring
/// with 64 KiB frames, checksummed, in order with small messages between them.
fn any_size_streamed_across_processes() {
    const SIZES: [usize; 12] = [
        0,
        1,
        65_534,
        65_535,
        65_536,
        65_537,
        300_001,
        1 << 20,
        3_333_333,
        8 << 20,
        16 << 20,
        (16 << 20) + 12_345,
    ];
    let (mut r, mut w) = pipe(false).unwrap();
    let pid = fork_child(move || {
        for (i, &len) in SIZES.iter().enumerate() {
            let data = pattern(len, i as u64);
            w.send(&(i as u64, checksum(&data), String::from_utf8(vec![b'x'; i]).unwrap()))
                .unwrap();
            w.send(&data).unwrap();
        }
    });
    for (i, &len) in SIZES.iter().enumerate() {
        let (k, sum, s): (u64, u64, String) = r.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!((k, s.len()), (i as u64, i));
        let data: Vec<u8> = r.recv_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(data.len(), len, "message {i}");
        assert_eq!(checksum(&data), sum, "message {i} checksum");
    }
    join_ok(pid, Duration::from_secs(30));
    assert_eq!(r.recv::<u64>(), Err(PipeError::Disconnected));
}

/// Issue 17: a sender SIGKILLed in the middle of streaming a 16 MiB message: the receiver reports
/// `Disconnected` in bounded time and never delivers the partial message.
fn sender_killed_mid_stream_gives_disconnected() {
    let (mut r, mut w) = pipe(false).unwrap();
    let pid = fork_child(move || {
        w.send(&7u64).unwrap();
        // Far more than the ring holds: blocks mid-stream, as nobody reads yet.
        w.send(&vec![0xA5u8; 16 << 20]).unwrap();
        std::thread::sleep(Duration::from_secs(60));
    });
    assert_eq!(r.recv_timeout::<u64>(Duration::from_secs(10)), Ok(7));
    // The first frame of the large message is there: the sender is mid-stream (it cannot finish
    // until we read). Kill it there.
    assert_eq!(r.poll(Some(Duration::from_secs(10))), Ok(true));
    // SAFETY: killing our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_child(pid, Duration::from_secs(10));
    let t = Instant::now();
    assert_eq!(r.recv::<Vec<u8>>(), Err(PipeError::Disconnected));
    let el = t.elapsed();
    assert!(el < Duration::from_secs(2), "took {el:?}");
    assert_eq!(r.recv::<Vec<u8>>(), Err(PipeError::Disconnected));
}

/// Issue 17: a type mismatch is `Decode`, garbage frames are `BadFrame` (a claimed length above
/// the cap included, without allocating it), each on that call only: the next message arrives.
fn mismatch_and_garbage_are_typed_errors() {
    let (mut a, mut b) = pipe_with(true, 4096, 64).unwrap();
    a.send(&12_345u64).unwrap();
    assert_eq!(b.recv::<String>(), Err(PipeError::Decode));
    a.send(&String::from("next")).unwrap();
    assert_eq!(b.recv::<String>().unwrap(), "next");
    // Trailing bytes after a complete value are a mismatch too.
    a.send(&(1u8, 2u8)).unwrap();
    assert_eq!(b.recv::<u8>(), Err(PipeError::Decode));
    // Raw messages, an unknown frame kind, an empty frame.
    for raw in [&b""[..], b"\x07junk", b"\x03orphan continuation"] {
        a.send_bytes(raw).unwrap();
        assert_eq!(b.recv::<u64>(), Err(PipeError::BadFrame), "{raw:?}");
        a.send(&1u64).unwrap();
        assert_eq!(b.recv::<u64>(), Ok(1));
    }
    // A first frame claiming 2^40 bytes, then its "continuations": one error, the rest is skipped.
    let mut first = vec![0x02];
    first.extend_from_slice(&(1u64 << 40).to_le_bytes());
    first.extend_from_slice(&[0; 20]);
    a.send_bytes(&first).unwrap();
    a.send_bytes(b"\x03more").unwrap();
    a.send_bytes(b"\x03more").unwrap();
    a.send(&vec![9u32; 100]).unwrap(); // streamed: 400+ bytes through 64-byte frames
    assert_eq!(b.recv::<Vec<u32>>(), Err(PipeError::BadFrame));
    assert_eq!(b.recv::<Vec<u32>>().unwrap(), vec![9u32; 100]);
    // A new message starting while one is incomplete replaces it.
    let mut cut = vec![0x02];
    cut.extend_from_slice(&1000u64.to_le_bytes());
    cut.extend_from_slice(&[0; 10]);
    a.send_bytes(&cut).unwrap();
    a.send(&String::from("after the cut")).unwrap();
    assert_eq!(b.recv::<String>().unwrap(), "after the cut");
    // A timeout in the middle of a streamed message keeps what arrived.
    let mut part = vec![0x02];
    let body = postcard_string(100);
    part.extend_from_slice(&(body.len() as u64).to_le_bytes());
    part.extend_from_slice(&body[..50]);
    a.send_bytes(&part).unwrap();
    assert_eq!(
        b.recv_timeout::<String>(Duration::from_millis(50)),
        Err(PipeError::TimedOut)
    );
    let mut rest = vec![0x03];
    rest.extend_from_slice(&body[50..]);
    a.send_bytes(&rest).unwrap();
    assert_eq!(b.recv::<String>().unwrap(), "y".repeat(100));
}

/// postcard's encoding of a `String` of `n` (< 128) `'y'`s: a one-byte varint length, the bytes.
fn postcard_string(n: usize) -> Vec<u8> {
    assert!(n < 128);
    let mut v = vec![n as u8];
    v.extend(std::iter::repeat_n(b'y', n));
    v
}

fn main() {
    run(&[
        Case::new("duplex_ping_pong_100k", duplex_ping_pong_100k).timeout(Duration::from_secs(120)),
        Case::new("killed_peer_gives_disconnected", killed_peer_gives_disconnected),
        Case::new("simplex_directions_and_eof", simplex_directions_and_eof),
        Case::new("message_sizes_and_wraparound", message_sizes_and_wraparound),
        Case::new("poll_timeout_bounds", poll_timeout_bounds),
        Case::new("recv_timeout_bounds", recv_timeout_bounds),
        Case::new(
            "holder_killed_before_first_use_gives_disconnected",
            holder_killed_before_first_use_gives_disconnected,
        )
        .timeout(Duration::from_secs(20)),
        Case::new("serde_values_round_trip", serde_values_round_trip),
        Case::new("any_size_streamed_across_processes", any_size_streamed_across_processes)
            .timeout(Duration::from_secs(180)),
        Case::new(
            "sender_killed_mid_stream_gives_disconnected",
            sender_killed_mid_stream_gives_disconnected,
        )
        .timeout(Duration::from_secs(60)),
        Case::new(
            "mismatch_and_garbage_are_typed_errors",
            mismatch_and_garbage_are_typed_errors,
        ),
    ]);
}
