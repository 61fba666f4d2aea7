//! Seed 002 "信号" and the homework "司机和售票员的故事": sending signals, alarm and pause, handlers,
//! SIG_IGN and SIG_DFL; then the driver and the conductor.

use super::{say, Ctx, Demo, Lines};
use ringfork::os::{self as sys, ForkResult, WaitStatus};
use ringfork::signal::{self, Signal};
use ringfork::ShmCell;
use std::time::{Duration, Instant};

pub const SIGNALS: Demo = Demo {
    name: "signals",
    summary: "kill, alarm + pause, handlers, SIG_IGN and SIG_DFL",
    seed: "002 信号",
    run: run_signals,
};

pub const BUS: Demo = Demo {
    name: "bus",
    summary:
        "the driver and the conductor: SIGINT -> 发车了, SIGQUIT -> 到站了，请下车 (Ctrl-C / Ctrl-\\ on a terminal)",
    seed: "002 作业: 司机和售票员的故事",
    run: run_bus,
};

fn fork_child(f: impl FnOnce()) -> Result<i32, Box<dyn std::error::Error>> {
    // SAFETY: demos run single-threaded; children only use their own memory and shared memory.
    match unsafe { sys::fork() }? {
        ForkResult::Child => {
            f();
            sys::child_exit(0)
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

fn wait_flag(cell: &ShmCell<u32>, value: u32) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while cell.get() != value {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

fn run_signals(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    // 1. os.kill(pid, SIGUSR1) to a child that handles it.
    let state = ShmCell::new(0u32)?; // 1 = handler installed, 2 = handler ran
    let s2 = state.clone();
    let pid = fork_child(move || {
        let s3 = s2.clone();
        if signal::set_handler(Signal::Usr1, move |sig| {
            say(format!("  child {}: handler ran for {}", sys::getpid(), sig.name()));
            s3.set(2);
        })
        .is_ok()
        {
            s2.set(1);
            let _ = signal::pause_timeout(Duration::from_secs(10));
        }
    })?;
    ctx.check(wait_flag(&state, 1), "the child installed its SIGUSR1 handler");
    signal::send(pid as u32, Signal::Usr1)?;
    say(format!("os.kill({pid}, SIGUSR1) sent"));
    let (_, st) = sys::waitpid(pid, false)?.ok_or("no status")?;
    ctx.check(
        state.get() == 2 && st == WaitStatus::Exited(0),
        "the handler ran and the child exited normally",
    );

    // 2. signal.alarm(1) + signal.pause(): the alarm arrives, pause returns.
    signal::catch(Signal::Alrm)?;
    let t = Instant::now();
    // 一个进程中只能挂起一个时钟信号: a second alarm replaces the first and returns what was left of it.
    signal::alarm(3);
    let left = signal::alarm(1);
    say(format!(
        "alarm(3), then alarm(1) -> {left} (the 3 s alarm is replaced: one alarm per process)"
    ));
    say("pause() ...");
    let got = signal::pause_timeout(Duration::from_secs(5));
    let waited = t.elapsed();
    say(format!(
        "pause() returned {:?} after {:.2} s",
        got.map(|s| s.name()),
        waited.as_secs_f64()
    ));
    // Only one alarm was pending: nothing else arrives within the old alarm's 3 s.
    let second = signal::pause_timeout(Duration::from_millis(2300));
    signal::default(Signal::Alrm)?;
    ctx.check(
        got == Some(Signal::Alrm) && waited >= Duration::from_millis(900),
        "alarm(1) interrupted pause after ~1 s",
    );
    ctx.fact("previous_alarm_left", left);
    ctx.check(
        (2..=3).contains(&left) && second.is_none(),
        "a second alarm replaced the first (it returned the seconds left; no second SIGALRM came)",
    );

    // 3. SIG_IGN: a child ignoring SIGINT survives it; SIG_DFL: the default action kills.
    let ready = ShmCell::new(0u32)?;
    let r2 = ready.clone();
    let pid = fork_child(move || {
        let _ = signal::ignore(Signal::Int);
        r2.set(1);
        std::thread::sleep(Duration::from_secs(10));
    })?;
    ctx.check(wait_flag(&ready, 1), "the child set SIGINT to SIG_IGN");
    signal::send(pid as u32, Signal::Int)?;
    std::thread::sleep(Duration::from_millis(50));
    let survived = sys::waitpid(pid, true)?.is_none();
    say(format!("SIGINT to a child with SIG_IGN: still alive = {survived}"));
    signal::send(pid as u32, Signal::Term)?;
    let (_, st) = sys::waitpid(pid, false)?.ok_or("no status")?;
    ctx.check(
        survived && st == WaitStatus::Signaled(libc::SIGTERM),
        "SIG_IGN'd SIGINT did nothing; SIGTERM ended it",
    );
    let ready = ShmCell::new(0u32)?;
    let r2 = ready.clone();
    let pid = fork_child(move || {
        let _ = signal::ignore(Signal::Int);
        let _ = signal::default(Signal::Int);
        r2.set(1);
        std::thread::sleep(Duration::from_secs(10));
    })?;
    ctx.check(wait_flag(&ready, 1), "the child restored SIG_DFL for SIGINT");
    signal::send(pid as u32, Signal::Int)?;
    let (_, st) = sys::waitpid(pid, false)?.ok_or("no status")?;
    say(format!("SIGINT to a child with SIG_DFL: {st:?}"));
    ctx.check(
        st == WaitStatus::Signaled(libc::SIGINT),
        "with SIG_DFL, SIGINT terminates the process",
    );
    Ok(())
}

fn run_bus(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let interactive = !ctx.quick && !ctx.json() && std::io::IsTerminal::is_terminal(&std::io::stdin());
    // The driver (this process) ignores the keyboard's signals: a terminal sends them to every
    // process of the foreground group, and only the conductor should react.
    signal::ignore(Signal::Int)?;
    signal::ignore(Signal::Quit)?;
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::<&'static str>::new()));
    let h1 = heard.clone();
    signal::set_handler(Signal::Usr1, move |_| {
        say("司机: 发车了");
        h1.lock().map(|mut v| v.push("发车了")).ok();
    })?;
    let h2 = heard.clone();
    signal::set_handler(Signal::Usr2, move |_| {
        say("司机: 到站了，请下车");
        h2.lock().map(|mut v| v.push("到站了，请下车")).ok();
    })?;
    let ready = ShmCell::new(0u32)?;
    let r2 = ready.clone();
    let conductor = fork_child(move || {
        let driver = sys::getppid();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d2 = done.clone();
        let _ = signal::set_handler(Signal::Int, move |_| {
            say("售票员: (SIGINT) 开车 -> SIGUSR1");
            let _ = signal::send(driver, Signal::Usr1);
        });
        let _ = signal::set_handler(Signal::Quit, move |_| {
            say("售票员: (SIGQUIT) 到站 -> SIGUSR2, 下车");
            let _ = signal::send(driver, Signal::Usr2);
            d2.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        // The conductor does not care about the driver's signals.
        let _ = signal::ignore(Signal::Usr1);
        let _ = signal::ignore(Signal::Usr2);
        r2.set(1);
        let end = Instant::now() + Duration::from_secs(if interactive { 600 } else { 20 });
        while !done.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < end {
            let _ = signal::pause_timeout(Duration::from_millis(200));
        }
        say("售票员: 下车了");
    })?;
    ctx.check(wait_flag(&ready, 1), "the conductor is on board");
    let limit = Duration::from_secs(if interactive { 600 } else { 10 });
    if interactive {
        say("press Ctrl-C to depart (发车), Ctrl-\\ to arrive (到站)");
    } else {
        say("(non-interactive: the demo plays the keyboard and sends SIGINT, then SIGQUIT, to the conductor)");
        signal::send(conductor as u32, Signal::Int)?;
    }
    let first = signal::pause_timeout(limit);
    if !interactive {
        signal::send(conductor as u32, Signal::Quit)?;
    }
    let second = signal::pause_timeout(limit);
    // At the stop the driver waits for the conductor to get off first.
    let (_, st) = sys::waitpid(conductor, false)?.ok_or("no status")?;
    let conductor_gone = sys::proc_state(conductor as u32).is_err();
    say("司机: 售票员已下车, 司机下班");
    let heard = heard.lock().map(|v| v.clone()).unwrap_or_default();
    ctx.fact("messages", heard.clone());
    ctx.fact("conductor_exited_first", conductor_gone);
    ctx.check(
        first == Some(Signal::Usr1) && second == Some(Signal::Usr2),
        "the driver got SIGUSR1, then SIGUSR2",
    );
    ctx.check(heard == ["发车了", "到站了，请下车"], "the two messages, in order");
    ctx.check(
        st == WaitStatus::Exited(0) && conductor_gone,
        "the conductor got off before the driver left",
    );
    let lines = ctx.lines();
    let me = sys::getpid();
    let off = lines
        .iter()
        .position(|l| l.pid == conductor as u32 && l.text == "售票员: 下车了");
    let leave = lines.iter().position(|l| l.pid == me && l.text.contains("司机下班"));
    ctx.check(
        lines.with("司机: ").iter().all(|l| l.pid == me)
            && lines.with("售票员: (").iter().all(|l| l.pid == conductor as u32)
            && off.is_some()
            && off < leave,
        "driver and conductor each printed their own lines; the conductor's 下车了 before the driver's 下班",
    );
    for s in [Signal::Int, Signal::Quit, Signal::Usr1, Signal::Usr2] {
        signal::default(s)?;
    }
    Ok(())
}
