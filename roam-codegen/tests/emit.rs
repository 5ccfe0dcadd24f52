//! Snapshot tests of what `#[roam::service]` expands to, and of the errors it reports.
//!
//! Each case goes through one helper: [`expand`] for generated code (formatted with
//! `prettyplease` so the `.snap` files read like source) and [`errors`] for diagnostics (each
//! rendered with its line, column and underlined source). Snapshots live in `tests/snapshots/`;
//! after an intended change, review the diff and accept it with `cargo insta review` (or run
//! once with `INSTA_UPDATE=always`).

use proc_macro2::TokenStream;

/// Expands `src` (a trait, without its `#[roam::service]` attribute) and formats the result.
fn expand(src: &str) -> String {
    let item: TokenStream = src.parse().expect("test source tokenizes");
    let expanded = roam_codegen::expand_service(TokenStream::new(), item);
    let file: syn::File = syn::parse2(expanded).expect("expansion is a sequence of items");
    prettyplease::unparse(&file)
}

/// Expands `src` and renders every error it reports, in order, like rustc does.
fn errors(src: &str) -> String {
    errors_with_attr("", src)
}

fn errors_with_attr(attr: &str, src: &str) -> String {
    let attr: TokenStream = attr.parse().expect("test attribute tokenizes");
    let item: TokenStream = src.parse().expect("test source tokenizes");
    let expanded = roam_codegen::expand_service(attr, item);
    let file: syn::File = syn::parse2(expanded).expect("expansion is a sequence of items");
    let lines: Vec<&str> = src.lines().collect();
    let mut out = String::new();
    for item in &file.items {
        let syn::Item::Macro(mac) = item else {
            continue;
        };
        if mac
            .mac
            .path
            .segments
            .last()
            .is_none_or(|s| s.ident != "compile_error")
        {
            continue;
        }
        let message: syn::LitStr = mac.mac.parse_body().expect("compile_error! holds a string");
        // `compile_error!` tokens carry the error's span: the start on the path, the end on the
        // body.
        let Some(first) = mac.mac.path.segments.first() else {
            continue;
        };
        let start = first.ident.span().start();
        let end = mac.mac.delimiter.span().close().end();
        out.push_str(&format!(
            "error: {}\n --> {}:{}\n",
            message.value(),
            start.line,
            start.column + 1
        ));
        if let Some(line) = lines.get(start.line.wrapping_sub(1)) {
            let width = if end.line == start.line {
                end.column.saturating_sub(start.column).max(1)
            } else {
                1
            };
            out.push_str(&format!(
                "  | {line}\n  | {}{}\n",
                " ".repeat(start.column),
                "^".repeat(width)
            ));
        }
    }
    out
}

const KITCHEN_SINK: &str = r#"
/// Everything the service model accepts.
///
/// Second paragraph.
pub trait KitchenSink: Send + Sync + 'static {
    /// Every primitive.
    async fn unsigned(&self, a: bool, b: u8, c: u16, d: u32, e: u64, f: u128) -> (bool, char);
    async fn signed(&self, g: i8, h: i16, i: i32, j: i64, k: i128, l: f32, m: f64, n: char);
    /// Borrowed arguments are slices of the request payload.
    async fn borrowed(&self, name: &str, data: &[u8]) -> Vec<u8>;
    #[roam(idempotent)]
    async fn strings(&self, s: String, full: std::string::String) -> String;
    async fn collections(
        &self,
        list: Vec<Point>,
        maybe: Option<Box<Point>>,
        pair: (u8, String),
        one: (i32,),
        fixed: [u8; 16],
        map: HashMap<String, Vec<u32>>,
        ordered: std::collections::BTreeMap<u64, Shape>,
    ) -> Option<Vec<(String, i64)>>;
    async fn generic_user_types(&self, page: Page<Item>) -> Page<Page<Item>>;
    /// Fallible: the error type is part of the contract.
    async fn fallible(&self, a: i32, b: i32) -> Result<i32, MathError>;
    async fn fallible_unit(&self) -> std::result::Result<(), MathError>;
    /// Takes the call context; it is not a wire argument.
    async fn with_context(&self, cx: &roam::Context, name: &str) -> String;
    async fn unit(&self) -> ();
    async fn nothing(&self);
    async fn r#type(&self, r#in: u8);
}
"#;

#[test]
fn kitchen_sink() {
    insta::assert_snapshot!(expand(KITCHEN_SINK));
}

#[test]
fn private_service_without_docs() {
    insta::assert_snapshot!(expand(
        "trait Quiet { async fn ping(&self); async fn add(&self, a: u8, b: u8) -> u8; }"
    ));
}

#[test]
fn crate_visible_service_with_context_only() {
    insta::assert_snapshot!(expand(
        "pub(crate) trait HTTPServer { async fn hello(&self, cx: &Context) -> String; }"
    ));
}

#[test]
fn empty_service() {
    insta::assert_snapshot!(expand("pub trait Nothing {}"));
}

/// A user type named `H` must not be captured by the dispatcher's type parameter.
#[test]
fn user_type_named_h() {
    let out = expand("pub trait Letters { async fn h(&self, h: H) -> H; }");
    let compact: String = out.split_whitespace().collect();
    assert!(compact.contains("pubstructLettersDispatcher<__H>"), "{out}");
    assert!(compact.contains("decode_args::<(H,),>"), "{out}");
}

#[test]
fn descriptor_ids_come_from_roam_core() {
    let out = expand(KITCHEN_SINK);
    for method in [
        "unsigned",
        "signed",
        "borrowed",
        "fallible",
        "with_context",
        "type",
    ] {
        let id = roam_core::method_id("KitchenSink", method);
        let hex = format!("{id:016x}");
        let grouped = format!(
            "0x{}_{}_{}_{}",
            &hex[0..4],
            &hex[4..8],
            &hex[8..12],
            &hex[12..16]
        );
        assert!(
            out.contains(&format!("id: {grouped},")),
            "descriptor id of {method}"
        );
        assert!(
            out.contains(&format!("{grouped}u64 =>")),
            "dispatch arm of {method}"
        );
    }
}

#[test]
fn expansion_is_deterministic() {
    assert_eq!(expand(KITCHEN_SINK), expand(KITCHEN_SINK));
}

/// Every refused shape in one trait: all errors are reported at once, each at its token.
#[test]
fn every_refused_shape_at_once() {
    insta::assert_snapshot!(errors(
        r#"
unsafe trait Refused<T>: ?Sized where T: Send {
    type Assoc;
    const LIMIT: u32;
    my_macro!();
    #[allow(unused)]
    async fn attributed(&self);
    fn not_async(&self);
    async fn generic<U>(&self, u: U);
    async fn bounded(&self) where Self: Sized;
    async fn impl_arg(&self, f: impl Fn());
    async fn mut_self(&mut self);
    async fn by_value(self);
    async fn typed_receiver(self: Box<Self>);
    async fn no_receiver(a: u8);
    async fn with_body(&self) {}
    async fn lifetime(&self, s: &'static str);
    async fn reference(&self, v: &Vec<u8>);
    async fn mutable(&self, v: &mut str);
    async fn pointer(&self, p: *const u8);
    async fn object(&self, d: Box<dyn Send>);
    async fn impl_return(&self) -> impl Send;
    async fn returns_reference(&self) -> &str;
    async fn returns_channel(&self) -> Rx<u8>;
    async fn nested_channel(&self, v: Vec<Tx<u8>>);
    async fn late_context(&self, a: u8, cx: &roam::Context);
    async fn pattern(&self, (a, b): (u8, u8));
    async fn wildcard(&self, _: u8);
    unsafe fn unsafe_fn(&self);
    const fn const_fn(&self);
    extern "C" fn extern_fn(&self);
    async fn platform(&self, n: usize) -> isize;
    async fn alias(&self) -> io::Result<u8>;
    async fn array(&self, a: [u8; LEN]);
    async fn map(&self, m: HashMap<String, u8, S>);
    async fn new(&self);
    async fn duplicate(&self);
    async fn duplicate(&self);
    async fn doc_arg(&self, #[cfg(x)] a: u8);
    async fn many(&self, a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8, j: u8, k: u8, l: u8, m: u8);
    async fn wide(&self) -> (u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8);
}
"#
    ));
}

/// Channel arguments are not part of the payload: the client passes them to
/// `call_with_channels` in argument order, the dispatcher takes each back by its index.
#[test]
fn streaming_service() {
    insta::assert_snapshot!(expand(
        r#"
pub trait Streamer {
    /// Client streams numbers, server answers once.
    async fn sum(&self, numbers: Rx<i32>) -> i64;
    /// Server streams to the client.
    async fn count(&self, upto: u32, out: roam::Tx<u32>);
    /// Both directions, with the context and wire arguments around them.
    async fn transform(&self, cx: &roam::Context, prefix: &str, input: Rx<Item>, output: Tx<Item>, limit: u8) -> Result<u64, Stop>;
}
"#
    ));
}

#[test]
fn the_attribute_takes_no_arguments() {
    let out = errors_with_attr("fast = true", "trait S { async fn f(&self); }");
    assert!(
        out.starts_with("error: `#[roam::service]` takes no arguments; write `#[roam::service]`\n"),
        "{out}"
    );
    assert_eq!(out.matches("error:").count(), 1, "{out}");
}

#[test]
fn the_attribute_goes_on_a_trait() {
    insta::assert_snapshot!(errors("struct NotATrait { x: u8 }"));
}

/// `#[roam(...)]` takes the one flag `idempotent`, bare and once, and only on methods; each
/// mistake is reported at its token, and the fallback trait does not keep the attribute (Rust
/// would not know it).
#[test]
fn roam_attribute_errors() {
    let src = r#"
trait S {
    #[roam(retry)]
    async fn unknown(&self);
    #[roam(idempotent = true)]
    async fn with_value(&self);
    #[roam(idempotent(yes))]
    async fn with_arguments(&self);
    #[roam(idempotent, idempotent)]
    async fn repeated(&self);
    #[roam(idempotent)]
    #[roam(idempotent)]
    async fn repeated_attributes(&self);
    #[roam]
    async fn bare(&self);
    #[roam()]
    async fn empty(&self);
    #[roam("idempotent")]
    async fn literal(&self);
    async fn on_argument(&self, #[roam(idempotent)] a: u8);
    /// Docs and the flag, in any order, are fine.
    #[roam(idempotent,)]
    /// More docs.
    async fn fine(&self);
}
"#;
    insta::assert_snapshot!(errors(src));
    let fallback = expand(src);
    let fallback_trait = &fallback[fallback.find("trait S").expect("the fallback trait")..];
    assert!(!fallback_trait.contains("#[roam"), "{fallback}");
    assert!(
        fallback_trait.contains("/// Docs and the flag, in any order, are fine."),
        "docs stay: {fallback}"
    );

    let on_trait = errors("#[roam(idempotent)]\ntrait S { async fn f(&self); }");
    assert!(
        on_trait.starts_with("error: `#[roam(...)]` is not supported on a service trait: it goes on a service method, like `#[roam(idempotent)]`\n --> 1:1\n"),
        "{on_trait}"
    );
    assert_eq!(on_trait.matches("error:").count(), 1, "{on_trait}");
}

/// The flag reaches the descriptor, and the generated docs of the trait method and the client
/// method say it; the descriptor's `doc` stays the user's own text.
#[test]
fn idempotent_methods() {
    let out = expand(
        "pub trait Store {\n    /// Reads a key.\n    #[roam(idempotent)]\n    async fn get(&self, key: String) -> Option<String>;\n    async fn append(&self, key: String, value: String);\n}",
    );
    let compact: String = out.split_whitespace().collect();
    assert!(
        compact.contains("name:\"get\",doc:\"Readsakey.\","),
        "{out}"
    );
    assert!(
        compact.contains("error:::core::option::Option::None,idempotent:true,}"),
        "{out}"
    );
    assert!(
        compact.contains("error:::core::option::Option::None,idempotent:false,}"),
        "{out}"
    );
    assert_eq!(
        out.matches(&format!(
            "/// {}",
            roam_codegen::ir::MethodDef::IDEMPOTENT_DOC
        ))
        .count(),
        2,
        "trait and client method docs: {out}"
    );
    assert!(!out.contains("#[roam"), "{out}");
}

/// On error the trait is still emitted (as written), so code implementing it does not pile up
/// follow-on errors; parameter docs, which Rust rejects, are removed from it.
#[test]
fn errors_keep_the_trait() {
    let out = expand("pub trait S { fn f(&self, /// doc\n x: u8); }");
    assert!(out.contains("compile_error!"), "{out}");
    assert!(
        out.contains("pub trait S {\n    fn f(&self, x: u8);\n}"),
        "{out}"
    );
}
