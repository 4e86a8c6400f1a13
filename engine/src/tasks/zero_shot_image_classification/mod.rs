//! Task `zero-shot-image-classification`: an image and candidate labels
//! in, the labels scored out — classes chosen when the request is made,
//! not when the model was trained (CLIP, SigLIP).
//!
//! Each label is put into the bundle's hypothesis template ("This is a
//! photo of {}.") and read by the text tower; the image by the image tower,
//! preprocessed as `preprocessor_config.json` says. Scores are the scaled
//! cosine similarities through a softmax over the labels (CLIP) or a
//! sigmoid each (SigLIP), as transformers' pipeline gives them. A second
//! endpoint gives the raw image-text similarities.
//!
//! - `settings`: the bundle's `[settings]`;
//! - `towers`: the two towers, tokenizer and preprocessing;
//! - `endpoints`: the endpoints, their signatures, and the `Task` impl.

mod endpoints;
mod settings;
mod towers;

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;

use crate::bundle::Bundle;
use crate::error::Result;
use crate::task::{AnyTask, TaskDefaults, TaskKind};

pub use endpoints::{ZeroShotEndpoint, ZeroShotImageClassification};
pub use settings::{DEFAULT_TEMPLATE, Settings};
pub use towers::{DualEncoder, Family};

pub const KIND: TaskKind = TaskKind {
    name: "zero-shot-image-classification",
    required_files: &[
        "config.json",
        "preprocessor_config.json",
        "tokenizer.json",
        "model.safetensors",
    ],
    optional_files: &[],
    defaults,
    derive: None,
    load,
};

fn defaults(_source: &Path) -> Result<TaskDefaults> {
    let mut settings = toml::Table::new();
    settings.insert("hypothesis_template".into(), DEFAULT_TEMPLATE.into());
    Ok(TaskDefaults {
        settings,
        examples: Default::default(),
    })
}

fn load(bundle: &Bundle, device: &Device) -> Result<Arc<dyn AnyTask>> {
    let settings: Settings = bundle.settings()?;
    settings
        .check()
        .map_err(|message| bundle.load_error(message))?;
    let towers = DualEncoder::from_bundle(bundle, device)?;
    tracing::info!(family = ?towers.family, "zero-shot image classifier loaded");
    Ok(Arc::new(ZeroShotImageClassification::new(towers, settings)))
}
