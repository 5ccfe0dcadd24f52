//! `#[facet(...)]` on user types, read from syntax: what the parser models (`rename`,
//! `rename_all`, `skip`, `default`) and what it refuses, each refusal a spanned error saying why
//! and what to do instead. (That the modelled names agree with facet's derive is
//! `schema_agreement.rs`.)

use roam_codegen::TypeTable;
use roam_codegen::ir::{Fields, TypeDef, TypeDefKind};
use roam_codegen::parse::parse_file;
use roam_core::schema::Schema;

fn defs(src: &str) -> Vec<TypeDef> {
    let (_, types, errors) = parse_file(src);
    assert!(errors.is_empty(), "{errors:?}");
    types
}

/// The one error `src` gives: its message and its 1-based line and 0-based column.
fn refused(src: &str) -> (String, usize, usize) {
    let (_, _, errors) = parse_file(src);
    let [error] = errors.as_slice() else {
        panic!("expected exactly one error, got {errors:#?}")
    };
    let start = error.span().start();
    (error.to_string(), start.line, start.column)
}

#[test]
fn renames_are_read_into_the_model() {
    let types = defs(
        r#"
        #[derive(Facet)]
        #[facet(rename = "Account", rename_all = "camelCase")]
        struct Profile {
            user_name: String,
            #[facet(rename = "KIND")] r#type: u8,
            plain: u8,
            #[facet(skip, default)] cache: Vec<String>,
            #[facet(sensitive, recursive_type)] secret: Option<Box<Profile>>,
        }
        #[derive(Facet)]
        #[repr(u8)]
        #[facet(rename_all = "snake_case", crate = ::facet, traits(Debug))]
        enum Status {
            OnHold,
            #[facet(rename = "gone")] Banned(#[facet(skip, default = 7)] u32, String),
            #[facet(rename_all = "kebab-case")] TimedOut { retry_after: u32 },
        }
        "#,
    );
    let profile = &types[0];
    assert_eq!(profile.name, "Profile");
    assert_eq!(profile.schema_name(), "Account");
    let TypeDefKind::Struct(Fields::Named(fields)) = &profile.kind else {
        panic!("{:?}", profile.kind)
    };
    let read: Vec<(Option<&str>, String, usize)> = fields
        .iter()
        .map(|f| (f.name.as_deref(), f.schema_name(), f.position))
        .collect();
    assert_eq!(
        read,
        [
            (Some("user_name"), "userName".to_owned(), 0),
            (Some("type"), "KIND".to_owned(), 1),
            (Some("plain"), "plain".to_owned(), 2),
            (Some("secret"), "secret".to_owned(), 4),
        ]
    );
    // A name the rule leaves as it is is not a rename.
    assert_eq!(fields[2].rename, None);

    let TypeDefKind::Enum(variants) = &types[1].kind else {
        panic!()
    };
    let names: Vec<(&str, &str)> = variants
        .iter()
        .map(|v| (v.name.as_str(), v.schema_name()))
        .collect();
    assert_eq!(
        names,
        [
            ("OnHold", "on_hold"),
            ("Banned", "gone"),
            ("TimedOut", "timed_out")
        ]
    );
    let Fields::Tuple(banned) = &variants[1].fields else {
        panic!()
    };
    assert_eq!(banned.len(), 1);
    assert_eq!(
        (banned[0].position, banned[0].schema_name()),
        (1, "1".into())
    );
    let Fields::Named(timed_out) = &variants[2].fields else {
        panic!()
    };
    assert_eq!(timed_out[0].schema_name(), "retry-after");

    // The schema: renamed names, no skipped fields, recursion by the renamed name.
    let table = TypeTable::new(&types);
    let schema = table
        .schema_of_syn(&syn::parse_str("Profile").unwrap())
        .unwrap();
    let Schema::Struct { name, fields, .. } = &schema else {
        panic!()
    };
    assert_eq!(name, "Account");
    let secret = &fields[3].schema;
    assert_eq!(
        secret,
        &Schema::Option(Box::new(Schema::Ref("Account".into())))
    );
}

#[test]
fn a_skipped_field_of_any_type_is_not_read() {
    // Never on the wire, so its type is not the schema's business (facet needs it to be
    // `Facet`, which the compiler checks).
    let types = defs(
        "#[derive(Facet)] struct Cache { key: String, #[facet(skip, default)] hits: usize, \
         #[facet(skip_serializing, skip_deserializing, default)] seen: std::collections::HashSet<u8> }",
    );
    let TypeDefKind::Struct(Fields::Named(fields)) = &types[0].kind else {
        panic!()
    };
    assert_eq!(fields.len(), 1);
    let schema = TypeTable::new(&types)
        .schema_of_syn(&syn::parse_str("Cache").unwrap())
        .unwrap();
    assert_eq!(schema.type_expr(), "Cache");
}

#[test]
fn a_skipped_field_needs_a_written_default() {
    let (message, line, column) =
        refused("#[derive(Facet)]\nstruct S {\n    a: u8,\n    #[facet(skip)] b: u8,\n}");
    assert!(
        message.contains("a `#[facet(skip)]` field needs a default"),
        "{message}"
    );
    assert!(message.contains("add `#[facet(default)]`"), "{message}");
    assert_eq!((line, column), (4, 12));
}

#[test]
fn every_attribute_roam_cannot_model_is_refused_at_its_token() {
    // (attribute on a field of `struct S { ... }`, what the message must say)
    let field_cases: &[(&str, &str)] = &[
        (
            "flatten",
            "`#[facet(flatten)]` is not supported: roam's schema has no flattened fields",
        ),
        (
            "proxy = Celsius",
            "`#[facet(proxy = ...)]` is not supported",
        ),
        (
            "opaque",
            "`#[facet(opaque)]` is not supported: an opaque value has no schema",
        ),
        (
            "skip_serializing",
            "`#[facet(skip_serializing)]` alone is not supported",
        ),
        (
            "skip_deserializing, default",
            "`#[facet(skip_deserializing)]` alone is not supported",
        ),
        (
            "skip_serializing_if = Option::is_none",
            "`#[facet(skip_serializing_if)]` is not supported: postcard cannot mark a field as absent",
        ),
        (
            "skip_unless_truthy",
            "`#[facet(skip_unless_truthy)]` is not supported",
        ),
        (
            "alias = \"old\"",
            "`#[facet(alias = ...)]` is not supported: roam matches fields and variants by their one schema name",
        ),
        (
            "metadata = span",
            "`#[facet(metadata)]` is not supported on fields",
        ),
        (
            "child",
            "`#[facet(child)]` is not supported on fields: roam's schema does not model it",
        ),
        (
            "xml::attribute",
            "`#[facet(xml::attribute)]` is not supported: roam does not model format-specific",
        ),
        (
            "rename = r\"x\"",
            "`rename` takes a plain string literal without escapes",
        ),
        (
            "rename = \"a\\tb\"",
            "`rename` takes a plain string literal without escapes",
        ),
        ("rename = x", "`rename` takes a plain string literal"),
        ("rename", "could not read this facet argument"),
        ("rename = \"a\", rename = \"b\"", "`rename` is given twice"),
        (
            "skip = true, default",
            "`skip` takes no value; write `#[facet(skip)]`",
        ),
        (
            "rename_all = \"camelCase\"",
            "`#[facet(rename_all)]` is not supported on fields",
        ),
    ];
    for (attr, needle) in field_cases {
        let src = format!("#[derive(Facet)]\nstruct S {{\n    #[facet({attr})]\n    a: u8,\n}}");
        let (message, line, column) = refused(&src);
        assert!(message.contains(needle), "`{attr}`: {message}");
        assert_eq!(line, 3, "`{attr}`: {message}");
        assert!(
            (12..=30).contains(&column),
            "`{attr}` at column {column}: {message}"
        );
    }
    // (attribute on the type, what the message must say)
    let container_cases: &[(&str, &str)] = &[
        ("transparent", "`#[facet(transparent)]` is not supported"),
        (
            "default",
            "a container-level `#[facet(default)]` is not supported: roam fills a missing field only from the field's own default",
        ),
        (
            "deny_unknown_fields",
            "`#[facet(deny_unknown_fields)]` is not supported on structs and enums",
        ),
        (
            "invariants = check",
            "`#[facet(invariants)]` is not supported on structs and enums",
        ),
        (
            "rename_all = \"Title Case\"",
            "`rename_all` takes one of facet's styles",
        ),
        (
            "rename_all = camelCase",
            "`rename_all` takes one of facet's styles as a plain string literal",
        ),
    ];
    for (attr, needle) in container_cases {
        let src = format!("#[derive(Facet)]\n#[facet({attr})]\nstruct S {{ a: u8 }}");
        let (message, line, _) = refused(&src);
        assert!(message.contains(needle), "`{attr}`: {message}");
        assert_eq!(line, 2, "`{attr}`: {message}");
    }
    let enum_cases: &[(&str, &str)] = &[
        (
            "untagged",
            "`#[facet(untagged)]` is not supported: roam encodes every enum as a variant index",
        ),
        ("tag = \"type\"", "`#[facet(tag)]` is not supported"),
        ("is_numeric", "`#[facet(is_numeric)]` is not supported"),
    ];
    for (attr, needle) in enum_cases {
        let src = format!("#[derive(Facet)]\n#[facet({attr})]\n#[repr(u8)]\nenum E {{ A }}");
        let (message, line, _) = refused(&src);
        assert!(message.contains(needle), "`{attr}`: {message}");
        assert_eq!(line, 2, "`{attr}`: {message}");
    }
    // On a variant.
    let variant_cases: &[(&str, &str)] = &[
        ("skip", "`#[facet(skip)]` is not supported on enum variants"),
        (
            "other",
            "`#[facet(other)]` is not supported on enum variants",
        ),
        (
            "default",
            "`#[facet(default)]` is not supported on enum variants",
        ),
    ];
    for (attr, needle) in variant_cases {
        let src = format!(
            "#[derive(Facet)]\n#[repr(u8)]\nenum E {{\n    A,\n    #[facet({attr})]\n    B,\n}}"
        );
        let (message, line, column) = refused(&src);
        assert!(message.contains(needle), "`{attr}`: {message}");
        assert_eq!((line, column), (5, 12), "`{attr}`: {message}");
    }
    // Not a list.
    let (message, line, _) = refused("#[derive(Facet)]\n#[facet]\nstruct S;");
    assert!(
        message.contains("write facet attributes as a list"),
        "{message}"
    );
    assert_eq!(line, 2);
}

#[test]
fn names_that_collide_in_the_schema_are_refused() {
    let (message, line, column) =
        refused("#[derive(Facet)]\nstruct S {\n    #[facet(rename = \"b\")] a: u8,\n    b: u8,\n}");
    assert!(
        message.contains("two fields of `S` are named `b` in the schema"),
        "{message}"
    );
    assert_eq!((line, column), (4, 4));
    let (message, line, _) = refused(
        "#[derive(Facet)]\n#[repr(u8)]\n#[facet(rename_all = \"lowercase\")]\nenum E {\n    On,\n    ON,\n}",
    );
    assert!(
        message.contains("two variants of `E` are named `on` in the schema"),
        "{message}"
    );
    assert_eq!(line, 6);
}

#[test]
fn every_problem_in_a_file_is_reported_in_source_order() {
    let (_, types, errors) = parse_file(
        "#[derive(Facet)]\nstruct A {\n    #[facet(flatten)] inner: B,\n    #[facet(skip)] x: u8,\n}\n\
         #[derive(Facet)]\n#[facet(transparent)]\nstruct B(u8);\n",
    );
    let lines: Vec<(usize, String)> = errors
        .iter()
        .map(|e| (e.span().start().line, e.to_string()))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[0].0, 3);
    assert!(lines[0].1.contains("flatten"));
    assert_eq!(lines[1].0, 4);
    assert!(lines[1].1.contains("needs a default"));
    assert_eq!(lines[2].0, 7);
    assert!(lines[2].1.contains("transparent"));
    // The types are still read (what could be read of them), so other problems show too.
    assert_eq!(types.len(), 2);
}

#[test]
fn an_integer_default_must_fit_its_field() {
    // facet converts the literal whenever a value lacking the field is decoded, and panics
    // if it does not fit: refused here, at the default.
    for (ty, value) in [("u8", "300"), ("u32", "-1"), ("i8", "-129"), ("i8", "128")] {
        let src = format!(
            "#[derive(Facet)]\nstruct S {{\n    #[facet(default = {value})] n: {ty},\n}}\n"
        );
        let (message, line, column) = refused(&src);
        assert!(
            message.contains(&format!("the default {value} does not fit"))
                && message.contains(&format!("`{ty}`")),
            "{message}"
        );
        assert_eq!((line, column), (3, 12), "{message}");
    }
    // The ends of each range are fine, and so is any value for a non-integer field.
    defs(
        "#[derive(Facet)]\nstruct S {\n    #[facet(default = 255)] a: u8,\n    #[facet(default = -128)] b: i8,\n    #[facet(default = 127)] c: i8,\n    #[facet(default = 18446744073709551615)] d: u64,\n    #[facet(default = 1.5)] e: f64,\n}\n",
    );
}
