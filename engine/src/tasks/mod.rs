//! The tasks Wick ships, one module each, and the pieces they share.

pub mod bert;
mod fast_math;
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
