//! Borrowed decoding: `&str` and `&[u8]` read as slices of the input (`decode_borrowed`,
//! `decode_borrowed_unchecked` and their translated forms). Values round-trip and agree with
//! postcard's own borrowed decoding; bad input gives typed errors without panics or leaks
//! (checked with a counting allocator); what cannot be borrowed soundly is refused.

mod leaks;

use leaks::live;
use std::collections::HashMap;
use std::fmt::Debug;

use facet::Facet;
use proptest::prelude::*;
use roam_codec::translate::{
    Translation, decode_translated, decode_translated_borrowed,
    decode_translated_borrowed_unchecked,
};
use roam_codec::{
    DecodeError, decode_borrowed, decode_borrowed_unchecked, encode_to_vec, schema_of,
};
use serde::{Deserialize, Serialize};

// ------------------------------------------------------------------------------------------
// Types
// ------------------------------------------------------------------------------------------

/// A message holding borrowed fields, generic over the lifetime it borrows for.
#[derive(Facet, Serialize, Deserialize, Debug, PartialEq)]
struct Msg<'a> {
    id: u32,
    name: &'a str,
    #[serde(borrow)]
    tags: Vec<&'a str>,
    blob: &'a [u8],
    note: Option<String>,
}

/// The same message, owned (what a peer with owned types sends).
#[derive(Facet, Serialize, Deserialize, Debug, PartialEq, Clone)]
struct OwnedMsg {
    id: u32,
    name: String,
    tags: Vec<String>,
    blob: Vec<u8>,
    note: Option<String>,
}

/// facet's derive gives this `Facet<'a>` for every `'a`: decoding it from a short-lived buffer
/// would leave a `&'static str` pointing into that buffer, so the safe API must refuse it.
#[derive(Facet, Debug)]
struct StaticName {
    name: &'static str,
}

#[derive(Facet, Debug, PartialEq)]
#[repr(u8)]
enum Token<'a> {
    Word(&'a str),
    Number(i64),
}

#[derive(Facet, Debug, PartialEq, Clone, Serialize, Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

/// Decodes `bytes` as `T` with the borrowed API, requiring an error, and checks that the
/// attempt leaked nothing.
fn borrowed_err<'de, T: Facet<'de> + Debug>(bytes: &'de [u8]) -> DecodeError {
    // Once first, so that compiling and caching the plan is not counted.
    drop(decode_borrowed::<T>(bytes));
    let before = live();
    let err = match decode_borrowed::<T>(bytes) {
        Ok(v) => panic!("expected an error for {bytes:02x?}, got {v:?}"),
        Err(e) => e,
    };
    let leaked = live() - before;
    assert_eq!(leaked, 0, "decode leaked {leaked} bytes: {err}");
    err
}

// ------------------------------------------------------------------------------------------
// Round trips
// ------------------------------------------------------------------------------------------

#[test]
fn a_tuple_of_borrowed_and_owned_values_round_trips() {
    let blob: Vec<u8> = (0..=255).collect();
    let value: (&str, &[u8], u32, String) = ("héllo", &blob, 7, "owned".to_owned());
    let bytes = encode_to_vec(&value).unwrap();
    assert_eq!(bytes, postcard::to_allocvec(&value).unwrap());
    let back: (&str, &[u8], u32, String) = decode_borrowed(&bytes).unwrap();
    assert_eq!(back, value);
    // The borrowed parts are slices of the input, not copies.
    let range = bytes.as_ptr_range();
    assert!(range.contains(&back.0.as_ptr()));
    assert!(range.contains(&back.1.as_ptr()));
    // postcard's own borrowed decoding reads the same.
    let theirs: (&str, &[u8], u32, String) = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(theirs, back);
}

/// Borrowed values inside facet's own impls, whose lifetimes the `Facet<'de>` bound checks.
type Nested<'a> = (
    Vec<&'a str>,
    Option<&'a str>,
    Option<&'a [u8]>,
    Vec<(&'a str, &'a [u8])>,
    HashMap<&'a str, u8>,
    Box<&'a str>,
    [&'a str; 2],
);

#[test]
fn borrowed_values_nest_in_std_containers() {
    let mut map = HashMap::new();
    map.insert("a", 1u8);
    map.insert("bb", 2);
    let value: Nested<'_> = (
        vec!["x", "", "zz"],
        Some("some"),
        None,
        vec![("k", b"v"), ("", b"")],
        map,
        Box::new("boxed"),
        ["l", "r"],
    );
    let bytes = encode_to_vec(&value).unwrap();
    assert_eq!(bytes, postcard::to_allocvec(&value).unwrap());
    let back: Nested<'_> = decode_borrowed(&bytes).unwrap();
    assert_eq!(back, value);
    assert!(
        roam_codec::plan::<(Vec<&str>, Option<&[u8]>)>()
            .unwrap()
            .can_decode_borrowed()
    );
}

#[test]
fn owned_types_decode_through_the_borrowed_api() {
    let msg = OwnedMsg {
        id: 9,
        name: "ada".into(),
        tags: vec!["a".into(), "b".into()],
        blob: vec![1, 2, 3],
        note: Some("n".into()),
    };
    let bytes = encode_to_vec(&msg).unwrap();
    assert_eq!(decode_borrowed::<OwnedMsg>(&bytes).unwrap(), msg);
    assert_eq!(
        decode_borrowed::<Point>(&[2, 1]).unwrap(),
        Point { x: 1, y: -1 }
    );
    assert_eq!(decode_borrowed::<Vec<u8>>(&[2, 7, 8]).unwrap(), vec![7, 8]);
}

#[test]
fn structs_holding_borrowed_fields_round_trip_through_the_unchecked_api() {
    let blob = [0xde, 0xad, 0xbe, 0xef];
    let msg = Msg {
        id: 1,
        name: "ada",
        tags: vec!["x", "yy"],
        blob: &blob,
        note: None,
    };
    let bytes = encode_to_vec(&msg).unwrap();
    assert_eq!(bytes, postcard::to_allocvec(&msg).unwrap());
    // SAFETY: every reference in `Msg` is spelled with its lifetime parameter.
    let back: Msg<'_> = unsafe { decode_borrowed_unchecked(&bytes) }.unwrap();
    assert_eq!(back, msg);
    assert!(bytes.as_ptr_range().contains(&back.name.as_ptr()));
    // The owned form of the message reads the same bytes.
    let owned: OwnedMsg = roam_codec::decode(&bytes).unwrap();
    assert_eq!(owned.name, "ada");

    let tokens = vec![Token::Word("let"), Token::Number(-3), Token::Word("x")];
    let bytes = encode_to_vec(&tokens).unwrap();
    // SAFETY: `Token`'s only reference is spelled with its lifetime parameter.
    let back: Vec<Token<'_>> = unsafe { decode_borrowed_unchecked(&bytes) }.unwrap();
    assert_eq!(back, tokens);
}

// ------------------------------------------------------------------------------------------
// What is refused
// ------------------------------------------------------------------------------------------

#[test]
fn borrowed_fields_of_user_types_are_refused_by_the_safe_api() {
    let bytes = encode_to_vec(&StaticName { name: "x" }).unwrap();
    let err = decode_borrowed::<StaticName>(&bytes).unwrap_err();
    let DecodeError::Unsupported(u) = &err else {
        panic!("expected Unsupported, got {err}");
    };
    assert!(u.reason.contains("decode_borrowed_unchecked"), "{err}");
    assert_eq!(u.path, ".name");
    // The same inside a tuple, a Vec or an enum.
    let bytes = encode_to_vec(&(1u8, vec![Token::Word("w")])).unwrap();
    let err = decode_borrowed::<(u8, Vec<Token<'_>>)>(&bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Unsupported(_)), "{err}");
    assert!(!roam_codec::plan::<Msg<'_>>().unwrap().can_decode_borrowed());
    // The owned API refuses every borrowed type.
    let bytes = encode_to_vec(&("x", 1u32)).unwrap();
    let err = roam_codec::decode::<(&'static str, u32)>(&bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Unsupported(_)), "{err}");
}

#[test]
fn references_that_cannot_borrow_from_the_input_are_refused() {
    let n = 5u32;
    let bytes = encode_to_vec(&&n).unwrap();
    assert!(matches!(
        decode_borrowed::<&u32>(&bytes),
        Err(DecodeError::Unsupported(_))
    ));
    let points = [Point { x: 1, y: 2 }];
    let bytes = encode_to_vec(&&points[..]).unwrap();
    assert!(matches!(
        decode_borrowed::<&[Point]>(&bytes),
        Err(DecodeError::Unsupported(_))
    ));
    let bytes = encode_to_vec(&"s").unwrap();
    assert!(matches!(
        decode_borrowed::<&mut str>(&bytes),
        Err(DecodeError::Unsupported(_))
    ));
    assert!(!roam_codec::plan::<&u32>().unwrap().can_decode_borrowed());
}

// ------------------------------------------------------------------------------------------
// Bad input
// ------------------------------------------------------------------------------------------

#[test]
fn malformed_utf8_is_a_typed_error() {
    // 0xff then "b": not UTF-8, after an owned string that must be freed.
    let mut bytes = encode_to_vec(&("owned".to_owned(), "ab", 1u8)).unwrap();
    // The second string's bytes start after the first's length and bytes and its own length.
    let second = 1 + 5 + 1;
    bytes[second] = 0xff;
    let err = borrowed_err::<(String, &str, u8)>(&bytes);
    let DecodeError::InvalidUtf8 { at } = err else {
        panic!("expected InvalidUtf8, got {err}");
    };
    assert_eq!(at.offset, second);
    assert_eq!(at.type_name, "(String, &str, u8)");
    // A lone continuation byte, a truncated sequence and an overlong encoding.
    for bad in [&[1, 0x80][..], &[2, 0xe2, 0x82], &[2, 0xc0, 0xaf]] {
        let err = borrowed_err::<&str>(bad);
        assert!(matches!(err, DecodeError::InvalidUtf8 { .. }), "{err}");
    }
    // Bytes need not be UTF-8.
    assert_eq!(decode_borrowed::<&[u8]>(&[1, 0xff]).unwrap(), &[0xff]);
}

#[test]
fn every_truncation_is_an_error_without_leaks() {
    let blob = vec![7u8; 300];
    let value: (Vec<String>, &str, &[u8], Vec<&str>, u64) = (
        vec!["owned".into(), "strings".into()],
        "borrowed text",
        &blob,
        vec!["a", "bc"],
        u64::MAX,
    );
    let bytes = encode_to_vec(&value).unwrap();
    for end in 0..bytes.len() {
        let err = borrowed_err::<(Vec<String>, &str, &[u8], Vec<&str>, u64)>(&bytes[..end]);
        assert!(
            matches!(
                err,
                DecodeError::UnexpectedEnd { .. } | DecodeError::LengthExceedsInput { .. }
            ),
            "prefix {end}: {err}"
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        borrowed_err::<(Vec<String>, &str, &[u8], Vec<&str>, u64)>(&long),
        DecodeError::TrailingBytes { .. }
    ));
}

#[test]
fn a_huge_length_is_refused_before_reading() {
    let input = [0xff, 0xff, 0xff, 0xff, 0x0f, b'a'];
    let err = borrowed_err::<&str>(&input);
    assert!(
        matches!(err, DecodeError::LengthExceedsInput { remaining: 1, .. }),
        "{err}"
    );
    let err = borrowed_err::<&[u8]>(&input);
    assert!(
        matches!(err, DecodeError::LengthExceedsInput { remaining: 1, .. }),
        "{err}"
    );
}

type Mixture<'a> = (Vec<String>, &'a str, Option<&'a [u8]>, Vec<&'a str>, u16);

/// Decodes `bytes` with the borrowed API and postcard's, and checks that they agree and that
/// nothing leaked.
fn agree_with_postcard(bytes: &[u8]) -> Result<(), TestCaseError> {
    drop(decode_borrowed::<Mixture<'_>>(bytes));
    let before = live();
    let ours = decode_borrowed::<Mixture<'_>>(bytes);
    let theirs = match postcard::take_from_bytes::<Mixture<'_>>(bytes) {
        Ok((v, [])) => Ok(v),
        Ok(_) => Err(postcard::Error::DeserializeUnexpectedEnd),
        Err(e) => Err(e),
    };
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
        (Ok(a), Err(e)) => prop_assert!(false, "we accepted {:?}, postcard said {}", a, e),
        (Err(e), Ok(b)) => prop_assert!(false, "we refused ({}) what postcard read as {:?}", e, b),
        (Err(_), Err(_)) => {}
    }
    drop(ours);
    drop(theirs);
    prop_assert_eq!(live(), before, "leak");
    Ok(())
}

fn mixture() -> impl Strategy<Value = (Vec<String>, String, Option<Vec<u8>>, Vec<String>, u16)> {
    (
        prop::collection::vec(".{0,6}", 0..3),
        ".{0,40}",
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        prop::collection::vec("[a-z]{0,3}", 0..4),
        any::<u16>(),
    )
}

proptest! {
    #[test]
    fn borrowed_decoding_round_trips(v in mixture()) {
        let (owned, text, blob, words, n) = &v;
        let value: Mixture<'_> = (
            owned.clone(),
            text,
            blob.as_deref(),
            words.iter().map(String::as_str).collect(),
            *n,
        );
        let bytes = encode_to_vec(&value).unwrap();
        prop_assert_eq!(&bytes, &postcard::to_allocvec(&value).unwrap());
        // The owned form of the same value has the same bytes.
        prop_assert_eq!(&bytes, &encode_to_vec(&v).unwrap());
        let back: Mixture<'_> = decode_borrowed(&bytes).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn random_bytes_never_panic_or_leak(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        agree_with_postcard(&bytes)?;
    }

    #[test]
    fn mutated_encodings_never_panic_or_leak(
        v in mixture(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode_to_vec(&v).unwrap();
        for (index, byte) in flips {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        agree_with_postcard(&bytes)?;
    }
}

// ------------------------------------------------------------------------------------------
// Translations into borrowed types
// ------------------------------------------------------------------------------------------

/// An older request type: the peer still sends `priority`, and has no `tags`.
#[derive(Facet, Debug, Clone)]
struct OrderV1 {
    id: u64,
    priority: u8,
    note: String,
}

/// The local request type: `priority` removed, `tags` added with a default.
#[derive(Facet, Debug, PartialEq)]
struct Order {
    id: u64,
    note: String,
    #[facet(default)]
    tags: Vec<String>,
}

/// The same, reading the note without copying it.
#[derive(Facet, Debug, PartialEq)]
struct OrderRef<'a> {
    id: u64,
    note: &'a str,
    #[facet(default)]
    tags: Vec<String>,
}

#[test]
fn a_handlers_borrowed_arguments_are_read_through_a_translation() {
    // Arguments `(name, order)`: the order's type changed, the name is borrowed.
    let sent = (
        "ada".to_owned(),
        OrderV1 {
            id: 4,
            priority: 9,
            note: "rush".into(),
        },
    );
    let bytes = encode_to_vec(&sent).unwrap();
    let writer = schema_of::<(String, OrderV1)>().unwrap();
    let t = Translation::compile(&writer, <(&str, Order)>::SHAPE).unwrap();
    assert!(!t.is_identity());
    let (name, order): (&str, Order) = decode_translated_borrowed(&t, &bytes).unwrap();
    assert_eq!(name, "ada");
    assert!(bytes.as_ptr_range().contains(&name.as_ptr()));
    assert_eq!(
        order,
        Order {
            id: 4,
            note: "rush".into(),
            tags: vec![]
        }
    );
    // The owned entry point refuses a reader type that borrows.
    let err = decode_translated::<(&'static str, Order)>(&t, &bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Unsupported(_)), "{err}");

    // Identical schemas: the ordinary plan, borrowing.
    let writer = schema_of::<(String, u32)>().unwrap();
    let t = Translation::compile(&writer, <(&str, u32)>::SHAPE).unwrap();
    assert!(t.is_identity());
    let bytes = encode_to_vec(&("x".to_owned(), 3u32)).unwrap();
    let back: (&str, u32) = decode_translated_borrowed(&t, &bytes).unwrap();
    assert_eq!(back, ("x", 3));
}

#[test]
fn a_translation_into_a_struct_with_borrowed_fields() {
    let sent = OrderV1 {
        id: 4,
        priority: 9,
        note: "rush".into(),
    };
    let bytes = encode_to_vec(&sent).unwrap();
    let writer = schema_of::<OrderV1>().unwrap();
    let t = Translation::compile(&writer, OrderRef::SHAPE).unwrap();
    // The safe entry point cannot check the struct's field lifetimes.
    let err = decode_translated_borrowed::<OrderRef<'_>>(&t, &bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Unsupported(_)), "{err}");
    // SAFETY: `OrderRef`'s only reference is spelled with its lifetime parameter.
    let order: OrderRef<'_> = unsafe { decode_translated_borrowed_unchecked(&t, &bytes) }.unwrap();
    assert_eq!(
        order,
        OrderRef {
            id: 4,
            note: "rush",
            tags: vec![]
        }
    );

    // Bad UTF-8 and every truncation: typed errors, nothing leaked.
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] = 0xff;
    // SAFETY: as above.
    let err = unsafe { decode_translated_borrowed_unchecked::<OrderRef<'_>>(&t, &bad) };
    assert!(
        matches!(err, Err(DecodeError::InvalidUtf8 { .. })),
        "{err:?}"
    );
    for end in 0..bytes.len() {
        let before = live();
        // SAFETY: as above.
        let err =
            unsafe { decode_translated_borrowed_unchecked::<OrderRef<'_>>(&t, &bytes[..end]) };
        assert!(err.is_err(), "prefix {end}");
        drop(err);
        assert_eq!(live(), before, "prefix {end} leaked");
    }
}
