//! The process layer: Process lifecycle and exit codes, reaping on every path, daemons and exit
//! behaviour, spawn, the low-level fork/wait toolkit, zombies and orphans, signals.

use ringfork::os::{self as sys, ForkResult, WaitStatus};
use ringfork::process::{
    active_children, current_process, parent_pid, reap_detached, Process, ProcessError, Run, StartMethod, TargetArgs,
};
use ringfork::signal::{self, Signal};
use ringfork::{Segment, ShmCell};
use ringfork_core::os::{probe, stat, Liveness, ProcessStamp, StatError};
use ringfork_core::Kind;
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::{wait_until, zombie_children};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

/// Every case ends here: nothing it started is left as a zombie of the case process.
fn assert_no_zombies() {
    reap_detached();
    assert!(
        wait_until(Duration::from_secs(5), || zombie_children().is_empty()),
        "zombie children left: {:?}",
        zombie_children()
    );
}

fn joined(p: &Process) {
    assert!(p.join_timeout(LONG).unwrap(), "{p:?} did not finish within {LONG:?}");
}

fn exitcodes() {
    let mut ok = Process::new(|| {});
    let mut three = Process::new(|| std::process::exit(3));
    let mut panics = Process::new(|| panic!("deliberate panic in the child"));
    let mut killed = Process::new(|| std::thread::sleep(Duration::from_secs(60)));
    let mut termed = Process::new(|| std::thread::sleep(Duration::from_secs(60)));
    for p in [&mut ok, &mut three, &mut panics, &mut killed, &mut termed] {
        assert_eq!(p.exitcode(), None, "not started");
        p.start().unwrap();
    }
    killed.kill().unwrap();
    termed.terminate().unwrap();
    for p in [&ok, &three, &panics, &killed, &termed] {
        joined(p);
        assert!(!p.is_alive());
    }
    assert_eq!(ok.exitcode(), Some(0));
    assert_eq!(three.exitcode(), Some(3));
    assert_eq!(panics.exitcode(), Some(1));
    assert_eq!(killed.exitcode(), Some(-9));
    assert_eq!(killed.wait_status(), Some(WaitStatus::Signaled(libc::SIGKILL)));
    assert_eq!(termed.exitcode(), Some(-15));
    assert_no_zombies();
}

struct ExitWith(i32);
impl Run for ExitWith {
    fn run(&mut self) {
        std::process::exit(self.0);
    }
}

fn run_trait_and_names() {
    let mut p = Process::from_run(ExitWith(5));
    assert!(p.get_name().starts_with("Process-"), "{}", p.get_name());
    p.start().unwrap();
    joined(&p);
    assert_eq!(p.exitcode(), Some(5));

    // The child sees its own name, identity and parent.
    let out = ShmCell::new(0u32).unwrap();
    let o2 = out.clone();
    let me = std::process::id();
    let mut named = Process::new(move || {
        let cp = current_process();
        let ok = cp.name == "worker" && cp.pid == std::process::id() && parent_pid() == me && !cp.daemon;
        o2.set(if ok { 1 } else { 2 });
    })
    .name("worker");
    assert_eq!(named.get_name(), "worker");
    named.start().unwrap();
    joined(&named);
    assert_eq!(out.get(), 1, "child saw a wrong current_process()/parent_pid()");
    assert_eq!(current_process().name, "MainProcess");
    assert_no_zombies();
}

fn join_timeout_on_sleeper() {
    let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(60)));
    p.start().unwrap();
    let t = Instant::now();
    assert!(!p.join_timeout(Duration::from_millis(200)).unwrap());
    let el = t.elapsed();
    assert!(el >= Duration::from_millis(200), "join_timeout returned early: {el:?}");
    assert!(el < Duration::from_secs(2), "join_timeout returned late: {el:?}");
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    // A zero timeout only polls.
    let t = Instant::now();
    assert!(!p.join_timeout(Duration::ZERO).unwrap());
    assert!(t.elapsed() < Duration::from_secs(1));
    let listed = active_children();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].pid, p.pid().unwrap());
    p.terminate().unwrap();
    p.join().unwrap();
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), Some(-15));
    assert!(active_children().is_empty());
    assert_no_zombies();
}

static G_NUM: AtomicU32 = AtomicU32::new(100);

fn data_isolation() {
    let seen = ShmCell::new(0u32).unwrap();
    let s2 = seen.clone();
    let mut p = Process::new(move || {
        G_NUM.fetch_add(1, Ordering::SeqCst);
        s2.set(G_NUM.load(Ordering::SeqCst));
    });
    p.start().unwrap();
    joined(&p);
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(seen.get(), 101, "the child saw its own increment");
    assert_eq!(
        G_NUM.load(Ordering::SeqCst),
        100,
        "the parent must not see the child's write"
    );
    assert_no_zombies();
}

/// Eight `u32` atomics in a fresh anonymous segment.
fn words(seg: &Segment) -> &[AtomicU32; 8] {
    let off = seg.find("words").unwrap().offset;
    let r = seg.sub_region(off, 32).unwrap();
    // SAFETY: 32 bytes inside the mapping, 8-aligned, alive while `seg` is; only used atomically.
    unsafe { &*(r.as_ptr() as *const [AtomicU32; 8]) }
}

fn shared_words() -> Segment {
    let seg = Segment::anonymous(4096).unwrap();
    seg.alloc(Kind::Cell, "words", 32, 8).unwrap();
    seg
}

fn four_processes_from_two_forks() {
    let seg = shared_words();
    let w = words(&seg);
    // SAFETY: the case process is single-threaded; children only touch shared atomics and _exit.
    let first = unsafe { sys::fork() }.unwrap();
    // SAFETY: as above (every process here is single-threaded).
    let second = unsafe { sys::fork() }.unwrap();
    let role = usize::from(first == ForkResult::Child) * 2 + usize::from(second == ForkResult::Child);
    w[role].fetch_add(1, Ordering::SeqCst);
    w[4 + role].store(std::process::id(), Ordering::SeqCst);
    if let ForkResult::Parent { child } = second {
        let (pid, st) = sys::waitpid(child, false).unwrap().unwrap();
        assert_eq!((pid, st), (child, WaitStatus::Exited(0)));
    }
    if first == ForkResult::Child {
        // SAFETY: end the child without running the parent's exit path.
        unsafe { libc::_exit(0) };
    }
    if second == ForkResult::Child {
        // SAFETY: as above.
        unsafe { libc::_exit(0) };
    }
    let ForkResult::Parent { child } = first else {
        unreachable!()
    };
    assert_eq!(
        sys::waitpid(child, false).unwrap(),
        Some((child, WaitStatus::Exited(0)))
    );
    let counts: Vec<u32> = w[..4].iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert_eq!(counts, [1, 1, 1, 1], "each of the four processes reports exactly once");
    let mut pids: Vec<u32> = w[4..].iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert_eq!(pids[0], std::process::id());
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 4, "four distinct processes");
    assert_no_zombies();
}

fn run_helper(mode: &str, seg_name: &str) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_process_helper"))
        .args([mode, seg_name])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + LONG;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("helper did not exit within {LONG:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    (status, out)
}

fn nums(out: &str) -> Vec<u64> {
    out.split_whitespace().map(|s| s.parse().unwrap()).collect()
}

fn daemon_terminated_and_worker_joined_at_exit() {
    let name = format!("rf-test-proc-exit-{}", std::process::id());
    let seg = Segment::create(&name, 4096).unwrap();
    let done = ShmCell::new_in(&seg, "done", 0u32).unwrap();
    let (status, out) = run_helper("exit", &name);
    Segment::unlink(&name).unwrap();
    assert!(status.success(), "helper failed: {status:?}");
    let n = nums(&out);
    assert_eq!(n.len(), 6, "helper output {out:?}");
    let stamp = |i: usize| ProcessStamp {
        pid: n[i] as u32,
        start_time: n[i + 1],
    };
    // The worker finished its 300 ms of work before the helper exited: its flag is set and it is gone
    // (reaped by the helper, not orphaned and still sleeping).
    assert_eq!(
        done.get(),
        1,
        "the non-daemon child did not finish before the helper exited"
    );
    assert_eq!(probe(stamp(4)), Liveness::Dead);
    // Both daemons (endless loops; one forked, one spawned) were terminated at exit.
    assert_eq!(
        probe(stamp(0)),
        Liveness::Dead,
        "the forked daemon survived its parent's exit"
    );
    assert_eq!(
        probe(stamp(2)),
        Liveness::Dead,
        "the spawned daemon survived its parent's exit"
    );
    assert_no_zombies();
}

fn daemon_dies_with_sigkilled_parent() {
    let name = format!("rf-test-proc-kill-{}", std::process::id());
    let seg = Segment::create(&name, 4096).unwrap();
    let _done = ShmCell::new_in(&seg, "done", 0u32).unwrap();
    let (status, out) = run_helper("sigkill", &name);
    Segment::unlink(&name).unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let n = nums(&out);
    assert_eq!(n.len(), 4, "helper output {out:?}");
    for i in [0, 2] {
        let daemon = ProcessStamp {
            pid: n[i] as u32,
            start_time: n[i + 1],
        };
        assert!(
            wait_until(Duration::from_secs(10), || probe(daemon) == Liveness::Dead),
            "PR_SET_PDEATHSIG did not kill daemon {daemon:?}"
        );
    }
    assert_no_zombies();
}

fn daemon_cannot_have_children() {
    let out = ShmCell::new(0u32).unwrap();
    let o2 = out.clone();
    let mut d = Process::new(move || {
        let r = Process::new(|| {}).start();
        o2.set(match r {
            Err(ProcessError::DaemonCannotHaveChildren { .. }) => 1,
            Err(_) => 2,
            Ok(()) => 3,
        });
        assert!(current_process().daemon);
    })
    .daemon(true);
    assert!(d.is_daemon());
    d.start().unwrap();
    joined(&d);
    assert_eq!(d.exitcode(), Some(0));
    assert_eq!(
        out.get(),
        1,
        "a daemon's start() must fail with DaemonCannotHaveChildren"
    );
    assert_no_zombies();
}

fn bad_input_is_typed() {
    let mut p = Process::new(|| std::thread::sleep(Duration::from_millis(100)));
    assert!(matches!(p.join(), Err(ProcessError::NotStarted { .. })));
    assert!(matches!(
        p.join_timeout(Duration::ZERO),
        Err(ProcessError::NotStarted { .. })
    ));
    assert!(matches!(p.terminate(), Err(ProcessError::NotStarted { .. })));
    assert!(matches!(p.kill(), Err(ProcessError::NotStarted { .. })));
    assert!(!p.is_alive());
    assert_eq!(p.pid(), None);
    p.start().unwrap();
    let e = p.start().unwrap_err();
    assert!(matches!(e, ProcessError::AlreadyStarted { .. }));
    assert!(e.to_string().contains("already started"), "{e}");
    assert!(matches!(p.set_daemon(true), Err(ProcessError::DaemonAfterStart { .. })));
    p.join().unwrap();
    p.join().unwrap(); // joining again is a no-op
    p.terminate().unwrap(); // terminating a finished process is a no-op
    p.kill().unwrap();
    assert_eq!(p.exitcode(), Some(0));
    // Spawn needs a registered target.
    let mut c = Process::new(|| {}).start_method(StartMethod::Spawn);
    let e = c.start().unwrap_err();
    assert!(matches!(e, ProcessError::SpawnNeedsTarget { .. }), "{e}");
    let mut u = Process::target("no-such-target");
    assert!(matches!(u.start(), Err(ProcessError::UnknownTarget { .. })));
    assert_eq!(u.pid(), None);
    assert!(active_children().is_empty(), "a failed start leaked a child");
    assert_no_zombies();
}

fn fork_failure_is_typed() {
    // Run in a child that can lower its own process limit: as root, first become `nobody` (root
    // ignores RLIMIT_NPROC).
    let mut p = Process::new(|| {
        // SAFETY: plain system calls on integers / a local struct.
        unsafe {
            if libc::geteuid() == 0 {
                assert_eq!(libc::setgid(65534), 0);
                assert_eq!(libc::setuid(65534), 0);
            }
            let lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NPROC, &lim), 0);
        }
        let mut q = Process::new(|| {});
        match q.start() {
            Err(e @ ProcessError::Fork(_)) => {
                let msg = e.to_string();
                assert!(msg.contains("RLIMIT_NPROC"), "{msg}");
                assert!(active_children().is_empty());
                assert!(matches!(q.join(), Err(ProcessError::NotStarted { .. })));
                std::process::exit(42);
            }
            other => panic!("expected Fork(EAGAIN), got {other:?}"),
        }
    });
    p.start().unwrap();
    joined(&p);
    assert_eq!(p.exitcode(), Some(42), "the child did not see a typed fork failure");
    assert_no_zombies();
}

fn dropped_handles_are_reaped() {
    // Ends before the drop: reaped by the drop itself.
    let mut quick = Process::new(|| {});
    quick.start().unwrap();
    let qpid = quick.pid().unwrap();
    assert!(wait_until(LONG, || stat(qpid).map(|s| s.state == b'Z').unwrap_or(true)));
    drop(quick);
    assert!(zombie_children().is_empty());
    // Still running at the drop: detached, then reaped by a later call.
    let mut slow = Process::new(|| std::thread::sleep(Duration::from_millis(1000)));
    slow.start().unwrap();
    let spid = slow.pid().unwrap();
    drop(slow);
    assert_eq!(active_children().iter().map(|c| c.pid).collect::<Vec<_>>(), [spid]);
    assert!(
        wait_until(LONG, || active_children().is_empty()),
        "detached child never reaped"
    );
    assert_eq!(stat(spid).err(), Some(StatError::NoSuchProcess));
    assert_no_zombies();
}

fn low_level_wait_records_for_process() {
    let mut p = Process::new(|| std::process::exit(5));
    p.start().unwrap();
    let (pid, st) = sys::wait().unwrap();
    assert_eq!(pid as u32, p.pid().unwrap());
    assert_eq!(st, WaitStatus::Exited(5));
    // The handle still learns the status.
    assert_eq!(p.exitcode(), Some(5));
    p.join().unwrap();
    assert_eq!(sys::wait().unwrap_err().raw_os_error(), Some(libc::ECHILD));
    assert_eq!(sys::waitpid(-1, true).unwrap_err().raw_os_error(), Some(libc::ECHILD));
    assert_no_zombies();
}

fn stopped_and_continued() {
    let seg = shared_words();
    let w = words(&seg);
    // SAFETY: single-threaded case process; the child raises a signal, polls shared memory, _exits.
    let child = match unsafe { sys::fork() }.unwrap() {
        ForkResult::Child => {
            // SAFETY: raise is async-signal-safe.
            unsafe { libc::raise(libc::SIGSTOP) };
            // Exit only after the parent saw "continued" (an exit would supersede that report).
            let start = Instant::now();
            while w[0].load(Ordering::SeqCst) == 0 && start.elapsed() < LONG {
                std::thread::sleep(Duration::from_millis(1));
            }
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(4) }
        }
        ForkResult::Parent { child } => child,
    };
    assert_eq!(
        sys::waitpid_untraced(child, false).unwrap(),
        Some((child, WaitStatus::Stopped(libc::SIGSTOP)))
    );
    assert_eq!(stat(child as u32).unwrap().state, b'T');
    signal::send(child as u32, Signal::Cont).unwrap();
    assert_eq!(
        sys::waitpid_untraced(child, false).unwrap(),
        Some((child, WaitStatus::Continued))
    );
    w[0].store(1, Ordering::SeqCst);
    assert_eq!(
        sys::waitpid(child, false).unwrap(),
        Some((child, WaitStatus::Exited(4)))
    );
    assert_no_zombies();
}

fn zombie_shows_z_until_waited() {
    // SAFETY: single-threaded case process; the child only _exits.
    let child = match unsafe { sys::fork() }.unwrap() {
        ForkResult::Child => {
            // SAFETY: _exit is async-signal-safe and skips the parent's exit path.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => child,
    };
    assert!(
        wait_until(LONG, || sys::proc_state(child as u32).map(|s| s.state) == Ok(b'Z')),
        "an unreaped exited child must be a zombie"
    );
    assert_eq!(sys::proc_state(child as u32).unwrap().ppid, std::process::id());
    assert_eq!(zombie_children(), [child as u32]);
    assert_eq!(sys::waitpid(child, true).unwrap(), Some((child, WaitStatus::Exited(0))));
    assert_eq!(sys::proc_state(child as u32).err(), Some(StatError::NoSuchProcess));
    assert_no_zombies();
}

fn ignored_sigchld_never_leaves_a_zombie() {
    sys::ignore_sigchld().unwrap();
    // SAFETY: single-threaded case process; the child only _exits.
    let child = match unsafe { sys::fork() }.unwrap() {
        ForkResult::Child => {
            // SAFETY: _exit is async-signal-safe and skips the parent's exit path.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => child,
    };
    let mut states = Vec::new();
    let gone = wait_until(LONG, || match sys::proc_state(child as u32) {
        Ok(s) => {
            states.push(s.state);
            false
        }
        Err(_) => true,
    });
    assert!(gone, "the child never went away");
    assert!(!states.contains(&b'Z'), "saw a zombie with SIGCHLD ignored: {states:?}");
    assert_eq!(
        sys::waitpid(child, true).unwrap_err().raw_os_error(),
        Some(libc::ECHILD)
    );
    // A Process child under SIG_IGN is reaped by the kernel: typed ChildLost, no hang.
    let mut p = Process::new(|| {});
    p.start().unwrap();
    assert!(matches!(p.join(), Err(ProcessError::ChildLost { .. })));
    assert!(!p.is_alive());
    signal::default(Signal::Chld).unwrap();
    assert_no_zombies();
}

fn double_fork_reparents_grandchild() {
    let seg = shared_words();
    let s2 = seg.clone();
    let me = std::process::id();
    let grandchild = sys::double_fork(move || {
        let w = words(&s2);
        // Wait for the parent's go (given after double_fork returned, i.e. after the intermediate
        // child exited and was reaped), then report who our parent is now.
        let start = Instant::now();
        while w[1].load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        w[0].store(sys::getppid(), Ordering::SeqCst);
        w[2].store(1, Ordering::SeqCst);
    })
    .unwrap();
    // The intermediate child is already reaped: the grandchild has been reparented.
    let st = sys::proc_state(grandchild).unwrap();
    assert_ne!(st.ppid, me, "the grandchild must not be our child");
    let w = words(&seg);
    w[1].store(1, Ordering::SeqCst);
    assert!(
        wait_until(LONG, || w[2].load(Ordering::SeqCst) == 1),
        "grandchild never reported"
    );
    let ppid = w[0].load(Ordering::SeqCst);
    assert_ne!(ppid, me, "the grandchild must not be our child");
    assert_ne!(ppid, 0);
    assert_eq!(
        sys::waitpid(grandchild as i32, true).unwrap_err().raw_os_error(),
        Some(libc::ECHILD)
    );
    assert!(wait_until(LONG, || probe_pid_gone(grandchild)));
    assert_no_zombies();
}

fn probe_pid_gone(pid: u32) -> bool {
    match stat(pid) {
        Ok(s) => s.state == b'Z' || s.state == b'X',
        Err(_) => true,
    }
}

fn spawn_child_target(args: TargetArgs) {
    assert_eq!(args.arg_str(0), Some("hello"));
    assert_eq!(args.arg(1), Some(&[0u8, 255, 0][..]));
    assert_eq!(args.args().len(), 2);
    assert_eq!(current_process().name, "spawned");
    let segs = args.segments();
    assert_eq!(segs.len(), 2);
    let a = ShmCell::<u64>::open(&segs[0], "value").unwrap();
    let b = ShmCell::<u64>::open(&segs[1], "value").unwrap();
    a.set(a.get() + 0xC0FFEE);
    b.set(b.get() * 2);
}

fn spawn_from_threaded_parent() {
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
        })
        .collect();
    let anon = Segment::anonymous(4096).unwrap();
    let a = ShmCell::new_in(&anon, "value", 1u64).unwrap();
    let name = format!("rf-test-proc-spawn-{}", std::process::id());
    let named = Segment::create(&name, 4096).unwrap();
    let b = ShmCell::new_in(&named, "value", 21u64).unwrap();
    let mut p = Process::target("spawn_child")
        .arg("hello")
        .arg(vec![0u8, 255, 0])
        .segment(&anon)
        .segment(&named)
        .name("spawned")
        .start_method(StartMethod::Spawn);
    p.start().unwrap();
    joined(&p);
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    Segment::unlink(&name).unwrap();
    assert_eq!(p.exitcode(), Some(0), "the spawned child failed (see its stderr above)");
    assert_eq!(a.get(), 1 + 0xC0FFEE);
    assert_eq!(b.get(), 42);
    assert_no_zombies();
}

/// Runs `spawn_forgot_dispatch` in `mode` (deadline 20 s); returns (stdout, stderr, exit success).
fn run_forgot_helper(mode: &str) -> (String, String, bool) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_spawn_forgot_dispatch"))
        .env("RF_FORGOT_MODE", mode)
        .env_remove("RF_FORGOT_GEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + LONG;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("spawn_forgot_dispatch ({mode}) did not finish within {LONG:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (out, err, status.success())
}

fn forgotten_spawn_dispatch_stops_the_child_and_join_says_what_to_add() {
    // "respawn": the accidental child reaches Process::start and stops there; "return": its main
    // returns and the exit hook stops it. Either way: exactly one extra run of main, no grandchild,
    // a message on the child's stderr, and a typed error from the parent's join.
    for mode in ["respawn", "return"] {
        let (out, err, ok) = run_forgot_helper(mode);
        assert!(ok, "{mode}: the helper failed\nstdout:\n{out}\nstderr:\n{err}");
        let mains: Vec<&str> = out.lines().filter(|l| l.starts_with("main pid")).collect();
        assert_eq!(mains.len(), 2, "{mode}: main ran {} times:\n{out}", mains.len());
        assert!(
            mains[0].ends_with("gen 0") && mains[1].ends_with("gen 1"),
            "{mode}: {out}"
        );
        assert!(!out.contains("runaway"), "{mode}: recursion went on:\n{out}");
        assert!(
            err.contains("did not call ringfork::process::spawn_main"),
            "{mode}: the child said nothing useful:\n{err}"
        );
        let join = out
            .lines()
            .find(|l| l.starts_with("join "))
            .unwrap_or_else(|| panic!("{mode}: no join line:\n{out}"));
        assert!(join.starts_with("join error: SpawnNotDispatched"), "{mode}: {join}");
        assert!(
            join.contains(&format!("exitcode: {}", ringfork::process::EXIT_NOT_DISPATCHED)),
            "{join}"
        );
        assert!(join.contains("add that call as the first line of main"), "{join}");
    }
    // A spawn pool whose worker never reaches the hook fails its calls with the advice, at once,
    // instead of restarting workers.
    let (out, err, ok) = run_forgot_helper("pool");
    assert!(ok, "pool: the helper failed\nstdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("main pid")).count(),
        2,
        "pool:\n{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("pool "))
        .unwrap_or_else(|| panic!("pool: no result line:\n{out}"));
    assert!(
        line.starts_with("pool error:") && line.contains("spawn_main"),
        "pool: {line}"
    );
}

/// Bits a child reports about itself (see `child_self_report`).
const STARTED_BY_FORK: u64 = 1;
const STARTED_BY_SPAWN: u64 = 2;
const PARENT_MATCHES: u64 = 4;
const PARENT_ALIVE: u64 = 8;
const JOIN_TIMED_OUT_ON_TIME: u64 = 16;

/// What a child knows about itself: its start method, its parent (pid, alive), and that waiting
/// 100 ms for a live parent times out after >= 100 ms and < 2 s.
fn child_self_report(expected_parent: u32) -> u64 {
    let mut bits = 0;
    match ringfork::process::get_start_method() {
        StartMethod::Fork => bits |= STARTED_BY_FORK,
        StartMethod::Spawn => bits |= STARTED_BY_SPAWN,
    }
    let Some(pp) = ringfork::parent_process() else {
        return bits;
    };
    if pp.pid() == expected_parent && pp.pid() == parent_pid() {
        bits |= PARENT_MATCHES;
    }
    if pp.is_alive() {
        bits |= PARENT_ALIVE;
    }
    let t = Instant::now();
    let ended = pp.join_timeout(Duration::from_millis(100));
    let el = t.elapsed();
    if !ended && el >= Duration::from_millis(100) && el < Duration::from_secs(2) {
        bits |= JOIN_TIMED_OUT_ON_TIME;
    }
    bits
}

fn spawn_self_report(args: TargetArgs) {
    let cell = ShmCell::<u64>::open(&args.segments()[0], "report").unwrap();
    let parent: u32 = args.arg_str(0).unwrap().parse().unwrap();
    cell.set(child_self_report(parent));
}

fn a_child_knows_its_start_method_and_its_parent() {
    assert!(
        ringfork::parent_process().is_none(),
        "a main process has no parent_process"
    );
    let me = std::process::id();
    // The parent's default is Spawn: the forked child still knows it was forked.
    ringfork::process::set_start_method(StartMethod::Spawn);
    let forked = ShmCell::new(0u64).unwrap();
    let f2 = forked.clone();
    let mut p = Process::new(move || f2.set(child_self_report(me))).start_method(StartMethod::Fork);
    p.start().unwrap();
    joined(&p);
    assert_eq!(p.exitcode(), Some(0));
    // The parent's default is Fork: the spawned child knows it was spawned.
    ringfork::process::set_start_method(StartMethod::Fork);
    let seg = Segment::anonymous(4096).unwrap();
    let spawned = ShmCell::new_in(&seg, "report", 0u64).unwrap();
    let mut s = Process::target("spawn_self_report")
        .arg(me.to_string())
        .segment(&seg)
        .start_method(StartMethod::Spawn);
    s.start().unwrap();
    joined(&s);
    assert_eq!(s.exitcode(), Some(0), "the spawned child failed (see its stderr above)");
    let all = PARENT_MATCHES | PARENT_ALIVE | JOIN_TIMED_OUT_ON_TIME;
    assert_eq!(forked.get(), STARTED_BY_FORK | all, "forked child's report");
    assert_eq!(spawned.get(), STARTED_BY_SPAWN | all, "spawned child's report");
    assert_no_zombies();
}

fn parent_process_join_returns_when_the_parent_dies() {
    // A child C starts a grandchild G and exits without joining it; G waits on its parent C.
    // Shared words: [C's pid as G saw its parent, join result (1 = true), is_alive after, done].
    let seg = Segment::anonymous(4096).unwrap();
    let words: Vec<ShmCell<u64>> = (0..4)
        .map(|i| ShmCell::new_in(&seg, &format!("w{i}"), 0u64).unwrap())
        .collect();
    let w = words.clone();
    let mut c = Process::new(move || {
        let w2 = w.clone();
        let mut g = Process::new(move || {
            let pp = ringfork::parent_process().expect("G has a parent_process");
            w2[0].set(u64::from(pp.pid()));
            w2[1].set(u64::from(pp.join_timeout(Duration::from_secs(10))));
            w2[2].set(u64::from(pp.is_alive()));
            w2[3].set(1);
        });
        g.start().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        // Leave without joining G (no exit handlers): G is orphaned.
        // SAFETY: _exit ends this child at once.
        unsafe { libc::_exit(0) };
    });
    c.start().unwrap();
    let cpid = c.pid().unwrap();
    joined(&c);
    assert!(
        wait_until(Duration::from_secs(15), || words[3].get() == 1),
        "the grandchild did not report within 15 s"
    );
    assert_eq!(words[0].get(), u64::from(cpid), "G's parent_process is C");
    assert_eq!(
        words[1].get(),
        1,
        "join_timeout returned false although the parent died"
    );
    assert_eq!(words[2].get(), 0, "is_alive after the parent died");
    assert_no_zombies();
}

fn spawn_target_exit_codes(args: TargetArgs) {
    match args.arg_str(0) {
        Some("panic") => panic!("deliberate panic in a spawned child"),
        Some(code) => std::process::exit(code.parse().unwrap()),
        None => {}
    }
}

fn spawn_exitcodes_and_fork_targets() {
    let mut ok = Process::target("spawn_exit").start_method(StartMethod::Spawn);
    let mut seven = Process::target("spawn_exit").arg("7").start_method(StartMethod::Spawn);
    let mut panics = Process::target("spawn_exit")
        .arg("panic")
        .start_method(StartMethod::Spawn);
    let mut forked = Process::target("spawn_exit").arg("9").start_method(StartMethod::Fork);
    let mut killed = Process::target("spawn_sleep").start_method(StartMethod::Spawn);
    for p in [&mut ok, &mut seven, &mut panics, &mut forked, &mut killed] {
        p.start().unwrap();
    }
    killed.kill().unwrap();
    for p in [&ok, &seven, &panics, &forked, &killed] {
        joined(p);
    }
    assert_eq!(ok.exitcode(), Some(0));
    assert_eq!(seven.exitcode(), Some(7));
    assert_eq!(panics.exitcode(), Some(1));
    assert_eq!(forked.exitcode(), Some(9));
    assert_eq!(killed.exitcode(), Some(-9));
    assert_no_zombies();
}

fn spawn_sleep(_: TargetArgs) {
    std::thread::sleep(Duration::from_secs(60));
}

static USR1_SEEN: AtomicU32 = AtomicU32::new(0);

fn signal_handler_runs_for_child_signal() {
    signal::set_handler(Signal::Usr1, |s| {
        assert_eq!(s, Signal::Usr1);
        USR1_SEEN.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let parent = std::process::id();
    let mut p = Process::new(move || signal::send(parent, Signal::Usr1).unwrap());
    p.start().unwrap();
    assert_eq!(signal::wait_for_signal(Some(LONG)), Some(Signal::Usr1));
    assert_eq!(USR1_SEEN.load(Ordering::SeqCst), 1);
    joined(&p);
    assert_eq!(p.exitcode(), Some(0));
    // Nothing else pending: a short wait times out, not early.
    let t = Instant::now();
    assert_eq!(signal::pause_timeout(Duration::from_millis(100)), None);
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert_eq!(signal::dispatch(), 0);
    assert_no_zombies();
}

fn alarm_then_pause_returns() {
    signal::catch(Signal::Alrm).unwrap();
    let t = Instant::now();
    assert_eq!(signal::alarm(1), 0);
    assert_eq!(signal::pause(), Signal::Alrm);
    let el = t.elapsed();
    assert!(
        el >= Duration::from_millis(500) && el < Duration::from_secs(10),
        "{el:?}"
    );
    assert_eq!(signal::alarm(0), 0);
    assert_no_zombies();
}

fn nice_values() {
    let before = sys::get_nice(0).unwrap();
    assert_eq!(sys::proc_state(std::process::id()).unwrap().nice, before);
    let after = sys::nice(3).unwrap();
    assert_eq!(after, (before + 3).min(19));
    assert_eq!(sys::get_nice(0).unwrap(), after);
    assert_eq!(sys::proc_state(std::process::id()).unwrap().nice, after);
    sys::set_nice(0, 19).unwrap();
    assert_eq!(sys::get_nice(std::process::id()).unwrap(), 19);
    assert!(sys::get_nice(0x7fff_fff0).is_err(), "no such process must be an error");
    assert_no_zombies();
}

fn panic_message_on_stderr() {
    let mut fds = [0i32; 2];
    // SAFETY: pipe writes two fds into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (rd, wr) = (fds[0], fds[1]);
    let mut p = Process::new(move || {
        // SAFETY: redirect this child's stderr into the pipe; plain fd operations.
        unsafe {
            libc::dup2(wr, 2);
            libc::close(rd);
        }
        panic!("the answer is {}", 42);
    });
    p.start().unwrap();
    // SAFETY: the parent's copy of the write end is no longer needed.
    unsafe { libc::close(wr) };
    joined(&p);
    assert_eq!(p.exitcode(), Some(1));
    let mut f = std::fs::File::from(
        // SAFETY: `rd` is an open fd this process owns and nothing else uses.
        unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(rd) },
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut f, &mut err).unwrap();
    assert!(err.contains("the answer is 42"), "child stderr: {err:?}");
    assert_no_zombies();
}

/// Every API path in one process, then /proc must show no zombie child.
fn all_paths_leave_no_zombies() {
    // join
    let mut a = Process::new(|| {});
    a.start().unwrap();
    a.join().unwrap();
    // join_timeout
    let mut b = Process::new(|| std::process::exit(2));
    b.start().unwrap();
    joined(&b);
    // terminate + join, kill + join
    let mut c = Process::new(|| std::thread::sleep(Duration::from_secs(60)));
    c.start().unwrap();
    c.terminate().unwrap();
    c.join().unwrap();
    let mut d = Process::new(|| std::thread::sleep(Duration::from_secs(60)));
    d.start().unwrap();
    d.kill().unwrap();
    d.join().unwrap();
    // is_alive / exitcode polling only
    let mut e = Process::new(|| {});
    e.start().unwrap();
    assert!(wait_until(LONG, || !e.is_alive()));
    assert_eq!(e.exitcode(), Some(0));
    // dropped while running, dropped after exit
    let mut f = Process::new(|| std::thread::sleep(Duration::from_millis(100)));
    f.start().unwrap();
    drop(f);
    let mut g = Process::new(|| {});
    g.start().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(g);
    // spawn
    let mut h = Process::target("spawn_exit").start_method(StartMethod::Spawn);
    h.start().unwrap();
    joined(&h);
    // low-level fork + waitpid, double fork
    // SAFETY: single-threaded case process; the child only _exits.
    match unsafe { sys::fork() }.unwrap() {
        ForkResult::Child => {
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            assert_eq!(
                sys::waitpid(child, false).unwrap(),
                Some((child, WaitStatus::Exited(0)))
            );
        }
    }
    sys::double_fork(|| {}).unwrap();
    // The detached child is reaped by the next process-layer call.
    assert!(wait_until(LONG, || active_children().is_empty()));
    assert_no_zombies();
}

fn foreign_handles_and_stdin() {
    let mut sleeper = Process::new(|| std::thread::sleep(Duration::from_millis(300)));
    sleeper.start().unwrap();
    let spid = sleeper.pid().unwrap();
    let out = ShmCell::new(0u32).unwrap();
    let o2 = out.clone();
    // The sibling gets a handle it does not own: typed errors, no hang, no signal sent.
    let mut sibling = Process::new(move || {
        let s = sleeper;
        let join = matches!(s.join(), Err(ProcessError::NotAChild { .. }));
        let term = matches!(s.terminate(), Err(ProcessError::NotAChild { .. }));
        let alive = s.is_alive();
        // stdin is /dev/null in a child: reading gives end of file at once.
        let mut b = [0u8; 1];
        // SAFETY: read(2) into a local buffer.
        let eof = unsafe { libc::read(0, b.as_mut_ptr().cast(), 1) } == 0;
        o2.set(u32::from(join) | u32::from(term) << 1 | u32::from(!alive) << 2 | u32::from(eof) << 3);
    });
    sibling.start().unwrap();
    joined(&sibling);
    assert_eq!(sibling.exitcode(), Some(0));
    assert_eq!(out.get(), 0b1111, "foreign handle misbehaved or stdin not /dev/null");
    // The parent moved its handle into the closure (dropped here after start): detached, not lost.
    assert!(wait_until(LONG, || active_children().is_empty()));
    assert_eq!(stat(spid).err(), Some(StatError::NoSuchProcess));
    assert_no_zombies();
}

fn main_guard_joins_and_terminates() {
    let done = ShmCell::new(0u32).unwrap();
    let d2 = done.clone();
    let (dpid, wpid) = {
        let _guard = ringfork::process::MainGuard::new();
        let mut daemon = Process::new(|| loop {
            std::thread::sleep(Duration::from_millis(20));
        })
        .daemon(true);
        daemon.start().unwrap();
        let mut worker = Process::new(move || {
            std::thread::sleep(Duration::from_millis(200));
            d2.set(1);
        });
        worker.start().unwrap();
        (daemon.pid().unwrap(), worker.pid().unwrap())
        // handles drop (detached), then the guard joins the worker and terminates the daemon
    };
    assert_eq!(done.get(), 1, "the guard did not join the non-daemon child");
    assert!(active_children().is_empty());
    assert_eq!(
        stat(dpid).err(),
        Some(StatError::NoSuchProcess),
        "daemon survived the guard"
    );
    assert_eq!(stat(wpid).err(), Some(StatError::NoSuchProcess));
    assert_no_zombies();
}

fn child_signals_do_not_wake_parent() {
    signal::catch(Signal::Usr2).unwrap();
    let mut p = Process::new(|| {
        // The inherited handler still works in the child, on the child's own self-pipe.
        signal::send(std::process::id(), Signal::Usr2).unwrap();
        assert_eq!(signal::pause_timeout(LONG), Some(Signal::Usr2));
    });
    p.start().unwrap();
    joined(&p);
    assert_eq!(p.exitcode(), Some(0));
    let t = Instant::now();
    assert_eq!(
        signal::pause_timeout(Duration::from_millis(200)),
        None,
        "the child's signal woke the parent"
    );
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_no_zombies();
}

fn default_names_and_start_method() {
    let out = ShmCell::new(0u32).unwrap();
    let o2 = out.clone();
    let mut p = Process::new(move || {
        let me = current_process();
        let q = Process::new(|| {});
        let expect = format!("{}:1", me.name);
        o2.set(u32::from(q.get_name() == expect && me.identity.len() == 1));
    });
    let first = p.get_name().to_owned();
    assert!(first.starts_with("Process-"), "{first}");
    p.start().unwrap();
    joined(&p);
    assert_eq!(out.get(), 1, "a child's children are named Process-<parent>:<n>");
    // The global default start method applies to processes that do not choose one.
    ringfork::process::set_start_method(StartMethod::Spawn);
    assert_eq!(ringfork::process::get_start_method(), StartMethod::Spawn);
    let mut c = Process::new(|| {});
    assert!(matches!(c.start(), Err(ProcessError::SpawnNeedsTarget { .. })));
    let mut t = Process::target("spawn_exit").arg("6");
    t.start().unwrap();
    joined(&t);
    assert_eq!(t.exitcode(), Some(6));
    ringfork::process::set_start_method(StartMethod::Fork);
    assert_no_zombies();
}

fn malformed_spawn_invocation_fails_cleanly() {
    let exe = std::env::current_exe().unwrap();
    for fd in ["99", "nonsense", "1"] {
        let out = std::process::Command::new(&exe)
            .args(["--ringfork-spawn-child", fd])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "fd {fd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ringfork: spawned child"), "fd {fd}: {err}");
    }
    assert_no_zombies();
}

fn many_children_many_threads() {
    // 100 forks, every other handle dropped unjoined.
    let mut kept = Vec::new();
    for i in 0..100u32 {
        let mut p = Process::new(move || std::process::exit((i % 7) as i32));
        p.start().unwrap();
        if i % 2 == 0 {
            kept.push((i, p));
        }
    }
    for (i, p) in &kept {
        joined(p);
        assert_eq!(p.exitcode(), Some((i % 7) as i32));
    }
    // Spawned children started and joined from 4 threads at once share the registry correctly.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for k in 0..5 {
                    let code = (t * 5 + k) % 50 + 1;
                    let mut p = Process::target("spawn_exit")
                        .arg(code.to_string())
                        .start_method(StartMethod::Spawn);
                    p.start().unwrap();
                    joined(&p);
                    assert_eq!(p.exitcode(), Some(code));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(wait_until(LONG, || active_children().is_empty()));
    assert_no_zombies();
}

/// Starts `n` trivial Fork children one after the other; each must exit 0 within 10 s (a child
/// deadlocked on a lock another thread held at the fork would not: it is killed and the case fails).
fn fork_many(n: usize, what: &str) {
    for i in 0..n {
        let mut p = Process::new(|| {});
        p.start().unwrap();
        if !p.join_timeout(Duration::from_secs(10)).unwrap() {
            let _ = p.kill();
            let _ = p.join_timeout(Duration::from_secs(5));
            panic!("{what}: child {i} hung after fork");
        }
        assert_eq!(p.exitcode(), Some(0), "{what}: child {i}");
    }
}

/// Issue 15.5: parent threads open and drop named segments (and queue handles in one) in a loop
/// while the main thread forks many times through `Process::start` and through the pool: no child
/// hangs (the child takes no lock that thread could hold; the registries it needs were locked by the
/// forking thread across the fork).
fn fork_while_a_thread_opens_segments() {
    let name = format!("/rf-forkdl-{}", std::process::id());
    let seg = Segment::create(&name, 1 << 16).unwrap();
    let _q = ringfork::Queue::<u64>::new_in(&seg, "q", 4).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicU32::new(0));
    // Two churning threads: on `main` before the fix, about one fork in 3 000 hung with one.
    let churn: Vec<_> = (0..2)
        .map(|_| {
            let (stop2, opened2, name2) = (stop.clone(), opened.clone(), name.clone());
            std::thread::spawn(move || {
                // Ordering: Relaxed; a stop flag with no data behind it.
                while !stop2.load(Ordering::Relaxed) {
                    let s = Segment::open(&name2).unwrap();
                    let q = ringfork::Queue::<u64>::open(&s, "q").unwrap();
                    drop(q);
                    drop(s);
                    // Ordering: Relaxed; a progress counter.
                    opened2.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    fork_many(4000, "Process::start");
    let pool = ringfork::Pool::builder()
        .processes(2)
        .maxtasksperchild(1)
        .build()
        .unwrap();
    fn double(x: u64) -> u64 {
        x * 2
    }
    // maxtasksperchild(1): every task forks a fresh worker through the same path.
    let out = pool
        .map_chunked(double, (0..300u64).collect::<Vec<_>>(), Some(1))
        .unwrap();
    assert_eq!(out, (0..300u64).map(|x| x * 2).collect::<Vec<_>>());
    assert!(pool.workers_started() >= 300);
    pool.close();
    pool.join().unwrap();
    // Ordering: Relaxed; see above.
    stop.store(true, Ordering::Relaxed);
    for t in churn {
        t.join().unwrap();
    }
    // Ordering: Relaxed; see above.
    assert!(opened.load(Ordering::Relaxed) > 0, "the churn thread ran");
    drop(_q);
    drop(seg);
    Segment::unlink(&name).unwrap();
    assert_no_zombies();
}

/// Issue 15.12: `Process::start` with Fork in a multi-threaded process prints one warning (per
/// process) on stderr naming the Spawn start method; a single-threaded process gets none.
fn fork_from_threads_warns_once() {
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;
    // Capture stderr (fd 2) in a memfd for the duration of the case.
    let cap = capture_file();
    // SAFETY: dup/dup2 on fds we own; restored below.
    let saved = unsafe { libc::dup(2) };
    // SAFETY: as above.
    unsafe { libc::dup2(cap.as_raw_fd(), 2) };
    fork_many(2, "single-threaded");
    let quiet = ringfork::process::fork_thread_warnings();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let _ = rx.recv();
    });
    fork_many(3, "multi-threaded");
    let warned = ringfork::process::fork_thread_warnings();
    drop(tx);
    t.join().unwrap();
    // SAFETY: restoring stderr.
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    let mut f = cap;
    f.rewind().unwrap();
    let mut text = String::new();
    f.read_to_string(&mut text).unwrap();
    assert!(!quiet, "no warning while single-threaded");
    assert!(warned);
    assert_eq!(text.matches("ringfork: warning").count(), 1, "stderr was: {text:?}");
    assert!(text.contains("StartMethod::Spawn"), "{text:?}");
    assert_no_zombies();
}

fn capture_file() -> std::fs::File {
    // SAFETY: memfd_create with a constant name; the fd is owned by the returned File.
    let fd = unsafe { libc::memfd_create(c"stderr".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: a fresh fd we own.
    unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }
}

fn main() {
    // Spawned children re-execute this binary: targets first, then the harness (whose `run` calls
    // the spawn hook before anything else).
    ringfork::process::register_target("spawn_child", spawn_child_target).unwrap();
    ringfork::process::register_target("spawn_exit", spawn_target_exit_codes).unwrap();
    ringfork::process::register_target("spawn_sleep", spawn_sleep).unwrap();
    ringfork::process::register_target("spawn_self_report", spawn_self_report).unwrap();
    run(&[
        Case::new(
            "forgotten_spawn_dispatch_stops_the_child_and_join_says_what_to_add",
            forgotten_spawn_dispatch_stops_the_child_and_join_says_what_to_add,
        ),
        Case::new(
            "a_child_knows_its_start_method_and_its_parent",
            a_child_knows_its_start_method_and_its_parent,
        ),
        Case::new(
            "parent_process_join_returns_when_the_parent_dies",
            parent_process_join_returns_when_the_parent_dies,
        ),
        Case::new("exitcodes", exitcodes),
        Case::new("run_trait_and_names", run_trait_and_names),
        Case::new("join_timeout_on_sleeper", join_timeout_on_sleeper),
        Case::new("data_isolation", data_isolation),
        Case::new("four_processes_from_two_forks", four_processes_from_two_forks),
        Case::new(
            "daemon_terminated_and_worker_joined_at_exit",
            daemon_terminated_and_worker_joined_at_exit,
        ),
        Case::new("daemon_dies_with_sigkilled_parent", daemon_dies_with_sigkilled_parent),
        Case::new("daemon_cannot_have_children", daemon_cannot_have_children),
        Case::new("bad_input_is_typed", bad_input_is_typed),
        Case::new("fork_failure_is_typed", fork_failure_is_typed),
        Case::new("dropped_handles_are_reaped", dropped_handles_are_reaped),
        Case::new("low_level_wait_records_for_process", low_level_wait_records_for_process),
        Case::new("stopped_and_continued", stopped_and_continued),
        Case::new("zombie_shows_z_until_waited", zombie_shows_z_until_waited),
        Case::new(
            "ignored_sigchld_never_leaves_a_zombie",
            ignored_sigchld_never_leaves_a_zombie,
        ),
        Case::new("double_fork_reparents_grandchild", double_fork_reparents_grandchild),
        Case::new("spawn_from_threaded_parent", spawn_from_threaded_parent),
        Case::new("spawn_exitcodes_and_fork_targets", spawn_exitcodes_and_fork_targets),
        Case::new(
            "signal_handler_runs_for_child_signal",
            signal_handler_runs_for_child_signal,
        ),
        Case::new("alarm_then_pause_returns", alarm_then_pause_returns),
        Case::new("nice_values", nice_values),
        Case::new("panic_message_on_stderr", panic_message_on_stderr),
        Case::new("foreign_handles_and_stdin", foreign_handles_and_stdin),
        Case::new("many_children_many_threads", many_children_many_threads),
        Case::new("main_guard_joins_and_terminates", main_guard_joins_and_terminates),
        Case::new("child_signals_do_not_wake_parent", child_signals_do_not_wake_parent),
        Case::new("default_names_and_start_method", default_names_and_start_method),
        Case::new(
            "malformed_spawn_invocation_fails_cleanly",
            malformed_spawn_invocation_fails_cleanly,
        ),
        Case::new("all_paths_leave_no_zombies", all_paths_leave_no_zombies),
        Case::new("fork_while_a_thread_opens_segments", fork_while_a_thread_opens_segments)
            .timeout(Duration::from_secs(180)),
        Case::new("fork_from_threads_warns_once", fork_from_threads_warns_once).timeout(Duration::from_secs(30)),
    ]);
}
