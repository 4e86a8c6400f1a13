//! CPU kernels with no model knowledge: packed matrix products (AVX-512,
//! and AMX tiles where the CPU has them), vectorized element-wise math,
//! and the aligned buffers they work in. Models call them; they call no
//! model.
//!
//! Every `unsafe fn` here states its contract under "Safety", and every
//! `unsafe` block says why its contract holds (`// SAFETY:`).

/// Defines `fn $name`, compiled three times — for AVX-512, for AVX2 + FMA
/// and for the baseline — running the widest build this CPU has.
macro_rules! widest {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                /// # Safety
                /// The CPU has AVX-512F, AVX2 and FMA.
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) $body
                /// # Safety
                /// The CPU has AVX2 and FMA.
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $body
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the features `avx512` was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has the features `avx2` was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body
        }
    };
}

use rayon::prelude::*;

// The packed kernels: x86-64 only (AVX-512, AMX).
#[cfg(target_arch = "x86_64")]
mod aligned;
#[cfg(target_arch = "x86_64")]
mod amx;
pub mod attention;
pub mod depthwise;
pub mod f16_product;
pub mod fast_math;
#[cfg(target_arch = "x86_64")]
pub mod gemm;
pub mod ggml;
pub mod quant;

/// Output rows per lane group of the row-packed kernels (`quant`,
/// `f16_product`): one per lane of a 512-bit vector.
pub(crate) const LANES: usize = 16;
/// Activation rows that share one load of a group's weights.
pub(crate) const TILE: usize = 4;

/// x · wᵀ for a matrix packed by groups of 16 output rows: `(rows ×
/// columns)`, over rayon's pool, each task a run of groups. `product`
/// computes one group for activation rows `tile..tile + count` (count ≤
/// TILE) into `sums[r][lane]`; the last group's lanes past `columns` are
/// padding and dropped.
pub(crate) fn by_row_groups(
    rows: usize,
    columns: usize,
    product: impl Fn(usize, usize, usize, &mut [[f32; LANES]; TILE]) + Sync,
) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * columns];
    let groups = columns.div_ceil(LANES);
    let tasks = (rayon::current_num_threads() * 2).min(groups).max(1);
    let per_task = groups.div_ceil(tasks);
    let out_ptr = SharedOut(out.as_mut_ptr());
    (0..groups.div_ceil(per_task))
        .into_par_iter()
        .for_each(|task| {
            let out_ptr = &out_ptr;
            for group in task * per_task..((task + 1) * per_task).min(groups) {
                let lanes = LANES.min(columns - group * LANES);
                for tile in (0..rows).step_by(TILE) {
                    let count = (rows - tile).min(TILE);
                    let mut sums = [[0.0f32; LANES]; TILE];
                    product(group, tile, count, &mut sums);
                    for (r, sums) in sums.iter().take(count).enumerate() {
                        let at = (tile + r) * columns + group * LANES;
                        // SAFETY: `at..at + lanes` lies inside `out` (row
                        // tile + r < rows, group * 16 + lanes ≤ columns),
                        // and each group is written by exactly one task.
                        unsafe {
                            std::ptr::copy_nonoverlapping(sums.as_ptr(), out_ptr.0.add(at), lanes)
                        };
                    }
                }
            }
        });
    out
}

/// The output buffer, written by several tasks at disjoint places.
struct SharedOut(*mut f32);
// SAFETY: tasks write disjoint runs (one group each) and the buffer
// outlives the parallel loop.
unsafe impl Sync for SharedOut {}

/// Deterministic pseudo-random values in [low, high) for the kernels'
/// tests (xorshift).
#[cfg(test)]
pub(crate) fn test_values(len: usize, seed: u32, (low, high): (f32, f32)) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            low + (high - low) * (state % 2001) as f32 / 2000.0
        })
        .collect()
}
