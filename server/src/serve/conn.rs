//! The connection watchdog: what a client may cost the server in time while it holds a
//! connection, enforced below HTTP on the connection's bytes.
//!
//! [`Watched`] wraps every accepted connection (the TLS stream when serving HTTPS, so it
//! sees plaintext) and shares a [`ConnActivity`] with the request handler, which holds a
//! [`RequestGuard`] for as long as a request is being served. From those two it knows, each
//! time the connection is polled:
//!
//! - **idle**: no request in flight and (HTTP/1.1) no byte of a next request received. After
//!   the idle timeout the read side reports end-of-file, so HTTP/1.1 closes quietly and
//!   HTTP/2 ends the connection; an HTTP/2 connection with no open stream is idle whatever
//!   control frames (PING, SETTINGS) it sends.
//! - **reading a request head** (HTTP/1.1 only): some bytes of a request arrived but no
//!   complete head yet. After the header-read timeout (counted from the first byte) the
//!   watchdog writes `408 Request Timeout` with `Connection: close` itself (HTTP/1.1 allows
//!   a 408 on a connection that began a request) and then reports end-of-file.
//! - **stalled writing**: the connection has bytes to send and the client has not accepted
//!   any for the stall timeout (it stopped reading: a subscriber that never reads, a
//!   GetRecords caller that never reads its 10 MiB). The write fails with `TimedOut`, which
//!   ends the connection and frees what it buffered.
//!
//! While a request is in flight the idle and header timers are off: the handler bounds the
//! body read itself (`budget::read_body`) and a subscription's pump its own stalls.
//!
//! Invariant: at most one timer is armed per direction, and `partial_since` belongs to the
//! request generation it was recorded in (a head that completed since then is not partial).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What the watchdog answers a request head that did not arrive in time.
const REQUEST_TIMEOUT_RESPONSE: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\nx-amzn-ErrorType: RequestTimeoutException\r\n\r\n";

/// The HTTP/2 connection preface starts with this.
const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

/// The timeouts the watchdog enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A connection with nothing in flight is closed after this long.
    pub idle: Duration,
    /// An HTTP/1.1 request head must be complete this long after its first byte.
    pub header_read: Duration,
    /// A connection that cannot send for this long is closed.
    pub stall: Duration,
}

/// Why a connection or request was ended for taking too long (the `kind` label of
/// `shardlog_connection_timeouts_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    /// Nothing in flight for the idle timeout.
    Idle,
    /// A request head did not complete within the header-read timeout (408 sent).
    HeaderRead,
    /// A request body did not complete within the body-read timeout (408 sent).
    BodyRead,
    /// The client accepted no bytes for the stall timeout (connection or subscription).
    Stall,
}

impl TimeoutKind {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            TimeoutKind::Idle => "idle",
            TimeoutKind::HeaderRead => "header_read",
            TimeoutKind::BodyRead => "body_read",
            TimeoutKind::Stall => "stall",
        }
    }
}

/// Labels of `shardlog_connection_timeouts_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, prometheus_client::encoding::EncodeLabelSet)]
pub struct TimeoutLabels {
    kind: &'static str,
}

/// Counts of timeouts by kind (exported as `shardlog_connection_timeouts_total`).
#[derive(Debug, Clone, Default)]
pub struct TimeoutCounts {
    family: prometheus_client::metrics::family::Family<TimeoutLabels, prometheus_client::metrics::counter::Counter>,
}

impl TimeoutCounts {
    /// Count one timeout.
    pub fn count(&self, kind: TimeoutKind) {
        self.family.get_or_create(&TimeoutLabels { kind: kind.label() }).inc();
    }

    /// How many of `kind` so far.
    pub fn get(&self, kind: TimeoutKind) -> u64 {
        self.family.get_or_create(&TimeoutLabels { kind: kind.label() }).get()
    }

    /// The family, for registration.
    pub fn family(
        &self,
    ) -> prometheus_client::metrics::family::Family<TimeoutLabels, prometheus_client::metrics::counter::Counter> {
        self.family.clone()
    }
}

/// What one connection's handler and watchdog share.
#[derive(Debug)]
pub struct ConnActivity {
    /// Requests (HTTP/2 streams) being served now.
    in_flight: AtomicUsize,
    /// Requests started on this connection so far.
    started: AtomicU64,
    /// When the connection last became idle (its start, or the end of its last request).
    idle_since: Mutex<Instant>,
    /// The watchdog's read side, woken when the connection becomes idle.
    reader: Mutex<Option<Waker>>,
    /// Asked for by a long-lived response (a subscription): keep the kernel's send buffer
    /// of this connection small (bytes).
    send_buffer: AtomicUsize,
}

impl ConnActivity {
    /// A fresh connection: idle from now.
    pub fn new() -> Arc<ConnActivity> {
        Arc::new(ConnActivity {
            in_flight: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            idle_since: Mutex::new(Instant::now()),
            reader: Mutex::new(None),
            send_buffer: AtomicUsize::new(0),
        })
    }

    /// Mark a request as being served until the guard is dropped.
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.started.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestGuard(Arc::clone(self))
    }

    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A request in flight on a connection; dropping it ends the request for the watchdog.
#[derive(Debug)]
pub struct RequestGuard(Arc<ConnActivity>);

impl RequestGuard {
    /// Cap the kernel's send buffer of this request's connection at about `bytes` (applied
    /// at the connection's next write; Linux doubles it for bookkeeping). A subscription
    /// asks for it: otherwise the kernel's autotuning lets a client that stops reading park
    /// megabytes of events in the socket.
    pub fn limit_send_buffer(&self, bytes: usize) {
        self.0.send_buffer.store(bytes, Ordering::Release);
    }
}

/// A connection the watchdog can reach the TCP socket of.
pub trait Socket {
    /// The TCP socket under any TLS.
    fn tcp(&self) -> &tokio::net::TcpStream;
}

impl Socket for tokio::net::TcpStream {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self
    }
}

impl Socket for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self.get_ref().0
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let a = &self.0;
        let before = a.in_flight.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "a request guard outlived its count");
        if before == 1 {
            *a.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            if let Some(w) = a.reader.lock().unwrap_or_else(|p| p.into_inner()).take() {
                w.wake();
            }
        }
    }
}

/// The protocol a connection speaks, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Unknown,
    Http1,
    Http2,
}

/// A timer that can be moved to a new deadline.
#[derive(Debug)]
struct Timer {
    sleep: Pin<Box<Sleep>>,
    deadline: Option<Instant>,
}

impl Timer {
    fn new() -> Timer {
        Timer { sleep: Box::pin(tokio::time::sleep_until(Instant::now())), deadline: None }
    }

    /// Ready once `deadline` has passed (registering the waker until then).
    fn poll_at(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if self.deadline != Some(deadline) {
            self.sleep.as_mut().reset(deadline);
            self.deadline = Some(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }

    fn disarm(&mut self) {
        self.deadline = None;
    }
}

/// A connection's byte stream under the watchdog. See the module docs.
#[derive(Debug)]
pub struct Watched<S> {
    io: S,
    activity: Arc<ConnActivity>,
    timeouts: Timeouts,
    counts: TimeoutCounts,
    protocol: Protocol,
    /// When the first byte of a request head arrived, and the request generation then.
    partial_since: Option<(Instant, u64)>,
    read_timer: Timer,
    write_timer: Timer,
    /// When writes began to make no progress.
    stalled_since: Option<Instant>,
    /// The part of the 408 response still to write, once the header timeout fired.
    closing: Option<&'static [u8]>,
    /// End-of-file reported: every later read reports it again.
    ended: bool,
    /// The send-buffer size applied so far (0: the kernel's own).
    send_buffer: usize,
}

impl<S> Watched<S> {
    /// Watch `io` with `timeouts`, sharing `activity` with the request handler.
    pub fn new(io: S, activity: Arc<ConnActivity>, timeouts: Timeouts, counts: TimeoutCounts) -> Watched<S> {
        Watched {
            io,
            activity,
            timeouts,
            counts,
            protocol: Protocol::Unknown,
            partial_since: None,
            read_timer: Timer::new(),
            write_timer: Timer::new(),
            stalled_since: None,
            closing: None,
            ended: false,
            send_buffer: 0,
        }
    }

    fn end(&mut self, kind: TimeoutKind) {
        self.counts.count(kind);
        tracing::debug!(?kind, "connection timed out");
        self.ended = true;
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Socket> Watched<S> {
    /// Apply a send-buffer cap a request asked for.
    fn apply_send_buffer(&mut self) {
        let want = self.activity.send_buffer.load(Ordering::Acquire);
        if want != 0 && want != self.send_buffer {
            self.send_buffer = want;
            if let Err(e) = rustix::net::sockopt::set_socket_send_buffer_size(self.io.tcp(), want) {
                tracing::debug!(error = %e, "cannot set the send buffer size");
            }
        }
    }

    /// Write what is left of the 408; `Ready` once written (or the write failed).
    fn poll_closing(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while let Some(rest) = self.closing {
            if rest.is_empty() {
                self.closing = None;
                break;
            }
            match Pin::new(&mut self.io).poll_write(cx, rest) {
                Poll::Ready(Ok(n)) if n > 0 => self.closing = rest.get(n..),
                Poll::Ready(_) => self.closing = None,
                Poll::Pending => return Poll::Pending,
            }
        }
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(()),
        }
    }

    /// The deadline of the read side now, and what happens when it passes.
    fn read_deadline(&mut self) -> Option<(Instant, TimeoutKind)> {
        if self.activity.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let generation = self.activity.started.load(Ordering::Acquire);
        if self.partial_since.is_some_and(|(_, g)| g != generation) {
            // That head completed and its request was served.
            self.partial_since = None;
        }
        match (self.protocol, self.partial_since) {
            (Protocol::Http1, Some((first_byte, _))) => {
                Some((first_byte + self.timeouts.header_read, TimeoutKind::HeaderRead))
            }
            _ => Some((self.activity.idle_since() + self.timeouts.idle, TimeoutKind::Idle)),
        }
    }

    fn note_read(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.protocol == Protocol::Unknown {
            let n = bytes.len().min(H2_PREFACE_START.len());
            let is_h2 = bytes.get(..n).is_some_and(|b| H2_PREFACE_START.get(..n) == Some(b));
            self.protocol = if is_h2 { Protocol::Http2 } else { Protocol::Http1 };
        }
        if self.partial_since.is_none() && self.activity.in_flight.load(Ordering::Acquire) == 0 {
            self.partial_since = Some((Instant::now(), self.activity.started.load(Ordering::Acquire)));
        }
    }

    /// Check the write side after the inner stream said `Pending`: `Err(TimedOut)` once it
    /// has been stalled for the stall timeout.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let since = *self.stalled_since.get_or_insert_with(Instant::now);
        match self.write_timer.poll_at(since + self.timeouts.stall, cx) {
            Poll::Ready(()) => {
                self.write_timer.disarm();
                if !self.ended {
                    self.end(TimeoutKind::Stall);
                }
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading")))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn wrote(&mut self) {
        self.stalled_since = None;
        self.write_timer.disarm();
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Socket> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.closing.is_some() {
                if this.poll_closing(cx).is_pending() {
                    return Poll::Pending;
                }
                this.ended = true;
            }
            if this.ended {
                return Poll::Ready(Ok(()));
            }
            let before = buf.filled().len();
            match Pin::new(&mut this.io).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {
                    this.note_read(buf.filled().get(before..).unwrap_or_default());
                    this.read_timer.disarm();
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
            *this.activity.reader.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
            let Some((deadline, kind)) = this.read_deadline() else {
                this.read_timer.disarm();
                return Poll::Pending;
            };
            if this.read_timer.poll_at(deadline, cx).is_pending() {
                return Poll::Pending;
            }
            this.read_timer.disarm();
            this.end(kind);
            if kind == TimeoutKind::HeaderRead {
                this.ended = false;
                this.closing = Some(REQUEST_TIMEOUT_RESPONSE);
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Socket> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.apply_send_buffer();
        match Pin::new(&mut this.io).poll_write(cx, data) {
            Poll::Ready(r) => {
                this.wrote();
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_stall(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.apply_send_buffer();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.wrote();
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_stall(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Ready(r) => {
                this.wrote();
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_stall(cx).map_ok(|_| ()),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_shutdown(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.poll_stall(cx).map_ok(|_| ()),
        }
    }
}
