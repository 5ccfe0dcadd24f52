//! Code emitters, one module per target language.
//!
//! Owns: turning a validated model into source code. Each emitter reads only [`crate::ir`]
//! (never `syn`), and output is deterministic: the same model gives the same tokens or bytes.
//!
//! - [`rust`]: the items `#[roam::service]` expands to (the contract is
//!   `docs/generated-code.md`).
//! - [`typescript`]: `roam gen typescript`'s bindings (from the resolved model,
//!   [`crate::resolve`]) and the runtime files written beside them.

pub mod rust;
pub mod typescript;
