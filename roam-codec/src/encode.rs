//! Running a plan forwards: reading a value through raw offsets and appending its postcard bytes.
//!
//! This module owns the encode interpreter. It trusts the plan (compiled from the value's own
//! shape) for every offset and type it reads; it allocates only by growing the output vector.

use std::slice;

use facet_core::{MapDef, OptionVTable, PointerVTable, PtrConst, ResultVTable};

use crate::MAX_DEPTH;
use crate::error::{EncodeError, UnsupportedShape};
use crate::kind::{Prim, with_prim};
use crate::plan::{Disc, ListOps, Op, Plan};
use crate::wire::{WirePrim, put_len_prefixed, put_varint_u64, put_varint_usize};

impl Plan {
    /// Appends the encoding of the value at `src` to `out`.
    ///
    /// # Safety
    ///
    /// `src` must point to a valid, initialised value of the type this plan was compiled for.
    #[inline]
    pub unsafe fn encode_raw(
        &'static self,
        src: *const u8,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let root = &self.blocks[self.root as usize];
        // SAFETY: forwarded from the caller; the root block's ops describe the root type.
        unsafe { enc_ops(self, &root.ops, src, out, 0) }.map_err(|e| *e)
    }

    #[cold]
    fn too_deep(&'static self, loc: u32) -> Fail {
        Box::new(EncodeError::DepthLimitExceeded {
            limit: MAX_DEPTH,
            type_name: &self.locs[loc as usize].type_name,
        })
    }

    #[cold]
    fn missing_vtable(&'static self, loc: u32, what: &'static str) -> Fail {
        Box::new(EncodeError::Unsupported(UnsupportedShape {
            type_name: self.locs[loc as usize].shape.to_string(),
            path: String::new(),
            reason: what,
        }))
    }
}

/// An encode failure inside the interpreter: boxed, so that every internal `Result` is one
/// register wide on the success path.
type Fail = Box<EncodeError>;

/// Encodes a slice of scalars, in one copy when their wire bytes are their memory bytes.
#[inline(always)]
fn enc_prim_slice<T: WirePrim>(items: &[T], w: &mut Vec<u8>) {
    if T::RAW {
        // SAFETY: `RAW` types have no padding and their in-memory bytes are their wire bytes.
        let bytes = unsafe {
            slice::from_raw_parts(items.as_ptr().cast::<u8>(), std::mem::size_of_val(items))
        };
        w.extend_from_slice(bytes);
    } else {
        for &item in items {
            item.put(w);
        }
    }
}

/// Reads the discriminant of the enum at `src`.
///
/// # Safety
///
/// `src` must point to an initialised enum whose discriminant is stored as `repr` at offset 0.
#[inline(always)]
pub(crate) unsafe fn read_discriminant(src: *const u8, repr: Disc) -> i64 {
    // SAFETY: forwarded from the caller.
    unsafe {
        match repr {
            Disc::U8 => i64::from(src.read()),
            Disc::U16 => i64::from(src.cast::<u16>().read()),
            Disc::U32 => i64::from(src.cast::<u32>().read()),
            Disc::U64 => src.cast::<u64>().read() as i64,
            Disc::Usize => src.cast::<usize>().read() as i64,
            Disc::I8 => i64::from(src.cast::<i8>().read()),
            Disc::I16 => i64::from(src.cast::<i16>().read()),
            Disc::I32 => i64::from(src.cast::<i32>().read()),
            Disc::I64 => src.cast::<i64>().read(),
            Disc::Isize => src.cast::<isize>().read() as i64,
        }
    }
}

/// Encodes the values `ops` describe, relative to `base`.
///
/// # Safety
///
/// `base` must point to an initialised value whose layout `ops` was compiled for.
unsafe fn enc_ops(
    p: &'static Plan,
    ops: &[Op],
    base: *const u8,
    w: &mut Vec<u8>,
    depth: usize,
) -> Result<(), Fail> {
    for op in ops {
        // SAFETY: forwarded from the caller.
        unsafe { enc_op(p, op, base, w, depth)? };
    }
    Ok(())
}

/// Encodes the values `ops` describe by the shortest path: nothing, a single op directly, or
/// the op loop.
///
/// # Safety
///
/// As [`enc_ops`].
#[inline(always)]
unsafe fn enc_list_of_ops(
    p: &'static Plan,
    ops: &[Op],
    base: *const u8,
    w: &mut Vec<u8>,
    depth: usize,
) -> Result<(), Fail> {
    // SAFETY: forwarded from the caller.
    unsafe {
        match ops {
            [] => Ok(()),
            [op] => enc_op(p, op, base, w, depth),
            ops => enc_ops(p, ops, base, w, depth),
        }
    }
}

/// Encodes one op. Inlined into the op loop; scalars, strings and byte buffers are encoded in
/// place and everything else is one call to an out-of-line function, so the loop's frame
/// (which every level of nesting adds to the stack) stays small.
///
/// # Safety
///
/// As [`enc_ops`]. In every arm, `off` is the offset of a field of the op's type inside the
/// value at `base` (computed from facet's `offset_of!`), and the op kind matches that field's
/// shape, so each cast names the field's real type.
#[inline(always)]
unsafe fn enc_op(
    p: &'static Plan,
    op: &Op,
    base: *const u8,
    w: &mut Vec<u8>,
    depth: usize,
) -> Result<(), Fail> {
    // SAFETY: see the function's safety section.
    unsafe {
        match *op {
            Op::Prim { off, prim, .. } => {
                enc_prim(prim, base.add(off), w);
                Ok(())
            }
            Op::String { off, .. } => {
                enc_str(&*base.add(off).cast::<String>(), w);
                Ok(())
            }
            Op::Bytes { off, .. } => {
                enc_bytes(&*base.add(off).cast::<Vec<u8>>(), w);
                Ok(())
            }
            Op::ByteArray { off, len, .. } => {
                w.extend_from_slice(slice::from_raw_parts(base.add(off), len));
                Ok(())
            }
            Op::PrimVec { off, prim, .. } => {
                enc_prim_vec(prim, base.add(off), w);
                Ok(())
            }
            Op::PrimArray { off, prim, n, .. } => {
                enc_prim_array(prim, base.add(off), n, w);
                Ok(())
            }
            Op::List {
                off,
                elem,
                list,
                loc,
            } => enc_list(p, base.add(off), elem, list, w, depth, loc),
            Op::Array { off, elem, n, loc } => enc_seq(p, elem, base.add(off), n, w, depth, loc),
            Op::Map {
                off,
                key,
                value,
                map,
                loc,
            } => enc_map(p, base.add(off), key, value, map, w, depth, loc),
            Op::Option {
                off,
                inner,
                vt,
                loc,
            } => enc_option(p, base.add(off), inner, vt, w, depth, loc),
            Op::Result {
                off,
                ok,
                err,
                vt,
                loc,
            } => enc_result(p, base.add(off), ok, err, vt, w, depth, loc),
            Op::Boxed { off, inner, loc } | Op::RefTo { off, inner, loc } => {
                // A `Box<T>` or `&T` with sized `T` is a single pointer to the `T`.
                let value = base.add(off).cast::<*const u8>().read();
                enc_nested(p, inner, value, w, depth, loc)
            }
            Op::BoxedEnum {
                off, id, loc, eloc, ..
            } => {
                // As `Boxed` followed by the inner block's lone `Enum` op.
                if depth >= MAX_DEPTH {
                    return Err(p.too_deep(loc));
                }
                let value = base.add(off).cast::<*const u8>().read();
                // The leaves of a recursive enum (`Num(i64)`, `Var(String)`) are most of its
                // values: encode them here rather than with a call to `enc_enum` (which would
                // check the depth, write the index and run the same ops).
                let en = p.enum_plan(id);
                if en.byte_index && depth + 1 < MAX_DEPTH {
                    let d = value.read();
                    if let Some(variant) = en.variants.get(usize::from(d))
                        && variant.leaf
                    {
                        w.push(d);
                        for op in &variant.ops {
                            match *op {
                                Op::Prim { off, prim, .. } => enc_prim(prim, value.add(off), w),
                                Op::String { off, .. } => {
                                    enc_str(&*value.add(off).cast::<String>(), w)
                                }
                                // `leaf` variants hold nothing else.
                                _ => {}
                            }
                        }
                        return Ok(());
                    }
                }
                enc_enum(p, value, id, w, depth + 1, eloc)
            }
            Op::Shared {
                off,
                inner,
                vt,
                loc,
            } => enc_shared(p, base.add(off), inner, vt, w, depth, loc),
            Op::Enum { off, id, loc } => enc_enum(p, base.add(off), id, w, depth, loc),
            Op::StrRef { off, .. } => {
                enc_str(base.add(off).cast::<&str>().read(), w);
                Ok(())
            }
            Op::BytesRef { off, .. } => {
                enc_bytes(base.add(off).cast::<&[u8]>().read(), w);
                Ok(())
            }
            Op::SliceRef { off, elem, loc } => enc_slice(p, base.add(off), elem, w, depth, loc),
            Op::StringVec { off, loc, .. } => enc_string_vec(p, base.add(off), w, depth, loc),
            Op::OptString { off, loc, .. } => {
                match &*base.add(off).cast::<Option<String>>() {
                    Some(s) => {
                        if depth >= MAX_DEPTH {
                            return Err(p.too_deep(loc));
                        }
                        w.push(1);
                        enc_str(s, w);
                    }
                    None => w.push(0),
                }
                Ok(())
            }
            Op::OptPrim { off, prim, loc, .. } => {
                enc_opt_prim(p, prim, base.add(off), w, depth, loc)
            }
            Op::UnitEnum {
                off,
                repr,
                n,
                id,
                loc,
            } => {
                // Counted as a level of nesting, as every enum is.
                if depth >= MAX_DEPTH {
                    return Err(p.too_deep(loc));
                }
                let d = if repr == Disc::U8 {
                    i64::from(base.add(off).read())
                } else {
                    read_discriminant(base.add(off), repr)
                };
                if d >= 0 && (d as u64) < u64::from(n) {
                    put_varint_u64(w, d as u64);
                    Ok(())
                } else {
                    Err(invalid_discriminant(p, id, d))
                }
            }
            // `#[facet(skip)]` fields are not on the wire.
            Op::Default { .. } => Ok(()),
        }
    }
}

#[inline(always)]
fn enc_bytes(b: &[u8], w: &mut Vec<u8>) {
    put_len_prefixed(w, b);
}

/// # Safety
///
/// `src` must point to an initialised list whose items are of block `elem`'s type.
#[inline(never)]
unsafe fn enc_list(
    p: &'static Plan,
    src: *const u8,
    elem: u32,
    list: &'static ListOps,
    w: &mut Vec<u8>,
    depth: usize,
    loc: u32,
) -> Result<(), Fail> {
    let ptr = PtrConst::new(src);
    // SAFETY: the list is initialised (caller) and contiguous (`as_ptr` exists); its
    // `len` items start at `data`.
    unsafe {
        let len = (list.len)(ptr);
        let data = (list.as_ptr)(ptr).as_byte_ptr();
        put_varint_usize(w, len);
        enc_seq(p, elem, data, len, w, depth, loc)
    }
}

#[cold]
#[inline(never)]
fn invalid_discriminant(p: &'static Plan, id: u32, discriminant: i64) -> Fail {
    Box::new(EncodeError::InvalidDiscriminant {
        type_name: &p.enum_plan(id).type_name,
        discriminant,
    })
}

/// # Safety
///
/// `src` must point to an initialised `Vec<String>`.
#[inline(never)]
unsafe fn enc_string_vec(
    p: &'static Plan,
    src: *const u8,
    w: &mut Vec<u8>,
    depth: usize,
    loc: u32,
) -> Result<(), Fail> {
    // SAFETY: forwarded from the caller.
    let items = unsafe { &*src.cast::<Vec<String>>() };
    put_varint_usize(w, items.len());
    if items.is_empty() {
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(p.too_deep(loc));
    }
    for s in items {
        enc_str(s, w);
    }
    Ok(())
}

/// # Safety
///
/// `src` must point to an initialised `Option<prim>`.
#[inline(never)]
unsafe fn enc_opt_prim(
    p: &'static Plan,
    prim: Prim,
    src: *const u8,
    w: &mut Vec<u8>,
    depth: usize,
    loc: u32,
) -> Result<(), Fail> {
    with_prim!(prim, T => {
        // SAFETY: forwarded from the caller.
        match unsafe { src.cast::<Option<T>>().read() } {
            Some(v) => {
                if depth >= MAX_DEPTH {
                    return Err(p.too_deep(loc));
                }
                w.push(1);
                v.put(w);
            }
            None => w.push(0),
        }
    });
    Ok(())
}

/// # Safety
///
/// `src` must point to an initialised `&[T]` whose items are of block `elem`'s type.
#[inline(never)]
unsafe fn enc_slice(
    p: &'static Plan,
    src: *const u8,
    elem: u32,
    w: &mut Vec<u8>,
    depth: usize,
    loc: u32,
) -> Result<(), Fail> {
    // SAFETY: every `&[T]` has the layout of `*const [u8]` with the same element count (a
    // data pointer and a length), and the slice is valid (caller).
    unsafe {
        let raw: *const [u8] = src.cast::<*const [u8]>().read();
        let len = raw.len();
        put_varint_usize(w, len);
        enc_seq(p, elem, raw.cast::<u8>(), len, w, depth, loc)
    }
}

/// # Safety
///
/// `src` must point to an initialised option whose inner type is block `inner`'s.
#[inline(never)]
unsafe fn enc_option(
    p: &'static Plan,
    src: *const u8,
    inner: u32,
    vt: &'static OptionVTable,
    w: &mut Vec<u8>,
    depth: usize,
    loc: u32,
) -> Result<(), Fail> {
    let ptr = PtrConst::new(src);
    // SAFETY: the option is initialised (caller); `get_value` points at its value when it
    // is `Some`.
    unsafe {
        if (vt.is_some)(ptr) {
            w.push(1);
            enc_nested(p, inner, (vt.get_value)(ptr), w, depth, loc)
        } else {
            w.push(0);
            Ok(())
        }
    }
}

/// # Safety
///
/// `src` must point to an initialised result whose types are blocks `ok` and `err`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn enc_result(
    p: &'static Plan,
    src: *const u8,
    ok: u32,
    err: u32,
    vt: &'static ResultVTable,
    w: &mut Vec<u8>,
    depth: usize,
    loc: u32,
) -> Result<(), Fail> {
    let ptr = PtrConst::new(src);
    // SAFETY: the result is initialised (caller); the getter matching `is_ok` points at its
    // value.
    unsafe {
        let (index, block, value) = if (vt.is_ok)(ptr) {
            (0, ok, (vt.get_ok)(ptr))
        } else {
            (1, err, (vt.get_err)(ptr))
        };
        w.push(index);
        enc_nested(p, block, value, w, depth, loc)
    }
}

/// # Safety
///
/// `src` must point to an initialised smart pointer to a value of block `inner`'s type.
#[inline(never)]
unsafe fn enc_shared(
    p: &'static Plan,
    src: *const u8,
    inner: u32,
    vt: &'static PointerVTable,
    w: &mut Vec<u8>,
    depth: usize,
    loc: u32,
) -> Result<(), Fail> {
    let Some(borrow) = vt.borrow_fn else {
        return Err(p.missing_vtable(loc, "smart pointer without borrow"));
    };
    // SAFETY: the pointer is initialised (caller); `borrow` returns its pointee.
    unsafe {
        let value = borrow(PtrConst::new(src)).as_byte_ptr();
        enc_nested(p, inner, value, w, depth, loc)
    }
}

#[inline(always)]
fn enc_str(s: &str, w: &mut Vec<u8>) {
    put_len_prefixed(w, s.as_bytes());
}

/// # Safety
///
/// `src` must point to an initialised value of scalar type `prim`.
// Inlined into the op loops in optimised builds; kept out of line in debug builds so the
// recursive loops keep small frames there.
#[cfg_attr(not(debug_assertions), inline(always))]
unsafe fn enc_prim(prim: Prim, src: *const u8, w: &mut Vec<u8>) {
    // SAFETY: forwarded from the caller.
    with_prim!(prim, T => unsafe { src.cast::<T>().read() }.put(w));
}

/// # Safety
///
/// `src` must point to an initialised `Vec` of scalar type `prim`.
#[inline(never)]
unsafe fn enc_prim_vec(prim: Prim, src: *const u8, w: &mut Vec<u8>) {
    with_prim!(prim, T => {
        // SAFETY: forwarded from the caller.
        let v = unsafe { &*src.cast::<Vec<T>>() };
        put_varint_usize(w, v.len());
        enc_prim_slice::<T>(v, w);
    });
}

/// # Safety
///
/// `src` must point to an initialised `[prim; n]`.
#[inline(never)]
unsafe fn enc_prim_array(prim: Prim, src: *const u8, n: usize, w: &mut Vec<u8>) {
    with_prim!(prim, T => {
        // SAFETY: forwarded from the caller.
        let items = unsafe { slice::from_raw_parts(src.cast::<T>(), n) };
        enc_prim_slice::<T>(items, w);
    });
}

/// Encodes one value of block `block` one level deeper.
///
/// # Safety
///
/// `value` must point to an initialised value of the block's type.
#[inline]
unsafe fn enc_nested(
    p: &'static Plan,
    block: u32,
    value: *const u8,
    w: &mut Vec<u8>,
    depth: usize,
    loc: u32,
) -> Result<(), Fail> {
    if depth >= MAX_DEPTH {
        return Err(p.too_deep(loc));
    }
    for op in &p.block(block).ops {
        // SAFETY: forwarded from the caller.
        unsafe { enc_op(p, op, value, w, depth + 1)? };
    }
    Ok(())
}

/// # Safety
///
/// `src` must point to an initialised enum of plan `id`.
#[inline(never)]
unsafe fn enc_enum(
    p: &'static Plan,
    mut src: *const u8,
    mut id: u32,
    w: &mut Vec<u8>,
    mut depth: usize,
    mut loc: u32,
) -> Result<(), Fail> {
    loop {
        if depth >= MAX_DEPTH {
            return Err(p.too_deep(loc));
        }
        let en = p.enum_plan(id);
        let index = if en.byte_index {
            // SAFETY: the enum's discriminant is a `u8` at offset 0 (`byte_index`).
            let d = unsafe { src.read() };
            if usize::from(d) >= en.variants.len() {
                return Err(invalid_discriminant(p, id, i64::from(d)));
            }
            w.push(d);
            usize::from(d)
        } else {
            // SAFETY: forwarded from the caller; the plan records the discriminant's repr.
            let d = unsafe { read_discriminant(src, en.repr) };
            let index = if en.dense && d >= 0 && (d as u64) < en.variants.len() as u64 {
                d as usize
            } else {
                match en.variants.iter().position(|v| v.discriminant == d) {
                    Some(i) => i,
                    None => return Err(invalid_discriminant(p, id, d)),
                }
            };
            put_varint_u64(w, index as u64);
            index
        };
        // SAFETY: `index` is in bounds (checked or found above).
        let variant = unsafe { en.variants.get_unchecked(index) };
        let Some((last, init)) = variant.ops.split_last() else {
            return Ok(());
        };
        for op in init {
            // SAFETY: the value is this variant, so its fields are initialised at these
            // offsets.
            unsafe { enc_op(p, op, src, w, depth + 1)? };
        }
        match *last {
            // A variant whose last field is a boxed enum (a recursive enum's usual link, as in
            // `Neg(Box<Expr>)`) goes on with that enum here rather than one call deeper: this
            // is the `BoxedEnum` arm of `enc_op`, at depth `depth + 1`, then `enc_enum` at
            // `depth + 2`.
            Op::BoxedEnum {
                off,
                id: inner_id,
                loc: box_loc,
                eloc,
                ..
            } => {
                if depth + 1 >= MAX_DEPTH {
                    return Err(p.too_deep(box_loc));
                }
                // SAFETY: the field is an initialised `Box<E>`, a single pointer to an `E`.
                src = unsafe { src.add(off).cast::<*const u8>().read() };
                id = inner_id;
                depth += 2;
                loc = eloc;
            }
            // SAFETY: as above.
            ref op => return unsafe { enc_op(p, op, src, w, depth + 1) },
        }
    }
}

/// # Safety
///
/// `src` must point to an initialised map whose key and value types are blocks `key`, `value`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn enc_map(
    p: &'static Plan,
    src: *const u8,
    key: u32,
    value: u32,
    map: &'static MapDef,
    w: &mut Vec<u8>,
    depth: usize,
    loc: u32,
) -> Result<(), Fail> {
    if depth >= MAX_DEPTH {
        return Err(p.too_deep(loc));
    }
    let ptr = PtrConst::new(src);
    let iv = &map.vtable.iter_vtable;
    let Some(init) = iv.init_with_value else {
        return Err(p.missing_vtable(loc, "map without an iterator"));
    };
    let kops = &p.blocks[key as usize].ops;
    let vops = &p.blocks[value as usize].ops;
    // SAFETY: the map is initialised (caller); the iterator yields pointers to its keys and
    // values, which stay valid until the iterator is freed, which happens exactly once.
    unsafe {
        put_varint_usize(w, (map.vtable.len)(ptr));
        let iter = init(ptr);
        let mut result = Ok(());
        while let Some((k, v)) = (iv.next)(iter) {
            result = enc_list_of_ops(p, kops, k.as_byte_ptr(), w, depth + 1)
                .and_then(|()| enc_list_of_ops(p, vops, v.as_byte_ptr(), w, depth + 1));
            if result.is_err() {
                break;
            }
        }
        (iv.dealloc)(iter);
        result
    }
}

/// Encodes `len` contiguous values of block `elem` starting at `data`.
///
/// # Safety
///
/// `data` must point to `len` initialised values of the block's type, laid out contiguously.
#[inline]
unsafe fn enc_seq(
    p: &'static Plan,
    elem: u32,
    data: *const u8,
    len: usize,
    w: &mut Vec<u8>,
    depth: usize,
    loc: u32,
) -> Result<(), Fail> {
    if len == 0 {
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(p.too_deep(loc));
    }
    let block = p.block(elem);
    let stride = block.layout.size();
    for i in 0..len {
        // SAFETY: `i < len`, so the element lies inside the sequence.
        let item = unsafe { data.add(i * stride) };
        // The op loop inlined (rather than `enc_ops`): items are often one to three ops.
        for op in &block.ops {
            // SAFETY: the item is an initialised value of the block's type.
            unsafe { enc_op(p, op, item, w, depth + 1)? };
        }
    }
    Ok(())
}
