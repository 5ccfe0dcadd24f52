//! Schemas: the canonical, language-neutral description of a wire type, and its content hash.
//!
//! This module owns the [`Schema`] model and its **canonical byte encoding**. Both sides of roam
//! build the same model: the runtime from facet `Shape`s (`roam-codec`'s `schema_of`), the CLI and
//! the proc macro from `syn` syntax. Two schemas are the same type exactly when their canonical
//! bytes are equal, and the [content hash](Schema::content_hash) is BLAKE3 of those bytes. The
//! encoding is specified byte for byte below so that the TypeScript and Swift runtimes can
//! implement it too. It does not own how values of a type are encoded (that is postcard, see
//! `roam-codec`) nor how schemas travel in a session (the runtime's job).
//!
//! # The model
//!
//! | Rust                                        | `Schema`                                   |
//! |---------------------------------------------|--------------------------------------------|
//! | `bool`, `u8`..`u128`, `i8`..`i128`, `f32`, `f64`, `char` | `Primitive(kind)`             |
//! | `usize` / `isize`                           | `Primitive(U64)` / `Primitive(I64)` (postcard writes them as 64-bit varints) |
//! | `String`, `&str`                            | `Primitive(String)`                        |
//! | `()`                                        | `Primitive(Unit)`                          |
//! | `Vec<u8>`, `&[u8]`                          | `Bytes`                                    |
//! | `Vec<T>`, `&[T]`                            | `List(T)`                                  |
//! | `[T; N]` (including `[u8; N]`)              | `Array(T, N)`                              |
//! | `HashMap<K, V>`, `BTreeMap<K, V>`           | `Map(K, V)`                                |
//! | `Option<T>`                                 | `Option(T)`                                |
//! | `(A, B, ...)` (at least one element)        | `Tuple([A, B, ...])`                       |
//! | `Box<T>`, `&T`                              | the schema of `T` (pointers are invisible on the wire) |
//! | user `struct`                               | `Struct { name, kind, fields }`            |
//! | user `enum`                                 | `Enum { name, variants }`                  |
//! | `Result<T, E>`                              | `Enum { name: "Result<T, E>", variants: [Ok(T), Err(E)] }` |
//! | a type inside its own definition            | `Ref(name)`                                |
//! | `Tx<T>` / `Rx<T>`                           | `Channel { direction, item }`              |
//!
//! **Names.** A user type is named by its bare Rust identifier (`Point`, not `crate::geo::Point`),
//! or by its `#[facet(rename = "...")]`; fields and variants likewise carry the names facet
//! serializes them under (their `rename`, or the one the container's `rename_all` gives).
//! A generic instantiation appends its arguments: type arguments first, in declaration order,
//! then const arguments in declaration order (lifetimes are dropped), rendered by
//! [`generic_name`], e.g. `Page<Item>`, `Page<Vec<String>>`, `Grid<u8, 4>`. Each type argument is
//! spelled by [`Schema::type_expr`], so `HashMap` and `BTreeMap` both become `Map<K, V>` and
//! `&str` becomes `String`.
//!
//! **Fields** keep declaration order. Tuple structs and tuple variants name their fields
//! `"0"`, `"1"`, ...; unit structs and unit variants have no fields. `#[facet(skip)]` fields are
//! not on the wire and not in the schema (the others keep their positions as names). A field records whether it
//! has a default (`#[facet(default)]` or `#[facet(default = expr)]`), because that decides
//! whether a reader can accept values from a writer whose type lacks the field; the default's
//! value is not part of the schema (it is the reader's business).
//!
//! **Recursion.** While a struct or enum is being expanded, a use of the same type name inside
//! it (necessarily through `Box`, `Vec`, `Option`, ...) is written `Ref(name)` instead of being
//! expanded again. Every other use of a type is expanded in place, so a schema is a finite tree
//! whose shape does not depend on the order types were visited in.
//!
//! # Canonical bytes (format version 1)
//!
//! ```text
//! canonical := 0x01 node                       ; format version, then the root node
//! node      := 0x00 kind:u8                    ; Primitive (kind codes below)
//!            | 0x01                            ; Bytes
//!            | 0x02 node                       ; List(item)
//!            | 0x03 len:uvarint node           ; Array(item, len)
//!            | 0x04 node node                  ; Map(key, value)
//!            | 0x05 node                       ; Option(inner)
//!            | 0x06 n:uvarint node{n}          ; Tuple, n >= 1
//!            | 0x07 name:str kind:u8 fields    ; Struct
//!            | 0x08 name:str n:uvarint variant{n}  ; Enum
//!            | 0x09 name:str                   ; Ref(name)
//!            | 0x0A dir:u8 node                ; Channel(direction, item); dir 0 = Tx, 1 = Rx
//! variant   := name:str kind:u8 fields
//! fields    := n:uvarint field{n}
//! field     := name:str flags:u8 node          ; flags bit 0 = has a default, bits 1..7 = 0
//! kind      := 0 named | 1 tuple | 2 unit      ; struct / variant kind
//! str       := len:uvarint utf8-bytes{len}
//! uvarint   := unsigned LEB128, 7 bits per byte, low bits first, high bit = "more follows",
//!              minimal length (no trailing 0x80 0x00 padding), at most 10 bytes (u64)
//! ```
//!
//! Primitive kind codes: `bool` 0, `u8` 1, `u16` 2, `u32` 3, `u64` 4, `u128` 5, `i8` 6,
//! `i16` 7, `i32` 8, `i64` 9, `i128` 10, `f32` 11, `f64` 12, `char` 13, `string` 14, `unit` 15.
//!
//! A unit-kind struct or variant has zero fields; a `Tuple` has at least one element (the empty
//! tuple is `Primitive(Unit)`). [`Schema::from_canonical_bytes`] rejects bytes that break these
//! rules, so every accepted byte string re-encodes to itself.
//!
//! # Hash
//!
//! [`Schema::content_hash_full`] is BLAKE3 of the canonical bytes (including the version byte);
//! [`Schema::content_hash`] is its first 8 bytes read little-endian, the same convention as
//! [`crate::method_id`].
//!
//! ```
//! use roam_core::schema::{Field, PrimitiveKind, Schema, StructKind};
//! let point = Schema::Struct {
//!     name: "Point".into(),
//!     kind: StructKind::Named,
//!     fields: vec![
//!         Field::new("x", Schema::Primitive(PrimitiveKind::I32)),
//!         Field::new("y", Schema::Primitive(PrimitiveKind::I32)),
//!     ],
//! };
//! let bytes = point.to_canonical_bytes();
//! assert_eq!(bytes, b"\x01\x07\x05Point\x00\x02\x01x\x00\x00\x08\x01y\x00\x00\x08");
//! assert_eq!(Schema::from_canonical_bytes(&bytes).unwrap(), point);
//! assert_eq!(point.content_hash(), Schema::from_canonical_bytes(&bytes).unwrap().content_hash());
//! ```

use std::fmt;

/// The version byte every canonical encoding starts with.
pub const CANONICAL_FORMAT_VERSION: u8 = 1;

/// How deep [`Schema::from_canonical_bytes`] lets nodes nest before refusing the input.
pub const MAX_SCHEMA_DEPTH: usize = 128;

/// A scalar wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrimitiveKind {
    /// `bool`: one byte, 0 or 1.
    Bool,
    /// `u8`: one raw byte.
    U8,
    /// `u16`: LEB128 varint.
    U16,
    /// `u32`: LEB128 varint.
    U32,
    /// `u64` (and `usize`): LEB128 varint.
    U64,
    /// `u128`: LEB128 varint.
    U128,
    /// `i8`: one raw byte (two's complement).
    I8,
    /// `i16`: zigzag, then LEB128 varint.
    I16,
    /// `i32`: zigzag, then LEB128 varint.
    I32,
    /// `i64` (and `isize`): zigzag, then LEB128 varint.
    I64,
    /// `i128`: zigzag, then LEB128 varint.
    I128,
    /// `f32`: 4 bytes little-endian.
    F32,
    /// `f64`: 8 bytes little-endian.
    F64,
    /// `char`: a UTF-8 string holding one scalar value.
    Char,
    /// `String` / `&str`: varint length, then UTF-8 bytes.
    String,
    /// `()`: nothing on the wire.
    Unit,
}

impl PrimitiveKind {
    /// All kinds, in code order.
    pub const ALL: [PrimitiveKind; 16] = [
        PrimitiveKind::Bool,
        PrimitiveKind::U8,
        PrimitiveKind::U16,
        PrimitiveKind::U32,
        PrimitiveKind::U64,
        PrimitiveKind::U128,
        PrimitiveKind::I8,
        PrimitiveKind::I16,
        PrimitiveKind::I32,
        PrimitiveKind::I64,
        PrimitiveKind::I128,
        PrimitiveKind::F32,
        PrimitiveKind::F64,
        PrimitiveKind::Char,
        PrimitiveKind::String,
        PrimitiveKind::Unit,
    ];

    /// The kind's byte in the canonical encoding.
    pub const fn code(self) -> u8 {
        match self {
            PrimitiveKind::Bool => 0,
            PrimitiveKind::U8 => 1,
            PrimitiveKind::U16 => 2,
            PrimitiveKind::U32 => 3,
            PrimitiveKind::U64 => 4,
            PrimitiveKind::U128 => 5,
            PrimitiveKind::I8 => 6,
            PrimitiveKind::I16 => 7,
            PrimitiveKind::I32 => 8,
            PrimitiveKind::I64 => 9,
            PrimitiveKind::I128 => 10,
            PrimitiveKind::F32 => 11,
            PrimitiveKind::F64 => 12,
            PrimitiveKind::Char => 13,
            PrimitiveKind::String => 14,
            PrimitiveKind::Unit => 15,
        }
    }

    /// The kind with canonical code `code`, if any.
    pub const fn from_code(code: u8) -> Option<PrimitiveKind> {
        if (code as usize) < Self::ALL.len() {
            Some(Self::ALL[code as usize])
        } else {
            None
        }
    }

    /// How the kind is spelled in a [type expression](Schema::type_expr): the Rust spelling.
    pub const fn rust_name(self) -> &'static str {
        match self {
            PrimitiveKind::Bool => "bool",
            PrimitiveKind::U8 => "u8",
            PrimitiveKind::U16 => "u16",
            PrimitiveKind::U32 => "u32",
            PrimitiveKind::U64 => "u64",
            PrimitiveKind::U128 => "u128",
            PrimitiveKind::I8 => "i8",
            PrimitiveKind::I16 => "i16",
            PrimitiveKind::I32 => "i32",
            PrimitiveKind::I64 => "i64",
            PrimitiveKind::I128 => "i128",
            PrimitiveKind::F32 => "f32",
            PrimitiveKind::F64 => "f64",
            PrimitiveKind::Char => "char",
            PrimitiveKind::String => "String",
            PrimitiveKind::Unit => "()",
        }
    }
}

/// Whether a struct or variant has named fields, positional fields, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StructKind {
    /// `struct S { a: A }` / `V { a: A }`.
    Named,
    /// `struct S(A);` / `V(A)`; fields are named `"0"`, `"1"`, ...
    Tuple,
    /// `struct S;` / `V`; no fields.
    Unit,
}

impl StructKind {
    /// The kind's byte in the canonical encoding.
    pub const fn code(self) -> u8 {
        match self {
            StructKind::Named => 0,
            StructKind::Tuple => 1,
            StructKind::Unit => 2,
        }
    }

    /// The kind with canonical code `code`, if any.
    pub const fn from_code(code: u8) -> Option<StructKind> {
        match code {
            0 => Some(StructKind::Named),
            1 => Some(StructKind::Tuple),
            2 => Some(StructKind::Unit),
            _ => None,
        }
    }
}

/// Which way a channel's items flow, seen from the side that declares the argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelDirection {
    /// `Tx<T>`: the declaring side sends items.
    Tx,
    /// `Rx<T>`: the declaring side receives items.
    Rx,
}

impl ChannelDirection {
    /// The direction's byte in the canonical encoding.
    pub const fn code(self) -> u8 {
        match self {
            ChannelDirection::Tx => 0,
            ChannelDirection::Rx => 1,
        }
    }

    /// The direction with canonical code `code`, if any.
    pub const fn from_code(code: u8) -> Option<ChannelDirection> {
        match code {
            0 => Some(ChannelDirection::Tx),
            1 => Some(ChannelDirection::Rx),
            _ => None,
        }
    }

    /// `"Tx"` or `"Rx"`.
    pub const fn rust_name(self) -> &'static str {
        match self {
            ChannelDirection::Tx => "Tx",
            ChannelDirection::Rx => "Rx",
        }
    }
}

/// A named field of a struct or variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// The field's name: its Rust name or `#[facet(rename)]` (`"0"`, `"1"`, ... for positional
    /// fields).
    pub name: String,
    /// The field's type.
    pub schema: Schema,
    /// Whether the field has a default (`#[facet(default)]` / `#[facet(default = ...)]` in
    /// Rust): a reader may fill it in when the writer's type does not have the field. It is part
    /// of the canonical bytes, so adding or removing a default changes the hash.
    pub default: bool,
}

impl Field {
    /// A field called `name` of type `schema`, without a default.
    pub fn new(name: impl Into<String>, schema: Schema) -> Field {
        Field {
            name: name.into(),
            schema,
            default: false,
        }
    }

    /// A field called `name` of type `schema` that has a default.
    pub fn defaulted(name: impl Into<String>, schema: Schema) -> Field {
        Field {
            name: name.into(),
            schema,
            default: true,
        }
    }

    /// The field's flags byte in the canonical encoding.
    const fn flags(&self) -> u8 {
        if self.default { FIELD_FLAG_DEFAULT } else { 0 }
    }
}

/// Bit 0 of a field's flags byte: the field has a default.
pub const FIELD_FLAG_DEFAULT: u8 = 0x01;

/// One variant of an enum, in declaration order (its position is its wire index).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Variant {
    /// The variant's name: its Rust name or `#[facet(rename)]`.
    pub name: String,
    /// Named, tuple or unit variant.
    pub kind: StructKind,
    /// The variant's fields (empty for a unit variant).
    pub fields: Vec<Field>,
}

impl Variant {
    /// A unit variant.
    pub fn unit(name: impl Into<String>) -> Variant {
        Variant {
            name: name.into(),
            kind: StructKind::Unit,
            fields: Vec::new(),
        }
    }

    /// A tuple variant whose fields are named `"0"`, `"1"`, ...
    pub fn tuple(name: impl Into<String>, items: Vec<Schema>) -> Variant {
        Variant {
            name: name.into(),
            kind: StructKind::Tuple,
            fields: positional_fields(items),
        }
    }
}

/// The canonical description of a wire type. See the [module docs](self) for how Rust types map
/// onto it and for its byte encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Schema {
    /// A scalar.
    Primitive(PrimitiveKind),
    /// A byte buffer (`Vec<u8>`, `&[u8]`): varint length, then raw bytes.
    Bytes,
    /// A variable-length sequence: varint length, then the items.
    List(Box<Schema>),
    /// A fixed-length sequence: the items, no length.
    Array(Box<Schema>, u64),
    /// A map: varint length, then key, value, key, value, ...
    Map(Box<Schema>, Box<Schema>),
    /// An optional value: byte 0, or byte 1 then the value.
    Option(Box<Schema>),
    /// A tuple of at least one element: the elements in order.
    Tuple(Vec<Schema>),
    /// A user struct: its fields in declaration order.
    Struct {
        /// The type's name, see [`generic_name`] for generic instantiations.
        name: String,
        /// Named, tuple or unit struct.
        kind: StructKind,
        /// The fields in declaration order.
        fields: Vec<Field>,
    },
    /// A user enum: varint variant index, then the variant's fields.
    Enum {
        /// The type's name, see [`generic_name`] for generic instantiations.
        name: String,
        /// The variants in declaration order.
        variants: Vec<Variant>,
    },
    /// A reference to an enclosing struct or enum of this name (recursion).
    Ref(String),
    /// A streaming channel argument.
    Channel {
        /// Which way items flow.
        direction: ChannelDirection,
        /// The item type.
        item: Box<Schema>,
    },
}

/// Names positional fields `"0"`, `"1"`, ...
pub fn positional_fields(items: Vec<Schema>) -> Vec<Field> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, schema)| Field::new(i.to_string(), schema))
        .collect()
}

/// A generic argument of a user type, for [`generic_name`].
#[derive(Debug, Clone, Copy)]
pub enum GenericArg<'a> {
    /// A type argument.
    Type(&'a Schema),
    /// A const argument, already rendered in decimal (e.g. `"4"`, `"-1"`, `"true"`, `"'x'"`).
    Const(&'a str),
}

/// The canonical name of a generic instantiation: `base<arg, arg, ...>`, or just `base` when
/// there are no arguments. Type arguments come first (in declaration order), then const
/// arguments (in declaration order); lifetimes are not arguments. Arguments are separated by
/// `", "` and type arguments are spelled with [`Schema::type_expr`].
///
/// ```
/// use roam_core::schema::{generic_name, GenericArg, PrimitiveKind, Schema};
/// let item = Schema::Struct { name: "Item".into(), kind: roam_core::schema::StructKind::Unit, fields: vec![] };
/// assert_eq!(generic_name("Page", &[GenericArg::Type(&item)]), "Page<Item>");
/// let list = Schema::List(Box::new(Schema::Primitive(PrimitiveKind::String)));
/// assert_eq!(generic_name("Grid", &[GenericArg::Type(&list), GenericArg::Const("4")]), "Grid<Vec<String>, 4>");
/// assert_eq!(generic_name("Plain", &[]), "Plain");
/// ```
pub fn generic_name(base: &str, args: &[GenericArg<'_>]) -> String {
    let mut out = String::from(base);
    if args.is_empty() {
        return out;
    }
    out.push('<');
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match arg {
            GenericArg::Type(schema) => schema.write_type_expr(&mut out),
            GenericArg::Const(value) => out.push_str(value),
        }
    }
    out.push('>');
    out
}

impl Schema {
    /// `Primitive(PrimitiveKind::Unit)`.
    pub const UNIT: Schema = Schema::Primitive(PrimitiveKind::Unit);

    /// The schema of a tuple of `items`: `Primitive(Unit)` when empty, `Tuple(items)` otherwise.
    /// Use it for argument lists so that a method without arguments gets the unit schema.
    pub fn tuple(items: Vec<Schema>) -> Schema {
        if items.is_empty() {
            Schema::UNIT
        } else {
            Schema::Tuple(items)
        }
    }

    /// The error type of a method that cannot fail (`core::convert::Infallible`): an enum
    /// named `Infallible` with no variants, which no value is written as and every reader
    /// accepts.
    pub fn infallible() -> Schema {
        Schema::Enum {
            name: "Infallible".to_owned(),
            variants: Vec::new(),
        }
    }

    /// The schema of `Result<ok, err>`: an enum named `Result<ok, err>` with tuple variants
    /// `Ok(ok)` and `Err(err)`, which is how postcard encodes a `Result`.
    pub fn result(ok: Schema, err: Schema) -> Schema {
        let name = generic_name("Result", &[GenericArg::Type(&ok), GenericArg::Type(&err)]);
        Schema::Enum {
            name,
            variants: vec![
                Variant::tuple("Ok", vec![ok]),
                Variant::tuple("Err", vec![err]),
            ],
        }
    }

    /// The name of a struct, enum or reference; `None` for structural schemas.
    pub fn name(&self) -> Option<&str> {
        match self {
            Schema::Struct { name, .. } | Schema::Enum { name, .. } | Schema::Ref(name) => {
                Some(name)
            }
            _ => None,
        }
    }

    /// The canonical Rust-like spelling of this type, used inside generic names: primitives by
    /// their Rust name (`String`, `()`), `Vec<u8>` for bytes, `Vec<T>`, `[T; N]`, `Map<K, V>`,
    /// `Option<T>`, `(A, B)` (a one-element tuple is `(A,)`), `Tx<T>` / `Rx<T>`, and user types
    /// by their name.
    pub fn type_expr(&self) -> String {
        let mut out = String::new();
        self.write_type_expr(&mut out);
        out
    }

    fn write_type_expr(&self, out: &mut String) {
        match self {
            Schema::Primitive(kind) => out.push_str(kind.rust_name()),
            Schema::Bytes => out.push_str("Vec<u8>"),
            Schema::List(item) => {
                out.push_str("Vec<");
                item.write_type_expr(out);
                out.push('>');
            }
            Schema::Array(item, len) => {
                out.push('[');
                item.write_type_expr(out);
                out.push_str("; ");
                out.push_str(&len.to_string());
                out.push(']');
            }
            Schema::Map(key, value) => {
                out.push_str("Map<");
                key.write_type_expr(out);
                out.push_str(", ");
                value.write_type_expr(out);
                out.push('>');
            }
            Schema::Option(inner) => {
                out.push_str("Option<");
                inner.write_type_expr(out);
                out.push('>');
            }
            Schema::Tuple(items) => {
                out.push('(');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_type_expr(out);
                }
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            Schema::Struct { name, .. } | Schema::Enum { name, .. } | Schema::Ref(name) => {
                out.push_str(name)
            }
            Schema::Channel { direction, item } => {
                out.push_str(direction.rust_name());
                out.push('<');
                item.write_type_expr(out);
                out.push('>');
            }
        }
    }

    /// The canonical bytes of this schema (see the [module docs](self)).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = vec![CANONICAL_FORMAT_VERSION];
        self.write_node(&mut out);
        out
    }

    fn write_node(&self, out: &mut Vec<u8>) {
        match self {
            Schema::Primitive(kind) => {
                out.push(0x00);
                out.push(kind.code());
            }
            Schema::Bytes => out.push(0x01),
            Schema::List(item) => {
                out.push(0x02);
                item.write_node(out);
            }
            Schema::Array(item, len) => {
                out.push(0x03);
                write_uvarint(out, *len);
                item.write_node(out);
            }
            Schema::Map(key, value) => {
                out.push(0x04);
                key.write_node(out);
                value.write_node(out);
            }
            Schema::Option(inner) => {
                out.push(0x05);
                inner.write_node(out);
            }
            Schema::Tuple(items) => {
                out.push(0x06);
                write_uvarint(out, items.len() as u64);
                for item in items {
                    item.write_node(out);
                }
            }
            Schema::Struct { name, kind, fields } => {
                out.push(0x07);
                write_str(out, name);
                out.push(kind.code());
                write_fields(out, fields);
            }
            Schema::Enum { name, variants } => {
                out.push(0x08);
                write_str(out, name);
                write_uvarint(out, variants.len() as u64);
                for variant in variants {
                    write_str(out, &variant.name);
                    out.push(variant.kind.code());
                    write_fields(out, &variant.fields);
                }
            }
            Schema::Ref(name) => {
                out.push(0x09);
                write_str(out, name);
            }
            Schema::Channel { direction, item } => {
                out.push(0x0A);
                out.push(direction.code());
                item.write_node(out);
            }
        }
    }

    /// BLAKE3 of the canonical bytes.
    pub fn content_hash_full(&self) -> [u8; 32] {
        *blake3::hash(&self.to_canonical_bytes()).as_bytes()
    }

    /// The first 8 bytes of [`content_hash_full`](Self::content_hash_full), little-endian.
    pub fn content_hash(&self) -> u64 {
        hash_of_canonical_bytes(&self.to_canonical_bytes())
    }

    /// Parses canonical bytes. Rejects anything [`to_canonical_bytes`](Self::to_canonical_bytes)
    /// would not produce: unknown tags or codes, non-minimal varints, invalid UTF-8, an empty
    /// tuple, a unit struct or variant with fields, nesting deeper than [`MAX_SCHEMA_DEPTH`],
    /// counts larger than the remaining input, two fields or variants with one name, and
    /// trailing bytes. Never panics; every node takes at least one input byte, so the result
    /// (and the work) is bounded by a constant times the input length, about a hundred bytes of
    /// memory per input byte. Callers that take schemas from peers bound the input's length.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Schema, SchemaDecodeError> {
        let mut reader = CanonicalReader { bytes, pos: 0 };
        let version = reader.byte()?;
        if version != CANONICAL_FORMAT_VERSION {
            return Err(SchemaDecodeError::new(
                0,
                SchemaDecodeErrorKind::UnknownVersion(version),
            ));
        }
        let schema = reader.node(0)?;
        if reader.pos != bytes.len() {
            return Err(reader.err(SchemaDecodeErrorKind::TrailingBytes));
        }
        Ok(schema)
    }
}

impl fmt::Display for Schema {
    /// Writes the [type expression](Schema::type_expr).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.type_expr())
    }
}

/// The 64-bit content hash of already-encoded canonical bytes.
pub fn hash_of_canonical_bytes(canonical: &[u8]) -> u64 {
    let hash = blake3::hash(canonical);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

fn write_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    write_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn write_fields(out: &mut Vec<u8>, fields: &[Field]) {
    write_uvarint(out, fields.len() as u64);
    for field in fields {
        write_str(out, &field.name);
        out.push(field.flags());
        field.schema.write_node(out);
    }
}

/// Canonical schema bytes could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDecodeError {
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub kind: SchemaDecodeErrorKind,
}

impl SchemaDecodeError {
    fn new(offset: usize, kind: SchemaDecodeErrorKind) -> SchemaDecodeError {
        SchemaDecodeError { offset, kind }
    }
}

/// What was wrong with canonical schema bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaDecodeErrorKind {
    /// The input ended in the middle of a node.
    UnexpectedEnd,
    /// The version byte is not [`CANONICAL_FORMAT_VERSION`].
    UnknownVersion(u8),
    /// A node tag that is not defined.
    UnknownTag(u8),
    /// A primitive kind code that is not defined.
    UnknownPrimitive(u8),
    /// A struct or variant kind code that is not defined.
    UnknownStructKind(u8),
    /// A channel direction code that is not defined.
    UnknownDirection(u8),
    /// A varint that is longer than 10 bytes, overflows `u64`, or is not minimal.
    BadVarint,
    /// A name that is not UTF-8.
    InvalidUtf8,
    /// A count that cannot fit in the remaining input.
    CountTooLarge(u64),
    /// A tuple with no elements (the empty tuple is `Primitive(Unit)`).
    EmptyTuple,
    /// A unit struct or variant that declares fields.
    UnitWithFields,
    /// A field flags byte with bits set that are not defined (only bit 0 is).
    UnknownFieldFlags(u8),
    /// Two fields of one struct or variant, or two variants of one enum, share a name.
    DuplicateName(String),
    /// Nodes nested deeper than [`MAX_SCHEMA_DEPTH`].
    TooDeep,
    /// Bytes left over after the root node.
    TrailingBytes,
}

impl fmt::Display for SchemaDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid canonical schema at byte {}: ", self.offset)?;
        match &self.kind {
            SchemaDecodeErrorKind::UnexpectedEnd => write!(f, "input ends inside a node"),
            SchemaDecodeErrorKind::UnknownVersion(v) => write!(f, "unknown format version {v}"),
            SchemaDecodeErrorKind::UnknownTag(t) => write!(f, "unknown node tag {t:#04x}"),
            SchemaDecodeErrorKind::UnknownPrimitive(c) => write!(f, "unknown primitive kind {c}"),
            SchemaDecodeErrorKind::UnknownStructKind(c) => write!(f, "unknown struct kind {c}"),
            SchemaDecodeErrorKind::UnknownDirection(c) => {
                write!(f, "unknown channel direction {c}")
            }
            SchemaDecodeErrorKind::BadVarint => write!(f, "malformed or non-minimal varint"),
            SchemaDecodeErrorKind::InvalidUtf8 => write!(f, "name is not UTF-8"),
            SchemaDecodeErrorKind::CountTooLarge(n) => {
                write!(f, "count {n} exceeds the remaining input")
            }
            SchemaDecodeErrorKind::EmptyTuple => write!(f, "empty tuple (use unit)"),
            SchemaDecodeErrorKind::UnitWithFields => {
                write!(f, "unit struct or variant with fields")
            }
            SchemaDecodeErrorKind::UnknownFieldFlags(flags) => {
                write!(f, "unknown field flags {flags:#04x}")
            }
            SchemaDecodeErrorKind::DuplicateName(name) => {
                write!(f, "the name `{name}` is used twice in one struct or enum")
            }
            SchemaDecodeErrorKind::TooDeep => {
                write!(f, "nesting deeper than {MAX_SCHEMA_DEPTH}")
            }
            SchemaDecodeErrorKind::TrailingBytes => write!(f, "trailing bytes after the schema"),
        }
    }
}

impl std::error::Error for SchemaDecodeError {}

struct CanonicalReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// How many items to reserve for a count read from the input: the count is only known to fit
/// the remaining input, and every nesting level may claim that much, so reserve little and let
/// the vector grow as items actually arrive.
fn prealloc(n: usize) -> usize {
    n.min(64)
}

impl CanonicalReader<'_> {
    fn err(&self, kind: SchemaDecodeErrorKind) -> SchemaDecodeError {
        SchemaDecodeError::new(self.pos, kind)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, SchemaDecodeError> {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.err(SchemaDecodeErrorKind::UnexpectedEnd)),
        }
    }

    fn uvarint(&mut self) -> Result<u64, SchemaDecodeError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 0x01 {
                return Err(SchemaDecodeError::new(
                    start,
                    SchemaDecodeErrorKind::BadVarint,
                ));
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                // Minimal form: a multi-byte varint may not end in a zero byte.
                if i > 0 && b == 0 {
                    return Err(SchemaDecodeError::new(
                        start,
                        SchemaDecodeErrorKind::BadVarint,
                    ));
                }
                return Ok(value);
            }
        }
        Err(SchemaDecodeError::new(
            start,
            SchemaDecodeErrorKind::BadVarint,
        ))
    }

    /// A count of items that each take at least one byte.
    fn count(&mut self) -> Result<usize, SchemaDecodeError> {
        let start = self.pos;
        let n = self.uvarint()?;
        if n > self.remaining() as u64 {
            return Err(SchemaDecodeError::new(
                start,
                SchemaDecodeErrorKind::CountTooLarge(n),
            ));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String, SchemaDecodeError> {
        let len = self.count()?;
        let start = self.pos;
        let raw = &self.bytes[start..start + len];
        let s = std::str::from_utf8(raw)
            .map_err(|_| SchemaDecodeError::new(start, SchemaDecodeErrorKind::InvalidUtf8))?;
        self.pos += len;
        Ok(s.to_owned())
    }

    fn struct_kind(&mut self) -> Result<StructKind, SchemaDecodeError> {
        let code = self.byte()?;
        StructKind::from_code(code).ok_or_else(|| {
            SchemaDecodeError::new(self.pos - 1, SchemaDecodeErrorKind::UnknownStructKind(code))
        })
    }

    fn fields(&mut self, kind: StructKind, depth: usize) -> Result<Vec<Field>, SchemaDecodeError> {
        let start = self.pos;
        let n = self.count()?;
        if kind == StructKind::Unit && n != 0 {
            return Err(SchemaDecodeError::new(
                start,
                SchemaDecodeErrorKind::UnitWithFields,
            ));
        }
        let mut fields: Vec<Field> = Vec::with_capacity(prealloc(n));
        let mut names = std::collections::HashSet::new();
        for _ in 0..n {
            let name_pos = self.pos;
            let name = self.string()?;
            if !names.insert(name.clone()) {
                return Err(SchemaDecodeError::new(
                    name_pos,
                    SchemaDecodeErrorKind::DuplicateName(name),
                ));
            }
            let flags_pos = self.pos;
            let flags = self.byte()?;
            if flags & !FIELD_FLAG_DEFAULT != 0 {
                return Err(SchemaDecodeError::new(
                    flags_pos,
                    SchemaDecodeErrorKind::UnknownFieldFlags(flags),
                ));
            }
            let schema = self.node(depth + 1)?;
            fields.push(Field {
                name,
                schema,
                default: flags & FIELD_FLAG_DEFAULT != 0,
            });
        }
        Ok(fields)
    }

    fn node(&mut self, depth: usize) -> Result<Schema, SchemaDecodeError> {
        if depth >= MAX_SCHEMA_DEPTH {
            return Err(self.err(SchemaDecodeErrorKind::TooDeep));
        }
        let tag_pos = self.pos;
        let tag = self.byte()?;
        let schema = match tag {
            0x00 => {
                let code = self.byte()?;
                let kind = PrimitiveKind::from_code(code).ok_or_else(|| {
                    SchemaDecodeError::new(
                        self.pos - 1,
                        SchemaDecodeErrorKind::UnknownPrimitive(code),
                    )
                })?;
                Schema::Primitive(kind)
            }
            0x01 => Schema::Bytes,
            0x02 => Schema::List(Box::new(self.node(depth + 1)?)),
            0x03 => {
                let len = self.uvarint()?;
                Schema::Array(Box::new(self.node(depth + 1)?), len)
            }
            0x04 => {
                let key = self.node(depth + 1)?;
                let value = self.node(depth + 1)?;
                Schema::Map(Box::new(key), Box::new(value))
            }
            0x05 => Schema::Option(Box::new(self.node(depth + 1)?)),
            0x06 => {
                let count_pos = self.pos;
                let n = self.count()?;
                if n == 0 {
                    return Err(SchemaDecodeError::new(
                        count_pos,
                        SchemaDecodeErrorKind::EmptyTuple,
                    ));
                }
                let mut items = Vec::with_capacity(prealloc(n));
                for _ in 0..n {
                    items.push(self.node(depth + 1)?);
                }
                Schema::Tuple(items)
            }
            0x07 => {
                let name = self.string()?;
                let kind = self.struct_kind()?;
                let fields = self.fields(kind, depth)?;
                Schema::Struct { name, kind, fields }
            }
            0x08 => {
                let name = self.string()?;
                let n = self.count()?;
                let mut variants: Vec<Variant> = Vec::with_capacity(prealloc(n));
                let mut names = std::collections::HashSet::new();
                for _ in 0..n {
                    let name_pos = self.pos;
                    let name = self.string()?;
                    if !names.insert(name.clone()) {
                        return Err(SchemaDecodeError::new(
                            name_pos,
                            SchemaDecodeErrorKind::DuplicateName(name),
                        ));
                    }
                    let kind = self.struct_kind()?;
                    let fields = self.fields(kind, depth)?;
                    variants.push(Variant { name, kind, fields });
                }
                Schema::Enum { name, variants }
            }
            0x09 => Schema::Ref(self.string()?),
            0x0A => {
                let code = self.byte()?;
                let direction = ChannelDirection::from_code(code).ok_or_else(|| {
                    SchemaDecodeError::new(
                        self.pos - 1,
                        SchemaDecodeErrorKind::UnknownDirection(code),
                    )
                })?;
                Schema::Channel {
                    direction,
                    item: Box::new(self.node(depth + 1)?),
                }
            }
            other => {
                return Err(SchemaDecodeError::new(
                    tag_pos,
                    SchemaDecodeErrorKind::UnknownTag(other),
                ));
            }
        };
        Ok(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prim(kind: PrimitiveKind) -> Schema {
        Schema::Primitive(kind)
    }

    fn point() -> Schema {
        Schema::Struct {
            name: "Point".into(),
            kind: StructKind::Named,
            fields: vec![
                Field::new("x", prim(PrimitiveKind::I32)),
                Field::new("y", prim(PrimitiveKind::I32)),
            ],
        }
    }

    /// A recursive type that touches every node kind.
    fn kitchen_sink() -> Schema {
        Schema::Struct {
            name: "Sink<Point, 3>".into(),
            kind: StructKind::Named,
            fields: vec![
                Field::new("bytes", Schema::Bytes),
                Field::new("list", Schema::List(Box::new(point()))),
                Field::new("array", Schema::Array(Box::new(prim(PrimitiveKind::U8)), 3)),
                Field::new(
                    "map",
                    Schema::Map(
                        Box::new(prim(PrimitiveKind::String)),
                        Box::new(prim(PrimitiveKind::F64)),
                    ),
                ),
                Field::new(
                    "opt",
                    Schema::Option(Box::new(Schema::Ref("Sink<Point, 3>".into()))),
                ),
                Field::new(
                    "tuple",
                    Schema::Tuple(vec![prim(PrimitiveKind::Char), prim(PrimitiveKind::U128)]),
                ),
                Field::new(
                    "shape",
                    Schema::Enum {
                        name: "Shape".into(),
                        variants: vec![
                            Variant::unit("Empty"),
                            Variant::tuple("Circle", vec![prim(PrimitiveKind::F32)]),
                            Variant {
                                name: "Rect".into(),
                                kind: StructKind::Named,
                                fields: vec![Field::new("w", prim(PrimitiveKind::I128))],
                            },
                        ],
                    },
                ),
                Field::new(
                    "events",
                    Schema::Channel {
                        direction: ChannelDirection::Rx,
                        item: Box::new(prim(PrimitiveKind::Bool)),
                    },
                ),
                Field::new(
                    "marker",
                    Schema::Struct {
                        name: "Marker".into(),
                        kind: StructKind::Unit,
                        fields: vec![],
                    },
                ),
                Field::new("unit", Schema::UNIT),
                Field::defaulted(
                    "note",
                    Schema::Option(Box::new(prim(PrimitiveKind::String))),
                ),
            ],
        }
    }

    #[test]
    fn point_bytes_are_pinned() {
        let bytes = point().to_canonical_bytes();
        assert_eq!(
            bytes,
            [
                0x01, // version
                0x07, 5, b'P', b'o', b'i', b'n', b't', // struct "Point"
                0x00, // named
                2,    // two fields
                1, b'x', 0x00, 0x00, 8, // x: i32, no default
                1, b'y', 0x00, 0x00, 8, // y: i32, no default
            ]
        );
    }

    /// Pinned so that an accidental change to the encoding (which would break every peer that
    /// compares hashes) fails a test. Independent check:
    /// `python3 -c "import blake3; print(blake3.blake3(bytes([1,0,8])).hexdigest()[:16])"`.
    #[test]
    fn hash_is_blake3_of_canonical_bytes() {
        let i32_schema = prim(PrimitiveKind::I32);
        assert_eq!(i32_schema.to_canonical_bytes(), [1, 0, 8]);
        let full = *blake3::hash(&[1, 0, 8]).as_bytes();
        assert_eq!(i32_schema.content_hash_full(), full);
        let mut first = [0u8; 8];
        first.copy_from_slice(&full[..8]);
        assert_eq!(i32_schema.content_hash(), u64::from_le_bytes(first));
        assert_eq!(
            hash_of_canonical_bytes(&point().to_canonical_bytes()),
            point().content_hash()
        );
        // Independently: python3 -c "import blake3; d=blake3.blake3(bytes([1,0,8])).digest();
        // print(hex(int.from_bytes(d[:8], 'little')))"
        assert_eq!(i32_schema.content_hash(), 0xc10d_9146_e793_bc62);
        // The same for `point_bytes_are_pinned`'s bytes.
        assert_eq!(point().content_hash(), 0x37c8_40aa_a24e_1c67);
    }

    #[test]
    fn every_primitive_round_trips_and_hashes_distinctly() {
        let mut hashes = std::collections::HashSet::new();
        for (code, kind) in PrimitiveKind::ALL.iter().enumerate() {
            assert_eq!(kind.code() as usize, code);
            assert_eq!(PrimitiveKind::from_code(code as u8), Some(*kind));
            let s = prim(*kind);
            assert_eq!(
                Schema::from_canonical_bytes(&s.to_canonical_bytes()).unwrap(),
                s
            );
            assert!(hashes.insert(s.content_hash()));
        }
        assert_eq!(PrimitiveKind::from_code(16), None);
    }

    #[test]
    fn kitchen_sink_round_trips() {
        let sink = kitchen_sink();
        let bytes = sink.to_canonical_bytes();
        let back = Schema::from_canonical_bytes(&bytes).unwrap();
        assert_eq!(back, sink);
        assert_eq!(back.to_canonical_bytes(), bytes);
        assert_eq!(back.content_hash(), sink.content_hash());
    }

    #[test]
    fn any_change_changes_the_hash() {
        let base = point();
        let renamed_field = Schema::Struct {
            name: "Point".into(),
            kind: StructKind::Named,
            fields: vec![
                Field::new("x", prim(PrimitiveKind::I32)),
                Field::new("z", prim(PrimitiveKind::I32)),
            ],
        };
        let retyped = Schema::Struct {
            name: "Point".into(),
            kind: StructKind::Named,
            fields: vec![
                Field::new("x", prim(PrimitiveKind::I32)),
                Field::new("y", prim(PrimitiveKind::I64)),
            ],
        };
        let as_tuple = Schema::Struct {
            name: "Point".into(),
            kind: StructKind::Tuple,
            fields: positional_fields(vec![prim(PrimitiveKind::I32), prim(PrimitiveKind::I32)]),
        };
        let hashes = [
            base.content_hash(),
            renamed_field.content_hash(),
            retyped.content_hash(),
            as_tuple.content_hash(),
            Schema::List(Box::new(base.clone())).content_hash(),
            Schema::Option(Box::new(base.clone())).content_hash(),
        ];
        let unique: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(unique.len(), hashes.len());
    }

    #[test]
    fn field_default_flag_is_encoded_and_hashed() {
        let with_default = Schema::Struct {
            name: "Point".into(),
            kind: StructKind::Named,
            fields: vec![
                Field::new("x", prim(PrimitiveKind::I32)),
                Field::defaulted("y", prim(PrimitiveKind::I32)),
            ],
        };
        let bytes = with_default.to_canonical_bytes();
        assert_eq!(
            bytes,
            [
                0x01, 0x07, 5, b'P', b'o', b'i', b'n', b't', 0x00, 2, //
                1, b'x', 0x00, 0x00, 8, // x: no default
                1, b'y', 0x01, 0x00, 8, // y: has a default
            ]
        );
        let back = Schema::from_canonical_bytes(&bytes).unwrap();
        assert_eq!(back, with_default);
        assert!(!Field::new("a", Schema::Bytes).default);
        assert!(Field::defaulted("a", Schema::Bytes).default);
        // The flag is part of the type's identity.
        assert_ne!(with_default.content_hash(), point().content_hash());
        // Independently: python3 -c "import blake3; d=blake3.blake3(bytes([1,7,5])+b'Point'+
        // bytes([0,2,1])+b'x'+bytes([0,0,8,1])+b'y'+bytes([1,0,8])).digest();
        // print(hex(int.from_bytes(d[:8], 'little')))"
        assert_eq!(with_default.content_hash(), 0x8f4c_26ca_ab98_86f5);
    }

    #[test]
    fn undefined_field_flags_are_rejected() {
        let mut bytes = point().to_canonical_bytes();
        // Offset of x's flags byte: version, tag, name (6), kind, count, name (2).
        assert_eq!(bytes[12], 0x00);
        for flags in [0x02u8, 0x80, 0xff, 0x03] {
            bytes[12] = flags;
            assert_eq!(
                decode_err(&bytes),
                SchemaDecodeErrorKind::UnknownFieldFlags(flags)
            );
        }
    }

    #[test]
    fn type_expressions_and_generic_names() {
        assert_eq!(Schema::Bytes.type_expr(), "Vec<u8>");
        assert_eq!(
            Schema::Map(Box::new(prim(PrimitiveKind::String)), Box::new(point())).type_expr(),
            "Map<String, Point>"
        );
        assert_eq!(
            Schema::Array(Box::new(prim(PrimitiveKind::U8)), 4).type_expr(),
            "[u8; 4]"
        );
        assert_eq!(
            Schema::Tuple(vec![prim(PrimitiveKind::U8)]).type_expr(),
            "(u8,)"
        );
        assert_eq!(
            Schema::Tuple(vec![prim(PrimitiveKind::U8), Schema::UNIT]).type_expr(),
            "(u8, ())"
        );
        assert_eq!(
            Schema::Channel {
                direction: ChannelDirection::Tx,
                item: Box::new(prim(PrimitiveKind::String))
            }
            .to_string(),
            "Tx<String>"
        );
        let page_of_points = generic_name("Page", &[GenericArg::Type(&point())]);
        assert_eq!(page_of_points, "Page<Point>");
        let nested = Schema::Option(Box::new(Schema::List(Box::new(Schema::Ref(
            page_of_points.clone(),
        )))));
        assert_eq!(
            generic_name("Wrap", &[GenericArg::Type(&nested), GenericArg::Const("8")]),
            "Wrap<Option<Vec<Page<Point>>>, 8>"
        );
    }

    #[test]
    fn tuple_and_result_constructors() {
        assert_eq!(Schema::tuple(vec![]), Schema::UNIT);
        assert_eq!(
            Schema::tuple(vec![Schema::Bytes]),
            Schema::Tuple(vec![Schema::Bytes])
        );
        let r = Schema::result(prim(PrimitiveKind::I32), point());
        assert_eq!(r.name(), Some("Result<i32, Point>"));
        let Schema::Enum { variants, .. } = &r else {
            panic!("result is an enum")
        };
        assert_eq!(variants[0].name, "Ok");
        assert_eq!(variants[1].fields[0].name, "0");
    }

    fn decode_err(bytes: &[u8]) -> SchemaDecodeErrorKind {
        Schema::from_canonical_bytes(bytes).unwrap_err().kind
    }

    #[test]
    fn malformed_canonical_bytes_are_rejected() {
        use SchemaDecodeErrorKind as K;
        assert_eq!(decode_err(&[]), K::UnexpectedEnd);
        assert_eq!(decode_err(&[2, 0, 8]), K::UnknownVersion(2));
        assert_eq!(decode_err(&[1, 0x0B]), K::UnknownTag(0x0B));
        assert_eq!(decode_err(&[1, 0, 16]), K::UnknownPrimitive(16));
        assert_eq!(decode_err(&[1, 0, 8, 0]), K::TrailingBytes);
        assert_eq!(decode_err(&[1, 0x06, 0]), K::EmptyTuple);
        // Unit struct with one field.
        assert_eq!(
            decode_err(&[1, 0x07, 1, b'S', 2, 1, 1, b'a', 0, 0]),
            K::UnitWithFields
        );
        assert_eq!(
            decode_err(&[1, 0x07, 1, b'S', 3, 0]),
            K::UnknownStructKind(3)
        );
        assert_eq!(decode_err(&[1, 0x0A, 2, 0, 0]), K::UnknownDirection(2));
        // Non-minimal varint: 0x80 0x00 for zero.
        assert_eq!(decode_err(&[1, 0x03, 0x80, 0x00, 0, 1]), K::BadVarint);
        // Varint overflowing u64.
        assert_eq!(
            decode_err(&[
                1, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f
            ]),
            K::BadVarint
        );
        // A name claiming 2^40 bytes.
        assert!(matches!(
            decode_err(&[1, 0x09, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]),
            K::CountTooLarge(_)
        ));
        assert_eq!(decode_err(&[1, 0x09, 1, 0xff]), K::InvalidUtf8);
        // Truncated inside a struct.
        assert_eq!(
            decode_err(&point().to_canonical_bytes()[..12]),
            K::UnexpectedEnd
        );
    }

    #[test]
    fn nesting_is_limited() {
        let mut bytes = vec![1];
        bytes.extend(std::iter::repeat_n(0x02, MAX_SCHEMA_DEPTH + 10));
        bytes.extend([0, 1]);
        assert_eq!(decode_err(&bytes), SchemaDecodeErrorKind::TooDeep);

        let mut ok = Schema::Primitive(PrimitiveKind::U8);
        for _ in 0..MAX_SCHEMA_DEPTH - 1 {
            ok = Schema::List(Box::new(ok));
        }
        assert_eq!(
            Schema::from_canonical_bytes(&ok.to_canonical_bytes()).unwrap(),
            ok
        );
    }

    #[test]
    fn duplicate_field_and_variant_names_are_refused() {
        let twice = Schema::Struct {
            name: "P".into(),
            kind: StructKind::Named,
            fields: vec![
                Field::new("a", Schema::Primitive(PrimitiveKind::U8)),
                Field::new("a", Schema::Primitive(PrimitiveKind::U8)),
            ],
        };
        let err = Schema::from_canonical_bytes(&twice.to_canonical_bytes()).unwrap_err();
        assert_eq!(err.kind, SchemaDecodeErrorKind::DuplicateName("a".into()));
        let variants = Schema::Enum {
            name: "E".into(),
            variants: vec![Variant::unit("V"), Variant::unit("V")],
        };
        let err = Schema::from_canonical_bytes(&variants.to_canonical_bytes()).unwrap_err();
        assert_eq!(err.kind, SchemaDecodeErrorKind::DuplicateName("V".into()));
    }

    #[test]
    fn every_prefix_of_valid_bytes_is_an_error_not_a_panic() {
        let bytes = kitchen_sink().to_canonical_bytes();
        for end in 0..bytes.len() {
            assert!(Schema::from_canonical_bytes(&bytes[..end]).is_err());
        }
        // Flipping any single byte never panics.
        for i in 0..bytes.len() {
            let mut corrupted = bytes.clone();
            corrupted[i] ^= 0x5a;
            let _ = Schema::from_canonical_bytes(&corrupted);
        }
    }
}
