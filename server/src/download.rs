//! A media input given as an `http(s)` URL, as agents and Gradio clients
//! send them: downloaded, but only from the public internet. A URL whose
//! host is this machine or its private network is refused, so that a
//! caller cannot make the server read what only the server reaches (the
//! server-side request forgery Gradio's `ssrf_protected_download` also
//! refuses). The address checked is the one connected to, so a name that
//! resolves differently the second time changes nothing; each redirect is
//! checked again. Bounded in size and time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::LOCATION;
use wick_types::{Media, sniff};

/// How long a download may take, all of it.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Redirects followed, each to a checked address.
const MAX_REDIRECTS: usize = 3;

/// The most downloaded for an input that sets no bound of its own.
const DEFAULT_MAX_BYTES: usize = 32 << 20;

/// The most a download for `field` may be: its own bound, else 32 MiB.
pub fn limit_for(field: &wick_types::Field) -> usize {
    field
        .kind
        .media()
        .and_then(|(_, max)| max)
        .unwrap_or(DEFAULT_MAX_BYTES)
}

/// Whether `reference` is a URL this module downloads.
pub fn is_web_url(reference: &str) -> bool {
    let starts = |scheme: &str| {
        reference
            .as_bytes()
            .get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme.as_bytes()))
    };
    starts("http://") || starts("https://")
}

/// The file at `url`, at most `max_bytes`, typed by its first bytes.
pub async fn download(url: &str, max_bytes: usize) -> Result<Media, String> {
    download_from(url, max_bytes, is_public).await
}

/// `download`, with the addresses it may connect to decided by `allowed`
/// (the tests serve files on loopback).
async fn download_from(
    url: &str,
    max_bytes: usize,
    allowed: fn(IpAddr) -> bool,
) -> Result<Media, String> {
    let mut url = Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    for _ in 0..=MAX_REDIRECTS {
        let response = get(&url, allowed).await?;
        if response.status().is_redirection() {
            let next = response
                .headers()
                .get(LOCATION)
                .and_then(|location| location.to_str().ok())
                .and_then(|location| url.join(location).ok())
                .ok_or_else(|| format!("{url} redirects nowhere readable"))?;
            url = next;
            continue;
        }
        return body(url, response, max_bytes).await;
    }
    Err(format!(
        "{url}: more than {MAX_REDIRECTS} redirects; send the file's final URL"
    ))
}

/// One request to `url`, connected to an address `allowed` accepts.
async fn get(url: &Url, allowed: fn(IpAddr) -> bool) -> Result<reqwest::Response, String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url}: only http and https URLs are downloaded"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("{url} names no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| format!("{host} cannot be resolved: {e}"))?
        .collect();
    if let Some(refused) = addresses.iter().find(|address| !allowed(address.ip())) {
        return Err(format!(
            "{host} is {}, not an address on the public internet: this server downloads only \
             public URLs; send the file itself (a data URL, or its bytes in base64)",
            refused.ip()
        ));
    }
    let address = addresses
        .first()
        .ok_or_else(|| format!("{host} resolves to no address"))?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        // Connect to the address just checked, not to a second lookup's.
        .resolve(name, *address)
        .build()
        .map_err(|e| format!("cannot download {url}: {e}"))?;
    client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("cannot download {url}: {e}"))
}

/// The response's body as a file Wick reads, at most `max_bytes`.
async fn body(
    url: Url,
    mut response: reqwest::Response,
    max_bytes: usize,
) -> Result<Media, String> {
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url} answered {status}"));
    }
    let too_large = || format!("{url} is larger than {max_bytes} bytes, the most this input takes");
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("cannot download {url}: {e}"))?
    {
        if bytes.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let mime = sniff(&bytes)
        .ok_or_else(|| format!("{url} is not an image or audio file of a type Wick reads"))?;
    Ok(Media::new(mime, bytes))
}

/// Whether `ip` is an address on the public internet: not this machine,
/// not a private, shared, link-local, documentation or reserved range.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // Shared address space (carrier NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (18..20).contains(&b))
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local, fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local and the old site-local, fe80::/10 and fec0::/10.
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::header;
    use axum::response::IntoResponse;
    use axum::routing::get as route;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "151.101.1.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn web_urls_are_told_from_other_references() {
        assert!(is_web_url("https://example.com/cat.png"));
        assert!(is_web_url("HTTP://example.com/cat.png"));
        assert!(!is_web_url("data:image/png;base64,AAAA"));
        assert!(!is_web_url("abc/cat.png"));
        assert!(!is_web_url("ftp://example.com/cat.png"));
    }

    /// A server on loopback: `/cat.png` a PNG, `/moved` a redirect to it,
    /// `/big` too large, `/text` not a media file.
    async fn serve() -> String {
        let app = Router::new()
            .route("/cat.png", route(|| async { PNG }))
            .route(
                "/moved",
                route(|| async {
                    (
                        axum::http::StatusCode::FOUND,
                        [(header::LOCATION, "/cat.png")],
                    )
                        .into_response()
                }),
            )
            .route("/big", route(|| async { vec![0u8; 4096] }))
            .route("/text", route(|| async { "hello" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn a_file_is_downloaded_through_redirects_and_typed_by_its_bytes() {
        let base = serve().await;
        let anywhere = |_| true;
        let file = download_from(&format!("{base}/moved"), 1024, anywhere)
            .await
            .unwrap();
        assert_eq!((file.mime.as_str(), &file.bytes[..]), ("image/png", PNG));
        let big = download_from(&format!("{base}/big"), 1024, anywhere).await;
        assert!(big.unwrap_err().contains("larger than 1024 bytes"));
        let text = download_from(&format!("{base}/text"), 1024, anywhere).await;
        assert!(text.unwrap_err().contains("not an image or audio file"));
        let missing = download_from(&format!("{base}/nothing"), 1024, anywhere).await;
        assert!(missing.unwrap_err().contains("404"));
    }

    #[tokio::test]
    async fn this_machine_is_refused_before_any_request() {
        let base = serve().await;
        let refused = download(&format!("{base}/cat.png"), 1024)
            .await
            .unwrap_err();
        assert!(
            refused.contains("127.0.0.1, not an address on the public internet"),
            "{refused}"
        );
        let named = download("http://localhost:9/cat.png", 1024)
            .await
            .unwrap_err();
        assert!(
            named.contains("not an address on the public internet"),
            "{named}"
        );
    }
}
