//! `shardlog bench --soak DURATION`: mixed load with resharding and retention, every record
//! verified at the end.
//!
//! - Several streams; producer threads put batches (`PutRecords`, 1–64 entries of 0–1.5 KiB)
//!   to random streams, each thread writing its own partition keys with a per-key counter, and
//!   remember every entry's outcome (acknowledged with its shard and sequence number, failed,
//!   or unknown when the whole call failed).
//! - A chaos thread splits and merges shards, calls `UpdateShardCount`, raises and lowers the
//!   retention period, moves the engine clock forward by 6–30 hours (so retention expires
//!   data and closed shards) and runs `enforce_retention`; a background retention pass runs
//!   as well.
//! - One reader per stream follows it from `TRIM_HORIZON` with
//!   `shardlog::engine::lineage::LineageReader` (parents before children). Unless
//!   `--soak-lagging-readers false`, each reader stops for 0.3–2 s now and then, so
//!   retention removes records, and whole closed shards, before they are read.
//!
//! Every record's data is `[stream u16][producer u16][key u16][counter u32][crc32 u32][body]`,
//! the body a pseudo-random function of the first four fields, so a record can be checked
//! intact without keeping it. At the end the readers drain, and:
//!
//! 1. every acknowledged record was read exactly once, intact, at the position it was
//!    acknowledged at, and each key's records came in counter order — unless retention
//!    legitimately removed it: its shard is gone or its offset is below the shard's trim
//!    horizon, and it arrived more than 24 hours (the shortest retention) before the engine
//!    clock's final time; failed entries were never read; no record was read that was not
//!    sent;
//! 2. the engine is closed and reopened, and a fresh reader from `TRIM_HORIZON` reads exactly
//!    the acknowledged records at or above each shard's trim horizon, once each, intact, in
//!    per-key order.
//!
//! Any violation makes the command exit 1.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardlog::engine::lineage::{LineageReader, LineageRecord, LineageStart};
use shardlog::engine::*;
use shardlog::kinesis::names;
use shardlog::{Clock, Engine, EngineConfig, LogConfig};

use super::progress::Progress;
use super::{BenchArgs, Root};
use crate::format::thousands;
use crate::Failure;

/// Partition keys per producer thread.
const KEYS: usize = 24;
/// Most open shards per stream the chaos thread grows to.
const MAX_OPEN: usize = 12;
const HOUR_MS: i64 = 3_600_000;
/// Bytes before the body.
const HEADER: usize = 14;

/// The engine clock of a soak: real time plus the jumps the chaos thread made.
#[derive(Debug)]
struct SoakClock {
    start: Instant,
    base_ms: i64,
    jumped_ms: AtomicI64,
}

impl Clock for SoakClock {
    fn now_ms(&self) -> i64 {
        self.base_ms + self.start.elapsed().as_millis() as i64 + self.jumped_ms.load(Ordering::SeqCst)
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The identity of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id {
    stream: u16,
    producer: u16,
    key: u16,
    counter: u32,
}

impl Id {
    fn seed(&self) -> u64 {
        splitmix(
            (u64::from(self.stream) << 48)
                ^ (u64::from(self.producer) << 40)
                ^ (u64::from(self.key) << 32)
                ^ u64::from(self.counter),
        )
    }

    fn body(&self) -> Vec<u8> {
        let seed = self.seed();
        let len = (seed % 1537) as usize;
        let mut out = Vec::with_capacity(len);
        let mut x = seed;
        while out.len() < len {
            x = splitmix(x);
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.truncate(len);
        out
    }

    fn encode(&self) -> Vec<u8> {
        let body = self.body();
        let mut v = Vec::with_capacity(HEADER + body.len());
        v.extend_from_slice(&self.stream.to_le_bytes());
        v.extend_from_slice(&self.producer.to_le_bytes());
        v.extend_from_slice(&self.key.to_le_bytes());
        v.extend_from_slice(&self.counter.to_le_bytes());
        v.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        v.extend_from_slice(&body);
        v
    }

    /// Parse and check a record's data: `None` if it is not intact.
    fn decode(data: &[u8]) -> Option<Id> {
        let u16_at = |i: usize| data.get(i..i + 2).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes);
        let u32_at = |i: usize| data.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
        let id = Id { stream: u16_at(0)?, producer: u16_at(2)?, key: u16_at(4)?, counter: u32_at(6)? };
        let crc = u32_at(10)?;
        let body = data.get(HEADER..)?;
        (crc32fast::hash(body) == crc && body == id.body().as_slice()).then_some(id)
    }

    fn partition_key(&self) -> String {
        format!("p{}-k{}", self.producer, self.key)
    }
}

/// What became of one entry a producer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Acknowledged at this shard and offset; arrival second from the sequence number.
    Acked { shard: u32, offset: u64, arrival_secs: u64 },
    /// The entry failed (`ErrorCode` set): it must never be read.
    Failed,
    /// The whole call failed: the entry may be read at most once.
    Unknown,
}

/// Per producer, per stream, per key: the outcome of every counter.
type Sent = Vec<Vec<Vec<Outcome>>>;

/// Violations, counted, with the first few described.
#[derive(Default)]
struct Violations {
    count: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Violations {
    fn add(&self, msg: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut s) = self.samples.lock() {
            if s.len() < 30 {
                s.push(msg);
            }
        }
    }
}

/// What one reader saw of one stream: per producer, per key, per counter.
#[derive(Default)]
struct Seen {
    /// Times read.
    reads: Vec<Vec<Vec<u8>>>,
    /// Where it was first read: (shard, offset).
    at: Vec<Vec<Vec<(u32, u64)>>>,
    /// Highest counter read per key.
    last: Vec<Vec<i64>>,
    records: u64,
}

impl Seen {
    fn new(producers: usize) -> Seen {
        Seen {
            reads: vec![vec![Vec::new(); KEYS]; producers],
            at: vec![vec![Vec::new(); KEYS]; producers],
            last: vec![vec![-1; KEYS]; producers],
            records: 0,
        }
    }

    /// Check and note one record read from stream `stream`.
    fn note(&mut self, stream: u16, r: &LineageRecord, v: &Violations, phase: &str) {
        self.records += 1;
        let Some(id) = Id::decode(&r.record.data) else {
            v.add(format!(
                "{phase}: stream {stream} {} seq {}: record is not intact",
                r.shard_id, r.record.sequence_number
            ));
            return;
        };
        let (p, k, c) = (usize::from(id.producer), usize::from(id.key), id.counter as usize);
        if id.stream != stream || r.record.partition_key != id.partition_key() || k >= KEYS {
            v.add(format!("{phase}: stream {stream} {}: record {id:?} does not belong here", r.shard_id));
            return;
        }
        let (Some(reads), Some(at), Some(last)) = (
            self.reads.get_mut(p).and_then(|x| x.get_mut(k)),
            self.at.get_mut(p).and_then(|x| x.get_mut(k)),
            self.last.get_mut(p).and_then(|x| x.get_mut(k)),
        ) else {
            v.add(format!("{phase}: stream {stream}: record {id:?} names an unknown producer"));
            return;
        };
        if reads.len() <= c {
            reads.resize(c + 1, 0);
            at.resize(c + 1, (u32::MAX, u64::MAX));
        }
        let shard = names::parse_shard_id(&r.shard_id).unwrap_or(u32::MAX);
        if let (Some(n), Some(pos)) = (reads.get_mut(c), at.get_mut(c)) {
            if *n == 0 {
                *pos = (shard, r.record.sequence_number.counter());
            }
            *n = n.saturating_add(1);
            if *n > 1 {
                v.add(format!("{phase}: stream {stream} key {} counter {c}: read {} times", id.partition_key(), n));
            } else if (c as i64) < *last {
                v.add(format!(
                    "{phase}: stream {stream} key {}: counter {c} read after counter {} (per-key order broken)",
                    id.partition_key(),
                    last
                ));
            }
        }
        *last = (*last).max(c as i64);
    }
}

/// Counters of the chaos thread.
#[derive(Default, Debug, Clone, Copy)]
struct Chaos {
    splits: u64,
    merges: u64,
    updates: u64,
    rejected: u64,
    retention_changes: u64,
    clock_jumps: u64,
    passes: u64,
    segments_removed: u64,
    bytes_removed: u64,
    shards_expired: u64,
}

fn stream_name(s: usize) -> String {
    format!("soak-{s}")
}

fn list_all_shards(engine: &Engine, stream: &str) -> shardlog::Result<Vec<Shard>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let r = engine.list_shards(ListShardsInput {
            stream: if token.is_some() { StreamRef::default() } else { StreamRef::name(stream) },
            next_token: token.take(),
            ..Default::default()
        })?;
        out.extend(r.shards);
        match r.next_token {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
    }
}

fn open_shards(engine: &Engine, stream: &str) -> shardlog::Result<Vec<Shard>> {
    let mut v: Vec<Shard> = list_all_shards(engine, stream)?
        .into_iter()
        .filter(|s| s.sequence_number_range.ending_sequence_number.is_none())
        .collect();
    v.sort_by_key(|s| s.hash_key_range.starting_hash_key);
    Ok(v)
}

/// Expected refusals of a control-plane call (limits, races with retention) are counted;
/// anything else is a violation.
fn control(result: shardlog::Result<()>, ok: &mut u64, chaos: &mut Chaos, v: &Violations, what: &str) {
    match result {
        Ok(()) => *ok += 1,
        Err(shardlog::Error::LimitExceeded { .. })
        | Err(shardlog::Error::ResourceInUse { .. })
        | Err(shardlog::Error::InvalidArgument { .. })
        | Err(shardlog::Error::ResourceNotFound { .. }) => chaos.rejected += 1,
        Err(e) => v.add(format!("{what} failed: {e}")),
    }
}

fn chaos_step(engine: &Engine, clock: &SoakClock, streams: usize, rng: &mut Rng, c: &mut Chaos, v: &Violations) {
    let s = rng.below(streams as u64) as usize;
    let name = stream_name(s);
    let open = match open_shards(engine, &name) {
        Ok(o) => o,
        Err(e) => {
            v.add(format!("ListShards on {name} failed: {e}"));
            return;
        }
    };
    let roll = rng.below(100);
    if roll < 25 {
        if open.len() >= MAX_OPEN {
            return;
        }
        let Some(sh) = open.get(rng.below(open.len() as u64) as usize) else { return };
        let (lo, hi) = (sh.hash_key_range.starting_hash_key, sh.hash_key_range.ending_hash_key);
        if hi - lo < 4 {
            return;
        }
        let key = lo + (hi - lo) / 2;
        let r = engine.split_shard(SplitShardInput {
            stream: StreamRef::name(&name),
            shard_to_split: sh.shard_id.clone(),
            new_starting_hash_key: key.to_string(),
        });
        let mut n = c.splits;
        control(r, &mut n, c, v, "SplitShard");
        c.splits = n;
    } else if roll < 45 {
        if open.len() < 2 {
            return;
        }
        let i = rng.below(open.len() as u64 - 1) as usize;
        let (Some(a), Some(b)) = (open.get(i), open.get(i + 1)) else { return };
        let r = engine.merge_shards(MergeShardsInput {
            stream: StreamRef::name(&name),
            shard_to_merge: a.shard_id.clone(),
            adjacent_shard_to_merge: b.shard_id.clone(),
        });
        let mut n = c.merges;
        control(r, &mut n, c, v, "MergeShards");
        c.merges = n;
    } else if roll < 55 {
        let cur = open.len() as u64;
        let lo = cur.div_ceil(2).max(1);
        let hi = (cur * 2).min(MAX_OPEN as u64).max(lo);
        let target = lo + rng.below(hi - lo + 1);
        let r = engine
            .update_shard_count(UpdateShardCountInput {
                stream: StreamRef::name(&name),
                target_shard_count: target as u32,
                scaling_type: ScalingType::UniformScaling,
            })
            .map(|_| ());
        let mut n = c.updates;
        control(r, &mut n, c, v, "UpdateShardCount");
        c.updates = n;
    } else if roll < 65 {
        let hours = match engine.describe_stream_summary(StreamRef::name(&name)) {
            Ok(d) => d.retention_period_hours,
            Err(e) => {
                v.add(format!("DescribeStreamSummary on {name} failed: {e}"));
                return;
            }
        };
        let input = |h| RetentionPeriodInput { stream: StreamRef::name(&name), retention_period_hours: h };
        let r = if hours > 24 {
            engine.decrease_stream_retention_period(input(24))
        } else {
            engine.increase_stream_retention_period(input(24 + 24 * (1 + rng.below(2) as u32)))
        };
        let mut n = c.retention_changes;
        control(r, &mut n, c, v, "retention period change");
        c.retention_changes = n;
    } else {
        if roll < 85 {
            let jump = 6 * HOUR_MS + rng.below(24 * HOUR_MS as u64) as i64;
            clock.jumped_ms.fetch_add(jump, Ordering::SeqCst);
            c.clock_jumps += 1;
        }
        match engine.enforce_retention() {
            Ok(r) => {
                c.passes += 1;
                c.segments_removed += r.segments_removed as u64;
                c.bytes_removed += r.bytes_removed;
                c.shards_expired += r.shards_expired as u64;
            }
            Err(e) => v.add(format!("enforce_retention failed: {e}")),
        }
    }
}

struct Settings {
    duration: Duration,
    streams: usize,
    producers: usize,
    rate: u64,
    seed: u64,
}

fn produce(
    engine: &Engine,
    p: usize,
    s: &Settings,
    end: Instant,
    live: &AtomicU64,
    v: &Violations,
) -> Vec<Vec<Vec<Outcome>>> {
    let mut rng = Rng::new(s.seed ^ (p as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut sent: Vec<Vec<Vec<Outcome>>> = vec![vec![Vec::new(); KEYS]; s.streams];
    let start = Instant::now();
    let mut total = 0u64;
    let mut errors = 0u64;
    while Instant::now() < end {
        let st = rng.below(s.streams as u64) as usize;
        let n = 1 + rng.below(64) as usize;
        let mut ids = Vec::with_capacity(n);
        let mut records = Vec::with_capacity(n);
        for _ in 0..n {
            let k = rng.below(KEYS as u64) as usize;
            let Some(list) = sent.get_mut(st).and_then(|x| x.get_mut(k)) else { continue };
            let id = Id { stream: st as u16, producer: p as u16, key: k as u16, counter: list.len() as u32 };
            list.push(Outcome::Unknown);
            records.push(PutRecordsRequestEntry {
                data: Bytes::from(id.encode()),
                partition_key: Some(id.partition_key()),
                explicit_hash_key: None,
            });
            ids.push(id);
        }
        let result =
            engine.put_records(PutRecordsInput { stream: StreamRef::name(stream_name(st)), records, dry_run: false });
        let set = |sent: &mut Vec<Vec<Vec<Outcome>>>, id: &Id, o: Outcome| {
            if let Some(x) = sent
                .get_mut(usize::from(id.stream))
                .and_then(|x| x.get_mut(usize::from(id.key)))
                .and_then(|x| x.get_mut(id.counter as usize))
            {
                *x = o;
            }
        };
        match result {
            Ok(out) => {
                for (id, e) in ids.iter().zip(&out.records) {
                    let o = match (&e.sequence_number, &e.shard_id) {
                        (Some(seq), Some(shard)) => Outcome::Acked {
                            shard: names::parse_shard_id(shard).unwrap_or(u32::MAX),
                            offset: seq.counter(),
                            arrival_secs: seq.arrival_secs(),
                        },
                        _ => Outcome::Failed,
                    };
                    set(&mut sent, id, o);
                }
            }
            Err(e) => {
                errors += 1;
                if errors <= 3 {
                    v.add(format!("producer {p}: PutRecords failed whole: {e}"));
                }
            }
        }
        total += ids.len() as u64;
        live.fetch_add(ids.len() as u64, Ordering::Relaxed);
        // Pace to the rate.
        let due = Duration::from_secs_f64(total as f64 / s.rate as f64);
        let el = start.elapsed();
        if due > el {
            std::thread::sleep((due - el).min(end.saturating_duration_since(Instant::now())));
        }
    }
    sent
}

/// Follow one stream with a lineage reader until `done` and then until it has nothing more.
/// With `lag`, the reader now and then stops for a while (so retention removes records
/// before they are read, as it may).
fn follow(
    engine: &Engine,
    st: usize,
    producers: usize,
    done: &AtomicBool,
    v: &Violations,
    phase: &str,
    mut lag: Option<Rng>,
) -> (Seen, u64) {
    let mut reader = LineageReader::new(engine, StreamRef::name(stream_name(st)), LineageStart::TrimHorizon);
    let mut seen = Seen::new(producers);
    let mut empties = 0;
    let mut errors = 0u64;
    let mut error_streak = 0;
    loop {
        match reader.poll(4000) {
            Ok(recs) => {
                error_streak = 0;
                if recs.is_empty() {
                    if done.load(Ordering::Acquire) {
                        empties += 1;
                        if empties >= 3 {
                            break;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(2));
                } else {
                    empties = 0;
                    for r in &recs {
                        seen.note(st as u16, r, v, phase);
                    }
                    if let Some(rng) = lag.as_mut().filter(|_| !done.load(Ordering::Acquire)) {
                        // Now and then (one poll in 50) stop for 0.3–2 s.
                        if rng.below(50) == 0 {
                            std::thread::sleep(Duration::from_millis(300 + rng.below(1700)));
                        }
                    }
                }
            }
            Err(e) => {
                errors += 1;
                error_streak += 1;
                if error_streak == 100 {
                    v.add(format!("{phase}: the lineage reader of stream {st} keeps failing: {e}"));
                }
                if error_streak >= 100 && done.load(Ordering::Acquire) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    (seen, errors)
}

/// Each shard's trim horizon: the offset of its oldest readable record (`u64::MAX` when none
/// is readable). Shards that are gone are absent.
fn horizons(engine: &Engine, st: usize) -> shardlog::Result<HashMap<u32, u64>> {
    let name = stream_name(st);
    let mut out = HashMap::new();
    for s in list_all_shards(engine, &name)? {
        let it = engine.get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name(&name),
            shard_id: s.shard_id.clone(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })?;
        let r = engine.get_records(GetRecordsInput {
            shard_iterator: it.shard_iterator,
            limit: Some(1),
            stream_arn: None,
            stream_id: None,
            dry_run: false,
        })?;
        let h = r.records.first().map_or(u64::MAX, |x| x.sequence_number.counter());
        out.insert(names::parse_shard_id(&s.shard_id).unwrap_or(u32::MAX), h);
    }
    Ok(out)
}

#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    acked: u64,
    failed: u64,
    unknown: u64,
    read_live: u64,
    removed: u64,
    retained: u64,
    read_after_reopen: u64,
}

/// Check the live reads (`live`) and the fresh read after reopen (`fresh`) of stream `st`
/// against what the producers sent.
#[allow(clippy::too_many_arguments)]
fn verify_stream(
    st: usize,
    sent: &[Sent],
    live: &Seen,
    fresh: &Seen,
    horizon: &HashMap<u32, u64>,
    cutoff_ms: i64,
    t: &mut Tally,
    v: &Violations,
) {
    let get = |s: &Seen, p: usize, k: usize, c: usize| -> (u8, (u32, u64)) {
        let n = s.reads.get(p).and_then(|x| x.get(k)).and_then(|x| x.get(c)).copied().unwrap_or(0);
        let at = s.at.get(p).and_then(|x| x.get(k)).and_then(|x| x.get(c)).copied().unwrap_or((u32::MAX, u64::MAX));
        (n, at)
    };
    for (p, per_producer) in sent.iter().enumerate() {
        let Some(keys) = per_producer.get(st) else { continue };
        for (k, outcomes) in keys.iter().enumerate() {
            for (c, o) in outcomes.iter().enumerate() {
                let (n_live, at_live) = get(live, p, k, c);
                let (n_fresh, at_fresh) = get(fresh, p, k, c);
                let name = format!("stream {st} key p{p}-k{k} counter {c}");
                match *o {
                    Outcome::Acked { shard, offset, arrival_secs } => {
                        t.acked += 1;
                        let trimmed = horizon.get(&shard).is_none_or(|&h| offset < h);
                        let old_enough = (arrival_secs as i64).saturating_mul(1000) < cutoff_ms;
                        match n_live {
                            0 if trimmed && old_enough => t.removed += 1,
                            0 => v.add(format!(
                                "{name} (shard {shard} offset {offset}, arrived {} s before the retention cutoff) was \
                                 acknowledged but never read, and retention could not have removed it (shard trim \
                                 horizon {})",
                                cutoff_ms / 1000 - arrival_secs as i64,
                                horizon.get(&shard).map_or("none: shard gone".to_string(), |h| h.to_string())
                            )),
                            1 if at_live != (shard, offset) => v.add(format!(
                                "{name}: acknowledged at shard {shard} offset {offset}, read at shard {} offset {}",
                                at_live.0, at_live.1
                            )),
                            1 => t.read_live += 1,
                            _ => {} // reported when read
                        }
                        if trimmed {
                            if n_fresh > 0 {
                                v.add(format!("{name}: read after reopen below its shard's trim horizon"));
                            }
                        } else {
                            t.retained += 1;
                            match n_fresh {
                                1 if at_fresh == (shard, offset) => t.read_after_reopen += 1,
                                1 => v.add(format!(
                                    "{name}: after reopen read at shard {} offset {}, acknowledged at {shard}/{offset}",
                                    at_fresh.0, at_fresh.1
                                )),
                                0 => v.add(format!("{name} (shard {shard} offset {offset}) is missing after reopen")),
                                _ => {}
                            }
                        }
                    }
                    Outcome::Failed => {
                        t.failed += 1;
                        if n_live > 0 || n_fresh > 0 {
                            v.add(format!("{name}: a failed entry was read"));
                        }
                    }
                    Outcome::Unknown => t.unknown += 1,
                }
            }
            // Reads of counters never sent.
            for (s, what) in [(live, "live"), (fresh, "after reopen")] {
                let reads = s.reads.get(p).and_then(|x| x.get(k)).map_or(&[][..], Vec::as_slice);
                if let Some(extra) = reads.iter().skip(outcomes.len()).position(|&n| n > 0) {
                    v.add(format!(
                        "stream {st} key p{p}-k{k}: {what} read counter {} that was never sent",
                        outcomes.len() + extra
                    ));
                }
            }
        }
    }
}

fn engine_config(clock: &Arc<SoakClock>, args: &BenchArgs) -> EngineConfig {
    EngineConfig {
        durability: args.engine_durability().durability(),
        clock: Arc::clone(clock) as shardlog::SharedClock,
        log: LogConfig { segment_max_bytes: 256 << 10, ..LogConfig::default() },
        retention_check_interval: Some(Duration::from_millis(700)),
        shard_limit: Some(10_000),
        ..EngineConfig::default()
    }
}

pub(crate) fn run(args: &BenchArgs, duration: Duration) -> Result<ExitCode, Failure> {
    let seed = args.soak_seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let s = Settings {
        duration,
        streams: args.soak_streams as usize,
        producers: args.soak_producers as usize,
        rate: args.soak_rate,
        seed,
    };
    let root = Root::new(args.dir.as_deref())?;
    let progress = Progress::new();
    let clock = Arc::new(SoakClock {
        start: Instant::now(),
        base_ms: shardlog::SystemClock.now_ms(),
        jumped_ms: AtomicI64::new(0),
    });
    let engine = Engine::open(&root.path, engine_config(&clock, args))
        .map_err(|e| Failure::run(format!("opening the engine in {}: {e}", root.path.display())))?;
    let mut rng = Rng::new(seed);
    for st in 0..s.streams {
        engine
            .create_stream(CreateStreamInput {
                stream_name: stream_name(st),
                shard_count: Some(2 + rng.below(3) as u32),
                ..Default::default()
            })
            .map_err(|e| Failure::run(format!("creating {}: {e}", stream_name(st))))?;
    }
    let violations = Violations::default();
    let lagging = args.soak_lagging_readers;
    let written = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let end = started + s.duration;
    let mut chaos = Chaos::default();
    let mut reader_errors = 0;
    let (sent, seen): (Vec<Sent>, Vec<Seen>) = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..s.streams)
            .map(|st| {
                let (engine, done, v) = (&engine, &done, &violations);
                let producers = s.producers;
                let lag = lagging.then(|| Rng::new(seed ^ 0x5EED ^ st as u64));
                scope.spawn(move || follow(engine, st, producers, done, v, "live", lag))
            })
            .collect();
        let producers: Vec<_> = (0..s.producers)
            .map(|p| {
                let (engine, s, written, v) = (&engine, &s, &written, &violations);
                scope.spawn(move || produce(engine, p, s, end, written, v))
            })
            .collect();
        // The chaos runs on this thread, between progress updates.
        while Instant::now() < end {
            let pause = Duration::from_millis(80 + rng.below(250));
            std::thread::sleep(pause.min(end.saturating_duration_since(Instant::now())));
            if Instant::now() >= end {
                break;
            }
            chaos_step(&engine, &clock, s.streams, &mut rng, &mut chaos, &violations);
            progress.set(format!(
                "soak: {:.0}/{:.0} s, {} records sent, {} splits, {} merges, {} clock jumps, {} violations",
                started.elapsed().as_secs_f64(),
                s.duration.as_secs_f64(),
                thousands(written.load(Ordering::Relaxed)),
                chaos.splits,
                chaos.merges,
                chaos.clock_jumps,
                violations.count.load(Ordering::Relaxed)
            ));
        }
        let sent: Vec<Sent> = producers.into_iter().map(|h| h.join().unwrap_or_default()).collect();
        progress.set("soak: readers draining");
        done.store(true, Ordering::Release);
        let seen = readers
            .into_iter()
            .map(|h| match h.join() {
                Ok((seen, errors)) => {
                    reader_errors += errors;
                    seen
                }
                Err(_) => {
                    violations.add("a reader thread panicked".into());
                    Seen::new(s.producers)
                }
            })
            .collect();
        (sent, seen)
    });
    let produce_seconds = started.elapsed().as_secs_f64();

    // Trim horizons and the retention cutoff, then reopen and read everything again.
    progress.set("soak: closing, reopening and reading every stream again");
    let cutoff_ms = clock.now_ms() - 24 * HOUR_MS;
    let mut horizon = Vec::new();
    for st in 0..s.streams {
        horizon.push(horizons(&engine, st).map_err(|e| Failure::run(format!("reading trim horizons: {e}")))?);
    }
    engine.close().map_err(|e| Failure::run(format!("closing the engine: {e}")))?;
    drop(engine);
    // Defensive: engines before 7e06040 kept the directory lock while a background retention
    // pass finished after close; retry briefly rather than fail the soak on it.
    let reopen_started = Instant::now();
    let engine = loop {
        match Engine::open(&root.path, EngineConfig { retention_check_interval: None, ..engine_config(&clock, args) }) {
            Ok(e) => break e,
            Err(shardlog::Error::Locked { .. }) if reopen_started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(Failure::run(format!("reopening the engine: {e}"))),
        }
    };
    let done = AtomicBool::new(true);
    let fresh: Vec<Seen> = (0..s.streams)
        .map(|st| {
            let (seen, errors) = follow(&engine, st, s.producers, &done, &violations, "after reopen", None);
            reader_errors += errors;
            seen
        })
        .collect();
    let mut tally = Tally::default();
    for st in 0..s.streams {
        let (Some(live), Some(fr), Some(h)) = (seen.get(st), fresh.get(st), horizon.get(st)) else { continue };
        verify_stream(st, &sent, live, fr, h, cutoff_ms, &mut tally, &violations);
    }
    let live_records: u64 = seen.iter().map(|x| x.records).sum();
    let fresh_records: u64 = fresh.iter().map(|x| x.records).sum();
    let final_shards: usize =
        (0..s.streams).map(|st| list_all_shards(&engine, &stream_name(st)).map_or(0, |v| v.len())).sum();
    engine.close().map_err(|e| Failure::run(format!("closing the engine: {e}")))?;
    progress.finish();

    let count = violations.count.load(Ordering::Relaxed);
    let samples = violations.samples.lock().map(|s| s.clone()).unwrap_or_default();
    let ok = count == 0;
    if args.json {
        let v = serde_json::json!({
            "soak": {
                "seconds": produce_seconds,
                "streams": s.streams,
                "producers": s.producers,
                "rate_per_producer": s.rate,
                "seed": s.seed,
                "lagging_readers": lagging,
                "durability": args.engine_durability().name(),
                "dir": root.kept.then(|| root.path.display().to_string()),
                "records": {
                    "sent": tally.acked + tally.failed + tally.unknown,
                    "acknowledged": tally.acked,
                    "failed_entries": tally.failed,
                    "unknown": tally.unknown,
                    "read_live": live_records,
                    "acknowledged_read_live": tally.read_live,
                    "removed_by_retention_before_read": tally.removed,
                    "retained_at_end": tally.retained,
                    "read_after_reopen": fresh_records,
                },
                "control_plane": {
                    "splits": chaos.splits,
                    "merges": chaos.merges,
                    "update_shard_count": chaos.updates,
                    "rejected": chaos.rejected,
                    "retention_changes": chaos.retention_changes,
                    "clock_jumps": chaos.clock_jumps,
                    "retention_passes": chaos.passes,
                    "segments_removed": chaos.segments_removed,
                    "bytes_removed": chaos.bytes_removed,
                    "shards_expired": chaos.shards_expired,
                    "shards_at_end": final_shards,
                },
                "reader_errors": reader_errors,
                "violations": count,
                "violation_samples": samples,
                "ok": ok,
            }
        });
        println!("{v}");
    } else {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "shardlog bench --soak: {:.0} s, {} streams, {} producer threads at {} records/s each, durability {}, \
             readers {}, seed {}",
            produce_seconds,
            s.streams,
            s.producers,
            thousands(s.rate),
            args.engine_durability().describe(),
            if lagging { "pausing now and then" } else { "keeping up" },
            s.seed
        );
        let _ = writeln!(
            out,
            "records: {} sent, {} acknowledged, {} failed entries, {} unknown (whole call failed)",
            thousands(tally.acked + tally.failed + tally.unknown),
            thousands(tally.acked),
            thousands(tally.failed),
            thousands(tally.unknown)
        );
        let _ = writeln!(
            out,
            "live readers (LineageReader from TRIM_HORIZON): {} records read; {} acknowledged records removed by \
             retention before they were read",
            thousands(live_records),
            thousands(tally.removed)
        );
        let _ = writeln!(
            out,
            "control plane: {} splits, {} merges, {} UpdateShardCount, {} refused (limits, races), {} retention \
             period changes, {} clock jumps of 6-30 h, {} retention passes ({} segments, {} removed, {} closed shards \
             expired); {} shards at the end",
            chaos.splits,
            chaos.merges,
            chaos.updates,
            chaos.rejected,
            chaos.retention_changes,
            chaos.clock_jumps,
            chaos.passes,
            thousands(chaos.segments_removed),
            crate::format::bytes(chaos.bytes_removed),
            chaos.shards_expired,
            final_shards
        );
        let _ = writeln!(
            out,
            "after close and reopen: {} records retained, {} read back by a fresh reader",
            thousands(tally.retained),
            thousands(fresh_records)
        );
        if reader_errors > 0 {
            let _ = writeln!(out, "reader calls that failed and were retried: {reader_errors}");
        }
        if ok {
            let _ = writeln!(
                out,
                "OK: every acknowledged record not removed by retention was read back exactly once, intact, at its \
                 acknowledged position, in per-key order"
            );
        } else {
            let _ = writeln!(out, "FAILED: {count} violation(s):");
            for m in &samples {
                let _ = writeln!(out, "  {m}");
            }
        }
        print!("{out}");
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
