//! The driver: the tokio task that runs one [`Session`] over one link.
//!
//! It owns the session, a reader task (frames in) and a writer task (frames out), the table of
//! callers waiting for responses, and the handler tasks serving the peer. It feeds the session
//! what arrives (frames, commands from the [inbox](crate::inbox), shutdown, and the time when
//! the session's next timer is due) and carries out what the session asks (write frames,
//! spawn and stop handlers, wake callers). Protocol decisions, timers and deadlines stay in the
//! session; this module only does I/O, tasks and reading the clock.
//!
//! **One sleep.** The driver keeps a single `Sleep`, reset to [`Session::poll_timeout`] after
//! every input; when it fires, [`Session::handle_timeout`] does whatever is due (keepalive,
//! handshake timeout, call deadlines both ways, drain grace, close linger).
//!
//! **Ending.** When the session ends with frames left to say (a `Goodbye`), the driver stops
//! reading, hands the writer its last frames, and waits for it to flush, at most the close
//! linger; a peer that stopped reading cannot hold the task (or a server's shutdown) forever.
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
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::connection::{Connection, Shared};
use crate::context::{CallParts, ChannelEnd, Context};
use crate::dispatch::Router;
use crate::error::{ChannelError, ProtocolViolation, RemoteError, SessionError};
use crate::framing::{FrameCodec, FrameError, MaxFrame};
use crate::inbox::{
    CallFailure, ChannelBind, Command, RawResponse, SenderState, SessionInfo, WireRx, WireTx,
};
use crate::metadata::Metadata;
use crate::response;
use crate::session::{
    ChannelSendError, Direction, IncomingCall, ROOT, Role, Session, SessionConfig, SessionEvent,
};
use crate::transport::{Link, LinkWriter};

#[cfg(test)]
mod tests;

/// Most bytes queued for writing before the session is ended as unable to keep up.
pub const MAX_WRITE_BACKLOG: usize = 64 * 1024 * 1024;
/// Frames read ahead of the driver.
const READ_AHEAD: usize = 64;

/// How a session is set up.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Limits announced in the handshake, and the session's timers (handshake timeout,
    /// keepalive, drain grace, close linger).
    pub config: SessionConfig,
    /// Services this side serves to the peer (may be empty: calls get `UnknownMethod`).
    pub router: Arc<Router>,
}

/// The clock the driver feeds the session: tokio's, so paused time in tests is virtual time
/// for the session too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Handles to a running session kept by its owner (a server, or `connect`).
pub(crate) struct Running {
    pub(crate) connection: Connection,
}

/// Starts a session over `link` and waits for its handshake.
///
/// `shutdown`, when cancelled, makes the session drain: new calls from the peer are answered
/// `Unavailable`, calls in flight finish (for at most the drain grace), then the session says
/// `Goodbye`. The returned join handle ends when the session has ended and its frames are
/// flushed (or the close linger gave up on them).
pub(crate) async fn start(
    link: Link,
    role: Role,
    options: SessionOptions,
    shutdown: CancellationToken,
) -> Result<(Running, JoinHandle<()>), SessionError> {
    let session_key = match role {
        Role::Acceptor => Some(rand::random::<[u8; 16]>()),
        Role::Initiator => None,
    };
    let session = Session::new(role, options.config.clone(), session_key, now());
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
        out: Some(out_tx),
        writer: Some(writer),
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
        next_handler: 0,
        channels: HashMap::new(),
        shutdown,
        draining: false,
    };
    let task = tokio::spawn(
        async move {
            driver.run().await;
            reader.abort();
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
    /// To the writer task; dropped when the session closes, so the writer flushes and ends.
    out: Option<mpsc::UnboundedSender<Bytes>>,
    /// The writer task, until it has ended.
    writer: Option<JoinHandle<()>>,
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
    /// Handlers serving the peer, by request ID, with the token their `Finished` carries (so a
    /// stale answer from a stopped handler cannot answer a later call that reuses the ID).
    running: HashMap<u64, (u64, AbortHandle)>,
    next_handler: u64,
    /// Open channels by ID.
    channels: HashMap<u64, End>,
    shutdown: CancellationToken,
    draining: bool,
}

impl Driver {
    async fn run(mut self) {
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            self.process_events();
            self.transmit();
            if self.session.is_finished() {
                break;
            }
            let closing = self.session.is_closed();
            if closing {
                // Everything there is to say is with the writer: let it flush and end.
                self.out = None;
            }
            let next = self.session.poll_timeout();
            if next != armed {
                if let Some(at) = next {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(at));
                }
                armed = next;
            }
            let writer_running = self.writer.is_some();
            let writer = &mut self.writer;
            let writer_done = async {
                if let Some(w) = writer.as_mut() {
                    let _ = w.await;
                }
            };
            tokio::select! {
                frame = self.frames.recv(), if !closing => self.on_frame(frame),
                Some(cmd) = self.commands.recv(), if !closing => self.on_command(cmd),
                _ = self.shutdown.cancelled(), if !self.draining && !closing => {
                    self.draining = true;
                    self.session.start_drain(now(), "shutting down");
                }
                _ = &mut sleep, if armed.is_some() => {
                    armed = None;
                    self.session.handle_timeout(now());
                }
                _ = writer_done, if closing && writer_running => {
                    self.writer = None;
                    self.session.handle_flushed();
                }
            }
        }
        // The link is done: a writer still running is stuck on a peer that does not read.
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
        for (_, (_, handler)) in self.running.drain() {
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
        let now = now();
        match frame {
            Some(Ok(bytes)) => self.session.handle_frame(now, &bytes),
            Some(Err(FrameError::Frame(roam_proto::frame::FrameError::TooLarge { len, max }))) => {
                self.session.handle_link_closed(
                    now,
                    Some(ProtocolViolation::FrameTooLarge { len, max }),
                    String::new(),
                )
            }
            Some(Err(FrameError::Frame(roam_proto::frame::FrameError::Truncated { buffered }))) => {
                self.session.handle_link_closed(
                    now,
                    Some(ProtocolViolation::MalformedMessage(format!(
                        "the link ended inside a frame ({buffered} bytes buffered)"
                    ))),
                    String::new(),
                )
            }
            Some(Err(FrameError::Io(e))) => {
                self.session.handle_link_closed(now, None, e.to_string())
            }
            None => {
                self.session
                    .handle_link_closed(now, None, "the peer closed the connection".into())
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = now();
        match cmd {
            Command::Call {
                token,
                call,
                channels,
                reply,
            } => match self.session.call(now, ROOT, call) {
                Ok(started) => {
                    for (bind, &id) in channels.into_iter().zip(&started.channels) {
                        match bind {
                            ChannelBind::Send(bind) => bind(self.open_sender(id)),
                            ChannelBind::Receive(bind) => bind(self.open_receiver(id)),
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
                    && self.session.cancel(ROOT, id)
                {
                    // Never sent: its channels never opened on the peer.
                    self.fail_channels(&pending.channels, &ChannelError::Cancelled);
                }
            }
            Command::Finished {
                id,
                handler,
                metadata,
                payload,
                schema,
            } => {
                if self.running.get(&id).is_some_and(|(h, _)| *h == handler) {
                    self.running.remove(&id);
                    self.session
                        .respond(now, ROOT, id, metadata, payload, schema);
                }
            }
            Command::ChannelData { channel, payload } => {
                match self.session.send_data(ROOT, channel, payload) {
                    Ok(()) => {}
                    // The receiver reset the channel while this item was on its way: drop it; the
                    // sender sees `Reset` on its next send.
                    Err(ChannelSendError::NotOpen) => {}
                    Err(e) => {
                        tracing::warn!(channel, error = %e, "channel item not sent");
                        if let Some(end) = self.channels.remove(&channel) {
                            end.fail(ChannelError::Reset);
                            self.session.close_channel(ROOT, channel);
                        }
                    }
                }
            }
            Command::ChannelClose { channel } => {
                self.channels.remove(&channel);
                self.session.close_channel(ROOT, channel);
            }
            Command::ChannelReset { channel } => {
                self.channels.remove(&channel);
                self.session.reset_channel(ROOT, channel);
            }
            Command::ChannelCredit { channel, n } => self.session.grant_credit(ROOT, channel, n),
            Command::HandlesDropped => {
                // Only the side that connected closes when unused; an acceptor's session lives
                // as long as its peer keeps it. Handler contexts hold handles too, but a handler
                // drops its context before its answer reaches this queue: draining (rather
                // than closing) lets calls we still serve be answered before the `Goodbye`.
                if self.role == Role::Initiator && self.handle.strong_count() == 0 {
                    self.session
                        .start_drain(now, "the client dropped its last connection handle");
                }
            }
            Command::Close => self.session.close(now, "closed by the application"),
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
                    ..
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
                SessionEvent::CallFailed {
                    id, reason, sent, ..
                } => {
                    if let Some(p) = self.pending.remove(&id) {
                        self.tokens.remove(&p.token);
                        if !sent {
                            self.fail_channels(&p.channels, &ChannelError::Cancelled);
                        }
                        let _ = p.reply.send(Err(CallFailure::Rejected(reason)));
                    }
                }
                SessionEvent::ChannelData {
                    channel, payload, ..
                } => {
                    if let Some(End::Receiver(items)) = self.channels.get(&channel) {
                        // A receiver dropped meanwhile has already sent `Reset`; its items are moot.
                        let _ = items.send(Ok(payload));
                    }
                }
                SessionEvent::ChannelClosed { channel, .. } => {
                    // Dropping the item sender ends the `Rx` after the queued items.
                    self.channels.remove(&channel);
                }
                SessionEvent::ChannelReset { channel, .. } => {
                    if let Some(end) = self.channels.remove(&channel) {
                        end.fail(ChannelError::Reset);
                    }
                }
                SessionEvent::ChannelCredit { channel, n, .. } => {
                    if let Some(End::Sender(state)) = self.channels.get(&channel) {
                        state.add_credit(n);
                    }
                }
                SessionEvent::StopHandler { id, reason, .. } => {
                    // The session has answered the caller already.
                    if let Some((_, handler)) = self.running.remove(&id) {
                        tracing::debug!(id, ?reason, "stopping handler");
                        handler.abort();
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
                    for (_, (_, handler)) in self.running.drain() {
                        handler.abort();
                    }
                    if let Some(tx) = self.established.take() {
                        let e = match &error {
                            SessionError::HandshakeFailed(_) | SessionError::TimedOut(_) => {
                                error.clone()
                            }
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
            let Some(out) = &self.out else {
                // The writer was let go; nothing sent now could be flushed in order.
                continue;
            };
            let len = frame.len();
            let queued = self.backlog.fetch_add(len, Ordering::Relaxed) + len;
            let _ = out.send(frame);
            if queued > MAX_WRITE_BACKLOG && !self.session.is_closed() {
                self.session.handle_link_closed(
                    now(),
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
                .abandon_channels(call.conn, call.channels.iter().map(|(id, _)| *id));
            this.session.respond(
                now(),
                call.conn,
                call.id,
                Metadata::new(),
                response::remote(error),
                None,
            );
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
        let cx = Context::new(CallParts {
            service: route.service.descriptor(),
            method: route.method,
            request_id: call.id,
            metadata: call.metadata,
            deadline: call.deadline,
            connection,
            channels: ends,
            args_schema: call.args_schema,
            channels_schema: call.channels_schema,
        });
        let reply = cx.reply_parts();
        let span = tracing::debug_span!(
            "roam.call",
            service = route.service.descriptor().name,
            method = route.method.name,
            id = call.id
        );
        let handler = AssertUnwindSafe(route.service.dispatch(cx, call.payload)).catch_unwind();
        let finished = self.commands_tx.clone();
        let id = call.id;
        let token = self.next_handler;
        self.next_handler += 1;
        // The deadline is the session's: it answers `DeadlineExceeded` and asks for this task
        // to be aborted.
        let task = tokio::spawn(
            async move {
                let (payload, metadata, schema) = match handler.await {
                    Ok(payload) => (payload, reply.take_metadata(), reply.schema.get().copied()),
                    // An answer the runtime makes by itself carries no metadata and no schema.
                    Err(_) => {
                        tracing::error!("handler panicked; answering Internal");
                        (
                            response::remote(RemoteError::Internal),
                            Metadata::new(),
                            None,
                        )
                    }
                };
                let _ = finished.send(Command::Finished {
                    id,
                    handler: token,
                    metadata,
                    payload,
                    schema,
                });
            }
            .instrument(span),
        );
        self.running.insert(id, (token, task.abort_handle()));
    }
}
