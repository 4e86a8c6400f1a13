//! The `wick` binary's library half: the CLI, the commands, and the HTTP
//! router — the JSON API, the feedback API, the admin page and the UI on
//! one port. `main.rs` only wires; tests build the router in process.

mod admin;
mod api;
mod api_error;
pub mod cli;
pub mod commands;
mod feedback_api;
mod openapi;
mod site;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use wick_engine::Engine;
use wick_feedback::Store;

pub use site::has_assets;

/// Every route Wick serves, over one engine and one feedback store.
pub fn router(
    engine: Arc<Engine>,
    store: Arc<Store>,
    admin_token: Option<&str>,
    max_body_bytes: usize,
) -> Router {
    Router::new()
        .merge(api::router(engine.clone()))
        .merge(feedback_api::router(engine.clone(), store.clone()))
        .merge(admin::router(store.clone(), admin_token))
        .merge(site::router(engine, store))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}
