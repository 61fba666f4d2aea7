//! [`CachePadded`]: keep words owned by different sides on different cache lines.

use core::fmt;
use core::ops::{Deref, DerefMut};

/// Pads and aligns a value to 128 bytes so that it never shares a cache line (or an adjacent-line
/// prefetch pair) with a word written by another process.
///
/// Why 128 and not 64: since Sandy Bridge, Intel's L2 spatial prefetcher pulls cache lines in pairs
/// (Intel Optimization Manual, "Spatial Prefetcher"), so two words 64 bytes apart still interfere.
/// AArch64 big cores (Apple M-series, Neoverse) use 128-byte lines outright. Everything else gets 64.
/// The size is part of the ABI of every layout that uses it; it is fixed per target and recorded in
/// `docs/layout.md`.
///
/// ```
/// use ringfork_core::padded::{CachePadded, CACHE_LINE};
/// #[repr(C)]
/// struct Ends {
///     head: CachePadded<u64>, // written by the consumer
///     tail: CachePadded<u64>, // written by the producer
/// }
/// let e = Ends { head: CachePadded::new(1), tail: CachePadded::new(2) };
/// assert_eq!(*e.head + *e.tail, 3); // derefs to the value
/// assert_eq!(core::mem::offset_of!(Ends, tail), CACHE_LINE); // never on one line
/// ```
#[cfg_attr(
    any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "powerpc64"),
    repr(C, align(128))
)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "powerpc64")),
    repr(C, align(64))
)]
#[derive(Default)]
pub struct CachePadded<T> {
    value: T,
}

/// The alignment (and minimum size) of a [`CachePadded`] on this target.
pub const CACHE_LINE: usize = core::mem::align_of::<CachePadded<u8>>();

impl<T> CachePadded<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self { value }
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for CachePadded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachePadded").field("value", &self.value).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn padded_is_a_line_apart() {
        #[repr(C)]
        struct Two {
            a: CachePadded<u64>,
            b: CachePadded<u64>,
        }
        let t = Two {
            a: CachePadded::new(1),
            b: CachePadded::new(2),
        };
        let d = (&t.b as *const _ as usize) - (&t.a as *const _ as usize);
        assert!(d >= CACHE_LINE);
        const { assert!(CACHE_LINE >= 64) };
        assert_eq!(*t.a + *t.b, 3);
    }
}
