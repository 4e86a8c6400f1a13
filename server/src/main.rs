//! `wick`: serve a model as a web demo and an inference server, make and
//! deploy bundles, roll versions out. This file only wires the commands
//! together (`cli.rs` lists them).

use clap::Parser;
use wick_server::{cli, commands};

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WICK_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
                // symphonia logs each Ogg stream it opens at info.
                .unwrap_or_else(|_| "info,symphonia=warn".into()),
        )
        .init();
    match cli.command {
        cli::Command::Serve(args) => commands::serve::run(args),
        cli::Command::Bundle(args) => commands::bundle::run(args),
        cli::Command::Predict(args) => commands::predict::run(args),
        cli::Command::Feedback(args) => commands::feedback::run(args),
        cli::Command::Bench(args) => commands::bench::run(args),
        cli::Command::Deploy(args) => commands::deploy(args),
        cli::Command::Rollout(args) => commands::rollout::run(args),
        cli::Command::HashPassword => commands::hash_password::run(),
    }
}
