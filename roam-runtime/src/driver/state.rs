//! The state of one running session, shared by its driver task and every handle: the
//! [`Session`], the link's writing half and the output accounting. What the runtime keeps per
//! call and channel (the caller's reply slot, the handler's task, the channel's local end)
//! lives in the session's own tables as its [`Attachments`] ([`Ends`]), so each call and each
//! channel is one entry in one table.
//!
//! Whoever holds the lock applies inputs here (the driver: frames, timers, shutdown; a handle:
//! its command) and then [settles](State::settle): routes the session's events, measures the
//! output queue, and writes what is ready to the link. Writing from a handle's thread uses a
//! waker that wakes the driver task, so a link that takes no more now is picked up by the
//! driver when it is writable again.
//!
//! Owns the mapping from session events to tasks, channels and callers; never reads the link
//! (the driver task does) and never waits.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll, Waker, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt, SinkExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tracing::Instrument;

use super::SessionOptions;
use super::output::OutputQueue;
use super::resume::{self, ConnectionState, Redial, Resumables, StateCell};
use super::{Core, MAX_WRITE_BACKLOG, now};
use crate::auth::{Authenticator, Identity, PeerHello, Refusal};
use crate::connection::{Connection, SendCall, Shared};
use crate::context::{CallParts, ChannelEnd, Context};
use crate::dispatch::Router;
use crate::error::RefusedBy;
use crate::error::{ChannelError, ProtocolViolation, RemoteError, SessionError};
use crate::framing::{LinkError, MaxFrame};
use crate::inbox::{
    CallFailure, ChannelBind, Command, Inbox, PeerItems, RawResponse, ReplayGate, SenderState,
    SessionInfo, WireRx, WireTx,
};
use crate::intercept::{CallRecord, Chain, Metrics, Outcome};
use crate::metadata::Metadata;
use crate::response;
use crate::session::{
    Attachments, ChannelSendError, ConnId, Direction, IncomingCall, OutputState, ROOT,
    ResumeRefusal, Role, Session, SessionConfig, SessionEvent,
};
use crate::transport::FrameSink;
use crate::transport::tls::TlsPeer;
use crate::virtuals::{AcceptConnections, OpenError, OpenRequest};
use crate::wire::Resume;
use crate::wire::SchemaKind;

/// A writing half that discards: where frames go when there is no link.
fn discard() -> FrameSink {
    Box::pin(futures::sink::drain().sink_map_err(|e| match e {}))
}

/// What one write step achieved.
enum Written {
    /// Everything the session had was fed to the link and flushed (and, when closing, the
    /// link was closed).
    All,
    /// Some frames went out but the link takes no more for now; reported only while reading
    /// is stopped, so the driver can tell progress from a stall.
    Some,
}

/// Feeds every frame the session has queued into `link`, then flushes once; when `closing`,
/// closes the link after the last flush.
fn poll_write(
    link: &mut FrameSink,
    session: &mut Session<Ends>,
    unflushed: &mut usize,
    closing: bool,
    report_progress: bool,
    cx: &mut TaskContext<'_>,
) -> Poll<Result<Written, LinkError>> {
    let mut progress = false;
    while session.transmit_bytes() > 0 {
        match link.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending if progress && report_progress => {
                return Poll::Ready(Ok(Written::Some));
            }
            Poll::Pending => return Poll::Pending,
        }
        let Some(frame) = session.poll_transmit() else {
            break;
        };
        *unflushed += frame.len();
        link.as_mut().start_send(frame)?;
        progress = true;
    }
    if *unflushed > 0 {
        match link.as_mut().poll_flush(cx) {
            Poll::Ready(result) => result?,
            Poll::Pending if progress && report_progress => {
                return Poll::Ready(Ok(Written::Some));
            }
            Poll::Pending => return Poll::Pending,
        }
        *unflushed = 0;
    }
    if closing {
        ready!(link.as_mut().poll_close(cx))?;
    }
    Poll::Ready(Ok(Written::All))
}

/// What the runtime keeps in the session's tables.
#[derive(Debug)]
pub(crate) struct Ends;

impl Attachments for Ends {
    /// Where the caller waits for the answer.
    type Call = oneshot::Sender<Result<RawResponse, CallFailure>>;
    type Serve = Handler;
    type Channel = End;
}

/// A handler task serving one of the peer's calls.
#[derive(Debug)]
pub(crate) struct Handler {
    /// Which spawn this is; its `Finished` carries it, so a stale answer from a stopped
    /// handler cannot answer a later call that reuses the request ID.
    token: u64,
    task: AbortHandle,
}

/// The driver's side of an open channel.
#[derive(Debug)]
pub(crate) enum End {
    /// We send: where credit arrives and failures are reported.
    Sender(Arc<SenderState>),
    /// We receive: where items go, and, on the caller's end of a channel the callee writes,
    /// the method and where to record the callee's channel signature once the first item is
    /// here (until then it is not needed, and by then it has arrived).
    Receiver {
        items: mpsc::UnboundedSender<Result<Bytes, ChannelError>>,
        peer_items: Option<(u64, Arc<PeerItems>)>,
    },
}

impl End {
    fn fail(self, error: ChannelError) {
        match self {
            End::Sender(state) => state.fail(error),
            End::Receiver { items, .. } => {
                let _ = items.send(Err(error));
            }
        }
    }
}

/// What the driver keeps for one virtual connection (the root's equivalents are `State`'s
/// own `router`, `handle`, `calls_started` and `closed`).
struct Virtual {
    router: Arc<Router>,
    handle: Weak<Shared>,
    calls_started: Arc<AtomicU64>,
    closed: watch::Sender<Option<SessionError>>,
    /// We opened it: its last handle dropped closes it; until the peer accepts, where
    /// `Connection::open` waits.
    opener: bool,
    opening: Option<oneshot::Sender<Result<Connection, OpenError>>>,
}

impl Virtual {
    fn new(router: Arc<Router>, opener: bool) -> Self {
        Virtual {
            router,
            handle: Weak::new(),
            calls_started: Arc::new(AtomicU64::new(0)),
            closed: watch::channel(None).0,
            opener,
            opening: None,
        }
    }

    /// The connection has ended (`error` says how): handles see it, an open waiting fails.
    fn end(mut self, error: SessionError) {
        if let Some(reply) = self.opening.take() {
            let _ = reply.send(Err(match error {
                SessionError::ConnectionClosed { reason } => OpenError::Rejected { reason },
                other => OpenError::Lost(other),
            }));
            return;
        }
        let _ = self.closed.send(Some(error));
    }
}

pub(crate) struct State {
    pub(crate) session: Session<Ends>,
    /// The virtual connections open or opening.
    virtuals: std::collections::HashMap<ConnId, Virtual>,
    /// Decides on the virtual connections the peer opens (none: refused).
    acceptor: Option<Arc<dyn AcceptConnections>>,
    role: Role,
    router: Arc<Router>,
    /// Frames to the peer.
    outgoing: FrameSink,
    /// Bytes fed to `outgoing` and not flushed yet.
    unflushed: usize,
    /// The link was closed after the session's last frame (or it failed).
    link_closed: bool,
    output: OutputQueue,
    /// Reading is stopped until the output queue drains.
    blocked: bool,
    max_frame: MaxFrame,
    /// The core this state lives in, to make inboxes for handles.
    core: Weak<Core>,
    /// What the driver task's sleep is set to (so a handle that changes the next timeout
    /// wakes it).
    pub(crate) armed: Option<Instant>,
    closed: watch::Sender<Option<SessionError>>,
    closed_rx: watch::Receiver<Option<SessionError>>,
    /// The shared state of user handles, if any are alive.
    handle: Weak<Shared>,
    /// Calls started by this session's handles (see `Shared::calls_started`).
    calls_started: Arc<AtomicU64>,
    peer: String,
    /// The certificate the peer presented over TLS.
    tls: Option<TlsPeer>,
    info: Option<SessionInfo>,
    authenticator: Option<Arc<dyn Authenticator>>,
    /// The authenticator's task while it decides (aborted if the session ends first).
    admitting: Option<AbortHandle>,
    identity: Option<Identity>,
    interceptors: Chain,
    /// The client interceptors as every handle to this session runs them (`None`: none).
    client_interceptors: Option<Arc<dyn SendCall>>,
    metrics: Option<Arc<dyn Metrics>>,
    /// Open channels last reported to `metrics`.
    channels_reported: usize,
    established: Option<oneshot::Sender<Result<Connection, SessionError>>>,
    next_handler: u64,
    pub(crate) draining: bool,
    /// No link now (a resumable session lost it, or a fresh one waits for its first): frames
    /// wait, nothing is read or written.
    linkless: bool,
    /// Which link the state writes to; bumped by each new one (see `driver::run`).
    generation: u64,
    /// The session's config, for a fresh session when a resume is refused.
    config: SessionConfig,
    /// Acceptor: the server's resumable sessions.
    resumables: Option<Arc<Resumables>>,
    /// Acceptor: this link asked to resume that session.
    handover: Option<(Arc<Core>, Resume)>,
    /// Acceptor over its session limits: refuse the session if its `Hello` starts one.
    refusal: Option<(RefusedBy, String)>,
    /// Initiator: how to dial again.
    redial: Option<Arc<Redial>>,
    /// What handles observe of the connection's life.
    states: StateCell,
    /// Channel items (and the closes after them) that waited for room in the replay buffer,
    /// in order. Bounded by the channels' credit: each item spent one.
    waiting_items: std::collections::VecDeque<(ConnId, u64, Option<Vec<u8>>)>,
    /// Closed while channel items wait in `waiting_items`: senders wait at it.
    gate: Arc<ReplayGate>,
    /// Initiator: the reconnect loop, while it runs.
    dialer: Option<tokio::task::JoinHandle<()>>,
    /// Initiator: the session is a fresh one replacing a session that could not be resumed.
    fresh: bool,
}

impl State {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        session: Session<Ends>,
        role: Role,
        options: SessionOptions,
        outgoing: FrameSink,
        output: OutputQueue,
        max_frame: MaxFrame,
        core: Weak<Core>,
        (peer, tls): (String, Option<TlsPeer>),
        established: oneshot::Sender<Result<Connection, SessionError>>,
    ) -> State {
        let (closed, closed_rx) = watch::channel(None);
        let (states, _) = watch::channel((ConnectionState::Connected, 0));
        State {
            virtuals: std::collections::HashMap::new(),
            acceptor: options.acceptor.clone(),
            linkless: false,
            generation: 0,
            config: options.config.clone(),
            resumables: options.resumables.clone(),
            handover: None,
            refusal: options
                .refusal
                .clone()
                .filter(|_| options.config.resumption.is_some()),
            redial: options.redial.clone(),
            states,
            waiting_items: std::collections::VecDeque::new(),
            gate: Arc::default(),
            dialer: None,
            fresh: false,
            session,
            role,
            router: options.router,
            tls,
            authenticator: options.authenticator,
            admitting: None,
            identity: None,
            interceptors: options.interceptors,
            client_interceptors: options.client_interceptors.installed(),
            metrics: options.metrics,
            channels_reported: 0,
            outgoing,
            unflushed: 0,
            link_closed: false,
            output,
            blocked: false,
            max_frame,
            core,
            armed: None,
            closed,
            closed_rx,
            handle: Weak::new(),
            calls_started: Arc::new(AtomicU64::new(0)),
            peer,
            info: None,
            established: Some(established),
            next_handler: 0,
            draining: false,
        }
    }

    /// Routes what the session produced, measures the output queue and, if `writer` is
    /// given, writes every ready frame to the link. Returns whether the driver task must run
    /// (output left for it, reading resumed or stopped, a new next timeout, the session
    /// closing or finished).
    pub(crate) fn settle(&mut self, writer: Option<&Waker>) -> bool {
        let was_blocked = self.blocked;
        let was_closed = self.session.is_closed();
        self.process_events();
        self.account_output();
        self.report_channels();
        if let Some(waker) = writer
            && !self.link_closed
            && !self.linkless
            && (self.session.transmit_bytes() > 0 || self.unflushed > 0 || self.session.is_closed())
        {
            let mut cx = TaskContext::from_waker(waker);
            let closing = self.session.is_closed();
            let blocked = self.blocked;
            if let Poll::Ready(written) = poll_write(
                &mut self.outgoing,
                &mut self.session,
                &mut self.unflushed,
                closing,
                blocked,
                &mut cx,
            ) {
                self.on_written(written);
            }
            self.process_events();
            self.account_output();
        }
        self.blocked != was_blocked
            || self.session.is_closed() != was_closed
            || self.session.is_finished()
            || self.session.poll_timeout() != self.armed
            || (!self.link_closed
                && !self.linkless
                && (self.session.transmit_bytes() > 0 || self.unflushed > 0))
    }

    /// The link generation being written to.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the session has no link now.
    pub(crate) fn linkless(&self) -> bool {
        self.linkless
    }

    /// What handles observe of the connection's life.
    pub(crate) fn states(&self) -> watch::Receiver<(ConnectionState, u64)> {
        self.states.subscribe()
    }

    fn set_state(&self, state: ConnectionState, lost: bool) {
        self.states.send_modify(|(s, losses)| {
            *s = state;
            if lost {
                *losses += 1;
            }
        });
    }

    /// Swaps the link's writing half, returning the old one.
    pub(crate) fn swap_outgoing(&mut self, outgoing: FrameSink) -> FrameSink {
        std::mem::replace(&mut self.outgoing, outgoing)
    }

    /// Takes the link's writing half (leaving one that discards).
    pub(crate) fn take_outgoing(&mut self) -> FrameSink {
        self.swap_outgoing(discard())
    }

    /// Writes to `outgoing` from now on: a new link. Returns its generation.
    pub(crate) fn install_link(&mut self, outgoing: FrameSink) -> u64 {
        drop(self.swap_outgoing(outgoing));
        self.finish_install()
    }

    /// The writing half in place is a new link's: reset what belonged to the old one.
    pub(crate) fn finish_install(&mut self) -> u64 {
        self.generation += 1;
        self.linkless = false;
        self.link_closed = false;
        self.unflushed = 0;
        // The old link's backpressure is not the new one's (the session cleared its stall
        // timer when it resumed).
        self.blocked = false;
        self.generation
    }

    /// Acceptor: the link that asked to resume, and the session it named, once.
    pub(crate) fn take_handover(&mut self) -> Option<(Arc<Core>, Resume)> {
        self.handover.take()
    }

    /// Acceptor: the resume this link asked for is refused; it hears why.
    pub(crate) fn refuse_resume(&mut self, refusal: ResumeRefusal) {
        self.session
            .refuse(now(), RefusedBy::Resume, &refusal.to_string());
    }

    /// Sends one channel item (there is room in the replay buffer).
    fn send_item(&mut self, conn: ConnId, channel: u64, payload: Vec<u8>) {
        match self.session.send_data(conn, channel, payload) {
            Ok(()) => {}
            // The receiver reset the channel while this item was on its way: drop it; the
            // sender sees `Reset` on its next send.
            Err(ChannelSendError::NotOpen) => {}
            Err(e) => {
                tracing::warn!(channel, error = %e, "channel item not sent");
                if let Some(end) = self.session.detach_channel(conn, channel) {
                    end.fail(ChannelError::Reset);
                    self.session.close_channel(conn, channel);
                }
            }
        }
    }

    /// Acknowledgements made room: items that waited go, in order, until it is full again.
    fn send_waiting_items(&mut self) {
        while !self.waiting_items.is_empty() && !self.session.must_wait_for_replay() {
            match self.waiting_items.pop_front() {
                Some((conn, channel, Some(payload))) => self.send_item(conn, channel, payload),
                Some((conn, channel, None)) => self.session.close_channel(conn, channel),
                None => {}
            }
        }
        if self.waiting_items.is_empty() {
            self.gate.open();
        }
    }

    /// Initiator: dials until a link resumes the session or starts the fresh one (or the
    /// policy gives up). One loop at a time: a loop still running sees a new loss and dials
    /// again itself.
    fn dial(&mut self) {
        let Some(redial) = self.redial.clone() else {
            return;
        };
        if self.dialer.as_ref().is_some_and(|d| !d.is_finished()) {
            return;
        }
        self.dialer = Some(tokio::spawn(resume::reconnect(
            self.core.clone(),
            redial,
            self.max_frame.clone(),
        )));
    }

    /// The reconnect loop has stopped (see `Core::dialer_may_stop`): the next loss starts one.
    pub(crate) fn dialer_stopped(&mut self) {
        self.dialer = None;
    }

    /// Initiator that can dial again: a refused resume leads to a fresh session.
    fn starts_afresh(&self, error: &SessionError) -> bool {
        self.role == Role::Initiator && self.redial.is_some() && error.is_resume_refused()
    }

    /// The link is gone but the session lives on: stop writing, drop the writing half.
    fn lose_link(&mut self) {
        self.linkless = true;
        self.unflushed = 0;
        self.outgoing = discard();
        self.blocked = false;
    }

    /// Tells the metrics hooks how the number of open channels changed since last time.
    fn report_channels(&mut self) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let open = self.session.open_channels();
        match open.cmp(&self.channels_reported) {
            std::cmp::Ordering::Greater => metrics.channels_opened(open - self.channels_reported),
            std::cmp::Ordering::Less => metrics.channels_closed(self.channels_reported - open),
            std::cmp::Ordering::Equal => {}
        }
        self.channels_reported = open;
    }

    /// Tells the metrics hooks about a call answered before any handler (so never seen by the
    /// interceptors): `UnknownMethod`, `Overloaded`, `Unavailable`.
    fn record_unserved(&self, method_id: u64, error: RemoteError) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let (service, method) = self
            .router
            .route(method_id)
            .map_or(("", ""), |r| (r.service.descriptor().name, r.method.name));
        metrics.call(&CallRecord {
            service,
            method,
            identity: self.identity.as_ref().map(|i| i.name()),
            outcome: Outcome::Failed(error),
            duration: std::time::Duration::ZERO,
            request_bytes: 0,
            response_bytes: 2,
        });
    }

    /// Starts the authenticator on the peer's `Hello` (or admits at once without one). Its
    /// verdict comes back as `Command::Admitted`; the session's handshake timer bounds it.
    fn admit(&mut self, metadata: Metadata) {
        let Some(authenticator) = self.authenticator.clone() else {
            return self.session.admit(now());
        };
        let hello = PeerHello {
            ip: crate::transport::ip_of(&self.peer),
            peer: self.peer.clone(),
            tls: self.tls.clone(),
            metadata,
        };
        let inbox = self.inbox();
        let task = tokio::spawn(async move {
            let verdict = AssertUnwindSafe(authenticator.authenticate(hello))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("the authenticator panicked; refusing the session");
                    Err(Refusal::new("the server could not check the credentials"))
                });
            let _ = inbox.send(Command::Admitted(verdict));
        });
        self.admitting = Some(task.abort_handle());
    }

    /// Whether `cmd` is a call or an answer with nothing else in flight its way, so writing
    /// it at once cannot split a batch the driver would have written together.
    pub(crate) fn alone(&self, cmd: &Command) -> bool {
        let quiet = self.session.transmit_bytes() == 0 && self.unflushed == 0;
        quiet
            && match cmd {
                Command::Call { .. } => {
                    self.session.outgoing_in_flight() == 0 && self.session.waiting_calls() == 0
                }
                Command::Finished { .. } => self.session.incoming_in_flight() <= 1,
                _ => false,
            }
    }

    /// Whether the driver task should read from the link now.
    pub(crate) fn reading(&self) -> bool {
        !self.session.is_closed() && !self.blocked && !self.linkless
    }

    /// An inbox to this session for a new handle.
    fn inbox(&self) -> Inbox {
        match self.core.upgrade() {
            Some(core) => Inbox(core),
            // The core outlives every call into its state: the caller holds it.
            None => unreachable!("session state used after its core was dropped"),
        }
    }

    /// The session is over: aborts every handler still running and lets go of the link's
    /// writing half (so the socket closes now, not when the last handle is dropped).
    pub(crate) fn release(&mut self) {
        // The driver stops only once the session has ended, and routing its `Closed` event
        // already stopped what it released; this catches anything released after that.
        for handler in self.session.take_released().serving {
            handler.task.abort();
        }
        if let Some(dialer) = self.dialer.take() {
            dialer.abort();
        }
        // Senders waiting for replay room find their channels failed instead.
        self.gate.open();
        self.link_closed = true;
        self.unflushed = 0;
        while self.session.poll_transmit().is_some() {}
        // Nothing more will be written: the server's total gets this session's share back now.
        self.output.set(0);
        self.outgoing = discard();
        if let (Some(resumables), Some(info)) = (&self.resumables, &self.info)
            && let Some(key) = info.session_key
        {
            resumables.remove(&key, &self.core);
        }
        self.set_state(ConnectionState::Closed, false);
    }

    fn on_written(&mut self, written: Result<Written, LinkError>) {
        match written {
            Ok(Written::All) if self.session.is_closed() => {
                self.link_closed = true;
                self.session.handle_flushed();
            }
            Ok(Written::All) => {}
            Ok(Written::Some) => {
                if self.blocked {
                    self.session.handle_output(now(), OutputState::Progress);
                }
            }
            Err(e) => {
                // The peer is gone; nothing more can be written.
                self.link_closed = true;
                let detail = match e {
                    LinkError::Io(e) => e.to_string(),
                    other => other.to_string(),
                };
                self.session.handle_link_closed(now(), None, detail);
            }
        }
    }

    /// Effective limits (defaults before the handshake; channels only exist after it).
    fn limits(&self) -> crate::wire::Limits {
        self.info.as_ref().map(|i| i.limits).unwrap_or_default()
    }

    /// Creates both sides of channel `id`, on which this side sends.
    fn open_sender(&mut self, conn: ConnId, id: u64) -> WireTx {
        let state = SenderState::new();
        self.attach(conn, id, End::Sender(Arc::clone(&state)));
        WireTx::new(
            conn,
            id,
            self.inbox(),
            state,
            self.limits().max_frame_size,
            Arc::clone(&self.gate),
        )
    }

    /// Creates both sides of channel `id`, on which this side receives. The item queue is
    /// unbounded as a type but never holds more than the credit, which the session enforces.
    /// `written_by` is set on a caller's end: the method and the channel's index among its
    /// channel arguments, to read the items with the callee's announced item type.
    fn open_receiver(&mut self, conn: ConnId, id: u64, written_by: Option<(u64, usize)>) -> WireRx {
        let (items_tx, items_rx) = mpsc::unbounded_channel();
        let peer = written_by.map(|(method_id, index)| (method_id, index, Arc::default()));
        self.attach(
            conn,
            id,
            End::Receiver {
                items: items_tx,
                peer_items: peer.as_ref().map(|(m, _, p)| (*m, Arc::clone(p))),
            },
        );
        let mut wire = WireRx::new(
            conn,
            id,
            self.inbox(),
            items_rx,
            self.limits().initial_credit,
        );
        wire.peer_items = peer.map(|(_, index, p)| (p, index));
        wire
    }

    /// Keeps `end` in channel `id`'s entry; a channel already gone fails its end at once, so
    /// nobody waits on it.
    fn attach(&mut self, conn: ConnId, id: u64, end: End) {
        if let Err(end) = self.session.attach_channel(conn, id, end) {
            end.fail(ChannelError::Cancelled);
        }
    }

    /// Feeds one frame (or the link's end) read at `now` to the session.
    pub(crate) fn on_frame(&mut self, now: Instant, frame: Option<Result<Bytes, LinkError>>) {
        use roam_proto::frame::FrameError;
        match frame {
            Some(Ok(bytes)) => {
                self.session.handle_frame(now, &bytes);
                // Routed at once, frame by frame: a request's channel ends must be attached
                // before the next frame (an item on one of them, say) is handled.
                self.process_events();
            }
            Some(Err(LinkError::Frame(FrameError::TooLarge { len, max }))) => {
                self.session.handle_link_closed(
                    now,
                    Some(ProtocolViolation::FrameTooLarge { len, max }),
                    String::new(),
                )
            }
            // A link cut mid-frame: on a session that survives it, a lost link like any
            // other (the peer sends the whole frame again after the resume).
            Some(Err(LinkError::Frame(FrameError::Truncated { buffered })))
                if self.session.is_resumable() =>
            {
                self.session.handle_link_closed(
                    now,
                    None,
                    format!("the link ended inside a frame ({buffered} bytes buffered)"),
                )
            }
            Some(Err(LinkError::Frame(FrameError::Truncated { buffered }))) => {
                self.session.handle_link_closed(
                    now,
                    Some(ProtocolViolation::MalformedMessage(format!(
                        "the link ended inside a frame ({buffered} bytes buffered)"
                    ))),
                    String::new(),
                )
            }
            Some(Err(LinkError::TextMessage)) => self.session.handle_link_closed(
                now,
                Some(ProtocolViolation::MalformedMessage(
                    "a text WebSocket message; roam frames are binary messages".into(),
                )),
                String::new(),
            ),
            Some(Err(LinkError::Io(e))) => {
                self.session.handle_link_closed(now, None, e.to_string())
            }
            None => {
                self.session
                    .handle_link_closed(now, None, "the peer closed the connection".into())
            }
        }
    }

    fn set_blocked(&mut self, blocked: bool) {
        if self.blocked == blocked {
            return;
        }
        self.blocked = blocked;
        let state = if blocked {
            tracing::debug!("output over its bound; not reading from the peer until it drains");
            OutputState::Blocked
        } else {
            OutputState::Flowing
        };
        self.session.handle_output(now(), state);
    }

    pub(crate) fn on_command(&mut self, cmd: Command) {
        // The clock is read only by the commands that need it (not per stream item).
        match cmd {
            Command::Call {
                conn,
                id,
                call,
                channels,
                reply,
            } => {
                let method_id = call.method_id;
                match self.session.call(now(), conn, id, call, reply) {
                    Ok(started) => {
                        for (index, (bind, &id)) in
                            channels.into_iter().zip(&started.channels).enumerate()
                        {
                            match bind {
                                ChannelBind::Send(bind) => bind(self.open_sender(conn, id)),
                                ChannelBind::Receive(bind) => {
                                    bind(self.open_receiver(conn, id, Some((method_id, index))))
                                }
                            }
                        }
                    }
                    // A virtual connection closed meanwhile.
                    Err((crate::session::CallRejected::UnknownConnection(_), reply)) => {
                        let _ =
                            reply.send(Err(CallFailure::Lost(SessionError::ConnectionClosed {
                                reason: "the connection is closed".into(),
                            })));
                    }
                    Err((rejected, reply)) => {
                        let _ = reply.send(Err(CallFailure::Rejected(rejected)));
                    }
                }
            }
            Command::Cancel { conn, id } => {
                if let Some(cancelled) = self.session.cancel(conn, id) {
                    // Never sent: its channels never opened on the peer.
                    for end in cancelled.channels {
                        end.fail(ChannelError::Cancelled);
                    }
                }
            }
            Command::Finished {
                conn,
                id,
                handler,
                metadata,
                payload,
                schema,
            } => {
                if self
                    .session
                    .served(conn, id)
                    .is_some_and(|h| h.token == handler)
                {
                    self.session
                        .respond(now(), conn, id, metadata, payload, schema);
                }
            }
            Command::ChannelData {
                conn,
                channel,
                payload,
            } => {
                // Behind items already waiting for replay room, in order.
                if !self.waiting_items.is_empty() || self.session.must_wait_for_replay() {
                    self.waiting_items.push_back((conn, channel, Some(payload)));
                    self.gate.close();
                } else {
                    self.send_item(conn, channel, payload);
                }
            }
            Command::ChannelClose { conn, channel } if !self.waiting_items.is_empty() => {
                self.waiting_items.push_back((conn, channel, None))
            }
            Command::ChannelClose { conn, channel } => self.session.close_channel(conn, channel),
            Command::ChannelReset { conn, channel } => self.session.reset_channel(conn, channel),
            Command::ChannelCredit { conn, channel, n } => {
                self.session.grant_credit(conn, channel, n)
            }
            Command::AnnounceChannels {
                conn,
                method_id,
                schema,
            } => self
                .session
                .announce_schema(conn, method_id, SchemaKind::Channels, schema),
            Command::Open(request) => {
                if let Ok(request) = request.downcast::<OpenRequest>() {
                    self.open(*request);
                }
            }
            Command::CloseConnection { conn, reason } => self.close_virtual(conn, &reason),
            Command::ConnectionDropped { conn } => {
                if self
                    .virtuals
                    .get(&conn)
                    .is_some_and(|v| v.opener && v.handle.strong_count() == 0)
                {
                    self.close_virtual(conn, "the opener dropped its last handle");
                }
            }
            Command::Admitted(verdict) => {
                self.admitting = None;
                match verdict {
                    Ok(identity) => {
                        tracing::debug!(identity = identity.name(), "session admitted");
                        self.identity = Some(identity);
                        self.session.admit(now());
                    }
                    Err(refusal) => {
                        tracing::debug!(reason = refusal.reason(), "session refused");
                        self.session
                            .refuse(now(), RefusedBy::Authentication, refusal.reason());
                    }
                }
            }
            Command::HandlesDropped => {
                // Only the side that connected closes when unused; an acceptor's session lives
                // as long as its peer keeps it. Handler contexts hold handles too, but a handler
                // drops its context before its answer reaches this queue: draining (rather
                // than closing) lets calls we still serve be answered before the `Goodbye`.
                if self.role == Role::Initiator && self.handle.strong_count() == 0 {
                    self.session
                        .start_drain(now(), "the client dropped its last connection handle");
                }
            }
            Command::Close => self.session.close(now(), "closed by the application"),
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
                        identity: self.identity.clone(),
                        tls: self.tls.clone(),
                    });
                    if let Some(metrics) = &self.metrics {
                        metrics.session_opened();
                    }
                    if let (Some(resumables), Some(key), true) =
                        (&self.resumables, session_key, self.session.is_resumable())
                    {
                        resumables.insert(key, self.core.clone());
                    }
                    if self.fresh {
                        self.set_state(ConnectionState::Fresh, false);
                    }
                    let conn = self.connection();
                    if let (Some(tx), Some(conn)) = (self.established.take(), conn) {
                        let _ = tx.send(Ok(conn));
                    }
                }
                SessionEvent::Admit { metadata } => match self.refusal.take() {
                    Some((by, reason)) => self.session.refuse(now(), by, &reason),
                    None => self.admit(metadata),
                },
                SessionEvent::Refused {
                    method_id, error, ..
                } => self.record_unserved(method_id, error),
                SessionEvent::Request(call) => self.serve(call),
                SessionEvent::Response {
                    metadata,
                    payload,
                    schema,
                    call: reply,
                    ..
                } => {
                    let _ = reply.send(Ok(RawResponse {
                        metadata,
                        payload,
                        schema,
                    }));
                }
                SessionEvent::CallFailed {
                    reason,
                    call: reply,
                    channels,
                    ..
                } => {
                    for end in channels {
                        end.fail(ChannelError::Cancelled);
                    }
                    let _ = reply.send(Err(CallFailure::Rejected(reason)));
                }
                SessionEvent::ChannelData {
                    conn,
                    channel,
                    payload,
                } => {
                    // A receiver dropped meanwhile has already sent `Reset`; its items are moot.
                    let (method_id, peer) = match self.session.channel_end(conn, channel) {
                        Some(End::Receiver {
                            peer_items: Some((method_id, peer)),
                            ..
                        }) if !peer.is_resolved() => (*method_id, Arc::clone(peer)),
                        Some(End::Receiver { items, .. }) => {
                            let _ = items.send(Ok(payload));
                            continue;
                        }
                        _ => continue,
                    };
                    // The channel's first item on a caller's end: the callee's channel
                    // signature was announced before it, so it is in the table now.
                    peer.resolve(|| {
                        self.session
                            .peer_schema(conn, method_id, SchemaKind::Channels)
                    });
                    if let Some(End::Receiver { items, .. }) =
                        self.session.channel_end(conn, channel)
                    {
                        let _ = items.send(Ok(payload));
                    }
                }
                // Dropping the item sender ends the `Rx` after the queued items.
                SessionEvent::ChannelClosed { .. } => {}
                SessionEvent::ChannelReset { end, .. } => {
                    if let Some(end) = end {
                        end.fail(ChannelError::Reset);
                    }
                }
                SessionEvent::ChannelCredit { conn, channel, n } => {
                    if let Some(End::Sender(state)) = self.session.channel_end(conn, channel) {
                        state.add_credit(n);
                    }
                }
                SessionEvent::StopHandler {
                    id, reason, serve, ..
                } => {
                    // The session has answered the caller already.
                    if let Some(handler) = serve {
                        tracing::debug!(id, ?reason, "stopping handler");
                        handler.task.abort();
                    }
                }
                SessionEvent::Detached { error } => {
                    tracing::debug!(%error, "link lost; the session waits to be resumed");
                    self.lose_link();
                    self.set_state(ConnectionState::Reconnecting, true);
                    self.dial();
                }
                SessionEvent::Resumed { replayed } => {
                    tracing::debug!(replayed, "session resumed");
                    self.set_state(ConnectionState::Resumed, false);
                }
                SessionEvent::ResumeRequested { resume, .. } => {
                    let target = self
                        .resumables
                        .as_ref()
                        .and_then(|r| r.get(&resume.session_key));
                    match target {
                        Some(core) => self.handover = Some((core, resume)),
                        None => self.refuse_resume(ResumeRefusal::UnknownSession),
                    }
                }
                SessionEvent::ReplayRoom => self.send_waiting_items(),
                SessionEvent::ConnectionRequested { conn, metadata } => {
                    self.decide_virtual(conn, &metadata)
                }
                SessionEvent::ConnectionAccepted { conn, .. } => {
                    let handle = self.connection_for(conn);
                    let reply = self.virtuals.get_mut(&conn).and_then(|v| v.opening.take());
                    if let (Some(reply), Some(handle)) = (reply, handle) {
                        // Nobody waits for it any more: nobody will use it.
                        if let Err(Ok(handle)) = reply.send(Ok(handle)) {
                            drop(handle);
                        }
                    }
                }
                SessionEvent::ConnectionRejected {
                    conn,
                    reason,
                    calls,
                    channels,
                } => {
                    let closed = SessionError::ConnectionClosed { reason };
                    fail_connection(calls, Vec::new(), channels, &closed);
                    if let Some(v) = self.virtuals.remove(&conn) {
                        v.end(closed);
                    }
                }
                SessionEvent::ConnectionClosed {
                    conn,
                    reason,
                    calls,
                    serving,
                    channels,
                } => {
                    tracing::debug!(conn, reason, "the peer closed a virtual connection");
                    let closed = SessionError::ConnectionClosed { reason };
                    fail_connection(calls, serving, channels, &closed);
                    if let Some(v) = self.virtuals.remove(&conn) {
                        v.end(closed);
                    }
                }
                SessionEvent::Closed(error) if self.starts_afresh(&error) => {
                    tracing::debug!(%error, "the session could not be resumed; starting a fresh one");
                    self.fail_released(&error);
                    for (_, v) in self.virtuals.drain() {
                        v.end(error.clone());
                    }
                    self.session = Session::with_attachments(
                        Role::Initiator,
                        SessionConfig {
                            // Waits for the reconnect loop's link for as long as it may dial.
                            handshake_timeout: self.config.handshake_timeout
                                + self
                                    .redial
                                    .as_ref()
                                    .map_or(Duration::ZERO, |r| r.policy.budget),
                            ..self.config.clone()
                        },
                        None,
                        now(),
                    );
                    self.waiting_items.clear();
                    self.gate.open();
                    self.lose_link();
                    self.fresh = true;
                    self.set_state(ConnectionState::Reconnecting, true);
                    self.dial();
                }
                SessionEvent::Closed(error) => {
                    tracing::debug!(%error, "session ended");
                    if let Some(task) = self.admitting.take() {
                        task.abort();
                    }
                    if let Some(metrics) = &self.metrics
                        && self.info.is_some()
                    {
                        metrics.session_closed();
                    }
                    self.fail_released(&error);
                    for (_, v) in self.virtuals.drain() {
                        v.end(error.clone());
                    }
                    if let Some(tx) = self.established.take() {
                        let e = match &error {
                            SessionError::HandshakeFailed(_)
                            | SessionError::TimedOut(_)
                            | SessionError::Refused { .. } => error.clone(),
                            other => SessionError::HandshakeFailed(other.to_string()),
                        };
                        let _ = tx.send(Err(e));
                    }
                    let _ = self.closed.send(Some(error));
                }
            }
        }
    }

    /// Fails what the ended session released: calls with `ConnectionLost`, channels, and
    /// handlers (aborted).
    fn fail_released(&mut self, error: &SessionError) {
        self.gate.open();
        let released = self.session.take_released();
        for reply in released.calls {
            let _ = reply.send(Err(CallFailure::Lost(error.clone())));
        }
        for end in released.channels {
            end.fail(ChannelError::ConnectionLost(error.clone()));
        }
        for handler in released.serving {
            handler.task.abort();
        }
    }

    /// Measures the output queue after a turn: stops reading while it is over its bound,
    /// reads again once it is not, and ends the session if local producers push it past
    /// [`MAX_WRITE_BACKLOG`].
    fn account_output(&mut self) {
        if self.link_closed {
            // Nothing queued now can be written.
            while self.session.poll_transmit().is_some() {}
        }
        // What waits in the session. Frames already fed to the link are not counted: the link
        // takes more only as it writes (its own buffer is bounded), and they may be on the
        // wire already.
        let queued = self.session.transmit_bytes();
        self.output.set(queued);
        if self.session.is_closed() {
            return;
        }
        // Frames also kept for replay are bounded by the session's replay limit (a resume
        // queues them all at once); the backlog rule is for the rest.
        let replayed = self.session.replay_buffered().0.min(queued);
        if queued - replayed > MAX_WRITE_BACKLOG {
            self.session.handle_link_closed(
                now(),
                Some(ProtocolViolation::WriteBacklog { queued }),
                String::new(),
            );
            return;
        }
        let over = self.output.over();
        if over != self.blocked {
            self.set_blocked(over);
        }
    }

    /// A user-facing handle to connection `conn` of this session (a new one if none is
    /// alive); `None` before the handshake or for a connection that is not open.
    fn connection_for(&mut self, conn: ConnId) -> Option<Connection> {
        if conn == ROOT {
            return self.connection();
        }
        let info = self.info.clone()?;
        let commands = self.inbox();
        let v = self.virtuals.get_mut(&conn)?;
        if let Some(shared) = v.handle.upgrade() {
            return Some(Connection { shared });
        }
        let shared = Arc::new(Shared {
            conn,
            commands,
            info,
            closed: v.closed.subscribe(),
            calls_started: Arc::clone(&v.calls_started),
            role: self.role,
            interceptors: self.client_interceptors.clone(),
            states: self.states.subscribe(),
        });
        v.handle = Arc::downgrade(&shared);
        Some(Connection { shared })
    }

    /// `Connection::open`: sends the `Open`; the handle goes to the opener on the `Accept`.
    fn open(&mut self, request: OpenRequest) {
        let OpenRequest { options, reply } = request;
        match self
            .session
            .open_connection(options.metadata, options.max_concurrent_requests)
        {
            Ok(conn) => {
                let mut v = Virtual::new(options.router, true);
                v.opening = Some(reply);
                self.virtuals.insert(conn, v);
            }
            Err(e) => {
                use crate::session::OpenError as Refused;
                let _ = reply.send(Err(match e {
                    Refused::TooMany(_) => OpenError::TooMany,
                    Refused::Metadata(detail) => OpenError::Metadata(detail),
                    Refused::Closed(error) => OpenError::Lost(error),
                    Refused::NotEstablished => OpenError::Lost(
                        self.closed_rx
                            .borrow()
                            .clone()
                            .unwrap_or(SessionError::LocallyClosed),
                    ),
                }));
            }
        }
    }

    /// The peer opened `conn`: the acceptor callback decides.
    fn decide_virtual(&mut self, conn: ConnId, metadata: &Metadata) {
        let verdict = match &self.acceptor {
            Some(acceptor) => {
                std::panic::catch_unwind(AssertUnwindSafe(|| acceptor.accept(metadata)))
                    .unwrap_or_else(|_| {
                        tracing::error!(
                            "the connection acceptor panicked; refusing the connection"
                        );
                        Err(Refusal::new("the peer could not decide on the connection"))
                    })
            }
            None => Err(Refusal::new(
                "this side does not accept virtual connections",
            )),
        };
        match verdict {
            Ok(accept) => {
                if self.session.accept_connection(
                    conn,
                    accept.metadata,
                    accept.max_concurrent_requests,
                ) {
                    self.virtuals
                        .insert(conn, Virtual::new(accept.router, false));
                }
            }
            Err(refusal) => {
                self.session.reject_connection(conn, refusal.reason());
            }
        }
    }

    /// Closes virtual connection `conn` from this side.
    fn close_virtual(&mut self, conn: ConnId, reason: &str) {
        let Some(released) = self.session.close_connection(conn, reason) else {
            return;
        };
        let closed = SessionError::ConnectionClosed {
            reason: reason.to_owned(),
        };
        fail_connection(released.calls, released.serving, released.channels, &closed);
        if let Some(v) = self.virtuals.remove(&conn) {
            v.end(closed);
        }
    }

    /// A user-facing handle to this session (a new one if none is alive).
    fn connection(&mut self) -> Option<Connection> {
        if let Some(shared) = self.handle.upgrade() {
            return Some(Connection { shared });
        }
        let shared = Arc::new(Shared {
            conn: ROOT,
            commands: self.inbox(),
            info: self.info.clone()?,
            closed: self.closed_rx.clone(),
            calls_started: Arc::clone(&self.calls_started),
            role: self.role,
            interceptors: self.client_interceptors.clone(),
            states: self.states.subscribe(),
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
        let router = match call.conn {
            ROOT => Some(&self.router),
            conn => self.virtuals.get(&conn).map(|v| &v.router),
        };
        let Some(route) = router.and_then(|r| r.route(call.method_id)).cloned() else {
            tracing::debug!(method_id = call.method_id, "unknown method");
            self.record_unserved(call.method_id, RemoteError::UnknownMethod);
            return refuse(self, RemoteError::UnknownMethod);
        };
        let Some(connection) = self.connection_for(call.conn) else {
            return refuse(self, RemoteError::Internal);
        };
        let ends = call
            .channels
            .iter()
            .map(|&(id, direction)| match direction {
                Direction::Outgoing => ChannelEnd::Tx(self.open_sender(call.conn, id)),
                Direction::Incoming => ChannelEnd::Rx(self.open_receiver(call.conn, id, None)),
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
        let handler =
            AssertUnwindSafe(self.interceptors.dispatch(&route.service, cx, call.payload))
                .catch_unwind();
        let finished = self.inbox();
        let id = call.id;
        let call_conn = call.conn;
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
                    conn: call_conn,
                    id,
                    handler: token,
                    metadata,
                    payload,
                    schema,
                });
            }
            .instrument(span),
        );
        let handler = Handler {
            token,
            task: task.abort_handle(),
        };
        if let Err(handler) = self.session.serving(call_conn, id, handler) {
            // Already answered or stopped by the session: nobody wants its answer.
            handler.task.abort();
        }
    }
}

/// Fails what a closed or rejected virtual connection released: its calls and channels with
/// `closed`, its handlers aborted.
fn fail_connection(
    calls: Vec<<Ends as Attachments>::Call>,
    serving: Vec<Handler>,
    channels: Vec<End>,
    closed: &SessionError,
) {
    for reply in calls {
        let _ = reply.send(Err(CallFailure::Lost(closed.clone())));
    }
    for end in channels {
        end.fail(ChannelError::ConnectionLost(closed.clone()));
    }
    for handler in serving {
        handler.task.abort();
    }
}
