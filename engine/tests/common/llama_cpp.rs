//! What the tests against llama.cpp's fixtures share: the fixtures' rows,
//! the first step's comparison and the greedy chat comparison.

// Each test includes this file and uses part of it.
#![allow(dead_code)]

use serde::Deserialize;
use wick_engine::models::llama::{Cache, Llama};
use wick_engine::task::AnyTask;
use wick_types::{Value, Values};

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

/// The largest |Δ log p| after feeding `prompt` to a fresh stream.
pub fn first_step_difference(llama: &Llama, prompt: &[u32], top: &[LogProb]) -> f32 {
    let mut cache = Cache::new(llama);
    let logits = llama.forward(&mut [(&mut cache, prompt)]).remove(0);
    worst_logprob_difference(&logits, top)
}

/// A greedy request: `key` set to `value` (a string as text, anything else
/// as JSON), at most `max_new_tokens`.
pub fn greedy(key: &str, value: serde_json::Value, max_new_tokens: usize) -> Values {
    let mut inputs = Values::new();
    inputs.insert(
        key.into(),
        match value {
            serde_json::Value::String(text) => Value::Text(text),
            other => Value::Json(other),
        },
    );
    inputs.insert(
        "max_new_tokens".into(),
        Value::Number(max_new_tokens as f64),
    );
    inputs.insert("temperature".into(), Value::Number(0.0));
    inputs
}

/// A count from an output's `usage`.
pub fn usage(outputs: &Values, key: &str) -> u64 {
    match &outputs["usage"] {
        Value::Json(usage) => usage[key].as_u64().unwrap(),
        other => panic!("usage is {other:?}"),
    }
}

/// Each chat's prompt token count, greedy reply (word for word) and
/// finish reason are llama-server's.
pub fn assert_chats_match(task: &dyn AnyTask, chats: Vec<Chat>, what: &str) {
    for chat in chats {
        let outputs = task
            .predict(
                "chat",
                &[greedy("messages", chat.messages.clone(), chat.max_tokens)],
            )
            .unwrap()
            .remove(0);
        let context = format!("{what}: {}", chat.messages);
        assert_eq!(
            usage(&outputs, "prompt_tokens"),
            chat.prompt_tokens,
            "{context}"
        );
        assert_eq!(outputs["text"], Value::Text(chat.text), "{context}");
        assert_eq!(
            outputs["finish_reason"],
            Value::Text(chat.finish_reason),
            "{context}"
        );
    }
}
