//! Signals, made safe: send, ignore, restore the default, and handlers whose user code never runs
//! inside the signal handler.
//!
//! # Design
//! A Rust closure is not async-signal-safe (it may allocate, lock, or touch the very state the
//! interrupted code was changing), so [`set_handler`] installs one tiny `extern "C"` handler for the
//! signal that does two async-signal-safe things only: it sets the signal's bit in a static pending
//! mask and writes one byte to a non-blocking *self-pipe*. The user callbacks run later, on an ordinary
//! thread, from [`wait_for_signal`], [`pause`], [`pause_timeout`] or [`dispatch`]: the classic self-pipe
//! trick. The pending bit is set before the byte is written, so a waiter that wakes on the pipe always
//! finds the bit; a full pipe loses nothing because the bit carries the information.
//!
//! After `fork` (through [`crate::process`]), the child gets a fresh self-pipe and an empty pending
//! mask, so a signal caught by the child never wakes the parent. Callbacks (like the kernel's signal
//! dispositions) are inherited.
//!
//! ```
//! use ringfork::signal::{self, Signal};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! static SEEN: AtomicU32 = AtomicU32::new(0);
//! signal::set_handler(Signal::Usr2, |s| { SEEN.store(s.as_raw() as u32, Ordering::SeqCst); })?;
//! signal::send(std::process::id(), Signal::Usr2)?;
//! assert_eq!(signal::pause_timeout(Duration::from_secs(5)), Some(Signal::Usr2));
//! assert_eq!(SEEN.load(Ordering::SeqCst), libc::SIGUSR2 as u32);
//! signal::default(Signal::Usr2)?;
//! # Ok::<(), ringfork::signal::SignalError>(())
//! ```

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A POSIX signal (the Linux numbering). Real-time signals are not listed.
///
/// ```
/// use ringfork::signal::{self, Signal};
/// use ringfork::Process;
/// use std::time::Duration;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     assert_eq!(Signal::from_raw(libc::SIGTERM), Some(Signal::Term));
///     assert_eq!(Signal::Term.to_string(), "SIGTERM");
///     let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(30)));
///     p.start()?;
///     signal::send(p.pid().expect("started"), Signal::Term)?;
///     p.join()?;
///     assert_eq!(p.exitcode(), Some(-Signal::Term.as_raw())); // Python's -15
///     Ok(())
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
#[allow(missing_docs)] // each variant is the signal of the same name
pub enum Signal {
    Hup = libc::SIGHUP,
    Int = libc::SIGINT,
    Quit = libc::SIGQUIT,
    Ill = libc::SIGILL,
    Trap = libc::SIGTRAP,
    Abrt = libc::SIGABRT,
    Bus = libc::SIGBUS,
    Fpe = libc::SIGFPE,
    Kill = libc::SIGKILL,
    Usr1 = libc::SIGUSR1,
    Segv = libc::SIGSEGV,
    Usr2 = libc::SIGUSR2,
    Pipe = libc::SIGPIPE,
    Alrm = libc::SIGALRM,
    Term = libc::SIGTERM,
    Chld = libc::SIGCHLD,
    Cont = libc::SIGCONT,
    Stop = libc::SIGSTOP,
    Tstp = libc::SIGTSTP,
    Ttin = libc::SIGTTIN,
    Ttou = libc::SIGTTOU,
    Urg = libc::SIGURG,
    Xcpu = libc::SIGXCPU,
    Xfsz = libc::SIGXFSZ,
    Vtalrm = libc::SIGVTALRM,
    Prof = libc::SIGPROF,
    Winch = libc::SIGWINCH,
    Io = libc::SIGIO,
    Pwr = libc::SIGPWR,
    Sys = libc::SIGSYS,
}

const ALL: [Signal; 30] = [
    Signal::Hup,
    Signal::Int,
    Signal::Quit,
    Signal::Ill,
    Signal::Trap,
    Signal::Abrt,
    Signal::Bus,
    Signal::Fpe,
    Signal::Kill,
    Signal::Usr1,
    Signal::Segv,
    Signal::Usr2,
    Signal::Pipe,
    Signal::Alrm,
    Signal::Term,
    Signal::Chld,
    Signal::Cont,
    Signal::Stop,
    Signal::Tstp,
    Signal::Ttin,
    Signal::Ttou,
    Signal::Urg,
    Signal::Xcpu,
    Signal::Xfsz,
    Signal::Vtalrm,
    Signal::Prof,
    Signal::Winch,
    Signal::Io,
    Signal::Pwr,
    Signal::Sys,
];

const NAMES: [&str; 30] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

impl Signal {
    /// The signal number.
    #[doc(alias = "signum")]
    pub const fn as_raw(self) -> i32 {
        self as i32
    }

    /// The signal with number `signo`, if it is one of the listed signals.
    pub fn from_raw(signo: i32) -> Option<Signal> {
        ALL.iter().copied().find(|s| s.as_raw() == signo)
    }

    /// The C name, e.g. `"SIGUSR1"`.
    pub fn name(self) -> &'static str {
        let i = ALL.iter().position(|&s| s == self).unwrap_or(0);
        NAMES[i]
    }

    /// Every listed signal.
    pub fn all() -> &'static [Signal] {
        &ALL
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a signal operation failed.
///
/// ```
/// use ringfork::signal::{self, Signal, SignalError};
///
/// let e = signal::set_handler(Signal::Kill, |_| {}).unwrap_err();
/// assert!(matches!(e, SignalError::Uncatchable(Signal::Kill)));
/// assert!(e.to_string().contains("cannot be caught"));
/// assert!(matches!(signal::send(0, Signal::Term), Err(SignalError::InvalidPid(0))));
/// // A pid above the kernel's `pid_max`: no such process.
/// match signal::send(i32::MAX as u32, Signal::Term) {
///     Err(SignalError::Os { op: "kill", source }) => assert_eq!(source.raw_os_error(), Some(libc::ESRCH)),
///     other => panic!("expected ESRCH, got {other:?}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SignalError {
    /// `SIGKILL` and `SIGSTOP` cannot be caught or ignored.
    Uncatchable(Signal),
    /// The pid is 0 or does not fit a `pid_t`; use a real process id (group signalling is not offered).
    InvalidPid(u32),
    /// A system call failed (`ESRCH`: no such process; `EPERM`: not allowed to signal it).
    Os {
        /// What was being done (`"kill"`, `"sigaction"`, `"pipe2"`).
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::Uncatchable(s) => {
                write!(f, "{s} cannot be caught, handled or ignored (the kernel forbids it)")
            }
            SignalError::InvalidPid(p) => write!(f, "invalid pid {p}: give the id of one existing process"),
            SignalError::Os { op, source } if source.raw_os_error() == Some(libc::ESRCH) => {
                write!(f, "{op} failed: no such process ({source})")
            }
            SignalError::Os { op, source } if source.raw_os_error() == Some(libc::EPERM) => {
                write!(f, "{op} failed: not permitted to signal that process ({source})")
            }
            SignalError::Os { op, source } => write!(f, "{op} failed: {source}"),
        }
    }
}

impl std::error::Error for SignalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SignalError::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn os(op: &'static str) -> SignalError {
    SignalError::Os {
        op,
        source: io::Error::last_os_error(),
    }
}

/// Sends `sig` to the process `pid`.
#[doc(alias = "kill")]
#[doc(alias = "os.kill")]
pub fn send(pid: u32, sig: Signal) -> Result<(), SignalError> {
    let p = i32::try_from(pid)
        .ok()
        .filter(|&p| p > 0)
        .ok_or(SignalError::InvalidPid(pid))?;
    // SAFETY: kill(2) takes plain integers and has no memory effects.
    if unsafe { libc::kill(p, sig.as_raw()) } != 0 {
        return Err(os("kill"));
    }
    Ok(())
}

/// A user callback run by the dispatcher (never inside the signal handler).
type Callback = Arc<dyn Fn(Signal) + Send + Sync>;

/// Bit `n - 1` is set when signal `n` arrived and its callback has not run yet.
static PENDING: AtomicU64 = AtomicU64::new(0);
/// The self-pipe (read end, write end), or -1 before the first handler is installed.
static PIPE_R: AtomicI32 = AtomicI32::new(-1);
static PIPE_W: AtomicI32 = AtomicI32::new(-1);
/// Callbacks by signal. Locked only by ordinary code, never by the handler.
static CALLBACKS: Mutex<Vec<(i32, Callback)>> = Mutex::new(Vec::new());

fn callbacks() -> MutexGuard<'static, Vec<(i32, Callback)>> {
    CALLBACKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process's only signal handler: async-signal-safe (an atomic OR and a `write`).
extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot; saved and restored so the
    // interrupted code never sees the write(2) below change errno.
    let saved = unsafe { *libc::__errno_location() };
    if (1..=64).contains(&sig) {
        PENDING.fetch_or(1u64 << (sig - 1), Ordering::SeqCst);
    }
    let fd = PIPE_W.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; one byte from a local. The fd is our non-blocking
        // pipe (a full pipe just fails with EAGAIN: the pending bit already carries the signal).
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}

fn ensure_pipe() -> Result<(), SignalError> {
    if PIPE_R.load(Ordering::SeqCst) >= 0 {
        return Ok(());
    }
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the 2-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(os("pipe2"));
    }
    // Callers hold CALLBACKS, so only one thread creates the pipe.
    PIPE_R.store(fds[0], Ordering::SeqCst);
    PIPE_W.store(fds[1], Ordering::SeqCst);
    Ok(())
}

fn set_action(sig: Signal, handler: libc::sighandler_t) -> Result<(), SignalError> {
    if matches!(sig, Signal::Kill | Signal::Stop) {
        return Err(SignalError::Uncatchable(sig));
    }
    // SAFETY: a zeroed sigaction is a valid starting value; every field we rely on is set below.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler;
    act.sa_flags = libc::SA_RESTART;
    // SAFETY: sa_mask is a valid sigset_t inside `act`.
    unsafe { libc::sigemptyset(&mut act.sa_mask) };
    // SAFETY: `act` is fully initialized; the handler (if any) is async-signal-safe (`on_signal`).
    if unsafe { libc::sigaction(sig.as_raw(), &act, std::ptr::null_mut()) } != 0 {
        return Err(os("sigaction"));
    }
    Ok(())
}

/// Installs `callback` for `sig`, replacing any previous one. The callback runs on the thread that
/// calls [`wait_for_signal`], [`pause`], [`pause_timeout`] or [`dispatch`] after the signal arrived,
/// never inside the signal handler, so it may do anything. Interrupted system calls are restarted
/// (`SA_RESTART`).
///
/// `SIGKILL` and `SIGSTOP` give [`SignalError::Uncatchable`].
#[doc(alias = "signal.signal")]
pub fn set_handler(sig: Signal, callback: impl Fn(Signal) + Send + Sync + 'static) -> Result<(), SignalError> {
    if matches!(sig, Signal::Kill | Signal::Stop) {
        return Err(SignalError::Uncatchable(sig));
    }
    let mut cbs = callbacks();
    ensure_pipe()?;
    cbs.retain(|(s, _)| *s != sig.as_raw());
    cbs.push((sig.as_raw(), Arc::new(callback)));
    set_action(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t)
}

/// Catches `sig` with no callback: it no longer has its default action, and [`wait_for_signal`] /
/// [`pause`] return it.
pub fn catch(sig: Signal) -> Result<(), SignalError> {
    set_handler(sig, |_| {})
}

/// Ignores `sig` (`SIG_IGN`); its callback, if any, is removed. Ignoring `SIGCHLD` makes the kernel
/// reap children itself (see [`crate::process::sys::ignore_sigchld`]).
#[doc(alias = "SIG_IGN")]
pub fn ignore(sig: Signal) -> Result<(), SignalError> {
    set_action(sig, libc::SIG_IGN)?;
    callbacks().retain(|(s, _)| *s != sig.as_raw());
    Ok(())
}

/// Restores the default action of `sig` (`SIG_DFL`); its callback, if any, is removed.
#[doc(alias = "SIG_DFL")]
pub fn default(sig: Signal) -> Result<(), SignalError> {
    set_action(sig, libc::SIG_DFL)?;
    callbacks().retain(|(s, _)| *s != sig.as_raw());
    Ok(())
}

/// Takes the lowest pending signal, if any.
fn take_pending() -> Option<i32> {
    let mut cur = PENDING.load(Ordering::SeqCst);
    while cur != 0 {
        let bit = cur & cur.wrapping_neg();
        match PENDING.compare_exchange(cur, cur & !bit, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return Some(bit.trailing_zeros() as i32 + 1),
            Err(now) => cur = now,
        }
    }
    None
}

fn run_callback(signo: i32) -> Option<Signal> {
    let sig = Signal::from_raw(signo)?;
    let cb = callbacks().iter().find(|(s, _)| *s == signo).map(|(_, cb)| cb.clone());
    // The lock is released: a callback may itself (un)register handlers.
    if let Some(cb) = cb {
        cb(sig);
    }
    Some(sig)
}

/// Runs the callbacks of every signal that arrived since the last dispatch; returns how many ran.
/// Never blocks.
pub fn dispatch() -> usize {
    let mut n = 0;
    while let Some(s) = take_pending() {
        if run_callback(s).is_some() {
            n += 1;
        }
    }
    n
}

fn drain_pipe() {
    let fd = PIPE_R.load(Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; 64];
    // SAFETY: read(2) into a local buffer of the given length; the fd is non-blocking.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// Waits until a caught signal arrives (one installed with [`set_handler`] or [`catch`]), runs its
/// callback, and returns it; `None` if `timeout` passed first (never earlier). `None` as timeout
/// waits forever; a zero timeout only checks for a signal that already arrived.
pub fn wait_for_signal(timeout: Option<Duration>) -> Option<Signal> {
    let deadline = timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
    {
        let _cbs = callbacks();
        if ensure_pipe().is_err() {
            // No pipe (out of fds): fall back to polling the pending mask.
        }
    }
    loop {
        if let Some(s) = take_pending() {
            if let Some(sig) = run_callback(s) {
                return Some(sig);
            }
            continue;
        }
        let wait_ms: i32 = match deadline {
            None => 1000,
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return None;
                }
                // Rounded up, so the deadline is never cut short; capped, so a lost wake-up costs 1 s.
                let left = d - now;
                left.as_millis().saturating_add(1).min(1000) as i32
            }
        };
        let fd = PIPE_R.load(Ordering::SeqCst);
        if fd >= 0 {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; EINTR (a signal arrived) just loops.
            unsafe { libc::poll(&mut p, 1, wait_ms) };
            drain_pipe();
        } else {
            std::thread::sleep(Duration::from_millis(wait_ms.min(5) as u64));
        }
    }
}

/// Waits for a caught signal and returns it after its callback ran (Python's `signal.pause()`).
/// A signal with its default action may end the process instead; an ignored one never wakes it.
#[doc(alias = "signal.pause")]
pub fn pause() -> Signal {
    loop {
        if let Some(s) = wait_for_signal(None) {
            return s;
        }
    }
}

/// [`pause`] with a timeout: `None` if no caught signal arrived within `timeout`.
pub fn pause_timeout(timeout: Duration) -> Option<Signal> {
    wait_for_signal(Some(timeout))
}

/// Asks the kernel to send `SIGALRM` to this process in `secs` seconds (0 cancels); returns the
/// seconds left on the previous alarm. Without a handler (or [`catch`]), `SIGALRM` ends the process.
#[doc(alias = "signal.alarm")]
pub fn alarm(secs: u32) -> u32 {
    // SAFETY: alarm(2) takes an integer and has no memory effects.
    unsafe { libc::alarm(secs) }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Called in a freshly forked child: a new self-pipe, an empty pending mask.
pub(crate) fn after_fork_child() {
    PENDING.store(0, Ordering::SeqCst);
    let old_r = PIPE_R.load(Ordering::SeqCst);
    if old_r < 0 {
        return;
    }
    // SAFETY: sigset_t values are plain data; sigfillset/pthread_sigmask only write our locals.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        // Block signals while the pipe is swapped, so the handler never writes to a closed fd.
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let old_w = PIPE_W.load(Ordering::SeqCst);
        let mut fds = [0i32; 2];
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) == 0 {
            PIPE_R.store(fds[0], Ordering::SeqCst);
            PIPE_W.store(fds[1], Ordering::SeqCst);
        } else {
            PIPE_R.store(-1, Ordering::SeqCst);
            PIPE_W.store(-1, Ordering::SeqCst);
        }
        libc::close(old_r);
        libc::close(old_w);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// Held across `fork` so the child never inherits the callback table locked by another thread.
pub(crate) fn fork_guard() -> MutexGuard<'static, Vec<(i32, Callback)>> {
    callbacks()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for &s in Signal::all() {
            assert_eq!(Signal::from_raw(s.as_raw()), Some(s));
            assert!(s.name().starts_with("SIG"));
        }
        assert_eq!(Signal::Term.to_string(), "SIGTERM");
        assert_eq!(Signal::from_raw(0), None);
        assert_eq!(Signal::from_raw(99), None);
    }

    #[test]
    fn kill_and_stop_are_uncatchable() {
        assert!(matches!(
            set_handler(Signal::Kill, |_| {}),
            Err(SignalError::Uncatchable(Signal::Kill))
        ));
        assert!(matches!(
            ignore(Signal::Stop),
            Err(SignalError::Uncatchable(Signal::Stop))
        ));
        assert!(matches!(send(0, Signal::Term), Err(SignalError::InvalidPid(0))));
        assert!(matches!(send(u32::MAX, Signal::Term), Err(SignalError::InvalidPid(_))));
    }

    #[test]
    fn zero_and_short_timeouts() {
        let t = Instant::now();
        assert_eq!(wait_for_signal(Some(Duration::ZERO)), None);
        assert_eq!(pause_timeout(Duration::from_millis(100)), None);
        let el = t.elapsed();
        assert!(
            el >= Duration::from_millis(100) && el < Duration::from_secs(2),
            "{el:?}"
        );
    }
}
