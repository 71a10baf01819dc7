//! Replays the stored corpus (`fuzz/corpus/request/`) and minimised findings
//! (`fuzz/regressions/request/`) of the `request` fuzz target — the request parser and
//! validator of `shardlog serve` — through the same checks (`fuzz/checks/request.rs`), so every
//! finding stays fixed under a plain `cargo test`. The other targets replay in the library's
//! `tests/fuzz_corpus.rs`.
//!
//! Seeds: `cargo test -p shardlog-server --test fuzz_corpus -- --ignored write_seed_corpus`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

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
    assert_eq!(seeds.len(), 2 * 39);
    for (name, data) in seeds {
        let (_, _, result, ..) = request::run(&data).unwrap_or_else(|| panic!("seed {name} does not decode"));
        if let Err(e) = result {
            panic!("seed {name} was refused: {} {:?}", e.code, e.message);
        }
        request::request(&data);
    }
}

/// The model-valid message check of the `request` target accepts AWS's form and catches
/// each way a message can stray from the model.
#[test]
fn the_model_message_check_catches_strays() {
    use shardlog_server::protocol::errors::ApiError;
    use shardlog_server::protocol::ops::Op;
    let check = |op: Op, msg: &str| {
        std::panic::catch_unwind(|| request::check_model_valid(op, &ApiError::validation(msg.to_string()))).is_ok()
    };
    let item = |v: &str, path: &str, c: &str| format!("Value {v} at '{path}' failed to satisfy constraint: {c}");
    let ok = format!(
        "2 validation errors detected: {}; {}",
        item("'0'", "shardCount", "Member must have value greater than or equal to 1"),
        item("'a'; Value 'b' at 'x'", "streamName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    );
    assert!(check(Op::CreateStream, &ok), "{ok}");
    let records =
        format!("1 validation error detected: {}", item("null", "records.3.member.data", "Member must not be null"));
    assert!(check(Op::PutRecords, &records));
    let one = |i: String| format!("1 validation error detected: {i}");
    for (op, bad) in [
        // A member the operation does not have.
        (Op::GetRecords, one(item("'1'", "shardCount", "Member must have value greater than or equal to 1"))),
        // A looser bound than the model's.
        (Op::CreateStream, one(item("'x'", "streamName", "Member must have length less than or equal to 129"))),
        // Another pattern.
        (Op::CreateStream, one(item("'x'", "streamName", "Member must satisfy regular expression pattern: .*"))),
        // null for a member that is not required, and a value for not-null.
        (Op::DescribeStream, one(item("null", "streamName", "Member must not be null"))),
        (Op::CreateStream, one(item("'x'", "streamName", "Member must not be null"))),
        // A count that does not match the items.
        (
            Op::CreateStream,
            format!(
                "3 validation errors detected: {}",
                item("'0'", "shardCount", "Member must have value greater than or equal to 1")
            ),
        ),
        (Op::CreateStream, "Something went wrong".to_string()),
    ] {
        assert!(!check(op, &bad), "accepted for {op:?}: {bad}");
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
