//! The HTTP side of the Lambda API: read the body (refusing one over `--max-body-bytes`),
//! answer on the blocking pool (the registry writes its file and may wait on the engine),
//! and shape the response: JSON, `x-amzn-ErrorType` on errors.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::body::Body;
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

/// Serve one request under `/2015-03-31/`.
pub async fn serve(lambda: &Lambda, parts: Parts, body: Incoming) -> (Response<Body>, Served) {
    let max = lambda.max_body_bytes();
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let too_large = || respond(LambdaResponse::error("-", LambdaError::new_too_large(max)));
    if declared.is_some_and(|n| n > max) {
        return too_large();
    }
    let bytes = match Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX)).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return too_large(),
        Err(e) => {
            let e = LambdaError::serialization(format!("The request body could not be read: {e}"));
            return respond(LambdaResponse::error("-", e));
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
    match answered {
        Ok(r) => respond(r),
        Err(e) => respond(LambdaResponse::error("-", LambdaError::service(format!("the request task failed: {e}")))),
    }
}

fn respond(r: LambdaResponse) -> (Response<Body>, Served) {
    let mut resp = Response::new(Body::full(Bytes::from(r.body)));
    *resp.status_mut() = r.status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(code) = r.error {
        h.insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    }
    if r.status == StatusCode::PAYLOAD_TOO_LARGE {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    (resp, Served { op: r.op, error: r.error, message: r.message })
}
