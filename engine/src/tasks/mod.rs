//! The tasks Wick ships, one module each, and the pieces they share.

pub mod bert;
mod fast_math;
pub mod sentence_embedding;
