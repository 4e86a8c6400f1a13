//! SmolLM2-135M requantized by llama.cpp to Q4_K_M, Q5_K_M and Q6_K,
//! against llama.cpp on the same files (bench/llama_cpp_reference.py wrote
//! tests/fixtures/smollm2-{q4_k_m,q5_k_m,q6_k}-llama-cpp.json from
//! llama-server, with each tensor's type and the sha256 of all tensors):
//! - the test rebuilds each file from examples/smollm2's Q4_1 GGUF as
//!   `llama-quantize --allow-requantize` does (ggml's reference quantizers,
//!   `ggml_quantize`; Candle's for Q5_0 and Q8_0, which are the same), and
//!   checks its tensors are the file llama.cpp ran, byte for byte;
//! - Wick runs the K-quants as they are (Q4_K, Q5_K, Q6_K beside Q5_0 and
//!   Q8_0 in the same layers): the first step's log-probabilities are
//!   llama.cpp's within 1e-4 and the greedy chat replies are llama.cpp's,
//!   word for word.

#[path = "../common/ggml_quantize.rs"]
mod ggml_quantize;
#[path = "../common/llama_cpp.rs"]
mod llama_cpp;

use std::path::PathBuf;

use candle_core::Device;
use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use llama_cpp::{Chat, LogProb, assert_chats_match, first_step_difference};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wick_engine::Bundle;
use wick_engine::models::llama::Llama;
use wick_engine::tasks::text_generation::KIND;

#[derive(Deserialize)]
struct Reference {
    reference_prompt: Vec<u32>,
    first_step_top_logprobs: Vec<LogProb>,
    chat: Vec<Chat>,
    tensor_types: std::collections::BTreeMap<String, String>,
    tensor_sha256: String,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reference(variant: &str) -> Reference {
    let path = manifest_dir().join(format!("tests/fixtures/smollm2-{variant}-llama-cpp.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn dtype(name: &str) -> GgmlDType {
    match name {
        "F32" => GgmlDType::F32,
        "Q4_1" => GgmlDType::Q4_1,
        "Q5_0" => GgmlDType::Q5_0,
        "Q5_1" => GgmlDType::Q5_1,
        "Q8_0" => GgmlDType::Q8_0,
        "Q4_K" => GgmlDType::Q4K,
        "Q5_K" => GgmlDType::Q5K,
        "Q6_K" => GgmlDType::Q6K,
        other => panic!("no requantizing to {other}"),
    }
}

/// The original tensor in `dtype`, as llama-quantize makes it: dequantized
/// and quantized again row by row.
fn requantize(original: QTensor, dtype: GgmlDType) -> QTensor {
    if original.dtype() == dtype {
        return original;
    }
    let dense = original.dequantize(&Device::Cpu).unwrap();
    let bytes = match dtype {
        GgmlDType::Q4K | GgmlDType::Q5K | GgmlDType::Q6K => {
            let values: Vec<f32> = dense.flatten_all().unwrap().to_vec1().unwrap();
            match dtype {
                GgmlDType::Q4K => ggml_quantize::quantize_q45_k(&values, 4),
                GgmlDType::Q5K => ggml_quantize::quantize_q45_k(&values, 5),
                _ => ggml_quantize::quantize_q6_k(&values),
            }
        }
        _ => return QTensor::quantize(&dense, dtype).unwrap(),
    };
    qtensor_from_ggml(dtype, &bytes, dense.dims().to_vec(), &Device::Cpu).unwrap()
}

/// A bundle of the requantized GGUF and examples/smollm2's tokenizer, in a
/// temporary directory; checks the tensors are llama.cpp's file's.
fn requantized_bundle(variant: &str, reference: &Reference) -> tempfile::TempDir {
    let example = manifest_dir().join("../examples/smollm2");
    let source = example.join("model.gguf");
    assert!(
        source.is_file(),
        "{} is missing: run scripts/fetch-examples",
        source.display()
    );
    let mut file = std::fs::File::open(&source).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let mut tensors = Vec::new();
    let mut digest = Sha256::new();
    for (name, target) in &reference.tensor_types {
        let original = content.tensor(&mut file, name, &Device::Cpu).unwrap();
        let tensor = requantize(original, dtype(target));
        digest.update(tensor.data().unwrap());
        tensors.push((name.clone(), tensor));
    }
    assert_eq!(
        format!("{:x}", digest.finalize()),
        reference.tensor_sha256,
        "{variant}: the rebuilt tensors are not llama-quantize's"
    );
    let dir = tempfile::tempdir().unwrap();
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = std::fs::File::create(dir.path().join("model.gguf")).unwrap();
    gguf_file::write(&mut out, &metadata, &tensors).unwrap();
    std::fs::copy(
        example.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    let sha256 = |name: &str| {
        format!(
            "{:x}",
            Sha256::digest(std::fs::read(dir.path().join(name)).unwrap())
        )
    };
    let manifest = format!(
        "name = \"smollm2-{variant}\"\nversion = \"1.0.0\"\ntask = \"text-generation\"\n\n\
         [settings]\ncontext = 2048\n\n[files]\n\"model.gguf\" = \"{}\"\n\"tokenizer.json\" = \"{}\"\n",
        sha256("model.gguf"),
        sha256("tokenizer.json"),
    );
    std::fs::write(dir.path().join("wick.toml"), manifest).unwrap();
    dir
}

fn check(variant: &str) {
    let reference = reference(variant);
    let dir = requantized_bundle(variant, &reference);
    let llama = Llama::load(&dir.path().join("model.gguf"), 2048).unwrap();
    let worst = first_step_difference(
        &llama,
        &reference.reference_prompt,
        &reference.first_step_top_logprobs,
    );
    eprintln!(
        "{variant}: first step, top 10 tokens: worst |Δ log p| against llama.cpp = {worst:.2e}"
    );
    assert!(worst < 1e-4, "{variant}: {worst}");
    let task = (KIND.load)(&Bundle::open(dir.path()).unwrap(), &Device::Cpu).unwrap();
    assert_chats_match(task.as_ref(), reference.chat, variant);
}

#[test]
fn q4_k_m_matches_llama_cpp() {
    check("q4_k_m");
}

#[test]
fn q5_k_m_matches_llama_cpp() {
    check("q5_k_m");
}

#[test]
fn q6_k_matches_llama_cpp() {
    check("q6_k");
}
