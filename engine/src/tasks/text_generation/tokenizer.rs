//! A Hugging Face `tokenizer.json` built from a GGUF's own vocabulary,
//! merges and pre-tokenizer name, for GGUFs that ship without one: the
//! byte-level BPE of `gpt2`-model GGUFs (Llama 3, Qwen, SmolLM) and the
//! SentencePiece BPE of `llama`-model ones (Llama 2, Mistral, Phi-3, Gemma).
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
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// Qwen2's (and Qwen3's) split as llama.cpp writes it (the
/// tokenizer.json's, case-insensitive contractions spelled out): digits
/// one by one.
const QWEN2_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Llama 3's split as llama.cpp writes it: digits in runs of up to three.
const LLAMA3_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.json` text for a GGUF's tokenizer.
pub fn tokenizer_json(gguf: &Gguf) -> Result<String, String> {
    let tokenizer = match gguf.string("tokenizer.ggml.model")? {
        "gpt2" => byte_level_bpe(gguf)?,
        "llama" => sentencepiece(gguf)?,
        other => {
            return Err(format!(
                "the GGUF's tokenizer is `{other}`; Wick builds byte-level BPE (`gpt2`) and \
                 SentencePiece (`llama`) tokenizers — put a tokenizer.json beside the GGUF"
            ));
        }
    };
    let text = tokenizer.to_string();
    // What we write must load.
    tokenizers::Tokenizer::from_bytes(text.as_bytes())
        .map_err(|e| format!("the tokenizer built from the GGUF does not load: {e}"))?;
    Ok(text)
}

/// The token a prompt starts with, where the GGUF asks for one: its
/// `add_bos_token`, else llama.cpp's default for the tokenizer
/// (SentencePiece and Llama 3's BPE add one, other BPEs do not).
pub fn prompt_bos(gguf: &Gguf) -> Option<u32> {
    let adds = gguf
        .bool("tokenizer.ggml.add_bos_token")
        .unwrap_or_else(|_| match gguf.string("tokenizer.ggml.model") {
            Ok("llama") => true,
            Ok("gpt2") => matches!(
                gguf.string("tokenizer.ggml.pre"),
                Ok("llama3" | "llama-v3" | "llama-bpe")
            ),
            _ => false,
        });
    adds.then(|| gguf.u32("tokenizer.ggml.bos_token_id").ok())
        .flatten()
}

/// A prompt's tokens as llama.cpp reads them: special tokens written in
/// the text (`<|im_start|>`) are tokens, and `bos` comes first once
/// (llama.cpp strips the one a chat template prints and adds it when
/// tokenizing).
pub fn prompt_tokens(
    tokenizer: &tokenizers::Tokenizer,
    bos: Option<u32>,
    text: &str,
) -> Result<Vec<u32>, String> {
    let mut ids = tokenizer
        .encode(text, false)
        .map(|encoding| encoding.get_ids().to_vec())
        .map_err(|e| format!("tokenizing failed: {e}"))?;
    if let Some(bos) = bos
        && ids.first() != Some(&bos)
    {
        ids.insert(0, bos);
    }
    Ok(ids)
}

/// Every token of the given types as an added token, matched in the raw
/// text before anything else (special when of type "control").
fn added_tokens(tokens: &[&str], types: &[i32], kinds: &[i32]) -> Vec<Value> {
    tokens
        .iter()
        .zip(types)
        .enumerate()
        .filter(|(_, (_, kind))| kinds.contains(kind))
        .map(|(id, (token, kind))| {
            json!({
                "id": id,
                "content": token,
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": *kind != USER_DEFINED,
            })
        })
        .collect()
}

fn vocab(tokens: &[&str]) -> serde_json::Map<String, Value> {
    tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.to_string(), json!(id)))
        .collect()
}

/// llama.cpp's SPM tokenizer as a BPE model: llama.cpp merges, again and
/// again, the adjacent pair whose joined text is the highest-scoring
/// token (leftmost among equals), falling back to `<0xXX>` byte tokens;
/// BPE with one merge per way of splitting each token in two, ranked by
/// the token's score, does the same. Spaces are `▁`, and one is put
/// before the text (and after each special token) unless the GGUF says
/// `add_space_prefix = false` (Gemma).
fn sentencepiece(gguf: &Gguf) -> Result<Value, String> {
    let tokens = gguf.strings("tokenizer.ggml.tokens")?;
    let types = gguf.i32s("tokenizer.ggml.token_type")?;
    let scores = gguf.f32s("tokenizer.ggml.scores")?;
    if types.len() != tokens.len() || scores.len() != tokens.len() {
        return Err("the GGUF's tokens, token types and scores differ in number".into());
    }
    let ids: std::collections::HashMap<&str, usize> =
        tokens.iter().enumerate().map(|(id, &t)| (t, id)).collect();
    let mut merges: Vec<(f32, usize, &str, &str)> = Vec::new();
    for (id, &token) in tokens.iter().enumerate() {
        if types[id] != NORMAL {
            continue;
        }
        for (split, _) in token.char_indices().skip(1) {
            let (left, right) = token.split_at(split);
            if ids.contains_key(left) && ids.contains_key(right) {
                merges.push((scores[id], id, left, right));
            }
        }
    }
    // Highest score first; a stable sort keeps each token's splits together.
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let merges: Vec<[&str; 2]> = merges.iter().map(|&(_, _, l, r)| [l, r]).collect();
    let unknown = gguf
        .u32("tokenizer.ggml.unknown_token_id")
        .ok()
        .and_then(|id| tokens.get(id as usize))
        .copied();
    let space_prefix = gguf.bool("tokenizer.ggml.add_space_prefix").unwrap_or(true);
    let replace_spaces =
        json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"});
    let (normalizer, decoders) = match space_prefix {
        true => (
            json!({"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "\u{2581}"}, replace_spaces]}),
            vec![json!({"type": "Strip", "content": " ", "start": 1, "stop": 0})],
        ),
        false => (replace_spaces, vec![]),
    };
    let mut decoders_in_order = vec![
        json!({"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    decoders_in_order.extend(decoders);
    let decoder = json!({"type": "Sequence", "decoders": decoders_in_order});
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens(&tokens, &types, &[UNKNOWN, CONTROL, USER_DEFINED]),
        "normalizer": normalizer,
        "pre_tokenizer": null,
        "post_processor": null,
        "decoder": decoder,
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": unknown,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": true,
            "byte_fallback": true,
            "ignore_merges": false,
            "vocab": vocab(&tokens),
            "merges": merges,
        },
    }))
}

/// GPT-2's byte-level BPE with the GGUF's merges and the pre-tokenizer
/// its `tokenizer.ggml.pre` names.
fn byte_level_bpe(gguf: &Gguf) -> Result<Value, String> {
    let pre = gguf.string("tokenizer.ggml.pre").unwrap_or("default");
    let tokens = gguf.strings("tokenizer.ggml.tokens")?;
    let types = gguf.i32s("tokenizer.ggml.token_type")?;
    let merges = gguf.strings("tokenizer.ggml.merges")?;
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
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens(&tokens, &types, &[CONTROL, USER_DEFINED]),
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
            "vocab": vocab(&tokens),
            "merges": merges,
        },
    }))
}
