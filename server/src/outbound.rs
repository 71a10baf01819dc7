//! Outgoing HTTP of the server: SigV4-signed requests (the `aws-sigv4` crate, with the
//! configured credentials and the server's region) to the Lambda Invoke API, to an
//! SQS-compatible endpoint (on-failure destinations) and to an S3-compatible endpoint
//! (channel deliveries), over `http://` or `https://` (rustls; the system's trust store,
//! which `SSL_CERT_FILE` and `SSL_CERT_DIR` extend), on a small runtime of its own so that
//! pollers and the engine's delivery thread can call it blocking, whatever the accept loop
//! is doing. Every call has a deadline, reads at most a bounded response, and gives up at
//! once when the server shuts down ([`Abort`]).
//!
//! Signing follows each service's rules: S3 signs the payload's SHA-256
//! (`x-amz-content-sha256`), encodes the path once and does not normalise it; every other
//! service uses the SigV4 defaults.

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;

/// Credentials requests are signed with.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Session token (`AWS_SESSION_TOKEN`), if any.
    pub session_token: Option<String>,
}

impl Credentials {
    /// The key pair given (`explicit`), else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
    /// (with `AWS_SESSION_TOKEN`), else a fixed local pair (`shardlog`/`shardlog`: local
    /// endpoints such as SAM, the Runtime Interface Emulator, moto or MinIO in its default
    /// set-up do not check it).
    pub fn resolve(explicit: Option<(&str, &str)>) -> Credentials {
        if let Some((a, s)) = explicit {
            return Credentials { access_key: a.into(), secret_key: s.into(), session_token: None };
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(a), Some(s)) => Credentials { access_key: a, secret_key: s, session_token: env("AWS_SESSION_TOKEN") },
            _ => Credentials { access_key: "shardlog".into(), secret_key: "shardlog".into(), session_token: None },
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key", &self.access_key).finish_non_exhaustive()
    }
}

/// Stops in-flight calls and waits at shutdown: a one-way switch.
#[derive(Debug)]
pub struct Abort {
    tx: watch::Sender<bool>,
    /// Blocking waiters (commands) woken when the switch turns.
    waiters: Mutex<Waiters>,
}

/// The last registration id, and the registered waiters by id.
type Waiters = (u64, Vec<(u64, mpsc::Sender<()>)>);

impl Default for Abort {
    fn default() -> Self {
        Abort { tx: watch::channel(false).0, waiters: Mutex::new((0, Vec::new())) }
    }
}

impl Abort {
    /// Turn the switch: every call in flight and every later one ends as aborted.
    pub fn abort(&self) {
        self.tx.send_replace(true);
        let waiters = std::mem::take(&mut self.waiters.lock().unwrap_or_else(|p| p.into_inner()).1);
        for (_, w) in waiters {
            let _ = w.send(());
        }
    }

    /// True once aborted.
    pub fn is_aborted(&self) -> bool {
        *self.tx.borrow()
    }

    /// Have `tx` receive `()` when the switch turns (at once if it has); the id undoes it
    /// with [`Abort::unregister`].
    pub fn register(&self, tx: mpsc::Sender<()>) -> u64 {
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_aborted() {
            let _ = tx.send(());
        }
        w.0 += 1;
        let id = w.0;
        w.1.push((id, tx));
        id
    }

    /// Forget a registration.
    pub fn unregister(&self, id: u64) {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner()).1.retain(|(i, _)| *i != id);
    }

    async fn aborted(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body (at most the call's limit).
    pub body: Vec<u8>,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a call got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No complete response within the deadline.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// The connection or the exchange failed.
    #[error("{0}")]
    Connection(String),
    /// The response body was over the limit.
    #[error("the response body is over {0} bytes")]
    TooLarge(usize),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Aborted,
    /// The request could not be built or signed.
    #[error("{0}")]
    Request(String),
}

/// One request.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The method.
    pub method: Method,
    /// The whole URL (`http[s]://host[:port]/path`).
    pub url: &'a str,
    /// Headers, signed with the request (`host` is added).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: Vec<u8>,
    /// The signing name of the service (`lambda`, `sqs`, `s3`).
    pub service: &'a str,
    /// How long the whole exchange may take.
    pub timeout: Duration,
    /// The largest response body read.
    pub max_body: usize,
}

/// The outgoing HTTP client.
pub struct Outbound {
    runtime: tokio::runtime::Runtime,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    credentials: Credentials,
    region: String,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").field("region", &self.region).field("credentials", &self.credentials).finish()
    }
}

impl Outbound {
    /// A client signing with `credentials` for `region`.
    pub fn new(credentials: Credentials, region: &str) -> std::io::Result<Outbound> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("shardlog-outbound")
            .enable_all()
            .build()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        connector.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https);
        Ok(Outbound { runtime, client, credentials, region: region.to_string() })
    }

    /// Check that `url` is an endpoint this client can call
    /// (`http[s]://host[:port][/path]`).
    pub fn check_endpoint(url: &str) -> Result<Uri, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            Some(other) => return Err(format!("{url:?}: the scheme must be http or https, not {other}")),
            None => return Err(format!("{url:?} needs a scheme, e.g. http://127.0.0.1:3001")),
        }
        if uri.authority().is_none() {
            return Err(format!("{url:?} has no host"));
        }
        if uri.query().is_some() {
            return Err(format!("{url:?} must not have a query string"));
        }
        Ok(uri)
    }

    /// Send `call` signed for its service, waiting at most its timeout for the whole
    /// response and reading at most its `max_body` bytes of it.
    pub fn send(&self, call: Call<'_>, abort: &Abort) -> Result<Reply, SendError> {
        if abort.is_aborted() {
            return Err(SendError::Aborted);
        }
        let (timeout, max_body) = (call.timeout, call.max_body);
        let req = self.signed(call)?;
        let client = self.client.clone();
        let exchange = async move {
            let resp = client.request(req).await.map_err(|e| SendError::Connection(describe(&e)))?;
            let (parts, body) = resp.into_parts();
            let body = match Limited::new(body, max_body).collect().await {
                Ok(b) => b.to_bytes().to_vec(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(SendError::TooLarge(max_body)),
                Err(e) => return Err(SendError::Connection(format!("reading the response failed: {e}"))),
            };
            Ok(Reply { status: parts.status, headers: parts.headers, body })
        };
        self.runtime.block_on(async {
            tokio::select! {
                r = tokio::time::timeout(timeout, exchange) => r.unwrap_or(Err(SendError::Timeout(timeout))),
                _ = abort.aborted() => Err(SendError::Aborted),
            }
        })
    }

    /// `call` as a signed request.
    pub(crate) fn signed(&self, call: Call<'_>) -> Result<Request<Full<Bytes>>, SendError> {
        let Call { method, url, headers, body, service, .. } = call;
        let uri: Uri = url.parse().map_err(|e| SendError::Request(format!("bad URL {url:?}: {e}")))?;
        let host =
            uri.authority().map(|a| a.to_string()).ok_or_else(|| SendError::Request(format!("{url:?} has no host")))?;
        let mut req = Request::builder().method(method).uri(uri);
        let mut pairs: Vec<(String, String)> = vec![("host".into(), host)];
        pairs.extend(headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())));
        for (k, v) in &pairs {
            let name = HeaderName::try_from(k.as_str()).map_err(|e| SendError::Request(e.to_string()))?;
            let value = HeaderValue::try_from(v.as_str()).map_err(|e| SendError::Request(e.to_string()))?;
            req = req.header(name, value);
        }
        let mut req = req.body(Full::new(Bytes::new())).map_err(|e| SendError::Request(e.to_string()))?;
        let identity = aws_credential_types::Credentials::new(
            &self.credentials.access_key,
            &self.credentials.secret_key,
            self.credentials.session_token.clone(),
            None,
            "shardlog-serve",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(signing_settings(service))
            .build()
            .map_err(|e| SendError::Request(format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            req.method().as_str(),
            url,
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| SendError::Request(format!("signing: {e}")))?;
        let (instructions, _signature) =
            sign(signable, &params).map_err(|e| SendError::Request(format!("signing: {e}")))?.into_parts();
        instructions.apply_to_request_http1x(&mut req);
        *req.body_mut() = Full::new(Bytes::from(body));
        Ok(req)
    }
}

/// The SigV4 rules of `service` (S3 differs from the defaults; see the module docs).
fn signing_settings(service: &str) -> SigningSettings {
    let mut settings = SigningSettings::default();
    if service == "s3" {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    settings
}

/// TLS for https endpoints: ring, the system's trust store (with `SSL_CERT_FILE` and
/// `SSL_CERT_DIR`). A machine without one can still call http endpoints; https calls then
/// fail with the handshake's error.
fn tls_config() -> std::io::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "a trust-store certificate could not be read");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "trust store for https endpoints (Lambda, SQS, S3)");
    // ring, as the server's own TLS (`serve::tls`): rustls deprecates it only for its lack of
    // post-quantum key exchange.
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The error and its causes on one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
