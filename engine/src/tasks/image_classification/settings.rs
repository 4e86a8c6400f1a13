//! An image-classification bundle's `[settings]`.

use serde::Deserialize;

use crate::tasks::image_input::{
    ImageLimits, default_max_bytes, default_max_decode_bytes, default_max_pixels,
};

pub const DEFAULT_TOP_K: usize = 5;

/// `[settings]` of an image-classification bundle.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Labels returned per image, most likely first (all of them when the
    /// model has fewer).
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Largest file accepted per image, in bytes (the API answers 422
    /// past it; the body limit applies to the whole request).
    #[serde(default = "default_max_bytes")]
    pub max_image_bytes: usize,
    /// Most pixels an image may have (width × height, read from its header
    /// before decoding): a small file can claim a huge image.
    #[serde(default = "default_max_pixels")]
    pub max_image_pixels: u64,
    /// Most bytes one image may take to decode: its pixels times the bytes
    /// each takes in the file's format (16-bit RGBA: 8), the RGB copy and
    /// the metadata. Every decode also waits for room in the process-wide
    /// budget (`wick serve --decode-memory-mb`).
    #[serde(default = "default_max_decode_bytes")]
    pub max_image_decode_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            top_k: DEFAULT_TOP_K,
            max_image_bytes: default_max_bytes(),
            max_image_pixels: default_max_pixels(),
            max_image_decode_bytes: default_max_decode_bytes(),
        }
    }
}

impl Settings {
    /// Settings that cannot serve are refused at load; `top_k` is capped
    /// at the model's labels.
    pub fn check(&mut self, labels: usize) -> Result<(), String> {
        if self.top_k == 0 {
            return Err("[settings] top_k must be at least 1".into());
        }
        self.top_k = self.top_k.min(labels);
        self.image_limits().check()
    }

    pub fn image_limits(&self) -> ImageLimits {
        ImageLimits {
            max_bytes: self.max_image_bytes,
            max_pixels: self.max_image_pixels,
            max_decode_bytes: self.max_image_decode_bytes,
        }
    }
}

fn default_top_k() -> usize {
    DEFAULT_TOP_K
}
