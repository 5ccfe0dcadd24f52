//! Protocol message types. Variant order is the wire discriminant and never changes; new
//! variants are only ever appended.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::metadata::Metadata;

/// The protocol version this runtime speaks. 2: `Hello` carries `metadata` (version 1's had no
/// such field). 3: `Hello` carries `replay`, `Resume` a `proof`, and `Ack` exists.
pub const PROTOCOL_VERSION: u32 = 3;

/// One protocol message (one frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// 0: first message of each side.
    Hello(Hello),
    /// 1: the sender is ending the session; `reason` says why (`"<rule>: <detail>"` on a violation).
    Goodbye {
        /// Human-readable reason; starts with a stable rule name on protocol violations.
        reason: String,
    },
    /// 2: a call.
    Request(Request),
    /// 3: the one answer to a request.
    Response(Response),
    /// 4: the caller gave up on a request.
    Cancel(Cancel),
    /// 5: keepalive probe.
    Ping {
        /// Echoed in the `Pong`.
        nonce: u64,
    },
    /// 6: keepalive answer.
    Pong {
        /// The `Ping`'s nonce.
        nonce: u64,
    },
    /// 7: one item on a channel.
    Data {
        /// Connection of the channel.
        conn: u64,
        /// Channel ID.
        channel: u64,
        /// The postcard encoding of the item.
        #[serde(with = "crate::wire::payload")]
        payload: Bytes,
    },
    /// 8: the sender is done; no more `Data` follows.
    Close {
        /// Connection of the channel.
        conn: u64,
        /// Channel ID.
        channel: u64,
    },
    /// 9: the receiver gives up; the sender stops and answers `Close`.
    Reset {
        /// Connection of the channel.
        conn: u64,
        /// Channel ID.
        channel: u64,
    },
    /// 10: the receiver allows `n` more items.
    Credit {
        /// Connection of the channel.
        conn: u64,
        /// Channel ID.
        channel: u64,
        /// Additional items allowed.
        n: u32,
    },
    /// 11: the sender's schema for one side of a method, sent before the first `Request`
    /// (arguments) or `Response` (return type) that uses it on this session, and again whenever
    /// the sender's type for it changes.
    Schema(SchemaAnnouncement),
    /// 12: the sender has received (and handled) the first `received` session-level messages
    /// of the peer's; they leave the peer's replay buffer. Only on a session whose `Hello`s
    /// agreed on [`Replay`].
    Ack {
        /// Session-level messages received so far (the last one's sequence number).
        received: u64,
    },
    /// 13: the sender opens virtual connection `conn` (an ID of its parity, above its last).
    Open(OpenConnection),
    /// 14: the receiver of `Open` accepts the connection.
    Accept(OpenConnection),
    /// 15: the receiver of `Open` refuses the connection; its ID is never used again.
    Reject {
        /// The connection refused.
        conn: u64,
        /// The acceptor's words for the opener (at most [`MAX_REASON`] bytes).
        reason: String,
    },
    /// 16: the sender has closed virtual connection `conn`: its calls, handlers and channels
    /// there are gone.
    CloseConnection {
        /// The connection closed.
        conn: u64,
        /// Why (at most [`MAX_REASON`] bytes).
        reason: String,
    },
}

/// The longest `Reject` or `CloseConnection` reason a sender puts on the wire, in bytes
/// (longer ones are cut on a UTF-8 boundary).
pub const MAX_REASON: usize = 1024;

/// What `Open` and `Accept` say about a virtual connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenConnection {
    /// The connection.
    pub conn: u64,
    /// What the sender says about the connection (the opener: which services it wants,
    /// credentials). Same limits as call metadata.
    pub metadata: Metadata,
    /// Requests the sender serves at once on this connection; the peer queues calls beyond it.
    pub max_concurrent_requests: u32,
}

/// Which layer a message belongs to, which decides how it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// About the link itself (`Hello`, `Goodbye`, `Ping`, `Pong`, `Ack`): never numbered, never
    /// replayed.
    Link,
    /// Part of the session's conversation (calls, channels, schemas): numbered in send order so
    /// that resumption can replay what the peer missed.
    Session,
}

impl Message {
    /// The connection a call, channel or schema message belongs to (`None` for the messages
    /// about the link, the session, or a connection's opening and closing).
    pub fn conn(&self) -> Option<u64> {
        match self {
            Message::Request(Request { conn, .. })
            | Message::Response(Response { conn, .. })
            | Message::Cancel(Cancel { conn, .. })
            | Message::Data { conn, .. }
            | Message::Close { conn, .. }
            | Message::Reset { conn, .. }
            | Message::Credit { conn, .. }
            | Message::Schema(SchemaAnnouncement { conn, .. }) => Some(*conn),
            _ => None,
        }
    }

    /// The message's [`Class`].
    pub fn class(&self) -> Class {
        match self {
            Message::Hello(_)
            | Message::Goodbye { .. }
            | Message::Ping { .. }
            | Message::Pong { .. }
            | Message::Ack { .. } => Class::Link,
            Message::Request(_)
            | Message::Response(_)
            | Message::Cancel(_)
            | Message::Data { .. }
            | Message::Close { .. }
            | Message::Reset { .. }
            | Message::Credit { .. }
            | Message::Schema(_)
            | Message::Open(_)
            | Message::Accept(_)
            | Message::Reject { .. }
            | Message::CloseConnection { .. } => Class::Session,
        }
    }
}

/// Which payload of a method a [`SchemaAnnouncement`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SchemaKind {
    /// 0: the argument tuple of the method's requests (channel arguments excluded).
    Args,
    /// 1: the method's response, as `Result<T, E>` (`E` is the user error type).
    Response,
    /// 2: the item types of the request's channel arguments, as a tuple of `Channel` nodes in
    /// argument order (sent by the caller).
    Channels,
}

/// The sender's canonical schema (see `roam_core::schema`) for one payload of a method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaAnnouncement {
    /// Connection the schema applies to (0 is the root connection).
    pub conn: u64,
    /// The method.
    pub method_id: u64,
    /// Arguments or response.
    pub kind: SchemaKind,
    /// The canonical schema bytes.
    #[serde(with = "serde_bytes")]
    pub schema: Vec<u8>,
}

/// Which way a channel listed in a request carries items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelDirection {
    /// 0: the caller sends (the method takes an `Rx<T>`).
    CallerToCallee,
    /// 1: the callee sends (the method takes a `Tx<T>`).
    CalleeToCaller,
}

/// A channel bound to a request argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// Channel ID, allocated by the caller with the caller's parity.
    pub id: u64,
    /// Which way items flow.
    pub direction: ChannelDirection,
}

/// Limits a side announces; the effective limit is the minimum of both sides'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest frame (one encoded message) the sender accepts, in bytes.
    pub max_frame_size: u32,
    /// Items a channel sender may send before the first credit grant.
    pub initial_credit: u32,
    /// Requests the sender serves at once; the peer queues calls beyond it.
    pub max_concurrent_requests: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: 8 * 1024 * 1024,
            initial_credit: 64,
            max_concurrent_requests: 1024,
        }
    }
}

impl Limits {
    /// The smallest `max_frame_size` a side may announce: the small protocol messages (`Pong`,
    /// `Ack`, `Credit`, a `Goodbye` cut to fit, which still starts with its rule) fit in it, so
    /// a session can always say why it ends. A `Hello` announcing less is a `handshake`
    /// violation.
    pub const MIN_FRAME_SIZE: u32 = 64;

    /// Both sides' limits combined: the minimum of each.
    pub fn effective(self, peer: Limits) -> Limits {
        Limits {
            max_frame_size: self.max_frame_size.min(peer.max_frame_size),
            initial_credit: self.initial_credit.min(peer.initial_credit),
            max_concurrent_requests: self
                .max_concurrent_requests
                .min(peer.max_concurrent_requests),
        }
    }
}

/// The handshake message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// The sender's limits.
    pub limits: Limits,
    /// Set by the acceptor: the random 128-bit key naming this session.
    pub session_key: Option<[u8; 16]>,
    /// Set by an initiator that wants to resume a session.
    pub resume: Option<Resume>,
    /// What the sender says about itself: the initiator's credentials (e.g. `authorization`),
    /// which an acceptor checks before it answers with its own `Hello`. Same limits as call
    /// metadata.
    pub metadata: Metadata,
    /// Whether the session numbers, acknowledges and replays its messages so that it can
    /// survive a lost link (version 3).
    pub replay: Replay,
}

/// What a `Hello` says about resumption. The initiator offers, the acceptor grants (or not);
/// only a session both agreed on sends `Ack`s and can be resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Replay {
    /// 0: the sender neither acknowledges nor replays: the session ends with its link.
    Off,
    /// 1: initiator: the sender keeps up to `buffer` bytes of messages the peer has not
    /// acknowledged, and acknowledges what it receives.
    Offer {
        /// The sender's replay buffer, in bytes: the peer acknowledges well before it fills.
        buffer: u32,
    },
    /// 2: acceptor, answering an `Offer` on a fresh session: the session is resumable.
    Grant {
        /// The sender's replay buffer, in bytes.
        buffer: u32,
        /// The session's first resume secret; it never travels again (each resume rotates it,
        /// see `docs/protocol.md` §8).
        secret: [u8; 32],
    },
    /// 3: acceptor, accepting a resume: what it received before the link was lost; it replays
    /// what the initiator's `Resume::last_received` says was not seen, and both sides rotate
    /// the secret with `nonce`.
    Resumed {
        /// Session-level messages of the initiator's the acceptor has received.
        last_received: u64,
        /// Fresh randomness mixed into the next secret.
        nonce: [u8; 16],
    },
}

/// A request to resume an existing session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The session key the acceptor issued.
    pub session_key: [u8; 16],
    /// Session-level messages of the acceptor's the sender has received.
    pub last_received: u64,
    /// Fresh randomness of the sender's: makes each resume message (and its proof) unique,
    /// so one seen earlier is refused, and is mixed into the next secret.
    pub nonce: [u8; 16],
    /// Proof that the sender holds the session's current secret, bound to this key,
    /// `last_received` and `nonce` (see `docs/protocol.md` §8).
    pub proof: [u8; 32],
}

/// A call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Connection (0 is the root connection).
    pub conn: u64,
    /// Request ID; the initiator uses odd IDs, the acceptor even ones.
    pub id: u64,
    /// See `roam_core::method_id`.
    pub method_id: u64,
    /// Call metadata.
    pub metadata: Metadata,
    /// Channels bound to the method's `Tx`/`Rx` arguments, in argument order.
    pub channels: Vec<ChannelSpec>,
    /// Time the caller still waits, in microseconds, when the request was sent.
    pub timeout_micros: Option<u64>,
    /// The postcard encoding of the argument tuple.
    #[serde(with = "crate::wire::payload")]
    pub payload: Bytes,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Connection of the request.
    pub conn: u64,
    /// ID of the request.
    pub id: u64,
    /// Response metadata.
    pub metadata: Metadata,
    /// The postcard encoding of `Result<T, RoamError<E>>`.
    #[serde(with = "crate::wire::payload")]
    pub payload: Bytes,
}

/// The caller gave up on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    /// Connection of the request.
    pub conn: u64,
    /// ID of the request.
    pub id: u64,
}
