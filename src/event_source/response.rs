//! The function side: the [`Handler`] trait, what it returns ([`HandlerResponse`] or a
//! [`FunctionError`]), and how the driver judges a response (Lambda's
//! `ReportBatchItemFailures` rules, §9.4, and the tumbling-window `state` rule, §9.5).

use std::fmt;

use crate::engine::types::SequenceNumber;
use crate::event_source::event::{KinesisEvent, WindowState};

/// The function the mapping invokes. Invocation is synchronous; with a parallelization
/// factor above 1 (or several shards) it is called from several threads at once.
pub trait Handler: Send + Sync {
    /// Process one batch. `Ok` with an empty response is full success; `Err` is a function
    /// error (the whole batch failed).
    fn handle(&self, event: &KinesisEvent) -> Result<HandlerResponse, FunctionError>;
}

impl<F> Handler for F
where
    F: Fn(&KinesisEvent) -> Result<HandlerResponse, FunctionError> + Send + Sync,
{
    fn handle(&self, event: &KinesisEvent) -> Result<HandlerResponse, FunctionError> {
        self(event)
    }
}

/// A function error (Lambda's `Unhandled` error: an exception or a crash): the whole batch
/// failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// `errorType`.
    pub error_type: String,
    /// `errorMessage`.
    pub error_message: String,
}

/// `error_type` of [`FunctionError::not_invoked`].
pub const NOT_INVOKED: &str = "shardlog.NotInvoked";

impl FunctionError {
    /// An error with type `Error` and the given message.
    pub fn new(message: impl Into<String>) -> FunctionError {
        FunctionError { error_type: "Error".into(), error_message: message.into() }
    }

    /// The function was not invoked at all (e.g. the caller is shutting down). Lambda's rule
    /// for errors before invocation applies: the batch is retried at a later step without
    /// counting toward `MaximumRetryAttempts` and without bisection (record age still
    /// applies).
    pub fn not_invoked(message: impl Into<String>) -> FunctionError {
        FunctionError { error_type: NOT_INVOKED.into(), error_message: message.into() }
    }

    /// True for [`FunctionError::not_invoked`].
    pub fn is_not_invoked(&self) -> bool {
        self.error_type == NOT_INVOKED
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

impl std::error::Error for FunctionError {}

/// What a function returned, as Lambda reads it. `HandlerResponse::default()` is a null /
/// empty response: full success (and, with tumbling windows, a missing `state`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandlerResponse {
    /// `batchItemFailures`: `None` when the key is absent or null.
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
    /// `state` (tumbling windows): `None` when absent or null.
    pub state: Option<WindowState>,
    /// Set (to a description) when a JSON body did not have the response shape: not an
    /// object, `batchItemFailures` not a list, an entry not an object, `state` not an object.
    /// Counts as a whole-batch failure wherever the body is honoured.
    pub malformed: Option<String>,
}

impl HandlerResponse {
    /// Full success.
    pub fn success() -> HandlerResponse {
        HandlerResponse::default()
    }

    /// A partial-failure response listing the sequence numbers of failed records.
    pub fn failures<I, S>(sequence_numbers: I) -> HandlerResponse
    where
        I: IntoIterator<Item = S>,
        S: fmt::Display,
    {
        HandlerResponse {
            batch_item_failures: Some(
                sequence_numbers
                    .into_iter()
                    .map(|s| BatchItemFailure { item_identifier: ItemIdentifier::Value(s.to_string()) })
                    .collect(),
            ),
            ..HandlerResponse::default()
        }
    }

    /// This response with a tumbling-window `state`.
    pub fn with_state(mut self, state: WindowState) -> HandlerResponse {
        self.state = Some(state);
        self
    }
}

/// An element of `batchItemFailures`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItemFailure {
    /// `itemIdentifier`.
    pub item_identifier: ItemIdentifier,
}

/// The `itemIdentifier` of a batch item failure, keeping apart the forms Lambda treats as a
/// whole-batch failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemIdentifier {
    /// A string (a sequence number of the batch if the function is right; the empty string
    /// fails the whole batch).
    Value(String),
    /// `"itemIdentifier": null`.
    Null,
    /// No `itemIdentifier` key (e.g. misspelled `itemIdentifer`).
    Missing,
    /// Some other JSON value (kept as JSON text).
    NotAString(String),
}

/// Why a batch counts as failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchFailure {
    /// The function raised an error.
    Function(FunctionError),
    /// The function returned, but its response fails the batch (bad identifier, missing
    /// window state, malformed body); the text says which rule.
    Response(String),
}

impl BatchFailure {
    /// Lambda's `functionError` for the on-failure document (`Unhandled` for a function
    /// error, none when the function returned normally).
    pub(crate) fn function_error(&self) -> Option<&'static str> {
        match self {
            BatchFailure::Function(_) => Some("Unhandled"),
            BatchFailure::Response(_) => None,
        }
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every record succeeded; the new window state if windows are on.
    Success(Option<WindowState>),
    /// Records from index `first_failed` on (the lowest reported sequence number) must be
    /// retried; those before it succeeded.
    Partial { first_failed: usize, state: Option<WindowState> },
    /// The whole batch failed.
    Failure(BatchFailure),
}

/// Judge a handler result for a batch with these `sequence_numbers` (in order), given
/// whether `ReportBatchItemFailures` and tumbling windows are on.
pub(crate) fn judge(
    result: Result<HandlerResponse, FunctionError>,
    sequence_numbers: &[SequenceNumber],
    report_failures: bool,
    windowed: bool,
) -> Outcome {
    let resp = match result {
        Ok(r) => r,
        Err(e) => return Outcome::Failure(BatchFailure::Function(e)),
    };
    let honoured = report_failures || windowed;
    if honoured {
        if let Some(why) = &resp.malformed {
            return Outcome::Failure(BatchFailure::Response(format!("malformed response: {why}")));
        }
    }
    if windowed && resp.state.is_none() {
        return Outcome::Failure(BatchFailure::Response("tumbling window response has no state".into()));
    }
    let state = resp.state;
    if !report_failures {
        return Outcome::Success(state);
    }
    let failures = match resp.batch_item_failures {
        None => return Outcome::Success(state),
        Some(f) if f.is_empty() => return Outcome::Success(state),
        Some(f) => f,
    };
    let mut first: Option<usize> = None;
    for f in &failures {
        let text = match &f.item_identifier {
            ItemIdentifier::Value(s) if !s.is_empty() => s,
            ItemIdentifier::Value(_) => return response_failure("itemIdentifier is an empty string"),
            ItemIdentifier::Null => return response_failure("itemIdentifier is null"),
            ItemIdentifier::Missing => return response_failure("batch item failure has no itemIdentifier key"),
            ItemIdentifier::NotAString(v) => return response_failure(&format!("itemIdentifier {v} is not a string")),
        };
        let pos = SequenceNumber::parse(text).ok().and_then(|seq| sequence_numbers.iter().position(|s| *s == seq));
        let Some(pos) = pos else {
            return response_failure(&format!("itemIdentifier {text} is not a sequence number of this batch"));
        };
        first = Some(first.map_or(pos, |p| p.min(pos)));
    }
    match first {
        Some(first_failed) => Outcome::Partial { first_failed, state },
        None => Outcome::Success(state),
    }
}

fn response_failure(why: &str) -> Outcome {
    Outcome::Failure(BatchFailure::Response(why.to_string()))
}
