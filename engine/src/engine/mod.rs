//! The `Engine`: the loaded models and the one prediction path.
//!
//! Every adapter — the UI's server functions, the JSON API, the CLI — calls
//! `Engine::stream` (or `Engine::predict`, which reads the stream to its
//! end). It picks the model version that answers (pinned, or by the
//! model's `Routing`, sticky per client), then, on a blocking thread
//! rather than the async runtime, checks the inputs against the signature
//! and prepares them (tokenizing), and hands them to that version's
//! scheduler, which batches them with other requests on its worker thread.
//! A share of the requests may also go to a shadow version, whose answer
//! is compared and dropped. Every request is counted in the engine's
//! metrics, by outcome.
//!
//! Versions are loaded, split, promoted, rolled back and unloaded while
//! requests flow: the table is behind a lock held only to look a version
//! up, and a request keeps the version it was given until it ends.
//!
//! One concern a file: this one is the registry of served models and the
//! prediction path; `registry` loads and adds models (and checks their
//! examples and endpoint names), `rollout` changes a model's versions and
//! routing, `admission` checks a request and queues it on its version.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use candle_core::Device;
use lru::LruCache;
use serde::Serialize;
use sha2::{Digest, Sha256};
use wick_types::{
    Endpoint, Example, Field, FieldError, Media, ModelInfo, Values, validate_inputs,
    validate_inputs_with,
};

use crate::bundle::{Bundle, Manifest};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::routing::{Routing, Shadow};
use crate::stream::{Prediction, PredictionStream, Record};
use crate::task::{AnyTask, Registry, Submit, endpoint_names};

mod admission;
mod registry;
mod rollout;
#[cfg(test)]
mod tests;

pub use registry::device;
pub use rollout::{RolloutStatus, SavedRouting, VersionStatus, incompatibility};

/// Endpoint names that would shadow a route of the API or the UI
/// (`/api/models/{model}/feedback`, `/m/{model}/api`).
pub const RESERVED_ENDPOINTS: &[&str] = &["feedback", "api"];

/// Clients whose version is remembered per model, so that a weight change
/// that keeps their version keeps them on it.
const STICKY_CLIENTS: usize = 100_000;

pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// One set of inputs as an adapter hands it over: the JSON values, and the
/// files that arrived as bytes (a multipart part, a Gradio upload, a V2
/// tensor) by input name — kept as bytes with their type, never encoded
/// into a `data:` URL to be decoded again. A `data:` URL in the JSON (the
/// JSON API's and the UI's wire form) is parsed once, when checked.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub json: JsonObject,
    pub media: BTreeMap<String, Media>,
}

/// One input's value as an adapter has it: JSON, or a file as bytes.
#[derive(Clone, Debug)]
pub enum Input {
    Json(serde_json::Value),
    File(Media),
}

impl Inputs {
    /// Sets input `name` (a file replaces a JSON value and the reverse).
    pub fn insert(&mut self, name: String, value: Input) {
        match value {
            Input::Json(json) => {
                self.media.remove(&name);
                self.json.insert(name, json);
            }
            Input::File(media) => {
                self.json.remove(&name);
                self.media.insert(name, media);
            }
        }
    }
}

impl From<JsonObject> for Inputs {
    fn from(json: JsonObject) -> Inputs {
        Inputs {
            json,
            media: BTreeMap::new(),
        }
    }
}

/// The models being served, each with its versions.
#[derive(Default)]
pub struct Engine {
    models: RwLock<Vec<Served>>,
    metrics: Arc<Metrics>,
    /// Set when the process is asked to stop: readiness says no, so that
    /// load balancers send new work elsewhere, while requests still run.
    draining: std::sync::atomic::AtomicBool,
    /// Set when the stop's grace is nearly over: every stream still open
    /// ends with an error its caller can relay (`stop_streams`).
    stopping: Stopping,
    /// The tasks bundles may name (the engine knows none of its own).
    tasks: Registry,
}

/// `stop_streams`' signal: each `PredictionStream` holds a receiver.
struct Stopping(tokio::sync::watch::Sender<bool>);

impl Default for Stopping {
    fn default() -> Self {
        Stopping(tokio::sync::watch::Sender::new(false))
    }
}

/// One model name: its loaded versions and how traffic is split.
struct Served {
    name: String,
    /// In the order they were loaded.
    versions: Vec<Arc<Version>>,
    routing: Routing,
    /// A client's hash → the version it was given.
    sticky: Mutex<LruCache<u64, String>>,
}

/// One loaded version of a model, with its own scheduler and worker.
struct Version {
    info: ModelInfo,
    scheduler: Option<Box<dyn Submit>>,
    timeout: Duration,
    max_inputs: usize,
    max_chars: usize,
    /// Files that examples name (an example photo), by their bundle path.
    example_files: BTreeMap<String, ExampleFile>,
    /// The bundle folder it was loaded from, if any.
    source: Option<PathBuf>,
}

/// Who is asking, for choosing the version that answers.
#[derive(Clone, Debug, Default)]
pub struct Route {
    /// This version and no other (`"version"` in the body, a header, a
    /// reviewer's pick); it may have no share of the traffic.
    pub version: Option<String>,
    /// Who the client is (a cookie, a header, an address): the same client
    /// gets the same version while that version has traffic.
    pub client: Option<String>,
}

impl Route {
    /// Any version, by the weights alone.
    pub fn any() -> Route {
        Route::default()
    }

    pub fn pinned(version: Option<&str>) -> Route {
        Route {
            version: version.map(String::from),
            client: None,
        }
    }
}

/// Who sent a request, as the adapter identified them (a header, a
/// cookie, an address): put in the request's extensions by the server.
#[derive(Clone, Debug)]
pub struct ClientId(pub String);

/// A bundle file an example names, served for the UI's thumbnails.
#[derive(Clone, Debug)]
pub struct ExampleFile {
    pub path: PathBuf,
    pub media_type: &'static str,
}

impl Engine {
    /// An engine that loads bundles of the tasks `tasks` knows (models of
    /// any task can be added with `add_model` regardless). `Engine::new`
    /// is this with Wick's own tasks.
    pub fn with_tasks(tasks: Registry) -> Engine {
        Engine {
            tasks,
            ..Engine::default()
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Served>> {
        self.models.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Served>> {
        self.models.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A file an example of `model` names (`examples/cat.png`), if any.
    pub fn example_file(&self, model: &str, path: &str) -> Option<ExampleFile> {
        let models = self.read();
        let served = models.iter().find(|m| m.name == model)?;
        served
            .versions
            .iter()
            .find_map(|v| v.example_files.get(path).cloned())
    }

    /// File `name` of the bundle a version of `model` was loaded from
    /// (its primary version when `version` is `None`), if that bundle has
    /// it: e.g. `tokenizer.json`, for TEI's `/tokenize`.
    pub fn bundle_file(&self, model: &str, version: Option<&str>, name: &str) -> Option<PathBuf> {
        let models = self.read();
        let served = models.iter().find(|m| m.name == model)?;
        let version = match version {
            Some(version) => served.version(version)?,
            None => served.primary(),
        };
        let path = version.source.as_ref()?.join(name);
        path.is_file().then_some(path)
    }

    /// The loaded models, in the order they were loaded: each as its
    /// primary version (the one with the largest share) describes it,
    /// with every loaded version listed.
    pub fn models(&self) -> Vec<ModelInfo> {
        self.read().iter().map(Served::describe).collect()
    }

    pub fn model(&self, name: &str) -> Option<ModelInfo> {
        self.read()
            .iter()
            .find(|m| m.name == name)
            .map(Served::describe)
    }

    /// One loaded version of a model, described by itself.
    pub fn model_version(&self, name: &str, version: &str) -> Option<ModelInfo> {
        let models = self.read();
        let served = models.iter().find(|m| m.name == name)?;
        let mut info = served.version(version)?.info.clone();
        info.versions = served.version_names();
        Some(info)
    }

    /// The Prometheus exposition of every model's metrics.
    pub fn metrics_text(&self) -> String {
        let queues: Vec<(String, String, usize)> = self
            .read()
            .iter()
            .flat_map(|served| served.versions.iter())
            .map(|v| (v.info.name.clone(), v.info.version.clone(), v.depth()))
            .collect();
        self.metrics.render(&queues)
    }

    /// From now on the engine reports itself not ready (it still serves).
    pub fn start_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Ends every open stream now with `Unavailable` ("the server is
    /// shutting down"), so that each adapter sends its caller a last error
    /// event before the connections close; streams opened later end at
    /// once the same way.
    pub fn stop_streams(&self) {
        self.stopping.0.send_replace(true);
    }

    /// Whether new work should go elsewhere: the process is stopping.
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The serving metrics, with the recent requests per version and the
    /// shadows' comparisons.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Checks `inputs` against the endpoint's signature, runs them through
    /// the scheduler of the version `route` picks and waits for the final
    /// outputs, within that version's `request_timeout_ms`.
    pub async fn predict(
        &self,
        model: &str,
        route: &Route,
        endpoint: &str,
        inputs: Vec<impl Into<Inputs>>,
    ) -> Result<Prediction> {
        let mut stream = self.stream(model, route, endpoint, inputs).await?;
        let deadline = stream.started() + stream.timeout();
        match tokio::time::timeout_at(deadline.into(), stream.finish()).await {
            Ok(answered) => answered,
            Err(_) => Err(stream.fail(Error::Timeout)),
        }
    }

    /// As `predict`, but answers with the stream of the request's partial
    /// outputs and its final outputs. The request waits in the queue at
    /// most `request_timeout_ms`; once it runs, it runs until the task is
    /// done or the stream is dropped.
    pub async fn stream(
        &self,
        model: &str,
        route: &Route,
        endpoint: &str,
        inputs: Vec<impl Into<Inputs>>,
    ) -> Result<PredictionStream> {
        let inputs: Vec<Inputs> = inputs.into_iter().map(Into::into).collect();
        let (version, shadow) = self.route(model, route)?;
        // Into the caller's span, if it has these fields (the server's
        // request span does): which model, version and endpoint answer.
        tracing::Span::current()
            .record("model", model)
            .record("version", version.info.version.as_str())
            .record("endpoint", endpoint);
        let copy = shadow.is_some().then(|| inputs.clone());
        let mut stream = version.submit(&self.metrics, endpoint, inputs).await?;
        stream.end_when(self.stopping.0.subscribe());
        let (Some(shadow), Some(copy)) = (shadow, copy) else {
            return Ok(stream);
        };
        let serving = stream.tap();
        let metrics = self.metrics.clone();
        let endpoint = endpoint.to_string();
        tokio::spawn(async move {
            let answer = match shadow.submit(&metrics, &endpoint, copy).await {
                Ok(mut stream) => {
                    let deadline = stream.started() + stream.timeout();
                    tokio::time::timeout_at(deadline.into(), stream.finish()).await
                }
                Err(error) => Ok(Err(error)),
            };
            let info = &shadow.info;
            match answer {
                Ok(Ok(shadowed)) => {
                    if let Ok(served) = serving.await {
                        metrics.shadows.compare(
                            &info.name,
                            &info.version,
                            &endpoint,
                            &served,
                            &shadowed.outputs,
                        );
                    }
                }
                _ => metrics.shadows.failed(&info.name, &info.version),
            }
        });
        Ok(stream)
    }

    /// The version that answers, and the shadow that gets a copy, if any.
    fn route(&self, model: &str, route: &Route) -> Result<(Arc<Version>, Option<Arc<Version>>)> {
        let models = self.read();
        let served = models
            .iter()
            .find(|m| m.name == model)
            .ok_or_else(|| Error::UnknownModel(model.to_string()))?;
        if let Some(version) = &route.version {
            let pinned = served
                .version(version)
                .ok_or_else(|| Error::UnknownVersion {
                    model: model.to_string(),
                    version: version.clone(),
                    loaded: served.version_names().join(", "),
                })?;
            return Ok((pinned.clone(), None));
        }
        let chosen = served.pick(route.client.as_deref());
        let version = served
            .version(&chosen)
            .ok_or_else(|| Error::Unavailable(format!("model `{model}` has no version serving")))?
            .clone();
        let shadow = served
            .routing
            .shadow
            .as_ref()
            .filter(|s| s.version != chosen && fastrand::f64() * 100.0 < s.percent)
            .and_then(|s| served.version(&s.version).cloned());
        Ok((version, shadow))
    }
}

impl Served {
    fn version(&self, version: &str) -> Option<&Arc<Version>> {
        self.versions.iter().find(|v| v.info.version == version)
    }

    fn version_names(&self) -> Vec<String> {
        self.versions
            .iter()
            .map(|v| v.info.version.clone())
            .collect()
    }

    /// The version with the largest share (the first loaded on a tie).
    fn primary(&self) -> &Arc<Version> {
        let weight = |v: &Arc<Version>| self.routing.weights.get(&v.info.version).copied();
        let mut best = &self.versions[0];
        for version in &self.versions[1..] {
            if weight(version) > weight(best) {
                best = version;
            }
        }
        best
    }

    fn describe(&self) -> ModelInfo {
        let mut info = self.primary().info.clone();
        info.versions = self.version_names();
        info
    }

    /// The version for a client: the one it was given before while that
    /// one still has traffic, else by its hash (or a random draw for an
    /// unknown client) over the weights.
    fn pick(&self, client: Option<&str>) -> String {
        let serves = |version: &str| self.routing.weights.get(version).is_some_and(|w| *w > 0);
        // One version with traffic (the usual case): nothing to choose.
        let mut serving = self.routing.serving();
        if let (Some(only), None) = (serving.next(), serving.next()) {
            return only.clone();
        }
        let Some(client) = client else {
            return self
                .routing
                .pick(fastrand::u64(..))
                .unwrap_or_default()
                .to_string();
        };
        let hash = client_hash(&self.name, client);
        let mut sticky = self.sticky.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(version) = sticky.get(&hash)
            && serves(version)
        {
            return version.clone();
        }
        let version = self.routing.pick(hash).unwrap_or_default().to_string();
        sticky.put(hash, version.clone());
        version
    }
}

/// A stable number for a client of a model (the same across restarts).
fn client_hash(model: &str, client: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(model.as_bytes())
        .chain_update([0])
        .chain_update(client.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

impl Version {
    fn scheduler(&self) -> &dyn Submit {
        self.scheduler
            .as_deref()
            .expect("a version has its scheduler until dropped")
    }

    fn depth(&self) -> usize {
        self.scheduler().depth()
    }
}

impl Drop for Version {
    /// A scheduler's drop waits for its worker to finish what it has
    /// taken: never on the thread that happens to drop the version last
    /// (an async one, maybe), but on a thread of its own.
    fn drop(&mut self) {
        if let Some(scheduler) = self.scheduler.take() {
            let name = format!("wick-unload-{}", self.info.name);
            let _ = std::thread::Builder::new()
                .name(name)
                .spawn(move || drop(scheduler));
        }
    }
}
