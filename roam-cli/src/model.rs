//! The model every command prints: services, their methods, and each method's schemas.
//!
//! Owns: running `roam_codegen::resolve` over the sources read and turning its problems into
//! [`Diagnostic`]s at the file and position they are about. Must not: resolve types itself
//! (the resolver in roam-codegen does, for every emitter alike) or print.

use roam_codegen::MethodSchemas;
use roam_codegen::ir::{MethodDef, ServiceDef};
use roam_codegen::resolve;

use crate::error::{CliError, Diagnostic};
use crate::load::Sources;

/// All services read, in file order then source order.
#[derive(Debug)]
pub struct Model {
    /// The services.
    pub services: Vec<Service>,
    /// The resolved model the code generators read.
    pub resolved: resolve::Model,
}

/// One service.
#[derive(Debug)]
pub struct Service {
    /// The parsed service.
    pub def: ServiceDef,
    /// Its methods' schemas, in declaration order (parallel to `def.methods`).
    pub schemas: Vec<MethodSchemas>,
}

impl Service {
    /// The methods with their schemas.
    pub fn methods(&self) -> impl Iterator<Item = (&MethodDef, &MethodSchemas)> {
        self.def.methods.iter().zip(&self.schemas)
    }
}

impl Model {
    /// The method `method` of service `service`, if present.
    pub fn find(&self, service: &str, method: &str) -> Option<(&MethodDef, &MethodSchemas)> {
        self.services
            .iter()
            .filter(|s| s.def.name == service)
            .flat_map(Service::methods)
            .find(|(m, _)| m.name == method)
    }
}

/// Resolves the sources. Reports every problem found, each once.
pub fn build(sources: &Sources) -> Result<Model, CliError> {
    let files: Vec<String> = sources.files.iter().map(|f| f.display.clone()).collect();
    let input = resolve::Input {
        files: &files,
        services: &sources.services,
        types: &sources.types,
    };
    match resolve::resolve(input) {
        Ok(resolved) => Ok(Model {
            services: resolved
                .services
                .iter()
                .map(|s| Service {
                    def: s.def.clone(),
                    schemas: s.methods.iter().map(|m| m.schemas.clone()).collect(),
                })
                .collect(),
            resolved,
        }),
        Err(problems) => Err(CliError::Source(
            problems
                .iter()
                .flat_map(|p| {
                    let file = &sources.files[p.file];
                    Diagnostic::from_syn(&file.display, &p.error)
                        .into_iter()
                        .map(|d| d.with_source(&file.text))
                })
                .collect(),
        )),
    }
}

/// `0x` and 16 lowercase hex digits.
pub fn hex_u64(value: u64) -> String {
    format!("{value:#018x}")
}

/// Lowercase hex of `bytes`, two digits per byte.
pub fn hex_bytes(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The bytes of lowercase or uppercase hex text, or `None` if it is not hex.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}
