//! Atomics used by shared objects, swapped for `loom`'s under `cfg(loom)` so the state machines can be
//! model-checked, and the word width of shared layouts.
//!
//! Under `cfg(loom)` only in-process (thread) models run; nothing is placed in real shared memory.
//!
//! # Targets without compare-and-swap
//! Where the target has 32-bit loads and stores but no compare-and-swap (ARMv6-M: `thumbv6m-none-eabi`),
//! the atomics are `portable-atomic`'s, whose read-modify-write operations run inside a
//! `critical-section`. The firmware provides the implementation (on a single-core Cortex-M:
//! `cortex-m`'s `critical-section-single-core` feature, which masks interrupts). Such an
//! implementation makes an operation atomic against interrupt handlers on the *same* core only; see
//! `docs/embedded.md` for what that allows.
//!
//! # The word width of shared layouts
//! [`Word`] is the width of the free-running positions and counters in shared layouts: `u64` where
//! the target has 64-bit atomics (`cfg(target_has_atomic = "64")`), else `u32`, with every
//! comparison written as a wrapping difference read as a signed number, so wrap-around is harmless.
//! The two widths are two ABI variants of every layout; the header's version word records which one
//! an object uses ([`crate::header::WORDS32`]) and an attacher built for the other width refuses it
//! with [`crate::AttachError::WordWidthMismatch`].

#[cfg(all(not(loom), target_has_atomic = "32"))]
pub use core::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};
#[cfg(all(not(loom), not(target_has_atomic = "32")))]
pub use portable_atomic::{fence, AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};

#[cfg(all(not(loom), target_has_atomic = "64"))]
pub use core::sync::atomic::AtomicU64;

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The native (never loom) atomic types, for code that views plain memory as an atomic with
/// `from_ptr` (loom's atomics cannot).
pub mod native {
    #[cfg(target_has_atomic = "32")]
    pub use core::sync::atomic::{AtomicI32, AtomicIsize, AtomicU32, AtomicUsize};
    #[cfg(target_has_atomic = "64")]
    pub use core::sync::atomic::{AtomicI64, AtomicU64};
    #[cfg(not(target_has_atomic = "32"))]
    pub use portable_atomic::{AtomicI32, AtomicIsize, AtomicU32, AtomicUsize};
}

/// The width of free-running positions and counters in shared layouts (see the module docs).
///
/// ```
/// use ringfork_core::atomic::{SignedWord, Word};
/// // Positions are free-running and wrap: compare them by a wrapping difference read as signed.
/// let (tail, head): (Word, Word) = (Word::MAX - 1, 2); // head has wrapped past the end
/// assert_eq!(head.wrapping_sub(tail) as SignedWord, 4); // head is 4 ahead
/// assert_eq!(tail.wrapping_sub(head) as SignedWord, -4);
/// assert_eq!(Word::BITS, if cfg!(target_has_atomic = "64") { 64 } else { 32 });
/// ```
#[cfg(target_has_atomic = "64")]
pub type Word = u64;
/// The width of free-running positions and counters in shared layouts (see the module docs).
///
/// ```
/// use ringfork_core::atomic::{SignedWord, Word};
/// // Positions are free-running and wrap: compare them by a wrapping difference read as signed.
/// let (tail, head): (Word, Word) = (Word::MAX - 1, 2); // head has wrapped past the end
/// assert_eq!(head.wrapping_sub(tail) as SignedWord, 4); // head is 4 ahead
/// assert_eq!(tail.wrapping_sub(head) as SignedWord, -4);
/// assert_eq!(Word::BITS, if cfg!(target_has_atomic = "64") { 64 } else { 32 });
/// ```
#[cfg(not(target_has_atomic = "64"))]
pub type Word = u32;

/// [`Word`] read as a signed number: the sign of a wrapping difference of two positions.
///
/// ```
/// use ringfork_core::atomic::{SignedWord, Word};
/// assert_eq!(SignedWord::BITS, Word::BITS);
/// let (a, b): (Word, Word) = (3, 5);
/// assert!((a.wrapping_sub(b) as SignedWord) < 0); // a is behind b
/// ```
#[cfg(target_has_atomic = "64")]
pub type SignedWord = i64;
/// [`Word`] read as a signed number: the sign of a wrapping difference of two positions.
///
/// ```
/// use ringfork_core::atomic::{SignedWord, Word};
/// assert_eq!(SignedWord::BITS, Word::BITS);
/// let (a, b): (Word, Word) = (3, 5);
/// assert!((a.wrapping_sub(b) as SignedWord) < 0); // a is behind b
/// ```
#[cfg(not(target_has_atomic = "64"))]
pub type SignedWord = i32;

/// The atomic [`Word`].
///
/// ```
/// use ringfork_core::atomic::{AtomicWord, Ordering, Word};
/// let pos = AtomicWord::new(Word::MAX);
/// pos.fetch_add(2, Ordering::Relaxed); // wraps, as positions do
/// assert_eq!(pos.load(Ordering::Relaxed), 1);
/// assert_eq!(core::mem::size_of::<AtomicWord>(), core::mem::size_of::<Word>());
/// ```
#[cfg(target_has_atomic = "64")]
pub type AtomicWord = AtomicU64;
/// The atomic [`Word`].
///
/// ```
/// use ringfork_core::atomic::{AtomicWord, Ordering, Word};
/// let pos = AtomicWord::new(Word::MAX);
/// pos.fetch_add(2, Ordering::Relaxed); // wraps, as positions do
/// assert_eq!(pos.load(Ordering::Relaxed), 1);
/// assert_eq!(core::mem::size_of::<AtomicWord>(), core::mem::size_of::<Word>());
/// ```
#[cfg(not(target_has_atomic = "64"))]
pub type AtomicWord = AtomicU32;

/// `w` as a `u64` (the identity where [`Word`] is `u64`).
#[inline(always)]
#[allow(clippy::unnecessary_cast)]
pub const fn widen(w: Word) -> u64 {
    w as u64
}

/// Whether shared layouts use 32-bit words on this target (see the module docs).
pub const WORDS32: bool = Word::BITS == 32;

/// A 64-bit field of a shared layout that is only ever loaded and stored, never read-modify-written:
/// `AtomicU64` where the target has 64-bit atomics, else [`SplitU64`] (same size, alignment and
/// bytes). Used for header parameters (written before the object is published) and for hints.
///
/// ```
/// use ringfork_core::atomic::{AtomicU64Field, Ordering};
/// let field = AtomicU64Field::new(0);
/// field.store(0x1234_5678_9abc_def0, Ordering::Release); // before the object is published
/// assert_eq!(field.load(Ordering::Acquire), 0x1234_5678_9abc_def0);
/// assert_eq!(core::mem::size_of::<AtomicU64Field>(), 8);
/// ```
#[cfg(any(loom, target_has_atomic = "64"))]
pub type AtomicU64Field = AtomicU64;
/// A 64-bit field of a shared layout that is only ever loaded and stored, never read-modify-written:
/// `AtomicU64` where the target has 64-bit atomics, else [`SplitU64`] (same size, alignment and
/// bytes). Used for header parameters (written before the object is published) and for hints.
///
/// ```
/// use ringfork_core::atomic::{AtomicU64Field, Ordering};
/// let field = AtomicU64Field::new(0);
/// field.store(0x1234_5678_9abc_def0, Ordering::Release); // before the object is published
/// assert_eq!(field.load(Ordering::Acquire), 0x1234_5678_9abc_def0);
/// assert_eq!(core::mem::size_of::<AtomicU64Field>(), 8);
/// ```
#[cfg(not(any(loom, target_has_atomic = "64")))]
pub type AtomicU64Field = SplitU64;

/// A `u64` stored as two 32-bit atomic halves, in the byte order of a `u64` (8 bytes, align 8), for
/// targets without 64-bit atomics.
///
/// Each half is atomic, the pair is not: a load that races a store may return the low half of one
/// value and the high half of the other. Shared layouts use it only where that cannot matter: fields
/// written before the object is published (the header's parameters; readers load them after the
/// Acquire load of `READY`), and hints whose every value is validated or harmless.
///
/// ```
/// use ringfork_core::atomic::{Ordering, SplitU64};
/// let field = SplitU64::new(u64::MAX - 1);
/// assert_eq!(field.load(Ordering::Acquire), u64::MAX - 1);
/// field.store(1 << 40, Ordering::Release);
/// assert_eq!(field.load(Ordering::Acquire), 1 << 40);
/// // The size and alignment of an `AtomicU64`, so layouts do not change.
/// assert_eq!((core::mem::size_of::<SplitU64>(), core::mem::align_of::<SplitU64>()), (8, 8));
/// ```
#[cfg(not(loom))]
#[repr(C, align(8))]
pub struct SplitU64 {
    #[cfg(target_endian = "little")]
    lo: AtomicU32,
    hi: AtomicU32,
    #[cfg(target_endian = "big")]
    lo: AtomicU32,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<SplitU64>() == 8);
    assert!(core::mem::align_of::<SplitU64>() == 8);
};

#[cfg(not(loom))]
impl SplitU64 {
    /// A field holding `v`.
    pub const fn new(v: u64) -> Self {
        SplitU64 {
            lo: AtomicU32::new(v as u32),
            hi: AtomicU32::new((v >> 32) as u32),
        }
    }

    /// Loads both halves (high first, with `order`; then the low half). See the type docs about
    /// tearing.
    #[inline]
    pub fn load(&self, order: Ordering) -> u64 {
        let hi = self.hi.load(order);
        // Ordering: Relaxed; ordered after the high half's load when `order` is Acquire, which pairs
        // with `store`'s Release store of the high half, made after the low half.
        let lo = self.lo.load(Ordering::Relaxed);
        u64::from(hi) << 32 | u64::from(lo)
    }

    /// Stores both halves (low first, Relaxed; then the high half with `order`). See the type docs
    /// about tearing.
    #[inline]
    pub fn store(&self, v: u64, order: Ordering) {
        // Ordering: Relaxed; published by the store of the high half below when `order` is Release.
        self.lo.store(v as u32, Ordering::Relaxed);
        self.hi.store((v >> 32) as u32, order);
    }
}

#[cfg(not(loom))]
impl core::fmt::Debug for SplitU64 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Ordering: Relaxed, display only.
        core::fmt::Debug::fmt(&self.load(Ordering::Relaxed), f)
    }
}

/// A spin-loop hint that yields to the model checker under loom.
#[inline]
pub fn spin_hint() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn split_u64_round_trips_and_has_u64_bytes() {
        for v in [0u64, 1, u64::from(u32::MAX), 1 << 32, u64::MAX, 0x0123_4567_89ab_cdef] {
            let s = SplitU64::new(0);
            s.store(v, Ordering::Release);
            assert_eq!(s.load(Ordering::Acquire), v);
            assert_eq!(SplitU64::new(v).load(Ordering::Relaxed), v);
            // SAFETY: SplitU64 is 8 plain bytes (two AtomicU32), valid to read as [u8; 8].
            let bytes: [u8; 8] = unsafe { core::mem::transmute_copy(&s) };
            assert_eq!(bytes, v.to_ne_bytes());
        }
    }

    #[test]
    fn signed_word_difference_orders_across_the_wrap() {
        // A position just past the wrap is "after" one just before it, in either width.
        let before: Word = Word::MAX - 2;
        let after: Word = before.wrapping_add(5);
        assert!(after < before);
        assert!((after.wrapping_sub(before) as SignedWord) > 0);
        assert!((before.wrapping_sub(after) as SignedWord) < 0);
        // The same arithmetic at 32 bits, whatever this target's width.
        let b32 = u32::MAX - 2;
        let a32 = b32.wrapping_add(5);
        assert_eq!(a32.wrapping_sub(b32) as i32, 5);
        assert_eq!(b32.wrapping_sub(a32) as i32, -5);
    }
}
