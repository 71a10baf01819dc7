//! Server CPU per queue record over HTTP, against GetRecords of the same records in the same
//! run (issue #16's target: receive + acknowledge with boto3-sized batches of 10 costs the
//! server ≤ 5× the CPU of a GetRecords record).
//!
//! ```text
//! scripts/queue_http_bench.sh [RECORDS]      # builds, starts shardlog serve, runs this, stops it
//! cargo run --profile profiling -p shardlog-cli --example queue_serve_load -- \
//!     --endpoint http://127.0.0.1:4567 --pid SERVER_PID [--records 50000] [--stream queue-load] [--json]
//! ```
//!
//! Creates an on-demand stream (4 shards) and writes `--records` records of 100 bytes
//! (`PutRecords` batches of 500), then, over one keep-alive HTTP/1.1 connection each, with
//! the server process's CPU time (utime + stime of `/proc/PID/stat`) taken around each phase:
//!
//! 1. `GetRecords` of every shard from `TRIM_HORIZON` with `Limit` 10,000 (how a consumer
//!    reads: the baseline), until caught up;
//! 2. `GetRecords` again with `Limit` 10 (the same batch size as the queue's);
//! 3. a queue over the stream from `TRIM_HORIZON`: `ReceiveQueueRecords` (`Limit` 10) then
//!    `AcknowledgeQueueRecords` of the 10 handles, until every record was received.
//!
//! Every phase must see every record exactly once (by its index in the data); every
//! acknowledgement must succeed. Exits 1 otherwise. CPU is counted in 10 ms ticks: use enough
//! records that each phase takes well over a second of server CPU.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::time::Instant;

use base64::Engine as _;
use clap::Parser;
use serde_json::{json, Value};

mod load_support;

use load_support::{cpu_seconds, Conn, Error};

#[derive(Parser, Debug, Clone)]
#[command(about = "Server CPU per queue record vs per GetRecords record, over HTTP")]
struct Args {
    /// The server, e.g. http://127.0.0.1:4567.
    #[arg(long)]
    endpoint: String,
    /// The server's process id, to measure its CPU time per record.
    #[arg(long)]
    pid: u32,
    /// Records to write and consume in each phase.
    #[arg(long, default_value_t = 50_000)]
    records: usize,
    /// Stream name (a queue named after it is created on it).
    #[arg(long, default_value = "queue-load")]
    stream: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Record size in bytes.
const SIZE: usize = 100;

/// Record `i`'s data: its index as 12 digits, then filler.
fn payload(i: usize) -> Vec<u8> {
    let mut v = format!("{i:012}").into_bytes();
    v.resize(SIZE, b'.');
    v
}

/// The index a record's base64 data carries.
fn index_of(data_b64: &str) -> Result<usize, Error> {
    let data = base64::engine::general_purpose::STANDARD.decode(data_b64)?;
    let digits = data.get(..12).ok_or("record too short")?;
    Ok(std::str::from_utf8(digits)?.parse()?)
}

/// Counts each record index seen; `Err` on an index out of range or seen twice.
struct Seen(Vec<bool>);

impl Seen {
    fn mark(&mut self, data_b64: &str, phase: &str) -> Result<(), Error> {
        let i = index_of(data_b64)?;
        match self.0.get_mut(i) {
            Some(seen) if !*seen => {
                *seen = true;
                Ok(())
            }
            Some(_) => Err(format!("{phase}: record {i} seen twice").into()),
            None => Err(format!("{phase}: record {i} was never written").into()),
        }
    }

    fn complete(&self, phase: &str) -> Result<(), Error> {
        match self.0.iter().position(|s| !s) {
            Some(i) => Err(format!("{phase}: record {i} never came").into()),
            None => Ok(()),
        }
    }
}

/// One measured phase: server CPU seconds and wall seconds.
struct Phase {
    cpu_s: f64,
    wall_s: f64,
    requests: usize,
}

async fn get_records_phase(c: &mut Conn, args: &Args, shards: &[String], limit: u32) -> Result<Phase, Error> {
    let mut seen = Seen(vec![false; args.records]);
    let (cpu0, t0) = (cpu_seconds(&args.pid.to_string()), Instant::now());
    let mut requests = 0;
    for shard in shards {
        let it = c
            .json(
                "GetShardIterator",
                json!({"StreamName": args.stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
            )
            .await?;
        let mut it = it["ShardIterator"].as_str().ok_or("no ShardIterator")?.to_string();
        loop {
            let page = c.json("GetRecords", json!({"ShardIterator": it, "Limit": limit})).await?;
            requests += 1;
            let records = page["Records"].as_array().ok_or("no Records")?;
            for r in records {
                seen.mark(r["Data"].as_str().ok_or("no Data")?, "GetRecords")?;
            }
            let caught_up = page["MillisBehindLatest"].as_i64() == Some(0) && records.is_empty();
            match page["NextShardIterator"].as_str() {
                Some(next) if !caught_up => it = next.to_string(),
                _ => break,
            }
        }
    }
    let phase =
        Phase { cpu_s: cpu_seconds(&args.pid.to_string()) - cpu0, wall_s: t0.elapsed().as_secs_f64(), requests };
    seen.complete("GetRecords")?;
    Ok(phase)
}

async fn queue_phase(c: &mut Conn, args: &Args, queue_arn: &str) -> Result<Phase, Error> {
    let mut seen = Seen(vec![false; args.records]);
    let mut received = 0;
    let mut requests = 0;
    let (cpu0, t0) = (cpu_seconds(&args.pid.to_string()), Instant::now());
    while received < args.records {
        let got =
            c.json("ReceiveQueueRecords", json!({"QueueARN": queue_arn, "Limit": 10, "WaitTimeSeconds": 1})).await?;
        requests += 1;
        let records = got["QueueRecords"].as_array().ok_or("no QueueRecords")?;
        if records.is_empty() {
            return Err(format!("ReceiveQueueRecords came back empty after {received} records").into());
        }
        let mut entries = Vec::with_capacity(records.len());
        for r in records {
            seen.mark(r["Data"].as_str().ok_or("no Data")?, "ReceiveQueueRecords")?;
            entries.push(json!({"ReceiptHandle": r["ReceiptHandle"]}));
        }
        received += records.len();
        let acked = c.json("AcknowledgeQueueRecords", json!({"QueueARN": queue_arn, "Entries": entries})).await?;
        requests += 1;
        let failed = acked["Failed"].as_array().map_or(0, Vec::len);
        if failed > 0 || acked["Successful"].as_array().map_or(0, Vec::len) != records.len() {
            return Err(format!("AcknowledgeQueueRecords failed: {acked}").into());
        }
    }
    let phase =
        Phase { cpu_s: cpu_seconds(&args.pid.to_string()) - cpu0, wall_s: t0.elapsed().as_secs_f64(), requests };
    seen.complete("ReceiveQueueRecords")?;
    Ok(phase)
}

async fn run(args: &Args) -> Result<Value, Error> {
    let host = args.endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut c = Conn::open(&host).await?;
    c.json("CreateStream", json!({"StreamName": args.stream, "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}))
        .await?;
    let summary = loop {
        let s = c.json("DescribeStreamSummary", json!({"StreamName": args.stream})).await?;
        if s["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE" {
            break s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let stream_arn = summary["StreamDescriptionSummary"]["StreamARN"].as_str().ok_or("no StreamARN")?.to_string();
    let shards: Vec<String> = c.json("ListShards", json!({"StreamName": args.stream})).await?["Shards"]
        .as_array()
        .ok_or("no Shards")?
        .iter()
        .filter_map(|s| s["ShardId"].as_str().map(String::from))
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    for start in (0..args.records).step_by(500) {
        let records: Vec<Value> = (start..(start + 500).min(args.records))
            .map(|i| json!({"Data": b64.encode(payload(i)), "PartitionKey": format!("k{i}")}))
            .collect();
        let out = c.json("PutRecords", json!({"StreamName": args.stream, "Records": records})).await?;
        if out["FailedRecordCount"].as_i64() != Some(0) {
            return Err(format!("PutRecords failed: {out}").into());
        }
    }
    let queue = c
        .json(
            "CreateQueue",
            json!({
                "QueueName": args.stream,
                "StreamConfigurationList": [{"StreamARN": stream_arn, "StartingPosition": {"Type": "TRIM_HORIZON"}}],
                "QueueAttributes": {"VisibilityTimeoutSeconds": 3600},
            }),
        )
        .await?;
    let queue_arn = queue["QueueDescription"]["QueueARN"].as_str().ok_or("no QueueARN")?.to_string();
    loop {
        let d = c.json("DescribeQueue", json!({"QueueARN": queue_arn})).await?;
        if d["QueueDescription"]["QueueStatus"] == "ACTIVE" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let pages = get_records_phase(&mut c, args, &shards, 10_000).await?;
    let tens = get_records_phase(&mut c, args, &shards, 10).await?;
    let queue = queue_phase(&mut c, args, &queue_arn).await?;
    let n = args.records as f64;
    let us = |p: &Phase| p.cpu_s / n * 1e6;
    Ok(json!({
        "records": args.records,
        "get_records_10000": {"server_cpu_us_per_record": us(&pages), "wall_s": pages.wall_s, "requests": pages.requests},
        "get_records_10": {"server_cpu_us_per_record": us(&tens), "wall_s": tens.wall_s, "requests": tens.requests},
        "receive_ack_10": {"server_cpu_us_per_record": us(&queue), "wall_s": queue.wall_s, "requests": queue.requests},
        "ratio_to_get_records_10000": us(&queue) / us(&pages),
        "ratio_to_get_records_10": us(&queue) / us(&tens),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    match run(&args).await {
        Ok(v) if args.json => println!("{v}"),
        Ok(v) => {
            let line = |name: &str, key: &str| {
                let p = &v[key];
                println!(
                    "{name:<44} {:>8.2} µs server CPU/record  ({} requests, {:.2} s)",
                    p["server_cpu_us_per_record"].as_f64().unwrap_or(f64::NAN),
                    p["requests"],
                    p["wall_s"].as_f64().unwrap_or(f64::NAN)
                );
            };
            println!("{} records of {SIZE} B, 4 shards, one connection", v["records"]);
            line("GetRecords, Limit 10000 (baseline)", "get_records_10000");
            line("GetRecords, Limit 10", "get_records_10");
            line("ReceiveQueueRecords(10) + AcknowledgeQueueRecords", "receive_ack_10");
            println!(
                "receive+ack ÷ GetRecords: {:.2}× (pages of 10,000), {:.2}× (pages of 10); target ≤ 5×",
                v["ratio_to_get_records_10000"].as_f64().unwrap_or(f64::NAN),
                v["ratio_to_get_records_10"].as_f64().unwrap_or(f64::NAN)
            );
        }
        Err(e) => {
            eprintln!("queue_serve_load: {e}");
            std::process::exit(1);
        }
    }
}
