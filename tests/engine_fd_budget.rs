//! The engine's descriptor budget (issue #14, problem 2), under a lowered `RLIMIT_NOFILE`.
//!
//! Before: each SplitShard + MergeShards cycle left three shard logs open until restart; under
//! a 1,024-descriptor limit cycle 337 failed, and a manifest commit that met `EMFILE` at its
//! directory fsync poisoned the engine (every later write failed until restart). Here the
//! process's soft limit is lowered to [`LIMIT`] (its own test binary, so no other test
//! shares the limit) and the engine is driven past what that limit would allow without the
//! budget. The tests take turns ([`serial`]): they count the process's descriptors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic
#![cfg(target_os = "linux")]

use std::sync::{Mutex, MutexGuard, Once};

use bytes::Bytes;
use shardlog::engine::files::{FDS_PER_LOG, MIN_OPEN_FILES, RESERVED_FDS};
use shardlog::engine::*;
use shardlog::{Engine, EngineConfig};

/// The soft descriptor limit of this test process.
const LIMIT: u64 = 256;

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    static LOWER: Once = Once::new();
    LOWER.call_once(|| {
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit { current: Some(LIMIT), maximum: now.maximum },
        )
        .unwrap();
    });
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn put(e: &Engine, stream: &str, key: &str) -> PutRecordOutput {
    e.put_record(PutRecordInput {
        stream: StreamRef::name(stream),
        partition_key: Some(key.into()),
        data: Bytes::from_static(b"payload"),
        ..Default::default()
    })
    .unwrap()
}

fn put_hash(e: &Engine, stream: &str, hash: u128) -> PutRecordOutput {
    e.put_record(PutRecordInput {
        stream: StreamRef::name(stream),
        partition_key: Some("k".into()),
        explicit_hash_key: Some(hash.to_string()),
        data: Bytes::from_static(b"payload"),
        ..Default::default()
    })
    .unwrap()
}

fn create(e: &Engine, name: &str, shards: u32) {
    e.create_stream(CreateStreamInput { stream_name: name.into(), shard_count: Some(shards), ..Default::default() })
        .unwrap();
}

fn open_shard(e: &Engine, stream: &str) -> String {
    let out = e
        .list_shards(ListShardsInput {
            stream: StreamRef::name(stream),
            shard_filter: Some(ShardFilter { filter_type: ShardFilterType::AtLatest, shard_id: None, timestamp: None }),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.shards.len(), 1);
    out.shards[0].shard_id.clone()
}

#[test]
fn split_and_merge_cycles_do_not_pile_up_descriptors() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    // The default budget: half of the lowered limit.
    let e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    create(&e, "churn", 1);
    create(&e, "other", 1);
    put(&e, "other", "a");
    let mut after_warmup = 0;
    // 150 cycles open 450 logs: far past the 256-descriptor limit without the budget.
    for cycle in 0..150 {
        let parent = open_shard(&e, "churn");
        put(&e, "churn", "k");
        e.split_shard(SplitShardInput {
            stream: StreamRef::name("churn"),
            shard_to_split: parent,
            new_starting_hash_key: (1u128 << 127).to_string(),
        })
        .unwrap();
        put_hash(&e, "churn", 1);
        put_hash(&e, "churn", u128::MAX);
        let kids = e
            .list_shards(ListShardsInput {
                stream: StreamRef::name("churn"),
                shard_filter: Some(ShardFilter {
                    filter_type: ShardFilterType::AtLatest,
                    shard_id: None,
                    timestamp: None,
                }),
                ..Default::default()
            })
            .unwrap()
            .shards;
        e.merge_shards(MergeShardsInput {
            stream: StreamRef::name("churn"),
            shard_to_merge: kids[0].shard_id.clone(),
            adjacent_shard_to_merge: kids[1].shard_id.clone(),
        })
        .unwrap();
        if cycle == 20 {
            after_warmup = open_fds();
        }
    }
    // Three logs opened and three closed per cycle: nothing accumulates (before: 390 more).
    let now = open_fds();
    assert!(now <= after_warmup + 4, "descriptors grew from {after_warmup} to {now} over 130 cycles");
    assert!(e.metrics().open_shard_logs <= 4, "{:?}", e.metrics().open_shard_logs);
    // Every stream still takes writes.
    put(&e, "other", "b");
    put(&e, "churn", "k");
    e.close().unwrap();
}

#[test]
fn more_shards_than_the_budget_all_take_writes_and_read_back() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let max_open_files = MIN_OPEN_FILES + 10;
    let max_logs = ((max_open_files - RESERVED_FDS) / FDS_PER_LOG) as u64;
    let config = EngineConfig { max_open_files, ..Default::default() };
    let e = Engine::open(dir.path(), config.clone()).unwrap();
    let before = open_fds();
    let streams = ["a", "b", "c", "d"];
    for s in streams {
        create(&e, s, 10);
    }
    let hashes: Vec<u128> = (0..10u128).map(|i| i * (u128::MAX / 10) + 7).collect();
    for round in 0..3 {
        for s in streams {
            for &h in &hashes {
                put_hash(&e, s, h);
                let m = e.metrics();
                assert!(m.open_shard_logs <= max_logs, "round {round}: {} shard logs open", m.open_shard_logs);
            }
        }
    }
    let held = open_fds().saturating_sub(before);
    assert!(held <= max_open_files, "{held} descriptors held for 40 shards with a budget of {max_open_files}");
    // Every shard reopens on demand and returns what was written.
    let check = |e: &Engine| {
        for s in streams {
            for i in 0..10u32 {
                let it = e
                    .get_shard_iterator(GetShardIteratorInput {
                        stream: StreamRef::name(s),
                        shard_id: format!("shardId-{i:012}"),
                        shard_iterator_type: ShardIteratorType::TrimHorizon,
                        starting_sequence_number: None,
                        timestamp: None,
                        dry_run: false,
                    })
                    .unwrap();
                let got =
                    e.get_records(GetRecordsInput { shard_iterator: it.shard_iterator, ..Default::default() }).unwrap();
                assert_eq!(got.records.len(), 3, "{s} shard {i}");
            }
        }
    };
    check(&e);
    e.close().unwrap();
    drop(e);
    let e = Engine::open(dir.path(), config).unwrap();
    check(&e);
    e.close().unwrap();
}

#[test]
fn a_manifest_commit_survives_a_process_out_of_descriptors() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    // A budget larger than the process can give: the engine's own bound does not help, the
    // commit's fallback (closing idle logs) must.
    let e = Engine::open(dir.path(), EngineConfig { max_open_files: 100_000, ..Default::default() }).unwrap();
    create(&e, "wide", 50);
    let hashes: Vec<u128> = (0..50u128).map(|i| i * (u128::MAX / 50) + 3).collect();
    for &h in &hashes {
        put_hash(&e, "wide", h);
    }
    assert!(e.metrics().open_shard_logs >= 50);
    // Take every descriptor left.
    let mut hog = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        hog.push(f);
    }
    // The commit needs a temporary file and the directory: it frees idle logs to get them.
    create(&e, "late", 1);
    drop(hog);
    // Not poisoned: writes go on everywhere.
    put(&e, "late", "k");
    for &h in &hashes {
        put_hash(&e, "wide", h);
    }
    e.close().unwrap();
}
