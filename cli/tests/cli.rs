//! The `shardlog` binary end to end: bench into a directory, inspect and verify it, damage it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shardlog::batch;
use shardlog::segment::SEGMENT_HEADER_LEN;

fn shardlog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shardlog")).args(args).output().expect("run shardlog")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run a small bench that keeps its data in `dir`: 4,000 records over several 64 KiB segments.
fn bench_into(dir: &Path) -> Output {
    let d = dir.to_str().unwrap();
    let o = shardlog(&[
        "bench",
        "--dir",
        d,
        "--records",
        "4000",
        "--record-size",
        "60",
        "--batch",
        "50",
        "--segment-bytes",
        "65536",
    ]);
    assert!(o.status.success(), "bench failed: {}\n{}", stdout(&o), stderr(&o));
    o
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// Byte positions of the batches in a segment file.
fn batch_starts(content: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN as usize;
    while let Ok(h) = batch::decode_header(&content[pos..], batch::MAX_BATCH_LEN) {
        out.push(pos);
        pos += h.batch_len as usize;
    }
    assert_eq!(pos, content.len(), "segment does not end at a batch boundary");
    out
}

#[test]
fn bench_then_inspect_and_verify_a_kept_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let o = bench_into(&dir);
    let out = stdout(&o);
    assert!(out.contains("append   shardlog"), "{out}");
    assert!(out.contains("baseline"), "{out}");
    assert!(out.contains("Kinesis per-shard write target"), "{out}");
    assert!(out.contains(&format!("shardlog verify {}", dir.display())), "{out}");
    // Only the shard log is left in the directory (the baseline file lived elsewhere).
    let segs = segments(&dir);
    assert!(segs.len() >= 4, "expected several segments, got {segs:?}");

    let o = shardlog(&["inspect", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for s in &segs {
        assert!(out.contains(s.file_name().unwrap().to_str().unwrap()), "{out}");
    }
    assert!(out.contains("(active)"), "{out}");
    assert!(out.contains("4,000 records retained"), "{out}");
    assert!(out.contains(&format!("total ({} segments)", segs.len())), "{out}");
    assert!(out.contains("closed cleanly"), "{out}");
    assert!(out.contains("no problems found"), "{out}");

    let o = shardlog(&["verify", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("OK: 1 shard log(s)"), "{}", stdout(&o));
    assert!(stdout(&o).contains("4,000 records checked"), "{}", stdout(&o));

    // verify on the parent finds the shard log below it.
    let o = shardlog(&["verify", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("OK: 1 shard log(s)"), "{}", stdout(&o));
}

#[test]
fn a_flipped_byte_in_a_sealed_segment_fails_verify_naming_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    bench_into(&dir);
    let segs = segments(&dir);
    let victim = &segs[1];
    let mut content = std::fs::read(victim).unwrap();
    let starts = batch_starts(&content);
    let target = starts[2];
    content[target + 100] ^= 0x01;
    std::fs::write(victim, &content).unwrap();

    let o = shardlog(&["verify", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let expected = format!("{}: byte {target}: corrupt:", victim.display());
    assert!(out.lines().any(|l| l.starts_with(&expected)), "expected a line starting {expected:?} in:\n{out}");
    assert!(out.contains("CRC"), "{out}");
    assert!(out.contains("FAILED: 1 error(s)"), "{out}");
    // inspect still works and shows the problem, exit 0.
    let o = shardlog(&["inspect", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("1 problem(s), 1 of them error(s)"), "{}", stdout(&o));
}

#[test]
fn a_deleted_middle_segment_is_a_gap_and_a_torn_tail_only_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    bench_into(&dir);
    let segs = segments(&dir);

    // A crash that tore the active segment's last batch: recoverable, exit 0 with a warning.
    let active = segs.last().unwrap();
    let len = std::fs::metadata(active).unwrap().len();
    let last_batch = *batch_starts(&std::fs::read(active).unwrap()).last().unwrap();
    std::fs::OpenOptions::new().write(true).open(active).unwrap().set_len(len - 7).unwrap();
    std::fs::remove_file(dir.join("CLEAN")).unwrap();
    let o = shardlog(&["verify", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("{}: byte {last_batch}: torn tail", active.display())), "{out}");
    assert!(out.contains("OK with 1 warning(s)"), "{out}");

    // A missing middle segment is a gap.
    std::fs::remove_file(&segs[1]).unwrap();
    let o = shardlog(&["verify", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.lines().any(|l| l.starts_with(&format!("{}: byte 0: gap:", segs[2].display()))), "{out}");
}

#[test]
fn missing_directories_and_bad_arguments_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-dir");
    for cmd in ["verify", "inspect"] {
        let o = shardlog(&[cmd, missing.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert!(stderr(&o).contains("no such directory"), "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains(missing.to_str().unwrap()), "{}", stderr(&o));
    }
    let o = shardlog(&["verify"]);
    assert_eq!(o.status.code(), Some(2));
    let o = shardlog(&["bench", "--durability", "sometimes"]);
    assert_eq!(o.status.code(), Some(2));
    let o = shardlog(&["bench", "--records", "0"]);
    assert_eq!(o.status.code(), Some(2));
    // A non-empty --dir is refused rather than appended to.
    let full = tempfile::tempdir().unwrap();
    std::fs::write(full.path().join("x"), b"x").unwrap();
    let o = shardlog(&["bench", "--dir", full.path().to_str().unwrap(), "--records", "10"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    // An empty directory verifies with a warning.
    let empty = tempfile::tempdir().unwrap();
    let o = shardlog(&["verify", empty.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("no shard logs"), "{}", stdout(&o));
}

#[test]
fn bench_json_is_one_object_with_both_sides_of_each_ratio() {
    for durability in ["buffered", "sync"] {
        let o = shardlog(&["bench", "--records", "2000", "--batch", "100", "--durability", durability, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
        assert_eq!(v["records"], 2000);
        assert_eq!(v["durability"], durability);
        for phase in ["append", "read"] {
            let ours = v[phase]["shardlog"]["records_per_s"].as_f64().unwrap();
            let base = v[phase]["baseline"]["records_per_s"].as_f64().unwrap();
            let ratio = v[phase]["ratio"].as_f64().unwrap();
            assert!(ours > 0.0 && base > 0.0);
            assert!((ratio - ours / base).abs() < 1e-9 * ratio.max(1.0));
        }
        assert!(v["kinesis_per_shard_target"]["multiple"].as_f64().unwrap() > 0.0);
        assert_eq!(v["dir"], serde_json::Value::Null);
    }
}
