//! The shared golden vectors: `roam-codegen/runtime/golden/vectors.json`, a checked-in list of
//! (type, value, bytes) cases that every language's runtime must encode and decode exactly as
//! this codec does (the TypeScript tests read the same file; Swift's will). This test computes
//! every case with the plan codec, checks it against serde-postcard too, and fails if the file
//! differs. After a deliberate change, regenerate it with
//! `ROAM_BLESS=1 cargo test -p roam-codec --test golden` and review the diff.

use std::fmt::Write as _;
use std::path::PathBuf;

use facet::Facet;
use serde::Serialize;

/// One case: the type as the bindings name it, the value in the file's JSON form, the bytes.
struct Case {
    ty: &'static str,
    value: String,
    bytes: Vec<u8>,
}

fn case<T: Facet<'static> + Serialize>(ty: &'static str, value: &T, json: String) -> Case {
    let bytes = roam_codec::encode_to_vec(value).expect("the plan codec encodes");
    assert_eq!(
        bytes,
        postcard::to_allocvec(value).expect("postcard encodes"),
        "plan codec and serde-postcard disagree on {ty} {json}"
    );
    Case {
        ty,
        value: json,
        bytes,
    }
}

/// A JSON string literal, ASCII only (other characters as `\u` escapes, surrogate pairs for
/// those outside the BMP), so the file reads the same everywhere.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A float by its bits, so NaN, infinities and -0 survive JSON.
fn bits32(v: f32) -> String {
    format!("{{\"bits\":\"{:08x}\"}}", v.to_bits())
}

fn bits64(v: f64) -> String {
    format!("{{\"bits\":\"{:016x}\"}}", v.to_bits())
}

fn cases() -> Vec<Case> {
    let mut c = Vec::new();
    for v in [false, true] {
        c.push(case("bool", &v, v.to_string()));
    }
    for v in [0u8, 1, 127, 128, 255] {
        c.push(case("u8", &v, v.to_string()));
    }
    for v in [i8::MIN, -1, 0, 1, i8::MAX] {
        c.push(case("i8", &v, v.to_string()));
    }
    for v in [0u16, 127, 128, 16383, 16384, u16::MAX] {
        c.push(case("u16", &v, v.to_string()));
    }
    for v in [i16::MIN, -65, -64, -1, 0, 1, 63, 64, i16::MAX] {
        c.push(case("i16", &v, v.to_string()));
    }
    for v in [0u32, 127, 128, 2_097_151, 2_097_152, u32::MAX] {
        c.push(case("u32", &v, v.to_string()));
    }
    for v in [i32::MIN, -1, 0, 1, i32::MAX] {
        c.push(case("i32", &v, v.to_string()));
    }
    // Integers past 2^53 are where JavaScript numbers lose digits: strings in the file.
    let two53 = 1u64 << 53;
    for v in [
        0u64,
        1,
        u64::from(u32::MAX),
        two53 - 1,
        two53,
        two53 + 1,
        u64::MAX,
    ] {
        c.push(case("u64", &v, json_str(&v.to_string())));
    }
    let two53 = 1i64 << 53;
    for v in [
        i64::MIN,
        -two53 - 1,
        -two53,
        -1,
        0,
        1,
        two53,
        two53 + 1,
        i64::MAX,
    ] {
        c.push(case("i64", &v, json_str(&v.to_string())));
    }
    for v in [
        0u128,
        1,
        u128::from(u64::MAX),
        u128::from(u64::MAX) + 1,
        u128::MAX,
    ] {
        c.push(case("u128", &v, json_str(&v.to_string())));
    }
    for v in [i128::MIN, -1, 0, 1, i128::MAX] {
        c.push(case("i128", &v, json_str(&v.to_string())));
    }
    for v in [
        0.0f32,
        -0.0,
        1.5,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ] {
        c.push(case("f32", &v, bits32(v)));
    }
    for v in [
        0.0f64,
        -0.0,
        0.1,
        -2.5e-300,
        f64::MAX,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ] {
        c.push(case("f64", &v, bits64(v)));
    }
    for v in ['a', '\0', 'é', '€', '\u{ffff}', '😀', '\u{10ffff}'] {
        c.push(case("char", &v, json_str(&v.to_string())));
    }
    for v in [
        "",
        "roam",
        "héllo wörld",
        "😀 and \u{1f680}",
        &"x".repeat(200),
    ] {
        c.push(case("String", &v.to_string(), json_str(v)));
    }
    for v in [vec![], vec![0u8, 255], vec![7u8; 130]] {
        c.push(case("Vec<u8>", &v, json_str(&hex(&v))));
    }
    for v in [None, Some(0u32), Some(u32::MAX)] {
        let json = v.map_or("null".to_string(), |n| n.to_string());
        c.push(case("Option<u32>", &v, json));
    }
    for v in [vec![], vec![1u32, 128, u32::MAX]] {
        let json = format!(
            "[{}]",
            v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        );
        c.push(case("Vec<u32>", &v, json));
    }
    let v = vec![String::new(), "a".to_string(), "😀".to_string()];
    let json = format!(
        "[{}]",
        v.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(",")
    );
    c.push(case("Vec<String>", &v, json));
    let v = vec![None, Some(u64::MAX)];
    c.push(case(
        "Vec<Option<u64>>",
        &v,
        format!("[null,{}]", json_str(&u64::MAX.to_string())),
    ));
    let v = (7u8, "tuple".to_string(), true);
    c.push(case(
        "(u8, String, bool)",
        &v,
        format!("[7,{},true]", json_str("tuple")),
    ));
    c
}

fn render(cases: &[Case]) -> String {
    let mut out = String::from(
        "{\n  \"about\": \"roam golden vectors: postcard bytes (hex) of each value, made by roam-codec's tests/golden.rs; every runtime must encode and decode them exactly. u64/i64/u128/i128 values are decimal strings, floats their IEEE bits, Vec<u8> hex.\",\n  \"cases\": [\n",
    );
    for (i, c) in cases.iter().enumerate() {
        let comma = if i + 1 < cases.len() { "," } else { "" };
        let _ = writeln!(
            out,
            "    {{\"type\": {}, \"value\": {}, \"hex\": \"{}\"}}{comma}",
            json_str(c.ty),
            c.value,
            hex(&c.bytes)
        );
    }
    out.push_str("  ]\n}\n");
    out
}

#[test]
fn the_golden_vectors_file_is_what_the_codec_produces() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../roam-codegen/runtime/golden/vectors.json");
    let expected = render(&cases());
    if std::env::var_os("ROAM_BLESS").is_some() {
        std::fs::write(&path, &expected).expect("write the golden vectors");
        return;
    }
    let found = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        found == expected,
        "{} is out of date with the codec; regenerate it with \
         `ROAM_BLESS=1 cargo test -p roam-codec --test golden` and review the diff",
        path.display()
    );
}
