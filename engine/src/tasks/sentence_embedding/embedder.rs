//! The model wrapper: a BERT-family encoder (`tasks::text_encoder`),
//! texts in and sentence vectors out, the way sentence-transformers makes
//! them: truncate at max_seq_length, encode, pool over real tokens only
//! (the attention mask), then L2-normalise.

use candle_core::{DType, Device, Tensor};
use tokenizers::Encoding;

use super::settings::{Pooling, Settings};
use crate::bundle::Bundle;
use crate::error::Result;
use crate::tasks::text_encoder::TextEncoder;

/// A BERT-family encoder with its tokenizer: texts in, sentence vectors out.
pub struct Embedder {
    pub(super) text: TextEncoder,
    pooling: Pooling,
    pub(super) normalize: bool,
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
        let settings: Settings = bundle.settings()?;
        settings.check().map_err(|m| bundle.load_error(m))?;
        let (text, _weights) = TextEncoder::from_bundle(bundle, device, settings.max_seq_length)?;
        Ok((Embedder::new(text, &settings), settings))
    }

    pub fn new(text: TextEncoder, settings: &Settings) -> Embedder {
        Embedder {
            text,
            pooling: settings.pooling,
            normalize: settings.normalize,
        }
    }

    pub fn dim(&self) -> usize {
        self.text.config.hidden_size
    }

    /// The token ids the encoder sees for `text` (special tokens included).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.encode(text)?.get_ids().to_vec())
    }

    /// Tokenizes one text, truncated to max_seq_length, not padded.
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        self.text.encode(text)
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
        let hidden = self.text.forward(encodings)?;
        let pooled = pool(&hidden.states, &hidden.mask, self.pooling)?;
        let pooled = if self.normalize {
            l2_normalize(&pooled)?
        } else {
            pooled
        };
        Ok(Embeddings {
            vectors: pooled.to_dtype(DType::F32)?.to_vec2()?,
            token_counts: hidden.token_counts,
        })
    }
}

/// [batch, tokens, hidden] → [batch, hidden].
pub fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling) -> Result<Tensor> {
    Ok(match pooling {
        Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
        Pooling::LastToken => {
            // Texts are padded on the right: a text's last token is at
            // its length - 1.
            let (batch, _, width) = hidden.dims3()?;
            let lengths: Vec<u32> = mask.to_dtype(DType::U32)?.sum(1)?.to_vec1()?;
            let index: Vec<u32> = lengths
                .iter()
                .flat_map(|length| std::iter::repeat_n(length.saturating_sub(1), width))
                .collect();
            let index = Tensor::from_vec(index, (batch, 1, width), hidden.device())?;
            hidden.gather(&index, 1)?.squeeze(1)?
        }
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
