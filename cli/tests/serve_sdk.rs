//! `shardlog serve` driven by the official Rust SDK (`aws-sdk-kinesis`, AWS JSON 1.1): the
//! server runs with `--verify-sigv4`, so every call also proves the SDK's SigV4 signature
//! verifies; `subscribe_to_shard` runs over HTTP/1.1 (the SDK's plain-http client) and over
//! HTTP/2 cleartext (a prior-knowledge hyper client plugged into the SDK).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

#[path = "../../server/tests/support/h2.rs"]
mod h2;
mod serve_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, StartingPosition, SubscribeToShardEventStream};
use aws_sdk_kinesis::Client;
use serve_support::Server;

const ACCESS_KEY: &str = "AKIDSHARDLOGTEST";
const SECRET_KEY: &str = "shardlog/secret/key/for/tests";

fn client(addr: std::net::SocketAddr, secret: &str, http: SharedHttpClient) -> Client {
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ACCESS_KEY, secret, None, None, "test"))
        .endpoint_url(format!("http://{addr}"))
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

/// The SDK's own hyper client without TLS (HTTP/1.1 against a plain-http endpoint).
fn http1() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

/// Subscribe LATEST, put one record with `producer`, and return the data pushed.
async fn subscribe_and_receive(c: &Client, producer: &Client, consumer_arn: &str, payload: &[u8]) -> Vec<Vec<u8>> {
    let start = StartingPosition::builder().r#type(ShardIteratorType::Latest).build().unwrap();
    let mut out = c
        .subscribe_to_shard()
        .consumer_arn(consumer_arn)
        .shard_id("shardId-000000000000")
        .starting_position(start)
        .send()
        .await
        .expect("subscribe_to_shard");
    producer
        .put_record()
        .stream_name("sdk")
        .partition_key("pk")
        .data(Blob::new(payload.to_vec()))
        .send()
        .await
        .unwrap();
    for _ in 0..20 {
        let ev = tokio::time::timeout(Duration::from_secs(30), out.event_stream.recv())
            .await
            .expect("no event within 30 s")
            .expect("event stream error")
            .expect("event stream ended early");
        let SubscribeToShardEventStream::SubscribeToShardEvent(ev) = ev else { panic!("unexpected event {ev:?}") };
        assert!(!ev.continuation_sequence_number().is_empty());
        if !ev.records().is_empty() {
            return ev.records().iter().map(|r| r.data().as_ref().to_vec()).collect();
        }
    }
    panic!("the pushed record never arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_round_trip_with_verified_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--verify-sigv4", "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY]);
    let c = client(server.addr, SECRET_KEY, http1());

    c.create_stream().stream_name("sdk").shard_count(2).send().await.unwrap();
    let names = c.list_streams().send().await.unwrap();
    assert_eq!(names.stream_names(), ["sdk"]);
    let shards = c.list_shards().stream_name("sdk").send().await.unwrap();
    assert_eq!(shards.shards().len(), 2);
    assert_eq!(
        shards.shards()[0].hash_key_range().unwrap().ending_hash_key(),
        "170141183460469231731687303715884105727"
    );

    // put / get: ExplicitHashKey 0 routes to shard 0.
    let mut seqs = Vec::new();
    for i in 0..5u8 {
        let r = c
            .put_record()
            .stream_name("sdk")
            .partition_key(format!("k{i}"))
            .explicit_hash_key("0")
            .data(Blob::new(vec![i; 10]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.shard_id(), "shardId-000000000000");
        seqs.push(r.sequence_number().to_string());
    }
    let it = c
        .get_shard_iterator()
        .stream_name("sdk")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let got = c.get_records().shard_iterator(it.shard_iterator().unwrap()).send().await.unwrap();
    assert_eq!(got.records().len(), 5);
    assert_eq!(got.records().iter().map(|r| r.sequence_number().to_string()).collect::<Vec<_>>(), seqs);
    assert_eq!(got.records()[3].data().as_ref(), &[3u8; 10][..]);
    assert_eq!(got.records()[3].partition_key(), Some("k3"));
    let arrival = got.records()[0].approximate_arrival_timestamp().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((arrival.secs() - now).abs() < 60, "arrival timestamp parsed as epoch seconds");
    assert!(got.next_shard_iterator().is_some());
    assert_eq!(got.millis_behind_latest(), Some(0));

    // Modeled errors come back typed.
    let err = c.describe_stream().stream_name("missing").send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(err.message(), Some("Stream missing under account 000000000000 not found."));

    // Enhanced fan-out over HTTP/1.1 (the SDK's own client) and HTTP/2 cleartext.
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/sdk";
    let c1 = c.register_stream_consumer().stream_arn(arn).consumer_name("h1").send().await.unwrap();
    let c2 = c.register_stream_consumer().stream_arn(arn).consumer_name("h2").send().await.unwrap();
    let data = subscribe_and_receive(&c, &c, c1.consumer().unwrap().consumer_arn(), b"over http/1.1").await;
    assert_eq!(data, vec![b"over http/1.1".to_vec()]);
    let h2 = h2::H2::new(hyper_util::client::legacy::connect::HttpConnector::new());
    let c_h2 = client(server.addr, SECRET_KEY, SharedHttpClient::new(h2.clone()));
    let data = subscribe_and_receive(&c_h2, &c, c2.consumer().unwrap().consumer_arn(), b"over h2c").await;
    assert_eq!(data, vec![b"over h2c".to_vec()]);
    assert!(h2.saw_h2.load(Ordering::SeqCst), "the subscription did not use HTTP/2");

    // A wrong secret fails signature verification; an unknown key id is unrecognized.
    let bad = client(server.addr, "not-the-secret", http1());
    let err = bad.list_streams().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDUNKNOWN", SECRET_KEY, None, None, "test"))
        .endpoint_url(format!("http://{}", server.addr))
        .http_client(http1())
        .build();
    let err = Client::from_conf(conf).list_streams().send().await.unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));

    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(status.success());
}
