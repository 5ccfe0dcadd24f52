//! Length-prefixed framing for byte-stream links (TCP, Unix sockets, in-memory duplex pipes).
//!
//! Each frame is a `u32` little-endian length followed by that many bytes (one encoded
//! [`Message`](crate::wire::Message)). The length is checked against the maximum **before** any
//! buffer is reserved, so a peer claiming a 4 GiB frame costs nothing.
//!
//! Owns only byte ⇄ frame splitting; it never decodes messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Length of the frame header.
pub const HEADER_LEN: usize = 4;

/// Why a byte stream could not be split into frames.
#[derive(Debug, thiserror::Error)]
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
    /// The underlying transport failed.
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
}

/// The largest frame currently accepted. Shared so the session can tighten it after the
/// handshake while the reader task keeps decoding.
#[derive(Debug, Clone)]
pub struct MaxFrame(Arc<AtomicU32>);

impl MaxFrame {
    /// A limit of `max` bytes.
    pub fn new(max: u32) -> Self {
        MaxFrame(Arc::new(AtomicU32::new(max)))
    }
    /// The current limit.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
    /// Changes the limit for frames not yet started.
    pub fn set(&self, max: u32) {
        self.0.store(max, Ordering::Relaxed)
    }
}

/// tokio-util codec for roam frames.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max: MaxFrame,
}

impl FrameCodec {
    /// A codec refusing frames longer than `max`.
    pub fn new(max: MaxFrame) -> Self {
        FrameCodec { max }
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let Some(header) = src.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let max = self.max.get();
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

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = u32::try_from(frame.len()).map_err(|_| FrameError::TooLarge {
            len: frame.len() as u64,
            max: u32::MAX.into(),
        })?;
        dst.reserve(HEADER_LEN + frame.len());
        dst.put_u32_le(len);
        dst.extend_from_slice(&frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(max: u32) -> FrameCodec {
        FrameCodec::new(MaxFrame::new(max))
    }

    #[test]
    fn splits_frames_across_partial_reads() {
        let mut c = codec(100);
        let mut buf = BytesMut::new();
        c.encode(Bytes::from_static(b"hello"), &mut buf).unwrap();
        c.encode(Bytes::from_static(b"!"), &mut buf).unwrap();
        let all = buf.split();
        let mut src = BytesMut::new();
        let mut out = Vec::new();
        for byte in all.iter() {
            src.put_u8(*byte);
            while let Some(f) = c.decode(&mut src).unwrap() {
                out.push(f.freeze());
            }
        }
        assert_eq!(
            out,
            vec![Bytes::from_static(b"hello"), Bytes::from_static(b"!")]
        );
    }

    #[test]
    fn oversize_header_is_refused_before_allocating() {
        let mut c = codec(1024);
        let mut src = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let cap = src.capacity();
        match c.decode(&mut src) {
            Err(FrameError::TooLarge { len, max }) => {
                assert_eq!(len, u32::MAX as u64);
                assert_eq!(max, 1024);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            src.capacity(),
            cap,
            "no buffer was reserved for the claimed frame"
        );
    }

    #[test]
    fn eof_inside_a_frame_is_truncation() {
        let mut c = codec(1024);
        let mut src = BytesMut::from(&[10, 0, 0, 0, 1, 2][..]);
        assert!(matches!(
            c.decode_eof(&mut src),
            Err(FrameError::Truncated { buffered: 6 })
        ));
        assert!(c.decode_eof(&mut BytesMut::new()).unwrap().is_none());
    }
}
