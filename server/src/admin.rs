//! `/admin/feedback`: the review page for flags — counts per option per
//! model version, the newest rows, a CSV download. It is guarded by
//! `WICK_ADMIN_TOKEN`, sent as `Authorization: Bearer TOKEN` or entered once
//! in a small form that sets a cookie; with no token set the page is off.
//!
//! The page itself is the app's (`app::admin`, Leptos views rendered on the
//! server, not hydrated); this module decides who may see it.

use std::sync::Arc;

use app::admin::{AdminView, admin_document};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wick_feedback::{Filter, Format, Store, write_export};

const COOKIE: &str = "wick_admin";
const NEWEST_ROWS: u32 = 100;

#[derive(Clone)]
struct Admin {
    store: Arc<Store>,
    /// SHA-256 of the token; `None` turns the pages off.
    token: Option<[u8; 32]>,
}

pub fn router(store: Arc<Store>, token: Option<&str>) -> Router {
    let token = token.filter(|t| !t.is_empty()).map(digest);
    Router::new()
        .route("/admin/feedback", get(page))
        .route("/admin/feedback.csv", get(csv))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .with_state(Admin { store, token })
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The cookie holds a hash derived from the token, never the token.
fn session_value(token: &[u8; 32]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"wick-admin-session:");
    hasher.update(token);
    format!("{:x}", hasher.finalize())
}

/// Compares without stopping at the first difference, so timing does not
/// reveal how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

enum Access {
    Off,
    Denied,
    Granted,
}

fn access(admin: &Admin, headers: &HeaderMap) -> Access {
    let Some(token) = &admin.token else {
        return Access::Off;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(&digest(given.trim()), token));
    let session = session_value(token);
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value.as_bytes(), session.as_bytes()));
    if bearer || cookie {
        Access::Granted
    } else {
        Access::Denied
    }
}

async fn page(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    match access(&admin, &headers) {
        Access::Off => off(),
        Access::Denied => login_form(StatusCode::UNAUTHORIZED, None),
        Access::Granted => match review(&admin.store).await {
            Ok(view) => document(StatusCode::OK, view),
            Err(error) => {
                tracing::error!("the review page cannot read feedback: {error}");
                document(StatusCode::SERVICE_UNAVAILABLE, AdminView::Unavailable)
            }
        },
    }
}

async fn csv(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    match access(&admin, &headers) {
        Access::Off => off(),
        Access::Denied => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"wick-admin\"")],
            "send Authorization: Bearer WICK_ADMIN_TOKEN\n",
        )
            .into_response(),
        Access::Granted => {
            let exported = async {
                let flags = admin.store.list(&Filter::default()).await?;
                let mut out = Vec::new();
                write_export(&flags, Format::Csv, &mut out)?;
                anyhow::Ok(out)
            };
            match exported.await {
                Ok(bytes) => (
                    [
                        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                        (
                            header::CONTENT_DISPOSITION,
                            "attachment; filename=\"wick-feedback.csv\"",
                        ),
                    ],
                    bytes,
                )
                    .into_response(),
                Err(error) => {
                    tracing::error!("the CSV export failed: {error}");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the feedback store cannot be read right now\n",
                    )
                        .into_response()
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

async fn login(State(admin): State<Admin>, Form(login): Form<Login>) -> Response {
    let Some(token) = &admin.token else {
        return off();
    };
    if !same(&digest(login.token.trim()), token) {
        return login_form(StatusCode::UNAUTHORIZED, Some("That token is not right."));
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=86400",
        session_value(token)
    );
    with_cookie(cookie)
}

async fn logout() -> Response {
    with_cookie(format!(
        "{COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0"
    ))
}

fn with_cookie(cookie: String) -> Response {
    let mut response = Redirect::to("/admin/feedback").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn off() -> Response {
    document(StatusCode::NOT_FOUND, AdminView::Off)
}

fn login_form(status: StatusCode, problem: Option<&str>) -> Response {
    let mut response = document(
        status,
        AdminView::SignIn {
            problem: problem.map(String::from),
        },
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"wick-admin\""),
    );
    response
}

fn document(status: StatusCode, view: AdminView) -> Response {
    (status, Html(admin_document(view))).into_response()
}

async fn review(store: &Store) -> anyhow::Result<AdminView> {
    let counts = store.counts().await?;
    let newest = store
        .list(&Filter {
            newest: Some(NEWEST_ROWS),
            ..Filter::default()
        })
        .await?;
    Ok(AdminView::Review { counts, newest })
}
