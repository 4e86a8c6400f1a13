//! A sentence-embedding bundle's `[settings]`, and the settings and
//! examples `wick bundle` writes for a new one, read from the
//! sentence-transformers files of the source folder.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::task::TaskDefaults;
use crate::tasks::text_encoder::read_json;

/// `[settings]` of a sentence-embedding bundle.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Tokens kept per text (sentence-transformers' max_seq_length). When
    /// absent: the model's max_position_embeddings.
    #[serde(default)]
    pub max_seq_length: Option<usize>,
    #[serde(default)]
    pub pooling: Pooling,
    #[serde(default = "yes")]
    pub normalize: bool,
    /// Softmax temperature over cosines for `classify`; lower is sharper.
    #[serde(default = "default_temperature")]
    pub zero_shot_temperature: f64,
    /// Texts put before the input by name (`query = "query: "`), as
    /// sentence-transformers' `prompts`: `embed` takes a `prompt_name`.
    #[serde(default)]
    pub prompts: BTreeMap<String, String>,
    /// The prompt every text gets unless `embed` names another.
    #[serde(default)]
    pub default_prompt_name: Option<String>,
}

impl Settings {
    /// Settings that cannot serve are refused at load, not at the first
    /// request: a temperature of 0 or below gives NaN confidences.
    pub fn check(&self) -> std::result::Result<(), String> {
        let t = self.zero_shot_temperature;
        if !(t.is_finite() && t > 0.0) {
            return Err(format!(
                "[settings] zero_shot_temperature must be a positive number, got {t}"
            ));
        }
        if self.max_seq_length == Some(0) {
            return Err("[settings] max_seq_length must be at least 1".into());
        }
        if let Some(name) = &self.default_prompt_name
            && !self.prompts.contains_key(name)
        {
            return Err(format!(
                "[settings] default_prompt_name {name:?} is not one of the prompts"
            ));
        }
        Ok(())
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_seq_length: None,
            pooling: Pooling::Mean,
            normalize: true,
            zero_shot_temperature: default_temperature(),
            prompts: BTreeMap::new(),
            default_prompt_name: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_temperature() -> f64 {
    0.05
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over the tokens the attention mask keeps.
    #[default]
    Mean,
    /// The first ([CLS]) token's hidden state.
    Cls,
    /// The last real token's hidden state (decoder-style embedders).
    #[serde(rename = "lasttoken")]
    LastToken,
}

/// Settings for a new bundle, taken from the sentence-transformers files
/// of the source folder when it has them.
/// sentence-transformers' `1_Pooling/config.json`: one `pooling_mode`
/// (version 5 on), or a flag per mode (before).
#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode: Option<String>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

impl PoolingConfig {
    /// The mode as `[settings] pooling` names it; one Wick does not
    /// compute is refused when the bundle is made.
    fn pooling(&self) -> Result<&'static str> {
        let mode = match self.pooling_mode.as_deref() {
            Some(mode) => mode,
            None if self.pooling_mode_cls_token => "cls",
            None if self.pooling_mode_lasttoken => "lasttoken",
            None if self.pooling_mode_max_tokens => "max",
            None if self.pooling_mode_mean_sqrt_len_tokens => "mean_sqrt_len_tokens",
            None if self.pooling_mode_weightedmean_tokens => "weightedmean",
            None if self.pooling_mode_mean_tokens => "mean",
            None => "mean",
        };
        match mode {
            "mean" => Ok("mean"),
            "cls" => Ok("cls"),
            "lasttoken" => Ok("lasttoken"),
            other => Err(Error::Manifest {
                path: "1_Pooling/config.json".into(),
                message: format!("pooling {other} is not supported (mean, cls, lasttoken)"),
            }),
        }
    }
}

pub(super) fn defaults(source: &Path) -> Result<TaskDefaults> {
    let mut settings = toml::Table::new();
    #[derive(Deserialize)]
    struct SentenceBertConfig {
        max_seq_length: Option<i64>,
    }
    if let Some(config) =
        read_json::<SentenceBertConfig>(&source.join("sentence_bert_config.json"))?
        && let Some(length) = config.max_seq_length
    {
        settings.insert("max_seq_length".into(), length.into());
    }
    if let Some(config) = read_json::<PoolingConfig>(&source.join("1_Pooling/config.json"))? {
        settings.insert("pooling".into(), config.pooling()?.into());
    }
    #[derive(Deserialize)]
    struct SentenceTransformersConfig {
        #[serde(default)]
        prompts: BTreeMap<String, String>,
        #[serde(default)]
        default_prompt_name: Option<String>,
    }
    if let Some(config) =
        read_json::<SentenceTransformersConfig>(&source.join("config_sentence_transformers.json"))?
    {
        // Empty prompts change nothing: left out.
        let prompts: toml::Table = config
            .prompts
            .into_iter()
            .filter(|(_, prompt)| !prompt.is_empty())
            .map(|(name, prompt)| (name, prompt.into()))
            .collect();
        if let Some(name) = config
            .default_prompt_name
            .filter(|n| prompts.contains_key(n))
        {
            settings.insert("default_prompt_name".into(), name.into());
        }
        if !prompts.is_empty() {
            settings.insert("prompts".into(), prompts.into());
        }
    }
    if let Ok(modules) = std::fs::read_to_string(source.join("modules.json")) {
        settings.insert("normalize".into(), modules.contains("Normalize").into());
    }
    let example = |inputs: serde_json::Value| inputs.as_object().cloned().unwrap_or_default();
    let examples = [
        ("embed", json!({"text": "The cat sits outside"})),
        (
            "similarity",
            json!({"a": "A man is eating food.", "b": "A man is eating a piece of bread."}),
        ),
        (
            "classify",
            json!({"text": "The new movie is awesome", "labels": ["positive", "negative"]}),
        ),
    ]
    .into_iter()
    .map(|(endpoint, inputs)| (endpoint.to_string(), vec![example(inputs)]))
    .collect();
    Ok(TaskDefaults { settings, examples })
}
