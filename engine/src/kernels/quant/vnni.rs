//! The products of `portable` with AVX-512 VNNI: one `vpdpbusd` does 64
//! of the four-product sums, one per lane and output row; every float
//! operation is the portable one, lane for lane, so both give the same
//! bits. Activation rows are taken `ROWS` at a time, sharing each
//! unpacking of the weights.

use std::arch::x86_64::*;

use half::f16;

use super::activations::{BLOCK, Quantized};
use super::format::{Format, SUPER};
use super::matrix::{matrix_run_bytes, planes};
use super::portable::Order;
use super::{LANES, QMatrix, TILE};

/// # Safety
/// The CPU has AVX-512F, AVX-512BW and AVX-512 VNNI; `group` and the rows
/// `tile..tile + count` (count ≤ TILE) exist.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn group_product(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    tile: usize,
    count: usize,
    sums: &mut [[f32; LANES]; TILE],
) {
    // llama.cpp's Q4_K gemm takes rows in whole groups of 4 (tiles are).
    let q4k_step = if count == TILE { 2 } else { 8 };
    let mut r = 0;
    while r < count {
        let out = &mut sums[r..];
        let first = tile + r;
        // SAFETY: as this function's.
        unsafe {
            if count - r >= 2 {
                rows::<2>(x, w, group, first, out, q4k_step)
            } else {
                rows::<1>(x, w, group, first, out, q4k_step)
            }
        }
        r += 2;
    }
}

/// # Safety
/// As `group_product`; `out` has at least `ROWS` rows.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn rows<const ROWS: usize>(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    first: usize,
    out: &mut [[f32; LANES]],
    q4k_step: usize,
) {
    // SAFETY: as this function's.
    let totals = unsafe {
        match Order::of(w.format, x.rows()) {
            Order::PerBlock => per_block::<ROWS>(x, w, group, first),
            Order::EightPartials => eight_partials::<ROWS>(x, w, group, first),
            Order::Q4K | Order::Q4KPairs => q4k::<ROWS>(x, w, group, first, q4k_step),
            Order::KPartials => k_partials::<ROWS>(x, w, group, first),
            Order::Tiled => tiled::<ROWS>(x, w, group, first),
        }
    };
    for (out, total) in out.iter_mut().zip(totals) {
        // SAFETY: `out` is 16 floats.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), total) };
    }
}

/// The 8 chunks of run `run` (counted over groups), unsigned values.
///
/// # Safety
/// As `group_product`; the run exists.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn unpack(w: &QMatrix, run: usize) -> [__m512i; 8] {
    let bytes = matrix_run_bytes(w.format);
    let packed = &w.weights[run * bytes..][..bytes];
    let mut chunks = [_mm512_setzero_si512(); 8];
    if w.format == Format::Q8_0 {
        for (c, chunk) in chunks.iter_mut().enumerate() {
            // SAFETY: `packed` holds 512 bytes, read as 8 vectors.
            *chunk = unsafe { _mm512_loadu_si512(packed.as_ptr().add(c * 64).cast()) };
        }
        return chunks;
    }
    let nibble = _mm512_set1_epi8(0x0f);
    for c in 0..4 {
        // SAFETY: `packed` holds 256 bytes, read as 4 vectors: chunk c in
        // the low nibbles, c + 4 in the high ones.
        let v = unsafe { _mm512_loadu_si512(packed.as_ptr().add(c * 64).cast()) };
        chunks[c] = _mm512_and_si512(v, nibble);
        chunks[c + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
    }
    let planes = planes(w.format);
    for plane in 0..planes {
        let bit = _mm512_set1_epi8(16 << plane);
        let masks = &w.high[(run * planes + plane) * 8..][..8];
        for (chunk, &mask) in chunks.iter_mut().zip(masks) {
            *chunk = _mm512_mask_or_epi8_(*chunk, mask, bit);
        }
    }
    chunks
}

/// `chunk | bit` in the bytes `mask` selects.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn _mm512_mask_or_epi8_(chunk: __m512i, mask: u64, bit: __m512i) -> __m512i {
    _mm512_mask_add_epi8(chunk, mask, chunk, bit)
}

/// Four activations from `values` at `at`, as one 32-bit broadcast.
///
/// # Safety
/// The CPU has AVX-512F; `at + 4 <= values.len()`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn four(values: &[i8], at: usize) -> __m512i {
    // SAFETY: as the function's contract.
    _mm512_set1_epi32(unsafe { (values.as_ptr().add(at) as *const i32).read_unaligned() })
}

/// `hsum_float_8` lane by lane, plus `extra`.
#[inline]
#[target_feature(enable = "avx512f")]
fn hsum_8(p: &[__m512; 8], extra: __m512) -> __m512 {
    let even = _mm512_add_ps(_mm512_add_ps(p[0], p[4]), _mm512_add_ps(p[2], p[6]));
    let odd = _mm512_add_ps(_mm512_add_ps(p[1], p[5]), _mm512_add_ps(p[3], p[7]));
    _mm512_add_ps(_mm512_add_ps(even, odd), extra)
}

/// 16 f16 values from `slot`, widened to f32.
///
/// # Safety
/// The CPU has AVX-512F; `slot + 16` lies in `values`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn lanes_f32(values: &[f16], slot: usize) -> __m512 {
    debug_assert!(slot + LANES <= values.len());
    // SAFETY: as the function's contract (16 f16 values are 32 bytes).
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(values.as_ptr().add(slot).cast()) })
}

/// 16 bytes from `at` widened to 32-bit lanes, signed or not.
///
/// # Safety
/// `at + 16` lies in `bytes`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn lanes_u8(bytes: &[u8], at: usize, signed: bool) -> __m512i {
    debug_assert!(at + LANES <= bytes.len());
    // SAFETY: as the function's contract.
    let v = unsafe { _mm_loadu_si128(bytes.as_ptr().add(at).cast()) };
    if signed {
        _mm512_cvtepi8_epi32(v)
    } else {
        _mm512_cvtepu8_epi32(v)
    }
}

/// # Safety
/// As `rows`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn per_block<const ROWS: usize>(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    first: usize,
) -> [__m512; ROWS] {
    let runs = w.cols / BLOCK;
    let a = x.blocks();
    let zero = w.format.zero();
    let mut acc = [_mm512_setzero_ps(); ROWS];
    for run in 0..runs {
        // SAFETY: the run exists; its scales lie in `scales`.
        let (chunks, scale) = unsafe {
            (
                unpack(w, group * runs + run),
                lanes_f32(&w.scales, (group * runs + run) * LANES),
            )
        };
        for (k, acc) in acc.iter_mut().enumerate() {
            let a_block = (first + k) * runs + run;
            let values = &a.values[a_block * BLOCK..][..BLOCK];
            let mut dot = _mm512_setzero_si512();
            for (c, chunk) in chunks.iter().enumerate() {
                // SAFETY: `values` has 32 bytes.
                dot = _mm512_dpbusd_epi32(dot, *chunk, unsafe { four(values, 4 * c) });
            }
            let exact = _mm512_sub_epi32(dot, _mm512_set1_epi32(zero * a.sums[a_block]));
            let scale = _mm512_mul_ps(scale, _mm512_set1_ps(a.scales[a_block]));
            *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), scale, *acc);
        }
    }
    acc
}

/// # Safety
/// As `rows`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn eight_partials<const ROWS: usize>(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    first: usize,
) -> [__m512; ROWS] {
    let runs = w.cols / BLOCK;
    let a = x.blocks();
    let zero = w.format.zero();
    let offsets = w.format.has_offsets();
    let mut partial = [[_mm512_setzero_ps(); 8]; ROWS];
    let mut minimums = [_mm512_setzero_ps(); ROWS];
    for run in 0..runs {
        let slot = (group * runs + run) * LANES;
        // SAFETY: the run exists; its scales lie in `scales`.
        let (chunks, scale) =
            unsafe { (unpack(w, group * runs + run), lanes_f32(&w.scales, slot)) };
        // SAFETY: with offsets, `offsets` is as long as `scales`.
        let offset = offsets.then(|| unsafe { lanes_f32(&w.offsets, slot) });
        for k in 0..ROWS {
            let a_block = (first + k) * runs + run;
            if let Some(offset) = offset {
                let total = _mm512_set1_ps(a.totals[a_block]);
                minimums[k] = _mm512_fmadd_ps(offset, total, minimums[k]);
            }
            let scale = _mm512_mul_ps(scale, _mm512_set1_ps(a.scales[a_block]));
            let values = &a.values[a_block * BLOCK..][..BLOCK];
            let quads = &a.quads[a_block * 8..][..8];
            for (c, chunk) in chunks.iter().enumerate() {
                // The zero point's share (−zero × the four activations'
                // sum) starts the sum, so no subtraction follows.
                let start = _mm512_set1_epi32(-zero * quads[c]);
                // SAFETY: `values` has 32 bytes.
                let exact = _mm512_dpbusd_epi32(start, *chunk, unsafe { four(values, 4 * c) });
                partial[k][c] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(exact), partial[k][c]);
            }
        }
    }
    std::array::from_fn(|k| hsum_8(&partial[k], minimums[k]))
}

/// Q4_K, the integers added to the float sums every `step` sub-blocks.
///
/// # Safety
/// As `rows`; `x` has super-blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn q4k<const ROWS: usize>(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    first: usize,
    step: usize,
) -> [__m512; ROWS] {
    let (blocks, runs) = (w.cols / SUPER, w.cols / BLOCK);
    let a = x.supers();
    let mut acc = [_mm512_setzero_ps(); ROWS];
    let mut acc_min = [_mm512_setzero_ps(); ROWS];
    for b in 0..blocks {
        let slot = (group * blocks + b) * LANES;
        // SAFETY: `slot + 16` lies in `scales` and `offsets`.
        let (d_w, dmin_w) = unsafe { (lanes_f32(&w.scales, slot), lanes_f32(&w.offsets, slot)) };
        let mut total = [_mm512_setzero_si512(); ROWS];
        let mut minimum = [_mm512_setzero_si512(); ROWS];
        for sub in 0..8 {
            let at = ((group * blocks + b) * 8 + sub) * LANES;
            // SAFETY: the run exists; `at + 16` lies in the sub-block arrays.
            let (chunks, scale, min) = unsafe {
                (
                    unpack(w, group * runs + b * 8 + sub),
                    lanes_u8(&w.sub_scales, at, false),
                    lanes_u8(&w.sub_mins, at, false),
                )
            };
            for k in 0..ROWS {
                let base = ((first + k) * blocks + b) * SUPER + sub * BLOCK;
                let values = &a.values[base..][..BLOCK];
                let mut dot = _mm512_setzero_si512();
                for (c, chunk) in chunks.iter().enumerate() {
                    // SAFETY: `values` has 32 bytes.
                    dot = _mm512_dpbusd_epi32(dot, *chunk, unsafe { four(values, 4 * c) });
                }
                total[k] = _mm512_add_epi32(total[k], _mm512_mullo_epi32(dot, scale));
                let sums = &a.sums[((first + k) * blocks + b) * 16 + 2 * sub..][..2];
                let sum = _mm512_set1_epi32(sums[0] + sums[1]);
                minimum[k] = _mm512_add_epi32(minimum[k], _mm512_mullo_epi32(min, sum));
            }
            if (sub + 1) % step != 0 {
                continue;
            }
            for k in 0..ROWS {
                let d = _mm512_set1_ps(a.scales[(first + k) * blocks + b]);
                let (t, m) = (_mm512_cvtepi32_ps(total[k]), _mm512_cvtepi32_ps(minimum[k]));
                acc[k] = _mm512_fmadd_ps(t, _mm512_mul_ps(d_w, d), acc[k]);
                acc_min[k] = _mm512_fmadd_ps(m, _mm512_mul_ps(dmin_w, d), acc_min[k]);
                total[k] = _mm512_setzero_si512();
                minimum[k] = _mm512_setzero_si512();
            }
        }
    }
    std::array::from_fn(|k| _mm512_sub_ps(acc[k], acc_min[k]))
}

/// # Safety
/// As `rows`; `x` has super-blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn k_partials<const ROWS: usize>(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    first: usize,
) -> [__m512; ROWS] {
    let (blocks, runs, subs) = (w.cols / SUPER, w.cols / BLOCK, w.format.sub_blocks());
    let a = x.supers();
    let six = w.format == Format::Q6K;
    let mut partial = [[_mm512_setzero_ps(); 8]; ROWS];
    let mut minimums = [_mm512_setzero_ps(); ROWS];
    for b in 0..blocks {
        let sub_at = |sub: usize| ((group * blocks + b) * subs + sub) * LANES;
        let mut lanes = [[_mm512_setzero_si512(); 8]; ROWS];
        for run in 0..8 {
            // SAFETY: the run exists; the sub-blocks' scales lie in
            // `sub_scales`.
            let (chunks, scales) = unsafe {
                let scales = match six {
                    true => {
                        [2 * run, 2 * run + 1].map(|s| lanes_u8(&w.sub_scales, sub_at(s), true))
                    }
                    false => [lanes_u8(&w.sub_scales, sub_at(run), false); 2],
                };
                (unpack(w, group * runs + b * 8 + run), scales)
            };
            for (k, lanes) in lanes.iter_mut().enumerate() {
                let base = ((first + k) * blocks + b) * SUPER + run * BLOCK;
                let values = &a.values[base..][..BLOCK];
                for (c, chunk) in chunks.iter().enumerate() {
                    // SAFETY: `values` has 32 bytes.
                    let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), *chunk, unsafe {
                        four(values, 4 * c)
                    });
                    let scaled = _mm512_mullo_epi32(dot, scales[c / 4]);
                    lanes[c] = _mm512_add_epi32(lanes[c], scaled);
                }
            }
        }
        let slot = (group * blocks + b) * LANES;
        // SAFETY: `slot + 16` lies in `scales` (and `offsets` for Q5_K).
        let scale = unsafe { lanes_f32(&w.scales, slot) };
        for k in 0..ROWS {
            let sums = &a.sums[((first + k) * blocks + b) * 16..][..16];
            let ad = a.scales[(first + k) * blocks + b];
            if six {
                for (c, lane) in lanes[k].iter_mut().enumerate() {
                    // SAFETY: the sub-blocks' scales lie in `sub_scales`.
                    let [low, high] = [2 * c, 2 * c + 1]
                        .map(|s| unsafe { lanes_u8(&w.sub_scales, sub_at(s), true) });
                    let offset = _mm512_add_epi32(
                        _mm512_mullo_epi32(low, _mm512_set1_epi32(sums[2 * c])),
                        _mm512_mullo_epi32(high, _mm512_set1_epi32(sums[2 * c + 1])),
                    );
                    *lane = _mm512_sub_epi32(*lane, _mm512_slli_epi32(offset, 5));
                }
            } else {
                let mut minimum = _mm512_setzero_si512();
                for sub in 0..8 {
                    // SAFETY: the sub-block's minimum lies in `sub_mins`.
                    let min = unsafe { lanes_u8(&w.sub_mins, sub_at(sub), false) };
                    let sum = _mm512_set1_epi32(sums[2 * sub] + sums[2 * sub + 1]);
                    minimum = _mm512_add_epi32(minimum, _mm512_mullo_epi32(min, sum));
                }
                // SAFETY: Q5_K has offsets.
                let dmin =
                    _mm512_mul_ps(_mm512_set1_ps(-ad), unsafe { lanes_f32(&w.offsets, slot) });
                minimums[k] = _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(minimum), minimums[k]);
            }
            let d = _mm512_mul_ps(_mm512_set1_ps(ad), scale);
            for (partial, lane) in partial[k].iter_mut().zip(&lanes[k]) {
                *partial = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(*lane), *partial);
            }
        }
    }
    std::array::from_fn(|k| hsum_8(&partial[k], minimums[k]))
}

/// # Safety
/// As `rows`; `x` has super-blocks; `w` is Q5_K or Q6_K.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tiled<const ROWS: usize>(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    first: usize,
) -> [__m512; ROWS] {
    let (blocks, runs, subs) = (w.cols / SUPER, w.cols / BLOCK, w.format.sub_blocks());
    let a = x.supers();
    let six = w.format == Format::Q6K;
    let chunks_per_sub = 8 * 8 / subs;
    let zero = w.format.zero();
    let mut acc = [_mm512_setzero_ps(); ROWS];
    for b in 0..blocks {
        let sub_at = |sub: usize| ((group * blocks + b) * subs + sub) * LANES;
        let mut total = [_mm512_setzero_si512(); ROWS];
        let mut minimum = [_mm512_setzero_si512(); ROWS];
        for run in 0..8 {
            // SAFETY: the run exists.
            let chunks = unsafe { unpack(w, group * runs + b * 8 + run) };
            for (part, chunks) in chunks.chunks_exact(chunks_per_sub).enumerate() {
                let sub = run * 8 / chunks_per_sub + part;
                // SAFETY: the sub-block's scale (and minimum) lie in the
                // sub-block arrays.
                let (scale, min) = unsafe {
                    (
                        lanes_u8(&w.sub_scales, sub_at(sub), six),
                        (!six).then(|| lanes_u8(&w.sub_mins, sub_at(sub), false)),
                    )
                };
                for k in 0..ROWS {
                    let base = ((first + k) * blocks + b) * SUPER + run * BLOCK;
                    let values = &a.values[base..][..BLOCK];
                    let mut dot = _mm512_setzero_si512();
                    for (c, chunk) in chunks.iter().enumerate() {
                        let at = 4 * (part * chunks_per_sub + c);
                        // SAFETY: `values` has 32 bytes.
                        dot = _mm512_dpbusd_epi32(dot, *chunk, unsafe { four(values, at) });
                    }
                    let width = chunks_per_sub * 4 / 16;
                    let sums = &a.sums[((first + k) * blocks + b) * 16 + sub * width..][..width];
                    let sum = sums.iter().sum::<i32>();
                    let exact = _mm512_sub_epi32(dot, _mm512_set1_epi32(zero * sum));
                    total[k] = _mm512_add_epi32(total[k], _mm512_mullo_epi32(exact, scale));
                    if let Some(min) = min {
                        let sum = _mm512_set1_epi32(sum);
                        minimum[k] = _mm512_add_epi32(minimum[k], _mm512_mullo_epi32(min, sum));
                    }
                }
            }
        }
        let slot = (group * blocks + b) * LANES;
        // SAFETY: `slot + 16` lies in `scales` (and `offsets` for Q5_K).
        let scale = unsafe { lanes_f32(&w.scales, slot) };
        // SAFETY: as above.
        let offset = (!six).then(|| unsafe { lanes_f32(&w.offsets, slot) });
        for k in 0..ROWS {
            let mut result = _mm512_mul_ps(_mm512_cvtepi32_ps(total[k]), scale);
            if let Some(offset) = offset {
                result = _mm512_fnmadd_ps(offset, _mm512_cvtepi32_ps(minimum[k]), result);
            }
            let d = _mm512_set1_ps(a.scales[(first + k) * blocks + b]);
            acc[k] = _mm512_fmadd_ps(result, d, acc[k]);
        }
    }
    acc
}
