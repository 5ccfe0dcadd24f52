//! What one side of a session is configured with: its announced limits and its timers.

use std::time::Duration;

use crate::metadata::Metadata;
use crate::wire::Limits;

/// Keepalive: a `Ping` every `interval`; a `Pong` must come back within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time from the handshake (or the last `Pong`) to the next `Ping`.
    pub interval: Duration,
    /// How long a `Ping` may go unanswered before the link is declared dead.
    pub timeout: Duration,
}

impl Keepalive {
    /// The shortest interval used: a smaller (or zero) one is raised to this, so a peer that
    /// answers at once cannot be pinged in a busy loop.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

    /// The interval in force: [`Keepalive::interval`], at least [`Keepalive::MIN_INTERVAL`].
    pub fn interval(&self) -> Duration {
        self.interval.max(Self::MIN_INTERVAL)
    }

    /// The defaults: a ping every 15 s, answered within 20 s. A dead peer is noticed within
    /// 35 s; a live one costs two tiny frames per 15 s.
    pub const DEFAULT: Keepalive = Keepalive {
        interval: Duration::from_secs(15),
        timeout: Duration::from_secs(20),
    };
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive::DEFAULT
    }
}

/// Resumption: the session numbers, acknowledges and keeps what it sends until the peer has it,
/// so that it survives a lost link (see [`Session::resume`](super::Session::resume)). Used only
/// when both sides' `Hello`s agree (the initiator offers, the acceptor grants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resumption {
    /// Bytes of unacknowledged messages kept for replay before senders of channel items and
    /// new calls wait for acknowledgements (answers and small control messages still go, so
    /// the buffer may pass it by what calls in flight answer). Default 4 MiB.
    pub buffer: u32,
    /// How long a session whose link was lost is kept for its peer to come back; after it,
    /// the session ends and its handlers are stopped. Default 60 s.
    pub grace: std::time::Duration,
    /// Longest an acknowledgement is held back to be coalesced with later ones. Default 10 ms.
    pub ack_delay: std::time::Duration,
    /// An acknowledgement goes at once after this many messages (or a quarter of the peer's
    /// buffer in bytes). Default 64.
    pub ack_every: u32,
}

impl Default for Resumption {
    fn default() -> Self {
        Resumption {
            buffer: 4 * 1024 * 1024,
            grace: Duration::from_secs(60),
            ack_delay: Duration::from_millis(10),
            ack_every: 64,
        }
    }
}

/// Configuration of one side of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The limits this side announces.
    pub limits: Limits,
    /// The peer's `Hello` must arrive within this long (default 10 s).
    pub handshake_timeout: Duration,
    /// Keepalive pings; `None` turns them off (the session then relies on the transport to
    /// report a dead peer, which TCP may take many minutes to do).
    pub keepalive: Option<Keepalive>,
    /// Draining (graceful shutdown): how long calls in flight may keep running before they are
    /// stopped and answered `Unavailable` (default 30 s).
    pub drain_grace: Duration,
    /// Closing: how long the final frames (`Goodbye` and what precedes it) may take to reach a
    /// peer before the link is dropped anyway (default 2 s).
    pub close_linger: Duration,
    /// Output backpressure: how long the driver may report our output blocked (the peer
    /// reading none of it) before the session is ended with a `Goodbye` (default 30 s).
    pub output_stall_timeout: Duration,
    /// Acceptor only: hold our `Hello` until the application admits the initiator's (see
    /// [`SessionEvent::Admit`](super::SessionEvent::Admit)), so that a refusal reaches the
    /// initiator as a `Goodbye` naming why instead of a `Hello`. Default `false`.
    pub admission: bool,
    /// What our `Hello` says about us: an initiator's credentials. Must be within the
    /// metadata limits ([`Metadata::check_limits`]); the runtime checks that when it is set.
    pub metadata: Metadata,
    /// Resumption, if this side offers (initiator) or grants (acceptor) it; `None` (the
    /// default) makes the session end with its link. An acceptor with resumption holds its
    /// `Hello` until the initiator's says whether it starts a session or resumes one.
    pub resumption: Option<Resumption>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            limits: Limits::default(),
            handshake_timeout: Duration::from_secs(10),
            keepalive: Some(Keepalive::DEFAULT),
            drain_grace: Duration::from_secs(30),
            close_linger: Duration::from_secs(2),
            output_stall_timeout: Duration::from_secs(30),
            admission: false,
            metadata: Metadata::new(),
            resumption: None,
        }
    }
}
