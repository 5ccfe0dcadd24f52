//! Schemas from syntax: the compile-time half of "one schema, two sources".
//!
//! Owns: turning the parsed model ([`TypeRef`]s, and the [`TypeDef`]s found in the parsed files)
//! into `roam_core::schema::Schema`s, and the per-method schemas ([`MethodSchemas`]) the CLI
//! reports and checks. The result must be byte-identical to what `roam_codec::schema_of`
//! computes from facet `Shape`s for the same Rust types; the rules (names, generic arguments,
//! `Ref` for recursion, invisible pointers) are specified in `roam_core::schema`'s module docs
//! and this module follows them. Names are the ones facet serializes under: the parser has
//! applied `#[facet(rename)]` and `rename_all` ([`TypeDef::schema_name`],
//! [`crate::ir::FieldDef::schema_name`], [`crate::ir::VariantDef::schema_name`]) and left
//! `#[facet(skip)]` fields out, and other types refer to a type by its Rust name. `roam-codegen/tests/schema_agreement.rs` compiles a set of
//! types and compares both sides.
//!
//! Must not: own the model, its bytes or its hash (that is `roam_core::schema`), or decide
//! what the parser accepts (that is [`crate::validate`]): it reads the validated model and only
//! reports what it cannot resolve: a type name defined in none of the given files, a name
//! defined more than once, a wrong number of generic arguments, or a standard type roam does
//! not carry.
//!
//! Types the parser leaves as plain paths and that are not defined in the files are recognised
//! here by name: `Result<T, E>` (also `std::result::Result`, `core::result::Result`) is the
//! canonical `Result` enum, and `Arc<T>` / `Rc<T>` are invisible like `Box<T>`.
//!
//! # Methods
//!
//! A method's [`MethodSchemas`] are:
//! - `args`: `Schema::tuple` of the wire arguments in order, that is every argument except the
//!   `&Context` parameter and the channel (`Tx`/`Rx`) arguments, which travel outside the
//!   request payload (unit for none);
//! - `channels`: `Schema::tuple` of the channel arguments' `Channel` schemas, in order;
//! - `ok`: the success type (`T` of `Result<T, E>`, `()` for no return type);
//! - `err`: the user error type `E`; for a method that cannot fail it is
//!   [`Schema::infallible`], an enum named `Infallible` with no variants. (`facet` describes
//!   `core::convert::Infallible` as a foreign scalar, which `roam_codec::schema_of` refuses, so
//!   this is a convention of roam's: an enum without variants has no values, which is what
//!   "cannot fail" means, and a later error type is then compatible with it by the usual enum
//!   rules.)

use std::collections::BTreeMap;
use std::collections::HashMap;

use proc_macro2::Span;
use roam_core::schema::{
    ChannelDirection, Field, GenericArg, PrimitiveKind, Schema, StructKind, Variant, generic_name,
};

use crate::ir::{
    Fields, MethodDef, Primitive, RustPath, ServiceDef, TypeDef, TypeDefKind, TypeKind, TypeRef,
};
use crate::validate::{Ctxt, Position};

/// The schemas of one method. See the [module docs](self) for what each part holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodSchemas {
    /// The request payload: the tuple of the wire arguments (unit for none).
    pub args: Schema,
    /// The channel arguments: the tuple of their `Channel` schemas (unit for none).
    pub channels: Schema,
    /// The success type.
    pub ok: Schema,
    /// The error type ([`Schema::infallible`] when the method cannot fail).
    pub err: Schema,
}

impl MethodSchemas {
    /// The response as one type: `Schema::result(ok, err)`.
    pub fn returns(&self) -> Schema {
        Schema::result(self.ok.clone(), self.err.clone())
    }

    /// Content hash of [`args`](Self::args).
    pub fn args_hash(&self) -> u64 {
        self.args.content_hash()
    }

    /// Content hash of [`returns`](Self::returns).
    pub fn returns_hash(&self) -> u64 {
        self.returns().content_hash()
    }
}

/// The user types available to schema computation, looked up by their bare name.
///
/// Build it from every [`TypeDef`] of every parsed file; then ask it for the schema of any
/// [`TypeRef`] or for a method's [`MethodSchemas`].
#[derive(Debug, Clone, Default)]
pub struct TypeTable<'a> {
    defs: BTreeMap<&'a str, Vec<&'a TypeDef>>,
}

/// Where a schema error was found, for tools that read several files: the token's span, and
/// the user type whose definition holds it (`None` when it is in the method signature itself).
#[derive(Debug, Clone)]
pub struct SchemaError {
    /// The error, spanned at the offending token.
    pub error: syn::Error,
    /// The name of the [`TypeDef`] whose definition contains the token, if any.
    pub in_type: Option<String>,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SchemaError {}

impl<'a> TypeTable<'a> {
    /// A table of `defs`. Several definitions may share a name; using such a name is an error.
    pub fn new(defs: impl IntoIterator<Item = &'a TypeDef>) -> Self {
        let mut table: BTreeMap<&'a str, Vec<&'a TypeDef>> = BTreeMap::new();
        for def in defs {
            table.entry(def.name.as_str()).or_default().push(def);
        }
        TypeTable { defs: table }
    }

    /// The definition named `name`, if exactly one was given.
    pub fn get(&self, name: &str) -> Option<&'a TypeDef> {
        match self.defs.get(name).map(Vec::as_slice) {
            Some([def]) => Some(def),
            _ => None,
        }
    }

    /// The schema of `ty`, a concrete type (no type parameters left in it).
    pub fn schema_of(&self, ty: &TypeRef) -> Result<Schema, SchemaError> {
        Builder {
            table: self,
            stack: Vec::new(),
            current: None,
        }
        .build(ty)
    }

    /// The schema of a type written in Rust syntax, read like an argument type (so `&str` and
    /// `&[u8]` are accepted). Unsupported syntax is reported as the parser reports it.
    pub fn schema_of_syn(&self, ty: &syn::Type) -> Result<Schema, SchemaError> {
        let cx = Ctxt::new();
        let lowered = crate::parse::lower_type(&cx, ty, Position::Arg);
        let mut errors = cx.into_errors().into_iter();
        if let Some(mut error) = errors.next() {
            error.extend(errors);
            return Err(SchemaError {
                error,
                in_type: None,
            });
        }
        match lowered {
            Some(ty) => self.schema_of(&ty),
            None => Err(SchemaError {
                error: syn::Error::new_spanned(ty, "this type is not supported"),
                in_type: None,
            }),
        }
    }

    /// The schemas of `method` (see the [module docs](self)).
    pub fn method_schemas(&self, method: &MethodDef) -> Result<MethodSchemas, SchemaError> {
        let mut args = Vec::new();
        let mut channels = Vec::new();
        for arg in &method.args {
            let schema = self.schema_of(&arg.ty)?;
            if arg.ty.is_channel() {
                channels.push(schema);
            } else {
                args.push(schema);
            }
        }
        let ok = self.schema_of(&method.ret)?;
        let err = match &method.error {
            Some(error) => self.schema_of(error)?,
            None => Schema::infallible(),
        };
        Ok(MethodSchemas {
            args: Schema::tuple(args),
            channels: Schema::tuple(channels),
            ok,
            err,
        })
    }
}

/// The schemas of the method named `method` of `service`, with the user types `types`.
///
/// Returns `None` when the service has no such method.
pub fn method_schemas(
    types: &[TypeDef],
    service: &ServiceDef,
    method: &str,
) -> Option<Result<MethodSchemas, SchemaError>> {
    let method = service.methods.iter().find(|m| m.name == method)?;
    Some(TypeTable::new(types).method_schemas(method))
}

/// The schema of `ty` with the user types `types`.
pub fn schema_of(types: &[TypeDef], ty: &TypeRef) -> Result<Schema, SchemaError> {
    TypeTable::new(types).schema_of(ty)
}

struct Builder<'t, 'a> {
    table: &'t TypeTable<'a>,
    /// Canonical names of the user types being expanded, outermost first.
    stack: Vec<String>,
    /// The user type whose fields are being read (for error locations).
    current: Option<String>,
}

pub(crate) fn primitive_kind(p: Primitive) -> PrimitiveKind {
    match p {
        Primitive::Bool => PrimitiveKind::Bool,
        Primitive::U8 => PrimitiveKind::U8,
        Primitive::U16 => PrimitiveKind::U16,
        Primitive::U32 => PrimitiveKind::U32,
        Primitive::U64 => PrimitiveKind::U64,
        Primitive::U128 => PrimitiveKind::U128,
        Primitive::I8 => PrimitiveKind::I8,
        Primitive::I16 => PrimitiveKind::I16,
        Primitive::I32 => PrimitiveKind::I32,
        Primitive::I64 => PrimitiveKind::I64,
        Primitive::I128 => PrimitiveKind::I128,
        Primitive::F32 => PrimitiveKind::F32,
        Primitive::F64 => PrimitiveKind::F64,
        Primitive::Char => PrimitiveKind::Char,
    }
}

/// Whether `path` is `name` or `name` under one of `prefixes` (with or without leading `::`).
pub(crate) fn std_path(path: &RustPath, name: &str, prefixes: &[&[&str]]) -> bool {
    let Some((last, prefix)) = path.segments.split_last() else {
        return false;
    };
    if last != name {
        return false;
    }
    if prefix.is_empty() {
        return !path.leading_colon;
    }
    prefixes
        .iter()
        .any(|p| p.len() == prefix.len() && p.iter().zip(prefix).all(|(a, b)| a == b))
}

/// Standard types the parser leaves as named paths.
enum StdNamed {
    Result,
    Pointer,
    Refused(&'static str),
}

fn std_named(path: &RustPath) -> Option<StdNamed> {
    if std_path(path, "Result", &[&["std", "result"], &["core", "result"]]) {
        return Some(StdNamed::Result);
    }
    if std_path(path, "Arc", &[&["std", "sync"], &["alloc", "sync"]])
        || std_path(path, "Rc", &[&["std", "rc"], &["alloc", "rc"]])
    {
        return Some(StdNamed::Pointer);
    }
    for (name, prefixes) in [
        (
            "HashSet",
            &[
                &["std", "collections"][..],
                &["std", "collections", "hash_set"],
            ][..],
        ),
        (
            "BTreeSet",
            &[
                &["std", "collections"][..],
                &["std", "collections", "btree_set"],
            ][..],
        ),
    ] {
        if std_path(path, name, prefixes) {
            return Some(StdNamed::Refused(
                "sets are not part of roam's type model; use `Vec<T>` or a map",
            ));
        }
    }
    if std_path(
        path,
        "Infallible",
        &[&["std", "convert"], &["core", "convert"]],
    ) {
        return Some(StdNamed::Refused(
            "`Infallible` is only meaningful as a method's missing error type; leave the `Result` out instead",
        ));
    }
    None
}

/// Replaces the type parameters `params` by `args` in `ty`.
fn substitute(ty: &TypeRef, params: &HashMap<&str, &TypeRef>) -> TypeRef {
    let sub = |t: &TypeRef| Box::new(substitute(t, params));
    let kind = match &ty.kind {
        TypeKind::Named { path, generics } => {
            if generics.is_empty()
                && !path.leading_colon
                && path.segments.len() == 1
                && let Some(arg) = params.get(path.segments[0].as_str())
            {
                return (*arg).clone();
            }
            TypeKind::Named {
                path: path.clone(),
                generics: generics.iter().map(|g| substitute(g, params)).collect(),
            }
        }
        TypeKind::Unit
        | TypeKind::Primitive(_)
        | TypeKind::String { .. }
        | TypeKind::Str
        | TypeKind::Bytes(_) => ty.kind.clone(),
        TypeKind::Vec { path, elem } => TypeKind::Vec {
            path: path.clone(),
            elem: sub(elem),
        },
        TypeKind::Option { path, inner } => TypeKind::Option {
            path: path.clone(),
            inner: sub(inner),
        },
        TypeKind::Box { path, inner } => TypeKind::Box {
            path: path.clone(),
            inner: sub(inner),
        },
        TypeKind::Tuple(elems) => {
            TypeKind::Tuple(elems.iter().map(|e| substitute(e, params)).collect())
        }
        TypeKind::Array { elem, len } => TypeKind::Array {
            elem: sub(elem),
            len: *len,
        },
        TypeKind::Map {
            kind,
            path,
            key,
            value,
        } => TypeKind::Map {
            kind: *kind,
            path: path.clone(),
            key: sub(key),
            value: sub(value),
        },
        TypeKind::Tx { path, item } => TypeKind::Tx {
            path: path.clone(),
            item: sub(item),
        },
        TypeKind::Rx { path, item } => TypeKind::Rx {
            path: path.clone(),
            item: sub(item),
        },
    };
    TypeRef {
        kind,
        span: ty.span,
    }
}

impl Builder<'_, '_> {
    fn error(&self, span: Span, message: impl std::fmt::Display) -> SchemaError {
        SchemaError {
            error: syn::Error::new(span, message),
            in_type: self.current.clone(),
        }
    }

    fn build(&mut self, ty: &TypeRef) -> Result<Schema, SchemaError> {
        let schema = match &ty.kind {
            TypeKind::Unit => Schema::UNIT,
            TypeKind::Primitive(p) => Schema::Primitive(primitive_kind(*p)),
            TypeKind::String { .. } | TypeKind::Str => Schema::Primitive(PrimitiveKind::String),
            TypeKind::Bytes(_) => Schema::Bytes,
            // `Vec<T>` with `T = u8` after substitution is bytes, as it is for facet.
            TypeKind::Vec { elem, .. } => match elem.kind {
                TypeKind::Primitive(Primitive::U8) => Schema::Bytes,
                _ => Schema::List(Box::new(self.build(elem)?)),
            },
            TypeKind::Option { inner, .. } => Schema::Option(Box::new(self.build(inner)?)),
            TypeKind::Box { inner, .. } => self.build(inner)?,
            TypeKind::Tuple(elems) => Schema::tuple(
                elems
                    .iter()
                    .map(|e| self.build(e))
                    .collect::<Result<_, _>>()?,
            ),
            TypeKind::Array { elem, len } => Schema::Array(Box::new(self.build(elem)?), *len),
            TypeKind::Map { key, value, .. } => {
                Schema::Map(Box::new(self.build(key)?), Box::new(self.build(value)?))
            }
            TypeKind::Tx { item, .. } => Schema::Channel {
                direction: ChannelDirection::Tx,
                item: Box::new(self.build(item)?),
            },
            TypeKind::Rx { item, .. } => Schema::Channel {
                direction: ChannelDirection::Rx,
                item: Box::new(self.build(item)?),
            },
            TypeKind::Named { path, generics } => self.named(ty, path, generics)?,
        };
        Ok(schema)
    }

    fn named(
        &mut self,
        ty: &TypeRef,
        path: &RustPath,
        generics: &[TypeRef],
    ) -> Result<Schema, SchemaError> {
        let name = path.last().trim_start_matches("r#");
        let defined = self.table.defs.get(name).map(Vec::as_slice);
        // A user type wins over a standard name only when written as a bare identifier.
        let user_first = path.segments.len() == 1 && !path.leading_colon && defined.is_some();
        if !user_first && let Some(std) = std_named(path) {
            return match std {
                StdNamed::Result => match generics {
                    [ok, err] => Ok(Schema::result(self.build(ok)?, self.build(err)?)),
                    _ => Err(self.error(
                        ty.span,
                        format!("`{ty}`: `Result` takes two type arguments: `Result<T, E>`"),
                    )),
                },
                StdNamed::Pointer => match generics {
                    [inner] => self.build(inner),
                    _ => Err(self.error(
                        ty.span,
                        format!("`{ty}`: `{name}` takes one type argument: `{name}<T>`"),
                    )),
                },
                StdNamed::Refused(why) => Err(self.error(ty.span, format!("`{ty}`: {why}"))),
            };
        }
        let def = match defined {
            Some([def]) => *def,
            Some(defs) if defs.len() > 1 => {
                return Err(self.error(
                    ty.span,
                    format!(
                        "type `{name}` is defined {} times in the given files; roam names types by their bare name, so each name must be defined once",
                        defs.len()
                    ),
                ));
            }
            _ => {
                return Err(self.error(
                    ty.span,
                    format!(
                        "unknown type `{ty}`: no `#[derive(Facet)]` struct or enum named `{name}` is defined in the given files; pass the file that defines it too (or its crate directory)"
                    ),
                ));
            }
        };
        if def.generics.len() != generics.len() {
            return Err(self.error(
                ty.span,
                format!(
                    "`{ty}` has {} type argument{}, but `{name}` is declared with {}",
                    generics.len(),
                    if generics.len() == 1 { "" } else { "s" },
                    def.generics.len()
                ),
            ));
        }
        // The name spells the argument schemas, built in the current context (so an argument
        // that mentions an enclosing type is a `Ref`), like `roam_codec` does.
        let arg_schemas = generics
            .iter()
            .map(|g| self.build(g))
            .collect::<Result<Vec<_>, _>>()?;
        let args: Vec<GenericArg<'_>> = arg_schemas.iter().map(GenericArg::Type).collect();
        let canonical = generic_name(def.schema_name(), &args);
        if self.stack.contains(&canonical) {
            return Ok(Schema::Ref(canonical));
        }
        let params: HashMap<&str, &TypeRef> = def
            .generics
            .iter()
            .map(String::as_str)
            .zip(generics)
            .collect();
        self.stack.push(canonical);
        let outer = self.current.replace(def.name.clone());
        let body = self.body(def, &params);
        self.current = outer;
        let name = self.stack.pop().unwrap_or_default();
        Ok(match body? {
            Body::Struct(kind, fields) => Schema::Struct { name, kind, fields },
            Body::Enum(variants) => Schema::Enum { name, variants },
        })
    }

    fn body(
        &mut self,
        def: &TypeDef,
        params: &HashMap<&str, &TypeRef>,
    ) -> Result<Body, SchemaError> {
        Ok(match &def.kind {
            TypeDefKind::Struct(fields) => {
                let (kind, fields) = self.fields(fields, params)?;
                Body::Struct(kind, fields)
            }
            TypeDefKind::Enum(variants) => Body::Enum(
                variants
                    .iter()
                    .map(|v| {
                        let (kind, fields) = self.fields(&v.fields, params)?;
                        Ok(Variant {
                            name: v.schema_name().to_owned(),
                            kind,
                            fields,
                        })
                    })
                    .collect::<Result<_, SchemaError>>()?,
            ),
        })
    }

    fn fields(
        &mut self,
        fields: &Fields,
        params: &HashMap<&str, &TypeRef>,
    ) -> Result<(StructKind, Vec<Field>), SchemaError> {
        let (kind, list) = match fields {
            Fields::Named(list) => (StructKind::Named, list.as_slice()),
            Fields::Tuple(list) => (StructKind::Tuple, list.as_slice()),
            Fields::Unit => (StructKind::Unit, &[][..]),
        };
        let mut out = Vec::with_capacity(list.len());
        for field in list {
            let schema = self.build(&substitute(&field.ty, params))?;
            let name = field.schema_name();
            out.push(if field.default.is_some() {
                Field::defaulted(name, schema)
            } else {
                Field::new(name, schema)
            });
        }
        Ok((kind, out))
    }
}

enum Body {
    Struct(StructKind, Vec<Field>),
    Enum(Vec<Variant>),
}
