//! The `Engine`: the loaded models and the one prediction path.
//!
//! Every adapter — the UI's server functions, the JSON API, the CLI — calls
//! `Engine::stream` (or `Engine::predict`, which reads the stream to its
//! end). It finds the model and endpoint, then, on a blocking thread rather
//! than the async runtime, checks the inputs against the signature and
//! prepares them (tokenizing), and hands them to the model's scheduler,
//! which batches them with other requests on the model's worker thread.
//! Every request is counted in the engine's metrics, by outcome.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::Device;
use wick_types::{Endpoint, Example, Field, FieldError, ModelInfo, Values, validate_inputs};

use crate::bundle::{Bundle, Manifest};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::scheduler::Submit;
use crate::stream::{PredictionStream, Record};
use crate::task::{AnyTask, endpoint_names};
use crate::tasks::task_kind;

/// Endpoint names that would shadow a route of the API or the UI
/// (`/api/models/{model}/feedback`, `/m/{model}/api`).
pub const RESERVED_ENDPOINTS: &[&str] = &["feedback", "api"];

pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The models being served.
#[derive(Default)]
pub struct Engine {
    models: Vec<Model>,
    metrics: Arc<Metrics>,
}

struct Model {
    info: ModelInfo,
    scheduler: Arc<dyn Submit>,
    timeout: Duration,
    max_inputs: usize,
    max_chars: usize,
    /// Files that examples name (an example photo), by their bundle path.
    example_files: BTreeMap<String, ExampleFile>,
}

/// A bundle file an example names, served for the UI's thumbnails.
#[derive(Clone, Debug)]
pub struct ExampleFile {
    pub path: PathBuf,
    pub media_type: &'static str,
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
        let kind = task_kind(&manifest.task)?;
        let device = device(&manifest.serving.device).map_err(|message| Error::Load {
            model: manifest.name.clone(),
            message,
        })?;
        let task = (kind.load)(bundle, &device)?;
        self.add_model_from(manifest, task, Some(&bundle.dir))
    }

    /// Serves a task you built yourself (your own Candle model) under the
    /// name, version, UI text and settings of `manifest`. Examples with
    /// images or audio name files of a bundle folder: use `Engine::load`.
    pub fn add_model(&mut self, manifest: &Manifest, task: Arc<dyn AnyTask>) -> Result<()> {
        self.add_model_from(manifest, task, None)
    }

    fn add_model_from(
        &mut self,
        manifest: &Manifest,
        task: Arc<dyn AnyTask>,
        dir: Option<&Path>,
    ) -> Result<()> {
        let fail = |message: String| Error::Load {
            model: manifest.name.clone(),
            message,
        };
        if self.models.iter().any(|m| m.info.name == manifest.name) {
            return Err(fail("a model of that name is already loaded".into()));
        }
        let endpoints = task.signatures();
        check_endpoint_names(&endpoints).map_err(fail)?;
        let mut examples = Vec::new();
        let mut example_files = BTreeMap::new();
        for (endpoint_name, rows) in &manifest.examples {
            let endpoint = endpoints
                .iter()
                .find(|e| &e.name == endpoint_name)
                .ok_or_else(|| Error::Load {
                    model: manifest.name.clone(),
                    message: format!("[examples] names `{endpoint_name}`, which is no endpoint"),
                })?;
            for (row, inputs) in rows.iter().enumerate() {
                let files =
                    check_example(&endpoint.inputs, inputs, manifest, dir).map_err(|message| {
                        Error::Load {
                            model: manifest.name.clone(),
                            message: format!("example {row} of `{endpoint_name}`: {message}"),
                        }
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
            scheduler: scheduler.into(),
            timeout: Duration::from_millis(manifest.serving.request_timeout_ms),
            max_inputs: manifest.serving.max_inputs_per_request,
            max_chars: manifest.serving.max_input_chars,
            example_files,
        });
        Ok(())
    }

    /// A file an example of `model` names (`examples/cat.png`), if any.
    pub fn example_file(&self, model: &str, path: &str) -> Option<&ExampleFile> {
        self.find(model).ok()?.example_files.get(path)
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

    /// Checks `inputs` against the endpoint's signature, runs them through
    /// the model's scheduler and waits for the final outputs, within the
    /// model's `request_timeout_ms`. `version`, when given, must be the
    /// loaded version.
    pub async fn predict(
        &self,
        model: &str,
        version: Option<&str>,
        endpoint: &str,
        inputs: Vec<JsonObject>,
    ) -> Result<Prediction> {
        let deadline = Instant::now() + self.find(model)?.timeout;
        let mut stream = self.stream(model, version, endpoint, inputs).await?;
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
        version: Option<&str>,
        endpoint: &str,
        inputs: Vec<JsonObject>,
    ) -> Result<PredictionStream> {
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
        let number = found
            .info
            .endpoints
            .iter()
            .position(|e| e.name == endpoint)
            .ok_or_else(|| Error::UnknownEndpoint {
                model: model.to_string(),
                endpoint: endpoint.to_string(),
                known: endpoint_names(found.info.endpoints.iter()),
            })?;
        let mut record = Record::start(
            self.metrics.clone(),
            &found.info.name,
            &found.info.version,
            endpoint,
        );
        let fields = found.info.endpoints[number].inputs.clone();
        if let Err(error) = found.check_size(&fields, &inputs) {
            record.outcome(error.code());
            return Err(error);
        }
        let deadline = Instant::now() + found.timeout;
        let scheduler = found.scheduler.clone();
        // Checking and preparing are CPU work that grows with the input
        // (tokenizing, and next decoding images and resampling audio): on
        // tokio's worker threads they would stall every other connection.
        let submitted = tokio::task::spawn_blocking(move || {
            let batch = validate(&fields, &inputs)?;
            scheduler.submit(number, batch, deadline)
        })
        .await
        .unwrap_or_else(|_| Err(Error::Inference("preparing the inputs failed".into())));
        match submitted {
            Ok(events) => Ok(PredictionStream::new(events, deadline, record)),
            Err(error) => {
                record.outcome(error.code());
                Err(error)
            }
        }
    }
}

impl Model {
    /// Refuses a request with too many sets of inputs or too much text
    /// before anything is checked or queued: it costs one walk over what
    /// was already parsed. Media fields are bounded by their own
    /// `max_bytes` and the body limit instead.
    fn check_size(&self, fields: &[wick_types::Field], inputs: &[JsonObject]) -> Result<()> {
        if inputs.len() > self.max_inputs {
            return Err(Error::TooManyInputs {
                count: inputs.len(),
                max: self.max_inputs,
            });
        }
        let is_media = |name: &str| {
            fields
                .iter()
                .any(|field| field.name == name && field.kind.media().is_some())
        };
        let chars: usize = inputs
            .iter()
            .flat_map(|json| json.iter())
            .filter(|(name, _)| !is_media(name))
            .map(|(_, value)| text_chars(value))
            .sum();
        if chars > self.max_chars {
            return Err(Error::InputTooLarge {
                count: chars,
                max: self.max_chars,
            });
        }
        Ok(())
    }
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
fn validate(fields: &[wick_types::Field], inputs: &[JsonObject]) -> Result<Vec<Values>> {
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
        let mut engine = Engine::new();
        let manifest = with_example("examples/cat.png", "examples/cat.png");
        engine
            .add_model_from(&manifest, Arc::new(Looks), Some(dir))
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
                .add_model_from(&manifest, Arc::new(Looks), dir)
                .unwrap_err();
            assert!(error.to_string().contains(message), "{error}");
        }
    }

    #[test]
    fn endpoints_named_like_routes_or_not_plain_are_refused_at_load() {
        for bad in ["feedback", "api", "", "a/b", "has space"] {
            let mut engine = Engine::new();
            let error = engine
                .add_model(&manifest("m"), Arc::new(Named(bad)))
                .unwrap_err();
            assert!(
                matches!(&error, Error::Load { message, .. } if message.contains("endpoint name")),
                "{bad}: {error}"
            );
        }
        let mut engine = Engine::new();
        engine
            .add_model(&manifest("m"), Arc::new(Named("score_it")))
            .unwrap();
        assert_eq!(engine.models().len(), 1);
    }
}
