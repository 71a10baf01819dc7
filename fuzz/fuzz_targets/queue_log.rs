//! Fuzz target `queue_log`: the checks live in `checks/` (shared with `tests/fuzz_corpus.rs`).
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::queue_log(data));
