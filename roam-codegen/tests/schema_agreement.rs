//! The schemas roam-codegen computes from syntax agree, byte for byte, with the schemas
//! roam-codec computes from facet shapes, for the same types: `kitchen_sink/types.rs` is both
//! compiled here and parsed as text.

#[path = "kitchen_sink/types.rs"]
#[allow(dead_code)]
mod types;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use roam_codegen::ir::TypeDef;
use roam_codegen::parse::parse_file;
use roam_codegen::{MethodSchemas, TypeTable};
use roam_core::schema::{ChannelDirection, Schema};
use types::*;

const TYPES_SRC: &str = include_str!("kitchen_sink/types.rs");
const SERVICE_SRC: &str = include_str!("kitchen_sink/service.rs");

fn type_defs() -> Vec<TypeDef> {
    let (services, types, errors) = parse_file(TYPES_SRC);
    assert!(errors.is_empty(), "types.rs parses cleanly: {errors:?}");
    assert!(services.is_empty());
    types
}

fn runtime<'a, T: facet::Facet<'a> + ?Sized>() -> Schema {
    roam_codec::schema_of::<T>().unwrap_or_else(|e| panic!("facet side: {e:?}"))
}

fn assert_same(what: &str, from_syn: &Schema, from_facet: &Schema) {
    assert_eq!(
        from_syn.to_canonical_bytes(),
        from_facet.to_canonical_bytes(),
        "canonical bytes of `{what}` differ\n  syn:   {from_syn:?}\n  facet: {from_facet:?}"
    );
    assert_eq!(from_syn.content_hash(), from_facet.content_hash(), "{what}");
    assert_eq!(
        from_syn.content_hash_full(),
        from_facet.content_hash_full(),
        "{what}"
    );
    assert_eq!(from_syn, from_facet, "{what}");
}

struct Checker {
    defs: Vec<TypeDef>,
    /// Base names of the user types some checked type mentions.
    seen: RefCell<BTreeSet<String>>,
}

impl Checker {
    fn check<'a, T: facet::Facet<'a> + ?Sized>(&self, text: &str) {
        let table = TypeTable::new(&self.defs);
        let ty: syn::Type = syn::parse_str(text).expect("type text parses");
        let from_syn = table
            .schema_of_syn(&ty)
            .unwrap_or_else(|e| panic!("syn side of `{text}`: {e}"));
        assert_same(text, &from_syn, &runtime::<T>());
        collect_names(&from_syn, &mut self.seen.borrow_mut());
    }
}

fn collect_names(schema: &Schema, out: &mut BTreeSet<String>) {
    let base = |name: &str| name.split('<').next().unwrap_or(name).to_string();
    match schema {
        Schema::Struct { name, fields, .. } => {
            out.insert(base(name));
            for f in fields {
                collect_names(&f.schema, out);
            }
        }
        Schema::Enum { name, variants } => {
            out.insert(base(name));
            for v in variants {
                for f in &v.fields {
                    collect_names(&f.schema, out);
                }
            }
        }
        Schema::List(s) | Schema::Array(s, _) | Schema::Option(s) => collect_names(s, out),
        Schema::Map(k, v) => {
            collect_names(k, out);
            collect_names(v, out);
        }
        Schema::Tuple(items) => items.iter().for_each(|s| collect_names(s, out)),
        Schema::Channel { item, .. } => collect_names(item, out),
        Schema::Primitive(_) | Schema::Bytes | Schema::Ref(_) => {}
    }
}

macro_rules! agree {
    ($checker:expr, $($t:ty),+ $(,)?) => {
        $( $checker.check::<$t>(stringify!($t)); )+
    };
}

#[test]
fn every_kitchen_sink_type_agrees_with_facet() {
    let checker = Checker {
        defs: type_defs(),
        seen: RefCell::new(BTreeSet::new()),
    };
    agree!(
        checker,
        Point,
        Meters,
        Pair,
        Marker,
        Primitives,
        Shape,
        Outer,
        Inner,
        Page<Point>,
        Page<u8>,
        Page<Vec<u8>>,
        Page<Page<String>>,
        Page<Option<Box<Tree>>>,
        Pairing<u8, String>,
        Pairing<Shape, HashMap<String, Vec<Point>>>,
        Either<Point, Either<u8, ()>>,
        Either<(i8, [u16; 3]), Marker>,
        Tree,
        Expr,
        List<i32>,
        List<List<Point>>,
        List<Tree>,
        Forest,
        Node,
        Wrapper<Nest>,
        Wrapper<Wrapper<bool>>,
        Nest,
        Settings,
        Profile,
        Status,
        Cased,
        Option<Vec<Profile>>,
        Result<Profile, Status>,
        Everything,
        Box<Point>,
        Vec<Vec<u8>>,
        Option<Result<Meters, String>>,
        (Point, Marker, (u8,)),
        [Shape; 3],
        std::collections::BTreeMap<String, List<u8>>,
    );
    // Nothing in the file went unchecked (schemas name types by their schema names).
    let all: BTreeSet<String> = checker
        .defs
        .iter()
        .map(|d| d.schema_name().to_owned())
        .collect();
    let seen = checker.seen.into_inner();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "types not covered: {missing:?}");
}

#[test]
fn defaults_reach_the_schema_on_both_sides() {
    let defs = type_defs();
    let from_syn = TypeTable::new(&defs)
        .schema_of_syn(&syn::parse_str("Settings").unwrap())
        .unwrap();
    let Schema::Struct { fields, .. } = &from_syn else {
        panic!("Settings is a struct: {from_syn:?}")
    };
    let flags: Vec<(&str, bool)> = fields
        .iter()
        .map(|f| (f.name.as_str(), f.default))
        .collect();
    assert_eq!(
        flags,
        [
            ("name", false),
            ("retries", true),
            ("depth", true),
            ("tags", true)
        ]
    );
    assert_same("Settings", &from_syn, &runtime::<Settings>());
}

#[test]
fn renames_and_skips_reach_the_schema_on_both_sides() {
    let defs = type_defs();
    let table = TypeTable::new(&defs);
    let syn_side = |ty: &str| table.schema_of_syn(&syn::parse_str(ty).unwrap()).unwrap();
    let names = |fields: &[roam_core::schema::Field]| -> Vec<(String, bool)> {
        fields.iter().map(|f| (f.name.clone(), f.default)).collect()
    };

    let profile = syn_side("Profile");
    assert_same("Profile", &profile, &runtime::<Profile>());
    let Schema::Struct { name, fields, .. } = &profile else {
        panic!("Profile is a struct: {profile:?}")
    };
    assert_eq!(name, "Account");
    // `cache` and `retries` are skipped; `level` has a literal default.
    assert_eq!(
        names(fields),
        [
            ("userName".to_owned(), false),
            ("status".to_owned(), false),
            ("level".to_owned(), true),
            ("type".to_owned(), false)
        ]
    );

    let status = syn_side("Status");
    assert_same("Status", &status, &runtime::<Status>());
    let Schema::Enum { variants, .. } = &status else {
        panic!("Status is an enum: {status:?}")
    };
    let shown: Vec<(&str, Vec<(String, bool)>)> = variants
        .iter()
        .map(|v| (v.name.as_str(), names(&v.fields)))
        .collect();
    assert_eq!(
        shown,
        [
            ("active", vec![]),
            ("on_hold", vec![("since".to_owned(), false)]),
            ("timed-out", vec![("RETRY_AFTER".to_owned(), false)]),
            ("banned", vec![("0".to_owned(), false)]),
        ]
    );

    let cased = syn_side("Cased");
    assert_same("Cased", &cased, &runtime::<Cased>());
    let Schema::Struct { fields, .. } = &cased else {
        panic!("Cased is a struct: {cased:?}")
    };
    let cased_names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        cased_names,
        ["fullName", "httpServer", "a1b2C", "custom-name"]
    );

    // The defaults the model keeps for emitters: skipped fields are not in it at all.
    let def = defs.iter().find(|d| d.name == "Profile").unwrap();
    let roam_codegen::ir::TypeDefKind::Struct(roam_codegen::ir::Fields::Named(list)) = &def.kind
    else {
        panic!("named struct")
    };
    let positions: Vec<(usize, String)> =
        list.iter().map(|f| (f.position, f.schema_name())).collect();
    assert_eq!(
        positions,
        [
            (0, "userName".to_owned()),
            (2, "status".to_owned()),
            (4, "level".to_owned()),
            (5, "type".to_owned())
        ]
    );
    assert_eq!(
        list[2].default,
        Some(roam_codegen::ir::FieldDefault::Literal(
            roam_codegen::ir::Literal::Int("10".into())
        ))
    );
}

/// Defines items for facet and keeps their source text for roam-codegen, so a test can compare
/// both sides on names chosen to exercise every case rule.
macro_rules! compiled_and_parsed {
    ($src:ident: $($item:item)*) => {
        $($item)*
        pub const $src: &str = stringify!($($item)*);
    };
}

#[allow(non_snake_case, non_camel_case_types, dead_code)]
mod cases {
    use facet::Facet;

    compiled_and_parsed! {
        CASES_SRC:
        #[derive(Facet)]
        #[facet(rename_all = "camelCase")]
        pub struct Camel { pub full_name: u8, pub HTTPServer: u8, pub theHTTPServer: u8, pub FooBAR: u8, pub foo1Bar: u8, pub __x__: u8, pub r#type: u8, pub Éclair_über: u8 }
        #[derive(Facet)]
        #[facet(rename_all = "PascalCase")]
        pub struct Pascal { pub full_name: u8, pub HTTPServer: u8, pub theHTTPServer: u8, pub FooBAR: u8, pub foo1Bar: u8, pub __x__: u8, pub r#type: u8, pub Éclair_über: u8 }
        #[derive(Facet)]
        #[facet(rename_all = "snake_case")]
        pub struct Snake { pub full_name: u8, pub HTTPServer: u8, pub theHTTPServer: u8, pub FooBAR: u8, pub foo1Bar: u8, pub __x__: u8, pub r#type: u8, pub Éclair_über: u8 }
        #[derive(Facet)]
        #[facet(rename_all = "SCREAMING_SNAKE_CASE")]
        pub struct ScreamingSnake { pub full_name: u8, pub HTTPServer: u8, pub theHTTPServer: u8, pub FooBAR: u8, pub foo1Bar: u8, pub __x__: u8, pub r#type: u8, pub Éclair_über: u8 }
        #[derive(Facet)]
        #[facet(rename_all = "kebab-case")]
        pub struct Kebab { pub full_name: u8, pub HTTPServer: u8, pub theHTTPServer: u8, pub FooBAR: u8, pub foo1Bar: u8, pub __x__: u8, pub r#type: u8, pub Éclair_über: u8 }
        #[derive(Facet)]
        #[facet(rename_all = "SCREAMING-KEBAB-CASE")]
        pub struct ScreamingKebab { pub full_name: u8, pub HTTPServer: u8, pub theHTTPServer: u8, pub FooBAR: u8, pub foo1Bar: u8, pub __x__: u8, pub r#type: u8, pub Éclair_über: u8 }
        #[derive(Facet)]
        #[facet(rename_all = "lowercase")]
        pub struct Lower { pub full_name: u8, pub HTTPServer: u8, pub theHTTPServer: u8, pub FooBAR: u8, pub foo1Bar: u8, pub __x__: u8, pub r#type: u8, pub Éclair_über: u8 }
        #[derive(Facet)]
        #[facet(rename_all = "UPPERCASE")]
        pub struct Upper { pub full_name: u8, pub HTTPServer: u8, pub theHTTPServer: u8, pub FooBAR: u8, pub foo1Bar: u8, pub __x__: u8, pub r#type: u8, pub Éclair_über: u8 }
        #[derive(Facet)]
        #[facet(rename_all = "kebab-case")]
        pub struct Positional(pub u8, #[facet(rename = "second")] pub u8, #[facet(skip, default)] pub u8, pub u8);
        #[derive(Facet)]
        #[repr(u8)]
        #[facet(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum Variants {
            FooBar,
            #[facet(rename_all = "PascalCase")]
            HTTPRequest { status_code: u16, r#type: u8 },
            #[facet(rename = "custom")]
            Other(u8),
        }
        #[derive(Facet)]
        #[facet(rename = "renamed-generic")]
        pub struct Generic<T> { pub item: T }
    }
}

#[test]
fn rename_all_styles_agree_with_facet() {
    use cases::*;
    let (_, defs, errors) = parse_file(CASES_SRC);
    assert!(errors.is_empty(), "{errors:?}");
    let checker = Checker {
        defs,
        seen: RefCell::new(BTreeSet::new()),
    };
    agree!(
        checker,
        Camel,
        Pascal,
        Snake,
        ScreamingSnake,
        Kebab,
        ScreamingKebab,
        Lower,
        Upper,
        Positional,
        Variants,
        Generic<Camel>,
        Option<Generic<Variants>>,
    );
    // A few spelled out, so a rule that both sides got wrong the same way would show.
    let camel = runtime::<Camel>();
    let Schema::Struct { fields, .. } = &camel else {
        panic!("{camel:?}")
    };
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fullName",
            "httpServer",
            "theHttpServer",
            "fooBar",
            "foo1Bar",
            "x",
            "type",
            "éclairÜber"
        ]
    );
    let kebab = runtime::<ScreamingKebab>();
    let Schema::Struct { fields, .. } = &kebab else {
        panic!("{kebab:?}")
    };
    assert_eq!(fields[2].name, "THE-HTTP-SERVER");
    assert_eq!(runtime::<Generic<u8>>().name(), Some("renamed-generic<u8>"));
}

fn service_schemas() -> HashMap<String, MethodSchemas> {
    let (services, _, errors) = parse_file(SERVICE_SRC);
    assert!(errors.is_empty(), "service.rs parses cleanly: {errors:?}");
    let defs = type_defs();
    let table = TypeTable::new(&defs);
    let [atlas] = services.as_slice() else {
        panic!("one service")
    };
    atlas
        .methods
        .iter()
        .map(|m| {
            let schemas = table
                .method_schemas(m)
                .unwrap_or_else(|e| panic!("{}: {e}", m.name));
            (m.name.clone(), schemas)
        })
        .collect()
}

#[test]
fn a_whole_service_agrees_with_facet() {
    let methods = service_schemas();
    assert_eq!(methods.len(), 8);

    let locate = &methods["locate"];
    assert_same("locate args", &locate.args, &runtime::<(&str, Point)>());
    assert_same("locate ok", &locate.ok, &runtime::<Option<Point>>());
    assert_eq!(locate.err, Schema::infallible());
    assert_eq!(locate.channels, Schema::UNIT);

    let draw = &methods["draw"];
    assert_same("draw args", &draw.args, &runtime::<(Vec<Shape>, f64)>());
    assert_same("draw ok", &draw.ok, &runtime::<Page<Shape>>());
    assert_same("draw err", &draw.err, &runtime::<Outer>());
    assert_same(
        "draw returns",
        &draw.returns(),
        &runtime::<Result<Page<Shape>, Outer>>(),
    );
    assert_eq!(
        draw.returns_hash(),
        runtime::<Result<Page<Shape>, Outer>>().content_hash()
    );

    let upload = &methods["upload"];
    assert_same(
        "upload args",
        &upload.args,
        &runtime::<(&[u8], HashMap<String, Pair>)>(),
    );
    assert_same("upload ok", &upload.ok, &runtime::<(u64, [u8; 4])>());

    let ping = &methods["ping"];
    assert_same("ping args", &ping.args, &runtime::<()>());
    assert_same("ping ok", &ping.ok, &runtime::<()>());
    assert_eq!(ping.args_hash(), runtime::<()>().content_hash());

    let grow = &methods["grow"];
    assert_same("grow args", &grow.args, &runtime::<(Tree, Settings)>());
    assert_same("grow ok", &grow.ok, &runtime::<Tree>());
    assert_same("grow err", &grow.err, &runtime::<String>());

    // Channels are not in the payload; their items agree too.
    let watch = &methods["watch"];
    assert_same(
        "watch args",
        &watch.args,
        &runtime::<(Pairing<Point, Point>,)>(),
    );
    assert_same("watch ok", &watch.ok, &runtime::<u32>());
    assert_eq!(
        watch.channels,
        Schema::Tuple(vec![
            Schema::Channel {
                direction: ChannelDirection::Tx,
                item: Box::new(runtime::<Expr>()),
            },
            Schema::Channel {
                direction: ChannelDirection::Rx,
                item: Box::new(runtime::<Inner>()),
            },
        ])
    );

    let everything = &methods["everything"];
    assert_same(
        "everything args",
        &everything.args,
        &runtime::<(Everything, Nest, Forest)>(),
    );
    assert_same(
        "everything ok",
        &everything.ok,
        &runtime::<Either<Primitives, List<Meters>>>(),
    );

    let register = &methods["register"];
    assert_same(
        "register args",
        &register.args,
        &runtime::<(Profile, Cased)>(),
    );
    assert_same(
        "register returns",
        &register.returns(),
        &runtime::<Result<Profile, Status>>(),
    );
}
