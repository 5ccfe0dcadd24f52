//! Length-prefixed frames for byte-stream links (TCP, Unix sockets).
//!
//! Each frame is a `u32` little-endian length followed by that many bytes (one encoded
//! [`Message`](crate::wire::Message)). The length is checked against the maximum **before** any
//! buffer is reserved, so a peer claiming a 4 GiB frame costs nothing.
//!
//! Owns only byte ⇄ frame splitting, as plain functions over a `BytesMut` the caller owns; it
//! never decodes messages and never reads a socket (the runtime's tokio codec wraps these).

use bytes::{Buf, BufMut, BytesMut};

/// Length of the frame header.
pub const HEADER_LEN: usize = 4;

/// Why bytes could not be split into frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header announced a frame longer than the maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced length.
        len: u64,
        /// Current maximum.
        max: u64,
    },
    /// The stream ended in the middle of a frame.
    #[error("the stream ended inside a frame ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes of the unfinished frame that had arrived.
        buffered: usize,
    },
}

/// Splits the next frame body off the front of `src`, or returns `Ok(None)` when more bytes are
/// needed (then `src` has room reserved for the rest of a frame within `max`, never more).
///
/// ```
/// use bytes::BytesMut;
/// use roam_proto::frame::{decode, encode};
/// let mut buf = BytesMut::new();
/// encode(b"hi", &mut buf).unwrap();
/// assert_eq!(&decode(&mut buf, 16).unwrap().unwrap()[..], b"hi");
/// assert!(decode(&mut buf, 16).unwrap().is_none());
/// ```
pub fn decode(src: &mut BytesMut, max: u32) -> Result<Option<BytesMut>, FrameError> {
    let Some(header) = src.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    if len > max {
        return Err(FrameError::TooLarge {
            len: len.into(),
            max: max.into(),
        });
    }
    let total = HEADER_LEN + len as usize;
    if src.len() < total {
        // Reserve only what the (bounded) frame still needs.
        src.reserve(total - src.len());
        return Ok(None);
    }
    src.advance(HEADER_LEN);
    Ok(Some(src.split_to(len as usize)))
}

/// Like [`decode`] at the end of the stream: leftover bytes are a truncated frame.
pub fn decode_eof(src: &mut BytesMut, max: u32) -> Result<Option<BytesMut>, FrameError> {
    match decode(src, max)? {
        Some(frame) => Ok(Some(frame)),
        None if src.is_empty() => Ok(None),
        None => Err(FrameError::Truncated {
            buffered: src.len(),
        }),
    }
}

/// Appends `body` as one frame to `dst`.
pub fn encode(body: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        len: body.len() as u64,
        max: u32::MAX.into(),
    })?;
    dst.reserve(HEADER_LEN + body.len());
    dst.put_u32_le(len);
    dst.extend_from_slice(body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frames_across_partial_reads() {
        let mut buf = BytesMut::new();
        encode(b"hello", &mut buf).unwrap();
        encode(b"!", &mut buf).unwrap();
        let all = buf.split();
        let mut src = BytesMut::new();
        let mut out = Vec::new();
        for byte in all.iter() {
            src.put_u8(*byte);
            while let Some(f) = decode(&mut src, 100).unwrap() {
                out.push(f.freeze());
            }
        }
        assert_eq!(out, vec![&b"hello"[..], &b"!"[..]]);
    }

    #[test]
    fn oversize_header_is_refused_before_allocating() {
        let mut src = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let cap = src.capacity();
        assert_eq!(
            decode(&mut src, 1024),
            Err(FrameError::TooLarge {
                len: u32::MAX as u64,
                max: 1024
            })
        );
        assert_eq!(
            src.capacity(),
            cap,
            "no buffer was reserved for the claimed frame"
        );
    }

    #[test]
    fn eof_inside_a_frame_is_truncation() {
        let mut src = BytesMut::from(&[10, 0, 0, 0, 1, 2][..]);
        assert_eq!(
            decode_eof(&mut src, 1024),
            Err(FrameError::Truncated { buffered: 6 })
        );
        assert!(decode_eof(&mut BytesMut::new(), 1024).unwrap().is_none());
    }
}
