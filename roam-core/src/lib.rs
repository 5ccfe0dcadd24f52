//! Definitions shared by roam's compile-time side and its runtime.
//!
//! This crate is the **single source of truth** for the things both sides must compute
//! identically: method IDs (used by the proc macro and the CLI from syntax, and by the runtime
//! when routing) and the static service descriptors the macro emits and the runtime reads.
//!
//! It must stay light: the proc macro depends on it, so it pulls nothing but `blake3`
//! (no tokio, no syn, no facet).

mod descriptor;
mod method_id;
pub mod schema;

pub use descriptor::{ArgDescriptor, MethodDescriptor, ServiceDescriptor};
pub use method_id::{method_id, method_id_key};
