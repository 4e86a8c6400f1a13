//! Nomic-BERT (nomic-embed-text): a BERT with rotary positions, no
//! absolute position table, a SwiGLU feed-forward and no biases, post-norm
//! layers. Its weights come under either set of names: transformers 5's
//! (`layers.N.self_attn.q_proj`, `mlp.gate_proj`, …) or the original
//! remote-code checkpoints' that the Hub's models carry
//! (`encoder.layers.N.attn.Wqkv`, `mlp.fc11`/`fc12`, `norm1`, …), and its
//! `config.json` in either form. On Candle's ops with the linear layers on
//! the packed matmul (`fast_linear`).

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use super::fast_linear::FastLinear;

/// The shape of a Nomic-BERT, from either form of its `config.json`.
#[derive(Clone, Debug)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub rope_theta: f64,
    pub pad_token_id: usize,
}

impl Config {
    /// Reads transformers 5's names (`hidden_size`, `rope_parameters`) or
    /// the original ones (`n_embd`, `rotary_emb_base`); what this build
    /// does not compute (partial or interleaved rotary, biases, pre-norm,
    /// another activation) is refused by name.
    pub fn from_json(json: &serde_json::Value) -> std::result::Result<Config, String> {
        let count = |keys: &[&str], default: usize| {
            keys.iter()
                .find_map(|key| json.get(*key).and_then(|v| v.as_u64()))
                .map_or(default, |v| v as usize)
        };
        let number = |keys: &[&str], default: f64| {
            keys.iter()
                .find_map(|key| json.get(*key).and_then(|v| v.as_f64()))
                .unwrap_or(default)
        };
        let refuse = |what: &str| Err(format!("config.json (nomic_bert): {what} is not supported"));
        if number(&["rotary_emb_fraction"], 1.0) != 1.0 {
            return refuse("rotary_emb_fraction other than 1");
        }
        for key in [
            "rotary_emb_interleaved",
            "qkv_proj_bias",
            "mlp_fc1_bias",
            "mlp_fc2_bias",
            "prenorm",
        ] {
            if json.get(key).and_then(|v| v.as_bool()) == Some(true) {
                return refuse(&format!("{key} = true"));
            }
        }
        for key in ["hidden_act", "activation_function"] {
            match json.get(key).and_then(|v| v.as_str()) {
                None | Some("silu" | "swiglu") => {}
                Some(other) => return refuse(&format!("{key} = {other}")),
            }
        }
        let rope_theta = json
            .pointer("/rope_parameters/rope_theta")
            .and_then(|v| v.as_f64())
            .unwrap_or_else(|| number(&["rotary_emb_base", "rope_theta"], 1000.0));
        let config = Config {
            vocab_size: count(&["vocab_size"], 30528),
            hidden_size: count(&["hidden_size", "n_embd"], 768),
            num_hidden_layers: count(&["num_hidden_layers", "n_layer"], 12),
            num_attention_heads: count(&["num_attention_heads", "n_head"], 12),
            intermediate_size: count(&["intermediate_size", "n_inner"], 3072),
            max_position_embeddings: count(&["max_position_embeddings", "n_positions"], 2048),
            type_vocab_size: count(&["type_vocab_size"], 2),
            layer_norm_eps: number(&["layer_norm_eps", "layer_norm_epsilon"], 1e-12),
            rope_theta,
            pad_token_id: count(&["pad_token_id"], 0),
        };
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(2 * config.num_attention_heads)
        {
            return refuse("a head size that is not even");
        }
        Ok(config)
    }
}

/// Where a checkpoint keeps each weight: transformers 5's names or the
/// original ones.
enum Names {
    Transformers,
    Original,
}

struct Layer {
    query: FastLinear,
    key: FastLinear,
    value: FastLinear,
    output: FastLinear,
    attention_norm: LayerNorm,
    gate: FastLinear,
    up: FastLinear,
    down: FastLinear,
    mlp_norm: LayerNorm,
}

fn linear(vb: VarBuilder, inputs: usize, outputs: usize) -> Result<FastLinear> {
    FastLinear::new(Linear::new(vb.get((outputs, inputs), "weight")?, None))
}

impl Layer {
    fn load(vb: VarBuilder, config: &Config, names: &Names, index: usize) -> Result<Layer> {
        let (h, m, eps) = (
            config.hidden_size,
            config.intermediate_size,
            config.layer_norm_eps,
        );
        match names {
            Names::Transformers => {
                let vb = vb.pp("layers").pp(index.to_string());
                let attention = vb.pp("self_attn");
                Ok(Layer {
                    query: linear(attention.pp("q_proj"), h, h)?,
                    key: linear(attention.pp("k_proj"), h, h)?,
                    value: linear(attention.pp("v_proj"), h, h)?,
                    output: linear(attention.pp("o_proj"), h, h)?,
                    attention_norm: candle_nn::layer_norm(
                        h,
                        eps,
                        vb.pp("post_attention_layernorm"),
                    )?,
                    gate: linear(vb.pp("mlp.gate_proj"), h, m)?,
                    up: linear(vb.pp("mlp.up_proj"), h, m)?,
                    down: linear(vb.pp("mlp.down_proj"), m, h)?,
                    mlp_norm: candle_nn::layer_norm(h, eps, vb.pp("post_mlp_layernorm"))?,
                })
            }
            Names::Original => {
                let vb = vb.pp("encoder.layers").pp(index.to_string());
                // Wqkv holds the query, key and value rows one after another.
                let qkv = vb.get((3 * h, h), "attn.Wqkv.weight")?;
                let part = |i: usize| FastLinear::new(Linear::new(qkv.narrow(0, i * h, h)?, None));
                Ok(Layer {
                    query: part(0)?,
                    key: part(1)?,
                    value: part(2)?,
                    output: linear(vb.pp("attn.out_proj"), h, h)?,
                    attention_norm: candle_nn::layer_norm(h, eps, vb.pp("norm1"))?,
                    gate: linear(vb.pp("mlp.fc12"), h, m)?,
                    up: linear(vb.pp("mlp.fc11"), h, m)?,
                    down: linear(vb.pp("mlp.fc2"), m, h)?,
                    mlp_norm: candle_nn::layer_norm(h, eps, vb.pp("norm2"))?,
                })
            }
        }
    }

    /// x (batch, tokens, hidden); `mask` (batch, 1, 1, tokens) is 0 for
    /// tokens and very negative for padding.
    fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        rotary: (&Tensor, &Tensor),
        heads: usize,
    ) -> Result<Tensor> {
        let (batch, tokens, hidden) = x.dims3()?;
        let head = hidden / heads;
        let split = |t: Tensor| {
            t.reshape((batch, tokens, heads, head))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (cos, sin) = rotary;
        let q = candle_nn::rotary_emb::rope(&split(self.query.forward(x)?)?, cos, sin)?;
        let k = candle_nn::rotary_emb::rope(&split(self.key.forward(x)?)?, cos, sin)?;
        let v = split(self.value.forward(x)?)?;
        let weights = (q.matmul(&k.t()?)? / (head as f64).sqrt())?.broadcast_add(mask)?;
        let weights = candle_nn::ops::softmax_last_dim(&weights)?;
        let attended = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, tokens, hidden))?;
        let x = (x + self.output.forward(&attended)?)?.apply(&self.attention_norm)?;
        let gated = (candle_nn::ops::silu(&self.gate.forward(&x)?)? * self.up.forward(&x)?)?;
        (&x + self.down.forward(&gated)?)?.apply(&self.mlp_norm)
    }
}

pub struct NomicBert {
    words: Embedding,
    types: Embedding,
    norm: LayerNorm,
    layers: Vec<Layer>,
    /// cos and sin of every position's rotation, (positions, head / 2).
    cos: Tensor,
    sin: Tensor,
    heads: usize,
}

impl NomicBert {
    pub fn load(vb: VarBuilder, config: &Config) -> Result<NomicBert> {
        let names = if vb.contains_tensor("encoder.layers.0.attn.Wqkv.weight") {
            Names::Original
        } else {
            Names::Transformers
        };
        let h = config.hidden_size;
        let e = vb.pp("embeddings");
        let norm_vb = match names {
            Names::Transformers => e.pp("LayerNorm"),
            Names::Original => vb.pp("emb_ln"),
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.clone(), config, &names, i))
            .collect::<Result<Vec<_>>>()?;
        let head = h / config.num_attention_heads;
        let (cos, sin) = rotary_tables(
            config.max_position_embeddings,
            head,
            config.rope_theta,
            vb.device(),
        )?;
        Ok(NomicBert {
            words: candle_nn::embedding(config.vocab_size, h, e.pp("word_embeddings"))?,
            types: candle_nn::embedding(config.type_vocab_size, h, e.pp("token_type_embeddings"))?,
            norm: candle_nn::layer_norm(h, config.layer_norm_eps, norm_vb)?,
            layers,
            cos,
            sin,
            heads: config.num_attention_heads,
        })
    }

    /// ids, type ids and mask (1 = token), each (batch, tokens) → hidden
    /// states (batch, tokens, hidden).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let tokens = ids.dim(1)?;
        let mut x =
            (self.words.forward(ids)? + self.types.forward(type_ids)?)?.apply(&self.norm)?;
        let padding = ((1.0 - mask.to_dtype(DType::F32)?)? * f64::from(f32::MIN))?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        let rotary = (
            &self.cos.narrow(0, 0, tokens)?,
            &self.sin.narrow(0, 0, tokens)?,
        );
        for layer in &self.layers {
            x = layer.forward(&x, &padding, rotary, self.heads)?;
        }
        Ok(x)
    }
}

/// transformers' default rotary tables: position p, pair i turns by
/// p / theta^(2i / head).
fn rotary_tables(
    positions: usize,
    head: usize,
    theta: f64,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let inverse: Vec<f32> = (0..head / 2)
        .map(|i| (1.0 / theta.powf(2.0 * i as f64 / head as f64)) as f32)
        .collect();
    let inverse = Tensor::from_vec(inverse, (1, head / 2), device)?;
    let steps = Tensor::arange(0u32, positions as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((positions, 1))?;
    let angles = steps.matmul(&inverse)?;
    Ok((angles.cos()?.contiguous()?, angles.sin()?.contiguous()?))
}

#[cfg(test)]
mod tests {
    use super::Config;
    use serde_json::json;

    #[test]
    fn both_forms_of_the_config_read_alike_and_unsupported_ones_are_named() {
        let original = Config::from_json(&json!({
            "n_embd": 64, "n_head": 4, "n_layer": 2, "n_inner": 128, "n_positions": 256,
            "rotary_emb_base": 1000, "rotary_emb_fraction": 1.0, "layer_norm_epsilon": 1e-12,
            "activation_function": "swiglu", "qkv_proj_bias": false, "prenorm": false
        }))
        .unwrap();
        let native = Config::from_json(&json!({
            "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
            "intermediate_size": 128, "max_position_embeddings": 256, "hidden_act": "silu",
            "rope_parameters": {"rope_theta": 1000.0, "rope_type": "default"}
        }))
        .unwrap();
        assert_eq!(format!("{original:?}"), format!("{native:?}"));
        for (key, value) in [
            ("rotary_emb_fraction", json!(0.5)),
            ("rotary_emb_interleaved", json!(true)),
            ("prenorm", json!(true)),
            ("activation_function", json!("gelu")),
        ] {
            let message = Config::from_json(&json!({ key: value })).unwrap_err();
            assert!(message.contains(key), "{message}");
        }
    }
}
