//! The state of one connection of a session (the root, 0, today; virtual connections later add
//! entries): its request IDs, the calls in flight both ways, the calls waiting to be sent, its
//! channels and its schema table. Plain data; `session/mod.rs` drives it.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::channels::Channels;
use super::ids::{IdAllocator, Role};
use super::schemas::SchemaTable;
use super::{CallStarted, OutgoingCall};

/// One of our calls, sent and not yet answered.
#[derive(Debug)]
pub struct Outgoing {
    pub method_id: u64,
    pub deadline: Option<Instant>,
    /// We gave up on it (cancelled, or its deadline passed): its late `Response` is dropped.
    pub abandoned: bool,
}

/// One of the peer's calls we are serving.
#[derive(Debug)]
pub struct Incoming {
    pub method_id: u64,
    pub deadline: Option<Instant>,
}

/// A call of ours waiting for the handshake or for a slot under the peer's limit.
#[derive(Debug)]
pub struct Waiting {
    pub started: CallStarted,
    pub call: OutgoingCall,
    pub deadline: Option<Instant>,
}

/// One connection's tables.
#[derive(Debug)]
pub struct Conn {
    pub request_ids: IdAllocator,
    pub outgoing: HashMap<u64, Outgoing>,
    pub waiting: VecDeque<Waiting>,
    pub incoming: HashMap<u64, Incoming>,
    pub channels: Channels,
    pub schemas: SchemaTable,
}

impl Conn {
    pub fn new(role: Role) -> Self {
        Conn {
            request_ids: IdAllocator::new(role),
            outgoing: HashMap::new(),
            waiting: VecDeque::new(),
            incoming: HashMap::new(),
            channels: Channels::new(role),
            schemas: SchemaTable::default(),
        }
    }
}
