//! Fuzz target `batch_decode`: the checks live in `checks/mod.rs` (shared with `tests/fuzz_corpus.rs`).
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::batch_decode(data));
