//! Lambda event-source mapping throughput: records per second delivered from a pre-filled
//! one-shard stream (100,000 × 100 B records, 1,000 partition keys) through a mapping of the
//! server's Lambda side to
//!
//! - a trivial HTTP function: the Lambda Invoke API served in this process (hyper, answers
//!   `{}`), so the figure is shardlog's cost — event JSON, SigV4 signing, the HTTP exchange,
//!   reading and judging the response — not a function runtime's;
//! - a command function (`--lambda-command noop='cat >/dev/null; echo {}'`): a process per
//!   batch;
//!
//! beside the in-process driver with a no-op Rust handler (the `event_source` bench's
//! figure), measured in the same run, with `BatchSize` 100 and 10,000. Each run creates a
//! mapping at `TRIM_HORIZON` and steps its poller until every record was delivered (reads,
//! events, invocations and checkpoints all counted). The table gives the median of the runs
//! and the ratio to the in-process driver.
//!
//! Run: `cargo bench -p shardlog-server --bench lambda` (`-- --quick`: 20,000 records, one
//! run each).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

#[path = "../../benches/support/event_source.rs"]
mod support;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use shardlog::engine::StreamRef;
use shardlog::event_source::{EventSourceConfig, EventSourceMapping, EventSourcePosition};
use shardlog::{Durability, Engine, EngineConfig};
use shardlog_server::lambda::{Lambda, LambdaConfig};
use shardlog_server::outbound::Credentials;
use support::{prefill, Noop, RECORD_BYTES};

const STREAM: &str = "bench";
const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/bench";

/// The in-process driver and a no-op handler: seconds to deliver everything.
fn in_process(engine: &Engine, records: usize, batch_size: u32) -> Duration {
    let handler = Arc::new(Noop(AtomicUsize::new(0)));
    let mut cfg = EventSourceConfig::new(
        StreamRef::name(STREAM),
        "arn:aws:lambda:us-east-1:000000000000:function:noop",
        EventSourcePosition::TrimHorizon,
    );
    cfg.batch_size = batch_size;
    let uuid = cfg.uuid.clone();
    let started = Instant::now();
    let mut m = EventSourceMapping::new(engine, cfg, handler.clone()).unwrap();
    while handler.0.load(Ordering::Relaxed) < records {
        m.poll_once().unwrap();
    }
    let took = started.elapsed();
    drop(m);
    engine.delete_checkpoints(&StreamRef::name(STREAM), &uuid).unwrap();
    took
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

/// Through the server's Lambda side (manual stepping) to `function`.
fn through_lambda(lambda: &Lambda, function: &str, records: usize, batch_size: u32) -> Duration {
    let body = serde_json::json!({
        "FunctionName": function, "EventSourceArn": STREAM_ARN, "StartingPosition": "TRIM_HORIZON", "BatchSize": batch_size,
    })
    .to_string();
    let started = Instant::now();
    let r = lambda.handle(
        &Method::POST,
        "/2015-03-31/event-source-mappings/",
        None,
        Some("localhost"),
        &headers(),
        body.as_bytes(),
    );
    assert_eq!(r.status.as_u16(), 202, "{}", String::from_utf8_lossy(&r.body));
    let uuid = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["UUID"].as_str().unwrap().to_string();
    let delivered = |l: &Lambda| {
        l.registry()
            .counters()
            .into_iter()
            .find(|c| c.uuid == uuid)
            .map_or(0, |c| c.counters.records_delivered as usize)
    };
    while delivered(lambda) < records {
        lambda.step(&uuid).expect("the mapping runs");
        let c = lambda.registry().counters().into_iter().find(|c| c.uuid == uuid).unwrap().counters;
        assert_eq!(c.failed_invocations, 0, "the function failed");
    }
    let took = started.elapsed();
    let path = format!("/2015-03-31/event-source-mappings/{uuid}");
    let r = lambda.handle(&Method::DELETE, &path, None, Some("localhost"), &headers(), b"");
    assert_eq!(r.status.as_u16(), 202);
    took
}

/// A trivial function behind the Lambda Invoke API: reads the event, answers `{}`.
fn start_function(rt: &tokio::runtime::Runtime) -> std::net::SocketAddr {
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (records, runs) = if quick { (20_000, 1) } else { (100_000, 3) };
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(
        dir.path(),
        EngineConfig { durability: Durability::Buffered, retention_check_interval: None, ..EngineConfig::default() },
    )
    .unwrap();
    prefill(&engine, STREAM, records);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let function = start_function(&rt);
    let config = LambdaConfig {
        endpoint: Some(format!("http://{function}")),
        commands: vec![("noop-command".into(), "cat >/dev/null; echo '{}'".into())],
        timeout: Duration::from_secs(60),
        sqs_endpoint: None,
        poll_interval: Duration::from_millis(1),
        credentials: Credentials { access_key: "AKID".into(), secret_key: "secret".into(), session_token: None },
        manual: true,
        verifier: None,
        max_body_bytes: 1 << 20,
    };
    let lambda = Lambda::open(&engine, config).unwrap();
    println!("{records} records of {RECORD_BYTES} B on one shard; median of {runs} run(s)\n");
    println!("| BatchSize | path | records/s | ratio to the in-process driver |");
    println!("|---|---|---|---|");
    for batch_size in [100u32, 10_000] {
        let base = median((0..runs).map(|_| in_process(&engine, records, batch_size)).collect());
        let http = median((0..runs).map(|_| through_lambda(&lambda, "noop-http", records, batch_size)).collect());
        let cmd = median((0..runs).map(|_| through_lambda(&lambda, "noop-command", records, batch_size)).collect());
        let rate = |d: Duration| records as f64 / d.as_secs_f64();
        println!("| {batch_size} | in-process driver, no-op handler | {:.0} | 1 |", rate(base));
        println!(
            "| {batch_size} | Invoke API to a trivial HTTP function | {:.0} | {:.3} |",
            rate(http),
            rate(http) / rate(base)
        );
        println!(
            "| {batch_size} | `--lambda-command` (`cat >/dev/null; echo {{}}`) | {:.0} | {:.3} |",
            rate(cmd),
            rate(cmd) / rate(base)
        );
    }
    lambda.shutdown();
}
