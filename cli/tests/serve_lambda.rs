//! Lambda event-source mappings on `shardlog serve`, end to end with real clients and real
//! functions: boto3's `lambda` client and the AWS CLI against the server; the server invoking
//! a Lambda Powertools `BatchProcessor` handler through the Lambda Invoke API (a Python stub
//! of the API, cli/tests/python/lambda_stub.py, verifying every SigV4 signature) and shell
//! scripts through `--lambda-command`; restarts (a crash and a clean stop) resuming from the
//! checkpoints; lineage across a split while the mapping runs; on-failure documents in the
//! data directory and in an SQS queue (moto's server).
//!
//! The Python packages come from the virtual environment under the target directory that
//! serve_python shares (`target/py-venv`, see `python_support`). Waiting on the server or a
//! function is polling with a bound; time-based rules (record age, tumbling windows) are tested in
//! process on a manual clock (server/tests/lambda_inprocess.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod python_support;
mod serve_support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use python_support::{aws_env, run, AwsCli};
use serde_json::{json, Value};
use serve_support::{ok_json, request_to, Resp, Server, AUTH};

const ACCESS_KEY: &str = "AKIDSHARDLOGTEST";
const SECRET_KEY: &str = "shardlog-test-secret";
const DEADLINE: Duration = Duration::from_secs(120);

fn venv() -> PathBuf {
    python_support::shared_venv()
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(name)
}

/// Poll `cond` (it waits on another process) for at most two minutes.
fn wait_for<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Python helper process that writes the port it listens on to a file.
struct PyServer {
    child: Child,
    port: u16,
}

impl PyServer {
    fn start(venv: &Path, scratch: &Path, args: &[&str], port_file: &Path) -> PyServer {
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        aws_env(&mut cmd, scratch);
        let child = cmd.spawn().expect("start the Python helper");
        let port = wait_for("the helper's port", || std::fs::read_to_string(port_file).ok()?.trim().parse().ok());
        PyServer { child, port }
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Invoke API stub (lambda_stub.py).
fn start_stub(venv: &Path, dir: &Path) -> (PyServer, PathBuf) {
    start_stub_with(venv, dir, &[])
}

/// The stub with extra arguments (a certificate and key: HTTPS).
fn start_stub_with(venv: &Path, dir: &Path, extra: &[&str]) -> (PyServer, PathBuf) {
    let log = dir.join("stub.log");
    let port_file = dir.join("stub.port");
    let stub = script("lambda_stub.py");
    let mut args = vec![
        stub.to_str().unwrap(),
        port_file.to_str().unwrap(),
        log.to_str().unwrap(),
        ACCESS_KEY,
        SECRET_KEY,
        "us-east-1",
    ];
    args.extend_from_slice(extra);
    (PyServer::start(venv, dir, &args, &port_file), log)
}

/// Call the Lambda API with raw HTTP.
fn lambda(addr: std::net::SocketAddr, method: &str, path: &str, body: Option<Value>) -> Resp {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let headers = [("Content-Type", "application/json"), ("Authorization", AUTH), ("X-Amz-Date", "20150830T123600Z")];
    request_to(addr, method, path, &headers, &bytes)
}

fn create_mapping(addr: std::net::SocketAddr, body: Value) -> String {
    let r = lambda(addr, "POST", "/2015-03-31/event-source-mappings/", Some(body));
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["UUID"].as_str().unwrap().to_string()
}

fn mapping_state(addr: std::net::SocketAddr, uuid: &str) -> Value {
    let r = lambda(addr, "GET", &format!("/2015-03-31/event-source-mappings/{uuid}"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn stream_arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}")
}

/// Put `records` (key, data) with PutRecords in batches of 500; their sequence numbers.
fn put_records(addr: std::net::SocketAddr, stream: &str, records: &[(String, String)]) -> Vec<String> {
    let mut seqs = Vec::new();
    for chunk in records.chunks(500) {
        let entries: Vec<Value> = chunk
            .iter()
            .map(|(k, d)| json!({"PartitionKey": k, "Data": base64::engine::general_purpose::STANDARD.encode(d)}))
            .collect();
        let out = ok_json(addr, "PutRecords", json!({"StreamName": stream, "Records": entries}));
        assert_eq!(out["FailedRecordCount"], 0);
        seqs.extend(
            out["Records"].as_array().unwrap().iter().map(|r| r["SequenceNumber"].as_str().unwrap().to_string()),
        );
    }
    seqs
}

/// A `--lambda-command` function: a shell script that stores each event it receives as a
/// file `<ns timestamp>-<pid>.json` in `dir/events` and answers `{}` (or fails when a record's
/// partition key starts with "poison").
fn recording_function(dir: &Path) -> String {
    let events = dir.join("events");
    std::fs::create_dir_all(&events).unwrap();
    let script = dir.join("record.sh");
    std::fs::write(
        &script,
        format!(
            r#"set -e
f="{events}/$(date +%s%N)-$$"
cat > "$f.tmp"
mv "$f.tmp" "$f.json"
if grep -q '"partitionKey":"poison' "$f.json"; then echo "poison in $f" >&2; exit 1; fi
echo '{{}}'
"#,
            events = events.display()
        ),
    )
    .unwrap();
    format!("sh {}", script.display())
}

/// One invocation the recording function saw.
#[derive(Debug, Clone)]
struct Delivery {
    shard: String,
    records: Vec<(String, String, String)>,
}

/// Every invocation so far, in the order they ran.
fn deliveries(dir: &Path) -> Vec<Delivery> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("events"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort_by_key(|p| {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let (ns, pid) = name.split_once('-').unwrap();
        (ns.parse::<u128>().unwrap(), pid.to_string())
    });
    files
        .iter()
        // An event cut short because the server was killed while writing it to the
        // command's stdin is no delivery (nobody got its answer; it is invoked again).
        .filter_map(|p| serde_json::from_slice::<Value>(&std::fs::read(p).unwrap()).ok())
        .map(|ev| {
            let recs = ev["Records"].as_array().unwrap();
            Delivery {
                shard: recs
                    .first()
                    .map(|r| r["eventID"].as_str().unwrap().split(':').next().unwrap().to_string())
                    .unwrap_or_default(),
                records: recs
                    .iter()
                    .map(|r| {
                        let d = base64::engine::general_purpose::STANDARD
                            .decode(r["kinesis"]["data"].as_str().unwrap())
                            .unwrap();
                        (
                            r["kinesis"]["sequenceNumber"].as_str().unwrap().to_string(),
                            r["kinesis"]["partitionKey"].as_str().unwrap().to_string(),
                            String::from_utf8(d).unwrap(),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

fn delivered_seqs(dir: &Path) -> HashSet<String> {
    deliveries(dir).into_iter().flat_map(|d| d.records.into_iter().map(|r| r.0)).collect()
}

#[test]
fn boto3_drives_mappings_that_invoke_a_powertools_function() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let (stub, stub_log) = start_stub(&venv, dir.path());
    let data = dir.path().join("data");
    let endpoint = format!("http://127.0.0.1:{}", stub.port);
    let server = Server::start(
        &data,
        &[
            "--lambda-endpoint",
            &endpoint,
            "--lambda-poll-interval-ms",
            "20",
            "--verify-sigv4",
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
        ],
    );
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.arg(script("lambda_scenario.py"))
        .arg(format!("http://{}", server.addr))
        .arg(&stub_log)
        .arg(data.join("lambda/on-failure"));
    aws_env(&mut cmd, dir.path());
    let ran = run(cmd, "lambda_scenario.py", Duration::from_secs(300));
    println!("{}", ran.output());
    assert!(ran.status.success(), "lambda_scenario.py failed ({}):\n{}", ran.status, ran.output());
    assert!(ran.stdout.contains("lambda scenario: all checks passed"), "{}", ran.output());
    // Every invocation passed the stub's signature check (a bad one is answered 403 and
    // never reaches a handler; the scenario saw every record processed).
    let log = std::fs::read_to_string(&stub_log).unwrap();
    assert!(log.lines().count() > 5);
    let status = server.terminate();
    assert!(status.success(), "server exit status {status:?}");
}

#[test]
fn aws_cli_manages_mappings_of_a_shell_command_function() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let function = recording_function(dir.path());
    let server = Server::start(
        &dir.path().join("data"),
        &["--lambda-command", &format!("record={function}"), "--lambda-poll-interval-ms", "20"],
    );
    let cli = AwsCli::new(&venv, "lambda", format!("http://{}", server.addr), dir.path());
    ok_json(server.addr, "CreateStream", json!({"StreamName": "cli", "ShardCount": 1}));
    let arn = stream_arn("cli");
    let filter = r#"{"Filters": [{"Pattern": "{\"data\": {\"kind\": [\"order\"]}}"}]}"#;
    let created = cli.ok(&[
        "create-event-source-mapping",
        "--function-name",
        "record",
        "--event-source-arn",
        &arn,
        "--starting-position",
        "TRIM_HORIZON",
        "--batch-size",
        "5",
        "--maximum-retry-attempts",
        "1",
        "--bisect-batch-on-function-error",
        "--function-response-types",
        "ReportBatchItemFailures",
        "--filter-criteria",
        filter,
        "--destination-config",
        r#"{"OnFailure": {"Destination": "arn:aws:s3:::failed-batches"}}"#,
    ]);
    assert_eq!(created["State"], "Creating");
    assert_eq!(created["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:record");
    assert_eq!(created["BatchSize"], 5);
    assert_eq!(created["BisectBatchOnFunctionError"], true);
    assert!(created["LastModified"].is_number() || created["LastModified"].is_string());
    let uuid = created["UUID"].as_str().unwrap().to_string();

    let records: Vec<(String, String)> = (0..8)
        .map(|i| {
            let kind = if i % 2 == 0 { "order" } else { "refund" };
            let key = if i == 4 { "poison".to_string() } else { format!("k{i}") };
            (key, json!({"kind": kind, "n": i}).to_string())
        })
        .collect();
    put_records(server.addr, "cli", &records);
    let failures = dir.path().join(format!("data/lambda/on-failure/{uuid}"));
    let doc: Value = wait_for("the poison record's on-failure document", || {
        let f =
            std::fs::read_dir(&failures).ok()?.flatten().find(|e| e.path().extension().is_some_and(|x| x == "json"))?;
        serde_json::from_slice(&std::fs::read(f.path()).ok()?).ok()
    });
    assert_eq!(doc["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(doc["KinesisBatchInfo"]["batchSize"], 1);
    // Successful invocations: those without the poison record.
    let succeeded = || -> Vec<i64> {
        let mut ns: Vec<i64> = deliveries(dir.path())
            .iter()
            .filter(|x| !x.records.iter().any(|r| r.1 == "poison"))
            .flat_map(|x| x.records.iter().map(|r| serde_json::from_str::<Value>(&r.2).unwrap()["n"].as_i64().unwrap()))
            .collect();
        ns.sort();
        ns.dedup();
        ns
    };
    wait_for("the orders", || (succeeded() == [0, 2, 6]).then_some(()));
    let seen: HashSet<i64> = deliveries(dir.path())
        .iter()
        .flat_map(|x| x.records.iter().map(|r| serde_json::from_str::<Value>(&r.2).unwrap()["n"].as_i64().unwrap()))
        .collect();
    assert!(seen.iter().all(|n| n % 2 == 0), "refunds are filtered out: {seen:?}");

    let got = cli.ok(&["get-event-source-mapping", "--uuid", &uuid]);
    assert_eq!(got["State"], "Enabled");
    assert_eq!(got["FilterCriteria"]["Filters"][0]["Pattern"], "{\"data\": {\"kind\": [\"order\"]}}");
    let listed = cli.ok(&["list-event-source-mappings", "--function-name", "record"]);
    assert_eq!(listed["EventSourceMappings"][0]["UUID"], uuid.as_str());
    let listed = cli.ok(&["list-event-source-mappings", "--event-source-arn", &arn, "--max-items", "1"]);
    assert_eq!(listed["EventSourceMappings"].as_array().unwrap().len(), 1);

    let paused = cli.ok(&["update-event-source-mapping", "--uuid", &uuid, "--no-enabled", "--batch-size", "2"]);
    assert_eq!(paused["State"], "Updating");
    wait_for("the pause", || {
        (cli.ok(&["get-event-source-mapping", "--uuid", &uuid])["State"] == "Disabled").then_some(())
    });
    let resumed = cli.ok(&["update-event-source-mapping", "--uuid", &uuid, "--enabled"]);
    assert_eq!(resumed["State"], "Enabling");
    assert_eq!(cli.ok(&["get-event-source-mapping", "--uuid", &uuid])["BatchSize"], 2);

    std::thread::scope(|t| {
        let cli = &cli;
        let arn = &arn;
        t.spawn(move || {
            cli.fails(
                &[
                    "create-event-source-mapping",
                    "--function-name",
                    "nope",
                    "--event-source-arn",
                    arn,
                    "--starting-position",
                    "LATEST",
                ],
                "ResourceNotFoundException",
                "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope",
            )
        });
        t.spawn(move || {
            cli.fails(
                &[
                    "create-event-source-mapping",
                    "--function-name",
                    "record",
                    "--event-source-arn",
                    arn,
                    "--starting-position",
                    "LATEST",
                ],
                "ResourceConflictException",
                "already exists",
            )
        });
        t.spawn(move || {
            cli.fails(
                &["get-event-source-mapping", "--uuid", "a1b2c3d4-5678-90ab-cdef-111111111111"],
                "ResourceNotFoundException",
                "The resource you requested does not exist.",
            )
        });
    });
    let deleted = cli.ok(&["delete-event-source-mapping", "--uuid", &uuid]);
    assert_eq!(deleted["State"], "Deleting");
    wait_for("the deletion", || {
        cli.ok(&["list-event-source-mappings"])["EventSourceMappings"].as_array().unwrap().is_empty().then_some(())
    });
    let status = server.terminate();
    assert!(status.success(), "server exit status {status:?}");
}

#[test]
fn lambda_errors_have_lambdas_status_body_and_error_type_header() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--lambda-command", "f=cat >/dev/null; echo {}"]);
    ok_json(server.addr, "CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let r = lambda(server.addr, "GET", "/2015-03-31/event-source-mappings/a1b2c3d4-5678-90ab-cdef-111111111111", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-amzn-ErrorType"), Some("ResourceNotFoundException"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-amzn-RequestId").is_some());
    assert_eq!(r.json()["Message"], "The resource you requested does not exist.");
    let body = json!({"FunctionName": "f", "EventSourceArn": stream_arn("s"), "StartingPosition": "LATEST"});
    create_mapping(server.addr, body.clone());
    let r = lambda(server.addr, "POST", "/2015-03-31/event-source-mappings", Some(body));
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (409, Some("ResourceConflictException")));
    assert!(r.json()["message"].as_str().unwrap().contains("already exists"));
    let r = lambda(
        server.addr,
        "POST",
        "/2015-03-31/event-source-mappings",
        Some(
            json!({"FunctionName": "f", "EventSourceArn": stream_arn("s"), "StartingPosition": "LATEST", "BatchSize": 0}),
        ),
    );
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (400, Some("ValidationException")));
    let r = request_to(
        server.addr,
        "POST",
        "/2015-03-31/event-source-mappings",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (403, Some("MissingAuthenticationTokenException")));
    let r = lambda(server.addr, "POST", "/2015-03-31/event-source-mappings", None);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("ValidationException"),
        "an empty body names no function: {}",
        r.text()
    );
    let r = lambda(server.addr, "GET", "/2015-03-31/functions", None);
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (404, Some("UnknownOperationException")));
    // The Kinesis API on the same port is untouched.
    assert_eq!(ok_json(server.addr, "ListStreams", json!({}))["StreamNames"], json!(["s"]));
    assert!(server.terminate().success());
}

#[test]
fn bad_lambda_flags_stop_the_start_with_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for (args, text) in [
        (vec!["--lambda-command", "no-equals-sign"], "expected NAME=CMD"),
        (vec!["--lambda-command", "bad name=x"], "not a function name"),
        (vec!["--lambda-command", "f=x", "--lambda-command", "f=y"], "given twice"),
        (vec!["--lambda-endpoint", "ftp://lambda.example"], "http or https"),
        (vec!["--lambda-endpoint", "localhost:3001"], "scheme"),
        (vec!["--sqs-endpoint", "ftp://x"], "--sqs-endpoint"),
        (vec!["--lambda-timeout-secs", "0"], "lambda-timeout-secs"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_shardlog"))
            .args(["serve", "--addr", "127.0.0.1:0", "--dir", dir.path().join("d").to_str().unwrap()])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(text), "{args:?}: {stderr}");
    }
}

#[test]
fn timeouts_connection_failures_and_missing_functions_are_failed_invocations() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let (stub, stub_log) = start_stub(&venv, dir.path());
    let endpoint = format!("http://127.0.0.1:{}", stub.port);
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--lambda-endpoint",
            &endpoint,
            "--lambda-timeout-secs",
            "1",
            "--lambda-poll-interval-ms",
            "20",
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
        ],
    );
    ok_json(server.addr, "CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let dest = json!({"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}});
    // The stub sleeps 5 s the first time it sees "slow": that invocation times out, the retry works.
    let sleepy = create_mapping(
        server.addr,
        json!({"FunctionName": "sleepy", "EventSourceArn": stream_arn("s"), "StartingPosition": "TRIM_HORIZON"}),
    );
    // Not a function the endpoint knows: 404 from the Invoke API, a failed invocation.
    let missing = create_mapping(
        server.addr,
        json!({"FunctionName": "not-deployed", "EventSourceArn": stream_arn("s"), "StartingPosition": "TRIM_HORIZON",
               "MaximumRetryAttempts": 1, "DestinationConfig": dest}),
    );
    put_records(server.addr, "s", &[("k".into(), "slow".into()), ("k".into(), "after".into())]);
    let calls: Vec<Value> = wait_for("the retried invocation", || {
        let text = std::fs::read_to_string(&stub_log).ok()?;
        let calls: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|c: &Value| c["function"] == "sleepy")
            .collect();
        (calls.len() >= 2).then_some(calls)
    });
    assert_eq!(calls[0]["data"], json!(["slow", "after"]));
    assert_eq!(calls[1]["data"], json!(["slow", "after"]), "the timed-out batch is retried whole");
    let doc: Value = wait_for("the missing function's on-failure document", || {
        let d = dir.path().join(format!("data/lambda/on-failure/{missing}"));
        let f = std::fs::read_dir(d).ok()?.flatten().next()?;
        serde_json::from_slice(&std::fs::read(f.path()).ok()?).ok()
    });
    assert_eq!(doc["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(mapping_state(server.addr, &missing)["LastProcessingResult"], "PROBLEM: Function call failed");
    wait_for("the sleepy mapping to recover", || {
        (mapping_state(server.addr, &sleepy)["LastProcessingResult"] == "OK").then_some(())
    });

    // A connection failure: nothing listens at the endpoint any more.
    drop(stub);
    let unreachable = create_mapping(
        server.addr,
        json!({"FunctionName": "recorder", "EventSourceArn": stream_arn("s"), "StartingPosition": "TRIM_HORIZON",
               "MaximumRetryAttempts": 0, "DestinationConfig": dest}),
    );
    let doc: Value = wait_for("the unreachable function's on-failure document", || {
        let d = dir.path().join(format!("data/lambda/on-failure/{unreachable}"));
        let f = std::fs::read_dir(d).ok()?.flatten().next()?;
        serde_json::from_slice(&std::fs::read(f.path()).ok()?).ok()
    });
    assert_eq!(doc["KinesisBatchInfo"]["batchSize"], 2);
    assert!(server.terminate().success());
}

#[test]
fn a_restart_resumes_every_mapping_from_its_checkpoint_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let function = format!("record={}", recording_function(dir.path()));
    let args = ["--lambda-command", function.as_str(), "--lambda-poll-interval-ms", "10"];
    let server = Server::start(&data, &args);
    ok_json(server.addr, "CreateStream", json!({"StreamName": "s", "ShardCount": 2}));
    let uuid = create_mapping(
        server.addr,
        json!({"FunctionName": "record", "EventSourceArn": stream_arn("s"), "StartingPosition": "TRIM_HORIZON", "BatchSize": 10}),
    );
    let batch = |from: usize, n: usize| -> Vec<(String, String)> {
        (from..from + n).map(|i| (format!("k{}", i % 10), format!("r{i}"))).collect()
    };
    let mut all: Vec<String> = put_records(server.addr, "s", &batch(0, 300));
    wait_for("some deliveries", || (delivered_seqs(dir.path()).len() >= 50).then_some(()));
    // A crash in the middle of the stream.
    server.kill();
    let server = Server::start(&data, &args);
    assert_eq!(mapping_state(server.addr, &uuid)["State"], "Enabled", "the mapping runs again");
    all.extend(put_records(server.addr, "s", &batch(300, 100)));
    wait_for("every record", || {
        let got = delivered_seqs(dir.path());
        all.iter().all(|s| got.contains(s)).then_some(())
    });
    // In order per shard on first delivery (redeliveries after the crash are allowed).
    // Decimal sequence numbers (56 digits: wider than u128) compare by length, then text.
    let mut first: HashMap<String, Vec<(usize, String)>> = HashMap::new();
    let mut seen = HashSet::new();
    for d in deliveries(dir.path()) {
        for (seq, _, _) in d.records {
            if seen.insert(seq.clone()) {
                first.entry(d.shard.clone()).or_default().push((seq.len(), seq));
            }
        }
    }
    for (shard, seqs) in &first {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{shard}: first deliveries out of order");
    }
    // A clean stop checkpoints everything processed: nothing is delivered twice after it.
    let status = server.terminate();
    assert!(status.success());
    let count_before = deliveries(dir.path()).iter().map(|d| d.records.len()).sum::<usize>();
    let server = Server::start(&data, &args);
    let last = put_records(server.addr, "s", &batch(400, 5));
    wait_for("the last records", || {
        let got = delivered_seqs(dir.path());
        last.iter().all(|s| got.contains(s)).then_some(())
    });
    let count_after = deliveries(dir.path()).iter().map(|d| d.records.len()).sum::<usize>();
    assert_eq!(count_after - count_before, 5, "only the new records are delivered after a clean restart");
    assert!(server.terminate().success());
}

#[test]
fn lineage_is_followed_across_a_split_while_the_mapping_runs() {
    let dir = tempfile::tempdir().unwrap();
    let function = format!("record={}", recording_function(dir.path()));
    let server =
        Server::start(&dir.path().join("data"), &["--lambda-command", &function, "--lambda-poll-interval-ms", "10"]);
    ok_json(server.addr, "CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let uuid = create_mapping(
        server.addr,
        json!({"FunctionName": "record", "EventSourceArn": stream_arn("s"), "StartingPosition": "TRIM_HORIZON", "BatchSize": 7}),
    );
    let keys: Vec<String> = (0..12).map(|i| format!("key-{i}")).collect();
    let mut put_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut records = Vec::new();
    for i in 0..120 {
        let k = keys[i % keys.len()].clone();
        put_order.entry(k.clone()).or_default().push(format!("before-{i}"));
        records.push((k, format!("before-{i}")));
    }
    let mut all = put_records(server.addr, "s", &records);
    wait_for("the mapping to be running", || (!delivered_seqs(dir.path()).is_empty()).then_some(()));
    // Split while the parent is being processed.
    ok_json(
        server.addr,
        "SplitShard",
        json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": (1u128 << 127).to_string()}),
    );
    let mut records = Vec::new();
    for i in 0..120 {
        let k = keys[i % keys.len()].clone();
        put_order.entry(k.clone()).or_default().push(format!("after-{i}"));
        records.push((k, format!("after-{i}")));
    }
    all.extend(put_records(server.addr, "s", &records));
    wait_for("every record", || {
        let got = delivered_seqs(dir.path());
        all.iter().all(|s| got.contains(s)).then_some(())
    });
    let d = deliveries(dir.path());
    // The parent is finished before either child starts.
    let last_parent = d.iter().rposition(|x| x.shard == "shardId-000000000000").unwrap();
    let first_child = d.iter().position(|x| x.shard != "shardId-000000000000").unwrap();
    assert!(last_parent < first_child, "a child ran before its parent was finished");
    assert!(d.iter().any(|x| x.shard == "shardId-000000000001") && d.iter().any(|x| x.shard == "shardId-000000000002"));
    // Every key in put order.
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for x in &d {
        for (_, k, data) in &x.records {
            got.entry(k.clone()).or_default().push(data.clone());
        }
    }
    assert_eq!(got, put_order, "per-key order across the split");
    // The mapping's series on /metrics (a step's counts land when the step ends, just after
    // its last invocation).
    let series = |text: &str, name: &str| -> Option<u64> {
        let line =
            text.lines().find(|l| l.starts_with(&format!("{name}{{")) && l.contains(&format!("uuid=\"{uuid}\"")))?;
        line.rsplit(' ').next()?.parse().ok()
    };
    let text = wait_for("the step counts on /metrics", || {
        let text = serve_support::get(server.addr, "/metrics").text();
        (series(&text, "lambda_event_source_mapping_polled_events_total") == Some(240)).then_some(text)
    });
    assert_eq!(series(&text, "lambda_event_source_mapping_invoked_events_total"), Some(240));
    assert!(series(&text, "lambda_invocations_total").unwrap() >= 240 / 7);
    assert_eq!(series(&text, "lambda_errors_total"), Some(0));
    assert_eq!(series(&text, "lambda_event_source_mapping_enabled"), Some(1));
    assert!(text.contains("function_name=\"record\""), "{text}");
    assert!(server.terminate().success());
}

#[test]
fn on_failure_documents_reach_an_sqs_queue_even_after_the_endpoint_was_down() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let fail = "fail=cat >/dev/null; exit 1";
    // Phase 1: the SQS endpoint is unreachable; the document waits in the outbox.
    let server = Server::start(
        &data,
        &["--lambda-command", fail, "--sqs-endpoint", "http://127.0.0.1:9", "--lambda-poll-interval-ms", "10"],
    );
    ok_json(server.addr, "CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let uuid = create_mapping(
        server.addr,
        json!({"FunctionName": "fail", "EventSourceArn": stream_arn("s"), "StartingPosition": "TRIM_HORIZON",
               "MaximumRetryAttempts": 0,
               "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:dlq"}}}),
    );
    let seqs = put_records(server.addr, "s", &[("k".into(), "doomed".into())]);
    let outbox = data.join(format!("lambda/on-failure/{uuid}/sqs-outbox"));
    wait_for("the document in the outbox", || {
        std::fs::read_dir(&outbox)
            .ok()?
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "json"))
            .then_some(())
    });
    assert!(server.terminate().success());
    // Phase 2: a real SQS endpoint; the restarted server delivers what it left.
    let port_file = dir.path().join("sqs.port");
    let helper = script("sqs_helper.py");
    let sqs = PyServer::start(
        &venv,
        dir.path(),
        &[helper.to_str().unwrap(), "serve", port_file.to_str().unwrap(), "dlq"],
        &port_file,
    );
    let sqs_url = format!("http://127.0.0.1:{}", sqs.port);
    let server = Server::start(
        &data,
        &["--lambda-command", fail, "--sqs-endpoint", &sqs_url, "--lambda-poll-interval-ms", "10"],
    );
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.arg(&helper).args(["receive", &sqs_url, "dlq", "1"]);
    aws_env(&mut cmd, dir.path());
    let ran = run(cmd, "sqs_helper.py receive", DEADLINE);
    assert!(ran.status.success(), "{}", ran.output());
    let bodies: Vec<String> = serde_json::from_str(ran.stdout.trim()).unwrap();
    assert_eq!(bodies.len(), 1, "{}", ran.output());
    let doc: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(doc["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(doc["requestContext"]["functionArn"], "arn:aws:lambda:us-east-1:000000000000:function:fail");
    assert_eq!(doc["KinesisBatchInfo"]["startSequenceNumber"], seqs[0].as_str());
    wait_for("the outbox to empty", || {
        (!std::fs::read_dir(&outbox).ok()?.flatten().any(|e| e.path().extension().is_some_and(|x| x == "json")))
            .then_some(())
    });
    assert!(server.terminate().success());
}

#[test]
fn an_https_invoke_endpoint_is_verified_against_the_trust_store() {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    // A self-signed pair for localhost, made by `shardlog serve --tls` beside its data dir.
    let made = Server::start(&dir.path().join("tls"), &["--tls"]);
    assert!(made.terminate().success());
    let (cert, key) = (dir.path().join("tls.cert.pem"), dir.path().join("tls.key.pem"));
    let (stub, stub_log) = start_stub_with(&venv, dir.path(), &[cert.to_str().unwrap(), key.to_str().unwrap()]);
    let endpoint = format!("https://localhost:{}", stub.port);
    let serve = |data: &str, trust: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardlog"));
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--log-level", "warn", "--lambda-poll-interval-ms", "20"])
            .arg("--dir")
            .arg(dir.path().join(data))
            .args(["--lambda-endpoint", &endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .stderr(Stdio::inherit());
        if let Some(t) = trust {
            cmd.env("SSL_CERT_FILE", t);
        }
        Server::spawn(cmd)
    };
    let mapping =
        json!({"FunctionName": "recorder", "EventSourceArn": stream_arn("s"), "StartingPosition": "TRIM_HORIZON"});

    // Trusting the certificate: delivered over TLS.
    let server = serve("trusting", Some(&cert));
    ok_json(server.addr, "CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let uuid = create_mapping(server.addr, mapping.clone());
    put_records(server.addr, "s", &[("k".into(), "over tls".into())]);
    wait_for("the delivery over TLS", || std::fs::read_to_string(&stub_log).ok()?.contains("over tls").then_some(()));
    wait_for("the result", || (mapping_state(server.addr, &uuid)["LastProcessingResult"] == "OK").then_some(()));
    assert!(server.terminate().success());

    // Not trusting it: every invocation fails its handshake.
    let server = serve("distrusting", None);
    ok_json(server.addr, "CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let uuid = create_mapping(server.addr, mapping);
    put_records(server.addr, "s", &[("k".into(), "never delivered".into())]);
    wait_for("the failed handshake", || {
        (mapping_state(server.addr, &uuid)["LastProcessingResult"] == "PROBLEM: Function call failed").then_some(())
    });
    assert!(!std::fs::read_to_string(&stub_log).unwrap().contains("never delivered"));
    assert!(server.terminate().success());
}
