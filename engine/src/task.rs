//! The `Task` trait: what a model must do to be served by Wick.
//!
//! A task declares its endpoints as values of its own type (an enum it
//! matches exhaustively), prepares each request on the caller's side
//! (tokenizing, decoding: typed work of its own type, not `dyn Any`), and
//! runs batches of prepared requests on the model's worker. While it runs,
//! it may emit partial outputs for a request (tokens of a generated text,
//! segments of a transcript) and learn that the request's caller went
//! away, so it can stop. Every adapter relays those partial outputs the
//! same way.
//!
//! Users with their own Candle model implement `Task` and hand it to
//! `Engine::add_model`: the UI and the APIs come for free. This module
//! knows no implementation; the tasks Wick ships are listed in `tasks`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use wick_types::{Endpoint, Values};

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::stream::Sink;

/// What a model must do to be served: its endpoints with their
/// signatures, per-request preparation, and batched runs (see the module).
pub trait Task: Send + Sync + 'static {
    /// The endpoints, as values (an enum) the task matches exhaustively.
    /// Wick turns an endpoint's name into this value once, when a request
    /// arrives.
    type Endpoint: Copy + Eq + Debug + Send + Sync + 'static;
    /// One request after `prepare`: whatever `run` needs of it.
    type Request: Send + 'static;

    /// Every endpoint, with its description and signature.
    fn endpoints(&self) -> Vec<(Self::Endpoint, Endpoint)>;

    /// Per-request work done before batching, off the model's worker and
    /// off the async runtime (tokenizing, decoding). `inputs` were checked
    /// against the endpoint's signature.
    fn prepare(&self, endpoint: Self::Endpoint, inputs: Values) -> Result<Prepared<Self::Request>>;

    /// Runs a batch of prepared requests of one endpoint and returns each
    /// one's final outputs, in order. The batch is never empty. A request
    /// whose caller went away (`Item::cancelled`) may be answered with
    /// anything: nobody reads it.
    fn run(&self, endpoint: Self::Endpoint, batch: &[Item<Self::Request>]) -> Result<Vec<Values>>;
}

/// One request's work after `Task::prepare`.
pub struct Prepared<R> {
    /// What `run` needs of the request.
    pub request: R,
    /// The request's cost for grouping (e.g. its longest text in tokens),
    /// so the batcher can run requests of similar size together.
    pub size: usize,
}

impl<R> Prepared<R> {
    /// A prepared request of cost `size`.
    pub fn new(request: R, size: usize) -> Prepared<R> {
        Prepared { request, size }
    }
}

/// One request in a batch: its prepared work, and the way back to its
/// caller for partial outputs.
pub struct Item<R> {
    /// What `Task::prepare` made of the request.
    pub request: R,
    sink: Sink,
}

impl<R> Item<R> {
    pub(crate) fn new(request: R, sink: Sink) -> Item<R> {
        Item { request, sink }
    }

    /// Sends a partial output (e.g. `{"text": "next tokens"}`) to the
    /// caller now. Returns false when the caller went away: stop working
    /// on this request.
    pub fn emit(&self, partial: Values) -> bool {
        self.sink.emit(partial)
    }

    /// Whether the caller went away (a closed stream, a dropped request).
    pub fn cancelled(&self) -> bool {
        self.sink.cancelled()
    }
}

/// A task of any type, as the engine keeps it: the endpoints by name and
/// a scheduler to start. Every `Task` is one; nobody implements it by hand.
pub trait AnyTask: Send + Sync + 'static {
    /// The endpoints' names, descriptions and signatures.
    fn signatures(&self) -> Vec<Endpoint>;

    /// Prepares and runs `batch` on the calling thread, with no scheduler
    /// and no caller to stream to (tests, scripts). The inputs must
    /// already fit the endpoint's signature.
    fn predict(&self, endpoint: &str, batch: &[Values]) -> Result<Vec<Values>> {
        self.prepared(endpoint, batch)?()
    }

    /// Prepares `batch` once and returns what runs it, as often as called:
    /// the forward pass alone, for benchmarks.
    fn prepared<'a>(
        &'a self,
        endpoint: &str,
        batch: &[Values],
    ) -> Result<Box<dyn FnMut() -> Result<Vec<Values>> + 'a>>;

    /// Starts this task's scheduler (see `scheduler`).
    fn schedule(
        self: Arc<Self>,
        model: &str,
        version: &str,
        serving: &crate::bundle::Serving,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Box<dyn Submit>>;
}

/// The events of one request, as the worker sends them.
pub type Reply = tokio::sync::mpsc::UnboundedReceiver<crate::stream::Event>;

/// A loaded task's scheduler, as the engine keeps it (`scheduler` for a
/// `Task`, `continuous` for a `StepTask`).
pub trait Submit: Send + Sync {
    /// Prepares `inputs` (already checked against the signature) for the
    /// task's endpoint number `endpoint` and queues them; refuses at once
    /// when the queue is full. Preparing is CPU work: call it off the
    /// async runtime.
    fn submit(&self, endpoint: usize, inputs: Vec<Values>, deadline: Instant) -> Result<Reply>;

    /// Requests waiting for the worker now.
    fn depth(&self) -> usize;
}

/// `Task::prepare`, with a panic reported as a failed inference.
pub(crate) fn prepare<T: Task>(
    task: &T,
    endpoint: T::Endpoint,
    inputs: Values,
) -> Result<Prepared<T::Request>> {
    without_panics(|| task.prepare(endpoint, inputs))
}

/// Runs a task's `prepare`, reporting a panic as a failed inference.
pub(crate) fn without_panics<R>(
    prepare: impl FnOnce() -> Result<Prepared<R>>,
) -> Result<Prepared<R>> {
    catch_unwind(AssertUnwindSafe(prepare)).unwrap_or_else(|_| {
        Err(Error::Inference(
            "the task panicked preparing inputs".into(),
        ))
    })
}

/// "embed, similarity, classify", for error messages.
pub(crate) fn endpoint_names<'a>(endpoints: impl Iterator<Item = &'a Endpoint>) -> String {
    endpoints
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How Wick makes a bundle of a task from a Hugging Face folder and loads it.
pub struct TaskKind {
    /// The name bundles give in `wick.toml`'s `task`.
    pub name: &'static str,
    /// Files a bundle of this task must have.
    pub required_files: &'static [&'static str],
    /// Files copied into a bundle when the source has them.
    pub optional_files: &'static [&'static str],
    /// Task settings and examples for a new bundle, read from the source
    /// folder's own configuration where it has any.
    pub defaults: fn(source: &Path) -> Result<TaskDefaults>,
    /// Makes files a bundle needs that the source lacks (a GGUF's
    /// `tokenizer.json`), writing them into the new bundle's folder and
    /// adding them to `files` (bundle name → path).
    pub derive: Option<DeriveFiles>,
    /// Loads a bundle (its files already hash-checked) on a device.
    pub load: fn(bundle: &Bundle, device: &Device) -> Result<Arc<dyn AnyTask>>,
}

/// See `TaskKind::derive`.
pub type DeriveFiles = fn(files: &mut BTreeMap<String, PathBuf>, out_dir: &Path) -> Result<()>;

/// What `TaskKind::defaults` gives a new bundle.
#[derive(Debug, Default)]
pub struct TaskDefaults {
    /// The bundle's `[settings]`.
    pub settings: toml::Table,
    /// Examples per endpoint.
    pub examples: BTreeMap<String, Vec<serde_json::Map<String, serde_json::Value>>>,
}

impl TaskDefaults {
    /// These defaults with `inputs` (a JSON object) as an example of
    /// `endpoint`.
    pub fn with_example(mut self, endpoint: &str, inputs: serde_json::Value) -> TaskDefaults {
        if let serde_json::Value::Object(inputs) = inputs {
            self.examples
                .entry(endpoint.to_string())
                .or_default()
                .push(inputs);
        }
        self
    }
}

/// The tasks an engine loads bundles of, by the name a bundle's
/// `wick.toml` gives: Wick's own (`tasks::builtin`) and any a user's binary
/// adds. Handed to the engine (`Engine::with_tasks`), which knows no task
/// of its own.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: Vec<&'static TaskKind>,
}

impl Registry {
    /// No tasks.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// This registry and `kind` (in place of a kind of the same name).
    pub fn with(mut self, kind: &'static TaskKind) -> Registry {
        self.kinds.retain(|known| known.name != kind.name);
        self.kinds.push(kind);
        self
    }

    /// The task a bundle names, or an error listing the known ones.
    pub fn find(&self, name: &str) -> Result<&'static TaskKind> {
        self.kinds
            .iter()
            .find(|kind| kind.name == name)
            .copied()
            .ok_or_else(|| Error::UnknownTask {
                task: name.to_string(),
                known: self.names().join(", "),
            })
    }

    /// The tasks' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|kind| kind.name).collect()
    }
}
