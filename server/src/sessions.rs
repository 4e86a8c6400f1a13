//! Sign-in sessions, shared by the demo's `--auth` and the admin page: a
//! session is a random id kept in memory on the server (so logging out
//! revokes it at once, and a restart signs everyone out), sent as an
//! `HttpOnly` cookie that is `Secure` when the client came over HTTPS:
//! `SameSite=Lax` for the demo (a shared link still opens signed in),
//! `Strict` for the admin page. Wrong secrets are counted per address by
//! the `gate`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

/// How long a session lasts after sign-in.
const LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Sessions kept at most; the oldest go first past it.
const MAX_SESSIONS: usize = 10_000;

#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

struct Session {
    user: String,
    expires: Instant,
}

impl Sessions {
    /// A new session for `user`; its id goes in the cookie.
    pub fn start(&self, user: &str) -> String {
        let mut bytes = [0u8; 32];
        // Without an OS random source no session can be safe; fall back to
        // nothing rather than to a guessable id.
        if getrandom::fill(&mut bytes).is_err() {
            return String::new();
        }
        let id = format!("{:x}", Sha256::digest(bytes));
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        open.retain(|_, session| session.expires > now);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, session)| session.expires)
                .map(|(id, _)| id.clone())
        {
            open.remove(&oldest);
        }
        open.insert(
            id.clone(),
            Session {
                user: user.to_string(),
                expires: now + LIFETIME,
            },
        );
        id
    }

    /// The user of a live session.
    pub fn user(&self, id: &str) -> Option<String> {
        if id.is_empty() {
            return None;
        }
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(id)
            .filter(|session| session.expires > Instant::now())
            .map(|session| session.user.clone())
    }

    pub fn end(&self, id: &str) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(id);
    }
}

/// The token of an `Authorization: Bearer TOKEN` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the client reached us over HTTPS (through a proxy that says
/// so), so the cookie can be marked `Secure`.
pub fn over_https(headers: &HeaderMap) -> bool {
    app::proxy::over_https(headers)
}

/// When the browser sends a cookie along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Also on a top-level navigation from another site (a shared link).
    Lax,
    /// Only on requests from this site's own pages.
    Strict,
}

/// `Set-Cookie` for session `id` on `path`; an empty id clears the cookie.
pub fn set_cookie(
    name: &str,
    id: &str,
    path: &str,
    same_site: SameSite,
    secure: bool,
) -> Option<HeaderValue> {
    let max_age = if id.is_empty() { 0 } else { LIFETIME.as_secs() };
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={id}; Path={path}; HttpOnly; SameSite={same_site:?}; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// Compares without stopping at the first difference, on digests so the
/// lengths do not show either.
pub fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_and_end_at_logout() {
        let sessions = Sessions::default();
        let (a, b) = (sessions.start("ann"), sessions.start("ann"));
        assert_ne!(a, b, "every sign-in gets a new id");
        assert_eq!(a.len(), 64);
        assert_eq!(sessions.user(&a).as_deref(), Some("ann"));
        sessions.end(&a);
        assert_eq!(sessions.user(&a), None, "revoked at logout");
        assert_eq!(sessions.user(&b).as_deref(), Some("ann"));
        assert_eq!(sessions.user("forged"), None);
    }

    #[test]
    fn cookies_are_secure_behind_https() {
        let mut headers = HeaderMap::new();
        assert!(!over_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_https(&headers));
        let cookie = set_cookie("s", "abc", "/", SameSite::Strict, true).unwrap();
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.ends_with("; Secure"), "{cookie}");
        assert!(cookie.contains("; SameSite=Strict;"), "{cookie}");
        assert!(same_secret("pw", "pw") && !same_secret("pw", "pW"));
    }
}
