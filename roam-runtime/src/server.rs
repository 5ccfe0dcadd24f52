//! Serving and connecting: [`Server`] (listen, accept, serve, shut down gracefully),
//! [`connect`] / [`Connector`] (the initiating side), and [`memory_pair`].
//!
//! Owns listener loops and session lifetimes; per-session protocol work is the driver's.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::Connection;
use crate::dispatch::Router;
use crate::driver::output::OutputBudget;
use crate::driver::{self, SessionOptions};
use crate::error::SessionError;
use crate::session::{Keepalive, Role};
use crate::transport::{self, Address, AddressError, Listener};
use crate::wire::Limits;

/// Connecting or binding failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is not one roam understands.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// The transport could not connect or bind.
    #[error("could not reach {url}: {source}")]
    Io {
        /// The address.
        url: String,
        /// The OS error.
        source: io::Error,
    },
    /// The link was made but the handshake failed.
    #[error("handshake with {url} failed: {source}")]
    Handshake {
        /// The address.
        url: String,
        /// Why.
        source: SessionError,
    },
}

/// The session settings [`Connector`] and [`Server`] share, written once: both keep them in
/// `self.options: SessionOptions`.
macro_rules! session_settings {
    () => {
        /// Sets all announced limits at once (frame size, initial channel credit, concurrent
        /// requests); the effective limits are the minimum of both sides'.
        pub fn limits(mut self, limits: Limits) -> Self {
            self.options.config.limits = limits;
            self
        }

        /// Largest frame accepted from the peer.
        pub fn max_frame_size(mut self, bytes: u32) -> Self {
            self.options.config.limits.max_frame_size = bytes;
            self
        }

        /// Calls from the peer served at once; more get `Overloaded`. With the [output
        /// bound](Self::output_bound) this bounds what a peer that never reads can make this
        /// side hold: about `output_bound + max_concurrent_requests × largest answer`.
        pub fn max_concurrent_requests(mut self, n: u32) -> Self {
            self.options.config.limits.max_concurrent_requests = n;
            self
        }

        /// How long the peer may take to complete the handshake (default 10 s); then the
        /// session fails with [`SessionError::TimedOut`].
        pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
            self.options.config.handshake_timeout = timeout;
            self
        }

        /// Keepalive pings, or `None` for none (default [`Keepalive::DEFAULT`]: a ping every
        /// 15 s, answered within 20 s). A peer that stops answering ends the session with
        /// [`SessionError::TimedOut`].
        pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
            self.options.config.keepalive = keepalive;
            self
        }

        /// Output backpressure: once this many bytes wait to be written to a peer (default
        /// 256 KiB), its session stops reading from it (no new calls or stream items are
        /// taken) until the peer has read them.
        pub fn output_bound(mut self, bytes: usize) -> Self {
            self.options.output_bound = bytes;
            self
        }

        /// How long a peer may read nothing of its session's output while reading from it is
        /// stopped (see [`output_bound`](Self::output_bound)) before the session is ended with
        /// a `Goodbye` (default 30 s).
        pub fn output_stall_timeout(mut self, timeout: Duration) -> Self {
            self.options.config.output_stall_timeout = timeout;
            self
        }

        /// How long a closing session's final frames (its `Goodbye`) may take to reach a peer
        /// that reads slowly or not at all, before the link is dropped (default 2 s).
        pub fn close_linger(mut self, linger: Duration) -> Self {
            self.options.config.close_linger = linger;
            self
        }
    };
}

/// Options for the connecting side of a session.
///
/// ```no_run
/// # async fn demo() -> Result<(), roam::ConnectError> {
/// let conn = roam::Connector::new()
///     .max_concurrent_requests(64)
///     .connect("tcp://127.0.0.1:4000")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Connector {
    options: SessionOptions,
}

impl Connector {
    /// Default limits, no services.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves these services to the peer on the same session (the peer can call back).
    pub fn serve(mut self, router: impl Into<Router>) -> Self {
        self.options.router = Arc::new(router.into());
        self
    }

    session_settings!();

    /// Connects to `url` (`tcp://host:port`, `unix:///path`, `ws://host:port/path` or
    /// `mem://name`) and completes the handshake. Making the link (for WebSocket, its upgrade)
    /// is bounded by the handshake timeout too.
    pub async fn connect(&self, url: &str) -> Result<Connection, ConnectError> {
        let addr = Address::parse(url)?;
        let max_frame = self.options.max_frame();
        let io_err = |source| ConnectError::Io {
            url: url.to_owned(),
            source,
        };
        let link = tokio::time::timeout(
            self.options.config.handshake_timeout,
            transport::connect(&addr, &max_frame),
        )
        .await
        .map_err(|_| {
            io_err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the link was not made within the handshake timeout",
            ))
        })?
        .map_err(io_err)?;
        let (running, _task) = driver::start(
            link,
            max_frame,
            Role::Initiator,
            self.options.clone(),
            CancellationToken::new(),
        )
        .await
        .map_err(|source| ConnectError::Handshake {
            url: url.to_owned(),
            source,
        })?;
        Ok(running.connection)
    }
}

/// Connects to `url` with default options. See [`Connector`] for more.
pub async fn connect(url: &str) -> Result<Connection, ConnectError> {
    Connector::new().connect(url).await
}

/// Two connected in-memory sessions, `(initiator, acceptor)`, serving nothing. Handy in tests.
pub async fn memory_pair() -> (Connection, Connection) {
    match memory_pair_with(Connector::new(), Connector::new()).await {
        Ok(pair) => pair,
        // Both sides are local with default limits: the handshake cannot fail.
        Err(e) => unreachable!("in-memory handshake failed: {e}"),
    }
}

/// Two connected in-memory sessions with options (and services) for each side.
pub async fn memory_pair_with(
    initiator: Connector,
    acceptor: Connector,
) -> Result<(Connection, Connection), SessionError> {
    let (a_max, b_max) = (initiator.options.max_frame(), acceptor.options.max_frame());
    let (a, b) = transport::memory_link_pair(&a_max, &b_max);
    let never = CancellationToken::new();
    let (ra, rb) = tokio::join!(
        driver::start(a, a_max, Role::Initiator, initiator.options, never.clone()),
        driver::start(b, b_max, Role::Acceptor, acceptor.options, never),
    );
    Ok((ra?.0.connection, rb?.0.connection))
}

/// A bound listener waiting to be given services.
///
/// ```no_run
/// # #[roam::service] trait Calculator { async fn add(&self, a: i32, b: i32) -> i32; }
/// # struct Calc; impl Calculator for Calc { async fn add(&self, a: i32, b: i32) -> i32 { a + b } }
/// # async fn demo() -> Result<(), roam::ConnectError> {
/// let server = roam::Server::bind("tcp://127.0.0.1:0").await?
///     .serve(CalculatorDispatcher::new(Calc));
/// println!("listening on {}", server.local_url());
/// server.shutdown().await; // drains calls in flight
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: Listener,
    url: String,
    options: SessionOptions,
    output_budget: usize,
}

/// Default for [`Server::output_budget`].
pub const DEFAULT_OUTPUT_BUDGET: usize = 64 * 1024 * 1024;

impl Server {
    /// Binds `url`: `tcp://host:port` (port 0 for any), `unix:///path`, `ws://host:port/path`
    /// (WebSocket; the path a client asks for is not checked), or `mem://name` (in this process;
    /// `mem://` alone picks a fresh name).
    pub async fn bind(url: &str) -> Result<Server, ConnectError> {
        let addr = Address::parse(url)?;
        let io_err = |source| ConnectError::Io {
            url: url.to_owned(),
            source,
        };
        let listener = Listener::bind(&addr).await.map_err(io_err)?;
        let url = listener.local_url().map_err(io_err)?;
        Ok(Server {
            listener,
            url,
            options: SessionOptions::server(),
            output_budget: DEFAULT_OUTPUT_BUDGET,
        })
    }

    /// The bound address as a URL, with the real port.
    pub fn local_url(&self) -> &str {
        &self.url
    }

    session_settings!();

    /// How long [`ServerHandle::shutdown`] lets calls in flight run before stopping their
    /// handlers and answering them `Unavailable` (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.options.config.drain_grace = grace;
        self
    }

    /// Output queued for all of this server's peers together (default 64 MiB). Over it,
    /// sessions holding more than an eighth of their own [output
    /// bound](Self::output_bound) stop reading from their peers until the total is back under
    /// it; sessions with little queued (peers that read their answers) are read as always.
    pub fn output_budget(mut self, bytes: usize) -> Self {
        self.output_budget = bytes;
        self
    }

    /// Starts accepting sessions and serving `router` on each (a dispatcher or a [`Router`]).
    pub fn serve(self, router: impl Into<Router>) -> ServerHandle {
        let mut options = self.options;
        options.router = Arc::new(router.into());
        let budget = OutputBudget::new(self.output_budget);
        options.output_budget = Some(Arc::clone(&budget));
        let shutdown = CancellationToken::new();
        let sessions = TaskTracker::new();
        let accept = tokio::spawn(accept_loop(
            self.listener,
            options,
            shutdown.clone(),
            sessions.clone(),
        ));
        ServerHandle {
            url: self.url,
            shutdown,
            sessions,
            accept,
            budget,
        }
    }
}

async fn accept_loop(
    mut listener: Listener,
    options: SessionOptions,
    shutdown: CancellationToken,
    sessions: TaskTracker,
) {
    loop {
        let max_frame = options.max_frame();
        let incoming = tokio::select! {
            _ = shutdown.cancelled() => break,
            incoming = listener.accept(&max_frame) => incoming,
        };
        match incoming {
            Ok(incoming) => {
                let options = options.clone();
                let shutdown = shutdown.child_token();
                sessions.spawn(async move {
                    let peer = incoming.peer();
                    let link = match tokio::time::timeout(
                        options.config.handshake_timeout,
                        incoming.into_link(&max_frame),
                    )
                    .await
                    {
                        Ok(Ok(link)) => link,
                        Ok(Err(e)) => {
                            return tracing::debug!(%peer, error = %e, "link not made");
                        }
                        Err(_) => {
                            return tracing::debug!(%peer, "link not made within the handshake timeout");
                        }
                    };
                    // The session runs in this task: one task per session. A failed
                    // handshake is logged by the session's own span.
                    let (run, _established) =
                        driver::prepare(link, max_frame, Role::Acceptor, options, shutdown);
                    run.await;
                });
            }
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Dropping the listener removes a Unix socket's file and a `mem://` name.
    drop(listener);
}

/// A running server. Dropping it leaves the server running in the background; call
/// [`ServerHandle::shutdown`] to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    url: String,
    shutdown: CancellationToken,
    sessions: TaskTracker,
    accept: JoinHandle<()>,
    budget: Arc<OutputBudget>,
}

impl ServerHandle {
    /// The bound address as a URL.
    pub fn local_url(&self) -> &str {
        &self.url
    }

    /// Bytes queued for writing to all peers now (see [`Server::output_budget`]).
    pub fn queued_output(&self) -> usize {
        self.budget.queued()
    }

    /// Number of sessions currently open.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Graceful shutdown: stops accepting, answers new calls on open sessions `Unavailable`,
    /// lets calls in flight finish, says `Goodbye` to every peer, and returns when all sessions
    /// have ended. Bounded: handlers still running after the [shutdown
    /// grace](Server::shutdown_grace) are stopped (their callers get `Unavailable`), and a
    /// peer that does not read its `Goodbye` is dropped after the [close
    /// linger](Server::close_linger), so this returns within grace + linger (plus the handshake
    /// timeout for a session still handshaking).
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.accept.await;
        self.sessions.close();
        self.sessions.wait().await;
    }
}
