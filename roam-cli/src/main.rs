//! The `roam` binary; see the `roam_cli` library for what it does.

fn main() -> std::process::ExitCode {
    roam_cli::run(std::env::args_os())
}
