//! The protocol's errors. The runtime's API errors (`CallError`, `ChannelError`) live above
//! this crate and wrap these.
//!
//! - [`RemoteError`] is a runtime-level failure a callee reports in a response; its numbers are
//!   wire format.
//! - [`SessionError`] says why a session ended.
//! - [`ProtocolViolation`] names the protocol rule a peer broke; it is carried in `Goodbye`.
//!   Callers should report it, not branch on its variants.
//! - [`TimedOut`] names which of the session's timers ended it.

use std::time::Duration;

/// A runtime-level failure the callee reports instead of a return value.
///
/// On the wire a response payload is the postcard encoding of `Result<T, RoamError<E>>`, where
/// `RoamError<E>`'s variant 0 is the user error `E` and the variants below follow, numbered by
/// [`RemoteError::code`]. The numbers are part of the protocol and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemoteError {
    /// The callee has no method with this ID (check that both sides use the same service version).
    UnknownMethod,
    /// The callee could not decode the arguments (the two sides disagree on the argument types).
    InvalidPayload,
    /// The call was cancelled before the handler finished.
    Cancelled,
    /// The call's deadline passed before the handler finished.
    DeadlineExceeded,
    /// The callee is at its concurrent-request limit; retry later.
    Overloaded,
    /// The callee is shutting down and takes no new calls; retry on a new session.
    Unavailable,
    /// The handler panicked; the callee's logs have details.
    Internal,
}

impl RemoteError {
    /// The variant number inside `RoamError<E>` (0 is `User(E)`).
    pub const fn code(self) -> u8 {
        match self {
            RemoteError::UnknownMethod => 1,
            RemoteError::InvalidPayload => 2,
            RemoteError::Cancelled => 3,
            RemoteError::DeadlineExceeded => 4,
            RemoteError::Overloaded => 5,
            RemoteError::Unavailable => 6,
            RemoteError::Internal => 7,
        }
    }

    /// The inverse of [`RemoteError::code`].
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => RemoteError::UnknownMethod,
            2 => RemoteError::InvalidPayload,
            3 => RemoteError::Cancelled,
            4 => RemoteError::DeadlineExceeded,
            5 => RemoteError::Overloaded,
            6 => RemoteError::Unavailable,
            7 => RemoteError::Internal,
            _ => return None,
        })
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The virtual connection (not the session) was closed, by either side; `reason` is the
    /// closer's.
    #[error("the virtual connection was closed: {reason}; open a new one to go on")]
    ConnectionClosed {
        /// Why it was closed.
        reason: String,
    },
    /// The peer broke a protocol rule; we sent `Goodbye` naming it.
    #[error("the peer broke the protocol: {0}")]
    Protocol(ProtocolViolation),
    /// The peer said `Goodbye`.
    #[error("the peer closed the session: {reason}")]
    ClosedByPeer {
        /// The reason the peer gave.
        reason: String,
    },
    /// This side closed the session (shutdown or all handles dropped).
    #[error("the session was closed locally")]
    LocallyClosed,
    /// The handshake failed (incompatible version or the peer hung up during it).
    #[error("handshake failed: {0}")]
    HandshakeFailed(String),
    /// The transport failed or the peer hung up without `Goodbye`.
    #[error("transport error: {0}; the peer may have crashed or the network dropped")]
    Transport(String),
    /// One of the session's timers ran out (the handshake, or the keepalive's wait for a Pong).
    #[error(transparent)]
    TimedOut(TimedOut),
    /// The acceptor refused the session before it began (it said `Goodbye("<rule>: …")`
    /// instead of its `Hello`).
    #[error("the server refused the session ({}): {reason}; {}", by.rule(), by.advice())]
    Refused {
        /// Which of the acceptor's rules refused it.
        by: RefusedBy,
        /// The reason the acceptor gave.
        reason: String,
    },
}

impl SessionError {
    /// Whether the acceptor refused to resume the session (`resume-refused`): it no longer
    /// has it, so a client may start a fresh one.
    pub fn is_resume_refused(&self) -> bool {
        matches!(
            self,
            SessionError::Refused {
                by: RefusedBy::Resume,
                ..
            }
        )
    }
}

/// Which rule of an acceptor's admission refused a session. Each is carried in the
/// `Goodbye` that replaces the acceptor's `Hello` as `"<rule>: <reason>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusedBy {
    /// `unauthenticated`: the server's authenticator refused the initiator's credentials.
    Authentication,
    /// `session-limit`: the server serves as many sessions as it allows.
    SessionLimit,
    /// `peer-session-limit`: the server serves as many sessions from this peer's address as it
    /// allows.
    PeerSessionLimit,
    /// `handshake-timeout`: the handshake (link, `Hello`s, admission) did not finish within the
    /// acceptor's budget.
    HandshakeTimeout,
    /// `resume-refused`: the acceptor cannot resume the session the initiator named (it does
    /// not know the key, the proof is wrong, it was freed after its grace period, or it cannot
    /// replay what the initiator missed). The initiator's calls in flight are lost; it starts
    /// a fresh session.
    Resume,
}

impl RefusedBy {
    const ALL: [RefusedBy; 5] = [
        RefusedBy::Authentication,
        RefusedBy::SessionLimit,
        RefusedBy::PeerSessionLimit,
        RefusedBy::HandshakeTimeout,
        RefusedBy::Resume,
    ];

    /// The stable rule name that starts the `Goodbye` reason.
    pub const fn rule(self) -> &'static str {
        match self {
            RefusedBy::Authentication => "unauthenticated",
            RefusedBy::SessionLimit => "session-limit",
            RefusedBy::PeerSessionLimit => "peer-session-limit",
            RefusedBy::HandshakeTimeout => "handshake-timeout",
            RefusedBy::Resume => "resume-refused",
        }
    }

    /// What the refused side can do about it.
    pub const fn advice(self) -> &'static str {
        match self {
            RefusedBy::Authentication => "check the credentials this client sends in its Hello",
            RefusedBy::SessionLimit | RefusedBy::PeerSessionLimit => {
                "close sessions this client does not need, or retry later"
            }
            RefusedBy::HandshakeTimeout => {
                "the link or the server's authentication is too slow; retry, or ask the operator to raise the budget"
            }
            RefusedBy::Resume => {
                "start a fresh session; calls that were in flight did not complete"
            }
        }
    }

    /// Splits a `Goodbye` reason `"<rule>: <reason>"` whose rule is a refusal.
    pub fn parse_goodbye(goodbye: &str) -> Option<(RefusedBy, &str)> {
        let (rule, reason) = goodbye.split_once(": ")?;
        let by = Self::ALL.into_iter().find(|by| by.rule() == rule)?;
        Some((by, reason))
    }
}

/// Which wait of the session ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimedOut {
    /// The peer's `Hello` did not arrive in time.
    #[error(
        "the peer did not complete the handshake within {0:?}; check that it speaks roam on this address"
    )]
    Handshake(Duration),
    /// A keepalive `Ping` got no `Pong` in time: the link is dead or the peer is stuck.
    #[error(
        "the peer did not answer a keepalive ping within {0:?}; the link is dead or the peer is stalled"
    )]
    Keepalive(Duration),
    /// Our queued output stayed blocked (the peer read none of it) for this long.
    #[error("the peer read nothing of this session's queued output for {0:?}; it stopped reading")]
    OutputStalled(Duration),
    /// The session's link was lost and no new one resumed it within the grace period.
    #[error(
        "the link was lost and the session was not resumed within its {0:?} grace period; start a fresh session"
    )]
    ResumeGrace(Duration),
}

/// A protocol rule a peer broke. Carried in `Goodbye` as [`ProtocolViolation::rule`] plus detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// A frame was not a valid message.
    #[error("malformed message: {0}")]
    MalformedMessage(String),
    /// A frame was longer than the negotiated maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The announced length.
        len: u64,
        /// The negotiated maximum.
        max: u64,
    },
    /// The first message was not `Hello`, or `Hello` came twice.
    #[error("unexpected handshake message: {0}")]
    Handshake(&'static str),
    /// A message named a connection that is not open.
    #[error("unknown connection {0}")]
    UnknownConnection(u64),
    /// A request reused the ID of a request still in flight.
    #[error("duplicate request id {0}")]
    DuplicateRequestId(u64),
    /// A request ID had the parity reserved for this side (or was 0).
    #[error("request id {0} has the wrong parity")]
    WrongParity(u64),
    /// A response answered no request in flight.
    #[error("response to unknown request {0}")]
    UnknownResponse(u64),
    /// Metadata broke its limits.
    #[error("metadata limit: {0}")]
    Metadata(&'static str),
    /// A channel ID had the receiver's own parity (or was 0).
    #[error("channel id {0} has the wrong parity")]
    ChannelWrongParity(u64),
    /// A request listed a channel ID already in use.
    #[error("duplicate channel id {0}")]
    DuplicateChannelId(u64),
    /// `Data` on a channel that is not open (never opened, or closed by its sender).
    #[error("data on unknown channel {0}")]
    UnknownChannel(u64),
    /// `Data` or `Close` on a channel the sender does not send on.
    #[error("data or close on channel {0}, which the sender does not send on")]
    DataOnWrongChannel(u64),
    /// More `Data` than the receiver granted credit for.
    #[error("data on channel {0} beyond the granted credit")]
    CreditExceeded(u64),
    /// A `Schema` message whose bytes are not a valid canonical schema.
    #[error("invalid schema for method {method_id:#018x}: {detail}")]
    BadSchema {
        /// The method the schema was announced for.
        method_id: u64,
        /// What was wrong with it.
        detail: String,
    },
    /// The peer announced schemas for more method payloads than a session keeps.
    #[error("more than {0} schemas announced on one session")]
    TooManySchemas(usize),
    /// The peer has more channels open (or reset and not yet closed) on one connection than a
    /// session keeps.
    #[error("more than {0} channels on one connection")]
    TooManyChannels(usize),
    /// The peer has more virtual connections open or opening than a session keeps.
    #[error("more than {0} virtual connections opened by one side")]
    TooManyConnections(usize),
    /// An acknowledgement that cannot be right: on a session without replay, going backwards,
    /// or for messages never sent.
    #[error("{0}")]
    Replay(&'static str),
    /// The peer kept sending while not reading what we sent back.
    #[error("{queued} bytes wait to be written; the peer does not read")]
    WriteBacklog {
        /// Bytes queued for writing.
        queued: usize,
    },
}

impl ProtocolViolation {
    /// The stable rule name sent in `Goodbye` (see `docs/protocol.md`).
    pub fn rule(&self) -> &'static str {
        match self {
            ProtocolViolation::MalformedMessage(_) => "malformed-message",
            ProtocolViolation::FrameTooLarge { .. } => "frame-too-large",
            ProtocolViolation::Handshake(_) => "handshake",
            ProtocolViolation::UnknownConnection(_) => "unknown-connection",
            ProtocolViolation::DuplicateRequestId(_) => "duplicate-request-id",
            ProtocolViolation::WrongParity(_) => "wrong-parity",
            ProtocolViolation::UnknownResponse(_) => "unknown-response",
            ProtocolViolation::Metadata(_) => "metadata-limit",
            ProtocolViolation::WriteBacklog { .. } => "write-backlog",
            ProtocolViolation::ChannelWrongParity(_) => "wrong-parity",
            ProtocolViolation::DuplicateChannelId(_) => "duplicate-channel-id",
            ProtocolViolation::UnknownChannel(_) => "unknown-channel",
            ProtocolViolation::DataOnWrongChannel(_) => "wrong-direction",
            ProtocolViolation::CreditExceeded(_) => "credit-exceeded",
            ProtocolViolation::BadSchema { .. } => "bad-schema",
            ProtocolViolation::TooManySchemas(_) => "too-many-schemas",
            ProtocolViolation::TooManyChannels(_) => "too-many-channels",
            ProtocolViolation::TooManyConnections(_) => "too-many-connections",
            ProtocolViolation::Replay(_) => "replay",
        }
    }

    /// The `Goodbye` reason text: `"<rule>: <detail>"`.
    pub fn goodbye_reason(&self) -> String {
        format!("{}: {}", self.rule(), self)
    }
}
