//! Compile tests of `#[roam::service]`.
//!
//! - `ui/pass/*.rs` must compile and run: they cover every accepted shape, implement the trait,
//!   serve it and call it through the generated client.
//! - `ui/fail/*.rs` must fail to compile with exactly the checked-in `.stderr`: one refused shape
//!   per file, so each message and the token it points at are pinned.
//!
//! The `.stderr` files depend on the compiler version (the workspace's pinned toolchain).
//! After an intended change, regenerate them with `TRYBUILD=overwrite cargo test -p roam-macros
//! --test ui` and read every diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
