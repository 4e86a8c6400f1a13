//! ConvNeXt as transformers' `ConvNextForImageClassification` builds and
//! names it (`convnext.embeddings…`, `convnext.encoder.stages.N…`,
//! `convnext.layernorm`, `classifier`): a 4 × 4 patchify stem, stages of
//! depthwise 7 × 7 blocks with an inverted MLP and layer scale, a global
//! average, a LayerNorm and a linear head. On Candle's ops, channels-last
//! between the stem and the head; on the CPU the depthwise 7 × 7
//! convolutions run on `kernels::depthwise` (Candle's grouped convolution
//! runs one convolution per channel: ConvNeXt-Tiny was 3× slower with it).

use candle_core::{Result, Tensor};
use candle_nn::{Activation, Conv2d, Conv2dConfig, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use super::fast_linear::FastLinear;
use crate::kernels::depthwise::Depthwise;

/// The fields of a ConvNeXt `config.json` that shape the network, with
/// transformers' defaults.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(default = "three")]
    pub num_channels: usize,
    #[serde(default = "four")]
    pub patch_size: usize,
    pub hidden_sizes: Vec<usize>,
    pub depths: Vec<usize>,
    #[serde(default)]
    pub hidden_act: Activation,
    #[serde(default = "layer_scale")]
    pub layer_scale_init_value: f64,
    #[serde(default = "final_eps")]
    pub layer_norm_eps: f64,
}

fn three() -> usize {
    3
}
fn four() -> usize {
    4
}
fn layer_scale() -> f64 {
    1e-6
}
fn final_eps() -> f64 {
    1e-12
}

/// The LayerNorms inside the network use 1e-6 whatever the config says.
const EPS: f64 = 1e-6;

impl Config {
    /// What this build cannot run, in words.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.hidden_sizes.is_empty() || self.hidden_sizes.len() != self.depths.len() {
            return Err("hidden_sizes and depths must be the same, non-zero length".into());
        }
        Ok(())
    }
}

/// A 2-D convolution of a channels-last tensor (Candle's takes channels
/// first).
fn conv_channels_last(conv: &Conv2d, x: &Tensor) -> Result<Tensor> {
    x.permute((0, 3, 1, 2))?
        .apply(conv)?
        .permute((0, 2, 3, 1))?
        .contiguous()
}

struct Block {
    depthwise: Conv2d,
    /// The depthwise filter as `kernels::depthwise` takes it: (7, 7, dim).
    taps: Vec<f32>,
    bias: Vec<f32>,
    norm: LayerNorm,
    expand: FastLinear,
    project: FastLinear,
    activation: Activation,
    scale: Option<Tensor>,
}

impl Block {
    fn load(vb: VarBuilder, config: &Config, dim: usize) -> Result<Block> {
        let depthwise = candle_nn::conv2d(
            dim,
            dim,
            7,
            Conv2dConfig {
                padding: 3,
                groups: dim,
                ..Default::default()
            },
            vb.pp("dwconv"),
        )?;
        let taps = depthwise
            .weight()
            .reshape((dim, 49))?
            .t()?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let bias = match depthwise.bias() {
            Some(bias) => bias.to_vec1::<f32>()?,
            None => vec![0.0; dim],
        };
        let scale = (config.layer_scale_init_value > 0.0)
            .then(|| vb.get(dim, "layer_scale_parameter"))
            .transpose()?;
        Ok(Block {
            depthwise,
            taps,
            bias,
            norm: candle_nn::layer_norm(dim, EPS, vb.pp("layernorm"))?,
            expand: FastLinear::new(candle_nn::linear(dim, 4 * dim, vb.pp("pwconv1"))?)?,
            project: FastLinear::new(candle_nn::linear(4 * dim, dim, vb.pp("pwconv2"))?)?,
            activation: config.hidden_act,
            scale,
        })
    }

    /// The depthwise convolution of a (batch, height, width, dim) tensor.
    fn depthwise(&self, x: &Tensor) -> Result<Tensor> {
        if !x.device().is_cpu() {
            return conv_channels_last(&self.depthwise, x);
        }
        let (batch, height, width, channels) = x.dims4()?;
        let geometry = Depthwise {
            batch,
            height,
            width,
            channels,
            kernel: 7,
            stride: 1,
            pad_top: 3,
            pad_left: 3,
            out_height: height,
            out_width: width,
            relu6: false,
        };
        let input = x.flatten_all()?.to_vec1::<f32>()?;
        let out = geometry.run(&input, &self.taps, &self.bias);
        Tensor::from_vec(out, (batch, height, width, channels), x.device())
    }

    /// (batch, height, width, dim) → the same shape.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = self
            .depthwise(x)?
            .apply(&self.norm)?
            .apply(&self.expand)?
            .apply(&self.activation)?
            .apply(&self.project)?;
        if let Some(scale) = &self.scale {
            y = y.broadcast_mul(scale)?;
        }
        x + y
    }
}

struct Stage {
    downsample: Option<(LayerNorm, Conv2d)>,
    blocks: Vec<Block>,
}

pub struct ConvNext {
    stem: Conv2d,
    stem_norm: LayerNorm,
    stages: Vec<Stage>,
    norm: LayerNorm,
    classifier: Linear,
}

impl ConvNext {
    pub fn load(vb: VarBuilder, config: &Config, labels: usize) -> Result<ConvNext> {
        let body = vb.pp("convnext");
        let first = config.hidden_sizes[0];
        let stem = candle_nn::conv2d(
            config.num_channels,
            first,
            config.patch_size,
            Conv2dConfig {
                stride: config.patch_size,
                ..Default::default()
            },
            body.pp("embeddings").pp("patch_embeddings"),
        )?;
        let stem_norm = candle_nn::layer_norm(first, EPS, body.pp("embeddings").pp("layernorm"))?;
        let mut stages = Vec::new();
        let mut inputs = first;
        for (index, (&outputs, &depth)) in
            config.hidden_sizes.iter().zip(&config.depths).enumerate()
        {
            let vb = body.pp("encoder").pp("stages").pp(index.to_string());
            let downsample = (index > 0 || inputs != outputs)
                .then(|| -> Result<(LayerNorm, Conv2d)> {
                    let vb = vb.pp("downsampling_layer");
                    let config = Conv2dConfig {
                        stride: 2,
                        ..Default::default()
                    };
                    Ok((
                        candle_nn::layer_norm(inputs, EPS, vb.pp("0"))?,
                        candle_nn::conv2d(inputs, outputs, 2, config, vb.pp("1"))?,
                    ))
                })
                .transpose()?;
            let blocks = (0..depth)
                .map(|layer| Block::load(vb.pp("layers").pp(layer.to_string()), config, outputs))
                .collect::<Result<Vec<_>>>()?;
            stages.push(Stage { downsample, blocks });
            inputs = outputs;
        }
        Ok(ConvNext {
            stem,
            stem_norm,
            stages,
            norm: candle_nn::layer_norm(inputs, config.layer_norm_eps, body.pp("layernorm"))?,
            classifier: candle_nn::linear(inputs, labels, vb.pp("classifier"))?,
        })
    }

    /// Images (batch, channels, height, width), normalised → logits.
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        let mut x = images
            .apply(&self.stem)?
            .permute((0, 2, 3, 1))?
            .contiguous()?
            .apply(&self.stem_norm)?;
        for stage in &self.stages {
            if let Some((norm, conv)) = &stage.downsample {
                x = conv_channels_last(conv, &x.apply(norm)?)?;
            }
            for block in &stage.blocks {
                x = block.forward(&x)?;
            }
        }
        x.mean((1, 2))?.apply(&self.norm)?.apply(&self.classifier)
    }
}
