//! The plan codec against serde-postcard: identical bytes, and lossless round trips.

mod common;

use std::fmt::Debug;
use std::rc::Rc;
use std::sync::Arc;

use common::*;
use facet::Facet;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Our bytes equal postcard's, we decode them back, and postcard decodes them too.
fn check<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Facet<'static> + Serialize + DeserializeOwned + PartialEq + Debug,
{
    let expected = postcard::to_allocvec(value).expect("postcard encodes");
    let ours = roam_codec::encode_to_vec(value).expect("plan codec encodes");
    prop_assert_eq!(&ours, &expected, "bytes differ for {:?}", value);
    let back: T = roam_codec::decode(&ours).expect("plan codec decodes its own bytes");
    prop_assert_eq!(&back, value);
    let via_serde: T = postcard::from_bytes(&ours).expect("postcard decodes our bytes");
    prop_assert_eq!(&via_serde, value);
    Ok(())
}

proptest! {
    #[test]
    fn scalars_match_postcard(v in scalars()) { check(&v)?; }

    #[test]
    fn containers_match_postcard(v in containers()) { check(&v)?; }

    #[test]
    fn enums_match_postcard(c in color(), f in figure(), s in sparse()) {
        check(&c)?;
        check(&f)?;
        check(&s)?;
    }

    #[test]
    fn recursive_types_match_postcard(t in tree(), c in chain(), d in dir()) {
        check(&t)?;
        check(&c)?;
        check(&d)?;
    }

    #[test]
    fn generic_types_match_postcard(p in page(), words in prop::collection::vec(text(), 0..3)) {
        check(&p)?;
        check(&Page { items: words, next: None, total: 1 })?;
    }

    #[test]
    fn kitchen_sink_matches_postcard(v in kitchen_sink()) { check(&v)?; }

    #[test]
    fn top_level_collections_match_postcard(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        floats in prop::collection::vec(f64s(), 0..50),
        points in prop::collection::vec(point(), 0..10),
        tuple in (any::<bool>(), text(), any::<u128>()),
    ) {
        check(&bytes)?;
        check(&floats)?;
        check(&points)?;
        check(&tuple)?;
        check(&Some(points.clone()))?;
        check(&Box::new(tuple.clone()))?;
    }
}

#[test]
fn sample_sink_matches_postcard() {
    let sink = sample_sink();
    check(&sink).unwrap();
    // A few values pinned by hand, independent of postcard.
    assert_eq!(
        roam_codec::encode_to_vec(&Point { x: 1, y: -1 }).unwrap(),
        [2, 1]
    );
    assert_eq!(roam_codec::encode_to_vec(&Color::Blue).unwrap(), [2]);
    assert_eq!(
        roam_codec::encode_to_vec(&Sparse::B(-1)).unwrap(),
        [1, 0xff],
        "the variant index, not the discriminant 10"
    );
    assert_eq!(
        roam_codec::encode_to_vec(&Some("é".to_string())).unwrap(),
        [1, 2, 0xc3, 0xa9]
    );
    assert_eq!(roam_codec::encode_to_vec(&300u16).unwrap(), [0xac, 0x02]);
    assert_eq!(roam_codec::encode_to_vec(&()).unwrap(), [0u8; 0]);
}

#[test]
fn encode_appends_to_the_buffer() {
    let mut out = vec![0xaa];
    roam_codec::encode(&Point { x: 3, y: 4 }, &mut out).unwrap();
    assert_eq!(out, [0xaa, 6, 8]);
}

#[test]
fn decode_prefix_returns_the_rest() {
    let (p, rest) = roam_codec::decode_prefix::<Point>(&[6, 8, 0xee]).unwrap();
    assert_eq!(p, Point { x: 3, y: 4 });
    assert_eq!(rest, [0xee]);
}

#[test]
fn shared_pointers_are_transparent() {
    let arc = Arc::new("shared".to_string());
    let bytes = roam_codec::encode_to_vec(&arc).unwrap();
    assert_eq!(
        bytes,
        roam_codec::encode_to_vec(&"shared".to_string()).unwrap()
    );
    let back: Arc<String> = roam_codec::decode(&bytes).unwrap();
    assert_eq!(*back, "shared");
    let rc: Rc<Point> = roam_codec::decode(&[2, 4]).unwrap();
    assert_eq!(*rc, Point { x: 1, y: 2 });
}

#[test]
fn borrowed_values_encode_like_owned_ones() {
    let name = String::from("hé");
    let data = [1u8, 2, 3];
    let points = [Point { x: 1, y: 2 }];
    let borrowed: (&str, &[u8], &[Point], &Point) = (&name, &data, &points, &points[0]);
    let owned = (
        name.clone(),
        data.to_vec(),
        points.to_vec(),
        points[0].clone(),
    );
    let bytes = roam_codec::encode_to_vec(&borrowed).unwrap();
    assert_eq!(bytes, postcard::to_allocvec(&owned).unwrap());
    assert_eq!(bytes, roam_codec::encode_to_vec(&owned).unwrap());
    assert!(!roam_codec::plan::<(&str, u8)>().unwrap().can_decode());
    let err = roam_codec::decode::<(&'static str, u8)>(&[1, b'a', 0]).unwrap_err();
    assert!(
        matches!(err, roam_codec::DecodeError::Unsupported(_)),
        "{err:?}"
    );
}

#[test]
fn zero_sized_values_round_trip() {
    check(&vec![(); 5]).unwrap();
    check(&vec![Marker, Marker]).unwrap();
    check(&[(); 3]).unwrap();
    check(&Box::new(())).unwrap();
    check(&Some(())).unwrap();
    let empty: [u32; 0] = [];
    check(&empty).unwrap();
}

/// Over-aligned, so `Option<Aligned>` cannot use the codec's inline scratch buffer.
#[derive(Facet, serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[repr(align(64))]
struct Aligned {
    a: u8,
    b: String,
}

#[test]
fn large_and_overaligned_values_round_trip() {
    // Larger than the inline scratch buffer used for `Option`, `Result` and map entries.
    let big = [u64::MAX; 32];
    check(&Some(big)).unwrap();
    check(&Some(Page {
        items: vec![big, [1; 32]],
        next: Some("n".into()),
        total: 3,
    }))
    .unwrap();
    let aligned = Aligned {
        a: 7,
        b: "seven".into(),
    };
    check(&Some(aligned.clone())).unwrap();
    check(&vec![Some(aligned.clone()), None]).unwrap();
    let ok: Result<Aligned, [u64; 32]> = Ok(aligned.clone());
    check(&ok).unwrap();
    let map: std::collections::BTreeMap<u8, Aligned> = [(1, aligned)].into_iter().collect();
    check(&map).unwrap();
    // Failures inside heap scratch free it and what it held.
    let mut bytes = roam_codec::encode_to_vec(&Some(Aligned {
        a: 1,
        b: "x".into(),
    }))
    .unwrap();
    let last = bytes.len() - 1;
    bytes[last] = 0xff;
    let err = roam_codec::decode::<Option<Aligned>>(&bytes).unwrap_err();
    assert!(
        matches!(err, roam_codec::DecodeError::InvalidUtf8 { .. }),
        "{err}"
    );
}

#[test]
fn unsupported_types_are_typed_errors() {
    let set: std::collections::HashSet<u32> = [1, 2].into_iter().collect();
    let err = roam_codec::encode_to_vec(&set).unwrap_err();
    assert!(
        matches!(err, roam_codec::EncodeError::Unsupported(_)),
        "{err:?}"
    );
    let err = roam_codec::decode::<std::collections::HashSet<u32>>(&[0]).unwrap_err();
    let roam_codec::DecodeError::Unsupported(u) = err else {
        panic!("expected Unsupported, got {err:?}")
    };
    assert!(u.type_name.contains("HashSet"), "{u}");

    #[derive(Facet)]
    struct HasSet {
        ok: u32,
        inner: Vec<std::collections::HashSet<u8>>,
    }
    let u = roam_codec::plan::<HasSet>().unwrap_err();
    assert_eq!(u.path, ".inner[]", "{u}");
}

#[test]
fn plans_are_cached() {
    let a = roam_codec::plan::<KitchenSink>().unwrap();
    let b = roam_codec::plan::<KitchenSink>().unwrap();
    assert!(std::ptr::eq(a, b));
    assert!(a.op_count() > 50);
    // Nested structs are inlined: a struct of scalars is one flat list.
    let scalars = roam_codec::plan::<Scalars>().unwrap();
    assert_eq!(scalars.op_count(), 16, "{scalars:?}");
}

#[test]
fn plans_are_shared_across_threads() {
    let handles: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let page = Page {
                    items: vec![Point { x: i, y: i }],
                    next: None,
                    total: i as u64,
                };
                let bytes = roam_codec::encode_to_vec(&page).unwrap();
                let back: Page<Point> = roam_codec::decode(&bytes).unwrap();
                assert_eq!(back, page);
                roam_codec::plan::<Page<Point>>().unwrap() as *const _ as usize
            })
        })
        .collect();
    let plans: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(plans.windows(2).all(|w| w[0] == w[1]));
}
