//! What a reverse proxy in front of Wick says about the request it passed
//! on (a Space's proxy ends TLS): the scheme and host the browser used,
//! from `Forwarded` (RFC 7239) or `X-Forwarded-Proto` / `X-Forwarded-Host`,
//! first hop only. The one reader of those headers: the API page's
//! snippets, Gradio's file URLs and `root`, the cross-site check and the
//! session cookie's `Secure` flag all ask here.

use http::HeaderMap;

/// The first value of a comma-separated header, trimmed.
fn first(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_string())
}

/// A parameter of `Forwarded`'s first hop: `for=1.2.3.4;proto=https`.
fn forwarded(headers: &HeaderMap, key: &str) -> Option<String> {
    first(headers, "forwarded")?.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case(key)
            .then(|| value.trim().trim_matches('"').to_string())
    })
}

/// The scheme the client used as a proxy reports it (lower case), if one
/// does.
pub fn proto(headers: &HeaderMap) -> Option<String> {
    forwarded(headers, "proto")
        .or_else(|| first(headers, "x-forwarded-proto"))
        .map(|proto| proto.to_ascii_lowercase())
}

/// Whether the client reached us over HTTPS, as far as the proxy says.
pub fn over_https(headers: &HeaderMap) -> bool {
    proto(headers).as_deref() == Some("https")
}

/// The hosts the client may have used: those a proxy says it was reached
/// as (`Forwarded`, then `X-Forwarded-Host`), then `Host`.
pub fn hosts(headers: &HeaderMap) -> Vec<String> {
    [
        forwarded(headers, "host"),
        first(headers, "x-forwarded-host"),
        first(headers, "host"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `scheme://host` as clients reach this server: `--public-url` when it
/// is set; else, behind a proxy that ends TLS (a Space), the scheme and
/// host it forwards, else `Host` over http. Only a plain host is taken
/// from the headers (never echoed as sent).
pub fn base_url(headers: &HeaderMap, public_url: Option<&str>) -> String {
    if let Some(configured) = public_url {
        return configured.trim_end_matches('/').to_string();
    }
    let plain = |value: &str| {
        !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
    };
    let scheme = proto(headers)
        .filter(|s| s == "http" || s == "https")
        .unwrap_or_else(|| "http".to_string());
    let host = hosts(headers)
        .into_iter()
        .next()
        .filter(|h| plain(h))
        .unwrap_or_else(|| "localhost:7860".to_string());
    format!("{scheme}://{host}")
}
