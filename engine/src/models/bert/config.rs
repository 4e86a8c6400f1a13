//! The shape of a BERT-family encoder, read from any of the families'
//! `config.json` files. BERT, RoBERTa, XLM-RoBERTa (and CamemBERT) and
//! DistilBERT are one network — post-norm layers of attention and a GELU
//! feed-forward — under different names: RoBERTa counts positions from
//! `pad_token_id + 1` and has one token type, DistilBERT names its fields
//! and weights its own way and has no token types.

use serde::Deserialize;

/// Which family's weight names and position rule a checkpoint follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Bert,
    /// RoBERTa, XLM-RoBERTa, CamemBERT.
    Roberta,
    DistilBert,
    /// DeBERTa-v2 and -v3: disentangled attention, on candle-transformers'
    /// `debertav2` (no packed build).
    Deberta,
    /// ModernBERT: pre-norm, rotary positions, alternating global and
    /// sliding-window attention, GeGLU; on candle-transformers'
    /// `modernbert` (no packed build).
    ModernBert,
    /// Nomic-BERT: rotary positions and SwiGLU (`models::nomic_bert`, on
    /// Candle's ops with packed linear layers); an embedder only.
    NomicBert,
}

/// The `model_type`s this encoder runs.
pub const MODEL_TYPES: &[&str] = &[
    "bert",
    "roberta",
    "xlm-roberta",
    "camembert",
    "distilbert",
    "deberta-v2",
    "modernbert",
    "nomic_bert",
];

#[derive(Clone, Debug)]
pub struct Config {
    pub family: Family,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    /// 0 when the family has no token type embeddings (DistilBERT).
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub pad_token_id: usize,
    /// candle-transformers' configuration of a DeBERTa-v2 encoder.
    pub deberta: Option<Box<candle_transformers::models::debertav2::Config>>,
    /// candle-transformers' configuration of a ModernBERT encoder.
    pub modernbert: Option<Box<candle_transformers::models::modernbert::Config>>,
    /// The configuration of a Nomic-BERT encoder.
    pub nomic: Option<Box<crate::models::nomic_bert::Config>>,
}

/// BERT's and RoBERTa's field names.
#[derive(Deserialize)]
struct BertFields {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "gelu")]
    hidden_act: String,
    max_position_embeddings: usize,
    #[serde(default = "two")]
    type_vocab_size: usize,
    #[serde(default = "bert_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    pad_token_id: Option<usize>,
}

/// DistilBERT's.
#[derive(Deserialize)]
struct DistilFields {
    vocab_size: usize,
    dim: usize,
    n_layers: usize,
    n_heads: usize,
    hidden_dim: usize,
    #[serde(default = "gelu")]
    activation: String,
    max_position_embeddings: usize,
    #[serde(default)]
    sinusoidal_pos_embds: bool,
    #[serde(default)]
    pad_token_id: Option<usize>,
}

fn gelu() -> String {
    "gelu".into()
}

fn two() -> usize {
    2
}

fn bert_eps() -> f64 {
    1e-12
}

impl Config {
    /// Reads a `config.json`. A file without `model_type` is taken as
    /// BERT (sentence-transformers' older exports have none).
    pub fn from_json(json: &serde_json::Value) -> Result<Config, String> {
        let model_type = json
            .get("model_type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("bert");
        let fields = |e: serde_json::Error| format!("config.json ({model_type}): {e}");
        let config = match model_type {
            "bert" | "roberta" | "xlm-roberta" | "camembert" => {
                let f = BertFields::deserialize(json).map_err(fields)?;
                check_activation(&f.hidden_act)?;
                let family = if model_type == "bert" {
                    Family::Bert
                } else {
                    Family::Roberta
                };
                Config {
                    family,
                    vocab_size: f.vocab_size,
                    hidden_size: f.hidden_size,
                    num_hidden_layers: f.num_hidden_layers,
                    num_attention_heads: f.num_attention_heads,
                    intermediate_size: f.intermediate_size,
                    max_position_embeddings: f.max_position_embeddings,
                    type_vocab_size: f.type_vocab_size,
                    layer_norm_eps: f.layer_norm_eps,
                    pad_token_id: f.pad_token_id.unwrap_or(match family {
                        Family::Roberta => 1,
                        _ => 0,
                    }),
                    deberta: None,
                    modernbert: None,
                    nomic: None,
                }
            }
            "distilbert" => {
                let f = DistilFields::deserialize(json).map_err(fields)?;
                check_activation(&f.activation)?;
                if f.sinusoidal_pos_embds {
                    // The table is stored in the weights either way.
                    tracing::debug!("DistilBERT with sinusoidal positions: read from the weights");
                }
                Config {
                    family: Family::DistilBert,
                    vocab_size: f.vocab_size,
                    hidden_size: f.dim,
                    num_hidden_layers: f.n_layers,
                    num_attention_heads: f.n_heads,
                    intermediate_size: f.hidden_dim,
                    max_position_embeddings: f.max_position_embeddings,
                    type_vocab_size: 0,
                    layer_norm_eps: 1e-12,
                    pad_token_id: f.pad_token_id.unwrap_or(0),
                    deberta: None,
                    modernbert: None,
                    nomic: None,
                }
            }
            "deberta-v2" => {
                let deberta = candle_transformers::models::debertav2::Config::deserialize(json)
                    .map_err(fields)?;
                let pooler_act = json
                    .get("pooler_hidden_act")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("gelu");
                // The head's activation (`heads::SequenceHead`).
                check_activation(pooler_act)?;
                Config {
                    family: Family::Deberta,
                    vocab_size: deberta.vocab_size,
                    hidden_size: deberta.hidden_size,
                    num_hidden_layers: deberta.num_hidden_layers,
                    num_attention_heads: deberta.num_attention_heads,
                    intermediate_size: deberta.intermediate_size,
                    max_position_embeddings: deberta.max_position_embeddings,
                    type_vocab_size: deberta.type_vocab_size,
                    layer_norm_eps: deberta.layer_norm_eps,
                    pad_token_id: deberta.pad_token_id.unwrap_or(0),
                    deberta: Some(Box::new(deberta)),
                    modernbert: None,
                    nomic: None,
                }
            }
            "modernbert" => {
                let m = modernbert_config(json)?;
                Config {
                    family: Family::ModernBert,
                    vocab_size: m.vocab_size,
                    hidden_size: m.hidden_size,
                    num_hidden_layers: m.num_hidden_layers,
                    num_attention_heads: m.num_attention_heads,
                    intermediate_size: m.intermediate_size,
                    max_position_embeddings: m.max_position_embeddings,
                    type_vocab_size: 0,
                    layer_norm_eps: m.layer_norm_eps,
                    pad_token_id: m.pad_token_id as usize,
                    deberta: None,
                    modernbert: Some(Box::new(m)),
                    nomic: None,
                }
            }
            "nomic_bert" => {
                let n = crate::models::nomic_bert::Config::from_json(json)?;
                Config {
                    family: Family::NomicBert,
                    vocab_size: n.vocab_size,
                    hidden_size: n.hidden_size,
                    num_hidden_layers: n.num_hidden_layers,
                    num_attention_heads: n.num_attention_heads,
                    intermediate_size: n.intermediate_size,
                    max_position_embeddings: n.max_position_embeddings,
                    type_vocab_size: n.type_vocab_size,
                    layer_norm_eps: n.layer_norm_eps,
                    pad_token_id: n.pad_token_id,
                    deberta: None,
                    modernbert: None,
                    nomic: Some(Box::new(n)),
                }
            }
            other => {
                return Err(format!(
                    "config.json's model_type is {other}; this encoder runs {}",
                    MODEL_TYPES.join(", ")
                ));
            }
        };
        if config.num_attention_heads == 0 || config.hidden_size % config.num_attention_heads != 0 {
            return Err(format!(
                "config.json: hidden size {} is not a multiple of {} heads",
                config.hidden_size, config.num_attention_heads
            ));
        }
        Ok(config)
    }

    /// The first row of the position table a text's first token takes:
    /// RoBERTa numbers positions after its padding index.
    pub fn position_offset(&self) -> usize {
        match self.family {
            Family::Roberta => self.pad_token_id + 1,
            Family::Bert
            | Family::DistilBert
            | Family::Deberta
            | Family::ModernBert
            | Family::NomicBert => 0,
        }
    }

    /// Tokens one text may have: the position table's rows past the offset.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset())
    }

    /// The prefix a task head checkpoint puts before the encoder's weights.
    pub fn weight_prefix(&self) -> &'static str {
        match self.family {
            Family::Bert => "bert",
            Family::Roberta => "roberta",
            Family::DistilBert => "distilbert",
            Family::Deberta => "deberta",
            Family::ModernBert => "model",
            Family::NomicBert => "nomic_bert",
        }
    }
}

/// candle-transformers' ModernBERT configuration from a `config.json` in
/// either form: transformers 4's (`norm_eps`, `global_attn_every_n_layers`,
/// `global_rope_theta`, `local_rope_theta`) or 5's (`layer_types`,
/// `rope_parameters` per attention type). What candle's build cannot run
/// (biases, another activation, mean pooling) is refused.
fn modernbert_config(
    json: &serde_json::Value,
) -> Result<candle_transformers::models::modernbert::Config, String> {
    let number =
        |key: &str, default: f64| json.get(key).and_then(|v| v.as_f64()).unwrap_or(default);
    let count = |key: &str, default: usize| {
        json.get(key)
            .and_then(|v| v.as_u64())
            .map_or(default, |v| v as usize)
    };
    let text = |key: &str| json.get(key).and_then(|v| v.as_str());
    let flag = |key: &str| json.get(key).and_then(|v| v.as_bool()).unwrap_or(false);
    for key in ["norm_bias", "attention_bias", "mlp_bias"] {
        if flag(key) {
            return Err(format!(
                "config.json (modernbert): {key} = true is not supported"
            ));
        }
    }
    for key in ["hidden_activation", "classifier_activation"] {
        if let Some(activation) = text(key) {
            check_activation(activation)?;
        }
    }
    if text("classifier_pooling") == Some("mean") {
        return Err(
            "config.json (modernbert): classifier_pooling = \"mean\" is not supported (cls is)"
                .into(),
        );
    }
    let layers = count("num_hidden_layers", 22);
    // Every n-th layer (from the first) attends globally, the rest in a
    // sliding window.
    let every = match json.get("layer_types").and_then(|v| v.as_array()) {
        Some(types) => {
            let global: Vec<bool> = types
                .iter()
                .map(|t| t.as_str() == Some("full_attention"))
                .collect();
            let every = global
                .iter()
                .skip(1)
                .position(|&g| g)
                .map_or(layers.max(1), |i| i + 1);
            let regular = global.len() == layers
                && global
                    .iter()
                    .enumerate()
                    .all(|(i, &g)| g == (i % every == 0));
            if !regular {
                return Err(
                    "config.json (modernbert): layer_types is not a global layer every n".into(),
                );
            }
            every
        }
        None => count("global_attn_every_n_layers", 3),
    };
    let theta = |kind: &str, legacy: &str, default: f64| {
        json.pointer(&format!("/rope_parameters/{kind}/rope_theta"))
            .and_then(|v| v.as_f64())
            .unwrap_or_else(|| number(legacy, default))
    };
    Ok(candle_transformers::models::modernbert::Config {
        vocab_size: count("vocab_size", 50368),
        hidden_size: count("hidden_size", 768),
        num_hidden_layers: layers,
        num_attention_heads: count("num_attention_heads", 12),
        intermediate_size: count("intermediate_size", 1152),
        max_position_embeddings: count("max_position_embeddings", 8192),
        layer_norm_eps: json
            .get("norm_eps")
            .or(json.get("layer_norm_eps"))
            .and_then(|v| v.as_f64())
            .unwrap_or(1e-5),
        pad_token_id: count("pad_token_id", 50283) as u32,
        global_attn_every_n_layers: every,
        global_rope_theta: theta("full_attention", "global_rope_theta", 160_000.0),
        local_attention: count("local_attention", 128),
        local_rope_theta: theta("sliding_attention", "local_rope_theta", 10_000.0),
        classifier_config: None,
    })
}

fn check_activation(name: &str) -> Result<(), String> {
    // Exact (erf) GELU; "gelu_new" and friends are tanh approximations
    // this encoder does not compute.
    if name == "gelu" {
        Ok(())
    } else {
        Err(format!(
            "config.json: activation {name} is not supported (only gelu)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_each_family() {
        let bert = Config::from_json(&json!({
            "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 32
        }))
        .unwrap();
        assert_eq!(
            (bert.family, bert.position_offset(), bert.type_vocab_size),
            (Family::Bert, 0, 2)
        );
        let roberta = Config::from_json(&json!({
            "model_type": "xlm-roberta", "vocab_size": 10, "hidden_size": 8,
            "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
            "max_position_embeddings": 34, "type_vocab_size": 1, "pad_token_id": 1,
            "layer_norm_eps": 1e-5
        }))
        .unwrap();
        assert_eq!(
            (
                roberta.family,
                roberta.position_offset(),
                roberta.max_tokens()
            ),
            (Family::Roberta, 2, 32)
        );
        let distil = Config::from_json(&json!({
            "model_type": "distilbert", "vocab_size": 10, "dim": 8, "n_layers": 1, "n_heads": 2,
            "hidden_dim": 16, "max_position_embeddings": 32
        }))
        .unwrap();
        assert_eq!(
            (distil.family, distil.hidden_size, distil.type_vocab_size),
            (Family::DistilBert, 8, 0)
        );
    }

    #[test]
    fn modernbert_reads_transformers_4_and_5_configs_alike() {
        let v4 = Config::from_json(&json!({
            "model_type": "modernbert", "num_hidden_layers": 4, "global_attn_every_n_layers": 2,
            "global_rope_theta": 80000.0, "local_rope_theta": 5000.0, "norm_eps": 1e-6
        }))
        .unwrap();
        let v5 = Config::from_json(&json!({
            "model_type": "modernbert", "num_hidden_layers": 4, "norm_eps": 1e-6,
            "layer_types": ["full_attention", "sliding_attention", "full_attention", "sliding_attention"],
            "rope_parameters": {"full_attention": {"rope_theta": 80000.0},
                                "sliding_attention": {"rope_theta": 5000.0}}
        }))
        .unwrap();
        for config in [v4, v5] {
            let m = config.modernbert.unwrap();
            assert_eq!(m.global_attn_every_n_layers, 2);
            assert_eq!((m.global_rope_theta, m.local_rope_theta), (80000.0, 5000.0));
            assert_eq!(m.layer_norm_eps, 1e-6);
        }
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let message = Config::from_json(&json!({"model_type": "jina_bert"})).unwrap_err();
        assert!(
            message.contains("jina_bert") && message.contains("modernbert"),
            "{message}"
        );
        for (field, value) in [
            ("norm_bias", json!(true)),
            ("hidden_activation", json!("gelu_new")),
            ("classifier_pooling", json!("mean")),
            (
                "layer_types",
                json!(["sliding_attention", "full_attention"]),
            ),
        ] {
            let mut config = json!({"model_type": "modernbert", "num_hidden_layers": 2});
            config[field] = value;
            assert!(Config::from_json(&config).is_err(), "{field}");
        }
        let message = Config::from_json(&json!({
            "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 3,
            "intermediate_size": 16, "max_position_embeddings": 32
        }))
        .unwrap_err();
        assert!(message.contains("multiple"), "{message}");
        let message = Config::from_json(&json!({
            "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 32, "hidden_act": "relu"
        }))
        .unwrap_err();
        assert!(message.contains("relu"), "{message}");
    }
}
