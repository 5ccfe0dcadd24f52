//! Virtual connections (`docs/protocol.md` §9): opening one (`Open`, then the peer's `Accept`
//! or `Reject`), deciding on one the peer opened, and closing one from either side. Owns the
//! rules about which connection a message may name; the tables themselves are in `conn.rs`,
//! and what flows on an open connection is the rest of the session's business.
//!
//! All four messages are session messages: numbered, kept for replay and sent again on a
//! resume, so connections survive a lost link like the calls on them.

use std::time::Instant;

use super::conn::{ConnLookup, ConnStatus, Conns};
use super::deadlines::Side;
use super::{Attachments, ConnId, Phase, ROOT, Released, Session, SessionEvent, cut_utf8};
use crate::error::{ProtocolViolation, SessionError};
use crate::metadata::Metadata;
use crate::wire::{MAX_REASON, Message, OpenConnection};

/// Bytes `Reject` and `CloseConnection` add around the reason: tag, `conn`, length.
const REASON_OVERHEAD: usize = 1 + 10 + 5;

/// Why [`Session::open_connection`] opened nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The session has not finished its handshake, or has ended.
    #[error("the session is not established")]
    NotEstablished,
    /// The session has ended.
    #[error(transparent)]
    Closed(SessionError),
    /// This side already has as many virtual connections open or opening as a session keeps.
    #[error(
        "this side already has {0} virtual connections open or opening; close some before opening more"
    )]
    TooMany(usize),
    /// The metadata breaks the protocol's limits, or makes the `Open` larger than a frame.
    #[error("the connection's metadata cannot be sent: {0}")]
    Metadata(String),
}

impl<A: Attachments> Session<A> {
    /// Opens a virtual connection: sends `Open` with `metadata` (what the peer's acceptor
    /// decides on) and `max_concurrent_requests` (how many of the peer's calls we serve at
    /// once on it). Calls made on the returned ID wait until the peer accepts
    /// ([`SessionEvent::ConnectionAccepted`]); a refusal is
    /// [`SessionEvent::ConnectionRejected`] and fails them.
    pub fn open_connection(
        &mut self,
        metadata: Metadata,
        max_concurrent_requests: u32,
    ) -> Result<ConnId, OpenError> {
        if let Some(e) = &self.ended {
            return Err(OpenError::Closed(e.clone()));
        }
        if !matches!(self.phase, Phase::Established) {
            return Err(OpenError::NotEstablished);
        }
        if self.conns.ours_live() >= Conns::<A>::MAX_OPENED {
            return Err(OpenError::TooMany(Conns::<A>::MAX_OPENED));
        }
        metadata
            .check_limits()
            .map_err(|e| OpenError::Metadata(e.to_owned()))?;
        let max = self.max_frame_size();
        let conn = self.conns.open_ours(max_concurrent_requests);
        let msg = Message::Open(OpenConnection {
            conn,
            metadata,
            max_concurrent_requests,
        });
        if let Err(e) = self.out.send(&msg, max) {
            self.conns.remove(conn);
            return Err(OpenError::Metadata(e.to_string()));
        }
        Ok(conn)
    }

    /// Accepts the connection the peer opened ([`SessionEvent::ConnectionRequested`]): sends
    /// `Accept` with our `metadata` and how many of the peer's calls we serve at once on it.
    /// `false` if it is not waiting for a decision (closed by the peer meanwhile, say).
    pub fn accept_connection(
        &mut self,
        conn: ConnId,
        metadata: Metadata,
        max_concurrent_requests: u32,
    ) -> bool {
        if self.is_closed() {
            return false;
        }
        let max = self.max_frame_size();
        let metadata = match metadata.check_limits() {
            Ok(()) => metadata,
            Err(limit) => {
                tracing::warn!(conn, limit, "accept metadata over the limits; sending none");
                Metadata::new()
            }
        };
        match self.conns.get_mut(&conn) {
            Some(c) if conn != ROOT && c.status == ConnStatus::Requested => {
                c.status = ConnStatus::Open;
                c.serve_limit = max_concurrent_requests;
            }
            _ => return false,
        }
        let msg = Message::Accept(OpenConnection {
            conn,
            metadata,
            max_concurrent_requests,
        });
        if self.out.send(&msg, max).is_err() {
            // Metadata that does not fit the frame: the connection opens without it.
            self.out.send_small(
                &Message::Accept(OpenConnection {
                    conn,
                    metadata: Metadata::new(),
                    max_concurrent_requests,
                }),
                max,
            );
        }
        true
    }

    /// Refuses the connection the peer opened, telling it `reason` (cut to
    /// [`MAX_REASON`] bytes). `false` if it is not waiting for a decision.
    pub fn reject_connection(&mut self, conn: ConnId, reason: &str) -> bool {
        if self.is_closed()
            || conn == ROOT
            || self.conns.get(&conn).map(|c| c.status) != Some(ConnStatus::Requested)
        {
            return false;
        }
        self.conns.remove(conn);
        let reason = self.reason_to_send(reason);
        self.send_small(&Message::Reject { conn, reason });
        true
    }

    /// Closes virtual connection `conn` (open, or opened by us and still opening): tells the
    /// peer, and returns what was attached to its calls, handlers and channels, which are
    /// gone (the application fails the calls and channels and stops the handlers). `None`
    /// if it is not open.
    pub fn close_connection(&mut self, conn: ConnId, reason: &str) -> Option<Released<A>> {
        if conn == ROOT
            || self.conns.get(&conn)?.status == ConnStatus::Requested
            || self.is_closed()
        {
            return None;
        }
        let released = self.forget_connection(conn)?;
        let reason = self.reason_to_send(reason);
        self.send_small(&Message::CloseConnection { conn, reason });
        Some(released)
    }

    /// Whether virtual connection `conn` is open (accepted both ways).
    pub fn connection_is_open(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.status == ConnStatus::Open)
    }

    /// Virtual connections open or opening, both sides' together.
    pub fn virtual_connections(&self) -> usize {
        self.conns.virtual_len()
    }

    /// Checks that a call, channel or schema message from the peer names a connection it
    /// may use. `false` if the message is to be dropped (a closed connection) or the session
    /// ended on the violation.
    pub(super) fn peer_may_use(&mut self, now: Instant, conn: ConnId) -> bool {
        match self.conns.lookup(conn) {
            ConnLookup::Open => true,
            ConnLookup::Closed => false,
            ConnLookup::Unknown => {
                self.violate(now, ProtocolViolation::UnknownConnection(conn));
                false
            }
        }
    }

    pub(super) fn handle_open(&mut self, now: Instant, open: OpenConnection) {
        if !self.conns.peer_may_open(open.conn) {
            return self.violate(now, ProtocolViolation::UnknownConnection(open.conn));
        }
        if self.conns.peers_live() >= Conns::<A>::MAX_OPENED {
            return self.violate(
                now,
                ProtocolViolation::TooManyConnections(Conns::<A>::MAX_OPENED),
            );
        }
        if let Err(limit) = open.metadata.check_limits() {
            return self.violate(now, ProtocolViolation::Metadata(limit));
        }
        self.conns
            .open_peers(open.conn, open.max_concurrent_requests);
        if matches!(self.phase, Phase::Draining { .. }) {
            self.reject_connection(open.conn, "the peer is shutting down");
            return;
        }
        self.out.event(SessionEvent::ConnectionRequested {
            conn: open.conn,
            metadata: open.metadata,
        });
    }

    pub(super) fn handle_accept(&mut self, now: Instant, accept: OpenConnection) {
        let crossed_our_close = self.role.owns(accept.conn) && self.conns.was_opened(accept.conn);
        match self.conns.get_mut(&accept.conn) {
            Some(c) if accept.conn != ROOT && c.status == ConnStatus::Opening => {
                c.status = ConnStatus::Open;
                c.peer_limit = accept.max_concurrent_requests;
            }
            // We closed it while the `Accept` was on its way.
            None if crossed_our_close => return,
            _ => return self.violate(now, ProtocolViolation::UnknownConnection(accept.conn)),
        }
        if let Err(limit) = accept.metadata.check_limits() {
            return self.violate(now, ProtocolViolation::Metadata(limit));
        }
        self.out.event(SessionEvent::ConnectionAccepted {
            conn: accept.conn,
            metadata: accept.metadata,
        });
        self.pump_waiting(now, accept.conn);
    }

    pub(super) fn handle_reject(&mut self, now: Instant, conn: ConnId, reason: String) {
        match self.conns.get(&conn) {
            Some(c) if conn != ROOT && c.status == ConnStatus::Opening => {}
            None if self.role.owns(conn) && self.conns.was_opened(conn) => return,
            _ => return self.violate(now, ProtocolViolation::UnknownConnection(conn)),
        }
        let Some(released) = self.forget_connection(conn) else {
            return;
        };
        self.out.event(SessionEvent::ConnectionRejected {
            conn,
            reason,
            calls: released.calls,
            channels: released.channels,
        });
    }

    pub(super) fn handle_close_connection(&mut self, now: Instant, conn: ConnId, reason: String) {
        if conn == ROOT {
            return self.violate(now, ProtocolViolation::UnknownConnection(conn));
        }
        if self.conns.get(&conn).is_none() {
            if self.conns.was_opened(conn) {
                // Crossed our own close (or our rejection).
                return;
            }
            return self.violate(now, ProtocolViolation::UnknownConnection(conn));
        }
        let Some(released) = self.forget_connection(conn) else {
            return;
        };
        self.out.event(SessionEvent::ConnectionClosed {
            conn,
            reason,
            calls: released.calls,
            serving: released.serving,
            channels: released.channels,
        });
    }

    /// Takes `conn` out of the tables with its deadlines.
    fn forget_connection(&mut self, conn: ConnId) -> Option<Released<A>> {
        let mut gone = self.conns.remove(conn)?;
        let mut released = Released::default();
        for (at, outgoing, id) in gone.release_into(&mut released) {
            let side = if outgoing {
                Side::Outgoing
            } else {
                Side::Incoming
            };
            self.deadlines.remove(at, side, conn, id);
        }
        Some(released)
    }

    fn reason_to_send(&self, reason: &str) -> String {
        let room = (self.max_frame_size() as usize).saturating_sub(REASON_OVERHEAD);
        cut_utf8(reason, MAX_REASON.min(room)).to_owned()
    }
}
