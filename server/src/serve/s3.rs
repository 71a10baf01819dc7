//! `--s3-endpoint`: channel deliveries to an S3-compatible endpoint (AWS S3, MinIO, moto's
//! server, LocalStack…).
//!
//! Each object is one path-style `PUT <endpoint>/<bucket>/<key>` signed with SigV4
//! (`aws-sigv4`, service `s3`, the payload's SHA-256 in `x-amz-content-sha256`), carrying
//! `Content-Type`, `Content-Encoding`, `x-amz-storage-class` and
//! `x-amz-expected-bucket-owner`. Credentials come from `--s3-access-key` /
//! `--s3-secret-key`, else `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, else a fixed
//! local pair (what local S3 servers accept). The engine's delivery thread calls the sink;
//! the requests run on a small runtime of the sink's own.
//!
//! Answers: 2xx is success; 403 and 404 (no such bucket, access denied, wrong owner) are
//! permanent — the channel turns FAILED with the endpoint's error code and message; any
//! other status, a timeout or a connection failure is transient and retried by the next
//! delivery pass.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::Digest;
use shardlog::engine::channels::{ObjectSink, PutObject, SinkError};

/// How long one PUT may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Delivers channel objects to an S3-compatible endpoint.
pub struct S3Sink {
    endpoint: String,
    region: String,
    identity: Identity,
    client: Client<HttpConnector, Full<Bytes>>,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for S3Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Sink").field("endpoint", &self.endpoint).field("region", &self.region).finish()
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
    /// A sink for `endpoint` (`http://host:port`, no path), signing for `region` with the
    /// given credentials.
    pub fn new(endpoint: &str, region: &str, access_key: &str, secret_key: &str) -> Result<S3Sink, String> {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let uri: http::Uri = endpoint.parse().map_err(|e| format!("--s3-endpoint {endpoint:?}: {e}"))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(format!("--s3-endpoint {endpoint:?}: expected http://host[:port]"));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shardlog-s3")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the S3 client runtime: {e}"))?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let identity = Identity::from(Credentials::new(access_key, secret_key, None, None, "shardlog-serve"));
        Ok(S3Sink { endpoint, region: region.to_string(), identity, client, runtime })
    }

    fn request(&self, o: &PutObject<'_>) -> Result<http::Request<Full<Bytes>>, SinkError> {
        let permanent = |what: String| SinkError::Permanent(what);
        let uri = format!("{}/{}/{}", self.endpoint, o.bucket, encode_key(o.key));
        let sha = hex(&sha2::Sha256::digest(o.body));
        let mut headers: Vec<(&str, String)> = vec![
            ("content-type", o.content_type.to_string()),
            ("x-amz-content-sha256", sha),
            ("x-amz-expected-bucket-owner", o.expected_bucket_owner.to_string()),
        ];
        if let Some(e) = o.content_encoding {
            headers.push(("content-encoding", e.to_string()));
        }
        if let Some(c) = o.storage_class {
            headers.push(("x-amz-storage-class", c.to_string()));
        }
        let mut req = http::Request::builder().method("PUT").uri(&uri);
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let mut req = req
            .header("content-length", o.body.len())
            .body(Full::new(Bytes::copy_from_slice(o.body)))
            .map_err(|e| permanent(format!("invalid request for s3://{}/{}: {e}", o.bucket, o.key)))?;
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| permanent(format!("signing parameters: {e}")))?
            .into();
        let host = req.uri().authority().map(|a| a.to_string()).unwrap_or_default();
        let mut signed_headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        signed_headers.push(("host", &host));
        let signable =
            SignableRequest::new("PUT", uri.as_str(), signed_headers.into_iter(), SignableBody::Bytes(o.body))
                .map_err(|e| permanent(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| permanent(format!("signing: {e}")))?.into_parts();
        instructions.apply_to_request_http1x(&mut req);
        Ok(req)
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
        let req = self.request(o)?;
        let target = format!("s3://{}/{}", o.bucket, o.key);
        self.runtime.block_on(async {
            let resp = match tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(req)).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(SinkError::Transient(format!("PUT {target} failed: {e}"))),
                Err(_) => return Err(SinkError::Transient(format!("PUT {target} timed out"))),
            };
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let why = format!("PUT {target} answered {status}: {}", error_text(&body));
            if status == http::StatusCode::FORBIDDEN || status == http::StatusCode::NOT_FOUND {
                Err(SinkError::Permanent(why))
            } else {
                Err(SinkError::Transient(why))
            }
        })
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
        let sink = S3Sink::new("http://127.0.0.1:9000", "us-east-1", "AK", "SK").unwrap();
        let o = PutObject {
            bucket: "b",
            key: "x/y z.json",
            body: b"{}",
            content_type: "application/json",
            content_encoding: Some("gzip"),
            storage_class: Some("STANDARD"),
            expected_bucket_owner: "000000000000",
        };
        let req = sink.request(&o).unwrap();
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:9000/b/x/y%20z.json");
        let auth = req.headers().get("authorization").unwrap().to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/"), "{auth}");
        assert!(auth.contains("/us-east-1/s3/aws4_request"), "{auth}");
        assert!(req.headers().contains_key("x-amz-date"));
        assert_eq!(req.headers()["content-encoding"], "gzip");
    }
}
