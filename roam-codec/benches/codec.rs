//! The plan codec against serde-postcard and facet-postcard, on four payload shapes:
//! (a) a tiny struct of two `i32`, (b) a mixed struct with strings, vectors, options and an
//! enum, (c) a 64 KiB `Vec<u8>`, (d) a `Vec<f64>` of 1024 items.
//!
//! Each encode allocates its output vector (`encode_to_vec`, `postcard::to_allocvec`,
//! `facet_postcard::to_vec`); each decode builds an owned value from a byte slice. All three
//! codecs produce the same bytes, which `check_same_bytes` asserts before measuring.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use facet::Facet;
use serde::{Deserialize, Serialize};

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[repr(u8)]
enum Status {
    Active,
    Suspended { reason: String, days: u32 },
    Deleted(u64),
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Mixed {
    id: u64,
    name: String,
    email: Option<String>,
    tags: Vec<String>,
    scores: Vec<u32>,
    ratio: f64,
    parent: Option<u64>,
    status: Status,
    history: Vec<Status>,
    points: Vec<Point>,
    flags: (bool, bool, u8),
}

fn mixed() -> Mixed {
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

fn check_same_bytes<'a, T: Facet<'a> + Serialize>(value: &T) -> Vec<u8> {
    let ours = roam_codec::encode_to_vec(value).expect("plan codec encodes");
    assert_eq!(
        ours,
        postcard::to_allocvec(value).expect("serde-postcard encodes")
    );
    assert_eq!(
        ours,
        facet_postcard::to_vec(value).expect("facet-postcard encodes")
    );
    ours
}

fn bench_case<T>(c: &mut Criterion, name: &str, value: T)
where
    T: Facet<'static> + Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let bytes = check_same_bytes(&value);
    assert_eq!(roam_codec::decode::<T>(&bytes).unwrap(), value);
    assert_eq!(facet_postcard::from_slice::<T>(&bytes).unwrap(), value);

    let mut group = c.benchmark_group(format!("{name}/encode"));
    group.bench_function(BenchmarkId::from_parameter("plan"), |b| {
        b.iter(|| roam_codec::encode_to_vec(black_box(&value)).unwrap())
    });
    group.bench_function(BenchmarkId::from_parameter("serde-postcard"), |b| {
        b.iter(|| postcard::to_allocvec(black_box(&value)).unwrap())
    });
    group.bench_function(BenchmarkId::from_parameter("facet-postcard"), |b| {
        b.iter(|| facet_postcard::to_vec(black_box(&value)).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{name}/decode"));
    group.bench_function(BenchmarkId::from_parameter("plan"), |b| {
        b.iter(|| roam_codec::decode::<T>(black_box(&bytes)).unwrap())
    });
    group.bench_function(BenchmarkId::from_parameter("serde-postcard"), |b| {
        b.iter(|| postcard::from_bytes::<T>(black_box(&bytes)).unwrap())
    });
    group.bench_function(BenchmarkId::from_parameter("facet-postcard"), |b| {
        b.iter(|| facet_postcard::from_slice::<T>(black_box(&bytes)).unwrap())
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_case(c, "a_point", Point { x: 17, y: -42 });
    bench_case(c, "b_mixed", mixed());
    bench_case(
        c,
        "c_bytes_64k",
        (0..64 * 1024).map(|i| (i * 31) as u8).collect::<Vec<u8>>(),
    );
    bench_case(
        c,
        "d_f64_1024",
        (0..1024)
            .map(|i| i as f64 * 0.5 - 100.0)
            .collect::<Vec<f64>>(),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    targets = codec
}
criterion_main!(benches);
