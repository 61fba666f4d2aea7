//! `#[derive(ShmSafe)]`: the compile-time check behind a `ShmSafe` impl.
//!
//! Use it through `ringfork::ShmSafe`, or `ringfork_core::ShmSafe` with `ringfork-core`'s `derive`
//! feature; each names both the trait and this derive. The derive writes the `unsafe impl` only
//! after checking, at compile time, each promise that impl makes:
//!
//! | promise | checked by |
//! |---|---|
//! | a layout every binary agrees on | `#[repr(C)]` or `#[repr(transparent)]` on the struct (read by the macro) |
//! | every bit pattern is a valid value, no pointers, no `Drop` | every field type is `ShmSafe` (a trait bound per field) |
//! | no padding bytes (they are uninitialized, so copying them out is undefined) | a `const` assertion: the field sizes add up to `size_of::<Self>()` |
//! | `Copy + Send + Sync + 'static` | the trait's supertraits (derive `Clone, Copy` too) |
//!
//! Enums, unions and generic structs are rejected with an error saying what to do instead.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Error, Fields};

/// Implements `ShmSafe` for a `#[repr(C)]` struct of `ShmSafe` fields with no padding, checked at
/// compile time.
///
/// ```
/// use ringfork_core::ShmSafe;
///
/// #[derive(Clone, Copy, Debug, PartialEq, ShmSafe)]
/// #[repr(C)] // a fixed field order, so binaries built separately agree on the layout
/// struct Tick {
///     seq: u64,
///     price: f64,
///     venue: [u8; 8],
/// }
///
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(transparent)]
/// struct Meters(f64);
///
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C, align(16))] // alignment is fine as long as the fields fill the size
/// struct Pair {
///     ticks: [Tick; 2],
///     total: Meters,
///     _pad: [u8; 8], // explicit padding: a field like any other, so its bytes are always written
/// }
///
/// fn stored_in_shared_memory<T: ShmSafe>(_: T) {}
/// stored_in_shared_memory(Tick { seq: 1, price: 2.5, venue: *b"XNAS\0\0\0\0" });
/// stored_in_shared_memory(Meters(3.0));
/// assert_eq!(core::mem::size_of::<Pair>(), 64);
/// ```
///
/// # What it rejects
/// A struct without `#[repr(C)]` or `#[repr(transparent)]`; a field that is not `ShmSafe` (`bool`,
/// `char`, references, `String`, `Vec`, ...: such types go through serde instead); padding between or
/// after fields (reorder the fields from largest to smallest alignment, or add explicit `_pad: [u8;
/// N]` fields); enums, unions and generic structs. Each is a compile error pointing at the offending
/// part:
///
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(Clone, Copy, ShmSafe)]
/// struct NoRepr { seq: u64 } // error: needs #[repr(C)] or #[repr(transparent)]
/// ```
///
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C)]
/// struct HasBool { seq: u64, ok: bool } // error: `bool` is not ShmSafe (store a u8)
/// ```
///
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C)]
/// struct Padded { small: u8, big: u64 } // error: 7 padding bytes after `small`
/// ```
///
/// The other rejections (enums, unions, generic structs, other `repr`s) are in this crate's tests.
#[proc_macro_derive(ShmSafe)]
pub fn derive_shm_safe(input: TokenStream) -> TokenStream {
    expand(input, quote!(::ringfork_core))
}

/// Implements `ShmSafe` for a `#[repr(C)]` struct of `ShmSafe` fields with no padding, checked at
/// compile time (`ringfork::ShmSafe` names both this derive and the trait).
///
/// ```text
/// use ringfork::ShmSafe;
///
/// #[derive(Clone, Copy, Debug, PartialEq, ShmSafe)]
/// #[repr(C)]
/// struct Tick { seq: u64, price: f64 }
///
/// let v = ringfork::Value::new(Tick { seq: 1, price: 2.5 })?;
/// ```
///
/// The derive rejects, each with a compile error pointing at the offending part: a struct without
/// `#[repr(C)]` or `#[repr(transparent)]` (Rust's default layout may differ between builds); a field
/// that is not `ShmSafe` (`bool`, `char`, references, `String`, `Vec`, ...: such types derive serde's
/// `Serialize + Deserialize` and go through `Queue`, `Connection` and the pool instead); padding
/// between or after fields (reorder them from largest to smallest alignment, or add explicit `_pad:
/// [u8; N]` fields); enums, unions and generic structs. The struct must also be `Clone + Copy`.
///
/// This is the same derive as `ringfork_core::ShmSafe`, except that the code it generates names the
/// trait through `::ringfork::core`, so a program that depends on `ringfork` alone can use it. The
/// example above runs as `host/examples/mutex_recovery.rs` in the ringfork repository; the
/// `ringfork_core::ShmSafe` derive's docs test every rule.
#[proc_macro_derive(RingforkShmSafe)]
pub fn derive_shm_safe_via_ringfork(input: TokenStream) -> TokenStream {
    expand(input, quote!(::ringfork::core))
}

fn expand(input: TokenStream, krate: TokenStream2) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    match shm_safe_impl(&input, &krate) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The layout a `#[repr(..)]` list asks for, as far as `ShmSafe` cares.
#[derive(Default)]
struct Repr {
    /// `C` or `transparent` was given.
    fixed: bool,
}

/// Reads every `#[repr(..)]` attribute; rejects the forms that do not give a fixed struct layout.
fn read_repr(input: &DeriveInput) -> Result<Repr, Error> {
    let mut repr = Repr::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            let p = &meta.path;
            if p.is_ident("C") || p.is_ident("transparent") {
                repr.fixed = true;
                Ok(())
            } else if p.is_ident("align") || p.is_ident("packed") {
                // `align(N)` / `packed(N)`: alignment modifiers. Any padding they add is caught by
                // the size check; `packed` removes padding (and Rust forbids references to its
                // fields, so it stays sound).
                if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    content.parse::<syn::LitInt>()?;
                }
                Ok(())
            } else {
                let name = p.get_ident().map_or_else(|| quote!(#p).to_string(), |i| i.to_string());
                Err(meta.error(format!(
                    "`#[repr({name})]` is not a layout `ShmSafe` accepts: use `#[repr(C)]` (or \
                     `#[repr(transparent)]` for a single-field wrapper)"
                )))
            }
        })?;
    }
    Ok(repr)
}

fn shm_safe_impl(input: &DeriveInput, krate: &TokenStream2) -> Result<TokenStream2, Error> {
    let name = &input.ident;
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        Data::Enum(e) => {
            return Err(Error::new(
                e.enum_token.span,
                format!(
                    "`#[derive(ShmSafe)]` is for structs only: an enum is not plain data, because a peer \
                     process can write a discriminant `{name}` has no variant for; store a `u8`/`u32` code \
                     in a `#[repr(C)]` struct and convert it with `TryFrom` after reading, or send `{name}` \
                     through serde (`Queue`, `Connection`, the pool)"
                ),
            ))
        }
        Data::Union(u) => {
            return Err(Error::new(
                u.union_token.span,
                "`#[derive(ShmSafe)]` is for structs only: a union's fields overlap, so they cannot be \
                 checked one by one; use a `#[repr(C)]` struct (a byte array plus accessors), or write \
                 `unsafe impl ShmSafe` by hand with a `// SAFETY:` comment",
            ))
        }
    };
    if !input.generics.params.is_empty() {
        return Err(Error::new(
            input.generics.span(),
            format!(
                "`#[derive(ShmSafe)]` does not support generic structs: whether `{name}<..>` has padding \
                 depends on its parameters, which a derive cannot check once for all of them; use concrete \
                 field types (e.g. `[u8; 64]`), or write `unsafe impl ShmSafe for {name}<Concrete> {{}}` \
                 for each instantiation and check it with `assert_shm_safe_fields!`"
            ),
        ));
    }
    if !read_repr(input)?.fixed {
        return Err(Error::new(
            name.span(),
            format!(
                "`{name}` needs `#[repr(C)]` (or `#[repr(transparent)]`) to derive `ShmSafe`: Rust's \
                 default layout may order fields differently in each build, so two processes built \
                 separately could disagree about where each field lives"
            ),
        ));
    }

    let types: Vec<&syn::Type> = match fields {
        Fields::Named(f) => f.named.iter().map(|f| &f.ty).collect(),
        Fields::Unnamed(f) => f.unnamed.iter().map(|f| &f.ty).collect(),
        Fields::Unit => Vec::new(),
    };
    // One bound check per field, spanned at the field's type so the error (with `ShmSafe`'s
    // `on_unimplemented` note) points at it.
    let field_checks = types.iter().map(|ty| {
        quote_spanned! {ty.span()=>
            __ringfork_field_is_shm_safe::<#ty>();
        }
    });
    let padding_msg = format!(
        "`{name}` has padding bytes (its fields add up to less than `size_of::<{name}>()`); padding is \
         uninitialized memory, which must not be copied into shared memory: order the fields from \
         largest to smallest alignment, or fill the gaps with explicit `_pad: [u8; N]` fields"
    );
    let field_sizes = if types.is_empty() {
        quote!(0usize)
    } else {
        quote!(#(::core::mem::size_of::<#types>())+*)
    };
    let padding_check = quote_spanned! {name.span()=>
        const _: () = ::core::assert!(
            #field_sizes == ::core::mem::size_of::<#name>(),
            #padding_msg
        );
    };
    Ok(quote! {
        const _: () = {
            const fn __ringfork_field_is_shm_safe<T: #krate::ShmSafe>() {}
            #(#field_checks)*
        };
        #padding_check
        // SAFETY: checked above at compile time: the struct is repr(C)/repr(transparent) (checked by
        // the macro), every field is ShmSafe (so every bit pattern is valid and there are no pointers
        // or Drop), and the fields fill the struct exactly (no padding).
        #[automatically_derived]
        unsafe impl #krate::ShmSafe for #name {}
    })
}

/// The remaining rejections, one `compile_fail` doc test each (kept out of the rendered docs).
///
/// An enum (a peer could write a discriminant with no variant):
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C)]
/// enum Side { Buy, Sell }
/// ```
///
/// A union:
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C)]
/// union Word { int: u32, float: f32 }
/// ```
///
/// A generic struct (its padding depends on the parameter):
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C)]
/// struct Slot<T: ShmSafe> { seq: u64, value: T }
/// ```
///
/// A const-generic struct, likewise:
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C)]
/// struct Buf<const N: usize> { bytes: [u8; N] }
/// ```
///
/// A `repr` that fixes no struct layout (`packed` alone keeps Rust's field order):
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(packed)]
/// struct Loose { a: u8, b: u32 }
/// ```
///
/// Trailing padding from an alignment larger than the fields:
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C, align(16))]
/// struct Wide { seq: u64 }
/// ```
///
/// A field that holds a pointer:
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C)]
/// struct Named { name: &'static str }
/// ```
///
/// A struct that is not `Copy` (a supertrait of `ShmSafe`):
/// ```compile_fail
/// # use ringfork_core::ShmSafe;
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct NotCopy { seq: u64 }
/// ```
#[cfg(doctest)]
struct Rejections;

/// Accepted forms beyond the public example: packed, unit, empty and nested structs, and the
/// compile-time check really runs for the derived impl (the sizes match).
/// ```
/// use ringfork_core::ShmSafe;
/// use core::mem::size_of;
///
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C, packed)] // no padding by construction
/// struct Packed { tag: u8, value: u64 }
///
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C)]
/// struct Unit;
///
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C)]
/// struct Empty {}
///
/// #[derive(Clone, Copy, ShmSafe)]
/// #[repr(C)]
/// struct Nested { inner: [Packed; 3], unit: Unit, empty: Empty, tail: [u8; 5] }
///
/// fn plain<T: ShmSafe>() -> usize { size_of::<T>() }
/// assert_eq!(plain::<Packed>(), 9);
/// assert_eq!(plain::<Unit>(), 0);
/// assert_eq!(plain::<Empty>(), 0);
/// assert_eq!(plain::<Nested>(), 32);
/// ```
#[cfg(doctest)]
struct Accepted;
