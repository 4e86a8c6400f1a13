//! EfficientNet-Lite (Tan & Le, 2019; the "lite" variants of Google's
//! tensorflow/tpu repository): EfficientNet-B0's block table without
//! squeeze-and-excitation, ReLU6 instead of swish, a stem and head that do
//! not scale, BatchNorm with eps 1e-3, and TensorFlow's "SAME" padding,
//! which pads the bottom and right one more than the top and left when
//! the total is odd (stride-2 layers).
//!
//! Weights use the names of the PyTorch port (`_conv_stem`, `_bn0`,
//! `_blocks.N._expand_conv`, `_depthwise_conv`, `_project_conv`,
//! `_bn0/1/2`, `_conv_head`, `_bn1`, `_fc`). Two builds, chosen at load:
//!
//! - `packed::PackedNet`: CPUs with AVX-512F — channels-last, BatchNorm
//!   folded into the convolutions, 1×1 convolutions as packed matmuls
//!   (`kernels::gemm`), depthwise ones as a direct kernel
//!   (`kernels::depthwise`).
//! - `candle::CandleNet`: any device, on Candle's ops (Candle's grouped
//!   convolution runs one convolution per channel, so the depthwise layers
//!   are sums of shifted slices instead).
//!
//! Both take images channels-last, (batch, height, width, 3), normalised,
//! and return logits (batch, labels).

mod candle;
#[cfg(target_arch = "x86_64")]
mod packed;

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

pub use candle::CandleNet;
#[cfg(target_arch = "x86_64")]
pub use packed::PackedNet;

/// The parts of `config.json` the network needs.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(default = "one")]
    pub width_coefficient: f64,
    #[serde(default = "one")]
    pub depth_coefficient: f64,
    /// The side of the square images it was trained on.
    pub image_size: usize,
    #[serde(default = "default_eps")]
    pub batch_norm_eps: f64,
    /// The classifier's outputs (a task may set it from `id2label`).
    #[serde(default)]
    pub num_labels: usize,
}

fn one() -> f64 {
    1.0
}

fn default_eps() -> f64 {
    1e-3
}

/// One stage of EfficientNet-B0's block table, before scaling.
struct Stage {
    kernel: usize,
    repeats: usize,
    stride: usize,
    expand: usize,
    inputs: usize,
    outputs: usize,
}

const B0_STAGES: [Stage; 7] = [
    stage(3, 1, 1, 1, 32, 16),
    stage(3, 2, 2, 6, 16, 24),
    stage(5, 2, 2, 6, 24, 40),
    stage(3, 3, 2, 6, 40, 80),
    stage(5, 3, 1, 6, 80, 112),
    stage(5, 4, 2, 6, 112, 192),
    stage(3, 1, 1, 6, 192, 320),
];

const fn stage(
    kernel: usize,
    repeats: usize,
    stride: usize,
    expand: usize,
    inputs: usize,
    outputs: usize,
) -> Stage {
    Stage {
        kernel,
        repeats,
        stride,
        expand,
        inputs,
        outputs,
    }
}

/// Channels of the stem and the head: fixed in the lite variants.
pub const STEM_CHANNELS: usize = 32;
pub const HEAD_CHANNELS: usize = 1280;

/// One MBConv block after scaling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockShape {
    pub kernel: usize,
    pub stride: usize,
    pub inputs: usize,
    /// Channels after the expansion (`inputs` when there is none).
    pub expanded: usize,
    pub outputs: usize,
}

impl BlockShape {
    pub fn expands(&self) -> bool {
        self.expanded != self.inputs
    }

    /// Stride 1 and as many channels out as in: the input is added back.
    pub fn skips(&self) -> bool {
        self.stride == 1 && self.inputs == self.outputs
    }
}

impl Config {
    /// The blocks of this variant, in order (16 for Lite0).
    pub fn blocks(&self) -> Vec<BlockShape> {
        let last = B0_STAGES.len() - 1;
        let mut blocks = Vec::new();
        for (index, stage) in B0_STAGES.iter().enumerate() {
            let fixed = index == 0 || index == last;
            let repeats = if fixed {
                stage.repeats
            } else {
                (self.depth_coefficient * stage.repeats as f64).ceil() as usize
            };
            let mut inputs = if index == 0 {
                STEM_CHANNELS
            } else {
                self.round_filters(stage.inputs)
            };
            let outputs = self.round_filters(stage.outputs);
            for repeat in 0..repeats {
                blocks.push(BlockShape {
                    kernel: stage.kernel,
                    stride: if repeat == 0 { stage.stride } else { 1 },
                    inputs,
                    expanded: inputs * stage.expand,
                    outputs,
                });
                inputs = outputs;
            }
        }
        blocks
    }

    /// Channels scaled by the width coefficient, to a multiple of 8 (as
    /// the original `round_filters`).
    fn round_filters(&self, filters: usize) -> usize {
        let divisor = 8.0;
        let scaled = filters as f64 * self.width_coefficient;
        let mut rounded = ((scaled + divisor / 2.0) / divisor).floor() * divisor;
        rounded = rounded.max(divisor);
        if rounded < 0.9 * scaled {
            rounded += divisor;
        }
        rounded as usize
    }
}

/// TensorFlow's "SAME" padding of one spatial side: the output is
/// ceil(size / stride), and the padding it needs is split with the odd
/// one after. Returns (output size, padding before, padding after).
pub fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    (out, total / 2, total - total / 2)
}

/// The build this device and CPU run fastest.
pub enum EfficientNetLite {
    Candle(CandleNet),
    /// Boxed: its packed weights' descriptions are large beside Candle's.
    #[cfg(target_arch = "x86_64")]
    Packed(Box<PackedNet>),
}

impl EfficientNetLite {
    pub fn load(vb: VarBuilder, config: &Config) -> Result<EfficientNetLite> {
        #[cfg(target_arch = "x86_64")]
        let packable = vb.device().is_cpu()
            && vb.dtype() == candle_core::DType::F32
            && crate::kernels::gemm::available();
        let candle = CandleNet::load(vb, config)?;
        #[cfg(target_arch = "x86_64")]
        if packable {
            return Ok(EfficientNetLite::Packed(Box::new(PackedNet::new(&candle)?)));
        }
        Ok(EfficientNetLite::Candle(candle))
    }

    /// Images (batch, height, width, 3), normalised → logits (batch, labels).
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        match self {
            EfficientNetLite::Candle(net) => net.forward(images),
            #[cfg(target_arch = "x86_64")]
            EfficientNetLite::Packed(net) => net.forward(images),
        }
    }

    /// Which build runs, for logs and benchmarks.
    pub fn build_name(&self) -> &'static str {
        match self {
            EfficientNetLite::Candle(_) => "candle ops",
            #[cfg(target_arch = "x86_64")]
            EfficientNetLite::Packed(_) => "packed channels-last (AVX-512)",
        }
    }
}

/// Random weights with the names and shapes of a checkpoint of `config`,
/// scaled so activations stay in a sane range (tests).
#[cfg(test)]
pub(crate) fn random_weights(
    config: &Config,
    seed: u64,
) -> std::collections::HashMap<String, Tensor> {
    use candle_core::{DType, Device};

    let device = Device::Cpu;
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut uniform = |shape: &[usize], low: f32, high: f32| {
        let count: usize = shape.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                low + (high - low) * ((state >> 11) as f32 / (1u64 << 53) as f32)
            })
            .collect();
        Tensor::from_vec(values, shape, &device).expect("a tensor of its own shape")
    };
    let mut weights = std::collections::HashMap::new();
    let mut conv = |weights: &mut std::collections::HashMap<String, Tensor>,
                    conv: String,
                    bn: String,
                    (out, inputs, k): (usize, usize, usize)| {
        let bound = (3.0 / (inputs * k * k) as f32).sqrt();
        weights.insert(
            format!("{conv}.weight"),
            uniform(&[out, inputs, k, k], -bound, bound),
        );
        weights.insert(format!("{bn}.weight"), uniform(&[out], 0.5, 1.5));
        weights.insert(format!("{bn}.bias"), uniform(&[out], -0.2, 0.2));
        weights.insert(format!("{bn}.running_mean"), uniform(&[out], -0.1, 0.1));
        weights.insert(format!("{bn}.running_var"), uniform(&[out], 0.5, 1.5));
    };
    conv(
        &mut weights,
        "_conv_stem".into(),
        "_bn0".into(),
        (STEM_CHANNELS, 3, 3),
    );
    let blocks = config.blocks();
    for (index, shape) in blocks.iter().enumerate() {
        let b = format!("_blocks.{index}");
        if shape.expands() {
            let names = (format!("{b}._expand_conv"), format!("{b}._bn0"));
            conv(
                &mut weights,
                names.0,
                names.1,
                (shape.expanded, shape.inputs, 1),
            );
        }
        let names = (format!("{b}._depthwise_conv"), format!("{b}._bn1"));
        conv(
            &mut weights,
            names.0,
            names.1,
            (shape.expanded, 1, shape.kernel),
        );
        let names = (format!("{b}._project_conv"), format!("{b}._bn2"));
        conv(
            &mut weights,
            names.0,
            names.1,
            (shape.outputs, shape.expanded, 1),
        );
    }
    let last = blocks.last().map_or(STEM_CHANNELS, |b| b.outputs);
    conv(
        &mut weights,
        "_conv_head".into(),
        "_bn1".into(),
        (HEAD_CHANNELS, last, 1),
    );
    let bound = (3.0 / HEAD_CHANNELS as f32).sqrt();
    weights.insert(
        "_fc.weight".into(),
        uniform(&[config.num_labels, HEAD_CHANNELS], -bound, bound),
    );
    weights.insert("_fc.bias".into(), uniform(&[config.num_labels], -0.1, 0.1));
    for tensor in weights.values() {
        debug_assert_eq!(tensor.dtype(), DType::F32);
    }
    weights
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;

    fn lite(width: f64, depth: f64) -> Config {
        Config {
            width_coefficient: width,
            depth_coefficient: depth,
            image_size: 224,
            batch_norm_eps: 1e-3,
            num_labels: 1000,
        }
    }

    #[test]
    fn lite0_has_b0s_sixteen_blocks() {
        let blocks = lite(1.0, 1.0).blocks();
        assert_eq!(blocks.len(), 16);
        assert_eq!(
            blocks[0],
            BlockShape {
                kernel: 3,
                stride: 1,
                inputs: 32,
                expanded: 32,
                outputs: 16
            }
        );
        assert_eq!(
            blocks[3],
            BlockShape {
                kernel: 5,
                stride: 2,
                inputs: 24,
                expanded: 144,
                outputs: 40
            }
        );
        assert_eq!(blocks.iter().filter(|b| b.skips()).count(), 9);
        assert_eq!(blocks.last().unwrap().outputs, 320);
    }

    #[test]
    fn wider_and_deeper_variants_scale_as_the_original() {
        // Lite2 (1.1, 1.2): 16 → 16, 24 → 24, 40 → 48, 80 → 88, 112 → 120,
        // 192 → 208, 320 → 352; the first and last stages keep their repeats.
        let blocks = lite(1.1, 1.2).blocks();
        assert_eq!(blocks.len(), 1 + 3 + 3 + 4 + 4 + 5 + 1);
        assert_eq!(blocks.last().unwrap().outputs, 352);
        assert_eq!(blocks[4].outputs, 48);
    }

    /// Random images, (batch, h, w, 3), in the normalised range.
    fn images(batch: usize, h: usize, w: usize) -> Tensor {
        let values: Vec<f32> = (0..batch * h * w * 3)
            .map(|i| ((i * 7919 % 255) as f32 - 127.0) / 128.0)
            .collect();
        Tensor::from_vec(values, (batch, h, w, 3), &Device::Cpu).unwrap()
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_packed_build_gives_the_candle_builds_logits() {
        if !crate::kernels::gemm::available() {
            eprintln!("skipped: no AVX-512F on this CPU");
            return;
        }
        let config = Config {
            num_labels: 10,
            ..lite(1.0, 1.0)
        };
        let vb = VarBuilder::from_tensors(random_weights(&config, 3), DType::F32, &Device::Cpu);
        let candle = CandleNet::load(vb, &config).unwrap();
        let packed = PackedNet::new(&candle).unwrap();
        // Odd sizes exercise the uneven "SAME" padding at every stride.
        for (batch, h, w) in [(1, 64, 64), (3, 37, 45)] {
            let x = images(batch, h, w);
            let want = candle.forward(&x).unwrap();
            let got = packed.forward(&x).unwrap();
            assert_eq!(got.dims(), &[batch, 10]);
            let scale = want
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let diff = crate::max_abs_diff(&want, &got);
            assert!(
                diff <= 1e-4 * scale.max(1.0),
                "{batch}×{h}×{w}: off by {diff} (scale {scale})"
            );
        }
    }

    #[test]
    fn same_padding_puts_the_odd_pixel_after() {
        assert_eq!(same_padding(224, 3, 2), (112, 0, 1));
        assert_eq!(same_padding(112, 5, 2), (56, 1, 2));
        assert_eq!(same_padding(56, 3, 1), (56, 1, 1));
        assert_eq!(same_padding(7, 1, 1), (7, 0, 0));
    }
}
