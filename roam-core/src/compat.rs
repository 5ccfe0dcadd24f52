//! Schema compatibility: can values written with one [`Schema`] be read as another?
//!
//! This module owns the *rules* of schema evolution, as a pure function over two schemas
//! ([`check`]). The CLI (`roam check`) uses it to compare a service against a previous
//! version, and the runtime uses it to explain why a remote peer's schema cannot be accepted.
//! It does not own how a compatible difference is bridged at run time (that is the codec's
//! translation plan, in `roam-codec`), nor where schemas come from.
//!
//! # Rules ("values written with `writer` can be read as `reader`")
//!
//! * Primitives must be the same kind: no widening, because postcard's varints for `u32` and
//!   `u64` coincide only for small values and a reader that accepted both would fail on data.
//! * `Bytes`, `List`, `Array` (same length), `Map`, `Option`, `Tuple` (same arity) and
//!   `Channel` (same direction) are compared element by element.
//! * Struct and enum **names are ignored** (a renamed type is reported as a [`NoteKind::Renamed`]
//!   note): the wire carries no names, so only the structure matters.
//! * Struct kinds (named, tuple, unit) must match, and so must the kinds of matched variants.
//! * Fields are matched by name, in any order. A field only the writer has is skipped by the
//!   reader; a field only the reader has must have a default on the reader's side.
//! * Variants are matched by name. A variant only the writer has is compatible: reading fails
//!   only if such a value is actually received. Variants only the reader has are fine.
//! * `Ref(name)` is the nearest enclosing struct or enum called `name`. Recursive types are
//!   compared coinductively: a pair of definitions already being compared is assumed
//!   compatible, which is what makes the check terminate. Each pair of definitions reached
//!   through a `Ref` is compared once, so the work is bounded even for hostile schemas.
//!
//! Every incompatibility is collected, not only the first.
//!
//! # Paths
//!
//! Problems are located by a path from the root value: the root type's name (when it is a
//! struct or enum; the reader's name is used), then `.field` for struct fields, `::Variant`
//! for enum variants, `.0` for tuple positions, `[]` for list and array items, `?` for the
//! inside of an `Option`, `{key}` / `{value}` for maps and `<item>` for channel items, e.g.
//! `Order.items[].price` or `Shape::Circle.radius`.
//!
//! ```
//! use roam_core::compat::{check, NoteKind};
//! use roam_core::schema::{Field, PrimitiveKind, Schema, StructKind};
//!
//! let v1 = Schema::Struct {
//!     name: "OrderV1".into(),
//!     kind: StructKind::Named,
//!     fields: vec![Field::new("id", Schema::Primitive(PrimitiveKind::U64))],
//! };
//! let with_note = |default| Schema::Struct {
//!     name: "Order".into(),
//!     kind: StructKind::Named,
//!     fields: vec![
//!         Field::new("id", Schema::Primitive(PrimitiveKind::U64)),
//!         Field { name: "note".into(), schema: Schema::Primitive(PrimitiveKind::String), default },
//!     ],
//! };
//! let ok = check(&v1, &with_note(true)).unwrap();
//! assert!(!ok.identical);
//! assert!(ok.notes.iter().any(|n| matches!(&n.kind, NoteKind::FieldDefaulted { field } if field == "note")));
//!
//! let errors = check(&v1, &with_note(false)).unwrap_err();
//! assert_eq!(errors[0].path, "Order.note");
//! assert!(errors[0].to_string().contains("#[facet(default)]"));
//! ```

use std::collections::HashSet;
use std::fmt;

use crate::schema::{ChannelDirection, Field, Schema, StructKind, Variant};

/// How many nested comparisons [`check`] performs before giving up on a pair of schemas. A
/// schema accepted by [`Schema::from_canonical_bytes`] nests at most
/// [`MAX_SCHEMA_DEPTH`](crate::schema::MAX_SCHEMA_DEPTH) levels, but following `Ref`s can
/// stack several such paths; this keeps the recursion's stack use bounded whatever a peer sends
/// (a level takes a few KiB of stack in debug builds, so 256 levels fit a 2 MiB thread stack
/// with room to spare; 1024 did not).
pub const MAX_CHECK_DEPTH: usize = 256;

/// `writer` and `reader` are compatible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compat {
    /// The schemas are the same type (equal canonical bytes): no translation is needed.
    pub identical: bool,
    /// Differences that do not prevent reading but are worth reporting.
    pub notes: Vec<Note>,
}

/// A non-breaking difference between a writer's and a reader's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Where the difference is (see the [module docs](self) for the syntax).
    pub path: String,
    /// What the difference is.
    pub kind: NoteKind,
}

/// What a [`Note`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoteKind {
    /// The writer's struct or enum has a different name from the reader's.
    Renamed {
        /// The writer's name.
        writer: String,
        /// The reader's name.
        reader: String,
    },
    /// The writer sends a field the reader does not have; the reader skips it.
    FieldSkipped {
        /// The field's name.
        field: String,
    },
    /// The reader has a field the writer does not send; the reader uses the field's default.
    FieldDefaulted {
        /// The field's name.
        field: String,
    },
    /// The fields both sides have are declared in a different order.
    FieldsReordered,
    /// The writer may send a variant the reader does not know; reading such a value fails.
    VariantUnknownToReader {
        /// The variant's name.
        variant: String,
    },
    /// The reader has a variant the writer never sends.
    VariantUnknownToWriter {
        /// The variant's name.
        variant: String,
    },
    /// A field has a default on one side only; it does not matter when both sides have it.
    DefaultDiffers {
        /// The field's name.
        field: String,
        /// Whether the reader's field has a default.
        reader_has_default: bool,
    },
}

/// Why values written with one schema cannot be read as another, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Where the problem is (see the [module docs](self) for the syntax); empty for the root.
    pub path: String,
    /// The writer's type at `path` (for a missing field, the type that lacks it).
    pub writer_type: String,
    /// The reader's type at `path` (for a missing field, the type that requires it).
    pub reader_type: String,
    /// What is wrong.
    pub kind: IncompatibilityKind,
}

/// What an [`Incompatibility`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncompatibilityKind {
    /// The two sides have different types here (different primitives, or different kinds of
    /// node such as a list against a struct).
    TypeChanged,
    /// Fixed-size arrays of different lengths.
    ArrayLength {
        /// The writer's length.
        writer: u64,
        /// The reader's length.
        reader: u64,
    },
    /// Tuples with different numbers of elements.
    TupleArity {
        /// The writer's arity.
        writer: usize,
        /// The reader's arity.
        reader: usize,
    },
    /// Channels flowing in different directions.
    ChannelDirection {
        /// The writer's direction.
        writer: ChannelDirection,
        /// The reader's direction.
        reader: ChannelDirection,
    },
    /// A struct or variant changed between named, tuple and unit.
    StructKindChanged {
        /// The writer's kind.
        writer: StructKind,
        /// The reader's kind.
        reader: StructKind,
    },
    /// The reader requires a field the writer does not send, and the field has no default.
    MissingField {
        /// The field's name.
        field: String,
        /// The field's type on the reader's side.
        field_type: String,
    },
    /// A `Ref` names no enclosing struct or enum (the schema is malformed).
    UnresolvedRef {
        /// The name referenced.
        name: String,
        /// Whether the dangling reference is on the writer's side.
        in_writer: bool,
    },
    /// The schemas nest deeper than [`MAX_CHECK_DEPTH`] comparisons.
    TooDeep,
}

/// Checks whether values written with `writer` can be read as `reader`.
///
/// `Ok` carries whether the schemas are identical and the non-breaking differences;
/// `Err` carries every incompatibility found. See the [module docs](self) for the rules.
pub fn check(writer: &Schema, reader: &Schema) -> Result<Compat, Vec<Incompatibility>> {
    let identical = writer == reader;
    let mut checker = Checker {
        writer_defs: Vec::new(),
        reader_defs: Vec::new(),
        seen: HashSet::new(),
        notes: Vec::new(),
        errors: Vec::new(),
        depth: 0,
    };
    // Identical schemas are trivially compatible and have nothing to note; skip the walk.
    if !identical {
        let root = match reader {
            Schema::Struct { name, .. } | Schema::Enum { name, .. } => name.clone(),
            _ => String::new(),
        };
        checker.node(writer, reader, &root);
    }
    if checker.errors.is_empty() {
        Ok(Compat {
            identical,
            notes: checker.notes,
        })
    } else {
        Err(checker.errors)
    }
}

struct Checker<'a> {
    /// The struct and enum definitions enclosing the current writer node, outermost first.
    writer_defs: Vec<&'a Schema>,
    /// The same for the reader.
    reader_defs: Vec<&'a Schema>,
    /// Pairs of definitions (by address) whose comparison has started. Comparing a pair again
    /// would either loop (recursion: coinductively it is compatible) or repeat reports.
    seen: HashSet<(usize, usize)>,
    notes: Vec<Note>,
    errors: Vec<Incompatibility>,
    depth: usize,
}

/// Which side of the comparison a definition stack belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Writer,
    Reader,
}

impl<'a> Checker<'a> {
    fn note(&mut self, path: &str, kind: NoteKind) {
        self.notes.push(Note {
            path: path.to_owned(),
            kind,
        });
    }

    fn error(&mut self, path: &str, writer: &Schema, reader: &Schema, kind: IncompatibilityKind) {
        self.errors.push(Incompatibility {
            path: path.to_owned(),
            writer_type: writer.type_expr(),
            reader_type: reader.type_expr(),
            kind,
        });
    }

    fn defs(&mut self, side: Side) -> &mut Vec<&'a Schema> {
        match side {
            Side::Writer => &mut self.writer_defs,
            Side::Reader => &mut self.reader_defs,
        }
    }

    /// The index in `side`'s definition stack of the definition `name` refers to.
    fn resolve(&mut self, side: Side, name: &str) -> Option<usize> {
        self.defs(side)
            .iter()
            .rposition(|def| def.name() == Some(name))
    }

    fn node(&mut self, writer: &'a Schema, reader: &'a Schema, path: &str) {
        if self.depth >= MAX_CHECK_DEPTH {
            self.error(path, writer, reader, IncompatibilityKind::TooDeep);
            return;
        }
        self.depth += 1;
        self.node_inner(writer, reader, path);
        self.depth -= 1;
    }

    fn node_inner(&mut self, writer: &'a Schema, reader: &'a Schema, path: &str) {
        // A reference stands for an enclosing definition. Jump to it with the definition stack
        // cut back to where that definition sits, so that references inside it resolve exactly
        // as they do in the tree (and so the result of comparing a pair does not depend on how
        // it was reached).
        if let Schema::Ref(name) = writer {
            return self.follow_ref(Side::Writer, name, writer, reader, path);
        }
        if let Schema::Ref(name) = reader {
            return self.follow_ref(Side::Reader, name, writer, reader, path);
        }
        match (writer, reader) {
            (Schema::Primitive(w), Schema::Primitive(r)) => {
                if w != r {
                    self.error(path, writer, reader, IncompatibilityKind::TypeChanged);
                }
            }
            (Schema::Bytes, Schema::Bytes) => {}
            (Schema::List(w), Schema::List(r)) => self.node(w, r, &format!("{path}[]")),
            (Schema::Array(w, wn), Schema::Array(r, rn)) => {
                if wn != rn {
                    let kind = IncompatibilityKind::ArrayLength {
                        writer: *wn,
                        reader: *rn,
                    };
                    self.error(path, writer, reader, kind);
                } else {
                    self.node(w, r, &format!("{path}[]"));
                }
            }
            (Schema::Map(wk, wv), Schema::Map(rk, rv)) => {
                self.node(wk, rk, &format!("{path}{{key}}"));
                self.node(wv, rv, &format!("{path}{{value}}"));
            }
            (Schema::Option(w), Schema::Option(r)) => self.node(w, r, &format!("{path}?")),
            (Schema::Tuple(w), Schema::Tuple(r)) => {
                if w.len() != r.len() {
                    let kind = IncompatibilityKind::TupleArity {
                        writer: w.len(),
                        reader: r.len(),
                    };
                    self.error(path, writer, reader, kind);
                } else {
                    for (i, (w, r)) in w.iter().zip(r).enumerate() {
                        self.node(w, r, &format!("{path}.{i}"));
                    }
                }
            }
            (
                Schema::Channel {
                    direction: wd,
                    item: w,
                },
                Schema::Channel {
                    direction: rd,
                    item: r,
                },
            ) => {
                if wd != rd {
                    let kind = IncompatibilityKind::ChannelDirection {
                        writer: *wd,
                        reader: *rd,
                    };
                    self.error(path, writer, reader, kind);
                } else {
                    self.node(w, r, &format!("{path}<item>"));
                }
            }
            (Schema::Struct { .. }, Schema::Struct { .. })
            | (Schema::Enum { .. }, Schema::Enum { .. }) => self.definitions(writer, reader, path),
            _ => self.error(path, writer, reader, IncompatibilityKind::TypeChanged),
        }
    }

    fn follow_ref(
        &mut self,
        side: Side,
        name: &str,
        writer: &'a Schema,
        reader: &'a Schema,
        path: &str,
    ) {
        let Some(index) = self.resolve(side, name) else {
            let kind = IncompatibilityKind::UnresolvedRef {
                name: name.to_owned(),
                in_writer: side == Side::Writer,
            };
            return self.error(path, writer, reader, kind);
        };
        let stack = self.defs(side);
        let tail = stack.split_off(index);
        let target = tail[0];
        match side {
            Side::Writer => self.node(target, reader, path),
            Side::Reader => self.node(writer, target, path),
        }
        self.defs(side).extend(tail);
    }

    /// Two structs or two enums.
    fn definitions(&mut self, writer: &'a Schema, reader: &'a Schema, path: &str) {
        let key = (
            writer as *const Schema as usize,
            reader as *const Schema as usize,
        );
        if !self.seen.insert(key) {
            return;
        }
        if let (Some(w), Some(r)) = (writer.name(), reader.name())
            && w != r
        {
            let kind = NoteKind::Renamed {
                writer: w.to_owned(),
                reader: r.to_owned(),
            };
            self.note(path, kind);
        }
        self.writer_defs.push(writer);
        self.reader_defs.push(reader);
        match (writer, reader) {
            (
                Schema::Struct {
                    kind: wk,
                    fields: wf,
                    ..
                },
                Schema::Struct {
                    kind: rk,
                    fields: rf,
                    ..
                },
            ) => self.fields(writer, reader, (*wk, wf), (*rk, rf), path),
            (Schema::Enum { variants: wv, .. }, Schema::Enum { variants: rv, .. }) => {
                self.variants(writer, reader, wv, rv, path)
            }
            _ => {}
        }
        self.writer_defs.pop();
        self.reader_defs.pop();
    }

    fn variants(
        &mut self,
        writer: &'a Schema,
        reader: &'a Schema,
        wv: &'a [Variant],
        rv: &'a [Variant],
        path: &str,
    ) {
        for w in wv {
            let vpath = format!("{path}::{}", w.name);
            match rv.iter().find(|r| r.name == w.name) {
                Some(r) => self.fields(
                    writer,
                    reader,
                    (w.kind, &w.fields),
                    (r.kind, &r.fields),
                    &vpath,
                ),
                None => self.note(
                    path,
                    NoteKind::VariantUnknownToReader {
                        variant: w.name.clone(),
                    },
                ),
            }
        }
        for r in rv {
            if !wv.iter().any(|w| w.name == r.name) {
                let kind = NoteKind::VariantUnknownToWriter {
                    variant: r.name.clone(),
                };
                self.note(path, kind);
            }
        }
    }

    /// The fields of a struct or of a matched variant. `writer` and `reader` are the enclosing
    /// definitions, named in messages.
    fn fields(
        &mut self,
        writer: &'a Schema,
        reader: &'a Schema,
        (wk, wf): (StructKind, &'a [Field]),
        (rk, rf): (StructKind, &'a [Field]),
        path: &str,
    ) {
        if wk != rk {
            let kind = IncompatibilityKind::StructKindChanged {
                writer: wk,
                reader: rk,
            };
            return self.error(path, writer, reader, kind);
        }
        // Reader positions of the writer's fields, in writer order, to detect reordering.
        let mut last_reader_pos = None;
        let mut reordered = false;
        for w in wf {
            let fpath = format!("{path}.{}", w.name);
            match rf.iter().position(|r| r.name == w.name) {
                Some(pos) => {
                    if last_reader_pos.is_some_and(|last| pos < last) {
                        reordered = true;
                    }
                    last_reader_pos = Some(pos);
                    let r = &rf[pos];
                    if w.default != r.default {
                        let kind = NoteKind::DefaultDiffers {
                            field: w.name.clone(),
                            reader_has_default: r.default,
                        };
                        self.note(path, kind);
                    }
                    self.node(&w.schema, &r.schema, &fpath);
                }
                None => self.note(
                    path,
                    NoteKind::FieldSkipped {
                        field: w.name.clone(),
                    },
                ),
            }
        }
        if reordered {
            self.note(path, NoteKind::FieldsReordered);
        }
        for r in rf {
            if wf.iter().any(|w| w.name == r.name) {
                continue;
            }
            if r.default {
                let kind = NoteKind::FieldDefaulted {
                    field: r.name.clone(),
                };
                self.note(path, kind);
            } else {
                let kind = IncompatibilityKind::MissingField {
                    field: r.name.clone(),
                    field_type: r.schema.type_expr(),
                };
                self.error(&format!("{path}.{}", r.name), writer, reader, kind);
            }
        }
    }
}

/// `path` for messages: the root has an empty path.
struct Where<'a>(&'a str);

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("the top-level value")
        } else {
            write!(f, "`{}`", self.0)
        }
    }
}

fn kind_name(kind: StructKind) -> &'static str {
    match kind {
        StructKind::Named => "named fields",
        StructKind::Tuple => "positional fields",
        StructKind::Unit => "no fields (unit)",
    }
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = Where(&self.path);
        let (w, r) = (&self.writer_type, &self.reader_type);
        match &self.kind {
            IncompatibilityKind::TypeChanged => write!(
                f,
                "{at}: the writer sends `{w}` but the reader expects `{r}`; a type cannot \
                 change (not even to a wider one): keep the old type, or add a new field or \
                 method with the new one"
            ),
            IncompatibilityKind::ArrayLength { writer, reader } => write!(
                f,
                "{at}: the writer sends an array of {writer} items (`{w}`) but the reader \
                 expects {reader} (`{r}`); keep the length, or use a Vec"
            ),
            IncompatibilityKind::TupleArity { writer, reader } => write!(
                f,
                "{at}: the writer sends a tuple of {writer} elements (`{w}`) but the reader \
                 expects {reader} (`{r}`); use a struct with defaulted fields to grow it"
            ),
            IncompatibilityKind::ChannelDirection { writer, reader } => write!(
                f,
                "{at}: the writer's channel is `{}` (`{w}`) but the reader's is `{}` (`{r}`); \
                 a channel cannot change direction",
                writer.rust_name(),
                reader.rust_name()
            ),
            IncompatibilityKind::StructKindChanged { writer, reader } => write!(
                f,
                "{at}: the writer's type `{w}` has {} here but the reader's type `{r}` has {}; \
                 changing between named, positional and unit fields is not compatible, add a \
                 new type instead",
                kind_name(*writer),
                kind_name(*reader)
            ),
            IncompatibilityKind::MissingField { field, field_type } => write!(
                f,
                "field {at}: the reader's type `{r}` requires `{field}: {field_type}`, which \
                 the writer's type `{w}` does not send; give it a default with \
                 #[facet(default)], or add it in a new method instead"
            ),
            IncompatibilityKind::UnresolvedRef { name, in_writer } => write!(
                f,
                "{at}: the {} schema refers to `{name}`, which no enclosing type defines \
                 (writer `{w}`, reader `{r}`); the schema is malformed",
                if *in_writer { "writer's" } else { "reader's" }
            ),
            IncompatibilityKind::TooDeep => write!(
                f,
                "{at}: comparing the writer's `{w}` with the reader's `{r}` nests deeper than \
                 {MAX_CHECK_DEPTH} levels; simplify the types"
            ),
        }
    }
}

impl std::error::Error for Incompatibility {}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = Where(&self.path);
        match &self.kind {
            NoteKind::Renamed { writer, reader } => {
                write!(
                    f,
                    "{at}: the writer calls the type `{writer}`, the reader `{reader}`"
                )
            }
            NoteKind::FieldSkipped { field } => {
                write!(
                    f,
                    "{at}: the reader skips field `{field}`, which only the writer has"
                )
            }
            NoteKind::FieldDefaulted { field } => write!(
                f,
                "{at}: the writer does not send field `{field}`; the reader uses its default"
            ),
            NoteKind::FieldsReordered => {
                write!(f, "{at}: the fields are declared in another order")
            }
            NoteKind::VariantUnknownToReader { variant } => write!(
                f,
                "{at}: the writer may send variant `{variant}`, which the reader does not know; \
                 receiving it fails"
            ),
            NoteKind::VariantUnknownToWriter { variant } => {
                write!(f, "{at}: the writer never sends variant `{variant}`")
            }
            NoteKind::DefaultDiffers {
                field,
                reader_has_default,
            } => write!(
                f,
                "{at}: field `{field}` has a default only on the {} side",
                if *reader_has_default {
                    "reader's"
                } else {
                    "writer's"
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{PrimitiveKind as P, positional_fields};

    fn prim(kind: P) -> Schema {
        Schema::Primitive(kind)
    }

    fn named(name: &str, fields: Vec<Field>) -> Schema {
        Schema::Struct {
            name: name.into(),
            kind: StructKind::Named,
            fields,
        }
    }

    fn enumeration(name: &str, variants: Vec<Variant>) -> Schema {
        Schema::Enum {
            name: name.into(),
            variants,
        }
    }

    fn list(item: Schema) -> Schema {
        Schema::List(Box::new(item))
    }

    fn option(inner: Schema) -> Schema {
        Schema::Option(Box::new(inner))
    }

    fn reference(name: &str) -> Schema {
        Schema::Ref(name.into())
    }

    fn notes(writer: &Schema, reader: &Schema) -> Vec<Note> {
        let compat = check(writer, reader).unwrap_or_else(|e| panic!("incompatible: {e:?}"));
        assert!(!compat.identical);
        compat.notes
    }

    fn errors(writer: &Schema, reader: &Schema) -> Vec<Incompatibility> {
        check(writer, reader).expect_err("expected an incompatibility")
    }

    fn note(path: &str, kind: NoteKind) -> Note {
        Note {
            path: path.into(),
            kind,
        }
    }

    fn order_v1() -> Schema {
        named(
            "OrderV1",
            vec![
                Field::new("id", prim(P::U64)),
                Field::new(
                    "items",
                    list(named(
                        "Item",
                        vec![
                            Field::new("sku", prim(P::String)),
                            Field::new("price", prim(P::U32)),
                        ],
                    )),
                ),
            ],
        )
    }

    #[test]
    fn identical_schemas_are_identical_without_notes() {
        let a = order_v1();
        assert_eq!(
            check(&a, &a.clone()),
            Ok(Compat {
                identical: true,
                notes: vec![]
            })
        );
        assert!(check(&prim(P::U8), &prim(P::U8)).unwrap().identical);
    }

    #[test]
    fn primitives_must_match_exactly() {
        for w in P::ALL {
            for r in P::ALL {
                let result = check(&prim(w), &prim(r));
                if w == r {
                    assert!(result.unwrap().identical);
                } else {
                    let errs = result.unwrap_err();
                    assert_eq!(errs.len(), 1);
                    assert_eq!(errs[0].kind, IncompatibilityKind::TypeChanged);
                    assert_eq!(errs[0].path, "");
                    assert_eq!(errs[0].writer_type, w.rust_name());
                    assert_eq!(errs[0].reader_type, r.rust_name());
                }
            }
        }
        // No widening, not even u32 -> u64.
        let e = errors(&prim(P::U32), &prim(P::U64));
        assert!(e[0].to_string().contains("`u32`"), "{}", e[0]);
        assert!(e[0].to_string().contains("`u64`"), "{}", e[0]);
        assert!(e[0].to_string().contains("top-level value"), "{}", e[0]);
    }

    #[test]
    fn different_node_kinds_are_incompatible() {
        let pairs = [
            (Schema::Bytes, list(prim(P::U8))),
            (list(prim(P::U8)), Schema::Array(Box::new(prim(P::U8)), 1)),
            (option(prim(P::U8)), prim(P::U8)),
            (named("A", vec![]), enumeration("A", vec![])),
            (Schema::Tuple(vec![prim(P::U8)]), prim(P::U8)),
        ];
        for (w, r) in pairs {
            let e = errors(&w, &r);
            assert_eq!(e.len(), 1);
            assert_eq!(e[0].kind, IncompatibilityKind::TypeChanged);
            assert_eq!(e[0].writer_type, w.type_expr());
            assert_eq!(e[0].reader_type, r.type_expr());
        }
    }

    #[test]
    fn containers_compare_recursively_with_paths() {
        let w = named(
            "S",
            vec![
                Field::new("l", list(prim(P::U8))),
                Field::new(
                    "m",
                    Schema::Map(Box::new(prim(P::String)), Box::new(prim(P::I32))),
                ),
                Field::new("o", option(prim(P::Bool))),
                Field::new("t", Schema::Tuple(vec![prim(P::U8), prim(P::Char)])),
                Field::new("a", Schema::Array(Box::new(prim(P::F32)), 2)),
                Field::new(
                    "c",
                    Schema::Channel {
                        direction: ChannelDirection::Tx,
                        item: Box::new(prim(P::U16)),
                    },
                ),
                Field::new("b", Schema::Bytes),
            ],
        );
        // The same, with a different leaf in each container.
        let r = named(
            "S",
            vec![
                Field::new("l", list(prim(P::I8))),
                Field::new(
                    "m",
                    Schema::Map(Box::new(prim(P::U8)), Box::new(prim(P::I64))),
                ),
                Field::new("o", option(prim(P::U8))),
                Field::new("t", Schema::Tuple(vec![prim(P::U8), prim(P::String)])),
                Field::new("a", Schema::Array(Box::new(prim(P::F64)), 2)),
                Field::new(
                    "c",
                    Schema::Channel {
                        direction: ChannelDirection::Tx,
                        item: Box::new(prim(P::U32)),
                    },
                ),
                Field::new("b", Schema::Bytes),
            ],
        );
        let paths: Vec<String> = errors(&w, &r).into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "S.l[]",
                "S.m{key}",
                "S.m{value}",
                "S.o?",
                "S.t.1",
                "S.a[]",
                "S.c<item>"
            ]
        );
        // Equal containers are compatible.
        assert!(check(&w, &w).unwrap().identical);
    }

    #[test]
    fn array_length_tuple_arity_and_channel_direction_must_match() {
        let e = errors(
            &Schema::Array(Box::new(prim(P::U8)), 3),
            &Schema::Array(Box::new(prim(P::U8)), 4),
        );
        assert_eq!(
            e[0].kind,
            IncompatibilityKind::ArrayLength {
                writer: 3,
                reader: 4
            }
        );
        assert_eq!(e[0].writer_type, "[u8; 3]");
        let e = errors(
            &Schema::Tuple(vec![prim(P::U8)]),
            &Schema::Tuple(vec![prim(P::U8), prim(P::U8)]),
        );
        assert_eq!(
            e[0].kind,
            IncompatibilityKind::TupleArity {
                writer: 1,
                reader: 2
            }
        );
        let chan = |direction| Schema::Channel {
            direction,
            item: Box::new(prim(P::U8)),
        };
        let e = errors(&chan(ChannelDirection::Tx), &chan(ChannelDirection::Rx));
        assert_eq!(
            e[0].kind,
            IncompatibilityKind::ChannelDirection {
                writer: ChannelDirection::Tx,
                reader: ChannelDirection::Rx
            }
        );
        assert!(e[0].to_string().contains("Tx<u8>"), "{}", e[0]);
        assert!(e[0].to_string().contains("Rx<u8>"), "{}", e[0]);
    }

    #[test]
    fn renamed_types_are_compatible_with_a_note() {
        let mut renamed = order_v1();
        if let Schema::Struct { name, .. } = &mut renamed {
            *name = "Order".into();
        }
        assert_eq!(
            notes(&order_v1(), &renamed),
            [note(
                "Order",
                NoteKind::Renamed {
                    writer: "OrderV1".into(),
                    reader: "Order".into()
                }
            )]
        );
        let e1 = enumeration("E1", vec![Variant::unit("A")]);
        let e2 = enumeration("E2", vec![Variant::unit("A")]);
        assert_eq!(notes(&e1, &e2).len(), 1);
    }

    #[test]
    fn reordered_and_skipped_fields_are_compatible() {
        let w = named(
            "P",
            vec![
                Field::new("x", prim(P::I32)),
                Field::new("y", prim(P::I32)),
                Field::new("gone", prim(P::String)),
            ],
        );
        let r = named(
            "P",
            vec![Field::new("y", prim(P::I32)), Field::new("x", prim(P::I32))],
        );
        assert_eq!(
            notes(&w, &r),
            [
                note(
                    "P",
                    NoteKind::FieldSkipped {
                        field: "gone".into()
                    }
                ),
                note("P", NoteKind::FieldsReordered),
            ]
        );
    }

    #[test]
    fn reader_only_fields_need_a_default() {
        let w = named("OrderV1", vec![Field::new("id", prim(P::U64))]);
        let r = |default| {
            named(
                "Order",
                vec![
                    Field::new("id", prim(P::U64)),
                    Field {
                        name: "note".into(),
                        schema: prim(P::String),
                        default,
                    },
                ],
            )
        };
        let ok = notes(&w, &r(true));
        assert!(ok.contains(&note(
            "Order",
            NoteKind::FieldDefaulted {
                field: "note".into()
            }
        )));
        let e = errors(&w, &r(false));
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0],
            Incompatibility {
                path: "Order.note".into(),
                writer_type: "OrderV1".into(),
                reader_type: "Order".into(),
                kind: IncompatibilityKind::MissingField {
                    field: "note".into(),
                    field_type: "String".into()
                }
            }
        );
        assert_eq!(
            e[0].to_string(),
            "field `Order.note`: the reader's type `Order` requires `note: String`, which the \
             writer's type `OrderV1` does not send; give it a default with #[facet(default)], \
             or add it in a new method instead"
        );
        // A default on the writer's side only is compatible, and noted.
        let wd = named("T", vec![Field::defaulted("a", prim(P::U8))]);
        let rd = named("T", vec![Field::new("a", prim(P::U8))]);
        assert_eq!(
            notes(&wd, &rd),
            [note(
                "T",
                NoteKind::DefaultDiffers {
                    field: "a".into(),
                    reader_has_default: false
                }
            )]
        );
    }

    #[test]
    fn struct_kinds_must_match() {
        let named_s = named("S", vec![Field::new("0", prim(P::U8))]);
        let tuple_s = Schema::Struct {
            name: "S".into(),
            kind: StructKind::Tuple,
            fields: positional_fields(vec![prim(P::U8)]),
        };
        let unit_s = Schema::Struct {
            name: "S".into(),
            kind: StructKind::Unit,
            fields: vec![],
        };
        let e = errors(&named_s, &tuple_s);
        assert_eq!(
            e[0].kind,
            IncompatibilityKind::StructKindChanged {
                writer: StructKind::Named,
                reader: StructKind::Tuple
            }
        );
        assert_eq!(e[0].path, "S");
        assert!(errors(&unit_s, &tuple_s).len() == 1);
        // Tuple structs match fields by position name: an added defaulted one is fine.
        let tuple_more = Schema::Struct {
            name: "S".into(),
            kind: StructKind::Tuple,
            fields: vec![
                Field::new("0", prim(P::U8)),
                Field::defaulted("1", prim(P::U8)),
            ],
        };
        assert!(check(&tuple_s, &tuple_more).is_ok());
    }

    fn shape_enum(name: &str, extra: bool) -> Schema {
        let mut variants = vec![
            Variant::unit("Empty"),
            Variant {
                name: "Circle".into(),
                kind: StructKind::Named,
                fields: vec![Field::new("radius", prim(P::F64))],
            },
        ];
        if extra {
            variants.insert(1, Variant::tuple("Square", vec![prim(P::F64)]));
        }
        enumeration(name, variants)
    }

    #[test]
    fn writer_only_variants_are_compatible_with_a_note() {
        assert_eq!(
            notes(&shape_enum("Shape", true), &shape_enum("Shape", false)),
            [note(
                "Shape",
                NoteKind::VariantUnknownToReader {
                    variant: "Square".into()
                }
            )]
        );
        assert_eq!(
            notes(&shape_enum("Shape", false), &shape_enum("Shape", true)),
            [note(
                "Shape",
                NoteKind::VariantUnknownToWriter {
                    variant: "Square".into()
                }
            )]
        );
    }

    #[test]
    fn matched_variants_compare_like_structs() {
        let w = enumeration(
            "Shape",
            vec![Variant {
                name: "Circle".into(),
                kind: StructKind::Named,
                fields: vec![Field::new("radius", prim(P::F64))],
            }],
        );
        let retyped = enumeration(
            "Shape",
            vec![Variant {
                name: "Circle".into(),
                kind: StructKind::Named,
                fields: vec![Field::new("radius", prim(P::F32))],
            }],
        );
        let e = errors(&w, &retyped);
        assert_eq!(e[0].path, "Shape::Circle.radius");
        assert_eq!(
            (e[0].writer_type.as_str(), e[0].reader_type.as_str()),
            ("f64", "f32")
        );
        let as_tuple = enumeration("Shape", vec![Variant::tuple("Circle", vec![prim(P::F64)])]);
        let e = errors(&w, &as_tuple);
        assert_eq!(e[0].path, "Shape::Circle");
        assert!(matches!(
            e[0].kind,
            IncompatibilityKind::StructKindChanged { .. }
        ));
        let more = enumeration(
            "Shape",
            vec![Variant {
                name: "Circle".into(),
                kind: StructKind::Named,
                fields: vec![
                    Field::new("radius", prim(P::F64)),
                    Field::new("center", prim(P::F64)),
                ],
            }],
        );
        let e = errors(&w, &more);
        assert_eq!(e[0].path, "Shape::Circle.center");
        assert_eq!(e[0].writer_type, "Shape");
    }

    #[test]
    fn all_incompatibilities_are_collected() {
        let w = named(
            "A",
            vec![
                Field::new("x", prim(P::U8)),
                Field::new("y", list(prim(P::U8))),
            ],
        );
        let r = named(
            "A",
            vec![
                Field::new("x", prim(P::U16)),
                Field::new("y", list(prim(P::I8))),
                Field::new("z", prim(P::Bool)),
            ],
        );
        let e = errors(&w, &r);
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["A.x", "A.y[]", "A.z"]);
    }

    /// `enum Tree { Leaf(u32), Node(Box<Tree>, Box<Tree>) }`, with the leaf type and an
    /// optional extra field on a `Node` variant for evolution.
    fn tree(name: &str, leaf: P, extra_variant: bool) -> Schema {
        let mut variants = vec![
            Variant::tuple("Leaf", vec![prim(leaf)]),
            Variant::tuple("Node", vec![reference(name), reference(name)]),
        ];
        if extra_variant {
            variants.push(Variant::unit("Stump"));
        }
        enumeration(name, variants)
    }

    #[test]
    fn recursive_types_are_compared_coinductively() {
        // Renamed and grown: compatible, and the check terminates.
        let n = notes(&tree("TreeV1", P::U32, true), &tree("Tree", P::U32, false));
        assert_eq!(
            n,
            [
                note(
                    "Tree",
                    NoteKind::Renamed {
                        writer: "TreeV1".into(),
                        reader: "Tree".into()
                    }
                ),
                note(
                    "Tree",
                    NoteKind::VariantUnknownToReader {
                        variant: "Stump".into()
                    }
                ),
            ]
        );
        // A leaf type change is reported once, at the first place it is seen.
        let e = errors(&tree("Tree", P::U32, false), &tree("Tree", P::U64, false));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "Tree::Leaf.0");
    }

    #[test]
    fn references_resolve_to_the_nearest_enclosing_definition() {
        // struct List { head: u8, tail: Option<List> } against the same list written with
        // an inner node type that is itself a list (unrolled once): structurally equal.
        let w = named(
            "List",
            vec![
                Field::new("head", prim(P::U8)),
                Field::new("tail", option(reference("List"))),
            ],
        );
        let unrolled = named(
            "List",
            vec![
                Field::new("head", prim(P::U8)),
                Field::new(
                    "tail",
                    option(named(
                        "Cell",
                        vec![
                            Field::new("head", prim(P::U8)),
                            Field::new("tail", option(reference("List"))),
                        ],
                    )),
                ),
            ],
        );
        let n = notes(&w, &unrolled);
        assert!(
            n.iter().all(|n| matches!(n.kind, NoteKind::Renamed { .. })),
            "{n:?}"
        );
        assert!(check(&unrolled, &w).is_ok());
        // Unrolled with a changed inner leaf: found at the unrolled depth.
        let bad = named(
            "List",
            vec![
                Field::new("head", prim(P::U8)),
                Field::new(
                    "tail",
                    option(named(
                        "Cell",
                        vec![
                            Field::new("head", prim(P::I8)),
                            Field::new("tail", option(reference("List"))),
                        ],
                    )),
                ),
            ],
        );
        let e = errors(&w, &bad);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "List.tail?.head");

        // Mutual recursion: Forest { trees: Vec<Grove { sub: Option<Forest> }> }.
        let forest = |leaf| {
            named(
                "Forest",
                vec![Field::new(
                    "trees",
                    list(named(
                        "Grove",
                        vec![
                            Field::new("name", prim(leaf)),
                            Field::new("sub", option(reference("Forest"))),
                        ],
                    )),
                )],
            )
        };
        assert!(
            check(&forest(P::String), &forest(P::String))
                .unwrap()
                .identical
        );
        let e = errors(&forest(P::String), &forest(P::Char));
        assert_eq!(e[0].path, "Forest.trees[].name");
    }

    #[test]
    fn dangling_references_are_reported_not_followed() {
        let e = errors(&reference("Nowhere"), &prim(P::U8));
        assert_eq!(
            e[0].kind,
            IncompatibilityKind::UnresolvedRef {
                name: "Nowhere".into(),
                in_writer: true
            }
        );
        let e = errors(&prim(P::U8), &reference("Nowhere"));
        assert!(matches!(
            e[0].kind,
            IncompatibilityKind::UnresolvedRef {
                in_writer: false,
                ..
            }
        ));
    }

    #[test]
    fn hostile_nesting_is_bounded() {
        // Far deeper than any accepted canonical schema: still no stack overflow.
        let mut w = prim(P::U8);
        let mut r = prim(P::I8);
        for _ in 0..(MAX_CHECK_DEPTH + 10) {
            w = option(w);
            r = option(r);
        }
        let e = errors(&w, &r);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, IncompatibilityKind::TooDeep);
    }

    #[test]
    fn messages_name_the_path_and_both_types() {
        let e = errors(
            &named("A", vec![Field::new("x", list(prim(P::U8)))]),
            &named("B", vec![Field::new("x", prim(P::U8))]),
        );
        let msg = e[0].to_string();
        assert!(msg.starts_with("`B.x`"), "{msg}");
        assert!(msg.contains("`Vec<u8>`") && msg.contains("`u8`"), "{msg}");
        let err: &dyn std::error::Error = &e[0];
        assert!(err.source().is_none());
        let rendered = note("S", NoteKind::FieldsReordered).to_string();
        assert!(rendered.contains("`S`"));
    }
}
