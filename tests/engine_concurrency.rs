//! Concurrent producers and readers on one 64-shard stream (PutRecord and PutRecords, under
//! `Buffered` and `Sync` durability):
//! - per partition key, sequence numbers increase in the order the producer issued the puts;
//! - after the producers are joined, reading every shard from TRIM_HORIZON returns every
//!   acknowledged record exactly once (matched by content), with the acknowledged shard and
//!   sequence number, nothing lost or duplicated, per-key order preserved;
//! - readers running GetRecords loops during the writes never see a record twice and never go
//!   backwards, and after a final drain each has seen every record.
//!
//! Bounded: producers write a fixed number of records, readers stop after a final drain once
//! the producers are done. No sleeps (a `ManualClock` that producers nudge forward).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::*;
use shardlog::kinesis::SequenceNumber;
use shardlog::{Durability, Engine, EngineConfig, LogConfig, ManualClock};

const T0: i64 = 1_767_225_600_000;
const SHARDS: usize = 64;
const STREAM: &str = "c";
const KEYS_PER_PRODUCER: usize = 12;

/// What a producer was told about one record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    key: String,
    shard_id: String,
    seq: SequenceNumber,
}

fn shard_id(i: usize) -> String {
    format!("shardId-{i:012}")
}

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Producer `p` writes `n` records: `data = "p<p>:<i>"`, keys `p<p>-k<j>`, alternating
/// PutRecord and PutRecords batches of 1–12 entries (the same key may repeat in a batch).
/// Returns the acknowledgements in issue order.
fn produce(e: &Engine, clock: &ManualClock, p: usize, n: usize) -> Vec<(Vec<u8>, Ack)> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (p as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut acks = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let r = xorshift(&mut seed);
        if r.is_multiple_of(3) {
            clock.advance(Duration::from_millis(1));
        }
        if r.is_multiple_of(2) {
            let key = format!("p{p}-k{}", (r >> 8) as usize % KEYS_PER_PRODUCER);
            let data = format!("p{p}:{i}").into_bytes();
            let out = e
                .put_record(PutRecordInput {
                    stream: StreamRef::name(STREAM),
                    data: Bytes::from(data.clone()),
                    partition_key: Some(key.clone()),
                    ..Default::default()
                })
                .unwrap();
            acks.push((data, Ack { key, shard_id: out.shard_id, seq: out.sequence_number }));
            i += 1;
        } else {
            let batch = (1 + (r >> 16) as usize % 12).min(n - i);
            let entries: Vec<(String, Vec<u8>)> = (0..batch)
                .map(|k| {
                    let key = format!("p{p}-k{}", xorshift(&mut seed) as usize % KEYS_PER_PRODUCER);
                    (key, format!("p{p}:{}", i + k).into_bytes())
                })
                .collect();
            let out = e
                .put_records(PutRecordsInput {
                    stream: StreamRef::name(STREAM),
                    records: entries
                        .iter()
                        .map(|(key, data)| PutRecordsRequestEntry {
                            data: Bytes::from(data.clone()),
                            partition_key: Some(key.clone()),
                            explicit_hash_key: None,
                        })
                        .collect(),
                    dry_run: false,
                })
                .unwrap();
            assert_eq!(out.failed_record_count, 0);
            assert_eq!(out.records.len(), batch);
            for ((key, data), res) in entries.into_iter().zip(out.records) {
                let ack = Ack { key, shard_id: res.shard_id.unwrap(), seq: res.sequence_number.unwrap() };
                acks.push((data, ack));
            }
            i += batch;
        }
    }
    acks
}

/// What one reader saw, per shard, in order.
type Seen = Vec<Vec<(Vec<u8>, SequenceNumber)>>;

/// Round-robin GetRecords loops over every shard until `done`, then a final drain.
fn read_until_done(e: &Engine, done: &AtomicBool, limit: u32) -> Seen {
    let mut iterators: Vec<String> = (0..SHARDS)
        .map(|s| {
            e.get_shard_iterator(GetShardIteratorInput {
                stream: StreamRef::name(STREAM),
                shard_id: shard_id(s),
                shard_iterator_type: ShardIteratorType::TrimHorizon,
                starting_sequence_number: None,
                timestamp: None,
                dry_run: false,
            })
            .unwrap()
            .shard_iterator
        })
        .collect();
    let mut seen: Seen = vec![Vec::new(); SHARDS];
    let mut all: HashSet<Vec<u8>> = HashSet::new();
    let mut poll = |s: usize, iterators: &mut Vec<String>, seen: &mut Seen| -> (usize, i64) {
        let out = e
            .get_records(GetRecordsInput {
                shard_iterator: iterators[s].clone(),
                limit: Some(limit),
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            })
            .unwrap();
        let n = out.records.len();
        assert!(n <= limit as usize);
        for r in out.records {
            assert_eq!(r.sequence_number.shard_index(), s as u32);
            if let Some((_, last)) = seen[s].last() {
                assert!(
                    r.sequence_number > *last,
                    "shard {s}: went backwards or repeated: {:?} after {last:?}",
                    r.sequence_number
                );
                assert_eq!(r.sequence_number.counter(), last.counter() + 1, "shard {s}: skipped a record");
            } else {
                assert_eq!(r.sequence_number.counter(), 0, "shard {s}: did not start at the first record");
            }
            assert!(all.insert(r.data.to_vec()), "record {:?} seen twice", String::from_utf8_lossy(&r.data));
            seen[s].push((r.data.to_vec(), r.sequence_number));
        }
        iterators[s] = out.next_shard_iterator.expect("open shards always give a next iterator");
        (n, out.millis_behind_latest)
    };
    while !done.load(Ordering::Acquire) {
        for s in 0..SHARDS {
            poll(s, &mut iterators, &mut seen);
        }
    }
    // Final drain: the producers are joined, so each shard ends at a fixed point.
    for s in 0..SHARDS {
        loop {
            let (n, behind) = poll(s, &mut iterators, &mut seen);
            if n == 0 {
                assert_eq!(behind, 0, "shard {s}: caught up");
                break;
            }
        }
    }
    seen
}

fn run(durability: Durability, producers: usize, per_producer: usize, readers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(
        dir.path(),
        EngineConfig {
            clock: Arc::new(clock.clone()),
            durability,
            // Small segments: rolls happen while readers read.
            log: LogConfig { segment_max_bytes: 16 * 1024, index_interval_bytes: 512, ..LogConfig::default() },
            ..EngineConfig::default()
        },
    )
    .unwrap();
    e.create_stream(CreateStreamInput {
        stream_name: STREAM.into(),
        shard_count: Some(SHARDS as u32),
        ..Default::default()
    })
    .unwrap();
    let done = AtomicBool::new(false);
    let start = Barrier::new(producers + readers);
    let (acks, seen) = thread::scope(|sc| {
        let readers: Vec<_> = (0..readers)
            .map(|r| {
                let (e, done, start) = (&e, &done, &start);
                sc.spawn(move || {
                    start.wait();
                    read_until_done(e, done, 3 + 4 * r as u32)
                })
            })
            .collect();
        let producers: Vec<_> = (0..producers)
            .map(|p| {
                let (e, clock, start) = (&e, &clock, &start);
                sc.spawn(move || {
                    start.wait();
                    produce(e, clock, p, per_producer)
                })
            })
            .collect();
        let acks: Vec<Vec<(Vec<u8>, Ack)>> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, Ordering::Release);
        let seen: Vec<Seen> = readers.into_iter().map(|h| h.join().unwrap()).collect();
        (acks, seen)
    });

    // Per partition key, sequence numbers increase in issue order (and stay on one shard).
    let mut by_data: HashMap<Vec<u8>, Ack> = HashMap::new();
    for producer in &acks {
        assert_eq!(producer.len(), per_producer);
        let mut last: HashMap<&str, &Ack> = HashMap::new();
        for (data, ack) in producer {
            if let Some(prev) = last.insert(&ack.key, ack) {
                assert_eq!(prev.shard_id, ack.shard_id, "key {} changed shard", ack.key);
                assert!(ack.seq > prev.seq, "key {}: {:?} not after {:?}", ack.key, ack.seq, prev.seq);
            }
            assert_eq!(shard_id(ack.seq.shard_index() as usize), ack.shard_id);
            assert!(by_data.insert(data.clone(), ack.clone()).is_none(), "duplicate payload");
        }
    }
    let total = producers * per_producer;
    assert_eq!(by_data.len(), total);
    // Sequence numbers are unique across the stream.
    let seqs: HashSet<SequenceNumber> = by_data.values().map(|a| a.seq).collect();
    assert_eq!(seqs.len(), total);

    // Reading every shard from TRIM_HORIZON returns every acknowledged record exactly once.
    let mut found: HashMap<Vec<u8>, (String, SequenceNumber, String)> = HashMap::new();
    let mut per_shard: BTreeMap<usize, Vec<(Vec<u8>, SequenceNumber)>> = BTreeMap::new();
    for s in 0..SHARDS {
        let mut it = e
            .get_shard_iterator(GetShardIteratorInput {
                stream: StreamRef::name(STREAM),
                shard_id: shard_id(s),
                shard_iterator_type: ShardIteratorType::TrimHorizon,
                starting_sequence_number: None,
                timestamp: None,
                dry_run: false,
            })
            .unwrap()
            .shard_iterator;
        loop {
            let out = e
                .get_records(GetRecordsInput {
                    shard_iterator: it,
                    limit: Some(1000),
                    stream_arn: None,
                    stream_id: None,
                    dry_run: false,
                })
                .unwrap();
            if out.records.is_empty() {
                assert_eq!(out.millis_behind_latest, 0);
                break;
            }
            for r in out.records {
                let prev = found.insert(r.data.to_vec(), (shard_id(s), r.sequence_number, r.partition_key.clone()));
                assert!(prev.is_none(), "duplicate record {:?}", String::from_utf8_lossy(&r.data));
                per_shard.entry(s).or_default().push((r.data.to_vec(), r.sequence_number));
            }
            it = out.next_shard_iterator.unwrap();
        }
    }
    assert_eq!(found.len(), total, "records lost or invented");
    for (data, ack) in &by_data {
        let (shard, seq, key) = found.get(data).unwrap_or_else(|| panic!("lost {:?}", String::from_utf8_lossy(data)));
        assert_eq!((shard, seq, key), (&ack.shard_id, &ack.seq, &ack.key));
    }
    // Counters are dense per shard (offsets).
    for (s, recs) in &per_shard {
        for (i, (_, seq)) in recs.iter().enumerate() {
            assert_eq!(seq.counter(), i as u64, "shard {s}");
        }
    }
    // Every concurrent reader saw exactly the same per-shard sequence.
    for (r, seen) in seen.iter().enumerate() {
        for (s, recs) in seen.iter().enumerate() {
            assert_eq!(recs, per_shard.get(&s).unwrap_or(&Vec::new()), "reader {r} shard {s}");
        }
    }
    e.close().unwrap();
}

#[test]
fn buffered_producers_and_readers_on_64_shards() {
    run(Durability::Buffered, 4, 2_500, 2);
}

#[test]
fn sync_producers_and_readers_on_64_shards() {
    run(Durability::Sync, 4, 300, 2);
}

#[test]
fn many_producers_few_records_each() {
    run(Durability::Buffered, 12, 200, 1);
}
