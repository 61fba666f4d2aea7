//! How a typed channel moves a `T`: [`Serde`] (any serde type, the default) or [`Plain`] (plain
//! shared-memory data, its own bytes).
//!
//! Python pickles whatever crosses a process boundary; ringfork's pickle is serde, encoded with
//! [postcard](https://docs.rs/postcard) (compact varints, `no_std`, one maintained format; the
//! measurements behind the choice are in `docs/architecture.md`). A channel's encoding is a type
//! parameter with a default, so `Queue::<Job>` takes any `Serialize + DeserializeOwned` type while
//! `Queue::<Tick, Plain>` moves a `#[derive(ShmSafe)]` struct by copy with no encoding step.
//!
//! [`Serde`] has *fast paths* chosen by the type alone (a constant after monomorphization): the
//! integer and float scalars travel as their native-endian bytes (fixed size, so a `Queue<u64>` keeps
//! the fixed-slot ring), and a top-level `Vec<u8>` or `String` is its bytes without a length prefix
//! (the receiver reuses the buffer, no second copy). Everything else is postcard.
//!
//! ```
//! use ringfork::encoding::{Encoding, Plain, Serde};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Job { id: u64, path: String }
//!
//! #[derive(Clone, Copy, ringfork::ShmSafe)]
//! #[repr(C)]
//! struct Tick { seq: u64, price: f64 }
//!
//! fn takes<T, E: Encoding<T>>() {}
//! takes::<Job, Serde>();   // any serde type
//! takes::<u64, Serde>();   // a scalar: fixed size, no postcard
//! takes::<Tick, Plain>();  // plain data: its bytes
//! ```
//!
//! A value whose `Serialize` fails is an [`EncodeError`] (nothing was sent); bytes that do not decode
//! as the receiver's type (another binary's type, a hostile peer) are a [`DecodeError`], never a
//! panic or undefined behaviour.

use ringfork_core::ShmSafe;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::{Any, TypeId};
use std::fmt;
use std::mem::size_of;

/// The serde encoding (postcard, with scalar and byte-buffer fast paths): the default of every
/// channel. See the [module docs](self).
///
/// ```
/// use ringfork::encoding::{Encoding, Serde};
/// fn any_serde<T, E: Encoding<T>>() {}
/// any_serde::<Vec<String>, Serde>();
/// any_serde::<std::collections::HashMap<String, Vec<f64>>, Serde>();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Serde;

/// Plain shared-memory data ([`ShmSafe`]): the value's own `size_of::<T>()` bytes, no encoding step.
///
/// ```
/// use ringfork::encoding::{Encoding, Plain};
///
/// #[derive(Clone, Copy, ringfork::ShmSafe)]
/// #[repr(C)]
/// struct Tick { seq: u64, price: f64 }
///
/// fn plain_ok<T, E: Encoding<T>>() {}
/// plain_ok::<Tick, Plain>();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

/// How a channel moves a `T`: implemented by [`Serde`] (for serde types) and [`Plain`] (for
/// [`ShmSafe`] types) only. Name it in bounds (`E: Encoding<T>`); it cannot be implemented outside
/// ringfork.
///
/// ```
/// use ringfork::encoding::{Encoding, Serde};
/// fn is_encoding<T, E: Encoding<T>>() {}
/// is_encoding::<String, Serde>();
/// ```
pub trait Encoding<T>: private::Codec<T> + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Encoding<T> for Serde {}
impl<T: ShmSafe> Encoding<T> for Plain {}

#[allow(unused_imports)] // used by the channels
pub(crate) use private::Codec;

/// A value could not be encoded: its `Serialize` impl failed (or it is a sequence of unknown length,
/// which postcard cannot encode). Nothing was sent.
///
/// ```
/// let e = ringfork::encoding::EncodeError::new::<String>("custom error");
/// assert!(e.to_string().contains("alloc::string::String"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    type_name: &'static str,
    reason: String,
}

impl EncodeError {
    /// An encode error for a `T`, with the serializer's reason.
    pub fn new<T: ?Sized>(reason: impl Into<String>) -> EncodeError {
        EncodeError {
            type_name: std::any::type_name::<T>(),
            reason: reason.into(),
        }
    }

    /// The type that failed to encode.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The serializer's reason (without the type), e.g. to rebuild the error in another process.
    pub(crate) fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot encode a `{}`: {} (its Serialize impl failed, or it serializes a sequence of unknown \
             length); nothing was sent",
            self.type_name, self.reason
        )
    }
}

impl std::error::Error for EncodeError {}

/// A received record does not decode as the receiver's type: the two ends disagree on the type (two
/// binaries built from different definitions), or a peer wrote garbage. The record was consumed; the
/// channel stays usable.
///
/// ```
/// let e = ringfork::encoding::DecodeError::new::<u32>(3, "unexpected end of input");
/// assert_eq!(e.len(), 3);
/// assert!(e.to_string().contains("u32"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    type_name: &'static str,
    len: usize,
    reason: String,
}

impl DecodeError {
    /// A decode error for a `T` from a record of `len` bytes, with the deserializer's reason.
    pub fn new<T: ?Sized>(len: usize, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            type_name: std::any::type_name::<T>(),
            len,
            reason: reason.into(),
        }
    }

    /// The type the record was decoded as.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The record's length in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The deserializer's reason (without the type and length), e.g. to rebuild the error in
    /// another process.
    pub(crate) fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a record of {} bytes does not decode as `{}`: {}; both ends must use the same type (the record \
             was consumed, the channel goes on)",
            self.len, self.type_name, self.reason
        )
    }
}

impl std::error::Error for DecodeError {}

/// A postcard flavor writing through a raw pointer (never a reference: the destination may be shared
/// memory), failing instead of writing past `end`.
struct RawOut {
    cur: *mut u8,
    left: usize,
}

impl postcard::ser_flavors::Flavor for RawOut {
    type Output = usize;

    #[inline]
    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        if self.left == 0 {
            return Err(postcard::Error::SerializeBufferFull);
        }
        // SAFETY: `cur` is valid for writes of `left` (>= 1) more bytes (the contract of
        // `encode_raw`, which built this flavor from `dst`/`len`).
        unsafe {
            self.cur.write(b);
            self.cur = self.cur.add(1);
        }
        self.left -= 1;
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if data.len() > self.left {
            return Err(postcard::Error::SerializeBufferFull);
        }
        // SAFETY: `cur` is valid for writes of `left` >= data.len() bytes; `data` is private memory
        // (a value being serialized), so the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.cur, data.len());
            self.cur = self.cur.add(data.len());
        }
        self.left -= data.len();
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.left)
    }
}

/// Which fast path a type takes (a constant per monomorphized `T`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fast {
    /// A scalar of this many bytes, moved as its native-endian bytes.
    Scalar(usize),
    /// `Vec<u8>`: the bytes.
    Bytes,
    /// `String`: the UTF-8 bytes.
    Str,
    /// postcard.
    None,
}

macro_rules! scalar_kind {
    ($id:expr; $($t:ty),*) => {
        $( if $id == TypeId::of::<$t>() { return Fast::Scalar(size_of::<$t>()); } )*
    };
}

#[inline(always)]
fn fast<T: 'static>() -> Fast {
    let id = TypeId::of::<T>();
    scalar_kind!(id; u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);
    if id == TypeId::of::<Vec<u8>>() {
        return Fast::Bytes;
    }
    if id == TypeId::of::<String>() {
        return Fast::Str;
    }
    Fast::None
}

/// The bytes of a fast-path scalar `v` (only called when `fast::<T>()` is `Scalar(n)`).
#[inline(always)]
fn scalar_bytes<T: 'static>(v: &T, n: usize) -> &[u8] {
    debug_assert_eq!(n, size_of::<T>());
    // SAFETY: T is one of the primitive integer/float types listed in `fast` (checked by TypeId), which
    // have no padding and no invalid bit patterns; the slice covers exactly the value.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, n) }
}

/// Reads a fast-path scalar from `n` bytes at `src` (only called when `fast::<T>()` is `Scalar(n)`).
///
/// # Safety
/// `src` valid for reads of `n == size_of::<T>()` bytes.
#[inline(always)]
unsafe fn scalar_read<T: 'static>(src: *const u8) -> T {
    // SAFETY: T is a primitive integer/float (checked by TypeId in `fast`): every bit pattern is a
    // valid value; the caller guarantees `src` is readable for size_of::<T>() bytes; unaligned read.
    unsafe { (src as *const T).read_unaligned() }
}

fn as_any<T: 'static>(v: &T) -> &dyn Any {
    v
}

fn postcard_reason(e: postcard::Error) -> String {
    e.to_string()
}

mod private {
    use super::*;

    /// The crate-internal face of an [`Encoding`] (see `ENCODING` in the architecture notes).
    pub trait Codec<T> {
        /// `Some(n)`: every value encodes to exactly `n` bytes. `None`: variable.
        fn fixed_size() -> Option<usize>;
        /// The exact number of bytes [`Self::encode_raw`] writes.
        fn encoded_len(v: &T) -> Result<usize, EncodeError>;
        /// Writes exactly `len` bytes (`len` must be `encoded_len(v)`) through raw pointer writes.
        /// Returns an error (having written an unspecified prefix) if `len` is not the encoded length.
        ///
        /// # Safety
        /// `dst` valid for writes of `len` bytes.
        unsafe fn encode_raw(v: &T, dst: *mut u8, len: usize) -> Result<(), EncodeError>;
        /// Encodes into `dst` in one pass if the encoding takes at most `cap` bytes: `Ok(Some(len))`
        /// with the bytes written, `Ok(None)` if it does not fit (an unspecified prefix written).
        ///
        /// # Safety
        /// `dst` valid for writes of `cap` bytes.
        unsafe fn encode_bounded(v: &T, dst: *mut u8, cap: usize) -> Result<Option<usize>, EncodeError>;
        /// The encoded bytes in a new `Vec`.
        fn encode_vec(v: &T) -> Result<Vec<u8>, EncodeError>;
        /// Decodes an owned buffer, reusing it where it can (`Vec<u8>`, `String`).
        fn decode_vec(bytes: Vec<u8>) -> Result<T, DecodeError>;
        /// Decodes private bytes (all of them).
        fn decode_slice(bytes: &[u8]) -> Result<T, DecodeError>;
        /// Decodes `len` bytes at `src`, which may be shared memory another process writes
        /// concurrently (fixed-size values are one unaligned read, others are copied out first).
        ///
        /// # Safety
        /// `src` valid for reads of `len` bytes.
        unsafe fn decode_raw(src: *const u8, len: usize) -> Result<T, DecodeError>;
    }

    /// The largest record `decode_raw` copies onto the stack instead of into a `Vec`.
    const STACK_DECODE: usize = 1024;

    impl<T: Serialize + DeserializeOwned + Send + 'static> Codec<T> for Serde {
        #[inline(always)]
        fn fixed_size() -> Option<usize> {
            match fast::<T>() {
                Fast::Scalar(n) => Some(n),
                _ => None,
            }
        }

        #[inline]
        fn encoded_len(v: &T) -> Result<usize, EncodeError> {
            match fast::<T>() {
                Fast::Scalar(n) => Ok(n),
                Fast::Bytes => Ok(as_any(v).downcast_ref::<Vec<u8>>().map_or(0, Vec::len)),
                Fast::Str => Ok(as_any(v).downcast_ref::<String>().map_or(0, String::len)),
                Fast::None => postcard::serialize_with_flavor(v, postcard::ser_flavors::Size::default())
                    .map_err(|e| EncodeError::new::<T>(postcard_reason(e))),
            }
        }

        #[inline]
        unsafe fn encode_raw(v: &T, dst: *mut u8, len: usize) -> Result<(), EncodeError> {
            let raw: &[u8] = match fast::<T>() {
                Fast::Scalar(n) => scalar_bytes(v, n),
                Fast::Bytes => as_any(v).downcast_ref::<Vec<u8>>().map_or(&[], Vec::as_slice),
                Fast::Str => as_any(v).downcast_ref::<String>().map_or(&[], String::as_bytes),
                Fast::None => {
                    let left = postcard::serialize_with_flavor(v, RawOut { cur: dst, left: len })
                        .map_err(|e| EncodeError::new::<T>(postcard_reason(e)))?;
                    return if left == 0 {
                        Ok(())
                    } else {
                        Err(EncodeError::new::<T>(format!(
                            "the value encoded to {} bytes, not the {len} reserved (its Serialize impl is not \
                             deterministic)",
                            len - left
                        )))
                    };
                }
            };
            if raw.len() != len {
                return Err(EncodeError::new::<T>(format!(
                    "the value is {} bytes, not the {len} reserved",
                    raw.len()
                )));
            }
            // SAFETY: the caller guarantees `dst` is writable for `len` == raw.len() bytes; `raw` is the
            // private value being sent, so the ranges do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(raw.as_ptr(), dst, len) };
            Ok(())
        }

        #[inline]
        unsafe fn encode_bounded(v: &T, dst: *mut u8, cap: usize) -> Result<Option<usize>, EncodeError> {
            if !matches!(fast::<T>(), Fast::None) {
                let len = Self::encoded_len(v)?;
                if len > cap {
                    return Ok(None);
                }
                // SAFETY: `dst` is writable for `cap` >= `len` bytes (caller).
                return unsafe { Self::encode_raw(v, dst, len) }.map(|()| Some(len));
            }
            match postcard::serialize_with_flavor(v, RawOut { cur: dst, left: cap }) {
                Ok(left) => Ok(Some(cap - left)),
                Err(postcard::Error::SerializeBufferFull) => Ok(None),
                Err(e) => Err(EncodeError::new::<T>(postcard_reason(e))),
            }
        }

        fn encode_vec(v: &T) -> Result<Vec<u8>, EncodeError> {
            match fast::<T>() {
                Fast::Scalar(n) => Ok(scalar_bytes(v, n).to_vec()),
                Fast::Bytes => Ok(as_any(v).downcast_ref::<Vec<u8>>().cloned().unwrap_or_default()),
                Fast::Str => Ok(as_any(v)
                    .downcast_ref::<String>()
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default()),
                Fast::None => postcard::to_allocvec(v).map_err(|e| EncodeError::new::<T>(postcard_reason(e))),
            }
        }

        fn decode_vec(bytes: Vec<u8>) -> Result<T, DecodeError> {
            match fast::<T>() {
                Fast::Bytes => {
                    let mut out: Option<T> = None;
                    if let Some(slot) = (&mut out as &mut dyn Any).downcast_mut::<Option<Vec<u8>>>() {
                        *slot = Some(bytes);
                    }
                    out.ok_or_else(|| DecodeError::new::<T>(0, "internal: fast path type mismatch"))
                }
                Fast::Str => {
                    let len = bytes.len();
                    let s = String::from_utf8(bytes)
                        .map_err(|e| DecodeError::new::<T>(len, format!("not UTF-8: {}", e.utf8_error())))?;
                    let mut out: Option<T> = None;
                    if let Some(slot) = (&mut out as &mut dyn Any).downcast_mut::<Option<String>>() {
                        *slot = Some(s);
                    }
                    out.ok_or_else(|| DecodeError::new::<T>(len, "internal: fast path type mismatch"))
                }
                _ => Self::decode_slice(&bytes),
            }
        }

        fn decode_slice(bytes: &[u8]) -> Result<T, DecodeError> {
            match fast::<T>() {
                Fast::Scalar(n) => {
                    if bytes.len() != n {
                        return Err(DecodeError::new::<T>(
                            bytes.len(),
                            format!("expected exactly {n} bytes"),
                        ));
                    }
                    // SAFETY: `bytes` is readable for n == size_of::<T>() bytes.
                    Ok(unsafe { scalar_read::<T>(bytes.as_ptr()) })
                }
                Fast::Bytes | Fast::Str => Self::decode_vec(bytes.to_vec()),
                Fast::None => match postcard::take_from_bytes::<T>(bytes) {
                    Ok((v, [])) => Ok(v),
                    Ok((_, rest)) => Err(DecodeError::new::<T>(
                        bytes.len(),
                        format!("{} bytes left over after the value", rest.len()),
                    )),
                    Err(e) => Err(DecodeError::new::<T>(bytes.len(), postcard_reason(e))),
                },
            }
        }

        #[inline]
        unsafe fn decode_raw(src: *const u8, len: usize) -> Result<T, DecodeError> {
            if let Fast::Scalar(n) = fast::<T>() {
                if len != n {
                    return Err(DecodeError::new::<T>(len, format!("expected exactly {n} bytes")));
                }
                // SAFETY: the caller guarantees `src` is readable for `len` == size_of::<T>() bytes.
                return Ok(unsafe { scalar_read::<T>(src) });
            }
            if matches!(fast::<T>(), Fast::None) && len <= STACK_DECODE {
                // A small record (a queue's inline message) is copied out onto the stack and decoded
                // from there: no allocation for the bytes, which the decoder does not keep.
                let mut stack = std::mem::MaybeUninit::<[u8; STACK_DECODE]>::uninit();
                // SAFETY: `src` is readable for `len` bytes (caller) and `len` <= the buffer's size;
                // the buffer is private (no overlap); the first `len` bytes are initialized by the copy
                // before the slice over them is formed.
                let bytes = unsafe {
                    std::ptr::copy_nonoverlapping(src, stack.as_mut_ptr().cast::<u8>(), len);
                    std::slice::from_raw_parts(stack.as_ptr().cast::<u8>(), len)
                };
                return Self::decode_slice(bytes);
            }
            let mut buf = Vec::with_capacity(len);
            // SAFETY: `src` is readable for `len` bytes (caller); `buf` has capacity `len` and is
            // private, so the ranges do not overlap; the `len` bytes are initialized before set_len.
            unsafe {
                std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), len);
                buf.set_len(len);
            }
            Self::decode_vec(buf)
        }
    }

    impl<T: ShmSafe> Codec<T> for Plain {
        #[inline(always)]
        fn fixed_size() -> Option<usize> {
            Some(size_of::<T>())
        }

        #[inline(always)]
        fn encoded_len(_: &T) -> Result<usize, EncodeError> {
            Ok(size_of::<T>())
        }

        #[inline]
        unsafe fn encode_raw(v: &T, dst: *mut u8, len: usize) -> Result<(), EncodeError> {
            if len != size_of::<T>() {
                return Err(EncodeError::new::<T>(format!(
                    "a plain value is {} bytes, not the {len} reserved",
                    size_of::<T>()
                )));
            }
            // SAFETY: the caller guarantees `dst` is writable for len == size_of::<T>() bytes.
            unsafe { (dst as *mut T).write_unaligned(*v) };
            Ok(())
        }

        #[inline]
        unsafe fn encode_bounded(v: &T, dst: *mut u8, cap: usize) -> Result<Option<usize>, EncodeError> {
            if size_of::<T>() > cap {
                return Ok(None);
            }
            // SAFETY: `dst` is writable for `cap` >= size_of::<T>() bytes (caller).
            unsafe { (dst as *mut T).write_unaligned(*v) };
            Ok(Some(size_of::<T>()))
        }

        fn encode_vec(v: &T) -> Result<Vec<u8>, EncodeError> {
            let mut out = vec![0u8; size_of::<T>()];
            // SAFETY: `out` is writable for size_of::<T>() bytes.
            unsafe { (out.as_mut_ptr() as *mut T).write_unaligned(*v) };
            Ok(out)
        }

        fn decode_vec(bytes: Vec<u8>) -> Result<T, DecodeError> {
            Self::decode_slice(&bytes)
        }

        fn decode_slice(bytes: &[u8]) -> Result<T, DecodeError> {
            if bytes.len() != size_of::<T>() {
                return Err(DecodeError::new::<T>(
                    bytes.len(),
                    format!("a plain value is exactly {} bytes", size_of::<T>()),
                ));
            }
            // SAFETY: `bytes` is readable for size_of::<T>() bytes; T is ShmSafe, so any bytes are a
            // valid T; unaligned read.
            Ok(unsafe { (bytes.as_ptr() as *const T).read_unaligned() })
        }

        #[inline]
        unsafe fn decode_raw(src: *const u8, len: usize) -> Result<T, DecodeError> {
            if len != size_of::<T>() {
                return Err(DecodeError::new::<T>(
                    len,
                    format!("a plain value is exactly {} bytes", size_of::<T>()),
                ));
            }
            // SAFETY: the caller guarantees `src` is readable for len == size_of::<T>() bytes; T is
            // ShmSafe, so any bytes are a valid T; unaligned read.
            Ok(unsafe { (src as *const T).read_unaligned() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    struct Job {
        id: u64,
        path: String,
        tags: Vec<String>,
        weights: Vec<f64>,
    }

    fn round<T: Clone + PartialEq + fmt::Debug, E: Encoding<T>>(v: T) {
        let len = E::encoded_len(&v).unwrap();
        if let Some(n) = E::fixed_size() {
            assert_eq!(n, len);
        }
        let mut buf = vec![0u8; len];
        // SAFETY: `buf` is writable for `len` bytes.
        unsafe { E::encode_raw(&v, buf.as_mut_ptr(), len).unwrap() };
        assert_eq!(buf, E::encode_vec(&v).unwrap());
        assert_eq!(E::decode_slice(&buf).unwrap(), v);
        // SAFETY: `buf` is readable for `len` bytes.
        assert_eq!(unsafe { E::decode_raw(buf.as_ptr(), len) }.unwrap(), v);
        assert_eq!(E::decode_vec(buf).unwrap(), v);
    }

    #[test]
    fn round_trips_every_path() {
        round::<u64, Serde>(u64::MAX - 3);
        round::<i8, Serde>(-5);
        round::<f64, Serde>(2.5);
        round::<u128, Serde>(1 << 100);
        round::<Vec<u8>, Serde>(vec![1, 2, 3]);
        round::<Vec<u8>, Serde>(vec![]);
        round::<String, Serde>("héllo 世界".into());
        round::<Option<String>, Serde>(Some("x".into()));
        round::<Result<u32, String>, Serde>(Err("bad".into()));
        round::<Job, Serde>(Job {
            id: 7,
            path: "/data/7.csv".into(),
            tags: vec!["a".into()],
            weights: vec![0.5; 8],
        });
        round::<[u32; 3], Plain>([1, 2, 3]);
        round::<u64, Plain>(9);
    }

    #[test]
    fn scalars_are_fixed_and_others_are_not() {
        assert_eq!(<Serde as Codec<u64>>::fixed_size(), Some(8));
        assert_eq!(<Serde as Codec<f32>>::fixed_size(), Some(4));
        assert_eq!(<Serde as Codec<String>>::fixed_size(), None);
        assert_eq!(<Serde as Codec<Job>>::fixed_size(), None);
        assert_eq!(<Plain as Codec<[u8; 5]>>::fixed_size(), Some(5));
        // The fast paths carry no prefix.
        assert_eq!(<Serde as Codec<String>>::encode_vec(&"ab".into()).unwrap(), b"ab");
    }

    #[test]
    fn wrong_lengths_and_garbage_are_errors_not_panics() {
        let v = 5u64;
        let mut buf = [0u8; 4];
        // SAFETY: `buf` is writable for 4 bytes.
        assert!(unsafe { <Serde as Codec<u64>>::encode_raw(&v, buf.as_mut_ptr(), 4) }.is_err());
        let job = Job {
            id: 1,
            path: "p".into(),
            tags: vec![],
            weights: vec![],
        };
        let n = <Serde as Codec<Job>>::encoded_len(&job).unwrap();
        let mut short = vec![0u8; n - 1];
        // SAFETY: `short` is writable for n - 1 bytes.
        assert!(unsafe { <Serde as Codec<Job>>::encode_raw(&job, short.as_mut_ptr(), n - 1) }.is_err());
        let mut long = vec![0u8; n + 1];
        // SAFETY: `long` is writable for n + 1 bytes.
        assert!(unsafe { <Serde as Codec<Job>>::encode_raw(&job, long.as_mut_ptr(), n + 1) }.is_err());
        assert!(<Serde as Codec<u64>>::decode_slice(&[1, 2, 3]).is_err());
        assert!(<Serde as Codec<String>>::decode_vec(vec![0xff, 0xfe]).is_err());
        assert!(<Plain as Codec<u32>>::decode_slice(&[0; 5]).is_err());
        // Every short prefix and some garbage decode to Err, never a panic.
        let good = <Serde as Codec<Job>>::encode_vec(&job).unwrap();
        for cut in 0..good.len() {
            assert!(<Serde as Codec<Job>>::decode_slice(&good[..cut]).is_err());
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            let _ = <Serde as Codec<Job>>::decode_slice(&bytes[..(x % 9) as usize]);
        }
        let e = <Serde as Codec<Job>>::decode_slice(&good[..2]).unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e.type_name().ends_with("Job"));
    }
}
