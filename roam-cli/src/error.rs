//! What can go wrong before a command produces its output, and how it is printed.
//!
//! Owns: [`CliError`] and [`Diagnostic`] (a message at `file:line:column`, with the source
//! line under it). `ids`, `schema` and `check` exit with code 2 for every variant ("breaking
//! changes found" is not an error but `check`'s result, exit 1); `gen` exits 1 for problems
//! with its input and 2 for usage errors, see [`CliError::exit_code`].

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
    /// The source line the position is on, when the file's text is known.
    pub source_line: Option<String>,
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
            source_line: None,
        }
    }

    /// The same diagnostic, showing its line of `text` (the file's contents).
    pub fn with_source(mut self, text: &str) -> Diagnostic {
        self.source_line = text.lines().nth(self.line - 1).map(str::to_owned);
        self
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
        )?;
        if let Some(line) = &self.source_line {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            // The caret goes under the column, counting characters as the column does.
            let before: String = line
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n {number} | {line}\n {pad} | {before}^")?;
        }
        Ok(())
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
    /// The output directory of `gen` cannot be written.
    #[error("error: cannot write `{path}`: {source}")]
    Output {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The baseline file is not what `roam schema --json` writes.
    #[error("error: baseline `{path}`: {message}")]
    Baseline {
        /// The baseline file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl CliError {
    /// The exit code of `gen` for this error: 1 when the input is at fault (unreadable or
    /// wrong sources), 2 when the command line is (`--out` not a writable directory).
    pub fn gen_exit_code(&self) -> u8 {
        match self {
            CliError::Output { .. } => 2,
            _ => 1,
        }
    }
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
