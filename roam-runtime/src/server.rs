//! Serving and connecting: [`Server`] (listen, accept, serve, shut down gracefully),
//! [`connect`] / [`Connector`] (the initiating side), and [`memory_pair`].
//!
//! Owns listener loops, session lifetimes and a server's session limits; per-session
//! protocol work is the driver's.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Authenticator;
use crate::connection::Connection;
use crate::dispatch::Router;
use crate::driver::output::OutputBudget;
use crate::driver::resume::{Redial, RetryPolicy};
use crate::driver::{self, SessionOptions};
use crate::error::RefusedBy;
use crate::error::SessionError;
use crate::intercept::{ClientInterceptor, Interceptor, Metrics, MetricsLayer};
use crate::metadata::MetadataValue;
use crate::session::{Keepalive, Resumption, Role};
use crate::tls::{ClientTls, ServerTls, TlsError};
use crate::transport::{self, Address, AddressError, Listener};
use crate::wire::Limits;

/// Connecting or binding failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// The TLS handshake failed (an untrusted or wrong certificate, a refused client
    /// certificate, ...).
    #[error("TLS with {url} failed: {source}")]
    Tls {
        /// The address.
        url: String,
        /// What went wrong, and what to fix.
        source: TlsError,
    },
    /// The server refused the session: bad credentials, or one of its session limits.
    #[error("{url} refused the session ({}): {reason}; {}", by.rule(), by.advice())]
    Refused {
        /// The address.
        url: String,
        /// Which of the server's rules refused it.
        by: RefusedBy,
        /// The server's reason.
        reason: String,
    },
    /// The metadata given for the `Hello` breaks the protocol's limits.
    #[error("the Hello metadata is over the protocol limits ({0}); send fewer or shorter entries")]
    Metadata(&'static str),
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
        /// session fails with [`SessionError::TimedOut`]. On a server it is the whole budget of
        /// a new session: making the link (TLS, the WebSocket upgrade), both `Hello`s and the
        /// [authenticator](Server::authenticate); past it a peer that has a link is told
        /// `Goodbye("handshake-timeout: …")`, and one still making its link is dropped (no roam
        /// frame can be sent before the link exists).
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

        /// Resumption (on by default): sessions number, acknowledge and keep what they send,
        /// so that a lost link loses nothing: the client dials again and resumes, the server
        /// keeps a session without a link for [`Resumption::grace`]. `None` turns it off: a
        /// lost link then ends the session, failing calls in flight with `ConnectionLost`.
        /// Both sides must have it for a session to use it.
        pub fn resumption(mut self, resumption: Option<Resumption>) -> Self {
            self.options.config.resumption = resumption;
            self
        }

        /// Decides on the virtual connections the peer opens on a session
        /// ([`Connection::open`]): from the opener's metadata, [`Accept`](crate::Accept) with
        /// the services to serve there, or refuse with a [`Refusal`](crate::Refusal) whose
        /// reason the opener gets as [`OpenError::Rejected`](crate::OpenError). Without one,
        /// every virtual connection is refused.
        ///
        /// ```no_run
        /// # fn demo(server: roam::Server, billing: roam::Router) -> roam::Server {
        /// server.accept_connections(move |md: &roam::Metadata| match md.get_str("service") {
        ///     Some("billing") => Ok(roam::Accept::serve(billing.clone())),
        ///     _ => Err(roam::Refusal::new("ask for service=billing")),
        /// })
        /// # }
        /// ```
        pub fn accept_connections(mut self, acceptor: impl crate::AcceptConnections) -> Self {
            self.options.acceptor = Some(Arc::new(acceptor));
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
#[derive(Clone, Debug)]
pub struct Connector {
    options: SessionOptions,
    tls: Option<ClientTls>,
    retry: RetryPolicy,
}

impl Default for Connector {
    fn default() -> Self {
        let mut options = SessionOptions::default();
        options.config.resumption = Some(Resumption::default());
        Connector {
            options,
            tls: None,
            retry: RetryPolicy::default(),
        }
    }
}

impl Connector {
    /// Default limits, no services, resumption on with the default [`RetryPolicy`].
    pub fn new() -> Self {
        Self::default()
    }

    /// How the connection dials again after losing its link (with resumption on).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Serves these services to the peer on the same session (the peer can call back).
    pub fn serve(mut self, router: impl Into<Router>) -> Self {
        self.options.router = Arc::new(router.into());
        self
    }

    session_settings!();

    /// What `tls://` and `wss://` connections trust and present (default:
    /// [`ClientTls::platform`], the platform's roots, no client certificate).
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Adds an entry to the metadata of our `Hello`: credentials a server's
    /// [authenticator](Server::authenticate) reads, e.g.
    /// `.with_metadata("authorization", "Bearer …")`.
    pub fn with_metadata(
        mut self,
        key: impl Into<String>,
        value: impl Into<MetadataValue>,
    ) -> Self {
        self.options.config.metadata.insert(key, value);
        self
    }

    /// Runs `layer` around every call made on the connection (inside the ones added before).
    pub fn intercept(mut self, layer: impl ClientInterceptor) -> Self {
        self.options
            .client_interceptors
            .push(Arc::new(layer), false);
        self
    }

    /// Connects to `url` (`tcp://host:port`, `tls://host:port`, `unix:///path`,
    /// `ws://host:port/path`, `wss://host:port/path` or `mem://name`) and completes the
    /// handshake. Making the link (TLS, the WebSocket upgrade) is bounded by the handshake
    /// timeout too.
    pub async fn connect(&self, url: &str) -> Result<Connection, ConnectError> {
        let addr = Address::parse(url)?;
        self.options
            .config
            .metadata
            .check_limits()
            .map_err(ConnectError::Metadata)?;
        let max_frame = self.options.max_frame();
        let io_err = |source: io::Error| match TlsError::from_io(&source, url) {
            Some(source) => ConnectError::Tls {
                url: url.to_owned(),
                source,
            },
            None => ConnectError::Io {
                url: url.to_owned(),
                source,
            },
        };
        let link = tokio::time::timeout(
            self.options.config.handshake_timeout,
            transport::connect_with(&addr, &max_frame, self.tls.as_ref()),
        )
        .await
        .map_err(|_| {
            io_err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the link was not made within the handshake timeout",
            ))
        })?
        .map_err(io_err)?;
        let tls_failure = link.tls_failure.clone();
        let mut options = self.options.clone();
        if options.config.resumption.is_some() {
            options.redial = Some(Arc::new(Redial {
                addr,
                tls: self.tls.clone(),
                policy: self.retry,
                link_timeout: options.config.handshake_timeout,
            }));
        }
        let started = driver::start(
            link,
            max_frame,
            Role::Initiator,
            options,
            CancellationToken::new(),
        )
        .await;
        match started {
            Ok((running, _task)) => Ok(running.connection),
            Err(SessionError::Refused { by, reason }) => Err(ConnectError::Refused {
                url: url.to_owned(),
                by,
                reason,
            }),
            // A TLS 1.3 server refuses a client certificate after our handshake finished: the
            // refusal is the read error that ended this one.
            Err(source) => match tls_failure.as_ref().and_then(|f| f.get()) {
                Some(tls) => Err(ConnectError::Tls {
                    url: url.to_owned(),
                    source: TlsError::from_rustls(tls, url),
                }),
                None => Err(ConnectError::Handshake {
                    url: url.to_owned(),
                    source,
                }),
            },
        }
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
    // A link pair cannot be dialled again: nothing could resume these sessions.
    let (mut a_options, mut b_options) = (initiator.options, acceptor.options);
    a_options.config.resumption = None;
    b_options.config.resumption = None;
    let (ra, rb) = tokio::join!(
        driver::start(a, a_max, Role::Initiator, a_options, never.clone()),
        driver::start(b, b_max, Role::Acceptor, b_options, never),
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
    limits: SessionLimits,
}

/// A server's limits on sessions (see [`Server::max_sessions`]).
#[derive(Debug, Clone, Copy, Default)]
struct SessionLimits {
    total: Option<usize>,
    per_peer: Option<usize>,
}

/// Default for [`Server::output_budget`].
pub const DEFAULT_OUTPUT_BUDGET: usize = 64 * 1024 * 1024;

impl Server {
    /// Binds `url`: `tcp://host:port` (port 0 for any), `unix:///path`, `ws://host:port/path`
    /// (WebSocket; the path a client asks for is not checked), or `mem://name` (in this process;
    /// `mem://` alone picks a fresh name).
    ///
    /// `tls://` and `wss://` need the server's certificate: use [`Server::bind_tls`].
    pub async fn bind(url: &str) -> Result<Server, ConnectError> {
        let addr = Address::parse(url)?;
        if addr.is_tls() {
            return Err(AddressError::TlsNeedsCertificate(url.to_owned()).into());
        }
        Server::bind_addr(url, &addr, None).await
    }

    /// Binds `url` with TLS: `tls://host:port` (frames as over TCP, inside TLS) or
    /// `wss://host:port/path` (WebSocket inside TLS), serving `tls`'s certificate. The TLS
    /// handshake runs in the new session's task, within its [handshake
    /// budget](Server::handshake_timeout).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let tls = roam::tls::ServerTls::from_pem(&std::fs::read("cert.pem")?, &std::fs::read("key.pem")?)?;
    /// let server = roam::Server::bind_tls("wss://0.0.0.0:443/roam", tls).await?;
    /// # Ok(()) }
    /// ```
    pub async fn bind_tls(url: &str, tls: ServerTls) -> Result<Server, ConnectError> {
        let addr = Address::parse(url)?;
        Server::bind_addr(url, &addr, Some(&tls)).await
    }

    async fn bind_addr(
        url: &str,
        addr: &Address,
        tls: Option<&ServerTls>,
    ) -> Result<Server, ConnectError> {
        let io_err = |source| ConnectError::Io {
            url: url.to_owned(),
            source,
        };
        let listener = match tls {
            Some(tls) => Listener::bind_tls(addr, tls).await,
            None => Listener::bind(addr).await,
        }
        .map_err(io_err)?;
        let url = listener.local_url().map_err(io_err)?;
        Ok(Server {
            listener,
            url,
            options: SessionOptions::server(),
            output_budget: DEFAULT_OUTPUT_BUDGET,
            limits: SessionLimits::default(),
        })
    }

    /// Decides for each new session whether to serve it ([`Authenticator`]): it sees the
    /// peer's address, TLS certificate and `Hello` metadata, and returns the
    /// [`Identity`](crate::Identity) handlers see, or a [`Refusal`](crate::Refusal) the client
    /// receives as [`ConnectError::Refused`].
    pub fn authenticate(mut self, authenticator: impl Authenticator) -> Self {
        self.options.authenticator = Some(Arc::new(authenticator));
        self
    }

    /// Runs `layer` around every call this server serves (inside the ones added before, so
    /// the first added is the outermost).
    pub fn intercept(mut self, layer: impl Interceptor) -> Self {
        self.options.interceptors.push(Arc::new(layer), false);
        self
    }

    /// Reports every served call, and sessions and channels opening and closing, to
    /// `metrics` (outermost, so calls other interceptors refuse are counted too).
    pub fn metrics(mut self, metrics: impl Metrics) -> Self {
        let metrics: Arc<dyn Metrics> = Arc::new(metrics);
        self.options
            .interceptors
            .push(Arc::new(MetricsLayer(Arc::clone(&metrics))), true);
        self.options.metrics = Some(metrics);
        self
    }

    /// Serves at most `n` sessions at once (those still handshaking included); the next is
    /// refused with `Goodbye("session-limit: …")` ([`RefusedBy::SessionLimit`]).
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.limits.total = Some(n);
        self
    }

    /// Serves at most `n` sessions at once from one IP address; the next from it is refused
    /// with `Goodbye("peer-session-limit: …")` ([`RefusedBy::PeerSessionLimit`]). Sessions
    /// over `unix://` and `mem://` have no address and count only toward
    /// [`Server::max_sessions`].
    pub fn max_sessions_per_peer(mut self, n: usize) -> Self {
        self.limits.per_peer = Some(n);
        self
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
        // A server answers with its `Hello` only once it has admitted the peer, so that a
        // refusal (credentials, session limits) is the first thing the client hears.
        options.config.admission = true;
        if options.config.resumption.is_some() {
            options.resumables = Some(Arc::default());
        }
        let budget = OutputBudget::new(self.output_budget);
        options.output_budget = Some(Arc::clone(&budget));
        let shutdown = CancellationToken::new();
        let sessions = TaskTracker::new();
        let accept = tokio::spawn(accept_loop(
            self.listener,
            options,
            Admission::new(self.limits),
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

/// Counts a server's sessions against its limits.
#[derive(Debug)]
struct Admission {
    limits: SessionLimits,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Sessions per peer key (see [`peer_key`]); an entry exists only while its count is
    /// above 0, so the map holds at most `total` entries.
    per_peer: HashMap<IpAddr, usize>,
    /// Connections being refused now (their `Goodbye` on its way).
    refusing: usize,
}

/// Connections a server refuses at once with a `Goodbye` naming the limit; past this many
/// (a flood), further ones are closed without a word, so refusing costs a bounded number of
/// tasks and TLS handshakes however many peers knock.
pub const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// What a peer's sessions are counted under: its IPv4 address, or the /64 prefix of its IPv6
/// address (one host usually holds a whole /64, so counting single addresses would not limit
/// it).
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// A refused connection's place among the refusals in flight.
struct Refusing(Arc<Admission>);

impl Drop for Refusing {
    fn drop(&mut self) {
        self.0.lock().refusing -= 1;
    }
}

/// Holds one session's place in the counts; gives it back when the session's task ends.
struct Place {
    admission: Arc<Admission>,
    ip: Option<IpAddr>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.admission.lock();
        counts.total -= 1;
        if let Some(ip) = self.ip
            && let Some(n) = counts.per_peer.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.per_peer.remove(&ip);
            }
        }
    }
}

impl Admission {
    fn new(limits: SessionLimits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            counts: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts are two integers updated in one step each: a panic cannot leave them
        // half-written.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a place for a refusal, or `None` when [`MAX_REFUSALS_IN_FLIGHT`] are under way.
    fn refusing(self: &Arc<Self>) -> Option<Refusing> {
        let mut counts = self.lock();
        if counts.refusing >= MAX_REFUSALS_IN_FLIGHT {
            return None;
        }
        counts.refusing += 1;
        Some(Refusing(Arc::clone(self)))
    }

    /// Takes a place for a session from `ip`, or says which limit it is over.
    fn enter(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Place, (RefusedBy, String)> {
        let ip = ip.map(peer_key);
        let mut counts = self.lock();
        if let Some(max) = self.limits.total
            && counts.total >= max
        {
            return Err((
                RefusedBy::SessionLimit,
                format!("this server serves at most {max} sessions at once"),
            ));
        }
        let tracked = ip.filter(|_| self.limits.per_peer.is_some());
        if let (Some(ip), Some(max)) = (tracked, self.limits.per_peer)
            && counts.per_peer.get(&ip).copied().unwrap_or(0) >= max
        {
            return Err((
                RefusedBy::PeerSessionLimit,
                format!("this server serves at most {max} sessions at once from {ip}"),
            ));
        }
        counts.total += 1;
        if let Some(ip) = tracked {
            *counts.per_peer.entry(ip).or_insert(0) += 1;
        }
        Ok(Place {
            admission: Arc::clone(self),
            ip: tracked,
        })
    }
}

async fn accept_loop(
    mut listener: Listener,
    options: SessionOptions,
    admission: Arc<Admission>,
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
                let mut options = options.clone();
                let shutdown = shutdown.child_token();
                let place = admission.enter(incoming.peer_ip());
                let refusing = match &place {
                    Ok(_) => None,
                    Err(_) => match admission.refusing() {
                        Some(refusing) => Some(refusing),
                        None => {
                            tracing::debug!(peer = %incoming.peer(), "over the session limits with too many refusals under way; closing");
                            continue;
                        }
                    },
                };
                sessions.spawn(async move {
                    let _refusing = refusing;
                    let peer = incoming.peer();
                    // One budget for the whole handshake: the link, both `Hello`s and the
                    // authenticator.
                    let budget = options.config.handshake_timeout;
                    let started = tokio::time::Instant::now();
                    let link = match tokio::time::timeout(budget, incoming.into_link(&max_frame))
                        .await
                    {
                        Ok(Ok(link)) => link,
                        Ok(Err(e)) => {
                            return tracing::debug!(%peer, error = %e, "link not made");
                        }
                        Err(_) => {
                            return tracing::debug!(%peer, "link not made within the handshake budget");
                        }
                    };
                    options.config.handshake_timeout = budget.saturating_sub(started.elapsed());
                    // Over a limit the session is refused at once (with a `Goodbye` naming
                    // the limit) and counts toward none.
                    let _place = match place {
                        Ok(place) => Some(place),
                        Err(refusal) => {
                            tracing::debug!(%peer, reason = %refusal.1, "session refused");
                            options.refusal = Some(refusal);
                            None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_peers_are_counted_by_their_64_bit_prefix_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(peer_key(a), peer_key(b));
        assert_ne!(peer_key(a), peer_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(peer_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let v4: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(peer_key(v4), v4);
    }

    #[test]
    fn refusals_in_flight_are_bounded() {
        let admission = Admission::new(SessionLimits::default());
        let held: Vec<_> = (0..MAX_REFUSALS_IN_FLIGHT)
            .map(|_| admission.refusing().expect("a place"))
            .collect();
        assert!(
            admission.refusing().is_none(),
            "past the bound: closed without a word"
        );
        drop(held);
        assert!(admission.refusing().is_some(), "places come back");
    }
}
