//! Transports: where the bytes of a session travel. Each one only moves bytes; framing, the
//! session and everything above are shared.
//!
//! Addresses are URLs: `tcp://127.0.0.1:4000`, `unix:///run/app.sock` (or `unix:relative.sock`).
//! In-memory pairs (for tests and same-process use) come from [`crate::memory_pair`].

mod mem;
mod tcp;
#[cfg(unix)]
mod unix;

use std::fmt;
use std::io;
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) use mem::duplex_link;

/// The reading half of a link.
pub type LinkReader = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a link.
pub type LinkWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// A connected byte stream, split into halves, plus a description of the peer.
pub struct Link {
    /// Bytes from the peer.
    pub reader: LinkReader,
    /// Bytes to the peer.
    pub writer: LinkWriter,
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
}

/// An address could not be parsed or used.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// Unknown scheme or malformed URL.
    #[error("unsupported address `{0}`: use tcp://host:port or unix:///path/to/socket")]
    Unsupported(String),
    /// Unix sockets are not available on this platform.
    #[error("unix sockets are not supported on this platform")]
    UnixUnsupported,
}

impl Address {
    /// Parses `tcp://…` or `unix:…`.
    ///
    /// ```
    /// use roam::transport::Address;
    /// assert_eq!(Address::parse("tcp://127.0.0.1:4000").unwrap(), Address::Tcp("127.0.0.1:4000".into()));
    /// assert!(Address::parse("http://x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Address, AddressError> {
        if let Some(hostport) = url.strip_prefix("tcp://") {
            if hostport.is_empty() || hostport.contains('/') {
                return Err(AddressError::Unsupported(url.to_owned()));
            }
            return Ok(Address::Tcp(hostport.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("unix://")
            .or_else(|| url.strip_prefix("unix:"))
        {
            if path.is_empty() {
                return Err(AddressError::Unsupported(url.to_owned()));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        Err(AddressError::Unsupported(url.to_owned()))
    }
}

/// Connects to `addr`.
pub async fn connect(addr: &Address) -> io::Result<Link> {
    match addr {
        Address::Tcp(hostport) => tcp::connect(hostport).await,
        #[cfg(unix)]
        Address::Unix(path) => unix::connect(path).await,
        #[cfg(not(unix))]
        Address::Unix(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            AddressError::UnixUnsupported,
        )),
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
            Address::Unix(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                AddressError::UnixUnsupported,
            )),
        }
    }

    /// The bound address as a URL (with the real port when bound to port 0).
    pub fn local_url(&self) -> io::Result<String> {
        match self {
            Listener::Tcp(l) => Ok(format!("tcp://{}", l.local_addr()?)),
            #[cfg(unix)]
            Listener::Unix(_, path) => Ok(format!("unix://{}", path.display())),
        }
    }

    /// Accepts the next link.
    pub async fn accept(&self) -> io::Result<Link> {
        match self {
            Listener::Tcp(l) => tcp::accept(l).await,
            #[cfg(unix)]
            Listener::Unix(l, path) => unix::accept(l, path).await,
        }
    }
}
