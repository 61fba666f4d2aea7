//! Seed 002 "进程退出函数", "僵尸/孤儿进程", "os.wait / os.waitpid", "nice": exit codes and how they are
//! read, zombies and the four cures, orphans, and priorities.

use super::{say, scaled, Ctx, Demo, Lines};
use ringfork::os::{self as sys, ForkResult, WaitStatus};
use ringfork::ShmCell;
use std::time::{Duration, Instant};

pub const EXITCODES: Demo = Demo {
    name: "exitcodes",
    summary: "_exit(n), normal exit, exit(n), panic and a signal, read with waitpid and decoded",
    seed: "002 进程退出函数 / os.wait",
    run: run_exitcodes,
};

pub const ZOMBIE: Demo = Demo {
    name: "zombie",
    summary: "a child that exits unreaped is a zombie (state Z); the four cures",
    seed: "002 僵尸进程的处理方法",
    run: run_zombie,
};

pub const ORPHAN: Demo = Demo {
    name: "orphan",
    summary: "the parent exits first; the orphan is adopted and reports its new ppid",
    seed: "002 孤儿进程",
    run: run_orphan,
};

pub const NICE: Demo = Demo {
    name: "nice",
    summary: "workers at nice 0, 5 and 10, values read back from /proc; who gets the CPU",
    seed: "002 nice / renice",
    run: run_nice,
};

/// Forks a child that runs `f` (which never returns normally into the parent's code).
fn child(f: impl FnOnce()) -> Result<i32, Box<dyn std::error::Error>> {
    // SAFETY: demos run single-threaded; children only use their own memory and shared memory.
    match unsafe { sys::fork() }? {
        ForkResult::Child => {
            f();
            sys::child_exit(0)
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

fn run_exitcodes(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let cases: Vec<(&str, i32, WaitStatus)> = vec![
        ("returns normally", child(|| {})?, WaitStatus::Exited(0)),
        (
            "os._exit(3)",
            child(|| {
                // SAFETY: _exit in the child: no destructors, no atexit handlers.
                unsafe { libc::_exit(3) }
            })?,
            WaitStatus::Exited(3),
        ),
        (
            "std::process::exit(4)",
            child(|| std::process::exit(4))?,
            WaitStatus::Exited(4),
        ),
        (
            "panics (caught, exit 1 as Process does)",
            child(|| {
                std::panic::set_hook(Box::new(|info| say(format!("  child {}: {info}", sys::getpid()))));
                let r = std::panic::catch_unwind(|| panic!("demo panic"));
                sys::child_exit(if r.is_err() { 1 } else { 0 })
            })?,
            WaitStatus::Exited(1),
        ),
        (
            "sys.exit(\"再见\") (prints its message, exit 1)",
            child(|| {
                // sys.exit with a non-number: the child itself prints the message, and exits 1.
                say(format!("  child {}: 再见", sys::getpid()));
                std::process::exit(1)
            })?,
            WaitStatus::Exited(1),
        ),
        (
            "is killed by SIGKILL",
            child(|| loop {
                std::thread::sleep(Duration::from_millis(10));
            })?,
            WaitStatus::Signaled(9),
        ),
    ];
    ringfork::signal::send(cases[5].1 as u32, ringfork::signal::Signal::Kill)?;
    for (what, pid, expected) in cases {
        let (p, st) = sys::waitpid(pid, false)?.ok_or("waitpid returned nothing")?;
        let raw = match st {
            WaitStatus::Exited(c) => c << 8,
            WaitStatus::Signaled(s) => s,
            _ => -1,
        };
        say(format!(
            "child {p} {what}: raw status {raw:#06x} -> {st:?} (WEXITSTATUS = raw >> 8 = {}), exitcode {:?}",
            raw >> 8,
            st.exitcode()
        ));
        ctx.check(st == expected, format!("{what} decodes as {expected:?}"));
        if !what.starts_with("sys.exit(") {
            ctx.fact(&what.replace(' ', "_"), st.exitcode());
        } else {
            let lines = ctx.lines();
            ctx.fact("sys.exit(message)", st.exitcode());
            ctx.check(
                lines.iter().any(|l| l.pid == pid as u32 && l.text.ends_with("再见")),
                "sys.exit(message): the child printed the message itself",
            );
        }
    }
    Ok(())
}

fn run_zombie(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let me0 = sys::getpid();
    // A child exits; nobody reaps it yet.
    let pid = child(|| {})?;
    let mut state = b'?';
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        state = sys::proc_state(pid as u32).map(|s| s.state).unwrap_or(b'?');
        if state == b'Z' {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    say(format!(
        "child {pid} exited and nobody reaped it: /proc says state {}",
        state as char
    ));
    ctx.fact("zombie_state", (state as char).to_string());
    ctx.check(state == b'Z', "an unreaped exited child is a zombie (Z)");

    // Cure 1: wait/waitpid.
    sys::waitpid(pid, false)?;
    let gone = sys::proc_state(pid as u32).is_err();
    say(format!("cure 1, waitpid({pid}): the zombie is gone: {gone}"));
    ctx.check(gone, "after waitpid the zombie is gone");

    // Cure 2: waitpid(WNOHANG) polling while doing other work.
    let pid = child(|| std::thread::sleep(scaled(1.0)))?;
    let mut polls = 0;
    let reaped = loop {
        polls += 1;
        if let Some((p, st)) = sys::waitpid(pid, true)? {
            break (p, st);
        }
        std::thread::sleep(Duration::from_millis(5)); // "other work"
    };
    say(format!(
        "cure 2, waitpid(pid, WNOHANG) polled {polls} times, then reaped {} with {:?}",
        reaped.0, reaped.1
    ));
    ctx.check(reaped.0 == pid && polls > 1, "WNOHANG polling reaps without blocking");

    // Cure 3: signal(SIGCHLD, SIG_IGN): the kernel reaps children itself.
    sys::ignore_sigchld()?;
    let pid = child(|| {
        say("The new process");
        say(format!("child pid: {}", sys::getpid()));
    })?;
    say("The old process");
    say(format!("main pid: {}", sys::getpid()));
    let mut ever_zombie = false;
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        match sys::proc_state(pid as u32) {
            Ok(s) if s.state == b'Z' => ever_zombie = true,
            Ok(_) => {}
            Err(_) => break,
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let gone = sys::proc_state(pid as u32).is_err();
    ringfork::signal::default(ringfork::signal::Signal::Chld)?;
    say(format!(
        "cure 3, SIGCHLD ignored: child {pid} vanished without a wait (zombie seen: {ever_zombie})"
    ));
    ctx.check(
        gone && !ever_zombie,
        "with SIGCHLD ignored the child never becomes a zombie",
    );
    let lines = ctx.lines();
    ctx.check(
        lines
            .iter()
            .any(|l| l.pid == pid as u32 && l.text == format!("child pid: {pid}"))
            && lines
                .iter()
                .any(|l| l.pid == me0 && l.text == format!("main pid: {me0}")),
        "each process printed its own pid (seed 004's fork example)",
    );

    // Cure 4: double fork: the grandchild is an orphan, adopted (and later reaped) by init.
    let me = sys::getpid();
    let ppid_seen = ShmCell::new(0u32)?;
    let p2 = ppid_seen.clone();
    let grandchild = sys::double_fork(move || {
        let end = Instant::now() + Duration::from_secs(5);
        // Wait until the intermediate child has exited and we are re-parented.
        while Instant::now() < end
            && sys::getppid() != 1
            && sys::proc_state(sys::getppid())
                .map(|s| s.state == b'Z')
                .unwrap_or(false)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        p2.set(sys::getppid());
    })?;
    let end = Instant::now() + Duration::from_secs(5);
    while ppid_seen.get() == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2));
    }
    say(format!(
        "cure 4, double fork: grandchild {grandchild} now has ppid {} (we are {me})",
        ppid_seen.get()
    ));
    ctx.fact("grandchild_ppid", ppid_seen.get());
    ctx.check(
        ppid_seen.get() != 0 && ppid_seen.get() != me,
        "the grandchild was re-parented away from us",
    );
    ctx.check(zombie_children().is_empty(), "no zombie children are left");
    Ok(())
}

fn run_orphan(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let report = ShmCell::new([0u32; 3])?; // [parent pid, ppid before, ppid after]; one writer at a time
    let before_seen = ShmCell::new(0u32)?;
    let (r2, b2) = (report.clone(), before_seen.clone());
    let a = child(move || {
        let parent = sys::getpid();
        // The orphan-to-be: it notes its parent, waits until that parent is gone, notes the new one.
        let (r3, b3) = (r2.clone(), b2.clone());
        let _ = child(move || {
            b3.set(sys::getppid());
            let end = Instant::now() + Duration::from_secs(5);
            while sys::getppid() == parent && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(1));
            }
            r3.set([parent, b3.get(), sys::getppid()]);
            say(format!(
                "orphan {}: my parent {parent} is gone; my ppid is now {} (I was adopted)",
                sys::getpid(),
                sys::getppid()
            ));
        });
        // Exit only once the child has seen us as its parent.
        let end = Instant::now() + Duration::from_secs(5);
        while b2.get() == 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        say(format!("parent {parent} exits first, leaving its child behind"));
        sys::child_exit(0)
    })?;
    sys::waitpid(a, false)?;
    let end = Instant::now() + Duration::from_secs(5);
    while report.get()[2] == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2));
    }
    let [parent, before, after] = report.get();
    say(format!(
        "the orphan's ppid was {before} (its parent {parent}); now it is {after}, the process that adopted it"
    ));
    // The orphan prints its own line; wait (bounded) until it has.
    let end = Instant::now() + Duration::from_secs(5);
    while ctx.lines().with("(I was adopted)").is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2));
    }
    let lines = ctx.lines();
    let own = lines.with("(I was adopted)");
    let parent_line = lines.with("exits first, leaving its child behind");
    ctx.check(
        own.len() == 1
            && own[0].pid != parent
            && own[0].pid != sys::getpid()
            && parent_line.len() == 1
            && parent_line[0].pid == parent
            && lines.pos("exits first") < lines.pos("(I was adopted)"),
        "the parent printed its exit line, then the orphan printed its own line with its new ppid",
    );
    ctx.fact("old_ppid", before);
    ctx.fact("new_ppid", after);
    ctx.check(
        before == parent && after != 0 && after != parent,
        "the orphan was adopted by another process",
    );
    Ok(())
}

fn run_nice(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    // One counter per worker (each written by its worker only).
    let counts: Vec<ShmCell<u64>> = (0..3).map(|_| ShmCell::new(0u64)).collect::<Result<_, _>>()?;
    let stop = ShmCell::new(0u32)?;
    let base = sys::get_nice(sys::getpid())?;
    let wanted: Vec<i32> = [0, 5, 10].iter().map(|n| (base + n).min(19)).collect();
    let mut pids = Vec::new();
    for (i, &n) in wanted.iter().enumerate() {
        let (c, s) = (counts[i].clone(), stop.clone());
        pids.push(child(move || {
            let _ = sys::set_nice(sys::getpid(), n);
            // All three on one CPU, so the scheduler must choose.
            crate::child::pin(0);
            let mut k = 0u64;
            while s.get() == 0 {
                for _ in 0..10_000 {
                    k = std::hint::black_box(k + 1);
                }
                c.set(k);
            }
            let nice = sys::proc_state(sys::getpid()).map(|s| s.nice).unwrap_or(0);
            say(format!(
                "worker {} (nice {nice}) stops after {k} iterations",
                sys::getpid()
            ));
        })?);
    }
    std::thread::sleep(Duration::from_millis(50));
    let mut values = Vec::new();
    for &p in &pids {
        values.push(sys::proc_state(p as u32)?.nice);
    }
    std::thread::sleep(scaled(2.0));
    stop.set(1);
    for &p in &pids {
        sys::waitpid(p, false)?;
    }
    let c: Vec<u64> = counts.iter().map(|x| x.get()).collect();
    for ((p, n), k) in pids.iter().zip(&values).zip(&c) {
        say(format!(
            "worker {p}: nice {n} (read back from /proc/{p}/stat), {k} iterations on the shared CPU"
        ));
    }
    ctx.fact("nice_values", values.clone());
    ctx.fact("iterations", c.clone());
    ctx.check(values == wanted, "each worker's nice value reads back as set");
    let lines = ctx.lines();
    ctx.check(
        pids.iter().all(|&p| {
            lines
                .iter()
                .any(|l| l.pid == p as u32 && l.text.contains("stops after"))
        }),
        "each worker printed its own closing line",
    );
    say("(a higher nice value gets a smaller share of a busy CPU; the exact split varies)");
    Ok(())
}

/// Children of this process that are zombies right now (from /proc).
fn zombie_children() -> Vec<u32> {
    let me = sys::getpid();
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
                .filter(|&p| sys::proc_state(p).is_ok_and(|s| s.ppid == me && s.state == b'Z'))
                .collect()
        })
        .unwrap_or_default()
}
