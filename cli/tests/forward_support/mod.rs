//! Shared by the `forward*` tests: a source data directory with a resharded stream, running
//! `shardlog forward`, reading a destination back, and the order/duplicate checks.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardlog::engine::lineage::{LineageReader, LineageStart};
use shardlog::engine::types::*;
use shardlog::{Engine, EngineConfig};

/// One record written to the source: its index (also in its data), key and explicit hash key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub index: usize,
    pub key: String,
    pub ehk: Option<u128>,
}

/// Keys: `k0..k{plain}` routed by MD5, plus `e0..e3` each with a fixed explicit hash key.
pub fn key_of(i: usize, plain: usize) -> (String, Option<u128>) {
    if i % 9 == 4 {
        let e = (i / 9) % 4;
        (format!("e{e}"), Some(u128::MAX / 4 * e as u128 + 12_345))
    } else {
        (format!("k{}", i % plain), None)
    }
}

pub fn payload(i: usize, size: usize) -> Bytes {
    let mut s = format!("record-{i:08}|").into_bytes();
    s.resize(size.max(16), b'.');
    Bytes::from(s)
}

/// The index in a record's data (`usize::MAX` for data not made by [`payload`]).
pub fn index_of(data: &[u8]) -> usize {
    if !data.starts_with(b"record-") {
        return usize::MAX;
    }
    let s = std::str::from_utf8(data.get(7..15).expect("record data too short")).expect("utf8 index");
    s.parse().expect("record index")
}

fn put(engine: &Engine, stream: &str, from: usize, to: usize, plain: usize, size: usize, sent: &mut Vec<Sent>) {
    let mut i = from;
    while i < to {
        let end = (i + 250).min(to);
        let records = (i..end)
            .map(|j| {
                let (key, ehk) = key_of(j, plain);
                sent.push(Sent { index: j, key: key.clone(), ehk });
                PutRecordsRequestEntry {
                    data: payload(j, size),
                    partition_key: Some(key),
                    explicit_hash_key: ehk.map(|h| h.to_string()),
                }
            })
            .collect();
        let out = engine
            .put_records(PutRecordsInput { stream: StreamRef::name(stream), records, ..PutRecordsInput::default() })
            .expect("put_records");
        assert_eq!(out.failed_record_count, 0);
        i = end;
    }
}

/// Create `stream` in `dir` with 2 shards and `n` records of `size` bytes, resharding on the
/// way (split shard 0 after a third, merge the two children after two thirds), so lineage
/// matters: shard 0 → 2, 3 → 4, and shard 1 stays open.
pub fn make_source(dir: &Path, stream: &str, n: usize, plain_keys: usize, size: usize) -> Vec<Sent> {
    make_source_with(dir, stream, n, plain_keys, size, EngineConfig::default())
}

/// [`make_source`] with an engine configuration (small segments, say).
pub fn make_source_with(
    dir: &Path,
    stream: &str,
    n: usize,
    plain_keys: usize,
    size: usize,
    config: EngineConfig,
) -> Vec<Sent> {
    let engine = Engine::open(dir, config).expect("open source");
    engine
        .create_stream(CreateStreamInput { stream_name: stream.into(), shard_count: Some(2), ..Default::default() })
        .expect("create source stream");
    let mut sent = Vec::new();
    put(&engine, stream, 0, n / 3, plain_keys, size, &mut sent);
    engine
        .split_shard(SplitShardInput {
            stream: StreamRef::name(stream),
            shard_to_split: "shardId-000000000000".into(),
            new_starting_hash_key: (u128::MAX / 4).to_string(),
        })
        .expect("split");
    put(&engine, stream, n / 3, 2 * n / 3, plain_keys, size, &mut sent);
    engine
        .merge_shards(MergeShardsInput {
            stream: StreamRef::name(stream),
            shard_to_merge: "shardId-000000000002".into(),
            adjacent_shard_to_merge: "shardId-000000000003".into(),
        })
        .expect("merge");
    put(&engine, stream, 2 * n / 3, n, plain_keys, size, &mut sent);
    engine.close().expect("close source");
    sent
}

/// A record as found at a destination.
#[derive(Debug, Clone)]
pub struct Got {
    pub index: usize,
    pub key: String,
    pub ehk: Option<u128>,
    pub shard: String,
}

/// Every record of `stream` in `dir`, in per-key order (through lineage).
pub fn read_back(dir: &Path, stream: &str) -> Vec<Got> {
    let engine = Engine::open(dir, EngineConfig::default()).expect("open destination");
    let mut reader = LineageReader::new(&engine, StreamRef::name(stream), LineageStart::TrimHorizon);
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let got = reader.poll(10_000).expect("read destination");
        if got.is_empty() {
            empty += 1;
        }
        out.extend(got.into_iter().map(|r| Got {
            index: index_of(&r.record.data),
            key: r.record.partition_key.clone(),
            ehk: r.record.explicit_hash_key,
            shard: r.shard_id,
        }));
    }
    engine.close().expect("close destination");
    out
}

/// What the checks found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub duplicates: usize,
}

/// Every sent record arrived with its key and explicit hash key; for every key the first
/// arrivals follow the source order. Returns the number of duplicate copies.
pub fn check(sent: &[Sent], got: &[Got]) -> Verdict {
    check_with(sent, got, true)
}

/// [`check`], optionally without comparing explicit hash keys (a remote source does not
/// return them).
pub fn check_with(sent: &[Sent], got: &[Got], compare_ehk: bool) -> Verdict {
    let by_index: HashMap<usize, &Sent> = sent.iter().map(|s| (s.index, s)).collect();
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut firsts: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for g in got {
        let s = by_index.get(&g.index).unwrap_or_else(|| panic!("record {} was never sent", g.index));
        assert_eq!(g.key, s.key, "record {}: partition key changed", g.index);
        if compare_ehk {
            assert_eq!(g.ehk, s.ehk, "record {}: explicit hash key changed", g.index);
        }
        let n = seen.entry(g.index).or_insert(0);
        *n += 1;
        if *n == 1 {
            firsts.entry(s.key.as_str()).or_default().push(g.index);
        }
    }
    let missing: Vec<usize> = sent.iter().map(|s| s.index).filter(|i| !seen.contains_key(i)).collect();
    assert!(missing.is_empty(), "{} records lost, first {:?}", missing.len(), &missing[..missing.len().min(10)]);
    let mut expected: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for s in sent {
        expected.entry(s.key.as_str()).or_default().push(s.index);
    }
    for (key, order) in &expected {
        assert_eq!(firsts.get(key), Some(order), "key {key}: records arrived out of order");
    }
    Verdict { duplicates: seen.values().map(|n| n - 1).sum() }
}

/// The environment of a forwarder: test credentials, no profile files, no instance metadata.
pub fn aws_env(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDFORWARDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "forward/test/secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
}

/// `shardlog forward` with `args`, JSON stats on stdout.
pub fn spawn_forward(args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardlog"));
    cmd.arg("forward").args(args).args(["--json", "--stats-interval-ms", "20"]);
    aws_env(&mut cmd).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start shardlog forward")
}

/// Run a forwarder to its end (bounded) and return its final JSON stats and exit success.
pub fn run_forward(args: &[&str], limit: Duration) -> (serde_json::Value, bool) {
    let mut child = spawn_forward(args);
    let stdout = child.stdout.take().unwrap();
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut last = serde_json::Value::Null;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read forward output");
            last = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        }
        last
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("shardlog forward did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let last = reader.join().expect("reader thread");
    assert_eq!(last["final"], true, "no final stats line: {last}");
    (last, status.success())
}

/// Create a destination stream through the HTTP API.
pub fn create_destination(addr: std::net::SocketAddr, stream: &str, shards: u32) {
    crate::serve_support::ok_json(
        addr,
        "CreateStream",
        serde_json::json!({"StreamName": stream, "ShardCount": shards}),
    );
}

/// For every key, the source order is a subsequence of the destination order (every record
/// arrived, and the key's records can be read in source order, skipping extra copies).
pub fn check_subsequence(sent: &[Sent], got: &[Got]) {
    let mut arrived: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for g in got {
        arrived.entry(g.key.as_str()).or_default().push(g.index);
    }
    let mut expected: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for s in sent {
        expected.entry(s.key.as_str()).or_default().push(s.index);
    }
    for (key, order) in &expected {
        let there = arrived.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let mut it = there.iter();
        for want in order {
            assert!(it.any(|i| i == want), "key {key}: record {want} missing or out of order in {there:?}");
        }
    }
}

/// Lines of a child's stdout, parsed as JSON, on a channel.
pub fn json_lines(child: &mut Child) -> std::sync::mpsc::Receiver<serde_json::Value> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let v = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    rx
}

/// Wait (bounded) for a stats line satisfying `pred`; `None` if the forwarder ended first.
pub fn wait_for(
    rx: &std::sync::mpsc::Receiver<serde_json::Value>,
    limit: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Option<serde_json::Value> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no matching stats within {limit:?}"));
        match rx.recv_timeout(left) {
            Ok(v) if pred(&v) => return Some(v),
            Ok(v) if v["final"] == true => return None,
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("no matching stats within {limit:?}"),
        }
    }
}

/// Wait (bounded) for a child to exit.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "process did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A small seeded generator (xorshift64*) for random kill points.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Bytes of segment files of every shard under a data directory.
pub fn segment_bytes(dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        let mut n = 0;
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                n += walk(&path);
            } else if path.extension().is_some_and(|x| x == "log") {
                n += e.metadata().unwrap().len();
            }
        }
        n
    }
    walk(&dir.join("shards"))
}
