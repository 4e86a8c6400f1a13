//! The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`
//! in `proto/inference.proto`, served by tonic) on its own port when
//! `wick serve --grpc-port` is given: the same model names, metadata and
//! inference as the REST routes, through `infer_tensors`. Inputs come as
//! typed contents or raw bytes; outputs always go back as raw bytes.

use std::sync::Arc;

use tonic::service::{Interceptor, interceptor::InterceptedService};
use tonic::{Code, Request, Response, Status};
use wick_engine::{Engine, Route};

use super::tensors::{Elements, Tensor, describe, from_binary};
use super::{infer_tensors, resolve};
use crate::api_error::ApiError;
use crate::gate::Gate;

/// Generated from proto/inference.proto: its names are the protocol's.
#[allow(clippy::enum_variant_names)]
pub mod proto {
    tonic::include_proto!("inference");
}

use proto::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use proto::model_infer_response::InferOutputTensor;
use proto::model_metadata_response::TensorMetadata;
use proto::*;

/// The service, to add to a tonic server: every call passes `gate` first.
pub fn service(
    engine: Arc<Engine>,
    gate: Arc<Gate>,
) -> InterceptedService<GrpcInferenceServiceServer<V2Grpc>, impl Interceptor + Clone> {
    GrpcInferenceServiceServer::with_interceptor(V2Grpc { engine }, move |request| {
        gate.admit_grpc(request)
    })
}

pub struct V2Grpc {
    engine: Arc<Engine>,
}

/// A Wick error as a gRPC status: the HTTP status's counterpart.
fn status(error: ApiError) -> Status {
    let code = match error.status.as_u16() {
        400 | 413 | 415 | 422 => Code::InvalidArgument,
        404 => Code::NotFound,
        409 => Code::FailedPrecondition,
        429 => Code::ResourceExhausted,
        503 => Code::Unavailable,
        _ => Code::Internal,
    };
    Status::new(code, error.message)
}

fn version(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

#[tonic::async_trait]
impl GrpcInferenceService for V2Grpc {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        let ready = !self.engine.is_draining();
        Ok(Response::new(ServerReadyResponse { ready }))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let request = request.into_inner();
        let ready = resolve(&self.engine, &request.name, version(&request.version)).is_ok();
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: "wick".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: Vec::new(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let request = request.into_inner();
        let (info, endpoint) =
            resolve(&self.engine, &request.name, version(&request.version)).map_err(status)?;
        let tensors = |fields: &[wick_types::Field]| -> Vec<TensorMetadata> {
            fields
                .iter()
                .flat_map(describe)
                .map(|t| TensorMetadata {
                    name: t.name,
                    datatype: t.datatype.into(),
                    shape: t.shape,
                })
                .collect()
        };
        Ok(Response::new(ModelMetadataResponse {
            name: request.name,
            versions: info.versions.clone(),
            platform: format!("wick_{}", info.task),
            inputs: tensors(&endpoint.inputs),
            outputs: tensors(&endpoint.outputs),
        }))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let request = request.into_inner();
        let raw = &request.raw_input_contents;
        let inputs = request
            .inputs
            .iter()
            .enumerate()
            .map(|(index, input)| {
                let elements = if raw.is_empty() {
                    from_contents(&input.datatype, input.contents.as_ref())
                } else {
                    let bytes = raw.get(index).ok_or_else(|| {
                        bad(format!("input `{}` has no raw contents", input.name))
                    })?;
                    from_binary(&input.datatype, bytes)?
                };
                Tensor::new(&input.name, &input.datatype, &input.shape, elements)
            })
            .collect::<Result<Vec<_>, ApiError>>()
            .map_err(status)?;
        let route = Route {
            version: version(&request.model_version).map(String::from),
            client: None,
        };
        let requested: Vec<String> = request.outputs.iter().map(|o| o.name.clone()).collect();
        let requested = (!requested.is_empty()).then_some(requested);
        let inferred = infer_tensors(
            &self.engine,
            &request.model_name,
            &route,
            &inputs,
            requested.as_deref(),
        )
        .await
        .map_err(status)?;
        Ok(Response::new(ModelInferResponse {
            model_name: request.model_name,
            model_version: inferred.version,
            id: request.id,
            parameters: Default::default(),
            raw_output_contents: inferred.outputs.iter().map(|o| o.binary_data()).collect(),
            outputs: inferred
                .outputs
                .into_iter()
                .map(|o| InferOutputTensor {
                    name: o.info.name,
                    datatype: o.info.datatype.into(),
                    shape: o.info.shape,
                    parameters: Default::default(),
                    contents: None,
                })
                .collect(),
        }))
    }
}

fn bad(message: String) -> ApiError {
    ApiError::new(wick_types::ErrorCode::BadRequest, message)
}

/// Typed contents as elements: the field the datatype uses.
fn from_contents(datatype: &str, contents: Option<&InferTensorContents>) -> Elements {
    let Some(c) = contents else {
        return Elements::Bytes(Vec::new());
    };
    match datatype {
        "BYTES" => Elements::Bytes(c.bytes_contents.clone()),
        "BOOL" => Elements::Bools(c.bool_contents.clone()),
        "FP32" => Elements::Numbers(c.fp32_contents.iter().map(|x| *x as f64).collect()),
        "FP64" => Elements::Numbers(c.fp64_contents.clone()),
        "INT64" => Elements::Numbers(c.int64_contents.iter().map(|x| *x as f64).collect()),
        "UINT64" => Elements::Numbers(c.uint64_contents.iter().map(|x| *x as f64).collect()),
        "UINT8" | "UINT16" | "UINT32" => {
            Elements::Numbers(c.uint_contents.iter().map(|x| *x as f64).collect())
        }
        _ => Elements::Numbers(c.int_contents.iter().map(|x| *x as f64).collect()),
    }
}
