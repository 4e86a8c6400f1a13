//! Gradio's two-step HTTP call, as Gradio's docs show it with curl:
//!
//! ```text
//! POST /gradio_api/call/{api_name}     {"data": [input, ...]}  → {"event_id": "…"}
//! POST /gradio_api/call/v2/{api_name}  {"name": input, ...}    → {"event_id": "…"}
//! GET  /gradio_api/call/{api_name}/{event_id}                  → SSE: generating…, then complete or error
//! ```
//!
//! The run starts at the GET, once its caller listens (a POST whose GET
//! never comes costs no work); the POST waits for its GET at most
//! `UNCLAIMED`, and one client (address) has at most `PER_CLIENT` waiting.
//! `generating` events carry the outputs so far, whole, as Gradio's do;
//! an `error` event carries `{"error": message}` with Wick's message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use wick_types::ErrorCode;

use super::{Caller, Gradio, Pending, Step, by_name};
use crate::api_error::{ApiError, typed_body};

/// How long a started run waits for its GET.
const UNCLAIMED: Duration = Duration::from_secs(300);
/// Calls waiting for their GET, at most, and at most from one client.
const MAX_WAITING: usize = 1024;
const PER_CLIENT: usize = 64;

/// Runs started by a POST, waiting for their GET.
#[derive(Default)]
pub struct Calls {
    waiting: Mutex<HashMap<String, Waiting>>,
}

struct Waiting {
    api_name: String,
    /// The run to start; as Gradio does, a refusal of its inputs is told
    /// in the events, not by the POST.
    pending: Pending,
    since: Instant,
}

#[derive(Deserialize)]
struct CallBody {
    data: Vec<Value>,
}

/// `POST /gradio_api/call/{api_name}`: positional inputs.
pub async fn start(
    State(gradio): State<Gradio>,
    Path(api_name): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let api = by_name(&gradio.engine, &api_name)?;
    let body: CallBody = typed_body(&headers, body)?;
    begin(gradio, api, body.data, caller)
}

/// `POST /gradio_api/call/v2/{api_name}`: inputs by name, as the curl
/// snippet of Gradio's "Use via API" page sends them.
pub async fn start_named(
    State(gradio): State<Gradio>,
    Path(api_name): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let api = by_name(&gradio.engine, &api_name)?;
    let mut named: serde_json::Map<String, Value> = typed_body(&headers, body)?;
    let inputs = &api.endpoint.inputs;
    if let Some(unknown) = named.keys().find(|k| !inputs.iter().any(|f| &f.name == *k)) {
        let names: Vec<&str> = inputs.iter().map(|f| f.name.as_str()).collect();
        return Err(ApiError::invalid_input(
            unknown,
            format!(
                "`/{}` has no input `{unknown}`; its inputs are {}",
                api.api_name,
                names.join(", ")
            ),
        ));
    }
    let data = inputs
        .iter()
        .map(|f| named.remove(&f.name).unwrap_or(Value::Null))
        .collect();
    begin(gradio, api, data, caller)
}

fn begin(
    gradio: Gradio,
    api: super::ApiEndpoint,
    data: Vec<Value>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let pending = caller.pending(api, data);
    let event_id = uuid::Uuid::now_v7().simple().to_string();
    let mut waiting = gradio
        .calls
        .waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    waiting.retain(|_, w| w.since.elapsed() < UNCLAIMED);
    let owner = pending.owner;
    let from_owner = waiting
        .values()
        .filter(|w| w.pending.owner == owner)
        .count();
    if waiting.len() >= MAX_WAITING || from_owner >= PER_CLIENT {
        return Err(ApiError::new(
            ErrorCode::Overloaded,
            "too many calls wait for their results; fetch them first",
        ));
    }
    waiting.insert(
        event_id.clone(),
        Waiting {
            api_name: pending.api.api_name.clone(),
            pending,
            since: Instant::now(),
        },
    );
    Ok(Json(json!({"event_id": event_id})))
}

/// `GET /gradio_api/call/{api_name}/{event_id}`: the run's events, once.
pub async fn events(
    State(gradio): State<Gradio>,
    Path((api_name, event_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let taken = {
        let mut waiting = gradio
            .calls
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        waiting
            .remove(&event_id)
            .filter(|w| w.api_name == api_name.trim_matches('/'))
    };
    let Some(waiting) = taken else {
        return Err(ApiError::not_found(format!(
            "no call {event_id} of `{api_name}` is waiting (each result is read once)"
        )));
    };
    // The caller listens now: the run starts.
    let run = gradio.start(waiting.pending).await;
    let events = futures_util::stream::unfold(Some(run), |run| async move {
        let mut run = match run? {
            Ok(run) => run,
            Err(message) => {
                let refused = sse("error", &json!({"error": message}));
                return Some((Ok(refused), None));
            }
        };
        let (event, rest) = match run.next().await? {
            Step::Generating(outputs) => (sse("generating", &json!(outputs)), Some(Ok(run))),
            Step::Complete(outputs) => (sse("complete", &json!(outputs)), None),
            Step::Error(message) => (sse("error", &json!({"error": message})), None),
        };
        Some((Ok::<_, std::convert::Infallible>(event), rest))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default().event(Event::default().event("heartbeat").data("null")))
        .into_response())
}

fn sse(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}
