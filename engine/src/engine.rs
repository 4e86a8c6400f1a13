//! The `Engine`: the loaded models and the one prediction path.
//!
//! Every adapter — the UI's server functions, the JSON API, the CLI — calls
//! `Engine::predict`. It finds the model and endpoint, checks the inputs
//! against the signature, and runs the task off the async runtime, split
//! into batches of at most `max_batch_size`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::Device;
use wick_types::{Example, FieldError, ModelInfo, Values, validate_inputs};

use crate::bundle::{Bundle, Manifest, Serving};
use crate::error::{Error, Result};
use crate::task::{Task, task_kind};

pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The models being served.
#[derive(Default)]
pub struct Engine {
    models: Vec<Model>,
}

struct Model {
    info: ModelInfo,
    serving: Serving,
    task: Arc<dyn Task>,
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
            serving: manifest.serving.clone(),
            task,
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

    /// Checks `inputs` against the endpoint's signature and runs them, in
    /// batches of at most the model's `max_batch_size`, on a blocking
    /// thread. `version`, when given, must be the loaded version.
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
        if inputs.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let several = inputs.len() > 1;
        let batch = inputs
            .iter()
            .enumerate()
            .map(|(row, json)| {
                validate_inputs(&endpoint_info.inputs, json).map_err(|error| {
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

        let task = found.task.clone();
        let endpoint_name = endpoint.to_string();
        let chunk = found.serving.max_batch_size;
        let outputs = tokio::task::spawn_blocking(move || {
            run_in_chunks(&*task, &endpoint_name, &batch, chunk)
        })
        .await
        .map_err(|e| Error::Inference(format!("the task stopped unexpectedly: {e}")))??;
        Ok(Prediction {
            model: found.info.name.clone(),
            version: found.info.version.clone(),
            outputs,
            duration: started.elapsed(),
        })
    }
}

fn run_in_chunks(
    task: &dyn Task,
    endpoint: &str,
    batch: &[Values],
    chunk: usize,
) -> Result<Vec<Values>> {
    let mut outputs = Vec::with_capacity(batch.len());
    for part in batch.chunks(chunk.max(1)) {
        let answered = task.predict(endpoint, part)?;
        if answered.len() != part.len() {
            return Err(Error::Inference(format!(
                "the task answered {} outputs for {} inputs",
                answered.len(),
                part.len()
            )));
        }
        outputs.extend(answered);
    }
    Ok(outputs)
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
