//! Part (a) of `shardlog bench`: the Kinesis-rate scale test, and the load of part (c).
//!
//! One step: N shards of one stream (created once with as many shards as the largest step
//! needs) get one priming record each if they have none yet (which opens their logs, outside
//! the timed window), then producer threads feed every one of them at exactly the Kinesis
//! per-shard write target — 1,000 records/s and 1 MiB/s — for the step's length. After the
//! step every shard is fdatasynced (timed), so each step starts with nothing left to write
//! back and the flush time shows how far durability lagged the acknowledgements.
//! Record `r` of a shard is `⌊(r+1)·2^20/1000⌋ − ⌊r·2^20/1000⌋` bytes of key plus data (1,048 or
//! 1,049 B: "1 KiB records" sized so 1,000 of them are exactly 1 MiB). Each producer thread
//! owns every P-th shard and paces by wall clock in ticks (100 ms by default, the KPL's
//! default buffering time): at each tick it sends every record due by then, packing the shards'
//! records into `PutRecords` calls of at most 500 entries and 4.5 MiB. A late thread sends
//! what is due when it wakes (it catches up rather than skipping).
//!
//! A shard keeps up if all records due by the end of the step were acknowledged within one tick
//! of the end (achieved ≥ 99 % of 1,000 × step records); the step is sustained if every shard
//! keeps up, no entry failed, and the p99 latency of the `PutRecords` calls is at most 10 ms.
//! N doubles from the start count until a step is not sustained (or the maximum is reached),
//! then the gap between the last sustained and the first failed N is bisected a few times.
//!
//! With consumers attached (part (c)) every record carries `[send time ns u64][shard u32]
//! [record u32]` in its first 16 data bytes so they can measure append→receipt latency (the
//! producers then build each call's data, one copy); otherwise the data are zero-copy slices of
//! a random pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use shardlog::engine::*;
use shardlog::kinesis::{even_split, partition_key_hash};
use shardlog::Engine;

use super::consumers::{self, ConsumerReport, ConsumerSettings};
use super::hist::Histogram;
use super::progress::Progress;
use super::{elapsed_ns, KINESIS_BYTES_PER_S, KINESIS_RECORDS_PER_S};
use crate::Failure;

/// A step fails if the p99 `PutRecords` latency exceeds this.
pub(crate) const P99_LIMIT: Duration = Duration::from_millis(10);
/// A shard keeps up if it achieved at least this share of its target.
const KEEP_UP_RATIO: f64 = 0.99;
/// Most entries per `PutRecords` call (the Kinesis limit).
const MAX_ENTRIES: usize = 500;
/// Most bytes a producer packs into one call (under the 5 MiB limit).
const MAX_CALL_BYTES: usize = 4_718_592;
/// Bytes of the latency stamp at the start of every record's data.
pub(crate) const STAMP_LEN: usize = 16;

/// Settings of the scale part.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// First shard count.
    pub(crate) start: u32,
    /// Largest shard count tried.
    pub(crate) max: u32,
    /// Length of the timed window of a step.
    pub(crate) step: Duration,
    /// Producer threads.
    pub(crate) producers: usize,
    /// Bisection steps after the first failure.
    pub(crate) refine: u32,
    /// Pacing tick of the producers.
    pub(crate) tick: Duration,
}

/// What one step measured.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// Shards fed.
    pub(crate) shards: u32,
    /// The timed window (s).
    pub(crate) seconds: f64,
    /// Creating the stream and priming every shard (s).
    pub(crate) setup_seconds: f64,
    /// Records acknowledged within one tick of the window's end.
    pub(crate) records: u64,
    /// Their bytes (key + data).
    pub(crate) bytes: u64,
    /// Lowest per-shard achieved share of the target (1.0 = kept up exactly).
    pub(crate) min_ratio: f64,
    /// Mean per-shard achieved share of the target.
    pub(crate) mean_ratio: f64,
    /// Shards below the keep-up share.
    pub(crate) behind: u32,
    /// Worst lateness of a shard's acknowledgement behind its schedule (ms).
    pub(crate) max_lag_ms: f64,
    /// Entries that failed (and calls that failed whole, counted by entries).
    pub(crate) failed_entries: u64,
    /// First few errors.
    pub(crate) errors: Vec<String>,
    /// `PutRecords` call latency (µs).
    pub(crate) put: Histogram,
    /// `PutRecords` calls.
    pub(crate) calls: u64,
    /// Whether the step met the target.
    pub(crate) sustained: bool,
    /// Why not, if not.
    pub(crate) reason: Option<String>,
    /// Consumers attached during the step (part (c)).
    pub(crate) consumers: Option<ConsumerReport>,
    /// fdatasync of every shard right after the step (s): how far durability lagged.
    pub(crate) flush_seconds: f64,
}

impl Step {
    /// Aggregate MiB/s over the window.
    pub(crate) fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / self.seconds / (1024.0 * 1024.0)
    }

    /// Aggregate records/s over the window.
    pub(crate) fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds
    }

    /// Mean per-shard MiB/s.
    pub(crate) fn per_shard_mib_per_s(&self) -> f64 {
        self.mib_per_s() / f64::from(self.shards.max(1))
    }

    /// Lowest per-shard MiB/s.
    pub(crate) fn min_shard_mib_per_s(&self) -> f64 {
        self.min_ratio * KINESIS_BYTES_PER_S / (1024.0 * 1024.0)
    }

    /// The step as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "shards": self.shards,
            "seconds": self.seconds,
            "setup_seconds": self.setup_seconds,
            "records": self.records,
            "bytes": self.bytes,
            "mib_per_s": self.mib_per_s(),
            "records_per_s": self.records_per_s(),
            "per_shard_mib_per_s": {"mean": self.per_shard_mib_per_s(), "min": self.min_shard_mib_per_s()},
            "per_shard_target_ratio": {"mean": self.mean_ratio, "min": self.min_ratio},
            "shards_behind": self.behind,
            "max_lag_ms": self.max_lag_ms,
            "failed_entries": self.failed_entries,
            "errors": self.errors,
            "put_calls": self.calls,
            "put_latency": self.put.json_ms(),
            "sustained": self.sustained,
            "reason": self.reason,
            "consumers": self.consumers.as_ref().map(ConsumerReport::json),
            "flush_after_seconds": self.flush_seconds,
        })
    }
}

/// Bytes (key + data) of record `r` of a shard: 1,000 consecutive records are exactly 1 MiB.
pub(crate) fn record_bytes(r: u64) -> usize {
    let per = KINESIS_BYTES_PER_S as u64;
    let per_records = KINESIS_RECORDS_PER_S as u64;
    ((r + 1) * per / per_records - r * per / per_records) as usize
}

/// One partition key per shard of a freshly created stream of `n` shards, each hashing (MD5,
/// as Kinesis routes) into its shard's range.
pub(crate) fn routing_keys(n: u32) -> Vec<String> {
    let ranges = even_split(n);
    let mut keys: Vec<Option<String>> = vec![None; ranges.len()];
    let mut missing = ranges.len();
    let mut j = 0u64;
    while missing > 0 {
        let key = format!("k{j}");
        let h = partition_key_hash(key.as_bytes());
        let i = ranges.partition_point(|r| r.starting_hash_key <= h).saturating_sub(1);
        if let Some(slot) = keys.get_mut(i) {
            if slot.is_none() {
                *slot = Some(key);
                missing -= 1;
            }
        }
        j += 1;
    }
    keys.into_iter().map(Option::unwrap_or_default).collect()
}

/// Random bytes the records' data is cut from.
pub(crate) fn pool(len: usize) -> Bytes {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let v: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    Bytes::from(v)
}

/// Counters the monitor reads while a step runs.
#[derive(Default)]
pub(crate) struct Live {
    pub(crate) records: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

struct Feed {
    shard: u32,
    key: String,
    /// Next record index to send.
    sent: u64,
    /// Records acknowledged within the grace period.
    acked_in_window: u64,
    /// Records acknowledged in all.
    acked: u64,
    max_lag_ns: u64,
}

#[derive(Default)]
struct ProducerOut {
    put: Histogram,
    calls: u64,
    failed: u64,
    errors: Vec<String>,
}

/// One call being assembled: (feed position, record index, bytes) per entry.
struct Call {
    entries: Vec<(usize, u64, usize)>,
    bytes: usize,
}

struct Producer<'a> {
    engine: &'a Engine,
    stream: &'a str,
    pool: &'a Bytes,
    /// Stamp every record with its send time (consumers measure latency).
    stamp: bool,
    t0: Instant,
    grace_end_ns: u64,
    live: &'a Live,
    out: ProducerOut,
}

impl Producer<'_> {
    fn send(&mut self, feeds: &mut [Feed], call: &mut Call) {
        if call.entries.is_empty() {
            return;
        }
        let span = self.pool.len().saturating_sub(2 << 20).max(1);
        let records: Vec<PutRecordsRequestEntry> = if self.stamp {
            // Consumers are attached: every record starts with its send time, so build the
            // calls' data (one copy, as a producer serializing its records would).
            let now_stamp = elapsed_ns();
            let mut buf = BytesMut::with_capacity(call.bytes);
            for &(fi, r, size) in &call.entries {
                let Some(f) = feeds.get(fi) else { continue };
                let data_len = size - f.key.len();
                buf.put_u64_le(now_stamp);
                buf.put_u32_le(f.shard);
                buf.put_u32_le(r as u32);
                let start = (r.wrapping_mul(7919) as usize) % span;
                buf.put_slice(self.pool.get(start..start + data_len - STAMP_LEN).unwrap_or_default());
            }
            let data = buf.freeze();
            let mut pos = 0;
            call.entries
                .iter()
                .map(|&(fi, _, size)| {
                    let key = feeds.get(fi).map(|f| f.key.clone()).unwrap_or_default();
                    let len = size - key.len();
                    let e = PutRecordsRequestEntry {
                        data: data.slice(pos..pos + len),
                        partition_key: Some(key),
                        explicit_hash_key: None,
                    };
                    pos += len;
                    e
                })
                .collect()
        } else {
            // No consumer: the data is a zero-copy slice of the pool, as a server handing over
            // request bodies would pass it.
            call.entries
                .iter()
                .map(|&(fi, r, size)| {
                    let key = feeds.get(fi).map(|f| f.key.clone()).unwrap_or_default();
                    let start = (r.wrapping_mul(7919) as usize) % span;
                    let len = size - key.len();
                    PutRecordsRequestEntry {
                        data: self.pool.slice(start..start + len),
                        partition_key: Some(key),
                        explicit_hash_key: None,
                    }
                })
                .collect()
        };
        let t = Instant::now();
        let result =
            self.engine.put_records(PutRecordsInput { stream: StreamRef::name(self.stream), records, dry_run: false });
        let latency = t.elapsed();
        let done_ns = self.t0.elapsed().as_nanos() as u64;
        self.out.put.record(latency.as_micros() as u64);
        self.out.calls += 1;
        match result {
            Ok(out) => {
                let (mut n, mut b) = (0u64, 0u64);
                for (entry, &(fi, _, size)) in out.records.iter().zip(&call.entries) {
                    let Some(f) = feeds.get_mut(fi) else { continue };
                    if entry.sequence_number.is_some() {
                        f.acked += 1;
                        if done_ns <= self.grace_end_ns {
                            f.acked_in_window += 1;
                        }
                        n += 1;
                        b += size as u64;
                    } else {
                        self.out.failed += 1;
                        if self.out.errors.len() < 5 {
                            self.out.errors.push(format!(
                                "shard {}: {}",
                                f.shard,
                                entry.error_message.clone().unwrap_or_default()
                            ));
                        }
                    }
                }
                self.live.records.fetch_add(n, Ordering::Relaxed);
                self.live.bytes.fetch_add(b, Ordering::Relaxed);
            }
            Err(e) => {
                self.out.failed += call.entries.len() as u64;
                if self.out.errors.len() < 5 {
                    self.out.errors.push(format!("PutRecords: {e}"));
                }
            }
        }
        // Lateness: how far behind its wall-clock schedule each touched shard's
        // acknowledgements are now.
        for &(fi, _, _) in &call.entries {
            if let Some(f) = feeds.get_mut(fi) {
                let schedule_ns = f.acked.saturating_mul(1_000_000_000) / KINESIS_RECORDS_PER_S as u64;
                f.max_lag_ns = f.max_lag_ns.max(done_ns.saturating_sub(schedule_ns));
            }
        }
        call.entries.clear();
        call.bytes = 0;
    }

    fn run(mut self, feeds: &mut [Feed], step: Duration, tick: Duration) -> ProducerOut {
        let ticks = (step.as_nanos().div_ceil(tick.as_nanos().max(1))) as u32;
        let mut call = Call { entries: Vec::with_capacity(MAX_ENTRIES), bytes: 0 };
        for k in 1..=ticks {
            let target = (tick * k).min(step);
            let wake = self.t0 + target;
            let now = Instant::now();
            if wake > now {
                std::thread::sleep(wake - now);
            }
            let elapsed = self.t0.elapsed().min(step);
            let due = (elapsed.as_nanos() * KINESIS_RECORDS_PER_S as u128 / 1_000_000_000) as u64;
            for fi in 0..feeds.len() {
                while let Some(f) = feeds.get_mut(fi).filter(|f| f.sent < due) {
                    let size = record_bytes(f.sent);
                    call.entries.push((fi, f.sent, size));
                    call.bytes += size;
                    f.sent += 1;
                    if call.entries.len() >= MAX_ENTRIES || call.bytes >= MAX_CALL_BYTES {
                        self.send(feeds, &mut call);
                    }
                }
            }
            self.send(feeds, &mut call);
        }
        self.out
    }
}

/// The stream the scale steps feed: created once with as many shards as the largest step
/// needs (shards are opened lazily, so unfed shards cost nothing); step N feeds shards
/// `0..N`. Reusing it avoids creating, opening and deleting hundreds of shards per step.
pub(crate) struct Bed {
    name: String,
    keys: Vec<String>,
    /// Shards `0..opened` have been written (their logs are open).
    opened: u32,
}

impl Bed {
    /// Create stream `name` with `shards` shards.
    pub(crate) fn create(engine: &Engine, name: &str, shards: u32) -> Result<Bed, Failure> {
        engine
            .create_stream(CreateStreamInput {
                stream_name: name.into(),
                shard_count: Some(shards),
                ..Default::default()
            })
            .map_err(|e| Failure::run(format!("creating stream {name} with {shards} shards: {e}")))?;
        Ok(Bed { name: name.into(), keys: routing_keys(shards), opened: 0 })
    }

    /// Shards of the stream.
    pub(crate) fn shards(&self) -> u32 {
        self.keys.len() as u32
    }

    /// Write one record (stamp 0) to every shard below `n` not written yet, which opens its
    /// log (creating its directory and first segment) outside the timed window.
    fn prime(&mut self, engine: &Engine, n: u32) -> Result<(), Failure> {
        let (from, to) = (self.opened as usize, (n as usize).min(self.keys.len()));
        for chunk in self.keys.get(from..to).unwrap_or_default().chunks(MAX_ENTRIES) {
            let records = chunk
                .iter()
                .map(|k| PutRecordsRequestEntry {
                    data: Bytes::from_static(&[0u8; STAMP_LEN]),
                    partition_key: Some(k.clone()),
                    explicit_hash_key: None,
                })
                .collect();
            let out = engine
                .put_records(PutRecordsInput { stream: StreamRef::name(&self.name), records, dry_run: false })
                .map_err(|e| Failure::run(format!("priming {}: {e}", self.name)))?;
            if out.failed_record_count > 0 {
                return Err(Failure::run(format!("priming {}: {} entries failed", self.name, out.failed_record_count)));
            }
        }
        self.opened = self.opened.max(to as u32);
        Ok(())
    }
}

/// Run one step feeding `n` shards of `bed` (with consumers attached, for part (c)), then
/// fdatasync every shard (timed: how long after the step its data was all durable).
pub(crate) fn run_step(
    engine: &Engine,
    bed: &mut Bed,
    n: u32,
    s: &Settings,
    consumers: Option<&ConsumerSettings>,
    progress: &Progress,
) -> Result<Step, Failure> {
    let n = n.min(bed.shards());
    let name = bed.name.clone();
    let setup = Instant::now();
    progress.set(format!("{name}: opening the logs of {n} shards"));
    bed.prime(engine, n)?;
    let pool = pool(4 << 20);
    let shard_ids: Vec<String> = (0..n).map(shardlog::kinesis::names::shard_id_name).collect();
    let attached = match consumers {
        Some(c) => Some(consumers::start(engine, &name, &shard_ids, c)?),
        None => None,
    };
    let setup_seconds = setup.elapsed().as_secs_f64();

    let producers = s.producers.clamp(1, n as usize);
    let mut groups: Vec<Vec<Feed>> = (0..producers).map(|_| Vec::new()).collect();
    for (i, key) in bed.keys.iter().take(n as usize).enumerate() {
        if let Some(g) = groups.get_mut(i % producers) {
            g.push(Feed { shard: i as u32, key: key.clone(), sent: 0, acked_in_window: 0, acked: 0, max_lag_ns: 0 });
        }
    }
    let live = Live::default();
    let t0 = Instant::now();
    let grace_end_ns = (s.step + s.tick).as_nanos() as u64;
    let mut behind_series = Vec::new();
    let name = name.as_str();
    let outs: Vec<ProducerOut> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .iter_mut()
            .map(|feeds| {
                let p = Producer {
                    engine,
                    stream: name,
                    pool: &pool,
                    stamp: attached.is_some(),
                    t0,
                    grace_end_ns,
                    live: &live,
                    out: ProducerOut::default(),
                };
                let (step, tick) = (s.step, s.tick);
                scope.spawn(move || p.run(feeds, step, tick))
            })
            .collect();
        let mut last_sample = Instant::now();
        while handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(50));
            let t = t0.elapsed().as_secs_f64();
            let bytes = live.bytes.load(Ordering::Relaxed) as f64;
            let mut msg = format!(
                "{name}: {n} shards, {t:.1}/{:.1} s, {:.1} MiB/s, {} records/s",
                s.step.as_secs_f64(),
                bytes / t.max(1e-3) / (1024.0 * 1024.0),
                crate::format::rate(live.records.load(Ordering::Relaxed) as f64 / t.max(1e-3)).trim_end()
            );
            if let Some(c) = &attached {
                if last_sample.elapsed() >= consumers::SAMPLE_PERIOD {
                    last_sample = Instant::now();
                    let sample = c.sample(t);
                    msg.push_str(&format!(
                        "; behind: polling {} ms, push {} ms",
                        sample.polling_ms.max(0),
                        sample.push_ms.max(0)
                    ));
                    behind_series.push(sample);
                }
            }
            progress.set(msg);
        }
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });

    let target = (s.step.as_nanos() * KINESIS_RECORDS_PER_S as u128 / 1_000_000_000) as u64;
    let feeds: Vec<&Feed> = groups.iter().flatten().collect();
    let mut step = Step {
        shards: n,
        seconds: s.step.as_secs_f64(),
        setup_seconds,
        records: 0,
        bytes: 0,
        min_ratio: f64::INFINITY,
        mean_ratio: 0.0,
        behind: 0,
        max_lag_ms: 0.0,
        failed_entries: 0,
        errors: Vec::new(),
        put: Histogram::default(),
        calls: 0,
        sustained: false,
        reason: None,
        consumers: None,
        flush_seconds: 0.0,
    };
    for f in &feeds {
        step.records += f.acked_in_window;
        step.bytes += (0..f.acked_in_window).map(record_bytes).sum::<usize>() as u64;
        let ratio = f.acked_in_window as f64 / target.max(1) as f64;
        step.min_ratio = step.min_ratio.min(ratio);
        step.mean_ratio += ratio / feeds.len().max(1) as f64;
        if ratio < KEEP_UP_RATIO {
            step.behind += 1;
        }
        step.max_lag_ms = step.max_lag_ms.max(f.max_lag_ns as f64 / 1e6);
    }
    if !step.min_ratio.is_finite() {
        step.min_ratio = 0.0;
    }
    for o in &outs {
        step.put.merge(&o.put);
        step.calls += o.calls;
        step.failed_entries += o.failed;
        step.errors.extend(o.errors.iter().take(5usize.saturating_sub(step.errors.len())).cloned());
    }
    let p99 = step.put.quantile(0.99);
    step.reason = if step.failed_entries > 0 {
        Some(format!("{} entries failed", step.failed_entries))
    } else if step.behind > 0 {
        Some(format!(
            "{} of {n} shards fell behind (slowest at {:.1}% of its target)",
            step.behind,
            step.min_ratio * 100.0
        ))
    } else if p99 > P99_LIMIT.as_micros() as u64 {
        Some(format!("p99 PutRecords latency {:.2} ms > {} ms", p99 as f64 / 1e3, P99_LIMIT.as_millis()))
    } else {
        None
    };
    step.sustained = step.reason.is_none();

    if let Some(c) = attached {
        progress.set(format!("{name}: waiting for consumers to drain"));
        let written = feeds.iter().map(|f| f.acked).sum::<u64>();
        step.consumers = Some(c.finish(written, behind_series, t0));
    }
    progress.set(format!("{name}: fdatasync of every shard after the step"));
    let flush = Instant::now();
    engine.flush().map_err(|e| Failure::run(format!("flushing after the step: {e}")))?;
    step.flush_seconds = flush.elapsed().as_secs_f64();
    Ok(step)
}

/// Everything part (a) measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scale {
    /// Every step, in the order run.
    pub(crate) steps: Vec<Step>,
}

impl Scale {
    /// The sustained step with the most shards.
    pub(crate) fn best(&self) -> Option<&Step> {
        self.steps.iter().filter(|s| s.sustained).max_by_key(|s| s.shards)
    }

    /// The failed step with the fewest shards.
    pub(crate) fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().filter(|s| !s.sustained).min_by_key(|s| s.shards)
    }
}

/// Run part (a): grow N until a step is not sustained, then bisect.
pub(crate) fn run(engine: &Engine, bed: &mut Bed, s: &Settings, progress: &Progress) -> Result<Scale, Failure> {
    let mut scale = Scale::default();
    let mut n = s.start.min(s.max).max(1);
    let step_line = |step: &Step| {
        progress.line(format!(
            "scale {:>5} shards: {:>8.1} MiB/s {:>9} records/s, slowest shard {:>5.1}%, put p99 {:>6.2} ms: {}",
            step.shards,
            step.mib_per_s(),
            crate::format::rate(step.records_per_s()),
            step.min_ratio * 100.0,
            step.put.quantile(0.99) as f64 / 1e3,
            step.reason.as_deref().unwrap_or("sustained")
        ));
    };
    loop {
        let step = run_step(engine, bed, n, s, None, progress)?;
        step_line(&step);
        let ok = step.sustained;
        scale.steps.push(step);
        if !ok || n >= s.max {
            break;
        }
        n = n.saturating_mul(2).min(s.max);
    }
    for _ in 0..s.refine {
        let lo = scale.best().map_or(0, |b| b.shards);
        let Some(hi) = scale.steps.iter().filter(|st| !st.sustained && st.shards > lo).map(|st| st.shards).min() else {
            break;
        };
        // Stop once the bracket is within about 10 %.
        if hi - lo <= (lo / 10).max(1) {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        let mid = if mid >= 20 { mid / 10 * 10 } else { mid }.max(lo + 1);
        if mid >= hi {
            break;
        }
        let step = run_step(engine, bed, mid, s, None, progress)?;
        step_line(&step);
        scale.steps.push(step);
    }
    scale.steps.sort_by_key(|st| st.shards);
    Ok(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_records_are_one_mebibyte() {
        let total: usize = (0..1000).map(record_bytes).sum();
        assert_eq!(total, 1 << 20);
        let total: usize = (0..4000).map(record_bytes).sum();
        assert_eq!(total, 4 << 20);
        assert!((0..1000).all(|r| (1048..=1049).contains(&record_bytes(r))));
    }

    #[test]
    fn routing_keys_land_on_their_shards() {
        let n = 37;
        let keys = routing_keys(n);
        let ranges = even_split(n);
        for (key, range) in keys.iter().zip(&ranges) {
            let h = partition_key_hash(key.as_bytes());
            assert!(range.starting_hash_key <= h && h <= range.ending_hash_key, "{key}");
        }
    }
}
