//! Part (b) of `shardlog bench`: the maximum rates of one shard, through the engine.
//!
//! A stream of one shard; producer threads call `PutRecords` back to back for a fixed time
//! (500 entries per call for small records, as many as fit in the 5 MiB request limit for
//! large ones), then one reader reads everything back in order with `GetRecords` from
//! `TRIM_HORIZON`, checking every record's size. Record size is key plus data, as Kinesis
//! counts it. Rates are given as multiples of the Kinesis per-shard write target (1,000
//! records/s and 1 MiB/s; whichever binds at the record size).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shardlog::engine::*;
use shardlog::Engine;

use super::hist::Histogram;
use super::progress::Progress;
use super::scale::pool;
use crate::Failure;

/// One measured direction.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rate {
    /// Records moved.
    pub(crate) records: u64,
    /// Bytes (key + data) moved.
    pub(crate) bytes: u64,
    /// Seconds taken.
    pub(crate) seconds: f64,
}

impl Rate {
    /// Records per second.
    pub(crate) fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-9)
    }

    /// MiB per second.
    pub(crate) fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / self.seconds.max(1e-9) / (1024.0 * 1024.0)
    }

    /// Multiple of the Kinesis per-shard write target, and the limit that binds.
    pub(crate) fn kinesis_multiple(&self) -> (f64, &'static str) {
        super::kinesis_multiple(self.records_per_s(), self.mib_per_s() * 1024.0 * 1024.0)
    }

    fn json(&self) -> serde_json::Value {
        let (multiple, binding) = self.kinesis_multiple();
        serde_json::json!({
            "records": self.records,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "records_per_s": self.records_per_s(),
            "mib_per_s": self.mib_per_s(),
            "kinesis_multiple": multiple,
            "binding_limit": binding,
        })
    }
}

/// The maximum rates at one record size.
#[derive(Debug, Clone)]
pub(crate) struct Single {
    /// Key + data bytes per record.
    pub(crate) record_bytes: usize,
    /// Producer threads.
    pub(crate) producers: usize,
    /// Entries per `PutRecords` call.
    pub(crate) entries_per_call: usize,
    /// `PutRecords` → acknowledged.
    pub(crate) write: Rate,
    /// `GetRecords` of everything written, in order.
    pub(crate) read: Rate,
    /// `PutRecords` call latency (µs).
    pub(crate) put: Histogram,
}

impl Single {
    /// As JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "record_bytes": self.record_bytes,
            "producers": self.producers,
            "entries_per_call": self.entries_per_call,
            "write": self.write.json(),
            "read": self.read.json(),
            "put_latency": self.put.json_ms(),
        })
    }
}

const KEY_LEN: usize = 4;
/// Kinesis' PutRecords limits: entries and bytes per call.
const MAX_PUT_RECORDS_ENTRIES: usize = 500;
const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;

/// Measure one record size on a fresh one-shard stream `name` (kept; flushed afterwards).
pub(crate) fn run(
    engine: &Engine,
    name: &str,
    record_bytes: usize,
    seconds: Duration,
    producers: usize,
    progress: &Progress,
) -> Result<Single, Failure> {
    let fail = |what: &str, e: shardlog::Error| Failure::run(format!("{what} on {name}: {e}"));
    engine
        .create_stream(CreateStreamInput { stream_name: name.into(), shard_count: Some(1), ..Default::default() })
        .map_err(|e| fail("CreateStream", e))?;
    let data_len = record_bytes.saturating_sub(KEY_LEN).max(1);
    let per_call = (MAX_PUT_RECORDS_ENTRIES).min(MAX_PUT_RECORDS_BYTES / (data_len + KEY_LEN)).max(1);
    let pool = pool(data_len + (4 << 20));
    let span = pool.len() - data_len;
    let written = AtomicU64::new(0);
    let producers = producers.max(1);
    let start = Instant::now();
    let deadline = start + seconds;
    let outs: Vec<Result<(u64, Histogram), Failure>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let (pool, written) = (&pool, &written);
                scope.spawn(move || -> Result<(u64, Histogram), Failure> {
                    let key = format!("k{p:03}");
                    let mut acked = 0u64;
                    let mut hist = Histogram::default();
                    let mut i = p as u64;
                    while Instant::now() < deadline {
                        let records: Vec<PutRecordsRequestEntry> = (0..per_call)
                            .map(|_| {
                                i = i.wrapping_add(7919);
                                let at = (i as usize) % span;
                                PutRecordsRequestEntry {
                                    data: pool.slice(at..at + data_len),
                                    partition_key: Some(key.clone()),
                                    explicit_hash_key: None,
                                }
                            })
                            .collect();
                        let t = Instant::now();
                        let out = engine
                            .put_records(PutRecordsInput { stream: StreamRef::name(name), records, dry_run: false })
                            .map_err(|e| Failure::run(format!("PutRecords on {name}: {e}")))?;
                        hist.record(t.elapsed().as_micros() as u64);
                        if out.failed_record_count > 0 {
                            return Err(Failure::run(format!(
                                "PutRecords on {name}: {} entries failed",
                                out.failed_record_count
                            )));
                        }
                        acked += per_call as u64;
                        written.fetch_add(per_call as u64, Ordering::Relaxed);
                    }
                    Ok((acked, hist))
                })
            })
            .collect();
        while handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(50));
            let t = start.elapsed().as_secs_f64();
            let n = written.load(Ordering::Relaxed);
            progress.set(format!(
                "single shard, {record_bytes} B records: writing {t:.1}/{:.1} s, {} records/s",
                seconds.as_secs_f64(),
                crate::format::rate(n as f64 / t.max(1e-3)).trim_end()
            ));
        }
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Failure::run("producer panicked")))).collect()
    });
    let write_seconds = start.elapsed().as_secs_f64();
    let mut put = Histogram::default();
    let mut records = 0;
    for o in outs {
        let (n, h) = o?;
        records += n;
        put.merge(&h);
    }
    let write = Rate { records, bytes: records * (data_len + KEY_LEN) as u64, seconds: write_seconds };

    progress.set(format!("single shard, {record_bytes} B records: reading {} records back", records));
    let start = Instant::now();
    let mut it = Some(
        engine
            .get_shard_iterator(GetShardIteratorInput {
                stream: StreamRef::name(name),
                shard_id: "shardId-000000000000".into(),
                shard_iterator_type: ShardIteratorType::TrimHorizon,
                starting_sequence_number: None,
                timestamp: None,
                dry_run: false,
            })
            .map_err(|e| fail("GetShardIterator", e))?
            .shard_iterator,
    );
    let mut read_records = 0u64;
    let mut last_counter = None;
    while read_records < records {
        let Some(iterator) = it.take() else { break };
        let r = engine
            .get_records(GetRecordsInput {
                shard_iterator: iterator,
                limit: None,
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            })
            .map_err(|e| fail("GetRecords", e))?;
        if r.records.is_empty() {
            return Err(Failure::run(format!("{name}: read stopped at {read_records} of {records} records")));
        }
        for rec in &r.records {
            let counter = rec.sequence_number.counter();
            if rec.data.len() != data_len
                || rec.partition_key.len() != KEY_LEN
                || last_counter.is_some_and(|c| counter != c + 1)
            {
                return Err(Failure::run(format!("{name}: record {counter} is not what was written")));
            }
            last_counter = Some(counter);
        }
        read_records += r.records.len() as u64;
        it = r.next_shard_iterator;
    }
    let read = Rate {
        records: read_records,
        bytes: read_records * (data_len + KEY_LEN) as u64,
        seconds: start.elapsed().as_secs_f64(),
    };
    if read_records != records {
        return Err(Failure::run(format!("{name}: read {read_records} records, {records} were acknowledged")));
    }
    // Make it all durable now, so the next part does not pay for this one's write-back.
    progress.set(format!("single shard, {record_bytes} B records: fdatasync"));
    engine.flush().map_err(|e| fail("flush", e))?;
    Ok(Single { record_bytes: data_len + KEY_LEN, producers, entries_per_call: per_call, write, read, put })
}
