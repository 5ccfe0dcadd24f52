//! Plans: what a type's postcard encoding is, compiled once from its facet `Shape` into a flat
//! list of operations over raw field offsets, and cached for the life of the process.
//!
//! This module owns the plan data structures, the compiler from shapes, and the process-wide
//! cache. Executing a plan is [`crate::encode`]'s and [`crate::decode`]'s job.
//!
//! # Shape of a plan
//!
//! A [`Plan`] is a set of *blocks*. A block is the op list for one type, with every op's offset
//! relative to the start of a value of that type. Structs and tuples do not get blocks of their
//! own: their fields are inlined into the enclosing op list with their offsets added up, so
//! `struct Line { a: Point, b: Point }` is four `i32` ops at offsets 0, 4, 8 and 12. A block is
//! made only where the wire has a choice or a repetition: the element of a list, array or map,
//! the inside of an `Option`, `Result` or `Box`, and each variant of an enum (variants live in an
//! [`EnumPlan`]). Ops name blocks by index, so a type that contains itself through `Box`, `Vec`
//! or `Option` compiles to a block that refers to itself, and compiling terminates.
//!
//! Scalars get one op each; `String`, `Vec<u8>` and `[u8; N]` copy their bytes in one go, and
//! lists and arrays of scalars have single ops that loop without going back to the
//! interpreter (a plain `memcpy` for `i8`, `f32` and `f64` on little-endian targets).
//!
//! # Cache
//!
//! Plans are compiled the first time a type is encoded or decoded, and then live for the rest
//! of the process (they are leaked, like the shapes they describe; there is one per type the
//! program uses). Lookups go through a small lock-free table keyed by the shape's address, then
//! a map keyed by `TypeId`; a type that cannot be compiled caches its error too. Each plan also
//! remembers the size of its last encoding, so that `encode_to_vec` usually allocates its
//! output exactly once.

use std::alloc::Layout;
use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use facet_core::{
    EnumRepr, ListDef, MapDef, OptionVTable, PointerVTable, ResultVTable, Shape, StructKind,
    StructType,
};

use crate::error::UnsupportedShape;
use crate::kind::{Kind, Prim, classify};

/// Index of a [`Block`] in [`Plan::blocks`].
pub(crate) type BlockId = u32;

/// One step of a plan. `off` is the byte offset of the value from the base pointer of the op
/// list being run; `loc` indexes [`Plan::locs`] (used for errors and for dropping on failure).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    /// A scalar.
    Prim { off: usize, prim: Prim, loc: u32 },
    /// `String`.
    String { off: usize, loc: u32 },
    /// `Vec<u8>`.
    Bytes { off: usize, loc: u32 },
    /// `[u8; len]`: raw bytes, no length prefix.
    ByteArray { off: usize, len: usize, loc: u32 },
    /// `Vec<prim>` for a scalar other than `u8`.
    PrimVec { off: usize, prim: Prim, loc: u32 },
    /// `[prim; n]` for a scalar other than `u8`.
    PrimArray {
        off: usize,
        prim: Prim,
        n: usize,
        loc: u32,
    },
    /// Any other list.
    List {
        off: usize,
        elem: BlockId,
        list: &'static ListDef,
        loc: u32,
    },
    /// Any other array.
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
    Result {
        off: usize,
        ok: BlockId,
        err: BlockId,
        vt: &'static ResultVTable,
        loc: u32,
    },
    /// `Box<T>`: a pointer to a `T` allocated with `T`'s layout.
    Boxed {
        off: usize,
        inner: BlockId,
        loc: u32,
    },
    /// `Arc<T>` / `Rc<T>`, through the pointer vtable.
    Shared {
        off: usize,
        inner: BlockId,
        vt: &'static PointerVTable,
        loc: u32,
    },
    /// An enum; `id` indexes [`Plan::enums`].
    Enum { off: usize, id: u32, loc: u32 },
    /// `&T` (encode only).
    RefTo {
        off: usize,
        inner: BlockId,
        loc: u32,
    },
    /// `&str` (encode only).
    StrRef { off: usize, loc: u32 },
    /// `&[u8]` (encode only).
    BytesRef { off: usize, loc: u32 },
    /// `&[T]` (encode only).
    SliceRef { off: usize, elem: BlockId, loc: u32 },
}

impl Op {
    pub(crate) fn loc(&self) -> u32 {
        match *self {
            Op::Prim { loc, .. }
            | Op::String { loc, .. }
            | Op::Bytes { loc, .. }
            | Op::ByteArray { loc, .. }
            | Op::PrimVec { loc, .. }
            | Op::PrimArray { loc, .. }
            | Op::List { loc, .. }
            | Op::Array { loc, .. }
            | Op::Map { loc, .. }
            | Op::Option { loc, .. }
            | Op::Result { loc, .. }
            | Op::Boxed { loc, .. }
            | Op::Shared { loc, .. }
            | Op::Enum { loc, .. }
            | Op::RefTo { loc, .. }
            | Op::StrRef { loc, .. }
            | Op::BytesRef { loc, .. }
            | Op::SliceRef { loc, .. } => loc,
        }
    }

    pub(crate) fn off(&self) -> usize {
        match *self {
            Op::Prim { off, .. }
            | Op::String { off, .. }
            | Op::Bytes { off, .. }
            | Op::ByteArray { off, .. }
            | Op::PrimVec { off, .. }
            | Op::PrimArray { off, .. }
            | Op::List { off, .. }
            | Op::Array { off, .. }
            | Op::Map { off, .. }
            | Op::Option { off, .. }
            | Op::Result { off, .. }
            | Op::Boxed { off, .. }
            | Op::Shared { off, .. }
            | Op::Enum { off, .. }
            | Op::RefTo { off, .. }
            | Op::StrRef { off, .. }
            | Op::BytesRef { off, .. }
            | Op::SliceRef { off, .. } => off,
        }
    }

    /// Whether the value this op writes owns resources that must be dropped if a later op of
    /// the same list fails.
    pub(crate) fn owns_resources(&self) -> bool {
        !matches!(
            self,
            Op::Prim { .. } | Op::ByteArray { .. } | Op::PrimArray { .. }
        )
    }
}

/// A scalar field in the compact form the scalar fast path runs: what to read and where to
/// write it. Made only for op lists that are all scalars (see [`Block::scalars`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScalarOp {
    pub(crate) off: u32,
    pub(crate) prim: Prim,
}

/// The compact form of `ops` when every op is a scalar whose offset fits in a `u32`.
fn scalar_ops(ops: &[Op]) -> Option<Box<[ScalarOp]>> {
    ops.iter()
        .map(|op| match *op {
            Op::Prim { off, prim, .. } => Some(ScalarOp {
                off: u32::try_from(off).ok()?,
                prim,
            }),
            _ => None,
        })
        .collect()
}

/// The op list for one type.
pub(crate) struct Block {
    pub(crate) ops: Box<[Op]>,
    pub(crate) shape: &'static Shape,
    pub(crate) layout: Layout,
    /// A lower bound on the bytes one value takes on the wire (used to refuse lengths that
    /// cannot fit in the remaining input before allocating for them).
    pub(crate) min_wire: usize,
    /// Every op is a scalar: the block can be run by the lean scalar loop, and a failure
    /// part way leaves nothing to drop.
    pub(crate) scalar_only: bool,
    /// The ops in compact form when `scalar_only` (empty otherwise).
    pub(crate) scalars: Box<[ScalarOp]>,
    /// How many items of this type [`crate::MAX_PREALLOC_BYTES`] holds (any number when the
    /// type is zero-sized), so that containers need not divide per decode.
    pub(crate) prealloc_items: usize,
}

/// One variant of an enum: its discriminant and the op list for its fields (offsets relative to
/// the start of the enum).
pub(crate) struct VariantPlan {
    pub(crate) discriminant: i64,
    pub(crate) ops: Box<[Op]>,
    pub(crate) min_wire: usize,
    /// As [`Block::scalar_only`].
    pub(crate) scalar_only: bool,
    /// As [`Block::scalars`].
    pub(crate) scalars: Box<[ScalarOp]>,
}

/// How an enum stores its discriminant: an integer of this type at offset 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disc {
    U8,
    U16,
    U32,
    U64,
    Usize,
    I8,
    I16,
    I32,
    I64,
    Isize,
}

impl Disc {
    pub(crate) fn of(repr: EnumRepr) -> Option<Disc> {
        Some(match repr {
            EnumRepr::U8 => Disc::U8,
            EnumRepr::U16 => Disc::U16,
            EnumRepr::U32 => Disc::U32,
            EnumRepr::U64 => Disc::U64,
            EnumRepr::USize => Disc::Usize,
            EnumRepr::I8 => Disc::I8,
            EnumRepr::I16 => Disc::I16,
            EnumRepr::I32 => Disc::I32,
            EnumRepr::I64 => Disc::I64,
            EnumRepr::ISize => Disc::Isize,
            EnumRepr::Rust | EnumRepr::RustNPO => return None,
        })
    }
}

pub(crate) struct EnumPlan {
    pub(crate) repr: Disc,
    pub(crate) variants: Box<[VariantPlan]>,
    /// Variant `i` has discriminant `i` for every `i`, so no search is needed.
    pub(crate) dense: bool,
    pub(crate) type_name: Box<str>,
}

/// What an op reads or writes, for error messages and for dropping on failure.
pub(crate) struct LocInfo {
    /// The type whose op list holds the op (the struct for a field, else the value's type).
    pub(crate) type_name: Box<str>,
    pub(crate) field: Option<&'static str>,
    /// The shape of the value the op writes.
    pub(crate) shape: &'static Shape,
}

/// A compiled plan for one type. Get one with [`crate::plan`] or [`plan_for_shape`].
pub struct Plan {
    pub(crate) shape: &'static Shape,
    pub(crate) root: BlockId,
    pub(crate) blocks: Box<[Block]>,
    pub(crate) enums: Box<[EnumPlan]>,
    pub(crate) locs: Box<[LocInfo]>,
    /// Set when the type can be encoded but not decoded (it borrows, like `&str`).
    pub(crate) decode_blocker: Option<UnsupportedShape>,
    /// The root block's scalar ops when the type is made only of scalars and can be decoded:
    /// [`crate::decode()`] then tries the scalar fast path first.
    pub(crate) root_scalars: Option<Box<[ScalarOp]>>,
    /// The length of the last encoding made with [`crate::encode_to_vec`] (capped at
    /// [`MAX_SIZE_HINT`]), used as the next output buffer's capacity so that encoding usually
    /// allocates exactly once.
    pub(crate) size_hint: AtomicUsize,
}

/// The largest output capacity [`crate::encode_to_vec`] reserves up front from past encodings.
pub(crate) const MAX_SIZE_HINT: usize = 64 * 1024;

impl Plan {
    /// The shape this plan was compiled for.
    pub fn shape(&self) -> &'static Shape {
        self.shape
    }

    /// The fewest bytes any value of the type takes on the wire (a lower bound).
    pub fn min_encoded_len(&self) -> usize {
        self.blocks[self.root as usize].min_wire
    }

    /// The capacity to give a fresh output buffer: the size of the last encoding, or the
    /// minimum encoded size before the first one.
    #[inline]
    pub(crate) fn output_capacity(&self) -> usize {
        match self.size_hint.load(Ordering::Relaxed) {
            0 => self.min_encoded_len().clamp(8, MAX_SIZE_HINT),
            hint => hint,
        }
    }

    /// Records the size of an encoding made into a fresh buffer.
    #[inline]
    pub(crate) fn record_output_len(&self, len: usize) {
        let len = len.clamp(1, MAX_SIZE_HINT);
        if self.size_hint.load(Ordering::Relaxed) != len {
            self.size_hint.store(len, Ordering::Relaxed);
        }
    }

    /// Whether values of the type can be decoded (types that borrow, such as `&str` or
    /// `(&str, u32)`, can only be encoded).
    pub fn can_decode(&self) -> bool {
        self.decode_blocker.is_none()
    }

    /// How many ops the plan holds in total (blocks and enum variants), for inspection.
    pub fn op_count(&self) -> usize {
        self.blocks.iter().map(|b| b.ops.len()).sum::<usize>()
            + self
                .enums
                .iter()
                .flat_map(|e| e.variants.iter())
                .map(|v| v.ops.len())
                .sum::<usize>()
    }
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Plan for `{}` (root block {}):", self.shape, self.root)?;
        for (i, block) in self.blocks.iter().enumerate() {
            writeln!(
                f,
                "  block {i} `{}` (size {}, min wire {}):",
                block.shape,
                block.layout.size(),
                block.min_wire
            )?;
            for op in block.ops.iter() {
                writeln!(f, "    {op:?}")?;
            }
        }
        for (i, en) in self.enums.iter().enumerate() {
            writeln!(f, "  enum {i} `{}` ({:?}):", en.type_name, en.repr)?;
            for (v, variant) in en.variants.iter().enumerate() {
                writeln!(
                    f,
                    "    variant {v} (discriminant {}):",
                    variant.discriminant
                )?;
                for op in variant.ops.iter() {
                    writeln!(f, "      {op:?}")?;
                }
            }
        }
        Ok(())
    }
}

// -------------------------------------------------------------------------------------------
// Compiler
// -------------------------------------------------------------------------------------------

struct Compiler {
    blocks: Vec<Block>,
    enums: Vec<EnumPlan>,
    locs: Vec<LocInfo>,
    /// Blocks already made (or being made) per type.
    memo: HashMap<TypeId, BlockId>,
    decode_blocker: Option<UnsupportedShape>,
}

/// Where in the type being compiled we are, for error messages.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    /// Display name of the type whose op list receives the ops.
    owner: &'a str,
    field: Option<&'static str>,
    path: &'a str,
}

fn unsupported(shape: &'static Shape, path: &str, reason: &'static str) -> UnsupportedShape {
    UnsupportedShape {
        type_name: shape.to_string(),
        path: path.to_owned(),
        reason,
    }
}

fn sized_layout(shape: &'static Shape, path: &str) -> Result<Layout, UnsupportedShape> {
    shape
        .layout
        .sized_layout()
        .map_err(|_| unsupported(shape, path, "unsized types cannot be values"))
}

impl Compiler {
    fn loc(&mut self, ctx: Ctx<'_>, shape: &'static Shape) -> u32 {
        self.locs.push(LocInfo {
            type_name: ctx.owner.into(),
            field: ctx.field,
            shape,
        });
        (self.locs.len() - 1) as u32
    }

    /// The block for `shape`, compiling it if needed.
    fn block(&mut self, shape: &'static Shape, path: &str) -> Result<BlockId, UnsupportedShape> {
        let type_id = shape.id.get();
        if let Some(&id) = self.memo.get(&type_id) {
            return Ok(id);
        }
        let layout = sized_layout(shape, path)?;
        let id = self.blocks.len() as BlockId;
        self.blocks.push(Block {
            ops: Box::new([]),
            shape,
            layout,
            min_wire: 0,
            scalar_only: false,
            scalars: Box::new([]),
            prealloc_items: crate::decode::MAX_PREALLOC_BYTES
                .checked_div(layout.size())
                .unwrap_or(usize::MAX),
        });
        self.memo.insert(type_id, id);
        let name = shape.to_string();
        let mut ops = Vec::new();
        let ctx = Ctx {
            owner: &name,
            field: None,
            path,
        };
        self.emit(shape, 0, &mut ops, ctx)?;
        let block = &mut self.blocks[id as usize];
        let scalars = scalar_ops(&ops);
        block.scalar_only = scalars.is_some();
        block.scalars = scalars.unwrap_or_default();
        block.ops = ops.into_boxed_slice();
        Ok(id)
    }

    fn block_at(
        &mut self,
        shape: &'static Shape,
        ctx: Ctx<'_>,
        suffix: &str,
    ) -> Result<BlockId, UnsupportedShape> {
        let path = format!("{}{suffix}", ctx.path);
        self.block(shape, &path)
    }

    /// Appends the ops that encode a `shape` value at `off` to `ops`.
    fn emit(
        &mut self,
        shape: &'static Shape,
        off: usize,
        ops: &mut Vec<Op>,
        ctx: Ctx<'_>,
    ) -> Result<(), UnsupportedShape> {
        match classify(shape) {
            Kind::Prim(prim) => {
                let loc = self.loc(ctx, shape);
                ops.push(Op::Prim { off, prim, loc });
            }
            Kind::Unit => {}
            Kind::String => {
                let loc = self.loc(ctx, shape);
                ops.push(Op::String { off, loc });
            }
            Kind::Bytes => {
                let loc = self.loc(ctx, shape);
                ops.push(Op::Bytes { off, loc });
            }
            Kind::List(list) => {
                let loc = self.loc(ctx, shape);
                if let Kind::Prim(prim) = classify(list.t) {
                    // `Vec<u8>` is `Kind::Bytes`; other scalar lists are all `Vec<prim>` when
                    // the list is a `Vec` (the only list with a contiguous, typed buffer
                    // whose element ops we know).
                    if is_vec_of(shape, list) {
                        ops.push(Op::PrimVec { off, prim, loc });
                        return Ok(());
                    }
                }
                check_list_ops(shape, list, ctx.path)?;
                let elem = self.block_at(list.t, ctx, "[]")?;
                ops.push(Op::List {
                    off,
                    elem,
                    list,
                    loc,
                });
            }
            Kind::Array(array) => {
                if array.n == 0 {
                    return Ok(());
                }
                let loc = self.loc(ctx, shape);
                match classify(array.t) {
                    Kind::Prim(Prim::U8) => ops.push(Op::ByteArray {
                        off,
                        len: array.n,
                        loc,
                    }),
                    Kind::Prim(prim) => ops.push(Op::PrimArray {
                        off,
                        prim,
                        n: array.n,
                        loc,
                    }),
                    _ => {
                        let elem = self.block_at(array.t, ctx, "[]")?;
                        ops.push(Op::Array {
                            off,
                            elem,
                            n: array.n,
                            loc,
                        });
                    }
                }
            }
            Kind::Map(map) => {
                let loc = self.loc(ctx, shape);
                let key = self.block_at(map.k, ctx, ".<key>")?;
                let value = self.block_at(map.v, ctx, ".<value>")?;
                ops.push(Op::Map {
                    off,
                    key,
                    value,
                    map,
                    loc,
                });
            }
            Kind::Option(def) => {
                let loc = self.loc(ctx, shape);
                let inner = self.block_at(def.t, ctx, "?")?;
                ops.push(Op::Option {
                    off,
                    inner,
                    vt: def.vtable,
                    loc,
                });
            }
            Kind::Result(def) => {
                let loc = self.loc(ctx, shape);
                let ok = self.block_at(def.t, ctx, ".<ok>")?;
                let err = self.block_at(def.e, ctx, ".<err>")?;
                ops.push(Op::Result {
                    off,
                    ok,
                    err,
                    vt: def.vtable,
                    loc,
                });
            }
            Kind::Box(pointee) => {
                let loc = self.loc(ctx, shape);
                let inner = self.block_at(pointee, ctx, "")?;
                ops.push(Op::Boxed { off, inner, loc });
            }
            Kind::Shared(def, pointee) => {
                if def.vtable.borrow_fn.is_none() || def.vtable.new_into_fn.is_none() {
                    return Err(unsupported(
                        shape,
                        ctx.path,
                        "this smart pointer cannot be borrowed or built through facet",
                    ));
                }
                let loc = self.loc(ctx, shape);
                let inner = self.block_at(pointee, ctx, "")?;
                ops.push(Op::Shared {
                    off,
                    inner,
                    vt: def.vtable,
                    loc,
                });
            }
            Kind::Ref(pointee) => {
                self.block_decode(shape, ctx.path);
                let loc = self.loc(ctx, shape);
                let inner = self.block_at(pointee, ctx, "")?;
                ops.push(Op::RefTo { off, inner, loc });
            }
            Kind::StrRef => {
                self.block_decode(shape, ctx.path);
                let loc = self.loc(ctx, shape);
                ops.push(Op::StrRef { off, loc });
            }
            Kind::SliceRef(elem_shape) => {
                self.block_decode(shape, ctx.path);
                let loc = self.loc(ctx, shape);
                if matches!(classify(elem_shape), Kind::Prim(Prim::U8)) {
                    ops.push(Op::BytesRef { off, loc });
                } else {
                    let elem = self.block_at(elem_shape, ctx, "[]")?;
                    ops.push(Op::SliceRef { off, elem, loc });
                }
            }
            Kind::Struct(st) => self.emit_fields(shape, st, off, ops, ctx)?,
            Kind::Enum(en) => {
                let Some(repr) = Disc::of(en.enum_repr) else {
                    return Err(unsupported(
                        shape,
                        ctx.path,
                        "enums need an explicit repr such as `#[repr(u8)]`",
                    ));
                };
                let loc = self.loc(ctx, shape);
                let name = shape.to_string();
                let mut variants = Vec::with_capacity(en.variants.len());
                for variant in en.variants {
                    let Some(discriminant) = variant.discriminant else {
                        return Err(unsupported(
                            shape,
                            ctx.path,
                            "enum variant without a known discriminant",
                        ));
                    };
                    let path = format!("{}::{}", ctx.path, variant.name);
                    let owner = format!("{name}::{}", variant.name);
                    let mut vops = Vec::new();
                    let vctx = Ctx {
                        owner: &owner,
                        field: None,
                        path: &path,
                    };
                    self.emit_fields(shape, &variant.data, 0, &mut vops, vctx)?;
                    let scalars = scalar_ops(&vops);
                    variants.push(VariantPlan {
                        discriminant,
                        scalar_only: scalars.is_some(),
                        scalars: scalars.unwrap_or_default(),
                        ops: vops.into_boxed_slice(),
                        min_wire: 0,
                    });
                }
                let dense = variants
                    .iter()
                    .enumerate()
                    .all(|(i, v)| v.discriminant == i as i64);
                self.enums.push(EnumPlan {
                    repr,
                    variants: variants.into_boxed_slice(),
                    dense,
                    type_name: name.into(),
                });
                let id = (self.enums.len() - 1) as u32;
                ops.push(Op::Enum { off, id, loc });
            }
            Kind::Unsupported(reason) => return Err(unsupported(shape, ctx.path, reason)),
        }
        Ok(())
    }

    fn emit_fields(
        &mut self,
        shape: &'static Shape,
        st: &'static StructType,
        off: usize,
        ops: &mut Vec<Op>,
        ctx: Ctx<'_>,
    ) -> Result<(), UnsupportedShape> {
        // Fields of a tuple struct or struct are read as `Owner.field`; the owner of a plain
        // tuple's fields is the tuple type itself.
        let owner_name;
        let owner = if ctx.field.is_some() || st.kind == StructKind::Tuple {
            owner_name = shape.to_string();
            owner_name.as_str()
        } else {
            ctx.owner
        };
        for field in st.fields {
            if field.should_skip_serializing_unconditional()
                || field.should_skip_deserializing()
                || field.is_flattened()
                || field.proxy.is_some()
                || !field.format_proxies.is_empty()
            {
                return Err(unsupported(
                    shape,
                    ctx.path,
                    "skipped, flattened and proxied fields are not supported",
                ));
            }
            let path = format!("{}.{}", ctx.path, field.name);
            let fctx = Ctx {
                owner,
                field: Some(field.name),
                path: &path,
            };
            self.emit(field.shape(), off + field.offset, ops, fctx)?;
        }
        Ok(())
    }

    fn block_decode(&mut self, shape: &'static Shape, path: &str) {
        if self.decode_blocker.is_none() {
            self.decode_blocker = Some(unsupported(
                shape,
                path,
                "borrowed values can be encoded but not decoded; decode the owned type instead",
            ));
        }
    }

    /// Computes every block's and variant's `min_wire` by iterating to a fixpoint from zero.
    /// Each iterate is a lower bound, so stopping early (for types with no finite values,
    /// such as `struct S(Box<S>)`) is still safe.
    fn compute_min_wire(&mut self) {
        for _ in 0..64 {
            let mut changed = false;
            for i in 0..self.blocks.len() {
                let m = ops_min_wire(&self.blocks[i].ops, &self.blocks, &self.enums);
                if m != self.blocks[i].min_wire {
                    self.blocks[i].min_wire = m;
                    changed = true;
                }
            }
            for e in 0..self.enums.len() {
                for v in 0..self.enums[e].variants.len() {
                    let m = ops_min_wire(&self.enums[e].variants[v].ops, &self.blocks, &self.enums);
                    if m != self.enums[e].variants[v].min_wire {
                        self.enums[e].variants[v].min_wire = m;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }
}

/// The cap on any `min_wire`, so that sums and products cannot overflow.
const MIN_WIRE_CAP: usize = 1 << 32;

fn ops_min_wire(ops: &[Op], blocks: &[Block], enums: &[EnumPlan]) -> usize {
    let mut total: usize = 0;
    for op in ops {
        let m = match *op {
            Op::Prim { prim, .. } => prim_min_wire(prim),
            Op::ByteArray { len, .. } => len,
            Op::PrimArray { prim, n, .. } => prim_min_wire(prim).saturating_mul(n),
            Op::Array { elem, n, .. } => blocks[elem as usize].min_wire.saturating_mul(n),
            Op::Result { ok, err, .. } => {
                1 + blocks[ok as usize]
                    .min_wire
                    .min(blocks[err as usize].min_wire)
            }
            Op::Boxed { inner, .. } | Op::Shared { inner, .. } | Op::RefTo { inner, .. } => {
                blocks[inner as usize].min_wire
            }
            Op::Enum { id, .. } => {
                1 + enums[id as usize]
                    .variants
                    .iter()
                    .map(|v| v.min_wire)
                    .min()
                    .unwrap_or(0)
            }
            Op::String { .. }
            | Op::Bytes { .. }
            | Op::PrimVec { .. }
            | Op::List { .. }
            | Op::Map { .. }
            | Op::Option { .. }
            | Op::StrRef { .. }
            | Op::BytesRef { .. }
            | Op::SliceRef { .. } => 1,
        };
        total = total.saturating_add(m);
    }
    total.min(MIN_WIRE_CAP)
}

pub(crate) fn prim_min_wire(prim: Prim) -> usize {
    match prim {
        Prim::F32 => 4,
        Prim::F64 => 8,
        Prim::Char => 2,
        _ => 1,
    }
}

/// Whether `shape` is `Vec<T>` (whose buffer we may fill directly as a `Vec<T>`).
fn is_vec_of(shape: &'static Shape, list: &'static ListDef) -> bool {
    shape.type_identifier == "Vec"
        && shape.module_path == Some("alloc::vec")
        && list.type_ops.is_some()
}

/// The list ops the decoder needs must exist.
pub(crate) fn check_list_ops(
    shape: &'static Shape,
    list: &'static ListDef,
    path: &str,
) -> Result<(), UnsupportedShape> {
    let direct = list.init_in_place_with_capacity().is_some()
        && list.as_mut_ptr_typed().is_some()
        && list.set_len().is_some()
        && list.reserve().is_some()
        && list.capacity().is_some();
    if !direct {
        return Err(unsupported(
            shape,
            path,
            "lists must support direct filling (Vec does)",
        ));
    }
    if list.vtable.as_ptr.is_none() {
        return Err(unsupported(
            shape,
            path,
            "lists must be contiguous in memory (Vec is)",
        ));
    }
    Ok(())
}

fn compile(shape: &'static Shape) -> Result<Plan, UnsupportedShape> {
    let mut compiler = Compiler {
        blocks: Vec::new(),
        enums: Vec::new(),
        locs: Vec::new(),
        memo: HashMap::new(),
        decode_blocker: None,
    };
    let root = compiler.block(shape, "")?;
    compiler.compute_min_wire();
    let root_block = &compiler.blocks[root as usize];
    let root_scalars = (compiler.decode_blocker.is_none() && root_block.scalar_only)
        .then(|| root_block.scalars.clone());
    Ok(Plan {
        root_scalars,
        shape,
        root,
        blocks: compiler.blocks.into_boxed_slice(),
        enums: compiler.enums.into_boxed_slice(),
        locs: compiler.locs.into_boxed_slice(),
        decode_blocker: compiler.decode_blocker,
        size_hint: AtomicUsize::new(0),
    })
}

// -------------------------------------------------------------------------------------------
// Cache
// -------------------------------------------------------------------------------------------

/// One entry of the lock-free front table: a shape address and its plan.
struct FastEntry {
    shape: *const Shape,
    plan: &'static Plan,
}

const FAST_SLOTS: usize = 64;

/// Front table indexed by a hash of the shape's address. Entries are never freed (there is at
/// most one per distinct shape address, see `ENTRIES`), so a loaded pointer stays valid.
static FAST: [AtomicPtr<FastEntry>; FAST_SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; FAST_SLOTS];

type PlanResult = Result<&'static Plan, UnsupportedShape>;

struct Registry {
    by_type: RwLock<HashMap<TypeId, PlanResult>>,
    /// The `FastEntry` made for each shape address (so re-filling a slot does not leak).
    entries: Mutex<HashMap<usize, usize>>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        by_type: RwLock::new(HashMap::new()),
        entries: Mutex::new(HashMap::new()),
    })
}

#[inline(always)]
fn slot_of(shape: &'static Shape) -> usize {
    let addr = shape as *const Shape as usize;
    ((addr >> 3) ^ (addr >> 11)) % FAST_SLOTS
}

/// The plan for `shape`, compiling and caching it on first use.
#[inline]
pub fn plan_for_shape(shape: &'static Shape) -> Result<&'static Plan, UnsupportedShape> {
    let entry = FAST[slot_of(shape)].load(Ordering::Acquire);
    // SAFETY: a non-null pointer in `FAST` comes from `Box::leak` in `remember` and is never
    // freed, and it was published with `Release` after being fully written.
    if let Some(entry) = unsafe { entry.as_ref() }
        && std::ptr::eq(entry.shape, shape)
    {
        return Ok(entry.plan);
    }
    plan_for_shape_slow(shape)
}

#[cold]
#[inline(never)]
fn plan_for_shape_slow(shape: &'static Shape) -> PlanResult {
    let reg = registry();
    let type_id = shape.id.get();
    let cached = reg
        .by_type
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&type_id)
        .cloned();
    let result = match cached {
        Some(result) => result,
        None => {
            // Compile outside the lock; if another thread raced us, keep its plan.
            let compiled: PlanResult = compile(shape).map(|plan| &*Box::leak(Box::new(plan)));
            let mut map = reg.by_type.write().unwrap_or_else(PoisonError::into_inner);
            map.entry(type_id).or_insert(compiled).clone()
        }
    };
    if let Ok(plan) = result {
        remember(reg, shape, plan);
    }
    result
}

fn remember(reg: &Registry, shape: &'static Shape, plan: &'static Plan) {
    let addr = shape as *const Shape as usize;
    let mut entries = reg.entries.lock().unwrap_or_else(PoisonError::into_inner);
    let entry = *entries.entry(addr).or_insert_with(|| {
        Box::leak(Box::new(FastEntry { shape, plan })) as *mut FastEntry as usize
    });
    FAST[slot_of(shape)].store(entry as *mut FastEntry, Ordering::Release);
}

// SAFETY: a `Plan` is immutable after compilation and only holds `&'static` shape data
// (shapes, vtables and their plain function pointers), which is never mutated; sharing it
// between threads is sound.
unsafe impl Sync for Plan {}
// SAFETY: as above; a plan owns only boxed slices of plain data.
unsafe impl Send for Plan {}
