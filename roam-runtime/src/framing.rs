//! Frames on links: the error a link's frames can fail with, the shared frame-size limit, and
//! the tokio-util codec that cuts byte-stream links (TCP, Unix sockets) into frames, a thin
//! adapter over [`roam_proto::frame`], which owns the format and its size check.
//!
//! Owns only these; it never decodes messages and knows nothing of sockets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::{Bytes, BytesMut};
use roam_proto::frame;
use tokio_util::codec::{Decoder, Encoder};

pub use roam_proto::frame::HEADER_LEN;

/// Why a link could not deliver (or take) a frame.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The bytes broke the framing rules (see [`roam_proto::frame::FrameError`]): a frame
    /// longer than the limit, or a link that ended inside one.
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
    /// A WebSocket peer sent a text message; roam frames travel as binary messages only.
    #[error("a text WebSocket message: roam frames travel as binary WebSocket messages")]
    TextMessage,
    /// The underlying transport failed.
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
}

/// Frames shorter than this are copied out of the buffer they were read into; longer ones are
/// handed on as a view of it.
///
/// Payloads travel on as slices of their frame (no copy up to the user's decoder), so a frame
/// keeps alive the whole allocation it was cut from for as long as any payload of it lives
/// (an item waiting in an `Rx`, a request whose handler runs). A small frame cut from a large
/// read buffer would pin far more memory than it carries, and a peer trickling tiny frames
/// could multiply the memory its unread items cost; copying small frames (one allocation of
/// their own size) keeps what a frame pins within a small multiple of its own length.
pub(crate) const SHARE_FROM: usize = 4 * 1024;

/// `frame` in an allocation of its own if it is small (see [`SHARE_FROM`]), else as it is.
pub(crate) fn own_small(frame: Bytes) -> Bytes {
    if frame.len() < SHARE_FROM {
        Bytes::copy_from_slice(&frame)
    } else {
        frame
    }
}

impl LinkError {
    /// `len` bytes offered where at most `max` are accepted.
    pub(crate) fn too_large(len: usize, max: u32) -> LinkError {
        LinkError::Frame(frame::FrameError::TooLarge {
            len: u64::try_from(len).unwrap_or(u64::MAX),
            max: u64::from(max),
        })
    }
}

/// The largest frame currently accepted. Shared so the session can tighten it after the
/// handshake while the link keeps decoding.
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
    /// `frame` if it is within the limit.
    pub(crate) fn check(&self, frame: Bytes) -> Result<Bytes, LinkError> {
        let max = self.get();
        if frame.len() > max as usize {
            return Err(LinkError::too_large(frame.len(), max));
        }
        Ok(frame)
    }
}

/// tokio-util codec for roam frames on byte streams.
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
    type Item = Bytes;
    type Error = LinkError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LinkError> {
        Ok(frame::decode(src, self.max.get())?.map(BytesMut::freeze))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LinkError> {
        Ok(frame::decode_eof(src, self.max.get())?.map(BytesMut::freeze))
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = LinkError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), LinkError> {
        Ok(frame::encode(&body, dst)?)
    }
}
