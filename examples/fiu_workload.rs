//! The workload of `scripts/libfiu.sh` (reliability R4): Sync puts into an [`Engine`] while
//! libfiu injects faults into the POSIX calls underneath, then a check without faults.
//!
//! ```text
//! fiu_workload run   --dir D --acks FILE --records N   # under `fiu-run -x -c ...`
//! fiu_workload check --dir D --acks FILE               # afterwards, without faults
//! ```
//!
//! `run` opens an engine (`Durability::Sync`, 64 KiB segments) on `D`, creates a two-shard
//! stream and makes `N` put attempts, one record each. Put `i` has partition key `k<i>` and a
//! payload derived from `i` (1 to 400 bytes). Any storage error is counted and answered the way
//! rule 9 says an application must: drop the engine and reopen it (recovery cuts the torn tail,
//! a poisoned shard starts fresh); failed opens are retried. Put `i` is never retried, so a put
//! that failed but reached the disk shows up once, unacknowledged — allowed.
//!
//! **The report channel.** Every acknowledged put is appended to `FILE` as a line
//! `ack <i> <shard id> <sequence number>`, and a final `done ...` line sums up the run. `FILE` is
//! opened before the first fault can strike and written only with `writev(2)`
//! (`File::write_vectored`), a call none of the scenarios injects faults into: the engine writes
//! with `pwrite` and syncs with `fdatasync`/`fsync`, the scenarios fail `pwrite` (and plain
//! `write`, which hits only stdout/stderr), `fdatasync` and short `pwrite`s. Stdout is written
//! only at the very end and its failures are ignored.
//!
//! `check` reads every record of both shards from TRIM_HORIZON and requires: every record is one
//! the workload attempted (key `k<i>`, exact payload of `i`), ids strictly increase within a
//! shard (nothing duplicated or reordered), and every acknowledged put is there, in the shard
//! and under the sequence number its acknowledgement named. Exit 0 on success, 1 on any loss
//! or damage, 2 on usage errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::Bytes;
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Error, LogConfig};

const STREAM: &str = "fiu";
/// Give up after this many consecutive failed opens (each one retried at once).
const MAX_OPEN_FAILURES: usize = 500;

fn config() -> EngineConfig {
    EngineConfig {
        durability: Durability::Sync,
        log: LogConfig { segment_max_bytes: 64 * 1024, ..LogConfig::default() },
        retention_check_interval: None,
        ..EngineConfig::default()
    }
}

/// The payload of put `i`: 1 to 400 deterministic bytes.
fn payload(i: u64) -> Bytes {
    let len = 1 + (i.wrapping_mul(37) % 400) as usize;
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Bytes::from(
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>(),
    )
}

/// Appends lines to the report file with `writev` only.
struct Report {
    file: File,
}

impl Report {
    fn line(&mut self, text: &str) -> std::io::Result<()> {
        let bytes = format!("{text}\n").into_bytes();
        let mut done = 0;
        while let Some(rest) = bytes.get(done..).filter(|r| !r.is_empty()) {
            match self.file.write_vectored(&[IoSlice::new(rest)]) {
                Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "report file")),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A short name for an error, for the tallies.
fn kind(e: &Error) -> String {
    match e {
        Error::Io { op, source, .. } => format!("io:{op}:{}", source.kind()),
        Error::Poisoned { .. } => "poisoned".into(),
        Error::Corrupt { .. } => "corrupt".into(),
        other => other.kinesis_error_code().to_string(),
    }
}

fn open_ready(dir: &Path, errors: &mut BTreeMap<String, usize>) -> Option<Engine> {
    for _ in 0..MAX_OPEN_FAILURES {
        let opened = Engine::open(dir, config()).and_then(|e| {
            match e.describe_stream_summary(StreamRef::name(STREAM)) {
                Ok(_) => {}
                Err(Error::ResourceNotFound { .. }) => e.create_stream(CreateStreamInput {
                    stream_name: STREAM.into(),
                    shard_count: Some(2),
                    ..Default::default()
                })?,
                Err(other) => return Err(other),
            }
            Ok(e)
        });
        match opened {
            Ok(e) => return Some(e),
            Err(e) => *errors.entry(format!("open/{}", kind(&e))).or_insert(0) += 1,
        }
    }
    None
}

fn run(dir: &Path, acks: &Path, records: u64) -> Result<ExitCode, String> {
    let file = File::create(acks).map_err(|e| format!("{}: {e}", acks.display()))?;
    let mut report = Report { file };
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut engine: Option<Engine> = None;
    let (mut acked, mut reopens) = (0u64, 0u64);
    for i in 0..records {
        if engine.is_none() {
            reopens += 1;
            engine = open_ready(dir, &mut errors);
            if engine.is_none() {
                let _ = report.line(&format!("abort {MAX_OPEN_FAILURES} opens failed in a row at put {i}"));
                return Ok(ExitCode::from(1));
            }
        }
        let Some(e) = engine.as_ref() else { continue };
        let put = e.put_record(PutRecordInput {
            stream: StreamRef::name(STREAM),
            data: payload(i),
            partition_key: Some(format!("k{i}")),
            ..Default::default()
        });
        match put {
            Ok(o) => {
                acked += 1;
                report
                    .line(&format!("ack {i} {} {}", o.shard_id, o.sequence_number))
                    .map_err(|err| format!("report channel failed: {err}"))?;
            }
            Err(err) if err.is_client_error() => {
                *errors.entry(format!("put/{}", kind(&err))).or_insert(0) += 1;
            }
            Err(err) => {
                *errors.entry(format!("put/{}", kind(&err))).or_insert(0) += 1;
                // Rule 9: after a storage error, reopen (and recover) before writing on.
                engine = None;
            }
        }
    }
    if let Some(e) = engine.take() {
        if let Err(err) = e.close() {
            *errors.entry(format!("close/{}", kind(&err))).or_insert(0) += 1;
        }
    }
    let errs: Vec<String> = errors.iter().map(|(k, n)| format!("{k}={n}")).collect();
    let summary = format!("done attempts={records} acked={acked} opens={reopens} errors={}", errs.join(","));
    report.line(&summary).map_err(|err| format!("report channel failed: {err}"))?;
    let _ = writeln!(std::io::stdout(), "{summary}");
    Ok(ExitCode::SUCCESS)
}

fn read_shard(e: &Engine, shard: &str) -> Result<Vec<KinesisRecord>, String> {
    let mut it = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name(STREAM),
            shard_id: shard.into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .map_err(|err| format!("{shard}: iterator: {err}"))?
        .shard_iterator;
    let mut out = Vec::new();
    loop {
        let r = e
            .get_records(GetRecordsInput {
                shard_iterator: it,
                limit: Some(10_000),
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            })
            .map_err(|err| format!("{shard}: get_records after {} records: {err}", out.len()))?;
        if r.records.is_empty() {
            return Ok(out);
        }
        out.extend(r.records);
        match r.next_shard_iterator {
            Some(next) => it = next,
            None => return Ok(out),
        }
    }
}

fn check(dir: &Path, acks: &Path) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(acks).map_err(|e| format!("{}: {e}", acks.display()))?;
    let mut acked: HashMap<u64, (String, String)> = HashMap::new();
    let mut done = None;
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["ack", i, shard, seq] => {
                let i: u64 = i.parse().map_err(|_| format!("bad ack line {line:?}"))?;
                acked.insert(i, (shard.to_string(), seq.to_string()));
            }
            ["done", ..] | ["abort", ..] => done = Some(line.to_string()),
            _ => return Err(format!("bad report line {line:?}")),
        }
    }
    let mut problems = Vec::new();
    let Some(done) = done else {
        return Err("the report has no final line: the workload did not finish (crashed?)".into());
    };
    let engine = Engine::open(dir, EngineConfig { durability: Durability::Sync, ..config() })
        .map_err(|e| format!("reopen failed: {e}"))?;
    let mut found: HashMap<u64, (String, String)> = HashMap::new();
    let mut total = 0usize;
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let mut last: Option<u64> = None;
        for r in read_shard(&engine, shard)? {
            total += 1;
            let Some(i) = r.partition_key.strip_prefix('k').and_then(|s| s.parse::<u64>().ok()) else {
                problems.push(format!("{shard}: record with foreign key {:?}", r.partition_key));
                continue;
            };
            if r.data != payload(i) {
                problems.push(format!("{shard}: put {i} has wrong data ({} bytes)", r.data.len()));
            }
            if last.is_some_and(|l| l >= i) {
                problems.push(format!("{shard}: put {i} after put {} (duplicate or reordered)", last.unwrap_or(0)));
            }
            last = Some(i);
            found.insert(i, (shard.to_string(), r.sequence_number.to_string()));
        }
    }
    let mut lost = 0;
    for (i, want) in &acked {
        match found.get(i) {
            None => {
                lost += 1;
                if lost <= 10 {
                    problems.push(format!("acknowledged put {i} ({} {}) is missing", want.0, want.1));
                }
            }
            Some(got) if got != want => {
                problems.push(format!("acknowledged put {i}: acked as {want:?}, found as {got:?}"))
            }
            Some(_) => {}
        }
    }
    let _ = engine.close();
    let unacked = found.keys().filter(|i| !acked.contains_key(i)).count();
    let _ = writeln!(
        std::io::stdout(),
        "check: {} acknowledged, {total} records read, {} acknowledged missing, {unacked} durable but \
         unacknowledged (allowed), {} problems; workload: {done}",
        acked.len(),
        lost,
        problems.len()
    );
    for p in &problems {
        let _ = writeln!(std::io::stdout(), "  {p}");
    }
    Ok(if problems.is_empty() && done.starts_with("done") { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn usage() -> ExitCode {
    eprintln!("usage: fiu_workload run --dir D --acks FILE --records N | check --dir D --acks FILE");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut flags: HashMap<&str, &str> = HashMap::new();
    let mut it = args.iter().skip(1);
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else { return usage() };
        flags.insert(flag.as_str(), value.as_str());
    }
    let (Some(dir), Some(acks)) = (flags.get("--dir"), flags.get("--acks")) else { return usage() };
    let (dir, acks) = (PathBuf::from(dir), PathBuf::from(acks));
    let result = match args.first().map(String::as_str) {
        Some("run") => {
            let Some(records) = flags.get("--records").and_then(|n| n.parse().ok()) else { return usage() };
            run(&dir, &acks, records)
        }
        Some("check") => check(&dir, &acks),
        _ => return usage(),
    };
    result.unwrap_or_else(|e| {
        let _ = writeln!(std::io::stderr(), "fiu_workload: {e}");
        ExitCode::from(1)
    })
}
