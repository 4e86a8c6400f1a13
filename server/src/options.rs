//! The options of serving: every `wick serve` flag but its bundles, with
//! the command line's defaults and environment variables. `Server` starts
//! from them (`ServeOptions::from_env`), so a library user's binary and
//! `wick serve` read the same `WICK_*` variables.

use std::path::PathBuf;

use clap::{Args, Parser};

/// Everything `wick serve` takes besides its bundles, each with the
/// default the command line has; `Server` (a library user's entry point)
/// starts from the same defaults (`ServeOptions::from_env`).
#[derive(Args, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    #[arg(long, env = "WICK_HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on (0 picks a free one) [default: $PORT, as hosts
    /// such as Cloud Run set it, else 7860].
    #[arg(long, env = "WICK_PORT", default_value_t = default_port(), hide_default_value = true)]
    pub port: u16,
    /// Largest request body accepted, in bytes; larger ones get 413.
    /// Default: 2 MiB, or room for the largest image or audio file a loaded
    /// model accepts, sent as a data URL.
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// Seconds a connection has to send its request headers; also how long
    /// an idle keep-alive connection stays open.
    #[arg(long, default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a request body has to arrive in full.
    #[arg(long, default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Most connections open at once; more are closed on arrival. Lowered
    /// to what the open-files limit allows. A few are kept for the probes.
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
    /// Most connections open at once from one client address (behind a
    /// proxy every client shares the proxy's). Default: a quarter of
    /// --max-connections.
    #[arg(long)]
    pub max_connections_per_address: Option<usize>,
    /// Megabytes that decoding images may hold at once, across requests;
    /// past it decodes wait, then get 429.
    #[arg(long, default_value_t = wick_engine::memory::DEFAULT_DECODE_BYTES >> 20)]
    pub decode_memory_mb: u64,
    /// Seconds open requests get to finish after SIGTERM before the
    /// process exits anyway.
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Serve no Model Context Protocol tools (`/mcp`, `/gradio_api/mcp/`):
    /// by default every endpoint is a tool for agents.
    #[arg(long)]
    pub no_mcp: bool,
    /// Also serve the Open Inference Protocol over gRPC on this port.
    #[arg(long, env = "WICK_GRPC_PORT")]
    pub grpc_port: Option<u16>,
    /// Seconds between SIGTERM and closing the port, while /readyz (and
    /// /v2/health/ready) answer 503 and requests are still served, so a
    /// load balancer stops sending new work first.
    #[arg(long, default_value_t = 0)]
    pub drain_secs: u64,
    /// Overrides of every bundle's `[serving]` settings.
    #[command(flatten)]
    pub serving: ServingArgs,
    /// Where feedback is kept.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Keep no feedback: no Flag button, and the flag API answers 404.
    #[arg(long, env = "WICK_NO_FEEDBACK", conflicts_with = "feedback_db")]
    pub no_feedback: bool,
    /// Token that opens /admin/feedback (as `Authorization: Bearer TOKEN` or
    /// through its sign-in form); the page is off without one.
    #[arg(long, env = "WICK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// A `user:password` who may use the demo; repeat or comma-separate
    /// (`WICK_AUTH`, e.g. a Space secret). With none (and no token) the demo
    /// is open to anyone with the URL.
    #[arg(long, env = "WICK_AUTH", value_delimiter = ',', hide_env_values = true)]
    pub auth: Vec<String>,
    /// A file of users who may use the demo, one `user:hash` a line (hashes
    /// from `wick hash-password`; plain passwords work too).
    #[arg(long, env = "WICK_AUTH_FILE")]
    pub auth_file: Option<PathBuf>,
    /// A bearer token API clients may send instead of signing in; repeat or
    /// comma-separate.
    #[arg(
        long,
        env = "WICK_AUTH_TOKEN",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub auth_token: Vec<String>,
    /// The address clients reach this server at (e.g.
    /// https://me-demo.hf.space), used in the API page's snippets; without
    /// it they use the host the browser sent, if it is a plain host name.
    #[arg(long, env = "WICK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Flags one client address may send per minute (the API and the
    /// Flag button alike); more get 429.
    #[arg(long, default_value_t = wick_feedback::FLAGS_PER_MINUTE)]
    pub max_flags_per_minute: u32,
    /// Megabytes of flagged images and audio one client address may send
    /// per minute; past them flags get 429.
    #[arg(long, default_value_t = wick_feedback::FLAG_BYTES_PER_MINUTE >> 20)]
    pub max_flag_mb_per_minute: u64,
    /// A site that may show the pages in a frame (its origin, e.g.
    /// https://huggingface.co); repeat or comma-separate. Only this origin
    /// by default.
    #[arg(long, env = "WICK_ALLOW_EMBED", value_delimiter = ',')]
    pub allow_embed: Vec<String>,
    /// An origin whose pages may call the API from a browser (CORS); repeat
    /// or comma-separate. None by default.
    #[arg(long, env = "WICK_CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origin: Vec<String>,
}

impl ServeOptions {
    /// The command line's defaults, and what the environment sets
    /// (`WICK_PORT`, `WICK_AUTH`, `WICK_DATA_DIR`…), as `wick serve` reads
    /// them. Fails only on an environment variable that does not parse
    /// (a `WICK_PORT` that is no port), naming it.
    pub fn from_env() -> anyhow::Result<ServeOptions> {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            options: ServeOptions,
        }
        Defaults::try_parse_from(["wick"])
            .map(|defaults| defaults.options)
            .map_err(|error| anyhow::anyhow!("{}", error.render()))
    }
}

/// `$PORT` when it holds a port, else Gradio's 7860.
fn default_port() -> u16 {
    std::env::var("PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(7860)
}

/// Overrides of every bundle's `[serving]` settings.
#[derive(Args, Clone, Debug, Default)]
pub struct ServingArgs {
    /// Run every model on this device (cpu, cuda, auto).
    #[arg(long)]
    pub device: Option<String>,
    /// Most inputs in one forward pass.
    #[arg(long)]
    pub max_batch_size: Option<usize>,
    /// Most work in one forward pass, in tokens for text (padded: the
    /// longest text × the texts).
    #[arg(long)]
    pub max_batch_tokens: Option<usize>,
    /// Longest a queued request waits for others to fill its batch, in ms.
    #[arg(long)]
    pub max_batch_delay_ms: Option<u64>,
    /// Most requests waiting per model; more are refused with 429.
    #[arg(long)]
    pub max_queue: Option<usize>,
    /// Longest a request may take, queueing included, before a 503, in ms.
    #[arg(long)]
    pub request_timeout_ms: Option<u64>,
    /// Most sets of inputs in one request; more are refused with 413.
    #[arg(long)]
    pub max_inputs_per_request: Option<usize>,
    /// Most characters of text in one request; more are refused with 413.
    #[arg(long)]
    pub max_input_chars: Option<usize>,
}

impl ServingArgs {
    /// Overrides `serving` with every option given.
    pub fn apply(&self, serving: &mut wick_engine::bundle::Serving) {
        if let Some(device) = &self.device {
            serving.device = device.clone();
        }
        if let Some(size) = self.max_batch_size {
            serving.max_batch_size = size;
        }
        if let Some(tokens) = self.max_batch_tokens {
            serving.max_batch_tokens = tokens;
        }
        if let Some(delay) = self.max_batch_delay_ms {
            serving.max_batch_delay_ms = delay;
        }
        if let Some(queue) = self.max_queue {
            serving.max_queue = queue;
        }
        if let Some(timeout) = self.request_timeout_ms {
            serving.request_timeout_ms = timeout;
        }
        if let Some(max) = self.max_inputs_per_request {
            serving.max_inputs_per_request = max;
        }
        if let Some(max) = self.max_input_chars {
            serving.max_input_chars = max;
        }
    }
}

/// Where feedback is kept; `wick serve` and `wick feedback` read the same.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Folder for the SQLite feedback file [default: /data when it exists
    /// and is writable, else ./wick-data].
    #[arg(long, env = "WICK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep feedback in Postgres instead (postgres://user:password@host/db),
    /// e.g. when several replicas share it.
    #[arg(long, env = "WICK_FEEDBACK_DB", hide_env_values = true)]
    pub feedback_db: Option<String>,
}
