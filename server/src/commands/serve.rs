//! `wick serve`: load the bundles, then serve them (`Server`) until SIGINT
//! or SIGTERM.

use std::time::Instant;

use anyhow::Context;
use wick_engine::Registry;

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs, tasks: Registry) -> anyhow::Result<()> {
    let started = Instant::now();
    // Load before opening the port: /readyz answers only once every model
    // is ready, and a bundle that fails its checks never serves.
    let engine = super::load_engine(&args.bundles, &args.options.serving, tasks)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let server = crate::Server::with_options(engine, args.options).started_at(started);
    runtime.block_on(server.serve())
}
