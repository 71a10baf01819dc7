//! The README's queue quick start (buffer users) is `examples/queue_quickstart.rs` word for
//! word, and it runs twice in a row over the same directory (the second run keeps the
//! stream and queue and receives the new record).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

include!("../examples/queue_quickstart.rs");

#[test]
fn the_readme_queue_quick_start_is_the_example() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/queue_quickstart.rs");
    assert!(
        readme.contains(&format!("```rust\n{example}```\n")),
        "README.md's queue quick start differs from examples/queue_quickstart.rs: copy the example into the README"
    );
}

#[test]
fn the_queue_quick_start_runs_twice_in_a_row_in_a_temporary_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("TMPDIR", tmp.path());
    assert_eq!(std::env::temp_dir(), tmp.path());
    main().expect("first run");
    main().expect("second run over the same directory");
    let engine = shardlog::Engine::open(tmp.path().join("shardlog-jobs"), shardlog::EngineConfig::default()).unwrap();
    let left = engine.queue("orders", "workers").unwrap().receive(100, std::time::Duration::ZERO).unwrap();
    assert!(left.is_empty(), "both runs acknowledged what they received");
}
