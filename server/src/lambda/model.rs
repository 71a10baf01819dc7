//! What a mapping is: its persisted definition ([`MappingDef`]), its state machine
//! ([`State`]), the names it refers to (a function by name or ARN, a stream or an enhanced
//! fan-out consumer by ARN), and its `EventSourceMappingConfiguration` JSON exactly as the
//! service model (`lambda/2015-03-31`) shapes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use shardlog::kinesis::names;

use super::api::Members;
use super::errors::LambdaError;

/// A mapping's `State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Just created; becomes `Enabled` (or `Disabled`) once its poller runs.
    Creating,
    /// Being enabled.
    Enabling,
    /// Polling and invoking.
    Enabled,
    /// Being disabled: the poller finishes its current step.
    Disabling,
    /// Not polling; its checkpoints are kept.
    Disabled,
    /// Taking a new configuration.
    Updating,
    /// Being deleted.
    Deleting,
}

impl State {
    /// Lambda's string.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Creating => "Creating",
            State::Enabling => "Enabling",
            State::Enabled => "Enabled",
            State::Disabling => "Disabling",
            State::Disabled => "Disabled",
            State::Updating => "Updating",
            State::Deleting => "Deleting",
        }
    }

    /// A state a change is still under way in: another change is refused until it ends.
    pub fn is_transitional(self) -> bool {
        !matches!(self, State::Enabled | State::Disabled)
    }
}

/// `StateTransitionReason` of a change the user asked for.
pub const USER_ACTION: &str = "User action";
/// `LastProcessingResult` before the first invocation.
pub const NO_RECORDS_PROCESSED: &str = "No records processed";
/// `LastProcessingResult` after an invocation that returned.
pub const RESULT_OK: &str = "OK";
/// `LastProcessingResult` after an invocation that failed.
pub const RESULT_FUNCTION_FAILED: &str = "PROBLEM: Function call failed";

/// A mapping as stored in the data directory (every member the API shows, plus the
/// creation order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingDef {
    /// `UUID`.
    pub uuid: String,
    /// Creation order: `ListEventSourceMappings` lists in this order.
    pub seq: u64,
    /// `EventSourceArn`: a stream ARN or a consumer ARN, as given.
    pub event_source_arn: String,
    /// `FunctionArn`.
    pub function_arn: String,
    /// The user asked for the mapping to poll (`Enabled`).
    pub enabled: bool,
    /// `State`.
    pub state: State,
    /// `StateTransitionReason`.
    pub state_transition_reason: String,
    /// `LastModified`, ms since the epoch.
    pub last_modified_ms: i64,
    /// `LastProcessingResult`.
    pub last_processing_result: String,
    /// `StartingPosition`: `TRIM_HORIZON`, `LATEST` or `AT_TIMESTAMP`.
    pub starting_position: String,
    /// `StartingPositionTimestamp`, ms since the epoch.
    pub starting_position_timestamp_ms: Option<i64>,
    /// `BatchSize`.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`.
    pub maximum_batching_window_in_seconds: u32,
    /// `ParallelizationFactor`.
    pub parallelization_factor: u32,
    /// `BisectBatchOnFunctionError`.
    pub bisect_batch_on_function_error: bool,
    /// `MaximumRetryAttempts`.
    pub maximum_retry_attempts: i32,
    /// `MaximumRecordAgeInSeconds`.
    pub maximum_record_age_in_seconds: i32,
    /// `FunctionResponseTypes`.
    pub function_response_types: Vec<String>,
    /// `TumblingWindowInSeconds`.
    pub tumbling_window_in_seconds: u32,
    /// `DestinationConfig.OnFailure.Destination`.
    pub on_failure_destination: Option<String>,
    /// `FilterCriteria.Filters[].Pattern` (`None`: no `FilterCriteria`).
    pub filter_patterns: Option<Vec<String>>,
    /// `MetricsConfig.Metrics`.
    pub metrics: Option<Vec<String>>,
    /// `Tags` given at creation.
    pub tags: BTreeMap<String, String>,
    /// Creation time of the stream the mapping was made on (ms): a stream deleted and
    /// created again under the same ARN while the server was down is another stream, and
    /// the mapping is disabled as for a deletion.
    #[serde(default)]
    pub stream_creation_ms: Option<i64>,
}

impl MappingDef {
    /// A new mapping of `function` from CreateEventSourceMapping's members, with Lambda's
    /// defaults; Kinesis' required members are checked here (the parameters' ranges were
    /// checked when the members were decoded; the rest when the poller is built).
    pub fn create(m: &Members, function: &FunctionRef, uuid: String, now_ms: i64) -> Result<MappingDef, LambdaError> {
        let source_arn = m.event_source_arn.clone().ok_or_else(|| {
            LambdaError::invalid_parameter("EventSourceArn is required: the ARN of a Kinesis stream or stream consumer")
        })?;
        EventSource::parse(&source_arn)?;
        let position = m.starting_position.clone().ok_or_else(|| {
            LambdaError::invalid_parameter(
                "StartingPosition is required for a Kinesis event source: TRIM_HORIZON, LATEST or AT_TIMESTAMP",
            )
        })?;
        match (position.as_str(), m.starting_position_timestamp_ms) {
            ("AT_TIMESTAMP", None) => {
                return Err(LambdaError::invalid_parameter(
                    "StartingPositionTimestamp is required with StartingPosition AT_TIMESTAMP",
                ))
            }
            (p, Some(_)) if p != "AT_TIMESTAMP" => {
                return Err(LambdaError::invalid_parameter(
                    "StartingPositionTimestamp is only allowed with StartingPosition AT_TIMESTAMP",
                ))
            }
            _ => {}
        }
        Ok(MappingDef {
            uuid,
            seq: 0,
            event_source_arn: source_arn,
            function_arn: function.arn.clone(),
            enabled: m.enabled.unwrap_or(true),
            state: State::Creating,
            state_transition_reason: USER_ACTION.into(),
            last_modified_ms: now_ms,
            last_processing_result: NO_RECORDS_PROCESSED.into(),
            starting_position: position,
            starting_position_timestamp_ms: m.starting_position_timestamp_ms,
            batch_size: m.batch_size.unwrap_or(100),
            maximum_batching_window_in_seconds: m.maximum_batching_window_in_seconds.unwrap_or(0),
            parallelization_factor: m.parallelization_factor.unwrap_or(1),
            bisect_batch_on_function_error: m.bisect_batch_on_function_error.unwrap_or(false),
            maximum_retry_attempts: m.maximum_retry_attempts.unwrap_or(-1),
            maximum_record_age_in_seconds: m.maximum_record_age_in_seconds.unwrap_or(-1),
            function_response_types: m.function_response_types.clone().unwrap_or_default(),
            tumbling_window_in_seconds: m.tumbling_window_in_seconds.unwrap_or(0),
            on_failure_destination: m.on_failure_destination.clone().flatten(),
            filter_patterns: m.filter_patterns.clone().flatten(),
            metrics: m.metrics.clone().flatten(),
            tags: m.tags.clone().unwrap_or_default(),
            stream_creation_ms: None,
        })
    }

    /// Apply UpdateEventSourceMapping's members (all but `FunctionName`, which the caller
    /// resolves): what is given replaces what was; `{}` clears the filters, an empty
    /// `OnFailure` the destination.
    pub fn apply(&mut self, m: &Members) {
        self.enabled = m.enabled.unwrap_or(self.enabled);
        self.batch_size = m.batch_size.unwrap_or(self.batch_size);
        self.maximum_batching_window_in_seconds =
            m.maximum_batching_window_in_seconds.unwrap_or(self.maximum_batching_window_in_seconds);
        self.parallelization_factor = m.parallelization_factor.unwrap_or(self.parallelization_factor);
        self.bisect_batch_on_function_error =
            m.bisect_batch_on_function_error.unwrap_or(self.bisect_batch_on_function_error);
        self.maximum_retry_attempts = m.maximum_retry_attempts.unwrap_or(self.maximum_retry_attempts);
        self.maximum_record_age_in_seconds =
            m.maximum_record_age_in_seconds.unwrap_or(self.maximum_record_age_in_seconds);
        self.tumbling_window_in_seconds = m.tumbling_window_in_seconds.unwrap_or(self.tumbling_window_in_seconds);
        if let Some(t) = &m.function_response_types {
            self.function_response_types = t.clone();
        }
        if let Some(d) = &m.on_failure_destination {
            self.on_failure_destination = d.clone();
        }
        if let Some(f) = &m.filter_patterns {
            self.filter_patterns = f.clone();
        }
        if let Some(x) = &m.metrics {
            self.metrics = x.clone();
        }
    }

    /// `EventSourceMappingArn`.
    pub fn arn(&self, region: &str, account: &str) -> String {
        format!("arn:aws:lambda:{region}:{account}:event-source-mapping:{}", self.uuid)
    }

    /// The `EventSourceMappingConfiguration` JSON object.
    pub fn to_json(&self, region: &str, account: &str) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("UUID", json!(self.uuid));
        put("StartingPosition", json!(self.starting_position));
        if let Some(ms) = self.starting_position_timestamp_ms {
            put("StartingPositionTimestamp", json!(ms as f64 / 1000.0));
        }
        put("BatchSize", json!(self.batch_size));
        put("MaximumBatchingWindowInSeconds", json!(self.maximum_batching_window_in_seconds));
        put("ParallelizationFactor", json!(self.parallelization_factor));
        put("EventSourceArn", json!(self.event_source_arn));
        if let Some(patterns) = &self.filter_patterns {
            let filters: Vec<Value> = patterns.iter().map(|p| json!({ "Pattern": p })).collect();
            put("FilterCriteria", json!({ "Filters": filters }));
        }
        put("FunctionArn", json!(self.function_arn));
        put("LastModified", json!(self.last_modified_ms as f64 / 1000.0));
        put("LastProcessingResult", json!(self.last_processing_result));
        put("State", json!(self.state.as_str()));
        put("StateTransitionReason", json!(self.state_transition_reason));
        let on_failure = match &self.on_failure_destination {
            Some(d) => json!({ "Destination": d }),
            None => json!({}),
        };
        put("DestinationConfig", json!({ "OnFailure": on_failure }));
        if let Some(metrics) = &self.metrics {
            put("MetricsConfig", json!({ "Metrics": metrics }));
        }
        put("MaximumRecordAgeInSeconds", json!(self.maximum_record_age_in_seconds));
        put("BisectBatchOnFunctionError", json!(self.bisect_batch_on_function_error));
        put("MaximumRetryAttempts", json!(self.maximum_retry_attempts));
        put("TumblingWindowInSeconds", json!(self.tumbling_window_in_seconds));
        put("FunctionResponseTypes", json!(self.function_response_types));
        put("EventSourceMappingArn", json!(self.arn(region, account)));
        Value::Object(m)
    }
}

/// A function as a mapping names it (`FunctionName`: a name, a partial ARN or an ARN, with
/// an optional qualifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The function's name.
    pub name: String,
    /// Version or alias.
    pub qualifier: Option<String>,
    /// `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`.
    pub arn: String,
}

/// Longest function name.
const FUNCTION_NAME_MAX: usize = 64;

impl FunctionRef {
    /// Parse `FunctionName` in any of its forms (`my-function`, `my-function:v1`,
    /// `123456789012:function:my-function`, `arn:aws:lambda:us-east-1:123456789012:function:my-function`);
    /// a region or account left out is the server's.
    pub fn parse(given: &str, region: &str, account: &str) -> Result<FunctionRef, LambdaError> {
        let bad = |why: &str| {
            LambdaError::invalid_parameter(format!("FunctionName {given:?} is not a function name or ARN: {why}"))
        };
        if given.is_empty() || given.len() > 256 {
            return Err(super::errors::constraint("FunctionName", given, "Member must have length between 1 and 256"));
        }
        let mut parts: Vec<&str> = given.split(':').collect();
        let (mut fn_region, mut fn_account, mut partition) = (region.to_string(), account.to_string(), "aws");
        if parts.first() == Some(&"arn") {
            match parts.as_slice() {
                ["arn", p, "lambda", ..] if p.starts_with("aws") => partition = p,
                _ => return Err(bad("an ARN must start with arn:aws:lambda:")),
            }
            parts.drain(..3);
        }
        if parts.len() > 2 && parts.first().is_some_and(|r| is_region(r)) {
            fn_region = parts.remove(0).to_string();
        }
        if parts.len() > 2 && parts.first().is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())) {
            fn_account = parts.remove(0).to_string();
        }
        if parts.first() == Some(&"function") {
            parts.remove(0);
        }
        let (name, qualifier) = match parts.as_slice() {
            [name] => (*name, None),
            [name, q] => (*name, Some(*q)),
            _ => return Err(bad("expected [arn:aws:lambda:][region:][account:][function:]name[:qualifier]")),
        };
        if name.is_empty()
            || name.len() > FUNCTION_NAME_MAX
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(bad("a name is 1 to 64 of a-z, A-Z, 0-9, '-', '_' and '.'"));
        }
        if let Some(q) = qualifier {
            let ok = q == "$LATEST"
                || (!q.is_empty()
                    && q.len() <= 128
                    && q.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')));
            if !ok {
                return Err(bad("a qualifier is $LATEST, a version number or an alias name"));
            }
        }
        let mut arn = format!("arn:{partition}:lambda:{fn_region}:{fn_account}:function:{name}");
        if let Some(q) = qualifier {
            arn.push(':');
            arn.push_str(q);
        }
        Ok(FunctionRef { name: name.to_string(), qualifier: qualifier.map(str::to_string), arn })
    }
}

/// `us-east-1`, `us-gov-west-1`, `eu-central-2`, `cn-north-1`…
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    match parts.as_slice() {
        [cc, area @ .., digit] => {
            cc.len() == 2
                && letters(cc)
                && !area.is_empty()
                && area.iter().all(|p| letters(p))
                && digit.len() == 1
                && digit.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// What an `EventSourceArn` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    /// The stream's ARN.
    pub stream_arn: String,
    /// The enhanced fan-out consumer read through, when the ARN names one.
    pub consumer_arn: Option<String>,
}

impl EventSource {
    /// Parse a Kinesis stream ARN or consumer ARN.
    pub fn parse(arn: &str) -> Result<EventSource, LambdaError> {
        if let Some(c) = names::parse_consumer_arn(arn) {
            return Ok(EventSource {
                stream_arn: names::stream_arn(c.region, c.account, c.stream),
                consumer_arn: Some(arn.to_string()),
            });
        }
        if names::parse_stream_arn(arn).is_some() && !arn.contains("/consumer/") {
            return Ok(EventSource { stream_arn: arn.to_string(), consumer_arn: None });
        }
        let service = arn.split(':').nth(2).unwrap_or("");
        if arn.starts_with("arn:") && !service.is_empty() && service != "kinesis" {
            return Err(LambdaError::invalid_parameter(format!(
                "Unsupported event source {arn}: shardlog serve maps Kinesis streams (arn:aws:kinesis:<region>:<account>:stream/<name>) \
                 and their enhanced fan-out consumers only"
            )));
        }
        Err(LambdaError::invalid_parameter(format!(
            "EventSourceArn {arn:?} is neither a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>) \
             nor a consumer ARN (…:stream/<name>/consumer/<consumer>:<creation seconds>)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_in_every_form() {
        let f = |s| FunctionRef::parse(s, "us-east-1", "000000000000");
        let arn = "arn:aws:lambda:us-east-1:000000000000:function:my-fn";
        assert_eq!(f("my-fn").unwrap().arn, arn);
        assert_eq!(f("my-fn").unwrap().name, "my-fn");
        assert_eq!(f("000000000000:function:my-fn").unwrap().arn, arn);
        assert_eq!(f(arn).unwrap().arn, arn);
        let q = f("my-fn:live").unwrap();
        assert_eq!((q.name.as_str(), q.qualifier.as_deref()), ("my-fn", Some("live")));
        assert_eq!(q.arn, format!("{arn}:live"));
        let other = f("arn:aws:lambda:eu-west-2:123456789012:function:x:$LATEST").unwrap();
        assert_eq!(other.arn, "arn:aws:lambda:eu-west-2:123456789012:function:x:$LATEST");
        assert_eq!(other.name, "x");
        for bad in ["", "a b", "arn:aws:s3:::bucket", "a:b:c:d:e", "fn:bad qualifier", &"x".repeat(65)] {
            assert!(f(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn event_sources_are_streams_or_consumers() {
        let s = EventSource::parse("arn:aws:kinesis:us-east-1:000000000000:stream/orders").unwrap();
        assert_eq!(s.consumer_arn, None);
        let c =
            EventSource::parse("arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/c1:1700000000").unwrap();
        assert_eq!(c.stream_arn, "arn:aws:kinesis:us-east-1:000000000000:stream/orders");
        assert!(c.consumer_arn.is_some());
        let e = EventSource::parse("arn:aws:sqs:us-east-1:000000000000:q").unwrap_err();
        assert!(e.message.contains("Unsupported event source"), "{e}");
        assert!(EventSource::parse("orders").is_err());
    }

    #[test]
    fn states_in_lambdas_words() {
        assert_eq!(State::Creating.as_str(), "Creating");
        assert!(State::Updating.is_transitional());
        assert!(!State::Disabled.is_transitional());
    }
}
