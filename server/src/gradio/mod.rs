//! Gradio's client protocol (Gradio 5/6, `protocol: "sse_v3"`), derived
//! from Wick's signatures, so scripts written for a Gradio app —
//! `gradio_client` in Python, `@gradio/client` in JavaScript, the curl
//! recipe of Gradio's docs — work unchanged against Wick:
//!
//! ```text
//! GET  /config                              components and dependencies (`config`)
//! GET  /gradio_api/info                     named endpoints, parameters, returns
//! POST /gradio_api/queue/join               → event_id; the run starts (`queue`)
//! GET  /gradio_api/queue/data?session_hash  SSE of the session's runs
//! POST /gradio_api/cancel                   stops a run (decoding stops)
//! POST /gradio_api/call/{api_name}          the two-step call (`call`)
//! POST /gradio_api/upload                   files for FileData inputs (`files`)
//! GET  /gradio_api/file=<path>              files of FileData outputs
//! ```
//!
//! Every run goes through `Engine::stream`, as the JSON API's do; values
//! are mapped between Gradio's shapes and Wick's in `values`.

mod call;
mod config;
mod files;
mod queue;
mod values;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use wick_engine::{Engine, JsonObject, PredictionStream, Route, Update};
use wick_types::{Endpoint, ErrorCode, ModelInfo, Values};

use crate::api_error::ApiError;
use files::Files;

/// What every Gradio route shares.
#[derive(Clone)]
struct Gradio {
    engine: Arc<Engine>,
    files: Arc<Files>,
    queue: Arc<queue::Queue>,
    calls: Arc<call::Calls>,
}

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/config", get(config))
        .route("/gradio_api/info", get(info))
        .route("/gradio_api/queue/join", post(queue::join))
        .route("/gradio_api/queue/data", get(queue::data))
        .route("/gradio_api/cancel", post(queue::cancel))
        .route("/gradio_api/reset", post(queue::reset))
        .route("/gradio_api/call/{api_name}", post(call::start))
        .route("/gradio_api/call/v2/{api_name}", post(call::start_named))
        .route("/gradio_api/call/{api_name}/{event_id}", get(call::events))
        .route("/gradio_api/upload", post(upload))
        .route("/gradio_api/{*file}", get(file))
        .with_state(Gradio {
            engine,
            files: Arc::default(),
            queue: Arc::default(),
            calls: Arc::default(),
        })
}

/// One endpoint of one model, as a Gradio dependency.
#[derive(Clone)]
struct ApiEndpoint {
    /// Its place in `/config`'s dependencies (the clients' `fn_index`).
    fn_index: usize,
    /// `similarity` when one model is served, else `minilm_similarity`.
    api_name: String,
    model: ModelInfo,
    endpoint: Endpoint,
}

impl ApiEndpoint {
    /// Whether the endpoint sends partial outputs (a Gradio generator):
    /// the tasks that stream are the generative ones and speech (a
    /// segment per window).
    fn streams(&self) -> bool {
        matches!(
            self.model.task.as_str(),
            "text-generation" | "speech-to-text"
        )
    }
}

/// Every endpoint of every model, in a stable order.
fn endpoints(engine: &Engine) -> Vec<ApiEndpoint> {
    let models = engine.models();
    models
        .iter()
        .flat_map(|model| model.endpoints.iter().map(move |e| (model, e)))
        .enumerate()
        .map(|(fn_index, (model, endpoint))| ApiEndpoint {
            fn_index,
            api_name: model.gradio_api_name(&endpoint.name, models.len()),
            model: model.clone(),
            endpoint: endpoint.clone(),
        })
        .collect()
}

fn by_name(engine: &Engine, api_name: &str) -> Result<ApiEndpoint, ApiError> {
    let api_name = api_name.trim_matches('/');
    endpoints(engine)
        .into_iter()
        .find(|api| api.api_name == api_name)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no api_name `/{api_name}`; GET /gradio_api/info lists them"
            ))
        })
}

/// The server's address as the client reached it: the root of file URLs.
fn root(headers: &HeaderMap) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    let host = header("x-forwarded-host")
        .or_else(|| header(header::HOST.as_str()))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// The largest file any input takes (the config's `max_file_size`).
fn max_file_size(engine: &Engine) -> Option<usize> {
    crate::largest_media_input(engine.models().iter())
}

async fn config(State(gradio): State<Gradio>, headers: HeaderMap) -> axum::Json<Value> {
    let endpoints = endpoints(&gradio.engine);
    let max = max_file_size(&gradio.engine);
    axum::Json(config::config(&endpoints, &root(&headers), max))
}

async fn info(State(gradio): State<Gradio>, headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(config::info(&endpoints(&gradio.engine), &root(&headers)))
}

/// `POST /gradio_api/upload`: each `files` part is kept; the answer is
/// their paths, in order, for `FileData` inputs.
async fn upload(
    State(gradio): State<Gradio>,
    mut form: Multipart,
) -> Result<axum::Json<Vec<String>>, ApiError> {
    let limit = max_file_size(&gradio.engine);
    let mut paths = Vec::new();
    let broken = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("the upload cannot be read: {}", e.body_text()),
        )
    };
    while let Some(part) = form.next_field().await.map_err(broken)? {
        if part.name() != Some("files") {
            continue;
        }
        let name = part.file_name().unwrap_or("file").to_string();
        let mime = part
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = part.bytes().await.map_err(broken)?;
        if let Some(limit) = limit.filter(|limit| bytes.len() > *limit) {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "{name} is {} bytes; the largest file an input takes is {limit} bytes",
                    bytes.len()
                ),
            ));
        }
        paths.push(gradio.files.keep(files::File {
            name,
            mime,
            bytes: bytes.to_vec(),
        }));
    }
    if paths.is_empty() {
        return Err(ApiError::invalid_input(
            "files",
            "the upload has no file part (multipart field `files`)",
        ));
    }
    Ok(axum::Json(paths))
}

/// `GET /gradio_api/file=<path>`: a file uploaded or answered here.
async fn file(State(gradio): State<Gradio>, Path(rest): Path<String>) -> Response {
    let found = rest
        .strip_prefix("file=")
        .and_then(|path| gradio.files.get(path));
    match found {
        Some(file) => (
            [(header::CONTENT_TYPE, file.mime.clone())],
            file.bytes.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// One run of an endpoint for a Gradio client: its stream, and its
/// outputs so far in Gradio's shapes.
struct Run {
    stream: PredictionStream,
    api: ApiEndpoint,
    so_far: Values,
    files: Arc<Files>,
    root: String,
}

/// What a run says next.
enum Step {
    /// The outputs so far, positional.
    Generating(Vec<Value>),
    Complete(Vec<Value>),
    Error(String),
}

impl Gradio {
    /// Starts `api` on Gradio's positional `data` (nulls and missing
    /// trailing values take the signature's defaults). A refusal of the
    /// inputs is an `Err` with Wick's message, as Gradio reports it in the
    /// run's events rather than on the request.
    async fn start(
        &self,
        api: ApiEndpoint,
        data: Vec<Value>,
        route: Route,
        root: String,
    ) -> Result<Run, String> {
        let inputs = &api.endpoint.inputs;
        if data.len() > inputs.len() {
            let names: Vec<&str> = inputs.iter().map(|f| f.name.as_str()).collect();
            return Err(format!(
                "`/{}` takes {} inputs ({}), not {}",
                api.api_name,
                inputs.len(),
                names.join(", "),
                data.len()
            ));
        }
        let mut object = JsonObject::new();
        for (field, value) in inputs.iter().zip(data) {
            if !value.is_null() {
                let value =
                    values::input(field, value, &self.files, &self.engine, &api.model).await?;
                object.insert(field.name.clone(), value);
            }
        }
        let stream = self
            .engine
            .stream(&api.model.name, &route, &api.endpoint.name, vec![object])
            .await
            .map_err(|error| error.to_string())?;
        Ok(Run {
            stream,
            api,
            so_far: Values::new(),
            files: self.files.clone(),
            root,
        })
    }
}

impl Run {
    /// The next step; `None` after `Complete` or `Error`.
    async fn next(&mut self) -> Option<Step> {
        Some(match self.stream.next().await? {
            Ok(Update::Partial { outputs, .. }) => {
                values::accumulate(&mut self.so_far, outputs);
                Step::Generating(self.positional(&self.so_far))
            }
            Ok(Update::Finished(prediction)) => {
                let outputs = prediction.outputs.into_iter().next().unwrap_or_default();
                Step::Complete(self.positional(&outputs))
            }
            Err(error) => Step::Error(error.to_string()),
        })
    }

    fn positional(&self, outputs: &Values) -> Vec<Value> {
        self.api
            .endpoint
            .outputs
            .iter()
            .map(|field| values::output(field, outputs.get(&field.name), &self.files, &self.root))
            .collect()
    }
}
