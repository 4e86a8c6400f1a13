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

pub use files::Files;
pub use values::named_file;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, FromRequestParts, Multipart, Path, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use wick_engine::{ClientId, Engine, Inputs, PredictionStream, Route, Update};
use wick_types::{Endpoint, ErrorCode, MediaKind, ModelInfo, Values};

use crate::api_error::ApiError;
use crate::listen::client_address;

/// What every Gradio route shares.
#[derive(Clone)]
struct Gradio {
    engine: Arc<Engine>,
    /// `--public-url`, the root of file URLs when set.
    public_url: Option<Arc<str>>,
    files: Arc<Files>,
    queue: Arc<queue::Queue>,
    calls: Arc<call::Calls>,
}

/// The Gradio routes; `files` holds the uploads, which the MCP tools
/// also read.
pub fn router(engine: Arc<Engine>, public_url: Option<String>, files: Arc<Files>) -> Router {
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
            public_url: public_url.map(Arc::from),
            files,
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
    /// Whether the endpoint sends partial outputs (a Gradio generator), as
    /// the endpoint itself declares.
    fn streams(&self) -> bool {
        self.endpoint.streams
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

/// The server's address as its clients reach it (`--public-url`, else
/// what the proxy says, through the one reader of those headers): the
/// root of file URLs.
fn root(gradio: &Gradio, headers: &HeaderMap) -> String {
    app::proxy::base_url(headers, gradio.public_url.as_deref())
}

/// The largest file any input takes (the config's `max_file_size`).
fn max_file_size(engine: &Engine) -> Option<usize> {
    crate::largest_media_input(engine.models().iter())
}

async fn config(State(gradio): State<Gradio>, headers: HeaderMap) -> axum::Json<Value> {
    let endpoints = endpoints(&gradio.engine);
    let max = max_file_size(&gradio.engine);
    axum::Json(config::config(&endpoints, &root(&gradio, &headers), max))
}

async fn info(State(gradio): State<Gradio>, headers: HeaderMap) -> axum::Json<Value> {
    let root = root(&gradio, &headers);
    axum::Json(config::info(&endpoints(&gradio.engine), &root))
}

/// The media kinds some input of some model takes: what may be uploaded.
fn media_taken(engine: &Engine) -> Vec<MediaKind> {
    let mut kinds: Vec<MediaKind> = engine
        .models()
        .iter()
        .flat_map(|model| model.endpoints.iter())
        .flat_map(|endpoint| endpoint.inputs.iter())
        .filter_map(|field| field.kind.media().map(|(kind, _)| kind))
        .collect();
    kinds.dedup();
    kinds
}

/// `POST /gradio_api/upload`: each `files` part is kept; the answer is
/// their paths, in order, for `FileData` inputs. Only files whose bytes
/// are an image or audio format that some input takes are kept.
async fn upload(
    State(gradio): State<Gradio>,
    extensions: Extensions,
    mut form: Multipart,
) -> Result<axum::Json<Vec<String>>, ApiError> {
    let limit = max_file_size(&gradio.engine);
    let taken = media_taken(&gradio.engine);
    let owner = client_address(&extensions);
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
        let mime = wick_types::sniff(&bytes)
            .filter(|mime| taken.iter().any(|kind| mime.starts_with(kind.top_level())))
            .ok_or_else(|| {
                let kinds: Vec<&str> = taken.iter().map(|kind| kind.describe()).collect();
                ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    format!(
                        "{name} is not a file any input here takes: only {} ({} or {}) \
                         is kept",
                        if kinds.is_empty() {
                            "nothing".into()
                        } else {
                            kinds.join(" or ")
                        },
                        wick_engine::images::FORMATS,
                        wick_engine::audio::FORMATS,
                    ),
                )
            })?;
        paths.push(gradio.files.keep(files::File {
            name,
            mime: mime.to_string(),
            bytes: bytes.to_vec(),
            owner,
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

/// `GET /gradio_api/file=<path>`: a file uploaded or answered here,
/// served as `security::untrusted_file` says.
async fn file(State(gradio): State<Gradio>, Path(rest): Path<String>) -> Response {
    let found = rest
        .strip_prefix("file=")
        .and_then(|path| gradio.files.get(path));
    match found {
        Some(file) => {
            let headers = crate::security::untrusted_file(&file.mime, &file.name);
            (headers, file.bytes.clone()).into_response()
        }
        None => ApiError::not_found(format!(
            "no file /gradio_api/{rest}: files are kept an hour after their upload"
        ))
        .into_response(),
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
    /// Whose files its outputs are.
    owner: Option<IpAddr>,
}

/// What a run says next.
enum Step {
    /// The outputs so far, positional.
    Generating(Vec<Value>),
    Complete(Vec<Value>),
    Error(String),
}

/// A run asked for and not started yet: it starts once its caller
/// listens for its events, so work nobody waits for never runs.
struct Pending {
    api: ApiEndpoint,
    data: Vec<Value>,
    route: Route,
    root: String,
    owner: Option<IpAddr>,
}

/// Who asked for a run, as every run needs it: the version routing (pin
/// and sticky client), the address the client reached (for file URLs) and
/// whose files its outputs are.
pub struct Caller {
    route: Route,
    root: String,
    owner: Option<IpAddr>,
}

impl FromRequestParts<Gradio> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        gradio: &Gradio,
    ) -> Result<Self, Self::Rejection> {
        let client = parts.extensions.get::<ClientId>().cloned().map(Extension);
        Ok(Caller {
            route: crate::seam::route(None, None, &parts.headers, client),
            root: root(gradio, &parts.headers),
            owner: client_address(&parts.extensions),
        })
    }
}

impl Caller {
    fn pending(self, api: ApiEndpoint, data: Vec<Value>) -> Pending {
        Pending {
            api,
            data,
            route: self.route,
            root: self.root,
            owner: self.owner,
        }
    }
}

impl Gradio {
    /// Starts a pending run on Gradio's positional `data` (nulls and
    /// missing trailing values take the signature's defaults). A refusal of
    /// the inputs is an `Err` with Wick's message, as Gradio reports it in
    /// the run's events rather than on the request.
    async fn start(&self, pending: Pending) -> Result<Run, String> {
        let Pending {
            api,
            data,
            route,
            root,
            owner,
        } = pending;
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
        let mut object = Inputs::default();
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
            owner,
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
            .map(|field| {
                let value = outputs.get(&field.name);
                values::output(field, value, &self.files, &self.root, self.owner)
            })
            .collect()
    }
}
