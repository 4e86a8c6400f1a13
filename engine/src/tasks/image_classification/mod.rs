//! Task `image-classification`: an image in, the most likely labels out
//! (Gradio's Label: the best label and the top k with their
//! probabilities).
//!
//! The image is decoded, turned upright and checked for size on the
//! caller's side (`prepare`, off the model's worker), then cropped,
//! resized and normalised as the bundle's `preprocessor_config.json` says;
//! a batch of them is one forward pass, then a softmax and the top k of the
//! labels in `config.json`'s `id2label`.
//!
//! Networks (`config.json`'s `model_type`): `efficientnet-lite`
//! (`models::efficientnet_lite`), `vit` (candle-transformers' ViT, from
//! a Hugging Face `ViTForImageClassification` folder), and `resnet`,
//! `convnext`, `dinov2` (`models::{resnet, convnext, dinov2}`, from their
//! `*ForImageClassification` folders).
//!
//! - `settings`: the bundle's `[settings]`;
//! - `classifier`: the network with its preprocessing and labels;
//! - `endpoints`: the endpoint, its signature, and the `Task` impl.

mod classifier;
mod endpoints;
mod settings;

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;

use crate::bundle::Bundle;
use crate::error::Result;
use crate::task::{AnyTask, TaskDefaults, TaskKind};

pub use classifier::{Classifier, Network};
pub use endpoints::{ImageClassification, ImageEndpoint};
pub use settings::Settings;

pub const KIND: TaskKind = TaskKind {
    name: "image-classification",
    required_files: &[
        "config.json",
        "preprocessor_config.json",
        "model.safetensors",
    ],
    optional_files: &[],
    defaults,
    derive: None,
    load,
};

fn defaults(_source: &Path) -> Result<TaskDefaults> {
    let mut settings = toml::Table::new();
    settings.insert("top_k".into(), (settings::DEFAULT_TOP_K as i64).into());
    Ok(TaskDefaults {
        settings,
        examples: Default::default(),
    })
}

fn load(bundle: &Bundle, device: &Device) -> Result<Arc<dyn AnyTask>> {
    let (classifier, settings) = Classifier::from_bundle(bundle, device)?;
    Ok(Arc::new(ImageClassification::new(classifier, settings)))
}

#[cfg(test)]
mod tests;
