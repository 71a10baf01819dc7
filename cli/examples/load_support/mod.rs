//! What the `serve` load examples share: a keep-alive HTTP/1.1 connection that makes Kinesis
//! JSON calls, the placeholder SigV4 header they send, and a process's CPU time.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// Errors of the load examples: anything, with its message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A syntactically complete SigV4 Authorization header (the server checks its presence only,
/// unless started with `--verify-sigv4`).
pub const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDLOADTEST/20250101/us-east-1/kinesis/aws4_request, \
                    SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// utime + stime of a process (`self` or a pid), in seconds; NaN if it cannot be read.
pub fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return f64::NAN };
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |n: usize| f.get(n).and_then(|s| s.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // /proc counts in USER_HZ clock ticks, 100 per second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    /// Connect to `host` (`addr:port`), with Nagle off.
    pub async fn open(host: &str) -> Result<Conn, Error> {
        let tcp = TcpStream::connect(host).await?;
        tcp.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender, host: host.to_string() })
    }

    /// POST a Kinesis call; the body of a 200 response, or an error naming the failure.
    pub async fn call(&mut self, op: &str, body: Bytes) -> Result<Bytes, Error> {
        let req = hyper::Request::post("/")
            .header("host", &self.host)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("Kinesis_20131202.{op}"))
            .header("x-amz-date", "20250101T000000Z")
            .header("authorization", AUTH)
            .body(Full::new(body))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!("{op}: HTTP {status}: {}", String::from_utf8_lossy(&bytes)).into());
        }
        Ok(bytes)
    }

    /// [`Conn::call`] with a JSON body; the parsed response (`Null` for an empty body).
    pub async fn json(&mut self, op: &str, body: Value) -> Result<Value, Error> {
        let bytes = self.call(op, Bytes::from(body.to_string())).await?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}
