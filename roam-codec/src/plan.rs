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
//! interpreter (a plain `memcpy` for `i8`, `f32` and `f64` on little-endian targets). A few
//! shapes that payloads use all the time get ops of their own, resolved once here rather than
//! looked up per value: `Vec<String>`, `Option<String>` and `Option<scalar>` are built directly
//! (no item dispatch, no move through facet's option vtable), an enum whose variants carry
//! nothing is one inline op, and a `Box` of an enum (a recursive enum's usual link) runs the
//! enum without going through the box's block.
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
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use facet_core::{
    ConstTypeId, Def, DefaultSource, EnumRepr, KnownPointer, ListDef, MapDef, OptionVTable,
    PointerDef, PointerVTable, ResultVTable, Shape, StructKind, StructType,
};

use crate::error::UnsupportedShape;
use crate::kind::{FieldRole, Kind, Prim, classify, field_role, with_prim};

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
        list: &'static ListOps,
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
    /// `Box<E>` for an enum `E` (a recursive enum's usual link): `Boxed` whose inner block is
    /// the single op `Enum { off: 0, id, loc: eloc }`, run without going through the block.
    BoxedEnum {
        off: usize,
        inner: BlockId,
        id: u32,
        loc: u32,
        eloc: u32,
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
    /// `Vec<String>`, built directly (no per-item dispatch). `item` is the loc of one
    /// item, as the item block of an ordinary list would have it.
    StringVec { off: usize, loc: u32, item: u32 },
    /// `Option<String>`, built directly (no move through the option vtable); `inner` is the
    /// loc of the string, as the inner block of an ordinary option would have it.
    OptString { off: usize, loc: u32, inner: u32 },
    /// `Option<prim>`, built directly; `inner` as for `OptString`.
    OptPrim {
        off: usize,
        prim: Prim,
        loc: u32,
        inner: u32,
    },
    /// An enum whose `n` variants carry nothing and have discriminants `0..n`: on the wire, the
    /// discriminant itself. `id` indexes [`Plan::enums`] (for names in errors).
    UnitEnum {
        off: usize,
        repr: Disc,
        n: u32,
        id: u32,
        loc: u32,
    },
    /// A `#[facet(skip)]` field: nothing on the wire; decoding fills it from `source`.
    Default {
        off: usize,
        source: DefaultSource,
        loc: u32,
    },
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
            | Op::BoxedEnum { loc, .. }
            | Op::Shared { loc, .. }
            | Op::Enum { loc, .. }
            | Op::RefTo { loc, .. }
            | Op::StrRef { loc, .. }
            | Op::BytesRef { loc, .. }
            | Op::SliceRef { loc, .. }
            | Op::StringVec { loc, .. }
            | Op::OptString { loc, .. }
            | Op::OptPrim { loc, .. }
            | Op::UnitEnum { loc, .. }
            | Op::Default { loc, .. } => loc,
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
            | Op::BoxedEnum { off, .. }
            | Op::Shared { off, .. }
            | Op::Enum { off, .. }
            | Op::RefTo { off, .. }
            | Op::StrRef { off, .. }
            | Op::BytesRef { off, .. }
            | Op::SliceRef { off, .. }
            | Op::StringVec { off, .. }
            | Op::OptString { off, .. }
            | Op::OptPrim { off, .. }
            | Op::UnitEnum { off, .. }
            | Op::Default { off, .. } => off,
        }
    }

    /// Whether the value this op writes owns resources that must be dropped if a later op of
    /// the same list fails.
    pub(crate) fn owns_resources(&self) -> bool {
        !matches!(
            self,
            Op::Prim { .. }
                | Op::ByteArray { .. }
                | Op::PrimArray { .. }
                | Op::OptPrim { .. }
                | Op::UnitEnum { .. }
                | Op::StrRef { .. }
                | Op::BytesRef { .. }
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
    /// Every op is a scalar or a `String`: encoding the variant's fields nests no deeper and
    /// cannot fail, so a boxed value of it is encoded inline (see `enc_op`'s `BoxedEnum`).
    pub(crate) leaf: bool,
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
    /// `dense`, the discriminant is a `u8`, and there are at most 128 variants: the
    /// discriminant byte is the variant index and its one-byte varint.
    pub(crate) byte_index: bool,
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
    /// Set when the type cannot be decoded into an owned value (it borrows, like `&str`).
    pub(crate) decode_blocker: Option<UnsupportedShape>,
    /// Set when the type cannot be decoded at all, not even borrowing from the input (`&T`
    /// for other `T` than `str` and `[u8]`, `&mut str`, ...).
    pub(crate) borrow_blocker: Option<UnsupportedShape>,
    /// Set when the type holds a borrowed value inside a user-defined struct or enum, whose
    /// lifetime cannot be checked (see [`crate::decode_borrowed`]).
    pub(crate) unchecked_borrow: Option<UnsupportedShape>,
    /// The root block's scalar ops when the type is made only of scalars and can be decoded:
    /// [`crate::decode()`] then tries the scalar fast path first.
    pub(crate) root_scalars: Option<Box<[ScalarOp]>>,
    /// Every op of `root_scalars` reads a scalar of at most 32 bits.
    pub(crate) root_narrow: bool,
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

    /// Enum plan `id` (an id taken from one of this plan's ops).
    #[inline(always)]
    pub(crate) fn enum_plan(&self, id: u32) -> &EnumPlan {
        debug_assert!((id as usize) < self.enums.len());
        // SAFETY: enum ids are only made by the compiler, as indices of enums it pushed to
        // this plan's `enums`, which never shrinks.
        unsafe { self.enums.get_unchecked(id as usize) }
    }

    /// Block `id` (an id taken from one of this plan's ops).
    #[inline(always)]
    pub(crate) fn block(&self, id: BlockId) -> &Block {
        debug_assert!((id as usize) < self.blocks.len());
        // SAFETY: block ids are only made by the compiler, as indices of blocks it pushed to
        // this plan's `blocks`, which never shrinks.
        unsafe { self.blocks.get_unchecked(id as usize) }
    }

    /// Whether values of the type can be decoded into owned values with [`crate::decode()`]
    /// (types that borrow, such as `&str` or `(&str, u32)`, cannot).
    pub fn can_decode(&self) -> bool {
        self.decode_blocker.is_none()
    }

    /// Whether values of the type can be decoded with [`crate::decode_borrowed`]: owned types,
    /// and types whose borrowed parts are `&str` and `&[u8]` reached through tuples and the
    /// standard containers only (not through the fields of a user-defined struct or enum; see
    /// [`crate::decode_borrowed_unchecked`] for those).
    pub fn can_decode_borrowed(&self) -> bool {
        self.borrow_blocker.is_none() && self.unchecked_borrow.is_none()
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
    borrow_blocker: Option<UnsupportedShape>,
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

    /// The loc an item of type `shape` has when it is the whole of its own block (the item of
    /// a list, the inside of an option): the type itself, no field.
    fn item_loc(&mut self, shape: &'static Shape) -> u32 {
        let name = shape.to_string();
        self.loc(
            Ctx {
                owner: &name,
                field: None,
                path: "",
            },
            shape,
        )
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
                if shape.id == ConstTypeId::of::<Vec<String>>() {
                    let item = self.item_loc(list.t);
                    ops.push(Op::StringVec { off, loc, item });
                    return Ok(());
                }
                if let Kind::Prim(prim) = classify(list.t) {
                    // `Vec<u8>` is `Kind::Bytes`; other scalar lists are all `Vec<prim>` when
                    // the list is a `Vec` (the only list with a contiguous, typed buffer
                    // whose element ops we know).
                    if is_vec_of(shape, list) {
                        ops.push(Op::PrimVec { off, prim, loc });
                        return Ok(());
                    }
                }
                let ops_of_list = check_list_ops(shape, list, ctx.path)?;
                let elem = self.block_at(list.t, ctx, "[]")?;
                ops.push(Op::List {
                    off,
                    elem,
                    list: ops_of_list,
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
                if shape.id == ConstTypeId::of::<Option<String>>() {
                    let inner = self.item_loc(def.t);
                    ops.push(Op::OptString { off, loc, inner });
                    return Ok(());
                }
                if let Kind::Prim(prim) = classify(def.t)
                    && is_option_of(shape, prim)
                {
                    let inner = self.item_loc(def.t);
                    ops.push(Op::OptPrim {
                        off,
                        prim,
                        loc,
                        inner,
                    });
                    return Ok(());
                }
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
                self.block_borrowed_decode(
                    shape,
                    ctx.path,
                    "only `&str` and `&[u8]` can be decoded as borrowed values; decode this reference's target as an owned value",
                );
                let loc = self.loc(ctx, shape);
                let inner = self.block_at(pointee, ctx, "")?;
                ops.push(Op::RefTo { off, inner, loc });
            }
            Kind::StrRef => {
                self.block_decode(shape, ctx.path);
                self.block_exclusive(shape, ctx.path);
                let loc = self.loc(ctx, shape);
                ops.push(Op::StrRef { off, loc });
            }
            Kind::SliceRef(elem_shape) => {
                self.block_decode(shape, ctx.path);
                self.block_exclusive(shape, ctx.path);
                let loc = self.loc(ctx, shape);
                if matches!(classify(elem_shape), Kind::Prim(Prim::U8)) {
                    ops.push(Op::BytesRef { off, loc });
                } else {
                    self.block_borrowed_decode(
                        shape,
                        ctx.path,
                        "only `&[u8]` slices can be decoded as borrowed values (other items need not lie in the input as they do in memory); decode a `Vec` instead",
                    );
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
                    let leaf = vops
                        .iter()
                        .all(|op| matches!(op, Op::Prim { .. } | Op::String { .. }));
                    variants.push(VariantPlan {
                        discriminant,
                        leaf,
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
                let unit_only = variants.iter().all(|v| v.ops.is_empty());
                let count = u32::try_from(variants.len()).ok();
                let byte_index = dense && repr == Disc::U8 && variants.len() <= 128;
                self.enums.push(EnumPlan {
                    repr,
                    variants: variants.into_boxed_slice(),
                    dense,
                    byte_index,
                    type_name: name.into(),
                });
                let id = (self.enums.len() - 1) as u32;
                match count {
                    // No variant has anything to read or write but its index, and the index
                    // is the discriminant: one inline op instead of a call per value.
                    Some(n) if dense && unit_only => ops.push(Op::UnitEnum {
                        off,
                        repr,
                        n,
                        id,
                        loc,
                    }),
                    _ => ops.push(Op::Enum { off, id, loc }),
                }
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
            let path = format!("{}.{}", ctx.path, field.name);
            let fctx = Ctx {
                owner,
                field: Some(field.name),
                path: &path,
            };
            match field_role(field).map_err(|reason| unsupported(shape, &path, reason))? {
                FieldRole::Wire => self.emit(field.shape(), off + field.offset, ops, fctx)?,
                FieldRole::Skipped(source) => {
                    sized_layout(field.shape(), &path)?;
                    let loc = self.loc(fctx, field.shape());
                    ops.push(Op::Default {
                        off: off + field.offset,
                        source,
                        loc,
                    });
                }
            }
        }
        Ok(())
    }

    /// Records that the type borrows, so that it cannot be decoded into an owned value.
    fn block_decode(&mut self, shape: &'static Shape, path: &str) {
        if self.decode_blocker.is_none() {
            self.decode_blocker = Some(unsupported(
                shape,
                path,
                "borrowed values cannot be decoded as owned ones; decode them with `decode_borrowed` (`&str` and `&[u8]`) or decode the owned type instead",
            ));
        }
    }

    /// Records that the type cannot be decoded even borrowing from the input.
    fn block_borrowed_decode(&mut self, shape: &'static Shape, path: &str, reason: &'static str) {
        if self.borrow_blocker.is_none() {
            self.borrow_blocker = Some(unsupported(shape, path, reason));
        }
    }

    /// `&mut str` and `&mut [u8]` can be encoded, but the input is shared: refuse to decode
    /// them.
    fn block_exclusive(&mut self, shape: &'static Shape, path: &str) {
        let shared = matches!(
            shape.def,
            Def::Pointer(PointerDef {
                known: Some(KnownPointer::SharedReference),
                ..
            })
        );
        if !shared {
            self.block_borrowed_decode(
                shape,
                path,
                "only shared references can borrow from the input",
            );
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

impl Compiler {
    /// Turns every `Boxed` whose inner block is a lone enum into `BoxedEnum`. Done once all
    /// blocks are compiled, since a recursive enum's box is emitted while its own block is
    /// still being built.
    fn fuse_boxed_enums(&mut self) {
        let lone_enum: Vec<Option<(u32, u32)>> = self
            .blocks
            .iter()
            .map(|b| match *b.ops {
                [Op::Enum { off: 0, id, loc }] => Some((id, loc)),
                _ => None,
            })
            .collect();
        let fuse = |op: &mut Op| {
            if let Op::Boxed { off, inner, loc } = *op
                && let Some((id, eloc)) = lone_enum[inner as usize]
            {
                *op = Op::BoxedEnum {
                    off,
                    inner,
                    id,
                    loc,
                    eloc,
                };
            }
        };
        for block in &mut self.blocks {
            block.ops.iter_mut().for_each(fuse);
        }
        for en in &mut self.enums {
            for variant in en.variants.iter_mut() {
                variant.ops.iter_mut().for_each(fuse);
            }
        }
    }
}

/// The first borrowed value (a reference of any kind) that `shape` holds inside the fields of a
/// user-defined struct or enum, as an error for [`crate::decode_borrowed`].
///
/// facet's own impls for references, tuples and the standard containers tie every borrowed
/// part to the `'facet` lifetime (`&'a T: Facet<'a>`, `Vec<T>: Facet<'a>` only if
/// `T: Facet<'a>`, ...), so `T: Facet<'de>` proves that such a part borrows for exactly `'de`.
/// facet's derive does not: `struct S { s: &'static str }` implements `Facet<'a>` for every
/// `'a`, so a borrowed value inside a derived type may carry a lifetime (`'static`) that
/// outlives the input. This walk finds those.
fn borrow_in_user_type(shape: &'static Shape) -> Option<UnsupportedShape> {
    fn walk(
        shape: &'static Shape,
        in_user: bool,
        path: &mut String,
        seen: &mut HashSet<(TypeId, bool)>,
    ) -> Option<UnsupportedShape> {
        if !seen.insert((shape.id.get(), in_user)) {
            return None;
        }
        let mut child = |shape: &'static Shape, in_user: bool, suffix: &str, path: &mut String| {
            let len = path.len();
            path.push_str(suffix);
            let found = walk(shape, in_user, path, seen);
            path.truncate(len);
            found
        };
        match classify(shape) {
            Kind::Ref(_) | Kind::StrRef | Kind::SliceRef(_) if in_user => Some(unsupported(
                shape,
                path,
                "`decode_borrowed` cannot check the lifetime of a borrowed value inside a user-defined struct or enum (facet's derive accepts `&'static str` fields for any input lifetime); use `decode_borrowed_unchecked`, or hold the value in a tuple",
            )),
            Kind::Prim(_)
            | Kind::Unit
            | Kind::String
            | Kind::Bytes
            | Kind::Ref(_)
            | Kind::StrRef
            | Kind::SliceRef(_)
            | Kind::Unsupported(_) => None,
            Kind::List(def) => child(def.t, in_user, "[]", path),
            Kind::Array(def) => child(def.t, in_user, "[]", path),
            Kind::Map(def) => child(def.k, in_user, ".<key>", path)
                .or_else(|| child(def.v, in_user, ".<value>", path)),
            Kind::Option(def) => child(def.t, in_user, "?", path),
            Kind::Result(def) => child(def.t, in_user, ".<ok>", path)
                .or_else(|| child(def.e, in_user, ".<err>", path)),
            Kind::Box(pointee) | Kind::Shared(_, pointee) => child(pointee, in_user, "", path),
            Kind::Struct(st) => {
                // Plain tuples are facet's own impl; every other struct is taken to be derived.
                let user = in_user || st.kind != StructKind::Tuple;
                st.fields
                    .iter()
                    .find_map(|f| child(f.shape(), user, &format!(".{}", f.name), path))
            }
            Kind::Enum(en) => en.variants.iter().find_map(|v| {
                v.data
                    .fields
                    .iter()
                    .find_map(|f| child(f.shape(), true, &format!("::{}.{}", v.name, f.name), path))
            }),
        }
    }
    walk(shape, false, &mut String::new(), &mut HashSet::new())
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
            Op::Boxed { inner, .. }
            | Op::BoxedEnum { inner, .. }
            | Op::Shared { inner, .. }
            | Op::RefTo { inner, .. } => blocks[inner as usize].min_wire,
            Op::Enum { id, .. } => {
                1 + enums[id as usize]
                    .variants
                    .iter()
                    .map(|v| v.min_wire)
                    .min()
                    .unwrap_or(0)
            }
            Op::Default { .. } => 0,
            Op::UnitEnum { .. } => 1,
            Op::String { .. }
            | Op::StringVec { .. }
            | Op::OptString { .. }
            | Op::OptPrim { .. }
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

/// The in-memory size of scalar `prim`.
fn prim_size(prim: Prim) -> usize {
    with_prim!(prim, T => size_of::<T>())
}

pub(crate) fn prim_min_wire(prim: Prim) -> usize {
    match prim {
        Prim::F32 => 4,
        Prim::F64 => 8,
        Prim::Char => 2,
        _ => 1,
    }
}

/// Whether `shape` is `Option<prim>` (which we may then build directly).
fn is_option_of(shape: &'static Shape, prim: Prim) -> bool {
    with_prim!(prim, T => shape.id == ConstTypeId::of::<Option<T>>())
}

/// Whether `shape` is `Vec<T>` (whose buffer we may fill directly as a `Vec<T>`).
fn is_vec_of(shape: &'static Shape, list: &'static ListDef) -> bool {
    shape.type_identifier == "Vec"
        && shape.module_path == Some("alloc::vec")
        && list.type_ops.is_some()
}

/// The functions a list op calls, looked up in facet's vtables once per list type (when a plan
/// or translation is compiled) rather than through their `Option`s on every list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListOps {
    pub(crate) len: facet_core::ListLenFn,
    pub(crate) as_ptr: facet_core::ListAsPtrFn,
    pub(crate) init: facet_core::ListInitInPlaceWithCapacityFn,
    pub(crate) as_mut_ptr: facet_core::ListAsMutPtrTypedFn,
    pub(crate) set_len: facet_core::ListSetLenFn,
    pub(crate) reserve: facet_core::ListReserveFn,
    pub(crate) capacity: facet_core::ListCapacityFn,
}

/// The list ops the codec needs, which must exist, resolved once per list type: kept for the
/// life of the process, one per list type in the program (keyed by its `ListDef`, a static),
/// so compiling translations for any number of peers adds nothing.
pub(crate) fn check_list_ops(
    shape: &'static Shape,
    list: &'static ListDef,
    path: &str,
) -> Result<&'static ListOps, UnsupportedShape> {
    type Table = std::sync::RwLock<HashMap<usize, &'static ListOps>>;
    static RESOLVED: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    let key = std::ptr::from_ref(list) as usize;
    let table = RESOLVED.get_or_init(Default::default);
    if let Some(found) = table.read().ok().and_then(|t| t.get(&key).copied()) {
        return Ok(found);
    }
    let (Some(init), Some(as_mut_ptr), Some(set_len), Some(reserve), Some(capacity)) = (
        list.init_in_place_with_capacity(),
        list.as_mut_ptr_typed(),
        list.set_len(),
        list.reserve(),
        list.capacity(),
    ) else {
        return Err(unsupported(
            shape,
            path,
            "lists must support direct filling (Vec does)",
        ));
    };
    let Some(as_ptr) = list.vtable.as_ptr else {
        return Err(unsupported(
            shape,
            path,
            "lists must be contiguous in memory (Vec is)",
        ));
    };
    let ops = ListOps {
        len: list.vtable.len,
        as_ptr,
        init,
        as_mut_ptr,
        set_len,
        reserve,
        capacity,
    };
    match table.write() {
        Ok(mut t) => Ok(*t.entry(key).or_insert_with(|| Box::leak(Box::new(ops)))),
        // A poisoned table only costs the memo: this list type gets its own copy.
        Err(_) => Ok(Box::leak(Box::new(ops))),
    }
}

fn compile(shape: &'static Shape) -> Result<Plan, UnsupportedShape> {
    let mut compiler = Compiler {
        blocks: Vec::new(),
        enums: Vec::new(),
        locs: Vec::new(),
        memo: HashMap::new(),
        decode_blocker: None,
        borrow_blocker: None,
    };
    let root = compiler.block(shape, "")?;
    compiler.compute_min_wire();
    compiler.fuse_boxed_enums();
    let root_block = &compiler.blocks[root as usize];
    // The root fast path (`decode_root_scalars`) leaves `u128`, `i128` and `char` to the
    // careful path; types holding them skip it.
    let root_scalars = (compiler.decode_blocker.is_none()
        && root_block.scalar_only
        && root_block
            .scalars
            .iter()
            .all(|op| !matches!(op.prim, Prim::U128 | Prim::I128 | Prim::Char)))
    .then(|| root_block.scalars.clone());
    let root_narrow = root_scalars
        .as_deref()
        .is_some_and(|ops| ops.iter().all(|op| prim_size(op.prim) <= 4));
    Ok(Plan {
        root_scalars,
        root_narrow,
        shape,
        root,
        blocks: compiler.blocks.into_boxed_slice(),
        enums: compiler.enums.into_boxed_slice(),
        locs: compiler.locs.into_boxed_slice(),
        unchecked_borrow: compiler
            .decode_blocker
            .is_some()
            .then(|| borrow_in_user_type(shape))
            .flatten(),
        decode_blocker: compiler.decode_blocker,
        borrow_blocker: compiler.borrow_blocker,
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
