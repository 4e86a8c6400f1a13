//! The task heads transformers puts on a BERT-family encoder, read from
//! the same checkpoint:
//!
//! - `SequenceHead` (`*ForSequenceClassification`): the first token's
//!   state through a dense layer and an activation, then the classifier.
//!   BERT's dense layer is its pooler (tanh), RoBERTa's is
//!   `classifier.dense` (tanh), DistilBERT's `pre_classifier` (ReLU),
//!   DeBERTa's `pooler.dense` (GELU), ModernBERT's `head.dense` (GELU, then
//!   the head's LayerNorm).
//! - `TokenHead` (`*ForTokenClassification`): one linear layer over every
//!   token's state (ModernBERT's after its `head`, as above).
//!
//! Heads are a few small products per text: they run on Candle's ops on
//! whatever device the encoder's states are.

use candle_core::{D, Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

use super::candle::Linear;
use super::config::{Config, Family};

enum Activation {
    Tanh,
    Relu,
    Gelu,
}

pub struct SequenceHead {
    dense: Linear,
    activation: Activation,
    /// ModernBERT's head ends in a LayerNorm.
    norm: Option<LayerNorm>,
    out: Linear,
}

/// ModernBERT's prediction head (`head.dense`, GELU, `head.norm`): the
/// dense layer's bias only where `classifier_bias` kept one, the norm's
/// never.
fn modernbert_head(vb: &VarBuilder, config: &Config) -> Result<(Linear, LayerNorm)> {
    let h = config.hidden_size;
    let dense = vb.pp("head.dense");
    let dense = if dense.contains_tensor("bias") {
        Linear::load(dense, h, h)?
    } else {
        Linear {
            weight: dense.get((h, h), "weight")?,
            bias: Tensor::zeros(h, dense.dtype(), dense.device())?,
        }
    };
    let norm = candle_nn::layer_norm_no_bias(h, config.layer_norm_eps, vb.pp("head.norm"))?;
    Ok((dense, norm))
}

/// The weights under the task model's root, or under the encoder's prefix
/// for the parts transformers keeps there (BERT's pooler).
fn under_encoder<'a>(vb: &VarBuilder<'a>, config: &Config, name: &str) -> VarBuilder<'a> {
    let bare = vb.pp(name);
    if bare.contains_tensor("weight") {
        bare
    } else {
        vb.pp(config.weight_prefix()).pp(name)
    }
}

impl SequenceHead {
    /// `vb` is the checkpoint's root; `labels` the classifier's outputs.
    pub fn load(vb: VarBuilder, config: &Config, labels: usize) -> Result<SequenceHead> {
        let h = config.hidden_size;
        let mut norm = None;
        let (dense, activation, out) = match config.family {
            Family::Bert => (
                Linear::load(under_encoder(&vb, config, "pooler.dense"), h, h)?,
                Activation::Tanh,
                Linear::load(vb.pp("classifier"), h, labels)?,
            ),
            Family::Roberta => (
                Linear::load(vb.pp("classifier.dense"), h, h)?,
                Activation::Tanh,
                Linear::load(vb.pp("classifier.out_proj"), h, labels)?,
            ),
            Family::DistilBert => (
                Linear::load(vb.pp("pre_classifier"), h, h)?,
                Activation::Relu,
                Linear::load(vb.pp("classifier"), h, labels)?,
            ),
            // DeBERTa's ContextPooler (pooler_hidden_size = hidden_size).
            Family::Deberta => (
                Linear::load(vb.pp("pooler.dense"), h, h)?,
                Activation::Gelu,
                Linear::load(vb.pp("classifier"), h, labels)?,
            ),
            Family::NomicBert => {
                candle_core::bail!("Nomic-BERT is served as an embedder only")
            }
            Family::ModernBert => {
                let (dense, head_norm) = modernbert_head(&vb, config)?;
                norm = Some(head_norm);
                (
                    dense,
                    Activation::Gelu,
                    Linear::load(vb.pp("classifier"), h, labels)?,
                )
            }
        };
        Ok(SequenceHead {
            dense,
            activation,
            norm,
            out,
        })
    }

    /// States (batch, tokens, hidden) → logits (batch, labels), from each
    /// text's first token.
    pub fn forward(&self, states: &Tensor) -> Result<Tensor> {
        let first = states.narrow(1, 0, 1)?.squeeze(1)?.contiguous()?;
        let dense = self.dense.forward(&first)?;
        let activated = match self.activation {
            Activation::Tanh => dense.tanh()?,
            Activation::Relu => dense.relu()?,
            Activation::Gelu => dense.gelu_erf()?,
        };
        match &self.norm {
            Some(norm) => self.out.forward(&norm.forward(&activated)?),
            None => self.out.forward(&activated),
        }
    }
}

pub struct TokenHead {
    /// ModernBERT's prediction head, before the classifier.
    head: Option<(Linear, LayerNorm)>,
    out: Linear,
}

impl TokenHead {
    pub fn load(vb: VarBuilder, config: &Config, labels: usize) -> Result<TokenHead> {
        let head = match config.family {
            Family::ModernBert => Some(modernbert_head(&vb, config)?),
            Family::NomicBert => {
                candle_core::bail!("Nomic-BERT is served as an embedder only")
            }
            _ => None,
        };
        Ok(TokenHead {
            head,
            out: Linear::load(vb.pp("classifier"), config.hidden_size, labels)?,
        })
    }

    /// States (batch, tokens, hidden) → logits (batch, tokens, labels).
    pub fn forward(&self, states: &Tensor) -> Result<Tensor> {
        let (batch, tokens, hidden) = states.dims3()?;
        let mut flat = states.reshape((batch * tokens, hidden))?;
        if let Some((dense, norm)) = &self.head {
            flat = norm.forward(&dense.forward(&flat)?.gelu_erf()?)?;
        }
        let logits = self.out.forward(&flat)?;
        logits.reshape((batch, tokens, logits.dim(D::Minus1)?))
    }
}
