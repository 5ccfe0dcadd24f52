//! Call metadata: a small, bounded list of `(key, value)` entries that travels with a request
//! or a response, for things like trace IDs and auth tokens.
//!
//! Limits are part of the protocol (see `docs/protocol.md`): a peer that sends more entries, or
//! longer keys, than [`Metadata::MAX_ENTRIES`] / [`Metadata::MAX_KEY_LEN`] violates the protocol.

use serde::{Deserialize, Serialize};

/// One metadata value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataValue {
    /// A UTF-8 string.
    String(String),
    /// Opaque bytes.
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    /// An unsigned integer.
    U64(u64),
}

impl From<&str> for MetadataValue {
    fn from(v: &str) -> Self {
        MetadataValue::String(v.to_owned())
    }
}
impl From<String> for MetadataValue {
    fn from(v: String) -> Self {
        MetadataValue::String(v)
    }
}
impl From<Vec<u8>> for MetadataValue {
    fn from(v: Vec<u8>) -> Self {
        MetadataValue::Bytes(v)
    }
}
impl From<&[u8]> for MetadataValue {
    fn from(v: &[u8]) -> Self {
        MetadataValue::Bytes(v.to_vec())
    }
}
impl From<u64> for MetadataValue {
    fn from(v: u64) -> Self {
        MetadataValue::U64(v)
    }
}

/// An ordered list of metadata entries. Keys may repeat; [`Metadata::get`] returns the first.
///
/// ```
/// use roam_proto::{Metadata, MetadataValue};
/// let mut md = Metadata::new();
/// md.insert("trace-id", "abc");
/// md.insert("attempt", 2u64);
/// assert_eq!(md.get_str("trace-id"), Some("abc"));
/// assert_eq!(md.get("attempt"), Some(&MetadataValue::U64(2)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata(Vec<(String, MetadataValue)>);

impl Metadata {
    /// Most entries one request or response may carry.
    pub const MAX_ENTRIES: usize = 64;
    /// Longest key, in bytes.
    pub const MAX_KEY_LEN: usize = 128;

    /// An empty list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends an entry.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<MetadataValue>) {
        self.0.push((key.into(), value.into()));
    }

    /// The first value under `key`.
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The first value under `key` if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(MetadataValue::String(s)) => Some(s),
            _ => None,
        }
    }

    /// All entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetadataValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the protocol limits; `Err` names the broken limit.
    pub fn check_limits(&self) -> Result<(), &'static str> {
        if self.0.len() > Self::MAX_ENTRIES {
            return Err("metadata has more than 64 entries");
        }
        if self.0.iter().any(|(k, _)| k.len() > Self::MAX_KEY_LEN) {
            return Err("metadata key longer than 128 bytes");
        }
        Ok(())
    }
}
