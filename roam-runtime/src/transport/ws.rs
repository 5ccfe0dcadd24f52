//! WebSocket links (`ws://`), on tokio-tungstenite: one binary WebSocket message per roam frame
//! (the message is the frame's body; WebSocket carries the length). The size limit is given to
//! tungstenite as its message and fragment limit, so an oversize message is refused from its
//! header before its payload is buffered. A text message is a violation; pings, pongs and
//! fragmentation are WebSocket's own business and never reach the session.

use std::io;

use bytes::Bytes;
use futures::{SinkExt, StreamExt, future};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::Link;
use crate::framing::{LinkError, MaxFrame, own_small};

/// Buffers tungstenite keeps per link: reads of this size, writes gathered up to this size
/// before a flush forces them out.
const READ_BUFFER: usize = 16 * 1024;
const WRITE_BUFFER: usize = 64 * 1024;

fn config(max: &MaxFrame) -> WebSocketConfig {
    let max = max.get() as usize;
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

fn io_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        other => io::Error::other(other),
    }
}

fn link<S>(ws: WebSocketStream<S>, peer: String, max: &MaxFrame) -> Link
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sink, stream) = ws.split();
    let max = max.clone();
    // Once a text message or an error has been reported nothing else is read.
    let incoming = stream
        .filter_map(move |msg| {
            future::ready(match msg {
                // Small messages get an allocation of their own rather than pinning
                // tungstenite's read buffer (see `framing::SHARE_FROM`).
                Ok(Message::Binary(body)) => Some(Some(max.check(body).map(own_small))),
                Ok(Message::Text(_)) => Some(Some(Err(LinkError::TextMessage))),
                Ok(Message::Close(_)) => Some(None),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => None,
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Some(None),
                Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size })) => {
                    Some(Some(Err(LinkError::too_large(
                        size,
                        u32::try_from(max_size).unwrap_or(u32::MAX),
                    ))))
                }
                Err(e) => Some(Some(Err(LinkError::Io(io_error(e))))),
            })
        })
        .scan(false, |ended, item| {
            let item = if *ended { None } else { item };
            *ended = item.as_ref().is_none_or(|r| r.is_err());
            future::ready(item)
        });
    let outgoing = sink
        .sink_map_err(|e| LinkError::Io(io_error(e)))
        .with(|body: Bytes| future::ready(Ok::<_, LinkError>(Message::Binary(body))));
    Link {
        incoming: Box::pin(incoming),
        outgoing: Box::pin(outgoing),
        peer,
        tls: None,
        tls_failure: None,
    }
}

pub(super) async fn connect(hostport: &str, path: &str, max: &MaxFrame) -> io::Result<Link> {
    let stream = TcpStream::connect(hostport).await?;
    stream.set_nodelay(true)?;
    upgrade(stream, format!("ws://{hostport}{path}"), max).await
}

/// Makes the WebSocket handshake over `stream` (TCP, or TLS for `wss://`) as a client.
pub(super) async fn upgrade<S>(stream: S, url: String, max: &MaxFrame) -> io::Result<Link>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(config(max)))
            .await
            .map_err(io_error)?;
    Ok(link(ws, url, max))
}

/// Answers the WebSocket handshake on `stream` (TCP, or TLS for `wss://`) as a server.
pub(super) async fn accept<S>(stream: S, peer: String, max: &MaxFrame) -> io::Result<Link>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let ws = tokio_tungstenite::accept_async_with_config(stream, Some(config(max)))
        .await
        .map_err(io_error)?;
    Ok(link(ws, peer, max))
}
