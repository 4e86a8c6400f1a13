//! `POST /api/models/{model}/feedback`: flag a prediction. The answer (201
//! with the row id) comes only after the row is committed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use wick_engine::Engine;
use wick_feedback::Store;
use wick_types::FlagResponse;

use crate::api_error::{ApiError, json_object, require_json};
use crate::listen::client_address;

#[derive(Clone)]
struct Feedback {
    engine: Arc<Engine>,
    store: Arc<Store>,
}

/// Flags are limited per client address by the store, the same for this
/// route and the UI's Flag button (`Store::limit_flags`).
pub fn router(engine: Arc<Engine>, store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/models/{model}/feedback", post(flag))
        .with_state(Feedback { engine, store })
}

async fn flag(
    State(feedback): State<Feedback>,
    Path(model): Path<String>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<FlagResponse>), ApiError> {
    require_json(&headers)?;
    let body = body.map_err(ApiError::from_body)?;
    let info = feedback
        .engine
        .model(&model)
        .ok_or(wick_engine::Error::UnknownModel(model))?;
    let request = json_object(
        &body,
        "body",
        "the body must be a JSON object with endpoint, inputs, outputs and option",
    )?;
    let from = client_address(&extensions);
    let stored = feedback.store.record(&info, request, from).await?;
    Ok((
        StatusCode::CREATED,
        Json(FlagResponse {
            id: stored.id,
            created_at: stored.created_at,
        }),
    ))
}
