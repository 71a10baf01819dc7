//! `shardlog bench --hostile DURATION`: normal producers beside hostile and careless
//! clients, against a real `shardlog serve` child process with its default limits.
//!
//! Normal producers (keep-alive HTTP/1.1 connections opened first, each sending PutRecords of
//! 10 × 100 B at a fixed rate) run through every phase; their latency histogram is kept per
//! phase. Phases, each DURATION long:
//!
//! 1. `baseline`: the producers alone.
//! 2. one phase per hostile kind, alone beside the producers:
//!    - `idle`: opens up to 2,000 connections that never send a byte;
//!    - `slow-heads`: 200 connections sending a request head one byte a second;
//!    - `unfinished-bodies`: 40 connections declaring 16 MiB, sending 4 MiB, then nothing;
//!    - `error-amplifiers`: PutRecords of ~300 KB of `{}` entries, JSON and CBOR, in a loop;
//!    - `stalled-subscribers`: 100 SubscribeToShard streams (5 streams × 20 consumers, 8 MiB
//!      waiting in each stream) that never read;
//!    - `split-merge`: SplitShard + MergeShards cycles on a stream of its own;
//! 3. `all`: every hostile kind at once.
//!
//! Each phase runs against a fresh server (same data set-up), so memory one phase made the
//! allocator keep does not show in the next. For each phase: the producers' p50/p99/max
//! latency, their failed calls, the server's peak resident memory (`VmHWM`, reset when the
//! phase starts, after the set-up, through `/proc/PID/clear_refs`), its open descriptors at
//! the end, and the largest response a hostile client got. The p99 ratio to the baseline is
//! measured in the same run.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::hist::Histogram;
use super::BenchArgs;
use crate::Failure;

/// Normal producer connections.
const PRODUCERS: usize = 4;
/// PutRecords calls per second per producer.
const PRODUCER_RATE: u64 = 100;
/// Streams whose shard stalled subscribers hold, 20 consumers each.
const SUB_STREAMS: usize = 5;

/// The hostile kinds, in the order their phases run.
const KINDS: [&str; 6] =
    ["idle", "slow-heads", "unfinished-bodies", "stalled-subscribers", "split-merge", "error-amplifiers"];

/// A running `shardlog serve`.
struct ServeChild {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl ServeChild {
    fn start() -> Result<ServeChild, Failure> {
        let dir = tempfile::tempdir().map_err(|e| Failure::run(format!("temporary directory: {e}")))?;
        let exe = std::env::current_exe().map_err(|e| Failure::run(format!("own executable: {e}")))?;
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            .args(["--addr", "127.0.0.1:0", "--log-level", "error", "--create-stream", "normal:4"])
            .args(["--create-stream", "churn:1"])
            .arg("--dir")
            .arg(dir.path().join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for i in 0..SUB_STREAMS {
            cmd.args(["--create-stream", &format!("sub{i}:1")]);
        }
        let mut child = cmd.spawn().map_err(|e| Failure::run(format!("starting shardlog serve: {e}")))?;
        let mut out = child.stdout.take().ok_or_else(|| Failure::run("no stdout"))?;
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while out.read(&mut b).map_err(|e| Failure::run(e.to_string()))? == 1 && b[0] != b'\n' {
            line.push(b[0]);
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        let addr = line
            .rsplit("http://")
            .next()
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| Failure::run(format!("unexpected first line of serve: {line:?}")))?;
        Ok(ServeChild { child, addr, _dir: dir })
    }

    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0)
    }

    fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map(|d| d.count()).unwrap_or(0)
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A keep-alive HTTP/1.1 connection speaking the Kinesis JSON protocol.
struct Conn {
    s: TcpStream,
    addr: SocketAddr,
}

fn head(addr: SocketAddr, target: &str, ct: &str, len: usize, close: bool) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: Kinesis_20131202.{target}\r\nContent-Type: {ct}\r\n\
         Content-Length: {len}\r\nX-Amz-Date: 20250101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00\r\n{}\r\n",
        if close { "Connection: close\r\n" } else { "" }
    )
}

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        s.set_nodelay(true)?;
        Ok(Conn { s, addr })
    }

    /// One call: the status and the response body's length.
    fn call(&mut self, target: &str, ct: &str, body: &[u8]) -> std::io::Result<(u16, usize)> {
        self.s.write_all(head(self.addr, target, ct, body.len(), false).as_bytes())?;
        self.s.write_all(body)?;
        read_response(&mut self.s)
    }
}

/// Read one response with a `Content-Length` body, discarding the body.
fn read_response(s: &mut TcpStream) -> std::io::Result<(u16, usize)> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "closed"));
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = text.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    let len: usize =
        text.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut left = len;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = left.min(buf.len());
        let n = s.read(buf.get_mut(..want).unwrap_or_default())?;
        if n == 0 {
            return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "closed in the body"));
        }
        left -= n;
    }
    Ok((status, len))
}

/// One JSON call on a fresh connection.
fn call_once(addr: SocketAddr, target: &str, body: &str) -> Result<(u16, usize), Failure> {
    let mut c = Conn::open(addr).map_err(|e| Failure::run(format!("connect: {e}")))?;
    c.call(target, "application/x-amz-json-1.1", body.as_bytes()).map_err(|e| Failure::run(format!("{target}: {e}")))
}

/// What the normal producers saw in one phase.
#[derive(Default)]
struct Seen {
    latency: Histogram,
    failed: u64,
}

/// Normal producers: fixed-rate PutRecords on keep-alive connections.
fn producers(addr: SocketAddr, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) -> Vec<std::thread::JoinHandle<()>> {
    let body = {
        let recs: Vec<_> =
            (0..10).map(|i| json!({"Data": "eHh4".repeat(33), "PartitionKey": format!("k{i}")})).collect();
        serde_json::to_vec(&json!({"StreamName": "normal", "Records": recs})).unwrap_or_default()
    };
    (0..PRODUCERS)
        .map(|_| {
            let (stop, seen, body) = (Arc::clone(&stop), Arc::clone(&seen), body.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr).ok();
                let period = Duration::from_micros(1_000_000 / PRODUCER_RATE);
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    next += period;
                    let started = Instant::now();
                    let ok = match conn.as_mut() {
                        Some(c) => matches!(c.call("PutRecords", "application/x-amz-json-1.1", &body), Ok((200, _))),
                        None => false,
                    };
                    let us = started.elapsed().as_micros() as u64;
                    if let Ok(mut s) = seen.lock() {
                        if ok {
                            s.latency.record(us);
                        } else {
                            s.failed += 1;
                        }
                    }
                    if !ok {
                        conn = Conn::open(addr).ok();
                    }
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            })
        })
        .collect()
}

/// The largest response any hostile client got.
static LARGEST_RESPONSE: AtomicU64 = AtomicU64::new(0);

fn note_response(len: usize) {
    LARGEST_RESPONSE.fetch_max(len as u64, Ordering::Relaxed);
}

/// Start the hostile clients of `kind`; they stop when `stop` turns true.
fn hostile(
    kind: &'static str,
    addr: SocketAddr,
    consumers: &[String],
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    let stop = Arc::clone(stop);
    match kind {
        "idle" => vec![std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) && held.len() < 2000 {
                match TcpStream::connect(addr) {
                    Ok(s) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        })],
        "slow-heads" => vec![std::thread::spawn(move || {
            let request = head(addr, "ListStreams", "application/x-amz-json-1.1", 2, true).into_bytes();
            let mut held: Vec<(TcpStream, usize)> =
                (0..200).filter_map(|_| TcpStream::connect(addr).ok().map(|s| (s, 0))).collect();
            while !stop.load(Ordering::Relaxed) {
                for (s, at) in held.iter_mut() {
                    if let Some(b) = request.get(*at) {
                        if s.write_all(&[*b]).is_ok() {
                            *at += 1;
                        }
                    }
                }
                for _ in 0..50 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        })],
        "unfinished-bodies" => vec![std::thread::spawn(move || {
            let chunk = vec![b' '; 4 << 20];
            let mut held = Vec::new();
            for _ in 0..40 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(mut s) = TcpStream::connect(addr) {
                    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
                    let _ =
                        s.write_all(head(addr, "PutRecord", "application/x-amz-json-1.1", 16 << 20, false).as_bytes());
                    let _ = s.write_all(&chunk);
                    held.push(s);
                }
            }
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        })],
        "error-amplifiers" => {
            let n = 100_000;
            let mut json_body = br#"{"StreamName":"normal","Records":["#.to_vec();
            for i in 0..n {
                json_body.extend_from_slice(if i == 0 { b"{}" } else { b",{}" });
            }
            json_body.extend_from_slice(b"]}");
            let mut cbor = vec![0xa2, 0x6a];
            cbor.extend_from_slice(b"StreamName");
            cbor.extend_from_slice(&[0x66]);
            cbor.extend_from_slice(b"normal");
            cbor.push(0x67);
            cbor.extend_from_slice(b"Records");
            cbor.push(0x9f);
            cbor.resize(cbor.len() + 300_000, 0xa0);
            cbor.push(0xff);
            [(json_body, "application/x-amz-json-1.1"), (cbor, "application/x-amz-cbor-1.1")]
                .into_iter()
                .map(|(body, ct)| {
                    let stop = Arc::clone(&stop);
                    std::thread::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            if let Ok(mut c) = Conn::open(addr) {
                                while !stop.load(Ordering::Relaxed) {
                                    match c.call("PutRecords", ct, &body) {
                                        Ok((_, len)) => note_response(len),
                                        Err(_) => break,
                                    }
                                }
                            }
                        }
                    })
                })
                .collect()
        }
        "stalled-subscribers" => {
            let consumers = consumers.to_vec();
            vec![std::thread::spawn(move || {
                let mut held = Vec::new();
                for arn in &consumers {
                    let body = json!({"ConsumerARN": arn, "ShardId": "shardId-000000000000",
                        "StartingPosition": {"Type": "TRIM_HORIZON"}})
                    .to_string();
                    if let Ok(mut s) = TcpStream::connect(addr) {
                        let _ = s.write_all(
                            head(addr, "SubscribeToShard", "application/x-amz-json-1.1", body.len(), false).as_bytes(),
                        );
                        let _ = s.write_all(body.as_bytes());
                        held.push(s);
                    }
                }
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            })]
        }
        _ => vec![std::thread::spawn(move || {
            // split-merge: SplitShard then MergeShards of the two children, again and again.
            let mut c = match Conn::open(addr) {
                Ok(c) => c,
                Err(_) => return,
            };
            let mut next_index = 0u64;
            let mut parent = format!("shardId-{next_index:012}");
            while !stop.load(Ordering::Relaxed) {
                let split = json!({"StreamName": "churn", "ShardToSplit": parent,
                    "NewStartingHashKey": "170141183460469231731687303715884105728"})
                .to_string();
                if !matches!(c.call("SplitShard", "application/x-amz-json-1.1", split.as_bytes()), Ok((200, _))) {
                    break;
                }
                let (a, b) = (next_index + 1, next_index + 2);
                let merge = json!({"StreamName": "churn", "ShardToMerge": format!("shardId-{a:012}"),
                    "AdjacentShardToMerge": format!("shardId-{b:012}")})
                .to_string();
                if !matches!(c.call("MergeShards", "application/x-amz-json-1.1", merge.as_bytes()), Ok((200, _))) {
                    break;
                }
                next_index += 3;
                parent = format!("shardId-{next_index:012}");
            }
        })],
    }
}

/// One phase's figures.
struct Phase {
    name: String,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    calls: u64,
    failed: u64,
    peak_rss_mib: f64,
    fds: usize,
    largest_response: u64,
}

fn run_phase(
    server: &ServeChild,
    name: &str,
    kinds: &[&'static str],
    consumers: &[String],
    duration: Duration,
) -> Phase {
    server.reset_peak();
    LARGEST_RESPONSE.store(0, Ordering::Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut threads = producers(server.addr, Arc::clone(&stop), Arc::clone(&seen));
    for k in kinds {
        threads.extend(hostile(k, server.addr, consumers, &stop));
    }
    std::thread::sleep(duration);
    let peak_rss_mib = server.status_kib("VmHWM:") as f64 / 1024.0;
    let fds = server.open_fds();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let seen = seen.lock().map(|s| (s.latency.clone(), s.failed)).unwrap_or_default();
    let ms = |us: u64| us as f64 / 1000.0;
    Phase {
        name: name.to_string(),
        p50_ms: ms(seen.0.quantile(0.50)),
        p99_ms: ms(seen.0.quantile(0.99)),
        max_ms: ms(seen.0.max()),
        calls: seen.0.count(),
        failed: seen.1,
        peak_rss_mib,
        fds,
        largest_response: LARGEST_RESPONSE.load(Ordering::Relaxed),
    }
}

/// Register 20 consumers on each subscriber stream and fill each with 8 MiB.
fn prepare_subscribers(addr: SocketAddr) -> Result<Vec<String>, Failure> {
    let mut arns = Vec::new();
    let data = "A".repeat(64 * 1024 / 3 * 4);
    for i in 0..SUB_STREAMS {
        let stream_arn = format!("arn:aws:kinesis:us-east-1:000000000000:stream/sub{i}");
        for c in 0..20 {
            let mut conn = Conn::open(addr).map_err(|e| Failure::run(e.to_string()))?;
            let body = json!({"StreamARN": stream_arn, "ConsumerName": format!("c{c}")}).to_string();
            conn.s
                .write_all(
                    head(addr, "RegisterStreamConsumer", "application/x-amz-json-1.1", body.len(), true).as_bytes(),
                )
                .and_then(|_| conn.s.write_all(body.as_bytes()))
                .map_err(|e| Failure::run(e.to_string()))?;
            let mut raw = Vec::new();
            let _ = conn.s.read_to_end(&mut raw);
            let text = String::from_utf8_lossy(&raw);
            let arn = text
                .split("\"ConsumerARN\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .ok_or_else(|| Failure::run(format!("RegisterStreamConsumer: {text}")))?;
            arns.push(arn.to_string());
        }
        for _ in 0..8 {
            let recs: Vec<_> = (0..16).map(|k| json!({"Data": data, "PartitionKey": format!("k{k}")})).collect();
            let body = json!({"StreamName": format!("sub{i}"), "Records": recs}).to_string();
            call_once(addr, "PutRecords", &body)?;
        }
    }
    Ok(arns)
}

/// Run the hostile benchmark; see the module docs.
pub(crate) fn run(args: &BenchArgs, duration: Duration) -> Result<ExitCode, Failure> {
    if !cfg!(target_os = "linux") {
        return Err(Failure::usage("--hostile reads the server's memory from /proc (Linux only)"));
    }
    // A fresh server per phase: memory an allocator keeps after one phase would otherwise
    // show up in the next one's peak.
    let phase = |name: &str, kinds: &[&'static str]| -> Result<Phase, Failure> {
        let server = ServeChild::start()?;
        let consumers =
            if kinds.contains(&"stalled-subscribers") { prepare_subscribers(server.addr)? } else { Vec::new() };
        Ok(run_phase(&server, name, kinds, &consumers, duration))
    };
    let mut phases = vec![phase("baseline", &[])?];
    for kind in KINDS {
        phases.push(phase(kind, &[kind])?);
    }
    phases.push(phase("all", &KINDS)?);
    let base = phases.first().map_or(1.0, |p| p.p99_ms.max(0.001));
    if args.json {
        let v: Vec<_> = phases
            .iter()
            .map(|p| {
                json!({"phase": p.name, "p50_ms": p.p50_ms, "p99_ms": p.p99_ms, "max_ms": p.max_ms,
                "p99_vs_baseline": p.p99_ms / base, "calls": p.calls, "failed": p.failed,
                "server_peak_rss_mib": p.peak_rss_mib, "server_fds": p.fds, "largest_hostile_response_bytes": p.largest_response})
            })
            .collect();
        println!("{}", json!({"hostile": v, "phase_seconds": duration.as_secs_f64()}));
    } else {
        println!(
            "normal producers: {PRODUCERS} × {PRODUCER_RATE} PutRecords/s (10 × 100 B), {} s per phase",
            duration.as_secs_f64()
        );
        println!(
            "{:<20} {:>9} {:>9} {:>9} {:>10} {:>8} {:>7} {:>12} {:>6} {:>14}",
            "phase",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p99 × base",
            "calls",
            "failed",
            "peak RSS MiB",
            "fds",
            "largest resp B"
        );
        for p in &phases {
            println!(
                "{:<20} {:>9.2} {:>9.2} {:>9.2} {:>10.2} {:>8} {:>7} {:>12.1} {:>6} {:>14}",
                p.name,
                p.p50_ms,
                p.p99_ms,
                p.max_ms,
                p.p99_ms / base,
                p.calls,
                p.failed,
                p.peak_rss_mib,
                p.fds,
                p.largest_response
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
