//! Rows of activations quantized to 8 bits the way ggml's x86 code
//! quantizes them for each weight type, so that every product is an
//! integer one and the results are llama.cpp's bit for bit:
//! - per block of 32 (`quantize_row_q8_0` / `q8_1`, for Q4_0 … Q8_0): the
//!   inverse scale 127 / max|x|, ties rounded to even, the scale and the
//!   scaled sum stored as f16;
//! - per super-block of 256 (`quantize_row_q8_K`, for the K-quants): the
//!   inverse scale −127 / (the value of largest magnitude), an f32 scale,
//!   and the sums of every 16 values.

use std::sync::OnceLock;

use super::format::SUPER;

/// 1.5 · 2^23: adding and subtracting it rounds an f32 to an integer,
/// ties to even (ggml's `_mm256_round_ps` and `nearest_int`); exact for
/// |v| ≤ 2^22, and it vectorizes where `round_ties_even` calls libm.
const SHIFTER: f32 = 12_582_912.0;

/// Values per block of the 32-value quantization.
pub const BLOCK: usize = 32;

/// Rows of activations, quantized on first use for each kind of weights
/// (a fused projection may mix them; most products need one kind).
pub struct Quantized<'a> {
    x: &'a [f32],
    pub(super) cols: usize,
    blocks: OnceLock<Blocks>,
    supers: OnceLock<Option<Supers>>,
}

pub(super) struct Blocks {
    pub values: Vec<i8>,
    /// Per block: the scale (rounded to f16).
    pub scales: Vec<f32>,
    /// Per block: the integer sum of its values.
    pub sums: Vec<i32>,
    /// Per block: the scale times that sum, rounded to f16 (Q8_1's `s`).
    pub totals: Vec<f32>,
    /// Per block, per 4 values: their integer sum.
    pub quads: Vec<i32>,
}

pub(super) struct Supers {
    pub values: Vec<i8>,
    /// Per super-block: the scale.
    pub scales: Vec<f32>,
    /// Per super-block, per 16 values: their integer sum.
    pub sums: Vec<i32>,
}

impl<'a> Quantized<'a> {
    /// Rows of `cols` values (`cols` a multiple of 32).
    pub fn new(x: &'a [f32], cols: usize) -> Quantized<'a> {
        Quantized {
            x,
            cols,
            blocks: OnceLock::new(),
            supers: OnceLock::new(),
        }
    }

    pub(super) fn rows(&self) -> usize {
        self.x.len() / self.cols
    }

    /// Per block of 32.
    pub(super) fn blocks(&self) -> &Blocks {
        self.blocks.get_or_init(|| quantize_blocks(self.x))
    }

    /// Per super-block of 256.
    ///
    /// # Panics
    /// When the columns are not a multiple of 256 (a K-quant matrix has
    /// such columns, and `matmul` checks they agree).
    pub(super) fn supers(&self) -> &Supers {
        self.supers
            .get_or_init(|| {
                self.cols
                    .is_multiple_of(SUPER)
                    .then(|| quantize_supers(self.x))
            })
            .as_ref()
            .expect("K-quant products need columns in multiples of 256")
    }
}

fn quantize_blocks(x: &[f32]) -> Blocks {
    let blocks = x.len() / BLOCK;
    let mut out = Blocks {
        values: vec![0; x.len()],
        scales: vec![0.0; blocks],
        sums: vec![0; blocks],
        totals: vec![0.0; blocks],
        quads: vec![0; blocks * 8],
    };
    for (block, chunk) in x.chunks_exact(BLOCK).enumerate() {
        let max = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = max / 127.0;
        let inverse = if max == 0.0 { 0.0 } else { 127.0 / max };
        let values = &mut out.values[block * BLOCK..][..BLOCK];
        for (out, value) in values.iter_mut().zip(chunk) {
            *out = ((value * inverse + SHIFTER) - SHIFTER) as i32 as i8;
        }
        let quads = &mut out.quads[block * 8..][..8];
        for (quad, values) in quads.iter_mut().zip(values.chunks_exact(4)) {
            *quad = values.iter().map(|&v| v as i32).sum();
        }
        let sum = quads.iter().sum::<i32>();
        out.scales[block] = half::f16::from_f32(scale).to_f32();
        out.sums[block] = sum;
        out.totals[block] = half::f16::from_f32(scale * sum as f32).to_f32();
    }
    out
}

/// ggml's `quantize_row_q8_K_ref`.
fn quantize_supers(x: &[f32]) -> Supers {
    let supers = x.len() / SUPER;
    let mut out = Supers {
        values: vec![0; x.len()],
        scales: vec![0.0; supers],
        sums: vec![0; supers * 16],
    };
    for (index, chunk) in x.chunks_exact(SUPER).enumerate() {
        // The value of largest magnitude, the first one on ties.
        let (mut largest, mut magnitude) = (0.0f32, 0.0f32);
        for &value in chunk {
            if value.abs() > magnitude {
                magnitude = value.abs();
                largest = value;
            }
        }
        if magnitude == 0.0 {
            continue;
        }
        let inverse = -127.0 / largest;
        let values = &mut out.values[index * SUPER..][..SUPER];
        for (out, value) in values.iter_mut().zip(chunk) {
            let q = ((inverse * value + SHIFTER) - SHIFTER) as i32;
            *out = q.min(127) as i8;
        }
        for (sum, values) in out.sums[index * 16..][..16]
            .iter_mut()
            .zip(values.chunks_exact(16))
        {
            *sum = values.iter().map(|&v| v as i32).sum();
        }
        out.scales[index] = 1.0 / inverse;
    }
    out
}
