//! The command line, its eight commands: `wick serve` (the demo and every
//! protocol on one port), `wick bundle`, `wick predict`, `wick feedback`
//! (export the flags), `wick bench`, `wick deploy` (a Hugging Face Space or
//! Kubernetes/KServe manifests), `wick rollout` (the admin API's client) and
//! `wick hash-password`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::options::{ServeOptions, ServingArgs, StoreArgs};

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
    /// Serve bundles: the demo UI, the JSON, OpenAI, Gradio and V2 APIs,
    /// metrics and health probes on one port (gRPC V2 on another).
    Serve(ServeArgs),
    /// Make a bundle (wick.toml + files + checksums) from a Hugging Face folder or hub id.
    Bundle(BundleArgs),
    /// Run one prediction and print the outputs as JSON, without a server.
    Predict(PredictArgs),
    /// Work with the flags people left on predictions.
    Feedback(FeedbackArgs),
    /// Measure throughput and latency: in process, then over HTTP.
    Bench(BenchArgs),
    /// Package bundles to run elsewhere.
    Deploy(DeployArgs),
    /// Roll a new version out on a running server: load, split, shadow,
    /// promote, roll back, unload (its admin API, WICK_ADMIN_TOKEN).
    Rollout(RolloutArgs),
    /// Print an Argon2id hash of the password read from standard input, for
    /// a `user:hash` line of `wick serve --auth-file`.
    HashPassword,
}

#[derive(Args)]
pub struct RolloutArgs {
    /// The server.
    #[arg(long, default_value = "http://127.0.0.1:7860")]
    pub url: String,
    /// Its admin token.
    #[arg(long, env = "WICK_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: RolloutCommand,
}

#[derive(Subcommand)]
pub enum RolloutCommand {
    /// The model's versions, their shares of traffic, the shadow and the
    /// version a rollback returns to.
    Status { model: String },
    /// Load a bundle (hash-checked) as a new version with no traffic; its
    /// signature must serve the current clients unless --force.
    Load {
        bundle: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Split the traffic: VERSION=WEIGHT for each version that gets some
    /// (e.g. 1.0.0=90 1.1.0=10); versions not named get none.
    Split {
        model: String,
        #[arg(required = true, value_name = "VERSION=WEIGHT")]
        weights: Vec<String>,
    },
    /// Send a copy of PERCENT % of the requests to VERSION, compare its
    /// answers and drop them (0 stops).
    Shadow {
        model: String,
        version: String,
        percent: f64,
    },
    /// All traffic to VERSION.
    Promote { model: String, version: String },
    /// All traffic back to the version that served alone before the
    /// newest candidate was loaded.
    Rollback { model: String },
    /// Take VERSION out of the traffic and unload it once its requests end.
    Unload { model: String, version: String },
}

#[derive(Args)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub command: DeployCommand,
}

#[derive(Subcommand)]
pub enum DeployCommand {
    /// Write a Hugging Face Space (Docker SDK): Dockerfile, README front
    /// matter, .dockerignore, the bundles and the wick binary.
    Space(SpaceArgs),
    /// Write Kubernetes manifests (Deployment, Service, autoscaler,
    /// disruption budget) and KServe ones (ServingRuntime,
    /// InferenceService) for the bundles, run from the Space image.
    K8s(K8sArgs),
}

#[derive(Args)]
pub struct K8sArgs {
    /// Folder to write kubernetes.yaml, kserve.yaml and README.md into.
    pub out_dir: PathBuf,
    /// Bundle folders the image serves (checked, not copied).
    #[arg(required = true)]
    pub bundles: Vec<PathBuf>,
    /// The image: the one `wick deploy space` builds, pushed to your
    /// registry [default: NAME:latest].
    #[arg(long)]
    pub image: Option<String>,
    /// Name of the Deployment, Service and InferenceService [default: the
    /// first bundle's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Replicas to start with, and the autoscaler's floor.
    #[arg(long, default_value_t = 2)]
    pub replicas: u32,
    /// The autoscaler's ceiling.
    #[arg(long, default_value_t = 10)]
    pub max_replicas: u32,
    /// CPU each replica requests (its limit too).
    #[arg(long, default_value = "2")]
    pub cpu: String,
    /// Memory each replica requests (its limit too).
    #[arg(long, default_value = "2Gi")]
    pub memory: String,
    /// Where KServe fetches the first bundle from (a folder with wick.toml):
    /// s3://, gs://, pvc://…
    #[arg(long, default_value = "pvc://wick-bundles/BUNDLE")]
    pub storage_uri: String,
}

#[derive(Args)]
pub struct SpaceArgs {
    /// Folder to write the Space into.
    pub out_dir: PathBuf,
    /// Bundle folders to serve (hashes are checked before copying).
    #[arg(required = true)]
    pub bundles: Vec<PathBuf>,
    /// Space title [default: the first bundle's title].
    #[arg(long)]
    pub title: Option<String>,
    /// Space emoji.
    #[arg(long, default_value = "🕯️")]
    pub emoji: String,
    /// Gradient start colour (red, yellow, green, blue, indigo, purple, pink, gray).
    #[arg(long, default_value = "yellow")]
    pub color_from: String,
    /// Gradient end colour.
    #[arg(long, default_value = "red")]
    pub color_to: String,
    /// One line for the Space card (60 characters at most) [default: the
    /// first bundle's description].
    #[arg(long)]
    pub short_description: Option<String>,
    /// Hugging Face model ids to list besides the bundles' own `hub_id`.
    #[arg(long = "model")]
    pub models: Vec<String>,
    /// The wick binary to ship in bin/wick [default: this one].
    #[arg(long, conflicts_with = "source")]
    pub binary: Option<PathBuf>,
    /// A Wick git checkout to copy into wick-src/, so the image compiles
    /// wick in a Rust image instead of shipping a binary.
    #[arg(long)]
    pub source: Option<PathBuf>,
    /// Where the Space keeps feedback: the path a storage bucket is
    /// mounted at in the Space's settings. Without a bucket there, the
    /// server warns that feedback is lost at restart.
    #[arg(long, default_value = "/data")]
    pub feedback_dir: PathBuf,
}

#[derive(Args, Clone)]
pub struct BenchArgs {
    /// The bundle to measure.
    pub bundle: PathBuf,
    /// The endpoint to drive (one text or image input) [default: the
    /// model's first].
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Drive this running server (e.g. http://127.0.0.1:7860) instead of starting one.
    #[arg(long)]
    pub url: Option<String>,
    /// Concurrent clients, one cell each.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4, 16, 64])]
    pub concurrency: Vec<usize>,
    /// Text lengths in tokens, one cell each (text endpoints).
    #[arg(long, value_delimiter = ',', default_values_t = [16, 128])]
    pub tokens: Vec<usize>,
    /// Most seconds per cell.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Most requests per cell.
    #[arg(long, default_value_t = 3000)]
    pub requests: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Only the model's forward pass, in this process: sentences (or
    /// images) per second per text length, batch size (1, 8, 32) and
    /// thread count (1, 2).
    #[arg(long)]
    pub in_process: bool,
    /// Internal: measure the forward pass with this many threads.
    #[arg(long, hide = true)]
    pub forward_threads: Option<usize>,
    #[command(flatten)]
    pub serving: ServingArgs,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Bundle folders (each with a wick.toml).
    #[arg(required = true)]
    pub bundles: Vec<PathBuf>,
    #[command(flatten)]
    pub options: ServeOptions,
}

#[derive(Args)]
pub struct FeedbackArgs {
    #[command(subcommand)]
    pub command: FeedbackCommand,
}

#[derive(Subcommand)]
pub enum FeedbackCommand {
    /// Write the stored flags as CSV (Gradio's flagged-dataset columns) or JSON lines.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    /// Only flags on this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Only flags on this version of the model.
    #[arg(long)]
    pub version: Option<String>,
    /// Only flags from this UTC time on (2026-11-28, 2026-11-28T09:30:00Z) or this recent (24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// csv or jsonl.
    #[arg(long, default_value = "csv")]
    pub format: wick_feedback::Format,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Where to write the images and audio clips the flags name (their
    /// cells say `files/NAME`). Default: a `files` folder beside --output;
    /// none when writing to standard output.
    #[arg(long)]
    pub files_dir: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct BundleArgs {
    /// The task the model performs (e.g. sentence-embedding); when absent,
    /// read from the model's own files (config.json's architectures,
    /// sentence-transformers' files, a .gguf).
    #[arg(long)]
    pub task: Option<String>,
    /// The model's name, as used in URLs.
    #[arg(long)]
    pub name: String,
    /// The model's version.
    #[arg(long, default_value = "1.0.0")]
    pub version: String,
    /// A Hugging Face style folder, a hub id such as hf://org/model[@revision],
    /// or a GGUF file for text-generation (its tokenizer.json is built from it).
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
