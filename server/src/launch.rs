//! `Server`: one engine served as `wick serve` serves it — the UI, the
//! JSON API with SSE and multipart, OpenAI, Gradio's protocol, V2 over
//! REST (and gRPC when given a port), feedback, the admin page, metrics and
//! probes, with the same limits, timeouts and drain on SIGTERM. `wick
//! serve` is one of its users; a library user's binary is another:
//!
//! ```no_run
//! # async fn example(engine: wick_engine::Engine) -> anyhow::Result<()> {
//! wick_server::Server::new(engine).port(8080).serve().await
//! # }
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use wick_engine::Engine;

use crate::options::ServeOptions;

/// An engine and how to serve it; every option starts at `wick serve`'s
/// default (and what the environment sets: `WICK_PORT` or `PORT`,
/// `WICK_HOST`, `WICK_DATA_DIR`, `WICK_AUTH`…).
pub struct Server {
    engine: Arc<Engine>,
    options: anyhow::Result<ServeOptions>,
    created: Instant,
    on_listening: Option<Box<dyn FnOnce(SocketAddr) + Send>>,
    stop_when: Option<StopWhen>,
}

type StopWhen = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Server {
    /// `engine` with the default options.
    pub fn new(engine: impl Into<Arc<Engine>>) -> Server {
        Server {
            engine: engine.into(),
            options: ServeOptions::from_env(),
            created: Instant::now(),
            on_listening: None,
            stop_when: None,
        }
    }

    /// `engine` with `options`, as `wick serve` parsed them.
    pub fn with_options(engine: impl Into<Arc<Engine>>, options: ServeOptions) -> Server {
        Server {
            options: Ok(options),
            ..Server::new(engine)
        }
    }

    /// Counts the startup time it logs from `at` (before loading models).
    #[cfg(feature = "cli")]
    pub(crate) fn started_at(mut self, at: Instant) -> Server {
        self.created = at;
        self
    }

    /// Changes any option (see `ServeOptions`, one field per `wick serve`
    /// flag).
    pub fn configure(mut self, change: impl FnOnce(&mut ServeOptions)) -> Server {
        if let Ok(options) = &mut self.options {
            change(options);
        }
        self
    }

    /// The port (0 picks a free one; `on_listening` learns which).
    pub fn port(self, port: u16) -> Server {
        self.configure(|options| options.port = port)
    }

    /// The address to listen on (`0.0.0.0` by default; `127.0.0.1` keeps
    /// the server to this machine).
    pub fn host(self, host: impl Into<String>) -> Server {
        let host = host.into();
        self.configure(|options| options.host = host)
    }

    /// Also serves V2 over gRPC on `port`.
    pub fn grpc_port(self, port: u16) -> Server {
        self.configure(|options| options.grpc_port = Some(port))
    }

    /// The folder feedback (SQLite) and the routing between versions are
    /// kept in.
    pub fn data_dir(self, dir: impl Into<PathBuf>) -> Server {
        let dir = dir.into();
        self.configure(|options| options.store.data_dir = Some(dir))
    }

    /// Whether feedback is kept (in SQLite under the data dir, unless
    /// `configure` names a Postgres URL): on by default; off, the Flag
    /// button is not shown and the flag API answers 404.
    pub fn feedback(self, keep: bool) -> Server {
        self.configure(|options| options.no_feedback = !keep)
    }

    /// The token that opens the admin page and API (`/admin`).
    pub fn admin_token(self, token: impl Into<String>) -> Server {
        let token = token.into();
        self.configure(|options| options.admin_token = Some(token))
    }

    /// Calls `notice` with the address once the port is open (with port
    /// 0, the one picked).
    pub fn on_listening(mut self, notice: impl FnOnce(SocketAddr) + Send + 'static) -> Server {
        self.on_listening = Some(Box::new(notice));
        self
    }

    /// Also stops (as on SIGTERM: drain, then grace) when `stop` resolves.
    pub fn stop_when(
        mut self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Server {
        self.stop_when = Some(Box::pin(stop));
        self
    }

    /// `serve()` from a plain `main`: starts logging (`WICK_LOG` or
    /// `RUST_LOG`, info by default) and a multi-threaded async runtime,
    /// and serves until SIGINT or SIGTERM.
    pub fn launch(self) -> anyhow::Result<()> {
        crate::start_logging();
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?
            .block_on(self.serve())
    }

    /// Serves until SIGINT or SIGTERM (or `stop_when`), then drains and
    /// stops.
    pub async fn serve(self) -> anyhow::Result<()> {
        let options = self.options?;
        let engine = self.engine;
        // The split, shadow and versions loaded live come back as they were.
        let routing_file = wick_feedback::StoreConfig::data_dir(options.store.data_dir.as_deref())
            .join(crate::rollout::ROUTING_FILE);
        {
            let engine = engine.clone();
            let (routing_file, serving) = (routing_file.clone(), options.serving.clone());
            tokio::task::spawn_blocking(move || {
                crate::rollout::restore(&engine, &routing_file, &serving)
            })
            .await
            .context("restoring the routing stopped")??;
        }
        let stop = self
            .stop_when
            .unwrap_or_else(|| Box::pin(std::future::pending()));
        serve(
            engine,
            options,
            routing_file,
            self.created,
            self.on_listening,
            stop,
        )
        .await
    }
}

async fn serve(
    engine: Arc<Engine>,
    options: ServeOptions,
    routing_file: PathBuf,
    started: Instant,
    on_listening: Option<Box<dyn FnOnce(SocketAddr) + Send>>,
    stop_when: StopWhen,
) -> anyhow::Result<()> {
    if !crate::has_assets() {
        tracing::warn!(
            "this wick binary was built without its UI assets: pages render but do not hydrate; build with scripts/build"
        );
    }
    let store_config = match options.no_feedback {
        true => wick_feedback::StoreConfig::Off,
        false => crate::store::store_config(&options.store)?,
    };
    let store = crate::store::open_store(&store_config).await?.limit_flags(
        options.max_flags_per_minute,
        options.max_flag_mb_per_minute << 20,
    );
    let store = Arc::new(store);
    tracing::info!(store = store.describe(), "feedback is kept");
    let storage_warning = crate::store::space_storage::warning(&store_config);
    if let Some(warning) = &storage_warning {
        tracing::warn!("{warning}");
    }
    wick_engine::memory::DECODING.set_total(options.decode_memory_mb << 20);
    let credentials = {
        let mut credentials = crate::Credentials::parse(&options.auth, &options.auth_token)
            .map_err(anyhow::Error::msg)?;
        if let Some(file) = &options.auth_file {
            credentials.add_file(file).map_err(anyhow::Error::msg)?;
        }
        credentials
    };
    // One gate for both ports: the same secrets, the same count of wrong ones.
    let gate = crate::Gate::new(credentials.clone(), options.admin_token.clone());
    let app = crate::router_behind(
        gate.clone(),
        engine.clone(),
        store.clone(),
        crate::AdminSettings {
            token: options.admin_token.clone(),
            routing_file: Some(routing_file),
            serving: options.serving.clone(),
            storage_warning,
        },
        crate::BodyLimits {
            max_bytes: options
                .max_body_bytes
                .unwrap_or_else(|| crate::default_body_limit(engine.models().iter())),
            timeout: Duration::from_secs(options.body_timeout_secs),
        },
        crate::Security {
            allow_embed: options.allow_embed.clone(),
            cors_origins: options.cors_origin.clone(),
            public_url: options.public_url.clone(),
            auth: credentials,
            no_mcp: options.no_mcp,
        },
    );
    let listener = tokio::net::TcpListener::bind((options.host.as_str(), options.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", options.host, options.port))?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    // Tests and scripts read this line to find the port.
    println!("listening on http://{address}");
    tracing::info!(
        models = engine.models().len(),
        startup_ms = started.elapsed().as_millis() as u64,
        "Wick is serving at http://{address}"
    );
    if let Some(notice) = on_listening {
        notice(address);
    }
    let max_connections = crate::listen::connection_cap(options.max_connections);
    let limits = crate::listen::ConnectionLimits {
        header_timeout: Duration::from_secs(options.header_timeout_secs.max(1)),
        max_connections,
        per_address: options
            .max_connections_per_address
            .unwrap_or(max_connections / 4)
            .max(1),
        grace: Duration::from_secs(options.shutdown_grace_secs),
    };
    // SIGTERM: not ready at once, serving on for the drain, then both
    // ports stop accepting and what is open gets its grace.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let drain = Duration::from_secs(options.drain_secs);
    let grace = Duration::from_secs(options.shutdown_grace_secs);
    let draining = engine.clone();
    tokio::spawn(async move {
        shutdown_signal(stop_when).await;
        draining.start_draining();
        if !drain.is_zero() {
            tracing::info!(
                drain_s = drain.as_secs(),
                "not ready; still serving while traffic moves away"
            );
            tokio::time::sleep(drain).await;
        }
        let _ = stop.send(true);
        // Most of the grace for open requests to finish; then the streams
        // still open end with an error event, so no client sees a stream
        // cut without a last word, and their connections close in time.
        tokio::time::sleep(grace.mul_f64(0.8)).await;
        draining.stop_streams();
    });
    let when_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let grpc = match options.grpc_port {
        Some(port) => {
            let stop = when_stopped(stopped.clone());
            Some(serve_grpc(&options.host, port, engine.clone(), gate.clone(), stop).await?)
        }
        None => None,
    };
    crate::listen::serve(listener, app, limits, when_stopped(stopped)).await;
    if let Some(grpc) = grpc {
        let _ = tokio::time::timeout(grace, grpc).await;
    }
    store.close().await;
    Ok(())
}

/// The gRPC V2 service on its own port, behind the same gate as HTTP,
/// until `stop` resolves.
async fn serve_grpc(
    host: &str,
    port: u16,
    engine: Arc<Engine>,
    gate: Arc<crate::Gate>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .with_context(|| format!("cannot listen for gRPC on {host}:{port}"))?;
    let address = listener
        .local_addr()
        .context("cannot read the gRPC address")?;
    println!("grpc listening on {address}");
    tracing::info!("the Open Inference Protocol's gRPC service is at {address}");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    Ok(tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(crate::v2::grpc::service(engine, gate))
            .serve_with_incoming_shutdown(incoming, stop)
            .await;
        if let Err(error) = served {
            tracing::error!("the gRPC service stopped: {error}");
        }
    }))
}

async fn shutdown_signal(stop_when: StopWhen) {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
        _ = stop_when => {},
    }
    tracing::info!("shutting down");
}
