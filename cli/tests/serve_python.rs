//! `shardlog serve` driven by real AWS clients from PyPI: boto3 (cli/tests/python/scenario.py)
//! and the AWS CLI v1.
//!
//! The first run prepares a virtual environment under the target directory
//! (`target/py-venv`, via `python3 -m venv` and `pip install` of the pinned versions below);
//! later runs reuse it while its marker file names the same pins. Set `SHARDLOG_PYTHON` to use
//! another interpreter than `python3`. Where Python is missing the tests fail and say what to
//! install.

mod serve_support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use serve_support::Server;

/// What the virtual environment holds (boto3 and the AWS CLI v1 that share a botocore).
const PINS: &[&str] = &["boto3==1.44.5", "botocore==1.44.5", "awscli==1.46.3"];

/// The first-run installation is given this long before it is stopped.
const INSTALL_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// The boto3 scenario and each AWS CLI call are given this long.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("CARGO_TARGET_TMPDIR has a parent").to_path_buf()
}

/// A finished child process.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn output(&self) -> String {
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// Run `cmd` to completion with its output captured to files, killing it after `deadline`.
fn run(mut cmd: Command, what: &str, deadline: Duration) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    cmd.stdin(Stdio::null()).stdout(File::create(&out_path).unwrap()).stderr(File::create(&err_path).unwrap());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("could not start {what}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let ran = Ran {
                status: ExitStatus::default(),
                stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
                stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
            };
            panic!("{what} did not finish within {deadline:?}\n{}", ran.output());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    }
}

/// The virtual environment with the pinned packages, created on first use. A file lock
/// serialises the set-up between tests (threads or processes).
fn venv() -> PathBuf {
    let target = target_dir();
    std::fs::create_dir_all(&target).unwrap();
    let venv = target.join("py-venv");
    let lock = File::create(target.join("py-venv.lock")).unwrap();
    lock.lock().unwrap();
    let marker = venv.join("shardlog-pins.txt");
    // The pins and where the environment was made (its scripts hold absolute paths).
    let want = format!("{}\n{}", PINS.join("\n"), venv.display());
    if venv.join("bin/python").exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) {
        return venv;
    }

    let python = std::env::var("SHARDLOG_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`{python} --version` failed ({}): these tests need Python 3 (3.9 or later) with venv and pip; {}",
            o.status, INSTALL_HINT
        ),
        Err(e) => panic!(
            "`{python}` could not be run ({e}): these tests need Python 3 (3.9 or later) with venv and pip; {}",
            INSTALL_HINT
        ),
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv).unwrap();
    }
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "venv"]).arg(&venv);
    let ran = run(cmd, "python3 -m venv", Duration::from_secs(300));
    assert!(ran.status.success(), "`{python} -m venv {}` failed: {INSTALL_HINT}\n{}", venv.display(), ran.output());

    // pip retries each connection itself; one more whole attempt covers a failure midway.
    let mut last = String::new();
    for attempt in 1..=2 {
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--retries", "5"])
            .args(["--timeout", "60"])
            .args(PINS)
            .env("PIP_NO_INPUT", "1");
        let ran = run(cmd, "pip install", INSTALL_DEADLINE);
        if ran.status.success() {
            std::fs::write(&marker, &want).unwrap();
            return venv;
        }
        last = format!("attempt {attempt}: {}\n{}", ran.status, ran.output());
    }
    panic!("`pip install {}` into {} failed (it needs to reach PyPI):\n{last}", PINS.join(" "), venv.display());
}

const INSTALL_HINT: &str = "install them (Debian/Ubuntu: `apt-get install python3 python3-venv python3-pip`) \
                            or set SHARDLOG_PYTHON to a Python 3 interpreter that has the venv module";

/// `cmd` with a clean AWS environment: fixed test credentials and region, no profile, no
/// configuration or credential files, no instance metadata, one attempt per call; and no
/// bytecode written next to the scenario script.
fn aws_env(cmd: &mut Command, scratch: &Path) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("AWS_") || k == "PYTHONPATH" || k == "PYTHONHOME" {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDSHARDLOGTEST")
        .env("AWS_SECRET_ACCESS_KEY", "shardlog-test-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", scratch.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", scratch.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
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
