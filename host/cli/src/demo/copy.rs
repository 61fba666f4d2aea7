//! Seed 001 "文件拷贝": copy a folder in parallel with `Pool(5)`, with a progress count. Here the
//! progress is a real bar on a terminal (plain lines otherwise), and every copy is verified
//! byte-identical. The source is `RINGFORK_COPY_SRC` if set, else a generated folder.
//!
//! The notes pass each result back through a `Manager().Queue()`; `imap_unordered` gives the same
//! "as each file finishes" stream directly.

use super::{say, Ctx, Demo};
use ringfork::Pool;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const DEMO: Demo = Demo {
    name: "copy",
    summary: "parallel folder copy with Pool(5), a progress bar, every file verified identical",
    seed: "001 文件拷贝",
    run,
};

/// One file to copy: source and destination paths, as they are (any length: a task's arguments
/// are any serde type).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CopyJob {
    src: PathBuf,
    dst: PathBuf,
}

/// The notes' `copyFileTask`: bytes copied, or the OS error's text.
fn copy_file(job: CopyJob) -> Result<u64, String> {
    std::fs::copy(&job.src, &job.dst).map_err(|e| e.to_string())
}

fn generate(dir: &Path, files: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..files {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 200_000) as usize;
        let content: Vec<u8> = (0..len).map(|j| (j as u64 ^ seed).wrapping_mul(31) as u8).collect();
        std::fs::write(dir.join(format!("file-{i:04}.bin")), content)?;
    }
    Ok(())
}

fn run(ctx: &mut Ctx) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = std::env::temp_dir().join(format!("ringfork-copy-demo-{}", std::process::id()));
    let (old, generated) = match std::env::var_os("RINGFORK_COPY_SRC") {
        Some(p) => (PathBuf::from(p), false),
        None => {
            let old = tmp.join("notes");
            generate(&old, if ctx.quick { 60 } else { 300 })?;
            (old, true)
        }
    };
    let new = PathBuf::from(format!("{}_copy", old.display()));
    std::fs::create_dir(&new).map_err(|e| format!("cannot create {}: {e}", new.display()))?;
    let mut names: Vec<String> = std::fs::read_dir(&old)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let jobs: Vec<CopyJob> = names
        .iter()
        .map(|n| CopyJob {
            src: old.join(n),
            dst: new.join(n),
        })
        .collect();
    say(format!(
        "copying {} file(s) from {} to {} with Pool(5)",
        jobs.len(),
        old.display(),
        new.display()
    ));
    let all = jobs.len();
    let pool = Pool::new(5)?;
    let tty = !ctx.json() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new(all as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files, {bytes_per_sec} {msg}")
        {
            b.set_style(style);
        }
        b
    });
    let mut failed = 0;
    let mut bytes = 0u64;
    for (num, (i, r)) in pool.imap_unordered(copy_file, jobs, Some(1))?.enumerate() {
        match r {
            Ok(Ok(n)) => bytes += n,
            Ok(Err(e)) => {
                failed += 1;
                say(format!("copy of {} failed: {e}", names[i]));
            }
            Err(e) => {
                failed += 1;
                say(format!("copy of {} failed: {e}", names[i]));
            }
        }
        match &bar {
            Some(b) => b.inc(1),
            None if (num + 1) % (all / 10).max(1) == 0 || num + 1 == all => {
                say(format!(
                    "copy的进度是：{:.2}% ({}/{all})",
                    (num + 1) as f64 * 100.0 / all as f64,
                    num + 1
                ));
            }
            None => {}
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    pool.close();
    pool.join()?;
    let mut identical = 0;
    for n in &names {
        if std::fs::read(old.join(n))? == std::fs::read(new.join(n))? {
            identical += 1;
        }
    }
    say(format!(
        "{identical}/{all} files verified byte-identical, {bytes} bytes copied"
    ));
    ctx.fact("files", all);
    ctx.fact("identical", identical);
    ctx.fact("failed", failed);
    ctx.fact("bytes", bytes);
    ctx.check(failed == 0, "every copy task succeeded");
    ctx.check(identical == all, "every copied file is byte-identical to its source");
    if generated {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        say(format!("the copy is in {}", new.display()));
    }
    Ok(())
}
