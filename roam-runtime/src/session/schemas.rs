//! Which schemas this session has announced and which the peer has announced.
//!
//! Owns: the per-session schema table: for each (method, payload kind) the hash of the schema we
//! last announced (so each is sent once, before its first use, and again only if our type for
//! it changes) and the peer's latest announcement (bounded: a peer cannot make us keep more
//! than [`MAX_REMOTE_SCHEMAS`]). Must not: decode payloads or compile translations (that is
//! `crate::schemas`, on the caller's and handler's tasks, not in the session).

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::ProtocolViolation;
use crate::schemas::{LocalSchema, RemoteSchema};
use crate::wire::{SchemaAnnouncement, SchemaKind};

/// Most (method, kind) schemas a peer may announce on one session. Far above any real service
/// set; it only exists so that a hostile peer cannot grow the table without bound.
pub const MAX_REMOTE_SCHEMAS: usize = 4096;

#[derive(Debug, Default)]
pub struct SchemaTable {
    announced: HashMap<(u64, SchemaKind), u64>,
    received: HashMap<(u64, SchemaKind), Arc<RemoteSchema>>,
}

impl SchemaTable {
    /// Whether `local` must be announced before its next use for `(method_id, kind)`; records
    /// it as announced.
    pub fn needs_announcing(
        &mut self,
        method_id: u64,
        kind: SchemaKind,
        local: &LocalSchema,
    ) -> bool {
        self.announced.insert((method_id, kind), local.hash) != Some(local.hash)
    }

    /// Forgets an announcement that could not be sent, so the next use tries again.
    pub fn forget_announced(&mut self, method_id: u64, kind: SchemaKind) {
        self.announced.remove(&(method_id, kind));
    }

    /// Records the peer's announcement; it applies to every later message of that method.
    pub fn receive(&mut self, msg: &SchemaAnnouncement) -> Result<(), ProtocolViolation> {
        let key = (msg.method_id, msg.kind);
        if !self.received.contains_key(&key) && self.received.len() >= MAX_REMOTE_SCHEMAS {
            return Err(ProtocolViolation::TooManySchemas(MAX_REMOTE_SCHEMAS));
        }
        let remote = RemoteSchema::parse(msg.kind, &msg.schema).map_err(|e| {
            ProtocolViolation::BadSchema {
                method_id: msg.method_id,
                detail: e.to_string(),
            }
        })?;
        self.received.insert(key, Arc::new(remote));
        Ok(())
    }

    /// The peer's current schema for `(method_id, kind)`, if it announced one.
    pub fn remote(&self, method_id: u64, kind: SchemaKind) -> Option<Arc<RemoteSchema>> {
        self.received.get(&(method_id, kind)).cloned()
    }

    pub fn clear(&mut self) {
        self.announced.clear();
        self.received.clear();
    }
}
