//! JSON forms (feature `json`): the event exactly as Lambda delivers it (§9.6, plus the
//! tumbling-window members of §9.5), the on-failure document (§9.3), and the parsing of the
//! response body a function returns (§9.4), keeping apart every form the rules distinguish.

use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::event_source::event::{
    KinesisData, KinesisEvent, KinesisEventRecord, TimeWindow, WindowState, EVENT_NAME, EVENT_SOURCE, EVENT_VERSION,
    KINESIS_SCHEMA_VERSION,
};
use crate::event_source::failure::{KinesisBatchInfo, OnFailureDocument, RequestContext, ResponseContext};
use crate::event_source::response::{BatchItemFailure, HandlerResponse, ItemIdentifier};
use crate::event_source::time::{iso8601_millis, iso8601_secs};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

impl KinesisEvent {
    /// The event as Lambda's JSON text.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

impl Serialize for KinesisEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("Records", &self.records)?;
        if let Some(w) = &self.window {
            serialize_window(w, &mut m)?;
        }
        m.end()
    }
}

fn serialize_window<M: SerializeMap>(w: &TimeWindow, m: &mut M) -> Result<(), M::Error> {
    struct Bounds<'a>(&'a TimeWindow);
    impl Serialize for Bounds<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("start", &iso8601_secs(self.0.start))?;
            m.serialize_entry("end", &iso8601_secs(self.0.end))?;
            m.end()
        }
    }
    m.serialize_entry("window", &Bounds(w))?;
    m.serialize_entry("state", &w.state)?;
    m.serialize_entry("shardId", &w.shard_id)?;
    m.serialize_entry("eventSourceARN", &w.event_source_arn)?;
    m.serialize_entry("isFinalInvokeForWindow", &w.is_final_invoke_for_window)?;
    m.serialize_entry("isWindowTerminatedEarly", &w.is_window_terminated_early)
}

impl Serialize for KinesisEventRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("kinesis", &self.kinesis)?;
        m.serialize_entry("eventSource", EVENT_SOURCE)?;
        m.serialize_entry("eventVersion", EVENT_VERSION)?;
        m.serialize_entry("eventID", &self.event_id())?;
        m.serialize_entry("eventName", EVENT_NAME)?;
        m.serialize_entry("invokeIdentityArn", &*self.invoke_identity_arn)?;
        m.serialize_entry("awsRegion", &*self.aws_region)?;
        m.serialize_entry("eventSourceARN", &*self.event_source_arn)?;
        m.end()
    }
}

impl Serialize for KinesisData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("kinesisSchemaVersion", KINESIS_SCHEMA_VERSION)?;
        m.serialize_entry("partitionKey", &self.partition_key)?;
        m.serialize_entry("sequenceNumber", &self.sequence_number.to_string())?;
        m.serialize_entry("data", &STANDARD.encode(&self.data))?;
        // Epoch seconds with the millisecond fraction, as a plain decimal (never ms, never an
        // exponent: serde_json prints f64 in the shortest round-trip form, e.g. 1545084650.987).
        m.serialize_entry("approximateArrivalTimestamp", &self.approximate_arrival_timestamp.as_secs_f64())?;
        m.end()
    }
}

impl Serialize for WindowState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v: Value = serde_json::from_str(self.as_json_text()).map_err(S::Error::custom)?;
        v.serialize(s)
    }
}

impl WindowState {
    /// A state from JSON text, which must be an object.
    pub fn parse(text: &str) -> serde_json::Result<WindowState> {
        let v: Value = serde_json::from_str(text)?;
        WindowState::from_value(&v).ok_or_else(|| serde::de::Error::custom("state must be a JSON object"))
    }

    /// A state from a JSON value (`None` unless it is an object).
    pub fn from_value(v: &Value) -> Option<WindowState> {
        v.is_object().then(|| WindowState::from_json_text(v.to_string()))
    }

    /// The state as a JSON value (`Null` if its text is not valid JSON).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.as_json_text()).unwrap_or(Value::Null)
    }
}

impl HandlerResponse {
    /// Read the response body a function returned. Never fails: an empty body or `null` is
    /// a null response (success); a body that is not JSON or not shaped like a response is
    /// kept as [`HandlerResponse::malformed`]; identifier forms that Lambda treats as a
    /// whole-batch failure (empty string, null, a misspelled key, a non-string) are kept
    /// apart in [`ItemIdentifier`].
    pub fn from_json(body: &str) -> HandlerResponse {
        if body.trim().is_empty() {
            return HandlerResponse::default();
        }
        match serde_json::from_str::<Value>(body) {
            Ok(v) => HandlerResponse::from_value(&v),
            Err(e) => HandlerResponse { malformed: Some(format!("not JSON: {e}")), ..HandlerResponse::default() },
        }
    }

    /// [`HandlerResponse::from_json`] of an already parsed value.
    pub fn from_value(v: &Value) -> HandlerResponse {
        let mut out = HandlerResponse::default();
        let obj = match v {
            Value::Null => return out,
            Value::Object(o) => o,
            other => {
                out.malformed = Some(format!("response is not a JSON object: {other}"));
                return out;
            }
        };
        match obj.get("batchItemFailures") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    let Value::Object(entry) = item else {
                        out.malformed = Some(format!("batch item failure {item} is not an object"));
                        return out;
                    };
                    let item_identifier = match entry.get("itemIdentifier") {
                        None => ItemIdentifier::Missing,
                        Some(Value::Null) => ItemIdentifier::Null,
                        Some(Value::String(s)) => ItemIdentifier::Value(s.clone()),
                        Some(other) => ItemIdentifier::NotAString(other.to_string()),
                    };
                    list.push(BatchItemFailure { item_identifier });
                }
                out.batch_item_failures = Some(list);
            }
            Some(other) => {
                out.malformed = Some(format!("batchItemFailures is not a list: {other}"));
                return out;
            }
        }
        match obj.get("state") {
            None | Some(Value::Null) => {}
            Some(s @ Value::Object(_)) => out.state = WindowState::from_value(s),
            Some(other) => out.malformed = Some(format!("state is not an object: {other}")),
        }
        out
    }

    /// The response as JSON (`{"batchItemFailures":[…],"state":{…}}`, members omitted when
    /// absent).
    pub fn to_json(&self) -> String {
        let mut m = serde_json::Map::new();
        if let Some(list) = &self.batch_item_failures {
            let items = list
                .iter()
                .map(|f| {
                    let mut e = serde_json::Map::new();
                    match &f.item_identifier {
                        ItemIdentifier::Value(s) => {
                            e.insert("itemIdentifier".into(), Value::String(s.clone()));
                        }
                        ItemIdentifier::Null => {
                            e.insert("itemIdentifier".into(), Value::Null);
                        }
                        ItemIdentifier::Missing => {}
                        ItemIdentifier::NotAString(t) => {
                            e.insert("itemIdentifier".into(), serde_json::from_str(t).unwrap_or(Value::Null));
                        }
                    }
                    Value::Object(e)
                })
                .collect();
            m.insert("batchItemFailures".into(), Value::Array(items));
        }
        if let Some(s) = &self.state {
            m.insert("state".into(), s.to_value());
        }
        Value::Object(m).to_string()
    }
}

impl OnFailureDocument {
    /// The document as JSON text.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

impl Serialize for OnFailureDocument {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("requestContext", &self.request_context)?;
        if let Some(r) = &self.response_context {
            m.serialize_entry("responseContext", r)?;
        }
        m.serialize_entry("version", self.version)?;
        m.serialize_entry("timestamp", &iso8601_millis(self.timestamp))?;
        m.serialize_entry("KinesisBatchInfo", &self.kinesis_batch_info)?;
        m.end()
    }
}

impl Serialize for RequestContext {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("requestId", &self.request_id)?;
        m.serialize_entry("functionArn", &self.function_arn)?;
        m.serialize_entry("condition", self.condition.as_str())?;
        m.serialize_entry("approximateInvokeCount", &self.approximate_invoke_count)?;
        m.end()
    }
}

impl Serialize for ResponseContext {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("statusCode", &self.status_code)?;
        m.serialize_entry("executedVersion", &self.executed_version)?;
        if let Some(e) = &self.function_error {
            m.serialize_entry("functionError", e)?;
        }
        m.end()
    }
}

impl Serialize for KinesisBatchInfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("shardId", &self.shard_id)?;
        m.serialize_entry("startSequenceNumber", &self.start_sequence_number.to_string())?;
        m.serialize_entry("endSequenceNumber", &self.end_sequence_number.to_string())?;
        m.serialize_entry(
            "approximateArrivalOfFirstRecord",
            &iso8601_millis(self.approximate_arrival_of_first_record),
        )?;
        m.serialize_entry("approximateArrivalOfLastRecord", &iso8601_millis(self.approximate_arrival_of_last_record))?;
        m.serialize_entry("batchSize", &self.batch_size)?;
        m.serialize_entry("streamArn", &self.stream_arn)?;
        m.end()
    }
}
