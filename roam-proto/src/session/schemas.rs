//! Which schemas this session has announced and which the peer has announced.
//!
//! Owns: the per-session schema table: for each (method, payload kind) what we last announced
//! (so each schema is sent once, before its first use, and again only if our type for it
//! changes) and the peer's latest announcement, bounded in count ([`MAX_REMOTE_SCHEMAS`]),
//! in size per schema ([`MAX_SCHEMA_BYTES`]) and in total ([`MAX_SCHEMA_TABLE_BYTES`]).
//! Must not: decode payloads or compile translations (the runtime does, on the caller's and
//! handler's tasks, not in the session).

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::ProtocolViolation;
use crate::schema::{LocalSchema, PeerSchema};
use crate::wire::{SchemaAnnouncement, SchemaKind};

/// Most (method, kind) schemas a peer may announce on one session. Far above any real service
/// set; it only exists so that a hostile peer cannot grow the table without bound.
pub const MAX_REMOTE_SCHEMAS: usize = 4096;

/// Largest canonical schema a side announces or accepts. A larger type is not announced (its
/// payloads are decoded as if both sides had the same type).
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// Most canonical schema bytes a peer may have announced on one session at a time.
pub const MAX_SCHEMA_TABLE_BYTES: usize = 1024 * 1024;

/// What to send before a message that uses a (method, kind).
#[derive(Debug, PartialEq, Eq)]
pub enum Announcement<'a> {
    /// The peer already has the right schema (or none, and we have none).
    Nothing,
    /// Send this schema.
    Schema(&'a [u8]),
    /// Send an empty schema: we announced one before but have none describable now, and the
    /// peer must stop using the old one.
    Retract,
}

#[derive(Debug, Default)]
pub struct SchemaTable {
    /// The hash we last announced per (method, kind); `None` after a retraction.
    announced: HashMap<(u64, SchemaKind), Option<u64>>,
    received: HashMap<(u64, SchemaKind), Arc<PeerSchema>>,
    received_bytes: usize,
}

impl SchemaTable {
    /// What must be announced before the next use of `(method_id, kind)` with our schema
    /// `local` (`None`: not describable); records it as announced.
    pub fn announcement<'a>(
        &mut self,
        method_id: u64,
        kind: SchemaKind,
        local: Option<&'a LocalSchema>,
    ) -> Announcement<'a> {
        let local = local.filter(|l| l.canonical.len() <= MAX_SCHEMA_BYTES);
        let key = (method_id, kind);
        match (local, self.announced.get(&key).copied()) {
            (Some(l), Some(Some(hash))) if hash == l.hash => Announcement::Nothing,
            (Some(l), _) => {
                self.announced.insert(key, Some(l.hash));
                Announcement::Schema(&l.canonical)
            }
            (None, Some(Some(_))) => {
                self.announced.insert(key, None);
                Announcement::Retract
            }
            (None, _) => Announcement::Nothing,
        }
    }

    /// Records the peer's announcement; it applies to every later message of that method.
    /// An empty schema withdraws the previous one.
    pub fn receive(&mut self, msg: &SchemaAnnouncement) -> Result<(), ProtocolViolation> {
        let key = (msg.method_id, msg.kind);
        let bad = |detail: String| ProtocolViolation::BadSchema {
            method_id: msg.method_id,
            detail,
        };
        if msg.schema.is_empty() {
            if let Some(old) = self.received.remove(&key) {
                self.received_bytes -= old.canonical_len();
            }
            return Ok(());
        }
        if msg.schema.len() > MAX_SCHEMA_BYTES {
            return Err(bad(format!(
                "{} bytes, more than the {MAX_SCHEMA_BYTES} a schema may take",
                msg.schema.len()
            )));
        }
        let old_len = self.received.get(&key).map_or(0, |old| old.canonical_len());
        let hash = roam_core::schema::hash_of_canonical_bytes(&msg.schema);
        if self
            .received
            .get(&key)
            .is_some_and(|old| old.hash() == hash)
        {
            // Same schema again: keep the entry and the translations compiled against it.
            return Ok(());
        }
        if old_len == 0 && self.received.len() >= MAX_REMOTE_SCHEMAS {
            return Err(ProtocolViolation::TooManySchemas(MAX_REMOTE_SCHEMAS));
        }
        if self.received_bytes - old_len + msg.schema.len() > MAX_SCHEMA_TABLE_BYTES {
            return Err(bad(format!(
                "the session's schemas would take more than {MAX_SCHEMA_TABLE_BYTES} bytes"
            )));
        }
        let remote = PeerSchema::parse(msg.kind, &msg.schema).map_err(|e| bad(e.to_string()))?;
        self.received_bytes = self.received_bytes - old_len + msg.schema.len();
        self.received.insert(key, Arc::new(remote));
        Ok(())
    }

    /// The peer's current schema for `(method_id, kind)`, if it announced one.
    pub fn remote(&self, method_id: u64, kind: SchemaKind) -> Option<Arc<PeerSchema>> {
        self.received.get(&(method_id, kind)).cloned()
    }

    pub fn clear(&mut self) {
        self.announced.clear();
        self.received.clear();
        self.received_bytes = 0;
    }
}
