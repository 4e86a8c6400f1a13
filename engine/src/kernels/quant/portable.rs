//! The products without SIMD, one output at a time, in the order ggml's
//! x86 kernels sum (which the VNNI kernels repeat lane for lane):
//! - Q4_1, Q5_0, Q5_1, Q8_0 (`ggml_vec_dot_*`): per block, eight integer
//!   sums of four products (the lanes of a 256-bit `vpdpbusd`), each times
//!   the two scales into its own running float sum, the minimum times the
//!   activations' scaled sum into another; at the end the eight sums added
//!   as `hsum_float_8` does, then the minimums;
//! - Q4_0 and Q4_K (repacked by llama.cpp into its 8-row layouts, whose
//!   gemv sums per block): one integer per block (Q4_K: the sub-blocks'
//!   sums times their scales) times the scales into one running sum;
//!   Q4_K's minimums into a second, subtracted at the end. Activation rows
//!   in whole groups of 4 go through its gemm instead, which adds Q4_K's
//!   integers to the float sums per pair of sub-blocks;
//! - Q5_K and Q6_K, fewer than 8 activation rows (`ggml_vec_dot_*_q8_K`):
//!   eight running sums as above, lane k summing inputs 4k..4k+4 of every
//!   run of 32 across the super-block; Q5_K's minimums into a scalar sum,
//!   Q6_K's offset of 32 taken per lane from the sums of 16 activations
//!   (lane k: run k's);
//! - Q5_K and Q6_K, 8 rows or more (ggml's tiled K-quant matmul, which
//!   takes over from 8 rows): one exact integer per super-block, times
//!   the weights' scale (Q5_K: minus the minimums' integer times theirs,
//!   fused), times the activations' scale into a running sum (fused: GCC
//!   contracts the kernel's `_mm512_add_ps(acc, _mm512_mul_ps(..))`).

use super::activations::{BLOCK, Quantized};
use super::format::{Format, SUPER};
use super::{LANES, QMatrix, TILE};

pub(super) fn group_product(
    x: &Quantized,
    w: &QMatrix,
    group: usize,
    tile: usize,
    count: usize,
    sums: &mut [[f32; LANES]; TILE],
) {
    let mut order = Order::of(w.format, x.rows());
    // llama.cpp's gemm takes the rows in whole groups of 4 (tiles are).
    if order == Order::Q4K && count == TILE {
        order = Order::Q4KPairs;
    }
    for (r, lanes) in sums.iter_mut().take(count).enumerate() {
        for (lane, sum) in lanes.iter_mut().enumerate() {
            let row = tile + r;
            *sum = match order {
                Order::PerBlock => per_block(x, w, row, group, lane),
                Order::EightPartials => eight_partials(x, w, row, group, lane),
                Order::Q4K => q4k(x, w, row, group, lane, 8),
                Order::Q4KPairs => q4k(x, w, row, group, lane, 2),
                Order::KPartials => k_partials(x, w, row, group, lane),
                Order::Tiled => tiled(x, w, row, group, lane),
            };
        }
    }
}

/// Which of ggml's kernels a product repeats.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    /// Q4_0 (repacked by llama.cpp).
    PerBlock,
    /// Q4_1, Q5_0, Q5_1, Q8_0.
    EightPartials,
    /// Q4_K (repacked by llama.cpp), rows outside whole groups of 4.
    Q4K,
    /// Q4_K, rows in whole groups of 4.
    Q4KPairs,
    /// Q5_K and Q6_K below 8 rows.
    KPartials,
    /// Q5_K and Q6_K from 8 rows.
    Tiled,
}

impl Order {
    pub(super) fn of(format: Format, rows: usize) -> Order {
        match format {
            Format::Q4_0 => Order::PerBlock,
            Format::Q4_1 | Format::Q5_0 | Format::Q5_1 | Format::Q8_0 => Order::EightPartials,
            Format::Q4K => Order::Q4K,
            Format::Q5K | Format::Q6K if rows >= 8 => Order::Tiled,
            Format::Q5K | Format::Q6K => Order::KPartials,
        }
    }
}

/// Lane `lane`'s stored weights times the activations over inputs
/// 4c..4c+4 of run `run` (counted over groups); `values` are the run's 32
/// activations.
fn quad_dot(w: &QMatrix, run: usize, lane: usize, values: &[i8], c: usize) -> i32 {
    (4 * c..4 * c + 4)
        .map(|i| w.value(run, lane, i) as i32 * values[i] as i32)
        .sum()
}

/// ggml's `hsum_float_8`: the upper four lanes onto the lower, then pairs.
#[inline(always)]
pub(super) fn hsum_float_8(p: &[f32; 8]) -> f32 {
    ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]))
}

fn per_block(x: &Quantized, w: &QMatrix, row: usize, group: usize, lane: usize) -> f32 {
    let runs = w.cols / BLOCK;
    let a = x.blocks();
    let mut acc = 0.0f32;
    for run in 0..runs {
        let a_block = row * runs + run;
        let values = &a.values[a_block * BLOCK..][..BLOCK];
        let dot: i32 = (0..8)
            .map(|c| quad_dot(w, group * runs + run, lane, values, c))
            .sum();
        let exact = dot - w.format.zero() * a.sums[a_block];
        let scale = w.scales[(group * runs + run) * LANES + lane].to_f32() * a.scales[a_block];
        acc = (exact as f32).mul_add(scale, acc);
    }
    acc
}

fn eight_partials(x: &Quantized, w: &QMatrix, row: usize, group: usize, lane: usize) -> f32 {
    let runs = w.cols / BLOCK;
    let a = x.blocks();
    let mut partial = [0.0f32; 8];
    let mut minimums = 0.0f32;
    for run in 0..runs {
        let a_block = row * runs + run;
        let slot = (group * runs + run) * LANES + lane;
        if w.format.has_offsets() {
            minimums = w.offsets[slot]
                .to_f32()
                .mul_add(a.totals[a_block], minimums);
        }
        let scale = w.scales[slot].to_f32() * a.scales[a_block];
        let values = &a.values[a_block * BLOCK..][..BLOCK];
        for (c, partial) in partial.iter_mut().enumerate() {
            let dot = quad_dot(w, group * runs + run, lane, values, c)
                - w.format.zero() * a.quads[a_block * 8 + c];
            *partial = scale.mul_add(dot as f32, *partial);
        }
    }
    hsum_float_8(&partial) + minimums
}

/// Q4_K, the integers added to the float sums every `step` sub-blocks.
fn q4k(x: &Quantized, w: &QMatrix, row: usize, group: usize, lane: usize, step: usize) -> f32 {
    let (blocks, runs) = (w.cols / SUPER, w.cols / BLOCK);
    let a = x.supers();
    let (mut acc, mut acc_min) = (0.0f32, 0.0f32);
    for b in 0..blocks {
        let slot = (group * blocks + b) * LANES + lane;
        let d = a.scales[row * blocks + b];
        let (mut total, mut minimum) = (0i32, 0i32);
        for sub in 0..8 {
            let at = ((group * blocks + b) * 8 + sub) * LANES + lane;
            let values = &a.values[(row * blocks + b) * SUPER + sub * BLOCK..][..BLOCK];
            let run = group * runs + b * 8 + sub;
            let dot: i32 = (0..8).map(|c| quad_dot(w, run, lane, values, c)).sum();
            total += w.sub_scales[at] as i32 * dot;
            let sum = a.sums[(row * blocks + b) * 16 + 2 * sub]
                + a.sums[(row * blocks + b) * 16 + 2 * sub + 1];
            minimum += w.sub_mins[at] as i32 * sum;
            if (sub + 1) % step == 0 {
                acc = (total as f32).mul_add(w.scales[slot].to_f32() * d, acc);
                acc_min = (minimum as f32).mul_add(w.offsets[slot].to_f32() * d, acc_min);
                (total, minimum) = (0, 0);
            }
        }
    }
    acc - acc_min
}

fn k_partials(x: &Quantized, w: &QMatrix, row: usize, group: usize, lane: usize) -> f32 {
    let (blocks, runs, subs) = (w.cols / SUPER, w.cols / BLOCK, w.format.sub_blocks());
    let a = x.supers();
    let mut partial = [0.0f32; 8];
    let mut minimums = 0.0f32;
    for b in 0..blocks {
        let slot = (group * blocks + b) * LANES + lane;
        let sub_at = |sub: usize| ((group * blocks + b) * subs + sub) * LANES + lane;
        let sums = &a.sums[(row * blocks + b) * 16..][..16];
        let mut lanes = [0i32; 8];
        for (run_in, run_values) in a.values[(row * blocks + b) * SUPER..][..SUPER]
            .chunks_exact(BLOCK)
            .enumerate()
        {
            let run = group * runs + b * 8 + run_in;
            for (c, lane_sum) in lanes.iter_mut().enumerate() {
                let dot = quad_dot(w, run, lane, run_values, c);
                let scale = match w.format {
                    Format::Q6K => w.sub_scales[sub_at(2 * run_in + c / 4)] as i8 as i32,
                    _ => w.sub_scales[sub_at(run_in)] as i32,
                };
                *lane_sum += scale * dot;
            }
        }
        let d = a.scales[row * blocks + b] * w.scales[slot].to_f32();
        if w.format == Format::Q6K {
            for (c, lane_sum) in lanes.iter_mut().enumerate() {
                let scales = [2 * c, 2 * c + 1].map(|s| w.sub_scales[sub_at(s)] as i8 as i32);
                *lane_sum -= 32 * (scales[0] * sums[2 * c] + scales[1] * sums[2 * c + 1]);
            }
        } else {
            let minimum: i32 = (0..8)
                .map(|sub| w.sub_mins[sub_at(sub)] as i32 * (sums[2 * sub] + sums[2 * sub + 1]))
                .sum();
            let dmin = -a.scales[row * blocks + b] * w.offsets[slot].to_f32();
            minimums = dmin.mul_add(minimum as f32, minimums);
        }
        for (partial, &sum) in partial.iter_mut().zip(&lanes) {
            *partial = d.mul_add(sum as f32, *partial);
        }
    }
    hsum_float_8(&partial) + minimums
}

fn tiled(x: &Quantized, w: &QMatrix, row: usize, group: usize, lane: usize) -> f32 {
    let (blocks, runs, subs) = (w.cols / SUPER, w.cols / BLOCK, w.format.sub_blocks());
    let a = x.supers();
    let width = SUPER / subs;
    let six = w.format == Format::Q6K;
    let mut acc = 0.0f32;
    for b in 0..blocks {
        let slot = (group * blocks + b) * LANES + lane;
        let sums = &a.sums[(row * blocks + b) * 16..][..16];
        let values = &a.values[(row * blocks + b) * SUPER..][..SUPER];
        let (mut total, mut minimum) = (0i32, 0i32);
        for sub in 0..subs {
            let at = ((group * blocks + b) * subs + sub) * LANES + lane;
            let sum: i32 = sums[sub * width / 16..][..width / 16].iter().sum();
            let dot: i32 = (sub * width / 4..(sub + 1) * width / 4)
                .map(|quad| {
                    let run = group * runs + b * 8 + quad / 8;
                    quad_dot(w, run, lane, &values[quad / 8 * BLOCK..][..BLOCK], quad % 8)
                })
                .sum();
            let scale = match six {
                true => w.sub_scales[at] as i8 as i32,
                false => w.sub_scales[at] as i32,
            };
            total += scale * (dot - w.format.zero() * sum);
            if !six {
                minimum += w.sub_mins[at] as i32 * sum;
            }
        }
        let mut result = total as f32 * w.scales[slot].to_f32();
        if !six {
            result = (-w.offsets[slot].to_f32()).mul_add(minimum as f32, result);
        }
        acc = result.mul_add(a.scales[row * blocks + b], acc);
    }
    acc
}
