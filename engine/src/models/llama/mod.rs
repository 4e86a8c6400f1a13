//! Llama-family decoders from GGUF files, for generation with many
//! streams at once: `llama` (SmolLM, Llama, Mistral-style layouts),
//! `qwen2`, `qwen3`, `phi3`, `gemma2` and `gemma3` (see `config` for how
//! each differs), as llama.cpp builds their graphs.
//!
//! Candle-transformers' `quantized_llama` runs one sequence per model (its
//! KV cache lives in the layers) on Candle's quantized matmul, whose Q4_1
//! path is scalar. This build keeps a KV cache per stream (`Cache`), so
//! one forward pass advances several streams together — prompt chunks and
//! single decode tokens in one batch — on the VNNI kernels in
//! `kernels::quant`. Tests check its logits against `quantized_llama`.
//!
//! - `gguf`: reading the file; `config`: what its metadata says;
//! - `forward`: the pass itself and the per-stream cache.

mod config;
mod forward;
mod fused;
pub mod gguf;

use std::path::Path;

use candle_core::quantized::GgmlDType;

pub use config::{Activation, Architecture, Config, Rope};
pub use forward::Cache;
use fused::Fused;
pub use gguf::Gguf;

use crate::kernels::quant::{Format, QMatrix};

struct Layer {
    attention_norm: Vec<f32>,
    /// q, k and v projections: one product for all three where their
    /// types agree.
    qkv: Fused,
    /// Qwen2: the biases of q, k and v, side by side like their outputs.
    qkv_bias: Option<Vec<f32>>,
    /// Qwen3, Gemma 3: the RMS norms' weights of each head of q and of k.
    qk_norms: Option<(Vec<f32>, Vec<f32>)>,
    output: QMatrix,
    /// Gemma: an RMS norm of the attention's output before it is added.
    post_attention_norm: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    /// Gate and up projections.
    gate_up: Fused,
    down: QMatrix,
    /// Gemma: an RMS norm of the FFN's output before it is added.
    post_ffn_norm: Option<Vec<f32>>,
    /// Whether it attends only to the last `config.window` positions.
    sliding: bool,
}

pub struct Llama {
    pub config: Config,
    embedding: QMatrix,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    /// The output projection (the embedding again when the model ties them).
    output: Option<QMatrix>,
    /// cos and sin of every position's rotation, (position, head_dim / 2).
    rope: Vec<(f32, f32)>,
    /// The same for the layers that attend to a window, where their rope
    /// differs (Gemma 3).
    window_rope: Option<Vec<(f32, f32)>>,
}

impl Llama {
    /// Loads a GGUF; `context` caps the positions any stream may reach.
    pub fn load(path: &Path, context: usize) -> Result<Llama, String> {
        Llama::from_gguf(&Gguf::open(path)?, context)
    }

    /// The model of an open GGUF (whose metadata the caller reads too).
    pub fn from_gguf(gguf: &Gguf, context: usize) -> Result<Llama, String> {
        let config = Config::from_gguf(gguf)?;
        let matrix = |name: &str| load_matrix(gguf, name);
        let vector = |name: &str| load_vector(gguf, name);
        let optional = |name: &str| match gguf.has(name) {
            true => vector(name).map(Some),
            false => Ok(None),
        };
        let mut layers = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let name = |part: &str| format!("blk.{i}.{part}.weight");
            // Phi-3 keeps q, k and v in one matrix, and gate and up in
            // `ffn_up` (2 × ffn rows, gate first, as `swiglu` splits them).
            let qkv = match gguf.has(&name("attn_qkv")) {
                true => vec![matrix(&name("attn_qkv"))?],
                false => vec![
                    matrix(&name("attn_q"))?,
                    matrix(&name("attn_k"))?,
                    matrix(&name("attn_v"))?,
                ],
            };
            let gate_up = match gguf.has(&name("ffn_gate")) {
                true => vec![matrix(&name("ffn_gate"))?, matrix(&name("ffn_up"))?],
                false => vec![matrix(&name("ffn_up"))?],
            };
            let bias = |part: &str| format!("blk.{i}.{part}.bias");
            let qkv_bias = match (gguf.has(&bias("attn_q")), gguf.has(&bias("attn_qkv"))) {
                (true, _) => Some(
                    [bias("attn_q"), bias("attn_k"), bias("attn_v")]
                        .iter()
                        .map(|name| vector(name))
                        .collect::<Result<Vec<_>, _>>()?
                        .concat(),
                ),
                (false, true) => Some(vector(&bias("attn_qkv"))?),
                (false, false) => None,
            };
            let layer = Layer {
                attention_norm: vector(&name("attn_norm"))?,
                qkv: Fused::new(qkv)?,
                qkv_bias,
                qk_norms: match gguf.has(&name("attn_q_norm")) {
                    true => Some((vector(&name("attn_q_norm"))?, vector(&name("attn_k_norm"))?)),
                    false => None,
                },
                output: matrix(&name("attn_output"))?,
                post_attention_norm: optional(&name("post_attention_norm"))?,
                ffn_norm: vector(&name("ffn_norm"))?,
                gate_up: Fused::new(gate_up)?,
                down: matrix(&name("ffn_down"))?,
                post_ffn_norm: optional(&name("post_ffw_norm"))?,
                sliding: config.sliding[i],
            };
            check_shapes(&config, &layer, i)?;
            layers.push(layer);
        }
        let output = match gguf.has("output.weight") {
            true => Some(matrix("output.weight")?),
            false => None,
        };
        let context = context.min(config.context).max(1);
        let factors = rope_factors(gguf, &config, context)?;
        let rope = rope_table(&config, &config.rope, factors.as_deref(), context);
        let window_rope = (config.sliding.contains(&true) && config.window_rope != config.rope)
            .then(|| rope_table(&config, &config.window_rope, None, context));
        Ok(Llama {
            embedding: matrix("token_embd.weight")?,
            norm: vector("output_norm.weight")?,
            layers,
            output,
            rope,
            window_rope,
            config,
        })
    }

    /// Bytes one position of one stream's cache takes: every layer's key
    /// and value, in f16.
    pub fn cache_bytes_per_position(&self) -> usize {
        self.config.layers * 2 * self.config.kv_width() * std::mem::size_of::<half::f16>()
    }

    /// Bytes the weight matrices take, packed (the f32 norms and biases
    /// add well under 1 %).
    pub fn weight_bytes(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .map(|l| l.qkv.bytes() + l.output.bytes() + l.gate_up.bytes() + l.down.bytes())
            .sum();
        layers + self.embedding.bytes() + self.output.as_ref().map_or(0, QMatrix::bytes)
    }

    /// Positions a stream may reach (the `context` it was loaded with).
    pub fn context(&self) -> usize {
        self.rope.len() / (self.config.head_dim / 2)
    }

    fn output(&self) -> &QMatrix {
        self.output.as_ref().unwrap_or(&self.embedding)
    }
}

/// The projections' widths against the config's, so that a pass never
/// indexes past a row.
fn check_shapes(config: &Config, layer: &Layer, index: usize) -> Result<(), String> {
    let qkv = config.q_width() + 2 * config.kv_width();
    let fail = |what: &str, has: usize, wants: usize| {
        Err(format!(
            "layer {index}: {what} gives {has} values per token where the metadata implies {wants}"
        ))
    };
    if layer.qkv.rows() != qkv {
        return fail("q, k and v", layer.qkv.rows(), qkv);
    }
    if layer.gate_up.rows() != 2 * config.ffn {
        return fail("gate and up", layer.gate_up.rows(), 2 * config.ffn);
    }
    if layer.qkv_bias.as_ref().is_some_and(|b| b.len() != qkv) {
        return fail(
            "the q, k and v biases",
            layer.qkv_bias.as_ref().map_or(0, Vec::len),
            qkv,
        );
    }
    Ok(())
}

/// Per-frequency divisors of the rope's angles, where llama.cpp applies
/// them: Llama 3.1's `rope_freqs`, or Phi-3's long-context factors (the
/// long ones when the context passes the original one).
fn rope_factors(gguf: &Gguf, config: &Config, context: usize) -> Result<Option<Vec<f32>>, String> {
    if !matches!(
        config.architecture,
        Architecture::Llama | Architecture::Phi3
    ) {
        return Ok(None);
    }
    let arch = gguf.string("general.architecture")?;
    let original = gguf
        .u32(&format!("{arch}.rope.scaling.original_context_length"))
        .map_or(config.context, |n| n as usize);
    let name = match (gguf.has("rope_freqs.weight"), context > original) {
        (true, _) => "rope_freqs.weight",
        (false, true) => "rope_factors_long.weight",
        (false, false) => "rope_factors_short.weight",
    };
    if !gguf.has(name) {
        return Ok(None);
    }
    let factors = load_vector(gguf, name)?;
    if factors.len() != config.head_dim / 2 {
        return Err(format!(
            "`{name}` has {} factors for {} rotated pairs",
            factors.len(),
            config.head_dim / 2
        ));
    }
    Ok(Some(factors))
}

/// ggml's rope cache: for each position, the angle starts at the
/// position and is multiplied by base^(-2 / dims) pair after pair, in
/// f32; each pair's angle is divided by its factor and multiplied by the
/// linear scale, and cos and sin by the attention factor.
fn rope_table(
    config: &Config,
    rope: &Rope,
    factors: Option<&[f32]>,
    context: usize,
) -> Vec<(f32, f32)> {
    let half = config.head_dim / 2;
    let step = rope.base.powf(-2.0 / config.head_dim as f32);
    let magnitude = config.rope_attention_factor;
    let mut table = Vec::with_capacity(context * half);
    for position in 0..context {
        let mut angle = position as f32;
        for pair in 0..half {
            let factor = factors.map_or(1.0, |f| f[pair]);
            let theta = rope.scale * (angle / factor);
            table.push((theta.cos() * magnitude, theta.sin() * magnitude));
            angle *= step;
        }
    }
    table
}

/// A weight matrix in the layout of `kernels::quant`, in its file's type
/// (Q4_0 … Q8_0, Q4_K, Q5_K, Q6_K); F16 and F32 ones are quantized to
/// Q8_0; other types are refused.
fn load_matrix(gguf: &Gguf, name: &str) -> Result<QMatrix, String> {
    let (dtype, dims) = gguf.info(name)?;
    let [rows, cols] = dims[..] else {
        return Err(format!("tensor `{name}` is not a matrix: {dims:?}"));
    };
    let format = match dtype {
        GgmlDType::Q4_0 => Format::Q4_0,
        GgmlDType::Q4_1 => Format::Q4_1,
        GgmlDType::Q5_0 => Format::Q5_0,
        GgmlDType::Q5_1 => Format::Q5_1,
        GgmlDType::Q8_0 => Format::Q8_0,
        GgmlDType::Q4K => Format::Q4K,
        GgmlDType::Q5K => Format::Q5K,
        GgmlDType::Q6K => Format::Q6K,
        GgmlDType::F16 | GgmlDType::F32 | GgmlDType::BF16 => {
            let values = gguf.dequantized(name)?;
            return QMatrix::from_f32(rows, cols, &values).map_err(|e| format!("`{name}`: {e}"));
        }
        other => {
            return Err(format!(
                "tensor `{name}` is {other:?}; Wick runs Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, F16 and F32"
            ));
        }
    };
    QMatrix::from_gguf(format, rows, cols, &gguf.bytes(name)?).map_err(|e| format!("`{name}`: {e}"))
}

fn load_vector(gguf: &Gguf, name: &str) -> Result<Vec<f32>, String> {
    let (dtype, _) = gguf.info(name)?;
    if dtype != GgmlDType::F32 {
        return Err(format!("tensor `{name}` is {dtype:?}, not F32"));
    }
    Ok(gguf
        .bytes(name)?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

#[cfg(test)]
mod tests;
