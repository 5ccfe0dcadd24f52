//! `#[facet(rename)]`, `#[facet(rename_all)]` and `#[facet(skip)]`: renames change the schema
//! but not the bytes; skipped fields are on neither the wire nor the schema and are filled from
//! their defaults when decoding (by the plan codec and by translations); what roam cannot model
//! is refused with `UnsupportedShape`, never a panic.

mod common;

use common::*;
use facet::Facet;
use proptest::prelude::*;
use roam_codec::translate::{Translation, decode_translated};
use roam_codec::{DecodeError, EncodeError, UnsupportedShape};
use roam_core::schema::{Field, PrimitiveKind, Schema, StructKind, Variant};

fn prim(kind: PrimitiveKind) -> Schema {
    Schema::Primitive(kind)
}

/// Our bytes equal serde-postcard's (whose types mirror every rename and skip), both decoders
/// read them back to `value`.
fn check_parity(value: &Profile) -> Result<(), TestCaseError> {
    let expected = postcard::to_allocvec(value).expect("postcard encodes");
    let ours = roam_codec::encode_to_vec(value).expect("plan codec encodes");
    prop_assert_eq!(&ours, &expected);
    let back: Profile = roam_codec::decode(&ours).expect("plan codec decodes");
    prop_assert_eq!(&back, value);
    let via_serde: Profile = postcard::from_bytes(&ours).expect("postcard decodes");
    prop_assert_eq!(&via_serde, value);
    Ok(())
}

proptest! {
    #[test]
    fn renamed_and_skipped_fields_match_postcard(p in profile()) {
        check_parity(&p)?;
    }

    #[test]
    fn skipped_fields_are_not_sent_and_come_back_as_their_defaults(
        p in profile(),
        cache in prop::collection::vec(text(), 1..3),
        role in text(),
        retries in any::<u8>(),
    ) {
        let changed = Profile { cache, role, retries, ..p.clone() };
        let bytes = roam_codec::encode_to_vec(&changed).unwrap();
        // What the skipped fields hold changes nothing on the wire.
        prop_assert_eq!(&bytes, &roam_codec::encode_to_vec(&p).unwrap());
        prop_assert_eq!(&bytes, &postcard::to_allocvec(&changed).unwrap());
        prop_assert_eq!(roam_codec::decode::<Profile>(&bytes).unwrap(), p.clone());
        prop_assert_eq!(postcard::from_bytes::<Profile>(&bytes).unwrap(), p);
    }
}

#[test]
fn the_wire_holds_only_the_fields_that_are_not_skipped() {
    let p = Profile {
        name: "ada".into(),
        cache: vec!["x".into()],
        role: "admin".into(),
        status: Status::Banned("spam".into(), 99),
        retries: 9,
        level: 2,
        tags: vec!["t".into()],
    };
    let bytes = roam_codec::encode_to_vec(&p).unwrap();
    assert_eq!(
        bytes,
        [
            3, b'a', b'd', b'a', 2, 4, b's', b'p', b'a', b'm', 2, 1, 1, b't'
        ]
    );
    let back: Profile = roam_codec::decode(&bytes).unwrap();
    assert_eq!(
        back,
        Profile {
            cache: Vec::new(),
            role: "guest".into(),
            status: Status::Banned("spam".into(), 7),
            retries: 3,
            ..p
        }
    );
    let on_hold = Status::OnHold {
        since: 5,
        note: "n".into(),
    };
    let bytes = roam_codec::encode_to_vec(&on_hold).unwrap();
    assert_eq!(bytes, [1, 5]);
    assert_eq!(
        roam_codec::decode::<Status>(&bytes).unwrap(),
        Status::OnHold {
            since: 5,
            note: String::new()
        }
    );
}

#[test]
fn default_expressions_of_skipped_fields_are_evaluated_on_every_decode() {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    fn next_id() -> u32 {
        CALLS.fetch_add(1, Ordering::SeqCst) + 100
    }
    #[derive(Facet, Debug, PartialEq)]
    struct Counted {
        a: u8,
        #[facet(skip, default = next_id())]
        id: u32,
        #[facet(skip, default)]
        seen: Option<String>,
    }
    let bytes = roam_codec::encode_to_vec(&Counted {
        a: 1,
        id: 0,
        seen: Some("x".into()),
    })
    .unwrap();
    assert_eq!(bytes, [1]);
    let first: Counted = roam_codec::decode(&bytes).unwrap();
    let second: Counted = roam_codec::decode(&bytes).unwrap();
    assert_eq!(first.seen, None);
    assert_eq!(second.id, first.id + 1);
    // Inside containers, options and boxes too.
    let nested: Vec<Option<Box<Counted>>> = roam_codec::decode(&[2, 1, 4, 0]).unwrap();
    assert_eq!(nested.len(), 2);
    assert_eq!(nested[0].as_ref().map(|c| c.a), Some(4));
    assert!(nested[1].is_none());
}

#[test]
fn the_schema_carries_renamed_names_and_leaves_skipped_fields_out() {
    let status = Schema::Enum {
        name: "Status".into(),
        variants: vec![
            Variant::unit("active"),
            Variant {
                name: "on-hold".into(),
                kind: StructKind::Named,
                fields: vec![Field::new("since", prim(PrimitiveKind::U64))],
            },
            Variant {
                name: "banned".into(),
                kind: StructKind::Tuple,
                fields: vec![Field::new("0", prim(PrimitiveKind::String))],
            },
        ],
    };
    assert_eq!(roam_codec::schema_of::<Status>().unwrap(), status);
    let list = |s| Schema::List(Box::new(s));
    assert_eq!(
        roam_codec::schema_of::<Profile>().unwrap(),
        Schema::Struct {
            name: "UserProfile".into(),
            kind: StructKind::Named,
            fields: vec![
                Field::new("userName", prim(PrimitiveKind::String)),
                Field::new("status", status),
                Field::defaulted("level", prim(PrimitiveKind::U8)),
                Field::new("tags", list(prim(PrimitiveKind::String))),
            ],
        }
    );
    // A renamed generic type keeps its arguments; a skipped tuple field keeps the positions
    // of the others.
    #[derive(Facet)]
    #[facet(rename = "Pair")]
    struct Couple<T>(T, #[facet(skip, default)] u8, T);
    assert_eq!(
        roam_codec::schema_of::<Couple<bool>>().unwrap(),
        Schema::Struct {
            name: "Pair<bool>".into(),
            kind: StructKind::Tuple,
            fields: vec![
                Field::new("0", prim(PrimitiveKind::Bool)),
                Field::new("2", prim(PrimitiveKind::Bool)),
            ],
        }
    );
    // Recursion refers to the renamed name.
    #[derive(Facet)]
    #[facet(rename = "Node")]
    struct Linked {
        next: Option<Box<Linked>>,
    }
    assert_eq!(
        roam_codec::schema_of::<Linked>().unwrap(),
        Schema::Struct {
            name: "Node".into(),
            kind: StructKind::Named,
            fields: vec![Field::new(
                "next",
                Schema::Option(Box::new(Schema::Ref("Node".into())))
            )],
        }
    );
}

/// The type, the plan and the schema are all refused with the same reason, and encoding and
/// decoding say so instead of panicking.
fn refused<T: Facet<'static>>(value: &T, needle: &str) -> UnsupportedShape {
    let u = roam_codec::plan::<T>().expect_err("the plan is refused");
    assert!(u.reason.contains(needle), "{u}");
    let s = roam_codec::schema_of::<T>().expect_err("the schema is refused");
    assert!(s.reason.contains(needle), "{s}");
    assert!(
        matches!(
            roam_codec::encode_to_vec(value),
            Err(EncodeError::Unsupported(_))
        ),
        "encode"
    );
    assert!(
        matches!(
            roam_codec::decode::<T>(&[0, 0, 0]),
            Err(DecodeError::Unsupported(_))
        ),
        "decode"
    );
    u
}

#[test]
fn what_roam_cannot_model_is_refused() {
    #[derive(Facet)]
    struct NoDefault {
        a: u8,
        #[facet(skip)]
        b: u8,
    }
    let u = refused(&NoDefault { a: 1, b: 2 }, "needs `#[facet(default)]`");
    assert_eq!(u.path, ".b", "{u}");

    #[derive(Facet)]
    struct SerOnly {
        #[facet(skip_serializing)]
        b: u8,
    }
    refused(&SerOnly { b: 1 }, "`#[facet(skip_serializing)]`");

    #[derive(Facet)]
    struct DeOnly {
        #[facet(skip_deserializing, default)]
        b: u8,
    }
    refused(&DeOnly { b: 1 }, "`#[facet(skip_deserializing)]`");

    fn never(_: &u8) -> bool {
        false
    }
    #[derive(Facet)]
    struct Conditional {
        #[facet(skip_serializing_if = never)]
        b: u8,
    }
    refused(&Conditional { b: 1 }, "`#[facet(skip_serializing_if)]`");

    #[derive(Facet)]
    struct Inner {
        x: u8,
    }
    #[derive(Facet)]
    struct Flat {
        #[facet(flatten)]
        inner: Inner,
    }
    refused(
        &Flat {
            inner: Inner { x: 1 },
        },
        "`#[facet(flatten)]`",
    );

    #[derive(Facet)]
    struct Celsius(u8);
    impl From<Celsius> for u16 {
        fn from(c: Celsius) -> u16 {
            u16::from(c.0)
        }
    }
    impl TryFrom<&u16> for Celsius {
        type Error = std::num::TryFromIntError;
        fn try_from(v: &u16) -> Result<Celsius, Self::Error> {
            u8::try_from(*v).map(Celsius)
        }
    }
    #[derive(Facet)]
    struct Proxied {
        #[facet(proxy = Celsius)]
        t: u16,
    }
    refused(&Proxied { t: 3 }, "`#[facet(proxy)]`");

    #[derive(Facet)]
    struct Twice {
        #[facet(rename = "b")]
        a: u8,
        b: u8,
    }
    // Names do not matter to the bytes, so the plan is fine; the schema cannot be made.
    let _ = Twice { a: 1, b: 2 };
    assert!(roam_codec::plan::<Twice>().is_ok());
    let s = roam_codec::schema_of::<Twice>().expect_err("the schema is refused");
    assert!(s.reason.contains("two fields have the same name"), "{s}");

    #[derive(Facet)]
    #[repr(u8)]
    #[allow(dead_code)]
    enum TwoNames {
        #[facet(rename = "B")]
        A,
        B,
    }
    let s = roam_codec::schema_of::<TwoNames>().expect_err("the schema is refused");
    assert!(s.reason.contains("two variants have the same name"), "{s}");
}

#[test]
fn translations_match_renamed_names_and_fill_local_skipped_fields() {
    #[derive(Facet)]
    struct OrderV1 {
        id: u64,
        note: String,
        hits: u32,
        state: StateV1,
    }
    #[derive(Facet)]
    #[repr(u8)]
    #[allow(dead_code)]
    enum StateV1 {
        Open,
        Closed(u8),
    }
    #[derive(Facet, Debug, PartialEq)]
    #[facet(rename = "Order")]
    struct OrderV2 {
        // Local only: not in our schema, so the writer's `hits` is skipped over.
        #[facet(skip, default = 5)]
        hits: u32,
        #[facet(rename = "note")]
        text: String,
        id: u64,
        state: StateV2,
        #[facet(default)]
        rush: bool,
    }
    #[derive(Facet, Debug, PartialEq)]
    #[repr(u8)]
    enum StateV2 {
        #[facet(rename = "Closed")]
        Shut(u8, #[facet(skip, default = 2)] u8),
        #[facet(rename = "Open")]
        Pending,
    }
    let writer = roam_codec::schema_of::<OrderV1>().unwrap();
    let t = Translation::compile(&writer, OrderV2::SHAPE).unwrap();
    assert!(!t.is_identity());
    let bytes = roam_codec::encode_to_vec(&OrderV1 {
        id: 7,
        note: "hi".into(),
        hits: 40,
        state: StateV1::Closed(9),
    })
    .unwrap();
    let order: OrderV2 = decode_translated(&t, &bytes).unwrap();
    assert_eq!(
        order,
        OrderV2 {
            hits: 5,
            text: "hi".into(),
            id: 7,
            state: StateV2::Shut(9, 2),
            rush: false,
        }
    );
    let bytes = roam_codec::encode_to_vec(&OrderV1 {
        id: 1,
        note: String::new(),
        hits: 0,
        state: StateV1::Open,
    })
    .unwrap();
    let order: OrderV2 = decode_translated(&t, &bytes).unwrap();
    assert_eq!(order.state, StateV2::Pending);

    // Our own schema translates to itself as the identity, and the plan fills the skip.
    let ours = roam_codec::schema_of::<OrderV2>().unwrap();
    let identity = Translation::compile(&ours, OrderV2::SHAPE).unwrap();
    assert!(identity.is_identity());
    let local = OrderV2 {
        hits: 77,
        text: "x".into(),
        id: 2,
        state: StateV2::Shut(1, 1),
        rush: true,
    };
    let bytes = roam_codec::encode_to_vec(&local).unwrap();
    let back: OrderV2 = decode_translated(&identity, &bytes).unwrap();
    assert_eq!(
        back,
        OrderV2 {
            hits: 5,
            state: StateV2::Shut(1, 2),
            ..local
        }
    );
}

/// A default that does not fit its field (facet's derive panics converting `300` to `u8`) is
/// the type author's bug, but a peer decides when it runs: the decode fails with a typed
/// error instead of panicking in the task that reads the value.
#[test]
fn a_panicking_default_fails_the_decode_instead_of_the_task() {
    #[derive(Facet, Debug)]
    struct Skipping {
        a: u32,
        #[facet(skip, default = 300)]
        b: u8,
    }
    #[derive(Facet, Debug)]
    struct Old {
        a: u32,
    }
    #[derive(Facet, Debug)]
    struct New {
        a: u32,
        #[facet(default = 300)]
        b: u8,
    }
    let bytes = roam_codec::encode_to_vec(&Old { a: 5 }).expect("encodes");
    let err = roam_codec::decode::<Skipping>(&bytes).unwrap_err();
    assert!(err.to_string().contains("default panicked"), "{err}");

    let writer = roam_codec::schema_of::<Old>().expect("describable");
    let t = Translation::compile(&writer, New::SHAPE).expect("compatible: `b` has a default");
    let err = decode_translated::<New>(&t, &bytes).unwrap_err();
    assert!(err.to_string().contains("default panicked"), "{err}");
    // The codec is still fine for well-behaved values.
    assert_eq!(roam_codec::decode::<(u32,)>(&bytes).unwrap(), (5,));
}
