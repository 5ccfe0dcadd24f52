//! The `#[roam::service]` attribute.
//!
//! Use it through `roam-runtime`, as `#[roam::service]`; see `docs/generated-code.md` for what
//! it expands to. This crate has no logic of its own: parsing, validation and code generation
//! live in `roam-codegen`, so the CLI and the macro read traits the same way.

use proc_macro::TokenStream;

/// Turns a trait of `async fn` methods into a roam service: the trait itself (each method
/// returning a `Send` future), a `<SERVICE>_DESCRIPTOR` static, a typed `<Service>Client` and
/// a `<Service>Dispatcher<H>` that serves any implementation.
///
/// ```
/// #[roam::service]
/// pub trait Calculator {
///     /// Adds two numbers.
///     #[roam(idempotent)]
///     async fn add(&self, a: i32, b: i32) -> i32;
/// }
///
/// struct Calc;
/// impl Calculator for Calc {
///     async fn add(&self, a: i32, b: i32) -> i32 {
///         a + b
///     }
/// }
///
/// let _serve = CalculatorDispatcher::new(Calc);
/// assert_eq!(CALCULATOR_DESCRIPTOR.methods[0].id, roam::method_id("Calculator", "add"));
/// assert!(CALCULATOR_DESCRIPTOR.methods[0].idempotent);
/// # fn call(client: &CalculatorClient) -> roam::Call<i32, std::convert::Infallible> { client.add(2, 3) }
/// ```
///
/// Methods take doc comments and one helper attribute, `#[roam(idempotent)]` (no arguments,
/// at most once): the method is safe to run more than once, so a reconnecting client may
/// re-send it on a fresh session when the session it was sent on was lost. It sets
/// `MethodDescriptor::idempotent`, is noted in the generated docs, and is not kept on the
/// generated trait. Without it a call whose session was lost is never re-sent.
///
/// Unsupported shapes (generic methods, `&mut self`, `impl Trait` arguments, ...) are compile
/// errors pointing at the offending token; all of them are reported at once.
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    roam_codegen::expand_service(attr.into(), item.into()).into()
}
