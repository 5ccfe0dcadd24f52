//! `roam schema`: the model as JSON (`--json`) or as a short text outline, and the reading
//! side of that JSON (the baseline `roam check` loads).
//!
//! Owns: the JSON document's shape, documented on [`Document`]. The schema `tree`s are for
//! people; the loader only reads each schema's `canonical` bytes (and checks `hash` against
//! them), so the tree's shape can grow without breaking old baselines.

use roam_codegen::MethodSchemas;
use roam_core::schema::{ChannelDirection, Field, Schema, StructKind};
use serde::{Deserialize, Serialize};

use crate::model::{Model, hex_bytes, hex_u64};

/// The format number written in [`Document::format`].
pub const FORMAT: u32 = 1;

/// The document `roam schema --json` writes:
///
/// ```json
/// {
///   "generator": "roam schema --json (generated file; do not edit)",
///   "format": 1,
///   "services": [{
///     "name": "Calculator", "docs": "...",
///     "methods": [{
///       "name": "add", "id": "0x...", "docs": "Adds two numbers.", "idempotent": true,
///       "args": [{ "name": "a", "type": "i32" }, { "name": "out", "type": "Tx<u32>", "channel": true }],
///       "ok": "i32", "err": null,
///       "schemas": {
///         "args":     { "type": "(i32, i32)", "hash": "0x...", "canonical": "0106...", "tree": {...} },
///         "channels": { ... }, "ok": { ... }, "err": { ... }
///       }
///     }]
///   }]
/// }
/// ```
///
/// `"idempotent": true` is only written for methods marked `#[roam(idempotent)]`, as
/// `"channel": true` only for channel arguments. The format number stays 1: the key is new
/// but optional, and `roam check` does not read it.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    /// Marks the file as generated.
    pub generator: &'static str,
    /// [`FORMAT`].
    pub format: u32,
    /// Services in file order, then source order.
    pub services: Vec<ServiceJson<'a>>,
}

/// One service.
#[derive(Debug, Serialize)]
pub struct ServiceJson<'a> {
    /// The trait's name.
    pub name: &'a str,
    /// The trait's doc comment (normalized; empty if none).
    pub docs: &'a str,
    /// The methods in declaration order.
    pub methods: Vec<MethodJson<'a>>,
}

/// One method.
#[derive(Debug, Serialize)]
pub struct MethodJson<'a> {
    /// The method's name.
    pub name: &'a str,
    /// The method ID, `0x` + 16 hex digits.
    pub id: String,
    /// The doc comment (normalized; empty if none).
    pub docs: &'a str,
    /// `true` for a method marked `#[roam(idempotent)]` (absent otherwise): safe to run more
    /// than once, so a reconnecting client may re-send it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub idempotent: bool,
    /// Every argument except the call context, in order, with its type as written.
    pub args: Vec<ArgJson<'a>>,
    /// The success type as written.
    pub ok: String,
    /// The error type as written, `null` when the method cannot fail.
    pub err: Option<String>,
    /// The canonical schemas.
    pub schemas: SchemasJson<'a>,
}

/// One argument.
#[derive(Debug, Serialize)]
pub struct ArgJson<'a> {
    /// The argument's name.
    pub name: &'a str,
    /// Its type as written.
    #[serde(rename = "type")]
    pub ty: String,
    /// `true` for `Tx`/`Rx` arguments (absent otherwise).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub channel: bool,
    /// Its doc comment, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docs: Option<&'a str>,
}

/// A method's four schemas (see `roam_codegen::schema`).
#[derive(Debug, Serialize)]
pub struct SchemasJson<'a> {
    /// The argument payload.
    pub args: SchemaJson<'a>,
    /// The channel arguments.
    pub channels: SchemaJson<'a>,
    /// The success type.
    pub ok: SchemaJson<'a>,
    /// The error type (`Infallible`, an enum without variants, when the method cannot fail).
    pub err: SchemaJson<'a>,
}

/// One schema.
#[derive(Debug, Serialize)]
pub struct SchemaJson<'a> {
    /// The canonical type expression, e.g. `(i32, Vec<Point>)`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The content hash, `0x` + 16 hex digits.
    pub hash: String,
    /// The canonical bytes in lowercase hex: what `roam check` reads back.
    pub canonical: String,
    /// The schema as a tree, for people.
    pub tree: Node<'a>,
}

impl<'a> SchemaJson<'a> {
    fn new(schema: &'a Schema) -> Self {
        let canonical = schema.to_canonical_bytes();
        SchemaJson {
            ty: schema.type_expr(),
            hash: hex_u64(roam_core::schema::hash_of_canonical_bytes(&canonical)),
            canonical: hex_bytes(&canonical),
            tree: Node::new(schema),
        }
    }
}

/// A schema node, tagged by `kind`.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Node<'a> {
    Primitive {
        name: &'static str,
    },
    Bytes,
    List {
        item: Box<Node<'a>>,
    },
    Array {
        item: Box<Node<'a>>,
        len: u64,
    },
    Map {
        key: Box<Node<'a>>,
        value: Box<Node<'a>>,
    },
    Option {
        inner: Box<Node<'a>>,
    },
    Tuple {
        items: Vec<Node<'a>>,
    },
    Struct {
        name: &'a str,
        shape: &'static str,
        fields: Vec<FieldNode<'a>>,
    },
    Enum {
        name: &'a str,
        variants: Vec<VariantNode<'a>>,
    },
    Ref {
        name: &'a str,
    },
    Channel {
        direction: &'static str,
        item: Box<Node<'a>>,
    },
}

/// A field of a struct or variant.
#[derive(Debug, Serialize)]
pub struct FieldNode<'a> {
    /// The field's name (`"0"`, `"1"`, ... for positional fields).
    pub name: &'a str,
    /// Whether the field has a default.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// The field's type.
    pub schema: Node<'a>,
}

/// A variant of an enum.
#[derive(Debug, Serialize)]
pub struct VariantNode<'a> {
    /// The variant's name.
    pub name: &'a str,
    /// `named`, `tuple` or `unit`.
    pub shape: &'static str,
    /// The variant's fields.
    pub fields: Vec<FieldNode<'a>>,
}

fn shape_name(kind: StructKind) -> &'static str {
    match kind {
        StructKind::Named => "named",
        StructKind::Tuple => "tuple",
        StructKind::Unit => "unit",
    }
}

fn fields(fields: &[Field]) -> Vec<FieldNode<'_>> {
    fields
        .iter()
        .map(|f| FieldNode {
            name: &f.name,
            default: f.default,
            schema: Node::new(&f.schema),
        })
        .collect()
}

impl<'a> Node<'a> {
    /// The tree of `schema`.
    pub fn new(schema: &'a Schema) -> Self {
        let boxed = |s: &'a Schema| Box::new(Node::new(s));
        match schema {
            Schema::Primitive(kind) => Node::Primitive {
                name: kind.rust_name(),
            },
            Schema::Bytes => Node::Bytes,
            Schema::List(item) => Node::List { item: boxed(item) },
            Schema::Array(item, len) => Node::Array {
                item: boxed(item),
                len: *len,
            },
            Schema::Map(key, value) => Node::Map {
                key: boxed(key),
                value: boxed(value),
            },
            Schema::Option(inner) => Node::Option {
                inner: boxed(inner),
            },
            Schema::Tuple(items) => Node::Tuple {
                items: items.iter().map(Node::new).collect(),
            },
            Schema::Struct {
                name,
                kind,
                fields: f,
            } => Node::Struct {
                name,
                shape: shape_name(*kind),
                fields: fields(f),
            },
            Schema::Enum { name, variants } => Node::Enum {
                name,
                variants: variants
                    .iter()
                    .map(|v| VariantNode {
                        name: &v.name,
                        shape: shape_name(v.kind),
                        fields: fields(&v.fields),
                    })
                    .collect(),
            },
            Schema::Ref(name) => Node::Ref { name },
            Schema::Channel { direction, item } => Node::Channel {
                direction: match direction {
                    ChannelDirection::Tx => "tx",
                    ChannelDirection::Rx => "rx",
                },
                item: boxed(item),
            },
        }
    }
}

fn schemas_json(schemas: &MethodSchemas) -> SchemasJson<'_> {
    SchemasJson {
        args: SchemaJson::new(&schemas.args),
        channels: SchemaJson::new(&schemas.channels),
        ok: SchemaJson::new(&schemas.ok),
        err: SchemaJson::new(&schemas.err),
    }
}

/// The document for `model`.
pub fn document(model: &Model) -> Document<'_> {
    Document {
        generator: "roam schema --json (generated file; do not edit)",
        format: FORMAT,
        services: model
            .services
            .iter()
            .map(|service| ServiceJson {
                name: &service.def.name,
                docs: &service.def.doc,
                methods: service
                    .methods()
                    .map(|(method, schemas)| MethodJson {
                        name: &method.name,
                        id: hex_u64(method.id),
                        docs: &method.doc,
                        idempotent: method.idempotent,
                        args: method
                            .args
                            .iter()
                            .map(|a| ArgJson {
                                name: &a.name,
                                ty: a.ty.to_string(),
                                channel: a.ty.is_channel(),
                                docs: a.doc.as_deref(),
                            })
                            .collect(),
                        ok: method.ret.to_string(),
                        err: method.error.as_ref().map(ToString::to_string),
                        schemas: schemas_json(schemas),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Pretty JSON for `model`, ending with a newline.
pub fn render_json(model: &Model) -> String {
    let mut out = serde_json::to_string_pretty(&document(model))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

/// A short text outline of `model`: each method's signature and its schemas' hashes.
pub fn render_text(model: &Model) -> String {
    let mut out = String::new();
    for service in &model.services {
        out.push_str(&format!("service {}\n", service.def.name));
        for (method, schemas) in service.methods() {
            out.push_str(&format!("  {} {}\n", method.name, hex_u64(method.id)));
            for (label, schema) in [
                ("args", &schemas.args),
                ("channels", &schemas.channels),
                ("ok", &schemas.ok),
                ("err", &schemas.err),
            ] {
                out.push_str(&format!(
                    "    {label:<8} {}  {}\n",
                    hex_u64(schema.content_hash()),
                    schema.type_expr()
                ));
            }
        }
    }
    out
}

/// The parts of a baseline document `roam check` reads.
#[derive(Debug, Deserialize)]
pub struct Baseline {
    /// Must be [`FORMAT`].
    pub format: u32,
    /// The services.
    pub services: Vec<BaselineService>,
}

/// A service of a baseline.
#[derive(Debug, Deserialize)]
pub struct BaselineService {
    /// The trait's name.
    pub name: String,
    /// Its methods.
    pub methods: Vec<BaselineMethod>,
}

/// A method of a baseline.
#[derive(Debug, Deserialize)]
pub struct BaselineMethod {
    /// The method's name.
    pub name: String,
    /// Its schemas.
    pub schemas: BaselineSchemas,
}

/// A baseline method's schemas.
#[derive(Debug, Deserialize)]
pub struct BaselineSchemas {
    /// The argument payload.
    pub args: BaselineSchema,
    /// The channel arguments.
    pub channels: BaselineSchema,
    /// The success type.
    pub ok: BaselineSchema,
    /// The error type.
    pub err: BaselineSchema,
}

/// One baseline schema: only its canonical bytes and hash are read.
#[derive(Debug, Deserialize)]
pub struct BaselineSchema {
    /// Lowercase hex of the canonical bytes.
    pub canonical: String,
    /// `0x` + 16 hex digits; checked against `canonical` when present.
    pub hash: Option<String>,
}

impl BaselineSchema {
    /// The schema these canonical bytes encode, or why they are unusable.
    pub fn decode(&self) -> Result<Schema, String> {
        let bytes = crate::model::parse_hex(&self.canonical)
            .ok_or_else(|| "`canonical` is not hex".to_owned())?;
        let schema = Schema::from_canonical_bytes(&bytes)
            .map_err(|e| format!("`canonical` is not a canonical schema: {e}"))?;
        if let Some(hash) = &self.hash {
            let actual = hex_u64(roam_core::schema::hash_of_canonical_bytes(&bytes));
            if !hash.eq_ignore_ascii_case(&actual) {
                return Err(format!(
                    "`hash` {hash} does not match the canonical bytes (which hash to {actual}); was the file edited by hand?"
                ));
            }
        }
        Ok(schema)
    }
}
