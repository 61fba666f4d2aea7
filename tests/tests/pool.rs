//! Pool: Python's API, and survival of dying workers.

use ringfork::{Pool, PoolError, Segment};
use ringfork_core::atomic::{AtomicU64, Ordering};
use ringfork_core::Kind;
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::zombie_children;
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn square(x: u64) -> u64 {
    x * x
}

fn pid_of_worker(_: u64) -> u32 {
    std::process::id()
}

fn slow(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn panics_on_13(x: u64) -> u64 {
    if x == 13 {
        panic!("unlucky number {x}");
    }
    x
}

fn kills_self_on_42(x: u64) -> u64 {
    if x == 42 {
        // SAFETY: signalling our own process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    x + 1
}

fn add(a: u32, b: u64) -> u64 {
    u64::from(a) + b
}

/// A counter in shared memory (inherited by the pool's workers).
fn counter() -> (Segment, &'static AtomicU64) {
    let seg = Segment::anonymous(4096).unwrap();
    let off = seg.alloc(Kind::Cell, "counter", 8, 8).unwrap();
    let r = seg.sub_region(off, 8).unwrap();
    // SAFETY: 8 bytes, 8-aligned, inside a mapping the test keeps alive (and leaks) until exit.
    let c = unsafe { &*(r.as_ptr() as *const AtomicU64) };
    (seg, c)
}

fn no_zombies() {
    assert!(zombie_children().is_empty(), "zombies left: {:?}", zombie_children());
}

fn map_keeps_input_order_for_10000_items() {
    let pool = Pool::new(3).unwrap();
    let out = pool.map(square, 0..10_000u64).unwrap();
    assert_eq!(out.len(), 10_000);
    assert!(out.iter().enumerate().all(|(i, &v)| v == (i as u64) * (i as u64)));
    let out1 = pool.map_chunked(square, 0..500u64, Some(1)).unwrap();
    assert_eq!(out1, (0..500u64).map(square).collect::<Vec<_>>());
    // Results too large to travel inline go through the arena.
    let big = pool.map_chunked(|x: u64| [x; 16], 0..1000u64, Some(50)).unwrap();
    assert!(big.iter().enumerate().all(|(i, a)| a.iter().all(|&v| v == i as u64)));
    assert!(pool.map(square, std::iter::empty::<u64>()).unwrap().is_empty());
    pool.close();
    pool.join().unwrap();
    no_zombies();
}

fn imap_and_imap_unordered_yield_everything_once() {
    let pool = Pool::new(2).unwrap();
    let ordered: Vec<u64> = pool
        .imap(square, 0..1000u64, Some(7))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(ordered, (0..1000u64).map(square).collect::<Vec<_>>());
    let mut seen = HashSet::new();
    for (i, r) in pool.imap_unordered(square, 0..1000u64, Some(3)).unwrap() {
        assert_eq!(r.unwrap(), square(i as u64));
        assert!(seen.insert(i), "index {i} yielded twice");
    }
    assert_eq!(seen.len(), 1000);
    assert_eq!(
        pool.starmap(add, (0..100u32).map(|i| (i, 1000u64)), None).unwrap()[99],
        1099
    );
}

fn ten_apply_async_tasks_use_at_most_three_pids() {
    let pool = Pool::new(3).unwrap();
    let rs: Vec<_> = (0..10).map(|i| pool.apply_async(pid_of_worker, i).unwrap()).collect();
    let pids: HashSet<u32> = rs.iter().map(|r| r.get().unwrap()).collect();
    assert!(!pids.is_empty() && pids.len() <= 3, "{pids:?}");
    assert!(!pids.contains(&std::process::id()), "tasks must run in workers");
    let workers: HashSet<u32> = pool.worker_pids().into_iter().collect();
    assert!(pids.is_subset(&workers));
}

fn apply_blocks_and_get_timeout_then_succeeds() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.apply(square, 12).unwrap(), 144);
    let r = pool.apply_async(slow, 600).unwrap();
    let start = Instant::now();
    assert_eq!(r.get_timeout(Duration::from_millis(100)), Err(PoolError::TimedOut));
    let el = start.elapsed();
    assert!(
        el >= Duration::from_millis(100) && el < Duration::from_secs(2),
        "{el:?}"
    );
    assert!(!r.ready());
    assert_eq!(r.successful(), Err(PoolError::NotReady));
    assert_eq!(r.get().unwrap(), 600);
    assert!(r.ready());
    assert_eq!(r.successful(), Ok(true));
    assert!(r.wait_timeout(Duration::from_millis(1)));
}

fn panicking_task_reports_its_message_and_pool_lives_on() {
    let pool = Pool::new(2).unwrap();
    match pool.apply(panics_on_13, 13) {
        Err(PoolError::TaskPanicked { message }) => assert!(message.contains("unlucky number 13"), "{message}"),
        other => panic!("expected TaskPanicked, got {other:?}"),
    }
    assert_eq!(pool.apply(panics_on_13, 12).unwrap(), 12);
    // In a map, the failure is the map's result; imap gives each item its own.
    assert!(matches!(
        pool.map(panics_on_13, 0..50u64),
        Err(PoolError::TaskPanicked { .. })
    ));
    let items: Vec<_> = pool.imap(panics_on_13, 0..20u64, Some(1)).unwrap().collect();
    assert!(items[13].is_err());
    assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 19);
    // Callbacks run in the parent, exactly one of the two.
    let (_seg, hits) = counter();
    let r = pool
        .apply_async_with(
            square,
            5,
            move |v| {
                hits.fetch_add(v, Ordering::SeqCst);
            },
            |_| panic!("error callback for a good task"),
        )
        .unwrap();
    r.wait();
    assert_eq!(hits.load(Ordering::SeqCst), 25);
    let (_seg2, errs) = counter();
    let r = pool.apply_async_with(
        panics_on_13,
        13,
        |_| panic!("ok callback for a bad task"),
        move |e| {
            assert!(matches!(e, PoolError::TaskPanicked { .. }));
            errs.fetch_add(1, Ordering::SeqCst);
        },
    );
    r.unwrap().wait();
    assert_eq!(errs.load(Ordering::SeqCst), 1);
}

fn a_killed_worker_fails_only_its_task() {
    let pool = Pool::new(3).unwrap();
    let before = pool.workers_started();
    let rs: Vec<_> = (0..100u64)
        .map(|i| pool.apply_async(kills_self_on_42, i).unwrap())
        .collect();
    let mut died = 0;
    for (i, r) in rs.iter().enumerate() {
        match r.get() {
            Ok(v) => assert_eq!(v, i as u64 + 1),
            Err(PoolError::WorkerDied { signal, .. }) => {
                assert_eq!(i, 42);
                assert_eq!(signal, Some(9));
                died += 1;
            }
            Err(e) => panic!("task {i}: {e}"),
        }
    }
    assert_eq!(died, 1);
    assert!(pool.workers_started() > before, "a replacement worker was started");
    assert_eq!(pool.worker_pids().len(), 3);
    // The pool still works, also for a map with a dying item.
    assert_eq!(pool.map(square, 0..100u64).unwrap()[99], 9801);
    let m: Vec<_> = pool.imap(kills_self_on_42, 0..100u64, Some(1)).unwrap().collect();
    assert!(matches!(m[42], Err(PoolError::WorkerDied { signal: Some(9), .. })));
    assert_eq!(m.iter().filter(|r| r.is_ok()).count(), 99);
    pool.close();
    pool.join().unwrap();
    no_zombies();
}

fn maxtasksperchild_and_initializer() {
    let (_seg, inits) = counter();
    let pool = Pool::builder()
        .processes(2)
        .maxtasksperchild(2)
        .initializer(move || {
            inits.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let mut pids = HashSet::new();
    for i in 0..10 {
        pids.insert(pool.apply(pid_of_worker, i).unwrap());
    }
    assert!(
        pids.len() >= 5,
        "10 tasks at 2 per child need at least 5 workers, saw {}",
        pids.len()
    );
    pool.close();
    pool.join().unwrap();
    assert_eq!(
        inits.load(Ordering::SeqCst),
        pool.workers_started(),
        "initializer runs once per worker"
    );
    no_zombies();
}

/// Shared words for the scheduling test: a start counter, the count of finished short tasks, and
/// per task its start position (1-based) and worker pid. Set before the pool forks its workers.
struct Sched {
    starts: AtomicU64,
    short_done: AtomicU64,
    start_pos: [AtomicU64; 10],
    pid: [AtomicU64; 10],
}

static SCHED: std::sync::atomic::AtomicPtr<Sched> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

fn sched() -> &'static Sched {
    let p = SCHED.load(std::sync::atomic::Ordering::SeqCst);
    assert!(!p.is_null());
    // SAFETY: set once to a zeroed, leaked shared mapping of the right size before any task runs.
    unsafe { &*p }
}

/// Task 0 is the slow one: it runs until the other nine have finished (10 s deadline) and reports
/// whether they did. Tasks 1..9 sleep uneven times.
fn uneven(i: u64) -> u64 {
    let s = sched();
    let pos = s.starts.fetch_add(1, Ordering::SeqCst) + 1;
    s.start_pos[i as usize].store(pos, Ordering::SeqCst);
    s.pid[i as usize].store(u64::from(std::process::id()), Ordering::SeqCst);
    if i == 0 {
        let end = Instant::now() + Duration::from_secs(10);
        while s.short_done.load(Ordering::SeqCst) < 9 {
            if Instant::now() > end {
                return 0;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        return 1;
    }
    std::thread::sleep(Duration::from_millis([0, 30, 5, 60, 10, 40, 5, 20, 50, 15][i as usize]));
    s.short_done.fetch_add(1, Ordering::SeqCst);
    i
}

fn uneven_tasks_start_fifo_and_no_worker_idles() {
    let seg = Segment::anonymous(4096).unwrap();
    let off = seg.alloc(Kind::Cell, "sched", std::mem::size_of::<Sched>(), 8).unwrap();
    let r = seg.sub_region(off, std::mem::size_of::<Sched>()).unwrap();
    SCHED.store(r.as_ptr() as *mut Sched, std::sync::atomic::Ordering::SeqCst);
    std::mem::forget(seg); // the workers use it until exit
    let pool = Pool::new(2).unwrap();
    let rs: Vec<_> = (0..10u64).map(|i| pool.apply_async(uneven, i).unwrap()).collect();
    let out: Vec<u64> = rs
        .iter()
        .map(|r| r.get_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    // The slow task delayed only itself: while it ran, the other worker ran all nine others (had
    // any of them waited behind it, it would have timed out and returned 0).
    assert_eq!(
        out[0], 1,
        "task 0 timed out: tasks queued behind a busy worker while one idled"
    );
    assert_eq!(&out[1..], &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let s = sched();
    let pos: Vec<u64> = s.start_pos.iter().map(|p| p.load(Ordering::SeqCst)).collect();
    let pids: Vec<u64> = s.pid.iter().map(|p| p.load(Ordering::SeqCst)).collect();
    // FIFO start: tasks 1..9 all ran on the one free worker, and started in submission order; task
    // 0 started first or second (its worker and the other claim the first two at the same time).
    assert!(pos[0] == 1 || pos[0] == 2, "start positions {pos:?}");
    assert!(pos[1..].windows(2).all(|w| w[0] < w[1]), "start positions {pos:?}");
    assert!(
        pids[1..].iter().all(|&p| p == pids[1]) && pids[1] != pids[0],
        "pids {pids:?}"
    );
    pool.close();
    pool.join().unwrap();
    no_zombies();
}

/// How many times the initializer ran in *this* process (copied as 0 into each forked worker).
static LOCAL_INITS: AtomicU64 = AtomicU64::new(0);

/// This worker's pid, with the number of initializer runs it saw in the high half.
fn pid_and_inits(_: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(2));
    u64::from(std::process::id()) | (LOCAL_INITS.load(Ordering::SeqCst) << 32)
}

fn initializer_runs_once_per_worker_process_with_maxtasksperchild() {
    // Shared: [count, pid of run 1, pid of run 2, ...].
    let seg = Segment::anonymous(4096).unwrap();
    let off = seg.alloc(Kind::Cell, "inits", 8 * 256, 8).unwrap();
    let r = seg.sub_region(off, 8 * 256).unwrap();
    // SAFETY: 256 u64 words, 8-aligned, inside a mapping kept alive until the end of the test.
    let words: &'static [AtomicU64] = unsafe { std::slice::from_raw_parts(r.as_ptr() as *const AtomicU64, 256) };
    let pool = Pool::builder()
        .processes(2)
        .maxtasksperchild(2)
        .initializer(move || {
            LOCAL_INITS.fetch_add(1, Ordering::SeqCst);
            let i = words[0].fetch_add(1, Ordering::SeqCst) as usize + 1;
            if i < words.len() {
                words[i].store(u64::from(std::process::id()), Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    // Concurrent submissions (workers retire while others still have work) and a chunked map.
    let rs: Vec<_> = (0..30u64)
        .map(|i| pool.apply_async(pid_and_inits, i).unwrap())
        .collect();
    let mut outs: Vec<u64> = rs.iter().map(|r| r.get().unwrap()).collect();
    outs.extend(pool.map_chunked(pid_and_inits, 0..20u64, Some(1)).unwrap());
    pool.close();
    pool.join().unwrap();
    let count = words[0].load(Ordering::SeqCst) as usize;
    assert!(count < words.len(), "{count} initializer runs");
    let init_pids: Vec<u64> = words[1..=count].iter().map(|w| w.load(Ordering::SeqCst)).collect();
    let distinct: HashSet<u64> = init_pids.iter().copied().collect();
    assert_eq!(
        count,
        distinct.len(),
        "the initializer ran twice in one process: {init_pids:?}"
    );
    assert_eq!(
        count as u64,
        pool.workers_started(),
        "one initializer run per worker started"
    );
    let mut per_pid = std::collections::HashMap::new();
    for o in &outs {
        let (pid, inits) = (o & 0xffff_ffff, o >> 32);
        assert_eq!(inits, 1, "worker {pid} ran a task after {inits} initializer runs");
        assert!(
            distinct.contains(&pid),
            "worker {pid} ran a task but never its initializer"
        );
        *per_pid.entry(pid).or_insert(0) += 1;
    }
    assert!(
        per_pid.values().all(|&n| n <= 2),
        "maxtasksperchild=2 exceeded: {per_pid:?}"
    );
    assert!(
        per_pid.len() >= 25,
        "50 tasks at 2 per child need 25 workers, saw {}",
        per_pid.len()
    );
    no_zombies();
}

fn terminate_is_prompt_and_join_needs_close() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.join(), Err(PoolError::NotClosed));
    let rs: Vec<_> = (0..4).map(|_| pool.apply_async(slow, 30_000).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let pids = pool.worker_pids();
    let start = Instant::now();
    pool.terminate();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "terminate took {:?}",
        start.elapsed()
    );
    pool.join().unwrap();
    for r in &rs {
        assert_eq!(r.get(), Err(PoolError::Terminated));
    }
    for p in pids {
        assert_eq!(ringfork_core::os::pid_exists(p), ringfork_core::os::Liveness::Dead);
    }
    assert_eq!(pool.apply_async(square, 1).unwrap_err(), PoolError::Closed);
    no_zombies();
}

fn bad_parameters_are_typed_errors() {
    assert!(matches!(
        Pool::new(0),
        Err(PoolError::InvalidParameter { name: "processes", .. })
    ));
    assert!(matches!(
        Pool::builder().maxtasksperchild(0).build(),
        Err(PoolError::InvalidParameter { .. })
    ));
    let pool = Pool::builder().processes(1).arena_size(4096).build().unwrap();
    assert!(matches!(
        pool.map_chunked(square, 0..10u64, Some(0)),
        Err(PoolError::InvalidParameter { name: "chunksize", .. })
    ));
    // A chunk larger than the whole arena is no error: it is cut, and what is still too large
    // travels in a segment of its own.
    let wide = pool.map_chunked(|x: u64| vec![x; 64], 0..100u64, Some(100)).unwrap();
    assert_eq!(wide.len(), 100);
    assert!(wide
        .iter()
        .enumerate()
        .all(|(i, v)| v.len() == 64 && v.iter().all(|&x| x == i as u64)));
    drop(pool);
    no_zombies();
}

fn dropping_the_pool_reaps_every_worker() {
    let pool = Pool::new(3).unwrap();
    let pids = pool.worker_pids();
    let r = pool.apply_async(slow, 10_000).unwrap();
    drop(pool);
    assert_eq!(r.get(), Err(PoolError::Terminated));
    for p in pids {
        assert_eq!(ringfork_core::os::pid_exists(p), ringfork_core::os::Liveness::Dead);
    }
    no_zombies();
}

fn worker_death_is_detected_even_with_sigchld_ignored() {
    // SAFETY: setting a signal disposition; this case runs alone in its own process.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let pool = Pool::new(2).unwrap();
    assert!(matches!(
        pool.apply(kills_self_on_42, 42),
        Err(PoolError::WorkerDied { .. })
    ));
    assert_eq!(pool.apply(kills_self_on_42, 1).unwrap(), 2);
    pool.close();
    pool.join().unwrap();
}

fn a_panicking_initializer_breaks_the_pool_instead_of_looping() {
    let pool = Pool::builder()
        .processes(2)
        .initializer(|| panic!("initializer boom"))
        .build()
        .unwrap();
    match pool.apply(square, 3) {
        Err(PoolError::WorkersFailing { failures }) => assert!(failures >= 5),
        other => panic!("expected WorkersFailing, got {other:?}"),
    }
    assert!(matches!(
        pool.apply_async(square, 1),
        Err(PoolError::WorkersFailing { .. })
    ));
    drop(pool);
    no_zombies();
}

fn spawn_pool_works_from_a_multi_threaded_parent() {
    // Four busy threads: forking now would be unsafe in general; spawning is not.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let pool = Pool::builder()
        .processes(2)
        .start_method(ringfork::StartMethod::Spawn)
        .build()
        .unwrap();
    assert_eq!(pool.map(square, 0..1000u64).unwrap()[999], 998_001);
    let pids: HashSet<u32> = (0..10).map(|i| pool.apply(pid_of_worker, i).unwrap()).collect();
    assert!(!pids.contains(&std::process::id()) && pids.len() <= 2);
    // A spawned worker killed mid-task: only that task fails; a spawned replacement takes over.
    assert!(matches!(
        pool.apply(kills_self_on_42, 42),
        Err(PoolError::WorkerDied { signal: Some(9), .. })
    ));
    assert_eq!(pool.apply(kills_self_on_42, 1).unwrap(), 2);
    assert!(matches!(
        pool.apply(panics_on_13, 13),
        Err(PoolError::TaskPanicked { .. })
    ));
    pool.close();
    pool.join().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(matches!(
        Pool::builder()
            .start_method(ringfork::StartMethod::Spawn)
            .initializer(|| {})
            .build(),
        Err(PoolError::InvalidParameter {
            name: "initializer",
            ..
        })
    ));
    no_zombies();
}

fn main() {
    run(&[
        Case::new(
            "map_keeps_input_order_for_10000_items",
            map_keeps_input_order_for_10000_items,
        ),
        Case::new(
            "imap_and_imap_unordered_yield_everything_once",
            imap_and_imap_unordered_yield_everything_once,
        ),
        Case::new(
            "ten_apply_async_tasks_use_at_most_three_pids",
            ten_apply_async_tasks_use_at_most_three_pids,
        ),
        Case::new(
            "apply_blocks_and_get_timeout_then_succeeds",
            apply_blocks_and_get_timeout_then_succeeds,
        ),
        Case::new(
            "panicking_task_reports_its_message_and_pool_lives_on",
            panicking_task_reports_its_message_and_pool_lives_on,
        ),
        Case::new(
            "a_killed_worker_fails_only_its_task",
            a_killed_worker_fails_only_its_task,
        ),
        Case::new("maxtasksperchild_and_initializer", maxtasksperchild_and_initializer),
        Case::new(
            "uneven_tasks_start_fifo_and_no_worker_idles",
            uneven_tasks_start_fifo_and_no_worker_idles,
        ),
        Case::new(
            "initializer_runs_once_per_worker_process_with_maxtasksperchild",
            initializer_runs_once_per_worker_process_with_maxtasksperchild,
        ),
        Case::new(
            "terminate_is_prompt_and_join_needs_close",
            terminate_is_prompt_and_join_needs_close,
        ),
        Case::new("bad_parameters_are_typed_errors", bad_parameters_are_typed_errors),
        Case::new(
            "dropping_the_pool_reaps_every_worker",
            dropping_the_pool_reaps_every_worker,
        ),
        Case::new(
            "worker_death_is_detected_even_with_sigchld_ignored",
            worker_death_is_detected_even_with_sigchld_ignored,
        ),
        Case::new(
            "a_panicking_initializer_breaks_the_pool_instead_of_looping",
            a_panicking_initializer_breaks_the_pool_instead_of_looping,
        ),
        Case::new(
            "spawn_pool_works_from_a_multi_threaded_parent",
            spawn_pool_works_from_a_multi_threaded_parent,
        ),
    ]);
}
