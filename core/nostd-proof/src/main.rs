//! Proof that `ringfork-core` is usable with neither `std` nor a C runtime: objects are placed in a
//! static buffer, initialized, attached (validated), used, and a mismatched attach is rejected. The exit
//! status says which step failed (0 = all good).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use ringfork_core::cell::ShmCell;
use ringfork_core::region::{Arena, Region};
use ringfork_core::wait::{Spin, Wait};
use ringfork_core::{AttachError, Deadline};

#[repr(C, align(4096))]
struct Buf([u8; 8192]);

/// The "shared memory": a zeroed static buffer (zeroed memory is the UNINIT state).
static mut BUF: Buf = Buf([0; 8192]);

fn run() -> i32 {
    // SAFETY: this is the only reference ever made to BUF (single-threaded program, `run` is called once).
    let buf: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(BUF)).0 };
    let mut arena = Arena::new(Region::from_mut(buf));
    let Ok((_, r1)) = arena.place(ShmCell::<u64>::size(), ShmCell::<u64>::align()) else {
        return 10;
    };
    let Ok((_, r2)) = arena.place(ShmCell::<[u32; 4]>::size(), ShmCell::<[u32; 4]>::align()) else {
        return 11;
    };
    let Ok(a) = ShmCell::<u64>::init::<Spin>(r1, 41) else {
        return 20;
    };
    let Ok(b) = ShmCell::<[u32; 4]>::init::<Spin>(r2, [1, 2, 3, 4]) else {
        return 21;
    };
    let Ok(a2) = ShmCell::<u64>::attach::<Spin>(r1, Deadline::Immediate) else {
        return 30;
    };
    a2.set(a2.get() + 1);
    if a.get() != 42 {
        return 31;
    }
    match ShmCell::<u64>::attach::<Spin>(r2, Deadline::Immediate) {
        Err(AttachError::LayoutMismatch { field: "elem_size", .. }) => {}
        _ => return 40,
    }
    if b.get() != [1, 2, 3, 4] {
        return 41;
    }
    // The wait layer without an OS: a changed word returns at once, an unchanged one times out
    // immediately with no clock (NoClock degrades every finite deadline to "try once").
    let w = AtomicU32::new(1);
    if <Spin as Wait>::wait(&w, 0, Deadline::Immediate).is_err() {
        return 50;
    }
    w.store(0, Ordering::Relaxed);
    if <Spin as Wait>::wait(&w, 0, Deadline::Immediate).is_ok() {
        return 51;
    }
    0
}

fn exit(code: i32) -> ! {
    // SAFETY: exit_group(2) takes one integer argument and never returns; no memory is touched.
    unsafe {
        core::arch::asm!("syscall", in("rax") 231usize, in("rdi") code as isize as usize, options(noreturn, nostack));
    }
}

extern "C" fn rust_start() -> ! {
    exit(run())
}

/// The process entry point: align the stack (the kernel leaves it 16-byte aligned with no return
/// address, a Rust function expects the opposite) and call into Rust.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    core::arch::naked_asm!("xor ebp, ebp", "and rsp, -16", "call {main}", "ud2", main = sym rust_start);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    exit(101)
}

/// The precompiled `core` carries unwind tables that name this symbol even under `panic = "abort"`;
/// nothing ever calls it (no unwinding happens), but the static link needs a definition.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
