//! [`Process`]: Python's `multiprocessing.Process`.

use super::reap::{self, Child, Reaped};
use super::spawn::{self, Boot, BootAck, TargetArgs};
use super::sys::{self, WaitStatus};
use super::ProcessError;
use crate::Segment;
use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// How a child process is created.
///
/// ```
/// use ringfork::process::{spawn_main, Process, ProcessError, StartMethod, TargetArgs};
///
/// fn exit5(_: TargetArgs) {
///     std::process::exit(5);
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     spawn_main(&[("exit5", exit5)]); // first line of main: a spawned child runs its target here
///     let mut p = Process::target("exit5").start_method(StartMethod::Spawn); // re-executes this program
///     p.start()?;
///     p.join()?;
///     assert_eq!(p.exitcode(), Some(5));
///     // A closure cannot cross `exec`: spawn needs a registered target.
///     let mut q = Process::new(|| {}).start_method(StartMethod::Spawn);
///     assert!(matches!(q.start(), Err(ProcessError::SpawnNeedsTarget { .. })));
///     Ok(())
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StartMethod {
    /// `fork(2)`: the child is a copy of the parent and runs the closure directly. Fast, and any
    /// closure works. Forking a multi-threaded parent is unsafe in general (the child inherits locks
    /// other threads held, e.g. the allocator's); prefer `Spawn` there.
    #[default]
    Fork,
    /// Re-execute the current program and run a registered target (see [`super::spawn_main`]). Safe from a
    /// multi-threaded parent; only [`Process::target`] processes can be spawned.
    Spawn,
}

static DEFAULT_METHOD: AtomicU8 = AtomicU8::new(0);

/// Sets the start method used by processes that do not choose one (Python's `set_start_method`).
#[doc(alias = "multiprocessing.set_start_method")]
pub fn set_start_method(m: StartMethod) {
    // Ordering: a standalone setting; no other memory is published with it.
    DEFAULT_METHOD.store(m as u8, Ordering::Relaxed);
}

/// The default start method (Python's `get_start_method`); [`StartMethod::Fork`] unless changed.
#[doc(alias = "multiprocessing.get_start_method")]
pub fn get_start_method() -> StartMethod {
    // Ordering: see `set_start_method`.
    match DEFAULT_METHOD.load(Ordering::Relaxed) {
        1 => StartMethod::Spawn,
        _ => StartMethod::Fork,
    }
}

/// The body of a process: Python's "subclass `Process` and override `run`".
///
/// ```
/// use ringfork::process::{Process, Run};
/// struct Exit7;
/// impl Run for Exit7 {
///     fn run(&mut self) {
///         std::process::exit(7);
///     }
/// }
/// let mut p = Process::from_run(Exit7);
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(7));
/// # Ok::<(), ringfork::process::ProcessError>(())
/// ```
pub trait Run: Send + 'static {
    /// What the child does. Returning gives exit code 0, a panic gives 1.
    fn run(&mut self);
}

enum Body {
    Closure(Box<dyn FnOnce() + Send>),
    Run(Box<dyn Run>),
    Target {
        name: String,
        args: Vec<Vec<u8>>,
        segments: Vec<Segment>,
    },
}

/// A child process (Python's `multiprocessing.Process`).
///
/// Build it from a closure ([`Process::new`]), a [`Run`] value ([`Process::from_run`]) or a registered
/// spawn target ([`Process::target`]); set a name, the daemon flag and the start method; then
/// [`start`](Process::start) it and [`join`](Process::join) it.
///
/// ```
/// use ringfork::{Process, ShmCell};
/// let out = ShmCell::new(0u64)?;
/// let out2 = out.clone();
/// let mut p = Process::new(move || out2.set(42)).name("worker");
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// assert_eq!(out.get(), 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Lifecycle and reaping
/// The child is always reaped: by `join`, by `is_alive`/`exitcode` once it ended, when the handle is
/// dropped (at once if it ended, otherwise it is *detached* and reaped later, see
/// [`reap_detached`](super::reap_detached)), and at exit (see [`shutdown`](super::shutdown)): when
/// `main` returns, non-daemon children are joined and daemon children are terminated, as in Python.
/// A daemon child also gets `PR_SET_PDEATHSIG(SIGKILL)`, so it dies even if the parent is
/// `SIGKILL`ed (the signal follows the *thread* that started it: start daemons from a thread that
/// outlives them, normally the main thread).
pub struct Process {
    body: Option<Body>,
    name: String,
    identity: Vec<u32>,
    daemon: bool,
    method: Option<StartMethod>,
    pid: Option<u32>,
    /// The pid of the process that started the child (the only one that may wait for it).
    parent: u32,
    result: Cell<Option<Reaped>>,
    /// A spawned child's bootstrap acknowledgement (see `spawn`, "A forgotten dispatch call").
    ack: Option<BootAck>,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("pid", &self.pid)
            .field("exitcode", &self.cached_exitcode())
            .finish()
    }
}

impl Process {
    fn with_body(body: Body) -> Process {
        let (name, identity) = {
            let mut st = reap::lock();
            st.counter += 1;
            let mut identity = st.identity.clone();
            identity.push(st.counter);
            let ids: Vec<String> = identity.iter().map(u32::to_string).collect();
            (format!("Process-{}", ids.join(":")), identity)
        };
        Process {
            body: Some(body),
            name,
            identity,
            daemon: false,
            method: None,
            pid: None,
            parent: 0,
            result: Cell::new(None),
            ack: None,
        }
    }

    /// A process that runs `f` (Python's `Process(target=f)`). Its default name is
    /// `Process-<n>` (`Process-<parent's n>:<n>` in a child), as in Python.
    pub fn new(f: impl FnOnce() + Send + 'static) -> Process {
        Process::with_body(Body::Closure(Box::new(f)))
    }

    /// A process that runs `r.run()` (Python's "subclass and override `run`").
    pub fn from_run(r: impl Run) -> Process {
        Process::with_body(Body::Run(Box::new(r)))
    }

    /// A process that runs the spawn target registered as `target` (see [`super::spawn_main`]); works with
    /// both start methods. Add arguments with [`arg`](Process::arg) and segments with
    /// [`segment`](Process::segment).
    pub fn target(target: &str) -> Process {
        Process::with_body(Body::Target {
            name: target.to_owned(),
            args: Vec::new(),
            segments: Vec::new(),
        })
    }

    /// Appends an argument for a [`target`](Process::target) process (ignored otherwise).
    pub fn arg(mut self, a: impl Into<Vec<u8>>) -> Process {
        if let Some(Body::Target { args, .. }) = &mut self.body {
            args.push(a.into());
        }
        self
    }

    /// Appends several arguments (see [`arg`](Process::arg)).
    pub fn args<I: IntoIterator<Item = A>, A: Into<Vec<u8>>>(mut self, it: I) -> Process {
        for a in it {
            self = self.arg(a);
        }
        self
    }

    /// Passes `seg` to a [`target`](Process::target) process: with spawn its fd is inherited and mapped
    /// again in the child; with fork the child gets a clone.
    pub fn segment(mut self, seg: &Segment) -> Process {
        if let Some(Body::Target { segments, .. }) = &mut self.body {
            segments.push(seg.clone());
        }
        self
    }

    /// Sets the name (builder form of [`set_name`](Process::set_name)).
    pub fn name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Sets the daemon flag (builder form; see [`set_daemon`](Process::set_daemon)).
    pub fn daemon(mut self, daemon: bool) -> Process {
        self.daemon = daemon;
        self
    }

    /// Chooses the start method (default: [`get_start_method`]).
    pub fn start_method(mut self, m: StartMethod) -> Process {
        self.method = Some(m);
        self
    }

    /// The name.
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// Renames the process (only the parent's handle; a running child keeps its name).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// Whether it is a daemon.
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// Sets the daemon flag; [`ProcessError::DaemonAfterStart`] once started. A daemon is terminated
    /// when its parent exits, and may not start children.
    pub fn set_daemon(&mut self, daemon: bool) -> Result<(), ProcessError> {
        if self.pid.is_some() {
            return Err(ProcessError::DaemonAfterStart {
                name: self.name.clone(),
            });
        }
        self.daemon = daemon;
        Ok(())
    }

    /// The child's pid once started (Python's `pid` / `ident`).
    #[doc(alias = "ident")]
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Starts the child. Errors: [`AlreadyStarted`](ProcessError::AlreadyStarted),
    /// [`DaemonCannotHaveChildren`](ProcessError::DaemonCannotHaveChildren) (the caller is a daemon),
    /// [`Fork`](ProcessError::Fork) (e.g. `EAGAIN` at `RLIMIT_NPROC`), [`Spawn`](ProcessError::Spawn),
    /// [`UnknownTarget`](ProcessError::UnknownTarget), [`SpawnNeedsTarget`](ProcessError::SpawnNeedsTarget).
    /// After a failed start the process can be started again.
    ///
    /// With [`StartMethod::Fork`] from a multi-threaded parent, the child may deadlock on a lock
    /// another thread held at the fork (see [`sys::fork`]); use [`StartMethod::Spawn`] there. The
    /// first such `start` in a process prints a warning on stderr saying so (as Python 3.12 warns),
    /// once per process; [`fork_thread_warnings`] tells whether it was printed.
    pub fn start(&mut self) -> Result<(), ProcessError> {
        // A spawned child whose main skipped the dispatch call must not start processes (it would
        // recurse): it exits here, saying what to add. The reference keeps the constructor linked.
        std::hint::black_box(&spawn::SPAWN_CHILD_CTOR);
        spawn::exit_if_undispatched_child();
        if let Some(pid) = self.pid {
            return Err(ProcessError::AlreadyStarted {
                name: self.name.clone(),
                pid,
            });
        }
        {
            let mut st = reap::lock();
            if st.daemon {
                return Err(ProcessError::DaemonCannotHaveChildren { name: st.name.clone() });
            }
            st.cleanup();
        }
        let method = self.method.unwrap_or_else(get_start_method);
        match (&self.body, method) {
            (Some(Body::Target { name, .. }), _) if spawn::lookup(name).is_none() => {
                return Err(ProcessError::UnknownTarget { name: name.clone() })
            }
            (Some(Body::Closure(_) | Body::Run(_)), StartMethod::Spawn) => {
                return Err(ProcessError::SpawnNeedsTarget {
                    name: self.name.clone(),
                })
            }
            _ => {}
        }
        reap::ensure_atexit();
        if method == StartMethod::Fork {
            warn_if_threaded();
        }
        let pid = match method {
            StartMethod::Fork => self.start_fork()?,
            StartMethod::Spawn => self.start_spawn()?,
        };
        self.pid = Some(pid);
        self.parent = sys::getpid();
        // Python drops the target in the parent once started; so do we (closing captured handles).
        self.body = None;
        Ok(())
    }

    fn record(&self) -> impl FnOnce(&mut reap::State, u32) + '_ {
        move |st, pid| {
            st.children.push(Child {
                pid,
                name: self.name.clone(),
                daemon: self.daemon,
                result: None,
                detached: false,
            })
        }
    }

    fn start_fork(&mut self) -> Result<u32, ProcessError> {
        let parent = sys::getpid();
        let record = self.record();
        // SAFETY: the child runs `child_main`, which ends in `_exit`; the multi-threaded-parent hazard
        // is documented on `start` (as Python documents it for its fork start method).
        let pid = unsafe { sys::fork_with(|st, pid| record(st, pid as u32)) }.map_err(ProcessError::Fork)?;
        if pid == 0 {
            self.child_main(parent);
        }
        Ok(pid as u32)
    }

    fn child_main(&mut self, parent: u32) -> ! {
        super::mark_child(parent, StartMethod::Fork);
        if self.daemon {
            // SAFETY: prctl(PR_SET_PDEATHSIG) takes integers.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
            if sys::getppid() != parent {
                // The parent died before the death signal was armed.
                sys::child_exit(1);
            }
        }
        {
            let mut st = reap::lock();
            st.name = self.name.clone();
            st.identity = self.identity.clone();
            st.daemon = self.daemon;
        }
        stdin_to_dev_null();
        let body = self.body.take();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || match body {
            Some(Body::Closure(f)) => f(),
            Some(Body::Run(mut r)) => r.run(),
            Some(Body::Target { name, args, segments }) => match spawn::lookup(&name) {
                Some(f) => f(TargetArgs { args, segments }),
                None => panic!("{}", ProcessError::UnknownTarget { name }),
            },
            None => {}
        }));
        sys::child_exit(if r.is_ok() { 0 } else { 1 })
    }

    fn start_spawn(&mut self) -> Result<u32, ProcessError> {
        let Some(Body::Target { name, args, segments }) = &self.body else {
            return Err(ProcessError::SpawnNeedsTarget {
                name: self.name.clone(),
            });
        };
        let boot = Boot {
            parent_pid: sys::getpid(),
            daemon: self.daemon,
            target: name.clone(),
            name: self.name.clone(),
            identity: self.identity.clone(),
            args: args.clone(),
            fds: segments.iter().map(Segment::raw_fd).collect(),
        };
        let (pid, ack) = spawn::spawn(&boot, segments, self.record())?;
        self.ack = Some(ack);
        Ok(pid)
    }

    fn started(&self) -> Result<u32, ProcessError> {
        let pid = self.pid.ok_or_else(|| ProcessError::NotStarted {
            name: self.name.clone(),
        })?;
        if self.parent != sys::getpid() {
            return Err(ProcessError::NotAChild {
                name: self.name.clone(),
                pid,
            });
        }
        Ok(pid)
    }

    /// The cached result, or a non-blocking reap (`None` in a process that is not the parent).
    fn poll(&self) -> Option<Reaped> {
        if let Some(r) = self.result.get() {
            return Some(r);
        }
        let pid = self.pid?;
        if self.parent != sys::getpid() {
            return None;
        }
        let r = reap::lock().try_reap(pid);
        self.set_result(pid, r)
    }

    fn set_result(&self, pid: u32, r: Option<Reaped>) -> Option<Reaped> {
        if r.is_some() {
            self.result.set(r);
            reap::lock().children.retain(|c| c.pid != pid);
        }
        r
    }

    fn cached_exitcode(&self) -> Option<i32> {
        match self.result.get() {
            Some(Reaped::Status(s)) => s.exitcode(),
            _ => None,
        }
    }

    fn finish(&self, pid: u32, r: Reaped) -> Result<(), ProcessError> {
        match r {
            Reaped::Status(WaitStatus::Exited(code)) if self.ack.as_ref().is_some_and(|a| !a.acknowledged()) => {
                Err(ProcessError::SpawnNotDispatched {
                    name: self.name.clone(),
                    pid,
                    exitcode: code,
                })
            }
            Reaped::Status(_) => Ok(()),
            Reaped::Lost => Err(ProcessError::ChildLost { pid }),
        }
    }

    /// Waits until the child ends and reaps it. [`NotStarted`](ProcessError::NotStarted) before
    /// `start`; [`ChildLost`](ProcessError::ChildLost) if someone else reaped it;
    /// [`SpawnNotDispatched`](ProcessError::SpawnNotDispatched) if a spawned child exited without
    /// reaching the program's `spawn_main` call. Joining again gives the same answer.
    pub fn join(&self) -> Result<(), ProcessError> {
        let pid = self.started()?;
        let r = match self.poll() {
            Some(r) => r,
            None => {
                let r = reap::wait(pid, None);
                self.set_result(pid, r).unwrap_or(Reaped::Lost)
            }
        };
        self.finish(pid, r)
    }

    /// Waits at most `timeout` for the child to end; `Ok(true)` if it ended (and was reaped),
    /// `Ok(false)` if it still runs when the timeout passed (never earlier). A zero timeout only
    /// checks (Python treats negative timeouts the same way; `Duration` cannot be negative).
    #[doc(alias = "join")]
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, ProcessError> {
        let pid = self.started()?;
        let r = match self.poll() {
            Some(r) => Some(r),
            None => {
                let deadline = Instant::now().checked_add(timeout);
                let r = reap::wait(pid, deadline);
                self.set_result(pid, r)
            }
        };
        match r {
            Some(r) => self.finish(pid, r).map(|()| true),
            None => Ok(false),
        }
    }

    /// Whether the child was started and has not ended (reaping it if it ended). `false` before
    /// `start`, and in any process other than its parent (which cannot know).
    pub fn is_alive(&self) -> bool {
        self.pid.is_some() && self.parent == sys::getpid() && self.poll().is_none()
    }

    /// Python's `exitcode`: `None` before start and while running, `Some(code)` after a normal exit,
    /// `Some(-signal)` when killed by a signal (`-9` for `SIGKILL`, `-15` for `SIGTERM`). A panic
    /// in the child gives `Some(1)`. Also `None` if the child was lost (see
    /// [`ChildLost`](ProcessError::ChildLost)) and in processes other than its parent.
    pub fn exitcode(&self) -> Option<i32> {
        match self.poll() {
            Some(Reaped::Status(s)) => s.exitcode(),
            _ => None,
        }
    }

    /// How the child ended, if it did.
    pub fn wait_status(&self) -> Option<WaitStatus> {
        match self.poll() {
            Some(Reaped::Status(s)) => Some(s),
            _ => None,
        }
    }

    fn send(&self, sig: i32) -> Result<(), ProcessError> {
        let pid = self.started()?;
        if self.poll().is_some() {
            return Ok(());
        }
        match reap::lock().signal(pid, sig) {
            Ok(_) => Ok(()),
            Err(source) => Err(ProcessError::Signal(crate::signal::SignalError::Os {
                op: "kill",
                source,
            })),
        }
    }

    /// Sends `SIGTERM` (the child's exitcode becomes `-15` unless it handles the signal). A no-op if
    /// the child already ended; [`NotStarted`](ProcessError::NotStarted) before `start`. Call
    /// [`join`](Process::join) afterwards to reap it.
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.send(libc::SIGTERM)
    }

    /// Sends `SIGKILL` (exitcode `-9`); otherwise as [`terminate`](Process::terminate).
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.send(libc::SIGKILL)
    }
}

/// Set once the multi-threaded-fork warning was printed in this process.
static THREAD_WARNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process has printed the "forking a multi-threaded process" warning (see
/// [`Process::start`]): `true` once a [`StartMethod::Fork`] start found other threads running.
pub fn fork_thread_warnings() -> bool {
    // Ordering: Relaxed; a flag with no data behind it.
    THREAD_WARNING.load(Ordering::Relaxed)
}

/// Warns once per process, on stderr, when a Fork start finds other threads (`/proc/self/stat`
/// field 20): a lock one of them holds stays locked forever in the child.
pub(crate) fn warn_if_threaded() {
    let Ok(st) = ringfork_core::os::stat(sys::getpid()) else {
        return;
    };
    // Ordering: Relaxed; see `fork_thread_warnings`.
    if st.threads > 1 && !THREAD_WARNING.swap(true, Ordering::Relaxed) {
        eprintln!(
            "ringfork: warning: Process::start with StartMethod::Fork in a process with {} threads: a \
             lock another thread holds at the fork (a std Mutex, stdout's, the allocator's...) stays \
             locked forever in the child, which then hangs. Start children with StartMethod::Spawn \
             (Process::target, spawn_main) from multi-threaded programs, or fork before starting \
             threads. (Shown once per process.)",
            st.threads
        );
    }
}

/// Python's children read nothing from the parent's stdin: it is replaced with `/dev/null`.
fn stdin_to_dev_null() {
    // SAFETY: open/dup2/close on a constant path and our own fds.
    unsafe {
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::close(fd);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let Some(pid) = self.pid else { return };
        if self.result.get().is_some() || self.parent != sys::getpid() {
            return;
        }
        let mut st = reap::lock();
        if st.try_reap(pid).is_some() {
            st.children.retain(|c| c.pid != pid);
        } else if let Some(c) = st.children.iter_mut().find(|c| c.pid == pid) {
            c.detached = true;
        }
    }
}

// A `Process` can be moved to another thread (and its body is `Send`); it is not `Sync`.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Process>();
};
