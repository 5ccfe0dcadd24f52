//! The plain model of a service and of the types it uses.
//!
//! Owns: the data every emitter reads ([`ServiceDef`], [`MethodDef`], [`TypeRef`], [`TypeDef`]).
//! Must not: depend on `syn`. The only compiler-facing data kept here are `proc_macro2::Span`
//! fields, for diagnostics and so the Rust emitter can point errors at the user's tokens; the
//! TypeScript and Swift emitters ignore them.
//!
//! The model is built by [`crate::parse`] and is only meaningful once [`crate::validate`] has
//! accepted it (for example, the model can hold a `Tx<T>` nested in a `Vec`, which validation
//! refuses).
//!
//! Types are kept "as written": a [`RustPath`] remembers `std::vec::Vec` versus `Vec`, so the
//! Rust emitter reproduces the user's spelling and `Display` gives the deterministic text used
//! in descriptors (`"Vec<u8>"`, `"HashMap<String, i32>"`, `"&str"`, `"[u8; 4]"`).

use std::fmt;

use proc_macro2::Span;

/// A `#[roam::service]` trait.
#[derive(Debug, Clone)]
pub struct ServiceDef {
    /// The trait's name as written, e.g. `"Calculator"`.
    pub name: String,
    /// Span of the trait's name.
    pub name_span: Span,
    /// The trait's visibility; generated items get the same.
    pub vis: Visibility,
    /// The trait's doc comment, normalized (see [`Docs`]).
    pub doc: String,
    /// Supertraits as written (`Send + Sync`), in order.
    pub supertraits: Vec<SuperTrait>,
    /// The methods in declaration order.
    pub methods: Vec<MethodDef>,
}

/// Visibility of a trait or type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// No visibility keyword (or `pub(self)`).
    Private,
    /// `pub`.
    Public,
    /// `pub(crate)`.
    Crate,
    /// `pub(super)`.
    Super,
    /// `pub(in path)`.
    In(RustPath),
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Visibility::Private => Ok(()),
            Visibility::Public => f.write_str("pub"),
            Visibility::Crate => f.write_str("pub(crate)"),
            Visibility::Super => f.write_str("pub(super)"),
            Visibility::In(path) => write!(f, "pub(in {path})"),
        }
    }
}

/// One supertrait bound of a service trait.
#[derive(Debug, Clone)]
pub struct SuperTrait {
    /// What the bound is.
    pub kind: SuperTraitKind,
    /// Span of the bound.
    pub span: Span,
}

/// The shape of a supertrait bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuperTraitKind {
    /// A trait path without generic arguments, e.g. `Send` or `core::marker::Sync`.
    Trait(RustPath),
    /// A lifetime bound, e.g. `'static` (stored without the apostrophe: `"static"`).
    Lifetime(String),
}

impl fmt::Display for SuperTrait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SuperTraitKind::Trait(path) => write!(f, "{path}"),
            SuperTraitKind::Lifetime(name) => write!(f, "'{name}"),
        }
    }
}

/// One method of a service.
#[derive(Debug, Clone)]
pub struct MethodDef {
    /// The method's name as written, without any `r#` prefix, e.g. `"add"`.
    pub name: String,
    /// Span of the method's name.
    pub name_span: Span,
    /// The method's doc comment, normalized.
    pub doc: String,
    /// `roam_core::method_id(service, name)`.
    pub id: u64,
    /// Whether the first parameter after `&self` is the call context (`cx: &roam::Context`);
    /// see [`MethodDef::context`] for how it was written.
    pub context_param: bool,
    /// The call context parameter as written, present exactly when `context_param` is true.
    pub context: Option<ContextParam>,
    /// The wire arguments in order (the context parameter is not one).
    pub args: Vec<ArgDef>,
    /// The success type: the `T` of `Result<T, E>`, the written return type otherwise, and
    /// [`TypeKind::Unit`] when there is no return type.
    pub ret: TypeRef,
    /// The user error type `E` when the method returns `Result<T, E>`.
    pub error: Option<TypeRef>,
    /// `#[roam(idempotent)]`: the method is safe to run more than once, so a reconnecting
    /// client may re-send it on a fresh session when the session it was sent on was lost.
    pub idempotent: bool,
}

impl MethodDef {
    /// The sentence generated docs add to an idempotent method's doc comment (every emitter
    /// says the same).
    pub const IDEMPOTENT_DOC: &'static str =
        "Idempotent: safe to run more than once, so it may be re-sent after a reconnect.";

    /// The method's doc comment followed, for an idempotent method, by
    /// [`MethodDef::IDEMPOTENT_DOC`] as a paragraph of its own: what generated docs show.
    pub fn doc_with_notes(&self) -> String {
        with_idempotent_note(&self.doc, self.idempotent)
    }
}

/// `doc`, followed by [`MethodDef::IDEMPOTENT_DOC`] as a paragraph of its own when `idempotent`.
pub fn with_idempotent_note(doc: &str, idempotent: bool) -> String {
    match (idempotent, doc.is_empty()) {
        (false, _) => doc.to_owned(),
        (true, true) => MethodDef::IDEMPOTENT_DOC.to_owned(),
        (true, false) => format!("{doc}\n\n{}", MethodDef::IDEMPOTENT_DOC),
    }
}

/// The call context parameter of a method (`cx: &roam::Context`).
#[derive(Debug, Clone)]
pub struct ContextParam {
    /// The parameter's name, e.g. `"cx"`.
    pub name: String,
    /// The path after `&`, as written: `roam::Context`, `Context`, ...
    pub path: RustPath,
    /// Span of the parameter.
    pub span: Span,
}

/// One wire argument of a method.
#[derive(Debug, Clone)]
pub struct ArgDef {
    /// The argument's name as written, without any `r#` prefix.
    pub name: String,
    /// Span of the argument's name.
    pub name_span: Span,
    /// The argument's type.
    pub ty: TypeRef,
    /// The argument's doc comment (`/// ...` on the parameter), normalized; `None` if absent.
    pub doc: Option<String>,
}

/// A type used by a service or by a user type.
#[derive(Debug, Clone)]
pub struct TypeRef {
    /// What the type is.
    pub kind: TypeKind,
    /// Span of the type's first token (for diagnostics).
    pub span: Span,
}

/// The structure of a [`TypeRef`].
#[derive(Debug, Clone)]
pub enum TypeKind {
    /// `()`, or no return type.
    Unit,
    /// `bool`, `u8`..`u128`, `i8`..`i128`, `f32`, `f64`, `char`.
    Primitive(Primitive),
    /// `String`.
    String {
        /// As written (`String`, `std::string::String`).
        path: RustPath,
    },
    /// `&str`; only as a whole argument type.
    Str,
    /// `&[u8]` (only as a whole argument type) or `Vec<u8>`.
    Bytes(BytesRepr),
    /// `Vec<T>` (other than `Vec<u8>`).
    Vec {
        /// As written.
        path: RustPath,
        /// `T`.
        elem: Box<TypeRef>,
    },
    /// `Option<T>`.
    Option {
        /// As written.
        path: RustPath,
        /// `T`.
        inner: Box<TypeRef>,
    },
    /// `(A, B, ...)` with at least one element (`(A,)` included).
    Tuple(Vec<TypeRef>),
    /// `[T; N]`.
    Array {
        /// `T`.
        elem: Box<TypeRef>,
        /// `N`.
        len: u64,
    },
    /// `HashMap<K, V>` or `BTreeMap<K, V>`.
    Map {
        /// Which map.
        kind: MapKind,
        /// As written.
        path: RustPath,
        /// `K`.
        key: Box<TypeRef>,
        /// `V`.
        value: Box<TypeRef>,
    },
    /// `Box<T>`.
    Box {
        /// As written.
        path: RustPath,
        /// `T`.
        inner: Box<TypeRef>,
    },
    /// Any other path: a user type deriving `Facet`, possibly instantiated (`Page<Item>`).
    /// Inside a generic [`TypeDef`], its type parameters also appear here (`T`).
    Named {
        /// As written.
        path: RustPath,
        /// Type arguments, in order (empty for `Item`).
        generics: Vec<TypeRef>,
    },
    /// `Tx<T>`: a stream of `T` the handler sends to the caller.
    Tx {
        /// As written (`Tx`, `roam::Tx`).
        path: RustPath,
        /// `T`.
        item: Box<TypeRef>,
    },
    /// `Rx<T>`: a stream of `T` the handler receives from the caller.
    Rx {
        /// As written (`Rx`, `roam::Rx`).
        path: RustPath,
        /// `T`.
        item: Box<TypeRef>,
    },
}

/// The fixed-size primitive types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Primitive {
    Bool,
    U8,
    U16,
    U32,
    U64,
    U128,
    I8,
    I16,
    I32,
    I64,
    I128,
    F32,
    F64,
    Char,
}

impl Primitive {
    /// Every primitive, in a fixed order.
    pub const ALL: [Primitive; 14] = [
        Primitive::Bool,
        Primitive::U8,
        Primitive::U16,
        Primitive::U32,
        Primitive::U64,
        Primitive::U128,
        Primitive::I8,
        Primitive::I16,
        Primitive::I32,
        Primitive::I64,
        Primitive::I128,
        Primitive::F32,
        Primitive::F64,
        Primitive::Char,
    ];

    /// The Rust spelling, e.g. `"u32"`.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Bool => "bool",
            Primitive::U8 => "u8",
            Primitive::U16 => "u16",
            Primitive::U32 => "u32",
            Primitive::U64 => "u64",
            Primitive::U128 => "u128",
            Primitive::I8 => "i8",
            Primitive::I16 => "i16",
            Primitive::I32 => "i32",
            Primitive::I64 => "i64",
            Primitive::I128 => "i128",
            Primitive::F32 => "f32",
            Primitive::F64 => "f64",
            Primitive::Char => "char",
        }
    }

    /// The primitive spelled `name`, if any.
    pub fn from_name(name: &str) -> Option<Primitive> {
        Primitive::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// How a byte string is written.
#[derive(Debug, Clone)]
pub enum BytesRepr {
    /// `&[u8]` (arguments only).
    Slice,
    /// `Vec<u8>`, with the path as written.
    Vec(RustPath),
}

/// Which map type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// `std::collections::HashMap` (unordered).
    HashMap,
    /// `std::collections::BTreeMap` (ordered by key).
    BTreeMap,
}

/// A path as written, without generic arguments: `Vec`, `std::vec::Vec`, `::roam::Tx`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RustPath {
    /// Whether it starts with `::`.
    pub leading_colon: bool,
    /// The segments as written (raw identifiers keep their `r#`).
    pub segments: Vec<String>,
}

impl RustPath {
    /// A relative path made of `segments`.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(segments: I) -> Self {
        RustPath {
            leading_colon: false,
            segments: segments.into_iter().map(Into::into).collect(),
        }
    }

    /// The last segment (the type's own name).
    pub fn last(&self) -> &str {
        self.segments.last().map(String::as_str).unwrap_or("")
    }

    /// Whether the path is the single segment `name` (no leading `::`).
    pub fn is_ident(&self, name: &str) -> bool {
        !self.leading_colon && self.segments.len() == 1 && self.segments[0] == name
    }
}

impl fmt::Display for RustPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.leading_colon {
            f.write_str("::")?;
        }
        f.write_str(&self.segments.join("::"))
    }
}

impl TypeRef {
    /// A type with a call-site span (for tests and tools).
    pub fn new(kind: TypeKind) -> Self {
        TypeRef {
            kind,
            span: Span::call_site(),
        }
    }

    /// The direct children of this type (element, key and value types, generic arguments).
    pub fn children(&self) -> Vec<&TypeRef> {
        match &self.kind {
            TypeKind::Unit
            | TypeKind::Primitive(_)
            | TypeKind::String { .. }
            | TypeKind::Str
            | TypeKind::Bytes(_) => Vec::new(),
            TypeKind::Vec { elem, .. } | TypeKind::Array { elem, .. } => vec![elem],
            TypeKind::Option { inner, .. } | TypeKind::Box { inner, .. } => vec![inner],
            TypeKind::Tuple(elems) => elems.iter().collect(),
            TypeKind::Map { key, value, .. } => vec![key, value],
            TypeKind::Named { generics, .. } => generics.iter().collect(),
            TypeKind::Tx { item, .. } | TypeKind::Rx { item, .. } => vec![item],
        }
    }

    /// Calls `f` on this type and every type nested in it, outermost first; `depth` is 0 for
    /// `self`.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a TypeRef, usize)) {
        fn go<'a>(ty: &'a TypeRef, depth: usize, f: &mut dyn FnMut(&'a TypeRef, usize)) {
            f(ty, depth);
            for child in ty.children() {
                go(child, depth + 1, f);
            }
        }
        go(self, 0, f);
    }

    /// Whether this is `Tx<T>` or `Rx<T>`.
    pub fn is_channel(&self) -> bool {
        matches!(self.kind, TypeKind::Tx { .. } | TypeKind::Rx { .. })
    }
}

/// Renders the type as written, deterministically: no spaces inside paths, `", "` between
/// arguments, `"[T; N]"` for arrays.
impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn generic(f: &mut fmt::Formatter<'_>, path: &RustPath, args: &[&TypeRef]) -> fmt::Result {
            write!(f, "{path}")?;
            if args.is_empty() {
                return Ok(());
            }
            f.write_str("<")?;
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{arg}")?;
            }
            f.write_str(">")
        }
        match &self.kind {
            TypeKind::Unit => f.write_str("()"),
            TypeKind::Primitive(p) => f.write_str(p.name()),
            TypeKind::String { path } => write!(f, "{path}"),
            TypeKind::Str => f.write_str("&str"),
            TypeKind::Bytes(BytesRepr::Slice) => f.write_str("&[u8]"),
            TypeKind::Bytes(BytesRepr::Vec(path)) => write!(f, "{path}<u8>"),
            TypeKind::Vec { path, elem } => generic(f, path, &[elem]),
            TypeKind::Option { path, inner } | TypeKind::Box { path, inner } => {
                generic(f, path, &[inner])
            }
            TypeKind::Tuple(elems) => {
                f.write_str("(")?;
                for (i, elem) in elems.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{elem}")?;
                }
                if elems.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            TypeKind::Array { elem, len } => write!(f, "[{elem}; {len}]"),
            TypeKind::Map {
                path, key, value, ..
            } => generic(f, path, &[key, value]),
            TypeKind::Named { path, generics } => {
                generic(f, path, &generics.iter().collect::<Vec<_>>())
            }
            TypeKind::Tx { path, item } | TypeKind::Rx { path, item } => generic(f, path, &[item]),
        }
    }
}

/// A user type that derives `Facet`, as found by [`crate::parse::parse_file`].
///
/// Names follow facet 0.46: `#[facet(rename = "...")]` on the type, a variant or a field, and
/// `#[facet(rename_all = "...")]` on the type (for its fields or variants) or on a variant
/// (for its fields), change the name the schema carries (see [`crate::case`]); the Rust names
/// stay in `name`. Fields marked `#[facet(skip)]` are not on the wire and are not in the model.
#[derive(Debug, Clone)]
pub struct TypeDef {
    /// The type's Rust name (what other types use it by).
    pub name: String,
    /// `#[facet(rename = "...")]`: the name its schema carries instead of `name`.
    pub rename: Option<String>,
    /// Span of the type's name.
    pub name_span: Span,
    /// The type's visibility.
    pub vis: Visibility,
    /// The type's doc comment, normalized.
    pub doc: String,
    /// Names of the type parameters, in order (`["T"]` for `Page<T>`). Fields refer to them as
    /// [`TypeKind::Named`] single-segment paths.
    pub generics: Vec<String>,
    /// Struct or enum.
    pub kind: TypeDefKind,
}

impl TypeDef {
    /// The name the type's schema carries (before generic arguments).
    pub fn schema_name(&self) -> &str {
        self.rename.as_deref().unwrap_or(&self.name)
    }
}

/// The body of a [`TypeDef`].
#[derive(Debug, Clone)]
pub enum TypeDefKind {
    /// A struct.
    Struct(Fields),
    /// An enum, with its variants in order.
    Enum(Vec<VariantDef>),
}

/// The fields of a struct or enum variant that are on the wire (`#[facet(skip)]` fields are
/// left out; [`FieldDef::position`] keeps each field's place among all of them).
#[derive(Debug, Clone)]
pub enum Fields {
    /// `{ a: A, b: B }`.
    Named(Vec<FieldDef>),
    /// `(A, B)`.
    Tuple(Vec<FieldDef>),
    /// No fields.
    Unit,
}

/// One field of a struct or variant.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// The field's name; `None` in tuple structs and tuple variants.
    pub name: Option<String>,
    /// The field's place among all the fields as declared, skipped ones included: tuple fields
    /// are named by it (`"0"`, `"1"`, ...), as facet names them.
    pub position: usize,
    /// The name the schema carries when it is not the Rust name (or the position): an explicit
    /// `#[facet(rename = "...")]`, or the enclosing `rename_all` rule applied.
    pub rename: Option<String>,
    /// Span of the field's name (of its type in a tuple), for diagnostics.
    pub name_span: Span,
    /// The field's type.
    pub ty: TypeRef,
    /// The field's doc comment, normalized.
    pub doc: String,
    /// The field's `#[facet(default)]` or `#[facet(default = ...)]`, if any: a reader fills it
    /// in when a writer's type lacks it (whether there is one is recorded in the field's
    /// schema; the value is the reader's business, so emitters need it).
    pub default: Option<FieldDefault>,
}

impl FieldDef {
    /// The name the field's schema carries: its rename, its Rust name, or its position.
    pub fn schema_name(&self) -> String {
        match (&self.rename, &self.name) {
            (Some(rename), _) => rename.clone(),
            (None, Some(name)) => name.clone(),
            (None, None) => self.position.to_string(),
        }
    }
}

/// A field's default value, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldDefault {
    /// `#[facet(default)]`: the field type's `Default::default()`.
    Implicit,
    /// `#[facet(default = <literal>)]`, e.g. `8`, `-1.5`, `"none"`, `true`.
    Literal(Literal),
    /// `#[facet(default = <expr>)]` with an expression that is not a literal, as written. Only
    /// Rust can evaluate it; other languages' emitters must say they cannot.
    Expr(String),
}

/// A literal default value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `true` / `false`.
    Bool(bool),
    /// An integer, in decimal, with its sign (`"-1"`, `"8"`); any suffix removed.
    Int(String),
    /// A float as written without suffix (`"1.5"`, `"-0.25"`, `"1e3"`).
    Float(String),
    /// A string.
    Str(String),
    /// A `char`.
    Char(char),
}

/// One variant of an enum.
#[derive(Debug, Clone)]
pub struct VariantDef {
    /// The variant's Rust name.
    pub name: String,
    /// The name the schema carries when it is not `name`: `#[facet(rename = "...")]`, or the
    /// enum's `rename_all` rule applied.
    pub rename: Option<String>,
    /// Span of the variant's name.
    pub name_span: Span,
    /// The variant's doc comment, normalized.
    pub doc: String,
    /// The variant's fields.
    pub fields: Fields,
}

impl VariantDef {
    /// The name the variant's schema carries.
    pub fn schema_name(&self) -> &str {
        self.rename.as_deref().unwrap_or(&self.name)
    }
}

/// Doc comment normalization shared by every model item.
///
/// The text of every `///` line (or `#[doc = "..."]`) is joined with `\n`; then the
/// indentation common to all non-blank lines is removed, trailing whitespace is removed from
/// every line, and blank lines at the start and end are dropped. So `/// Adds two numbers.`
/// becomes `"Adds two numbers."` and indented code blocks keep their relative indentation.
pub struct Docs;

impl Docs {
    /// Normalizes the raw strings of consecutive doc attributes.
    pub fn normalize<S: AsRef<str>>(raw: &[S]) -> String {
        let joined = raw.iter().map(AsRef::as_ref).collect::<Vec<_>>().join("\n");
        let lines: Vec<&str> = joined.lines().map(str::trim_end).collect();
        let indent = lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let unindented: Vec<&str> = lines
            .iter()
            .map(|l| {
                if l.trim().is_empty() {
                    ""
                } else {
                    &l[indent..]
                }
            })
            .collect();
        let start = unindented.iter().position(|l| !l.is_empty());
        let end = unindented.iter().rposition(|l| !l.is_empty());
        match (start, end) {
            (Some(start), Some(end)) => unindented[start..=end].join("\n"),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> TypeRef {
        TypeRef::new(TypeKind::Named {
            path: RustPath::new([name]),
            generics: Vec::new(),
        })
    }

    #[test]
    fn docs_strip_the_common_indent_and_blank_edges() {
        assert_eq!(
            Docs::normalize(&[" Adds two numbers."]),
            "Adds two numbers."
        );
        assert_eq!(
            Docs::normalize(&[" First.", "", " ```", "     indented", " ```", ""]),
            "First.\n\n```\n    indented\n```"
        );
        assert_eq!(Docs::normalize::<&str>(&[]), "");
        assert_eq!(Docs::normalize(&["   ", ""]), "");
        // A block comment's text arrives as one string with embedded newlines.
        assert_eq!(Docs::normalize(&["\n   One.\n   Two.\n"]), "One.\nTwo.");
    }

    #[test]
    fn display_is_as_written_and_deterministic() {
        let map = TypeRef::new(TypeKind::Map {
            kind: MapKind::HashMap,
            path: RustPath {
                leading_colon: true,
                segments: vec!["std".into(), "collections".into(), "HashMap".into()],
            },
            key: Box::new(TypeRef::new(TypeKind::String {
                path: RustPath::new(["String"]),
            })),
            value: Box::new(TypeRef::new(TypeKind::Primitive(Primitive::I32))),
        });
        assert_eq!(map.to_string(), "::std::collections::HashMap<String, i32>");
        let one = TypeRef::new(TypeKind::Tuple(vec![named("A")]));
        assert_eq!(one.to_string(), "(A,)");
        let arr = TypeRef::new(TypeKind::Array {
            elem: Box::new(TypeRef::new(TypeKind::Primitive(Primitive::U8))),
            len: 4,
        });
        assert_eq!(arr.to_string(), "[u8; 4]");
        let page = TypeRef::new(TypeKind::Named {
            path: RustPath::new(["Page"]),
            generics: vec![named("Item")],
        });
        assert_eq!(page.to_string(), "Page<Item>");
        assert_eq!(
            TypeRef::new(TypeKind::Bytes(BytesRepr::Slice)).to_string(),
            "&[u8]"
        );
        assert_eq!(TypeRef::new(TypeKind::Str).to_string(), "&str");
    }

    #[test]
    fn walk_visits_every_nested_type_with_its_depth() {
        let ty = TypeRef::new(TypeKind::Vec {
            path: RustPath::new(["Vec"]),
            elem: Box::new(TypeRef::new(TypeKind::Option {
                path: RustPath::new(["Option"]),
                inner: Box::new(named("X")),
            })),
        });
        let mut seen = Vec::new();
        ty.walk(&mut |t, depth| seen.push((t.to_string(), depth)));
        assert_eq!(
            seen,
            [
                ("Vec<Option<X>>".to_string(), 0),
                ("Option<X>".to_string(), 1),
                ("X".to_string(), 2)
            ]
        );
    }

    #[test]
    fn primitives_round_trip_their_names() {
        for p in Primitive::ALL {
            assert_eq!(Primitive::from_name(p.name()), Some(p));
        }
        assert_eq!(Primitive::from_name("usize"), None);
    }
}
