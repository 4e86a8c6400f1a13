//! Sign-in sessions, shared by the demo's `--auth` and the admin page: a
//! session is a random id kept in memory on the server (so logging out
//! revokes it at once, and a restart signs everyone out), sent as an
//! `HttpOnly`, `SameSite=Lax` cookie that is `Secure` when the client came
//! over HTTPS. Sign-in attempts are rate-limited per client address
//! (`PerClient`, which also limits flags).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

/// How long a session lasts after sign-in.
const LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Failed sign-ins allowed per client address per window.
const FAILURES_PER_WINDOW: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);
/// Sessions kept at most; the oldest go first past it.
const MAX_SESSIONS: usize = 10_000;

pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
    failures: PerClient,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            open: Mutex::default(),
            failures: PerClient::new(FAILURES_PER_WINDOW, WINDOW),
        }
    }
}

/// At most `limit` events per client address per `window` (a fixed
/// window: simple, and enough to stop guessing and flooding).
pub struct PerClient {
    limit: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl PerClient {
    pub fn new(limit: u32, window: Duration) -> Self {
        PerClient {
            limit,
            window,
            seen: Mutex::default(),
        }
    }

    /// Whether `client` is under its limit now (without counting).
    pub fn allows(&self, client: Option<IpAddr>) -> bool {
        let Some(client) = client else { return true };
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get(&client) {
            Some((since, count)) => since.elapsed() > self.window || *count < self.limit,
            None => true,
        }
    }

    /// Counts one event of `client`.
    pub fn count(&self, client: Option<IpAddr>) {
        let Some(client) = client else { return };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > MAX_SESSIONS {
            let window = self.window;
            seen.retain(|_, (since, _)| since.elapsed() <= window);
        }
        let entry = seen.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() > self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// Counts one event and says whether it was within the limit.
    pub fn take(&self, client: Option<IpAddr>) -> bool {
        let allowed = self.allows(client);
        if allowed {
            self.count(client);
        }
        allowed
    }
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

    /// Whether `client` may try to sign in now.
    pub fn may_try(&self, client: Option<IpAddr>) -> bool {
        self.failures.allows(client)
    }

    /// Counts a failed sign-in of `client`.
    pub fn failed(&self, client: Option<IpAddr>) {
        self.failures.count(client);
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

/// `Set-Cookie` for session `id` on `path`; an empty id clears the cookie.
pub fn set_cookie(name: &str, id: &str, path: &str, secure: bool) -> Option<HeaderValue> {
    let max_age = if id.is_empty() { 0 } else { LIFETIME.as_secs() };
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={id}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
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
    fn sign_in_failures_are_limited_per_client() {
        let sessions = Sessions::default();
        let client = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..FAILURES_PER_WINDOW {
            assert!(sessions.may_try(client));
            sessions.failed(client);
        }
        assert!(!sessions.may_try(client));
        assert!(sessions.may_try(Some(IpAddr::from([10, 0, 0, 2]))));
    }

    #[test]
    fn cookies_are_secure_behind_https() {
        let mut headers = HeaderMap::new();
        assert!(!over_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_https(&headers));
        let cookie = set_cookie("s", "abc", "/", true).unwrap();
        assert!(cookie.to_str().unwrap().ends_with("; Secure"));
        assert!(same_secret("pw", "pw") && !same_secret("pw", "pW"));
    }
}
