//! Thin OS helpers for the core (Linux, through rustix, no `std`): ids, and process liveness probes
//! that are safe against pid reuse.
//!
//! # Liveness
//! A pid alone does not identify a process: after it exits, the kernel may hand the same number to a
//! new one. A [`ProcessStamp`] pairs the pid (or tid) with the process's *start time* (field 22 of
//! `/proc/<pid>/stat`, in clock ticks since boot). [`probe`] says the stamped process is alive only if
//! `/proc/<pid>/stat` exists, shows the same start time, and is not a zombie.

use core::fmt;

/// The calling process's id.
pub fn getpid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The calling thread's id (equal to the pid for a single-threaded process).
pub fn gettid() -> u32 {
    rustix::thread::gettid().as_raw_nonzero().get() as u32
}

/// A process (or thread) identity that survives pid reuse: pid/tid plus start time.
///
/// ```
/// use ringfork_core::os::{probe, Liveness, ProcessStamp};
/// let me = ProcessStamp::current_process().unwrap();
/// assert_eq!(me.pid, std::process::id());
/// assert_eq!(probe(me), Liveness::Alive);
/// // The same pid with another start time is another (reused-pid) process.
/// let reused = ProcessStamp { start_time: me.start_time + 1, ..me };
/// assert_eq!(probe(reused), Liveness::Dead);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcessStamp {
    /// The pid or tid.
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
}

impl ProcessStamp {
    /// The stamp of the calling thread (tid + its start time), or `None` if `/proc` is unreadable.
    pub fn current_thread() -> Option<ProcessStamp> {
        let tid = gettid();
        stat(tid).ok().map(|s| ProcessStamp {
            pid: tid,
            start_time: s.start_time,
        })
    }

    /// The stamp of the calling process, or `None` if `/proc` is unreadable.
    pub fn current_process() -> Option<ProcessStamp> {
        let pid = getpid();
        stat(pid).ok().map(|s| ProcessStamp {
            pid,
            start_time: s.start_time,
        })
    }
}

/// What a liveness probe found.
///
/// ```
/// use ringfork_core::os::{pid_exists, Liveness};
/// assert_eq!(pid_exists(std::process::id()), Liveness::Alive);
/// assert_eq!(pid_exists(u32::MAX), Liveness::Dead); // no such pid
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// The stamped process runs (or sleeps): same pid, same start time, not a zombie.
    Alive,
    /// The process is gone: no such pid, a different process under that pid, or a zombie.
    Dead,
    /// `/proc` could not tell (e.g. hidden by `hidepid`, or not mounted). Treat as alive.
    Unknown,
}

/// Fields of `/proc/<pid>/stat` that ringfork uses.
///
/// ```
/// use ringfork_core::os::{getpid, stat};
/// let s = stat(getpid()).unwrap();
/// assert_eq!(s.ppid, std::os::unix::process::parent_id());
/// assert!(s.threads >= 1 && s.state != b'Z');
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// State letter: `R`, `S`, `D`, `Z`, `T`, `t`, `X`, `I`...
    pub state: u8,
    /// Parent pid (field 4).
    pub ppid: u32,
    /// Nice value (field 19).
    pub nice: i32,
    /// Number of threads (field 20).
    pub threads: u32,
    /// Start time in clock ticks since boot (field 22).
    pub start_time: u64,
}

/// Why `/proc/<pid>/stat` could not be read.
///
/// ```
/// use ringfork_core::os::{stat, StatError};
/// assert_eq!(stat(u32::MAX), Err(StatError::NoSuchProcess));
/// assert_eq!(StatError::NoSuchProcess.to_string(), "no such process");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatError {
    /// No such process.
    NoSuchProcess,
    /// The file exists but could not be read or parsed (with the errno, if any).
    Unreadable(i32),
}

impl fmt::Display for StatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatError::NoSuchProcess => f.write_str("no such process"),
            StatError::Unreadable(0) => f.write_str("/proc/<pid>/stat is not in the expected format"),
            StatError::Unreadable(e) => write!(f, "/proc/<pid>/stat unreadable (errno {e})"),
        }
    }
}

impl core::error::Error for StatError {}

/// Reads `/proc/<pid>/stat` (works for thread ids too).
pub fn stat(pid: u32) -> Result<ProcStat, StatError> {
    let mut path = [0u8; 32];
    let n = write_path(&mut path, pid);
    let cpath = core::ffi::CStr::from_bytes_with_nul(&path[..n]).map_err(|_| StatError::Unreadable(0))?;
    let fd = match rustix::fs::open(
        cpath,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::SRCH) => return Err(StatError::NoSuchProcess),
        Err(e) => return Err(StatError::Unreadable(e.raw_os_error())),
    };
    let mut buf = [0u8; 1024];
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::SRCH) => return Err(StatError::NoSuchProcess),
            Err(e) => return Err(StatError::Unreadable(e.raw_os_error())),
        }
    }
    parse_stat(&buf[..len]).ok_or(StatError::Unreadable(0))
}

/// Writes `/proc/<pid>/stat\0` into `buf`, returns the length including the NUL.
fn write_path(buf: &mut [u8; 32], pid: u32) -> usize {
    let prefix = b"/proc/";
    buf[..prefix.len()].copy_from_slice(prefix);
    let mut n = prefix.len();
    let mut digits = [0u8; 10];
    let mut d = 0;
    let mut v = pid;
    loop {
        digits[d] = b'0' + (v % 10) as u8;
        d += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    while d > 0 {
        d -= 1;
        buf[n] = digits[d];
        n += 1;
    }
    let suffix = b"/stat\0";
    buf[n..n + suffix.len()].copy_from_slice(suffix);
    n + suffix.len()
}

/// Parses the fields ringfork needs out of a `/proc/<pid>/stat` line. The command name (field 2) may
/// contain spaces and parentheses, so fields are counted after the *last* `)`.
pub fn parse_stat(line: &[u8]) -> Option<ProcStat> {
    let close = line.iter().rposition(|&b| b == b')')?;
    let rest = core::str::from_utf8(line.get(close + 1..)?).ok()?;
    let mut it = rest.split_ascii_whitespace();
    // Field 3 is the first after ')'.
    let state = *it.next()?.as_bytes().first()?;
    let ppid: u32 = it.next()?.parse().ok()?; // field 4
    let mut it = it.skip(19 - 5); // fields 5..=18
    let nice: i32 = it.next()?.parse().ok()?; // field 19
    let threads: u32 = it.next()?.parse().ok()?; // field 20
    let mut it = it.skip(1); // field 21
    let start_time: u64 = it.next()?.parse().ok()?; // field 22
    Some(ProcStat {
        state,
        ppid,
        nice,
        threads,
        start_time,
    })
}

/// Whether the process stamped `stamp` is still alive (see the module docs).
pub fn probe(stamp: ProcessStamp) -> Liveness {
    match stat(stamp.pid) {
        Ok(s) if s.start_time != stamp.start_time => Liveness::Dead,
        Ok(s) if s.state == b'Z' || s.state == b'X' => Liveness::Dead,
        Ok(_) => Liveness::Alive,
        Err(StatError::NoSuchProcess) => Liveness::Dead,
        Err(StatError::Unreadable(_)) => Liveness::Unknown,
    }
}

/// Whether *some* process or thread with this id exists (`kill(pid, 0)`-style, through `/proc`),
/// ignoring start times. Zombies count as dead.
pub fn pid_exists(pid: u32) -> Liveness {
    match stat(pid) {
        Ok(s) if s.state == b'Z' || s.state == b'X' => Liveness::Dead,
        Ok(_) => Liveness::Alive,
        Err(StatError::NoSuchProcess) => Liveness::Dead,
        Err(StatError::Unreadable(_)) => Liveness::Unknown,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_parens_and_spaces() {
        let line = b"1234 (a (weird) name) S 1 1234 1234 0 -1 4194304 100 0 0 0 1 2 0 0 20 -5 1 0 987654 1000 10";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, b'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.nice, -5);
        assert_eq!(s.threads, 1);
        assert_eq!(s.start_time, 987654);
        assert!(parse_stat(b"garbage").is_none());
        assert!(parse_stat(b"1 (x) S").is_none());
    }

    #[test]
    fn self_is_alive_and_a_wrong_start_time_is_dead() {
        let me = ProcessStamp::current_process().unwrap();
        assert_eq!(me.pid, std::process::id());
        assert_eq!(probe(me), Liveness::Alive);
        assert_eq!(
            probe(ProcessStamp {
                pid: me.pid,
                start_time: me.start_time + 1
            }),
            Liveness::Dead
        );
        // pid_max is at most 2^22 on Linux.
        assert_eq!(
            probe(ProcessStamp {
                pid: 0x7fff_fff0,
                start_time: 1
            }),
            Liveness::Dead
        );
        let t = ProcessStamp::current_thread().unwrap();
        assert_eq!(probe(t), Liveness::Alive);
    }
}
