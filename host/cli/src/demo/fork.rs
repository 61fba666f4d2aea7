//! Seed 001 "fork(子进程)" / "getpid、getppid()" / "变量共享" / "多个fork", seed 002 "使用fork创建进程":
//! `fork` returns twice, the child's copy of memory is its own, and two forks make four processes.

use super::transcript::{now_ns, secs_after};
use super::{say, scaled, scaled_s, Ctx, Demo, Lines};
use ringfork::os::{self as sys, ForkResult, WaitStatus};
use ringfork::ShmCell;

pub const FORK: Demo = Demo {
    name: "fork",
    summary: "fork returns twice: 0 in the child, the child's pid in the parent; pid/ppid; independent exits",
    seed: "001 fork / getpid、getppid / 主进程子进程结束; 002 使用fork创建进程",
    run: run_fork,
};

pub const ISOLATION: Demo = Demo {
    name: "isolation",
    summary: "the g_num example: the child's increment is invisible to the parent",
    seed: "001 变量共享",
    run: run_isolation,
};

pub const TREE: Demo = Demo {
    name: "forktree",
    summary: "two successive forks make four processes and six lines, each process printing its own",
    seed: "001 多个fork",
    run: run_tree,
};

fn run_fork(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let seen_ret = ShmCell::new(u32::MAX)?; // what fork returned in the child
    let seen_ppid = ShmCell::new(0u32)?;
    let me = std::process::id();
    let (ret2, ppid2) = (seen_ret.clone(), seen_ppid.clone());
    let forked_at = now_ns();
    // SAFETY: the demo is single-threaded here; the child only prints, sleeps and exits.
    let ret = match unsafe { sys::fork() }? {
        ForkResult::Child => {
            ret2.set(0);
            ppid2.set(sys::getppid());
            say("main"); // 父子进程都执行
            say(format!("--子进程--{}--{}", sys::getpid(), sys::getppid()));
            say("---子进程---start");
            std::thread::sleep(scaled(5.0));
            say("---子进程---end");
            say("----over----"); // after the if/else: the child prints it too
            sys::child_exit(0)
        }
        ForkResult::Parent { child } => child,
    };
    say("main");
    say(format!(
        "--父进程--{} (fork returned the child's pid {ret})",
        sys::getpid()
    ));
    say("----父进程---start");
    std::thread::sleep(scaled(3.0));
    say("---父进程---end");
    let still_running = sys::waitpid(ret, true)?.is_none();
    say("----over----");
    let parent_late = (now_ns() - forked_at) as f64 / 1e9 - scaled_s(3.0);
    // The parent's part is over; in the notes its process ends here and the shell prompt returns while
    // the child still runs. Here the demo reaps the child (quietly) so it can check the transcript.
    let (pid, st) = sys::waitpid(ret, false)?.ok_or("waitpid returned nothing")?;
    ctx.fact("parent_pid", me);
    ctx.fact("child_pid", ret);
    ctx.fact("fork_returned_in_child", seen_ret.get());
    ctx.fact("child_ppid", seen_ppid.get());
    ctx.check(ret > 0, "fork returned the child's pid (> 0) in the parent");
    ctx.check(seen_ret.get() == 0, "fork returned 0 in the child");
    ctx.check(seen_ppid.get() == me, "the child's ppid is the parent's pid");
    ctx.check(
        pid == ret && st == WaitStatus::Exited(0),
        "the child was reaped with exit code 0",
    );
    let lines = ctx.lines();
    let over: Vec<u32> = lines.with("----over----").iter().map(|l| l.pid).collect();
    let mains: Vec<u32> = lines.iter().filter(|l| l.text == "main").map(|l| l.pid).collect();
    ctx.fact("over_pids", over.clone());
    ctx.check(
        mains.len() == 2 && mains.contains(&me) && mains.contains(&(ret as u32)),
        "\"main\" is printed by both processes (the code after fork runs in both)",
    );
    ctx.check(
        over.len() == 2 && over.contains(&me) && over.contains(&(ret as u32)),
        "each process prints its own ----over---- (parent and child)",
    );
    let child_end = lines.pos("---子进程---end");
    let parent_over = lines.iter().position(|l| l.pid == me && l.text == "----over----");
    // The notes: the parent (3 s) ends before the child (5 s): 进程退出彼此没有关系.
    let late = (parent_late > scaled_s(1.0)).then(|| format!("the parent's 3 s took {parent_late:.3} s longer"));
    ctx.check_timed(
        still_running && parent_over.is_some() && child_end.is_some() && parent_over < child_end,
        late,
        "the parent finished (3 s) while the child still ran (5 s): exits are independent",
    );
    Ok(())
}

fn run_isolation(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    static mut G_NUM: i32 = 100;
    let childs_view = ShmCell::new(0i32)?;
    let view2 = childs_view.clone();
    let forked_at = now_ns();
    // SAFETY: single-threaded; the child only touches its own copy of G_NUM and shared memory.
    match unsafe { sys::fork() }? {
        ForkResult::Child => {
            say("子进程");
            // SAFETY: the child's private copy of the static; single-threaded.
            let v = unsafe {
                G_NUM += 1;
                G_NUM
            };
            say(format!("g_num = {v}"));
            view2.set(v);
            sys::child_exit(0)
        }
        ForkResult::Parent { child } => {
            // The notes' parent sleeps 3 s (it does not wait for the child) and then prints.
            std::thread::sleep(scaled(3.0));
            say("父进程");
            // SAFETY: single-threaded read of our own static.
            let v = unsafe { G_NUM };
            say(format!("g_num = {v} =="));
            sys::waitpid(child, false)?;
            ctx.fact("parent_g_num", v);
            ctx.fact("child_g_num", childs_view.get());
            ctx.check(v == 100, "the parent's g_num is still 100");
            ctx.check(childs_view.get() == 101, "the child saw its own increment (101)");
            let lines = ctx.lines();
            let me = std::process::id();
            let child_line = lines.iter().find(|l| l.text == "g_num = 101");
            let parent_line = lines.pos("g_num = 100 ==");
            ctx.check(
                child_line.is_some_and(|l| l.pid == child as u32)
                    && lines.with("g_num = 100 ==").iter().all(|l| l.pid == me),
                "each process printed its own g_num",
            );
            let child_pos = lines.pos("g_num = 101");
            // The child prints at once; only a child scheduled more than 3 s late comes after the parent.
            let late = child_line
                .map(|l| secs_after(l, forked_at))
                .filter(|&d| d > scaled_s(3.0))
                .map(|d| format!("the child printed {d:.3} s after the fork"));
            ctx.check_timed(
                child_pos.is_some() && child_pos < parent_line,
                late,
                "the child's lines come first; the parent prints after its 3 s sleep",
            );
        }
    }
    Ok(())
}

fn run_tree(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    // One slot per process: index = 2 * (child of the first fork) + (child of the second fork).
    let slots: Vec<ShmCell<u32>> = (0..4).map(|_| ShmCell::new(0u32)).collect::<Result<_, _>>()?;
    let root = std::process::id();
    // SAFETY: single-threaded; every child prints, records its pid in its own slot, and exits.
    let first = unsafe { sys::fork() }?;
    say(if first == ForkResult::Child {
        "---1---"
    } else {
        "---2---"
    });
    // SAFETY: as above (each of the two processes forks once more).
    let second = unsafe { sys::fork() }?;
    say(if second == ForkResult::Child {
        "---1---"
    } else {
        "---2---"
    });
    let idx = 2 * usize::from(first == ForkResult::Child) + usize::from(second == ForkResult::Child);
    slots[idx].set(std::process::id());
    if let ForkResult::Parent { child } = second {
        sys::waitpid(child, false)?;
    }
    if std::process::id() != root {
        sys::child_exit(0);
    }
    if let ForkResult::Parent { child } = first {
        sys::waitpid(child, false)?;
    }
    let pids: std::collections::BTreeSet<u32> = slots.iter().map(|s| s.get()).collect();
    say(format!("four processes reported: {pids:?}"));
    ctx.fact("pids", pids.iter().copied().collect::<Vec<_>>());
    ctx.check(
        pids.len() == 4 && !pids.contains(&0),
        "four distinct processes, each reported once",
    );
    // The notes' output: six lines, three ---1--- and three ---2---; the first process prints twice
    // (---2--- after each fork), the first child twice (---1---, then ---2---), the two newest once.
    let lines = ctx.lines();
    let marks: Vec<&super::Line> = lines
        .iter()
        .filter(|l| l.text == "---1---" || l.text == "---2---")
        .collect();
    let ones = marks.iter().filter(|l| l.text == "---1---").count();
    let mut per_pid: Vec<usize> = pids
        .iter()
        .map(|p| marks.iter().filter(|l| l.pid == *p).count())
        .collect();
    per_pid.sort();
    ctx.fact("lines", marks.iter().map(|l| l.text.clone()).collect::<Vec<_>>());
    ctx.fact("lines_per_process", per_pid.clone());
    ctx.check(
        marks.len() == 6 && ones == 3 && per_pid == [1, 1, 2, 2],
        "six lines as in the notes: three ---1---, three ---2---; each process printed its own",
    );
    Ok(())
}
