//! Loader, preprocessing and endpoint tests on tiny random-weight networks
//! that the tests build themselves: an EfficientNet-Lite and a Hugging Face
//! ViT (no download).

use std::io::Cursor;
use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::vit;
use image::{ImageFormat, RgbImage};
use serde_json::json;
use wick_types::{Media, Value, Values};

use super::*;
use crate::bundle::{Bundle, test_bundle};
use crate::error::Error;
use crate::models::efficientnet_lite;

const LABELS: [&str; 3] = ["cat", "dog", "teapot"];

fn id2label() -> serde_json::Value {
    LABELS
        .iter()
        .enumerate()
        .map(|(id, label)| (id.to_string(), json!(label)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A Hugging Face style folder of an EfficientNet-Lite0 with random
/// weights and three labels, taking 64 × 64 images.
fn write_efficientnet(dir: &Path) {
    let config = efficientnet_lite::Config {
        width_coefficient: 1.0,
        depth_coefficient: 1.0,
        image_size: 64,
        batch_norm_eps: 1e-3,
        num_labels: LABELS.len(),
    };
    let weights = efficientnet_lite::random_weights(&config, 11);
    candle_core::safetensors::save(&weights, dir.join("model.safetensors")).unwrap();
    let config_json = json!({
        "model_type": "efficientnet-lite", "image_size": 64, "id2label": id2label()
    });
    std::fs::write(dir.join("config.json"), config_json.to_string()).unwrap();
    let preprocessor = json!({
        "size": {"height": 64, "width": 64}, "crop_pct": 0.875, "resample": 3,
        "do_rescale": false, "image_mean": [127.0, 127.0, 127.0], "image_std": [128.0, 128.0, 128.0]
    });
    std::fs::write(
        dir.join("preprocessor_config.json"),
        preprocessor.to_string(),
    )
    .unwrap();
}

fn tiny_vit_config() -> serde_json::Value {
    json!({
        "model_type": "vit", "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu",
        "layer_norm_eps": 1e-12, "image_size": 32, "patch_size": 8, "num_channels": 3,
        "qkv_bias": true, "id2label": id2label()
    })
}

/// A Hugging Face `ViTForImageClassification` folder with random weights,
/// named as the hub's checkpoints are (`vit.…`, `classifier`).
fn write_vit(dir: &Path) {
    let config: vit::Config = serde_json::from_value(tiny_vit_config()).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    vit::Model::new(&config, LABELS.len(), vb).unwrap();
    varmap.save(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("config.json"), tiny_vit_config().to_string()).unwrap();
    let preprocessor = json!({
        "image_processor_type": "ViTImageProcessor", "do_resize": true,
        "size": {"height": 32, "width": 32}, "resample": 2, "do_rescale": true,
        "rescale_factor": 0.00392156862745098, "do_normalize": true,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]
    });
    std::fs::write(
        dir.join("preprocessor_config.json"),
        preprocessor.to_string(),
    )
    .unwrap();
}

fn bundle(dir: &Path, write: fn(&Path), settings: toml::Table) -> Bundle {
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    write(&source);
    let out = dir.join("bundle");
    test_bundle(&source, &out, KIND.name, KIND.required_files, settings)
}

fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn image_input(bytes: Vec<u8>, mime: &str) -> Values {
    Values::from([("image".to_string(), Value::Media(Media::new(mime, bytes)))])
}

fn label(outputs: &Values) -> &wick_types::Label {
    match outputs.get("label") {
        Some(Value::Label(label)) => label,
        other => panic!("no label in {other:?}"),
    }
}

#[test]
fn an_efficientnet_bundle_classifies_every_format_into_its_top_k_labels() {
    let dir = tempfile::tempdir().unwrap();
    let settings = toml::toml! { top_k = 2 };
    let bundle = bundle(dir.path(), write_efficientnet, settings);
    let task = (KIND.load)(&bundle, &Device::Cpu).unwrap();
    let signature = &task.signatures()[0];
    assert_eq!(signature.name, "classify");
    assert_eq!(
        signature.outputs[0].kind,
        wick_types::Kind::Label { top_k: Some(2) }
    );
    let formats = [
        (ImageFormat::Png, "image/png"),
        (ImageFormat::Jpeg, "image/jpeg"),
        (ImageFormat::WebP, "image/webp"),
        (ImageFormat::Gif, "image/gif"),
        (ImageFormat::Bmp, "image/bmp"),
    ];
    let batch: Vec<Values> = formats
        .iter()
        .map(|(format, mime)| image_input(encoded(90, 70, *format), mime))
        .collect();
    let outputs = task.predict("classify", &batch).unwrap();
    assert_eq!(outputs.len(), formats.len());
    for outputs in &outputs {
        let label = label(outputs);
        assert_eq!(label.confidences.len(), 2);
        assert_eq!(label.label, label.confidences[0].label);
        assert!(label.confidences[0].confidence >= label.confidences[1].confidence);
        assert!(LABELS.contains(&label.label.as_str()));
    }
    // One image alone gets what it got in the batch.
    let alone = task.predict("classify", &batch[..1]).unwrap();
    let (a, b) = (label(&alone[0]), label(&outputs[0]));
    assert_eq!(a.label, b.label);
    assert!((a.confidences[0].confidence - b.confidences[0].confidence).abs() < 1e-5);
}

#[test]
fn a_hugging_face_vit_folder_loads_and_classifies() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path(), write_vit, toml::Table::new());
    let task = (KIND.load)(&bundle, &Device::Cpu).unwrap();
    let image = image_input(encoded(50, 40, ImageFormat::Png), "image/png");
    let outputs = task.predict("classify", &[image]).unwrap();
    let label = label(&outputs[0]);
    // Three labels, the default top 5 capped at what there is.
    assert_eq!(label.confidences.len(), 3);
    let total: f64 = label.confidences.iter().map(|c| c.confidence).sum();
    assert!((total - 1.0).abs() < 1e-5, "probabilities sum to {total}");
}

#[test]
fn bad_images_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let settings = toml::toml! { max_image_pixels = 10_000 };
    let bundle = bundle(dir.path(), write_efficientnet, settings);
    let task = (KIND.load)(&bundle, &Device::Cpu).unwrap();
    let png = encoded(90, 70, ImageFormat::Png);
    let cases = [
        (b"just some text, named cat.png".to_vec(), "is not an image"),
        (png[..png.len() / 2].to_vec(), "decoded"),
        (
            encoded(200, 100, ImageFormat::Png),
            "the limit is 10000 pixels",
        ),
    ];
    for (bytes, message) in cases {
        let error = match task.predict("classify", &[image_input(bytes, "image/png")]) {
            Err(error) => error,
            Ok(outputs) => panic!("accepted: {outputs:?}"),
        };
        match &error {
            Error::InvalidInput(field) => {
                assert_eq!(field.field, "image");
                assert!(field.message.contains(message), "{}", field.message);
            }
            other => panic!("expected an invalid input, got {other}"),
        }
    }
}

#[test]
fn settings_and_configs_that_cannot_serve_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let none = bundle(dir.path(), write_efficientnet, toml::toml! { top_k = 0 });
    let error = (KIND.load)(&none, &Device::Cpu).err().unwrap();
    assert!(error.to_string().contains("top_k"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let no_labels = bundle(
        dir.path(),
        |dir| {
            write_efficientnet(dir);
            let config = json!({"model_type": "efficientnet-lite", "image_size": 64});
            std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        },
        toml::Table::new(),
    );
    let error = (KIND.load)(&no_labels, &Device::Cpu).err().unwrap();
    assert!(error.to_string().contains("id2label"), "{error}");
}
