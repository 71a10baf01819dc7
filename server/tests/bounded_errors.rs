//! Problem 1 of issue #14: the error for a request with many invalid entries is bounded.
//!
//! Before, PutRecords with `Records=[{}, {}, …]` got one validation message listing every
//! entry (a 300 KB body gave a 20 MB response; 16 MiB of JSON 1.15 GB, of CBOR 3.47 GB), and
//! RemoveTagsFromStream with a long TagKeys list did the same. AWS lists at most 10 problems
//! and checks collection sizes first. Here every list or map member of every served
//! operation's input (botocore 1.44.18's model: the table below) gets 20,000 and 40,000
//! invalid entries, in JSON and in CBOR: the response must be small and the same size for
//! both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{json, Map, Value};
use shardlog_server::serve::{Server, StartupStream};

/// Largest acceptable error response: at most ten listed violations, each quoting its value
/// (cut at `MAX_VALUE_CHARS`, 8,192 characters, as the validator does) and its constraint,
/// and the count of the rest.
const MAX_RESPONSE: usize = 32 * 1024;

/// What an entry of a list or map member looks like when invalid.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// `{}` (a structure missing its required members).
    EmptyStruct,
    /// `""` (a string below its minimum length).
    EmptyString,
    /// A string outside its enum.
    BadEnum,
    /// A map entry `k<i>` → 300 characters (tag values are at most 256).
    LongTagValue,
}

/// Every list and map member of the model's inputs on served operations: (operation,
/// the request around the member, the member's path, its invalid entry).
fn members() -> Vec<(&'static str, Value, &'static [&'static str], Entry)> {
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s";
    let channel = json!({"ChannelName": "c", "ChannelType": "S3", "RoleArn": "arn:aws:iam::000000000000:role/r"});
    vec![
        ("PutRecords", json!({"StreamName": "s"}), &["Records"], Entry::EmptyStruct),
        ("RemoveTagsFromStream", json!({"StreamName": "s"}), &["TagKeys"], Entry::EmptyString),
        ("UntagResource", json!({"ResourceARN": arn}), &["TagKeys"], Entry::EmptyString),
        ("EnableEnhancedMonitoring", json!({"StreamName": "s"}), &["ShardLevelMetrics"], Entry::BadEnum),
        ("DisableEnhancedMonitoring", json!({"StreamName": "s"}), &["ShardLevelMetrics"], Entry::BadEnum),
        ("ListChannels", json!({}), &["StreamFilter"], Entry::EmptyStruct),
        ("CreateChannel", channel.clone(), &["StreamConfigurationList"], Entry::EmptyStruct),
        (
            "CreateChannel",
            channel.clone(),
            &["S3TablesDestinationConfiguration", "S3TablesConfigurationList"],
            Entry::EmptyStruct,
        ),
        ("CreateChannel", channel, &["Tags"], Entry::LongTagValue),
        ("AddTagsToStream", json!({"StreamName": "s"}), &["Tags"], Entry::LongTagValue),
        ("CreateStream", json!({"StreamName": "t", "ShardCount": 1}), &["Tags"], Entry::LongTagValue),
        ("RegisterStreamConsumer", json!({"StreamARN": arn, "ConsumerName": "c"}), &["Tags"], Entry::LongTagValue),
        ("TagResource", json!({"ResourceARN": arn}), &["Tags"], Entry::LongTagValue),
    ]
}

fn with_entries(mut request: Value, path: &[&str], entry: Entry, n: usize) -> Value {
    let value = match entry {
        Entry::EmptyStruct => Value::Array(vec![json!({}); n]),
        Entry::EmptyString => Value::Array(vec![json!(""); n]),
        Entry::BadEnum => Value::Array(vec![json!("NotAMetric"); n]),
        Entry::LongTagValue => {
            Value::Object((0..n).map(|i| (format!("k{i}"), Value::String("v".repeat(300)))).collect::<Map<_, _>>())
        }
    };
    let mut at = &mut request;
    for (i, key) in path.iter().enumerate() {
        let obj = at.as_object_mut().unwrap();
        if i + 1 == path.len() {
            obj.insert((*key).to_string(), value);
            break;
        }
        at = obj.entry((*key).to_string()).or_insert_with(|| json!({}));
    }
    request
}

fn to_cbor(v: &Value) -> ciborium::Value {
    match v {
        Value::Null => ciborium::Value::Null,
        Value::Bool(b) => ciborium::Value::Bool(*b),
        Value::Number(n) => ciborium::Value::Integer(n.as_i64().unwrap().into()),
        Value::String(s) => ciborium::Value::Text(s.clone()),
        Value::Array(a) => ciborium::Value::Array(a.iter().map(to_cbor).collect()),
        Value::Object(o) => {
            ciborium::Value::Map(o.iter().map(|(k, v)| (ciborium::Value::Text(k.clone()), to_cbor(v))).collect())
        }
    }
}

/// POST a body; the status and the body's length.
fn post(addr: SocketAddr, target: &str, cbor: bool, body: &[u8]) -> (u16, Vec<u8>) {
    let ct = if cbor { "application/x-amz-cbor-1.1" } else { "application/x-amz-json-1.1" };
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: Kinesis_20131202.{target}\r\nContent-Type: {ct}\r\n\
         Content-Length: {}\r\nX-Amz-Date: 20250101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&raw[..end]).split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, raw[end + 4..].to_vec())
}

#[test]
fn many_invalid_entries_in_any_list_or_map_member_give_a_small_error_in_json_and_cbor() {
    let server = Server::builder().create_stream(StartupStream::provisioned("s", 1)).start().unwrap();
    let addr = server.local_addr();
    for (op, request, path, entry) in members() {
        for cbor in [false, true] {
            let mut sizes = Vec::new();
            for n in [20_000, 40_000] {
                let v = with_entries(request.clone(), path, entry, n);
                let body = if cbor {
                    let mut out = Vec::new();
                    ciborium::ser::into_writer(&to_cbor(&v), &mut out).unwrap();
                    out
                } else {
                    serde_json::to_vec(&v).unwrap()
                };
                let (status, resp) = post(addr, op, cbor, &body);
                let what = format!("{op} {} x{n} ({})", path.join("."), if cbor { "CBOR" } else { "JSON" });
                assert_eq!(status, 400, "{what}: {}", String::from_utf8_lossy(&resp[..resp.len().min(500)]));
                assert!(
                    resp.len() <= MAX_RESPONSE,
                    "{what}: a {} byte request got a {} byte error",
                    body.len(),
                    resp.len()
                );
                sizes.push(resp.len());
            }
            // The error does not grow with the number of bad entries.
            assert!(sizes[1].abs_diff(sizes[0]) <= 16, "{op} {}: {sizes:?}", path.join("."));
        }
    }
    server.shutdown().unwrap();
}

/// The issue's largest case: a 16 MiB body of `{}` entries, in both codecs.
#[test]
fn a_body_of_sixteen_mebibytes_of_empty_records_gets_a_small_error() {
    let server = Server::builder().create_stream(StartupStream::provisioned("s", 1)).start().unwrap();
    let addr = server.local_addr();
    let max = 16 * 1024 * 1024 - 64;
    let n = (max - 40) / 3;
    let mut json = br#"{"StreamName":"s","Records":["#.to_vec();
    for i in 0..n {
        json.extend_from_slice(if i == 0 { b"{}" } else { b",{}" });
    }
    json.extend_from_slice(b"]}");
    let (status, resp) = post(addr, "PutRecords", false, &json);
    assert_eq!(status, 400);
    assert!(resp.len() <= MAX_RESPONSE, "{} bytes", resp.len());
    // CBOR: an indefinite-length array of empty maps (0xa0), one byte each.
    let mut cbor = vec![0xa2];
    cbor.extend_from_slice(&[0x6a]);
    cbor.extend_from_slice(b"StreamName");
    cbor.extend_from_slice(&[0x61, b's', 0x67]);
    cbor.extend_from_slice(b"Records");
    cbor.push(0x9f);
    cbor.resize(cbor.len() + (max - cbor.len() - 1), 0xa0);
    cbor.push(0xff);
    let (status, resp) = post(addr, "PutRecords", true, &cbor);
    assert_eq!(status, 400);
    assert!(resp.len() <= MAX_RESPONSE, "{} bytes", resp.len());
    server.shutdown().unwrap();
}
