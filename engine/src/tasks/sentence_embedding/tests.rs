//! Loader, pooling and endpoint tests on a tiny random-weight BERT that the
//! tests build themselves (no download).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::bert::{BertModel, Config as CandleConfig};
use serde_json::json;
use wick_types::{Value, Values};

use super::*;
use crate::bundle::{Bundle, test_bundle};
use crate::models::bert::{CandleEncoder, Config, Encoder};
use tokenizers::PaddingStrategy;

const WORDS: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sits", "outside", "a", "man", "is",
    "eating", "food", "bread", "on", "mat", ".", "good", "bad",
];

fn tiny_config_json() -> serde_json::Value {
    json!({
        "vocab_size": WORDS.len(), "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "max_position_embeddings": 32, "type_vocab_size": 2,
        "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "classifier_dropout": null, "model_type": "bert"
    })
}

fn tiny_config() -> CandleConfig {
    serde_json::from_value(tiny_config_json()).unwrap()
}

/// A WordPiece tokenizer.json that, like MiniLM's, pads and truncates every
/// text to a fixed length (12) — the behaviour the embedder must override.
fn tiny_tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> = WORDS
        .iter()
        .enumerate()
        .map(|(id, word)| (word.to_string(), json!(id)))
        .collect();
    let special = |id: usize| {
        json!({"id": id, "content": WORDS[id], "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    json!({
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 12, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 12}, "direction": "Right", "pad_to_multiple_of": null,
                    "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [special(0), special(1), special(2), special(3)],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

/// Writes a Hugging Face style folder with random weights.
fn write_tiny_model(dir: &Path) {
    let config = tiny_config();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    BertModel::load(vb, &config).unwrap();
    varmap.save(dir.join("model.safetensors")).unwrap();
    let config_json = tiny_config_json().to_string();
    std::fs::write(dir.join("config.json"), config_json).unwrap();
    std::fs::write(
        dir.join("tokenizer.json"),
        tiny_tokenizer_json().to_string(),
    )
    .unwrap();
}

fn tiny_bundle(dir: &Path, settings: toml::Table) -> Bundle {
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    write_tiny_model(&source);
    let files = ["config.json", "tokenizer.json", "model.safetensors"];
    test_bundle(&source, &dir.join("bundle"), KIND.name, &files, settings)
}

fn max_length_8() -> toml::Table {
    toml::toml! { max_seq_length = 8 }
}

fn tiny_embedder(dir: &Path) -> Embedder {
    Embedder::from_bundle(&tiny_bundle(dir, max_length_8()), &Device::Cpu)
        .unwrap()
        .0
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_bundle_loads_and_embeds_to_unit_vectors_of_the_hidden_size() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = tiny_bundle(dir.path(), max_length_8());
    let task = (KIND.load)(&bundle, &Device::Cpu).unwrap();
    let inputs = Values::from([("text".to_string(), Value::Text("the cat sits".into()))]);
    let outputs = task.predict("embed", &[inputs]).unwrap();
    let Some(Value::Vector(vector)) = outputs[0].get("embedding") else {
        panic!("no embedding in {outputs:?}");
    };
    assert_eq!(vector.len(), 16);
    assert!((norm(vector) - 1.0).abs() < 1e-5, "norm {}", norm(vector));
}

#[test]
fn fixed_padding_and_truncation_in_tokenizer_json_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let embedder = tiny_embedder(dir.path());
    let padding = embedder.text.tokenizer.get_padding().unwrap();
    assert!(matches!(padding.strategy, PaddingStrategy::BatchLongest));
    let long = "the cat sits outside on the mat . the man is eating bread";
    let counts = embedder.embed(&["the cat", long, ""]).unwrap().token_counts;
    // [CLS] the cat [SEP]; the long text stops at max_seq_length; "" keeps
    // its special tokens.
    assert_eq!(counts, vec![4, 8, 2]);
}

#[test]
fn padding_does_not_change_a_vector() {
    let dir = tempfile::tempdir().unwrap();
    let embedder = tiny_embedder(dir.path());
    let alone = embedder.embed(&["the cat"]).unwrap().vectors;
    let padded = embedder
        .embed(&["the cat", "a man is eating food on the mat"])
        .unwrap()
        .vectors;
    let diff = max_diff(&alone[0], &padded[0]);
    assert!(diff < 1e-5, "padding changed the vector by {diff}");
}

#[test]
fn mean_pooling_averages_only_the_tokens_the_mask_keeps() {
    let hidden = Tensor::new(&[[[1f32, 2.], [3., 4.], [100., 100.]]], &Device::Cpu).unwrap();
    let mask = Tensor::new(&[[1u32, 1, 0]], &Device::Cpu).unwrap();
    let mean = pool(&hidden, &mask, Pooling::Mean)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert_eq!(mean, vec![vec![2.0, 3.0]]);
    let cls = pool(&hidden, &mask, Pooling::Cls)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert_eq!(cls, vec![vec![1.0, 2.0]]);
    let unit = l2_normalize(&Tensor::new(&[[3f32, 4.]], &Device::Cpu).unwrap())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert_eq!(unit, vec![vec![0.6, 0.8]]);
}

#[test]
fn pooled_vectors_equal_a_hand_computed_masked_mean() {
    let dir = tempfile::tempdir().unwrap();
    let mut embedder = tiny_embedder(dir.path());
    embedder.normalize = false;
    let vectors = embedder
        .embed(&["the cat", "a man is eating food"])
        .unwrap()
        .vectors;
    // Hidden states of "the cat" alone: [CLS] the cat [SEP], no padding.
    let ids = Tensor::new(&[[2u32, 4, 5, 3]], &Device::Cpu).unwrap();
    let hidden = embedder
        .text
        .encoder
        .forward(&ids, &ids.zeros_like().unwrap(), &ids.ones_like().unwrap())
        .unwrap();
    let by_hand = hidden.mean(1).unwrap().to_vec2::<f32>().unwrap();
    let diff = max_diff(&vectors[0], &by_hand[0]);
    assert!(diff < 1e-5, "differs by {diff}");
}

#[test]
fn similarity_of_a_text_with_itself_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let task = (KIND.load)(&tiny_bundle(dir.path(), max_length_8()), &Device::Cpu).unwrap();
    let inputs = Values::from([
        ("a".to_string(), Value::Text("the cat sits".into())),
        ("b".to_string(), Value::Text("the cat sits".into())),
    ]);
    let outputs = task.predict("similarity", &[inputs]).unwrap();
    let score = outputs[0]["score"].as_number().unwrap();
    assert!((score - 1.0).abs() < 1e-5, "{score}");
}

#[test]
fn classify_ranks_distinct_labels_with_confidences_summing_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let task = (KIND.load)(&tiny_bundle(dir.path(), max_length_8()), &Device::Cpu).unwrap();
    let request = |labels: &[&str]| {
        Values::from([
            (
                "text".to_string(),
                Value::Text("the cat sits on the mat".into()),
            ),
            (
                "labels".to_string(),
                Value::Strings(labels.iter().map(|l| l.to_string()).collect()),
            ),
        ])
    };
    let outputs = task
        .predict(
            "classify",
            &[request(&["good", "bad", "good", "cat"]), request(&["food"])],
        )
        .unwrap();
    let Value::Label(label) = &outputs[0]["label"] else {
        panic!("{outputs:?}")
    };
    let names: Vec<&str> = label.confidences.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(names.len(), 3, "duplicates are merged: {names:?}");
    assert_eq!(label.label, names[0]);
    let total: f64 = label.confidences.iter().map(|c| c.confidence).sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    assert!(
        label
            .confidences
            .windows(2)
            .all(|w| w[0].confidence >= w[1].confidence)
    );
    let Value::Label(single) = &outputs[1]["label"] else {
        panic!("{outputs:?}")
    };
    assert_eq!(single.confidences[0].confidence, 1.0);
}

#[test]
fn new_bundles_take_settings_from_sentence_transformers_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sentence_bert_config.json"),
        r#"{"max_seq_length": 256}"#,
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
    std::fs::write(
        dir.path().join("1_Pooling/config.json"),
        r#"{"pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("modules.json"),
        r#"[{"type": "sentence_transformers.models.Normalize"}]"#,
    )
    .unwrap();
    let defaults = settings::defaults(dir.path()).unwrap();
    assert_eq!(defaults.settings["max_seq_length"].as_integer(), Some(256));
    assert_eq!(defaults.settings["pooling"].as_str(), Some("mean"));
    assert_eq!(defaults.settings["normalize"].as_bool(), Some(true));
    assert!(defaults.examples.contains_key("classify"));
}

#[test]
fn the_encoder_matches_candle_transformers_bert_model() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path());
    let config = tiny_config();
    let ours = Config::from_json(&tiny_config_json()).unwrap();
    let weights = dir.path().join("model.safetensors");
    // SAFETY: the test's own file, not written while mapped.
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu).unwrap()
    };
    let reference = BertModel::load(vb.clone(), &config).unwrap();
    let chosen = Encoder::load(vb.clone(), &ours).unwrap();
    let candle = Encoder::Candle(CandleEncoder::load(vb, &ours).unwrap());
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::gemm::available() {
        assert!(
            matches!(chosen, Encoder::Packed(_)),
            "AVX-512F picks the packed build"
        );
    }
    // Three texts of 9 tokens: whole, padded after 5, and a single token.
    let ids: Vec<u32> = (0..27).map(|i| (i * 7 + 3) % WORDS.len() as u32).collect();
    let types: Vec<u32> = (0..27).map(|i| (i / 4) % 2).collect();
    let lengths = [9, 5, 1];
    let mask: Vec<u32> = (0..27).map(|i| u32::from(i % 9 < lengths[i / 9])).collect();
    let tensor = |v: Vec<u32>| Tensor::from_vec(v, (3, 9), &Device::Cpu).unwrap();
    let (ids, types, mask) = (tensor(ids), tensor(types), tensor(mask));
    let want = reference.forward(&ids, &types, Some(&mask)).unwrap();
    // Padding rows are undefined: compare real tokens only.
    let real = mask.to_dtype(DType::F32).unwrap().unsqueeze(2).unwrap();
    let real_only = |t: &Tensor| t.broadcast_mul(&real).unwrap();
    for encoder in [chosen, candle] {
        let got = encoder.forward(&ids, &types, &mask).unwrap();
        let diff = crate::max_abs_diff(&real_only(&got), &real_only(&want));
        let build = encoder.build_name();
        assert!(diff <= 1e-4, "{build}: max abs difference {diff}");
    }
}

#[test]
fn a_temperature_that_is_not_positive_is_refused_at_load() {
    for bad in [
        toml::toml! { zero_shot_temperature = 0.0 },
        toml::toml! { zero_shot_temperature = -1.0 },
    ] {
        let dir = tempfile::tempdir().unwrap();
        let error = (KIND.load)(&tiny_bundle(dir.path(), bad), &Device::Cpu)
            .err()
            .expect("refused");
        assert!(
            error.to_string().contains("zero_shot_temperature"),
            "{error}"
        );
    }
}

#[test]
fn last_token_pooling_takes_each_text_s_last_real_token() {
    let hidden = Tensor::arange(0f32, 12.0, &Device::Cpu)
        .unwrap()
        .reshape((2, 3, 2))
        .unwrap();
    let mask = Tensor::new(&[[1u32, 1, 0], [1, 1, 1]], &Device::Cpu).unwrap();
    let pooled = pool(&hidden, &mask, Pooling::LastToken).unwrap();
    assert_eq!(pooled.to_vec2::<f32>().unwrap(), [[2.0, 3.0], [10.0, 11.0]]);
}

#[test]
fn pooling_is_read_from_either_form_of_the_pooling_config() {
    for (config, want) in [
        (json!({"pooling_mode": "cls"}), "cls"),
        (json!({"pooling_mode": "lasttoken"}), "lasttoken"),
        (json!({"pooling_mode_cls_token": true}), "cls"),
        (json!({"pooling_mode_mean_tokens": true}), "mean"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("1_Pooling")).unwrap();
        std::fs::write(dir.path().join("1_Pooling/config.json"), config.to_string()).unwrap();
        let defaults = (KIND.defaults)(dir.path()).unwrap();
        assert_eq!(
            defaults.settings["pooling"].as_str(),
            Some(want),
            "{config}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("1_Pooling")).unwrap();
    std::fs::write(
        dir.path().join("1_Pooling/config.json"),
        json!({"pooling_mode": "max"}).to_string(),
    )
    .unwrap();
    let message = (KIND.defaults)(dir.path()).unwrap_err().to_string();
    assert!(message.contains("max"), "{message}");
}

#[test]
fn prompts_are_read_from_sentence_transformers_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config_sentence_transformers.json"),
        json!({"prompts": {"query": "query: ", "document": "passage: ", "none": ""},
               "default_prompt_name": "query"})
        .to_string(),
    )
    .unwrap();
    let defaults = (KIND.defaults)(dir.path()).unwrap();
    let prompts = defaults.settings["prompts"].as_table().unwrap();
    assert_eq!(prompts["query"].as_str(), Some("query: "));
    assert!(!prompts.contains_key("none"), "an empty prompt is left out");
    assert_eq!(
        defaults.settings["default_prompt_name"].as_str(),
        Some("query")
    );
    let error = (KIND.load)(
        &tiny_bundle(dir.path(), toml::toml! { default_prompt_name = "query" }),
        &Device::Cpu,
    )
    .err()
    .expect("refused");
    assert!(error.to_string().contains("default_prompt_name"), "{error}");
}
