//! The runtime's API errors: what calls and channels return to application code.
//!
//! - [`CallError`] is what a call returns: the callee's user error `E`, a runtime-level
//!   failure reported by the callee ([`RemoteError`] on the wire), a local codec failure, or the
//!   session going away.
//! - [`ChannelError`] is what a `Tx`/`Rx` operation returns.
//!
//! The protocol's own errors ([`SessionError`], [`ProtocolViolation`], [`RemoteError`],
//! [`TimedOut`]) are defined in `roam-proto` and re-exported here.

pub use roam_proto::error::{ProtocolViolation, RefusedBy, RemoteError, SessionError, TimedOut};

use crate::codec::CodecError;

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
    Channel(#[from] ChannelError),
    /// The two sides' types for this call cannot be reconciled: the peer could not read our
    /// arguments, or we cannot read its response. The text names the field and both types.
    #[error("incompatible schemas: {0}")]
    IncompatibleSchema(String),
    /// A server interceptor refused the call before its handler ran; the text is its reason.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The response was malformed (not a valid `Result<T, RoamError<E>>`).
    #[error("the peer sent a malformed response: {0}")]
    MalformedResponse(&'static str),
    /// The call's metadata breaks the protocol's limits (at most
    /// [`Metadata::MAX_ENTRIES`](crate::Metadata::MAX_ENTRIES) entries, keys of at most
    /// [`Metadata::MAX_KEY_LEN`](crate::Metadata::MAX_KEY_LEN) bytes); nothing was sent.
    #[error("the call's metadata is over the protocol limits ({0}); send fewer or shorter entries")]
    Metadata(&'static str),
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
            // `RemoteError` grows with the protocol; a code this runtime does not know yet is
            // reported as what it is, not guessed at.
            _ => CallError::MalformedResponse("a runtime error code this version does not know"),
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

/// Why a channel operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The receiver gave up on the stream (its `Rx` was dropped); stop sending.
    #[error("the receiver reset the channel; stop sending")]
    Reset,
    /// The call the channel belongs to was cancelled before it was sent.
    #[error("the call this channel belongs to was cancelled")]
    Cancelled,
    /// The session ended.
    #[error("the connection was lost: {0}")]
    ConnectionLost(SessionError),
    /// An item could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// An item is larger than one frame may carry.
    #[error("the item is {len} bytes but the session allows {max} per message; send smaller items")]
    TooLarge {
        /// Encoded size.
        len: usize,
        /// Frame limit.
        max: u32,
    },
    /// The other end of this pair was dropped without being passed to a call.
    #[error("the other end of this channel was dropped without being passed to a call")]
    Unbound,
    /// The sender's item type cannot be read as this end's (the schemas differ incompatibly);
    /// the text names the field and both types.
    #[error("the channel's items cannot be read as this type: {0}")]
    IncompatibleSchema(String),
    /// A channel end already bound to one call was passed to another.
    #[error("this channel end already belongs to a call; create a new pair with roam::channel()")]
    AlreadyBound,
}
