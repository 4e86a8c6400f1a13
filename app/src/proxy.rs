//! What a reverse proxy in front of Wick says about the request it passed
//! on (a Space's proxy ends TLS): the scheme and host the browser used,
//! from `Forwarded` (RFC 7239) or `X-Forwarded-Proto` / `X-Forwarded-Host`,
//! first hop only. The one reader of those headers: the API page's
//! snippets, the cross-site check and the session cookie's `Secure` flag
//! all ask here.

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
