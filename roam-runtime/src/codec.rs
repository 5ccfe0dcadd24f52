//! Payload codec: how argument tuples, return values and user errors become bytes.
//!
//! Every payload is postcard, produced by `roam-codec`'s plan-compiled codec (byte-identical to
//! serde-postcard). This module is the one place the runtime (and the code
//! `#[roam::service]` generates) encodes or decodes a payload, so the codec behind it can be
//! swapped without touching callers.
//!
//! Decoding is bounded by construction: the input slice is at most the negotiated maximum
//! payload size (the framing layer refuses larger frames), and a decode error is a typed
//! [`CodecError`], never a panic.

use facet::Facet;

/// A payload could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The value could not be encoded (a type the codec cannot represent).
    #[error("could not encode payload: {0}")]
    Encode(String),
    /// The bytes are not a valid encoding of the expected type.
    #[error("could not decode payload as `{ty}`: {reason}")]
    Decode {
        /// The type that was expected.
        ty: &'static str,
        /// What was wrong with the bytes.
        reason: String,
    },
}

/// Appends the postcard encoding of `value` to `out`.
pub fn encode_into<'a, T: Facet<'a>>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    roam_codec::encode(value, out).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Returns the postcard encoding of `value`.
pub fn encode<'a, T: Facet<'a>>(value: &T) -> Result<Vec<u8>, CodecError> {
    roam_codec::encode_to_vec(value).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes a `T` from exactly `bytes`.
pub fn decode<T: Facet<'static>>(bytes: &[u8]) -> Result<T, CodecError> {
    roam_codec::decode(bytes).map_err(|e| decode_error::<T>(e))
}

/// Decodes a `T` from exactly `bytes`, its `&str` and `&[u8]` parts borrowing from `bytes`
/// (inside user-defined types they are refused: facet cannot tie their lifetime to `bytes`).
pub fn decode_borrowed<'a, T: Facet<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    roam_codec::decode_borrowed(bytes).map_err(|e| decode_error::<T>(e))
}

pub(crate) fn decode_error<T: ?Sized>(e: impl std::fmt::Display) -> CodecError {
    CodecError::Decode {
        ty: std::any::type_name::<T>(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_of_borrowed_args_matches_owned_encoding() {
        let borrowed: (&str, &[u8], i32) = ("hé", &[1, 2, 3], -2);
        let owned: (String, Vec<u8>, i32) = ("hé".to_owned(), vec![1, 2, 3], -2);
        let a = encode(&borrowed).unwrap();
        assert_eq!(a, encode(&owned).unwrap());
        // postcard: varint len + utf8, varint len + bytes, zigzag varint.
        assert_eq!(a, vec![3, b'h', 0xc3, 0xa9, 3, 1, 2, 3, 3]);
        let back: (String, Vec<u8>, i32) = decode(&a).unwrap();
        assert_eq!(back, owned);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        let err = decode::<(String, u32)>(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(matches!(err, CodecError::Decode { .. }), "{err:?}");
    }
}
