//! Task `text-ranking`: a cross-encoder reranker (a one-logit
//! `*ForSequenceClassification` on a BERT-family encoder, as
//! sentence-transformers' `CrossEncoder` saves it). A query and documents
//! in; each (query, document) pair is read together and scored, and the
//! documents come back best first.
//!
//! Scores are the logit through a sigmoid (sentence-transformers' and
//! TEI's default); `scoring = "none"` gives the raw logits.
//!
//! - `settings`: the bundle's `[settings]`;
//! - `endpoints`: the endpoint, its signature, and the `Task` impl, on
//!   `text_classification`'s network.

mod endpoints;
mod settings;

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use serde_json::json;

use crate::bundle::Bundle;
use crate::error::Result;
use crate::task::{AnyTask, TaskDefaults, TaskKind};
use crate::tasks::text_classification::{OPTIONAL_FILES, Scoring, SequenceClassifier};

pub use endpoints::{RankEndpoint, TextRanking};
pub use settings::Settings;

pub const KIND: TaskKind = TaskKind {
    name: "text-ranking",
    required_files: &["config.json", "tokenizer.json", "model.safetensors"],
    optional_files: OPTIONAL_FILES,
    defaults,
    derive: None,
    load,
};

fn defaults(_source: &Path) -> Result<TaskDefaults> {
    Ok(TaskDefaults::default().with_example(
        "rerank",
        json!({
        "query": "How many people live in Berlin?",
        "documents": [
            "Berlin has a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.",
            "Berlin is well known for its museums.",
            "New York City is famous for the Metropolitan Museum of Art."
        ]
    }),
    ))
}

fn load(bundle: &Bundle, device: &Device) -> Result<Arc<dyn AnyTask>> {
    let settings: Settings = bundle.settings()?;
    settings
        .check()
        .map_err(|message| bundle.load_error(message))?;
    let scoring = settings.scoring.unwrap_or(Scoring::Sigmoid);
    let classifier =
        SequenceClassifier::from_bundle(bundle, device, settings.max_seq_length, Some(scoring))?;
    if classifier.labels().len() != 1 {
        return Err(bundle.load_error(format!(
            "a reranker has one output; this model has {} labels ({}): serve it as text-classification",
            classifier.labels().len(),
            classifier.labels().join(", ")
        )));
    }
    Ok(Arc::new(TextRanking::new(classifier, settings)))
}
