//! Copies of [`ShmSafe`] values to and from shared memory made of atomic accesses, so that a
//! concurrent writer (another thread, another process, a hostile peer) is never a data race.
//!
//! Lock-free cells ([`crate::cell::ShmCell`], [`crate::sync::RawValue`], [`crate::sync::RawArray`])
//! have no lock to exclude a concurrent `set`. A plain or volatile copy racing with another thread's
//! copy is undefined behaviour in Rust's memory model; a copy made of atomic loads/stores is not.
//! The value is moved in *chunks*: each chunk is one atomic access of `min(align_of::<T>(),
//! size_of::<usize>())` bytes (a power of two that tiles `T` exactly, since a type's size is a
//! multiple of its alignment). So a `T` that fits in one naturally aligned machine word (every
//! integer type of [`crate::sync::AtomicValue`]) is copied by a single atomic access of its own
//! size — the same access width as `fetch_add` on it, never a mixed-size access — and cannot tear;
//! a wider `T` can tear between chunks, which is still a valid `T` because every bit pattern of a
//! `ShmSafe` type is.
//!
//! Ordering: chunks are loaded with Acquire and stored with Release, so a reader that sees a chunk
//! written by `set` also sees what the writer did before `set` (the usual "publish" reading of a
//! flag), chunk by chunk. Nothing orders two chunks of one copy against each other; that is the
//! tearing above.

use crate::ShmSafe;
use core::mem::{align_of, size_of, MaybeUninit};
// The std atomics even under loom: these copies are views of raw bytes (loom's atomics are not
// layout-compatible with the integers they model); loom models the protocols, not these copies.
// Every target has atomic loads and stores up to its word size (thumbv6m included, which lacks
// only compare-and-swap).
#[cfg(target_pointer_width = "64")]
use core::sync::atomic::AtomicU64;
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU8, AtomicUsize, Ordering};

/// The chunk width used for `T`: its alignment, capped at the machine word.
const fn chunk<T>() -> usize {
    let a = align_of::<T>();
    if a < size_of::<usize>() {
        a
    } else {
        size_of::<usize>()
    }
}

/// Reads a `T` from `src` with atomic chunk loads (see the module docs).
///
/// # Safety
/// `src` must be valid for reads of `size_of::<T>()` bytes, aligned for `T`, and stay mapped for the
/// duration of the call. Other accesses to those bytes, from any thread or process, must be atomic
/// or made by another process (this function's own accesses are all atomic).
pub unsafe fn load<T: ShmSafe>(src: *const T) -> T {
    let mut out = MaybeUninit::<T>::uninit();
    let dst = out.as_mut_ptr() as *mut u8;
    let src = src as *const u8;
    let w = chunk::<T>();
    let mut i = 0;
    while i < size_of::<T>() {
        debug_assert!(i + w <= size_of::<T>());
        // Ordering: Acquire, see the module docs.
        // SAFETY: `src + i`/`dst + i` are inside the caller's range / `out` and aligned to `w` (T is
        // aligned to at least `w`, `i` is a multiple of `w`); atomics are laid out as their integers.
        unsafe {
            match w {
                1 => *dst.add(i) = (*(src.add(i) as *const AtomicU8)).load(Ordering::Acquire),
                2 => *(dst.add(i) as *mut u16) = (*(src.add(i) as *const AtomicU16)).load(Ordering::Acquire),
                4 => *(dst.add(i) as *mut u32) = (*(src.add(i) as *const AtomicU32)).load(Ordering::Acquire),
                #[cfg(target_pointer_width = "64")]
                8 => *(dst.add(i) as *mut u64) = (*(src.add(i) as *const AtomicU64)).load(Ordering::Acquire),
                _ => *(dst.add(i) as *mut usize) = (*(src.add(i) as *const AtomicUsize)).load(Ordering::Acquire),
            }
        }
        i += w;
    }
    // SAFETY: every byte of `out` was written above; any bit pattern is a valid ShmSafe T.
    unsafe { out.assume_init() }
}

/// Writes `v` to `dst` with atomic chunk stores (see the module docs).
///
/// # Safety
/// As for [`load`], with `dst` valid for writes.
pub unsafe fn store<T: ShmSafe>(dst: *mut T, v: T) {
    let src = &v as *const T as *const u8;
    let dst = dst as *mut u8;
    let w = chunk::<T>();
    let mut i = 0;
    while i < size_of::<T>() {
        debug_assert!(i + w <= size_of::<T>());
        // SAFETY: as in `load`; `src` is our local `v`, whose bytes are all initialized (ShmSafe
        // types have no padding). Ordering: Release, see the module docs.
        unsafe {
            match w {
                1 => (*(dst.add(i) as *const AtomicU8)).store(*src.add(i), Ordering::Release),
                2 => (*(dst.add(i) as *const AtomicU16)).store(*(src.add(i) as *const u16), Ordering::Release),
                4 => (*(dst.add(i) as *const AtomicU32)).store(*(src.add(i) as *const u32), Ordering::Release),
                #[cfg(target_pointer_width = "64")]
                8 => (*(dst.add(i) as *const AtomicU64)).store(*(src.add(i) as *const u64), Ordering::Release),
                _ => (*(dst.add(i) as *const AtomicUsize)).store(*(src.add(i) as *const usize), Ordering::Release),
            }
        }
        i += w;
    }
}

/// The chunk width for bytes aligned to `align`: `align` capped at the machine word (a power of two).
#[inline(always)]
fn byte_chunk(align: usize) -> usize {
    let a = if align.is_power_of_two() { align } else { 1 };
    a.min(size_of::<usize>())
}

/// Copies `len` bytes out of shared memory at `src` (aligned to `align`) into local memory at `dst`
/// (any alignment), with atomic chunk loads of `min(align, word)` bytes (the tail bytewise): the
/// run-time-sized twin of [`load`], for elements whose type only a foreign caller knows.
///
/// # Safety
/// `src` is valid for reads of `len` bytes, aligned to `align`, and stays mapped for the call (other
/// accesses to it atomic or from another process, as for [`load`]); `dst` is valid for writes of
/// `len` bytes and not shared.
#[inline]
pub unsafe fn load_bytes(dst: *mut u8, src: *const u8, len: usize, align: usize) {
    // The common one-word element (a C `uint64_t`, a pointer-sized struct): one load.
    #[cfg(target_pointer_width = "64")]
    if len == 8 && align >= 8 {
        // Ordering: Relaxed, as below.
        // SAFETY: `src` is 8-aligned and holds 8 bytes; `dst` holds 8 bytes (any alignment).
        unsafe { (dst as *mut u64).write_unaligned((*(src as *const AtomicU64)).load(Ordering::Relaxed)) };
        return;
    }
    // SAFETY: forwarded to the caller.
    unsafe { load_bytes_chunks(dst, src, len, align) }
}

/// The general case of [`load_bytes`], out of line so that the one-word fast path stays a leaf.
///
/// # Safety
/// As for [`load_bytes`].
#[inline(never)]
unsafe fn load_bytes_chunks(dst: *mut u8, src: *const u8, len: usize, align: usize) {
    let w = byte_chunk(align);
    let mut i = 0;
    while i + w <= len {
        // Ordering: Relaxed is enough: every caller orders the copy with its own Acquire load (a
        // slot stamp, a lock) before it.
        // SAFETY: `src + i` is in the caller's range and aligned to `w` (src is aligned to `align >=
        // w`, `i` is a multiple of `w`); `dst + i` is in the caller's buffer, written unaligned.
        unsafe {
            match w {
                2 => (dst.add(i) as *mut u16)
                    .write_unaligned((*(src.add(i) as *const AtomicU16)).load(Ordering::Relaxed)),
                4 => (dst.add(i) as *mut u32)
                    .write_unaligned((*(src.add(i) as *const AtomicU32)).load(Ordering::Relaxed)),
                #[cfg(target_pointer_width = "64")]
                8 => (dst.add(i) as *mut u64)
                    .write_unaligned((*(src.add(i) as *const AtomicU64)).load(Ordering::Relaxed)),
                _ => *dst.add(i) = (*(src.add(i) as *const AtomicU8)).load(Ordering::Relaxed),
            }
        }
        i += w;
    }
    while i < len {
        // Ordering: Relaxed, as above.
        // SAFETY: in bounds (i < len); a byte is always aligned.
        unsafe { *dst.add(i) = (*(src.add(i) as *const AtomicU8)).load(Ordering::Relaxed) };
        i += 1;
    }
}

/// Copies `len` bytes from local memory at `src` (any alignment) into shared memory at `dst` (aligned
/// to `align`) with atomic chunk stores: the run-time-sized twin of [`store`].
///
/// # Safety
/// As for [`load_bytes`], with `dst` the shared side (valid for writes) and `src` the local one.
#[inline]
pub unsafe fn store_bytes(dst: *mut u8, src: *const u8, len: usize, align: usize) {
    // The common one-word element: one store.
    #[cfg(target_pointer_width = "64")]
    if len == 8 && align >= 8 {
        // Ordering: Relaxed, as below.
        // SAFETY: `dst` is 8-aligned and holds 8 bytes; `src` holds 8 bytes (any alignment).
        unsafe { (*(dst as *const AtomicU64)).store((src as *const u64).read_unaligned(), Ordering::Relaxed) };
        return;
    }
    // SAFETY: forwarded to the caller.
    unsafe { store_bytes_chunks(dst, src, len, align) }
}

/// The general case of [`store_bytes`], out of line so that the one-word fast path stays a leaf.
///
/// # Safety
/// As for [`store_bytes`].
#[inline(never)]
unsafe fn store_bytes_chunks(dst: *mut u8, src: *const u8, len: usize, align: usize) {
    let w = byte_chunk(align);
    let mut i = 0;
    while i + w <= len {
        // Ordering: Relaxed is enough: every caller publishes the copy with its own Release store (a
        // slot stamp, an unlock) after it.
        // SAFETY: as in `load_bytes`, with the roles of the two sides swapped.
        unsafe {
            match w {
                2 => (*(dst.add(i) as *const AtomicU16))
                    .store((src.add(i) as *const u16).read_unaligned(), Ordering::Relaxed),
                4 => (*(dst.add(i) as *const AtomicU32))
                    .store((src.add(i) as *const u32).read_unaligned(), Ordering::Relaxed),
                #[cfg(target_pointer_width = "64")]
                8 => (*(dst.add(i) as *const AtomicU64))
                    .store((src.add(i) as *const u64).read_unaligned(), Ordering::Relaxed),
                _ => (*(dst.add(i) as *const AtomicU8)).store(*src.add(i), Ordering::Relaxed),
            }
        }
        i += w;
    }
    while i < len {
        // Ordering: Relaxed, as above.
        // SAFETY: in bounds (i < len); a byte is always aligned.
        unsafe { (*(dst.add(i) as *const AtomicU8)).store(*src.add(i), Ordering::Relaxed) };
        i += 1;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[repr(C, align(8))]
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Wide {
        a: u64,
        b: [u32; 3],
        c: u16,
        d: [u8; 2],
    }
    // SAFETY: repr(C), integer fields, 8 + 12 + 2 + 2 = 24 bytes, no padding.
    unsafe impl ShmSafe for Wide {}

    #[test]
    fn round_trips_every_width() {
        let mut b = 0u8;
        // SAFETY: local, aligned, exclusive.
        unsafe {
            store(&mut b, 7);
            assert_eq!(load(&b), 7);
        }
        let mut h = [0u16; 3];
        // SAFETY: as above.
        unsafe {
            store(&mut h, [1, 2, 3]);
            assert_eq!(load(&h), [1, 2, 3]);
        }
        let mut w = Wide {
            a: 0,
            b: [0; 3],
            c: 0,
            d: [0; 2],
        };
        let v = Wide {
            a: u64::MAX - 1,
            b: [9, 8, 7],
            c: 0xBEEF,
            d: [1, 2],
        };
        // SAFETY: as above.
        unsafe {
            store(&mut w, v);
            assert_eq!(load(&w), v);
        }
        let mut f = 0f64;
        // SAFETY: as above.
        unsafe {
            store(&mut f, 2.5);
            assert_eq!(load(&f), 2.5);
        }
    }

    #[test]
    fn byte_copies_round_trip_with_tails() {
        #[repr(C, align(8))]
        struct Shared([u8; 24]);
        for (len, align) in [(24usize, 8usize), (13, 8), (6, 2), (7, 4), (3, 1), (0, 8), (24, 3)] {
            let src: std::vec::Vec<u8> = (1..=len as u8).collect();
            let mut shared = Shared([0; 24]);
            let mut out = [0u8; 25];
            // SAFETY: local buffers; `shared` is 8-aligned; `out[1..]` tests an unaligned local side.
            unsafe {
                store_bytes(shared.0.as_mut_ptr(), src.as_ptr(), len, align);
                load_bytes(out.as_mut_ptr().add(1), shared.0.as_ptr(), len, align);
            }
            assert_eq!(&out[1..1 + len], &src[..], "len {len} align {align}");
            assert!(shared.0[len..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn chunk_is_alignment_capped_at_the_word() {
        assert_eq!(chunk::<u8>(), 1);
        assert_eq!(chunk::<[u16; 5]>(), 2);
        assert_eq!(chunk::<u32>(), 4);
        assert_eq!(chunk::<Wide>(), size_of::<usize>().min(8));
    }
}
