//! The response body: a whole buffer, or a stream of event-stream frames fed by a channel
//! (sent chunked over HTTP/1.1, as DATA frames over HTTP/2). A body may carry the request's
//! [`RequestGuard`], so the connection counts the request as in flight until the body has
//! been sent (or dropped).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

use super::conn::RequestGuard;

/// A response body.
#[derive(Debug)]
pub struct Body {
    kind: Kind,
    guard: Option<RequestGuard>,
}

#[derive(Debug)]
enum Kind {
    /// A complete body (sent with `Content-Length`).
    Full(Option<Bytes>),
    /// Frames as they are produced; the body ends when the sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

impl Body {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        let b: Bytes = bytes.into();
        Body { kind: Kind::Full(if b.is_empty() { None } else { Some(b) }), guard: None }
    }

    /// Frames from `rx` until its sender is dropped.
    pub fn stream(rx: mpsc::Receiver<Bytes>) -> Body {
        Body { kind: Kind::Stream(rx), guard: None }
    }

    /// Keep `guard` until this body is dropped.
    pub fn with_guard(mut self, guard: RequestGuard) -> Body {
        self.guard = Some(guard);
        self
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}
