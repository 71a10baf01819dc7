//! Shared by the in-process server tests: an SDK client, raw HTTP/1.1 GETs and responses, and reading
//! one sample out of a Prometheus exposition.
#![allow(dead_code)]

pub mod h2;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_kinesis::Client;

/// The official SDK against `url`, any credentials.
pub fn sdk(url: &str, http: SharedHttpClient) -> Client {
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(url)
        .http_client(http)
        // Every refusal reaches the test as it was sent (the SDK would retry throttling).
        .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

/// The SDK's own plain-HTTP client (HTTP/1.1).
pub fn http1() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

/// A response to a raw request.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// Read one response (its head and `Content-Length` body) from a keep-alive connection:
/// the head in lower case, and the body. Panics if the connection closes first.
pub fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the connection closed");
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap();
            if got.len() >= end + 4 + len {
                return (head, got[end + 4..end + 4 + len].to_vec());
            }
        }
    }
}

/// `GET path` on a fresh connection (HTTP/1.1, `Connection: close`).
pub fn get(addr: SocketAddr, path: &str) -> Got {
    get_with(addr, path, &[])
}

/// `GET path` with extra headers.
pub fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Got {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Got { status, headers: head.to_ascii_lowercase(), body: body.to_string() }
}

/// The value of the sample `series` (name and labels exactly as rendered, e.g.
/// `kinesis_incoming_records_total{stream="orders"}`); panics if absent.
pub fn sample(text: &str, series: &str) -> f64 {
    try_sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// The value of the sample `series`, if present.
pub fn try_sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
}
