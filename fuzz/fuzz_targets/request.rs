//! Fuzz target `request`: the checks live in `checks/request.rs` (shared with
//! `cli/tests/fuzz_corpus.rs`).
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;
#[path = "../checks/request.rs"]
mod request;

libfuzzer_sys::fuzz_target!(|data: &[u8]| request::request(data));
