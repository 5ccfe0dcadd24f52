//! `roam check`: what would break between a baseline (written earlier by `roam schema --json`)
//! and the sources as they are now.
//!
//! Owns: which comparisons are made and how their results are worded. For every method of the
//! baseline: a method that is gone is breaking; otherwise each of its four schemas is checked
//! in both directions, because old and new programs meet in both roles during a rollout:
//! - arguments: old client -> new server (writer = baseline, reader = now), and new client ->
//!   old server (writer = now, reader = baseline);
//! - channel items: old peer -> new peer and new peer -> old peer (the same two checks);
//! - response (`ok` and `err`): new server -> old client (writer = now, reader = baseline), and
//!   old server -> new client (writer = baseline, reader = now).
//!
//! Whether two schemas are compatible, and the wording of each problem, belong to
//! `roam_core::compat`; this module only adds the method and the direction. Methods that only
//! exist now are reported as notes.

use std::fmt::Write;
use std::path::Path;

use roam_core::compat::{self, Compat, Incompatibility};
use roam_core::schema::Schema;

use crate::error::CliError;
use crate::json::{Baseline, BaselineSchema, FORMAT};
use crate::model::Model;

/// What `roam check` found.
#[derive(Debug, Default)]
pub struct Report {
    /// One sentence per breaking change.
    pub breaking: Vec<String>,
    /// One sentence per non-breaking difference.
    pub notes: Vec<String>,
    /// How many baseline methods were compared.
    pub methods_checked: usize,
}

impl Report {
    /// The report as printed: `breaking:` lines, `note:` lines, then a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.breaking {
            let _ = writeln!(out, "breaking: {line}");
        }
        for line in &self.notes {
            let _ = writeln!(out, "note: {line}");
        }
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let _ = writeln!(
            out,
            "roam check: {}, {} ({} compared with the baseline)",
            plural(self.breaking.len(), "breaking change"),
            plural(self.notes.len(), "note"),
            plural(self.methods_checked, "method"),
        );
        out
    }
}

/// Reads and validates a baseline file.
pub fn load_baseline(path: &Path) -> Result<Vec<(String, String, [Schema; 4])>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |message: String| CliError::Baseline {
        path: path.to_path_buf(),
        message,
    };
    let baseline: Baseline = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not a schema file written by `roam schema --json`: {e}"
        ))
    })?;
    if baseline.format != FORMAT {
        return Err(bad(format!(
            "format {} is not supported (this roam reads format {FORMAT})",
            baseline.format
        )));
    }
    let mut methods = Vec::new();
    for service in baseline.services {
        for method in service.methods {
            let decode = |part: &str, schema: &BaselineSchema| {
                schema.decode().map_err(|message| {
                    bad(format!(
                        "{}.{}: schemas.{part}: {message}",
                        service.name, method.name
                    ))
                })
            };
            let s = &method.schemas;
            let schemas = [
                decode("args", &s.args)?,
                decode("channels", &s.channels)?,
                decode("ok", &s.ok)?,
                decode("err", &s.err)?,
            ];
            methods.push((service.name.clone(), method.name, schemas));
        }
    }
    Ok(methods)
}

/// Who writes and who reads in one comparison.
struct Direction {
    label: &'static str,
    /// Whether the baseline is the writer (otherwise the current sources are).
    baseline_writes: bool,
}

const PARTS: [(&str, [Direction; 2]); 4] = [
    (
        "arguments",
        [
            Direction {
                label: "old client -> new server",
                baseline_writes: true,
            },
            Direction {
                label: "new client -> old server",
                baseline_writes: false,
            },
        ],
    ),
    (
        "channel items",
        [
            Direction {
                label: "old peer -> new peer",
                baseline_writes: true,
            },
            Direction {
                label: "new peer -> old peer",
                baseline_writes: false,
            },
        ],
    ),
    (
        "response (ok)",
        [
            Direction {
                label: "new server -> old client",
                baseline_writes: false,
            },
            Direction {
                label: "old server -> new client",
                baseline_writes: true,
            },
        ],
    ),
    (
        "response (error)",
        [
            Direction {
                label: "new server -> old client",
                baseline_writes: false,
            },
            Direction {
                label: "old server -> new client",
                baseline_writes: true,
            },
        ],
    ),
];

/// `argument `name`: ` when `path` starts inside the argument at a position of `names`
/// (argument tuples are paths `.0...`, `.1...`).
fn argument(names: &[&str], path: &str) -> String {
    let Some(rest) = path.strip_prefix('.') else {
        return String::new();
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    match digits.parse::<usize>().ok().and_then(|i| names.get(i)) {
        Some(name) => format!("argument `{name}`: "),
        None => String::new(),
    }
}

/// Compares `baseline` with `model`.
pub fn check(baseline: &[(String, String, [Schema; 4])], model: &Model) -> Report {
    let mut report = Report::default();
    for (service, method, old) in baseline {
        report.methods_checked += 1;
        let Some((def, now)) = model.find(service, method) else {
            report.breaking.push(format!(
                "{service}.{method}: the method was removed; clients built against the baseline get \"unknown method\" when they call it (keep it, or keep it returning an error, until no old client is left)"
            ));
            continue;
        };
        let new = [&now.args, &now.channels, &now.ok, &now.err];
        let names = |channel: bool| -> Vec<&str> {
            def.args
                .iter()
                .filter(|a| a.ty.is_channel() == channel)
                .map(|a| a.name.as_str())
                .collect()
        };
        let positions = [names(false), names(true), Vec::new(), Vec::new()];
        for (index, ((part, directions), (old, new))) in
            PARTS.iter().zip(old.iter().zip(new)).enumerate()
        {
            let positions = &positions[index];
            for direction in directions {
                let (writer, reader) = if direction.baseline_writes {
                    (old, new)
                } else {
                    (new, old)
                };
                let prefix = format!("{service}.{method}: {part}, {}", direction.label);
                match compat::check(writer, reader) {
                    Ok(Compat { notes, .. }) => report.notes.extend(
                        notes
                            .iter()
                            .map(|n| format!("{prefix}: {}{n}", argument(positions, &n.path))),
                    ),
                    Err(problems) => {
                        report
                            .breaking
                            .extend(problems.iter().map(|p: &Incompatibility| {
                                format!("{prefix}: {}{p}", argument(positions, &p.path))
                            }))
                    }
                }
            }
        }
    }
    for service in &model.services {
        for (method, _) in service.methods() {
            let known = baseline
                .iter()
                .any(|(s, m, _)| *s == service.def.name && *m == method.name);
            if !known {
                report.notes.push(format!(
                    "{}.{}: new method (not in the baseline)",
                    service.def.name, method.name
                ));
            }
        }
    }
    report
}
