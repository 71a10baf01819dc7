//! One request, checked in Kinesis' order (kinesis-behaviour §10.1; kinesalite's
//! AWS-verified order):
//!
//! 1. method: anything but `POST` is 403 XML `AccessDeniedException`; an `OPTIONS` with an
//!    `Origin` is a CORS preflight, answered 200 with the `Access-Control-*` headers and an
//!    empty body (and, as AWS, no `x-amz-id-2`);
//! 2. size: a body over `--max-body-bytes` is 413, decided from `Content-Length` before any
//!    of it is read, or as soon as a chunked body passes the limit; a body not complete
//!    within `--body-read-timeout-secs` is 408, one that would take the bodies being read
//!    past `--max-buffered-body-bytes` 503 (`budget`); after any of these the connection is
//!    closed (HTTP/1.1), as the rest of the body is not read;
//! 3. empty body: 400 `SerializationException` (known target) or `UnknownOperationException`,
//!    without a message, in JSON 1.1 only when the content type is
//!    `application/x-amz-json-1.1` and in CBOR for any other (or none);
//! 4. content type: not JSON 1.1 / CBOR 1.1 / `application/json` is 404 XML
//!    `UnknownOperationException` (403 XML `AccessDeniedException` if the target is unusable
//!    too);
//! 5. plain `application/json`: a body that does not parse is 400, one that parses 404, both
//!    in the legacy `{"Output":{"__type":"com.amazon.coral.service#…"},"Version":"1.0"}`
//!    envelope — before the target and authentication are looked at;
//! 6. body parse: 400 `SerializationException` without a message (the parser's reason goes
//!    to the debug log);
//! 7. target: `Kinesis_20131202.<Operation>` of a served operation, else 400
//!    `UnknownOperationException`;
//! 8. authentication (see `auth`);
//! 9. the model validator (member types, then every constraint), then the engine — see `ops`.
//!    Operations the model gives no output answer 200 with an empty body.
//!
//! Health and metrics (`routes`) are answered before any of this. Steps 5–9 and the
//! response encoding run on the blocking pool (parsing, hashing and engine
//! calls may take CPU or wait for an fdatasync). Every response carries `x-amzn-RequestId`
//! and, but for CORS preflights, `x-amz-id-2`.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;
use shardlog::engine::fanout::Subscription;

use super::body::Body;
use super::budget::{self, BodyError};
use super::conn::{RequestGuard, TimeoutKind};
use super::errors::ApiError;
use super::ops::{self, Op};
use super::wire::{self, Codec, ContentType};
use super::{eventstream, routes, State};
use crate::auth;

/// The kernel send buffer of a connection carrying a subscription: a few events' worth.
const SUBSCRIPTION_SEND_BUFFER: usize = 128 * 1024;

/// What the blocking part of a request produced.
enum Outcome {
    /// A complete response body in the request's codec.
    Done(Vec<u8>),
    /// A live subscription to stream.
    Subscribed(Box<Subscription>),
    /// An error response.
    Failed(ApiError),
}

/// What the access log records about a request.
#[derive(Default)]
struct LogInfo {
    op: Option<&'static str>,
    error: Option<&'static str>,
    message: Option<String>,
    /// The request body was not read to its end: an HTTP/1.1 connection cannot be reused.
    body_unread: bool,
}

/// Serve one request; `guard` marks it in flight on its connection until the response body
/// is sent (for a subscription: until its pump ends).
pub async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    peer: SocketAddr,
    guard: RequestGuard,
) -> Result<Response<Body>, Infallible> {
    if let Some(route) = routes::route(&req) {
        return Ok(routes::serve(&state, route, &req).map(|b| b.with_guard(guard)));
    }
    let started = Instant::now();
    let request_id = request_id();
    let origin = req.headers().contains_key(http::header::ORIGIN);
    let preflight = origin && req.method() == Method::OPTIONS;
    let version = req.version();
    let mut info = LogInfo::default();
    let mut guard = Some(guard);
    let mut resp = process(&state, req, &mut info, &mut guard).await;
    if let Some(guard) = guard {
        resp = resp.map(|b| b.with_guard(guard));
    }
    let status = resp.status();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    if !preflight {
        if let Ok(v) = HeaderValue::from_str(&id2()) {
            h.insert("x-amz-id-2", v);
        }
    }
    if origin && !preflight {
        h.insert("Access-Control-Allow-Origin", HeaderValue::from_static("*"));
        h.insert(
            "Access-Control-Expose-Headers",
            HeaderValue::from_static(
                "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date",
            ),
        );
    }
    if info.body_unread && version < http::Version::HTTP_2 {
        // The unread rest of the body makes the connection unusable.
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(code) = info.error {
        if let Ok(v) = HeaderValue::from_str(code) {
            h.insert("x-amzn-ErrorType", v);
        }
    }
    let status = status.as_u16();
    let elapsed = started.elapsed();
    state.metrics.observe(info.op.unwrap_or("unknown"), status, elapsed);
    let elapsed_us = elapsed.as_micros() as u64;
    let op = info.op.unwrap_or("-");
    match info.error {
        None => tracing::info!(%peer, ?version, request_id, op, status, elapsed_us, "request"),
        Some(error) => {
            let detail = info.message.as_deref().unwrap_or("");
            tracing::info!(%peer, ?version, request_id, op, status, error, detail, elapsed_us, "request")
        }
    }
    Ok(resp)
}

fn error_response(e: ApiError, content_type: Option<ContentType>, info: &mut LogInfo) -> Response<Body> {
    let codec = content_type.map_or(Codec::Json, |c| c.codec);
    let (body, ct) = e.body(codec);
    let mut resp = Response::new(Body::full(body));
    *resp.status_mut() = e.status;
    // Envelope errors answer in the request's content type (as echoed for successes).
    let ct = match (ct, content_type) {
        (Some(_), Some(c)) => Some(c.header),
        (ct, _) => ct,
    };
    if let Some(ct) = ct {
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    info.error = Some(e.code);
    info.message = e.message;
    resp
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn process(
    state: &Arc<State>,
    req: Request<Incoming>,
    info: &mut LogInfo,
    guard: &mut Option<RequestGuard>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if parts.method == Method::OPTIONS && parts.headers.contains_key(http::header::ORIGIN) {
        let mut resp = Response::new(Body::full(Bytes::new()));
        let h = resp.headers_mut();
        h.insert("Access-Control-Allow-Origin", HeaderValue::from_static("*"));
        if let Some(v) = parts.headers.get("access-control-request-headers") {
            h.insert("Access-Control-Allow-Headers", v.clone());
        }
        if let Some(v) = parts.headers.get("access-control-request-method") {
            h.insert("Access-Control-Allow-Methods", v.clone());
        }
        h.insert("Access-Control-Max-Age", HeaderValue::from_static("172800"));
        return resp;
    }
    if parts.uri.path().starts_with(crate::lambda::api::PREFIX) {
        let mut reservation = state.budget.reserve();
        let deadline = tokio::time::Instant::now() + state.limits.body_read_timeout;
        let (resp, served, unread) =
            super::lambda_http::serve(&state.lambda, parts, body, &mut reservation, deadline).await;
        if served.error == Some("RequestTimeoutException") {
            state.timeouts.count(TimeoutKind::BodyRead);
        }
        (info.op, info.error, info.message) = (Some(served.op), served.error, served.message);
        info.body_unread = unread;
        return resp;
    }
    if parts.method != Method::POST {
        return error_response(ApiError::access_denied_xml(), None, info);
    }
    let content_type = header(&parts.headers, "content-type").and_then(ContentType::parse);
    let target = header(&parts.headers, "x-amz-target").unwrap_or("").to_string();
    let op = Op::from_target(&target);
    info.op = op.map(Op::name);

    // Size: refuse from the declared length before reading, or as soon as the limit passes.
    let max = state.max_body_bytes;
    let declared = header(&parts.headers, CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        info.body_unread = true;
        return error_response(ApiError::too_large(), content_type, info);
    }
    // Held until the response is built: parsing and the engine call use these bytes.
    let mut reservation = state.budget.reserve();
    let deadline = tokio::time::Instant::now() + state.limits.body_read_timeout;
    let bytes = match budget::read_body(body, max, &mut reservation, deadline).await {
        Ok(b) => b,
        Err(e) => {
            info.body_unread = true;
            let api = match e {
                BodyError::TooLarge => ApiError::too_large(),
                BodyError::OverBudget => ApiError::service_unavailable(),
                BodyError::TimedOut => {
                    state.timeouts.count(TimeoutKind::BodyRead);
                    ApiError::request_timeout()
                }
                BodyError::Failed(e) => {
                    tracing::debug!(error = %e, "reading the request body failed");
                    ApiError::serialization("The request body could not be read.")
                }
            };
            return error_response(api, content_type, info);
        }
    };

    if bytes.is_empty() {
        // JSON 1.1 only when asked for exactly; CBOR for anything else, `application/json`
        // included.
        let ct = match content_type {
            Some(c) if c.header == wire::AMZ_JSON => c,
            _ => ContentType::CBOR,
        };
        let e = if op.is_some() { ApiError::serialization_bare() } else { ApiError::unknown_operation() };
        return error_response(e, Some(ct), info);
    }
    let Some(ct) = content_type else {
        let usable_target = target.split_once('.').is_some_and(|(s, o)| !s.is_empty() && !o.is_empty());
        let e = if usable_target { ApiError::unknown_operation_xml() } else { ApiError::access_denied_xml() };
        return error_response(e, None, info);
    };

    let st = Arc::clone(state);
    let outcome = tokio::task::spawn_blocking(move || {
        let decoded = match wire::decode(ct.codec, &bytes) {
            Ok(v) if ct.header == wire::PLAIN_JSON => {
                drop(v);
                return Outcome::Failed(ApiError::coral_unknown_operation());
            }
            Ok(v) => v,
            Err(_) if ct.header == wire::PLAIN_JSON => return Outcome::Failed(ApiError::coral_serialization()),
            Err(msg) => {
                tracing::debug!(error = %msg, "request body does not parse");
                return Outcome::Failed(ApiError::serialization_bare());
            }
        };
        let Some(op) = op else { return Outcome::Failed(ApiError::unknown_operation()) };
        let host =
            header(&parts.headers, "host").map(str::to_string).or_else(|| parts.uri.authority().map(|a| a.to_string()));
        let request = auth::Request {
            service: "kinesis",
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            host: host.as_deref(),
            headers: &parts.headers,
            body: &bytes,
        };
        if let Err(e) = auth::check(&request, st.verifier.as_ref()) {
            return Outcome::Failed(e);
        }
        if op == Op::SubscribeToShard {
            let input = match ops::subscribe_input(ct.codec, decoded) {
                Ok(i) => i,
                Err(e) => return Outcome::Failed(e),
            };
            return match st.engine.subscribe_to_shard(input) {
                Ok(sub) => Outcome::Subscribed(Box::new(sub)),
                Err(e) => Outcome::Failed(ApiError::from_engine(&e)),
            };
        }
        match ops::call(&st.engine, op, ct.codec, decoded) {
            // An operation without a modelled output answers with an empty body.
            Ok(_) if !op.has_output() => Outcome::Done(Vec::new()),
            Ok(out) => Outcome::Done(wire::encode(ct.codec, &out)),
            Err(e) => Outcome::Failed(e),
        }
    })
    .await;

    match outcome {
        Ok(Outcome::Done(body)) => {
            let mut resp = Response::new(Body::full(body));
            resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ct.header));
            resp
        }
        Ok(Outcome::Subscribed(mut sub)) => {
            sub.limit_event_bytes(state.limits.subscription_event_bytes);
            // One frame queued at most: the pump reads the next event from the shard only
            // once the client has taken the previous one.
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            // The channel is empty: the first frame always fits.
            let _ = tx.try_send(eventstream::initial_response(ct.codec));
            if let Some(g) = guard.as_ref() {
                g.limit_send_buffer(SUBSCRIPTION_SEND_BUFFER);
            }
            let pump = eventstream::Pump {
                codec: ct.codec,
                shutdown: state.stopping(),
                stall_timeout: state.limits.stall_timeout,
                timeouts: state.timeouts.clone(),
                guard: guard.take(),
            };
            tokio::spawn(pump.run(*sub, tx));
            let mut resp = Response::new(Body::stream(rx));
            resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(eventstream::CONTENT_TYPE));
            resp
        }
        Ok(Outcome::Failed(e)) => error_response(e, Some(ct), info),
        Err(e) => {
            tracing::error!(error = %e, "request task failed");
            error_response(ApiError::internal(), Some(ct), info)
        }
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write(format!("{:?}", std::thread::current().id()).as_bytes());
    h.finish()
}

/// SplitMix64: request ids need uniqueness, not secrecy.
fn next_u64() -> u64 {
    RNG.with(|c| {
        let x = c.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        c.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// A random (version 4 layout) UUID string, as AWS request ids look.
fn request_id() -> String {
    let (a, b) = (next_u64(), next_u64());
    let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000;
    let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

/// `x-amz-id-2`: 72 random bytes in base64, as AWS sends.
fn id2() -> String {
    let mut raw = [0u8; 72];
    for chunk in raw.chunks_mut(8) {
        chunk.copy_from_slice(&next_u64().to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(raw)
}
