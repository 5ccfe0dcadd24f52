//! The handle application code holds: [`Connection`] (one session, cheap to clone) and
//! [`Call`] (one call being built: timeout, metadata, then `.await`).
//!
//! Handles only submit commands to the session's inbox and wait for answers; they never touch
//! protocol state themselves. A call's deadline is kept by the session, on the driver's clock.

use std::fmt;
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use facet::Facet;
use roam_core::MethodDescriptor;
use roam_core::schema::ChannelDirection as SchemaDirection;
use tokio::sync::{oneshot, watch};

use crate::BoxFuture;
use crate::auth::Identity;
use crate::channel::ChannelArg;
use crate::codec::{self, CodecError};
use crate::error::{CallError, ChannelError, SessionError};
use crate::inbox::{CallFailure, ChannelBind, Command, Inbox, RawResponse, SessionInfo};
use crate::metadata::{Metadata, MetadataValue};
use crate::response;
use crate::schemas::{self, LocalSchema};
use crate::session::{ConnId, Direction, OutgoingCall, ROOT, Role};
use crate::transport::tls::TlsPeer;
use crate::wire::Limits;

pub(crate) struct Shared {
    /// Which connection of the session these handles are: the root, or a virtual one.
    pub(crate) conn: ConnId,
    pub(crate) commands: Inbox,
    pub(crate) info: SessionInfo,
    /// Set when the connection ends (the session, or for a virtual one, the connection).
    pub(crate) closed: watch::Receiver<Option<SessionError>>,
    /// Calls started on this connection so far, from every handle: the `n` of the next request
    /// ID, `role.request_id(n)`. Allocated here rather than under the session's lock so that
    /// a handle knows its call's ID (to cancel it) even when its command waits for the lock.
    pub(crate) calls_started: Arc<AtomicU64>,
    pub(crate) role: Role,
    /// Around every call made on this session (the client interceptors), if any.
    pub(crate) interceptors: Option<Arc<dyn SendCall>>,
    /// The connection's life as handles see it (with a count of links lost).
    pub(crate) states: watch::Receiver<(ConnectionState, u64)>,
}

/// How a call leaves a connection when something wraps it (the client interceptors, which
/// live above this module and install themselves here).
pub(crate) trait SendCall: Send + Sync + 'static {
    fn send(
        &self,
        conn: &Connection,
        method: &'static MethodDescriptor,
        call: OutgoingCall,
        channels: Vec<ChannelBind>,
    ) -> BoxFuture<'static, Result<RawResponse, CallFailure>>;
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = self.commands.send(if self.conn == ROOT {
            Command::HandlesDropped
        } else {
            Command::ConnectionDropped { conn: self.conn }
        });
    }
}

/// A session with a peer: make calls on it with a generated client, e.g.
/// `CalculatorClient::new(conn.clone())`. Clone it freely; the session closes (with `Goodbye`)
/// when the last clone is dropped on the side that connected, or on [`Connection::close`].
#[derive(Clone)]
pub struct Connection {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.shared.info.peer)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The peer's address, e.g. `tcp://127.0.0.1:4000`.
    pub fn peer(&self) -> &str {
        &self.shared.info.peer
    }

    /// The effective limits agreed in the handshake.
    pub fn limits(&self) -> Limits {
        self.shared.info.limits
    }

    /// The session key the acceptor issued.
    pub fn session_key(&self) -> Option<[u8; 16]> {
        self.shared.info.session_key
    }

    /// Over TLS, the certificate the peer presented (on the connecting side, the server's).
    pub fn tls_peer(&self) -> Option<&TlsPeer> {
        self.shared.info.tls.as_ref()
    }

    /// On the accepting side, who the authenticator said the peer is.
    pub fn identity(&self) -> Option<&Identity> {
        self.shared.info.identity.as_ref()
    }

    /// Where the connection is in its life: connected, reconnecting after a lost link,
    /// resumed, started afresh (the server could not resume it), or closed.
    pub fn state(&self) -> ConnectionState {
        self.shared.states.borrow().0
    }

    /// Observes [`state`](Self::state) as it changes.
    ///
    /// ```no_run
    /// # async fn demo(conn: roam::Connection) {
    /// let mut states = conn.watch_state();
    /// while let Some(state) = states.changed().await {
    ///     println!("connection is now {state:?}");
    /// }
    /// # }
    /// ```
    pub fn watch_state(&self) -> ConnectionStates {
        ConnectionStates(self.shared.states.clone())
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.borrow().is_some()
    }

    /// Waits until the session ends and returns why.
    pub async fn closed(&self) -> SessionError {
        let mut rx = self.shared.closed.clone();
        loop {
            if let Some(e) = rx.borrow_and_update().clone() {
                return e;
            }
            if rx.changed().await.is_err() {
                return SessionError::LocallyClosed;
            }
        }
    }

    /// Ends the session now, failing calls in flight with `ConnectionLost`. On a virtual
    /// connection, closes only that connection (its calls fail with
    /// [`SessionError::ConnectionClosed`]); the session and its other connections go on.
    pub fn close(&self) {
        self.close_with("closed by the application");
    }

    /// Like [`close`](Self::close); a virtual connection's peer is told `reason`.
    pub fn close_with(&self, reason: &str) {
        let _ = self.shared.commands.send(if self.shared.conn == ROOT {
            Command::Close
        } else {
            Command::CloseConnection {
                conn: self.shared.conn,
                reason: reason.to_owned(),
            }
        });
    }

    /// Which connection of its session this is: 0 for the session's own (root) connection,
    /// otherwise the virtual connection's ID.
    pub fn connection_id(&self) -> u64 {
        self.shared.conn
    }

    /// Starts a call of `method` with the argument tuple `args`. Generated clients call this;
    /// application code uses the generated methods instead.
    pub fn call<'a, A: Facet<'a>, T, E>(
        &self,
        method: &'static MethodDescriptor,
        args: &A,
    ) -> Call<T, E> {
        self.call_with_channels(method, args, Vec::new())
    }

    /// Like [`Connection::call`], for methods with `Tx`/`Rx` arguments: `args` holds the other
    /// arguments, `channels` the channel ends in argument order.
    pub fn call_with_channels<'a, A: Facet<'a>, T, E>(
        &self,
        method: &'static MethodDescriptor,
        args: &A,
        channels: Vec<ChannelArg>,
    ) -> Call<T, E> {
        Call {
            conn: self.clone(),
            method,
            args_schema: schemas::local_of(A::SHAPE),
            payload: codec::encode(args),
            channels,
            metadata: Metadata::new(),
            timeout: None,
            _types: PhantomData,
        }
    }

    /// Sends an already-encoded request and waits for the raw response. Dropping the returned
    /// future before it completes cancels the call on the peer.
    pub(crate) async fn raw_call(
        &self,
        call: OutgoingCall,
        channels: Vec<ChannelBind>,
    ) -> Result<RawResponse, CallFailure> {
        let n = self.shared.calls_started.fetch_add(1, Ordering::Relaxed);
        let id = self.shared.role.request_id(n);
        let (reply, rx) = oneshot::channel();
        if self
            .shared
            .commands
            .send(Command::Call {
                conn: self.shared.conn,
                id,
                call,
                channels,
                reply,
            })
            .is_err()
        {
            return Err(CallFailure::Lost(self.closed_reason()));
        }
        let mut guard = CancelOnDrop {
            commands: &self.shared.commands,
            conn: self.shared.conn,
            id,
            armed: true,
        };
        let result = rx.await;
        guard.armed = false;
        result.unwrap_or_else(|_| Err(CallFailure::Lost(self.closed_reason())))
    }

    /// Whether a call lost with `lost` can go to the session this connection starts next: the
    /// old session could not be resumed and the connection lives on.
    fn starts_afresh_after(&self, lost: &SessionError) -> bool {
        lost.is_resume_refused() && !self.is_closed()
    }

    pub(crate) fn closed_reason(&self) -> SessionError {
        self.shared
            .closed
            .borrow()
            .clone()
            .unwrap_or(SessionError::LocallyClosed)
    }
}

/// Where a connection is in its life, as [`Connection::state`]
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// The session is up on its first link.
    Connected,
    /// The link was lost; calls and streams wait (new calls until their deadline) while the
    /// client dials again.
    Reconnecting,
    /// A new link resumed the session: nothing in flight was lost.
    Resumed,
    /// The session could not be resumed (the server no longer had it): calls that were in
    /// flight failed with `ConnectionLost`, and new calls go through a fresh session.
    Fresh,
    /// The connection has ended for good.
    Closed,
}

/// The changes of a [`Connection`]'s [`ConnectionState`] (see [`Connection::watch_state`]).
#[derive(Debug, Clone)]
pub struct ConnectionStates(watch::Receiver<(ConnectionState, u64)>);

impl ConnectionStates {
    /// The state now.
    pub fn current(&self) -> ConnectionState {
        self.0.borrow().0
    }

    /// Links the connection has lost so far (each one followed by a resume, a fresh session
    /// or the end).
    pub fn links_lost(&self) -> u64 {
        self.0.borrow().1
    }

    /// Waits for the next change and returns the new state; `None` once the connection is
    /// gone for good (after it reported [`ConnectionState::Closed`]). Changes that happen
    /// while nobody waits are not queued: the newest is reported.
    pub async fn changed(&mut self) -> Option<ConnectionState> {
        self.0.changed().await.ok()?;
        Some(self.0.borrow_and_update().0)
    }
}

/// Sends `Cancel` if a call future is dropped before its response arrived.
struct CancelOnDrop<'a> {
    commands: &'a Inbox,
    conn: ConnId,
    id: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.commands.send(Command::Cancel {
                conn: self.conn,
                id: self.id,
            });
        }
    }
}

/// A call being prepared; `.await` it to send it and get `Result<T, CallError<E>>`.
///
/// ```no_run
/// # use std::time::Duration;
/// # #[roam::service] trait Calculator { async fn add(&self, a: i32, b: i32) -> i32; }
/// # async fn demo(calc: CalculatorClient) -> Result<(), Box<dyn std::error::Error>> {
/// let sum = calc.add(1, 2)
///     .with_timeout(Duration::from_millis(50))
///     .with_metadata("trace-id", "abc")
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<T, E> {
    conn: Connection,
    method: &'static MethodDescriptor,
    args_schema: Option<&'static LocalSchema>,
    payload: Result<Vec<u8>, CodecError>,
    channels: Vec<ChannelArg>,
    metadata: Metadata,
    timeout: Option<Duration>,
    _types: PhantomData<fn() -> (T, E)>,
}

impl<T, E> fmt::Debug for Call<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("method_id", &format_args!("{:#018x}", self.method.id))
            .field("metadata", &self.metadata)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T, E> Call<T, E> {
    /// Gives up (with [`CallError::DeadlineExceeded`]) after `timeout`, counted from when the
    /// call reaches the session. The time left travels with the request, so the peer stops the
    /// handler then too.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Adds a metadata entry to the request.
    pub fn with_metadata(
        mut self,
        key: impl Into<String>,
        value: impl Into<MetadataValue>,
    ) -> Self {
        self.metadata.insert(key, value);
        self
    }
}

impl<T, E> Call<T, E>
where
    T: Facet<'static> + Send + 'static,
    E: Facet<'static> + Send + 'static,
{
    /// Also returns the metadata the handler attached to its response.
    ///
    /// ```no_run
    /// # #[roam::service] trait Calculator { async fn add(&self, a: i32, b: i32) -> i32; }
    /// # async fn demo(calc: CalculatorClient) {
    /// let reply = calc.add(1, 2).with_response_metadata().await;
    /// println!("served by {:?}: {:?}", reply.metadata.get_str("served-by"), reply.result);
    /// # }
    /// ```
    pub fn with_response_metadata(self) -> BoxFuture<'static, Reply<T, E>> {
        Box::pin(self.run())
    }

    async fn run(self) -> Reply<T, E> {
        let mut directions = Vec::with_capacity(self.channels.len());
        let mut items = Vec::with_capacity(self.channels.len());
        let mut binds = Vec::with_capacity(self.channels.len());
        for arg in self.channels {
            let (direction, item, bind) = match arg {
                // Directions as the callee's signature reads: it takes an `Rx` where we send.
                ChannelArg::CallerSends(binding, item) => (
                    Direction::Outgoing,
                    (SchemaDirection::Rx, item),
                    ChannelBind::Send(Box::new(move |wire| binding.bind(wire))),
                ),
                ChannelArg::CallerReceives(binding, item) => (
                    Direction::Incoming,
                    (SchemaDirection::Tx, item),
                    ChannelBind::Receive(Box::new(move |wire| binding.bind(wire))),
                ),
                ChannelArg::Invalid => {
                    return Reply::failed(CallError::Channel(ChannelError::AlreadyBound));
                }
            };
            directions.push(direction);
            items.push(item);
            binds.push(bind);
        }
        let channels_schema = if items.is_empty() {
            None
        } else {
            schemas::local_channels(&items)
        };
        let payload = match self.payload {
            Ok(payload) => payload,
            Err(e) => return Reply::failed(e.into()),
        };
        let call = OutgoingCall {
            method_id: self.method.id,
            metadata: self.metadata,
            timeout: self.timeout,
            payload: payload.into(),
            channels: directions,
            args_schema: self.args_schema,
            channels_schema,
        };
        // An idempotent call without channels may be sent again on a fresh session when the
        // one it went out on was lost for good (its channels could not be bound twice).
        let retry = self.method.idempotent && binds.is_empty();
        let mut again = retry.then(|| call.clone());
        let mut sent = send(&self.conn, self.method, call, binds).await;
        let mut resent = 0;
        while let (Err(CallFailure::Lost(lost)), Some(call)) = (&sent, again.take()) {
            if resent >= MAX_RESENDS || !self.conn.starts_afresh_after(lost) {
                break;
            }
            resent += 1;
            tracing::debug!(
                method = self.method.name,
                "sending an idempotent call again on a fresh session"
            );
            again = Some(call.clone());
            sent = send(&self.conn, self.method, call, Vec::new()).await;
        }
        match sent {
            Ok(raw) => Reply {
                result: response::decode(&raw.payload, raw.schema.as_deref()),
                metadata: raw.metadata,
            },
            Err(failure) => Reply::failed(failure.into()),
        }
    }
}

/// Times an idempotent call is sent again on a fresh session before its failure is reported.
const MAX_RESENDS: u32 = 3;

/// Sends a prepared request of `method` through the client interceptors, if any.
async fn send(
    conn: &Connection,
    method: &'static MethodDescriptor,
    call: OutgoingCall,
    binds: Vec<ChannelBind>,
) -> Result<RawResponse, CallFailure> {
    match &conn.shared.interceptors {
        None => conn.raw_call(call, binds).await,
        Some(layers) => layers.send(conn, method, call, binds).await,
    }
}

/// A call's outcome together with the response metadata the handler set (empty when no
/// response arrived). See [`Call::with_response_metadata`].
#[derive(Debug)]
pub struct Reply<T, E> {
    /// What the call returned.
    pub result: Result<T, CallError<E>>,
    /// The response's metadata.
    pub metadata: Metadata,
}

impl<T, E> Reply<T, E> {
    fn failed(error: CallError<E>) -> Self {
        Reply {
            result: Err(error),
            metadata: Metadata::new(),
        }
    }
}

impl<T, E> IntoFuture for Call<T, E>
where
    T: Facet<'static> + Send + 'static,
    E: Facet<'static> + Send + 'static,
{
    type Output = Result<T, CallError<E>>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.run().await.result })
    }
}
