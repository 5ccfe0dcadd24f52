//! Every argument and return type the model accepts, served and called for real.
#![deny(warnings)]

use std::collections::{BTreeMap, HashMap};

use facet::Facet;

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Meters(pub f64);

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Marker;

#[derive(Facet, Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum Color {
    Red,
    Custom(u8, u8, u8),
}

#[derive(Facet, Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum Shape {
    Empty,
    Circle(Point, u32),
    Rect { min: Point, max: Point },
    Painted { color: Color, inner: Box<Shape> },
}

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
}

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[roam::service]
pub trait Types {
    async fn unsigned(&self, a: bool, b: u8, c: u16, d: u32, e: u64, f: u128) -> (bool, u8, u16, u32, u64, u128);
    async fn signed(&self, g: i8, h: i16, i: i32, j: i64, k: i128, l: f32, m: f64, n: char) -> (i8, i16, i32, i64, i128, f32, f64, char);
    async fn text(&self, owned: String, borrowed: &str) -> String;
    async fn bytes(&self, borrowed: &[u8], owned: Vec<u8>) -> Vec<u8>;
    async fn lists(&self, points: Vec<Point>, nested: Vec<Vec<i64>>) -> Vec<Point>;
    async fn options(&self, some: Option<u32>, none: Option<String>) -> Option<Option<u32>>;
    async fn tuples(&self, pair: (u8, String), single: (i32,), unit: ()) -> (String, (u8,));
    async fn arrays(&self, key: [u8; 32], grid: [[u16; 2]; 3]) -> [u8; 4];
    async fn maps(&self, hashed: HashMap<String, u32>, ordered: BTreeMap<u64, Vec<Point>>) -> BTreeMap<String, u32>;
    async fn boxes(&self, boxed: Box<Point>) -> Box<Option<Point>>;
    async fn structs(&self, named: Point, tuple: Meters, unit: Marker) -> (Point, Meters, Marker);
    async fn enums(&self, shape: Shape, color: Color) -> Vec<Shape>;
    async fn generics(&self, page: Page<Item>) -> Page<Page<Item>>;
    async fn paths(&self, s: std::string::String, v: ::std::vec::Vec<std::primitive::u8>) -> std::collections::HashMap<u8, u8>;
}

struct Impl;

impl Types for Impl {
    async fn unsigned(&self, a: bool, b: u8, c: u16, d: u32, e: u64, f: u128) -> (bool, u8, u16, u32, u64, u128) {
        (a, b, c, d, e, f)
    }
    async fn signed(&self, g: i8, h: i16, i: i32, j: i64, k: i128, l: f32, m: f64, n: char) -> (i8, i16, i32, i64, i128, f32, f64, char) {
        (g, h, i, j, k, l, m, n)
    }
    async fn text(&self, owned: String, borrowed: &str) -> String {
        owned + borrowed
    }
    async fn bytes(&self, borrowed: &[u8], owned: Vec<u8>) -> Vec<u8> {
        [borrowed, &owned[..]].concat()
    }
    async fn lists(&self, mut points: Vec<Point>, nested: Vec<Vec<i64>>) -> Vec<Point> {
        points.push(Point { x: nested.len() as i32, y: nested.iter().map(Vec::len).sum::<usize>() as i32 });
        points
    }
    async fn options(&self, some: Option<u32>, none: Option<String>) -> Option<Option<u32>> {
        assert!(none.is_none());
        Some(some)
    }
    async fn tuples(&self, pair: (u8, String), single: (i32,), _unit: ()) -> (String, (u8,)) {
        (format!("{}{}", pair.1, single.0), (pair.0,))
    }
    async fn arrays(&self, key: [u8; 32], grid: [[u16; 2]; 3]) -> [u8; 4] {
        [key[0], key[31], grid[0][0] as u8, grid[2][1] as u8]
    }
    async fn maps(&self, hashed: HashMap<String, u32>, ordered: BTreeMap<u64, Vec<Point>>) -> BTreeMap<String, u32> {
        let mut out: BTreeMap<String, u32> = hashed.into_iter().collect();
        out.insert("ordered".into(), ordered.len() as u32);
        out
    }
    async fn boxes(&self, boxed: Box<Point>) -> Box<Option<Point>> {
        Box::new(Some(*boxed))
    }
    async fn structs(&self, named: Point, tuple: Meters, unit: Marker) -> (Point, Meters, Marker) {
        (named, tuple, unit)
    }
    async fn enums(&self, shape: Shape, color: Color) -> Vec<Shape> {
        vec![shape, Shape::Painted { color, inner: Box::new(Shape::Empty) }]
    }
    async fn generics(&self, page: Page<Item>) -> Page<Page<Item>> {
        Page { items: vec![page], next: None }
    }
    async fn paths(&self, s: std::string::String, v: ::std::vec::Vec<std::primitive::u8>) -> std::collections::HashMap<u8, u8> {
        v.into_iter().map(|b| (b, s.len() as u8)).collect()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let serving = roam::Connector::new().serve(TypesDispatcher::new(Impl));
    let (conn, _server) = match roam::memory_pair_with(roam::Connector::new(), serving).await {
        Ok(pair) => pair,
        Err(e) => panic!("handshake: {e}"),
    };
    let client = TypesClient::new(conn);

    let u = (true, 1u8, 2u16, 3u32, 4u64, u128::MAX);
    assert_eq!(client.unsigned(u.0, u.1, u.2, u.3, u.4, u.5).await.unwrap(), u);
    let s = (-1i8, -2i16, -3i32, -4i64, i128::MIN, 1.5f32, -2.5f64, 'ß');
    assert_eq!(client.signed(s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7).await.unwrap(), s);
    assert_eq!(client.text("ab".into(), "cd").await.unwrap(), "abcd");
    assert_eq!(client.bytes(&[1, 2], vec![3]).await.unwrap(), [1, 2, 3]);
    let p = Point { x: 1, y: 2 };
    assert_eq!(client.lists(vec![p.clone()], vec![vec![1, 2], vec![]]).await.unwrap(), [p.clone(), Point { x: 2, y: 2 }]);
    assert_eq!(client.options(Some(7), None).await.unwrap(), Some(Some(7)));
    assert_eq!(client.tuples((9, "x".into()), (5,), ()).await.unwrap(), ("x5".to_string(), (9,)));
    let mut key = [0u8; 32];
    key[0] = 10;
    key[31] = 20;
    assert_eq!(client.arrays(key, [[1, 2], [3, 4], [5, 6]]).await.unwrap(), [10, 20, 1, 6]);
    let hashed = HashMap::from([("a".to_string(), 1)]);
    let ordered = BTreeMap::from([(1, vec![p.clone()])]);
    assert_eq!(
        client.maps(hashed, ordered).await.unwrap(),
        BTreeMap::from([("a".to_string(), 1), ("ordered".to_string(), 1)])
    );
    assert_eq!(client.boxes(Box::new(p.clone())).await.unwrap(), Box::new(Some(p.clone())));
    assert_eq!(client.structs(p.clone(), Meters(1.5), Marker).await.unwrap(), (p.clone(), Meters(1.5), Marker));
    let shape = Shape::Rect { min: p.clone(), max: Point { x: 3, y: 4 } };
    assert_eq!(
        client.enums(shape.clone(), Color::Custom(1, 2, 3)).await.unwrap(),
        [shape, Shape::Painted { color: Color::Custom(1, 2, 3), inner: Box::new(Shape::Empty) }]
    );
    let page = Page { items: vec![Item { name: "i".into() }], next: Some("n".into()) };
    assert_eq!(client.generics(page.clone()).await.unwrap(), Page { items: vec![page], next: None });
    assert_eq!(client.paths("abc".into(), vec![1, 2]).await.unwrap(), HashMap::from([(1, 3), (2, 3)]));
}
