//! Pipes across processes: ping-pong, EOF, simplex direction errors, dead peers, message sizes.

use ringfork::{pipe, pipe_with, PipeError, Process};
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::{fork_child, join_ok, wait_child};
use std::time::{Duration, Instant};

/// Duplex ping-pong, 100 000 round trips: the child answers every n with n + 1.
fn duplex_ping_pong_100k() {
    let (mut a, mut b) = pipe(true).unwrap();
    let pid = fork_child(move || loop {
        match b.recv::<u64>() {
            Ok(n) => b.send(&(n + 1)).unwrap(),
            Err(PipeError::Eof) => break,
            Err(e) => panic!("{e}"),
        }
    });
    let t = Instant::now();
    for i in 0..100_000u64 {
        a.send(&i).unwrap();
        assert_eq!(a.recv::<u64>(), Ok(i + 1));
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
            w.send(&i).unwrap();
        }
        w.close();
        assert_eq!(w.send(&0u32), Err(PipeError::Closed));
    });
    for i in 0..1000u32 {
        assert_eq!(r.recv::<u32>(), Ok(i));
    }
    assert_eq!(r.recv_bytes(), Err(PipeError::Eof));
    assert_eq!(r.poll(Some(Duration::ZERO)), Ok(true));
    join_ok(pid, Duration::from_secs(10));
    // Typed receive of the wrong size is a typed error.
    let (mut a, mut b) = pipe(true).unwrap();
    a.send(&1u16).unwrap();
    assert_eq!(b.recv::<u64>(), Err(PipeError::WrongSize { expected: 8, found: 2 }));
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
        a.recv_timeout::<u64>(Duration::from_millis(100)),
        Err(PipeError::TimedOut)
    );
    let el = t.elapsed();
    assert!(
        el >= Duration::from_millis(100) && el < Duration::from_secs(2),
        "{el:?}"
    );
    b.send(&7u64).unwrap();
    b.send(&8u32).unwrap();
    assert_eq!(a.recv_timeout::<u64>(Duration::from_secs(10)), Ok(7));
    assert_eq!(
        a.recv_timeout::<u64>(Duration::from_secs(10)),
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
    ]);
}
