//! Seed 001 "fork(子进程)" / "getpid、getppid()" / "变量共享" / "多个fork", seed 002 "使用fork创建进程":
//! `fork` returns twice, the child's copy of memory is its own, and two forks make four processes.

use super::{say, Ctx, Demo};
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
    summary: "two successive forks make four processes, each printing once",
    seed: "001 多个fork",
    run: run_tree,
};

fn run_fork(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let seen_ret = ShmCell::new(u32::MAX)?; // what fork returned in the child
    let seen_ppid = ShmCell::new(0u32)?;
    let me = std::process::id();
    let (ret2, ppid2) = (seen_ret.clone(), seen_ppid.clone());
    // SAFETY: the demo is single-threaded here; the child only prints, sleeps and exits.
    let ret = match unsafe { sys::fork() }? {
        ForkResult::Child => {
            ret2.set(0);
            ppid2.set(sys::getppid());
            say("main"); // 父子进程都执行
            say(format!("--子进程--{}--{}", sys::getpid(), sys::getppid()));
            say("---子进程---start");
            std::thread::sleep(super::scaled(5.0));
            say("---子进程---end");
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
    std::thread::sleep(super::scaled(3.0));
    say("---父进程---end (the child is still running: exits are independent)");
    let still_running = sys::waitpid(ret, true)?.is_none();
    let (pid, st) = sys::waitpid(ret, false)?.ok_or("waitpid returned nothing")?;
    say("----over----");
    ctx.fact("parent_pid", me);
    ctx.fact("child_pid", ret);
    ctx.fact("fork_returned_in_child", seen_ret.get());
    ctx.fact("child_ppid", seen_ppid.get());
    ctx.check(ret > 0, "fork returned the child's pid (> 0) in the parent");
    ctx.check(seen_ret.get() == 0, "fork returned 0 in the child");
    ctx.check(seen_ppid.get() == me, "the child's ppid is the parent's pid");
    ctx.check(still_running, "the parent finished its part while the child still ran");
    ctx.check(
        pid == ret && st == WaitStatus::Exited(0),
        "the child was reaped with exit code 0",
    );
    Ok(())
}

fn run_isolation(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    static mut G_NUM: i32 = 100;
    let childs_view = ShmCell::new(0i32)?;
    let view2 = childs_view.clone();
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
            sys::waitpid(child, false)?;
            say("父进程");
            // SAFETY: single-threaded read of our own static.
            let v = unsafe { G_NUM };
            say(format!("g_num = {v} =="));
            ctx.fact("parent_g_num", v);
            ctx.fact("child_g_num", childs_view.get());
            ctx.check(v == 100, "the parent's g_num is still 100");
            ctx.check(childs_view.get() == 101, "the child saw its own increment (101)");
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
    Ok(())
}
