//! `ringfork demo`: every runnable example of the user's course notes (`shared/seeds/`), rebuilt with
//! ringfork's API. Each demo is one file that reads like the note it comes from, prints its story, and
//! checks its own invariant: a failed check makes `ringfork demo NAME` exit non-zero.
//!
//! With `--json`, the story goes to stderr and stdout carries one object
//! `{"demo", "ok", "facts": {...}, "failures": [...]}`; tests assert on the facts.

use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Whether demo output goes to stderr (JSON mode); inherited by forked children and pool workers.
static JSON_MODE: AtomicBool = AtomicBool::new(false);
/// Whether sleeps are shortened; inherited like `JSON_MODE`.
static QUICK: AtomicBool = AtomicBool::new(false);

/// Prints one line of a demo's story from any process of the demo (a forked child, a pool worker):
/// stdout, or stderr in JSON mode, with a single `write` so lines of different processes never
/// interleave.
pub fn say(line: impl AsRef<str>) {
    let mut s = line.as_ref().to_owned();
    s.push('\n');
    // Ordering: Relaxed: set once before any child is forked or spawned (fork copies it).
    let fd = if JSON_MODE.load(Ordering::Relaxed) { 2 } else { 1 };
    // SAFETY: writing our own buffer to an inherited fd; one write keeps lines from interleaving
    // between processes (pipes and terminals write up to PIPE_BUF atomically).
    unsafe { libc::write(fd, s.as_ptr().cast(), s.len()) };
}

/// `secs` seconds, divided by 20 in quick mode (usable in any process of the demo).
pub fn scaled(secs: f64) -> Duration {
    // Ordering: Relaxed: as JSON_MODE.
    Duration::from_secs_f64(if QUICK.load(Ordering::Relaxed) {
        secs / 20.0
    } else {
        secs
    })
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
}

impl Ctx {
    /// A context.
    pub fn new(quick: bool, json: bool) -> Ctx {
        // Ordering: Relaxed: set before any child exists.
        JSON_MODE.store(json, Ordering::Relaxed);
        // Ordering: Relaxed: as above.
        QUICK.store(quick, Ordering::Relaxed);
        Ctx {
            quick,
            json,
            facts: Map::new(),
            failures: Vec::new(),
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

    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// The JSON summary.
    pub fn to_json(&self, name: &str) -> Value {
        json!({"demo": name, "ok": self.ok(), "facts": self.facts, "failures": self.failures})
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
