//! `shardlog serve` driven by real AWS clients from PyPI: boto3 (cli/tests/python/scenario.py)
//! and the AWS CLI v1, from a virtual environment under the target directory (`target/py-venv`,
//! see `python_support`).

mod python_support;
mod serve_support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use python_support::{aws_env, run, Ran};
use serde_json::Value;
use serve_support::Server;

/// What the virtual environment holds (boto3 and the AWS CLI v1 that share a botocore).
const PINS: &[&str] = &["boto3==1.44.5", "botocore==1.44.5", "awscli==1.46.3"];

/// The boto3 scenario and each AWS CLI call are given this long.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

fn venv() -> PathBuf {
    python_support::venv("py-venv", PINS)
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

/// The AWS CLI v1 (`aws kinesis ...`) from the virtual environment.
struct Cli {
    aws: PathBuf,
    endpoint: String,
    scratch: PathBuf,
}

impl Cli {
    fn raw(&self, args: &[&str]) -> Ran {
        let mut cmd = Command::new(&self.aws);
        cmd.arg("kinesis").args(args).args(["--endpoint-url", &self.endpoint, "--output", "json"]);
        aws_env(&mut cmd, &self.scratch);
        run(cmd, &format!("aws kinesis {}", args.join(" ")), RUN_DEADLINE)
    }

    /// A call that must succeed; its JSON output (`null` when it prints nothing).
    fn ok(&self, args: &[&str]) -> Value {
        let ran = self.raw(args);
        assert!(ran.status.success(), "aws kinesis {args:?} failed ({}):\n{}", ran.status, ran.output());
        if ran.stdout.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", ran.output()))
    }

    /// A call that must fail with this error code (the CLI prints it to stderr, exit 255).
    fn fails(&self, args: &[&str], code: &str, message: &str) {
        let ran = self.raw(args);
        assert_eq!(ran.status.code(), Some(255), "aws kinesis {args:?}:\n{}", ran.output());
        assert!(ran.stderr.contains(&format!("An error occurred ({code})")), "want {code}:\n{}", ran.output());
        assert!(ran.stderr.contains(message), "want {message:?}:\n{}", ran.output());
    }
}

#[test]
fn aws_cli_v1() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let cli =
        Cli { aws: venv.join("bin/aws"), endpoint: format!("http://{}", server.addr), scratch: dir.path().into() };

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
    });
    let status = server.terminate();
    assert!(status.success(), "server exit status {status:?}");
}
