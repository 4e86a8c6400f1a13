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

/// A model's versions and routing, as the admin API shows them.
#[derive(Clone, Debug, Serialize)]
pub struct RolloutStatus {
    pub model: String,
    pub versions: Vec<VersionStatus>,
    pub shadow: Option<Shadow>,
    pub baseline: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VersionStatus {
    pub version: String,
    pub weight: u32,
    /// Its share of the traffic, in percent.
    pub share: f64,
    /// Requests waiting for its worker now.
    pub queued: usize,
    /// The bundle folder it was loaded from.
    pub source: Option<PathBuf>,
}

/// What `wick serve` keeps across restarts for one model.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct SavedRouting {
    pub routing: Routing,
    /// Where each version was loaded from.
    pub sources: BTreeMap<String, PathBuf>,
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

    /// Loads a verified bundle with the task its manifest names. A bundle
    /// of a model already loaded adds a version with no traffic; its
    /// signature must serve the clients of the versions loaded (see
    /// `incompatibility`) unless `force`.
    pub fn load(&self, bundle: &Bundle, force: bool) -> Result<()> {
        let manifest = &bundle.manifest;
        let kind = self.tasks.find(&manifest.task)?;
        let device = device(&manifest.serving.device).map_err(|message| Error::Load {
            model: manifest.name.clone(),
            message,
        })?;
        self.check_new_version(manifest)?;
        let task = (kind.load)(bundle, &device)?;
        self.add_model_from(manifest, task, Some(&bundle.dir), force)
    }

    /// Serves a task you built yourself (your own Candle model) under the
    /// name, version, UI text and settings of `manifest`. Examples with
    /// images or audio name files of a bundle folder: use `Engine::load`.
    pub fn add_model(&self, manifest: &Manifest, task: Arc<dyn AnyTask>) -> Result<()> {
        self.add_model_from(manifest, task, None, false)
    }

    /// Refuses a version already loaded before its weights are read.
    fn check_new_version(&self, manifest: &Manifest) -> Result<()> {
        let models = self.read();
        match models.iter().find(|m| m.name == manifest.name) {
            Some(served) if served.version(&manifest.version).is_some() => Err(Error::Load {
                model: manifest.name.clone(),
                message: format!("version {} is already loaded", manifest.version),
            }),
            _ => Ok(()),
        }
    }

    fn add_model_from(
        &self,
        manifest: &Manifest,
        task: Arc<dyn AnyTask>,
        dir: Option<&Path>,
        force: bool,
    ) -> Result<()> {
        let fail = |message: String| Error::Load {
            model: manifest.name.clone(),
            message,
        };
        self.check_new_version(manifest)?;
        let endpoints = task.signatures();
        check_endpoint_names(&endpoints).map_err(fail)?;
        if !force
            && let Some(serving) = self.model(&manifest.name)
            && let Some(why) = incompatibility(&serving.endpoints, &endpoints)
        {
            return Err(Error::Incompatible {
                model: manifest.name.clone(),
                version: manifest.version.clone(),
                serving: serving.version,
                why,
            });
        }
        let mut examples = Vec::new();
        let mut example_files = BTreeMap::new();
        for (endpoint_name, rows) in &manifest.examples {
            let endpoint = endpoints
                .iter()
                .find(|e| &e.name == endpoint_name)
                .ok_or_else(|| {
                    fail(format!(
                        "[examples] names `{endpoint_name}`, which is no endpoint"
                    ))
                })?;
            for (row, inputs) in rows.iter().enumerate() {
                let files =
                    check_example(&endpoint.inputs, inputs, manifest, dir).map_err(|message| {
                        fail(format!("example {row} of `{endpoint_name}`: {message}"))
                    })?;
                example_files.extend(files);
                examples.push(Example {
                    endpoint: endpoint_name.clone(),
                    inputs: inputs.clone(),
                });
            }
        }
        // Show examples in the order of the task's endpoints.
        examples.sort_by_key(|e| endpoints.iter().position(|x| x.name == e.endpoint));
        let title = if manifest.ui.title.is_empty() {
            manifest.name.clone()
        } else {
            manifest.ui.title.clone()
        };
        let scheduler = task.schedule(
            &manifest.name,
            &manifest.version,
            &manifest.serving,
            self.metrics.clone(),
        )?;
        let version = Arc::new(Version {
            info: ModelInfo {
                name: manifest.name.clone(),
                version: manifest.version.clone(),
                versions: Vec::new(),
                task: manifest.task.clone(),
                title,
                description: manifest.ui.description.clone(),
                article: manifest.ui.article.clone(),
                endpoints,
                examples,
                flagging_options: manifest.flagging.options.clone(),
            },
            scheduler: Some(scheduler),
            timeout: Duration::from_millis(manifest.serving.request_timeout_ms),
            max_inputs: manifest.serving.max_inputs_per_request,
            max_chars: manifest.serving.max_input_chars,
            example_files,
            // Whole, so that a restart from another folder finds it.
            source: dir.map(|dir| dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())),
        });
        let mut models = self.write();
        match models.iter_mut().find(|m| m.name == manifest.name) {
            Some(served) => {
                if served.version(&manifest.version).is_some() {
                    return Err(fail(format!(
                        "version {} is already loaded",
                        manifest.version
                    )));
                }
                served.routing.add(&manifest.version);
                served.versions.push(version);
            }
            None => models.push(Served {
                name: manifest.name.clone(),
                versions: vec![version],
                routing: Routing::first(&manifest.version),
                sticky: Mutex::new(LruCache::new(
                    NonZeroUsize::new(STICKY_CLIENTS).unwrap_or(NonZeroUsize::MIN),
                )),
            }),
        }
        Ok(())
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

    /// A model's versions, weights, shadow and baseline.
    pub fn rollout(&self, model: &str) -> Result<RolloutStatus> {
        let models = self.read();
        let served = models
            .iter()
            .find(|m| m.name == model)
            .ok_or_else(|| Error::UnknownModel(model.to_string()))?;
        let shares = served.routing.shares();
        Ok(RolloutStatus {
            model: model.to_string(),
            versions: served
                .versions
                .iter()
                .map(|v| VersionStatus {
                    version: v.info.version.clone(),
                    weight: served.routing.weights[&v.info.version],
                    share: shares[&v.info.version],
                    queued: v.depth(),
                    source: v.source.clone(),
                })
                .collect(),
            shadow: served.routing.shadow.clone(),
            baseline: served.routing.baseline.clone(),
        })
    }

    /// Changes a model's routing with `change`; nothing changes when it
    /// refuses (`Error::Rollout`).
    pub fn change_routing(
        &self,
        model: &str,
        change: impl FnOnce(&mut Routing) -> std::result::Result<(), String>,
    ) -> Result<RolloutStatus> {
        {
            let mut models = self.write();
            let served = models
                .iter_mut()
                .find(|m| m.name == model)
                .ok_or_else(|| Error::UnknownModel(model.to_string()))?;
            let mut routing = served.routing.clone();
            change(&mut routing).map_err(Error::Rollout)?;
            served.routing = routing;
        }
        self.rollout(model)
    }

    /// Takes a version out of the routing and unloads it: requests it has
    /// already taken finish (its worker drains its queue), new ones go to
    /// the other versions.
    pub fn unload(&self, model: &str, version: &str) -> Result<RolloutStatus> {
        let removed = {
            let mut models = self.write();
            let served = models
                .iter_mut()
                .find(|m| m.name == model)
                .ok_or_else(|| Error::UnknownModel(model.to_string()))?;
            served.routing.remove(version).map_err(Error::Rollout)?;
            let index = served
                .versions
                .iter()
                .position(|v| v.info.version == version)
                .ok_or_else(|| Error::Rollout(format!("version `{version}` is not loaded")))?;
            served.versions.remove(index)
        };
        drop(removed);
        self.rollout(model)
    }

    /// Every model's routing and where its versions came from, to be kept
    /// across restarts.
    pub fn saved_routing(&self) -> BTreeMap<String, SavedRouting> {
        self.read()
            .iter()
            .map(|served| {
                let sources = served
                    .versions
                    .iter()
                    .filter_map(|v| Some((v.info.version.clone(), v.source.clone()?)))
                    .collect();
                let saved = SavedRouting {
                    routing: served.routing.clone(),
                    sources,
                };
                (served.name.clone(), saved)
            })
            .collect()
    }

    /// Puts back a kept routing once its versions are loaded: weights,
    /// shadow and baseline of the versions that are.
    pub fn restore_routing(&self, model: &str, saved: &Routing) -> Result<RolloutStatus> {
        self.change_routing(model, |routing| {
            let weights: BTreeMap<String, u32> = saved
                .weights
                .iter()
                .filter(|(version, _)| routing.weights.contains_key(*version))
                .map(|(version, weight)| (version.clone(), *weight))
                .collect();
            routing.split(&weights)?;
            if let Some(shadow) = &saved.shadow {
                routing.set_shadow(&shadow.version, shadow.percent)?;
            }
            routing.baseline = saved.baseline.clone();
            Ok(())
        })
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

/// Why a new version's endpoints would fail the clients of the serving
/// one, if they would: an endpoint, input or output gone or of another
/// kind, or a new required input. New endpoints, optional inputs and
/// outputs are fine.
pub fn incompatibility(serving: &[Endpoint], new: &[Endpoint]) -> Option<String> {
    for old in serving {
        let Some(endpoint) = new.iter().find(|e| e.name == old.name) else {
            return Some(format!("it has no endpoint `{}`", old.name));
        };
        let name = &old.name;
        if let Some(why) = field_gone_or_changed(name, "input", &old.inputs, &endpoint.inputs)
            .or_else(|| field_gone_or_changed(name, "output", &old.outputs, &endpoint.outputs))
        {
            return Some(why);
        }
        if let Some(added) = endpoint
            .inputs
            .iter()
            .find(|f| f.required && !old.inputs.iter().any(|o| o.name == f.name))
        {
            return Some(format!("`{name}` requires a new input `{}`", added.name));
        }
    }
    None
}

/// The first of `old`'s fields (`what`: input or output) that `new` lacks
/// or gives another kind.
fn field_gone_or_changed(
    endpoint: &str,
    what: &str,
    old: &[Field],
    new: &[Field],
) -> Option<String> {
    old.iter()
        .find_map(|field| match new.iter().find(|f| f.name == field.name) {
            None => Some(format!("`{endpoint}` has no {what} `{}`", field.name)),
            Some(f) if f.kind != field.kind => Some(format!(
                "{what} `{}` of `{endpoint}` changed its kind",
                field.name
            )),
            Some(_) => None,
        })
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

    /// Checks and queues a request to this version.
    async fn submit(
        self: &Arc<Self>,
        metrics: &Arc<Metrics>,
        endpoint: &str,
        inputs: Vec<Inputs>,
    ) -> Result<PredictionStream> {
        let number = self
            .info
            .endpoints
            .iter()
            .position(|e| e.name == endpoint)
            .ok_or_else(|| Error::UnknownEndpoint {
                model: self.info.name.clone(),
                endpoint: endpoint.to_string(),
                known: endpoint_names(self.info.endpoints.iter()),
            })?;
        let mut record = Record::start(
            metrics.clone(),
            &self.info.name,
            &self.info.version,
            endpoint,
        );
        let fields = self.info.endpoints[number].inputs.clone();
        if inputs.len() > self.max_inputs {
            let error = Error::TooManyInputs {
                count: inputs.len(),
                max: self.max_inputs,
            };
            record.outcome(error.code());
            return Err(error);
        }
        let deadline = Instant::now() + self.timeout;
        let version = self.clone();
        // Checking and preparing are CPU work that grows with the input
        // (tokenizing, decoding images, resampling audio): on tokio's
        // worker threads they would stall every other connection. Each
        // input's own limits are checked before the request's text budget,
        // so a field past its `maxLength` is the schema's 422, not a 413.
        let submitted = tokio::task::spawn_blocking(move || {
            let chars = text_in(&fields, &inputs);
            let batch = validate(&fields, inputs)?;
            version.check_chars(chars)?;
            version.scheduler().submit(number, batch, deadline)
        })
        .await
        .unwrap_or_else(|_| Err(Error::Inference("preparing the inputs failed".into())));
        match submitted {
            Ok(events) => Ok(PredictionStream::new(
                events,
                deadline,
                self.timeout,
                record,
            )),
            Err(error) => {
                record.outcome(error.code());
                Err(error)
            }
        }
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

impl Version {
    /// Refuses a request of too much text in all (`max_input_chars`)
    /// before it is prepared or queued: one walk over what was already
    /// parsed. Media fields are bounded by their own `max_bytes` and the
    /// body limit instead.
    fn check_chars(&self, chars: usize) -> Result<()> {
        if chars > self.max_chars {
            return Err(Error::InputTooLarge {
                count: chars,
                max: self.max_chars,
            });
        }
        Ok(())
    }
}

/// Characters of text in a request's inputs, but for its media fields.
fn text_in(fields: &[Field], inputs: &[Inputs]) -> usize {
    let is_media = |name: &str| {
        fields
            .iter()
            .any(|field| field.name == name && field.kind.media().is_some())
    };
    inputs
        .iter()
        .flat_map(|inputs| inputs.json.iter())
        .filter(|(name, _)| !is_media(name))
        .map(|(_, value)| text_chars(value))
        .sum()
}

/// Characters of text in a JSON value (strings, also inside lists and
/// objects).
fn text_chars(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::String(text) => text.chars().count(),
        serde_json::Value::Array(items) => items.iter().map(text_chars).sum(),
        serde_json::Value::Object(map) => map.values().map(text_chars).sum(),
        _ => 0,
    }
}

/// Checks one example of an endpoint. An image or audio input names a file
/// of the bundle (`image = "examples/cat.png"`), listed and so hashed in
/// wick.toml; the other inputs must fit the signature. Returns the files.
fn check_example(
    fields: &[Field],
    inputs: &JsonObject,
    manifest: &Manifest,
    dir: Option<&Path>,
) -> std::result::Result<Vec<(String, ExampleFile)>, String> {
    let mut plain = Vec::new();
    let mut rest = inputs.clone();
    let mut files = Vec::new();
    for field in fields {
        let Some((media, _)) = field.kind.media() else {
            plain.push(field.clone());
            continue;
        };
        let path = match rest.remove(&field.name) {
            None | Some(serde_json::Value::Null) if !field.required => continue,
            Some(serde_json::Value::String(path)) => path,
            _ => {
                return Err(format!(
                    "input `{}` must name a file of the bundle, e.g. \"examples/sample.{}\"",
                    field.name,
                    if media == wick_types::MediaKind::Image {
                        "png"
                    } else {
                        "wav"
                    }
                ));
            }
        };
        if !manifest.files.contains_key(&path) {
            return Err(format!(
                "input `{}` names {path}, which wick.toml does not list under [files]",
                field.name
            ));
        }
        let dir = dir.ok_or("examples with files need a bundle folder (Engine::load)")?;
        let media_type = wick_types::media_type_of_name(&path)
            .filter(|mime| mime.starts_with(media.top_level()))
            .ok_or_else(|| {
                format!(
                    "input `{}` names {path}, which is not {} by its extension",
                    field.name,
                    media.describe()
                )
            })?;
        files.push((
            path.clone(),
            ExampleFile {
                path: dir.join(&path),
                media_type,
            },
        ));
    }
    validate_inputs(&plain, &rest).map_err(|e| e.to_string())?;
    Ok(files)
}

/// Turns each set of JSON inputs into typed values, or says which field
/// of which set is wrong.
fn validate(fields: &[wick_types::Field], inputs: Vec<Inputs>) -> Result<Vec<Values>> {
    if inputs.is_empty() {
        return Err(Error::EmptyBatch);
    }
    let several = inputs.len() > 1;
    let batch = inputs
        .into_iter()
        .enumerate()
        .map(|(row, inputs)| {
            validate_inputs_with(fields, &inputs.json, inputs.media).map_err(|error| {
                if several {
                    FieldError {
                        field: error.field,
                        message: format!("(inputs[{row}]) {}", error.message),
                    }
                } else {
                    error
                }
            })
        })
        .collect::<Result<Vec<Values>, FieldError>>()?;
    Ok(batch)
}

/// Endpoint names are path segments of the API and the UI: short, plain,
/// unique, and none that a route already takes.
fn check_endpoint_names(endpoints: &[Endpoint]) -> std::result::Result<(), String> {
    for (index, endpoint) in endpoints.iter().enumerate() {
        let name = endpoint.name.as_str();
        let plain = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !plain {
            return Err(format!(
                "endpoint name `{name}` must be 1 to 64 letters, digits, `_` or `-`"
            ));
        }
        if RESERVED_ENDPOINTS.contains(&name) {
            return Err(format!(
                "endpoint name `{name}` is taken by a route of Wick ({}); rename the endpoint",
                RESERVED_ENDPOINTS.join(", ")
            ));
        }
        if endpoints[..index].iter().any(|e| e.name == name) {
            return Err(format!("two endpoints are named `{name}`"));
        }
    }
    Ok(())
}

/// The Candle device a `[serving] device` setting names.
pub fn device(name: &str) -> std::result::Result<Device, String> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0).map_err(|e| {
            format!("device `cuda` is not available ({e}); build with `--features cuda` or set device = \"cpu\"")
        }),
        "auto" => Device::cuda_if_available(0).map_err(|e| e.to_string()),
        other => Err(format!("unknown device `{other}`; use cpu, cuda or auto")),
    }
}

#[cfg(test)]
mod tests {
    use wick_types::{Field, Kind};

    use super::*;
    use crate::task::{Item, Prepared, Task};

    /// A task whose one endpoint has the name it was made with.
    struct Named(&'static str);

    impl Task for Named {
        type Endpoint = ();
        type Request = ();

        fn endpoints(&self) -> Vec<((), Endpoint)> {
            vec![(
                (),
                Endpoint {
                    name: self.0.into(),
                    description: String::new(),
                    inputs: Vec::new(),
                    outputs: vec![Field::new("score", Kind::Score)],
                    streams: false,
                },
            )]
        }

        fn prepare(&self, _: (), _: Values) -> Result<Prepared<()>> {
            Ok(Prepared::new((), 1))
        }

        fn run(&self, _: (), batch: &[Item<()>]) -> Result<Vec<Values>> {
            Ok(batch.iter().map(|_| Values::new()).collect())
        }
    }

    fn manifest(name: &str) -> Manifest {
        toml::from_str(&format!(
            "name = \"{name}\"\nversion = \"1\"\ntask = \"toy\"\n[files]\n"
        ))
        .unwrap()
    }

    /// A task with one image input.
    struct Looks;

    impl Task for Looks {
        type Endpoint = ();
        type Request = ();

        fn endpoints(&self) -> Vec<((), Endpoint)> {
            vec![(
                (),
                Endpoint {
                    name: "look".into(),
                    description: String::new(),
                    inputs: vec![Field::new("image", Kind::Image { max_bytes: None })],
                    outputs: vec![Field::new("score", Kind::Score)],
                    streams: false,
                },
            )]
        }

        fn prepare(&self, _: (), _: Values) -> Result<Prepared<()>> {
            Ok(Prepared::new((), 1))
        }

        fn run(&self, _: (), batch: &[Item<()>]) -> Result<Vec<Values>> {
            Ok(batch.iter().map(|_| Values::new()).collect())
        }
    }

    #[test]
    fn image_examples_name_listed_bundle_files_of_their_media_type() {
        let with_example = |image: &str, listed: &str| -> Manifest {
            toml::from_str(&format!(
                "name = \"m\"\nversion = \"1\"\ntask = \"toy\"\n\
                 [[examples.look]]\nimage = \"{image}\"\n\
                 [files]\n\"{listed}\" = \"{}\"\n",
                "a".repeat(64)
            ))
            .unwrap()
        };
        let dir = Path::new("/bundles/m");
        let engine = Engine::new();
        let manifest = with_example("examples/cat.png", "examples/cat.png");
        engine
            .add_model_from(&manifest, Arc::new(Looks), Some(dir), false)
            .unwrap();
        let file = engine.example_file("m", "examples/cat.png").unwrap();
        assert_eq!(file.path, dir.join("examples/cat.png"));
        assert_eq!(file.media_type, "image/png");
        assert!(engine.example_file("m", "model.safetensors").is_none());
        let refused = [
            (
                with_example("examples/cat.png", "other.png"),
                Some(dir),
                "does not list",
            ),
            (
                with_example("notes.txt", "notes.txt"),
                Some(dir),
                "not an image",
            ),
            (
                with_example("examples/cat.png", "examples/cat.png"),
                None,
                "bundle folder",
            ),
        ];
        for (manifest, dir, message) in refused {
            let error = Engine::new()
                .add_model_from(&manifest, Arc::new(Looks), dir, false)
                .unwrap_err();
            assert!(error.to_string().contains(message), "{error}");
        }
    }

    #[test]
    fn endpoints_named_like_routes_or_not_plain_are_refused_at_load() {
        for bad in ["feedback", "api", "", "a/b", "has space"] {
            let engine = Engine::new();
            let error = engine
                .add_model(&manifest("m"), Arc::new(Named(bad)))
                .unwrap_err();
            assert!(
                matches!(&error, Error::Load { message, .. } if message.contains("endpoint name")),
                "{bad}: {error}"
            );
        }
        let engine = Engine::new();
        engine
            .add_model(&manifest("m"), Arc::new(Named("score_it")))
            .unwrap();
        assert_eq!(engine.models().len(), 1);
    }

    /// A task whose one endpoint takes a while.
    struct Slow;

    impl Task for Slow {
        type Endpoint = ();
        type Request = ();

        fn endpoints(&self) -> Vec<((), Endpoint)> {
            Named("score_it").endpoints()
        }

        fn prepare(&self, _: (), _: Values) -> Result<Prepared<()>> {
            Ok(Prepared::new((), 1))
        }

        fn run(&self, _: (), batch: &[Item<()>]) -> Result<Vec<Values>> {
            std::thread::sleep(Duration::from_millis(300));
            Ok(batch.iter().map(|_| Values::new()).collect())
        }
    }

    fn versioned(version: &str) -> Manifest {
        let mut manifest = manifest("m");
        manifest.version = version.to_string();
        manifest
    }

    #[tokio::test]
    async fn an_unloaded_version_finishes_what_it_took_and_new_requests_go_elsewhere() {
        let engine = Arc::new(Engine::new());
        engine.add_model(&versioned("1"), Arc::new(Slow)).unwrap();
        engine.add_model(&versioned("2"), Arc::new(Slow)).unwrap();
        assert_eq!(engine.model("m").unwrap().versions, ["1", "2"]);
        let taken = {
            let engine = engine.clone();
            tokio::spawn(async move {
                engine
                    .predict("m", &Route::any(), "score_it", vec![JsonObject::new()])
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        engine.change_routing("m", |r| r.promote("2")).unwrap();
        let status = engine.unload("m", "1").unwrap();
        assert_eq!(status.versions.len(), 1);
        let answered = taken.await.unwrap().unwrap();
        assert_eq!(answered.version, "1", "the request it took finished");
        let next = engine
            .predict("m", &Route::any(), "score_it", vec![JsonObject::new()])
            .await
            .unwrap();
        assert_eq!(next.version, "2");
        let pinned = engine
            .predict(
                "m",
                &Route::pinned(Some("1")),
                "score_it",
                vec![JsonObject::new()],
            )
            .await;
        assert!(matches!(pinned, Err(Error::UnknownVersion { .. })));
        // The last version with traffic cannot go; a version twice cannot load.
        assert!(matches!(engine.unload("m", "2"), Err(Error::Rollout(_))));
        let twice = engine.add_model(&versioned("2"), Arc::new(Slow));
        assert!(matches!(twice, Err(Error::Load { .. })));
    }

    #[test]
    fn a_version_that_would_break_clients_is_refused_unless_forced() {
        let engine = Engine::new();
        engine
            .add_model(&versioned("1"), Arc::new(Named("score_it")))
            .unwrap();
        let renamed = engine.add_model(&versioned("2"), Arc::new(Named("other")));
        assert!(
            matches!(&renamed, Err(Error::Incompatible { why, .. }) if why.contains("score_it")),
            "{renamed:?}"
        );
        assert_eq!(engine.model("m").unwrap().versions, ["1"]);
        engine
            .add_model_from(&versioned("2"), Arc::new(Named("other")), None, true)
            .unwrap();
        assert_eq!(engine.model("m").unwrap().versions, ["1", "2"]);
        assert_eq!(
            engine.model("m").unwrap().version,
            "1",
            "the serving one describes it"
        );
    }
}
