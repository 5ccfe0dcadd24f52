//! Response payloads: the bytes of `Result<T, RoamError<E>>`.
//!
//! `Result` and `RoamError` are postcard enums, so the payload starts with a varint variant
//! number. Both are below 128, so each is one byte:
//!
//! | bytes                 | meaning                          |
//! |-----------------------|----------------------------------|
//! | `00` + `T`            | `Ok(value)`                      |
//! | `01 00` + `E`         | `Err(User(error))`               |
//! | `01 <code>`           | `Err(<RemoteError>)`, code 1..=7 |
//!
//! This module encodes them for the dispatcher and decodes them for the caller. It knows
//! nothing about sessions.

use facet::Facet;

use crate::codec::{self, CodecError};
use crate::error::{CallError, RemoteError};

const OK: u8 = 0;
const ERR: u8 = 1;
const USER: u8 = 0;

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

/// `Err(<runtime failure>)`.
pub fn remote(e: RemoteError) -> Vec<u8> {
    vec![ERR, e.code()]
}

/// Decodes a response payload for a method returning `T` with user error `E`.
pub fn decode<T: Facet<'static>, E: Facet<'static>>(bytes: &[u8]) -> Result<T, CallError<E>> {
    match bytes {
        [OK, rest @ ..] => Ok(codec::decode(rest)?),
        [ERR, USER, rest @ ..] => Err(CallError::User(codec::decode(rest)?)),
        [ERR, code] => match RemoteError::from_code(*code) {
            Some(e) => Err(CallError::from_remote(e)),
            None => Err(CallError::MalformedResponse("unknown RoamError variant")),
        },
        [] => Err(CallError::MalformedResponse("empty response payload")),
        _ => Err(CallError::MalformedResponse("invalid Result discriminant")),
    }
}

/// Decodes the arguments tuple, or gives the `InvalidPayload` response to send instead.
pub fn decode_args<A: Facet<'static>>(bytes: &[u8]) -> Result<A, Vec<u8>> {
    codec::decode(bytes).map_err(|e: CodecError| {
        tracing::debug!(error = %e, "arguments did not decode; answering InvalidPayload");
        remote(RemoteError::InvalidPayload)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    #[test]
    fn ok_round_trips() {
        let bytes = ok(&(-3i32));
        assert_eq!(bytes, vec![0, 5]);
        assert_eq!(decode::<i32, Infallible>(&bytes).unwrap(), -3);
    }

    #[test]
    fn user_error_round_trips() {
        let bytes = result::<u32, String>(&Err("nope".to_owned()));
        assert_eq!(bytes, vec![1, 0, 4, b'n', b'o', b'p', b'e']);
        match decode::<u32, String>(&bytes) {
            Err(CallError::User(e)) => assert_eq!(e, "nope"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_remote_error_round_trips() {
        for code in 1..=7u8 {
            let e = RemoteError::from_code(code).unwrap();
            assert_eq!(e.code(), code);
            let got = decode::<u8, Infallible>(&remote(e)).unwrap_err();
            assert_eq!(
                std::mem::discriminant(&got),
                std::mem::discriminant(&CallError::from_remote(e))
            );
        }
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(matches!(
            decode::<u8, Infallible>(&[]),
            Err(CallError::MalformedResponse(_))
        ));
        assert!(matches!(
            decode::<u8, Infallible>(&[9]),
            Err(CallError::MalformedResponse(_))
        ));
        assert!(matches!(
            decode::<u8, Infallible>(&[1, 99]),
            Err(CallError::MalformedResponse(_))
        ));
        assert!(matches!(
            decode::<u32, Infallible>(&[0]),
            Err(CallError::Codec(_))
        ));
    }
}
