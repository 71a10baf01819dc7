//! `shardlog serve`: a Kinesis-compatible HTTP endpoint on the engine.
//!
//! Point an unmodified AWS SDK, the AWS CLI or the KCL at `http://127.0.0.1:4567` (any
//! credentials, any region string in the client; ARNs use `--region` and `--account`).
//!
//! - `mod.rs` (this file): [`run`], the command: logging, the server, signals.
//! - `args`: the flags, their `SHARDLOG_*` environment variables; `config`: `--config FILE`.
//! - `server`: [`Server::builder`] … `start()` → [`ServerHandle`]: engine set-up, the accept
//!   loop on tokio with hyper (HTTP/1.1 and HTTP/2 on the same port: h2c with prior
//!   knowledge, or ALPN over TLS), clean shutdown. `startup`: start-up streams; `tls`:
//!   certificates and the rustls acceptor; `logging`: text or JSON log lines.
//! - `routes`: the non-Kinesis endpoints (`/healthcheck`, `/health`, `/metrics`);
//!   `metrics`: the Prometheus registry.
//! - `limits`: the bounds a client is held to ([`ServeLimits`]); `conn`: the connection
//!   watchdog (idle, header-read and send-stall timeouts); `budget`: request bodies read
//!   within a deadline and a shared memory budget.
//! - `handler`: one Kinesis request, checked in Kinesis' order (SigV4 by `crate::auth`); `wire`, `ops`, `errors` (the library's `protocol`): the JSON
//!   1.1 and CBOR codecs, the operation table, error → status, `__type`, message;
//!   `eventstream`: SubscribeToShard framing; `body`: the response body type.
//! - Paths under `/2015-03-31/` are the Lambda event-source-mapping API (`crate::lambda`,
//!   dispatched by `handler` after the CORS preflight to `lambda_http`: body limits, the
//!   blocking pool, the response's headers); its pollers start with the server.
//!
//! Shutdown: on the first signal `/healthcheck` turns 503 (for `--shutdown-grace-secs` the
//! server keeps serving), then the listener closes, open subscriptions end their streams,
//! connections finish their in-flight requests (at most `--shutdown-timeout-secs`), the
//! Lambda pollers stop (an invocation in flight is abandoned and invoked again after the next
//! start), then every shard log is closed cleanly (so the next start skips recovery) and the
//! directory lock is released.

pub mod args;
pub(crate) mod body;
mod budget;
mod config;
pub mod conn;
pub mod eventstream;
mod handler;
mod lambda_http;
pub mod limits;
pub mod logging;
pub mod metrics;
mod routes;
pub mod s3;
mod server;
mod startup;
pub mod tls;

pub use crate::protocol::{errors, ops, wire};
pub use args::{DurabilityArg, LimitsArg, LogFormat, ServeArgs, ServeCommand, StartupCapacity, StartupStream};
pub use limits::ServeLimits;
pub use server::{Server, ServerBuilder, ServerHandle};
pub use tls::TlsSource;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use shardlog::{Engine, EngineConfig};
use tokio::sync::watch;

use crate::outbound::Credentials;
use crate::ServeError;

/// What every request handler shares.
pub struct State {
    engine: Engine,
    max_body_bytes: u64,
    verifier: Option<crate::auth::Verifier>,
    /// Turns true at shutdown: the accept loop stops, subscriptions end their streams.
    stop: watch::Sender<bool>,
    /// What `/healthcheck` answers.
    health: routes::Health,
    /// The `/metrics` registry.
    metrics: Arc<metrics::ServerMetrics>,
    /// Connection, time and memory bounds.
    limits: ServeLimits,
    /// Memory of request bodies being read or served.
    budget: Arc<budget::BodyBudget>,
    /// Timeouts so far, by kind.
    timeouts: conn::TimeoutCounts,
    /// The Lambda event-source-mapping API and its pollers.
    pub(crate) lambda: crate::lambda::Lambda,
}

impl std::fmt::Debug for State {
    /// Without the verifier's secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("engine", &self.engine)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("verify_sigv4", &self.verifier.is_some())
            .field("health", &self.health)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl State {
    /// Signal shutdown.
    fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// A receiver that turns true at shutdown.
    fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }
}

impl ServeArgs {
    /// The server these arguments describe (not started).
    pub fn builder(&self) -> Result<ServerBuilder, ServeError> {
        let config = EngineConfig {
            region: self.region.clone(),
            account_id: self.account.clone(),
            durability: self.durability(),
            limits: self.limits(),
            status_delays: self.status_delays(),
            shard_limit: self.shard_limit,
            channel_sink: self.channel_sink()?,
            encryption_key: self.encryption_key()?,
            channel_delivery_interval: Some(Duration::from_millis(self.channel_delivery_interval_ms)),
            max_open_files: match self.max_open_files {
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
                None => shardlog::engine::files::default_max_open_files(),
            },
            ..EngineConfig::default()
        };
        let mut b = Server::builder()
            .addr(self.addr)
            .engine_config(config)
            .max_body_bytes(self.max_body_bytes)
            .serve_limits(self.serve_limits())
            .shutdown_timeout(Duration::from_secs(self.shutdown_timeout_secs))
            .lambda(self.lambda.clone());
        if let (Some(a), Some(s)) = (&self.access_key, &self.secret_key) {
            b = b.signing_credentials(a, s);
        }
        if let Some(dir) = &self.dir {
            b = b.dir(dir);
        }
        for s in &self.create_stream {
            b = b.create_stream(s.clone());
        }
        for f in &self.forward {
            b = b.forward(f.clone());
        }
        match (self.verify_sigv4, &self.access_key, &self.secret_key) {
            (true, Some(a), Some(s)) => b = b.verify_sigv4(a, s),
            (true, _, _) => return Err(ServeError::usage("--verify-sigv4 needs --access-key and --secret-key")),
            (false, _, _) => {}
        }
        match (self.tls, &self.tls_cert, &self.tls_key) {
            (true, Some(cert), Some(key)) => b = b.tls(TlsSource::Files { cert: cert.clone(), key: key.clone() }),
            (true, None, None) => b = b.tls(TlsSource::SelfSigned),
            (true, _, _) => return Err(ServeError::usage("--tls-cert and --tls-key go together")),
            (false, None, None) => {}
            (false, _, _) => return Err(ServeError::usage("--tls-cert and --tls-key need --tls")),
        }
        Ok(b)
    }

    /// The S3 writer of `--s3-endpoint`, if given (channels deliver into the data directory
    /// otherwise).
    fn channel_sink(&self) -> Result<Option<Arc<dyn shardlog::engine::channels::ObjectSink>>, ServeError> {
        let Some(url) = &self.s3_endpoint else {
            if self.s3_access_key.is_some() || self.s3_secret_key.is_some() {
                return Err(ServeError::usage("--s3-access-key and --s3-secret-key need --s3-endpoint"));
            }
            return Ok(None);
        };
        // Each flag overrides its half of the usual resolution (a session token belongs to
        // the environment's pair only).
        let usual = Credentials::resolve(None);
        let credentials = match (&self.s3_access_key, &self.s3_secret_key) {
            (None, None) => usual,
            (a, s) => Credentials {
                access_key: a.clone().unwrap_or(usual.access_key),
                secret_key: s.clone().unwrap_or(usual.secret_key),
                session_token: None,
            },
        };
        let sink = s3::S3Sink::new(url, &self.region, credentials).map_err(ServeError::usage)?;
        Ok(Some(Arc::new(sink)))
    }

    /// The at-rest key of `--encryption-key-file`, if given.
    fn encryption_key(&self) -> Result<Option<Arc<shardlog::at_rest::AtRestKey>>, ServeError> {
        let Some(path) = &self.encryption_key_file else { return Ok(None) };
        let bytes = std::fs::read(path)
            .map_err(|e| ServeError::usage(format!("--encryption-key-file {}: {e}", path.display())))?;
        let key = shardlog::at_rest::AtRestKey::from_file_bytes(&bytes)
            .map_err(|e| ServeError::usage(format!("--encryption-key-file {}: {e}", path.display())))?;
        Ok(Some(Arc::new(key)))
    }
}

/// Run the `serve` command until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<ExitCode, ServeError> {
    logging::init(args.log_level, args.log_format);
    if args.region.is_empty() {
        return Err(ServeError::usage("--region must not be empty"));
    }
    if args.account.len() != 12 || !args.account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ServeError::usage(format!("--account must be 12 digits, not {:?}", args.account)));
    }
    // Signals are caught from before start-up, so a SIGTERM at any moment shuts down cleanly.
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::run(format!("cannot start the signal handler: {e}")))?;
    let mut caught = {
        let _guard = signals.enter();
        Signals::new().map_err(|e| ServeError::run(format!("cannot install the signal handlers: {e}")))?
    };
    let server = args.builder()?.start()?;
    if let Some(cert) = server.tls_certificate() {
        tracing::info!(certificate = %cert.display(), "clients trust this certificate (PEM)");
    }
    // A machine-readable first line on stdout: tests and scripts read the port from it.
    println!("shardlog serve: listening on {}", server.url());
    let _ = std::io::stdout().flush();

    signals.block_on(caught.recv());
    server.begin_shutdown();
    if args.shutdown_grace_secs > 0 {
        tracing::info!(seconds = args.shutdown_grace_secs, "shutdown grace period: still serving");
        // A second signal ends the grace period early.
        signals.block_on(async {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(args.shutdown_grace_secs)) => {}
                _ = caught.recv() => {}
            }
        });
    }
    server.shutdown()?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C (SIGINT) and SIGTERM, registered when created.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Register the handlers (inside a runtime context).
    fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal.
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
