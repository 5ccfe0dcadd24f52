//! Any bytes as a frame body: `wire::decode` refuses or decodes them without panicking, and a
//! decoded message re-encodes to bytes that decode to the same message.
#![no_main]

// Shared with the property test `tests/session_fuzz.rs`; only `fuzz_decode` is used here.
#[allow(dead_code)]
#[path = "../../tests/support/session_driver.rs"]
mod session_driver;

libfuzzer_sys::fuzz_target!(|data: &[u8]| session_driver::fuzz_decode(data));
