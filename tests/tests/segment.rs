//! Segments across fork, and the wait layer across processes.

use ringfork::{Segment, ShmCell};
use ringfork_core::atomic::{AtomicU32, Ordering};
use ringfork_core::cell::ShmCell as CoreCell;
use ringfork_core::wait::{Futex, Spin, Wait};
use ringfork_core::{Deadline, Kind};
use ringfork_tests::harness::{run, Case};
use ringfork_tests::util::{fork_child, join_ok, zombie_children};
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

fn main() {
    run(&[
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
    ]);
}
