//! Argument parsing (clap derive) and dispatch. Each subcommand lives in its own module.

use clap::{Parser, Subcommand};

mod bench;
mod demo;
mod shm;
mod stress;

/// Result of a subcommand: the process exit code.
pub type CmdResult = Result<i32, Box<dyn std::error::Error>>;

/// ringfork: Python's multiprocessing, rebuilt in Rust on raw shared memory.
#[derive(Debug, Parser)]
#[command(name = "ringfork", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List ringfork's named segments in /dev/shm: size, objects, live attachers.
    Ls(shm::LsArgs),
    /// Remove named segments that no live process uses (never foreign or in-use ones).
    Clean(shm::CleanArgs),
    /// Print the header of every object in a named segment.
    Inspect(shm::InspectArgs),
    /// Run the course notes' scenarios: `demo list`, `demo all --quick`, `demo NAME`.
    Demo(demo::DemoArgs),
    /// Hammer a primitive with many processes, kill some at random, check invariants.
    Stress(stress::StressArgs),
    /// Measure our primitives against their baselines, side by side in one run.
    Bench(bench::BenchArgs),
    /// Create or remove named segments by hand.
    #[command(subcommand)]
    Segment(shm::SegmentCmd),
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> CmdResult {
    let cli = Cli::parse();
    match cli.command {
        Command::Ls(a) => shm::ls(a),
        Command::Clean(a) => shm::clean(a),
        Command::Inspect(a) => shm::inspect(a),
        Command::Segment(c) => shm::segment(c),
        Command::Bench(a) => bench::bench(a),
        Command::Demo(a) => demo::run(a),
        Command::Stress(a) => stress::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
