//! HTTPS: the self-signed certificate is written beside the data directory and verifies as a
//! trust anchor; ALPN offers `h2` and `http/1.1`; the Rust SDK runs SubscribeToShard over
//! HTTP/2 on TLS (what the Java SDK v2 and the KCL need).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::config::SharedHttpClient;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, StartingPosition, SubscribeToShardEventStream};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use shardlog_server::serve::{Server, StartupStream, TlsSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A rustls client that trusts only the PEM at `cert`, offering `alpn`.
fn client_config(cert: &Path, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// Handshake offering `alpn` for `name`; the negotiated protocol, and a `GET /healthcheck`
/// over the connection when it is HTTP/1.1.
async fn handshake(addr: SocketAddr, cert: &Path, name: &str, alpn: &[&[u8]]) -> (Option<Vec<u8>>, Option<String>) {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(cert, alpn)));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector.connect(ServerName::try_from(name.to_string()).unwrap(), tcp).await.expect("handshake");
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    if negotiated.as_deref() == Some(b"h2") {
        return (negotiated, None);
    }
    tls.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    tls.read_to_end(&mut raw).await.unwrap();
    (negotiated, Some(String::from_utf8(raw).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_offers_h2_then_http1_and_the_self_signed_certificate_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::builder().dir(&dir).tls(TlsSource::SelfSigned).start().unwrap();
    let addr = server.local_addr();
    let cert = server.tls_certificate().expect("a certificate to trust").to_path_buf();
    assert_eq!(cert, tmp.path().join("data.cert.pem"), "written beside the data directory");
    assert!(tmp.path().join("data.key.pem").exists());
    assert!(server.url().starts_with("https://127.0.0.1:"), "{}", server.url());

    for name in ["localhost", "127.0.0.1"] {
        let (alpn, _) = handshake(addr, &cert, name, &[b"h2", b"http/1.1"]).await;
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]), "{name}: h2 is preferred");
    }
    let (alpn, resp) = handshake(addr, &cert, "localhost", &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let resp = resp.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with(r#"{"status":"ok"}"#), "{resp}");
    // No ALPN at all (older clients): HTTP/1.1.
    let (alpn, resp) = handshake(addr, &cert, "localhost", &[]).await;
    assert_eq!(alpn, None);
    assert!(resp.unwrap().starts_with("HTTP/1.1 200"));
    // A name the certificate does not cover fails verification.
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(&cert, &[b"h2"])));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let wrong = connector.connect(ServerName::try_from("example.com").unwrap(), tcp).await;
    assert!(wrong.is_err(), "the certificate must not verify for example.com");

    let pem = std::fs::read(&cert).unwrap();
    tokio::task::spawn_blocking(move || server.shutdown()).await.unwrap().unwrap();
    // A restart reuses the pair, so clients keep trusting it.
    let again = Server::builder().dir(&dir).tls(TlsSource::SelfSigned).start().unwrap();
    assert_eq!(std::fs::read(again.tls_certificate().unwrap()).unwrap(), pem);
    tokio::task::spawn_blocking(move || again.shutdown()).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_to_shard_over_http2_on_tls_with_the_rust_sdk() {
    let server = Server::builder()
        .tls(TlsSource::SelfSigned)
        .create_stream(StartupStream::provisioned("tls", 1))
        .start()
        .unwrap();
    let cert = server.tls_certificate().unwrap().to_path_buf();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(&cert, &[]))
        .https_only()
        .enable_http2()
        .build();
    let h2 = support::h2::H2::new(https);
    let saw_h2 = Arc::clone(&h2.saw_h2);
    let url = format!("https://localhost:{}", server.local_addr().port());
    let c = support::sdk(&url, SharedHttpClient::new(h2));

    let arn = c.describe_stream_summary().stream_name("tls").send().await.unwrap();
    let arn = arn.stream_description_summary().unwrap().stream_arn().to_string();
    let consumer = c.register_stream_consumer().stream_arn(&arn).consumer_name("java-like").send().await.unwrap();
    let consumer_arn = consumer.consumer().unwrap().consumer_arn().to_string();
    let mut sub = c
        .subscribe_to_shard()
        .consumer_arn(&consumer_arn)
        .shard_id("shardId-000000000000")
        .starting_position(StartingPosition::builder().r#type(ShardIteratorType::Latest).build().unwrap())
        .send()
        .await
        .expect("subscribe_to_shard over h2 + TLS");
    c.put_record().stream_name("tls").partition_key("k").data(Blob::new(b"over h2".to_vec())).send().await.unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        let ev = tokio::time::timeout(Duration::from_secs(30), sub.event_stream.recv())
            .await
            .expect("an event within 30 s")
            .expect("event stream error")
            .expect("event stream ended early");
        let SubscribeToShardEventStream::SubscribeToShardEvent(ev) = ev else { panic!("unexpected {ev:?}") };
        if !ev.records().is_empty() {
            got = ev.records().iter().map(|r| r.data().as_ref().to_vec()).collect();
            break;
        }
    }
    assert_eq!(got, vec![b"over h2".to_vec()]);
    assert!(saw_h2.load(Ordering::SeqCst), "responses came over HTTP/2");
    drop(sub);
    tokio::task::spawn_blocking(move || server.shutdown()).await.unwrap().unwrap();
}
