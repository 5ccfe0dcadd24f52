//! The `roam` command line: reads Rust sources that declare `#[roam::service]` traits and
//! `#[derive(Facet)]` types, and reports method IDs ([`ids`]), the model with its canonical
//! schemas ([`json`]), and breaking changes against a baseline ([`check`]), and writes
//! bindings for other languages ([`generate`]).
//!
//! Owns: the command-line interface ([`cli`]), finding and reading source files ([`load`]), the
//! per-method model the commands print ([`model`]), and the output formats. Must not: parse
//! Rust or compute schemas itself (that is `roam_codegen::parse` and `roam_codegen::schema`),
//! nor judge compatibility (that is `roam_core::compat`).
//!
//! Exit codes: 0 success (for `check`: nothing breaking), 1 breaking changes found, 2 usage,
//! I/O or source errors; `gen` exits 1 for I/O or source errors and 2 for usage. Every source
//! error is printed as `file:line:column: error: message`, with the source line under it.
//! All output is deterministic: the same inputs give the same bytes.

pub mod check;
pub mod cli;
pub mod error;
pub mod generate;
pub mod ids;
pub mod json;
pub mod load;
pub mod model;

pub use cli::run;
