//! What every adapter shares, so that each keeps only its wire format:
//! which version a request is pinned to and who is asking (`route`), a
//! model named with its pin (`minilm@1.1.0`), the model as a version
//! describes it, and the header naming the version that answered. The
//! public address clients reach the server at has one reader too, in
//! `app::proxy` (`--public-url`, else what a proxy forwards).

use axum::extract::Extension;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use wick_engine::{ClientId, Engine, Route};
use wick_types::ModelInfo;

use crate::api_error::ApiError;

/// Pins a request to a version; names the version that answered.
pub const VERSION_HEADER: &str = "x-wick-version";

/// A model as its version `pinned` (or the one with the largest share)
/// describes it; an unknown model or version is the API's 404.
pub fn model_info(
    engine: &Engine,
    name: &str,
    pinned: Option<&str>,
) -> Result<ModelInfo, ApiError> {
    let found = match pinned {
        None => engine.model(name),
        Some(version) => engine.model_version(name, version),
    };
    found.ok_or_else(|| match (engine.model(name), pinned) {
        (Some(info), Some(version)) => wick_engine::Error::UnknownVersion {
            model: name.to_string(),
            version: version.to_string(),
            loaded: info.versions.join(", "),
        }
        .into(),
        _ => wick_engine::Error::UnknownModel(name.to_string()).into(),
    })
}

/// `minilm@1.1.0` → (`minilm`, Some(`1.1.0`)).
pub fn split_pin(model: &str) -> (&str, Option<&str>) {
    match model.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (model, None),
    }
}

/// The version a request is pinned to — the path (`minilm@1.1.0`), else
/// `"version"` in the body, else the `X-Wick-Version` header — and who
/// the client is, for a sticky pick when it is not pinned.
pub fn route(
    path_pin: Option<&str>,
    body_pin: Option<String>,
    headers: &HeaderMap,
    client: Option<Extension<ClientId>>,
) -> Route {
    let header_pin = headers
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from);
    Route {
        version: path_pin.map(String::from).or(body_pin).or(header_pin),
        client: client.map(|Extension(ClientId(id))| id),
    }
}

/// Names the version that answered on a response.
pub fn with_version(mut response: Response, version: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(version) {
        response.headers_mut().insert(VERSION_HEADER, value);
    }
    response
}
