//! The plan codec against serde-postcard and facet-postcard, on seven payload shapes (their
//! types and values are in `codec/cases.rs`): (a) a tiny struct of two `i32`, (b) a mixed
//! struct with strings, vectors, options and an enum, (c) a 64 KiB `Vec<u8>`, (d) a `Vec<f64>`
//! of 1024 items, (e) 100 log records (many short strings), (f) a struct of 24 scalars of mixed
//! widths, (g) an expression tree of depth 20 with a few hundred nodes.
//!
//! Each encode allocates its output vector (`encode_to_vec`, `postcard::to_allocvec`,
//! `facet_postcard::to_vec`); each decode builds an owned value from a byte slice. All three
//! codecs produce the same bytes, which `check_same_bytes` asserts before measuring.
//!
//! `e_mixed_translated/decode` measures schema translation: the mixed struct's bytes decoded
//! with its plain plan, through an identity translation, and through a translation into
//! `MixedV2` (fields reordered, one removed and skipped, one added and defaulted, the struct
//! renamed) that a peer with the older type would need.
//!
//! `h_borrowed_args/decode` measures borrowed decoding: `(&str, &str, &[u8], u64)` read as
//! slices of the input against the owned `(String, String, Vec<u8>, u64)`, both ours and
//! serde-postcard's.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use facet::Facet;
use serde::{Deserialize, Serialize};

#[path = "codec/cases.rs"]
mod cases;

use cases::*;

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
    bench_case(c, "e_logs_100", logs());
    bench_case(c, "f_scalars_24", telemetry());
    let tree = expr();
    let (nodes, depth) = expr_stats(&tree);
    assert!(
        depth >= 20 && (200..1000).contains(&nodes),
        "{nodes} nodes, depth {depth}"
    );
    bench_case(c, "g_expr_tree", tree);
}

fn translated(c: &mut Criterion) {
    use roam_codec::translate::{Translation, decode_translated};

    let value = mixed();
    let bytes = roam_codec::encode_to_vec(&value).unwrap();
    let writer = roam_codec::schema_of::<Mixed>().unwrap();
    let identity = Translation::compile(&writer, Mixed::SHAPE).unwrap();
    assert!(identity.is_identity());
    let evolved = Translation::compile(&writer, MixedV2::SHAPE).unwrap();
    assert!(!evolved.is_identity());
    let expected = MixedV2 {
        name: value.name.clone(),
        id: value.id,
        nickname: None,
        tags: value.tags.clone(),
        email: value.email.clone(),
        scores: value.scores.clone(),
        status: value.status.clone(),
        ratio: value.ratio,
        history: value.history.clone(),
        points: value.points.clone(),
        flags: value.flags,
    };
    assert_eq!(
        decode_translated::<MixedV2>(&evolved, &bytes).unwrap(),
        expected
    );

    let mut group = c.benchmark_group("e_mixed_translated/decode");
    group.bench_function(BenchmarkId::from_parameter("plan"), |b| {
        b.iter(|| roam_codec::decode::<Mixed>(black_box(&bytes)).unwrap())
    });
    group.bench_function(BenchmarkId::from_parameter("identity-translation"), |b| {
        b.iter(|| decode_translated::<Mixed>(&identity, black_box(&bytes)).unwrap())
    });
    group.bench_function(BenchmarkId::from_parameter("evolved-translation"), |b| {
        b.iter(|| decode_translated::<MixedV2>(&evolved, black_box(&bytes)).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("e_mixed_translated/compile");
    group.bench_function(BenchmarkId::from_parameter("evolved"), |b| {
        b.iter(|| Translation::compile(black_box(&writer), MixedV2::SHAPE).unwrap())
    });
    group.finish();
}

/// Borrowed against owned decoding of a `&str`/`&[u8]`-heavy argument tuple: a 40-byte key, a
/// 200-byte text and a 4 KiB blob, read as slices of the input or copied out of it.
fn borrowed(c: &mut Criterion) {
    let owned = owned_args();
    let borrowed: BorrowedArgs<'_> = (&owned.0, &owned.1, &owned.2, owned.3);
    let bytes = check_same_bytes(&owned);
    assert_eq!(bytes, check_same_bytes(&borrowed));
    assert_eq!(
        roam_codec::decode_borrowed::<BorrowedArgs<'_>>(&bytes).unwrap(),
        borrowed
    );
    assert_eq!(roam_codec::decode::<OwnedArgs>(&bytes).unwrap(), owned);
    assert_eq!(
        postcard::from_bytes::<BorrowedArgs<'_>>(&bytes).unwrap(),
        borrowed
    );

    let mut group = c.benchmark_group("h_borrowed_args/decode");
    group.bench_function(BenchmarkId::from_parameter("borrowed"), |b| {
        b.iter(|| roam_codec::decode_borrowed::<BorrowedArgs<'_>>(black_box(&bytes)).unwrap())
    });
    group.bench_function(BenchmarkId::from_parameter("owned"), |b| {
        b.iter(|| roam_codec::decode::<OwnedArgs>(black_box(&bytes)).unwrap())
    });
    group.bench_function(
        BenchmarkId::from_parameter("serde-postcard-borrowed"),
        |b| b.iter(|| postcard::from_bytes::<BorrowedArgs<'_>>(black_box(&bytes)).unwrap()),
    );
    group.bench_function(BenchmarkId::from_parameter("serde-postcard-owned"), |b| {
        b.iter(|| postcard::from_bytes::<OwnedArgs>(black_box(&bytes)).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    targets = codec, translated, borrowed
}
criterion_main!(benches);
