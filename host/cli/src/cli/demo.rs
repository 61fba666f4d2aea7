//! `ringfork demo list | all | NAME`.

use super::CmdResult;
use crate::demo::{self, Ctx};
use clap::Args;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// `list`, `all`, or a demo name.
    name: String,
    /// Shorten sleeps (the whole set runs in under a minute).
    #[arg(long)]
    quick: bool,
    /// Story on stderr, and one JSON object (facts and checks) on stdout.
    #[arg(long)]
    json: bool,
    /// Run the unsafe variant without the lock (only the demos in `NO_LOCK_DEMOS`: tickets, flock).
    #[arg(long)]
    no_lock: bool,
}

/// The demos that have a `--no-lock` variant.
const NO_LOCK_DEMOS: [&str; 2] = ["tickets", "flock"];

/// Longest one demo may run inside `demo all` before it is killed.
const DEMO_DEADLINE: Duration = Duration::from_secs(120);

pub fn run(a: DemoArgs) -> CmdResult {
    if a.no_lock && !NO_LOCK_DEMOS.contains(&a.name.as_str()) {
        return Err(format!(
            "demo {:?} has no --no-lock variant; the demos with one: {}",
            a.name,
            NO_LOCK_DEMOS.join(", ")
        )
        .into());
    }
    match a.name.as_str() {
        "list" => {
            if a.json {
                let v: Vec<_> = demo::all()
                    .iter()
                    .map(|d| serde_json::json!({"name": d.name, "summary": d.summary, "seed": d.seed}))
                    .collect();
                println!("{}", serde_json::json!(v));
            } else {
                for d in demo::all() {
                    println!("{:<14} {:<70} [{}]", d.name, d.summary, d.seed);
                }
            }
            Ok(0)
        }
        "all" => run_all(&a),
        name => {
            let Some(d) = demo::find(name) else {
                let names: Vec<_> = demo::all().iter().map(|d| d.name).collect();
                return Err(format!(
                    "no demo named {name:?}; `ringfork demo list` shows them: {}",
                    names.join(", ")
                )
                .into());
            };
            if a.no_lock {
                std::env::set_var("RINGFORK_DEMO_NO_LOCK", "1");
            }
            let mut ctx = Ctx::new(a.quick, a.json);
            ctx.say(format!("=== demo {}: {} [{}]", d.name, d.summary, d.seed));
            let res = (d.run)(&mut ctx);
            if let Err(e) = &res {
                ctx.check(false, format!("demo ran to completion ({e})"));
            }
            if a.json {
                println!("{}", ctx.to_json(d.name));
            } else {
                ctx.say(if ctx.ok() { "=== ok" } else { "=== FAILED" });
            }
            Ok(if ctx.ok() { 0 } else { 1 })
        }
    }
}

/// Runs every demo as its own `ringfork demo NAME` process (isolated signal handlers and children),
/// each under a deadline, then prints a summary.
fn run_all(a: &DemoArgs) -> CmdResult {
    let exe = std::env::current_exe()?;
    let mut results = Vec::new();
    let mut json_out = Vec::new();
    for d in demo::all() {
        let mut cmd = Command::new(&exe);
        cmd.args(["demo", d.name]);
        if a.quick {
            cmd.arg("--quick");
        }
        if a.json {
            cmd.arg("--json").stdout(std::process::Stdio::piped());
        }
        let start = Instant::now();
        let mut child = cmd.spawn()?;
        let mut stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(o) = stdout.as_mut() {
                let _ = std::io::Read::read_to_string(o, &mut s);
            }
            s
        });
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break Some(st);
            }
            if start.elapsed() > DEMO_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = reader.join().unwrap_or_default();
        let ok = status.is_some_and(|s| s.success());
        if a.json {
            json_out.push(serde_json::from_str(out.trim()).unwrap_or_else(
                |_| serde_json::json!({"demo": d.name, "ok": false, "failures": ["no JSON output (crashed or timed out)"]}),
            ));
        }
        results.push((d.name, ok, status.is_none(), start.elapsed()));
    }
    let failed = results.iter().filter(|r| !r.1).count();
    if a.json {
        println!("{}", serde_json::json!(json_out));
    } else {
        println!("\n{:<14} {:>8}  result", "demo", "seconds");
        for (name, ok, timed_out, el) in &results {
            let r = if *ok {
                "ok"
            } else if *timed_out {
                "TIMEOUT"
            } else {
                "FAILED"
            };
            println!("{name:<14} {:>8.2}  {r}", el.as_secs_f64());
        }
        println!("{} passed, {} failed", results.len() - failed, failed);
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
