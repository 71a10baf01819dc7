//! `shardlog serve` against the AWS behaviours of issue #13, one test per rule, over raw
//! HTTP: every validation error at once, empty 200 bodies, `EncryptionType` omission (and
//! `KMS` on encrypted streams), the
//! content-type rules for empty, plain-JSON and unparseable bodies, CORS preflights, SigV4
//! over HTTP/2 with `:authority` signed, stream names `.` and `..`, shard-id precedence, the
//! status-delay and shard-limit flags, and a bounded answer to a huge invalid batch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod serve_support;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ciborium::Value as Cbor;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use serve_support::*;
use sha2::{Digest, Sha256};

const JSON: &str = "application/x-amz-json-1.1";
const CBOR: &str = "application/x-amz-cbor-1.1";

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn cbor_of(r: &Resp) -> Cbor {
    ciborium::de::from_reader(&r.body[..]).unwrap_or_else(|e| panic!("body is not CBOR ({e}): {:?}", r.body))
}

fn cbor_type(r: &Resp) -> String {
    let Cbor::Map(m) = cbor_of(r) else { panic!("not a map") };
    m.iter()
        .find(|(k, _)| *k == Cbor::Text("__type".into()))
        .and_then(|(_, v)| v.as_text().map(str::to_string))
        .expect("__type")
}

#[test]
fn every_violation_is_reported_in_one_validation_exception() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    let r = call_json(a, "CreateStream", &json!({"StreamName": "", "ShardCount": 0}));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"__type": "ValidationException", "message":
            "3 validation errors detected: \
             Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1; \
             Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: \
             [a-zA-Z0-9_.-]+; \
             Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"})
    );
    // A 513-character iterator and Limit 100000: two items of one ValidationException, not an
    // InvalidArgumentException about the limit.
    let it = "A".repeat(513);
    let r = call_json(a, "GetRecords", &json!({"ShardIterator": it, "Limit": 100000}));
    assert_eq!(r.error_type(), "ValidationException");
    let m = r.json()["message"].as_str().unwrap().to_string();
    assert!(m.starts_with("2 validation errors detected: Value '100000' at 'limit'"), "{m}");
    assert!(m.ends_with(
        "at 'shardIterator' failed to satisfy constraint: Member must have length less than or equal to 512"
    ));
    // The validator runs before anything else: a missing stream is not looked up.
    let r = call_json(a, "PutRecord", &json!({"StreamName": "missing", "PartitionKey": "", "Data": ""}));
    assert_eq!(r.error_type(), "ValidationException");
    assert!(server.terminate().success());
}

#[test]
fn a_hundred_thousand_bad_entries_get_a_bounded_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let body = format!(r#"{{"StreamName":"s","Records":[{}]}}"#, vec!["{}"; 100_000].join(","));
    let r = request(server.addr, "POST", &api_headers("Kinesis_20131202.PutRecords", JSON), body.as_bytes());
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "ValidationException");
    let m = r.json()["message"].as_str().unwrap().to_string();
    // The true total (100,000 missing Data + the list's size) is counted, ten are listed.
    assert!(m.starts_with("100001 validation errors detected: "), "{}", &m[..60]);
    assert_eq!(m.matches("failed to satisfy constraint").count(), 10);
    assert!(r.body.len() < 16 * 1024, "a {} byte answer", r.body.len());
    assert!(server.terminate().success());
}

#[test]
fn operations_without_output_answer_200_with_an_empty_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    let empty = |op: &str, body: Value| {
        let r = call_json(a, op, &body);
        assert_eq!(r.status, 200, "{op}: {}", r.text());
        assert_eq!(r.header("content-length"), Some("0"), "{op}");
        assert!(r.body.is_empty(), "{op}: {}", r.text());
    };
    empty("CreateStream", json!({"StreamName": "s", "ShardCount": 2}));
    empty("AddTagsToStream", json!({"StreamName": "s", "Tags": {"a": "b"}}));
    empty("RemoveTagsFromStream", json!({"StreamName": "s", "TagKeys": ["a"]}));
    empty("IncreaseStreamRetentionPeriod", json!({"StreamName": "s", "RetentionPeriodHours": 48}));
    empty("DecreaseStreamRetentionPeriod", json!({"StreamName": "s", "RetentionPeriodHours": 24}));
    empty(
        "SplitShard",
        json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "1000"}),
    );
    empty(
        "MergeShards",
        json!({"StreamName": "s", "ShardToMerge": "shardId-000000000002", "AdjacentShardToMerge": "shardId-000000000003"}),
    );
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s";
    empty("UpdateMaxRecordSize", json!({"StreamARN": arn, "MaxRecordSizeInKiB": 2048}));
    // In CBOR too.
    let r = call_cbor(a, "DeleteStream", &Cbor::Map(vec![(Cbor::Text("StreamName".into()), Cbor::Text("s".into()))]));
    assert_eq!((r.status, r.header("content-length"), r.header("content-type")), (200, Some("0"), Some(CBOR)));
    // Operations with an output still answer with a body.
    assert_eq!(ok_json(a, "ListStreams", json!({}))["StreamNames"], json!([]));
    assert!(server.terminate().success());
}

#[test]
fn puts_omit_encryption_type_on_unencrypted_streams_and_descriptions_keep_none() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    ok_json(a, "CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    let r = ok_json(a, "PutRecord", json!({"StreamName": "s", "PartitionKey": "k", "Data": b64(b"x")}));
    assert!(r.get("EncryptionType").is_none(), "{r}");
    assert!(r["SequenceNumber"].is_string());
    let r = ok_json(a, "PutRecords", json!({"StreamName": "s", "Records": [{"PartitionKey": "k", "Data": ""}]}));
    assert!(r.get("EncryptionType").is_none(), "{r}");
    assert_eq!(r["FailedRecordCount"], 0);
    let d = ok_json(a, "DescribeStream", json!({"StreamName": "s"}));
    assert_eq!(d["StreamDescription"]["EncryptionType"], "NONE");
    let d = ok_json(a, "DescribeStreamSummary", json!({"StreamName": "s"}));
    assert_eq!(d["StreamDescriptionSummary"]["EncryptionType"], "NONE");
    assert!(server.terminate().success());
}

#[test]
fn puts_and_records_of_kms_encrypted_streams_say_kms() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    ok_json(a, "CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    // StartStreamEncryption has no output: 200 with an empty body.
    let key = "alias/aws/kinesis";
    let r = call_json(a, "StartStreamEncryption", &json!({"StreamName": "s", "EncryptionType": "KMS", "KeyId": key}));
    assert_eq!((r.status, r.body.len()), (200, 0), "{}", r.text());
    let put = ok_json(a, "PutRecord", json!({"StreamName": "s", "PartitionKey": "k", "Data": b64(b"x")}));
    assert_eq!(put["EncryptionType"], "KMS", "{put}");
    let puts = ok_json(a, "PutRecords", json!({"StreamName": "s", "Records": [{"PartitionKey": "k", "Data": ""}]}));
    assert_eq!(puts["EncryptionType"], "KMS", "{puts}");
    let d = ok_json(a, "DescribeStream", json!({"StreamName": "s"}));
    assert_eq!(
        (&d["StreamDescription"]["EncryptionType"], &d["StreamDescription"]["KeyId"]),
        (&json!("KMS"), &json!(key))
    );
    let it = ok_json(
        a,
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": put["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
    );
    let got = ok_json(a, "GetRecords", json!({"ShardIterator": it["ShardIterator"]}));
    let kinds: Vec<&Value> = got["Records"].as_array().unwrap().iter().map(|r| &r["EncryptionType"]).collect();
    assert_eq!(kinds, [&json!("KMS"), &json!("KMS")], "{got}");
    // After StopStreamEncryption, puts leave it out again.
    let r = call_json(a, "StopStreamEncryption", &json!({"StreamName": "s", "EncryptionType": "KMS", "KeyId": key}));
    assert_eq!(r.status, 200, "{}", r.text());
    let put = ok_json(a, "PutRecord", json!({"StreamName": "s", "PartitionKey": "k", "Data": b64(b"y")}));
    assert!(put.get("EncryptionType").is_none(), "{put}");
    assert!(server.terminate().success());
}

#[test]
fn content_type_rules_for_empty_plain_json_and_unparseable_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    let target = "Kinesis_20131202.ListStreams";
    // An empty body is answered in JSON 1.1 only when asked for exactly that...
    let r = request(a, "POST", &api_headers(target, JSON), b"");
    assert_eq!((r.status, r.header("content-type")), (400, Some(JSON)));
    assert_eq!(r.text(), r#"{"__type":"SerializationException"}"#);
    let r = request(a, "POST", &api_headers("Kinesis_20131202.Nope", JSON), b"");
    assert_eq!(r.text(), r#"{"__type":"UnknownOperationException"}"#);
    // ...and in CBOR for any other content type, or none.
    for ct in [CBOR, "application/json", "text/plain"] {
        let r = request(a, "POST", &api_headers(target, ct), b"");
        assert_eq!((r.status, r.header("content-type")), (400, Some(CBOR)), "{ct}");
        assert_eq!(cbor_type(&r), "SerializationException", "{ct}");
        let r = request(a, "POST", &api_headers("Kinesis_20131202.Nope", ct), b"");
        assert_eq!(cbor_type(&r), "UnknownOperationException", "{ct}");
    }
    let r = request(a, "POST", &[("X-Amz-Target", target)], b"");
    assert_eq!((r.status, r.header("content-type")), (400, Some(CBOR)));
    // Plain application/json: 400 if it does not parse, 404 if it does, before the target
    // and the authentication are looked at.
    for headers in
        [vec![("Content-Type", "application/json")], api_headers("Kinesis_20131202.Nope", "application/json")]
    {
        let r = request(a, "POST", &headers, b"hello");
        assert_eq!((r.status, r.header("content-type")), (400, Some("application/json")));
        assert_eq!(
            r.text(),
            r#"{"Output":{"__type":"com.amazon.coral.service#SerializationException"},"Version":"1.0"}"#
        );
        let r = request(a, "POST", &headers, b"{}");
        assert_eq!((r.status, r.header("content-type")), (404, Some("application/json")));
        assert_eq!(
            r.text(),
            r#"{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}"#
        );
    }
    // An unparseable JSON 1.1 body: SerializationException without a message.
    let r = request(a, "POST", &api_headers(target, JSON), b"hello");
    assert_eq!((r.status, r.text().as_str()), (400, r#"{"__type":"SerializationException"}"#));
    assert!(server.terminate().success());
}

#[test]
fn cors_preflights_are_answered_as_aws_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    let r = request(
        a,
        "OPTIONS",
        &[
            ("Origin", "http://localhost:3000"),
            ("Access-Control-Request-Headers", "a, b, c"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-headers"), Some("a, b, c"));
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(r.header("access-control-max-age"), Some("172800"));
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.header("x-amzn-requestid").is_some());
    assert_eq!(r.header("x-amz-id-2"), None, "AWS sends no x-amz-id-2 with a preflight");
    // A request with an Origin gets the CORS headers with its answer.
    let mut h = api_headers("Kinesis_20131202.ListStreams", JSON);
    h.push(("Origin", "http://localhost:3000"));
    let r = request(a, "POST", &h, b"{}");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-expose-headers").is_some_and(|v| v.contains("x-amzn-RequestId")));
    assert!(r.header("x-amz-id-2").is_some());
    // OPTIONS without an Origin is not a preflight.
    assert_eq!(request(a, "OPTIONS", &[], b"").status, 403);
    assert!(server.terminate().success());
}

const ACCESS_KEY: &str = "AKIDSHARDLOGTEST";
const SECRET_KEY: &str = "shardlog/secret/key/for/tests";

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn amz_date() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let t = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

/// A request signed as the AWS SDK for JavaScript v3 signs over HTTP/2: `:authority`
/// instead of `host` among the signed headers.
fn signed_h2_request(authority: &str, body: &str, secret: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let date = amz_date();
    let day = &date[..8];
    let target = "Kinesis_20131202.ListStreams";
    let signed = ":authority;content-type;x-amz-date;x-amz-target";
    let canonical = format!(
        "POST\n/\n\n:authority:{authority}\ncontent-type:{JSON}\nx-amz-date:{date}\nx-amz-target:{target}\n\n{signed}\n{}",
        hex(&Sha256::digest(body.as_bytes()))
    );
    let scope = format!("{day}/us-east-1/kinesis/aws4_request");
    let sts = format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    for part in ["us-east-1", "kinesis", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, sts.as_bytes()));
    http::Request::builder()
        .method("POST")
        .uri(format!("http://{authority}/"))
        .version(http::Version::HTTP_2)
        .header("content-type", JSON)
        .header("x-amz-date", &date)
        .header("x-amz-target", target)
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={signed}, Signature={signature}"),
        )
        .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_over_http2_with_the_authority_signed_verifies() {
    use http_body_util::BodyExt;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--verify-sigv4", "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY]);
    let authority = server.addr.to_string();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let resp = client.request(signed_h2_request(&authority, "{}", SECRET_KEY)).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["StreamNames"], json!([]));
    // The same request signed with another secret is refused.
    let resp = client.request(signed_h2_request(&authority, "{}", "wrong")).await.unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["__type"], "InvalidSignatureException");
}

#[test]
fn stream_names_dot_and_dot_dot_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    for name in [".", ".."] {
        ok_json(a, "CreateStream", json!({"StreamName": name, "ShardCount": 1}));
        ok_json(a, "PutRecord", json!({"StreamName": name, "PartitionKey": "k", "Data": b64(name.as_bytes())}));
        let arn = format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}");
        let d = ok_json(a, "DescribeStreamSummary", json!({"StreamARN": arn}));
        assert_eq!(d["StreamDescriptionSummary"]["StreamName"], name);
    }
    assert_eq!(ok_json(a, "ListStreams", json!({}))["StreamNames"], json!([".", ".."]));
    assert!(server.terminate().success());
}

#[test]
fn shard_ids_are_parsed_before_the_stream_is_looked_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    let r = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": "missing", "ShardId": "ABKLFD8", "ShardIteratorType": "LATEST"}),
    );
    assert_eq!(
        r.json(),
        json!({"__type": "ResourceNotFoundException",
               "message": "Could not find shard ABKLFD8 in stream missing under account 000000000000."})
    );
    let r = call_json(
        a,
        "GetShardIterator",
        &json!({"StreamName": "missing", "ShardId": "2147483647", "ShardIteratorType": "LATEST"}),
    );
    assert_eq!(
        r.json()["message"],
        "Shard shardId-002147483647 in stream missing under account 000000000000 does not exist"
    );
    let r = call_json(
        a,
        "MergeShards",
        &json!({"StreamName": "missing", "ShardToMerge": "shardId-0", "AdjacentShardToMerge": "2.14E4"}),
    );
    assert_eq!(r.json()["message"], "Could not find shard 2.14E4 in stream missing under account 000000000000.");
    assert!(server.terminate().success());
}

#[test]
fn status_delay_and_shard_limit_flags() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--create-stream-ms", "600000", "--delete-stream-ms", "600000", "--shard-limit", "3"],
    );
    let a = server.addr;
    assert_eq!(ok_json(a, "DescribeLimits", json!({}))["ShardLimit"], 3);
    ok_json(a, "CreateStream", json!({"StreamName": "s", "ShardCount": 2}));
    let status = |a, name: &str| {
        ok_json(a, "DescribeStreamSummary", json!({"StreamName": name}))["StreamDescriptionSummary"]["StreamStatus"]
            .clone()
    };
    assert_eq!(status(a, "s"), "CREATING");
    let r = call_json(a, "CreateStream", &json!({"StreamName": "t", "ShardCount": 2}));
    assert_eq!(r.error_type(), "LimitExceededException");
    assert!(r.json()["message"].as_str().unwrap().contains("Current shard count for the account: 2. Limit: 3."));
    ok_json(a, "DeleteStream", json!({"StreamName": "s"}));
    assert_eq!(status(a, "s"), "DELETING");
    drop(server);
    // Without the flags, streams are ACTIVE at once (the default); --update-stream-ms alone
    // keeps a resharded stream UPDATING.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--update-stream-ms", "600000"]);
    let a = server.addr;
    ok_json(a, "CreateStream", json!({"StreamName": "s", "ShardCount": 1}));
    assert_eq!(status(a, "s"), "ACTIVE");
    assert_eq!(ok_json(a, "DescribeLimits", json!({}))["ShardLimit"], 500);
    ok_json(
        a,
        "SplitShard",
        json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "1000"}),
    );
    assert_eq!(status(a, "s"), "UPDATING");
    assert!(server.terminate().success());
}
