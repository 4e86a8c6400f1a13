//! A slow or failed request explains itself, as TEI's do: every request
//! gets an id (the client's `X-Request-Id`, or a new UUID), echoed on the
//! response, and a `request` span carrying it with the method, path and
//! client kind; the engine records the model, version and endpoint into the
//! same span, and the answer its status and error code. Logged at `debug`
//! when answered, `warn` for a server error (`WICK_LOG` or `RUST_LOG`, e.g.
//! `RUST_LOG=wick_server::trace=debug`). The JSON API also answers where
//! a prediction's time went, as `Server-Timing` (prepare, queue, run).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, Response};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;
use wick_engine::Timings;
use wick_types::ErrorCode;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `router` with its requests' ids and spans.
pub fn traced(router: Router) -> Router {
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(span)
                .on_request(())
                .on_response(answered)
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

fn span(request: &Request<Body>) -> Span {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let path = request.uri().path();
    tracing::info_span!(
        "request",
        id,
        method = %request.method(),
        path,
        client = client_kind(path),
        model = tracing::field::Empty,
        version = tracing::field::Empty,
        endpoint = tracing::field::Empty,
        status = tracing::field::Empty,
        error = tracing::field::Empty,
    )
}

/// Which protocol a path speaks.
fn client_kind(path: &str) -> &'static str {
    let under = |prefix: &str| path.starts_with(prefix);
    if under("/api/") {
        "api"
    } else if under("/tei/")
        || matches!(
            path,
            "/embed" | "/rerank" | "/predict" | "/tokenize" | "/info"
        )
    {
        "tei"
    } else if under("/v1/") {
        "openai"
    } else if under("/v2/") || path == "/v2" {
        "v2"
    } else if under("/gradio_api/") || path == "/config" {
        "gradio"
    } else if under("/_wick/") {
        "ui"
    } else if under("/admin") {
        "admin"
    } else {
        "page"
    }
}

fn answered(response: &Response<Body>, latency: Duration, span: &Span) {
    let status = response.status();
    span.record("status", status.as_u16());
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        span.record("error", code.as_str());
    }
    let ms = latency.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::warn!(parent: span, ms, "answered");
    } else {
        tracing::debug!(parent: span, ms, "answered");
    }
}

/// `Server-Timing: prepare;dur=…, queue;dur=…, run;dur=…` (milliseconds).
pub fn server_timing(timings: &Timings) -> Option<HeaderValue> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    HeaderValue::from_str(&format!(
        "prepare;dur={:.3}, queue;dur={:.3}, run;dur={:.3}",
        ms(timings.prepare),
        ms(timings.queue),
        ms(timings.run)
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_protocol() {
        assert_eq!(client_kind("/api/models/m/embed"), "api");
        assert_eq!(client_kind("/v1/chat/completions"), "openai");
        assert_eq!(client_kind("/v2/models/m/infer"), "v2");
        assert_eq!(client_kind("/gradio_api/queue/join"), "gradio");
        assert_eq!(client_kind("/_wick/predict_stream"), "ui");
        assert_eq!(client_kind("/m/minilm/embed"), "page");
    }

    #[test]
    fn server_timing_lists_the_three_phases_in_milliseconds() {
        let timings = Timings {
            prepare: Duration::from_micros(1500),
            queue: Duration::from_millis(2),
            run: Duration::from_millis(30),
        };
        assert_eq!(
            server_timing(&timings).unwrap(),
            "prepare;dur=1.500, queue;dur=2.000, run;dur=30.000"
        );
    }
}
