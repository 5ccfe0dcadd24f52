//! Frames (split off the input by length bytes), timer advances and application commands fed
//! to a session of either role, fresh or established; checks what it sends and does after
//! every step. The input format is `session_driver::parse`'s.
#![no_main]

// Shared with the property test `tests/session_fuzz.rs`; only `fuzz_session` is used here.
#[allow(dead_code)]
#[path = "../../tests/support/session_driver.rs"]
mod session_driver;

libfuzzer_sys::fuzz_target!(|data: &[u8]| session_driver::fuzz_session(data));
