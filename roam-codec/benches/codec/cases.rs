//! The payloads the codec bench measures: their types (deriving both `Facet` and serde, so that
//! all three codecs run on the same values) and deterministic builders for their values.

use facet::Facet;
use serde::{Deserialize, Serialize};

/// (a) A tiny struct of two `i32`.
#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum Status {
    Active,
    Suspended { reason: String, days: u32 },
    Deleted(u64),
}

/// (b) A mixed struct: strings, vectors, options, enums, nested structs and a tuple.
#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Mixed {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub tags: Vec<String>,
    pub scores: Vec<u32>,
    pub ratio: f64,
    pub parent: Option<u64>,
    pub status: Status,
    pub history: Vec<Status>,
    pub points: Vec<Point>,
    pub flags: (bool, bool, u8),
}

/// `Mixed` as a newer peer sees it: renamed, fields reordered, `parent` removed, `nickname`
/// added with a default. `Status` and `Point` are unchanged, so they decode with their plain
/// plans inside the translation.
#[derive(Facet, Debug, Clone, PartialEq)]
pub struct MixedV2 {
    pub name: String,
    pub id: u64,
    #[facet(default)]
    pub nickname: Option<String>,
    pub tags: Vec<String>,
    pub email: Option<String>,
    pub scores: Vec<u32>,
    pub status: Status,
    pub ratio: f64,
    pub history: Vec<Status>,
    pub points: Vec<Point>,
    pub flags: (bool, bool, u8),
}

pub fn mixed() -> Mixed {
    Mixed {
        id: 123_456_789,
        name: "Ada Lovelace".into(),
        email: Some("ada@example.com".into()),
        tags: vec!["math".into(), "engines".into(), "poetry".into()],
        scores: (0..16).map(|i| i * 1000 + 7).collect(),
        ratio: 0.618,
        parent: None,
        status: Status::Suspended {
            reason: "vacation".into(),
            days: 14,
        },
        history: vec![Status::Active, Status::Deleted(42), Status::Active],
        points: (0..8).map(|i| Point { x: i, y: -i * 3 }).collect(),
        flags: (true, false, 3),
    }
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[repr(u8)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// (e) One log record: many short strings.
#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub ts: u64,
    pub level: Level,
    pub target: String,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// (e) A batch of 100 log records with 0 to 3 key/value fields each.
pub fn logs() -> Vec<LogRecord> {
    const TARGETS: [&str; 4] = [
        "roam_runtime::session",
        "roam_runtime::driver",
        "app::billing",
        "hyper::proto::h1",
    ];
    const MESSAGES: [&str; 5] = [
        "request completed",
        "retrying after transient error",
        "connection closed by peer",
        "cache miss for invoice lookup, loading from store",
        "slow handler",
    ];
    const KEYS: [&str; 4] = ["method", "peer", "elapsed_ms", "request_id"];
    const LEVELS: [Level; 5] = [
        Level::Info,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
    ];
    (0..100u64)
        .map(|i| {
            let n = (i % 4) as usize;
            LogRecord {
                ts: 1_764_633_600_000_000 + i * 1_337,
                level: LEVELS[(i % 5) as usize],
                target: TARGETS[(i % 4) as usize].to_owned(),
                message: MESSAGES[(i % 5) as usize].to_owned(),
                fields: (0..n)
                    .map(|k| (KEYS[k].to_owned(), format!("v{}-{}", i, k * 7)))
                    .collect(),
            }
        })
        .collect()
}

/// (f) A struct of 24 scalar fields of mixed widths (a telemetry sample).
#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Telemetry {
    pub seq: u64,
    pub ts_ns: u64,
    pub device: u32,
    pub channel: u16,
    pub kind: u8,
    pub flags: u8,
    pub temp_c: f32,
    pub humidity: f32,
    pub pressure: f64,
    pub voltage: f32,
    pub current: f32,
    pub lat: f64,
    pub lon: f64,
    pub alt_m: i32,
    pub speed: i16,
    pub heading: u16,
    pub rssi: i8,
    pub snr: i8,
    pub battery: u8,
    pub charging: bool,
    pub errors: u32,
    pub uptime_s: u64,
    pub offset: i64,
    pub firmware: u16,
}

pub fn telemetry() -> Telemetry {
    Telemetry {
        seq: 981_234,
        ts_ns: 1_764_633_600_123_456_789,
        device: 40_017,
        channel: 3,
        kind: 2,
        flags: 0b1010_0001,
        temp_c: 21.5,
        humidity: 0.43,
        pressure: 1013.25,
        voltage: 3.71,
        current: 0.125,
        lat: 51.507_351,
        lon: -0.127_758,
        alt_m: -12,
        speed: 87,
        heading: 270,
        rssi: -67,
        snr: 9,
        battery: 88,
        charging: false,
        errors: 0,
        uptime_s: 8_640_000,
        offset: -3_600,
        firmware: 1_204,
    }
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[repr(u8)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// (g) A recursive expression tree.
#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum Expr {
    Num(i64),
    Var(String),
    Neg(Box<Expr>),
    Bin {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Call {
        name: String,
        args: Vec<Expr>,
    },
}

/// (g) An expression tree of depth 20 with a few hundred nodes: a spine of nested binary
/// operations, calls and negations, each with a small subtree beside it.
pub fn expr() -> Expr {
    fn leaf(i: u32) -> Expr {
        match i % 3 {
            0 => Expr::Num(i64::from(i) * 37 - 500),
            1 => Expr::Var(format!("x{i}")),
            _ => Expr::Neg(Box::new(Expr::Num(i64::from(i)))),
        }
    }
    fn side(i: u32, depth: u32) -> Expr {
        if depth == 0 {
            return leaf(i);
        }
        Expr::Bin {
            op: [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div][(i % 4) as usize],
            lhs: Box::new(side(i * 2 + 1, depth - 1)),
            rhs: Box::new(side(i * 2 + 2, depth - 1)),
        }
    }
    let mut e = leaf(0);
    for level in 1..20u32 {
        e = match level % 4 {
            0 => Expr::Neg(Box::new(e)),
            1 => Expr::Call {
                name: ["min", "max", "abs", "clamp"][(level % 4) as usize].to_owned(),
                args: vec![e, side(level, 2), leaf(level + 1)],
            },
            _ => Expr::Bin {
                op: [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div][(level % 4) as usize],
                lhs: Box::new(e),
                rhs: Box::new(side(level, 3)),
            },
        };
    }
    e
}

/// How many nodes an expression tree has, and how deep it is.
pub fn expr_stats(e: &Expr) -> (usize, usize) {
    match e {
        Expr::Num(_) | Expr::Var(_) => (1, 1),
        Expr::Neg(inner) => {
            let (n, d) = expr_stats(inner);
            (n + 1, d + 1)
        }
        Expr::Bin { lhs, rhs, .. } => {
            let (a, da) = expr_stats(lhs);
            let (b, db) = expr_stats(rhs);
            (a + b + 1, da.max(db) + 1)
        }
        Expr::Call { args, .. } => {
            let mut n = 1;
            let mut d = 0;
            for arg in args {
                let (an, ad) = expr_stats(arg);
                n += an;
                d = d.max(ad);
            }
            (n, d + 1)
        }
    }
}

/// The owned form of the borrowed-decode bench's argument tuple: a 40-byte key, a 200-byte text
/// and a 4 KiB blob.
pub type OwnedArgs = (String, String, Vec<u8>, u64);

/// The same arguments, borrowed from the input.
pub type BorrowedArgs<'a> = (&'a str, &'a str, &'a [u8], u64);

pub fn owned_args() -> OwnedArgs {
    let key = "tenant-0042/invoices/2026/12/00000001337".to_owned();
    assert_eq!(key.len(), 40);
    let text: String = "The quick brown fox jumps over the lazy dog; "
        .chars()
        .cycle()
        .take(200)
        .collect();
    let blob: Vec<u8> = (0..4096u32).map(|i| (i * 131 % 251) as u8).collect();
    (key, text, blob, 1_764_633_600)
}
