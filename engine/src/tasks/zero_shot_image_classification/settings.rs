//! A zero-shot-image-classification bundle's `[settings]`.

use serde::Deserialize;

use crate::tasks::image_input::{
    ImageLimits, default_max_bytes, default_max_decode_bytes, default_max_pixels,
};

pub const DEFAULT_TEMPLATE: &str = "This is a photo of {}.";

/// `[settings]` of a zero-shot-image-classification bundle.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The sentence each candidate label is put into before the text tower
    /// reads it; `{}` marks the label (transformers' pipeline default).
    #[serde(default = "default_template")]
    pub hypothesis_template: String,
    /// Most candidate labels (or texts) one request may give.
    #[serde(default = "default_max_labels")]
    pub max_labels: usize,
    /// Largest file accepted per image, in bytes.
    #[serde(default = "default_max_bytes")]
    pub max_image_bytes: usize,
    /// Most pixels an image may have (read from its header first).
    #[serde(default = "default_max_pixels")]
    pub max_image_pixels: u64,
    /// Most bytes one image may take to decode (see image-classification).
    #[serde(default = "default_max_decode_bytes")]
    pub max_image_decode_bytes: u64,
}

impl Settings {
    /// Settings that cannot serve are refused at load.
    pub fn check(&self) -> Result<(), String> {
        if self.hypothesis_template.matches("{}").count() != 1 {
            return Err(format!(
                "[settings] hypothesis_template must hold `{{}}` once, where the label goes; got {:?}",
                self.hypothesis_template
            ));
        }
        if self.max_labels == 0 {
            return Err("[settings] max_labels must be at least 1".into());
        }
        self.image_limits().check()
    }

    pub fn image_limits(&self) -> ImageLimits {
        ImageLimits {
            max_bytes: self.max_image_bytes,
            max_pixels: self.max_image_pixels,
            max_decode_bytes: self.max_image_decode_bytes,
        }
    }

    /// The sentence the text tower reads for a label.
    pub fn hypothesis(&self, label: &str) -> String {
        self.hypothesis_template.replacen("{}", label, 1)
    }
}

fn default_template() -> String {
    DEFAULT_TEMPLATE.into()
}

fn default_max_labels() -> usize {
    64
}
