//! `POST /api/models/{model}/feedback`: flag a prediction. The answer (201
//! with the row id) comes only after the row is committed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use wick_engine::Engine;
use wick_feedback::Store;
use wick_types::{ErrorCode, FlagResponse};

use crate::api_error::{ApiError, json_object, require_json};
use crate::listen::client_address;
use crate::sessions::PerClient;

#[derive(Clone)]
struct Feedback {
    engine: Arc<Engine>,
    store: Arc<Store>,
    limit: Arc<PerClient>,
}

/// `flags_per_minute` per client address: plenty for people reviewing a
/// demo, little for a script filling the store.
pub fn router(engine: Arc<Engine>, store: Arc<Store>, flags_per_minute: u32) -> Router {
    Router::new()
        .route("/api/models/{model}/feedback", post(flag))
        .with_state(Feedback {
            engine,
            store,
            limit: Arc::new(PerClient::new(flags_per_minute, Duration::from_secs(60))),
        })
}

async fn flag(
    State(feedback): State<Feedback>,
    Path(model): Path<String>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<FlagResponse>), ApiError> {
    require_json(&headers)?;
    if !feedback.limit.take(client_address(&extensions)) {
        return Err(ApiError::new(
            ErrorCode::Overloaded,
            "too many flags a minute from this address (--max-flags-per-minute); retry shortly",
        ));
    }
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
    let stored = feedback.store.record(&info, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(FlagResponse {
            id: stored.id,
            created_at: stored.created_at,
        }),
    ))
}
