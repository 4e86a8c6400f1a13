//! Small random-weight decoders of each architecture Wick runs besides
//! plain `llama`, against llama.cpp on the same files
//! (bench/llama_cpp_random_reference.py wrote
//! tests/fixtures/random-NAME-llama-cpp.json from llama-server): the test
//! writes each GGUF from a fixed seed (the K-quant mix of a Q4_K_M file:
//! Q4_K, Q6_K for `attn_v`, `ffn_down` and the tied embedding; llama.cpp's
//! own quantizers) into cargo's test scratch folder and checks it is the
//! file llama.cpp ran (sha256); then the tokenizer Wick builds from it
//! must split text as llama.cpp does, the first step's log-probabilities
//! must be llama.cpp's within 1e-4 and 32 greedy tokens llama.cpp's, one
//! by one. The reference prompt (16 tokens) and the 32 steps pass the
//! 8-position windows of the Gemma models several times over.
//!
//! - qwen2: biases on q, k and v; NeoX rope; Qwen's pre-tokenizer over
//!   SmolLM2's vocabulary;
//! - qwen3: an RMS norm over each head of q and of k; heads wider than
//!   hidden / heads (q is 512 wide for a hidden size of 256);
//! - llama3: Llama 3.1's per-frequency rope factors (`rope_freqs`), Llama
//!   3's pre-tokenizer;
//! - phi3: q, k and v in one matrix, gate and up in another, q scaled
//!   before attention; Phi-3's short rope factors and attention factor;
//!   Phi-3's SentencePiece vocabulary (tests/from-llama-cpp, fetched);
//! - gemma2: embeddings × √hidden, norms after attention and FFN, GELU,
//!   soft-capped scores and logits, layer 0 attending to a window of 8;
//!   Llama 2's SentencePiece vocabulary without the space prefix, as
//!   Gemma's;
//! - gemma3: head norms, window layers with their own rope base, global
//!   ones with linear rope scaling (× 1/8), the pattern as a flag per
//!   layer.

#[path = "../common/ggml_quantize.rs"]
mod ggml_quantize;
#[path = "../common/llama_cpp.rs"]
mod llama_cpp;

use std::path::PathBuf;

use candle_core::Device;
use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use llama_cpp::{LogProb, Tokenized, worst_logprob_difference};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wick_engine::models::llama::{Cache, Gguf, Llama};

#[derive(Deserialize)]
struct Reference {
    gguf_sha256: String,
    tokenize: Vec<Tokenized>,
    prompt: Vec<u32>,
    first_step_top_logprobs: Vec<LogProb>,
    greedy: Vec<u32>,
    /// Each greedy step's top 10.
    greedy_top_logprobs: Vec<Vec<LogProb>>,
}

/// Where the test model's tokenizer comes from.
enum Vocabulary {
    /// SmolLM2's byte-level BPE under another pre-tokenizer's name:
    /// llama.cpp splits text by the name alone, so its tokenization
    /// checks Wick's split.
    SmolLm2 { pre: &'static str },
    /// A vocabulary-only GGUF of tests/from-llama-cpp, with metadata overridden.
    File {
        name: &'static str,
        overrides: &'static [(&'static str, Meta)],
    },
}

/// A metadata value (the key without the architecture's prefix).
#[derive(Clone, Copy)]
enum Meta {
    U32(u32),
    F32(f32),
    Str(&'static str),
    Bool(bool),
    Flags(&'static [bool]),
}

impl Meta {
    fn value(self) -> gguf_file::Value {
        match self {
            Meta::U32(n) => gguf_file::Value::U32(n),
            Meta::F32(v) => gguf_file::Value::F32(v),
            Meta::Str(s) => gguf_file::Value::String(s.into()),
            Meta::Bool(b) => gguf_file::Value::Bool(b),
            Meta::Flags(flags) => {
                gguf_file::Value::Array(flags.iter().map(|&b| gguf_file::Value::Bool(b)).collect())
            }
        }
    }
}

/// A decoder's shape, small enough to write in a moment.
struct Shape {
    /// The fixture's name.
    name: &'static str,
    architecture: &'static str,
    layers: usize,
    hidden: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    ffn: usize,
    vocabulary: Vocabulary,
    /// Further `{architecture}.*` metadata.
    metadata: &'static [(&'static str, Meta)],
}

const QWEN2: Shape = Shape {
    name: "qwen2",
    architecture: "qwen2",
    layers: 2,
    hidden: 256,
    heads: 4,
    kv_heads: 2,
    head_dim: 64,
    ffn: 768,
    vocabulary: Vocabulary::SmolLm2 { pre: "qwen2" },
    metadata: &[],
};

const QWEN3: Shape = Shape {
    name: "qwen3",
    architecture: "qwen3",
    head_dim: 128,
    ..QWEN2
};

const LLAMA3: Shape = Shape {
    name: "llama3",
    architecture: "llama",
    vocabulary: Vocabulary::SmolLm2 { pre: "llama-bpe" },
    metadata: &[("rope.freq_base", Meta::F32(500_000.0))],
    ..QWEN2
};

const PHI3: Shape = Shape {
    name: "phi3",
    architecture: "phi3",
    kv_heads: 4,
    vocabulary: Vocabulary::File {
        name: "phi-3.gguf",
        overrides: &[],
    },
    metadata: &[
        ("rope.scaling.original_context_length", Meta::U32(2048)),
        ("rope.scaling.attn_factor", Meta::F32(1.1902381)),
        ("rope.scaling.type", Meta::Str("longrope")),
    ],
    ..QWEN2
};

/// Gemma's tokenizer is SentencePiece without the space prefix.
const GEMMA_VOCABULARY: Vocabulary = Vocabulary::File {
    name: "llama-spm.gguf",
    overrides: &[("tokenizer.ggml.add_space_prefix", Meta::Bool(false))],
};

const GEMMA2: Shape = Shape {
    name: "gemma2",
    architecture: "gemma2",
    head_dim: 128,
    vocabulary: GEMMA_VOCABULARY,
    metadata: &[
        ("attention.sliding_window", Meta::U32(8)),
        ("attn_logit_softcapping", Meta::F32(10.0)),
        ("final_logit_softcapping", Meta::F32(10.0)),
    ],
    ..QWEN2
};

const GEMMA3: Shape = Shape {
    name: "gemma3",
    architecture: "gemma3",
    head_dim: 128,
    vocabulary: GEMMA_VOCABULARY,
    metadata: &[
        ("attention.sliding_window", Meta::U32(8)),
        (
            "attention.sliding_window_pattern",
            Meta::Flags(&[true, false]),
        ),
        ("rope.freq_base_swa", Meta::F32(10_000.0)),
        ("rope.scaling.type", Meta::Str("linear")),
        ("rope.scaling.factor", Meta::F32(8.0)),
    ],
    ..QWEN2
};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Values in [-scale, scale) from a seed (xorshift), the same on every machine.
fn random(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// A seed per tensor name (FNV-1a).
fn seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn tensor(name: &str, dims: &[usize], dtype: GgmlDType, scale: f32, offset: f32) -> QTensor {
    let len = dims.iter().product();
    let values: Vec<f32> = random(len, seed(name), scale)
        .into_iter()
        .map(|v| v + offset)
        .collect();
    let bytes = match dtype {
        GgmlDType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlDType::Q4K => ggml_quantize::quantize_q45_k(&values, 4),
        GgmlDType::Q6K => ggml_quantize::quantize_q6_k(&values),
        other => panic!("no quantizer for {other:?}"),
    };
    qtensor_from_ggml(dtype, &bytes, dims.to_vec(), &Device::Cpu).unwrap()
}

/// The tokenizer's metadata (every `tokenizer.*` key) for `vocabulary`.
fn tokenizer_metadata(vocabulary: &Vocabulary) -> Vec<(String, gguf_file::Value)> {
    let (path, overrides) = match vocabulary {
        Vocabulary::SmolLm2 { pre } => (
            manifest_dir().join("../examples/smollm2/model.gguf"),
            vec![("tokenizer.ggml.pre", Meta::Str(pre))],
        ),
        Vocabulary::File { name, overrides } => (
            manifest_dir().join("tests/from-llama-cpp").join(name),
            overrides.to_vec(),
        ),
    };
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-examples",
        path.display()
    );
    let mut file = std::fs::File::open(&path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let mut metadata: Vec<(String, gguf_file::Value)> = content
        .metadata
        .into_iter()
        .filter(|(key, _)| {
            key.starts_with("tokenizer.") && !overrides.iter().any(|(k, _)| k == key)
        })
        .collect();
    metadata.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.value())));
    metadata.sort_by(|a, b| a.0.cmp(&b.0));
    metadata
}

/// Writes the random decoder of `shape` and returns its path.
fn write_gguf(shape: &Shape) -> PathBuf {
    let tokenizer = tokenizer_metadata(&shape.vocabulary);
    let vocab = tokenizer
        .iter()
        .find(|(key, _)| key == "tokenizer.ggml.tokens")
        .map(|(_, tokens)| tokens.to_vec().unwrap().len())
        .unwrap();
    let arch = shape.architecture;
    let base = [
        ("block_count", Meta::U32(shape.layers as u32)),
        ("context_length", Meta::U32(2048)),
        ("embedding_length", Meta::U32(shape.hidden as u32)),
        ("feed_forward_length", Meta::U32(shape.ffn as u32)),
        ("attention.head_count", Meta::U32(shape.heads as u32)),
        ("attention.head_count_kv", Meta::U32(shape.kv_heads as u32)),
        ("attention.key_length", Meta::U32(shape.head_dim as u32)),
        ("attention.value_length", Meta::U32(shape.head_dim as u32)),
        ("rope.freq_base", Meta::F32(1_000_000.0)),
        ("attention.layer_norm_rms_epsilon", Meta::F32(1e-6)),
    ];
    let mut metadata: Vec<(String, gguf_file::Value)> = vec![(
        "general.architecture".into(),
        gguf_file::Value::String(arch.into()),
    )];
    for (key, value) in base
        .iter()
        .filter(|(key, _)| !shape.metadata.iter().any(|(k, _)| k == key))
        .chain(shape.metadata)
    {
        metadata.push((format!("{arch}.{key}"), value.value()));
    }
    metadata.extend(tokenizer);

    let (hidden, q_width) = (shape.hidden, shape.heads * shape.head_dim);
    let kv_width = shape.kv_heads * shape.head_dim;
    let (q4k, q6k, f32) = (GgmlDType::Q4K, GgmlDType::Q6K, GgmlDType::F32);
    let mut tensors = vec![
        (
            "token_embd.weight".to_string(),
            tensor("token_embd.weight", &[vocab, hidden], q6k, 0.5, 0.0),
        ),
        (
            "output_norm.weight".to_string(),
            tensor("output_norm.weight", &[hidden], f32, 0.1, 1.0),
        ),
    ];
    let pairs = shape.head_dim / 2;
    let mut global = |name: &str, dims: &[usize], scale: f32, offset: f32| {
        tensors.push((name.to_string(), tensor(name, dims, f32, scale, offset)));
    };
    match shape.name {
        // Divisors of each pair's angle from 1 to 8, as Llama 3.1's are.
        "llama3" => global("rope_freqs.weight", &[pairs], 3.5, 4.5),
        "phi3" => {
            global("rope_factors_short.weight", &[pairs], 0.5, 1.5);
            global("rope_factors_long.weight", &[pairs], 20.0, 30.0);
        }
        _ => {}
    }
    for i in 0..shape.layers {
        let mut add = |part: &str, dims: &[usize], dtype: GgmlDType, scale: f32, offset: f32| {
            let name = format!("blk.{i}.{part}");
            let t = tensor(&name, dims, dtype, scale, offset);
            tensors.push((name, t));
        };
        add("attn_norm.weight", &[hidden], f32, 0.1, 1.0);
        if arch == "phi3" {
            add(
                "attn_qkv.weight",
                &[q_width + 2 * kv_width, hidden],
                q4k,
                0.1,
                0.0,
            );
        } else {
            add("attn_q.weight", &[q_width, hidden], q4k, 0.1, 0.0);
            add("attn_k.weight", &[kv_width, hidden], q4k, 0.1, 0.0);
            add("attn_v.weight", &[kv_width, hidden], q6k, 0.1, 0.0);
        }
        add("attn_output.weight", &[hidden, q_width], q4k, 0.1, 0.0);
        add("ffn_norm.weight", &[hidden], f32, 0.1, 1.0);
        if arch == "phi3" {
            add("ffn_up.weight", &[2 * shape.ffn, hidden], q4k, 0.1, 0.0);
        } else {
            add("ffn_gate.weight", &[shape.ffn, hidden], q4k, 0.1, 0.0);
            add("ffn_up.weight", &[shape.ffn, hidden], q4k, 0.1, 0.0);
        }
        add("ffn_down.weight", &[hidden, shape.ffn], q6k, 0.1, 0.0);
        if arch == "qwen2" {
            add("attn_q.bias", &[q_width], f32, 0.5, 0.0);
            add("attn_k.bias", &[kv_width], f32, 0.5, 0.0);
            add("attn_v.bias", &[kv_width], f32, 0.5, 0.0);
        }
        if matches!(arch, "qwen3" | "gemma3") {
            add("attn_q_norm.weight", &[shape.head_dim], f32, 0.1, 1.0);
            add("attn_k_norm.weight", &[shape.head_dim], f32, 0.1, 1.0);
        }
        if matches!(arch, "gemma2" | "gemma3") {
            add("post_attention_norm.weight", &[hidden], f32, 0.1, 1.0);
            add("post_ffw_norm.weight", &[hidden], f32, 0.1, 1.0);
        }
    }
    let path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("random-{}.gguf", shape.name));
    let metadata: Vec<(&str, &gguf_file::Value)> =
        metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = std::fs::File::create(&path).unwrap();
    gguf_file::write(&mut out, &metadata, &tensors).unwrap();
    path
}

fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

fn check(shape: &Shape) {
    let arch = shape.name;
    let path = write_gguf(shape);
    let fixture = manifest_dir().join(format!("tests/fixtures/random-{arch}-llama-cpp.json"));
    let text = std::fs::read_to_string(&fixture).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; serve {} with llama-server and run bench/llama_cpp_random_reference.py",
            fixture.display(),
            path.display()
        )
    });
    let reference: Reference = serde_json::from_str(&text).unwrap();
    let sha256 = format!("{:x}", Sha256::digest(std::fs::read(&path).unwrap()));
    assert_eq!(
        sha256,
        reference.gguf_sha256,
        "{} is not the file llama.cpp ran for {}",
        path.display(),
        fixture.display()
    );
    let gguf = Gguf::open(&path).unwrap();
    let json = wick_engine::tasks::text_generation::tokenizer::tokenizer_json(&gguf).unwrap();
    let tokenizer = tokenizers::Tokenizer::from_bytes(json.as_bytes()).unwrap();
    for row in &reference.tokenize {
        let ids = tokenizer.encode(row.text.as_str(), false).unwrap();
        assert_eq!(ids.get_ids(), row.ids, "{arch}: {:?}", row.text);
    }
    let llama = Llama::from_gguf(&gguf, 2048).unwrap();
    let mut cache = Cache::new(&llama);
    let logits = llama
        .forward(&mut [(&mut cache, &reference.prompt[..])])
        .remove(0);
    let worst = worst_logprob_difference(&logits, &reference.first_step_top_logprobs);
    eprintln!("{arch}: first step, top 10 tokens: worst |Δ log p| against llama.cpp = {worst:.2e}");
    assert!(worst < 1e-4, "{arch}: {worst}");
    // Then every step, fed llama.cpp's tokens, against its top 10.
    let mut greedy = vec![argmax(&logits)];
    let mut worst_step = 0.0f32;
    for (step, expected) in reference.greedy_top_logprobs.iter().enumerate().skip(1) {
        let last = [reference.greedy[step - 1]];
        let logits = llama.forward(&mut [(&mut cache, &last[..])]).remove(0);
        worst_step = worst_step.max(worst_logprob_difference(&logits, expected));
        greedy.push(argmax(&logits));
    }
    eprintln!("{arch}: 31 decode steps: worst |Δ log p| = {worst_step:.2e}");
    assert!(worst_step < 1e-4, "{arch}: {worst_step}");
    assert_eq!(greedy, reference.greedy, "{arch}: greedy tokens");
}

#[test]
fn qwen2_matches_llama_cpp() {
    check(&QWEN2);
}

#[test]
fn qwen3_matches_llama_cpp() {
    check(&QWEN3);
}

#[test]
fn llama3_rope_factors_match_llama_cpp() {
    check(&LLAMA3);
}

#[test]
fn phi3_matches_llama_cpp() {
    check(&PHI3);
}

#[test]
fn gemma2_matches_llama_cpp() {
    check(&GEMMA2);
}

#[test]
fn gemma3_matches_llama_cpp() {
    check(&GEMMA3);
}
