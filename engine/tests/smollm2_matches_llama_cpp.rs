//! The real SmolLM2-135M-Instruct Q4_1 (examples/smollm2, fetched by
//! scripts/fetch-examples; its tokenizer.json built by `wick bundle`)
//! against llama.cpp on the same GGUF (bench/llama_cpp_reference.py wrote
//! tests/fixtures/smollm2-llama-cpp.json from llama-server):
//! - the built tokenizer gives llama.cpp's ids (digits, Unicode,
//!   whitespace runs, special tokens);
//! - greedy decoding of the plain ChatML prompt gives MODELS.md's ids;
//! - the first step's log-probabilities are llama.cpp's within 1e-4: Wick
//!   repeats llama.cpp's arithmetic operation for operation
//!   (`kernels::ggml`), so its hidden states are llama.cpp's bit for bit;
//!   only the output product sums in another order (logits ≤ 1.3e-5 apart);
//!   any other order is not enough — candle-transformers' quantized_llama
//!   is 0.24 off, a float64 NumPy pass over the dequantized weights
//!   (bench/smollm2_numpy_reference.py) 0.22;
//! - chat through the GGUF's template has llama.cpp's prompt token count
//!   and greedy reply, word for word.

#[path = "common/llama_cpp.rs"]
mod llama_cpp;

use std::path::PathBuf;

use llama_cpp::{
    Chat, LogProb, Tokenized, assert_chats_match, first_step_difference, greedy, usage,
};
use serde::Deserialize;
use wick_engine::Bundle;
use wick_engine::models::llama::{Gguf, Llama};
use wick_engine::task::AnyTask;
use wick_engine::tasks::text_generation::KIND;
use wick_types::Value;

#[derive(Deserialize)]
struct Reference {
    tokenize: Vec<Tokenized>,
    reference_prompt: Vec<u32>,
    first_step_top_logprobs: Vec<LogProb>,
    chat: Vec<Chat>,
}

fn reference() -> Reference {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2-llama-cpp.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn smollm2() -> Bundle {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/smollm2");
    Bundle::open(&dir).unwrap_or_else(|e| panic!("{e}\n(run scripts/fetch-examples first)"))
}

fn task() -> std::sync::Arc<dyn AnyTask> {
    (KIND.load)(&smollm2(), &candle_core::Device::Cpu).unwrap()
}

#[test]
fn the_built_tokenizer_matches_llama_cpp() {
    let bundle = smollm2();
    let tokenizer = tokenizers::Tokenizer::from_file(bundle.dir.join("tokenizer.json")).unwrap();
    for row in reference().tokenize {
        let ids = tokenizer
            .encode(row.text.as_str(), false)
            .unwrap()
            .get_ids()
            .to_vec();
        assert_eq!(ids, row.ids, "{:?}", row.text);
        let back = tokenizer.decode(&ids, false).unwrap();
        assert_eq!(back, row.text);
    }
}

#[test]
fn the_tokenizer_is_rebuilt_byte_for_byte_from_the_gguf() {
    let bundle = smollm2();
    let gguf = Gguf::open(&bundle.dir.join("model.gguf")).unwrap();
    let built = wick_engine::tasks::text_generation::tokenizer::tokenizer_json(&gguf).unwrap();
    let shipped = std::fs::read_to_string(bundle.dir.join("tokenizer.json")).unwrap();
    assert!(
        built == shipped,
        "examples/smollm2/tokenizer.json is not what `wick bundle` builds"
    );
}

#[test]
fn greedy_decoding_of_the_reference_prompt_gives_the_reference_tokens() {
    let reference = reference();
    let task = task();
    let prompt =
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    let outputs = task
        .predict("complete", &[greedy("prompt", prompt.into(), 32)])
        .unwrap()
        .remove(0);
    assert_eq!(
        outputs["text"],
        Value::Text("The capital of France is Paris.".into())
    );
    assert_eq!(outputs["finish_reason"], Value::Text("stop".into()));
    assert_eq!(
        usage(&outputs, "prompt_tokens"),
        reference.reference_prompt.len() as u64
    );
    // [504, 3575, 282, 4649, 314, 7042, 30], then <|im_end|> (not counted).
    assert_eq!(usage(&outputs, "completion_tokens"), 7);
}

#[test]
fn the_first_steps_log_probabilities_match_llama_cpp() {
    let reference = reference();
    let llama = Llama::load(&smollm2().dir.join("model.gguf"), 2048).unwrap();
    let worst = first_step_difference(
        &llama,
        &reference.reference_prompt,
        &reference.first_step_top_logprobs,
    );
    eprintln!("first step, top 10 tokens: worst |Δ log p| against llama.cpp = {worst:.2e}");
    assert!(worst < 1e-4, "{worst}");
}

/// The same prompt tokens (template and tokenizer) and the same greedy
/// reply, word for word, with the same finish reason.
#[test]
fn chat_matches_llama_cpps_chat_completion() {
    assert_chats_match(task().as_ref(), reference().chat, "smollm2");
}

/// `[settings] kv_cache_mb` below one stream's cache at full context
/// (SmolLM2: 22.5 KiB a position, 45 MiB for 2048) is refused at load,
/// with the figures to fix it.
#[test]
fn a_kv_budget_that_holds_no_stream_is_refused_at_load() {
    let example = smollm2().dir;
    let dir = tempfile::tempdir().unwrap();
    for file in ["model.gguf", "tokenizer.json"] {
        std::fs::copy(example.join(file), dir.path().join(file)).unwrap();
    }
    let manifest = std::fs::read_to_string(example.join("wick.toml")).unwrap();
    let manifest = manifest.replace("[settings]\n", "[settings]\nkv_cache_mb = 40\n");
    std::fs::write(dir.path().join("wick.toml"), manifest).unwrap();
    let bundle = Bundle::open(dir.path()).unwrap();
    let Err(error) = (KIND.load)(&bundle, &candle_core::Device::Cpu) else {
        panic!("a 40 MiB budget loaded");
    };
    let message = error.to_string();
    assert!(
        message.contains("kv_cache_mb = 40") && message.contains("45 MiB"),
        "{message}"
    );
}
