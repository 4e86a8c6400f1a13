//! Products of f16 weight matrices with a few rows of f32 activations:
//! the decoding steps of a model whose weights are stored in f16 (one to
//! a few tokens at a time). Such a product reads every weight once and
//! does one multiply-add with it, so it is bound by memory: kept in f16,
//! the weights are half the bytes of the f32 copies Candle computes with,
//! and each is widened to f32 in a register (`vcvtph2ps`) — the same
//! products and f32 sums, so the results are those of the f32 weights.
//!
//! Layout, as `quant`'s: output rows packed 16 at a time, input i's 16
//! weights side by side, so each lane of a vector accumulates one output
//! row (no horizontal sums). Measured here (2 threads), Whisper tiny.en's
//! 51,864 × 384 output projection on one token: Candle's f32 matmul
//! 6.5 ms, this 1.1 ms.

use half::f16;

use super::{LANES, TILE, by_row_groups};

/// An f16 weight matrix (rows = outputs, columns = inputs), packed.
pub struct Matrix {
    rows: usize,
    cols: usize,
    /// Group g, input i, lane r: row 16g + r's weight i (rows past `rows`
    /// are zeros).
    packed: Vec<f16>,
}

impl Matrix {
    /// Packs the row-major `(rows, cols)` weights `w`; `None` on a CPU
    /// without AVX-512, where Candle's f32 products are the faster ones.
    pub fn pack(w: &[f16], rows: usize, cols: usize) -> Option<Matrix> {
        if !available() {
            return None;
        }
        Some(Matrix::pack_for_any_cpu(w, rows, cols))
    }

    fn pack_for_any_cpu(w: &[f16], rows: usize, cols: usize) -> Matrix {
        assert_eq!(w.len(), rows * cols, "weights and shape disagree");
        let groups = rows.div_ceil(LANES);
        let mut packed = vec![f16::ZERO; groups * LANES * cols];
        for (row, weights) in w.chunks_exact(cols).enumerate() {
            let (group, lane) = (row / LANES, row % LANES);
            for (i, &weight) in weights.iter().enumerate() {
                packed[(group * cols + i) * LANES + lane] = weight;
            }
        }
        Matrix { rows, cols, packed }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `row` in f32 (an embedding lookup); `None` past the last row.
    pub fn row(&self, row: usize) -> Option<Vec<f32>> {
        (row < self.rows).then(|| {
            let (group, lane) = (row / LANES, row % LANES);
            let weights = &self.packed[group * self.cols * LANES..][..self.cols * LANES];
            (0..self.cols)
                .map(|i| weights[i * LANES + lane].to_f32())
                .collect()
        })
    }

    /// x · wᵀ: x is row-major `(x.len() / cols, cols)`; the result is
    /// `(x's rows, rows)`, over rayon's pool.
    pub fn matmul(&self, x: &[f32]) -> Vec<f32> {
        assert_eq!(
            x.len() % self.cols,
            0,
            "activations and matrix disagree on columns"
        );
        by_row_groups(
            x.len() / self.cols,
            self.rows,
            |group, tile, count, sums| self.group_product(x, group, tile, count, sums),
        )
    }

    fn group_product(
        &self,
        x: &[f32],
        group: usize,
        tile: usize,
        count: usize,
        sums: &mut [[f32; LANES]; TILE],
    ) {
        #[cfg(target_arch = "x86_64")]
        if available() {
            // SAFETY: the CPU has AVX-512F; the group and rows exist.
            unsafe { avx512::group_product(self, x, group, tile, count, sums) };
            return;
        }
        self.portable_group_product(x, group, tile, count, sums);
    }

    /// The same sums as the AVX-512 kernel, one lane at a time.
    fn portable_group_product(
        &self,
        x: &[f32],
        group: usize,
        tile: usize,
        count: usize,
        sums: &mut [[f32; LANES]; TILE],
    ) {
        let weights = &self.packed[group * self.cols * LANES..][..self.cols * LANES];
        for (r, lanes) in sums.iter_mut().take(count).enumerate() {
            let values = &x[(tile + r) * self.cols..][..self.cols];
            for (i, &value) in values.iter().enumerate() {
                for (lane, sum) in lanes.iter_mut().enumerate() {
                    *sum += weights[i * LANES + lane].to_f32() * value;
                }
            }
        }
    }
}

fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{LANES, Matrix, TILE};

    /// `portable_group_product` with 16 lanes a vector.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `group` and the activation rows `tile..tile +
    /// count` (count ≤ TILE) exist.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn group_product(
        w: &Matrix,
        x: &[f32],
        group: usize,
        tile: usize,
        count: usize,
        sums: &mut [[f32; LANES]; TILE],
    ) {
        let weights = &w.packed[group * w.cols * LANES..][..w.cols * LANES];
        let rows = &x[tile * w.cols..][..count * w.cols];
        // One build per tile height, so the accumulators stay in registers.
        match count {
            1 => tile_product::<1>(weights, rows, w.cols, sums),
            2 => tile_product::<2>(weights, rows, w.cols, sums),
            3 => tile_product::<3>(weights, rows, w.cols, sums),
            _ => tile_product::<TILE>(weights, rows, w.cols, sums),
        }
    }

    #[target_feature(enable = "avx512f")]
    fn tile_product<const ROWS: usize>(
        weights: &[half::f16],
        rows: &[f32],
        cols: usize,
        sums: &mut [[f32; LANES]; TILE],
    ) {
        let mut acc = [_mm512_setzero_ps(); ROWS];
        for i in 0..cols {
            let lanes = &weights[i * LANES..][..LANES];
            // SAFETY: `lanes` is 16 f16 values, 32 bytes read unaligned.
            let widened = _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(lanes.as_ptr().cast()) });
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(widened, _mm512_set1_ps(rows[r * cols + i]), *acc);
            }
        }
        for (sum, acc) in sums.iter_mut().zip(acc) {
            // SAFETY: `sum` is 16 floats.
            unsafe { _mm512_storeu_ps(sum.as_mut_ptr(), acc) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values;

    #[test]
    fn products_are_those_of_the_f32_weights() {
        // Rows not a multiple of 16 (a vocabulary's), and 1 to 6
        // activation rows (tiles of 4 and their remainders).
        let (rows, cols) = (37, 24);
        let w: Vec<f16> = test_values(rows * cols, 3, (-1.0, 1.0))
            .into_iter()
            .map(f16::from_f32)
            .collect();
        for n in 1..=6 {
            let x = test_values(n * cols, 7 + n as u32, (-2.0, 2.0));
            let expected: Vec<f32> = (0..n)
                .flat_map(|r| {
                    let (w, x) = (&w, &x);
                    (0..rows).map(move |o| {
                        (0..cols)
                            .map(|i| w[o * cols + i].to_f32() * x[r * cols + i])
                            .sum::<f32>()
                    })
                })
                .collect();
            let packed = Matrix::pack_for_any_cpu(&w, rows, cols);
            for row in [0, 17, rows - 1] {
                let expected: Vec<f32> =
                    w[row * cols..][..cols].iter().map(|v| v.to_f32()).collect();
                assert_eq!(packed.row(row), Some(expected));
            }
            assert_eq!(packed.row(rows), None);
            let got = packed.matmul(&x);
            assert_eq!(got.len(), n * rows);
            for (a, b) in got.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-4, "{n} rows: {a} vs {b}");
            }
            // The portable path (`matmul` took AVX-512 where the CPU has
            // it), on the last, partly padded group.
            let count = n.min(TILE);
            let mut sums = [[0.0; LANES]; TILE];
            packed.portable_group_product(&x, 2, 0, count, &mut sums);
            for (r, sums) in sums.iter().take(count).enumerate() {
                for (lane, &sum) in sums.iter().take(rows - 2 * LANES).enumerate() {
                    let want = expected[r * rows + 2 * LANES + lane];
                    assert!((sum - want).abs() < 1e-4, "{sum} vs {want}");
                }
            }
        }
    }
}
