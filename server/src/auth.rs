//! Demo access control, like Gradio's `auth=`: with `--auth user:password`
//! (or `WICK_AUTH`, e.g. a Space secret), or `--auth-file` of `user:hash`
//! lines (Argon2id hashes from `wick hash-password`), every page and API
//! call needs a session from `/login` or `Authorization: Bearer` one of the
//! `--auth-token`s. This module is the sign-in and sign-out pages;
//! `credentials` holds who may sign in, and `gate` decides, for every
//! route and both ports, who gets in.
//! Sessions are `sessions::Sessions`: random, server-side, revoked at
//! logout.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use wick_types::ErrorCode;

use app::admin::{ServerPage, server_page};

use crate::api_error::ApiError;
use crate::gate::{DEMO_COOKIE, Gate};
use crate::listen::client_address;
use crate::sessions::{SameSite, cookie, over_https, set_cookie};

pub fn router(gate: Arc<Gate>) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .with_state(gate)
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(axum::extract::Query(query): axum::extract::Query<NextQuery>) -> Response {
    page(StatusCode::OK, None, safe_next(query.next.as_deref()))
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(gate): State<Arc<Gate>>,
    extensions: Extensions,
    headers: HeaderMap,
    Form(login): Form<Login>,
) -> Response {
    let next = safe_next(login.next.as_deref());
    // A script signing in (gradio_client's `auth=`) gets JSON, not pages.
    let from_a_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let refuse = |status: StatusCode, problem: &str| {
        if from_a_page {
            return page(status, Some(problem), next.clone());
        }
        let code = match status {
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
            _ => ErrorCode::Overloaded,
        };
        ApiError::new(code, problem).into_response()
    };
    let client = client_address(&extensions);
    if !gate.may_guess(client) {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong passwords from here; wait a minute.",
        );
    }
    let checking = gate.clone();
    let user = login.username.trim().to_string();
    let password = login.password;
    // Argon2 takes tens of milliseconds of CPU: not on the async runtime.
    let fits = tokio::task::spawn_blocking(move || checking.demo().password_fits(&user, &password))
        .await
        .unwrap_or(false);
    if !fits {
        gate.guessed_wrong(client);
        return refuse(
            StatusCode::UNAUTHORIZED,
            "That username and password do not match.",
        );
    }
    let id = gate.demo_sessions.start(login.username.trim());
    let mut response = if from_a_page {
        Redirect::to(&next).into_response()
    } else {
        axum::Json(serde_json::json!({"success": true})).into_response()
    };
    if let Some(value) = set_cookie(DEMO_COOKIE, &id, "/", SameSite::Lax, over_https(&headers)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn logout(State(gate): State<Arc<Gate>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, DEMO_COOKIE) {
        gate.demo_sessions.end(id);
    }
    let mut response = Redirect::to("/login").into_response();
    if let Some(value) = set_cookie(DEMO_COOKIE, "", "/", SameSite::Lax, over_https(&headers)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn page(status: StatusCode, problem: Option<&str>, next: String) -> Response {
    let html = server_page(ServerPage::DemoSignIn {
        problem: problem.map(String::from),
        next,
    });
    (status, Html(html)).into_response()
}

/// Only a path on this site: `//evil.example` or a full URL would make the
/// sign-in page an open redirect.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path_only() {
        assert_eq!(safe_next(Some("/api?x=1")), "/api?x=1");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "evil"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
    }
}
