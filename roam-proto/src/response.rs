//! Response payload framing: the leading bytes of `Result<T, RoamError<E>>`.
//!
//! `Result` and `RoamError` are postcard enums, so the payload starts with a varint variant
//! number. Both are below 128, so each is one byte:
//!
//! | bytes                 | meaning                          |
//! |-----------------------|----------------------------------|
//! | `00` + `T`            | `Ok(value)`                      |
//! | `01 00` + `E`         | `Err(User(error))`               |
//! | `01 <code>`           | `Err(<RemoteError>)`, code 1..=7 |
//! | `01 08` + `String`    | `Err(IncompatibleSchema(detail))`: the callee could not read the arguments' schema |
//! | `01 09` + `String`    | `Err(PermissionDenied(reason))`: an interceptor refused the call before its handler ran |
//!
//! This module owns the codes and the payloads that carry no user type (what the session
//! answers by itself); encoding `T` and `E` is the runtime's.

use crate::error::RemoteError;

/// `Result::Ok`.
pub const OK: u8 = 0;
/// `Result::Err`.
pub const ERR: u8 = 1;
/// `RoamError::User`.
pub const USER: u8 = 0;
/// `RoamError` variant for a schema the callee cannot read; carries a `String`.
pub const INCOMPATIBLE: u8 = 8;

/// `RoamError` variant for a call an interceptor refused; carries a `String`.
pub const PERMISSION_DENIED: u8 = 9;

/// Longest schema-error text sent to a peer; the rest is cut (the callee's logs have it all).
pub const MAX_INCOMPATIBLE_TEXT: usize = 4096;

/// `Err(<runtime failure>)`.
pub fn remote(e: RemoteError) -> Vec<u8> {
    vec![ERR, e.code()]
}

/// `Err(IncompatibleSchema(detail))`: the arguments' schema cannot be read as ours.
pub fn incompatible(detail: &str) -> Vec<u8> {
    with_text(INCOMPATIBLE, detail)
}

/// `Err(PermissionDenied(reason))`: an interceptor refused the call.
pub fn permission_denied(reason: &str) -> Vec<u8> {
    with_text(PERMISSION_DENIED, reason)
}

/// `Err(<code>(text))` for the variants that carry a `String`, cut at
/// [`MAX_INCOMPATIBLE_TEXT`] characters.
fn with_text(code: u8, detail: &str) -> Vec<u8> {
    let detail = match detail.char_indices().nth(MAX_INCOMPATIBLE_TEXT) {
        Some((cut, _)) => &format!("{} … (cut; see the callee's logs)", &detail[..cut]),
        None => detail,
    };
    let mut out = vec![ERR, code];
    // A postcard string: varint length, then the bytes.
    let mut len = detail.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(detail.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incompatible_text_is_a_postcard_string() {
        let long = "x".repeat(300);
        let bytes = incompatible(&long);
        assert_eq!(&bytes[..4], &[ERR, INCOMPATIBLE, 0xac, 0x02]);
        let decoded: String = postcard::from_bytes(&bytes[2..]).unwrap();
        assert_eq!(decoded, long);
    }

    #[test]
    fn permission_denied_is_code_9_with_its_reason() {
        assert_eq!(permission_denied("no"), vec![ERR, 9, 2, b'n', b'o']);
    }
}
