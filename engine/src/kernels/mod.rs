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

// The packed kernels: x86-64 only (AVX-512, AMX).
#[cfg(target_arch = "x86_64")]
mod aligned;
#[cfg(target_arch = "x86_64")]
mod amx;
pub mod attention;
pub mod depthwise;
pub mod fast_math;
#[cfg(target_arch = "x86_64")]
pub mod gemm;
pub mod quant;

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
