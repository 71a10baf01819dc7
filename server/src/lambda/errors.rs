//! Lambda's error responses (REST-JSON): the HTTP status of the exception's shape in the
//! service model, `x-amzn-ErrorType: <Code>`, and a JSON body `{"Type": "User", "message":
//! …}` — `Message` for the shapes that spell it so (`ResourceNotFoundException`,
//! `ResourceInUseException`, `ServiceException`), as boto3 and the AWS CLI read either.

use http::StatusCode;
use serde_json::{json, Value};

/// An error answer of the Lambda API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaError {
    /// HTTP status.
    pub status: StatusCode,
    /// The exception name (`x-amzn-ErrorType`).
    pub code: &'static str,
    /// The message.
    pub message: String,
}

impl LambdaError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> LambdaError {
        LambdaError { status, code, message: message.into() }
    }

    /// `InvalidParameterValueException` (400): a parameter is wrong for this mapping.
    pub fn invalid_parameter(message: impl Into<String>) -> LambdaError {
        LambdaError::new(StatusCode::BAD_REQUEST, "InvalidParameterValueException", message)
    }

    /// `ValidationException` (400): a member breaks the service model's constraints, in the
    /// service's wording (`1 validation error detected: Value '0' at 'batchSize' failed to
    /// satisfy constraint: …`).
    pub fn validation(message: impl Into<String>) -> LambdaError {
        LambdaError::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    /// `ResourceNotFoundException` (404).
    pub fn not_found(message: impl Into<String>) -> LambdaError {
        LambdaError::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    /// `ResourceConflictException` (409): such a mapping exists already.
    pub fn conflict(message: impl Into<String>) -> LambdaError {
        LambdaError::new(StatusCode::CONFLICT, "ResourceConflictException", message)
    }

    /// `ResourceInUseException` (400): the mapping is changing state.
    pub fn in_use(message: impl Into<String>) -> LambdaError {
        LambdaError::new(StatusCode::BAD_REQUEST, "ResourceInUseException", message)
    }

    /// `ServiceException` (500): the detail goes to the log, not to the client.
    pub fn service(detail: impl std::fmt::Display) -> LambdaError {
        tracing::error!(error = %detail, "Lambda API: internal failure");
        LambdaError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "The service encountered an internal error.",
        )
    }

    /// `SerializationException` (400): the body is not the JSON the operation takes.
    pub fn serialization(message: impl Into<String>) -> LambdaError {
        LambdaError::new(StatusCode::BAD_REQUEST, "SerializationException", message)
    }

    /// `RequestEntityTooLargeException` (413): the body is over `--max-body-bytes`.
    pub fn new_too_large(max: u64) -> LambdaError {
        LambdaError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("The request body is over the server's limit of {max} bytes"),
        )
    }

    /// 408 `RequestTimeoutException`: the body did not arrive within `--body-read-timeout-secs`.
    pub fn request_timeout() -> LambdaError {
        LambdaError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutException",
            "Your socket connection to the server was not read from or written to within the timeout period.",
        )
    }

    /// 503 `ServiceUnavailable`: bodies being read hold the server's memory budget for them.
    pub fn service_unavailable() -> LambdaError {
        LambdaError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The server is busy reading other requests; retry later.",
        )
    }

    /// `UnknownOperationException` (404): no Lambda operation has this method and path.
    pub fn unknown_operation(method: &str, path: &str) -> LambdaError {
        LambdaError::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!("shardlog serves the event-source-mapping operations of the Lambda API only, not {method} {path}"),
        )
    }

    /// An authentication failure, with its Kinesis-side code, as Lambda answers it (403).
    pub fn auth(code: &'static str, message: Option<String>) -> LambdaError {
        LambdaError::new(StatusCode::FORBIDDEN, code, message.unwrap_or_default())
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        let key = match self.code {
            "ResourceNotFoundException" | "ResourceInUseException" | "ServiceException" => "Message",
            _ => "message",
        };
        let mut v = serde_json::Map::new();
        v.insert("Type".into(), json!(if self.status.is_server_error() { "Service" } else { "User" }));
        v.insert(key.into(), Value::String(self.message.clone()));
        Value::Object(v).to_string().into_bytes()
    }
}

impl std::fmt::Display for LambdaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The `ValidationException` message of one constraint violation, in the service's words.
pub fn constraint(member: &str, value: impl std::fmt::Display, rule: &str) -> LambdaError {
    LambdaError::validation(format!(
        "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: {rule}",
        lower_first(member)
    ))
}

/// `BatchSize` → `batchSize` (the service names members so in validation messages).
fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_spell_message_as_each_shape_does() {
        let e = LambdaError::not_found("The resource you requested does not exist.");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(
            String::from_utf8(e.body()).unwrap(),
            r#"{"Message":"The resource you requested does not exist.","Type":"User"}"#
        );
        let e = LambdaError::invalid_parameter("bad");
        assert_eq!(String::from_utf8(e.body()).unwrap(), r#"{"Type":"User","message":"bad"}"#);
        assert_eq!(LambdaError::conflict("x").status, StatusCode::CONFLICT);
    }

    #[test]
    fn constraint_messages_name_the_member_in_camel_case() {
        let e = constraint("BatchSize", 0, "Member must have value greater than or equal to 1");
        assert_eq!(e.code, "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value '0' at 'batchSize' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
    }
}
