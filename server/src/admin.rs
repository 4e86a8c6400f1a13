//! `/admin/feedback`: the review page for flags — counts per option per
//! model version, the newest rows, a CSV download. The `gate` lets in only
//! `WICK_ADMIN_TOKEN`, sent as `Authorization: Bearer TOKEN` or entered once
//! in this module's small form that sets a cookie (`SameSite=Strict`);
//! with no token set the page is off.
//!
//! The page itself is the app's (`app::admin`, Leptos views rendered on the
//! server, not hydrated).

use std::sync::Arc;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app::admin::{ServerPage, ShadowRow, VersionRow, WINDOWS};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use wick_engine::Engine;
use wick_feedback::{Filter, Format, Store, export_stream, is_file_name, parse_since};

use crate::gate::{ADMIN_COOKIE, Gate, Refusal, admin_form, admin_off, admin_page, admin_sign_in};
use crate::listen::client_address;
use crate::sessions::{SameSite, cookie, over_https, same_secret, set_cookie};

const NEWEST_ROWS: u32 = 100;

#[derive(Clone)]
struct Admin {
    engine: Arc<Engine>,
    store: Arc<Store>,
    gate: Arc<Gate>,
    /// Shown above the review (`AdminSettings::storage_warning`).
    warning: Option<String>,
}

pub fn router(
    engine: Arc<Engine>,
    store: Arc<Store>,
    gate: Arc<Gate>,
    warning: Option<String>,
) -> Router {
    Router::new()
        .route("/admin/feedback", get(page))
        .route("/admin/feedback.csv", get(csv))
        .route("/admin/feedback/files/{name}", get(file))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .with_state(Admin {
            engine,
            store,
            gate,
            warning,
        })
}

async fn page(State(admin): State<Admin>, Query(query): Query<PageQuery>) -> Response {
    match review(&admin, query.window.as_deref()).await {
        Ok(view) => admin_page(StatusCode::OK, view),
        Err(error) => {
            tracing::error!("the review page cannot read feedback: {error}");
            admin_page(StatusCode::SERVICE_UNAVAILABLE, ServerPage::Unavailable)
        }
    }
}

/// `?model=minilm&version=1.1.0&since=24h`, each optional.
#[derive(Deserialize)]
struct CsvQuery {
    model: Option<String>,
    version: Option<String>,
    since: Option<String>,
}

async fn csv(State(admin): State<Admin>, Query(query): Query<CsvQuery>) -> Response {
    let since = match query
        .since
        .as_deref()
        .map(|s| parse_since(s, SystemTime::now()))
    {
        None => None,
        Some(Ok(since)) => Some(since),
        Some(Err(message)) => {
            return (StatusCode::UNPROCESSABLE_ENTITY, message).into_response();
        }
    };
    let filter = Filter {
        model: query.model,
        version: query.version,
        since,
        newest: None,
    };
    // Streamed a page of flags at a time; a store failure midway ends the
    // download early (logged), as a cut connection would.
    let chunks = export_stream(admin.store.clone(), filter, Format::Csv)
        .map(|chunk| chunk.inspect_err(|error| tracing::error!("the CSV export failed: {error}")));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"wick-feedback.csv\"",
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// A file a flag names (`files/<sha256>.<ext>` in its inputs or outputs):
/// a visitor's upload, so served sandboxed like Gradio's uploads.
async fn file(State(admin): State<Admin>, Path(name): Path<String>) -> Response {
    if !is_file_name(&name) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match admin.store.file(&name).await {
        Ok(Some((media_type, bytes))) => {
            (crate::security::untrusted_file(&media_type, &name), bytes).into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::error!("cannot read the flagged file {name}: {error}");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

async fn login(
    State(admin): State<Admin>,
    extensions: Extensions,
    headers: HeaderMap,
    Form(login): Form<Login>,
) -> Response {
    let Some(token) = admin.gate.admin_token() else {
        return admin_off();
    };
    let client = client_address(&extensions);
    if !admin.gate.may_guess(client) {
        return admin_sign_in(Refusal::TooManyGuesses);
    }
    if !same_secret(login.token.trim(), token) {
        admin.gate.guessed_wrong(client);
        return admin_form(StatusCode::UNAUTHORIZED, Some("That token is not right."));
    }
    let id = admin.gate.admin_sessions.start("admin");
    with_cookie(&id, over_https(&headers))
}

async fn logout(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, ADMIN_COOKIE) {
        admin.gate.admin_sessions.end(id);
    }
    with_cookie("", over_https(&headers))
}

fn with_cookie(id: &str, secure: bool) -> Response {
    let mut response = Redirect::to("/admin/feedback").into_response();
    if let Some(value) = set_cookie(ADMIN_COOKIE, id, "/admin", SameSite::Strict, secure) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct PageQuery {
    window: Option<String>,
}

/// The page's window: its key, and since when (Unix ms, and as stored
/// timestamps compare); `None` since is all of it.
fn window(asked: Option<&str>) -> (String, Option<(u64, String)>) {
    let (key, _, seconds) = WINDOWS
        .iter()
        .find(|(key, _, _)| Some(*key) == asked)
        .unwrap_or(&WINDOWS[2]);
    let now = SystemTime::now();
    let since = (*seconds > 0)
        .then(|| now.checked_sub(Duration::from_secs(*seconds)))
        .flatten()
        .and_then(|since| {
            let ms = since.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
            Some((ms, parse_since(key, now).ok()?))
        });
    (key.to_string(), since)
}

async fn review(admin: &Admin, window_key: Option<&str>) -> anyhow::Result<ServerPage> {
    let (window, since) = window(window_key);
    let counts = admin.store.counts(None).await?;
    let recent_counts = match &since {
        None => counts.clone(),
        Some((_, stamp)) => admin.store.counts(Some(stamp)).await?,
    };
    let newest = admin
        .store
        .list(&Filter {
            newest: Some(NEWEST_ROWS),
            ..Filter::default()
        })
        .await?;
    let since_ms = since.map_or(0, |(ms, _)| ms);
    let mut versions = Vec::new();
    for info in admin.engine.models() {
        let shares: BTreeMap<String, f64> = admin
            .engine
            .rollout(&info.name)
            .map(|status| {
                status
                    .versions
                    .into_iter()
                    .map(|v| (v.version, v.share))
                    .collect()
            })
            .unwrap_or_default();
        let history = admin.engine.metrics().history.summary(&info.name, since_ms);
        // Loaded versions, and those gone that still have requests or flags.
        let mut names: BTreeSet<String> = shares.keys().cloned().collect();
        names.extend(history.keys().cloned());
        names.extend(
            recent_counts
                .iter()
                .filter(|c| c.model == info.name)
                .map(|c| c.version.clone()),
        );
        for version in names {
            let summary = history.get(&version).cloned().unwrap_or_default();
            versions.push(VersionRow {
                model: info.name.clone(),
                share: shares.get(&version).copied(),
                requests: summary.requests,
                errors: summary.errors,
                p50_ms: summary.p50_ms,
                p99_ms: summary.p99_ms,
                flags: recent_counts
                    .iter()
                    .filter(|c| c.model == info.name && c.version == version)
                    .map(|c| (c.option.clone(), c.count))
                    .collect(),
                version,
            });
        }
    }
    let shadows = admin
        .engine
        .metrics()
        .shadows
        .agreements()
        .into_iter()
        .map(|(key, agreement)| ShadowRow {
            agreement: agreement.rate(),
            mean_cosine: agreement.mean_cosine(),
            compared: agreement.compared,
            model: key.model,
            version: key.version,
            endpoint: key.endpoint,
            output: key.output,
        })
        .collect();
    Ok(ServerPage::Review {
        warning: admin.warning.clone(),
        window,
        versions,
        shadows,
        counts,
        newest,
    })
}
