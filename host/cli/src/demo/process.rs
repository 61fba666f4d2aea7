//! Seed 000 "开进程的方法一/二", "join", seed 003/004 `Process`: target and arguments, the "subclass
//! Process and override run" form, name/pid/is_alive, join with and without a timeout, terminate;
//! daemons; and seed 002's fork-versus-spawn experiment.

use super::transcript::{now_ns, secs_after};
use super::{say, scaled, scaled_s, Ctx, Demo, Lines};
use ringfork::process::{Process, Run, StartMethod, TargetArgs};
use ringfork::ShmCell;
use std::time::{Duration, Instant};

pub const PROCESS: Demo = Demo {
    name: "process",
    summary:
        "Process: target+args, the Run trait, name/pid/is_alive, join, join_timeout, terminate; 5,3,2,1 s in parallel",
    seed: "000 开进程的方法 / join; 003, 004 Process",
    run: run_process,
};

pub const DAEMON: Demo = Demo {
    name: "daemon",
    summary: "a daemon child stops when the main code ends (end123 never prints); a non-daemon child is waited for",
    seed: "003 守护进程 示例一/二; 000, 002 p.daemon",
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

/// The notes' `task()`: report, sleep, report (seed 000's join example).
fn task(name: &str, secs: f64) {
    say(format!("{name} ({}) is task", std::process::id()));
    std::thread::sleep(scaled(secs));
    say(format!("{name} ({}) is task end", std::process::id()));
}

/// Seed 003's `task()` with pid and ppid: each line comes from the child itself.
fn task_pp() {
    let (pid, ppid) = (ringfork::os::getpid(), ringfork::os::getppid());
    say(format!("{pid} is running, parent is <{ppid}>===={ppid}"));
    std::thread::sleep(scaled(3.0));
    say(format!("{pid} is done, parent is <{ppid}>======={ppid}"));
}

/// The "subclass Process and override run()" form (seed 001 `Process_class(2)`, seed 003 `MyProcess`):
/// the child reports its start and its own end.
struct ProcessClass {
    interval: f64,
    value: u32,
    out: ShmCell<u32>,
}

impl Run for ProcessClass {
    fn run(&mut self) {
        let (pid, ppid) = (ringfork::os::getpid(), ringfork::os::getppid());
        say(format!("子进程({pid})开始执行，父进程为({ppid})"));
        let t = Instant::now();
        std::thread::sleep(scaled(self.interval)); // 模拟实际上的代码执行
        self.out.set(self.value * 2);
        say(format!("({pid})执行结束，耗时{:.2}秒", t.elapsed().as_secs_f64()));
    }
}

/// The position of the first line containing `pat` printed by `pid`.
fn pos_by(lines: &[super::Line], pid: u32, pat: &str) -> Option<usize> {
    lines.iter().position(|l| l.pid == pid && l.text.contains(pat))
}

fn run_process(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let me = std::process::id();
    // Seed 000, 开进程的方法一 + join: a target with arguments (a closure captures them).
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
    say("主");
    ctx.check(p.exitcode() == Some(0) && !p.is_alive(), "joined with exitcode 0");
    let lines = ctx.lines();
    let child = p.pid().unwrap_or(0);
    ctx.check(
        pos_by(&lines, child, "is task end").is_some()
            && pos_by(&lines, child, "is task end") < pos_by(&lines, me, "主"),
        "the child printed its own \"is task end\" before the parent's 主 (join waited for it)",
    );

    // Seed 003, 开启进程的方式一 with getpid/getppid, no join: the parent goes on at once.
    let mut p = Process::new(task_pp);
    let started = now_ns();
    p.start()?;
    say(format!("主流程 {} {}", me, ringfork::os::getppid()));
    let main_late = (now_ns() - started) as f64 / 1e9;
    p.join()?; // (Python's main waits for its children at exit; here, before the next part)
    let lines = ctx.lines();
    let child = p.pid().unwrap_or(0);
    ctx.check(
        lines.with(&format!("{child} is running, parent is <{me}>")).len() == 1
            && lines.with(&format!("{child} is done, parent is <{me}>")).len() == 1,
        "the child printed both its lines itself, and its ppid is the parent's pid",
    );
    ctx.check_timed(
        pos_by(&lines, me, "主流程") < pos_by(&lines, child, "is done"),
        (main_late > scaled_s(3.0)).then(|| format!("the parent's next line came {main_late:.3} s after start()")),
        "start() does not wait: 主流程 comes before the child's \"is done\" (3 s later)",
    );

    // Seed 004: the child sleeps 2 s and prints; meanwhile the parent sees it alive.
    let mut p = Process::new(|| {
        std::thread::sleep(scaled(2.0));
        say(format!("th: {}", std::process::id()));
        say("吃饭");
    });
    say(format!("main: {me}"));
    let t = Instant::now();
    p.start()?;
    let alive = p.is_alive();
    let gap = t.elapsed().as_secs_f64(); // the child cannot have ended before 2 s after start() began
    say(if alive { "True" } else { "False" });
    p.join()?;
    let lines = ctx.lines();
    let child = p.pid().unwrap_or(0);
    ctx.check_timed(
        alive,
        (gap > scaled_s(2.0)).then(|| format!("is_alive() ran {gap:.3} s after start() began")),
        "p.is_alive() is True while the child sleeps",
    );
    ctx.check(pos_by(&lines, child, "吃饭").is_some(), "the child printed 吃饭 itself");

    // 方法二: a type implementing Run (seed 001 Process_class(2)).
    say(format!("当前程序进程({me})"));
    let out = ShmCell::new(0u32)?;
    let mut p = Process::from_run(ProcessClass {
        interval: 2.0,
        value: 21,
        out: out.clone(),
    });
    p.start()?;
    p.join()?;
    say("子进程结束");
    ctx.fact("run_trait_result", out.get());
    ctx.check(out.get() == 42, "the Run form computed 21 * 2 in the child");
    let lines = ctx.lines();
    let child = p.pid().unwrap_or(0);
    ctx.check(
        pos_by(&lines, child, &format!("子进程({child})开始执行，父进程为({me})")).is_some()
            && pos_by(&lines, child, "执行结束").is_some()
            && pos_by(&lines, child, "执行结束") < pos_by(&lines, me, "子进程结束"),
        "run() printed its start and its own 执行结束 line; the parent's 子进程结束 follows the join",
    );

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

    // Seed 003, 多个子进程: 紫禁城1..4 sleep 5, 3, 2 and 1 s, started together and joined: the total is
    // the longest, not the sum.
    let t = Instant::now();
    let mut ps: Vec<Process> = [5.0, 3.0, 2.0, 1.0]
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            Process::new(move || {
                say(format!("紫禁城{} is running", i + 1));
                std::thread::sleep(scaled(s));
            })
            .name(format!("紫禁城{}", i + 1))
        })
        .collect();
    for p in &mut ps {
        p.start()?;
    }
    for p in &ps {
        p.join()?;
    }
    let total = t.elapsed().as_secs_f64();
    say(format!("主进程 {total:.4}"));
    let (longest, sum) = (scaled_s(5.0), scaled_s(11.0));
    say(format!(
        "(about the longest task, {longest:.2} s, not the sum, {sum:.2} s)"
    ));
    ctx.fact("parallel_total_s", total);
    ctx.fact("longest_s", longest);
    ctx.fact("sum_s", sum);
    ctx.check(total >= longest, "join waited for the longest task (5 s)");
    ctx.check(
        total < sum,
        "the four tasks ran at the same time: the total is less than the sum",
    );
    let lines = ctx.lines();
    ctx.check(
        ps.iter()
            .enumerate()
            .all(|(i, p)| pos_by(&lines, p.pid().unwrap_or(0), &format!("紫禁城{} is running", i + 1)).is_some()),
        "each task printed its own line",
    );
    ctx.check(ps.iter().all(|p| p.exitcode() == Some(0)), "every task exited 0");
    Ok(())
}

fn run_daemon(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    // Seed 003 守护进程, 示例一: a daemon joined by its parent runs to the end; a daemon may not start
    // children of its own.
    let refused = ShmCell::new(0u32)?;
    let r2 = refused.clone();
    let mut p = Process::new(move || {
        say("子进程 is running");
        if matches!(
            Process::new(|| {}).start(),
            Err(ringfork::ProcessError::DaemonCannotHaveChildren { .. })
        ) {
            r2.set(1);
        }
        std::thread::sleep(scaled(2.0));
    })
    .daemon(true);
    p.start()?;
    p.join()?;
    say("主");
    ctx.fact("daemon_child_refused", refused.get() == 1);
    ctx.check(refused.get() == 1, "a daemon may not start children of its own");

    // 示例二: the "program" starts Foo (a daemon: 123, 1 s, end123) and Bar (456, 2 s, end456), prints
    // main--------- and its main code ends. The daemon is terminated right then (end123 never shows);
    // Bar is waited for and prints its own end456 before the program exits.
    let daemon_pid = ShmCell::new(0u32)?;
    let main_end_at = ShmCell::new(0u64)?; // when the program's main code ended
    let exit_at = ShmCell::new(0u64)?; // when the program had finished Python's exit behaviour
    let (d1, m1, e1) = (daemon_pid.clone(), main_end_at.clone(), exit_at.clone());
    let mut program = Process::new(move || {
        let mut p1 = Process::new(|| {
            say("123");
            std::thread::sleep(scaled(1.0));
            say("end123");
        })
        .name("Foo")
        .daemon(true);
        let mut p2 = Process::new(|| {
            say("456");
            std::thread::sleep(scaled(2.0));
            say("end456");
        })
        .name("Bar");
        if p1.start().is_ok() && p2.start().is_ok() {
            d1.set(p1.pid().unwrap_or(0));
            say("main---------");
        }
        m1.set(now_ns());
        // Returning from the child's body runs Python's exit behaviour (terminate the daemons, join
        // the others); run it here to record when it is done.
        ringfork::process::shutdown();
        e1.set(now_ns());
    })
    .name("program");
    program.start()?;
    program.join()?;
    let d = daemon_pid.get();
    let daemon_gone = ringfork_core::os::pid_exists(d) == ringfork_core::os::Liveness::Dead;
    say(format!("after the program ended: daemon {d} gone = {daemon_gone}"));
    let lines = ctx.lines();
    let end456 = lines.iter().find(|l| l.text == "end456");
    let main_line = lines.pos("main---------");
    let end123 = lines.iter().find(|l| l.text == "end123");
    let bar_done_in_time = end456.is_some_and(|l| l.t_ns <= exit_at.get());
    ctx.fact("daemon_gone", daemon_gone);
    ctx.fact("worker_finished_before_main_ended", bar_done_in_time);
    ctx.fact("end123_printed", end123.is_some());
    ctx.check(d != 0 && daemon_gone, "the daemon stopped when the main code ended");
    ctx.check(
        bar_done_in_time && end456.is_some_and(|l| l.pid != d && Some(l.pid) != program.pid()),
        "Bar printed its own end456, and the program exited only after it",
    );
    ctx.check(
        main_line.is_some() && main_line < lines.pos("end456"),
        "main--------- comes first; Bar's end456 (2 s) after it",
    );
    // end123 would come 1 s after Foo started; the daemon is terminated when main's code ends, well
    // before that, unless the terminating itself was delayed past that second.
    let late = end123.and_then(|l| {
        let ended = main_end_at.get();
        let d = secs_after(l, ended);
        (d < 0.0 || ended == 0).then(|| format!("the program's main code ended {:.3} s after Foo printed end123", -d))
    });
    ctx.check_timed(
        end123.is_none(),
        late,
        "the daemon never printed end123: it ended with the main code",
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
