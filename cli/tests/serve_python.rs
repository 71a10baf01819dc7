//! `shardlog serve` driven by real AWS clients from PyPI: boto3 (cli/tests/python/scenario.py,
//! cli/tests/python/queues.py for the 12 queue operations on a manual engine clock,
//! and cli/tests/python/all_ops.py for every operation of the current model) and the AWS
//! CLI v1.
//!
//! The first run prepares a virtual environment under the target directory
//! (`target/py-venv`, via `python3 -m venv` and `pip install` of the pinned versions below,
//! see `python_support`);
//! later runs reuse it while its marker file names the same pins. Set `SHARDLOG_PYTHON` to use
//! another interpreter than `python3`. Where Python is missing the tests fail and say what to
//! install.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod python_support;
mod serve_support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use python_support::{aws_env, run, AwsCli};
use serde_json::Value;
use serve_support::Server;

/// The boto3 scenario and each AWS CLI call are given this long.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

fn venv() -> PathBuf {
    python_support::shared_venv()
}

#[test]
fn boto3_scenario() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let endpoint = format!("http://{}", server.addr);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/scenario.py");
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.arg(&script).arg(&endpoint);
    aws_env(&mut cmd, dir.path());
    let ran = run(cmd, "scenario.py", RUN_DEADLINE);
    println!("{}", ran.output());
    assert!(ran.status.success(), "scenario.py failed ({}):\n{}", ran.status, ran.output());
    assert!(ran.stdout.contains("scenario: all checks passed"), "{}", ran.output());
    let status = server.terminate();
    assert!(status.success(), "server exit status {status:?}");
}

/// Every operation of the current model except the 12 queue operations, with valid input
/// (parsed responses checked) and with invalid input (error code and message checked):
/// cli/tests/python/all_ops.py, which also checks that it covered all 45.
#[test]
fn boto3_every_operation_with_valid_and_invalid_input() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let endpoint = format!("http://{}", server.addr);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/all_ops.py");
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.arg(&script).arg(&endpoint);
    aws_env(&mut cmd, dir.path());
    let ran = run(cmd, "all_ops.py", RUN_DEADLINE);
    println!("{}", ran.output());
    assert!(ran.status.success(), "all_ops.py failed ({}):\n{}", ran.status, ran.output());
    assert!(ran.stdout.contains("all_ops: all checks passed (45 operations)"), "{}", ran.output());
    let status = server.terminate();
    assert!(status.success(), "server exit status {status:?}");
}

/// A child process killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's S3 server from the virtual environment, on a free loopback port.
fn start_moto(venv: &Path, log: &Path) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(venv.join("bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(File::create(log).unwrap())
        .stderr(File::create(log.with_extension("err")).unwrap())
        .spawn()
        .expect("start moto_server");
    let child = Child(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(60), "moto_server never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

/// Every file under `dir`, as (path relative to `dir` with `/`, bytes).
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Channels deliver to an S3-compatible endpoint (moto's server): GZIP, ZSTD and
/// uncompressed objects under the default and a custom key template, undeliverable records
/// as JSON lines under the dead-letter prefix, and a missing bucket turns the channel FAILED
/// (cli/tests/python/channels_s3.py drives it; the objects are decoded and checked here).
#[test]
fn channels_deliver_to_an_s3_endpoint() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let (_moto, port) = start_moto(&venv, &dir.path().join("moto.log"));
    let s3 = format!("http://127.0.0.1:{port}");
    let server =
        Server::start(&dir.path().join("data"), &["--s3-endpoint", &s3, "--channel-delivery-interval-ms", "100"]);
    let out = dir.path().join("objects");
    std::fs::create_dir_all(&out).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/channels_s3.py");
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.arg(&script).arg(format!("http://{}", server.addr)).arg(&s3).arg(&out);
    aws_env(&mut cmd, dir.path());
    let ran = run(cmd, "channels_s3.py", RUN_DEADLINE);
    println!("{}", ran.output());
    assert!(ran.status.success(), "channels_s3.py failed ({}):\n{}", ran.status, ran.output());
    assert!(ran.stdout.contains("channels_s3: all checks passed"), "{}", ran.output());

    let objects = files_under(&out);
    let keys: Vec<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    let find = |pred: &dyn Fn(&str) -> bool| -> &(String, Vec<u8>) {
        let hits: Vec<_> = objects.iter().filter(|(k, _)| pred(k)).collect();
        assert_eq!(hits.len(), 1, "exactly one object expected among {keys:?}");
        hits[0]
    };
    let lines = |body: &[u8]| -> Vec<Value> {
        String::from_utf8(body.to_vec())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    };
    let check_records = |body: &[u8], stream: &str| {
        let mut ns: Vec<i64> = lines(body)
            .iter()
            .map(|v| {
                assert_eq!(v["stream"], stream);
                v["n"].as_i64().unwrap()
            })
            .collect();
        ns.sort();
        assert_eq!(ns, (0..20).collect::<Vec<i64>>(), "every record of {stream} delivered once");
    };
    // GZIP, default template: kinesis-channel/<name>/<id>/yyyy/MM/dd/HH/<name>-<id>-yyyy-MM-dd-HH-mm-<n>.json.gz
    let (key, gz) = find(&|k: &str| k.starts_with("deliveries/kinesis-channel/ch-gz/"));
    assert!(key.ends_with("-000000000000.json.gz"), "{key}");
    assert_eq!(key.split('/').count(), 9, "{key}");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut plain).unwrap();
    check_records(&plain, "s-gz");
    let (key, zs) = find(&|k: &str| k.starts_with("deliveries/kinesis-channel/ch-zs/"));
    assert!(key.ends_with("-000000000000.json.zst"), "{key}");
    check_records(&zstd::decode_all(zs.as_slice()).unwrap(), "s-zs");
    // NONE, custom template data/!{stream-name}/!{yyyy}/part!{extension}.
    let (key, raw) = find(&|k: &str| k.starts_with("deliveries/data/s-raw/"));
    assert!(key.ends_with("/part-000000000000.json"), "{key}");
    check_records(raw, "s-raw");
    // Undeliverable records: one error object per channel under the dead-letter prefix.
    for name in ["gz", "zs", "raw"] {
        let (key, body) = find(&|k: &str| k.starts_with(&format!("errors/failed/ch-{name}/")));
        assert!(key.ends_with("-000000000001.json"), "{key}");
        let errs = lines(body);
        assert_eq!(errs.len(), 1, "{key}");
        assert_eq!(errs[0]["errorCode"], "InvalidRecordFormat");
        assert_eq!(errs[0]["partitionKey"], "bad");
        assert_eq!(errs[0]["data"], base64::engine::general_purpose::STANDARD.encode(b"this is not json"));
    }
    assert_eq!(objects.len(), 6, "{keys:?}");
    let status = server.terminate();
    assert!(status.success(), "server exit status {status:?}");
}

#[test]
fn boto3_over_tls_trusts_the_self_signed_certificate_written_beside_the_data_directory() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("stderr");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardlog"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--tls", "--log-level", "info", "--dir"])
        .arg(&data)
        .stderr(File::create(&log).unwrap());
    let server = Server::spawn(cmd);
    let cert = dir.path().join("data.cert.pem");
    assert!(cert.exists(), "the PEM is written beside the data directory");
    let endpoint = format!("https://localhost:{}", server.addr.port());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tls.py");
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.arg(&script).arg(&endpoint).arg(&cert);
    aws_env(&mut cmd, dir.path());
    let ran = run(cmd, "tls.py", RUN_DEADLINE);
    assert!(ran.status.success(), "tls.py failed ({}):\n{}", ran.status, ran.output());
    assert!(ran.stdout.contains("tls: all checks passed"), "{}", ran.output());
    assert!(server.terminate().success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains(cert.to_str().unwrap()), "the certificate's path is logged:\n{logged}");
}

#[test]
fn aws_cli_v1() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let cli = AwsCli::new(&venv, "kinesis", format!("http://{}", server.addr), dir.path());

    assert_eq!(cli.ok(&["create-stream", "--stream-name", "cli", "--shard-count", "2"]), Value::Null);
    let s = cli.ok(&["describe-stream-summary", "--stream-name", "cli"]);
    let s = &s["StreamDescriptionSummary"];
    assert_eq!(s["StreamStatus"], "ACTIVE");
    assert_eq!(s["OpenShardCount"], 2);
    assert_eq!(s["StreamARN"], "arn:aws:kinesis:us-east-1:000000000000:stream/cli");
    assert_eq!(s["MaxRecordSizeInKiB"], 1024);

    // CLI v1 sends `--data` as the text's bytes; GetRecords shows them base64-encoded.
    let put = cli.ok(&[
        "put-record",
        "--stream-name",
        "cli",
        "--partition-key",
        "k",
        "--data",
        "hello from aws-cli v1",
        "--explicit-hash-key",
        "0",
    ]);
    assert_eq!(put["ShardId"], "shardId-000000000000");
    let records = r#"[{"Data": "second", "PartitionKey": "a", "ExplicitHashKey": "1"},
                      {"Data": "third", "PartitionKey": "b", "ExplicitHashKey": "2"}]"#;
    let puts = cli.ok(&["put-records", "--stream-name", "cli", "--records", records]);
    assert_eq!(puts["FailedRecordCount"], 0);
    let it = cli.ok(&[
        "get-shard-iterator",
        "--stream-name",
        "cli",
        "--shard-id",
        "shardId-000000000000",
        "--shard-iterator-type",
        "TRIM_HORIZON",
    ]);
    let it = it["ShardIterator"].as_str().unwrap().to_string();
    let got = cli.ok(&["get-records", "--shard-iterator", &it]);
    let recs = got["Records"].as_array().unwrap();
    let data: Vec<Vec<u8>> = recs
        .iter()
        .map(|r| base64::engine::general_purpose::STANDARD.decode(r["Data"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(data, vec![b"hello from aws-cli v1".to_vec(), b"second".to_vec(), b"third".to_vec()]);
    assert_eq!(recs[0]["SequenceNumber"], put["SequenceNumber"]);
    assert_eq!(recs[0]["PartitionKey"], "k");
    assert!(got["NextShardIterator"].is_string());
    assert_eq!(got["MillisBehindLatest"], 0);

    // Operations of the current model (botocore 1.44.18 behind the CLI).
    let a = cli.ok(&["describe-account-settings"]);
    assert_eq!(a["MinimumThroughputBillingCommitment"]["Status"], "DISABLED");
    assert_eq!(cli.ok(&["create-stream", "--stream-name", "od"]), Value::Null);
    let s = cli.ok(&["describe-stream-summary", "--stream-name", "od"]);
    assert_eq!(s["StreamDescriptionSummary"]["StreamModeDetails"]["StreamMode"], "ON_DEMAND");
    assert_eq!(s["StreamDescriptionSummary"]["OpenShardCount"], 4);
    let od_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/od";
    cli.ok(&[
        "start-stream-encryption",
        "--stream-name",
        "od",
        "--encryption-type",
        "KMS",
        "--key-id",
        "alias/aws/kinesis",
    ]);
    let m = cli.ok(&["enable-enhanced-monitoring", "--stream-name", "od", "--shard-level-metrics", "ALL"]);
    assert_eq!(m["DesiredShardLevelMetrics"].as_array().map(Vec::len), Some(7));
    cli.ok(&["tag-resource", "--resource-arn", od_arn, "--tags", "team=data"]);
    let t = cli.ok(&["list-tags-for-resource", "--resource-arn", od_arn]);
    assert_eq!(t["Tags"], serde_json::json!([{"Key": "team", "Value": "data"}]));
    assert_eq!(cli.ok(&["get-resource-policy", "--resource-arn", od_arn])["Policy"], "{}");
    assert_eq!(cli.ok(&["describe-limits"])["OnDemandStreamCount"], 1);
    let s = cli.ok(&["describe-stream-summary", "--stream-name", "od"]);
    assert_eq!(s["StreamDescriptionSummary"]["EncryptionType"], "KMS");

    // Bad requests (each CLI start takes a second: run them side by side): the error code and
    // Kinesis' message on stderr.
    std::thread::scope(|t| {
        let cli = &cli;
        t.spawn(move || {
            cli.fails(
                &["describe-stream-summary", "--stream-name", "nope"],
                "ResourceNotFoundException",
                "Stream nope under account 000000000000 not found.",
            )
        });
        t.spawn(move || {
            cli.fails(
                &["get-records", "--shard-iterator", "garbage"],
                "InvalidArgumentException",
                "Invalid ShardIterator",
            )
        });
        t.spawn(move || {
            cli.fails(
                &["create-stream", "--stream-name", "bad name", "--shard-count", "1"],
                "ValidationException",
                "Member must satisfy regular expression pattern",
            )
        });
        t.spawn(move || {
            cli.fails(
                &[
                    "split-shard",
                    "--stream-name",
                    "od",
                    "--shard-to-split",
                    "shardId-000000000000",
                    "--new-starting-hash-key",
                    "5",
                ],
                "ValidationException",
                "not supported for streams in ON_DEMAND capacity mode",
            )
        });
    });
    let status = server.terminate();
    assert!(status.success(), "server exit status {status:?}");
}

/// The 12 queue operations through boto3 (cli/tests/python/queues.py) against an in-process
/// server whose engine runs on a manual clock: the script prints `CLOCK <ms>` when time
/// must pass (visibility timeouts, dead-lettering), this test advances the clock and answers
/// `ok` on the script's stdin. Covers valid and invalid input of every queue operation.
#[test]
fn boto3_queue_operations_with_the_engine_clock_driven_by_the_test() {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::mpsc;

    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let clock = shardlog::ManualClock::new(1_700_000_000_000);
    let config = shardlog::EngineConfig {
        clock: std::sync::Arc::new(clock.clone()),
        retention_check_interval: None,
        ..Default::default()
    };
    let server = shardlog_server::serve::Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .dir(dir.path().join("data"))
        .engine_config(config)
        .start()
        .expect("in-process server starts");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/queues.py");
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.arg(&script).arg(server.url());
    aws_env(&mut cmd, dir.path());
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = Child(cmd.spawn().expect("start queues.py"));
    let mut stdin = child.0.stdin.take().unwrap();
    let stdout = child.0.stdout.take().unwrap();
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let start = Instant::now();
    let mut output = Vec::new();
    loop {
        let left = RUN_DEADLINE.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(ms) = line.strip_prefix("CLOCK ") {
                    clock.advance(Duration::from_millis(ms.trim().parse().expect("CLOCK <ms>")));
                    writeln!(stdin, "ok").unwrap();
                    stdin.flush().unwrap();
                }
                output.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("queues.py did not finish within {RUN_DEADLINE:?}:\n{}", output.join("\n"))
            }
        }
    }
    reader.join().unwrap();
    let status = child.0.wait().unwrap();
    let stderr = errors.join().unwrap();
    let text = format!("--- stdout ---\n{}\n--- stderr ---\n{stderr}", output.join("\n"));
    println!("{text}");
    assert!(status.success(), "queues.py failed ({status}):\n{text}");
    assert!(text.contains("queues: all checks passed (12 operations)"), "{text}");
    server.shutdown().unwrap();
}
