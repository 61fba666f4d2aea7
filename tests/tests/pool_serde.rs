//! Pool: any serde argument and result type, of any size (issue 17), across worker processes.

use ringfork::{Pool, PoolError};
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::zombie_children;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Job {
    id: u64,
    path: String,
    tags: Vec<String>,
    weights: Vec<f64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Summary {
    id: u64,
    chars: usize,
    tags: BTreeMap<String, usize>,
    total: f64,
}

fn count_bytes(path: String) -> usize {
    path.len()
}

fn summarize(job: Job) -> Summary {
    let mut tags = BTreeMap::new();
    for t in &job.tags {
        *tags.entry(t.clone()).or_insert(0) += 1;
    }
    Summary {
        id: job.id,
        chars: job.path.chars().count(),
        tags,
        total: job.weights.iter().sum(),
    }
}

fn words(s: String) -> Vec<String> {
    s.split(' ').map(str::to_owned).collect()
}

fn parse(s: String) -> Result<u32, String> {
    s.parse().map_err(|e| format!("{s:?}: {e}"))
}

fn first_even(v: Vec<u64>) -> Option<u64> {
    v.into_iter().find(|x| x % 2 == 0)
}

fn upper(s: String) -> String {
    s.to_uppercase()
}

fn echo(s: String) -> String {
    s
}

fn repeat(s: String, n: usize) -> String {
    s.repeat(n)
}

fn square(x: u64) -> u64 {
    x * x
}

fn no_zombies() {
    assert!(zombie_children().is_empty(), "zombies left: {:?}", zombie_children());
}

/// This process's pool spill segments still in /dev/shm.
fn spills() -> Vec<String> {
    let prefix = format!("ringfork-pool-{}-", std::process::id());
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

fn the_issue_example_and_strings_structs_options_results() {
    let pool = Pool::new(2).unwrap();
    let sizes = pool
        .map(
            count_bytes,
            vec![String::from("a"), String::from("bb"), "c".repeat(1 << 20)],
        )
        .unwrap();
    assert_eq!(sizes, vec![1, 2, 1 << 20]);

    let jobs: Vec<Job> = (0..200)
        .map(|id| Job {
            id,
            path: format!("/data/{id}/é.csv"),
            tags: vec!["a".into(), "b".into(), "a".into()],
            weights: vec![0.5; 8],
        })
        .collect();
    let out = pool.map(summarize, jobs.clone()).unwrap();
    assert_eq!(out, jobs.into_iter().map(summarize).collect::<Vec<_>>());

    let w = pool.apply(words, "hello 世界 again".to_string()).unwrap();
    assert_eq!(w, vec!["hello", "世界", "again"]);

    let parsed = pool.map(parse, ["1", "x", "3"].map(String::from)).unwrap();
    assert_eq!(parsed[0], Ok(1));
    assert!(parsed[1].as_ref().unwrap_err().contains("\"x\""));
    assert_eq!(parsed[2], Ok(3));

    let evens = pool
        .map_chunked(first_even, vec![vec![1, 3, 4], vec![5], vec![], vec![8]], Some(3))
        .unwrap();
    assert_eq!(evens, vec![Some(4), None, None, Some(8)]);
    pool.close();
    pool.join().unwrap();
    assert!(spills().is_empty(), "spill segments left: {:?}", spills());
    no_zombies();
}

fn items_larger_than_the_arena_go_through_and_leave_nothing_behind() {
    // A 64 KiB arena: the 1 MiB argument and result each take a segment of their own.
    let pool = Pool::builder().processes(2).arena_size(64 << 10).build().unwrap();
    let big = "x".repeat(1 << 20);
    assert_eq!(pool.apply(echo, big.clone()).unwrap(), big);
    assert_eq!(pool.apply(count_bytes, big.clone()).unwrap(), 1 << 20);
    assert_eq!(pool.apply(upper, "ab".repeat(300_000)).unwrap(), "AB".repeat(300_000));
    // Many medium items in one requested chunk, far more than the arena: cut into smaller tasks.
    let items: Vec<String> = (0..64).map(|i| format!("{i}-").repeat(4000)).collect();
    let back = pool.map_chunked(upper, items.clone(), Some(64)).unwrap();
    assert_eq!(back, items.iter().map(|s| s.to_uppercase()).collect::<Vec<_>>());
    // Larger results than arguments (results spill while arguments are inline).
    let grown = pool
        .starmap(repeat, vec![("ab".to_string(), 100_000), ("c".to_string(), 3)], None)
        .unwrap();
    assert_eq!(grown[0].len(), 200_000);
    assert_eq!(grown[1], "ccc");
    pool.close();
    pool.join().unwrap();
    assert!(spills().is_empty(), "spill segments left: {:?}", spills());
    no_zombies();
}

fn imap_imap_unordered_starmap_apply_async_with_strings() {
    let pool = Pool::new(2).unwrap();
    let items: Vec<String> = (0..500).map(|i| format!("item-{i}")).collect();
    let got: Vec<String> = pool
        .imap(upper, items.clone(), None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, items.iter().map(|s| s.to_uppercase()).collect::<Vec<_>>());

    let mut un: Vec<(usize, usize)> = pool
        .imap_unordered(count_bytes, items.clone(), Some(7))
        .unwrap()
        .map(|(i, r)| (i, r.unwrap()))
        .collect();
    un.sort_unstable();
    assert_eq!(un, items.iter().map(String::len).enumerate().collect::<Vec<_>>());

    let star = pool
        .starmap(repeat, vec![("ab".to_string(), 2), ("c".to_string(), 3)], Some(1))
        .unwrap();
    assert_eq!(star, vec!["abab", "ccc"]);

    let r = pool.apply_async(upper, "quiet".to_string()).unwrap();
    assert_eq!(r.get_timeout(Duration::from_secs(30)).unwrap(), "QUIET");
    assert_eq!(r.get().unwrap(), "QUIET"); // asked again: the same result

    let seen = Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let r = pool
        .apply_async_with(
            words,
            "a b".to_string(),
            move |v| *seen2.lock().unwrap() = Some(v),
            |e| panic!("unexpected error {e}"),
        )
        .unwrap();
    r.wait();
    assert_eq!(
        seen.lock().unwrap().clone(),
        Some(vec!["a".to_string(), "b".to_string()])
    );
    pool.close();
    pool.join().unwrap();
    no_zombies();
}

/// Serializes fine, but refuses to deserialize a value of "bad" (a type whose two halves disagree).
#[derive(Debug, Clone, PartialEq)]
struct Picky(String);

impl Serialize for Picky {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "bad" {
            return Err(serde::de::Error::custom("picky refuses \"bad\""));
        }
        Ok(Picky(s))
    }
}

/// Refuses to serialize "unsendable".
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Fussy(String);

impl Serialize for Fussy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == "unsendable" {
            return Err(serde::ser::Error::custom("fussy will not send this"));
        }
        s.serialize_str(&self.0)
    }
}

fn picky_echo(s: String) -> Picky {
    Picky(s)
}

fn picky_len(p: Picky) -> usize {
    p.0.len()
}

fn fussy(s: String) -> Fussy {
    Fussy(s)
}

fn fussy_len(f: Fussy) -> usize {
    f.0.len()
}

fn encode_and_decode_failures_are_typed_errors_and_the_pool_goes_on() {
    let pool = Pool::new(2).unwrap();
    // A result that does not decode in the parent.
    match pool.apply(picky_echo, "bad".to_string()) {
        Err(PoolError::Decode(e)) => {
            // (postcard reports a custom error without its text)
            assert!(e.type_name().ends_with("Picky"), "{e}");
            assert_eq!(e.len(), 4, "{e}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    // An argument that does not decode in the worker: the task does not run.
    match pool.map(picky_len, vec![Picky("ok".into()), Picky("bad".into())]) {
        Err(PoolError::Decode(e)) => assert!(e.type_name().ends_with("Picky") && e.len() == 4, "{e}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    // A result that does not encode in the worker.
    match pool.map_chunked(fussy, vec!["fine".to_string(), "unsendable".to_string()], Some(1)) {
        Err(PoolError::Encode(e)) => {
            assert!(e.type_name().ends_with("Fussy"), "{e}");
        }
        other => panic!("expected an encode error, got {other:?}"),
    }
    // An argument that does not encode in the parent: nothing is submitted.
    match pool.apply_async(fussy_len, Fussy("unsendable".into())) {
        Err(PoolError::Encode(e)) => assert!(e.type_name().ends_with("Fussy"), "{e}"),
        other => panic!("expected an encode error, got {other:?}"),
    }
    // imap reports the failing item only.
    let got: Vec<_> = pool
        .imap(picky_echo, ["a", "bad", "c"].map(String::from), None)
        .unwrap()
        .collect();
    assert_eq!(got[0], Ok(Picky("a".into())));
    assert!(matches!(got[1], Err(PoolError::Decode(_))));
    assert_eq!(got[2], Ok(Picky("c".into())));
    // The pool is fine.
    assert_eq!(pool.map(square, 0..100u64).unwrap()[99], 99 * 99);
    pool.close();
    pool.join().unwrap();
    no_zombies();
}

fn kills_self(s: String) -> usize {
    if s.starts_with('k') {
        // SAFETY: signalling our own process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    s.len()
}

fn a_worker_killed_with_a_spilled_task_fails_it_and_leaves_no_segment() {
    let pool = Pool::builder().processes(2).arena_size(16 << 10).build().unwrap();
    let items = vec!["a".repeat(100_000), "k".repeat(100_000), "b".repeat(50)];
    let rs = pool.imap(kills_self, items, Some(1)).unwrap().collect::<Vec<_>>();
    assert_eq!(rs[0], Ok(100_000));
    assert_eq!(
        rs[1],
        Err(PoolError::WorkerDied {
            signal: Some(9),
            exit_code: None
        })
    );
    assert_eq!(rs[2], Ok(50));
    assert!(spills().is_empty(), "spill segments left: {:?}", spills());
    pool.terminate();
    pool.join().unwrap();
    no_zombies();
}

fn sleeps_long(s: String) -> usize {
    std::thread::sleep(Duration::from_secs(60));
    s.len()
}

/// The pool's parent is SIGKILLed while a task whose argument lives in a spill segment runs: once
/// its worker is gone too (`PR_SET_PDEATHSIG`), the segment has no live attacher, which is what
/// `ringfork clean` removes.
fn a_spill_left_by_a_killed_parent_has_no_live_attacher() {
    let mut child = ringfork::Process::new(|| {
        let pool = Pool::builder().processes(1).arena_size(4096).build().unwrap();
        let _r = pool.apply_async(sleeps_long, "z".repeat(100_000)).unwrap();
        std::thread::sleep(Duration::from_millis(300)); // the worker has the task
                                                        // SAFETY: signalling our own process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    });
    child.start().unwrap();
    let pid = child.pid().unwrap();
    assert!(child.join_timeout(Duration::from_secs(20)).unwrap());
    assert_eq!(child.exitcode(), Some(-9));
    let prefix = format!("ringfork-pool-{pid}-");
    let left: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert_eq!(left.len(), 1, "expected the task's argument spill: {left:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seg = ringfork::Segment::open_read_only(&left[0], Duration::ZERO).unwrap();
        let live = seg
            .attachers()
            .iter()
            .filter(|(_, l)| *l != ringfork_core::os::Liveness::Dead)
            .count();
        if live == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {live} live attacher(s)");
        std::thread::sleep(Duration::from_millis(20));
    }
    ringfork::Segment::unlink(&left[0]).unwrap(); // as `ringfork clean` does
    no_zombies();
}

fn spawned_workers_take_serde_tasks_and_spills_too() {
    let pool = Pool::builder()
        .processes(1)
        .start_method(ringfork::StartMethod::Spawn)
        .arena_size(4096)
        .build()
        .unwrap();
    let big = "s".repeat(100_000);
    assert_eq!(pool.apply(echo, big.clone()).unwrap(), big);
    assert_eq!(
        pool.map(count_bytes, vec!["ab".to_string(), big]).unwrap(),
        vec![2, 100_000]
    );
    pool.close();
    pool.join().unwrap();
    assert!(spills().is_empty(), "spill segments left: {:?}", spills());
    no_zombies();
}

fn plain_numbers_keep_the_fixed_size_path() {
    let pool = Pool::new(3).unwrap();
    let out = pool.map_chunked(square, 0..20_000u64, Some(1)).unwrap();
    assert!(out.iter().enumerate().all(|(i, &v)| v == (i as u64) * (i as u64)));
    let f = pool.map(|x: f64| x * 0.5, vec![1.0, 3.0]).unwrap();
    assert_eq!(f, vec![0.5, 1.5]);
    let i = pool.apply(|x: i8| i32::from(x) - 1000, -5).unwrap();
    assert_eq!(i, -1005);
    pool.close();
    pool.join().unwrap();
    no_zombies();
}

fn main() {
    run(&[
        Case::new(
            "the_issue_example_and_strings_structs_options_results",
            the_issue_example_and_strings_structs_options_results,
        ),
        Case::new(
            "items_larger_than_the_arena_go_through_and_leave_nothing_behind",
            items_larger_than_the_arena_go_through_and_leave_nothing_behind,
        ),
        Case::new(
            "imap_imap_unordered_starmap_apply_async_with_strings",
            imap_imap_unordered_starmap_apply_async_with_strings,
        ),
        Case::new(
            "encode_and_decode_failures_are_typed_errors_and_the_pool_goes_on",
            encode_and_decode_failures_are_typed_errors_and_the_pool_goes_on,
        ),
        Case::new(
            "a_worker_killed_with_a_spilled_task_fails_it_and_leaves_no_segment",
            a_worker_killed_with_a_spilled_task_fails_it_and_leaves_no_segment,
        ),
        Case::new(
            "a_spill_left_by_a_killed_parent_has_no_live_attacher",
            a_spill_left_by_a_killed_parent_has_no_live_attacher,
        ),
        Case::new(
            "spawned_workers_take_serde_tasks_and_spills_too",
            spawned_workers_take_serde_tasks_and_spills_too,
        ),
        Case::new(
            "plain_numbers_keep_the_fixed_size_path",
            plain_numbers_keep_the_fixed_size_path,
        ),
    ]);
}
