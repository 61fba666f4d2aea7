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

/// Whether the demo reported (instead of failing) a timing-dependent check whose text contains `what`:
/// the machine was visibly too busy to keep the notes' schedule that run.
fn reported(facts: &Value, what: &str) -> bool {
    facts["reported"]
        .as_array()
        .is_some_and(|r| r.iter().any(|x| x.as_str().is_some_and(|s| s.contains(what))))
}

/// `secs` as `--quick` scales it (the demos divide every sleep by 20).
fn quick(secs: f64) -> f64 {
    secs / 20.0
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
    assert_eq!(f["start_order"].as_array().unwrap().len(), 10);
    // Seed 004: nine 2 s tasks on Pool(4) finish in waves (at >= 2, 4 and 6 s, scaled).
    let done: Vec<f64> = f["wave_done_s"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect();
    assert_eq!(done.len(), 9, "{f}");
    for (k, d) in done.iter().enumerate() {
        assert!(*d >= quick(2.0 * (k / 4 + 1) as f64) * 0.99, "task {k}: {f}");
    }
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
    // The CPU-bound work is big enough to time (about 1 s single-process in --quick).
    assert!(f["cpu_single_cpu_s"].as_f64().unwrap() > 0.3, "{f}");
    let ratio = f["cpu_processes_ratio"].as_f64().unwrap();
    let cpus = f["cpus"].as_u64().unwrap();
    if cpus >= 2 {
        // On 2+ cores the processes take <= 0.7x the single time, unless other programs visibly
        // held the cores (then the demo reports it, with the load it measured).
        if f["speedup_checked"] == true {
            assert!(ratio <= 0.7, "{f}");
            assert!(f["cpu_processes_parallelism"].as_f64().unwrap() >= 1.3, "{f}");
        } else {
            assert!(reported(&f, "single-process time"), "{f}");
            assert!(f["others_cores"].as_f64().unwrap() >= 0.3, "{f}");
        }
    }
}

#[test]
fn fork_returns_twice_and_memory_is_private() {
    let f = demo("fork");
    assert_eq!(f["fork_returned_in_child"], 0);
    assert_eq!(f["child_ppid"], f["parent_pid"]);
    // Each process printed its own ----over----.
    let over = f["over_pids"].as_array().unwrap();
    assert_eq!(over.len(), 2, "{f}");
    assert!(over.contains(&f["parent_pid"]) && over.contains(&f["child_pid"]), "{f}");
    let f = demo("isolation");
    assert_eq!(f["parent_g_num"], 100);
    assert_eq!(f["child_g_num"], 101);
    let f = demo("forktree");
    let pids = f["pids"].as_array().unwrap();
    assert_eq!(pids.len(), 4, "{f}");
    // The notes' six lines: the first process and the first child print twice, the others once.
    assert_eq!(f["lines"].as_array().unwrap().len(), 6, "{f}");
    assert_eq!(f["lines_per_process"], serde_json::json!([1, 1, 2, 2]), "{f}");
}

#[test]
fn exit_codes_zombies_and_orphans() {
    let f = demo("exitcodes");
    assert_eq!(f["os._exit(3)"], 3);
    assert_eq!(f["sys.exit(message)"], 1);
    assert_eq!(f["is_killed_by_SIGKILL"], -9);
    let f = demo("zombie");
    assert_eq!(f["zombie_state"], "Z");
    assert!(f["grandchild_ppid"].as_u64().unwrap() > 0);
    let f = demo("orphan");
    assert_ne!(f["old_ppid"], f["new_ppid"]);
}

#[test]
fn signals_and_the_bus() {
    let f = demo("signals");
    // One alarm per process: alarm(1) replaced alarm(3) and returned what was left of it.
    assert!((2..=3).contains(&f["previous_alarm_left"].as_u64().unwrap()), "{f}");
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
    // Seed 003's tasks sleep 5, 3, 2 and 1 (scaled): the total is the longest, not the sum.
    assert_eq!(f["longest_s"], quick(5.0));
    assert!(f["parallel_total_s"].as_f64().unwrap() >= f["longest_s"].as_f64().unwrap());
    assert!(f["parallel_total_s"].as_f64().unwrap() < f["sum_s"].as_f64().unwrap());
    let f = demo("daemon");
    assert_eq!(f["daemon_gone"], true);
    assert_eq!(f["worker_finished_before_main_ended"], true);
    assert_eq!(f["daemon_child_refused"], true);
    // 示例二: the daemon never prints end123 (it ends with the main code).
    assert!(f["end123_printed"] == false || reported(&f, "end123"), "{f}");
    let f = demo("startmethods");
    assert_eq!(f["fork_saw"], 42);
    assert_eq!(f["spawn_saw"], 0);
}

#[test]
fn queues_pipes_and_pool_queue() {
    let f = demo("queue");
    assert_eq!(f["got"], serde_json::json!([1, 2, 3]));
    assert_eq!(
        f["reader_got"],
        serde_json::json!(["Get A from queue", "Get B from queue", "Get C from queue"])
    );
    let f = demo("prodcons");
    assert_eq!(f["eaten"], 9);
    assert_eq!(f["unique"], 9);
    // 主 is printed while the consumers are still eating.
    assert!(
        f["eaten_after_main"].as_u64().unwrap() >= 1 || reported(&f, "主"),
        "{f}"
    );
    let f = demo("joinable");
    assert_eq!(f["unfinished_after_join"], 0);
    demo("pipe");
    let f = demo("poolqueue");
    assert_eq!(f["messages"], 10);
    assert_eq!(f["reader_messages"], "dongGe");
}

#[test]
fn locks_tickets_shared_memory_and_events() {
    let f = demo("mutex");
    assert_eq!(f["lines"].as_array().unwrap().len(), 9);
    // The notes' 1 s, 2 s, 3 s under the lock keep their proportions in --quick: the gaps between
    // consecutive lines are at least 1, 2, 3, 1, 2, 3, ... units (the last of each process's three
    // is the 3 s it sleeps before releasing the lock).
    let gaps: Vec<f64> = f["gaps_s"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_f64().unwrap())
        .collect();
    assert_eq!(gaps.len(), 8, "{f}");
    for (k, g) in gaps.iter().enumerate() {
        assert!(*g >= quick([1.0, 2.0, 3.0][k % 3]) * 0.99, "gap {k}: {f}");
    }
    let f = demo("tickets");
    assert_eq!(f["sold"], 1);
    assert_eq!(f["left"], 0);
    // Everyone searches at 1 s and sees the ticket; the ten purchases take 1 s each under the lock.
    assert!(f["searches_saw_one"] == 10 || reported(&f, "search"), "{f}");
    assert!(f["took_s"].as_f64().unwrap() >= quick(11.0) * 0.99, "{f}");
    let f = demo("sharedmem");
    assert_eq!(f["with_lock"], f["expected"]);
    let f = demo("event");
    assert_eq!(f["woke"], true);
}
