//! The command-line interface: arguments (clap) and running a command.
//!
//! Owns: the commands' names, flags and help, what each prints on stdout/stderr, and the exit
//! codes: `ids`/`schema`/`check` exit 0 ok, 1 breaking changes, 2 usage or source errors;
//! `gen` exits 0 ok, 1 when the sources are at fault, 2 for usage errors.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// roam: Rust traits are the schema.
#[derive(Debug, Parser)]
#[command(name = "roam", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a table of every method: service, method, method ID, args and return schema hashes.
    Ids {
        /// `.rs` files, or crate directories (every `.rs` file under `src/`).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Print the services, their methods and the methods' canonical schemas.
    Schema {
        /// Print the model as JSON (the format `roam check --baseline` reads).
        #[arg(long)]
        json: bool,
        /// `.rs` files, or crate directories (every `.rs` file under `src/`).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Compare the sources with a baseline from `roam schema --json`; exit 1 if anything breaks.
    Check {
        /// The JSON written earlier by `roam schema --json`.
        #[arg(long, value_name = "FILE")]
        baseline: PathBuf,
        /// `.rs` files, or crate directories (every `.rs` file under `src/`).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Generate bindings for another language from the service traits.
    #[command(subcommand)]
    Gen(Gen),
}

/// The languages `roam gen` writes.
#[derive(Debug, Subcommand)]
pub enum Gen {
    /// Write TypeScript bindings (types, codecs, clients, handlers) and the roam runtime.
    #[command(after_help = GEN_TYPESCRIPT_HELP)]
    Typescript {
        /// The directory to write to (created if missing; a directory of its own, since
        /// roam writes its package.json). Files a previous run generated there and this one
        /// does not are removed; other files are left alone.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// `.rs` files, or crate directories (every `.rs` file under `src/`).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

const GEN_TYPESCRIPT_HELP: &str = "\
Output (ESM TypeScript, strict and erasable; import with `.js` extensions):
  DIR/types.ts          every user type, its codec (`pointCodec`) and enum constructors
  DIR/<service>.ts      <Service>Client, create<Service>Client, <Service>Handler, <service>Routes
  DIR/index.ts          re-exports the above
  DIR/package.json      type: module, so the output is ESM in any project
  DIR/runtime/          the roam runtime (runtime/transport-tcp.ts and runtime/transport-tls.ts
                        are the Node-only TCP and TLS links)

Examples:
  roam gen typescript --out web/src/roam examples/src/lib.rs
  roam gen typescript --out gen/ts crates/api          # every .rs file under crates/api/src

Exit status: 0 written, 1 the sources have problems (each printed as file:line:col), 2 usage.";

/// Runs the command line `args` (including the program name) and returns the exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(error.exit_code().clamp(0, 255) as u8);
        }
    };
    if let Command::Gen(what) = &cli.command {
        return match crate::generate::run(what) {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{error}");
                ExitCode::from(error.gen_exit_code())
            }
        };
    }
    match execute(&cli.command) {
        Ok((stdout, code)) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(stdout.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::from(2);
            }
            ExitCode::from(code)
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(2)
        }
    }
}

/// Runs `command`: its standard output and exit code.
pub fn execute(command: &Command) -> Result<(String, u8), CliError> {
    match command {
        Command::Ids { paths } => {
            let model = crate::model::build(&crate::load::load(paths)?)?;
            Ok((crate::ids::render(&model), 0))
        }
        Command::Schema { json, paths } => {
            let model = crate::model::build(&crate::load::load(paths)?)?;
            let out = if *json {
                crate::json::render_json(&model)
            } else {
                crate::json::render_text(&model)
            };
            Ok((out, 0))
        }
        Command::Check { baseline, paths } => {
            let baseline = crate::check::load_baseline(baseline)?;
            let model = crate::model::build(&crate::load::load(paths)?)?;
            let report = crate::check::check(&baseline, &model);
            let code = if report.breaking.is_empty() { 0 } else { 1 };
            Ok((report.render(), code))
        }
        Command::Gen(what) => Ok((crate::generate::run(what)?, 0)),
    }
}
