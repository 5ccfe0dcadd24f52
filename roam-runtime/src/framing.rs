//! The tokio-util codec for byte-stream links (TCP, Unix sockets, in-memory duplex pipes): a
//! thin adapter over [`roam_proto::frame`], which owns the format and its size check.
//!
//! Owns only the adapter and the shared, adjustable maximum; it never decodes messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::{Bytes, BytesMut};
use roam_proto::frame;
use tokio_util::codec::{Decoder, Encoder};

pub use roam_proto::frame::HEADER_LEN;

/// Why a byte stream could not be split into frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The bytes broke the framing rules (see [`roam_proto::frame::FrameError`]).
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
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
        Ok(frame::decode(src, self.max.get())?)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        Ok(frame::decode_eof(src, self.max.get())?)
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        Ok(frame::encode(&body, dst)?)
    }
}
