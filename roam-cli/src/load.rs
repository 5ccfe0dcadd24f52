//! Finding the source files named on the command line and parsing them.
//!
//! Owns: turning path arguments into an ordered list of files (a `.rs` file as given; a crate
//! directory as every `.rs` file under its `src/`, sorted by path), reading them, and running
//! `roam_codegen::parse::parse_file` on each, remembering which file every service and type
//! came from so diagnostics can name it. Must not: compute schemas or print.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use roam_codegen::ir::{ServiceDef, TypeDef};

use crate::error::{CliError, Diagnostic};

/// One source file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path, as shown in diagnostics.
    pub display: String,
    /// The file's contents (diagnostics quote its lines).
    pub text: String,
}

/// Everything read from the sources, in file order, then source order.
#[derive(Debug, Default)]
pub struct Sources {
    /// The files read, in order.
    pub files: Vec<SourceFile>,
    /// Every service with the index of its file.
    pub services: Vec<(usize, ServiceDef)>,
    /// Every `#[derive(Facet)]` type with the index of its file.
    pub types: Vec<(usize, TypeDef)>,
}

/// The `.rs` files `paths` stand for, in order, each once.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|source| CliError::Io {
            path: path.clone(),
            source,
        })?;
        let found = if meta.is_dir() {
            let src = path.join("src");
            if !src.is_dir() {
                return Err(CliError::NotACrate(path.clone()));
            }
            let mut files = Vec::new();
            collect_rs(&src, &mut files)?;
            files.sort();
            if files.is_empty() {
                return Err(CliError::NoSources(src));
            }
            files
        } else if path.extension().is_some_and(|e| e == "rs") {
            vec![path.clone()]
        } else {
            return Err(CliError::NotRust(path.clone()));
        };
        for file in found {
            let key = fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if seen.insert(key) {
                out.push(file);
            }
        }
    }
    Ok(out)
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let io = |source| CliError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads and parses the sources `paths` stand for. Any parse or model error in any file is
/// reported (all of them, each with its location) instead of a result.
pub fn load(paths: &[PathBuf]) -> Result<Sources, CliError> {
    let mut sources = Sources::default();
    let mut diagnostics = Vec::new();
    for path in expand_paths(paths)? {
        let text = fs::read_to_string(&path).map_err(|source| CliError::Io {
            path: path.clone(),
            source,
        })?;
        let display = path.display().to_string();
        let (services, types, errors) = roam_codegen::parse::parse_file(&text);
        for error in &errors {
            diagnostics.extend(
                Diagnostic::from_syn(&display, error)
                    .into_iter()
                    .map(|d| d.with_source(&text)),
            );
        }
        let index = sources.files.len();
        sources.files.push(SourceFile { display, text });
        sources
            .services
            .extend(services.into_iter().map(|s| (index, s)));
        sources.types.extend(types.into_iter().map(|t| (index, t)));
    }
    if diagnostics.is_empty() {
        Ok(sources)
    } else {
        Err(CliError::Source(diagnostics))
    }
}
