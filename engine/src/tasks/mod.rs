//! The tasks Wick ships, one module each.

pub mod sentence_embedding;
