//! The one door every request passes, on both ports: which secret a route
//! family needs, whether the request carries it, and how many wrong ones
//! an address may try. The HTTP routes pass through `require` (a
//! middleware in front of everything); the gRPC service through
//! `Gate::admit_grpc` (an interceptor), so `--auth` and `--auth-token`
//! hold on the gRPC port exactly as on HTTP.
//!
//! | door | routes | needs |
//! |---|---|---|
//! | open | `/healthz`, `/readyz`, `/favicon.svg`, `/pkg/…`, `/login`, `/logout`, `/admin/login`, `/admin/logout` | nothing |
//! | admin | `/admin/…` (the review page, its CSV and files, the admin API) | `WICK_ADMIN_TOKEN` as a bearer token, or the admin page's session cookie; off (404) without a token |
//! | demo | everything else, gRPC included | under `--auth`/`--auth-token`: a sign-in session (browsers) or a bearer token; open otherwise |
//!
//! Wrong secrets — passwords at `/login`, tokens in `Authorization`,
//! the admin token in its form — count against the address they came
//! from: past `GUESSES_PER_MINUTE` it gets 429 for every secret, right
//! or wrong, until the minute is over. A missing token is not a guess.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use app::admin::{ServerPage, server_page};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use wick_feedback::PerAddress;
use wick_types::ErrorCode;

use crate::api_error::ApiError;
use crate::credentials::Credentials;
use crate::listen::client_address;
use crate::sessions::{Sessions, bearer, cookie, same_secret};

/// Wrong secrets one address may send per minute.
pub const GUESSES_PER_MINUTE: u32 = 10;
/// The demo's sign-in cookie and the admin page's.
pub const DEMO_COOKIE: &str = "wick_session";
pub const ADMIN_COOKIE: &str = "wick_admin";

pub struct Gate {
    demo: Credentials,
    admin_token: Option<String>,
    pub(crate) demo_sessions: Sessions,
    pub(crate) admin_sessions: Sessions,
    guesses: PerAddress,
}

/// Which secret a route family needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    Open,
    Demo,
    Admin,
}

/// Why a request was not let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No secret, or a wrong one: sign in (401).
    SignIn,
    /// Too many wrong secrets from this address this minute (429).
    TooManyGuesses,
    /// The admin pages and API are off: no `WICK_ADMIN_TOKEN` (404).
    AdminOff,
}

impl Gate {
    pub fn new(demo: Credentials, admin_token: Option<String>) -> Arc<Gate> {
        Arc::new(Gate {
            demo,
            admin_token: admin_token.filter(|token| !token.is_empty()),
            demo_sessions: Sessions::default(),
            admin_sessions: Sessions::default(),
            guesses: PerAddress::events(GUESSES_PER_MINUTE, Duration::from_secs(60)),
        })
    }

    /// Whether the demo needs a sign-in (`--auth`, `--auth-token`).
    pub fn demo_is_locked(&self) -> bool {
        self.demo.is_on()
    }

    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    pub(crate) fn demo(&self) -> &Credentials {
        &self.demo
    }

    /// The door of an HTTP path.
    pub fn door(path: &str) -> Door {
        let open = matches!(
            path,
            "/healthz"
                | "/readyz"
                | "/favicon.svg"
                | "/login"
                | "/logout"
                | "/admin/login"
                | "/admin/logout"
        ) || path.starts_with("/pkg/");
        if open {
            Door::Open
        } else if path == "/admin" || path.starts_with("/admin/") {
            Door::Admin
        } else {
            Door::Demo
        }
    }

    /// Lets a request through `door`, or says why not. `bearer` is the
    /// token it sent, `session` finds a cookie by name.
    pub fn admit<'a>(
        &self,
        door: Door,
        client: Option<IpAddr>,
        bearer: Option<&str>,
        session: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<(), Refusal> {
        match door {
            Door::Open => Ok(()),
            Door::Demo if !self.demo.is_on() => Ok(()),
            Door::Demo => {
                if session(DEMO_COOKIE).is_some_and(|id| self.demo_sessions.user(id).is_some()) {
                    return Ok(());
                }
                self.check(client, bearer, |given| self.demo.token_fits(given))
            }
            Door::Admin => {
                let Some(token) = &self.admin_token else {
                    return Err(Refusal::AdminOff);
                };
                if session(ADMIN_COOKIE).is_some_and(|id| self.admin_sessions.user(id).is_some()) {
                    return Ok(());
                }
                self.check(client, bearer, |given| same_secret(given, token))
            }
        }
    }

    /// A secret checked against the address's allowance of guesses.
    fn check(
        &self,
        client: Option<IpAddr>,
        given: Option<&str>,
        fits: impl FnOnce(&str) -> bool,
    ) -> Result<(), Refusal> {
        let Some(given) = given else {
            return Err(Refusal::SignIn);
        };
        if !self.may_guess(client) {
            return Err(Refusal::TooManyGuesses);
        }
        if fits(given) {
            Ok(())
        } else {
            self.guessed_wrong(client);
            Err(Refusal::SignIn)
        }
    }

    /// Whether `client` may try a secret now (the sign-in forms ask too).
    pub fn may_guess(&self, client: Option<IpAddr>) -> bool {
        self.guesses.allows(client)
    }

    /// Counts a wrong secret from `client`.
    pub fn guessed_wrong(&self, client: Option<IpAddr>) {
        self.guesses.count(client);
    }

    /// The gRPC port's check: the demo door, with a bearer token in the
    /// `authorization` metadata (gRPC clients have no sign-in session).
    #[allow(clippy::result_large_err)]
    pub fn admit_grpc(
        &self,
        request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let client = request.remote_addr().map(|peer| peer.ip());
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        match self.admit(Door::Demo, client, token, |_| None) {
            Ok(()) => Ok(request),
            Err(Refusal::TooManyGuesses) => Err(tonic::Status::resource_exhausted(
                "too many wrong tokens from this address; wait a minute",
            )),
            Err(_) => Err(tonic::Status::unauthenticated(
                "this server needs a sign-in: send the metadata `authorization: Bearer TOKEN` \
                 with one of its --auth-token tokens",
            )),
        }
    }
}

/// The middleware in front of every HTTP route.
pub async fn require(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let door = Gate::door(path);
    let headers = request.headers();
    let client = client_address(request.extensions());
    match gate.admit(door, client, bearer(headers), |name| cookie(headers, name)) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refused(door, refusal, &request),
    }
}

/// What a refused request gets: pages a sign-in page, everything else the
/// API's JSON error.
fn refused(door: Door, refusal: Refusal, request: &Request) -> Response {
    let headers = request.headers();
    let get = request.method() == Method::GET;
    let page = get && wants_html(headers);
    // The review page answers with its own sign-in form (or its "off"
    // page), whoever asks; the rest of the admin door answers JSON.
    let review = get && request.uri().path() == "/admin/feedback";
    match (door, refusal) {
        (Door::Admin, Refusal::AdminOff) if review => admin_off(),
        (_, Refusal::AdminOff) => ApiError::not_found(
            "the admin pages and API are off: start wick serve with WICK_ADMIN_TOKEN set",
        )
        .into_response(),
        (Door::Admin, refusal) if review => admin_sign_in(refusal),
        (_, Refusal::TooManyGuesses) => {
            let mut response = ApiError::new(
                ErrorCode::Overloaded,
                "too many wrong passwords or tokens from this address; wait a minute",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            response
        }
        (Door::Demo, Refusal::SignIn) if page => {
            let next = request
                .uri()
                .path_and_query()
                .map_or("/".to_string(), |p| p.to_string());
            Redirect::to(&format!("/login?next={}", encode(&next))).into_response()
        }
        (door, _) => {
            let (message, realm) = match door {
                Door::Admin => ("send Authorization: Bearer WICK_ADMIN_TOKEN", "wick-admin"),
                _ => (
                    "this demo needs a sign-in: send Authorization: Bearer TOKEN \
                     (--auth-token), or sign in at /login",
                    "wick",
                ),
            };
            let mut response = ApiError::new(ErrorCode::Unauthorized, message).into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer realm=\"{realm}\"")) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            response
        }
    }
}

/// Percent-encodes a path for the `next` query parameter.
fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The admin page when no `WICK_ADMIN_TOKEN` is set.
pub fn admin_off() -> Response {
    admin_page(StatusCode::NOT_FOUND, ServerPage::Off)
}

/// The admin page's sign-in form, for a page the gate refused.
pub fn admin_sign_in(refusal: Refusal) -> Response {
    match refusal {
        Refusal::TooManyGuesses => admin_form(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many wrong tokens from here; wait a minute."),
        ),
        _ => admin_form(StatusCode::UNAUTHORIZED, None),
    }
}

/// The admin page's sign-in form with `problem` said above it.
pub fn admin_form(status: StatusCode, problem: Option<&str>) -> Response {
    let mut response = admin_page(
        status,
        ServerPage::SignIn {
            problem: problem.map(String::from),
        },
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"wick-admin\""),
    );
    response
}

/// A server-rendered admin page (`app::admin`).
pub fn admin_page(status: StatusCode, view: ServerPage) -> Response {
    (status, Html(server_page(view))).into_response()
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Arc<Gate> {
        let demo = Credentials::parse(&["ann:pw".into()], &["demo-token".into()]).unwrap();
        Gate::new(demo, Some("admin-token".into()))
    }

    #[test]
    fn each_route_family_has_its_door() {
        assert_eq!(Gate::door("/healthz"), Door::Open);
        assert_eq!(Gate::door("/pkg/wick.js"), Door::Open);
        assert_eq!(Gate::door("/admin/login"), Door::Open);
        assert_eq!(Gate::door("/admin/feedback"), Door::Admin);
        assert_eq!(Gate::door("/admin/api/models/m/split"), Door::Admin);
        assert_eq!(Gate::door("/admin"), Door::Admin);
        assert_eq!(Gate::door("/administrator"), Door::Demo);
        assert_eq!(Gate::door("/gradio_api/file=x"), Door::Demo);
        assert_eq!(Gate::door("/_wick/flag"), Door::Demo);
    }

    #[test]
    fn the_sign_in_page_is_told_where_to_return() {
        assert_eq!(encode("/a b?c=d"), "/a%20b%3Fc%3Dd");
    }

    #[test]
    fn the_right_secret_opens_its_door_only() {
        let gate = gate();
        let none = |_: &str| None;
        let client = Some(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(
            gate.admit(Door::Demo, client, Some("demo-token"), none),
            Ok(())
        );
        assert_eq!(
            gate.admit(Door::Admin, client, Some("demo-token"), none),
            Err(Refusal::SignIn)
        );
        assert_eq!(
            gate.admit(Door::Admin, client, Some("admin-token"), none),
            Ok(())
        );
        assert_eq!(
            gate.admit(Door::Demo, client, None, none),
            Err(Refusal::SignIn)
        );
        let off = Gate::new(Credentials::default(), None);
        assert_eq!(off.admit(Door::Demo, client, None, none), Ok(()));
        assert_eq!(
            off.admit(Door::Admin, client, Some("x"), none),
            Err(Refusal::AdminOff)
        );
    }

    #[test]
    fn wrong_tokens_lock_their_address_out_for_the_minute() {
        let gate = gate();
        let none = |_: &str| None;
        let guesser = Some(IpAddr::from([10, 0, 0, 1]));
        let other = Some(IpAddr::from([10, 0, 0, 2]));
        // One guess of the allowance was spent at the admin door.
        assert_eq!(
            gate.admit(Door::Admin, guesser, Some("guess"), none),
            Err(Refusal::SignIn)
        );
        for i in 1..GUESSES_PER_MINUTE {
            let guess = format!("guess-{i}");
            assert_eq!(
                gate.admit(Door::Demo, guesser, Some(&guess), none),
                Err(Refusal::SignIn)
            );
        }
        assert_eq!(
            gate.admit(Door::Demo, guesser, Some("demo-token"), none),
            Err(Refusal::TooManyGuesses),
            "even the right token, so guesses learn nothing"
        );
        assert_eq!(
            gate.admit(Door::Demo, other, Some("demo-token"), none),
            Ok(())
        );
        // Missing tokens are not guesses.
        for _ in 0..GUESSES_PER_MINUTE * 2 {
            assert_eq!(
                gate.admit(Door::Demo, other, None, none),
                Err(Refusal::SignIn)
            );
        }
        assert_eq!(
            gate.admit(Door::Demo, other, Some("demo-token"), none),
            Ok(())
        );
    }
}
