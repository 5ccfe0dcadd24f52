//! Schemas from syntax alone: channels, defaults, naming, and the errors for what cannot be
//! resolved. (Agreement with facet is `schema_agreement.rs`.)

use roam_codegen::TypeTable;
use roam_codegen::ir::{FieldDefault, Fields, Literal, TypeDef, TypeDefKind};
use roam_codegen::parse::parse_file;
use roam_core::schema::{ChannelDirection, Field, PrimitiveKind, Schema, StructKind};

fn defs(src: &str) -> Vec<TypeDef> {
    let (_, types, errors) = parse_file(src);
    assert!(errors.is_empty(), "{errors:?}");
    types
}

fn schema(defs: &[TypeDef], ty: &str) -> Result<Schema, String> {
    TypeTable::new(defs)
        .schema_of_syn(&syn::parse_str(ty).expect("type parses"))
        .map_err(|e| e.to_string())
}

fn prim(kind: PrimitiveKind) -> Schema {
    Schema::Primitive(kind)
}

#[test]
fn facet_default_attributes_are_read_into_the_model() {
    let types = defs(
        r#"
        #[derive(Facet)]
        struct S {
            plain: u8,
            #[facet(default)] a: u8,
            #[facet(default = 3)] b: u8,
            #[facet(rename = "x", default)] c: u8,
            #[facet(rename = "default")] d: u8,
            #[serde(default)] e: u8,
            #[facet(default = f(1, 2))] g: u8,
            #[facet(default = -7, rename = "h2")] h: i8,
            #[facet(default = "none")] i: String,
            #[facet(default = 1.5f32)] j: f32,
            #[facet(default = true)] k: bool,
            #[facet(default = 'x')] l: char,
        }
        "#,
    );
    let TypeDefKind::Struct(Fields::Named(fields)) = &types[0].kind else {
        panic!("named struct")
    };
    let defaults: Vec<Option<FieldDefault>> = fields.iter().map(|f| f.default.clone()).collect();
    let int = |s: &str| Some(FieldDefault::Literal(Literal::Int(s.into())));
    assert_eq!(
        defaults,
        [
            None,
            Some(FieldDefault::Implicit),
            int("3"),
            Some(FieldDefault::Implicit),
            None,
            None,
            Some(FieldDefault::Expr("f (1 , 2)".into())),
            int("-7"),
            Some(FieldDefault::Literal(Literal::Str("none".into()))),
            Some(FieldDefault::Literal(Literal::Float("1.5".into()))),
            Some(FieldDefault::Literal(Literal::Bool(true))),
            Some(FieldDefault::Literal(Literal::Char('x'))),
        ]
    );
}

#[test]
fn generic_arguments_are_substituted_and_named_canonically() {
    let types = defs(
        "#[derive(Facet)] struct Page<T> { items: Vec<T>, first: Option<Box<T>> }
         #[derive(Facet)] struct Item;",
    );
    let page = schema(&types, "Page<std::collections::HashMap<String, Item>>").unwrap();
    let map = Schema::Map(
        Box::new(prim(PrimitiveKind::String)),
        Box::new(Schema::Struct {
            name: "Item".into(),
            kind: StructKind::Unit,
            fields: vec![],
        }),
    );
    assert_eq!(
        page,
        Schema::Struct {
            name: "Page<Map<String, Item>>".into(),
            kind: StructKind::Named,
            fields: vec![
                Field::new("items", Schema::List(Box::new(map.clone()))),
                Field::new("first", Schema::Option(Box::new(map))),
            ],
        }
    );
    // `Vec<T>` with `T = u8` is bytes; `&str` in a name is `String`.
    let Schema::Struct { fields, name, .. } = schema(&types, "Page<u8>").unwrap() else {
        panic!()
    };
    assert_eq!(name, "Page<u8>");
    assert_eq!(fields[0].schema, Schema::Bytes);
}

#[test]
fn recursion_is_a_ref_to_the_enclosing_instantiation() {
    let types = defs("#[derive(Facet)] struct List<T> { head: T, tail: Option<Box<List<T>>> }");
    let list = schema(&types, "List<i8>").unwrap();
    assert_eq!(
        list,
        Schema::Struct {
            name: "List<i8>".into(),
            kind: StructKind::Named,
            fields: vec![
                Field::new("head", prim(PrimitiveKind::I8)),
                Field::new(
                    "tail",
                    Schema::Option(Box::new(Schema::Ref("List<i8>".into())))
                ),
            ],
        }
    );
}

#[test]
fn std_paths_the_parser_leaves_named_are_recognised() {
    let none: Vec<TypeDef> = Vec::new();
    assert_eq!(
        schema(&none, "core::result::Result<u8, String>").unwrap(),
        Schema::result(prim(PrimitiveKind::U8), prim(PrimitiveKind::String))
    );
    assert_eq!(
        schema(&none, "std::sync::Arc<Option<u8>>").unwrap(),
        Schema::Option(Box::new(prim(PrimitiveKind::U8)))
    );
    assert_eq!(
        schema(&none, "std::rc::Rc<String>").unwrap(),
        prim(PrimitiveKind::String)
    );
    assert!(
        schema(&none, "HashSet<u8>")
            .unwrap_err()
            .contains("sets are not part of roam's type model")
    );
    assert!(
        schema(&none, "Result<u8>")
            .unwrap_err()
            .contains("`Result` takes two type arguments")
    );
    // A user type named like a standard one wins when written bare.
    let types = defs("#[derive(Facet)] struct Result { ok: bool }");
    assert_eq!(schema(&types, "Result").unwrap().name(), Some("Result"));
}

#[test]
fn unknown_ambiguous_and_misapplied_names_are_spanned_errors() {
    let types = defs(
        "#[derive(Facet)] struct Holder { thing: Missing }
         mod a { #[derive(Facet)] pub struct Twice; }
         mod b { #[derive(Facet)] pub struct Twice(u8); }
         #[derive(Facet)] struct One<T> { t: T }",
    );
    let table = TypeTable::new(&types);
    let ty: syn::Type = syn::parse_str("Holder").unwrap();
    let err = table.schema_of_syn(&ty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown type `Missing`: no `#[derive(Facet)]` struct or enum named `Missing` is defined in the given files; pass the file that defines it too (or its crate directory)"
    );
    // The error points into `Holder`'s definition, at `Missing`.
    assert_eq!(err.in_type.as_deref(), Some("Holder"));
    let start = err.error.span().start();
    // Lines are 1-based, columns 0-based (proc-macro2's convention).
    assert_eq!((start.line, start.column), (1, 40));

    assert!(
        schema(&types, "Vec<Twice>")
            .unwrap_err()
            .contains("type `Twice` is defined 2 times")
    );
    assert_eq!(
        schema(&types, "One<u8, u16>").unwrap_err(),
        "`One<u8, u16>` has 2 type arguments, but `One` is declared with 1"
    );
    let err = table
        .schema_of_syn(&syn::parse_str("Option<Nowhere>").unwrap())
        .unwrap_err();
    assert_eq!(err.in_type, None);
    assert!(err.to_string().contains("unknown type `Nowhere`"));
}

#[test]
fn method_schemas_split_payload_channels_and_response() {
    let src = r#"
        #[derive(Facet)]
        #[repr(u8)]
        pub enum MathError { DivisionByZero, Overflow }

        #[roam::service]
        pub trait Calculator {
            async fn divide(&self, cx: &roam::Context, a: i32, b: i32) -> Result<i32, MathError>;
            async fn sum(&self, numbers: Rx<i32>) -> i64;
            async fn count(&self, upto: u32, out: Tx<u32>);
        }
    "#;
    let (services, types, errors) = parse_file(src);
    assert!(errors.is_empty(), "{errors:?}");
    let table = TypeTable::new(&types);
    let methods = &services[0].methods;

    let divide = table.method_schemas(&methods[0]).unwrap();
    assert_eq!(
        divide.args,
        Schema::Tuple(vec![prim(PrimitiveKind::I32), prim(PrimitiveKind::I32)])
    );
    assert_eq!(divide.channels, Schema::UNIT);
    assert_eq!(divide.ok, prim(PrimitiveKind::I32));
    assert_eq!(divide.err.name(), Some("MathError"));
    assert_eq!(divide.returns().name(), Some("Result<i32, MathError>"));

    let sum = table.method_schemas(&methods[1]).unwrap();
    assert_eq!(sum.args, Schema::UNIT);
    assert_eq!(
        sum.channels,
        Schema::Tuple(vec![Schema::Channel {
            direction: ChannelDirection::Rx,
            item: Box::new(prim(PrimitiveKind::I32)),
        }])
    );
    assert_eq!(sum.err, Schema::infallible());
    assert_eq!(sum.returns().name(), Some("Result<i64, Infallible>"));

    let count = table.method_schemas(&methods[2]).unwrap();
    assert_eq!(count.args, Schema::Tuple(vec![prim(PrimitiveKind::U32)]));
    assert_eq!(count.ok, Schema::UNIT);
    assert_eq!(count.args_hash(), count.args.content_hash());
    assert_eq!(count.returns_hash(), count.returns().content_hash());

    let via_fn = roam_codegen::schema::method_schemas(&types, &services[0], "count")
        .unwrap()
        .unwrap();
    assert_eq!(via_fn, count);
    assert!(roam_codegen::schema::method_schemas(&types, &services[0], "nope").is_none());
}

#[test]
fn the_infallible_convention_is_an_enum_without_variants() {
    let schema = Schema::infallible();
    assert_eq!(
        schema,
        Schema::Enum {
            name: "Infallible".into(),
            variants: vec![]
        }
    );
    // It has canonical bytes that decode back to itself.
    let bytes = schema.to_canonical_bytes();
    assert_eq!(Schema::from_canonical_bytes(&bytes).unwrap(), schema);
}
