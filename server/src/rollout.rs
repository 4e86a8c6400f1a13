//! The admin API for versions, behind `Authorization: Bearer
//! WICK_ADMIN_TOKEN`: load a bundle as a new version, split the traffic,
//! shadow, promote, roll back, unload — all while requests flow — and the
//! routing kept in `<data dir>/routing.json`, put back at the next start.
//! `wick rollout` is its command-line client.
//!
//! - `GET    /admin/api/models/{model}/rollout`   the versions and routing
//! - `POST   /admin/api/versions`                 `{"bundle": PATH, "force": false}`
//! - `PUT    /admin/api/models/{model}/split`     `{"weights": {"1.0.0": 90, "1.1.0": 10}}`
//! - `PUT    /admin/api/models/{model}/shadow`    `{"version": "1.1.0", "percent": 10}`
//! - `POST   /admin/api/models/{model}/promote`   `{"version": "1.1.0"}`
//! - `POST   /admin/api/models/{model}/rollback`
//! - `DELETE /admin/api/models/{model}/versions/{version}`

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use wick_engine::{Bundle, Engine, RolloutStatus, Routing, SavedRouting};
use wick_types::ErrorCode;

use crate::api_error::{ApiError, typed_body};
use crate::options::ServingArgs;

/// The file, in the data folder, that keeps every model's routing.
pub const ROUTING_FILE: &str = "routing.json";

#[derive(Clone)]
pub struct Rollout {
    pub engine: Arc<Engine>,
    /// Where the routing is kept; `None`: not kept (tests, `--no-...`).
    pub file: Option<PathBuf>,
    /// `wick serve`'s settings that override a bundle's `[serving]`.
    pub serving: ServingArgs,
    /// One change at a time, so the kept file matches the engine.
    pub changing: Arc<tokio::sync::Mutex<()>>,
}

pub fn router(rollout: Rollout) -> Router {
    Router::new()
        .route("/admin/api/models/{model}/rollout", get(status))
        .route("/admin/api/versions", post(load))
        .route("/admin/api/models/{model}/split", put(split))
        .route("/admin/api/models/{model}/shadow", put(shadow))
        .route("/admin/api/models/{model}/promote", post(promote))
        .route("/admin/api/models/{model}/rollback", post(rollback))
        .route(
            "/admin/api/models/{model}/versions/{version}",
            delete(unload),
        )
        .with_state(rollout)
}

async fn status(
    State(rollout): State<Rollout>,
    Path(model): Path<String>,
) -> Result<Json<RolloutStatus>, ApiError> {
    Ok(Json(rollout.engine.rollout(&model)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadBody {
    bundle: PathBuf,
    #[serde(default)]
    force: bool,
}

/// Opens (hash-checking every file) and loads a bundle as a new version
/// with no traffic; nothing else changes when it fails.
async fn load(
    State(rollout): State<Rollout>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: LoadBody = typed_body(&headers, body)?;
    let _one_change = rollout.changing.lock().await;
    let engine = rollout.engine.clone();
    let serving = rollout.serving.clone();
    let model = tokio::task::spawn_blocking(move || {
        load_bundle(&engine, &body.bundle, &serving, body.force)
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "loading the bundle failed"))??;
    let status = rollout.engine.rollout(&model)?;
    rollout.keep();
    Ok((StatusCode::CREATED, Json(status)).into_response())
}

/// Opens and loads one bundle; its model's name.
fn load_bundle(
    engine: &Engine,
    dir: &FsPath,
    serving: &ServingArgs,
    force: bool,
) -> Result<String, ApiError> {
    let refused = |message: String| ApiError::invalid_input("bundle", message);
    let mut bundle = Bundle::open(dir)
        .map_err(|e| refused(format!("cannot open the bundle in {}: {e}", dir.display())))?;
    serving.apply(&mut bundle.manifest.serving);
    match engine.load(&bundle, force) {
        Ok(()) => {
            tracing::info!(
                model = %bundle.manifest.name,
                version = %bundle.manifest.version,
                "loaded a new version"
            );
            Ok(bundle.manifest.name)
        }
        Err(error @ wick_engine::Error::Incompatible { .. }) => Err(error.into()),
        Err(error) => Err(refused(error.to_string())),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitBody {
    weights: BTreeMap<String, u32>,
}

async fn split(
    State(rollout): State<Rollout>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RolloutStatus>, ApiError> {
    let change = |routing: &mut Routing, body: SplitBody| routing.split(&body.weights);
    rollout.change_with(&model, &headers, body, change).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShadowBody {
    version: String,
    percent: f64,
}

async fn shadow(
    State(rollout): State<Rollout>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RolloutStatus>, ApiError> {
    let change =
        |routing: &mut Routing, body: ShadowBody| routing.set_shadow(&body.version, body.percent);
    rollout.change_with(&model, &headers, body, change).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteBody {
    version: String,
}

async fn promote(
    State(rollout): State<Rollout>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RolloutStatus>, ApiError> {
    let change = |routing: &mut Routing, body: PromoteBody| routing.promote(&body.version);
    rollout.change_with(&model, &headers, body, change).await
}

async fn rollback(
    State(rollout): State<Rollout>,
    Path(model): Path<String>,
) -> Result<Json<RolloutStatus>, ApiError> {
    rollout
        .change(&model, |routing| routing.rollback().map(|_| ()))
        .await
}

async fn unload(
    State(rollout): State<Rollout>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<RolloutStatus>, ApiError> {
    let _one_change = rollout.changing.lock().await;
    let status = rollout.engine.unload(&model, &version)?;
    tracing::info!(%model, %version, "unloaded (its queued requests finish)");
    rollout.keep();
    Ok(Json(status))
}

impl Rollout {
    /// Reads the body as `B` and changes the routing with it (the `gate`
    /// let only the admin token through).
    async fn change_with<B: DeserializeOwned>(
        &self,
        model: &str,
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
        change: impl FnOnce(&mut Routing, B) -> Result<(), String>,
    ) -> Result<Json<RolloutStatus>, ApiError> {
        let body: B = typed_body(headers, body)?;
        self.change(model, |routing| change(routing, body)).await
    }

    async fn change(
        &self,
        model: &str,
        change: impl FnOnce(&mut Routing) -> Result<(), String>,
    ) -> Result<Json<RolloutStatus>, ApiError> {
        let _one_change = self.changing.lock().await;
        let status = self.engine.change_routing(model, change)?;
        tracing::info!(%model, routing = ?status.versions.iter().map(|v| (&v.version, v.weight)).collect::<Vec<_>>(), shadow = ?status.shadow, "routing changed");
        self.keep();
        Ok(Json(status))
    }

    /// Writes the routing to its file (a new file renamed over the old,
    /// so a crash never leaves half of one). A failure is logged: the
    /// change holds in memory.
    fn keep(&self) {
        let Some(file) = &self.file else {
            return;
        };
        if let Err(error) = write_routing(file, &self.engine.saved_routing()) {
            tracing::error!("cannot keep the routing in {}: {error:#}", file.display());
        }
    }
}

fn write_routing(file: &FsPath, saved: &BTreeMap<String, SavedRouting>) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = file.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(saved)?)?;
    std::fs::rename(&partial, file)?;
    Ok(())
}

/// Puts back the routing kept in `file`: loads the versions it names
/// that are not loaded yet (from the bundle folders they came from), then
/// their weights, shadow and baseline. What cannot be put back is logged
/// and skipped; the versions given on the command line serve regardless.
pub fn restore(engine: &Engine, file: &FsPath, serving: &ServingArgs) -> anyhow::Result<()> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", file.display())),
    };
    let saved: BTreeMap<String, SavedRouting> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a routing file", file.display()))?;
    for (model, saved) in saved {
        let Some(info) = engine.model(&model) else {
            tracing::warn!(%model, "the kept routing names a model not loaded now; skipped");
            continue;
        };
        for (version, source) in &saved.sources {
            if info.versions.contains(version) {
                continue;
            }
            match load_bundle(engine, source, serving, true) {
                Ok(_) => tracing::info!(%model, %version, "loaded again, as the kept routing says"),
                Err(error) => {
                    tracing::warn!(%model, %version, "cannot load it again: {}", error.message)
                }
            }
        }
        match engine.restore_routing(&model, &saved.routing) {
            Ok(status) => {
                tracing::info!(%model, routing = ?status.versions.iter().map(|v| (&v.version, v.weight)).collect::<Vec<_>>(), shadow = ?status.shadow, "routing restored")
            }
            Err(error) => tracing::warn!(%model, "the kept routing cannot be put back: {error}"),
        }
    }
    Ok(())
}
