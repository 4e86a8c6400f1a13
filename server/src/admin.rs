//! `/admin/feedback`: the review page for flags — counts per option per
//! model version, the newest rows, a CSV download. It is guarded by
//! `WICK_ADMIN_TOKEN`, sent as `Authorization: Bearer TOKEN` or entered once
//! in a small form that sets a cookie; with no token set the page is off.
//!
//! Plain server-rendered HTML: it needs no hydration and no WASM.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wick_feedback::{Filter, Flag, Format, OptionCount, Store, write_export};

const COOKIE: &str = "wick_admin";
const NEWEST_ROWS: u32 = 100;
const CELL_CHARS: usize = 300;

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
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
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
            Ok(html) => Html(html).into_response(),
            Err(error) => {
                tracing::error!("the review page cannot read feedback: {error}");
                document(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Feedback",
                    "<p class=\"error\" role=\"alert\">The feedback store cannot be read right now; see the server log.</p>",
                )
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
    document(
        StatusCode::NOT_FOUND,
        "Feedback",
        "<p>The review page is off. Start <code>wick serve</code> with \
         <code>WICK_ADMIN_TOKEN</code> set to turn it on.</p>",
    )
}

fn login_form(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| {
            format!(
                "<p class=\"error\" role=\"alert\" data-testid=\"error\">{}</p>",
                escape(p)
            )
        })
        .unwrap_or_default();
    let mut response = document(
        status,
        "Sign in",
        &format!(
            "<form class=\"panel login\" method=\"post\" action=\"/admin/login\">\
             <label for=\"admin-token\">Admin token</label>\
             <input id=\"admin-token\" name=\"token\" type=\"password\" data-testid=\"admin-token\" \
             autocomplete=\"current-password\" required>\
             {problem}\
             <button type=\"submit\" class=\"primary\" data-testid=\"admin-login\">Sign in</button>\
             </form>"
        ),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"wick-admin\""),
    );
    response
}

fn document(status: StatusCode, title: &str, body: &str) -> Response {
    (status, Html(document_body(title, body))).into_response()
}

async fn review(store: &Store) -> anyhow::Result<String> {
    let counts = store.counts().await?;
    let newest = store
        .list(&Filter {
            newest: Some(NEWEST_ROWS),
            ..Filter::default()
        })
        .await?;
    let mut body = String::from(
        "<div class=\"admin-actions\"><a href=\"/admin/feedback.csv\" data-testid=\"admin-csv\" \
         download>Download CSV</a>\
         <form method=\"post\" action=\"/admin/logout\"><button type=\"submit\" class=\"secondary\">Sign out</button></form></div>",
    );
    body.push_str(&counts_table(&counts));
    let _ = write!(body, "<h2>Newest flags</h2>");
    body.push_str(&rows_table(&newest));
    Ok(document_body("Feedback", &body))
}

fn document_body(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Wick</title>\
         <link rel=\"stylesheet\" href=\"/pkg/wick.css\"><link rel=\"icon\" href=\"/favicon.svg\">\
         </head><body><main class=\"admin\"><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title)
    )
}

fn counts_table(counts: &[OptionCount]) -> String {
    if counts.is_empty() {
        return "<p data-testid=\"admin-empty\">Nothing has been flagged yet.</p>".into();
    }
    let mut html = String::from(
        "<h2>Flags per option</h2><table data-testid=\"admin-counts\"><thead><tr>\
         <th scope=\"col\">Model</th><th scope=\"col\">Version</th><th scope=\"col\">Option</th>\
         <th scope=\"col\">Flags</th></tr></thead><tbody>",
    );
    for count in counts {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"number\">{}</td></tr>",
            escape(&count.model),
            escape(&count.version),
            escape(&count.option),
            count.count
        );
    }
    html.push_str("</tbody></table>");
    html
}

fn rows_table(flags: &[Flag]) -> String {
    let mut html = String::from(
        "<div class=\"table-scroll\"><table data-testid=\"admin-rows\"><thead><tr>\
         <th scope=\"col\">Time (UTC)</th><th scope=\"col\">Model</th><th scope=\"col\">Endpoint</th>\
         <th scope=\"col\">Option</th><th scope=\"col\">Comment</th><th scope=\"col\">Inputs</th>\
         <th scope=\"col\">Outputs</th></tr></thead><tbody>",
    );
    for stored in flags {
        let flag = &stored.flag;
        let _ = write!(
            html,
            "<tr data-id=\"{}\"><td>{}</td><td>{}@{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td><code>{}</code></td><td><code>{}</code></td></tr>",
            escape(&stored.id),
            escape(&stored.created_at),
            escape(&flag.model),
            escape(&flag.version),
            escape(&flag.endpoint),
            escape(&flag.option),
            escape(flag.comment.as_deref().unwrap_or("")),
            escape(&shorten(&flag.inputs.to_string())),
            escape(&shorten(&flag.outputs.to_string())),
        );
    }
    html.push_str("</tbody></table></div>");
    html
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(CELL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}
