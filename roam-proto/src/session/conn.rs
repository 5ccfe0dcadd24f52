//! The state of one connection of a session (the root, 0, and the virtual connections either
//! side opened): where it is in its life, its limits, the calls in flight both ways, the calls
//! waiting to be sent, its channels and its schema table. Each call and each channel is one entry in one table, holding the protocol's
//! state and what the application keeps with it (see [`Attachments`]). Plain data;
//! `session/mod.rs` drives it.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::time::Instant;

use super::channels::Channels;
use super::ids::Role;
use super::schemas::SchemaTable;
use super::{Cancelled, ConnId, OutgoingCall, ROOT};

/// What the application keeps with each call and channel. The session stores it in the same
/// entry as the protocol state, so one table (and one lookup) serves both, and hands it back
/// when the entry ends: with the answer, the failure, the stop or the session's end.
///
/// `()` keeps nothing (what the session's own tests use).
pub trait Attachments {
    /// Kept with each call of ours, from [`Session::call`](super::Session::call) to its
    /// answer or failure (a caller waiting for the response, say).
    type Call: Debug;
    /// Kept with each of the peer's calls we serve, from
    /// [`Session::serving`](super::Session::serving) until it is answered or stopped (the
    /// handler's task, say).
    type Serve: Debug;
    /// Kept with each channel the application holds an end of. Events about a live channel
    /// (items, credit) only name it; the application finds its end with
    /// [`Session::channel_end`](super::Session::channel_end).
    type Channel: Debug;
}

impl Attachments for () {
    type Call = ();
    type Serve = ();
    type Channel = ();
}

/// Where one of our calls is.
#[derive(Debug)]
pub enum OutgoingState {
    /// Waiting for the handshake or for a slot under the peer's limit; its channels are
    /// allocated but not open.
    Waiting {
        call: OutgoingCall,
        channels: Vec<u64>,
    },
    /// Sent, not yet answered.
    Sent,
}

/// One of our calls.
#[derive(Debug)]
pub struct Outgoing<A: Attachments> {
    pub method_id: u64,
    pub deadline: Option<Instant>,
    pub state: OutgoingState,
    /// The application's attachment; `None` once we gave up on the call (cancelled, or its
    /// deadline passed), so its late `Response` is dropped.
    pub attach: Option<A::Call>,
}

/// One of the peer's calls we are serving.
#[derive(Debug)]
pub struct Incoming<A: Attachments> {
    pub method_id: u64,
    pub deadline: Option<Instant>,
    pub serve: Option<A::Serve>,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStatus {
    /// We sent `Open`; calls wait until the peer's `Accept`.
    Opening,
    /// The peer sent `Open`; the application has not decided yet.
    Requested,
    /// Calls and channels flow.
    Open,
}

/// One connection's tables.
#[derive(Debug)]
pub struct Conn<A: Attachments> {
    pub status: ConnStatus,
    /// Requests we serve at once here (the root's is the session config's).
    pub serve_limit: u32,
    /// Requests the peer serves at once here: ours beyond it wait (the root's is the
    /// handshake's).
    pub peer_limit: u32,
    /// Our calls, waiting or sent, by request ID.
    pub outgoing: HashMap<u64, Outgoing<A>>,
    /// Our calls sent and not answered (the peer's limit counts these).
    pub sent: usize,
    /// IDs of the waiting calls in `outgoing`, in call order.
    pub waiting: VecDeque<u64>,
    pub incoming: HashMap<u64, Incoming<A>>,
    pub channels: Channels<A::Channel>,
    pub schemas: SchemaTable,
}

impl<A: Attachments> Conn<A> {
    /// Gives up on call `id`: a waiting call leaves the table with its queued channels; a sent
    /// one stays (without its attachment) until its late answer arrives. `None` if it is gone
    /// or was given up already.
    pub fn give_up(&mut self, id: u64) -> Option<Cancelled<A>> {
        let entry = self.outgoing.get_mut(&id)?;
        let call = entry.attach.take()?;
        let deadline = entry.deadline.take();
        if matches!(entry.state, OutgoingState::Sent) {
            return Some(Cancelled {
                call,
                sent: true,
                channels: Vec::new(),
                deadline,
            });
        }
        let mut channels = Vec::new();
        if let Some(Outgoing {
            state: OutgoingState::Waiting { channels: ids, .. },
            ..
        }) = self.outgoing.remove(&id)
        {
            self.waiting.retain(|w| *w != id);
            channels = ids
                .into_iter()
                .filter_map(|c| self.channels.forget_queued(c))
                .collect();
        }
        Some(Cancelled {
            call,
            sent: false,
            channels,
            deadline,
        })
    }

    /// Removes call `id` if it was sent (so it can be answered).
    pub fn take_sent(&mut self, id: u64) -> Option<Outgoing<A>> {
        if !matches!(self.outgoing.get(&id)?.state, OutgoingState::Sent) {
            return None;
        }
        self.sent -= 1;
        self.outgoing.remove(&id)
    }

    pub fn new(role: Role, status: ConnStatus) -> Self {
        Conn {
            status,
            serve_limit: u32::MAX,
            peer_limit: u32::MAX,
            outgoing: HashMap::new(),
            sent: 0,
            waiting: VecDeque::new(),
            incoming: HashMap::new(),
            channels: Channels::new(role),
            schemas: SchemaTable::default(),
        }
    }

    /// Empties the tables into `released` (what was attached to every call, handler and
    /// channel), and returns the deadlines still set, for the session's timers.
    pub fn release_into(&mut self, released: &mut super::Released<A>) -> Vec<(Instant, bool, u64)> {
        let mut deadlines = Vec::new();
        self.waiting.clear();
        self.sent = 0;
        for (id, call) in self.outgoing.drain() {
            if let Some(at) = call.deadline {
                deadlines.push((at, true, id));
            }
            released.calls.extend(call.attach);
        }
        for (id, call) in self.incoming.drain() {
            if let Some(at) = call.deadline {
                deadlines.push((at, false, id));
            }
            released.serving.extend(call.serve);
        }
        released.channels.extend(self.channels.drain_ends());
        self.schemas.clear();
        deadlines
    }
}

/// What a message naming a connection finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnLookup {
    /// Open: the message applies.
    Open,
    /// Opened once and closed since: the message crossed the close and is dropped.
    Closed,
    /// Never opened, or not open yet: the peer broke the rules.
    Unknown,
}

/// The connections of a session, by ID. The root connection, which every message of a session
/// without virtual connections names, is found with a comparison instead of a hash lookup.
#[derive(Debug)]
pub struct Conns<A: Attachments> {
    role: Role,
    root: Conn<A>,
    /// Virtual connections, open or opening.
    others: HashMap<ConnId, Conn<A>>,
    /// The last connection ID we allocated (0: none yet).
    last_ours: ConnId,
    /// The last connection ID the peer opened (0: none yet).
    last_peers: ConnId,
    /// Entries of `others` the peer opened.
    peers_live: usize,
}

impl<A: Attachments> Conns<A> {
    /// Virtual connections one side may have open or opening at once.
    pub const MAX_OPENED: usize = 1024;

    /// The root connection alone.
    pub fn new(role: Role) -> Self {
        Conns {
            role,
            root: Conn::new(role, ConnStatus::Open),
            others: HashMap::new(),
            last_ours: 0,
            last_peers: 0,
            peers_live: 0,
        }
    }

    /// Virtual connections we opened that are open or opening.
    pub fn ours_live(&self) -> usize {
        self.others.len() - self.peers_live
    }

    /// Virtual connections the peer opened that are open or waiting for our decision.
    pub fn peers_live(&self) -> usize {
        self.peers_live
    }

    /// Virtual connections, both sides'.
    pub fn virtual_len(&self) -> usize {
        self.others.len()
    }

    /// Allocates our next connection ID and adds it, opening.
    pub fn open_ours(&mut self, serve_limit: u32) -> ConnId {
        // Parity like request IDs: the initiator's are odd, the acceptor's even.
        let id = if self.last_ours == 0 {
            self.role.request_id(0)
        } else {
            self.last_ours + 2
        };
        self.last_ours = id;
        let mut conn = Conn::new(self.role, ConnStatus::Opening);
        conn.serve_limit = serve_limit;
        self.others.insert(id, conn);
        id
    }

    /// Whether `id` is a valid next connection for the peer to open (its parity, above its
    /// last).
    pub fn peer_may_open(&self, id: ConnId) -> bool {
        self.role.peer().owns(id) && id > self.last_peers
    }

    /// Adds the connection the peer opened (checked with [`peer_may_open`](Self::peer_may_open)).
    pub fn open_peers(&mut self, id: ConnId, peer_limit: u32) {
        self.last_peers = id;
        self.peers_live += 1;
        let mut conn = Conn::new(self.role, ConnStatus::Requested);
        conn.peer_limit = peer_limit;
        self.others.insert(id, conn);
    }

    /// Takes virtual connection `id` out (closed or rejected).
    pub fn remove(&mut self, id: ConnId) -> Option<Conn<A>> {
        let conn = self.others.remove(&id)?;
        if !self.role.owns(id) {
            self.peers_live -= 1;
        }
        Some(conn)
    }

    /// What a message from the peer naming connection `id` finds.
    pub fn lookup(&self, id: ConnId) -> ConnLookup {
        if id == ROOT {
            return ConnLookup::Open;
        }
        match self.others.get(&id) {
            Some(conn) if conn.status == ConnStatus::Open => ConnLookup::Open,
            Some(_) => ConnLookup::Unknown,
            None if self.was_opened(id) => ConnLookup::Closed,
            None => ConnLookup::Unknown,
        }
    }

    /// Whether `id` names a connection opened at some point in this session.
    pub fn was_opened(&self, id: ConnId) -> bool {
        let last = if self.role.owns(id) {
            self.last_ours
        } else {
            self.last_peers
        };
        id != ROOT && id <= last
    }

    pub fn get(&self, id: &ConnId) -> Option<&Conn<A>> {
        if *id == ROOT {
            Some(&self.root)
        } else {
            self.others.get(id)
        }
    }

    pub fn get_mut(&mut self, id: &ConnId) -> Option<&mut Conn<A>> {
        if *id == ROOT {
            Some(&mut self.root)
        } else {
            self.others.get_mut(id)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ConnId, &Conn<A>)> {
        std::iter::once((&ROOT, &self.root)).chain(self.others.iter())
    }

    pub fn values(&self) -> impl Iterator<Item = &Conn<A>> {
        std::iter::once(&self.root).chain(self.others.values())
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Conn<A>> {
        std::iter::once(&mut self.root).chain(self.others.values_mut())
    }
}
