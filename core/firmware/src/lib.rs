//! Support shared by the firmware binaries: the "shared memory" (a static buffer), the exit path
//! (semihosting), the identity hook, and a cycle-count stand-in for QEMU.
#![no_std]

use core::cell::UnsafeCell;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_semihosting::{debug, hprintln};
use ringfork_core::sync::identity::ThreadIdentity;
use ringfork_core::Region;

/// A zero-initialized static buffer that ringfork objects are placed in: the firmware's "shared
/// memory" (here shared between the main loop and interrupt handlers; a linker section shared with
/// another core works the same way, see docs/embedded.md). Zeroed memory is the UNINIT state.
#[repr(C, align(64))]
pub struct SharedBuf<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: the bytes are only reached through ringfork objects, which use atomics and their own
// handshakes for every access (see `SharedBuf::region`).
unsafe impl<const N: usize> Sync for SharedBuf<N> {}

impl<const N: usize> SharedBuf<N> {
    /// A zeroed buffer (placed in `.bss`).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        SharedBuf(UnsafeCell::new([0; N]))
    }

    /// The whole buffer as a region. Every caller (main loop, handlers) gets a view of the same
    /// bytes; that is the point.
    pub fn region(&'static self) -> Region<'static> {
        // SAFETY: the buffer is a static (valid for 'static, never moved), and its bytes are only
        // ever accessed through ringfork objects placed in it (no `&`/`&mut` to the array is made).
        unsafe { Region::from_raw_parts(self.0.get().cast::<u8>(), N) }
    }
}

/// Prints `msg` and exits QEMU with a failure status.
pub fn fail(msg: &str) -> ! {
    hprintln!("FAIL: {}", msg);
    exit(false)
}

/// Exits QEMU (semihosting `SYS_EXIT`) with success or failure.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    // Not reached under QEMU; on hardware without a debugger, stop here.
    loop {
        cortex_m::asm::bkpt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("PANIC: {}", info);
    exit(false)
}

/// The identity hook ([`ringfork_core::sync::identity::set_identity_source`]): thread mode is
/// "thread" 1, each exception handler is 1 + its exception number (IPSR), so a handler's lock
/// attempt is not mistaken for the main loop re-entering a lock it holds.
pub fn identity() -> ThreadIdentity {
    let ipsr: u32;
    // SAFETY: reading IPSR has no side effects.
    unsafe { core::arch::asm!("mrs {}, IPSR", out(reg) ipsr, options(nomem, nostack, preserves_flags)) };
    ThreadIdentity {
        tid: 1 + (ipsr & 0x1ff),
        start_time: 0,
    }
}

/// SysTick as a free-running 24-bit down-counter on the core clock, interrupt off.
pub fn systick_free_running(syst: &mut cortex_m::peripheral::SYST) {
    syst.disable_interrupt();
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00ff_ffff);
    syst.clear_current();
    syst.enable_counter();
}

/// SysTick ticks elapsed while running `f` (must take fewer than 2^24 ticks).
#[inline(never)]
pub fn ticks<F: FnOnce()>(f: F) -> u32 {
    let start = cortex_m::peripheral::SYST::get_current();
    f();
    let end = cortex_m::peripheral::SYST::get_current();
    start.wrapping_sub(end) & 0x00ff_ffff
}

/// Runs `n` iterations of a loop of exactly 4 instructions (`subs`, `nop`, `nop`, `bne`) and returns
/// the ticks it took: with QEMU's `-icount`, instructions per tick = 4 * n / ticks.
#[inline(never)]
pub fn calibrate(n: u32) -> u32 {
    ticks(|| {
        // SAFETY: a register-only counted loop.
        unsafe {
            core::arch::asm!(
                "2:",
                "subs {0}, {0}, #1",
                "nop",
                "nop",
                "bne 2b",
                inout(reg) n => _,
                options(nomem, nostack),
            )
        }
    })
}

/// Instructions per operation (times 100) of a run of `ops` operations that took `ticks`, from a
/// [`calibrate`]`(100_000)` run (400,000 instructions) that took `cal` ticks. Meaningful under QEMU's
/// `-icount` (where time advances by instructions executed).
pub fn instructions_x100(ticks: u32, cal: u32, ops: u32) -> u64 {
    u64::from(ticks) * 400_000 * 100 / (u64::from(cal.max(1)) * u64::from(ops.max(1)))
}
