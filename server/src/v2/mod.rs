//! The Open Inference Protocol (V2, REST) of KServe and Triton, beside
//! Wick's own API and through the same `Engine::predict`: health,
//! server and model metadata, readiness and inference with JSON or binary
//! tensors (`tensors` says how signatures map to tensors).
//!
//! A V2 model is one endpoint of a Wick model: `minilm` is its first
//! endpoint, `minilm.classify` names one. `/versions/{v}` pins a version;
//! without it the model's routing picks one, as for the JSON API.

pub mod grpc;
mod tensors;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use wick_engine::{ClientId, Engine, Inputs};
use wick_types::{Endpoint, ErrorCode, ModelInfo};

use crate::api_error::ApiError;
use tensors::{InputTensor, OutputTensor, Tensor, describe, input_value, output_tensors};

const HEADER_LENGTH: &str = "inference-header-content-length";

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{model}", get(model_metadata))
        .route(
            "/v2/models/{model}/versions/{version}",
            get(version_metadata),
        )
        .route("/v2/models/{model}/ready", get(model_ready))
        .route(
            "/v2/models/{model}/versions/{version}/ready",
            get(version_ready),
        )
        .route("/v2/models/{model}/infer", post(infer))
        .route(
            "/v2/models/{model}/versions/{version}/infer",
            post(infer_version),
        )
        .with_state(engine)
}

/// An error as the protocol has it: `{"error": "message"}`, with the
/// status Wick gives its code.
struct V2Error(ApiError);

impl<E: Into<ApiError>> From<E> for V2Error {
    fn from(error: E) -> Self {
        V2Error(error.into())
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        (self.0.status, Json(json!({"error": self.0.message}))).into_response()
    }
}

async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "wick",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    }))
}

async fn live() -> StatusCode {
    StatusCode::OK
}

/// Every model is loaded before the port opens; 503 while draining.
async fn ready(State(engine): State<Arc<Engine>>) -> StatusCode {
    if engine.is_draining() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// The Wick model and endpoint a V2 model name means, as `version` (or
/// the version with the largest share) describes them.
fn resolve(
    engine: &Engine,
    name: &str,
    version: Option<&str>,
) -> Result<(ModelInfo, Endpoint), ApiError> {
    // `minilm`, else `minilm.classify`: a model name may hold a dot too.
    let (info, endpoint) = match crate::seam::model_info(engine, name, version) {
        Ok(info) => (info, None),
        Err(whole) => match name.rsplit_once('.') {
            Some((model, endpoint)) if engine.model(model).is_some() => (
                crate::seam::model_info(engine, model, version)?,
                Some(endpoint),
            ),
            _ => return Err(whole),
        },
    };
    let endpoint = match endpoint {
        None => info.endpoints.first().cloned(),
        Some(endpoint) => info.endpoint(endpoint).cloned(),
    }
    .ok_or_else(|| ApiError::from(wick_engine::Error::UnknownModel(name.to_string())))?;
    Ok((info, endpoint))
}

fn metadata(engine: &Engine, name: &str, version: Option<&str>) -> Result<Json<Value>, V2Error> {
    let (info, endpoint) = resolve(engine, name, version)?;
    let inputs: Vec<_> = endpoint.inputs.iter().flat_map(describe).collect();
    let outputs: Vec<_> = endpoint.outputs.iter().flat_map(describe).collect();
    Ok(Json(json!({
        "name": name,
        "versions": info.versions,
        "platform": format!("wick_{}", info.task),
        "inputs": inputs,
        "outputs": outputs,
    })))
}

async fn model_metadata(
    State(engine): State<Arc<Engine>>,
    Path(model): Path<String>,
) -> Result<Json<Value>, V2Error> {
    metadata(&engine, &model, None)
}

async fn version_metadata(
    State(engine): State<Arc<Engine>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<Value>, V2Error> {
    metadata(&engine, &model, Some(&version))
}

async fn model_ready(
    State(engine): State<Arc<Engine>>,
    Path(model): Path<String>,
) -> Result<StatusCode, V2Error> {
    resolve(&engine, &model, None)?;
    Ok(StatusCode::OK)
}

async fn version_ready(
    State(engine): State<Arc<Engine>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<StatusCode, V2Error> {
    resolve(&engine, &model, Some(&version))?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: serde_json::Map<String, Value>,
    inputs: Vec<InputTensor>,
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: serde_json::Map<String, Value>,
}

async fn infer(
    State(engine): State<Arc<Engine>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Bytes,
) -> Result<Response, V2Error> {
    answer(&engine, &model, None, &headers, client, body).await
}

async fn infer_version(
    State(engine): State<Arc<Engine>>,
    Path((model, version)): Path<(String, String)>,
    headers: HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Bytes,
) -> Result<Response, V2Error> {
    answer(&engine, &model, Some(&version), &headers, client, body).await
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

/// What a V2 inference gives back, either protocol: the version that
/// answered and the output tensors, in the order asked for.
pub(crate) struct Inferred {
    pub version: String,
    pub outputs: Vec<OutputTensor>,
}

/// The one V2 inference: the model and endpoint `name` means, the tensors
/// as rows of inputs, `Engine::predict`, the outputs as tensors (only
/// `requested` ones, when named).
pub(crate) async fn infer_tensors(
    engine: &Engine,
    name: &str,
    route: &wick_engine::Route,
    inputs: &[Tensor],
    requested: Option<&[String]>,
) -> Result<Inferred, ApiError> {
    let (info, endpoint) = resolve(engine, name, route.version.as_deref())?;
    let rows = rows_of(inputs, &endpoint)?;
    let prediction = engine
        .predict(&info.name, route, &endpoint.name, rows)
        .await?;
    let mut outputs: Vec<OutputTensor> = endpoint
        .outputs
        .iter()
        .flat_map(|field| output_tensors(field, &prediction.outputs))
        .collect();
    if let Some(requested) = requested {
        if let Some(unknown) = requested
            .iter()
            .find(|wanted| !outputs.iter().any(|o| o.info.name == **wanted))
        {
            return Err(bad(format!("model `{name}` has no output `{unknown}`")));
        }
        outputs.retain(|o| requested.contains(&o.info.name));
        outputs.sort_by_key(|o| requested.iter().position(|r| *r == o.info.name));
    }
    Ok(Inferred {
        version: prediction.version,
        outputs,
    })
}

async fn answer(
    engine: &Engine,
    name: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    client: Option<Extension<ClientId>>,
    body: Bytes,
) -> Result<Response, V2Error> {
    // With binary data, the JSON comes first and the header says its length.
    let json_length = match headers.get(HEADER_LENGTH) {
        None => body.len(),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|length| *length <= body.len())
            .ok_or_else(|| bad("Inference-Header-Content-Length is not the JSON's length"))?,
    };
    let request: InferRequest = serde_json::from_slice(&body[..json_length])
        .map_err(|e| bad(format!("the body is not an inference request: {e}")))?;
    let inputs = read_inputs(&request.inputs, &body[json_length..])?;
    let route = crate::seam::route(version, None, headers, client);
    let requested: Option<Vec<String>> = request
        .outputs
        .as_ref()
        .map(|outputs| outputs.iter().map(|o| o.name.clone()).collect());
    let inferred = infer_tensors(engine, name, &route, &inputs, requested.as_deref()).await?;
    let all_binary = request
        .parameters
        .get("binary_data_output")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut binary = Vec::new();
    let described: Vec<Value> = inferred
        .outputs
        .iter()
        .map(|output| {
            let as_binary = all_binary
                || request.outputs.iter().flatten().any(|r| {
                    r.name == output.info.name
                        && r.parameters.get("binary_data").and_then(Value::as_bool) == Some(true)
                });
            let mut tensor = json!({
                "name": output.info.name,
                "datatype": output.info.datatype,
                "shape": output.info.shape,
            });
            if as_binary {
                let data = output.binary_data();
                tensor["parameters"] = json!({"binary_data_size": data.len()});
                binary.extend(data);
            } else {
                tensor["data"] = output.json_data();
            }
            tensor
        })
        .collect();
    let mut reply = json!({
        "model_name": name,
        "model_version": inferred.version,
        "outputs": described,
    });
    if let Some(id) = request.id {
        reply["id"] = Value::String(id);
    }
    let text = serde_json::to_vec(&reply).unwrap_or_default();
    let response = if binary.is_empty() {
        ([(header::CONTENT_TYPE, "application/json")], text).into_response()
    } else {
        let length = text.len();
        let mut whole = text;
        whole.extend(binary);
        let mut response =
            ([(header::CONTENT_TYPE, "application/octet-stream")], whole).into_response();
        response
            .headers_mut()
            .insert(HEADER_LENGTH, HeaderValue::from(length));
        response
    };
    Ok(crate::seam::with_version(response, &inferred.version))
}

/// The request's input tensors, each from its JSON data or its share of
/// the binary data after the JSON.
fn read_inputs(inputs: &[InputTensor], mut binary: &[u8]) -> Result<Vec<Tensor>, ApiError> {
    inputs
        .iter()
        .map(|tensor| {
            let data = match tensor.binary_size()? {
                None => None,
                Some(size) => {
                    if size > binary.len() {
                        return Err(bad(format!(
                            "input `{}`'s binary data is cut short",
                            tensor.name
                        )));
                    }
                    let (this, rest) = binary.split_at(size);
                    binary = rest;
                    Some(this)
                }
            };
            tensor.read(data)
        })
        .collect()
}

/// The tensors as one set of inputs per row.
fn rows_of(inputs: &[Tensor], endpoint: &Endpoint) -> Result<Vec<Inputs>, ApiError> {
    let first = inputs
        .first()
        .ok_or_else(|| bad("the request has no inputs"))?;
    let rows = first
        .shape
        .first()
        .and_then(|n| usize::try_from(*n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            bad(format!(
                "input `{}` needs rows: a shape [n, ...]",
                first.name
            ))
        })?;
    let mut sets = vec![Inputs::default(); rows];
    for tensor in inputs {
        let field = endpoint
            .inputs
            .iter()
            .find(|f| f.name == tensor.name)
            .ok_or_else(|| {
                let known: Vec<&str> = endpoint.inputs.iter().map(|f| f.name.as_str()).collect();
                bad(format!(
                    "no input `{}`; this model takes: {}",
                    tensor.name,
                    known.join(", ")
                ))
            })?;
        if tensor.shape.first() != Some(&(rows as i64)) {
            return Err(bad(format!(
                "input `{}` has {:?} rows; `{}` has {rows}",
                tensor.name,
                tensor.shape.first(),
                first.name
            )));
        }
        for (row, set) in sets.iter_mut().enumerate() {
            set.insert(field.name.clone(), input_value(field, tensor, row)?);
        }
    }
    Ok(sets)
}
