//! The state of one connection of a session (the root, 0, today; virtual connections later add
//! entries): the calls in flight both ways, the calls waiting to be sent, its channels and its
//! schema table. Each call and each channel is one entry in one table, holding the protocol's
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

/// One connection's tables.
#[derive(Debug)]
pub struct Conn<A: Attachments> {
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

    pub fn new(role: Role) -> Self {
        Conn {
            outgoing: HashMap::new(),
            sent: 0,
            waiting: VecDeque::new(),
            incoming: HashMap::new(),
            channels: Channels::new(role),
            schemas: SchemaTable::default(),
        }
    }
}

/// The connections of a session, by ID. The root connection, which every message of a session
/// without virtual connections names, is found with a comparison instead of a hash lookup.
#[derive(Debug)]
pub struct Conns<A: Attachments> {
    root: Conn<A>,
    /// Virtual connections (none yet).
    others: HashMap<ConnId, Conn<A>>,
}

impl<A: Attachments> Conns<A> {
    /// The root connection alone.
    pub fn new(role: Role) -> Self {
        Conns {
            root: Conn::new(role),
            others: HashMap::new(),
        }
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
