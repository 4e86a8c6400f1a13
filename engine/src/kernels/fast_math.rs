//! CPU kernels for element-wise steps: of a BERT forward pass (see
//! `examples/profile_bert.rs`) GELU (exact, erf-based), the attention
//! softmax (with its scale, and the padding mask for the Candle build) and
//! layer norm; of a convolutional network, clamping (ReLU6) and residual
//! sums (llama's RMS norm and SwiGLU are llama.cpp's own, in `ggml`).
//! Candle's own versions call a scalar `exp`/`erf` per element; these are
//! written as plain loops over slices with a polynomial `exp`,
//! which the compiler vectorizes — built for AVX-512, for AVX2 + FMA and
//! for the baseline, the widest the CPU has chosen at run time. Sums and
//! maxima run over 16 interleaved partials so that they vectorize too.
//! Accuracy: relative error of `exp` below 2e-6 on [-20, 20] (f32
//! rounding of x·log2 e; the series itself is ~1e-7), absolute error of
//! `erf` ≤ 1.5e-7 (Abramowitz & Stegun 7.1.26).
//!
//! Other devices (CUDA) keep Candle's ops: see `gelu` and `masked_softmax`.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

/// GELU (erf form, as BERT uses) on any device.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        x.contiguous()?.apply_op1_no_bwd(&Gelu)
    } else {
        x.gelu_erf()
    }
}

/// softmax(scores × scale + mask) over the last dimension. `scores` is
/// (batch, heads, queries, keys); `mask` is (batch, keys), additive (0 for
/// a real token, a large negative number for padding).
pub fn masked_softmax(scores: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    if scores.device().is_cpu() && scores.dtype() == candle_core::DType::F32 {
        scores.contiguous()?.apply_op2_no_bwd(
            &mask.contiguous()?,
            &MaskedSoftmax {
                scale: scale as f32,
            },
        )
    } else {
        let (batch, keys) = mask.dims2()?;
        let mask = mask.reshape((batch, 1, 1, keys))?;
        candle_nn::ops::softmax_last_dim(&(scores * scale)?.broadcast_add(&mask)?)
    }
}

fn slice<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op} takes f32");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op} takes a contiguous tensor"),
    }
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "wick-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let mut out = slice(storage, layout, self.name())?.to_vec();
        gelu_all(&mut out);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

struct MaskedSoftmax {
    scale: f32,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "wick-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let scores = slice(s1, l1, self.name())?;
        let mask = slice(s2, l2, self.name())?;
        let (batch, heads, queries, keys) = l1.shape().dims4()?;
        if l2.shape().dims2()? != (batch, keys) {
            candle_core::bail!("{}: the mask must be (batch, keys)", self.name());
        }
        let mut out = scores.to_vec();
        softmax_all(&mut out, mask, keys, heads * queries, self.scale);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

widest! {
    /// Every value clamped to [low, high], in place (ReLU6: [0, 6]).
    pub fn clamp_all(data: &mut [f32], low: f32, high: f32) {
        for x in data.iter_mut() {
            *x = x.max(low).min(high);
        }
    }
}

widest! {
    /// data[i] += other[i], in place.
    pub fn add_all(data: &mut [f32], other: &[f32]) {
        for (x, y) in data.iter_mut().zip(other) {
            *x += *y;
        }
    }
}

widest! {
    /// GELU on every value, in place.
    pub(crate) fn gelu_all(data: &mut [f32]) {
        for x in data.iter_mut() {
            *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

widest! {
    /// softmax(row × scale) for every row of `width` values, in place.
    /// (For the packed encoder, which is x86-64 only.)
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn scaled_softmax_all(data: &mut [f32], width: usize, scale: f32) {
        for values in data.chunks_exact_mut(width) {
            for v in values.iter_mut() {
                *v *= scale;
            }
            normalize_exp(values);
        }
    }
}

widest! {
    /// Every row of `keys` scores, each with the mask of its batch entry
    /// (`rows_per_batch` rows per entry).
    fn softmax_all(out: &mut [f32], mask: &[f32], keys: usize, rows_per_batch: usize, scale: f32) {
        for (row, values) in out.chunks_exact_mut(keys).enumerate() {
            let b = row / rows_per_batch;
            for (v, m) in values.iter_mut().zip(&mask[b * keys..(b + 1) * keys]) {
                *v = *v * scale + m;
            }
            normalize_exp(values);
        }
    }
}

widest! {
    /// Each row of `weight.len()` values becomes
    /// layer_norm(row + residual row) · weight + bias, in place.
    /// (For the packed encoder, which is x86-64 only.)
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn layer_norm_all(
        data: &mut [f32],
        residual: Option<&[f32]>,
        weight: &[f32],
        bias: &[f32],
        eps: f32
    ) {
        let width = weight.len();
        for (r, row) in data.chunks_exact_mut(width).enumerate() {
            if let Some(residual) = residual {
                for (value, add) in row.iter_mut().zip(&residual[r * width..(r + 1) * width]) {
                    *value += add;
                }
            }
            let n = width as f32;
            let mean = lanes(row, 0.0, add, add) / n;
            for value in row.iter_mut() {
                *value -= mean;
            }
            let variance = lanes(row, 0.0, |a, b| a + b * b, add) / n;
            let scale = 1.0 / (variance + eps).sqrt();
            for ((value, w), b) in row.iter_mut().zip(weight).zip(bias) {
                *value = *value * scale * w + b;
            }
        }
    }
}

/// softmax in place: e^(v - max), then divided by their sum. The max and
/// the sum run over `LANES` partial results so the loops vectorize (a
/// single running f32 sum cannot be reordered, so it would not).
#[inline(always)]
fn normalize_exp(values: &mut [f32]) {
    let max = lanes(values, f32::NEG_INFINITY, f32::max, f32::max);
    for v in values.iter_mut() {
        *v = exp(*v - max);
    }
    let inverse = 1.0 / lanes(values, 0.0, add, add);
    for v in values.iter_mut() {
        *v *= inverse;
    }
}

const LANES: usize = 16;

/// Folds `values` into `LANES` interleaved partial results with
/// `step(partial, value)`, then folds the partials with `combine`.
#[inline(always)]
fn lanes(
    values: &[f32],
    init: f32,
    step: impl Fn(f32, f32) -> f32,
    combine: impl Fn(f32, f32) -> f32,
) -> f32 {
    let mut partial = [init; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder().iter().fold(init, |a, b| step(a, *b));
    for chunk in chunks {
        for (p, v) in partial.iter_mut().zip(chunk) {
            *p = step(*p, *v);
        }
    }
    partial.iter().fold(rest, |a, b| combine(a, *b))
}

fn add(a: f32, b: f32) -> f32 {
    a + b
}

/// e^x from 2^n · 2^f, n = round(x·log2 e), |f| ≤ 0.5, 2^f by its Taylor
/// series to degree 6 (relative error ≈ 1e-7). Inputs below -87 give ~0.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let t = x.clamp(-87.0, 88.0) * std::f32::consts::LOG2_E;
    // Round to nearest without a libm call: adding 1.5·2^23 pushes the
    // fraction out of the mantissa, leaving n in its low bits — read from
    // there as an integer, because a float-to-int cast would not vectorize.
    const SHIFT: f32 = 12_582_912.0;
    let shifted = t + SHIFT;
    let n = shifted - SHIFT;
    let f = t - n;
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_11
                    + f * (0.009_618_129 + f * (0.001_333_355 + f * 0.000_154_035_3)))));
    // n + 127 is in 1..=254 after the clamp: a normal power of two.
    let exponent = shifted
        .to_bits()
        .wrapping_sub(SHIFT.to_bits())
        .wrapping_add(127)
        << 23;
    p * f32::from_bits(exponent)
}

/// erf by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::max_abs_diff;
    use candle_core::Device;

    #[test]
    fn exp_and_erf_are_accurate() {
        for i in -2000..=2000 {
            let x = i as f32 / 100.0;
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                ((got - want) / want).abs() < 2e-6,
                "exp({x}) = {got}, want {want}"
            );
        }
        for i in -400..=400 {
            let x = i as f64 / 100.0;
            let want = libm_erf(x);
            let got = erf(x as f32) as f64;
            assert!((got - want).abs() < 5e-7, "erf({x}) = {got}, want {want}");
        }
    }

    /// erf by its series / continued fraction in f64, for the test only.
    fn libm_erf(x: f64) -> f64 {
        // 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)); for |x| ≤ 4 the
        // cancellation costs about 7 of f64's 16 digits.
        let mut sum = 0.0f64;
        let mut term = x;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) || n < 3.0 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x * x / n;
            if n > 400.0 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn kernels_match_candle_ops() {
        let device = Device::Cpu;
        let x = Tensor::randn(0f32, 3.0, (4, 37), &device).unwrap();
        let diff = max_abs_diff(&gelu(&x).unwrap(), &x.gelu_erf().unwrap());
        assert!(diff < 1e-5, "gelu differs by {diff}");

        let scores = Tensor::randn(0f32, 4.0, (2, 3, 5, 7), &device).unwrap();
        let mask = Tensor::new(
            &[
                [0f32, 0., 0., 0., 0., 0., 0.],
                [0., 0., 0., 0., f32::MIN, f32::MIN, f32::MIN],
            ],
            &device,
        )
        .unwrap();
        let fast = masked_softmax(&scores, &mask, 0.125).unwrap();
        let slow = candle_nn::ops::softmax_last_dim(
            &(&scores * 0.125)
                .unwrap()
                .broadcast_add(&mask.reshape((2, 1, 1, 7)).unwrap())
                .unwrap(),
        )
        .unwrap();
        let diff = max_abs_diff(&fast, &slow);
        assert!(diff < 1e-6, "softmax differs by {diff}");
    }

    /// The packed encoder's kernels: unmasked scaled softmax, and layer
    /// norm with a residual, against Candle's ops (rows of 37, not a
    /// multiple of the 16 partials).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn packed_kernels_match_candle_ops() {
        let device = Device::Cpu;
        let rows = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let scores = Tensor::randn(0f32, 4.0, (5, 37), &device).unwrap();
        let mut fast = rows(&scores);
        scaled_softmax_all(&mut fast, 37, 0.3);
        let slow = candle_nn::ops::softmax_last_dim(&(&scores * 0.3).unwrap()).unwrap();
        let fast = Tensor::from_vec(fast, (5, 37), &device).unwrap();
        let diff = max_abs_diff(&fast, &slow);
        assert!(diff < 1e-6, "scaled softmax differs by {diff}");

        let x = Tensor::randn(1f32, 3.0, (5, 37), &device).unwrap();
        let residual = Tensor::randn(0f32, 1.0, (5, 37), &device).unwrap();
        let weight = Tensor::randn(1f32, 0.5, 37, &device).unwrap();
        let bias = Tensor::randn(0f32, 0.5, 37, &device).unwrap();
        let mut fast = rows(&x);
        layer_norm_all(
            &mut fast,
            Some(&rows(&residual)),
            &rows(&weight),
            &rows(&bias),
            1e-12,
        );
        let norm = candle_nn::LayerNorm::new(weight, bias, 1e-12);
        let slow = candle_nn::Module::forward(&norm, &(x + residual).unwrap()).unwrap();
        let fast = Tensor::from_vec(fast, (5, 37), &device).unwrap();
        let diff = max_abs_diff(&fast, &slow);
        assert!(diff < 1e-5, "layer norm differs by {diff}");
    }
}
