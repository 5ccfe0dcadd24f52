//! The runtime half of "one schema, two sources": building a [`roam_core::schema::Schema`] from
//! a facet `Shape`.
//!
//! This module owns the mapping from shapes to the canonical model; the model itself, its bytes
//! and its hash live in `roam_core::schema`, whose module docs give the rules this follows
//! (names, generic arguments, `Ref` for recursion). It agrees with the codec about which types
//! exist because both use the same shape classification.
//!
//! Channels: a shape whose identifier is `Tx` or `Rx`, that has exactly one type parameter and
//! that is defined in the `roam` crate (the runtime, imported as `roam`) or in a `roam_*` crate,
//! is the channel `Channel { direction, item }`.
//!
//! Names are the ones facet serializes under: a field or variant with `#[facet(rename = "...")]`
//! (or renamed by its container's `#[facet(rename_all = "...")]`, which facet's derive applies
//! into the same `rename`) carries its renamed name, and a type with `#[facet(rename = "...")]`
//! carries that name in place of its identifier. `#[facet(skip)]` fields are not in the schema
//! at all. Two fields (or variants) that end up with the same name are refused: a reader could
//! not tell them apart.

use facet_core::{ConstParam, ConstParamKind, Facet, Shape, StructKind as FacetStructKind};
use roam_core::schema::{
    ChannelDirection, Field, GenericArg, PrimitiveKind, Schema, StructKind, Variant, generic_name,
};

use crate::error::UnsupportedShape;
use crate::kind::{FieldRole, Kind, Prim, classify, field_role, type_name};

/// The schema of `T`.
///
/// ```
/// use facet::Facet;
/// use roam_core::schema::{PrimitiveKind, Schema};
///
/// #[derive(Facet)]
/// struct Point { x: i32, y: i32 }
///
/// let schema = roam_codec::schema_of::<Point>().unwrap();
/// assert_eq!(schema.name(), Some("Point"));
/// assert_eq!(roam_codec::schema_of::<Vec<u8>>().unwrap(), Schema::Bytes);
/// assert_eq!(
///     roam_codec::schema_of::<Option<String>>().unwrap(),
///     Schema::Option(Box::new(Schema::Primitive(PrimitiveKind::String))),
/// );
/// ```
pub fn schema_of<'a, T: Facet<'a> + ?Sized>() -> Result<Schema, UnsupportedShape> {
    schema_of_shape(T::SHAPE)
}

/// The schema of the type `shape` describes.
pub fn schema_of_shape(shape: &'static Shape) -> Result<Schema, UnsupportedShape> {
    Builder { stack: Vec::new() }.build(shape, "")
}

struct Builder {
    /// Names of the user types being expanded, outermost first.
    stack: Vec<String>,
}

fn primitive(prim: Prim) -> PrimitiveKind {
    match prim {
        Prim::Bool => PrimitiveKind::Bool,
        Prim::U8 => PrimitiveKind::U8,
        Prim::U16 => PrimitiveKind::U16,
        Prim::U32 => PrimitiveKind::U32,
        Prim::U64 | Prim::Usize => PrimitiveKind::U64,
        Prim::U128 => PrimitiveKind::U128,
        Prim::I8 => PrimitiveKind::I8,
        Prim::I16 => PrimitiveKind::I16,
        Prim::I32 => PrimitiveKind::I32,
        Prim::I64 | Prim::Isize => PrimitiveKind::I64,
        Prim::I128 => PrimitiveKind::I128,
        Prim::F32 => PrimitiveKind::F32,
        Prim::F64 => PrimitiveKind::F64,
        Prim::Char => PrimitiveKind::Char,
    }
}

fn struct_kind(kind: FacetStructKind) -> StructKind {
    match kind {
        FacetStructKind::Struct => StructKind::Named,
        FacetStructKind::TupleStruct | FacetStructKind::Tuple => StructKind::Tuple,
        FacetStructKind::Unit => StructKind::Unit,
    }
}

/// Renders a const generic argument: integers in decimal, `true`/`false`, `'c'`.
fn render_const(param: &ConstParam) -> String {
    match param.kind {
        ConstParamKind::Bool => (param.value != 0).to_string(),
        ConstParamKind::Char => match char::from_u32(param.value as u32) {
            Some(c) => format!("{c:?}"),
            None => param.value.to_string(),
        },
        ConstParamKind::I8
        | ConstParamKind::I16
        | ConstParamKind::I32
        | ConstParamKind::I64
        | ConstParamKind::Isize => (param.value as i64).to_string(),
        ConstParamKind::U8
        | ConstParamKind::U16
        | ConstParamKind::U32
        | ConstParamKind::U64
        | ConstParamKind::Usize => param.value.to_string(),
    }
}

/// `Tx<T>` / `Rx<T>` from roam's runtime.
pub(crate) fn channel_of(shape: &'static Shape) -> Option<(ChannelDirection, &'static Shape)> {
    let direction = match shape.type_identifier {
        "Tx" => ChannelDirection::Tx,
        "Rx" => ChannelDirection::Rx,
        _ => return None,
    };
    let module = shape.module_path?;
    let crate_name = module.split("::").next()?;
    if crate_name != "roam" && !crate_name.starts_with("roam_") {
        return None;
    }
    match shape.type_params {
        [param] => Some((direction, param.shape)),
        _ => None,
    }
}

fn unsupported(shape: &'static Shape, path: &str, reason: &'static str) -> UnsupportedShape {
    UnsupportedShape {
        type_name: shape.to_string(),
        path: path.to_owned(),
        reason,
    }
}

impl Builder {
    fn build(&mut self, shape: &'static Shape, path: &str) -> Result<Schema, UnsupportedShape> {
        // facet describes `Infallible` as an opaque scalar; on the wire it is the error type
        // of methods that cannot fail. Compared by type ID: a `const` shape need not have one
        // address across codegen units.
        if shape.id == <core::convert::Infallible as facet_core::Facet>::SHAPE.id {
            return Ok(Schema::infallible());
        }
        if let Some((direction, item)) = channel_of(shape) {
            let item = self.build(item, &format!("{path}<item>"))?;
            return Ok(Schema::Channel {
                direction,
                item: Box::new(item),
            });
        }
        let schema = match classify(shape) {
            Kind::Prim(prim) => Schema::Primitive(primitive(prim)),
            Kind::Unit => Schema::UNIT,
            Kind::String | Kind::StrRef => Schema::Primitive(PrimitiveKind::String),
            Kind::Bytes => Schema::Bytes,
            Kind::List(list) => self.list(list.t, path)?,
            Kind::SliceRef(item) => self.list(item, path)?,
            Kind::Array(array) => Schema::Array(
                Box::new(self.build(array.t, &format!("{path}[]"))?),
                array.n as u64,
            ),
            Kind::Map(map) => Schema::Map(
                Box::new(self.build(map.k, &format!("{path}.<key>"))?),
                Box::new(self.build(map.v, &format!("{path}.<value>"))?),
            ),
            Kind::Option(def) => Schema::Option(Box::new(self.build(def.t, &format!("{path}?"))?)),
            Kind::Result(def) => Schema::result(
                self.build(def.t, &format!("{path}.<ok>"))?,
                self.build(def.e, &format!("{path}.<err>"))?,
            ),
            Kind::Box(pointee) | Kind::Shared(_, pointee) | Kind::Ref(pointee) => {
                self.build(pointee, path)?
            }
            Kind::Struct(st) if st.kind == FacetStructKind::Tuple => {
                let mut items = Vec::with_capacity(st.fields.len());
                for field in st.fields {
                    items.push(self.build(field.shape(), &format!("{path}.{}", field.name))?);
                }
                Schema::tuple(items)
            }
            Kind::Struct(st) => {
                let name = self.name(shape, path)?;
                if self.stack.contains(&name) {
                    return Ok(Schema::Ref(name));
                }
                self.stack.push(name);
                let fields = self.fields(shape, st.fields, path);
                let name = self.stack.pop().unwrap_or_default();
                Schema::Struct {
                    name,
                    kind: struct_kind(st.kind),
                    fields: fields?,
                }
            }
            Kind::Enum(en) => {
                let name = self.name(shape, path)?;
                if self.stack.contains(&name) {
                    return Ok(Schema::Ref(name));
                }
                self.stack.push(name);
                let variants: Result<Vec<Variant>, UnsupportedShape> = en
                    .variants
                    .iter()
                    .map(|v| {
                        let vpath = format!("{path}::{}", v.name);
                        Ok(Variant {
                            name: v.effective_name().to_owned(),
                            kind: struct_kind(v.data.kind),
                            fields: self.fields(shape, v.data.fields, &vpath)?,
                        })
                    })
                    .collect();
                let name = self.stack.pop().unwrap_or_default();
                let variants = variants?;
                if has_duplicate(variants.iter().map(|v| v.name.as_str())) {
                    return Err(unsupported(
                        shape,
                        path,
                        "two variants have the same name in the schema (check their `#[facet(rename)]`s)",
                    ));
                }
                Schema::Enum { name, variants }
            }
            Kind::Unsupported(reason) => return Err(unsupported(shape, path, reason)),
        };
        Ok(schema)
    }

    fn list(&mut self, item: &'static Shape, path: &str) -> Result<Schema, UnsupportedShape> {
        if matches!(classify(item), Kind::Prim(Prim::U8)) {
            return Ok(Schema::Bytes);
        }
        Ok(Schema::List(Box::new(
            self.build(item, &format!("{path}[]"))?,
        )))
    }

    /// The fields of a struct or variant of `owner` that are on the wire, in order.
    fn fields(
        &mut self,
        owner: &'static Shape,
        fields: &'static [facet_core::Field],
        path: &str,
    ) -> Result<Vec<Field>, UnsupportedShape> {
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            let fpath = format!("{path}.{}", f.name);
            match field_role(f).map_err(|reason| unsupported(owner, &fpath, reason))? {
                FieldRole::Skipped(_) => continue,
                FieldRole::Wire => {}
            }
            let schema = self.build(f.shape(), &fpath)?;
            // `#[facet(default)]` and `#[facet(default = expr)]` both set `Field::default`
            // (`FromTrait` / `Custom`); either way a reader can make the value up.
            let name = f.effective_name();
            out.push(if f.has_default() {
                Field::defaulted(name, schema)
            } else {
                Field::new(name, schema)
            });
        }
        if has_duplicate(out.iter().map(|f| f.name.as_str())) {
            return Err(unsupported(
                owner,
                path,
                "two fields have the same name in the schema (check their `#[facet(rename)]`s)",
            ));
        }
        Ok(out)
    }

    /// The canonical name of a user type: its identifier plus its generic arguments.
    fn name(&mut self, shape: &'static Shape, path: &str) -> Result<String, UnsupportedShape> {
        let mut type_args = Vec::with_capacity(shape.type_params.len());
        for param in shape.type_params {
            type_args.push(self.build(param.shape, &format!("{path}<{}>", param.name))?);
        }
        let consts: Vec<String> = shape.const_params.iter().map(render_const).collect();
        let args: Vec<GenericArg<'_>> = type_args
            .iter()
            .map(GenericArg::Type)
            .chain(consts.iter().map(|c| GenericArg::Const(c)))
            .collect();
        Ok(generic_name(type_name(shape), &args))
    }
}

/// Whether two of `names` are equal.
fn has_duplicate<'n>(names: impl Iterator<Item = &'n str>) -> bool {
    let mut seen = std::collections::HashSet::new();
    names.into_iter().any(|name| !seen.insert(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stand-ins for the runtime's channel handles: any `Tx<T>` / `Rx<T>` defined in a `roam`
    /// or `roam_*` crate is a channel (this module is in `roam_codec`).
    #[derive(facet::Facet)]
    struct Tx<T> {
        id: u64,
        item: Option<T>,
    }

    #[derive(facet::Facet)]
    struct Rx<T> {
        id: u64,
        item: Option<T>,
    }

    #[test]
    fn channels_are_recognised() {
        assert_eq!(
            schema_of::<Tx<u32>>().unwrap(),
            Schema::Channel {
                direction: ChannelDirection::Tx,
                item: Box::new(Schema::Primitive(PrimitiveKind::U32)),
            }
        );
        let args = schema_of::<(Rx<String>, u8)>().unwrap();
        assert_eq!(args.type_expr(), "(Rx<String>, u8)");
    }

    #[test]
    fn const_arguments_render_like_rust() {
        let param = |value, kind| ConstParam {
            name: "N",
            value,
            kind,
        };
        assert_eq!(render_const(&param(4, ConstParamKind::Usize)), "4");
        assert_eq!(
            render_const(&param(-3i64 as u64, ConstParamKind::I32)),
            "-3"
        );
        assert_eq!(render_const(&param(1, ConstParamKind::Bool)), "true");
        assert_eq!(
            render_const(&param('x' as u64, ConstParamKind::Char)),
            "'x'"
        );
    }
}
