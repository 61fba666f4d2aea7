//! Every demo runs in `--quick --json` mode as a separate process; its own checks must pass and its
//! key facts are asserted here.

use serde_json::Value;
use std::process::Command;

fn demo(name: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ringfork"))
        .args(["demo", name, "--quick", "--json"])
        .output()
        .expect("run ringfork");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "demo {name}: no JSON ({e}); stdout: {stdout}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        v["ok"],
        true,
        "demo {name} failed its own checks: {v}\nstory:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
    v["facts"].clone()
}

fn listed() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ringfork"))
        .args(["demo", "list", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_listed_demo_passes_and_has_a_seed() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringfork"))
        .args(["demo", "list", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for d in v.as_array().unwrap() {
        assert!(!d["summary"].as_str().unwrap().is_empty());
        assert!(!d["seed"].as_str().unwrap().is_empty());
    }
    for name in listed() {
        demo(&name);
    }
}

#[test]
fn pool_uses_at_most_three_pids() {
    let f = demo("pool");
    let n = f["distinct_pids"].as_u64().unwrap();
    assert!((1..=3).contains(&n), "{f}");
    assert_eq!(f["apply_result"], 144);
    assert_eq!(f["map_result"].as_array().unwrap().len(), 10);
}

#[test]
fn copy_verifies_every_file() {
    let f = demo("copy");
    assert!(f["files"].as_u64().unwrap() > 0);
    assert_eq!(f["identical"], f["files"]);
    assert_eq!(f["failed"], 0);
}

#[test]
fn unknown_demo_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringfork"))
        .args(["demo", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ringfork demo list"));
}

#[test]
fn flock_keeps_every_record_intact() {
    let f = demo("flock");
    assert_eq!(f["locked"], true);
    assert_eq!(f["torn"], 0);
    assert_eq!(f["intact"], f["tasks"]);
}

#[test]
fn threads_vs_processes_reports_every_mode() {
    let f = demo("threads");
    for k in [
        "cpu_single_s",
        "cpu_threads_s",
        "cpu_processes_s",
        "io_single_s",
        "io_threads_s",
        "io_processes_s",
    ] {
        assert!(f[k].as_f64().is_some_and(|s| s > 0.0), "{k} missing: {f}");
    }
}
