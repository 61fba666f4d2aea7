//! Seed 001 "进程池" and seed 004 "进程池": `Pool(3)` runs ten `apply_async` tasks with only three
//! pids; blocking `apply`; `map`; return values with `get`; `close`/`join`.

use super::transcript::now_ns;
use super::{say, scaled, scaled_s, Ctx, Demo, Lines};
use ringfork::Pool;
use std::collections::BTreeSet;
use std::time::Instant;

pub const DEMO: Demo = Demo {
    name: "pool",
    summary: "Pool(3): ten apply_async tasks run by only three pids; apply waits; Pool(4): nine 2 s tasks in waves",
    seed: "001 进程池 / 004 进程池",
    run,
};

/// The notes' `worker(msg)`: report, sleep a pseudo-random while, report the time taken.
fn worker(msg: u32) -> u32 {
    let start = Instant::now();
    say(format!("{msg}开始执行，进程号{}", std::process::id()));
    // The notes sleep random.random() * 2 seconds; a fixed pseudo-random sequence keeps runs comparable.
    std::thread::sleep(scaled(f64::from((msg * 37 + 11) % 10) / 10.0 * 2.0));
    say(format!("{msg} 执行完毕，耗时{:.2}", start.elapsed().as_secs_f64()));
    std::process::id()
}

/// Seed 004's `worker(msg)`: sleep 2 s, print the message, return the time (`ctime()`).
fn hello(msg: u32) -> u64 {
    std::thread::sleep(scaled(2.0));
    say(format!("Hello {msg}"));
    now_ns()
}

fn square(x: u64) -> u64 {
    x * x
}

/// The pid that printed the first line containing `pat`, and where.
fn who(lines: &[super::Line], pat: &str) -> Option<(usize, u32)> {
    lines
        .iter()
        .position(|l| l.text.contains(pat))
        .map(|i| (i, lines[i].pid))
}

fn run(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let me = std::process::id();
    // Seed 001: ten apply_async tasks on Pool(3); ---start--- at once; close, join, ---end---.
    let po = Pool::new(3)?; // 定义进程池，最大进程数为3
    let results: Vec<_> = (0..10).map(|i| po.apply_async(worker, i)).collect::<Result<_, _>>()?;
    say("---start---"); // 主进程不会主动等待子进程结束
    po.close(); // 关闭进程池，关闭后po不再接受新的请求
    ctx.check(po.apply_async(square, 1).is_err(), "a closed pool refuses new tasks");
    po.join()?; // 等待po中所有子进程执行完成，必须放在close语句之后
    say("---end---");
    let pids: BTreeSet<u32> = results.iter().map(|r| r.get()).collect::<Result<_, _>>()?;
    say(format!("the ten tasks ran in {} process(es): {pids:?}", pids.len()));
    ctx.fact("distinct_pids", pids.len());
    ctx.fact("pids", pids.iter().copied().collect::<Vec<_>>());
    ctx.check(
        !pids.is_empty() && pids.len() <= 3,
        "only the pool's three processes ran tasks (进程pid只有三个)",
    );
    ctx.check(!pids.contains(&me), "no task ran in the parent");
    let lines = ctx.lines();
    let each_own = (0..10).all(|i| {
        let (s, e) = (
            who(&lines, &format!("{i}开始执行")),
            who(&lines, &format!("{i} 执行完毕")),
        );
        matches!((s, e), (Some((si, sp)), Some((ei, ep))) if sp == ep && si < ei && pids.contains(&sp))
    });
    ctx.check(
        each_own,
        "each task printed its own 开始执行 and 执行完毕 lines, from its worker",
    );
    let start_pos = lines.iter().position(|l| l.pid == me && l.text == "---start---");
    let end_pos = lines.iter().position(|l| l.pid == me && l.text == "---end---");
    ctx.check(
        start_pos.is_some() && start_pos < lines.last_pos("执行完毕") && lines.last_pos("执行完毕") < end_pos,
        "---start--- comes while the tasks run (apply_async does not wait); ---end--- after all of them (join)",
    );
    let order: Vec<u32> = lines
        .with("开始执行")
        .iter()
        .filter_map(|l| l.text.split("开始执行").next()?.parse().ok())
        .collect();
    ctx.fact("start_order", order);

    // 堵塞方式: apply waits for each task, so the next one starts only after the previous ended.
    let po = Pool::new(3)?;
    say("堵塞方式: po.apply(worker, (i,))");
    for i in 10..13 {
        po.apply(worker, i)?;
    }
    let lines = ctx.lines();
    let serial = (10..12).all(|i| {
        who(&lines, &format!("{i} 执行完毕")).map(|x| x.0) < who(&lines, &format!("{}开始执行", i + 1)).map(|x| x.0)
    });
    ctx.check(
        serial,
        "with apply, each task starts only after the previous one finished",
    );
    let v = po.apply(square, 12)?;
    say(format!("apply(square, 12) = {v}"));
    ctx.fact("apply_result", v);
    ctx.check(v == 144, "apply returned the task's value");
    let m = po.map(square, 0..10u64)?;
    say(format!("map(square, 0..10) = {m:?}"));
    ctx.fact("map_result", m.clone());
    ctx.check(
        m == (0..10u64).map(|x| x * x).collect::<Vec<_>>(),
        "map keeps the input order",
    );
    let r = po.apply_async(square, 9)?;
    po.close();
    po.join()?;
    ctx.check(r.get()? == 81, "get() returns the value after join");

    // Seed 004: Pool(4), nine tasks of 2 s each: they finish in waves of four, four and one
    // (2 s, 4 s, 6 s); print(r.get()) shows the last task's time.
    let pool = Pool::new(4)?;
    let t0 = now_ns();
    let rs: Vec<_> = (0..9).map(|i| pool.apply_async(hello, i)).collect::<Result<_, _>>()?;
    pool.close();
    pool.join()?;
    let mut done: Vec<f64> = rs
        .iter()
        .map(|r| r.get().map(|t| (t.saturating_sub(t0)) as f64 / 1e9))
        .collect::<Result<_, _>>()?;
    let last = done.last().copied().unwrap_or(0.0);
    say(format!(
        "r.get() = +{last:.2} s (the last task's ctime, since the first apply_async)"
    ));
    done.sort_by(f64::total_cmp);
    ctx.fact("wave_done_s", done.clone());
    // By time m x 2 s at most 4m tasks can have finished: the k-th finish is at >= (k/4 + 1) x 2 s.
    ctx.check(
        done.len() == 9
            && done
                .iter()
                .enumerate()
                .all(|(k, d)| *d >= ((k / 4) as f64 + 1.0) * scaled_s(2.0) * 0.99),
        "nine 2 s tasks on four workers finish in waves: 4 by 2 s, 8 by 4 s, the last at >= 6 s",
    );
    let lines = ctx.lines();
    ctx.check(
        (0..9).all(|i| who(&lines, &format!("Hello {i}")).is_some_and(|(_, p)| p != me)),
        "each task printed its Hello from a worker",
    );
    Ok(())
}
