//! Shared by the `serve_*` tests: start and stop `shardlog serve`, a raw HTTP/1.1 client,
//! and an independent event-stream frame parser (CRCs checked with crc32fast).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `shardlog serve`.
pub struct Server {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Start `shardlog serve --addr 127.0.0.1:0 --dir DIR <extra>` and wait until it accepts
    /// connections.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Server::start_on(dir, "127.0.0.1:0", extra)
    }

    /// Like [`Server::start`] on a given address (to restart a server on the same port).
    pub fn start_on(dir: &Path, addr: &str, extra: &[&str]) -> Server {
        Server::start_with(dir, addr, extra, |c| c)
    }

    /// Like [`Server::start_on`], with `setup` adjusting the command (environment variables).
    pub fn start_with(
        dir: &Path,
        addr: &str,
        extra: &[&str],
        setup: impl FnOnce(&mut Command) -> &mut Command,
    ) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardlog"));
        cmd.args(["serve", "--addr", addr, "--dir", dir.to_str().unwrap(), "--log-level", "warn"])
            .args(extra)
            .stderr(Stdio::inherit());
        setup(&mut cmd);
        Server::spawn(cmd)
    }

    /// Start a prepared `shardlog serve` command (its stdout is taken over) and wait until
    /// it accepts connections.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("start shardlog serve");
        // The first stdout line names the bound address (http:// or https://).
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("read the listening line");
        let addr: SocketAddr = line
            .trim()
            .rsplit("://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        // Bounded connect retries.
        let mut ok = false;
        for _ in 0..100 {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(ok, "server at {addr} never accepted a connection");
        Server { child: Some(child), addr }
    }

    /// Kill the process at once (SIGKILL: a crash) and wait for it.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Send SIGTERM without waiting.
    pub fn signal(&self) {
        let child = self.child.as_ref().unwrap();
        let st = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
        assert!(st.success());
    }

    /// Send SIGTERM and wait (bounded) for the exit status.
    pub fn terminate(self) -> ExitStatus {
        self.signal();
        self.wait()
    }

    /// Wait (bounded) for the exit status after a signal.
    pub fn wait(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit within 30 s of a signal");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `__type` of a JSON error body.
    pub fn error_type(&self) -> String {
        self.json()["__type"].as_str().unwrap_or("").to_string()
    }
}

/// Read a response head (status line and headers).
pub fn read_head(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 =
        line.split_whitespace().nth(1).unwrap_or_else(|| panic!("bad status line {line:?}")).parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    (status, headers)
}

/// Read one chunk of a chunked body (`None` at the last chunk).
pub fn read_chunk(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let size = usize::from_str_radix(line.trim().split(';').next().unwrap(), 16).unwrap();
    let mut data = vec![0; size];
    r.read_exact(&mut data).unwrap();
    let mut crlf = [0; 2];
    r.read_exact(&mut crlf).unwrap();
    (size > 0).then_some(data)
}

/// Send one request to `/` on a fresh connection and read the whole response.
pub fn request(addr: SocketAddr, method: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    request_to(addr, method, "/", headers, body)
}

/// `GET path` on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request_to(addr, "GET", path, &[], b"")
}

/// Send one request to `path` on a fresh connection and read the whole response.
pub fn request_to(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r);
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().unwrap());
    let mut body = Vec::new();
    if chunked {
        while let Some(c) = read_chunk(&mut r) {
            body.extend_from_slice(&c);
        }
    } else if let Some(n) = len {
        body.resize(n, 0);
        r.read_exact(&mut body).unwrap();
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    Resp { status, headers, body }
}

/// A syntactically complete (unverified) SigV4 Authorization header.
pub const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kinesis/aws4_request, \
                        SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

/// The headers of a Kinesis call.
pub fn api_headers<'a>(op: &'a str, content_type: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Content-Type", content_type),
        ("X-Amz-Target", op),
        ("Authorization", AUTH),
        ("X-Amz-Date", "20150830T123600Z"),
    ]
}

/// Call `op` with a JSON body.
pub fn call_json(addr: SocketAddr, op: &str, body: &serde_json::Value) -> Resp {
    let target = format!("Kinesis_20131202.{op}");
    request(addr, "POST", &api_headers(&target, "application/x-amz-json-1.1"), body.to_string().as_bytes())
}

/// Call `op` with a JSON body; panic unless it succeeds. Operations without an output
/// answer with an empty body (`Content-Length: 0`), returned as `null`.
pub fn ok_json(addr: SocketAddr, op: &str, body: serde_json::Value) -> serde_json::Value {
    let r = call_json(addr, op, &body);
    assert_eq!(r.status, 200, "{op} failed: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    if r.body.is_empty() {
        assert_eq!(r.header("content-length"), Some("0"), "{op}: an empty body is declared empty");
        return serde_json::Value::Null;
    }
    r.json()
}

/// Call `op` with a CBOR body.
pub fn call_cbor(addr: SocketAddr, op: &str, body: &ciborium::Value) -> Resp {
    let target = format!("Kinesis_20131202.{op}");
    let mut buf = Vec::new();
    ciborium::ser::into_writer(body, &mut buf).unwrap();
    request(addr, "POST", &api_headers(&target, "application/x-amz-cbor-1.1"), &buf)
}

/// One event-stream message.
#[derive(Debug, Clone)]
pub struct Frame {
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Parse one complete message from the front of `buf` (removing it), checking the prelude
/// and message CRC-32s; `None` if `buf` does not hold a whole message yet.
pub fn take_frame(buf: &mut Vec<u8>) -> Option<Frame> {
    if buf.len() < 12 {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    let total = be(&buf[0..4]) as usize;
    let headers_len = be(&buf[4..8]) as usize;
    assert_eq!(be(&buf[8..12]), crc32fast::hash(&buf[0..8]), "prelude CRC mismatch");
    if buf.len() < total {
        return None;
    }
    assert_eq!(be(&buf[total - 4..total]), crc32fast::hash(&buf[..total - 4]), "message CRC mismatch");
    let mut headers = Vec::new();
    let mut p = 12;
    while p < 12 + headers_len {
        let n = buf[p] as usize;
        let name = String::from_utf8(buf[p + 1..p + 1 + n].to_vec()).unwrap();
        p += 1 + n;
        assert_eq!(buf[p], 7, "only string headers are expected");
        let len = u16::from_be_bytes([buf[p + 1], buf[p + 2]]) as usize;
        let value = String::from_utf8(buf[p + 3..p + 3 + len].to_vec()).unwrap();
        p += 3 + len;
        headers.push((name, value));
    }
    let payload = buf[12 + headers_len..total - 4].to_vec();
    buf.drain(..total);
    Some(Frame { headers, payload })
}
