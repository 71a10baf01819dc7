//! The Lambda event-source-mapping API and its pollers, in process: the engine runs on a
//! ManualClock and the pollers are stepped by the test (`LambdaConfig::manual`), so every
//! time-based rule (record age, tumbling windows, batching windows) is exact. Functions are
//! local commands (`--lambda-command`): a Python script that logs each event it receives and
//! answers as its mode says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, ManualClock};
use shardlog_server::lambda::{Lambda, LambdaConfig};
use shardlog_server::outbound::Credentials;

/// 2026-01-01T00:00:00Z (a multiple of every window length used).
const T0: i64 = 1_767_225_600_000;
const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/s";

/// The function: logs the event as one JSON line to LOG, then answers by MODE:
/// `ok` → `{}`; `fail` → exit 1; `poison` → exit 1 if a record's data contains "poison";
/// `partial` → reports every record whose data contains "bad" as a batch item failure;
/// `count` → tumbling windows: adds the batch's record count to `state.count`.
const FUNCTION: &str = r#"
import base64, json, sys
mode, log = sys.argv[1], sys.argv[2]
event = json.load(sys.stdin)
with open(log, "a") as f:
    f.write(json.dumps(event) + "\n")
recs = event.get("Records", [])
data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in recs]
if mode == "fail" or (mode == "poison" and any("poison" in d for d in data)):
    sys.stderr.write("failing on purpose\n")
    sys.exit(1)
if mode == "partial":
    bad = [r["kinesis"]["sequenceNumber"] for r, d in zip(recs, data) if "bad" in d]
    print(json.dumps({"batchItemFailures": [{"itemIdentifier": s} for s in bad]}))
elif mode == "count":
    state = event.get("state") or {}
    state["count"] = state.get("count", 0) + len(recs)
    print(json.dumps({"state": state}))
else:
    print("{}")
"#;

struct Env {
    dir: tempfile::TempDir,
    clock: ManualClock,
    engine: Engine,
    lambda: Lambda,
}

fn python() -> String {
    std::env::var("SHARDLOG_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `fn_<mode>` runs the function script in that mode, logging to `<dir>/<mode>.log`.
fn commands(dir: &Path) -> Vec<(String, String)> {
    let script = dir.join("function.py");
    std::fs::write(&script, FUNCTION).unwrap();
    ["ok", "fail", "poison", "partial", "count"]
        .iter()
        .map(|m| {
            let log = dir.join(format!("{m}.log"));
            (format!("fn_{m}"), format!("{} {} {m} {}", python(), script.display(), log.display()))
        })
        .collect()
}

fn config(dir: &Path, manual: bool) -> LambdaConfig {
    LambdaConfig {
        endpoint: None,
        commands: commands(dir),
        timeout: Duration::from_secs(60),
        sqs_endpoint: None,
        poll_interval: Duration::from_millis(5),
        credentials: Credentials { access_key: "a".into(), secret_key: "s".into(), session_token: None },
        manual,
        verifier: None,
        max_body_bytes: 1 << 20,
    }
}

fn engine_config(clock: &ManualClock) -> EngineConfig {
    EngineConfig {
        clock: Arc::new(clock.clone()),
        durability: Durability::Buffered,
        retention_check_interval: None,
        ..EngineConfig::default()
    }
}

fn env_with(manual: bool, shards: u32) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = Engine::open(dir.path().join("data"), engine_config(&clock)).unwrap();
    engine
        .create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(shards), ..Default::default() })
        .unwrap();
    let lambda = Lambda::open(&engine, config(dir.path(), manual)).unwrap();
    Env { dir, clock, engine, lambda }
}

fn env() -> Env {
    env_with(true, 1)
}

fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
        ),
    );
    h.insert("x-amz-date", HeaderValue::from_static("20260101T000000Z"));
    h
}

/// A call's status, JSON body and `x-amzn-ErrorType`.
struct Answer {
    status: StatusCode,
    body: Value,
    error: Option<&'static str>,
}

impl Env {
    fn call(&self, method: Method, path: &str, query: Option<&str>, body: Option<Value>) -> Answer {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let r = self.lambda.handle(&method, path, query, Some("localhost"), &headers(), &bytes);
        let body = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", r.body));
        Answer { status: r.status, body, error: r.error }
    }

    fn create(&self, body: Value) -> Value {
        let a = self.call(Method::POST, "/2015-03-31/event-source-mappings/", None, Some(body));
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        assert_eq!(a.body["State"], "Creating");
        a.body
    }

    /// Create a mapping; its UUID.
    fn create_uuid(&self, body: Value) -> String {
        self.create(body)["UUID"].as_str().expect("a UUID").to_string()
    }

    fn get(&self, uuid: &str) -> Value {
        let a = self.call(Method::GET, &format!("/2015-03-31/event-source-mappings/{uuid}"), None, None);
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body
    }

    fn update(&self, uuid: &str, body: Value) -> Answer {
        self.call(Method::PUT, &format!("/2015-03-31/event-source-mappings/{uuid}"), None, Some(body))
    }

    fn delete(&self, uuid: &str) -> Answer {
        self.call(Method::DELETE, &format!("/2015-03-31/event-source-mappings/{uuid}"), None, None)
    }

    fn put(&self, key: &str, data: &str) -> SequenceNumber {
        self.engine
            .put_record(PutRecordInput {
                stream: StreamRef::name("s"),
                partition_key: Some(key.into()),
                data: Bytes::from(data.to_string()),
                ..Default::default()
            })
            .unwrap()
            .sequence_number
    }

    /// Step until a step does nothing.
    fn drain(&self, uuid: &str) {
        for _ in 0..1_000 {
            let r = self.lambda.step(uuid).expect("the mapping has a poller");
            if r.is_idle() {
                return;
            }
        }
        panic!("the mapping never went idle");
    }

    /// The events function `mode` received.
    fn events(&self, mode: &str) -> Vec<Value> {
        match std::fs::read_to_string(self.dir.path().join(format!("{mode}.log"))) {
            Ok(t) => t.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn on_failure_docs(&self, uuid: &str) -> Vec<Value> {
        let dir: PathBuf = self.lambda.registry().on_failure_dir(uuid);
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(d) => d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }
}

fn data_of(event: &Value) -> Vec<String> {
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            use base64::Engine as _;
            let b = base64::engine::general_purpose::STANDARD.decode(r["kinesis"]["data"].as_str().unwrap()).unwrap();
            String::from_utf8(b).unwrap()
        })
        .collect()
}

fn mapping(function: &str, extra: Value) -> Value {
    let mut body = json!({"FunctionName": function, "EventSourceArn": STREAM_ARN, "StartingPosition": "TRIM_HORIZON"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[test]
fn the_mapping_lifecycle_in_lambdas_shapes_and_states() {
    let e = env();
    let created = e.create(mapping(
        "fn_ok",
        json!({"BatchSize": 7, "MaximumRetryAttempts": 3, "FunctionResponseTypes": ["ReportBatchItemFailures"],
               "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}},
               "FilterCriteria": {"Filters": [{"Pattern": "{\"partitionKey\": [\"a\"]}"}]}}),
    ));
    let uuid = created["UUID"].as_str().unwrap().to_string();
    assert_eq!(uuid.len(), 36);
    assert_eq!(uuid::Uuid::parse_str(&uuid).unwrap().get_version_num(), 4);
    assert_eq!(created["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:fn_ok");
    assert_eq!(created["EventSourceArn"], STREAM_ARN);
    assert_eq!(
        created["EventSourceMappingArn"],
        format!("arn:aws:lambda:us-east-1:000000000000:event-source-mapping:{uuid}")
    );
    assert_eq!(created["BatchSize"], 7);
    assert_eq!(created["MaximumBatchingWindowInSeconds"], 0);
    assert_eq!(created["ParallelizationFactor"], 1);
    assert_eq!(created["MaximumRetryAttempts"], 3);
    assert_eq!(created["MaximumRecordAgeInSeconds"], -1);
    assert_eq!(created["BisectBatchOnFunctionError"], false);
    assert_eq!(created["TumblingWindowInSeconds"], 0);
    assert_eq!(created["StartingPosition"], "TRIM_HORIZON");
    assert_eq!(created["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]));
    assert_eq!(
        created["DestinationConfig"],
        json!({"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}})
    );
    assert_eq!(created["FilterCriteria"], json!({"Filters": [{"Pattern": "{\"partitionKey\": [\"a\"]}"}]}));
    assert_eq!(created["StateTransitionReason"], "User action");
    assert_eq!(created["LastProcessingResult"], "No records processed");
    assert_eq!(created["LastModified"].as_f64().unwrap(), T0 as f64 / 1000.0);

    // Running by the time the answer is out.
    let got = e.get(&uuid);
    assert_eq!(got["State"], "Enabled");
    e.put("a", "one");
    e.drain(&uuid);
    assert_eq!(e.get(&uuid)["LastProcessingResult"], "OK");

    // A second mapping of the same pair conflicts; another function is fine.
    let dup = e.call(Method::POST, "/2015-03-31/event-source-mappings/", None, Some(mapping("fn_ok", json!({}))));
    assert_eq!((dup.status, dup.error), (StatusCode::CONFLICT, Some("ResourceConflictException")));
    assert!(dup.body["message"].as_str().unwrap().contains(&uuid), "{}", dup.body);
    // A function ARN names the function too.
    let other = e.create(mapping("arn:aws:lambda:us-east-1:000000000000:function:fn_fail", json!({"Enabled": false})));
    assert_eq!(other["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:fn_fail");
    let other = other["UUID"].as_str().unwrap().to_string();
    assert_eq!(e.get(&other)["State"], "Disabled");

    // List: filters and pages.
    let all = e.call(Method::GET, "/2015-03-31/event-source-mappings/", None, None).body;
    assert_eq!(all["EventSourceMappings"].as_array().unwrap().len(), 2);
    assert!(all.get("NextMarker").is_none());
    let by_fn = e.call(Method::GET, "/2015-03-31/event-source-mappings/", Some("FunctionName=fn_fail"), None).body;
    assert_eq!(by_fn["EventSourceMappings"][0]["UUID"], other.as_str());
    assert_eq!(by_fn["EventSourceMappings"].as_array().unwrap().len(), 1);
    let by_arn = e.call(
        Method::GET,
        "/2015-03-31/event-source-mappings/",
        Some("FunctionName=arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn_ok&EventSourceArn=arn%3Aaws%3Akinesis%3Aus-east-1%3A000000000000%3Astream%2Fs"),
        None,
    );
    assert_eq!(by_arn.body["EventSourceMappings"][0]["UUID"], uuid.as_str());
    let page1 = e.call(Method::GET, "/2015-03-31/event-source-mappings/", Some("MaxItems=1"), None).body;
    assert_eq!(page1["EventSourceMappings"][0]["UUID"], uuid.as_str(), "creation order");
    let marker = page1["NextMarker"].as_str().unwrap();
    let page2 = e
        .call(Method::GET, "/2015-03-31/event-source-mappings/", Some(&format!("MaxItems=1&Marker={marker}")), None)
        .body;
    assert_eq!(page2["EventSourceMappings"][0]["UUID"], other.as_str());
    assert!(page2.get("NextMarker").is_none());
    let none = e
        .call(
            Method::GET,
            "/2015-03-31/event-source-mappings/",
            Some("EventSourceArn=arn%3Aaws%3Akinesis%3Aus-east-1%3A000000000000%3Astream%2Fnope"),
            None,
        )
        .body;
    assert_eq!(none["EventSourceMappings"], json!([]));

    // Pause and resume.
    let paused = e.update(&uuid, json!({"Enabled": false}));
    assert_eq!((paused.status, paused.body["State"].as_str()), (StatusCode::ACCEPTED, Some("Disabling")));
    assert_eq!(e.get(&uuid)["State"], "Disabled");
    assert!(e.lambda.step(&uuid).is_none(), "a disabled mapping has no poller");
    e.put("a", "two");
    assert_eq!(e.events("ok").len(), 1, "nothing is delivered while disabled");
    let resumed = e.update(&uuid, json!({"Enabled": true}));
    assert_eq!(resumed.body["State"], "Enabling");
    assert_eq!(e.get(&uuid)["State"], "Enabled");
    e.drain(&uuid);
    let delivered: Vec<String> = e.events("ok").iter().flat_map(data_of).collect();
    assert_eq!(delivered, vec!["one", "two"], "resumed after its checkpoint");

    // Update: new parameters, and clearing the filter and destination.
    let updated = e.update(
        &uuid,
        json!({"BatchSize": 50, "MaximumBatchingWindowInSeconds": 5, "FilterCriteria": {}, "DestinationConfig": {"OnFailure": {}}}),
    );
    assert_eq!(updated.body["State"], "Updating");
    let got = e.get(&uuid);
    assert_eq!((got["State"].as_str(), got["BatchSize"].as_u64()), (Some("Enabled"), Some(50)));
    assert_eq!(got["MaximumBatchingWindowInSeconds"], 5);
    assert!(got.get("FilterCriteria").is_none());
    assert_eq!(got["DestinationConfig"], json!({"OnFailure": {}}));
    assert_eq!(got["StartingPosition"], "TRIM_HORIZON", "kept");

    // Errors.
    let missing = "a1b2c3d4-5678-90ab-cdef-111111111111";
    let nf = e.call(Method::GET, &format!("/2015-03-31/event-source-mappings/{missing}"), None, None);
    assert_eq!((nf.status, nf.error), (StatusCode::NOT_FOUND, Some("ResourceNotFoundException")));
    assert_eq!(nf.body["Message"], "The resource you requested does not exist.");
    assert_eq!(e.update(missing, json!({"BatchSize": 1})).status, StatusCode::NOT_FOUND);
    assert_eq!(e.delete(missing).status, StatusCode::NOT_FOUND);
    let bad = e.update(&uuid, json!({"BatchSize": 0}));
    assert_eq!((bad.status, bad.error), (StatusCode::BAD_REQUEST, Some("ValidationException")));
    assert_eq!(e.get(&uuid)["BatchSize"], 50, "a refused update changes nothing");

    // Delete: gone, with its checkpoints.
    assert!(!e.lambda.registry().checkpoints(&uuid).unwrap().is_empty());
    let deleted = e.delete(&uuid);
    assert_eq!((deleted.status, deleted.body["State"].as_str()), (StatusCode::ACCEPTED, Some("Deleting")));
    assert_eq!(
        e.call(Method::GET, &format!("/2015-03-31/event-source-mappings/{uuid}"), None, None).status,
        StatusCode::NOT_FOUND
    );
    assert!(e.engine.checkpoints(&StreamRef::name("s"), &uuid).unwrap().is_empty(), "checkpoints deleted too");
}

#[test]
fn create_refuses_what_lambda_refuses() {
    let e = env();
    for (body, status, code, text) in [
        (
            json!({"FunctionName": "nope", "EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST"}),
            404,
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope",
        ),
        (
            mapping("fn_ok", json!({"EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/missing"})),
            400,
            "InvalidParameterValueException",
            "stream/missing",
        ),
        (
            mapping("fn_ok", json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q"})),
            400,
            "InvalidParameterValueException",
            "Unsupported event source",
        ),
        (
            json!({"FunctionName": "fn_ok", "EventSourceArn": STREAM_ARN}),
            400,
            "InvalidParameterValueException",
            "StartingPosition is required",
        ),
        (
            mapping("fn_ok", json!({"StartingPosition": "AT_TIMESTAMP"})),
            400,
            "InvalidParameterValueException",
            "StartingPositionTimestamp is required",
        ),
        (
            mapping(
                "fn_ok",
                json!({"StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": (T0 / 1000 + 3600) as f64}),
            ),
            400,
            "InvalidParameterValueException",
            "future",
        ),
        (
            mapping("fn_ok", json!({"StartingPositionTimestamp": 1.0})),
            400,
            "InvalidParameterValueException",
            "only allowed with",
        ),
        (
            mapping("fn_ok", json!({"MaximumRecordAgeInSeconds": 59})),
            400,
            "InvalidParameterValueException",
            "between 60 and 604800",
        ),
        (mapping("fn_ok", json!({"ParallelizationFactor": 0})), 400, "ValidationException", "parallelizationFactor"),
        (
            mapping(
                "fn_ok",
                json!({"EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/none:1"}),
            ),
            400,
            "InvalidParameterValueException",
            "consumer",
        ),
        (
            mapping("fn_ok", json!({"FilterCriteria": {"Filters": [{"Pattern": "{\"data\": [1]}"}]}})),
            400,
            "InvalidParameterValueException",
            "data must be a JSON object",
        ),
        (
            json!({"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST"}),
            400,
            "ValidationException",
            "functionName",
        ),
    ] {
        let a = e.call(Method::POST, "/2015-03-31/event-source-mappings/", None, Some(body.clone()));
        assert_eq!((a.status.as_u16(), a.error), (status, Some(code)), "{body} → {}", a.body);
        let msg = a.body.get("message").or(a.body.get("Message")).and_then(Value::as_str).unwrap_or("");
        assert!(msg.contains(text), "{body}: message {msg:?} lacks {text:?}");
    }
    let listed = e.call(Method::GET, "/2015-03-31/event-source-mappings/", None, None).body;
    assert_eq!(listed["EventSourceMappings"], json!([]), "nothing was created");
    let unknown = e.call(Method::POST, "/2015-03-31/functions/f/invocations", None, Some(json!({})));
    assert_eq!((unknown.status, unknown.error), (StatusCode::NOT_FOUND, Some("UnknownOperationException")));
    // Unsigned requests are refused as Lambda refuses them.
    let r = e.lambda.handle(&Method::GET, "/2015-03-31/event-source-mappings/", None, None, &HeaderMap::new(), b"");
    assert_eq!((r.status, r.error), (StatusCode::FORBIDDEN, Some("MissingAuthenticationTokenException")));
}

#[test]
fn records_older_than_the_maximum_age_go_to_the_on_failure_directory_uninvoked() {
    let e = env();
    let seqs = [e.put("k", "old-1"), e.put("k", "old-2")];
    let uuid = e.create_uuid(mapping(
        "fn_ok",
        json!({"MaximumRecordAgeInSeconds": 60, "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::failures"}}}),
    ));
    e.clock.advance(Duration::from_secs(61));
    let young = e.put("k", "young");
    e.drain(&uuid);
    let delivered: Vec<String> = e.events("ok").iter().flat_map(data_of).collect();
    assert_eq!(delivered, vec!["young"], "expired records are never delivered");
    let docs = e.on_failure_docs(&uuid);
    assert_eq!(docs.len(), 1, "{docs:?}");
    let d = &docs[0];
    assert_eq!(d["requestContext"]["condition"], "RecordAgeExpired");
    assert_eq!(d["requestContext"]["approximateInvokeCount"], 0);
    assert_eq!(d["requestContext"]["functionArn"], "arn:aws:lambda:us-east-1:000000000000:function:fn_ok");
    assert_eq!(d["KinesisBatchInfo"]["batchSize"], 2);
    assert_eq!(d["KinesisBatchInfo"]["startSequenceNumber"], seqs[0].to_string());
    assert_eq!(d["KinesisBatchInfo"]["endSequenceNumber"], seqs[1].to_string());
    assert_eq!(d["KinesisBatchInfo"]["streamArn"], STREAM_ARN);
    assert_eq!(e.lambda.registry().checkpoints(&uuid).unwrap()[0].last_processed, Some(young));
    let counters = e.lambda.registry().counters();
    assert_eq!(counters[0].counters.records_discarded, 2);
    assert_eq!(counters[0].counters.on_failure_documents, 1);
}

#[test]
fn retries_run_out_into_an_on_failure_document_and_processing_goes_on() {
    let e = env();
    e.put("k", "poison");
    e.put("k", "fine");
    let uuid = e.create_uuid(mapping(
        "fn_poison",
        json!({"BatchSize": 1, "MaximumRetryAttempts": 2,
               "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}}}),
    ));
    e.drain(&uuid);
    let calls: Vec<Vec<String>> = e.events("poison").iter().map(data_of).collect();
    assert_eq!(calls, vec![vec!["poison"], vec!["poison"], vec!["poison"], vec!["fine"]]);
    let docs = e.on_failure_docs(&uuid);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(docs[0]["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(docs[0]["responseContext"]["functionError"], "Unhandled");
    assert_eq!(e.get(&uuid)["LastProcessingResult"], "OK");
    let c = e.lambda.registry().counters()[0].counters;
    assert_eq!((c.invocations, c.failed_invocations), (4, 3));
}

#[test]
fn bisection_isolates_the_poison_record() {
    let e = env();
    for d in ["a", "b", "c", "poison", "e", "f", "g", "h"] {
        e.put("k", d);
    }
    let uuid = e.create_uuid(mapping(
        "fn_poison",
        json!({"BatchSize": 8, "BisectBatchOnFunctionError": true, "MaximumRetryAttempts": 0,
               "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sns:us-east-1:000000000000:t"}}}),
    ));
    e.drain(&uuid);
    let calls: Vec<Vec<String>> = e.events("poison").iter().map(data_of).collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        calls,
        vec![
            s(&["a", "b", "c", "poison", "e", "f", "g", "h"]),
            s(&["a", "b", "c", "poison"]),
            s(&["a", "b"]),
            s(&["c", "poison"]),
            s(&["c"]),
            s(&["poison"]),
            s(&["e", "f", "g", "h"]),
        ]
    );
    let docs = e.on_failure_docs(&uuid);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["KinesisBatchInfo"]["batchSize"], 1);
}

#[test]
fn partial_batch_failures_retry_from_the_lowest_reported_record() {
    let e = env();
    for d in ["ok-1", "bad-2", "ok-3"] {
        e.put("k", d);
    }
    let uuid = e.create_uuid(mapping(
        "fn_partial",
        json!({"FunctionResponseTypes": ["ReportBatchItemFailures"], "MaximumRetryAttempts": 1,
               "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}}}),
    ));
    e.drain(&uuid);
    let calls: Vec<Vec<String>> = e.events("partial").iter().map(data_of).collect();
    assert_eq!(calls[0], vec!["ok-1", "bad-2", "ok-3"]);
    assert_eq!(calls[1], vec!["bad-2", "ok-3"], "retried from the failed record, later ones again");
    let docs = e.on_failure_docs(&uuid);
    assert_eq!(docs[0]["KinesisBatchInfo"]["batchSize"], 2);
    assert!(docs[0]["responseContext"].get("functionError").is_none(), "a partial failure is not a function error");
}

#[test]
fn tumbling_windows_carry_state_to_a_final_invoke() {
    let e = env();
    let uuid = e.create_uuid(mapping("fn_count", json!({"TumblingWindowInSeconds": 60, "BatchSize": 2})));
    for i in 0..5 {
        e.put("k", &format!("r{i}"));
    }
    e.drain(&uuid);
    let before = e.events("count");
    assert!(before.iter().all(|ev| ev["isFinalInvokeForWindow"] == false), "the window is still open");
    assert_eq!(
        before.last().unwrap()["window"],
        json!({"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"})
    );
    assert!(
        e.lambda.registry().checkpoints(&uuid).unwrap()[0].last_processed.is_none(),
        "nothing checkpointed mid-window"
    );
    e.clock.advance(Duration::from_secs(60));
    e.drain(&uuid);
    let all = e.events("count");
    let last = all.last().unwrap();
    assert_eq!(last["isFinalInvokeForWindow"], true);
    assert_eq!(last["state"]["count"], 5, "the state of every earlier invoke of the window");
    assert_eq!(last["shardId"], "shardId-000000000000");
    assert_eq!(last["eventSourceARN"], STREAM_ARN);
    assert!(e.lambda.registry().checkpoints(&uuid).unwrap()[0].last_processed.is_some());
}

#[test]
fn filters_drop_records_and_the_checkpoint_moves_past_them() {
    let e = env();
    let uuid = e.create_uuid(mapping(
        "fn_ok",
        json!({"FilterCriteria": {"Filters": [
            {"Pattern": "{\"data\": {\"kind\": [\"order\"], \"total\": [{\"numeric\": [\">\", 100]}]}}"},
            {"Pattern": "{\"partitionKey\": [{\"prefix\": \"vip-\"}]}"}
        ]}}),
    ));
    e.put("a", r#"{"kind": "order", "total": 150}"#);
    e.put("b", r#"{"kind": "order", "total": 50}"#);
    e.put("c", r#"{"kind": "refund", "total": 500}"#);
    e.put("vip-1", "not json");
    let last = e.put("d", "also not json");
    e.drain(&uuid);
    let delivered: Vec<String> = e.events("ok").iter().flat_map(data_of).collect();
    assert_eq!(delivered, vec![r#"{"kind": "order", "total": 150}"#, "not json"]);
    assert_eq!(e.lambda.registry().checkpoints(&uuid).unwrap()[0].last_processed, Some(last));
    assert_eq!(e.lambda.registry().counters()[0].counters.records_filtered, 3);
}

#[test]
fn batching_window_waits_on_the_engine_clock() {
    let e = env();
    let uuid = e.create_uuid(mapping("fn_ok", json!({"MaximumBatchingWindowInSeconds": 10, "BatchSize": 100})));
    e.put("k", "1");
    e.drain(&uuid);
    assert!(e.events("ok").is_empty(), "the batch waits for its window");
    e.clock.advance(Duration::from_secs(5));
    e.put("k", "2");
    e.drain(&uuid);
    assert!(e.events("ok").is_empty());
    e.clock.advance(Duration::from_secs(5));
    e.drain(&uuid);
    let calls: Vec<Vec<String>> = e.events("ok").iter().map(data_of).collect();
    assert_eq!(calls, vec![vec!["1", "2"]]);
}

#[test]
fn mappings_and_checkpoints_survive_a_restart_and_resume_without_loss() {
    let e = env();
    let uuid = e.create_uuid(mapping("fn_ok", json!({"BatchSize": 2})));
    let off = e.create_uuid(mapping("fn_fail", json!({"Enabled": false})));
    for i in 0..3 {
        e.put("k", &format!("before-{i}"));
    }
    e.drain(&uuid);
    e.lambda.shutdown();
    let Env { dir, clock, engine, lambda } = e;
    drop(lambda);
    engine.close().unwrap();
    drop(engine);
    // A new process on the same directory.
    let engine = Engine::open(dir.path().join("data"), engine_config(&clock)).unwrap();
    let lambda = Lambda::open(&engine, config(dir.path(), true)).unwrap();
    let e = Env { dir, clock, engine, lambda };
    let got = e.get(&uuid);
    assert_eq!((got["State"].as_str(), got["BatchSize"].as_u64()), (Some("Enabled"), Some(2)));
    assert_eq!(got["LastProcessingResult"], "OK");
    assert_eq!(e.get(&off)["State"], "Disabled");
    e.put("k", "after");
    e.drain(&uuid);
    let delivered: Vec<String> = e.events("ok").iter().flat_map(data_of).collect();
    assert_eq!(delivered, vec!["before-0", "before-1", "before-2", "after"], "each record once, in order");
}

#[test]
fn a_damaged_mapping_store_stops_the_start_naming_the_file() {
    let e = env();
    e.create(mapping("fn_ok", json!({})));
    e.lambda.shutdown();
    let Env { dir, clock, engine, .. } = e;
    let file = dir.path().join("data/lambda/MAPPINGS");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let err = Lambda::open(&engine, config(dir.path(), true)).unwrap_err().to_string();
    assert!(err.contains("MAPPINGS") && err.contains("CRC"), "{err}");
    drop(clock);
}

#[test]
fn deleting_the_stream_disables_its_mappings() {
    let e = env();
    let uuid = e.create_uuid(mapping("fn_ok", json!({})));
    e.put("k", "x");
    e.drain(&uuid);
    e.engine.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    e.lambda.step(&uuid);
    let got = e.get(&uuid);
    assert_eq!(got["State"], "Disabled");
    assert_eq!(got["LastProcessingResult"], "PROBLEM: Stream not found");
    assert!(got["StateTransitionReason"].as_str().unwrap().contains("was deleted"), "{got}");
    // Re-created under the same ARN and enabled again: it reads the new stream from its start.
    e.engine
        .create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(1), ..Default::default() })
        .unwrap();
    e.put("k", "new stream");
    assert_eq!(e.update(&uuid, json!({"Enabled": true})).status, StatusCode::ACCEPTED);
    e.drain(&uuid);
    let delivered: Vec<String> = e.events("ok").iter().flat_map(data_of).collect();
    assert_eq!(delivered, vec!["x", "new stream"]);
}

#[test]
fn an_efo_consumer_arn_is_an_event_source() {
    let e = env();
    let consumer = e
        .engine
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: STREAM_ARN.into(),
            consumer_name: "lambda".into(),
            ..Default::default()
        })
        .unwrap();
    let uuid = e.create_uuid(
        json!({"FunctionName": "fn_ok", "EventSourceArn": consumer.consumer_arn, "StartingPosition": "TRIM_HORIZON"}),
    );
    assert_eq!(e.get(&uuid)["EventSourceArn"], consumer.consumer_arn.as_str());
    e.put("k", "pushed");
    e.drain(&uuid);
    let events = e.events("ok");
    assert_eq!(events.iter().flat_map(data_of).collect::<Vec<_>>(), vec!["pushed"]);
    assert_eq!(events[0]["Records"][0]["eventSourceARN"], STREAM_ARN);
}

/// Pollers on threads: a mapping changing state refuses other changes until its running
/// step (an invocation in flight) has finished.
#[test]
fn a_mapping_in_transition_refuses_changes_until_its_invocation_ends() {
    let (e, gate, started) = gated_env();
    let uuid = e.create_uuid(mapping("gated", json!({})));
    e.put("k", "x");
    wait_for("the invocation to start", || started.exists());
    assert_eq!(e.update(&uuid, json!({"Enabled": false})).body["State"], "Disabling");
    assert_eq!(e.get(&uuid)["State"], "Disabling", "the invocation is still running");
    let busy = e.update(&uuid, json!({"BatchSize": 3}));
    assert_eq!((busy.status, busy.error), (StatusCode::BAD_REQUEST, Some("ResourceInUseException")));
    assert_eq!(e.delete(&uuid).error, Some("ResourceInUseException"));
    std::fs::write(&gate, "go\n").unwrap();
    wait_for("the mapping to be disabled", || e.get(&uuid)["State"] == "Disabled");
    assert_eq!(e.get(&uuid)["LastProcessingResult"], "OK");
    e.lambda.shutdown();
}

#[test]
fn an_invocation_cut_short_by_shutdown_is_neither_a_failure_nor_a_retry_and_runs_again() {
    // The gate never opens.
    let (e, _gate, started) = gated_env();
    // No retry allowed: a shutdown counted as a failure would discard the record.
    let uuid = e.create_uuid(mapping(
        "gated",
        json!({"MaximumRetryAttempts": 0,
               "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}}}),
    ));
    e.put("k", "in flight");
    wait_for("the invocation to start", || started.exists());
    e.lambda.shutdown();
    assert!(e.on_failure_docs(&uuid).is_empty(), "nothing was discarded");
    let c = e.lambda.registry().counters()[0].counters;
    assert_eq!((c.invocations, c.failed_invocations, c.records_discarded), (0, 0, 0));
    assert_eq!(e.get(&uuid)["LastProcessingResult"], "No records processed");
    // The next start: the same function name, now answering; the batch is invoked again.
    let Env { dir, clock, engine, lambda } = e;
    drop(lambda);
    let mut cfg = config(dir.path(), true);
    let ok = cfg.commands.iter().find(|(n, _)| n == "fn_ok").unwrap().1.clone();
    cfg.commands.push(("gated".into(), ok));
    let lambda = Lambda::open(&engine, cfg).unwrap();
    let e = Env { dir, clock, engine, lambda };
    e.drain(&uuid);
    let delivered: Vec<String> = e.events("ok").iter().flat_map(data_of).collect();
    assert_eq!(delivered, vec!["in flight"]);
    assert!(e.on_failure_docs(&uuid).is_empty());
    assert_eq!(e.get(&uuid)["LastProcessingResult"], "OK");
}

/// Pollers on threads, and function `gated`: it touches `started` once it runs, then blocks
/// until a line is written to the FIFO `gate`. Returns (env, gate, started).
fn gated_env() -> (Env, PathBuf, PathBuf) {
    let e = env_with(false, 1);
    let gate = e.dir.path().join("gate");
    let started = e.dir.path().join("started");
    assert!(std::process::Command::new("mkfifo").arg(&gate).status().unwrap().success());
    let cmd = format!("cat >/dev/null; touch {}; read x < {}; echo '{{}}'", started.display(), gate.display());
    drop(e.lambda);
    let mut cfg = config(e.dir.path(), false);
    cfg.commands.push(("gated".into(), cmd));
    let lambda = Lambda::open(&e.engine, cfg).unwrap();
    (Env { lambda, ..e }, gate, started)
}

/// Poll `cond` (it waits on another thread or process) for at most a minute.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
