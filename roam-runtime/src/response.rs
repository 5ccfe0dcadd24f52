//! Response payloads: the bytes of `Result<T, RoamError<E>>` with the user's types.
//!
//! The layout and codes are `roam_proto::response`'s; this module encodes `T` and `E` for the
//! dispatcher and decodes them for the caller. It knows nothing about sessions.

use facet::Facet;

use roam_proto::response::{ERR, INCOMPATIBLE, OK, PERMISSION_DENIED, USER};
pub use roam_proto::response::{incompatible, remote};

use crate::codec;
use crate::error::{CallError, RemoteError};
use crate::schemas::{Part, PayloadError, RemoteSchema, RemoteSchemaExt};

/// `Ok(value)`.
pub fn ok<'a, T: Facet<'a>>(value: &T) -> Vec<u8> {
    let mut out = vec![OK];
    match codec::encode_into(value, &mut out) {
        Ok(()) => out,
        Err(e) => {
            tracing::error!(error = %e, "could not encode a return value; answering Internal");
            remote(RemoteError::Internal)
        }
    }
}

/// `Ok(v)` or `Err(User(e))` for a fallible handler's result.
pub fn result<'a, T: Facet<'a>, E: Facet<'a>>(value: &Result<T, E>) -> Vec<u8> {
    match value {
        Ok(v) => ok(v),
        Err(e) => {
            let mut out = vec![ERR, USER];
            match codec::encode_into(e, &mut out) {
                Ok(()) => out,
                Err(err) => {
                    tracing::error!(error = %err, "could not encode a user error; answering Internal");
                    remote(RemoteError::Internal)
                }
            }
        }
    }
}

/// Decodes one part of a payload, through the peer's schema when it announced one.
fn decode_part<T: Facet<'static>>(
    bytes: &[u8],
    remote: Option<&RemoteSchema>,
    part: Part,
) -> Result<T, PayloadError> {
    match remote {
        Some(remote) => remote.decode(part, bytes),
        None => Ok(codec::decode(bytes)?),
    }
}

impl<E> From<PayloadError> for CallError<E> {
    fn from(e: PayloadError) -> Self {
        match e {
            PayloadError::Codec(e) => CallError::Codec(e),
            PayloadError::Incompatible(detail) => {
                CallError::IncompatibleSchema(format!("cannot read the peer's response: {detail}"))
            }
        }
    }
}

/// Decodes a response payload for a method returning `T` with user error `E`; `remote` is the
/// peer's schema of the response, if it announced one.
pub fn decode<T: Facet<'static>, E: Facet<'static>>(
    bytes: &[u8],
    remote: Option<&RemoteSchema>,
) -> Result<T, CallError<E>> {
    match bytes {
        [OK, rest @ ..] => Ok(decode_part(rest, remote, Part::Ok)?),
        [ERR, USER, rest @ ..] => Err(CallError::User(decode_part(rest, remote, Part::Err)?)),
        [ERR, INCOMPATIBLE, rest @ ..] => match codec::decode::<String>(rest) {
            Ok(detail) => Err(CallError::IncompatibleSchema(format!(
                "the peer cannot read our arguments: {detail}"
            ))),
            Err(_) => Err(CallError::MalformedResponse("invalid schema error text")),
        },
        [ERR, PERMISSION_DENIED, rest @ ..] => match codec::decode::<String>(rest) {
            Ok(reason) => Err(CallError::PermissionDenied(reason)),
            Err(_) => Err(CallError::MalformedResponse(
                "invalid permission-denied text",
            )),
        },
        [ERR, code] => match RemoteError::from_code(*code) {
            Some(e) => Err(CallError::from_remote(e)),
            None => Err(CallError::MalformedResponse("unknown RoamError variant")),
        },
        [] => Err(CallError::MalformedResponse("empty response payload")),
        _ => Err(CallError::MalformedResponse("invalid Result discriminant")),
    }
}

/// Decodes the arguments tuple (through the caller's schema when it announced one), or gives
/// the response to send instead: `InvalidPayload`, or `IncompatibleSchema` naming the field.
/// `&str` and `&[u8]` arguments are slices of `bytes`, not copies.
pub fn decode_args<'a, A: Facet<'a>>(
    bytes: &'a [u8],
    caller: Option<&RemoteSchema>,
) -> Result<A, Vec<u8>> {
    let decoded = match caller {
        Some(caller) => caller.decode_borrowed(Part::Whole, bytes),
        None => codec::decode_borrowed(bytes).map_err(PayloadError::from),
    };
    decoded.map_err(|e| match e {
        PayloadError::Codec(e) => {
            tracing::debug!(error = %e, "arguments did not decode; answering InvalidPayload");
            remote(RemoteError::InvalidPayload)
        }
        PayloadError::Incompatible(detail) => {
            tracing::debug!(%detail, "arguments' schema is incompatible");
            incompatible(&detail)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas::local_of;
    use roam_proto::wire::SchemaKind;
    use std::convert::Infallible;

    #[derive(Facet, Debug, PartialEq)]
    struct V1 {
        a: u32,
        b: String,
    }

    #[derive(Facet, Debug, PartialEq)]
    struct V2 {
        b: String,
        a: u32,
        #[facet(default)]
        c: Option<u8>,
    }

    /// Whether `part` lies inside `whole` (a slice of it, not a copy).
    fn inside(part: &[u8], whole: &[u8]) -> bool {
        whole.as_ptr_range().contains(&part.as_ptr()) && part.len() <= whole.len()
    }

    #[test]
    fn borrowed_arguments_are_slices_of_the_payload_with_or_without_translation() {
        let bytes = codec::encode(&(
            "key-1",
            V1 {
                a: 7,
                b: "x".into(),
            },
            &b"blob"[..],
        ))
        .unwrap();
        let (key, v1, blob): (&str, V1, &[u8]) = decode_args(&bytes, None).unwrap();
        assert_eq!((key, v1.a, blob), ("key-1", 7, &b"blob"[..]));
        assert!(inside(key.as_bytes(), &bytes) && inside(blob, &bytes));

        // The caller's tuple has `V1` where we read `V2`: the tuple is translated, and the
        // borrowed parts are still slices of the payload.
        let local = local_of(<(String, V1, Vec<u8>)>::SHAPE).expect("describable");
        let caller = RemoteSchema::parse(SchemaKind::Args, &local.canonical).unwrap();
        let reader = <(&str, V2, &[u8])>::SHAPE;
        assert!(
            caller.reader_for(Part::Whole, reader).unwrap().is_some(),
            "translated"
        );
        let (key, v2, blob): (&str, V2, &[u8]) = decode_args(&bytes, Some(&caller)).unwrap();
        assert_eq!(
            v2,
            V2 {
                b: "x".into(),
                a: 7,
                c: None
            }
        );
        assert!(inside(key.as_bytes(), &bytes) && inside(blob, &bytes));
        assert_eq!((key, blob), ("key-1", &b"blob"[..]));

        // Not UTF-8: the handler is not called, the caller gets `InvalidPayload`.
        let mut bad = bytes.clone();
        bad[1] = 0xff;
        let refused = decode_args::<(&str, V1, &[u8])>(&bad, None).unwrap_err();
        assert_eq!(refused, remote(RemoteError::InvalidPayload));
    }

    #[test]
    fn ok_round_trips() {
        let bytes = ok(&(-3i32));
        assert_eq!(bytes, vec![0, 5]);
        assert_eq!(decode::<i32, Infallible>(&bytes, None).unwrap(), -3);
    }

    #[test]
    fn user_error_round_trips() {
        let bytes = result::<u32, String>(&Err("nope".to_owned()));
        assert_eq!(bytes, vec![1, 0, 4, b'n', b'o', b'p', b'e']);
        match decode::<u32, String>(&bytes, None) {
            Err(CallError::User(e)) => assert_eq!(e, "nope"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_remote_error_round_trips() {
        for code in 1..=7u8 {
            let e = RemoteError::from_code(code).unwrap();
            assert_eq!(e.code(), code);
            let got = decode::<u8, Infallible>(&remote(e), None).unwrap_err();
            assert_eq!(
                std::mem::discriminant(&got),
                std::mem::discriminant(&CallError::from_remote(e))
            );
        }
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(matches!(
            decode::<u8, Infallible>(&[], None),
            Err(CallError::MalformedResponse(_))
        ));
        assert!(matches!(
            decode::<u8, Infallible>(&[9], None),
            Err(CallError::MalformedResponse(_))
        ));
        assert!(matches!(
            decode::<u8, Infallible>(&[1, 99], None),
            Err(CallError::MalformedResponse(_))
        ));
        assert!(matches!(
            decode::<u32, Infallible>(&[0], None),
            Err(CallError::Codec(_))
        ));
    }
}
