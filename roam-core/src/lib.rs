//! Definitions shared by roam's compile-time side and its runtime.
//!
//! This crate is the **single source of truth** for the things both sides must compute
//! identically: method IDs (used by the proc macro and the CLI from syntax, and by the runtime
//! when routing), the static service descriptors the macro emits and the runtime reads, the
//! canonical [`schema`] model with its bytes and hash, and the schema evolution rules
//! ([`compat`]) that the CLI's `roam check` and the runtime's schema exchange both apply.
//!
//! It must stay light: the proc macro depends on it, so it pulls nothing but `blake3`
//! (no tokio, no syn, no facet).

pub mod compat;
mod descriptor;
mod method_id;
pub mod schema;

pub use descriptor::{ArgDescriptor, MethodDescriptor, ServiceDescriptor};
pub use method_id::{method_id, method_id_key};
