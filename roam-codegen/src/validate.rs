//! The rules a service trait must follow, and the error collector they report into.
//!
//! Owns: every "this shape is refused" decision and its message. Each rule is one small
//! function with a comment giving its reason; each error is spanned on the offending token and
//! says what *is* supported. Errors are collected in a [`Ctxt`] so the user sees all of them at
//! once.
//!
//! Must not: build the model (that is [`crate::parse`]) or emit code (that is [`crate::emit`]).
//!
//! Rules come in two groups:
//! - **syntax rules** (`pub(crate)`), called by the parser on shapes the model has no place for
//!   (`impl Trait`, `&mut self`, generic methods, ...): the parser reports and skips them;
//! - **model rules**, run by [`service`] and [`type_def`] over a parsed model, for shapes the
//!   model can hold but roam does not accept (a `Tx` nested in a `Vec`, duplicate methods).

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt::Display;
use std::thread;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

use crate::case::RenameRule;
use crate::ir::{
    Fields, MethodDef, Primitive, ServiceDef, TypeDef, TypeDefKind, TypeKind, TypeRef,
};

/// Collects errors so that every problem is reported at once.
///
/// Report with [`Ctxt::error_spanned_by`] or [`Ctxt::error_at`], then consume the context with
/// [`Ctxt::check`] or [`Ctxt::into_errors`]. Dropping a context without doing either is a bug in
/// roam and panics (outside of an unwinding panic), so no error can be silently lost.
#[derive(Debug)]
pub struct Ctxt {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Default for Ctxt {
    fn default() -> Self {
        Self::new()
    }
}

impl Ctxt {
    /// An empty collector.
    pub fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error spanning all of `tokens` (first to last token).
    pub fn error_spanned_by<T: ToTokens>(&self, tokens: T, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error at `span`.
    pub fn error_at(&self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an existing error (e.g. a `syn` parse error).
    pub fn push(&self, error: syn::Error) {
        if let Some(errors) = self.errors.borrow_mut().as_mut() {
            errors.push(error);
        }
    }

    /// Whether any error has been recorded so far.
    pub fn has_errors(&self) -> bool {
        self.errors.borrow().as_ref().is_some_and(|e| !e.is_empty())
    }

    /// Consumes the collector: `Ok` if nothing was reported, otherwise every error, in source
    /// order, combined into one (`syn::Error::into_compile_error` then emits one `compile_error!` per error).
    pub fn check(self) -> syn::Result<()> {
        let mut errors = self.into_errors().into_iter();
        match errors.next() {
            None => Ok(()),
            Some(mut first) => {
                for rest in errors {
                    first.combine(rest);
                }
                Err(first)
            }
        }
    }

    /// Consumes the collector and returns the errors in source order (for tools that print
    /// each one with its own file, line and column). Errors at the same place, or without a
    /// known location, keep the order they were reported in.
    pub fn into_errors(self) -> Vec<syn::Error> {
        let mut errors = self.errors.borrow_mut().take().unwrap_or_default();
        errors.sort_by_key(|e| {
            let start = e.span().start();
            (start.line, start.column)
        });
        errors
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !thread::panicking() && self.errors.borrow().is_some() {
            panic!(
                "roam-codegen bug: a validate::Ctxt was dropped without calling check() or into_errors()"
            );
        }
    }
}

/// Where a type appears; decides which references are allowed and how errors are worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// The whole type of a method argument.
    Arg,
    /// The whole return type of a method, or the `T`/`E` of its `Result<T, E>`.
    Return,
    /// Inside another type (`Vec<_>`, a tuple element, a generic argument, ...).
    Nested,
    /// The type of a field of a user type.
    Field,
}

/// The kinds of types roam carries, for the "what is supported" part of messages.
const SUPPORTED_TYPES: &str = "supported types are primitives (bool, u8..u128, i8..i128, f32, f64, char), \
     String, Vec<T>, Option<T>, Box<T>, tuples, [T; N], HashMap<K, V>, BTreeMap<K, V> \
     and types that derive Facet (e.g. `Page<Item>`)";

// ---------------------------------------------------------------------------------------------
// Model rules
// ---------------------------------------------------------------------------------------------

/// Runs every model rule over a parsed service, method by method so errors come in source
/// order.
pub fn service(cx: &Ctxt, service: &ServiceDef) {
    let mut seen = HashSet::new();
    for method in &service.methods {
        method_name_leaves_room_for_client_methods(cx, service, method);
        method_name_is_unique(cx, service, method, &mut seen);
        arguments_fit_in_a_tuple(cx, method);
        tuples_fit_facet(
            cx,
            method
                .args
                .iter()
                .map(|a| &a.ty)
                .chain([&method.ret])
                .chain(&method.error),
        );
        channels_are_whole_arguments(cx, method);
        channels_are_not_returned(cx, method);
    }
}

/// Runs every model rule over a parsed user type.
pub fn type_def(cx: &Ctxt, def: &TypeDef) {
    channels_are_not_fields(cx, def);
    schema_names_are_unique(cx, def);
    let fields = match &def.kind {
        TypeDefKind::Struct(fields) => vec![fields],
        TypeDefKind::Enum(variants) => variants.iter().map(|v| &v.fields).collect(),
    };
    for fields in fields {
        if let Fields::Named(list) | Fields::Tuple(list) = fields {
            tuples_fit_facet(cx, list.iter().map(|f| &f.ty));
        }
    }
}

/// The most elements a tuple may have: `facet` implements `Facet` for tuples up to 12
/// elements (with its `tuples-12` feature, which roam-runtime enables).
pub const MAX_TUPLE_LEN: usize = 12;

/// Method IDs are hashed from `Service.method`, so two methods with one name would share an ID
/// and the dispatcher could not tell them apart.
fn method_name_is_unique<'a>(
    cx: &Ctxt,
    service: &ServiceDef,
    method: &'a MethodDef,
    seen: &mut HashSet<&'a str>,
) {
    if !seen.insert(&method.name) {
        cx.error_at(
            method.name_span,
            format_args!(
                "duplicate method `{}`: method IDs are derived from `{}.{}`, so method names must be unique",
                method.name, service.name, method.name
            ),
        );
    }
}

/// The generated client has inherent methods `new` and `connection`, and derives `Clone`; a
/// service method with one of these names would collide with them (or, for `clone`, silently
/// shadow `Clone::clone`).
fn method_name_leaves_room_for_client_methods(cx: &Ctxt, service: &ServiceDef, method: &MethodDef) {
    if matches!(method.name.as_str(), "new" | "connection" | "clone") {
        cx.error_at(
            method.name_span,
            format_args!(
                "a service method cannot be named `{}`: it would collide with the generated `{}Client::{}`; rename the method",
                method.name, service.name, method.name
            ),
        );
    }
}

/// The wire arguments (all but channels) travel as one tuple, `(a, b, ...)`, which must
/// implement `Facet`; see [`MAX_TUPLE_LEN`].
fn arguments_fit_in_a_tuple(cx: &Ctxt, method: &MethodDef) {
    let mut wire_args = method.args.iter().filter(|a| !a.ty.is_channel());
    if let Some(arg) = wire_args.nth(MAX_TUPLE_LEN) {
        cx.error_at(
            arg.name_span,
            format_args!(
                "a service method can take at most {MAX_TUPLE_LEN} arguments besides `&self`, the context and channels (they travel as one tuple, and `Facet` is implemented for tuples of up to {MAX_TUPLE_LEN} elements); group related arguments into a struct that derives Facet"
            ),
        );
    }
}

/// Tuples are only `Facet` up to [`MAX_TUPLE_LEN`] elements.
fn tuples_fit_facet<'a>(cx: &Ctxt, types: impl IntoIterator<Item = &'a TypeRef>) {
    for ty in types {
        ty.walk(&mut |ty, _| {
            if let TypeKind::Tuple(elems) = &ty.kind
                && elems.len() > MAX_TUPLE_LEN
            {
                cx.error_at(
                    ty.span,
                    format_args!(
                        "tuples can have at most {MAX_TUPLE_LEN} elements (`Facet` is implemented up to that size); use a struct that derives Facet"
                    ),
                );
            }
        });
    }
}

/// A channel is bound to the request that carries it, so it can only be a whole argument:
/// inside a `Vec` or an `Option` there would be no fixed number of channels to bind.
fn channels_are_whole_arguments(cx: &Ctxt, method: &MethodDef) {
    for arg in &method.args {
        arg.ty.walk(&mut |ty, depth| {
            if depth > 0 && ty.is_channel() {
                cx.error_at(
                    ty.span,
                    "`Tx<T>`/`Rx<T>` are only supported as a whole argument type (like `out: Tx<u32>`), not inside another type",
                );
            }
        });
    }
}

/// Responses are single values; a stream back to the caller is a `Tx<T>` argument.
fn channels_are_not_returned(cx: &Ctxt, method: &MethodDef) {
    for ty in std::iter::once(&method.ret).chain(&method.error) {
        ty.walk(&mut |ty, _| {
            if ty.is_channel() {
                cx.error_at(
                    ty.span,
                    "`Tx<T>`/`Rx<T>` are not supported in return types; take a `Tx<T>` argument to stream values to the caller",
                );
            }
        });
    }
}

/// Channels only exist as method arguments; a user type holding one has no wire form.
fn channels_are_not_fields(cx: &Ctxt, def: &TypeDef) {
    let check = |fields: &Fields| {
        let list = match fields {
            Fields::Named(list) | Fields::Tuple(list) => list.as_slice(),
            Fields::Unit => &[],
        };
        for field in list {
            field.ty.walk(&mut |ty: &TypeRef, _| {
                if ty.is_channel() {
                    cx.error_at(
                        ty.span,
                        "`Tx<T>`/`Rx<T>` cannot be fields of a wire type; they are only supported as whole method arguments",
                    );
                }
            });
        }
    };
    match &def.kind {
        TypeDefKind::Struct(fields) => check(fields),
        TypeDefKind::Enum(variants) => variants.iter().for_each(|v| check(&v.fields)),
    }
}

/// A reader matches fields and variants by the names the schema carries; two with one name
/// (after `#[facet(rename)]` and `rename_all`) could not be told apart. The runtime refuses to
/// describe such a type too.
fn schema_names_are_unique(cx: &Ctxt, def: &TypeDef) {
    let check = |fields: &Fields, owner: &str| {
        let list = match fields {
            Fields::Named(list) | Fields::Tuple(list) => list.as_slice(),
            Fields::Unit => &[],
        };
        let mut seen = HashSet::new();
        for field in list {
            let name = field.schema_name();
            if !seen.insert(name.clone()) {
                cx.error_at(
                    field.name_span,
                    format_args!(
                        "two fields of `{owner}` are named `{name}` in the schema, so a reader could not tell them apart; give them different `#[facet(rename = \"...\")]` names"
                    ),
                );
            }
        }
    };
    match &def.kind {
        TypeDefKind::Struct(fields) => check(fields, &def.name),
        TypeDefKind::Enum(variants) => {
            let mut seen = HashSet::new();
            for v in variants {
                if !seen.insert(v.schema_name()) {
                    cx.error_at(
                        v.name_span,
                        format_args!(
                            "two variants of `{}` are named `{}` in the schema, so a reader could not tell them apart; give them different `#[facet(rename = \"...\")]` names",
                            def.name,
                            v.schema_name()
                        ),
                    );
                }
                check(&v.fields, &format!("{}::{}", def.name, v.name));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax rules: `#[facet(...)]` on user types
// ---------------------------------------------------------------------------------------------

/// Where a `#[facet(...)]` argument is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FacetPlace {
    /// On a struct or enum.
    Container,
    /// On an enum variant.
    Variant,
    /// On a field of a struct or variant.
    Field,
}

impl FacetPlace {
    fn describe(self) -> &'static str {
        match self {
            FacetPlace::Container => "structs and enums",
            FacetPlace::Variant => "enum variants",
            FacetPlace::Field => "fields",
        }
    }

    /// The arguments roam reads (or knows to have no effect on the wire or the schema) here.
    fn supported(self) -> &'static [&'static str] {
        match self {
            // `crate`, `traits`, `auto_traits`, `where` and `pod` only shape the generated
            // `Facet` impl.
            FacetPlace::Container => &[
                "rename",
                "rename_all",
                "crate",
                "traits",
                "auto_traits",
                "where",
                "pod",
            ],
            FacetPlace::Variant => &["rename", "rename_all"],
            // `sensitive` only redacts `Debug` output; `recursive_type` only makes facet
            // resolve the field's shape lazily.
            FacetPlace::Field => &[
                "rename",
                "default",
                "skip",
                "skip_serializing",
                "skip_deserializing",
                "sensitive",
                "recursive_type",
            ],
        }
    }
}

/// roam's schema and codec model a few of facet's attributes (see [`FacetPlace::supported`]);
/// every other one changes how facet reads or writes the type in ways the schema would not
/// show, so the CLI and the runtime would describe the type differently from facet.
pub(crate) fn facet_argument_is_supported(
    cx: &Ctxt,
    place: FacetPlace,
    ns: Option<&str>,
    key: &str,
    tokens: &TokenStream,
) -> bool {
    if ns.is_none() && place.supported().contains(&key) {
        return true;
    }
    let list = place
        .supported()
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let what = place.describe();
    let message = match (ns, key) {
        (Some(ns), _) => format!(
            "`#[facet({ns}::{key})]` is not supported: roam does not model format-specific (namespaced) facet attributes, which its schema cannot show; remove it"
        ),
        (None, "flatten") => "`#[facet(flatten)]` is not supported: roam's schema has no flattened fields, and the runtime refuses them too; keep the inner struct as an ordinary field".into(),
        (None, "proxy") => "`#[facet(proxy = ...)]` is not supported: roam describes a value by its own type, and the runtime refuses proxies too; convert to a wire type in your own code".into(),
        (None, "opaque") => "`#[facet(opaque)]` is not supported: an opaque value has no schema; use a type that derives Facet".into(),
        (None, "skip_serializing_if" | "skip_unless_truthy" | "skip_all_unless_truthy") => format!(
            "`#[facet({key})]` is not supported: postcard cannot mark a field as absent, so every field that is not `#[facet(skip)]` is always sent; use an `Option` field"
        ),
        (None, "alias") => "`#[facet(alias = ...)]` is not supported: roam matches fields and variants by their one schema name; rename with `#[facet(rename = \"...\")]` instead".into(),
        (None, "skip") => "`#[facet(skip)]` is not supported on enum variants: roam cannot leave a variant out of the schema; remove the variant instead".into(),
        (None, "default") if place == FacetPlace::Container => "a container-level `#[facet(default)]` is not supported: roam fills a missing field only from the field's own default; put `#[facet(default)]` on each field that has one".into(),
        (None, "transparent") => "`#[facet(transparent)]` is not supported: roam describes the type as the struct it is, not as its inner type; remove it".into(),
        (None, "untagged" | "tag" | "content" | "is_numeric") if place == FacetPlace::Container => format!(
            "`#[facet({key})]` is not supported: roam encodes every enum as a variant index followed by the variant's fields, and the runtime refuses other representations; remove it"
        ),
        (None, _) => format!(
            "`#[facet({key})]` is not supported on {what}: roam's schema does not model it, so the CLI and the runtime could describe the type differently from facet; supported on {what}: {list}"
        ),
    };
    cx.error_spanned_by(tokens, message);
    false
}

/// `#[facet]` is always a list of arguments.
pub(crate) fn facet_attribute_is_a_list(cx: &Ctxt, attr: &syn::Attribute) {
    cx.error_spanned_by(
        attr,
        "write facet attributes as a list, like `#[facet(rename = \"name\")]`",
    );
}

/// Arguments are `key`, `key = value` or `key(...)`, possibly as `ns::key`.
pub(crate) fn facet_argument_is_readable(cx: &Ctxt, tokens: &TokenStream) {
    cx.error_spanned_by(
        tokens,
        "could not read this facet argument: write `key`, `key = value` or `key(...)`",
    );
}

/// facet keeps only one of two renames (or two defaults); saying it twice is a mistake.
pub(crate) fn facet_argument_is_given_once(cx: &Ctxt, key: &str, tokens: &TokenStream) {
    cx.error_spanned_by(tokens, format_args!("`{key}` is given twice; keep one"));
}

/// Flags take no value: `#[facet(skip)]`, not `#[facet(skip = true)]`.
pub(crate) fn facet_flag_takes_no_value(cx: &Ctxt, key: &str, tokens: &TokenStream) {
    cx.error_spanned_by(
        tokens,
        format_args!("`{key}` takes no value; write `#[facet({key})]`"),
    );
}

/// facet 0.46 takes the text between the quotes of a `rename` as it is, without unescaping it
/// (`"a\tb"` names the field `a\tb` with a backslash), and takes anything else (an
/// identifier, a raw string) as its raw text; only plain literals mean the same to `syn`.
pub(crate) fn facet_name_is_a_plain_string(
    cx: &Ctxt,
    key: &str,
    value: &TokenStream,
) -> Option<String> {
    let mut tokens = value.clone().into_iter();
    if let (Some(proc_macro2::TokenTree::Literal(lit)), None) = (tokens.next(), tokens.next())
        && let syn::Lit::Str(s) = syn::Lit::new(lit.clone())
        && s.suffix().is_empty()
        && lit.to_string() == format!("\"{}\"", s.value())
    {
        return Some(s.value());
    }
    cx.error_spanned_by(
        value,
        format_args!(
            "`{key}` takes a plain string literal without escapes, like `{key} = \"userName\"`: facet uses the text between the quotes as it is, so anything else would name the item differently for facet and for roam"
        ),
    );
    None
}

/// facet 0.46 knows eight `rename_all` styles, spelled exactly as listed, as a plain string
/// literal (its derive takes the argument as a `&'static str` expression).
pub(crate) fn rename_all_is_a_known_rule(cx: &Ctxt, value: &TokenStream) -> Option<RenameRule> {
    let mut tokens = value.clone().into_iter();
    let spelled = match (tokens.next(), tokens.next()) {
        (Some(proc_macro2::TokenTree::Literal(lit)), None) => match syn::Lit::new(lit.clone()) {
            syn::Lit::Str(s) if lit.to_string() == format!("\"{}\"", s.value()) => Some(s.value()),
            _ => None,
        },
        _ => None,
    };
    if let Some(rule) = spelled.as_deref().and_then(RenameRule::from_name) {
        return Some(rule);
    }
    let styles = RenameRule::ALL
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ");
    cx.error_spanned_by(
        value,
        format_args!(
            "`rename_all` takes one of facet's styles as a plain string literal, like `rename_all = \"camelCase\"`; the styles are {styles}"
        ),
    );
    None
}

/// With only one of the two, facet's writer and reader disagree about whether the field is on
/// the wire (the runtime refuses it too).
pub(crate) fn skip_is_two_sided(cx: &Ctxt, key: &str, tokens: &TokenStream) {
    cx.error_spanned_by(
        tokens,
        format_args!(
            "`#[facet({key})]` alone is not supported: the field would be left out on one side of the wire only; use `#[facet(skip)]` with a default to leave it out of the wire"
        ),
    );
}

/// A `default = <integer>` must fit the field's integer type: facet converts the literal
/// each time a value lacking the field is decoded, and panics (at run time, when a peer's
/// type lacks the field) when it does not fit.
pub(crate) fn integer_default_fits(cx: &Ctxt, tokens: &TokenStream, ty: Primitive, value: &str) {
    let (min, max): (i128, u128) = match ty {
        Primitive::U8 => (0, u8::MAX.into()),
        Primitive::U16 => (0, u16::MAX.into()),
        Primitive::U32 => (0, u32::MAX.into()),
        Primitive::U64 => (0, u64::MAX.into()),
        Primitive::U128 => (0, u128::MAX),
        Primitive::I8 => (i8::MIN.into(), i8::MAX as u128),
        Primitive::I16 => (i16::MIN.into(), i16::MAX as u128),
        Primitive::I32 => (i32::MIN.into(), i32::MAX as u128),
        Primitive::I64 => (i64::MIN.into(), i64::MAX as u128),
        Primitive::I128 => (i128::MIN, i128::MAX as u128),
        _ => return,
    };
    let fits = match value.strip_prefix('-') {
        Some(magnitude) => magnitude
            .parse::<u128>()
            .is_ok_and(|m| m == 0 || (min < 0 && m <= min.unsigned_abs())),
        None => value.parse::<u128>().is_ok_and(|v| v <= max),
    };
    if !fits {
        cx.error_spanned_by(
            tokens,
            format_args!(
                "the default {value} does not fit the field's type `{}` ({min}..={max}); facet would panic converting it when a value without the field is decoded: use a value in range or a wider type",
                ty.name()
            ),
        );
    }
}

/// A skipped field is never read, so decoding must make it up. facet would fall back on the
/// type's `Default` when it has one, which only the compiler knows; roam requires the default
/// to be written out so that the CLI and the runtime decide alike.
pub(crate) fn skipped_field_has_default(cx: &Ctxt, tokens: &TokenStream) {
    cx.error_spanned_by(
        tokens,
        "a `#[facet(skip)]` field needs a default to be filled with when decoding: add `#[facet(default)]` (the type's `Default`) or `#[facet(default = ...)]`",
    );
}

// ---------------------------------------------------------------------------------------------
// Syntax rules: the attribute and the item
// ---------------------------------------------------------------------------------------------

/// The attribute has no options today; silently ignoring some would hide typos.
pub(crate) fn service_attribute_has_no_arguments(cx: &Ctxt, args: &TokenStream) {
    if !args.is_empty() {
        cx.error_spanned_by(
            args,
            "`#[roam::service]` takes no arguments; write `#[roam::service]`",
        );
    }
}

/// The schema is a trait: that is what the macro reads.
pub(crate) fn service_is_a_trait(cx: &Ctxt, item: &TokenStream, parse_error: syn::Error) {
    let found = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Trait(_)) | Err(_) => {
            // A trait `syn` cannot read (or no item at all): its own error says why.
            cx.push(parse_error);
            return;
        }
        Ok(syn::Item::Struct(_)) => "a struct",
        Ok(syn::Item::Enum(_)) => "an enum",
        Ok(syn::Item::Fn(_)) => "a function",
        Ok(syn::Item::Impl(_)) => "an impl block",
        Ok(syn::Item::Mod(_)) => "a module",
        Ok(syn::Item::TraitAlias(_)) => "a trait alias",
        Ok(_) => "an item that is not a trait",
    };
    cx.error_spanned_by(
        item,
        format_args!(
            "`#[roam::service]` goes on a trait, like `trait Name {{ async fn method(&self, arg: T) -> R; }}`; found {found}"
        ),
    );
}

/// The only attributes the model carries on a trait and on arguments are docs; anything else
/// would be dropped from some of the generated code, and `#[cfg]` would make the service
/// differ between builds.
pub(crate) fn only_doc_attributes(cx: &Ctxt, attr: &syn::Attribute, place: &str) {
    attribute_is_supported(cx, attr, place, "doc comments (`/// ...`)");
}

/// Methods carry docs and `#[roam(...)]` flags (read by the parser); see
/// [`only_doc_attributes`] for everything else.
pub(crate) fn method_attribute_is_supported(cx: &Ctxt, attr: &syn::Attribute) {
    attribute_is_supported(
        cx,
        attr,
        "service methods",
        "doc comments (`/// ...`) and `#[roam(idempotent)]`",
    );
}

fn attribute_is_supported(cx: &Ctxt, attr: &syn::Attribute, place: &str, supported: &str) {
    if attr.path().is_ident("doc") {
        cx.error_spanned_by(
            attr,
            "only `/// ...` doc comments and `#[doc = \"...\"]` are supported as documentation",
        );
    } else if attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr") {
        cx.error_spanned_by(
            attr,
            format_args!(
                "`#[cfg]` is not supported on {place}: the service would differ between builds; put the whole service in a `#[cfg]`-gated module instead"
            ),
        );
    } else if attr.path().is_ident("roam") {
        cx.error_spanned_by(
            attr,
            format_args!(
                "`#[roam(...)]` is not supported on {place}: it goes on a service method, like `#[roam(idempotent)]`"
            ),
        );
    } else {
        cx.error_spanned_by(
            attr,
            format_args!("only {supported} are supported on {place}"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax rules: `#[roam(...)]` on methods
// ---------------------------------------------------------------------------------------------

/// The flags `#[roam(...)]` takes on a service method, for messages.
const METHOD_FLAGS: &str = "`#[roam(idempotent)]` (the method is safe to run more than once, so a reconnecting client may re-send it)";

/// `#[roam(...)]` is a parenthesized list of flags; `#[roam]`, `#[roam = ...]` and an empty
/// `#[roam()]` say nothing the reader could check.
pub(crate) fn roam_attribute_is_a_list_of_flags(cx: &Ctxt, attr: &syn::Attribute) {
    cx.error_spanned_by(
        attr,
        format_args!(
            "`#[roam(...)]` on a service method takes flags in parentheses; supported: {METHOD_FLAGS}"
        ),
    );
}

/// An unknown flag is most likely a typo (`idempotant`); ignoring it would silently leave the
/// method without what its author asked for.
pub(crate) fn roam_flag_is_known(cx: &Ctxt, tokens: &dyn ToTokens, name: Option<&str>) {
    let what = match name {
        Some(name) => format!("`#[roam({name})]` is not supported"),
        None => "could not read this `#[roam(...)]` argument".to_owned(),
    };
    cx.error_spanned_by(
        tokens.to_token_stream(),
        format_args!("{what}: on a service method `#[roam(...)]` supports only {METHOD_FLAGS}"),
    );
}

/// Flags take no value: `#[roam(idempotent)]`, not `#[roam(idempotent = true)]`; a method that
/// is not idempotent leaves the flag out.
pub(crate) fn roam_flag_takes_no_value(cx: &Ctxt, flag: &str, value: &TokenStream) {
    cx.error_spanned_by(
        value,
        format_args!(
            "`{flag}` takes no value: write `#[roam({flag})]`, or leave it out for a method that is not {flag}"
        ),
    );
}

/// Saying a flag twice is a mistake (in one attribute or across several).
pub(crate) fn roam_flag_is_given_once(cx: &Ctxt, flag: &syn::Ident) {
    cx.error_spanned_by(
        flag,
        format_args!("`{flag}` is given more than once; write `#[roam({flag})]` once"),
    );
}

// ---------------------------------------------------------------------------------------------
// Syntax rules: the trait
// ---------------------------------------------------------------------------------------------

/// A generic service would have no single schema per method.
pub(crate) fn trait_has_no_generics(cx: &Ctxt, item: &syn::ItemTrait) {
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.generics,
            "service traits cannot have generic parameters: every method needs one concrete schema; use concrete types (a generic user type instantiated concretely, like `Page<Item>`, is fine)",
        );
    }
    if let Some(where_clause) = &item.generics.where_clause {
        cx.error_spanned_by(
            where_clause,
            "service traits cannot have a `where` clause; supertraits such as `trait Name: Send + Sync` are supported",
        );
    }
}

/// `unsafe` and `auto` traits have meanings a network service cannot honor.
pub(crate) fn trait_is_plain(cx: &Ctxt, item: &syn::ItemTrait) {
    if let Some(token) = &item.unsafety {
        cx.error_spanned_by(
            token,
            "service traits cannot be `unsafe`; write `trait Name { ... }`",
        );
    }
    if let Some(token) = &item.auto_token {
        cx.error_spanned_by(
            token,
            "service traits cannot be `auto`; write `trait Name { ... }`",
        );
    }
}

/// A service is a list of methods; associated types and consts have no wire form.
pub(crate) fn trait_item_is_a_method(cx: &Ctxt, item: &syn::TraitItem) {
    let message = match item {
        syn::TraitItem::Fn(_) => return,
        syn::TraitItem::Type(_) => {
            "associated types are not supported in service traits; only `async fn` methods are"
        }
        syn::TraitItem::Const(_) => {
            "associated consts are not supported in service traits; only `async fn` methods are"
        }
        syn::TraitItem::Macro(_) => {
            "macro invocations are not supported in service traits; write the `async fn` methods out"
        }
        _ => "only `async fn` methods are supported in service traits",
    };
    cx.error_spanned_by(item, message);
}

/// Supertraits are copied onto the generated trait as written; roam supports the plain ones
/// (marker traits like `Send + Sync`, and lifetimes like `'static`).
pub(crate) fn supertrait_is_plain(cx: &Ctxt, bound: &syn::TypeParamBound) -> bool {
    const SUPPORTED: &str = "supported supertraits are trait paths without generic arguments (like `Send + Sync`) and lifetimes (like `'static`)";
    match bound {
        syn::TypeParamBound::Lifetime(_) => true,
        syn::TypeParamBound::Trait(t) => {
            if matches!(t.modifier, syn::TraitBoundModifier::Maybe(_)) {
                cx.error_spanned_by(
                    bound,
                    format_args!("`?` bounds are not supported on service traits; {SUPPORTED}"),
                );
                false
            } else if t.lifetimes.is_some() {
                cx.error_spanned_by(
                    bound,
                    format_args!(
                        "higher-ranked (`for<...>`) supertraits are not supported; {SUPPORTED}"
                    ),
                );
                false
            } else if t.paren_token.is_some() {
                cx.error_spanned_by(
                    bound,
                    format_args!("parenthesized supertraits are not supported; {SUPPORTED}"),
                );
                false
            } else if let Some(seg) = t.path.segments.iter().find(|s| !s.arguments.is_none()) {
                cx.error_spanned_by(
                    &seg.arguments,
                    format_args!(
                        "supertraits with generic arguments are not supported; {SUPPORTED}"
                    ),
                );
                false
            } else {
                true
            }
        }
        _ => {
            cx.error_spanned_by(
                bound,
                format_args!("this bound is not supported on service traits; {SUPPORTED}"),
            );
            false
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax rules: methods
// ---------------------------------------------------------------------------------------------

/// Handlers are called from the network, possibly concurrently: they must be plain safe async
/// functions without an ABI. (`const` methods are not even allowed in traits.)
pub(crate) fn method_is_plain(cx: &Ctxt, sig: &syn::Signature) {
    let form = format!("write `async fn {}(&self, ...)`", sig.ident);
    if let Some(token) = &sig.constness {
        cx.error_spanned_by(
            token,
            format_args!("service methods cannot be `const`; {form}"),
        );
    }
    if let Some(token) = &sig.unsafety {
        cx.error_spanned_by(
            token,
            format_args!("service methods cannot be `unsafe`; {form}"),
        );
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(
            abi,
            format_args!("service methods cannot have an ABI (`extern`); {form}"),
        );
    }
}

/// Every call is asynchronous (it crosses a network), and the generated trait turns each
/// `async fn` into a method returning a `Send` future.
pub(crate) fn method_is_async(cx: &Ctxt, sig: &syn::Signature) {
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            sig.fn_token,
            format_args!(
                "service methods must be `async fn`: write `async fn {}(&self, ...)`",
                sig.ident
            ),
        );
    }
}

/// A method's arguments and result must have one schema, known when the trait is read.
pub(crate) fn method_has_no_generics(cx: &Ctxt, sig: &syn::Signature) {
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "generic methods are not supported: each method needs concrete argument and return types so it has one schema; use concrete types (a generic user type instantiated concretely, like `Page<Item>`, is fine)",
        );
    }
}

/// Same reason as [`method_has_no_generics`]: bounds only make sense on generic parameters.
pub(crate) fn method_has_no_where_clause(cx: &Ctxt, sig: &syn::Signature) {
    if let Some(where_clause) = &sig.generics.where_clause {
        cx.error_spanned_by(
            where_clause,
            "`where` clauses are not supported on service methods; use concrete argument and return types",
        );
    }
}

/// The wire carries a fixed argument tuple; a variable number of arguments is a `Vec<T>`.
pub(crate) fn method_has_no_variadic(cx: &Ctxt, sig: &syn::Signature) {
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(
            variadic,
            "variadic arguments (`...`) are not supported; take a `Vec<T>` argument instead",
        );
    }
}

/// The trait is the contract; the implementation goes in the server's `impl`. (The generated
/// trait rewrites each method's signature, so a body written against the `async fn` form
/// would not fit it anyway.)
pub(crate) fn method_has_no_default_body(cx: &Ctxt, method: &syn::TraitItemFn) {
    if let Some(body) = &method.default {
        cx.error_spanned_by(
            body,
            format_args!(
                "service methods cannot have a default body; declare the method (`async fn {}(&self, ...) -> T;`) and implement it in an `impl` of the trait",
                method.sig.ident
            ),
        );
    }
}

/// The dispatcher shares one handler between concurrent calls through an `Arc`, so it can only
/// lend `&self`.
pub(crate) fn receiver_is_shared_self(cx: &Ctxt, receiver: &syn::Receiver) {
    if receiver.colon_token.is_some() {
        cx.error_spanned_by(
            receiver,
            "service methods take `&self`; typed receivers (like `self: Arc<Self>`) are not supported",
        );
    } else if receiver.reference.is_none() {
        cx.error_spanned_by(
            receiver,
            "service methods take `&self`; `self` by value is not supported",
        );
    } else if receiver.mutability.is_some() {
        cx.error_spanned_by(
            receiver,
            "service methods take `&self`, not `&mut self`: one handler serves concurrent calls; keep mutable state behind interior mutability (e.g. a `Mutex`)",
        );
    } else if let Some((_, Some(lifetime))) = &receiver.reference {
        cx.error_spanned_by(
            lifetime,
            "service methods take `&self` without an explicit lifetime",
        );
    }
}

/// Same reason as [`receiver_is_shared_self`]: a method without `self` has no handler to run on.
pub(crate) fn method_has_receiver(cx: &Ctxt, sig: &syn::Signature) {
    cx.error_spanned_by(
        &sig.ident,
        format_args!(
            "service methods must take `&self` as their first parameter (`async fn {}(&self, ...)`); associated functions without `self` are not supported",
            sig.ident
        ),
    );
}

/// The receiver can only come first; Rust itself refuses anything else, but the parser does not
/// assume it.
pub(crate) fn receiver_comes_first(cx: &Ctxt, receiver: &syn::Receiver) {
    cx.error_spanned_by(receiver, "`self` must be the first parameter");
}

/// Argument names appear in descriptors and in every generated client, so they must be plain
/// names.
pub(crate) fn argument_is_a_name(cx: &Ctxt, pat: &syn::Pat) -> Option<syn::Ident> {
    match pat {
        syn::Pat::Ident(p)
            if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none() =>
        {
            Some(p.ident.clone())
        }
        syn::Pat::Ident(p)
            if p.mutability.is_some() && p.by_ref.is_none() && p.subpat.is_none() =>
        {
            cx.error_spanned_by(
                p.mutability,
                format_args!(
                    "`mut` is not supported on argument names in a service trait; write `{}: T`",
                    p.ident
                ),
            );
            None
        }
        syn::Pat::Wild(_) => {
            cx.error_spanned_by(
                pat,
                "arguments need a name (`_` is not supported): the name appears in the descriptor and in generated clients; write `name: T`",
            );
            None
        }
        _ => {
            cx.error_spanned_by(
                pat,
                "arguments must be plain names like `name: T`; patterns are not supported",
            );
            None
        }
    }
}

/// The context is not a wire argument; keeping it first keeps the wire arguments contiguous
/// and the client's signature a plain suffix of the trait's.
pub(crate) fn context_comes_first(cx: &Ctxt, param: &syn::PatType) {
    cx.error_spanned_by(
        param,
        "the call context (`cx: &roam::Context`) must be the first parameter after `&self`",
    );
}

// ---------------------------------------------------------------------------------------------
// Syntax rules: types
// ---------------------------------------------------------------------------------------------

/// A method's argument and result types are its schema; `impl Trait` names no type.
pub(crate) fn no_impl_trait(cx: &Ctxt, ty: &syn::TypeImplTrait, position: Position) {
    let message = match position {
        Position::Return => {
            "`impl Trait` return types are not supported; return a concrete type (the method is already `async`, so do not return `impl Future`)".to_string()
        }
        _ => format!(
            "`impl Trait` types are not supported: a service method needs concrete types so it has one schema; {SUPPORTED_TYPES}"
        ),
    };
    cx.error_spanned_by(ty, message);
}

/// A trait object has no fixed layout or schema to send.
pub(crate) fn no_trait_objects(cx: &Ctxt, ty: &syn::TypeTraitObject) {
    cx.error_spanned_by(
        ty,
        format_args!(
            "trait objects (`dyn Trait`) are not supported: they have no schema; {SUPPORTED_TYPES}"
        ),
    );
}

/// A pointer means nothing in another process.
pub(crate) fn no_raw_pointers(cx: &Ctxt, ty: &syn::TypePtr) {
    cx.error_spanned_by(
        ty,
        format_args!("raw pointers are not supported: a pointer means nothing in another process; {SUPPORTED_TYPES}"),
    );
}

/// Other type syntax with no wire form: function pointers, `!`, `_`, type macros, bare slices.
pub(crate) fn no_other_type_syntax(cx: &Ctxt, ty: &syn::Type) {
    let what = match ty {
        syn::Type::BareFn(_) => {
            "function pointers are not supported: a function cannot be sent to another process"
        }
        syn::Type::Never(_) => "`!` is not supported in service signatures",
        syn::Type::Infer(_) => "`_` is not supported in service signatures; write the type out",
        syn::Type::Macro(_) => {
            "type macros are not supported in service signatures; write the type out"
        }
        syn::Type::Slice(_) => {
            "unsized slices `[T]` are not supported; use `Vec<T>` (or `&[u8]` as a whole argument type)"
        }
        _ => "this type syntax is not supported in service signatures",
    };
    cx.error_spanned_by(ty, format_args!("{what}; {SUPPORTED_TYPES}"));
}

/// Arguments are decoded into owned values, except `&str` and `&[u8]`, which borrow from the
/// request payload, and only as a whole argument.
pub(crate) fn reference_is_str_or_bytes(cx: &Ctxt, ty: &syn::TypeReference, position: Position) {
    let message = match position {
        Position::Arg if ty.mutability.is_some() => {
            "mutable references are not supported: arguments are decoded from the request (only `&str` and `&[u8]` borrow from it); take the type by value, or `&str` / `&[u8]`"
        }
        Position::Arg => {
            "only `&str` and `&[u8]` can be taken by reference (plus `&roam::Context` as the first parameter); take the type by value"
        }
        Position::Return => {
            "a service method cannot return a reference; return an owned type such as `String` or `Vec<u8>`"
        }
        Position::Nested => {
            "references are only supported as a whole argument type (`name: &str`, `data: &[u8]`); inside other types use `String` or `Vec<u8>`"
        }
        Position::Field => {
            "fields of wire types cannot be references; use owned types such as `String` or `Vec<u8>`"
        }
    };
    cx.error_spanned_by(ty, message);
}

/// The data a handler borrows lives in the dispatcher's decoded arguments, whose lifetime has
/// no name; owned types need no lifetime at all.
pub(crate) fn no_explicit_lifetime(cx: &Ctxt, lifetime: &syn::Lifetime) {
    cx.error_spanned_by(
        lifetime,
        "explicit lifetimes are not supported in service signatures; write `&str` / `&[u8]` without a lifetime, and use owned types elsewhere",
    );
}

/// See [`no_explicit_lifetime`]; applies to lifetime arguments like `Cow<'a, str>`.
pub(crate) fn no_lifetime_arguments(cx: &Ctxt, lifetime: &syn::Lifetime) {
    cx.error_spanned_by(
        lifetime,
        "lifetime arguments are not supported in service types; use owned types",
    );
}

/// The schema needs the concrete element count of an array.
pub(crate) fn array_length_is_a_literal(cx: &Ctxt, len: &syn::Expr) -> Option<u64> {
    if let syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(int),
        ..
    }) = len
        && let Ok(n) = int.base10_parse::<u64>()
    {
        return Some(n);
    }
    cx.error_spanned_by(
        len,
        "array lengths must be integer literals, like `[u8; 32]`",
    );
    None
}

/// `<T as Trait>::Assoc` names a type only through a trait impl the schema cannot see.
pub(crate) fn no_qualified_paths(cx: &Ctxt, ty: &syn::TypePath) {
    cx.error_spanned_by(
        ty,
        "qualified paths (`<T as Trait>::Name`) are not supported; name the type directly",
    );
}

/// Generic arguments belong on the type itself (`a::Page<Item>`), not on its module path.
pub(crate) fn generic_arguments_are_last(cx: &Ctxt, args: &syn::PathArguments) {
    cx.error_spanned_by(
        args,
        "generic arguments are only supported on the last path segment, like `module::Page<Item>`",
    );
}

/// Only type arguments describe data; constants, associated-type bindings and `Fn(A) -> B`
/// sugar do not.
pub(crate) fn generic_argument_is_a_type(cx: &Ctxt, tokens: &dyn ToTokens) {
    cx.error_spanned_by(
        tokens.to_token_stream(),
        "only type arguments are supported in generic arguments, like `Page<Item>` or `HashMap<String, u32>`",
    );
}

/// The standard containers have fixed arity in the model; a custom hasher (`HashMap<K, V, S>`)
/// has no wire meaning.
pub(crate) fn container_arity(
    cx: &Ctxt,
    ty: &syn::TypePath,
    name: &str,
    form: &str,
    found: usize,
    expected: usize,
) -> bool {
    if found == expected {
        return true;
    }
    let message = match expected {
        0 => format!("`{name}` takes no type arguments"),
        1 => format!("`{name}` takes one type argument: `{form}`"),
        _ => format!(
            "`{name}` takes {expected} type arguments: `{form}` (custom hasher or allocator parameters are not supported)"
        ),
    };
    cx.error_spanned_by(ty, message);
    false
}

/// The error type of a fallible method is part of its contract, so a return type named
/// `Result` must spell it out.
pub(crate) fn result_has_two_arguments(cx: &Ctxt, ty: &syn::Type) {
    cx.error_spanned_by(
        ty,
        "a `Result` return type must have two type arguments, `Result<T, E>`: the error type is part of the contract, so aliases like `io::Result<T>` are not supported",
    );
}

/// Built-in names the model refuses: `usize`/`isize` change size between platforms, `str` is
/// unsized, and `Self` names the implementor, not a wire type.
pub(crate) fn not_a_refused_builtin(cx: &Ctxt, ty: &syn::TypePath) -> bool {
    let first = match ty.path.segments.first() {
        Some(seg) if ty.path.leading_colon.is_none() => seg.ident.to_string(),
        _ => return true,
    };
    let single = ty.path.segments.len() == 1;
    let message = match first.as_str() {
        "usize" | "isize" if single => format!(
            "`{first}` is not supported: its size depends on the platform; use a fixed-size integer such as `{}32` or `{}64`",
            &first[..1],
            &first[..1]
        ),
        "str" if single => {
            "`str` is unsized; use `String` (or `&str` as a whole argument type)".to_string()
        }
        "Self" => {
            "`Self` is not supported in service signatures; name the concrete type".to_string()
        }
        _ => return true,
    };
    cx.error_spanned_by(ty, message);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_combines_every_error_in_order() {
        let cx = Ctxt::new();
        cx.error_at(Span::call_site(), "first");
        cx.error_at(Span::call_site(), "second");
        assert!(cx.has_errors());
        let err = cx.check().unwrap_err();
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn check_is_ok_without_errors() {
        let cx = Ctxt::new();
        assert!(!cx.has_errors());
        assert!(cx.check().is_ok());
    }

    #[test]
    #[should_panic(expected = "dropped without calling check()")]
    fn dropping_unchecked_context_is_a_bug() {
        let _cx = Ctxt::new();
    }
}
