//! Hostile and careless clients against an in-process server (issue #14): each test does
//! what such a client did to the server before (a connection that never sends, a request
//! head or body that never finishes, more connections than the server can hold, bodies that
//! pin memory, a subscriber that never reads, a signed request replayed with another target
//! or body, a CBOR body with a second item behind it) and checks the bound that stops it.
//!
//! Everything is loopback with fixed counts; the timeouts are set short (hundreds of
//! milliseconds) so the server's own timers fire, and the tests wait for their effect with a
//! generous bound instead of sleeping. Memory figures are measured by
//! `shardlog bench --hostile`, not here; these tests check the mechanisms (what is counted,
//! refused, ended).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use shardlog::engine::*;
use shardlog::{Engine, EngineConfig, ManualClock};
use shardlog_server::serve::{ServeLimits, Server, ServerHandle, StartupStream};

/// How long any test waits for the server to act before failing.
const PATIENCE: Duration = Duration::from_secs(20);

fn limits() -> ServeLimits {
    ServeLimits {
        max_connections: 64,
        idle_timeout: Duration::from_secs(60),
        header_read_timeout: Duration::from_secs(60),
        body_read_timeout: Duration::from_secs(60),
        max_buffered_body_bytes: 64 * 1024 * 1024,
        stall_timeout: Duration::from_secs(60),
        subscription_event_bytes: 64 * 1024,
    }
}

fn start(limits: ServeLimits) -> ServerHandle {
    Server::builder().serve_limits(limits).create_stream(StartupStream::provisioned("s", 1)).start().unwrap()
}

/// A raw response.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn parse(bytes: &[u8]) -> Raw {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
        let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        Raw { status, head, body: bytes[end + 4..].to_vec() }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Read until the server closes the connection (a reset counts as closed); panics if it
/// does not within [`PATIENCE`].
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server did not close the connection within {:?}", started.elapsed())
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

fn request_head(addr: SocketAddr, target: &str, content_type: &str, len: usize, extra: &[(&str, &str)]) -> String {
    let mut req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: Kinesis_20131202.{target}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {len}\r\nX-Amz-Date: 20250101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00\r\n"
    );
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    req
}

/// One request on a fresh connection (`Connection: close`).
fn post(addr: SocketAddr, target: &str, content_type: &str, body: &[u8], extra: &[(&str, &str)]) -> Raw {
    let mut s = connect(addr);
    s.write_all(request_head(addr, target, content_type, body.len(), extra).as_bytes()).unwrap();
    s.write_all(body).unwrap();
    Raw::parse(&read_until_closed(&mut s))
}

fn metrics(addr: SocketAddr) -> String {
    support::get(addr, "/metrics").body
}

/// Poll `cond` until it holds; panics after [`PATIENCE`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < PATIENCE, "{what}: not within {PATIENCE:?}");
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn timeouts(addr: SocketAddr, kind: &str) -> f64 {
    support::try_sample(&metrics(addr), &format!("shardlog_connection_timeouts_total{{kind=\"{kind}\"}}"))
        .unwrap_or(0.0)
}

// ---- problem 3: connections ----------------------------------------------------------

#[test]
fn a_connection_that_never_sends_a_byte_is_closed_after_the_idle_timeout() {
    let server = start(ServeLimits { idle_timeout: Duration::from_millis(300), ..limits() });
    let mut silent = connect(server.local_addr());
    let got = read_until_closed(&mut silent);
    assert!(got.is_empty(), "an idle close sends nothing: {:?}", String::from_utf8_lossy(&got));
    assert!(timeouts(server.local_addr(), "idle") >= 1.0);
    server.shutdown().unwrap();
}

#[test]
fn an_idle_h2c_connection_is_closed_whatever_pings_it_sends() {
    let server = start(ServeLimits { idle_timeout: Duration::from_millis(300), ..limits() });
    let mut s = connect(server.local_addr());
    // The client preface and an empty SETTINGS frame: a connection, but never a stream.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    // A PING now and then does not keep it open.
    let ping = [0u8, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let closed = loop {
        assert!(started.elapsed() < PATIENCE, "the idle h2c connection stayed open");
        if s.write_all(&ping).is_err() {
            break true;
        }
        match s.read(&mut buf) {
            Ok(0) => break true,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            _ => {}
        }
    };
    assert!(closed);
    server.shutdown().unwrap();
}

#[test]
fn a_request_head_that_never_finishes_gets_408_and_the_connection_closes() {
    let server = start(ServeLimits { header_read_timeout: Duration::from_millis(300), ..limits() });
    let addr = server.local_addr();
    let mut s = connect(addr);
    s.write_all(
        format!("POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\n").as_bytes(),
    )
    .unwrap();
    let got = Raw::parse(&read_until_closed(&mut s));
    assert_eq!(got.status, 408);
    assert!(got.head.contains("connection: close"), "{}", got.head);
    assert!(timeouts(addr, "header_read") >= 1.0);
    // The server itself is fine.
    assert_eq!(post(addr, "ListStreams", "application/x-amz-json-1.1", b"{}", &[]).status, 200);
    server.shutdown().unwrap();
}

#[test]
fn a_body_that_never_finishes_gets_408_and_releases_its_memory() {
    let server = start(ServeLimits { body_read_timeout: Duration::from_millis(300), ..limits() });
    let addr = server.local_addr();
    let mut s = connect(addr);
    s.write_all(request_head(addr, "PutRecord", "application/x-amz-json-1.1", 16 * 1024 * 1024, &[]).as_bytes())
        .unwrap();
    s.write_all(&[b' '; 100_000]).unwrap();
    let got = Raw::parse(&read_until_closed(&mut s));
    assert_eq!(got.status, 408);
    assert!(got.text().contains("RequestTimeoutException"), "{}", got.text());
    assert!(got.head.contains("connection: close"));
    assert_eq!(support::sample(&metrics(addr), "shardlog_buffered_body_bytes"), 0.0);
    assert!(timeouts(addr, "body_read") >= 1.0);
    server.shutdown().unwrap();
}

#[test]
fn connections_beyond_the_limit_are_closed_at_accept_while_open_ones_keep_working() {
    let server = start(ServeLimits { max_connections: 8, ..limits() });
    let addr = server.local_addr();
    // One working keep-alive connection, then seven silent ones fill the limit.
    let mut working = connect(addr);
    let keep_alive = |s: &mut TcpStream, name: &str| {
        let body = format!(r#"{{"StreamName":"{name}","ShardCount":1}}"#);
        let head = request_head(addr, "CreateStream", "application/x-amz-json-1.1", body.len(), &[])
            .replace("Connection: close\r\n", "");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        Raw::parse(&buf[..n]).status
    };
    assert_eq!(keep_alive(&mut working, "a"), 200);
    let silent: Vec<TcpStream> = (0..7).map(|_| connect(addr)).collect();
    eventually("eight connections open", || {
        support::try_sample(&metrics_on(&mut working, addr), "shardlog_open_connections") == Some(8.0)
    });
    // Every further connection is closed at once instead of hanging.
    for _ in 0..20 {
        let mut extra = connect(addr);
        let _ = extra.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(read_until_closed(&mut extra).is_empty());
    }
    // The open connections still work.
    assert_eq!(keep_alive(&mut working, "b"), 200);
    let m = metrics_on(&mut working, addr);
    assert!(support::sample(&m, "shardlog_refused_connections_total") >= 20.0, "{m}");
    // A closed connection frees its place.
    drop(silent);
    eventually("a new client is served once others left", || {
        let mut s = connect(addr);
        let _ =
            s.write_all(format!("GET /healthcheck HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
        let got = read_until_closed(&mut s);
        !got.is_empty() && Raw::parse(&got).status == 200
    });
    server.shutdown().unwrap();
}

/// `GET /metrics` on an existing keep-alive connection (a new one might be refused).
fn metrics_on(s: &mut TcpStream, addr: SocketAddr) -> String {
    s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    String::from_utf8_lossy(&support::read_response(s).1).into_owned()
}

#[test]
fn bodies_past_the_memory_budget_get_503_and_the_budget_comes_back() {
    let budget = 1024 * 1024;
    let server = start(ServeLimits { max_buffered_body_bytes: budget, ..limits() });
    let addr = server.local_addr();
    let buffered = || support::sample(&metrics(addr), "shardlog_buffered_body_bytes");
    let chunk = vec![b' '; 400 * 1024];
    // Two clients declare 16 MiB each, send 400 KiB and stop: 800 KiB held.
    let mut pinning = Vec::new();
    for i in 1..=2u32 {
        let mut s = connect(addr);
        s.write_all(request_head(addr, "PutRecord", "application/x-amz-json-1.1", 16 << 20, &[]).as_bytes()).unwrap();
        s.write_all(&chunk).unwrap();
        pinning.push(s);
        eventually("the sent bytes are counted", || buffered() >= f64::from(i) * chunk.len() as f64);
    }
    // A declared length reserves nothing: a small request still fits.
    assert_eq!(post(addr, "ListStreams", "application/x-amz-json-1.1", b"{}", &[]).status, 200);
    // A third that would pass the budget is refused at once.
    let mut third = connect(addr);
    third.write_all(request_head(addr, "PutRecord", "application/x-amz-json-1.1", 16 << 20, &[]).as_bytes()).unwrap();
    let _ = third.write_all(&chunk);
    let got = Raw::parse(&read_until_closed(&mut third));
    assert_eq!(got.status, 503);
    assert!(got.text().contains("ServiceUnavailable"), "{}", got.text());
    assert!(buffered() <= budget as f64);
    // Clients that leave give their bytes back.
    drop(pinning);
    eventually("the budget is released", || buffered() == 0.0);
    server.shutdown().unwrap();
}

// ---- problem 5: subscribers that never read ------------------------------------------

#[test]
fn a_subscriber_that_stops_reading_holds_little_and_is_ended_after_the_stall_timeout() {
    let clock = ManualClock::new(1_700_000_000_000);
    let dir = tempfile::tempdir().unwrap();
    let engine =
        Engine::open(dir.path(), EngineConfig { clock: std::sync::Arc::new(clock.clone()), ..Default::default() })
            .unwrap();
    engine
        .create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(1), ..Default::default() })
        .unwrap();
    let arn = shardlog::kinesis::names::stream_arn("us-east-1", "000000000000", "s");
    let consumer = engine
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: arn.clone(),
            consumer_name: "c".into(),
            ..Default::default()
        })
        .unwrap();
    // 32 MiB waiting to be pushed.
    for _ in 0..32 {
        let records = (0..16)
            .map(|i| PutRecordsRequestEntry {
                data: Bytes::from(vec![7u8; 64 * 1024]),
                partition_key: Some(format!("k{i}")),
                ..Default::default()
            })
            .collect();
        engine.put_records(PutRecordsInput { stream: StreamRef::name("s"), records, dry_run: false }).unwrap();
    }
    let server = Server::builder()
        .engine(engine.clone())
        .serve_limits(ServeLimits { stall_timeout: Duration::from_millis(500), ..limits() })
        .start()
        .unwrap();
    let addr = server.local_addr();
    let body = format!(
        r#"{{"ConsumerARN":"{}","ShardId":"shardId-000000000000","StartingPosition":{{"Type":"TRIM_HORIZON"}}}}"#,
        consumer.consumer_arn
    );
    let mut s = small_receive_buffer(addr);
    s.write_all(request_head(addr, "SubscribeToShard", "application/x-amz-json-1.1", body.len(), &[]).as_bytes())
        .unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut first = [0u8; 1024];
    let n = s.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    // Stop reading. The subscription ends after the stall timeout: the engine lets the same
    // consumer subscribe to the shard again at once (the engine clock has not moved, so a
    // live subscription would still hold the 5-second rule).
    let again = || {
        engine.subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: consumer.consumer_arn.clone(),
            shard_id: "shardId-000000000000".into(),
            starting_position: StartingPosition {
                position_type: ShardIteratorType::TrimHorizon,
                sequence_number: None,
                timestamp: None,
            },
            stream_id: None,
            dry_run: false,
        })
    };
    assert!(matches!(again(), Err(shardlog::Error::ResourceInUse { .. })), "the stalled subscription is live at first");
    eventually("the stalled subscription is ended", || again().is_ok());
    // It read from the shard only what the kernel's socket buffers took (the server caps
    // a subscription connection's send buffer at 128 KiB, which Linux doubles; the client's
    // receive buffer is 4 KiB) plus what the server queues: one 64 KiB event, one being
    // framed, HTTP's 128 KiB write buffer. Before: four queued 2 MiB events, one in the pump,
    // one in hyper's buffer and megabytes of autotuned socket buffer.
    let bound = 2.0 * 128.0 * 1024.0 + 1024.0 * 1024.0;
    let pushed = support::sample(&metrics(addr), "kinesis_subscribe_to_shard_event_bytes_total{stream=\"s\"}");
    assert!(pushed < bound, "{pushed} bytes pushed to a subscriber that read nothing");
    assert!(timeouts(addr, "stall") >= 1.0);
    drop(s);
    server.shutdown().unwrap();
    engine.close().unwrap();
}

/// A client socket with a small receive buffer, so the kernel takes little on its behalf.
fn small_receive_buffer(addr: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let s = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(addr).await.unwrap().into_std().unwrap()
    });
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

// ---- problem 4: signatures bind body, target and host --------------------------------

const AKID: &str = "AKIDHOSTILE";
const SECRET: &str = "hostile-secret";

/// Headers of a request signed as the SDKs sign it, leaving `exclude` out of the signature.
fn signed(addr: SocketAddr, target: &str, body: &[u8], exclude: &[&'static str]) -> Vec<(String, String)> {
    let headers = [
        ("host".to_string(), addr.to_string()),
        ("content-type".to_string(), "application/x-amz-json-1.1".to_string()),
        ("x-amz-target".to_string(), format!("Kinesis_20131202.{target}")),
    ];
    let identity = Identity::from(Credentials::new(AKID, SECRET, None, None, "test"));
    let mut settings = SigningSettings::default();
    if let Some(ex) = settings.excluded_headers.as_mut() {
        ex.extend(exclude.iter().map(|e| std::borrow::Cow::Borrowed(*e)));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kinesis")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        format!("http://{addr}/"),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut out: Vec<(String, String)> = headers.to_vec();
    out.extend(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())));
    out
}

fn send_signed(addr: SocketAddr, headers: &[(String, String)], body: &[u8]) -> Raw {
    let mut s = connect(addr);
    let mut req = String::from("POST / HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    Raw::parse(&read_until_closed(&mut s))
}

fn with(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case(name)).cloned().collect();
    h.push((name.to_string(), value.to_string()));
    h
}

#[test]
fn a_signed_request_cannot_be_replayed_with_another_target_body_or_payload_hash() {
    let server = Server::builder()
        .verify_sigv4(AKID, SECRET)
        .create_stream(StartupStream::provisioned("kept", 1))
        .start()
        .unwrap();
    let addr = server.local_addr();
    let body = br#"{"StreamName":"kept"}"#;
    let h = signed(addr, "DescribeStreamSummary", body, &[]);
    assert_eq!(send_signed(addr, &h, body).status, 200, "an SDK-style signature verifies");

    // The same signature with X-Amz-Target: DeleteStream.
    let replay = with(&h, "x-amz-target", "Kinesis_20131202.DeleteStream");
    let got = send_signed(addr, &replay, body);
    assert_eq!(got.status, 400);
    assert!(got.text().contains("InvalidSignatureException"), "{}", got.text());

    // Another body, with an unsigned x-amz-content-sha256 holding the original body's hash.
    let other = br#"{"StreamName":"kept","Limit":1}"#;
    let hash: String = <sha2::Sha256 as sha2::Digest>::digest(body).iter().map(|b| format!("{b:02x}")).collect();
    let got = send_signed(addr, &with(&h, "x-amz-content-sha256", &hash), other);
    assert_eq!(got.status, 400);
    assert!(got.text().contains("InvalidSignatureException"), "{}", got.text());

    // UNSIGNED-PAYLOAD, even signed.
    let got = send_signed(addr, &with(&h, "x-amz-content-sha256", "UNSIGNED-PAYLOAD"), other);
    assert_eq!(got.status, 400);
    assert!(got.text().contains("UNSIGNED-PAYLOAD"), "{}", got.text());

    // A signature that covers only x-amz-date (host and target left out).
    let narrow = signed(addr, "DeleteStream", body, &["host", "x-amz-target", "content-type"]);
    let got = send_signed(addr, &narrow, body);
    assert_eq!(got.status, 400);
    assert!(got.text().contains("IncompleteSignatureException"), "{}", got.text());

    // Nothing was deleted.
    let h = signed(addr, "DescribeStreamSummary", body, &[]);
    let got = send_signed(addr, &h, body);
    assert_eq!(got.status, 200);
    assert!(got.text().contains("\"StreamStatus\":\"ACTIVE\""), "{}", got.text());
    server.shutdown().unwrap();
}

// ---- CBOR trailing bytes -------------------------------------------------------------

#[test]
fn a_cbor_body_with_bytes_after_its_item_is_refused_as_json_with_trailing_characters_is() {
    let server = start(limits());
    let addr = server.local_addr();
    let mut cbor = Vec::new();
    ciborium::ser::into_writer(&ciborium::Value::Map(vec![]), &mut cbor).unwrap();
    assert_eq!(post(addr, "ListStreams", "application/x-amz-cbor-1.1", &cbor, &[]).status, 200);
    let mut trailing = cbor.clone();
    trailing.extend_from_slice(&cbor);
    let got = post(addr, "ListStreams", "application/x-amz-cbor-1.1", &trailing, &[]);
    assert_eq!(got.status, 400);
    let v: ciborium::Value = ciborium::de::from_reader(&got.body[..]).unwrap();
    let fields = v.into_map().unwrap();
    let ty = fields.iter().find(|(k, _)| k.as_text() == Some("__type")).unwrap().1.as_text().unwrap().to_string();
    assert_eq!(ty, "SerializationException");
    let json = post(addr, "ListStreams", "application/x-amz-json-1.1", b"{}{}", &[]);
    assert_eq!(json.status, 400);
    assert!(json.text().contains("SerializationException"));
    server.shutdown().unwrap();
}
