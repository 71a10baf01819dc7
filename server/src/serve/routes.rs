//! Everything served besides the Kinesis API (which is `POST /` with an `X-Amz-Target`):
//! health and metrics. Later non-Kinesis endpoints belong here too, so that `handler` stays
//! the Kinesis protocol alone.
//!
//! - `GET`/`HEAD /healthcheck` and `/health` (the paths kinesis-mock's and LocalStack's
//!   compose files poll): `200 {"status":"ok"}` once the engine is open and the start-up
//!   streams exist, `503 {"status":"shutting down"}` from the moment shutdown begins. No
//!   authentication.
//! - `GET /metrics`: Prometheus text (see `metrics`). No authentication.
//!
//! Any other method or path goes to the Kinesis handler, which answers as Kinesis does
//! (403 for a `GET /`).

use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};

use super::body::Body;
use super::State;

/// A non-Kinesis endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Health,
    Metrics,
}

/// The endpoint `req` asks for, or `None` for the Kinesis API.
pub(crate) fn route<B>(req: &Request<B>) -> Option<Route> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return None;
    }
    match req.uri().path() {
        "/healthcheck" | "/health" | "/healthcheck/" | "/health/" => Some(Route::Health),
        "/metrics" => Some(Route::Metrics),
        _ => None,
    }
}

/// Answer a non-Kinesis endpoint.
pub(crate) fn serve<B>(state: &State, route: Route, req: &Request<B>) -> Response<Body> {
    let head = req.method() == Method::HEAD;
    let (status, body, content_type) = match route {
        Route::Health if state.health.is_ready() => {
            (StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#), "application/json")
        }
        Route::Health => {
            (StatusCode::SERVICE_UNAVAILABLE, Bytes::from_static(br#"{"status":"shutting down"}"#), "application/json")
        }
        Route::Metrics => {
            let accept = req.headers().get(http::header::ACCEPT).and_then(|v| v.to_str().ok());
            match state.metrics.render(accept) {
                Ok((text, ct)) => (StatusCode::OK, Bytes::from(text), ct),
                Err(e) => {
                    tracing::error!(error = %e, "rendering the metrics failed");
                    (StatusCode::INTERNAL_SERVER_ERROR, Bytes::new(), "text/plain")
                }
            }
        }
    };
    let len = body.len();
    let mut resp = Response::new(Body::full(if head { Bytes::new() } else { body }));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if head {
        resp.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    resp
}

/// The server's health: starting, ready, or shutting down (never back).
#[derive(Debug, Default)]
pub(crate) struct Health(AtomicU8);

const STARTING: u8 = 0;
const READY: u8 = 1;
const SHUTTING_DOWN: u8 = 2;

impl Health {
    /// The engine is open and the start-up streams exist.
    pub(crate) fn set_ready(&self) {
        let _ = self.0.compare_exchange(STARTING, READY, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Shutdown began.
    pub(crate) fn set_shutting_down(&self) {
        self.0.store(SHUTTING_DOWN, Ordering::Release);
    }

    /// Ready and not shutting down.
    pub(crate) fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire) == READY
    }
}
