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
//! [`decode()`] must consume the whole input, and whatever the input:
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
//! including recursive ones. `&T`, `&str` and `&[T]` can be encoded but not decoded. Anything
//! else (sets, foreign scalars such as `Uuid`, unions, `#[repr(packed)]` structs, fields marked
//! `#[facet(skip)]`, `flatten` or `proxy`, ...) is refused with [`UnsupportedShape`] when its
//! plan is compiled, never with a panic.

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
pub use translate::{TranslateError, Translation, decode_translated, translation_for};

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
    let dst = slot.as_mut_ptr().cast::<u8>();
    // Types made only of scalars first try the lean path, which either decodes the whole
    // input or writes nothing that needs dropping; anything it refuses is decoded again below
    // to report the error.
    if let Some(ops) = &plan.root_scalars
        // SAFETY: `dst` is valid for writes of a `T`, and the ops were compiled for `T`.
        && unsafe { decode::decode_root_scalars(ops, bytes, dst) }
    {
        // SAFETY: the fast path initialised every field, i.e. the whole value.
        return Ok(unsafe { slot.assume_init() });
    }
    // SAFETY: `dst` is valid for writes of a `T`, and `plan` was compiled for `T::SHAPE`.
    let used = unsafe { plan.decode_raw(bytes, dst)? };
    // SAFETY: `decode_raw` returned `Ok`, so it initialised the whole value.
    let value = unsafe { slot.assume_init() };
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            consumed: used,
            total: bytes.len(),
        });
    }
    Ok(value)
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
