//! The primitives: SPSC ring, MPMC queue, byte ring, robust mutex, value, semaphore, event, barrier.
//! Each has `_size`/`_align` (what `_init` needs), `_init` (into zeroed memory), `_attach` (validated)
//! and its operations. See `include/ringfork.h` for the contract of each function.

use crate::error::{self, RINGFORK_E_INVALID_ARGUMENT, RINGFORK_OK, RINGFORK_OWNER_DIED};
use core::ffi::c_void;
use core::mem::{align_of, size_of};
use core::time::Duration;
use ringfork_core::queue::bytering::{ByteReceiver, ByteRing, ByteSender};
use ringfork_core::queue::mpmc::{Mpmc, MpmcLayout};
use ringfork_core::queue::peers::PeerId;
use ringfork_core::queue::spsc::{ElemLayout, RawConsumer, RawProducer, RawSpsc};
use ringfork_core::queue::PopError;
use ringfork_core::sync::mutex::LockedBytes;
use ringfork_core::sync::{Barrier, Event, LockOutcome, Semaphore};
use ringfork_core::wait::{DefaultClock, DefaultWait};
use ringfork_core::{Deadline, Kind, Region};

/// The deadline of a timeout in nanoseconds: negative = none (wait forever), 0 = try once.
fn deadline(timeout_ns: i64) -> Deadline {
    match u64::try_from(timeout_ns) {
        Err(_) => Deadline::Never,
        Ok(0) => Deadline::Immediate,
        Ok(ns) => Deadline::after::<DefaultClock>(Duration::from_nanos(ns)),
    }
}

/// The caller's memory as a region valid for as long as the caller keeps it mapped.
///
/// # Safety
/// `mem` is valid for reads and writes of `len` bytes while any handle made from it is used.
unsafe fn region(mem: *mut c_void, len: usize) -> Option<Region<'static>> {
    if mem.is_null() {
        return None;
    }
    // SAFETY: forwarded to the caller (the C contract: the region outlives its handles).
    Some(unsafe { Region::from_raw_parts(mem.cast(), len) })
}

/// Defines an opaque, caller-allocated handle of `$words` 8-byte words holding a `$inner`.
macro_rules! handle {
    ($(#[$m:meta])* $name:ident, $words:expr, $inner:ty) => {
        $(#[$m])*
        #[repr(C, align(8))]
        #[derive(Debug)]
        pub struct $name {
            opaque: [u64; $words],
        }
        impl $name {
            /// Bytes of the handle (`sizeof` in C; checked against ringfork.h by the header test).
            pub const SIZE: usize = $words * 8;
        }
        const _: () = assert!(size_of::<$inner>() <= $words * 8 && align_of::<$inner>() <= 8);
    };
}

/// Stores `v` in the handle storage `out`.
///
/// # Safety
/// `out` is valid for writes of the handle type, which fits `T` (checked at compile time above).
unsafe fn put<H, T>(out: *mut H, v: T) {
    debug_assert!(size_of::<T>() <= size_of::<H>());
    // SAFETY: forwarded; the handle is 8-aligned and large enough for `T` (const assertions).
    unsafe { out.cast::<T>().write(v) }
}

/// The `T` a previous `put` stored in `h`.
///
/// # Safety
/// `h` is a handle an `init`/`attach` of the matching kind filled, not moved since (handles hold
/// no self-pointers, so a bitwise copy is fine too).
unsafe fn get<'a, H, T>(h: *mut H) -> &'a mut T {
    // SAFETY: forwarded.
    unsafe { &mut *h.cast::<T>() }
}

/// Returns `RINGFORK_E_INVALID_ARGUMENT` from the enclosing function if any pointer is null.
macro_rules! nonnull {
    ($($p:expr),+) => {
        if $($p.is_null())||+ {
            return RINGFORK_E_INVALID_ARGUMENT;
        }
    };
}

fn layout(size: usize, align: usize) -> Option<ElemLayout> {
    ElemLayout::new(size, align)
}

// ------------------------------------------------------------------------------------------------
// SPSC ring

handle!(
    /// `ringfork_spsc_t`: a validated view of an SPSC ring.
    Spsc, 16, RawSpsc<'static>
);
handle!(
    /// `ringfork_spsc_producer_t`: the writing end of an SPSC ring (with its local cursor).
    SpscProducer, 16, RawProducer<'static>
);
handle!(
    /// `ringfork_spsc_consumer_t`: the reading end of an SPSC ring.
    SpscConsumer, 16, RawConsumer<'static>
);

/// Bytes an SPSC ring of `capacity` elements of `elem_size` bytes aligned to `elem_align` needs; 0
/// if the parameters are invalid.
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_spsc_size(capacity: usize, elem_size: usize, elem_align: usize) -> usize {
    if capacity == 0 || capacity > ringfork_core::queue::spsc::MAX_CAPACITY {
        return 0;
    }
    layout(elem_size, elem_align)
        .and_then(|e| RawSpsc::size(capacity, e))
        .unwrap_or(0)
}

/// Alignment an SPSC ring's memory needs (0 if `elem_align` is invalid).
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_spsc_align(elem_align: usize) -> usize {
    layout(elem_align, elem_align).map(RawSpsc::align).unwrap_or(0)
}

/// Creates an SPSC ring in `mem` (zeroed) and fills `ring`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_init(
    ring: *mut Spsc,
    mem: *mut c_void,
    len: usize,
    capacity: usize,
    elem_size: usize,
    elem_align: usize,
) -> i32 {
    nonnull!(ring, mem);
    // SAFETY: the C contract (the region outlives the handle).
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    let Some(e) = layout(elem_size, elem_align) else {
        return error::RINGFORK_E_INVALID_PARAMETER;
    };
    match RawSpsc::init::<DefaultWait>(r, capacity, e) {
        // SAFETY: `ring` is valid for writes (C contract); the handle fits (const assertion).
        Ok(v) => unsafe { put(ring, v) },
        Err(e) => return error::init(e),
    }
    RINGFORK_OK
}

/// Attaches to the SPSC ring in `mem`, waiting up to `timeout_ns` for it to be ready.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_attach(
    ring: *mut Spsc,
    mem: *mut c_void,
    len: usize,
    elem_size: usize,
    elem_align: usize,
    timeout_ns: i64,
) -> i32 {
    nonnull!(ring, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    let Some(e) = layout(elem_size, elem_align) else {
        return error::RINGFORK_E_INVALID_PARAMETER;
    };
    match RawSpsc::attach::<DefaultWait>(r, e, deadline(timeout_ns)) {
        // SAFETY: as in `ringfork_spsc_init`.
        Ok(v) => unsafe { put(ring, v) },
        Err(e) => return error::attach(e),
    }
    RINGFORK_OK
}

/// A second view of the ring in `ring` (views are plain pointers; the C caller keeps to one producer
/// and one consumer, as the ring's contract says).
///
/// # Safety
/// `ring` was filled by `ringfork_spsc_init`/`_attach`.
unsafe fn spsc_view(ring: *mut Spsc) -> RawSpsc<'static> {
    // SAFETY: a bitwise copy of a view: pointers and numbers, no Drop, no ownership.
    unsafe { ring.cast::<RawSpsc<'static>>().read() }
}

/// Fills `producer` with the writing end of `ring`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_producer(ring: *mut Spsc, producer: *mut SpscProducer) -> i32 {
    nonnull!(ring, producer);
    // SAFETY: C contract: `ring` was filled by init/attach, `producer` is writable.
    unsafe { put(producer, spsc_view(ring).producer()) };
    RINGFORK_OK
}

/// Fills `consumer` with the reading end of `ring`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_consumer(ring: *mut Spsc, consumer: *mut SpscConsumer) -> i32 {
    nonnull!(ring, consumer);
    // SAFETY: as in `ringfork_spsc_producer`.
    unsafe { put(consumer, spsc_view(ring).consumer()) };
    RINGFORK_OK
}

/// Pushes one element (`elem_size` bytes at `elem`) if there is room; never blocks.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_try_push(producer: *mut SpscProducer, elem: *const c_void) -> i32 {
    nonnull!(producer, elem);
    // SAFETY: C contract: a filled producer handle.
    let p = unsafe { get::<_, RawProducer<'static>>(producer) };
    let e = p.ring().elem();
    let r = if e.size == 8 && e.align >= 8 {
        // The one-word fast path (a leaf: no copy loop, no call).
        // SAFETY: C contract: `elem` is readable for the element size (8 bytes, any alignment).
        p.try_push_u64(unsafe { elem.cast::<u64>().read_unaligned() })
    } else {
        try_push_bytes(p, elem)
    };
    match r {
        Ok(()) => RINGFORK_OK,
        Err(e) => error::push(e),
    }
}

/// The general case of `ringfork_spsc_try_push`, out of line.
#[inline(never)]
fn try_push_bytes(p: &mut RawProducer<'static>, elem: *const c_void) -> Result<(), ringfork_core::queue::PushError> {
    // SAFETY: C contract: `elem` is readable for the ring's element size.
    let bytes = unsafe { core::slice::from_raw_parts(elem.cast::<u8>(), p.ring().elem().size) };
    p.try_push(bytes)
}

/// Pushes one element, waiting up to `timeout_ns` for room, and wakes a sleeping consumer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_push(producer: *mut SpscProducer, elem: *const c_void, timeout_ns: i64) -> i32 {
    nonnull!(producer, elem);
    // SAFETY: as in `ringfork_spsc_try_push`.
    let p = unsafe { get::<_, RawProducer<'static>>(producer) };
    // SAFETY: as in `ringfork_spsc_try_push`.
    let bytes = unsafe { core::slice::from_raw_parts(elem.cast::<u8>(), p.ring().elem().size) };
    error::code(p.push::<DefaultWait>(bytes, deadline(timeout_ns)), error::push)
}

/// Wakes a consumer sleeping in `ringfork_spsc_pop` after `try_push` calls (which do not wake).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_notify_consumer(producer: *mut SpscProducer) -> i32 {
    nonnull!(producer);
    // SAFETY: as in `ringfork_spsc_try_push`.
    unsafe { get::<_, RawProducer<'static>>(producer) }.notify::<DefaultWait>();
    RINGFORK_OK
}

/// Pops the oldest element into `out` (`elem_size` bytes) if there is one; never blocks.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_try_pop(consumer: *mut SpscConsumer, out: *mut c_void) -> i32 {
    nonnull!(consumer, out);
    // SAFETY: C contract: a filled consumer handle.
    let c = unsafe { get::<_, RawConsumer<'static>>(consumer) };
    let e = c.ring().elem();
    let r = if e.size == 8 && e.align >= 8 {
        // The one-word fast path.
        c.try_pop_u64().map(|v| {
            // SAFETY: C contract: `out` is writable for the element size (8 bytes, any alignment).
            unsafe { out.cast::<u64>().write_unaligned(v) }
        })
    } else {
        try_pop_bytes(c, out)
    };
    match r {
        Ok(()) => RINGFORK_OK,
        Err(e) => error::pop(e),
    }
}

/// The general case of `ringfork_spsc_try_pop`, out of line.
#[inline(never)]
fn try_pop_bytes(c: &mut RawConsumer<'static>, out: *mut c_void) -> Result<(), PopError> {
    // SAFETY: C contract: `out` is writable for the ring's element size.
    let buf = unsafe { core::slice::from_raw_parts_mut(out.cast::<u8>(), c.ring().elem().size) };
    c.try_pop(buf)
}

/// Pops the oldest element, waiting up to `timeout_ns`, and wakes a sleeping producer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_pop(consumer: *mut SpscConsumer, out: *mut c_void, timeout_ns: i64) -> i32 {
    nonnull!(consumer, out);
    // SAFETY: as in `ringfork_spsc_try_pop`.
    let c = unsafe { get::<_, RawConsumer<'static>>(consumer) };
    // SAFETY: as in `ringfork_spsc_try_pop`.
    let buf = unsafe { core::slice::from_raw_parts_mut(out.cast::<u8>(), c.ring().elem().size) };
    error::code(c.pop::<DefaultWait>(buf, deadline(timeout_ns)), error::pop)
}

/// Wakes a producer sleeping in `ringfork_spsc_push` after `try_pop` calls.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_notify_producer(consumer: *mut SpscConsumer) -> i32 {
    nonnull!(consumer);
    // SAFETY: as in `ringfork_spsc_try_pop`.
    unsafe { get::<_, RawConsumer<'static>>(consumer) }.notify::<DefaultWait>();
    RINGFORK_OK
}

/// Elements in the ring at some instant (0 for a null handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_len(ring: *mut Spsc) -> usize {
    if ring.is_null() {
        return 0;
    }
    // SAFETY: C contract: a filled ring handle.
    unsafe { get::<_, RawSpsc<'static>>(ring) }.len()
}

/// Closes the ring: pushes fail with `RINGFORK_E_CLOSED`, pops drain and then fail with it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_spsc_close(ring: *mut Spsc) -> i32 {
    nonnull!(ring);
    // SAFETY: as in `ringfork_spsc_len`.
    unsafe { get::<_, RawSpsc<'static>>(ring) }.close::<DefaultWait>();
    RINGFORK_OK
}

// ------------------------------------------------------------------------------------------------
// MPMC queue (the layout of `ringfork::Queue<T>`)

/// An MPMC queue view plus this holder's registrations in both peer tables.
#[derive(Debug)]
struct QueueView {
    ring: Mpmc<'static>,
    producer: Option<PeerId>,
    consumer: Option<PeerId>,
}

handle!(
    /// `ringfork_queue_t`: a validated view of an MPMC queue, registered as a holder of both sides.
    Queue, 16, QueueView
);

/// Alignment every MPMC payload has at least (`data_off = max(8, elem_align)`, docs/layout.md).
const PAYLOAD_ALIGN: usize = 8;

/// Header flags of a typed queue (`ringfork::Queue<T>`).
const QUEUE_TYPED: u32 = 0;

fn queue_layout(capacity: u64, elem_size: usize, elem_align: usize) -> Option<MpmcLayout> {
    layout(elem_size, elem_align)?;
    Some(MpmcLayout {
        capacity,
        slot_size: elem_size,
        align: elem_align,
    })
}

/// Registers the calling process as a holder of both sides (as `ringfork::Queue` handles do).
fn hold(ring: Mpmc<'static>) -> QueueView {
    let ctrl = ring.ctrl();
    QueueView {
        producer: ctrl.producers.register_current(),
        consumer: ctrl.consumers.register_current(),
        ring,
    }
}

/// Bytes an MPMC queue of `capacity` elements needs (0 if invalid).
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_queue_size(capacity: usize, elem_size: usize, elem_align: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    queue_layout(capacity as u64, elem_size, elem_align)
        .and_then(|l| l.size())
        .unwrap_or(0)
}

/// Alignment an MPMC queue's memory needs (0 if invalid).
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_queue_align(elem_align: usize) -> usize {
    queue_layout(1, elem_align, elem_align)
        .map(|l| l.region_align())
        .unwrap_or(0)
}

/// Creates an MPMC queue (kind `queue`, the layout of `ringfork::Queue<T>`) in `mem` and holds it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_queue_init(
    queue: *mut Queue,
    mem: *mut c_void,
    len: usize,
    capacity: usize,
    elem_size: usize,
    elem_align: usize,
) -> i32 {
    nonnull!(queue, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    let Some(l) = queue_layout(capacity as u64, elem_size, elem_align) else {
        return error::RINGFORK_E_INVALID_PARAMETER;
    };
    match Mpmc::init::<DefaultWait>(r, Kind::Queue, l, 0, QUEUE_TYPED) {
        // SAFETY: `queue` is writable (C contract); the handle fits.
        Ok(ring) => unsafe { put(queue, hold(ring)) },
        Err(e) => return error::init(e),
    }
    RINGFORK_OK
}

/// Attaches to the MPMC queue in `mem` (validating element size and alignment) and holds it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_queue_attach(
    queue: *mut Queue,
    mem: *mut c_void,
    len: usize,
    elem_size: usize,
    elem_align: usize,
    timeout_ns: i64,
) -> i32 {
    nonnull!(queue, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    if layout(elem_size, elem_align).is_none() {
        return error::RINGFORK_E_INVALID_PARAMETER;
    }
    match Mpmc::attach::<DefaultWait>(
        r,
        Kind::Queue,
        elem_size,
        elem_align,
        Some(0),
        QUEUE_TYPED,
        deadline(timeout_ns),
    ) {
        // SAFETY: as in `ringfork_queue_init`.
        Ok(ring) => unsafe { put(queue, hold(ring)) },
        Err(e) => return error::attach(e),
    }
    RINGFORK_OK
}

/// Releases this process's hold on the queue (call once per init/attach, before unmapping).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_queue_detach(queue: *mut Queue) -> i32 {
    nonnull!(queue);
    // SAFETY: C contract: a filled queue handle.
    let q = unsafe { get::<_, QueueView>(queue) };
    let ctrl = q.ring.ctrl();
    match q.producer.take() {
        Some(id) => {
            let _ = ctrl.producers.unregister(id);
        }
        None => ctrl.producers.remove_unregistered(),
    }
    match q.consumer.take() {
        Some(id) => {
            let _ = ctrl.consumers.unregister(id);
        }
        None => ctrl.consumers.remove_unregistered(),
    }
    RINGFORK_OK
}

/// Puts one element (`elem_size` bytes at `elem`), waiting up to `timeout_ns` for room.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_queue_put(queue: *mut Queue, elem: *const c_void, timeout_ns: i64) -> i32 {
    nonnull!(queue, elem);
    // SAFETY: C contract: a filled queue handle.
    let q = unsafe { get::<_, QueueView>(queue) };
    let n = q.ring.slot_size();
    let src = elem.cast::<u8>();
    let write = |dst: *mut u8| {
        // SAFETY: `dst` is the claimed slot's payload (`slot_size` bytes, aligned to the element);
        // `src` is readable for the element size (C contract).
        unsafe { ringfork_core::racy_copy::store_bytes(dst, src, n, PAYLOAD_ALIGN) }
    };
    let d = deadline(timeout_ns);
    if d == Deadline::Immediate {
        let control = &q.ring.ctrl().control;
        if control.is_closed() {
            return error::RINGFORK_E_CLOSED;
        }
        if let Err(e) = q.ring.try_push_with(q.producer, write) {
            return error::push(e);
        }
        control.not_empty.notify_one::<DefaultWait>();
        return RINGFORK_OK;
    }
    error::code(q.ring.push_with::<DefaultWait>(q.producer, d, write), error::push)
}

/// Gets the oldest element into `out` (`elem_size` bytes), waiting up to `timeout_ns`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_queue_get(queue: *mut Queue, out: *mut c_void, timeout_ns: i64) -> i32 {
    nonnull!(queue, out);
    // SAFETY: C contract: a filled queue handle.
    let q = unsafe { get::<_, QueueView>(queue) };
    let n = q.ring.slot_size();
    let dst = out.cast::<u8>();
    let read = |src: *const u8| {
        // SAFETY: `src` is the claimed slot's payload (`slot_size` bytes); `dst` is writable for the
        // element size (C contract).
        unsafe { ringfork_core::racy_copy::load_bytes(dst, src, n, PAYLOAD_ALIGN) }
    };
    let d = deadline(timeout_ns);
    let control = &q.ring.ctrl().control;
    let r = if d == Deadline::Immediate {
        match q.ring.try_pop_with(q.consumer, read) {
            Ok(()) => {
                control.not_full.notify_one::<DefaultWait>();
                Ok(())
            }
            Err(PopError::Empty) if control.is_closed() => Err(PopError::Closed),
            Err(e) => Err(e),
        }
    } else {
        q.ring.pop_with::<DefaultWait, ()>(q.consumer, d, read)
    };
    error::code(r, error::pop)
}

/// Elements in the queue at some instant (0 for a null handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_queue_len(queue: *mut Queue) -> usize {
    if queue.is_null() {
        return 0;
    }
    // SAFETY: C contract: a filled queue handle.
    unsafe { get::<_, QueueView>(queue) }.ring.len()
}

/// Closes the queue (puts fail with `RINGFORK_E_CLOSED`; gets drain, then fail with it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_queue_close(queue: *mut Queue) -> i32 {
    nonnull!(queue);
    // SAFETY: C contract: a filled queue handle.
    unsafe { get::<_, QueueView>(queue) }.ring.close::<DefaultWait>();
    RINGFORK_OK
}

// ------------------------------------------------------------------------------------------------
// Byte ring

handle!(
    /// `ringfork_bytering_t`: a validated view of a byte ring (variable-size messages).
    ByteRingHandle, 8, ByteRing<'static>
);
handle!(
    /// `ringfork_bytering_sender_t`: the sending end of a byte ring.
    ByteSenderHandle, 8, ByteSender<'static>
);
handle!(
    /// `ringfork_bytering_receiver_t`: the receiving end of a byte ring.
    ByteReceiverHandle, 8, ByteReceiver<'static>
);

/// Bytes a byte ring of `capacity` data bytes and messages up to `msg_limit` bytes needs (0 if
/// invalid).
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_bytering_size(capacity: usize, msg_limit: usize) -> usize {
    ByteRing::size(capacity, msg_limit).unwrap_or(0)
}

/// Alignment a byte ring's memory needs.
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_bytering_align() -> usize {
    ByteRing::align()
}

/// Creates a byte ring in `mem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_bytering_init(
    ring: *mut ByteRingHandle,
    mem: *mut c_void,
    len: usize,
    capacity: usize,
    msg_limit: usize,
) -> i32 {
    nonnull!(ring, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    match ByteRing::init::<DefaultWait>(r, Kind::ByteRing, capacity, msg_limit) {
        // SAFETY: `ring` is writable (C contract); the handle fits.
        Ok(v) => unsafe { put(ring, v) },
        Err(e) => return error::init(e),
    }
    RINGFORK_OK
}

/// Attaches to the byte ring in `mem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_bytering_attach(
    ring: *mut ByteRingHandle,
    mem: *mut c_void,
    len: usize,
    timeout_ns: i64,
) -> i32 {
    nonnull!(ring, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    match ByteRing::attach::<DefaultWait>(r, Kind::ByteRing, deadline(timeout_ns)) {
        // SAFETY: as in `ringfork_bytering_init`.
        Ok(v) => unsafe { put(ring, v) },
        Err(e) => return error::attach(e),
    }
    RINGFORK_OK
}

/// Fills `sender` with the sending end of `ring`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_bytering_sender(ring: *mut ByteRingHandle, sender: *mut ByteSenderHandle) -> i32 {
    nonnull!(ring, sender);
    // SAFETY: C contract: a filled ring handle, one sender at a time (the ring's contract).
    let s = unsafe { get::<_, ByteRing<'static>>(ring).sender_unchecked() };
    // SAFETY: `sender` is writable; the handle fits.
    unsafe { put(sender, s) };
    RINGFORK_OK
}

/// Fills `receiver` with the receiving end of `ring`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_bytering_receiver(
    ring: *mut ByteRingHandle,
    receiver: *mut ByteReceiverHandle,
) -> i32 {
    nonnull!(ring, receiver);
    // SAFETY: C contract: a filled ring handle, one receiver at a time.
    let r = unsafe { get::<_, ByteRing<'static>>(ring).receiver_unchecked() };
    // SAFETY: `receiver` is writable; the handle fits.
    unsafe { put(receiver, r) };
    RINGFORK_OK
}

/// Sends the `len` bytes at `msg` (`msg` may be null when `len` is 0), waiting up to `timeout_ns`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_bytering_send(
    sender: *mut ByteSenderHandle,
    msg: *const c_void,
    len: usize,
    timeout_ns: i64,
) -> i32 {
    nonnull!(sender);
    if msg.is_null() && len != 0 {
        return RINGFORK_E_INVALID_ARGUMENT;
    }
    let bytes: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: C contract: `msg` is readable for `len` bytes.
        unsafe { core::slice::from_raw_parts(msg.cast(), len) }
    };
    // SAFETY: C contract: a filled sender handle.
    let s = unsafe { get::<_, ByteSender<'static>>(sender) };
    let d = deadline(timeout_ns);
    if d == Deadline::Immediate {
        if s.ring().ctrl().control.is_closed() {
            return error::RINGFORK_E_CLOSED;
        }
        let r = s.try_send(bytes);
        if r.is_ok() {
            s.ring().ctrl().control.not_empty.notify_one::<DefaultWait>();
        }
        return error::code(r, error::push);
    }
    error::code(s.send::<DefaultWait>(bytes, d), error::push)
}

/// Receives the next message into `buf` (`cap` bytes), storing its length in `*len`; waits up to
/// `timeout_ns`. A message longer than `cap` stays queued (`RINGFORK_E_BUFFER_TOO_SMALL`, `*len` =
/// its length).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_bytering_recv(
    receiver: *mut ByteReceiverHandle,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: i64,
) -> i32 {
    nonnull!(receiver, len);
    if buf.is_null() && cap != 0 {
        return RINGFORK_E_INVALID_ARGUMENT;
    }
    let out: &mut [u8] = if cap == 0 {
        &mut []
    } else {
        // SAFETY: C contract: `buf` is writable for `cap` bytes.
        unsafe { core::slice::from_raw_parts_mut(buf.cast(), cap) }
    };
    // SAFETY: C contract: a filled receiver handle.
    let r = unsafe { get::<_, ByteReceiver<'static>>(receiver) };
    let d = deadline(timeout_ns);
    let res = if d == Deadline::Immediate {
        let res = r.try_recv_into(out);
        let control = &r.ring().ctrl().control;
        match res {
            Ok(n) => {
                control.not_full.notify_one::<DefaultWait>();
                Ok(n)
            }
            Err(PopError::Empty) if control.is_closed() => Err(PopError::Closed),
            Err(e) => Err(e),
        }
    } else {
        r.recv_into::<DefaultWait>(out, d)
    };
    match res {
        Ok(n) => {
            // SAFETY: `len` is writable (C contract).
            unsafe { len.write(n) };
            RINGFORK_OK
        }
        Err(PopError::BufferTooSmall { needed }) => {
            // SAFETY: as above.
            unsafe { len.write(needed) };
            error::RINGFORK_E_BUFFER_TOO_SMALL
        }
        Err(e) => error::pop(e),
    }
}

/// Closes the byte ring.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_bytering_close(ring: *mut ByteRingHandle) -> i32 {
    nonnull!(ring);
    // SAFETY: C contract: a filled ring handle.
    unsafe { get::<_, ByteRing<'static>>(ring) }.close::<DefaultWait>();
    RINGFORK_OK
}

// ------------------------------------------------------------------------------------------------
// Robust mutex and locked value

handle!(
    /// `ringfork_mutex_t`: a validated view of a robust mutex guarding `data_size` bytes.
    MutexHandle, 8, LockedBytes<'static, DefaultWait>
);
handle!(
    /// `ringfork_value_t`: a validated view of a locked value (`ringfork::Value<T>`).
    ValueHandle, 8, LockedBytes<'static, DefaultWait>
);

/// Bytes a mutex (or value) guarding `data_size` bytes aligned to `data_align` needs (0 if invalid).
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_mutex_size(data_size: usize, data_align: usize) -> usize {
    layout(data_size, data_align)
        .and_then(LockedBytes::<DefaultWait>::size)
        .unwrap_or(0)
}

/// Alignment a mutex's (or value's) memory needs (0 if invalid).
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_mutex_align(data_align: usize) -> usize {
    layout(data_align, data_align)
        .map(LockedBytes::<DefaultWait>::align)
        .unwrap_or(0)
}

/// # Safety
/// `init` is null (zeroes) or readable for `size` bytes; `mem`/`len` as in the C contract.
unsafe fn locked_init<H>(
    out: *mut H,
    kind: Kind,
    mem: *mut c_void,
    len: usize,
    init: *const c_void,
    size: usize,
    align: usize,
) -> i32 {
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    let Some(e) = layout(size, align) else {
        return error::RINGFORK_E_INVALID_PARAMETER;
    };
    let res = if init.is_null() {
        LockedBytes::<DefaultWait>::init(r, kind, e, None)
    } else {
        // SAFETY: C contract: `init` is readable for `size` bytes.
        let bytes = unsafe { core::slice::from_raw_parts(init.cast(), size) };
        LockedBytes::<DefaultWait>::init(r, kind, e, Some(bytes))
    };
    match res {
        // SAFETY: `out` is writable (C contract); the handle fits.
        Ok(v) => unsafe { put(out, v) },
        Err(e) => return error::init(e),
    }
    RINGFORK_OK
}

/// # Safety
/// As for `locked_init`.
unsafe fn locked_attach<H>(
    out: *mut H,
    kind: Kind,
    mem: *mut c_void,
    len: usize,
    size: usize,
    align: usize,
    timeout_ns: i64,
) -> i32 {
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    let Some(e) = layout(size, align) else {
        return error::RINGFORK_E_INVALID_PARAMETER;
    };
    match LockedBytes::<DefaultWait>::attach(r, kind, e, deadline(timeout_ns)) {
        // SAFETY: `out` is writable (C contract); the handle fits.
        Ok(v) => unsafe { put(out, v) },
        Err(e) => return error::attach(e),
    }
    RINGFORK_OK
}

/// Creates an unlocked robust mutex guarding `data_size` zero bytes aligned to `data_align`
/// (0 and 1 for a bare lock, like `ringfork::Lock`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_mutex_init(
    mutex: *mut MutexHandle,
    mem: *mut c_void,
    len: usize,
    data_size: usize,
    data_align: usize,
) -> i32 {
    nonnull!(mutex, mem);
    // SAFETY: forwarded C contract; null `init` = zeroes.
    unsafe { locked_init(mutex, Kind::Mutex, mem, len, core::ptr::null(), data_size, data_align) }
}

/// Attaches to the robust mutex in `mem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_mutex_attach(
    mutex: *mut MutexHandle,
    mem: *mut c_void,
    len: usize,
    data_size: usize,
    data_align: usize,
    timeout_ns: i64,
) -> i32 {
    nonnull!(mutex, mem);
    // SAFETY: forwarded C contract.
    unsafe { locked_attach(mutex, Kind::Mutex, mem, len, data_size, data_align, timeout_ns) }
}

fn outcome(r: Result<LockOutcome, ringfork_core::sync::LockError>) -> i32 {
    match r {
        Ok(LockOutcome::Acquired) => RINGFORK_OK,
        Ok(LockOutcome::OwnerDied) => RINGFORK_OWNER_DIED,
        Err(e) => error::lock(e),
    }
}

/// Locks, waiting up to `timeout_ns`: `0`, or `RINGFORK_OWNER_DIED` (locked; the previous owner
/// died holding it), or an error (`RINGFORK_E_TIMED_OUT`, `_NOT_RECOVERABLE`, `_DEADLOCK`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_mutex_lock(mutex: *mut MutexHandle, timeout_ns: i64) -> i32 {
    nonnull!(mutex);
    // SAFETY: C contract: a filled mutex handle.
    let m = unsafe { get::<_, LockedBytes<'static, DefaultWait>>(mutex) };
    outcome(m.lock(deadline(timeout_ns)))
}

/// Unlocks (the calling thread must hold the lock).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_mutex_unlock(mutex: *mut MutexHandle) -> i32 {
    nonnull!(mutex);
    // SAFETY: C contract: a filled mutex handle.
    let m = unsafe { get::<_, LockedBytes<'static, DefaultWait>>(mutex) };
    error::code(m.unlock(), error::unlock)
}

/// Declares the data repaired after `RINGFORK_OWNER_DIED` (the caller holds the lock).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_mutex_mark_consistent(mutex: *mut MutexHandle) -> i32 {
    nonnull!(mutex);
    // SAFETY: C contract: a filled mutex handle.
    let m = unsafe { get::<_, LockedBytes<'static, DefaultWait>>(mutex) };
    error::code(m.raw().mark_consistent(), error::unlock)
}

/// The guarded data (`data_size` bytes aligned to `data_align`); touch it only while holding the
/// lock. Null for a null handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_mutex_data(mutex: *mut MutexHandle) -> *mut c_void {
    if mutex.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: C contract: a filled mutex handle.
    unsafe { get::<_, LockedBytes<'static, DefaultWait>>(mutex) }
        .data()
        .cast()
}

/// Bytes a locked value of `size` bytes aligned to `align` needs (0 if invalid).
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_value_size(size: usize, align: usize) -> usize {
    ringfork_mutex_size(size, align)
}

/// Alignment a locked value's memory needs (0 if invalid).
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_value_align(align: usize) -> usize {
    ringfork_mutex_align(align)
}

/// Creates a locked value (kind `value`, the layout of `ringfork::Value<T>`) holding the
/// `size` bytes at `init` (aligned to `align` in shared memory).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_value_init(
    value: *mut ValueHandle,
    mem: *mut c_void,
    len: usize,
    init: *const c_void,
    size: usize,
    align: usize,
) -> i32 {
    nonnull!(value, mem, init);
    // SAFETY: forwarded C contract.
    unsafe { locked_init(value, Kind::Value, mem, len, init, size, align) }
}

/// Attaches to the locked value in `mem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_value_attach(
    value: *mut ValueHandle,
    mem: *mut c_void,
    len: usize,
    size: usize,
    align: usize,
    timeout_ns: i64,
) -> i32 {
    nonnull!(value, mem);
    // SAFETY: forwarded C contract.
    unsafe { locked_attach(value, Kind::Value, mem, len, size, align, timeout_ns) }
}

/// Runs `f` under the value's lock. An owner that died holding it: the lock is marked consistent
/// (the value is whatever it left) and the result is `RINGFORK_OWNER_DIED`, reported once.
fn with_value(v: &LockedBytes<'static, DefaultWait>, timeout_ns: i64, f: impl FnOnce()) -> i32 {
    let code = match v.lock(deadline(timeout_ns)) {
        Ok(LockOutcome::Acquired) => RINGFORK_OK,
        Ok(LockOutcome::OwnerDied) => {
            // We hold the lock in the owner-died state: mark_consistent cannot fail here.
            let _ = v.raw().mark_consistent();
            RINGFORK_OWNER_DIED
        }
        Err(e) => return error::lock(e),
    };
    f();
    match v.unlock() {
        Ok(()) => code,
        Err(e) => error::unlock(e),
    }
}

/// Copies the value into `out` (`size` bytes) under its lock, waiting up to `timeout_ns`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_value_get(value: *mut ValueHandle, out: *mut c_void, timeout_ns: i64) -> i32 {
    nonnull!(value, out);
    // SAFETY: C contract: a filled value handle.
    let v = unsafe { get::<_, LockedBytes<'static, DefaultWait>>(value) };
    let n = v.elem().size;
    with_value(v, timeout_ns, || {
        // SAFETY: we hold the lock; `out` is writable for the value's size (C contract).
        unsafe { v.read_locked(core::slice::from_raw_parts_mut(out.cast(), n)) }
    })
}

/// Stores the `size` bytes at `src` into the value under its lock, waiting up to `timeout_ns`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_value_set(value: *mut ValueHandle, src: *const c_void, timeout_ns: i64) -> i32 {
    nonnull!(value, src);
    // SAFETY: C contract: a filled value handle.
    let v = unsafe { get::<_, LockedBytes<'static, DefaultWait>>(value) };
    let n = v.elem().size;
    with_value(v, timeout_ns, || {
        // SAFETY: we hold the lock; `src` is readable for the value's size (C contract).
        unsafe { v.write_locked(core::slice::from_raw_parts(src.cast(), n)) }
    })
}

// ------------------------------------------------------------------------------------------------
// Semaphore, event, barrier

handle!(
    /// `ringfork_semaphore_t`.
    SemaphoreHandle, 4, Semaphore<'static, DefaultWait>
);
handle!(
    /// `ringfork_event_t`.
    EventHandle, 4, Event<'static, DefaultWait>
);
handle!(
    /// `ringfork_barrier_t`.
    BarrierHandle, 4, Barrier<'static, DefaultWait>
);

/// Bytes a semaphore needs.
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_semaphore_size() -> usize {
    Semaphore::<DefaultWait>::SIZE
}

/// Alignment a semaphore's memory needs.
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_semaphore_align() -> usize {
    Semaphore::<DefaultWait>::ALIGN
}

/// Creates a semaphore with `value` permits; `bounded` != 0: releases past `value` fail.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_semaphore_init(
    sem: *mut SemaphoreHandle,
    mem: *mut c_void,
    len: usize,
    value: u32,
    bounded: i32,
) -> i32 {
    nonnull!(sem, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    match Semaphore::<DefaultWait>::init(r, value, bounded != 0) {
        // SAFETY: `sem` is writable (C contract); the handle fits.
        Ok(v) => unsafe { put(sem, v) },
        Err(e) => return error::init(e),
    }
    RINGFORK_OK
}

/// Attaches to the semaphore in `mem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_semaphore_attach(
    sem: *mut SemaphoreHandle,
    mem: *mut c_void,
    len: usize,
    timeout_ns: i64,
) -> i32 {
    nonnull!(sem, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    match Semaphore::<DefaultWait>::attach(r, deadline(timeout_ns)) {
        // SAFETY: as in `ringfork_semaphore_init`.
        Ok(v) => unsafe { put(sem, v) },
        Err(e) => return error::attach(e),
    }
    RINGFORK_OK
}

/// Takes one permit, waiting up to `timeout_ns` (`RINGFORK_E_TIMED_OUT` if none came).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_semaphore_acquire(sem: *mut SemaphoreHandle, timeout_ns: i64) -> i32 {
    nonnull!(sem);
    // SAFETY: C contract: a filled handle.
    let s = unsafe { get::<_, Semaphore<'static, DefaultWait>>(sem) };
    match s.acquire_until(deadline(timeout_ns)) {
        Ok(()) => RINGFORK_OK,
        Err(_) => error::RINGFORK_E_TIMED_OUT,
    }
}

/// Returns `n` permits (`RINGFORK_E_OVERFLOW` past the bound).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_semaphore_release(sem: *mut SemaphoreHandle, n: u32) -> i32 {
    nonnull!(sem);
    // SAFETY: C contract: a filled handle.
    let s = unsafe { get::<_, Semaphore<'static, DefaultWait>>(sem) };
    error::code(s.release(n), error::semaphore)
}

/// The number of permits at some instant (0 for a null handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_semaphore_value(sem: *mut SemaphoreHandle) -> u32 {
    if sem.is_null() {
        return 0;
    }
    // SAFETY: C contract: a filled handle.
    unsafe { get::<_, Semaphore<'static, DefaultWait>>(sem) }.get_value()
}

/// Bytes an event needs.
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_event_size() -> usize {
    Event::<DefaultWait>::SIZE
}

/// Alignment an event's memory needs.
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_event_align() -> usize {
    Event::<DefaultWait>::ALIGN
}

/// Creates a clear event in `mem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_event_init(ev: *mut EventHandle, mem: *mut c_void, len: usize) -> i32 {
    nonnull!(ev, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    match Event::<DefaultWait>::init(r) {
        // SAFETY: `ev` is writable (C contract); the handle fits.
        Ok(v) => unsafe { put(ev, v) },
        Err(e) => return error::init(e),
    }
    RINGFORK_OK
}

/// Attaches to the event in `mem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_event_attach(
    ev: *mut EventHandle,
    mem: *mut c_void,
    len: usize,
    timeout_ns: i64,
) -> i32 {
    nonnull!(ev, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    match Event::<DefaultWait>::attach(r, deadline(timeout_ns)) {
        // SAFETY: as in `ringfork_event_init`.
        Ok(v) => unsafe { put(ev, v) },
        Err(e) => return error::attach(e),
    }
    RINGFORK_OK
}

/// Sets the event and wakes every waiter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_event_set(ev: *mut EventHandle) -> i32 {
    nonnull!(ev);
    // SAFETY: C contract: a filled handle.
    unsafe { get::<_, Event<'static, DefaultWait>>(ev) }.set();
    RINGFORK_OK
}

/// Clears the event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_event_clear(ev: *mut EventHandle) -> i32 {
    nonnull!(ev);
    // SAFETY: C contract: a filled handle.
    unsafe { get::<_, Event<'static, DefaultWait>>(ev) }.clear();
    RINGFORK_OK
}

/// 1 if the event is set, 0 if not (or for a null handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_event_is_set(ev: *mut EventHandle) -> i32 {
    if ev.is_null() {
        return 0;
    }
    // SAFETY: C contract: a filled handle.
    i32::from(unsafe { get::<_, Event<'static, DefaultWait>>(ev) }.is_set())
}

/// Waits up to `timeout_ns` for the event to be set (`RINGFORK_E_TIMED_OUT` if it was not).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_event_wait(ev: *mut EventHandle, timeout_ns: i64) -> i32 {
    nonnull!(ev);
    // SAFETY: C contract: a filled handle.
    if unsafe { get::<_, Event<'static, DefaultWait>>(ev) }.wait_until(deadline(timeout_ns)) {
        RINGFORK_OK
    } else {
        error::RINGFORK_E_TIMED_OUT
    }
}

/// Bytes a barrier needs.
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_barrier_size() -> usize {
    Barrier::<DefaultWait>::SIZE
}

/// Alignment a barrier's memory needs.
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_barrier_align() -> usize {
    Barrier::<DefaultWait>::ALIGN
}

/// Creates a barrier for `parties` participants in `mem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_barrier_init(
    b: *mut BarrierHandle,
    mem: *mut c_void,
    len: usize,
    parties: u32,
) -> i32 {
    nonnull!(b, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    match Barrier::<DefaultWait>::init(r, parties) {
        // SAFETY: `b` is writable (C contract); the handle fits.
        Ok(v) => unsafe { put(b, v) },
        Err(e) => return error::init(e),
    }
    RINGFORK_OK
}

/// Attaches to the barrier in `mem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_barrier_attach(
    b: *mut BarrierHandle,
    mem: *mut c_void,
    len: usize,
    timeout_ns: i64,
) -> i32 {
    nonnull!(b, mem);
    // SAFETY: the C contract.
    let Some(r) = (unsafe { region(mem, len) }) else {
        return RINGFORK_E_INVALID_ARGUMENT;
    };
    match Barrier::<DefaultWait>::attach(r, deadline(timeout_ns)) {
        // SAFETY: as in `ringfork_barrier_init`.
        Ok(v) => unsafe { put(b, v) },
        Err(e) => return error::attach(e),
    }
    RINGFORK_OK
}

/// Waits up to `timeout_ns` for every party: returns this party's arrival index (0 ..= parties - 1)
/// or `RINGFORK_E_BROKEN` (aborted, reset, or a party timed out: a timeout breaks the barrier, as
/// in Python).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_barrier_wait(b: *mut BarrierHandle, timeout_ns: i64) -> i32 {
    nonnull!(b);
    // SAFETY: C contract: a filled handle.
    match unsafe { get::<_, Barrier<'static, DefaultWait>>(b) }.wait_until(deadline(timeout_ns)) {
        Ok(i) => i32::try_from(i).unwrap_or(i32::MAX),
        Err(e) => error::barrier(e),
    }
}

/// Breaks the barrier: current and future waiters get `RINGFORK_E_BROKEN` until a reset.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_barrier_abort(b: *mut BarrierHandle) -> i32 {
    nonnull!(b);
    // SAFETY: C contract: a filled handle.
    unsafe { get::<_, Barrier<'static, DefaultWait>>(b) }.abort();
    RINGFORK_OK
}

/// Returns the barrier to its initial state (waiters get `RINGFORK_E_BROKEN`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringfork_barrier_reset(b: *mut BarrierHandle) -> i32 {
    nonnull!(b);
    // SAFETY: C contract: a filled handle.
    unsafe { get::<_, Barrier<'static, DefaultWait>>(b) }.reset();
    RINGFORK_OK
}

/// Every handle type with its C name and size (checked against ringfork.h by the header test).
pub const HANDLES: &[(&str, usize)] = &[
    ("ringfork_spsc_t", Spsc::SIZE),
    ("ringfork_spsc_producer_t", SpscProducer::SIZE),
    ("ringfork_spsc_consumer_t", SpscConsumer::SIZE),
    ("ringfork_queue_t", Queue::SIZE),
    ("ringfork_bytering_t", ByteRingHandle::SIZE),
    ("ringfork_bytering_sender_t", ByteSenderHandle::SIZE),
    ("ringfork_bytering_receiver_t", ByteReceiverHandle::SIZE),
    ("ringfork_mutex_t", MutexHandle::SIZE),
    ("ringfork_value_t", ValueHandle::SIZE),
    ("ringfork_semaphore_t", SemaphoreHandle::SIZE),
    ("ringfork_event_t", EventHandle::SIZE),
    ("ringfork_barrier_t", BarrierHandle::SIZE),
];
