//! The OpenAI-compatible API for text-generation models: `GET /v1/models`,
//! `POST /v1/chat/completions` and `POST /v1/completions`, streamed
//! (`"stream": true`: `data:` chunks, then `data: [DONE]`) or not. Every
//! request becomes one call of the model's `chat` or `complete` endpoint
//! through `Engine::stream`, the path the UI and the JSON API take; only
//! the shapes differ. Errors use OpenAI's body
//! (`{"error": {"message", "type", "param", "code"}}`) with Wick's status.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use wick_engine::{ClientId, Engine, JsonObject, PredictionStream, Route, Update};
use wick_types::Values;
use wick_types::generation::{
    CHAT, COMPLETE, FINISH_REASON, MAX_NEW_TOKENS, MESSAGES, PROMPT, REPETITION_PENALTY, SEED,
    STOP, TEMPERATURE, TEXT, TOP_K, TOP_P, USAGE,
};

use crate::api_error::{ApiError, typed_body};
use crate::seam::with_version;

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .with_state(engine)
}

/// The parameters both requests share. Fields OpenAI has that change
/// nothing Wick answers (`user`, `store`, `metadata`, ...) are accepted and
/// ignored, as clients send them by default; those that would change the
/// answer and Wick cannot honour are refused (`Unsupported`).
#[derive(Deserialize)]
struct Common {
    model: String,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    /// Not OpenAI's, but llama.cpp's and vLLM's.
    top_k: Option<u64>,
    repetition_penalty: Option<f64>,
    seed: Option<u64>,
    stop: Option<Stop>,
    n: Option<u64>,
    /// OpenAI's parameters Wick cannot honour (`unsupported`).
    #[serde(flatten)]
    unsupported: Unsupported,
}

/// Parameters that change what OpenAI answers and Wick cannot do: asking
/// for one is refused (422 naming it) rather than silently ignored. Their
/// "off" values (null, false, 0, an empty list or object, "none", a text
/// response format) are accepted, as clients send them by default.
#[derive(Deserialize, Default)]
struct Unsupported {
    logprobs: Option<Value>,
    top_logprobs: Option<Value>,
    tools: Option<Value>,
    tool_choice: Option<Value>,
    functions: Option<Value>,
    function_call: Option<Value>,
    response_format: Option<Value>,
    logit_bias: Option<Value>,
    echo: Option<Value>,
    best_of: Option<Value>,
    suffix: Option<Value>,
    presence_penalty: Option<Value>,
    frequency_penalty: Option<Value>,
}

impl Unsupported {
    /// The first parameter asked for, by name.
    fn asked(&self) -> Option<&'static str> {
        let off = |value: &Option<Value>| match value {
            None | Some(Value::Null) => true,
            Some(Value::Bool(on)) => !on,
            Some(Value::Number(n)) => n.as_f64() == Some(0.0),
            Some(Value::String(text)) => text.is_empty() || text == "none",
            Some(Value::Array(items)) => items.is_empty(),
            Some(Value::Object(object)) => {
                object.is_empty() || object.get("type").is_some_and(|t| t == "text")
            }
        };
        let best_of_one = self.best_of.as_ref().and_then(Value::as_f64) == Some(1.0);
        [
            ("logprobs", &self.logprobs),
            ("top_logprobs", &self.top_logprobs),
            ("tools", &self.tools),
            ("tool_choice", &self.tool_choice),
            ("functions", &self.functions),
            ("function_call", &self.function_call),
            ("response_format", &self.response_format),
            ("logit_bias", &self.logit_bias),
            ("echo", &self.echo),
            ("suffix", &self.suffix),
            ("presence_penalty", &self.presence_penalty),
            ("frequency_penalty", &self.frequency_penalty),
        ]
        .into_iter()
        .find(|(_, value)| !off(value))
        .map(|(name, _)| name)
        .or((!best_of_one && !off(&self.best_of)).then_some("best_of"))
    }
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct ChatRequest {
    messages: Value,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct CompletionRequest {
    prompt: Value,
    #[serde(flatten)]
    common: Common,
}

/// Which OpenAI objects the answer is made of.
#[derive(Clone, Copy)]
enum Shape {
    Chat,
    Completion,
}

impl Shape {
    fn endpoint(self) -> &'static str {
        match self {
            Shape::Chat => CHAT,
            Shape::Completion => COMPLETE,
        }
    }

    fn object(self, chunk: bool) -> &'static str {
        match (self, chunk) {
            (Shape::Chat, false) => "chat.completion",
            (Shape::Chat, true) => "chat.completion.chunk",
            (Shape::Completion, _) => "text_completion",
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            Shape::Chat => "chatcmpl-",
            Shape::Completion => "cmpl-",
        }
    }

    /// A choice carrying `text`: the whole answer, or one chunk of it.
    fn choice(self, text: &str, finish_reason: Option<&str>, chunk: bool) -> Value {
        match (self, chunk) {
            (Shape::Chat, false) => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                "logprobs": null,
            }),
            (Shape::Chat, true) => {
                let delta = if finish_reason.is_some() {
                    json!({})
                } else {
                    json!({"content": text})
                };
                json!({"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": null})
            }
            (Shape::Completion, _) => json!({
                "index": 0,
                "text": text,
                "finish_reason": finish_reason,
                "logprobs": null,
            }),
        }
    }
}

/// An error in OpenAI's shape, with the status Wick gives its code.
pub(crate) struct OpenAiError(ApiError);

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        OpenAiError(error)
    }
}

impl From<wick_engine::Error> for OpenAiError {
    fn from(error: wick_engine::Error) -> Self {
        OpenAiError(ApiError::from(error))
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let kind = if error.status.is_client_error() {
            "invalid_request_error"
        } else {
            "server_error"
        };
        let body = json!({"error": {
            "message": error.message,
            "type": kind,
            "param": error.field.as_deref().map(openai_param),
            "code": error.code.as_str(),
        }});
        (error.status, Json(body)).into_response()
    }
}

/// Wick's input names as the OpenAI parameters a client sent.
fn openai_param(field: &str) -> String {
    match field {
        MAX_NEW_TOKENS => "max_tokens".into(),
        other => other.into(),
    }
}

async fn models(State(engine): State<Arc<Engine>>) -> Json<Value> {
    let data: Vec<Value> = engine
        .models()
        .into_iter()
        .filter(|info| {
            info.endpoints
                .iter()
                .any(|e| e.name == CHAT || e.name == COMPLETE)
        })
        .map(|info| json!({"id": info.name, "object": "model", "created": 0, "owned_by": "wick"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

async fn chat_completions(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let request: ChatRequest = typed_body(&headers, body)?;
    let mut inputs = inputs(&request.common)?;
    inputs.insert(MESSAGES.into(), request.messages);
    let route = crate::seam::route(None, None, &headers, client);
    answer(engine, Shape::Chat, request.common, route, inputs).await
}

async fn completions(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let request: CompletionRequest = typed_body(&headers, body)?;
    let prompt = match request.prompt {
        Value::String(prompt) => prompt,
        Value::Array(items) if items.len() == 1 && items[0].is_string() => {
            items[0].as_str().unwrap_or_default().to_string()
        }
        _ => return Err(ApiError::invalid_input(PROMPT, "`prompt` must be a string").into()),
    };
    let mut inputs = inputs(&request.common)?;
    inputs.insert(PROMPT.into(), Value::String(prompt));
    let route = crate::seam::route(None, None, &headers, client);
    answer(engine, Shape::Completion, request.common, route, inputs).await
}

/// The endpoint's inputs from OpenAI's parameters.
fn inputs(common: &Common) -> Result<JsonObject, ApiError> {
    if let Some(name) = common.unsupported.asked() {
        return Err(ApiError::invalid_input(
            name,
            format!("Wick does not support `{name}`; leave it out (or null) to generate text"),
        ));
    }
    if common.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid_input(
            "n",
            "Wick generates one choice per request (`n` = 1)",
        ));
    }
    let mut inputs = JsonObject::new();
    if let Some(max) = common.max_completion_tokens.or(common.max_tokens) {
        inputs.insert(MAX_NEW_TOKENS.into(), json!(max));
    }
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            inputs.insert(name.into(), value);
        }
    };
    put(TEMPERATURE, common.temperature.map(|v| json!(v)));
    put(TOP_P, common.top_p.map(|v| json!(v)));
    put(TOP_K, common.top_k.map(|v| json!(v)));
    put(
        REPETITION_PENALTY,
        common.repetition_penalty.map(|v| json!(v)),
    );
    put(SEED, common.seed.map(|v| json!(v)));
    put(
        STOP,
        common.stop.as_ref().map(|stop| match stop {
            Stop::One(one) => json!([one]),
            Stop::Many(many) => json!(many),
        }),
    );
    Ok(inputs)
}

async fn answer(
    engine: Arc<Engine>,
    shape: Shape,
    common: Common,
    mut route: Route,
    inputs: JsonObject,
) -> Result<Response, OpenAiError> {
    let model = common.model;
    // `"model": "smollm2@1.1.0"` pins a version, as the JSON API's path does.
    let (name, pinned) = crate::seam::split_pin(&model);
    if let Some(version) = pinned {
        route.version = Some(version.to_string());
    }
    let name = name.to_string();
    let id = format!("{}{}", shape.id_prefix(), uuid::Uuid::now_v7().simple());
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if common.stream {
        let stream = engine
            .stream(&name, &route, shape.endpoint(), vec![inputs])
            .await?;
        let version = stream.version().to_string();
        let reply = Reply {
            shape,
            id,
            created,
            model,
        };
        let include_usage = common.stream_options.is_some_and(|o| o.include_usage);
        let response = Sse::new(chunks(stream, reply, include_usage))
            .keep_alive(KeepAlive::default())
            .into_response();
        return Ok(with_version(response, &version));
    }
    let prediction = engine
        .predict(&name, &route, shape.endpoint(), vec![inputs])
        .await?;
    let version = prediction.version.clone();
    let outputs = prediction.outputs.into_iter().next().unwrap_or_default();
    let choice = shape.choice(
        text(&outputs, TEXT),
        Some(text(&outputs, FINISH_REASON)),
        false,
    );
    let reply = Reply {
        shape,
        id,
        created,
        model,
    };
    let mut body = reply.object(false, vec![choice]);
    body["usage"] = json_of(&outputs, USAGE);
    Ok(with_version(
        (StatusCode::OK, Json(body)).into_response(),
        &version,
    ))
}

fn text<'a>(outputs: &'a Values, name: &str) -> &'a str {
    outputs
        .get(name)
        .and_then(wick_types::Value::as_text)
        .unwrap_or_default()
}

fn json_of(outputs: &Values, name: &str) -> Value {
    match outputs.get(name) {
        Some(wick_types::Value::Json(value)) => value.clone(),
        _ => Value::Null,
    }
}

/// What every object of one answer repeats.
struct Reply {
    shape: Shape,
    id: String,
    created: u64,
    model: String,
}

impl Reply {
    fn object(&self, chunk: bool, choices: Vec<Value>) -> Value {
        json!({
            "id": self.id,
            "object": self.shape.object(chunk),
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": choices,
        })
    }

    fn chunk(&self, text: &str, finish_reason: Option<&str>) -> Event {
        data(&self.object(true, vec![self.shape.choice(text, finish_reason, true)]))
    }
}

fn data(value: &Value) -> Event {
    Event::default().data(value.to_string())
}

/// OpenAI's stream: for chat, a first chunk with the role; a chunk per
/// piece of text; one with the finish reason; with `include_usage` one
/// with the usage and no choices; then `[DONE]`. An error midway ends the
/// stream with an error object (as OpenAI does). Dropping the stream
/// (the client left) cancels the generation.
fn chunks(
    stream: PredictionStream,
    reply: Reply,
    include_usage: bool,
) -> impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>> {
    let role = matches!(reply.shape, Shape::Chat).then(|| {
        let mut first = reply.object(
            true,
            vec![json!({
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "finish_reason": null,
                "logprobs": null,
            })],
        );
        first["usage"] = Value::Null;
        data(&first)
    });
    let body = stream.updates().flat_map(move |update| {
        let events = match update {
            Ok(Update::Partial { outputs, .. }) => vec![reply.chunk(text(&outputs, TEXT), None)],
            Ok(Update::Finished(prediction)) => {
                let outputs = prediction.outputs.into_iter().next().unwrap_or_default();
                let mut events = vec![reply.chunk("", Some(text(&outputs, FINISH_REASON)))];
                if include_usage {
                    let mut usage = reply.object(true, Vec::new());
                    usage["usage"] = json_of(&outputs, USAGE);
                    events.push(data(&usage));
                }
                events
            }
            Err(error) => {
                let error = ApiError::from(error);
                vec![data(&json!({"error": {
                    "message": error.message,
                    "type": "server_error",
                    "param": null,
                    "code": error.code.as_str(),
                }}))]
            }
        };
        futures_util::stream::iter(events)
    });
    let done = Event::default().data("[DONE]");
    futures_util::stream::iter(role)
        .chain(body)
        .chain(futures_util::stream::once(async { done }))
        .map(Ok)
}
