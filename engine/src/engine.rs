//! The `Engine`: the loaded models and the one prediction path.
//!
//! Every adapter — the UI's server functions, the JSON API, the CLI — calls
//! `Engine::predict`. It finds the model and endpoint, checks the inputs
//! against the signature, prepares them (tokenizing) on the caller's
//! thread, and hands them to the model's scheduler, which batches them with
//! other requests on the model's worker thread. Every request is counted in
//! the engine's metrics.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::Device;
use wick_types::{Example, FieldError, ModelInfo, Values, validate_inputs};

use crate::bundle::{Bundle, Manifest};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::scheduler::Scheduler;
use crate::task::{Prepared, Task, task_kind};

pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The models being served.
#[derive(Default)]
pub struct Engine {
    models: Vec<Model>,
    metrics: Arc<Metrics>,
}

struct Model {
    info: ModelInfo,
    task: Arc<dyn Task>,
    scheduler: Scheduler,
    timeout: Duration,
}

/// What a prediction returns: one set of outputs per set of inputs.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub model: String,
    pub version: String,
    pub outputs: Vec<Values>,
    pub duration: Duration,
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Loads a verified bundle with the task its manifest names.
    pub fn load(&mut self, bundle: &Bundle) -> Result<()> {
        let manifest = &bundle.manifest;
        let kind =
            task_kind(&manifest.task).ok_or_else(|| Error::UnknownTask(manifest.task.clone()))?;
        let device = device(&manifest.serving.device).map_err(|message| Error::Load {
            model: manifest.name.clone(),
            message,
        })?;
        let task = (kind.load)(bundle, &device)?;
        self.add_model(manifest, task)
    }

    /// Serves a task you built yourself (your own Candle model) under the
    /// name, version, UI text and settings of `manifest`.
    pub fn add_model(&mut self, manifest: &Manifest, task: Arc<dyn Task>) -> Result<()> {
        if self.models.iter().any(|m| m.info.name == manifest.name) {
            return Err(Error::Load {
                model: manifest.name.clone(),
                message: "a model of that name is already loaded".into(),
            });
        }
        let endpoints = task.endpoints();
        let mut examples = Vec::new();
        for (endpoint_name, rows) in &manifest.examples {
            let endpoint = endpoints
                .iter()
                .find(|e| &e.name == endpoint_name)
                .ok_or_else(|| Error::Load {
                    model: manifest.name.clone(),
                    message: format!("[examples] names `{endpoint_name}`, which is no endpoint"),
                })?;
            for (row, inputs) in rows.iter().enumerate() {
                validate_inputs(&endpoint.inputs, inputs).map_err(|e| Error::Load {
                    model: manifest.name.clone(),
                    message: format!("example {row} of `{endpoint_name}`: {e}"),
                })?;
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
        let scheduler = Scheduler::start(
            &manifest.name,
            &manifest.version,
            task.clone(),
            &manifest.serving,
            self.metrics.clone(),
        )?;
        self.models.push(Model {
            info: ModelInfo {
                name: manifest.name.clone(),
                version: manifest.version.clone(),
                task: manifest.task.clone(),
                title,
                description: manifest.ui.description.clone(),
                article: manifest.ui.article.clone(),
                endpoints,
                examples,
                flagging_options: manifest.flagging.options.clone(),
            },
            task,
            scheduler,
            timeout: Duration::from_millis(manifest.serving.request_timeout_ms),
        });
        Ok(())
    }

    /// The loaded models, in the order they were loaded.
    pub fn models(&self) -> impl ExactSizeIterator<Item = &ModelInfo> {
        self.models.iter().map(|m| &m.info)
    }

    pub fn model(&self, name: &str) -> Option<&ModelInfo> {
        self.find(name).ok().map(|m| &m.info)
    }

    fn find(&self, name: &str) -> Result<&Model> {
        self.models
            .iter()
            .find(|m| m.info.name == name)
            .ok_or_else(|| Error::UnknownModel(name.to_string()))
    }

    /// The Prometheus exposition of every model's metrics.
    pub fn metrics_text(&self) -> String {
        let queues: Vec<(String, String, usize)> = self
            .models
            .iter()
            .map(|m| {
                (
                    m.info.name.clone(),
                    m.info.version.clone(),
                    m.scheduler.depth(),
                )
            })
            .collect();
        self.metrics.render(&queues)
    }

    /// Checks `inputs` against the endpoint's signature and runs them
    /// through the model's scheduler. `version`, when given, must be the
    /// loaded version.
    pub async fn predict(
        &self,
        model: &str,
        version: Option<&str>,
        endpoint: &str,
        inputs: Vec<JsonObject>,
    ) -> Result<Prediction> {
        let started = Instant::now();
        let found = self.find(model)?;
        if let Some(version) = version
            && version != found.info.version
        {
            return Err(Error::UnknownVersion {
                model: model.to_string(),
                version: version.to_string(),
                loaded: found.info.version.clone(),
            });
        }
        let endpoint_info =
            found
                .info
                .endpoint(endpoint)
                .ok_or_else(|| Error::UnknownEndpoint {
                    model: model.to_string(),
                    endpoint: endpoint.to_string(),
                    known: found
                        .info
                        .endpoints
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        let outputs = self
            .run(found, &endpoint_info.inputs, endpoint, inputs)
            .await;
        let status = outputs.as_ref().map_or_else(Error::status, |_| 200);
        let duration = started.elapsed();
        self.metrics.request(
            &found.info.name,
            &found.info.version,
            endpoint,
            status,
            duration.as_secs_f64(),
        );
        Ok(Prediction {
            model: found.info.name.clone(),
            version: found.info.version.clone(),
            outputs: outputs?,
            duration,
        })
    }

    async fn run(
        &self,
        model: &Model,
        fields: &[wick_types::Field],
        endpoint: &str,
        inputs: Vec<JsonObject>,
    ) -> Result<Vec<Values>> {
        if inputs.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let several = inputs.len() > 1;
        let batch = inputs
            .iter()
            .enumerate()
            .map(|(row, json)| {
                validate_inputs(fields, json).map_err(|error| {
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
        let prepared = batch
            .into_iter()
            .map(|values| prepare(&*model.task, endpoint, values))
            .collect::<Result<Vec<Prepared>>>()?;
        let deadline = Instant::now() + model.timeout;
        let reply = model.scheduler.submit(endpoint, prepared, deadline)?;
        // Dropping this future (the client went away) drops `reply`; the
        // worker then skips the request instead of running it.
        match tokio::time::timeout_at(deadline.into(), reply).await {
            Ok(Ok(answered)) => answered,
            Ok(Err(_)) => Err(Error::Unavailable("the model's worker stopped".into())),
            Err(_) => Err(Error::Timeout),
        }
    }
}

/// `Task::prepare`, with a panic reported as a failed inference.
fn prepare(task: &dyn Task, endpoint: &str, values: Values) -> Result<Prepared> {
    catch_unwind(AssertUnwindSafe(|| task.prepare(endpoint, values))).unwrap_or_else(|_| {
        Err(Error::Inference(
            "the task panicked preparing inputs".into(),
        ))
    })
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
