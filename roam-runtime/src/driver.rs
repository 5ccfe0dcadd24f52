//! The driver: the tokio task that runs one [`Session`] over one link.
//!
//! It owns the session, a reader task (frames in) and a writer task (frames out), the table of
//! callers waiting for responses, and the handler tasks serving the peer. It feeds the session
//! what arrives (frames, handle commands, finished handlers, shutdown) and carries out what the
//! session asks (write frames, spawn handlers, wake callers). Protocol decisions stay in the
//! session; this module only does I/O, tasks and time.
//!
//! The driver never blocks on writing: frames go to the writer task through a queue whose size
//! in bytes is watched. A peer that stops reading while it keeps sending makes that queue grow;
//! past [`MAX_WRITE_BACKLOG`] the session ends (`write-backlog` rule) instead of buffering
//! without bound.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::channel::{ChannelArg, ChannelError, SenderState, WireRx, WireTx};
use crate::connection::{CallFailure, Command, Connection, RawResponse, SessionInfo, Shared};
use crate::context::{CallParts, ChannelEnd, Context};
use crate::dispatch::Router;
use crate::error::{ProtocolViolation, RemoteError, SessionError};
use crate::framing::{FrameCodec, FrameError, MaxFrame};
use crate::metadata::Metadata;
use crate::response;
use crate::session::{
    ChannelSendError, Direction, IncomingCall, Role, Session, SessionConfig, SessionEvent,
};
use crate::transport::{Link, LinkWriter};

/// Most bytes queued for writing before the session is ended as unable to keep up.
pub const MAX_WRITE_BACKLOG: usize = 64 * 1024 * 1024;
/// Frames read ahead of the driver.
const READ_AHEAD: usize = 64;

/// How a session is set up.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Limits announced in the handshake.
    pub config: SessionConfig,
    /// Services this side serves to the peer (may be empty: calls get `UnknownMethod`).
    pub router: Arc<Router>,
    /// Give up if the handshake has not finished after this long.
    pub handshake_timeout: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            config: SessionConfig::default(),
            router: Arc::new(Router::new()),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Handles to a running session kept by its owner (a server, or `connect`).
pub(crate) struct Running {
    pub(crate) connection: Connection,
}

/// Starts a session over `link` and waits for its handshake.
///
/// `shutdown`, when cancelled, makes the session drain: new calls from the peer are answered
/// `Unavailable`, calls in flight finish, then the session says `Goodbye`. The returned join
/// handle ends when the session has ended and its frames are flushed.
pub(crate) async fn start(
    link: Link,
    role: Role,
    options: SessionOptions,
    shutdown: CancellationToken,
) -> Result<(Running, tokio::task::JoinHandle<()>), SessionError> {
    let session_key = match role {
        Role::Acceptor => Some(rand::random::<[u8; 16]>()),
        Role::Initiator => None,
    };
    let session = Session::new(role, options.config.clone(), session_key);
    let max_frame = MaxFrame::new(options.config.limits.max_frame_size);
    let peer = link.peer.clone();
    let span = tracing::debug_span!("roam.session", peer = %peer, role = ?role);

    let (frames_tx, frames_rx) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(
        read_frames(link.reader, FrameCodec::new(max_frame.clone()), frames_tx)
            .instrument(span.clone()),
    );
    let backlog = Arc::new(AtomicUsize::new(0));
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(
        write_frames(
            link.writer,
            FrameCodec::new(max_frame.clone()),
            out_rx,
            Arc::clone(&backlog),
        )
        .instrument(span.clone()),
    );

    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (closed_tx, closed_rx) = watch::channel(None);
    let (established_tx, established_rx) = oneshot::channel();

    let driver = Driver {
        session,
        role,
        router: options.router,
        frames: frames_rx,
        out: out_tx,
        backlog,
        max_frame,
        commands: commands_rx,
        commands_tx,
        closed: closed_tx,
        closed_rx,
        handle: Weak::new(),
        next_token: Arc::new(AtomicU64::new(0)),
        peer,
        info: None,
        established: Some(established_tx),
        pending: HashMap::new(),
        tokens: HashMap::new(),
        running: HashMap::new(),
        channels: HashMap::new(),
        shutdown,
        draining: false,
        handshake_deadline: tokio::time::Instant::now() + options.handshake_timeout,
    };
    let task = tokio::spawn(
        async move {
            driver.run().await;
            reader.abort();
            // The writer ends by itself once the driver's sender is gone and the queue is flushed.
            let _ = writer.await;
        }
        .instrument(span),
    );
    match established_rx.await {
        Ok(Ok(connection)) => Ok((Running { connection }, task)),
        Ok(Err(e)) => {
            let _ = task.await;
            Err(e)
        }
        Err(_) => Err(SessionError::HandshakeFailed(
            "the session task ended during the handshake".into(),
        )),
    }
}

async fn read_frames(
    reader: crate::transport::LinkReader,
    codec: FrameCodec,
    frames: mpsc::Sender<Result<Bytes, FrameError>>,
) {
    let mut framed = FramedRead::new(reader, codec);
    while let Some(item) = framed.next().await {
        let stop = item.is_err();
        if frames.send(item.map(|b| b.freeze())).await.is_err() || stop {
            return;
        }
    }
}

async fn write_frames(
    writer: LinkWriter,
    codec: FrameCodec,
    mut out: mpsc::UnboundedReceiver<Bytes>,
    backlog: Arc<AtomicUsize>,
) {
    let mut framed = FramedWrite::new(writer, codec);
    while let Some(frame) = out.recv().await {
        let len = frame.len();
        // Batch: feed everything already queued, flush once.
        let mut result = framed.feed(frame).await;
        backlog.fetch_sub(len, Ordering::Relaxed);
        while result.is_ok() {
            match out.try_recv() {
                Ok(frame) => {
                    let len = frame.len();
                    result = framed.feed(frame).await;
                    backlog.fetch_sub(len, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
        if result.is_err() || framed.flush().await.is_err() {
            // The peer is gone; the reader will notice and end the session.
            return;
        }
    }
    let _ = framed.close().await;
}

struct Pending {
    token: u64,
    reply: oneshot::Sender<Result<RawResponse, CallFailure>>,
    /// The call's channels (failed with the call if it never goes out).
    channels: Vec<u64>,
}

/// The driver's side of an open channel.
enum End {
    /// We send: where credit arrives and failures are reported.
    Sender(Arc<SenderState>),
    /// We receive: where items go.
    Receiver(mpsc::UnboundedSender<Result<Vec<u8>, ChannelError>>),
}

impl End {
    fn fail(self, error: ChannelError) {
        match self {
            End::Sender(state) => state.fail(error),
            End::Receiver(items) => {
                let _ = items.send(Err(error));
            }
        }
    }
}

struct Driver {
    session: Session,
    role: Role,
    router: Arc<Router>,
    frames: mpsc::Receiver<Result<Bytes, FrameError>>,
    out: mpsc::UnboundedSender<Bytes>,
    backlog: Arc<AtomicUsize>,
    max_frame: MaxFrame,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Kept so handles can be created for handler contexts even when no user handle exists.
    commands_tx: mpsc::UnboundedSender<Command>,
    closed: watch::Sender<Option<SessionError>>,
    closed_rx: watch::Receiver<Option<SessionError>>,
    /// The shared state of user handles, if any are alive.
    handle: Weak<Shared>,
    next_token: Arc<AtomicU64>,
    peer: String,
    info: Option<SessionInfo>,
    established: Option<oneshot::Sender<Result<Connection, SessionError>>>,
    /// Our calls by request ID.
    pending: HashMap<u64, Pending>,
    /// Request ID by caller token (for cancellation).
    tokens: HashMap<u64, u64>,
    /// Handlers serving the peer, by request ID.
    running: HashMap<u64, AbortHandle>,
    /// Open channels by ID.
    channels: HashMap<u64, End>,
    shutdown: CancellationToken,
    draining: bool,
    handshake_deadline: tokio::time::Instant,
}

impl Driver {
    async fn run(mut self) {
        loop {
            self.process_events();
            self.transmit();
            if self.session.is_closed() {
                break;
            }
            if self.draining && self.session.incoming_in_flight() == 0 {
                self.session.close("shutting down");
                continue;
            }
            let handshaking = self.info.is_none();
            tokio::select! {
                frame = self.frames.recv() => self.on_frame(frame),
                Some(cmd) = self.commands.recv() => self.on_command(cmd),
                _ = self.shutdown.cancelled(), if !self.draining => {
                    self.draining = true;
                    self.session.start_drain();
                }
                _ = tokio::time::sleep_until(self.handshake_deadline), if handshaking => {
                    self.session.handle_link_closed(None, "the peer did not complete the handshake in time".into());
                }
            }
        }
        self.transmit();
        for (_, handler) in self.running.drain() {
            handler.abort();
        }
    }

    /// Effective limits (defaults before the handshake; channels only exist after it).
    fn limits(&self) -> crate::wire::Limits {
        self.info.as_ref().map(|i| i.limits).unwrap_or_default()
    }

    /// Creates both sides of channel `id`, on which this side sends.
    fn open_sender(&mut self, id: u64) -> WireTx {
        let state = SenderState::new();
        self.channels.insert(id, End::Sender(Arc::clone(&state)));
        WireTx::new(
            id,
            self.commands_tx.clone(),
            state,
            self.limits().max_frame_size,
        )
    }

    /// Creates both sides of channel `id`, on which this side receives. The item queue is
    /// unbounded as a type but never holds more than the credit, which the session enforces.
    fn open_receiver(&mut self, id: u64) -> WireRx {
        let (items_tx, items_rx) = mpsc::unbounded_channel();
        self.channels.insert(id, End::Receiver(items_tx));
        WireRx::new(
            id,
            self.commands_tx.clone(),
            items_rx,
            self.limits().initial_credit,
        )
    }

    fn fail_channels(&mut self, ids: &[u64], error: &ChannelError) {
        for id in ids {
            if let Some(end) = self.channels.remove(id) {
                end.fail(error.clone());
            }
        }
    }

    fn on_frame(&mut self, frame: Option<Result<Bytes, FrameError>>) {
        match frame {
            Some(Ok(bytes)) => self.session.handle_frame(&bytes),
            Some(Err(FrameError::TooLarge { len, max })) => self.session.handle_link_closed(
                Some(ProtocolViolation::FrameTooLarge { len, max }),
                String::new(),
            ),
            Some(Err(FrameError::Truncated { buffered })) => self.session.handle_link_closed(
                Some(ProtocolViolation::MalformedMessage(format!(
                    "the link ended inside a frame ({buffered} bytes buffered)"
                ))),
                String::new(),
            ),
            Some(Err(FrameError::Io(e))) => self.session.handle_link_closed(None, e.to_string()),
            None => self
                .session
                .handle_link_closed(None, "the peer closed the connection".into()),
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Call {
                token,
                call,
                channels,
                reply,
            } => match self.session.call(call) {
                Ok(started) => {
                    for (arg, &id) in channels.into_iter().zip(&started.channels) {
                        match arg {
                            ChannelArg::CallerSends(binding, _) => {
                                binding.bind(self.open_sender(id))
                            }
                            ChannelArg::CallerReceives(binding, _) => {
                                binding.bind(self.open_receiver(id))
                            }
                            // Refused by `Call` before the command was sent.
                            ChannelArg::Invalid => {}
                        }
                    }
                    self.tokens.insert(token, started.id);
                    self.pending.insert(
                        started.id,
                        Pending {
                            token,
                            reply,
                            channels: started.channels,
                        },
                    );
                }
                Err(rejected) => {
                    let _ = reply.send(Err(CallFailure::Rejected(rejected)));
                }
            },
            Command::Cancel { token } => {
                if let Some(id) = self.tokens.remove(&token)
                    && let Some(pending) = self.pending.remove(&id)
                    && self.session.cancel(id)
                {
                    // Never sent: its channels never opened on the peer.
                    self.fail_channels(&pending.channels, &ChannelError::Cancelled);
                }
            }
            Command::Finished {
                id,
                payload,
                schema,
            } => {
                if self.running.remove(&id).is_some() {
                    self.session.respond(id, Metadata::new(), payload, schema);
                }
            }
            Command::ChannelData { channel, payload } => {
                match self.session.send_data(channel, payload) {
                    Ok(()) => {}
                    // The receiver reset the channel while this item was on its way: drop it; the
                    // sender sees `Reset` on its next send.
                    Err(ChannelSendError::NotOpen) => {}
                    Err(e) => {
                        tracing::warn!(channel, error = %e, "channel item not sent");
                        if let Some(end) = self.channels.remove(&channel) {
                            end.fail(ChannelError::Reset);
                            self.session.close_channel(channel);
                        }
                    }
                }
            }
            Command::ChannelClose { channel } => {
                self.channels.remove(&channel);
                self.session.close_channel(channel);
            }
            Command::ChannelReset { channel } => {
                self.channels.remove(&channel);
                self.session.reset_channel(channel);
            }
            Command::ChannelCredit { channel, n } => self.session.grant_credit(channel, n),
            Command::HandlesDropped => {
                // Only the side that connected closes when unused; an acceptor's session lives
                // as long as its peer keeps it. Handler contexts hold handles too, so a count of
                // zero also means no handler of ours is still running.
                if self.role == Role::Initiator && self.handle.strong_count() == 0 {
                    self.session
                        .close("the client dropped its last connection handle");
                }
            }
            Command::Close => self.session.close("closed by the application"),
        }
    }

    fn process_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                SessionEvent::Established {
                    limits,
                    session_key,
                } => {
                    self.max_frame.set(limits.max_frame_size);
                    self.info = Some(SessionInfo {
                        limits,
                        session_key,
                        peer: self.peer.clone(),
                    });
                    let conn = self.connection();
                    if let (Some(tx), Some(conn)) = (self.established.take(), conn) {
                        let _ = tx.send(Ok(conn));
                    }
                }
                SessionEvent::Request(call) => self.serve(call),
                SessionEvent::Response {
                    id,
                    metadata,
                    payload,
                    schema,
                } => {
                    if let Some(p) = self.pending.remove(&id) {
                        self.tokens.remove(&p.token);
                        let _ = p.reply.send(Ok(RawResponse {
                            metadata,
                            payload,
                            schema,
                        }));
                    }
                }
                SessionEvent::CallFailed { id, reason } => {
                    if let Some(p) = self.pending.remove(&id) {
                        self.tokens.remove(&p.token);
                        self.fail_channels(&p.channels, &ChannelError::Cancelled);
                        let _ = p.reply.send(Err(CallFailure::Rejected(reason)));
                    }
                }
                SessionEvent::ChannelData { channel, payload } => {
                    if let Some(End::Receiver(items)) = self.channels.get(&channel) {
                        // A receiver dropped meanwhile has already sent `Reset`; its items are moot.
                        let _ = items.send(Ok(payload));
                    }
                }
                SessionEvent::ChannelClosed { channel } => {
                    // Dropping the item sender ends the `Rx` after the queued items.
                    self.channels.remove(&channel);
                }
                SessionEvent::ChannelReset { channel } => {
                    if let Some(end) = self.channels.remove(&channel) {
                        end.fail(ChannelError::Reset);
                    }
                }
                SessionEvent::ChannelCredit { channel, n } => {
                    if let Some(End::Sender(state)) = self.channels.get(&channel) {
                        state.add_credit(n);
                    }
                }
                SessionEvent::CancelRequested { id } => {
                    if let Some(handler) = self.running.remove(&id) {
                        handler.abort();
                        self.session.respond(
                            id,
                            Metadata::new(),
                            response::remote(RemoteError::Cancelled),
                            None,
                        );
                    }
                }
                SessionEvent::Closed(error) => {
                    tracing::debug!(%error, "session ended");
                    for (_, p) in self.pending.drain() {
                        let _ = p.reply.send(Err(CallFailure::Lost(error.clone())));
                    }
                    self.tokens.clear();
                    for (_, end) in self.channels.drain() {
                        end.fail(ChannelError::ConnectionLost(error.clone()));
                    }
                    if let Some(tx) = self.established.take() {
                        let e = match &error {
                            SessionError::HandshakeFailed(_) => error.clone(),
                            other => SessionError::HandshakeFailed(other.to_string()),
                        };
                        let _ = tx.send(Err(e));
                    }
                    let _ = self.closed.send(Some(error));
                }
            }
        }
    }

    /// Hands queued frames to the writer task, ending the session if the peer is not reading.
    fn transmit(&mut self) {
        while let Some(frame) = self.session.poll_transmit() {
            let len = frame.len();
            let queued = self.backlog.fetch_add(len, Ordering::Relaxed) + len;
            let _ = self.out.send(frame);
            if queued > MAX_WRITE_BACKLOG && !self.session.is_closed() {
                self.session.handle_link_closed(
                    Some(ProtocolViolation::WriteBacklog { queued }),
                    String::new(),
                );
            }
        }
    }

    /// A user-facing handle to this session (a new one if none is alive).
    fn connection(&mut self) -> Option<Connection> {
        if let Some(shared) = self.handle.upgrade() {
            return Some(Connection { shared });
        }
        let shared = Arc::new(Shared {
            commands: self.commands_tx.clone(),
            info: self.info.clone()?,
            closed: self.closed_rx.clone(),
            next_token: Arc::clone(&self.next_token),
        });
        self.handle = Arc::downgrade(&shared);
        Some(Connection { shared })
    }

    fn serve(&mut self, call: IncomingCall) {
        let refuse = |this: &mut Self, error: RemoteError| {
            this.session
                .abandon_channels(call.channels.iter().map(|(id, _)| *id));
            this.session
                .respond(call.id, Metadata::new(), response::remote(error), None);
        };
        let Some(route) = self.router.route(call.method_id).cloned() else {
            tracing::debug!(method_id = call.method_id, "unknown method");
            return refuse(self, RemoteError::UnknownMethod);
        };
        let Some(connection) = self.connection() else {
            return refuse(self, RemoteError::Internal);
        };
        let ends = call
            .channels
            .iter()
            .map(|&(id, direction)| match direction {
                Direction::Outgoing => ChannelEnd::Tx(self.open_sender(id)),
                Direction::Incoming => ChannelEnd::Rx(self.open_receiver(id)),
            })
            .collect();
        let timeout = call.timeout_micros.map(Duration::from_micros);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let cx = Context::new(CallParts {
            service: route.service.descriptor(),
            method: route.method,
            request_id: call.id,
            metadata: call.metadata,
            deadline,
            connection,
            channels: ends,
            args_schema: call.args_schema,
            channels_schema: call.channels_schema,
        });
        let reply = cx.reply_schema();
        let span = tracing::debug_span!(
            "roam.call",
            service = route.service.descriptor().name,
            method = route.method.name,
            id = call.id
        );
        let handler = AssertUnwindSafe(route.service.dispatch(cx, call.payload)).catch_unwind();
        let finished = self.commands_tx.clone();
        let id = call.id;
        let task = tokio::spawn(
            async move {
                let outcome = match timeout {
                    Some(t) => tokio::time::timeout(t, handler)
                        .await
                        .unwrap_or(Ok(response::remote(RemoteError::DeadlineExceeded))),
                    None => handler.await,
                };
                let payload = outcome.unwrap_or_else(|_| {
                    tracing::error!("handler panicked; answering Internal");
                    response::remote(RemoteError::Internal)
                });
                let schema = reply.get().copied();
                let _ = finished.send(Command::Finished {
                    id,
                    payload,
                    schema,
                });
            }
            .instrument(span),
        );
        self.running.insert(id, task.abort_handle());
    }
}
