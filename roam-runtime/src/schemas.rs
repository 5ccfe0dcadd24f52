//! Schema exchange, runtime side: our schemas for the payloads we send, the peer's schemas for
//! the payloads it sends, and decoding a payload written with the peer's schema into our type.
//!
//! Owns: our [`LocalSchema`]s (computed once per Rust type from its facet `Shape`, cached for
//! the life of the process), reading the peer's [`RemoteSchema`]s (the plain-data
//! announcements `roam-proto` keeps per connection) with the translation plans compiled
//! against them, and the choice between the identity fast path (equal content hashes) and a
//! translation plan. Must not: decide *when* schemas are sent (the session does) or touch I/O.
//!
//! A payload whose peer never announced a schema is decoded as if both sides had the same type:
//! peers that do not exchange schemas keep working, with the old "same types on both sides"
//! contract.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use facet::Facet;
use facet::Shape;
use roam_codec::Translation;
use roam_core::schema::{ChannelDirection, Schema};
pub use roam_proto::schema::{LocalSchema, Part};

use crate::codec::{self, CodecError};

/// The peer's schema for one payload of one method, as announced on a connection.
pub type RemoteSchema = roam_proto::schema::PeerSchema;

/// Our schema `schema`, kept for the life of the process: there is one per payload type (or
/// channel signature) in the program, so the caches below leak them on purpose.
fn leak(schema: &Schema) -> &'static LocalSchema {
    Box::leak(Box::new(LocalSchema::new(schema)))
}

type Cache<K> = RwLock<HashMap<K, Option<&'static LocalSchema>>>;

/// Looks `key` up in `cache`, building (and leaking) the schema on first use.
fn cached<K: std::hash::Hash + Eq>(
    cache: &Cache<K>,
    key: K,
    build: impl FnOnce() -> Option<Schema>,
) -> Option<&'static LocalSchema> {
    if let Some(found) = cache.read().ok().and_then(|c| c.get(&key).copied()) {
        return found;
    }
    let schema = build().map(|schema| leak(&schema));
    match cache.write() {
        Ok(mut c) => *c.entry(key).or_insert(schema),
        Err(_) => schema,
    }
}

fn shape_key(shape: &'static Shape) -> usize {
    std::ptr::from_ref(shape) as usize
}

/// Slots of a [`Memo`]: more than the payload types one thread uses on its hot path.
const MEMO_SLOTS: usize = 32;

/// A small per-thread, direct-mapped memo in front of a process-wide cache, so that the
/// per-call path (every request a client sends, every answer a handler gives) finds its
/// schema with one probe and one comparison, with no lock, no atomic shared between threads
/// and no hashing. A miss (first use on this thread, or two types sharing a slot) falls back
/// to the shared cache and refills the slot.
struct Memo<K: Copy + Eq + 'static> {
    slots: [MemoSlot<K>; MEMO_SLOTS],
}

/// A key and what the shared cache said for it; empty until first used.
type MemoSlot<K> = Cell<Option<(K, Option<&'static LocalSchema>)>>;

impl<K: Copy + Eq + 'static> Memo<K> {
    const fn new() -> Self {
        Memo {
            slots: [const { Cell::new(None) }; MEMO_SLOTS],
        }
    }

    fn get(
        &self,
        key: K,
        spread: usize,
        fill: impl FnOnce() -> Option<&'static LocalSchema>,
    ) -> Option<&'static LocalSchema> {
        // Fibonacci hashing of the address: shapes are aligned statics, so the low bits are
        // all alike and the high bits of the product are the useful ones.
        let slot = &self.slots[spread.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize)
            >> (usize::BITS - MEMO_SLOTS.trailing_zeros())];
        if let Some((k, schema)) = slot.get()
            && k == key
        {
            return schema;
        }
        let schema = fill();
        slot.set(Some((key, schema)));
        schema
    }
}

/// The schema of a type, or `None` when the schema model cannot describe it (then nothing is
/// announced and the peer decodes as if the types were equal).
pub fn local_of(shape: &'static Shape) -> Option<&'static LocalSchema> {
    static CACHE: OnceLock<Cache<usize>> = OnceLock::new();
    thread_local! {
        static MEMO: Memo<usize> = const { Memo::new() };
    }
    let key = shape_key(shape);
    let shared = || {
        cached(CACHE.get_or_init(Default::default), key, || {
            roam_codec::schema_of_shape(shape).ok()
        })
    };
    // Without the thread's memo (its locals being torn down), the shared cache answers.
    MEMO.try_with(|memo| memo.get(key, key, shared))
        .unwrap_or_else(|_| shared())
}

/// The schema of a method's response: `Result<T, E>`.
pub fn local_response(ok: &'static Shape, err: &'static Shape) -> Option<&'static LocalSchema> {
    static CACHE: OnceLock<Cache<(usize, usize)>> = OnceLock::new();
    thread_local! {
        static MEMO: Memo<(usize, usize)> = const { Memo::new() };
    }
    let key = (shape_key(ok), shape_key(err));
    let shared = || {
        cached(CACHE.get_or_init(Default::default), key, || {
            Some(Schema::result(
                roam_codec::schema_of_shape(ok).ok()?,
                roam_codec::schema_of_shape(err).ok()?,
            ))
        })
    };
    MEMO.try_with(|memo| memo.get(key, key.0 ^ key.1.rotate_left(17), shared))
        .unwrap_or_else(|_| shared())
}

/// The schema of a request's channel arguments: a tuple of `Channel` nodes (direction as the
/// callee sees it, item type) in argument order.
pub fn local_channels(
    channels: &[(ChannelDirection, &'static Shape)],
) -> Option<&'static LocalSchema> {
    static CACHE: OnceLock<Cache<Vec<(bool, usize)>>> = OnceLock::new();
    let key = channels
        .iter()
        .map(|(d, shape)| (*d == ChannelDirection::Tx, shape_key(shape)))
        .collect();
    cached(CACHE.get_or_init(Default::default), key, || {
        let items = channels
            .iter()
            .map(|(direction, shape)| {
                Some(Schema::Channel {
                    direction: *direction,
                    item: Box::new(roam_codec::schema_of_shape(shape).ok()?),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        (!items.is_empty()).then(|| Schema::tuple(items))
    })
}

/// A payload could not be decoded into the local type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The bytes do not decode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The peer's type cannot be read as ours.
    #[error("{0}")]
    Incompatible(String),
}

/// Most local types one remote schema is translated into on one session (normally one).
const MAX_TRANSLATIONS_PER_SCHEMA: usize = 8;

/// A translation compiled against an announced schema, or why it could not be (rendered once).
type CachedTranslation = Result<Arc<Translation>, String>;

/// The translation plans compiled against one announcement, kept in its
/// [`derived`](RemoteSchema::derived) slot so they live exactly as long as it does, and
/// the verdicts of [`readable_by`] against it (both bounded by
/// [`MAX_TRANSLATIONS_PER_SCHEMA`]).
#[derive(Default)]
struct Translations(Keyed<CachedTranslation>, Keyed<Result<(), String>>);

/// Entries per (local type, part), looked up by a scan (there are at most a handful).
type Keyed<T> = Mutex<Vec<((usize, Part), T)>>;

fn translations(remote: &RemoteSchema) -> Option<&Translations> {
    remote
        .derived
        .get_or_init(|| Box::new(Translations::default()))
        .downcast_ref()
}

/// Reading payloads written with a peer's announced schema.
pub trait RemoteSchemaExt {
    /// Decodes `bytes`, written with this schema's `part`, as a `T`: directly when the schemas
    /// are equal, through a translation plan (compiled once) when they differ compatibly.
    fn decode<T: Facet<'static>>(&self, part: Part, bytes: &[u8]) -> Result<T, PayloadError>;

    /// Like [`RemoteSchemaExt::decode`], for a `T` whose `&str` and `&[u8]` parts borrow from
    /// `bytes` (a handler's arguments).
    fn decode_borrowed<'a, T: Facet<'a>>(
        &self,
        part: Part,
        bytes: &'a [u8],
    ) -> Result<T, PayloadError>;

    /// How to read `part` as a `reader` value: `None` to decode directly (same schema), or the
    /// translation (compiled once), or why the types are incompatible.
    fn reader_for(
        &self,
        part: Part,
        reader: &'static Shape,
    ) -> Result<Option<Arc<Translation>>, PayloadError>;
}

impl RemoteSchemaExt for RemoteSchema {
    fn decode<T: Facet<'static>>(&self, part: Part, bytes: &[u8]) -> Result<T, PayloadError> {
        match self.reader_for(part, T::SHAPE)? {
            None => Ok(codec::decode(bytes)?),
            Some(t) => Ok(decode_translated::<T>(&t, bytes)?),
        }
    }

    fn decode_borrowed<'a, T: Facet<'a>>(
        &self,
        part: Part,
        bytes: &'a [u8],
    ) -> Result<T, PayloadError> {
        match self.reader_for(part, T::SHAPE)? {
            None => Ok(codec::decode_borrowed(bytes)?),
            Some(t) => Ok(roam_codec::decode_translated_borrowed::<T>(&t, bytes)
                .map_err(codec::decode_error::<T>)?),
        }
    }

    fn reader_for(
        &self,
        part: Part,
        reader: &'static Shape,
    ) -> Result<Option<Arc<Translation>>, PayloadError> {
        let (writer, hash) = self.part(part).map_err(PayloadError::Incompatible)?;
        if local_of(reader).is_some_and(|local| local.hash == *hash) {
            return Ok(None);
        }
        match translation(self, part, writer, reader) {
            Ok(t) if t.is_identity() => Ok(None),
            Ok(t) => Ok(Some(t)),
            Err(detail) => Err(PayloadError::Incompatible(detail)),
        }
    }
}

fn translation(
    remote: &RemoteSchema,
    part: Part,
    writer: &Schema,
    reader: &'static Shape,
) -> CachedTranslation {
    let key = (shape_key(reader), part);
    let Some(cache) = translations(remote) else {
        return Translation::compile(writer, reader)
            .map(Arc::new)
            .map_err(|e| e.to_string());
    };
    if let Some(found) = cached_translation(cache, key) {
        return found;
    }
    // Compiled without holding the lock: other calls of the method keep running meanwhile
    // (at worst two compile the same plan once each).
    let compiled = Translation::compile(writer, reader)
        .map(Arc::new)
        .map_err(|e| e.to_string());
    let mut cache = match cache.0.lock() {
        Ok(cache) => cache,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some((_, existing)) = cache.iter().find(|(k, _)| *k == key) {
        return existing.clone();
    }
    if cache.len() < MAX_TRANSLATIONS_PER_SCHEMA {
        cache.push((key, compiled.clone()));
    }
    compiled
}

fn cached_translation(cache: &Translations, key: (usize, Part)) -> Option<CachedTranslation> {
    let cache = match cache.0.lock() {
        Ok(cache) => cache,
        Err(poisoned) => poisoned.into_inner(),
    };
    cache
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, t)| t.clone())
}

/// Whether the peer, reading `part` with the type it announced, can read what we write as
/// `writer` (the same rules as every translation, from `roam_core::compat`): how a handler
/// checks the items it will write against the caller's item type. Equal schemas, or a side
/// that announced nothing or cannot be described, pass.
pub fn readable_by(
    remote: &RemoteSchema,
    part: Part,
    writer: &'static Shape,
) -> Result<(), PayloadError> {
    let Ok((theirs, hash)) = remote.part(part) else {
        return Ok(());
    };
    let Some(local) = local_of(writer) else {
        return Ok(());
    };
    if local.hash == *hash {
        return Ok(());
    }
    let check = || match roam_codec::schema_of_shape(writer) {
        Ok(ours) => roam_core::compat::check(&ours, theirs)
            .map(|_| ())
            .map_err(|problems| roam_codec::TranslateError::Incompatible(problems).to_string()),
        Err(_) => Ok(()),
    };
    // Every streaming call of the method asks again: the verdict is kept with the
    // announcement, like the translations compiled against it.
    let verdict = match translations(remote) {
        None => check(),
        Some(cache) => {
            let key = (shape_key(writer), part);
            let mut checks = match cache.1.lock() {
                Ok(checks) => checks,
                Err(poisoned) => poisoned.into_inner(),
            };
            match checks.iter().find(|(k, _)| *k == key) {
                Some((_, verdict)) => verdict.clone(),
                None => {
                    let verdict = check();
                    if checks.len() < MAX_TRANSLATIONS_PER_SCHEMA {
                        checks.push((key, verdict.clone()));
                    }
                    verdict
                }
            }
        }
    };
    verdict.map_err(PayloadError::Incompatible)
}

/// Decodes `bytes` through a compiled translation, with the runtime's codec error.
pub(crate) fn decode_translated<T: Facet<'static>>(
    t: &Translation,
    bytes: &[u8],
) -> Result<T, CodecError> {
    roam_codec::decode_translated::<T>(t, bytes).map_err(codec::decode_error::<T>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roam_proto::wire::SchemaKind;

    #[derive(Facet, Debug, PartialEq)]
    struct V1 {
        a: u32,
        b: String,
    }

    #[derive(Facet, Debug, PartialEq)]
    struct V2 {
        b: String,
        a: u32,
        #[facet(default)]
        c: Option<u8>,
    }

    fn cached_plans(remote: &RemoteSchema) -> usize {
        translations(remote).map_or(0, |t| t.0.lock().unwrap().len())
    }

    fn announce<T: Facet<'static>>(kind: SchemaKind) -> RemoteSchema {
        let local = local_of(T::SHAPE).expect("describable");
        RemoteSchema::parse(kind, &local.canonical).expect("valid")
    }

    #[test]
    fn local_schemas_are_cached_per_type() {
        let a = local_of(<(u32, String)>::SHAPE).unwrap();
        let b = local_of(<(u32, String)>::SHAPE).unwrap();
        assert!(std::ptr::eq(a, b));
        let borrowed = local_of(<(u32, &str)>::SHAPE).unwrap();
        assert_eq!(
            a.hash, borrowed.hash,
            "&str and String are the same on the wire"
        );
    }

    #[test]
    fn the_per_thread_memo_gives_what_the_shared_cache_gives() {
        // More types than slots, twice over: every answer, hit or miss, is the shared one.
        macro_rules! shapes {
            ($($t:ty),*) => { [$(<$t as Facet>::SHAPE),*] };
        }
        let shapes = shapes![
            u8,
            u16,
            u32,
            u64,
            i8,
            i16,
            i32,
            i64,
            bool,
            String,
            (u8,),
            (u16,),
            (u32,),
            (u64,),
            (i8,),
            (i16,),
            (i32,),
            (i64,),
            (bool,),
            (String,),
            (u8, u8),
            (u16, u16),
            (u32, u32),
            (u64, u64),
            (i8, i8),
            (i16, i16),
            (i32, i32),
            (i64, i64),
            (bool, bool),
            (String, String),
            Vec<u8>,
            Vec<u16>,
            Vec<u32>,
            Vec<u64>,
            Vec<String>,
            Option<u8>,
            Option<u32>,
            Option<String>
        ];
        assert!(shapes.len() > MEMO_SLOTS);
        for _ in 0..2 {
            for shape in shapes {
                let memo = local_of(shape).expect("describable");
                let fresh = LocalSchema::new(&roam_codec::schema_of_shape(shape).unwrap());
                assert_eq!(memo.hash, fresh.hash, "{shape}");
            }
        }
        let a = local_response(u32::SHAPE, String::SHAPE).unwrap();
        let b = local_response(String::SHAPE, u32::SHAPE).unwrap();
        assert_ne!(a.hash, b.hash, "the key is ordered");
        assert!(std::ptr::eq(
            a,
            local_response(u32::SHAPE, String::SHAPE).unwrap()
        ));
    }

    #[test]
    fn equal_schemas_decode_directly() {
        let remote = announce::<V1>(SchemaKind::Args);
        let bytes = codec::encode(&V1 {
            a: 7,
            b: "x".into(),
        })
        .unwrap();
        let v: V1 = remote.decode(Part::Whole, &bytes).unwrap();
        assert_eq!(
            v,
            V1 {
                a: 7,
                b: "x".into()
            }
        );
        assert_eq!(cached_plans(&remote), 0);
    }

    #[test]
    fn different_schemas_translate() {
        let remote = announce::<V1>(SchemaKind::Args);
        let bytes = codec::encode(&V1 {
            a: 7,
            b: "x".into(),
        })
        .unwrap();
        let v: V2 = remote.decode(Part::Whole, &bytes).unwrap();
        assert_eq!(
            v,
            V2 {
                b: "x".into(),
                a: 7,
                c: None
            }
        );
        assert_eq!(cached_plans(&remote), 1);
    }

    #[test]
    fn a_handlers_item_check_is_made_once_per_announcement() {
        // The caller reads `V2` items; a handler writing `V1` can be read (`c` has a
        // default), one writing `(u32,)` cannot.
        let remote = announce::<V2>(SchemaKind::Args);
        let checks = |r: &RemoteSchema| translations(r).map_or(0, |t| t.1.lock().unwrap().len());
        for _ in 0..3 {
            readable_by(&remote, Part::Whole, V1::SHAPE).expect("V2 readers can read V1");
            let refused = readable_by(&remote, Part::Whole, <(u32,)>::SHAPE).unwrap_err();
            assert!(
                matches!(refused, PayloadError::Incompatible(_)),
                "{refused:?}"
            );
        }
        assert_eq!(checks(&remote), 2, "one verdict per writer type, kept");
        readable_by(&remote, Part::Whole, V2::SHAPE).expect("the same type");
        assert_eq!(checks(&remote), 2, "equal hashes are not checked at all");
    }

    #[test]
    fn response_parts_are_found_and_incompatibility_is_reported() {
        let local = local_response(u32::SHAPE, <std::convert::Infallible as Facet>::SHAPE)
            .expect("describable");
        let remote = RemoteSchema::parse(SchemaKind::Response, &local.canonical).unwrap();
        let bytes = codec::encode(&5u32).unwrap();
        assert_eq!(remote.decode::<u32>(Part::Ok, &bytes).unwrap(), 5);
        match remote.decode::<String>(Part::Ok, &bytes) {
            Err(PayloadError::Incompatible(text)) => {
                assert!(text.contains("u32") && text.contains("String"), "{text}")
            }
            other => panic!("expected an incompatibility, got {other:?}"),
        }
    }
}
