//! The model every command prints: services, their methods, and each method's schemas.
//!
//! Owns: resolving every method's [`MethodSchemas`] against all the types read (reporting
//! unknown types at the file and position that mention them), and the checks that only make
//! sense across files (a service defined twice). Must not: print.

use std::collections::BTreeSet;

use roam_codegen::MethodSchemas;
use roam_codegen::TypeTable;
use roam_codegen::ir::ServiceDef;

use crate::error::{CliError, Diagnostic};
use crate::load::Sources;

/// All services read, in file order then source order.
#[derive(Debug)]
pub struct Model {
    /// The services.
    pub services: Vec<Service>,
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
    pub fn methods(&self) -> impl Iterator<Item = (&roam_codegen::ir::MethodDef, &MethodSchemas)> {
        self.def.methods.iter().zip(&self.schemas)
    }
}

impl Model {
    /// The method `method` of service `service`, if present.
    pub fn find(
        &self,
        service: &str,
        method: &str,
    ) -> Option<(&roam_codegen::ir::MethodDef, &MethodSchemas)> {
        self.services
            .iter()
            .filter(|s| s.def.name == service)
            .flat_map(Service::methods)
            .find(|(m, _)| m.name == method)
    }
}

/// Computes every method's schemas. Reports every problem found, each once.
pub fn build(sources: &Sources) -> Result<Model, CliError> {
    let table = TypeTable::new(sources.types.iter().map(|(_, def)| def));
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut services = Vec::new();
    let mut names: Vec<(&str, usize)> = Vec::new();
    for (file, def) in &sources.services {
        let display = &sources.files[*file].display;
        if let Some((_, first)) = names.iter().find(|(n, _)| *n == def.name) {
            diagnostics.push(Diagnostic::at(
                display,
                def.name_span,
                format!(
                    "service `{}` is also defined in `{}`; method IDs come from the service and method names, so each service must be defined once",
                    def.name, sources.files[*first].display
                ),
            ));
        } else {
            names.push((&def.name, *file));
        }
        let mut schemas = Vec::new();
        for method in &def.methods {
            match table.method_schemas(method) {
                Ok(s) => schemas.push(s),
                Err(error) => {
                    let file = error
                        .in_type
                        .as_deref()
                        .and_then(|t| sources.file_of_type(t))
                        .unwrap_or(*file);
                    for d in Diagnostic::from_syn(&sources.files[file].display, &error.error) {
                        if seen.insert(d.clone()) {
                            diagnostics.push(d);
                        }
                    }
                }
            }
        }
        services.push(Service {
            def: def.clone(),
            schemas,
        });
    }
    if diagnostics.is_empty() {
        Ok(Model { services })
    } else {
        Err(CliError::Source(diagnostics))
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
