//! What every response carries so a demo link can be shared safely, and
//! the cross-site check on every state-changing request:
//!
//! - `Content-Security-Policy` on HTML: scripts only from this origin, the
//!   WASM allowed to compile (`'wasm-unsafe-eval'`), inline scripts only with
//!   the page's per-request nonce (Leptos puts it on the hydration script);
//!   `frame-ancestors` is this origin plus `--allow-embed` hosts (a Space is
//!   shown inside huggingface.co);
//! - `X-Content-Type-Options: nosniff` and `Referrer-Policy` on everything;
//! - a POST whose `Origin` is another site is refused (403), unless that
//!   origin was allowed with `--cors-origin`: a browser always sends
//!   `Origin` on such requests, API clients send none. This makes every
//!   form and server function CSRF-safe.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wick_types::ErrorCode;

use crate::api_error::ApiError;

/// What the operator allowed beyond this origin, and who may use the demo.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// Hosts (or origins) that may show the pages in a frame.
    pub allow_embed: Vec<String>,
    /// Origins whose pages may call the API from a browser (CORS).
    pub cors_origins: Vec<String>,
    /// Who may use the demo (`--auth`, `--auth-token`); open when empty.
    pub auth: crate::credentials::Credentials,
    /// The address the API page's snippets use (`--public-url`), rather
    /// than one read from the request's headers.
    pub public_url: Option<String>,
    /// `--no-mcp`: no Model Context Protocol routes (a door fewer).
    pub no_mcp: bool,
}

/// The policy of an HTML page; `nonce` is the one its inline scripts carry.
pub fn content_security_policy(nonce: Option<&str>, allow_embed: &[String]) -> String {
    let inline = nonce
        .map(|nonce| format!(" 'nonce-{nonce}'"))
        .unwrap_or_default();
    let mut ancestors = String::from("'self'");
    for host in allow_embed {
        ancestors.push(' ');
        ancestors.push_str(host);
    }
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{inline}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
         media-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors {ancestors}"
    )
}

/// How a file a visitor uploaded is served (Gradio's uploads, flagged
/// files): as the media type read from its bytes, never sniffed again by
/// the browser, as a download, and sandboxed without scripts should a
/// browser render it anyway — an uploaded SVG or HTML page never runs as
/// a page of this site.
pub fn untrusted_file(mime: &str, name: &str) -> [(HeaderName, HeaderValue); 5] {
    let mime =
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let plain: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{plain}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    [
        (header::CONTENT_TYPE, mime),
        (header::CONTENT_DISPOSITION, disposition),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; sandbox"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=3600"),
        ),
    ]
}

/// The middleware: refuses cross-site writes, then adds the headers.
pub async fn guard(
    State(security): State<Arc<Security>>,
    request: Request,
    next: Next,
) -> Response {
    if changes_state(request.method()) && !origin_allowed(request.headers(), &security) {
        return ApiError::new(
            ErrorCode::Forbidden,
            "a request from another site's page is refused; call the API from a server, \
             or start wick with --cors-origin for that site",
        )
        .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        headers,
        header::REFERRER_POLICY,
        "strict-origin-when-cross-origin",
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|kind| kind.starts_with("text/html"));
    // Leptos pages set their own, with the nonce; other HTML (the admin
    // page, error pages) gets the policy without inline scripts.
    if is_html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = content_security_policy(None, &security.allow_embed);
        if let Ok(value) = HeaderValue::from_str(&policy) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    if security.allow_embed.is_empty() {
        // For browsers older than frame-ancestors.
        set(headers, header::X_FRAME_OPTIONS, "SAMEORIGIN");
    }
    response
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    headers
        .entry(name)
        .or_insert(HeaderValue::from_static(value));
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// No `Origin` (not a browser, or a same-origin navigation of an old one),
/// this very origin as the client reached it, or one allowed for CORS.
fn origin_allowed(headers: &HeaderMap, security: &Security) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if security
        .cors_origins
        .iter()
        .any(|allowed| allowed == origin)
    {
        return true;
    }
    // `scheme://host[:port]` → `host[:port]`; "null" (a sandboxed page,
    // a file) matches nothing.
    let Some((_, origin_host)) = origin.split_once("://") else {
        return false;
    };
    app::proxy::hosts(headers)
        .iter()
        .any(|host| host.eq_ignore_ascii_case(origin_host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn only_this_origin_and_allowed_ones_may_write() {
        let security = Security {
            cors_origins: vec!["https://notebook.example".into()],
            ..Security::default()
        };
        let allowed = |pairs| origin_allowed(&headers(pairs), &security);
        assert!(
            allowed(&[("host", "127.0.0.1:7860")]),
            "no Origin: an API client"
        );
        assert!(allowed(&[
            ("host", "127.0.0.1:7860"),
            ("origin", "http://127.0.0.1:7860")
        ]));
        assert!(allowed(&[
            ("host", "10.0.0.5:7860"),
            ("x-forwarded-host", "me-demo.hf.space"),
            ("origin", "https://me-demo.hf.space")
        ]));
        assert!(allowed(&[
            ("host", "x"),
            ("origin", "https://notebook.example")
        ]));
        assert!(!allowed(&[
            ("host", "127.0.0.1:7860"),
            ("origin", "https://evil.example")
        ]));
        assert!(!allowed(&[("host", "127.0.0.1:7860"), ("origin", "null")]));
    }

    #[test]
    fn the_policy_allows_the_nonce_the_wasm_and_the_embedders() {
        let policy = content_security_policy(Some("abc"), &["https://huggingface.co".into()]);
        assert!(
            policy.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-abc';"),
            "{policy}"
        );
        assert!(
            policy.contains("frame-ancestors 'self' https://huggingface.co"),
            "{policy}"
        );
        assert!(!content_security_policy(None, &[]).contains("nonce"));
    }
}
