//! API errors: engine errors and protocol errors mapped to an HTTP status, the `__type` and
//! the message (kinesis-behaviour §10.2).
//!
//! - Client errors: HTTP 400, body `{"__type": <name>, "message": <text>}` in the request's
//!   codec. `SerializationException` spells its member `Message` (as Kinesis does).
//! - Storage failures: HTTP 500 `{"__type": "InternalFailure"}`; the detail goes to the log,
//!   not to the client.
//! - Before a usable content type is known, Kinesis answers in XML: a non-POST request is
//!   403 `AccessDeniedException`, an unknown content type 404 `UnknownOperationException`
//!   (403 `AccessDeniedException` when the target is unusable too).
//! - A plain `application/json` request gets the legacy Coral envelope
//!   `{"Output":{"__type":"com.amazon.coral.service#<Name>"},"Version":"1.0"}`.

use http::StatusCode;

use super::wire::{self, Codec, Out};

/// How the error body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `{"__type", "message"}` in the request's codec.
    Envelope,
    /// `{"__type", "Message"}` (SerializationException).
    CapitalMessage,
    /// `<Type>\n  <Message>…</Message>\n</Type>` (no usable content type).
    Xml,
    /// `<Type/>` (no usable content type, unknown operation).
    XmlEmpty,
    /// No body (413).
    NoBody,
    /// `{"Output":{"__type":"com.amazon.coral.service#<Type>"},"Version":"1.0"}` as
    /// `application/json` (requests sent as plain `application/json`).
    CoralOutput,
}

/// An error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The Kinesis exception name (`__type`).
    pub code: &'static str,
    /// The message (omitted from the body when `None`).
    pub message: Option<String>,
    /// Body form.
    pub form: Form,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: Option<String>, form: Form) -> ApiError {
        ApiError { status, code, message, form }
    }

    /// `SerializationException` (a body that does not parse, or a member of the wrong type).
    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "SerializationException", Some(message.into()), Form::CapitalMessage)
    }

    /// `SerializationException` without a message (empty body).
    pub fn serialization_bare() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "SerializationException", None, Form::Envelope)
    }

    /// A plain `application/json` body that does not parse: 400 in the legacy envelope.
    pub fn coral_serialization() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "SerializationException", None, Form::CoralOutput)
    }

    /// A plain `application/json` body that parses: Kinesis serves no operation in that
    /// content type, 404 in the legacy envelope.
    pub fn coral_unknown_operation() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "UnknownOperationException", None, Form::CoralOutput)
    }

    /// `UnknownOperationException` (unknown `X-Amz-Target`).
    pub fn unknown_operation() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "UnknownOperationException", None, Form::Envelope)
    }

    /// `MissingAuthenticationTokenException`.
    pub fn missing_authentication_token() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingAuthenticationTokenException",
            Some("Missing Authentication Token".into()),
            Form::Envelope,
        )
    }

    /// `IncompleteSignatureException`.
    pub fn incomplete_signature(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "IncompleteSignatureException", Some(message.into()), Form::Envelope)
    }

    /// `InvalidSignatureException`.
    pub fn invalid_signature(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "InvalidSignatureException", Some(message.into()), Form::Envelope)
    }

    /// `UnrecognizedClientException` (unknown access key).
    pub fn unrecognized_client() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnrecognizedClientException",
            Some("The security token included in the request is invalid.".into()),
            Form::Envelope,
        )
    }

    /// `ValidationException` with a message already in Kinesis' form.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "ValidationException", Some(message.into()), Form::Envelope)
    }

    /// 403 XML `AccessDeniedException` (non-POST, or no usable content type nor target).
    pub fn access_denied_xml() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            Some("Unable to determine service/operation name to be authorized".into()),
            Form::Xml,
        )
    }

    /// 404 XML `UnknownOperationException` (unsupported content type).
    pub fn unknown_operation_xml() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "UnknownOperationException", None, Form::XmlEmpty)
    }

    /// 413: the body is over the configured limit.
    pub fn too_large() -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", None, Form::NoBody)
    }

    /// 408 `RequestTimeoutException`: the request body did not arrive within the body-read
    /// timeout (S3's wording; Kinesis documents no error for it). SDKs retry 408.
    pub fn request_timeout() -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutException",
            Some(
                "Your socket connection to the server was not read from or written to within the timeout period."
                    .into(),
            ),
            Form::Envelope,
        )
    }

    /// 503 `ServiceUnavailable`: request bodies being read already hold the server's memory
    /// budget for them. SDKs retry 503 with backoff.
    pub fn service_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            Some("The server is busy reading other requests; retry later.".into()),
            Form::Envelope,
        )
    }

    /// `InternalFailure` (HTTP 500, no message).
    pub fn internal() -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", None, Form::Envelope)
    }

    /// The wire error of an engine error (storage failures are logged here, with their
    /// detail, and answered without it).
    pub fn from_engine(e: &shardlog::Error) -> ApiError {
        let code = e.kinesis_error_code();
        if !e.is_client_error() {
            tracing::error!(error = %e, "storage failure");
            return ApiError::internal();
        }
        ApiError::new(StatusCode::BAD_REQUEST, code, Some(e.to_string()), Form::Envelope)
    }

    /// The body and its content type (`None`: no `Content-Type`).
    pub fn body(&self, codec: Codec) -> (Vec<u8>, Option<&'static str>) {
        match self.form {
            Form::Envelope | Form::CapitalMessage => {
                let key = if self.form == Form::CapitalMessage { "Message" } else { "message" };
                let mut members = vec![("__type", Out::Static(self.code))];
                if let Some(m) = &self.message {
                    members.push((key, Out::Str(m.clone())));
                }
                let ct = match codec {
                    Codec::Json => wire::AMZ_JSON,
                    Codec::Cbor => wire::AMZ_CBOR,
                };
                (wire::encode(codec, &Out::Map(members)), Some(ct))
            }
            Form::Xml => {
                let msg = self.message.as_deref().unwrap_or("");
                let t = self.code;
                (format!("<{t}>\n  <Message>{msg}</Message>\n</{t}>\n").into_bytes(), None)
            }
            Form::XmlEmpty => (format!("<{}/>\n", self.code).into_bytes(), None),
            Form::NoBody => (Vec::new(), None),
            Form::CoralOutput => {
                let body =
                    format!(r#"{{"Output":{{"__type":"com.amazon.coral.service#{}"}},"Version":"1.0"}}"#, self.code);
                (body.into_bytes(), Some(wire::PLAIN_JSON))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_keep_their_kinesis_names() {
        let e =
            shardlog::Error::ResourceNotFound { message: "Stream foo under account 123456789012 not found.".into() };
        let api = ApiError::from_engine(&e);
        assert_eq!(api.status, StatusCode::BAD_REQUEST);
        let (body, ct) = api.body(Codec::Json);
        assert_eq!(ct, Some(wire::AMZ_JSON));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"__type":"ResourceNotFoundException","message":"Stream foo under account 123456789012 not found."}"#
        );
    }

    #[test]
    fn storage_failures_are_500_without_detail() {
        let e = shardlog::Error::Poisoned { path: "/x".into(), cause: "fdatasync".into() };
        let api = ApiError::from_engine(&e);
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(String::from_utf8(api.body(Codec::Json).0).unwrap(), r#"{"__type":"InternalFailure"}"#);
    }

    #[test]
    fn plain_json_gets_the_coral_envelope() {
        let (body, ct) = ApiError::coral_unknown_operation().body(Codec::Json);
        assert_eq!(ct, Some("application/json"));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}"#
        );
        assert_eq!(ApiError::coral_unknown_operation().status, StatusCode::NOT_FOUND);
        assert_eq!(ApiError::coral_serialization().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn serialization_uses_capital_message() {
        let (body, _) = ApiError::serialization("bad").body(Codec::Json);
        assert_eq!(String::from_utf8(body).unwrap(), r#"{"__type":"SerializationException","Message":"bad"}"#);
    }
}
