//! Fixed-capacity payloads that are [`ShmSafe`]: [`FixedBytes`] and [`FixedStr`].
//!
//! `heapless::Vec<u8, N>` and `heapless::String<N>` cannot be stored in shared memory as they are:
//! their layout is not `repr(C)`-stable across builds, and their methods trust the length field, so a
//! peer writing a length above `N` would make `as_slice` read past the buffer. These two types keep
//! the same idea (inline bytes plus a length) with a fixed `repr(C)` layout and a length that is
//! clamped on every read. They convert to and from the `heapless` types.

use crate::ShmSafe;
use core::fmt;

/// Up to `N` bytes stored inline: `repr(C) { len: [u8; 4] (a little-endian u32), bytes: [u8; N] }`.
/// Every field is a byte array, so the type has alignment 1 and no padding for any `N` (padding bytes
/// are uninitialized, and ShmSafe values are copied byte for byte into shared memory).
///
/// Any bit pattern is valid: a length above `N` reads as `N` (the data of a corrupted message is
/// garbage, never out of bounds).
///
/// ```
/// use ringfork_core::payload::FixedBytes;
/// let b = FixedBytes::<8>::from_slice(b"ping").unwrap();
/// assert_eq!((b.as_slice(), b.len()), (&b"ping"[..], 4));
/// assert!(FixedBytes::<8>::new().is_empty());
/// assert!(FixedBytes::<2>::from_slice(b"ping").is_err()); // longer than N
/// assert_eq!(core::mem::align_of::<FixedBytes<8>>(), 1); // no padding, for any N
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct FixedBytes<const N: usize> {
    len: [u8; 4],
    bytes: [u8; N],
}

// SAFETY: repr(C) of two byte arrays: every bit pattern is valid (the length is clamped on read), no
// pointers, no Drop, and no padding (alignment 1), so every byte of a value is initialized.
unsafe impl<const N: usize> ShmSafe for FixedBytes<N> {}

/// Returned when data does not fit a fixed-capacity payload.
///
/// ```
/// use ringfork_core::payload::{CapacityError, FixedBytes, FixedStr};
/// let err = FixedBytes::<4>::from_slice(b"too long").unwrap_err();
/// assert_eq!(err, CapacityError { len: 8, capacity: 4 });
/// assert!(matches!(FixedStr::<2>::from_text("abc"), Err(CapacityError { len: 3, .. })));
/// assert_eq!(err.to_string(), "8 bytes do not fit a payload of capacity 4");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityError {
    /// Bytes offered.
    pub len: usize,
    /// Capacity.
    pub capacity: usize,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes do not fit a payload of capacity {}",
            self.len, self.capacity
        )
    }
}

impl core::error::Error for CapacityError {}

impl<const N: usize> FixedBytes<N> {
    /// Empty.
    pub const fn new() -> Self {
        FixedBytes {
            len: [0; 4],
            bytes: [0; N],
        }
    }

    /// A copy of `data`, or an error if it is longer than `N`.
    pub fn from_slice(data: &[u8]) -> Result<Self, CapacityError> {
        if data.len() > N || data.len() > u32::MAX as usize {
            return Err(CapacityError {
                len: data.len(),
                capacity: N,
            });
        }
        let mut s = Self::new();
        s.bytes[..data.len()].copy_from_slice(data);
        s.len = (data.len() as u32).to_le_bytes();
        Ok(s)
    }

    /// The bytes (length clamped to `N`).
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }

    /// The length (clamped to `N`).
    pub fn len(&self) -> usize {
        (u32::from_le_bytes(self.len) as usize).min(N)
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<const N: usize> Default for FixedBytes<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for FixedBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FixedBytes").field(&self.as_slice()).finish()
    }
}

impl<const N: usize> From<&heapless::Vec<u8, N>> for FixedBytes<N> {
    fn from(v: &heapless::Vec<u8, N>) -> Self {
        // A heapless::Vec<u8, N> never holds more than N bytes.
        Self::from_slice(v.as_slice()).unwrap_or_default()
    }
}

impl<const N: usize> From<&FixedBytes<N>> for heapless::Vec<u8, N> {
    fn from(b: &FixedBytes<N>) -> Self {
        // as_slice() is clamped to N, so this cannot fail.
        heapless::Vec::from_slice(b.as_slice()).unwrap_or_default()
    }
}

/// Up to `N` bytes of UTF-8 stored inline (a [`FixedBytes`] whose constructor only accepts `str`).
///
/// Reading is checked: [`FixedStr::as_str`] returns `None` if a peer wrote invalid UTF-8;
/// [`FixedStr::to_str_lossy_prefix`] returns the longest valid prefix.
///
/// ```
/// use ringfork_core::payload::FixedStr;
/// let s: FixedStr<16> = "héllo".parse().unwrap();
/// assert_eq!(s.as_str(), Some("héllo"));
/// assert_eq!(s.as_bytes().len(), 6); // N counts bytes, not characters
/// assert_eq!(s.to_string(), "héllo");
/// assert!(FixedStr::<4>::try_from("too long").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct FixedStr<const N: usize>(FixedBytes<N>);

// SAFETY: a FixedBytes (see there); UTF-8 validity is checked on read, never assumed.
unsafe impl<const N: usize> ShmSafe for FixedStr<N> {}

impl<const N: usize> FixedStr<N> {
    /// Empty (as [`FixedBytes::new`]); build one from text with `FixedStr::try_from(s)` or `s.parse()`.
    pub const fn new() -> Self {
        FixedStr(FixedBytes::new())
    }

    /// A copy of `s`, or an error if it is longer than `N` bytes (as [`FixedBytes::from_slice`]).
    pub fn from_text(s: &str) -> Result<Self, CapacityError> {
        FixedBytes::from_slice(s.as_bytes()).map(FixedStr)
    }

    /// The string, if the bytes are valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.0.as_slice()).ok()
    }

    /// The longest valid UTF-8 prefix.
    pub fn to_str_lossy_prefix(&self) -> &str {
        let b = self.0.as_slice();
        match core::str::from_utf8(b) {
            Ok(s) => s,
            // valid_up_to() marks a prefix that from_utf8 accepted; re-checking is cheap and avoids unsafe.
            Err(e) => core::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or(""),
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl<const N: usize> TryFrom<&str> for FixedStr<N> {
    type Error = CapacityError;
    fn try_from(s: &str) -> Result<Self, CapacityError> {
        Self::from_text(s)
    }
}

impl<const N: usize> core::str::FromStr for FixedStr<N> {
    type Err = CapacityError;
    fn from_str(s: &str) -> Result<Self, CapacityError> {
        Self::from_text(s)
    }
}

/// The text; bytes that are not valid UTF-8 (a peer wrote them) print as U+FFFD.
impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.as_bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

impl<const N: usize> TryFrom<&[u8]> for FixedBytes<N> {
    type Error = CapacityError;
    fn try_from(data: &[u8]) -> Result<Self, CapacityError> {
        Self::from_slice(data)
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => fmt::Debug::fmt(s, f),
            None => write!(f, "FixedStr(invalid utf-8: {:?})", self.0.as_slice()),
        }
    }
}

impl<const N: usize> From<&heapless::String<N>> for FixedStr<N> {
    fn from(s: &heapless::String<N>) -> Self {
        Self::from_text(s.as_str()).unwrap_or_default()
    }
}

impl<const N: usize> TryFrom<&FixedStr<N>> for heapless::String<N> {
    type Error = core::str::Utf8Error;
    fn try_from(s: &FixedStr<N>) -> Result<Self, Self::Error> {
        let st = core::str::from_utf8(s.as_bytes())?;
        let mut out = heapless::String::new();
        // st.len() <= N by construction (as_bytes is clamped).
        let _ = out.push_str(st);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_hostile_length() {
        let mut b = FixedBytes::<4>::from_slice(b"abcd").unwrap();
        b.len = u32::MAX.to_le_bytes(); // what a hostile peer could write
        assert_eq!(b.as_slice(), b"abcd");
        assert!(FixedBytes::<4>::from_slice(b"abcde").is_err());
    }

    #[test]
    fn no_padding_for_any_capacity() {
        assert_eq!(core::mem::size_of::<FixedBytes<1>>(), 5);
        assert_eq!(core::mem::size_of::<FixedBytes<7>>(), 11);
        assert_eq!(core::mem::align_of::<FixedBytes<240>>(), 1);
        assert_eq!(core::mem::size_of::<FixedStr<3>>(), 7);
    }

    #[test]
    fn str_roundtrip_and_invalid_utf8() {
        let s = FixedStr::<16>::try_from("发车了").unwrap();
        assert_eq!(std::format!("{s}"), "发车了");
        let p: FixedStr<16> = "abc".parse().unwrap();
        assert_eq!(p.as_str(), Some("abc"));
        assert!(FixedStr::<4>::new().as_bytes().is_empty() && FixedBytes::<4>::new().is_empty());
        let mut bad = FixedBytes::<4>::try_from(&b"a\xffb"[..]).unwrap();
        assert_eq!(bad.len(), 3);
        bad = FixedBytes::from_slice(b"ok").unwrap();
        assert_eq!(bad.as_slice(), b"ok");
        assert_eq!(s.as_str(), Some("发车了"));
        let h: heapless::String<16> = (&s).try_into().unwrap();
        assert_eq!(h.as_str(), "发车了");
        let mut bad = s;
        bad.0.bytes[1] = 0xFF;
        assert_eq!(bad.as_str(), None);
        assert_eq!(bad.to_str_lossy_prefix(), "");
        assert!(FixedStr::<2>::try_from("abc").is_err());
        assert!("abc".parse::<FixedStr<2>>().is_err());
    }
}
