//! EfficientNet-Lite on Candle's ops: any device. BatchNorm is folded into
//! each convolution when the weights load (inference only), so a layer is
//! one convolution with a bias. It is also where the weights are named: the
//! packed build is made from it.

use candle_core::{D, Result, Tensor};
use candle_nn::VarBuilder;

use super::{BlockShape, Config, HEAD_CHANNELS, STEM_CHANNELS, same_padding};

/// A convolution with BatchNorm folded in.
pub(crate) struct Conv {
    /// (out, in per group, k, k).
    pub(crate) weight: Tensor,
    /// (out).
    pub(crate) bias: Tensor,
}

impl Conv {
    /// `<conv>.weight` scaled per output channel by `<bn>`'s
    /// weight / sqrt(running_var + eps); the bias is bn.bias − mean · scale.
    fn load(
        conv: VarBuilder,
        bn: VarBuilder,
        (out, inputs, kernel): (usize, usize, usize),
        eps: f64,
    ) -> Result<Conv> {
        let weight = conv.get((out, inputs, kernel, kernel), "weight")?;
        let gamma = bn.get(out, "weight")?;
        let beta = bn.get(out, "bias")?;
        let mean = bn.get(out, "running_mean")?;
        let var = bn.get(out, "running_var")?;
        let scale = (gamma / (var + eps)?.sqrt()?)?;
        Ok(Conv {
            weight: weight.broadcast_mul(&scale.reshape((out, 1, 1, 1))?)?,
            bias: (beta - (mean * &scale)?)?,
        })
    }

    fn channels(&self) -> Result<usize> {
        self.weight.dim(0)
    }

    /// A 1×1 convolution: (n, in, h, w) → (n, out, h, w).
    fn pointwise(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let out = self.channels()?;
        let weight = self.weight.reshape((out, c))?;
        weight
            .broadcast_matmul(&x.reshape((n, c, h * w))?)?
            .broadcast_add(&self.bias.reshape((out, 1))?)?
            .reshape((n, out, h, w))
    }

    /// A full convolution with TensorFlow's "SAME" padding.
    fn same(&self, x: &Tensor, stride: usize) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let kernel = self.weight.dim(3)?;
        let (_, top, bottom) = same_padding(h, kernel, stride);
        let (_, left, right) = same_padding(w, kernel, stride);
        let padded = x
            .pad_with_zeros(2, top, bottom)?
            .pad_with_zeros(3, left, right)?;
        padded
            .conv2d(&self.weight, 0, stride, 1, 1)?
            .broadcast_add(&self.bias.reshape((1, (), 1, 1))?)
    }

    /// A depthwise convolution with "SAME" padding, as a sum over the
    /// kernel's taps of the input shifted under it times each channel's
    /// weight for that tap.
    fn depthwise(&self, x: &Tensor, stride: usize) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let kernel = self.weight.dim(3)?;
        let (out_h, top, bottom) = same_padding(h, kernel, stride);
        let (out_w, left, right) = same_padding(w, kernel, stride);
        // One spare row and column past the end, so every tap's window of
        // `stride · out` can be cut and then subsampled by a reshape.
        let spare = stride - 1;
        let padded =
            x.pad_with_zeros(2, top, bottom + spare)?
                .pad_with_zeros(3, left, right + spare)?;
        let weights = self.weight.reshape((c, kernel * kernel))?;
        let mut sum = self
            .bias
            .reshape((1, c, 1, 1))?
            .broadcast_as((n, c, out_h, out_w))?;
        for ky in 0..kernel {
            let rows = subsample(&padded.narrow(2, ky, stride * out_h)?, 2, stride)?;
            for kx in 0..kernel {
                let tap = subsample(&rows.narrow(3, kx, stride * out_w)?, 3, stride)?;
                let weight = weights
                    .narrow(1, ky * kernel + kx, 1)?
                    .reshape((1, c, 1, 1))?;
                sum = (sum + tap.broadcast_mul(&weight)?)?;
            }
        }
        Ok(sum)
    }
}

/// Every `stride`-th element along `dim` (whose size is a multiple of it).
fn subsample(x: &Tensor, dim: usize, stride: usize) -> Result<Tensor> {
    if stride == 1 {
        return Ok(x.clone());
    }
    let mut shape = x.dims().to_vec();
    let size = shape[dim];
    shape[dim] = size / stride;
    shape.insert(dim + 1, stride);
    x.reshape(shape)?.narrow(dim + 1, 0, 1)?.squeeze(dim + 1)
}

fn relu6(x: &Tensor) -> Result<Tensor> {
    x.clamp(0f32, 6f32)
}

pub(crate) struct Block {
    pub(crate) shape: BlockShape,
    pub(crate) expand: Option<Conv>,
    pub(crate) depthwise: Conv,
    pub(crate) project: Conv,
}

pub struct CandleNet {
    pub(crate) stem: Conv,
    pub(crate) blocks: Vec<Block>,
    pub(crate) head: Conv,
    /// (labels, 1280).
    pub(crate) fc_weight: Tensor,
    pub(crate) fc_bias: Tensor,
}

impl CandleNet {
    pub fn load(vb: VarBuilder, config: &Config) -> Result<CandleNet> {
        let eps = config.batch_norm_eps;
        let stem = Conv::load(
            vb.pp("_conv_stem"),
            vb.pp("_bn0"),
            (STEM_CHANNELS, 3, 3),
            eps,
        )?;
        let blocks = config
            .blocks()
            .into_iter()
            .enumerate()
            .map(|(index, shape)| {
                let b = vb.pp(format!("_blocks.{index}"));
                let expand = shape
                    .expands()
                    .then(|| {
                        Conv::load(
                            b.pp("_expand_conv"),
                            b.pp("_bn0"),
                            (shape.expanded, shape.inputs, 1),
                            eps,
                        )
                    })
                    .transpose()?;
                Ok(Block {
                    shape,
                    expand,
                    depthwise: Conv::load(
                        b.pp("_depthwise_conv"),
                        b.pp("_bn1"),
                        (shape.expanded, 1, shape.kernel),
                        eps,
                    )?,
                    project: Conv::load(
                        b.pp("_project_conv"),
                        b.pp("_bn2"),
                        (shape.outputs, shape.expanded, 1),
                        eps,
                    )?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let last = blocks.last().map_or(STEM_CHANNELS, |b| b.shape.outputs);
        let head = Conv::load(
            vb.pp("_conv_head"),
            vb.pp("_bn1"),
            (HEAD_CHANNELS, last, 1),
            eps,
        )?;
        let fc = vb.pp("_fc");
        Ok(CandleNet {
            stem,
            blocks,
            head,
            fc_weight: fc.get((config.num_labels, HEAD_CHANNELS), "weight")?,
            fc_bias: fc.get(config.num_labels, "bias")?,
        })
    }

    /// Images (batch, height, width, 3) → logits (batch, labels).
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        let mut x = relu6(&self.stem.same(&images.permute((0, 3, 1, 2))?, 2)?)?;
        for block in &self.blocks {
            let input = x.clone();
            if let Some(expand) = &block.expand {
                x = relu6(&expand.pointwise(&x)?)?;
            }
            x = relu6(&block.depthwise.depthwise(&x, block.shape.stride)?)?;
            x = block.project.pointwise(&x)?;
            if block.shape.skips() {
                x = (x + input)?;
            }
        }
        let features = relu6(&self.head.pointwise(&x)?)?;
        let pooled = features.flatten_from(2)?.mean(D::Minus1)?;
        pooled
            .matmul(&self.fc_weight.t()?)?
            .broadcast_add(&self.fc_bias)
    }
}
