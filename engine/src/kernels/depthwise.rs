//! Depthwise 2-D convolution, channels-last (NHWC): each channel convolved
//! with its own k × k filter, with a bias, optional ReLU6, any stride and
//! asymmetric zero padding (TensorFlow's "SAME" pads the odd pixel after).
//!
//! Why not Candle's convolution: with one group per channel it runs one
//! convolution per channel (1,152 of them in EfficientNet's widest layer).
//! Channels-last makes the inner loop a run of consecutive channels, so one
//! output pixel's 16 channels are accumulated in one vector register over
//! all the filter's taps and stored once; the compiler vectorizes the
//! 16-lane loops (`widest!`: AVX-512, AVX2 or the baseline).
//!
//! Rows of the output are independent: they run in parallel on rayon.

use rayon::prelude::*;

/// The geometry of one depthwise convolution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Depthwise {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
    /// Zero rows above and columns left of the input.
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_height: usize,
    pub out_width: usize,
    /// Clamp the outputs to [0, 6] (ReLU6).
    pub relu6: bool,
}

/// Channels per accumulator: one AVX-512 vector.
const LANES: usize = 16;
/// Output pixels computed together (independent accumulators).
const GROUP: usize = 4;

impl Depthwise {
    /// `input` is (batch, height, width, channels); `taps` is (kernel,
    /// kernel, channels), tap (ky, kx) of channel c at (ky·k + kx)·C + c;
    /// `bias` has one value per channel. Returns (batch, out_height,
    /// out_width, channels).
    pub fn run(&self, input: &[f32], taps: &[f32], bias: &[f32]) -> Vec<f32> {
        let c = self.channels;
        assert_eq!(input.len(), self.batch * self.height * self.width * c);
        assert_eq!(taps.len(), self.kernel * self.kernel * c);
        assert_eq!(bias.len(), c);
        let row = self.out_width * c;
        let mut out = vec![0.0f32; self.batch * self.out_height * row];
        out.par_chunks_mut(row)
            .enumerate()
            .for_each(|(index, out_row)| {
                let (image, y) = (index / self.out_height, index % self.out_height);
                let image_input =
                    &input[image * self.height * self.width * c..][..self.height * self.width * c];
                output_row(self, image_input, taps, bias, y, out_row);
            });
        out
    }
}

widest! {
    /// Output row `y` of one image.
    fn output_row(
        shape: &Depthwise,
        input: &[f32],
        taps: &[f32],
        bias: &[f32],
        y: usize,
        out: &mut [f32]
    ) {
        let (c, k, stride) = (shape.channels, shape.kernel, shape.stride);
        let row_len = shape.width * c;
        // Input rows under the filter for this output row.
        let rows: Vec<(usize, &[f32])> = (0..k)
            .filter_map(|ky| {
                let iy = (y * stride + ky).checked_sub(shape.pad_top)?;
                (iy < shape.height).then(|| (ky, &input[iy * row_len..(iy + 1) * row_len]))
            })
            .collect();
        // Pixels whose filter lies wholly inside the row, `GROUP` at a time:
        // each tap is loaded once for the group, and the group's sums are
        // independent chains of additions the CPU overlaps.
        let interior = |x: usize| {
            x * stride >= shape.pad_left && x * stride + k <= shape.width + shape.pad_left
        };
        let out_width = out.len() / c;
        let mut x = 0;
        while x < out_width {
            if x + GROUP <= out_width && interior(x) && interior(x + GROUP - 1) && c % LANES == 0 {
                let first = x * stride - shape.pad_left;
                for c0 in (0..c).step_by(LANES) {
                    let mut acc = [*vector(bias, c0); GROUP];
                    for &(ky, row) in &rows {
                        for kx in 0..k {
                            let tap = vector(taps, (ky * k + kx) * c + c0);
                            for (p, sums) in acc.iter_mut().enumerate() {
                                let at = (first + p * stride + kx) * c + c0;
                                let src = vector(row, at);
                                for lane in 0..LANES {
                                    sums[lane] += src[lane] * tap[lane];
                                }
                            }
                        }
                    }
                    for (p, sums) in acc.iter().enumerate() {
                        let at = (x + p) * c + c0;
                        store(&mut out[at..at + LANES], sums, shape.relu6);
                    }
                }
                x += GROUP;
                continue;
            }
            let pixel = &mut out[x * c..(x + 1) * c];
            // Columns under the filter for this output pixel.
            let first = (x * stride).saturating_sub(shape.pad_left);
            let kx_start = (shape.pad_left).saturating_sub(x * stride);
            let kx_end = k.min((shape.width + shape.pad_left).saturating_sub(x * stride));
            let mut c0 = 0;
            // Whole vectors of 16 channels: fixed-size arrays the compiler
            // keeps in one register each.
            while c0 + LANES <= c {
                let mut acc = *vector(bias, c0);
                for &(ky, row) in &rows {
                    for kx in kx_start..kx_end {
                        let ix = first + kx - kx_start;
                        let src = vector(row, ix * c + c0);
                        let tap = vector(taps, (ky * k + kx) * c + c0);
                        for lane in 0..LANES {
                            // Not `mul_add`: on the baseline build that is a libm call.
                            acc[lane] += src[lane] * tap[lane];
                        }
                    }
                }
                store(&mut pixel[c0..c0 + LANES], &acc, shape.relu6);
                c0 += LANES;
            }
            // The channels left over, one at a time.
            for channel in c0..c {
                let mut sum = bias[channel];
                for &(ky, row) in &rows {
                    for kx in kx_start..kx_end {
                        let ix = first + kx - kx_start;
                        sum += row[ix * c + channel] * taps[(ky * k + kx) * c + channel];
                    }
                }
                store(&mut pixel[channel..channel + 1], &[sum], shape.relu6);
            }
            x += 1;
        }
    }
}

/// `LANES` values from `at`, as an array: the compiler keeps it in one
/// register and needs no per-lane bounds checks. The slicing checks the
/// range, so the conversion cannot fail.
#[inline(always)]
fn vector(values: &[f32], at: usize) -> &[f32; LANES] {
    values[at..at + LANES]
        .try_into()
        .expect("a slice of LANES values")
}

#[inline(always)]
fn store(out: &mut [f32], values: &[f32], relu6: bool) {
    for (out, value) in out.iter_mut().zip(values) {
        *out = if relu6 { value.clamp(0.0, 6.0) } else { *value };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook loop, in f64.
    fn naive(shape: &Depthwise, input: &[f32], taps: &[f32], bias: &[f32]) -> Vec<f32> {
        let (h, w, c, k) = (shape.height, shape.width, shape.channels, shape.kernel);
        let mut out = Vec::new();
        for n in 0..shape.batch {
            for y in 0..shape.out_height {
                for x in 0..shape.out_width {
                    for ch in 0..c {
                        let mut sum = bias[ch] as f64;
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (y * shape.stride + ky) as isize - shape.pad_top as isize;
                                let ix = (x * shape.stride + kx) as isize - shape.pad_left as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let at = ((n * h + iy as usize) * w + ix as usize) * c + ch;
                                sum += input[at] as f64 * taps[(ky * k + kx) * c + ch] as f64;
                            }
                        }
                        let sum = sum as f32;
                        out.push(if shape.relu6 {
                            sum.clamp(0.0, 6.0)
                        } else {
                            sum
                        });
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        crate::kernels::test_values(len, seed, (-4.0, 4.0))
    }

    #[test]
    fn matches_the_textbook_loop_for_same_padding_strides_and_odd_channels() {
        // (batch, h, w, channels, kernel, stride, top, bottom, left, right)
        let cases = [
            (1, 7, 7, 16, 3, 1, 1, 1, 1, 1),
            (2, 8, 6, 20, 3, 2, 0, 1, 0, 1),
            (1, 9, 9, 33, 5, 2, 2, 2, 2, 2),
            (3, 5, 12, 48, 5, 1, 2, 2, 2, 2),
            (1, 12, 12, 7, 5, 2, 1, 2, 1, 2),
        ];
        for (case, &(batch, height, width, channels, kernel, stride, top, bottom, left, right)) in
            cases.iter().enumerate()
        {
            for relu6 in [false, true] {
                let shape = Depthwise {
                    batch,
                    height,
                    width,
                    channels,
                    kernel,
                    stride,
                    pad_top: top,
                    pad_left: left,
                    out_height: (height + top + bottom - kernel) / stride + 1,
                    out_width: (width + left + right - kernel) / stride + 1,
                    relu6,
                };
                let input = values(batch * height * width * channels, case as u32);
                let taps = values(kernel * kernel * channels, 7);
                let bias = values(channels, 9);
                let want = naive(&shape, &input, &taps, &bias);
                let got = shape.run(&input, &taps, &bias);
                assert_eq!(got.len(), want.len());
                let worst = want
                    .iter()
                    .zip(&got)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 1e-4, "case {case} (relu6 {relu6}): off by {worst}");
            }
        }
    }
}
