//! Gradio's two-step HTTP call, as Gradio's docs show it with curl, over
//! the same `Engine::stream`:
//!
//! ```text
//! POST /gradio_api/call/{api_name}  {"data": [input, ...]}  → {"event_id": "…"}
//! GET  /gradio_api/call/{api_name}/{event_id}               → SSE: generating…, then complete or error
//! ```
//!
//! `api_name` is the endpoint (`similarity`) when one model is served, else
//! `{model}_{endpoint}`. Inputs are positional, in the signature's order;
//! outputs come back as a list in the same way. The prediction starts at the
//! POST; its stream waits for the GET at most `UNCLAIMED`, then is dropped
//! (which cancels it). Inputs the signature refuses end in an `error`
//! event with Wick's message, as Gradio reports them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use wick_engine::{ClientId, Engine, JsonObject, PredictionStream, Update};
use wick_types::{Endpoint, ErrorCode, ModelInfo};

use crate::api_error::{ApiError, typed_body};

/// How long a started prediction waits for its GET.
const UNCLAIMED: Duration = Duration::from_secs(300);
/// Started predictions waiting for their GET, at most.
const MAX_WAITING: usize = 1024;

#[derive(Clone)]
struct Calls {
    engine: Arc<Engine>,
    waiting: Arc<Mutex<HashMap<String, Waiting>>>,
}

struct Waiting {
    api_name: String,
    /// The endpoint's output names, in order: the answer's positions.
    outputs: Vec<String>,
    /// The prediction, or why it was refused: as Gradio does, a refusal
    /// of the inputs is told in the events, not by the POST.
    stream: Result<PredictionStream, String>,
    since: Instant,
}

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/gradio_api/call/{api_name}", post(start))
        .route("/gradio_api/call/{api_name}/{event_id}", get(events))
        .with_state(Calls {
            engine,
            waiting: Arc::default(),
        })
}

/// The model and endpoint an api_name means.
fn find(engine: &Engine, api_name: &str) -> Option<(ModelInfo, Endpoint)> {
    let api_name = api_name.trim_start_matches('/');
    let models = engine.models();
    if let [only] = &models[..] {
        return only
            .endpoint(api_name)
            .cloned()
            .map(|endpoint| (only.clone(), endpoint));
    }
    models.into_iter().find_map(|model| {
        let endpoint = api_name
            .strip_prefix(model.name.as_str())?
            .strip_prefix('_')
            .and_then(|name| model.endpoint(name))
            .cloned()?;
        Some((model, endpoint))
    })
}

#[derive(Deserialize)]
struct CallBody {
    data: Vec<Value>,
}

async fn start(
    State(calls): State<Calls>,
    Path(api_name): Path<String>,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let (model, endpoint) = find(&calls.engine, &api_name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no api_name `{api_name}`; see /api/models for the endpoints"
        ))
    })?;
    let body: CallBody = typed_body(&headers, body)?;
    if body.data.len() > endpoint.inputs.len() {
        return Err(ApiError::invalid_input(
            "data",
            format!(
                "`{api_name}` takes {} inputs ({}), not {}",
                endpoint.inputs.len(),
                names(&endpoint),
                body.data.len()
            ),
        ));
    }
    let inputs: JsonObject = endpoint
        .inputs
        .iter()
        .zip(body.data)
        .filter(|(_, value)| !value.is_null())
        .map(|(field, value)| (field.name.clone(), value))
        .collect();
    let route = crate::api::route(None, None, &headers, client);
    let stream = calls
        .engine
        .stream(&model.name, &route, &endpoint.name, vec![inputs])
        .await
        .map_err(|error| error.to_string());
    let event_id = uuid::Uuid::now_v7().simple().to_string();
    let mut waiting = calls.waiting.lock().unwrap_or_else(|e| e.into_inner());
    waiting.retain(|_, w| w.since.elapsed() < UNCLAIMED);
    if waiting.len() >= MAX_WAITING {
        return Err(ApiError::new(
            ErrorCode::Overloaded,
            "too many calls wait for their results; fetch them first",
        ));
    }
    waiting.insert(
        event_id.clone(),
        Waiting {
            api_name: api_name.trim_start_matches('/').to_string(),
            outputs: endpoint.outputs.iter().map(|f| f.name.clone()).collect(),
            stream,
            since: Instant::now(),
        },
    );
    Ok(Json(json!({"event_id": event_id})))
}

fn names(endpoint: &Endpoint) -> String {
    let names: Vec<&str> = endpoint.inputs.iter().map(|f| f.name.as_str()).collect();
    names.join(", ")
}

async fn events(
    State(calls): State<Calls>,
    Path((api_name, event_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let taken = {
        let mut waiting = calls.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting
            .remove(&event_id)
            .filter(|w| w.api_name == api_name.trim_start_matches('/'))
    };
    let Some(waiting) = taken else {
        return Err(ApiError::not_found(format!(
            "no call {event_id} of `{api_name}` is waiting (each result is read once)"
        )));
    };
    let output_names = waiting.outputs;
    let events = futures_util::stream::unfold(Some(waiting.stream), move |stream| {
        let output_names = output_names.clone();
        async move {
            let mut stream = match stream? {
                Ok(stream) => stream,
                Err(message) => {
                    let refused = sse("error", &Value::String(message));
                    return Some((Ok::<_, std::convert::Infallible>(refused), None));
                }
            };
            let positional = |outputs: &wick_types::Values| -> Value {
                output_names
                    .iter()
                    .map(|name| {
                        outputs
                            .get(name)
                            .and_then(|v| serde_json::to_value(v).ok())
                            .unwrap_or(Value::Null)
                    })
                    .collect()
            };
            let (event, rest) = match stream.next().await? {
                Ok(Update::Partial { outputs, .. }) => {
                    (sse("generating", &positional(&outputs)), Some(Ok(stream)))
                }
                Ok(Update::Finished(prediction)) => {
                    let outputs = prediction.outputs.into_iter().next().unwrap_or_default();
                    (sse("complete", &positional(&outputs)), None)
                }
                Err(error) => (sse("error", &Value::String(error.to_string())), None),
            };
            Some((Ok::<_, std::convert::Infallible>(event), rest))
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default().event(Event::default().event("heartbeat").data("null")))
        .into_response())
}

fn sse(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}
