//! The Rust emitter behind `#[roam::service]`.
//!
//! Owns: turning a validated [`ServiceDef`] into the items described in
//! `docs/generated-code.md` (the contract with `roam-runtime`): the rewritten trait, the
//! `<SERVICE>_DESCRIPTOR` static, the `<Service>Client` and the `<Service>Dispatcher<H>`.
//!
//! Channel arguments (`Tx<T>`/`Rx<T>`) are not part of the payload: the client hands them to
//! `Connection::call_with_channels` as `ChannelArg`s in argument order, and the dispatcher
//! takes the `i`-th one back with `__private::take_tx`/`take_rx`.
//!
//! Must not: read `syn` syntax or decide what roam refuses (that is [`crate::validate`]).
//! Generated code names the runtime only as `::roam` and uses only the items listed in the
//! contract.
//!
//! Spans: user types and names keep their source spans, so a missing `Facet` impl or a type
//! error points at the user's token. Local variables of generated bodies use
//! `Span::mixed_site()`, so they cannot clash with anything the user names.

use std::collections::HashSet;

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{quote, quote_spanned};

use crate::ir::{
    BytesRepr, MethodDef, RustPath, ServiceDef, SuperTraitKind, TypeKind, TypeRef, Visibility,
    with_idempotent_note,
};

/// Emits every item for `service`, which must have passed [`crate::validate::service`].
pub fn emit(service: &ServiceDef) -> TokenStream {
    let names = Names::new(service);
    let service_trait = emit_trait(service);
    let facet_checks = emit_facet_checks(service);
    let descriptor = emit_descriptor(service, &names);
    let client = emit_client(service, &names);
    let dispatcher = emit_dispatcher(service, &names);
    quote! {
        #service_trait
        #facet_checks
        #descriptor
        #client
        #dispatcher
    }
}

/// One never-run use of `ok_response::<T>` per distinct named type in the service, spanned on
/// that type: a type that does not derive `Facet` is then reported at the user's token (first),
/// rather than only as a tuple of arguments at the attribute.
fn emit_facet_checks(service: &ServiceDef) -> TokenStream {
    let mut seen = HashSet::new();
    let mut checks = Vec::new();
    for method in &service.methods {
        let types = method
            .args
            .iter()
            .map(|a| &a.ty)
            .chain([&method.ret])
            .chain(&method.error);
        for ty in types {
            ty.walk(&mut |t, _| {
                if matches!(t.kind, TypeKind::Named { .. }) && seen.insert(t.to_string()) {
                    let tokens = ty_tokens(t);
                    checks.push(
                        quote_spanned!(t.span=> let _ = ::roam::__private::ok_response::<#tokens>;),
                    );
                }
            });
        }
    }
    if checks.is_empty() {
        return TokenStream::new();
    }
    quote! {
        const _: () = {
            #(#checks)*
        };
    }
}

/// The names of the generated items.
struct Names {
    service: Ident,
    descriptor: Ident,
    client: Ident,
    dispatcher: Ident,
    /// The dispatcher's type parameter: `H`, unless the service itself uses a type named `H`.
    handler_ty: Ident,
    /// `#[allow(dead_code)]` for services that are not `pub`, whose client or dispatcher the
    /// crate may not use.
    allow_unused: TokenStream,
}

impl Names {
    fn new(service: &ServiceDef) -> Self {
        let span = service.name_span;
        let mut uses_h = service.name == "H";
        for method in &service.methods {
            let types = method
                .args
                .iter()
                .map(|a| &a.ty)
                .chain([&method.ret])
                .chain(&method.error);
            for ty in types {
                ty.walk(&mut |t, _| {
                    if let TypeKind::Named { path, .. } = &t.kind {
                        uses_h |= path.is_ident("H");
                    }
                });
            }
        }
        Names {
            service: ident(&service.name, span),
            descriptor: Ident::new(
                &format!("{}_DESCRIPTOR", screaming_snake(&service.name)),
                span,
            ),
            client: Ident::new(&format!("{}Client", service.name), span),
            dispatcher: Ident::new(&format!("{}Dispatcher", service.name), span),
            handler_ty: Ident::new(if uses_h { "__H" } else { "H" }, Span::call_site()),
            allow_unused: match service.vis {
                Visibility::Public => TokenStream::new(),
                _ => quote!(#[allow(dead_code)]),
            },
        }
    }
}

/// The trait as the user wrote it, with each `async fn` turned into a method returning a
/// `Send` future. Attributes other than docs are not carried over: `#[roam(...)]` flags are
/// only this macro's business (an idempotent method's docs say it is).
fn emit_trait(service: &ServiceDef) -> TokenStream {
    let doc = doc_attrs(&service.doc);
    let vis = vis_tokens(&service.vis);
    let name = ident(&service.name, service.name_span);
    let supertraits = if service.supertraits.is_empty() {
        TokenStream::new()
    } else {
        let bounds = service.supertraits.iter().map(|bound| match &bound.kind {
            SuperTraitKind::Trait(path) => path_tokens(path, bound.span),
            SuperTraitKind::Lifetime(name) => {
                let lifetime = syn::Lifetime::new(&format!("'{name}"), bound.span);
                quote!(#lifetime)
            }
        });
        quote!(: #(#bounds)+*)
    };
    let methods = service.methods.iter().map(|method| {
        let doc = doc_attrs(&method.doc_with_notes());
        let name = ident(&method.name, method.name_span);
        let context = method.context.as_ref().map(|cx| {
            let name = ident(&cx.name, cx.span);
            let path = path_tokens(&cx.path, cx.span);
            quote_spanned!(cx.span=> #name: &#path,)
        });
        let args = method.args.iter().map(|arg| {
            let name = ident(&arg.name, arg.name_span);
            let ty = ty_tokens(&arg.ty);
            quote!(#name: #ty)
        });
        let output = output_tokens(method);
        quote! {
            #doc
            fn #name(&self, #context #(#args),*)
                -> impl ::core::future::Future<Output = #output> + ::core::marker::Send;
        }
    });
    quote! {
        #doc
        #vis trait #name #supertraits {
            #(#methods)*
        }
    }
}

/// `<SERVICE>_DESCRIPTOR`: names, docs, IDs and types as written, and each method's
/// `#[roam(idempotent)]` flag. Its `doc` is the method's own doc comment, without the notes
/// the generated rustdoc adds.
fn emit_descriptor(service: &ServiceDef, names: &Names) -> TokenStream {
    let Names {
        descriptor,
        allow_unused,
        ..
    } = names;
    let vis = vis_tokens(&service.vis);
    let item_doc = doc_attrs(&format!("Descriptor of the [`{}`] service.", names.service));
    let service_name = &service.name;
    let service_doc = &service.doc;
    let methods = service.methods.iter().map(|method| {
        let name = &method.name;
        let doc = &method.doc;
        let id = id_literal(method.id, false);
        let args = method.args.iter().map(|arg| {
            let name = &arg.name;
            let ty = arg.ty.to_string();
            quote!(::roam::ArgDescriptor { name: #name, ty: #ty })
        });
        let returns = method.ret.to_string();
        let error = match &method.error {
            Some(error) => {
                let error = error.to_string();
                quote!(::core::option::Option::Some(#error))
            }
            None => quote!(::core::option::Option::None),
        };
        let idempotent = method.idempotent;
        quote! {
            ::roam::MethodDescriptor {
                name: #name,
                doc: #doc,
                id: #id,
                args: &[#(#args),*],
                returns: #returns,
                error: #error,
                idempotent: #idempotent,
            }
        }
    });
    quote! {
        #item_doc
        #allow_unused
        #vis static #descriptor: ::roam::ServiceDescriptor = ::roam::ServiceDescriptor {
            name: #service_name,
            doc: #service_doc,
            methods: &[#(#methods),*],
        };
    }
}

/// `<Service>Client`: one method per service method, returning a `::roam::Call`.
fn emit_client(service: &ServiceDef, names: &Names) -> TokenStream {
    let Names {
        descriptor,
        client,
        allow_unused,
        ..
    } = names;
    let vis = vis_tokens(&service.vis);
    let item_doc = doc_attrs(&format!("Typed client for [`{}`].", names.service));
    let new_doc = doc_attrs(&format!(
        "Creates a client that calls `{}` methods over `conn`.",
        names.service
    ));
    let methods = service.methods.iter().enumerate().map(|(index, method)| {
        let doc = if method.doc.is_empty() {
            format!(
                "Calls [`{}::{}`].",
                names.service,
                ident(&method.name, method.name_span)
            )
        } else {
            method.doc.clone()
        };
        let doc = doc_attrs(&with_idempotent_note(&doc, method.idempotent));
        let name = ident(&method.name, method.name_span);
        let params = method.args.iter().map(|arg| {
            let name = ident(&arg.name, arg.name_span);
            let ty = ty_tokens(&arg.ty);
            quote!(#name: #ty)
        });
        let wire_args = method
            .args
            .iter()
            .filter(|arg| !arg.ty.is_channel())
            .map(|arg| ident(&arg.name, arg.name_span));
        let channel_args: Vec<Ident> = method
            .args
            .iter()
            .filter(|arg| arg.ty.is_channel())
            .map(|arg| ident(&arg.name, arg.name_span))
            .collect();
        let (ok, error) = call_types(method);
        let index = Literal::usize_unsuffixed(index);
        let call = if channel_args.is_empty() {
            quote!(self.conn.call(&#descriptor.methods[#index], &(#(#wire_args,)*)))
        } else {
            quote! {
                self.conn.call_with_channels(
                    &#descriptor.methods[#index],
                    &(#(#wire_args,)*),
                    ::std::vec::Vec::from([#(::core::convert::Into::<::roam::ChannelArg>::into(#channel_args)),*]),
                )
            }
        };
        quote! {
            #doc
            pub fn #name(&self, #(#params),*) -> ::roam::Call<#ok, #error> {
                #call
            }
        }
    });
    quote! {
        #item_doc
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #allow_unused
        #vis struct #client {
            conn: ::roam::Connection,
        }

        #allow_unused
        impl #client {
            #new_doc
            pub fn new(conn: ::roam::Connection) -> Self {
                Self { conn }
            }

            /// The connection this client calls over.
            pub fn connection(&self) -> &::roam::Connection {
                &self.conn
            }

            #(#methods)*
        }
    }
}

/// `<Service>Dispatcher<H>`: decodes arguments, calls the handler, encodes the response.
fn emit_dispatcher(service: &ServiceDef, names: &Names) -> TokenStream {
    let Names {
        service: service_trait,
        descriptor,
        dispatcher,
        handler_ty: h,
        allow_unused,
        ..
    } = names;
    let vis = vis_tokens(&service.vis);
    let item_doc = doc_attrs(&format!(
        "Serves a [`{}`] implementation: give it to the runtime as a `roam::Dispatch`.",
        names.service
    ));
    let locals = Locals::new();
    let Locals {
        handler,
        cx,
        payload,
        method_id,
        ..
    } = &locals;
    let arms = service
        .methods
        .iter()
        .map(|method| dispatch_arm(method, names, &locals));
    let body = if service.methods.is_empty() {
        quote! {
            let _ = (#cx, #payload);
            ::roam::__private::unknown_method()
        }
    } else {
        quote! {
            let #handler = ::std::sync::Arc::clone(&self.handler);
            let #method_id = #cx.method_id();
            match #method_id {
                #(#arms)*
                _ => ::roam::__private::unknown_method(),
            }
        }
    };
    quote! {
        #item_doc
        #allow_unused
        #vis struct #dispatcher<#h> {
            handler: ::std::sync::Arc<#h>,
        }

        #allow_unused
        impl<#h> #dispatcher<#h> {
            /// Serves `handler`.
            pub fn new(handler: #h) -> Self {
                Self { handler: ::std::sync::Arc::new(handler) }
            }

            /// Serves a handler that is already shared.
            pub fn from_arc(handler: ::std::sync::Arc<#h>) -> Self {
                Self { handler }
            }
        }

        #[automatically_derived]
        impl<#h> ::core::clone::Clone for #dispatcher<#h> {
            fn clone(&self) -> Self {
                Self { handler: ::std::sync::Arc::clone(&self.handler) }
            }
        }

        #[automatically_derived]
        impl<#h: #service_trait + ::core::marker::Send + ::core::marker::Sync + 'static> ::roam::Dispatch
            for #dispatcher<#h>
        {
            fn descriptor(&self) -> &'static ::roam::ServiceDescriptor {
                &#descriptor
            }

            fn dispatch(
                &self,
                #cx: ::roam::Context,
                #payload: ::roam::Bytes,
            ) -> ::roam::BoxFuture<'static, ::std::vec::Vec<u8>> {
                #body
            }
        }
    }
}

/// Hygienic names of the dispatcher's local variables.
struct Locals {
    handler: Ident,
    cx: Ident,
    payload: Ident,
    method_id: Ident,
    value: Ident,
    response: Ident,
}

impl Locals {
    fn new() -> Self {
        let local = |name: &str| Ident::new(name, Span::mixed_site());
        Locals {
            handler: local("handler"),
            cx: local("cx"),
            payload: local("payload"),
            method_id: local("method_id"),
            value: local("value"),
            response: local("response"),
        }
    }

    fn arg(index: usize) -> Ident {
        Ident::new(&format!("arg{index}"), Span::mixed_site())
    }
}

/// One `match` arm of `dispatch`. The wire arguments are decoded as one tuple; a `&str` or
/// `&[u8]` argument is a slice of the request's payload (no copy), which then stays alive
/// until the handler returns; a method without such arguments lets go of the payload before
/// its handler runs. Each channel argument is taken from the context by its index among the
/// channel arguments. The handler is called through its trait so no other method of the same
/// name can be picked.
fn dispatch_arm(method: &MethodDef, names: &Names, locals: &Locals) -> TokenStream {
    let Locals {
        handler,
        cx,
        payload,
        value,
        response,
        ..
    } = locals;
    let Names {
        service: service_trait,
        handler_ty: h,
        ..
    } = names;
    let id = id_literal(method.id, true);
    let bindings: Vec<Ident> = (0..method.args.len()).map(Locals::arg).collect();

    let wire = method
        .args
        .iter()
        .zip(&bindings)
        .filter(|(arg, _)| !arg.ty.is_channel());
    let wire_bindings = wire.clone().map(|(_, binding)| binding);
    let borrows = method.args.iter().any(|arg| {
        matches!(
            arg.ty.kind,
            TypeKind::Str | TypeKind::Bytes(BytesRepr::Slice)
        )
    });
    let decoded = wire.map(|(arg, _)| ty_tokens(&arg.ty));
    // Without borrowed arguments, let go of the frame the arguments came in (the payload is a
    // view of it) before the handler runs.
    let release_payload = (!borrows).then(|| quote!(::core::mem::drop(#payload);));
    let channels = method
        .args
        .iter()
        .zip(&bindings)
        .filter_map(|(arg, binding)| match &arg.ty.kind {
            TypeKind::Tx { item, .. } => Some((quote!(take_tx), quote!(Tx), item, binding)),
            TypeKind::Rx { item, .. } => Some((quote!(take_rx), quote!(Rx), item, binding)),
            _ => None,
        });
    // A handler that writes items announces its channel signature first, so a caller whose
    // item types differ compatibly can translate them.
    let writes_items = method
        .args
        .iter()
        .any(|arg| matches!(arg.ty.kind, TypeKind::Tx { .. }));
    let announce = writes_items.then(|| {
        let signature = channels.clone().map(|(_, direction, item, _)| {
            let item = ty_tokens(item);
            quote! {
                (
                    ::roam::__private::ChannelDirection::#direction,
                    <#item as ::roam::facet::Facet<'static>>::SHAPE,
                )
            }
        });
        quote! { ::roam::__private::announce_channels(&#cx, &[#(#signature),*]); }
    });
    let take_channels = channels
        .enumerate()
        .map(|(index, (take, _, item, binding))| {
            let item = ty_tokens(item);
            let index = Literal::usize_unsuffixed(index);
            quote! {
                let #binding = match ::roam::__private::#take::<#item>(&#cx, #index) {
                    ::core::result::Result::Ok(#value) => #value,
                    ::core::result::Result::Err(#response) => return #response,
                };
            }
        });

    let passed = &bindings;
    let context = method.context.as_ref().map(|_| quote!(&#cx,));
    let name = ident(&method.name, method.name_span);
    let respond = if method.error.is_some() {
        quote!(::roam::__private::result_response)
    } else {
        quote!(::roam::__private::ok_response)
    };
    quote! {
        #id => ::std::boxed::Box::pin(async move {
            let (#(#wire_bindings,)*) = match ::roam::__private::decode_args::<(#(#decoded,)*)>(&#cx, &#payload) {
                ::core::result::Result::Ok(#value) => #value,
                ::core::result::Result::Err(#response) => return #response,
            };
            #release_payload
            #announce
            #(#take_channels)*
            #respond(&#cx, &<#h as #service_trait>::#name(&*#handler, #context #(#passed),*).await)
        }),
    }
}

/// The future's output type as the handler returns it.
fn output_tokens(method: &MethodDef) -> TokenStream {
    let ok = ty_tokens(&method.ret);
    match &method.error {
        Some(error) => {
            let error = ty_tokens(error);
            quote!(::core::result::Result<#ok, #error>)
        }
        None => ok,
    }
}

/// `T` and `E` of the client's `::roam::Call<T, E>` (`E` is `Infallible` for infallible
/// methods).
fn call_types(method: &MethodDef) -> (TokenStream, TokenStream) {
    let ok = ty_tokens(&method.ret);
    let error = match &method.error {
        Some(error) => ty_tokens(error),
        None => quote!(::core::convert::Infallible),
    };
    (ok, error)
}

/// The type as written, with the user's spans.
fn ty_tokens(ty: &TypeRef) -> TokenStream {
    let span = ty.span;
    match &ty.kind {
        TypeKind::Unit => quote_spanned!(span=> ()),
        TypeKind::Primitive(p) => {
            let name = Ident::new(p.name(), span);
            quote!(#name)
        }
        TypeKind::String { path } => path_tokens(path, span),
        TypeKind::Str => quote_spanned!(span=> &str),
        TypeKind::Bytes(BytesRepr::Slice) => quote_spanned!(span=> &[u8]),
        TypeKind::Bytes(BytesRepr::Vec(path)) => {
            let path = path_tokens(path, span);
            quote_spanned!(span=> #path<u8>)
        }
        TypeKind::Vec { path, elem } => generic_tokens(path, span, &[elem]),
        TypeKind::Option { path, inner } | TypeKind::Box { path, inner } => {
            generic_tokens(path, span, &[inner])
        }
        TypeKind::Tuple(elems) => {
            let elems = elems.iter().map(ty_tokens);
            quote_spanned!(span=> (#(#elems,)*))
        }
        TypeKind::Array { elem, len } => {
            let elem = ty_tokens(elem);
            let mut len = Literal::u64_unsuffixed(*len);
            len.set_span(span);
            quote_spanned!(span=> [#elem; #len])
        }
        TypeKind::Map {
            path, key, value, ..
        } => generic_tokens(path, span, &[key, value]),
        TypeKind::Named { path, generics } => {
            generic_tokens(path, span, &generics.iter().collect::<Vec<_>>())
        }
        TypeKind::Tx { path, item } | TypeKind::Rx { path, item } => {
            generic_tokens(path, span, &[item])
        }
    }
}
fn generic_tokens(path: &RustPath, span: Span, args: &[&TypeRef]) -> TokenStream {
    let path = path_tokens(path, span);
    if args.is_empty() {
        return path;
    }
    let args = args.iter().map(|arg| ty_tokens(arg));
    quote_spanned!(span=> #path<#(#args),*>)
}

fn path_tokens(path: &RustPath, span: Span) -> TokenStream {
    let segments = path
        .segments
        .iter()
        .map(|segment| match segment.strip_prefix("r#") {
            Some(raw) => ident(raw, span),
            None => Ident::new(segment, span),
        });
    if path.leading_colon {
        quote_spanned!(span=> #(::#segments)*)
    } else {
        quote_spanned!(span=> #(#segments)::*)
    }
}

fn vis_tokens(vis: &Visibility) -> TokenStream {
    match vis {
        Visibility::Private => TokenStream::new(),
        Visibility::Public => quote!(pub),
        Visibility::Crate => quote!(pub(crate)),
        Visibility::Super => quote!(pub(super)),
        Visibility::In(path) => {
            let path = path_tokens(path, Span::call_site());
            quote!(pub(in #path))
        }
    }
}

/// One `#[doc = " line"]` per line, as `///` comments desugar, so rustdoc renders the text
/// exactly as the model holds it.
fn doc_attrs(doc: &str) -> TokenStream {
    if doc.is_empty() {
        return TokenStream::new();
    }
    let lines = doc.lines().map(|line| {
        if line.is_empty() {
            String::new()
        } else {
            format!(" {line}")
        }
    });
    quote!(#(#[doc = #lines])*)
}

/// An identifier for a name the model holds without `r#`: keywords come back raw.
fn ident(name: &str, span: Span) -> Ident {
    let keyword_path_segment = matches!(name, "self" | "Self" | "super" | "crate");
    if keyword_path_segment || syn::parse_str::<Ident>(name).is_ok() {
        Ident::new(name, span)
    } else {
        Ident::new_raw(name, span)
    }
}

/// A method ID as a hexadecimal literal grouped in fours, e.g. `0xcbad_1fb1_d05c_6fd8`.
fn id_literal(id: u64, suffixed: bool) -> Literal {
    let hex = format!("{id:016x}");
    let grouped = [&hex[0..4], &hex[4..8], &hex[8..12], &hex[12..16]].join("_");
    let text = if suffixed {
        format!("0x{grouped}u64")
    } else {
        format!("0x{grouped}")
    };
    // The text is a well-formed integer literal by construction.
    text.parse::<Literal>()
        .unwrap_or_else(|_| Literal::u64_suffixed(id))
}

/// `Calculator` → `CALCULATOR`, `KvStore` → `KV_STORE`, `HTTPServer` → `HTTP_SERVER`.
pub(crate) fn screaming_snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_uppercase() {
            let prev = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_uppercase() && next_is_lower)
            {
                out.push('_');
            }
        }
        out.extend(c.to_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screaming_snake_splits_words_and_acronyms() {
        assert_eq!(screaming_snake("Calculator"), "CALCULATOR");
        assert_eq!(screaming_snake("KvStore"), "KV_STORE");
        assert_eq!(screaming_snake("HTTPServer"), "HTTP_SERVER");
        assert_eq!(screaming_snake("Foo2Bar"), "FOO2_BAR");
        assert_eq!(screaming_snake("Already_Snake"), "ALREADY_SNAKE");
        assert_eq!(screaming_snake("X"), "X");
    }

    #[test]
    fn id_literals_are_grouped_hex() {
        assert_eq!(
            id_literal(0xcbad_1fb1_d05c_6fd8, false).to_string(),
            "0xcbad_1fb1_d05c_6fd8"
        );
        assert_eq!(id_literal(1, true).to_string(), "0x0000_0000_0000_0001u64");
    }

    #[test]
    fn keywords_come_back_raw() {
        assert_eq!(ident("type", Span::call_site()).to_string(), "r#type");
        assert_eq!(ident("add", Span::call_site()).to_string(), "add");
    }

    #[test]
    fn docs_desugar_like_line_comments() {
        assert_eq!(doc_attrs("").to_string(), "");
        assert_eq!(
            doc_attrs("One.\n\nTwo.").to_string(),
            "# [doc = \" One.\"] # [doc = \"\"] # [doc = \" Two.\"]"
        );
    }
}
