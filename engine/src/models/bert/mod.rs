//! BERT-family encoders (BERT, RoBERTa, XLM-RoBERTa, DistilBERT: one
//! network under several names, `config`) for inference, in two builds
//! chosen at load:
//!
//! - `packed::PackedEncoder`: on CPUs with AVX-512F, f32 — packed matmuls
//!   over real tokens only, no padding anywhere.
//! - `candle::CandleEncoder`: any device, on Candle's ops.
//!
//! The packed build is made from a loaded Candle build; the Candle build
//! knows nothing of the packed one.

mod candle;
pub mod config;
pub mod heads;
#[cfg(target_arch = "x86_64")]
pub(crate) mod packed;

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{debertav2, modernbert};

use crate::models::nomic_bert::NomicBert;

pub use candle::CandleEncoder;
pub use config::{Config, Family};
#[cfg(target_arch = "x86_64")]
pub use packed::PackedEncoder;

/// The encoder this device and CPU run fastest.
pub enum Encoder {
    Candle(CandleEncoder),
    #[cfg(target_arch = "x86_64")]
    Packed(PackedEncoder),
    /// DeBERTa-v2/v3, on candle-transformers' ops.
    Deberta(Box<debertav2::DebertaV2Model>),
    /// ModernBERT, on candle-transformers' ops.
    ModernBert(Box<modernbert::ModernBert>),
    /// Nomic-BERT (`models::nomic_bert`).
    Nomic(Box<NomicBert>),
}

impl Encoder {
    /// Loads the encoder weights of a checkpoint of `config`'s family
    /// (`CandleEncoder::load`).
    pub fn load(vb: VarBuilder, config: &Config) -> Result<Encoder> {
        if let Some(deberta) = &config.deberta {
            let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
                vb
            } else {
                vb.pp(config.weight_prefix())
            };
            return Ok(Encoder::Deberta(Box::new(debertav2::DebertaV2Model::load(
                vb, deberta,
            )?)));
        }
        if let Some(nomic) = &config.nomic {
            let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
                vb
            } else {
                vb.pp(config.weight_prefix())
            };
            return Ok(Encoder::Nomic(Box::new(NomicBert::load(vb, nomic)?)));
        }
        if let Some(modern) = &config.modernbert {
            // candle-transformers reads `model.…`: a task checkpoint's
            // names; a bare encoder's have no prefix.
            let vb = if vb.contains_tensor("model.embeddings.tok_embeddings.weight") {
                vb
            } else {
                vb.rename_f(|name: &str| name.strip_prefix("model.").unwrap_or(name).to_string())
            };
            return Ok(Encoder::ModernBert(Box::new(modernbert::ModernBert::load(
                vb, modern,
            )?)));
        }
        #[cfg(target_arch = "x86_64")]
        let packable = vb.device().is_cpu()
            && vb.dtype() == candle_core::DType::F32
            && crate::kernels::gemm::available();
        let candle = CandleEncoder::load(vb, config)?;
        #[cfg(target_arch = "x86_64")]
        if packable {
            return Ok(Encoder::Packed(PackedEncoder::new(&candle)?));
        }
        Ok(Encoder::Candle(candle))
    }

    /// ids, type ids and mask (1 = token, 0 = padding), each (batch,
    /// tokens) → hidden states (batch, tokens, hidden). Only the states of
    /// real tokens are defined: padding rows may hold anything (zeros, for
    /// the packed build).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        match self {
            Encoder::Candle(encoder) => encoder.forward(ids, type_ids, mask),
            #[cfg(target_arch = "x86_64")]
            Encoder::Packed(encoder) => encoder.forward(ids, type_ids, mask),
            Encoder::Deberta(encoder) => {
                encoder.forward(ids, Some(type_ids.clone()), Some(mask.clone()))
            }
            Encoder::ModernBert(encoder) => encoder.forward(ids, mask),
            Encoder::Nomic(encoder) => encoder.forward(ids, type_ids, mask),
        }
    }

    /// Which build runs, for logs and benchmarks.
    pub fn build_name(&self) -> &'static str {
        match self {
            Encoder::Candle(_) => "candle ops",
            #[cfg(target_arch = "x86_64")]
            Encoder::Packed(encoder) => encoder.build_name(),
            Encoder::Deberta(_) => "candle-transformers debertav2",
            Encoder::ModernBert(_) => "candle-transformers modernbert",
            Encoder::Nomic(_) => "nomic-bert, packed linear layers",
        }
    }
}
