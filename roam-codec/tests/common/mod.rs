//! The kitchen sink: types that derive both `facet::Facet` and serde, so the plan codec can be
//! checked byte for byte against `postcard`, plus proptest strategies for them.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use facet::Facet;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Marker;

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Pair(pub u8, pub String);

#[derive(Facet, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[repr(u8)]
pub enum Color {
    Red,
    Green,
    Blue,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[repr(C)]
pub enum Figure {
    Empty,
    Circle(f64),
    Rect { w: u32, h: u32 },
    Poly(Vec<Point>, bool),
}

/// Discriminants that are not the variant indexes: the wire uses the index.
#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[repr(u16)]
pub enum Sparse {
    A = 5,
    B(i8) = 10,
    C { s: String } = 300,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
    pub total: u64,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[repr(C)]
pub enum Tree {
    Leaf(i64),
    Node(Box<Tree>, Box<Tree>),
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Chain {
    pub value: u32,
    pub next: Option<Box<Chain>>,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Dir {
    pub name: String,
    pub children: Vec<Dir>,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Scalars {
    pub b: bool,
    pub u8_: u8,
    pub u16_: u16,
    pub u32_: u32,
    pub u64_: u64,
    pub u128_: u128,
    pub usize_: usize,
    pub i8_: i8,
    pub i16_: i16,
    pub i32_: i32,
    pub i64_: i64,
    pub i128_: i128,
    pub isize_: isize,
    pub f32_: f32,
    pub f64_: f64,
    pub c: char,
    pub unit: (),
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Containers {
    pub s: String,
    pub bytes: Vec<u8>,
    pub words: Vec<String>,
    pub floats: Vec<f64>,
    pub singles: Vec<f32>,
    pub ints: Vec<i32>,
    pub wide: Vec<u128>,
    pub signed_bytes: Vec<i8>,
    pub bools: Vec<bool>,
    pub chars: Vec<char>,
    pub opt: Option<u32>,
    pub opt_s: Option<String>,
    pub opt_opt: Option<Option<bool>>,
    pub tuple: (u8, String, i64),
    pub arr: [u16; 3],
    pub byte_arr: [u8; 4],
    pub point_arr: [Point; 2],
    pub f32_arr: [f32; 2],
    pub boxed: Box<Point>,
    pub map: HashMap<String, u32>,
    pub btree: BTreeMap<u8, Vec<String>>,
    pub nested: Vec<Vec<Option<Point>>>,
    pub result: Result<u32, String>,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct KitchenSink {
    pub scalars: Scalars,
    pub containers: Containers,
    pub color: Color,
    pub figure: Figure,
    pub figures: Vec<Figure>,
    pub sparse: Sparse,
    pub page: Page<Point>,
    pub tree: Tree,
    pub chain: Chain,
    pub dir: Dir,
    pub pair: Pair,
    pub marker: Marker,
}

fn guest() -> String {
    "guest".into()
}

fn three() -> u8 {
    3
}

fn seven() -> u32 {
    7
}

/// Renamed fields, variants and types, and `#[facet(skip)]` fields, each mirrored for serde
/// (`#[serde(rename)]`, `#[serde(skip)]` with the same default) so that the bytes still match
/// postcard's: renames are not on the wire, and a skipped field is on neither wire.
#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[facet(rename = "UserProfile")]
#[serde(rename = "UserProfile")]
pub struct Profile {
    #[facet(rename = "userName")]
    #[serde(rename = "userName")]
    pub name: String,
    #[facet(skip, default)]
    #[serde(skip)]
    pub cache: Vec<String>,
    #[facet(skip, default = "guest")]
    #[serde(skip, default = "guest")]
    pub role: String,
    pub status: Status,
    #[facet(skip, default = 3)]
    #[serde(skip, default = "three")]
    pub retries: u8,
    #[facet(default = 8)]
    pub level: u8,
    pub tags: Vec<String>,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[repr(u8)]
#[facet(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    #[facet(rename = "on-hold")]
    #[serde(rename = "on-hold")]
    OnHold {
        since: u64,
        #[facet(skip, default)]
        #[serde(skip)]
        note: String,
    },
    Banned(
        String,
        #[facet(skip, default = 7)]
        #[serde(skip, default = "seven")]
        u32,
    ),
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Finite and infinite floats, but no NaN (so `PartialEq` round trips hold).
pub fn f64s() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE
}

pub fn f32s() -> impl Strategy<Value = f32> {
    use proptest::num::f32::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE
}

pub fn text() -> impl Strategy<Value = String> {
    ".{0,12}"
}

pub fn point() -> impl Strategy<Value = Point> {
    (any::<i32>(), any::<i32>()).prop_map(|(x, y)| Point { x, y })
}

pub fn color() -> impl Strategy<Value = Color> {
    prop_oneof![Just(Color::Red), Just(Color::Green), Just(Color::Blue)]
}

pub fn figure() -> impl Strategy<Value = Figure> {
    prop_oneof![
        Just(Figure::Empty),
        f64s().prop_map(Figure::Circle),
        (any::<u32>(), any::<u32>()).prop_map(|(w, h)| Figure::Rect { w, h }),
        (prop::collection::vec(point(), 0..4), any::<bool>())
            .prop_map(|(p, closed)| Figure::Poly(p, closed)),
    ]
}

pub fn sparse() -> impl Strategy<Value = Sparse> {
    prop_oneof![
        Just(Sparse::A),
        any::<i8>().prop_map(Sparse::B),
        text().prop_map(|s| Sparse::C { s }),
    ]
}

pub fn tree() -> impl Strategy<Value = Tree> {
    any::<i64>()
        .prop_map(Tree::Leaf)
        .prop_recursive(4, 16, 2, |inner| {
            (inner.clone(), inner).prop_map(|(a, b)| Tree::Node(Box::new(a), Box::new(b)))
        })
}

pub fn chain() -> impl Strategy<Value = Chain> {
    prop::collection::vec(any::<u32>(), 1..6).prop_map(|values| {
        let mut next = None;
        for value in values.into_iter().rev() {
            next = Some(Box::new(Chain { value, next }));
        }
        match next {
            Some(head) => *head,
            None => Chain {
                value: 0,
                next: None,
            },
        }
    })
}

pub fn dir() -> impl Strategy<Value = Dir> {
    let leaf = text().prop_map(|name| Dir {
        name,
        children: Vec::new(),
    });
    leaf.prop_recursive(3, 12, 3, |inner| {
        (text(), prop::collection::vec(inner, 0..3))
            .prop_map(|(name, children)| Dir { name, children })
    })
}

prop_compose! {
    pub fn scalars()(
        b in any::<bool>(), u8_ in any::<u8>(), u16_ in any::<u16>(), u32_ in any::<u32>(),
        u64_ in any::<u64>(), u128_ in any::<u128>(), usize_ in any::<usize>(),
        i8_ in any::<i8>(), i16_ in any::<i16>(), i32_ in any::<i32>(), i64_ in any::<i64>(),
        i128_ in any::<i128>(), isize_ in any::<isize>(), f32_ in f32s(), f64_ in f64s(),
        c in any::<char>(),
    ) -> Scalars {
        Scalars { b, u8_, u16_, u32_, u64_, u128_, usize_, i8_, i16_, i32_, i64_, i128_, isize_, f32_, f64_, c, unit: () }
    }
}

prop_compose! {
    pub fn containers()(
        s in text(),
        bytes in prop::collection::vec(any::<u8>(), 0..40),
        words in prop::collection::vec(text(), 0..4),
        floats in prop::collection::vec(f64s(), 0..6),
        singles in prop::collection::vec(f32s(), 0..6),
        ints in prop::collection::vec(any::<i32>(), 0..6),
        wide in prop::collection::vec(any::<u128>(), 0..3),
        signed_bytes in prop::collection::vec(any::<i8>(), 0..6),
        bools in prop::collection::vec(any::<bool>(), 0..6),
        chars in prop::collection::vec(any::<char>(), 0..4),
        opt in any::<Option<u32>>(),
        opt_s in prop::option::of(text()),
        opt_opt in any::<Option<Option<bool>>>(),
        tuple in (any::<u8>(), text(), any::<i64>()),
        arr in any::<[u16; 3]>(),
        byte_arr in any::<[u8; 4]>(),
        point_arr in [point(), point()],
        f32_arr in [f32s(), f32s()],
        boxed in point(),
        map in prop::collection::hash_map(text(), any::<u32>(), 0..4),
        btree in prop::collection::btree_map(any::<u8>(), prop::collection::vec(text(), 0..3), 0..3),
        nested in prop::collection::vec(prop::collection::vec(prop::option::of(point()), 0..3), 0..3),
        result in prop_oneof![any::<u32>().prop_map(Ok), text().prop_map(Err)],
    ) -> Containers {
        Containers {
            s, bytes, words, floats, singles, ints, wide, signed_bytes, bools, chars, opt, opt_s,
            opt_opt, tuple, arr, byte_arr, point_arr, f32_arr, boxed: Box::new(boxed), map, btree,
            nested, result,
        }
    }
}

prop_compose! {
    pub fn page()(items in prop::collection::vec(point(), 0..5), next in prop::option::of(text()), total in any::<u64>()) -> Page<Point> {
        Page { items, next, total }
    }
}

prop_compose! {
    pub fn kitchen_sink()(
        scalars in scalars(),
        containers in containers(),
        color in color(),
        figure in figure(),
        figures in prop::collection::vec(figure(), 0..3),
        sparse in sparse(),
        page in page(),
        tree in tree(),
        chain in chain(),
        dir in dir(),
        pair in (any::<u8>(), text()).prop_map(|(a, b)| Pair(a, b)),
    ) -> KitchenSink {
        KitchenSink { scalars, containers, color, figure, figures, sparse, page, tree, chain, dir, pair, marker: Marker }
    }
}

/// Statuses whose skipped fields hold their defaults (what decoding gives back).
pub fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Active),
        any::<u64>().prop_map(|since| Status::OnHold {
            since,
            note: String::new()
        }),
        text().prop_map(|why| Status::Banned(why, 7)),
    ]
}

prop_compose! {
    /// Profiles whose skipped fields hold their defaults (what decoding gives back).
    pub fn profile()(
        name in text(),
        status in status(),
        level in any::<u8>(),
        tags in prop::collection::vec(text(), 0..3),
    ) -> Profile {
        Profile { name, cache: Vec::new(), role: guest(), status, retries: three(), level, tags }
    }
}

/// A sample sink with every variant-bearing field set to something non-trivial.
pub fn sample_sink() -> KitchenSink {
    KitchenSink {
        scalars: Scalars {
            b: true,
            u8_: 200,
            u16_: 65_000,
            u32_: 1 << 20,
            u64_: u64::MAX,
            u128_: u128::MAX / 3,
            usize_: 300,
            i8_: -100,
            i16_: -300,
            i32_: -70_000,
            i64_: i64::MIN,
            i128_: -(1 << 100),
            isize_: -5,
            f32_: 1.5,
            f64_: -2.25,
            c: '🦀',
            unit: (),
        },
        containers: Containers {
            s: "héllo".into(),
            bytes: vec![0, 1, 2, 255],
            words: vec!["a".into(), "".into(), "ccc".into()],
            floats: vec![0.5, -1e300],
            singles: vec![3.25],
            ints: vec![-1, 0, 1, i32::MAX],
            wide: vec![u128::MAX],
            signed_bytes: vec![-128, 127],
            bools: vec![true, false],
            chars: vec!['a', 'ß'],
            opt: Some(7),
            opt_s: Some("x".into()),
            opt_opt: Some(None),
            tuple: (9, "t".into(), -9),
            arr: [1, 300, 65_535],
            byte_arr: [9, 8, 7, 6],
            point_arr: [Point { x: 1, y: 2 }, Point { x: -3, y: -4 }],
            f32_arr: [0.0, -0.0],
            boxed: Box::new(Point { x: 5, y: 6 }),
            map: [("k".to_string(), 1u32)].into_iter().collect(),
            btree: [(3u8, vec!["three".to_string()]), (1, vec![])]
                .into_iter()
                .collect(),
            nested: vec![vec![Some(Point { x: 0, y: 0 }), None], vec![]],
            result: Err("bad".into()),
        },
        color: Color::Blue,
        figure: Figure::Poly(vec![Point { x: 1, y: 1 }], true),
        figures: vec![
            Figure::Empty,
            Figure::Circle(1.0),
            Figure::Rect { w: 2, h: 3 },
        ],
        sparse: Sparse::C { s: "sparse".into() },
        page: Page {
            items: vec![Point { x: 10, y: 20 }],
            next: Some("cursor".into()),
            total: 99,
        },
        tree: Tree::Node(
            Box::new(Tree::Leaf(1)),
            Box::new(Tree::Node(Box::new(Tree::Leaf(2)), Box::new(Tree::Leaf(3)))),
        ),
        chain: Chain {
            value: 1,
            next: Some(Box::new(Chain {
                value: 2,
                next: None,
            })),
        },
        dir: Dir {
            name: "root".into(),
            children: vec![Dir {
                name: "child".into(),
                children: vec![],
            }],
        },
        pair: Pair(4, "four".into()),
        marker: Marker,
    }
}
