//! The five event-source-mapping operations of the Lambda API (REST-JSON, `2015-03-31`):
//! routing by method and path, decoding and checking each member against the service
//! model, and the response status. The registry does the work.
//!
//! | operation | request | success |
//! |---|---|---|
//! | CreateEventSourceMapping | `POST /2015-03-31/event-source-mappings/` | 202 |
//! | ListEventSourceMappings | `GET /2015-03-31/event-source-mappings/?EventSourceArn=&FunctionName=&Marker=&MaxItems=` | 200 |
//! | GetEventSourceMapping | `GET /2015-03-31/event-source-mappings/{UUID}` | 200 |
//! | UpdateEventSourceMapping | `PUT /2015-03-31/event-source-mappings/{UUID}` | 202 |
//! | DeleteEventSourceMapping | `DELETE /2015-03-31/event-source-mappings/{UUID}` | 202 |
//!
//! Members are checked in two tiers, as Lambda does: the service model's constraints
//! (ranges, lengths, enums) give `ValidationException` in the service's wording; rules about
//! a Kinesis source (a starting position is required, record age is -1 or at least 60, no
//! SQS/Kafka-only members) give `InvalidParameterValueException`.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde_json::{Map, Value};

use super::errors::{constraint, LambdaError};

/// The path prefix of every Lambda operation.
pub const PREFIX: &str = "/2015-03-31/";
const MAPPINGS: &str = "/2015-03-31/event-source-mappings";

/// Which operation a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// CreateEventSourceMapping.
    Create,
    /// ListEventSourceMappings.
    List,
    /// GetEventSourceMapping.
    Get(String),
    /// UpdateEventSourceMapping.
    Update(String),
    /// DeleteEventSourceMapping.
    Delete(String),
}

impl Op {
    /// The operation's name (for logs and metrics).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Create => "CreateEventSourceMapping",
            Op::List => "ListEventSourceMappings",
            Op::Get(_) => "GetEventSourceMapping",
            Op::Update(_) => "UpdateEventSourceMapping",
            Op::Delete(_) => "DeleteEventSourceMapping",
        }
    }

    /// The HTTP status of a success.
    pub fn success_status(&self) -> StatusCode {
        match self {
            Op::Create | Op::Update(_) | Op::Delete(_) => StatusCode::ACCEPTED,
            Op::List | Op::Get(_) => StatusCode::OK,
        }
    }

    /// The operation of `method` on `path`.
    pub fn route(method: &Method, path: &str) -> Result<Op, LambdaError> {
        let unknown = || LambdaError::unknown_operation(method.as_str(), path);
        let Some(rest) = path.strip_prefix(MAPPINGS) else { return Err(unknown()) };
        let uuid = match rest {
            "" | "/" => None,
            r => match r.strip_prefix('/') {
                Some(u) if !u.is_empty() && !u.contains('/') => Some(percent_decode(u)),
                _ => return Err(unknown()),
            },
        };
        match (method, uuid) {
            (&Method::POST, None) => Ok(Op::Create),
            (&Method::GET, None) => Ok(Op::List),
            (&Method::GET, Some(u)) => Ok(Op::Get(checked_uuid(u)?)),
            (&Method::PUT, Some(u)) => Ok(Op::Update(checked_uuid(u)?)),
            (&Method::DELETE, Some(u)) => Ok(Op::Delete(checked_uuid(u)?)),
            _ => Err(unknown()),
        }
    }
}

/// The `UUID` path member: 36 characters per the model.
fn checked_uuid(u: String) -> Result<String, LambdaError> {
    if u.chars().count() != 36 {
        let rule = if u.chars().count() < 36 {
            "Member must have length greater than or equal to 36"
        } else {
            "Member must have length less than or equal to 36"
        };
        return Err(constraint("UUID", &u, rule));
    }
    Ok(u)
}

/// Decode `%XX` escapes (invalid ones are kept as written).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters of ListEventSourceMappings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// `EventSourceArn`.
    pub event_source_arn: Option<String>,
    /// `FunctionName`.
    pub function_name: Option<String>,
    /// `Marker`.
    pub marker: Option<String>,
    /// `MaxItems` (1–10,000; a page holds at most 100).
    pub max_items: Option<u32>,
}

impl ListQuery {
    /// Parse the raw query string.
    pub fn parse(query: Option<&str>) -> Result<ListQuery, LambdaError> {
        let mut q = ListQuery::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match percent_decode(k).as_str() {
                "EventSourceArn" => q.event_source_arn = Some(v),
                "FunctionName" => q.function_name = Some(v),
                "Marker" => q.marker = Some(v),
                "MaxItems" => {
                    let n: i64 = v.parse().map_err(|_| {
                        LambdaError::invalid_parameter(format!("MaxItems must be an integer, not {v:?}"))
                    })?;
                    if !(1..=10_000).contains(&n) {
                        let rule = if n < 1 {
                            "Member must have value greater than or equal to 1"
                        } else {
                            "Member must have value less than or equal to 10000"
                        };
                        return Err(constraint("MaxItems", n, rule));
                    }
                    q.max_items = Some(n as u32);
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

/// The members of a Create or Update request (absent members are `None`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Members {
    /// `FunctionName`.
    pub function_name: Option<String>,
    /// `EventSourceArn` (Create only).
    pub event_source_arn: Option<String>,
    /// `Enabled`.
    pub enabled: Option<bool>,
    /// `BatchSize`.
    pub batch_size: Option<u32>,
    /// `MaximumBatchingWindowInSeconds`.
    pub maximum_batching_window_in_seconds: Option<u32>,
    /// `ParallelizationFactor`.
    pub parallelization_factor: Option<u32>,
    /// `StartingPosition` (Create only).
    pub starting_position: Option<String>,
    /// `StartingPositionTimestamp` in ms (Create only).
    pub starting_position_timestamp_ms: Option<i64>,
    /// `DestinationConfig.OnFailure.Destination`: `Some(None)` clears it.
    pub on_failure_destination: Option<Option<String>>,
    /// `MaximumRecordAgeInSeconds`.
    pub maximum_record_age_in_seconds: Option<i32>,
    /// `BisectBatchOnFunctionError`.
    pub bisect_batch_on_function_error: Option<bool>,
    /// `MaximumRetryAttempts`.
    pub maximum_retry_attempts: Option<i32>,
    /// `TumblingWindowInSeconds`.
    pub tumbling_window_in_seconds: Option<u32>,
    /// `FunctionResponseTypes`.
    pub function_response_types: Option<Vec<String>>,
    /// `FilterCriteria`: `Some(None)` clears it.
    pub filter_patterns: Option<Option<Vec<String>>>,
    /// `MetricsConfig.Metrics`: `Some(None)` clears it.
    pub metrics: Option<Option<Vec<String>>>,
    /// `Tags` (Create only).
    pub tags: Option<BTreeMap<String, String>>,
}

/// Members the model has but a Kinesis source does not take.
const NOT_FOR_KINESIS: &[&str] = &[
    "Topics",
    "Queues",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
    "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
    "ScalingConfig",
    "ProvisionedPollerConfig",
    "LoggingConfig",
];

impl Members {
    /// Decode and check the body of a Create (`create`) or Update request.
    pub fn parse(body: &[u8], create: bool) -> Result<Members, LambdaError> {
        let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(body)
                .map_err(|e| LambdaError::serialization(format!("The request body is not JSON: {e}")))?
        };
        let Value::Object(obj) = value else {
            return Err(LambdaError::serialization("The request body must be a JSON object"));
        };
        for name in NOT_FOR_KINESIS {
            if obj.get(*name).is_some_and(|v| !v.is_null()) {
                return Err(LambdaError::invalid_parameter(format!(
                    "{name} is not supported for Kinesis event sources (shardlog serve maps Kinesis streams only)"
                )));
            }
        }
        if obj.get("KMSKeyArn").is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
            return Err(LambdaError::invalid_parameter(
                "KMSKeyArn is not supported by shardlog serve: filter criteria are stored unencrypted in the data directory",
            ));
        }
        let mut m = Members {
            function_name: string(&obj, "FunctionName")?,
            enabled: boolean(&obj, "Enabled")?,
            batch_size: int_in(&obj, "BatchSize", 1, 10_000)?.map(|v| v as u32),
            maximum_batching_window_in_seconds: int_in(&obj, "MaximumBatchingWindowInSeconds", 0, 300)?
                .map(|v| v as u32),
            parallelization_factor: int_in(&obj, "ParallelizationFactor", 1, 10)?.map(|v| v as u32),
            maximum_record_age_in_seconds: int_in(&obj, "MaximumRecordAgeInSeconds", -1, 604_800)?.map(|v| v as i32),
            bisect_batch_on_function_error: boolean(&obj, "BisectBatchOnFunctionError")?,
            maximum_retry_attempts: int_in(&obj, "MaximumRetryAttempts", -1, 10_000)?.map(|v| v as i32),
            tumbling_window_in_seconds: int_in(&obj, "TumblingWindowInSeconds", 0, 900)?.map(|v| v as u32),
            ..Members::default()
        };
        if let Some(name) = &m.function_name {
            if name.is_empty() || name.chars().count() > 256 {
                return Err(constraint("FunctionName", name, "Member must have length between 1 and 256"));
            }
        }
        if let Some(age) = m.maximum_record_age_in_seconds {
            if (0..60).contains(&age) {
                return Err(LambdaError::invalid_parameter(format!(
                    "MaximumRecordAgeInSeconds is {age}: it must be -1 (infinite) or between 60 and 604800"
                )));
            }
        }
        if let Some(types) = list_of_strings(&obj, "FunctionResponseTypes")? {
            if types.len() > 1 {
                return Err(constraint(
                    "FunctionResponseTypes",
                    format_args!("{types:?}"),
                    "Member must have length less than or equal to 1",
                ));
            }
            if let Some(t) = types.iter().find(|t| *t != "ReportBatchItemFailures") {
                return Err(constraint(
                    "FunctionResponseTypes",
                    t,
                    "Member must satisfy enum value set: [ReportBatchItemFailures]",
                ));
            }
            m.function_response_types = Some(types);
        }
        m.on_failure_destination = destination(&obj)?;
        m.filter_patterns = filter_criteria(&obj)?;
        m.metrics = metrics_config(&obj)?;
        if create {
            m.event_source_arn = string(&obj, "EventSourceArn")?;
            if let Some(arn) = &m.event_source_arn {
                if arn.chars().count() > 10_000 {
                    return Err(constraint(
                        "EventSourceArn",
                        arn,
                        "Member must have length less than or equal to 10000",
                    ));
                }
            }
            if let Some(p) = string(&obj, "StartingPosition")? {
                if !matches!(p.as_str(), "TRIM_HORIZON" | "LATEST" | "AT_TIMESTAMP") {
                    return Err(constraint(
                        "StartingPosition",
                        &p,
                        "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
                    ));
                }
                m.starting_position = Some(p);
            }
            m.starting_position_timestamp_ms = match obj.get("StartingPositionTimestamp") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => match n.as_f64() {
                    Some(secs) if secs.is_finite() && secs.abs() < 1e12 => Some((secs * 1000.0).round() as i64),
                    _ => {
                        return Err(LambdaError::invalid_parameter(format!(
                            "StartingPositionTimestamp {n} is not a time in epoch seconds"
                        )))
                    }
                },
                Some(other) => {
                    return Err(LambdaError::invalid_parameter(format!(
                        "StartingPositionTimestamp must be a number of epoch seconds, not {other}"
                    )))
                }
            };
            m.tags = tags(&obj)?;
        } else {
            for name in ["EventSourceArn", "StartingPosition", "StartingPositionTimestamp", "Tags"] {
                if obj.get(name).is_some_and(|v| !v.is_null()) {
                    return Err(LambdaError::invalid_parameter(format!(
                        "{name} cannot be changed by UpdateEventSourceMapping: create a new mapping"
                    )));
                }
            }
        }
        Ok(m)
    }
}

fn string(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, LambdaError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(LambdaError::invalid_parameter(format!("{name} must be a string, not {other}"))),
    }
}

fn boolean(obj: &Map<String, Value>, name: &str) -> Result<Option<bool>, LambdaError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(LambdaError::invalid_parameter(format!("{name} must be true or false, not {other}"))),
    }
}

fn int_in(obj: &Map<String, Value>, name: &str, min: i64, max: i64) -> Result<Option<i64>, LambdaError> {
    let v = match obj.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) => v,
            None => return Err(LambdaError::invalid_parameter(format!("{name} must be an integer, not {n}"))),
        },
        Some(other) => return Err(LambdaError::invalid_parameter(format!("{name} must be an integer, not {other}"))),
    };
    if v < min {
        return Err(constraint(name, v, &format!("Member must have value greater than or equal to {min}")));
    }
    if v > max {
        return Err(constraint(name, v, &format!("Member must have value less than or equal to {max}")));
    }
    Ok(Some(v))
}

fn list_of_strings(obj: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, LambdaError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| LambdaError::invalid_parameter(format!("{name} must be a list of strings, not {i}")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(LambdaError::invalid_parameter(format!("{name} must be a list, not {other}"))),
    }
}

/// `DestinationConfig`: `OnFailure.Destination` (an SQS, SNS or S3 ARN; empty clears it).
fn destination(obj: &Map<String, Value>) -> Result<Option<Option<String>>, LambdaError> {
    let cfg = match obj.get("DestinationConfig") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(c)) => c,
        Some(other) => {
            return Err(LambdaError::invalid_parameter(format!("DestinationConfig must be an object, not {other}")))
        }
    };
    if cfg.get("OnSuccess").is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
        return Err(LambdaError::invalid_parameter(
            "DestinationConfig.OnSuccess is not supported for Kinesis event sources: only OnFailure is",
        ));
    }
    let on_failure = match cfg.get("OnFailure") {
        None | Some(Value::Null) => return Ok(Some(None)),
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(LambdaError::invalid_parameter(format!(
                "DestinationConfig.OnFailure must be an object, not {other}"
            )))
        }
    };
    let dest = string(on_failure, "Destination")?.filter(|d| !d.is_empty());
    if let Some(d) = &dest {
        if d.chars().count() > 350 {
            return Err(constraint("Destination", d, "Member must have length less than or equal to 350"));
        }
        let parts: Vec<&str> = d.splitn(6, ':').collect();
        let service = match parts.as_slice() {
            ["arn", partition, service, _, _, resource] if partition.starts_with("aws") && !resource.is_empty() => *service,
            _ => {
                return Err(constraint(
                    "Destination",
                    d,
                    "Member must satisfy regular expression pattern: $|kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)",
                ))
            }
        };
        if !matches!(service, "sqs" | "sns" | "s3") {
            return Err(LambdaError::invalid_parameter(format!(
                "The OnFailure destination {d} is not supported for Kinesis event sources: use an SQS queue, SNS topic or S3 bucket ARN"
            )));
        }
    }
    Ok(Some(dest))
}

/// `FilterCriteria`: `{}` or `{"Filters": []}` clears the filters.
fn filter_criteria(obj: &Map<String, Value>) -> Result<Option<Option<Vec<String>>>, LambdaError> {
    let fc = match obj.get("FilterCriteria") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(LambdaError::invalid_parameter(format!("FilterCriteria must be an object, not {other}")))
        }
    };
    let filters = match fc.get("Filters") {
        None | Some(Value::Null) => return Ok(Some(None)),
        Some(Value::Array(f)) => f,
        Some(other) => {
            return Err(LambdaError::invalid_parameter(format!("FilterCriteria.Filters must be a list, not {other}")))
        }
    };
    let mut patterns = Vec::with_capacity(filters.len());
    for f in filters {
        let pattern = f.as_object().and_then(|o| o.get("Pattern")).and_then(Value::as_str).ok_or_else(|| {
            LambdaError::invalid_parameter(format!("every filter must be {{\"Pattern\": \"<JSON text>\"}}, not {f}"))
        })?;
        if pattern.chars().count() > shardlog::event_source::filter::MAX_PATTERN_CHARS {
            return Err(constraint("Pattern", pattern, "Member must have length less than or equal to 4096"));
        }
        patterns.push(pattern.to_string());
    }
    if patterns.is_empty() {
        return Ok(Some(None));
    }
    shardlog::event_source::FilterCriteria::parse(&patterns).map_err(|e| LambdaError::invalid_parameter(e.0))?;
    Ok(Some(Some(patterns)))
}

/// `MetricsConfig`: `EventCount` is the one metric of a Kinesis source.
fn metrics_config(obj: &Map<String, Value>) -> Result<Option<Option<Vec<String>>>, LambdaError> {
    let mc = match obj.get("MetricsConfig") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(LambdaError::invalid_parameter(format!("MetricsConfig must be an object, not {other}")))
        }
    };
    let Some(list) = list_of_strings(mc, "Metrics")? else { return Ok(Some(None)) };
    if list.len() > 3 {
        return Err(constraint("Metrics", format_args!("{list:?}"), "Member must have length less than or equal to 3"));
    }
    for m in &list {
        match m.as_str() {
            "EventCount" => {}
            "ErrorCount" | "KafkaMetrics" => {
                return Err(LambdaError::invalid_parameter(format!(
                    "MetricsConfig metric {m} is for Kafka event sources; a Kinesis source has EventCount"
                )))
            }
            other => {
                return Err(constraint(
                    "Metrics",
                    other,
                    "Member must satisfy enum value set: [EventCount, ErrorCount, KafkaMetrics]",
                ))
            }
        }
    }
    Ok(Some(if list.is_empty() { None } else { Some(list) }))
}

/// `Tags`: at most 50; keys 1–128 characters, values at most 256.
fn tags(obj: &Map<String, Value>) -> Result<Option<BTreeMap<String, String>>, LambdaError> {
    let t = match obj.get("Tags") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(other) => return Err(LambdaError::invalid_parameter(format!("Tags must be an object, not {other}"))),
    };
    if t.len() > 50 {
        return Err(LambdaError::invalid_parameter(format!("{} tags given: at most 50 are allowed", t.len())));
    }
    let mut out = BTreeMap::new();
    for (k, v) in t {
        let Some(v) = v.as_str() else {
            return Err(LambdaError::invalid_parameter(format!("the value of tag {k:?} must be a string")));
        };
        if k.is_empty() || k.chars().count() > 128 {
            return Err(constraint("Tags", k, "Member must have length between 1 and 128 (keys)"));
        }
        if v.chars().count() > 256 {
            return Err(constraint("Tags", v, "Member must have length less than or equal to 256 (values)"));
        }
        out.insert(k.clone(), v.to_string());
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_service_model() {
        let u = "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE";
        assert_eq!(Op::route(&Method::POST, "/2015-03-31/event-source-mappings/").unwrap(), Op::Create);
        assert_eq!(Op::route(&Method::POST, "/2015-03-31/event-source-mappings").unwrap(), Op::Create);
        assert_eq!(Op::route(&Method::GET, "/2015-03-31/event-source-mappings/").unwrap(), Op::List);
        assert_eq!(Op::route(&Method::GET, &format!("{MAPPINGS}/{u}")).unwrap(), Op::Get(u.into()));
        assert_eq!(Op::route(&Method::PUT, &format!("{MAPPINGS}/{u}")).unwrap(), Op::Update(u.into()));
        assert_eq!(Op::route(&Method::DELETE, &format!("{MAPPINGS}/{u}")).unwrap(), Op::Delete(u.into()));
        let e = Op::route(&Method::GET, &format!("{MAPPINGS}/short")).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        let e = Op::route(&Method::POST, "/2015-03-31/functions/f/invocations").unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, "UnknownOperationException"));
        assert!(Op::route(&Method::PATCH, &format!("{MAPPINGS}/{u}")).is_err());
    }

    #[test]
    fn list_queries_decode_and_bound_max_items() {
        let q = ListQuery::parse(Some(
            "EventSourceArn=arn%3Aaws%3Akinesis%3Aus-east-1%3A000000000000%3Astream%2Fs&FunctionName=f&MaxItems=2&Marker=m",
        ))
        .unwrap();
        assert_eq!(q.event_source_arn.as_deref(), Some("arn:aws:kinesis:us-east-1:000000000000:stream/s"));
        assert_eq!((q.function_name.as_deref(), q.max_items, q.marker.as_deref()), (Some("f"), Some(2), Some("m")));
        assert_eq!(ListQuery::parse(Some("MaxItems=0")).unwrap_err().code, "ValidationException");
        assert_eq!(ListQuery::parse(Some("MaxItems=x")).unwrap_err().code, "InvalidParameterValueException");
    }

    #[test]
    fn members_are_checked_in_two_tiers() {
        let p = |b: &str| Members::parse(b.as_bytes(), true);
        let m = p(r#"{"FunctionName":"f","EventSourceArn":"arn:aws:kinesis:us-east-1:000000000000:stream/s",
                     "StartingPosition":"AT_TIMESTAMP","StartingPositionTimestamp":1700000000.5,"BatchSize":10,
                     "FilterCriteria":{"Filters":[{"Pattern":"{\"data\":{\"a\":[1]}}"}]},
                     "DestinationConfig":{"OnFailure":{"Destination":"arn:aws:sqs:us-east-1:000000000000:dlq"}}}"#)
        .unwrap();
        assert_eq!(m.starting_position_timestamp_ms, Some(1_700_000_000_500));
        assert_eq!(m.batch_size, Some(10));
        assert_eq!(m.filter_patterns, Some(Some(vec!["{\"data\":{\"a\":[1]}}".to_string()])));
        assert_eq!(m.on_failure_destination, Some(Some("arn:aws:sqs:us-east-1:000000000000:dlq".to_string())));
        for (body, code, text) in [
            (r#"{"BatchSize":0}"#, "ValidationException", "at 'batchSize'"),
            (r#"{"BatchSize":10001}"#, "ValidationException", "less than or equal to 10000"),
            (r#"{"BatchSize":"x"}"#, "InvalidParameterValueException", "integer"),
            (r#"{"MaximumRecordAgeInSeconds":30}"#, "InvalidParameterValueException", "between 60 and 604800"),
            (r#"{"MaximumRetryAttempts":-2}"#, "ValidationException", "greater than or equal to -1"),
            (r#"{"ParallelizationFactor":11}"#, "ValidationException", "parallelizationFactor"),
            (r#"{"TumblingWindowInSeconds":901}"#, "ValidationException", "tumblingWindowInSeconds"),
            (r#"{"FunctionResponseTypes":["Nope"]}"#, "ValidationException", "enum value set"),
            (r#"{"StartingPosition":"EARLIEST"}"#, "ValidationException", "enum value set"),
            (r#"{"Queues":["q"]}"#, "InvalidParameterValueException", "not supported for Kinesis"),
            (
                r#"{"KMSKeyArn":"arn:aws:kms:us-east-1:000000000000:key/k"}"#,
                "InvalidParameterValueException",
                "KMSKeyArn",
            ),
            (
                r#"{"DestinationConfig":{"OnFailure":{"Destination":"arn:aws:lambda:us-east-1:000000000000:function:f"}}}"#,
                "InvalidParameterValueException",
                "SQS queue, SNS topic or S3",
            ),
            (
                r#"{"DestinationConfig":{"OnSuccess":{"Destination":"arn:aws:sqs:us-east-1:000000000000:q"}}}"#,
                "InvalidParameterValueException",
                "OnSuccess",
            ),
            (r#"{"FilterCriteria":{"Filters":[{"Pattern":"nope"}]}}"#, "InvalidParameterValueException", "not JSON"),
            (r#"{"MetricsConfig":{"Metrics":["ErrorCount"]}}"#, "InvalidParameterValueException", "Kafka"),
            (r#"[1]"#, "SerializationException", "JSON object"),
            (r#"{"#, "SerializationException", "not JSON"),
        ] {
            let e = p(body).unwrap_err();
            assert_eq!(e.code, code, "{body}: {e}");
            assert!(e.message.contains(text), "{body}: {e}");
        }
        let e = Members::parse(br#"{"StartingPosition":"LATEST"}"#, false).unwrap_err();
        assert!(e.message.contains("cannot be changed"), "{e}");
        assert_eq!(Members::parse(br#"{"FilterCriteria":{}}"#, false).unwrap().filter_patterns, Some(None));
        assert_eq!(
            Members::parse(br#"{"DestinationConfig":{"OnFailure":{}}}"#, false).unwrap().on_failure_destination,
            Some(None)
        );
    }
}
