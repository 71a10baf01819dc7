//! `shardlog-server`: the Kinesis-compatible HTTP endpoint on the shardlog engine, as a
//! library. The `shardlog` binary (`cli/`) is a thin wrapper around [`serve::run`]; tests and
//! applications start it in-process with [`serve::Server::builder`]:
//!
//! ```no_run
//! use shardlog_server::serve::{Server, StartupStream};
//!
//! let server = Server::builder().create_stream(StartupStream::provisioned("orders", 2)).start()?;
//! println!("point an AWS SDK at {}", server.url());
//! server.shutdown()?;
//! # Ok::<(), shardlog_server::ServeError>(())
//! ```
//!
//! - [`protocol`]: the Kinesis wire protocol without HTTP: the JSON 1.1 and CBOR codecs, the
//!   operation table that validates a decoded request and calls the engine, the error
//!   envelope. The `request` fuzz target drives it directly.
//! - [`forward`]: the forwarder (a local stream to any Kinesis endpoint, or back), at least
//!   once, in order per key, resumable; `shardlog forward` and `serve --forward` run it.
//! - [`serve`]: arguments (flags, `SHARDLOG_*` variables, a TOML file), the server (hyper on
//!   tokio, HTTP/1.1 and HTTP/2, optional TLS), start-up streams, health and Prometheus
//!   metrics, request handling, SigV4, SubscribeToShard event streams, clean shutdown.
//! - [`auth`]: SigV4 presence checks and optional verification of incoming requests;
//!   [`outbound`]: signed outgoing HTTP (the Lambda Invoke API, SQS, S3).
//! - [`lambda`]: the Lambda event-source-mapping API on the same port (`/2015-03-31/…`) and
//!   the pollers that invoke real functions (the Lambda Invoke API or local commands).

pub mod auth;
pub mod forward;
pub mod lambda;
pub mod outbound;
pub mod protocol;
pub mod serve;

/// Why `serve` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The arguments are wrong (the command line's exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The server failed at run time (exit code 1).
    #[error("{0}")]
    Run(String),
}

impl ServeError {
    /// A usage error.
    pub(crate) fn usage(message: impl Into<String>) -> ServeError {
        ServeError::Usage(message.into())
    }

    /// A run-time failure.
    pub(crate) fn run(message: impl Into<String>) -> ServeError {
        ServeError::Run(message.into())
    }
}
