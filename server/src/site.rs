//! The web UI: Leptos pages rendered on the server (with the engine in
//! their context) and the embedded WASM, JS and CSS that hydrate them.

use std::sync::Arc;

use app::{App, shell};
use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::{LeptosOptions, provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use wick_engine::Engine;
use wick_feedback::Store;

include!(concat!(env!("OUT_DIR"), "/site_files.rs"));

/// Whether this binary was built with its UI assets (see build.rs).
pub fn has_assets() -> bool {
    FILES.iter().any(|(path, _)| path.ends_with(".wasm"))
}

pub fn router(engine: Arc<Engine>, store: Arc<Store>) -> Router {
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
