//! Which schemas this session has announced and which the peer has announced.
//!
//! Owns: the per-session schema table: for each (method, payload kind) what we last announced
//! (so each schema is sent once, before its first use, and again only if our type for it
//! changes) and the peer's latest announcement, bounded in count ([`MAX_REMOTE_SCHEMAS`]),
//! in size per schema ([`MAX_SCHEMA_BYTES`]) and in total ([`MAX_SCHEMA_TABLE_BYTES`]).
//! Must not: decode payloads or compile translations (the runtime does, on the caller's and
//! handler's tasks, not in the session).
//!
//! Every call looks its method up here twice on each side (our announcement before the
//! request or response, the peer's schema when one arrives), so both tables have a small
//! direct-mapped memo in front: a service's hot methods are found with one probe and one
//! comparison, no hashing. The maps stay the truth; the memos are refreshed on every change.

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

/// Slots of each memo.
const MEMO_SLOTS: usize = 16;

type Key = (u64, SchemaKind);

/// Where `key` lives in a memo (Fibonacci hashing: multiply, keep the high bits).
fn memo_slot(key: Key) -> usize {
    let mixed = key.0 ^ (key.1 as u64).rotate_right(2);
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MEMO_SLOTS.trailing_zeros())) as usize
}

#[derive(Debug, Default)]
pub struct SchemaTable {
    /// The hash we last announced per (method, kind); `None` after a retraction.
    announced: HashMap<Key, Option<u64>>,
    received: HashMap<Key, Arc<PeerSchema>>,
    received_bytes: usize,
    /// Recent entries of `announced` (`None` inside: retracted).
    announced_memo: [Option<(Key, Option<u64>)>; MEMO_SLOTS],
    /// Recent lookups in `received`, including misses (`None` inside: the peer announced
    /// nothing for the key).
    received_memo: [Option<(Key, Option<Arc<PeerSchema>>)>; MEMO_SLOTS],
}

impl SchemaTable {
    /// What we last announced for `key`: `None` if never, `Some(None)` if retracted.
    fn announced(&mut self, key: Key) -> Option<Option<u64>> {
        let slot = &mut self.announced_memo[memo_slot(key)];
        if let Some((k, hash)) = *slot
            && k == key
        {
            return Some(hash);
        }
        let found = self.announced.get(&key).copied();
        if let Some(hash) = found {
            *slot = Some((key, hash));
        }
        found
    }

    fn set_announced(&mut self, key: Key, hash: Option<u64>) {
        self.announced.insert(key, hash);
        self.announced_memo[memo_slot(key)] = Some((key, hash));
    }

    /// Brings the memo's slot for `key` in line with `received` after a change.
    fn refresh_received(&mut self, key: Key) {
        self.received_memo[memo_slot(key)] = Some((key, self.received.get(&key).cloned()));
    }

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
        match (local, self.announced(key)) {
            (Some(l), Some(Some(hash))) if hash == l.hash => Announcement::Nothing,
            (Some(l), _) => {
                self.set_announced(key, Some(l.hash));
                Announcement::Schema(&l.canonical)
            }
            (None, Some(Some(_))) => {
                self.set_announced(key, None);
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
            self.refresh_received(key);
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
        self.refresh_received(key);
        Ok(())
    }

    /// The peer's current schema for `(method_id, kind)`, if it announced one.
    pub fn remote(&mut self, method_id: u64, kind: SchemaKind) -> Option<Arc<PeerSchema>> {
        let key = (method_id, kind);
        let slot = memo_slot(key);
        if let Some((k, found)) = &self.received_memo[slot]
            && *k == key
        {
            return found.clone();
        }
        let found = self.received.get(&key).cloned();
        self.received_memo[slot] = Some((key, found.clone()));
        found
    }

    pub fn clear(&mut self) {
        self.announced.clear();
        self.received.clear();
        self.received_bytes = 0;
        self.announced_memo = Default::default();
        self.received_memo = Default::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(n: u8) -> LocalSchema {
        // A `u8`-tuple-like canonical schema; only bytes and hash matter here.
        LocalSchema {
            canonical: vec![0x01, n],
            hash: u64::from(n) * 0x1_0001,
        }
    }

    fn announcement(method_id: u64, schema: Vec<u8>) -> SchemaAnnouncement {
        SchemaAnnouncement {
            conn: 0,
            method_id,
            kind: SchemaKind::Args,
            schema,
        }
    }

    #[test]
    fn announcements_stay_right_with_more_methods_than_memo_slots() {
        let mut table = SchemaTable::default();
        let schemas: Vec<LocalSchema> = (0..4).map(local).collect();
        let methods = 0..(4 * MEMO_SLOTS as u64);
        for m in methods.clone() {
            assert!(matches!(
                table.announcement(m, SchemaKind::Args, Some(&schemas[0])),
                Announcement::Schema(_)
            ));
        }
        for m in methods.clone() {
            assert_eq!(
                table.announcement(m, SchemaKind::Args, Some(&schemas[0])),
                Announcement::Nothing,
                "method {m} was announced"
            );
        }
        // A changed type is announced again, once; a type no longer describable is retracted.
        assert!(matches!(
            table.announcement(3, SchemaKind::Args, Some(&schemas[1])),
            Announcement::Schema(_)
        ));
        assert_eq!(
            table.announcement(3, SchemaKind::Args, Some(&schemas[1])),
            Announcement::Nothing
        );
        assert_eq!(
            table.announcement(5, SchemaKind::Args, None),
            Announcement::Retract
        );
        assert_eq!(
            table.announcement(5, SchemaKind::Args, None),
            Announcement::Nothing
        );
        // The other kind of the same method is its own entry.
        assert!(matches!(
            table.announcement(3, SchemaKind::Response, Some(&schemas[1])),
            Announcement::Schema(_)
        ));
    }

    #[test]
    fn the_peers_schemas_are_seen_at_once_after_each_change() {
        let mut table = SchemaTable::default();
        assert!(
            table.remote(1, SchemaKind::Args).is_none(),
            "a miss is memoised"
        );
        let u8_schema = roam_core::schema::Schema::Primitive(roam_core::schema::PrimitiveKind::U8);
        let canonical = u8_schema.to_canonical_bytes();
        table.receive(&announcement(1, canonical.clone())).unwrap();
        assert!(
            table.remote(1, SchemaKind::Args).is_some(),
            "then announced"
        );
        table.receive(&announcement(1, Vec::new())).unwrap();
        assert!(
            table.remote(1, SchemaKind::Args).is_none(),
            "then withdrawn"
        );
        // Keys sharing a slot do not see each other's entries.
        for m in 0..(4 * MEMO_SLOTS as u64) {
            if m % 2 == 0 {
                table.receive(&announcement(m, canonical.clone())).unwrap();
            }
        }
        for m in 0..(4 * MEMO_SLOTS as u64) {
            assert_eq!(
                table.remote(m, SchemaKind::Args).is_some(),
                m % 2 == 0,
                "{m}"
            );
        }
        table.clear();
        assert!(table.remote(0, SchemaKind::Args).is_none());
    }
}
