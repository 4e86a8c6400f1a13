//! The web UI: Leptos pages rendered on the server (with the engine in
//! their context) and the embedded WASM, JS and CSS that hydrate them.

use std::sync::Arc;

use app::{App, Doors, PublicUrl, shell};
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::nonce::{provide_nonce, use_nonce};
use leptos::prelude::{LeptosOptions, provide_context, use_context};
use leptos_axum::{LeptosRoutes, ResponseOptions, generate_route_list};
use wick_engine::Engine;
use wick_feedback::Store;

use crate::security::{Security, content_security_policy};

/// Whether this binary was built with its UI assets (`wick-site`'s
/// committed build).
pub fn has_assets() -> bool {
    wick_site::file(&format!("/pkg/{}_bg.wasm.gz", app::bundle::FULL)).is_some()
}

pub fn router(engine: Arc<Engine>, store: Arc<Store>, security: Arc<Security>) -> Router {
    let options = LeptosOptions::builder()
        .output_name(app::bundle::FULL)
        .site_pkg_dir("pkg")
        .build();
    let routes = generate_route_list(App);
    Router::new()
        .leptos_routes_with_context(
            &options,
            routes,
            move || {
                provide_context(engine.clone());
                provide_context(store.clone());
                provide_context(Doors {
                    mcp: !security.no_mcp,
                    token: security.auth.is_on(),
                });
                if let Some(url) = &security.public_url {
                    provide_context(PublicUrl(url.trim_end_matches('/').to_string()));
                }
                // A fresh nonce per page: Leptos puts it on its inline
                // scripts, the policy allows just those.
                provide_nonce();
                if let (Some(response), Some(nonce)) =
                    (use_context::<ResponseOptions>(), use_nonce())
                {
                    let policy = content_security_policy(Some(&nonce), &security.allow_embed);
                    if let Ok(value) = HeaderValue::from_str(&policy) {
                        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
                    }
                }
            },
            {
                let options = options.clone();
                move || shell(options.clone())
            },
        )
        .route("/pkg/{*file}", get(asset))
        .route("/favicon.svg", get(asset))
        .with_state(options)
}

/// A site file, compressed when the browser takes it so: the build puts
/// a brotli (`.br`) and a gzip (`.gz`) copy beside the WASM, its JS glue
/// and the CSS (1,114 KB of WASM became 340 KB over the wire). Cached by
/// content: the `ETag` is the file's hash, and a revalidation that matches
/// it is a 304 without a body.
async fn asset(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let Some(tag) = wick_site::file(path)
        .or_else(|| wick_site::file(&format!("{path}.gz")))
        .map(|(_, tag)| tag.to_string())
    else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.split(',').any(|t| t.trim() == tag));
    let common = [
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (header::ETAG, tag),
        (header::VARY, "accept-encoding".to_string()),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let accepts = |coding: &str| {
        headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|item| {
                let mut parts = item.split(';');
                let name = parts.next().unwrap_or_default().trim();
                let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
                name.eq_ignore_ascii_case(coding) && !refused
            })
    };
    let compressed = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(coding, _)| accepts(coding))
        .find_map(|(coding, suffix)| {
            Some((coding, wick_site::file(&format!("{path}{suffix}"))?.0))
        });
    let kind = (header::CONTENT_TYPE, content_type(path).to_string());
    match compressed {
        Some((coding, bytes)) => {
            let coding = (header::CONTENT_ENCODING, coding.to_string());
            (common, [kind, coding], bytes).into_response()
        }
        None => match plain(path) {
            Some(bytes) => (common, [kind], bytes).into_response(),
            None => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the embedded file is damaged",
            )
                .into_response(),
        },
    }
}

/// A site file's plain bytes: as embedded, or (the WASM, which is kept
/// compressed only) unpacked from its gzip copy.
fn plain(path: &str) -> Option<std::borrow::Cow<'static, [u8]>> {
    if let Some((bytes, _)) = wick_site::file(path) {
        return Some(bytes.into());
    }
    let (packed, _) = wick_site::file(&format!("{path}.gz"))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(packed), &mut bytes).ok()?;
    Some(bytes.into())
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}
