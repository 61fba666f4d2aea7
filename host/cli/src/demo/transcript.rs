//! The demo's transcript: every line any process of a demo prints through [`super::say`] is also
//! recorded here, with the printing process's pid and a monotonic timestamp, so that a demo can check
//! the notes' *observable* behaviour afterwards: which process printed which line, in which order, and
//! how far apart ("each process prints its own closing line", "the lines come out grouped",
//! "主 comes before the consumers finish").
//!
//! Layout (all in anonymous shared segments created before any child, so forked children and pool
//! workers inherit them): a counter `next`, a `ready` flag per record, and the records. A writer
//! claims an index with one atomic `fetch_add`, fills its record, then sets its `ready` flag; a reader
//! takes only records whose flag is set. A writer killed mid-line (a terminated daemon) leaves one
//! unready record and nothing else: no lock is ever held across a write, so no reader can be blocked.

use ringfork::{RawArray, RawValue};
use ringfork_core::payload::FixedStr;
use ringfork_core::time::{Clock, OsClock};
use ringfork_core::ShmSafe;

/// Records kept per demo run; later lines are printed but not recorded (`dropped` counts them).
const CAPACITY: usize = 2048;
/// Bytes of text kept per line (longer lines are cut at a character boundary).
const TEXT: usize = 196;

/// One recorded line as stored in shared memory.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Rec {
    /// `CLOCK_MONOTONIC` nanoseconds when the line was printed.
    t_ns: u64,
    /// The printing process.
    pid: u32,
    /// Padding (keeps the layout free of implicit padding).
    pad: u32,
    /// The text, possibly cut.
    text: FixedStr<TEXT>,
}

// SAFETY: repr(C) of integers and a FixedStr (ShmSafe: any bytes valid, length clamped), no implicit
// padding (8 + 4 + 4 + 200 bytes, align 8).
unsafe impl ShmSafe for Rec {}

const _: () = assert!(std::mem::size_of::<Rec>() == 216);

/// One line of the transcript, as a demo reads it back.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// Seconds since the transcript was created (the start of the demo).
    pub t: f64,
    /// `CLOCK_MONOTONIC` nanoseconds when it was printed (compare with [`now_ns`]).
    pub t_ns: u64,
    /// The process that printed it.
    pub pid: u32,
    /// The text.
    pub text: String,
}

/// The shared transcript (cheap to clone; every clone sees the same records).
#[derive(Clone)]
pub struct Transcript {
    next: RawValue<u64>,
    ready: RawArray<u32>,
    recs: RawArray<Rec>,
    origin_ns: u64,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript").field("lines", &self.next.load()).finish()
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds (the same clock in every process).
pub fn now_ns() -> u64 {
    OsClock::now().map(|i| i.0).unwrap_or(0)
}

impl Transcript {
    /// An empty transcript in new anonymous shared segments.
    pub fn new() -> Result<Transcript, ringfork::SegmentError> {
        let blank = Rec {
            t_ns: 0,
            pid: 0,
            pad: 0,
            text: FixedStr::default(),
        };
        Ok(Transcript {
            next: RawValue::new(0u64)?,
            ready: RawArray::new(&vec![0u32; CAPACITY])?,
            recs: RawArray::new(&vec![blank; CAPACITY])?,
            origin_ns: now_ns(),
        })
    }

    /// Records `text` as printed now by this process.
    pub fn record(&self, text: &str) {
        let i = self.next.fetch_add(1) as usize;
        if i >= CAPACITY {
            return;
        }
        let mut cut = text.len().min(TEXT);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let rec = Rec {
            t_ns: now_ns(),
            pid: std::process::id(),
            pad: 0,
            text: FixedStr::try_from(&text[..cut]).unwrap_or_default(),
        };
        // Each index is claimed by exactly one writer (the fetch_add above), so nobody else writes
        // this record; the SeqCst store of the flag publishes it to readers, who load the flag first.
        let _ = self.recs.set(i, rec);
        let _ = self.ready.store(i, 1);
    }

    /// Every complete line recorded so far, in the order the lines were claimed (printed).
    pub fn lines(&self) -> Vec<Line> {
        let n = (self.next.load() as usize).min(CAPACITY);
        (0..n)
            .filter(|&i| self.ready.load(i) == Some(1))
            .filter_map(|i| self.recs.get(i))
            .map(|r| Line {
                t: r.t_ns.saturating_sub(self.origin_ns) as f64 / 1e9,
                t_ns: r.t_ns,
                pid: r.pid,
                text: r.text.to_str_lossy_prefix().to_owned(),
            })
            .collect()
    }

    /// Lines printed but not recorded (past the capacity).
    pub fn dropped(&self) -> usize {
        (self.next.load() as usize).saturating_sub(CAPACITY)
    }
}

/// Helpers over a transcript snapshot.
pub trait Lines {
    /// The lines whose text contains `pat`.
    fn with(&self, pat: &str) -> Vec<&Line>;
    /// The index of the first line containing `pat`.
    fn pos(&self, pat: &str) -> Option<usize>;
    /// The index of the last line containing `pat`.
    fn last_pos(&self, pat: &str) -> Option<usize>;
}

/// Seconds from `since_ns` (a [`now_ns`] reading) to when `line` was printed (negative if before).
pub fn secs_after(line: &Line, since_ns: u64) -> f64 {
    (line.t_ns as f64 - since_ns as f64) / 1e9
}

impl Lines for [Line] {
    fn with(&self, pat: &str) -> Vec<&Line> {
        self.iter().filter(|l| l.text.contains(pat)).collect()
    }

    fn pos(&self, pat: &str) -> Option<usize> {
        self.iter().position(|l| l.text.contains(pat))
    }

    fn last_pos(&self, pat: &str) -> Option<usize> {
        self.iter().rposition(|l| l.text.contains(pat))
    }
}
