//! Size and speed anchor, ringfork side: a SysTick handler pushes `u32` sequence numbers into a
//! ringfork SPSC ring, the main loop pops and checks them; then, interrupts off, a timed loop of
//! push+pop. `spsc_heapless.rs` is the same program on `heapless::spsc` (docs/embedded.md compares
//! the two).
#![no_std]
#![no_main]

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::hprintln;
use ringfork_core::queue::spsc::{Consumer, Producer, Spsc};
use ringfork_core::wait::Spin;
use ringfork_firmware::{fail, SharedBuf};

const CAP: usize = 64;
const MESSAGES: u32 = 10_000;
const ROUNDS: u32 = 20_000;

static SHARED: SharedBuf<2048> = SharedBuf::new();
static mut PRODUCER: Option<Producer<'static, u32>> = None;

#[inline(never)]
fn push(p: &mut Producer<'static, u32>, v: u32) -> bool {
    p.try_push(v).is_ok()
}

#[inline(never)]
fn pop(c: &mut Consumer<'static, u32>) -> Option<u32> {
    c.try_pop().ok()
}

#[exception]
fn SysTick() {
    static mut NEXT: u32 = 0;
    // SAFETY: main wrote PRODUCER before enabling this interrupt and does not touch it again until
    // it has disabled it; this handler does not re-enter itself.
    let Some(p) = (unsafe { (*core::ptr::addr_of_mut!(PRODUCER)).as_mut() }) else {
        return;
    };
    while *NEXT < MESSAGES && push(p, *NEXT) {
        *NEXT += 1;
    }
}

#[entry]
fn main() -> ! {
    let q = Spsc::<u32>::init::<Spin>(SHARED.region(), CAP).unwrap_or_else(|_| fail("init"));
    let (p, mut c) = q.split();
    // SAFETY: the interrupt is not enabled yet.
    unsafe { *core::ptr::addr_of_mut!(PRODUCER) = Some(p) };
    let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| fail("peripherals"));
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(1_000);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();
    let mut expect = 0;
    while expect < MESSAGES {
        if let Some(v) = pop(&mut c) {
            if v != expect {
                fail("out of order");
            }
            expect += 1;
        }
    }
    cp.SYST.disable_interrupt();
    // SAFETY: the interrupt is disabled: main is the only user now.
    let mut p = unsafe { (*core::ptr::addr_of_mut!(PRODUCER)).take() }.unwrap_or_else(|| fail("producer"));

    ringfork_firmware::systick_free_running(&mut cp.SYST);
    let cal = ringfork_firmware::calibrate(100_000);
    let t = ringfork_firmware::ticks(|| {
        for i in 0..ROUNDS {
            if !push(&mut p, i) || pop(&mut c) != Some(i) {
                fail("bench");
            }
        }
    });
    let per_op_x100 = ringfork_firmware::instructions_x100(t, cal, ROUNDS);
    hprintln!(
        "ringfork spsc: {} push+pop in {} SysTick ticks = {}.{:02} instructions per push+pop",
        ROUNDS,
        t,
        per_op_x100 / 100,
        per_op_x100 % 100
    );
    ringfork_firmware::exit(true)
}
