//! The accept loop, in place of `axum::serve`, for what a public URL needs
//! and `axum::serve` does not set: a connection must send its request
//! headers within `header_timeout` (that also closes keep-alive connections
//! left idle that long, and connections that never send a byte); at most
//! `max_connections` are open, and at most `per_address` from one client
//! address, so file descriptors never run out and one client holding
//! thousands of connections cannot lock the others out; past either cap a
//! connection may still use `PROBE_ROOM`, a few places kept for the
//! health probes only (one request each, anything but a probe gets 503),
//! so `/healthz` and `/readyz` keep answering; and shutdown lets open
//! requests finish for at most `grace`, whatever the clients do.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::Extensions;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// How long and how many.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// Connections one client address may hold.
    pub per_address: usize,
    pub grace: Duration,
}

/// Places kept for the probes beyond the caps, at most a few of them for
/// one address (so a client over its cap cannot fill the room), and how
/// long a connection there has to send its request (a kubelet sends at
/// once).
const PROBE_ROOM: usize = 16;
const PROBE_ROOM_PER_ADDRESS: usize = 2;
const PROBE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// The paths a connection in the probe room may ask for.
const PROBES: [&str; 4] = ["/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"];

/// Open connections per client address.
#[derive(Default)]
struct PerAddress {
    open: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

/// One connection counted against its address; uncounted when dropped.
struct Counted {
    addresses: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    /// Counts a connection from `address` if it has fewer than `cap` open.
    fn enter(self: &Arc<Self>, address: IpAddr, cap: usize) -> Option<Counted> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Counted {
            addresses: self.clone(),
            address,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self
            .addresses
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// A connection's place: a regular one, or one in the probe room.
enum Place {
    Regular(
        #[allow(dead_code)] tokio::sync::OwnedSemaphorePermit,
        #[allow(dead_code)] Counted,
    ),
    Probe(
        #[allow(dead_code)] tokio::sync::OwnedSemaphorePermit,
        #[allow(dead_code)] Counted,
    ),
}

/// What a connection in the probe room gets for anything but a probe.
fn probes_only(app: Router) -> Router {
    app.layer(axum::middleware::from_fn(
        |request: Request, next: axum::middleware::Next| async move {
            if PROBES.contains(&request.uri().path()) {
                return next.run(request).await;
            }
            let mut response =
                axum::response::IntoResponse::into_response(crate::api_error::ApiError::new(
                    wick_types::ErrorCode::Unavailable,
                    "too many connections are open (from your address, or in all); \
                     close some, or retry shortly",
                ));
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            response
        },
    ))
}

/// File descriptors kept back from connections: the feedback store, the
/// bundle files, logs.
const SPARE_DESCRIPTORS: u64 = 64;

/// `requested` connections, or fewer where the process may not open that
/// many files (a container's `--ulimit nofile=1024`): refusing a connection
/// beats failing to open a file. Raises the soft limit to the hard one
/// first, as servers commonly do.
pub fn connection_cap(requested: usize) -> usize {
    match open_files_limit() {
        Some(limit) => requested.min(limit.saturating_sub(SPARE_DESCRIPTORS).max(1) as usize),
        None => requested,
    }
}

#[cfg(target_os = "linux")]
fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads `raised`, a valid rlimit; raising
        // the soft limit up to the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(target_os = "linux"))]
fn open_files_limit() -> Option<u64> {
    None
}

/// The client's address, as the accept loop saw it (no proxy header is
/// trusted for this: it is what rate limits key on).
pub fn client_address(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}

/// Serves `app` on `listener` until `shutdown` resolves, then for at most
/// `limits.grace` while open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let probe_permits = Arc::new(Semaphore::new(PROBE_ROOM));
    let addresses = Arc::new(PerAddress::default());
    let probing = Arc::new(PerAddress::default());
    let probe_app = probes_only(app.clone());
    let mut probe_builder = builder.clone();
    probe_builder.http1().keep_alive(false);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors or a reset before accept: wait a
                // moment rather than spin.
                tracing::warn!("accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let regular = addresses
            .enter(peer.ip(), limits.per_address.max(1))
            .and_then(|counted| {
                let permit = permits.clone().try_acquire_owned().ok()?;
                Some(Place::Regular(permit, counted))
            });
        let probe = || {
            let counted = probing.enter(peer.ip(), PROBE_ROOM_PER_ADDRESS)?;
            let permit = probe_permits.clone().try_acquire_owned().ok()?;
            Some(Place::Probe(permit, counted))
        };
        let place = match regular.or_else(probe) {
            Some(place) => place,
            None => {
                tracing::warn!(
                    max = limits.max_connections,
                    per_address = limits.per_address,
                    %peer,
                    "too many open connections; closing a new one"
                );
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (app, builder, header_timeout) = match place {
            Place::Regular(..) => (app.clone(), builder.clone(), limits.header_timeout),
            Place::Probe(..) => (
                probe_app.clone(),
                probe_builder.clone(),
                PROBE_HEADER_TIMEOUT.min(limits.header_timeout),
            ),
        };
        let service =
            TowerToHyperService::new(app.map_request(move |request: Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            }));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // The version detection waits for the first bytes before
            // hyper's header timer starts: a connection that never sends
            // one is closed here instead.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(read)) if read > 0 => {}
                _ => return,
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            // A client that breaks off mid-request is not the server's error.
            let _ = watcher.watch(connection).await;
            drop(place);
        });
    }
    drop(listener);
    tracing::info!(
        open = graceful.count(),
        "stopped accepting; letting open requests finish"
    );
    if tokio::time::timeout(limits.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_s = limits.grace.as_secs_f64(),
            "connections still open after the grace period; stopping anyway"
        );
    }
}
