//! ResNet as transformers' `ResNetForImageClassification` builds and names
//! it (`resnet.embedder…`, `resnet.encoder.stages.N.layers.M…`,
//! `classifier.1`): a 7 × 7 stem and max-pool, stages of basic or
//! bottleneck blocks with BatchNorm, a global average and a linear head.
//! On Candle's ops (candle-transformers' ResNet is timm's layout and
//! names). BatchNorm runs with its running statistics (inference).

use candle_core::{Result, Tensor};
use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, Linear, VarBuilder};
use serde::Deserialize;

/// The fields of a ResNet `config.json` that shape the network, with
/// transformers' defaults.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(default = "three")]
    pub num_channels: usize,
    #[serde(default = "d64")]
    pub embedding_size: usize,
    pub hidden_sizes: Vec<usize>,
    pub depths: Vec<usize>,
    #[serde(default = "bottleneck")]
    pub layer_type: String,
    #[serde(default = "relu")]
    pub hidden_act: String,
    #[serde(default)]
    pub downsample_in_first_stage: bool,
    #[serde(default)]
    pub downsample_in_bottleneck: bool,
}

fn three() -> usize {
    3
}
fn d64() -> usize {
    64
}
fn bottleneck() -> String {
    "bottleneck".into()
}
fn relu() -> String {
    "relu".into()
}

impl Config {
    /// What this build cannot run, in words.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.hidden_act != "relu" {
            return Err(format!(
                "hidden_act `{}`: Wick's ResNet runs relu only",
                self.hidden_act
            ));
        }
        if !matches!(self.layer_type.as_str(), "basic" | "bottleneck") {
            return Err(format!(
                "layer_type `{}` is not basic or bottleneck",
                self.layer_type
            ));
        }
        if self.hidden_sizes.is_empty() || self.hidden_sizes.len() != self.depths.len() {
            return Err("hidden_sizes and depths must be the same, non-zero length".into());
        }
        Ok(())
    }
}

/// A convolution without bias, BatchNorm, and (but for a block's last) a
/// ReLU: transformers' `ResNetConvLayer`.
struct ConvLayer {
    conv: Conv2d,
    norm: BatchNorm,
    relu: bool,
}

impl ConvLayer {
    fn load(
        vb: VarBuilder,
        (inputs, outputs): (usize, usize),
        kernel: usize,
        stride: usize,
        relu: bool,
    ) -> Result<ConvLayer> {
        let config = Conv2dConfig {
            padding: kernel / 2,
            stride,
            ..Default::default()
        };
        Ok(ConvLayer {
            conv: candle_nn::conv2d_no_bias(inputs, outputs, kernel, config, vb.pp("convolution"))?,
            norm: candle_nn::batch_norm(outputs, 1e-5, vb.pp("normalization"))?,
            relu,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.apply(&self.conv)?.apply_t(&self.norm, false)?;
        if self.relu { x.relu() } else { Ok(x) }
    }
}

/// A residual block: its layers beside a shortcut (a 1 × 1 convolution
/// where the shape changes), summed, then a ReLU.
struct Block {
    layers: Vec<ConvLayer>,
    shortcut: Option<ConvLayer>,
}

impl Block {
    fn load(
        vb: VarBuilder,
        config: &Config,
        inputs: usize,
        outputs: usize,
        stride: usize,
    ) -> Result<Block> {
        let shortcut = (inputs != outputs || stride != 1)
            .then(|| ConvLayer::load(vb.pp("shortcut"), (inputs, outputs), 1, stride, false))
            .transpose()?;
        let vb = vb.pp("layer");
        let layers = if config.layer_type == "basic" {
            vec![
                ConvLayer::load(vb.pp("0"), (inputs, outputs), 3, stride, true)?,
                ConvLayer::load(vb.pp("1"), (outputs, outputs), 3, 1, false)?,
            ]
        } else {
            let reduced = outputs / 4;
            let (first, second) = if config.downsample_in_bottleneck {
                (stride, 1)
            } else {
                (1, stride)
            };
            vec![
                ConvLayer::load(vb.pp("0"), (inputs, reduced), 1, first, true)?,
                ConvLayer::load(vb.pp("1"), (reduced, reduced), 3, second, true)?,
                ConvLayer::load(vb.pp("2"), (reduced, outputs), 1, 1, false)?,
            ]
        };
        Ok(Block { layers, shortcut })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for layer in &self.layers {
            y = layer.forward(&y)?;
        }
        let residual = match &self.shortcut {
            Some(shortcut) => shortcut.forward(x)?,
            None => x.clone(),
        };
        (y + residual)?.relu()
    }
}

pub struct ResNet {
    stem: ConvLayer,
    blocks: Vec<Block>,
    classifier: Linear,
}

impl ResNet {
    pub fn load(vb: VarBuilder, config: &Config, labels: usize) -> Result<ResNet> {
        let body = vb.pp("resnet");
        let stem = ConvLayer::load(
            body.pp("embedder").pp("embedder"),
            (config.num_channels, config.embedding_size),
            7,
            2,
            true,
        )?;
        let mut blocks = Vec::new();
        let mut inputs = config.embedding_size;
        for (index, (&outputs, &depth)) in
            config.hidden_sizes.iter().zip(&config.depths).enumerate()
        {
            let stage = body
                .pp("encoder")
                .pp("stages")
                .pp(index.to_string())
                .pp("layers");
            let stride = if index > 0 || config.downsample_in_first_stage {
                2
            } else {
                1
            };
            for layer in 0..depth {
                let (from, stride) = if layer == 0 {
                    (inputs, stride)
                } else {
                    (outputs, 1)
                };
                blocks.push(Block::load(
                    stage.pp(layer.to_string()),
                    config,
                    from,
                    outputs,
                    stride,
                )?);
            }
            inputs = outputs;
        }
        let classifier = candle_nn::linear(inputs, labels, vb.pp("classifier").pp("1"))?;
        Ok(ResNet {
            stem,
            blocks,
            classifier,
        })
    }

    /// Images (batch, channels, height, width), normalised → logits.
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        // The stem ends in a ReLU, so zero padding is max-pool's -∞ padding.
        let mut x = self
            .stem
            .forward(images)?
            .pad_with_zeros(2, 1, 1)?
            .pad_with_zeros(3, 1, 1)?
            .max_pool2d_with_stride(3, 2)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        x.mean((2, 3))?.apply(&self.classifier)
    }
}
