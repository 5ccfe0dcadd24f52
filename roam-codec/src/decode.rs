//! Running a plan backwards: reading postcard bytes and building a value in place.
//!
//! This module owns the decode interpreter and its safety discipline:
//!
//! * **Bounded.** Every length is read, multiplied by the smallest wire size of one item, and
//!   compared with the remaining input before anything is allocated; a buffer is then
//!   pre-allocated for at most [`MAX_PREALLOC_BYTES`] and grows as items actually arrive. Items
//!   that take no bytes at all (such as `()`) draw on a per-input budget of
//!   [`crate::MAX_EMPTY_ITEMS`]. Nesting is limited to [`crate::MAX_DEPTH`].
//! * **Panic-free.** Invalid input becomes a [`DecodeError`] naming the offset, type and field.
//! * **All or nothing.** Decoding an op list into uninitialised memory either initialises every
//!   value the list describes or, on error, drops the ones it had already written (in reverse)
//!   and leaves the memory uninitialised. Every container relies on that: a list that fails at
//!   element `i` sets its length to `i` and drops itself, an `Option` whose inner value fails
//!   has nothing to drop, a `Box` frees its allocation, and so on. Nothing leaks and nothing is
//!   dropped twice.

use std::alloc::{self, Layout};
use std::mem::MaybeUninit;
use std::ptr;

use facet_core::{
    Def, DefaultSource, MapDef, OptionVTable, PointerVTable, PtrConst, PtrMut, PtrUninit,
    ResultVTable, Shape,
};

use crate::MAX_DEPTH;
use crate::error::{DecodeError, Location, UnsupportedShape};
use crate::kind::{Prim, with_prim};
use crate::plan::{Block, BlockId, Disc, ListOps, Op, Plan, ScalarOp};
use crate::wire::{ReadFail, Reader, WirePrim, owned_string, utf8};

/// A decode failure inside the interpreter: boxed, so that every internal `Result` is one
/// register wide on the success path.
type Fail = Box<DecodeError>;

/// The most a container pre-allocates from a length prefix before its items have been read.
pub const MAX_PREALLOC_BYTES: usize = 1 << 20;

impl Plan {
    /// Decodes one value from the start of `bytes` into `dst` and returns how many bytes it
    /// took. On error `dst` is left uninitialised and nothing is leaked.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes of, and aligned for, the type this plan was compiled for.
    #[inline]
    pub unsafe fn decode_raw(
        &'static self,
        bytes: &[u8],
        dst: *mut u8,
    ) -> Result<usize, DecodeError> {
        if let Some(blocker) = &self.decode_blocker {
            return Err(DecodeError::Unsupported(blocker.clone()));
        }
        // SAFETY: forwarded from the caller; the plan holds no borrowed values.
        unsafe { self.decode_raw_borrowed(bytes, dst) }
    }

    /// Decodes one value from all of `bytes` into `dst` (trailing bytes are an error): the body
    /// of [`crate::decode()`] and [`crate::decode_borrowed()`], kept out of the generic
    /// functions so that each type adds only a call. With `borrowed`, the value may hold
    /// `&str` and `&[u8]` that borrow from `bytes`. On error `dst` is left uninitialised and
    /// nothing is leaked.
    ///
    /// # Safety
    ///
    /// As [`decode_raw`](Self::decode_raw); with `borrowed`, also as
    /// [`decode_raw_borrowed`](Self::decode_raw_borrowed).
    #[inline(always)]
    pub(crate) unsafe fn decode_exact(
        &'static self,
        bytes: &[u8],
        dst: *mut u8,
        borrowed: bool,
    ) -> Result<(), DecodeError> {
        // Types made only of scalars (which never borrow) first try the lean path, which
        // either decodes the whole input or writes nothing that needs dropping; anything it
        // refuses is decoded again below to report the error.
        if let Some(ops) = &self.root_scalars
            // SAFETY: `dst` is valid for writes of the type the ops were compiled for (caller).
            && unsafe { decode_root_scalars(ops, self.root_narrow, bytes, dst) }
        {
            return Ok(());
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.decode_exact_slow(bytes, dst, borrowed) }
    }

    /// The rest of [`decode_exact`](Self::decode_exact).
    ///
    /// # Safety
    ///
    /// As `decode_exact`.
    #[inline(never)]
    unsafe fn decode_exact_slow(
        &'static self,
        bytes: &[u8],
        dst: *mut u8,
        borrowed: bool,
    ) -> Result<(), DecodeError> {
        // SAFETY: forwarded from the caller.
        let used = unsafe {
            if borrowed {
                self.decode_raw_borrowed(bytes, dst)?
            } else {
                self.decode_raw(bytes, dst)?
            }
        };
        if used != bytes.len() {
            // SAFETY: the value at `dst` was initialised by the decode above and is dropped
            // once, here; `dst` is then uninitialised again, as on every error.
            unsafe { self.shape.call_drop_in_place(PtrMut::new(dst)) };
            return Err(DecodeError::TrailingBytes {
                consumed: used,
                total: bytes.len(),
            });
        }
        Ok(())
    }

    /// As [`decode_raw`](Self::decode_raw), but the value may also hold `&str` and `&[u8]`
    /// that borrow from `bytes`.
    ///
    /// # Safety
    ///
    /// As `decode_raw`; in addition, the value written to `dst` must not be used after `bytes`
    /// is gone (the caller ties the value's lifetime to the input's).
    #[inline(always)]
    pub(crate) unsafe fn decode_raw_borrowed(
        &'static self,
        bytes: &[u8],
        dst: *mut u8,
    ) -> Result<usize, DecodeError> {
        if let Some(blocker) = &self.borrow_blocker {
            return Err(DecodeError::Unsupported(blocker.clone()));
        }
        let mut r = Reader::new(bytes);
        let root = self.block(self.root);
        // SAFETY: forwarded from the caller; the root block describes the root type.
        let result = unsafe {
            if root.scalar_only {
                dec_scalar_items_inline(self, &root.ops, dst, 0, 1, &mut r)
            } else {
                dec_ops(self, &root.ops, dst, &mut r, 0)
            }
        };
        match result {
            Ok(()) => Ok(r.pos),
            Err(e) => Err(*e),
        }
    }
}

/// Decodes one value of `p`'s type into `dst` with a reader and nesting depth that belong to a
/// caller: the translation interpreter ([`crate::translate`]) hands sub-values whose schemas
/// are identical on both sides to their ordinary plan this way, so that the input's limits
/// (position, zero-byte item budget, [`MAX_DEPTH`]) stay shared rather than restarting.
///
/// # Safety
///
/// `dst` must be valid for writes of, and aligned for, `p`'s type. On error it is left
/// uninitialised and nothing is leaked.
///
/// The value may borrow from the input (the translation's entry points decide whether it may:
/// a translation whose reader type borrows is refused by the owned ones).
pub(crate) unsafe fn decode_nested(
    p: &'static Plan,
    dst: *mut u8,
    r: &mut Reader<'_>,
    depth: usize,
) -> Result<(), Fail> {
    if let Some(blocker) = &p.borrow_blocker {
        return Err(Box::new(DecodeError::Unsupported(blocker.clone())));
    }
    let root = &p.blocks[p.root as usize];
    // SAFETY: forwarded from the caller; the root block describes the plan's type.
    unsafe { dec_block(p, root, dst, r, depth) }
}

/// What the shared container builders below need from an interpreter: the ordinary decoder
/// (`&'static Plan`, whose blocks are [`Block`]s) and the translator
/// ([`crate::translate`], whose blocks read a peer's encoding) both implement it, so lists,
/// arrays, maps, options, boxes and smart pointers are built, bounded and cleaned up by one
/// piece of code that only differs in how it decodes one inner value and names a location.
pub(crate) trait Interp<'a>: Copy {
    /// One step of an op list.
    type Op: 'a;

    /// The op list for one inner type.
    type Block: 'a;

    /// The offset and loc of the value `op` writes, if it may need dropping after a later op
    /// of the same list fails.
    fn written(op: &Self::Op) -> Option<(usize, u32)>;

    /// Runs one op on `base`; on error, nothing it wrote remains initialised.
    ///
    /// # Safety
    ///
    /// `base` must be valid for writes of the type whose op list holds `op`.
    unsafe fn run_op(
        self,
        op: &Self::Op,
        base: *mut u8,
        r: &mut Reader<'_>,
        depth: usize,
    ) -> Result<(), Fail>;

    /// Where an error at `loc` is reported, with the input offset `offset`.
    fn at(self, loc: u32, offset: usize) -> Location;

    /// The shape of the value the op at `loc` writes.
    fn loc_shape(self, loc: u32) -> &'static Shape;

    fn block(self, id: BlockId) -> &'a Self::Block;

    /// The memory layout of one value of the block's type.
    fn layout(b: &Self::Block) -> Layout;

    /// A lower bound on the bytes one value of the block takes on the wire.
    fn min_wire(self, b: &Self::Block) -> usize;

    /// How many items of the block's type to reserve room for, given a checked length.
    fn prealloc(b: &Self::Block, len: usize) -> usize;

    /// Decodes one value of the block into `dst`, all or nothing.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes of the block's type and hold nothing that needs dropping.
    unsafe fn run(
        self,
        b: &Self::Block,
        dst: *mut u8,
        r: &mut Reader<'_>,
        depth: usize,
    ) -> Result<(), Fail>;

    /// Decodes `n` values of the block, `stride` bytes apart, in one go when the block allows
    /// a fast path that leaves nothing to drop on failure; `None` when it does not.
    ///
    /// # Safety
    ///
    /// `base` must be valid for writing `n` such values.
    #[inline(always)]
    unsafe fn run_items_fast(
        self,
        _b: &Self::Block,
        _base: *mut u8,
        _stride: usize,
        _n: usize,
        _r: &mut Reader<'_>,
    ) -> Option<Result<(), Fail>> {
        None
    }

    /// Drops the value an op wrote at `ptr` (cold path: only after a later failure).
    ///
    /// # Safety
    ///
    /// `ptr` must hold an initialised value of `loc`'s shape.
    #[cold]
    unsafe fn drop_value(self, loc: u32, ptr: *mut u8) {
        // SAFETY: forwarded from the caller.
        unsafe { self.loc_shape(loc).call_drop_in_place(PtrMut::new(ptr)) };
    }
}

impl Interp<'static> for &'static Plan {
    type Op = Op;
    type Block = Block;

    #[inline(always)]
    fn written(op: &Op) -> Option<(usize, u32)> {
        op.owns_resources().then(|| (op.off(), op.loc()))
    }

    #[inline(always)]
    unsafe fn run_op(
        self,
        op: &Op,
        base: *mut u8,
        r: &mut Reader<'_>,
        depth: usize,
    ) -> Result<(), Fail> {
        // SAFETY: forwarded from the caller.
        unsafe { dec_op(self, op, base, r, depth) }
    }

    #[cold]
    #[inline(never)]
    fn at(self, loc: u32, offset: usize) -> Location {
        let info = &self.locs[loc as usize];
        Location {
            offset,
            type_name: &info.type_name,
            field: info.field,
        }
    }

    #[inline(always)]
    fn loc_shape(self, loc: u32) -> &'static Shape {
        self.locs[loc as usize].shape
    }

    #[inline(always)]
    fn block(self, id: BlockId) -> &'static Block {
        Plan::block(self, id)
    }

    #[inline(always)]
    fn layout(b: &Block) -> Layout {
        b.layout
    }

    #[inline(always)]
    fn min_wire(self, b: &Block) -> usize {
        b.min_wire
    }

    #[inline(always)]
    fn prealloc(b: &Block, len: usize) -> usize {
        len.min(b.prealloc_items)
    }

    #[inline(always)]
    unsafe fn run(
        self,
        b: &Block,
        dst: *mut u8,
        r: &mut Reader<'_>,
        depth: usize,
    ) -> Result<(), Fail> {
        // SAFETY: forwarded from the caller.
        unsafe { dec_block(self, b, dst, r, depth) }
    }

    /// Items of scalars (e.g. `Vec<Point>`) are decoded in one call; a partial failure
    /// leaves nothing to drop.
    #[inline(always)]
    unsafe fn run_items_fast(
        self,
        b: &Block,
        base: *mut u8,
        stride: usize,
        n: usize,
        r: &mut Reader<'_>,
    ) -> Option<Result<(), Fail>> {
        if !b.scalar_only {
            return None;
        }
        // SAFETY: forwarded from the caller; the block is scalar-only.
        Some(unsafe { dec_scalar_items(self, &b.ops, &b.scalars, base, stride, n, r) })
    }
}

#[cold]
#[inline(never)]
pub(crate) fn fail<'a, I: Interp<'a>>(i: I, fail: ReadFail, loc: u32, r: &Reader<'_>) -> Fail {
    let at = i.at(loc, r.pos);
    Box::new(match fail {
        ReadFail::End => DecodeError::UnexpectedEnd { at },
        ReadFail::Varint => DecodeError::BadVarint { at },
        ReadFail::Bool(byte) => DecodeError::InvalidBool { byte, at },
        ReadFail::Char => DecodeError::InvalidChar { at },
    })
}

#[cold]
#[inline(never)]
fn too_deep<'a, I: Interp<'a>>(i: I, loc: u32, r: &Reader<'_>) -> Fail {
    Box::new(DecodeError::DepthLimitExceeded {
        limit: MAX_DEPTH,
        at: i.at(loc, r.pos),
    })
}

#[cold]
#[inline(never)]
pub(crate) fn unknown_variant<'a, I: Interp<'a>>(
    i: I,
    index: u32,
    variants: usize,
    loc: u32,
    r: &Reader<'_>,
) -> Fail {
    Box::new(DecodeError::UnknownVariant {
        index,
        variants,
        at: i.at(loc, r.pos),
    })
}

/// Refuses to go one level deeper than [`MAX_DEPTH`].
#[inline(always)]
pub(crate) fn deeper<'a, I: Interp<'a>>(
    i: I,
    loc: u32,
    r: &Reader<'_>,
    depth: usize,
) -> Result<(), Fail> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(i, loc, r));
    }
    Ok(())
}

#[cold]
#[inline(never)]
pub(crate) fn unsupported_at<'a, I: Interp<'a>>(i: I, loc: u32, reason: &'static str) -> Fail {
    Box::new(DecodeError::Unsupported(UnsupportedShape {
        type_name: i.loc_shape(loc).to_string(),
        path: String::new(),
        reason,
    }))
}

/// How many items to reserve room for up front, given a checked length.
#[inline(always)]
pub(crate) fn prealloc(len: usize, item_size: usize) -> usize {
    // Zero-sized items need no memory at all.
    match MAX_PREALLOC_BYTES.checked_div(item_size) {
        Some(max_items) => len.min(max_items),
        None => len,
    }
}

/// Reads a length prefix and checks that `len` items of at least `min_wire` bytes each can fit
/// in the remaining input (or, for zero-byte items, that the input's budget allows them).
#[inline(always)]
pub(crate) fn read_len<'a, I: Interp<'a>>(
    i: I,
    r: &mut Reader<'_>,
    min_wire: usize,
    loc: u32,
) -> Result<usize, Fail> {
    let len = match r.varint_usize() {
        Ok(len) => len,
        Err(f) => return Err(fail(i, f, loc, r)),
    };
    check_count(i, r, len, min_wire, loc)?;
    Ok(len)
}

#[inline(always)]
pub(crate) fn check_count<'a, I: Interp<'a>>(
    i: I,
    r: &mut Reader<'_>,
    len: usize,
    min_wire: usize,
    loc: u32,
) -> Result<(), Fail> {
    if min_wire == 0 {
        if len > r.empty_budget {
            return Err(too_many_empty(i, loc, r));
        }
        r.empty_budget -= len;
    } else {
        let needed = (len as u128) * (min_wire as u128);
        if needed > r.remaining() as u128 {
            return Err(length_exceeds(i, loc, r, len, needed));
        }
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn too_many_empty<'a, I: Interp<'a>>(i: I, loc: u32, r: &Reader<'_>) -> Fail {
    Box::new(DecodeError::TooManyEmptyItems {
        at: i.at(loc, r.pos),
    })
}

#[cold]
#[inline(never)]
fn length_exceeds<'a, I: Interp<'a>>(
    i: I,
    loc: u32,
    r: &Reader<'_>,
    len: usize,
    needed: u128,
) -> Fail {
    Box::new(DecodeError::LengthExceedsInput {
        len: len as u64,
        needed: u64::try_from(needed).unwrap_or(u64::MAX),
        remaining: r.remaining(),
        at: i.at(loc, r.pos),
    })
}

/// Scratch memory for one value of `layout`: on the stack when small, else on the heap.
/// The value is moved out (or dropped) by `f`; the memory is released afterwards.
#[inline(always)]
pub(crate) unsafe fn with_scratch<R>(layout: Layout, f: impl FnOnce(*mut u8) -> R) -> R {
    #[repr(C, align(16))]
    struct Inline([MaybeUninit<u8>; 128]);
    if layout.size() <= 128 && layout.align() <= 16 {
        let mut buf = Inline([MaybeUninit::uninit(); 128]);
        f(buf.0.as_mut_ptr().cast::<u8>())
    } else {
        // SAFETY: the layout is larger than 128 bytes, so non-zero.
        let mem = unsafe { alloc::alloc(layout) };
        if mem.is_null() {
            alloc::handle_alloc_error(layout);
        }
        let out = f(mem);
        // SAFETY: `mem` was allocated above with `layout`, and `f` has moved out of or dropped
        // whatever it wrote there.
        unsafe { alloc::dealloc(mem, layout) };
        out
    }
}

/// Writes `d` as the discriminant of the enum at `dst`.
///
/// # Safety
///
/// `dst` must point to an enum whose discriminant is stored as `repr` at offset 0.
#[inline(always)]
pub(crate) unsafe fn write_discriminant(dst: *mut u8, repr: Disc, d: i64) {
    // SAFETY: forwarded from the caller; the discriminant was declared with this repr, so the
    // truncating casts are exact.
    unsafe {
        match repr {
            Disc::U8 => dst.write(d as u8),
            Disc::U16 => dst.cast::<u16>().write(d as u16),
            Disc::U32 => dst.cast::<u32>().write(d as u32),
            Disc::U64 => dst.cast::<u64>().write(d as u64),
            Disc::Usize => dst.cast::<usize>().write(d as usize),
            Disc::I8 => dst.cast::<i8>().write(d as i8),
            Disc::I16 => dst.cast::<i16>().write(d as i16),
            Disc::I32 => dst.cast::<i32>().write(d as i32),
            Disc::I64 => dst.cast::<i64>().write(d),
            Disc::Isize => dst.cast::<isize>().write(d as isize),
        }
    }
}

/// Runs the op list `ops` on `base`, all or nothing: when an op fails, the values the ops
/// before it wrote are dropped, last first.
///
/// # Safety
///
/// `base` must be valid for writes of the type `ops` was compiled for; the bytes `ops` writes
/// must be uninitialised (or hold nothing that needs dropping).
pub(crate) unsafe fn dec_ops<'a, I: Interp<'a>>(
    i: I,
    ops: &[I::Op],
    base: *mut u8,
    r: &mut Reader<'_>,
    depth: usize,
) -> Result<(), Fail> {
    for (k, op) in ops.iter().enumerate() {
        // SAFETY: forwarded from the caller.
        if let Err(e) = unsafe { i.run_op(op, base, r, depth) } {
            // SAFETY: ops `..k` each initialised the value at their offset.
            unsafe { drop_written(i, &ops[..k], base) };
            return Err(e);
        }
    }
    Ok(())
}

/// Decodes one value of `block` into `dst`, all or nothing, by the shortest path: a single op
/// directly, scalars with the lean loop, anything else with [`dec_ops`].
///
/// # Safety
///
/// As [`dec_ops`], for the block's type.
#[inline(always)]
unsafe fn dec_block(
    p: &'static Plan,
    block: &Block,
    dst: *mut u8,
    r: &mut Reader<'_>,
    depth: usize,
) -> Result<(), Fail> {
    // SAFETY: forwarded from the caller.
    unsafe {
        match &*block.ops {
            [op] => dec_op(p, op, dst, r, depth),
            ops if block.scalar_only => dec_scalar_items(p, ops, &block.scalars, dst, 0, 1, r),
            ops => dec_ops(p, ops, dst, r, depth),
        }
    }
}

/// Decodes `n` consecutive values, `stride` bytes apart, each described by the scalar-only
/// op list `ops` (whose compact form is `scalars`), in one loop.
///
/// # Safety
///
/// `base` must be valid for writing `n` such values; every op in `ops` must be `Op::Prim`, and
/// `scalars` must be `ops` in compact form.
#[inline(never)]
unsafe fn dec_scalar_items(
    p: &'static Plan,
    ops: &[Op],
    scalars: &[ScalarOp],
    base: *mut u8,
    stride: usize,
    n: usize,
    r: &mut Reader<'_>,
) -> Result<(), Fail> {
    // SAFETY: forwarded from the caller.
    unsafe {
        let done = scalars_fast(scalars, base, stride, n, r);
        if done == n {
            return Ok(());
        }
        // Item `done` is malformed: read it again with the full ops to name the error.
        dec_scalar_items_slow(p, ops, base.add(done * stride), stride, n - done, r)
    }
}

#[cold]
#[inline(never)]
unsafe fn dec_scalar_items_slow(
    p: &'static Plan,
    ops: &[Op],
    base: *mut u8,
    stride: usize,
    n: usize,
    r: &mut Reader<'_>,
) -> Result<(), Fail> {
    // SAFETY: forwarded from the caller.
    unsafe { dec_scalar_items_inline(p, ops, base, stride, n, r) }
}

/// The scalar fast path: reads `n` items of the scalars `ops`, `stride` bytes apart, with the
/// cursor kept in registers and no error reporting. Returns how many items were read; when
/// that is less than `n`, item number `n` is malformed (or cut short) and `r.pos` is at its
/// start, so the caller can read it again with the full ops to report the error. Scalars own
/// nothing, so a partly written item needs no cleanup.
///
/// # Safety
///
/// `base` must be valid for writing `n` values, `stride` bytes apart, of the type `ops`
/// describes.
#[inline(always)]
unsafe fn scalars_fast(
    ops: &[ScalarOp],
    base: *mut u8,
    stride: usize,
    n: usize,
    r: &mut Reader<'_>,
) -> usize {
    let mut cur = Reader {
        buf: r.buf,
        pos: r.pos,
        empty_budget: 0,
    };
    let mut done = 0;
    'items: while done < n {
        // SAFETY: item `done` lies inside the `n` items the caller vouches for.
        let item = unsafe { base.add(done * stride) };
        let start = cur.pos;
        for op in ops {
            // SAFETY: `off` is a field of the item's type, of scalar type `prim`.
            let dst = unsafe { item.add(op.off as usize) };
            let ok = with_prim!(op.prim, T => match get_fast::<T>(&mut cur) {
                // SAFETY: as above.
                Some(v) => {
                    unsafe { dst.cast::<T>().write(v) };
                    true
                }
                None => false,
            });
            if !ok {
                cur.pos = start;
                break 'items;
            }
        }
        done += 1;
    }
    r.pos = cur.pos;
    done
}

/// Reads one scalar for the fast path. The common scalars are read inline; the rare ones
/// whose readers are large (`u128`, `i128`, `char`) are read out of line from a copy of the
/// cursor, so that `cur` never has its address taken and stays in registers.
#[inline(always)]
fn get_fast<T: WirePrim>(cur: &mut Reader<'_>) -> Option<T> {
    if T::INLINE {
        T::get(cur).ok()
    } else {
        let (v, pos) = get_outlined::<T>(cur.buf, cur.pos)?;
        cur.pos = pos;
        Some(v)
    }
}

#[inline(never)]
fn get_outlined<T: WirePrim>(buf: &[u8], pos: usize) -> Option<(T, usize)> {
    let mut r = Reader {
        buf,
        pos,
        empty_budget: 0,
    };
    let v = T::get(&mut r).ok()?;
    Some((v, r.pos))
}

/// Decodes a whole input that should hold exactly one value of a scalar-only type, by the
/// scalar fast path. Returns `false` (having written nothing that needs dropping) if the input
/// is malformed or has bytes left over; the caller then decodes it again the careful way.
///
/// # Safety
///
/// `dst` must be valid for writes of, and aligned for, the type `ops` describes.
// The loop itself is out of line (`decode_root_scalars_as`); types whose scalars are all at
// most 32 bits wide (the common small struct) get a copy without the 64-bit readers, which
// needs fewer registers and measured faster on `Point`.
#[inline(always)]
pub(crate) unsafe fn decode_root_scalars(
    ops: &[ScalarOp],
    narrow: bool,
    bytes: &[u8],
    dst: *mut u8,
) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe {
        if narrow {
            decode_root_scalars_as::<false>(ops, bytes, dst)
        } else {
            decode_root_scalars_as::<true>(ops, bytes, dst)
        }
    }
}

/// [`decode_root_scalars`] with readers for scalars wider than 32 bits only if `WIDE`.
///
/// # Safety
///
/// As `decode_root_scalars`.
#[inline(never)]
unsafe fn decode_root_scalars_as<const WIDE: bool>(
    ops: &[ScalarOp],
    bytes: &[u8],
    dst: *mut u8,
) -> bool {
    // `scalars_fast` for one item, without its item loop and bookkeeping.
    let mut cur = Reader {
        buf: bytes,
        pos: 0,
        empty_budget: 0,
    };
    for op in ops {
        // SAFETY: `off` is a field of the type (caller), of scalar type `prim`.
        let at = unsafe { dst.add(op.off as usize) };
        // The rare scalars whose readers are large (`u128`, `i128`, `char`) are left to the
        // careful path, so that this stays a leaf function.
        let ok = with_prim!(op.prim, T => T::INLINE
            && (WIDE || size_of::<T>() <= 4)
            && match T::get(&mut cur) {
            Ok(v) => {
                // SAFETY: as above.
                unsafe { at.cast::<T>().write(v) };
                true
            }
            Err(_) => false,
        });
        if !ok {
            return false;
        }
    }
    cur.pos == bytes.len()
}

/// The body of [`dec_scalar_items`], for callers that want it inlined.
///
/// # Safety
///
/// As [`dec_scalar_items`].
#[inline(always)]
unsafe fn dec_scalar_items_inline(
    p: &'static Plan,
    ops: &[Op],
    base: *mut u8,
    stride: usize,
    n: usize,
    r: &mut Reader<'_>,
) -> Result<(), Fail> {
    for i in 0..n {
        // SAFETY: item `i` lies inside the `n` items the caller vouches for.
        let item = unsafe { base.add(i * stride) };
        for op in ops {
            if let Op::Prim { off, prim, loc } = *op {
                // SAFETY: forwarded from the caller.
                unsafe { dec_prim(p, prim, item.add(off), r, loc)? };
            }
        }
    }
    Ok(())
}

#[cold]
#[inline(never)]
unsafe fn drop_written<'a, I: Interp<'a>>(i: I, ops: &[I::Op], base: *mut u8) {
    for op in ops.iter().rev() {
        if let Some((off, loc)) = I::written(op) {
            // SAFETY: the caller guarantees every op in `ops` wrote its value.
            unsafe { i.drop_value(loc, base.add(off)) };
        }
    }
}

/// Decodes one op. On error, nothing this op wrote remains initialised.
///
/// Inlined into the op loop; scalars are decoded in place and everything else is one call to
/// an out-of-line function, so the loop's frame (which every level of nesting adds to the
/// stack, up to [`MAX_DEPTH`]) stays small.
///
/// # Safety
///
/// As [`dec_ops`]. In every arm, `off` is the offset of a field of the op's type inside the
/// value at `base`, and the op kind matches that field's shape, so every cast names the
/// field's real type and every write stays inside the value.
#[inline(always)]
unsafe fn dec_op(
    p: &'static Plan,
    op: &Op,
    base: *mut u8,
    r: &mut Reader<'_>,
    depth: usize,
) -> Result<(), Fail> {
    // SAFETY: see the function's safety section.
    unsafe {
        match *op {
            Op::Prim { off, prim, loc } => dec_prim(p, prim, base.add(off), r, loc),
            Op::String { off, loc } => dec_string(p, base.add(off), r, loc),
            Op::Bytes { off, loc } => dec_bytes(p, base.add(off), r, loc),
            Op::ByteArray { off, len, loc } => dec_byte_array(p, base.add(off), len, r, loc),
            Op::PrimVec { off, prim, loc } => dec_prim_vec_op(p, prim, base.add(off), r, loc),
            Op::PrimArray { off, prim, n, loc } => {
                dec_prim_array(p, prim, base.add(off), n, r, loc)
            }
            Op::List {
                off,
                elem,
                list,
                loc,
            } => dec_list(p, r, base.add(off), elem, list, loc, depth),
            Op::Array { off, elem, n, loc } => dec_array(p, base.add(off), elem, n, r, loc, depth),
            Op::Map {
                off,
                key,
                value,
                map,
                loc,
            } => dec_map(p, base.add(off), key, value, map, r, loc, depth),
            Op::Option {
                off,
                inner,
                vt,
                loc,
            } => dec_option(p, base.add(off), inner, vt, r, loc, depth),
            Op::Result {
                off,
                ok,
                err,
                vt,
                loc,
            } => dec_result(p, base.add(off), ok, err, vt, r, loc, depth),
            Op::Boxed { off, inner, loc } => dec_box(p, base.add(off), inner, r, loc, depth),
            Op::BoxedEnum {
                off,
                inner,
                id,
                loc,
                eloc,
            } => dec_boxed_enum(p, base.add(off), inner, id, r, loc, eloc, depth),
            Op::Shared {
                off,
                inner,
                vt,
                loc,
            } => dec_shared(p, base.add(off), inner, vt, r, loc, depth),
            Op::Enum { off, id, loc } => dec_enum(p, base.add(off), id, r, loc, depth),
            Op::StrRef { off, loc } => {
                // Only reached through the borrowed entry points, whose `'de` ties the
                // reference to the input (plain `decode` refuses plans holding this op).
                let s = read_str(p, r, loc)?;
                base.add(off).cast::<&str>().write(s);
                Ok(())
            }
            Op::BytesRef { off, loc } => {
                // As `StrRef`.
                let bytes = read_bytes(p, r, loc)?;
                base.add(off).cast::<&[u8]>().write(bytes);
                Ok(())
            }
            Op::RefTo { loc, .. } | Op::SliceRef { loc, .. } => {
                // Unreachable: plans holding these ops have a `borrow_blocker`.
                Err(unsupported_at(
                    p,
                    loc,
                    "only `&str` and `&[u8]` can be decoded as borrowed values",
                ))
            }
            Op::StringVec { off, loc, item } => {
                dec_string_vec(p, base.add(off), r, loc, item, depth)
            }
            Op::OptString { off, loc, inner } => {
                dec_opt_string(p, base.add(off), r, loc, inner, depth)
            }
            Op::OptPrim {
                off,
                prim,
                loc,
                inner,
            } => dec_opt_prim(p, prim, base.add(off), r, loc, inner, depth),
            Op::UnitEnum {
                off, repr, n, loc, ..
            } => {
                let index = r.varint_u32().map_err(|f| fail(p, f, loc, r))?;
                if index >= n {
                    return Err(unknown_variant(p, index, n as usize, loc, r));
                }
                deeper(p, loc, r, depth)?;
                write_discriminant(base.add(off), repr, i64::from(index));
                Ok(())
            }
            Op::Default { off, source, loc } => dec_default(p, base.add(off), source, loc),
        }
    }
}

/// Fills a field that is not on the wire (`#[facet(skip)]` on our side, or a field the
/// writer's type lacks, in a translation) with its facet default, reading nothing.
///
/// # Safety
///
/// `dst` must be valid for writing a value of `loc`'s shape, which must be the type `source`
/// was declared for (the field's own type).
#[inline(never)]
pub(crate) unsafe fn dec_default<'a, I: Interp<'a>>(
    i: I,
    dst: *mut u8,
    source: DefaultSource,
    loc: u32,
) -> Result<(), Fail> {
    let dst = PtrUninit::new(dst);
    // A default is the type author's code, run because of what a peer sent (its schema lacks
    // the field): one that panics (facet's derive panics when `default = 300` does not fit a
    // `u8`, say) must fail this decode, not the task reading it. A panicking default has not
    // finished writing, so the field counts as not written.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match source {
        // SAFETY: facet's derive made `default_fn` for this field's type; it writes one.
        DefaultSource::Custom(default_fn) => {
            unsafe { default_fn(dst) };
            true
        }
        // Checked when compiling (`is_default`); refuse rather than leave the field
        // uninitialised if the shape disagrees at run time.
        // SAFETY: forwarded from the caller.
        DefaultSource::FromTrait => {
            unsafe { i.loc_shape(loc).call_default_in_place(dst) }.is_some()
        }
    }));
    match run {
        Ok(true) => Ok(()),
        Ok(false) => Err(unsupported_at(i, loc, "the field's type has no Default")),
        Err(_) => Err(unsupported_at(
            i,
            loc,
            "the field's default panicked (a `default = ...` value that does not fit the field's type?)",
        )),
    }
}

/// # Safety
///
/// `dst` must be valid for writing the scalar `prim`.
// Inlined into the op loops in optimised builds; kept out of line in debug builds so the
// recursive loops keep small frames there.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) unsafe fn dec_prim<'a, I: Interp<'a>>(
    i: I,
    prim: Prim,
    dst: *mut u8,
    r: &mut Reader<'_>,
    loc: u32,
) -> Result<(), Fail> {
    with_prim!(prim, T => match T::get(r) {
        // SAFETY: forwarded from the caller.
        Ok(v) => unsafe { dst.cast::<T>().write(v) },
        Err(f) => return Err(fail(i, f, loc, r)),
    });
    Ok(())
}

/// Reads a length-prefixed byte buffer, borrowed from the input.
#[inline(always)]
pub(crate) fn read_bytes<'a, 'de, I: Interp<'a>>(
    i: I,
    r: &mut Reader<'de>,
    loc: u32,
) -> Result<&'de [u8], Fail> {
    let len = read_len(i, r, 1, loc)?;
    r.take(len).map_err(|f| fail(i, f, loc, r))
}

#[cold]
#[inline(never)]
fn bad_option_tag<'a, I: Interp<'a>>(i: I, byte: u8, loc: u32, r: &Reader<'_>) -> Fail {
    Box::new(DecodeError::InvalidOptionTag {
        byte,
        at: i.at(loc, r.pos - 1),
    })
}

/// # Safety
///
/// `dst` must be valid for writing a `Vec<String>`.
#[inline(never)]
unsafe fn dec_string_vec(
    p: &'static Plan,
    dst: *mut u8,
    r: &mut Reader<'_>,
    loc: u32,
    item: u32,
    depth: usize,
) -> Result<(), Fail> {
    let len = read_len(p, r, 1, loc)?;
    deeper(p, loc, r, depth)?;
    let mut items = Vec::<String>::with_capacity(prealloc(len, size_of::<String>()));
    for _ in 0..len {
        // On error, `items` (holding only whole strings) is dropped here, once.
        items.push(owned_string(read_str(p, r, item)?));
    }
    // SAFETY: forwarded from the caller.
    unsafe { dst.cast::<Vec<String>>().write(items) };
    Ok(())
}

/// # Safety
///
/// `dst` must be valid for writing an `Option<String>`.
#[inline]
unsafe fn dec_opt_string(
    p: &'static Plan,
    dst: *mut u8,
    r: &mut Reader<'_>,
    loc: u32,
    inner: u32,
    depth: usize,
) -> Result<(), Fail> {
    let value = match r.byte().map_err(|f| fail(p, f, loc, r))? {
        0 => None,
        1 => {
            deeper(p, loc, r, depth)?;
            Some(owned_string(read_str(p, r, inner)?))
        }
        byte => return Err(bad_option_tag(p, byte, loc, r)),
    };
    // SAFETY: forwarded from the caller.
    unsafe { dst.cast::<Option<String>>().write(value) };
    Ok(())
}

/// # Safety
///
/// `dst` must be valid for writing an `Option<prim>`.
#[inline(never)]
unsafe fn dec_opt_prim(
    p: &'static Plan,
    prim: Prim,
    dst: *mut u8,
    r: &mut Reader<'_>,
    loc: u32,
    inner: u32,
    depth: usize,
) -> Result<(), Fail> {
    with_prim!(prim, T => {
        let value = match r.byte().map_err(|f| fail(p, f, loc, r))? {
            0 => None,
            1 => {
                deeper(p, loc, r, depth)?;
                match T::get(r) {
                    Ok(v) => Some(v),
                    Err(f) => return Err(fail(p, f, inner, r)),
                }
            }
            byte => return Err(bad_option_tag(p, byte, loc, r)),
        };
        // SAFETY: forwarded from the caller.
        unsafe { dst.cast::<Option<T>>().write(value) };
    });
    Ok(())
}

/// Reads a length-prefixed UTF-8 string, borrowed from the input.
#[inline(always)]
pub(crate) fn read_str<'a, 'de, I: Interp<'a>>(
    i: I,
    r: &mut Reader<'de>,
    loc: u32,
) -> Result<&'de str, Fail> {
    let len = read_len(i, r, 1, loc)?;
    let bytes = r.take(len).map_err(|f| fail(i, f, loc, r))?;
    match utf8(bytes) {
        Some(s) => Ok(s),
        None => Err(invalid_utf8(i, loc, r.pos - len)),
    }
}

#[cold]
#[inline(never)]
fn invalid_utf8<'a, I: Interp<'a>>(i: I, loc: u32, offset: usize) -> Fail {
    Box::new(DecodeError::InvalidUtf8 {
        at: i.at(loc, offset),
    })
}

/// # Safety
///
/// `dst` must be valid for writing a `String`.
#[inline]
pub(crate) unsafe fn dec_string<'a, I: Interp<'a>>(
    i: I,
    dst: *mut u8,
    r: &mut Reader<'_>,
    loc: u32,
) -> Result<(), Fail> {
    let s = read_str(i, r, loc)?;
    // SAFETY: forwarded from the caller.
    unsafe { dst.cast::<String>().write(owned_string(s)) };
    Ok(())
}

/// # Safety
///
/// `dst` must be valid for writing a `Vec<u8>`.
#[inline(never)]
unsafe fn dec_bytes(
    p: &'static Plan,
    dst: *mut u8,
    r: &mut Reader<'_>,
    loc: u32,
) -> Result<(), Fail> {
    let len = read_len(p, r, 1, loc)?;
    let bytes = r.take(len).map_err(|f| fail(p, f, loc, r))?;
    // SAFETY: forwarded from the caller.
    unsafe { dst.cast::<Vec<u8>>().write(bytes.to_vec()) };
    Ok(())
}

/// # Safety
///
/// `dst` must be valid for writing `len` bytes.
#[inline(never)]
unsafe fn dec_byte_array(
    p: &'static Plan,
    dst: *mut u8,
    len: usize,
    r: &mut Reader<'_>,
    loc: u32,
) -> Result<(), Fail> {
    let bytes = r.take(len).map_err(|f| fail(p, f, loc, r))?;
    // SAFETY: forwarded from the caller; the input cannot overlap the value being built.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), dst, len) };
    Ok(())
}

/// # Safety
///
/// `dst` must be valid for writing `[prim; n]`.
#[inline(never)]
unsafe fn dec_prim_array(
    p: &'static Plan,
    prim: Prim,
    dst: *mut u8,
    n: usize,
    r: &mut Reader<'_>,
    loc: u32,
) -> Result<(), Fail> {
    with_prim!(prim, T => {
        let dst = dst.cast::<T>();
        for i in 0..n {
            match T::get(r) {
                // SAFETY: `i < n`, inside the array (caller).
                Ok(v) => unsafe { dst.add(i).write(v) },
                Err(f) => return Err(fail(p, f, loc, r)),
            }
        }
    });
    Ok(())
}

/// # Safety
///
/// `dst` must be valid for writing `n` contiguous values of block `elem`; `loc` is the array's.
#[inline(never)]
pub(crate) unsafe fn dec_array<'a, I: Interp<'a>>(
    i: I,
    dst: *mut u8,
    elem: BlockId,
    n: usize,
    r: &mut Reader<'_>,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    let block = i.block(elem);
    if i.min_wire(block) == 0 {
        check_count(i, r, n, 0, loc)?;
    }
    deeper(i, loc, r, depth)?;
    let stride = I::layout(block).size();
    for k in 0..n {
        // SAFETY: element `k` lies inside the array (caller); elements `..k` are initialised
        // when an element fails, and each is dropped exactly once.
        unsafe {
            if let Err(e) = i.run(block, dst.add(k * stride), r, depth + 1) {
                drop_array_prefix(i.loc_shape(loc), dst, stride, k);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Drops the first `n` elements of the array of shape `array` at `dst`, last first.
///
/// # Safety
///
/// Those elements must be initialised; they are dropped exactly once.
#[cold]
#[inline(never)]
unsafe fn drop_array_prefix(array: &'static Shape, dst: *mut u8, stride: usize, n: usize) {
    if let Def::Array(def) = array.def {
        for j in (0..n).rev() {
            // SAFETY: forwarded from the caller.
            unsafe { def.t.call_drop_in_place(PtrMut::new(dst.add(j * stride))) };
        }
    }
}

/// # Safety
///
/// `dst` must be valid for writing the map type of `loc`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(crate) unsafe fn dec_map<'a, I: Interp<'a>>(
    i: I,
    dst: *mut u8,
    key: BlockId,
    value: BlockId,
    map: &'static MapDef,
    r: &mut Reader<'_>,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    let kb = i.block(key);
    let vb = i.block(value);
    let len = read_len(i, r, i.min_wire(kb).saturating_add(i.min_wire(vb)), loc)?;
    deeper(i, loc, r, depth)?;
    let (kl, vl) = (I::layout(kb), I::layout(vb));
    // SAFETY: `dst` is valid for the map (caller). The key and value are decoded into scratch
    // memory of their own layouts and then moved into the map by `insert`; on failure the
    // partial key is dropped and the map (holding only complete entries) is dropped whole.
    unsafe {
        let map_ptr = (map.vtable.init_in_place_with_capacity)(
            PtrUninit::new(dst),
            prealloc(len, kl.size() + vl.size()),
        );
        with_scratch(kl, |k| {
            with_scratch(vl, |v| {
                for _ in 0..len {
                    if let Err(e) = i.run(kb, k, r, depth + 1) {
                        i.drop_value(loc, dst);
                        return Err(e);
                    }
                    if let Err(e) = i.run(vb, v, r, depth + 1) {
                        map.k.call_drop_in_place(PtrMut::new(k));
                        i.drop_value(loc, dst);
                        return Err(e);
                    }
                    (map.vtable.insert)(map_ptr, PtrMut::new(k), PtrMut::new(v));
                }
                Ok(())
            })
        })
    }
}

/// Decodes one value of `block` into scratch memory of its own layout and hands it to `put`,
/// which moves it into its container; on failure nothing was handed over.
///
/// # Safety
///
/// `put` must move the value out of the memory it is given (or drop it).
#[inline(always)]
pub(crate) unsafe fn dec_moved<'a, I: Interp<'a>>(
    i: I,
    block: &I::Block,
    r: &mut Reader<'_>,
    depth: usize,
    put: impl FnOnce(*mut u8),
) -> Result<(), Fail> {
    // SAFETY: the scratch memory has the block's layout; the value is moved out by `put`.
    unsafe {
        with_scratch(I::layout(block), |tmp| {
            i.run(block, tmp, r, depth)?;
            put(tmp);
            Ok(())
        })
    }
}

/// # Safety
///
/// `dst` must be valid for writing the option type of `loc`.
#[inline(never)]
pub(crate) unsafe fn dec_option<'a, I: Interp<'a>>(
    i: I,
    dst: *mut u8,
    inner: BlockId,
    vt: &'static OptionVTable,
    r: &mut Reader<'_>,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    match r.byte().map_err(|f| fail(i, f, loc, r))? {
        0 => {
            // SAFETY: `dst` is valid for the option (caller).
            unsafe { (vt.init_none)(PtrUninit::new(dst)) };
            Ok(())
        }
        1 => {
            deeper(i, loc, r, depth)?;
            // SAFETY: the value is moved into the option; on failure nothing was written.
            unsafe {
                dec_moved(i, i.block(inner), r, depth + 1, |tmp| {
                    (vt.init_some)(PtrUninit::new(dst), PtrMut::new(tmp));
                })
            }
        }
        byte => Err(Box::new(DecodeError::InvalidOptionTag {
            byte,
            at: i.at(loc, r.pos - 1),
        })),
    }
}

/// Decodes the payload of a `Result` whose variant has been read: `is_err` picks the side.
///
/// # Safety
///
/// `dst` must be valid for writing the result type of `loc`, and `block` must be the block
/// of the chosen side's type.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn dec_result_payload<'a, I: Interp<'a>>(
    i: I,
    dst: *mut u8,
    is_err: bool,
    block: BlockId,
    vt: &'static ResultVTable,
    r: &mut Reader<'_>,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    deeper(i, loc, r, depth)?;
    let init = if is_err { vt.init_err } else { vt.init_ok };
    // SAFETY: as in `dec_option`.
    unsafe {
        dec_moved(i, i.block(block), r, depth + 1, |tmp| {
            init(PtrUninit::new(dst), PtrMut::new(tmp));
        })
    }
}

/// # Safety
///
/// `dst` must be valid for writing a `Box<T>` of block `inner`'s type.
#[inline(never)]
pub(crate) unsafe fn dec_box<'a, I: Interp<'a>>(
    i: I,
    dst: *mut u8,
    inner: BlockId,
    r: &mut Reader<'_>,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    deeper(i, loc, r, depth)?;
    let block = i.block(inner);
    // SAFETY: forwarded from the caller; `fill_box` allocates `block`'s layout.
    unsafe { fill_box(dst, I::layout(block), |mem| i.run(block, mem, r, depth + 1)) }
}

/// Allocates a box's contents with `layout` (a dangling, aligned pointer when it is zero-sized),
/// runs `fill` to decode them there, and writes the box to `dst`; frees the memory if `fill`
/// fails.
///
/// # Safety
///
/// `dst` must be valid for writing a `Box<T>`, `layout` must be `Layout::new::<T>()`, and
/// `fill` must initialise a whole `T` at the pointer it is given when it returns `Ok`.
#[inline(always)]
unsafe fn fill_box(
    dst: *mut u8,
    layout: alloc::Layout,
    fill: impl FnOnce(*mut u8) -> Result<(), Fail>,
) -> Result<(), Fail> {
    // SAFETY: a `Box<T>` of sized `T` is one pointer to a `T` allocated by the global
    // allocator with `Layout::new::<T>()` (or dangling and aligned when `T` is zero-sized),
    // which is exactly what `mem` is once `fill` has decoded into it.
    unsafe {
        let mem = if layout.size() == 0 {
            ptr::without_provenance_mut::<u8>(layout.align())
        } else {
            let mem = alloc::alloc(layout);
            if mem.is_null() {
                alloc::handle_alloc_error(layout);
            }
            mem
        };
        if let Err(e) = fill(mem) {
            if layout.size() != 0 {
                alloc::dealloc(mem, layout);
            }
            return Err(e);
        }
        dst.cast::<*mut u8>().write(mem);
    }
    Ok(())
}

/// `dec_box` for a box whose inner block is the lone op `Enum { off: 0, id, loc: eloc }`.
///
/// # Safety
///
/// `dst` must be valid for writing a `Box<E>`, where `E` is block `inner`'s type and enum `id`.
// Inlined into the op loops, so that a recursive enum costs one call (`dec_enum`) per level
// rather than two.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn dec_boxed_enum(
    p: &'static Plan,
    dst: *mut u8,
    inner: BlockId,
    id: u32,
    r: &mut Reader<'_>,
    loc: u32,
    eloc: u32,
    depth: usize,
) -> Result<(), Fail> {
    deeper(p, loc, r, depth)?;
    // SAFETY: as in `dec_box`, with the inner block's one op run directly.
    unsafe {
        fill_box(dst, p.block(inner).layout, |mem| {
            dec_enum(p, mem, id, r, eloc, depth + 1)
        })
    }
}

/// # Safety
///
/// `dst` must be valid for writing the smart pointer type of `loc`.
#[inline(never)]
pub(crate) unsafe fn dec_shared<'a, I: Interp<'a>>(
    i: I,
    dst: *mut u8,
    inner: BlockId,
    vt: &'static PointerVTable,
    r: &mut Reader<'_>,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    deeper(i, loc, r, depth)?;
    let Some(new_into) = vt.new_into_fn else {
        return Err(unsupported_at(
            i,
            loc,
            "smart pointer cannot be built through facet",
        ));
    };
    // SAFETY: as in `dec_option`; `new_into` moves the value into a new allocation.
    unsafe {
        dec_moved(i, i.block(inner), r, depth + 1, |tmp| {
            new_into(PtrUninit::new(dst), PtrMut::new(tmp));
        })
    }
}

/// # Safety
///
/// `dst` must be valid for writing the result type of `loc`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn dec_result(
    p: &'static Plan,
    dst: *mut u8,
    ok: BlockId,
    err: BlockId,
    vt: &'static ResultVTable,
    r: &mut Reader<'_>,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    let index = r.varint_u32().map_err(|f| fail(p, f, loc, r))?;
    let (is_err, block) = match index {
        0 => (false, ok),
        1 => (true, err),
        _ => return Err(unknown_variant(p, index, 2, loc, r)),
    };
    // SAFETY: forwarded from the caller; `block` is the chosen side's.
    unsafe { dec_result_payload(p, dst, is_err, block, vt, r, loc, depth) }
}

/// # Safety
///
/// `dst` must be valid for writing the enum of plan `id`.
#[inline(never)]
unsafe fn dec_enum(
    p: &'static Plan,
    dst: *mut u8,
    id: u32,
    r: &mut Reader<'_>,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    let index = r.varint_u32().map_err(|f| fail(p, f, loc, r))?;
    let en = p.enum_plan(id);
    let Some(variant) = en.variants.get(index as usize) else {
        return Err(unknown_variant(p, index, en.variants.len(), loc, r));
    };
    deeper(p, loc, r, depth)?;
    // SAFETY: the variant's ops write its fields at their offsets inside the enum (all or
    // nothing); the discriminant is written last, so on failure nothing needs dropping.
    unsafe {
        let ops = &*variant.ops;
        if variant.scalar_only && ops.len() > 1 {
            dec_scalar_items(p, ops, &variant.scalars, dst, 0, 1, r)?;
        } else {
            // `dec_ops`, inlined: most variants have one or two fields.
            for (k, op) in ops.iter().enumerate() {
                if let Err(e) = dec_op(p, op, dst, r, depth + 1) {
                    drop_written(p, &ops[..k], dst);
                    return Err(e);
                }
            }
        }
        if en.repr == Disc::U8 {
            dst.write(variant.discriminant as u8);
        } else {
            write_discriminant(dst, en.repr, variant.discriminant);
        }
    }
    Ok(())
}

/// # Safety
///
/// `dst` must be valid for writing a `Vec` of scalar type `prim`.
#[inline(never)]
unsafe fn dec_prim_vec_op(
    p: &'static Plan,
    prim: Prim,
    dst: *mut u8,
    r: &mut Reader<'_>,
    loc: u32,
) -> Result<(), Fail> {
    // SAFETY: forwarded from the caller.
    with_prim!(prim, T => unsafe { dec_prim_vec::<T>(p, r, dst.cast::<Vec<T>>(), loc) })
}

/// Decodes a `Vec<T>` of scalars.
///
/// # Safety
///
/// `dst` must be valid for writing a `Vec<T>`.
#[inline(always)]
unsafe fn dec_prim_vec<T: WirePrim>(
    p: &'static Plan,
    r: &mut Reader<'_>,
    dst: *mut Vec<T>,
    loc: u32,
) -> Result<(), Fail> {
    let len = read_len(p, r, T::MIN_WIRE, loc)?;
    let vec = if T::RAW {
        // `RAW` types are exactly `MIN_WIRE == size_of::<T>()` bytes, so the check above
        // guarantees the bytes are there and bounds the allocation by the input length.
        let n = len * std::mem::size_of::<T>();
        let bytes = r.take(n).map_err(|f| fail(p, f, loc, r))?;
        let mut vec = Vec::<T>::with_capacity(len);
        // SAFETY: the vector has room for `len` items, i.e. `n` bytes; every bit pattern is a
        // valid `T` for `RAW` types; the source is the input, which cannot overlap.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), vec.as_mut_ptr().cast::<u8>(), n);
            vec.set_len(len);
        }
        vec
    } else {
        let mut vec = Vec::<T>::with_capacity(prealloc(len, std::mem::size_of::<T>()));
        // Fill the first allocation without per-item capacity checks, then push the rest.
        let first = len.min(vec.capacity());
        let out = vec.as_mut_ptr();
        // A local cursor that stays in registers; on a malformed item, read that item again
        // through `r` to name the error.
        let mut cur = Reader {
            buf: r.buf,
            pos: r.pos,
            empty_budget: 0,
        };
        for i in 0..first {
            let start = cur.pos;
            match get_fast::<T>(&mut cur) {
                // SAFETY: `i < first <= capacity`; the length is set once all are written.
                Some(v) => unsafe { out.add(i).write(v) },
                None => {
                    r.pos = start;
                    let f = T::get(r).err().unwrap_or(ReadFail::Varint);
                    return Err(fail(p, f, loc, r));
                }
            }
        }
        r.pos = cur.pos;
        // SAFETY: items `..first` were written above.
        unsafe { vec.set_len(first) };
        for _ in first..len {
            match T::get(r) {
                Ok(v) => vec.push(v),
                Err(f) => return Err(fail(p, f, loc, r)),
            }
        }
        vec
    };
    // SAFETY: forwarded from the caller.
    unsafe { dst.write(vec) };
    Ok(())
}

/// Decodes a list by filling its buffer in place.
///
/// # Safety
///
/// `dst` must be valid for writing the list type of `loc`.
#[inline(never)]
pub(crate) unsafe fn dec_list<'a, I: Interp<'a>>(
    i: I,
    r: &mut Reader<'_>,
    dst: *mut u8,
    elem: BlockId,
    list: &'static ListOps,
    loc: u32,
    depth: usize,
) -> Result<(), Fail> {
    let block = i.block(elem);
    let len = read_len(i, r, i.min_wire(block), loc)?;
    deeper(i, loc, r, depth)?;
    // Resolved when the plan was compiled (`check_list_ops`).
    let ListOps {
        init,
        as_mut_ptr,
        set_len,
        reserve,
        capacity,
        ..
    } = *list;
    let stride = I::layout(block).size();
    // SAFETY: `dst` is valid for writing the list (caller); the vtable functions are the
    // list's own and are called with an initialised list from here on. Items `0..k` are
    // initialised before the length is set to `k`, and the capacity is refreshed after every
    // reservation so writes stay inside the buffer.
    unsafe {
        let list_ptr = init(PtrUninit::new(dst), I::prealloc(block, len));
        let mut cap = capacity(PtrConst::new(dst));
        let mut data = as_mut_ptr(list_ptr);
        // Items that all fit in the first allocation may be decoded in one call.
        if len <= cap
            && let Some(done) = i.run_items_fast(block, data, stride, len, r)
        {
            if let Err(e) = done {
                i.drop_value(loc, dst);
                return Err(e);
            }
            set_len(list_ptr, len);
            return Ok(());
        }
        for k in 0..len {
            if k == cap {
                set_len(list_ptr, k);
                reserve(list_ptr, 1);
                cap = capacity(PtrConst::new(dst));
                data = as_mut_ptr(list_ptr);
            }
            if let Err(e) = i.run(block, data.add(k * stride), r, depth + 1) {
                set_len(list_ptr, k);
                i.drop_value(loc, dst);
                return Err(e);
            }
        }
        set_len(list_ptr, len);
    }
    Ok(())
}
