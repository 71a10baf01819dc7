//! The server as a library: [`Server::builder`] … [`ServerBuilder::start`] returns a
//! [`ServerHandle`] with [`ServerHandle::local_addr`] and [`ServerHandle::shutdown`].
//!
//! ```no_run
//! use shardlog_server::serve::{Server, StartupStream};
//!
//! let server = Server::builder()                 // 127.0.0.1, a free port
//!     .create_stream(StartupStream::provisioned("orders", 2))
//!     .start()?;                                 // a temporary data directory
//! let endpoint = server.url();                   // http://127.0.0.1:PORT for any AWS SDK
//! # let _ = endpoint;
//! server.shutdown()?;                            // drains, closes the engine cleanly
//! # Ok::<(), shardlog_server::ServeError>(())
//! ```
//!
//! `start` opens the engine, creates the start-up streams and binds the listener before it
//! returns (so the port accepts only once everything is ready), then serves on a Tokio
//! runtime of its own, on its own thread: it works the same from synchronous code and from
//! inside another runtime (a `#[tokio::test]`).
//!
//! Shutdown, in order: health turns 503; the listener closes; open subscriptions end their
//! streams; connections finish their in-flight requests (at most the shutdown timeout); the
//! Lambda pollers stop; the engine (when the server opened it) closes every shard log cleanly and releases the
//! directory lock; a temporary data directory is removed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use shardlog::{Durability, Engine, EngineConfig, Limits};
use tokio::sync::watch;

use super::args::StartupStream;
use super::budget::BodyBudget;
use super::conn::{ConnActivity, TimeoutCounts, Timeouts, Watched};
use super::limits::ServeLimits;
use super::metrics::ServerMetrics;
use super::routes::Health;
use super::tls::{self, TlsSource};
use super::{handler, startup, State};
use crate::auth::Verifier;
use crate::forward::embedded::{self as forward_embedded, RunningForward};
use crate::forward::setup::ForwardSpec;
use crate::ServeError;

/// How long a TLS handshake may take before the connection is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/1.1 read and write buffer limit (hyper's default is ~400 KiB): what a client that
/// stops reading can leave queued per connection, besides one queued event frame.
const HTTP1_MAX_BUF: usize = 128 * 1024;
/// HTTP/2 send buffer per stream (hyper's default is 400 KiB).
const HTTP2_MAX_SEND_BUF: usize = 128 * 1024;

/// The Kinesis-compatible server; see [`Server::builder`].
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with the defaults: `127.0.0.1:0` (a free port), a temporary data directory,
    /// the engine's default configuration, no start-up streams, plain HTTP.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// Where the server's data comes from.
#[derive(Debug, Clone)]
enum Data {
    /// A temporary directory, removed at shutdown.
    Temporary,
    /// A directory the server opens (and closes at shutdown).
    Dir(PathBuf),
    /// An engine the caller opened and keeps (not closed at shutdown).
    Engine(Engine),
}

/// Settings of a [`Server`]; [`ServerBuilder::start`] runs it.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    addr: SocketAddr,
    data: Data,
    config: EngineConfig,
    streams: Vec<StartupStream>,
    max_body_bytes: u64,
    verifier: Option<(String, String)>,
    tls: Option<TlsSource>,
    shutdown_timeout: Duration,
    limits: ServeLimits,
    lambda: crate::lambda::LambdaArgs,
    signing: Option<(String, String)>,
    forwards: Vec<ForwardSpec>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            data: Data::Temporary,
            config: EngineConfig::default(),
            streams: Vec::new(),
            max_body_bytes: 16 * 1024 * 1024,
            verifier: None,
            tls: None,
            shutdown_timeout: Duration::from_secs(10),
            limits: ServeLimits::default(),
            lambda: crate::lambda::LambdaArgs::default(),
            signing: None,
            forwards: Vec::new(),
        }
    }
}

impl ServerBuilder {
    /// The address to listen on (port 0: a free port; read it back with
    /// [`ServerHandle::local_addr`]).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Forward a local stream to a Kinesis stream while serving (`serve --forward`):
    /// at least once, in order per key, checkpointed in the data directory, restarted after
    /// errors. Its stats are in [`ServerHandle::forwards`] and on `/metrics`.
    pub fn forward(mut self, spec: ForwardSpec) -> Self {
        self.forwards.push(spec);
        self
    }

    /// Keep the data in `dir` (created if missing) instead of a temporary directory.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data = Data::Dir(dir.into());
        self
    }

    /// Serve an engine the caller opened; it stays open after shutdown (the caller closes
    /// it). The engine's configuration wins over [`ServerBuilder::engine_config`].
    pub fn engine(mut self, engine: Engine) -> Self {
        self.data = Data::Engine(engine);
        self
    }

    /// The configuration the server opens its engine with.
    pub fn engine_config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// When puts are acknowledged.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.config.durability = durability;
        self
    }

    /// Throughput limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Region used in ARNs (and in verified signatures).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.config.region = region.into();
        self
    }

    /// 12-digit account id used in ARNs.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.config.account_id = account.into();
        self
    }

    /// A stream to create at start-up unless it exists (repeatable).
    pub fn create_stream(mut self, stream: StartupStream) -> Self {
        self.streams.push(stream);
        self
    }

    /// Largest request body (larger ones get 413).
    pub fn max_body_bytes(mut self, n: u64) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// Verify SigV4 signatures against this key pair.
    pub fn verify_sigv4(mut self, access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        self.verifier = Some((access_key.into(), secret_key.into()));
        self
    }

    /// Serve HTTPS with this certificate source.
    pub fn tls(mut self, source: TlsSource) -> Self {
        self.tls = Some(source);
        self
    }

    /// How long shutdown waits for in-flight requests.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Connection, time and memory bounds for clients (see [`ServeLimits`]).
    pub fn serve_limits(mut self, limits: ServeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// How the Lambda event-source mappings invoke functions (`--lambda-endpoint`,
    /// `--lambda-command`, …). Without it the mapping API is served but only functions given
    /// here can be mapped.
    pub fn lambda(mut self, args: crate::lambda::LambdaArgs) -> Self {
        self.lambda = args;
        self
    }

    /// The key pair outgoing Lambda Invoke and SQS requests are signed with (default: the
    /// `verify_sigv4` pair, else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, else a fixed
    /// local pair).
    pub fn signing_credentials(mut self, access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        self.signing = Some((access_key.into(), secret_key.into()));
        self
    }

    /// Open the engine, create the start-up streams, bind the listener and serve in the
    /// background. Errors: [`ServeError::Usage`] for bad settings, [`ServeError::Run`] when
    /// the directory, the address or the runtime cannot be had.
    pub fn start(self) -> Result<ServerHandle, ServeError> {
        let (engine, owned, temp) = self.open_engine()?;
        let forwards: Vec<RunningForward> = self.forwards.iter().cloned().map(RunningForward::new).collect();
        let guard = EngineGuard { engine: Some(engine.clone()), owned };
        let cfg = engine.config();
        check_account(&cfg.account_id)?;
        if cfg.region.is_empty() {
            return Err(ServeError::usage("the region must not be empty"));
        }
        let verifier = self.verifier.as_ref().map(|(a, s)| Verifier {
            access_key: a.clone(),
            secret_key: s.clone(),
            region: cfg.region.clone(),
        });
        startup::ensure(&engine, &self.streams)?;
        let signing = self.signing.as_ref().or(self.verifier.as_ref());
        let lambda_config = crate::lambda::LambdaConfig::from_args(
            &self.lambda,
            signing.map(|(a, _)| a.as_str()),
            signing.map(|(_, s)| s.as_str()),
            verifier.clone(),
            self.max_body_bytes,
        )?;
        let lambda = crate::lambda::Lambda::open(&engine, lambda_config)?;
        let tls = match &self.tls {
            Some(source) => Some(tls::acceptor(source, engine.root(), self.addr)?),
            None => None,
        };
        let listener = std::net::TcpListener::bind(self.addr)
            .map_err(|e| ServeError::run(format!("cannot listen on {}: {e}", self.addr)))?;
        listener.set_nonblocking(true).map_err(|e| ServeError::run(format!("cannot set up the listener: {e}")))?;
        let local_addr =
            listener.local_addr().map_err(|e| ServeError::run(format!("cannot read the bound address: {e}")))?;

        check_limits(&self.limits)?;
        let mut metrics = ServerMetrics::with_forwards(engine.clone(), forwards.clone())
            .with_collector(Box::new(lambda.metrics_collector()));
        let budget = BodyBudget::new(self.limits.max_buffered_body_bytes, metrics.buffered_body_bytes());
        let timeouts = TimeoutCounts::default();
        metrics.register_timeouts(&timeouts);
        let state = Arc::new(State {
            engine: engine.clone(),
            max_body_bytes: self.max_body_bytes,
            verifier,
            stop: watch::channel(false).0,
            health: Health::default(),
            metrics: Arc::new(metrics),
            limits: self.limits,
            budget,
            timeouts,
            lambda: lambda.clone(),
        });
        state.health.set_ready();
        let certificate = tls.as_ref().map(|t| t.certificate.clone());
        let acceptor = tls.map(|t| t.acceptor);
        let thread_state = Arc::clone(&state);
        let thread_forwards = forwards.clone();
        let timeout = self.shutdown_timeout;
        let thread = std::thread::Builder::new()
            .name("shardlog-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .thread_name("shardlog-serve")
                    .build()
                    .map_err(|e| ServeError::run(format!("cannot start the runtime: {e}")))?;
                let forwarding = forward_embedded::start(
                    runtime.handle(),
                    &thread_state.engine,
                    &thread_forwards,
                    &thread_state.stopping(),
                );
                let served = runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .map_err(|e| ServeError::run(format!("cannot set up the listener: {e}")))?;
                    accept_loop(listener, thread_state, acceptor, timeout).await;
                    // The stop signal reached the forwarders too: each finishes or abandons
                    // its in-flight windows (never half checkpointed) before the engine closes.
                    for task in forwarding {
                        let _ = tokio::time::timeout(timeout, task).await;
                    }
                    Ok::<(), ServeError>(())
                });
                // Handlers still running on the blocking pool (after a shutdown timeout)
                // finish or are abandoned here; the engine is closed after them.
                runtime.shutdown_timeout(Duration::from_secs(5));
                // The Lambda pollers stop before the engine closes: their last checkpoints
                // are written.
                lambda.shutdown();
                served?;
                let closed = guard.close();
                drop(temp);
                closed
            })
            .map_err(|e| ServeError::run(format!("cannot start the server thread: {e}")))?;
        tracing::info!(
            %local_addr,
            root = %engine.root().display(),
            tls = certificate.is_some(),
            "listening (HTTP/1.1 and HTTP/2)"
        );
        Ok(ServerHandle { local_addr, engine, certificate, state, forwards, thread: Some(thread) })
    }

    fn open_engine(&self) -> Result<(Engine, bool, Option<TempData>), ServeError> {
        let (dir, temp) = match &self.data {
            Data::Engine(e) => return Ok((e.clone(), false, None)),
            Data::Dir(d) => (d.clone(), None),
            Data::Temporary => {
                let t = tempfile::Builder::new()
                    .prefix("shardlog-serve-")
                    .tempdir()
                    .map_err(|e| ServeError::run(format!("cannot create a temporary directory: {e}")))?;
                tracing::warn!(
                    dir = %t.path().display(),
                    "no data directory given: using a temporary one; its data will NOT survive this process"
                );
                (t.path().to_path_buf(), Some(t))
            }
        };
        check_account(&self.config.account_id)?;
        let engine = Engine::open(&dir, self.config.clone())
            .map_err(|e| ServeError::run(format!("cannot open {}: {e}", dir.display())))?;
        Ok((engine, true, temp.map(TempData)))
    }
}

/// A temporary data directory; dropping it removes it and the self-signed pair beside it.
struct TempData(tempfile::TempDir);

impl Drop for TempData {
    fn drop(&mut self) {
        let (cert, key) = tls::self_signed_paths(self.0.path());
        let _ = std::fs::remove_file(cert);
        let _ = std::fs::remove_file(key);
    }
}

fn check_limits(l: &ServeLimits) -> Result<(), ServeError> {
    let zero = [
        (l.max_connections == 0, "max-connections"),
        (l.idle_timeout.is_zero(), "idle-timeout"),
        (l.header_read_timeout.is_zero(), "header-read-timeout"),
        (l.body_read_timeout.is_zero(), "body-read-timeout"),
        (l.max_buffered_body_bytes == 0, "max-buffered-body-bytes"),
        (l.stall_timeout.is_zero(), "stall-timeout"),
        (l.subscription_event_bytes == 0, "subscription-event-bytes"),
    ];
    match zero.iter().find(|(z, _)| *z) {
        Some((_, name)) => Err(ServeError::usage(format!("the {name} limit must be above zero"))),
        None => Ok(()),
    }
}

fn check_account(account: &str) -> Result<(), ServeError> {
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ServeError::usage(format!("the account must be 12 digits, not {account:?}")));
    }
    Ok(())
}

/// Closes an engine the server opened (also when start-up fails half-way).
struct EngineGuard {
    engine: Option<Engine>,
    owned: bool,
}

impl EngineGuard {
    fn close(mut self) -> Result<(), ServeError> {
        match self.engine.take() {
            Some(engine) if self.owned => {
                let closed = engine.close().map_err(|e| ServeError::run(format!("closing the engine failed: {e}")));
                if closed.is_ok() {
                    tracing::info!("stopped; data directory closed cleanly");
                }
                closed
            }
            _ => Ok(()),
        }
    }
}

impl Drop for EngineGuard {
    fn drop(&mut self) {
        if let (Some(engine), true) = (self.engine.take(), self.owned) {
            if let Err(e) = engine.close() {
                tracing::error!(error = %e, "closing the engine failed");
            }
        }
    }
}

/// A running server. Dropping it shuts it down (as [`ServerHandle::shutdown`], ignoring the
/// outcome).
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    engine: Engine,
    certificate: Option<PathBuf>,
    state: Arc<State>,
    forwards: Vec<RunningForward>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl ServerHandle {
    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The endpoint URL for clients: `http://` (or `https://`) and a connectable address
    /// (loopback when the server listens on every interface).
    pub fn url(&self) -> String {
        let scheme = if self.certificate.is_some() { "https" } else { "http" };
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("{scheme}://{}", SocketAddr::new(ip, self.local_addr.port()))
    }

    /// The engine being served.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The forwarders running inside the server ([`ServerBuilder::forward`]).
    pub fn forwards(&self) -> &[RunningForward] {
        &self.forwards
    }

    /// The PEM certificate clients should trust, when serving HTTPS.
    pub fn tls_certificate(&self) -> Option<&Path> {
        self.certificate.as_deref()
    }

    /// Start draining: `/healthcheck` answers 503 from now on while everything else is
    /// still served (so a load balancer stops sending traffic); finish with
    /// [`ServerHandle::shutdown`].
    pub fn begin_shutdown(&self) {
        if self.state.health.is_ready() {
            tracing::info!("shutting down: health now answers 503");
        }
        self.state.health.set_shutting_down();
    }

    /// Stop: close the listener, end subscriptions, drain connections, close the engine (if
    /// the server opened it). Blocks until done; from async code call it through
    /// `tokio::task::spawn_blocking`.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ServeError> {
        let Some(thread) = self.thread.take() else { return Ok(()) };
        self.begin_shutdown();
        self.state.stop();
        thread.join().map_err(|_| ServeError::run("the server thread panicked"))?
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "server shutdown failed");
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown_timeout: Duration,
) {
    let mut stop = state.stopping();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The watchdog (`conn`) times request heads out with a 408; hyper's own header timer
    // (which closes without a response) is off. The write buffers are kept small so a
    // client that stops reading holds little of the server's memory.
    builder.http1().timer(TokioTimer::new()).keep_alive(true).header_read_timeout(None).max_buf_size(HTTP1_MAX_BUF);
    builder.http2().timer(TokioTimer::new()).max_send_buf_size(HTTP2_MAX_SEND_BUF);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let limits = state.limits;
    let timeouts =
        Timeouts { idle: limits.idle_timeout, header_read: limits.header_read_timeout, stall: limits.stall_timeout };
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of descriptors and the like: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Over the connection limit: closed at once (the client sees the connection
                // end), never left waiting in the backlog.
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    state.metrics.connection_refused();
                    tracing::debug!(%peer, max = limits.max_connections, "connection refused: at the connection limit");
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let activity = ConnActivity::new();
                let st = Arc::clone(&state);
                let act = Arc::clone(&activity);
                let svc = service_fn(move |req| handler::handle(Arc::clone(&st), req, peer, act.begin_request()));
                let watcher = graceful.watcher();
                let builder = Arc::clone(&builder);
                let open = state.metrics.connection_opened();
                let counts = state.timeouts.clone();
                match &tls {
                    None => {
                        let io = Watched::new(stream, activity, timeouts, counts);
                        let conn = builder.serve_connection(TokioIo::new(io), svc).into_owned();
                        tokio::spawn(async move {
                            if let Err(e) = watcher.watch(conn).await {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                            drop((slot, open));
                        });
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                            let io = Watched::new(tls, activity, timeouts, counts);
                            let conn = builder.serve_connection(TokioIo::new(io), svc).into_owned();
                            if let Err(e) = watcher.watch(conn).await {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                            drop((slot, open));
                        });
                    }
                }
            }
            _ = stop.wait_for(|stop| *stop) => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; subscriptions end their streams");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(shutdown_timeout) => {
            tracing::warn!("connections still open after the shutdown timeout; closing anyway");
        }
    }
}
