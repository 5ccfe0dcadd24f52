//! roam's payload codec: postcard bytes for any `Facet` type, driven by a plan compiled once per
//! type, plus the mapping from facet `Shape`s to roam's canonical [`Schema`](roam_core::schema::Schema).
//!
//! This crate owns how a value becomes bytes and back. It produces **exactly the bytes
//! `postcard` (via serde) produces** for the same value: LEB128 varints for `u16`..`u128` and
//! `usize`, zigzag for signed integers, little-endian `f32`/`f64`, `bool` as 0/1, `char` as a
//! UTF-8 string, a varint length before strings, lists and maps, a 0/1 tag before an `Option`,
//! a varint variant index before an enum's fields, and nothing at all between the fields of a
//! struct, tuple or array. It does not own framing, sessions or schema negotiation; when a
//! peer's schema differs compatibly from the local type's, [`translate`] builds the plan that
//! reads the peer's bytes into the local type (the runtime decides when to use one).
//!
//! ```
//! use facet::Facet;
//!
//! #[derive(Facet, Debug, PartialEq)]
//! struct Point { x: i32, y: i32 }
//!
//! let bytes = roam_codec::encode_to_vec(&Point { x: 1, y: -1 }).unwrap();
//! assert_eq!(bytes, [2, 1]);
//! let back: Point = roam_codec::decode(&bytes).unwrap();
//! assert_eq!(back, Point { x: 1, y: -1 });
//! ```
//!
//! # How it works
//!
//! The first time a type is used, [`plan`] compiles its `Shape` into a flat list of operations
//! over raw field offsets (nested structs inlined; containers and enum variants as sub-lists)
//! and caches it for the life of the process. Encoding and decoding then run that list with no
//! further reflection. Byte buffers and slices of floats are copied with one `memcpy`.
//!
//! # Decoding untrusted input
//!
//! [`decode()`] (and [`decode_borrowed()`], which reads `&str` and `&[u8]` as slices of the
//! input) must consume the whole input, and whatever the input:
//!
//! * it never panics: malformed bytes give a [`DecodeError`] that names the byte offset, the
//!   type and the field being read;
//! * it never allocates on the strength of a length prefix alone: a length is first checked
//!   against the remaining input (each item takes at least a known number of bytes), then at
//!   most [`MAX_PREALLOC_BYTES`] are reserved before items actually arrive; items that take no
//!   bytes at all (such as `()`) draw on a budget of [`MAX_EMPTY_ITEMS`] per input;
//! * nesting (through `Box`, `Vec`, `Option`, enums, ...) is limited to [`MAX_DEPTH`];
//! * a failure part way through frees everything built so far, exactly once.
//!
//! # Supported types
//!
//! `bool`, all integers, `f32`, `f64`, `char`, `String`, `()`, `Vec<T>`, `Option<T>`,
//! `Result<T, E>`, `Box<T>`, `Arc<T>`, `Rc<T>`, tuples, `[T; N]`, `HashMap` and `BTreeMap`,
//! and user structs (named, tuple, unit) and enums (unit, tuple and struct variants, with a
//! `#[repr(u8)]`, `#[repr(C)]` or other explicit repr, as facet requires), generic or not,
//! including recursive ones. `&T`, `&str` and `&[T]` can be encoded; `&str` and `&[u8]` can be
//! decoded too, as slices of the input, with [`decode_borrowed()`].
//!
//! Of facet's attributes, `#[facet(rename = "...")]` and `rename_all` change only the names in
//! the [schema](schema_of), never the bytes. `#[facet(default)]` / `#[facet(default = expr)]`
//! mark a field that a reader can fill in (see [`translate`]). A field marked `#[facet(skip)]`
//! (or both `skip_serializing` and `skip_deserializing`) is left out of the bytes and the
//! schema, and decoding fills it from its default. The field needs a written default
//! (`#[facet(skip, default)]` for the type's `Default`, or `#[facet(skip, default = expr)]`), so
//! that roam-codegen, which reads only the source, decides the same. A decode that fails later
//! drops the filled value with the rest.
//!
//! Anything else (sets, foreign scalars such as `Uuid`, unions, `#[repr(packed)]` structs,
//! `#[facet(skip)]` without a default, `skip_serializing` or `skip_deserializing` alone,
//! `skip_serializing_if`, `flatten`, `proxy`, ...) is refused with [`UnsupportedShape`] when its
//! plan is compiled, never with a panic. The schema builder refuses the same fields, and also
//! two fields or variants whose names collide after renaming.

mod decode;
mod encode;
mod error;
mod kind;
mod plan;
mod schema;
pub mod translate;
mod wire;

use std::mem::MaybeUninit;

use facet_core::Facet;

pub use decode::MAX_PREALLOC_BYTES;
pub use error::{DecodeError, EncodeError, Location, UnsupportedShape};
pub use plan::{Plan, plan_for_shape};
pub use schema::{schema_of, schema_of_shape};
pub use translate::{
    TranslateError, Translation, decode_translated, decode_translated_borrowed,
    decode_translated_borrowed_unchecked, translation_for,
};

/// How deeply values may nest (counting containers, boxes, options and enum variants) before
/// encoding or decoding refuses them. Each level takes well under 1 KiB of stack in optimised
/// builds (about 8 KiB in debug builds), so the limit also bounds stack use.
pub const MAX_DEPTH: usize = 128;

/// How many items that take no bytes on the wire (e.g. elements of a `Vec<()>`) one input may
/// ask the decoder to produce.
pub const MAX_EMPTY_ITEMS: usize = 1 << 20;

/// The compiled plan for `T` (compiling and caching it on first use).
#[inline]
pub fn plan<'a, T: Facet<'a> + ?Sized>() -> Result<&'static Plan, UnsupportedShape> {
    plan_for_shape(T::SHAPE)
}

/// Appends the postcard encoding of `value` to `out`. On error, `out` may hold a partial
/// encoding after its original contents.
#[inline]
pub fn encode<'a, T: Facet<'a>>(value: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let plan = plan_for_shape(T::SHAPE)?;
    // SAFETY: `value` is a valid `T` and `plan` was compiled for `T::SHAPE`.
    unsafe { plan.encode_raw((value as *const T).cast::<u8>(), out) }
}

/// The postcard encoding of `value`.
#[inline]
pub fn encode_to_vec<'a, T: Facet<'a>>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let plan = plan_for_shape(T::SHAPE)?;
    let mut out = Vec::with_capacity(plan.output_capacity());
    // SAFETY: as in `encode`.
    unsafe { plan.encode_raw((value as *const T).cast::<u8>(), &mut out)? };
    plan.record_output_len(out.len());
    Ok(out)
}

/// Decodes a `T` from exactly `bytes`: trailing bytes are an error.
#[inline]
pub fn decode<T: Facet<'static>>(bytes: &[u8]) -> Result<T, DecodeError> {
    let plan = plan_for_shape(T::SHAPE)?;
    let mut slot = MaybeUninit::<T>::uninit();
    // SAFETY: `slot` is valid for writes of a `T`, and `plan` was compiled for `T::SHAPE`;
    // with `borrowed: false` the value borrows nothing from `bytes`.
    unsafe {
        plan.decode_exact(bytes, slot.as_mut_ptr().cast::<u8>(), false)?;
        // `decode_exact` returned `Ok`, so it initialised the whole value.
        Ok(slot.assume_init())
    }
}

/// Decodes a `T` whose `&str` and `&[u8]` parts borrow from `bytes` instead of being copied
/// out of it (all of `bytes` must be consumed, as with [`decode()`]). Owned types decode as
/// with `decode`; strings are checked to be UTF-8 as always.
///
/// ```
/// let bytes = roam_codec::encode_to_vec(&("key", &b"\x01\x02"[..], 7u32)).unwrap();
/// let (key, blob, n): (&str, &[u8], u32) = roam_codec::decode_borrowed(&bytes).unwrap();
/// assert_eq!((key, blob, n), ("key", &[1u8, 2][..], 7));
/// ```
///
/// The borrowed parts may sit anywhere in tuples, `Vec`s, `Option`s, `Box`es, maps, arrays
/// and the like, whose facet impls tie their lifetime to `'de`. Inside the fields of a
/// user-defined struct or enum they are refused with [`DecodeError::Unsupported`]: facet's
/// derive lets `struct S { s: &'static str }` claim `Facet<'de>` for every `'de`, so the bound
/// alone cannot stop a `&'static str` from pointing into `bytes`. Decode such types (e.g.
/// `struct Msg<'a> { name: &'a str }`) with [`decode_borrowed_unchecked`].
///
/// `&T` for other `T` than `str` and `[u8]`, `&[T]` for other `T` than `u8`, and `&mut`
/// references cannot be decoded; they fail with [`DecodeError::Unsupported`].
///
/// The decoded value cannot outlive its input:
///
/// ```compile_fail,E0597
/// let key: &str = {
///     let bytes = roam_codec::encode_to_vec(&"gone").unwrap();
///     roam_codec::decode_borrowed(&bytes).unwrap()
/// };
/// ```
#[inline]
pub fn decode_borrowed<'de, T: Facet<'de>>(bytes: &'de [u8]) -> Result<T, DecodeError> {
    let plan = plan_for_shape(T::SHAPE)?;
    if let Some(unchecked) = &plan.unchecked_borrow {
        return Err(DecodeError::Unsupported(unchecked.clone()));
    }
    // SAFETY: every borrowed part of `T` is reached through facet's own impls only (checked
    // just above), which make `T: Facet<'de>` hold only if each of them is a `&'de str` or
    // `&'de [u8]`: the references written into the value borrow for exactly `'de`.
    unsafe { decode_borrowed_with::<T>(plan, bytes) }
}

/// [`decode_borrowed`] without its check on user-defined types, whose fields may then borrow
/// from `bytes` too:
///
/// ```
/// use facet::Facet;
///
/// #[derive(Facet, Debug, PartialEq)]
/// struct Msg<'a> { id: u32, name: &'a str }
///
/// let bytes = roam_codec::encode_to_vec(&Msg { id: 1, name: "ada" }).unwrap();
/// // SAFETY: `Msg`'s only reference is spelled with its own lifetime parameter.
/// let msg: Msg<'_> = unsafe { roam_codec::decode_borrowed_unchecked(&bytes) }.unwrap();
/// assert_eq!(msg, Msg { id: 1, name: "ada" });
/// ```
///
/// # Safety
///
/// Every reference type inside `T`, including in the fields of user-defined structs and enums
/// (and of the types they name), must borrow for `'de`: it must be spelled with a lifetime
/// parameter of its type (which facet's derive ties to `'de`), never with `'static` or another
/// unrelated lifetime. A `&'static str` field would otherwise be left pointing into `bytes`.
#[inline]
pub unsafe fn decode_borrowed_unchecked<'de, T: Facet<'de>>(
    bytes: &'de [u8],
) -> Result<T, DecodeError> {
    let plan = plan_for_shape(T::SHAPE)?;
    // SAFETY: the caller vouches that every reference in `T` borrows for `'de`.
    unsafe { decode_borrowed_with::<T>(plan, bytes) }
}

/// Decodes a `T` from all of `bytes` with `plan`, allowing borrowed parts.
///
/// # Safety
///
/// `plan` must be `T`'s, and every borrowed part of `T` must borrow for `'de`.
#[inline(always)]
unsafe fn decode_borrowed_with<'de, T: Facet<'de>>(
    plan: &'static Plan,
    bytes: &'de [u8],
) -> Result<T, DecodeError> {
    let mut slot = MaybeUninit::<T>::uninit();
    // SAFETY: `slot` is valid for writes of a `T` and `plan` is `T`'s (caller); the
    // references it writes point into `bytes`, which outlives the value (`T: 'de`, caller).
    unsafe {
        plan.decode_exact(bytes, slot.as_mut_ptr().cast::<u8>(), true)?;
        // `decode_exact` returned `Ok`, so it initialised the whole value.
        Ok(slot.assume_init())
    }
}

/// Decodes a `T` from the start of `bytes` and returns it with the bytes that follow it.
#[inline]
pub fn decode_prefix<T: Facet<'static>>(bytes: &[u8]) -> Result<(T, &[u8]), DecodeError> {
    let plan = plan_for_shape(T::SHAPE)?;
    let mut slot = MaybeUninit::<T>::uninit();
    // SAFETY: `slot` is valid for writes of a `T`, and `plan` was compiled for `T::SHAPE`.
    let used = unsafe { plan.decode_raw(bytes, slot.as_mut_ptr().cast::<u8>())? };
    // SAFETY: `decode_raw` returned `Ok`, so it initialised the whole value.
    let value = unsafe { slot.assume_init() };
    Ok((value, &bytes[used..]))
}
