//! The C ABI against the Rust side: the header against the Rust definitions, C programs (compiled
//! here with gcc against libringfork_c.a) against `ringfork` handles in the same named segment, and
//! the C self-test. With `RINGFORK_VALGRIND=1` every C program that runs to completion runs under
//! `valgrind --error-exitcode=99` (CI does this in a build with `--cfg rustix_use_libc`: valgrind
//! cannot follow rustix's own vDSO parsing, rustix issue #1559, so that build reads the clock through
//! libc; everything else is the same code).
//!
//! `harness = false`: the lock test forks a Rust holder, which is only safe from a single-threaded
//! process. Run one test with `cargo test -p ringfork-capi --test c_abi -- NAME`.

use ringfork::core::queue::spsc::Spsc;
use ringfork::core::queue::PopError;
use ringfork::core::time::OsClock;
use ringfork::core::wait::DefaultWait;
use ringfork::core::Deadline;
use ringfork::{Mutex, Queue, Segment};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const MESSAGES: u64 = 1_000_000;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding the libringfork_c.a built with this test: target/<profile>/deps, where the
/// test executable is (cargo builds every crate type of the lib there; it copies them up to
/// target/<profile> only on `cargo build`).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().expect("deps dir").to_path_buf()
}

/// Compiles `tests/c/<src>` against the static library; returns the executable.
fn compile(src: &str) -> PathBuf {
    compile_path(&crate_dir().join("tests/c").join(src))
}

/// Compiles the C file `src` against the static library; returns the executable.
fn compile_path(src: &Path) -> PathBuf {
    let stem = src.file_stem().and_then(|s| s.to_str()).expect("a C file name");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(stem);
    let lib = lib_dir().join("libringfork_c.a");
    assert!(
        lib.exists(),
        "{} is missing (built with the crate's lib target)",
        lib.display()
    );
    let status = Command::new("gcc")
        .args(["-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(crate_dir().join("include"))
        .arg("-I")
        .arg(crate_dir().join("tests/c"))
        .arg(src)
        .arg("-o")
        .arg(&out)
        .arg(&lib)
        .args(["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc"])
        .status()
        .expect("gcc (install gcc to run the C ABI tests)");
    assert!(status.success(), "gcc failed on {}", src.display());
    out
}

fn valgrind_required() -> bool {
    std::env::var("RINGFORK_VALGRIND").is_ok_and(|v| v == "1")
}

fn valgrind_present() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The command running `exe`, under valgrind (any error = exit 99) when `valgrind` says so.
fn c_command(exe: &Path, valgrind: bool) -> Command {
    if valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "-q",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
        ])
        .arg(exe);
        c
    } else {
        Command::new(exe)
    }
}

/// A child that is killed and reaped if the test fails before it ends.
struct Guard(Option<Child>);

impl Guard {
    fn spawn(mut cmd: Command) -> Guard {
        Guard(Some(cmd.spawn().expect("spawn")))
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child")
    }

    /// Waits for the child until `timeout`, killing it (and failing) past that.
    fn wait(mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        let mut child = self.0.take().expect("child");
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                return st;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child did not finish within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Unlinks a segment name when dropped.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = Segment::unlink(&self.0);
    }
}

fn seg_name(test: &str) -> String {
    format!("/ringfork-capi-{test}-{}", std::process::id())
}

fn after(d: Duration) -> Deadline {
    Deadline::after::<OsClock>(d)
}

/// Every constant, handle size and function of ringfork.h against the Rust definitions: a C file
/// asserting them at compile time, plus the function lists in both directions.
fn header_matches_the_rust_definitions() {
    let header = std::fs::read_to_string(crate_dir().join("include/ringfork.h")).expect("header");
    let mut c = String::from("#include \"ringfork.h\"\n");
    for (name, value, _) in ringfork_c::error::CODES {
        c += &format!("_Static_assert({name} == {value}, \"{name}\");\n");
    }
    for (name, size) in ringfork_c::objects::HANDLES {
        c += &format!("_Static_assert(sizeof({name}) == {size}, \"sizeof {name}\");\n");
        c += &format!("_Static_assert(_Alignof({name}) == 8, \"_Alignof {name}\");\n");
    }
    c += &format!(
        "_Static_assert(RINGFORK_ABI_VERSION == {}, \"abi\");\n",
        ringfork::core::ABI_VERSION
    );
    use ringfork::core::Kind;
    for (name, kind) in [
        ("MUTEX", Kind::Mutex),
        ("SEMAPHORE", Kind::Semaphore),
        ("EVENT", Kind::Event),
        ("BARRIER", Kind::Barrier),
        ("VALUE", Kind::Value),
        ("SPSC", Kind::Spsc),
        ("BYTERING", Kind::ByteRing),
        ("QUEUE", Kind::Queue),
    ] {
        c += &format!(
            "_Static_assert(RINGFORK_KIND_{name} == {}, \"kind {name}\");\n",
            kind as u32
        );
    }
    // Every header code is a Rust code (no stale ones).
    for line in header.lines() {
        if let Some(rest) = line.strip_prefix("#define RINGFORK_") {
            let name = format!("RINGFORK_{}", rest.split_whitespace().next().unwrap_or(""));
            let known = ringfork_c::error::CODES.iter().any(|c| c.0 == name)
                || name.starts_with("RINGFORK_KIND_")
                || name == "RINGFORK_ABI_VERSION"
                || name == "RINGFORK_H";
            assert!(known, "{name} is in ringfork.h but not in the Rust definitions");
        }
    }
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("header_check.c");
    std::fs::write(&file, c).expect("write");
    for std in ["-std=c11", "-std=gnu17"] {
        let st = Command::new("gcc")
            .args([std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I"])
            .arg(crate_dir().join("include"))
            .arg(&file)
            .status()
            .expect("gcc");
        assert!(st.success(), "ringfork.h disagrees with the Rust definitions ({std})");
    }
    // The exported functions and the declared ones are the same set.
    let mut exported = Vec::new();
    for f in ["lib.rs", "error.rs", "objects.rs", "segment.rs"] {
        let src = std::fs::read_to_string(crate_dir().join("src").join(f)).expect("src");
        for part in src.split("extern \"C\" fn ").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if name.starts_with("ringfork_") {
                exported.push(name);
            }
        }
    }
    let mut declared = Vec::new();
    for part in header.split("ringfork_").skip(1) {
        let name: String = part.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let rest = &part[name.len()..];
        if rest.starts_with('(') {
            declared.push(format!("ringfork_{name}"));
        }
    }
    exported.sort();
    exported.dedup();
    declared.sort();
    declared.dedup();
    assert_eq!(exported, declared, "exported functions vs ringfork.h declarations");
    // Every declaration is documented: the line above it (or above its first line) is a comment.
    let lines: Vec<&str> = header.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let decl = declared.iter().any(|d| l.contains(&format!("{d}("))) && !l.trim_start().starts_with(['/', '*']);
        if decl {
            assert!(i > 0 && lines[i - 1].trim_end().ends_with("*/"), "undocumented: {l}");
        }
    }
    println!(
        "  {} functions, {} codes, {} handles",
        exported.len(),
        ringfork_c::error::CODES.len(),
        ringfork_c::objects::HANDLES.len()
    );
}

/// Every primitive from C in one process; under valgrind when it is installed.
fn c_selftest() {
    let exe = compile("selftest.c");
    let valgrind = valgrind_required();
    if valgrind {
        assert!(valgrind_present(), "RINGFORK_VALGRIND=1 but valgrind is not installed");
    } else {
        println!("  (without valgrind; RINGFORK_VALGRIND=1 runs the C programs under it, as CI does)");
    }
    let mut cmd = c_command(&exe, valgrind);
    cmd.stdout(Stdio::null());
    let st = Guard::spawn(cmd).wait(Duration::from_secs(120));
    assert!(st.success(), "C selftest failed: {st}");
}

/// A C producer and a Rust consumer on one named segment: 1,000,000 messages exactly once, in order.
fn c_producer_rust_consumer() {
    let exe = compile("spsc_producer.c");
    let name = seg_name("spsc");
    let _unlink = Unlink(name.clone());
    let _ = Segment::unlink(&name);
    let mut child = Guard::spawn({
        let mut c = c_command(&exe, valgrind_required());
        c.arg(&name).arg(MESSAGES.to_string());
        c
    });
    let start = Instant::now();
    let (seg, entry) = loop {
        if let Ok(seg) = Segment::open(&name) {
            if let Some(e) = seg.find("ring") {
                break (seg, e);
            }
        }
        if let Some(st) = child.child().try_wait().expect("try_wait") {
            panic!("C producer exited early: {st}");
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the C producer made no ring");
        std::thread::sleep(Duration::from_millis(2));
    };
    let region = seg.sub_region(entry.offset, entry.size).expect("region");
    let mut rx = Spsc::<u64>::attach::<DefaultWait>(region, after(Duration::from_secs(10)))
        .expect("attach the C ring")
        .consumer();
    for i in 0..MESSAGES {
        let v = rx.pop::<DefaultWait>(after(Duration::from_secs(60))).expect("pop");
        assert_eq!(v, i, "message {i} out of order or lost");
    }
    assert_eq!(
        rx.pop::<DefaultWait>(after(Duration::from_secs(60))),
        Err(PopError::Closed)
    );
    let st = child.wait(Duration::from_secs(60));
    assert!(st.success(), "C producer: {st}");
}

/// A Rust producer (`ringfork::Queue<u64>`) and a C consumer of the same queue.
fn rust_producer_c_consumer_queue() {
    let exe = compile("queue_consumer.c");
    let name = seg_name("queue");
    let _ = Segment::unlink(&name);
    let seg = Segment::create(&name, 1 << 20).expect("segment");
    let _unlink = Unlink(name.clone());
    let q = Queue::<u64>::new_in(&seg, "queue", 64).expect("queue");
    let n = 100_000u64;
    let child = Guard::spawn({
        let mut c = c_command(&exe, valgrind_required());
        c.arg(&name).arg(n.to_string());
        c
    });
    for i in 0..n {
        q.put_timeout(i, Duration::from_secs(60)).expect("put");
    }
    let st = child.wait(Duration::from_secs(120));
    assert!(st.success(), "C consumer: {st}");
    assert_eq!(q.qsize(), 0);
}

/// A C process holding the robust mutex is SIGKILLed: the Rust side gets `OwnerDied` with the data
/// the C holder wrote, repairs it, and the mutex works on.
fn c_holder_killed_rust_gets_owner_died() {
    let exe = compile("mutex_hold.c");
    let name = seg_name("mutex-c");
    let _ = Segment::unlink(&name);
    let seg = Segment::create(&name, 1 << 16).expect("segment");
    let _unlink = Unlink(name.clone());
    let m = Mutex::<u64>::new_in(&seg, "m", 0).expect("mutex");
    let mut child = Guard::spawn({
        let mut c = c_command(&exe, false);
        c.arg(&name).stdout(Stdio::piped());
        c
    });
    let out = child.child().stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the C holder never locked");
    assert_eq!(line.trim(), "locked");
    child.child().kill().expect("SIGKILL");
    let st = child.wait(Duration::from_secs(10));
    assert!(!st.success());
    let mut g = m
        .lock_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(g.owner_died(), "expected OwnerDied");
    assert_eq!(*g, 42, "the data the C holder wrote");
    *g = 1;
    g.mark_consistent();
    drop(g);
    let g = m
        .lock_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!g.owner_died());
    assert_eq!(*g, 1);
}

/// A Rust process holding the robust mutex is SIGKILLed: the C side gets `RINGFORK_OWNER_DIED`.
fn rust_holder_killed_c_gets_owner_died() {
    let exe = compile("mutex_take.c");
    let name = seg_name("mutex-rust");
    let _ = Segment::unlink(&name);
    let seg = Segment::create(&name, 1 << 16).expect("segment");
    let _unlink = Unlink(name.clone());
    let m = Mutex::<u64>::new_in(&seg, "m", 0).expect("mutex");
    let mut fds = [0i32; 2];
    // SAFETY: pipe(2) writes two fds into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: this harness-less test binary is single-threaded here (the reader thread of the test
    // before has ended), so the child may use the allocator and locks; it only locks, writes and
    // sleeps until it is killed.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let mut g = m.lock().unwrap_or_else(|_| {
            // SAFETY: leaving the child at once.
            unsafe { libc::_exit(3) }
        });
        *g = 99;
        std::mem::forget(g);
        // SAFETY: writing one byte from a local to our pipe fd, then sleeping until killed.
        unsafe {
            libc::write(fds[1], b"L".as_ptr().cast(), 1);
            loop {
                libc::pause();
            }
        }
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    let mut byte = [0u8; 1];
    // SAFETY: the read end is ours; File takes it over and closes it.
    let mut r = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    let got = r.read(&mut byte).expect("read");
    // SAFETY: the child is ours; SIGKILL, then reap it.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
    assert_eq!(got, 1, "the Rust holder never locked");
    let st = Guard::spawn({
        let mut c = c_command(&exe, valgrind_required());
        c.arg(&name).arg("99");
        c
    })
    .wait(Duration::from_secs(120));
    assert!(
        st.success(),
        "C taker: {st} (exit code 13 = no OWNER_DIED, 14 = wrong data)"
    );
    let g = m
        .lock_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(*g, 7, "the C side's repair");
}

/// The complete example of docs/c.md compiles and runs.
fn docs_example_runs() {
    let doc = std::fs::read_to_string(crate_dir().join("../../docs/c.md")).expect("docs/c.md");
    let start = doc.find("```c\n").expect("a ```c block in docs/c.md") + 5;
    let end = start + doc[start..].find("```").expect("end of the block");
    let src = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs_example.c");
    std::fs::write(&src, &doc[start..end]).expect("write");
    let exe = compile_path(&src);
    let out = {
        let mut c = c_command(&exe, valgrind_required());
        c.stdout(Stdio::piped());
        let mut g = Guard::spawn(c);
        let mut s = String::new();
        g.child()
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut s)
            .expect("read");
        let st = g.wait(Duration::from_secs(60));
        assert!(st.success(), "docs/c.md example: {st}");
        s
    };
    assert_eq!(out.trim(), "sum 4950");
}

fn main() {
    let tests: &[(&str, fn())] = &[
        (
            "header_matches_the_rust_definitions",
            header_matches_the_rust_definitions,
        ),
        ("c_selftest", c_selftest),
        ("docs_example_runs", docs_example_runs),
        ("c_producer_rust_consumer", c_producer_rust_consumer),
        ("rust_producer_c_consumer_queue", rust_producer_c_consumer_queue),
        (
            "rust_holder_killed_c_gets_owner_died",
            rust_holder_killed_c_gets_owner_died,
        ),
        (
            "c_holder_killed_rust_gets_owner_died",
            c_holder_killed_rust_gets_owner_died,
        ),
    ];
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let mut ran = 0;
    for (name, f) in tests {
        if !filter.is_empty() && !filter.iter().any(|p| name.contains(p.as_str())) {
            continue;
        }
        println!("test {name} ...");
        f();
        println!("test {name} ... ok");
        ran += 1;
    }
    println!("\ntest result: ok. {ran} passed");
}
