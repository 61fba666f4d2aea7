//! [`ShmSafe`]: the marker for types that may live in shared memory.

/// Plain data that may be stored in shared memory and read by another process.
///
/// # Safety
/// Implement it only for types where **every** bit pattern of `size_of::<Self>()` bytes is a valid
/// value (a peer process may write any bytes), that hold no pointers or references (addresses are
/// meaningless in another process), have no `Drop` (nothing runs when shared memory is reused), and
/// are `Copy`. In practice: integers, floats, arrays and `#[repr(C)]` structs of those.
///
/// Not `ShmSafe`: `bool` and `char` (invalid bit patterns; store a `u8`/`u32`), references, `Box`,
/// `Vec`, `String`, enums with fields or with fewer than 2^N variants, and `heapless` collections
/// (their length field is trusted by `as_slice`, so a peer writing a large length makes the reader read
/// out of bounds; use [`crate::payload::FixedBytes`] / [`crate::payload::FixedStr`], which clamp it and
/// convert to and from `heapless` types).
///
/// # Your own structs
/// Derive it: `#[derive(Clone, Copy, ShmSafe)]` on a `#[repr(C)]` struct (with this crate's `derive`
/// feature, or through `ringfork::ShmSafe`). The derive checks at compile time everything the
/// `unsafe impl` below promises — `#[repr(C)]` or `#[repr(transparent)]`, every field `ShmSafe`, no
/// padding — and explains what to change when a check fails:
///
// The example runs when the `derive` feature is on (as in `cargo test --workspace`).
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// use ringfork_core::ShmSafe; // the trait and, with the `derive` feature, the derive
///
/// #[derive(Clone, Copy, Debug, PartialEq, ShmSafe)]
/// #[repr(C)]
/// struct Tick { seq: u64, price: f64, venue: [u8; 8] }
///
/// fn stored<T: ShmSafe>(t: T) -> T { t }
/// assert_eq!(stored(Tick { seq: 1, price: 2.5, venue: [0; 8] }).seq, 1);
/// ```
///
/// Without the derive, implement it by hand and let [`crate::assert_shm_safe_fields!`] check what it
/// can:
/// ```
/// use ringfork_core::ShmSafe;
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// #[repr(C)] // a fixed field order, so binaries built separately agree on the layout
/// struct Tick {
///     seq: u64,
///     price: f64,
///     venue: [u8; 8],
/// }
/// // SAFETY: repr(C), every field is ShmSafe (so every bit pattern is valid), no pointers, no Drop.
/// unsafe impl ShmSafe for Tick {}
///
/// ringfork_core::assert_shm_safe_fields!(Tick: u64, f64, [u8; 8]);
/// ```
/// [`crate::assert_shm_safe_fields!`] checks at compile time that the field types you list are
/// `ShmSafe` and that they add up to the struct's size (no padding, whose bytes would be undefined).
///
/// # Everything else goes through serde
/// `String`, `Vec`, `Option`, enums, `HashMap`s and structs holding them are not plain data. Derive
/// serde's `Serialize + Deserialize` for them instead: any serde type goes through ringfork's
/// `Queue`, `Connection` (pipes) and the pool, encoded on the way in and decoded on the way out.
/// `Value`, `Array` and the other objects that are read in place hold `ShmSafe` data only.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not plain shared-memory data (`ShmSafe`)",
    label = "not `ShmSafe`",
    note = "for a `#[repr(C)]` struct of numbers and arrays, add `#[derive(Clone, Copy, ShmSafe)]` to it",
    note = "any other type (`String`, `Vec`, enums, ...): derive serde's `Serialize + Deserialize`; any serde type goes through `Queue`, `Connection` and the pool, while `Value`/`Array` hold plain data only"
)]
pub unsafe trait ShmSafe: Copy + Send + Sync + 'static {}

macro_rules! impl_shm_safe {
    ($($t:ty),*) => { $(
        // SAFETY: primitive numeric type: every bit pattern is a valid value; no pointers, no Drop.
        unsafe impl ShmSafe for $t {}
    )* };
}

impl_shm_safe!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    ()
);

// SAFETY: an array of ShmSafe elements is valid for every bit pattern element-wise; no padding between
// elements (size is a multiple of alignment).
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}

// Tuples are deliberately not ShmSafe: their layout is unspecified and may contain padding.

/// Compile-time check for a manual `ShmSafe` impl: every listed field type is `ShmSafe` and the field
/// sizes add up to the struct's size (so the struct has no padding bytes).
#[macro_export]
macro_rules! assert_shm_safe_fields {
    ($ty:ty : $($field:ty),+ $(,)?) => {
        const _: () = {
            const fn is_shm_safe<T: $crate::ShmSafe>() {}
            $( is_shm_safe::<$field>(); )+
            is_shm_safe::<$ty>();
            assert!(
                0 $(+ ::core::mem::size_of::<$field>())+ == ::core::mem::size_of::<$ty>(),
                "struct has padding or the field list is incomplete"
            );
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    #[derive(Clone, Copy)]
    #[repr(C)]
    struct P {
        a: u32,
        b: u32,
        c: [u16; 4],
    }
    // SAFETY: repr(C), ShmSafe fields, no padding (checked below).
    unsafe impl ShmSafe for P {}
    crate::assert_shm_safe_fields!(P: u32, u32, [u16; 4]);

    fn takes<T: ShmSafe>(_: T) {}
    #[test]
    fn impls_exist() {
        takes(1u8);
        takes([1.0f64; 3]);
        takes(P { a: 1, b: 2, c: [0; 4] });
        takes(());
    }
}
