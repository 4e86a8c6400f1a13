//! The tasks Wick ships, one module each, and the pieces they share.

// The packed CPU encoder and its kernels: x86-64 only (AVX-512, AMX).
#[cfg(target_arch = "x86_64")]
mod aligned;
#[cfg(target_arch = "x86_64")]
mod amx;
pub mod bert;
#[cfg(target_arch = "x86_64")]
mod bert_packed;
mod fast_math;
#[cfg(target_arch = "x86_64")]
pub(crate) mod gemm;
pub mod sentence_embedding;

/// Largest absolute difference between two tensors of one shape (tests).
#[cfg(test)]
pub(crate) fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.max_all())
        .and_then(|d| d.to_scalar::<f32>())
        .expect("two f32 tensors of one shape")
}
