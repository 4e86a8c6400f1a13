//! Task `text-generation`: a llama-family GGUF (e.g. SmolLM2-135M-Instruct
//! Q4_1) answering a conversation (`chat`, through the model's own chat
//! template) or continuing a raw prompt (`complete`), token by token.
//!
//! Served by continuous batching (`crate::continuous`): many streams
//! decode together, each with its own KV cache, on `models::llama`.
//!
//! - `tokenizer`: `tokenizer.json` built from the GGUF at bundle time;
//! - `template`: the chat template, rendered by minijinja;
//! - `settings`: the bundle's `[settings]`;
//! - `generator`: the endpoints and the `StepTask` impl.

mod generator;
mod settings;
pub mod template;
pub mod tokenizer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Device;

use crate::bundle::Bundle;
use crate::continuous::Stepping;
use crate::error::{Error, Result};
use crate::models::llama::{Gguf, Llama};
use crate::task::{AnyTask, TaskDefaults, TaskKind};

pub use generator::{GenerationEndpoint, Sampler, TextGeneration};
pub use settings::Settings;
pub use template::{ChatTemplate, Message};

pub const MODEL: &str = "model.gguf";
pub const TOKENIZER: &str = "tokenizer.json";

pub const KIND: TaskKind = TaskKind {
    name: "text-generation",
    required_files: &[MODEL],
    optional_files: &[TOKENIZER],
    defaults,
    derive: Some(derive),
    load,
};

fn defaults(_source: &Path) -> Result<TaskDefaults> {
    let defaults = Settings::default();
    let mut settings = toml::Table::new();
    settings.insert("context".into(), (defaults.context as i64).into());
    settings.insert(
        "max_new_tokens".into(),
        (defaults.max_new_tokens as i64).into(),
    );
    settings.insert("temperature".into(), defaults.temperature.into());
    let example = |key: &str, value: serde_json::Value| {
        let mut inputs = serde_json::Map::new();
        inputs.insert(key.to_string(), value);
        inputs
    };
    let mut examples = BTreeMap::new();
    examples.insert(
        "chat".to_string(),
        vec![example(
            "messages",
            serde_json::json!([{"role": "user", "content": "What is the capital of France?"}]),
        )],
    );
    examples.insert(
        "complete".to_string(),
        vec![example("prompt", serde_json::json!("Once upon a time"))],
    );
    Ok(TaskDefaults { settings, examples })
}

/// Writes `tokenizer.json` into the new bundle, built from the GGUF,
/// unless the source brought its own.
fn derive(files: &mut BTreeMap<String, PathBuf>, out_dir: &Path) -> Result<()> {
    if files.contains_key(TOKENIZER) {
        return Ok(());
    }
    let gguf_path = files
        .get(MODEL)
        .cloned()
        .ok_or_else(|| load_error(format!("{MODEL} is missing")))?;
    let gguf = Gguf::open(&gguf_path).map_err(load_error)?;
    let text = tokenizer::tokenizer_json(&gguf).map_err(load_error)?;
    std::fs::create_dir_all(out_dir).map_err(Error::io(out_dir))?;
    let path = out_dir.join(TOKENIZER);
    std::fs::write(&path, text).map_err(Error::io(&path))?;
    files.insert(TOKENIZER.to_string(), path);
    Ok(())
}

fn load_error(message: String) -> Error {
    Error::Load {
        model: "text-generation".into(),
        message,
    }
}

fn load(bundle: &Bundle, device: &Device) -> Result<Arc<dyn AnyTask>> {
    let fail = |message: String| Error::Load {
        model: bundle.manifest.name.clone(),
        message,
    };
    if !device.is_cpu() {
        return Err(fail(
            "text generation runs on the CPU only for now (device = \"cpu\")".into(),
        ));
    }
    let mut settings: Settings = bundle
        .manifest
        .settings
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| fail(format!("[settings]: {e}")))?;
    let gguf_path = bundle.required_file(MODEL)?;
    let gguf = Gguf::open(&gguf_path).map_err(fail)?;
    let config = crate::models::llama::Config::from_gguf(&gguf).map_err(fail)?;
    settings.check(config.context).map_err(fail)?;
    let tokenizer = tokenizers::Tokenizer::from_file(bundle.required_file(TOKENIZER)?)
        .map_err(|e| fail(format!("{TOKENIZER}: {e}")))?;
    let token_text = |key: &str| -> String {
        gguf.u32(key)
            .ok()
            .and_then(|id| tokenizer.id_to_token(id))
            .unwrap_or_default()
    };
    let source = match &settings.chat_template {
        Some(source) => source.clone(),
        None => gguf
            .string("tokenizer.chat_template")
            .map(str::to_string)
            .map_err(|_| {
                fail("the GGUF has no chat template; set [settings] chat_template".into())
            })?,
    };
    let template = ChatTemplate::new(
        &source,
        &token_text("tokenizer.ggml.bos_token_id"),
        &token_text("tokenizer.ggml.eos_token_id"),
    )
    .map_err(fail)?;
    // Every end the GGUF names, and the end-of-turn tokens llama.cpp
    // also stops on by their text (ChatML, Llama 3, Phi, Gemma).
    let mut stops: Vec<u32> = Vec::new();
    for key in [
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id",
    ] {
        if let Some(id) = gguf.u32(key).ok().filter(|id| !stops.contains(id)) {
            stops.push(id);
        }
    }
    for end in [
        "<|im_end|>",
        "<|endoftext|>",
        "<|eot_id|>",
        "<|eom_id|>",
        "<|end|>",
        "<end_of_turn>",
        "<|end_of_text|>",
    ] {
        if let Some(id) = tokenizer.token_to_id(end).filter(|id| !stops.contains(id)) {
            stops.push(id);
        }
    }
    let bos = tokenizer::prompt_bos(&gguf);
    let llama = Llama::from_gguf(&gguf, settings.context).map_err(fail)?;
    let task =
        TextGeneration::new(llama, tokenizer, template, stops, bos, settings).map_err(fail)?;
    Ok(Arc::new(Stepping(task)))
}
