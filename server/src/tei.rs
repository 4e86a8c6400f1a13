//! Text Embeddings Inference's API (`/embed`, `/rerank`, `/predict`,
//! `/tokenize`, `/info`, with TEI's bodies) and OpenAI's `POST /v1/embeddings`, onto
//! the encoder tasks' endpoints through `Engine::predict`, the path every
//! other adapter takes.
//!
//! TEI serves one model; Wick may serve several. The top-level routes
//! take the one model of the task they need and refuse when there are
//! several; `/tei/{model}/...` names it. `POST /tei/{model}` is the
//! Hugging Face inference API's route (`InferenceClient(base_url=...)`):
//! `feature_extraction`, `text_classification` and
//! `token_classification` answer there.
//! Errors use TEI's body (`{"error", "error_type"}`); on `/v1/embeddings`,
//! OpenAI's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tokenizers::Tokenizer;
use wick_engine::{ClientId, Engine, JsonObject, Route};
use wick_types::{ErrorCode, ModelInfo, Value as Output};

use crate::api_error::{ApiError, typed_body};
use crate::seam::{route, split_pin, with_version};

const EMBEDDING: &str = "sentence-embedding";
const CLASSIFICATION: &str = "text-classification";
const RANKING: &str = "text-ranking";
const TOKENS: &str = "token-classification";

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/embed", post(embed))
        .route("/rerank", post(rerank))
        .route("/predict", post(predict))
        .route("/info", get(info))
        .route("/tokenize", post(tokenize))
        .route("/tei/{model}", post(inference_api))
        .route("/tei/{model}/embed", post(embed))
        .route("/tei/{model}/rerank", post(rerank))
        .route("/tei/{model}/predict", post(predict))
        .route("/tei/{model}/info", get(info))
        .route("/tei/{model}/tokenize", post(tokenize))
        .route("/v1/embeddings", post(openai_embeddings))
        .with_state(engine)
}

/// The model a `/tei/{model}/...` path names; none on the top-level routes.
type Named = Option<Path<String>>;

fn named(path: Named) -> Option<String> {
    path.map(|Path(model)| model)
}

/// A failure in TEI's shape, with the status Wick gives its code.
pub struct TeiError(ApiError);

impl<E: Into<ApiError>> From<E> for TeiError {
    fn from(error: E) -> Self {
        TeiError(error.into())
    }
}

impl IntoResponse for TeiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let kind = match error.code {
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::InvalidInput | ErrorCode::PayloadTooLarge => "validation",
            code if error.status.is_client_error() => code.as_str(),
            _ => "backend",
        };
        (
            error.status,
            Json(json!({"error": error.message, "error_type": kind})),
        )
            .into_response()
    }
}

/// The model a request goes to — the one named (`name@version` pins), or
/// the only one of `task` Wick serves — and its route (sticky per client).
fn model_of(
    engine: &Engine,
    named: Option<&str>,
    task: &str,
    headers: &HeaderMap,
    client: Option<Extension<ClientId>>,
) -> Result<(String, Route), ApiError> {
    let client = route(None, None, headers, client).client;
    let (name, pin) = match named {
        Some(named) => split_pin(named),
        None => {
            let models: Vec<String> = engine
                .models()
                .into_iter()
                .filter(|info| info.task == task)
                .map(|info| info.name)
                .collect();
            return match models.as_slice() {
                [one] => Ok((
                    one.clone(),
                    Route {
                        version: None,
                        client,
                    },
                )),
                [] => Err(ApiError::not_found(format!("no {task} model is served"))),
                several => Err(ApiError::new(
                    ErrorCode::BadRequest,
                    format!(
                        "{} {task} models are served ({}): name one with /tei/{{model}}/...",
                        several.len(),
                        several.join(", ")
                    ),
                )),
            };
        }
    };
    let info = crate::seam::model_info(engine, name, pin)?;
    if info.task != task {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("{name} is a {} model; this route needs {task}", info.task),
        ));
    }
    let route = Route {
        version: pin.map(String::from),
        client,
    };
    Ok((name.to_string(), route))
}

/// One text or several, as TEI and OpenAI take them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Texts {
    One(String),
    Many(Vec<String>),
}

impl Texts {
    fn into_vec(self) -> (Vec<String>, bool) {
        match self {
            Texts::One(text) => (vec![text], false),
            Texts::Many(texts) => (texts, true),
        }
    }
}

fn text_inputs(name: &str, texts: &[String]) -> Vec<JsonObject> {
    texts
        .iter()
        .map(|text| JsonObject::from_iter([(name.to_string(), Value::String(text.clone()))]))
        .collect()
}

/// Runs `inputs` on `endpoint` of the model `route` picks; answers the
/// outputs and the version that gave them.
async fn run(
    engine: &Engine,
    model: &str,
    route: &Route,
    endpoint: &str,
    inputs: Vec<JsonObject>,
) -> Result<(Vec<wick_types::Values>, String), ApiError> {
    if inputs.is_empty() {
        return Err(ApiError::invalid_input("inputs", "`inputs` is empty"));
    }
    let prediction = engine.predict(model, route, endpoint, inputs).await?;
    Ok((prediction.outputs, prediction.version))
}

fn vector(outputs: &wick_types::Values) -> Result<&Vec<f32>, ApiError> {
    match outputs.get("embedding") {
        Some(Output::Vector(vector)) => Ok(vector),
        _ => Err(ApiError::new(ErrorCode::Internal, "embed gave no vector")),
    }
}

#[derive(Deserialize)]
struct EmbedRequest {
    inputs: Texts,
    #[serde(default)]
    normalize: Option<bool>,
    /// One of the model's prompts (sentence-transformers' `prompt_name`).
    #[serde(default)]
    prompt_name: Option<String>,
    /// Texts are always truncated at the model's length, as TEI's
    /// `truncate: true`.
    #[serde(default)]
    #[allow(dead_code)]
    truncate: Option<bool>,
}

async fn embeddings(
    engine: &Engine,
    named: Option<&str>,
    headers: &HeaderMap,
    client: Option<Extension<ClientId>>,
    texts: Vec<String>,
    prompt_name: Option<&str>,
) -> Result<(Vec<Vec<f32>>, String, String), ApiError> {
    let (model, picked) = model_of(engine, named, EMBEDDING, headers, client)?;
    let mut inputs = text_inputs("text", &texts);
    if let Some(prompt) = prompt_name {
        for input in &mut inputs {
            input.insert("prompt_name".into(), json!(prompt));
        }
    }
    let (outputs, version) = run(engine, &model, &picked, "embed", inputs).await?;
    let vectors = outputs
        .iter()
        .map(|outputs| vector(outputs).cloned())
        .collect::<Result<Vec<_>, _>>()?;
    Ok((vectors, model, version))
}

async fn embed(
    State(engine): State<Arc<Engine>>,
    path: Named,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, TeiError> {
    let named = named(path);
    let request: EmbedRequest = typed_body(&headers, body)?;
    let (texts, _) = request.inputs.into_vec();
    let (vectors, _, version) = embeddings(
        &engine,
        named.as_deref(),
        &headers,
        client,
        texts,
        request.prompt_name.as_deref(),
    )
    .await?;
    if request.normalize == Some(false) && vectors.iter().all(|v| is_unit(v)) {
        return Err(ApiError::invalid_input(
            "normalize",
            "this model's bundle normalizes its vectors ([settings] normalize = true)",
        )
        .into());
    }
    Ok(with_version(Json(vectors).into_response(), &version))
}

fn is_unit(vector: &[f32]) -> bool {
    let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm - 1.0).abs() < 1e-3
}

/// TEI's `raw_scores`: Wick's scores are what the bundle's settings say.
fn refuse_raw_scores(asked: bool) -> Result<(), ApiError> {
    if asked {
        return Err(ApiError::invalid_input(
            "raw_scores",
            "scores are the bundle's ([settings] scoring = \"none\" gives logits)",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct RerankRequest {
    query: String,
    texts: Vec<String>,
    #[serde(default)]
    return_text: bool,
    #[serde(default)]
    raw_scores: bool,
}

async fn rerank(
    State(engine): State<Arc<Engine>>,
    path: Named,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, TeiError> {
    let named = named(path);
    let request: RerankRequest = typed_body(&headers, body)?;
    refuse_raw_scores(request.raw_scores)?;
    let (model, picked) = model_of(&engine, named.as_deref(), RANKING, &headers, client)?;
    let inputs = JsonObject::from_iter([
        ("query".to_string(), json!(request.query)),
        ("documents".to_string(), json!(request.texts)),
    ]);
    let (outputs, version) = run(&engine, &model, &picked, "rerank", vec![inputs]).await?;
    let Some(Output::Json(Value::Array(results))) = outputs.first().and_then(|o| o.get("results"))
    else {
        return Err(ApiError::new(ErrorCode::Internal, "rerank gave no results").into());
    };
    let results: Vec<Value> = results
        .iter()
        .map(|result| {
            let mut result = result.clone();
            if request.return_text
                && let Some(index) = result["index"].as_u64()
                && let Some(text) = request.texts.get(index as usize)
            {
                result["text"] = json!(text);
            }
            result
        })
        .collect();
    Ok(with_version(Json(results).into_response(), &version))
}

#[derive(Deserialize)]
struct PredictRequest {
    inputs: Value,
    #[serde(default)]
    raw_scores: bool,
}

/// Labels and scores as TEI and the inference API give them.
fn scored_labels(outputs: &wick_types::Values) -> Result<Value, ApiError> {
    match outputs.get("label") {
        Some(Output::Label(label)) => Ok(label
            .confidences
            .iter()
            .map(|c| json!({"label": c.label, "score": c.confidence}))
            .collect()),
        _ => Err(ApiError::new(ErrorCode::Internal, "classify gave no label")),
    }
}

async fn classify(
    engine: &Engine,
    named: Option<&str>,
    headers: &HeaderMap,
    client: Option<Extension<ClientId>>,
    texts: Vec<String>,
) -> Result<(Vec<Value>, String), ApiError> {
    let (model, picked) = model_of(engine, named, CLASSIFICATION, headers, client)?;
    let (outputs, version) = run(
        engine,
        &model,
        &picked,
        "classify",
        text_inputs("text", &texts),
    )
    .await?;
    let labels = outputs
        .iter()
        .map(scored_labels)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((labels, version))
}

async fn predict(
    State(engine): State<Arc<Engine>>,
    path: Named,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, TeiError> {
    let named = named(path);
    let request: PredictRequest = typed_body(&headers, body)?;
    refuse_raw_scores(request.raw_scores)?;
    let not_pairs = || {
        ApiError::invalid_input(
            "inputs",
            "`inputs` must be a text or a list of texts; text pairs are not classified",
        )
    };
    let (texts, batch) = match request.inputs {
        Value::String(text) => (vec![text], false),
        Value::Array(items) => {
            let texts = items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text),
                    Value::Array(one) if one.len() == 1 && one[0].is_string() => {
                        Ok(one[0].as_str().unwrap_or_default().to_string())
                    }
                    _ => Err(not_pairs()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            (texts, true)
        }
        _ => return Err(not_pairs().into()),
    };
    let (mut labels, version) =
        classify(&engine, named.as_deref(), &headers, client, texts).await?;
    let body = if batch {
        Value::Array(labels)
    } else {
        labels.pop().unwrap_or(Value::Null)
    };
    Ok(with_version(Json(body).into_response(), &version))
}

/// `POST /tei/{model}`: the Hugging Face inference API's shapes, by task:
/// `{"inputs": text | [texts]}` → vectors, or each text's labels.
async fn inference_api(
    State(engine): State<Arc<Engine>>,
    Path(named): Path<String>,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, TeiError> {
    #[derive(Deserialize)]
    struct Request {
        inputs: Texts,
        #[serde(default)]
        prompt_name: Option<String>,
    }
    let request: Request = typed_body(&headers, body)?;
    let (texts, batch) = request.inputs.into_vec();
    let (name, pin) = split_pin(&named);
    let task = crate::seam::model_info(&engine, name, pin)?.task;
    let (body, version) = match task.as_str() {
        EMBEDDING => {
            let prompt = request.prompt_name.as_deref();
            let (vectors, _, version) =
                embeddings(&engine, Some(&named), &headers, client, texts, prompt).await?;
            let body = match (batch, vectors.as_slice()) {
                (false, [one]) => json!(one),
                _ => json!(vectors),
            };
            (body, version)
        }
        CLASSIFICATION => {
            let (labels, version) =
                classify(&engine, Some(&named), &headers, client, texts).await?;
            (Value::Array(labels), version)
        }
        TOKENS => {
            let (model, picked) = model_of(&engine, Some(&named), TOKENS, &headers, client)?;
            let (outputs, version) = run(
                &engine,
                &model,
                &picked,
                "entities",
                text_inputs("text", &texts),
            )
            .await?;
            let entities: Vec<Value> = outputs
                .iter()
                .map(|outputs| match outputs.get("entities") {
                    Some(Output::Json(found)) => found["entities"].clone(),
                    _ => Value::Null,
                })
                .collect();
            let body = match (batch, entities.as_slice()) {
                (false, [one]) => one.clone(),
                _ => Value::Array(entities),
            };
            (body, version)
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("{name} is a {other} model: use its /tei/{name}/... route or /api"),
            )
            .into());
        }
    };
    Ok(with_version(Json(body).into_response(), &version))
}

/// The model a route that takes any encoder means: the named one, or the
/// one encoder model served.
fn encoder_model(engine: &Engine, named: Option<&str>, route: &str) -> Result<ModelInfo, ApiError> {
    if let Some(named) = named {
        let (name, pin) = split_pin(named);
        return crate::seam::model_info(engine, name, pin);
    }
    let tasks = [EMBEDDING, CLASSIFICATION, RANKING, TOKENS];
    let served: Vec<_> = engine
        .models()
        .into_iter()
        .filter(|info| tasks.contains(&info.task.as_str()))
        .collect();
    <[_; 1]>::try_from(served)
        .map(|[one]| one)
        .map_err(|served| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "{} encoder models are served: name one with /tei/{{model}}/{route}",
                    served.len()
                ),
            )
        })
}

async fn info(State(engine): State<Arc<Engine>>, path: Named) -> Result<Response, TeiError> {
    let info = encoder_model(&engine, named(path).as_deref(), "info")?;
    let model_type = match info.task.as_str() {
        EMBEDDING => json!({"embedding": {"pooling": "bundle"}}),
        RANKING => json!({"reranker": {"id2label": {"0": "LABEL_0"}}}),
        _ => json!({"classifier": {}}),
    };
    Ok(Json(json!({
        "model_id": info.name,
        "model_sha": null,
        "wick_version": info.version,
        "model_dtype": "float32",
        "model_type": model_type,
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct TokenizeRequest {
    inputs: Texts,
    #[serde(default = "yes")]
    add_special_tokens: bool,
}

fn yes() -> bool {
    true
}

/// Tokenizers by file, loaded once: a bundle's files do not change while
/// it is served.
static TOKENIZERS: LazyLock<Mutex<HashMap<PathBuf, Arc<Tokenizer>>>> =
    LazyLock::new(Default::default);

/// The tokenizer of a model's bundle (its `tokenizer.json`), without the
/// file's own padding and truncation: `/tokenize` shows a whole text.
fn tokenizer_of(
    engine: &Engine,
    named: Option<&str>,
    info: &ModelInfo,
) -> Result<Arc<Tokenizer>, ApiError> {
    let pin = named.and_then(|named| split_pin(named).1);
    let path = engine
        .bundle_file(&info.name, pin, "tokenizer.json")
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("model {} has no tokenizer.json to tokenize with", info.name),
            )
        })?;
    let mut cache = TOKENIZERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(tokenizer) = cache.get(&path) {
        return Ok(tokenizer.clone());
    }
    let mut tokenizer = Tokenizer::from_file(&path)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("{}: {e}", path.display())))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let tokenizer = Arc::new(tokenizer);
    cache.insert(path, tokenizer.clone());
    Ok(tokenizer)
}

/// TEI's `POST /tokenize`: each text's tokens, `[[{"id", "text",
/// "special", "start", "stop"}]]`, start and stop in bytes of the text
/// (none for special tokens, whose text is the token itself).
async fn tokenize(
    State(engine): State<Arc<Engine>>,
    path: Named,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, TeiError> {
    let named = named(path);
    let request: TokenizeRequest = typed_body(&headers, body)?;
    let info = encoder_model(&engine, named.as_deref(), "tokenize")?;
    let tokenizer = tokenizer_of(&engine, named.as_deref(), &info)?;
    let (texts, _) = request.inputs.into_vec();
    let special = request.add_special_tokens;
    // Tokenizing a large body is CPU work: off the async threads.
    let tokens = tokio::task::spawn_blocking(move || -> Result<Vec<Value>, String> {
        texts
            .iter()
            .map(|text| {
                let encoding = tokenizer.encode(text.as_str(), special).map_err(|e| e.to_string())?;
                let tokens = encoding
                    .get_ids()
                    .iter()
                    .zip(encoding.get_offsets())
                    .zip(encoding.get_special_tokens_mask())
                    .map(|((&id, &(start, stop)), &mask)| {
                        if mask == 1 {
                            json!({"id": id, "text": tokenizer.id_to_token(id), "special": true,
                                   "start": null, "stop": null})
                        } else {
                            let piece = text.as_bytes().get(start..stop).unwrap_or_default();
                            json!({"id": id, "text": String::from_utf8_lossy(piece), "special": false,
                                   "start": start, "stop": stop})
                        }
                    })
                    .collect();
                Ok(Value::Array(tokens))
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
    .map_err(|e| ApiError::invalid_input("inputs", &e))?;
    Ok(Json(tokens).into_response())
}

#[derive(Deserialize)]
struct OpenAiEmbeddingRequest {
    input: Texts,
    model: String,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<usize>,
}

/// OpenAI's `POST /v1/embeddings`: `float` vectors or `base64` (the
/// little-endian f32 bytes, what the `openai` client asks for by default).
async fn openai_embeddings(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, crate::openai::OpenAiError> {
    let request: OpenAiEmbeddingRequest = typed_body(&headers, body)?;
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid_input(
                "encoding_format",
                format!("`encoding_format` is float or base64, not {other}"),
            )
            .into());
        }
    };
    let (texts, _) = request.input.into_vec();
    let (vectors, model, version) =
        embeddings(&engine, Some(&request.model), &headers, client, texts, None).await?;
    if let Some(dimensions) = request.dimensions
        && vectors.first().is_some_and(|v| v.len() != dimensions)
    {
        return Err(ApiError::invalid_input(
            "dimensions",
            format!(
                "{model} gives {} dimensions; it cannot shorten them",
                vectors.first().map_or(0, Vec::len)
            ),
        )
        .into());
    }
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let body = json!({
        "object": "list",
        "data": data,
        "model": model,
        // Token counts are not reported by the embed endpoint.
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    });
    Ok(with_version(Json(body).into_response(), &version))
}
