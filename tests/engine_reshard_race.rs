//! Puts racing reshards.
//!
//! Several producer threads put continuously (each its own partition keys, a per-key counter
//! in the data) while a resharder thread runs splits, merges and `update_shard_count`s, each
//! one only after more puts were acknowledged since the previous one (a spin on an atomic
//! counter fed by the producers: no sleeps, and bounded because the producers always make
//! progress). A consumer thread tails the stream with a `LineageReader` meanwhile. Afterwards:
//!
//! - every acknowledged put is stored exactly once across the stream, in the shard and under
//!   the sequence number its acknowledgement named, and nothing else is stored;
//! - every closed shard reads to its end (no next iterator), holds exactly the offsets below
//!   the end offset its catalog entry records, all its records' sequence numbers are below its
//!   `EndingSequenceNumber`, and none arrived after it closed; no record in a child arrived
//!   before the child was created — so each record went to a shard that was open when it
//!   was appended;
//! - the tailing `LineageReader` and a fresh one from TRIM_HORIZON each return every
//!   acknowledged record exactly once, in per-key order.
//!
//! Run twice: on the in-memory `SimVfs` with `Durability::Sync` (group commit on every put)
//! and on a real temporary directory with `Durability::Buffered`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use bytes::Bytes;
use shardlog::catalog::store::ManifestStore;
use shardlog::engine::lineage::{LineageReader, LineageStart};
use shardlog::engine::*;
use shardlog::io::sim::SimVfs;
use shardlog::io::{RealVfs, VfsRef};
use shardlog::{Durability, Engine, EngineConfig, LogConfig, ManualClock};

const T0: i64 = 1_767_225_600_000;
const PRODUCERS: usize = 3;
/// Keys per producer.
const KEYS: usize = 6;
/// Each producer puts at least this many records, and keeps going until the resharder is done.
const MIN_PUTS: usize = 300;
/// Safety bound on one producer's puts.
const MAX_PUTS: usize = 200_000;
/// Acknowledged puts required between two reshards.
const GAP: usize = 40;

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Split the widest open shard in the middle.
    Split,
    /// Merge the two open shards lowest in hash order.
    Merge,
    /// UpdateShardCount to this target.
    Scale(u32),
}

const PLAN: [Op; 12] = [
    Op::Split,
    Op::Split,
    Op::Merge,
    Op::Scale(5),
    Op::Merge,
    Op::Split,
    Op::Scale(3),
    Op::Merge,
    Op::Scale(4),
    Op::Split,
    Op::Merge,
    Op::Split,
];

fn stream() -> StreamRef {
    StreamRef::name("race")
}

/// An acknowledged put.
#[derive(Debug, Clone)]
struct Acked {
    key: String,
    counter: u32,
    data: Bytes,
    shard_id: String,
    seq: SequenceNumber,
}

fn open_shards(e: &Engine) -> Vec<Shard> {
    let mut v = e
        .list_shards(ListShardsInput {
            stream: stream(),
            shard_filter: Some(ShardFilter { filter_type: ShardFilterType::AtLatest, shard_id: None, timestamp: None }),
            ..Default::default()
        })
        .unwrap()
        .shards;
    v.sort_by_key(|s| s.hash_key_range.starting_hash_key);
    v
}

fn reshard(e: &Engine, op: Op) {
    let open = open_shards(e);
    match op {
        Op::Split => {
            let s = open
                .iter()
                .max_by_key(|s| s.hash_key_range.ending_hash_key - s.hash_key_range.starting_hash_key)
                .unwrap();
            let r = s.hash_key_range;
            let mid = r.starting_hash_key + (r.ending_hash_key - r.starting_hash_key) / 2;
            e.split_shard(SplitShardInput {
                stream: stream(),
                shard_to_split: s.shard_id.clone(),
                new_starting_hash_key: mid.to_string(),
            })
            .unwrap();
        }
        Op::Merge => {
            e.merge_shards(MergeShardsInput {
                stream: stream(),
                shard_to_merge: open[0].shard_id.clone(),
                adjacent_shard_to_merge: open[1].shard_id.clone(),
            })
            .unwrap();
        }
        Op::Scale(target) => {
            e.update_shard_count(UpdateShardCountInput {
                stream: stream(),
                target_shard_count: target,
                ..Default::default()
            })
            .unwrap();
        }
    }
}

/// One producer: keys `p{id}k{0..KEYS}`, single puts and 4-record PutRecords.
fn produce(e: &Engine, id: usize, done: &AtomicBool, acked_total: &AtomicUsize) -> Vec<Acked> {
    let mut counters = [0u32; KEYS];
    let mut out: Vec<Acked> = Vec::new();
    let mut i = 0usize;
    while i < MAX_PUTS && !(i >= MIN_PUTS && done.load(Ordering::Acquire)) {
        let batch = if i % 5 == 4 { 4 } else { 1 };
        let entries: Vec<(String, u32, Bytes)> = (0..batch)
            .map(|j| {
                let k = (i + j) % KEYS;
                let key = format!("p{id}k{k}");
                let c = counters[k];
                counters[k] += 1;
                let data = Bytes::from(format!("{key}:{c}:{}", "x".repeat((i * 7 + j) % 50)));
                (key, c, data)
            })
            .collect();
        if batch == 1 {
            let (key, counter, data) = entries.into_iter().next().unwrap();
            let r = e
                .put_record(PutRecordInput {
                    stream: stream(),
                    data: data.clone(),
                    partition_key: Some(key.clone()),
                    ..Default::default()
                })
                .unwrap();
            out.push(Acked { key, counter, data, shard_id: r.shard_id, seq: r.sequence_number });
        } else {
            let r = e
                .put_records(PutRecordsInput {
                    stream: stream(),
                    records: entries
                        .iter()
                        .map(|(key, _, data)| PutRecordsRequestEntry {
                            data: data.clone(),
                            partition_key: Some(key.clone()),
                            explicit_hash_key: None,
                        })
                        .collect(),
                    dry_run: false,
                })
                .unwrap();
            assert_eq!(r.failed_record_count, 0, "{r:?}");
            for ((key, counter, data), res) in entries.into_iter().zip(r.records) {
                out.push(Acked {
                    key,
                    counter,
                    data,
                    shard_id: res.shard_id.unwrap(),
                    seq: res.sequence_number.unwrap(),
                });
            }
        }
        acked_total.fetch_add(batch, Ordering::AcqRel);
        i += batch;
    }
    out
}

/// Check what a lineage reader returned: every acknowledged record once, per-key order.
fn check_lineage(what: &str, got: &[(String, Bytes)], acked: &HashMap<Bytes, Acked>) {
    let mut next: HashMap<&str, u32> = HashMap::new();
    for (shard_id, data) in got {
        let a = acked.get(data).unwrap_or_else(|| panic!("{what}: unacknowledged record {data:?} in {shard_id}"));
        assert_eq!(&a.shard_id, shard_id, "{what}: record {data:?} read from another shard");
        let n = next.entry(a.key.as_str()).or_insert(0);
        assert_eq!(a.counter, *n, "{what}: key {} out of order or duplicated (shard {shard_id})", a.key);
        *n += 1;
    }
    assert_eq!(got.len(), acked.len(), "{what}: every acknowledged record exactly once");
}

fn drain(reader: &mut LineageReader, out: &mut Vec<(String, Bytes)>) -> usize {
    let batch = reader.poll(1000).unwrap();
    let n = batch.len();
    out.extend(batch.into_iter().map(|r| (r.shard_id, r.record.data)));
    n
}

fn race(vfs: VfsRef, root: &Path, durability: Durability) {
    let clock = ManualClock::new(T0);
    let config = EngineConfig {
        vfs: vfs.clone(),
        clock: Arc::new(clock.clone()),
        durability,
        retention_check_interval: None,
        log: LogConfig { segment_max_bytes: 8 * 1024, segment_max_age: None, ..LogConfig::default() },
        ..EngineConfig::default()
    };
    let e = Engine::open(root, config).unwrap();
    e.create_stream(CreateStreamInput { stream_name: "race".into(), shard_count: Some(2), ..Default::default() })
        .unwrap();

    let done = AtomicBool::new(false);
    let producers_done = AtomicUsize::new(0);
    let acked_total = AtomicUsize::new(0);
    let start = Barrier::new(PRODUCERS + 2);
    let (acks, tailed) = std::thread::scope(|scope| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|id| {
                let (e, done, acked_total, start, producers_done) = (&e, &done, &acked_total, &start, &producers_done);
                scope.spawn(move || {
                    start.wait();
                    let v = produce(e, id, done, acked_total);
                    producers_done.fetch_add(1, Ordering::AcqRel);
                    v
                })
            })
            .collect();
        let resharder = {
            let (e, done, acked_total, start, producers_done, clock) =
                (&e, &done, &acked_total, &start, &producers_done, &clock);
            scope.spawn(move || {
                start.wait();
                let mut last = 0;
                for op in PLAN {
                    // Wait for more acknowledged puts (the producers never stop before `done`).
                    while acked_total.load(Ordering::Acquire) < last + GAP {
                        assert_eq!(producers_done.load(Ordering::Acquire), 0, "producers stopped early");
                        std::thread::yield_now();
                    }
                    clock.advance(Duration::from_secs(1));
                    reshard(e, op);
                    last = acked_total.load(Ordering::Acquire);
                }
                clock.advance(Duration::from_secs(1));
                done.store(true, Ordering::Release);
            })
        };
        let tail = {
            let (e, start, producers_done) = (&e, &start, &producers_done);
            scope.spawn(move || {
                start.wait();
                let mut reader = LineageReader::new(e, stream(), LineageStart::TrimHorizon);
                let mut got = Vec::new();
                while producers_done.load(Ordering::Acquire) < PRODUCERS {
                    drain(&mut reader, &mut got);
                    std::thread::yield_now();
                }
                while drain(&mut reader, &mut got) > 0 {}
                got
            })
        };
        resharder.join().unwrap();
        let acks: Vec<Acked> = producers.into_iter().flat_map(|p| p.join().unwrap()).collect();
        (acks, tail.join().unwrap())
    });
    let acked: HashMap<Bytes, Acked> = acks.iter().map(|a| (a.data.clone(), a.clone())).collect();
    assert_eq!(acked.len(), acks.len(), "data is unique");

    // The catalog: when each shard closed and at which offset.
    let (_, catalog) = ManifestStore::open(vfs.clone(), root).unwrap();
    let catalog = catalog.unwrap();
    let meta = catalog.streams.values().find(|m| m.name == "race").unwrap();
    let by_id: BTreeMap<String, &shardlog::catalog::ShardMeta> =
        meta.shards.iter().map(|s| (shardlog::kinesis::names::shard_id_name(s.index), s)).collect();
    let closed = meta.shards.iter().filter(|s| s.closed.is_some()).count();
    assert!(closed >= PLAN.len(), "every reshard closed shards ({closed} closed)");

    // Every shard read from TRIM_HORIZON.
    let all = e.list_shards(ListShardsInput { stream: stream(), ..Default::default() }).unwrap().shards;
    let mut found: HashMap<Bytes, (String, SequenceNumber)> = HashMap::new();
    let mut per_shard_counts: Vec<usize> = Vec::new();
    for shard in &all {
        let m = by_id[&shard.shard_id];
        let mut it = e
            .get_shard_iterator(GetShardIteratorInput {
                stream: stream(),
                shard_id: shard.shard_id.clone(),
                shard_iterator_type: ShardIteratorType::TrimHorizon,
                starting_sequence_number: None,
                timestamp: None,
                dry_run: false,
            })
            .unwrap()
            .shard_iterator;
        let mut records = Vec::new();
        let ended = loop {
            let r = e
                .get_records(GetRecordsInput {
                    shard_iterator: it,
                    limit: Some(500),
                    stream_arn: None,
                    stream_id: None,
                    dry_run: false,
                })
                .unwrap();
            let empty = r.records.is_empty();
            records.extend(r.records);
            match r.next_shard_iterator {
                None => break true,
                Some(_) if empty => break false,
                Some(next) => it = next,
            }
        };
        per_shard_counts.push(records.len());
        let ending = shard.sequence_number_range.ending_sequence_number;
        assert_eq!(
            ended,
            ending.is_some(),
            "{}: a closed shard reads to its end, an open one does not",
            shard.shard_id
        );
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.sequence_number.counter(), i as u64, "{}: dense offsets from 0", shard.shard_id);
            assert!(
                r.approximate_arrival_timestamp.as_millis() >= m.created_ms || m.parent.is_none(),
                "{}: record arrived before the shard was created",
                shard.shard_id
            );
            let prev = found.insert(r.data.clone(), (shard.shard_id.clone(), r.sequence_number));
            assert!(prev.is_none(), "record {:?} stored twice: {prev:?} and {}", r.data, shard.shard_id);
        }
        if let Some(ending) = ending {
            let c = m.closed.unwrap();
            assert_eq!(
                records.len() as u64,
                c.end_offset,
                "{}: exactly the offsets below its end offset",
                shard.shard_id
            );
            for r in &records {
                assert!(
                    r.sequence_number < ending,
                    "{}: {} not below the ending number {ending}",
                    shard.shard_id,
                    r.sequence_number
                );
                assert!(
                    r.approximate_arrival_timestamp.as_millis() <= c.closed_ms,
                    "{}: a record arrived after the shard closed",
                    shard.shard_id
                );
            }
        }
    }
    assert_eq!(found.len(), acked.len(), "nothing but the acknowledged puts is stored");
    for a in &acks {
        let (shard_id, seq) = found.get(&a.data).unwrap_or_else(|| panic!("acknowledged put missing: {a:?}"));
        assert_eq!((shard_id, seq), (&a.shard_id, &a.seq), "stored where its acknowledgement said");
    }
    println!(
        "{durability:?}: {} puts acked across {} reshards; {} shards ({closed} closed); records per shard in id order {per_shard_counts:?}",
        acks.len(),
        PLAN.len(),
        all.len()
    );

    check_lineage("tailing LineageReader", &tailed, &acked);
    let mut reader = LineageReader::new(&e, stream(), LineageStart::TrimHorizon);
    let mut got = Vec::new();
    while drain(&mut reader, &mut got) > 0 {}
    check_lineage("LineageReader from TRIM_HORIZON", &got, &acked);
}

#[test]
fn puts_racing_reshards_on_sim_vfs_with_sync_durability() {
    let sim = SimVfs::new();
    race(sim.shared(), Path::new("/data"), Durability::Sync);
}

#[test]
fn puts_racing_reshards_on_disk_with_buffered_durability() {
    let dir = tempfile::tempdir().unwrap();
    race(RealVfs::shared(), dir.path(), Durability::Buffered);
}
