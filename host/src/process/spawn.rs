//! [`StartMethod::Spawn`](super::StartMethod::Spawn): re-execute the current program and run a target
//! registered by name.
//!
//! # How it works
//! A closure cannot cross `exec`, so spawn runs *targets*: plain `fn(TargetArgs)` registered under a
//! name with [`register_target`] (or [`spawn_main`]) at the top of `main`, in the parent and (because
//! it is the same program) in the child. The parent writes a small bootstrap record (target name,
//! process name and identity, daemon flag, parent pid, the byte-string arguments, and the fd numbers of
//! the segments to pass) into a memfd, then runs `/proc/self/exe --ringfork-spawn-child <fd>` with
//! [`std::process::Command`] (safe from a multi-threaded parent: between its `fork` and `exec` the
//! child only calls async-signal-safe functions). Just before `exec`, the child clears `FD_CLOEXEC`
//! on the bootstrap memfd and the segment fds, so exactly those cross `exec` at the same numbers.
//! At the top of the child's `main`, [`spawn_main_hook`] sees the marker, reads and validates the
//! record, maps the segments ([`Segment::from_fd`]), runs the target, and exits: 0 when it returns,
//! 1 if it panicked (its message is on stderr), or whatever it passed to `std::process::exit`.
//!
//! # A forgotten dispatch call
//! A program that spawns but does not call [`spawn_main`] / [`spawn_main_hook`] at the top of `main`
//! would run its whole `main` again in every child, which would spawn again, recursively. Instead:
//! - the spawned child acknowledges the bootstrap record as soon as the hook reads it (it appends one
//!   byte to the record's memfd, which the parent keeps);
//! - a spawned child that has not reached the hook (its argv carries the spawn marker, and the hook
//!   has not run) exits with [`EXIT_NOT_DISPATCHED`] and a message saying what to add, at the first
//!   of: starting a process or a pool, or `main` returning (an `atexit` handler installed by a
//!   process constructor, an `.init_array` entry that only looks at argv);
//! - the parent's `join`/`join_timeout` of a spawned child that ended without acknowledging returns
//!   [`ProcessError::SpawnNotDispatched`], naming the line to add.
//!
//! ```
//! use ringfork::process::{spawn_main, Process, StartMethod, TargetArgs};
//! use ringfork::{Segment, ShmCell};
//!
//! fn worker(args: TargetArgs) {
//!     let cell = ShmCell::<u64>::open(&args.segments()[0], "out").expect("the parent placed it");
//!     cell.set(args.arg_str(0).and_then(|s| s.parse().ok()).unwrap_or(0));
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     spawn_main(&[("worker", worker)]); // first line of main
//!     let seg = Segment::anonymous(4096)?;
//!     let cell = ShmCell::new_in(&seg, "out", 0u64)?;
//!     let mut p = Process::target("worker").arg("42").segment(&seg).start_method(StartMethod::Spawn);
//!     p.start()?;
//!     p.join()?;
//!     assert_eq!(cell.get(), 42);
//!     Ok(())
//! }
//! ```

use super::{reap, ProcessError};
use crate::Segment;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// A spawn target: what a spawned (or forked, for [`Process::target`](super::Process::target))
/// child runs.
///
/// ```
/// use ringfork::process::{register_target, Process, TargetArgs, TargetFn};
///
/// fn exit_with(args: TargetArgs) {
///     std::process::exit(args.arg_str(0).and_then(|s| s.parse().ok()).unwrap_or(1));
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let f: TargetFn = exit_with;
///     register_target("exit-with", f)?;
///     let mut p = Process::target("exit-with").arg("3"); // forked (the default start method)
///     p.start()?;
///     p.join()?;
///     assert_eq!(p.exitcode(), Some(3));
///     Ok(())
/// }
/// ```
pub type TargetFn = fn(TargetArgs);

/// What a target receives: the byte-string arguments and the segments passed by its parent, in the
/// order they were added.
///
/// ```
/// use ringfork::process::{register_target, Process, TargetArgs};
/// use ringfork::{Segment, ShmCell};
///
/// fn store(args: TargetArgs) {
///     let out = ShmCell::<u64>::open(&args.segments()[0], "out").expect("the parent placed it");
///     out.set(args.arg_str(0).and_then(|s| s.parse().ok()).unwrap_or(0));
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     register_target("store", store)?;
///     let seg = Segment::anonymous(4096)?;
///     let out = ShmCell::new_in(&seg, "out", 0u64)?;
///     let mut p = Process::target("store").arg("42").segment(&seg);
///     p.start()?;
///     p.join()?;
///     assert_eq!(out.get(), 42);
///     Ok(())
/// }
/// ```
#[derive(Debug, Default)]
pub struct TargetArgs {
    pub(crate) args: Vec<Vec<u8>>,
    pub(crate) segments: Vec<Segment>,
}

impl TargetArgs {
    /// All arguments.
    pub fn args(&self) -> &[Vec<u8>] {
        &self.args
    }

    /// Argument `i` as bytes.
    pub fn arg(&self, i: usize) -> Option<&[u8]> {
        self.args.get(i).map(Vec::as_slice)
    }

    /// Argument `i` as UTF-8 (`None` if absent or not UTF-8).
    pub fn arg_str(&self, i: usize) -> Option<&str> {
        self.arg(i).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The segments, mapped in this process.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

static TARGETS: Mutex<Vec<(String, TargetFn)>> = Mutex::new(Vec::new());

fn targets() -> MutexGuard<'static, Vec<(String, TargetFn)>> {
    TARGETS.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn fork_guard() -> MutexGuard<'static, Vec<(String, TargetFn)>> {
    targets()
}

/// Registers `f` as the spawn target `name`. Call it at the top of `main`, before
/// [`spawn_main_hook`], for every target, so parent and spawned child agree. Registering the same
/// function twice is fine; another function under a taken name is [`ProcessError::DuplicateTarget`].
pub fn register_target(name: &str, f: TargetFn) -> Result<(), ProcessError> {
    let mut t = targets();
    if let Some((_, g)) = t.iter().find(|(n, _)| n == name) {
        return if *g as usize == f as usize {
            Ok(())
        } else {
            Err(ProcessError::DuplicateTarget { name: name.to_owned() })
        };
    }
    t.push((name.to_owned(), f));
    Ok(())
}

pub(crate) fn lookup(name: &str) -> Option<TargetFn> {
    // Built in (wired at the crate root, so this layer does not know the pool), so a spawn-based Pool
    // works without the user registering anything.
    if let Some((_, f)) = crate::BUILTIN_TARGETS.iter().find(|(n, _)| *n == name) {
        return Some(*f);
    }
    targets().iter().find(|(n, _)| n == name).map(|(_, f)| *f)
}

/// Registers `targets` and then calls [`spawn_main_hook`]: the one line at the top of `main` of a
/// program that spawns. A duplicate name prints the error and exits with status 2 (a programming
/// error, found on the first run).
pub fn spawn_main(targets: &[(&str, TargetFn)]) {
    for (name, f) in targets {
        if let Err(e) = register_target(name, *f) {
            eprintln!("ringfork: {e}");
            std::process::exit(2);
        }
    }
    spawn_main_hook();
}

/// The exit code of a spawned child whose `main` never reached [`spawn_main`] / [`spawn_main_hook`]
/// (`EX_SOFTWARE`); its parent's `join` reports [`ProcessError::SpawnNotDispatched`].
pub const EXIT_NOT_DISPATCHED: i32 = 70;

/// Set once the dispatch hook ran in this process (a spawned child's target may then start
/// processes of its own).
static DISPATCHED: AtomicBool = AtomicBool::new(false);

/// Whether this process was started by spawn (its argv carries the marker).
fn spawned_by_argv() -> bool {
    std::env::args_os().nth(1).as_deref() == Some(OsStr::new(SPAWN_MARKER))
}

fn not_dispatched_message() -> String {
    format!(
        "ringfork: this process (pid {}) was started with StartMethod::Spawn, but the program's main did not \
         call ringfork::process::spawn_main(&[(\"name\", target), ...]) (or register_target + spawn_main_hook) \
         as its first line, so the child ran main again instead of its target; add that call at the top of \
         main. Exiting with code {EXIT_NOT_DISPATCHED}.",
        std::process::id()
    )
}

/// Called first by everything that starts processes: in a spawned child that has not reached the
/// dispatch hook, prints what to add and exits with [`EXIT_NOT_DISPATCHED`] (instead of spawning
/// again, recursively).
pub(crate) fn exit_if_undispatched_child() {
    // Ordering: Relaxed: set and read by this process's own threads around `main`; a stale false
    // only leads to re-reading argv.
    if DISPATCHED.load(Ordering::Relaxed) || !spawned_by_argv() {
        return;
    }
    eprintln!("{}", not_dispatched_message());
    let _ = io::stderr().flush();
    // SAFETY: leave at once; nothing of this accidental run of `main` should be cleaned up.
    unsafe { libc::_exit(EXIT_NOT_DISPATCHED) }
}

extern "C" fn undispatched_at_exit() {
    // Ordering: as in `exit_if_undispatched_child`.
    if !DISPATCHED.load(Ordering::Relaxed) {
        eprintln!("{}", not_dispatched_message());
        // SAFETY: _exit from an atexit handler ends the process at once with our code.
        unsafe { libc::_exit(EXIT_NOT_DISPATCHED) }
    }
}

/// Runs before `main` (glibc passes argc/argv to `.init_array` functions): in a spawned child,
/// installs [`undispatched_at_exit`], so a `main` that returns without reaching the hook still exits
/// with [`EXIT_NOT_DISPATCHED`]. It only reads argv and calls `atexit`.
extern "C" fn spawn_child_ctor(argc: libc::c_int, argv: *const *const libc::c_char, _env: *const *const libc::c_char) {
    if argc < 2 || argv.is_null() {
        return;
    }
    // SAFETY: glibc passes the process's argv (argc entries, each a NUL-terminated string) to
    // `.init_array` functions.
    let arg1 = unsafe { std::ffi::CStr::from_ptr(*argv.add(1)) };
    if arg1.to_bytes() == SPAWN_MARKER.as_bytes() {
        // SAFETY: atexit with a plain extern "C" function.
        unsafe { libc::atexit(undispatched_at_exit) };
    }
}

/// The constructor entry (kept alive by a reference from [`exit_if_undispatched_child`]'s callers,
/// so it is linked into every program that can start processes).
#[used]
#[link_section = ".init_array"]
pub(crate) static SPAWN_CHILD_CTOR: extern "C" fn(libc::c_int, *const *const libc::c_char, *const *const libc::c_char) =
    spawn_child_ctor;

/// The argv marker of a spawned child.
pub(crate) const SPAWN_MARKER: &str = "--ringfork-spawn-child";
const MAGIC: &[u8; 8] = b"RFBOOT01";

/// The bootstrap record a spawned child reads.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Boot {
    pub parent_pid: u32,
    pub daemon: bool,
    pub target: String,
    pub name: String,
    pub identity: Vec<u32>,
    pub args: Vec<Vec<u8>>,
    pub fds: Vec<i32>,
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

impl Boot {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend_from_slice(MAGIC);
        o.extend_from_slice(&self.parent_pid.to_le_bytes());
        o.push(self.daemon as u8);
        put_bytes(&mut o, self.target.as_bytes());
        put_bytes(&mut o, self.name.as_bytes());
        o.extend_from_slice(&(self.identity.len() as u32).to_le_bytes());
        for i in &self.identity {
            o.extend_from_slice(&i.to_le_bytes());
        }
        o.extend_from_slice(&(self.args.len() as u32).to_le_bytes());
        for a in &self.args {
            put_bytes(&mut o, a);
        }
        o.extend_from_slice(&(self.fds.len() as u32).to_le_bytes());
        for f in &self.fds {
            o.extend_from_slice(&f.to_le_bytes());
        }
        o
    }

    /// Decodes a record; every length is bounded by the bytes actually present.
    pub(crate) fn decode(b: &[u8]) -> Option<Boot> {
        let mut c = Cursor { b, at: 0 };
        if c.take(8)? != MAGIC {
            return None;
        }
        let parent_pid = c.u32()?;
        let daemon = c.take(1)?[0] != 0;
        let target = String::from_utf8(c.bytes()?.to_vec()).ok()?;
        let name = String::from_utf8(c.bytes()?.to_vec()).ok()?;
        let n = c.count(4)?;
        let identity = (0..n).map(|_| c.u32()).collect::<Option<Vec<_>>>()?;
        let n = c.count(4)?;
        let args = (0..n)
            .map(|_| c.bytes().map(<[u8]>::to_vec))
            .collect::<Option<Vec<_>>>()?;
        let n = c.count(4)?;
        let fds = (0..n).map(|_| c.u32().map(|v| v as i32)).collect::<Option<Vec<_>>>()?;
        if c.at != b.len() {
            return None;
        }
        Some(Boot {
            parent_pid,
            daemon,
            target,
            name,
            identity,
            args,
            fds,
        })
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// An element count, rejected if the remaining bytes cannot hold that many `min_size` elements.
    fn count(&mut self, min_size: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n <= (self.b.len() - self.at) / min_size).then_some(n)
    }
}

fn spawn_err(op: &'static str) -> impl FnOnce(io::Error) -> ProcessError {
    move |source| ProcessError::Spawn { op, source }
}

/// What the parent keeps of a spawned child's bootstrap record: the memfd and its length. The child
/// appends a byte once its dispatch hook has read the record.
#[derive(Debug)]
pub(crate) struct BootAck {
    file: std::fs::File,
    len: u64,
}

impl BootAck {
    /// Whether the child reached the dispatch hook.
    pub(crate) fn acknowledged(&self) -> bool {
        self.file.metadata().map(|m| m.len() > self.len).unwrap_or(true)
    }
}

/// Starts the spawned child described by `boot` (whose `fds` are the raw fds of `segments`); `record`
/// runs under the state lock with the child's pid. Returns the pid and the record's acknowledgement.
///
/// Between its `fork` and `exec` the child registers itself (lock-free, allocation-free) as an
/// attacher of every segment passed, and as a holder of every ring side this process holds inside
/// them: so it counts from before `start` returns, even if it is killed before it maps anything.
/// After `exec`, [`Segment::from_fd`] and the handles it opens adopt those registrations.
pub(crate) fn spawn(
    boot: &Boot,
    segments: &[Segment],
    record: impl FnOnce(&mut reap::State, u32),
) -> Result<(u32, BootAck), ProcessError> {
    let exe = std::env::current_exe().map_err(spawn_err("current_exe"))?;
    let memfd = rustix::fs::memfd_create("ringfork-spawn", rustix::fs::MemfdFlags::CLOEXEC).map_err(|e| {
        ProcessError::Spawn {
            op: "memfd_create",
            source: e.into(),
        }
    })?;
    let file = std::fs::File::from(memfd);
    let encoded = boot.encode();
    (&file).write_all(&encoded).map_err(spawn_err("write bootstrap"))?;
    let boot_fd = file.as_raw_fd();
    let mut keep: Vec<i32> = boot.fds.clone();
    keep.push(boot_fd);
    let daemon = boot.daemon;
    // Segment headers and held peer tables to register the child in (addresses of mappings that
    // `segments`, borrowed for this whole call, keep alive; the fork inside `cmd.spawn` copies them).
    let mut headers: Vec<(usize, usize)> = segments
        .iter()
        .map(|s| (s.addr_range().start, s.addr_range().end))
        .collect();
    headers.sort_unstable();
    headers.dedup();
    let tables: Vec<usize> = {
        let held = crate::queue::registration::fork_guard();
        let mut t: Vec<usize> = segments.iter().flat_map(|s| held.tables_in(&s.addr_range())).collect();
        t.sort_unstable();
        t.dedup();
        t
    };
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg0(exe.as_os_str())
        .arg(SPAWN_MARKER)
        .arg(boot_fd.to_string())
        .stdin(std::process::Stdio::null());
    // SAFETY: the closure runs in the child between fork and exec and only makes async-signal-safe
    // system calls (fcntl, prctl, getpid, open/read/close of /proc) on integers captured by value,
    // and atomic operations on shared mappings the fork copied; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            register_spawned(&headers, &tables);
            for &fd in &keep {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if daemon && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The state lock is held across the spawn so the child is recorded before anyone can wait for
    // children; the exec'd child never touches this process's locks.
    let mut st = reap::lock();
    let child = cmd.spawn().map_err(spawn_err("exec"))?;
    let pid = child.id();
    // Dropping a std Child neither waits nor kills: the process layer reaps `pid` itself.
    drop(child);
    record(&mut st, pid);
    drop(st);
    Ok((
        pid,
        BootAck {
            file,
            len: encoded.len() as u64,
        },
    ))
}

/// Registers the calling process (a spawned child between `fork` and `exec`) as an attacher of the
/// segments mapped at `headers` (address ranges) and a holder of the peer tables at `tables`. Async-signal-safe.
fn register_spawned(headers: &[(usize, usize)], tables: &[usize]) {
    let Some(me) = ringfork_core::os::ProcessStamp::current_process() else {
        return;
    };
    let me = (me.pid, me.start_time);
    for &(lo, hi) in headers {
        // SAFETY: a segment mapping the parent's `spawn` keeps alive across the fork.
        unsafe { Segment::register_at(lo..hi, me) };
    }
    for &t in tables {
        // SAFETY: a table the parent holds (from `HeldGuard::tables_in`) across the fork.
        unsafe { crate::queue::registration::register_in(t, me) };
    }
}

/// The child side of spawn: call it first thing in `main` (after registering targets). In a process
/// started by [`StartMethod::Spawn`](super::StartMethod::Spawn) it runs the target and exits, never
/// returning; anywhere else it returns at once.
pub fn spawn_main_hook() {
    // Ordering: see `exit_if_undispatched_child`.
    DISPATCHED.store(true, Ordering::Relaxed);
    let mut argv = std::env::args_os();
    let _exe = argv.next();
    if argv.next().as_deref() != Some(OsStr::new(SPAWN_MARKER)) {
        return;
    }
    let code = match run_spawned(argv.next()) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("ringfork: spawned child {}: {msg}", std::process::id());
            1
        }
    };
    let _ = std::panic::catch_unwind(reap::shutdown);
    crate::queue::registration::release_for_exit();
    crate::segment::release_for_exit();
    let _ = io::stdout().flush();
    std::process::exit(code);
}

/// Takes ownership of an inherited fd number after checking it is open and not stdio.
fn inherited_fd(fd: i32) -> Result<OwnedFd, String> {
    // SAFETY: F_GETFD only queries the descriptor table.
    if fd <= 2 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(format!(
            "inherited fd {fd} is not open (was the program re-executed by hand?)"
        ));
    }
    // SAFETY: the parent passed this fd number for us alone (it cleared FD_CLOEXEC on it just before
    // exec); it is open (checked above) and nothing else in this fresh process owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // Keep it from leaking into our own children.
    // SAFETY: F_SETFD on an fd we own.
    unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(owned)
}

fn run_spawned(fd_arg: Option<std::ffi::OsString>) -> Result<i32, String> {
    let fd: i32 = fd_arg
        .as_deref()
        .and_then(OsStr::to_str)
        .and_then(|s| s.parse().ok())
        .ok_or("missing or malformed bootstrap fd argument")?;
    let file = std::fs::File::from(inherited_fd(fd)?);
    let len = file.metadata().map_err(|e| format!("bootstrap: {e}"))?.len();
    // Acknowledge: the parent's join tells "never reached the hook" from any other exit by this.
    file.write_at(&[1], len)
        .map_err(|e| format!("acknowledging the bootstrap: {e}"))?;
    let len = usize::try_from(len).map_err(|_| "bootstrap too large")?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0)
        .map_err(|e| format!("reading bootstrap: {e}"))?;
    drop(file);
    let boot = Boot::decode(&buf).ok_or("bootstrap record is malformed")?;
    if boot.daemon && super::sys::getppid() != boot.parent_pid {
        return Err("the parent died before this daemon child started".into());
    }
    {
        let mut st = reap::lock();
        st.name = boot.name.clone();
        st.identity = boot.identity.clone();
        st.daemon = boot.daemon;
    }
    super::mark_child(boot.parent_pid, super::StartMethod::Spawn);
    let mut segments: Vec<Segment> = Vec::with_capacity(boot.fds.len());
    for (i, &fd) in boot.fds.iter().enumerate() {
        // The same segment passed twice arrives as the same fd: map it once, never own an fd twice.
        if let Some(j) = boot.fds[..i].iter().position(|&f| f == fd) {
            segments.push(segments[j].clone());
            continue;
        }
        let owned = inherited_fd(fd)?;
        segments.push(Segment::from_fd(owned).map_err(|e| format!("segment fd {fd}: {e}"))?);
    }
    let f = lookup(&boot.target).ok_or_else(|| {
        ProcessError::UnknownTarget {
            name: boot.target.clone(),
        }
        .to_string()
    })?;
    let args = TargetArgs {
        args: boot.args,
        segments,
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(args)));
    Ok(if r.is_ok() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_round_trips_and_rejects_garbage() {
        let b = Boot {
            parent_pid: 77,
            daemon: true,
            target: "t".into(),
            name: "Process-1:2".into(),
            identity: vec![1, 2],
            args: vec![b"a".to_vec(), vec![0, 255, 0], Vec::new()],
            fds: vec![5, 9],
        };
        let e = b.encode();
        assert_eq!(Boot::decode(&e), Some(b));
        for cut in 0..e.len() {
            assert_eq!(Boot::decode(&e[..cut]), None, "truncated at {cut}");
        }
        let mut huge = e.clone();
        // Claim 2^32-1 identity entries: rejected without allocating.
        let at = 8 + 4 + 1 + 4 + 1 + 4 + 11;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Boot::decode(&huge), None);
        let mut extra = e;
        extra.push(0);
        assert_eq!(Boot::decode(&extra), None);
    }

    #[test]
    fn duplicate_targets() {
        fn a(_: TargetArgs) {}
        fn b(_: TargetArgs) {
            std::hint::black_box(1);
        }
        register_target("dup-test", a).unwrap();
        register_target("dup-test", a).unwrap();
        assert!(matches!(
            register_target("dup-test", b),
            Err(ProcessError::DuplicateTarget { .. })
        ));
        assert!(lookup("dup-test").is_some());
        assert!(lookup("nope").is_none());
    }
}
