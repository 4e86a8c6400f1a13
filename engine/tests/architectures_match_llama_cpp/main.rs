//! Small random-weight decoders of each architecture Wick runs besides
//! `llama`, against llama.cpp on the same files (bench/llama_cpp_random_reference.py
//! wrote tests/fixtures/random-{qwen2,qwen3}-llama-cpp.json from llama-server):
//! the test writes each GGUF from a fixed seed (with SmolLM2's tokenizer, the
//! K-quant mix of a Q4_K_M file: Q4_K, Q6_K for `attn_v`, `ffn_down` and the
//! tied embedding; llama.cpp's own quantizers) into cargo's test scratch
//! folder and checks it is the file llama.cpp ran (sha256); then the
//! tokenizer Wick builds from it must split text as llama.cpp does (Qwen's
//! pre-tokenizer over SmolLM2's vocabulary), the first step's
//! log-probabilities must be llama.cpp's within 1e-4 and 32 greedy tokens
//! llama.cpp's, one by one.
//!
//! - qwen2: biases on q, k and v; NeoX rope;
//! - qwen3: an RMS norm over each head of q and of k; heads wider than
//!   hidden / heads (q is 512 wide for a hidden size of 256).

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
}

/// A decoder's shape, small enough to write in a moment.
struct Shape {
    architecture: &'static str,
    layers: usize,
    hidden: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    ffn: usize,
}

const QWEN2: Shape = Shape {
    architecture: "qwen2",
    layers: 2,
    hidden: 256,
    heads: 4,
    kv_heads: 2,
    head_dim: 64,
    ffn: 768,
};

const QWEN3: Shape = Shape {
    architecture: "qwen3",
    layers: 2,
    hidden: 256,
    heads: 4,
    kv_heads: 2,
    head_dim: 128,
    ffn: 768,
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

/// Writes the random decoder of `shape` and returns its path.
fn write_gguf(shape: &Shape) -> PathBuf {
    let smollm2 = manifest_dir().join("../examples/smollm2/model.gguf");
    assert!(
        smollm2.is_file(),
        "{} is missing: run scripts/fetch-examples",
        smollm2.display()
    );
    let mut file = std::fs::File::open(&smollm2).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let vocab = content.metadata["tokenizer.ggml.tokens"]
        .to_vec()
        .unwrap()
        .len();
    let arch = shape.architecture;
    let u32_value = |n: usize| gguf_file::Value::U32(n as u32);
    let mut metadata: Vec<(String, gguf_file::Value)> = vec![
        (
            "general.architecture".into(),
            gguf_file::Value::String(arch.into()),
        ),
        (format!("{arch}.block_count"), u32_value(shape.layers)),
        (format!("{arch}.context_length"), u32_value(2048)),
        (format!("{arch}.embedding_length"), u32_value(shape.hidden)),
        (format!("{arch}.feed_forward_length"), u32_value(shape.ffn)),
        (
            format!("{arch}.attention.head_count"),
            u32_value(shape.heads),
        ),
        (
            format!("{arch}.attention.head_count_kv"),
            u32_value(shape.kv_heads),
        ),
        (
            format!("{arch}.attention.key_length"),
            u32_value(shape.head_dim),
        ),
        (
            format!("{arch}.attention.value_length"),
            u32_value(shape.head_dim),
        ),
        (
            format!("{arch}.rope.freq_base"),
            gguf_file::Value::F32(1_000_000.0),
        ),
        (
            format!("{arch}.attention.layer_norm_rms_epsilon"),
            gguf_file::Value::F32(1e-6),
        ),
    ];
    // SmolLM2's vocabulary with Qwen's pre-tokenizer: llama.cpp splits
    // text by the name alone, so its tokenization checks Wick's split.
    let mut tokenizer: Vec<_> = content
        .metadata
        .iter()
        .filter(|(key, _)| key.starts_with("tokenizer.") && *key != "tokenizer.ggml.pre")
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    tokenizer.push((
        "tokenizer.ggml.pre".into(),
        gguf_file::Value::String("qwen2".into()),
    ));
    tokenizer.sort_by(|a, b| a.0.cmp(&b.0));
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
    for i in 0..shape.layers {
        let mut add = |part: &str, dims: &[usize], dtype: GgmlDType, scale: f32, offset: f32| {
            let name = format!("blk.{i}.{part}");
            let t = tensor(&name, dims, dtype, scale, offset);
            tensors.push((name, t));
        };
        add("attn_norm.weight", &[hidden], f32, 0.1, 1.0);
        add("attn_q.weight", &[q_width, hidden], q4k, 0.1, 0.0);
        add("attn_k.weight", &[kv_width, hidden], q4k, 0.1, 0.0);
        add("attn_v.weight", &[kv_width, hidden], q6k, 0.1, 0.0);
        add("attn_output.weight", &[hidden, q_width], q4k, 0.1, 0.0);
        add("ffn_norm.weight", &[hidden], f32, 0.1, 1.0);
        add("ffn_gate.weight", &[shape.ffn, hidden], q4k, 0.1, 0.0);
        add("ffn_up.weight", &[shape.ffn, hidden], q4k, 0.1, 0.0);
        add("ffn_down.weight", &[hidden, shape.ffn], q6k, 0.1, 0.0);
        match arch {
            "qwen2" => {
                add("attn_q.bias", &[q_width], f32, 0.5, 0.0);
                add("attn_k.bias", &[kv_width], f32, 0.5, 0.0);
                add("attn_v.bias", &[kv_width], f32, 0.5, 0.0);
            }
            "qwen3" => {
                add("attn_q_norm.weight", &[shape.head_dim], f32, 0.1, 1.0);
                add("attn_k_norm.weight", &[shape.head_dim], f32, 0.1, 1.0);
            }
            _ => {}
        }
    }
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("random-{arch}.gguf"));
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
    let arch = shape.architecture;
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
    let mut greedy = vec![argmax(&logits)];
    while greedy.len() < reference.greedy.len() {
        let last = [*greedy.last().unwrap()];
        let logits = llama.forward(&mut [(&mut cache, &last[..])]).remove(0);
        greedy.push(argmax(&logits));
    }
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
