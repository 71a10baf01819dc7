//! What one client may hold of the server: connections, time, memory. Each is a `serve`
//! flag (README: "Limits and timeouts"); [`ServeLimits::default`] holds the defaults.
//!
//! | limit | default | enforced by |
//! |---|---|---|
//! | `max_connections` | 3/8 of `RLIMIT_NOFILE` (at least 16) | the accept loop: excess connections are accepted and closed at once |
//! | `idle_timeout` | 120 s | `conn::Watched`: a connection with no request in flight is closed |
//! | `header_read_timeout` | 10 s | `conn::Watched`: an HTTP/1.1 request head must complete within it (408) |
//! | `body_read_timeout` | 60 s | `budget::read_body`: a body must complete within it (408) |
//! | `max_buffered_body_bytes` | 128 MiB | `budget::BodyBudget`: bodies being read or served, all connections together (503) |
//! | `stall_timeout` | 30 s | `conn::Watched` (a connection that cannot send) and the subscription pump (a stream that cannot send) |
//! | `subscription_event_bytes` | 64 KiB | records per SubscribeToShard event (at least one record) |
//!
//! The connection default leaves the rest of the descriptors to the engine (its own budget
//! is half the limit) and to the listener, logs and outgoing S3 connections.

use std::time::Duration;

/// The bounds and timeouts of a server; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Most open client connections; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// An HTTP/1.1 request head must arrive within this of its first byte (else 408).
    pub header_read_timeout: Duration,
    /// A request body must arrive within this of its head (else 408).
    pub body_read_timeout: Duration,
    /// Most bytes of request bodies held at once, all connections together (else 503).
    pub max_buffered_body_bytes: u64,
    /// A connection, or a subscription's stream, that cannot send for this long is ended.
    pub stall_timeout: Duration,
    /// Most record bytes in one SubscribeToShard event (an event holds at least one record).
    pub subscription_event_bytes: usize,
}

/// Default `max_connections` when the descriptor limit cannot be read.
const FALLBACK_MAX_CONNECTIONS: usize = 384;

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: default_max_connections(),
            idle_timeout: Duration::from_secs(120),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(60),
            max_buffered_body_bytes: 128 * 1024 * 1024,
            stall_timeout: Duration::from_secs(30),
            subscription_event_bytes: 64 * 1024,
        }
    }
}

/// 3/8 of the process's soft `RLIMIT_NOFILE` (at least 16), so that connections can never
/// take the descriptors the engine needs.
pub fn default_max_connections() -> usize {
    match open_file_limit() {
        Some(n) => usize::try_from(n / 8 * 3).unwrap_or(usize::MAX).max(16),
        None => FALLBACK_MAX_CONNECTIONS,
    }
}

/// The process's soft limit on open files, if it has one.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}
