//! An image as a task's input: the limits a bundle sets on it, its field
//! in a signature, and its decoding when a request arrives (on the
//! caller's side, off the model's worker). What the image tasks share.

use image::RgbImage;
use wick_types::{Field, FieldError, Kind, Value, Values};

use crate::error::{Error, Result};
use crate::images::{self, DecodeError, DecodeLimits, METADATA_BYTES};

/// The `[settings]` that bound one image, as each image task reads them.
#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    /// Largest file accepted, in bytes (the API answers 422 past it).
    pub max_bytes: usize,
    /// Most pixels (width × height, read from the header before decoding).
    pub max_pixels: u64,
    /// Most bytes one decode may take.
    pub max_decode_bytes: u64,
}

impl ImageLimits {
    /// Limits that cannot serve are refused at load.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.max_bytes == 0 || self.max_pixels == 0 {
            return Err("[settings] max_image_bytes and max_image_pixels must be positive".into());
        }
        if self.max_decode_bytes <= METADATA_BYTES {
            return Err(format!(
                "[settings] max_image_decode_bytes must be above {METADATA_BYTES} (the metadata's share)"
            ));
        }
        Ok(())
    }

    /// The image input of an endpoint's signature.
    pub fn field(&self, name: &str) -> Field {
        Field::new(
            name,
            Kind::Image {
                max_bytes: Some(self.max_bytes),
            },
        )
        .description(&format!(
            "{} photo; at most {} megapixels.",
            images::FORMATS,
            self.max_pixels / 1_000_000
        ))
    }

    /// Decodes input `name`, upright: a file that is not an image, or past
    /// the limits, is the caller's error (422); a full decode budget is
    /// `Busy` (503).
    pub fn decode(&self, inputs: &Values, name: &str) -> Result<RgbImage> {
        let media = inputs
            .get(name)
            .and_then(Value::as_media)
            .ok_or_else(|| Error::Inference(format!("input `{name}` did not reach the task")))?;
        let limits = DecodeLimits {
            max_pixels: self.max_pixels,
            max_bytes: self.max_decode_bytes,
        };
        images::decode(&media.bytes, limits).map_err(|error| match error {
            DecodeError::Refused(message) => Error::InvalidInput(FieldError {
                field: name.into(),
                message,
            }),
            DecodeError::Busy => Error::Busy(
                "other images are being decoded and hold this server's decode memory".into(),
            ),
        })
    }
}

/// 10 MiB: a full-resolution phone photo (the server's default body limit
/// follows, at 13.4 MiB).
pub fn default_max_bytes() -> usize {
    10 << 20
}

/// 50 megapixels.
pub fn default_max_pixels() -> u64 {
    50_000_000
}

/// 400 MB: 50 megapixels of 8-bit RGBA and its RGB copy fit; 7000 × 7000
/// pixels of 16-bit RGBA (555 MB) do not.
pub fn default_max_decode_bytes() -> u64 {
    400_000_000
}
