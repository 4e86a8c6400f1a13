//! What a GGUF's metadata says about its decoder, read as llama.cpp reads
//! it for each architecture (its `load_arch_hparams`), defaults included.

use super::Gguf;

/// The GGUF architectures this decoder runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// Llama 1–3, Mistral, SmolLM2: the plain layout.
    Llama,
    /// Biases on q, k and v.
    Qwen2,
    /// An RMS norm over each head of q and of k.
    Qwen3,
    /// q, k and v in one matrix, gate and up in another; q pre-scaled.
    Phi3,
    /// Norms after attention and after the FFN too, GELU, soft-capped
    /// scores and logits, every other layer attending to a window.
    Gemma2,
    /// Gemma 2's layout with Qwen3's head norms instead of the score cap;
    /// five window layers to one global one, each kind with its own rope.
    Gemma3,
}

impl Architecture {
    fn from_name(name: &str) -> Option<Architecture> {
        match name {
            "llama" => Some(Architecture::Llama),
            "qwen2" => Some(Architecture::Qwen2),
            "qwen3" => Some(Architecture::Qwen3),
            "phi3" => Some(Architecture::Phi3),
            "gemma2" => Some(Architecture::Gemma2),
            "gemma3" => Some(Architecture::Gemma3),
            _ => None,
        }
    }

    /// Whether rope pairs value i with i + head_dim / 2 (NeoX) rather
    /// than with i + 1 (GGUF's llama layout, permuted at conversion).
    pub(super) fn rotates_halves(self) -> bool {
        self != Architecture::Llama
    }

    fn is_gemma(self) -> bool {
        matches!(self, Architecture::Gemma2 | Architecture::Gemma3)
    }
}

/// The FFN's gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// silu(gate) × up.
    Silu,
    /// gelu(gate) × up, GELU's tanh form (Gemma).
    Gelu,
}

/// One kind of layer's rotation: ggml's rope with linear scaling.
#[derive(Clone, Debug, PartialEq)]
pub struct Rope {
    pub base: f32,
    /// The factor every angle is multiplied by: 1 / the linear scaling
    /// factor.
    pub scale: f32,
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
    pub rms_eps: f32,
    /// The context length the model was trained for.
    pub context: usize,
    /// Layers attending to every position.
    pub rope: Rope,
    /// Layers attending to a window (Gemma's local layers).
    pub window_rope: Rope,
    /// Per layer: whether it attends only to the last `window` positions.
    pub sliding: Vec<bool>,
    pub window: usize,
    /// Multiplies cos and sin (Phi-3's long-context rope).
    pub rope_attention_factor: f32,
    /// The embeddings × this (Gemma: √hidden).
    pub embedding_scale: Option<f32>,
    /// q × this before attention, scores unscaled (Phi-3, Gemma); None:
    /// scores × 1/√head_dim in the softmax (llama, Qwen), as llama.cpp
    /// does each.
    pub query_scale: Option<f32>,
    /// Scores become cap · tanh(score / cap) (Gemma 2).
    pub attention_softcap: Option<f32>,
    /// Logits likewise (Gemma 2, some Gemma 3).
    pub final_softcap: Option<f32>,
    pub activation: Activation,
}

impl Config {
    pub fn from_gguf(gguf: &Gguf) -> Result<Config, String> {
        let name = gguf.string("general.architecture")?;
        let architecture = Architecture::from_name(name).ok_or_else(|| {
            format!(
                "the GGUF is a `{name}` model; Wick's text generation runs `llama`, `qwen2`, \
                 `qwen3`, `phi3`, `gemma2` and `gemma3` ones"
            )
        })?;
        let key = |key: &str| format!("{name}.{key}");
        let optional_f32 = |k: &str| gguf.f32(&key(k)).ok().filter(|v| *v != 0.0);
        // llama.cpp reads "linear" when the type is missing; the factor
        // then scales every angle. YaRN also changes the angles' ramp and
        // magnitude: refused rather than run wrong.
        let scaling = gguf.string(&key("rope.scaling.type")).unwrap_or("linear");
        if !matches!(scaling, "none" | "linear" | "longrope" | "") {
            return Err(format!(
                "the GGUF scales its rope with `{scaling}`; Wick runs linear scaling, Llama 3's \
                 per-frequency factors and Phi-3's long rope"
            ));
        }
        let factor = optional_f32("rope.scaling.factor")
            .or_else(|| optional_f32("rope.scale_linear"))
            .unwrap_or(1.0);
        let rope = Rope {
            base: gguf.f32(&key("rope.freq_base")).unwrap_or(10_000.0),
            scale: 1.0 / factor,
        };
        let hidden = gguf.u32(&key("embedding_length"))? as usize;
        let heads = gguf.u32(&key("attention.head_count"))? as usize;
        let layers = gguf.u32(&key("block_count"))? as usize;
        let head_dim = gguf
            .u32(&key("attention.key_length"))
            .map(|n| n as usize)
            .unwrap_or(hidden / heads.max(1));
        if let Ok(rotated) = gguf.u32(&key("rope.dimension_count"))
            && rotated as usize != head_dim
        {
            return Err(format!(
                "the GGUF rotates {rotated} of each head's {head_dim} values; Wick rotates whole heads"
            ));
        }
        let window = gguf
            .u32(&key("attention.sliding_window"))
            .ok()
            .map(|n| n as usize)
            .filter(|&n| n > 0);
        // Which layers attend to a window, as llama.cpp decides per
        // architecture (Phi-3's window is off in llama.cpp too).
        let (window, pattern) = match architecture {
            Architecture::Gemma2 => (Some(window.unwrap_or(4096)), 2),
            Architecture::Gemma3 => (window, 6),
            _ => (None, 0),
        };
        let sliding = match window {
            None => vec![false; layers],
            Some(_) => match gguf.flags(&key("attention.sliding_window_pattern")) {
                Some(per_layer) if per_layer.len() == layers => per_layer,
                Some(per_layer) => {
                    return Err(format!(
                        "the GGUF's sliding-window pattern names {} layers of {layers}",
                        per_layer.len()
                    ));
                }
                None => {
                    let pattern = gguf
                        .u32(&key("attention.sliding_window_pattern"))
                        .map_or(pattern, |n| n as usize);
                    (0..layers)
                        .map(|i| pattern == 0 || i % pattern < pattern - 1)
                        .collect()
                }
            },
        };
        let window_rope = match architecture {
            Architecture::Gemma2 => Rope {
                base: gguf.f32(&key("rope.freq_base_swa")).unwrap_or(rope.base),
                scale: rope.scale,
            },
            _ => Rope {
                base: gguf.f32(&key("rope.freq_base_swa")).unwrap_or(10_000.0),
                scale: 1.0,
            },
        };
        // Gemma scales q by 1/√(hidden / heads) in its 27B models (by
        // their layer count, as llama.cpp tells them apart), else by
        // 1/√head_dim.
        let query_scale = match architecture {
            Architecture::Phi3 => Some(1.0 / (head_dim as f32).sqrt()),
            Architecture::Gemma2 | Architecture::Gemma3 => {
                let big = matches!(
                    (architecture, layers),
                    (Architecture::Gemma2, 46) | (Architecture::Gemma3, 62)
                );
                let width = if big { hidden / heads.max(1) } else { head_dim };
                Some(1.0 / (width as f32).sqrt())
            }
            _ => None,
        };
        let softcap = |k: &str, default: Option<f32>| optional_f32(k).or(default);
        let config = Config {
            architecture,
            layers,
            hidden,
            ffn: gguf.u32(&key("feed_forward_length"))? as usize,
            heads,
            kv_heads: gguf
                .u32(&key("attention.head_count_kv"))
                .map(|n| n as usize)
                .unwrap_or(heads),
            head_dim,
            vocab: gguf.strings("tokenizer.ggml.tokens")?.len(),
            rms_eps: gguf.f32(&key("attention.layer_norm_rms_epsilon"))?,
            context: gguf.u32(&key("context_length"))? as usize,
            rope,
            window_rope,
            sliding,
            window: window.unwrap_or(usize::MAX),
            rope_attention_factor: gguf.f32(&key("rope.scaling.attn_factor")).unwrap_or(1.0),
            embedding_scale: architecture.is_gemma().then(|| (hidden as f32).sqrt()),
            query_scale,
            attention_softcap: match architecture {
                Architecture::Gemma2 => softcap("attn_logit_softcapping", Some(50.0)),
                _ => None,
            },
            final_softcap: match architecture {
                Architecture::Gemma2 => softcap("final_logit_softcapping", Some(30.0)),
                Architecture::Gemma3 => softcap("final_logit_softcapping", None),
                _ => None,
            },
            activation: match architecture.is_gemma() {
                true => Activation::Gelu,
                false => Activation::Silu,
            },
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

    pub(super) fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// Values of q per token: every head's.
    pub(super) fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }
}
