//! Demo access control, like Gradio's `auth=`: with `--auth user:password`
//! (or `WICK_AUTH`, e.g. a Space secret) every page and API call needs a
//! session from `/login` or `Authorization: Bearer` one of the
//! `--auth-token`s. Pages without one are sent to `/login`; API calls get a
//! JSON 401. The probes, the static assets and the admin page (which has its
//! own token) stay open. Sessions are `sessions::Sessions`: random,
//! server-side, revoked at logout.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Extensions, HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use wick_types::ErrorCode;

use app::admin::{ServerPage, server_page};

use crate::api_error::ApiError;
use crate::listen::client_address;
use crate::sessions::{Sessions, bearer, cookie, over_https, same_secret, set_cookie};

const COOKIE: &str = "wick_session";

/// Who may use the demo.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// (user, password) pairs.
    pub users: Vec<(String, String)>,
    /// Bearer tokens for API clients.
    pub tokens: Vec<String>,
}

impl Credentials {
    /// From `user:password` entries; a malformed one is an error naming it.
    pub fn parse(users: &[String], tokens: &[String]) -> Result<Credentials, String> {
        let users = users
            .iter()
            .filter(|entry| !entry.is_empty())
            .map(|entry| match entry.split_once(':') {
                Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                    Ok((user.to_string(), password.to_string()))
                }
                _ => Err(format!(
                    "--auth `{}` must look like user:password",
                    entry.split(':').next().unwrap_or_default()
                )),
            })
            .collect::<Result<_, _>>()?;
        let tokens = tokens.iter().filter(|t| !t.is_empty()).cloned().collect();
        Ok(Credentials { users, tokens })
    }

    pub fn is_on(&self) -> bool {
        !self.users.is_empty() || !self.tokens.is_empty()
    }

    fn password_fits(&self, user: &str, password: &str) -> bool {
        // Every entry is compared, so the time does not tell which user exists.
        self.users.iter().fold(false, |fits, (known, secret)| {
            fits | (same_secret(user, known) & same_secret(password, secret))
        })
    }

    fn token_fits(&self, given: &str) -> bool {
        self.tokens
            .iter()
            .fold(false, |fits, token| fits | same_secret(given, token))
    }
}

pub struct Auth {
    credentials: Credentials,
    sessions: Sessions,
}

impl Auth {
    pub fn new(credentials: Credentials) -> Arc<Auth> {
        Arc::new(Auth {
            credentials,
            sessions: Sessions::default(),
        })
    }
}

pub fn router(auth: Arc<Auth>) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .with_state(auth)
}

/// The middleware in front of every route.
pub async fn require(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open = matches!(
        path,
        "/login" | "/logout" | "/healthz" | "/readyz" | "/favicon.svg"
    ) || path.starts_with("/pkg/")
        || path.starts_with("/admin/");
    if open || signed_in(&auth, request.headers()) {
        return next.run(request).await;
    }
    let wants_page = request.method() == Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if wants_page {
        let next = request
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        let target = format!("/login?next={}", encode(&next));
        return Redirect::to(&target).into_response();
    }
    let mut response = ApiError::new(
        ErrorCode::Unauthorized,
        "this demo needs a sign-in: send Authorization: Bearer TOKEN (--auth-token), \
         or sign in at /login",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"wick\""),
    );
    response
}

fn signed_in(auth: &Auth, headers: &HeaderMap) -> bool {
    let bearer = bearer(headers).is_some_and(|token| auth.credentials.token_fits(token));
    bearer || cookie(headers, COOKIE).is_some_and(|id| auth.sessions.user(id).is_some())
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
    State(auth): State<Arc<Auth>>,
    extensions: Extensions,
    headers: HeaderMap,
    Form(login): Form<Login>,
) -> Response {
    let next = safe_next(login.next.as_deref());
    let client = client_address(&extensions);
    if !auth.sessions.may_try(client) {
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many wrong passwords from here; wait a minute."),
            next,
        );
    }
    if !auth
        .credentials
        .password_fits(login.username.trim(), &login.password)
    {
        auth.sessions.failed(client);
        return page(
            StatusCode::UNAUTHORIZED,
            Some("That username and password do not match."),
            next,
        );
    }
    let id = auth.sessions.start(login.username.trim());
    let mut response = Redirect::to(&next).into_response();
    if let Some(value) = set_cookie(COOKIE, &id, "/", over_https(&headers)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE) {
        auth.sessions.end(id);
    }
    let mut response = Redirect::to("/login").into_response();
    if let Some(value) = set_cookie(COOKIE, "", "/", over_https(&headers)) {
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

/// Percent-encodes a path for the `next` query parameter.
fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_match() {
        let credentials =
            Credentials::parse(&["ann:pw:with:colons".into()], &["tok".into()]).unwrap();
        assert!(credentials.password_fits("ann", "pw:with:colons"));
        assert!(!credentials.password_fits("ann", "pw"));
        assert!(!credentials.password_fits("bob", "pw:with:colons"));
        assert!(credentials.token_fits("tok") && !credentials.token_fits("to"));
        assert!(Credentials::parse(&["nopassword".into()], &[]).is_err());
        assert!(!Credentials::parse(&[], &[]).unwrap().is_on());
    }

    #[test]
    fn next_is_a_local_path_only() {
        assert_eq!(safe_next(Some("/api?x=1")), "/api?x=1");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "evil"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(encode("/a b?c=d"), "/a%20b%3Fc%3Dd");
    }
}
