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

#[test]
fn fork_returns_twice_and_memory_is_private() {
    let f = demo("fork");
    assert_eq!(f["fork_returned_in_child"], 0);
    assert_eq!(f["child_ppid"], f["parent_pid"]);
    let f = demo("isolation");
    assert_eq!(f["parent_g_num"], 100);
    assert_eq!(f["child_g_num"], 101);
    let f = demo("forktree");
    let pids = f["pids"].as_array().unwrap();
    assert_eq!(pids.len(), 4, "{f}");
}

#[test]
fn exit_codes_zombies_and_orphans() {
    let f = demo("exitcodes");
    assert_eq!(f["os._exit(3)"], 3);
    assert_eq!(f["is_killed_by_SIGKILL"], -9);
    let f = demo("zombie");
    assert_eq!(f["zombie_state"], "Z");
    assert!(f["grandchild_ppid"].as_u64().unwrap() > 0);
    let f = demo("orphan");
    assert_ne!(f["old_ppid"], f["new_ppid"]);
}

#[test]
fn signals_and_the_bus() {
    demo("signals");
    let f = demo("bus");
    assert_eq!(f["messages"], serde_json::json!(["发车了", "到站了，请下车"]));
    assert_eq!(f["conductor_exited_first"], true);
}

#[test]
fn nice_values_read_back() {
    let f = demo("nice");
    let v: Vec<i64> = f["nice_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(v.len(), 3);
    assert!(v[0] < v[1] && v[1] < v[2] || v[2] == 19, "{v:?}");
}

#[test]
fn process_daemon_and_start_methods() {
    let f = demo("process");
    assert_eq!(f["run_trait_result"], 42);
    assert!(f["parallel_total_s"].as_f64().unwrap() < f["sum_s"].as_f64().unwrap());
    let f = demo("daemon");
    assert_eq!(f["daemon_gone"], true);
    assert_eq!(f["worker_finished_before_main_ended"], true);
    assert_eq!(f["daemon_child_refused"], true);
    let f = demo("startmethods");
    assert_eq!(f["fork_saw"], 42);
    assert_eq!(f["spawn_saw"], 0);
}

#[test]
fn queues_pipes_and_pool_queue() {
    let f = demo("queue");
    assert_eq!(f["got"], serde_json::json!([1, 2, 3]));
    let f = demo("prodcons");
    assert_eq!(f["eaten"], 9);
    assert_eq!(f["unique"], 9);
    let f = demo("joinable");
    assert_eq!(f["unfinished_after_join"], 0);
    demo("pipe");
    let f = demo("poolqueue");
    assert_eq!(f["messages"], 10);
}

#[test]
fn locks_tickets_shared_memory_and_events() {
    let f = demo("mutex");
    assert_eq!(f["lines"].as_array().unwrap().len(), 9);
    let f = demo("tickets");
    assert_eq!(f["sold"], 1);
    assert_eq!(f["left"], 0);
    let f = demo("sharedmem");
    assert_eq!(f["with_lock"], f["expected"]);
    let f = demo("event");
    assert_eq!(f["woke"], true);
}
