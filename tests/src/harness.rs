//! A tiny libtest-compatible harness that runs each case in its own process (see the crate docs).

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One test case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Name (what filters match and what is printed).
    pub name: &'static str,
    /// The test body; it fails by panicking.
    pub run: fn(),
    /// The case is killed (and fails) if it runs longer than this.
    pub timeout: Duration,
}

impl Case {
    /// A case with the default 60-second deadline.
    pub const fn new(name: &'static str, run: fn()) -> Case {
        Case {
            name,
            run,
            timeout: Duration::from_secs(60),
        }
    }

    /// The same case with another deadline.
    pub const fn timeout(mut self, t: Duration) -> Case {
        self.timeout = t;
        self
    }
}

const CASE_ENV: &str = "RINGFORK_TEST_CASE";

/// Runs `cases` as a libtest-like binary: `main` of a `harness = false` test target calls this.
/// Register spawn targets (`ringfork::process::register_target`) before calling it.
pub fn run(cases: &[Case]) -> ! {
    // A child started with StartMethod::Spawn re-executes this binary: run its target and exit.
    ringfork::process::spawn_main_hook();
    if let Ok(name) = std::env::var(CASE_ENV) {
        run_one(cases, &name);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filters = Vec::new();
    let mut exact = false;
    let mut list = false;
    let mut skip_next = false;
    for a in &args {
        if skip_next {
            skip_next = false;
            continue;
        }
        match a.as_str() {
            "--exact" => exact = true,
            "--list" => list = true,
            "--test-threads" | "--format" | "--color" | "--skip" | "-Z" | "--logfile" => skip_next = true,
            s if s.starts_with('-') => {}
            s => filters.push(s.to_string()),
        }
    }
    let selected: Vec<&Case> = cases
        .iter()
        .filter(|c| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    if exact {
                        c.name == f
                    } else {
                        c.name.contains(f.as_str())
                    }
                })
        })
        .collect();
    if list {
        for c in &selected {
            println!("{}: test", c.name);
        }
        println!("\n{} tests, 0 benchmarks", selected.len());
        std::process::exit(0);
    }
    let jobs: usize = std::env::var("RINGFORK_TEST_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
        .max(1);
    let filtered_out = cases.len() - selected.len();
    println!("\nrunning {} tests", selected.len());
    let start = Instant::now();
    let exe = std::env::current_exe().expect("current_exe");
    let mut queue: std::collections::VecDeque<&Case> = selected.iter().copied().collect();
    let mut running: Vec<Running> = Vec::new();
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut passed = 0;
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < jobs {
            let Some(case) = queue.pop_front() else { break };
            running.push(Running::start(&exe, case));
        }
        std::thread::sleep(Duration::from_millis(5));
        let mut i = 0;
        while i < running.len() {
            if let Some(outcome) = running[i].poll() {
                let r = running.swap_remove(i);
                match outcome {
                    Ok(()) => {
                        passed += 1;
                        println!(
                            "test {} ... ok ({:.2}s)",
                            r.case.name,
                            r.started.elapsed().as_secs_f64()
                        );
                    }
                    Err(why) => {
                        println!("test {} ... FAILED", r.case.name);
                        failures.push((r.case.name.to_string(), format!("{why}\n{}", r.output())));
                    }
                }
            } else {
                i += 1;
            }
        }
    }
    if !failures.is_empty() {
        println!("\nfailures:\n");
        for (name, out) in &failures {
            println!("---- {name} ----\n{out}\n");
        }
        println!("failures:");
        for (name, _) in &failures {
            println!("    {name}");
        }
    }
    let ok = failures.is_empty();
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if ok { "ok" } else { "FAILED" },
        passed,
        failures.len(),
        filtered_out,
        start.elapsed().as_secs_f64()
    );
    std::process::exit(if ok { 0 } else { 101 });
}

fn run_one(cases: &[Case], name: &str) -> ! {
    let Some(case) = cases.iter().find(|c| c.name == name) else {
        eprintln!("no test case named {name:?}");
        std::process::exit(2);
    };
    // Each case is the only thread of its process, so it may fork freely.
    (case.run)();
    std::process::exit(0);
}

struct Running<'a> {
    case: &'a Case,
    child: std::process::Child,
    started: Instant,
    out: std::fs::File,
}

impl Running<'_> {
    fn start<'a>(exe: &std::path::Path, case: &'a Case) -> Running<'a> {
        let out = tempfile();
        let err = out.try_clone().expect("dup");
        let child = Command::new(exe)
            .env(CASE_ENV, case.name)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("dup")))
            .stderr(Stdio::from(err))
            .process_group(0)
            .spawn()
            .expect("failed to start a test case process");
        Running {
            case,
            child,
            started: Instant::now(),
            out,
        }
    }

    /// `Some(result)` once the case ended (its whole process group is then killed).
    fn poll(&mut self) -> Option<Result<(), String>> {
        let pgid = self.child.id() as i32;
        let res = match self.child.try_wait() {
            Ok(Some(st)) => Some(if st.success() {
                Ok(())
            } else if let Some(sig) = st.signal() {
                Err(format!("case process killed by signal {sig}"))
            } else {
                Err(format!("case process exited with {}", st.code().unwrap_or(-1)))
            }),
            Ok(None) if self.started.elapsed() > self.case.timeout => {
                kill_group(pgid);
                let _ = self.child.wait();
                Some(Err(format!(
                    "TIMEOUT: still running after {:?}; its process group was killed",
                    self.case.timeout
                )))
            }
            Ok(None) => None,
            Err(e) => Some(Err(format!("waiting for the case failed: {e}"))),
        };
        if res.is_some() {
            // Whatever the case started and left behind dies with it.
            kill_group(pgid);
        }
        res
    }

    fn output(&self) -> String {
        let mut f = &self.out;
        let mut s = String::new();
        let _ = f.seek(SeekFrom::Start(0));
        let _ = f.read_to_string(&mut s);
        s
    }
}

fn kill_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; it has no memory effects.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

fn tempfile() -> std::fs::File {
    let dir = std::env::temp_dir();
    for i in 0..1000u32 {
        let p = dir.join(format!(
            "ringfork-test-{}-{}-{i}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        if let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
        {
            let _ = std::fs::remove_file(&p);
            return f;
        }
    }
    panic!("cannot create a temporary file in {}", dir.display());
}
