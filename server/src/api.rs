//! The JSON API: list models, describe one, predict, and the health probes.
//! Each handler turns HTTP into one `Engine` call and back.
//!
//! A prediction's body is JSON, or `multipart/form-data` with a part per
//! input (`multipart`). It is answered in one JSON body, or, when the client sends
//! `Accept: text/event-stream`, as server-sent events relaying the
//! engine's stream: `partial` events (`{"index", "outputs"}`) while the
//! task produces them, then one `done` event with the whole response body,
//! or an `error` event with the error body. A client that disconnects
//! cancels the request.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use wick_engine::{ClientId, Engine, Inputs, Prediction, PredictionStream, Update};
use wick_types::{ErrorCode, ModelInfo, ModelList, OneOrMany, PredictResponse};

use crate::api_error::{ApiError, json_object, require_json};
use crate::seam::{model_info, route, split_pin, with_version};

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/api/models", get(list_models))
        .route("/api/models/{model}", get(describe_model))
        .route("/api/models/{model}/{endpoint}", post(predict))
        .route("/api/models/{model}/files/{*path}", get(example_file))
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
        models: engine.models(),
    })
}

/// `/api/models/minilm`, or one version: `/api/models/minilm@1.1.0`.
async fn describe_model(
    State(engine): State<Arc<Engine>>,
    Path(model): Path<String>,
) -> Result<Json<ModelInfo>, ApiError> {
    let (name, pinned) = split_pin(&model);
    model_info(&engine, name, pinned).map(Json)
}

/// `{"inputs": {...}}` or `{"inputs": [{...}, ...]}`, and optionally
/// `"version"` to pin the model version.
async fn predict(
    State(engine): State<Arc<Engine>>,
    Path((model, endpoint)): Path<(String, String)>,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (model, path_pin) = split_pin(&model);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    let request = if crate::multipart::is_multipart(&content_type) {
        let body = body.map_err(ApiError::from_body)?;
        let form = crate::multipart::read(&engine, model, &endpoint, &content_type, body).await?;
        PredictBody {
            inputs: vec![form.inputs],
            many: false,
            version: form.version,
        }
    } else {
        require_json(&headers)?;
        let body = body.map_err(ApiError::from_body)?;
        parse_predict_body(&body)?
    };
    let route = route(path_pin, request.version, &headers, client);
    if !wants_events(&headers) {
        let prediction = engine
            .predict(model, &route, &endpoint, request.inputs)
            .await?;
        let version = prediction.version.clone();
        let timing = crate::trace::server_timing(&prediction.timings);
        let mut response = Json(response_body(prediction, request.many)).into_response();
        if let Some(timing) = timing {
            response.headers_mut().insert("server-timing", timing);
        }
        return Ok(with_version(response, &version));
    }
    let stream = engine
        .stream(model, &route, &endpoint, request.inputs)
        .await?;
    let version = stream.version().to_string();
    let response = Sse::new(events(stream, request.many))
        .keep_alive(KeepAlive::default())
        .into_response();
    Ok(with_version(response, &version))
}

/// Whether the client asked for server-sent events.
fn wants_events(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/event-stream"))
}

fn response_body(prediction: Prediction, many: bool) -> PredictResponse {
    let outputs = match many {
        true => OneOrMany::Many(prediction.outputs),
        false => OneOrMany::One(prediction.outputs.into_iter().next().unwrap_or_default()),
    };
    PredictResponse {
        outputs,
        model: prediction.model,
        version: prediction.version,
        duration_ms: prediction.duration.as_secs_f64() * 1000.0,
    }
}

/// The engine's stream as SSE events; dropping it (the client left)
/// drops the engine's stream, which cancels the request.
fn events(
    stream: PredictionStream,
    many: bool,
) -> impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>> {
    use futures_util::StreamExt;
    stream.updates().map(move |update| {
        Ok(match update {
            Ok(Update::Partial { index, outputs }) => {
                sse("partial", &json!({"index": index, "outputs": outputs}))
            }
            Ok(Update::Finished(prediction)) => sse("done", &response_body(prediction, many)),
            Err(error) => sse("error", &ApiError::from(error).body()),
        })
    })
}

fn sse(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("{}"))
}

struct PredictBody {
    inputs: Vec<Inputs>,
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
            inputs: vec![inputs.into()],
            many: false,
            version,
        }),
        Some(serde_json::Value::Array(items)) => {
            let inputs = items
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::Object(inputs) => Ok(inputs.into()),
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

/// A file an example names (`/api/models/m/files/examples/cat.png`): the
/// UI's thumbnails, and what a click on an example sends. Only files that
/// examples name are served, never the weights.
async fn example_file(
    State(engine): State<Arc<Engine>>,
    Path((model, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let file = engine.example_file(&model, &path).ok_or_else(|| {
        ApiError::not_found(format!("model `{model}` has no example file {path}"))
    })?;
    let bytes = tokio::fs::read(&file.path).await.map_err(|error| {
        tracing::error!("cannot read {}: {error}", file.path.display());
        ApiError::new(
            ErrorCode::Internal,
            format!("the example file {path} cannot be read"),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, file.media_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready once every bundle is loaded, which happens before the port opens;
/// 503 from SIGTERM on, while the process drains.
async fn ready(State(engine): State<Arc<Engine>>) -> Response {
    if engine.is_draining() {
        let body = Json(json!({"status": "draining"}));
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    let models: Vec<String> = engine
        .models()
        .iter()
        .flat_map(|m| m.versions.iter().map(move |v| format!("{}@{v}", m.name)))
        .collect();
    Json(json!({"status": "ready", "models": models})).into_response()
}

/// Prometheus scrape target (OpenMetrics text).
async fn metrics(State(engine): State<Arc<Engine>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, wick_engine::metrics::CONTENT_TYPE)],
        engine.metrics_text(),
    )
}

async fn no_such_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no API route {}; see GET /api/models", uri.path()))
}

async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not take this method", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

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
