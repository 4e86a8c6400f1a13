//! A text-classification bundle's `[settings]`.

use serde::Deserialize;

use super::classifier::Scoring;

pub const DEFAULT_TOP_K: usize = 5;

/// `[settings]` of a text-classification bundle.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Labels returned per text, best first (all of them when the model
    /// has fewer).
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Tokens kept per text; when absent, the model's position table.
    #[serde(default)]
    pub max_seq_length: Option<usize>,
    /// `softmax`, `sigmoid` or `none`; when absent, what `config.json`
    /// implies (sigmoid for multi-label and one-logit models).
    #[serde(default)]
    pub scoring: Option<Scoring>,
}

impl Settings {
    /// Settings that cannot serve are refused at load.
    pub fn check(&self) -> Result<(), String> {
        if self.top_k == 0 {
            return Err("[settings] top_k must be at least 1".into());
        }
        if self.max_seq_length == Some(0) {
            return Err("[settings] max_seq_length must be at least 1".into());
        }
        Ok(())
    }
}

fn default_top_k() -> usize {
    DEFAULT_TOP_K
}
