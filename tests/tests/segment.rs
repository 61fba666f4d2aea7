//! Segments across fork, and the wait layer across processes.

use ringfork::process::{Process, StartMethod, TargetArgs};
use ringfork::{OpenOptions, Segment, SegmentError, ShmCell, UnsafeEntry};
use ringfork_core::atomic::{AtomicU32, Ordering};
use ringfork_core::cell::ShmCell as CoreCell;
use ringfork_core::wait::{Futex, Spin, Wait};
use ringfork_core::{Deadline, Kind};
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::{fork_child, join_ok, zombie_children};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

fn child_write_is_seen_by_parent() {
    let cell = ShmCell::new(0u64).unwrap();
    let c2 = cell.clone();
    let pid = fork_child(move || c2.set(0xDEAD_BEEF));
    join_ok(pid, Duration::from_secs(10));
    assert_eq!(cell.get(), 0xDEAD_BEEF);
    assert!(zombie_children().is_empty());
}

fn named_segment_opened_by_name_in_child() {
    let name = format!("rf-test-fork-{}", std::process::id());
    let seg = Segment::create(&name, 1 << 16).unwrap();
    let cell = ShmCell::new_in(&seg, "v", 1u32).unwrap();
    let n2 = name.clone();
    let pid = fork_child(move || {
        // Open by name, as an unrelated process would, and validate the element type.
        let seg = Segment::open(&n2).unwrap();
        assert!(
            ShmCell::<u64>::open(&seg, "v").is_err(),
            "wrong element type must be rejected"
        );
        let c = ShmCell::<u32>::open(&seg, "v").unwrap();
        c.set(c.get() + 41);
    });
    join_ok(pid, Duration::from_secs(10));
    assert_eq!(cell.get(), 42);
    Segment::unlink(&name).unwrap();
}

fn header(seg: &Segment) -> &AtomicU32 {
    let off = seg.find("word").unwrap().offset;
    let r = seg.sub_region(off, 4).unwrap();
    // SAFETY: 4 bytes inside the mapping, 8-aligned (segment allocation), alive while `seg` is.
    unsafe { &*(r.as_ptr() as *const AtomicU32) }
}

fn wait_wakes_across_processes<W: Wait>() {
    let seg = Segment::anonymous(4096).unwrap();
    seg.alloc(Kind::Cell, "word", 8, 8).unwrap();
    let w = header(&seg);
    let s2 = seg.clone();
    let pid = fork_child(move || {
        let w = header(&s2);
        let start = Instant::now();
        while w.load(Ordering::Acquire) == 0 {
            W::wait(w, 0, Deadline::Never).unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(10));
        w.store(2, Ordering::Release);
        W::wake_all(w);
    });
    std::thread::sleep(Duration::from_millis(50)); // let the child park
    w.store(1, Ordering::Release);
    W::wake_all(w);
    let d = Deadline::after::<W::Clock>(Duration::from_secs(10));
    while w.load(Ordering::Acquire) != 2 {
        W::wait(w, 1, d).expect("child never answered");
    }
    join_ok(pid, Duration::from_secs(10));
}

fn futex_wakes_across_processes() {
    wait_wakes_across_processes::<Futex>();
}

fn spin_wakes_across_processes() {
    wait_wakes_across_processes::<Spin>();
}

fn deadlines_expire_within_bounds() {
    let seg = Segment::anonymous(4096).unwrap();
    seg.alloc(Kind::Cell, "word", 8, 8).unwrap();
    let w = header(&seg);
    for timeout in [Duration::from_millis(10), Duration::from_millis(100)] {
        let start = Instant::now();
        let d = Deadline::after::<<Futex as Wait>::Clock>(timeout);
        while Futex::wait(w, 0, d).is_ok() {}
        let el = start.elapsed();
        assert!(el >= timeout, "returned early: {el:?} < {timeout:?}");
        assert!(el < timeout + Duration::from_secs(2), "returned late: {el:?}");
    }
}

fn core_cell_attach_sees_init_from_other_process() {
    let seg = Segment::anonymous(4096).unwrap();
    let off = seg.alloc(Kind::Cell, "c", CoreCell::<[u64; 4]>::size(), 8).unwrap();
    let s2 = seg.clone();
    let pid = fork_child(move || {
        let r = s2.sub_region(off, CoreCell::<[u64; 4]>::size()).unwrap();
        CoreCell::init::<Futex>(r, [1u64, 2, 3, 4]).unwrap();
    });
    let r = seg.sub_region(off, CoreCell::<[u64; 4]>::size()).unwrap();
    // The parent may get here before the child initializes: attach waits for READY.
    let c = CoreCell::<[u64; 4]>::attach::<Futex>(r, Deadline::after::<<Futex as Wait>::Clock>(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e:?} {:?}", ringfork_core::Header::peek(r).unwrap().snapshot()));
    assert_eq!(c.get(), [1, 2, 3, 4]);
    join_ok(pid, Duration::from_secs(10));
}

/// Issue 15.4: an anonymous segment is a sealed memfd: a process that reaches it (here the parent,
/// and through `/proc/<victim>/fd`) cannot shrink or grow it (`EPERM`), and the victim child that
/// keeps using it is not killed by `SIGBUS`: it exits 0.
fn anonymous_segment_cannot_be_truncated() {
    let seg = Segment::anonymous(1 << 16).unwrap();
    let cell = ShmCell::new_in(&seg, "n", 0u64).unwrap();
    let go = ShmCell::new_in(&seg, "go", 0u32).unwrap();
    let (c2, g2) = (cell.clone(), go.clone());
    let fd = seg.raw_fd();
    let mut victim = Process::new(move || {
        // Touch every page before and after the attack.
        while g2.get() == 0 {
            c2.set(c2.get() + 1);
            std::thread::sleep(Duration::from_millis(1));
        }
        let r = c2.segment().sub_region(0, c2.segment().len()).unwrap();
        for off in (0..r.len()).step_by(4096) {
            // SAFETY: reading a byte inside our own live mapping.
            let _ = unsafe { std::ptr::read_volatile(r.as_ptr().add(off)) };
        }
        c2.set(c2.get() + 1);
    });
    victim.start().unwrap();
    let pid = victim.pid().unwrap();
    // The attacker's way in: the victim's fd table (same user).
    let path = format!("/proc/{pid}/fd/{fd}");
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    for len in [0u64, 4096, seg.len() as u64 + 4096] {
        let e = f.set_len(len).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "set_len({len}) through {path}");
    }
    // SAFETY: ftruncate on our own copy of the fd.
    assert_eq!(unsafe { libc::ftruncate(seg.fd().as_raw_fd(), 0) }, -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EPERM));
    go.set(1);
    assert!(victim.join_timeout(Duration::from_secs(10)).unwrap());
    assert_eq!(victim.exitcode(), Some(0), "the victim survived");
    assert!(cell.get() >= 1);
    seg.check_size().unwrap();
}

/// Issue 15.4, named segments (tmpfs files cannot be sealed): a resize by a process with write
/// permission is detected on open (and by `check_size`) as a typed error, never a SIGBUS.
fn resized_named_segment_is_a_typed_error() {
    let name = format!("/rf-resize-{}", std::process::id());
    let seg = Segment::create(&name, 1 << 16).unwrap();
    let len = seg.len() as u64;
    drop(seg);
    let path = format!("/dev/shm{name}");
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    for bad in [len - 4096, len + 4096] {
        f.set_len(bad).unwrap();
        match Segment::open(&name) {
            Err(SegmentError::SizeChanged { expected, found, .. }) => {
                assert_eq!((expected, found), (len, bad));
            }
            other => panic!("resized to {bad}: {other:?}"),
        }
        assert!(matches!(
            Segment::open_read_only(&name, Duration::ZERO),
            Err(SegmentError::SizeChanged { .. })
        ));
    }
    f.set_len(len).unwrap();
    let seg = Segment::open(&name).unwrap();
    seg.check_size().unwrap();
    f.set_len(len + 4096).unwrap();
    assert!(matches!(seg.check_size(), Err(SegmentError::SizeChanged { .. })));
    drop(seg);
    Segment::unlink(&name).unwrap();
}

/// Spawn target: holds the segments it was given until killed.
fn hold_segments(args: TargetArgs) {
    assert_eq!(args.segments().len(), 1);
    std::thread::sleep(Duration::from_secs(60));
}

/// Issue 15.6: a spawned child maps its segment by fd and is a registered attacher from before
/// `start` returns: once the creator drops its handle, `ls` sees the child as the live attacher and
/// `clean` keeps the segment; after the child dies, it is no longer counted.
fn spawned_child_is_a_registered_attacher() {
    let name = format!("/rf-spawnatt-{}", std::process::id());
    let seg = Segment::create(&name, 1 << 16).unwrap();
    let mut child = Process::target("hold_segments")
        .segment(&seg)
        .start_method(StartMethod::Spawn);
    child.start().unwrap();
    let pid = child.pid().unwrap();
    drop(seg); // the creator lets go
    let ro = Segment::open_read_only(&name, Duration::ZERO).unwrap();
    // What `ringfork ls`/`clean` decide on: the live registered attachers (clean removes a segment
    // only when there are none; its own end-to-end test is in host/cli/tests/cli.rs).
    let live = |s: &Segment| -> Vec<u32> {
        s.attachers()
            .into_iter()
            .filter(|(_, l)| *l == ringfork::os::Liveness::Alive)
            .map(|(a, _)| a.pid)
            .collect()
    };
    assert_eq!(live(&ro), vec![pid], "{:?}", ro.attachers());
    // The child maps it once: one registration, adopted after exec (not a second slot).
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(live(&ro), vec![pid]);
    child.kill().unwrap();
    assert!(child.join_timeout(Duration::from_secs(10)).unwrap());
    assert!(live(&ro).is_empty(), "{:?}", ro.attachers());
    drop(ro);
    Segment::unlink(&name).unwrap();
}

/// Issue 15.7: a FIFO named like a segment neither blocks `open`/`inspect` nor `ls`; a symlink is
/// never followed; a file of another user is refused unless asked for. (The case has a deadline:
/// a blocking open would fail it.)
fn fifo_and_symlink_are_refused_without_blocking() {
    let pid = std::process::id();
    let fifo = format!("rf-fifo-{pid}");
    let link = format!("rf-link-{pid}");
    let path = |n: &str| std::ffi::CString::new(format!("/dev/shm/{n}")).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(path(&fifo).as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/etc/hostname", format!("/dev/shm/{link}")).unwrap();
    let t = Instant::now();
    for ro in [true, false] {
        let opts = OpenOptions {
            read_only: ro,
            wait: Duration::ZERO,
            ..OpenOptions::default()
        };
        match Segment::open_with(&fifo, opts) {
            Err(SegmentError::Unsafe {
                reason: UnsafeEntry::NotRegular { file_type: "fifo" },
                ..
            }) => {}
            other => panic!("fifo: {other:?}"),
        }
        match Segment::open_with(&link, opts) {
            Err(SegmentError::Unsafe {
                reason: UnsafeEntry::Symlink,
                ..
            }) => {}
            other => panic!("symlink: {other:?}"),
        }
    }
    // (`ringfork ls`/`clean` on the same entries: host/cli/tests/cli.rs,
    // `fifo_and_symlink_neither_block_nor_mislead_the_tools`.)
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    std::fs::remove_file(format!("/dev/shm/{fifo}")).unwrap();
    std::fs::remove_file(format!("/dev/shm/{link}")).unwrap();
    // A segment owned by another user (only testable as root, who can chown it).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let name = format!("/rf-foreign-{pid}");
        let seg = Segment::create(&name, 4096).unwrap();
        // SAFETY: fchown on our own fd.
        assert_eq!(unsafe { libc::fchown(seg.raw_fd(), 65534, 65534) }, 0);
        drop(seg);
        match Segment::open(&name) {
            Err(SegmentError::Unsafe {
                reason: UnsafeEntry::ForeignOwner { uid: 65534 },
                ..
            }) => {}
            other => panic!("foreign: {other:?}"),
        }
        let opts = OpenOptions {
            any_owner: true,
            ..OpenOptions::default()
        };
        Segment::open_with(&name, opts).unwrap();
        Segment::unlink(&name).unwrap();
    }
}

/// Issue 15.3: a read-only mapping refuses every call that would write through it with a typed
/// `ReadOnly` error (it used to SIGSEGV in `cell.set`, `queue.try_put`, `seg.alloc`), and still
/// lists and inspects its objects. The victim is a child; its exit status is the verdict.
fn read_only_segment_refuses_writes_with_a_typed_error() {
    let name = format!("/rf-ro-{}", std::process::id());
    let seg = Segment::create(&name, 1 << 16).unwrap();
    ShmCell::new_in(&seg, "n", 7u64).unwrap();
    ringfork::Queue::<u64>::new_in(&seg, "q", 4).unwrap();
    let n2 = name.clone();
    let mut victim = Process::new(move || {
        let ro = Segment::open_read_only(&n2, Duration::from_secs(1)).unwrap();
        assert!(ro.is_read_only());
        let is_ro = |e: &SegmentError| matches!(e, SegmentError::ReadOnly { .. });
        assert!(is_ro(&ShmCell::<u64>::open(&ro, "n").unwrap_err()));
        assert!(is_ro(&ShmCell::new_in(&ro, "m", 1u64).unwrap_err()));
        assert!(is_ro(&ringfork::Queue::<u64>::open(&ro, "q").unwrap_err()));
        assert!(is_ro(&ro.alloc(Kind::Cell, "x", 64, 8).unwrap_err()));
        assert!(is_ro(&ro.sub_region(0, 64).unwrap_err()));
        assert!(ShmCell::<u64>::open(&ro, "n")
            .unwrap_err()
            .to_string()
            .contains("read-only"));
        // Listing and inspecting read only.
        let objs = ro.objects();
        assert_eq!(objs.len(), 2);
        for e in &objs {
            let (snap, status) = ro.inspect_object(e);
            assert!(snap.is_some() && status.is_ok(), "{e:?}: {status:?}");
        }
    });
    victim.start().unwrap();
    assert!(victim.join_timeout(Duration::from_secs(20)).unwrap());
    assert_eq!(victim.exitcode(), Some(0), "the read-only victim must exit normally");
    drop(seg);
    Segment::unlink(&name).unwrap();
}

fn main() {
    ringfork::process::register_target("hold_segments", hold_segments).unwrap();
    run(&[
        Case::new(
            "read_only_segment_refuses_writes_with_a_typed_error",
            read_only_segment_refuses_writes_with_a_typed_error,
        ),
        Case::new("child_write_is_seen_by_parent", child_write_is_seen_by_parent),
        Case::new(
            "named_segment_opened_by_name_in_child",
            named_segment_opened_by_name_in_child,
        ),
        Case::new("futex_wakes_across_processes", futex_wakes_across_processes),
        Case::new("spin_wakes_across_processes", spin_wakes_across_processes),
        Case::new("deadlines_expire_within_bounds", deadlines_expire_within_bounds),
        Case::new(
            "core_cell_attach_sees_init_from_other_process",
            core_cell_attach_sees_init_from_other_process,
        ),
        Case::new(
            "anonymous_segment_cannot_be_truncated",
            anonymous_segment_cannot_be_truncated,
        )
        .timeout(Duration::from_secs(30)),
        Case::new(
            "resized_named_segment_is_a_typed_error",
            resized_named_segment_is_a_typed_error,
        )
        .timeout(Duration::from_secs(30)),
        Case::new(
            "spawned_child_is_a_registered_attacher",
            spawned_child_is_a_registered_attacher,
        )
        .timeout(Duration::from_secs(30)),
        Case::new(
            "fifo_and_symlink_are_refused_without_blocking",
            fifo_and_symlink_are_refused_without_blocking,
        )
        .timeout(Duration::from_secs(20)),
    ]);
}
