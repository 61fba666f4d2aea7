//! The `ringfork` command: demos, stress tests, benchmarks and segment tools.
//!
//! `main` only turns the result of [`cli::run`] into an exit code: errors print once, with their cause
//! chain, and a closed stdout (`ringfork ls | head`) exits quietly.

mod bench;
mod child;
mod cli;
mod demo;
mod progress;
mod shmls;
mod stress;

fn main() {
    // A closed stdout (`ringfork ls | head -1`) ends the command quietly with the conventional
    // status 141, as for any Unix tool, instead of a "failed printing to stdout" panic.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread or child exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
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
            // Each cause once: an error whose message already quotes its source is not followed by
            // the same text again.
            let mut shown = e.to_string();
            let mut src = e.source();
            while let Some(s) = src {
                let text = s.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                shown = text;
                src = s.source();
            }
            1
        }
    })
}
