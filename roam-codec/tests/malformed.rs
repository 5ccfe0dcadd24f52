//! Malformed input: every failure is a typed `DecodeError`, never a panic, never an allocation
//! sized by an unchecked length, and never a leak (checked with a counting allocator).

mod common;
mod leaks;

use leaks::{largest, live, reset_largest};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use common::*;
use facet::Facet;
use proptest::prelude::*;
use roam_codec::{DecodeError, MAX_DEPTH};
use serde::de::DeserializeOwned;

/// Decodes `bytes` as `T`, requiring an error, and checks that the attempt leaked nothing and
/// allocated no single block larger than `max_block` bytes.
fn decode_err_bounded<T: Facet<'static>>(bytes: &[u8], max_block: usize) -> DecodeError {
    // Run once first so that one-time allocations (compiling and caching the plan, which is
    // looked up by the shape address this call site sees) are not counted.
    let _ = roam_codec::decode::<T>(bytes);
    reset_largest();
    let before = live();
    let result = roam_codec::decode::<T>(bytes);
    let err = match result {
        Ok(_) => panic!("expected an error for {bytes:02x?}"),
        Err(e) => e,
    };
    let leaked = live() - before;
    let largest = largest();
    // The error itself owns no heap memory except for `Unsupported`.
    assert_eq!(leaked, 0, "decode leaked {leaked} bytes: {err}");
    assert!(
        largest <= max_block,
        "allocated a {largest}-byte block on a {}-byte input",
        bytes.len()
    );
    err
}

fn decode_err<T: Facet<'static>>(bytes: &[u8]) -> DecodeError {
    decode_err_bounded::<T>(bytes, 64 * 1024)
}

/// A varint encoding of `v`.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

#[test]
fn every_truncation_is_an_error_without_leaks() {
    let bytes = roam_codec::encode_to_vec(&sample_sink()).unwrap();
    for end in 0..bytes.len() {
        let err = decode_err::<KitchenSink>(&bytes[..end]);
        assert!(
            matches!(
                err,
                DecodeError::UnexpectedEnd { .. } | DecodeError::LengthExceedsInput { .. }
            ),
            "prefix {end}: {err}"
        );
    }
}

#[test]
fn huge_lengths_are_refused_before_allocating() {
    let four_gib = varint(4 << 30);
    let mut input = four_gib.clone();
    input.extend_from_slice(&[0; 10]);
    // Nothing is allocated for the claimed length; the only allocation is the error itself.
    let max_block = 2 * std::mem::size_of::<DecodeError>();
    for err in [
        decode_err_bounded::<Vec<u8>>(&input, max_block),
        decode_err_bounded::<String>(&input, max_block),
        decode_err_bounded::<Vec<Point>>(&input, max_block),
        decode_err_bounded::<Vec<f64>>(&input, max_block),
        decode_err_bounded::<Vec<String>>(&input, max_block),
        decode_err_bounded::<HashMap<String, u32>>(&input, max_block),
        decode_err_bounded::<BTreeMap<u8, u8>>(&input, max_block),
    ] {
        let DecodeError::LengthExceedsInput {
            len, remaining, at, ..
        } = err
        else {
            panic!("expected LengthExceedsInput, got {err}");
        };
        assert_eq!(len, 4 << 30);
        assert_eq!(remaining, 10);
        assert_eq!(at.offset, four_gib.len());
    }
    // A length prefix that is not even a valid varint.
    let err = decode_err::<Vec<u8>>(&[0xff; 11]);
    assert!(matches!(err, DecodeError::BadVarint { .. }), "{err}");
}

#[test]
fn a_length_that_fits_the_input_but_not_the_items_is_refused() {
    // 100 points claimed, each needs 2 bytes, 150 bytes present.
    let mut input = varint(100);
    input.extend(std::iter::repeat_n(0u8, 150));
    let err = decode_err::<Vec<Point>>(&input);
    assert!(
        matches!(
            err,
            DecodeError::LengthExceedsInput {
                needed: 200,
                remaining: 150,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn zero_byte_items_are_budgeted() {
    let input = varint(u64::MAX >> 1);
    let err = decode_err::<Vec<()>>(&input);
    assert!(
        matches!(err, DecodeError::TooManyEmptyItems { .. }),
        "{err}"
    );
    let ok: Vec<()> = roam_codec::decode(&varint(1000)).unwrap();
    assert_eq!(ok.len(), 1000);
}

#[test]
fn bad_bool_names_type_and_field() {
    let mut bytes = roam_codec::encode_to_vec(&sample_sink().scalars).unwrap();
    bytes[0] = 2;
    let err = decode_err::<Scalars>(&bytes);
    let DecodeError::InvalidBool { byte: 2, at } = err else {
        panic!("expected InvalidBool, got {err}");
    };
    assert_eq!(at.type_name, "Scalars");
    assert_eq!(at.field, Some("b"));
    assert_eq!(at.offset, 1);
    assert_eq!(
        err.to_string(),
        "invalid bool byte 0x02 at byte 1 in `Scalars.b`"
    );
}

#[test]
fn bad_option_tag_is_typed() {
    let err = decode_err::<Option<u32>>(&[2, 0]);
    assert!(
        matches!(err, DecodeError::InvalidOptionTag { byte: 2, .. }),
        "{err}"
    );
    // Inside a struct, after a string that must be freed.
    let page = Page {
        items: vec![Point { x: 1, y: 1 }],
        next: Some("n".into()),
        total: 0,
    };
    let mut bytes = roam_codec::encode_to_vec(&page).unwrap();
    bytes[3] = 7; // the `next` tag
    let err = decode_err::<Page<Point>>(&bytes);
    let DecodeError::InvalidOptionTag { byte: 7, at } = err else {
        panic!("expected InvalidOptionTag, got {err}");
    };
    assert_eq!(at.type_name, "Page<Point>");
    assert_eq!(at.field, Some("next"));
}

#[test]
fn bad_variant_indexes_are_typed() {
    let err = decode_err::<Color>(&[3]);
    assert!(
        matches!(
            err,
            DecodeError::UnknownVariant {
                index: 3,
                variants: 3,
                ..
            }
        ),
        "{err}"
    );
    let err = decode_err::<Figure>(&[9]);
    assert!(
        matches!(err, DecodeError::UnknownVariant { index: 9, .. }),
        "{err}"
    );
    let err = decode_err::<Result<u8, String>>(&[2, 0]);
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
    // A variant whose fields fail half way: the earlier field (a Vec) is freed.
    let mut bytes =
        roam_codec::encode_to_vec(&Figure::Poly(vec![Point { x: 1, y: 2 }], true)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] = 9;
    let err = decode_err::<Figure>(&bytes);
    let DecodeError::InvalidBool { at, .. } = err else {
        panic!("expected InvalidBool, got {err}");
    };
    assert_eq!(at.type_name, "Figure::Poly");
    assert_eq!(at.field, Some("1"));
}

#[test]
fn bad_text_is_typed() {
    let err = decode_err::<String>(&[2, 0xc3, 0x28]);
    assert!(matches!(err, DecodeError::InvalidUtf8 { .. }), "{err}");
    let err = decode_err::<char>(&[2, b'a', b'b']);
    assert!(matches!(err, DecodeError::InvalidChar { .. }), "{err}");
    let err = decode_err::<char>(&[1, 0x80]);
    assert!(matches!(err, DecodeError::InvalidChar { .. }), "{err}");
    let err = decode_err::<Vec<char>>(&[2, 1, b'a', 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(matches!(err, DecodeError::InvalidChar { .. }), "{err}");
}

#[test]
fn failures_inside_containers_free_what_was_built() {
    // Third string of a Vec<String> is invalid UTF-8.
    let err = decode_err::<Vec<String>>(&[3, 1, b'a', 1, b'b', 1, 0xff]);
    assert!(matches!(err, DecodeError::InvalidUtf8 { .. }), "{err}");
    // A map whose second value is truncated.
    let err = decode_err::<HashMap<String, String>>(&[2, 1, b'k', 1, b'v', 1, b'j', 3, b'x']);
    assert!(
        matches!(err, DecodeError::LengthExceedsInput { .. }),
        "{err}"
    );
    let err = decode_err::<HashMap<String, Point>>(&[2, 1, b'k', 1, 2, 1, b'j', 3]);
    assert!(matches!(err, DecodeError::UnexpectedEnd { .. }), "{err}");
    // A map whose second key is bad.
    let err = decode_err::<BTreeMap<String, Vec<u8>>>(&[2, 1, b'k', 1, 7, 1, 0xff, 0]);
    assert!(matches!(err, DecodeError::InvalidUtf8 { .. }), "{err}");
    // A boxed value that fails.
    let err = decode_err::<Box<Pair>>(&[1, 2, 0xff, 0xfe]);
    assert!(matches!(err, DecodeError::InvalidUtf8 { .. }), "{err}");
    // An array of structs that fails on the second element.
    let err = decode_err::<[Pair; 2]>(&[1, 1, b'a', 2, 1, 0xff]);
    assert!(matches!(err, DecodeError::InvalidUtf8 { .. }), "{err}");
    // Trees: the right subtree fails after the left one was built.
    let err = decode_err::<Tree>(&[1, 1, 0, 2, 0, 4, 1, 0, 6, 5]);
    assert!(matches!(err, DecodeError::UnknownVariant { .. }), "{err}");
    // Result<Vec<String>, _> failing inside the Ok value.
    let err = decode_err::<Result<Vec<String>, u8>>(&[0, 2, 1, b'a', 1, 0xff]);
    assert!(matches!(err, DecodeError::InvalidUtf8 { .. }), "{err}");
    // Option<Vec<String>> failing inside the Some.
    let err = decode_err::<Option<Vec<String>>>(&[1, 2, 1, b'a']);
    assert!(matches!(err, DecodeError::UnexpectedEnd { .. }), "{err}");
}

#[test]
fn deep_nesting_is_refused() {
    // Tree::Node(Node(Node(...), Leaf), Leaf): a left spine far deeper than the limit.
    let depth = 10 * MAX_DEPTH;
    let mut bytes = vec![1u8; depth];
    bytes.extend_from_slice(&[0, 0]);
    for _ in 0..depth {
        bytes.extend_from_slice(&[0, 0]);
    }
    let err = decode_err::<Tree>(&bytes);
    let DecodeError::DepthLimitExceeded { limit, at } = err else {
        panic!("expected DepthLimitExceeded, got {err}");
    };
    assert_eq!(limit, MAX_DEPTH);
    assert!(at.offset <= MAX_DEPTH + 1, "{at}");

    // The same through Option<Box<_>>: Chain { value, next: Some(Box(Chain { .. })) }.
    let mut bytes = Vec::new();
    for _ in 0..depth {
        bytes.extend_from_slice(&[7, 1]);
    }
    bytes.extend_from_slice(&[7, 0]);
    let err = decode_err::<Chain>(&bytes);
    assert!(
        matches!(err, DecodeError::DepthLimitExceeded { .. }),
        "{err}"
    );

    // And through Vec: Dir { name: "", children: [Dir { .. }] }.
    let mut bytes = Vec::new();
    for _ in 0..depth {
        bytes.extend_from_slice(&[0, 1]);
    }
    bytes.extend_from_slice(&[0, 0]);
    let err = decode_err::<Dir>(&bytes);
    assert!(
        matches!(err, DecodeError::DepthLimitExceeded { .. }),
        "{err}"
    );

    // Values just inside the limit decode, and values too deep are refused when encoding.
    let mut chain = Chain {
        value: 0,
        next: None,
    };
    for value in 1..(MAX_DEPTH / 2) as u32 {
        chain = Chain {
            value,
            next: Some(Box::new(chain)),
        };
    }
    let bytes = roam_codec::encode_to_vec(&chain).unwrap();
    assert_eq!(roam_codec::decode::<Chain>(&bytes).unwrap(), chain);
    let mut tree = Tree::Leaf(0);
    for _ in 0..depth {
        tree = Tree::Node(Box::new(tree), Box::new(Tree::Leaf(1)));
    }
    let err = roam_codec::encode_to_vec(&tree).unwrap_err();
    assert!(
        matches!(err, roam_codec::EncodeError::DepthLimitExceeded { .. }),
        "{err}"
    );
    // Drop the deep tree iteratively-enough for the test thread's stack.
    drop_tree(tree);
}

fn drop_tree(mut tree: Tree) {
    while let Tree::Node(left, _) = tree {
        tree = *left;
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let err = decode_err::<Point>(&[2, 4, 0]);
    assert_eq!(
        err,
        DecodeError::TrailingBytes {
            consumed: 2,
            total: 3
        }
    );
    let err = decode_err::<String>(&[1, b'a', b'b']);
    assert!(matches!(err, DecodeError::TrailingBytes { .. }), "{err}");
}

#[test]
fn a_failure_after_a_filled_default_frees_it() {
    // `role` (a skipped `String` filled with "guest", which allocates) and `cache` are filled
    // before `status` is read; every cut of the input must free them and `name` exactly once.
    let profile = Profile {
        name: "ada".into(),
        cache: Vec::new(),
        role: "guest".into(),
        status: Status::Banned("spam".into(), 7),
        retries: 3,
        level: 1,
        tags: vec!["a".into(), "b".into()],
    };
    let bytes = roam_codec::encode_to_vec(&profile).unwrap();
    for end in 0..bytes.len() {
        let err = decode_err::<Profile>(&bytes[..end]);
        assert!(
            matches!(
                err,
                DecodeError::UnexpectedEnd { .. } | DecodeError::LengthExceedsInput { .. }
            ),
            "cut at {end}: {err}"
        );
    }
    // A bad variant index right after the filled defaults.
    let mut bad = bytes.clone();
    bad[4] = 9;
    let err = decode_err::<Profile>(&bad);
    let DecodeError::UnknownVariant { index: 9, at, .. } = err else {
        panic!("{err}")
    };
    // Locations name the local Rust type and field, not their schema names.
    assert_eq!(at.type_name, "Profile");
    assert_eq!(at.field, Some("status"));
}

/// Decoding arbitrary bytes never panics or leaks, and whatever we accept postcard accepts
/// with the same value (and vice versa, except that we refuse a `char` string holding more
/// than one character, which postcard truncates).
fn agree_with_postcard<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: Facet<'static> + DeserializeOwned + PartialEq + Debug,
{
    let _ = roam_codec::decode::<T>(bytes);
    let before = live();
    let ours = roam_codec::decode::<T>(bytes);
    // `postcard::from_bytes` ignores trailing bytes; require them to be absent, as we do.
    let theirs = match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Ok(v),
        Ok(_) => Err(postcard::Error::DeserializeUnexpectedEnd),
        Err(e) => Err(e),
    };
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) if a != b => {
            // Only NaN (which is not equal to itself) may make equal decodings compare unequal.
            let (da, db) = (format!("{a:?}"), format!("{b:?}"));
            prop_assert!(da.contains("NaN"), "we read {}, postcard read {}", da, db);
            // Debug text compares NaN fine, unless a HashMap's iteration order differs.
            prop_assume!(da == db);
        }
        (Ok(_), Ok(_)) => {}
        (Ok(a), Err(e)) => prop_assert!(false, "we accepted {:?}, postcard said {}", a, e),
        (Err(DecodeError::InvalidChar { .. }), Ok(_)) => {}
        (Err(e), Ok(b)) => prop_assert!(false, "we refused ({}) what postcard read as {:?}", e, b),
        (Err(_), Err(_)) => {}
    }
    drop(ours);
    drop(theirs);
    prop_assert_eq!(live(), before, "leak");
    Ok(())
}

proptest! {
    #[test]
    fn random_bytes_never_panic_or_leak(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        agree_with_postcard::<KitchenSink>(&bytes)?;
        agree_with_postcard::<Containers>(&bytes)?;
        agree_with_postcard::<Scalars>(&bytes)?;
        agree_with_postcard::<Vec<Figure>>(&bytes)?;
        agree_with_postcard::<Tree>(&bytes)?;
        agree_with_postcard::<Dir>(&bytes)?;
        agree_with_postcard::<(Vec<String>, Option<Sparse>)>(&bytes)?;
        agree_with_postcard::<Profile>(&bytes)?;
        agree_with_postcard::<Vec<Status>>(&bytes)?;
    }

    #[test]
    fn mutated_encodings_never_panic_or_leak(
        sink in kitchen_sink(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = roam_codec::encode_to_vec(&sink).unwrap();
        for (index, byte) in flips {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        agree_with_postcard::<KitchenSink>(&bytes)?;
    }
}
