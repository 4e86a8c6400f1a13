//! Who is asking, for sticky routing between a model's versions: one
//! person keeps one version while it has traffic. The client is, first
//! found: an `X-Wick-Client` header, the API key (`Authorization` or
//! `X-API-Key`, hashed, never kept), the demo's `wick_client` cookie (set
//! here on the first page), or the client's address. The engine gets it as
//! `ClientId` in the request's extensions.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use wick_engine::ClientId;

use crate::listen::client_address;
use crate::sessions::{SameSite, cookie, over_https, set_cookie};

pub const CLIENT_HEADER: &str = "x-wick-client";
const COOKIE: &str = "wick_client";

pub async fn identify(mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let from_cookie = cookie(headers, COOKIE).map(String::from);
    let client = header_text(headers, CLIENT_HEADER)
        .map(|id| format!("header:{id}"))
        .or_else(|| api_key(headers).map(|key| format!("key:{}", digest(key))))
        .or_else(|| from_cookie.clone().map(|id| format!("cookie:{id}")))
        .or_else(|| client_address(request.extensions()).map(|ip| format!("address:{ip}")));
    // A browser opening a page gets its own id, so that everyone behind
    // one address (an office) is not one client.
    let new_cookie =
        (from_cookie.is_none() && request.method() == Method::GET && wants_html(request.headers()))
            .then(|| uuid::Uuid::now_v7().simple().to_string());
    let client = new_cookie
        .as_ref()
        .map(|id| format!("cookie:{id}"))
        .or(client);
    let secure = over_https(request.headers());
    if let Some(client) = client {
        request.extensions_mut().insert(ClientId(client));
    }
    let mut response = next.run(request).await;
    if let Some(id) = new_cookie
        && let Some(value) = set_cookie(COOKIE, &id, "/", SameSite::Lax, secure)
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn api_key(headers: &HeaderMap) -> Option<&str> {
    crate::sessions::bearer(headers).or_else(|| header_text(headers, "x-api-key"))
}

fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}
