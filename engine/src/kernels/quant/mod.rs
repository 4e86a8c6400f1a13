//! Products of GGUF-quantized matrices with f32 activations, the way
//! llama.cpp computes them on x86: each row of activations is quantized
//! to 8 bits (per 32 values, or per 256 for the K-quants), every block's
//! product is an integer dot product, and the integers are scaled and
//! summed in the order of ggml's kernel for that type — so products are
//! llama.cpp's bit for bit, and a model's hidden states are too.
//!
//! Types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q4_K, Q5_K, Q6_K,
//! multiplied as they are stored (no requantizing; the packed matrix
//! takes about the file's size). On AVX-512 VNNI one `vpdpbusd` does 64
//! four-product sums (`vnni`); elsewhere `portable` computes the same.
//!
//! - `format`: the block types and how a GGUF block reads;
//! - `matrix`: the packed layout (16 output rows per vector);
//! - `activations`: the 8-bit activations, as ggml quantizes them;
//! - `portable` / `vnni`: the products.
//!
//! Why not Candle's `QMatMul`: its dot products are scalar code for Q4_1
//! and sum in other orders, and every row's product ends in a horizontal
//! sum. Measured here (2 threads, SmolLM2-135M Q4_1, one-token decode
//! steps after a 16-token prompt): candle-transformers' `quantized_llama`
//! 29.5 steps/s, `models::llama` on these kernels 123–134.

mod activations;
mod format;
mod matrix;
mod portable;
#[cfg(target_arch = "x86_64")]
mod vnni;

pub use activations::{BLOCK, Quantized};
pub use format::{Format, SUPER};
pub use matrix::QMatrix;

use super::{LANES, TILE, by_row_groups};

/// x · wᵀ: (x's rows × w.rows()), over rayon's pool, split by groups of
/// output rows. K-quant matrices need `x`'s columns in multiples of 256.
pub fn matmul(x: &Quantized, w: &QMatrix) -> Vec<f32> {
    assert_eq!(x.cols, w.cols, "activations and matrix disagree on columns");
    // Quantized once, before the threads share them.
    match w.format.activations() {
        format::Activations::Blocks => {
            x.blocks();
        }
        format::Activations::Super => {
            x.supers();
        }
    }
    by_row_groups(x.rows(), w.rows, |group, tile, count, sums| {
        group_product(x, w, group, tile, count, sums)
    })
}

/// One group of 16 output rows for activation rows `tile..tile + count`.
fn group_product(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    tile: usize,
    count: usize,
    sums: &mut [[f32; LANES]; TILE],
) {
    #[cfg(target_arch = "x86_64")]
    if vnni_available() {
        // SAFETY: the CPU has AVX-512F, BW and VNNI.
        unsafe { vnni::group_product(x, w, group, tile, count, sums) };
        return;
    }
    portable::group_product(x, w, group, tile, count, sums);
}

#[cfg(target_arch = "x86_64")]
fn vnni_available() -> bool {
    use std::sync::OnceLock;
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
    })
}

#[cfg(test)]
mod tests;
