//! `wick predict`: one prediction from the command line, printed as the
//! same JSON the API answers, without starting a server (like `cog predict`).

use anyhow::{Context, bail};
use wick_engine::JsonObject;
use wick_types::{ModelInfo, OneOrMany, PredictResponse};

use crate::cli::PredictArgs;

pub fn run(args: PredictArgs, tasks: wick_engine::Registry) -> anyhow::Result<()> {
    let serving = crate::cli::ServingArgs {
        device: args.device.clone(),
        ..Default::default()
    };
    let engine = super::load_engine(&[&args.bundle], &serving, tasks)?;
    let Some(model) = engine.models().into_iter().next() else {
        bail!("the bundle in {} loaded no model", args.bundle.display());
    };
    let inputs = match &args.json {
        Some(json) => serde_json::from_str::<JsonObject>(json)
            .context("--json must be a JSON object of inputs")?,
        None => inputs_from_pairs(&model, &args.endpoint, &args.inputs)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let prediction = runtime.block_on(engine.predict(
        &model.name,
        &wick_engine::Route::any(),
        &args.endpoint,
        vec![inputs],
    ))?;
    let response = PredictResponse {
        outputs: OneOrMany::One(prediction.outputs.into_iter().next().unwrap_or_default()),
        model: prediction.model,
        version: prediction.version,
        duration_ms: prediction.duration.as_secs_f64() * 1000.0,
    };
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

/// `-i name=value` pairs → a JSON object, typed by the endpoint's signature.
fn inputs_from_pairs(
    model: &ModelInfo,
    endpoint: &str,
    pairs: &[String],
) -> anyhow::Result<JsonObject> {
    let Some(endpoint_info) = model.endpoint(endpoint) else {
        let known: Vec<&str> = model.endpoints.iter().map(|e| e.name.as_str()).collect();
        bail!(
            "model `{}` has no endpoint `{endpoint}`; it has: {}",
            model.name,
            known.join(", ")
        );
    };
    let mut inputs = JsonObject::new();
    for pair in pairs {
        let Some((name, raw)) = pair.split_once('=') else {
            bail!("`-i {pair}` must look like name=value");
        };
        let value = match endpoint_info.inputs.iter().find(|f| f.name == name) {
            Some(field) => match (field.kind.media(), raw.strip_prefix('@')) {
                // `-i image=@cat.jpg`, as curl's `-F`: the file, as media.
                (Some(_), Some(path)) => {
                    let bytes =
                        std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
                    let mime = wick_types::media_type_of(path, &bytes)
                        .unwrap_or("application/octet-stream");
                    serde_json::Value::String(wick_types::Media::new(mime, bytes).to_data_url())
                }
                _ => field.value_from_text(raw),
            },
            // Unknown names go through as text; validation names them.
            None => serde_json::Value::String(raw.to_string()),
        };
        inputs.insert(name.to_string(), value);
    }
    Ok(inputs)
}
