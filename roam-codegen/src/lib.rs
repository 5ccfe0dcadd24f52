//! roam's IDL brain: Rust service traits in, a plain model and generated code out.
//!
//! A `#[roam::service]` trait goes through three stages, each in its own module:
//!
//! 1. [`parse`] reads `syn` syntax into the model of [`ir`] (services, methods, types);
//! 2. [`validate`] refuses what roam does not support, collecting every error with its span;
//! 3. [`emit`] turns the validated model into code ([`emit::rust`] for the proc macro).
//!
//! Beside them, [`schema`] computes the canonical schemas of the model's types and methods
//! (byte-identical to what the runtime computes from facet shapes), for the CLI; [`case`]
//! holds facet's `rename_all` case rules, which the parser applies as facet's derive does.
//!
//! [`expand_service`] chains them for `roam-macros`; tools (the CLI) call the stages directly,
//! starting from [`parse::parse_file`].
//!
//! This crate must stay light enough for a proc macro: no tokio, no clap. Method IDs come from
//! [`roam_core::method_id`], the single source of truth shared with the runtime.

pub mod case;
pub mod emit;
pub mod ir;
pub mod parse;
pub mod resolve;
pub mod schema;
pub mod validate;

pub use schema::{MethodSchemas, SchemaError, TypeTable};

use proc_macro2::TokenStream;
use quote::quote;

use crate::validate::Ctxt;

/// Expands `#[roam::service]`: `attr` is the attribute's arguments (must be empty), `item` the
/// trait it is on.
///
/// On success, returns the items described in `docs/generated-code.md`. Otherwise returns one
/// `compile_error!` per problem found (all of them, each at its own token) followed by the
/// item as written (minus doc comments on parameters and default bodies), so code that
/// implements or names the trait does not pile up follow-on errors.
pub fn expand_service(attr: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    validate::service_attribute_has_no_arguments(&cx, &attr);
    let mut item_trait = match syn::parse2::<syn::ItemTrait>(item.clone()) {
        Ok(item_trait) => item_trait,
        Err(parse_error) => {
            validate::service_is_a_trait(&cx, &item, parse_error);
            let errors = cx.check().err().map(|e| e.into_compile_error());
            return quote!(#errors #item);
        }
    };
    let service = parse::service(&cx, &item_trait);
    validate::service(&cx, &service);
    match cx.check() {
        Ok(()) => emit::rust::emit(&service),
        Err(error) => {
            strip_for_fallback(&mut item_trait);
            let errors = error.into_compile_error();
            quote!(#errors #item_trait)
        }
    }
}

/// Removes what Rust itself would report again on the fallback item: attributes on method
/// parameters (the model reads `///` docs there, Rust rejects them), `#[roam(...)]` on the trait
/// and its methods (only this macro reads it; Rust would say it cannot find attribute `roam`)
/// and default bodies (already refused; their unused parameters would warn).
fn strip_for_fallback(item: &mut syn::ItemTrait) {
    let is_roam = |attr: &syn::Attribute| attr.path().is_ident("roam");
    item.attrs.retain(|attr| !is_roam(attr));
    for trait_item in &mut item.items {
        if let syn::TraitItem::Fn(method) = trait_item {
            method.attrs.retain(|attr| !is_roam(attr));
            if method.default.take().is_some() {
                method.semi_token = Some(Default::default());
            }
            for input in &mut method.sig.inputs {
                match input {
                    syn::FnArg::Typed(param) => param.attrs.clear(),
                    syn::FnArg::Receiver(receiver) => receiver.attrs.clear(),
                }
            }
        }
    }
}
