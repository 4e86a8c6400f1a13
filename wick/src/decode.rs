//! The files a `Demo`'s endpoints receive, decoded as Wick's own tasks
//! decode them: sizes checked before any pixel or sample is unpacked, so
//! an image or audio bomb is a refusal, not an out-of-memory kill.

use crate::{Audio, Image};

/// Most pixels `decode_image` takes (a 40-megapixel photo).
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;
/// Most bytes one image's decode may hold (its pixels in the file's own
/// format, the RGB copy, the metadata).
pub const MAX_IMAGE_DECODE_BYTES: u64 = 400 << 20;
/// Most seconds of audio `decode_audio` takes.
pub const MAX_AUDIO_SECONDS: f64 = 600.0;

/// An image input as upright RGB pixels (its EXIF orientation applied):
/// PNG, JPEG, WebP, GIF or BMP. Refused, with a message for the caller,
/// when it is none of them, is damaged, or is past the limits above.
pub fn decode_image(image: &Image) -> Result<image::RgbImage, String> {
    let limits = wick_engine::images::DecodeLimits {
        max_pixels: MAX_IMAGE_PIXELS,
        max_bytes: MAX_IMAGE_DECODE_BYTES,
    };
    wick_engine::images::decode(image.bytes(), limits).map_err(|error| match error {
        wick_engine::images::DecodeError::Refused(message) => message,
        wick_engine::images::DecodeError::Busy => {
            "other images are being decoded: retry shortly".to_string()
        }
    })
}

/// An audio input as mono samples at `rate` Hz (WAV, FLAC, MP3 or Ogg
/// Vorbis, up to `MAX_AUDIO_SECONDS`). Refused, with a message for the
/// caller, when it is none of them, is damaged or too long.
pub fn decode_audio(audio: &Audio, rate: u32) -> Result<Vec<f32>, String> {
    let clip = wick_engine::audio::decode(audio.bytes(), MAX_AUDIO_SECONDS)?;
    wick_engine::audio::resample(&clip, rate)
}
