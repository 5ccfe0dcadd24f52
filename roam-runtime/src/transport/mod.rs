//! Transports: where a session's frames travel. A [`Link`] carries whole frames ([`Bytes`]), so
//! each transport frames in its own way and exactly once: byte streams (TCP, Unix sockets)
//! with the length prefix of [`crate::framing`], WebSocket as one binary message per frame,
//! the in-memory link as a channel of frames. The session and everything above are shared.
//!
//! Every transport applies the frame-size limit ([`MaxFrame`]) before it buffers a frame.
//!
//! Addresses are URLs: `tcp://127.0.0.1:4000`, `unix:///run/app.sock` (or `unix:relative.sock`),
//! `ws://127.0.0.1:4000/path`, their TLS forms `tls://host:port` and `wss://host:port/path`
//! ([`tls`]), and `mem://name` for sessions inside one process.
//!
//! Owns links, addresses, listeners and connecting; it never decodes a message.

mod mem;
mod stream;
mod tcp;
pub mod tls;
#[cfg(unix)]
mod unix;
mod ws;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::{Sink, Stream};

use crate::framing::{LinkError, MaxFrame};
use tls::{ClientTls, ServerTls, TlsPeer};

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
    /// Over TLS: the certificate chain the peer presented (a client's only when it sent one).
    pub tls: Option<TlsPeer>,
    /// Over TLS, on the connecting side: the first TLS error a read reported (a server that
    /// refuses our certificate after the TLS 1.3 handshake says so only then).
    pub(crate) tls_failure: Option<Arc<OnceLock<rustls::Error>>>,
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
    /// `tls://host:port`: frames as over TCP, inside TLS.
    Tls(String),
    /// `wss://host:port/path`: WebSocket inside TLS.
    SecureWebSocket {
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
        "unsupported address `{0}`: use tcp://host:port, tls://host:port, unix:///path/to/socket, ws://host:port/path, wss://host:port/path or mem://name"
    )]
    Unsupported(String),
    /// A TLS address was bound without a certificate.
    #[error("`{0}` is a TLS address: bind it with Server::bind_tls and the server's certificate")]
    TlsNeedsCertificate(String),
    /// Unix sockets are not available on this platform.
    #[error("unix sockets are not supported on this platform")]
    UnixUnsupported,
}

impl Address {
    /// Whether this is a TLS address (`tls://` or `wss://`).
    pub fn is_tls(&self) -> bool {
        matches!(self, Address::Tls(_) | Address::SecureWebSocket { .. })
    }

    /// Parses `tcp://…`, `tls://…`, `unix:…`, `ws://…`, `wss://…` or `mem://…`.
    ///
    /// ```
    /// use roam::transport::Address;
    /// assert_eq!(Address::parse("tcp://127.0.0.1:4000").unwrap(), Address::Tcp("127.0.0.1:4000".into()));
    /// assert_eq!(
    ///     Address::parse("ws://127.0.0.1:4000").unwrap(),
    ///     Address::WebSocket { hostport: "127.0.0.1:4000".into(), path: "/".into() },
    /// );
    /// assert_eq!(Address::parse("tls://example.com:443").unwrap(), Address::Tls("example.com:443".into()));
    /// assert!(Address::parse("http://x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Address, AddressError> {
        let unsupported = || AddressError::Unsupported(url.to_owned());
        for (scheme, make) in [
            ("tcp://", Address::Tcp as fn(String) -> Address),
            ("tls://", Address::Tls),
        ] {
            if let Some(hostport) = url.strip_prefix(scheme) {
                if hostport.is_empty() || hostport.contains('/') {
                    return Err(unsupported());
                }
                return Ok(make(hostport.to_owned()));
            }
        }
        for (scheme, secure) in [("ws://", false), ("wss://", true)] {
            if let Some(rest) = url.strip_prefix(scheme) {
                let (hostport, path) = match rest.find('/') {
                    Some(at) => (&rest[..at], &rest[at..]),
                    None => (rest, "/"),
                };
                if hostport.is_empty() {
                    return Err(unsupported());
                }
                let (hostport, path) = (hostport.to_owned(), path.to_owned());
                return Ok(if secure {
                    Address::SecureWebSocket { hostport, path }
                } else {
                    Address::WebSocket { hostport, path }
                });
            }
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

/// The IP address in a peer URL such as `tcp://127.0.0.1:5000`.
pub(crate) fn ip_of(peer: &str) -> Option<std::net::IpAddr> {
    let (_, rest) = peer.split_once("://")?;
    let hostport = rest.split('/').next()?;
    hostport
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.ip())
}

#[cfg(not(unix))]
fn unix_unsupported<T>() -> io::Result<T> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        AddressError::UnixUnsupported,
    ))
}

/// Connects to `addr`; the link refuses incoming frames longer than `max`. TLS addresses trust
/// the platform's roots ([`ClientTls::platform`]); see [`connect_with`].
pub async fn connect(addr: &Address, max: &MaxFrame) -> io::Result<Link> {
    connect_with(addr, max, None).await
}

/// Connects to `addr`, with `tls` for `tls://` and `wss://` (the platform's roots when `None`;
/// they are loaded only for a TLS address). A TLS handshake failure is an I/O error carrying
/// rustls' error.
pub async fn connect_with(
    addr: &Address,
    max: &MaxFrame,
    tls: Option<&ClientTls>,
) -> io::Result<Link> {
    let tls = || tls.cloned().unwrap_or_else(ClientTls::platform);
    match addr {
        Address::Tcp(hostport) => tcp::connect(hostport, max).await,
        Address::Tls(hostport) => connect_tls(hostport, None, max, &tls()).await,
        Address::SecureWebSocket { hostport, path } => {
            connect_tls(hostport, Some(path), max, &tls()).await
        }
        #[cfg(unix)]
        Address::Unix(path) => unix::connect(path, max).await,
        #[cfg(not(unix))]
        Address::Unix(_) => unix_unsupported(),
        Address::WebSocket { hostport, path } => ws::connect(hostport, path, max).await,
        Address::Memory(name) => mem::connect(name, max).await,
    }
}

/// A `tls://` link, or with `websocket_path` a `wss://` one, to `hostport`.
async fn connect_tls(
    hostport: &str,
    websocket_path: Option<&str>,
    max: &MaxFrame,
    tls: &ClientTls,
) -> io::Result<Link> {
    let (stream, peer) = tls::connect(hostport, tls).await?;
    let failure = stream.failure();
    let mut link = match websocket_path {
        Some(path) => ws::upgrade(stream, format!("wss://{hostport}{path}"), max).await?,
        None => {
            let (r, w) = tokio::io::split(stream);
            byte_stream_link(r, w, format!("tls://{hostport}"), max)
        }
    };
    link.tls = peer;
    link.tls_failure = Some(failure);
    Ok(link)
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
    /// TLS over TCP.
    Tls(tokio::net::TcpListener, ServerTls),
    /// WebSocket over TLS, with the path it was bound with.
    SecureWebSocket(tokio::net::TcpListener, String, ServerTls),
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
    /// A TCP connection whose TLS handshake is still to run, then (if `true`) the WebSocket
    /// upgrade.
    Tls(tokio::net::TcpStream, String, ServerTls, bool),
}

impl Incoming {
    /// The peer's address as a URL.
    pub fn peer(&self) -> String {
        match self {
            Incoming::Ready(link) => link.peer.clone(),
            Incoming::WebSocket(_, peer) | Incoming::Tls(_, peer, _, _) => peer.clone(),
        }
    }

    /// The peer's IP address, when it came over the network.
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Incoming::Ready(link) => ip_of(&link.peer),
            Incoming::WebSocket(stream, _) | Incoming::Tls(stream, _, _, _) => {
                stream.peer_addr().ok().map(|a| a.ip())
            }
        }
    }

    /// Finishes making the link (for WebSocket: answers the upgrade request).
    pub async fn into_link(self, max: &MaxFrame) -> io::Result<Link> {
        match self {
            Incoming::Ready(link) => Ok(link),
            Incoming::WebSocket(stream, peer) => ws::accept(stream, peer, max).await,
            Incoming::Tls(stream, peer, acceptor, websocket) => {
                let (stream, tls) = tls::accept(stream, &acceptor).await?;
                let mut link = if websocket {
                    ws::accept(stream, peer, max).await?
                } else {
                    let (r, w) = tokio::io::split(stream);
                    byte_stream_link(r, w, peer, max)
                };
                link.tls = tls;
                Ok(link)
            }
        }
    }
}

impl Listener {
    /// Binds `addr`. For Unix sockets a stale socket file at the path is replaced. TLS
    /// addresses need a certificate: see [`Listener::bind_tls`].
    pub async fn bind(addr: &Address) -> io::Result<Listener> {
        match addr {
            Address::Tls(hostport) | Address::SecureWebSocket { hostport, .. } => {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    AddressError::TlsNeedsCertificate(hostport.clone()),
                ))
            }
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

    /// Binds `addr` with `tls` for `tls://` and `wss://`; other addresses as [`Listener::bind`].
    pub async fn bind_tls(addr: &Address, tls: &ServerTls) -> io::Result<Listener> {
        match addr {
            Address::Tls(hostport) => Ok(Listener::Tls(
                tokio::net::TcpListener::bind(hostport).await?,
                tls.clone(),
            )),
            Address::SecureWebSocket { hostport, path } => Ok(Listener::SecureWebSocket(
                tokio::net::TcpListener::bind(hostport).await?,
                path.clone(),
                tls.clone(),
            )),
            other => Box::pin(Listener::bind(other)).await,
        }
    }

    /// The bound address as a URL (with the real port when bound to port 0).
    pub fn local_url(&self) -> io::Result<String> {
        match self {
            Listener::Tcp(l) => Ok(format!("tcp://{}", l.local_addr()?)),
            #[cfg(unix)]
            Listener::Unix(_, path) => Ok(format!("unix://{}", path.display())),
            Listener::WebSocket(l, path) => Ok(format!("ws://{}{path}", l.local_addr()?)),
            Listener::Tls(l, _) => Ok(format!("tls://{}", l.local_addr()?)),
            Listener::SecureWebSocket(l, path, _) => Ok(format!("wss://{}{path}", l.local_addr()?)),
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
            Listener::Tls(l, tls) => accept_tls(l, tls, false).await,
            Listener::SecureWebSocket(l, _, tls) => accept_tls(l, tls, true).await,
            Listener::Memory(l) => l.accept(max).await.map(Incoming::Ready),
        }
    }
}

/// Accepts a TCP connection whose TLS handshake (then, for `wss://`, WebSocket upgrade) the
/// session's task will run.
async fn accept_tls(
    listener: &tokio::net::TcpListener,
    tls: &ServerTls,
    websocket: bool,
) -> io::Result<Incoming> {
    let (stream, addr) = listener.accept().await?;
    stream.set_nodelay(true)?;
    let scheme = if websocket { "wss" } else { "tls" };
    Ok(Incoming::Tls(
        stream,
        format!("{scheme}://{addr}"),
        tls.clone(),
        websocket,
    ))
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
