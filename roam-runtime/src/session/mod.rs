//! The session: roam's protocol state machine, free of I/O.
//!
//! `Session` owns the handshake, request-ID allocation and parity, the set of calls in flight
//! in each direction, the peer's concurrency limit (calls beyond it wait here), overload and
//! drain answers, and every protocol-violation check. It **never touches sockets, tasks or
//! clocks**: the driver (`crate::driver`) feeds it frames and commands and carries out what it
//! asks for, so every edge is testable deterministically (see `session/tests.rs`).
//!
//! # Using a `Session`
//! - Inputs: [`Session::handle_frame`] (one frame body from the link),
//!   [`Session::handle_link_closed`].
//! - Commands: [`Session::call`], [`Session::cancel`], [`Session::respond`],
//!   [`Session::start_drain`], [`Session::close`].
//! - Outputs, drained after every input or command: [`Session::poll_transmit`] (frame bodies to
//!   write, in order) and [`Session::poll_event`] (what the application must act on).
//!
//! Every message this side sends goes through one private method, `send`, which is where
//! sequence numbering for resumption will attach.

mod channels;
mod ids;
mod schemas;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

pub use channels::{ChannelSendError, Direction};
pub use ids::{IdAllocator, Role};

use channels::{Abandon, Channels, DataVerdict, Opened, ResetVerdict};
use schemas::{Announcement, SchemaTable};

pub use schemas::{MAX_REMOTE_SCHEMAS, MAX_SCHEMA_BYTES, MAX_SCHEMA_TABLE_BYTES};

use crate::error::{ProtocolViolation, RemoteError, SessionError};
use crate::metadata::Metadata;
use crate::response;
use crate::schemas::{LocalSchema, RemoteSchema};
use crate::wire::{
    self, Cancel, ChannelDirection, ChannelSpec, Hello, Limits, Message, PROTOCOL_VERSION, Request,
    Response, SchemaAnnouncement, SchemaKind,
};

/// Bytes a `Schema` message adds around the schema: tag, `conn`, `method_id` (varint, at most
/// 10), kind, and the length varint (at most 5).
const SCHEMA_MESSAGE_OVERHEAD: usize = 1 + 10 + 10 + 1 + 5;

/// Configuration of one side of a session.
#[derive(Debug, Clone, Default)]
pub struct SessionConfig {
    /// The limits this side announces.
    pub limits: Limits,
}

/// A call this side wants to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingCall {
    /// The method to call.
    pub method_id: u64,
    /// Metadata sent with the request.
    pub metadata: Metadata,
    /// Time the caller will wait, in microseconds.
    pub timeout_micros: Option<u64>,
    /// The encoded argument tuple.
    pub payload: Vec<u8>,
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
    /// Request ID (to pass to [`Session::respond`]).
    pub id: u64,
    /// The method.
    pub method_id: u64,
    /// Request metadata.
    pub metadata: Metadata,
    /// Time the caller waits, in microseconds, if it set a deadline.
    pub timeout_micros: Option<u64>,
    /// The encoded argument tuple.
    pub payload: Vec<u8>,
    /// The call's channels in argument order, with the direction seen from this side.
    pub channels: Vec<(u64, Direction)>,
    /// The peer's schema of the argument tuple, if it announced one.
    pub args_schema: Option<Arc<RemoteSchema>>,
    /// The peer's schema of the channel arguments' item types, if it announced one.
    pub channels_schema: Option<Arc<RemoteSchema>>,
}

/// Why a call could not be sent.
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
    /// The session has ended.
    #[error(transparent)]
    Closed(SessionError),
}

/// Something the application must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The handshake finished.
    Established {
        /// The effective limits (minimum of both sides).
        limits: Limits,
        /// The session key issued by the acceptor.
        session_key: Option<[u8; 16]>,
    },
    /// The peer made a call; answer it with [`Session::respond`].
    Request(IncomingCall),
    /// The peer answered one of our calls.
    Response {
        /// The ID [`Session::call`] returned.
        id: u64,
        /// Response metadata.
        metadata: Metadata,
        /// The encoded `Result<T, RoamError<E>>`.
        payload: Vec<u8>,
        /// The peer's schema of the method's response, if it announced one.
        schema: Option<Arc<RemoteSchema>>,
    },
    /// A call that was waiting for the handshake turned out too large to send.
    CallFailed {
        /// The ID [`Session::call`] returned.
        id: u64,
        /// Why.
        reason: CallRejected,
    },
    /// The peer cancelled a call we are serving: stop the handler, then `respond` with
    /// `Cancelled` (the session sends it only if the call is still unanswered).
    CancelRequested {
        /// Request ID.
        id: u64,
    },
    /// An item arrived on a channel we receive on.
    ChannelData {
        /// Channel ID.
        channel: u64,
        /// The encoded item.
        payload: Vec<u8>,
    },
    /// The peer's sender on a channel is done: no more items follow.
    ChannelClosed {
        /// Channel ID.
        channel: u64,
    },
    /// The peer's receiver gave up: our sender must stop (the session already answered `Close`).
    ChannelReset {
        /// Channel ID.
        channel: u64,
    },
    /// Our sender on `channel` may send `n` more items (initial credit included).
    ChannelCredit {
        /// Channel ID.
        channel: u64,
        /// Additional items.
        n: u64,
    },
    /// The session has ended; every call still pending has failed with this error.
    Closed(SessionError),
}

#[derive(Debug)]
enum Phase {
    /// Our `Hello` is queued; the peer's has not arrived.
    Handshaking,
    /// Both `Hello`s exchanged.
    Established { limits: Limits },
    /// Ended; nothing more is accepted.
    Closed,
}

/// The protocol state of one session. See the module docs.
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: SessionConfig,
    phase: Phase,
    session_key: Option<[u8; 16]>,
    request_ids: IdAllocator,
    /// Our calls sent to the peer and not yet answered, with their method IDs.
    outgoing: HashMap<u64, u64>,
    /// Our calls waiting for the handshake or for a free slot under the peer's limit.
    waiting: VecDeque<(CallStarted, OutgoingCall)>,
    channels: Channels,
    /// The peer's calls we are serving, with their method IDs.
    incoming: HashMap<u64, u64>,
    schemas: SchemaTable,
    draining: bool,
    transmit: VecDeque<Bytes>,
    events: VecDeque<SessionEvent>,
}

impl Session {
    /// A new session; its `Hello` is queued for transmission at once. The acceptor passes the
    /// random session key it issues (the session itself never draws randomness).
    pub fn new(role: Role, config: SessionConfig, session_key: Option<[u8; 16]>) -> Self {
        let mut s = Session {
            role,
            phase: Phase::Handshaking,
            session_key: if role == Role::Acceptor {
                session_key
            } else {
                None
            },
            request_ids: IdAllocator::new(role),
            outgoing: HashMap::new(),
            waiting: VecDeque::new(),
            channels: Channels::new(role),
            incoming: HashMap::new(),
            schemas: SchemaTable::default(),
            draining: false,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            config,
        };
        let hello = Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: s.config.limits,
            session_key: s.session_key,
            resume: None,
        });
        s.send(&hello);
        s
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The effective limits once established.
    pub fn limits(&self) -> Option<Limits> {
        match self.phase {
            Phase::Established { limits } => Some(limits),
            _ => None,
        }
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Number of the peer's calls being served.
    pub fn incoming_in_flight(&self) -> usize {
        self.incoming.len()
    }

    /// Number of our calls sent and not yet answered.
    pub fn outgoing_in_flight(&self) -> usize {
        self.outgoing.len()
    }

    /// Number of open channels (both directions).
    pub fn open_channels(&self) -> usize {
        self.channels.len()
    }

    /// Number of our calls waiting for a slot under the peer's limit.
    pub fn waiting_calls(&self) -> usize {
        self.waiting.len()
    }

    /// The next frame body to write, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    // ----- inputs -----

    /// Handles one frame body received from the link.
    pub fn handle_frame(&mut self, frame: &[u8]) {
        if self.is_closed() {
            return;
        }
        match wire::decode(frame) {
            Ok(msg) => self.handle_message(msg),
            Err(violation) => self.violate(violation),
        }
    }

    /// The link failed or hit a framing error; `violation` is set when the peer caused it.
    pub fn handle_link_closed(&mut self, violation: Option<ProtocolViolation>, detail: String) {
        if self.is_closed() {
            return;
        }
        match violation {
            Some(v) => self.violate(v),
            None => self.end(SessionError::Transport(detail)),
        }
    }

    fn handle_message(&mut self, msg: Message) {
        match (&self.phase, msg) {
            (Phase::Closed, _) => {}
            (Phase::Handshaking, Message::Hello(hello)) => self.handle_hello(hello),
            (Phase::Handshaking, Message::Goodbye { reason }) => self.end(
                SessionError::HandshakeFailed(format!("peer said goodbye: {reason}")),
            ),
            (Phase::Handshaking, _) => self.violate(ProtocolViolation::Handshake(
                "the first message must be Hello",
            )),
            (Phase::Established { .. }, msg) => match msg {
                Message::Hello(_) => self.violate(ProtocolViolation::Handshake("Hello sent twice")),
                Message::Goodbye { reason } => self.end(SessionError::ClosedByPeer { reason }),
                Message::Request(req) => self.handle_request(req),
                Message::Response(resp) => self.handle_response(resp),
                Message::Cancel(c) => self.handle_cancel(c),
                Message::Ping { nonce } => self.send(&Message::Pong { nonce }),
                Message::Pong { .. } => {}
                Message::Data {
                    conn,
                    channel,
                    payload,
                } => self.handle_data(conn, channel, payload),
                Message::Close { conn, channel } => self.handle_channel_close(conn, channel),
                Message::Reset { conn, channel } => self.handle_channel_reset(conn, channel),
                Message::Credit { conn, channel, n } => self.handle_credit(conn, channel, n),
                Message::Schema(announcement) => self.handle_schema(announcement),
            },
        }
    }

    fn handle_hello(&mut self, hello: Hello) {
        if hello.version != PROTOCOL_VERSION {
            let reason = format!(
                "version-mismatch: peer speaks protocol version {}, this side speaks {}; upgrade the older side",
                hello.version, PROTOCOL_VERSION
            );
            self.send(&Message::Goodbye {
                reason: reason.clone(),
            });
            return self.end(SessionError::HandshakeFailed(reason));
        }
        if hello.resume.is_some() {
            let reason = "resume-refused: this peer does not support session resumption".to_owned();
            self.send(&Message::Goodbye {
                reason: reason.clone(),
            });
            return self.end(SessionError::HandshakeFailed(reason));
        }
        if self.role == Role::Initiator {
            self.session_key = hello.session_key;
        }
        let limits = self.config.limits.effective(hello.limits);
        self.phase = Phase::Established { limits };
        self.events.push_back(SessionEvent::Established {
            limits,
            session_key: self.session_key,
        });
        self.pump_waiting();
    }

    fn handle_request(&mut self, req: Request) {
        if req.conn != 0 {
            return self.violate(ProtocolViolation::UnknownConnection(req.conn));
        }
        if !self.role.peer().owns(req.id) {
            return self.violate(ProtocolViolation::WrongParity(req.id));
        }
        if self.incoming.contains_key(&req.id) {
            return self.violate(ProtocolViolation::DuplicateRequestId(req.id));
        }
        if let Err(limit) = req.metadata.check_limits() {
            return self.violate(ProtocolViolation::Metadata(limit));
        }
        let initial_credit = self.limits().map_or(0, |l| l.initial_credit);
        let mut channels = Vec::with_capacity(req.channels.len());
        let mut credits = Vec::new();
        for ChannelSpec { id, direction } in &req.channels {
            let ours = match direction {
                ChannelDirection::CallerToCallee => Direction::Incoming,
                ChannelDirection::CalleeToCaller => Direction::Outgoing,
            };
            match self.channels.register_remote(*id, ours, initial_credit) {
                Ok(credit) => {
                    channels.push((*id, ours));
                    if credit > 0 {
                        credits.push(SessionEvent::ChannelCredit {
                            channel: *id,
                            n: credit,
                        });
                    }
                }
                Err(v) => return self.violate(v),
            }
        }
        let refusal = if self.draining {
            Some(RemoteError::Unavailable)
        } else if self.incoming.len() >= self.config.limits.max_concurrent_requests as usize {
            Some(RemoteError::Overloaded)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.abandon_channels(channels.iter().map(|(id, _)| *id));
            return self.send_response(req.id, Metadata::new(), response::remote(refusal));
        }
        self.incoming.insert(req.id, req.method_id);
        self.events.push_back(SessionEvent::Request(IncomingCall {
            args_schema: self.schemas.remote(req.method_id, SchemaKind::Args),
            channels_schema: if req.channels.is_empty() {
                None
            } else {
                self.schemas.remote(req.method_id, SchemaKind::Channels)
            },
            id: req.id,
            method_id: req.method_id,
            metadata: req.metadata,
            timeout_micros: req.timeout_micros,
            payload: req.payload,
            channels,
        }));
        // After the request, so the driver has created the channel ends the credit is for.
        self.events.extend(credits);
    }

    fn handle_data(&mut self, conn: u64, channel: u64, payload: Vec<u8>) {
        if conn != 0 {
            return self.violate(ProtocolViolation::UnknownConnection(conn));
        }
        match self.channels.on_data(channel) {
            Ok(DataVerdict::Deliver) => self
                .events
                .push_back(SessionEvent::ChannelData { channel, payload }),
            Ok(DataVerdict::Drop) => {}
            Err(v) => self.violate(v),
        }
    }

    fn handle_channel_close(&mut self, conn: u64, channel: u64) {
        if conn != 0 {
            return self.violate(ProtocolViolation::UnknownConnection(conn));
        }
        match self.channels.on_close(channel) {
            Ok(true) => self
                .events
                .push_back(SessionEvent::ChannelClosed { channel }),
            Ok(false) => {}
            Err(v) => self.violate(v),
        }
    }

    fn handle_channel_reset(&mut self, conn: u64, channel: u64) {
        if conn != 0 {
            return self.violate(ProtocolViolation::UnknownConnection(conn));
        }
        if self.channels.on_reset(channel) == ResetVerdict::StopSending {
            self.send(&Message::Close { conn: 0, channel });
            self.events
                .push_back(SessionEvent::ChannelReset { channel });
        }
    }

    fn handle_credit(&mut self, conn: u64, channel: u64, n: u32) {
        if conn != 0 {
            return self.violate(ProtocolViolation::UnknownConnection(conn));
        }
        let added = self.channels.on_credit(channel, n);
        if added > 0 {
            self.events
                .push_back(SessionEvent::ChannelCredit { channel, n: added });
        }
    }

    fn handle_response(&mut self, resp: Response) {
        if resp.conn != 0 {
            return self.violate(ProtocolViolation::UnknownConnection(resp.conn));
        }
        let Some(method_id) = self.outgoing.remove(&resp.id) else {
            return self.violate(ProtocolViolation::UnknownResponse(resp.id));
        };
        if let Err(limit) = resp.metadata.check_limits() {
            return self.violate(ProtocolViolation::Metadata(limit));
        }
        self.events.push_back(SessionEvent::Response {
            id: resp.id,
            metadata: resp.metadata,
            payload: resp.payload,
            schema: self.schemas.remote(method_id, SchemaKind::Response),
        });
        self.pump_waiting();
    }

    fn handle_schema(&mut self, announcement: SchemaAnnouncement) {
        if announcement.conn != 0 {
            return self.violate(ProtocolViolation::UnknownConnection(announcement.conn));
        }
        if let Err(v) = self.schemas.receive(&announcement) {
            self.violate(v);
        }
    }

    fn handle_cancel(&mut self, cancel: Cancel) {
        if cancel.conn != 0 {
            return self.violate(ProtocolViolation::UnknownConnection(cancel.conn));
        }
        // A cancel for a call already answered crossed our response on the wire: not an error.
        if self.incoming.contains_key(&cancel.id) {
            self.events
                .push_back(SessionEvent::CancelRequested { id: cancel.id });
        }
    }

    // ----- commands -----

    /// Starts a call and returns its request ID. The call waits inside the session while the
    /// handshake is running or the peer's concurrency limit is reached.
    pub fn call(&mut self, call: OutgoingCall) -> Result<CallStarted, CallRejected> {
        if self.is_closed() {
            return Err(CallRejected::Closed(SessionError::LocallyClosed));
        }
        let max = self.max_frame_size();
        // Every field but the payload is bounded by the metadata limits; reject early what
        // cannot possibly fit so the caller gets the error at once.
        if call.payload.len() > max as usize {
            return Err(CallRejected::TooLarge {
                len: call.payload.len(),
                max,
            });
        }
        let id = self.request_ids.next_id();
        let channels = call
            .channels
            .iter()
            .map(|d| self.channels.allocate(*d))
            .collect();
        let started = CallStarted { id, channels };
        self.waiting.push_back((started.clone(), call));
        self.pump_waiting();
        Ok(started)
    }

    /// Gives up on a call. A call still waiting is dropped silently (returns `true`: it was
    /// never sent, and neither were its channels); a call already sent gets a `Cancel`, and its
    /// late `Response` is still reported (and can be ignored).
    pub fn cancel(&mut self, id: u64) -> bool {
        if let Some(pos) = self.waiting.iter().position(|(w, _)| w.id == id) {
            if let Some((started, _)) = self.waiting.remove(pos) {
                for channel in started.channels {
                    self.channels.forget_queued(channel);
                }
            }
            return true;
        }
        if self.outgoing.contains_key(&id) && !self.is_closed() {
            self.send(&Message::Cancel(Cancel { conn: 0, id }));
        }
        false
    }

    /// Answers the peer's call `id`. Ignored if the call was already answered. `schema` is our
    /// schema of the method's response, announced before its first response on this session
    /// (pass `None` for runtime-level failures, whose bytes do not depend on it).
    pub fn respond(
        &mut self,
        id: u64,
        metadata: Metadata,
        payload: Vec<u8>,
        schema: Option<&'static LocalSchema>,
    ) {
        if self.is_closed() {
            return;
        }
        let Some(method_id) = self.incoming.remove(&id) else {
            return;
        };
        // `None` here means a runtime-level answer, which needs no schema (not a retraction).
        if schema.is_some() {
            self.announce(method_id, SchemaKind::Response, schema);
        }
        self.send_response(id, metadata, payload);
    }

    /// Sends one item on a channel we send on, spending one credit.
    pub fn send_data(&mut self, channel: u64, payload: Vec<u8>) -> Result<(), ChannelSendError> {
        if self.is_closed() {
            return Err(ChannelSendError::NotOpen);
        }
        let msg = Message::Data {
            conn: 0,
            channel,
            payload,
        };
        let bytes = wire::encode(&msg);
        if bytes.len() > self.max_frame_size() as usize {
            return Err(ChannelSendError::TooLarge {
                len: bytes.len(),
                max: self.max_frame_size(),
            });
        }
        self.channels.send_data(channel)?;
        self.send_encoded(bytes);
        Ok(())
    }

    /// Our sender on `channel` is done.
    pub fn close_channel(&mut self, channel: u64) {
        if !self.is_closed() && self.channels.close(channel) {
            self.send(&Message::Close { conn: 0, channel });
        }
    }

    /// Our receiver on `channel` gives up.
    pub fn reset_channel(&mut self, channel: u64) {
        if !self.is_closed() && self.channels.reset(channel) {
            self.send(&Message::Reset { conn: 0, channel });
        }
    }

    /// Lets the peer send `n` more items on `channel`.
    pub fn grant_credit(&mut self, channel: u64, n: u32) {
        if !self.is_closed() && n > 0 && self.channels.grant(channel, n) {
            self.send(&Message::Credit {
                conn: 0,
                channel,
                n,
            });
        }
    }

    /// Ends channels whose call failed before anything used them.
    pub fn abandon_channels(&mut self, channels: impl IntoIterator<Item = u64>) {
        for channel in channels {
            match self.channels.abandon(channel) {
                Some(Abandon::Close) => self.send(&Message::Close { conn: 0, channel }),
                Some(Abandon::Reset) => self.send(&Message::Reset { conn: 0, channel }),
                None => {}
            }
        }
    }

    /// Stops taking new calls from the peer: they are answered `Unavailable`. Calls already
    /// running continue; the driver closes the session once [`Session::incoming_in_flight`] is 0.
    pub fn start_drain(&mut self) {
        self.draining = true;
    }

    /// Ends the session, telling the peer why.
    pub fn close(&mut self, reason: &str) {
        if self.is_closed() {
            return;
        }
        self.send(&Message::Goodbye {
            reason: reason.to_owned(),
        });
        self.end(SessionError::LocallyClosed);
    }

    // ----- internals -----

    fn max_frame_size(&self) -> u32 {
        match self.phase {
            Phase::Established { limits } => limits.max_frame_size,
            _ => self.config.limits.max_frame_size,
        }
    }

    /// Sends waiting calls while the peer has free slots.
    fn pump_waiting(&mut self) {
        let Phase::Established { limits } = self.phase else {
            return;
        };
        while self.outgoing.len() < limits.max_concurrent_requests as usize {
            let Some((started, call)) = self.waiting.pop_front() else {
                break;
            };
            let id = started.id;
            let specs = started
                .channels
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
            let msg = Message::Request(Request {
                conn: 0,
                id,
                method_id: call.method_id,
                metadata: call.metadata,
                channels: specs,
                timeout_micros: call.timeout_micros,
                payload: call.payload,
            });
            let bytes = wire::encode(&msg);
            if bytes.len() > limits.max_frame_size as usize {
                for channel in &started.channels {
                    self.channels.forget_queued(*channel);
                }
                let reason = CallRejected::TooLarge {
                    len: bytes.len(),
                    max: limits.max_frame_size,
                };
                self.events
                    .push_back(SessionEvent::CallFailed { id, reason });
                continue;
            }
            self.announce(call.method_id, SchemaKind::Args, call.args_schema);
            if !call.channels.is_empty() {
                self.announce(call.method_id, SchemaKind::Channels, call.channels_schema);
            }
            self.outgoing.insert(id, call.method_id);
            self.send_encoded(bytes);
            for channel in started.channels {
                match self.channels.open_queued(channel, limits.initial_credit) {
                    Some(Opened::Sending { credit }) if credit > 0 => self
                        .events
                        .push_back(SessionEvent::ChannelCredit { channel, n: credit }),
                    Some(Opened::ClosedBeforeOpening) => {
                        self.send(&Message::Close { conn: 0, channel })
                    }
                    _ => {}
                }
            }
        }
    }

    fn send_response(&mut self, id: u64, metadata: Metadata, payload: Vec<u8>) {
        let msg = Message::Response(Response {
            conn: 0,
            id,
            metadata,
            payload,
        });
        let bytes = wire::encode(&msg);
        if bytes.len() > self.max_frame_size() as usize {
            tracing::error!(
                id,
                len = bytes.len(),
                max = self.max_frame_size(),
                "response does not fit in one frame; answering Internal"
            );
            let msg = Message::Response(Response {
                conn: 0,
                id,
                metadata: Metadata::new(),
                payload: response::remote(RemoteError::Internal),
            });
            return self.send(&msg);
        }
        self.send_encoded(bytes);
    }

    /// Sends our schema for a method payload unless the peer already has it (or withdraws the
    /// one we sent before, when we have none now).
    fn announce(&mut self, method_id: u64, kind: SchemaKind, local: Option<&LocalSchema>) {
        // A schema the peer's frame limit cannot carry is treated like one we do not have:
        // not sent, and any older one withdrawn.
        let max = self.max_frame_size() as usize;
        let local = local.filter(|l| l.canonical.len() + SCHEMA_MESSAGE_OVERHEAD <= max);
        let schema = match self.schemas.announcement(method_id, kind, local) {
            Announcement::Nothing => return,
            Announcement::Schema(bytes) => bytes.to_vec(),
            Announcement::Retract => Vec::new(),
        };
        self.send(&Message::Schema(SchemaAnnouncement {
            conn: 0,
            method_id,
            kind,
            schema,
        }));
    }

    /// The one place every outgoing message passes through.
    fn send(&mut self, msg: &Message) {
        self.send_encoded(wire::encode(msg));
    }

    fn send_encoded(&mut self, bytes: Vec<u8>) {
        self.transmit.push_back(Bytes::from(bytes));
    }

    fn violate(&mut self, violation: ProtocolViolation) {
        tracing::warn!(rule = violation.rule(), %violation, "peer broke the protocol; ending the session");
        self.send(&Message::Goodbye {
            reason: violation.goodbye_reason(),
        });
        self.end(SessionError::Protocol(violation));
    }

    fn end(&mut self, error: SessionError) {
        self.phase = Phase::Closed;
        self.waiting.clear();
        self.outgoing.clear();
        self.incoming.clear();
        self.channels.clear();
        self.schemas.clear();
        self.events.push_back(SessionEvent::Closed(error));
    }
}
