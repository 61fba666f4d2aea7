//! What `ringfork ls`, `ringfork clean` and `ringfork inspect` do: find ringfork's named segments in
//! `/dev/shm`, tell which are in use, remove leaked ones, and print object headers.
//!
//! A segment is "ringfork's" only if its first bytes are a valid, READY [`SegmentHeader`](ringfork_core::segment::SegmentHeader); anything
//! else in `/dev/shm` is never touched. A segment is "in use" if any registered attacher is alive (or
//! its liveness cannot be determined), or if some attacher could not be registered (registry full).

use ringfork::segment::{Segment, SegmentError};
use ringfork_core::header::HEADER_SIZE;
use ringfork_core::os::Liveness;
use ringfork_core::{AttachError, Kind};
use serde_json::{json, Value};
use std::time::Duration;

/// Where POSIX shared memory lives on Linux.
pub const SHM_DIR: &str = "/dev/shm";

/// One ringfork segment as seen by `ls`.
#[derive(Debug, Clone)]
pub struct SegmentSummary {
    /// `/name`.
    pub name: String,
    /// Mapping length.
    pub len: usize,
    /// Bytes allocated.
    pub used: u64,
    /// Objects in its directory.
    pub objects: usize,
    /// Registered attachers still alive (or of unknown liveness).
    pub live: Vec<u32>,
    /// Registered attachers that are gone.
    pub dead: Vec<u32>,
    /// Attachers that found the registry full.
    pub unregistered: u32,
}

impl SegmentSummary {
    /// Whether any process may still use it.
    pub fn in_use(&self) -> bool {
        !self.live.is_empty() || self.unregistered > 0
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name, "len": self.len, "used": self.used, "objects": self.objects,
            "live_attachers": self.live, "dead_attachers": self.dead,
            "unregistered_attachers": self.unregistered, "in_use": self.in_use(),
        })
    }
}

/// Summarizes an opened segment.
pub fn summarize(seg: &Segment) -> SegmentSummary {
    let info = seg.info();
    let mut live = Vec::new();
    let mut dead = Vec::new();
    for (a, l) in seg.attachers() {
        match l {
            Liveness::Dead => dead.push(a.pid),
            Liveness::Alive | Liveness::Unknown => live.push(a.pid),
        }
    }
    SegmentSummary {
        name: seg.name().unwrap_or("(anonymous)").to_owned(),
        len: seg.len(),
        used: info.used,
        objects: seg.objects().len(),
        live,
        dead,
        unregistered: info.overflow,
    }
}

/// Every ringfork segment in `/dev/shm` (foreign and half-created files are skipped silently). An
/// entry that is not a regular file (a FIFO, a symbolic link, a socket, ...) or that `open` refuses as
/// unsafe (another owner) is skipped with a note on stderr: it is never opened, followed or blocked on.
pub fn list() -> Result<Vec<SegmentSummary>, SegmentError> {
    let rd = std::fs::read_dir(SHM_DIR).map_err(|source| SegmentError::Os {
        op: "read_dir",
        name: Some(SHM_DIR.into()),
        source,
    })?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let name = e.file_name().to_string_lossy().into_owned();
        if !ft.is_file() {
            if !ft.is_dir() {
                let what = if ft.is_symlink() {
                    "a symbolic link (not followed)"
                } else {
                    "not a regular file"
                };
                eprintln!("ringfork: skipped {SHM_DIR}/{name}: {what}");
            }
            continue;
        }
        match Segment::open_read_only(&name, Duration::ZERO) {
            Ok(seg) => out.push(summarize(&seg)),
            Err(e @ SegmentError::Unsafe { .. }) => eprintln!("ringfork: skipped {SHM_DIR}/{name}: {e}"),
            Err(_) => {} // not a ringfork segment, or one still being created
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// What `clean` did (or would do) with one segment.
#[derive(Debug, Clone)]
pub struct CleanAction {
    /// The segment.
    pub summary: SegmentSummary,
    /// Whether it was removed (false in a dry run, or when in use, or on error).
    pub removed: bool,
    /// Why it was kept, or the error.
    pub note: String,
}

/// Removes every ringfork segment that no live process uses. With `dry_run`, only reports.
pub fn clean(dry_run: bool) -> Result<Vec<CleanAction>, SegmentError> {
    let mut out = Vec::new();
    for summary in list()? {
        let (removed, note) = if summary.in_use() {
            (
                false,
                format!(
                    "in use by {} live process(es)",
                    summary.live.len() + summary.unregistered as usize
                ),
            )
        } else if dry_run {
            (false, "would remove (no live attacher)".to_owned())
        } else {
            match Segment::unlink(&summary.name) {
                Ok(()) => (true, "removed (no live attacher)".to_owned()),
                Err(e) => (false, e.to_string()),
            }
        };
        out.push(CleanAction { summary, removed, note });
    }
    Ok(out)
}

/// One object's header as `inspect` shows it.
#[derive(Debug, Clone)]
pub struct ObjectReport {
    /// Directory name.
    pub name: String,
    /// Offset in the segment.
    pub offset: usize,
    /// Bytes reserved.
    pub size: usize,
    /// The header fields, if the header could be read.
    pub header: Option<ringfork_core::header::HeaderSnapshot>,
    /// Validation result of the header against its directory kind.
    pub status: Result<(), AttachError>,
}

impl ObjectReport {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        let h = self.header.map(|h| {
            json!({
                "kind": Kind::from_raw(h.kind).map(Kind::name).unwrap_or("unknown"), "kind_raw": h.kind,
                "version": h.version, "state": state_name(h.state), "size": h.size, "capacity": h.capacity,
                "elem_size": h.elem_size, "elem_align": h.elem_align, "msg_limit": h.msg_limit,
                "tag": h.tag, "flags": h.flags,
            })
        });
        json!({
            "name": self.name, "offset": self.offset, "size": self.size, "header": h,
            "valid": self.status.is_ok(),
            "error": self.status.as_ref().err().map(|e| e.to_string()),
        })
    }
}

/// The name of an init state.
pub fn state_name(state: u32) -> &'static str {
    match state {
        ringfork_core::header::UNINIT => "uninit",
        ringfork_core::header::INITIALIZING => "initializing",
        ringfork_core::header::READY => "ready",
        _ => "corrupted",
    }
}

/// Reads every object header of a segment (without waiting).
pub fn inspect(seg: &Segment) -> Vec<ObjectReport> {
    seg.objects()
        .into_iter()
        .map(|e| {
            let name = e.name().unwrap_or("(invalid utf-8)").to_owned();
            let (header, status) = if e.size >= HEADER_SIZE {
                seg.inspect_object(&e)
            } else {
                (
                    None,
                    Err(AttachError::TooSmall {
                        needed: HEADER_SIZE,
                        available: e.size,
                    }),
                )
            };
            ObjectReport {
                name,
                offset: e.offset,
                size: e.size,
                header,
                status,
            }
        })
        .collect()
}
