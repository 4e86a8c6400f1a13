//! The stable, machine-readable names of every failure Wick reports. The
//! engine, the feedback store and the server name failures with these
//! codes; only the server turns a code into an HTTP status, in one place.
//! On the wire a code is its snake_case name (`error.code` of the API).

use serde::{Deserialize, Serialize};

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No model of that name is loaded.
    ModelNotFound,
    /// The model has no such version loaded.
    VersionNotFound,
    /// The model has no such endpoint.
    EndpointNotFound,
    /// No such route.
    NotFound,
    /// The demo needs a sign-in (`--auth`) and the request has none.
    Unauthorized,
    /// Refused for who is asking (another site's page).
    Forbidden,
    /// The route does not take this method.
    MethodNotAllowed,
    /// The body is not JSON.
    MalformedJson,
    /// The request could not be read as sent.
    BadRequest,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The body is not of a media type the route takes (JSON).
    UnsupportedMediaType,
    /// Inputs (or a flag) that do not fit the signature.
    InvalidInput,
    /// The model's queue is full.
    Overloaded,
    /// The request did not finish within its deadline.
    Timeout,
    /// The model is not serving (its worker stopped).
    Unavailable,
    /// The feedback store failed; nothing was saved.
    FeedbackUnavailable,
    /// The model failed on the request.
    InferenceFailed,
    /// The caller went away before the answer (counted, never sent).
    Cancelled,
    /// A rollout change that the current state refuses (an incompatible
    /// signature, unloading the last serving version).
    Conflict,
    /// Anything else: a bug or a broken installation.
    Internal,
}

impl ErrorCode {
    /// The code's name on the wire (`model_not_found`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ModelNotFound => "model_not_found",
            ErrorCode::VersionNotFound => "version_not_found",
            ErrorCode::EndpointNotFound => "endpoint_not_found",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::FeedbackUnavailable => "feedback_unavailable",
            ErrorCode::InferenceFailed => "inference_failed",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_names() {
        for code in [
            ErrorCode::ModelNotFound,
            ErrorCode::InvalidInput,
            ErrorCode::FeedbackUnavailable,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
        }
    }
}
