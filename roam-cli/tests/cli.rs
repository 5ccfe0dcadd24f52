//! Runs the built `roam` binary on the fixtures.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROAM: &str = env!("CARGO_BIN_EXE_roam");

fn fixture(rel: &str) -> String {
    // Relative to the package, so paths in the output do not depend on the checkout's location.
    format!("tests/fixtures/{rel}")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn roam(args: &[&str]) -> Run {
    let out = Command::new(ROAM)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("roam runs");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("roam-cli-tests");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

#[test]
fn ids_table_is_deterministic() {
    let first = roam(&["ids", &fixture("calculator.rs")]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stderr.is_empty());
    let second = roam(&["ids", &fixture("calculator.rs")]);
    assert_eq!(first.stdout, second.stdout);
    insta::assert_snapshot!("ids_calculator", first.stdout);
    // The method ID column is roam_core's method ID, as the runtime computes it.
    let add = format!("{:#018x}", roam_core::method_id("Calculator", "add"));
    assert!(
        first
            .stdout
            .lines()
            .any(|l| l.starts_with("Calculator  add") && l.contains(&add))
    );
}

#[test]
fn schema_json_is_deterministic_and_complete() {
    let first = roam(&["schema", "--json", &fixture("calculator.rs")]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = roam(&["schema", &fixture("calculator.rs"), "--json"]);
    assert_eq!(first.stdout, second.stdout);
    insta::assert_snapshot!("schema_json_calculator", first.stdout);
    let doc: serde_json::Value = serde_json::from_str(&first.stdout).expect("valid JSON");
    let methods = doc["services"][0]["methods"].as_array().expect("methods");
    assert_eq!(methods.len(), 5);
    let divide = &methods[1];
    assert_eq!(divide["err"], "MathError");
    assert_eq!(divide["schemas"]["err"]["tree"]["kind"], "enum");
    // The context parameter is not an argument; channel arguments are marked.
    assert_eq!(divide["args"].as_array().map(Vec::len), Some(2));
    assert_eq!(methods[3]["args"][1]["channel"], true);
    assert_eq!(methods[4]["args"][0]["docs"], "Where to look from.");
}

#[test]
fn schema_text_outline() {
    let run = roam(&["schema", &fixture("calculator.rs")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("schema_text_calculator", run.stdout);
}

#[test]
fn a_crate_directory_means_every_file_under_src() {
    let run = roam(&["ids", &fixture("crate")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Greeter  greet"), "{}", run.stdout);
    // `Greeting` lives in src/model/mod.rs: the schema resolved it.
    let json = roam(&["schema", "--json", &fixture("crate")]);
    assert!(
        json.stdout.contains("\"name\": \"French\""),
        "{}",
        json.stdout
    );
}

#[test]
fn a_baseline_is_compatible_with_itself() {
    let baseline = tmp("self.json");
    let json = roam(&["schema", "--json", &fixture("calculator.rs")]);
    std::fs::write(&baseline, &json.stdout).expect("write baseline");
    let run = roam(&[
        "check",
        "--baseline",
        baseline.to_str().expect("utf-8 path"),
        &fixture("calculator.rs"),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "roam check: 0 breaking changes, 0 notes (5 methods compared with the baseline)\n"
    );
}

/// Writes v1's schema as the baseline and checks v2 against it.
fn check_case(case: &str) -> Run {
    let baseline = tmp(&format!("{case}.json"));
    let v1 = roam(&[
        "schema",
        "--json",
        &fixture(&format!("compat/{case}/v1.rs")),
    ]);
    assert_eq!(v1.code, 0, "{}", v1.stderr);
    std::fs::write(&baseline, &v1.stdout).expect("write baseline");
    roam(&[
        "check",
        "--baseline",
        baseline.to_str().expect("utf-8 path"),
        &fixture(&format!("compat/{case}/v2.rs")),
    ])
}

fn assert_compatible(case: &str, expected_note: &str) {
    let run = check_case(case);
    assert_eq!(run.code, 0, "{case}:\n{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("breaking:"), "{case}:\n{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("note: ") && l.contains(expected_note)),
        "{case}: expected a note containing {expected_note:?}:\n{}",
        run.stdout
    );
}

fn assert_breaking(case: &str, expected: &[&str]) -> String {
    let run = check_case(case);
    assert_eq!(run.code, 1, "{case}:\n{}{}", run.stdout, run.stderr);
    let breaking: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("breaking: "))
        .collect();
    assert!(
        breaking
            .iter()
            .any(|l| expected.iter().all(|needle| l.contains(needle))),
        "{case}: expected a breaking line containing all of {expected:?}:\n{}",
        run.stdout
    );
    run.stdout
}

#[test]
fn compatible_changes_exit_0_with_notes() {
    assert_compatible(
        "added_defaulted_field",
        "Shop.place: arguments, old client -> new server: argument `order`: `.0`: the writer does not send field `note`; the reader uses its default",
    );
    assert_compatible(
        "removed_defaulted_field",
        "response (ok), new server -> old client: `Order`: the writer does not send field `note`; the reader uses its default",
    );
    assert_compatible(
        "reordered_fields",
        "the fields are declared in another order",
    );
    assert_compatible(
        "renamed_type",
        "the writer calls the type `Order`, the reader `Purchase`",
    );
    assert_compatible(
        "added_variant",
        "Shop.status: response (ok), new server -> old client: `Status`: the writer may send variant `Archived`, which the reader does not know",
    );
}

#[test]
fn changed_field_type_is_breaking_and_names_field_and_types() {
    assert_breaking(
        "changed_field_type",
        &[
            "Shop.place: arguments, old client -> new server",
            "argument `order`",
            "`.0.id`",
            "the writer sends `u64` but the reader expects `String`",
        ],
    );
    assert_breaking(
        "changed_field_type",
        &[
            "Shop.place: response (ok), new server -> old client",
            "`Order.id`",
            "the writer sends `String` but the reader expects `u64`",
        ],
    );
}

#[test]
fn added_field_without_default_is_breaking() {
    let out = assert_breaking(
        "added_required_field",
        &[
            "Shop.place: arguments, old client -> new server",
            "field `.0.note`",
            "the reader's type `Order` requires `note: String`",
            "the writer's type `Order` does not send",
            "#[facet(default)]",
        ],
    );
    // The other direction is fine: an old server skips the new field.
    assert!(out.contains(
        "note: Shop.place: arguments, new client -> old server: argument `order`: `.0`: the reader skips field `note`"
    ));
    assert!(out.ends_with(
        "roam check: 2 breaking changes, 2 notes (2 methods compared with the baseline)\n"
    ));
}

#[test]
fn removing_a_field_without_default_breaks_new_clients_of_old_servers() {
    assert_breaking(
        "removed_required_field",
        &[
            "Shop.place: arguments, new client -> old server",
            "requires `note: String`",
        ],
    );
}

#[test]
fn removed_method_is_breaking() {
    assert_breaking("removed_method", &["Shop.ping: the method was removed"]);
}

#[test]
fn struct_kind_change_is_breaking() {
    assert_breaking(
        "struct_kind_changed",
        &[
            "Ruler.measure: response (ok), new server -> old client",
            "`Meters`",
            "the writer's type `Meters` has positional fields here but the reader's type `Meters` has named fields",
        ],
    );
}

#[test]
fn new_methods_are_notes() {
    let baseline = tmp("new_methods.json");
    let v2 = roam(&["schema", "--json", &fixture("compat/removed_method/v2.rs")]);
    std::fs::write(&baseline, &v2.stdout).expect("write baseline");
    let run = roam(&[
        "check",
        "--baseline",
        baseline.to_str().expect("utf-8 path"),
        &fixture("compat/removed_method/v1.rs"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("note: Shop.ping: new method (not in the baseline)")
    );
}

#[test]
fn unknown_types_are_reported_at_their_use_with_exit_2() {
    let run = roam(&["ids", &fixture("unknown_type.rs")]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert_eq!(
        run.stderr,
        "tests/fixtures/unknown_type.rs:5:16: error: unknown type `Elsewhere`: no `#[derive(Facet)]` struct or enum named `Elsewhere` is defined in the given files; pass the file that defines it too (or its crate directory)\n 5 |     pub inner: Elsewhere,\n   |                ^\n1 error found; no output was produced\n"
    );
}

#[test]
fn refused_shapes_are_reported_with_file_line_and_column() {
    let run = roam(&["schema", "--json", &fixture("refused.rs")]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    // Each error is followed by its source line and a caret; keep the messages and the count.
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.starts_with(' ')).collect();
    assert!(
        lines[0].starts_with("tests/fixtures/refused.rs:3:29: error: `usize` is not supported"),
        "{}",
        run.stderr
    );
    assert!(
        lines[1].starts_with(
            "tests/fixtures/refused.rs:4:5: error: service methods must be `async fn`"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(lines[2], "2 errors found; no output was produced");
}

#[test]
fn facet_attributes_roam_cannot_model_are_reported_with_file_line_and_column() {
    for command in [&["schema"][..], &["gen", "typescript", "--out", "unused"]] {
        let mut args = command.to_vec();
        let path = fixture("refused_attributes.rs");
        args.push(&path);
        let run = roam(&args);
        assert_ne!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.is_empty());
        let lines: Vec<&str> = run.stderr.lines().collect();
        let errors: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("tests/fixtures/"))
            .collect();
        assert_eq!(errors.len(), 4, "{}", run.stderr);
        for (error, prefix) in errors.iter().zip([
            "tests/fixtures/refused_attributes.rs:5:13: error: `#[facet(flatten)]` is not supported",
            "tests/fixtures/refused_attributes.rs:7:13: error: a `#[facet(skip)]` field needs a default",
            "tests/fixtures/refused_attributes.rs:12:22: error: `rename_all` takes one of facet's styles",
            "tests/fixtures/refused_attributes.rs:14:13: error: `#[facet(skip_serializing)]` alone is not supported",
        ]) {
            assert!(error.starts_with(prefix), "{error}\n{}", run.stderr);
        }
        // Each error is followed by its source line and a caret at the argument.
        let at = lines
            .iter()
            .position(|l| l.starts_with("tests/fixtures/refused_attributes.rs:5:13"))
            .expect("the flatten error");
        let column = lines[at + 1].find("flatten").expect("the source line");
        assert_eq!(lines[at + 2].find('^'), Some(column), "{}", run.stderr);
    }
}

/// Runs `roam schema` and `roam gen typescript` on a fixture with one malformed
/// `#[roam(...)]`: both refuse it with the same diagnostic (exit 2 and 1).
fn roam_attribute_error(name: &str) -> String {
    let path = fixture(name);
    let schema = roam(&["schema", "--json", &path]);
    assert_eq!(schema.code, 2, "{}", schema.stderr);
    assert!(schema.stdout.is_empty());
    let out = gen_out(&format!("gen-{name}"));
    let generated = roam(&[
        "gen",
        "typescript",
        "--out",
        out.to_str().expect("utf-8 path"),
        &path,
    ]);
    assert_eq!(generated.code, 1, "{}", generated.stderr);
    assert_eq!(generated.stderr, schema.stderr);
    assert!(
        !out.exists(),
        "nothing is written when the input has errors"
    );
    schema.stderr
}

#[test]
fn an_unknown_roam_flag_is_reported_at_its_name() {
    assert_eq!(
        roam_attribute_error("roam_attribute_unknown.rs"),
        "tests/fixtures/roam_attribute_unknown.rs:3:12: error: `#[roam(retry)]` is not supported: on a service method `#[roam(...)]` supports only `#[roam(idempotent)]` (the method is safe to run more than once, so a reconnecting client may re-send it)\n 3 |     #[roam(retry)]\n   |            ^\n1 error found; no output was produced\n"
    );
}

#[test]
fn a_roam_flag_with_a_value_is_reported_at_the_value() {
    assert_eq!(
        roam_attribute_error("roam_attribute_value.rs"),
        "tests/fixtures/roam_attribute_value.rs:3:23: error: `idempotent` takes no value: write `#[roam(idempotent)]`, or leave it out for a method that is not idempotent\n 3 |     #[roam(idempotent = true)]\n   |                       ^\n1 error found; no output was produced\n"
    );
}

#[test]
fn a_repeated_roam_flag_is_reported_at_the_repetition() {
    assert_eq!(
        roam_attribute_error("roam_attribute_repeated.rs"),
        "tests/fixtures/roam_attribute_repeated.rs:5:12: error: `idempotent` is given more than once; write `#[roam(idempotent)]` once\n 5 |     #[roam(idempotent)]\n   |            ^\n1 error found; no output was produced\n"
    );
}

#[test]
fn idempotent_methods_are_marked_in_the_schema_json() {
    let run = roam(&["schema", "--json", &fixture("calculator.rs")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("valid JSON");
    let methods = doc["services"][0]["methods"].as_array().expect("methods");
    // `add` is `#[roam(idempotent)]`; the key is left out for the others.
    assert_eq!(methods[0]["name"], "add");
    assert_eq!(methods[0]["idempotent"], true);
    assert!(
        methods[1..].iter().all(|m| m.get("idempotent").is_none()),
        "{}",
        run.stdout
    );
}

#[test]
fn renamed_names_are_what_the_schema_carries() {
    use roam_core::schema::{Field, PrimitiveKind, Schema, StructKind};
    let run = roam(&["schema", "--json", &fixture("renamed.rs")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The method returns `Profile` as written, whose schema is `Account { userName, lvl }`:
    // renamed by `#[facet(rename)]` and `rename_all`, without the skipped `cache`.
    let account = Schema::Struct {
        name: "Account".into(),
        kind: StructKind::Named,
        fields: vec![
            Field::new("userName", Schema::Primitive(PrimitiveKind::String)),
            Field::defaulted("lvl", Schema::Primitive(PrimitiveKind::U8)),
        ],
    };
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let ok = &json["services"][0]["methods"][0]["schemas"]["ok"];
    assert_eq!(ok["type"], "Account", "{}", run.stdout);
    assert_eq!(
        ok["hash"],
        format!("{:#018x}", account.content_hash()),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("cache"), "{}", run.stdout);
}

#[test]
fn syntax_errors_name_the_file() {
    let file = tmp("broken.rs");
    std::fs::write(&file, "pub struct Oops {\n    x: u8,\n").expect("write");
    let run = roam(&["ids", file.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with(&format!("{}:", file.display())),
        "{}",
        run.stderr
    );
}

#[test]
fn usage_and_input_errors_exit_2() {
    assert_eq!(roam(&[]).code, 2);
    assert_eq!(roam(&["ids"]).code, 2);
    assert_eq!(roam(&["frobnicate", "x.rs"]).code, 2);
    assert_eq!(roam(&["check", &fixture("calculator.rs")]).code, 2);

    let missing = roam(&["ids", "tests/fixtures/does_not_exist.rs"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("cannot read `tests/fixtures/does_not_exist.rs`")
    );

    let not_rust = roam(&["ids", "tests/fixtures/crate/Cargo.toml"]);
    assert_eq!(not_rust.code, 2);
    assert!(not_rust.stderr.contains("is not a Rust source file"));

    let not_a_crate = roam(&["ids", "tests/fixtures/compat"]);
    assert_eq!(not_a_crate.code, 2);
    assert!(not_a_crate.stderr.contains("without a `src/` folder"));

    let bad_baseline = tmp("bad_baseline.json");
    std::fs::write(&bad_baseline, "{\"format\": 1}").expect("write");
    let run = roam(&[
        "check",
        "--baseline",
        bad_baseline.to_str().expect("utf-8 path"),
        &fixture("calculator.rs"),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("not a schema file written by `roam schema --json`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_tampered_baseline_is_refused() {
    let json = roam(&["schema", "--json", &fixture("calculator.rs")]).stdout;
    // Change the canonical bytes of `add`'s ok schema (i32 -> i64) but not its hash.
    let tampered = json.replacen("\"canonical\": \"010008\"", "\"canonical\": \"010009\"", 1);
    assert_ne!(tampered, json);
    let baseline = tmp("tampered.json");
    std::fs::write(&baseline, tampered).expect("write");
    let run = roam(&[
        "check",
        "--baseline",
        baseline.to_str().expect("utf-8 path"),
        &fixture("calculator.rs"),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("Calculator.add: schemas.ok: `hash`"),
        "{}",
        run.stderr
    );
}

#[test]
fn items_a_handler_writes_evolve_like_the_items_it_reads() {
    // The runtime translates the items a handler writes (the caller reads them through the
    // handler's announced item type), so a renamed item type is compatible on both channels.
    assert_compatible(
        "handler_item_renamed",
        "Clock.ticks: channel items, new peer -> old peer: argument `out`: `.0<item>`: the writer calls the type `Beat`, the reader `Tick`",
    );
    assert_compatible(
        "handler_item_renamed",
        "Clock.upload: channel items, old peer -> new peer: argument `input`: `.0<item>`: the writer calls the type `Tick`, the reader `Beat`",
    );
}

fn gen_out(name: &str) -> PathBuf {
    let dir = tmp(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn gen_typescript_writes_bindings_and_the_runtime() {
    let out = gen_out("gen-calculator");
    let out_arg = out.to_str().expect("utf-8 path");
    let run = roam(&[
        "gen",
        "typescript",
        "--out",
        out_arg,
        &fixture("calculator.rs"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(run.stdout.starts_with("wrote "), "{}", run.stdout);
    for file in [
        "types.ts",
        "calculator.ts",
        "index.ts",
        "runtime/session.ts",
        "runtime/index.ts",
    ] {
        let text = std::fs::read_to_string(out.join(file)).expect(file);
        assert!(
            text.starts_with("// @generated by `roam gen typescript`"),
            "{file} has the generated-file header"
        );
    }
    let first = std::fs::read_to_string(out.join("calculator.ts")).expect("calculator.ts");
    // A second run gives the same bytes, and removes what it no longer generates (and only
    // that: a file of the user's stays).
    std::fs::write(
        out.join("stale.ts"),
        "// @generated by `roam gen typescript`. DO NOT EDIT.\n",
    )
    .expect("write");
    std::fs::write(out.join("mine.ts"), "export const mine = 1;\n").expect("write");
    let again = roam(&[
        "gen",
        "typescript",
        "--out",
        out_arg,
        &fixture("calculator.rs"),
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(out.join("calculator.ts")).expect("calculator.ts"),
        first
    );
    assert!(!out.join("stale.ts").exists());
    assert!(out.join("mine.ts").exists());
}

#[test]
fn gen_typescript_help_has_examples() {
    let run = roam(&["gen", "typescript", "--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Examples:"), "{}", run.stdout);
    assert!(
        run.stdout.contains("roam gen typescript --out"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Exit status"), "{}", run.stdout);
}

#[test]
fn gen_usage_errors_exit_2() {
    // No --out.
    let run = roam(&["gen", "typescript", &fixture("calculator.rs")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--out"), "{}", run.stderr);
    // No language, or an unknown one.
    assert_eq!(roam(&["gen"]).code, 2);
    assert_eq!(roam(&["gen", "cobol", "--out", "x", "a.rs"]).code, 2);
    // --out names a file.
    let file = tmp("gen-out-is-a-file");
    std::fs::write(&file, "x").expect("write");
    let run = roam(&[
        "gen",
        "typescript",
        "--out",
        file.to_str().expect("utf-8 path"),
        &fixture("calculator.rs"),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is not a directory"), "{}", run.stderr);
}

#[test]
fn gen_input_errors_exit_1_with_the_source_line() {
    let out = gen_out("gen-errors");
    let out_arg = out.to_str().expect("utf-8 path");
    let run = roam(&[
        "gen",
        "typescript",
        "--out",
        out_arg,
        &fixture("unknown_type.rs"),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines[0]
            .starts_with("tests/fixtures/unknown_type.rs:5:16: error: unknown type `Elsewhere`"),
        "{}",
        run.stderr
    );
    // The source line, and a caret under column 16.
    assert!(
        lines[1].contains("| ") && lines[1].contains("Elsewhere"),
        "{}",
        run.stderr
    );
    assert_eq!(
        lines[2].find('^'),
        lines[1].find("Elsewhere"),
        "{}",
        run.stderr
    );
    assert!(
        !out.exists(),
        "nothing is written when the input has errors"
    );

    let refused = roam(&[
        "gen",
        "typescript",
        "--out",
        out_arg,
        &fixture("refused.rs"),
    ]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("refused.rs:3:29: error: `usize` is not supported")
    );

    let missing = roam(&[
        "gen",
        "typescript",
        "--out",
        out_arg,
        "tests/fixtures/nope.rs",
    ]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("cannot read `tests/fixtures/nope.rs`")
    );

    let clash = tmp("clash.rs");
    std::fs::write(
        &clash,
        "#[derive(Facet)]\npub struct C { pub a_b: u8, pub aB: u8 }\n#[roam::service]\npub trait S { async fn get(&self) -> C; }\n",
    )
    .expect("write");
    let run = roam(&[
        "gen",
        "typescript",
        "--out",
        out_arg,
        clash.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(":2:12: error: type `C`: `a_b` and `aB` both become `aB`"),
        "{}",
        run.stderr
    );
}

#[test]
fn gen_refuses_to_overwrite_a_package_json_it_did_not_write() {
    let out = gen_out("gen-foreign-package");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("package.json"), "{\"name\": \"mine\"}\n").expect("write");
    let run = roam(&[
        "gen",
        "typescript",
        "--out",
        out.to_str().expect("utf-8 path"),
        &fixture("calculator.rs"),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("a directory of its own"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(out.join("package.json")).expect("read"),
        "{\"name\": \"mine\"}\n"
    );
}
