//! The baseline comparison of `shardlog bench`: single-shard append-then-read throughput through
//! `ShardLog`, beside a raw baseline measured in the same run on the same file system with the
//! same bytes.
//!
//! 1. shardlog append: N records in batches through `ShardLog::append`.
//! 2. shardlog close (fdatasync, index files, clean marker) and reopen (timed separately).
//! 3. baseline append: the same records appended to a plain `std::fs::File` behind a
//!    `BufWriter`, each framed as `[len u32][crc u32][key_len u16][key][data]` with a
//!    crc32fast CRC of key and data per record; under `--durability sync` the baseline
//!    flushes and fdatasyncs after every batch, otherwise it never syncs.
//! 4. shardlog read: every record in order through `ShardLog::read` (the library CRC-checks
//!    every batch), each record's offset, key and data compared with what was written.
//! 5. baseline read: the file read back sequentially, every record's CRC checked and its key
//!    and data compared the same way.
//!
//! Record bytes (the MiB/s figures) are partition key plus data, as Kinesis counts them.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use shardlog::check;
use shardlog::io::RealVfs;
use shardlog::{LogConfig, LogOptions, RecordRef, ShardLog};

use super::{DurabilityArg, KINESIS_BYTES_PER_S, KINESIS_RECORDS_PER_S};
use crate::format::{bytes, rate, thousands};
use crate::Failure;

/// Parameters of the baseline comparison.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    /// Records to append and read back.
    pub(crate) records: u64,
    /// Data bytes per record.
    pub(crate) record_size: usize,
    /// Records per append.
    pub(crate) batch: u64,
    /// When appends are acknowledged.
    pub(crate) durability: DurabilityArg,
    /// Segment roll size.
    pub(crate) segment_bytes: u64,
}

/// Length of every partition key (`pk-00` … `pk-15`).
const KEY_LEN: usize = 5;
/// Records of a read call.
const READ_CHUNK_RECORDS: usize = 10_000;

/// The records of a run: record `i` is key `pk-(i % 16)` and a `record_size`-byte window of a
/// random pool starting at a position derived from `i`, so neighbours differ and a misplaced
/// record is caught, without generating bytes inside the timed loops.
struct Workload {
    pool: Vec<u8>,
    span: usize,
    size: usize,
    keys: Vec<[u8; KEY_LEN]>,
}

impl Workload {
    fn new(size: usize) -> Workload {
        let span = 4 << 20;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let pool = (0..span + size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let keys = (0..16u8).map(|k| [b'p', b'k', b'-', b'0' + k / 10, b'0' + k % 10]).collect();
        Workload { pool, span, size, keys }
    }

    fn key(&self, i: u64) -> &[u8] {
        self.keys.get((i % 16) as usize).map_or(&[], |k| &k[..])
    }

    fn data(&self, i: u64) -> &[u8] {
        let start = (i.wrapping_mul(61) % self.span as u64) as usize;
        self.pool.get(start..start + self.size).unwrap_or_default()
    }

    fn record_bytes(&self) -> u64 {
        (KEY_LEN + self.size) as u64
    }
}

/// One timed phase.
#[derive(Debug, Clone, Copy)]
struct Phase {
    seconds: f64,
    records: u64,
    record_bytes: u64,
}

impl Phase {
    fn new(elapsed: Duration, records: u64, record_bytes: u64) -> Phase {
        Phase { seconds: elapsed.as_secs_f64().max(1e-9), records, record_bytes }
    }

    fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds
    }

    fn mib_per_s(&self) -> f64 {
        (self.records * self.record_bytes) as f64 / self.seconds / (1024.0 * 1024.0)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "seconds": self.seconds,
            "records_per_s": self.records_per_s(),
            "mib_per_s": self.mib_per_s(),
        })
    }
}

/// Everything a run measured.
pub(crate) struct Results {
    append: Phase,
    append_baseline: Phase,
    read: Phase,
    read_baseline: Phase,
    close: Duration,
    reopen: Duration,
    segments: usize,
    log_bytes: u64,
    baseline_bytes: u64,
}

impl Results {
    /// shardlog append rate over the raw file's.
    pub(crate) fn append_ratio(&self) -> f64 {
        ratio(&self.append, &self.append_baseline)
    }

    /// shardlog read rate over the raw file's.
    pub(crate) fn read_ratio(&self) -> f64 {
        ratio(&self.read, &self.read_baseline)
    }
}

fn err(context: &str) -> impl Fn(shardlog::Error) -> Failure + '_ {
    move |e| Failure::run(format!("{context}: {e}"))
}

fn io_err(context: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::run(format!("{context}: {e}"))
}

/// Run the comparison: the shard log goes into `shard_dir` (new or empty), the baseline file
/// into a scratch directory created (and removed) under `scratch_parent`, on the same file
/// system.
pub(crate) fn measure(args: &Params, shard_dir: &Path, scratch_parent: &Path) -> Result<Results, Failure> {
    let work = Workload::new(args.record_size);
    let batch_encoded = encoded_batch_bytes(args);
    let scratch = tempfile::Builder::new()
        .prefix(".shardlog-bench-baseline")
        .tempdir_in(scratch_parent)
        .map_err(io_err("creating a scratch directory"))?;
    let baseline_path = scratch.path().join("baseline.dat");

    let config = LogConfig {
        durability: args.durability.durability(),
        segment_max_bytes: args.segment_bytes,
        max_batch_bytes: LogConfig::default().max_batch_bytes.max(u32::try_from(batch_encoded).unwrap_or(u32::MAX)),
        ..LogConfig::default()
    };
    let n = args.records;
    let log = ShardLog::open(shard_dir, LogOptions::new(config.clone())).map_err(err("opening the shard log"))?;
    let append = append_shardlog(&log, &work, n, args.batch)?;
    let t = Instant::now();
    log.close().map_err(err("closing the shard log"))?;
    drop(log);
    let close = t.elapsed();

    let append_baseline = append_baseline(&baseline_path, &work, n, args.batch, args.durability)?;

    let t = Instant::now();
    let log = ShardLog::open(shard_dir, LogOptions::new(config)).map_err(err("reopening the shard log"))?;
    let reopen = t.elapsed();
    let read = read_shardlog(&log, &work, n)?;
    let segments = log.segments().len();
    log.close().map_err(err("closing the shard log"))?;
    drop(log);
    let read_baseline = read_baseline(&baseline_path, &work, n)?;
    let baseline_bytes = std::fs::metadata(&baseline_path).map(|m| m.len()).unwrap_or(0);
    drop(scratch);

    let log_bytes = check::examine(&RealVfs::shared(), shard_dir)
        .map(|r| r.shards.iter().map(check::ShardReport::total_bytes).sum())
        .unwrap_or(0);
    Ok(Results { append, append_baseline, read, read_baseline, close, reopen, segments, log_bytes, baseline_bytes })
}

fn encoded_batch_bytes(args: &Params) -> u64 {
    let record_bytes = (KEY_LEN + args.record_size) as u64;
    args.batch.saturating_mul(record_bytes + 7).saturating_add(36)
}

/// Check the parameters before anything is created (usage errors).
pub(crate) fn check(args: &Params) -> Result<(), Failure> {
    if args.record_size > 64 << 20 {
        return Err(Failure::usage("--record-size must be at most 64 MiB"));
    }
    let batch_encoded = encoded_batch_bytes(args);
    if batch_encoded > u64::from(shardlog::batch::MAX_BATCH_LEN) {
        return Err(Failure::usage(format!(
            "a batch of {} records of {} bytes encodes to {batch_encoded} bytes, over the {}-byte batch limit; lower \
             --batch or --record-size",
            args.batch,
            args.record_size,
            shardlog::batch::MAX_BATCH_LEN
        )));
    }
    Ok(())
}

fn append_shardlog(log: &ShardLog, work: &Workload, n: u64, batch: u64) -> Result<Phase, Failure> {
    let mut refs: Vec<RecordRef<'_>> = Vec::with_capacity(usize::try_from(batch).unwrap_or(0));
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let end = n.min(i + batch);
        refs.clear();
        refs.extend((i..end).map(|j| RecordRef::new(work.key(j), work.data(j))));
        let a = log.append(&refs).map_err(err("append"))?;
        if a.first_offset != i || a.next_offset != end {
            return Err(Failure::run(format!(
                "append landed at {}..{}, expected {i}..{end}",
                a.first_offset, a.next_offset
            )));
        }
        i = end;
    }
    Ok(Phase::new(start.elapsed(), n, work.record_bytes()))
}

fn read_shardlog(log: &ShardLog, work: &Workload, n: u64) -> Result<Phase, Failure> {
    if log.high_watermark() != n {
        return Err(Failure::run(format!("reopened log holds {} records, {n} were appended", log.high_watermark())));
    }
    let start = Instant::now();
    let mut next = 0u64;
    while next < n {
        let r = log.read(next, READ_CHUNK_RECORDS, usize::MAX).map_err(err("read"))?;
        if r.records.is_empty() {
            return Err(Failure::run(format!("read at offset {next} returned nothing before the end ({n})")));
        }
        for rec in &r.records {
            if rec.offset != next || rec.partition_key != work.key(next) || rec.data != work.data(next) {
                return Err(Failure::run(format!(
                    "record at offset {} (expected {next}) does not hold what was written",
                    rec.offset
                )));
            }
            next += 1;
        }
        if r.next_offset != next {
            return Err(Failure::run(format!("read returned next_offset {}, expected {next}", r.next_offset)));
        }
    }
    Ok(Phase::new(start.elapsed(), n, work.record_bytes()))
}

const FRAME_HEADER: usize = 10;

fn append_baseline(path: &Path, work: &Workload, n: u64, batch: u64, d: DurabilityArg) -> Result<Phase, Failure> {
    let file = File::create(path).map_err(io_err("creating the baseline file"))?;
    let capacity = usize::try_from(batch * (work.record_bytes() + FRAME_HEADER as u64)).unwrap_or(0).max(64 << 10);
    let start = Instant::now();
    let mut w = BufWriter::with_capacity(capacity, file);
    let mut i = 0;
    while i < n {
        let end = n.min(i + batch);
        for j in i..end {
            let (key, data) = (work.key(j), work.data(j));
            let mut h = crc32fast::Hasher::new();
            h.update(key);
            h.update(data);
            let mut head = [0u8; FRAME_HEADER];
            head[..4].copy_from_slice(&(data.len() as u32).to_le_bytes());
            head[4..8].copy_from_slice(&h.finalize().to_le_bytes());
            head[8..].copy_from_slice(&(key.len() as u16).to_le_bytes());
            w.write_all(&head).map_err(io_err("baseline write"))?;
            w.write_all(key).map_err(io_err("baseline write"))?;
            w.write_all(data).map_err(io_err("baseline write"))?;
        }
        if d == DurabilityArg::Sync {
            w.flush().map_err(io_err("baseline write"))?;
            w.get_ref().sync_data().map_err(io_err("baseline fdatasync"))?;
        }
        i = end;
    }
    w.flush().map_err(io_err("baseline write"))?;
    let elapsed = start.elapsed();
    Ok(Phase::new(elapsed, n, work.record_bytes()))
}

fn read_baseline(path: &Path, work: &Workload, n: u64) -> Result<Phase, Failure> {
    let file = File::open(path).map_err(io_err("opening the baseline file"))?;
    let start = Instant::now();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut scratch = Vec::new();
    let mut i = 0u64;
    let bad = |i: u64| Failure::run(format!("baseline record {i} does not hold what was written"));
    loop {
        let buf = r.fill_buf().map_err(io_err("baseline read"))?;
        if buf.is_empty() {
            break;
        }
        // Fast path: the whole frame is in the buffer.
        if let Some(len) = frame_len(buf) {
            if let Some(frame) = buf.get(..len) {
                check_frame(frame, work, i).ok_or_else(|| bad(i))?;
                r.consume(len);
                i += 1;
                continue;
            }
        }
        // Slow path: a frame straddles the buffer's end.
        let mut head = [0u8; FRAME_HEADER];
        r.read_exact(&mut head).map_err(io_err("baseline read"))?;
        let len = frame_len(&head).ok_or_else(|| bad(i))?;
        scratch.clear();
        scratch.extend_from_slice(&head);
        scratch.resize(len, 0);
        let body = scratch.get_mut(FRAME_HEADER..).ok_or_else(|| bad(i))?;
        r.read_exact(body).map_err(io_err("baseline read"))?;
        check_frame(&scratch, work, i).ok_or_else(|| bad(i))?;
        i += 1;
    }
    if i != n {
        return Err(Failure::run(format!("baseline file holds {i} records, {n} were written")));
    }
    Ok(Phase::new(start.elapsed(), n, work.record_bytes()))
}

fn frame_len(buf: &[u8]) -> Option<usize> {
    let head = buf.get(..FRAME_HEADER)?;
    let data_len = u32::from_le_bytes(head.get(..4)?.try_into().ok()?) as usize;
    let key_len = usize::from(u16::from_le_bytes(head.get(8..10)?.try_into().ok()?));
    if data_len > 64 << 20 {
        return None;
    }
    Some(FRAME_HEADER + key_len + data_len)
}

fn check_frame(frame: &[u8], work: &Workload, i: u64) -> Option<()> {
    let stored = u32::from_le_bytes(frame.get(4..8)?.try_into().ok()?);
    let key_len = usize::from(u16::from_le_bytes(frame.get(8..10)?.try_into().ok()?));
    let key = frame.get(FRAME_HEADER..FRAME_HEADER + key_len)?;
    let data = frame.get(FRAME_HEADER + key_len..)?;
    let mut h = crc32fast::Hasher::new();
    h.update(key);
    h.update(data);
    (h.finalize() == stored && key == work.key(i) && data == work.data(i)).then_some(())
}

fn kinesis_multiple(p: &Phase) -> (f64, &'static str) {
    super::kinesis_multiple(p.records_per_s(), p.mib_per_s() * 1024.0 * 1024.0)
}

fn ratio(a: &Phase, b: &Phase) -> f64 {
    a.records_per_s() / b.records_per_s()
}

/// The comparison as the JSON object `shardlog bench --records N --json` prints (also the
/// `baseline` member of the full run's object).
pub(crate) fn json(args: &Params, r: &Results, dir: Option<&Path>) -> serde_json::Value {
    let record_bytes = (KEY_LEN + args.record_size) as u64;
    let (multiple, binding) = kinesis_multiple(&r.append);
    serde_json::json!({
        "records": args.records,
        "record_size": args.record_size,
        "record_bytes": record_bytes,
        "batch": args.batch,
        "durability": args.durability.name(),
        "segment_bytes": args.segment_bytes,
        "dir": dir.map(|d| d.display().to_string()),
        "append": {
            "shardlog": r.append.json(),
            "baseline": r.append_baseline.json(),
            "ratio": ratio(&r.append, &r.append_baseline),
        },
        "read": {
            "shardlog": r.read.json(),
            "baseline": r.read_baseline.json(),
            "ratio": ratio(&r.read, &r.read_baseline),
        },
        "close_seconds": r.close.as_secs_f64(),
        "reopen_seconds": r.reopen.as_secs_f64(),
        "segments": r.segments,
        "log_bytes": r.log_bytes,
        "baseline_bytes": r.baseline_bytes,
        "kinesis_per_shard_target": {
            "records_per_s": KINESIS_RECORDS_PER_S,
            "bytes_per_s": KINESIS_BYTES_PER_S,
            "binding_limit": binding,
            "multiple": multiple,
        },
    })
}

/// The comparison as a table; `kept` is the directory the shard log was kept in, if any.
pub(crate) fn table(args: &Params, r: &Results, kept: Option<&Path>) -> String {
    let record_bytes = (KEY_LEN + args.record_size) as u64;
    let mut out = String::new();
    let line = |out: &mut String, s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(
        &mut out,
        format!(
            "shardlog bench: 1 shard, {} records x {} B data + {KEY_LEN} B key, {} per append, durability {}",
            thousands(args.records),
            args.record_size,
            thousands(args.batch),
            args.durability.name()
        ),
    );
    let baseline_sync = if args.durability == DurabilityArg::Sync { "flush + fdatasync per batch" } else { "no fsync" };
    line(
        &mut out,
        format!(
            "baseline: BufWriter<std::fs::File>, crc32fast CRC per record, {baseline_sync}; read back with BufReader, \
             CRC checked"
        ),
    );
    line(&mut out, String::new());
    line(
        &mut out,
        format!(
            "{:<8} {:<9} {:>10} {:>14} {:>11} {:>22}",
            "phase", "", "seconds", "records/s", "MiB/s", "shardlog / baseline"
        ),
    );
    for (name, ours, base) in [("append", &r.append, &r.append_baseline), ("read", &r.read, &r.read_baseline)] {
        line(
            &mut out,
            format!(
                "{:<8} {:<9} {:>10.3} {:>14} {:>11.1} {:>21.2}x",
                name,
                "shardlog",
                ours.seconds,
                rate(ours.records_per_s()),
                ours.mib_per_s(),
                ratio(ours, base)
            ),
        );
        line(
            &mut out,
            format!(
                "{:<8} {:<9} {:>10.3} {:>14} {:>11.1}",
                "",
                "baseline",
                base.seconds,
                rate(base.records_per_s()),
                base.mib_per_s()
            ),
        );
    }
    line(&mut out, String::new());
    line(
        &mut out,
        format!(
            "close (fdatasync, index files, clean marker) {:.1} ms; reopen after clean close {:.1} ms",
            r.close.as_secs_f64() * 1e3,
            r.reopen.as_secs_f64() * 1e3
        ),
    );
    line(
        &mut out,
        format!(
            "on disk: {} segment(s), {} (baseline file {}); every record read back and compared",
            r.segments,
            bytes(r.log_bytes),
            bytes(r.baseline_bytes)
        ),
    );
    if r.segments > 1 && args.durability != DurabilityArg::Sync {
        line(
            &mut out,
            format!(
                "shardlog's append time includes {} segment roll(s), each creating and syncing the next segment's \
                 header (the sealed segment is fdatasynced by the background sealer); the baseline never syncs",
                r.segments - 1
            ),
        );
    }
    let (multiple, binding) = kinesis_multiple(&r.append);
    line(
        &mut out,
        format!(
            "Kinesis per-shard write target (1,000 records/s and 1 MiB/s): append sustains {}x the target \
             ({} records/s, {:.1} MiB/s; at {} B records the {binding} limit binds)",
            thousands(multiple.round() as u64),
            rate(r.append.records_per_s()).trim_end(),
            r.append.mib_per_s(),
            record_bytes
        ),
    );
    if let Some(dir) = kept {
        line(&mut out, String::new());
        line(&mut out, format!("data kept in {}; look at it with:", dir.display()));
        line(&mut out, format!("  shardlog inspect {}", dir.display()));
        line(&mut out, format!("  shardlog verify {}", dir.display()));
    }
    out
}
