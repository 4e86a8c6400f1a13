//! The JSON API: list models, describe one, predict, and the health probes.
//! Each handler turns HTTP into one `Engine` call and back.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use wick_engine::{Engine, JsonObject};
use wick_types::{ModelInfo, ModelList, OneOrMany, PredictResponse};

use crate::api_error::{ApiError, json_object};

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/api/models", get(list_models))
        .route("/api/models/{model}", get(describe_model))
        .route("/api/models/{model}/{endpoint}", post(predict))
        .route("/openapi.json", get(crate::openapi::document))
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/{*rest}", get(no_such_route).post(no_such_route))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(engine)
}

async fn list_models(State(engine): State<Arc<Engine>>) -> Json<ModelList> {
    Json(ModelList {
        models: engine.models().cloned().collect(),
    })
}

async fn describe_model(
    State(engine): State<Arc<Engine>>,
    Path(model): Path<String>,
) -> Result<Json<ModelInfo>, ApiError> {
    engine
        .model(&model)
        .cloned()
        .map(Json)
        .ok_or_else(|| wick_engine::Error::UnknownModel(model).into())
}

/// `{"inputs": {...}}` or `{"inputs": [{...}, ...]}`, and optionally
/// `"version"` to pin the model version.
async fn predict(
    State(engine): State<Arc<Engine>>,
    Path((model, endpoint)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PredictResponse>, ApiError> {
    let body = body.map_err(ApiError::from_body)?;
    let request = parse_predict_body(&body)?;
    let prediction = engine
        .predict(
            &model,
            request.version.as_deref(),
            &endpoint,
            request.inputs,
        )
        .await?;
    let outputs = match request.many {
        true => OneOrMany::Many(prediction.outputs),
        false => OneOrMany::One(prediction.outputs.into_iter().next().unwrap_or_default()),
    };
    Ok(Json(PredictResponse {
        outputs,
        model: prediction.model,
        version: prediction.version,
        duration_ms: prediction.duration.as_secs_f64() * 1000.0,
    }))
}

struct PredictBody {
    inputs: Vec<JsonObject>,
    many: bool,
    version: Option<String>,
}

/// Malformed JSON is a 400; JSON of the wrong shape a 422 naming the field.
fn parse_predict_body(body: &[u8]) -> Result<PredictBody, ApiError> {
    let mut object = json_object(
        body,
        "inputs",
        "the body must be a JSON object with `inputs`",
    )?;
    let version = match object.remove("version") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(version)) => Some(version),
        Some(_) => {
            return Err(ApiError::invalid_input(
                "version",
                "`version` must be a string",
            ));
        }
    };
    if let Some(extra) = object.keys().find(|key| *key != "inputs") {
        return Err(ApiError::invalid_input(
            extra,
            format!("unknown field `{extra}`; the body takes `inputs` and `version`"),
        ));
    }
    let not_objects = || {
        ApiError::invalid_input(
            "inputs",
            "`inputs` must be an object of named inputs, or a list of such objects",
        )
    };
    match object.remove("inputs") {
        None | Some(serde_json::Value::Null) => {
            Err(ApiError::invalid_input("inputs", "`inputs` is required"))
        }
        Some(serde_json::Value::Object(inputs)) => Ok(PredictBody {
            inputs: vec![inputs],
            many: false,
            version,
        }),
        Some(serde_json::Value::Array(items)) => {
            let inputs = items
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::Object(inputs) => Ok(inputs),
                    _ => Err(not_objects()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(PredictBody {
                inputs,
                many: true,
                version,
            })
        }
        Some(_) => Err(not_objects()),
    }
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready once every bundle is loaded, which happens before the port opens.
async fn ready(State(engine): State<Arc<Engine>>) -> Json<serde_json::Value> {
    let models: Vec<String> = engine
        .models()
        .map(|m| format!("{}@{}", m.name, m.version))
        .collect();
    Json(json!({"status": "ready", "models": models}))
}

/// Prometheus scrape target.
async fn metrics(State(engine): State<Arc<Engine>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        engine.metrics_text(),
    )
}

async fn no_such_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no API route {}; see GET /api/models", uri.path()))
}

async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take this method", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predict_bodies_are_parsed_or_refused_with_the_right_status() {
        let one = parse_predict_body(br#"{"inputs": {"text": "hi"}}"#).unwrap();
        assert!(!one.many && one.inputs.len() == 1);
        let many =
            parse_predict_body(br#"{"inputs": [{"text": "a"}, {"text": "b"}], "version": "1"}"#)
                .unwrap();
        assert!(many.many && many.inputs.len() == 2 && many.version.as_deref() == Some("1"));

        let status = |body: &[u8]| parse_predict_body(body).err().map(|e| (e.status, e.field));
        assert_eq!(status(b"{not json").unwrap().0, StatusCode::BAD_REQUEST);
        for (body, field) in [
            (&br#"{}"#[..], "inputs"),
            (br#"[1]"#, "inputs"),
            (br#"{"inputs": "text"}"#, "inputs"),
            (br#"{"inputs": [1]}"#, "inputs"),
            (br#"{"inputs": {}, "extra": 1}"#, "extra"),
            (br#"{"inputs": {}, "version": 2}"#, "version"),
        ] {
            let (code, named) = status(body).unwrap();
            assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(named.as_deref(), Some(field));
        }
    }
}
