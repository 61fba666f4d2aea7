//! Seed 000 "开进程的方法一/二", "join", seed 003/004 `Process`: target and arguments, the "subclass
//! Process and override run" form, name/pid/is_alive, join with and without a timeout, terminate;
//! daemons; and seed 002's fork-versus-spawn experiment.

use super::{say, scaled, Ctx, Demo};
use ringfork::process::{Process, Run, StartMethod, TargetArgs};
use ringfork::ShmCell;
use ringfork_core::time::{Clock, OsClock};
use std::time::{Duration, Instant};

pub const PROCESS: Demo = Demo {
    name: "process",
    summary:
        "Process: target+args, the Run trait, name/pid/is_alive, join, join_timeout, terminate; 4,3,2,1 s in parallel",
    seed: "000 开进程的方法 / join; 003, 004 Process",
    run: run_process,
};

pub const DAEMON: Demo = Demo {
    name: "daemon",
    summary: "a daemon child stops when the main code ends; a non-daemon child is waited for",
    seed: "000 p.daemon; 002 p.daemon",
    run: run_daemon,
};

pub const START_METHODS: Demo = Demo {
    name: "startmethods",
    summary: "fork vs spawn: what the child inherits and which code runs again",
    seed: "002 多进程在不同系统下的实现方式 (fork / spawn)",
    run: run_start_methods,
};

/// Spawn targets the demos use; `main` registers them before `spawn_main_hook`.
pub const SPAWN_TARGETS: &[(&str, ringfork::process::TargetFn)] = &[("demo-startmethods-child", spawned_child)];

fn now_ns() -> u64 {
    OsClock::now().map(|i| i.0).unwrap_or(0)
}

/// The notes' `task()`: report, sleep, report.
fn task(name: &str, secs: f64) {
    say(format!("{name} ({}) is task, sleeping {secs} s", std::process::id()));
    std::thread::sleep(scaled(secs));
    say(format!("{name} ({}) is task end", std::process::id()));
}

/// The "subclass Process and override run()" form.
struct Doubler {
    value: u32,
    out: ShmCell<u32>,
}

impl Run for Doubler {
    fn run(&mut self) {
        say(format!("Doubler.run in {}: {} * 2", std::process::id(), self.value));
        self.out.set(self.value * 2);
    }
}

fn run_process(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    // 方法一: a target with arguments (a closure captures them).
    let mut p = Process::new(|| task("子进程", 1.0)).name("worker-1");
    ctx.check(p.pid().is_none() && !p.is_alive(), "before start: no pid, not alive");
    p.start()?;
    say(format!(
        "p.name = {}, p.pid = {:?}, p.is_alive() = {}",
        p.get_name(),
        p.pid(),
        p.is_alive()
    ));
    ctx.check(p.is_alive(), "after start the child is alive");
    p.join()?;
    say(format!(
        "主 (joined: exitcode {:?}, is_alive {})",
        p.exitcode(),
        p.is_alive()
    ));
    ctx.check(p.exitcode() == Some(0) && !p.is_alive(), "joined with exitcode 0");

    // 方法二: a type implementing Run.
    let out = ShmCell::new(0u32)?;
    let mut p = Process::from_run(Doubler {
        value: 21,
        out: out.clone(),
    });
    p.start()?;
    p.join()?;
    ctx.fact("run_trait_result", out.get());
    ctx.check(out.get() == 42, "the Run form computed 21 * 2 in the child");

    // join(timeout) and terminate.
    let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30))).name("sleeper");
    p.start()?;
    let t = Instant::now();
    let finished = p.join_timeout(Duration::from_millis(200))?;
    say(format!(
        "join(0.2) returned {finished} after {:.2} s; is_alive = {}",
        t.elapsed().as_secs_f64(),
        p.is_alive()
    ));
    p.terminate()?;
    p.join()?;
    say(format!(
        "terminate(): exitcode {:?} (-SIGTERM, as Python reports it)",
        p.exitcode()
    ));
    ctx.check(!finished, "join_timeout on a sleeping child returns false");
    ctx.check(
        p.exitcode() == Some(-libc::SIGTERM),
        "a terminated child's exitcode is -15",
    );

    // Four tasks sleeping 4, 3, 2, 1 s, started together and joined: the total is the longest.
    let t = Instant::now();
    let mut ps: Vec<Process> = [4.0, 3.0, 2.0, 1.0]
        .into_iter()
        .enumerate()
        .map(|(i, s)| Process::new(move || task(&format!("task{i}"), s)).name(format!("task{i}")))
        .collect();
    for p in &mut ps {
        p.start()?;
    }
    for p in &ps {
        p.join()?;
    }
    let total = t.elapsed().as_secs_f64();
    let (longest, sum) = (scaled(4.0).as_secs_f64(), scaled(10.0).as_secs_f64());
    say(format!(
        "four tasks took {total:.2} s in all: about the longest ({longest:.2} s), not the sum ({sum:.2} s)"
    ));
    ctx.fact("parallel_total_s", total);
    ctx.fact("longest_s", longest);
    ctx.fact("sum_s", sum);
    ctx.check(total >= longest && total < sum, "the tasks ran in parallel");
    ctx.check(ps.iter().all(|p| p.exitcode() == Some(0)), "every task exited 0");
    Ok(())
}

fn run_daemon(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    // [daemon pid, non-daemon finished at (ns), main ended at (ns), daemon could start a child (1/0)]
    let daemon_pid = ShmCell::new(0u32)?;
    let worker_done_at = ShmCell::new(0u64)?;
    let main_end_at = ShmCell::new(0u64)?;
    let daemon_child_refused = ShmCell::new(0u32)?;
    let (d1, w1, m1, r1) = (
        daemon_pid.clone(),
        worker_done_at.clone(),
        main_end_at.clone(),
        daemon_child_refused.clone(),
    );
    // The "program": its main starts a daemon and a non-daemon child, then returns.
    let mut program = Process::new(move || {
        let r2 = r1.clone();
        let mut d = Process::new(move || {
            // A daemon may not have children (Python's rule).
            if matches!(
                Process::new(|| {}).start(),
                Err(ringfork::ProcessError::DaemonCannotHaveChildren { .. })
            ) {
                r2.set(1);
            }
            loop {
                say(format!("daemon {} working", std::process::id()));
                std::thread::sleep(scaled(1.0));
            }
        })
        .name("daemon")
        .daemon(true);
        let w2 = w1.clone();
        let mut w = Process::new(move || {
            std::thread::sleep(scaled(3.0));
            say(format!("non-daemon {} finished its work", std::process::id()));
            w2.set(now_ns());
        })
        .name("worker");
        if d.start().is_ok() && w.start().is_ok() {
            d1.set(d.pid().unwrap_or(0));
            std::thread::sleep(scaled(1.5)); // the rest of the main code
            say("main code ends now (the program's main returns)");
        }
        // Returning from the child's body runs Python's exit behaviour: join the non-daemon
        // child, terminate the daemon. Record when that is done.
        ringfork::process::shutdown();
        m1.set(now_ns());
    })
    .name("program");
    program.start()?;
    program.join()?;
    let d = daemon_pid.get();
    let daemon_gone = ringfork_core::os::pid_exists(d) == ringfork_core::os::Liveness::Dead;
    say(format!("after the program ended: daemon {d} gone = {daemon_gone}"));
    ctx.fact("daemon_gone", daemon_gone);
    ctx.fact(
        "worker_finished_before_main_ended",
        worker_done_at.get() != 0 && worker_done_at.get() <= main_end_at.get(),
    );
    ctx.fact("daemon_child_refused", daemon_child_refused.get() == 1);
    ctx.check(d != 0 && daemon_gone, "the daemon stopped when the main code ended");
    ctx.check(
        worker_done_at.get() != 0 && worker_done_at.get() <= main_end_at.get(),
        "the non-daemon child finished before the program exited",
    );
    ctx.check(
        daemon_child_refused.get() == 1,
        "a daemon may not start children of its own",
    );
    Ok(())
}

/// The state the parent changed at run time (a "global" of the program).
static mut RUNTIME_STATE: u32 = 0;

/// The spawned child's target: report what it sees.
fn spawned_child(args: TargetArgs) {
    // A spawned child is a fresh program: it learns the output mode from its arguments.
    // Ordering: Relaxed: set before this (single-threaded) child prints anything.
    super::JSON_MODE.store(args.arg_str(0) == Some("json"), std::sync::atomic::Ordering::Relaxed);
    let Some(seg) = args.segments().first() else { return };
    let Ok(cell) = ShmCell::<u32>::open(seg, "seen") else {
        return;
    };
    // SAFETY: single-threaded read of our own static.
    let v = unsafe { RUNTIME_STATE };
    say(format!(
        "spawned child {}: the program started over; RUNTIME_STATE = {v}",
        std::process::id()
    ));
    cell.set(v + 1000);
}

fn run_start_methods(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    // The parent changes its state at run time, after the program started.
    // SAFETY: single-threaded write of our own static, before any child exists.
    unsafe { RUNTIME_STATE = 42 };
    let seg = ringfork::Segment::anonymous(4096)?;
    let seen = ShmCell::new_in(&seg, "seen", 0u32)?;
    // fork: the child is a copy of the parent *now*, and runs only the closure.
    let s2 = seen.clone();
    let mut p = Process::new(move || {
        // SAFETY: single-threaded read of the child's copy of the static.
        let v = unsafe { RUNTIME_STATE };
        say(format!(
            "forked child {}: continues from the fork; RUNTIME_STATE = {v}",
            std::process::id()
        ));
        s2.set(v);
    })
    .start_method(StartMethod::Fork);
    p.start()?;
    p.join()?;
    let forked = seen.get();
    // spawn: the program re-executes from the top of main (registering targets, then the hook runs the
    // target); run-time changes to globals are not there.
    let mode = if ctx.json() { "json" } else { "text" };
    let mut p = Process::target("demo-startmethods-child")
        .arg(mode)
        .segment(&seg)
        .start_method(StartMethod::Spawn);
    p.start()?;
    p.join()?;
    let spawned = seen.get().wrapping_sub(1000);
    say(format!("fork saw {forked}; spawn saw {spawned}"));
    say("Python's spawn re-imports the main module (code outside `if __name__ == '__main__'` runs again);");
    say("ringfork's spawn re-executes the binary: `main` runs again up to `spawn_main_hook`, then the target.");
    ctx.fact("fork_saw", forked);
    ctx.fact("spawn_saw", spawned);
    ctx.check(forked == 42, "a forked child inherits the parent's run-time state");
    ctx.check(
        spawned == 0 && p.exitcode() == Some(0),
        "a spawned child starts from a fresh program",
    );
    Ok(())
}
