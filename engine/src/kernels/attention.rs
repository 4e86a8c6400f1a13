//! Attention of one query over a cache of keys and values, for decoders
//! that keep a cache per stream (`models::llama`), computed as llama.cpp
//! computes it without flash attention (see `ggml` for why exactly so):
//! the query rounded to f16 like the cached keys and values, a score per
//! cached position in ggml's summation order, its softmax, the weights
//! rounded to f16, and the weighted sum of the values in the same order.
//! The cache holds f16 values, as llama.cpp's does: half the memory of
//! f32, and every value widens exactly.

use std::ops::Range;

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::ggml::{F16Sums, Order, dot, round_f16, softmax_f16};

/// How scores become weights: × `scale`, then (Gemma 2) capped as
/// `cap · tanh(score / cap)`, then the softmax.
#[derive(Clone, Copy, Debug)]
pub struct Scoring {
    pub scale: f32,
    pub softcap: Option<f32>,
}

widest! {
    #[allow(clippy::too_many_arguments)]
    /// One query over the cached positions `visible` of one kv head (at
    /// `offset` in rows of `stride`): softmax(q·k × scale) · v, summed in
    /// `order` (whether llama.cpp would run this query alone or in a
    /// batch of tokens). Positions before the range are masked as
    /// llama.cpp masks them (a sliding window): their weights are zero,
    /// and the sums keep every position in its lane.
    pub fn attend_one(
        query: &[f32],
        keys: &[f16],
        values: &[f16],
        stride: usize,
        offset: usize,
        visible: Range<usize>,
        scoring: Scoring,
        order: Order,
        scores: &mut [f32],
        out: &mut [f32]
    ) {
        let dim = query.len();
        let query: Vec<f32> = query.iter().map(|&q| round_f16(q)).collect();
        let key = |position: usize| &keys[position * stride + offset..][..dim];
        let scores = &mut scores[..visible.end];
        scores[..visible.start].fill(f32::NEG_INFINITY);
        #[cfg(target_arch = "x86_64")]
        let vectorized = dim.is_multiple_of(64) && std::is_x86_feature_detected!("avx512f");
        #[cfg(not(target_arch = "x86_64"))]
        let vectorized = false;
        if vectorized {
            #[cfg(target_arch = "x86_64")]
            for position in visible.clone() {
                // SAFETY: the CPU has AVX-512F; both runs have `dim` values, a multiple of 64.
                scores[position] = unsafe { avx512::dot(order, &query, key(position)) };
            }
        } else {
            let mut row = vec![0.0; dim];
            for position in visible.clone() {
                key(position).convert_to_f32_slice(&mut row);
                scores[position] = dot(order, &query, &row);
            }
        }
        if let Some(cap) = scoring.softcap {
            // ggml's scale, tanh, scale.
            let inverse = 1.0 / cap;
            for score in &mut scores[visible.clone()] {
                *score = (*score * inverse).tanh() * cap;
            }
        }
        softmax_f16(scores, scoring.scale);
        let mut sums = F16Sums::new(order, dim);
        let mut row = vec![0.0; dim];
        for position in visible {
            let value = &values[position * stride + offset..][..dim];
            if vectorized {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU has AVX-512F; both rows have `dim` values, a multiple of 64.
                unsafe { avx512::widen(value, &mut row) };
            } else {
                value.convert_to_f32_slice(&mut row);
            }
            sums.add(position, scores[position], &row);
        }
        sums.finish(out);
    }
}

/// `ggml::dot` in registers, for runs of a multiple of 64 values (the
/// compiler vectorizes the portable one poorly: scores were a fifth of a
/// decode step).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use half::f16;

    use super::Order;

    /// # Safety
    /// The CPU has AVX-512F; `x` and `y` have the same length, a multiple
    /// of 64.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot(order: Order, x: &[f32], y: &[f16]) -> f32 {
        let steps = x.len() / 16;
        // SAFETY: 16 values at `16 * i` lie in both runs for i < len / 16
        // (16 f16 values are 32 bytes).
        let product = |i: usize, sum| unsafe {
            let (x, y) = (x.as_ptr().add(16 * i), y.as_ptr().add(16 * i));
            let y = _mm512_cvtph_ps(_mm256_loadu_si256(y.cast()));
            _mm512_fmadd_ps(_mm512_loadu_ps(x), y, sum)
        };
        let lanes = match order {
            Order::Batch => (0..steps).fold(_mm512_setzero_ps(), |sum, i| product(i, sum)),
            Order::OneToken => {
                let mut sums = [_mm512_setzero_ps(); 4];
                for i in (0..steps).step_by(4) {
                    for (j, sum) in sums.iter_mut().enumerate() {
                        *sum = product(i + j, *sum);
                    }
                }
                let (even, odd) = (
                    _mm512_add_ps(sums[0], sums[2]),
                    _mm512_add_ps(sums[1], sums[3]),
                );
                _mm512_add_ps(even, odd)
            }
        };
        reduce(lanes)
    }

    /// `x` widened into `out`, 16 values at a time (half's own conversion
    /// is a call per row that checks the CPU each time: a fifth of a
    /// prompt's time went there).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `x` and `out` have the same length, a
    /// multiple of 16.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn widen(x: &[f16], out: &mut [f32]) {
        for i in 0..x.len() / 16 {
            // SAFETY: 16 values at `16 * i` lie in both runs.
            unsafe {
                let v = _mm512_cvtph_ps(_mm256_loadu_si256(x.as_ptr().add(16 * i).cast()));
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * i), v);
            }
        }
    }

    /// GCC's `_mm512_reduce_add_ps` (as `ggml::reduce`).
    #[target_feature(enable = "avx512f")]
    fn reduce(a: __m512) -> f32 {
        let low = _mm512_castps512_ps256(a);
        let high = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(a)));
        let eighths = _mm256_add_ps(high, low);
        let quarters = _mm_add_ps(
            _mm256_extractf128_ps::<1>(eighths),
            _mm256_castps256_ps128(eighths),
        );
        let pairs = _mm_add_ps(
            quarters,
            _mm_shuffle_ps::<0b01_00_11_10>(quarters, quarters),
        );
        _mm_cvtss_f32(pairs) + _mm_cvtss_f32(_mm_shuffle_ps::<0b01>(pairs, pairs))
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::kernels::ggml;
        use crate::kernels::test_values;

        #[test]
        fn registers_sum_as_the_portable_order_does() {
            if !std::is_x86_feature_detected!("avx512f") {
                return;
            }
            for len in [64, 128, 192] {
                let round = |v: Vec<f32>| v.into_iter().map(ggml::round_f16).collect::<Vec<_>>();
                let x = round(test_values(len, 3, (-3.0, 3.0)));
                let y = round(test_values(len, 8, (-2.0, 2.0)));
                let y16: Vec<f16> = y.iter().map(|&v| f16::from_f32(v)).collect();
                for order in [Order::OneToken, Order::Batch] {
                    // SAFETY: the CPU has AVX-512F; both have `len` values.
                    let fast = unsafe { dot(order, &x, &y16) };
                    assert_eq!(
                        fast.to_bits(),
                        ggml::dot(order, &x, &y).to_bits(),
                        "{order:?} {len}"
                    );
                }
            }
        }
    }
}
