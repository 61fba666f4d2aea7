//! `ringfork ls`, `clean`, `inspect`, `segment create|rm`.

use super::CmdResult;
use crate::shmls;
use clap::{Args, Subcommand};
use ringfork::{Segment, ShmCell};
use serde_json::json;

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only report what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Segment name (with or without the leading '/').
    name: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SegmentCmd {
    /// Create a named segment (mode 0600); optionally place u64 cells in it.
    Create {
        /// Segment name.
        name: String,
        /// Usable size, e.g. 65536, 64K, 1M.
        #[arg(long, default_value = "64K", value_parser = parse_size)]
        size: usize,
        /// Place a `u64` cell: NAME=VALUE (repeatable).
        #[arg(long = "cell", value_parser = parse_cell)]
        cells: Vec<(String, u64)>,
        /// Keep the segment mapped (this process registered as its user) until killed; prints
        /// "ready" once created. Used to demonstrate and test leak cleanup.
        #[arg(long)]
        hold: bool,
    },
    /// Remove a named segment's name (mapped users keep their mapping).
    Rm {
        /// Segment name.
        name: String,
    },
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1usize << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (examples: 4096, 64K, 16M, 1G)"))?;
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("{s:?} is zero or too large"))
}

fn parse_cell(s: &str) -> Result<(String, u64), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=VALUE, e.g. counter=0"))?;
    let value = value
        .parse()
        .map_err(|_| format!("{value:?} is not an unsigned integer"))?;
    if name.is_empty() || name.len() > ringfork_core::segment::NAME_MAX {
        return Err(format!(
            "cell name must be 1..={} bytes",
            ringfork_core::segment::NAME_MAX
        ));
    }
    Ok((name.to_owned(), value))
}

pub fn ls(a: LsArgs) -> CmdResult {
    let segs = shmls::list()?;
    if a.json {
        println!("{}", json!(segs.iter().map(|s| s.to_json()).collect::<Vec<_>>()));
        return Ok(0);
    }
    if segs.is_empty() {
        println!("no ringfork segments in {}", shmls::SHM_DIR);
        return Ok(0);
    }
    println!(
        "{:<32} {:>12} {:>12} {:>8} {:>6} {:>6}",
        "NAME", "SIZE", "USED", "OBJECTS", "LIVE", "DEAD"
    );
    for s in &segs {
        println!(
            "{:<32} {:>12} {:>12} {:>8} {:>6} {:>6}",
            s.name,
            s.len,
            s.used,
            s.objects,
            s.live.len() + s.unregistered as usize,
            s.dead.len()
        );
    }
    Ok(0)
}

pub fn clean(a: CleanArgs) -> CmdResult {
    let actions = shmls::clean(a.dry_run)?;
    if a.json {
        let v: Vec<_> = actions
            .iter()
            .map(|c| json!({"segment": c.summary.to_json(), "removed": c.removed, "note": c.note}))
            .collect();
        println!("{}", json!(v));
        return Ok(0);
    }
    if actions.is_empty() {
        println!("no ringfork segments in {}", shmls::SHM_DIR);
    }
    for c in &actions {
        println!("{}: {}", c.summary.name, c.note);
    }
    Ok(0)
}

pub fn inspect(a: InspectArgs) -> CmdResult {
    let seg = Segment::open_read_only(&a.name, std::time::Duration::from_millis(500))?;
    let summary = shmls::summarize(&seg);
    let objects = shmls::inspect(&seg);
    if a.json {
        println!(
            "{}",
            json!({"segment": summary.to_json(), "objects": objects.iter().map(|o| o.to_json()).collect::<Vec<_>>()})
        );
        return Ok(0);
    }
    println!(
        "segment {}: {} bytes, {} used, {} object(s), live attachers {:?}, dead {:?}",
        summary.name, summary.len, summary.used, summary.objects, summary.live, summary.dead
    );
    for o in &objects {
        match &o.header {
            Some(h) => println!(
                "  {:<24} @{:<8} {:>8} B  kind={} v{} state={} capacity={} elem={}B/align {} msg_limit={} {}",
                o.name,
                o.offset,
                o.size,
                ringfork_core::Kind::from_raw(h.kind)
                    .map(|k| k.name())
                    .unwrap_or("unknown"),
                h.version,
                shmls::state_name(h.state),
                h.capacity,
                h.elem_size,
                h.elem_align,
                h.msg_limit,
                match &o.status {
                    Ok(()) => "ok".to_owned(),
                    Err(e) => format!("INVALID: {e}"),
                }
            ),
            None => println!(
                "  {:<24} @{:<8} {:>8} B  INVALID: {}",
                o.name,
                o.offset,
                o.size,
                o.status.as_ref().err().map(|e| e.to_string()).unwrap_or_default()
            ),
        }
    }
    Ok(if objects.iter().all(|o| o.status.is_ok()) { 0 } else { 2 })
}

pub fn segment(c: SegmentCmd) -> CmdResult {
    match c {
        SegmentCmd::Create {
            name,
            size,
            cells,
            hold,
        } => {
            let seg = Segment::create(&name, size)?;
            for (cname, v) in &cells {
                ShmCell::new_in(&seg, cname, *v)?;
            }
            println!(
                "created {} ({} bytes, {} cell(s))",
                seg.name().unwrap_or(&name),
                seg.len(),
                cells.len()
            );
            if hold {
                use std::io::Write;
                println!("ready");
                std::io::stdout().flush()?;
                loop {
                    std::thread::park();
                }
            }
            Ok(0)
        }
        SegmentCmd::Rm { name } => {
            Segment::unlink(&name)?;
            println!("removed {name}");
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_reject_junk() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("2m"), Ok(2 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("abc").unwrap_err().contains("not a size"));
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn cells_parse() {
        assert_eq!(parse_cell("n=5"), Ok(("n".into(), 5)));
        assert!(parse_cell("n").is_err());
        assert!(parse_cell("=5").is_err());
        assert!(parse_cell("n=-1").is_err());
    }
}
