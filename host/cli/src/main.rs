//! The `ringfork` command: demos, stress tests, benchmarks and segment tools.
//!
//! `main` only turns the result of [`cli::run`] into an exit code: errors print once, with their cause
//! chain, and a closed stdout (`ringfork ls | head`) exits quietly.

mod bench;
mod child;
mod cli;
mod demo;
mod shmls;
mod stress;

fn main() {
    // A child started with StartMethod::Spawn re-executes this binary: register the targets, run the
    // child's target and exit.
    ringfork::process::spawn_main(demo::SPAWN_TARGETS);
    std::process::exit(match cli::run() {
        Ok(code) => code,
        Err(e) => {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    std::process::exit(0);
                }
            }
            eprintln!("ringfork: error: {e}");
            let mut src = e.source();
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            1
        }
    })
}
