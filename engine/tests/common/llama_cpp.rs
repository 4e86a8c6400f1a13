//! What the tests against llama.cpp's fixtures share: the fixtures' rows
//! and the first step's comparison.

// Each test includes this file and uses part of it.
#![allow(dead_code)]

use serde::Deserialize;

/// A text and llama.cpp's token ids for it.
#[derive(Deserialize)]
pub struct Tokenized {
    pub text: String,
    pub ids: Vec<u32>,
}

/// One of llama.cpp's top tokens after the prompt.
#[derive(Deserialize)]
pub struct LogProb {
    pub id: usize,
    pub logprob: f32,
}

/// A greedy chat completion by llama-server.
#[derive(Deserialize)]
pub struct Chat {
    pub messages: serde_json::Value,
    pub max_tokens: usize,
    pub prompt_tokens: u64,
    pub text: String,
    pub finish_reason: String,
}

/// The largest |Δ log p| between the logits' log-softmax and llama.cpp's
/// top tokens.
pub fn worst_logprob_difference(logits: &[f32], top: &[LogProb]) -> f32 {
    let max = logits.iter().cloned().fold(f32::MIN, f32::max);
    let log_total = logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln();
    top.iter()
        .map(|top| (logits[top.id] - max - log_total - top.logprob).abs())
        .fold(0.0, f32::max)
}
