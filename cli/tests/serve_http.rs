//! `shardlog serve` driven with raw HTTP/1.1: JSON 1.1 and CBOR, the five iterator types,
//! resharding, Kinesis' error envelope for bad requests, SubscribeToShard event streams,
//! clean shutdown on SIGTERM and durability across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod serve_support;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ciborium::Value as Cbor;
use serde_json::{json, Value};
use serve_support::*;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn unb64(s: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s.as_str().unwrap()).unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn iterator(addr: std::net::SocketAddr, stream: &str, shard: &str, kind: &str, extra: Value) -> String {
    let mut body = json!({"StreamName": stream, "ShardId": shard, "ShardIteratorType": kind});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    ok_json(addr, "GetShardIterator", body)["ShardIterator"].as_str().unwrap().to_string()
}

/// Read a shard from `it` until it is drained (open shard: an empty page; closed shard: no
/// next iterator). Returns the records and the final response.
fn drain(addr: std::net::SocketAddr, mut it: String) -> (Vec<Value>, Value) {
    let mut out = Vec::new();
    for _ in 0..100 {
        let r = ok_json(addr, "GetRecords", json!({"ShardIterator": it, "Limit": 3}));
        let recs = r["Records"].as_array().unwrap().clone();
        let empty = recs.is_empty();
        out.extend(recs);
        match r["NextShardIterator"].as_str() {
            Some(next) if !empty => it = next.to_string(),
            _ => return (out, r),
        }
    }
    panic!("shard never drained");
}

fn data_of(records: &[Value]) -> Vec<Vec<u8>> {
    records.iter().map(|r| unb64(&r["Data"])).collect()
}

#[test]
fn json_scenario_iterators_split_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;

    // Control plane.
    ok_json(a, "CreateStream", json!({"StreamName": "s1", "ShardCount": 1}));
    ok_json(a, "CreateStream", json!({"StreamName": "s2", "ShardCount": 2}));
    let d = ok_json(a, "DescribeStream", json!({"StreamName": "s1"}));
    let desc = &d["StreamDescription"];
    assert_eq!(desc["StreamStatus"], "ACTIVE");
    assert_eq!(desc["StreamARN"], "arn:aws:kinesis:us-east-1:000000000000:stream/s1");
    assert_eq!(desc["Shards"].as_array().unwrap().len(), 1);
    assert_eq!(desc["Shards"][0]["HashKeyRange"]["EndingHashKey"], "340282366920938463463374607431768211455");
    assert!(desc["StreamCreationTimestamp"].is_f64());
    let l = ok_json(a, "ListStreams", json!({}));
    assert_eq!(l["StreamNames"], json!(["s1", "s2"]));
    assert_eq!(l["HasMoreStreams"], false);
    let sum = ok_json(a, "DescribeStreamSummary", json!({"StreamName": "s2"}));
    assert_eq!(sum["StreamDescriptionSummary"]["OpenShardCount"], 2);
    let shards = ok_json(a, "ListShards", json!({"StreamName": "s2"}));
    assert_eq!(shards["Shards"][1]["HashKeyRange"]["StartingHashKey"], "170141183460469231731687303715884105728");

    // Puts.
    let before = now_ms();
    let mut seqs = Vec::new();
    for i in 0..3u8 {
        let r =
            ok_json(a, "PutRecord", json!({"StreamName": "s1", "Data": b64(&[i; 5]), "PartitionKey": format!("k{i}")}));
        assert_eq!(r["ShardId"], "shardId-000000000000");
        seqs.push(r["SequenceNumber"].as_str().unwrap().to_string());
    }
    let batch: Vec<Value> = (3..6u8).map(|i| json!({"Data": b64(&[i; 5]), "PartitionKey": format!("k{i}")})).collect();
    let r = ok_json(a, "PutRecords", json!({"StreamName": "s1", "Records": batch}));
    assert_eq!(r["FailedRecordCount"], 0);
    assert_eq!(r["Records"].as_array().unwrap().len(), 3);
    for e in r["Records"].as_array().unwrap() {
        seqs.push(e["SequenceNumber"].as_str().unwrap().to_string());
    }
    let after = now_ms();
    let shard0 = "shardId-000000000000";

    // The five iterator types.
    let (recs, _) = drain(a, iterator(a, "s1", shard0, "TRIM_HORIZON", json!({})));
    assert_eq!(data_of(&recs), (0..6u8).map(|i| vec![i; 5]).collect::<Vec<_>>());
    assert_eq!(recs.iter().map(|r| r["SequenceNumber"].as_str().unwrap()).collect::<Vec<_>>(), seqs);
    assert_eq!(recs[2]["PartitionKey"], "k2");
    for r in &recs {
        let ts = r["ApproximateArrivalTimestamp"].as_f64().unwrap();
        let ms = (ts * 1000.0).round() as i64;
        assert!(ms >= before - 1 && ms <= after + 1, "arrival {ms} outside [{before}, {after}]");
    }
    let (recs, _) =
        drain(a, iterator(a, "s1", shard0, "AT_SEQUENCE_NUMBER", json!({"StartingSequenceNumber": seqs[2]})));
    assert_eq!(recs[0]["SequenceNumber"], seqs[2].as_str());
    assert_eq!(recs.len(), 4);
    let (recs, _) =
        drain(a, iterator(a, "s1", shard0, "AFTER_SEQUENCE_NUMBER", json!({"StartingSequenceNumber": seqs[2]})));
    assert_eq!(recs[0]["SequenceNumber"], seqs[3].as_str());
    assert_eq!(recs.len(), 3);
    let latest = iterator(a, "s1", shard0, "LATEST", json!({}));
    let r = ok_json(a, "GetRecords", json!({"ShardIterator": latest}));
    assert_eq!(r["Records"], json!([]));
    ok_json(a, "PutRecord", json!({"StreamName": "s1", "Data": b64(b"late"), "PartitionKey": "x"}));
    let r = ok_json(a, "GetRecords", json!({"ShardIterator": r["NextShardIterator"]}));
    assert_eq!(data_of(r["Records"].as_array().unwrap()), vec![b"late".to_vec()]);
    // AT_TIMESTAMP with the exact arrival time of record 3 (JSON: epoch seconds with a
    // fraction; also accepted in exponent form): inclusive.
    let (all, _) = drain(a, iterator(a, "s1", shard0, "TRIM_HORIZON", json!({})));
    let t3 = all[3]["ApproximateArrivalTimestamp"].as_f64().unwrap();
    // The exponent form is sent as raw text (serde_json would print a plain decimal).
    let plain = format!("{t3}");
    let exponent = format!("{t3:E}");
    assert!(exponent.contains('E'));
    for ts in [plain, exponent] {
        let body = format!(
            r#"{{"StreamName":"s1","ShardId":"{shard0}","ShardIteratorType":"AT_TIMESTAMP","Timestamp":{ts}}}"#
        );
        let r = request(
            a,
            "POST",
            &api_headers("Kinesis_20131202.GetShardIterator", "application/x-amz-json-1.1"),
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let (recs, _) = drain(a, r.json()["ShardIterator"].as_str().unwrap().to_string());
        let first = recs[0]["ApproximateArrivalTimestamp"].as_f64().unwrap();
        assert!(first >= t3 - 0.0005, "AT_TIMESTAMP returned an earlier record");
        let first_index = all.iter().position(|r| r["SequenceNumber"] == recs[0]["SequenceNumber"]).unwrap();
        assert!(first_index <= 3, "AT_TIMESTAMP skipped the record at the timestamp");
        assert_eq!(recs.len(), all.len() - first_index);
    }
    // Timestamps are emitted as plain decimals with a millisecond fraction.
    let raw =
        call_json(a, "GetRecords", &json!({"ShardIterator": iterator(a, "s1", shard0, "TRIM_HORIZON", json!({}))}));
    let text = raw.text();
    let at = text.find("\"ApproximateArrivalTimestamp\":").unwrap() + "\"ApproximateArrivalTimestamp\":".len();
    let num: String = text[at..].chars().take_while(|c| *c != ',' && *c != '}').collect();
    let (secs, frac) = num.split_once('.').unwrap();
    assert!(
        secs.bytes().all(|b| b.is_ascii_digit()) && frac.len() == 3 && frac.bytes().all(|b| b.is_ascii_digit()),
        "{num}"
    );

    // Split, then read the parent to its end.
    ok_json(
        a,
        "SplitShard",
        json!({"StreamName": "s1", "ShardToSplit": shard0, "NewStartingHashKey": "170141183460469231731687303715884105728"}),
    );
    for i in 0..4u8 {
        ok_json(
            a,
            "PutRecord",
            json!({"StreamName": "s1", "Data": b64(&[100 + i]), "PartitionKey": format!("after{i}")}),
        );
    }
    let (recs, last) = drain(a, iterator(a, "s1", shard0, "TRIM_HORIZON", json!({})));
    assert_eq!(recs.len(), 7, "every record written before the split is in the parent");
    assert!(last.get("NextShardIterator").is_none(), "closed shard read to its end has no next iterator");
    let kids = last["ChildShards"].as_array().unwrap();
    assert_eq!(kids.len(), 2);
    for k in kids {
        assert_eq!(k["ParentShards"], json!([shard0]));
    }
    assert_eq!(kids[0]["ShardId"], "shardId-000000000001");
    assert_eq!(kids[1]["HashKeyRange"]["StartingHashKey"], "170141183460469231731687303715884105728");
    let d = ok_json(a, "DescribeStream", json!({"StreamName": "s1"}));
    assert!(d["StreamDescription"]["Shards"][0]["SequenceNumberRange"]["EndingSequenceNumber"].is_string());
    let mut children_total = 0;
    for k in ["shardId-000000000001", "shardId-000000000002"] {
        children_total += drain(a, iterator(a, "s1", k, "TRIM_HORIZON", json!({}))).0.len();
    }
    assert_eq!(children_total, 4);

    // SIGTERM: a clean exit; the data survives a restart on the same directory.
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    let (recs, _) = drain(a, iterator(a, "s1", shard0, "TRIM_HORIZON", json!({})));
    assert_eq!(recs.len(), 7);
    assert_eq!(recs.iter().map(|r| r["SequenceNumber"].as_str().unwrap()).take(6).collect::<Vec<_>>(), seqs);
    let l = ok_json(a, "ListShards", json!({"StreamName": "s1"}));
    assert_eq!(l["Shards"].as_array().unwrap().len(), 3);
    assert!(server.terminate().success());
}

fn cbor_map(entries: Vec<(&str, Cbor)>) -> Cbor {
    Cbor::Map(entries.into_iter().map(|(k, v)| (Cbor::Text(k.into()), v)).collect())
}

fn cbor_get<'a>(v: &'a Cbor, key: &str) -> &'a Cbor {
    match v {
        Cbor::Map(m) => m
            .iter()
            .find(|(k, _)| *k == Cbor::Text(key.into()))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in {v:?}")),
        _ => panic!("not a map: {v:?}"),
    }
}

fn decode(r: &Resp) -> Cbor {
    assert_eq!(r.header("content-type"), Some("application/x-amz-cbor-1.1"));
    ciborium::de::from_reader(&r.body[..]).unwrap()
}

/// Find `key` (a CBOR text string) in raw response bytes and return what follows it.
fn after_key<'a>(raw: &'a [u8], key: &str) -> &'a [u8] {
    let mut needle = vec![0x60 | key.len() as u8];
    if key.len() >= 24 {
        needle = vec![0x78, key.len() as u8];
    }
    needle.extend_from_slice(key.as_bytes());
    let at = raw.windows(needle.len()).position(|w| w == needle).unwrap_or_else(|| panic!("{key} not in response"));
    &raw[at + needle.len()..]
}

#[test]
fn cbor_round_trip_with_tag_1_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    let r = call_cbor(
        a,
        "CreateStream",
        &cbor_map(vec![("StreamName", Cbor::Text("c".into())), ("ShardCount", Cbor::Integer(1.into()))]),
    );
    assert_eq!(r.status, 200, "{:?}", decode(&r));
    let payloads: Vec<Vec<u8>> = vec![vec![0, 1, 2, 255], vec![7; 300], b"third".to_vec()];
    let mut seqs = Vec::new();
    for p in &payloads {
        let r = call_cbor(
            a,
            "PutRecord",
            &cbor_map(vec![
                ("StreamName", Cbor::Text("c".into())),
                ("Data", Cbor::Bytes(p.clone())),
                ("PartitionKey", Cbor::Text("pk".into())),
            ]),
        );
        assert_eq!(r.status, 200);
        seqs.push(cbor_get(&decode(&r), "SequenceNumber").clone());
    }
    // Read everything to learn the arrival times, checking the encodings byte by byte.
    let it = |kind: &str, ts: Option<i64>| {
        let mut m = vec![
            ("StreamName", Cbor::Text("c".into())),
            ("ShardId", Cbor::Text("shardId-000000000000".into())),
            ("ShardIteratorType", Cbor::Text(kind.into())),
        ];
        if let Some(ms) = ts {
            m.push(("Timestamp", Cbor::Tag(1, Box::new(Cbor::Integer(ms.into())))));
        }
        let r = call_cbor(a, "GetShardIterator", &cbor_map(m));
        assert_eq!(r.status, 200, "{:?}", decode(&r));
        cbor_get(&decode(&r), "ShardIterator").clone()
    };
    let before_read = now_ms();
    let r = call_cbor(a, "GetRecords", &cbor_map(vec![("ShardIterator", it("TRIM_HORIZON", None))]));
    assert_eq!(r.status, 200);
    let v = decode(&r);
    let Cbor::Array(records) = cbor_get(&v, "Records") else { panic!() };
    assert_eq!(records.len(), 3);
    let mut arrivals = Vec::new();
    for (rec, want) in records.iter().zip(&payloads) {
        assert_eq!(cbor_get(rec, "Data"), &Cbor::Bytes(want.clone()));
        let Cbor::Tag(1, inner) = cbor_get(rec, "ApproximateArrivalTimestamp") else { panic!("timestamp not tag 1") };
        let Cbor::Integer(ms) = **inner else { panic!("timestamp not an integer: {inner:?}") };
        let ms = i64::try_from(i128::from(ms)).unwrap();
        assert!(ms > 1_000_000_000_000 && ms <= before_read, "not epoch milliseconds: {ms}");
        arrivals.push(ms);
    }
    assert_eq!(records.iter().map(|r| cbor_get(r, "SequenceNumber").clone()).collect::<Vec<_>>(), seqs);
    // Byte-exact: the first record's timestamp is c1 (tag 1) 1b (uint64) + 8 bytes of ms,
    // its data 44 (bytes, length 4) 00 01 02 ff.
    let ts_bytes = after_key(&r.body, "ApproximateArrivalTimestamp");
    let mut want = vec![0xc1, 0x1b];
    want.extend_from_slice(&(arrivals[0] as u64).to_be_bytes());
    assert_eq!(&ts_bytes[..10], &want[..]);
    assert_eq!(&after_key(&r.body, "Data")[..5], &[0x44, 0, 1, 2, 255]);
    assert_eq!(cbor_get(&v, "MillisBehindLatest"), &Cbor::Integer(0.into()));

    // AT_TIMESTAMP with a tag-1 millisecond timestamp equal to record 2's arrival.
    let r = call_cbor(a, "GetRecords", &cbor_map(vec![("ShardIterator", it("AT_TIMESTAMP", Some(arrivals[1])))]));
    let v = decode(&r);
    let Cbor::Array(recs) = cbor_get(&v, "Records") else { panic!() };
    let first = cbor_get(&recs[0], "SequenceNumber").clone();
    let idx = seqs.iter().position(|s| *s == first).unwrap();
    assert!(
        idx <= 1 && arrivals[idx] == arrivals[1],
        "AT_TIMESTAMP must start at the first record at or after the time"
    );
    // A timestamp 1 ms later than the last arrival finds nothing.
    let r = call_cbor(a, "GetRecords", &cbor_map(vec![("ShardIterator", it("AT_TIMESTAMP", Some(arrivals[2] + 1)))]));
    assert_eq!(cbor_get(&decode(&r), "Records"), &Cbor::Array(vec![]));

    // SubscribeToShard in CBOR: the event payloads are CBOR too, timestamps tag 1 + ms.
    let r = call_cbor(
        a,
        "RegisterStreamConsumer",
        &cbor_map(vec![
            ("StreamARN", Cbor::Text("arn:aws:kinesis:us-east-1:000000000000:stream/c".into())),
            ("ConsumerName", Cbor::Text("cc".into())),
        ]),
    );
    assert_eq!(r.status, 200);
    let consumer = decode(&r);
    let Cbor::Tag(1, _) = cbor_get(cbor_get(&consumer, "Consumer"), "ConsumerCreationTimestamp") else {
        panic!("ConsumerCreationTimestamp is not tag 1")
    };
    let sub = cbor_map(vec![
        ("ConsumerARN", cbor_get(cbor_get(&consumer, "Consumer"), "ConsumerARN").clone()),
        ("ShardId", Cbor::Text("shardId-000000000000".into())),
        ("StartingPosition", cbor_map(vec![("Type", Cbor::Text("TRIM_HORIZON".into()))])),
    ]);
    let mut body = Vec::new();
    ciborium::ser::into_writer(&sub, &mut body).unwrap();
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("POST / HTTP/1.1\r\nHost: {a}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in api_headers("Kinesis_20131202.SubscribeToShard", "application/x-amz-cbor-1.1") {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut rd = BufReader::new(s);
    let (status, _) = read_head(&mut rd);
    assert_eq!(status, 200);
    let mut buf = Vec::new();
    let init = next_frame(&mut rd, &mut buf).unwrap();
    assert_eq!(init.header(":event-type"), Some("initial-response"));
    assert_eq!(init.header(":content-type"), Some("application/x-amz-cbor-1.1"));
    assert_eq!(init.payload, vec![0xa0], "an empty CBOR map");
    let ev = next_frame(&mut rd, &mut buf).unwrap();
    assert_eq!(ev.header(":event-type"), Some("SubscribeToShardEvent"));
    let ev: Cbor = ciborium::de::from_reader(&ev.payload[..]).unwrap();
    let Cbor::Array(pushed) = cbor_get(&ev, "Records") else { panic!() };
    assert_eq!(pushed.len(), 3);
    assert_eq!(cbor_get(&pushed[0], "Data"), &Cbor::Bytes(payloads[0].clone()));
    assert_eq!(
        cbor_get(&pushed[0], "ApproximateArrivalTimestamp"),
        &Cbor::Tag(1, Box::new(Cbor::Integer(arrivals[0].into())))
    );
    drop(rd);

    // Errors answer in CBOR too.
    let r = call_cbor(a, "DescribeStream", &cbor_map(vec![("StreamName", Cbor::Text("nope".into()))]));
    assert_eq!(r.status, 400);
    let v = decode(&r);
    assert_eq!(cbor_get(&v, "__type"), &Cbor::Text("ResourceNotFoundException".into()));
    assert_eq!(cbor_get(&v, "message"), &Cbor::Text("Stream nope under account 000000000000 not found.".into()));
    let r = call_cbor(
        a,
        "PutRecord",
        &cbor_map(vec![
            ("StreamName", Cbor::Text("c".into())),
            ("Data", Cbor::Integer(5.into())),
            ("PartitionKey", Cbor::Text("k".into())),
        ]),
    );
    assert_eq!(cbor_get(&decode(&r), "__type"), &Cbor::Text("SerializationException".into()));
    assert!(server.terminate().success());
}

fn expect(r: &Resp, status: u16, error: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    assert!(r.header("x-amzn-RequestId").is_some_and(|v| v.len() == 36), "every response carries x-amzn-RequestId");
    assert!(r.header("x-amz-id-2").is_some());
    if r.header("content-type").is_some_and(|c| c.contains("json")) {
        assert_eq!(r.error_type(), error, "body: {}", r.text());
    } else if !error.is_empty() {
        assert!(r.text().contains(error), "body: {}", r.text());
    }
}

#[test]
fn bad_requests_get_kinesis_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-body-bytes", "65536"]);
    let a = server.addr;
    let json_ct = "application/x-amz-json-1.1";
    let target = "Kinesis_20131202.DescribeStream";

    // Method.
    let r = request(a, "GET", &[], b"");
    expect(&r, 403, "AccessDeniedException");
    assert!(r.text().contains("<Message>Unable to determine service/operation name to be authorized</Message>"));
    // Content type.
    let mut h = api_headers(target, "text/plain");
    let r = request(a, "POST", &h, b"{}");
    expect(&r, 404, "<UnknownOperationException/>");
    h.retain(|(k, _)| *k != "X-Amz-Target");
    expect(&request(a, "POST", &h, b"{}"), 403, "AccessDeniedException");
    // Empty body.
    expect(&request(a, "POST", &api_headers(target, json_ct), b""), 400, "SerializationException");
    // Unknown target.
    expect(
        &request(a, "POST", &api_headers("Kinesis_20131202.Frobnicate", json_ct), b"{}"),
        400,
        "UnknownOperationException",
    );
    expect(
        &request(a, "POST", &api_headers("DynamoDB_20120810.DescribeStream", json_ct), b"{}"),
        400,
        "UnknownOperationException",
    );
    // Authentication.
    let no_auth = [("Content-Type", json_ct), ("X-Amz-Target", target)];
    let r = request(a, "POST", &no_auth, b"{}");
    expect(&r, 400, "MissingAuthenticationTokenException");
    assert_eq!(r.json()["message"], "Missing Authentication Token");
    let partial =
        [("Content-Type", json_ct), ("X-Amz-Target", target), ("Authorization", "AWS4-HMAC-SHA256 Credential=x")];
    expect(&request(a, "POST", &partial, b"{}"), 400, "IncompleteSignatureException");
    // Body parse.
    // An unparseable JSON 1.1 body: SerializationException without a message (as AWS).
    let r = request(a, "POST", &api_headers(target, json_ct), br#"{"StreamName":"#);
    expect(&r, 400, "SerializationException");
    assert_eq!(r.text(), r#"{"__type":"SerializationException"}"#);
    let r = request(a, "POST", &api_headers(target, json_ct), br#"{"StreamName":"\ud800"}"#);
    expect(&r, 400, "SerializationException");
    let deep = format!("{{\"StreamName\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    expect(&request(a, "POST", &api_headers(target, json_ct), deep.as_bytes()), 400, "SerializationException");
    let r = request(a, "POST", &api_headers(target, "application/x-amz-cbor-1.1"), &[0xff, 0x00]);
    assert_eq!(r.header("content-type"), Some("application/x-amz-cbor-1.1"));
    assert_eq!(r.status, 400);
    // Member types.
    let r = call_json(a, "DescribeStream", &json!({"StreamName": 5}));
    expect(&r, 400, "SerializationException");
    assert_eq!(
        r.json()["Message"],
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
    );
    let r = call_json(a, "CreateStream", &json!({"StreamName": "x", "ShardCount": "2"}));
    assert_eq!(r.json()["Message"], "class java.lang.String can not be converted to an Integer");
    let r = call_json(a, "PutRecord", &json!({"StreamName": "x", "PartitionKey": "k", "Data": "abc"}));
    assert_eq!(
        r.json()["Message"],
        "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 3"
    );
    // Constraints.
    let r = call_json(a, "GetShardIterator", &json!({"StreamName": "x", "ShardIteratorType": "SOON"}));
    expect(&r, 400, "ValidationException");
    assert_eq!(
        r.json()["message"],
        "2 validation errors detected: Value null at 'shardId' failed to satisfy constraint: Member must not be null; \
         Value 'SOON' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: \
         [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"
    );
    let r = call_json(a, "CreateStream", &json!({"StreamName": "x", "ShardCount": -1}));
    expect(&r, 400, "ValidationException");
    assert_eq!(
        r.json()["message"],
        "1 validation error detected: Value '-1' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    let r = call_json(a, "CreateStream", &json!({"StreamName": "bad name!", "ShardCount": 1}));
    expect(&r, 400, "ValidationException");
    assert!(r.json()["message"].as_str().unwrap().contains(
        "at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    ));
    // Business errors.
    let r = call_json(a, "DescribeStream", &json!({"StreamName": "nope"}));
    expect(&r, 400, "ResourceNotFoundException");
    assert_eq!(
        r.text(),
        r#"{"__type":"ResourceNotFoundException","message":"Stream nope under account 000000000000 not found."}"#
    );
    let r = call_json(a, "GetRecords", &json!({"ShardIterator": "AAAA"}));
    expect(&r, 400, "InvalidArgumentException");

    // Bodies over the limit: by declared length, before the body is sent...
    let started = Instant::now();
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {json_ct}\r\nX-Amz-Target: {target}\r\nContent-Length: 100000000\r\n\r\n"
    )
    .unwrap();
    let mut rd = BufReader::new(s);
    let (status, headers) = read_head(&mut rd);
    assert_eq!(status, 413);
    assert!(headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("x-amzn-requestid")));
    assert!(started.elapsed() < Duration::from_secs(5));
    // ...and chunked, as soon as the limit is passed.
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {json_ct}\r\nX-Amz-Target: {target}\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let chunk = vec![b' '; 16 * 1024];
    for _ in 0..5 {
        write!(s, "{:x}\r\n", chunk.len()).unwrap();
        s.write_all(&chunk).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    let (status, _) = read_head(&mut BufReader::new(s));
    assert_eq!(status, 413);

    // The server is still healthy after all of that.
    ok_json(a, "ListStreams", json!({}));
    assert!(server.terminate().success());
}

/// Read frames from a chunked event stream until `pred` matches one (bounded).
fn next_frame(r: &mut BufReader<TcpStream>, buf: &mut Vec<u8>) -> Option<Frame> {
    loop {
        if let Some(f) = take_frame(buf) {
            return Some(f);
        }
        buf.extend_from_slice(&read_chunk(r)?);
    }
}

#[test]
fn subscribe_to_shard_over_http1() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    ok_json(a, "CreateStream", json!({"StreamName": "e", "ShardCount": 1}));
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/e";
    let c = ok_json(a, "RegisterStreamConsumer", json!({"StreamARN": arn, "ConsumerName": "c1"}));
    let consumer_arn = c["Consumer"]["ConsumerARN"].as_str().unwrap().to_string();
    assert_eq!(c["Consumer"]["ConsumerStatus"], "ACTIVE");
    let listed = ok_json(a, "ListStreamConsumers", json!({"StreamARN": arn}));
    assert_eq!(listed["Consumers"][0]["ConsumerARN"], consumer_arn.as_str());
    ok_json(a, "PutRecord", json!({"StreamName": "e", "Data": b64(b"before"), "PartitionKey": "p"}));

    // Errors before streaming are plain HTTP errors.
    let r = call_json(
        a,
        "SubscribeToShard",
        &json!({"ConsumerARN": consumer_arn, "ShardId": "shardId-000000000009", "StartingPosition": {"Type": "LATEST"}}),
    );
    expect(&r, 400, "ResourceNotFoundException");

    let body =
        json!({"ConsumerARN": consumer_arn, "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "LATEST"}})
            .to_string();
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("POST / HTTP/1.1\r\nHost: {a}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in api_headers("Kinesis_20131202.SubscribeToShard", "application/x-amz-json-1.1") {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut rd = BufReader::new(s);
    let (status, headers) = read_head(&mut rd);
    assert_eq!(status, 200);
    let h = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
    assert_eq!(h("content-type").as_deref(), Some("application/vnd.amazon.eventstream"));
    assert_eq!(h("transfer-encoding").as_deref(), Some("chunked"));
    let mut buf = Vec::new();
    let first = next_frame(&mut rd, &mut buf).unwrap();
    assert_eq!(first.header(":message-type"), Some("event"));
    assert_eq!(first.header(":event-type"), Some("initial-response"));
    assert_eq!(first.payload, b"{}");

    // A record put after subscribing arrives as a SubscribeToShardEvent (heartbeats may come
    // first; LATEST never shows the earlier record).
    let put = ok_json(a, "PutRecord", json!({"StreamName": "e", "Data": b64(b"pushed"), "PartitionKey": "p"}));
    let mut got = None;
    for _ in 0..20 {
        let f = next_frame(&mut rd, &mut buf).expect("stream ended early");
        assert_eq!(f.header(":message-type"), Some("event"));
        assert_eq!(f.header(":event-type"), Some("SubscribeToShardEvent"));
        assert_eq!(f.header(":content-type"), Some("application/json"));
        let ev: Value = serde_json::from_slice(&f.payload).unwrap();
        assert!(ev["ContinuationSequenceNumber"].is_string());
        assert!(ev["MillisBehindLatest"].is_i64());
        if !ev["Records"].as_array().unwrap().is_empty() {
            got = Some(ev);
            break;
        }
    }
    let ev = got.expect("no event with the pushed record");
    assert_eq!(data_of(ev["Records"].as_array().unwrap()), vec![b"pushed".to_vec()]);
    assert_eq!(ev["ContinuationSequenceNumber"], put["SequenceNumber"]);

    // Within 5 s a second subscription is refused (an HTTP error: nothing was streamed).
    let r = call_json(a, "SubscribeToShard", &serde_json::from_str::<Value>(&body).unwrap());
    expect(&r, 400, "ResourceInUseException");

    // SIGTERM with the subscription open: the stream ends and the server exits cleanly.
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    loop {
        match next_frame(&mut rd, &mut buf) {
            None => break,
            Some(f) => assert_eq!(f.header(":event-type"), Some("SubscribeToShardEvent")),
        }
    }
}

#[test]
fn update_max_record_size_and_describe_limits() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.addr;
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/big";

    // DescribeLimits on an empty account, then with a provisioned and an on-demand stream.
    let l = ok_json(a, "DescribeLimits", json!({}));
    assert_eq!(
        l,
        json!({
            "ShardLimit": 500,
            "OpenShardCount": 0,
            "OnDemandStreamCount": 0,
            "OnDemandStreamCountLimit": 50,
            "ChannelCount": 0,
            "ChannelCountLimit": 50
        })
    );
    ok_json(a, "CreateStream", json!({"StreamName": "big", "ShardCount": 3}));
    ok_json(a, "CreateStream", json!({"StreamName": "od", "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}));
    ok_json(
        a,
        "SplitShard",
        json!({"StreamName": "big", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "1000"}),
    );
    let l = ok_json(a, "DescribeLimits", json!({}));
    // 3 + 1 (the split closes one shard and opens two) + 4 on-demand shards.
    assert_eq!(l["OpenShardCount"], 8, "{l}");
    assert_eq!(l["OnDemandStreamCount"], 1);
    assert_eq!(l["ShardLimit"], 500);

    // The default record size limit, visible in DescribeStreamSummary and enforced on puts.
    let summary =
        |a| ok_json(a, "DescribeStreamSummary", json!({"StreamARN": arn}))["StreamDescriptionSummary"].clone();
    assert_eq!(summary(a)["MaxRecordSizeInKiB"], 1024);
    let big = b64(&vec![7u8; 1536 * 1024]);
    let put = |a| call_json(a, "PutRecord", &json!({"StreamARN": arn, "Data": big, "PartitionKey": "k"}));
    expect(&put(a), 400, "ValidationException");

    // Raised: the summary shows it and the 1.5 MiB record goes in.
    ok_json(a, "UpdateMaxRecordSize", json!({"StreamARN": arn, "MaxRecordSizeInKiB": 2048}));
    assert_eq!(summary(a)["MaxRecordSizeInKiB"], 2048);
    let r = put(a);
    assert_eq!(r.status, 200, "{}", r.text());

    // Bad requests.
    let update = |body: Value| call_json(a, "UpdateMaxRecordSize", &body);
    let r = update(json!({"StreamARN": arn}));
    expect(&r, 400, "ValidationException");
    assert!(r.json()["message"].as_str().unwrap().contains("Value null at 'maxRecordSizeInKiB'"), "{}", r.text());
    let r = update(json!({"StreamARN": arn, "MaxRecordSizeInKiB": 10241}));
    expect(&r, 400, "ValidationException");
    assert!(r.json()["message"].as_str().unwrap().contains("10240"), "{}", r.text());
    expect(&update(json!({"StreamARN": arn, "MaxRecordSizeInKiB": 512})), 400, "ValidationException");
    expect(&update(json!({"StreamARN": arn, "MaxRecordSizeInKiB": "2048"})), 400, "SerializationException");
    expect(&update(json!({"MaxRecordSizeInKiB": 2048})), 400, "ValidationException");
    expect(
        &update(json!({"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/nope", "MaxRecordSizeInKiB": 2048})),
        400,
        "ResourceNotFoundException",
    );
    // Failed updates left the value alone.
    assert_eq!(summary(a)["MaxRecordSizeInKiB"], 2048);
    assert!(server.terminate().success());
}
