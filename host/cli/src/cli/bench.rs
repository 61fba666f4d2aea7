//! `ringfork bench`.

use super::CmdResult;
use crate::bench::{run, BenchOpts};
use clap::Args;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Only the groups (`queues`, `sync`, `wait_pingpong`, `limits`) or rows (e.g. `spsc_u64`,
    /// `pingpong`, `mutex`) whose name contains this.
    filter: Option<String>,
    /// A short smoke run: fewer iterations and 3 repetitions.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object {"machine": {...}, "rows": [...]} instead of a table.
    #[arg(long)]
    json: bool,
    /// Also run bench/python_peer.py (Python's multiprocessing) for the python_* baselines.
    #[arg(long)]
    python: bool,
    /// Repetitions per side (default 9, or 3 with --quick).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    reps: Option<u32>,
}

pub fn bench(a: BenchArgs) -> CmdResult {
    let opts = BenchOpts {
        filter: a.filter,
        row_filter: None,
        quick: a.quick,
        python: a.python,
        reps: a.reps.map(|r| r as usize).unwrap_or(if a.quick { 3 } else { 9 }),
    };
    let report = run(&opts);
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
    }
    Ok(0)
}
