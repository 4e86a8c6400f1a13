//! ResNet (bottleneck and basic blocks), ConvNeXt and DINOv2 against the
//! reference code: tiny random-weight `*ForImageClassification` models
//! that `bench/image_backbones_reference.py` made with transformers, and
//! the probability its image-classification pipeline gave each label for
//! two images (`tests/fixtures/backbones/<model>/expected.json`): one at
//! the input size, one larger and not square. Each folder is bundled as
//! `wick bundle` does and loaded as the server does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use candle_core::Device;
use serde::Deserialize;
use wick_engine::source::{Source, bundle_from_source};
use wick_engine::tasks::detect::task_of;
use wick_engine::tasks::image_classification::KIND;
use wick_types::{Media, Value, Values};

mod common;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[derive(Deserialize)]
struct Expected {
    /// Image file → label → probability.
    scores: BTreeMap<String, BTreeMap<String, f64>>,
}

#[test]
fn every_backbone_gives_the_pipeline_s_probabilities_alone_and_batched() {
    let out = tempfile::tempdir().unwrap();
    let images = ["gradient.png", "pattern.png"];
    let inputs: Vec<Values> = images
        .iter()
        .map(|image| {
            let path = fixtures().join("zero-shot/images").join(image);
            let media = Media::new("image/png", std::fs::read(path).unwrap());
            Values::from([("image".to_string(), Value::Media(media))])
        })
        .collect();
    for name in ["resnet", "resnet-basic", "convnext", "dinov2"] {
        let folder = fixtures().join("backbones").join(name);
        assert_eq!(task_of(&folder).unwrap(), "image-classification", "{name}");
        let bundle = bundle_from_source(
            &Source::Folder(folder.clone()),
            &KIND,
            name,
            "1.0.0",
            &out.path().join(name),
        )
        .unwrap();
        let task = (KIND.load)(&bundle, &Device::Cpu).unwrap();
        let expected: Expected =
            serde_json::from_str(&std::fs::read_to_string(folder.join("expected.json")).unwrap())
                .unwrap();
        let batched = task.predict("classify", &inputs).unwrap();
        let mut worst: f64 = 0.0;
        for (index, image) in images.iter().enumerate() {
            let alone = task.predict("classify", &inputs[index..index + 1]).unwrap();
            let want = &expected.scores[*image];
            for outputs in [&alone[0], &batched[index]] {
                let what = format!("{name} {image}");
                worst = worst.max(common::label_difference(outputs, want, &what));
            }
        }
        assert!(worst <= 1e-4, "{name}: a probability differs by {worst}");
        eprintln!("{name}: largest probability difference {worst:.2e}");
    }
}
