//! The Lambda Kinesis event-source driver (kinesis-behaviour.md §9): parameters, batching,
//! checkpoints, retries, bisection, partial batch responses, on-failure documents,
//! parallelization, lineage, restart, tumbling windows and the event JSON. Time is a
//! ManualClock throughout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use shardlog::engine::*;
use shardlog::event_source::*;
use shardlog::kinesis::partition_key_hash;
use shardlog::{Durability, Engine, EngineConfig, Error, LogConfig, ManualClock};

/// 2026-01-01T00:00:00Z: a multiple of every tumbling window length used here.
const T0: i64 = 1_767_225_600_000;
const FN_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:consumer";
const UUID: &str = "4e0a3a5c-5d7e-4c0b-9a1e-0c6f3c1d2b7a";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

struct Env {
    dir: tempfile::TempDir,
    clock: ManualClock,
    engine: Engine,
}

fn engine_config(clock: &ManualClock) -> EngineConfig {
    EngineConfig {
        clock: Arc::new(clock.clone()),
        durability: Durability::Buffered,
        retention_check_interval: None,
        log: LogConfig { segment_max_bytes: 64 * 1024, ..LogConfig::default() },
        ..EngineConfig::default()
    }
}

fn env(shards: u32) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let engine = Engine::open(dir.path(), engine_config(&clock)).unwrap();
    engine
        .create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(shards), ..Default::default() })
        .unwrap();
    Env { dir, clock, engine }
}

fn s() -> StreamRef {
    StreamRef::name("s")
}

fn put(e: &Engine, key: &str, data: &str) -> PutRecordOutput {
    e.put_record(PutRecordInput {
        stream: s(),
        data: Bytes::from(data.to_string()),
        partition_key: Some(key.into()),
        ..Default::default()
    })
    .unwrap()
}

/// Put `n` records `<prefix><i>` under key `key`; returns their sequence numbers.
fn put_n(e: &Engine, key: &str, prefix: &str, n: usize) -> Vec<SequenceNumber> {
    (0..n).map(|i| put(e, key, &format!("{prefix}{i}")).sequence_number).collect()
}

fn config() -> EventSourceConfig {
    let mut c = EventSourceConfig::new(s(), FN_ARN, EventSourcePosition::TrimHorizon);
    c.uuid = UUID.into();
    c
}

/// One invocation as the handler saw it.
#[derive(Debug, Clone)]
struct Call {
    seqs: Vec<SequenceNumber>,
    data: Vec<String>,
    shard: Option<String>,
    window: Option<TimeWindow>,
}

type Respond = dyn Fn(&KinesisEvent, usize) -> Result<HandlerResponse, FunctionError> + Send + Sync;

/// A handler that records every invocation and answers with `respond(event, call index)`.
struct Recorder {
    calls: Mutex<Vec<Call>>,
    respond: Box<Respond>,
}

impl Recorder {
    fn new(
        respond: impl Fn(&KinesisEvent, usize) -> Result<HandlerResponse, FunctionError> + Send + Sync + 'static,
    ) -> Arc<Recorder> {
        Arc::new(Recorder { calls: Mutex::new(Vec::new()), respond: Box::new(respond) })
    }
    fn ok() -> Arc<Recorder> {
        Recorder::new(|_, _| Ok(HandlerResponse::success()))
    }
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
    fn batches(&self) -> Vec<Vec<String>> {
        self.calls().into_iter().map(|c| c.data).collect()
    }
    fn delivered(&self) -> Vec<String> {
        self.calls().into_iter().flat_map(|c| c.data).collect()
    }
}

impl Handler for Recorder {
    fn handle(&self, event: &KinesisEvent) -> Result<HandlerResponse, FunctionError> {
        let call = Call {
            seqs: event.records.iter().map(|r| r.kinesis.sequence_number).collect(),
            data: event.records.iter().map(|r| String::from_utf8(r.kinesis.data.to_vec()).unwrap()).collect(),
            shard: event.records.first().map(|r| r.shard_id.to_string()),
            window: event.window.clone(),
        };
        let index = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(call);
            calls.len() - 1
        };
        (self.respond)(event, index)
    }
}

fn mapping(e: &Engine, cfg: EventSourceConfig, h: &Arc<Recorder>) -> EventSourceMapping {
    EventSourceMapping::new(e, cfg, h.clone()).unwrap()
}

/// Poll until a step does nothing.
fn drain(m: &mut EventSourceMapping) {
    for _ in 0..10_000 {
        if m.poll_once().unwrap().is_idle() {
            return;
        }
    }
    panic!("mapping never went idle");
}

type Docs = Arc<Mutex<Vec<OnFailureDocument>>>;

fn collect_docs(cfg: &mut EventSourceConfig) -> Docs {
    let docs: Docs = Arc::default();
    let d = docs.clone();
    cfg.on_failure = Some(Arc::new(move |doc: &OnFailureDocument| d.lock().unwrap().push(doc.clone())));
    docs
}

fn checkpoint(m: &EventSourceMapping, shard: &str) -> Option<ShardCheckpointView> {
    m.checkpoints()
        .unwrap()
        .into_iter()
        .find(|c| c.shard_id == shard)
        .map(|c| ShardCheckpointView { last: c.last_processed, finished: c.finished })
}

#[derive(Debug, PartialEq, Eq)]
struct ShardCheckpointView {
    last: Option<SequenceNumber>,
    finished: bool,
}

const SHARD0: &str = "shardId-000000000000";

fn fails_if(pred: impl Fn(&str) -> bool + Send + Sync + 'static) -> Arc<Recorder> {
    Recorder::new(move |ev, _| {
        if ev.records.iter().any(|r| pred(std::str::from_utf8(&r.kinesis.data).unwrap())) {
            Err(FunctionError::new("boom"))
        } else {
            Ok(HandlerResponse::success())
        }
    })
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

#[test]
fn defaults_are_lambdas() {
    let c = EventSourceConfig::new(s(), FN_ARN, EventSourcePosition::Latest);
    assert_eq!(c.batch_size, 100);
    assert_eq!(c.maximum_batching_window_in_seconds, 0);
    assert!(!c.bisect_batch_on_function_error);
    assert_eq!(c.maximum_retry_attempts, -1);
    assert_eq!(c.maximum_record_age_in_seconds, -1);
    assert_eq!(c.parallelization_factor, 1);
    assert!(c.function_response_types.is_empty());
    assert_eq!(c.tumbling_window_in_seconds, 0);
    assert!(c.on_failure.is_none());
    // A version-4 UUID, fresh each time.
    let u = &c.uuid;
    assert_eq!(u.len(), 36);
    assert_eq!(u.as_bytes()[14], b'4');
    assert!(matches!(u.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    assert_ne!(u, &EventSourceConfig::new(s(), FN_ARN, EventSourcePosition::Latest).uuid);
    c.validate(T0).unwrap();
}

#[test]
fn invalid_configs_are_rejected_naming_the_parameter() {
    type Mutate = fn(&mut EventSourceConfig);
    let bad: Vec<(&str, Mutate)> = vec![
        ("BatchSize", |c| c.batch_size = 0),
        ("BatchSize", |c| c.batch_size = 10_001),
        ("MaximumBatchingWindowInSeconds", |c| c.maximum_batching_window_in_seconds = 301),
        ("MaximumRetryAttempts", |c| c.maximum_retry_attempts = -2),
        ("MaximumRetryAttempts", |c| c.maximum_retry_attempts = 10_001),
        ("MaximumRecordAgeInSeconds", |c| c.maximum_record_age_in_seconds = 0),
        ("MaximumRecordAgeInSeconds", |c| c.maximum_record_age_in_seconds = 59),
        ("MaximumRecordAgeInSeconds", |c| c.maximum_record_age_in_seconds = -2),
        ("MaximumRecordAgeInSeconds", |c| c.maximum_record_age_in_seconds = 604_801),
        ("ParallelizationFactor", |c| c.parallelization_factor = 0),
        ("ParallelizationFactor", |c| c.parallelization_factor = 11),
        ("TumblingWindowInSeconds", |c| c.tumbling_window_in_seconds = 901),
        ("FunctionResponseTypes", |c| {
            c.function_response_types =
                vec![FunctionResponseType::ReportBatchItemFailures, FunctionResponseType::ReportBatchItemFailures]
        }),
        ("StartingPositionTimestamp", |c| c.starting_position = EventSourcePosition::AtTimestamp(Timestamp(T0 + 1))),
        ("FunctionArn", |c| c.function_arn = "consumer".into()),
        ("FunctionArn", |c| c.function_arn = "arn:aws:lambda:us-east-1:123:function:f".into()),
        ("FunctionArn", |c| c.function_arn = "arn:aws:s3:us-east-1:000000000000:function:f".into()),
        ("UUID", |c| c.uuid = String::new()),
        ("UUID", |c| c.uuid = "x".repeat(257)),
    ];
    let e = env(1);
    for (param, mutate) in bad {
        let mut c = config();
        mutate(&mut c);
        let err = c.validate(T0).unwrap_err();
        match &err {
            Error::InvalidArgument { message } => assert!(message.starts_with(param), "{param}: {message}"),
            other => panic!("{param}: expected InvalidArgument, got {other:?}"),
        }
        // The driver refuses it too.
        assert!(matches!(EventSourceMapping::new(&e.engine, c, Recorder::ok()), Err(Error::InvalidArgument { .. })));
    }
    let good: Vec<Mutate> = vec![
        |c| c.batch_size = 1,
        |c| c.batch_size = 10_000,
        |c| c.maximum_batching_window_in_seconds = 300,
        |c| c.maximum_retry_attempts = 0,
        |c| c.maximum_retry_attempts = 10_000,
        |c| c.maximum_record_age_in_seconds = 60,
        |c| c.maximum_record_age_in_seconds = 604_800,
        |c| c.parallelization_factor = 10,
        |c| c.tumbling_window_in_seconds = 900,
        |c| c.function_response_types = vec![FunctionResponseType::ReportBatchItemFailures],
        |c| c.starting_position = EventSourcePosition::AtTimestamp(Timestamp(T0)),
        |c| c.function_arn = "arn:aws:lambda:us-east-1:000000000000:function:consumer:$LATEST".into(),
        |c| c.bisect_batch_on_function_error = true,
    ];
    for mutate in good {
        let mut c = config();
        mutate(&mut c);
        c.validate(T0).unwrap();
    }
    // A stream that does not exist is the engine's error.
    let mut c = config();
    c.stream = StreamRef::name("nope");
    assert!(matches!(EventSourceMapping::new(&e.engine, c, Recorder::ok()), Err(Error::ResourceNotFound { .. })));
}

// ---------------------------------------------------------------------------------------------
// Batching, checkpoints, event fields
// ---------------------------------------------------------------------------------------------

#[test]
fn batches_in_order_and_checkpoints_after_each_successful_batch() {
    let e = env(1);
    let seqs = put_n(&e.engine, "k", "r", 7);
    // The third batch fails: the checkpoint stays after the second.
    let h = fails_if(|d| d == "r6");
    let mut c = config();
    c.batch_size = 3;
    let mut m = mapping(&e.engine, c, &h);
    let r = m.poll_once().unwrap();
    assert_eq!(r.records_read, 7);
    assert_eq!(r.invocations, 3);
    assert_eq!(r.failed_invocations, 1);
    assert_eq!(r.records_succeeded, 6);
    assert_eq!(h.batches(), vec![strs(&["r0", "r1", "r2"]), strs(&["r3", "r4", "r5"]), strs(&["r6"])]);
    assert_eq!(checkpoint(&m, SHARD0), Some(ShardCheckpointView { last: Some(seqs[5]), finished: false }));
    // The event's fields.
    let call = &h.calls()[0];
    assert_eq!(call.seqs, seqs[..3]);
    assert_eq!(call.shard.as_deref(), Some(SHARD0));
    assert!(call.window.is_none());
    // Retried at the next step (infinite retries by default), then the checkpoint passes it.
    m.poll_once().unwrap();
    assert_eq!(h.batches().len(), 4);
    assert_eq!(h.batches()[3], strs(&["r6"]));
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(seqs[5]));
}

#[test]
fn record_fields_match_the_stream() {
    let e = env(1);
    let p = put(&e.engine, "pk", "hello");
    let seen: Arc<Mutex<Vec<KinesisEventRecord>>> = Arc::default();
    let s2 = seen.clone();
    let h = Recorder::new(move |ev, _| {
        s2.lock().unwrap().extend(ev.records.iter().cloned());
        Ok(HandlerResponse::success())
    });
    let mut m = mapping(&e.engine, config(), &h);
    drain(&mut m);
    let r = seen.lock().unwrap()[0].clone();
    assert_eq!(r.kinesis.partition_key, "pk");
    assert_eq!(&r.kinesis.data[..], b"hello");
    assert_eq!(r.kinesis.sequence_number, p.sequence_number);
    assert_eq!(r.kinesis.approximate_arrival_timestamp, Timestamp(T0));
    assert_eq!(r.event_id(), format!("{SHARD0}:{}", p.sequence_number));
    assert_eq!(&*r.event_source_arn, "arn:aws:kinesis:us-east-1:000000000000:stream/s");
    assert_eq!(&*r.aws_region, "us-east-1");
    assert_eq!(&*r.invoke_identity_arn, "arn:aws:iam::000000000000:role/lambda-role");
    assert_eq!(m.stream_arn(), "arn:aws:kinesis:us-east-1:000000000000:stream/s");
}

#[test]
fn batching_window_is_measured_on_the_engine_clock() {
    let e = env(1);
    let h = Recorder::ok();
    let mut c = config();
    c.batch_size = 5;
    c.maximum_batching_window_in_seconds = 10;
    let mut m = mapping(&e.engine, c, &h);
    put_n(&e.engine, "k", "a", 3);
    let r = m.poll_once().unwrap();
    assert_eq!((r.records_read, r.invocations, r.pending_records), (3, 0, 3));
    e.clock.advance(Duration::from_millis(9_999));
    assert_eq!(m.poll_once().unwrap().invocations, 0, "window not over yet");
    e.clock.advance(Duration::from_millis(1));
    assert_eq!(m.poll_once().unwrap().invocations, 1, "window over");
    assert_eq!(h.batches(), vec![strs(&["a0", "a1", "a2"])]);
    // A full batch goes at once, without waiting.
    put_n(&e.engine, "k", "b", 7);
    let r = m.poll_once().unwrap();
    assert_eq!(r.invocations, 1);
    assert_eq!(h.batches()[1], strs(&["b0", "b1", "b2", "b3", "b4"]));
    // The two left wait for the window (measured from when they were read).
    e.clock.advance(Duration::from_secs(9));
    assert_eq!(m.poll_once().unwrap().invocations, 0);
    put_n(&e.engine, "k", "c", 3); // now 5 waiting: full
    assert_eq!(m.poll_once().unwrap().invocations, 1);
    assert_eq!(h.batches()[2], strs(&["b5", "b6", "c0", "c1", "c2"]));
}

#[test]
fn batches_are_cut_at_the_6_mb_payload_limit() {
    let e = env(1);
    let big = "x".repeat(1_000_000);
    for i in 0..10 {
        put(&e.engine, "k", &format!("{i}{big}"));
    }
    let sizes: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let s2 = sizes.clone();
    let h = Recorder::new(move |ev, _| {
        s2.lock().unwrap().push((ev.records.len(), ev.to_json().unwrap().len()));
        Ok(HandlerResponse::success())
    });
    let mut m = mapping(&e.engine, config(), &h);
    drain(&mut m);
    let sizes = sizes.lock().unwrap().clone();
    assert_eq!(sizes.iter().map(|s| s.0).collect::<Vec<_>>(), vec![4, 4, 2]);
    assert!(sizes.iter().all(|s| s.1 <= 6 * 1024 * 1024), "{sizes:?}");
}

// ---------------------------------------------------------------------------------------------
// Retries, on-failure, bisection, record age
// ---------------------------------------------------------------------------------------------

#[test]
fn retries_then_discards_to_on_failure_and_goes_on() {
    let e = env(1);
    let seqs = put_n(&e.engine, "k", "r", 4);
    let h = fails_if(|d| d == "r0");
    let mut c = config();
    c.batch_size = 2;
    c.maximum_retry_attempts = 2;
    let docs = collect_docs(&mut c);
    let mut m = mapping(&e.engine, c, &h);
    for step in 1..=2 {
        let r = m.poll_once().unwrap();
        assert_eq!((r.invocations, r.failed_invocations, r.records_discarded), (1, 1, 0), "step {step}");
        assert!(docs.lock().unwrap().is_empty());
        assert_eq!(checkpoint(&m, SHARD0).unwrap().last, None);
        e.clock.advance(Duration::from_secs(1));
    }
    // Third failure = 1 try + 2 retries: discarded, and the next batch runs in the same step.
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.failed_invocations, r.records_discarded), (2, 1, 2));
    assert_eq!(h.batches(), vec![strs(&["r0", "r1"]); 3].into_iter().chain([strs(&["r2", "r3"])]).collect::<Vec<_>>());
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(seqs[3]));
    let docs = docs.lock().unwrap().clone();
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.request_context.function_arn, FN_ARN);
    assert_eq!(d.request_context.condition, FailureCondition::RetryAttemptsExhausted);
    assert_eq!(d.request_context.approximate_invoke_count, 3);
    assert_eq!(d.request_context.request_id.len(), 36);
    let rc = d.response_context.as_ref().unwrap();
    assert_eq!(
        (rc.status_code, rc.executed_version.as_str(), rc.function_error.as_deref()),
        (200, "$LATEST", Some("Unhandled"))
    );
    assert_eq!(d.version, "1.0");
    assert_eq!(d.timestamp, Timestamp(T0 + 2000));
    let b = &d.kinesis_batch_info;
    assert_eq!(b.shard_id, SHARD0);
    assert_eq!((b.start_sequence_number, b.end_sequence_number), (seqs[0], seqs[1]));
    assert_eq!(
        (b.approximate_arrival_of_first_record, b.approximate_arrival_of_last_record),
        (Timestamp(T0), Timestamp(T0))
    );
    assert_eq!(b.batch_size, 2);
    assert_eq!(b.stream_arn, "arn:aws:kinesis:us-east-1:000000000000:stream/s");
    // The JSON shape of §9.3.
    let v: Value = serde_json::from_str(&d.to_json().unwrap()).unwrap();
    assert_eq!(
        v,
        json!({
            "requestContext": {"requestId": d.request_context.request_id, "functionArn": FN_ARN,
                "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2026-01-01T00:00:02.000Z",
            "KinesisBatchInfo": {"shardId": SHARD0, "startSequenceNumber": seqs[0].to_string(),
                "endSequenceNumber": seqs[1].to_string(),
                "approximateArrivalOfFirstRecord": "2026-01-01T00:00:00.000Z",
                "approximateArrivalOfLastRecord": "2026-01-01T00:00:00.000Z",
                "batchSize": 2, "streamArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"}
        })
    );
}

#[test]
fn zero_retries_discards_at_the_first_failure_and_infinite_never_does() {
    let e = env(1);
    put_n(&e.engine, "k", "r", 1);
    let h = fails_if(|_| true);
    let mut c = config();
    c.maximum_retry_attempts = 0;
    let docs = collect_docs(&mut c);
    let mut m = mapping(&e.engine, c, &h);
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.records_discarded), (1, 1));
    assert_eq!(docs.lock().unwrap()[0].request_context.approximate_invoke_count, 1);

    let e = env(1);
    put_n(&e.engine, "k", "r", 1);
    let mut c = config();
    let docs = collect_docs(&mut c);
    let mut m = mapping(&e.engine, c, &h);
    for _ in 0..50 {
        let r = m.poll_once().unwrap();
        assert_eq!((r.invocations, r.records_discarded), (1, 0));
    }
    assert!(docs.lock().unwrap().is_empty());
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, None, "a failing batch blocks the shard");
}

#[test]
fn bisection_halves_without_counting_retries_and_isolates_a_poison_record() {
    let e = env(1);
    let seqs = put_n(&e.engine, "k", "r", 8);
    let h = fails_if(|d| d == "r5");
    let mut c = config();
    c.batch_size = 8;
    c.bisect_batch_on_function_error = true;
    c.maximum_retry_attempts = 1;
    let docs = collect_docs(&mut c);
    let mut m = mapping(&e.engine, c, &h);
    drain(&mut m);
    let expect: Vec<Vec<String>> = vec![
        strs(&["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"]), // fails: split 4 | 4
        strs(&["r0", "r1", "r2", "r3"]),                         // ok
        strs(&["r4", "r5", "r6", "r7"]),                         // fails: split 2 | 2
        strs(&["r4", "r5"]),                                     // fails: split 1 | 1
        strs(&["r4"]),                                           // ok
        strs(&["r5"]),                                           // fails: retry 1 of 1
        strs(&["r5"]),                                           // fails: exhausted
        strs(&["r6", "r7"]),                                     // ok
    ];
    assert_eq!(h.batches(), expect);
    let docs = docs.lock().unwrap().clone();
    assert_eq!(docs.len(), 1, "only the poison record is discarded");
    let b = &docs[0].kinesis_batch_info;
    assert_eq!((b.start_sequence_number, b.end_sequence_number, b.batch_size), (seqs[5], seqs[5], 1));
    assert_eq!(docs[0].request_context.approximate_invoke_count, 2, "splits are not retries");
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(seqs[7]));

    // Even with no retries at all, halving goes on down to the single record.
    let e = env(1);
    put_n(&e.engine, "k", "r", 4);
    let h = fails_if(|d| d == "r1");
    let mut c = config();
    c.bisect_batch_on_function_error = true;
    c.maximum_retry_attempts = 0;
    let docs = collect_docs(&mut c);
    let mut m = mapping(&e.engine, c, &h);
    drain(&mut m);
    assert_eq!(
        h.batches(),
        vec![strs(&["r0", "r1", "r2", "r3"]), strs(&["r0", "r1"]), strs(&["r0"]), strs(&["r1"]), strs(&["r2", "r3"])]
    );
    assert_eq!(docs.lock().unwrap().len(), 1);
    assert_eq!(docs.lock().unwrap()[0].kinesis_batch_info.batch_size, 1);

    // A poison record first in the batch: the two splits before it was alone are not counted.
    let e = env(1);
    let seqs = put_n(&e.engine, "k", "r", 4);
    let h = fails_if(|d| d == "r0");
    let mut c = config();
    c.bisect_batch_on_function_error = true;
    c.maximum_retry_attempts = 0;
    let docs = collect_docs(&mut c);
    let mut m = mapping(&e.engine, c, &h);
    drain(&mut m);
    assert_eq!(
        h.batches(),
        vec![strs(&["r0", "r1", "r2", "r3"]), strs(&["r0", "r1"]), strs(&["r0"]), strs(&["r1"]), strs(&["r2", "r3"])]
    );
    let d = docs.lock().unwrap()[0].clone();
    assert_eq!(d.request_context.approximate_invoke_count, 1);
    assert_eq!((d.kinesis_batch_info.start_sequence_number, d.kinesis_batch_info.batch_size), (seqs[0], 1));
}

#[test]
fn record_age_expiry_skips_old_records_on_the_engine_clock() {
    let e = env(1);
    let seqs = put_n(&e.engine, "k", "bad", 2);
    let h = fails_if(|d| d.starts_with("bad"));
    let mut c = config();
    c.maximum_record_age_in_seconds = 60;
    let docs = collect_docs(&mut c);
    let mut m = mapping(&e.engine, c, &h);
    m.poll_once().unwrap();
    e.clock.advance(Duration::from_secs(60));
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.records_discarded), (1, 0), "exactly 60 s old is not older than the limit");
    e.clock.advance(Duration::from_millis(1));
    let good = put(&e.engine, "k", "good").sequence_number;
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.failed_invocations, r.records_discarded), (1, 0, 2));
    assert_eq!(h.batches().last().unwrap(), &strs(&["good"]));
    let docs = docs.lock().unwrap().clone();
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.request_context.condition, FailureCondition::RecordAgeExpired);
    assert_eq!(d.request_context.approximate_invoke_count, 2);
    assert_eq!(d.response_context.as_ref().unwrap().function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        (d.kinesis_batch_info.start_sequence_number, d.kinesis_batch_info.end_sequence_number),
        (seqs[0], seqs[1])
    );
    assert_eq!(d.kinesis_batch_info.batch_size, 2);
    assert!(d.to_json().unwrap().contains("\"condition\":\"RecordAgeExpired\""));
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(good));

    // Records can also expire before any invocation (while a batching window waits).
    let e = env(1);
    put_n(&e.engine, "k", "r", 1);
    let h = Recorder::ok();
    let mut c = config();
    c.maximum_record_age_in_seconds = 60;
    c.maximum_batching_window_in_seconds = 300;
    let docs = collect_docs(&mut c);
    let mut m = mapping(&e.engine, c, &h);
    m.poll_once().unwrap();
    e.clock.advance(Duration::from_secs(61));
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.records_discarded), (0, 1));
    let d = docs.lock().unwrap()[0].clone();
    assert_eq!(d.request_context.approximate_invoke_count, 0);
    assert!(d.response_context.is_none());
}

// ---------------------------------------------------------------------------------------------
// ReportBatchItemFailures
// ---------------------------------------------------------------------------------------------

fn rbif(c: &mut EventSourceConfig) {
    c.function_response_types = vec![FunctionResponseType::ReportBatchItemFailures];
}

#[test]
fn partial_failure_checkpoints_at_the_lowest_failed_sequence_number() {
    let e = env(1);
    let seqs = put_n(&e.engine, "k", "r", 10);
    let (s3, s6) = (seqs[3], seqs[6]);
    // First call: items 6 and 3 fail (unsorted); later calls succeed.
    let h = Recorder::new(move |_, i| {
        Ok(if i == 0 { HandlerResponse::failures([s6, s3]) } else { HandlerResponse::success() })
    });
    let mut c = config();
    c.batch_size = 10;
    rbif(&mut c);
    let mut m = mapping(&e.engine, c.clone(), &h);
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.failed_invocations, r.records_succeeded), (1, 1, 3));
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(seqs[2]), "checkpoint just before the lowest failure");
    m.poll_once().unwrap();
    assert_eq!(h.calls()[1].seqs, seqs[3..], "redelivery starts exactly at the lowest failed record");
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(seqs[9]));

    // The same after a restart: the new mapping starts exactly at the lowest failed record.
    let e = env(1);
    let seqs = put_n(&e.engine, "k", "r", 10);
    let s4 = seqs[4];
    let h = Recorder::new(move |_, _| Ok(HandlerResponse::failures([s4])));
    let mut m = mapping(&e.engine, c.clone(), &h);
    m.poll_once().unwrap();
    drop(m);
    let h2 = Recorder::ok();
    let mut m = mapping(&e.engine, c, &h2);
    drain(&mut m);
    assert_eq!(h2.calls()[0].seqs, seqs[4..]);
}

#[test]
fn partial_failures_count_toward_retries_and_reach_on_failure() {
    let e = env(1);
    let seqs = put_n(&e.engine, "k", "r", 4);
    // Always report the batch's last record as failed.
    let h = Recorder::new(|ev, _| Ok(HandlerResponse::failures([ev.records.last().unwrap().kinesis.sequence_number])));
    let mut c = config();
    rbif(&mut c);
    c.maximum_retry_attempts = 1;
    let docs = collect_docs(&mut c);
    let mut m = mapping(&e.engine, c, &h);
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.failed_invocations, r.records_succeeded), (1, 1, 3));
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.failed_invocations, r.records_discarded), (1, 1, 1));
    assert_eq!(h.batches(), vec![strs(&["r0", "r1", "r2", "r3"]), strs(&["r3"])]);
    let docs = docs.lock().unwrap().clone();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].request_context.condition, FailureCondition::RetryAttemptsExhausted);
    assert_eq!(docs[0].request_context.approximate_invoke_count, 2);
    assert_eq!(docs[0].kinesis_batch_info.start_sequence_number, seqs[3]);
    assert_eq!(docs[0].kinesis_batch_info.batch_size, 1);
    assert_eq!(docs[0].response_context.as_ref().unwrap().function_error, None, "the function did not raise");
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(seqs[3]));
}

/// What became of a batch of three records (r0..r2 of four) whose first invocation was
/// answered with `body` (later ones succeed).
#[derive(Debug, PartialEq, Eq)]
struct Judged {
    /// The batches of the first two steps.
    batches: Vec<Vec<String>>,
    /// Index of the checkpointed record after the first step.
    checkpoint: Option<usize>,
    /// Records sent to the on-failure destination when no retries are allowed.
    discarded_without_retries: usize,
}

fn judge_body(body: impl Fn(&[SequenceNumber]) -> String + Send + Sync + 'static, report: bool) -> Judged {
    let body = Arc::new(body);
    let run = |retries: i32| {
        let e = env(1);
        let seqs = put_n(&e.engine, "k", "r", 4);
        let outside = seqs[3];
        let b = body.clone();
        let h = Recorder::new(move |ev, i| {
            // The identifiers the body may use: the batch's, then one outside it.
            let mut ids: Vec<SequenceNumber> = ev.records.iter().map(|r| r.kinesis.sequence_number).collect();
            ids.push(outside);
            Ok(if i == 0 { HandlerResponse::from_json(&b(&ids)) } else { HandlerResponse::success() })
        });
        let mut c = config();
        c.batch_size = 3;
        c.maximum_retry_attempts = retries;
        if report {
            rbif(&mut c);
        }
        let docs = collect_docs(&mut c);
        let mut m = mapping(&e.engine, c, &h);
        m.poll_once().unwrap();
        let cp = checkpoint(&m, SHARD0).unwrap().last.map(|s| seqs.iter().position(|x| *x == s).unwrap());
        m.poll_once().unwrap();
        let discarded: usize = docs.lock().unwrap().iter().map(|d| d.kinesis_batch_info.batch_size as usize).sum();
        (h.batches(), cp, discarded)
    };
    let (batches, checkpoint, _) = run(-1);
    let (_, _, discarded_without_retries) = run(0);
    Judged { batches, checkpoint, discarded_without_retries }
}

#[test]
fn batch_item_failure_identifier_edge_cases() {
    let success = Judged {
        batches: vec![strs(&["r0", "r1", "r2"]), strs(&["r3"])],
        checkpoint: Some(3),
        discarded_without_retries: 0,
    };
    let whole_batch_failed = Judged {
        batches: vec![strs(&["r0", "r1", "r2"]), strs(&["r0", "r1", "r2"]), strs(&["r3"])],
        checkpoint: None,
        discarded_without_retries: 3,
    };
    for body in [r#"{"batchItemFailures":[]}"#, r#"{"batchItemFailures":null}"#, "{}", "null", ""] {
        assert_eq!(judge_body(move |_| body.to_string(), true), success, "{body:?} is success");
    }
    type Body = Box<dyn Fn(&[SequenceNumber]) -> String + Send + Sync>;
    let failing: Vec<(&str, Body)> = vec![
        ("empty string", Box::new(|_| r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#.into())),
        ("null", Box::new(|_| r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#.into())),
        ("misspelled key", Box::new(|s| format!(r#"{{"batchItemFailures":[{{"itemIdentifer":"{}"}}]}}"#, s[1]))),
        ("not in the batch", Box::new(|s| format!(r#"{{"batchItemFailures":[{{"itemIdentifier":"{}"}}]}}"#, s[3]))),
        ("not a sequence number", Box::new(|_| r#"{"batchItemFailures":[{"itemIdentifier":"abc"}]}"#.into())),
        ("number", Box::new(|_| r#"{"batchItemFailures":[{"itemIdentifier":5}]}"#.into())),
        ("not a list", Box::new(|_| r#"{"batchItemFailures":"r1"}"#.into())),
        ("not JSON", Box::new(|_| "oops".into())),
        // A valid identifier does not rescue a bad one.
        (
            "mixed",
            Box::new(|s| {
                format!(r#"{{"batchItemFailures":[{{"itemIdentifier":"{}"}},{{"itemIdentifier":""}}]}}"#, s[2])
            }),
        ),
    ];
    for (what, body) in failing {
        assert_eq!(judge_body(body, true), whole_batch_failed, "{what} fails the whole batch");
    }
    // A valid identifier is a partial failure: r0 is checkpointed, retry from r1.
    assert_eq!(
        judge_body(|s| format!(r#"{{"batchItemFailures":[{{"itemIdentifier":"{}"}}]}}"#, s[1]), true),
        Judged {
            batches: vec![strs(&["r0", "r1", "r2"]), strs(&["r1", "r2", "r3"])],
            checkpoint: Some(0),
            discarded_without_retries: 2,
        }
    );
    // Without ReportBatchItemFailures the body is ignored.
    assert_eq!(judge_body(|_| r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#.into(), false), success);
    assert_eq!(judge_body(|_| "oops".into(), false), success);
}

#[test]
fn handler_response_parses_the_json_lambda_functions_return() {
    let r = HandlerResponse::from_json(
        r#"{"batchItemFailures":[{"itemIdentifier":"4959"},{"itemIdentifier":""},{"itemIdentifier":null},{"itemIdentifer":"1"},{"itemIdentifier":7}]}"#,
    );
    assert_eq!(r.malformed, None);
    assert_eq!(
        r.batch_item_failures.unwrap().into_iter().map(|f| f.item_identifier).collect::<Vec<_>>(),
        vec![
            ItemIdentifier::Value("4959".into()),
            ItemIdentifier::Value(String::new()),
            ItemIdentifier::Null,
            ItemIdentifier::Missing,
            ItemIdentifier::NotAString("7".into()),
        ]
    );
    assert_eq!(HandlerResponse::from_json("null"), HandlerResponse::default());
    assert_eq!(HandlerResponse::from_json("{}"), HandlerResponse::default());
    assert_eq!(HandlerResponse::from_json(r#"{"batchItemFailures":null}"#), HandlerResponse::default());
    assert_eq!(HandlerResponse::from_json(r#"{"batchItemFailures":[]}"#).batch_item_failures, Some(vec![]));
    let w = HandlerResponse::from_json(r#"{"state":{"a":1,"b":"x"},"batchItemFailures":[]}"#);
    assert_eq!(w.state.unwrap().to_value(), json!({"a":1,"b":"x"}));
    assert!(HandlerResponse::from_json("[1]").malformed.is_some());
    assert!(HandlerResponse::from_json(r#"{"state":3}"#).malformed.is_some());
    assert!(HandlerResponse::from_json(r#"{"batchItemFailures":["x"]}"#).malformed.is_some());
    // Round trip of what a Rust handler builds.
    let built = HandlerResponse::failures(["123"]).with_state(WindowState::parse(r#"{"n":2}"#).unwrap());
    assert_eq!(
        serde_json::from_str::<Value>(&built.to_json()).unwrap(),
        json!({"batchItemFailures":[{"itemIdentifier":"123"}],"state":{"n":2}})
    );
    assert_eq!(HandlerResponse::from_json(&built.to_json()), built);
}

// ---------------------------------------------------------------------------------------------
// Parallelization
// ---------------------------------------------------------------------------------------------

fn lane(key: &str, n: u128) -> u128 {
    partition_key_hash(key.as_bytes()) % n
}

/// Keys `k<i>` picked so that the first two fall in different lanes.
fn keys_in_lanes(n: u128, count: usize) -> Vec<String> {
    let all: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
    let first = all[0].clone();
    let second = all.iter().find(|k| lane(k, n) != lane(&first, n)).unwrap().clone();
    let mut out = vec![first, second];
    out.extend(all.into_iter().filter(|k| !out.contains(k)).take(count - 2).collect::<Vec<_>>());
    out
}

#[test]
fn parallel_lanes_keep_per_key_order_and_run_concurrently() {
    let e = env(1);
    const N: u128 = 4;
    let keys = keys_in_lanes(N, 8);
    for i in 0..10 {
        for k in &keys {
            put(&e.engine, k, &format!("{k}:{i}"));
        }
    }
    // The first two invocations wait for each other: they can only both finish if they
    // run at the same time.
    struct Gate {
        entered: Mutex<usize>,
        cv: Condvar,
    }
    let gate = Arc::new(Gate { entered: Mutex::new(0), cv: Condvar::new() });
    let timed_out = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let (g, t, f, mx) = (gate.clone(), timed_out.clone(), in_flight.clone(), max_in_flight.clone());
    let h = Recorder::new(move |ev, _| {
        let now = f.fetch_add(1, Ordering::SeqCst) + 1;
        mx.fetch_max(now, Ordering::SeqCst);
        let mut entered = g.entered.lock().unwrap();
        *entered += 1;
        g.cv.notify_all();
        let (guard, res) = g.cv.wait_timeout_while(entered, Duration::from_secs(20), |n| *n < 2).unwrap();
        if res.timed_out() {
            t.store(true, Ordering::SeqCst);
        }
        drop(guard);
        // Every batch is one lane's.
        let lanes: Vec<u128> = ev.records.iter().map(|r| lane(&r.kinesis.partition_key, N)).collect();
        assert!(lanes.windows(2).all(|w| w[0] == w[1]), "a batch mixes lanes");
        f.fetch_sub(1, Ordering::SeqCst);
        Ok(HandlerResponse::success())
    });
    let mut c = config();
    c.parallelization_factor = N as u32;
    c.batch_size = 5;
    let mut m = mapping(&e.engine, c, &h);
    drain(&mut m);
    assert!(!timed_out.load(Ordering::SeqCst), "lanes did not run concurrently");
    assert!(max_in_flight.load(Ordering::SeqCst) >= 2);
    // Every record once, and each key in order.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for d in h.delivered() {
        let (k, i) = d.split_once(':').unwrap();
        let next = seen.entry(k.to_string()).or_insert(0);
        assert_eq!(i.parse::<usize>().unwrap(), *next, "key {k} out of order");
        *next += 1;
    }
    assert_eq!(seen.len(), 8);
    assert!(seen.values().all(|&n| n == 10));
    let last = put(&e.engine, "z", "z:0").sequence_number;
    drain(&mut m);
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(last));
}

#[test]
fn checkpoint_never_passes_a_record_a_lane_has_not_finished() {
    let e = env(1);
    let keys = keys_in_lanes(2, 2);
    let (a, b) = (keys[0].clone(), keys[1].clone());
    let b0 = put(&e.engine, &b, "b0").sequence_number;
    let a0 = put(&e.engine, &a, "a0").sequence_number;
    let b1 = put(&e.engine, &b, "b1").sequence_number;
    let b2 = put(&e.engine, &b, "b2").sequence_number;
    let fail_a = Arc::new(AtomicBool::new(true));
    let fa = fail_a.clone();
    let h = Recorder::new(move |ev, _| {
        if fa.load(Ordering::SeqCst) && ev.records.iter().any(|r| r.kinesis.data.starts_with(b"a")) {
            Err(FunctionError::new("a fails"))
        } else {
            Ok(HandlerResponse::success())
        }
    });
    let mut c = config();
    c.parallelization_factor = 2;
    let mut m = mapping(&e.engine, c.clone(), &h);
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.failed_invocations, r.records_succeeded), (2, 1, 3));
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(b0), "b1, b2 are done but a0 is not");
    // A restart now redelivers a0 and (at least once) b1, b2 — never skips a0.
    drop(m);
    let h2 = Recorder::ok();
    let mut m2 = mapping(&e.engine, c, &h2);
    drain(&mut m2);
    let mut got: Vec<SequenceNumber> = h2.calls().into_iter().flat_map(|c| c.seqs).collect();
    got.sort();
    assert_eq!(got, vec![a0, b1, b2]);
    assert_eq!(checkpoint(&m2, SHARD0).unwrap().last, Some(b2));
}

// ---------------------------------------------------------------------------------------------
// Restart, starting positions, lineage
// ---------------------------------------------------------------------------------------------

#[test]
fn restart_with_a_reopened_engine_resumes_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut c = config();
    c.batch_size = 7;
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut first_run: Vec<Call>;
    {
        let engine = Engine::open(dir.path(), engine_config(&clock)).unwrap();
        engine
            .create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(3), ..Default::default() })
            .unwrap();
        for i in 0..60 {
            let key = format!("key{}", i % 9);
            let data = format!("{key}:{}", i / 9);
            put(&engine, &key, &data);
            expected.entry(key).or_default().push(data);
        }
        // The handler starts failing after 5 invocations.
        let h =
            Recorder::new(|_, i| if i < 5 { Ok(HandlerResponse::success()) } else { Err(FunctionError::new("down")) });
        let mut m = mapping(&engine, c.clone(), &h);
        m.poll_once().unwrap();
        m.poll_once().unwrap();
        first_run = h.calls();
        first_run.truncate(5);
        drop(m);
        engine.close().unwrap();
    }
    let engine = Engine::open(dir.path(), engine_config(&clock)).unwrap();
    let before: HashMap<String, Option<SequenceNumber>> =
        engine.checkpoints(&s(), UUID).unwrap().into_iter().map(|c| (c.shard_id, c.last_processed)).collect();
    assert_eq!(before.len(), 3);
    for i in 60..80 {
        let key = format!("key{}", i % 9);
        let data = format!("{key}:{}", i / 9);
        put(&engine, &key, &data);
        expected.entry(key).or_default().push(data);
    }
    let h = Recorder::ok();
    let mut m = mapping(&engine, c, &h);
    drain(&mut m);
    // Per shard, the second run starts right after the stored checkpoint.
    for call in h.calls() {
        let shard = call.shard.clone().unwrap();
        if let Some(Some(cp)) = before.get(&shard) {
            assert!(call.seqs.iter().all(|s| s > cp), "redelivered a checkpointed record");
        }
    }
    let mut firsts: HashMap<String, SequenceNumber> = HashMap::new();
    for call in h.calls() {
        firsts.entry(call.shard.clone().unwrap()).or_insert(call.seqs[0]);
    }
    for (shard, first) in &firsts {
        let out = engine
            .get_shard_iterator(GetShardIteratorInput {
                stream: s(),
                shard_id: shard.clone(),
                shard_iterator_type: match before[shard] {
                    Some(_) => ShardIteratorType::AfterSequenceNumber,
                    None => ShardIteratorType::TrimHorizon,
                },
                starting_sequence_number: before[shard].map(|s| s.to_string()),
                timestamp: None,
                dry_run: false,
            })
            .unwrap();
        let rec = engine
            .get_records(GetRecordsInput {
                shard_iterator: out.shard_iterator,
                limit: Some(1),
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            })
            .unwrap();
        assert_eq!(&rec.records[0].sequence_number, first, "{shard} resumes exactly after its checkpoint");
    }
    // Nothing lost, each key in order (first run's successes, then the second run).
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in first_run.iter().chain(h.calls().iter()).flat_map(|c| c.data.clone()) {
        let key = d.split_once(':').unwrap().0.to_string();
        let list = got.entry(key).or_default();
        if !list.contains(&d) {
            list.push(d);
        }
    }
    assert_eq!(got, expected);
}

#[test]
fn starting_positions_latest_and_at_timestamp() {
    let e = env(1);
    put(&e.engine, "k", "old");
    let h = Recorder::ok();
    let mut c = config();
    c.starting_position = EventSourcePosition::Latest;
    let mut m = mapping(&e.engine, c, &h);
    drain(&mut m);
    put(&e.engine, "k", "new");
    drain(&mut m);
    assert_eq!(h.delivered(), strs(&["new"]));

    let e = env(1);
    put(&e.engine, "k", "before");
    e.clock.advance(Duration::from_secs(10));
    put(&e.engine, "k", "at");
    e.clock.advance(Duration::from_secs(10));
    put(&e.engine, "k", "after");
    let h = Recorder::ok();
    let mut c = config();
    c.starting_position = EventSourcePosition::AtTimestamp(Timestamp(T0 + 10_000));
    let mut m = mapping(&e.engine, c.clone(), &h);
    drain(&mut m);
    assert_eq!(h.delivered(), strs(&["at", "after"]));
    c.uuid = "other".into();
    c.starting_position = EventSourcePosition::AtTimestamp(Timestamp(T0 + 20_001));
    assert!(matches!(EventSourceMapping::new(&e.engine, c, Recorder::ok()), Err(Error::InvalidArgument { .. })));
}

#[test]
fn latest_mapping_restarted_before_progress_keeps_shards_split_since() {
    // A LATEST mapping records its starting shards on its first run; shards created later
    // are read from their start even after a restart.
    let e = env(1);
    put(&e.engine, "k", "history");
    let mut c = config();
    c.starting_position = EventSourcePosition::Latest;
    let h = Recorder::ok();
    let mut m = mapping(&e.engine, c.clone(), &h);
    drain(&mut m);
    drop(m);
    e.clock.advance(Duration::from_secs(5));
    split(&e.engine, SHARD0);
    put(&e.engine, "k", "child");
    let mut m = mapping(&e.engine, c, &h);
    drain(&mut m);
    assert_eq!(h.delivered(), strs(&["child"]));
}

fn split(e: &Engine, shard: &str) {
    let range = e
        .list_shards(ListShardsInput { stream: s(), ..Default::default() })
        .unwrap()
        .shards
        .into_iter()
        .find(|x| x.shard_id == shard)
        .unwrap()
        .hash_key_range;
    let mid = range.starting_hash_key + (range.ending_hash_key - range.starting_hash_key) / 2;
    e.split_shard(SplitShardInput {
        stream: s(),
        shard_to_split: shard.into(),
        new_starting_hash_key: mid.to_string(),
    })
    .unwrap();
}

#[test]
fn reshard_mid_stream_parents_before_children_nothing_lost_per_key_order() {
    let e = env(1);
    let order: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let o2 = order.clone();
    let h = Recorder::new(move |ev, _| {
        let mut o = o2.lock().unwrap();
        for r in &ev.records {
            o.push((r.shard_id.to_string(), String::from_utf8(r.kinesis.data.to_vec()).unwrap()));
        }
        Ok(HandlerResponse::success())
    });
    let mut c = config();
    c.batch_size = 4;
    c.parallelization_factor = 2;
    let mut m = mapping(&e.engine, c, &h);
    let mut counters: HashMap<String, usize> = HashMap::new();
    let mut write = |e: &Engine, n: usize| {
        for i in 0..n {
            let key = format!("key{}", i % 6);
            let c = counters.entry(key.clone()).or_insert(0);
            put(e, &key, &format!("{key}:{c}"));
            *c += 1;
        }
    };
    write(&e.engine, 30);
    m.poll_once().unwrap(); // shard 0 partly processed
    e.clock.advance(Duration::from_secs(5));
    split(&e.engine, SHARD0); // -> 1, 2
    write(&e.engine, 30);
    m.poll_once().unwrap();
    m.poll_once().unwrap();
    e.clock.advance(Duration::from_secs(5));
    e.engine
        .merge_shards(MergeShardsInput {
            stream: s(),
            shard_to_merge: "shardId-000000000001".into(),
            adjacent_shard_to_merge: "shardId-000000000002".into(),
        })
        .unwrap(); // -> 3
    write(&e.engine, 30);
    drain(&mut m);
    let order = order.lock().unwrap().clone();
    // Parents finish before their children start.
    let first = |s: &str| order.iter().position(|(x, _)| x == s).unwrap();
    let last = |s: &str| order.iter().rposition(|(x, _)| x == s).unwrap();
    let id = |i: u32| format!("shardId-{i:012}");
    assert!(last(&id(0)) < first(&id(1)) && last(&id(0)) < first(&id(2)));
    assert!(last(&id(1)) < first(&id(3)) && last(&id(2)) < first(&id(3)), "merged child after both parents");
    // Nothing lost or repeated, per-key order kept across the reshards.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (_, d) in &order {
        let (k, i) = d.split_once(':').unwrap();
        let next = seen.entry(k.to_string()).or_insert(0);
        assert_eq!(i.parse::<usize>().unwrap(), *next, "{k} out of order");
        *next += 1;
    }
    assert_eq!(seen, counters);
    let cps = m.checkpoints().unwrap();
    let finished: Vec<bool> = cps.iter().map(|c| c.finished).collect();
    assert_eq!(finished, vec![true, true, true, false]);
    assert_eq!(m.active_shards(), vec![id(3)]);
}

// ---------------------------------------------------------------------------------------------
// Tumbling windows
// ---------------------------------------------------------------------------------------------

/// A windowed handler that counts records per key into the state.
fn counting() -> Arc<Recorder> {
    Recorder::new(|ev, _| {
        let w = ev.window.as_ref().unwrap();
        let mut state = w.state.to_value();
        for r in &ev.records {
            let n = state.get(&r.kinesis.partition_key).and_then(Value::as_u64).unwrap_or(0);
            state[r.kinesis.partition_key.as_str()] = json!(n + 1);
        }
        Ok(HandlerResponse::success().with_state(WindowState::from_value(&state).unwrap()))
    })
}

fn window_of(c: &Call) -> (i64, i64, Value, bool, bool) {
    let w = c.window.as_ref().unwrap();
    (
        w.start.as_millis(),
        w.end.as_millis(),
        w.state.to_value(),
        w.is_final_invoke_for_window,
        w.is_window_terminated_early,
    )
}

#[test]
fn tumbling_window_passes_state_and_ends_with_a_final_invoke() {
    let e = env(1);
    let h = counting();
    let mut c = config();
    c.tumbling_window_in_seconds = 60;
    c.batch_size = 2;
    let mut m = mapping(&e.engine, c.clone(), &h);
    e.clock.advance(Duration::from_secs(1));
    let seqs = put_n(&e.engine, "a", "w1-", 3);
    m.poll_once().unwrap();
    let calls = h.calls();
    assert_eq!(calls.len(), 2);
    let (w0, w1) = (T0, T0 + 60_000);
    assert_eq!(window_of(&calls[0]), (w0, w1, json!({}), false, false));
    assert_eq!(calls[0].data, strs(&["w1-0", "w1-1"]));
    assert_eq!(window_of(&calls[1]), (w0, w1, json!({"a": 2}), false, false), "state of the previous invoke");
    assert_eq!(calls[1].data, strs(&["w1-2"]));
    assert_eq!(calls[1].window.as_ref().unwrap().shard_id, SHARD0);
    // Not checkpointed until the window's final invoke.
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, None);
    e.clock.set_ms(w1 - 1);
    assert_eq!(m.poll_once().unwrap().invocations, 0, "the window is still open");
    e.clock.set_ms(w1);
    m.poll_once().unwrap();
    let calls = h.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(window_of(&calls[2]), (w0, w1, json!({"a": 3}), true, false));
    assert!(calls[2].data.is_empty(), "nothing left for the final invoke");
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(seqs[2]));
    // The next window starts fresh; its final invoke carries the records left when it ends.
    e.clock.advance(Duration::from_secs(1));
    put(&e.engine, "a", "w2-0");
    m.poll_once().unwrap();
    assert_eq!(window_of(&h.calls()[3]), (w1, w1 + 60_000, json!({}), false, false));
    e.clock.advance(Duration::from_secs(10));
    let last = put(&e.engine, "b", "w2-1").sequence_number;
    e.clock.set_ms(w1 + 60_000);
    m.poll_once().unwrap();
    let calls = h.calls();
    assert_eq!(calls.len(), 5);
    assert_eq!(window_of(&calls[4]), (w1, w1 + 60_000, json!({"a": 1}), true, false));
    assert_eq!(calls[4].data, strs(&["w2-1"]));
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(last));
}

#[test]
fn tumbling_window_restart_replays_the_open_window_with_fresh_state() {
    let e = env(1);
    let h = counting();
    let mut c = config();
    c.tumbling_window_in_seconds = 60;
    let mut m = mapping(&e.engine, c.clone(), &h);
    put_n(&e.engine, "a", "r", 2);
    m.poll_once().unwrap();
    put_n(&e.engine, "a", "s", 1);
    m.poll_once().unwrap();
    assert_eq!(window_of(&h.calls()[1]).2, json!({"a": 2}));
    drop(m);
    let h2 = counting();
    let mut m = mapping(&e.engine, c, &h2);
    m.poll_once().unwrap();
    assert_eq!(h2.calls()[0].data, strs(&["r0", "r1", "s0"]), "the open window is replayed");
    assert_eq!(window_of(&h2.calls()[0]).2, json!({}));
}

#[test]
fn tumbling_window_response_without_state_fails_the_batch() {
    let e = env(1);
    put_n(&e.engine, "a", "r", 1);
    let h = Recorder::new(|ev, i| {
        let w = ev.window.as_ref().unwrap();
        Ok(if i == 0 { HandlerResponse::success() } else { HandlerResponse::success().with_state(w.state.clone()) })
    });
    let mut c = config();
    c.tumbling_window_in_seconds = 60;
    let mut m = mapping(&e.engine, c, &h);
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.failed_invocations), (1, 1));
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.failed_invocations), (1, 0));
    assert_eq!(h.batches(), vec![strs(&["r0"]), strs(&["r0"])]);
}

#[test]
fn tumbling_window_state_over_1_mb_terminates_the_window_early() {
    let e = env(1);
    put_n(&e.engine, "a", "r", 2);
    let big = "x".repeat(1024 * 1024);
    let h = Recorder::new(move |ev, _| {
        let w = ev.window.as_ref().unwrap();
        let state = if w.is_final_invoke_for_window { json!({}) } else { json!({ "blob": big }) };
        Ok(HandlerResponse::success().with_state(WindowState::from_value(&state).unwrap()))
    });
    let mut c = config();
    c.tumbling_window_in_seconds = 60;
    c.batch_size = 1;
    let mut m = mapping(&e.engine, c, &h);
    m.poll_once().unwrap();
    let calls = h.calls();
    let flags: Vec<(bool, bool, usize)> = calls
        .iter()
        .map(|c| {
            let w = c.window.as_ref().unwrap();
            (w.is_final_invoke_for_window, w.is_window_terminated_early, c.data.len())
        })
        .collect();
    // r0 → oversized state → early final invoke → r1 in the same window with a fresh state →
    // early final invoke again.
    assert_eq!(flags, vec![(false, false, 1), (true, true, 0), (false, false, 1), (true, true, 0)]);
    assert_eq!(window_of(&calls[2]).2, json!({}));
    assert_eq!(window_of(&calls[2]).0, window_of(&calls[0]).0);
}

#[test]
fn tumbling_window_closes_at_shard_end_and_children_start_fresh() {
    let e = env(1);
    let h = counting();
    let mut c = config();
    c.tumbling_window_in_seconds = 900;
    let mut m = mapping(&e.engine, c, &h);
    put_n(&e.engine, "a", "p", 2);
    m.poll_once().unwrap();
    e.clock.advance(Duration::from_secs(5));
    split(&e.engine, SHARD0);
    put_n(&e.engine, "a", "c", 2);
    drain(&mut m);
    let calls = h.calls();
    let summary: Vec<(String, Vec<String>, Value, bool)> = calls
        .iter()
        .map(|c| {
            let w = c.window.as_ref().unwrap();
            (w.shard_id.clone(), c.data.clone(), w.state.to_value(), w.is_final_invoke_for_window)
        })
        .collect();
    let child = calls.iter().find_map(|c| c.shard.clone().filter(|s| s != SHARD0)).unwrap();
    assert_eq!(
        summary,
        vec![
            (SHARD0.to_string(), strs(&["p0", "p1"]), json!({}), false),
            // The parent's window closes at shard end, long before its 900 s are over.
            (SHARD0.to_string(), vec![], json!({"a": 2}), true),
            // The child starts a fresh state in the same time window.
            (child.clone(), strs(&["c0", "c1"]), json!({}), false),
        ]
    );
    assert!(T0 + 5_000 < calls[2].window.as_ref().unwrap().end.as_millis());
    assert!(checkpoint(&m, SHARD0).unwrap().finished);
}

// ---------------------------------------------------------------------------------------------
// The event JSON
// ---------------------------------------------------------------------------------------------

const LAMBDA_EXAMPLE: &str = r#"{"Records":[{
  "kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"1",
             "sequenceNumber":"49590338271490256608559692538361571095921575989136588898",
             "data":"SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==","approximateArrivalTimestamp":1545084650.987},
  "eventSource":"aws:kinesis","eventVersion":"1.0",
  "eventID":"shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
  "eventName":"aws:kinesis:record","invokeIdentityArn":"arn:aws:iam::123456789012:role/lambda-role",
  "awsRegion":"us-east-2","eventSourceARN":"arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"}]}"#;

#[test]
fn event_json_matches_the_lambda_example_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_545_084_650_987);
    let engine = Engine::open(
        dir.path(),
        EngineConfig { region: "us-east-2".into(), account_id: "123456789012".into(), ..engine_config(&clock) },
    )
    .unwrap();
    engine
        .create_stream(CreateStreamInput {
            stream_name: "lambda-stream".into(),
            shard_count: Some(7),
            ..Default::default()
        })
        .unwrap();
    let stream = StreamRef::name("lambda-stream");
    let put = engine
        .put_record(PutRecordInput {
            stream: stream.clone(),
            data: Bytes::from_static(b"Hello, this is a test."),
            partition_key: Some("1".into()),
            explicit_hash_key: Some(u128::MAX.to_string()), // the last shard: shardId-000000000006
            ..Default::default()
        })
        .unwrap();
    assert_eq!(put.shard_id, "shardId-000000000006");
    let texts: Arc<Mutex<Vec<String>>> = Arc::default();
    let t2 = texts.clone();
    let h = Recorder::new(move |ev, _| {
        t2.lock().unwrap().push(ev.to_json().unwrap());
        Ok(HandlerResponse::success())
    });
    let mut c = EventSourceConfig::new(
        stream,
        "arn:aws:lambda:us-east-2:123456789012:function:f",
        EventSourcePosition::TrimHorizon,
    );
    c.invoke_identity_arn = None; // default: arn:aws:iam::<account>:role/lambda-role
    let mut m = EventSourceMapping::new(&engine, c, h.clone()).unwrap();
    drain(&mut m);
    let text = texts.lock().unwrap()[0].clone();
    assert!(text.contains(r#""approximateArrivalTimestamp":1545084650.987"#), "plain decimal seconds: {text}");
    let ours: Value = serde_json::from_str(&text).unwrap();
    let theirs: Value = serde_json::from_str(LAMBDA_EXAMPLE).unwrap();
    let seq = put.sequence_number.to_string();
    // Same keys everywhere, same values except the sequence number.
    let (o, t) = (&ours["Records"][0], &theirs["Records"][0]);
    assert_eq!(ours.as_object().unwrap().len(), 1);
    assert_eq!(o.as_object().unwrap().keys().collect::<Vec<_>>(), t.as_object().unwrap().keys().collect::<Vec<_>>());
    for field in ["eventSource", "eventVersion", "eventName", "invokeIdentityArn", "awsRegion", "eventSourceARN"] {
        assert_eq!(o[field], t[field], "{field}");
    }
    assert_eq!(o["eventID"], json!(format!("shardId-000000000006:{seq}")));
    let (ok, tk) = (&o["kinesis"], &t["kinesis"]);
    assert_eq!(ok.as_object().unwrap().keys().collect::<Vec<_>>(), tk.as_object().unwrap().keys().collect::<Vec<_>>());
    for field in ["kinesisSchemaVersion", "partitionKey", "data", "approximateArrivalTimestamp"] {
        assert_eq!(ok[field], tk[field], "kinesis.{field}");
    }
    assert_eq!(ok["sequenceNumber"], json!(seq));
    assert_eq!(seq.len(), 56);
    // And the Rust Lambda runtime's own types read it.
    let parsed: aws_lambda_events::event::kinesis::KinesisEvent = serde_json::from_str(&text).unwrap();
    let r = &parsed.records[0];
    assert_eq!(r.kinesis.partition_key, "1");
    assert_eq!(r.kinesis.sequence_number, seq);
    assert_eq!(&r.kinesis.data.0[..], b"Hello, this is a test.");
    assert_eq!(r.kinesis.approximate_arrival_timestamp.0.timestamp_millis(), 1_545_084_650_987);
    assert_eq!(r.kinesis.kinesis_schema_version.as_deref(), Some("1.0"));
    assert_eq!(r.event_id.as_deref(), Some(format!("shardId-000000000006:{seq}").as_str()));
    assert_eq!(r.event_source.as_deref(), Some("aws:kinesis"));
    assert_eq!(r.event_name.as_deref(), Some("aws:kinesis:record"));
    assert_eq!(r.event_version.as_deref(), Some("1.0"));
    assert_eq!(r.aws_region.as_deref(), Some("us-east-2"));
    assert_eq!(r.invoke_identity_arn.as_deref(), Some("arn:aws:iam::123456789012:role/lambda-role"));
    assert_eq!(r.event_source_arn.as_deref(), Some("arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"));
    // The library's own reading of Lambda's example agrees with ours on every field.
    let example: aws_lambda_events::event::kinesis::KinesisEvent = serde_json::from_str(LAMBDA_EXAMPLE).unwrap();
    let x = &example.records[0];
    assert_eq!((&x.kinesis.data, &x.kinesis.partition_key), (&r.kinesis.data, &r.kinesis.partition_key));
    assert_eq!(x.kinesis.approximate_arrival_timestamp, r.kinesis.approximate_arrival_timestamp);
    assert_eq!(
        (&x.aws_region, &x.event_source_arn, &x.invoke_identity_arn),
        (&r.aws_region, &r.event_source_arn, &r.invoke_identity_arn)
    );
}

#[test]
fn tumbling_window_event_json_has_the_window_members() {
    let e = env(1);
    put(&e.engine, "a", "x");
    let texts: Arc<Mutex<Vec<String>>> = Arc::default();
    let t2 = texts.clone();
    let h = Recorder::new(move |ev, _| {
        t2.lock().unwrap().push(ev.to_json().unwrap());
        Ok(HandlerResponse::success().with_state(WindowState::parse(r#"{"k":"v"}"#).unwrap()))
    });
    let mut c = config();
    c.tumbling_window_in_seconds = 120;
    let mut m = mapping(&e.engine, c, &h);
    m.poll_once().unwrap();
    e.clock.advance(Duration::from_secs(120));
    m.poll_once().unwrap();
    let texts = texts.lock().unwrap().clone();
    let v: Value = serde_json::from_str(&texts[1]).unwrap();
    assert_eq!(v["window"], json!({"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:02:00Z"}));
    assert_eq!(v["state"], json!({"k": "v"}));
    assert_eq!(v["shardId"], json!(SHARD0));
    assert_eq!(v["eventSourceARN"], json!("arn:aws:kinesis:us-east-1:000000000000:stream/s"));
    assert_eq!(v["isFinalInvokeForWindow"], json!(true));
    assert_eq!(v["isWindowTerminatedEarly"], json!(false));
    assert_eq!(v["Records"], json!([]));
    let parsed: aws_lambda_events::event::kinesis::KinesisTimeWindowEvent = serde_json::from_str(&texts[1]).unwrap();
    let p = &parsed.time_window_properties;
    assert!(p.is_final_invoke_for_window && !p.is_window_terminated_early);
    assert_eq!(p.window.start.timestamp_millis(), T0);
    assert_eq!(p.window.end.timestamp_millis(), T0 + 120_000);
    assert_eq!(p.state.get("k").map(String::as_str), Some("v"));
    assert_eq!(p.shard_id.as_deref(), Some(SHARD0));
    let first: aws_lambda_events::event::kinesis::KinesisTimeWindowEvent = serde_json::from_str(&texts[0]).unwrap();
    assert_eq!(first.kinesis_event.records.len(), 1);
    assert!(first.time_window_properties.state.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Background runner
// ---------------------------------------------------------------------------------------------

#[test]
fn run_in_the_background_then_stop() {
    let e = env(2);
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let tx = Mutex::new(tx);
    let h: Arc<dyn Handler> = Arc::new(move |ev: &KinesisEvent| {
        tx.lock().unwrap().send(ev.records.len()).unwrap();
        Ok(HandlerResponse::success())
    });
    let m = EventSourceMapping::new(&e.engine, config(), h).unwrap();
    let running = m.run(Duration::from_millis(2));
    for i in 0..20 {
        put(&e.engine, &format!("k{i}"), "x");
    }
    let mut total = 0;
    while total < 20 {
        total += rx.recv_timeout(Duration::from_secs(30)).expect("records delivered by the runner");
    }
    assert_eq!(total, 20);
    assert!(running.last_error().is_none());
    let m = running.stop();
    let cps = m.checkpoints().unwrap();
    assert_eq!(cps.len(), 2);
    assert!(cps.iter().all(|c| c.last_processed.is_some()));
    drop(e.dir);
}

// ---------------------------------------------------------------------------------------------
// Enhanced fan-out
// ---------------------------------------------------------------------------------------------

fn register(e: &Engine, stream: &str, name: &str) -> String {
    let arn = e.describe_stream_summary(StreamRef::name(stream)).unwrap().stream_arn;
    e.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: arn,
        consumer_name: name.into(),
        stream_id: None,
        tags: Default::default(),
    })
    .unwrap()
    .consumer_arn
}

#[test]
fn enhanced_fan_out_reads_through_the_consumer_across_reshard_lifetime_and_restart() {
    let e = env(1);
    let consumer = register(&e.engine, "s", "lambda");
    let h = Recorder::ok();
    let mut c = config();
    c.consumer_arn = Some(consumer.clone());
    c.batch_size = 3;
    let mut m = mapping(&e.engine, c.clone(), &h);
    put_n(&e.engine, "k", "a", 5);
    drain(&mut m);
    assert_eq!(h.batches(), vec![strs(&["a0", "a1", "a2"]), strs(&["a3", "a4"])]);
    // Past the subscription's 5-minute lifetime: a new subscription goes on after the last record.
    e.clock.advance(Duration::from_secs(301));
    put_n(&e.engine, "k", "b", 2);
    drain(&mut m);
    // A split: the parent's final event ends it; the children follow.
    e.clock.advance(Duration::from_secs(5));
    split(&e.engine, SHARD0);
    put_n(&e.engine, "k", "c", 2);
    drain(&mut m);
    let shards: Vec<String> = h.calls().iter().map(|c| c.shard.clone().unwrap()).collect();
    assert!(shards.last().unwrap() != SHARD0);
    assert!(checkpoint(&m, SHARD0).unwrap().finished);
    drop(m);
    // Restart: resumes after the checkpoints.
    put_n(&e.engine, "k", "d", 1);
    let mut m = mapping(&e.engine, c.clone(), &h);
    drain(&mut m);
    assert_eq!(h.delivered(), strs(&["a0", "a1", "a2", "a3", "a4", "b0", "b1", "c0", "c1", "d0"]));
    // It really reads through the consumer: once the consumer is deregistered, reading fails
    // (and the records stay for a polling mapping).
    drop(m);
    let mut m = mapping(&e.engine, c.clone(), &h);
    e.engine.deregister_stream_consumer(ConsumerRef { consumer_arn: Some(consumer), ..Default::default() }).unwrap();
    put_n(&e.engine, "k", "e", 1);
    assert!(m.poll_once().is_err());
    assert_eq!(h.delivered().last().unwrap(), "d0");
    drop(m);
    let mut m = EventSourceMapping::new(&e.engine, config(), h.clone()).unwrap();
    drain(&mut m);
    assert_eq!(h.delivered().last().unwrap(), "e0");
    assert!(matches!(EventSourceMapping::new(&e.engine, c, h.clone()), Err(Error::ResourceNotFound { .. })));
}

#[test]
fn enhanced_fan_out_consumer_must_belong_to_the_stream() {
    let e = env(1);
    e.engine
        .create_stream(CreateStreamInput { stream_name: "other".into(), shard_count: Some(1), ..Default::default() })
        .unwrap();
    let foreign = register(&e.engine, "other", "x");
    let mut c = config();
    c.consumer_arn = Some(foreign);
    assert!(matches!(
        EventSourceMapping::new(&e.engine, c.clone(), Recorder::ok()),
        Err(Error::InvalidArgument { .. })
    ));
    c.consumer_arn = Some("arn:aws:kinesis:us-east-1:000000000000:stream/s".into());
    match c.validate(T0) {
        Err(Error::InvalidArgument { message }) => assert!(message.starts_with("EventSourceArn"), "{message}"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// FilterCriteria
// ---------------------------------------------------------------------------------------------

fn with_filter(c: &mut EventSourceConfig, patterns: &[&str]) {
    c.filter = Some(FilterCriteria::parse(patterns).unwrap().into_record_filter());
}

#[test]
fn filtered_records_are_never_delivered_and_the_checkpoint_passes_them() {
    let e = env(1);
    let mut seqs = Vec::new();
    for (i, kind) in ["buy", "sell", "buy", "sell", "sell"].iter().enumerate() {
        let body = format!(r#"{{"n": {i}, "order": {{"type": "{kind}"}}}}"#);
        seqs.push(put(&e.engine, "k", &body).sequence_number);
    }
    put(&e.engine, "k", "not json at all");
    let h = Recorder::ok();
    let mut c = config();
    with_filter(&mut c, &[r#"{"data": {"order": {"type": ["buy"]}}}"#]);
    let mut m = mapping(&e.engine, c, &h);
    let r = m.poll_once().unwrap();
    assert_eq!(r.records_read, 6);
    assert_eq!(r.records_filtered, 4, "three sells and the non-JSON record are dropped");
    let delivered: Vec<Value> = h.delivered().iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    assert_eq!(delivered.iter().map(|v| v["n"].as_i64().unwrap()).collect::<Vec<_>>(), vec![0, 2]);
    // The trailing dropped records are checkpointed too: a restart delivers nothing again.
    let last = m.checkpoints().unwrap()[0].last_processed.unwrap();
    assert!(last > seqs[4], "the checkpoint is past every dropped record");
    let h2 = Recorder::ok();
    let mut again = mapping(&e.engine, config(), &h2);
    drain(&mut again);
    assert!(h2.calls().is_empty(), "nothing is redelivered after the filtered tail");
}

#[test]
fn a_filter_without_data_matches_metadata_whatever_the_data_is() {
    let e = env(1);
    put(&e.engine, "keep-1", "binary \u{1}");
    put(&e.engine, "drop-1", "{\"a\": 1}");
    put(&e.engine, "keep-2", "{\"a\": 2}");
    let h = Recorder::ok();
    let mut c = config();
    // Two filters: ORed.
    with_filter(&mut c, &[r#"{"partitionKey": [{"prefix": "keep-"}]}"#, r#"{"data": {"a": [{"numeric": [">", 5]}]}}"#]);
    let mut m = mapping(&e.engine, c, &h);
    drain(&mut m);
    assert_eq!(h.delivered(), strs(&["binary \u{1}", "{\"a\": 2}"]));
}

#[test]
fn a_long_filtered_stretch_is_read_in_bounded_steps_and_checkpointed() {
    let e = env(1);
    const N: usize = 70_000;
    let recs: Vec<PutRecordsRequestEntry> = (0..N)
        .map(|i| PutRecordsRequestEntry {
            data: Bytes::from(format!("{{\"i\": {i}}}")),
            partition_key: Some("k".into()),
            explicit_hash_key: None,
        })
        .collect();
    for chunk in recs.chunks(500) {
        e.engine.put_records(PutRecordsInput { stream: s(), records: chunk.to_vec(), dry_run: false }).unwrap();
    }
    let last = put(&e.engine, "k", "{\"i\": \"last\"}").sequence_number;
    let h = Recorder::ok();
    let mut c = config();
    with_filter(&mut c, &[r#"{"data": {"i": ["last"]}}"#]);
    let mut m = mapping(&e.engine, c, &h);
    let first = m.poll_once().unwrap();
    assert!(first.records_read < N, "one step reads a bounded stretch, got {}", first.records_read);
    assert!(first.records_filtered > 0);
    assert_eq!(first.pending_records, 0, "dropped records are never pending");
    drain(&mut m);
    assert_eq!(h.delivered(), strs(&["{\"i\": \"last\"}"]));
    assert_eq!(checkpoint(&m, SHARD0).unwrap().last, Some(last));
}

#[test]
fn filtering_applies_before_tumbling_windows_and_lanes() {
    let e = env(1);
    for i in 0..6 {
        put(&e.engine, &format!("k{i}"), &format!("{{\"v\": {i}}}"));
    }
    let h = counting();
    let mut c = config();
    c.tumbling_window_in_seconds = 60;
    c.parallelization_factor = 2;
    with_filter(&mut c, &[r#"{"data": {"v": [{"numeric": [">=", 3]}]}}"#]);
    let mut m = mapping(&e.engine, c, &h);
    drain(&mut m);
    e.clock.advance(Duration::from_secs(61));
    drain(&mut m);
    let mut seen = h.delivered();
    seen.sort();
    assert_eq!(seen, strs(&["{\"v\": 3}", "{\"v\": 4}", "{\"v\": 5}"]));
    assert!(h.calls().iter().all(|c| c.window.is_some()));
    assert!(m.checkpoints().unwrap()[0].last_processed.is_some());
}

#[test]
fn a_batch_that_was_not_invoked_is_retried_without_counting_a_retry() {
    let e = env(1);
    put_n(&e.engine, "k", "r", 4);
    // Not invoked twice (e.g. the caller shutting down), then success; zero retries allowed.
    let h = Recorder::new(|_, i| {
        if i < 2 {
            Err(FunctionError::not_invoked("shutting down"))
        } else {
            Ok(HandlerResponse::success())
        }
    });
    let mut c = config();
    c.maximum_retry_attempts = 0;
    c.bisect_batch_on_function_error = true;
    let docs = collect_docs(&mut c);
    let mut m = mapping(&e.engine, c, &h);
    let r = m.poll_once().unwrap();
    assert_eq!((r.invocations, r.failed_invocations, r.records_discarded), (0, 0, 0));
    assert!(checkpoint(&m, SHARD0).unwrap().last.is_none(), "nothing is checkpointed");
    m.poll_once().unwrap();
    drain(&mut m);
    assert!(docs.lock().unwrap().is_empty(), "nothing was discarded");
    assert_eq!(h.batches(), vec![strs(&["r0", "r1", "r2", "r3"]); 3], "the whole batch each time, never bisected");
}
