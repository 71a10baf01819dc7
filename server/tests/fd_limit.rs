//! Connections under a lowered descriptor limit (issue #14, problem 3): before, idle
//! connections were accepted without bound, so a few hundred of them used up the process's
//! descriptors and then CreateStream on an existing connection failed with 500 and new
//! clients hung. This binary lowers its own soft `RLIMIT_NOFILE` to [`LIMIT`] (its own test
//! binary, so no other test shares the limit) and starts the server with its defaults, which
//! derive the connection limit (3/8) and the engine's budget (1/2) from it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic
#![cfg(target_os = "linux")]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use shardlog_server::serve::{ServeLimits, Server};

const LIMIT: u64 = 512;

fn lower_limit() {
    let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit { current: Some(LIMIT), maximum: now.maximum },
    )
    .unwrap();
}

fn call(s: &mut TcpStream, addr: SocketAddr, target: &str, body: &str) -> u16 {
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: Kinesis_20131202.{target}\r\n\
         Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nX-Amz-Date: 20250101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let (head, _) = support::read_response(s);
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn served(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else { return false };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if s.write_all(format!("GET /healthcheck HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => got.starts_with(b"HTTP/1.1 200"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
        Err(_) => false,
    }
}

#[test]
fn idle_connections_cannot_take_the_descriptors_the_engine_and_open_connections_need() {
    lower_limit();
    let limits = ServeLimits::default();
    assert_eq!(limits.max_connections, (LIMIT / 8 * 3) as usize, "the default follows the lowered limit");
    let server = Server::builder().serve_limits(limits).start().unwrap();
    let addr = server.local_addr();
    let mut working = TcpStream::connect(addr).unwrap();
    working.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(call(&mut working, addr, "CreateStream", r#"{"StreamName":"a","ShardCount":2}"#), 200);
    // 250 connections that never send: more than the 192 the server keeps.
    let idle: Vec<TcpStream> = (0..250).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // The working connection still creates streams and writes (files and manifest commits).
    for i in 0..5 {
        let body = format!(r#"{{"StreamName":"more{i}","ShardCount":4}}"#);
        assert_eq!(call(&mut working, addr, "CreateStream", &body), 200);
        let put = format!(r#"{{"StreamName":"more{i}","PartitionKey":"k","Data":"aGk="}}"#);
        assert_eq!(call(&mut working, addr, "PutRecord", &put), 200);
    }
    // Idle clients that leave make room for new ones, which are served (not left hanging).
    drop(idle);
    let started = Instant::now();
    while !served(addr) {
        assert!(started.elapsed() < Duration::from_secs(20), "no new client was served after the idle ones left");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.shutdown().unwrap();
}
