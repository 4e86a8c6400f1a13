//! API errors: every failure the API reports is `{"error": {"code",
//! "message"}}` with the status that fits, never an HTML page or a panic.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wick_engine::{Error, JsonObject};
use wick_feedback::FlagError;
use wick_types::{ErrorBody, ErrorDetail};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid_input(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_string()),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A body axum could not read: too large (413) or otherwise broken.
    pub fn from_body(rejection: BytesRejection) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than this server accepts (--max-body-bytes)",
            )
        } else {
            ApiError::new(rejection.status(), "bad_request", rejection.body_text())
        }
    }
}

/// Parses a body that must be a JSON object: malformed JSON is a 400, any
/// other JSON a 422 naming `field`.
pub fn json_object(body: &[u8], field: &str, shape: &str) -> Result<JsonObject, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    match value {
        serde_json::Value::Object(object) => Ok(object),
        _ => Err(ApiError::invalid_input(field, shape)),
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        let status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!("{error}");
        }
        ApiError {
            status,
            code: error.code(),
            field: error.field().map(String::from),
            message: error.to_string(),
        }
    }
}

impl From<FlagError> for ApiError {
    fn from(error: FlagError) -> ApiError {
        let status = match &error {
            FlagError::UnknownVersion { .. } => StatusCode::NOT_FOUND,
            FlagError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            FlagError::Store(_) => {
                tracing::error!("{error}");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        ApiError {
            status,
            code: error.code(),
            field: error.field().map(String::from),
            message: error.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            // Queues drain in well under a second at the default settings.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
