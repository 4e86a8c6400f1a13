//! `wick serve`: load the bundles, then answer the UI, the JSON API and the
//! probes on one port until SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Load before opening the port: /readyz answers only once every model
    // is ready, and a bundle that fails its checks never serves.
    let engine = Arc::new(super::load_engine(&args.bundles, &args.serving)?);
    // The split, shadow and versions loaded live come back as they were.
    let routing_file = wick_feedback::StoreConfig::data_dir(args.store.data_dir.as_deref())
        .join(crate::rollout::ROUTING_FILE);
    crate::rollout::restore(&engine, &routing_file, &args.serving)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(engine, args, routing_file, started))
}

async fn serve(
    engine: Arc<wick_engine::Engine>,
    args: ServeArgs,
    routing_file: std::path::PathBuf,
    started: Instant,
) -> anyhow::Result<()> {
    if !crate::has_assets() {
        tracing::warn!(
            "this wick binary was built without its UI assets: pages render but do not hydrate; build with scripts/build"
        );
    }
    let store_config = super::store_config(&args.store)?;
    let store = super::open_store(&store_config)
        .await?
        .limit_flags(args.max_flags_per_minute, args.max_flag_mb_per_minute << 20);
    let store = Arc::new(store);
    tracing::info!(store = store.describe(), "feedback is kept");
    let storage_warning = super::space_storage::warning(&store_config);
    if let Some(warning) = &storage_warning {
        tracing::warn!("{warning}");
    }
    wick_engine::memory::DECODING.set_total(args.decode_memory_mb << 20);
    let credentials = {
        let mut credentials =
            crate::Credentials::parse(&args.auth, &args.auth_token).map_err(anyhow::Error::msg)?;
        if let Some(file) = &args.auth_file {
            credentials.add_file(file).map_err(anyhow::Error::msg)?;
        }
        credentials
    };
    // One gate for both ports: the same secrets, the same count of wrong ones.
    let gate = crate::Gate::new(credentials.clone(), args.admin_token.clone());
    let app = crate::router_behind(
        gate.clone(),
        engine.clone(),
        store.clone(),
        crate::AdminSettings {
            token: args.admin_token.clone(),
            routing_file: Some(routing_file),
            serving: args.serving.clone(),
            storage_warning,
        },
        crate::BodyLimits {
            max_bytes: args
                .max_body_bytes
                .unwrap_or_else(|| crate::default_body_limit(engine.models().iter())),
            timeout: Duration::from_secs(args.body_timeout_secs),
        },
        crate::Security {
            allow_embed: args.allow_embed.clone(),
            cors_origins: args.cors_origin.clone(),
            public_url: args.public_url.clone(),
            auth: credentials,
        },
    );
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
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
    let max_connections = crate::listen::connection_cap(args.max_connections);
    let limits = crate::listen::ConnectionLimits {
        header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
        max_connections,
        per_address: args
            .max_connections_per_address
            .unwrap_or(max_connections / 4)
            .max(1),
        grace: Duration::from_secs(args.shutdown_grace_secs),
    };
    // SIGTERM: not ready at once, serving on for the drain, then both
    // ports stop accepting and what is open gets its grace.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let drain = Duration::from_secs(args.drain_secs);
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let draining = engine.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
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
    let grpc = match args.grpc_port {
        Some(port) => {
            let stop = when_stopped(stopped.clone());
            Some(serve_grpc(&args.host, port, engine.clone(), gate.clone(), stop).await?)
        }
        None => None,
    };
    crate::listen::serve(listener, app, limits, when_stopped(stopped)).await;
    if let Some(grpc) = grpc {
        let grace = Duration::from_secs(args.shutdown_grace_secs);
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
    engine: Arc<wick_engine::Engine>,
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

async fn shutdown_signal() {
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
    }
    tracing::info!("shutting down");
}
