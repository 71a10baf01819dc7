//! The README's quick start is `examples/quickstart.rs` word for word, and it runs twice in a
//! row over the same directory (the second run keeps the stream and appends again).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

// The example's items (and its `main`) at this crate's root; the test harness has its own
// entry point.
include!("../examples/quickstart.rs");

#[test]
fn the_readme_quick_start_is_the_example() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/quickstart.rs");
    assert!(
        readme.contains(&format!("```rust\n{example}```\n")),
        "README.md's quick start differs from examples/quickstart.rs: copy the example into the README"
    );
}

#[test]
fn the_quick_start_runs_twice_in_a_row_in_a_temporary_directory() {
    let tmp = tempfile::tempdir().unwrap();
    // The example writes under the temporary directory: point it at a fresh one (no other
    // test in this binary reads the environment).
    std::env::set_var("TMPDIR", tmp.path());
    assert_eq!(std::env::temp_dir(), tmp.path());
    main().expect("first run");
    main().expect("second run over the same directory");
    assert!(tmp.path().join("shardlog-quickstart/MANIFEST").exists());
}
