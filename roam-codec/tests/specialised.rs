//! The ops the plan compiler specialises for shapes payloads use all the time (`Vec<String>`,
//! `Option<String>`, `Option<scalar>`, enums without fields, `Box` of an enum, the leaves and
//! tails of recursive enums) keep the general ops' behaviour: postcard's bytes, the same
//! nesting limit on both sides, and the same typed errors.

use facet::Facet;
use roam_codec::{DecodeError, EncodeError, MAX_DEPTH, decode, encode_to_vec};
use serde::{Deserialize, Serialize};

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[repr(u8)]
enum Expr {
    Num(i64),
    Var(String),
    Neg(Box<Expr>),
    Pair(Box<Expr>, Box<Expr>),
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[repr(u8)]
enum Level {
    Low,
    High,
}

/// Discriminants that are not `0..n`: the general enum op.
#[derive(Facet, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[repr(u8)]
enum Sparse {
    One = 1,
    Five = 5,
}

#[derive(Facet, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Record {
    level: Level,
    sparse: Sparse,
    tags: Vec<String>,
    note: Option<String>,
    parent: Option<u64>,
    score: Option<f32>,
    flag: Option<bool>,
    expr: Box<Expr>,
}

fn same_as_postcard<T>(value: &T)
where
    T: Facet<'static> + Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let bytes = encode_to_vec(value).unwrap();
    assert_eq!(bytes, postcard::to_allocvec(value).unwrap(), "{value:?}");
    assert_eq!(&decode::<T>(&bytes).unwrap(), value);
}

#[test]
fn specialised_shapes_match_postcard() {
    for note in [None, Some(String::new()), Some("é".repeat(70))] {
        same_as_postcard(&Record {
            level: Level::High,
            sparse: Sparse::Five,
            tags: vec!["a".into(), String::new(), "x".repeat(200)],
            note,
            parent: Some(u64::MAX),
            score: Some(-0.5),
            flag: Some(true),
            expr: Box::new(Expr::Pair(
                Box::new(Expr::Num(-300)),
                Box::new(Expr::Neg(Box::new(Expr::Var("v".into())))),
            )),
        });
    }
    same_as_postcard(&Record {
        level: Level::Low,
        sparse: Sparse::One,
        tags: vec![],
        note: None,
        parent: None,
        score: None,
        flag: None,
        expr: Box::new(Expr::Num(0)),
    });
}

/// `Neg(Neg(...(Num(1))))`, `n` boxes deep.
fn neg_chain(n: usize) -> Expr {
    let mut e = Expr::Num(1);
    for _ in 0..n {
        e = Expr::Neg(Box::new(e));
    }
    e
}

/// `Pair(Pair(...(Num(1), Num(2))..., Num(2)), Num(2))`: recursion through a variant's first
/// field (a call per level, leaves beside it).
fn left_spine(n: usize) -> Expr {
    let mut e = Expr::Num(1);
    for _ in 0..n {
        e = Expr::Pair(Box::new(e), Box::new(Expr::Num(2)));
    }
    e
}

/// `Pair(Var, Pair(Var, ...(Num(1))))`: recursion through a variant's last field.
fn right_spine(n: usize) -> Expr {
    let mut e = Expr::Num(1);
    for _ in 0..n {
        e = Expr::Pair(Box::new(Expr::Var("l".into())), Box::new(e));
    }
    e
}

/// The deepest value `build` makes that encodes, checking that it also decodes, that one level
/// more is refused by the encoder, and that the decoder refuses that level too.
fn depth_limit_is_the_same_both_ways(build: fn(usize) -> Expr) {
    let deepest = (0..MAX_DEPTH)
        .take_while(|&n| encode_to_vec(&build(n)).is_ok())
        .last()
        .unwrap();
    assert!(deepest > 10 && deepest < MAX_DEPTH, "{deepest}");
    let value = build(deepest);
    let bytes = encode_to_vec(&value).unwrap();
    assert_eq!(bytes, postcard::to_allocvec(&value).unwrap());
    assert_eq!(decode::<Expr>(&bytes).unwrap(), value);

    let too_deep = build(deepest + 1);
    let err = encode_to_vec(&too_deep).unwrap_err();
    assert!(
        matches!(
            err,
            EncodeError::DepthLimitExceeded {
                limit: MAX_DEPTH,
                ..
            }
        ),
        "{err}"
    );
    let bytes = postcard::to_allocvec(&too_deep).unwrap();
    let err = decode::<Expr>(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::DepthLimitExceeded {
                limit: MAX_DEPTH,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn recursive_enums_nest_to_the_same_limit_when_encoding_and_decoding() {
    depth_limit_is_the_same_both_ways(neg_chain);
    depth_limit_is_the_same_both_ways(left_spine);
    depth_limit_is_the_same_both_ways(right_spine);
}

#[test]
fn specialised_shapes_give_typed_errors() {
    // Option<u64>: a bad tag, a missing value, a bad varint.
    assert!(matches!(
        decode::<Option<u64>>(&[2]),
        Err(DecodeError::InvalidOptionTag { byte: 2, .. })
    ));
    assert!(matches!(
        decode::<Option<u64>>(&[1]),
        Err(DecodeError::UnexpectedEnd { .. })
    ));
    assert!(matches!(
        decode::<Option<u16>>(&[1, 0xff, 0xff, 0x04]),
        Err(DecodeError::BadVarint { .. })
    ));
    assert!(matches!(
        decode::<Option<bool>>(&[1, 2]),
        Err(DecodeError::InvalidBool { byte: 2, .. })
    ));
    // Option<String>: a length beyond the input, bad UTF-8.
    assert!(matches!(
        decode::<Option<String>>(&[1, 5, b'a']),
        Err(DecodeError::LengthExceedsInput { .. })
    ));
    let err = decode::<Option<String>>(&[1, 1, 0xff]).unwrap_err();
    let DecodeError::InvalidUtf8 { at } = err else {
        panic!("expected InvalidUtf8, got {err}");
    };
    assert_eq!((at.offset, at.type_name), (2, "String"));
    // Vec<String>: the second item is not UTF-8; it is named like an ordinary list's item.
    let err = decode::<Vec<String>>(&[2, 1, b'a', 1, 0xc3]).unwrap_err();
    let DecodeError::InvalidUtf8 { at } = err else {
        panic!("expected InvalidUtf8, got {err}");
    };
    assert_eq!((at.offset, at.type_name), (4, "String"));
    // An enum without fields: an index past its variants.
    let err = decode::<Level>(&[2]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::UnknownVariant {
                index: 2,
                variants: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(decode::<Sparse>(&[1]).unwrap(), Sparse::Five);
    assert!(matches!(
        decode::<Sparse>(&[2]),
        Err(DecodeError::UnknownVariant { .. })
    ));
    // A boxed enum: an unknown variant inside the box (the box is freed).
    assert!(matches!(
        decode::<Box<Expr>>(&[2, 9]),
        Err(DecodeError::UnknownVariant { index: 9, .. })
    ));
}
