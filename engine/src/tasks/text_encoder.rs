//! A BERT-family encoder (`models::bert`) with its tokenizer: what the
//! text tasks built on one share (sentence embedding, text
//! classification, ranking). Texts in, each token's hidden state out.
//!
//! The tokenizer's own padding and truncation are replaced by the model's
//! real behaviour: pad to the batch's longest text, truncate at the
//! bundle's `max_seq_length` or the position table's length.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::{Encoding, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::models::bert::{Config, Encoder};

pub struct TextEncoder {
    pub(crate) encoder: Encoder,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) config: Config,
    pad_id: u32,
    device: Device,
}

/// An encoded batch: each token's state (batch, tokens, hidden; padding
/// rows undefined), the attention mask (batch, tokens; 1 = token), and
/// each text's token count.
pub struct Hidden {
    pub states: Tensor,
    pub mask: Tensor,
    pub token_counts: Vec<usize>,
}

/// Longest text a client may send, in characters: texts are truncated to
/// the model's tokens anyway; this bounds tokenizer work per request.
pub(crate) const MAX_TEXT_CHARS: usize = 20_000;

/// Inputs are validated before a task sees them; reaching this is a bug in
/// Wick, reported as a failed inference rather than a panic.
pub(crate) fn missing(name: &str) -> Error {
    Error::Inference(format!("input `{name}` did not reach the task"))
}

/// Reads a JSON file, `None` when it is absent.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
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

impl TextEncoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` of a
    /// verified bundle; the weights stay open in the returned `VarBuilder`
    /// for a task's head.
    pub fn from_bundle(
        bundle: &Bundle,
        device: &Device,
        max_seq_length: Option<usize>,
    ) -> Result<(TextEncoder, VarBuilder<'static>)> {
        let fail = |message: String| Error::Load {
            model: bundle.manifest.name.clone(),
            message,
        };
        let config_path = bundle.required_file("config.json")?;
        let json: serde_json::Value = read_json(&config_path)?
            .ok_or_else(|| fail(format!("cannot read {}", config_path.display())))?;
        let config = Config::from_json(&json).map_err(fail)?;
        let tokenizer = Tokenizer::from_file(bundle.required_file("tokenizer.json")?)
            .map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        let weights = bundle.required_file("model.safetensors")?;
        // SAFETY: the file was just hashed against wick.toml and is not
        // written while served; mmap avoids a second copy in memory.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, device)? };
        let encoder =
            Encoder::load(vb.clone(), &config).map_err(|e| fail(format!("weights: {e}")))?;
        tracing::info!(encoder = encoder.build_name(), family = ?config.family, "encoder loaded");
        let encoder = TextEncoder::new(encoder, tokenizer, config, max_seq_length, device.clone())
            .map_err(|e| fail(e.to_string()))?;
        Ok((encoder, vb))
    }

    pub fn new(
        encoder: Encoder,
        mut tokenizer: Tokenizer,
        config: Config,
        max_seq_length: Option<usize>,
        device: Device,
    ) -> Result<TextEncoder> {
        let max_length = max_seq_length
            .unwrap_or(config.max_tokens())
            .min(config.max_tokens());
        // tokenizer.json files often carry fixed padding and truncation
        // (MiniLM's pads every text to 128): replace both.
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
        Ok(TextEncoder {
            encoder,
            tokenizer,
            config,
            pad_id,
            device,
        })
    }

    /// Tokenizes one text, truncated, not padded.
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        self.tokenizer
            .encode(text, true)
            .map_err(|e| Error::Inference(format!("tokenizer: {e}")))
    }

    /// As `encode`, with offsets in characters of `text` (not bytes), as
    /// Python's tokenizers give them.
    pub fn encode_with_char_offsets(&self, text: &str) -> Result<Encoding> {
        self.tokenizer
            .encode_char_offsets(text, true)
            .map_err(|e| Error::Inference(format!("tokenizer: {e}")))
    }

    /// Tokenizes a pair (a query and a document) as one input, the longer
    /// truncated first.
    pub fn encode_pair(&self, first: &str, second: &str) -> Result<Encoding> {
        self.tokenizer
            .encode((first, second), true)
            .map_err(|e| Error::Inference(format!("tokenizer: {e}")))
    }

    /// Encodes tokenized texts in one forward pass, padded to the longest.
    pub fn forward(&self, encodings: &[&Encoding]) -> Result<Hidden> {
        let rows = encodings.len();
        let width = encodings.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![self.pad_id; rows * width];
        let mut type_ids = vec![0u32; rows * width];
        let mut mask = vec![0u32; rows * width];
        let mut token_counts = Vec::with_capacity(rows);
        // A family with one token type (RoBERTa) or none (DistilBERT)
        // takes type 0 whatever the tokenizer says of a pair.
        let typed = self.config.type_vocab_size > 1;
        for (row, encoding) in encodings.iter().enumerate() {
            let start = row * width;
            let length = encoding.len();
            ids[start..start + length].copy_from_slice(encoding.get_ids());
            if typed {
                type_ids[start..start + length].copy_from_slice(encoding.get_type_ids());
            }
            mask[start..start + length].copy_from_slice(encoding.get_attention_mask());
            token_counts.push(encoding.get_attention_mask().iter().sum::<u32>() as usize);
        }
        let ids = Tensor::from_vec(ids, (rows, width), &self.device)?;
        let type_ids = Tensor::from_vec(type_ids, (rows, width), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, width), &self.device)?;
        let states = self.encoder.forward(&ids, &type_ids, &mask)?;
        Ok(Hidden {
            states,
            mask,
            token_counts,
        })
    }
}
