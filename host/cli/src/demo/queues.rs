//! Seed 001 "进程间通信(Queue)", seed 002 "管道 / 消息队列", seed 003 "队列的使用", "生产者与消费者模型",
//! "JoinableQueue": `Queue(3)` full and empty, producers and consumers with sentinels, the same with
//! `JoinableQueue`, duplex and simplex pipes, and pool workers writing to a queue created before the
//! pool (the notes' `Manager().Queue()`).

use super::transcript::{now_ns, secs_after};
use super::{say, scaled, scaled_s, Ctx, Demo, Lines};
use ringfork::process::Process;
use ringfork::{pipe, JoinableQueue, Pool, PopError, PushError, Queue};
use ringfork_core::payload::FixedStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const QUEUE: Demo = Demo {
    name: "queue",
    summary: "Queue(3): put until full, put_nowait on a full queue, get until empty, get with a timeout",
    seed: "001 进程间通信(Queue); 003 队列的使用",
    run: run_queue,
};

pub const PRODCONS: Demo = Demo {
    name: "prodcons",
    summary: "three producers, two consumers, a None sentinel per consumer; every 包子 eaten once",
    seed: "003 生产者与消费者模型; 000 生产者消费者",
    run: run_prodcons,
};

pub const JOINABLE: Demo = Demo {
    name: "joinable",
    summary: "JoinableQueue: daemon consumers call task_done, producers join() until all is eaten",
    seed: "003 JoinableQueue",
    run: run_joinable,
};

pub const PIPE: Demo = Demo {
    name: "pipe",
    summary: "Pipe(): duplex send/recv both ways, a simplex pipe's read end cannot send, poll with a timeout",
    seed: "002 管道; 004 Pipe",
    run: run_pipe,
};

pub const POOL_QUEUE: Demo = Demo {
    name: "poolqueue",
    summary: "pool workers put results on a Queue created before the pool; the parent reads them",
    seed: "001 进程池使用进程间通信 (Manager().Queue())",
    run: run_pool_queue,
};

type Msg = FixedStr<32>;

fn msg(s: &str) -> Msg {
    FixedStr::new(s).unwrap_or_default()
}

fn run_queue(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<u32>::new(3)?;
    for i in 1..=3 {
        q.put(i)?;
    }
    say(format!("put 1, 2, 3: full() = {}, qsize() = {}", q.full(), q.qsize()));
    ctx.check(q.full(), "Queue(3) is full after three puts");
    let fourth = q.try_put(4);
    say(format!(
        "put_nowait(4) on a full queue: {fourth:?} (Python raises queue.Full: 消息列队已满)"
    ));
    ctx.check(
        fourth == Err(PushError::Full),
        "put_nowait on a full queue fails with Full",
    );
    let t = Instant::now();
    let timed = q.put_timeout(4, Duration::from_millis(100));
    ctx.check(
        timed == Err(PushError::TimedOut) && t.elapsed() >= Duration::from_millis(100),
        "put(timeout) on a full queue times out",
    );
    let got: Vec<u32> = (0..3).map(|_| q.get()).collect::<Result<_, _>>()?;
    say(format!("get x3 = {got:?}; empty() = {}", q.empty()));
    ctx.fact("got", got.clone());
    ctx.check(got == vec![1, 2, 3] && q.empty(), "first in, first out; then empty");
    ctx.check(
        q.try_get() == Err(PopError::Empty),
        "get_nowait on an empty queue fails with Empty",
    );
    let t = Instant::now();
    let r = q.get_timeout(Duration::from_millis(100));
    let waited = t.elapsed();
    say(format!(
        "get(timeout=0.1) on an empty queue: {r:?} after {:.3} s",
        waited.as_secs_f64()
    ));
    ctx.check(
        r == Err(PopError::TimedOut) && waited >= Duration::from_millis(100),
        "get(timeout) waits, then times out",
    );
    // Across processes: a child puts, the parent gets.
    let q2 = q.clone();
    let mut p = Process::new(move || {
        let _ = q2.put(99);
    });
    p.start()?;
    let v = q.get_timeout(Duration::from_secs(10))?;
    p.join()?;
    ctx.check(v == 99, "a value put by a child arrives in the parent");
    Ok(())
}

fn producer(q: &Queue<Msg>, name: &str, n: u32) {
    for i in 0..n {
        std::thread::sleep(scaled(0.5));
        let res = format!("包子{i}");
        say(format!("{name} 生产者生产了{res}"));
        let _ = q.put(msg(&format!("{name}:{res}")));
    }
}

fn run_prodcons(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<Msg>::new(64)?; // 容器
    let eaten = Queue::<Msg>::new(64)?;
    let mut producers: Vec<Process> = (1..=3)
        .map(|k| {
            let q = q.clone();
            Process::new(move || producer(&q, &format!("p{k}"), 3)).name(format!("p{k}"))
        })
        .collect();
    let mut consumers: Vec<Process> = (1..=2)
        .map(|k| {
            let (q, eaten) = (q.clone(), eaten.clone());
            Process::new(move || {
                while let Ok(res) = q.get() {
                    if res.as_bytes().is_empty() {
                        break; // None: the end
                    }
                    std::thread::sleep(scaled(1.0));
                    say(format!("c{k} 消费者吃了{}", res.to_str_lossy_prefix()));
                    let _ = eaten.put(res);
                }
            })
            .name(format!("c{k}"))
        })
        .collect();
    let started = now_ns();
    for p in producers.iter_mut().chain(consumers.iter_mut()) {
        p.start()?;
    }
    for p in &producers {
        p.join()?;
    }
    q.put(msg(""))?; // one None per consumer: "相当low", as the notes say
    q.put(msg(""))?;
    let main_at = now_ns();
    say("主"); // the notes' main ends here; the consumers are still eating
    for c in &consumers {
        c.join()?; // (Python's main waits for its children at exit)
    }
    let mut all = Vec::new();
    while let Ok(m) = eaten.try_get() {
        all.push(m.to_str_lossy_prefix().to_owned());
    }
    all.sort();
    let unique: std::collections::BTreeSet<_> = all.iter().cloned().collect();
    ctx.fact("eaten", all.len());
    ctx.fact("unique", unique.len());
    ctx.check(
        all.len() == 9 && unique.len() == 9,
        "all nine 包子 were eaten, each exactly once",
    );
    let lines = ctx.lines();
    let pids = |ps: &[Process]| -> Vec<u32> { ps.iter().filter_map(|p| p.pid()).collect() };
    let (pp, cp) = (pids(&producers), pids(&consumers));
    let made = lines.with("生产者生产了");
    let ate = lines.with("消费者吃了");
    ctx.check(
        made.len() == 9
            && made.iter().all(|l| pp.contains(&l.pid))
            && ate.len() == 9
            && ate.iter().all(|l| cp.contains(&l.pid)),
        "each producer printed its own 生产了 lines and each consumer its own 吃了 lines",
    );
    // Producers finish after 3 x 0.5 s; eating nine 包子 at 1 s each on two consumers takes >= 5 s:
    // 主 is printed while the consumers are still eating, as in the notes.
    let main_pos = lines.pos("主");
    ctx.fact("eaten_after_main", ate.iter().filter(|l| l.t_ns > main_at).count());
    // Only producers slowed down past the consumers' schedule (a busy machine) could reverse that.
    let produced_in = made.last().map(|l| secs_after(l, started)).unwrap_or(0.0);
    let late = (produced_in > scaled_s(4.0)).then(|| format!("the producers' 1.5 s took {produced_in:.3} s"));
    ctx.check_timed(
        main_pos.is_some() && main_pos < lines.last_pos("消费者吃了"),
        late,
        "主 is printed before the consumers have finished (main does not wait for them)",
    );
    Ok(())
}

fn run_joinable(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let q = JoinableQueue::<Msg>::new(64)?;
    let mut producers: Vec<Process> = (1..=3)
        .map(|k| {
            let q = q.clone();
            Process::new(move || {
                for i in 0..2 {
                    std::thread::sleep(scaled(0.5));
                    say(format!("p{k} 生产者生产了包子{i}"));
                    let _ = q.put(msg(&format!("p{k}:包子{i}")));
                }
                q.join(); // wait until every item has been processed
                say(format!("p{k}: everything I made was eaten"));
            })
            .name(format!("p{k}"))
        })
        .collect();
    let mut consumers: Vec<Process> = (1..=2)
        .map(|k| {
            let q = q.clone();
            Process::new(move || {
                while let Ok(res) = q.get() {
                    std::thread::sleep(scaled(1.0));
                    say(format!("c{k} 消费者吃了{}", res.to_str_lossy_prefix()));
                    let _ = q.task_done();
                }
            })
            .name(format!("c{k}"))
            .daemon(true) // c1.daemon = True: they die with the main code
        })
        .collect();
    for p in producers.iter_mut().chain(consumers.iter_mut()) {
        p.start()?;
    }
    for p in &producers {
        p.join()?;
    }
    say("主");
    let left = q.unfinished_tasks();
    ctx.fact("unfinished_after_join", left);
    ctx.check(
        left == 0,
        "when every producer's join() returned, every item had its task_done",
    );
    ctx.check(
        q.task_done().is_err(),
        "task_done more times than items is an error (Python's ValueError)",
    );
    for c in &consumers {
        c.terminate()?;
        c.join()?;
    }
    Ok(())
}

fn run_pipe(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    // Duplex: both ends send and recv.
    let (mut a, mut b) = pipe(true)?;
    let mut p = Process::new(move || {
        if let Ok(m) = b.recv_bytes() {
            say(format!("child got {:?}", String::from_utf8_lossy(&m)));
            let _ = b.send_bytes(format!("收到: {}", String::from_utf8_lossy(&m)).as_bytes());
            let _ = b.send(&12345u64);
        }
    });
    p.start()?;
    a.send_bytes("你好".as_bytes())?;
    let reply = String::from_utf8(a.recv_bytes()?)?;
    let n: u64 = a.recv()?;
    say(format!("parent got {reply:?} and {n}"));
    p.join()?;
    ctx.check(reply == "收到: 你好" && n == 12345, "duplex: messages went both ways");
    // The child is gone and nothing is left: recv reports it instead of blocking forever.
    let r = a.recv_bytes_timeout(Duration::from_secs(2));
    say(format!("recv after the peer exited: {r:?}"));
    ctx.check(
        r.is_err(),
        "recv on a pipe whose peer is gone returns an error, not a hang",
    );
    // Simplex: Pipe(False) -> (read end, write end).
    let (mut rd, mut wr) = pipe(false)?;
    let refused = rd.send_bytes(b"x");
    say(format!("simplex read end .send(): {refused:?}"));
    ctx.check(refused.is_err(), "a simplex pipe's read end cannot send");
    let quiet = rd.poll(Some(Duration::from_millis(50)))?;
    wr.send_bytes(b"ping")?;
    let ready = rd.poll(Some(Duration::from_millis(50)))?;
    say(format!("poll before send: {quiet}; after send: {ready}"));
    ctx.check(!quiet && ready, "poll(timeout) tells whether a message is waiting");
    ctx.check(rd.recv_bytes()? == b"ping", "the simplex message arrives");
    Ok(())
}

/// The queue pool tasks report to: created before the pool, so every worker inherits it (a task is
/// an `fn`, which cannot capture; this global is the Rust form of the notes' module-level queue).
static PROGRESS: OnceLock<Queue<u64>> = OnceLock::new();

fn copy_file_task(i: u64) -> u32 {
    std::thread::sleep(scaled(0.1));
    if let Some(q) = PROGRESS.get() {
        let _ = q.put(i);
    }
    std::process::id()
}

fn run_pool_queue(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let q = PROGRESS.get_or_init(|| Queue::new(64).expect("queue"));
    let pool = Pool::new(3)?;
    let all_num = 10u64;
    let results: Vec<_> = (0..all_num)
        .map(|i| pool.apply_async(copy_file_task, i))
        .collect::<Result<_, _>>()?;
    let mut seen = std::collections::BTreeSet::new();
    for num in 1..=all_num {
        // The parent drives the pool while it waits, so poll the queue and the results together.
        let end = Instant::now() + Duration::from_secs(10);
        let v = loop {
            match q.try_get() {
                Ok(v) => break v,
                Err(_) if Instant::now() > end => return Err("no message within 10 s".into()),
                Err(_) => {
                    let _ = results[0].wait_timeout(Duration::from_millis(5));
                }
            }
        };
        seen.insert(v);
        say(format!(
            "queue.get() -> task {v}; copy的进度是：{:.2}%",
            num as f64 * 100.0 / all_num as f64
        ));
    }
    let pids: std::collections::BTreeSet<u32> = results.iter().map(|r| r.get()).collect::<Result<_, _>>()?;
    pool.close();
    pool.join()?;
    ctx.fact("messages", seen.len());
    ctx.fact("worker_pids", pids.len());
    ctx.check(
        seen.len() as u64 == all_num,
        "every task's message arrived through the shared queue, once",
    );
    ctx.check(pids.len() <= 3, "the work was done by the pool's three workers");
    Ok(())
}
