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
//!
//! Arguments and results are any serde types, moved with the [`Serde`] encoding: the scalars (the
//! integers and floats) are fixed-size and travel as their bytes, back to back, as plain data did
//! before; everything else is framed with a `u64` length per item (see `shared::TaskSlot`). The tag
//! authenticates where the bytes are, never the bytes themselves: every length read from an area is
//! bounded by the area, and every record goes through the decoder, which rejects what does not
//! decode (a typed error for that task, never a panic).

use super::shared::{
    ResultSlot, TaskSlot, F_INLINE_ARGS, F_SPILL_ARGS, RESULT_INLINE, S_CORRUPT, S_DECODE, S_ENCODE, S_OK, S_PANICKED,
    S_SPILL_FAILED, TASK_INLINE,
};
use super::spill::{Dir, Namer, Spill};
use crate::encoding::{Codec, DecodeError, EncodeError, Serde};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::hash::{BuildHasher, Hasher};

/// The bytes of one item's length prefix in a variable-size area.
pub const PREFIX: usize = 8;

/// Where a task's bytes are: the arena of this process's mapping.
#[derive(Clone, Copy, Debug)]
pub struct Arena {
    /// Start of the arena.
    pub base: *mut u8,
    /// Its length.
    pub len: usize,
}

impl Arena {
    /// `off..off+len` inside the arena, bounds-checked (`off` and `len` come from shared memory).
    fn range(&self, off: u64, len: u64) -> Option<*mut u8> {
        let end = off.checked_add(len)?;
        (end <= self.len as u64).then(|| self.base.wrapping_add(off as usize))
    }
}

/// What a worker needs to run a task besides its slot.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// The arena.
    pub arena: Arena,
    /// Names the pool's spill segments.
    pub namer: Namer,
    /// The parent's process stamp (pid, start time), registered in result spill segments.
    pub parent_stamp: (u32, u64),
}

/// A type-erased runner: resolves the task's argument area (bounds-checked), decodes every item,
/// calls the user function on each, and writes the encoded results (inline, into the arena block,
/// or into a result spill segment), setting `res`'s status and length.
///
/// # Safety
/// `func` must be the `fn(A) -> R` this trampoline was instantiated for, and `ctx.arena` must describe
/// memory valid for reads and writes.
pub type Trampoline = unsafe fn(func: usize, slot: &TaskSlot, res: &mut ResultSlot, ctx: &Ctx, done: &mut usize);

/// Whether `T` travels fixed-size under [`Serde`] (`Some(size)`) or length-framed.
fn fixed<T: Serialize + DeserializeOwned + Send + 'static>() -> Option<usize> {
    <Serde as Codec<T>>::fixed_size()
}

/// Why an area did not decode.
enum AreaError {
    /// Framing does not match the control fields (a scribbled area): nothing is trusted.
    Corrupt,
    /// Item `.0` did not decode.
    Decode(usize, DecodeError),
}

/// Reads the `count` items of an area of `len` bytes at `src` one at a time (which may be shared
/// memory a peer writes concurrently: every length is read once and bounded, every record goes
/// through the decoder).
struct AreaReader<T> {
    src: *const u8,
    len: usize,
    at: usize,
    fixed: Option<usize>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned + Send + 'static> AreaReader<T> {
    /// A reader of `count` items, after checking that the area can hold them.
    fn new(src: *const u8, len: usize, count: usize) -> Result<Self, AreaError> {
        let fixed = fixed::<T>();
        let ok = match fixed {
            Some(n) => count.checked_mul(n) == Some(len),
            // Every item takes at least its prefix.
            None => count <= len / PREFIX,
        };
        if !ok {
            return Err(AreaError::Corrupt);
        }
        Ok(AreaReader {
            src,
            len,
            at: 0,
            fixed,
            _t: std::marker::PhantomData,
        })
    }

    /// Decodes the next item (item `i`, for the error report).
    ///
    /// # Safety
    /// `src` valid for reads of `len` bytes (while the reader is used).
    unsafe fn next(&mut self, i: usize) -> Result<T, AreaError> {
        let n = match self.fixed {
            Some(n) => {
                if self.len - self.at < n {
                    return Err(AreaError::Corrupt);
                }
                n
            }
            None => {
                if self.len - self.at < PREFIX {
                    return Err(AreaError::Corrupt);
                }
                // SAFETY: at + PREFIX <= len; one unaligned read of the prefix (read once, then bounded).
                let n = unsafe { (self.src.add(self.at) as *const u64).read_unaligned() };
                self.at += PREFIX;
                match usize::try_from(n) {
                    Ok(n) if n <= self.len - self.at => n,
                    _ => return Err(AreaError::Corrupt),
                }
            }
        };
        // SAFETY: at + n <= len (bounded above).
        let v = unsafe { <Serde as Codec<T>>::decode_raw(self.src.add(self.at), n) };
        self.at += n;
        v.map_err(|e| AreaError::Decode(i, e))
    }

    /// Whether every byte of the area was consumed (after the last item).
    fn finished(&self) -> bool {
        self.at == self.len
    }
}

/// Splits the area of `len` bytes at `src` into its `count` records (copied out, not decoded), for
/// the parent: `None` if the framing does not match.
///
/// # Safety
/// `src` valid for reads of `len` bytes.
pub unsafe fn split_area(src: *const u8, len: usize, count: usize, fixed: Option<usize>) -> Option<Vec<Vec<u8>>> {
    let copy = |at: usize, n: usize| -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        // SAFETY: the callers below checked at + n <= len; `v` is private with capacity n; the n
        // bytes are initialized before set_len.
        unsafe {
            std::ptr::copy_nonoverlapping(src.add(at), v.as_mut_ptr(), n);
            v.set_len(n);
        }
        v
    };
    let mut out = Vec::new();
    match fixed {
        Some(n) => {
            if count.checked_mul(n) != Some(len) {
                return None;
            }
            out.reserve_exact(count);
            for i in 0..count {
                out.push(copy(i * n, n));
            }
        }
        None => {
            if count > len / PREFIX {
                return None;
            }
            out.reserve_exact(count);
            let mut at = 0usize;
            for _ in 0..count {
                if len - at < PREFIX {
                    return None;
                }
                // SAFETY: at + PREFIX <= len.
                let n = unsafe { (src.add(at) as *const u64).read_unaligned() };
                at += PREFIX;
                let n = usize::try_from(n).ok().filter(|&n| n <= len - at)?;
                out.push(copy(at, n));
                at += n;
            }
            if at != len {
                return None;
            }
        }
    }
    Some(out)
}

/// The area bytes of `items` and the encoded length of each (for a variable-size encoding).
fn area_len<T: Serialize + DeserializeOwned + Send + 'static>(items: &[T]) -> Result<(usize, Vec<usize>), EncodeError> {
    match fixed::<T>() {
        Some(n) => Ok((items.len() * n, Vec::new())),
        None => {
            let mut lens = Vec::with_capacity(items.len());
            let mut total = 0usize;
            for v in items {
                let n = <Serde as Codec<T>>::encoded_len(v)?;
                total += PREFIX + n;
                lens.push(n);
            }
            Ok((total, lens))
        }
    }
}

/// Writes `items` as an area of `len` bytes at `dst` (`lens` from [`area_len`]).
///
/// # Safety
/// `dst` valid for writes of `len` bytes, `len` and `lens` from `area_len(items)`.
unsafe fn write_area<T: Serialize + DeserializeOwned + Send + 'static>(
    items: &[T],
    lens: &[usize],
    dst: *mut u8,
    len: usize,
) -> Result<(), EncodeError> {
    match fixed::<T>() {
        Some(n) => {
            debug_assert_eq!(len, items.len() * n);
            for (i, v) in items.iter().enumerate() {
                // SAFETY: item i's n bytes lie inside dst..dst+len (len == count * n).
                unsafe { <Serde as Codec<T>>::encode_raw(v, dst.add(i * n), n)? };
            }
        }
        None => {
            let mut at = 0usize;
            for (v, &n) in items.iter().zip(lens) {
                if len - at < PREFIX + n {
                    return Err(EncodeError::new::<T>("the value grew between sizing and encoding"));
                }
                // SAFETY: at + PREFIX + n <= len (checked above): prefix then record inside the area.
                unsafe {
                    (dst.add(at) as *mut u64).write_unaligned(n as u64);
                    <Serde as Codec<T>>::encode_raw(v, dst.add(at + PREFIX), n)?;
                }
                at += PREFIX + n;
            }
        }
    }
    Ok(())
}

/// Writes `msg` (cut at a char boundary) into `r.inline` and its length into `r.len`.
fn put_message(r: &mut ResultSlot, status: u32, item: usize, prefix: Option<u64>, msg: &str) {
    r.status = status;
    r.item = item.min(u32::MAX as usize) as u32;
    let mut at = 0;
    if let Some(p) = prefix {
        r.inline[..8].copy_from_slice(&p.to_ne_bytes());
        at = 8;
    }
    let room = RESULT_INLINE - at;
    let n = (0..=msg.len().min(room))
        .rev()
        .find(|&i| msg.is_char_boundary(i))
        .unwrap_or(0);
    r.inline[at..at + n].copy_from_slice(&msg.as_bytes()[..n]);
    r.len = (at + n) as u64;
}

/// Resolves a slot's argument area, decodes its `T` items, calls `call` on each and writes the
/// encoded `R` results (see [`Trampoline`]).
///
/// # Safety
/// `ctx.arena` must describe memory valid for reads and writes.
unsafe fn run_items<T, R>(slot: &TaskSlot, res: &mut ResultSlot, ctx: &Ctx, done: &mut usize, call: impl Fn(T) -> R)
where
    T: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let count = slot.count as usize;
    let Ok(arg_len) = usize::try_from(slot.arg_len) else {
        res.status = S_CORRUPT;
        return;
    };
    // 1. The argument area: inline, in the arena, or in the task's argument spill segment (mapped
    //    while `arg_spill` lives).
    let mut arg_spill = None;
    let src: *const u8 = if slot.flags & F_INLINE_ARGS != 0 {
        if arg_len > TASK_INLINE {
            res.status = S_CORRUPT;
            return;
        }
        slot.inline.as_ptr()
    } else if slot.flags & F_SPILL_ARGS != 0 {
        match Spill::open(&ctx.namer.name(slot.id, Dir::Args), arg_len) {
            Some(s) => arg_spill.insert(s).ptr(),
            None => {
                res.status = S_CORRUPT;
                return;
            }
        }
    } else {
        match ctx.arena.range(slot.arg_off, slot.arg_len) {
            Some(p) => p,
            None => {
                res.status = S_CORRUPT;
                return;
            }
        }
    };
    let mut args = match AreaReader::<T>::new(src, arg_len, count) {
        Ok(r) => r,
        Err(_) => {
            res.status = S_CORRUPT;
            return;
        }
    };
    // 2. Run, and 3. write the results: inline, into the reserved arena block, or into a result
    //    spill segment. A fixed-size result type (the scalars) is written as each item finishes;
    //    others are collected, then sized and encoded.
    let mut res_spill = None;
    let outcome = if let Some(rn) = fixed::<R>() {
        let len = count.saturating_mul(rn);
        match result_area(slot, res, ctx, len, &mut res_spill) {
            Err(status) => Err(status),
            Ok(dst) => (|| {
                for i in 0..count {
                    // SAFETY: `src` is valid for `arg_len` bytes: the slot's private inline array
                    // (checked above), the bounds-checked arena range, or a spill payload checked to
                    // hold `arg_len` bytes (mapped while `arg_spill` lives).
                    let a = unsafe { args.next(i) }?;
                    let r = call(a);
                    // SAFETY: `dst` is valid for len == count * rn bytes (see `result_area`).
                    unsafe { <Serde as Codec<R>>::encode_raw(&r, dst.add(i * rn), rn) }
                        .map_err(|e| Failure::Encode(i, e))?;
                    *done += 1;
                }
                Ok(len)
            })(),
        }
    } else {
        (|| {
            let mut out: Vec<R> = Vec::with_capacity(count);
            for i in 0..count {
                // SAFETY: as above.
                let a = unsafe { args.next(i) }?;
                out.push(call(a));
                *done += 1;
            }
            let (len, lens) = area_len(&out).map_err(|e| Failure::Encode(first_encode_failure(&out), e))?;
            let dst = result_area(slot, res, ctx, len, &mut res_spill)?;
            // SAFETY: `dst` is valid for `len` bytes (see `result_area`).
            unsafe { write_area(&out, &lens, dst, len) }.map_err(|e| Failure::Encode(first_encode_failure(&out), e))?;
            Ok(len)
        })()
    };
    let outcome = outcome.and_then(|len| {
        if args.finished() {
            Ok(len)
        } else {
            Err(Failure::Corrupt)
        }
    });
    drop(arg_spill);
    match outcome {
        Ok(len) => {
            if let Some(s) = res_spill {
                // The parent reads and removes it; until then it keeps the segment "in use" for `clean`.
                s.register(ctx.parent_stamp);
            }
            res.status = S_OK;
            res.len = len as u64;
        }
        Err(f) => {
            if res_spill.take().is_some() {
                ctx.namer.remove(slot.id, Dir::Results);
            }
            match f {
                Failure::Corrupt => res.status = S_CORRUPT,
                Failure::Decode(i, e) => put_message(res, S_DECODE, i, Some(e.len() as u64), e.reason()),
                Failure::Encode(i, e) => put_message(res, S_ENCODE, i, None, e.reason()),
                Failure::Spill(len, msg) => put_message(res, S_SPILL_FAILED, 0, Some(len as u64), &msg),
            }
        }
    }
}

/// Why a task did not produce its results.
enum Failure {
    /// The slot or its area failed validation.
    Corrupt,
    /// Argument `.0` did not decode.
    Decode(usize, DecodeError),
    /// Result `.0` did not encode.
    Encode(usize, EncodeError),
    /// The result spill segment for `.0` bytes could not be created.
    Spill(usize, String),
}

impl From<AreaError> for Failure {
    fn from(e: AreaError) -> Failure {
        match e {
            AreaError::Corrupt => Failure::Corrupt,
            AreaError::Decode(i, e) => Failure::Decode(i, e),
        }
    }
}

/// Where `len` bytes of results go: the result slot's inline array (`len <= RESULT_INLINE`), the
/// task's reserved arena block (`len <= res_cap`), or a new result spill segment (kept in `spill`).
/// The parent applies the same rule to find them.
fn result_area(
    slot: &TaskSlot,
    res: &mut ResultSlot,
    ctx: &Ctx,
    len: usize,
    spill: &mut Option<Spill>,
) -> Result<*mut u8, Failure> {
    if len <= RESULT_INLINE {
        Ok(res.inline.as_mut_ptr())
    } else if len as u64 <= slot.res_cap {
        ctx.arena.range(slot.res_off, slot.res_cap).ok_or(Failure::Corrupt)
    } else {
        match Spill::create(&ctx.namer.name(slot.id, Dir::Results), len) {
            Ok(s) => Ok(spill.insert(s).ptr()),
            Err(e) => Err(Failure::Spill(len, e.to_string())),
        }
    }
}

/// The index of the first result whose encoding fails (for the error report).
fn first_encode_failure<R: Serialize + DeserializeOwned + Send + 'static>(out: &[R]) -> usize {
    out.iter()
        .position(|v| <Serde as Codec<R>>::encoded_len(v).is_err())
        .unwrap_or(0)
}

/// The trampoline for `fn(A) -> R`. `done` counts items finished (so a panic can name its item).
///
/// # Safety
/// See [`Trampoline`].
pub unsafe fn trampoline<A, R>(func: usize, slot: &TaskSlot, res: &mut ResultSlot, ctx: &Ctx, done: &mut usize)
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    // SAFETY: the caller guarantees `func` is an `fn(A) -> R` (verified by the task tag, which only the
    // parent can compute, from a real `fn(A) -> R`).
    let f: fn(A) -> R = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    // SAFETY: forwarded from the caller (arena validity).
    unsafe { run_items(slot, res, ctx, done, f) }
}

/// The trampoline for `fn(A, B) -> R` over `(A, B)` tuples.
///
/// # Safety
/// See [`Trampoline`] (`func` is an `fn(A, B) -> R`).
pub unsafe fn trampoline2<A, B, R>(func: usize, slot: &TaskSlot, res: &mut ResultSlot, ctx: &Ctx, done: &mut usize)
where
    A: Serialize + DeserializeOwned + Send + 'static,
    B: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    // SAFETY: the caller guarantees `func` is an `fn(A, B) -> R` (tag-verified, as for `trampoline`).
    let f: fn(A, B) -> R = unsafe { std::mem::transmute::<usize, fn(A, B) -> R>(func) };
    // SAFETY: forwarded from the caller (arena validity).
    unsafe { run_items(slot, res, ctx, done, |(a, b): (A, B)| f(a, b)) }
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

/// SipHash-2-4 of the little-endian bytes of `words` (a whole number of 8-byte blocks).
#[inline]
fn siphash24(k0: u64, k1: u64, words: &[u64; 8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    #[inline(always)]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let block = |m: u64, v: &mut [u64; 4]| {
        v[3] ^= m;
        round(v);
        round(v);
        v[0] ^= m;
    };
    for &m in words {
        block(m, &mut v);
    }
    // The final block: the message length in bytes in the top byte (no tail bytes).
    block(((words.len() * 8) as u64) << 56, &mut v);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
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

    /// The tag of `slot`'s control fields (everything but the tag and the inline data): SipHash-2-4
    /// keyed with the pool's secret over the fields' little-endian bytes (fixed widths in a fixed
    /// order: an injective encoding). Written out here because it runs twice per task (in the
    /// parent and in the worker) and the standard library's streaming hasher costs several times
    /// more for these 64 bytes; a unit test checks it against the standard library's SipHash-2-4.
    pub fn tag(&self, s: &TaskSlot) -> u64 {
        siphash24(
            self.k0,
            self.k1,
            &[
                s.id,
                s.tramp as u64,
                s.func as u64,
                s.arg_off,
                s.res_off,
                s.arg_len,
                s.res_cap,
                u64::from(s.count) | (u64::from(s.flags) << 32),
            ],
        )
    }

    /// A per-pool nonce for naming spill segments (derived from the key; both the parent and the
    /// workers hold the key, nothing is read from shared memory).
    pub fn nonce(&self) -> u32 {
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new_with_keys(self.k0, self.k1);
        h.write_u64(0x5B111);
        h.finish() as u32
    }
}

impl Default for Key {
    fn default() -> Self {
        Key::new()
    }
}

/// A job's arguments, type-erased for the parent's task table: the items and their encoded
/// lengths, encoded straight into shared memory when a task is dispatched.
pub trait ArgSource: Send {
    /// Bytes of the area holding items `first..first + count`.
    fn bytes(&self, first: usize, count: usize) -> usize;
    /// Writes that area.
    ///
    /// # Safety
    /// `dst` valid for writes of `bytes(first, count)` bytes.
    unsafe fn write(&self, first: usize, count: usize, dst: *mut u8) -> Result<(), EncodeError>;
}

struct Items<T> {
    items: Vec<T>,
    /// Encoded lengths (variable-size encodings only).
    lens: Vec<usize>,
    /// `ends[i]`: area bytes of items `0..=i` (variable-size encodings only).
    ends: Vec<usize>,
    fixed: Option<usize>,
}

impl<T: Serialize + DeserializeOwned + Send + 'static> ArgSource for Items<T> {
    fn bytes(&self, first: usize, count: usize) -> usize {
        match self.fixed {
            Some(n) => count * n,
            None if count == 0 => 0,
            None => self.ends[first + count - 1] - if first == 0 { 0 } else { self.ends[first - 1] },
        }
    }

    unsafe fn write(&self, first: usize, count: usize, dst: *mut u8) -> Result<(), EncodeError> {
        let lens = if self.fixed.is_some() {
            &[][..]
        } else {
            &self.lens[first..first + count]
        };
        // SAFETY: forwarded from the caller; `bytes` is the area length of exactly these items.
        unsafe { write_area(&self.items[first..first + count], lens, dst, self.bytes(first, count)) }
    }
}

/// A job as the parent keeps it: the function, its arguments, and how to name its types' errors.
pub struct JobSpec {
    /// Trampoline address.
    pub tramp: usize,
    /// User function address.
    pub func: usize,
    /// The arguments.
    pub args: Box<dyn ArgSource>,
    /// Number of items.
    pub items: usize,
    /// The result's fixed encoded size, if it has one.
    pub res_fixed: Option<usize>,
    /// A decode error for the argument type (rebuilt from a worker's report).
    pub arg_error: fn(usize, String) -> DecodeError,
    /// An encode error for the result type (rebuilt from a worker's report).
    pub res_error: fn(String) -> EncodeError,
}

impl std::fmt::Debug for JobSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSpec").field("items", &self.items).finish()
    }
}

fn arg_error<T>(len: usize, reason: String) -> DecodeError {
    DecodeError::new::<T>(len, reason)
}

fn res_error<T>(reason: String) -> EncodeError {
    EncodeError::new::<T>(reason)
}

impl JobSpec {
    /// A job running `f` on `items`; an item that cannot be encoded is an error now.
    pub fn new<A, R>(f: fn(A) -> R, items: Vec<A>) -> Result<JobSpec, EncodeError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        Self::raw::<A, R>(trampoline::<A, R> as Trampoline as usize, f as usize, items)
    }

    /// A job running the two-argument `f` on `items` (each a pair).
    pub fn new2<A, B, R>(f: fn(A, B) -> R, items: Vec<(A, B)>) -> Result<JobSpec, EncodeError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        B: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        Self::raw::<(A, B), R>(trampoline2::<A, B, R> as Trampoline as usize, f as usize, items)
    }

    fn raw<T, R>(tramp: usize, func: usize, items: Vec<T>) -> Result<JobSpec, EncodeError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let (_, lens) = area_len(&items)?;
        let ends = lens
            .iter()
            .scan(0usize, |acc, &n| {
                *acc += PREFIX + n;
                Some(*acc)
            })
            .collect();
        let n = items.len();
        Ok(JobSpec {
            tramp,
            func,
            args: Box::new(Items {
                items,
                lens,
                ends,
                fixed: fixed::<T>(),
            }),
            items: n,
            res_fixed: fixed::<R>(),
            arg_error: arg_error::<T>,
            res_error: res_error::<R>,
        })
    }
}

/// Where a task's arguments go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgPlace {
    /// Inline in the task slot.
    Inline,
    /// In the task's arena block, at its start.
    Arena,
    /// In the task's argument spill segment.
    Spill,
}

/// The shared-memory plan of one task: where its arguments go and how much arena it needs.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Area bytes of the arguments.
    pub arg_len: usize,
    /// Where they go.
    pub place: ArgPlace,
    /// Result bytes reserved in the arena block (after the arguments, if those are there too).
    pub res_cap: usize,
}

impl Plan {
    /// Plans a task of `count` items whose arguments take `arg_len` bytes, in an arena of `arena`
    /// bytes (`res_fixed`: the result type's fixed size, if any).
    pub fn new(arg_len: usize, count: usize, res_fixed: Option<usize>, arena: usize) -> Plan {
        let place = if arg_len <= TASK_INLINE {
            ArgPlace::Inline
        } else if arg_len <= arena {
            ArgPlace::Arena
        } else {
            ArgPlace::Spill
        };
        // Results: exactly their size for a fixed-size type; an estimate otherwise (larger results
        // go to a spill segment, smaller ones leave the rest of the block unused). Nothing when they
        // fit inline, and never more than a quarter of the arena (nor more than the arguments leave).
        let args_here = if place == ArgPlace::Arena { arg_len } else { 0 };
        let limit = (arena / 4).min(arena.saturating_sub(args_here));
        let res_cap = match res_fixed {
            Some(n) => {
                let w = count.saturating_mul(n);
                if w <= RESULT_INLINE || w > limit {
                    0
                } else {
                    w
                }
            }
            None => {
                let w = arg_len.max(count.saturating_mul(64)).max(256).min(limit);
                if w <= RESULT_INLINE {
                    0
                } else {
                    w
                }
            }
        };
        Plan {
            arg_len,
            place,
            res_cap,
        }
    }

    /// Arena bytes the task's block needs (0: none).
    pub fn arena_bytes(&self) -> usize {
        let a = if self.place == ArgPlace::Arena { self.arg_len } else { 0 };
        a + self.res_cap
    }
}

/// Builds the slot for items `first..first+count` of `job` as task `id` with `plan`, writing the
/// arguments inline, into the arena block at `block` (the parent's mapping of the arena), or into
/// `spill`.
///
/// # Safety
/// A block of `plan.arena_bytes()` at `block` must lie inside `arena` and belong to this task; with
/// `ArgPlace::Spill`, `spill` must be `Some` and hold `plan.arg_len` bytes.
#[allow(clippy::too_many_arguments)]
pub unsafe fn make_slot(
    key: &Key,
    id: u64,
    job: &JobSpec,
    first: usize,
    count: usize,
    plan: &Plan,
    block: Option<u64>,
    arena: Arena,
    spill: Option<&Spill>,
) -> Result<TaskSlot, EncodeError> {
    let mut s = TaskSlot {
        id,
        tag: 0,
        tramp: to_offset(job.tramp),
        func: to_offset(job.func),
        arg_off: 0,
        res_off: 0,
        arg_len: plan.arg_len as u64,
        res_cap: plan.res_cap as u64,
        count: count as u32,
        flags: 0,
        inline: [0; TASK_INLINE],
    };
    let base = block.unwrap_or(0);
    match plan.place {
        ArgPlace::Inline => {
            s.flags |= F_INLINE_ARGS;
            // SAFETY: arg_len <= TASK_INLINE (the plan), the slot's inline array is private.
            unsafe { job.args.write(first, count, s.inline.as_mut_ptr())? };
        }
        ArgPlace::Arena => {
            s.arg_off = base;
            // SAFETY: the block (ours, inside the arena, by the caller) starts with arg_len bytes
            // for the arguments.
            unsafe { job.args.write(first, count, arena.base.add(base as usize))? };
        }
        ArgPlace::Spill => {
            s.flags |= F_SPILL_ARGS;
            let sp = spill.expect("a spilled task has its segment");
            debug_assert!(sp.len() >= plan.arg_len);
            // SAFETY: the spill payload holds arg_len bytes (the caller).
            unsafe { job.args.write(first, count, sp.ptr())? };
        }
    }
    if plan.res_cap > 0 {
        s.res_off = base
            + if plan.place == ArgPlace::Arena {
                plan.arg_len as u64
            } else {
                0
            };
    }
    s.tag = key.tag(&s);
    Ok(s)
}

/// Runs a slot (after verifying its tag) and returns the result slot to send back.
pub fn run_slot(key: &Key, slot: &TaskSlot, ctx: &Ctx) -> ResultSlot {
    let mut r = ResultSlot {
        id: slot.id,
        status: S_OK,
        item: 0,
        len: 0,
        inline: [0; RESULT_INLINE],
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
        unsafe { tramp(func, slot, &mut r, ctx, &mut done) }
    }));
    if let Err(payload) = outcome {
        let msg = panic_message(&payload);
        put_message(&mut r, S_PANICKED, done, None, &msg);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn upper(s: String) -> String {
        s.to_uppercase()
    }

    fn ctx(arena: &mut [u8]) -> Ctx {
        Ctx {
            arena: Arena {
                base: arena.as_mut_ptr(),
                len: arena.len(),
            },
            namer: Namer {
                parent: std::process::id(),
                nonce: 0x7e57,
            },
            parent_stamp: (std::process::id(), 0),
        }
    }

    fn slot_for(key: &Key, job: &JobSpec, arena: &mut [u8]) -> (TaskSlot, Plan) {
        let plan = Plan::new(job.args.bytes(0, job.items), job.items, job.res_fixed, arena.len());
        let a = Arena {
            base: arena.as_mut_ptr(),
            len: arena.len(),
        };
        assert!(plan.arena_bytes() <= arena.len());
        // SAFETY: the block at 0 covers `plan.arena_bytes()` bytes of the test arena (asserted).
        let slot = unsafe { make_slot(key, 1, job, 0, job.items, &plan, Some(0), a, None) }.unwrap();
        (slot, plan)
    }

    #[test]
    fn a_task_round_trips_inline_and_through_the_arena() {
        let key = Key::new();
        let mut arena = vec![0u8; 1 << 16];
        for items in [vec!["ab".to_string()], (0..50).map(|i| format!("item-{i}")).collect()] {
            let job = JobSpec::new(upper, items.clone()).unwrap();
            let (slot, plan) = slot_for(&key, &job, &mut arena);
            let r = run_slot(&key, &slot, &ctx(&mut arena));
            assert_eq!(r.status, S_OK);
            let len = r.len as usize;
            let src = if len <= RESULT_INLINE {
                r.inline.as_ptr()
            } else {
                assert!(len <= plan.res_cap);
                arena[slot.res_off as usize..].as_ptr()
            };
            // SAFETY: `src` holds `len` bytes (inline array or the reserved block).
            let recs = unsafe { split_area(src, len, items.len(), None) }.unwrap();
            let back: Vec<String> = recs.into_iter().map(|b| String::from_utf8(b).unwrap()).collect();
            assert_eq!(back, items.iter().map(|s| s.to_uppercase()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_bad_tag_or_scribbled_framing_is_corrupt_never_a_wild_read() {
        let key = Key::new();
        let mut arena = vec![0u8; 1 << 16];
        let job = JobSpec::new(upper, vec!["abc".to_string(), "de".to_string()]).unwrap();
        let (slot, _) = slot_for(&key, &job, &mut arena);
        let mut forged = slot;
        forged.count = 1000;
        assert_eq!(run_slot(&key, &forged, &ctx(&mut arena)).status, S_CORRUPT);
        // The inline bytes are not covered by the tag: every scribbled length prefix is bounded.
        for bad in [u64::MAX, 1 << 40, 57, 12, 0] {
            let mut s = slot;
            s.inline[..8].copy_from_slice(&bad.to_ne_bytes());
            let r = run_slot(&key, &s, &ctx(&mut arena));
            assert!(r.status == S_CORRUPT || r.status == S_DECODE, "status {}", r.status);
        }
        // Garbage records are decode errors (a String must be UTF-8), with the item's index.
        let mut s = slot;
        s.inline[8..11].copy_from_slice(&[0xff, 0xfe, 0xfd]);
        let r = run_slot(&key, &s, &ctx(&mut arena));
        assert_eq!((r.status, r.item), (S_DECODE, 0));
        // The parent's splitter bounds every length too.
        let area = [5u8, 0, 0, 0, 0, 0, 0, 0, 1, 2];
        // SAFETY: `area` is readable for its length.
        unsafe {
            assert!(split_area(area.as_ptr(), area.len(), 1, None).is_none());
            assert!(split_area(area.as_ptr(), area.len(), 9, None).is_none());
            assert!(split_area(area.as_ptr(), area.len(), 1, Some(8)).is_none());
            assert_eq!(split_area(area.as_ptr(), 8, 1, Some(8)).unwrap()[0], area[..8].to_vec());
        }
    }

    #[test]
    fn the_tag_is_siphash_2_4() {
        for (k0, k1) in [
            (0, 0),
            (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908),
            (u64::MAX, 12345),
        ] {
            let words = [1, u64::MAX, 3 << 40, 0, 5, 6, 0x8000_0000_0000_0000, 8];
            #[allow(deprecated)]
            let mut h = std::hash::SipHasher::new_with_keys(k0, k1);
            for w in words {
                h.write(&w.to_le_bytes());
            }
            assert_eq!(siphash24(k0, k1, &words), h.finish());
        }
    }

    #[test]
    fn plans_keep_small_tasks_inline_and_bound_reservations() {
        let p = Plan::new(8, 1, Some(8), 1 << 20);
        assert_eq!((p.place, p.res_cap, p.arena_bytes()), (ArgPlace::Inline, 0, 0));
        let p = Plan::new(8 * 1000, 1000, Some(8), 1 << 20);
        assert_eq!((p.place, p.res_cap), (ArgPlace::Arena, 8000));
        let p = Plan::new(10 << 20, 1, None, 1 << 20);
        assert_eq!(p.place, ArgPlace::Spill);
        assert!(p.res_cap <= (1 << 20) / 4);
        let p = Plan::new(1 << 20, 1, None, 1 << 20);
        assert_eq!((p.place, p.res_cap), (ArgPlace::Arena, 0));
    }
}
