//! Schemas as plain data: ours ([`LocalSchema`], canonical bytes and hash) and the peer's
//! ([`PeerSchema`], parsed from an announcement), as the session's schema table stores them.
//!
//! Owns: parsing an announcement into the parts a decode reads ([`Part`]). Must not: know about
//! Rust types or translation plans; the runtime computes those (from facet `Shape`s) above this
//! crate and keeps what it derives in [`PeerSchema::derived`], so it lives and dies with the
//! announcement it was derived from.

use std::any::Any;
use std::fmt;
use std::sync::OnceLock;

use roam_core::schema::{Schema, SchemaDecodeError, StructKind, Variant};

use crate::wire::SchemaKind;

/// Our canonical schema for one payload type.
#[derive(Debug, PartialEq, Eq)]
pub struct LocalSchema {
    /// Canonical bytes, as announced to the peer.
    pub canonical: Vec<u8>,
    /// Content hash of `canonical`.
    pub hash: u64,
}

impl LocalSchema {
    /// The canonical bytes and hash of `schema`.
    pub fn new(schema: &Schema) -> LocalSchema {
        let canonical = schema.to_canonical_bytes();
        let hash = roam_core::schema::hash_of_canonical_bytes(&canonical);
        LocalSchema { canonical, hash }
    }
}

/// Which part of an announced payload schema a decode reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The whole payload (an argument tuple).
    Whole,
    /// The `Ok` value of a response.
    Ok,
    /// The user error of a response.
    Err,
    /// The item type of the `k`-th channel argument of a request.
    Item(usize),
}

/// The peer's schema for one payload of one method, as announced on a connection.
pub struct PeerSchema {
    canonical_len: usize,
    whole: (Schema, u64),
    ok: Option<(Schema, u64)>,
    err: Option<(Schema, u64)>,
    items: Vec<(Schema, u64)>,
    /// What the layer above derives from this announcement (the runtime's translation plans),
    /// type-erased so this crate stays free of it.
    pub derived: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for PeerSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerSchema")
            .field("type", &self.whole.0.type_expr())
            .field("hash", &format_args!("{:#018x}", self.whole.1))
            .finish_non_exhaustive()
    }
}

/// Two announcements are the same when their schemas are (derived data aside).
impl PartialEq for PeerSchema {
    fn eq(&self, other: &Self) -> bool {
        self.whole == other.whole
    }
}

impl Eq for PeerSchema {}

impl PeerSchema {
    /// Parses announced canonical bytes of a `kind` payload.
    pub fn parse(kind: SchemaKind, canonical: &[u8]) -> Result<PeerSchema, SchemaDecodeError> {
        let schema = Schema::from_canonical_bytes(canonical)?;
        let hash = roam_core::schema::hash_of_canonical_bytes(canonical);
        let (ok, err) = match (kind, &schema) {
            (SchemaKind::Response, Schema::Enum { variants, .. }) => {
                (result_part(variants, "Ok"), result_part(variants, "Err"))
            }
            _ => (None, None),
        };
        let items = match (kind, &schema) {
            (SchemaKind::Channels, Schema::Tuple(channels)) => channels
                .iter()
                .filter_map(|c| match c {
                    Schema::Channel { item, .. } => Some(with_hash((**item).clone())),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(PeerSchema {
            canonical_len: canonical.len(),
            whole: (schema, hash),
            ok,
            err,
            items,
            derived: OnceLock::new(),
        })
    }

    /// Length of the announced canonical bytes (what the session's table bound counts).
    pub fn canonical_len(&self) -> usize {
        self.canonical_len
    }

    /// The content hash of the whole announced schema.
    pub fn hash(&self) -> u64 {
        self.whole.1
    }

    /// The announced schema of `part`, with its hash; `Err` says why there is none.
    pub fn part(&self, part: Part) -> Result<&(Schema, u64), String> {
        match part {
            Part::Whole => Some(&self.whole),
            Part::Ok => self.ok.as_ref(),
            Part::Err => self.err.as_ref(),
            Part::Item(k) => self.items.get(k),
        }
        .ok_or_else(|| {
            format!(
                "the peer's announced type `{}` has no {part:?} part",
                self.whole.0.type_expr()
            )
        })
    }

    /// The type expression and hash of the announced `part` (for error messages).
    pub fn describe(&self, part: Part) -> Option<(String, u64)> {
        self.part(part).ok().map(|(s, h)| (s.type_expr(), *h))
    }
}

/// The single field of the `Ok` or `Err` variant of a `Result` schema.
fn result_part(variants: &[Variant], name: &str) -> Option<(Schema, u64)> {
    let variant = variants.iter().find(|v| v.name == name)?;
    match (variant.kind, variant.fields.as_slice()) {
        (StructKind::Tuple, [field]) => Some(with_hash(field.schema.clone())),
        _ => None,
    }
}

fn with_hash(schema: Schema) -> (Schema, u64) {
    let hash = schema.content_hash();
    (schema, hash)
}
