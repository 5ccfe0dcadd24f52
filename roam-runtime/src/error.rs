//! Errors, one enum per layer.
//!
//! - [`CallError`] is what a call returns to application code: the callee's user error `E`,
//!   a runtime-level failure reported by the callee ([`RemoteError`] on the wire), a local
//!   codec failure, or the session going away.
//! - [`SessionError`] says why a session ended.
//! - [`ProtocolViolation`] names the protocol rule a peer broke; it is carried in `Goodbye`.
//!   Callers should report it, not branch on its variants.

use crate::codec::CodecError;

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

/// Why a call failed. `E` is the method's user error type (`Infallible` for infallible methods).
///
/// ```
/// # use roam::CallError;
/// let e: CallError<std::convert::Infallible> = CallError::UnknownMethod;
/// assert_eq!(e.to_string(), "the peer has no such method; check both sides run the same service version");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError<E> {
    /// The handler returned `Err(e)`.
    #[error("the handler returned an error: {0:?}")]
    User(E),
    /// See [`RemoteError::UnknownMethod`].
    #[error("the peer has no such method; check both sides run the same service version")]
    UnknownMethod,
    /// See [`RemoteError::InvalidPayload`].
    #[error(
        "the peer could not decode the arguments; check both sides use the same argument types"
    )]
    InvalidPayload,
    /// See [`RemoteError::Cancelled`].
    #[error("the call was cancelled")]
    Cancelled,
    /// The deadline passed (reported by the peer, or noticed locally).
    #[error("the call's deadline passed before it completed")]
    DeadlineExceeded,
    /// See [`RemoteError::Overloaded`].
    #[error("the peer is overloaded; retry later")]
    Overloaded,
    /// See [`RemoteError::Unavailable`].
    #[error("the peer is shutting down and accepts no new calls; reconnect and retry")]
    Unavailable,
    /// See [`RemoteError::Internal`].
    #[error("the handler failed on the peer (it panicked); see the peer's logs")]
    Internal,
    /// Encoding the arguments or decoding the response failed locally.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A channel argument could not be used.
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    /// The two sides' types for this call cannot be reconciled: the peer could not read our
    /// arguments, or we cannot read its response. The text names the field and both types.
    #[error("incompatible schemas: {0}")]
    IncompatibleSchema(String),
    /// The response was malformed (not a valid `Result<T, RoamError<E>>`).
    #[error("the peer sent a malformed response: {0}")]
    MalformedResponse(&'static str),
    /// The session ended before the response arrived.
    #[error("the connection was lost before the call completed: {0}")]
    ConnectionLost(SessionError),
}

impl<E> CallError<E> {
    /// Maps a runtime-level failure reported by the peer.
    pub fn from_remote(e: RemoteError) -> Self {
        match e {
            RemoteError::UnknownMethod => CallError::UnknownMethod,
            RemoteError::InvalidPayload => CallError::InvalidPayload,
            RemoteError::Cancelled => CallError::Cancelled,
            RemoteError::DeadlineExceeded => CallError::DeadlineExceeded,
            RemoteError::Overloaded => CallError::Overloaded,
            RemoteError::Unavailable => CallError::Unavailable,
            RemoteError::Internal => CallError::Internal,
        }
    }

    /// The user error, if the handler returned one.
    pub fn into_user(self) -> Option<E> {
        match self {
            CallError::User(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
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
    #[error("data, close or credit on unknown channel {0}")]
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
        }
    }

    /// The `Goodbye` reason text: `"<rule>: <detail>"`.
    pub fn goodbye_reason(&self) -> String {
        format!("{}: {}", self.rule(), self)
    }
}
