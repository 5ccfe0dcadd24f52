//! `roam check` on the runtime evolution suite (`tests/tests/evolution/v{1,2}.rs`): the changes
//! the runtime translates must pass, the ones it refuses must be reported, naming the method,
//! the field and both types.

use std::process::Command;

const ROAM: &str = env!("CARGO_BIN_EXE_roam");

fn suite(file: &str) -> String {
    format!(
        "{}/../tests/tests/evolution/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ROAM).args(args).output().expect("roam runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

#[test]
fn check_flags_exactly_the_changes_the_runtime_refuses() {
    let (code, baseline, err) = run(&["schema", "--json", &suite("v1.rs")]);
    assert_eq!(code, 0, "{err}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("evolution-v1.json");
    std::fs::write(&path, baseline).expect("baseline written");

    let (code, out, err) = run(&[
        "check",
        "--baseline",
        path.to_str().expect("utf-8 path"),
        &suite("v2.rs"),
    ]);
    assert_eq!(
        code, 1,
        "incompatible changes must fail the check\n{out}{err}"
    );
    let breaking: Vec<&str> = out.lines().filter(|l| l.starts_with("breaking:")).collect();
    // weigh: u32 -> String; label: a field added without a default.
    assert!(
        breaking
            .iter()
            .any(|l| l.contains("Inventory.weigh") && l.contains("u32") && l.contains("String")),
        "{out}"
    );
    assert!(
        breaking
            .iter()
            .any(|l| l.contains("Inventory.label") && l.contains("color") && l.contains("Label")),
        "{out}"
    );
    // labels: the items a v1 handler writes lack the `color` a v2 caller needs.
    assert!(
        breaking
            .iter()
            .any(|l| l.contains("Inventory.labels") && l.contains("color") && l.contains("Label")),
        "{out}"
    );
    // Every compatible change of the suite passes, including those to the items a handler
    // writes (the runtime translates them like responses).
    for method in [
        "add",
        "get",
        "status",
        "locate",
        "upload",
        "countdown",
        "download",
        "watch",
        "trail",
    ] {
        let name = format!("Inventory.{method}:");
        assert!(
            !breaking.iter().any(|l| l.contains(&name)),
            "{method} is compatible but was reported:\n{out}"
        );
    }

    // The same tree against itself is clean.
    let (code, out, err) = run(&[
        "check",
        "--baseline",
        path.to_str().expect("utf-8 path"),
        &suite("v1.rs"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
}
