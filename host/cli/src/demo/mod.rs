//! `ringfork demo`: every runnable example of the course notes on Python `multiprocessing` (five
//! notes, numbered 000-004, listed in `docs/demos.md`), rebuilt with ringfork's API. Each demo is one
//! file that reads like the note it comes from, prints its story, and checks its own invariant: a
//! failed check makes `ringfork demo NAME` exit non-zero.
//!
//! With `--json`, the story goes to stderr and stdout carries one object
//! `{"demo", "ok", "facts": {...}, "failures": [...]}`; tests assert on the facts.

use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

mod copy;
mod flock;
mod fork;
mod lifecycle;
mod pool;
mod process;
mod queues;
mod signals;
mod sync;
mod threads;
mod transcript;

pub use transcript::{Line, Lines};

/// Whether demo output goes to stderr (JSON mode); inherited by forked children and pool workers.
static JSON_MODE: AtomicBool = AtomicBool::new(false);
/// Whether sleeps are shortened; inherited like `JSON_MODE`.
static QUICK: AtomicBool = AtomicBool::new(false);
/// The demo's transcript, created by [`Ctx::new`] before any child exists, so every forked child and
/// pool worker records into the same one. (A spawned child starts empty and records nothing.)
static TRANSCRIPT: OnceLock<transcript::Transcript> = OnceLock::new();

/// How much `--quick` shortens every sleep: all of them by the same factor, so the notes'
/// proportions (1 s, then 2 s, then 3 s under a lock; 3 s against 5 s) and the orderings they cause
/// stay the same.
pub const QUICK_FACTOR: f64 = 20.0;

/// Prints one line of a demo's story from any process of the demo (a forked child, a pool worker):
/// stdout, or stderr in JSON mode, with a single `write` so lines of different processes never
/// interleave. The line is also recorded in the transcript with this process's pid and the time.
pub fn say(line: impl AsRef<str>) {
    let mut s = line.as_ref().to_owned();
    if let Some(t) = TRANSCRIPT.get() {
        t.record(&s);
    }
    s.push('\n');
    // Ordering: Relaxed: set once before any child is forked or spawned (fork copies it).
    let fd = if JSON_MODE.load(Ordering::Relaxed) { 2 } else { 1 };
    // SAFETY: writing our own buffer to an inherited fd; one write keeps lines from interleaving
    // between processes (pipes and terminals write up to PIPE_BUF atomically).
    unsafe { libc::write(fd, s.as_ptr().cast(), s.len()) };
}

/// `secs` seconds, divided by [`QUICK_FACTOR`] in quick mode (usable in any process of the demo).
pub fn scaled(secs: f64) -> Duration {
    // Ordering: Relaxed: as JSON_MODE.
    Duration::from_secs_f64(if QUICK.load(Ordering::Relaxed) {
        secs / QUICK_FACTOR
    } else {
        secs
    })
}

/// [`scaled`] in seconds.
pub fn scaled_s(secs: f64) -> f64 {
    scaled(secs).as_secs_f64()
}

/// Every line printed so far by any process of this demo (empty if the transcript could not be made).
pub fn transcript() -> Vec<Line> {
    TRANSCRIPT.get().map(|t| t.lines()).unwrap_or_default()
}

/// One demo.
#[derive(Debug, Clone, Copy)]
pub struct Demo {
    /// Name used on the command line.
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// The seed note and section it comes from.
    pub seed: &'static str,
    /// The demo body.
    pub run: fn(&mut Ctx) -> Result<(), Box<dyn std::error::Error>>,
}

/// What a demo has to work with: output, facts, checks, and scaled sleeps.
#[derive(Debug)]
pub struct Ctx {
    /// Shortened sleeps (the whole set in under a minute).
    pub quick: bool,
    json: bool,
    facts: Map<String, Value>,
    failures: Vec<String>,
    reported: Vec<String>,
}

impl Ctx {
    /// A context.
    pub fn new(quick: bool, json: bool) -> Ctx {
        // Ordering: Relaxed: set before any child exists.
        JSON_MODE.store(json, Ordering::Relaxed);
        // Ordering: Relaxed: as above.
        QUICK.store(quick, Ordering::Relaxed);
        if let Ok(t) = transcript::Transcript::new() {
            let _ = TRANSCRIPT.set(t);
        }
        Ctx {
            quick,
            json,
            facts: Map::new(),
            failures: Vec::new(),
            reported: Vec::new(),
        }
    }

    /// Prints one line of the story (stdout, or stderr in JSON mode). Safe to call in forked
    /// children: it writes the whole line with one `write`.
    pub fn say(&self, line: impl AsRef<str>) {
        say(line)
    }

    /// Whether the story goes to stderr (JSON mode).
    pub fn json(&self) -> bool {
        self.json
    }

    /// Records a fact (shown in JSON mode, asserted by tests).
    pub fn fact(&mut self, key: &str, value: impl Into<Value>) {
        self.facts.insert(key.to_owned(), value.into());
    }

    /// Records a failed invariant unless `ok`.
    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        if ok {
            self.say(format!("  [check] {what}: ok"));
        } else {
            self.say(format!("  [check] {what}: FAILED"));
            self.failures.push(what);
        }
    }

    /// A check whose outcome depends on the scheduler giving the demo's processes their turn on time
    /// (an ordering the notes get from sleeps). Passes if `ok`; if not and `late` explains that the
    /// machine visibly did not keep the schedule (e.g. "the parent woke 180 ms late"), it is reported
    /// (in `facts.reported`) instead of failed; otherwise it fails.
    pub fn check_timed(&mut self, ok: bool, late: Option<String>, what: impl Into<String>) {
        let what = what.into();
        match (ok, late) {
            (true, _) => self.check(true, what),
            (false, Some(why)) => {
                self.say(format!(
                    "  [report] {what}: not shown this run, the machine was too busy ({why})"
                ));
                self.reported.push(format!("{what}: {why}"));
                self.facts.insert("reported".into(), json!(self.reported));
            }
            (false, None) => self.check(false, what),
        }
    }

    /// Every line printed so far by any process of this demo, with pid and time.
    pub fn lines(&self) -> Vec<Line> {
        transcript()
    }

    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// The JSON summary.
    pub fn to_json(&self, name: &str) -> Value {
        let mut facts = self.facts.clone();
        if let Some(n) = TRANSCRIPT.get().map(|t| t.dropped()).filter(|&n| n > 0) {
            facts.insert("transcript_dropped".into(), json!(n));
        }
        json!({"demo": name, "ok": self.ok(), "facts": facts, "failures": self.failures})
    }
}

/// Spawn targets of the demos: `main` passes them to [`ringfork::process::spawn_main`].
pub const SPAWN_TARGETS: &[(&str, ringfork::process::TargetFn)] = process::SPAWN_TARGETS;

/// Every demo, in the order of the notes.
pub fn all() -> Vec<Demo> {
    vec![
        fork::FORK,
        fork::ISOLATION,
        fork::TREE,
        lifecycle::EXITCODES,
        lifecycle::ZOMBIE,
        lifecycle::ORPHAN,
        signals::SIGNALS,
        signals::BUS,
        process::PROCESS,
        process::DAEMON,
        process::START_METHODS,
        lifecycle::NICE,
        sync::MUTEX,
        sync::TICKETS,
        sync::SHAREDMEM,
        sync::EVENT,
        queues::QUEUE,
        queues::PRODCONS,
        queues::JOINABLE,
        queues::PIPE,
        pool::DEMO,
        queues::POOL_QUEUE,
        copy::DEMO,
        flock::DEMO,
        threads::DEMO,
    ]
}

/// The demo called `name`.
pub fn find(name: &str) -> Option<Demo> {
    all().into_iter().find(|d| d.name == name)
}
