//! The web UI: Leptos pages rendered on the server (with the engine in
//! their context) and the embedded WASM, JS and CSS that hydrate them.

use std::sync::Arc;

use app::{App, PublicUrl, shell};
use axum::Router;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::nonce::{provide_nonce, use_nonce};
use leptos::prelude::{LeptosOptions, provide_context, use_context};
use leptos_axum::{LeptosRoutes, ResponseOptions, generate_route_list};
use wick_engine::Engine;
use wick_feedback::Store;

use crate::security::{Security, content_security_policy};

include!(concat!(env!("OUT_DIR"), "/site_files.rs"));

/// Whether this binary was built with its UI assets (see build.rs).
pub fn has_assets() -> bool {
    FILES.iter().any(|(path, _)| path.ends_with(".wasm"))
}

pub fn router(engine: Arc<Engine>, store: Arc<Store>, security: Arc<Security>) -> Router {
    let options = LeptosOptions::builder()
        .output_name("wick")
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

async fn asset(uri: Uri) -> Response {
    match FILES.iter().find(|(path, _)| *path == uri.path()) {
        Some((path, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type(path)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
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
