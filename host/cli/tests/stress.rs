//! A short run of every stress target, with and without random kills, as a separate process.

use serde_json::Value;
use std::process::Command;

fn stress(args: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_ringfork"))
        .arg("stress")
        .args(args)
        .output()
        .expect("run ringfork");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let reports = v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
    for r in &reports {
        assert_eq!(r["hung"], false, "{r}");
        assert_eq!(r["passed"], true, "{r}");
        for (k, n) in r["violations"].as_object().unwrap() {
            assert_eq!(n, 0, "invariant {k} violated: {r}");
        }
        for k in [
            "target",
            "procs",
            "ops",
            "ops_per_sec",
            "kills",
            "recoveries",
            "max_detect_ms",
        ] {
            assert!(!r[k].is_null(), "missing {k}: {r}");
        }
    }
    assert!(out.status.success());
    reports
}

/// The number that follows the first `marker` in a report's note.
fn number_after(note: &str, marker: &str) -> u64 {
    let after = note
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {marker:?} in {note}"));
    after
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {note}"))
}

fn targets() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ringfork"))
        .args(["stress", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_target_passes_a_short_run() {
    let names = targets();
    assert!(!names.is_empty());
    let reports = stress(&["all", "--procs", "3", "--ops", "300", "--json"]);
    assert_eq!(reports.len(), names.len());
    for r in &reports {
        assert!(r["ops"].as_u64().unwrap() > 0, "{r}");
    }
}

#[test]
fn every_target_survives_random_kills() {
    let reports = stress(&[
        "all", "--procs", "4", "--ops", "20000", "--kill", "2", "--seed", "7", "--json",
    ]);
    // Kills are planned at seeded points in the first part of each run; on a loaded machine a fast
    // target can finish before the supervisor gets to a point, so not every target must see a kill,
    // but most must, and none may see more than asked.
    let mut with_kills = 0;
    for r in &reports {
        let k = r["kills"].as_u64().unwrap();
        assert!(k <= 2, "{r}");
        with_kills += usize::from(k >= 1);
    }
    assert!(
        with_kills * 2 >= reports.len(),
        "kills landed in only {with_kills} of {} targets",
        reports.len()
    );
}

#[test]
fn bad_options_are_rejected() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringfork"))
        .args(["stress", "pool", "--procs", "2", "--kill", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("someone has to survive"));
    let out = Command::new(env!("CARGO_BIN_EXE_ringfork"))
        .args(["stress", "nosuch"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown stress target"));
}

#[test]
fn duration_runs_count_targets_in_rounds() {
    // `value` works by operation count: with --duration it repeats rounds of --ops until the time is
    // up, each round with its own kill, and adds them up.
    let start = std::time::Instant::now();
    let r = &stress(&[
        "value",
        "--procs",
        "3",
        "--ops",
        "3000",
        "--kill",
        "1",
        "--duration",
        "1",
        "--json",
    ])[0];
    let el = start.elapsed();
    assert!(el >= std::time::Duration::from_secs(1), "{el:?}");
    assert!(el < std::time::Duration::from_secs(30), "{el:?}");
    let note = r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .find(|n| n.starts_with("--duration"))
        .unwrap_or_else(|| panic!("no rounds note: {r}"))
        .to_owned();
    let rounds = number_after(&note, ": ");
    assert!(rounds >= 2, "{note}");
    // Kills are best effort per round (a round may finish before its kill point); most land.
    assert!(r["kills"].as_u64().unwrap() >= 1, "{r}");
    assert!(r["ops"].as_u64().unwrap() >= 3000 * rounds, "{r}");
}

#[test]
fn scribble_keeps_every_deadline_under_a_hostile_writer() {
    // Issue 15: random bytes over every object while the other participants operate with
    // deadlines. `stress` checks no crash, no deadline overrun past the margin, no hang; here the
    // run must also have scribbled and measured something.
    for procs in ["4", "8"] {
        let r = &stress(&["scribble", "--procs", procs, "--ops", "4000", "--seed", "3", "--json"])[0];
        assert!(r["ops"].as_u64().unwrap() > 0, "{r}");
        for k in ["participant_failed", "deadline", "completed"] {
            assert_eq!(r["violations"][k], 0, "{r}");
        }
        let over = r["metrics"]["max_overrun_ms"].as_f64().unwrap();
        assert!((0.0..2000.0).contains(&over), "{r}");
        let note = r["notes"][0].as_str().unwrap();
        let writes = number_after(note, " made ");
        assert!(writes > 0, "{note}");
    }
}
