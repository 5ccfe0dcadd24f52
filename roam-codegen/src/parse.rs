//! From `syn` syntax to the model in [`crate::ir`].
//!
//! Owns: reading a `#[roam::service]` trait ([`service`]), user types that derive `Facet`, and
//! whole source files ([`parse_file`]); recognizing the standard types by their paths (`Vec`,
//! `std::vec::Vec`, `Option`, `HashMap`, ...), `Tx`/`Rx`, and the `&roam::Context` parameter;
//! computing method IDs through [`roam_core::method_id`] (the single source of truth).
//!
//! Must not: decide what is refused or word an error itself; every refusal goes through a rule
//! in [`crate::validate`]. Shapes the model cannot hold are reported through those rules and
//! skipped, so one pass reports every problem. Must not emit code.
//!
//! Methods carry their doc comments and `#[roam(...)]` flags: `#[roam(idempotent)]` sets
//! [`MethodDef::idempotent`]; the flag takes no value and is given once (see [`method_attrs`]).
//!
//! Names: the model keeps identifiers without their `r#` prefix (`r#type` is method `"type"`),
//! so method IDs and other languages see the plain name.
//!
//! `#[facet(...)]` on user types is read as facet 0.46's derive reads it: `rename` (a plain
//! string, taken as written), `rename_all` (applied with [`crate::case`] to the fields of a
//! struct, the variants of an enum, or the fields of a variant, unless the item has its own
//! `rename`), `default` and `skip` (a skipped field is left out of the model). The arguments
//! roam does not model are refused by a rule of [`validate`] (`facet_argument_is_supported`).

use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::case::RenameRule;
use crate::ir::{
    ArgDef, BytesRepr, ContextParam, Docs, FieldDef, FieldDefault, Fields, Literal, MapKind,
    MethodDef, Primitive, RustPath, ServiceDef, SuperTrait, SuperTraitKind, TypeDef, TypeDefKind,
    TypeKind, TypeRef, VariantDef, Visibility,
};
use crate::validate::{self, Ctxt, FacetPlace, Position};

/// Reads a service trait (without its `#[roam::service]` attribute) into the model.
///
/// Problems are reported into `cx`; the returned model then lacks the parts that could not be
/// read, and must not be emitted. Model rules are not run here: call
/// [`validate::service`] next.
pub fn service(cx: &Ctxt, item: &syn::ItemTrait) -> ServiceDef {
    validate::trait_is_plain(cx, item);
    validate::trait_has_no_generics(cx, item);
    let doc = checked_docs(cx, &item.attrs, "a service trait");
    let name = item.ident.unraw().to_string();

    let supertraits = item
        .supertraits
        .iter()
        .filter(|bound| validate::supertrait_is_plain(cx, bound))
        .filter_map(|bound| {
            let kind = match bound {
                syn::TypeParamBound::Lifetime(l) => SuperTraitKind::Lifetime(l.ident.to_string()),
                syn::TypeParamBound::Trait(t) => SuperTraitKind::Trait(rust_path(&t.path)),
                _ => return None,
            };
            Some(SuperTrait {
                kind,
                span: bound.span(),
            })
        })
        .collect();

    let mut methods = Vec::new();
    for trait_item in &item.items {
        match trait_item {
            syn::TraitItem::Fn(f) => methods.push(method(cx, &name, f)),
            other => validate::trait_item_is_a_method(cx, other),
        }
    }

    ServiceDef {
        name,
        name_span: item.ident.span(),
        vis: visibility(&item.vis),
        doc,
        supertraits,
        methods,
    }
}

/// Reads one trait method. Arguments whose type cannot be read are left out.
fn method(cx: &Ctxt, service: &str, item: &syn::TraitItemFn) -> MethodDef {
    let sig = &item.sig;
    let MethodAttrs { doc, idempotent } = method_attrs(cx, &item.attrs);
    validate::method_is_plain(cx, sig);
    validate::method_is_async(cx, sig);
    validate::method_has_no_generics(cx, sig);
    validate::method_has_no_where_clause(cx, sig);
    validate::method_has_no_variadic(cx, sig);
    validate::method_has_no_default_body(cx, item);

    let mut inputs = sig.inputs.iter().peekable();
    match inputs.peek() {
        Some(syn::FnArg::Receiver(receiver)) => {
            validate::receiver_is_shared_self(cx, receiver);
            inputs.next();
        }
        _ => validate::method_has_receiver(cx, sig),
    }

    let mut context = None;
    let mut args = Vec::new();
    for (index, input) in inputs.enumerate() {
        let param = match input {
            syn::FnArg::Receiver(receiver) => {
                validate::receiver_comes_first(cx, receiver);
                continue;
            }
            syn::FnArg::Typed(param) => param,
        };
        let doc = checked_docs(cx, &param.attrs, "arguments");
        let name = validate::argument_is_a_name(cx, &param.pat);
        if let Some((path, lifetime)) = context_param_path(&param.ty) {
            if let Some(lifetime) = lifetime {
                validate::no_explicit_lifetime(cx, lifetime);
            }
            if index == 0 {
                context = name.map(|name| ContextParam {
                    name: name.unraw().to_string(),
                    path,
                    span: param.span(),
                });
            } else {
                validate::context_comes_first(cx, param);
            }
            continue;
        }
        let ty = lower_type(cx, &param.ty, Position::Arg);
        if let (Some(name), Some(ty)) = (name, ty) {
            let doc = if doc.is_empty() { None } else { Some(doc) };
            args.push(ArgDef {
                name: name.unraw().to_string(),
                name_span: name.span(),
                ty,
                doc,
            });
        }
    }

    let (ret, error) = lower_return(cx, sig);
    let name = sig.ident.unraw().to_string();
    MethodDef {
        id: roam_core::method_id(service, &name),
        name,
        name_span: sig.ident.span(),
        doc,
        context_param: context.is_some(),
        context,
        args,
        ret,
        error,
        idempotent,
    }
}

/// What a method's attributes say.
struct MethodAttrs {
    /// The doc comment, normalized.
    doc: String,
    /// `#[roam(idempotent)]`.
    idempotent: bool,
}

/// Reads a method's doc comments and `#[roam(...)]` flags; every other attribute, and every
/// malformed, unknown or repeated flag, is reported.
///
/// `#[roam(...)]` is a parenthesized list of flags separated by commas, possibly spread over
/// several attributes (`#[roam(idempotent)]` is the only flag today). A flag is a bare name:
/// `idempotent = true` or `idempotent(...)` is refused, not read as a value.
fn method_attrs(cx: &Ctxt, attrs: &[syn::Attribute]) -> MethodAttrs {
    use proc_macro2::TokenTree;
    let mut lines = Vec::new();
    let mut idempotent = false;
    for attr in attrs {
        if let Some(text) = doc_text(attr) {
            lines.push(text);
            continue;
        }
        if !attr.path().is_ident("roam") {
            validate::method_attribute_is_supported(cx, attr);
            continue;
        }
        let list = match &attr.meta {
            syn::Meta::List(list)
                if matches!(list.delimiter, syn::MacroDelimiter::Paren(_))
                    && !list.tokens.is_empty() =>
            {
                list
            }
            _ => {
                validate::roam_attribute_is_a_list_of_flags(cx, attr);
                continue;
            }
        };
        let tokens: Vec<TokenTree> = list.tokens.clone().into_iter().collect();
        for chunk in tokens.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
            let (flag, rest) = match chunk {
                // `#[roam(idempotent,)]`: a trailing comma.
                [] => continue,
                [TokenTree::Ident(flag), rest @ ..] => (flag, rest),
                _ => {
                    let whole: proc_macro2::TokenStream = chunk.iter().cloned().collect();
                    validate::roam_flag_is_known(cx, &whole, None);
                    continue;
                }
            };
            if flag != "idempotent" {
                validate::roam_flag_is_known(cx, flag, Some(&flag.to_string()));
                continue;
            }
            if !rest.is_empty() {
                let value: proc_macro2::TokenStream = rest.iter().cloned().collect();
                validate::roam_flag_takes_no_value(cx, "idempotent", &value);
                continue;
            }
            if idempotent {
                validate::roam_flag_is_given_once(cx, flag);
            }
            idempotent = true;
        }
    }
    MethodAttrs {
        doc: Docs::normalize(&lines),
        idempotent,
    }
}

/// `&Context`, `&roam::Context`, ...: a shared reference to a path whose last segment is
/// `Context` (without generic arguments). Returns the path and any explicit lifetime.
fn context_param_path(ty: &syn::Type) -> Option<(RustPath, Option<&syn::Lifetime>)> {
    let syn::Type::Reference(reference) = strip_parens(ty) else {
        return None;
    };
    if reference.mutability.is_some() {
        return None;
    }
    let syn::Type::Path(path) = strip_parens(&reference.elem) else {
        return None;
    };
    let last = path.path.segments.last()?;
    if path.qself.is_some() || last.ident != "Context" || !last.arguments.is_none() {
        return None;
    }
    Some((rust_path(&path.path), reference.lifetime.as_ref()))
}

/// The success and error types of a method. `Result<T, E>` (any path ending in `Result`) is
/// split; no return type is [`TypeKind::Unit`]. Unreadable parts fall back to `()`.
fn lower_return(cx: &Ctxt, sig: &syn::Signature) -> (TypeRef, Option<TypeRef>) {
    let unit = |span| TypeRef {
        kind: TypeKind::Unit,
        span,
    };
    let ty = match &sig.output {
        syn::ReturnType::Default => return (unit(sig.ident.span()), None),
        syn::ReturnType::Type(_, ty) => ty.as_ref(),
    };
    if let syn::Type::Path(path) = strip_parens(ty)
        && path.qself.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Result")
    {
        let args: Vec<&syn::Type> = match path.path.segments.last().map(|s| &s.arguments) {
            Some(syn::PathArguments::AngleBracketed(a)) => a
                .args
                .iter()
                .map_while(|arg| match arg {
                    syn::GenericArgument::Type(t) => Some(t),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let arg_count = match path.path.segments.last().map(|s| &s.arguments) {
            Some(syn::PathArguments::AngleBracketed(a)) => a.args.len(),
            _ => 0,
        };
        if args.len() != 2 || arg_count != 2 {
            validate::result_has_two_arguments(cx, ty);
            return (unit(ty.span()), None);
        }
        let ok = lower_type(cx, args[0], Position::Return).unwrap_or_else(|| unit(args[0].span()));
        let err = lower_type(cx, args[1], Position::Return);
        return (ok, err);
    }
    let ret = lower_type(cx, ty, Position::Return).unwrap_or_else(|| unit(ty.span()));
    (ret, None)
}

/// `(T)` and invisible groups (from `macro_rules!` expansions) mean `T`.
fn strip_parens(ty: &syn::Type) -> &syn::Type {
    match ty {
        syn::Type::Paren(p) => strip_parens(&p.elem),
        syn::Type::Group(g) => strip_parens(&g.elem),
        other => other,
    }
}

/// Reads a type at `position`; `None` (after reporting) if it is not supported.
pub(crate) fn lower_type(cx: &Ctxt, ty: &syn::Type, position: Position) -> Option<TypeRef> {
    let span = ty.span();
    let kind = match ty {
        syn::Type::Paren(p) => return lower_type(cx, &p.elem, position),
        syn::Type::Group(g) => return lower_type(cx, &g.elem, position),
        syn::Type::Tuple(tuple) if tuple.elems.is_empty() => TypeKind::Unit,
        syn::Type::Tuple(tuple) => {
            let elems: Vec<Option<TypeRef>> = tuple
                .elems
                .iter()
                .map(|t| lower_type(cx, t, Position::Nested))
                .collect();
            TypeKind::Tuple(elems.into_iter().collect::<Option<Vec<_>>>()?)
        }
        syn::Type::Array(array) => {
            let elem = lower_type(cx, &array.elem, Position::Nested);
            let len = validate::array_length_is_a_literal(cx, &array.len);
            TypeKind::Array {
                elem: Box::new(elem?),
                len: len?,
            }
        }
        syn::Type::Reference(reference) => lower_reference(cx, reference, position)?,
        syn::Type::Path(path) => lower_path(cx, path)?,
        syn::Type::ImplTrait(t) => {
            validate::no_impl_trait(cx, t, position);
            return None;
        }
        syn::Type::TraitObject(t) => {
            validate::no_trait_objects(cx, t);
            return None;
        }
        syn::Type::Ptr(p) => {
            validate::no_raw_pointers(cx, p);
            return None;
        }
        other => {
            validate::no_other_type_syntax(cx, other);
            return None;
        }
    };
    Some(TypeRef { kind, span })
}

/// `&str` and `&[u8]` as whole arguments; everything else is refused.
fn lower_reference(
    cx: &Ctxt,
    reference: &syn::TypeReference,
    position: Position,
) -> Option<TypeKind> {
    let kind = match strip_parens(&reference.elem) {
        syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => Some(TypeKind::Str),
        syn::Type::Slice(s) if is_u8(&s.elem) => Some(TypeKind::Bytes(BytesRepr::Slice)),
        _ => None,
    };
    match kind {
        Some(kind) if position == Position::Arg && reference.mutability.is_none() => {
            if let Some(lifetime) = &reference.lifetime {
                validate::no_explicit_lifetime(cx, lifetime);
                return None;
            }
            Some(kind)
        }
        _ => {
            validate::reference_is_str_or_bytes(cx, reference, position);
            None
        }
    }
}

fn is_u8(ty: &syn::Type) -> bool {
    matches!(strip_parens(ty), syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident("u8"))
}

/// A path type: a primitive, a standard container, `Tx`/`Rx`, or a named user type.
fn lower_path(cx: &Ctxt, ty: &syn::TypePath) -> Option<TypeKind> {
    if ty.qself.is_some() {
        validate::no_qualified_paths(cx, ty);
        return None;
    }
    if !validate::not_a_refused_builtin(cx, ty) {
        return None;
    }
    let segments = &ty.path.segments;
    let mut ok = true;
    for segment in segments.iter().take(segments.len().saturating_sub(1)) {
        if !segment.arguments.is_none() {
            validate::generic_arguments_are_last(cx, &segment.arguments);
            ok = false;
        }
    }
    let mut args = Vec::new();
    match &segments.last()?.arguments {
        syn::PathArguments::None => {}
        syn::PathArguments::AngleBracketed(angle) => {
            for arg in &angle.args {
                match arg {
                    syn::GenericArgument::Type(t) => match lower_type(cx, t, Position::Nested) {
                        Some(t) => args.push(t),
                        None => ok = false,
                    },
                    syn::GenericArgument::Lifetime(l) => {
                        validate::no_lifetime_arguments(cx, l);
                        ok = false;
                    }
                    other => {
                        validate::generic_argument_is_a_type(cx, other);
                        ok = false;
                    }
                }
            }
        }
        syn::PathArguments::Parenthesized(p) => {
            validate::generic_argument_is_a_type(cx, p);
            ok = false;
        }
    }
    if !ok {
        return None;
    }

    let path = rust_path(&ty.path);
    let arity = |name: &str, form: &str, expected: usize| {
        validate::container_arity(cx, ty, name, form, args.len(), expected)
    };
    let known = |name: &str, prefixes: &[&[&str]]| is_known(&path, name, prefixes);

    if args.is_empty()
        && let Some(p) = Primitive::from_name(path.last())
        && known(p.name(), &[&["std", "primitive"], &["core", "primitive"]])
    {
        return Some(TypeKind::Primitive(p));
    }
    if known("String", &[&["std", "string"], &["alloc", "string"]]) {
        return arity("String", "String", 0).then_some(TypeKind::String { path });
    }
    if known("Vec", &[&["std", "vec"], &["alloc", "vec"]]) {
        if !arity("Vec", "Vec<T>", 1) {
            return None;
        }
        let elem = args.remove(0);
        return Some(match elem.kind {
            TypeKind::Primitive(Primitive::U8) => TypeKind::Bytes(BytesRepr::Vec(path)),
            _ => TypeKind::Vec {
                path,
                elem: Box::new(elem),
            },
        });
    }
    if known("Option", &[&["std", "option"], &["core", "option"]]) {
        return arity("Option", "Option<T>", 1).then(|| TypeKind::Option {
            path,
            inner: Box::new(args.remove(0)),
        });
    }
    if known("Box", &[&["std", "boxed"], &["alloc", "boxed"]]) {
        return arity("Box", "Box<T>", 1).then(|| TypeKind::Box {
            path,
            inner: Box::new(args.remove(0)),
        });
    }
    let map = if known(
        "HashMap",
        &[&["std", "collections"], &["std", "collections", "hash_map"]],
    ) {
        Some((MapKind::HashMap, "HashMap", "HashMap<K, V>"))
    } else if known(
        "BTreeMap",
        &[
            &["std", "collections"],
            &["alloc", "collections"],
            &["std", "collections", "btree_map"],
            &["alloc", "collections", "btree_map"],
        ],
    ) {
        Some((MapKind::BTreeMap, "BTreeMap", "BTreeMap<K, V>"))
    } else {
        None
    };
    if let Some((kind, name, form)) = map {
        if !arity(name, form, 2) {
            return None;
        }
        let value = args.remove(1);
        let key = args.remove(0);
        return Some(TypeKind::Map {
            kind,
            path,
            key: Box::new(key),
            value: Box::new(value),
        });
    }
    if known("Tx", &[&["roam"]]) {
        return arity("Tx", "Tx<T>", 1).then(|| TypeKind::Tx {
            path,
            item: Box::new(args.remove(0)),
        });
    }
    if known("Rx", &[&["roam"]]) {
        return arity("Rx", "Rx<T>", 1).then(|| TypeKind::Rx {
            path,
            item: Box::new(args.remove(0)),
        });
    }
    Some(TypeKind::Named {
        path,
        generics: args,
    })
}

/// Whether `path` names `name`: either the bare name, or the name under one of `prefixes`
/// (with or without a leading `::`).
fn is_known(path: &RustPath, name: &str, prefixes: &[&[&str]]) -> bool {
    let Some((last, prefix)) = path.segments.split_last() else {
        return false;
    };
    if last != name {
        return false;
    }
    if prefix.is_empty() {
        return !path.leading_colon;
    }
    prefixes
        .iter()
        .any(|p| p.len() == prefix.len() && p.iter().zip(prefix).all(|(a, b)| a == b))
}

/// A path's segments as written, without generic arguments.
fn rust_path(path: &syn::Path) -> RustPath {
    RustPath {
        leading_colon: path.leading_colon.is_some(),
        segments: path.segments.iter().map(|s| s.ident.to_string()).collect(),
    }
}

fn visibility(vis: &syn::Visibility) -> Visibility {
    match vis {
        syn::Visibility::Public(_) => Visibility::Public,
        syn::Visibility::Inherited => Visibility::Private,
        syn::Visibility::Restricted(r) if r.in_token.is_none() && r.path.is_ident("crate") => {
            Visibility::Crate
        }
        syn::Visibility::Restricted(r) if r.in_token.is_none() && r.path.is_ident("super") => {
            Visibility::Super
        }
        syn::Visibility::Restricted(r) if r.in_token.is_none() && r.path.is_ident("self") => {
            Visibility::Private
        }
        syn::Visibility::Restricted(r) => Visibility::In(rust_path(&r.path)),
    }
}

/// The text of a `#[doc = "..."]` attribute (what `///` desugars to), if it is one.
fn doc_text(attr: &syn::Attribute) -> Option<String> {
    match &attr.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    }
}

/// Normalized docs of a service item; every other attribute is reported (see
/// [`validate::only_doc_attributes`]).
fn checked_docs(cx: &Ctxt, attrs: &[syn::Attribute], place: &str) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        match doc_text(attr) {
            Some(text) => lines.push(text),
            None => validate::only_doc_attributes(cx, attr, place),
        }
    }
    Docs::normalize(&lines)
}

/// Normalized docs of a user type item; other attributes (`#[derive]`, `#[facet]`, `#[repr]`)
/// are not the model's business.
fn plain_docs(attrs: &[syn::Attribute]) -> String {
    Docs::normalize(&attrs.iter().filter_map(doc_text).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------------------------
// User types and files
// ---------------------------------------------------------------------------------------------

/// Whether the attributes contain a `#[derive(...)]` naming a path that ends in `Facet`.
pub fn derives_facet(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|attr| {
            attr.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .is_ok_and(|paths| {
                paths
                    .iter()
                    .any(|p| p.segments.last().is_some_and(|s| s.ident == "Facet"))
            })
        })
}

/// Whether `attr` is `#[roam::service]`, `#[::roam::service]` or `#[service]`.
pub fn is_service_attribute(attr: &syn::Attribute) -> bool {
    let path = rust_path(attr.path());
    is_known(&path, "service", &[&["roam"]])
}

/// Whether a field's attributes include `#[facet(default)]` or `#[facet(default = ...)]`
/// (possibly among other facet arguments, e.g. `#[facet(rename = "x", default)]`).
pub fn has_facet_default(attrs: &[syn::Attribute]) -> bool {
    facet_default(attrs).is_some()
}

/// A field's `#[facet(default)]` / `#[facet(default = ...)]`, with the value when it is a
/// literal (possibly negated), or the expression's text otherwise.
pub fn facet_default(attrs: &[syn::Attribute]) -> Option<FieldDefault> {
    let cx = Ctxt::new();
    let args = facet_args(&cx, attrs);
    drop(cx.into_errors());
    args.into_iter()
        .find(|a| a.ns.is_none() && a.key == "default")
        .map(|a| match a.value {
            FacetValue::Eq(value) => default_value(value),
            _ => FieldDefault::Implicit,
        })
}

/// One argument of a `#[facet(...)]` attribute: `key`, `ns::key`, `key = value` or `key(...)`.
struct FacetArg {
    ns: Option<String>,
    key: String,
    value: FacetValue,
    /// The whole argument, for diagnostics.
    tokens: proc_macro2::TokenStream,
}

enum FacetValue {
    /// `key`.
    None,
    /// `key = value`.
    Eq(proc_macro2::TokenStream),
    /// `key(...)`, or the bounds of `where ...` (not read: no argument roam models takes them).
    Args,
}

/// The arguments of every `#[facet(...)]` attribute in `attrs`, in order. Arguments are split at
/// top-level commas (nested groups are single token trees, so their commas are not seen);
/// attributes and arguments that cannot be read are reported.
fn facet_args(cx: &Ctxt, attrs: &[syn::Attribute]) -> Vec<FacetArg> {
    use proc_macro2::{Spacing, TokenTree};
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("facet")) {
        let syn::Meta::List(list) = &attr.meta else {
            validate::facet_attribute_is_a_list(cx, attr);
            continue;
        };
        let tokens: Vec<TokenTree> = list.tokens.clone().into_iter().collect();
        for chunk in tokens.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
            if chunk.is_empty() {
                continue;
            }
            let whole: proc_macro2::TokenStream = chunk.iter().cloned().collect();
            let colons = |i: usize| {
                matches!(
                    (chunk.get(i), chunk.get(i + 1)),
                    (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                        if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
                )
            };
            let (ns, key, rest) = match chunk {
                [TokenTree::Ident(ns), _, _, TokenTree::Ident(key), rest @ ..] if colons(1) => {
                    (Some(ns.to_string()), key.to_string(), rest)
                }
                [TokenTree::Ident(key), rest @ ..] => (None, key.to_string(), rest),
                _ => {
                    validate::facet_argument_is_readable(cx, &whole);
                    continue;
                }
            };
            let value = match rest {
                [] => FacetValue::None,
                [TokenTree::Punct(eq), value @ ..] if eq.as_char() == '=' && !value.is_empty() => {
                    FacetValue::Eq(value.iter().cloned().collect())
                }
                [TokenTree::Group(g)] if g.delimiter() == proc_macro2::Delimiter::Parenthesis => {
                    FacetValue::Args
                }
                _ if ns.is_none() && key == "where" => FacetValue::Args,
                _ => {
                    validate::facet_argument_is_readable(cx, &whole);
                    continue;
                }
            };
            out.push(FacetArg {
                ns,
                key,
                value,
                tokens: whole,
            });
        }
    }
    out
}

/// What an item's `#[facet(...)]` arguments say, as far as roam reads them.
#[derive(Default)]
struct FacetAttrs {
    rename: Option<String>,
    rename_all: Option<RenameRule>,
    default: Option<FieldDefault>,
    /// Set for `skip`, and for `skip_serializing` together with `skip_deserializing`.
    skip: bool,
    /// The tokens of the skip argument(s), for diagnostics.
    skip_tokens: Option<proc_macro2::TokenStream>,
    /// The tokens of a `default = ...` argument, for diagnostics.
    default_tokens: Option<proc_macro2::TokenStream>,
}

/// Reads the `#[facet(...)]` arguments of an item at `place`, reporting what roam refuses.
fn facet_attrs(cx: &Ctxt, attrs: &[syn::Attribute], place: FacetPlace) -> FacetAttrs {
    let mut out = FacetAttrs::default();
    let mut seen: Vec<String> = Vec::new();
    let mut one_sided: Vec<(String, proc_macro2::TokenStream)> = Vec::new();
    for arg in facet_args(cx, attrs) {
        if !validate::facet_argument_is_supported(
            cx,
            place,
            arg.ns.as_deref(),
            &arg.key,
            &arg.tokens,
        ) {
            continue;
        }
        // Repeating an argument roam reads is a mistake (facet keeps one of them); the others
        // (`where`, `traits`) may come several times.
        let read = matches!(
            arg.key.as_str(),
            "rename"
                | "rename_all"
                | "default"
                | "skip"
                | "skip_serializing"
                | "skip_deserializing"
        );
        if read && seen.contains(&arg.key) {
            validate::facet_argument_is_given_once(cx, &arg.key, &arg.tokens);
            continue;
        }
        seen.push(arg.key.clone());
        match (arg.key.as_str(), arg.value) {
            ("rename", FacetValue::Eq(value)) => {
                out.rename = validate::facet_name_is_a_plain_string(cx, "rename", &value);
            }
            ("rename_all", FacetValue::Eq(value)) => {
                out.rename_all = validate::rename_all_is_a_known_rule(cx, &value);
            }
            ("rename" | "rename_all", _) => validate::facet_argument_is_readable(cx, &arg.tokens),
            ("default", FacetValue::Eq(value)) => {
                out.default = Some(default_value(value));
                out.default_tokens = Some(arg.tokens);
            }
            ("default", FacetValue::None) => out.default = Some(FieldDefault::Implicit),
            ("skip", FacetValue::None) => {
                out.skip = true;
                out.skip_tokens = Some(arg.tokens);
            }
            ("skip_serializing" | "skip_deserializing", FacetValue::None) => {
                one_sided.push((arg.key, arg.tokens));
            }
            // Known not to change the wire or the schema.
            ("sensitive" | "recursive_type", FacetValue::None) => {}
            (
                "default" | "skip" | "skip_serializing" | "skip_deserializing" | "sensitive"
                | "recursive_type",
                _,
            ) => validate::facet_flag_takes_no_value(cx, &arg.key, &arg.tokens),
            // Arguments that only shape the generated `Facet` impl.
            _ => {}
        }
    }
    match one_sided.as_slice() {
        [] => {}
        [(_, a), (_, b)] => {
            out.skip = true;
            out.skip_tokens.get_or_insert_with(|| {
                let mut tokens = a.clone();
                tokens.extend(b.clone());
                tokens
            });
        }
        [(key, tokens)] if !out.skip => validate::skip_is_two_sided(cx, key, tokens),
        _ => {}
    }
    out
}

/// The name the schema carries for an item called `original` (an identifier without `r#`, or
/// a tuple field's position), when it differs: its own rename wins over the enclosing
/// `rename_all` rule, as in facet.
fn schema_rename(original: &str, own: Option<String>, rule: Option<RenameRule>) -> Option<String> {
    own.or_else(|| rule.map(|r| r.apply(original)))
        .filter(|name| name != original)
}

fn default_value(tokens: proc_macro2::TokenStream) -> FieldDefault {
    let text = tokens.to_string();
    let Ok(expr) = syn::parse2::<syn::Expr>(tokens) else {
        return FieldDefault::Expr(text);
    };
    let (negative, lit) = match &expr {
        syn::Expr::Lit(l) => (false, &l.lit),
        syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => match &*u.expr {
            syn::Expr::Lit(l) => (true, &l.lit),
            _ => return FieldDefault::Expr(text),
        },
        _ => return FieldDefault::Expr(text),
    };
    let sign = if negative { "-" } else { "" };
    let literal = match lit {
        syn::Lit::Bool(b) if !negative => Literal::Bool(b.value),
        syn::Lit::Int(i) => match i.base10_parse::<u128>() {
            Ok(v) => Literal::Int(format!("{sign}{v}")),
            Err(_) => return FieldDefault::Expr(text),
        },
        syn::Lit::Float(f) => Literal::Float(format!("{sign}{}", f.base10_digits())),
        syn::Lit::Str(s) if !negative => Literal::Str(s.value()),
        syn::Lit::Char(c) if !negative => Literal::Char(c.value()),
        _ => return FieldDefault::Expr(text),
    };
    FieldDefault::Literal(literal)
}

/// Reads a struct that derives `Facet`.
pub fn struct_def(cx: &Ctxt, item: &syn::ItemStruct) -> Option<TypeDef> {
    let attrs = facet_attrs(cx, &item.attrs, FacetPlace::Container);
    let generics = type_params(cx, &item.generics);
    let fields = fields(cx, &item.fields, attrs.rename_all);
    let name = item.ident.unraw().to_string();
    Some(TypeDef {
        rename: schema_rename(&name, attrs.rename, None),
        name,
        name_span: item.ident.span(),
        vis: visibility(&item.vis),
        doc: plain_docs(&item.attrs),
        generics: generics?,
        kind: TypeDefKind::Struct(fields?),
    })
}

/// Reads an enum that derives `Facet`.
pub fn enum_def(cx: &Ctxt, item: &syn::ItemEnum) -> Option<TypeDef> {
    let attrs = facet_attrs(cx, &item.attrs, FacetPlace::Container);
    let generics = type_params(cx, &item.generics);
    let variants: Vec<Option<VariantDef>> = item
        .variants
        .iter()
        .map(|v| {
            let own = facet_attrs(cx, &v.attrs, FacetPlace::Variant);
            let name = v.ident.unraw().to_string();
            let fields = fields(cx, &v.fields, own.rename_all);
            Some(VariantDef {
                rename: schema_rename(&name, own.rename, attrs.rename_all),
                name,
                name_span: v.ident.span(),
                doc: plain_docs(&v.attrs),
                fields: fields?,
            })
        })
        .collect();
    let name = item.ident.unraw().to_string();
    Some(TypeDef {
        rename: schema_rename(&name, attrs.rename, None),
        name,
        name_span: item.ident.span(),
        vis: visibility(&item.vis),
        doc: plain_docs(&item.attrs),
        generics: generics?,
        kind: TypeDefKind::Enum(variants.into_iter().collect::<Option<Vec<_>>>()?),
    })
}

fn type_params(cx: &Ctxt, generics: &syn::Generics) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut ok = true;
    for param in &generics.params {
        match param {
            syn::GenericParam::Type(t) => names.push(t.ident.unraw().to_string()),
            syn::GenericParam::Lifetime(l) => {
                validate::no_lifetime_arguments(cx, &l.lifetime);
                ok = false;
            }
            syn::GenericParam::Const(c) => {
                validate::generic_argument_is_a_type(cx, c);
                ok = false;
            }
        }
    }
    ok.then_some(names)
}

/// Reads the fields of a struct or variant whose `rename_all` rule is `rule`. Skipped fields are
/// left out (their types are never on the wire, so they are not read).
fn fields(cx: &Ctxt, fields: &syn::Fields, rule: Option<RenameRule>) -> Option<Fields> {
    let read = |list: &syn::punctuated::Punctuated<syn::Field, syn::Token![,]>| {
        let mut read = Vec::new();
        let mut ok = true;
        for (position, f) in list.iter().enumerate() {
            let attrs = facet_attrs(cx, &f.attrs, FacetPlace::Field);
            if let Some(tokens) = &attrs.skip_tokens {
                if attrs.default.is_none() {
                    validate::skipped_field_has_default(cx, tokens);
                }
                continue;
            }
            let name = f.ident.as_ref().map(|i| i.unraw().to_string());
            let original = name.clone().unwrap_or_else(|| position.to_string());
            let Some(ty) = lower_type(cx, &f.ty, Position::Field) else {
                ok = false;
                continue;
            };
            if let (
                Some(FieldDefault::Literal(Literal::Int(value))),
                TypeKind::Primitive(p),
                Some(tokens),
            ) = (&attrs.default, &ty.kind, &attrs.default_tokens)
            {
                validate::integer_default_fits(cx, tokens, *p, value);
            }
            read.push(FieldDef {
                rename: schema_rename(&original, attrs.rename, rule),
                name,
                position,
                name_span: f.ident.as_ref().map_or_else(|| f.ty.span(), |i| i.span()),
                ty,
                doc: plain_docs(&f.attrs),
                default: attrs.default,
            });
        }
        ok.then_some(read)
    };
    Some(match fields {
        syn::Fields::Named(named) => Fields::Named(read(&named.named)?),
        syn::Fields::Unnamed(unnamed) => Fields::Tuple(read(&unnamed.unnamed)?),
        syn::Fields::Unit => Fields::Unit,
    })
}

/// Reads every service trait (annotated `#[roam::service]` or `#[service]`) and every struct or
/// enum deriving `Facet` in a source file, including inline modules, in source order.
///
/// Runs the model rules too, so the returned errors are everything wrong with the file (syntax
/// errors, refused shapes, broken rules). Items that could not be read are left out; callers
/// must not emit anything when errors are returned.
pub fn parse_file(src: &str) -> (Vec<ServiceDef>, Vec<TypeDef>, Vec<syn::Error>) {
    let cx = Ctxt::new();
    let mut services = Vec::new();
    let mut types = Vec::new();
    match syn::parse_file(src) {
        Ok(file) => collect_items(&cx, &file.items, &mut services, &mut types),
        Err(error) => cx.push(error),
    }
    (services, types, cx.into_errors())
}

fn collect_items(
    cx: &Ctxt,
    items: &[syn::Item],
    services: &mut Vec<ServiceDef>,
    types: &mut Vec<TypeDef>,
) {
    for item in items {
        match item {
            syn::Item::Trait(t) => {
                let Some(index) = t.attrs.iter().position(is_service_attribute) else {
                    continue;
                };
                let mut t = t.clone();
                let attr = t.attrs.remove(index);
                match &attr.meta {
                    syn::Meta::Path(_) => {}
                    syn::Meta::List(list) => {
                        validate::service_attribute_has_no_arguments(cx, &list.tokens)
                    }
                    syn::Meta::NameValue(nv) => validate::service_attribute_has_no_arguments(
                        cx,
                        &quote::ToTokens::to_token_stream(&nv.value),
                    ),
                }
                let service = service(cx, &t);
                validate::service(cx, &service);
                services.push(service);
            }
            syn::Item::Struct(s) if derives_facet(&s.attrs) => {
                if let Some(def) = struct_def(cx, s) {
                    validate::type_def(cx, &def);
                    types.push(def);
                }
            }
            syn::Item::Enum(e) if derives_facet(&e.attrs) => {
                if let Some(def) = enum_def(cx, e) {
                    validate::type_def(cx, &def);
                    types.push(def);
                }
            }
            syn::Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    collect_items(cx, items, services, types);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowers `src` as an argument type: `Ok(rendering)` or `Err(messages)`.
    fn lower_at(src: &str, position: Position) -> Result<TypeRef, Vec<String>> {
        let ty: syn::Type = syn::parse_str(src).expect("test type parses");
        let cx = Ctxt::new();
        let lowered = lower_type(&cx, &ty, position);
        let errors: Vec<String> = cx.into_errors().iter().map(ToString::to_string).collect();
        match lowered {
            Some(ty) if errors.is_empty() => Ok(ty),
            _ => Err(errors),
        }
    }

    fn lower(src: &str) -> TypeRef {
        lower_at(src, Position::Arg).unwrap_or_else(|e| panic!("`{src}` should lower: {e:?}"))
    }

    fn refused(src: &str, position: Position) -> String {
        match lower_at(src, position) {
            Ok(ty) => panic!("`{src}` should be refused, got {ty:?}"),
            Err(errors) => errors.join("\n"),
        }
    }

    fn service_of(src: &str) -> (ServiceDef, Vec<String>) {
        let item: syn::ItemTrait = syn::parse_str(src).expect("test trait parses");
        let cx = Ctxt::new();
        let service = service(&cx, &item);
        validate::service(&cx, &service);
        (
            service,
            cx.into_errors().iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn primitives_lower_to_primitive() {
        for p in Primitive::ALL {
            assert!(
                matches!(lower(p.name()).kind, TypeKind::Primitive(q) if q == p),
                "{}",
                p.name()
            );
        }
        assert!(matches!(
            lower("std::primitive::u64").kind,
            TypeKind::Primitive(Primitive::U64)
        ));
        assert!(matches!(
            lower("::core::primitive::bool").kind,
            TypeKind::Primitive(Primitive::Bool)
        ));
    }

    #[test]
    fn standard_types_are_recognized_by_path_and_keep_their_spelling() {
        /// Source, expected rendering, expected shape.
        type Case = (&'static str, &'static str, fn(&TypeKind) -> bool);
        let cases: &[Case] = &[
            ("String", "String", |k| matches!(k, TypeKind::String { .. })),
            ("std::string::String", "std::string::String", |k| {
                matches!(k, TypeKind::String { .. })
            }),
            ("&str", "&str", |k| matches!(k, TypeKind::Str)),
            ("&[u8]", "&[u8]", |k| {
                matches!(k, TypeKind::Bytes(BytesRepr::Slice))
            }),
            ("Vec<u8>", "Vec<u8>", |k| {
                matches!(k, TypeKind::Bytes(BytesRepr::Vec(_)))
            }),
            ("::std::vec::Vec<u8>", "::std::vec::Vec<u8>", |k| {
                matches!(k, TypeKind::Bytes(BytesRepr::Vec(_)))
            }),
            ("Vec<u16>", "Vec<u16>", |k| {
                matches!(k, TypeKind::Vec { .. })
            }),
            ("Option<String>", "Option<String>", |k| {
                matches!(k, TypeKind::Option { .. })
            }),
            (
                "core::option::Option<i8>",
                "core::option::Option<i8>",
                |k| matches!(k, TypeKind::Option { .. }),
            ),
            ("Box<Node>", "Box<Node>", |k| {
                matches!(k, TypeKind::Box { .. })
            }),
            (
                "(i32, String)",
                "(i32, String)",
                |k| matches!(k, TypeKind::Tuple(e) if e.len() == 2),
            ),
            (
                "(i32,)",
                "(i32,)",
                |k| matches!(k, TypeKind::Tuple(e) if e.len() == 1),
            ),
            ("()", "()", |k| matches!(k, TypeKind::Unit)),
            ("[u8; 32]", "[u8; 32]", |k| {
                matches!(k, TypeKind::Array { len: 32, .. })
            }),
            ("HashMap<String, u32>", "HashMap<String, u32>", |k| {
                matches!(
                    k,
                    TypeKind::Map {
                        kind: MapKind::HashMap,
                        ..
                    }
                )
            }),
            (
                "std::collections::HashMap<u8, u8>",
                "std::collections::HashMap<u8, u8>",
                |k| {
                    matches!(
                        k,
                        TypeKind::Map {
                            kind: MapKind::HashMap,
                            ..
                        }
                    )
                },
            ),
            (
                "BTreeMap<String, Vec<u8>>",
                "BTreeMap<String, Vec<u8>>",
                |k| {
                    matches!(
                        k,
                        TypeKind::Map {
                            kind: MapKind::BTreeMap,
                            ..
                        }
                    )
                },
            ),
            ("Tx<u32>", "Tx<u32>", |k| matches!(k, TypeKind::Tx { .. })),
            ("roam::Rx<String>", "roam::Rx<String>", |k| {
                matches!(k, TypeKind::Rx { .. })
            }),
            (
                "Point",
                "Point",
                |k| matches!(k, TypeKind::Named { generics, .. } if generics.is_empty()),
            ),
            (
                "Page<Item>",
                "Page<Item>",
                |k| matches!(k, TypeKind::Named { generics, .. } if generics.len() == 1),
            ),
            (
                "my::module::Page<Item>",
                "my::module::Page<Item>",
                |k| matches!(k, TypeKind::Named { path, .. } if path.segments.len() == 3),
            ),
            // Paths the parser does not know as standard are user types, even if they end in a
            // standard name.
            (
                "collections::HashMap<u8, u8>",
                "collections::HashMap<u8, u8>",
                |k| matches!(k, TypeKind::Named { .. }),
            ),
            ("other::Tx<u8>", "other::Tx<u8>", |k| {
                matches!(k, TypeKind::Named { .. })
            }),
            // Parentheses are only grouping.
            ("(u32)", "u32", |k| {
                matches!(k, TypeKind::Primitive(Primitive::U32))
            }),
        ];
        for (src, rendered, check) in cases {
            let ty = lower(src);
            assert!(check(&ty.kind), "`{src}` lowered to {:?}", ty.kind);
            assert_eq!(ty.to_string(), *rendered, "rendering of `{src}`");
        }
    }

    #[test]
    fn rendering_normalizes_spacing() {
        assert_eq!(
            lower("HashMap < String , Vec < u8 > >").to_string(),
            "HashMap<String, Vec<u8>>"
        );
        assert_eq!(lower("& str").to_string(), "&str");
        assert_eq!(lower("[ u8 ; 4 ]").to_string(), "[u8; 4]");
    }

    #[test]
    fn references_are_only_str_or_bytes_as_whole_arguments() {
        assert!(refused("&String", Position::Arg).contains("only `&str` and `&[u8]`"));
        assert!(refused("&mut str", Position::Arg).contains("mutable references"));
        assert!(refused("&'a str", Position::Arg).contains("explicit lifetimes"));
        assert!(refused("&str", Position::Return).contains("cannot return a reference"));
        assert!(refused("Vec<&str>", Position::Arg).contains("only supported as a whole argument"));
        assert!(refused("&[u8]", Position::Field).contains("fields of wire types"));
        assert!(refused("&[u16]", Position::Arg).contains("only `&str` and `&[u8]`"));
    }

    #[test]
    fn unsupported_type_syntax_is_refused_with_what_is_supported() {
        for (src, needle) in [
            ("impl Fn()", "`impl Trait` types are not supported"),
            ("Box<dyn Send>", "trait objects"),
            ("*const u8", "raw pointers"),
            ("fn(u8) -> u8", "function pointers"),
            ("!", "`!` is not supported"),
            ("_", "`_` is not supported"),
            ("m!()", "type macros"),
            ("[u8]", "unsized slices"),
            ("<T as Trait>::Out", "qualified paths"),
            ("Page<3>", "only type arguments"),
            ("Iter<Item = u8>", "only type arguments"),
            ("Cow<'static, str>", "lifetime arguments"),
            ("a<T>::B", "last path segment"),
            ("[u8; N]", "integer literals"),
            (
                "usize",
                "`usize` is not supported: its size depends on the platform; use a fixed-size integer such as `u32` or `u64`",
            ),
            ("isize", "`i32` or `i64`"),
            ("Self", "`Self` is not supported"),
            ("Self::Item", "`Self` is not supported"),
            (
                "HashMap<String, u8, MyHasher>",
                "`HashMap` takes 2 type arguments: `HashMap<K, V>`",
            ),
            ("Vec", "`Vec` takes one type argument: `Vec<T>`"),
            ("String<u8>", "`String` takes no type arguments"),
        ] {
            let message = refused(src, Position::Arg);
            assert!(message.contains(needle), "`{src}`: {message}");
        }
        assert!(refused("impl Sized", Position::Return).contains("return a concrete type"));
        for src in ["impl Fn()", "Box<dyn Send>", "*const u8"] {
            assert!(
                refused(src, Position::Arg).contains("supported types are primitives"),
                "{src}"
            );
        }
    }

    #[test]
    fn every_nested_error_is_reported() {
        let errors = lower_at("(impl Send, *mut u8, usize)", Position::Arg).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn a_service_reads_into_the_model() {
        let (service, errors) = service_of(
            r#"
            /// A calculator.
            ///
            /// It calculates.
            pub(crate) trait Calculator: Send + Sync + 'static {
                /// Adds two numbers.
                async fn add(&self, a: i32, b: i32) -> i32;
                async fn divide(&self, a: i32, b: i32) -> Result<i32, MathError>;
                async fn greet(&self, cx: &roam::Context, /** Who to greet. */ name: &str) -> String;
                async fn ping(&self);
                async fn r#type(&self, r#in: u8) -> std::result::Result<(), ()>;
            }
            "#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(service.name, "Calculator");
        assert_eq!(service.vis, Visibility::Crate);
        assert_eq!(service.doc, "A calculator.\n\nIt calculates.");
        let supers: Vec<String> = service
            .supertraits
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(supers, ["Send", "Sync", "'static"]);
        let names: Vec<&str> = service.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["add", "divide", "greet", "ping", "type"]);

        let add = &service.methods[0];
        assert_eq!(add.id, roam_core::method_id("Calculator", "add"));
        assert_eq!(add.doc, "Adds two numbers.");
        assert!(!add.context_param);
        assert_eq!(
            add.args.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(add.ret.to_string(), "i32");
        assert!(add.error.is_none());

        let divide = &service.methods[1];
        assert_eq!(divide.ret.to_string(), "i32");
        assert_eq!(
            divide.error.as_ref().map(ToString::to_string).as_deref(),
            Some("MathError")
        );

        let greet = &service.methods[2];
        assert!(greet.context_param);
        let context = greet.context.as_ref().expect("context param");
        assert_eq!(
            (context.name.as_str(), context.path.to_string().as_str()),
            ("cx", "roam::Context")
        );
        assert_eq!(greet.args.len(), 1);
        assert_eq!(greet.args[0].ty.to_string(), "&str");
        assert_eq!(greet.args[0].doc.as_deref(), Some("Who to greet."));

        let ping = &service.methods[3];
        assert!(matches!(ping.ret.kind, TypeKind::Unit) && ping.args.is_empty());

        let raw = &service.methods[4];
        assert_eq!(raw.id, roam_core::method_id("Calculator", "type"));
        assert_eq!(raw.args[0].name, "in");
        assert!(matches!(raw.ret.kind, TypeKind::Unit));
        assert!(matches!(
            raw.error.as_ref().map(|e| &e.kind),
            Some(TypeKind::Unit)
        ));
    }

    #[test]
    fn idempotent_is_read_from_the_roam_attribute() {
        let (service, errors) = service_of(
            r#"
            trait Store {
                /// Reads a key.
                #[roam(idempotent)]
                /// Never writes.
                async fn get(&self, key: String) -> Option<String>;
                #[roam(idempotent,)]
                async fn head(&self, key: String) -> bool;
                async fn append(&self, key: String, value: String);
            }
            "#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let flags: Vec<(&str, bool)> = service
            .methods
            .iter()
            .map(|m| (m.name.as_str(), m.idempotent))
            .collect();
        assert_eq!(flags, [("get", true), ("head", true), ("append", false)]);
        // Docs around the attribute are joined as if it were not there.
        assert_eq!(service.methods[0].doc, "Reads a key.\nNever writes.");
        assert_eq!(
            service.methods[0].doc_with_notes(),
            format!(
                "Reads a key.\nNever writes.\n\n{}",
                MethodDef::IDEMPOTENT_DOC
            )
        );
        assert_eq!(
            service.methods[1].doc_with_notes(),
            MethodDef::IDEMPOTENT_DOC
        );
        assert_eq!(service.methods[2].doc_with_notes(), "");
    }

    #[test]
    fn malformed_roam_attributes_are_refused() {
        for (attr, needle) in [
            ("#[roam(retry)]", "`#[roam(retry)]` is not supported"),
            (
                "#[roam(Idempotent)]",
                "`#[roam(Idempotent)]` is not supported",
            ),
            (
                "#[roam(\"idempotent\")]",
                "could not read this `#[roam(...)]` argument",
            ),
            ("#[roam(idempotent = true)]", "`idempotent` takes no value"),
            ("#[roam(idempotent(true))]", "`idempotent` takes no value"),
            ("#[roam(idempotent, idempotent)]", "given more than once"),
            (
                "#[roam(idempotent)] #[roam(idempotent)]",
                "given more than once",
            ),
            ("#[roam]", "takes flags in parentheses"),
            ("#[roam()]", "takes flags in parentheses"),
            ("#[roam = \"idempotent\"]", "takes flags in parentheses"),
            ("#[roam[idempotent]]", "takes flags in parentheses"),
            (
                "#[deprecated]",
                "only doc comments (`/// ...`) and `#[roam(idempotent)]` are supported on service methods",
            ),
        ] {
            let (_, errors) = service_of(&format!("trait S {{ {attr} async fn f(&self); }}"));
            assert_eq!(errors.len(), 1, "{attr}: {errors:?}");
            assert!(errors[0].contains(needle), "{attr}: {errors:?}");
            assert!(
                errors[0].contains("`#[roam(idempotent)]`"),
                "{attr}: the message says what is allowed: {errors:?}"
            );
        }
        for src in [
            "#[roam(idempotent)] trait S { async fn f(&self); }",
            "trait S { async fn f(&self, #[roam(idempotent)] a: u8); }",
        ] {
            let (_, errors) = service_of(src);
            assert_eq!(errors.len(), 1, "{src}: {errors:?}");
            assert!(
                errors[0].contains("it goes on a service method, like `#[roam(idempotent)]`"),
                "{src}: {errors:?}"
            );
        }
    }

    #[test]
    fn visibility_forms() {
        for (src, vis, shown) in [
            ("trait A {}", Visibility::Private, ""),
            ("pub trait A {}", Visibility::Public, "pub"),
            ("pub(crate) trait A {}", Visibility::Crate, "pub(crate)"),
            ("pub(super) trait A {}", Visibility::Super, "pub(super)"),
            ("pub(self) trait A {}", Visibility::Private, ""),
            (
                "pub(in crate::x) trait A {}",
                Visibility::In(RustPath::new(["crate", "x"])),
                "pub(in crate::x)",
            ),
        ] {
            let (service, errors) = service_of(src);
            assert!(errors.is_empty());
            assert_eq!(service.vis, vis, "{src}");
            assert_eq!(service.vis.to_string(), shown);
        }
    }

    #[test]
    fn a_context_param_anywhere_but_first_is_refused() {
        let (service, errors) = service_of("trait S { async fn f(&self, a: u8, cx: &Context); }");
        assert_eq!(
            errors,
            ["the call context (`cx: &roam::Context`) must be the first parameter after `&self`"]
        );
        assert!(!service.methods[0].context_param);
        // By-value `Context` is an ordinary (user) type.
        let (service, errors) = service_of("trait S { async fn f(&self, c: Context); }");
        assert!(errors.is_empty());
        assert!(matches!(
            service.methods[0].args[0].ty.kind,
            TypeKind::Named { .. }
        ));
    }

    #[test]
    fn result_needs_both_arguments() {
        let (_, errors) = service_of("trait S { async fn f(&self) -> io::Result<u8>; }");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("`Result<T, E>`"), "{errors:?}");
        // Nested `Result`s are ordinary values.
        let (service, errors) =
            service_of("trait S { async fn f(&self) -> Option<Result<u8, String>>; }");
        assert!(errors.is_empty());
        assert!(service.methods[0].error.is_none());
    }

    #[test]
    fn model_rules_run_over_the_parsed_service() {
        let (_, errors) = service_of(
            "trait S {
                async fn new(&self);
                async fn a(&self);
                async fn a(&self);
                async fn nested(&self, x: Vec<Tx<u8>>);
                async fn returned(&self) -> Rx<u8>;
                async fn fallible(&self) -> Result<(), Tx<u8>>;
                async fn fine(&self, tx: Tx<u8>, rx: roam::Rx<String>);
            }",
        );
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors[0].contains("collide with the generated `SClient::new`"));
        assert!(errors[1].contains("duplicate method `a`"));
        assert!(errors[2].contains("only supported as a whole argument type"));
        assert!(errors[3].contains("not supported in return types"));
        assert!(errors[4].contains("not supported in return types"));
    }

    #[test]
    fn parse_file_finds_services_and_facet_types() {
        let (services, types, errors) = parse_file(
            r#"
            use facet::Facet;

            /// A point.
            #[derive(Debug, Facet)]
            pub struct Point { /// X.
                pub x: i32, pub y: i32 }

            #[derive(facet::Facet)]
            #[repr(u8)]
            pub enum Shape { Empty, Circle(Point, u32), Rect { min: Point, max: Point } }

            #[derive(Facet)]
            pub struct Page<T> { pub items: Vec<T>, pub next: Option<String> }

            #[derive(Facet)]
            pub struct Unit;

            #[derive(Debug)]
            pub struct NotFacet(u8);

            pub mod inner {
                #[roam::service]
                pub trait Drawing { async fn draw(&self, shape: Shape) -> Page<Point>; }
            }

            #[service]
            trait Other { async fn ping(&self); }

            trait NotAService { fn x(&self); }
            "#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["Drawing", "Other"]
        );
        assert_eq!(
            types.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["Point", "Shape", "Page", "Unit"]
        );
        assert_eq!(types[0].doc, "A point.");
        match &types[0].kind {
            TypeDefKind::Struct(Fields::Named(fields)) => {
                assert_eq!(fields[0].name.as_deref(), Some("x"));
                assert_eq!(fields[0].doc, "X.");
            }
            other => panic!("{other:?}"),
        }
        match &types[1].kind {
            TypeDefKind::Enum(variants) => {
                assert!(matches!(variants[0].fields, Fields::Unit));
                assert!(matches!(&variants[1].fields, Fields::Tuple(f) if f.len() == 2));
                assert!(matches!(&variants[2].fields, Fields::Named(f) if f.len() == 2));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(types[2].generics, ["T"]);
        assert!(matches!(types[3].kind, TypeDefKind::Struct(Fields::Unit)));
        assert_eq!(services[0].methods[0].ret.to_string(), "Page<Point>");
    }

    #[test]
    fn parse_file_reports_every_error() {
        let (services, types, errors) = parse_file(
            r#"
            #[derive(Facet)]
            pub struct Borrowed<'a> { s: &'a str }
            #[derive(Facet)]
            pub struct HasChannel { tx: Tx<u8> }
            #[roam::service(fast)]
            trait S { fn f(&mut self); }
            "#,
        );
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 6, "{messages:#?}");
        assert!(messages[0].contains("lifetime arguments"));
        assert!(messages[1].contains("fields of wire types cannot be references"));
        assert!(messages[2].contains("cannot be fields of a wire type"));
        assert!(messages[3].contains("takes no arguments"));
        assert!(messages[4].contains("must be `async fn`"));
        assert!(messages[5].contains("not `&mut self`"));
        assert_eq!(services.len(), 1);
        assert_eq!(types.len(), 1);

        let (_, _, errors) = parse_file("fn broken( {");
        assert_eq!(errors.len(), 1);
    }
}
