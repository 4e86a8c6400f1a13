//! A text-generation bundle's `[settings]`.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Positions one stream may reach, prompt and reply together (capped
    /// at the model's trained context). Each position costs every layer's
    /// key and value in f16: 23 KB for SmolLM2-135M.
    #[serde(default = "default_context")]
    pub context: usize,
    /// The most tokens a request may ask for (`max_new_tokens` above it is
    /// refused with 422).
    #[serde(default = "default_max_new_tokens_limit")]
    pub max_new_tokens_limit: usize,
    /// `max_new_tokens` when a request sets none.
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// Default sampling temperature (0: greedy).
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Overrides the GGUF's `tokenizer.chat_template`.
    #[serde(default)]
    pub chat_template: Option<String>,
    /// The most memory, in MiB, every running stream's keys and values
    /// may take together, each counted at the full `context`: streams past
    /// what it holds wait in the queue (none is ever cut short).
    #[serde(default = "default_kv_cache_mb")]
    pub kv_cache_mb: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            context: default_context(),
            max_new_tokens_limit: default_max_new_tokens_limit(),
            max_new_tokens: default_max_new_tokens(),
            temperature: default_temperature(),
            chat_template: None,
            kv_cache_mb: default_kv_cache_mb(),
        }
    }
}

impl Settings {
    pub fn check(&mut self, model_context: usize) -> Result<(), String> {
        self.context = self.context.min(model_context);
        if self.context < 2 || self.max_new_tokens_limit == 0 {
            return Err(
                "[settings] context must be at least 2 and max_new_tokens_limit at least 1".into(),
            );
        }
        if self.max_new_tokens == 0 || self.max_new_tokens > self.max_new_tokens_limit {
            return Err(
                "[settings] max_new_tokens must be between 1 and max_new_tokens_limit".into(),
            );
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err("[settings] temperature must be between 0 and 2".into());
        }
        Ok(())
    }
}

fn default_context() -> usize {
    2048
}

fn default_max_new_tokens_limit() -> usize {
    1024
}

fn default_max_new_tokens() -> usize {
    256
}

fn default_temperature() -> f64 {
    0.7
}

fn default_kv_cache_mb() -> usize {
    2048
}
