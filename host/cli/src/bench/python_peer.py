#!/usr/bin/env python3
"""Python's multiprocessing, measured on the same scenarios as `ringfork bench`, in the same run.

Run by `ringfork bench --python`; prints one JSON object: {"python": version, "results": {name: stat}},
each stat {"median", "min", "max", "unit", "higher_is_better", "samples"}. Units match ringfork's rows.
Usage: python_peer.py [--quick] [--reps N] [--only NAME[,NAME...]]
"""
import json
import multiprocessing as mp
import statistics
import sys
import time

CTX = mp.get_context("fork")


def _sq(x):
    return x * x


def _noop():
    pass


def queue_throughput(n, simple=False):
    q = CTX.SimpleQueue() if simple else CTX.Queue()

    def producer(q, n):
        for i in range(n):
            q.put(i)
        q.put(None)

    p = CTX.Process(target=producer, args=(q, n))
    t = time.perf_counter()
    p.start()
    got = 0
    while q.get() is not None:
        got += 1
    dt = time.perf_counter() - t
    p.join()
    assert got == n
    return n / dt / 1e6  # Mitems/s


def _job(i):
    # The record of `queue_struct_vs_python`: a 16-character path, one tag, 8 floats.
    return {"id": i, "path": "/data/%010d" % i, "tags": ["a"], "weights": [0.5] * 8}


def queue_struct(n):
    q = CTX.Queue()

    def producer(q, n):
        for i in range(n):
            q.put(_job(i))
        q.put(None)

    p = CTX.Process(target=producer, args=(q, n))
    t = time.perf_counter()
    p.start()
    got = 0
    while True:
        job = q.get()
        if job is None:
            break
        assert job["id"] == got and len(job["path"]) == 16
        got += 1
    dt = time.perf_counter() - t
    p.join()
    assert got == n
    return n / dt / 1e6  # Mitems/s


def queue_bytes(n, size):
    q = CTX.Queue()

    def producer(q, n, size):
        msg = bytes([0xA5]) * size
        for _ in range(n):
            q.put(msg)
        q.put(None)

    p = CTX.Process(target=producer, args=(q, n, size))
    t = time.perf_counter()
    p.start()
    got = 0
    while True:
        m = q.get()
        if m is None:
            break
        assert len(m) == size
        got += 1
    dt = time.perf_counter() - t
    p.join()
    assert got == n
    return n / dt / 1e6  # Mmsgs/s


def pipe_pingpong(n):
    a, b = CTX.Pipe()

    def echo(conn, n):
        for _ in range(n):
            conn.send_bytes(conn.recv_bytes())

    p = CTX.Process(target=echo, args=(b, n))
    p.start()
    t = time.perf_counter()
    for _ in range(n):
        a.send_bytes(b"x")
        a.recv_bytes()
    dt = time.perf_counter() - t
    p.join()
    return dt * 1e9 / n  # ns/roundtrip


def event_pingpong(n):
    ping, pong = CTX.Event(), CTX.Event()

    def responder(ping, pong, n):
        for _ in range(n):
            ping.wait()
            ping.clear()
            pong.set()

    p = CTX.Process(target=responder, args=(ping, pong, n))
    p.start()
    t = time.perf_counter()
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    dt = time.perf_counter() - t
    p.join()
    return dt * 1e9 / n


def _locked_incs(lock, val, n):
    for _ in range(n):
        with lock:
            val.value += 1


def lock_contended(procs, n):
    lock = CTX.Lock()
    val = CTX.Value("q", 0, lock=False)
    ps = [CTX.Process(target=_locked_incs, args=(lock, val, n)) for _ in range(procs)]
    t = time.perf_counter()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    dt = time.perf_counter() - t
    assert val.value == procs * n
    return procs * n / dt / 1e6  # Mops/s


def value_increments(procs, n):
    val = CTX.Value("q", 0)

    def inc(val, n):
        for _ in range(n):
            with val.get_lock():
                val.value += 1

    ps = [CTX.Process(target=inc, args=(val, n)) for _ in range(procs)]
    t = time.perf_counter()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    dt = time.perf_counter() - t
    assert val.value == procs * n
    return procs * n / dt / 1e6


def pool_map(n, chunksize):
    with CTX.Pool(2) as pool:
        pool.map(_sq, range(100))  # warm: workers started
        t = time.perf_counter()
        r = pool.map(_sq, range(n), chunksize=chunksize) if chunksize else pool.map(_sq, range(n))
        dt = time.perf_counter() - t
    assert r[-1] == (n - 1) ** 2
    return n / dt / 1e6  # Mtasks/s


def pool_map_strings(n):
    strings = [f"item-{i}" for i in range(n)]
    with CTX.Pool(2) as pool:
        pool.map(len, [f"item-{i}" for i in range(100)])  # warm: workers started
        t = time.perf_counter()
        r = pool.map(len, strings, chunksize=1)
        dt = time.perf_counter() - t
    assert r[-1] == len(strings[-1])
    return n / dt / 1e6  # Mtasks/s


def _uneven(i):
    time.sleep(0.02 if i % 10 == 0 else 0.001)
    return i


def pool_uneven_makespan(n):
    with CTX.Pool(2) as pool:
        pool.map(_sq, range(100))  # warm: workers started
        t = time.perf_counter()
        rs = [pool.apply_async(_uneven, (i,)) for i in range(n)]
        for i, r in enumerate(rs):
            assert r.get() == i
        dt = time.perf_counter() - t
    return dt * 1e3  # ms/makespan


def pool_apply_async_roundtrip(n):
    with CTX.Pool(2) as pool:
        pool.apply(_sq, (1,))
        t = time.perf_counter()
        for i in range(n):
            assert pool.apply_async(_sq, (i,)).get() == i * i
        dt = time.perf_counter() - t
    return dt * 1e6 / n  # us/roundtrip


def process_start_join(n):
    t = time.perf_counter()
    for _ in range(n):
        p = CTX.Process(target=_noop)
        p.start()
        p.join()
    return (time.perf_counter() - t) * 1e6 / n  # us/process


def main():
    quick = "--quick" in sys.argv
    reps = 3 if quick else 5
    only = None
    args = sys.argv[1:]
    for i, a in enumerate(args):
        if a == "--reps":
            reps = int(args[i + 1])
        if a == "--only":
            only = set(args[i + 1].split(","))
    s = 10 if quick else 1  # scale down in quick mode
    scenarios = {
        "python_queue": (lambda: queue_throughput(200_000 // s), "Mitems/s", True),
        "python_simplequeue": (lambda: queue_throughput(200_000 // s, simple=True), "Mitems/s", True),
        "python_queue_struct": (lambda: queue_struct(100_000 // s), "Mitems/s", True),
        "python_queue_1mib": (lambda: queue_bytes(400 // s, 1 << 20), "Mmsgs/s", True),
        "python_pipe_pingpong": (lambda: pipe_pingpong(20_000 // s), "ns/roundtrip", False),
        "python_event_pingpong": (lambda: event_pingpong(10_000 // s), "ns/roundtrip", False),
        "python_lock_4p": (lambda: lock_contended(4, 50_000 // s), "Mops/s", True),
        "python_value_4p": (lambda: value_increments(4, 50_000 // s), "Mops/s", True),
        "python_pool_map_chunk1": (lambda: pool_map(100_000 // s, 1), "Mtasks/s", True),
        "python_pool_map_strings_chunk1": (lambda: pool_map_strings(100_000 // s), "Mtasks/s", True),
        "python_pool_map": (lambda: pool_map(100_000 // s, None), "Mtasks/s", True),
        "python_pool_uneven": (lambda: pool_uneven_makespan(10 if quick else 200), "ms/makespan", False),
        "python_pool_apply_async": (lambda: pool_apply_async_roundtrip(5_000 // s), "us/roundtrip", False),
        "python_process_start_join": (lambda: process_start_join(200 // s), "us/process", False),
    }
    results = {}
    for name, (fn, unit, hib) in scenarios.items():
        if only and name not in only:
            continue
        samples = [fn() for _ in range(reps)]
        results[name] = {
            "median": statistics.median(samples),
            "min": min(samples),
            "max": max(samples),
            "unit": unit,
            "higher_is_better": hib,
            "samples": len(samples),
        }
        print(f"python_peer: {name} {results[name]['median']:.4g} {unit}", file=sys.stderr)
    print(json.dumps({"python": sys.version.split()[0], "results": results}))


if __name__ == "__main__":
    main()
