//! Loading models into the engine: a verified bundle with the task its
//! manifest names (through the engine's `Registry`), or a task built by
//! the caller; each version's examples and endpoint names are checked
//! before it serves, and a new version must keep its clients' signature.

use super::*;

impl Engine {
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
    pub(super) fn check_new_version(&self, manifest: &Manifest) -> Result<()> {
        let models = self.read();
        match models.iter().find(|m| m.name == manifest.name) {
            Some(served) if served.version(&manifest.version).is_some() => Err(Error::Load {
                model: manifest.name.clone(),
                message: format!("version {} is already loaded", manifest.version),
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn add_model_from(
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
        crate::bundle::check_name("name", &manifest.name)
            .and_then(|()| crate::bundle::check_name("version", &manifest.version))
            .map_err(fail)?;
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
}

/// Checks one example of an endpoint. An image or audio input names a file
/// of the bundle (`image = "examples/cat.png"`), listed and so hashed in
/// wick.toml; the other inputs must fit the signature. Returns the files.
pub(super) fn check_example(
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

/// Endpoint names are path segments of the API and the UI: short, plain,
/// unique, and none that a route already takes.
pub(super) fn check_endpoint_names(endpoints: &[Endpoint]) -> std::result::Result<(), String> {
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
