//! The minimal example of docs/embedded.md: a timer interrupt hands readings to the main loop through
//! a ringfork SPSC ring placed in a static buffer, and says "done" with an `Event`.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use ringfork_core::queue::spsc::{Producer, Spsc};
use ringfork_core::sync::Event;
use ringfork_core::wait::Spin;
use ringfork_core::{Arena, Deadline, Region};

/// The memory the objects live in: zeroed (`.bss`), aligned for a ring.
#[repr(C, align(64))]
struct Shared(UnsafeCell<[u8; 4096]>);
// SAFETY: the bytes are only reached through ringfork objects (atomics and their handshakes).
unsafe impl Sync for Shared {}
static SHARED: Shared = Shared(UnsafeCell::new([0; 4096]));

/// Both sides place the objects with the same arena walk, so they find them at the same offsets.
fn regions() -> (Region<'static>, Region<'static>) {
    // SAFETY: a static, valid for 'static, and only ever accessed through ringfork objects.
    let all = unsafe { Region::from_raw_parts(SHARED.0.get().cast(), 4096) };
    let mut arena = Arena::new(all);
    let (_, ring) = arena
        .place(Spsc::<u32>::size(16).unwrap(), Spsc::<u32>::align())
        .unwrap();
    let (_, done) = arena.place(Event::<Spin>::SIZE, Event::<Spin>::ALIGN).unwrap();
    (ring, done)
}

#[exception]
fn SysTick() {
    // cortex-m-rt turns a handler's `static mut` into a `&mut` only this handler can reach.
    static mut SIDE: Option<(Producer<'static, u32>, Event<'static, Spin>)> = None;
    static mut NEXT: u32 = 0;
    let (p, done) = SIDE.get_or_insert_with(|| {
        let (ring, done) = regions();
        let ring = Spsc::<u32>::attach::<Spin>(ring, Deadline::Immediate).unwrap();
        (ring.producer(), Event::attach(done, Deadline::Immediate).unwrap())
    });
    // Interrupt context: only calls that never wait (try_push, set).
    if *NEXT < 1000 && p.try_push(*NEXT * 3).is_ok() {
        *NEXT += 1;
    }
    if *NEXT == 1000 {
        done.set();
    }
}

#[entry]
fn main() -> ! {
    let (ring, done) = regions();
    let ring = Spsc::<u32>::init::<Spin>(ring, 16).unwrap();
    let done = Event::<Spin>::init(done).unwrap();
    let mut rx = ring.consumer();

    let mut cp = cortex_m::Peripherals::take().unwrap();
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(2_000);
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();

    let (mut n, mut sum) = (0u32, 0u32);
    while n < 1000 {
        if let Ok(v) = rx.try_pop() {
            assert_eq!(v, n * 3, "in order, exactly once");
            sum += v;
            n += 1;
        }
    }
    done.wait(); // the main loop may wait: the handler it waits for preempts it
    hprintln!("example: {} readings, sum {}", n, sum);
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("{}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
