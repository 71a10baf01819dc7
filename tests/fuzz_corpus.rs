//! Replays the stored fuzz corpora (`fuzz/corpus/<target>/`) and the minimised crash inputs
//! (`fuzz/regressions/<target>/`) through the same checks the fuzz targets run
//! (`fuzz/checks/mod.rs`), so every finding stays fixed under a plain `cargo test`.
//!
//! Library bugs that are reported but still open are listed in `checks::OPEN_BUGS` and
//! tolerated by the replays (the corpus may hold inputs that reach them); a named, ignored test
//! per bug reproduces it strictly. Once a bug is fixed, delete its id from `checks::OPEN_BUGS`
//! and the `#[ignore]` of its test.
//!
//! Seeds: `cargo test -p shardlog --test fuzz_corpus -- --ignored write_seed_corpus` writes
//! the library-generated seed inputs into `fuzz/corpus/<target>/seed-*`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

#[path = "../fuzz/checks/mod.rs"]
mod checks;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shardlog::batch::{self, MAX_BATCH_LEN};
use shardlog::index::{self, IndexEntry, SegmentSummary, SparseIndex};
use shardlog::io::sim::SimVfs;
use shardlog::io::Vfs;
use shardlog::marker::{self, CleanMarker};
use shardlog::segment;
use shardlog::{Durability, LogConfig, LogOptions, ManualClock, RecordRef, Sealing, ShardLog};

/// A fuzz target's check.
type Check = fn(&[u8]);

/// Every fuzz target and its check.
const TARGETS: &[(&str, Check)] = &[
    ("batch_decode", checks::batch_decode),
    ("segment_scan", checks::segment_scan),
    ("segment_recovery", checks::segment_recovery),
    ("index_files", checks::index_files),
    ("markers", checks::markers),
    ("manifest", checks::manifest),
    ("sequence_number", checks::sequence_number),
    ("iterator_token", checks::iterator_token),
    ("engine_ops", checks::engine_ops),
    ("queue_ops", checks::queue_ops),
    ("queue_log", checks::queue_log),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn regression(target: &str, file: &str) -> Vec<u8> {
    std::fs::read(fuzz_dir().join("regressions").join(target).join(file)).unwrap()
}

#[test]
fn corpora_replay_cleanly() {
    let mut n = 0;
    for (target, check) in TARGETS {
        let started = std::time::Instant::now();
        let replayed = checks::replay_stored(&fuzz_dir(), "corpus", target, *check);
        assert!(replayed > 0, "corpus of {target} is empty");
        eprintln!("{target}: {replayed} inputs in {:.1?}", started.elapsed());
        n += replayed;
    }
    eprintln!("replayed {n} corpus inputs");
}

#[test]
fn regressions_replay_cleanly() {
    for (target, check) in TARGETS {
        checks::replay_stored(&fuzz_dir(), "regressions", target, *check);
    }
}

#[test]
#[ignore = "writes the seed corpus; run on demand"]
fn write_seed_corpus() {
    for (target, name, bytes) in checks::seeds() {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn seeds_pass_their_checks() {
    for (target, name, bytes) in checks::seeds() {
        let check = TARGETS.iter().find(|(t, _)| *t == target).unwrap().1;
        if let Err(e) = std::panic::catch_unwind(|| check(&bytes)) {
            panic!("seed {target}/{name} fails: {}", checks::panic_message(e.as_ref()));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Findings: one named test per library bug the fuzzers found. Each states the expected
// behaviour through the public API, then replays the minimised fuzz input.
// ---------------------------------------------------------------------------------------

fn crc_fixed_batch(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = Vec::new();
    batch::encode_into(&mut b, 0, 5, &[RecordRef::new(b"k", b"v")], MAX_BATCH_LEN).unwrap();
    edit(&mut b);
    let mut h = crc32fast::Hasher::new();
    h.update(&b[..32]);
    h.update(&b[36..]);
    let crc = h.finalize();
    b[32..36].copy_from_slice(&crc.to_le_bytes());
    b
}

fn with_trailing_crc(mut b: Vec<u8>) -> Vec<u8> {
    let at = b.len() - 4;
    let crc = crc32fast::hash(&b[..at]);
    b[at..].copy_from_slice(&crc.to_le_bytes());
    b
}

#[test]
fn batch_header_flags_and_reserved_bytes_are_rejected() {
    for at in [5usize, 6, 7] {
        let b = crc_fixed_batch(|b| b[at] = 1);
        assert!(batch::verify(&b, MAX_BATCH_LEN).is_err(), "byte {at} = 1 accepted");
    }
    checks::strictly(|| checks::batch_decode(&regression("batch_decode", "reserved-header-bytes-accepted")));
}

#[test]
fn segment_header_reserved_bytes_are_rejected() {
    // Bytes 24..28 hold the at-rest key id (format.md); 6..8 stay reserved.
    for at in [6usize, 7] {
        let mut h = segment::encode_header(7, 1_000).to_vec();
        h[at] = 1;
        let h = with_trailing_crc(h);
        assert!(segment::decode_header(&h).is_err(), "byte {at} = 1 accepted");
    }
    checks::strictly(|| checks::segment_scan(&regression("segment_scan", "reserved-header-bytes-accepted")));
}

#[test]
fn marker_reserved_bytes_are_rejected() {
    let m = CleanMarker { base: 1, len: 2, end_offset: 3, max_arrival_ms: 4 };
    let mut clean = m.encode();
    clean[6] = 1;
    assert!(CleanMarker::decode(&with_trailing_crc(clean)).is_err());
    let mut horizon = marker::encode_horizon(12);
    horizon[7] = 2;
    assert!(marker::decode_horizon(&with_trailing_crc(horizon)).is_err());
    checks::strictly(|| checks::markers(&regression("markers", "reserved-header-bytes-accepted")));
}

#[test]
fn index_files_with_different_entry_counts_are_rejected() {
    let s = SegmentSummary { base_offset: 0, end_offset: 10, log_len: 1000, max_arrival_ms: 9 };
    let mut two = SparseIndex::new();
    two.maybe_add(IndexEntry { rel_offset: 0, position: 32, arrival_ms: 1 }, 1);
    two.maybe_add(IndexEntry { rel_offset: 5, position: 500, arrival_ms: 2 }, 1);
    let mut one = SparseIndex::new();
    one.maybe_add(IndexEntry { rel_offset: 0, position: 32, arrival_ms: 1 }, 1);
    let o = index::encode_offset_index(&two, &s);
    let t = index::encode_time_index(&one, &s);
    assert!(index::decode_index_files(&o, &t, 32).is_err(), "entry counts 2 and 1 accepted");
    checks::strictly(|| checks::index_files(&regression("index_files", "entry-counts-differ")));
}

fn sim_log(sim: &SimVfs, clock: &ManualClock, max_batch_bytes: u32) -> shardlog::Result<ShardLog> {
    let cfg = LogConfig {
        max_batch_bytes,
        segment_max_age: None,
        durability: Durability::Buffered,
        sealing: Sealing::Deferred,
        ..LogConfig::default()
    };
    ShardLog::open("/log", LogOptions::new(cfg).with_vfs(sim.shared()).with_clock(Arc::new(clock.clone())))
}

#[test]
fn recovery_keeps_batches_larger_than_a_lowered_max_batch_bytes() {
    let sim = SimVfs::new();
    let clock = ManualClock::new(1_000);
    let log = sim_log(&sim, &clock, 1 << 20).unwrap();
    log.append(&[RecordRef::new(b"k", &[7u8; 100])]).unwrap();
    log.close().unwrap();
    drop(log);
    // An unclean shutdown (no CLEAN marker) forces the scan.
    sim.remove_file(Path::new("/log/CLEAN")).unwrap();
    let log = sim_log(&sim, &clock, 64).unwrap();
    assert_eq!(log.high_watermark(), 1, "an acknowledged, synced 143-byte batch was cut");
    checks::strictly(|| checks::segment_recovery(&regression("segment_recovery", "max-batch-shrink-cuts-records")));
}

#[test]
fn append_at_the_end_of_the_offset_space_is_an_error_not_a_panic() {
    let sim = SimVfs::new();
    sim.create_dir_all(Path::new("/log")).unwrap();
    let f = sim.create(Path::new("/log/HORIZON")).unwrap();
    f.write_all_at(&marker::encode_horizon(u64::MAX), 0).unwrap();
    let clock = ManualClock::new(1_000);
    let log = sim_log(&sim, &clock, 1 << 20).unwrap();
    assert_eq!(log.high_watermark(), u64::MAX);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| log.append(&[RecordRef::new(b"k", b"v")])));
    assert!(matches!(r, Ok(Err(_))), "append at offset u64::MAX must be a typed error");
    checks::strictly(|| checks::segment_recovery(&regression("segment_recovery", "offset-exhaustion-append-panics")));
}

#[test]
fn recovery_rejects_a_horizon_past_the_end_of_the_log() {
    let sim = SimVfs::new();
    let clock = ManualClock::new(1_000);
    let log = sim_log(&sim, &clock, 1 << 20).unwrap();
    for _ in 0..3 {
        log.append(&[RecordRef::new(b"k", b"v")]).unwrap();
    }
    log.close().unwrap();
    drop(log);
    let f = sim.create(Path::new("/log/HORIZON")).unwrap();
    f.write_all_at(&marker::encode_horizon(10), 0).unwrap();
    if let Ok(log) = sim_log(&sim, &clock, 1 << 20) {
        let a = log.append(&[RecordRef::new(b"k", b"new")]).unwrap();
        assert!(
            a.first_offset >= log.start_offset(),
            "append got offset {} below the start offset {}: readers never see it",
            a.first_offset,
            log.start_offset()
        );
    }
    checks::strictly(|| checks::segment_recovery(&regression("segment_recovery", "horizon-past-end-hides-appends")));
}

#[test]
fn read_over_a_sealed_segment_that_ends_early_reports_corruption() {
    let sim = SimVfs::new();
    let clock = ManualClock::new(1_000);
    let log = sim_log(&sim, &clock, 1 << 20).unwrap();
    for _ in 0..4 {
        log.append(&[RecordRef::new(b"k", b"v")]).unwrap();
    }
    log.close().unwrap();
    drop(log);
    sim.remove_file(Path::new("/log/CLEAN")).unwrap();
    // Offsets 4..132 are missing: a newest segment at 132 holding one batch ...
    let mut seg = segment::encode_header(132, 1_000).to_vec();
    batch::encode_into(&mut seg, 132, 1_001, &[RecordRef::new(b"k", b"late")], MAX_BATCH_LEN).unwrap();
    sim.create(Path::new("/log/00000000000000000132.log")).unwrap().write_all_at(&seg, 0).unwrap();
    // ... and index files for segment 0 (CRC-valid, right length) that say it runs up to 132.
    let len = sim.file_content(Path::new("/log/00000000000000000000.log")).unwrap().len() as u64;
    let s = SegmentSummary { base_offset: 0, end_offset: 132, log_len: len, max_arrival_ms: 1_000 };
    let mut ix = SparseIndex::new();
    ix.maybe_add(IndexEntry { rel_offset: 0, position: 32, arrival_ms: 1_000 }, 1);
    let p = segment::SegmentPaths::new(Path::new("/log"), 0);
    sim.create(&p.offset_index).unwrap().write_all_at(&index::encode_offset_index(&ix, &s), 0).unwrap();
    sim.create(&p.time_index).unwrap().write_all_at(&index::encode_time_index(&ix, &s), 0).unwrap();

    let log = sim_log(&sim, &clock, 1 << 20).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| log.read(0, 100, usize::MAX)));
    match r {
        Ok(Err(shardlog::Error::Corrupt { .. })) => {}
        Ok(Ok(res)) => panic!(
            "read returned offsets {:?} (a silent gap) instead of Corrupt",
            res.records.iter().map(|r| r.offset).collect::<Vec<_>>()
        ),
        Ok(Err(e)) => panic!("expected Corrupt, got {e}"),
        Err(_) => panic!("read panicked"),
    }
    checks::strictly(|| checks::segment_recovery(&regression("segment_recovery", "forged-sealed-index-hides-gap")));
}

/// Found by `sequence_number` (a harness bug, not a library one): a valid number may carry a
/// non-zero `byte1` (AWS-issued numbers do; ours never), which `SequenceNumber::new` cannot
/// express. Parsing keeps it, and printing gives the same text back.
#[test]
fn a_sequence_number_with_a_non_zero_byte1_round_trips() {
    let input = regression("sequence_number", "nonzero-byte1");
    let text = std::str::from_utf8(&input[1..]).unwrap();
    let n = shardlog::kinesis::SequenceNumber::parse(text).unwrap();
    assert_eq!(n.byte1(), 223);
    assert_eq!(n.to_string(), text);
    checks::strictly(|| checks::sequence_number(&input));
}

/// Found by `manifest`: a MANIFEST (valid CRC) holding streams named `""` (twice, one
/// deleting) and `"\0"`, retention 0 h and no shards decoded, the engine opened on it, and a
/// clean close + reopen changed which streams were listed. The decoder now refuses every value
/// the API could not have stored, so the engine refuses to open it.
#[test]
fn a_manifest_with_values_the_api_refuses_does_not_open() {
    let input = regression("manifest", "invalid-and-repeated-stream-names");
    checks::strictly(|| checks::manifest(&input));
    let sim = SimVfs::new();
    let dir = Path::new(checks::engine_state::ROOT);
    sim.create_dir_all(dir).unwrap();
    let bytes = checks::manifest::manifest_bytes(&input);
    assert!(shardlog::catalog::codec::decode(&bytes).unwrap_err().contains("name"));
    sim.create(&dir.join("MANIFEST")).unwrap().write_all_at(&bytes, 0).unwrap();
    let err = checks::engine_state::open(&sim, &ManualClock::new(checks::engine_state::T0)).unwrap_err();
    assert!(matches!(err, shardlog::Error::Corrupt { .. }), "{err}");
}

/// Found by `segment_recovery` (10-minute run): a CRC-valid CLEAN marker and index files that
/// agree with a newest segment whose last batch is torn made recovery trust them without a
/// scan; the next append was acknowledged at the end of the torn bytes and could not be read
/// back. Recovery now verifies the tail (from the last index entry to the end) before trusting
/// a marker, and falls back to the full scan otherwise.
#[test]
fn a_clean_marker_over_a_torn_tail_is_not_trusted() {
    checks::strictly(|| checks::segment_recovery(&regression("segment_recovery", "clean-marker-over-a-torn-tail")));
}

/// Found by `segment_recovery` (a harness gap, not a library bug): a newest segment based at
/// the last offset (2^63 − 1) recovers, and the next append is refused with a typed
/// "is full" error that changes nothing; the check used to demand that the append succeed.
#[test]
fn a_segment_at_the_last_offset_refuses_appends_with_a_typed_error() {
    checks::strictly(|| checks::segment_recovery(&regression("segment_recovery", "segment-at-the-last-offset")));
}

/// Found by `segment_recovery` (the 60-second CI gate): a sealed segment's forged index entry
/// pointed offset 0 at a later batch, and a read returned records with a hole (a `debug_assert`
/// in debug builds, silently missing records in release). Reads now refuse a wanted batch that
/// starts past the next offset due, with a corruption error.
#[test]
fn a_forged_sealed_index_entry_past_its_offset_is_corruption_not_a_hole() {
    checks::strictly(|| {
        checks::segment_recovery(&regression("segment_recovery", "forged-sealed-index-points-past-the-offset"))
    });
}

/// Found by `queue_log`: a forged (CRC-valid) queue snapshot whose epoch is `u64::MAX`
/// overflowed the epoch counter at the next compaction (a panic in debug builds). A
/// compaction now refuses with a typed error and leaves the store as it was.
#[test]
fn a_queue_snapshot_at_the_last_epoch_refuses_compaction_with_a_typed_error() {
    use shardlog::queue::{frame::LogHeader, snapshot, QueueConfig, QueueOptions, QueueSpec, QueueStore};
    let sim = SimVfs::new();
    let opts = || {
        QueueOptions::new(Durability::Buffered, shardlog::kinesis::TokenKey::from_bytes([1; 32])).with_vfs(sim.shared())
    };
    let spec = QueueSpec { uid: 1, config: QueueConfig::default(), now_ms: 0, start_positions: vec![(0, 0)] };
    let store = QueueStore::create("/q", opts(), spec).unwrap();
    let state = store.state_copy();
    drop(store);
    let snap = snapshot::encode(1, u64::MAX, &state);
    sim.create(Path::new("/q/snapshot")).unwrap().write_all_at(&snap, 0).unwrap();
    let header = LogHeader { queue_uid: 1, epoch: u64::MAX }.encode();
    sim.create(Path::new("/q/log")).unwrap().write_all_at(&header, 0).unwrap();
    let store = QueueStore::open("/q", opts(), 1, QueueConfig::default(), 0).unwrap();
    assert!(matches!(store.compact(), Err(shardlog::Error::Corrupt { .. })));
    assert_eq!(store.poisoned(), None);
    assert_eq!(store.state_copy(), state);
    checks::strictly(|| checks::queue_log(&regression("queue_log", "snapshot-epoch-at-its-maximum")));
}
