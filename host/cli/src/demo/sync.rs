//! Seed 003 "互斥锁", "模拟抢票", seed 002 "共享内存 / Value, Array" and the pipe/queue/shared-memory
//! comparison, seed 002/004 "Event": locks make concurrent work serial where it must be; shared
//! values need them; events signal between processes.

use super::transcript::{now_ns, secs_after};
use super::{say, scaled, scaled_s, Ctx, Demo, Lines};
use ringfork::process::Process;
use ringfork::{pipe, Array, Event, Lock, Queue, RawValue, Value};
use std::time::{Duration, Instant};

pub const MUTEX: Demo = Demo {
    name: "mutex",
    summary: "three processes print their three lines without interleaving, thanks to the Lock",
    seed: "003 互斥锁",
    run: run_mutex,
};

pub const TICKETS: Demo = Demo {
    name: "tickets",
    summary: "ten buyers, one ticket in db.json: search without the lock, buy under it; --no-lock oversells",
    seed: "003 练习一：模拟抢票",
    run: run_tickets,
};

pub const SHAREDMEM: Demo = Demo {
    name: "sharedmem",
    summary: "Value and Array changed by children; lost updates without the lock; pipe vs queue vs shared memory",
    seed: "002 共享内存 (Value, Array) and the comparison table",
    run: run_sharedmem,
};

pub const EVENT: Demo = Demo {
    name: "event",
    summary: "one process waits on an Event another sets",
    seed: "002 Event; 004 进程间同步",
    run: run_event,
};

fn run_mutex(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let mentu = Lock::new(())?;
    let mut ps = Vec::new();
    for i in 0..3u32 {
        let mentu = mentu.clone();
        let mut p = Process::new(move || {
            let Ok(_guard) = mentu.lock() else { return }; // 加锁 (released when the guard drops: 解锁)
                                                           // The notes' sleeps: 1 s, 2 s, 3 s under the lock (all divided alike by --quick).
            for (line, secs) in [(1, 1.0), (2, 2.0), (3, 3.0)] {
                say(format!("进程{i} {line}"));
                std::thread::sleep(scaled(secs));
            }
        });
        p.start()?;
        ps.push(p);
    }
    for p in &ps {
        p.join()?;
    }
    let lines: Vec<super::Line> = ctx.lines().into_iter().filter(|l| l.text.starts_with("进程")).collect();
    let grouped = lines.len() == 9
        && lines.chunks(3).all(|c| {
            c.iter()
                .all(|l| l.pid == c[0].pid && l.text[..l.text.len() - 2] == c[0].text[..c[0].text.len() - 2])
        })
        && lines.chunks(3).all(|c| {
            c.iter()
                .map(|l| l.text.chars().last())
                .eq([Some('1'), Some('2'), Some('3')])
        });
    ctx.fact("lines", lines.iter().map(|l| l.text.clone()).collect::<Vec<_>>());
    ctx.check(
        grouped,
        "each process printed its three lines together, 1 2 3 (并发变成了串行)",
    );
    // Gaps: 1 s between line 1 and 2, 2 s between 2 and 3, and the next holder starts >= 3 s after
    // line 3 (the holder sleeps 3 s before it releases). Sleeps last at least as long as asked, so
    // these lower bounds hold however busy the machine is.
    let gaps: Vec<f64> = lines.windows(2).map(|w| w[1].t - w[0].t).collect();
    ctx.fact("gaps_s", gaps.clone());
    let want: Vec<f64> = (0..gaps.len()).map(|k| scaled_s([1.0, 2.0, 3.0][k % 3])).collect();
    ctx.check(
        gaps.len() == 8 && gaps.iter().zip(&want).all(|(g, w)| *g >= w * 0.99),
        "the lines are 1, 2, then 3 units apart, and the next process waits out the 3 under the lock",
    );
    Ok(())
}

fn read_count(path: &std::path::Path) -> i64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["count"].as_i64())
        .unwrap_or(-999)
}

fn run_tickets(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let locked = std::env::var_os("RINGFORK_DEMO_NO_LOCK").is_none();
    let dir = std::env::temp_dir().join(format!("ringfork-tickets-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("db.json");
    std::fs::write(&db, r#"{"count": 1}"#)?; // 把文件db.json的内容重置为：{"count":1}
    let mutex = Lock::new(())?;
    let sold = ringfork::RawValue::new(0u32)?;
    let started = now_ns();
    let mut buyers = Vec::new();
    for i in 0..10 {
        let (mutex, sold, db) = (mutex.clone(), sold.clone(), db.clone());
        let mut p = Process::new(move || {
            let name = format!("路人{i}");
            // search(name): sleep 1 s, then look (no lock needed to look)
            std::thread::sleep(scaled(1.0));
            say(format!("<{name}>查看到剩余票数{{{}}}", read_count(&db)));
            // with mutex: get(name) -- sleep 1 s, read, buy if one is left
            let guard = if locked { mutex.lock().ok() } else { None };
            std::thread::sleep(scaled(1.0));
            let count = read_count(&db);
            if count > 0 {
                if !locked {
                    // --no-lock only (not in the notes): paying takes a moment, which makes the race
                    // between reading and writing the file easy to see.
                    std::thread::sleep(scaled(0.2));
                }
                let _ = std::fs::write(&db, format!(r#"{{"count": {}}}"#, count - 1));
                say(format!("<{name}> 购票成功!"));
                sold.fetch_add(1);
            } else {
                say("没有足够的票!");
            }
            drop(guard);
        });
        p.start()?;
        buyers.push(p);
    }
    let start_took = (now_ns() - started) as f64 / 1e9;
    for p in &buyers {
        p.join()?;
    }
    let took = (now_ns() - started) as f64 / 1e9;
    let left = read_count(&db);
    let n = sold.load();
    say(format!(
        "{n} ticket(s) sold, db.json says {left} left ({}); {took:.2} s in all",
        if locked { "with the lock" } else { "WITHOUT the lock" }
    ));
    ctx.fact("locked", locked);
    ctx.fact("sold", n);
    ctx.fact("left", left);
    ctx.fact("took_s", took);
    let lines = ctx.lines();
    let saw: Vec<&str> = lines
        .with("查看到剩余票数")
        .iter()
        .map(|l| if l.text.ends_with("{1}") { "1" } else { "0" })
        .collect();
    let last_search = lines
        .with("查看到剩余票数")
        .iter()
        .map(|l| secs_after(l, started))
        .fold(0.0f64, f64::max);
    ctx.fact("searches_saw_one", saw.iter().filter(|s| **s == "1").count());
    if locked {
        ctx.check(
            n == 1 && left == 0,
            "exactly one buyer succeeded and the file ends at 0",
        );
        ctx.check(
            lines.with("购票成功").len() == 1 && lines.with("没有足够的票").len() == 9,
            "one 购票成功!, nine 没有足够的票!, each printed by its buyer",
        );
        // Everyone searches at 1 s, the first purchase is at 2 s: all ten see the one ticket (the
        // notes' output). Only buyers started more than 1 s late could see 0.
        ctx.check_timed(
            saw.len() == 10 && saw.iter().all(|s| *s == "1"),
            (last_search > scaled_s(1.9)).then(|| {
                format!("a search planned at 1 s ran at {last_search:.3} s (starting took {start_took:.3} s)")
            }),
            "every buyer's search (at 1 s) saw the one ticket; purchases (from 2 s) come after",
        );
        // The purchases are serial: ten times 1 s under the lock, after the 1 s search.
        ctx.check(
            took >= scaled_s(11.0) * 0.99,
            "the lock made the ten 1 s purchases serial (>= 11 s in all, scaled)",
        );
    } else {
        say("without the lock, several buyers can see the last ticket and all \"buy\" it (overselling)");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn run_sharedmem(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    // Value and Array: changes made by a child are seen by the parent.
    let num = Value::new(0.0f64)?;
    let arr = Array::new(&[1i64, 2, 3, 4, 5])?;
    let (n2, a2) = (num.clone(), arr.clone());
    let mut p = Process::new(move || {
        let _ = n2.set(std::f64::consts::PI);
        let _ = a2.with_lock(|a| a.iter_mut().for_each(|x| *x = -*x));
        say(format!(
            "child {}: set num.value = π and negated arr",
            std::process::id()
        ));
    });
    p.start()?;
    p.join()?;
    let (v, a) = (
        num.get().map_err(|_| "value lock")?,
        arr.to_vec().map_err(|_| "array lock")?,
    );
    say(format!("num.value = {v}, arr = {a:?} (changed by child {:?})", p.pid()));
    ctx.check(
        v == std::f64::consts::PI && a == vec![-1, -2, -3, -4, -5],
        "the parent sees the child's changes",
    );

    // Lost updates: four processes add 1 a million times (quick: 50 000), without and with the lock.
    let per: u64 = if ctx.quick { 50_000 } else { 1_000_000 };
    let racy = RawValue::new(0u64)?;
    let safe = Value::new(0u64)?;
    let mut ps = Vec::new();
    for _ in 0..4 {
        let (racy, safe) = (racy.clone(), safe.clone());
        let mut p = Process::new(move || {
            for _ in 0..per {
                racy.set(racy.get() + 1); // read, add, write: not atomic
                let _ = safe.with_lock(|v| *v += 1);
            }
        });
        p.start()?;
        ps.push(p);
    }
    for p in &ps {
        p.join()?;
    }
    let (r, s) = (racy.get(), safe.get().map_err(|_| "value lock")?);
    say(format!(
        "4 x {per} increments: without a lock {r} (lost {}), with the lock {s}",
        4 * per - r
    ));
    ctx.fact("expected", 4 * per);
    ctx.fact("without_lock", r);
    ctx.fact("with_lock", s);
    ctx.check(s == 4 * per, "with the lock the count is exact");

    // The notes' comparison table, measured: move N numbers from a child to the parent.
    let n: u64 = if ctx.quick { 20_000 } else { 200_000 };
    let (mut rx, mut tx) = pipe(false)?;
    let t = Instant::now();
    let mut p = Process::new(move || {
        for i in 0..n {
            let _ = tx.send_plain(&i);
        }
    });
    p.start()?;
    let mut ok = true;
    for i in 0..n {
        ok &= rx.recv_plain::<u64>().ok() == Some(i);
    }
    p.join()?;
    let pipe_rate = n as f64 / t.elapsed().as_secs_f64();
    let q = Queue::<u64>::new(1024)?;
    let t = Instant::now();
    let q2 = q.clone();
    let mut p = Process::new(move || {
        for i in 0..n {
            let _ = q2.put(i);
        }
    });
    p.start()?;
    for i in 0..n {
        ok &= q.get().ok() == Some(i);
    }
    p.join()?;
    let queue_rate = n as f64 / t.elapsed().as_secs_f64();
    let shm = Array::new(&vec![0u64; n as usize])?;
    let t = Instant::now();
    let s2 = shm.clone();
    let mut p = Process::new(move || {
        let _ = s2.with_lock(|a| a.iter_mut().enumerate().for_each(|(i, x)| *x = i as u64));
    });
    p.start()?;
    p.join()?;
    let v = shm.to_vec().map_err(|_| "array lock")?;
    let shm_rate = n as f64 / t.elapsed().as_secs_f64();
    ok &= v.iter().enumerate().all(|(i, x)| *x == i as u64);
    say(format!(
        "{:<14} {:>10} {:>12} {:>14}",
        "", "pipe", "queue", "shared memory"
    ));
    say(format!(
        "{:<14} {:>10} {:>12} {:>14}",
        "读写方式", "send/recv", "put/get", "direct"
    ));
    say(format!(
        "{:<14} {:>10.2} {:>12.2} {:>14.2}",
        "M numbers/s",
        pipe_rate / 1e6,
        queue_rate / 1e6,
        shm_rate / 1e6
    ));
    say(format!("{:<14} {:>10} {:>12} {:>14}", "需要互斥", "no", "no", "yes"));
    ctx.fact("pipe_mps", pipe_rate / 1e6);
    ctx.fact("queue_mps", queue_rate / 1e6);
    ctx.fact("shm_mps", shm_rate / 1e6);
    ctx.check(ok, "every mechanism delivered every number intact");
    Ok(())
}

fn run_event(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let e = Event::new()?;
    let before = e.wait_timeout(Duration::from_millis(50));
    say(format!("wait(0.05) before anyone sets the event: {before}"));
    let e2 = e.clone();
    let mut setter = Process::new(move || {
        std::thread::sleep(scaled(2.0));
        say(format!("{} sets the event", std::process::id()));
        e2.set();
    });
    let t = Instant::now();
    setter.start()?;
    let got = e.wait_timeout(Duration::from_secs(10));
    say(format!(
        "the waiter woke after {:.2} s: is_set() = {}",
        t.elapsed().as_secs_f64(),
        e.is_set()
    ));
    setter.join()?;
    e.clear();
    let lines = ctx.lines();
    let set_line = lines
        .iter()
        .position(|l| Some(l.pid) == setter.pid() && l.text.ends_with("sets the event"));
    ctx.check(
        set_line.is_some() && set_line < lines.pos("the waiter woke"),
        "the setter printed its own line, then the waiter woke",
    );
    ctx.fact("woke", got);
    ctx.check(
        !before && got && !e.is_set(),
        "wait timed out before set, returned after it; clear() resets",
    );
    Ok(())
}
