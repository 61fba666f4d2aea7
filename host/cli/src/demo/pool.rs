//! Seed 001 "进程池" and seed 004 "进程池": `Pool(3)` runs ten `apply_async` tasks with only three
//! pids; blocking `apply`; `map`; return values with `get`; `close`/`join`.

use super::{say, scaled, Ctx, Demo};
use ringfork::Pool;
use std::collections::BTreeSet;
use std::time::Instant;

pub const DEMO: Demo = Demo {
    name: "pool",
    summary: "Pool(3): ten apply_async tasks run by only three pids; apply, map, get, close/join",
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

fn square(x: u64) -> u64 {
    x * x
}

fn run(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let po = Pool::new(3)?; // 定义进程池，最大进程数为3
    let results: Vec<_> = (0..10).map(|i| po.apply_async(worker, i)).collect::<Result<_, _>>()?;
    say("---start---");
    let pids: BTreeSet<u32> = results.iter().map(|r| r.get()).collect::<Result<_, _>>()?;
    say(format!("the ten tasks ran in {} process(es): {pids:?}", pids.len()));
    ctx.fact("distinct_pids", pids.len());
    ctx.fact("pids", pids.iter().copied().collect::<Vec<_>>());
    ctx.check(
        !pids.is_empty() && pids.len() <= 3,
        "only the pool's three processes ran tasks",
    );
    ctx.check(!pids.contains(&std::process::id()), "no task ran in the parent");

    say("堵塞方式: apply waits for its task before the next line runs");
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
    po.close(); // 关闭进程池，关闭后po不再接受新的请求
    ctx.check(po.apply_async(square, 1).is_err(), "a closed pool refuses new tasks");
    po.join()?; // 等待po中所有子进程执行完成，必须放在close语句之后
    say(format!("r.get() = {}", r.get()?));
    ctx.check(r.get()? == 81, "get() returns the value after join");
    say("---end---");
    Ok(())
}
