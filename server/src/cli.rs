//! The command line: `wick serve`, `wick bundle`, `wick predict`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "wick",
    version,
    about = "Serve a Candle model as a web demo and an inference API."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve bundles: the demo UI, the JSON API and health probes on one port.
    Serve(ServeArgs),
    /// Make a bundle (wick.toml + files + checksums) from a Hugging Face folder or hub id.
    Bundle(BundleArgs),
    /// Run one prediction and print the outputs as JSON, without a server.
    Predict(PredictArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// Bundle folders (each with a wick.toml).
    #[arg(required = true)]
    pub bundles: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "WICK_HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "WICK_PORT", default_value_t = 7860)]
    pub port: u16,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Run every model on this device (cpu, cuda, auto) instead of its wick.toml setting.
    #[arg(long)]
    pub device: Option<String>,
}

#[derive(Args)]
pub struct BundleArgs {
    /// The task the model performs (e.g. sentence-embedding).
    #[arg(long)]
    pub task: String,
    /// The model's name, as used in URLs.
    #[arg(long)]
    pub name: String,
    /// The model's version.
    #[arg(long, default_value = "1.0.0")]
    pub version: String,
    /// A Hugging Face style folder, or a hub id such as hf://org/model[@revision].
    pub source: String,
    /// Folder to write the bundle into.
    pub out_dir: PathBuf,
}

#[derive(Args)]
pub struct PredictArgs {
    /// The bundle folder.
    pub bundle: PathBuf,
    /// The endpoint to call (e.g. embed).
    pub endpoint: String,
    /// An input as name=value; repeat for each input. Lists take JSON
    /// (labels='["a","b"]') or commas (labels=a,b).
    #[arg(short = 'i', long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// All inputs as one JSON object instead of -i.
    #[arg(long, conflicts_with = "inputs")]
    pub json: Option<String>,
    /// Run on this device (cpu, cuda, auto) instead of the wick.toml setting.
    #[arg(long)]
    pub device: Option<String>,
}
