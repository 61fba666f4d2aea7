//! Tasks as data: a function travels through shared memory as two offsets (its monomorphized
//! trampoline and the user's `fn`) from an anchor function in the same executable, authenticated by a
//! keyed hash whose key lives only in the memory of the pool's processes.
//!
//! Why this is sound: workers are forks of the parent, so both offsets denote the same code in every
//! worker. Shared memory is untrusted, though: a peer that scribbles over a task slot must not be able
//! to make a worker jump to an arbitrary address. So every control field of a task is covered by a
//! SipHash tag keyed with a per-pool random key held in process memory (inherited by fork, never
//! written to shared memory); a slot whose tag does not verify is answered with `S_CORRUPT` and never
//! executed. Arena offsets and lengths are bounds-checked against the arena by the trampoline.

use super::shared::{
    ResultSlot, TaskSlot, F_INLINE_ARGS, F_INLINE_RES, RESULT_INLINE, S_CORRUPT, S_OK, S_PANICKED, TASK_INLINE,
};
use ringfork_core::ShmSafe;
use std::hash::{BuildHasher, Hasher};
use std::mem::{size_of, MaybeUninit};

/// Where a task's bytes are: the arena of this process's mapping.
#[derive(Clone, Copy, Debug)]
pub struct Arena {
    /// Start of the arena.
    pub base: *mut u8,
    /// Its length.
    pub len: usize,
}

/// A type-erased runner: resolves the task's argument and result areas (bounds-checked with the real
/// element sizes, which only the monomorphized trampoline knows) and calls the user function on each
/// item. Returns `false`, running nothing, if an area lies outside its buffer.
///
/// # Safety
/// `func` must be the `fn(A) -> R` this trampoline was instantiated for, and `arena` must describe
/// memory valid for reads and writes.
pub type Trampoline =
    unsafe fn(func: usize, slot: &TaskSlot, res: &mut ResultSlot, arena: Arena, done: &mut usize) -> bool;

/// Resolves a slot's argument and result areas for `T` arguments and `R` results (bounds-checked)
/// and calls `call` on each item. Returns `false`, running nothing, if an area lies outside its buffer.
///
/// # Safety
/// `arena` must describe memory valid for reads and writes.
unsafe fn run_items<T: ShmSafe, R: ShmSafe>(
    slot: &TaskSlot,
    res: &mut ResultSlot,
    arena: Arena,
    done: &mut usize,
    call: impl Fn(T) -> R,
) -> bool {
    let count = slot.count as usize;
    let (Some(arg_bytes), Some(res_bytes)) = (count.checked_mul(size_of::<T>()), count.checked_mul(size_of::<R>()))
    else {
        return false;
    };
    // Where `bytes` bytes live: inline (if `inline` and they fit `cap`) or in the arena at `off`.
    let area = |inline: bool, inline_ptr: *mut u8, cap: usize, off: u64, bytes: usize| -> Option<*mut u8> {
        if inline {
            (bytes <= cap).then_some(inline_ptr)
        } else {
            let end = off.checked_add(bytes as u64)?;
            (end <= arena.len as u64).then(|| arena.base.wrapping_add(off as usize))
        }
    };
    let arg_inline = slot.inline.as_ptr() as *mut u8;
    let Some(args) = area(
        slot.flags & F_INLINE_ARGS != 0,
        arg_inline,
        TASK_INLINE,
        slot.arg_off,
        arg_bytes,
    ) else {
        return false;
    };
    let res_inline = res.inline.as_mut_ptr() as *mut u8;
    let Some(out) = area(
        slot.flags & F_INLINE_RES != 0,
        res_inline,
        RESULT_INLINE,
        slot.res_off,
        res_bytes,
    ) else {
        return false;
    };
    let args = args as *const u8;
    for i in 0..count {
        // SAFETY: both areas were bounds-checked above for `count` items; T and R are plain data, so
        // any bytes read are a valid T; unaligned access is used throughout.
        unsafe {
            let a = (args as *const T).add(i).read_unaligned();
            (out as *mut R).add(i).write_unaligned(call(a));
        }
        *done = i + 1;
    }
    true
}

/// The trampoline for `fn(A) -> R`. `done` counts items finished (so a panic can name its item).
///
/// # Safety
/// See [`Trampoline`].
pub unsafe fn trampoline<A: ShmSafe, R: ShmSafe>(
    func: usize,
    slot: &TaskSlot,
    res: &mut ResultSlot,
    arena: Arena,
    done: &mut usize,
) -> bool {
    // SAFETY: the caller guarantees `func` is an `fn(A) -> R` (verified by the task tag, which only the
    // parent can compute, from a real `fn(A) -> R`).
    let f: fn(A) -> R = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    // SAFETY: forwarded from the caller (arena validity).
    unsafe { run_items(slot, res, arena, done, f) }
}

/// The anchor all code offsets are measured from.
#[inline(never)]
fn anchor() {}

/// A code address as an offset from the anchor.
pub fn to_offset(addr: usize) -> i64 {
    (addr as i64).wrapping_sub(anchor as *const () as usize as i64)
}

/// An offset back to a code address.
pub fn from_offset(off: i64) -> usize {
    (anchor as *const () as usize as i64).wrapping_add(off) as usize
}

/// The per-pool secret and the tag over a slot's control fields.
#[derive(Clone, Debug)]
pub struct Key {
    k0: u64,
    k1: u64,
}

impl Key {
    /// A fresh random key (from the standard library's per-process random hasher state).
    pub fn new() -> Key {
        let r = std::hash::RandomState::new();
        Key {
            k0: r.hash_one(0x5EED_u64),
            k1: r.hash_one(0xC0FFEE_u64),
        }
    }

    /// The key as two words, to hand to a spawned worker (through its private bootstrap record,
    /// never through shared memory).
    pub fn to_words(&self) -> (u64, u64) {
        (self.k0, self.k1)
    }

    /// The key from [`Key::to_words`].
    pub fn from_words(k0: u64, k1: u64) -> Key {
        Key { k0, k1 }
    }

    /// The tag of `slot`'s control fields (everything but the tag and the inline data).
    pub fn tag(&self, s: &TaskSlot) -> u64 {
        // SipHash-2-4 keyed with the pool's secret (the standard library's keyed SipHash is only
        // reachable through this deprecated name; the algorithm itself is what we want).
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new_with_keys(self.k0, self.k1);
        for v in [
            s.id,
            s.tramp as u64,
            s.func as u64,
            s.arg_off,
            s.res_off,
            u64::from(s.count) | (u64::from(s.flags) << 32),
        ] {
            h.write_u64(v);
        }
        h.finish()
    }
}

impl Default for Key {
    fn default() -> Self {
        Key::new()
    }
}

/// A job as the parent keeps it: the function, its element sizes, and every item's arguments.
#[derive(Debug)]
pub struct JobSpec {
    /// Trampoline address.
    pub tramp: usize,
    /// User function address.
    pub func: usize,
    /// `size_of` the argument type.
    pub arg_size: usize,
    /// `size_of` the result type.
    pub res_size: usize,
    /// The arguments of every item, as raw (possibly padded, so possibly uninitialized) bytes.
    pub args: Vec<MaybeUninit<u8>>,
    /// Number of items (arguments may be zero-sized).
    pub items: usize,
}

impl JobSpec {
    /// A job running `f` on `items`.
    pub fn new<A: ShmSafe, R: ShmSafe>(f: fn(A) -> R, items: &[A]) -> JobSpec {
        Self::raw(
            trampoline::<A, R> as Trampoline as usize,
            f as usize,
            items,
            size_of::<R>(),
        )
    }

    /// A job running the two-argument `f` on `items` (each a pair).
    pub fn new2<A: ShmSafe, B: ShmSafe, R: ShmSafe>(f: fn(A, B) -> R, items: &[Pair<A, B>]) -> JobSpec {
        Self::raw(
            trampoline2::<A, B, R> as Trampoline as usize,
            f as usize,
            items,
            size_of::<R>(),
        )
    }

    fn raw<T: Copy>(tramp: usize, func: usize, items: &[T], res_size: usize) -> JobSpec {
        let bytes = std::mem::size_of_val(items);
        let mut args = vec![MaybeUninit::<u8>::uninit(); bytes];
        // SAFETY: copying `bytes` bytes of `items` (valid for reads) into a buffer of that size;
        // MaybeUninit<u8> may hold padding bytes.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr() as *const MaybeUninit<u8>, args.as_mut_ptr(), bytes) };
        JobSpec {
            tramp,
            func,
            arg_size: size_of::<T>(),
            res_size,
            args,
            items: items.len(),
        }
    }

    /// Whether `count` items' arguments fit inline.
    pub fn args_inline(&self, count: usize) -> bool {
        count * self.arg_size <= TASK_INLINE
    }

    /// Whether `count` items' results fit inline.
    pub fn res_inline(&self, count: usize) -> bool {
        count * self.res_size <= RESULT_INLINE
    }

    /// Arena bytes a task of `count` items needs (0 if everything is inline).
    pub fn arena_bytes(&self, count: usize) -> usize {
        let a = if self.args_inline(count) {
            0
        } else {
            count * self.arg_size
        };
        let r = if self.res_inline(count) {
            0
        } else {
            count * self.res_size
        };
        a + r
    }
}

/// Two arguments for `starmap`. `repr(C, packed)`: no padding between or after the fields for any
/// `A` and `B` (a `ShmSafe` value is copied byte for byte, so padding would be uninitialized bytes);
/// read the fields by value (`p.0`), not by reference.
///
/// [`Pool::starmap`](crate::Pool::starmap) packs its tuples into `Pair`s; a one-argument task can
/// take one directly:
///
/// ```
/// use ringfork::{pool::Pair, Pool};
///
/// fn area(p: Pair<u32, u64>) -> u64 {
///     u64::from(p.0) * p.1
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let pool = Pool::new(2)?;
///     assert_eq!(pool.map(area, [Pair(2, 3), Pair(4, 5)])?, vec![6, 20]);
///     pool.close();
///     pool.join()?;
///     Ok(())
/// }
/// ```
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct Pair<A, B>(pub A, pub B);

impl<A: Copy + std::fmt::Debug, B: Copy + std::fmt::Debug> std::fmt::Debug for Pair<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = (self.0, self.1);
        f.debug_tuple("Pair").field(&a).field(&b).finish()
    }
}

// SAFETY: every bit pattern of each field is valid (both ShmSafe); packed, so no padding bytes;
// no pointers, no Drop.
unsafe impl<A: ShmSafe, B: ShmSafe> ShmSafe for Pair<A, B> {}

/// The trampoline for `fn(A, B) -> R` over [`Pair`]s.
///
/// # Safety
/// See [`Trampoline`] (`func` is an `fn(A, B) -> R`).
pub unsafe fn trampoline2<A: ShmSafe, B: ShmSafe, R: ShmSafe>(
    func: usize,
    slot: &TaskSlot,
    res: &mut ResultSlot,
    arena: Arena,
    done: &mut usize,
) -> bool {
    // SAFETY: the caller guarantees `func` is an `fn(A, B) -> R` (tag-verified, as for `trampoline`).
    let f: fn(A, B) -> R = unsafe { std::mem::transmute::<usize, fn(A, B) -> R>(func) };
    // SAFETY: forwarded from the caller (arena validity).
    unsafe { run_items(slot, res, arena, done, |p: Pair<A, B>| f(p.0, p.1)) }
}

/// Builds the slot for items `first..first+count` of `job` as task `id`, with its arena block (if any)
/// at `block`; copies non-inline arguments into the block (`arena` is the parent's mapping).
pub fn make_slot(
    key: &Key,
    id: u64,
    job: &JobSpec,
    first: usize,
    count: usize,
    block: Option<u64>,
    arena: Arena,
) -> TaskSlot {
    let mut s = TaskSlot {
        id,
        tag: 0,
        tramp: to_offset(job.tramp),
        func: to_offset(job.func),
        arg_off: 0,
        res_off: 0,
        count: count as u32,
        flags: 0,
        inline: [MaybeUninit::new(0); TASK_INLINE],
    };
    let bytes = count * job.arg_size;
    let src = &job.args[first * job.arg_size..first * job.arg_size + bytes];
    let mut next = block.unwrap_or(0);
    if job.args_inline(count) {
        s.flags |= F_INLINE_ARGS;
        // SAFETY: bytes <= TASK_INLINE; copying possibly-uninit bytes through raw pointers (they are
        // only ever read back as `A` by the trampoline).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), s.inline.as_mut_ptr(), bytes) };
    } else {
        // SAFETY: the parent allocated `arena_bytes(count)` bytes at `block` inside the arena.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.as_ptr(),
                arena.base.add(next as usize) as *mut MaybeUninit<u8>,
                bytes,
            )
        };
        s.arg_off = next;
        next += bytes as u64;
    }
    if job.res_inline(count) {
        s.flags |= F_INLINE_RES;
    } else {
        s.res_off = next;
    }
    s.tag = key.tag(&s);
    s
}

/// Runs a slot (after verifying its tag) and returns the result slot to send back.
pub fn run_slot(key: &Key, slot: &TaskSlot, arena: Arena) -> ResultSlot {
    let mut r = ResultSlot {
        id: slot.id,
        status: S_OK,
        item: 0,
        len: 0,
        pad: 0,
        inline: [MaybeUninit::new(0); RESULT_INLINE],
    };
    if key.tag(slot) != slot.tag {
        r.status = S_CORRUPT;
        return r;
    }
    // SAFETY: the tag verified, so `tramp` is the address the parent derived from a real
    // `trampoline::<A, R>` of this executable (workers are forks of the parent, so offsets from the
    // anchor denote the same code in every worker).
    let tramp: Trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(from_offset(slot.tramp)) };
    let func = from_offset(slot.func);
    let mut done = 0usize;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `func` is the `fn(A) -> R` matching `tramp` (same tag); the arena is this process's
        // mapping of the pool segment.
        unsafe { tramp(func, slot, &mut r, arena, &mut done) }
    }));
    match outcome {
        Ok(true) => {}
        Ok(false) => r.status = S_CORRUPT,
        Err(payload) => {
            let msg = panic_message(&payload);
            r.status = S_PANICKED;
            r.item = done as u32;
            // Cut at a char boundary so the message stays valid UTF-8.
            let n = (0..=msg.len().min(RESULT_INLINE))
                .rev()
                .find(|&i| msg.is_char_boundary(i))
                .unwrap_or(0);
            for (d, b) in r.inline[..n].iter_mut().zip(msg.as_bytes()) {
                *d = MaybeUninit::new(*b);
            }
            r.len = n as u32;
        }
    }
    r
}

/// The text of a panic payload.
pub fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
