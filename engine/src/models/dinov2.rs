//! DINOv2 as transformers' `Dinov2ForImageClassification` builds and names
//! it (`dinov2.embeddings…`, `dinov2.encoder.layer.N…`, `dinov2.layernorm`,
//! `classifier`): a ViT with layer scale whose head reads the class token
//! beside the mean of the patch tokens. On Candle's ops (candle-transformers'
//! DINOv2 is the original repository's layout and names).
//!
//! The position table is learnt for `image_size` (518 for the released
//! models) and read at the preprocessed size (224): it is resampled once,
//! at load, with PyTorch's bicubic interpolation as transformers does it.

use candle_core::{D, DType, Device, IndexOp, Result, Tensor};
use candle_nn::{Activation, Conv2d, Conv2dConfig, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use super::fast_linear::FastLinear;

/// The fields of a DINOv2 `config.json` that shape the network, with
/// transformers' defaults.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(default = "d768")]
    pub hidden_size: usize,
    #[serde(default = "d12")]
    pub num_hidden_layers: usize,
    #[serde(default = "d12")]
    pub num_attention_heads: usize,
    #[serde(default = "four")]
    pub mlp_ratio: f64,
    #[serde(default = "d224")]
    pub image_size: usize,
    #[serde(default = "d14")]
    pub patch_size: usize,
    #[serde(default = "three")]
    pub num_channels: usize,
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub hidden_act: Activation,
    #[serde(default = "yes")]
    pub qkv_bias: bool,
    #[serde(default)]
    pub use_swiglu_ffn: bool,
}

fn d768() -> usize {
    768
}
fn d12() -> usize {
    12
}
fn four() -> f64 {
    4.0
}
fn d224() -> usize {
    224
}
fn d14() -> usize {
    14
}
fn three() -> usize {
    3
}
fn eps() -> f64 {
    1e-6
}
fn yes() -> bool {
    true
}

impl Config {
    /// What this build cannot run, in words.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.use_swiglu_ffn {
            return Err("use_swiglu_ffn (DINOv2-giant's MLP) is not supported yet".into());
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err("hidden_size must be a multiple of num_attention_heads".into());
        }
        if self.patch_size == 0 || self.image_size < self.patch_size {
            return Err("patch_size must be positive and within image_size".into());
        }
        Ok(())
    }
}

struct Layer {
    norm1: LayerNorm,
    query: FastLinear,
    key: FastLinear,
    value: FastLinear,
    output: FastLinear,
    scale1: Tensor,
    norm2: LayerNorm,
    fc1: FastLinear,
    fc2: FastLinear,
    scale2: Tensor,
    activation: Activation,
    heads: usize,
}

impl Layer {
    fn load(vb: VarBuilder, config: &Config) -> Result<Layer> {
        let h = config.hidden_size;
        let mlp = (h as f64 * config.mlp_ratio) as usize;
        let attention = vb.pp("attention");
        let projection = |name: &str| {
            let vb = attention.pp("attention").pp(name);
            FastLinear::new(if config.qkv_bias {
                candle_nn::linear(h, h, vb)?
            } else {
                candle_nn::linear_no_bias(h, h, vb)?
            })
        };
        Ok(Layer {
            norm1: candle_nn::layer_norm(h, config.layer_norm_eps, vb.pp("norm1"))?,
            query: projection("query")?,
            key: projection("key")?,
            value: projection("value")?,
            output: FastLinear::new(candle_nn::linear(h, h, attention.pp("output").pp("dense"))?)?,
            scale1: vb.pp("layer_scale1").get(h, "lambda1")?,
            norm2: candle_nn::layer_norm(h, config.layer_norm_eps, vb.pp("norm2"))?,
            fc1: FastLinear::new(candle_nn::linear(h, mlp, vb.pp("mlp").pp("fc1"))?)?,
            fc2: FastLinear::new(candle_nn::linear(mlp, h, vb.pp("mlp").pp("fc2"))?)?,
            scale2: vb.pp("layer_scale2").get(h, "lambda1")?,
            activation: config.hidden_act,
            heads: config.num_attention_heads,
        })
    }

    fn attention(&self, x: &Tensor) -> Result<Tensor> {
        let (batch, tokens, hidden) = x.dims3()?;
        let head = hidden / self.heads;
        let split = |t: Tensor| {
            t.reshape((batch, tokens, self.heads, head))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(x.apply(&self.query)?)?;
        let k = split(x.apply(&self.key)?)?;
        let v = split(x.apply(&self.value)?)?;
        let weights = (q.matmul(&k.t()?)? / (head as f64).sqrt())?;
        let weights = candle_nn::ops::softmax_last_dim(&weights)?;
        weights
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, tokens, hidden))?
            .apply(&self.output)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.attention(&x.apply(&self.norm1)?)?;
        let x = (x + y.broadcast_mul(&self.scale1)?)?;
        let y = x
            .apply(&self.norm2)?
            .apply(&self.fc1)?
            .apply(&self.activation)?
            .apply(&self.fc2)?;
        x + y.broadcast_mul(&self.scale2)?
    }
}

pub struct Dinov2 {
    patches: Conv2d,
    cls_token: Tensor,
    /// The position table at the input size: (1, 1 + patches, hidden).
    positions: Tensor,
    layers: Vec<Layer>,
    norm: LayerNorm,
    classifier: Linear,
}

impl Dinov2 {
    /// Loads the network for inputs of `input_size` × `input_size`.
    pub fn load(
        vb: VarBuilder,
        config: &Config,
        labels: usize,
        input_size: usize,
    ) -> Result<Dinov2> {
        let h = config.hidden_size;
        let body = vb.pp("dinov2");
        let embeddings = body.pp("embeddings");
        let patches = candle_nn::conv2d(
            config.num_channels,
            h,
            config.patch_size,
            Conv2dConfig {
                stride: config.patch_size,
                ..Default::default()
            },
            embeddings.pp("patch_embeddings").pp("projection"),
        )?;
        let side = config.image_size / config.patch_size;
        let learnt = embeddings.get((1, side * side + 1, h), "position_embeddings")?;
        let positions = resample_positions(&learnt, side, input_size / config.patch_size)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(body.pp("encoder").pp("layer").pp(i.to_string()), config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Dinov2 {
            patches,
            cls_token: embeddings.get((1, 1, h), "cls_token")?,
            positions,
            layers,
            norm: candle_nn::layer_norm(h, config.layer_norm_eps, body.pp("layernorm"))?,
            classifier: candle_nn::linear(2 * h, labels, vb.pp("classifier"))?,
        })
    }

    /// Images (batch, channels, height, width), normalised → logits.
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        let batch = images.dim(0)?;
        let patches = images
            .apply(&self.patches)?
            .flatten_from(2)?
            .transpose(1, 2)?;
        let cls = self.cls_token.repeat((batch, 1, 1))?;
        let mut x = Tensor::cat(&[cls, patches], 1)?.broadcast_add(&self.positions)?;
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        let x = x.apply(&self.norm)?;
        let tokens = x.dim(1)?;
        let cls = x.i((.., 0))?;
        let mean = x.narrow(1, 1, tokens - 1)?.mean(1)?;
        Tensor::cat(&[cls, mean], D::Minus1)?.apply(&self.classifier)
    }
}

/// The learnt table (1, 1 + side², hidden) at `target` × `target` patches:
/// unchanged at its own size, else its patch rows resampled as
/// `torch.nn.functional.interpolate(mode="bicubic", align_corners=False)`.
fn resample_positions(learnt: &Tensor, side: usize, target: usize) -> Result<Tensor> {
    if side == target {
        return Ok(learnt.clone());
    }
    let hidden = learnt.dim(2)?;
    let table = learnt.squeeze(0)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let grid = &table[1..];
    let taps = bicubic_taps(side, target);
    let mut out = Vec::with_capacity((1 + target * target) * hidden);
    out.extend_from_slice(&table[0]);
    for (ys, yw) in &taps {
        for (xs, xw) in &taps {
            // Along x in each of the 4 rows, then along y, as PyTorch does.
            let mut value = vec![0f32; hidden];
            for (y, wy) in ys.iter().zip(yw) {
                let mut row = vec![0f32; hidden];
                for (x, wx) in xs.iter().zip(xw) {
                    for (sum, v) in row.iter_mut().zip(&grid[y * side + x]) {
                        *sum += wx * v;
                    }
                }
                for (sum, r) in value.iter_mut().zip(&row) {
                    *sum += wy * r;
                }
            }
            out.extend_from_slice(&value);
        }
    }
    Tensor::from_vec(out, (1, 1 + target * target, hidden), &Device::Cpu)?
        .to_device(learnt.device())?
        .to_dtype(learnt.dtype())
}

/// For each of `output` positions, the 4 source indices (clamped to the
/// edge) and their weights of PyTorch's bicubic kernel (a = -0.75), with
/// `align_corners=False` and no antialiasing.
fn bicubic_taps(input: usize, output: usize) -> Vec<([usize; 4], [f32; 4])> {
    const A: f32 = -0.75;
    let scale = input as f32 / output as f32;
    let near = |t: f32| ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
    let far = |t: f32| ((A * t - 5.0 * A) * t + 8.0 * A) * t - 4.0 * A;
    (0..output)
        .map(|i| {
            let real = scale * (i as f32 + 0.5) - 0.5;
            let floor = real.floor();
            let t = real - floor;
            let at = |offset: i64| (floor as i64 + offset).clamp(0, input as i64 - 1) as usize;
            (
                [at(-1), at(0), at(1), at(2)],
                [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::bicubic_taps;

    #[test]
    fn bicubic_weights_sum_to_one_and_keep_a_size_unchanged() {
        for (input, output) in [(6, 4), (37, 16), (4, 9)] {
            for (_, weights) in bicubic_taps(input, output) {
                let sum: f32 = weights.iter().sum();
                assert!((sum - 1.0).abs() < 1e-6, "{weights:?}");
            }
        }
        // At the same size each output reads its own input, weight 1.
        for (i, (indices, weights)) in bicubic_taps(5, 5).into_iter().enumerate() {
            assert_eq!(indices[1], i);
            assert!((weights[1] - 1.0).abs() < 1e-6 && weights[0].abs() < 1e-6);
        }
    }
}
