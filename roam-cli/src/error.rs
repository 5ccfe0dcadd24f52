//! What can go wrong before a command produces its output, and how it is printed.
//!
//! Owns: [`CliError`] and [`Diagnostic`] (a message at `file:line:column`). Every variant
//! exits with code 2; "breaking changes found" is not an error but `check`'s result.

use std::fmt;
use std::path::PathBuf;

/// A message about a place in a source file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// The file as the user named it (or as found under a crate directory).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, and what is supported.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at the start of `span` in `file`.
    pub fn at(file: &str, span: proc_macro2::Span, message: impl Into<String>) -> Diagnostic {
        let start = span.start();
        Diagnostic {
            file: file.to_owned(),
            line: start.line.max(1),
            column: start.column + 1,
            message: message.into(),
        }
    }

    /// One diagnostic per message of `error` (a `syn::Error` may hold several).
    pub fn from_syn(file: &str, error: &syn::Error) -> Vec<Diagnostic> {
        error
            .clone()
            .into_iter()
            .map(|e| Diagnostic::at(file, e.span(), e.to_string()))
            .collect()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A path could not be read.
    #[error("error: cannot read `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file argument that is not a `.rs` file.
    #[error("error: `{0}` is not a Rust source file (expected a `.rs` file or a crate directory)")]
    NotRust(PathBuf),
    /// A directory argument without `src/`.
    #[error(
        "error: `{0}` is a directory without a `src/` folder; pass a crate directory or `.rs` files"
    )]
    NotACrate(PathBuf),
    /// A crate directory whose `src/` holds no `.rs` file.
    #[error("error: no `.rs` files under `{0}`")]
    NoSources(PathBuf),
    /// The sources have problems (syntax, refused shapes, unknown types, ...).
    #[error("{}", render_diagnostics(.0))]
    Source(Vec<Diagnostic>),
    /// The baseline file is not what `roam schema --json` writes.
    #[error("error: baseline `{path}`: {message}")]
    Baseline {
        /// The baseline file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    let count = diagnostics.len();
    format!(
        "{}\n{count} error{} found; no output was produced",
        lines.join("\n"),
        if count == 1 { "" } else { "s" }
    )
}
