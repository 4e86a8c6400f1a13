//! The model wrapper: a BERT encoder (`models::bert`) with its tokenizer,
//! texts in and sentence vectors out, the way sentence-transformers makes
//! them: truncate at max_seq_length, encode, pool over real tokens only
//! (the attention mask), then L2-normalise.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use tokenizers::{Encoding, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::settings::{Pooling, Settings, read_json};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::models::bert::Encoder;

/// A BERT encoder with its tokenizer: texts in, sentence vectors out.
pub struct Embedder {
    pub(super) encoder: Encoder,
    pub(super) tokenizer: Tokenizer,
    pad_id: u32,
    device: Device,
    pooling: Pooling,
    pub(super) normalize: bool,
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
        settings.check().map_err(fail)?;
        let config_path = bundle.required_file("config.json")?;
        let config: Config = read_json(&config_path)?
            .ok_or_else(|| fail(format!("cannot read {}", config_path.display())))?;
        let tokenizer = Tokenizer::from_file(bundle.required_file("tokenizer.json")?)
            .map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        let weights = bundle.required_file("model.safetensors")?;
        // SAFETY: the file was just hashed against wick.toml and is not
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
