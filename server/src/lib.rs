//! The `wick` binary's library half: `Server` (the entry point that serves
//! an engine), the CLI and its commands (the `cli` feature), and the HTTP
//! router — the UI, the JSON API (with SSE and multipart), the
//! OpenAI-compatible API, Gradio's client protocol, the Open Inference
//! Protocol V2 (REST here, gRPC in `v2::grpc` on its own port), MCP for
//! agents, the feedback API, the admin page and API, OpenAPI, metrics and probes on one
//! port, every route behind the one `gate`. `main.rs` only wires; tests
//! build the router in process.

mod admin;
mod api;
mod api_error;
mod auth;
#[cfg(feature = "cli")]
pub mod cli;
mod clients;
#[cfg(feature = "cli")]
pub mod commands;
mod credentials;
mod download;
mod feedback_api;
pub mod gate;
mod gradio;
mod launch;
pub mod listen;
mod mcp;
mod multipart;
mod openai;
mod openapi;
pub mod options;
pub mod rollout;
mod seam;
mod security;
mod sessions;
mod site;
mod store;
mod tei;
mod trace;
mod v2;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use wick_engine::Engine;
use wick_feedback::Store;

pub use credentials::Credentials;
pub use gate::Gate;
pub use launch::Server;
pub use options::{ServeOptions, ServingArgs, StoreArgs};
pub use security::Security;
pub use site::has_assets;

/// The `wick` command line over `tasks`: `wick serve`, `wick bundle`,
/// `wick predict`, `wick bench` and the admin API's loads (`wick rollout
/// load`) know the tasks of this registry. `wick`'s own `main` passes
/// Wick's built-in tasks; a user's binary passes them and its own
/// (`builtin().with(&MY_TASK)`), and is then a `wick` that serves bundles
/// of its task.
#[cfg(feature = "cli")]
pub fn main_with(tasks: wick_engine::Registry) -> anyhow::Result<()> {
    use clap::Parser;
    let cli = cli::Cli::parse();
    start_logging();
    match cli.command {
        cli::Command::Serve(args) => commands::serve::run(args, tasks),
        cli::Command::Bundle(args) => commands::bundle::run(args, tasks),
        cli::Command::Predict(args) => commands::predict::run(args, tasks),
        cli::Command::Feedback(args) => commands::feedback::run(args),
        cli::Command::Bench(args) => commands::bench::run(args, tasks),
        cli::Command::Deploy(args) => commands::deploy(args),
        cli::Command::Rollout(args) => commands::rollout::run(args),
        cli::Command::HashPassword => commands::hash_password::run(),
    }
}

/// Logs to stderr at `WICK_LOG` or `RUST_LOG` (info by default); nothing
/// when the program set up logging itself.
fn start_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WICK_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
                // symphonia logs each Ogg stream it opens at info.
                .unwrap_or_else(|_| "info,symphonia=warn".into()),
        )
        .try_init();
}

/// How much of a request body is read, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub max_bytes: usize,
    /// Longest the whole body may take to arrive.
    pub timeout: Duration,
}

/// The body limit when none is given: 2 MiB, or enough for the largest
/// media file a model accepts as a base64 data URL (4 characters for 3
/// bytes) with 64 KiB for the rest of the request.
pub fn default_body_limit<'a>(models: impl Iterator<Item = &'a wick_types::ModelInfo>) -> usize {
    let largest_file = largest_media_input(models).unwrap_or(0);
    (2 << 20).max(largest_file.div_ceil(3) * 4 + (64 << 10))
}

/// The largest image or audio file any input of `models` takes, in bytes.
pub(crate) fn largest_media_input<'a>(
    models: impl Iterator<Item = &'a wick_types::ModelInfo>,
) -> Option<usize> {
    models
        .flat_map(|model| model.endpoints.iter())
        .flat_map(|endpoint| endpoint.inputs.iter())
        .filter_map(|field| field.kind.media().and_then(|(_, max)| max))
        .max()
}

/// What the admin pages and API need besides the engine and the store.
#[derive(Clone, Debug, Default)]
pub struct AdminSettings {
    /// `WICK_ADMIN_TOKEN`; none turns the admin pages and API off.
    pub token: Option<String>,
    /// Where the routing between versions is kept across restarts.
    pub routing_file: Option<PathBuf>,
    /// `wick serve`'s overrides of a bundle's `[serving]`, for bundles
    /// loaded through the admin API too.
    pub serving: options::ServingArgs,
    /// Shown at the top of the review page: feedback that will be lost
    /// (a Space with no bucket mounted where feedback is kept).
    pub storage_warning: Option<String>,
}

/// Every route Wick serves, over one engine and one feedback store.
pub fn router(
    engine: Arc<Engine>,
    store: Arc<Store>,
    admin: AdminSettings,
    body: BodyLimits,
    security: Security,
) -> Router {
    let gate = gate::Gate::new(security.auth.clone(), admin.token.clone());
    router_behind(gate, engine, store, admin, body, security)
}

/// `router` behind a given gate: `wick serve` shares one between the HTTP
/// routes and the gRPC port, so both count the same wrong guesses.
pub fn router_behind(
    gate: Arc<Gate>,
    engine: Arc<Engine>,
    store: Arc<Store>,
    admin: AdminSettings,
    body: BodyLimits,
    security: Security,
) -> Router {
    let rollout = rollout::Rollout {
        engine: engine.clone(),
        file: admin.routing_file.clone(),
        serving: admin.serving.clone(),
        changing: Arc::default(),
    };
    let security = Arc::new(security);
    let mut routes = Router::new();
    if gate.demo_is_locked() {
        routes = routes.merge(auth::router(gate.clone()));
    }
    // Files uploaded with Gradio's route, which MCP tool calls may name.
    let uploads = Arc::new(gradio::Files::default());
    if !security.no_mcp {
        routes = routes.merge(mcp::router(engine.clone(), body.max_bytes, uploads.clone()));
    }
    let routes = routes
        .merge(api::router(engine.clone()))
        .merge(openai::router(engine.clone()))
        .merge(tei::router(engine.clone()))
        .merge(v2::router(engine.clone()))
        .merge(gradio::router(
            engine.clone(),
            security.public_url.clone(),
            uploads,
        ))
        .merge(feedback_api::router(engine.clone(), store.clone()))
        .merge(admin::router(
            engine.clone(),
            store.clone(),
            gate.clone(),
            admin.storage_warning.clone(),
        ))
        .merge(rollout::router(rollout))
        .merge(site::router(engine, store, security.clone()))
        .method_not_allowed_fallback(api_error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body.max_bytes))
        .layer(RequestBodyTimeoutLayer::new(body.timeout))
        .layer(axum::middleware::from_fn(api_error::server_fn_errors))
        .layer(axum::middleware::from_fn(move |request, next| {
            api_error::refuse_declared_oversize(body.max_bytes, request, next)
        }))
        .layer(axum::middleware::from_fn_with_state(gate, gate::require));
    let routes = routes
        .layer(axum::middleware::from_fn(clients::identify))
        .layer(axum::middleware::from_fn_with_state(
            security.clone(),
            security::guard,
        ))
        // A panic anywhere below is a plain JSON 500: its words and
        // backtrace go to the log, never to the client.
        .layer(CatchPanicLayer::custom(api_error::panicked));
    let routes = trace::traced(routes);
    if security.cors_origins.is_empty() {
        return routes;
    }
    let origins: Vec<HeaderValue> = security
        .cors_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    // Outermost, so a preflight is answered before anything else looks.
    routes.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::ACCEPT,
                HeaderName::from_static("last-event-id"),
            ]),
    )
}
