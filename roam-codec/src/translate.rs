//! Translation plans: decoding bytes written by a peer whose type has a *different but
//! compatible* schema into the local type.
//!
//! This module owns the compiler from a (writer [`Schema`], reader `Shape`) pair to a
//! [`Translation`], and its interpreter ([`decode_translated`]). Whether two schemas are
//! compatible is decided by [`roam_core::compat::check`], which `compile` runs first so that a
//! refusal lists every problem; this module only builds and runs the bridge. It does not touch
//! the ordinary plans ([`crate::plan`]) beyond reusing them, read-only, for sub-values whose
//! schemas are identical on both sides, and it does not decide when a translation is needed
//! (schema exchange is the runtime's job).
//!
//! # What a translation does
//!
//! The bytes are the writer's: its fields in its declaration order, its variant indices. The
//! plan walks the writer's schema and, for each value,
//!
//! * decodes a field the reader also has into the reader's field (at the reader's offset, so
//!   reordered fields land in the right place),
//! * skips a field only the writer has, with a skip program derived from the writer's schema
//!   (bounded exactly like ordinary decoding: varint limits, lengths checked against the
//!   remaining input, the zero-byte item budget, [`crate::MAX_DEPTH`]),
//! * fills a field only the reader has with the field's facet default (`#[facet(default)]`
//!   calls the type's `Default`, `#[facet(default = expr)]` the expression), and so the
//!   reader's `#[facet(skip)]` fields too, which are on nobody's wire,
//! * matches fields and variants by the names the schemas carry (`#[facet(rename)]` names,
//!   not Rust identifiers),
//! * maps each writer variant index to the reader's variant of the same name; a variant only
//!   the writer has fails with [`DecodeError::VariantUnknownToReader`] when it is received,
//! * hands a sub-value whose schema is identical on both sides to the ordinary plan of its
//!   type, sharing the input's position and limits.
//!
//! Like ordinary decoding it never panics on bad input, and a failure part way drops what it
//! had built exactly once: every op list is all or nothing (see [`crate::decode`]).
//!
//! ```
//! use facet::Facet;
//! use roam_codec::translate::{Translation, decode_translated};
//!
//! #[derive(Facet)]
//! struct OrderV1 { id: u64, note: String }
//!
//! #[derive(Facet, Debug, PartialEq)]
//! struct Order { #[facet(default)] rush: bool, id: u64 }
//!
//! let bytes = roam_codec::encode_to_vec(&OrderV1 { id: 7, note: "hi".into() }).unwrap();
//! let writer = roam_codec::schema_of::<OrderV1>().unwrap();
//! let t = Translation::compile(&writer, Order::SHAPE).unwrap();
//! assert!(!t.is_identity());
//! let order: Order = decode_translated(&t, &bytes).unwrap();
//! assert_eq!(order, Order { rush: false, id: 7 });
//! ```

use std::alloc::Layout;
use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::{Mutex, OnceLock, PoisonError};

use facet_core::{
    DefaultSource, Facet, MapDef, OptionVTable, PointerVTable, ResultVTable, Shape,
    StructKind as FacetStructKind,
};
use roam_core::compat::{self, Incompatibility, IncompatibilityKind, Note};
use roam_core::schema::{Field, MAX_SCHEMA_DEPTH, PrimitiveKind, Schema, StructKind, Variant};

use crate::decode::{
    Interp, check_count, dec_array, dec_box, dec_default, dec_list, dec_map, dec_ops, dec_option,
    dec_prim, dec_result_payload, dec_shared, dec_string, decode_nested, deeper, fail, prealloc,
    read_bytes, read_len, read_str, unknown_variant, write_discriminant,
};
use crate::error::{DecodeError, Location, UnsupportedShape};
use crate::kind::{FieldRole, Kind, Prim, classify, field_role};
use crate::plan::{Disc, ListOps, Plan, check_list_ops, plan_for_shape};
use crate::schema::{channel_of, schema_of_shape};
use crate::wire::{ReadFail, Reader, WirePrim};

/// A decode failure inside the interpreter (boxed, as in [`crate::decode`]).
type Fail = Box<DecodeError>;

/// Index of a node of the writer graph.
type WId = u32;
/// Index of a [`TBlock`].
type BlockId = u32;

// -------------------------------------------------------------------------------------------
// Public API
// -------------------------------------------------------------------------------------------

/// Why a translation could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranslateError {
    /// Values of the writer's type cannot be read as the reader's type; every problem found.
    Incompatible(Vec<Incompatibility>),
    /// The reader's type (or a part of the writer's schema that would have to be skipped)
    /// cannot be handled by the codec.
    Unsupported(UnsupportedShape),
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TranslateError::Incompatible(problems) => {
                write!(
                    f,
                    "the writer's type cannot be read as the reader's type ({} problem{}):",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                )?;
                for problem in problems {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
            TranslateError::Unsupported(u) => write!(f, "cannot translate: {u}"),
        }
    }
}

impl std::error::Error for TranslateError {}

impl From<UnsupportedShape> for TranslateError {
    fn from(u: UnsupportedShape) -> Self {
        TranslateError::Unsupported(u)
    }
}

/// A compiled bridge from a writer's schema to a local type. Compile it once per (writer
/// schema, local type) pair, e.g. when a peer's schema for a method first arrives, and use it
/// for every value; it is immutable and can be shared between threads.
pub struct Translation {
    reader: &'static Shape,
    /// The reader type's ordinary plan: decodes identity translations, and says whether the
    /// reader type borrows (then only the borrowed entry points may be used).
    plan: &'static Plan,
    /// The schemas are identical: decode with the ordinary plan.
    identity: bool,
    notes: Vec<Note>,
    root: BlockId,
    graph: WriterGraph,
    blocks: Box<[TBlock]>,
    enums: Box<[TEnum]>,
    results: Box<[TResult]>,
    locs: Box<[TLoc]>,
}

impl Translation {
    /// Compiles the translation from values written with `writer` to values of `reader`.
    ///
    /// Fails with [`TranslateError::Incompatible`] (listing every problem) when
    /// [`compat::check`] refuses the pair, and with [`TranslateError::Unsupported`] when the
    /// reader's type is not supported by the codec or the writer's schema has something that
    /// would have to be skipped but cannot be (a channel).
    pub fn compile(writer: &Schema, reader: &'static Shape) -> Result<Translation, TranslateError> {
        let reader_schema = schema_of_shape(reader)?;
        let compat = compat::check(writer, &reader_schema).map_err(TranslateError::Incompatible)?;
        let plan = plan_for_shape(reader)?;
        // A reader type that borrows (`&str`, `&[u8]`) is fine: it can only be decoded
        // through the borrowed entry points, which tie it to the input.
        if let Some(blocker) = &plan.borrow_blocker {
            return Err(TranslateError::Unsupported(blocker.clone()));
        }
        if compat.identical {
            return Ok(Translation {
                reader,
                plan,
                identity: true,
                notes: compat.notes,
                root: 0,
                graph: WriterGraph::empty(),
                blocks: Box::new([]),
                enums: Box::new([]),
                results: Box::new([]),
                locs: Box::new([]),
            });
        }
        let graph = WriterGraph::build(writer)?;
        let mut compiler = Compiler {
            graph: &graph,
            blocks: Vec::new(),
            enums: Vec::new(),
            results: Vec::new(),
            locs: Vec::new(),
            memo: HashMap::new(),
            reader_schemas: HashMap::new(),
            depth: 0,
        };
        let root_path = reader_schema.name().unwrap_or("").to_owned();
        let root = compiler.block(graph.root, reader, &root_path)?;
        let Compiler {
            blocks,
            enums,
            results,
            locs,
            ..
        } = compiler;
        Ok(Translation {
            reader,
            plan,
            identity: false,
            notes: compat.notes,
            root,
            graph: graph.runtime_only(),
            blocks: blocks.into_boxed_slice(),
            enums: enums.into_boxed_slice(),
            results: results.into_boxed_slice(),
            locs: locs.into_boxed_slice(),
        })
    }

    /// Whether the writer's schema is the reader's own (equal canonical bytes), so values are
    /// decoded with the ordinary plan and the translation costs nothing.
    pub fn is_identity(&self) -> bool {
        self.identity
    }

    /// The reader type this translation decodes into.
    pub fn reader_shape(&self) -> &'static Shape {
        self.reader
    }

    /// The non-breaking differences between the two schemas (skipped fields, defaulted fields,
    /// variants the reader does not know, renamed types, ...), for logging.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// Decodes one value from the start of `bytes` into `dst` and returns how many bytes it
    /// took. On error `dst` is left uninitialised and nothing is leaked.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes of, and aligned for, the reader type
    /// ([`reader_shape`](Self::reader_shape)).
    ///
    /// Fails with [`DecodeError::Unsupported`] if the reader type borrows (holds `&str` or
    /// `&[u8]`): decode those with [`decode_translated_borrowed`].
    pub unsafe fn decode_raw(&self, bytes: &[u8], dst: *mut u8) -> Result<usize, DecodeError> {
        if let Some(blocker) = &self.plan.decode_blocker {
            return Err(DecodeError::Unsupported(blocker.clone()));
        }
        // SAFETY: forwarded from the caller; the reader type holds no borrowed values.
        unsafe { self.decode_raw_borrowed(bytes, dst) }
    }

    /// As [`decode_raw`](Self::decode_raw), but the value may hold `&str` and `&[u8]` that
    /// borrow from `bytes`.
    ///
    /// # Safety
    ///
    /// As `decode_raw`; in addition, the value written to `dst` must not be used after `bytes`
    /// is gone.
    unsafe fn decode_raw_borrowed(&self, bytes: &[u8], dst: *mut u8) -> Result<usize, DecodeError> {
        if self.identity {
            // SAFETY: forwarded from the caller; the plan is the reader type's.
            return unsafe { self.plan.decode_raw_borrowed(bytes, dst) };
        }
        let mut r = Reader::new(bytes);
        let block = &self.blocks[self.root as usize];
        // SAFETY: forwarded from the caller; the root block was compiled for the reader type.
        match unsafe { dec_ops(self, &block.ops, dst, &mut r, 0) } {
            Ok(()) => Ok(r.pos),
            Err(e) => Err(*e),
        }
    }
}

impl fmt::Debug for Translation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Translation")
            .field("reader", &self.reader.to_string())
            .field("identity", &self.identity)
            .field("notes", &self.notes)
            .field("blocks", &self.blocks.len())
            .field("enums", &self.enums.len())
            .finish_non_exhaustive()
    }
}

// SAFETY: a `Translation` is immutable after compilation. Besides owned plain data it holds
// only `&'static` facet shape data (shapes, definitions, vtables of plain function pointers)
// and `&'static Plan`s, which are never mutated and are shared between threads by the ordinary
// codec already (see `Plan`'s impls).
unsafe impl Send for Translation {}
// SAFETY: as above.
unsafe impl Sync for Translation {}

/// Compiles the translation from `writer` to `T` (see [`Translation::compile`]).
pub fn translation_for<'a, T: Facet<'a>>(writer: &Schema) -> Result<Translation, TranslateError> {
    Translation::compile(writer, T::SHAPE)
}

/// Refuses to run `t` into a type it was not compiled for.
fn compiled_for(t: &Translation, reader: &'static Shape) -> Result<(), DecodeError> {
    if reader.id == t.reader.id {
        return Ok(());
    }
    Err(DecodeError::Unsupported(UnsupportedShape {
        type_name: reader.to_string(),
        path: String::new(),
        reason: "the translation was compiled for another type",
    }))
}

/// Decodes a `T` from exactly `bytes` (trailing bytes are an error), written by a peer whose
/// type has the schema `t` was compiled from.
///
/// Fails with [`DecodeError::Unsupported`] if `t` was compiled for another type than `T`, or
/// if `T` borrows (decode that with [`decode_translated_borrowed`]).
pub fn decode_translated<T: Facet<'static>>(
    t: &Translation,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    compiled_for(t, T::SHAPE)?;
    if t.identity {
        return crate::decode::<T>(bytes);
    }
    if let Some(blocker) = &t.plan.decode_blocker {
        return Err(DecodeError::Unsupported(blocker.clone()));
    }
    // SAFETY: `t` was compiled for `T` (checked above), and `T` holds no borrowed values.
    unsafe { decode_translated_with::<T>(t, bytes) }
}

/// Decodes a `T` whose `&str` and `&[u8]` parts borrow from `bytes` (all of which must be
/// consumed), written by a peer whose type has the schema `t` was compiled from: a handler's
/// `(&str, u32)` arguments read through a translation. Owned types decode as with
/// [`decode_translated`].
///
/// Like [`crate::decode_borrowed`], it refuses borrowed values inside the fields of a
/// user-defined struct or enum, whose lifetimes it cannot check; see
/// [`decode_translated_borrowed_unchecked`].
///
/// Fails with [`DecodeError::Unsupported`] if `t` was compiled for another type than `T`.
pub fn decode_translated_borrowed<'de, T: Facet<'de>>(
    t: &Translation,
    bytes: &'de [u8],
) -> Result<T, DecodeError> {
    if let Some(unchecked) = &t.plan.unchecked_borrow {
        return Err(DecodeError::Unsupported(unchecked.clone()));
    }
    // SAFETY: `T: Facet<'de>` and no borrowed part of `T` lies inside a user-defined type, so
    // every one is a `&'de str` or `&'de [u8]` (see `crate::decode_borrowed`).
    unsafe { decode_translated_borrowed_unchecked::<T>(t, bytes) }
}

/// [`decode_translated_borrowed`] without its check on user-defined types: they may hold
/// borrowed fields too.
///
/// # Safety
///
/// As [`crate::decode_borrowed_unchecked`]: every reference type inside `T`, including in the
/// fields of user-defined structs and enums, must borrow for `'de` (be spelled with `T`'s
/// lifetime parameter, never `'static` or another lifetime).
pub unsafe fn decode_translated_borrowed_unchecked<'de, T: Facet<'de>>(
    t: &Translation,
    bytes: &'de [u8],
) -> Result<T, DecodeError> {
    compiled_for(t, T::SHAPE)?;
    // SAFETY: `t` was compiled for `T` (checked above); the caller vouches that the borrowed
    // values written into it borrow for `'de`, the input's lifetime.
    unsafe { decode_translated_with::<T>(t, bytes) }
}

/// Runs `t` over all of `bytes` into a new `T`.
///
/// # Safety
///
/// `t` must have been compiled for `T`, and any borrowed value `T` holds must be valid for as
/// long as `bytes` is (the caller ties their lifetimes).
unsafe fn decode_translated_with<'a, T: Facet<'a>>(
    t: &Translation,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    let mut slot = MaybeUninit::<T>::uninit();
    // SAFETY: `slot` is valid for writes of a `T`, and `t` was compiled for `T` (caller); the
    // value's borrowed parts point into `bytes`, which outlives it (caller).
    let used = unsafe { t.decode_raw_borrowed(bytes, slot.as_mut_ptr().cast::<u8>())? };
    // SAFETY: `decode_raw_borrowed` returned `Ok`, so it initialised the whole value.
    let value = unsafe { slot.assume_init() };
    if used != bytes.len() {
        // `value` is dropped here, once.
        return Err(DecodeError::TrailingBytes {
            consumed: used,
            total: bytes.len(),
        });
    }
    Ok(value)
}

// -------------------------------------------------------------------------------------------
// The writer graph: the writer's schema with references resolved, used to skip values
// -------------------------------------------------------------------------------------------

/// One node of the writer's schema. `Ref`s are resolved to the index of the definition they
/// name, so a recursive schema is a graph with cycles.
enum WNode {
    Prim(PrimitiveKind),
    Bytes,
    List(WId),
    Array(WId, u64),
    Map(WId, WId),
    Option(WId),
    /// A tuple or struct: its elements one after the other.
    Seq(Box<[WId]>),
    /// An enum: the fields of each variant, by wire index.
    Enum(Box<[Box<[WId]>]>),
    /// A channel: its wire form is the runtime's business, so it cannot be skipped.
    Channel,
}

struct WriterGraph {
    nodes: Vec<WNode>,
    /// Per node, a lower bound on the bytes one value takes (see [`WriterGraph::min_wire`]).
    min_wire: Vec<usize>,
    /// Per node, the schema it was built from (compile time only; empty afterwards).
    origin: Vec<*const Schema>,
    /// Per node, whether a value of it can hold a channel (compile time only).
    channel_reach: Vec<bool>,
    root: WId,
}

/// The cap on any `min_wire`, so that sums and products cannot overflow.
const MIN_WIRE_CAP: usize = 1 << 32;

/// How deeply a writer schema given to [`Translation::compile`] may nest. Schemas parsed from
/// canonical bytes are already limited to [`MAX_SCHEMA_DEPTH`]; this also bounds ones built
/// in memory.
const MAX_GRAPH_DEPTH: usize = MAX_SCHEMA_DEPTH * 2;

fn prim_min_wire(kind: PrimitiveKind) -> usize {
    match kind {
        PrimitiveKind::Unit => 0,
        PrimitiveKind::F32 => 4,
        PrimitiveKind::F64 => 8,
        PrimitiveKind::Char => 2,
        _ => 1,
    }
}

fn graph_error(path: &str, reason: &'static str) -> TranslateError {
    TranslateError::Unsupported(UnsupportedShape {
        type_name: "writer schema".to_owned(),
        path: path.to_owned(),
        reason,
    })
}

impl WriterGraph {
    fn empty() -> WriterGraph {
        WriterGraph {
            nodes: Vec::new(),
            min_wire: Vec::new(),
            origin: Vec::new(),
            channel_reach: Vec::new(),
            root: 0,
        }
    }

    fn build(schema: &Schema) -> Result<WriterGraph, TranslateError> {
        let mut graph = WriterGraph::empty();
        let mut defs = Vec::new();
        graph.root = graph.add(schema, &mut defs, 0)?;
        graph.compute_min_wire();
        graph.compute_channel_reach();
        Ok(graph)
    }

    /// Drops the compile-time-only parts (pointers into the caller's schema).
    fn runtime_only(mut self) -> WriterGraph {
        self.origin = Vec::new();
        self.channel_reach = Vec::new();
        self
    }

    fn push(&mut self, node: WNode, origin: &Schema) -> WId {
        self.nodes.push(node);
        self.origin.push(origin);
        (self.nodes.len() - 1) as WId
    }

    /// `defs` holds the (name, node) of each enclosing struct or enum, outermost first.
    fn add<'s>(
        &mut self,
        schema: &'s Schema,
        defs: &mut Vec<(&'s str, WId)>,
        depth: usize,
    ) -> Result<WId, TranslateError> {
        if depth > MAX_GRAPH_DEPTH {
            return Err(graph_error("", "the writer's schema nests too deeply"));
        }
        let id = match schema {
            Schema::Primitive(kind) => self.push(WNode::Prim(*kind), schema),
            Schema::Bytes => self.push(WNode::Bytes, schema),
            Schema::List(item) => {
                let item = self.add(item, defs, depth + 1)?;
                self.push(WNode::List(item), schema)
            }
            Schema::Array(item, n) => {
                let item = self.add(item, defs, depth + 1)?;
                self.push(WNode::Array(item, *n), schema)
            }
            Schema::Map(key, value) => {
                let key = self.add(key, defs, depth + 1)?;
                let value = self.add(value, defs, depth + 1)?;
                self.push(WNode::Map(key, value), schema)
            }
            Schema::Option(inner) => {
                let inner = self.add(inner, defs, depth + 1)?;
                self.push(WNode::Option(inner), schema)
            }
            Schema::Tuple(items) => {
                let items = items
                    .iter()
                    .map(|item| self.add(item, defs, depth + 1))
                    .collect::<Result<Box<[WId]>, _>>()?;
                self.push(WNode::Seq(items), schema)
            }
            Schema::Channel { .. } => self.push(WNode::Channel, schema),
            Schema::Ref(name) => {
                return match defs.iter().rev().find(|(def, _)| def == name) {
                    Some(&(_, id)) => Ok(id),
                    None => Err(graph_error(
                        name,
                        "the writer's schema refers to a type that does not enclose the reference",
                    )),
                };
            }
            Schema::Struct { name, fields, .. } => {
                // Reserve the node first so references inside can point at it.
                let id = self.push(WNode::Seq(Box::new([])), schema);
                defs.push((name, id));
                let items = self.fields(fields, defs, depth);
                defs.pop();
                self.nodes[id as usize] = WNode::Seq(items?);
                id
            }
            Schema::Enum { name, variants } => {
                let id = self.push(WNode::Enum(Box::new([])), schema);
                defs.push((name, id));
                let built = variants
                    .iter()
                    .map(|v| self.fields(&v.fields, defs, depth))
                    .collect::<Result<Box<[_]>, _>>();
                defs.pop();
                self.nodes[id as usize] = WNode::Enum(built?);
                id
            }
        };
        Ok(id)
    }

    fn fields<'s>(
        &mut self,
        fields: &'s [Field],
        defs: &mut Vec<(&'s str, WId)>,
        depth: usize,
    ) -> Result<Box<[WId]>, TranslateError> {
        fields
            .iter()
            .map(|f| self.add(&f.schema, defs, depth + 1))
            .collect()
    }

    /// Lower bounds on each node's wire size, iterated to a fixpoint from zero. Every iterate
    /// is a lower bound, so stopping early (a schema with no finite values) is still safe.
    fn compute_min_wire(&mut self) {
        self.min_wire = vec![0; self.nodes.len()];
        for _ in 0..64 {
            let mut changed = false;
            for i in 0..self.nodes.len() {
                let m = self.node_min_wire(i);
                if m != self.min_wire[i] {
                    self.min_wire[i] = m;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn node_min_wire(&self, i: usize) -> usize {
        let sum = |ids: &[WId]| {
            ids.iter()
                .fold(0usize, |acc, &id| {
                    acc.saturating_add(self.min_wire[id as usize])
                })
                .min(MIN_WIRE_CAP)
        };
        match &self.nodes[i] {
            WNode::Prim(kind) => prim_min_wire(*kind),
            WNode::Bytes | WNode::List(_) | WNode::Map(..) | WNode::Option(_) => 1,
            WNode::Array(item, n) => {
                let n = usize::try_from(*n).unwrap_or(usize::MAX);
                self.min_wire[*item as usize]
                    .saturating_mul(n)
                    .min(MIN_WIRE_CAP)
            }
            WNode::Seq(items) => sum(items),
            WNode::Enum(variants) => variants
                .iter()
                .map(|fields| sum(fields))
                .min()
                .unwrap_or(0)
                .saturating_add(1)
                .min(MIN_WIRE_CAP),
            // Never skipped; any lower bound will do.
            WNode::Channel => 0,
        }
    }

    /// Whether skipping a value of `id` could meet a channel.
    fn reaches_channel(&self, id: WId) -> bool {
        self.channel_reach[id as usize]
    }

    /// Marks every node from which a channel is reachable, walking parent links back from
    /// the channels once: linear in the graph, however many fields are later skipped (a
    /// search per skipped field would be quadratic on a hostile schema).
    fn compute_channel_reach(&mut self) {
        let mut parents: Vec<Vec<WId>> = vec![Vec::new(); self.nodes.len()];
        let mut todo = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let parent = i as WId;
            let mut link = |child: WId| parents[child as usize].push(parent);
            match node {
                WNode::Channel => todo.push(parent),
                WNode::Prim(_) | WNode::Bytes => {}
                WNode::List(c) | WNode::Array(c, _) | WNode::Option(c) => link(*c),
                WNode::Map(k, v) => {
                    link(*k);
                    link(*v);
                }
                WNode::Seq(items) => items.iter().for_each(|c| link(*c)),
                WNode::Enum(variants) => variants.iter().flatten().for_each(|c| link(*c)),
            }
        }
        let mut reach = vec![false; self.nodes.len()];
        for &c in &todo {
            reach[c as usize] = true;
        }
        while let Some(c) = todo.pop() {
            for &p in &parents[c as usize] {
                if !reach[p as usize] {
                    reach[p as usize] = true;
                    todo.push(p);
                }
            }
        }
        self.channel_reach = reach;
    }

    /// The schema node `id` was built from.
    fn origin(&self, id: WId) -> &Schema {
        // SAFETY: `origin` is only read while compiling, when it points into the writer
        // schema borrowed by `Translation::compile` for the whole compilation
        // (`runtime_only` clears it before the translation is returned).
        unsafe { &*self.origin[id as usize] }
    }
}

// -------------------------------------------------------------------------------------------
// Translation plan data
// -------------------------------------------------------------------------------------------

/// One step of a translation. `off` is relative to the base pointer of the op list; `loc`
/// indexes [`Translation::locs`] (errors, and the shape to drop on failure).
#[derive(Clone, Copy)]
pub(crate) enum TOp {
    /// A scalar whose kind is the same on both sides.
    Prim { off: usize, prim: Prim, loc: u32 },
    /// A `String` on both sides.
    String { off: usize, loc: u32 },
    /// A writer string read as a `&str` borrowed from the input.
    StrRef { off: usize, loc: u32 },
    /// A writer byte buffer read as a `&[u8]` borrowed from the input.
    BytesRef { off: usize, loc: u32 },
    /// A value whose schema is identical on both sides: the ordinary plan of its type.
    Plain {
        off: usize,
        plan: &'static Plan,
        loc: u32,
    },
    /// A writer-only value, read and discarded.
    Skip { node: WId, loc: u32 },
    /// A reader-only field (or a reader's `#[facet(skip)]` field), filled with its default.
    Default {
        off: usize,
        source: DefaultSource,
        loc: u32,
    },
    List {
        off: usize,
        elem: BlockId,
        list: &'static ListOps,
        loc: u32,
    },
    Array {
        off: usize,
        elem: BlockId,
        n: usize,
        loc: u32,
    },
    Map {
        off: usize,
        key: BlockId,
        value: BlockId,
        map: &'static MapDef,
        loc: u32,
    },
    Option {
        off: usize,
        inner: BlockId,
        vt: &'static OptionVTable,
        loc: u32,
    },
    /// A reader `Result`, fed by a writer enum; `id` indexes [`Translation::results`].
    Result {
        off: usize,
        id: u32,
        vt: &'static ResultVTable,
        loc: u32,
    },
    Boxed {
        off: usize,
        inner: BlockId,
        loc: u32,
    },
    Shared {
        off: usize,
        inner: BlockId,
        vt: &'static PointerVTable,
        loc: u32,
    },
    /// A reader enum; `id` indexes [`Translation::enums`].
    Enum { off: usize, id: u32, loc: u32 },
}

/// The op list for one (writer node, reader type) pair, made where the wire repeats or
/// chooses (list and map items, option insides, boxes, variants' payloads in results).
pub(crate) struct TBlock {
    ops: Box<[TOp]>,
    layout: Layout,
    /// The writer node the block reads (its `min_wire` bounds lengths).
    node: WId,
}

/// A reader variant that a writer variant maps to.
struct TVariant {
    discriminant: i64,
    ops: Box<[TOp]>,
}

struct TEnum {
    repr: Disc,
    /// By writer wire index: the reader variant, or `None` for a writer-only variant.
    variants: Box<[Option<TVariant>]>,
    /// The writer's variant names, by wire index (for the unknown-variant error).
    writer_names: Box<[Box<str>]>,
}

struct TResult {
    /// By writer wire index: `(is_err, payload block)`, or `None` for a writer-only variant.
    variants: Box<[Option<(bool, BlockId)>]>,
    writer_names: Box<[Box<str>]>,
}

struct TLoc {
    /// The reader type whose op list holds the op (interned: reader types are finite).
    type_name: &'static str,
    field: Option<&'static str>,
    /// The shape of the value the op writes (for skips, the enclosing type).
    shape: &'static Shape,
}

/// Interns names of the reader's types (there are finitely many: they come from local shapes,
/// never from a peer), so that errors can carry `&'static str` locations like the ordinary
/// codec's without leaking per translation.
fn intern(name: String) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(&interned) = names.get(name.as_str()) {
        return interned;
    }
    let interned: &'static str = Box::leak(name.into_boxed_str());
    names.insert(interned);
    interned
}

// -------------------------------------------------------------------------------------------
// Compiler
// -------------------------------------------------------------------------------------------

struct Compiler<'g> {
    graph: &'g WriterGraph,
    blocks: Vec<TBlock>,
    enums: Vec<TEnum>,
    results: Vec<TResult>,
    locs: Vec<TLoc>,
    /// Blocks made (or being made) per (writer node, reader type): this is what ties the knot
    /// for recursive types.
    memo: HashMap<(WId, TypeId), BlockId>,
    /// The reader's schema per type, to spot sub-values identical on both sides.
    reader_schemas: HashMap<TypeId, Schema>,
    /// How many `emit`s are in progress: bounds the compiler's own recursion, whose frames
    /// are larger than the compatibility check's.
    depth: usize,
}

/// Where in the reader's type the compiler is.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    owner: &'static str,
    field: Option<&'static str>,
    path: &'a str,
}

fn facet_kind(kind: FacetStructKind) -> StructKind {
    match kind {
        FacetStructKind::Struct => StructKind::Named,
        FacetStructKind::TupleStruct | FacetStructKind::Tuple => StructKind::Tuple,
        FacetStructKind::Unit => StructKind::Unit,
    }
}

fn unsupported(shape: &'static Shape, path: &str, reason: &'static str) -> TranslateError {
    TranslateError::Unsupported(UnsupportedShape {
        type_name: shape.to_string(),
        path: path.to_owned(),
        reason,
    })
}

impl Compiler<'_> {
    fn loc(&mut self, ctx: Ctx<'_>, shape: &'static Shape) -> u32 {
        self.locs.push(TLoc {
            type_name: ctx.owner,
            field: ctx.field,
            shape,
        });
        (self.locs.len() - 1) as u32
    }

    /// A difference [`compat::check`] should already have refused; reported the same way
    /// rather than trusted away.
    fn mismatch(&self, w: WId, shape: &'static Shape, path: &str) -> TranslateError {
        TranslateError::Incompatible(vec![Incompatibility {
            path: path.to_owned(),
            writer_type: self.graph.origin(w).type_expr(),
            reader_type: shape.to_string(),
            kind: IncompatibilityKind::TypeChanged,
        }])
    }

    fn identical(&mut self, w: WId, shape: &'static Shape) -> Result<bool, TranslateError> {
        let type_id = shape.id.get();
        let reader = match self.reader_schemas.entry(type_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(schema_of_shape(shape)?),
        };
        Ok(reader == self.graph.origin(w))
    }

    /// The block translating writer node `w` into a `shape` value, compiling it if needed.
    fn block(
        &mut self,
        w: WId,
        shape: &'static Shape,
        path: &str,
    ) -> Result<BlockId, TranslateError> {
        let key = (w, shape.id.get());
        if let Some(&id) = self.memo.get(&key) {
            return Ok(id);
        }
        let layout = shape
            .layout
            .sized_layout()
            .map_err(|_| unsupported(shape, path, "unsized types cannot be values"))?;
        let id = self.blocks.len() as BlockId;
        self.blocks.push(TBlock {
            ops: Box::new([]),
            layout,
            node: w,
        });
        self.memo.insert(key, id);
        let ctx = Ctx {
            owner: intern(shape.to_string()),
            field: None,
            path,
        };
        let mut ops = Vec::new();
        self.emit(w, shape, 0, &mut ops, ctx)?;
        self.blocks[id as usize].ops = ops.into_boxed_slice();
        Ok(id)
    }

    /// Appends the ops that read writer node `w` into a `shape` value at `off`.
    fn emit(
        &mut self,
        w: WId,
        shape: &'static Shape,
        off: usize,
        ops: &mut Vec<TOp>,
        ctx: Ctx<'_>,
    ) -> Result<(), TranslateError> {
        if self.depth >= MAX_GRAPH_DEPTH {
            return Err(graph_error(
                ctx.path,
                "the types nest too deeply to translate",
            ));
        }
        self.depth += 1;
        let result = self.emit_node(w, shape, off, ops, ctx);
        self.depth -= 1;
        result
    }

    fn emit_node(
        &mut self,
        w: WId,
        shape: &'static Shape,
        off: usize,
        ops: &mut Vec<TOp>,
        ctx: Ctx<'_>,
    ) -> Result<(), TranslateError> {
        let graph = self.graph;
        if channel_of(shape).is_some() {
            // A channel handle's wire form does not depend on its item type (items travel
            // separately and are the runtime's to translate), so the handle decodes as is.
            if !matches!(graph.nodes[w as usize], WNode::Channel) {
                return Err(self.mismatch(w, shape, ctx.path));
            }
            return self.plain(shape, off, ops, ctx);
        }
        if self.identical(w, shape)? {
            return match classify(shape) {
                Kind::Unit => Ok(()),
                Kind::Prim(prim) => {
                    let loc = self.loc(ctx, shape);
                    ops.push(TOp::Prim { off, prim, loc });
                    Ok(())
                }
                Kind::String => {
                    let loc = self.loc(ctx, shape);
                    ops.push(TOp::String { off, loc });
                    Ok(())
                }
                // Borrowed from the input: only reachable through the borrowed entry points,
                // since the owned ones refuse a translation whose reader type borrows.
                Kind::StrRef => {
                    let loc = self.loc(ctx, shape);
                    ops.push(TOp::StrRef { off, loc });
                    Ok(())
                }
                Kind::SliceRef(item) if matches!(classify(item), Kind::Prim(Prim::U8)) => {
                    let loc = self.loc(ctx, shape);
                    ops.push(TOp::BytesRef { off, loc });
                    Ok(())
                }
                _ => self.plain(shape, off, ops, ctx),
            };
        }
        let node = &graph.nodes[w as usize];
        match (classify(shape), node) {
            (Kind::Box(pointee), _) => {
                let loc = self.loc(ctx, shape);
                let inner = self.block(w, pointee, ctx.path)?;
                ops.push(TOp::Boxed { off, inner, loc });
            }
            (Kind::Shared(def, pointee), _) => {
                if def.vtable.new_into_fn.is_none() {
                    return Err(unsupported(
                        shape,
                        ctx.path,
                        "this smart pointer cannot be built through facet",
                    ));
                }
                let loc = self.loc(ctx, shape);
                let inner = self.block(w, pointee, ctx.path)?;
                ops.push(TOp::Shared {
                    off,
                    inner,
                    vt: def.vtable,
                    loc,
                });
            }
            (Kind::List(list), &WNode::List(item)) => {
                let list_ops = check_list_ops(shape, list, ctx.path)?;
                let loc = self.loc(ctx, shape);
                let elem = self.block(item, list.t, &format!("{}[]", ctx.path))?;
                ops.push(TOp::List {
                    off,
                    elem,
                    list: list_ops,
                    loc,
                });
            }
            (Kind::Array(array), &WNode::Array(item, n)) if n == array.n as u64 => {
                if array.n == 0 {
                    return Ok(());
                }
                let loc = self.loc(ctx, shape);
                let elem = self.block(item, array.t, &format!("{}[]", ctx.path))?;
                ops.push(TOp::Array {
                    off,
                    elem,
                    n: array.n,
                    loc,
                });
            }
            (Kind::Map(map), &WNode::Map(k, v)) => {
                let loc = self.loc(ctx, shape);
                let key = self.block(k, map.k, &format!("{}{{key}}", ctx.path))?;
                let value = self.block(v, map.v, &format!("{}{{value}}", ctx.path))?;
                ops.push(TOp::Map {
                    off,
                    key,
                    value,
                    map,
                    loc,
                });
            }
            (Kind::Option(def), &WNode::Option(inner)) => {
                let loc = self.loc(ctx, shape);
                let inner = self.block(inner, def.t, &format!("{}?", ctx.path))?;
                ops.push(TOp::Option {
                    off,
                    inner,
                    vt: def.vtable,
                    loc,
                });
            }
            (Kind::Result(def), WNode::Enum(_)) => {
                let Schema::Enum { variants, .. } = graph.origin(w) else {
                    return Err(self.mismatch(w, shape, ctx.path));
                };
                let id = self.result(w, variants, def.t, def.e, shape, ctx)?;
                let loc = self.loc(ctx, shape);
                ops.push(TOp::Result {
                    off,
                    id,
                    vt: def.vtable,
                    loc,
                });
            }
            (Kind::Struct(st), WNode::Seq(items)) if st.kind == FacetStructKind::Tuple => {
                if items.len() != st.fields.len() {
                    return Err(self.mismatch(w, shape, ctx.path));
                }
                let owner = intern(shape.to_string());
                for (i, (field, &item)) in st.fields.iter().zip(items.iter()).enumerate() {
                    let path = format!("{}.{i}", ctx.path);
                    let fctx = Ctx {
                        owner,
                        field: Some(field.name),
                        path: &path,
                    };
                    self.emit(item, field.shape(), off + field.offset, ops, fctx)?;
                }
            }
            (Kind::Struct(st), WNode::Seq(items)) => {
                let Schema::Struct { kind, fields, .. } = graph.origin(w) else {
                    return Err(self.mismatch(w, shape, ctx.path));
                };
                let owner = intern(shape.to_string());
                let writer = WriterFields {
                    kind: *kind,
                    fields,
                    nodes: items,
                };
                let reader = ReaderFields {
                    shape,
                    kind: facet_kind(st.kind),
                    fields: st.fields,
                    owner,
                };
                self.fields(w, &writer, &reader, off, ops, ctx.path)?;
            }
            (Kind::Enum(en), WNode::Enum(nodes)) => {
                let Schema::Enum { variants, .. } = graph.origin(w) else {
                    return Err(self.mismatch(w, shape, ctx.path));
                };
                let Some(repr) = Disc::of(en.enum_repr) else {
                    return Err(unsupported(
                        shape,
                        ctx.path,
                        "enums need an explicit repr such as `#[repr(u8)]`",
                    ));
                };
                let name = shape.to_string();
                let mut mapped = Vec::with_capacity(variants.len());
                for (wv, wnodes) in variants.iter().zip(nodes.iter()) {
                    let Some(rv) = en.variants.iter().find(|rv| rv.effective_name() == wv.name)
                    else {
                        mapped.push(None);
                        continue;
                    };
                    let Some(discriminant) = rv.discriminant else {
                        return Err(unsupported(
                            shape,
                            ctx.path,
                            "enum variant without a known discriminant",
                        ));
                    };
                    let path = format!("{}::{}", ctx.path, rv.name);
                    let writer = WriterFields {
                        kind: wv.kind,
                        fields: &wv.fields,
                        nodes: wnodes,
                    };
                    let reader = ReaderFields {
                        shape,
                        kind: facet_kind(rv.data.kind),
                        fields: rv.data.fields,
                        owner: intern(format!("{name}::{}", rv.name)),
                    };
                    let mut vops = Vec::new();
                    self.fields(w, &writer, &reader, 0, &mut vops, &path)?;
                    mapped.push(Some(TVariant {
                        discriminant,
                        ops: vops.into_boxed_slice(),
                    }));
                }
                self.enums.push(TEnum {
                    repr,
                    variants: mapped.into_boxed_slice(),
                    writer_names: variant_names(variants),
                });
                let id = (self.enums.len() - 1) as u32;
                let loc = self.loc(ctx, shape);
                ops.push(TOp::Enum { off, id, loc });
            }
            (Kind::Unsupported(reason), _) => return Err(unsupported(shape, ctx.path, reason)),
            (Kind::Ref(_) | Kind::StrRef | Kind::SliceRef(_), _) => {
                return Err(unsupported(
                    shape,
                    ctx.path,
                    "a borrowed value can only be read from the same wire type (a `&str` from a string, a `&[u8]` from bytes)",
                ));
            }
            _ => return Err(self.mismatch(w, shape, ctx.path)),
        }
        Ok(())
    }

    /// A value decoded by its type's ordinary plan.
    fn plain(
        &mut self,
        shape: &'static Shape,
        off: usize,
        ops: &mut Vec<TOp>,
        ctx: Ctx<'_>,
    ) -> Result<(), TranslateError> {
        let plan = plan_for_shape(shape)?;
        // Borrowed parts are allowed: whether the reader type may borrow is the entry
        // points' decision (see `Translation::owned_blocker`).
        if let Some(blocker) = &plan.borrow_blocker {
            return Err(TranslateError::Unsupported(blocker.clone()));
        }
        let loc = self.loc(ctx, shape);
        ops.push(TOp::Plain { off, plan, loc });
        Ok(())
    }

    /// A writer enum read as a reader `Result<ok, err>`: variants `Ok` and `Err`, each with one
    /// positional field.
    fn result(
        &mut self,
        w: WId,
        variants: &[Variant],
        ok: &'static Shape,
        err: &'static Shape,
        shape: &'static Shape,
        ctx: Ctx<'_>,
    ) -> Result<u32, TranslateError> {
        let graph = self.graph;
        let WNode::Enum(nodes) = &graph.nodes[w as usize] else {
            return Err(self.mismatch(w, shape, ctx.path));
        };
        let mut mapped = Vec::with_capacity(variants.len());
        for (wv, wnodes) in variants.iter().zip(nodes.iter()) {
            let (is_err, payload) = match wv.name.as_str() {
                "Ok" => (false, ok),
                "Err" => (true, err),
                _ => {
                    mapped.push(None);
                    continue;
                }
            };
            let path = format!("{}::{}.0", ctx.path, wv.name);
            let (StructKind::Tuple, [field], [node]) = (wv.kind, &wv.fields[..], &wnodes[..])
            else {
                return Err(self.mismatch(w, shape, &path));
            };
            if field.name != "0" {
                return Err(self.mismatch(w, shape, &path));
            }
            let block = self.block(*node, payload, &path)?;
            mapped.push(Some((is_err, block)));
        }
        self.results.push(TResult {
            variants: mapped.into_boxed_slice(),
            writer_names: variant_names(variants),
        });
        Ok((self.results.len() - 1) as u32)
    }

    /// The fields of a struct or of a matched variant: the writer's in wire order, each read
    /// into the reader's field of the same (schema) name or skipped, then the reader-only
    /// fields and the reader's `#[facet(skip)]` fields filled with their defaults.
    fn fields(
        &mut self,
        w: WId,
        writer: &WriterFields<'_>,
        reader: &ReaderFields,
        off: usize,
        ops: &mut Vec<TOp>,
        path: &str,
    ) -> Result<(), TranslateError> {
        if writer.kind != reader.kind || writer.fields.len() != writer.nodes.len() {
            return Err(self.mismatch(w, reader.shape, path));
        }
        let mut roles = Vec::with_capacity(reader.fields.len());
        for field in reader.fields {
            let role = field_role(field).map_err(|reason| {
                unsupported(reader.shape, &format!("{path}.{}", field.name), reason)
            })?;
            roles.push(role);
        }
        // Only the reader's wire fields can be matched: its skipped fields are not in its
        // schema, so a writer field of the same name is one the reader does not know.
        let find = |name: &str| {
            reader.fields.iter().zip(&roles).position(|(rf, role)| {
                matches!(role, FieldRole::Wire) && rf.effective_name() == name
            })
        };
        let skip_ctx = Ctx {
            owner: reader.owner,
            field: None,
            path,
        };
        // Each reader field is written at most once: a writer naming a field twice would
        // otherwise write one slot twice (leaking the first value, and dropping the slot twice
        // if a later field fails).
        let mut matched = vec![false; reader.fields.len()];
        for (wf, &node) in writer.fields.iter().zip(writer.nodes.iter()) {
            let fpath = format!("{path}.{}", wf.name);
            match find(&wf.name) {
                Some(i) if std::mem::replace(&mut matched[i], true) => {
                    return Err(graph_error(&fpath, "the writer names this field twice"));
                }
                Some(i) => {
                    let rf = &reader.fields[i];
                    let fctx = Ctx {
                        owner: reader.owner,
                        field: Some(rf.name),
                        path: &fpath,
                    };
                    self.emit(node, rf.shape(), off + rf.offset, ops, fctx)?;
                }
                None => {
                    if self.graph.reaches_channel(node) {
                        return Err(graph_error(
                            &fpath,
                            "a field holding a channel cannot be skipped",
                        ));
                    }
                    let loc = self.loc(skip_ctx, reader.shape);
                    ops.push(TOp::Skip { node, loc });
                }
            }
        }
        for ((rf, role), matched) in reader.fields.iter().zip(&roles).zip(&matched) {
            if *matched {
                continue;
            }
            let fpath = format!("{path}.{}", rf.name);
            let source = match (role, rf.default) {
                (FieldRole::Skipped(source), _) => *source,
                (FieldRole::Wire, Some(DefaultSource::FromTrait)) if !rf.shape().is_default() => {
                    return Err(unsupported(
                        rf.shape(),
                        &fpath,
                        "the field is `#[facet(default)]` but its type has no Default",
                    ));
                }
                (FieldRole::Wire, Some(source)) => source,
                (FieldRole::Wire, None) => {
                    return Err(TranslateError::Incompatible(vec![Incompatibility {
                        path: fpath,
                        writer_type: self.graph.origin(w).type_expr(),
                        reader_type: reader.shape.to_string(),
                        kind: IncompatibilityKind::MissingField {
                            field: rf.effective_name().to_owned(),
                            field_type: rf.shape().to_string(),
                        },
                    }]));
                }
            };
            let fctx = Ctx {
                owner: reader.owner,
                field: Some(rf.name),
                path: &fpath,
            };
            let loc = self.loc(fctx, rf.shape());
            ops.push(TOp::Default {
                off: off + rf.offset,
                source,
                loc,
            });
        }
        Ok(())
    }
}

/// A writer struct's or variant's fields, with their graph nodes.
struct WriterFields<'a> {
    kind: StructKind,
    fields: &'a [Field],
    nodes: &'a [WId],
}

/// A reader struct's or variant's fields.
struct ReaderFields {
    /// The struct or enum type.
    shape: &'static Shape,
    kind: StructKind,
    fields: &'static [facet_core::Field],
    /// Interned display name of the struct or `Enum::Variant`.
    owner: &'static str,
}

fn variant_names(variants: &[Variant]) -> Box<[Box<str>]> {
    variants.iter().map(|v| v.name.as_str().into()).collect()
}

// -------------------------------------------------------------------------------------------
// Interpreter
// -------------------------------------------------------------------------------------------

impl<'a> Interp<'a> for &'a Translation {
    type Op = TOp;
    type Block = TBlock;

    fn written(op: &TOp) -> Option<(usize, u32)> {
        match *op {
            TOp::Prim { .. } | TOp::Skip { .. } | TOp::StrRef { .. } | TOp::BytesRef { .. } => None,
            TOp::String { off, loc }
            | TOp::Plain { off, loc, .. }
            | TOp::Default { off, loc, .. }
            | TOp::List { off, loc, .. }
            | TOp::Array { off, loc, .. }
            | TOp::Map { off, loc, .. }
            | TOp::Option { off, loc, .. }
            | TOp::Result { off, loc, .. }
            | TOp::Boxed { off, loc, .. }
            | TOp::Shared { off, loc, .. }
            | TOp::Enum { off, loc, .. } => Some((off, loc)),
        }
    }

    #[inline(always)]
    unsafe fn run_op(
        self,
        op: &TOp,
        base: *mut u8,
        r: &mut Reader<'_>,
        depth: usize,
    ) -> Result<(), Fail> {
        // SAFETY: forwarded from the caller.
        unsafe { run_op(self, op, base, r, depth) }
    }

    #[cold]
    #[inline(never)]
    fn at(self, loc: u32, offset: usize) -> Location {
        let info = &self.locs[loc as usize];
        Location {
            offset,
            type_name: info.type_name,
            field: info.field,
        }
    }

    #[inline(always)]
    fn loc_shape(self, loc: u32) -> &'static Shape {
        self.locs[loc as usize].shape
    }

    #[inline(always)]
    fn block(self, id: BlockId) -> &'a TBlock {
        &self.blocks[id as usize]
    }

    #[inline(always)]
    fn layout(b: &TBlock) -> Layout {
        b.layout
    }

    #[inline(always)]
    fn min_wire(self, b: &TBlock) -> usize {
        self.graph.min_wire[b.node as usize]
    }

    #[inline(always)]
    fn prealloc(b: &TBlock, len: usize) -> usize {
        prealloc(len, b.layout.size())
    }

    #[inline(always)]
    unsafe fn run(
        self,
        b: &TBlock,
        dst: *mut u8,
        r: &mut Reader<'_>,
        depth: usize,
    ) -> Result<(), Fail> {
        // SAFETY: forwarded from the caller.
        unsafe { dec_ops(self, &b.ops, dst, r, depth) }
    }
}

#[cold]
#[inline(never)]
fn writer_only_variant(
    t: &Translation,
    names: &[Box<str>],
    index: u32,
    loc: u32,
    r: &Reader<'_>,
) -> Fail {
    Box::new(DecodeError::VariantUnknownToReader {
        variant: names
            .get(index as usize)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        index,
        at: t.at(loc, r.pos),
    })
}

/// Runs one op. On error, nothing it wrote remains initialised.
///
/// # Safety
///
/// As [`dec_ops`]; each op's `off` is the offset of a value of the op's shape inside the value
/// at `base` (the compiler took it from the reader's shape), so every cast names the real type.
unsafe fn run_op(
    t: &Translation,
    op: &TOp,
    base: *mut u8,
    r: &mut Reader<'_>,
    depth: usize,
) -> Result<(), Fail> {
    // SAFETY: see the function's safety section.
    unsafe {
        match *op {
            TOp::Prim { off, prim, loc } => dec_prim(t, prim, base.add(off), r, loc),
            TOp::String { off, loc } => dec_string(t, base.add(off), r, loc),
            TOp::StrRef { off, loc } => {
                let s = read_str(t, r, loc)?;
                base.add(off).cast::<&str>().write(s);
                Ok(())
            }
            TOp::BytesRef { off, loc } => {
                let bytes = read_bytes(t, r, loc)?;
                base.add(off).cast::<&[u8]>().write(bytes);
                Ok(())
            }
            TOp::Plain { off, plan, .. } => decode_nested(plan, base.add(off), r, depth),
            TOp::Skip { node, loc } => skip(t, node, r, depth, loc),
            TOp::Default { off, source, loc } => dec_default(t, base.add(off), source, loc),
            TOp::List {
                off,
                elem,
                list,
                loc,
            } => dec_list(t, r, base.add(off), elem, list, loc, depth),
            TOp::Array { off, elem, n, loc } => dec_array(t, base.add(off), elem, n, r, loc, depth),
            TOp::Map {
                off,
                key,
                value,
                map,
                loc,
            } => dec_map(t, base.add(off), key, value, map, r, loc, depth),
            TOp::Option {
                off,
                inner,
                vt,
                loc,
            } => dec_option(t, base.add(off), inner, vt, r, loc, depth),
            TOp::Result { off, id, vt, loc } => run_result(t, base.add(off), id, vt, r, loc, depth),
            TOp::Boxed { off, inner, loc } => dec_box(t, base.add(off), inner, r, loc, depth),
            TOp::Shared {
                off,
                inner,
                vt,
                loc,
            } => dec_shared(t, base.add(off), inner, vt, r, loc, depth),
            TOp::Enum { off, id, loc } => run_enum(t, base.add(off), id, r, loc, depth),
        }
    }
}

/// Reads a writer variant index and returns what it maps to on the reader's side, refusing an
/// index the writer's schema does not have and a variant the reader does not know.
#[inline(always)]
fn read_variant<'v, V>(
    t: &Translation,
    variants: &'v [Option<V>],
    writer_names: &[Box<str>],
    r: &mut Reader<'_>,
    loc: u32,
) -> Result<&'v V, Fail> {
    let index = r.varint_u32().map_err(|f| fail(t, f, loc, r))?;
    match variants.get(index as usize) {
        None => Err(unknown_variant(t, index, variants.len(), loc, r)),
        Some(None) => Err(writer_only_variant(t, writer_names, index, loc, r)),
        Some(Some(mapped)) => Ok(mapped),
    }
}

/// # Safety
///
/// `dst` must be valid for writing the result type of `loc`.
unsafe fn run_result(
    t: &Translation,
    dst: *mut u8,
    id: u32,
    vt: &'static ResultVTable,
    r: &mut Reader<'_>,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    let res = &t.results[id as usize];
    let &(is_err, block) = read_variant(t, &res.variants, &res.writer_names, r, loc)?;
    // SAFETY: forwarded from the caller; `block` is the payload block of the reader side
    // the writer's variant maps to.
    unsafe { dec_result_payload(t, dst, is_err, block, vt, r, loc, depth) }
}

/// # Safety
///
/// `dst` must be valid for writing the enum of `id`.
unsafe fn run_enum(
    t: &Translation,
    dst: *mut u8,
    id: u32,
    r: &mut Reader<'_>,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    let en = &t.enums[id as usize];
    let variant = read_variant(t, &en.variants, &en.writer_names, r, loc)?;
    deeper(t, loc, r, depth)?;
    // SAFETY: the variant's ops write its fields at their offsets inside the enum (all or
    // nothing); the discriminant is written last, so on failure nothing needs dropping.
    unsafe {
        dec_ops(t, &variant.ops, dst, r, depth + 1)?;
        write_discriminant(dst, en.repr, variant.discriminant);
    }
    Ok(())
}

/// Reads and discards one value of writer node `w`, with the same bounds as decoding: every
/// length is checked against the remaining input (or the zero-byte budget) and every level of
/// nesting (structs and tuples included, since a peer's schema may nest them without end)
/// counts towards [`crate::MAX_DEPTH`].
fn skip(t: &Translation, w: WId, r: &mut Reader<'_>, depth: usize, loc: u32) -> Result<(), Fail> {
    deeper(t, loc, r, depth)?;
    let graph = &t.graph;
    // A node that may take no bytes costs work without consuming input: charge each visit to
    // the input's zero-byte budget, so a writer schema of nested unit tuples cannot make one
    // payload take hours to skip.
    if graph.min_wire[w as usize] == 0 {
        if r.empty_budget == 0 {
            return Err(Box::new(DecodeError::TooManyEmptyItems {
                at: t.at(loc, r.pos),
            }));
        }
        r.empty_budget -= 1;
    }
    match &graph.nodes[w as usize] {
        WNode::Prim(PrimitiveKind::String) => {
            let len = read_len(t, r, 1, loc)?;
            let bytes = r.take(len).map_err(|f| fail(t, f, loc, r))?;
            // Not kept, but a writer that sends invalid UTF-8 is broken: refuse it as the
            // ordinary decoder would.
            if std::str::from_utf8(bytes).is_err() {
                return Err(Box::new(DecodeError::InvalidUtf8 {
                    at: t.at(loc, r.pos - len),
                }));
            }
            Ok(())
        }
        WNode::Prim(kind) => skip_prim(*kind, r).map_err(|f| fail(t, f, loc, r)),
        WNode::Bytes => {
            let len = read_len(t, r, 1, loc)?;
            r.take(len).map_err(|f| fail(t, f, loc, r))?;
            Ok(())
        }
        WNode::List(item) => {
            let len = read_len(t, r, graph.min_wire[*item as usize], loc)?;
            for _ in 0..len {
                skip(t, *item, r, depth + 1, loc)?;
            }
            Ok(())
        }
        WNode::Array(item, n) => {
            let Ok(n) = usize::try_from(*n) else {
                return Err(Box::new(DecodeError::LengthExceedsInput {
                    len: *n,
                    needed: u64::MAX,
                    remaining: r.remaining(),
                    at: t.at(loc, r.pos),
                }));
            };
            check_count(t, r, n, graph.min_wire[*item as usize], loc)?;
            for _ in 0..n {
                skip(t, *item, r, depth + 1, loc)?;
            }
            Ok(())
        }
        WNode::Map(k, v) => {
            let min = graph.min_wire[*k as usize].saturating_add(graph.min_wire[*v as usize]);
            let len = read_len(t, r, min, loc)?;
            for _ in 0..len {
                skip(t, *k, r, depth + 1, loc)?;
                skip(t, *v, r, depth + 1, loc)?;
            }
            Ok(())
        }
        WNode::Option(inner) => match r.byte().map_err(|f| fail(t, f, loc, r))? {
            0 => Ok(()),
            1 => skip(t, *inner, r, depth + 1, loc),
            byte => Err(Box::new(DecodeError::InvalidOptionTag {
                byte,
                at: t.at(loc, r.pos - 1),
            })),
        },
        WNode::Seq(items) => {
            for item in items.iter() {
                skip(t, *item, r, depth + 1, loc)?;
            }
            Ok(())
        }
        WNode::Enum(variants) => {
            let index = r.varint_u32().map_err(|f| fail(t, f, loc, r))?;
            let Some(fields) = variants.get(index as usize) else {
                return Err(unknown_variant(t, index, variants.len(), loc, r));
            };
            for field in fields.iter() {
                skip(t, *field, r, depth + 1, loc)?;
            }
            Ok(())
        }
        // Refused when compiling (`reaches_channel`); refused here too rather than guessed.
        WNode::Channel => Err(Box::new(DecodeError::Unsupported(UnsupportedShape {
            type_name: "channel".to_owned(),
            path: String::new(),
            reason: "a channel cannot be skipped",
        }))),
    }
}

/// Reads and discards one scalar other than a string, validating it like the decoder would.
fn skip_prim(kind: PrimitiveKind, r: &mut Reader<'_>) -> Result<(), ReadFail> {
    fn get<T: WirePrim>(r: &mut Reader<'_>) -> Result<(), ReadFail> {
        T::get(r).map(drop)
    }
    match kind {
        PrimitiveKind::Bool => get::<bool>(r),
        PrimitiveKind::U8 | PrimitiveKind::I8 => get::<u8>(r),
        PrimitiveKind::U16 | PrimitiveKind::I16 => get::<u16>(r),
        PrimitiveKind::U32 | PrimitiveKind::I32 => get::<u32>(r),
        PrimitiveKind::U64 | PrimitiveKind::I64 => get::<u64>(r),
        PrimitiveKind::U128 | PrimitiveKind::I128 => get::<u128>(r),
        PrimitiveKind::F32 => get::<f32>(r),
        PrimitiveKind::F64 => get::<f64>(r),
        PrimitiveKind::Char => get::<char>(r),
        // Handled by `skip`, which can report invalid UTF-8 as such.
        PrimitiveKind::String => {
            let len = r.varint_usize()?;
            r.take(len).map(drop)
        }
        PrimitiveKind::Unit => Ok(()),
    }
}
