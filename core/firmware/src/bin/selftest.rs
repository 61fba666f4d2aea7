//! The embedded proof: ringfork-core on a Cortex-M4 (QEMU `mps2-an386`), with a timer interrupt on
//! one side of every primitive and the main loop on the other. Exits with a failure status on any
//! violation (CI runs it).
//!
//! - SPSC ring of `u32`: the SysTick handler produces [`MESSAGES`] sequence numbers, the main loop
//!   consumes each exactly once and in order. The positions start just below 2^32, so the run
//!   crosses the wrap of the 32-bit words.
//! - MPMC ring (`queue::mpmc::Mpmc`, 32-bit slot words): the handler `try_push`es [`MPMC_MESSAGES`]
//!   sequence numbers, the main loop pops each exactly once and in order. The hints start just below
//!   2^32 at a multiple of 2^15: the slot words keep positions modulo 2^15, so a fresh ring's words
//!   (positions 0..cap) already hold those positions, and the run crosses both the 2^15 wrap of the
//!   slot words' position field (three times) and the 2^32 wrap of the positions.
//! - Byte ring: the handler sends [`FRAMES`] variable-length frames (0..=32 bytes, content derived
//!   from the frame number, built as `heapless::Vec`s); the main loop checks every byte, after a
//!   round trip through `FixedBytes` (the `ShmSafe` payload type) back to a `heapless::Vec`.
//!   Positions also cross 2^32.
//! - Spin lock: the handler only ever `try_lock`s (an interrupt must never wait for the code it
//!   interrupted); the main loop `lock`s. Both increment the protected counter, which must end at
//!   exactly the sum of their successful increments.
//! - `Value<u32>` (its robust lock): the same discipline, with `lock_until(Deadline::Immediate)` in
//!   the handler.
//! - `Event`: the handler sets `tick` on every interrupt and `done` when it has produced everything;
//!   the main loop clears `tick` and waits for it, and waits for `done` at the end.
//! - The ABI variant: objects carry the 32-bit-word bit in their header, and a 64-bit-layout header
//!   is refused with `WordWidthMismatch`.
#![no_std]
#![no_main]

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::hprintln;
// The core's atomics: native, or portable-atomic's (critical sections) on ARMv6-M.
use ringfork_core::atomic::{AtomicU32, Ordering};
use ringfork_core::cell::ShmCell;
use ringfork_core::header::{Header, Kind, VERSION_WORD, WORDS32};
use ringfork_core::payload::FixedBytes;
use ringfork_core::queue::bytering::{ByteReceiver, ByteRing, ByteSender};
use ringfork_core::queue::mpmc::{Mpmc, MpmcLayout};
use ringfork_core::queue::spsc::{Consumer, Producer, Spsc, SpscPair};
use ringfork_core::queue::{PopError, PushError};
use ringfork_core::sync::{Event, MutexError, SpinLock, Value};
use ringfork_core::wait::Spin;
use ringfork_core::{Arena, AttachError, Deadline, InitError, Region};
use ringfork_firmware::{fail, SharedBuf};

/// Messages the handler produces into the SPSC ring.
const MESSAGES: u32 = 100_000;
/// Messages the handler produces into the MPMC ring.
const MPMC_MESSAGES: u32 = 100_000;
/// The MPMC ring: `u32` payloads, a power of two of slots (at most 2^12 with 32-bit words).
const MPMC: MpmcLayout = MpmcLayout {
    capacity: 16,
    slot_size: 4,
    align: 4,
};
/// Where the MPMC ring's positions start: 2^32 - 2^16, a multiple of 2^15 (see the module docs).
const MPMC_START: u32 = 0u32.wrapping_sub(1 << 16);
/// Frames the handler sends through the byte ring.
const FRAMES: u32 = 20_000;
/// SPSC ring capacity (a power of two: 32-bit positions wrap).
const CAP: usize = 64;
/// Largest byte-ring frame.
const FRAME_LIMIT: usize = 32;
/// Messages the handler pushes per interrupt at most.
const BURST: u32 = 16;
/// Core clock cycles between two SysTick interrupts.
const PERIOD: u32 = 4_000;
/// Interrupts after which the run is declared hung.
const MAX_TICKS: u32 = 2_000_000;

static SHARED: SharedBuf<8192> = SharedBuf::new();

/// Handler-side counts, published for the final checks.
static TICKS: AtomicU32 = AtomicU32::new(0);
static LOCK_HITS: AtomicU32 = AtomicU32::new(0);
static LOCK_MISSES: AtomicU32 = AtomicU32::new(0);
static VALUE_HITS: AtomicU32 = AtomicU32::new(0);
static VALUE_MISSES: AtomicU32 = AtomicU32::new(0);
static HANDLER_ERROR: AtomicU32 = AtomicU32::new(0);

/// The objects, as views over [`SHARED`]. The ring views are not `Copy`: each side takes its one end
/// out of them.
struct Objects {
    ring: Option<Spsc<'static, u32>>,
    mpmc: Mpmc<'static>,
    bytes: Option<ByteRing<'static>>,
    lock: SpinLock<'static, u32>,
    value: Value<'static, u32, Spin>,
    tick: Event<'static, Spin>,
    done: Event<'static, Spin>,
}

/// Where each object goes: the same arena walk on both sides gives the same regions.
fn regions() -> [Region<'static>; 7] {
    let mut arena = Arena::new(SHARED.region());
    let mut place = |size: usize, align: usize| match arena.place(size, align) {
        Ok((_, r)) => r,
        Err(_) => fail("the shared buffer is too small"),
    };
    [
        place(Spsc::<u32>::size(CAP).unwrap_or(usize::MAX), Spsc::<u32>::align()),
        place(
            ByteRing::size(256, FRAME_LIMIT).unwrap_or(usize::MAX),
            ByteRing::align(),
        ),
        place(SpinLock::<u32>::size(), SpinLock::<u32>::align()),
        place(Value::<u32, Spin>::size(), Value::<u32, Spin>::align()),
        place(Event::<Spin>::SIZE, Event::<Spin>::ALIGN),
        place(Event::<Spin>::SIZE, Event::<Spin>::ALIGN),
        place(MPMC.size().unwrap_or(usize::MAX), MPMC.region_align()),
    ]
}

fn init() -> Objects {
    let [r0, r1, r2, r3, r4, r5, r6] = regions();
    let mpmc = Mpmc::init::<Spin>(r6, Kind::Mpmc, MPMC, 0, 0).unwrap_or_else(|_| fail("mpmc init"));
    // Positions modulo 2^15 in the slot words: at a multiple of 2^15, the fresh words are right.
    mpmc.ctrl().head.store(MPMC_START, Ordering::Relaxed);
    mpmc.ctrl().tail.store(MPMC_START, Ordering::Relaxed);
    let ring = Spsc::<u32>::init::<Spin>(r0, CAP).unwrap_or_else(|_| fail("spsc init"));
    let bytes = ByteRing::init::<Spin>(r1, Kind::ByteRing, 256, FRAME_LIMIT).unwrap_or_else(|_| fail("bytering init"));
    // Start both rings' positions just below 2^32 (before any handle exists), so the run wraps.
    ring.ctrl().head.store(u32::MAX - MESSAGES / 2, Ordering::Relaxed);
    ring.ctrl().tail.store(u32::MAX - MESSAGES / 2, Ordering::Relaxed);
    bytes.ctrl().head.store((u32::MAX - 100_000) & !7, Ordering::Relaxed);
    bytes.ctrl().tail.store((u32::MAX - 100_000) & !7, Ordering::Relaxed);
    Objects {
        ring: Some(ring),
        mpmc,
        bytes: Some(bytes),
        lock: SpinLock::init(r2, 0).unwrap_or_else(|_| fail("spinlock init")),
        value: Value::init(r3, 0).unwrap_or_else(|_| fail("value init")),
        tick: Event::init(r4).unwrap_or_else(|_| fail("event init")),
        done: Event::init(r5).unwrap_or_else(|_| fail("event init")),
    }
}

/// What the handler side does: attach (validating every header) rather than reuse main's views.
fn attach() -> Objects {
    let [r0, r1, r2, r3, r4, r5, r6] = regions();
    let d = Deadline::Immediate;
    Objects {
        ring: Some(Spsc::attach::<Spin>(r0, d).unwrap_or_else(|_| fail("spsc attach"))),
        mpmc: Mpmc::attach::<Spin>(r6, Kind::Mpmc, MPMC.slot_size, MPMC.align, None, 0, d)
            .unwrap_or_else(|_| fail("mpmc attach")),
        bytes: Some(ByteRing::attach::<Spin>(r1, Kind::ByteRing, d).unwrap_or_else(|_| fail("bytering attach"))),
        lock: SpinLock::attach(r2, d).unwrap_or_else(|_| fail("spinlock attach")),
        value: Value::attach(r3, d).unwrap_or_else(|_| fail("value attach")),
        tick: Event::attach(r4, d).unwrap_or_else(|_| fail("event attach")),
        done: Event::attach(r5, d).unwrap_or_else(|_| fail("event attach")),
    }
}

/// Frame `n`'s length and its `i`-th byte.
fn frame_len(n: u32) -> usize {
    (n.wrapping_mul(7) % (FRAME_LIMIT as u32 + 1)) as usize
}
fn frame_byte(n: u32, i: usize) -> u8 {
    (n as u8).wrapping_mul(31).wrapping_add(i as u8)
}

/// The interrupt side's state.
struct HandlerSide {
    o: Objects,
    producer: Producer<'static, u32>,
    sender: ByteSender<'static>,
    next: u32,
    mpmc_next: u32,
    frames: u32,
}

impl HandlerSide {
    fn tick(&mut self) {
        let o = &self.o;
        for _ in 0..BURST {
            if self.next == MESSAGES {
                break;
            }
            match self.producer.try_push(self.next) {
                Ok(()) => self.next += 1,
                Err(PushError::Full) => break,
                Err(_) => HANDLER_ERROR.store(1, Ordering::Relaxed),
            }
        }
        for _ in 0..BURST {
            if self.mpmc_next == MPMC_MESSAGES {
                break;
            }
            let v = self.mpmc_next;
            // SAFETY: the claimed slot's payload: 4 bytes, 4-aligned (MPMC.align), ours until the
            // commit.
            match o.mpmc.try_push_with(None, |p| unsafe { (p as *mut u32).write(v) }) {
                Ok(()) => self.mpmc_next += 1,
                Err(PushError::Full) => break,
                Err(_) => HANDLER_ERROR.store(4, Ordering::Relaxed),
            }
        }
        if self.frames < FRAMES {
            // Frames are built as `heapless::Vec`s: the byte ring takes any byte slice.
            let frame: heapless::Vec<u8, FRAME_LIMIT> = (0..frame_len(self.frames))
                .map(|i| frame_byte(self.frames, i))
                .collect();
            match self.sender.try_send(&frame) {
                Ok(()) => self.frames += 1,
                Err(PushError::Full) => {}
                Err(_) => HANDLER_ERROR.store(2, Ordering::Relaxed),
            }
        }
        // try_lock only: the main loop we interrupted may hold the lock, and waiting for it here
        // would wait forever.
        match o.lock.try_lock() {
            Some(mut g) => {
                *g += 1;
                LOCK_HITS.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                LOCK_MISSES.fetch_add(1, Ordering::Relaxed);
            }
        }
        match o.value.lock_until(Deadline::Immediate) {
            Ok(mut g) => {
                *g += 1;
                VALUE_HITS.fetch_add(1, Ordering::Relaxed);
            }
            Err(MutexError::TimedOut) => {
                VALUE_MISSES.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => HANDLER_ERROR.store(3, Ordering::Relaxed),
        }
        o.tick.set();
        if self.next == MESSAGES && self.mpmc_next == MPMC_MESSAGES && self.frames == FRAMES {
            o.done.set();
        }
    }
}

#[exception]
fn SysTick() {
    static mut SIDE: Option<HandlerSide> = None;
    TICKS.fetch_add(1, Ordering::Relaxed);
    let side = SIDE.get_or_insert_with(|| {
        let mut o = attach();
        let producer = o.ring.take().unwrap_or_else(|| fail("ring taken")).producer();
        let sender = o.bytes.take().unwrap_or_else(|| fail("byte ring taken")).sender();
        HandlerSide {
            o,
            producer,
            sender,
            next: 0,
            mpmc_next: 0,
            frames: 0,
        }
    });
    side.tick();
}

/// The 32-bit ABI variant: the documented offsets, power-of-two capacities, the version bit, and a
/// 64-bit-layout object refused with a typed error.
fn check_abi_variant() {
    if VERSION_WORD & WORDS32 == 0 {
        fail("a thumbv7em build must write 32-bit-word layouts");
    }
    // The 32-bit-word offsets of docs/layout.md: ring data at 1088, SPSC-pair slots at 2112.
    if Spsc::<u32>::size(64) != Some(1088 + 64 * 8)
        || SpscPair::<u32>::size(4) != Some(2112 + 4 * 16)
        || ByteRing::size(256, 32) != Some(1088 + 256)
    {
        fail("ring sizes differ from the 32-bit tables in docs/layout.md");
    }
    // 32-bit positions wrap at 2^32: ring capacities must be powers of two.
    static SMALL: SharedBuf<2048> = SharedBuf::new();
    match Spsc::<u32>::init::<Spin>(SMALL.region(), 3) {
        Err(InitError::InvalidParameter { name: "capacity", .. }) => {}
        _ => fail("a 3-slot SPSC ring was accepted with 32-bit words"),
    }
    // The 32-bit MPMC slot word is 4 bytes: 4-byte payloads at offset 4 of 8-byte slots.
    if MPMC.size() != Some(1088 + 16 * 8) {
        fail("the MPMC ring size differs from the 32-bit table in docs/layout.md");
    }
    for capacity in [3, 1 << 13] {
        let layout = MpmcLayout { capacity, ..MPMC };
        match Mpmc::init::<Spin>(SMALL.region(), Kind::Mpmc, layout, 0, 0) {
            Err(InitError::InvalidParameter { name: "capacity", .. }) => {}
            _ => fail("an MPMC capacity that is not a power of two of at most 2^12 was accepted"),
        }
    }
    if ByteRing::data_capacity(300, 32) != Some(512) {
        fail("a byte ring's data area is not rounded up to a power of two");
    }
    static OTHER: SharedBuf<128> = SharedBuf::new();
    let r = OTHER.region();
    ShmCell::<u32>::init::<Spin>(r, 7).unwrap_or_else(|_| fail("cell init"));
    let header = Header::peek(r).unwrap_or_else(|_| fail("peek"));
    if header.snapshot().version != VERSION_WORD {
        fail("the header does not record the 32-bit variant");
    }
    // Rewrite the version word as a build with 64-bit atomics writes it.
    // SAFETY: offset 4 of the 128-byte, 64-aligned static buffer is in bounds and 4-aligned; the
    // word is an AtomicU32 in the header, so it is written atomically.
    let version = unsafe { &*(r.as_ptr().add(4) as *const AtomicU32) };
    version.store(VERSION_WORD & !WORDS32, Ordering::Relaxed);
    match ShmCell::<u32>::attach::<Spin>(r, Deadline::Immediate) {
        Err(AttachError::WordWidthMismatch {
            expected: 32,
            found: 64,
        }) => {}
        _ => fail("a 64-bit-layout header was not refused with WordWidthMismatch"),
    }
}

#[entry]
fn main() -> ! {
    ringfork_core::sync::identity::set_identity_source(ringfork_firmware::identity);
    check_abi_variant();
    let mut o = init();
    let mut consumer: Consumer<'static, u32> = o.ring.take().unwrap_or_else(|| fail("ring taken")).consumer();
    let mut receiver: ByteReceiver<'static> = o.bytes.take().unwrap_or_else(|| fail("byte ring taken")).receiver();

    let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| fail("peripherals"));
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(PERIOD - 1);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();

    let (mut expect, mut mpmc_expect, mut frames) = (0u32, 0u32, 0u32);
    let (mut main_lock, mut main_value, mut tick_waits) = (0u32, 0u32, 0u32);
    let mut buf = [0u8; FRAME_LIMIT];
    while expect < MESSAGES || mpmc_expect < MPMC_MESSAGES || frames < FRAMES {
        match consumer.try_pop() {
            Ok(v) if v == expect => {
                expect += 1;
                if expect == MESSAGES / 2 && o.done.is_set() {
                    fail("`done` was set before the handler produced everything");
                }
                if expect % 10_000 == 0 {
                    // Wait for the handler's next `tick` (set from interrupt context).
                    o.tick.clear();
                    o.tick.wait();
                    tick_waits += 1;
                }
            }
            Ok(v) => {
                hprintln!("expected message {}, got {}", expect, v);
                fail("SPSC message lost, duplicated or out of order");
            }
            Err(PopError::Empty) => {}
            Err(_) => fail("SPSC pop error"),
        }
        // SAFETY: the claimed slot's payload: 4 bytes, 4-aligned, committed by the handler.
        match o.mpmc.try_pop_with(None, |p| unsafe { (p as *const u32).read() }) {
            Ok(v) if v == mpmc_expect => mpmc_expect += 1,
            Ok(v) => {
                hprintln!("expected MPMC message {}, got {}", mpmc_expect, v);
                fail("MPMC message lost, duplicated or out of order");
            }
            Err(PopError::Empty) => {}
            Err(_) => fail("MPMC pop error"),
        }
        match receiver.try_recv_into(&mut buf) {
            Ok(len) => {
                // Round trip through the ShmSafe payload type and back to heapless.
                let fixed = FixedBytes::<FRAME_LIMIT>::from_slice(&buf[..len]).unwrap_or_else(|_| fail("frame length"));
                let frame = heapless::Vec::<u8, FRAME_LIMIT>::from(&fixed);
                if frame.len() != frame_len(frames)
                    || frame.iter().enumerate().any(|(i, b)| *b != frame_byte(frames, i))
                {
                    hprintln!("frame {}: {} bytes", frames, len);
                    fail("byte-ring frame corrupted, lost or out of order");
                }
                frames += 1;
            }
            Err(PopError::Empty) => {}
            Err(_) => fail("byte-ring receive error"),
        }
        {
            let mut g = o.lock.lock();
            *g += 1;
            main_lock += 1;
        }
        if expect % 4 == 0 {
            match o.value.with_lock(|v| *v += 1) {
                Ok(()) => main_value += 1,
                Err(_) => fail("value lock error"),
            }
        }
        if TICKS.load(Ordering::Relaxed) > MAX_TICKS {
            fail("no progress: the run hung");
        }
        if HANDLER_ERROR.load(Ordering::Relaxed) != 0 {
            hprintln!("handler error {}", HANDLER_ERROR.load(Ordering::Relaxed));
            fail("the interrupt handler hit an error");
        }
    }
    if !o.done.wait_until(Deadline::Never) {
        fail("`done` wait failed");
    }
    cp.SYST.disable_interrupt();
    cp.SYST.disable_counter();
    cortex_m::asm::dsb();

    if consumer.try_pop() != Err(PopError::Empty) {
        fail("a message beyond the last one");
    }
    if consumer.ring().ctrl().head.load(Ordering::Relaxed) >= u32::MAX - MESSAGES / 2 {
        fail("the SPSC positions did not wrap");
    }
    if o.mpmc.try_pop_with(None, |_| ()) != Err(PopError::Empty) || !o.mpmc.is_empty() {
        fail("an MPMC message beyond the last one");
    }
    let end = MPMC_START.wrapping_add(MPMC_MESSAGES);
    if o.mpmc.ctrl().head.load(Ordering::Relaxed) != end || o.mpmc.ctrl().tail.load(Ordering::Relaxed) != end {
        fail("the MPMC positions did not end where 100,000 messages past 2^32 - 2^16 are");
    }
    let lock_total = *o.lock.lock();
    let (lh, lm) = (LOCK_HITS.load(Ordering::Relaxed), LOCK_MISSES.load(Ordering::Relaxed));
    if lock_total != main_lock + lh {
        hprintln!("spinlock counter {} != main {} + handler {}", lock_total, main_lock, lh);
        fail("spinlock counter is not exact");
    }
    let value_total = o.value.get().unwrap_or_else(|_| fail("value get"));
    let (vh, vm) = (VALUE_HITS.load(Ordering::Relaxed), VALUE_MISSES.load(Ordering::Relaxed));
    if value_total != main_value + vh {
        hprintln!("value {} != main {} + handler {}", value_total, main_value, vh);
        fail("value is not exact");
    }
    hprintln!(
        "selftest ok: {} SPSC messages, {} MPMC messages and {} frames in order across the 2^32 wrap, {} interrupts",
        MESSAGES,
        MPMC_MESSAGES,
        FRAMES,
        TICKS.load(Ordering::Relaxed)
    );
    hprintln!(
        "spinlock {} = main {} + handler {} (handler try_lock missed {}); value {} = main {} + handler {} (missed {}); {} event waits",
        lock_total, main_lock, lh, lm, value_total, main_value, vh, vm, tick_waits
    );
    ringfork_firmware::exit(true)
}
