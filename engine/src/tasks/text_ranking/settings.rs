//! A text-ranking bundle's `[settings]`.

use serde::Deserialize;

use crate::tasks::text_classification::Scoring;

/// `[settings]` of a text-ranking bundle.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Tokens kept per (query, document) pair, the longer of the two cut
    /// first; when absent, the model's position table.
    #[serde(default)]
    pub max_seq_length: Option<usize>,
    /// Most documents one request may rank.
    #[serde(default = "default_max_documents")]
    pub max_documents: usize,
    /// `sigmoid` (the default) or `none` for the raw logits.
    #[serde(default)]
    pub scoring: Option<Scoring>,
}

impl Settings {
    /// Settings that cannot serve are refused at load.
    pub fn check(&self) -> Result<(), String> {
        if self.max_seq_length == Some(0) || self.max_documents == 0 {
            return Err("[settings] max_seq_length and max_documents must be at least 1".into());
        }
        Ok(())
    }
}

fn default_max_documents() -> usize {
    100
}
