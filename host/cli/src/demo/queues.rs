//! Seed 001 "进程间通信(Queue)", seed 002 "管道 / 消息队列", seed 003 "队列的使用", "生产者与消费者模型",
//! "JoinableQueue": `Queue(3)` full and empty, producers and consumers with sentinels, the same with
//! `JoinableQueue`, duplex and simplex pipes, and pool workers writing to a queue created before the
//! pool (the notes' `Manager().Queue()`).

use super::transcript::{now_ns, secs_after};
use super::{say, scaled, scaled_s, Ctx, Demo, Lines};
use ringfork::process::Process;
use ringfork::{pipe, JoinableQueue, Plain, Pool, PopError, PushError, Queue};
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
    summary:
        "writer and reader tasks share a Queue created before the pool (dongGe); apply_async tasks report progress",
    seed: "001 进程池使用进程间通信 (Manager().Queue())",
    run: run_pool_queue,
};

type Msg = FixedStr<32>;

fn msg(s: &str) -> Msg {
    FixedStr::try_from(s).unwrap_or_default()
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

    // Seed 001 "使用process形式": a writer process puts A, B, C (sleeping random.random() between);
    // the parent joins it and prints ----; then a reader process gets until the queue is empty.
    let q = Queue::<Msg, Plain>::new(16)?;
    let q2 = q.clone();
    let mut pw = Process::new(move || {
        for (val, pause) in [("A", 0.3), ("B", 0.7), ("C", 0.2)] {
            say(format!("put {val} to queue...."));
            let _ = q2.put(msg(val));
            std::thread::sleep(scaled(pause));
        }
    });
    let q3 = q.clone();
    let mut pr = Process::new(move || {
        while !q3.empty() {
            if let Ok(val) = q3.get() {
                say(format!("Get {} from queue", val.to_str_lossy_prefix()));
            }
            std::thread::sleep(scaled(0.4));
        }
    });
    pw.start()?;
    pw.join()?;
    say("----");
    pr.start()?;
    pr.join()?;
    let lines = ctx.lines();
    let me = std::process::id();
    let (wp, rp) = (pw.pid().unwrap_or(0), pr.pid().unwrap_or(0));
    let puts: Vec<&super::Line> = lines.with(" to queue....");
    let gets: Vec<String> = lines
        .iter()
        .filter(|l| l.pid == rp && l.text.starts_with("Get "))
        .map(|l| l.text.clone())
        .collect();
    let sep = lines.iter().position(|l| l.pid == me && l.text == "----");
    ctx.fact("reader_got", gets.clone());
    ctx.check(
        puts.len() == 3 && puts.iter().all(|l| l.pid == wp),
        "the writer printed its own three put lines",
    );
    ctx.check(
        gets == ["Get A from queue", "Get B from queue", "Get C from queue"],
        "the reader printed its own Get lines, A, B, C in order, and stopped when the queue was empty",
    );
    ctx.check(
        sep.is_some() && lines.last_pos(" to queue....") < sep && sep < lines.pos("Get A from queue"),
        "---- (the parent, after joining the writer) separates the writer's lines from the reader's",
    );
    Ok(())
}

fn producer(q: &Queue<Msg, Plain>, name: &str, n: u32) {
    for i in 0..n {
        std::thread::sleep(scaled(0.5));
        let res = format!("包子{i}");
        say(format!("{name} 生产者生产了{res}"));
        let _ = q.put(msg(&format!("{name}:{res}")));
    }
}

fn run_prodcons(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<Msg, Plain>::new(64)?; // 容器
    let eaten = Queue::<Msg, Plain>::new(64)?;
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
    let q = JoinableQueue::<Msg, Plain>::new(64)?;
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
    let lines = ctx.lines();
    let me = std::process::id();
    let cp: Vec<u32> = consumers.iter().filter_map(|c| c.pid()).collect();
    let pp: Vec<u32> = producers.iter().filter_map(|c| c.pid()).collect();
    let ate = lines.with("消费者吃了");
    let main_pos = lines.iter().position(|l| l.pid == me && l.text == "主");
    ctx.check(
        ate.len() == 6 && ate.iter().all(|l| cp.contains(&l.pid)),
        "the consumers printed their own six 吃了 lines",
    );
    ctx.check(
        lines
            .with("everything I made was eaten")
            .iter()
            .filter(|l| pp.contains(&l.pid))
            .count()
            == 3
            && main_pos.is_some()
            && lines.last_pos("消费者吃了") < lines.pos("everything I made was eaten")
            && lines.last_pos("everything I made was eaten") < main_pos,
        "each producer's join() returned after the last 吃了, and printed its own line; then 主",
    );
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
/// an `fn`, which cannot capture; this global is the Rust form of the notes' `Manager().Queue()`).
static PROGRESS: OnceLock<Queue<u64>> = OnceLock::new();
/// The queue of the notes' writer/reader pair (same reason).
static LETTERS: OnceLock<Queue<u32>> = OnceLock::new();

/// The notes' `writer(q)`: puts the letters of "dongGe".
fn writer(_: u32) -> u32 {
    say(format!(
        "write启动({}),父进程({})",
        ringfork::os::getpid(),
        ringfork::os::getppid()
    ));
    let Some(q) = LETTERS.get() else { return 0 };
    "dongGe".chars().filter(|c| q.put(u32::from(*c)).is_ok()).count() as u32
}

/// The notes' `reader(q)`: gets `qsize()` messages.
fn reader(_: u32) -> u32 {
    say(format!(
        "reader启动({}), 父进程为({})",
        ringfork::os::getpid(),
        ringfork::os::getppid()
    ));
    let Some(q) = LETTERS.get() else { return 0 };
    let mut n = 0;
    for _ in 0..q.qsize() {
        if let Ok(c) = q.get_timeout(Duration::from_secs(5)) {
            say(format!("reader从Queue中获取消息:{}", char::from_u32(c).unwrap_or('?')));
            n += 1;
        }
    }
    n
}

fn copy_file_task(i: u64) -> u32 {
    std::thread::sleep(scaled(0.1));
    if let Some(q) = PROGRESS.get() {
        let _ = q.put(i);
    }
    std::process::id()
}

fn run_pool_queue(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let me = std::process::id();
    // The notes: writer and reader run one after the other on Pool() with the blocking apply.
    say(format!("{me} start"));
    let letters = LETTERS.get_or_init(|| Queue::new(16).expect("queue"));
    let po = Pool::new(ringfork::cpu_count())?;
    let put = po.apply(writer, 0)?;
    let got = po.apply(reader, 0)?;
    po.close();
    po.join()?;
    say(format!("({me}) End"));
    let lines = ctx.lines();
    let w = lines.iter().find(|l| l.text.starts_with("write启动"));
    let r = lines.iter().find(|l| l.text.starts_with("reader启动"));
    let msgs: String = lines
        .iter()
        .filter(|l| Some(l.pid) == r.map(|r| r.pid))
        .filter_map(|l| l.text.strip_prefix("reader从Queue中获取消息:"))
        .collect();
    ctx.fact("reader_messages", msgs.clone());
    ctx.check(
        put == 6 && got == 6 && msgs == "dongGe" && letters.empty(),
        "the writer task put d o n g G e; the reader task got them in order and printed each itself",
    );
    ctx.check(
        [w, r].iter().all(|l| {
            l.is_some_and(|l| {
                l.pid != me && l.text.contains(&format!("({})", l.pid)) && l.text.contains(&format!("({me})"))
            })
        }),
        "writer and reader each printed their own pid, and the parent's pid as their ppid (pool workers are children)",
    );
    ctx.check(
        lines.pos(&format!("({me}) End")) > lines.last_pos("reader从Queue中获取消息"),
        "(pid) End comes last, after close and join",
    );

    // Then: many apply_async tasks reporting progress through a queue the parent reads.
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
