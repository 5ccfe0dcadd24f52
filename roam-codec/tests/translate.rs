//! Translation plans: values encoded with one version of a type, decoded as another through
//! `Translation::compile(&schema_of::<V1>(), V2::SHAPE)`. Each compatible change is checked on
//! exact values; each incompatible one on its error; bad input on errors without panics or
//! leaks (with a counting allocator).

mod leaks;

use leaks::live;
use std::collections::{BTreeMap, HashMap};

use facet::Facet;
use proptest::prelude::*;
use roam_codec::translate::{TranslateError, Translation, decode_translated, translation_for};
use roam_codec::{DecodeError, MAX_DEPTH, encode_to_vec, schema_of};
use roam_core::compat::{IncompatibilityKind, NoteKind};

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

fn compile<W: Facet<'static>, R: Facet<'static>>() -> Translation {
    let writer = schema_of::<W>().unwrap();
    Translation::compile(&writer, R::SHAPE).unwrap_or_else(|e| panic!("{e}"))
}

/// Encodes `value` as `W` and decodes it as `R` through a translation.
fn translate<W: Facet<'static>, R: Facet<'static>>(value: &W) -> Result<R, DecodeError> {
    let t = compile::<W, R>();
    assert!(!t.is_identity(), "expected a non-identity translation");
    decode_translated::<R>(&t, &encode_to_vec(value).unwrap())
}

fn incompatible<W: Facet<'static>, R: Facet<'static>>() -> Vec<roam_core::compat::Incompatibility> {
    let writer = schema_of::<W>().unwrap();
    match Translation::compile(&writer, R::SHAPE) {
        Err(TranslateError::Incompatible(problems)) => problems,
        Err(other) => panic!("expected Incompatible, got {other}"),
        Ok(_) => panic!("expected Incompatible, got a translation"),
    }
}

/// Decoding `bytes` through `t` fails, and the attempt leaks nothing.
fn translated_err<R: Facet<'static>>(t: &Translation, bytes: &[u8]) -> DecodeError {
    let before = live();
    let err = match decode_translated::<R>(t, bytes) {
        Ok(_) => panic!("expected an error for {bytes:02x?}"),
        Err(e) => e,
    };
    // Only `Unsupported` and `VariantUnknownToReader` own heap memory.
    if !matches!(
        err,
        DecodeError::Unsupported(_) | DecodeError::VariantUnknownToReader { .. }
    ) {
        assert_eq!(live() - before, 0, "leaked: {err}");
    }
    err
}

// ------------------------------------------------------------------------------------------
// Versions of an order type
// ------------------------------------------------------------------------------------------

mod v1 {
    use super::*;

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Item {
        pub sku: String,
        pub price: u32,
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Order {
        pub id: u64,
        pub items: Vec<Item>,
        pub paid: bool,
    }

    pub fn order() -> Order {
        Order {
            id: 42,
            items: vec![
                Item {
                    sku: "apple".into(),
                    price: 3,
                },
                Item {
                    sku: "pear".into(),
                    price: 5,
                },
            ],
            paid: true,
        }
    }
}

mod added {
    use super::*;

    fn five() -> u8 {
        5
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Item {
        pub sku: String,
        pub price: u32,
        #[facet(default)]
        pub tags: Vec<String>,
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Order {
        pub id: u64,
        pub items: Vec<Item>,
        pub paid: bool,
        #[facet(default)]
        pub note: String,
        #[facet(default = five())]
        pub priority: u8,
    }
}

#[test]
fn added_fields_with_defaults_are_filled_in() {
    let t = compile::<v1::Order, added::Order>();
    let notes: Vec<_> = t.notes().iter().map(|n| n.kind.clone()).collect();
    assert!(notes.contains(&NoteKind::FieldDefaulted {
        field: "note".into()
    }));
    assert!(notes.contains(&NoteKind::FieldDefaulted {
        field: "tags".into()
    }));
    let got: added::Order = translate(&v1::order()).unwrap();
    assert_eq!(
        got,
        added::Order {
            id: 42,
            items: vec![
                added::Item {
                    sku: "apple".into(),
                    price: 3,
                    tags: vec![],
                },
                added::Item {
                    sku: "pear".into(),
                    price: 5,
                    tags: vec![],
                },
            ],
            paid: true,
            note: String::new(),
            priority: 5,
        }
    );
}

mod removed {
    use super::*;

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Order {
        pub id: u64,
        pub paid: bool,
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    #[repr(u8)]
    pub enum Mood {
        Calm,
        Busy { since: u64, why: String },
    }

    /// A writer with fields of every kind that the reader drops.
    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Wide {
        pub gone_text: String,
        pub id: u64,
        pub gone_list: Vec<Vec<i16>>,
        pub gone_map: BTreeMap<String, Option<f64>>,
        pub gone_enum: Mood,
        pub gone_tuple: (char, [u8; 3], ()),
        pub gone_bytes: Vec<u8>,
        pub gone_box: Box<Order>,
        pub gone_big: (u128, i128, f32),
        pub paid: bool,
    }
}

#[test]
fn removed_fields_are_skipped() {
    let got: removed::Order = translate(&v1::order()).unwrap();
    assert_eq!(got, removed::Order { id: 42, paid: true });

    let wide = removed::Wide {
        gone_text: "x".repeat(300),
        id: 7,
        gone_list: vec![vec![-1, 2, -300], vec![]],
        gone_map: BTreeMap::from([("a".into(), Some(1.5)), ("b".into(), None)]),
        gone_enum: removed::Mood::Busy {
            since: u64::MAX,
            why: "é".into(),
        },
        gone_tuple: ('ß', [1, 2, 3], ()),
        gone_bytes: vec![0xff; 200],
        gone_box: Box::new(removed::Order { id: 1, paid: false }),
        gone_big: (u128::MAX, i128::MIN, -0.5),
        paid: false,
    };
    let got: removed::Order = translate(&wide).unwrap();
    assert_eq!(got, removed::Order { id: 7, paid: false });
}

mod reordered {
    use super::*;

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Item {
        pub price: u32,
        pub sku: String,
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Order {
        pub paid: bool,
        pub items: Vec<Item>,
        pub id: u64,
    }
}

#[test]
fn reordered_fields_land_in_place() {
    let t = compile::<v1::Order, reordered::Order>();
    assert!(
        t.notes()
            .iter()
            .any(|n| n.kind == NoteKind::FieldsReordered)
    );
    let got: reordered::Order = translate(&v1::order()).unwrap();
    assert_eq!(
        got,
        reordered::Order {
            paid: true,
            items: vec![
                reordered::Item {
                    price: 3,
                    sku: "apple".into()
                },
                reordered::Item {
                    price: 5,
                    sku: "pear".into()
                },
            ],
            id: 42,
        }
    );
}

mod renamed {
    use super::*;

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct LineItem {
        pub sku: String,
        pub price: u32,
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Purchase {
        pub id: u64,
        pub items: Vec<LineItem>,
        pub paid: bool,
    }
}

#[test]
fn renamed_types_translate_with_identical_layout() {
    let t = compile::<v1::Order, renamed::Purchase>();
    assert!(t.notes().iter().any(|n| n.kind
        == NoteKind::Renamed {
            writer: "Order".into(),
            reader: "Purchase".into()
        }));
    let got: renamed::Purchase = translate(&v1::order()).unwrap();
    assert_eq!(got.id, 42);
    assert!(got.paid);
    assert_eq!(
        got.items,
        [
            renamed::LineItem {
                sku: "apple".into(),
                price: 3
            },
            renamed::LineItem {
                sku: "pear".into(),
                price: 5
            }
        ]
    );
}

// ------------------------------------------------------------------------------------------
// Enums
// ------------------------------------------------------------------------------------------

mod shapes_v1 {
    use super::*;

    #[derive(Facet, Debug, Clone, PartialEq)]
    #[repr(u8)]
    pub enum Shape {
        Empty,
        Circle { radius: f64 },
        Rect(u32, u32),
    }
}

mod shapes_v2 {
    use super::*;

    /// A variant inserted in the middle, so every later index shifts.
    #[derive(Facet, Debug, Clone, PartialEq)]
    #[repr(u8)]
    pub enum Shape {
        Empty,
        Square(u32),
        Circle {
            radius: f64,
            #[facet(default)]
            filled: bool,
        },
        Rect(u32, u32),
    }
}

#[test]
fn known_variants_of_a_larger_writer_enum_are_remapped() {
    let t = compile::<shapes_v2::Shape, shapes_v1::Shape>();
    assert!(t.notes().iter().any(|n| n.kind
        == NoteKind::VariantUnknownToReader {
            variant: "Square".into()
        }));
    let cases = [
        (shapes_v2::Shape::Empty, shapes_v1::Shape::Empty),
        (
            shapes_v2::Shape::Circle {
                radius: 1.5,
                filled: true,
            },
            shapes_v1::Shape::Circle { radius: 1.5 },
        ),
        (shapes_v2::Shape::Rect(3, 4), shapes_v1::Shape::Rect(3, 4)),
    ];
    for (written, expected) in cases {
        let bytes = encode_to_vec(&written).unwrap();
        assert_eq!(
            decode_translated::<shapes_v1::Shape>(&t, &bytes).unwrap(),
            expected
        );
    }
}

#[test]
fn a_writer_only_variant_gives_a_typed_error() {
    let t = compile::<shapes_v2::Shape, shapes_v1::Shape>();
    let bytes = encode_to_vec(&shapes_v2::Shape::Square(9)).unwrap();
    let err = translated_err::<shapes_v1::Shape>(&t, &bytes);
    let DecodeError::VariantUnknownToReader { variant, index, at } = &err else {
        panic!("unexpected error {err}")
    };
    assert_eq!(variant, "Square");
    assert_eq!(*index, 1);
    assert_eq!(at.type_name, "Shape");
    let message = err.to_string();
    assert!(
        message.contains("`Square`") && message.contains("`Shape`"),
        "{message}"
    );

    // An index beyond every writer variant is the ordinary error.
    let err = translated_err::<shapes_v1::Shape>(&t, &[9]);
    assert!(
        matches!(
            err,
            DecodeError::UnknownVariant {
                index: 9,
                variants: 4,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_reader_with_more_variants_reads_a_smaller_writer() {
    let t = compile::<shapes_v1::Shape, shapes_v2::Shape>();
    let cases = [
        (shapes_v1::Shape::Empty, shapes_v2::Shape::Empty),
        (
            shapes_v1::Shape::Circle { radius: -2.0 },
            shapes_v2::Shape::Circle {
                radius: -2.0,
                filled: false,
            },
        ),
        (shapes_v1::Shape::Rect(1, 2), shapes_v2::Shape::Rect(1, 2)),
    ];
    for (written, expected) in cases {
        let bytes = encode_to_vec(&written).unwrap();
        assert_eq!(
            decode_translated::<shapes_v2::Shape>(&t, &bytes).unwrap(),
            expected
        );
    }
}

// ------------------------------------------------------------------------------------------
// Changes nested inside containers
// ------------------------------------------------------------------------------------------

mod nested_v1 {
    use super::*;

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Point {
        pub x: i32,
        pub y: i32,
        pub label: String,
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Drawing {
        pub list: Vec<Point>,
        pub maybe: Option<Point>,
        pub none: Option<Point>,
        pub map: HashMap<String, Point>,
        pub boxed: Box<Point>,
        pub array: [Point; 2],
        pub tuple: (u8, Point),
        pub result: Result<Point, String>,
        pub failed: Result<Point, String>,
        pub shared: std::sync::Arc<Point>,
    }
}

mod nested_v2 {
    use super::*;

    /// `label` removed, `z` added with a default, fields reordered.
    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Point {
        pub y: i32,
        #[facet(default)]
        pub z: i32,
        pub x: i32,
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Drawing {
        pub list: Vec<Point>,
        pub maybe: Option<Point>,
        pub none: Option<Point>,
        pub map: HashMap<String, Point>,
        pub boxed: Box<Point>,
        pub array: [Point; 2],
        pub tuple: (u8, Point),
        pub result: Result<Point, String>,
        pub failed: Result<Point, String>,
        pub shared: std::sync::Arc<Point>,
    }
}

#[test]
fn changes_nested_in_containers_are_translated() {
    let p = |x: i32, y: i32| nested_v1::Point {
        x,
        y,
        label: format!("p{x}"),
    };
    let q = |x: i32, y: i32| nested_v2::Point { y, z: 0, x };
    let drawing = nested_v1::Drawing {
        list: vec![p(1, 2), p(3, 4), p(-5, 6)],
        maybe: Some(p(7, 8)),
        none: None,
        map: HashMap::from([("a".into(), p(9, 10)), ("b".into(), p(11, 12))]),
        boxed: Box::new(p(13, 14)),
        array: [p(15, 16), p(17, 18)],
        tuple: (19, p(20, 21)),
        result: Ok(p(22, 23)),
        failed: Err("nope".into()),
        shared: std::sync::Arc::new(p(24, 25)),
    };
    let got: nested_v2::Drawing = translate(&drawing).unwrap();
    assert_eq!(
        got,
        nested_v2::Drawing {
            list: vec![q(1, 2), q(3, 4), q(-5, 6)],
            maybe: Some(q(7, 8)),
            none: None,
            map: HashMap::from([("a".into(), q(9, 10)), ("b".into(), q(11, 12))]),
            boxed: Box::new(q(13, 14)),
            array: [q(15, 16), q(17, 18)],
            tuple: (19, q(20, 21)),
            result: Ok(q(22, 23)),
            failed: Err("nope".into()),
            shared: std::sync::Arc::new(q(24, 25)),
        }
    );
}

#[test]
fn a_top_level_argument_tuple_is_translated() {
    // Method arguments travel as a tuple; one of them evolved.
    let args = (
        5u32,
        nested_v1::Point {
            x: 1,
            y: 2,
            label: "l".into(),
        },
    );
    let got: (u32, nested_v2::Point) = translate(&args).unwrap();
    assert_eq!(got, (5, nested_v2::Point { y: 2, z: 0, x: 1 }));
}

// ------------------------------------------------------------------------------------------
// Recursive types
// ------------------------------------------------------------------------------------------

mod tree_v1 {
    use super::*;

    #[derive(Facet, Debug, Clone, PartialEq)]
    #[repr(u8)]
    pub enum Tree {
        Leaf { value: i64, label: String },
        Node(Box<Tree>, Box<Tree>),
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Dir {
        pub name: String,
        pub size: u64,
        pub children: Vec<Dir>,
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Chain {
        pub value: u8,
        pub next: Option<Box<Chain>>,
    }
}

mod tree_v2 {
    use super::*;

    #[derive(Facet, Debug, Clone, PartialEq)]
    #[repr(u8)]
    pub enum Tree {
        Leaf {
            value: i64,
            #[facet(default)]
            weight: u32,
        },
        Node(Box<Tree>, Box<Tree>),
        Empty,
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Dir {
        pub children: Vec<Dir>,
        pub name: String,
        #[facet(default)]
        pub hidden: bool,
    }

    #[derive(Facet, Debug, Clone, PartialEq)]
    pub struct Link {
        pub next: Option<Box<Link>>,
        pub value: u8,
    }
}

#[test]
fn recursive_types_are_translated() {
    use tree_v1::Tree as T1;
    use tree_v2::Tree as T2;
    let leaf1 = |v: i64| T1::Leaf {
        value: v,
        label: format!("leaf {v}"),
    };
    let leaf2 = |v: i64| T2::Leaf {
        value: v,
        weight: 0,
    };
    let tree = T1::Node(
        Box::new(leaf1(1)),
        Box::new(T1::Node(Box::new(leaf1(2)), Box::new(leaf1(3)))),
    );
    let got: T2 = translate(&tree).unwrap();
    assert_eq!(
        got,
        T2::Node(
            Box::new(leaf2(1)),
            Box::new(T2::Node(Box::new(leaf2(2)), Box::new(leaf2(3))))
        )
    );

    let dir = tree_v1::Dir {
        name: "/".into(),
        size: 1,
        children: vec![
            tree_v1::Dir {
                name: "a".into(),
                size: 2,
                children: vec![],
            },
            tree_v1::Dir {
                name: "b".into(),
                size: 3,
                children: vec![tree_v1::Dir {
                    name: "c".into(),
                    size: 4,
                    children: vec![],
                }],
            },
        ],
    };
    let got: tree_v2::Dir = translate(&dir).unwrap();
    let d = |name: &str, children| tree_v2::Dir {
        children,
        name: name.into(),
        hidden: false,
    };
    assert_eq!(
        got,
        d("/", vec![d("a", vec![]), d("b", vec![d("c", vec![])])])
    );

    let chain = tree_v1::Chain {
        value: 1,
        next: Some(Box::new(tree_v1::Chain {
            value: 2,
            next: None,
        })),
    };
    let got: tree_v2::Link = translate(&chain).unwrap();
    assert_eq!(
        got,
        tree_v2::Link {
            next: Some(Box::new(tree_v2::Link {
                next: None,
                value: 2
            })),
            value: 1
        }
    );
}

#[test]
fn skipping_a_recursive_value_is_depth_limited() {
    #[derive(Facet, Debug)]
    struct WithChain {
        id: u8,
        chain: Option<Box<tree_v1::Chain>>,
    }
    #[derive(Facet, Debug, PartialEq)]
    struct WithoutChain {
        id: u8,
    }
    let t = compile::<WithChain, WithoutChain>();
    // A short chain is skipped.
    let short = WithChain {
        id: 3,
        chain: Some(Box::new(tree_v1::Chain {
            value: 1,
            next: None,
        })),
    };
    let bytes = encode_to_vec(&short).unwrap();
    assert_eq!(
        decode_translated::<WithoutChain>(&t, &bytes).unwrap(),
        WithoutChain { id: 3 }
    );
    // A chain of MAX_DEPTH links, written by hand: id, then `Some, value` per link, then None.
    let mut bytes = vec![3];
    for _ in 0..MAX_DEPTH {
        bytes.extend([1, 7]);
    }
    bytes.push(0);
    let err = translated_err::<WithoutChain>(&t, &bytes);
    assert!(
        matches!(err, DecodeError::DepthLimitExceeded { .. }),
        "{err}"
    );
}

// ------------------------------------------------------------------------------------------
// Incompatible changes
// ------------------------------------------------------------------------------------------

mod retyped {
    use super::*;

    #[derive(Facet, Debug)]
    pub struct Item {
        pub sku: String,
        pub price: u64,
    }

    #[derive(Facet, Debug)]
    pub struct Order {
        pub id: u64,
        pub items: Vec<Item>,
        pub paid: bool,
    }
}

#[test]
fn a_changed_type_is_incompatible() {
    let problems = incompatible::<v1::Order, retyped::Order>();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "Order.items[].price");
    assert_eq!(problems[0].kind, IncompatibilityKind::TypeChanged);
    let writer = schema_of::<v1::Order>().unwrap();
    let err = Translation::compile(&writer, retyped::Order::SHAPE).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("`Order.items[].price`"), "{message}");
    assert!(
        message.contains("`u32`") && message.contains("`u64`"),
        "{message}"
    );
}

mod required {
    use super::*;

    #[derive(Facet, Debug)]
    pub struct OrderV1 {
        pub id: u64,
    }

    #[derive(Facet, Debug)]
    pub struct Order {
        pub id: u64,
        pub note: String,
    }
}

#[test]
fn a_new_field_without_default_is_incompatible() {
    let problems = incompatible::<required::OrderV1, required::Order>();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "Order.note");
    assert_eq!(
        problems[0].kind,
        IncompatibilityKind::MissingField {
            field: "note".into(),
            field_type: "String".into()
        }
    );
    let message = translation_for::<required::Order>(&schema_of::<required::OrderV1>().unwrap())
        .unwrap_err()
        .to_string();
    assert!(message.contains("`Order.note`"), "{message}");
    assert!(
        message.contains("`Order`") && message.contains("`OrderV1`"),
        "{message}"
    );
    assert!(message.contains("#[facet(default)]"), "{message}");
}

mod kinds {
    use super::*;

    #[derive(Facet, Debug)]
    pub struct Named {
        pub a: u8,
    }
}

mod kinds2 {
    use super::*;

    #[derive(Facet, Debug)]
    pub struct Named(pub u8);
}

#[test]
fn a_changed_struct_kind_is_incompatible() {
    let problems = incompatible::<kinds::Named, kinds2::Named>();
    assert_eq!(problems.len(), 1);
    assert!(matches!(
        problems[0].kind,
        IncompatibilityKind::StructKindChanged { .. }
    ));
    let message = problems[0].to_string();
    assert!(message.contains("`Named`"), "{message}");
}

#[test]
fn every_problem_is_listed() {
    #[derive(Facet)]
    struct W {
        a: u8,
        b: String,
    }
    #[derive(Facet)]
    struct R {
        a: i8,
        b: Vec<u8>,
        c: bool,
    }
    let problems = incompatible::<W, R>();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["R.a", "R.b", "R.c"]);
    let writer = schema_of::<W>().unwrap();
    let message = Translation::compile(&writer, R::SHAPE)
        .unwrap_err()
        .to_string();
    assert!(message.contains("3 problems"), "{message}");
    assert_eq!(message.lines().count(), 4, "{message}");
}

// ------------------------------------------------------------------------------------------
// Identity, misuse
// ------------------------------------------------------------------------------------------

#[test]
fn identical_schemas_use_the_ordinary_plan() {
    let t = compile::<v1::Order, v1::Order>();
    assert!(t.is_identity());
    assert!(t.notes().is_empty());
    let bytes = encode_to_vec(&v1::order()).unwrap();
    assert_eq!(
        decode_translated::<v1::Order>(&t, &bytes).unwrap(),
        v1::order()
    );
    // Trailing bytes are refused either way.
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        decode_translated::<v1::Order>(&t, &long),
        Err(DecodeError::TrailingBytes { .. })
    ));
    let t = compile::<v1::Order, added::Order>();
    long = encode_to_vec(&v1::order()).unwrap();
    long.push(0);
    assert!(matches!(
        translated_err::<added::Order>(&t, &long),
        DecodeError::TrailingBytes { .. }
    ));
}

#[test]
fn decoding_into_another_type_than_compiled_for_is_refused() {
    let t = compile::<v1::Order, added::Order>();
    let bytes = encode_to_vec(&v1::order()).unwrap();
    assert!(matches!(
        decode_translated::<reordered::Order>(&t, &bytes),
        Err(DecodeError::Unsupported(_))
    ));
}

#[test]
fn translations_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Translation>();
    // And usable from another thread.
    let t = compile::<v1::Order, added::Order>();
    let bytes = encode_to_vec(&v1::order()).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let got = decode_translated::<added::Order>(&t, &bytes).unwrap();
            assert_eq!(got.id, 42);
        });
    });
}

#[test]
fn a_custom_default_works_for_a_type_without_default() {
    #[derive(Facet, Debug)]
    struct NoDefault {
        n: u8,
    }
    #[derive(Facet, Debug)]
    struct W {
        a: u8,
    }
    #[derive(Facet, Debug)]
    struct R {
        a: u8,
        // A custom default works for any type.
        #[facet(default = NoDefault { n: 4 })]
        b: NoDefault,
    }
    let t = compile::<W, R>();
    let got: R = decode_translated(&t, &[1]).unwrap();
    assert_eq!((got.a, got.b.n), (1, 4));
}

// ------------------------------------------------------------------------------------------
// Bad input
// ------------------------------------------------------------------------------------------

#[test]
fn every_truncation_is_an_error_without_leaks() {
    let t = compile::<nested_v1::Drawing, nested_v2::Drawing>();
    let drawing = nested_v1::Drawing {
        list: vec![nested_v1::Point {
            x: 1,
            y: 2,
            label: "one".into(),
        }],
        maybe: Some(nested_v1::Point {
            x: 3,
            y: 4,
            label: "two".into(),
        }),
        none: None,
        map: HashMap::from([(
            "k".into(),
            nested_v1::Point {
                x: 5,
                y: 6,
                label: "three".into(),
            },
        )]),
        boxed: Box::new(nested_v1::Point {
            x: 7,
            y: 8,
            label: String::new(),
        }),
        array: [
            nested_v1::Point {
                x: 9,
                y: 10,
                label: "a".into(),
            },
            nested_v1::Point {
                x: 11,
                y: 12,
                label: "b".into(),
            },
        ],
        tuple: (
            1,
            nested_v1::Point {
                x: 13,
                y: 14,
                label: "t".into(),
            },
        ),
        result: Ok(nested_v1::Point {
            x: 15,
            y: 16,
            label: "r".into(),
        }),
        failed: Err("e".into()),
        shared: std::sync::Arc::new(nested_v1::Point {
            x: 17,
            y: 18,
            label: "s".into(),
        }),
    };
    let bytes = encode_to_vec(&drawing).unwrap();
    // Warm up one-time allocations (plans of the nested types, interned names).
    let _ = decode_translated::<nested_v2::Drawing>(&t, &bytes).unwrap();
    for end in 0..bytes.len() {
        let err = translated_err::<nested_v2::Drawing>(&t, &bytes[..end]);
        assert!(err.location().is_some(), "{err}");
    }
}

#[test]
fn skipped_lengths_are_bounded_before_looping() {
    #[derive(Facet, Debug)]
    struct W {
        a: u8,
        units: Vec<()>,
        texts: Vec<String>,
        raw: Vec<u8>,
    }
    #[derive(Facet, Debug, PartialEq)]
    struct R {
        a: u8,
    }
    let t = compile::<W, R>();
    let ok = encode_to_vec(&W {
        a: 1,
        units: vec![(); 3],
        texts: vec!["x".into()],
        raw: vec![1, 2],
    })
    .unwrap();
    assert_eq!(decode_translated::<R>(&t, &ok).unwrap(), R { a: 1 });

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        out
    }
    // 2^40 zero-byte items: over the budget, refused without looping.
    let mut units = vec![1];
    units.extend(varint(1 << 40));
    let err = translated_err::<R>(&t, &units);
    assert!(
        matches!(err, DecodeError::TooManyEmptyItems { .. }),
        "{err}"
    );
    // A billion strings in a handful of bytes.
    let mut texts = vec![1, 0];
    texts.extend(varint(1_000_000_000));
    let err = translated_err::<R>(&t, &texts);
    assert!(
        matches!(err, DecodeError::LengthExceedsInput { .. }),
        "{err}"
    );
    // A byte buffer longer than the input.
    let mut raw = vec![1, 0, 0];
    raw.extend(varint(1000));
    raw.extend([0; 10]);
    let err = translated_err::<R>(&t, &raw);
    assert!(
        matches!(err, DecodeError::LengthExceedsInput { .. }),
        "{err}"
    );
    // Invalid UTF-8 in a skipped string, and a bad varint.
    let err = translated_err::<R>(&t, &[1, 0, 1, 1, 0xff, 0]);
    assert!(matches!(err, DecodeError::InvalidUtf8 { .. }), "{err}");
    let err = translated_err::<R>(
        &t,
        &[
            1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ],
    );
    assert!(matches!(err, DecodeError::BadVarint { .. }), "{err}");
}

#[test]
fn a_failure_after_defaults_and_containers_frees_everything_once() {
    // The reader fills `note` and builds `items` before the writer's `paid` byte turns out
    // to be invalid: both must be dropped exactly once.
    #[derive(Facet, Debug)]
    struct W {
        items: Vec<String>,
        paid: bool,
    }
    #[derive(Facet, Debug)]
    struct R {
        #[facet(default = String::from("a default that owns memory"))]
        note: String,
        items: Vec<String>,
        paid: bool,
    }
    let t = compile::<W, R>();
    let mut bytes = encode_to_vec(&W {
        items: vec!["x".repeat(100), "y".repeat(50)],
        paid: true,
    })
    .unwrap();
    let last = bytes.len() - 1;
    bytes[last] = 7;
    let err = translated_err::<R>(&t, &bytes);
    assert!(
        matches!(err, DecodeError::InvalidBool { byte: 7, .. }),
        "{err}"
    );
}

// ------------------------------------------------------------------------------------------
// Property tests
// ------------------------------------------------------------------------------------------

#[derive(Facet, Debug, Clone, PartialEq)]
struct InnerW {
    y: i32,
    dropped: f64,
    x: i32,
}

#[derive(Facet, Debug, Clone, PartialEq)]
#[repr(u8)]
enum KindW {
    A,
    B(String),
    C { n: u16 },
}

/// The writer: the reader's fields in another order, plus `extra`.
#[derive(Facet, Debug, Clone, PartialEq)]
struct Writer {
    flag: bool,
    inner: Vec<InnerW>,
    extra: Vec<Option<String>>,
    kind: KindW,
    a: u64,
    b: String,
}

#[derive(Facet, Debug, Clone, PartialEq)]
struct InnerR {
    x: i32,
    y: i32,
    #[facet(default)]
    z: u8,
}

#[derive(Facet, Debug, Clone, PartialEq)]
#[repr(u8)]
enum KindR {
    A,
    B(String),
    C { n: u16 },
}

#[derive(Facet, Debug, Clone, PartialEq)]
struct Reader {
    a: u64,
    b: String,
    kind: KindR,
    flag: bool,
    inner: Vec<InnerR>,
}

fn writer_values() -> impl Strategy<Value = Writer> {
    let inner = (any::<i32>(), any::<f64>(), any::<i32>()).prop_map(|(y, dropped, x)| InnerW {
        y,
        dropped,
        x,
    });
    let kind = prop_oneof![
        Just(KindW::A),
        ".{0,8}".prop_map(KindW::B),
        any::<u16>().prop_map(|n| KindW::C { n }),
    ];
    (
        any::<bool>(),
        prop::collection::vec(inner, 0..5),
        prop::collection::vec(prop::option::of(".{0,6}"), 0..4),
        kind,
        any::<u64>(),
        ".{0,12}",
    )
        .prop_map(|(flag, inner, extra, kind, a, b)| Writer {
            flag,
            inner,
            extra,
            kind,
            a,
            b,
        })
}

fn expected(w: &Writer) -> Reader {
    Reader {
        a: w.a,
        b: w.b.clone(),
        kind: match &w.kind {
            KindW::A => KindR::A,
            KindW::B(s) => KindR::B(s.clone()),
            KindW::C { n } => KindR::C { n: *n },
        },
        flag: w.flag,
        inner: w
            .inner
            .iter()
            .map(|i| InnerR {
                x: i.x,
                y: i.y,
                z: 0,
            })
            .collect(),
    }
}

fn translation() -> &'static Translation {
    static T: std::sync::OnceLock<Translation> = std::sync::OnceLock::new();
    T.get_or_init(compile::<Writer, Reader>)
}

proptest! {
    #[test]
    fn translated_decode_equals_the_expected_reader_value(w in writer_values()) {
        let bytes = encode_to_vec(&w).unwrap();
        let got: Reader = decode_translated(translation(), &bytes).unwrap();
        prop_assert_eq!(got, expected(&w));
    }

    #[test]
    fn mutated_input_never_panics_or_leaks(
        w in writer_values(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode_to_vec(&w).unwrap();
        let _ = decode_translated::<Reader>(translation(), &bytes);
        for (index, byte) in flips {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        let before = live();
        let result = decode_translated::<Reader>(translation(), &bytes);
        drop(result);
        prop_assert_eq!(live(), before, "leak");
        // A prefix of mutated bytes may still be a whole value; either way, no leak.
        let truncated = &bytes[..cut.index(bytes.len())];
        let before = live();
        let result = decode_translated::<Reader>(translation(), truncated);
        drop(result);
        prop_assert_eq!(live(), before, "leak");
    }

    #[test]
    fn random_bytes_never_panic_or_leak(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_translated::<Reader>(translation(), &[]);
        let before = live();
        let result = decode_translated::<Reader>(translation(), &bytes);
        drop(result);
        prop_assert_eq!(live(), before, "leak");
    }
}

// ------------------------------------------------------------------------------------------
// Hostile writer schemas
// ------------------------------------------------------------------------------------------

#[derive(Facet, Debug, PartialEq)]
struct Small {
    a: u8,
}

/// `Small`'s schema (under another name) plus a writer-only field `extra` of type `extra`.
fn small_plus(extra: roam_core::schema::Schema) -> roam_core::schema::Schema {
    use roam_core::schema::{Field, PrimitiveKind, Schema, StructKind};
    Schema::Struct {
        name: "Peer".into(),
        kind: StructKind::Named,
        fields: vec![
            Field::new("a", Schema::Primitive(PrimitiveKind::U8)),
            Field::new("extra", extra),
        ],
    }
}

#[test]
fn a_writer_schema_nesting_without_end_is_refused_when_compiling() {
    use roam_core::schema::{PrimitiveKind, Schema};
    let mut deep = Schema::Primitive(PrimitiveKind::U8);
    for _ in 0..2000 {
        deep = Schema::Option(Box::new(deep));
    }
    let err = Translation::compile(&small_plus(deep), Small::SHAPE).unwrap_err();
    assert!(matches!(err, TranslateError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("too deeply"), "{err}");
}

#[test]
fn a_writer_only_channel_cannot_be_skipped() {
    use roam_core::schema::{ChannelDirection, PrimitiveKind, Schema};
    let channel = Schema::Channel {
        direction: ChannelDirection::Tx,
        item: Box::new(Schema::Primitive(PrimitiveKind::U8)),
    };
    let err = Translation::compile(&small_plus(Schema::List(Box::new(channel))), Small::SHAPE)
        .unwrap_err();
    assert!(err.to_string().contains("channel"), "{err}");
}

#[test]
fn a_writer_type_that_contains_itself_is_skipped_within_the_depth_limit() {
    use roam_core::schema::{Field, Schema, StructKind};
    // `struct Loop { next: Loop }`: no Rust type, but a peer may claim it. Its values take no
    // bytes and never end; skipping one must stop at the depth limit.
    let looped = Schema::Struct {
        name: "Loop".into(),
        kind: StructKind::Named,
        fields: vec![Field::new("next", Schema::Ref("Loop".into()))],
    };
    let t = Translation::compile(&small_plus(looped), Small::SHAPE).unwrap();
    let err = translated_err::<Small>(&t, &[1]);
    assert!(
        matches!(err, DecodeError::DepthLimitExceeded { .. }),
        "{err}"
    );
    // A list of them with a huge length is refused by the zero-byte budget first.
    let list = Schema::List(Box::new(Schema::Struct {
        name: "Loop".into(),
        kind: StructKind::Named,
        fields: vec![Field::new("next", Schema::Ref("Loop".into()))],
    }));
    let t = Translation::compile(&small_plus(list), Small::SHAPE).unwrap();
    let err = translated_err::<Small>(&t, &[1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(
        matches!(err, DecodeError::TooManyEmptyItems { .. }),
        "{err}"
    );
}

#[test]
fn a_schema_received_as_canonical_bytes_drives_a_translation() {
    // What the runtime does: the peer's schema arrives as canonical bytes.
    let canonical = schema_of::<v1::Order>().unwrap().to_canonical_bytes();
    let writer = roam_core::schema::Schema::from_canonical_bytes(&canonical).unwrap();
    let t = translation_for::<added::Order>(&writer).unwrap();
    let got: added::Order = decode_translated(&t, &encode_to_vec(&v1::order()).unwrap()).unwrap();
    assert_eq!(got.items.len(), 2);
    assert_eq!(got.priority, 5);
}

// ------------------------------------------------------------------------------------------
// Hostile writer schemas (review findings)
// ------------------------------------------------------------------------------------------

#[derive(Facet, Debug, PartialEq)]
struct Named {
    name: String,
    id: u64,
}

#[test]
fn a_writer_naming_a_field_twice_is_refused_not_written_twice() {
    use roam_core::schema::{Field, PrimitiveKind, Schema, StructKind};
    let string = Schema::Primitive(PrimitiveKind::String);
    let writer = Schema::Struct {
        name: "Named".into(),
        kind: StructKind::Named,
        fields: vec![
            Field::new("name", string.clone()),
            Field::new("name", string),
            Field::new("id", Schema::Primitive(PrimitiveKind::U64)),
        ],
    };
    assert!(Translation::compile(&writer, Named::SHAPE).is_err());
}

#[test]
fn skipping_zero_byte_values_is_bounded_by_the_empty_item_budget() {
    use roam_core::schema::{Field, PrimitiveKind, Schema, StructKind};
    // A writer-only field: a list whose items are tuples of many units. Each item takes no
    // bytes, so only the zero-byte budget stops the work.
    let unit = Schema::Primitive(PrimitiveKind::Unit);
    let heavy = Schema::List(Box::new(Schema::tuple(vec![unit; 4096])));
    let writer = Schema::Struct {
        name: "Named".into(),
        kind: StructKind::Named,
        fields: vec![
            Field::new("name", Schema::Primitive(PrimitiveKind::String)),
            Field::new("junk", heavy),
            Field::new("id", Schema::Primitive(PrimitiveKind::U64)),
        ],
    };
    let t = Translation::compile(&writer, Named::SHAPE).expect("compatible");
    // name "", a list of 1_000_000 items (varint), id 0.
    let mut bytes = vec![0];
    let mut n = 1_000_000u32;
    while n >= 0x80 {
        bytes.push((n as u8) | 0x80);
        n >>= 7;
    }
    bytes.push(n as u8);
    bytes.push(0);
    let err = decode_translated::<Named>(&t, &bytes).unwrap_err();
    assert!(
        matches!(err, DecodeError::TooManyEmptyItems { .. }),
        "{err:?}"
    );
}
