//! Llama-family decoders from GGUF files, for generation with many
//! streams at once: `llama` (SmolLM, Llama, Mistral-style layouts),
//! `qwen2` (biases on q, k and v; NeoX rope) and `qwen3` (an RMS norm on
//! each head of q and k; NeoX rope), as llama.cpp builds their graphs.
//!
//! Candle-transformers' `quantized_llama` runs one sequence per model (its
//! KV cache lives in the layers) on Candle's quantized matmul, whose Q4_1
//! path is scalar. This build keeps a KV cache per stream (`Cache`), so
//! one forward pass advances several streams together — prompt chunks and
//! single decode tokens in one batch — on the VNNI kernels in
//! `kernels::quant`. Tests check its logits against `quantized_llama`.
//!
//! - `gguf`: reading the file;
//! - `forward`: the pass itself and the per-stream cache.

mod forward;
mod fused;
pub mod gguf;

use std::path::Path;

use candle_core::quantized::GgmlDType;

pub use forward::Cache;
use fused::Fused;
pub use gguf::Gguf;

use crate::kernels::quant::{Format, QMatrix};

/// The GGUF architectures this decoder runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Qwen2,
    Qwen3,
}

impl Architecture {
    fn from_name(name: &str) -> Option<Architecture> {
        match name {
            "llama" => Some(Architecture::Llama),
            "qwen2" => Some(Architecture::Qwen2),
            "qwen3" => Some(Architecture::Qwen3),
            _ => None,
        }
    }

    /// Whether rope pairs value i with i + head_dim / 2 (NeoX) rather
    /// than with i + 1 (GGUF's llama layout, permuted at conversion).
    fn rotates_halves(self) -> bool {
        self != Architecture::Llama
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub architecture: Architecture,
    pub layers: usize,
    pub hidden: usize,
    pub ffn: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub vocab: usize,
    pub rope_base: f32,
    pub rms_eps: f32,
    /// The context length the model was trained for.
    pub context: usize,
}

impl Config {
    pub fn from_gguf(gguf: &Gguf) -> Result<Config, String> {
        let name = gguf.string("general.architecture")?;
        let architecture = Architecture::from_name(name).ok_or_else(|| {
            format!(
                "the GGUF is a `{name}` model; Wick's text generation runs `llama`, `qwen2` and `qwen3` ones"
            )
        })?;
        let key = |key: &str| format!("{name}.{key}");
        // Llama 3.1's long-context rope (per-frequency factors) and YaRN
        // change every angle: refused rather than run wrong.
        let scaling = gguf.string(&key("rope.scaling.type")).unwrap_or("none");
        if gguf.has("rope_freqs.weight") || !matches!(scaling, "none" | "") {
            return Err(format!(
                "the GGUF scales its rope (`{scaling}`, or per-frequency factors); Wick does not run rope scaling yet"
            ));
        }
        let hidden = gguf.u32(&key("embedding_length"))? as usize;
        let heads = gguf.u32(&key("attention.head_count"))? as usize;
        let config = Config {
            architecture,
            layers: gguf.u32(&key("block_count"))? as usize,
            hidden,
            ffn: gguf.u32(&key("feed_forward_length"))? as usize,
            heads,
            kv_heads: gguf
                .u32(&key("attention.head_count_kv"))
                .map(|n| n as usize)
                .unwrap_or(heads),
            // Qwen3 states it (its heads are wider than hidden / heads).
            head_dim: gguf
                .u32(&key("attention.key_length"))
                .map(|n| n as usize)
                .unwrap_or(hidden / heads.max(1)),
            vocab: gguf.strings("tokenizer.ggml.tokens")?.len(),
            rope_base: gguf.f32(&key("rope.freq_base")).unwrap_or(10_000.0),
            rms_eps: gguf.f32(&key("attention.layer_norm_rms_epsilon"))?,
            context: gguf.u32(&key("context_length"))? as usize,
        };
        if heads == 0
            || config.kv_heads == 0
            || !heads.is_multiple_of(config.kv_heads)
            || config.head_dim == 0
            || !config.head_dim.is_multiple_of(2)
        {
            return Err(format!("unusable attention shape: {config:?}"));
        }
        Ok(config)
    }

    fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// Values of q per token: every head's.
    fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }
}

struct Layer {
    attention_norm: Vec<f32>,
    /// q, k and v projections: one product for all three where their
    /// types agree.
    qkv: Fused,
    /// Qwen2: the biases of q, k and v, side by side like their outputs.
    qkv_bias: Option<Vec<f32>>,
    /// Qwen3: the RMS norms' weights of each head of q and of k.
    qk_norms: Option<(Vec<f32>, Vec<f32>)>,
    output: QMatrix,
    ffn_norm: Vec<f32>,
    /// Gate and up projections.
    gate_up: Fused,
    down: QMatrix,
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
        let mut layers = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let name = |part: &str| format!("blk.{i}.{part}.weight");
            layers.push(Layer {
                attention_norm: vector(&name("attn_norm"))?,
                qkv: Fused::new(vec![
                    matrix(&name("attn_q"))?,
                    matrix(&name("attn_k"))?,
                    matrix(&name("attn_v"))?,
                ])?,
                qkv_bias: match gguf.has(&format!("blk.{i}.attn_q.bias")) {
                    true => Some(
                        ["attn_q", "attn_k", "attn_v"]
                            .iter()
                            .map(|part| load_vector(gguf, &format!("blk.{i}.{part}.bias")))
                            .collect::<Result<Vec<_>, _>>()?
                            .concat(),
                    ),
                    false => None,
                },
                qk_norms: match gguf.has(&name("attn_q_norm")) {
                    true => Some((vector(&name("attn_q_norm"))?, vector(&name("attn_k_norm"))?)),
                    false => None,
                },
                output: matrix(&name("attn_output"))?,
                ffn_norm: vector(&name("ffn_norm"))?,
                gate_up: Fused::new(vec![matrix(&name("ffn_gate"))?, matrix(&name("ffn_up"))?])?,
                down: matrix(&name("ffn_down"))?,
            });
        }
        let output = match gguf.has("output.weight") {
            true => Some(matrix("output.weight")?),
            false => None,
        };
        let half = config.head_dim / 2;
        let context = context.min(config.context).max(1);
        // ggml's rope cache: the angle starts at the position and is
        // multiplied by base^(-2 / dims) pair after pair, in f32.
        let step = config.rope_base.powf(-2.0 / config.head_dim as f32);
        let rope = (0..context)
            .flat_map(|position| {
                (0..half).scan(position as f32, move |angle, _| {
                    let this = *angle;
                    *angle *= step;
                    Some((this.cos(), this.sin()))
                })
            })
            .collect();
        Ok(Llama {
            embedding: matrix("token_embd.weight")?,
            norm: vector("output_norm.weight")?,
            layers,
            output,
            rope,
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
