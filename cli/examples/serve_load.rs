//! A fast load generator for `shardlog serve`, to show the server's own ceiling where one
//! Python client cannot: raw HTTP/1.1 keep-alive connections (hyper), driven by tokio tasks.
//!
//! ```text
//! cargo run --release -p shardlog-cli --example serve_load -- \
//!     --endpoint http://127.0.0.1:4567 [--pid SERVER_PID] [--records 500000] [--shards 8] \
//!     [--connections 8] [--batch 500] [--size 100] [--stream rust-load] [--json]
//! ```
//!
//! Creates the stream, writes `--records` records of `--size` bytes with `PutRecords` batches
//! of `--batch` from `--connections` connections in parallel (the request bodies are built
//! before the clock starts), then reads every shard from `TRIM_HORIZON` with `GetRecords`
//! (`Limit` 10000, one connection per shard, all shards in parallel) until caught up. After the
//! clock stops, every record is checked: present exactly once, its data and partition key
//! intact, sequence numbers increasing within a shard. With `--pid`, the server process's CPU
//! time (utime + stime of `/proc/PID/stat`) is measured around each phase; the generator's own
//! CPU time is shown too, since both share the machine. Exits 1 if any record is missing,
//! duplicated or damaged, or a request failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use clap::Parser;
use serde_json::{json, Value};

mod load_support;

use load_support::{cpu_seconds, Conn, Error};

#[derive(Parser, Debug, Clone)]
#[command(about = "Load generator for shardlog serve (raw HTTP/1.1 keep-alive)")]
struct Args {
    /// The server, e.g. http://127.0.0.1:4567.
    #[arg(long)]
    endpoint: String,
    /// The server's process id, to measure its CPU time per record.
    #[arg(long)]
    pid: Option<u32>,
    /// Records to write and read back.
    #[arg(long, default_value_t = 500_000)]
    records: usize,
    /// Records per PutRecords call.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Bytes per record (at least 12).
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Shards of the stream (also the number of parallel readers).
    #[arg(long, default_value_t = 8)]
    shards: u32,
    /// Connections writing in parallel.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Stream name.
    #[arg(long, default_value = "rust-load")]
    stream: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Record `i`'s data: its index as 12 digits, then bytes derived from it.
fn payload(i: usize, size: usize) -> Vec<u8> {
    let mut v = format!("{i:012}").into_bytes();
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v.truncate(size);
    v
}

/// What the reader needs of a GetRecords response before the records are checked.
struct PageHead {
    next: Option<String>,
    millis_behind_latest: i64,
    empty: bool,
}

/// The value after `"key":` in compact JSON (a string's contents, or a number's text).
fn member<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let at = body.rfind(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = body.get(at..)?;
    if let Some(s) = rest.strip_prefix('"') {
        return s.split('"').next();
    }
    rest.split([',', '}']).next()
}

/// Read the page's iterator and lag without parsing its records (the server writes compact
/// JSON with `Records` first); a full parse where that shape is not found.
fn page_head(body: &[u8]) -> Result<PageHead, Error> {
    let text = std::str::from_utf8(body)?;
    if let Some(lag) = member(text, "MillisBehindLatest").and_then(|v| v.parse().ok()) {
        if text.starts_with("{\"Records\":") {
            return Ok(PageHead {
                next: member(text, "NextShardIterator").map(String::from),
                millis_behind_latest: lag,
                empty: text.starts_with("{\"Records\":[]"),
            });
        }
    }
    let v: Value = serde_json::from_str(text)?;
    Ok(PageHead {
        next: v["NextShardIterator"].as_str().map(String::from),
        millis_behind_latest: v["MillisBehindLatest"].as_i64().unwrap_or(0),
        empty: v["Records"].as_array().is_none_or(|r| r.is_empty()),
    })
}

/// The records of one shard, as raw GetRecords response bodies.
struct ShardPages {
    shard: String,
    pages: Vec<Bytes>,
}

async fn read_shard(host: String, stream: String, shard: String) -> Result<ShardPages, Error> {
    let mut c = Conn::open(&host).await?;
    let it = c
        .json("GetShardIterator", json!({"StreamName": stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}))
        .await?;
    let mut it = it["ShardIterator"].as_str().ok_or("no ShardIterator")?.to_string();
    let mut pages = Vec::new();
    loop {
        let body = c.call("GetRecords", Bytes::from(json!({"ShardIterator": it, "Limit": 10_000}).to_string())).await?;
        // Only the iterator and the lag are read now; the records are checked later.
        let head = page_head(&body)?;
        pages.push(body);
        match head.next {
            Some(next) if !(head.empty && head.millis_behind_latest == 0) => it = next,
            _ => break,
        }
    }
    Ok(ShardPages { shard, pages })
}

/// Check every record read: `(missing, duplicates, damaged)`.
fn verify(args: &Args, shards: &[ShardPages]) -> Result<(usize, usize, usize), Error> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut seen = vec![0u32; args.records];
    let mut damaged = 0;
    for sp in shards {
        // Sequence numbers are up to 2^185: compared as (length, digits).
        let mut last: Option<(usize, String)> = None;
        for page in &sp.pages {
            let v: Value = serde_json::from_slice(page)?;
            for r in v["Records"].as_array().ok_or("no Records")? {
                let seq = r["SequenceNumber"].as_str().ok_or("no SequenceNumber")?;
                let seq = (seq.len(), seq.to_string());
                if last.as_ref().is_some_and(|l| seq <= *l) {
                    eprintln!("{}: sequence number {} not after {:?}", sp.shard, seq.1, last);
                    damaged += 1;
                }
                last = Some(seq);
                let data = b64.decode(r["Data"].as_str().ok_or("no Data")?)?;
                let i = std::str::from_utf8(data.get(..12).unwrap_or_default())
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|&i| i < args.records);
                match i {
                    Some(i) if data == payload(i, args.size) && r["PartitionKey"] == format!("pk-{i}").as_str() => {
                        seen[i] += 1
                    }
                    _ => damaged += 1,
                }
            }
        }
    }
    let missing = seen.iter().filter(|&&c| c == 0).count();
    let dupes = seen.iter().map(|&c| c.saturating_sub(1) as usize).sum();
    Ok((missing, dupes, damaged))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    if args.size < 12 {
        return Err("--size must be at least 12".into());
    }
    let host = args.endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    let pid = args.pid.map(|p| p.to_string()).unwrap_or_default();
    let server_cpu = || if pid.is_empty() { f64::NAN } else { cpu_seconds(&pid) };
    let self_cpu = || cpu_seconds("self");

    let mut c = Conn::open(&host).await?;
    c.json("CreateStream", json!({"StreamName": args.stream, "ShardCount": args.shards})).await?;
    for _ in 0..600 {
        let s = c.json("DescribeStreamSummary", json!({"StreamName": args.stream})).await?;
        if s["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let shards = c.json("ListShards", json!({"StreamName": args.stream})).await?;
    let shard_ids: Vec<String> = shards["Shards"]
        .as_array()
        .ok_or("no Shards")?
        .iter()
        .filter_map(|s| s["ShardId"].as_str().map(String::from))
        .collect();

    // The PutRecords bodies, built before the clock starts.
    let b64 = base64::engine::general_purpose::STANDARD;
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..args.records)
            .step_by(args.batch.max(1))
            .map(|start| {
                let recs: Vec<Value> = (start..(start + args.batch).min(args.records))
                    .map(|i| json!({"Data": b64.encode(payload(i, args.size)), "PartitionKey": format!("pk-{i}")}))
                    .collect();
                Bytes::from(json!({"StreamName": args.stream, "Records": recs}).to_string())
            })
            .collect(),
    );

    // Write: every connection takes the next batch until none is left.
    let next = Arc::new(AtomicUsize::new(0));
    let (s0, c0, t0) = (server_cpu(), self_cpu(), Instant::now());
    let mut writers = Vec::new();
    for _ in 0..args.connections.max(1) {
        let (bodies, next, host) = (bodies.clone(), next.clone(), host.clone());
        writers.push(tokio::spawn(async move {
            let mut c = Conn::open(&host).await?;
            let mut failed = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return Ok::<u64, Error>(failed) };
                let resp = c.call("PutRecords", body.clone()).await?;
                let text = std::str::from_utf8(&resp)?;
                failed += match member(text, "FailedRecordCount").and_then(|v| v.parse::<u64>().ok()) {
                    Some(n) => n,
                    None => serde_json::from_str::<Value>(text)?["FailedRecordCount"]
                        .as_u64()
                        .ok_or("no FailedRecordCount")?,
                };
            }
        }));
    }
    let mut failed = 0;
    for w in writers {
        failed += w.await??;
    }
    let (write_s, write_cpu, write_self) = (t0.elapsed().as_secs_f64(), server_cpu() - s0, self_cpu() - c0);

    // Read: one task per shard.
    let (s0, c0, t0) = (server_cpu(), self_cpu(), Instant::now());
    let readers: Vec<_> =
        shard_ids.iter().map(|sh| tokio::spawn(read_shard(host.clone(), args.stream.clone(), sh.clone()))).collect();
    let mut read = Vec::new();
    for r in readers {
        read.push(r.await??);
    }
    let (read_s, read_cpu, read_self) = (t0.elapsed().as_secs_f64(), server_cpu() - s0, self_cpu() - c0);
    let calls: usize = read.iter().map(|s| s.pages.len()).sum();

    let (missing, dupes, damaged) = verify(&args, &read)?;
    let intact = failed == 0 && missing == 0 && dupes == 0 && damaged == 0;
    let n = args.records as f64;
    let us = |cpu: f64| if cpu.is_nan() { Value::Null } else { json!((cpu / n * 1e6 * 1000.0).round() / 1000.0) };
    let out = json!({
        "records": args.records,
        "size": args.size,
        "batch": args.batch,
        "shards": shard_ids.len(),
        "connections": args.connections,
        "write_s": (write_s * 1000.0).round() / 1000.0,
        "read_s": (read_s * 1000.0).round() / 1000.0,
        "write_rps": (n / write_s).round(),
        "read_rps": (n / read_s).round(),
        "write_cpu_us_per_record": us(write_cpu),
        "read_cpu_us_per_record": us(read_cpu),
        "client_write_cpu_us_per_record": us(write_self),
        "client_read_cpu_us_per_record": us(read_self),
        "get_records_calls": calls,
        "failed_puts": failed,
        "missing": missing,
        "duplicates": dupes,
        "damaged": damaged,
        "intact": intact,
    });
    if args.json {
        println!("{out}");
    } else {
        println!(
            "{} records x {} B, {} shards, {} connections",
            args.records,
            args.size,
            shard_ids.len(),
            args.connections
        );
        println!(
            "write: {:>10.0} records/s, server CPU {} us/record, client CPU {} us/record",
            n / write_s,
            out["write_cpu_us_per_record"],
            out["client_write_cpu_us_per_record"]
        );
        println!(
            "read:  {:>10.0} records/s, server CPU {} us/record, client CPU {} us/record",
            n / read_s,
            out["read_cpu_us_per_record"],
            out["client_read_cpu_us_per_record"]
        );
        println!("intact: {intact} (missing {missing}, duplicates {dupes}, damaged {damaged}, failed puts {failed})");
    }
    if !intact {
        std::process::exit(1);
    }
    Ok(())
}
