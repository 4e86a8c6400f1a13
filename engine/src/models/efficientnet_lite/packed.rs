//! EfficientNet-Lite on the CPU, channels-last (NHWC): a batch of images is
//! one matrix of (pixels, channels), so every 1×1 convolution — nine tenths
//! of the network's multiply-adds — is one packed matmul (`kernels::gemm`:
//! AVX-512, and AMX tiles for the weights where the CPU has them) with the
//! folded BatchNorm as its bias; the depthwise convolutions run in
//! `kernels::depthwise`; the stem is an im2col matmul (27 columns: 3 × 3
//! taps of 3 channels). ReLU6 and the residual sums are applied to each block
//! of a matmul's output while it is in cache (`gemm::Epilogue`).
//!
//! Built from a loaded `CandleNet` (one place names the weights and folds
//! BatchNorm); the weights are copied out, reordered and packed.

use candle_core::{Device, Result, Tensor};

use super::candle::{CandleNet, Conv};
use super::{BlockShape, same_padding};
use crate::kernels::depthwise::Depthwise;
use crate::kernels::fast_math::add_all;
use crate::kernels::gemm::{self, Epilogue, Packed, Rows};

/// ReLU6, fused into the matmul that feeds it.
const RELU6: Epilogue = Epilogue {
    residual: None,
    clamp: Some((0.0, 6.0)),
};

/// A 1×1 convolution or a linear layer: (pixels, in) → (pixels, out).
struct Pointwise {
    weights: Packed,
    bias: Vec<f32>,
}

impl Pointwise {
    /// From a (out, in, 1, 1) convolution, or (out, in) linear weights.
    fn new(weight: &Tensor, bias: &Tensor) -> Result<Pointwise> {
        let out = weight.dim(0)?;
        let inputs = weight.elem_count() / out;
        let rows = weight.flatten_all()?.to_vec1::<f32>()?;
        Ok(Pointwise {
            weights: Packed::weights(&rows, out, inputs),
            bias: bias.to_vec1::<f32>()?,
        })
    }

    fn forward(&self, x: &[f32], pixels: usize, epilogue: Epilogue) -> Vec<f32> {
        let k = self.weights.depth();
        gemm::matmul_then(
            Rows::new(x, pixels, k),
            &self.weights,
            Some(&self.bias),
            epilogue,
        )
    }
}

/// A depthwise convolution's taps, (k, k, channels), and bias.
struct DepthwiseWeights {
    taps: Vec<f32>,
    bias: Vec<f32>,
}

impl DepthwiseWeights {
    fn new(conv: &Conv) -> Result<DepthwiseWeights> {
        // (channels, 1, k, k) → (k, k, channels).
        let taps = conv.weight.squeeze(1)?.permute((1, 2, 0))?;
        Ok(DepthwiseWeights {
            taps: taps.flatten_all()?.to_vec1::<f32>()?,
            bias: conv.bias.to_vec1::<f32>()?,
        })
    }
}

struct Block {
    shape: BlockShape,
    expand: Option<Pointwise>,
    depthwise: DepthwiseWeights,
    project: Pointwise,
}

pub struct PackedNet {
    /// The stem as a matmul over 3 × 3 × 3 patches, (ky, kx, channel) order.
    stem: Pointwise,
    blocks: Vec<Block>,
    head: Pointwise,
    fc: Pointwise,
    labels: usize,
}

/// A feature map: (images, height, width, channels), channels-last.
struct Map {
    data: Vec<f32>,
    images: usize,
    height: usize,
    width: usize,
    channels: usize,
}

impl Map {
    fn pixels(&self) -> usize {
        self.images * self.height * self.width
    }
}

impl PackedNet {
    pub fn new(net: &CandleNet) -> Result<PackedNet> {
        // (out, in, ky, kx) → (out, ky, kx, in), the order of the patches.
        let stem_weight = net.stem.weight.permute((0, 2, 3, 1))?.contiguous()?;
        let blocks = net
            .blocks
            .iter()
            .map(|block| {
                Ok(Block {
                    shape: block.shape,
                    expand: block
                        .expand
                        .as_ref()
                        .map(|conv| Pointwise::new(&conv.weight, &conv.bias))
                        .transpose()?,
                    depthwise: DepthwiseWeights::new(&block.depthwise)?,
                    project: Pointwise::new(&block.project.weight, &block.project.bias)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PackedNet {
            stem: Pointwise::new(&stem_weight, &net.stem.bias)?,
            blocks,
            head: Pointwise::new(&net.head.weight, &net.head.bias)?,
            fc: Pointwise::new(&net.fc_weight, &net.fc_bias)?,
            labels: net.fc_weight.dim(0)?,
        })
    }

    /// Images (batch, height, width, 3) → logits (batch, labels).
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        // On one of rayon's threads: each layer's parallel loop then starts
        // there, instead of being handed to the pool and waited for from
        // outside (two thread switches per layer; ~15 % of a forward pass
        // in a profile at one thread).
        rayon::scope(|_| self.forward_here(images))
    }

    fn forward_here(&self, images: &Tensor) -> Result<Tensor> {
        let (images_n, height, width, channels) = images.dims4()?;
        if channels != 3 {
            candle_core::bail!("EfficientNet takes RGB images, got {channels} channels");
        }
        let input = Map {
            data: images.flatten_all()?.to_vec1::<f32>()?,
            images: images_n,
            height,
            width,
            channels,
        };
        let mut x = self.stem(&input);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let features = self.head.forward(&x.data, x.pixels(), RELU6);
        let pooled = mean_per_image(&features, x.images, x.height * x.width);
        let logits = self.fc.forward(&pooled, x.images, Epilogue::default());
        Tensor::from_vec(logits, (x.images, self.labels), &Device::Cpu)
    }

    /// The 3 × 3 stride-2 stem with "SAME" padding, as im2col + matmul.
    fn stem(&self, input: &Map) -> Map {
        let (out_h, top, _) = same_padding(input.height, 3, 2);
        let (out_w, left, _) = same_padding(input.width, 3, 2);
        let c = input.channels;
        let patch = 9 * c;
        let mut patches = vec![0.0f32; input.images * out_h * out_w * patch];
        for (index, row) in patches.chunks_exact_mut(patch).enumerate() {
            let image = index / (out_h * out_w);
            let (y, x) = (index / out_w % out_h, index % out_w);
            for ky in 0..3 {
                let Some(iy) = (2 * y + ky)
                    .checked_sub(top)
                    .filter(|&iy| iy < input.height)
                else {
                    continue;
                };
                for kx in 0..3 {
                    let Some(ix) = (2 * x + kx)
                        .checked_sub(left)
                        .filter(|&ix| ix < input.width)
                    else {
                        continue;
                    };
                    let at = ((image * input.height + iy) * input.width + ix) * c;
                    row[(ky * 3 + kx) * c..][..c].copy_from_slice(&input.data[at..at + c]);
                }
            }
        }
        let data = self
            .stem
            .forward(&patches, input.images * out_h * out_w, RELU6);
        Map {
            channels: self.stem.weights.columns(),
            data,
            images: input.images,
            height: out_h,
            width: out_w,
        }
    }
}

impl Block {
    fn forward(&self, input: Map) -> Map {
        let shape = self.shape;
        let expanded = self
            .expand
            .as_ref()
            .map(|expand| expand.forward(&input.data, input.pixels(), RELU6));
        let (out_h, top, _) = same_padding(input.height, shape.kernel, shape.stride);
        let (out_w, left, _) = same_padding(input.width, shape.kernel, shape.stride);
        let depthwise = Depthwise {
            batch: input.images,
            height: input.height,
            width: input.width,
            channels: shape.expanded,
            kernel: shape.kernel,
            stride: shape.stride,
            pad_top: top,
            pad_left: left,
            out_height: out_h,
            out_width: out_w,
            relu6: true,
        }
        .run(
            expanded.as_deref().unwrap_or(&input.data),
            &self.depthwise.taps,
            &self.depthwise.bias,
        );
        drop(expanded);
        let pixels = input.images * out_h * out_w;
        let residual = shape.skips().then_some(&input.data[..]);
        let data = self.project.forward(
            &depthwise,
            pixels,
            Epilogue {
                residual,
                clamp: None,
            },
        );
        Map {
            data,
            images: input.images,
            height: out_h,
            width: out_w,
            channels: shape.outputs,
        }
    }
}

/// (images, pixels, channels) → (images, channels): the mean over pixels.
fn mean_per_image(features: &[f32], images: usize, pixels: usize) -> Vec<f32> {
    let channels = features.len() / (images * pixels).max(1);
    let mut pooled = vec![0.0f32; images * channels];
    for (image, sums) in pooled.chunks_exact_mut(channels).enumerate() {
        for pixel in
            features[image * pixels * channels..][..pixels * channels].chunks_exact(channels)
        {
            add_all(sums, pixel);
        }
        for sum in sums.iter_mut() {
            *sum /= pixels as f32;
        }
    }
    pooled
}
