//! The BERT encoder on Candle's ops: any device, numerically the same as
//! candle-transformers' `BertModel` (the tests compare them), and shaped
//! for speed too: every linear layer is one 2-D matmul over all tokens of
//! the batch, Q, K and V come from one fused matmul, and on the CPU GELU
//! and the masked softmax run as vectorized kernels (`kernels::fast_math`).
//! It is also where the weights are named: the packed build is made from it.

use candle_core::{DType, IndexOp, Result, Tensor};
use candle_nn::{LayerNorm, Module, VarBuilder};

use super::config::{Config, Family};

use crate::kernels::fast_math;

pub(crate) struct Linear {
    /// (out, in), as stored; used transposed.
    pub(crate) weight: Tensor,
    pub(crate) bias: Tensor,
}

impl Linear {
    pub(crate) fn load(vb: VarBuilder, inputs: usize, outputs: usize) -> Result<Linear> {
        Ok(Linear {
            weight: vb.get((outputs, inputs), "weight")?,
            bias: vb.get(outputs, "bias")?,
        })
    }

    /// (rows, in) → (rows, out).
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)
    }
}

fn layer_norm(vb: VarBuilder, size: usize, eps: f64) -> Result<LayerNorm> {
    Ok(LayerNorm::new(
        vb.get(size, "weight")?,
        vb.get(size, "bias")?,
        eps,
    ))
}

/// Q, K and V as one (3 × hidden, hidden) product.
fn fused_qkv(q: Linear, k: Linear, v: Linear) -> Result<Linear> {
    Ok(Linear {
        weight: Tensor::cat(&[&q.weight, &k.weight, &v.weight], 0)?,
        bias: Tensor::cat(&[&q.bias, &k.bias, &v.bias], 0)?,
    })
}

/// A layer as BERT and RoBERTa name it.
fn bert_layer(l: VarBuilder, config: &Config) -> Result<Layer> {
    let (h, eps) = (config.hidden_size, config.layer_norm_eps);
    let a = l.pp("attention");
    let [q, k, v] = ["query", "key", "value"].map(|name| Linear::load(a.pp("self").pp(name), h, h));
    Ok(Layer {
        qkv: fused_qkv(q?, k?, v?)?,
        attention_out: Linear::load(a.pp("output.dense"), h, h)?,
        attention_norm: layer_norm(a.pp("output.LayerNorm"), h, eps)?,
        up: Linear::load(l.pp("intermediate.dense"), h, config.intermediate_size)?,
        down: Linear::load(l.pp("output.dense"), config.intermediate_size, h)?,
        output_norm: layer_norm(l.pp("output.LayerNorm"), h, eps)?,
    })
}

/// The same layer as DistilBERT names it.
fn distil_layer(l: VarBuilder, config: &Config) -> Result<Layer> {
    let (h, eps) = (config.hidden_size, config.layer_norm_eps);
    let a = l.pp("attention");
    let [q, k, v] = ["q_lin", "k_lin", "v_lin"].map(|name| Linear::load(a.pp(name), h, h));
    Ok(Layer {
        qkv: fused_qkv(q?, k?, v?)?,
        attention_out: Linear::load(a.pp("out_lin"), h, h)?,
        attention_norm: layer_norm(l.pp("sa_layer_norm"), h, eps)?,
        up: Linear::load(l.pp("ffn.lin1"), h, config.intermediate_size)?,
        down: Linear::load(l.pp("ffn.lin2"), config.intermediate_size, h)?,
        output_norm: layer_norm(l.pp("output_layer_norm"), h, eps)?,
    })
}

pub(crate) struct Layer {
    pub(crate) qkv: Linear,
    pub(crate) attention_out: Linear,
    pub(crate) attention_norm: LayerNorm,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
    pub(crate) output_norm: LayerNorm,
}

pub struct CandleEncoder {
    pub(crate) word: Tensor,
    pub(crate) position: Tensor,
    pub(crate) token_type: Tensor,
    pub(crate) embedding_norm: LayerNorm,
    pub(crate) layers: Vec<Layer>,
    pub(crate) heads: usize,
    pub(crate) hidden: usize,
}

impl CandleEncoder {
    /// Loads the encoder weights of a Hugging Face checkpoint of any of
    /// `config`'s family: the bare model, or a task model whose encoder
    /// sits under `bert.`, `roberta.` or `distilbert.`.
    pub fn load(vb: VarBuilder, config: &Config) -> Result<CandleEncoder> {
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else {
            vb.pp(config.weight_prefix())
        };
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let e = vb.pp("embeddings");
        let layers = (0..config.num_hidden_layers)
            .map(|i| match config.family {
                Family::DistilBert => distil_layer(vb.pp(format!("transformer.layer.{i}")), config),
                Family::Deberta => {
                    candle_core::bail!("DeBERTa runs on candle-transformers' debertav2")
                }
                Family::ModernBert => {
                    candle_core::bail!("ModernBERT runs on candle-transformers' modernbert")
                }
                Family::NomicBert => candle_core::bail!("Nomic-BERT runs on models::nomic_bert"),
                Family::Bert | Family::Roberta => {
                    bert_layer(vb.pp(format!("encoder.layer.{i}")), config)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let offset = config.position_offset();
        let position = e
            .get(
                (config.max_position_embeddings, h),
                "position_embeddings.weight",
            )?
            .narrow(0, offset, config.max_tokens())?;
        let token_type = match config.type_vocab_size {
            // No token types: one row of zeros that every token adds.
            0 => Tensor::zeros((1, h), vb.dtype(), vb.device())?,
            types => e.get((types, h), "token_type_embeddings.weight")?,
        };
        Ok(CandleEncoder {
            word: e.get((config.vocab_size, h), "word_embeddings.weight")?,
            position,
            token_type,
            embedding_norm: layer_norm(e.pp("LayerNorm"), h, eps)?,
            layers,
            heads: config.num_attention_heads,
            hidden: h,
        })
    }

    /// As `Encoder::forward` (`super`).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (batch, tokens) = ids.dims2()?;
        let (h, heads) = (self.hidden, self.heads);
        let d = h / heads;
        let scale = 1.0 / (d as f64).sqrt();
        let words = self.word.index_select(&ids.flatten_all()?, 0)?;
        let types = self.token_type.index_select(&type_ids.flatten_all()?, 0)?;
        let positions = self.position.narrow(0, 0, tokens)?.repeat((batch, 1))?;
        let mut x = self
            .embedding_norm
            .forward(&((words + types)? + positions)?)?;
        // 0 for tokens, the most negative f32 for padding, as BertModel.
        let mask = ((mask.to_dtype(DType::F32)? - 1.0)? * f64::from(f32::MAX))?;
        for layer in &self.layers {
            let qkv = layer
                .qkv
                .forward(&x)?
                .reshape((batch, tokens, 3, heads, d))?
                .permute((2, 0, 3, 1, 4))?
                .contiguous()?;
            let (q, k, v) = (qkv.i(0)?, qkv.i(1)?, qkv.i(2)?);
            let scores = q.matmul(&k.t()?)?;
            let probs = fast_math::masked_softmax(&scores, &mask, scale)?;
            let context = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((batch * tokens, h))?;
            let attended = layer.attention_out.forward(&context)?;
            x = layer.attention_norm.forward(&(attended + &x)?)?;
            let up = fast_math::gelu(&layer.up.forward(&x)?)?;
            let down = layer.down.forward(&up)?;
            x = layer.output_norm.forward(&(down + &x)?)?;
        }
        x.reshape((batch, tokens, h))
    }
}
