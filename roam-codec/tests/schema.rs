//! `Shape -> Schema`: the canonical model built from facet shapes, on the kitchen sink.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use common::*;
use facet::Facet;
use roam_codec::schema_of;
use roam_core::schema::{Field, PrimitiveKind, Schema, StructKind, Variant, positional_fields};

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

/// Finds a field's schema by path of names.
fn field<'a>(schema: &'a Schema, name: &str) -> &'a Schema {
    let Schema::Struct { fields, .. } = schema else {
        panic!("not a struct: {schema:?}")
    };
    &fields
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .schema
}

#[test]
fn structs_match_a_hand_built_schema() {
    assert_eq!(schema_of::<Point>().unwrap(), point());
    assert_eq!(
        schema_of::<Pair>().unwrap(),
        Schema::Struct {
            name: "Pair".into(),
            kind: StructKind::Tuple,
            fields: positional_fields(vec![prim(PrimitiveKind::U8), prim(PrimitiveKind::String)]),
        }
    );
    assert_eq!(
        schema_of::<Marker>().unwrap(),
        Schema::Struct {
            name: "Marker".into(),
            kind: StructKind::Unit,
            fields: vec![],
        }
    );
}

#[test]
fn enums_match_a_hand_built_schema() {
    assert_eq!(
        schema_of::<Color>().unwrap(),
        Schema::Enum {
            name: "Color".into(),
            variants: vec![
                Variant::unit("Red"),
                Variant::unit("Green"),
                Variant::unit("Blue")
            ],
        }
    );
    assert_eq!(
        schema_of::<Figure>().unwrap(),
        Schema::Enum {
            name: "Figure".into(),
            variants: vec![
                Variant::unit("Empty"),
                Variant::tuple("Circle", vec![prim(PrimitiveKind::F64)]),
                Variant {
                    name: "Rect".into(),
                    kind: StructKind::Named,
                    fields: vec![
                        Field::new("w", prim(PrimitiveKind::U32)),
                        Field::new("h", prim(PrimitiveKind::U32)),
                    ],
                },
                Variant::tuple(
                    "Poly",
                    vec![Schema::List(Box::new(point())), prim(PrimitiveKind::Bool)]
                ),
            ],
        }
    );
    // Discriminant values are not part of the schema: only order and names are.
    let Schema::Enum { variants, .. } = schema_of::<Sparse>().unwrap() else {
        panic!("enum")
    };
    assert_eq!(variants.len(), 3);
    assert_eq!(variants[2].fields[0].name, "s");
}

#[test]
fn builtin_types_map_to_the_model() {
    assert_eq!(schema_of::<Vec<u8>>().unwrap(), Schema::Bytes);
    assert_eq!(schema_of::<&[u8]>().unwrap(), Schema::Bytes);
    assert_eq!(schema_of::<&str>().unwrap(), prim(PrimitiveKind::String));
    assert_eq!(schema_of::<usize>().unwrap(), prim(PrimitiveKind::U64));
    assert_eq!(schema_of::<isize>().unwrap(), prim(PrimitiveKind::I64));
    assert_eq!(schema_of::<()>().unwrap(), Schema::UNIT);
    assert_eq!(
        schema_of::<[u8; 4]>().unwrap(),
        Schema::Array(Box::new(prim(PrimitiveKind::U8)), 4)
    );
    assert_eq!(
        schema_of::<(u8, String)>().unwrap(),
        Schema::Tuple(vec![prim(PrimitiveKind::U8), prim(PrimitiveKind::String)])
    );
    assert_eq!(schema_of::<Box<Point>>().unwrap(), point());
    assert_eq!(schema_of::<Arc<Point>>().unwrap(), point());
    assert_eq!(schema_of::<&Point>().unwrap(), point());
    let map = Schema::Map(
        Box::new(prim(PrimitiveKind::String)),
        Box::new(prim(PrimitiveKind::U32)),
    );
    assert_eq!(schema_of::<HashMap<String, u32>>().unwrap(), map);
    assert_eq!(schema_of::<BTreeMap<String, u32>>().unwrap(), map);
    assert_eq!(
        schema_of::<Result<u32, String>>().unwrap(),
        Schema::result(prim(PrimitiveKind::U32), prim(PrimitiveKind::String))
    );
    assert_eq!(
        schema_of::<Option<Vec<Point>>>().unwrap(),
        Schema::Option(Box::new(Schema::List(Box::new(point()))))
    );
}

#[test]
fn generic_instantiations_are_named_canonically() {
    assert_eq!(
        schema_of::<Page<Point>>().unwrap().name(),
        Some("Page<Point>")
    );
    assert_eq!(
        schema_of::<Page<Vec<String>>>().unwrap().name(),
        Some("Page<Vec<String>>")
    );
    assert_eq!(
        schema_of::<Page<HashMap<String, Option<u8>>>>()
            .unwrap()
            .name(),
        Some("Page<Map<String, Option<u8>>>")
    );
    assert_eq!(
        schema_of::<Page<(u8,)>>().unwrap().name(),
        Some("Page<(u8,)>")
    );

    #[derive(Facet)]
    struct Grid<T, const N: usize> {
        cells: [T; N],
    }
    let grid = schema_of::<Grid<Page<Point>, 3>>().unwrap();
    assert_eq!(grid.name(), Some("Grid<Page<Point>, 3>"));
    // Different instantiations are different types.
    assert_ne!(
        schema_of::<Page<Point>>().unwrap().content_hash(),
        schema_of::<Page<Pair>>().unwrap().content_hash()
    );
}

#[test]
fn recursion_terminates_with_refs() {
    let tree = schema_of::<Tree>().unwrap();
    let Schema::Enum { variants, .. } = &tree else {
        panic!("enum")
    };
    assert_eq!(
        variants[1].fields[0].schema,
        Schema::Ref("Tree".into()),
        "Box<Tree> inside Tree is a reference"
    );
    let chain = schema_of::<Chain>().unwrap();
    assert_eq!(
        field(&chain, "next"),
        &Schema::Option(Box::new(Schema::Ref("Chain".into())))
    );
    let dir = schema_of::<Dir>().unwrap();
    assert_eq!(
        field(&dir, "children"),
        &Schema::List(Box::new(Schema::Ref("Dir".into())))
    );

    // Mutual recursion: each type is expanded once on the way down.
    #[derive(Facet)]
    struct Forest {
        trees: Vec<Grove>,
    }
    #[derive(Facet)]
    struct Grove {
        name: String,
        sub: Option<Box<Forest>>,
    }
    let forest = schema_of::<Forest>().unwrap();
    let Schema::List(grove) = field(&forest, "trees") else {
        panic!("list")
    };
    assert_eq!(
        field(grove, "sub"),
        &Schema::Option(Box::new(Schema::Ref("Forest".into())))
    );
}

#[test]
fn kitchen_sink_schema_is_finite_stable_and_round_trips() {
    let sink = schema_of::<KitchenSink>().unwrap();
    // A type used twice (Point, inside Page and Figure and Containers) is expanded in place
    // each time rather than referenced, so every use is self-describing.
    let page = field(&sink, "page");
    assert_eq!(page.name(), Some("Page<Point>"));
    assert_eq!(field(page, "items"), &Schema::List(Box::new(point())));

    let bytes = sink.to_canonical_bytes();
    let back = Schema::from_canonical_bytes(&bytes).unwrap();
    assert_eq!(back, sink);
    assert_eq!(
        schema_of::<KitchenSink>().unwrap().content_hash(),
        sink.content_hash()
    );

    // Pinned: these change only if the canonical encoding or the Shape -> Schema mapping
    // changes, which breaks compatibility with every deployed peer.
    assert_eq!(
        point().content_hash(),
        POINT_HASH,
        "{:#018x}",
        point().content_hash()
    );
    assert_eq!(schema_of::<Point>().unwrap().content_hash(), POINT_HASH);
    assert_eq!(
        sink.content_hash(),
        SINK_HASH,
        "{:#018x}",
        sink.content_hash()
    );
}

#[test]
fn facet_default_fields_are_marked_defaulted() {
    fn fallback_limit() -> u32 {
        10
    }
    #[derive(Facet, Debug, PartialEq)]
    struct Query {
        text: String,
        #[facet(default)]
        tags: Vec<String>,
        #[facet(default = fallback_limit())]
        limit: u32,
    }
    assert_eq!(
        schema_of::<Query>().unwrap(),
        Schema::Struct {
            name: "Query".into(),
            kind: StructKind::Named,
            fields: vec![
                Field::new("text", prim(PrimitiveKind::String)),
                Field::defaulted("tags", Schema::List(Box::new(prim(PrimitiveKind::String)))),
                Field::defaulted("limit", prim(PrimitiveKind::U32)),
            ],
        }
    );
    // Defaults on enum variant fields too.
    #[derive(Facet, Debug, PartialEq)]
    #[repr(u8)]
    #[allow(dead_code)]
    enum Event {
        Tick(#[facet(default)] u8),
        Named {
            at: u64,
            #[facet(default)]
            label: Option<String>,
        },
    }
    let Schema::Enum { variants, .. } = schema_of::<Event>().unwrap() else {
        panic!("enum")
    };
    assert!(variants[0].fields[0].default);
    assert!(!variants[1].fields[0].default);
    assert!(variants[1].fields[1].default);
    // The flag is part of the type: the same fields without defaults hash differently.
    #[derive(Facet)]
    struct Plain {
        text: String,
        tags: Vec<String>,
        limit: u32,
    }
    let plain = schema_of::<Plain>().unwrap().to_canonical_bytes();
    let query = schema_of::<Query>().unwrap().to_canonical_bytes();
    assert_ne!(plain[8..], query[8..]);
    // The codec still encodes defaulted fields like any other field.
    let q = Query {
        text: "a".into(),
        tags: vec![],
        limit: 3,
    };
    let bytes = roam_codec::encode_to_vec(&q).unwrap();
    assert_eq!(bytes, [1, b'a', 0, 3]);
    assert_eq!(roam_codec::decode::<Query>(&bytes).unwrap(), q);
}

#[test]
fn schema_and_codec_agree_on_unsupported_types() {
    let err = schema_of::<std::collections::HashSet<u8>>().unwrap_err();
    assert!(err.type_name.contains("HashSet"), "{err}");
    assert!(roam_codec::plan::<std::collections::HashSet<u8>>().is_err());
}

const POINT_HASH: u64 = 0x37c8_40aa_a24e_1c67;
const SINK_HASH: u64 = 0xd462_0720_307a_0945;

#[test]
fn infallible_is_the_empty_enum_both_sides_agree_on() {
    assert_eq!(
        roam_codec::schema_of::<std::convert::Infallible>().unwrap(),
        roam_core::schema::Schema::infallible()
    );
}
