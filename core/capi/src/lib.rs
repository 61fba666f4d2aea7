//! The C ABI of `ringfork-core` (issue 20): `extern "C"` functions over the core's primitives, so a
//! C process and a Rust process work on the same shared-memory ring, lock or value. The header is
//! `include/ringfork.h` (next to this crate's manifest); `docs/c.md` has a complete example.
//!
//! # Model
//! An object lives in memory the caller provides (a region: pointer + length): a named segment made
//! with `ringfork_segment_create` / `_open` (std builds; the segment is exactly what
//! `ringfork::Segment` makes and opens, objects are placed and found by name in its directory), or
//! any memory the caller mapped itself. One side *initializes* an object (`ringfork_X_init`, into
//! zeroed memory), the others *attach* (`ringfork_X_attach`), which validates the object header
//! (magic, ABI version, kind, element layout) exactly as the Rust side does: a ring created by C
//! is opened by Rust and the other way round.
//!
//! Handles are opaque fixed-size structs the caller allocates (on its stack, in a global, anywhere
//! but the shared memory itself): `init`/`attach` fill them, the other calls take them. A handle
//! holds pointers into the region: it is valid while the region stays mapped (for a segment: until
//! `ringfork_segment_close`) and is process-local (a forked child may keep using its copy).
//!
//! Every call returns `0` (or a non-negative result), [`error::RINGFORK_OWNER_DIED`] where a lock was
//! taken over from a dead owner, or a negative `RINGFORK_E_*` code ([`error::ringfork_strerror`]).
//! Blocking calls take a timeout in nanoseconds: `-1` waits forever, `0` tries once.
//!
//! # Safety
//! The functions are `unsafe extern "C"`: the caller passes valid pointers (a null one is
//! rejected with `RINGFORK_E_INVALID_ARGUMENT`, anything else is trusted), regions that stay mapped
//! while a handle is used, element buffers of the element size. What another process writes into
//! the *shared* memory is never trusted: a C peer is just another (possibly hostile) peer, and
//! every index and length read from shared memory is bounded as on the Rust side.
//!
//! A panic never unwinds into C: `extern "C"` functions abort the process on a panic (and the
//! freestanding build is compiled with `panic = "abort"`); no function here is expected to panic.
//!
//! # Without a C library
//! Built with `--no-default-features` (no `std`) and `panic = "abort"`, the static library needs
//! neither libc nor an allocator: futexes, the monotonic clock and process identity go through the
//! core's raw system calls. `core/capi/tests/c/freestanding.c` is such a program (its own `_start`).
#![cfg_attr(not(feature = "std"), no_std)]
// Every function's contract (valid pointers, regions that outlive their handles) is the one stated
// in the crate docs above and, per function, in include/ringfork.h.
#![allow(clippy::missing_safety_doc)]

pub mod error;
pub mod objects;
#[cfg(feature = "std")]
pub mod segment;

/// The ABI version of the shared layouts this library speaks (`ringfork_core::ABI_VERSION`).
#[unsafe(no_mangle)]
pub extern "C" fn ringfork_abi_version() -> u32 {
    ringfork_core::ABI_VERSION
}

/// Without `std` nothing else defines a panic handler. No code path here panics by design; if one
/// does, the process ends at once with status 134 (as after `abort()`), never unwound into C.
#[cfg(all(not(feature = "std"), not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: exit_group(2) takes one integer argument and never returns; no memory is touched.
    unsafe {
        core::arch::asm!("syscall", in("rax") 231usize, in("rdi") 134usize, options(noreturn, nostack));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above (aarch64 exit_group is syscall 94).
    unsafe {
        core::arch::asm!("svc 0", in("x8") 94usize, in("x0") 134usize, options(noreturn, nostack));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    loop {
        core::hint::spin_loop();
    }
}

/// The precompiled `core` carries unwind tables naming this symbol even under `panic = "abort"`;
/// nothing calls it (nothing unwinds), but a static link without the C runtime needs a definition.
#[cfg(all(not(feature = "std"), not(test)))]
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
