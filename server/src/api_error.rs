//! API errors: every failure the API reports is `{"error": {"code",
//! "message"}}` with the status that fits, never an HTML page or a panic.
//! `status` is the one place a failure's code becomes an HTTP status, for
//! the engine's errors, the feedback store's and the server's own.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Request;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wick_engine::{Error, JsonObject};
use wick_feedback::FlagError;
use wick_types::{ErrorBody, ErrorCode, ErrorDetail};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
}

/// The HTTP status of every failure code.
pub fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::ModelNotFound
        | ErrorCode::VersionNotFound
        | ErrorCode::EndpointNotFound
        | ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MalformedJson | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Overloaded => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Timeout | ErrorCode::Unavailable | ErrorCode::FeedbackUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        // Nginx's "client closed request": logged, never seen by a client.
        ErrorCode::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        ErrorCode::InferenceFailed | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status: status(code),
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid_input(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_string()),
            ..ApiError::new(ErrorCode::InvalidInput, message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// A body axum could not read: too large (413) or otherwise broken.
    pub fn from_body(rejection: BytesRejection) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                "the request body is larger than this server accepts (--max-body-bytes)",
            )
        } else {
            ApiError::new(ErrorCode::BadRequest, rejection.body_text())
        }
    }

    /// An engine's or the feedback store's failure; server-side ones are
    /// logged, since the client cannot act on them.
    /// A server-side failure's message is its first line only: whatever
    /// detail follows (a backtrace, a driver's dump) stays in the log.
    fn failure(code: ErrorCode, error: &dyn std::fmt::Display, field: Option<&str>) -> ApiError {
        let mut api = ApiError {
            field: field.map(String::from),
            ..ApiError::new(code, error.to_string())
        };
        if api.status.is_server_error() {
            tracing::error!("{error}");
            api.message = wick_engine::first_line(&api.message);
        }
        api
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_string(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        }
    }
}

/// What a client gets when handling its request panicked: the API's JSON
/// 500, with nothing of the panic in it (the panic hook logged that).
pub fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::new(
        ErrorCode::Internal,
        "the server failed on this request; its log has the details",
    )
    .into_response()
}

/// A body whose declared `Content-Length` is over the limit is refused
/// before a byte of it is read, so `Expect: 100-continue` gets a 413, not
/// a `100 Continue`.
pub async fn refuse_declared_oversize(max_bytes: usize, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_bytes as u64 => {
            let mut response = ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is {length} bytes; the limit is {max_bytes} (--max-body-bytes)"),
            )
            .into_response();
            // The unread body makes the connection unusable for another
            // request: say so, or a client may reuse it and fail.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        _ => next.run(request).await,
    }
}

/// The UI's server functions (`/_wick/...`) answer a body they cannot read
/// with a 500 in Leptos' own text encoding: here it becomes the API's JSON
/// error, 400 when the arguments could not be read (the client's fault),
/// 500 otherwise. Their typed outcomes (200) pass untouched.
pub async fn server_fn_errors(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/_wick/") {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let client_fault = ["Args", "Deserializ", "deserializ", "Request"]
        .iter()
        .any(|mark| text.contains(mark));
    let code = if client_fault {
        ErrorCode::BadRequest
    } else {
        ErrorCode::Internal
    };
    let message = text
        .split_once('|')
        .map_or(text.as_str(), |(_, m)| m)
        .trim();
    ApiError::new(
        code,
        format!("the server function could not run: {message}"),
    )
    .into_response()
}

/// A route that exists but does not take this method: 405 with the JSON
/// error body (axum's own answer has no body).
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not take {method}", uri.path()),
    )
}

/// Refuses a body not declared `application/json` (415), before it is
/// read. Besides saying what is wrong, this keeps other web sites from
/// making a visitor's browser post here: a form or `text/plain` needs no
/// CORS preflight, a JSON body does.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = declared
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        return Ok(());
    }
    let shown = if declared.is_empty() {
        "none"
    } else {
        declared
    };
    Err(ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!("send the body as Content-Type: application/json (got {shown})"),
    ))
}

/// Parses a body that must be a JSON object: malformed JSON is a 400, any
/// other JSON a 422 naming `field`.
pub fn json_object(body: &[u8], field: &str, shape: &str) -> Result<JsonObject, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
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
        ApiError::failure(error.code(), &error, error.field())
    }
}

impl From<FlagError> for ApiError {
    fn from(error: FlagError) -> ApiError {
        ApiError::failure(error.code(), &error, error.field())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        // For the request's span (`trace`): which failure it was.
        response.extensions_mut().insert(self.code);
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            // Queues drain in well under a second at the default settings.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A JSON body (declared as such, like every body of the API) of the
/// request's shape: malformed JSON is a 400, the wrong shape a 422.
pub fn typed_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    require_json(headers)?;
    serde_json::from_slice(&body.map_err(ApiError::from_body)?).map_err(|e| {
        let code = if e.is_syntax() || e.is_eof() {
            ErrorCode::MalformedJson
        } else {
            ErrorCode::InvalidInput
        };
        ApiError::new(code, format!("the body is not a valid request: {e}"))
    })
}
