//! `ringfork bench`.

use super::CmdResult;
use crate::bench::{run, BenchOpts};
use clap::Args;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// `list` (the groups and Python rows), or only the groups (`queues`, `sync`, `wait_pingpong`,
    /// `limits`) or rows (e.g. `spsc_u64`, `pingpong`, `mutex`) whose name contains this; a filter
    /// that matches nothing is an error.
    filter: Option<String>,
    /// A short smoke run: fewer iterations and 3 repetitions.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object {"machine": {...}, "rows": [...]} instead of a table.
    #[arg(long)]
    json: bool,
    /// Also run host/cli/src/bench/python_peer.py (Python's multiprocessing) for the python_* baselines.
    #[arg(long)]
    python: bool,
    /// Repetitions per side (default 9, or 3 with --quick).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    reps: Option<u32>,
    /// Exit with status 1 if a row with a target misses it (CI's performance gate).
    #[arg(long)]
    check: bool,
}

/// The names `bench list` prints: groups, then the rows against Python.
fn listing() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<_> = crate::bench::groups().into_iter().map(|g| ("group", g)).collect();
    v.extend(crate::bench::python_rows().into_iter().map(|r| ("python row", r)));
    v
}

pub fn bench(a: BenchArgs) -> CmdResult {
    if a.filter.as_deref() == Some("list") {
        let names = listing();
        if a.json {
            let v: Vec<_> = names
                .iter()
                .map(|(kind, name)| serde_json::json!({"kind": kind, "name": name}))
                .collect();
            println!("{}", serde_json::json!(v));
        } else {
            for (kind, name) in names {
                println!("{name:<24} {kind}");
            }
        }
        return Ok(0);
    }
    let opts = BenchOpts {
        filter: a.filter,
        row_filter: None,
        quick: a.quick,
        python: a.python,
        reps: a.reps.map(|r| r as usize).unwrap_or(if a.quick { 3 } else { 9 }),
    };
    let bar = crate::progress::bar(0, "bench", a.json);
    let report = run(&opts, &bar);
    if report.rows.is_empty() {
        if let Some(f) = &opts.filter {
            let names: Vec<_> = listing().into_iter().map(|(_, n)| n).collect();
            return Err(format!(
                "no bench row or group matches {f:?}; groups and Python rows: {} (rows: run `ringfork bench` \
                 and pick a name from its table)",
                names.join(", ")
            )
            .into());
        }
    }
    let missed: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| r.meets() == Some(false))
        .map(|r| r.name.as_str())
        .collect();
    if a.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.table());
        println!(
            "({} rows in {:.1} s; ratio = how many times better ours is; medians of {} reps)",
            report.rows.len(),
            report.seconds,
            opts.reps
        );
        let rtt = &report.machine["line_round_trip_ns"];
        if let (Some(a), Some(b)) = (rtt["start"].as_f64(), rtt["end"].as_f64()) {
            println!(
                "(a cache line's round trip between two processes: {a:.0} ns at the start, {b:.0} ns at the end; \
                 rows that move data between cores depend on it)"
            );
        }
    }
    if a.check && !missed.is_empty() {
        eprintln!("ringfork bench --check: target missed by {}", missed.join(", "));
        return Ok(1);
    }
    Ok(0)
}
