//! Classifying facet `Shape`s into the handful of wire kinds roam knows.
//!
//! This module owns the single decision "what is this shape on the wire?", so that the plan
//! compiler ([`crate::plan`]), the translation compiler ([`crate::translate`]) and the schema
//! builder ([`crate::schema`]) can never disagree about it: the wire kind of a shape
//! ([`classify`]), what a struct or variant field is ([`field_role`]: on the wire, or
//! `#[facet(skip)]` and filled from its default), and the name a user type carries
//! ([`type_name`]). It reads shapes only; it encodes nothing.

use facet_core::{
    ArrayDef, ConstTypeId, Def, DefaultSource, EnumType, Field, FieldFlags, KnownPointer, ListDef,
    MapDef, OptionDef, PointerDef, ResultDef, Shape, StructType, Type, UserType,
};

/// A scalar with a fixed postcard encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prim {
    Bool,
    U8,
    U16,
    U32,
    U64,
    U128,
    Usize,
    I8,
    I16,
    I32,
    I64,
    I128,
    Isize,
    F32,
    F64,
    Char,
}

/// What a shape is on the wire.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Prim(Prim),
    /// `()`: nothing on the wire.
    Unit,
    String,
    /// `Vec<u8>`.
    Bytes,
    /// Any other list (`Vec<T>`).
    List(&'static ListDef),
    /// `[T; N]`.
    Array(&'static ArrayDef),
    Map(&'static MapDef),
    Option(&'static OptionDef),
    Result(&'static ResultDef),
    /// `Box<T>` with a sized `T`.
    Box(&'static Shape),
    /// `Arc<T>` / `Rc<T>` with a sized `T`.
    Shared(&'static PointerDef, &'static Shape),
    /// `&T` / `&mut T` with a sized `T` (encode only).
    Ref(&'static Shape),
    /// `&str` (encode only).
    StrRef,
    /// `&[T]` (encode only).
    SliceRef(&'static Shape),
    /// A struct, tuple struct, unit struct or tuple.
    Struct(&'static StructType),
    /// A user enum with a known discriminant layout.
    Enum(&'static EnumType),
    Unsupported(&'static str),
}

fn is<T: ?Sized>(shape: &Shape) -> bool {
    shape.id == ConstTypeId::of::<T>()
}

fn prim_of(shape: &Shape) -> Option<Prim> {
    let prim = if is::<bool>(shape) {
        Prim::Bool
    } else if is::<u8>(shape) {
        Prim::U8
    } else if is::<u16>(shape) {
        Prim::U16
    } else if is::<u32>(shape) {
        Prim::U32
    } else if is::<u64>(shape) {
        Prim::U64
    } else if is::<u128>(shape) {
        Prim::U128
    } else if is::<usize>(shape) {
        Prim::Usize
    } else if is::<i8>(shape) {
        Prim::I8
    } else if is::<i16>(shape) {
        Prim::I16
    } else if is::<i32>(shape) {
        Prim::I32
    } else if is::<i64>(shape) {
        Prim::I64
    } else if is::<i128>(shape) {
        Prim::I128
    } else if is::<isize>(shape) {
        Prim::Isize
    } else if is::<f32>(shape) {
        Prim::F32
    } else if is::<f64>(shape) {
        Prim::F64
    } else if is::<char>(shape) {
        Prim::Char
    } else {
        return None;
    };
    Some(prim)
}

/// Classifies `shape`. Never fails: what roam cannot carry is `Kind::Unsupported(reason)`.
pub(crate) fn classify(shape: &'static Shape) -> Kind {
    if let Some(prim) = prim_of(shape) {
        return Kind::Prim(prim);
    }
    if is::<()>(shape) {
        return Kind::Unit;
    }
    if is::<String>(shape) {
        return Kind::String;
    }
    if is::<Vec<u8>>(shape) {
        return Kind::Bytes;
    }
    match &shape.def {
        Def::Option(def) => return Kind::Option(def),
        Def::Result(def) => return Kind::Result(def),
        Def::List(def) => return Kind::List(def),
        Def::Array(def) => return Kind::Array(def),
        Def::Map(def) => return Kind::Map(def),
        Def::Pointer(def) => return classify_pointer(def),
        Def::Set(_) => return Kind::Unsupported("sets are not part of roam's type model"),
        Def::Slice(_) => return Kind::Unsupported("unsized slices can only appear behind `&`"),
        Def::Scalar => {
            // The scalars roam knows were recognised above; any other is a foreign type.
            return Kind::Unsupported(
                "only bool, integers, floats, char and String are supported scalars",
            );
        }
        Def::Undefined => {}
        _ => return Kind::Unsupported("this kind of type is not part of roam's type model"),
    }
    if shape.proxy.is_some() || !shape.format_proxies.is_empty() {
        return Kind::Unsupported("`#[facet(proxy)]` types are not supported");
    }
    if shape.opaque_adapter.is_some() {
        return Kind::Unsupported("`#[facet(opaque)]` types are not supported");
    }
    match &shape.ty {
        Type::User(UserType::Struct(st)) => {
            if st.repr.packed {
                Kind::Unsupported("`#[repr(packed)]` structs are not supported")
            } else {
                Kind::Struct(st)
            }
        }
        Type::User(UserType::Enum(en)) => {
            if shape.is_untagged() || shape.tag.is_some() || shape.is_numeric() {
                Kind::Unsupported("untagged, internally tagged and numeric enums are not supported")
            } else if matches!(
                en.enum_repr,
                facet_core::EnumRepr::Rust | facet_core::EnumRepr::RustNPO
            ) {
                Kind::Unsupported("enums need `#[repr(u8)]`, `#[repr(C)]` or another explicit repr")
            } else {
                Kind::Enum(en)
            }
        }
        Type::User(UserType::Union(_)) => Kind::Unsupported("unions are not supported"),
        _ => Kind::Unsupported("this kind of type is not part of roam's type model"),
    }
}

fn classify_pointer(def: &'static PointerDef) -> Kind {
    let Some(pointee) = def.pointee else {
        return Kind::Unsupported("pointer with an opaque pointee");
    };
    match def.known {
        Some(KnownPointer::SharedReference | KnownPointer::ExclusiveReference) => {
            if is::<str>(pointee) {
                Kind::StrRef
            } else if let Def::Slice(slice) = pointee.def {
                Kind::SliceRef(slice.t)
            } else if pointee.layout.sized_layout().is_ok() {
                Kind::Ref(pointee)
            } else {
                Kind::Unsupported("references to unsized types other than str and slices")
            }
        }
        Some(KnownPointer::Box) if pointee.layout.sized_layout().is_ok() => Kind::Box(pointee),
        Some(KnownPointer::Arc | KnownPointer::Rc)
            if pointee.layout.sized_layout().is_ok()
                && !def.flags.contains(facet_core::PointerFlags::WEAK) =>
        {
            Kind::Shared(def, pointee)
        }
        _ => Kind::Unsupported("only Box, Arc, Rc and references to sized types are supported"),
    }
}

/// What a struct or variant field is on the wire.
#[derive(Clone, Copy)]
pub(crate) enum FieldRole {
    /// Encoded and decoded in declaration order, under [`Field::effective_name`] in the schema.
    Wire,
    /// `#[facet(skip)]`: absent from the wire and from the schema; decoding fills it from its
    /// default (`#[facet(default)]`: the type's `Default`; `#[facet(default = expr)]`: the
    /// expression).
    Skipped(DefaultSource),
}

/// Whether `field` is carried, skipped, or something roam cannot model (`Err(reason)`).
///
/// facet 0.46 sets `FieldFlags::SKIP` for `#[facet(skip)]` and `SKIP_SERIALIZING` /
/// `SKIP_DESERIALIZING` for the one-sided forms, and fills a skipped field from `Field::default`
/// (or, without one, from the type's `Default` if facet found one). roam requires the default
/// to be written out, so that the syn side (`roam-codegen`), which cannot see trait impls, makes
/// the same decision from the source alone.
pub(crate) fn field_role(field: &'static Field) -> Result<FieldRole, &'static str> {
    if field.is_flattened() {
        return Err(
            "`#[facet(flatten)]` fields are not supported: roam's schema has no flattened fields; keep the inner struct as an ordinary field",
        );
    }
    if field.proxy.is_some() || !field.format_proxies.is_empty() {
        return Err(
            "`#[facet(proxy)]` fields are not supported: roam describes a field by its own type; convert to a wire type yourself",
        );
    }
    let skip_ser = field.flags.contains(FieldFlags::SKIP_SERIALIZING);
    let skip_de = field.flags.contains(FieldFlags::SKIP_DESERIALIZING);
    if field.flags.contains(FieldFlags::SKIP) || (skip_ser && skip_de) {
        return match field.default {
            Some(DefaultSource::FromTrait) if !field.shape().is_default() => {
                Err("the `#[facet(skip)]` field is `#[facet(default)]` but its type has no Default")
            }
            Some(source) => Ok(FieldRole::Skipped(source)),
            None => Err(
                "a `#[facet(skip)]` field needs `#[facet(default)]` or `#[facet(default = ...)]`: decoding fills it from that",
            ),
        };
    }
    if skip_ser || skip_de {
        return Err(
            "`#[facet(skip_serializing)]` or `#[facet(skip_deserializing)]` alone is not supported: writer and reader would disagree about the field; use `#[facet(skip)]` with a default to leave it out of the wire",
        );
    }
    if field.skip_serializing_if.is_some() {
        return Err(
            "`#[facet(skip_serializing_if)]` and `skip_unless_truthy` are not supported: postcard has no way to mark an absent field; use `#[facet(skip)]` or an `Option`",
        );
    }
    Ok(FieldRole::Wire)
}

/// The name a user type carries in its schema, before generic arguments:
/// `#[facet(rename = "...")]` if it has one, else its identifier. facet 0.46's derive keeps a
/// container's rename as a builtin `rename` attribute holding a `&'static str` (it leaves
/// `Shape::rename` unset), so both are looked at.
pub(crate) fn type_name(shape: &'static Shape) -> &'static str {
    if let Some(rename) = shape.rename {
        return rename;
    }
    shape
        .attributes
        .iter()
        .filter(|attr| attr.is_builtin() && attr.key == "rename")
        .find_map(|attr| attr.get_as::<&'static str>().copied())
        .unwrap_or(shape.type_identifier)
}

/// Runs `$body` with `$T` bound to the Rust type of scalar `$prim`.
macro_rules! with_prim {
    ($prim:expr, $T:ident => $body:expr) => {
        match $prim {
            $crate::kind::Prim::Bool => {
                type $T = bool;
                $body
            }
            $crate::kind::Prim::U8 => {
                type $T = u8;
                $body
            }
            $crate::kind::Prim::U16 => {
                type $T = u16;
                $body
            }
            $crate::kind::Prim::U32 => {
                type $T = u32;
                $body
            }
            $crate::kind::Prim::U64 => {
                type $T = u64;
                $body
            }
            $crate::kind::Prim::U128 => {
                type $T = u128;
                $body
            }
            $crate::kind::Prim::Usize => {
                type $T = usize;
                $body
            }
            $crate::kind::Prim::I8 => {
                type $T = i8;
                $body
            }
            $crate::kind::Prim::I16 => {
                type $T = i16;
                $body
            }
            $crate::kind::Prim::I32 => {
                type $T = i32;
                $body
            }
            $crate::kind::Prim::I64 => {
                type $T = i64;
                $body
            }
            $crate::kind::Prim::I128 => {
                type $T = i128;
                $body
            }
            $crate::kind::Prim::Isize => {
                type $T = isize;
                $body
            }
            $crate::kind::Prim::F32 => {
                type $T = f32;
                $body
            }
            $crate::kind::Prim::F64 => {
                type $T = f64;
                $body
            }
            $crate::kind::Prim::Char => {
                type $T = char;
                $body
            }
        }
    };
}
pub(crate) use with_prim;
