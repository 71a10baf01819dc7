//! Invoking a mapping's function with one batch: through the Lambda Invoke API
//! (`--lambda-endpoint`, see `http`) or by running a local command (`--lambda-command`, see
//! `command`). [`FunctionHandler`] is the driver's [`Handler`]: it serializes the event,
//! calls the backend, turns what came back into a response or a function error, logs one
//! line per invocation and updates the mapping's live status and metrics.
//!
//! A function error, a timeout (`--lambda-timeout-secs`), a connection failure, an error
//! status from the Invoke API, or a function that cannot be found all count as a failed
//! invocation: the driver retries, bisects and finally discards the batch by Lambda's rules.

pub mod command;
pub mod http;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use shardlog::event_source::{FunctionError, Handler, HandlerResponse, KinesisEvent};
use shardlog::SharedClock;

use super::model::FunctionRef;
use super::status::Live;

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function ran: its response payload, and the `X-Amz-Function-Error` value when it
    /// raised (`Unhandled`).
    Returned {
        /// The payload.
        payload: Vec<u8>,
        /// `X-Amz-Function-Error`.
        function_error: Option<String>,
    },
    /// The function was never run to completion because the server is shutting down: the
    /// driver retries the batch after the next start, neither as a retry nor as a failed
    /// invocation (Lambda's errors before invocation behave so).
    NotInvoked {
        /// Why.
        message: String,
    },
    /// The invocation did not complete.
    Failed {
        /// An error type in Lambda's style (`Sandbox.Timedout`, `ConnectionError`, …).
        kind: String,
        /// What happened.
        message: String,
    },
}

impl Outcome {
    /// A failure of kind `kind`.
    pub fn failed(kind: &str, message: impl Into<String>) -> Outcome {
        Outcome::Failed { kind: kind.to_string(), message: message.into() }
    }

    /// The driver's view: a response to judge, or a function error.
    pub fn into_result(self) -> Result<HandlerResponse, FunctionError> {
        match self {
            Outcome::Returned { payload, function_error: None } => match std::str::from_utf8(&payload) {
                Ok(text) => Ok(HandlerResponse::from_json(text)),
                Err(_) => Ok(HandlerResponse {
                    malformed: Some("the response payload is not UTF-8".into()),
                    ..HandlerResponse::default()
                }),
            },
            Outcome::Returned { payload, function_error: Some(kind) } => {
                // Lambda's error payload: {"errorMessage": …, "errorType": …, "stackTrace": […]}.
                let v: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
                let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
                Err(FunctionError {
                    error_type: text("errorType").unwrap_or(kind),
                    error_message: text("errorMessage")
                        .unwrap_or_else(|| truncate(&String::from_utf8_lossy(&payload), 1024)),
                })
            }
            Outcome::NotInvoked { message } => Err(FunctionError::not_invoked(message)),
            Outcome::Failed { kind, message } => Err(FunctionError { error_type: kind, error_message: message }),
        }
    }
}

/// At most `max` bytes of `s` (on a character boundary).
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s.get(..end).unwrap_or_default())
}

/// Something that runs a function.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Run `function` with `payload` (the event JSON) and wait for it.
    fn invoke(&self, function: &FunctionRef, payload: &[u8]) -> Outcome;
}

/// The functions the server can invoke.
#[derive(Debug, Default)]
pub struct Functions {
    /// `--lambda-command NAME=CMD`, by name.
    pub commands: HashMap<String, Arc<dyn Backend>>,
    /// `--lambda-endpoint`: every other name.
    pub endpoint: Option<Arc<dyn Backend>>,
}

impl Functions {
    /// The backend that runs `f`, if any.
    pub fn backend(&self, f: &FunctionRef) -> Option<Arc<dyn Backend>> {
        self.commands.get(&f.name).cloned().or_else(|| self.endpoint.clone())
    }
}

/// The driver's handler for one mapping.
pub struct FunctionHandler {
    /// The mapping's UUID (for logs).
    pub uuid: Arc<str>,
    /// The function.
    pub function: FunctionRef,
    /// How it runs (`None`: no backend knows it; every invocation fails as not found).
    pub backend: Option<Arc<dyn Backend>>,
    /// Live status and metrics.
    pub live: Arc<Live>,
    /// The engine clock (iterator age).
    pub clock: SharedClock,
}

impl std::fmt::Debug for FunctionHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionHandler").field("uuid", &self.uuid).field("function", &self.function.arn).finish()
    }
}

impl Handler for FunctionHandler {
    fn handle(&self, event: &KinesisEvent) -> Result<HandlerResponse, FunctionError> {
        let records = event.records.len();
        let shard = event
            .records
            .first()
            .map(|r| r.shard_id.to_string())
            .or_else(|| event.window.as_ref().map(|w| w.shard_id.clone()))
            .unwrap_or_default();
        let started = Instant::now();
        let outcome = match event.to_json() {
            Err(e) => Outcome::failed("Serialization", format!("the event could not be serialized: {e}")),
            Ok(payload) => match &self.backend {
                Some(b) => b.invoke(&self.function, payload.as_bytes()),
                None => Outcome::failed(
                    "ResourceNotFoundException",
                    format!(
                        "Function not found: {} (give it with --lambda-command {}=CMD or serve it at --lambda-endpoint)",
                        self.function.arn, self.function.name
                    ),
                ),
            },
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let result = outcome.into_result();
        if let Err(e) = &result {
            if e.is_not_invoked() {
                tracing::info!(
                    uuid = &*self.uuid,
                    function = self.function.arn,
                    shard,
                    records,
                    reason = e.error_message,
                    "invocation abandoned; the batch is invoked again after the restart"
                );
                return result;
            }
        }
        let age_ms = event
            .records
            .last()
            .map(|r| (self.clock.now_ms() - r.kinesis.approximate_arrival_timestamp.as_millis()).max(0));
        self.live.record_invocation(records, result.is_ok(), age_ms);
        let function = self.function.arn.as_str();
        let uuid = &*self.uuid;
        match &result {
            Ok(resp) => {
                let failures = resp.batch_item_failures.as_ref().map_or(0, Vec::len);
                tracing::info!(uuid, function, shard, records, elapsed_ms, batch_item_failures = failures, "invocation")
            }
            Err(e) => {
                let error_type = e.error_type.as_str();
                let error = truncate(&e.error_message, 512);
                tracing::info!(uuid, function, shard, records, elapsed_ms, error_type, error, "invocation failed")
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_become_responses_or_function_errors() {
        let ok = Outcome::Returned { payload: br#"{"batchItemFailures":[]}"#.to_vec(), function_error: None };
        assert_eq!(ok.into_result().unwrap().batch_item_failures, Some(vec![]));
        let raised = Outcome::Returned {
            payload: br#"{"errorMessage":"boom","errorType":"ValueError","stackTrace":[]}"#.to_vec(),
            function_error: Some("Unhandled".into()),
        };
        let e = raised.into_result().unwrap_err();
        assert_eq!((e.error_type.as_str(), e.error_message.as_str()), ("ValueError", "boom"));
        let bare = Outcome::Returned { payload: b"oops".to_vec(), function_error: Some("Unhandled".into()) };
        let e = bare.into_result().unwrap_err();
        assert_eq!((e.error_type.as_str(), e.error_message.as_str()), ("Unhandled", "oops"));
        let e = Outcome::failed("Sandbox.Timedout", "Task timed out after 3.00 seconds").into_result().unwrap_err();
        assert_eq!(e.error_type, "Sandbox.Timedout");
        let abandoned = Outcome::NotInvoked { message: "the server is shutting down".into() };
        assert!(abandoned.into_result().unwrap_err().is_not_invoked());
        let binary = Outcome::Returned { payload: vec![0xff], function_error: None };
        assert!(binary.into_result().unwrap().malformed.is_some());
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
