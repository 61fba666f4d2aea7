//! `ringfork stress TARGET`.

use super::CmdResult;
use crate::stress::{self, StressOpts};
use clap::Args;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct StressArgs {
    /// A target (`mutex`, `queue`, ...) or `all`; `ringfork stress list` names them.
    target: String,
    /// Participant processes (2..=64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(2..=64))]
    procs: u32,
    /// Operations per participant.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    ops: u64,
    /// Run for this many seconds instead of a fixed number of operations (a soak): `mutex` and `pool`
    /// loop until then; the other targets repeat rounds of --ops (seed, seed+1, ...) until then.
    /// With `all`, this is the total: each target gets an equal share (at least 1 s).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration: Option<u64>,
    /// SIGKILL this many random participants at random moments.
    #[arg(long, default_value_t = 0)]
    kill: u32,
    /// Seed for every random choice (victims, moments).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON (an object, or an array with `all`).
    #[arg(long)]
    json: bool,
}

pub fn run(a: StressArgs) -> CmdResult {
    let targets = stress::targets::all();
    if a.target == "list" {
        if a.json {
            let names: Vec<_> = targets.iter().map(|t| t.0).collect();
            println!("{}", serde_json::json!(names));
        } else {
            for (name, _) in &targets {
                println!("{name}");
            }
        }
        return Ok(0);
    }
    if a.kill as usize >= a.procs as usize {
        return Err(format!(
            "--kill {} must be smaller than --procs {}: someone has to survive",
            a.kill, a.procs
        )
        .into());
    }
    let opts = StressOpts {
        procs: a.procs as usize,
        ops: a.ops,
        duration: a.duration.map(Duration::from_secs),
        kill: a.kill,
        seed: a.seed,
    };
    if a.target == "all" {
        return run_all(&a, &opts, targets.iter().map(|t| t.0).collect());
    }
    // A timed run shows its progress second by second (on a terminal, without --json).
    let ticker = a.duration.map(|d| {
        let bar = crate::progress::bar(d, &format!("stress {}", a.target), a.json);
        let b = bar.clone();
        std::thread::spawn(move || {
            while !b.is_finished() && b.position() < b.length().unwrap_or(0) {
                std::thread::sleep(Duration::from_secs(1));
                b.inc(1);
            }
        });
        bar
    });
    let Some(&(name, f)) = targets.iter().find(|t| t.0 == a.target) else {
        let names: Vec<_> = targets.iter().map(|t| t.0).collect();
        return Err(format!(
            "unknown stress target {:?}; targets: {}, all",
            a.target,
            names.join(", ")
        )
        .into());
    };
    let report = stress::run(name, f, &opts);
    if let Some(bar) = ticker {
        bar.finish_and_clear();
    }
    if a.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.text());
    }
    Ok(if report.passed() { 0 } else { 1 })
}

/// Runs each target as its own `ringfork stress T --json` process under a watchdog; a stuck one is
/// killed (with its whole process group) and reported as hung.
fn run_all(a: &StressArgs, opts: &StressOpts, names: Vec<&str>) -> CmdResult {
    let exe = std::env::current_exe()?;
    let mut reports = Vec::new();
    let mut failed = 0;
    // --duration is the total: an equal share per target.
    let share = a.duration.map(|d| (d / names.len().max(1) as u64).max(1));
    let bar = crate::progress::bar(names.len() as u64, "stress all", a.json);
    for name in names {
        bar.set_message(name.to_owned());
        let mut cmd = Command::new(&exe);
        cmd.args([
            "stress",
            name,
            "--json",
            "--procs",
            &a.procs.to_string(),
            "--ops",
            &a.ops.to_string(),
        ]);
        cmd.args(["--kill", &a.kill.to_string(), "--seed", &a.seed.to_string()]);
        if let Some(d) = share {
            cmd.args(["--duration", &d.to_string()]);
        }
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.stdout(Stdio::piped()).spawn()?;
        let mut out = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(o) = out.as_mut() {
                let _ = std::io::Read::read_to_string(o, &mut s);
            }
            s
        });
        let mut target_opts = opts.clone();
        target_opts.duration = share.map(Duration::from_secs);
        let deadline = stress::watchdog(&target_opts) + Duration::from_secs(30);
        let start = Instant::now();
        let hung = loop {
            if child.try_wait()?.is_some() {
                break false;
            }
            if start.elapsed() > deadline {
                // SAFETY: kill(2) of the child's process group (it was made a group leader above).
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                break true;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = reader.join().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|_| {
            serde_json::json!({"target": name, "hung": hung, "passed": false,
                               "notes": [if hung { "killed by the watchdog" } else { "crashed: no report" }]})
        });
        if v["passed"] != true {
            failed += 1;
        }
        bar.inc(1);
        if !a.json {
            bar.suspend(|| {
                println!(
                    "{:<10} {:>10.0} ops/s  kills {:>2}  recoveries {:>4}  violations {:>3}  max detect {:>6.1} ms  {}",
                    name,
                    v["ops_per_sec"].as_f64().unwrap_or(0.0),
                    v["kills"].as_u64().unwrap_or(0),
                    v["recoveries"].as_u64().unwrap_or(0),
                    v["violations"]
                        .as_object()
                        .map(|m| m.values().filter_map(|x| x.as_u64()).sum::<u64>())
                        .unwrap_or(0),
                    v["max_detect_ms"].as_f64().unwrap_or(0.0),
                    if v["passed"] == true {
                        "PASS"
                    } else if v["hung"] == true {
                        "HUNG"
                    } else {
                        "FAIL"
                    }
                );
            });
        }
        reports.push(v);
    }
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::json!(reports));
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
