//! `wick serve`: load the bundles, then serve them (`Server`) until SIGINT
//! or SIGTERM.

use std::time::Instant;

use wick_engine::Registry;

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs, tasks: Registry) -> anyhow::Result<()> {
    let started = Instant::now();
    // Load before opening the port: /readyz answers only once every model
    // is ready, and a bundle that fails its checks never serves.
    let engine = super::load_engine(&args.bundles, &args.options.serving, tasks)?;
    crate::Server::with_options(engine, args.options)
        .started_at(started)
        .launch()
}
