//! Replays the stored corpus (`fuzz/corpus/request/`) and minimised findings
//! (`fuzz/regressions/request/`) of the `request` fuzz target — the request parser and
//! validator of `shardlog serve` — through the same checks (`fuzz/checks/request.rs`), so every
//! finding stays fixed under a plain `cargo test`. The other targets replay in the library's
//! `tests/fuzz_corpus.rs`.
//!
//! Seeds: `cargo test -p shardlog-server --test fuzz_corpus -- --ignored write_seed_corpus`.

#[allow(unused_imports)]
#[path = "../../fuzz/checks/mod.rs"]
mod checks;
#[path = "../../fuzz/checks/request.rs"]
mod request;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn replay(kind: &str) -> usize {
    checks::replay_stored(&fuzz_dir(), kind, "request", request::request)
}

#[test]
fn corpus_replays_cleanly() {
    let n = replay("corpus");
    eprintln!("replayed {n} corpus inputs");
    assert!(n > 0, "the request corpus is empty");
}

#[test]
fn regressions_replay_cleanly() {
    replay("regressions");
}

/// Every seed is a well-formed request the fixture accepts, so fuzzing starts from requests
/// that reach the engine, in both codecs.
#[test]
fn seeds_are_accepted_requests() {
    let seeds = request::seeds();
    assert_eq!(seeds.len(), 2 * 27);
    for (name, data) in seeds {
        let (_, _, result, ..) = request::run(&data).unwrap_or_else(|| panic!("seed {name} does not decode"));
        if let Err(e) = result {
            panic!("seed {name} was refused: {} {:?}", e.code, e.message);
        }
        request::request(&data);
    }
}

#[test]
#[ignore = "writes fuzz/corpus/request/seed-*"]
fn write_seed_corpus() {
    let dir = fuzz_dir().join("corpus").join("request");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, data) in request::seeds() {
        std::fs::write(dir.join(name), data).unwrap();
    }
}
