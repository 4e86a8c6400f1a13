//! A Hugging Face `tokenizer.json` built from a GGUF's own vocabulary,
//! merges and pre-tokenizer name, for GGUFs that ship without one.
//!
//! Candle's GGUF tokenizer treats every `gpt2`-model GGUF as plain GPT-2;
//! models whose pre-tokenizer splits digits (`smollm`, StarCoder's
//! lineage) then tokenize numbers differently from llama.cpp. Here the
//! GGUF's `tokenizer.ggml.pre` picks the pre-tokenizers, and every token
//! of type "control" (3) or "user defined" (4) becomes an added special
//! token, so `<|im_start|>` in a prompt is one token as in llama.cpp.

use serde_json::{Value, json};

use crate::models::llama::Gguf;

/// GGUF token types (llama.cpp's `llama_token_type`).
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// Qwen2's (and Qwen3's) split as llama.cpp writes it (the
/// tokenizer.json's, case-insensitive contractions spelled out): digits
/// one by one.
const QWEN2_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Llama 3's split as llama.cpp writes it: digits in runs of up to three.
const LLAMA3_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.json` text for a byte-level BPE GGUF.
pub fn tokenizer_json(gguf: &Gguf) -> Result<String, String> {
    let model = gguf.string("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(format!(
            "the GGUF's tokenizer is `{model}`; Wick builds byte-level BPE (`gpt2`) tokenizers — \
             put a tokenizer.json beside the GGUF"
        ));
    }
    let pre = gguf.string("tokenizer.ggml.pre").unwrap_or("default");
    let tokens = gguf.strings("tokenizer.ggml.tokens")?;
    let types = gguf.i32s("tokenizer.ggml.token_type")?;
    let merges = gguf.strings("tokenizer.ggml.merges")?;
    let vocab: serde_json::Map<String, Value> = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.to_string(), json!(id)))
        .collect();
    let added: Vec<Value> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        .filter(|(_, (_, kind))| matches!(**kind, CONTROL | USER_DEFINED))
        .map(|(id, (token, kind))| {
            json!({
                "id": id,
                "content": token,
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": *kind == CONTROL,
            })
        })
        .collect();
    let byte_level = json!({
        "type": "ByteLevel",
        "add_prefix_space": false,
        "trim_offsets": true,
        "use_regex": true,
    });
    let pre_tokenizer = match pre {
        // Every digit on its own, then GPT-2's split (llama.cpp's
        // LLAMA_VOCAB_PRE_TYPE_SMOLLM / STARCODER / REFACT).
        "smollm" | "starcoder" | "refact" => json!({
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level],
        }),
        "gpt-2" | "gpt2" | "default" => byte_level.clone(),
        // A regex split, then bytes to symbols without GPT-2's own split
        // (llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2 and _LLAMA3).
        "qwen2" | "llama-bpe" | "llama3" => json!({
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": if pre == "qwen2" { QWEN2_SPLIT } else { LLAMA3_SPLIT }},
                    "behavior": "Isolated",
                    "invert": false,
                },
                {
                    "type": "ByteLevel",
                    "add_prefix_space": false,
                    "trim_offsets": false,
                    "use_regex": false,
                },
            ],
        }),
        other => {
            return Err(format!(
                "the GGUF's pre-tokenizer `{other}` is not one Wick knows (smollm, starcoder, \
                 refact, gpt-2, qwen2, llama-bpe); put a tokenizer.json beside the GGUF"
            ));
        }
    };
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": merges,
        },
    });
    let text = tokenizer.to_string();
    // What we write must load.
    tokenizers::Tokenizer::from_bytes(text.as_bytes())
        .map_err(|e| format!("the tokenizer built from the GGUF does not load: {e}"))?;
    Ok(text)
}
