//! Transports: where a session's frames travel. A [`Link`] carries whole frames ([`Bytes`]), so
//! each transport frames in its own way and exactly once: byte streams (TCP, Unix sockets)
//! with the length prefix of [`crate::framing`], WebSocket as one binary message per frame,
//! the in-memory link as a channel of frames. The session and everything above are shared.
//!
//! Every transport applies the frame-size limit ([`MaxFrame`]) before it buffers a frame.
//!
//! Addresses are URLs: `tcp://127.0.0.1:4000`, `unix:///run/app.sock` (or `unix:relative.sock`),
//! `ws://127.0.0.1:4000/path`, and `mem://name` for sessions inside one process.
//!
//! Owns links, addresses, listeners and connecting; it never decodes a message.

mod mem;
mod stream;
mod tcp;
#[cfg(unix)]
mod unix;
mod ws;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Sink, Stream};

use crate::framing::{LinkError, MaxFrame};

pub(crate) use mem::memory_link_pair;
pub use stream::byte_stream_link;

/// Frames from the peer. Ends (`None`) when the peer closed the link cleanly.
pub type FrameStream = Pin<Box<dyn Stream<Item = Result<Bytes, LinkError>> + Send>>;
/// Frames to the peer. Frames fed without a flush may be written together (one syscall).
pub type FrameSink = Pin<Box<dyn Sink<Bytes, Error = LinkError> + Send>>;

/// A connected link: frames in, frames out, and a description of the peer.
pub struct Link {
    /// Frames from the peer, each within the [`MaxFrame`] the link was made with.
    pub incoming: FrameStream,
    /// Frames to the peer.
    pub outgoing: FrameSink,
    /// The peer's address as a URL, e.g. `tcp://127.0.0.1:51234`.
    pub peer: String,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A parsed transport address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `tcp://host:port`.
    Tcp(String),
    /// `unix:///absolute/path` or `unix:relative/path`.
    Unix(PathBuf),
    /// `ws://host:port/path` (the path defaults to `/`).
    WebSocket {
        /// `host:port`.
        hostport: String,
        /// The request path, starting with `/`.
        path: String,
    },
    /// `mem://name`: a listener inside this process (`mem://` alone binds a fresh name).
    Memory(String),
}

/// An address could not be parsed or used.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// Unknown scheme or malformed URL.
    #[error(
        "unsupported address `{0}`: use tcp://host:port, unix:///path/to/socket, ws://host:port/path or mem://name"
    )]
    Unsupported(String),
    /// Unix sockets are not available on this platform.
    #[error("unix sockets are not supported on this platform")]
    UnixUnsupported,
}

impl Address {
    /// Parses `tcp://…`, `unix:…`, `ws://…` or `mem://…`.
    ///
    /// ```
    /// use roam::transport::Address;
    /// assert_eq!(Address::parse("tcp://127.0.0.1:4000").unwrap(), Address::Tcp("127.0.0.1:4000".into()));
    /// assert_eq!(
    ///     Address::parse("ws://127.0.0.1:4000").unwrap(),
    ///     Address::WebSocket { hostport: "127.0.0.1:4000".into(), path: "/".into() },
    /// );
    /// assert!(Address::parse("http://x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Address, AddressError> {
        let unsupported = || AddressError::Unsupported(url.to_owned());
        if let Some(hostport) = url.strip_prefix("tcp://") {
            if hostport.is_empty() || hostport.contains('/') {
                return Err(unsupported());
            }
            return Ok(Address::Tcp(hostport.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("ws://") {
            let (hostport, path) = match rest.find('/') {
                Some(at) => (&rest[..at], &rest[at..]),
                None => (rest, "/"),
            };
            if hostport.is_empty() {
                return Err(unsupported());
            }
            return Ok(Address::WebSocket {
                hostport: hostport.to_owned(),
                path: path.to_owned(),
            });
        }
        if let Some(name) = url.strip_prefix("mem://") {
            return Ok(Address::Memory(name.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("unix://")
            .or_else(|| url.strip_prefix("unix:"))
        {
            if path.is_empty() {
                return Err(unsupported());
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        Err(unsupported())
    }
}

#[cfg(not(unix))]
fn unix_unsupported<T>() -> io::Result<T> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        AddressError::UnixUnsupported,
    ))
}

/// Connects to `addr`; the link refuses incoming frames longer than `max`.
pub async fn connect(addr: &Address, max: &MaxFrame) -> io::Result<Link> {
    match addr {
        Address::Tcp(hostport) => tcp::connect(hostport, max).await,
        #[cfg(unix)]
        Address::Unix(path) => unix::connect(path, max).await,
        #[cfg(not(unix))]
        Address::Unix(_) => unix_unsupported(),
        Address::WebSocket { hostport, path } => ws::connect(hostport, path, max).await,
        Address::Memory(name) => mem::connect(name, max).await,
    }
}

/// A bound listener.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(tokio::net::TcpListener),
    /// Unix socket.
    #[cfg(unix)]
    Unix(tokio::net::UnixListener, PathBuf),
    /// WebSocket over TCP, with the path it was bound with.
    WebSocket(tokio::net::TcpListener, String),
    /// In-process.
    Memory(mem::MemoryListener),
}

/// A connection accepted by a [`Listener`] whose link is not made yet: making it may take a
/// handshake (WebSocket's upgrade), which runs in the session's own task, not the accept loop.
#[derive(Debug)]
pub enum Incoming {
    /// Ready as it is.
    Ready(Link),
    /// A TCP connection to upgrade to WebSocket.
    WebSocket(tokio::net::TcpStream, String),
}

impl Incoming {
    /// The peer's address as a URL.
    pub fn peer(&self) -> String {
        match self {
            Incoming::Ready(link) => link.peer.clone(),
            Incoming::WebSocket(_, peer) => peer.clone(),
        }
    }

    /// Finishes making the link (for WebSocket: answers the upgrade request).
    pub async fn into_link(self, max: &MaxFrame) -> io::Result<Link> {
        match self {
            Incoming::Ready(link) => Ok(link),
            Incoming::WebSocket(stream, peer) => ws::accept(stream, peer, max).await,
        }
    }
}

impl Listener {
    /// Binds `addr`. For Unix sockets a stale socket file at the path is replaced.
    pub async fn bind(addr: &Address) -> io::Result<Listener> {
        match addr {
            Address::Tcp(hostport) => Ok(Listener::Tcp(
                tokio::net::TcpListener::bind(hostport).await?,
            )),
            #[cfg(unix)]
            Address::Unix(path) => unix::bind(path).map(|l| Listener::Unix(l, path.clone())),
            #[cfg(not(unix))]
            Address::Unix(_) => unix_unsupported(),
            Address::WebSocket { hostport, path } => Ok(Listener::WebSocket(
                tokio::net::TcpListener::bind(hostport).await?,
                path.clone(),
            )),
            Address::Memory(name) => mem::bind(name).map(Listener::Memory),
        }
    }

    /// The bound address as a URL (with the real port when bound to port 0).
    pub fn local_url(&self) -> io::Result<String> {
        match self {
            Listener::Tcp(l) => Ok(format!("tcp://{}", l.local_addr()?)),
            #[cfg(unix)]
            Listener::Unix(_, path) => Ok(format!("unix://{}", path.display())),
            Listener::WebSocket(l, path) => Ok(format!("ws://{}{path}", l.local_addr()?)),
            Listener::Memory(l) => Ok(format!("mem://{}", l.name())),
        }
    }

    /// Accepts the next connection; `max` bounds the frames of links that are ready at once.
    pub async fn accept(&mut self, max: &MaxFrame) -> io::Result<Incoming> {
        match self {
            Listener::Tcp(l) => tcp::accept(l, max).await.map(Incoming::Ready),
            #[cfg(unix)]
            Listener::Unix(l, path) => unix::accept(l, path, max).await.map(Incoming::Ready),
            Listener::WebSocket(l, _) => {
                let (stream, addr) = l.accept().await?;
                stream.set_nodelay(true)?;
                Ok(Incoming::WebSocket(stream, format!("ws://{addr}")))
            }
            Listener::Memory(l) => l.accept(max).await.map(Incoming::Ready),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        match self {
            #[cfg(unix)]
            Listener::Unix(_, path) => {
                let _ = std::fs::remove_file(path);
            }
            Listener::Memory(l) => l.unregister(),
            _ => {}
        }
    }
}
