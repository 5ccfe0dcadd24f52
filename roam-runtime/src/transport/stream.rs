//! Byte-stream links (TCP, Unix sockets): frames cut by the length prefix of
//! [`roam_proto::frame`] on the way in, and written through one reused buffer on the way out,
//! so every frame fed before a flush leaves in one write.
//!
//! **What a frame pins.** Frames go on as views of the read buffer only when large; small
//! ones are copied out, and a buffer grown for one large frame is not reused for the next
//! (see `framing::SHARE_FROM`).
//!
//! **Lean when idle.** Both buffers are allocated on first use and let go whenever they are
//! empty and the link has nothing more to do at the moment (a read would block, a flush
//! finished), so an idle session holds no buffer at all and a burst of large frames does not
//! pin its peak size afterwards.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures::{Sink, Stream};
use roam_proto::frame;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::io::{poll_read_buf, poll_write_buf};

use super::Link;
use crate::framing::{LinkError, MaxFrame, SHARE_FROM, own_small};

/// Bytes asked of the socket per read when no frame is in progress.
const READ_CHUNK: usize = 16 * 1024;
/// Frames fed are written out once this many bytes are waiting, flush or not.
const WRITE_BATCH: usize = 64 * 1024;

/// A link over a byte stream, framed with the length prefix. `max` bounds incoming frames
/// before anything is buffered for them.
pub fn byte_stream_link<R, W>(reader: R, writer: W, peer: String, max: &MaxFrame) -> Link
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    Link {
        incoming: Box::pin(FrameReader {
            reader,
            buf: BytesMut::new(),
            max: max.clone(),
            eof: false,
        }),
        outgoing: Box::pin(FrameWriter {
            writer,
            buf: BytesMut::new(),
        }),
        peer,
        tls: None,
        tls_failure: None,
    }
}

struct FrameReader<R> {
    reader: R,
    buf: BytesMut,
    max: MaxFrame,
    eof: bool,
}

impl<R> FrameReader<R> {
    /// A frame cut from the read buffer, made to pin little beyond its own size: a small one
    /// is copied out ([`own_small`]); a large one is shared, and if the buffer grew far past
    /// the usual read size for it, what follows moves to a fresh buffer of the usual size, so
    /// later frames do not pin the large allocation too.
    fn detach(&mut self, frame: BytesMut) -> Bytes {
        if frame.len() >= SHARE_FROM && self.buf.capacity() > 2 * READ_CHUNK {
            let rest = BytesMut::from(&self.buf[..]);
            self.buf = rest;
        }
        own_small(frame.freeze())
    }
}

impl<R: AsyncRead + Unpin> Stream for FrameReader<R> {
    type Item = Result<Bytes, LinkError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let max = this.max.get();
            if this.eof {
                return Poll::Ready(match frame::decode_eof(&mut this.buf, max) {
                    Ok(Some(f)) => Some(Ok(this.detach(f))),
                    Ok(None) => None,
                    Err(e) => Some(Err(e.into())),
                });
            }
            match frame::decode(&mut this.buf, max) {
                Ok(Some(f)) => return Poll::Ready(Some(Ok(this.detach(f)))),
                Ok(None) => {}
                Err(e) => {
                    // Nothing after a framing error can be trusted: end the stream after it.
                    this.eof = true;
                    this.buf = BytesMut::new();
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
            if this.buf.capacity() == this.buf.len() {
                this.buf.reserve(READ_CHUNK);
            }
            match poll_read_buf(Pin::new(&mut this.reader), cx, &mut this.buf) {
                Poll::Pending => {
                    if this.buf.is_empty() {
                        // Idle between frames: hold no buffer while waiting.
                        this.buf = BytesMut::new();
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => this.eof = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    this.eof = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }
}

struct FrameWriter<W> {
    writer: W,
    buf: BytesMut,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    fn poll_write_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        while !self.buf.is_empty() {
            let n = ready!(poll_write_buf(
                Pin::new(&mut self.writer),
                cx,
                &mut self.buf
            ))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> Sink<Bytes> for FrameWriter<W> {
    type Error = LinkError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        if self.buf.len() >= WRITE_BATCH {
            ready!(self.poll_write_all(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, body: Bytes) -> Result<(), LinkError> {
        Ok(frame::encode(&body, &mut self.buf)?)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        ready!(self.poll_write_all(cx))?;
        ready!(Pin::new(&mut self.writer).poll_flush(cx))?;
        // Everything is out: hold no buffer until the next frame.
        self.buf = BytesMut::new();
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Poll::Ready(Ok(ready!(Pin::new(&mut self.writer).poll_shutdown(cx))?))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn framed(bodies: &[Vec<u8>]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for body in bodies {
            frame::encode(body, &mut out).expect("test frames fit");
        }
        out.to_vec()
    }

    #[tokio::test]
    async fn frames_pin_little_beyond_their_own_size() {
        let big = vec![1u8; 256 * 1024];
        let bytes = framed(&[big.clone(), vec![2; 10], vec![3; 5000], vec![4; 5000]]);
        let max = MaxFrame::new(1024 * 1024);
        let mut frames = FrameReader {
            reader: &bytes[..],
            buf: BytesMut::new(),
            max,
            eof: false,
        };
        let mut next = async || frames.next().await.expect("a frame").expect("valid");
        let (first, small, medium, last) = (next().await, next().await, next().await, next().await);
        assert_eq!(first.len(), big.len());
        assert_eq!((small.len(), medium.len(), last.len()), (10, 5000, 5000));
        // The small frame has an allocation of its own; the 256 KiB one is no longer shared
        // with the reader (what followed it moved to a fresh buffer), so it pins only itself.
        assert!(small.is_unique(), "a small frame is copied out");
        assert!(
            first.is_unique(),
            "the grown buffer is not reused for later frames"
        );
        // Large frames are views of the read buffer: the two 5000-byte ones share one.
        assert!(!medium.is_unique());
        drop(frames);
        drop(medium);
        assert!(last.is_unique());
    }
}
