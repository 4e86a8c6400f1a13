//! The packed decoder against candle-transformers' `quantized_llama` on
//! the real SmolLM2 GGUF (examples/smollm2, from scripts/fetch-examples):
//! the same logits, whether the tokens come as one prompt, one at a time,
//! or batched with another stream.

use std::path::PathBuf;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

use super::*;

/// The plain ChatML prompt of MODELS.md.
const PROMPT: [u32; 16] = [
    1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198,
];

pub(crate) fn smollm2_gguf() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/smollm2/model.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-examples",
        path.display()
    );
    path
}

fn candle_logits(tokens: &[u32]) -> Vec<f32> {
    let path = smollm2_gguf();
    let mut file = std::fs::File::open(&path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let mut model = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
    let input = Tensor::new(tokens, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    model
        .forward(&input, 0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Log-probabilities: logits up to a constant, which sampling ignores.
fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().cloned().fold(f32::MIN, f32::max);
    let log_total = logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln();
    logits.iter().map(|l| l - max - log_total).collect()
}

fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold(
            (0, f32::MIN),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        )
        .0
}

#[test]
fn logits_match_candles_quantized_llama() {
    let llama = Llama::load(&smollm2_gguf(), 2048).unwrap();
    let expected = candle_logits(&PROMPT);
    let mut cache = Cache::new(&llama);
    let logits = llama.forward(&mut [(&mut cache, &PROMPT[..])]).remove(0);
    assert_eq!(logits.len(), 49_152);
    // Over the likely tokens (log p > -5), where sampling looks.
    let (ours, theirs) = (log_softmax(&logits), log_softmax(&expected));
    let likely: Vec<usize> = (0..theirs.len()).filter(|&i| theirs[i] > -5.0).collect();
    let difference = likely
        .iter()
        .map(|&i| (ours[i] - theirs[i]).abs())
        .fold(0.0, f32::max);
    eprintln!(
        "max |Δ log p| against quantized_llama over {} tokens: {difference}",
        likely.len()
    );
    // quantized_llama keeps keys and values in f32; this build rounds them
    // to f16 as llama.cpp does, which moves these by up to ~0.25.
    assert!(difference < 0.3, "{difference}");
    assert_eq!(argmax(&logits), 504, "greedy first token: `The`");
}

#[test]
fn a_prompt_fed_in_pieces_or_beside_another_stream_gives_the_same_logits() {
    let llama = Llama::load(&smollm2_gguf(), 2048).unwrap();
    let mut whole = Cache::new(&llama);
    let expected = llama.forward(&mut [(&mut whole, &PROMPT[..])]).remove(0);

    let mut pieces = Cache::new(&llama);
    llama.forward(&mut [(&mut pieces, &PROMPT[..10])]);
    let mut other = Cache::new(&llama);
    let both = llama.forward(&mut [(&mut pieces, &PROMPT[10..]), (&mut other, &[4093, 198][..])]);
    // Bit for bit: each row's arithmetic depends only on its own stream.
    assert_eq!(both[0], expected);
    assert_eq!(pieces.len(), 16);
    assert_eq!(other.len(), 2);

    let mut alone = Cache::new(&llama);
    let expected_other = llama
        .forward(&mut [(&mut alone, &[4093, 198][..])])
        .remove(0);
    assert_eq!(both[1], expected_other);
}
