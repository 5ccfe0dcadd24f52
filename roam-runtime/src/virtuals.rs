//! Virtual connections as application code sees them: [`Connection::open`] with
//! [`OpenOptions`], the acceptor callback ([`AcceptConnections`], answered with [`Accept`] or
//! a [`Refusal`]) and [`OpenError`]. The protocol (IDs, limits, what a close releases) is the
//! session's (`roam_proto::session`, `docs/protocol.md` §9); running it is the driver's. This
//! module only carries requests and decisions between them.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::auth::Refusal;
use crate::connection::Connection;
use crate::dispatch::Router;
use crate::error::SessionError;
use crate::inbox::Command;
use crate::metadata::{Metadata, MetadataValue};

/// Requests a virtual connection serves at once unless told otherwise.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: u32 = 1024;

/// How to open a virtual connection: what to tell the peer's acceptor, and what this side
/// serves on it.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub(crate) metadata: Metadata,
    pub(crate) router: Arc<Router>,
    pub(crate) max_concurrent_requests: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            metadata: Metadata::new(),
            router: Arc::new(Router::new()),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

impl OpenOptions {
    /// No metadata, no services of ours on it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry to what the peer's acceptor decides on.
    pub fn with_metadata(
        mut self,
        key: impl Into<String>,
        value: impl Into<MetadataValue>,
    ) -> Self {
        self.metadata.insert(key, value);
        self
    }

    /// Serves `router`'s services to the peer on this connection (calls back to us).
    pub fn serve(mut self, router: Router) -> Self {
        self.router = Arc::new(router);
        self
    }

    /// How many of the peer's calls we serve at once on it (beyond: `Overloaded`).
    pub fn max_concurrent_requests(mut self, n: u32) -> Self {
        self.max_concurrent_requests = n;
        self
    }
}

/// Why [`Connection::open`] gave no connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The peer's acceptor refused; `reason` is its words.
    #[error("the peer refused the connection: {reason}")]
    Rejected {
        /// What the acceptor said.
        reason: String,
    },
    /// This side already has 1,024 virtual connections open or opening on the session.
    #[error("too many virtual connections on this session; close some before opening more")]
    TooMany,
    /// The metadata is over the protocol's limits or larger than a frame.
    #[error("the connection's metadata cannot be sent ({0}); send fewer or shorter entries")]
    Metadata(String),
    /// The session (or the connection `open` was called on) ended first.
    #[error("the session ended before the connection opened: {0}")]
    Lost(SessionError),
}

/// The acceptor's yes: the services it serves on the new connection.
#[derive(Debug, Clone)]
pub struct Accept {
    pub(crate) router: Arc<Router>,
    pub(crate) metadata: Metadata,
    pub(crate) max_concurrent_requests: u32,
}

impl Accept {
    /// Serves `router` on the new connection.
    pub fn serve(router: Router) -> Self {
        Accept {
            router: Arc::new(router),
            metadata: Metadata::new(),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }

    /// Adds an entry to what the opener is told.
    pub fn with_metadata(
        mut self,
        key: impl Into<String>,
        value: impl Into<MetadataValue>,
    ) -> Self {
        self.metadata.insert(key, value);
        self
    }

    /// How many of the opener's calls are served at once on it.
    pub fn max_concurrent_requests(mut self, n: u32) -> Self {
        self.max_concurrent_requests = n;
        self
    }
}

/// Decides on the virtual connections the peer opens, from the opener's metadata. Any
/// `Fn(&Metadata) -> Result<Accept, Refusal>` is one. It runs on the session's driver, so it
/// decides without waiting (look up, do not call out).
pub trait AcceptConnections: Send + Sync + 'static {
    /// [`Accept`] with the services to serve there, or refuse with the reason the opener sees.
    fn accept(&self, metadata: &Metadata) -> Result<Accept, Refusal>;
}

impl<F> AcceptConnections for F
where
    F: Fn(&Metadata) -> Result<Accept, Refusal> + Send + Sync + 'static,
{
    fn accept(&self, metadata: &Metadata) -> Result<Accept, Refusal> {
        self(metadata)
    }
}

/// What [`Connection::open`] asks the driver for (inside `Command::Open`).
pub(crate) struct OpenRequest {
    pub(crate) options: OpenOptions,
    pub(crate) reply: oneshot::Sender<Result<Connection, OpenError>>,
}

impl Connection {
    /// Opens a virtual connection on this session: its own services (`options.serve`), calls,
    /// channels and limits, decided on by the peer's acceptor from `options` metadata (see
    /// `Server::accept_connections`, `Connector::accept_connections`). It closes when its
    /// last handle is dropped, with [`close`](Self::close), or when the peer closes it; it
    /// survives a resumed link like everything else on the session.
    ///
    /// ```no_run
    /// # async fn demo(conn: roam::Connection) -> Result<(), roam::OpenError> {
    /// let billing = conn
    ///     .open(roam::OpenOptions::new().with_metadata("service", "billing"))
    ///     .await?;
    /// // BillingClient::new(billing) …
    /// # Ok(()) }
    /// ```
    pub async fn open(&self, options: OpenOptions) -> Result<Connection, OpenError> {
        let (reply, rx) = oneshot::channel();
        let request = OpenRequest { options, reply };
        if self
            .shared
            .commands
            .send(Command::Open(Box::new(request)))
            .is_err()
        {
            return Err(OpenError::Lost(self.closed_reason()));
        }
        rx.await
            .unwrap_or_else(|_| Err(OpenError::Lost(self.closed_reason())))
    }
}
