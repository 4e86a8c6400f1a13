//! CLIP and SigLIP against the reference code: tiny random-weight models
//! that `bench/zero_shot_reference.py` made with transformers, and what its
//! zero-shot-image-classification pipeline answered for two images
//! (`tests/fixtures/zero-shot/<model>/expected.json`). Each folder is
//! bundled as `wick bundle` does and loaded as the server does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Device;
use serde::Deserialize;
use wick_engine::AnyTask;
use wick_engine::source::{Source, bundle_from_source};
use wick_engine::tasks::zero_shot_image_classification::KIND;
use wick_types::{Media, Value, Values};

mod common;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zero-shot")
}

#[derive(Deserialize)]
struct Expected {
    labels: Vec<String>,
    /// Image file → label → score.
    scores: BTreeMap<String, BTreeMap<String, f64>>,
}

fn load(name: &str, out: &Path) -> (Arc<dyn AnyTask>, Expected) {
    let folder = fixtures().join(name);
    let bundle = bundle_from_source(
        &Source::Folder(folder.clone()),
        &KIND,
        name,
        "1.0.0",
        &out.join(name),
    )
    .unwrap();
    let task = (KIND.load)(&bundle, &Device::Cpu).unwrap();
    let expected =
        serde_json::from_str(&std::fs::read_to_string(folder.join("expected.json")).unwrap())
            .unwrap();
    (task, expected)
}

fn request(image: &str, texts_input: &str, texts: &[String]) -> Values {
    let bytes = std::fs::read(fixtures().join("images").join(image)).unwrap();
    Values::from([
        (
            "image".to_string(),
            Value::Media(Media::new("image/png", bytes)),
        ),
        (texts_input.to_string(), Value::Strings(texts.to_vec())),
    ])
}

/// The largest score difference from the pipeline over `images`, one
/// request at a time and all in one batch.
fn worst_difference(task: &dyn AnyTask, expected: &Expected, images: &[&str]) -> f64 {
    let inputs: Vec<Values> = images
        .iter()
        .map(|image| request(image, "candidate_labels", &expected.labels))
        .collect();
    let batched = task.predict("classify", &inputs).unwrap();
    let mut worst: f64 = 0.0;
    for (index, image) in images.iter().enumerate() {
        let alone = task.predict("classify", &inputs[index..index + 1]).unwrap();
        let want = &expected.scores[*image];
        for outputs in [&alone[0], &batched[index]] {
            worst = worst.max(common::label_difference(outputs, want, image));
        }
    }
    worst
}

#[test]
fn clip_and_siglip_give_the_pipeline_s_scores_alone_and_batched() {
    let out = tempfile::tempdir().unwrap();
    for name in ["clip", "siglip"] {
        let (task, expected) = load(name, out.path());
        // An image at the towers' size is not resampled; a larger one is
        // resized (and, for CLIP, centre-cropped) as transformers does
        // with Pillow.
        let exact = worst_difference(task.as_ref(), &expected, &["gradient.png"]);
        assert!(exact <= 1e-4, "{name}: a score differs by {exact}");
        let resized = worst_difference(task.as_ref(), &expected, &["pattern.png"]);
        assert!(
            resized <= 1e-4,
            "{name}: a resized image's score differs by {resized}"
        );
        eprintln!(
            "{name}: largest score difference {exact:.2e} (exact size), {resized:.2e} (resized)"
        );
    }
}

#[test]
fn similarity_is_the_cosine_the_scores_come_from() {
    let out = tempfile::tempdir().unwrap();
    let (task, expected) = load("clip", out.path());
    // The label put into the template by hand: similarity reads texts as
    // given, classify through the template.
    let texts: Vec<String> = expected
        .labels
        .iter()
        .map(|label| format!("This is a photo of {label}."))
        .collect();
    let outputs = task
        .predict("similarity", &[request("gradient.png", "texts", &texts)])
        .unwrap();
    let Some(Value::Json(serde_json::Value::Array(rows))) = outputs[0].get("similarities") else {
        panic!("no similarities in {:?}", outputs[0]);
    };
    let similarities: Vec<f64> = rows
        .iter()
        .map(|r| r["similarity"].as_f64().unwrap())
        .collect();
    assert_eq!(rows.len(), texts.len());
    for (row, text) in rows.iter().zip(&texts) {
        assert_eq!(row["text"], *text);
    }
    assert!(
        similarities.iter().all(|s| (-1.0..=1.0).contains(s)),
        "{similarities:?}"
    );
    // Softmax of the similarities, scaled alike, orders them as the
    // pipeline's scores.
    let want = &expected.scores["gradient.png"];
    let mut by_similarity: Vec<usize> = (0..texts.len()).collect();
    by_similarity.sort_by(|a, b| similarities[*b].total_cmp(&similarities[*a]));
    let mut by_score: Vec<usize> = (0..texts.len()).collect();
    by_score.sort_by(|a, b| want[&expected.labels[*b]].total_cmp(&want[&expected.labels[*a]]));
    assert_eq!(by_similarity, by_score);
}

#[test]
fn a_template_without_a_place_for_the_label_is_refused_at_load() {
    let out = tempfile::tempdir().unwrap();
    let folder = fixtures().join("clip");
    let mut bundle = bundle_from_source(
        &Source::Folder(folder),
        &KIND,
        "clip",
        "1.0.0",
        &out.path().join("clip"),
    )
    .unwrap();
    bundle
        .manifest
        .settings
        .insert("hypothesis_template".into(), "A photo.".into());
    let message = (KIND.load)(&bundle, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("hypothesis_template"), "{message}");
}
