//! End-to-end tests of the `ringfork` binary's segment tools, run as a separate process.

use ringfork::{Segment, SegmentError, ShmCell};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ringfork() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringfork"))
}

fn unique(tag: &str) -> String {
    format!(
        "rf-test-{tag}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    )
}

/// Removes the named segment when dropped, so a failing test leaves nothing in /dev/shm.
struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Segment::unlink(&self.0);
    }
}

#[test]
fn inspect_reads_headers_written_by_another_process() {
    let name = unique("inspect");
    let _c = Cleanup(name.clone());
    let seg = Segment::create(&name, 1 << 16).unwrap();
    ShmCell::new_in(&seg, "answer", 42u64).unwrap();
    ShmCell::new_in(&seg, "small", 7u16).unwrap();
    let out = ringfork().args(["inspect", &name, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let objs = v["objects"].as_array().unwrap();
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0]["name"], "answer");
    assert_eq!(objs[0]["header"]["kind"], "cell");
    assert_eq!(objs[0]["header"]["elem_size"], 8);
    assert_eq!(objs[0]["header"]["state"], "ready");
    assert_eq!(objs[0]["header"]["version"], ringfork_core::ABI_VERSION);
    assert_eq!(objs[1]["header"]["elem_size"], 2);
    assert_eq!(objs[1]["valid"], true);
    assert_eq!(
        v["segment"]["live_attachers"].as_array().unwrap()[0],
        std::process::id()
    );
    // Human output too.
    let out = ringfork().args(["inspect", &name]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("answer") && text.contains("kind=cell"), "{text}");
}

#[test]
fn create_existing_fails_and_unlink_removes() {
    let name = unique("excl");
    let _c = Cleanup(name.clone());
    let _seg = Segment::create(&name, 4096).unwrap();
    match Segment::create(&name, 4096) {
        Err(SegmentError::AlreadyExists { name: n }) => assert!(n.ends_with(&name)),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    let out = ringfork().args(["segment", "create", &name]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    Segment::unlink(&name).unwrap();
    assert!(matches!(Segment::open(&name), Err(SegmentError::NotFound { .. })));
    assert!(matches!(Segment::unlink(&name), Err(SegmentError::NotFound { .. })));
}

#[test]
fn inspect_reports_missing_and_foreign_segments_clearly() {
    let out = ringfork().args(["inspect", &unique("missing")]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no segment named"));
    // A foreign file in /dev/shm: not ringfork's, never touched by clean.
    let name = unique("foreign");
    let path = format!("/dev/shm/{name}");
    std::fs::write(&path, vec![0xAB; 16384]).unwrap();
    let _c = Cleanup(name.clone());
    let out = ringfork().args(["inspect", &name]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a ringfork object") || err.contains("bad magic"),
        "{err}"
    );
    let out = ringfork().args(["clean"]).output().unwrap();
    assert!(out.status.success());
    assert!(std::path::Path::new(&path).exists(), "clean removed a foreign file");
    // A corrupted (truncated) file.
    let name2 = unique("short");
    std::fs::write(format!("/dev/shm/{name2}"), b"RINGFORK").unwrap();
    let _c2 = Cleanup(name2.clone());
    let out = ringfork().args(["inspect", &name2]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too small"));
}

#[test]
fn clean_removes_leaked_segments_and_keeps_live_ones() {
    let leaked = unique("leaked");
    let live = unique("live");
    let _c1 = Cleanup(leaked.clone());
    let _c2 = Cleanup(live.clone());
    // A process that creates a segment and is SIGKILLed: nothing unregisters it.
    let mut holder = ringfork()
        .args(["segment", "create", &leaked, "--hold"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.starts_with("created"), "{line}");
    let seg = Segment::open_read_only(&leaked, Duration::from_secs(2)).unwrap();
    assert!(seg.attachers().iter().any(|(a, _)| a.pid == holder.id()));
    drop(seg);
    holder.kill().unwrap();
    holder.wait().unwrap();
    // A segment this (live) test process holds.
    let _mine = Segment::create(&live, 4096).unwrap();

    let out = ringfork().args(["clean", "--dry-run", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |n: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|a| a["segment"]["name"].as_str().unwrap().ends_with(n))
            .cloned()
    };
    let l = find(&leaked).expect("leaked segment listed");
    assert_eq!(l["removed"], false, "dry run removes nothing");
    assert!(l["note"].as_str().unwrap().contains("would remove"));
    assert!(std::path::Path::new(&format!("/dev/shm/{leaked}")).exists());

    let out = ringfork().args(["clean", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let get = |n: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|a| a["segment"]["name"].as_str().unwrap().ends_with(n))
            .cloned()
    };
    assert_eq!(get(&leaked).unwrap()["removed"], true);
    assert_eq!(get(&live).unwrap()["removed"], false);
    assert!(!std::path::Path::new(&format!("/dev/shm/{leaked}")).exists());
    assert!(std::path::Path::new(&format!("/dev/shm/{live}")).exists());
    // ls shows the live one with this process as its live attacher.
    let out = ringfork().args(["ls", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let me = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str().unwrap().ends_with(&live))
        .unwrap()
        .clone();
    assert_eq!(me["in_use"], true);
}

#[test]
fn bad_arguments_get_actionable_messages() {
    let out = ringfork()
        .args(["segment", "create", "x", "--size", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a size"));
    let out = ringfork().args(["segment", "create", "a/b"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid segment name"));
}

#[test]
fn bench_quick_runs_and_prints_every_row() {
    let out = ringfork()
        .args(["bench", "--quick", "--json", "--reps", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["machine"]["cpus"].as_u64().unwrap() >= 1);
    let rows = v["rows"].as_array().unwrap();
    assert!(rows.len() >= 5, "{rows:?}");
    for r in rows {
        assert!(r["name"].as_str().is_some_and(|n| !n.is_empty()));
        for side in ["ours", "baseline"] {
            for k in ["name", "median", "min", "max", "unit"] {
                assert!(!r[side][k].is_null(), "row {} lacks {side}.{k}: {r}", r["name"]);
            }
        }
        assert!(r["ratio"].as_f64().is_some_and(|x| x > 0.0), "{r}");
    }
    // The table form prints the same rows.
    let out = ringfork()
        .args(["bench", "--quick", "--reps", "1", "limits"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("limits_pipe_vs_socketpair") && text.contains("ratio"),
        "{text}"
    );
}

/// `ringfork demo list | head -1`: a closed stdout ends the command quietly (0 or SIGPIPE), no panic.
#[test]
fn closed_stdout_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    for args in [&["demo", "list"][..], &["stress", "list"], &["bench", "list"]] {
        let mut child = ringfork()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away before the first line
        let out = child.wait_with_output().unwrap();
        let quiet = out.status.code() == Some(0) || out.status.signal() == Some(libc::SIGPIPE);
        assert!(quiet, "{args:?}: {:?}", out.status);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Unknown names and options that do not apply are errors that list the valid choices.
#[test]
fn unknown_rows_targets_and_options_are_errors_with_the_valid_list() {
    let out = ringfork().args(["bench", "nosuchrow"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nosuchrow") && err.contains("queues") && err.contains("sync"),
        "{err}"
    );
    let out = ringfork().args(["stress", "nosuchtarget"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mutex"));
    let out = ringfork().args(["demo", "queue", "--no-lock"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--no-lock") && err.contains("tickets"), "{err}");
    let out = ringfork().args(["bench", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "clap rejects unknown options");
}

/// Every `list` honours `--json`.
#[test]
fn every_list_honours_json() {
    for args in [
        &["demo", "list", "--json"][..],
        &["stress", "list", "--json"],
        &["bench", "list", "--json"],
    ] {
        let out = ringfork().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{args:?}: {v}");
    }
}

/// An error prints its cause once, even when its message already quotes it.
#[test]
fn error_causes_print_once() {
    let out = ringfork()
        .args(["inspect", "rf-test-no-such-segment-xyz"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap_or_default().to_owned();
    for line in err.lines().skip(1) {
        let cause = line.trim_start().trim_start_matches("caused by: ");
        assert!(!first.contains(cause), "cause printed twice:\n{err}");
    }
}
/// Runs `ringfork args...` with a 10 s deadline (killed and failed past it); returns (code, stderr).
fn run_with_deadline(args: &[&str]) -> (Option<i32>, String) {
    let mut child = ringfork()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (st.code(), err);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringfork {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Issue 15.7: a FIFO named like a segment neither blocks `inspect` nor `ls`/`clean`, and a symlink
/// is never followed (it once made `inspect` read /etc/hostname).
#[test]
fn fifo_and_symlink_neither_block_nor_mislead_the_tools() {
    let fifo = unique("fifo");
    let link = unique("link");
    let _c = (Cleanup(fifo.clone()), Cleanup(link.clone()));
    let c = std::ffi::CString::new(format!("/dev/shm/{fifo}")).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/etc/hostname", format!("/dev/shm/{link}")).unwrap();
    let (code, err) = run_with_deadline(&["inspect", &fifo]);
    assert_eq!(code, Some(1));
    assert!(err.contains("fifo"), "{err}");
    let (code, err) = run_with_deadline(&["inspect", &link]);
    assert_eq!(code, Some(1));
    assert!(err.contains("symbolic link"), "{err}");
    let (code, err) = run_with_deadline(&["ls"]);
    assert_eq!(code, Some(0), "{err}");
    // Skipped with a note, never opened.
    assert!(err.contains(&format!("skipped /dev/shm/{fifo}")), "{err}");
    assert!(
        err.contains(&format!("skipped /dev/shm/{link}: a symbolic link")),
        "{err}"
    );
    let (code, err) = run_with_deadline(&["clean", "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(std::path::Path::new(&format!("/dev/shm/{fifo}")).exists());
}
