//! Products of GGUF-quantized matrices (Q4_1, Q8_0) with f32 activations,
//! the way llama.cpp computes them: each row of activations is quantized
//! to 8 bits per block of 32 values, and every block's product is an
//! integer dot product scaled once. On AVX-512 VNNI one `vpdpbusd` does 64
//! of those multiply-adds; elsewhere portable code computes the same sums.
//! Q4_1 products follow ggml's x86 kernel float for float (eight partial
//! sums of four inputs per block, its horizontal sum; see `ggml` for why),
//! so they are llama.cpp's bit for bit; Q8_0 ones (here only the output
//! projection, whose logits nothing rounds further) sum per block.
//!
//! Layout: output rows are packed 16 at a time, so each of the 16 lanes of
//! a vector register accumulates one output row — no horizontal sums, and
//! the scales of 16 rows are one vector. For a group of 16 rows and one
//! block of 32 inputs the matrix keeps 16 scales, 16 offsets (Q4_1's
//! minimum) and the 512 weights as unsigned bytes (Q8_0 plus 128) or
//! nibbles (Q4_1), arranged so that lane r of chunk c holds row r's inputs
//! 4c..4c+4. The unpacked weights of a block are reused for several rows
//! of activations (several streams' tokens, or a prompt's).
//!
//! Why not Candle's `QMatMul`: its Q4_1 dot product is scalar code, and
//! every row's product ends in a horizontal sum. Measured here (2 threads,
//! SmolLM2-135M Q4_1, one-token decode steps after a 16-token prompt):
//! candle-transformers' `quantized_llama` 29.5 steps/s, `models::llama` on
//! these kernels 123–134.

use super::{LANES, TILE, by_row_groups};

/// 1.5 · 2^23: adding and subtracting it rounds an f32 to an integer.
const SHIFTER: f32 = 12_582_912.0;

/// Inputs per quantization block.
pub const BLOCK: usize = 32;
/// Bytes of one Q4_1 block in a GGUF file: f16 scale, f16 minimum, 16 bytes of nibbles.
const Q4_1_BYTES: usize = 20;
/// Bytes of one Q8_0 block in a GGUF file: f16 scale, 32 signed bytes.
const Q8_0_BYTES: usize = 34;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// 4-bit weights with a scale and a minimum per block (GGML Q4_1).
    Q4_1,
    /// 8-bit weights with a scale per block (GGML Q8_0).
    Q8_0,
}

impl Format {
    /// Where input `i` of a block sits for lane `lane`: the byte in the
    /// block's packed weights, and the shift of its nibble (Q4_1 keeps
    /// chunks 0-3 in the low nibbles, 4-7 in the high ones).
    fn place(self, lane: usize, i: usize) -> (usize, u32) {
        let (chunk, byte) = (i / 4, i % 4);
        match self {
            Format::Q8_0 => (chunk * 64 + lane * 4 + byte, 0),
            Format::Q4_1 => ((chunk % 4) * 64 + lane * 4 + byte, 4 * (chunk as u32 / 4)),
        }
    }

    /// Input `i` of lane `lane` from a block's packed weights.
    fn weight(self, packed: &[u8], lane: usize, i: usize) -> u8 {
        let (at, shift) = self.place(lane, i);
        match self {
            Format::Q8_0 => packed[at],
            Format::Q4_1 => (packed[at] >> shift) & 0x0f,
        }
    }

    /// Packed weight bytes per group of 16 rows and block of 32 inputs.
    fn packed_bytes(self) -> usize {
        match self {
            Format::Q4_1 => LANES * BLOCK / 2,
            Format::Q8_0 => LANES * BLOCK,
        }
    }

    /// Bytes of one row of `cols` values in a GGUF file.
    pub fn row_bytes(self, cols: usize) -> usize {
        cols / BLOCK
            * match self {
                Format::Q4_1 => Q4_1_BYTES,
                Format::Q8_0 => Q8_0_BYTES,
            }
    }
}

/// A quantized (rows × cols) matrix, packed for `matmul`.
pub struct QMatrix {
    format: Format,
    rows: usize,
    cols: usize,
    /// Per group, per block: the 16 rows' scales.
    scales: Vec<f32>,
    /// Per group, per block: the 16 rows' minimums (Q4_1; zero for Q8_0).
    offsets: Vec<f32>,
    /// Per group, per block: `format.packed_bytes()` bytes.
    weights: Vec<u8>,
}

impl QMatrix {
    /// Packs a matrix from its GGUF bytes (row-major blocks). `rows` must
    /// be a multiple of 16 and `cols` of 32.
    pub fn from_gguf(
        format: Format,
        rows: usize,
        cols: usize,
        data: &[u8],
    ) -> Result<QMatrix, String> {
        if !rows.is_multiple_of(LANES) || !cols.is_multiple_of(BLOCK) {
            return Err(format!(
                "a {rows} × {cols} matrix: rows must be a multiple of {LANES} and columns of {BLOCK}"
            ));
        }
        if data.len() != rows * format.row_bytes(cols) {
            return Err(format!(
                "a {rows} × {cols} {format:?} matrix has {} bytes, not {}",
                data.len(),
                rows * format.row_bytes(cols)
            ));
        }
        let blocks = cols / BLOCK;
        let groups = rows / LANES;
        let mut matrix = QMatrix {
            format,
            rows,
            cols,
            scales: vec![0.0; groups * blocks * LANES],
            offsets: vec![0.0; groups * blocks * LANES],
            weights: vec![0; groups * blocks * format.packed_bytes()],
        };
        let mut values = [0u8; BLOCK];
        for row in 0..rows {
            let (group, lane) = (row / LANES, row % LANES);
            let at = row * format.row_bytes(cols);
            for block in 0..blocks {
                let slot = (group * blocks + block) * LANES + lane;
                let (scale, offset) = match format {
                    Format::Q4_1 => {
                        let raw = &data[at + block * Q4_1_BYTES..][..Q4_1_BYTES];
                        for (i, byte) in raw[4..].iter().enumerate() {
                            values[i] = byte & 0x0f;
                            values[i + 16] = byte >> 4;
                        }
                        (f16_at(raw, 0), f16_at(raw, 2))
                    }
                    Format::Q8_0 => {
                        let raw = &data[at + block * Q8_0_BYTES..][..Q8_0_BYTES];
                        for (i, byte) in raw[2..].iter().enumerate() {
                            values[i] = (*byte as i8 as i16 + 128) as u8;
                        }
                        (f16_at(raw, 0), 0.0)
                    }
                };
                matrix.scales[slot] = scale;
                matrix.offsets[slot] = offset;
                let packed = &mut matrix.weights
                    [(group * blocks + block) * format.packed_bytes()..][..format.packed_bytes()];
                for (i, &value) in values.iter().enumerate() {
                    let (at, shift) = format.place(lane, i);
                    packed[at] |= value << shift;
                }
            }
        }
        Ok(matrix)
    }

    /// Quantizes a dense row-major matrix to Q8_0 (weights stored in a
    /// type these kernels do not run as it is).
    pub fn from_f32(rows: usize, cols: usize, values: &[f32]) -> Result<QMatrix, String> {
        if values.len() != rows * cols || !cols.is_multiple_of(BLOCK) {
            return Err(format!(
                "{} values are not a {rows} × {cols} matrix of whole blocks",
                values.len()
            ));
        }
        let mut data = Vec::with_capacity(rows * Format::Q8_0.row_bytes(cols));
        for block in values.chunks_exact(BLOCK) {
            let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = half::f16::from_f32(max / 127.0);
            let inverse = if max == 0.0 {
                0.0
            } else {
                1.0 / scale.to_f32()
            };
            data.extend(scale.to_bits().to_le_bytes());
            data.extend(
                block
                    .iter()
                    .map(|v| (v * inverse).round().clamp(-127.0, 127.0) as i8 as u8),
            );
        }
        QMatrix::from_gguf(Format::Q8_0, rows, cols, &data)
    }

    /// Stacks matrices with the same columns and format into one (fused
    /// projections: one pass over the activations for q, k and v).
    pub fn stack(parts: Vec<QMatrix>) -> Result<QMatrix, String> {
        let mut parts = parts.into_iter();
        let mut all = parts.next().ok_or("nothing to stack")?;
        for part in parts {
            if part.cols != all.cols || part.format != all.format {
                return Err(format!(
                    "cannot stack a {:?} matrix of {} columns onto a {:?} one of {}",
                    part.format, part.cols, all.format, all.cols
                ));
            }
            all.rows += part.rows;
            all.scales.extend(part.scales);
            all.offsets.extend(part.offsets);
            all.weights.extend(part.weights);
        }
        Ok(all)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `row`, dequantized (an embedding lookup).
    pub fn row(&self, row: usize) -> Vec<f32> {
        let blocks = self.cols / BLOCK;
        let (group, lane) = (row / LANES, row % LANES);
        let mut out = Vec::with_capacity(self.cols);
        for block in 0..blocks {
            let slot = (group * blocks + block) * LANES + lane;
            let packed = &self.weights[(group * blocks + block) * self.format.packed_bytes()..];
            // Q8_0 is stored plus 128.
            let zero = if self.format == Format::Q8_0 {
                128.0
            } else {
                0.0
            };
            for i in 0..BLOCK {
                let value = self.format.weight(packed, lane, i) as f32 - zero;
                out.push(value * self.scales[slot] + self.offsets[slot]);
            }
        }
        out
    }
}

fn f16_at(raw: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([raw[at], raw[at + 1]]).to_f32()
}

/// Rows of activations quantized to 8 bits per block of 32 (GGML's Q8_1):
/// per block a scale, the integer sum of its values, that sum scaled, and
/// the values — as ggml's x86 `quantize_row_q8_1` computes them (the
/// inverse scale as 127 / max, ties rounded to even, the scale and the
/// scaled sum stored as f16), so products are llama.cpp's bit for bit.
pub struct Quantized {
    cols: usize,
    values: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<i32>,
    totals: Vec<f32>,
}

impl Quantized {
    /// Quantizes `rows` rows of `cols` values (`cols` a multiple of 32).
    pub fn new(x: &[f32], cols: usize) -> Quantized {
        let blocks = x.len() / BLOCK;
        let mut quantized = Quantized {
            cols,
            values: vec![0; x.len()],
            scales: vec![0.0; blocks],
            sums: vec![0; blocks],
            totals: vec![0.0; blocks],
        };
        for (block, chunk) in x.chunks_exact(BLOCK).enumerate() {
            let max = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = max / 127.0;
            let inverse = if max == 0.0 { 0.0 } else { 127.0 / max };
            let mut sum = 0;
            for (out, value) in quantized.values[block * BLOCK..][..BLOCK]
                .iter_mut()
                .zip(chunk)
            {
                // Rounded to nearest, ties to even (ggml's `_mm256_round_ps`),
                // by the 1.5 · 2^23 shift: exact for |v| ≤ 2^22, and it
                // vectorizes where `round_ties_even` calls libm.
                let q = ((value * inverse + SHIFTER) - SHIFTER) as i32;
                *out = q as i8;
                sum += q;
            }
            quantized.scales[block] = half::f16::from_f32(scale).to_f32();
            quantized.sums[block] = sum;
            quantized.totals[block] = half::f16::from_f32(scale * sum as f32).to_f32();
        }
        quantized
    }

    fn rows(&self) -> usize {
        self.values.len() / self.cols
    }
}

/// x · wᵀ: (x's rows × w.rows()), over rayon's pool, split by groups of
/// output rows.
pub fn matmul(x: &Quantized, w: &QMatrix) -> Vec<f32> {
    assert_eq!(x.cols, w.cols, "activations and matrix disagree on columns");
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
        unsafe {
            match w.format {
                Format::Q4_1 => vnni::q4_1_group_product(x, w, group, tile, count, sums),
                Format::Q8_0 => vnni::group_product(x, w, group, tile, count, sums),
            }
        };
        return;
    }
    portable_product(x, w, group, tile, count, sums);
}

/// `group_product` without SIMD.
fn portable_product(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    tile: usize,
    count: usize,
    sums: &mut [[f32; LANES]; TILE],
) {
    match w.format {
        Format::Q4_1 => portable_q4_1_group_product(x, w, group, tile, count, sums),
        Format::Q8_0 => portable_q8_0_group_product(x, w, group, tile, count, sums),
    }
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

/// Q8_0: the same sums as the VNNI kernel, one lane at a time.
fn portable_q8_0_group_product(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    tile: usize,
    count: usize,
    sums: &mut [[f32; LANES]; TILE],
) {
    let blocks = w.cols / BLOCK;
    for block in 0..blocks {
        let slot = (group * blocks + block) * LANES;
        let packed = &w.weights[(group * blocks + block) * w.format.packed_bytes()..];
        for (r, lanes) in sums.iter_mut().take(count).enumerate() {
            let row = tile + r;
            let values = &x.values[row * x.cols + block * BLOCK..][..BLOCK];
            let a_block = row * blocks + block;
            for (lane, sum) in lanes.iter_mut().enumerate() {
                let dot: i32 = (0..8)
                    .map(|c| quad_dot(w.format, packed, lane, values, c))
                    .sum();
                let scale = w.scales[slot + lane] * x.scales[a_block];
                // Q8_0 is stored plus 128: taken back in integers (exact).
                *sum += (dot - 128 * x.sums[a_block]) as f32 * scale;
            }
        }
    }
}

/// Q4_1 as ggml's x86 `ggml_vec_dot_q4_1_q8_1` sums it, one lane at a
/// time: per block, eight integer sums of four products (`vpdpbusd`'s
/// lanes), each times the two scales into its own running float sum; the
/// minimum times the activations' scaled sum into another; at the end the
/// eight sums added as `hsum_float_8` does, then the minimums.
fn portable_q4_1_group_product(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    tile: usize,
    count: usize,
    sums: &mut [[f32; LANES]; TILE],
) {
    let blocks = w.cols / BLOCK;
    for (r, lanes) in sums.iter_mut().take(count).enumerate() {
        let row = tile + r;
        for (lane, sum) in lanes.iter_mut().enumerate() {
            let mut partial = [0.0f32; 8];
            let mut minimums = 0.0f32;
            for block in 0..blocks {
                let slot = (group * blocks + block) * LANES + lane;
                let packed = &w.weights[(group * blocks + block) * w.format.packed_bytes()..];
                let a_block = row * blocks + block;
                minimums = w.offsets[slot].mul_add(x.totals[a_block], minimums);
                let scale = w.scales[slot] * x.scales[a_block];
                let values = &x.values[row * x.cols + block * BLOCK..][..BLOCK];
                for (c, partial) in partial.iter_mut().enumerate() {
                    let dot = quad_dot(w.format, packed, lane, values, c);
                    *partial = scale.mul_add(dot as f32, *partial);
                }
            }
            *sum = hsum_float_8(&partial) + minimums;
        }
    }
}

/// Lane `lane`'s weights times the activations over inputs 4c..4c+4 of a
/// block: what one 32-bit lane of `vpdpbusd` sums.
fn quad_dot(format: Format, packed: &[u8], lane: usize, values: &[i8], c: usize) -> i32 {
    (4 * c..4 * c + 4)
        .map(|i| format.weight(packed, lane, i) as i32 * values[i] as i32)
        .sum()
}

/// ggml's `hsum_float_8`: the upper four lanes onto the lower, then pairs.
#[inline(always)]
fn hsum_float_8(p: &[f32; 8]) -> f32 {
    ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]))
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{BLOCK, LANES, QMatrix, Quantized, TILE};

    /// `portable_q8_0_group_product` (Q8_0) with `vpdpbusd`.
    ///
    /// # Safety
    /// The CPU has AVX-512F, AVX-512BW and AVX-512 VNNI; `group` and the
    /// rows `tile..tile + count` (count ≤ TILE) exist; `w` is Q8_0.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn group_product(
        x: &Quantized,
        w: &QMatrix,
        group: usize,
        tile: usize,
        count: usize,
        sums: &mut [[f32; LANES]; TILE],
    ) {
        let blocks = w.cols / BLOCK;
        let bytes = w.format.packed_bytes();
        let mut acc = [_mm512_setzero_ps(); TILE];
        for block in 0..blocks {
            let slot = (group * blocks + block) * LANES;
            let packed = &w.weights[(group * blocks + block) * bytes..][..bytes];
            let mut chunks = [_mm512_setzero_si512(); 8];
            for (c, chunk) in chunks.iter_mut().enumerate() {
                // SAFETY: `packed` holds 512 bytes, read as 8 unaligned
                // 64-byte vectors.
                *chunk = unsafe { _mm512_loadu_si512(packed.as_ptr().add(c * 64).cast()) };
            }
            // SAFETY: `slot..slot + 16` lies in `scales`.
            let scale = unsafe { _mm512_loadu_ps(w.scales.as_ptr().add(slot)) };
            for (r, acc) in acc.iter_mut().enumerate().take(count) {
                let row = tile + r;
                let values = &x.values[row * x.cols + block * BLOCK..][..BLOCK];
                let a_block = row * blocks + block;
                let mut dot = _mm512_setzero_si512();
                for (c, chunk) in chunks.iter().enumerate() {
                    // SAFETY: `values` has 32 bytes; chunk c reads 4c..4c+4.
                    let four =
                        unsafe { (values.as_ptr().add(c * 4) as *const i32).read_unaligned() };
                    dot = _mm512_dpbusd_epi32(dot, *chunk, _mm512_set1_epi32(four));
                }
                let exact = _mm512_sub_epi32(dot, _mm512_set1_epi32(128 * x.sums[a_block]));
                *acc = _mm512_fmadd_ps(
                    _mm512_cvtepi32_ps(exact),
                    _mm512_mul_ps(scale, _mm512_set1_ps(x.scales[a_block])),
                    *acc,
                );
            }
        }
        for (sum, acc) in sums.iter_mut().zip(acc).take(count) {
            // SAFETY: `sum` is 16 floats.
            unsafe { _mm512_storeu_ps(sum.as_mut_ptr(), acc) };
        }
    }

    /// `portable_q4_1_group_product` with `vpdpbusd`: its eight partial
    /// sums per lane are eight vectors, one lane per output row; two
    /// activation rows share each unpacking of the weights.
    ///
    /// # Safety
    /// As `group_product`, with `w` Q4_1.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn q4_1_group_product(
        x: &Quantized,
        w: &QMatrix,
        group: usize,
        tile: usize,
        count: usize,
        sums: &mut [[f32; LANES]; TILE],
    ) {
        let mut r = 0;
        while r < count {
            let out = &mut sums[r..];
            // SAFETY: as this function's.
            unsafe {
                if count - r >= 2 {
                    q4_1_rows::<2>(x, w, group, tile + r, out);
                } else {
                    q4_1_rows::<1>(x, w, group, tile + r, out);
                }
            }
            r += 2;
        }
    }

    /// `ROWS` activation rows from `first` for one group of 16 outputs.
    ///
    /// # Safety
    /// As `q4_1_group_product`; `out` has at least `ROWS` rows.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn q4_1_rows<const ROWS: usize>(
        x: &Quantized,
        w: &QMatrix,
        group: usize,
        first: usize,
        out: &mut [[f32; LANES]],
    ) {
        let blocks = w.cols / BLOCK;
        let bytes = w.format.packed_bytes();
        let nibble = _mm512_set1_epi8(0x0f);
        let mut partial = [[_mm512_setzero_ps(); 8]; ROWS];
        let mut minimums = [_mm512_setzero_ps(); ROWS];
        for block in 0..blocks {
            let slot = (group * blocks + block) * LANES;
            let packed = &w.weights[(group * blocks + block) * bytes..][..bytes];
            // SAFETY: `slot..slot + 16` lies in `scales` and `offsets`.
            let (scale, offset) = unsafe {
                (
                    _mm512_loadu_ps(w.scales.as_ptr().add(slot)),
                    _mm512_loadu_ps(w.offsets.as_ptr().add(slot)),
                )
            };
            let mut chunks = [_mm512_setzero_si512(); 8];
            for c in 0..4 {
                // SAFETY: `packed` holds 256 bytes, read as 4 unaligned
                // 64-byte vectors: chunk c in the low nibbles, c + 4 in the
                // high ones.
                let v = unsafe { _mm512_loadu_si512(packed.as_ptr().add(c * 64).cast()) };
                chunks[c] = _mm512_and_si512(v, nibble);
                chunks[c + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
            }
            for k in 0..ROWS {
                let row = first + k;
                let a_block = row * blocks + block;
                let total = _mm512_set1_ps(x.totals[a_block]);
                minimums[k] = _mm512_fmadd_ps(offset, total, minimums[k]);
                let scale = _mm512_mul_ps(scale, _mm512_set1_ps(x.scales[a_block]));
                let values = &x.values[row * x.cols + block * BLOCK..][..BLOCK];
                for (c, chunk) in chunks.iter().enumerate() {
                    // SAFETY: `values` has 32 bytes; chunk c reads 4c..4c+4.
                    let four =
                        unsafe { (values.as_ptr().add(c * 4) as *const i32).read_unaligned() };
                    let dot = _mm512_dpbusd_epi32(
                        _mm512_setzero_si512(),
                        *chunk,
                        _mm512_set1_epi32(four),
                    );
                    partial[k][c] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(dot), partial[k][c]);
                }
            }
        }
        for k in 0..ROWS {
            // `hsum_float_8`, lane by lane.
            let p = partial[k];
            let even = _mm512_add_ps(_mm512_add_ps(p[0], p[4]), _mm512_add_ps(p[2], p[6]));
            let odd = _mm512_add_ps(_mm512_add_ps(p[1], p[5]), _mm512_add_ps(p[3], p[7]));
            let total = _mm512_add_ps(_mm512_add_ps(even, odd), minimums[k]);
            // SAFETY: `out[k]` is 16 floats.
            unsafe { _mm512_storeu_ps(out[k].as_mut_ptr(), total) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values;

    /// GGUF bytes of a random matrix, and the same matrix dequantized.
    fn random_gguf(format: Format, rows: usize, cols: usize, seed: u32) -> (Vec<u8>, Vec<f32>) {
        let noise = test_values(rows * cols, seed, (0.0, 1.0));
        let mut data = Vec::new();
        let mut dense = Vec::new();
        for (b, chunk) in noise.chunks(BLOCK).enumerate() {
            let scale = 0.01 + (b % 7) as f32 * 0.003;
            match format {
                Format::Q4_1 => {
                    let min = -0.05 - (b % 5) as f32 * 0.01;
                    data.extend(f32_to_half_bits(scale).to_le_bytes());
                    data.extend(f32_to_half_bits(min).to_le_bytes());
                    let q: Vec<u8> = chunk.iter().map(|v| (v * 15.0).round() as u8).collect();
                    for i in 0..16 {
                        data.push(q[i] | (q[i + 16] << 4));
                    }
                    let (scale, min) = (round_half(scale), round_half(min));
                    dense.extend(q.iter().map(|&q| q as f32 * scale + min));
                }
                Format::Q8_0 => {
                    data.extend(f32_to_half_bits(scale).to_le_bytes());
                    let q: Vec<i8> = chunk.iter().map(|v| (v * 254.0 - 127.0) as i8).collect();
                    data.extend(q.iter().map(|&q| q as u8));
                    let scale = round_half(scale);
                    dense.extend(q.iter().map(|&q| q as f32 * scale));
                }
            }
        }
        (data, dense)
    }

    fn f32_to_half_bits(value: f32) -> u16 {
        half::f16::from_f32(value).to_bits()
    }

    fn round_half(value: f32) -> f32 {
        half::f16::from_f32(value).to_f32()
    }

    #[test]
    fn dense_rows_requantize_to_q8_0() {
        let values = test_values(16 * 64, 9, (-2.0, 2.0));
        let matrix = QMatrix::from_f32(16, 64, &values).unwrap();
        let row = matrix.row(3);
        for (a, b) in row.iter().zip(&values[3 * 64..]) {
            assert!((a - b).abs() <= 2.0 / 127.0 * 0.51 + 1e-3, "{a} vs {b}");
        }
    }

    #[test]
    fn rows_dequantize_to_the_gguf_values() {
        for format in [Format::Q4_1, Format::Q8_0] {
            let (data, dense) = random_gguf(format, 32, 64, 3);
            let matrix = QMatrix::from_gguf(format, 32, 64, &data).unwrap();
            for row in [0, 5, 16, 31] {
                assert_eq!(
                    matrix.row(row),
                    dense[row * 64..][..64],
                    "{format:?} row {row}"
                );
            }
        }
    }

    /// Both kernels against a dense f32 product of the dequantized
    /// matrix: equal up to the activations' 8-bit quantization.
    #[test]
    fn products_match_the_dequantized_matrix() {
        for format in [Format::Q4_1, Format::Q8_0] {
            let (rows, cols, inputs) = (48, 96, 7);
            let (data, dense) = random_gguf(format, rows, cols, 11);
            let matrix = QMatrix::from_gguf(format, rows, cols, &data).unwrap();
            let x = test_values(inputs * cols, 5, (-1.0, 1.0));
            let quantized = Quantized::new(&x, cols);
            let fast = matmul(&quantized, &matrix);
            let mut portable = vec![0.0; inputs * rows];
            for group in 0..rows / LANES {
                for tile in (0..inputs).step_by(TILE) {
                    let count = (inputs - tile).min(TILE);
                    let mut sums = [[0.0; LANES]; TILE];
                    portable_product(&quantized, &matrix, group, tile, count, &mut sums);
                    for r in 0..count {
                        portable[(tile + r) * rows + group * LANES..][..LANES]
                            .copy_from_slice(&sums[r]);
                    }
                }
            }
            for i in 0..inputs {
                for o in 0..rows {
                    let products = (0..cols).map(|c| x[i * cols + c] * dense[o * cols + c]);
                    let exact: f32 = products.clone().sum();
                    // 8-bit activations: each product is off by at most ~1/254 of itself.
                    let bound = products.map(f32::abs).sum::<f32>() / 127.0;
                    let (f, p) = (fast[i * rows + o], portable[i * rows + o]);
                    match format {
                        // Both in ggml's order: the same bits.
                        Format::Q4_1 => assert_eq!(f.to_bits(), p.to_bits(), "{f} vs {p}"),
                        Format::Q8_0 => {
                            assert!((f - p).abs() <= 1e-4 * (1.0 + p.abs()), "{f} vs {p}")
                        }
                    }
                    assert!((f - exact).abs() <= bound, "{format:?} {f} vs {exact}");
                }
            }
        }
    }

    #[test]
    fn stacking_appends_rows() {
        let (a, _) = random_gguf(Format::Q4_1, 16, 32, 1);
        let (b, dense_b) = random_gguf(Format::Q4_1, 32, 32, 2);
        let a = QMatrix::from_gguf(Format::Q4_1, 16, 32, &a).unwrap();
        let b = QMatrix::from_gguf(Format::Q4_1, 32, 32, &b).unwrap();
        let both = QMatrix::stack(vec![a, b]).unwrap();
        assert_eq!(both.rows(), 48);
        assert_eq!(both.row(16 + 20), dense_b[20 * 32..][..32]);
    }
}
