//! The HTTP side of the Lambda API: read the body (refusing one over `--max-body-bytes`,
//! within the body-read timeout and the shared body budget, as Kinesis requests are), answer
//! on the blocking pool (the registry writes its file and may wait on the engine),
//! and shape the response: JSON, `x-amzn-ErrorType` on errors.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;

use super::body::Body;
use super::budget::{self, BodyError, Reservation};
use crate::lambda::errors::LambdaError;
use crate::lambda::{Lambda, LambdaResponse};

/// What the access log records.
#[derive(Debug)]
pub struct Served {
    /// The operation.
    pub op: &'static str,
    /// The error code, if any.
    pub error: Option<&'static str>,
    /// The error message, if any.
    pub message: Option<String>,
}

/// Serve one request under `/2015-03-31/`; its body counts in `reservation` until answered
/// and must be complete by `deadline`. The flag says the body was not read to its end.
pub async fn serve(
    lambda: &Lambda,
    parts: Parts,
    body: Incoming,
    reservation: &mut Reservation,
    deadline: tokio::time::Instant,
) -> (Response<Body>, Served, bool) {
    let max = lambda.max_body_bytes();
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let too_large = || respond(LambdaResponse::error("-", LambdaError::new_too_large(max)));
    let unread = |(r, s): (Response<Body>, Served)| (r, s, true);
    if declared.is_some_and(|n| n > max) {
        return unread(too_large());
    }
    let bytes = match budget::read_body(body, max, reservation, deadline).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return unread(too_large()),
        Err(BodyError::OverBudget) => {
            return unread(respond(LambdaResponse::error("-", LambdaError::service_unavailable())))
        }
        Err(BodyError::TimedOut) => return unread(respond(LambdaResponse::error("-", LambdaError::request_timeout()))),
        Err(BodyError::Failed(e)) => {
            let e = LambdaError::serialization(format!("The request body could not be read: {e}"));
            return unread(respond(LambdaResponse::error("-", e)));
        }
    };
    let l = lambda.clone();
    let answered = tokio::task::spawn_blocking(move || {
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()));
        l.handle(&parts.method, parts.uri.path(), parts.uri.query(), host.as_deref(), &parts.headers, &bytes)
    })
    .await;
    let (resp, served) = match answered {
        Ok(r) => respond(r),
        Err(e) => respond(LambdaResponse::error("-", LambdaError::service(format!("the request task failed: {e}")))),
    };
    (resp, served, false)
}

fn respond(r: LambdaResponse) -> (Response<Body>, Served) {
    let mut resp = Response::new(Body::full(Bytes::from(r.body)));
    *resp.status_mut() = r.status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(code) = r.error {
        h.insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    }
    if matches!(r.status, StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE)
    {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    (resp, Served { op: r.op, error: r.error, message: r.message })
}
