//! Model-based test of the engine (reliability R7): random sequences of CreateStream,
//! DeleteStream, PutRecord / PutRecords, GetShardIterator (every type) + GetRecords loops with
//! small limits, resumed iterators, clock advances and close + reopen (clean or not), checked
//! against a plain in-memory model: per stream, per shard, a list of (key, explicit hash key,
//! data, arrival ms), routed with `partition_key_hash` and the even split.
//!
//! Every read must equal the model (keys, data, order, arrival timestamps; sequence-number
//! counters are the offsets), `MillisBehindLatest` is 0 when caught up, and errors have the
//! variant the model predicts.
//!
//! Runs on the in-memory `SimVfs` by default. Environment:
//! - `SHARDLOG_MODEL_CASES` — number of cases (default 700);
//! - `SHARDLOG_MODEL_REAL_FS=1` — use a real temporary directory instead of `SimVfs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use shardlog::engine::*;
use shardlog::io::sim::SimVfs;
use shardlog::io::{RealVfs, VfsRef};
use shardlog::kinesis::{even_split, partition_key_hash, SequenceNumber};
use shardlog::{Durability, Engine, EngineConfig, Error, LogConfig, ManualClock, Sealing};

const T0: i64 = 1_767_225_600_000;
const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];
const MAX_SAVED: usize = 6;

// ------------------------------------------------------------------------------ operations

#[derive(Debug, Clone)]
struct Rec {
    key: String,
    ehk: Option<u128>,
    data: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Start {
    TrimHorizon,
    Latest,
    /// AT_SEQUENCE_NUMBER of record `sel % len` (the shard's starting number when empty).
    AtSeq(usize),
    /// AFTER_SEQUENCE_NUMBER of record `sel % len` (the starting number when empty).
    AfterSeq(usize),
    AtStartingSeq,
    AfterStartingSeq,
    /// AT_TIMESTAMP: the arrival of record `sel % len` (or now) plus `delta` ms.
    AtTimestamp(usize, i64),
}

#[derive(Debug, Clone)]
enum Op {
    Create { stream: usize, shards: u32 },
    Delete { stream: usize },
    Put { stream: usize, rec: Rec },
    PutMany { stream: usize, recs: Vec<Rec> },
    Read { stream: usize, shard: usize, start: Start, limit: u32, max_calls: usize },
    Resume { slot: usize, limit: u32, max_calls: usize },
    Advance { ms: i64 },
    Reopen { clean: bool },
}

fn rec() -> impl Strategy<Value = Rec> {
    let key = prop_oneof![
        6 => "[a-z0-9]{1,4}",
        1 => "\\PC{1,3}",
        1 => Just("\0".to_string()),
    ];
    let ehk = prop_oneof![
        8 => Just(None),
        2 => any::<u128>().prop_map(Some),
        1 => Just(Some(0u128)),
        1 => Just(Some(u128::MAX)),
    ];
    let data = prop_oneof![
        8 => vec(any::<u8>(), 0..48),
        1 => vec(any::<u8>(), 300..900),
    ];
    (key, ehk, data).prop_map(|(key, ehk, data)| Rec { key, ehk, data })
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        3 => Just(Start::TrimHorizon),
        1 => Just(Start::Latest),
        3 => any::<usize>().prop_map(Start::AtSeq),
        3 => any::<usize>().prop_map(Start::AfterSeq),
        1 => Just(Start::AtStartingSeq),
        1 => Just(Start::AfterStartingSeq),
        3 => (any::<usize>(), prop_oneof![Just(0i64), Just(-1), Just(1), Just(-1_000_000), -3000i64..3000])
            .prop_map(|(s, d)| Start::AtTimestamp(s, d)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let stream = 0..NAMES.len();
    prop_oneof![
        3 => (stream.clone(), 1u32..=4).prop_map(|(stream, shards)| Op::Create { stream, shards }),
        1 => stream.clone().prop_map(|stream| Op::Delete { stream }),
        10 => (stream.clone(), rec()).prop_map(|(stream, rec)| Op::Put { stream, rec }),
        5 => (stream.clone(), vec(rec(), 1..12)).prop_map(|(stream, recs)| Op::PutMany { stream, recs }),
        8 => (stream, 0usize..5, start(), 1u32..6, 1usize..8)
            .prop_map(|(stream, shard, start, limit, max_calls)| Op::Read { stream, shard, start, limit, max_calls }),
        3 => (0..MAX_SAVED, 1u32..6, 1usize..8).prop_map(|(slot, limit, max_calls)| Op::Resume { slot, limit, max_calls }),
        4 => prop_oneof![
            4 => 0i64..1_500,
            2 => 1_500i64..120_000,
            1 => 250_000i64..320_000,
            1 => Just(3_600_000i64),
        ]
        .prop_map(|ms| Op::Advance { ms }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

// ------------------------------------------------------------------------------ model

#[derive(Debug, Clone, PartialEq)]
struct MRec {
    key: String,
    ehk: Option<u128>,
    data: Vec<u8>,
    arrival: i64,
}

#[derive(Debug)]
struct MStream {
    /// Distinguishes incarnations of the same name (delete + re-create).
    generation: u64,
    created_ms: i64,
    ranges: Vec<HashKeyRange>,
    shards: Vec<Vec<MRec>>,
}

impl MStream {
    fn route(&self, r: &Rec) -> usize {
        let h = r.ehk.unwrap_or_else(|| partition_key_hash(r.key.as_bytes()));
        self.ranges.iter().position(|range| range.contains(h)).unwrap()
    }
}

#[derive(Debug)]
struct Saved {
    name: &'static str,
    generation: u64,
    shard: usize,
    offset: usize,
    issued_ms: i64,
    token: String,
}

struct World {
    clock: ManualClock,
    vfs: VfsRef,
    root: PathBuf,
    durability: Durability,
    engine: Option<Engine>,
    streams: BTreeMap<&'static str, MStream>,
    saved: Vec<Option<Saved>>,
    next_generation: u64,
    _tmp: Option<tempfile::TempDir>,
}

fn shard_id(i: usize) -> String {
    format!("shardId-{i:012}")
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(r: Result<T, Error>, code: &str, ctx: &str) {
    match r {
        Ok(v) => panic!("{ctx}: expected {code}, got Ok({v:?})"),
        Err(e) => assert_eq!(e.kinesis_error_code(), code, "{ctx}: {e:?}"),
    }
}

impl World {
    fn new(durability: Durability) -> World {
        let real = std::env::var("SHARDLOG_MODEL_REAL_FS").is_ok_and(|v| v == "1");
        let (vfs, root, tmp) = if real {
            let tmp = tempfile::tempdir().unwrap();
            (RealVfs::shared(), tmp.path().join("data"), Some(tmp))
        } else {
            (SimVfs::new().shared(), PathBuf::from("/data"), None)
        };
        let mut w = World {
            clock: ManualClock::new(T0),
            vfs,
            root,
            durability,
            engine: None,
            streams: BTreeMap::new(),
            saved: (0..MAX_SAVED).map(|_| None).collect(),
            next_generation: 0,
            _tmp: tmp,
        };
        w.open();
        w
    }

    fn open(&mut self) {
        let config = EngineConfig {
            clock: Arc::new(self.clock.clone()),
            durability: self.durability,
            vfs: Arc::clone(&self.vfs),
            log: LogConfig {
                segment_max_bytes: 2048,
                segment_max_age: Some(Duration::from_secs(60)),
                index_interval_bytes: 128,
                sealing: Sealing::Deferred,
                ..LogConfig::default()
            },
            max_loaded_segments: 8,
            ..EngineConfig::default()
        };
        self.engine = Some(Engine::open(&self.root, config).unwrap());
    }

    fn e(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    fn now(&self) -> i64 {
        shardlog::Clock::now_ms(&self.clock)
    }

    fn save(&mut self, s: Saved) {
        let slot = self.saved.iter().position(Option::is_none).unwrap_or(s.offset % MAX_SAVED);
        self.saved[slot] = Some(s);
    }

    fn apply(&mut self, op: &Op, ctx: &str) {
        match op {
            Op::Create { stream, shards } => self.create(NAMES[*stream], *shards, ctx),
            Op::Delete { stream } => {
                let name = NAMES[*stream];
                let r =
                    self.e().delete_stream(DeleteStreamInput { stream: StreamRef::name(name), ..Default::default() });
                match self.streams.remove(name) {
                    Some(_) => r.unwrap(),
                    None => assert_code(r, "ResourceNotFoundException", ctx),
                }
                self.check_listing(ctx);
            }
            Op::Put { stream, rec } => self.put(NAMES[*stream], rec, ctx),
            Op::PutMany { stream, recs } => self.put_many(NAMES[*stream], recs, ctx),
            Op::Read { stream, shard, start, limit, max_calls } => {
                self.read(NAMES[*stream], *shard, *start, *limit, *max_calls, ctx)
            }
            Op::Resume { slot, limit, max_calls } => self.resume(*slot, *limit, *max_calls, ctx),
            Op::Advance { ms } => self.clock.advance(Duration::from_millis(*ms as u64)),
            Op::Reopen { clean } => {
                let e = self.engine.take().unwrap();
                if *clean {
                    e.close().unwrap();
                }
                drop(e);
                self.open();
                self.check_all(ctx);
            }
        }
    }

    fn create(&mut self, name: &'static str, shards: u32, ctx: &str) {
        let r = self.e().create_stream(CreateStreamInput {
            stream_name: name.into(),
            shard_count: Some(shards),
            ..Default::default()
        });
        if self.streams.contains_key(name) {
            assert_code(r, "ResourceInUseException", ctx);
            return;
        }
        r.unwrap();
        self.next_generation += 1;
        self.streams.insert(
            name,
            MStream {
                generation: self.next_generation,
                created_ms: self.now(),
                ranges: even_split(shards),
                shards: vec![Vec::new(); shards as usize],
            },
        );
        self.check_listing(ctx);
    }

    fn put(&mut self, name: &'static str, rec: &Rec, ctx: &str) {
        let r = self.e().put_record(PutRecordInput {
            stream: StreamRef::name(name),
            data: Bytes::copy_from_slice(&rec.data),
            partition_key: Some(rec.key.clone()),
            explicit_hash_key: rec.ehk.map(|h| h.to_string()),
            sequence_number_for_ordering: None,
            dry_run: false,
        });
        let now = self.now();
        let Some(m) = self.streams.get_mut(name) else {
            return assert_code(r, "ResourceNotFoundException", ctx);
        };
        let out = r.unwrap();
        let shard = m.route(rec);
        assert_eq!(out.shard_id, shard_id(shard), "{ctx}");
        let offset = m.shards[shard].len();
        m.shards[shard].push(MRec { key: rec.key.clone(), ehk: rec.ehk, data: rec.data.clone(), arrival: now });
        check_seq(out.sequence_number, m, shard, offset, now, ctx);
    }

    fn put_many(&mut self, name: &'static str, recs: &[Rec], ctx: &str) {
        let r = self.e().put_records(PutRecordsInput {
            stream: StreamRef::name(name),
            records: recs
                .iter()
                .map(|r| PutRecordsRequestEntry {
                    data: Bytes::copy_from_slice(&r.data),
                    partition_key: Some(r.key.clone()),
                    explicit_hash_key: r.ehk.map(|h| h.to_string()),
                })
                .collect(),
            dry_run: false,
        });
        let now = self.now();
        let Some(m) = self.streams.get_mut(name) else {
            return assert_code(r, "ResourceNotFoundException", ctx);
        };
        let out = r.unwrap();
        assert_eq!(out.failed_record_count, 0, "{ctx}");
        assert_eq!(out.records.len(), recs.len(), "{ctx}");
        for (rec, res) in recs.iter().zip(&out.records) {
            let shard = m.route(rec);
            assert_eq!(res.shard_id.as_deref(), Some(shard_id(shard).as_str()), "{ctx}");
            assert_eq!((&res.error_code, &res.error_message), (&None, &None), "{ctx}");
            let offset = m.shards[shard].len();
            m.shards[shard].push(MRec { key: rec.key.clone(), ehk: rec.ehk, data: rec.data.clone(), arrival: now });
            check_seq(res.sequence_number.unwrap(), m, shard, offset, now, ctx);
        }
    }

    fn read(&mut self, name: &'static str, shard: usize, start: Start, limit: u32, max_calls: usize, ctx: &str) {
        let now = self.now();
        let Some(m) = self.streams.get(name) else {
            let r =
                self.e().get_shard_iterator(iterator_input(name, shard, ShardIteratorType::TrimHorizon, None, None));
            return assert_code(r, "ResourceNotFoundException", ctx);
        };
        if shard >= m.shards.len() {
            let r =
                self.e().get_shard_iterator(iterator_input(name, shard, ShardIteratorType::TrimHorizon, None, None));
            return assert_code(r, "ResourceNotFoundException", ctx);
        }
        let recs = &m.shards[shard];
        let len = recs.len();
        let starting = self.starting_seq(name, shard);
        let seq_of = |i: usize| expected_seq(m, shard, i, recs[i].arrival);
        let (kind, seq, ts, offset) = match start {
            Start::TrimHorizon => (ShardIteratorType::TrimHorizon, None, None, 0),
            Start::Latest => (ShardIteratorType::Latest, None, None, len),
            Start::AtSeq(sel) if len > 0 => {
                (ShardIteratorType::AtSequenceNumber, Some(seq_of(sel % len)), None, sel % len)
            }
            Start::AfterSeq(sel) if len > 0 => {
                (ShardIteratorType::AfterSequenceNumber, Some(seq_of(sel % len)), None, sel % len + 1)
            }
            Start::AtSeq(_) | Start::AtStartingSeq => (ShardIteratorType::AtSequenceNumber, Some(starting), None, 0),
            Start::AfterSeq(_) | Start::AfterStartingSeq => {
                (ShardIteratorType::AfterSequenceNumber, Some(starting), None, 0)
            }
            Start::AtTimestamp(sel, delta) => {
                let base = if len > 0 { recs[sel % len].arrival } else { now };
                let ts = base + delta;
                let offset = recs.iter().position(|r| r.arrival >= ts).unwrap_or(len);
                (ShardIteratorType::AtTimestamp, None, Some(ts), offset)
            }
        };
        let r = self.e().get_shard_iterator(iterator_input(name, shard, kind, seq.map(|s| s.to_string()), ts));
        if ts.is_some_and(|t| t > now) {
            return assert_code(r, "InvalidArgumentException", ctx);
        }
        let token = r.unwrap_or_else(|e| panic!("{ctx}: {start:?}: {e:?}")).shard_iterator;
        let generation = m.generation;
        let (token, offset) = self.read_loop(name, shard, token, offset, limit, max_calls, ctx);
        self.save(Saved { name, generation, shard, offset, issued_ms: now, token });
    }

    fn resume(&mut self, slot: usize, limit: u32, max_calls: usize, ctx: &str) {
        let Some(s) = self.saved[slot].take() else { return };
        let now = self.now();
        let r = self.e().get_records(GetRecordsInput {
            shard_iterator: s.token.clone(),
            limit: Some(limit),
            stream_arn: None,
            stream_id: None,
            dry_run: false,
        });
        if now - s.issued_ms > 300_000 {
            return assert_code(r, "ExpiredIteratorException", ctx);
        }
        if self.streams.get(s.name).is_none_or(|m| m.generation != s.generation) {
            return assert_code(r, "ResourceNotFoundException", ctx);
        }
        drop(r); // the same token is valid again: GetRecords has no side effects
        let (token, offset) = self.read_loop(s.name, s.shard, s.token, s.offset, limit, max_calls, ctx);
        self.saved[slot] = Some(Saved { token, offset, issued_ms: now, ..s });
    }

    /// GetRecords from `offset` with `limit` until caught up or `max_calls` calls; every
    /// response must be exactly the next slice of the model. Returns the last next-iterator.
    #[allow(clippy::too_many_arguments)]
    fn read_loop(
        &self,
        name: &str,
        shard: usize,
        mut token: String,
        mut offset: usize,
        limit: u32,
        max_calls: usize,
        ctx: &str,
    ) -> (String, usize) {
        let m = &self.streams[name];
        let recs = &m.shards[shard];
        let now = self.now();
        for call in 0..max_calls {
            let out = self
                .e()
                .get_records(GetRecordsInput {
                    shard_iterator: token.clone(),
                    limit: Some(limit),
                    stream_arn: None,
                    stream_id: None,
                    dry_run: false,
                })
                .unwrap_or_else(|e| panic!("{ctx}: get_records call {call}: {e:?}"));
            let from = offset.min(recs.len());
            let to = (from + limit as usize).min(recs.len());
            assert_eq!(out.records.len(), to - from, "{ctx}: call {call} from {from} limit {limit}");
            for (i, (got, want)) in out.records.iter().zip(&recs[from..to]).enumerate() {
                let o = from + i;
                assert_eq!(got.partition_key, want.key, "{ctx}: offset {o}");
                assert_eq!(&got.data[..], &want.data[..], "{ctx}: offset {o}");
                assert_eq!(got.explicit_hash_key, want.ehk, "{ctx}: offset {o}");
                assert_eq!(got.approximate_arrival_timestamp, Timestamp(want.arrival), "{ctx}: offset {o}");
                assert_eq!(got.sequence_number, expected_seq(m, shard, o, want.arrival), "{ctx}: offset {o}");
            }
            if to == recs.len() {
                assert_eq!(out.millis_behind_latest, 0, "{ctx}: caught up");
            } else {
                let oldest = recs[from].arrival;
                assert!(
                    (0..=now - oldest).contains(&out.millis_behind_latest),
                    "{ctx}: behind: {} not in 0..={}",
                    out.millis_behind_latest,
                    now - oldest
                );
            }
            assert_eq!(out.child_shards, None, "{ctx}");
            let next = out.next_shard_iterator.unwrap_or_else(|| panic!("{ctx}: open shard without next iterator"));
            token = next;
            offset = to;
            if to == recs.len() && out.records.is_empty() {
                break;
            }
        }
        (token, offset)
    }

    fn starting_seq(&self, name: &str, shard: usize) -> SequenceNumber {
        let d = self
            .e()
            .describe_stream(DescribeStreamInput {
                stream: StreamRef::name(name),
                limit: Some(100),
                ..Default::default()
            })
            .unwrap();
        d.shards[shard].sequence_number_range.starting_sequence_number
    }

    fn check_listing(&self, ctx: &str) {
        let listed = self.e().list_streams(ListStreamsInput::default()).unwrap();
        let want: Vec<&str> = self.streams.keys().copied().collect();
        assert_eq!(listed.stream_names, want, "{ctx}: list_streams");
        for s in &listed.stream_summaries {
            let m = &self.streams[s.stream_name.as_str()];
            assert_eq!(s.stream_creation_timestamp, Timestamp(m.created_ms), "{ctx}");
            assert_eq!(s.stream_status, StreamStatus::Active, "{ctx}");
        }
    }

    /// Full comparison: listing, topology and every shard read from TRIM_HORIZON.
    fn check_all(&self, ctx: &str) {
        self.check_listing(ctx);
        for (name, m) in &self.streams {
            let d = self
                .e()
                .describe_stream(DescribeStreamInput { stream: StreamRef::name(*name), ..Default::default() })
                .unwrap();
            assert_eq!(d.shards.iter().map(|s| s.hash_key_range).collect::<Vec<_>>(), m.ranges, "{ctx}");
            for (i, recs) in m.shards.iter().enumerate() {
                let start = &d.shards[i].sequence_number_range.starting_sequence_number;
                assert_eq!((start.shard_index(), start.counter()), (i as u32, 0), "{ctx}");
                let it = self
                    .e()
                    .get_shard_iterator(iterator_input(name, i, ShardIteratorType::TrimHorizon, None, None))
                    .unwrap()
                    .shard_iterator;
                let out = self.e().get_records(GetRecordsInput { shard_iterator: it, ..Default::default() }).unwrap();
                let got: Vec<MRec> = out
                    .records
                    .iter()
                    .map(|r| MRec {
                        key: r.partition_key.clone(),
                        ehk: r.explicit_hash_key,
                        data: r.data.to_vec(),
                        arrival: r.approximate_arrival_timestamp.as_millis(),
                    })
                    .collect();
                assert_eq!(&got, recs, "{ctx}: {name} shard {i}");
                for (o, r) in out.records.iter().enumerate() {
                    assert_eq!(r.sequence_number, expected_seq(m, i, o, recs[o].arrival), "{ctx}");
                }
                assert_eq!(out.millis_behind_latest, 0, "{ctx}");
            }
        }
    }
}

fn iterator_input(
    name: &str,
    shard: usize,
    kind: ShardIteratorType,
    seq: Option<String>,
    ts: Option<i64>,
) -> GetShardIteratorInput {
    GetShardIteratorInput {
        stream: StreamRef::name(name),
        shard_id: shard_id(shard),
        shard_iterator_type: kind,
        starting_sequence_number: seq,
        timestamp: ts.map(Timestamp),
        dry_run: false,
    }
}

/// The sequence number of record `offset` of `shard`: the shard's creation second (backdated,
/// never after the stream's creation), the shard index, the offset as counter, the arrival
/// second.
fn expected_seq(m: &MStream, shard: usize, offset: usize, arrival: i64) -> SequenceNumber {
    let create_secs = (m.created_ms.div_euclid(1000) - 2) as u64;
    SequenceNumber::new(create_secs, shard as u32, offset as u64, arrival.div_euclid(1000) as u64)
}

fn check_seq(seq: SequenceNumber, m: &MStream, shard: usize, offset: usize, arrival: i64, ctx: &str) {
    assert_eq!(seq.counter(), offset as u64, "{ctx}: counter = offset");
    assert_eq!(seq.shard_index(), shard as u32, "{ctx}");
    assert_eq!(seq.arrival_secs(), arrival.div_euclid(1000) as u64, "{ctx}");
    assert!(seq.shard_create_secs() <= m.created_ms.div_euclid(1000) as u64, "{ctx}");
    assert_eq!(seq, expected_seq(m, shard, offset, arrival), "{ctx}");
}

fn run(ops: &[Op], durability: Durability) {
    let mut w = World::new(durability);
    for (i, op) in ops.iter().enumerate() {
        let ctx = format!("op {i} {op:?}");
        w.apply(op, &ctx);
    }
    w.check_all("final");
    // A last clean reopen: everything is still there.
    w.apply(&Op::Reopen { clean: true }, "final reopen");
}

fn cases() -> u32 {
    std::env::var("SHARDLOG_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(700)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_matches_the_model(
        ops in vec(op(), 1..40),
        sync in any::<bool>(),
    ) {
        run(&ops, if sync { Durability::Sync } else { Durability::Buffered });
    }
}

/// A fixed long scenario that exercises every operation, so a regression shows up even with
/// `SHARDLOG_MODEL_CASES=0`.
#[test]
fn a_fixed_scenario_matches_the_model() {
    let r = |key: &str, ehk: Option<u128>, n: usize| Rec { key: key.into(), ehk, data: vec![n as u8; n] };
    let mut ops = vec![Op::Create { stream: 0, shards: 3 }, Op::Create { stream: 1, shards: 1 }];
    for i in 0..60 {
        ops.push(Op::Put { stream: i % 2, rec: r(&format!("k{i}"), None, i * 13 % 700) });
        if i % 7 == 0 {
            ops.push(Op::Advance { ms: 61_000 });
        }
        if i % 11 == 0 {
            ops.push(Op::PutMany {
                stream: 0,
                recs: (0..9)
                    .map(|j| r(&format!("m{j}"), (j % 3 == 0).then_some(u128::MAX / 9 * j as u128), j))
                    .collect(),
            });
        }
    }
    for (k, start) in [
        Start::TrimHorizon,
        Start::Latest,
        Start::AtSeq(5),
        Start::AfterSeq(7),
        Start::AtStartingSeq,
        Start::AfterStartingSeq,
        Start::AtTimestamp(3, 0),
        Start::AtTimestamp(3, 1),
        Start::AtTimestamp(0, -1_000_000),
        Start::AtTimestamp(1, 1_000_000),
    ]
    .into_iter()
    .enumerate()
    {
        ops.push(Op::Read { stream: k % 2, shard: k % 3, start, limit: 1 + k as u32 % 4, max_calls: 3 });
    }
    ops.extend([
        Op::Reopen { clean: false },
        Op::Resume { slot: 0, limit: 2, max_calls: 100 },
        Op::Put { stream: 0, rec: r("after", None, 3) },
        Op::Resume { slot: 1, limit: 5, max_calls: 100 },
        Op::Advance { ms: 300_001 },
        Op::Resume { slot: 2, limit: 5, max_calls: 1 },
        Op::Delete { stream: 1 },
        Op::Create { stream: 1, shards: 4 },
        Op::Resume { slot: 3, limit: 5, max_calls: 1 },
        Op::Reopen { clean: true },
        Op::Read { stream: 1, shard: 3, start: Start::TrimHorizon, limit: 3, max_calls: 3 },
        Op::Read { stream: 2, shard: 0, start: Start::TrimHorizon, limit: 3, max_calls: 3 },
        Op::Delete { stream: 2 },
    ]);
    for durability in [Durability::Buffered, Durability::Sync] {
        run(&ops, durability);
    }
}
