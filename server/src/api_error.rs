//! API errors: every failure the API reports is `{"error": {"code",
//! "message"}}` with the status that fits, never an HTML page or a panic.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wick_engine::Error;
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
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        let code = error.code();
        let status = match code {
            "model_not_found" | "version_not_found" | "endpoint_not_found" => StatusCode::NOT_FOUND,
            "invalid_input" => StatusCode::UNPROCESSABLE_ENTITY,
            _ => {
                tracing::error!("{error}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError {
            status,
            code,
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
        (self.status, Json(body)).into_response()
    }
}
