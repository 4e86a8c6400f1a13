//! A Linear layer that runs on the packed AVX-512/AMX matmul
//! (`kernels::gemm`) on CPUs that have it, and on Candle's ops elsewhere:
//! for networks built on Candle's modules whose linear layers dominate
//! (ConvNeXt's MLPs, DINOv2's attention and MLPs). Candle's matmul runs
//! AVX2 kernels on stable Rust; with this, ConvNeXt-Tiny went from 5.4 to
//! 6.7 images/s (one thread, batch 1, here); DINOv2-Small did not move
//! measurably (its time is outside the matmuls; see README, Images).

use candle_core::{Module, Result, Tensor};
use candle_nn::Linear;

#[cfg(target_arch = "x86_64")]
use crate::kernels::gemm::{self, Packed, Rows};

pub struct FastLinear {
    linear: Linear,
    #[cfg(target_arch = "x86_64")]
    packed: Option<(Packed, Vec<f32>)>,
}

impl FastLinear {
    /// Packs the weights when they are on the CPU and it has AVX-512.
    pub fn new(linear: Linear) -> Result<FastLinear> {
        #[cfg(target_arch = "x86_64")]
        {
            let weight = linear.weight();
            let packed = if weight.device().is_cpu() && gemm::available() {
                let (outputs, inputs) = weight.dims2()?;
                let floats = weight.flatten_all()?.to_vec1::<f32>()?;
                let bias = match linear.bias() {
                    Some(bias) => bias.to_vec1::<f32>()?,
                    None => vec![0.0; outputs],
                };
                Some((Packed::weights(&floats, outputs, inputs), bias))
            } else {
                None
            };
            Ok(FastLinear { linear, packed })
        }
        #[cfg(not(target_arch = "x86_64"))]
        Ok(FastLinear { linear })
    }
}

impl Module for FastLinear {
    /// (…, in) → (…, out).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        #[cfg(target_arch = "x86_64")]
        if let Some((packed, bias)) = &self.packed {
            let mut shape = x.dims().to_vec();
            let inputs = shape.pop().unwrap_or(1);
            let rows = shape.iter().product();
            let data = x.flatten_all()?.to_vec1::<f32>()?;
            let out = gemm::matmul(Rows::new(&data[..], rows, inputs), packed, Some(bias));
            shape.push(packed.columns());
            return Tensor::from_vec(out, shape, x.device());
        }
        self.linear.forward(x)
    }
}
