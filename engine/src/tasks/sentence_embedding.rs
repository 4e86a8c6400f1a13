//! Task `sentence-embedding`: BERT-family encoders (all-MiniLM-L6-v2 and
//! friends) turned into sentence vectors the way sentence-transformers does
//! it: truncate at the model's max_seq_length, run the encoder, mean-pool
//! over real tokens only (the attention mask), then L2-normalise.
//!
//! Endpoints: `embed` (text → vector), `similarity` (a, b → cosine) and
//! `classify` (text, labels → zero-shot label: softmax over the cosines
//! between the text and each label).
//!
//! Every endpoint embeds its whole batch in one forward pass, padded to the
//! longest text in the batch, never to a fixed length.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use serde::Deserialize;
use serde_json::json;
use tokenizers::{Encoding, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use wick_types::{Confidence, Endpoint, Field, Kind, Label, Value, Values};

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::task::{Prepared, Task, TaskDefaults, TaskKind};
use crate::tasks::bert::Encoder;

pub const KIND: TaskKind = TaskKind {
    name: "sentence-embedding",
    required_files: &["config.json", "tokenizer.json", "model.safetensors"],
    optional_files: &[
        "sentence_bert_config.json",
        "modules.json",
        "1_Pooling/config.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    ],
    defaults,
    load,
};

/// Longest text a client may send, in characters. Texts are truncated to
/// max_seq_length tokens anyway; this bounds tokenizer work per request.
const MAX_TEXT_CHARS: usize = 20_000;
/// Most labels one zero-shot request may name.
const MAX_LABELS: usize = 64;

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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_seq_length: None,
            pooling: Pooling::Mean,
            normalize: true,
            zero_shot_temperature: default_temperature(),
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
}

/// Settings for a new bundle, taken from the sentence-transformers files
/// of the source folder when it has them.
fn defaults(source: &Path) -> Result<TaskDefaults> {
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
    #[derive(Deserialize)]
    struct PoolingConfig {
        #[serde(default)]
        pooling_mode_cls_token: bool,
    }
    if let Some(config) = read_json::<PoolingConfig>(&source.join("1_Pooling/config.json"))? {
        let pooling = if config.pooling_mode_cls_token {
            "cls"
        } else {
            "mean"
        };
        settings.insert("pooling".into(), pooling.into());
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

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Manifest {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(_) => Ok(None),
    }
}

fn load(bundle: &Bundle, device: &Device) -> Result<Arc<dyn Task>> {
    let (embedder, settings) = Embedder::from_bundle(bundle, device)?;
    Ok(Arc::new(SentenceEmbedding::new(embedder, &settings)))
}

/// A BERT encoder with its tokenizer: texts in, sentence vectors out.
pub struct Embedder {
    encoder: Encoder,
    tokenizer: Tokenizer,
    pad_id: u32,
    device: Device,
    pooling: Pooling,
    normalize: bool,
    dim: usize,
}

/// Vectors and the number of tokens each text kept after truncation
/// (special tokens included, as sentence-transformers counts them).
#[derive(Debug)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    pub token_counts: Vec<usize>,
}

impl Embedder {
    /// Loads the encoder, tokenizer and `[settings]` of a verified bundle.
    pub fn from_bundle(bundle: &Bundle, device: &Device) -> Result<(Embedder, Settings)> {
        let fail = |message: String| Error::Load {
            model: bundle.manifest.name.clone(),
            message,
        };
        let settings: Settings = bundle
            .manifest
            .settings
            .clone()
            .try_into()
            .map_err(|e| fail(format!("[settings]: {e}")))?;
        let config_path = bundle.required_file("config.json")?;
        let config: Config = read_json(&config_path)?
            .ok_or_else(|| fail(format!("cannot read {}", config_path.display())))?;
        let tokenizer = Tokenizer::from_file(bundle.required_file("tokenizer.json")?)
            .map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        let weights = bundle.required_file("model.safetensors")?;
        // Safety: the file was just hashed against wick.toml and is not
        // written while served; mmap avoids a second copy in memory.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, device)? };
        let encoder = Encoder::load(vb, &config).map_err(|e| fail(format!("weights: {e}")))?;
        tracing::info!(encoder = encoder.build_name(), "BERT encoder loaded");
        let embedder = Embedder::new(encoder, tokenizer, &config, &settings, device.clone())
            .map_err(|e| fail(e.to_string()))?;
        Ok((embedder, settings))
    }

    pub fn new(
        encoder: Encoder,
        mut tokenizer: Tokenizer,
        config: &Config,
        settings: &Settings,
        device: Device,
    ) -> Result<Embedder> {
        let max_length = settings
            .max_seq_length
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        // tokenizer.json files often carry fixed padding and truncation
        // (MiniLM's pads every text to 128): replace both with the model's
        // real behaviour.
        let (pad_id, pad_token) = match tokenizer.get_padding() {
            Some(padding) => (padding.pad_id, padding.pad_token.clone()),
            None => (config.pad_token_id as u32, "[PAD]".to_string()),
        };
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| Error::Inference(format!("tokenizer truncation: {e}")))?;
        Ok(Embedder {
            encoder,
            tokenizer,
            pad_id,
            device,
            pooling: settings.pooling,
            normalize: settings.normalize,
            dim: config.hidden_size,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The token ids the encoder sees for `text` (special tokens included).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.encode(text)?.get_ids().to_vec())
    }

    /// Tokenizes one text, truncated to max_seq_length, not padded.
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        self.tokenizer
            .encode(text, true)
            .map_err(|e| Error::Inference(format!("tokenizer: {e}")))
    }

    /// Embeds all texts in one forward pass.
    pub fn embed(&self, texts: &[&str]) -> Result<Embeddings> {
        let encodings = texts
            .iter()
            .map(|text| self.encode(text))
            .collect::<Result<Vec<_>>>()?;
        self.embed_encodings(&encodings.iter().collect::<Vec<_>>())
    }

    /// Embeds tokenized texts in one forward pass, padded to the longest.
    pub fn embed_encodings(&self, encodings: &[&Encoding]) -> Result<Embeddings> {
        if encodings.is_empty() {
            return Ok(Embeddings {
                vectors: Vec::new(),
                token_counts: Vec::new(),
            });
        }
        let rows = encodings.len();
        let width = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = vec![self.pad_id; rows * width];
        let mut type_ids = vec![0u32; rows * width];
        let mut mask = vec![0u32; rows * width];
        let mut token_counts = Vec::with_capacity(rows);
        for (row, encoding) in encodings.iter().enumerate() {
            let start = row * width;
            let length = encoding.len();
            ids[start..start + length].copy_from_slice(encoding.get_ids());
            type_ids[start..start + length].copy_from_slice(encoding.get_type_ids());
            mask[start..start + length].copy_from_slice(encoding.get_attention_mask());
            token_counts.push(encoding.get_attention_mask().iter().sum::<u32>() as usize);
        }
        let ids = Tensor::from_vec(ids, (rows, width), &self.device)?;
        let type_ids = Tensor::from_vec(type_ids, (rows, width), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, width), &self.device)?;
        let hidden = self.encoder.forward(&ids, &type_ids, &mask)?;
        let pooled = pool(&hidden, &mask, self.pooling)?;
        let pooled = if self.normalize {
            l2_normalize(&pooled)?
        } else {
            pooled
        };
        Ok(Embeddings {
            vectors: pooled.to_dtype(DType::F32)?.to_vec2()?,
            token_counts,
        })
    }
}

/// [batch, tokens, hidden] → [batch, hidden].
pub fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling) -> Result<Tensor> {
    Ok(match pooling {
        Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
        Pooling::Mean => {
            let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            // Every text has at least its special tokens, but guard the
            // division anyway the way sentence-transformers does.
            let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
            summed.broadcast_div(&counts)?
        }
    })
}

/// Rows scaled to unit length (eps 1e-12, as torch's F.normalize).
pub fn l2_normalize(rows: &Tensor) -> Result<Tensor> {
    let norms = rows.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    Ok(rows.broadcast_div(&norms)?)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b)).max(1e-12)
}

pub struct SentenceEmbedding {
    embedder: Embedder,
    temperature: f64,
}

impl SentenceEmbedding {
    pub fn new(embedder: Embedder, settings: &Settings) -> SentenceEmbedding {
        SentenceEmbedding {
            embedder,
            temperature: settings.zero_shot_temperature,
        }
    }

    fn embed(&self, batch: &[&Request]) -> Result<Vec<Values>> {
        let texts: Vec<&Encoding> = batch.iter().map(|r| &r.encodings[0]).collect();
        let embeddings = self.embedder.embed_encodings(&texts)?;
        Ok(embeddings
            .vectors
            .into_iter()
            .map(|vector| Values::from([("embedding".to_string(), Value::Vector(vector))]))
            .collect())
    }

    fn similarity(&self, batch: &[&Request]) -> Result<Vec<Values>> {
        let mut all: Vec<&Encoding> = batch.iter().map(|r| &r.encodings[0]).collect();
        all.extend(batch.iter().map(|r| &r.encodings[1]));
        let vectors = self.embedder.embed_encodings(&all)?.vectors;
        let (a, b) = vectors.split_at(batch.len());
        Ok(a.iter()
            .zip(b)
            .map(|(a, b)| Values::from([("score".to_string(), Value::Number(cosine(a, b)))]))
            .collect())
    }

    fn classify(&self, batch: &[&Request]) -> Result<Vec<Values>> {
        // Embed every text and every distinct label of the batch together.
        let mut all: Vec<&Encoding> = batch.iter().map(|r| &r.encodings[0]).collect();
        let mut label_row: HashMap<&str, usize> = HashMap::new();
        for request in batch {
            for (label, encoding) in request.labels.iter().zip(&request.encodings[1..]) {
                if !label_row.contains_key(label.as_str()) {
                    label_row.insert(label.as_str(), all.len());
                    all.push(encoding);
                }
            }
        }
        let vectors = self.embedder.embed_encodings(&all)?.vectors;
        let mut outputs = Vec::with_capacity(batch.len());
        for (row, request) in batch.iter().enumerate() {
            let scores: Vec<f64> = request
                .labels
                .iter()
                .map(|label| {
                    cosine(&vectors[row], &vectors[label_row[label.as_str()]]) / self.temperature
                })
                .collect();
            let confidences = softmax(&scores);
            let mut ranked: Vec<Confidence> = request
                .labels
                .iter()
                .zip(confidences)
                .map(|(label, confidence)| Confidence {
                    label: label.clone(),
                    confidence,
                })
                .collect();
            ranked.sort_by(|x, y| y.confidence.total_cmp(&x.confidence));
            let best = ranked.first().map(|c| c.label.clone()).unwrap_or_default();
            outputs.push(Values::from([(
                "label".to_string(),
                Value::Label(Label {
                    label: best,
                    confidences: ranked,
                }),
            )]));
        }
        Ok(outputs)
    }

    /// Tokenizes a request's texts: embed `[text]`, similarity `[a, b]`,
    /// classify `[text, each distinct label...]`.
    fn tokenize(&self, endpoint: &str, inputs: &Values) -> Result<Request> {
        let text = |name: &str| {
            inputs
                .get(name)
                .and_then(Value::as_text)
                .ok_or_else(|| missing(name))
        };
        let mut labels: Vec<String> = Vec::new();
        let texts: Vec<&str> = match endpoint {
            "embed" => vec![text("text")?],
            "similarity" => vec![text("a")?, text("b")?],
            "classify" => {
                for label in strings(inputs, "labels")? {
                    if !labels.contains(label) {
                        labels.push(label.clone());
                    }
                }
                std::iter::once(text("text")?)
                    .chain(labels.iter().map(String::as_str))
                    .collect()
            }
            other => return Err(Error::Inference(format!("no endpoint `{other}`"))),
        };
        let encodings = texts
            .iter()
            .map(|t| self.embedder.encode(t))
            .collect::<Result<Vec<_>>>()?;
        Ok(Request { encodings, labels })
    }
}

/// A request's texts, tokenized by `prepare`.
struct Request {
    encodings: Vec<Encoding>,
    /// For classify: the distinct labels, in the order of `encodings[1..]`.
    labels: Vec<String>,
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

fn strings<'a>(values: &'a Values, name: &str) -> Result<&'a [String]> {
    values
        .get(name)
        .and_then(Value::as_strings)
        .ok_or_else(|| missing(name))
}

/// Inputs are validated before a task sees them; reaching this is a bug in
/// Wick, reported as a failed inference rather than a panic.
fn missing(name: &str) -> Error {
    Error::Inference(format!("input `{name}` did not reach the task"))
}

fn text_field(name: &str, label: &str, placeholder: &str) -> Field {
    Field::new(
        name,
        Kind::Text {
            lines: 2,
            placeholder: Some(placeholder.to_string()),
            max_chars: Some(MAX_TEXT_CHARS),
        },
    )
    .label(label)
}

impl Task for SentenceEmbedding {
    fn endpoints(&self) -> Vec<Endpoint> {
        vec![
            Endpoint {
                name: "embed".into(),
                description: "The sentence's embedding vector.".into(),
                inputs: vec![text_field("text", "Text", "Type a sentence…")],
                outputs: vec![Field::new(
                    "embedding",
                    Kind::Embedding {
                        dim: self.embedder.dim(),
                    },
                )],
            },
            Endpoint {
                name: "similarity".into(),
                description: "Cosine similarity between two sentences.".into(),
                inputs: vec![
                    text_field("a", "First sentence", "A man is eating food."),
                    text_field("b", "Second sentence", "A man is eating a piece of bread."),
                ],
                outputs: vec![Field::new("score", Kind::Score).label("Similarity")],
            },
            Endpoint {
                name: "classify".into(),
                description: "Zero-shot classification: which label is closest in meaning.".into(),
                inputs: vec![
                    text_field("text", "Text", "Type a sentence…"),
                    Field::new(
                        "labels",
                        Kind::Tags {
                            min_items: Some(1),
                            max_items: Some(MAX_LABELS),
                            max_chars: Some(200),
                        },
                    )
                    .description("Candidate labels, e.g. positive, negative."),
                ],
                outputs: vec![Field::new("label", Kind::Label { top_k: None })],
            },
        ]
    }

    fn predict(&self, endpoint: &str, batch: &[Values]) -> Result<Vec<Values>> {
        let prepared = batch
            .iter()
            .map(|inputs| self.prepare(endpoint, inputs.clone()))
            .collect::<Result<Vec<_>>>()?;
        self.predict_prepared(endpoint, &prepared)
    }

    fn prepare(&self, endpoint: &str, inputs: Values) -> Result<Prepared> {
        let request = self.tokenize(endpoint, &inputs)?;
        let size = request
            .encodings
            .iter()
            .map(Encoding::len)
            .max()
            .unwrap_or(1);
        Ok(Prepared {
            inputs,
            size,
            work: Some(Box::new(request)),
        })
    }

    fn predict_prepared(&self, endpoint: &str, batch: &[Prepared]) -> Result<Vec<Values>> {
        let requests = batch
            .iter()
            .map(|p| {
                p.work
                    .as_ref()
                    .and_then(|work| work.downcast_ref::<Request>())
                    .ok_or_else(|| Error::Inference("a request was not prepared".into()))
            })
            .collect::<Result<Vec<&Request>>>()?;
        match endpoint {
            "embed" => self.embed(&requests),
            "similarity" => self.similarity(&requests),
            "classify" => self.classify(&requests),
            other => Err(Error::Inference(format!("no endpoint `{other}`"))),
        }
    }
}

#[cfg(test)]
mod tests;
