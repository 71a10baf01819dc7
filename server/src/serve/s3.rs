//! `--s3-endpoint`: channel deliveries to an S3-compatible endpoint (AWS S3, MinIO, moto's
//! server, LocalStack…).
//!
//! Each object is one path-style `PUT <endpoint>/<bucket>/<key>` signed with SigV4 for
//! service `s3` (the payload's SHA-256 in `x-amz-content-sha256`), carrying `Content-Type`,
//! `Content-Encoding`, `x-amz-storage-class` and `x-amz-expected-bucket-owner`, sent by the
//! server's outgoing HTTP client ([`crate::outbound`]: `http://` or `https://`). Credentials
//! come from `--s3-access-key` / `--s3-secret-key`, else `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY`, else a fixed local pair (what local S3 servers accept). The
//! engine's delivery thread calls the sink.
//!
//! Answers: 2xx is success; 403 and 404 (no such bucket, access denied, wrong owner) are
//! permanent — the channel turns FAILED with the endpoint's error code and message; any
//! other status, a timeout or a connection failure is transient and retried by the next
//! delivery pass.

use std::fmt;
use std::time::Duration;

use http::{Method, StatusCode};
use sha2::Digest;
use shardlog::engine::channels::{ObjectSink, PutObject, SinkError};

use crate::outbound::{Abort, Call, Credentials, Outbound, SendError};

/// How long one PUT may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of an error answer read (S3 error documents are small).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Delivers channel objects to an S3-compatible endpoint.
pub struct S3Sink {
    endpoint: String,
    outbound: Outbound,
    /// Never turned: the engine stops delivering before it drops the sink.
    abort: Abort,
}

impl fmt::Debug for S3Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Sink").field("endpoint", &self.endpoint).field("outbound", &self.outbound).finish()
    }
}

/// Percent-encode an S3 key for a path (every byte but unreserved characters and `/`).
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl S3Sink {
    /// A sink for `endpoint` (`http[s]://host[:port]`), signing for `region` with
    /// `credentials`.
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> Result<S3Sink, String> {
        Outbound::check_endpoint(endpoint).map_err(|m| format!("--s3-endpoint: {m}"))?;
        let outbound = Outbound::new(credentials, region).map_err(|e| format!("cannot start the S3 client: {e}"))?;
        Ok(S3Sink { endpoint: endpoint.trim_end_matches('/').to_string(), outbound, abort: Abort::default() })
    }

    /// The PUT of `o` (its URL and headers, to be signed and sent with the body).
    fn put(&self, o: &PutObject<'_>) -> (String, Vec<(&'static str, String)>) {
        let url = format!("{}/{}/{}", self.endpoint, o.bucket, encode_key(o.key));
        let mut headers: Vec<(&'static str, String)> = vec![
            ("content-type", o.content_type.to_string()),
            ("x-amz-content-sha256", hex(&sha2::Sha256::digest(o.body))),
            ("x-amz-expected-bucket-owner", o.expected_bucket_owner.to_string()),
        ];
        if let Some(e) = o.content_encoding {
            headers.push(("content-encoding", e.to_string()));
        }
        if let Some(c) = o.storage_class {
            headers.push(("x-amz-storage-class", c.to_string()));
        }
        (url, headers)
    }
}

/// The PUT of `body` to `url` with `headers`.
fn put_call<'a>(url: &'a str, headers: &'a [(&'a str, &'a str)], body: &[u8]) -> Call<'a> {
    Call {
        method: Method::PUT,
        url,
        headers,
        body: body.to_vec(),
        service: "s3",
        timeout: REQUEST_TIMEOUT,
        max_body: MAX_ERROR_BODY,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Code` and `Message` of an S3 XML error body, if present.
fn error_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let field = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let end = text.get(start..)?.find(&close)? + start;
        text.get(start..end).map(str::to_string)
    };
    match (field("Code"), field("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => text.chars().take(200).collect(),
    }
}

impl ObjectSink for S3Sink {
    fn put_object(&self, o: &PutObject<'_>) -> Result<(), SinkError> {
        let target = format!("s3://{}/{}", o.bucket, o.key);
        let (url, headers) = self.put(o);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let call = put_call(&url, &headers, o.body);
        let reply = match self.outbound.send(call, &self.abort) {
            Ok(r) => r,
            Err(e @ SendError::Request(_)) => return Err(SinkError::Permanent(format!("PUT {target}: {e}"))),
            Err(SendError::Timeout(_)) => return Err(SinkError::Transient(format!("PUT {target} timed out"))),
            Err(e) => return Err(SinkError::Transient(format!("PUT {target} failed: {e}"))),
        };
        if reply.status.is_success() {
            return Ok(());
        }
        let why = format!("PUT {target} answered {}: {}", reply.status, error_text(&reply.body));
        if reply.status == StatusCode::FORBIDDEN || reply.status == StatusCode::NOT_FOUND {
            Err(SinkError::Permanent(why))
        } else {
            Err(SinkError::Transient(why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded_except_slashes() {
        assert_eq!(encode_key("a/b c/é=!.json"), "a/b%20c/%C3%A9%3D%21.json");
    }

    #[test]
    fn s3_error_bodies_are_summarised() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(error_text(body), "NoSuchBucket: The specified bucket does not exist");
    }

    #[test]
    fn requests_are_signed_path_style() {
        let credentials = Credentials { access_key: "AK".into(), secret_key: "SK".into(), session_token: None };
        let sink = S3Sink::new("http://127.0.0.1:9000", "us-east-1", credentials).unwrap();
        let o = PutObject {
            bucket: "b",
            key: "x/y z.json",
            body: b"{}",
            content_type: "application/json",
            content_encoding: Some("gzip"),
            storage_class: Some("STANDARD"),
            expected_bucket_owner: "000000000000",
        };
        let (url, headers) = sink.put(&o);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let call = put_call(&url, &headers, o.body);
        let req = sink.outbound.signed(call).unwrap();
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:9000/b/x/y%20z.json");
        let auth = req.headers().get("authorization").unwrap().to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/"), "{auth}");
        assert!(auth.contains("/us-east-1/s3/aws4_request"), "{auth}");
        assert!(req.headers().contains_key("x-amz-date"));
        assert_eq!(req.headers()["content-encoding"], "gzip");
    }
}
