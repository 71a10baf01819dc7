//! `--lambda-endpoint URL`: the Lambda Invoke API. Each batch is
//! `POST {URL}/2015-03-31/functions/{FunctionName}/invocations[?Qualifier=…]` with
//! `X-Amz-Invocation-Type: RequestResponse`, the event JSON as the body, SigV4-signed for
//! service `lambda`. A 200 answer is the function's response, or its error when
//! `X-Amz-Function-Error` is set; any other status (a missing function, throttling, a
//! service error), no answer within `--lambda-timeout-secs`, or a failed connection is a
//! failed invocation. This is the API that AWS Lambda, `sam local start-lambda`, the Lambda
//! Runtime Interface Emulator and LocalStack serve.

use std::sync::Arc;
use std::time::Duration;

use http::Method;

use super::{truncate, Backend, Outcome};
use crate::lambda::model::FunctionRef;
use crate::outbound::{Abort, Call, Outbound, SendError};

/// Largest response payload read (Lambda's synchronous response limit is 6 MB).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 64 * 1024;

/// See the module docs.
#[derive(Debug)]
pub struct HttpBackend {
    /// The endpoint, without a trailing `/`.
    base: String,
    outbound: Arc<Outbound>,
    timeout: Duration,
    abort: Arc<Abort>,
}

impl HttpBackend {
    /// A backend calling `endpoint` (already checked by [`Outbound::check_endpoint`]).
    pub fn new(endpoint: &str, outbound: Arc<Outbound>, timeout: Duration, abort: Arc<Abort>) -> HttpBackend {
        HttpBackend { base: endpoint.trim_end_matches('/').to_string(), outbound, timeout, abort }
    }

    /// The invocation URL of `function`.
    pub fn url(&self, function: &FunctionRef) -> String {
        let mut url = format!("{}/2015-03-31/functions/{}/invocations", self.base, encode(&function.name));
        if let Some(q) = &function.qualifier {
            url.push_str("?Qualifier=");
            url.push_str(&encode(q));
        }
        url
    }
}

/// Percent-encode everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Backend for HttpBackend {
    fn invoke(&self, function: &FunctionRef, payload: &[u8]) -> Outcome {
        let url = self.url(function);
        let headers = [
            ("content-type", "application/json"),
            ("x-amz-invocation-type", "RequestResponse"),
            ("x-amz-log-type", "None"),
            ("user-agent", concat!("shardlog-serve/", env!("CARGO_PKG_VERSION"), " lambda-esm")),
        ];
        let call = Call {
            method: Method::POST,
            url: &url,
            headers: &headers,
            body: payload.to_vec(),
            service: "lambda",
            timeout: self.timeout,
            max_body: MAX_RESPONSE_BYTES,
        };
        let sent = self.outbound.send(call, &self.abort);
        let reply = match sent {
            Ok(r) => r,
            Err(SendError::Timeout(t)) => {
                return Outcome::failed(
                    "Sandbox.Timedout",
                    format!("Task timed out after {:.2} seconds", t.as_secs_f64()),
                )
            }
            Err(SendError::TooLarge(n)) => {
                return Outcome::failed("ResponseSizeTooLarge", format!("the response payload is over {n} bytes"))
            }
            Err(SendError::Aborted) => return Outcome::NotInvoked { message: "the server is shutting down".into() },
            Err(e @ SendError::Connection(_)) => return Outcome::failed("ConnectionError", format!("{url}: {e}")),
            Err(e @ SendError::Request(_)) => return Outcome::failed("RequestError", format!("{url}: {e}")),
        };
        if reply.status.as_u16() != 200 {
            // The Invoke API's own errors: {"Type": …, "message"/"Message": …}, the code in
            // x-amzn-ErrorType (`Code:namespace`).
            let code = reply
                .header("x-amzn-errortype")
                .map(|c| c.split(':').next().unwrap_or(c).to_string())
                .unwrap_or_else(|| format!("HTTP{}", reply.status.as_u16()));
            let text = String::from_utf8_lossy(&reply.body);
            return Outcome::failed(&code, format!("{url} answered {}: {}", reply.status, truncate(&text, 1024)));
        }
        Outcome::Returned {
            function_error: reply.header("x-amz-function-error").map(str::to_string),
            payload: reply.body,
        }
    }
}
