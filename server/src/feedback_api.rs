//! `POST /api/models/{model}/feedback`: flag a prediction. The answer (201
//! with the row id) comes only after the row is committed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use wick_engine::Engine;
use wick_feedback::Store;
use wick_types::{FlagRequest, FlagResponse};

use crate::api_error::{ApiError, json_object};

#[derive(Clone)]
struct Feedback {
    engine: Arc<Engine>,
    store: Arc<Store>,
}

pub fn router(engine: Arc<Engine>, store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/models/{model}/feedback", post(flag))
        .with_state(Feedback { engine, store })
}

async fn flag(
    State(feedback): State<Feedback>,
    Path(model): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<FlagResponse>), ApiError> {
    let body = body.map_err(ApiError::from_body)?;
    let info = feedback
        .engine
        .model(&model)
        .ok_or(wick_engine::Error::UnknownModel(model))?;
    let request = parse_flag_body(&body)?;
    let stored = feedback.store.record(info, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(FlagResponse {
            id: stored.id,
            created_at: stored.created_at,
        }),
    ))
}

const REQUIRED: [&str; 4] = ["endpoint", "inputs", "outputs", "option"];

/// Checks the JSON shape field by field, so a 422 names the field at fault.
fn parse_flag_body(body: &[u8]) -> Result<FlagRequest, ApiError> {
    let object = json_object(
        body,
        "body",
        "the body must be a JSON object with endpoint, inputs, outputs and option",
    )?;
    for (key, value) in &object {
        let (expected, fits) = match key.as_str() {
            "endpoint" | "option" => ("a string", value.is_string()),
            "comment" | "version" => ("a string", value.is_string() || value.is_null()),
            "inputs" | "outputs" => ("an object", value.is_object()),
            "duration_ms" => ("a number", value.is_number() || value.is_null()),
            _ => {
                return Err(ApiError::invalid_input(
                    key,
                    format!(
                        "unknown field `{key}`; a flag takes endpoint, inputs, outputs, option, \
                         comment, duration_ms and version"
                    ),
                ));
            }
        };
        if !fits {
            return Err(ApiError::invalid_input(
                key,
                format!("`{key}` must be {expected}"),
            ));
        }
    }
    if let Some(missing) = REQUIRED.iter().find(|key| !object.contains_key(**key)) {
        return Err(ApiError::invalid_input(
            missing,
            format!("`{missing}` is required"),
        ));
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| ApiError::invalid_input("body", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_bodies_are_parsed_or_refused_naming_the_field() {
        let good = br#"{"endpoint": "embed", "inputs": {"text": "a"}, "outputs": {},
                        "option": "Other", "comment": null, "duration_ms": 3.5}"#;
        let request = parse_flag_body(good).unwrap();
        assert_eq!(request.option, "Other");
        assert_eq!(request.duration_ms, Some(3.5));

        assert_eq!(
            parse_flag_body(b"{oops").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        for (body, field) in [
            (&br#"[]"#[..], "body"),
            (
                br#"{"inputs": {}, "outputs": {}, "option": "x"}"#,
                "endpoint",
            ),
            (
                br#"{"endpoint": 1, "inputs": {}, "outputs": {}, "option": "x"}"#,
                "endpoint",
            ),
            (
                br#"{"endpoint": "e", "inputs": [], "outputs": {}, "option": "x"}"#,
                "inputs",
            ),
            (
                br#"{"endpoint": "e", "inputs": {}, "outputs": {}, "option": "x", "comment": 5}"#,
                "comment",
            ),
            (
                br#"{"endpoint": "e", "inputs": {}, "outputs": {}, "option": "x", "flag": "y"}"#,
                "flag",
            ),
        ] {
            let error = parse_flag_body(body).unwrap_err();
            assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(error.field.as_deref(), Some(field));
        }
    }
}
