//! Task `token-classification`: a text in, its named entities out (an NER
//! or PII model): transformers' `*ForTokenClassification` on a
//! BERT-family encoder, each token labelled, then tokens grouped into
//! entities as transformers' pipeline does with
//! `aggregation_strategy="simple"` (`aggregate`), the `O` label left out.
//!
//! - `tagger`: encoder, head and labels: a text in, each token's label
//!   scores out;
//! - `aggregate`: tokens into entities;
//! - `endpoints`: the endpoint, its signature, and the `Task` impl.

mod aggregate;
mod endpoints;
mod tagger;

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use serde::Deserialize;
use serde_json::json;

use crate::bundle::Bundle;
use crate::error::Result;
use crate::task::{AnyTask, TaskDefaults, TaskKind};
use crate::tasks::text_classification::OPTIONAL_FILES;

pub use aggregate::{Entity, Token, group_entities};
pub use endpoints::{EntityEndpoint, TokenClassification};
pub use tagger::Tagger;

pub const KIND: TaskKind = TaskKind {
    name: "token-classification",
    required_files: &["config.json", "tokenizer.json", "model.safetensors"],
    optional_files: OPTIONAL_FILES,
    defaults,
    derive: None,
    load,
};

/// `[settings]` of a token-classification bundle.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Tokens kept per text; when absent, the model's position table.
    #[serde(default)]
    pub max_seq_length: Option<usize>,
    /// Entity groups left out of the answer (transformers' default: `O`).
    #[serde(default = "outside")]
    pub ignore_labels: Vec<String>,
}

fn outside() -> Vec<String> {
    vec!["O".into()]
}

fn defaults(_source: &Path) -> Result<TaskDefaults> {
    Ok(TaskDefaults::default().with_example(
        "entities",
        json!({"text": "My name is Wolfgang and I live in Berlin."}),
    ))
}

fn load(bundle: &Bundle, device: &Device) -> Result<Arc<dyn AnyTask>> {
    let settings: Settings = bundle.settings()?;
    if settings.max_seq_length == Some(0) {
        return Err(bundle.load_error("[settings] max_seq_length must be at least 1"));
    }
    let tagger = Tagger::from_bundle(bundle, device, settings.max_seq_length)?;
    Ok(Arc::new(TokenClassification::new(tagger, settings)))
}
