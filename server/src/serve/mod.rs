//! `shardlog serve`: a Kinesis-compatible HTTP endpoint on the engine.
//!
//! Point an unmodified AWS SDK, the AWS CLI or the KCL at `http://127.0.0.1:4567` (any
//! credentials, any region string in the client; ARNs use `--region` and `--account`).
//!
//! - `mod.rs` (this file): arguments, engine set-up, the accept loop on tokio with hyper
//!   (HTTP/1.1 and HTTP/2 cleartext with prior knowledge on the same port), clean shutdown
//!   on Ctrl-C / SIGTERM.
//! - `handler`: one request, checked in Kinesis' order; `auth`: SigV4 presence checks and
//!   optional verification; `wire`, `ops`, `errors` (the library's `protocol`): the JSON
//!   1.1 and CBOR codecs, the operation table, error → status, `__type`, message;
//!   `eventstream`: SubscribeToShard framing; `body`: the response body type.
//!
//! Paths under `/2015-03-31/` are the Lambda event-source-mapping API (`crate::lambda`); its
//! pollers start with the server.
//!
//! Shutdown: on the first signal the listener closes, open subscriptions end their streams,
//! connections finish their in-flight requests (at most `--shutdown-timeout-secs`), the
//! Lambda pollers stop (an invocation in flight is abandoned and invoked again after the next
//! start), then every shard log is closed cleanly (so the next start skips recovery) and the
//! directory lock is released.

pub mod auth;
pub(crate) mod body;
pub mod eventstream;
mod handler;

pub use crate::protocol::{errors, ops, wire};

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use shardlog::{Durability, Engine, EngineConfig, Limits};
use tokio::sync::watch;
use tracing::level_filters::LevelFilter;

use crate::ServeError;

/// When puts are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    /// Once written to the OS (survives a process crash, not a power loss).
    Buffered,
    /// Once written; fdatasync every `--flush-interval-ms` in the background.
    Interval,
    /// Only after fdatasync (group commit): survives a power loss.
    Sync,
}

/// Throughput limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LimitsArg {
    /// Kinesis' per-shard, per-consumer and control-plane limits.
    Kinesis,
    /// No limits.
    Off,
}

/// Arguments of `shardlog serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4567")]
    pub addr: SocketAddr,
    /// Data directory (created if missing). Without it a temporary directory is used and
    /// the data does not survive the process.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// When puts are acknowledged.
    #[arg(long, value_enum, default_value = "interval")]
    pub durability: DurabilityArg,
    /// Background fdatasync period of `--durability interval`.
    #[arg(long, default_value_t = 200, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub flush_interval_ms: u64,
    /// Throughput limits.
    #[arg(long, value_enum, default_value = "off")]
    pub limits: LimitsArg,
    /// Region used in ARNs (and required in signatures with `--verify-sigv4`).
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// 12-digit account id used in ARNs and messages.
    #[arg(long, default_value = "000000000000")]
    pub account: String,
    /// Log level: off, error, warn, info (one line per request), debug, trace.
    #[arg(long, default_value = "info")]
    pub log_level: LevelFilter,
    /// Largest request body; larger ones get HTTP 413 before being read.
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "N")]
    pub max_body_bytes: u64,
    /// Verify SigV4 signatures (with `--access-key` and `--secret-key`) instead of only
    /// requiring them.
    #[arg(long, requires_all = ["access_key", "secret_key"])]
    pub verify_sigv4: bool,
    /// Access key id accepted with `--verify-sigv4`.
    #[arg(long, value_name = "ID")]
    pub access_key: Option<String>,
    /// Secret access key of `--access-key`.
    #[arg(long, value_name = "SECRET")]
    pub secret_key: Option<String>,
    /// How long shutdown waits for in-flight requests before closing the engine anyway.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub shutdown_timeout_secs: u64,
    /// Lambda event-source mappings.
    #[command(flatten)]
    pub lambda: crate::lambda::LambdaArgs,
}

/// What every request handler shares.
pub struct State {
    engine: Engine,
    max_body_bytes: u64,
    verifier: Option<auth::Verifier>,
    /// Turns true at shutdown: subscriptions end their streams.
    shutdown: watch::Receiver<bool>,
    /// The Lambda event-source-mapping API and its pollers.
    pub(crate) lambda: crate::lambda::Lambda,
}

/// Run the server until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<ExitCode, ServeError> {
    let _ = tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    if args.account.len() != 12 || !args.account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ServeError::usage(format!("--account must be 12 digits, not {:?}", args.account)));
    }
    if args.region.is_empty() {
        return Err(ServeError::usage("--region must not be empty"));
    }
    let verifier = match (args.verify_sigv4, &args.access_key, &args.secret_key) {
        (true, Some(a), Some(s)) => {
            Some(auth::Verifier { access_key: a.clone(), secret_key: s.clone(), region: args.region.clone() })
        }
        (true, _, _) => return Err(ServeError::usage("--verify-sigv4 needs --access-key and --secret-key")),
        (false, _, _) => None,
    };

    let mut temp = None;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let t = tempfile::Builder::new()
                .prefix("shardlog-serve-")
                .tempdir()
                .map_err(|e| ServeError::run(format!("cannot create a temporary directory: {e}")))?;
            let p = t.path().to_path_buf();
            eprintln!(
                "shardlog serve: no --dir given: using the temporary directory {}; its data will NOT survive this process",
                p.display()
            );
            temp = Some(t);
            p
        }
    };
    let durability = match args.durability {
        DurabilityArg::Buffered => Durability::Buffered,
        DurabilityArg::Interval => Durability::Interval(Duration::from_millis(args.flush_interval_ms)),
        DurabilityArg::Sync => Durability::Sync,
    };
    let limits = match args.limits {
        LimitsArg::Kinesis => Limits::kinesis(),
        LimitsArg::Off => Limits::off(),
    };
    let config = EngineConfig {
        region: args.region.clone(),
        account_id: args.account.clone(),
        durability,
        limits,
        ..EngineConfig::default()
    };
    let engine =
        Engine::open(&dir, config).map_err(|e| ServeError::run(format!("cannot open {}: {e}", dir.display())))?;
    let lambda_config = crate::lambda::LambdaConfig::from_args(
        &args.lambda,
        args.access_key.as_deref(),
        args.secret_key.as_deref(),
        verifier.clone(),
        args.max_body_bytes,
    )?;
    let lambda = match crate::lambda::Lambda::open(&engine, lambda_config) {
        Ok(l) => l,
        Err(e) => {
            let _ = engine.close();
            return Err(e);
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shardlog-serve")
        .build()
        .map_err(|e| ServeError::run(format!("cannot start the runtime: {e}")))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = Arc::new(State {
        engine: engine.clone(),
        max_body_bytes: args.max_body_bytes,
        verifier,
        shutdown: stop_rx,
        lambda: lambda.clone(),
    });
    let timeout = Duration::from_secs(args.shutdown_timeout_secs);
    let served = runtime.block_on(serve(args.addr, state, stop_tx, timeout));
    // Handlers still running on the blocking pool (after a shutdown timeout) finish or are
    // abandoned here; the engine is closed after them.
    runtime.shutdown_timeout(Duration::from_secs(5));
    // Pollers stop before the engine closes: their last checkpoints are written.
    lambda.shutdown();
    let closed = engine.close();
    drop(engine);
    drop(temp);
    served?;
    match closed {
        Ok(()) => {
            tracing::info!("engine closed cleanly");
            eprintln!("shardlog serve: stopped; data directory closed cleanly");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(ServeError::run(format!("closing the engine failed: {e}"))),
    }
}

async fn serve(
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    shutdown_timeout: Duration,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::run(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr().map_err(|e| ServeError::run(format!("cannot read the bound address: {e}")))?;
    // A machine-readable first line on stdout: tests and scripts read the port from it.
    println!("shardlog serve: listening on http://{local}");
    let _ = std::io::stdout().flush();
    tracing::info!(%local, root = %state.engine.root().display(), "listening (HTTP/1.1 and h2c)");

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let signal = shutdown_signal();
    tokio::pin!(signal);
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
                let _ = stream.set_nodelay(true);
                let st = Arc::clone(&state);
                let svc = service_fn(move |req| handler::handle(Arc::clone(&st), req, peer));
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut signal => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; ending subscriptions");
    let _ = stop.send(true);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(shutdown_timeout) => {
            tracing::warn!("connections still open after the shutdown timeout; closing anyway");
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
