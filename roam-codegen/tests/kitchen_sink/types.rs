//! Types for `schema_agreement.rs`. This file is compiled (so facet derives their shapes) and
//! also read as text and parsed by roam-codegen: both must give the same schemas.

use std::collections::{BTreeMap, HashMap};

use facet::Facet;

/// A named struct.
#[derive(Facet, Debug)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

/// A tuple struct.
#[derive(Facet, Debug)]
pub struct Meters(pub f64);

/// A tuple struct with two fields.
#[derive(Facet, Debug)]
pub struct Pair(pub u8, pub String);

/// A unit struct.
#[derive(Facet, Debug)]
pub struct Marker;

/// Every primitive.
#[derive(Facet, Debug)]
pub struct Primitives {
    pub b: bool,
    pub u_8: u8,
    pub u_16: u16,
    pub u_32: u32,
    pub u_64: u64,
    pub u_128: u128,
    pub i_8: i8,
    pub i_16: i16,
    pub i_32: i32,
    pub i_64: i64,
    pub i_128: i128,
    pub f_32: f32,
    pub f_64: f64,
    pub c: char,
    pub s: String,
    pub unit: (),
}

/// Unit, tuple and struct variants.
#[derive(Facet, Debug)]
#[repr(u8)]
pub enum Shape {
    Empty,
    Circle(f32),
    Rect { w: u32, h: u32 },
    Poly(Vec<Point>),
    Labelled(String, Box<Shape>),
}

/// Enums nested in enums.
#[derive(Facet, Debug)]
#[repr(u8)]
pub enum Outer {
    A(Inner),
    B {
        inner: Option<Inner>,
        shapes: Vec<Shape>,
    },
    C,
}

#[derive(Facet, Debug)]
#[repr(u8)]
pub enum Inner {
    X,
    Y(u8),
    Z { deep: Option<Box<Inner>> },
}

/// A generic struct.
#[derive(Facet, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
    pub total: u64,
}

/// Two type parameters, used in nested positions.
#[derive(Facet, Debug)]
pub struct Pairing<A, B> {
    pub left: A,
    pub right: B,
    pub both: (A, B),
    pub lookup: HashMap<String, (B, A)>,
}

/// A generic enum.
#[derive(Facet, Debug)]
#[repr(u8)]
pub enum Either<L, R> {
    Left(L),
    Right(R),
    Neither,
}

/// Recursion through `Vec`.
#[derive(Facet, Debug)]
pub struct Tree {
    pub value: i64,
    pub children: Vec<Tree>,
}

/// Recursion through `Box` and `Option<Box<_>>`.
#[derive(Facet, Debug)]
#[repr(u8)]
pub enum Expr {
    Lit(i64),
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Let {
        name: String,
        value: Box<Expr>,
        body: Option<Box<Expr>>,
    },
}

/// Generic recursion: the recursive use is an instantiation with the same argument.
#[derive(Facet, Debug)]
pub struct List<T> {
    pub head: T,
    pub tail: Option<Box<List<T>>>,
}

/// Mutual recursion.
#[derive(Facet, Debug)]
pub struct Forest {
    pub trees: Vec<Node>,
}

#[derive(Facet, Debug)]
pub struct Node {
    pub label: String,
    pub forest: Option<Box<Forest>>,
}

/// A generic argument that refers to the enclosing type: `Wrapper<Ref(Nest)>`.
#[derive(Facet, Debug)]
pub struct Wrapper<T> {
    pub inner: T,
}

#[derive(Facet, Debug)]
pub struct Nest {
    pub kids: Vec<Wrapper<Nest>>,
    pub maybe: Option<Box<Wrapper<Option<Nest>>>>,
}

/// Fields with defaults.
#[derive(Facet, Debug)]
pub struct Settings {
    pub name: String,
    #[facet(default)]
    pub retries: u32,
    #[facet(default = 8)]
    pub depth: u8,
    /// A doc comment does not change anything.
    #[facet(default)]
    pub tags: Vec<String>,
}

/// Renamed fields and a renamed type, and `#[facet(skip)]` fields: the schema carries the
/// renamed names (`Account`, `userName`) and leaves the skipped fields out; they are on no
/// wire, and decoding fills them from their defaults.
#[derive(Facet, Debug)]
#[facet(rename = "Account")]
pub struct Profile {
    #[facet(rename = "userName")]
    pub name: String,
    /// Skipped, filled with the type's `Default`.
    #[facet(skip, default)]
    pub cache: Vec<String>,
    pub status: Status,
    /// Skipped, filled with a literal.
    #[facet(skip, default = 3)]
    pub retries: u8,
    /// On the wire, with a literal default for readers whose peer lacks it.
    #[facet(default = 10)]
    pub level: u8,
    pub r#type: String,
}

/// `rename_all` here renames the variants (a variant's own `rename` wins); on a variant, it
/// renames that variant's fields. Skipped fields inside variants keep the others' places.
#[derive(Facet, Debug)]
#[repr(u8)]
#[facet(rename_all = "kebab-case")]
pub enum Status {
    Active,
    #[facet(rename = "on_hold")]
    OnHold {
        since: u64,
    },
    #[facet(rename_all = "SCREAMING_SNAKE_CASE")]
    TimedOut {
        retry_after: u32,
        #[facet(skip, default)]
        note: String,
    },
    Banned(String, #[facet(skip, default = 7)] u32),
}

/// `rename_all` on a struct renames its fields with facet's case rules; a field's own `rename`
/// wins.
#[derive(Facet, Debug)]
#[facet(rename_all = "camelCase")]
#[allow(non_snake_case)]
pub struct Cased {
    pub full_name: String,
    pub HTTPServer: u8,
    pub a1b2_c: bool,
    #[facet(rename = "custom-name")]
    pub overridden: i8,
}

/// Containers of every kind.
#[derive(Facet, Debug)]
pub struct Everything {
    pub bytes: Vec<u8>,
    pub std_bytes: std::vec::Vec<u8>,
    pub list: Vec<Point>,
    pub array: [u8; 4],
    pub grid: [[i16; 2]; 3],
    pub points: [Point; 2],
    pub map: HashMap<String, Vec<Point>>,
    pub btree: BTreeMap<u32, Option<Shape>>,
    pub full_path_map: std::collections::BTreeMap<i8, Marker>,
    pub tuple: (bool, char, (u128,)),
    pub one: (Meters,),
    pub unit: (),
    pub result: Result<Point, Shape>,
    pub std_result: std::result::Result<u8, String>,
    pub nested_result: Option<Result<(), Vec<Pair>>>,
    pub boxed: Box<Point>,
    pub nested: Option<Vec<Option<Meters>>>,
    pub page: Page<Point>,
    pub page_of_pages: Page<Page<Marker>>,
    /// `Vec<T>` with `T = u8` is bytes.
    pub page_of_bytes: Page<u8>,
    pub pairing: Pairing<Point, Vec<u8>>,
    pub either: Either<Tree, Box<Expr>>,
    pub list_of: List<Shape>,
    pub settings: Settings,
}
