//! The server started from test code (`Server::builder()…start()` on port 0) and driven with
//! the official Rust SDK: the handle's address and shutdown, health through a shutdown,
//! start-up streams across restarts, and `/metrics` equal to what the test put and read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod support;

use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, StartingPosition, StreamMode, SubscribeToShardEventStream};
use shardlog::engine::{DescribeStreamInput, StreamRef};
use shardlog::{Engine, EngineConfig, Limits};
use shardlog_server::serve::{Server, ServerHandle, StartupStream};
use support::{get, get_with, http1, sample, sdk, try_sample};

/// Shut down from async code (the call blocks until the server thread is done).
async fn shutdown(server: ServerHandle) {
    tokio::task::spawn_blocking(move || server.shutdown()).await.unwrap().expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_port_0_serves_the_sdk_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::builder().dir(dir.path()).create_stream(StartupStream::provisioned("orders", 2)).start().unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0, "the real port is reported");
    assert_eq!(server.url(), format!("http://{addr}"));

    // Ready when start() returns: healthy, and the start-up stream is there on the first call.
    let health = get(addr, "/healthcheck");
    assert_eq!((health.status, health.body.as_str()), (200, r#"{"status":"ok"}"#));
    assert!(health.headers.contains("content-type: application/json"), "{}", health.headers);
    assert_eq!(get(addr, "/health").status, 200);
    let c = sdk(&server.url(), http1());
    assert_eq!(c.list_streams().send().await.unwrap().stream_names(), ["orders"]);

    let put = c.put_record().stream_name("orders").partition_key("k").data(Blob::new(b"hello".to_vec())).send().await;
    let put = put.unwrap();
    let it = c
        .get_shard_iterator()
        .stream_name("orders")
        .shard_id(put.shard_id())
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let got = c.get_records().shard_iterator(it.shard_iterator().unwrap()).send().await.unwrap();
    assert_eq!(got.records().len(), 1);
    assert_eq!(got.records()[0].data().as_ref(), b"hello");
    assert_eq!(got.records()[0].sequence_number(), put.sequence_number());

    shutdown(server).await;
    assert!(std::net::TcpStream::connect(addr).is_err(), "the port is closed after shutdown");
    // The lock is released and the log was closed cleanly: the record is there on reopen.
    let engine = Engine::open(dir.path(), EngineConfig::default()).expect("reopen after shutdown");
    let d = engine
        .describe_stream(DescribeStreamInput { stream: StreamRef::name("orders"), ..Default::default() })
        .unwrap();
    assert_eq!(d.shards.len(), 2);
    engine.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_503_from_the_start_of_shutdown_while_the_api_is_still_served() {
    let server = Server::builder().start().unwrap();
    let addr = server.local_addr();
    assert_eq!(get(addr, "/healthcheck").status, 200);
    server.begin_shutdown();
    let h = get(addr, "/healthcheck");
    assert_eq!((h.status, h.body.as_str()), (503, r#"{"status":"shutting down"}"#));
    assert_eq!(get(addr, "/health").status, 503);
    // Draining, not refusing: the API still answers.
    let c = sdk(&server.url(), http1());
    c.create_stream().stream_name("late").shard_count(1).send().await.expect("served while draining");
    shutdown(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_need_no_authentication_and_other_gets_stay_kinesis_errors() {
    let server = Server::builder().verify_sigv4("AKID", "secret").start().unwrap();
    let addr = server.local_addr();
    assert_eq!(get(addr, "/healthcheck").status, 200);
    let m = get(addr, "/metrics");
    assert_eq!(m.status, 200);
    assert!(m.headers.contains("content-type: text/plain; version=0.0.4"), "{}", m.headers);
    let om = get_with(addr, "/metrics", &[("Accept", "application/openmetrics-text; version=1.0.0")]);
    assert!(om.headers.contains("application/openmetrics-text"), "{}", om.headers);
    assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
    // Kinesis answers any other GET with 403 AccessDeniedException.
    assert_eq!(get(addr, "/").status, 403);
    assert_eq!(get(addr, "/other").status, 403);
    shutdown(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_streams_are_kept_as_they_are_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::builder()
        .dir(dir.path())
        .create_stream(StartupStream::provisioned("orders", 2))
        .create_stream(StartupStream::on_demand("events"))
        .start()
        .unwrap();
    let c = sdk(&first.url(), http1());
    let put = c.put_record().stream_name("orders").partition_key("k").data(Blob::new(b"kept".to_vec())).send();
    let put = put.await.unwrap();
    shutdown(first).await;

    // Restart over the same directory, asking for a different capacity and one new stream.
    let second = Server::builder()
        .dir(dir.path())
        .create_stream(StartupStream::provisioned("orders", 5))
        .create_stream(StartupStream::on_demand("events"))
        .create_stream(StartupStream::provisioned("fresh", 1))
        .start()
        .expect("an existing start-up stream is not an error");
    let c = sdk(&second.url(), http1());
    let mut names = c.list_streams().send().await.unwrap().stream_names().to_vec();
    names.sort();
    assert_eq!(names, ["events", "fresh", "orders"]);
    let orders = c.describe_stream_summary().stream_name("orders").send().await.unwrap();
    let orders = orders.stream_description_summary().unwrap();
    assert_eq!(orders.open_shard_count(), 2, "the existing stream keeps its shards");
    let events = c.describe_stream_summary().stream_name("events").send().await.unwrap();
    let mode = events.stream_description_summary().unwrap().stream_mode_details().unwrap().stream_mode();
    assert_eq!(mode, &StreamMode::OnDemand);
    let it = c
        .get_shard_iterator()
        .stream_name("orders")
        .shard_id(put.shard_id())
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let got = c.get_records().shard_iterator(it.shard_iterator().unwrap()).send().await.unwrap();
    assert_eq!(got.records()[0].data().as_ref(), b"kept");
    shutdown(second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_equal_what_the_test_put_and_read() {
    let server = Server::builder().create_stream(StartupStream::provisioned("m", 2)).start().unwrap();
    let addr = server.local_addr();
    let c = sdk(&server.url(), http1());

    // Puts: 7 single records and a PutRecords of 5, all to shard 0 (explicit hash key 0).
    let mut put_bytes = 0usize;
    for i in 0..7u8 {
        let data = vec![i; 10 + i as usize];
        let key = format!("key-{i}");
        put_bytes += data.len() + key.len();
        c.put_record()
            .stream_name("m")
            .partition_key(key)
            .explicit_hash_key("0")
            .data(Blob::new(data))
            .send()
            .await
            .unwrap();
    }
    let mut batch = c.put_records().stream_name("m");
    for i in 0..5u8 {
        let data = vec![i; 100];
        put_bytes += data.len() + 2;
        batch = batch.records(
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key(format!("b{i}"))
                .explicit_hash_key("0")
                .data(Blob::new(data))
                .build()
                .unwrap(),
        );
    }
    assert_eq!(batch.send().await.unwrap().failed_record_count(), Some(0));

    // Reads: everything through GetRecords in pages of 5.
    let mut it = c
        .get_shard_iterator()
        .stream_name("m")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .unwrap()
        .to_string();
    let (mut read, mut read_bytes, mut calls) = (0usize, 0usize, 0u32);
    loop {
        let out = c.get_records().shard_iterator(&it).limit(5).send().await.unwrap();
        calls += 1;
        for r in out.records() {
            read += 1;
            let data: &[u8] = r.data().as_ref();
            let key: &str = r.partition_key().unwrap_or_default();
            read_bytes += data.len() + key.len();
        }
        it = out.next_shard_iterator().unwrap().to_string();
        if out.records().is_empty() {
            break;
        }
    }
    assert_eq!((read, read_bytes), (12, put_bytes));

    // Push: a consumer subscribed from TRIM_HORIZON receives the 12 records.
    let consumer = c
        .register_stream_consumer()
        .stream_arn(
            c.describe_stream_summary()
                .stream_name("m")
                .send()
                .await
                .unwrap()
                .stream_description_summary()
                .unwrap()
                .stream_arn(),
        )
        .consumer_name("metrics")
        .send()
        .await
        .unwrap();
    let arn = consumer.consumer().unwrap().consumer_arn().to_string();
    let mut sub = c
        .subscribe_to_shard()
        .consumer_arn(&arn)
        .shard_id("shardId-000000000000")
        .starting_position(StartingPosition::builder().r#type(ShardIteratorType::TrimHorizon).build().unwrap())
        .send()
        .await
        .unwrap();
    let mut pushed = 0usize;
    while pushed < 12 {
        let ev =
            tokio::time::timeout(Duration::from_secs(30), sub.event_stream.recv()).await.unwrap().unwrap().unwrap();
        if let SubscribeToShardEventStream::SubscribeToShardEvent(ev) = ev {
            pushed += ev.records().len();
        }
    }
    assert_eq!(pushed, 12);
    drop(sub);

    let text = get(addr, "/metrics").body;
    let s = r#"{stream="m"}"#;
    assert_eq!(sample(&text, &format!("kinesis_incoming_records_total{s}")), 12.0);
    assert_eq!(sample(&text, &format!("kinesis_incoming_bytes_total{s}")), put_bytes as f64);
    assert_eq!(sample(&text, &format!("kinesis_get_records_records_total{s}")), 12.0);
    assert_eq!(sample(&text, &format!("kinesis_get_records_bytes_total{s}")), read_bytes as f64);
    assert_eq!(sample(&text, &format!("kinesis_get_records_iterator_age_milliseconds{s}")), 0.0, "caught up");
    assert_eq!(sample(&text, &format!("kinesis_subscribe_to_shard_event_records_total{s}")), 12.0);
    assert_eq!(sample(&text, &format!("kinesis_subscribe_to_shard_event_bytes_total{s}")), put_bytes as f64);
    assert_eq!(sample(&text, &format!("kinesis_subscribe_to_shard_event_millis_behind_latest{s}")), 0.0);
    assert_eq!(sample(&text, &format!("kinesis_write_provisioned_throughput_exceeded_total{s}")), 0.0);
    assert_eq!(sample(&text, &format!("kinesis_read_provisioned_throughput_exceeded_total{s}")), 0.0);
    assert_eq!(sample(&text, &format!("shardlog_open_shards{s}")), 2.0);
    assert!(sample(&text, &format!("shardlog_stream_bytes_on_disk{s}")) >= put_bytes as f64);
    assert!(!text.contains("shard_id="), "no shard-level series without enhanced monitoring");
    // Per operation: every call above, with its status, and as many latency observations.
    let ok = |op: &str| sample(&text, &format!(r#"shardlog_requests_total{{operation="{op}",status="200"}}"#));
    assert_eq!(ok("PutRecord"), 7.0);
    assert_eq!(ok("PutRecords"), 1.0);
    assert_eq!(ok("GetRecords"), f64::from(calls));
    assert_eq!(ok("SubscribeToShard"), 1.0);
    assert_eq!(sample(&text, r#"shardlog_request_duration_seconds_count{operation="PutRecord"}"#), 7.0);
    assert_eq!(sample(&text, r#"shardlog_request_duration_seconds_bucket{operation="PutRecord",le="+Inf"}"#), 7.0);
    // A failed call is counted under its status.
    let e = c.describe_stream_summary().stream_name("missing").send().await;
    assert!(e.is_err());
    let text = get(addr, "/metrics").body;
    assert_eq!(sample(&text, r#"shardlog_requests_total{operation="DescribeStreamSummary",status="400"}"#), 1.0);
    assert!(try_sample(&text, "process_open_fds").is_some_and(|n| n > 0.0));
    shutdown(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enhanced_monitoring_adds_per_shard_series_for_the_enabled_metrics_only() {
    let server = Server::builder().create_stream(StartupStream::provisioned("e", 2)).start().unwrap();
    let addr = server.local_addr();
    let c = sdk(&server.url(), http1());
    let put = |hash: &'static str, n: usize| {
        let c = c.clone();
        async move {
            for i in 0..n {
                c.put_record()
                    .stream_name("e")
                    .partition_key(format!("k{i}"))
                    .explicit_hash_key(hash)
                    .data(Blob::new(vec![7u8; 4]))
                    .send()
                    .await
                    .unwrap();
            }
        }
    };
    // Before enabling: stream series only.
    put("0", 1).await;
    assert!(!get(addr, "/metrics").body.contains("shard_id="), "no shard series before EnableEnhancedMonitoring");

    let enabled = c
        .enable_enhanced_monitoring()
        .stream_name("e")
        .shard_level_metrics(aws_sdk_kinesis::types::MetricsName::IncomingRecords)
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.desired_shard_level_metrics().len(), 1);
    // Shard 0 owns the lower half of the hash-key space, shard 1 the upper half.
    put("0", 2).await;
    put("340282366920938463463374607431768211455", 3).await;

    let text = get(addr, "/metrics").body;
    let shard = |id: &str| format!(r#"kinesis_incoming_records_total{{stream="e",shard_id="{id}"}}"#);
    // The counters count from the shard's open, so the record put before enabling is in shard 0's.
    assert_eq!(sample(&text, &shard("shardId-000000000000")), 3.0);
    assert_eq!(sample(&text, &shard("shardId-000000000001")), 3.0);
    assert_eq!(sample(&text, r#"kinesis_incoming_records_total{stream="e"}"#), 6.0);
    let shard_series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#') && l.contains("shard_id=")).collect();
    assert_eq!(shard_series.len(), 2, "only IncomingRecords per shard: {shard_series:?}");

    c.disable_enhanced_monitoring()
        .stream_name("e")
        .shard_level_metrics(aws_sdk_kinesis::types::MetricsName::All)
        .send()
        .await
        .unwrap();
    assert!(!get(addr, "/metrics").body.contains("shard_id="), "disabled again: stream series only");
    shutdown(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_writes_and_reads_are_counted_as_the_responses_said() {
    let server = Server::builder().limits(Limits::kinesis()).create_stream(StartupStream::provisioned("t", 1)).start();
    let server = server.unwrap();
    let addr = server.local_addr();
    let c = sdk(&server.url(), http1());

    // Writes: 500-record batches until the shard's 1,000 records/s limit refuses some.
    let mut refused = 0;
    for _ in 0..100 {
        let mut batch = c.put_records().stream_name("t");
        for i in 0..500 {
            batch = batch.records(
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{i}"))
                    .data(Blob::new(vec![1u8; 8]))
                    .build()
                    .unwrap(),
            );
        }
        refused += batch.send().await.unwrap().failed_record_count().unwrap_or(0);
        if refused > 0 {
            break;
        }
    }
    assert!(refused > 0, "the write limit never refused a record");

    // Reads: GetRecords until the 5 calls/s limit refuses one.
    let it = c
        .get_shard_iterator()
        .stream_name("t")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::Latest)
        .send()
        .await
        .unwrap();
    let mut it = it.shard_iterator().unwrap().to_string();
    let mut throttled = 0;
    for _ in 0..1000 {
        match c.get_records().shard_iterator(&it).send().await {
            Ok(out) => it = out.next_shard_iterator().unwrap().to_string(),
            Err(e) => {
                assert!(e.into_service_error().is_provisioned_throughput_exceeded_exception());
                throttled += 1;
                break;
            }
        }
    }
    assert_eq!(throttled, 1, "the read limit never refused a call");

    let text = get(addr, "/metrics").body;
    let s = r#"{stream="t"}"#;
    assert_eq!(sample(&text, &format!("kinesis_write_provisioned_throughput_exceeded_total{s}")), f64::from(refused));
    assert_eq!(sample(&text, &format!("kinesis_read_provisioned_throughput_exceeded_total{s}")), 1.0);
    shutdown(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_engine_stays_open_for_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let server = Server::builder().engine(engine.clone()).start().unwrap();
    let c = sdk(&server.url(), http1());
    c.create_stream().stream_name("shared").shard_count(1).send().await.unwrap();
    shutdown(server).await;
    // The owner's handle still works after the server is gone.
    let d = engine.describe_stream_summary(StreamRef::name("shared")).unwrap();
    assert_eq!(d.open_shard_count, 1);
    engine.close().unwrap();
}

#[test]
fn bad_settings_are_usage_errors_and_a_taken_port_a_run_error() {
    let e = Server::builder().account("12").start().unwrap_err();
    assert!(matches!(e, shardlog_server::ServeError::Usage(ref m) if m.contains("12 digits")), "{e}");
    let first = Server::builder().start().unwrap();
    let e = Server::builder().addr(first.local_addr()).start().unwrap_err();
    assert!(matches!(e, shardlog_server::ServeError::Run(ref m) if m.contains("cannot listen")), "{e}");
    first.shutdown().unwrap();
}
