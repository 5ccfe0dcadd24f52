//! Generates the tonic client/server glue from `proto/peers.proto`.
//!
//! The machine has no system `protoc`: the `protoc-bin-vendored` crate ships one, and prost-build
//! finds it through `PROTOC`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto/peers.proto");
    tonic_prost_build::configure().compile_protos(&["proto/peers.proto"], &["proto"])?;
    Ok(())
}
