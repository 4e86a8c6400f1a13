//! Images on their way into a vision model: decoded without trusting the
//! file and turned upright (`decode`), then cropped, resized and normalised
//! the way the model was trained, as a Hugging Face
//! `preprocessor_config.json` says (`preprocess`), with Pillow's resampling
//! (`resample`).

mod decode;
mod preprocess;
mod resample;

pub use decode::{DecodeError, DecodeLimits, FORMATS, METADATA_BYTES, decode};
pub use preprocess::{Channels, Preprocess, PreprocessorConfig, Size};
pub use resample::{Filter, resize_rgb};
