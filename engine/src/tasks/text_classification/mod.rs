//! Task `text-classification`: a text in, its labels out (a sentiment or
//! topic classifier, an NLI or toxicity model): transformers'
//! `*ForSequenceClassification` on a BERT-family encoder (BERT, RoBERTa,
//! XLM-RoBERTa, DistilBERT), its labels from `config.json`'s `id2label`.
//!
//! Single-label models give a softmax over the labels; multi-label ones
//! (`problem_type = "multi_label_classification"`) and one-logit models a
//! sigmoid per label, as transformers' pipeline does.
//!
//! - `settings`: the bundle's `[settings]`;
//! - `classifier`: encoder, head and labels: texts in, scores out (the
//!   `text-ranking` task runs the same network on pairs);
//! - `endpoints`: the endpoint, its signature, and the `Task` impl.

mod classifier;
mod endpoints;
mod settings;

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use serde_json::json;

use crate::bundle::Bundle;
use crate::error::Result;
use crate::task::{AnyTask, TaskDefaults, TaskKind};

pub(crate) use classifier::HeadConfig;
pub use classifier::{Scoring, SequenceClassifier};
pub use endpoints::{TextClassification, TextEndpoint};
pub use settings::Settings;

/// The files a BERT-family checkpoint with a head comes with.
pub(crate) const OPTIONAL_FILES: &[&str] = &[
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
];

pub const KIND: TaskKind = TaskKind {
    name: "text-classification",
    required_files: &["config.json", "tokenizer.json", "model.safetensors"],
    optional_files: OPTIONAL_FILES,
    defaults,
    derive: None,
    load,
};

fn defaults(_source: &Path) -> Result<TaskDefaults> {
    let mut settings = toml::Table::new();
    settings.insert("top_k".into(), (settings::DEFAULT_TOP_K as i64).into());
    let defaults = TaskDefaults {
        settings,
        ..TaskDefaults::default()
    };
    Ok(defaults.with_example(
        "classify",
        json!({"text": "I loved this film: the story, the music, every minute of it."}),
    ))
}

fn load(bundle: &Bundle, device: &Device) -> Result<Arc<dyn AnyTask>> {
    let settings: Settings = bundle.settings()?;
    settings
        .check()
        .map_err(|message| bundle.load_error(message))?;
    let classifier =
        SequenceClassifier::from_bundle(bundle, device, settings.max_seq_length, settings.scoring)?;
    Ok(Arc::new(TextClassification::new(classifier, settings)))
}
