//! The language-neutral model every tool reads: services, methods, IDs, docs and the user
//! types they use, resolved across all the files given.
//!
//! Owns: resolving names across files (a type used by a method but defined in none of the
//! files is an error naming it and where it is used; so is a name defined twice), each method's
//! [`MethodSchemas`] (with generic arguments substituted, the schemas peers exchange), and the
//! declarations emitters print: every user type reachable from a method, once, with its type
//! parameters kept (so generated TypeScript and Swift can declare `Page<T>` rather than a name
//! per instantiation), its docs, its fields' defaults and the names its schema carries
//! (`#[facet(rename)]`, `rename_all`); `#[facet(skip)]` fields are not declared, being on no
//! wire.
//!
//! Must not: read files or print (the CLI does), or decide what the parser accepts
//! ([`crate::validate`]). Types are described with [`Ty`], a small structural language in
//! which `Box`/`Arc`/`Rc` have disappeared, `Vec<u8>` is [`Ty::Bytes`] and `Result` is
//! recognised, exactly as in the schemas; its [`Ty::Named`] carries the arguments of a generic
//! instantiation, and [`Ty::Param`] the type parameters inside a declaration.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::Span;
use roam_core::schema::{ChannelDirection, PrimitiveKind, StructKind};

use crate::ir::{
    FieldDefault, Fields, MethodDef, Primitive, RustPath, ServiceDef, TypeDef, TypeDefKind,
    TypeKind, TypeRef,
};
use crate::schema::{MethodSchemas, TypeTable};

/// What the resolver reads: the parsed files, each item with the index of its file.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The files' names, as diagnostics show them (indexed by the file indices below).
    pub files: &'a [String],
    /// Every service, with its file index.
    pub services: &'a [(usize, ServiceDef)],
    /// Every `#[derive(Facet)]` type, with its file index.
    pub types: &'a [(usize, TypeDef)],
}

/// A problem found while resolving, at a token of a file.
#[derive(Debug, Clone)]
pub struct Located {
    /// Index of the file (as in [`Input`]).
    pub file: usize,
    /// The error, spanned at the offending token.
    pub error: syn::Error,
}

/// The resolved model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Every service, in file order then source order.
    pub services: Vec<Service>,
    /// Every user type a method uses, directly or through other types, each once, in file
    /// order then source order.
    pub types: Vec<TypeDecl>,
}

/// One service.
#[derive(Debug, Clone)]
pub struct Service {
    /// The trait's name.
    pub name: String,
    /// Its doc comment, normalized.
    pub doc: String,
    /// The file it is in.
    pub file: usize,
    /// The parsed trait (for tools that need spans or the Rust spelling of types).
    pub def: ServiceDef,
    /// Its methods, in declaration order.
    pub methods: Vec<Method>,
}

/// One method.
#[derive(Debug, Clone)]
pub struct Method {
    /// The method's name as written.
    pub name: String,
    /// Its doc comment, normalized.
    pub doc: String,
    /// `roam_core::method_id(service, name)`.
    pub id: u64,
    /// Whether the Rust method takes the call context.
    pub takes_context: bool,
    /// Every argument but the context, in order; channel arguments are [`Ty::Channel`].
    pub args: Vec<Arg>,
    /// The success type.
    pub ok: Ty,
    /// The user error type, for a method returning `Result<T, E>`.
    pub err: Option<Ty>,
    /// `#[roam(idempotent)]`: safe to run more than once, so a reconnecting client may re-send
    /// it on a fresh session when the session it was sent on was lost.
    pub idempotent: bool,
    /// The schemas the method's payloads have on the wire.
    pub schemas: MethodSchemas,
}

impl Method {
    /// The arguments that travel in the request payload (all but the channels).
    pub fn wire_args(&self) -> impl Iterator<Item = &Arg> {
        self.args.iter().filter(|a| !a.ty.is_channel())
    }

    /// The channel arguments, in order.
    pub fn channel_args(&self) -> impl Iterator<Item = &Arg> {
        self.args.iter().filter(|a| a.ty.is_channel())
    }
}

/// One argument.
#[derive(Debug, Clone)]
pub struct Arg {
    /// The name as written.
    pub name: String,
    /// Its doc comment, if it has one.
    pub doc: Option<String>,
    /// Its type.
    pub ty: Ty,
}

/// A type, structurally. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ty {
    /// A scalar, `String` or `()`.
    Primitive(PrimitiveKind),
    /// `Vec<u8>` / `&[u8]`.
    Bytes,
    /// `Vec<T>`.
    List(Box<Ty>),
    /// `[T; N]`.
    Array(Box<Ty>, u64),
    /// `HashMap<K, V>` / `BTreeMap<K, V>`.
    Map(Box<Ty>, Box<Ty>),
    /// `Option<T>`.
    Option(Box<Ty>),
    /// `(A, B, ...)`, at least one element.
    Tuple(Vec<Ty>),
    /// `Result<T, E>` used as a value.
    Result(Box<Ty>, Box<Ty>),
    /// A user type, with its generic arguments.
    Named {
        /// The type's (bare) name.
        name: String,
        /// Its type arguments, in order.
        args: Vec<Ty>,
    },
    /// A type parameter of the enclosing declaration.
    Param(String),
    /// `Tx<T>` / `Rx<T>` (arguments only).
    Channel {
        /// `Tx`: the handler sends to the caller; `Rx`: the caller sends to the handler.
        direction: ChannelDirection,
        /// The item type.
        item: Box<Ty>,
    },
}

impl Ty {
    /// `()`.
    pub const UNIT: Ty = Ty::Primitive(PrimitiveKind::Unit);

    /// Whether this is a channel.
    pub fn is_channel(&self) -> bool {
        matches!(self, Ty::Channel { .. })
    }

    /// Whether this is `()`.
    pub fn is_unit(&self) -> bool {
        *self == Ty::UNIT
    }

    /// The direct children (elements, arguments, items).
    pub fn children(&self) -> Vec<&Ty> {
        match self {
            Ty::Primitive(_) | Ty::Bytes | Ty::Param(_) => Vec::new(),
            Ty::List(t) | Ty::Array(t, _) | Ty::Option(t) => vec![t],
            Ty::Map(k, v) | Ty::Result(k, v) => vec![k, v],
            Ty::Tuple(items) | Ty::Named { args: items, .. } => items.iter().collect(),
            Ty::Channel { item, .. } => vec![item],
        }
    }

    /// Replaces type parameters by `args` (missing ones stay parameters).
    pub fn substitute(&self, args: &BTreeMap<String, Ty>) -> Ty {
        let sub = |t: &Ty| Box::new(t.substitute(args));
        match self {
            Ty::Param(p) => args.get(p).cloned().unwrap_or_else(|| self.clone()),
            Ty::Primitive(_) | Ty::Bytes => self.clone(),
            Ty::List(t) => Ty::List(sub(t)),
            Ty::Array(t, n) => Ty::Array(sub(t), *n),
            Ty::Map(k, v) => Ty::Map(sub(k), sub(v)),
            Ty::Option(t) => Ty::Option(sub(t)),
            Ty::Result(o, e) => Ty::Result(sub(o), sub(e)),
            Ty::Tuple(items) => Ty::Tuple(items.iter().map(|t| t.substitute(args)).collect()),
            Ty::Named { name, args: a } => Ty::Named {
                name: name.clone(),
                args: a.iter().map(|t| t.substitute(args)).collect(),
            },
            Ty::Channel { direction, item } => Ty::Channel {
                direction: *direction,
                item: sub(item),
            },
        }
    }
}

/// A user type's declaration.
#[derive(Debug, Clone)]
pub struct TypeDecl {
    /// The bare (Rust) name.
    pub name: String,
    /// The name its schema carries: `#[facet(rename = "...")]`, else `name`.
    pub schema_name: String,
    /// Its doc comment, normalized.
    pub doc: String,
    /// The file it is in.
    pub file: usize,
    /// Span of the name, for diagnostics.
    pub span: Span,
    /// Type parameter names, in order.
    pub params: Vec<String>,
    /// The body.
    pub body: DeclBody,
}

/// A struct's fields or an enum's variants.
#[derive(Debug, Clone)]
pub enum DeclBody {
    /// A struct.
    Struct {
        /// Named, tuple or unit.
        kind: StructKind,
        /// Its fields.
        fields: Vec<FieldDecl>,
    },
    /// An enum; a variant's index is its position.
    Enum(Vec<VariantDecl>),
}

/// One field that is on the wire (`#[facet(skip)]` fields are not declared).
#[derive(Debug, Clone)]
pub struct FieldDecl {
    /// The Rust name (`"0"`, `"1"`, ... for positional fields: their place among all the
    /// declared fields, skipped ones included).
    pub name: String,
    /// The name its schema carries: its `#[facet(rename)]` or `rename_all` name, else `name`.
    pub schema_name: String,
    /// Its doc comment, normalized.
    pub doc: String,
    /// Its type (may mention the declaration's parameters).
    pub ty: Ty,
    /// Its default, if it has one.
    pub default: Option<FieldDefault>,
}

/// One enum variant.
#[derive(Debug, Clone)]
pub struct VariantDecl {
    /// The Rust name.
    pub name: String,
    /// The name its schema carries: its `#[facet(rename)]` or `rename_all` name, else `name`.
    pub schema_name: String,
    /// Its doc comment, normalized.
    pub doc: String,
    /// Named, tuple or unit.
    pub kind: StructKind,
    /// Its fields.
    pub fields: Vec<FieldDecl>,
}

impl Model {
    /// The declaration named `name`.
    pub fn decl(&self, name: &str) -> Option<&TypeDecl> {
        self.types.iter().find(|d| d.name == name)
    }
}

/// Resolves `input`. Reports every problem found, each once.
pub fn resolve(input: Input<'_>) -> Result<Model, Vec<Located>> {
    let table = TypeTable::new(input.types.iter().map(|(_, def)| def));
    let file_of_type = |name: &str| {
        input
            .types
            .iter()
            .find(|(_, def)| def.name == name)
            .map(|(file, _)| *file)
    };
    let mut errors: Vec<Located> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut push = |file: usize, error: syn::Error| {
        for e in error {
            let start = e.span().start();
            if seen.insert((file, start.line, start.column, e.to_string())) {
                errors.push(Located { file, error: e });
            }
        }
    };
    let mut names: Vec<(&str, usize)> = Vec::new();
    let mut services = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for (file, def) in input.services {
        if let Some((_, first)) = names.iter().find(|(n, _)| *n == def.name) {
            push(
                *file,
                syn::Error::new(
                    def.name_span,
                    format!(
                        "service `{}` is also defined in `{}`; method IDs come from the service and method names, so each service must be defined once",
                        def.name,
                        input
                            .files
                            .get(*first)
                            .map(String::as_str)
                            .unwrap_or("another file")
                    ),
                ),
            );
        } else {
            names.push((&def.name, *file));
        }
        let mut methods = Vec::new();
        for method in &def.methods {
            match table.method_schemas(method) {
                Ok(schemas) => methods.push(lower_method(method, schemas, &table, &mut used)),
                Err(error) => {
                    let in_file = error
                        .in_type
                        .as_deref()
                        .and_then(file_of_type)
                        .unwrap_or(*file);
                    push(in_file, error.error);
                }
            }
        }
        services.push(Service {
            name: def.name.clone(),
            doc: def.doc.clone(),
            file: *file,
            def: def.clone(),
            methods,
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Every type reachable from a method, following declarations' fields. The schemas above
    // resolved each of them already, so every name found here is defined exactly once.
    let mut work: Vec<String> = used.iter().cloned().collect();
    while let Some(name) = work.pop() {
        let Some(def) = table.get(&name) else {
            continue;
        };
        let params: BTreeSet<&str> = def.generics.iter().map(String::as_str).collect();
        for field in all_fields(def) {
            let mut found = BTreeSet::new();
            named_in(&lower(&field.ty, &params, &table), &mut found);
            for n in found {
                if used.insert(n.clone()) {
                    work.push(n);
                }
            }
        }
    }
    let types = input
        .types
        .iter()
        .filter(|(_, def)| used.contains(&def.name))
        .map(|(file, def)| declare(*file, def, &table))
        .collect();
    Ok(Model { services, types })
}

fn all_fields(def: &TypeDef) -> Vec<&crate::ir::FieldDef> {
    fn of(f: &Fields) -> &[crate::ir::FieldDef] {
        match f {
            Fields::Named(list) | Fields::Tuple(list) => list,
            Fields::Unit => &[],
        }
    }
    match &def.kind {
        TypeDefKind::Struct(fields) => of(fields).iter().collect(),
        TypeDefKind::Enum(variants) => variants.iter().flat_map(|v| of(&v.fields)).collect(),
    }
}

fn named_in(ty: &Ty, out: &mut BTreeSet<String>) {
    if let Ty::Named { name, .. } = ty {
        out.insert(name.clone());
    }
    for child in ty.children() {
        named_in(child, out);
    }
}

fn lower_method(
    method: &MethodDef,
    schemas: MethodSchemas,
    table: &TypeTable<'_>,
    used: &mut BTreeSet<String>,
) -> Method {
    let none = BTreeSet::new();
    let args: Vec<Arg> = method
        .args
        .iter()
        .map(|a| Arg {
            name: a.name.clone(),
            doc: a.doc.clone(),
            ty: lower(&a.ty, &none, table),
        })
        .collect();
    let ok = lower(&method.ret, &none, table);
    let err = method.error.as_ref().map(|e| lower(e, &none, table));
    for ty in args.iter().map(|a| &a.ty).chain([&ok]).chain(err.as_ref()) {
        named_in(ty, used);
    }
    Method {
        name: method.name.clone(),
        doc: method.doc.clone(),
        id: method.id,
        takes_context: method.context_param,
        args,
        ok,
        err,
        idempotent: method.idempotent,
        schemas,
    }
}

fn declare(file: usize, def: &TypeDef, table: &TypeTable<'_>) -> TypeDecl {
    let params: BTreeSet<&str> = def.generics.iter().map(String::as_str).collect();
    let fields = |f: &Fields| -> (StructKind, Vec<FieldDecl>) {
        let (kind, list) = match f {
            Fields::Named(list) => (StructKind::Named, list.as_slice()),
            Fields::Tuple(list) => (StructKind::Tuple, list.as_slice()),
            Fields::Unit => (StructKind::Unit, &[][..]),
        };
        let decls = list
            .iter()
            .map(|field| FieldDecl {
                name: field
                    .name
                    .clone()
                    .unwrap_or_else(|| field.position.to_string()),
                schema_name: field.schema_name(),
                doc: field.doc.clone(),
                ty: lower(&field.ty, &params, table),
                default: field.default.clone(),
            })
            .collect();
        (kind, decls)
    };
    let body = match &def.kind {
        TypeDefKind::Struct(f) => {
            let (kind, fields) = fields(f);
            DeclBody::Struct { kind, fields }
        }
        TypeDefKind::Enum(variants) => DeclBody::Enum(
            variants
                .iter()
                .map(|v| {
                    let (kind, fields) = fields(&v.fields);
                    VariantDecl {
                        name: v.name.clone(),
                        schema_name: v.schema_name().to_owned(),
                        doc: v.doc.clone(),
                        kind,
                        fields,
                    }
                })
                .collect(),
        ),
    };
    TypeDecl {
        name: def.name.clone(),
        schema_name: def.schema_name().to_owned(),
        doc: def.doc.clone(),
        file,
        span: def.name_span,
        params: def.generics.clone(),
        body,
    }
}

fn primitive(p: Primitive) -> PrimitiveKind {
    crate::schema::primitive_kind(p)
}

/// Whether `path` names the standard `name` (bare, or under one of `prefixes`).
fn is_std(path: &RustPath, name: &str, prefixes: &[&[&str]]) -> bool {
    crate::schema::std_path(path, name, prefixes)
}

/// Lowers a type that schema computation accepted (so every name in it resolves).
fn lower(ty: &TypeRef, params: &BTreeSet<&str>, table: &TypeTable<'_>) -> Ty {
    let go = |t: &TypeRef| Box::new(lower(t, params, table));
    match &ty.kind {
        TypeKind::Unit => Ty::UNIT,
        TypeKind::Primitive(p) => Ty::Primitive(primitive(*p)),
        TypeKind::String { .. } | TypeKind::Str => Ty::Primitive(PrimitiveKind::String),
        TypeKind::Bytes(_) => Ty::Bytes,
        TypeKind::Vec { elem, .. } => match elem.kind {
            TypeKind::Primitive(Primitive::U8) => Ty::Bytes,
            _ => Ty::List(go(elem)),
        },
        TypeKind::Option { inner, .. } => Ty::Option(go(inner)),
        TypeKind::Box { inner, .. } => lower(inner, params, table),
        TypeKind::Tuple(items) => {
            Ty::Tuple(items.iter().map(|t| lower(t, params, table)).collect())
        }
        TypeKind::Array { elem, len } => Ty::Array(go(elem), *len),
        TypeKind::Map { key, value, .. } => Ty::Map(go(key), go(value)),
        TypeKind::Tx { item, .. } => Ty::Channel {
            direction: ChannelDirection::Tx,
            item: go(item),
        },
        TypeKind::Rx { item, .. } => Ty::Channel {
            direction: ChannelDirection::Rx,
            item: go(item),
        },
        TypeKind::Named { path, generics } => {
            let bare = path.last().trim_start_matches("r#");
            if generics.is_empty() && path.segments.len() == 1 && params.contains(bare) {
                return Ty::Param(bare.to_owned());
            }
            // A user type wins over a standard name only when written bare, as in the schemas.
            let user_first =
                path.segments.len() == 1 && !path.leading_colon && table.get(bare).is_some();
            if !user_first {
                if is_std(path, "Result", &[&["std", "result"], &["core", "result"]])
                    && let [ok, err] = generics.as_slice()
                {
                    return Ty::Result(go(ok), go(err));
                }
                if (is_std(path, "Arc", &[&["std", "sync"], &["alloc", "sync"]])
                    || is_std(path, "Rc", &[&["std", "rc"], &["alloc", "rc"]]))
                    && let [inner] = generics.as_slice()
                {
                    return lower(inner, params, table);
                }
            }
            Ty::Named {
                name: bare.to_owned(),
                args: generics.iter().map(|g| lower(g, params, table)).collect(),
            }
        }
    }
}
