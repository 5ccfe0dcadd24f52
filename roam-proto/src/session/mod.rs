//! The session: roam's protocol state machine, free of I/O and of the clock.
//!
//! `Session` owns the handshake, the phases of a session's life, keepalive, request-ID
//! allocation and parity, the calls in flight in each direction with their deadlines, the
//! peer's concurrency limit (calls beyond it wait here), overload and drain answers, and every
//! protocol-violation check. State is kept **per connection** (`conn` in every message: the
//! root, 0, and the virtual connections either side opens, see `virtuals.rs`). It **never touches sockets, tasks or clocks**: time
//! arrives as the `now` argument of every input, and the driver carries out what it asks for,
//! so every edge is testable deterministically (see `session/tests/`).
//!
//! # Using a `Session`
//! - Inputs: [`Session::handle_frame`] (one frame body from the link),
//!   [`Session::handle_timeout`] (the time [`Session::poll_timeout`] named has come),
//!   [`Session::handle_link_closed`], [`Session::handle_flushed`].
//! - Commands: [`Session::call`], [`Session::cancel`], [`Session::respond`],
//!   [`Session::send_data`], [`Session::close_channel`], [`Session::reset_channel`],
//!   [`Session::grant_credit`], [`Session::start_drain`], [`Session::close`].
//! - Outputs, drained after every input or command: [`Session::poll_event`] (what the
//!   application must act on; acting on an event may queue more frames), then
//!   [`Session::poll_transmit`] (frame bodies to write, in order), then
//!   [`Session::poll_timeout`] (when to call `handle_timeout` next).
//!
//! `now` must never go backwards between calls.
//!
//! # Phases
//! `Handshaking` → `Established` → (`Draining` →) `Closing` → `Closed`. `Closing` means the
//! session has ended for the application (every call failed, [`SessionEvent::Closed`] emitted)
//! but its last frames (a `Goodbye`) are still being flushed; the driver reports the flush with
//! [`Session::handle_flushed`], or the close-linger timer gives up on it.
//!
//! # One send path
//! Every frame this side sends passes through one private function, `Output::push`, which
//! knows the message's [`Class`]: session-level messages are numbered in send order (the
//! numbers that resumption will acknowledge and replay), link-level ones (`Hello`, `Goodbye`,
//! `Ping`, `Pong`) are not. (Requests and channel items are encoded first, because their size
//! decides whether they can be sent at all, and reach `push` already encoded.)

mod channels;
mod config;
mod conn;
mod deadlines;
mod ids;
mod replay;
mod schemas;
#[cfg(test)]
mod tests;
pub mod timer;
mod virtuals;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use channels::MAX_CHANNELS;
pub use channels::{ChannelSendError, Direction};
pub use config::{Keepalive, Resumption, SessionConfig};
pub use conn::Attachments;
pub use ids::{IdAllocator, Role};
pub use replay::ResumeRefusal;
pub use schemas::{MAX_REMOTE_SCHEMAS, MAX_SCHEMA_BYTES, MAX_SCHEMA_TABLE_BYTES};
pub use virtuals::OpenError;

use channels::{Abandon, DataVerdict, Opened, ResetVerdict};
use conn::{ConnStatus, Conns, Incoming, Outgoing, OutgoingState};
use deadlines::{Deadlines, Side};
use replay::{AckDebt, AckDue, Ownership, ReplayBuffer};
use schemas::Announcement;
use timer::{Timer, TimerTable};

use crate::error::{ProtocolViolation, RefusedBy, RemoteError, SessionError, TimedOut};
use crate::metadata::Metadata;
use crate::response;
use crate::schema::{LocalSchema, PeerSchema};
use crate::wire::{
    self, Cancel, ChannelDirection, ChannelSpec, Class, EncodeError, Hello, Limits, Message,
    PROTOCOL_VERSION, Replay, Request, Response, Resume, SchemaAnnouncement, SchemaKind,
};

/// A connection ID; [`ROOT`] is the one every session has.
pub type ConnId = u64;

/// The root connection, open for the whole session.
pub const ROOT: ConnId = 0;

/// Bytes a `Schema` message adds around the schema: tag, `conn`, `method_id` (varint, at most
/// 10), kind, and the length varint (at most 5).
const SCHEMA_MESSAGE_OVERHEAD: usize = 1 + 10 + 10 + 1 + 5;

/// Bytes a `Goodbye` adds around its reason: the tag and the length varint (at most 5).
const GOODBYE_OVERHEAD: usize = 1 + 5;

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut_utf8(s: &str, max: usize) -> &str {
    let mut cut = max.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// A call this side wants to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingCall {
    /// The method to call.
    pub method_id: u64,
    /// Metadata sent with the request.
    pub metadata: Metadata,
    /// How long the caller waits. The session fails the call with
    /// [`CallRejected::DeadlineExceeded`] then (sending `Cancel` if it went out), and the
    /// request tells the callee how much of it is left.
    pub timeout: Option<Duration>,
    /// The encoded argument tuple.
    pub payload: Bytes,
    /// One entry per channel argument, in order: `Outgoing` if this side (the caller) sends.
    pub channels: Vec<Direction>,
    /// Our schema of the argument tuple, announced before the method's first request.
    pub args_schema: Option<&'static LocalSchema>,
    /// Our schema of the channel arguments' item types, likewise.
    pub channels_schema: Option<&'static LocalSchema>,
}

/// A call the session accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStarted {
    /// The request ID.
    pub id: u64,
    /// The channel IDs allocated for the call's channel arguments, in order.
    pub channels: Vec<u64>,
}

/// A call the peer made that the application must serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// The connection it arrived on.
    pub conn: ConnId,
    /// Request ID (to pass to [`Session::respond`]).
    pub id: u64,
    /// The method.
    pub method_id: u64,
    /// Request metadata.
    pub metadata: Metadata,
    /// When the caller stops waiting, if it set a deadline. The session answers
    /// `DeadlineExceeded` then and emits [`SessionEvent::StopHandler`].
    pub deadline: Option<Instant>,
    /// The encoded argument tuple.
    pub payload: Bytes,
    /// The call's channels in argument order, with the direction seen from this side.
    pub channels: Vec<(u64, Direction)>,
    /// The peer's schema of the argument tuple, if it announced one.
    pub args_schema: Option<Arc<PeerSchema>>,
    /// The peer's schema of the channel arguments' item types, if it announced one.
    pub channels_schema: Option<Arc<PeerSchema>>,
}

/// Why a call of ours failed without a response from the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallRejected {
    /// The request would not fit in one frame.
    #[error(
        "the request is {len} bytes but the session allows {max} per message; send less per call or raise max_frame_size on both sides"
    )]
    TooLarge {
        /// Encoded size.
        len: usize,
        /// Effective maximum.
        max: u32,
    },
    /// The request's metadata breaks the protocol's limits, so the peer would refuse it.
    #[error("the call's metadata is over the protocol limits ({0}); send fewer or shorter entries")]
    Metadata(&'static str),
    /// The call's timeout passed before its response arrived.
    #[error("the call's deadline passed before it completed")]
    DeadlineExceeded,
    /// The connection is not open.
    #[error("connection {0} is not open on this session")]
    UnknownConnection(ConnId),
    /// The request ID is not this side's to use, or a call of ours still holds it.
    #[error(
        "request ID {0} is in use or belongs to the peer; allocate IDs with Role::request_id or Session::next_request_id"
    )]
    IdInUse(u64),
    /// The session has ended.
    #[error(transparent)]
    Closed(SessionError),
}

/// Why the session stopped a call we were serving. It has already answered the caller; the
/// application only has to stop the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The caller sent `Cancel` (answered `Cancelled`).
    Cancelled,
    /// The caller's deadline passed (answered `DeadlineExceeded`).
    DeadlineExceeded,
    /// The drain grace ran out during shutdown (answered `Unavailable`).
    Shutdown,
}

/// Something the application must act on. Events that end a call or a channel hand back what
/// the application attached to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent<A: Attachments = ()> {
    /// The handshake finished.
    Established {
        /// The effective limits (minimum of both sides).
        limits: Limits,
        /// The session key issued by the acceptor.
        session_key: Option<[u8; 16]>,
    },
    /// Acceptor with [`SessionConfig::admission`] only: the initiator's `Hello` arrived and
    /// is valid; decide whether to serve it with [`Session::admit`] or [`Session::refuse`]
    /// (our `Hello` is held until then; the handshake timeout keeps running).
    Admit {
        /// What the initiator's `Hello` carried (its credentials).
        metadata: Metadata,
    },
    /// The peer made a call; answer it with [`Session::respond`].
    Request(IncomingCall),
    /// The session answered one of the peer's calls by itself, before any handler:
    /// `Unavailable` while draining, `Overloaded` over our concurrency limit. For metrics:
    /// nothing is to be done.
    Refused {
        /// The connection of the call.
        conn: ConnId,
        /// The method the peer called.
        method_id: u64,
        /// What it was answered.
        error: RemoteError,
    },
    /// The peer answered one of our calls.
    Response {
        /// The connection of the call.
        conn: ConnId,
        /// The ID [`Session::call`] returned.
        id: u64,
        /// Response metadata.
        metadata: Metadata,
        /// The encoded `Result<T, RoamError<E>>`.
        payload: Bytes,
        /// The peer's schema of the method's response, if it announced one.
        schema: Option<Arc<PeerSchema>>,
        /// What [`Session::call`] attached.
        call: A::Call,
    },
    /// One of our calls failed without a response after [`Session::call`] accepted it: too
    /// large once the handshake set the limits (a call that cannot be sent at once is refused
    /// by `call` itself instead), or its deadline passed.
    CallFailed {
        /// The connection of the call.
        conn: ConnId,
        /// The ID [`Session::call`] returned.
        id: u64,
        /// Why.
        reason: CallRejected,
        /// Whether the request (and so its channels) reached the peer: if not, the call's
        /// channels never opened and their local ends must be failed; if so, they end when the
        /// peer's handler stops.
        sent: bool,
        /// What [`Session::call`] attached.
        call: A::Call,
        /// The ends attached to the call's channels, if it was never sent (they never opened).
        channels: Vec<A::Channel>,
    },
    /// Stop the handler serving this call: the session has answered it already.
    StopHandler {
        /// The connection of the call.
        conn: ConnId,
        /// Request ID.
        id: u64,
        /// Why it was stopped.
        reason: StopReason,
        /// What [`Session::serving`] attached, if anything.
        serve: Option<A::Serve>,
    },
    /// An item arrived on a channel we receive on.
    ChannelData {
        /// Connection of the channel.
        conn: ConnId,
        /// Channel ID.
        channel: u64,
        /// The encoded item.
        payload: Bytes,
    },
    /// The peer's sender on a channel is done: no more items follow.
    ChannelClosed {
        /// Connection of the channel.
        conn: ConnId,
        /// Channel ID.
        channel: u64,
        /// The end attached to the channel, if any.
        end: Option<A::Channel>,
    },
    /// The peer's receiver gave up: our sender must stop (the session already answered `Close`).
    ChannelReset {
        /// Connection of the channel.
        conn: ConnId,
        /// Channel ID.
        channel: u64,
        /// The end attached to the channel, if any.
        end: Option<A::Channel>,
    },
    /// Our sender on `channel` may send `n` more items (initial credit included).
    ChannelCredit {
        /// Connection of the channel.
        conn: ConnId,
        /// Channel ID.
        channel: u64,
        /// Additional items.
        n: u64,
    },
    /// The session has ended; every call still pending has failed with this error (what was
    /// attached to them is in [`Session::take_released`]).
    Closed(SessionError),
    /// Resumable session: the link was lost (`error` says how), but the session lives on:
    /// calls, handlers and channels continue, and what they send waits for a new link. The
    /// initiator reconnects and calls [`Session::resume`]; the acceptor waits for the
    /// initiator to come back through another session's [`SessionEvent::ResumeRequested`].
    /// Either side ends the session after [`Resumption::grace`] without a new link.
    Detached {
        /// Why the link is considered lost.
        error: SessionError,
    },
    /// A new link resumed the session: everything the peer had not received was sent again
    /// (`replayed` messages), in order, and the session goes on where it was.
    Resumed {
        /// Messages sent again.
        replayed: usize,
    },
    /// Acceptor with [`SessionConfig::resumption`]: the initiator of this (new) link asks to
    /// resume another session. Find the session named by `resume.session_key` and call its
    /// [`Session::accept_resume`], then move this link to it; or refuse with
    /// [`Session::refuse`] and [`RefusedBy::Resume`].
    ResumeRequested {
        /// What the initiator presented.
        resume: Resume,
        /// What its `Hello` carried (its credentials).
        metadata: Metadata,
    },
    /// Acknowledgements made room in the replay buffer after a sender was told to wait
    /// ([`ChannelSendError::ReplayFull`]); waiting calls were sent already.
    ReplayRoom,
    /// The peer opened virtual connection `conn`: decide with
    /// [`Session::accept_connection`] or [`Session::reject_connection`] (its messages are
    /// refused until then).
    ConnectionRequested {
        /// The new connection.
        conn: ConnId,
        /// What the opener said about it.
        metadata: Metadata,
    },
    /// The peer accepted the virtual connection we opened; calls waiting on it were sent.
    ConnectionAccepted {
        /// The connection.
        conn: ConnId,
        /// What the acceptor said about it.
        metadata: Metadata,
    },
    /// The peer refused the virtual connection we opened; the calls made on it failed.
    ConnectionRejected {
        /// The connection.
        conn: ConnId,
        /// The acceptor's reason.
        reason: String,
        /// What was attached to the calls made on it.
        calls: Vec<A::Call>,
        /// The ends attached to their channels.
        channels: Vec<A::Channel>,
    },
    /// The peer closed virtual connection `conn`: its calls failed, its channels ended, and
    /// the handlers serving calls on it must stop (nobody takes their answers).
    ConnectionClosed {
        /// The connection.
        conn: ConnId,
        /// The peer's reason.
        reason: String,
        /// What was attached to our calls on it.
        calls: Vec<A::Call>,
        /// What was attached to the peer's calls we served on it.
        serving: Vec<A::Serve>,
        /// Channel ends.
        channels: Vec<A::Channel>,
    },
}

/// What was attached to the calls and channels still open when the session ended.
#[derive(Debug)]
pub struct Released<A: Attachments> {
    /// Our calls (waiting or sent) that got no answer.
    pub calls: Vec<A::Call>,
    /// The peer's calls we were serving.
    pub serving: Vec<A::Serve>,
    /// Channel ends.
    pub channels: Vec<A::Channel>,
}

impl<A: Attachments> Default for Released<A> {
    fn default() -> Self {
        Released {
            calls: Vec::new(),
            serving: Vec::new(),
            channels: Vec::new(),
        }
    }
}

/// A call given up with [`Session::cancel`].
#[derive(Debug)]
pub struct Cancelled<A: Attachments> {
    /// What [`Session::call`] attached.
    pub call: A::Call,
    /// Whether the request had gone out (a `Cancel` follows it); if not, neither did its
    /// channels, whose ends are in `channels`.
    pub sent: bool,
    /// The ends attached to the call's channels when it was never sent.
    pub channels: Vec<A::Channel>,
    /// The call's deadline, for the session to take out of its timers.
    pub(crate) deadline: Option<Instant>,
}

/// What the driver's outgoing queue is doing (see [`Session::handle_output`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputState {
    /// The queue passed its bound: the driver stopped reading from the peer.
    Blocked,
    /// Frames left the queue while it was blocked: the peer is reading.
    Progress,
    /// The queue is back under its bound: the driver reads again.
    Flowing,
}

/// Where a session is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// The peer's `Hello` has not arrived (ours is queued, unless we wait to admit the peer).
    Handshaking,
    /// Acceptor with admission: the peer's `Hello` arrived and waits for the application's
    /// verdict; ours is not sent yet. `limits` are the peer's.
    Admitting {
        /// The limits the peer announced.
        peer_limits: Limits,
    },
    /// Both `Hello`s exchanged.
    Established,
    /// New calls from the peer are refused; the session closes once the calls in flight are
    /// answered, or when the drain grace runs out.
    Draining {
        /// The `Goodbye` reason sent at the end.
        reason: String,
    },
    /// Ended for the application; the final frames are being flushed.
    Closing,
    /// Ended; nothing more is accepted or sent.
    Closed,
}

/// Frames and events waiting for the driver, and the numbering of session-level messages.
#[derive(Debug)]
struct Output<A: Attachments> {
    transmit: VecDeque<Bytes>,
    /// Bytes in `transmit`.
    transmit_bytes: usize,
    events: VecDeque<SessionEvent<A>>,
    /// Session-level messages sent so far (the last one's sequence number).
    sent_seq: u64,
    /// Session-level messages kept until the peer acknowledges them, on a resumable session.
    replay: Option<ReplayBuffer>,
    /// Which frames reach `transmit`: with no link, none; while a resume is being answered,
    /// only link-level ones (session-level frames wait in `replay` and follow the answer).
    link: LinkState,
}

/// Whether a session has a link to send on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    /// Frames go out.
    Attached,
    /// The initiator sent a resume `Hello` and waits for the answer.
    Resuming,
    /// No link: session-level frames wait for replay, link-level ones are dropped.
    Detached,
}

impl<A: Attachments> Output<A> {
    fn new() -> Self {
        Output {
            transmit: VecDeque::new(),
            transmit_bytes: 0,
            events: VecDeque::new(),
            sent_seq: 0,
            replay: None,
            link: LinkState::Attached,
        }
    }

    /// Encodes and sends a message that must fit in `max_frame` bytes.
    fn send(&mut self, msg: &Message, max_frame: u32) -> Result<(), EncodeError> {
        let bytes = wire::encode_bounded(msg, max_frame)?;
        self.push(msg.class(), bytes);
        Ok(())
    }

    /// The one place every outgoing frame passes through (messages whose size had to be
    /// checked before a side effect arrive here already encoded).
    fn push(&mut self, class: Class, bytes: Vec<u8>) {
        let frame = Bytes::from(bytes);
        let goes = match class {
            Class::Session => {
                self.sent_seq += 1;
                if let Some(replay) = &mut self.replay {
                    replay.push(frame.clone());
                }
                self.link == LinkState::Attached
            }
            Class::Link => self.link != LinkState::Detached,
        };
        if goes {
            self.transmit_bytes += frame.len();
            self.transmit.push_back(frame);
        }
    }

    /// Queues every frame the peer has not acknowledged again, in order (after a resume).
    fn replay_unacked(&mut self) -> usize {
        let Some(replay) = &self.replay else {
            return 0;
        };
        for frame in replay.unacked() {
            self.transmit_bytes += frame.len();
            self.transmit.push_back(frame.clone());
        }
        replay.len()
    }

    fn pop(&mut self) -> Option<Bytes> {
        let frame = self.transmit.pop_front()?;
        self.transmit_bytes -= frame.len();
        Some(frame)
    }

    fn clear_transmit(&mut self) {
        self.transmit.clear();
        self.transmit_bytes = 0;
    }

    /// Sends a message whose size is bounded by construction (everything but requests,
    /// responses and channel items); one that still fails is logged and dropped, never sent
    /// as an empty or cut frame.
    fn send_small(&mut self, msg: &Message, max_frame: u32) {
        match (self.send(msg, max_frame), msg) {
            (Ok(()), _) => {}
            // A `Goodbye` is cut to fit (the rule it starts with survives: every frame limit
            // is at least `Limits::MIN_FRAME_SIZE`), so the peer always hears why.
            (Err(EncodeError::TooLarge { .. }), Message::Goodbye { reason }) => {
                let room = (max_frame as usize).saturating_sub(GOODBYE_OVERHEAD);
                let short = Message::Goodbye {
                    reason: cut_utf8(reason, room).to_owned(),
                };
                if let Err(e) = self.send(&short, max_frame) {
                    tracing::error!(error = %e, "Goodbye not sent");
                }
            }
            (Err(e), _) => tracing::error!(error = %e, "protocol message not sent"),
        }
    }

    fn event(&mut self, event: SessionEvent<A>) {
        self.events.push_back(event);
    }
}

/// The protocol state of one session. See the module docs; `A` is what the application keeps
/// with each call and channel (nothing by default).
#[derive(Debug)]
pub struct Session<A: Attachments = ()> {
    role: Role,
    config: SessionConfig,
    phase: Phase,
    session_key: Option<[u8; 16]>,
    /// Effective limits, once the handshake is done.
    limits: Option<Limits>,
    conns: Conns<A>,
    /// What was attached to calls and channels when the session ended, until taken.
    released: Released<A>,
    /// Requests allocated by [`Session::next_request_id`].
    requests_allocated: u64,
    timers: TimerTable,
    deadlines: Deadlines,
    /// The nonce of the `Ping` waiting for its `Pong`.
    ping_outstanding: Option<u64>,
    /// When that `Ping` was queued.
    ping_sent_at: Instant,
    /// When the last frame from the peer arrived.
    last_heard: Instant,
    next_nonce: u64,
    /// Session-level messages received so far.
    received_seq: u64,
    /// Resumable session (both `Hello`s agreed): its key, secret and acknowledgements owed.
    ownership: Option<Ownership>,
    /// Acceptor: the secret to grant an initiator that offers replay (see
    /// [`Session::with_resume_secret`]).
    grant_secret: Option<[u8; 32]>,
    /// Acceptor: the replay buffer the initiator offered, until our `Hello` answers it.
    offered: Option<u32>,
    /// Why the session ended, for calls attempted afterwards.
    ended: Option<SessionError>,
    /// Acceptor: the initiator's `Hello` asked to resume another session (reported in
    /// [`SessionEvent::ResumeRequested`]); this one can only be refused.
    resume_requested: bool,
    out: Output<A>,
}

impl Session {
    /// A new session started at `now` that keeps nothing with its calls and channels (see
    /// [`Session::with_attachments`]); its `Hello` is queued for transmission at once. The
    /// acceptor passes the random session key it issues (the session itself never draws
    /// randomness).
    pub fn new(
        role: Role,
        config: SessionConfig,
        session_key: Option<[u8; 16]>,
        now: Instant,
    ) -> Self {
        Session::with_attachments(role, config, session_key, now)
    }
}

impl<A: Attachments> Session<A> {
    /// Like [`Session::new`], for a session that keeps `A`'s attachments with its calls and
    /// channels.
    pub fn with_attachments(
        role: Role,
        config: SessionConfig,
        session_key: Option<[u8; 16]>,
        now: Instant,
    ) -> Self {
        let mut s = Session {
            role,
            phase: Phase::Handshaking,
            session_key: if role == Role::Acceptor {
                session_key
            } else {
                None
            },
            limits: None,
            conns: Conns::new(role),
            released: Released::default(),
            requests_allocated: 0,
            timers: TimerTable::default(),
            deadlines: Deadlines::default(),
            ping_outstanding: None,
            ping_sent_at: now,
            last_heard: now,
            next_nonce: 1,
            received_seq: 0,
            ownership: None,
            grant_secret: None,
            offered: None,
            ended: None,
            resume_requested: false,
            out: Output::new(),
            config,
        };
        s.timers
            .set_after(Timer::Handshake, now, s.config.handshake_timeout);
        // An acceptor that admits peers answers with its `Hello` only once it has admitted one:
        // a refused initiator then sees a `Goodbye` naming why as the first frame, never a
        // session that is established and ended at once. One that resumes sessions must first
        // hear whether the initiator starts one or resumes another.
        if !s.holds_hello() {
            s.send_hello();
        }
        s
    }

    /// Acceptor with [`SessionConfig::resumption`]: the random secret this session grants an
    /// initiator that offers replay (it proves ownership when the initiator resumes). Without
    /// one, the session is not resumable. Like the session key, it is drawn by the caller: the
    /// session never draws randomness.
    #[must_use]
    pub fn with_resume_secret(mut self, secret: [u8; 32]) -> Self {
        if self.role == Role::Acceptor {
            self.grant_secret = Some(secret);
        }
        self
    }

    /// Acceptor: what it grants, if the initiator offered replay and this side resumes
    /// sessions: the secret, the session key, and the initiator's replay buffer.
    fn grant(&self) -> Option<([u8; 32], [u8; 16], u32)> {
        self.config.resumption?;
        Some((self.grant_secret?, self.session_key?, self.offered?))
    }

    /// Whether this acceptor keeps its `Hello` until it has heard the initiator's.
    fn holds_hello(&self) -> bool {
        self.role == Role::Acceptor && (self.config.admission || self.config.resumption.is_some())
    }

    fn send_hello(&mut self) {
        let replay = match (self.role, self.config.resumption) {
            (Role::Initiator, Some(r)) => Replay::Offer { buffer: r.buffer },
            (Role::Acceptor, Some(r)) => match self.grant() {
                Some((secret, _, _)) => Replay::Grant {
                    buffer: r.buffer,
                    secret,
                },
                None => Replay::Off,
            },
            (_, None) => Replay::Off,
        };
        let hello = Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: self.config.limits,
            session_key: self.session_key,
            resume: None,
            metadata: self.config.metadata.clone(),
            replay,
        });
        // Our own metadata is checked against the limits when the config is made (see
        // `SessionConfig::metadata`); an over-long one is logged and not sent, and the peer's
        // handshake timeout reports it.
        self.send_small(&hello);
    }

    // ----- getters -----

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the session is in its life.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The effective limits once established.
    pub fn limits(&self) -> Option<Limits> {
        self.limits
    }

    /// Whether the session has ended for the application (closing or closed): commands are
    /// refused and inputs ignored.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closing | Phase::Closed)
    }

    /// Whether nothing is left to do, not even flushing: the driver can drop the link.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Number of the peer's calls being served (all connections).
    pub fn incoming_in_flight(&self) -> usize {
        self.conns.values().map(|c| c.incoming.len()).sum()
    }

    /// Number of our calls sent and not yet answered (all connections).
    pub fn outgoing_in_flight(&self) -> usize {
        self.conns.values().map(|c| c.sent).sum()
    }

    /// Number of open channels (both directions, all connections).
    pub fn open_channels(&self) -> usize {
        self.conns.values().map(|c| c.channels.len()).sum()
    }

    /// Number of our calls waiting for a slot under the peer's limit.
    pub fn waiting_calls(&self) -> usize {
        self.conns.values().map(|c| c.waiting.len()).sum()
    }

    /// Call deadlines being tracked (both directions).
    pub fn pending_deadlines(&self) -> usize {
        self.deadlines.len()
    }

    /// Session-level messages sent so far; each got the next sequence number.
    pub fn sent_seq(&self) -> u64 {
        self.out.sent_seq
    }

    /// Session-level messages received so far.
    pub fn received_seq(&self) -> u64 {
        self.received_seq
    }

    /// Whether both sides agreed on replay, so the session can survive a lost link.
    pub fn is_resumable(&self) -> bool {
        self.ownership.is_some()
    }

    /// Whether the session has no link now (it waits to be resumed).
    pub fn is_detached(&self) -> bool {
        self.out.link == LinkState::Detached
    }

    /// Bytes and number of sent messages the peer has not acknowledged yet (kept for replay).
    pub fn replay_buffered(&self) -> (usize, usize) {
        self.out
            .replay
            .as_ref()
            .map_or((0, 0), |r| (r.bytes(), r.len()))
    }

    // ----- outputs -----

    /// The next frame body to write, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.pop()
    }

    /// Bytes of frames queued for [`poll_transmit`](Self::poll_transmit) now: the driver's
    /// measure of output it has not written yet.
    pub fn transmit_bytes(&self) -> usize {
        self.out.transmit_bytes
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent<A>> {
        self.out.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next, if any timer is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.timers.next(), self.deadlines.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ----- inputs -----

    /// Handles one frame body received from the link at `now`.
    pub fn handle_frame(&mut self, now: Instant, frame: &Bytes) {
        // Detached, a frame can only come from a link already given up on.
        if self.is_closed() || self.out.link == LinkState::Detached {
            return;
        }
        self.last_heard = now;
        match wire::decode(frame) {
            Ok(msg) => {
                let class = msg.class();
                if let Some(owner) = self.ownership.as_mut() {
                    // The initiator spoke on this link, so it holds the secret our resume
                    // answer rotated to (a no-op on the initiator and once confirmed).
                    owner.confirm();
                }
                self.handle_message(now, msg);
                if class == Class::Session && self.ownership.is_some() {
                    self.owe_ack(now, frame.len());
                    self.check_replay_limit(now);
                }
            }
            // Another version's `Hello` may not decode as ours (version 1's had no metadata):
            // its version, the first field, still says which, so the peer hears the rule it
            // can act on.
            Err(_)
                if self.phase == Phase::Handshaking
                    && let Some(version) = wire::hello_version(frame)
                    && version != PROTOCOL_VERSION =>
            {
                self.refuse_version(now, version)
            }
            Err(violation) => self.violate(now, violation),
        }
    }

    /// Handles every timer and call deadline due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.take_expired(now) {
            self.on_timer(now, timer);
        }
        while let Some((_, side, conn, id)) = self.deadlines.pop_expired(now) {
            self.on_deadline(now, side, conn, id);
        }
    }

    /// The link failed or hit a framing error; `violation` is set when the peer caused it.
    pub fn handle_link_closed(
        &mut self,
        now: Instant,
        violation: Option<ProtocolViolation>,
        detail: String,
    ) {
        match (&self.phase, violation) {
            (Phase::Closed, _) => {}
            // The link was given up already (its other half, or the keepalive, told first).
            _ if self.out.link == LinkState::Detached => {}
            // Nothing more can be flushed.
            (Phase::Closing, _) => self.finish(),
            (_, Some(v)) => self.violate(now, v),
            (_, None) if self.can_detach() => self.detach(now, SessionError::Transport(detail)),
            (_, None) => self.end(now, SessionError::Transport(detail), false),
        }
    }

    /// What the driver's output is doing, when that changes and whenever frames leave while it
    /// is [`OutputState::Blocked`]. A blocked output that sees no [`OutputState::Progress`] for the
    /// [output stall timeout](SessionConfig::output_stall_timeout) ends the session with a
    /// `Goodbye`. Progress also counts as a sign of life for keepalive: while the driver has
    /// stopped reading, the peer's `Pong`s wait unread, but a peer that takes our bytes is there.
    pub fn handle_output(&mut self, now: Instant, output: OutputState) {
        if self.is_closed() {
            return;
        }
        match output {
            OutputState::Blocked => {
                if self.timers.get(Timer::OutputStall).is_none() {
                    self.timers.set_after(
                        Timer::OutputStall,
                        now,
                        self.config.output_stall_timeout,
                    );
                }
            }
            OutputState::Progress => {
                self.last_heard = now;
                self.timers
                    .set_after(Timer::OutputStall, now, self.config.output_stall_timeout);
            }
            OutputState::Flowing => self.timers.clear(Timer::OutputStall),
        }
    }

    /// The driver wrote every frame it was given: a closing session is done.
    pub fn handle_flushed(&mut self) {
        if self.phase == Phase::Closing && self.out.transmit.is_empty() {
            self.finish();
        }
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Handshake if self.out.link == LinkState::Resuming => {
                let after = self.config.handshake_timeout;
                self.detach(now, SessionError::TimedOut(TimedOut::Handshake(after)));
            }
            Timer::Handshake => {
                let what = match self.phase {
                    Phase::Handshaking => Some("no Hello"),
                    Phase::Admitting { .. } => Some("the session was not admitted"),
                    _ => None,
                };
                if let Some(what) = what {
                    let after = self.config.handshake_timeout;
                    self.send_small(&Message::Goodbye {
                        reason: format!(
                            "{}: {what} within {after:?}",
                            RefusedBy::HandshakeTimeout.rule()
                        ),
                    });
                    self.end(
                        now,
                        SessionError::TimedOut(TimedOut::Handshake(after)),
                        true,
                    );
                }
            }
            Timer::KeepAliveSend => {
                if let Some(keepalive) = self.config.keepalive
                    && !self.is_closed()
                {
                    let nonce = self.next_nonce;
                    self.next_nonce += 1;
                    self.ping_outstanding = Some(nonce);
                    self.send_small(&Message::Ping { nonce });
                    self.ping_sent_at = now;
                    self.timers
                        .set_after(Timer::PongTimeout, now, keepalive.timeout);
                }
            }
            Timer::PongTimeout => {
                if let Some(keepalive) = self.config.keepalive
                    && !self.is_closed()
                {
                    // Any frame heard since the Ping proves the link carries bytes: its Pong may be
                    // queued behind bulk data on either side. Only silence for a whole timeout
                    // after the Ping means the link is dead.
                    // While our output is blocked the driver reads nothing, so no Pong can be
                    // heard: the output-stall timer decides (and says Goodbye) instead.
                    if let Some(stall) = self.timers.get(Timer::OutputStall) {
                        self.timers.set(Timer::PongTimeout, stall.max(now));
                        return;
                    }
                    let alive_until = self.last_heard.checked_add(keepalive.timeout);
                    if self.last_heard > self.ping_sent_at
                        && let Some(until) = alive_until
                        && until > now
                    {
                        self.timers.set(Timer::PongTimeout, until);
                        return;
                    }
                    tracing::warn!(timeout = ?keepalive.timeout, "keepalive: the peer went silent; the link is dead");
                    // The link is presumed dead: no Goodbye, nothing to flush.
                    let error = SessionError::TimedOut(TimedOut::Keepalive(keepalive.timeout));
                    if self.can_detach() {
                        self.detach(now, error);
                    } else {
                        self.end(now, error, false);
                    }
                }
            }
            Timer::DrainGrace => {
                if matches!(self.phase, Phase::Draining { .. }) {
                    self.stop_all_handlers(now, StopReason::Shutdown, RemoteError::Unavailable);
                    self.close_drained(now);
                }
            }
            // A resumable session gives the link up, not the session: the peer gets what it
            // did not read on the next link.
            Timer::OutputStall if self.can_detach() => {
                let after = self.config.output_stall_timeout;
                tracing::warn!(?after, "the peer stopped reading; dropping the link");
                self.detach(now, SessionError::TimedOut(TimedOut::OutputStalled(after)));
            }
            Timer::OutputStall => {
                let after = self.config.output_stall_timeout;
                tracing::warn!(?after, "the peer stopped reading; ending the session");
                self.send_small(&Message::Goodbye {
                    reason: format!("output-stalled: nothing was read for {after:?}"),
                });
                self.end(
                    now,
                    SessionError::TimedOut(TimedOut::OutputStalled(after)),
                    true,
                );
            }
            Timer::Ack => {
                if self.ownership.as_ref().is_some_and(|o| o.debt.owed())
                    && self.out.link == LinkState::Attached
                {
                    self.send_ack();
                }
            }
            Timer::Grace => {
                if self.out.link != LinkState::Attached
                    && let Some(r) = self.config.resumption
                {
                    tracing::info!(grace = ?r.grace, "the session was not resumed in time; freeing it");
                    self.end(
                        now,
                        SessionError::TimedOut(TimedOut::ResumeGrace(r.grace)),
                        false,
                    );
                }
            }
            Timer::CloseLinger => {
                if self.phase == Phase::Closing {
                    tracing::debug!("close linger over; dropping frames the peer did not read");
                    self.out.clear_transmit();
                    self.finish();
                }
            }
        }
    }

    fn on_deadline(&mut self, now: Instant, side: Side, conn_id: ConnId, id: u64) {
        let max = self.max_frame_size();
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        match side {
            Side::Outgoing => {
                let Some(Cancelled {
                    call,
                    sent,
                    channels,
                    ..
                }) = conn.give_up(id)
                else {
                    return;
                };
                if sent {
                    self.out
                        .send_small(&Message::Cancel(Cancel { conn: conn_id, id }), max);
                }
                self.out.event(SessionEvent::CallFailed {
                    conn: conn_id,
                    id,
                    reason: CallRejected::DeadlineExceeded,
                    sent,
                    call,
                    channels,
                });
            }
            Side::Incoming => {
                if conn.incoming.contains_key(&id) {
                    self.stop_handler(
                        now,
                        conn_id,
                        id,
                        StopReason::DeadlineExceeded,
                        RemoteError::DeadlineExceeded,
                    );
                }
            }
        }
    }

    fn handle_message(&mut self, now: Instant, msg: Message) {
        if self.out.link == LinkState::Resuming {
            return self.handle_resume_answer(now, msg);
        }
        if msg.class() == Class::Session {
            self.received_seq += 1;
        }
        if matches!(self.phase, Phase::Established | Phase::Draining { .. })
            && let Some(conn) = msg.conn()
            && !self.peer_may_use(now, conn)
        {
            return;
        }
        match (&self.phase, msg) {
            (Phase::Closing | Phase::Closed, _) => {}
            (Phase::Handshaking, Message::Hello(hello)) => self.handle_hello(now, hello),
            (Phase::Handshaking | Phase::Admitting { .. }, Message::Goodbye { reason }) => {
                let error = match RefusedBy::parse_goodbye(&reason) {
                    Some((by, why)) if self.role == Role::Initiator => SessionError::Refused {
                        by,
                        reason: why.to_owned(),
                    },
                    _ => SessionError::HandshakeFailed(format!("peer said goodbye: {reason}")),
                };
                self.end(now, error, false)
            }
            (Phase::Admitting { .. }, Message::Hello(_)) => {
                self.violate(now, ProtocolViolation::Handshake("Hello sent twice"))
            }
            (Phase::Admitting { .. }, _) => self.violate(
                now,
                ProtocolViolation::Handshake("a message before our Hello"),
            ),
            (Phase::Handshaking, _) => self.violate(
                now,
                ProtocolViolation::Handshake("the first message must be Hello"),
            ),
            (Phase::Established | Phase::Draining { .. }, msg) => match msg {
                Message::Hello(_) => {
                    self.violate(now, ProtocolViolation::Handshake("Hello sent twice"))
                }
                Message::Goodbye { reason } => {
                    self.end(now, SessionError::ClosedByPeer { reason }, false)
                }
                Message::Request(req) => self.handle_request(now, req),
                Message::Response(resp) => self.handle_response(now, resp),
                Message::Cancel(c) => self.handle_cancel(now, c),
                Message::Ping { nonce } => self.send_small(&Message::Pong { nonce }),
                Message::Pong { nonce } => self.handle_pong(now, nonce),
                Message::Data {
                    conn,
                    channel,
                    payload,
                } => self.handle_data(now, conn, channel, payload),
                Message::Close { conn, channel } => self.handle_channel_close(now, conn, channel),
                Message::Reset { conn, channel } => self.handle_channel_reset(now, conn, channel),
                Message::Credit { conn, channel, n } => self.handle_credit(now, conn, channel, n),
                Message::Schema(announcement) => self.handle_schema(now, announcement),
                Message::Ack { received } => self.handle_ack(now, received),
                Message::Open(open) => self.handle_open(now, open),
                Message::Accept(accept) => self.handle_accept(now, accept),
                Message::Reject { conn, reason } => self.handle_reject(now, conn, reason),
                Message::CloseConnection { conn, reason } => {
                    self.handle_close_connection(now, conn, reason)
                }
            },
        }
    }

    fn refuse_version(&mut self, now: Instant, version: u32) {
        let reason = format!(
            "version-mismatch: peer speaks protocol version {version}, this side speaks {PROTOCOL_VERSION}; upgrade the older side"
        );
        self.send_small(&Message::Goodbye {
            reason: reason.clone(),
        });
        self.end(now, SessionError::HandshakeFailed(reason), true);
    }

    fn handle_hello(&mut self, now: Instant, hello: Hello) {
        if hello.version != PROTOCOL_VERSION {
            return self.refuse_version(now, hello.version);
        }
        if let Err(limit) = hello.metadata.check_limits() {
            return self.violate(now, ProtocolViolation::Metadata(limit));
        }
        if hello.limits.max_frame_size < Limits::MIN_FRAME_SIZE {
            return self.violate(
                now,
                ProtocolViolation::Handshake("a max_frame_size below 64 bytes"),
            );
        }
        if let Some(resume) = hello.resume {
            if self.role == Role::Initiator {
                return self.violate(
                    now,
                    ProtocolViolation::Handshake("an acceptor's Hello cannot resume"),
                );
            }
            if self.config.resumption.is_none() || self.grant_secret.is_none() {
                let reason = format!(
                    "{}: this peer does not resume sessions",
                    RefusedBy::Resume.rule()
                );
                self.send_small(&Message::Goodbye {
                    reason: reason.clone(),
                });
                return self.end(now, SessionError::HandshakeFailed(reason), true);
            }
            self.phase = Phase::Admitting {
                peer_limits: hello.limits,
            };
            self.resume_requested = true;
            self.out.event(SessionEvent::ResumeRequested {
                resume,
                metadata: hello.metadata,
            });
            return;
        }
        match (self.role, hello.replay) {
            (_, Replay::Off) => {}
            (Role::Initiator, Replay::Grant { buffer, secret }) => {
                match (self.config.resumption, hello.session_key) {
                    (Some(r), Some(key)) => {
                        let debt = AckDebt::new(r.ack_every, buffer as usize / 4);
                        self.ownership = Some(Ownership::new(key, secret, debt));
                    }
                    (None, _) => {
                        return self.violate(
                            now,
                            ProtocolViolation::Handshake("replay granted but not offered"),
                        );
                    }
                    (_, None) => {
                        return self.violate(
                            now,
                            ProtocolViolation::Handshake("replay granted without a session key"),
                        );
                    }
                }
            }
            (Role::Acceptor, Replay::Offer { buffer }) => self.offered = Some(buffer),
            (Role::Initiator, _) => {
                return self.violate(
                    now,
                    ProtocolViolation::Handshake("an acceptor's Hello may only grant replay"),
                );
            }
            (Role::Acceptor, _) => {
                return self.violate(
                    now,
                    ProtocolViolation::Handshake("an initiator's Hello may only offer replay"),
                );
            }
        }
        if self.role == Role::Initiator {
            self.session_key = hello.session_key;
        } else if self.config.admission {
            self.phase = Phase::Admitting {
                peer_limits: hello.limits,
            };
            self.out.event(SessionEvent::Admit {
                metadata: hello.metadata,
            });
            return;
        } else if self.holds_hello() {
            self.send_hello();
        }
        self.establish(now, hello.limits);
    }

    /// Acceptor: serves the initiator whose `Hello` was reported in [`SessionEvent::Admit`]:
    /// sends our `Hello`, and the session is established. Does nothing in any other phase
    /// (the handshake may have timed out meanwhile).
    pub fn admit(&mut self, now: Instant) {
        if let Phase::Admitting { peer_limits } = self.phase
            && !self.resume_requested
        {
            self.send_hello();
            self.establish(now, peer_limits);
        }
    }

    /// Acceptor with [`SessionConfig::admission`]: refuses the session before it is
    /// established: says `Goodbye("<rule>: <reason>")` instead of our `Hello` (the initiator
    /// reports [`SessionError::Refused`]) and ends it. Usable as soon as the session exists (a
    /// server over its session limit refuses before the peer's `Hello` arrives) and while
    /// admitting. Does nothing otherwise: on an initiator, on an acceptor that already sent
    /// its `Hello` (without admission), after the handshake (use [`Session::close`]).
    pub fn refuse(&mut self, now: Instant, by: RefusedBy, reason: &str) {
        if !self.holds_hello() {
            return;
        }
        let before_hello = self.phase == Phase::Handshaking;
        if !(before_hello || matches!(self.phase, Phase::Admitting { .. })) {
            return;
        }
        self.send_small(&Message::Goodbye {
            reason: format!("{}: {reason}", by.rule()),
        });
        self.end(
            now,
            SessionError::Refused {
                by,
                reason: reason.to_owned(),
            },
            true,
        );
    }

    fn establish(&mut self, now: Instant, peer_limits: Limits) {
        let limits = self.config.limits.effective(peer_limits);
        self.limits = Some(limits);
        self.phase = Phase::Established;
        if let (Some((secret, key, buffer)), Some(r)) = (self.grant(), self.config.resumption) {
            let debt = AckDebt::new(r.ack_every, buffer as usize / 4);
            self.ownership = Some(Ownership::new(key, secret, debt));
        }
        if let (Some(_), Some(r)) = (&self.ownership, self.config.resumption) {
            self.out.replay = Some(ReplayBuffer::new(r.buffer as usize, self.out.sent_seq));
        }
        self.timers.clear(Timer::Handshake);
        if let Some(keepalive) = self.config.keepalive {
            self.timers
                .set_after(Timer::KeepAliveSend, now, keepalive.interval());
        }
        self.out.event(SessionEvent::Established {
            limits,
            session_key: self.session_key,
        });
        self.pump_waiting(now, ROOT);
    }

    /// Initiator, resuming: the first frame on the new link must be the acceptor's answer.
    fn handle_resume_answer(&mut self, now: Instant, msg: Message) {
        match msg {
            Message::Hello(hello) if hello.version != PROTOCOL_VERSION => {
                self.refuse_version(now, hello.version)
            }
            Message::Hello(Hello {
                session_key,
                replay:
                    Replay::Resumed {
                        last_received,
                        nonce,
                    },
                resume: None,
                ..
            }) => {
                let Some(owner) = self.ownership.as_mut() else {
                    return;
                };
                let ours = owner.resuming.take();
                let Some(ours) = ours.filter(|_| session_key == Some(owner.key)) else {
                    return self.violate(
                        now,
                        ProtocolViolation::Handshake("the answer resumed another session"),
                    );
                };
                let acked = self.out.replay.as_mut().map(|r| r.ack(last_received));
                let room = match acked {
                    Some(Ok(room)) => room,
                    _ => {
                        return self.violate(
                            now,
                            ProtocolViolation::Replay(
                                "the peer resumed from messages never sent or already acknowledged",
                            ),
                        );
                    }
                };
                owner.rotate(&ours, &nonce);
                self.reattach(now, room);
                // Tells the acceptor at once that its answer (and so the new secret) arrived.
                self.send_ack();
            }
            Message::Hello(_) => self.violate(
                now,
                ProtocolViolation::Handshake("the answer to a resume must resume the session"),
            ),
            Message::Goodbye { reason } => {
                let error = match RefusedBy::parse_goodbye(&reason) {
                    Some((by, why)) => SessionError::Refused {
                        by,
                        reason: why.to_owned(),
                    },
                    None => SessionError::ClosedByPeer { reason },
                };
                self.end(now, error, false)
            }
            _ => self.violate(
                now,
                ProtocolViolation::Handshake("a message before the resume was answered"),
            ),
        }
    }

    fn handle_ack(&mut self, now: Instant, received: u64) {
        let Some(replay) = self.out.replay.as_mut() else {
            return self.violate(
                now,
                ProtocolViolation::Replay("an Ack on a session without replay"),
            );
        };
        match replay.ack(received) {
            Ok(true) => self.room(now),
            Ok(false) => {}
            Err(replay::AckError::Backwards) => {
                self.violate(now, ProtocolViolation::Replay("an Ack going backwards"))
            }
            Err(replay::AckError::Ahead) => self.violate(
                now,
                ProtocolViolation::Replay("an Ack for messages never sent"),
            ),
        }
    }

    /// Acknowledgements freed room in the replay buffer: waiting calls go, channel senders
    /// are told.
    fn room(&mut self, now: Instant) {
        self.out.event(SessionEvent::ReplayRoom);
        let conns: Vec<ConnId> = self.conns.iter().map(|(id, _)| *id).collect();
        for conn in conns {
            self.pump_waiting(now, conn);
        }
    }

    /// One session-level message of `len` bytes was handled: acknowledge it now, or arm the
    /// ack timer so it is acknowledged within the ack delay.
    fn owe_ack(&mut self, now: Instant, len: usize) {
        if self.is_closed() || self.out.link != LinkState::Attached {
            return;
        }
        let (Some(owner), Some(r)) = (self.ownership.as_mut(), self.config.resumption) else {
            return;
        };
        match owner.debt.received(len) {
            AckDue::Now => self.send_ack(),
            AckDue::Later if self.timers.get(Timer::Ack).is_none() => {
                self.timers.set_after(Timer::Ack, now, r.ack_delay)
            }
            AckDue::Later | AckDue::Armed => {}
        }
    }

    fn send_ack(&mut self) {
        if let Some(owner) = self.ownership.as_mut() {
            owner.debt.paid();
        }
        // The ack timer stays armed if it is: when it fires it finds nothing owed, or what
        // came since. Clearing and re-arming it every few dozen messages would change the
        // session's next timeout, and so wake the driver, twice as often.
        let received = self.received_seq;
        self.send_small(&Message::Ack { received });
    }

    /// What the replay buffer may hold at most, past which the peer is treated as one that
    /// never acknowledges: the buffer, plus an answer of the largest size to every call we
    /// may be serving at once (answers are never held back for room), plus a frame of slack
    /// for the control messages of a round (credit, closes, refusals).
    fn replay_hard_limit(&self) -> usize {
        let buffer = self.config.resumption.map_or(0, |r| r.buffer as usize);
        let frame = self.max_frame_size() as usize;
        let serving = self.config.limits.max_concurrent_requests as usize;
        buffer.saturating_add(frame.saturating_mul(serving.saturating_add(1)))
    }

    /// Ends the session if the peer let the replay buffer pass its hard limit: it is not
    /// acknowledging what it receives (a peer that reads acknowledges within the ack delay).
    fn check_replay_limit(&mut self, now: Instant) {
        let kept = self.out.replay.as_ref().map_or(0, ReplayBuffer::bytes);
        if kept > self.replay_hard_limit() && !self.is_closed() {
            self.violate(
                now,
                ProtocolViolation::Replay(
                    "the peer acknowledged nothing while this side kept more than its replay limit",
                ),
            );
        }
    }

    /// Whether losing the link leaves the session waiting to be resumed (rather than ending
    /// it).
    fn can_detach(&self) -> bool {
        self.ownership.is_some()
            && matches!(self.phase, Phase::Established | Phase::Draining { .. })
            && self.out.link != LinkState::Detached
    }

    /// The link is gone; the session waits (for at most the grace period, counted from the
    /// first loss) for a new one. Calls, handlers, channels and deadlines go on; what they
    /// send is kept for replay.
    fn detach(&mut self, now: Instant, error: SessionError) {
        tracing::debug!(%error, "link lost; the session waits to be resumed");
        self.out.link = LinkState::Detached;
        self.out.clear_transmit();
        self.clear_link_timers();
        if let Some(owner) = self.ownership.as_mut() {
            owner.resuming = None;
        }
        if self.timers.get(Timer::Grace).is_none()
            && let Some(r) = self.config.resumption
        {
            self.timers.set_after(Timer::Grace, now, r.grace);
        }
        self.out.event(SessionEvent::Detached { error });
    }

    /// Clears the timers that belong to one link (its handshake, keepalive, output stall and
    /// the acks owed on it): a link was lost, or a new one replaced it.
    fn clear_link_timers(&mut self) {
        for timer in [
            Timer::Handshake,
            Timer::KeepAliveSend,
            Timer::PongTimeout,
            Timer::OutputStall,
            Timer::Ack,
        ] {
            self.timers.clear(timer);
        }
        self.ping_outstanding = None;
    }

    /// The resume handshake is done (our side of it queued): replay what the peer missed and
    /// carry on. `room` says whether the peer's position freed room for waiting senders.
    fn reattach(&mut self, now: Instant, room: bool) {
        self.out.link = LinkState::Attached;
        let replayed = self.out.replay_unacked();
        if let Some(owner) = self.ownership.as_mut() {
            // Each side's resume Hello told the other what it received.
            owner.debt.paid();
        }
        self.clear_link_timers();
        self.timers.clear(Timer::Grace);
        self.last_heard = now;
        if let Some(keepalive) = self.config.keepalive {
            self.timers
                .set_after(Timer::KeepAliveSend, now, keepalive.interval());
        }
        self.out.event(SessionEvent::Resumed { replayed });
        if room {
            self.room(now);
        } else {
            let conns: Vec<ConnId> = self.conns.iter().map(|(id, _)| *id).collect();
            for conn in conns {
                self.pump_waiting(now, conn);
            }
        }
    }

    /// Initiator, resumable session without a link ([`SessionEvent::Detached`]): resumes it
    /// over a new link. Queues the resume `Hello` (with `nonce`, fresh randomness of the
    /// caller's, and the proof of ownership) as the new link's first frame; the acceptor's
    /// answer brings [`SessionEvent::Resumed`], a refusal ends the session with
    /// [`SessionError::Refused`] by [`RefusedBy::Resume`], and a link lost again (or no answer
    /// within the handshake timeout) brings another [`SessionEvent::Detached`]. Returns
    /// whether a resume was started (not on an acceptor, an attached, ended or
    /// non-resumable session).
    pub fn resume(&mut self, now: Instant, nonce: [u8; 16]) -> bool {
        if self.role != Role::Initiator || self.is_closed() || !self.is_detached() {
            return false;
        }
        let last_received = self.received_seq;
        let Some(owner) = self.ownership.as_mut() else {
            return false;
        };
        let proof = owner.proof(last_received, &nonce);
        owner.resuming = Some(nonce);
        let session_key = owner.key;
        self.out.link = LinkState::Resuming;
        self.send_small(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: self.config.limits,
            session_key: None,
            resume: Some(Resume {
                session_key,
                last_received,
                nonce,
                proof,
            }),
            metadata: self.config.metadata.clone(),
            replay: Replay::Offer {
                buffer: self.config.resumption.map_or(0, |r| r.buffer),
            },
        }));
        self.last_heard = now;
        self.timers
            .set_after(Timer::Handshake, now, self.config.handshake_timeout);
        true
    }

    /// Ends a session that could not be kept, with `error` as the reason every call in flight
    /// fails with (an initiator whose reconnect attempts ran out, say). Says `Goodbye` only if
    /// it has a link. Does nothing once ended.
    pub fn give_up(&mut self, now: Instant, error: SessionError) {
        if self.is_closed() {
            return;
        }
        let linked = self.out.link != LinkState::Detached;
        if linked {
            self.send_small(&Message::Goodbye {
                reason: error.to_string(),
            });
        }
        self.end(now, error, linked);
    }

    /// Acceptor: resumes this session over the link whose `Hello` asked for it (reported by
    /// that link's own session as [`SessionEvent::ResumeRequested`]; `nonce` is fresh
    /// randomness of the caller's). On success our answer and everything the initiator has
    /// not received are queued, in order, as that link's first frames: the caller moves the
    /// link here (and drops this session's old link, if it still had one: stop reading it
    /// first, its frames would be duplicates). A refused resume changes nothing: the caller
    /// refuses the requesting session with [`RefusedBy::Resume`] and this reason.
    pub fn accept_resume(
        &mut self,
        now: Instant,
        resume: &Resume,
        nonce: [u8; 16],
    ) -> Result<(), ResumeRefusal> {
        if self.role != Role::Acceptor
            || !matches!(self.phase, Phase::Established | Phase::Draining { .. })
        {
            return Err(ResumeRefusal::NotResumable);
        }
        let (Some(owner), Some(replay)) = (self.ownership.as_mut(), self.out.replay.as_mut())
        else {
            return Err(ResumeRefusal::NotResumable);
        };
        let proved = owner.verify(
            &resume.session_key,
            resume.last_received,
            &resume.nonce,
            &resume.proof,
        )?;
        let room = replay
            .ack(resume.last_received)
            .map_err(|_| ResumeRefusal::Gap)?;
        owner.accept(proved, &resume.nonce, &nonce);
        let session_key = Some(owner.key);
        // Whatever the old link had not written is in the replay buffer.
        self.out.clear_transmit();
        self.out.link = LinkState::Resuming;
        self.send_small(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: self.config.limits,
            session_key,
            resume: None,
            metadata: Metadata::new(),
            replay: Replay::Resumed {
                last_received: self.received_seq,
                nonce,
            },
        }));
        self.reattach(now, room);
        Ok(())
    }

    fn handle_pong(&mut self, now: Instant, nonce: u64) {
        // A Pong for an older Ping (or an unsolicited one) proves nothing about the current one.
        if self.ping_outstanding != Some(nonce) {
            return;
        }
        self.ping_outstanding = None;
        self.timers.clear(Timer::PongTimeout);
        if let Some(keepalive) = self.config.keepalive {
            self.timers
                .set_after(Timer::KeepAliveSend, now, keepalive.interval());
        }
    }

    fn handle_request(&mut self, now: Instant, req: Request) {
        let initial_credit = self.limits.map_or(0, |l| l.initial_credit);
        let draining = matches!(self.phase, Phase::Draining { .. });
        let root_limit = self.config.limits.max_concurrent_requests;
        let Some(conn) = self.conns.get_mut(&req.conn) else {
            return self.violate(now, ProtocolViolation::UnknownConnection(req.conn));
        };
        let max_concurrent = if req.conn == ROOT {
            root_limit
        } else {
            conn.serve_limit
        } as usize;
        if !self.role.peer().owns(req.id) {
            return self.violate(now, ProtocolViolation::WrongParity(req.id));
        }
        if conn.incoming.contains_key(&req.id) {
            return self.violate(now, ProtocolViolation::DuplicateRequestId(req.id));
        }
        if let Err(limit) = req.metadata.check_limits() {
            return self.violate(now, ProtocolViolation::Metadata(limit));
        }
        let mut channels = Vec::with_capacity(req.channels.len());
        let mut credits = Vec::new();
        for ChannelSpec { id, direction } in &req.channels {
            let ours = match direction {
                ChannelDirection::CallerToCallee => Direction::Incoming,
                ChannelDirection::CalleeToCaller => Direction::Outgoing,
            };
            match conn.channels.register_remote(*id, ours, initial_credit) {
                Ok(credit) => {
                    channels.push((*id, ours));
                    if credit > 0 {
                        credits.push(SessionEvent::ChannelCredit {
                            conn: req.conn,
                            channel: *id,
                            n: credit,
                        });
                    }
                }
                Err(v) => return self.violate(now, v),
            }
        }
        let refusal = if draining {
            Some(RemoteError::Unavailable)
        } else if conn.incoming.len() >= max_concurrent {
            Some(RemoteError::Overloaded)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.abandon_channels(req.conn, channels.iter().map(|(id, _)| *id));
            self.out.event(SessionEvent::Refused {
                conn: req.conn,
                method_id: req.method_id,
                error: refusal,
            });
            return self.send_response(
                req.conn,
                req.id,
                Metadata::new(),
                response::remote(refusal).into(),
            );
        }
        let deadline = req
            .timeout_micros
            .and_then(|t| now.checked_add(Duration::from_micros(t)));
        conn.incoming.insert(
            req.id,
            Incoming {
                method_id: req.method_id,
                deadline,
                serve: None,
            },
        );
        if let Some(at) = deadline {
            self.deadlines.insert(at, Side::Incoming, req.conn, req.id);
        }
        self.out.event(SessionEvent::Request(IncomingCall {
            conn: req.conn,
            args_schema: conn.schemas.remote(req.method_id, SchemaKind::Args),
            channels_schema: if req.channels.is_empty() {
                None
            } else {
                conn.schemas.remote(req.method_id, SchemaKind::Channels)
            },
            id: req.id,
            method_id: req.method_id,
            metadata: req.metadata,
            deadline,
            payload: req.payload,
            channels,
        }));
        // After the request, so the driver has created the channel ends the credit is for.
        self.out.events.extend(credits);
    }

    fn handle_data(&mut self, now: Instant, conn_id: ConnId, channel: u64, payload: Bytes) {
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return self.violate(now, ProtocolViolation::UnknownConnection(conn_id));
        };
        match conn.channels.on_data(channel) {
            Ok(DataVerdict::Deliver) => self.out.event(SessionEvent::ChannelData {
                conn: conn_id,
                channel,
                payload,
            }),
            Ok(DataVerdict::Drop) => {}
            Err(v) => self.violate(now, v),
        }
    }

    fn handle_channel_close(&mut self, now: Instant, conn_id: ConnId, channel: u64) {
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return self.violate(now, ProtocolViolation::UnknownConnection(conn_id));
        };
        match conn.channels.on_close(channel) {
            Ok((true, end)) => self.out.event(SessionEvent::ChannelClosed {
                conn: conn_id,
                channel,
                end,
            }),
            Ok((false, _)) => {}
            Err(v) => self.violate(now, v),
        }
    }

    fn handle_channel_reset(&mut self, now: Instant, conn_id: ConnId, channel: u64) {
        let max = self.max_frame_size();
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return self.violate(now, ProtocolViolation::UnknownConnection(conn_id));
        };
        if let (ResetVerdict::StopSending, end) = conn.channels.on_reset(channel) {
            self.out.send_small(
                &Message::Close {
                    conn: conn_id,
                    channel,
                },
                max,
            );
            self.out.event(SessionEvent::ChannelReset {
                conn: conn_id,
                channel,
                end,
            });
        }
    }

    fn handle_credit(&mut self, now: Instant, conn_id: ConnId, channel: u64, n: u32) {
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return self.violate(now, ProtocolViolation::UnknownConnection(conn_id));
        };
        let added = conn.channels.on_credit(channel, n);
        if added > 0 {
            self.out.event(SessionEvent::ChannelCredit {
                conn: conn_id,
                channel,
                n: added,
            });
        }
    }

    fn handle_response(&mut self, now: Instant, resp: Response) {
        let Some(conn) = self.conns.get_mut(&resp.conn) else {
            return self.violate(now, ProtocolViolation::UnknownConnection(resp.conn));
        };
        // Checked first, so the call stays in the table and its attachment is released with
        // the others when the violation ends the session.
        if let Err(limit) = resp.metadata.check_limits() {
            return self.violate(now, ProtocolViolation::Metadata(limit));
        }
        // A call still waiting was never sent, so it cannot be answered.
        let Some(call) = conn.take_sent(resp.id) else {
            return self.violate(now, ProtocolViolation::UnknownResponse(resp.id));
        };
        if let Some(at) = call.deadline {
            self.deadlines
                .remove(at, Side::Outgoing, resp.conn, resp.id);
        }
        if let Some(attached) = call.attach {
            self.out.event(SessionEvent::Response {
                conn: resp.conn,
                id: resp.id,
                metadata: resp.metadata,
                payload: resp.payload,
                schema: conn.schemas.remote(call.method_id, SchemaKind::Response),
                call: attached,
            });
        }
        self.pump_waiting(now, resp.conn);
    }

    fn handle_schema(&mut self, now: Instant, announcement: SchemaAnnouncement) {
        let Some(conn) = self.conns.get_mut(&announcement.conn) else {
            return self.violate(now, ProtocolViolation::UnknownConnection(announcement.conn));
        };
        if let Err(v) = conn.schemas.receive(&announcement) {
            self.violate(now, v);
        }
    }

    fn handle_cancel(&mut self, now: Instant, cancel: Cancel) {
        let Some(conn) = self.conns.get(&cancel.conn) else {
            return self.violate(now, ProtocolViolation::UnknownConnection(cancel.conn));
        };
        // A cancel for a call already answered crossed our response on the wire: not an error.
        if conn.incoming.contains_key(&cancel.id) {
            self.stop_handler(
                now,
                cancel.conn,
                cancel.id,
                StopReason::Cancelled,
                RemoteError::Cancelled,
            );
        }
    }

    // ----- commands -----

    /// A fresh request ID of this side's, for [`Session::call`]. An application that makes
    /// calls from several threads can instead hand out `self.role().request_id(n)` for
    /// `n = 0, 1, 2, …` from a counter of its own (never both on one session).
    pub fn next_request_id(&mut self) -> u64 {
        let id = self.role.request_id(self.requests_allocated);
        self.requests_allocated += 1;
        id
    }

    /// Starts call `id` (an unused ID of this side's, see [`Session::next_request_id`]) on
    /// connection `conn` at `now`, keeping `attach` with it until its answer or failure. The
    /// call waits inside the session while the handshake is running or the peer's concurrency
    /// limit is reached; its deadline (if any) counts from `now`. A refused call hands
    /// `attach` back.
    pub fn call(
        &mut self,
        now: Instant,
        conn_id: ConnId,
        id: u64,
        call: OutgoingCall,
        attach: A::Call,
    ) -> Result<CallStarted, (CallRejected, A::Call)> {
        if self.is_closed() {
            let why = self.ended.clone().unwrap_or(SessionError::LocallyClosed);
            return Err((CallRejected::Closed(why), attach));
        }
        // Refused here, at the caller, rather than sent: the peer would end the whole session.
        if let Err(limit) = call.metadata.check_limits() {
            return Err((CallRejected::Metadata(limit), attach));
        }
        let max = self.max_frame_size();
        // Every field but the payload is bounded by the metadata limits; reject early what
        // cannot possibly fit so the caller gets the error at once.
        if call.payload.len() > max as usize {
            let len = call.payload.len();
            return Err((CallRejected::TooLarge { len, max }, attach));
        }
        let role = self.role;
        let Some(conn) = self
            .conns
            .get_mut(&conn_id)
            .filter(|c| c.status != ConnStatus::Requested)
        else {
            return Err((CallRejected::UnknownConnection(conn_id), attach));
        };
        if !role.owns(id) || conn.outgoing.contains_key(&id) {
            return Err((CallRejected::IdInUse(id), attach));
        }
        let channels: Vec<u64> = call
            .channels
            .iter()
            .map(|d| conn.channels.allocate(*d))
            .collect();
        let deadline = call.timeout.and_then(|t| now.checked_add(t));
        if let Some(at) = deadline {
            self.deadlines.insert(at, Side::Outgoing, conn_id, id);
        }
        let started = CallStarted {
            id,
            channels: channels.clone(),
        };
        conn.outgoing.insert(
            id,
            Outgoing {
                method_id: call.method_id,
                deadline,
                state: OutgoingState::Waiting { call, channels },
                attach: Some(attach),
            },
        );
        conn.waiting.push_back(id);
        // If this very call cannot be sent (too large once its header is counted), the caller
        // hears it here rather than through an event: its channel ends are not attached yet,
        // so an event could not hand them back.
        if let Some(refused) = self.pump_waiting_starting(now, conn_id, Some(id)) {
            return Err(refused);
        }
        Ok(started)
    }

    /// Gives up on a call and hands back what was attached to it. A call still waiting is
    /// dropped silently (it was never sent, and neither were its channels, whose ends come
    /// back too); a call already sent gets a `Cancel`, and its late `Response` is dropped.
    /// `None` if the call is no longer pending.
    pub fn cancel(&mut self, conn_id: ConnId, id: u64) -> Option<Cancelled<A>> {
        let max = self.max_frame_size();
        if self.is_closed() {
            return None;
        }
        let conn = self.conns.get_mut(&conn_id)?;
        let cancelled = conn.give_up(id)?;
        if let Some(at) = cancelled.deadline {
            self.deadlines.remove(at, Side::Outgoing, conn_id, id);
        }
        if cancelled.sent {
            self.out
                .send_small(&Message::Cancel(Cancel { conn: conn_id, id }), max);
        }
        Some(cancelled)
    }

    /// Keeps `serve` with the peer's call `id` (the application's handler for it) until it is
    /// answered or stopped. Hands `serve` back if the call is no longer being served.
    pub fn serving(&mut self, conn_id: ConnId, id: u64, serve: A::Serve) -> Result<(), A::Serve> {
        match self
            .conns
            .get_mut(&conn_id)
            .and_then(|c| c.incoming.get_mut(&id))
        {
            Some(call) => {
                call.serve = Some(serve);
                Ok(())
            }
            None => Err(serve),
        }
    }

    /// What [`Session::serving`] attached to the peer's call `id`, while it is being served.
    pub fn served(&self, conn_id: ConnId, id: u64) -> Option<&A::Serve> {
        self.conns.get(&conn_id)?.incoming.get(&id)?.serve.as_ref()
    }

    /// Keeps `end` with channel `id` (the application's end of it) until the channel ends or
    /// the application lets go of it. Hands `end` back if the channel is gone already (the
    /// application must then end it itself).
    #[must_use = "an end handed back belongs to no channel and must be ended by the caller"]
    pub fn attach_channel(
        &mut self,
        conn_id: ConnId,
        id: u64,
        end: A::Channel,
    ) -> Result<(), A::Channel> {
        match self.conns.get_mut(&conn_id) {
            Some(conn) => conn.channels.attach(id, end),
            None => Err(end),
        }
    }

    /// The end attached to channel `id`, while the channel is open.
    pub fn channel_end(&self, conn_id: ConnId, id: u64) -> Option<&A::Channel> {
        self.conns.get(&conn_id)?.channels.end(id)
    }

    /// Takes the end attached to channel `id` out (the protocol state stays).
    pub fn detach_channel(&mut self, conn_id: ConnId, id: u64) -> Option<A::Channel> {
        self.conns.get_mut(&conn_id)?.channels.detach(id)
    }

    /// Takes what was attached to the calls and channels still open when the session ended
    /// (empty before [`SessionEvent::Closed`]).
    pub fn take_released(&mut self) -> Released<A> {
        std::mem::take(&mut self.released)
    }

    /// Answers the peer's call `id`. Ignored if the call was already answered (or stopped).
    /// `schema` is our schema of the method's response, announced before its first response on
    /// this connection (pass `None` for runtime-level failures, whose bytes do not depend on
    /// it). Metadata over the protocol limits is not sent: the caller gets `Internal` instead.
    pub fn respond(
        &mut self,
        now: Instant,
        conn_id: ConnId,
        id: u64,
        metadata: Metadata,
        payload: impl Into<Bytes>,
        schema: Option<&'static LocalSchema>,
    ) {
        let payload = payload.into();
        if self.is_closed() {
            return;
        }
        let Some(call) = self
            .conns
            .get_mut(&conn_id)
            .and_then(|c| c.incoming.remove(&id))
        else {
            return;
        };
        if let Some(at) = call.deadline {
            self.deadlines.remove(at, Side::Incoming, conn_id, id);
        }
        if let Err(limit) = metadata.check_limits() {
            tracing::error!(
                id,
                limit,
                "response metadata over the protocol limits; answering Internal"
            );
            self.send_response(
                conn_id,
                id,
                Metadata::new(),
                response::remote(RemoteError::Internal).into(),
            );
        } else {
            // `None` here means a runtime-level answer, which needs no schema (not a retraction).
            if schema.is_some() {
                self.announce(conn_id, call.method_id, SchemaKind::Response, schema);
            }
            self.send_response(conn_id, id, metadata, payload);
        }
        self.check_replay_limit(now);
        self.check_drained(now);
    }

    /// Announces our schema of `kind` for `method_id` now, unless the peer already has it
    /// (`None`: withdraws an earlier one). Messages are ordered, so it applies to everything
    /// sent after it. The calls and responses announce their own schemas; this is for the
    /// callee's channel signature (`SchemaKind::Channels`), which must reach the caller before
    /// the first item its handler writes.
    pub fn announce_schema(
        &mut self,
        conn_id: ConnId,
        method_id: u64,
        kind: SchemaKind,
        local: Option<&'static LocalSchema>,
    ) {
        if !self.is_closed() {
            self.announce(conn_id, method_id, kind, local);
        }
    }

    /// The peer's latest announcement of `kind` for `method_id` on `conn_id`, if any.
    pub fn peer_schema(
        &mut self,
        conn_id: ConnId,
        method_id: u64,
        kind: SchemaKind,
    ) -> Option<Arc<PeerSchema>> {
        self.conns
            .get_mut(&conn_id)?
            .schemas
            .remote(method_id, kind)
    }

    /// Whether channel items must wait for room in the replay buffer now (the peer has not
    /// acknowledged enough); if so, [`SessionEvent::ReplayRoom`] follows once it has.
    /// [`Session::send_data`] refuses items meanwhile with [`ChannelSendError::ReplayFull`].
    pub fn must_wait_for_replay(&mut self) -> bool {
        match self.out.replay.as_mut() {
            Some(replay) if replay.is_full() => {
                replay.wait();
                true
            }
            _ => false,
        }
    }

    /// Sends one item on a channel we send on, spending one credit.
    pub fn send_data(
        &mut self,
        conn_id: ConnId,
        channel: u64,
        payload: impl Into<Bytes>,
    ) -> Result<(), ChannelSendError> {
        let payload = payload.into();
        if self.is_closed() {
            return Err(ChannelSendError::NotOpen);
        }
        if self.must_wait_for_replay() {
            return Err(ChannelSendError::ReplayFull);
        }
        let max = self.max_frame_size();
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return Err(ChannelSendError::NotOpen);
        };
        let msg = Message::Data {
            conn: conn_id,
            channel,
            payload,
        };
        // Checked before spending credit, so a refused item costs the sender nothing.
        let bytes = wire::encode_bounded(&msg, max).map_err(|e| match e {
            EncodeError::TooLarge { len, max } => ChannelSendError::TooLarge { len, max },
            EncodeError::Serialize(_) => ChannelSendError::NotOpen,
        })?;
        conn.channels.send_data(channel)?;
        self.out.push(Class::Session, bytes);
        Ok(())
    }

    /// Our sender on `channel` is done (its attached end is dropped).
    pub fn close_channel(&mut self, conn_id: ConnId, channel: u64) {
        let max = self.max_frame_size();
        if !self.is_closed()
            && let Some(conn) = self.conns.get_mut(&conn_id)
            && (conn.channels.detach(channel), conn.channels.close(channel)).1
        {
            self.out.send_small(
                &Message::Close {
                    conn: conn_id,
                    channel,
                },
                max,
            );
        }
    }

    /// Our receiver on `channel` gives up (its attached end is dropped).
    pub fn reset_channel(&mut self, conn_id: ConnId, channel: u64) {
        let max = self.max_frame_size();
        if !self.is_closed()
            && let Some(conn) = self.conns.get_mut(&conn_id)
            && (conn.channels.detach(channel), conn.channels.reset(channel)).1
        {
            self.out.send_small(
                &Message::Reset {
                    conn: conn_id,
                    channel,
                },
                max,
            );
        }
    }

    /// Lets the peer send `n` more items on `channel`.
    pub fn grant_credit(&mut self, conn_id: ConnId, channel: u64, n: u32) {
        let max = self.max_frame_size();
        if !self.is_closed()
            && n > 0
            && let Some(conn) = self.conns.get_mut(&conn_id)
            && conn.channels.grant(channel, n)
        {
            self.out.send_small(
                &Message::Credit {
                    conn: conn_id,
                    channel,
                    n,
                },
                max,
            );
        }
    }

    /// Ends channels whose call failed before anything used them.
    pub fn abandon_channels(&mut self, conn_id: ConnId, channels: impl IntoIterator<Item = u64>) {
        let max = self.max_frame_size();
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        for channel in channels {
            // Nothing is attached to these channels yet (their call was refused before the
            // application saw it), so there is no end to hand back.
            let msg = match conn.channels.abandon(channel).0 {
                Some(Abandon::Close) => Message::Close {
                    conn: conn_id,
                    channel,
                },
                Some(Abandon::Reset) => Message::Reset {
                    conn: conn_id,
                    channel,
                },
                None => continue,
            };
            self.out.send_small(&msg, max);
        }
    }

    /// Stops taking new calls from the peer (they are answered `Unavailable`) and closes the
    /// session with `Goodbye{reason}` once the calls in flight are answered, or when the drain
    /// grace runs out (then their handlers are stopped and they are answered `Unavailable`).
    /// A session still handshaking closes at once.
    pub fn start_drain(&mut self, now: Instant, reason: &str) {
        match self.phase {
            Phase::Handshaking | Phase::Admitting { .. } => self.close(now, reason),
            Phase::Established => {
                self.phase = Phase::Draining {
                    reason: reason.to_owned(),
                };
                self.timers
                    .set_after(Timer::DrainGrace, now, self.config.drain_grace);
                self.check_drained(now);
            }
            Phase::Draining { .. } | Phase::Closing | Phase::Closed => {}
        }
    }

    /// Ends the session now, telling the peer why.
    pub fn close(&mut self, now: Instant, reason: &str) {
        if self.is_closed() {
            return;
        }
        self.send_small(&Message::Goodbye {
            reason: reason.to_owned(),
        });
        self.end(now, SessionError::LocallyClosed, true);
    }

    // ----- internals -----

    fn max_frame_size(&self) -> u32 {
        self.limits.unwrap_or(self.config.limits).max_frame_size
    }

    fn send_small(&mut self, msg: &Message) {
        let max = self.max_frame_size();
        self.out.send_small(msg, max);
    }

    /// Answers a call we serve and tells the application to stop its handler.
    fn stop_handler(
        &mut self,
        now: Instant,
        conn_id: ConnId,
        id: u64,
        reason: StopReason,
        answer: RemoteError,
    ) {
        // Before the answer: answering the last call of a drain closes the session, and the
        // application should hear about the handler before it hears about the end.
        let serve = self
            .conns
            .get_mut(&conn_id)
            .and_then(|c| c.incoming.get_mut(&id))
            .and_then(|call| call.serve.take());
        self.out.event(SessionEvent::StopHandler {
            conn: conn_id,
            id,
            reason,
            serve,
        });
        self.respond(
            now,
            conn_id,
            id,
            Metadata::new(),
            response::remote(answer),
            None,
        );
    }

    fn stop_all_handlers(&mut self, now: Instant, reason: StopReason, answer: RemoteError) {
        let calls: Vec<(ConnId, u64)> = self
            .conns
            .iter()
            .flat_map(|(c, conn)| conn.incoming.keys().map(move |id| (*c, *id)))
            .collect();
        for (conn_id, id) in calls {
            self.stop_handler(now, conn_id, id, reason, answer);
        }
    }

    /// A draining session whose calls are all answered says `Goodbye`.
    fn check_drained(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Draining { .. }) && self.incoming_in_flight() == 0 {
            self.close_drained(now);
        }
    }

    fn close_drained(&mut self, now: Instant) {
        if let Phase::Draining { reason } = &self.phase {
            let reason = reason.clone();
            self.close(now, &reason);
        }
    }

    /// Sends waiting calls of `conn_id` while the peer has free slots.
    fn pump_waiting(&mut self, now: Instant, conn_id: ConnId) {
        let _ = self.pump_waiting_starting(now, conn_id, None);
    }

    /// [`pump_waiting`](Self::pump_waiting) from [`Session::call`] for call `starting`: if
    /// that call fails to encode, it is returned (with its attachment) instead of emitted.
    fn pump_waiting_starting(
        &mut self,
        now: Instant,
        conn_id: ConnId,
        starting: Option<u64>,
    ) -> Option<(CallRejected, A::Call)> {
        let mut refused = None;
        let limits = self.limits?;
        // Without a link a request waits unsent (and unnumbered): if the session cannot be
        // resumed, it is known never to have reached the peer.
        if self.is_closed() || self.out.link != LinkState::Attached || self.must_wait_for_replay() {
            return None;
        }
        loop {
            let Some(conn) = self.conns.get_mut(&conn_id) else {
                return refused;
            };
            let cap = if conn_id == ROOT {
                limits.max_concurrent_requests
            } else {
                conn.peer_limit
            };
            // A connection we opened waits for the peer's `Accept`.
            if conn.status != ConnStatus::Open || conn.sent >= cap as usize {
                return refused;
            }
            let Some(id) = conn.waiting.pop_front() else {
                return refused;
            };
            let Some(entry) = conn.outgoing.get_mut(&id) else {
                continue;
            };
            let OutgoingState::Waiting { call, channels } =
                std::mem::replace(&mut entry.state, OutgoingState::Sent)
            else {
                continue;
            };
            let deadline = entry.deadline;
            let specs = channels
                .iter()
                .zip(&call.channels)
                .map(|(&id, direction)| ChannelSpec {
                    id,
                    direction: match direction {
                        Direction::Outgoing => ChannelDirection::CallerToCallee,
                        Direction::Incoming => ChannelDirection::CalleeToCaller,
                    },
                })
                .collect();
            // What is left of the caller's patience when the request leaves.
            let timeout_micros = deadline.map(|at| {
                u64::try_from(at.saturating_duration_since(now).as_micros()).unwrap_or(u64::MAX)
            });
            let msg = Message::Request(Request {
                conn: conn_id,
                id,
                method_id: call.method_id,
                metadata: call.metadata,
                channels: specs,
                timeout_micros,
                payload: call.payload,
            });
            let bytes = match wire::encode_bounded(&msg, limits.max_frame_size) {
                Ok(bytes) => bytes,
                Err(e) => {
                    let attached = conn.outgoing.remove(&id).and_then(|c| c.attach);
                    let ends = channels
                        .iter()
                        .filter_map(|c| conn.channels.forget_queued(*c))
                        .collect();
                    if let Some(at) = deadline {
                        self.deadlines.remove(at, Side::Outgoing, conn_id, id);
                    }
                    let reason = match e {
                        EncodeError::TooLarge { len, max } => CallRejected::TooLarge { len, max },
                        EncodeError::Serialize(detail) => {
                            CallRejected::Closed(SessionError::Transport(detail))
                        }
                    };
                    // A waiting call given up leaves the table, so it still has its attachment.
                    if let Some(attached) = attached {
                        if starting == Some(id) {
                            refused = Some((reason, attached));
                            continue;
                        }
                        self.out.event(SessionEvent::CallFailed {
                            conn: conn_id,
                            id,
                            reason,
                            sent: false,
                            call: attached,
                            channels: ends,
                        });
                    }
                    continue;
                }
            };
            conn.sent += 1;
            self.announce(conn_id, call.method_id, SchemaKind::Args, call.args_schema);
            if !call.channels.is_empty() {
                self.announce(
                    conn_id,
                    call.method_id,
                    SchemaKind::Channels,
                    call.channels_schema,
                );
            }
            self.out.push(Class::Session, bytes);
            for channel in channels {
                let Some(conn) = self.conns.get_mut(&conn_id) else {
                    return refused;
                };
                match conn.channels.open_queued(channel, limits.initial_credit) {
                    Some(Opened::Sending { credit }) if credit > 0 => {
                        self.out.event(SessionEvent::ChannelCredit {
                            conn: conn_id,
                            channel,
                            n: credit,
                        })
                    }
                    Some(Opened::ClosedBeforeOpening) => self.out.send_small(
                        &Message::Close {
                            conn: conn_id,
                            channel,
                        },
                        limits.max_frame_size,
                    ),
                    Some(Opened::ResetBeforeOpening) => self.out.send_small(
                        &Message::Reset {
                            conn: conn_id,
                            channel,
                        },
                        limits.max_frame_size,
                    ),
                    _ => {}
                }
            }
        }
    }

    fn send_response(&mut self, conn_id: ConnId, id: u64, metadata: Metadata, payload: Bytes) {
        let max = self.max_frame_size();
        let msg = Message::Response(Response {
            conn: conn_id,
            id,
            metadata,
            payload,
        });
        if let Err(e) = self.out.send(&msg, max) {
            tracing::error!(id, error = %e, "response not sendable; answering Internal");
            self.out.send_small(
                &Message::Response(Response {
                    conn: conn_id,
                    id,
                    metadata: Metadata::new(),
                    payload: response::remote(RemoteError::Internal).into(),
                }),
                max,
            );
        }
    }

    /// Sends our schema for a method payload unless the peer already has it (or withdraws the
    /// one we sent before, when we have none now).
    fn announce(
        &mut self,
        conn_id: ConnId,
        method_id: u64,
        kind: SchemaKind,
        local: Option<&LocalSchema>,
    ) {
        // A schema the peer's frame limit cannot carry is treated like one we do not have:
        // not sent, and any older one withdrawn.
        let max = self.max_frame_size();
        let local = local.filter(|l| l.canonical.len() + SCHEMA_MESSAGE_OVERHEAD <= max as usize);
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        let schema = match conn.schemas.announcement(method_id, kind, local) {
            Announcement::Nothing => return,
            Announcement::Schema(bytes) => bytes.to_vec(),
            Announcement::Retract => Vec::new(),
        };
        self.out.send_small(
            &Message::Schema(SchemaAnnouncement {
                conn: conn_id,
                method_id,
                kind,
                schema,
            }),
            max,
        );
    }

    fn violate(&mut self, now: Instant, violation: ProtocolViolation) {
        tracing::warn!(rule = violation.rule(), %violation, "peer broke the protocol; ending the session");
        self.send_small(&Message::Goodbye {
            reason: violation.goodbye_reason(),
        });
        self.end(now, SessionError::Protocol(violation), true);
    }

    /// Ends the session for the application. With `flush`, the frames already queued (a
    /// `Goodbye`) are still written, for at most the close linger.
    fn end(&mut self, now: Instant, error: SessionError, flush: bool) {
        let released = &mut self.released;
        for conn in self.conns.values_mut() {
            conn.waiting.clear();
            conn.sent = 0;
            released
                .calls
                .extend(conn.outgoing.drain().filter_map(|(_, c)| c.attach));
            released
                .serving
                .extend(conn.incoming.drain().filter_map(|(_, c)| c.serve));
            released.channels.extend(conn.channels.drain_ends());
            conn.schemas.clear();
        }
        self.deadlines.clear();
        self.timers.clear_all();
        self.ping_outstanding = None;
        self.ended = Some(error.clone());
        self.out.event(SessionEvent::Closed(error));
        if !flush {
            // Nothing queued can reach the peer any more.
            self.out.clear_transmit();
        }
        if flush && !self.out.transmit.is_empty() {
            self.phase = Phase::Closing;
            self.timers
                .set_after(Timer::CloseLinger, now, self.config.close_linger);
        } else {
            self.finish();
        }
    }

    fn finish(&mut self) {
        self.phase = Phase::Closed;
        self.timers.clear_all();
    }
}
