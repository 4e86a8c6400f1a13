//! Decoding an image file without trusting it: the header is read first,
//! and an image whose claimed size is past the limit is refused before any
//! pixel is decoded (a 100 KB file can claim 30,000 × 30,000 pixels: 2.7 GB
//! of RGB); the decoders get an allocation cap besides. PNG, JPEG, WebP,
//! GIF (the first frame) and BMP decode; EXIF orientation is applied.

use std::io::Cursor;

use image::{ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// What an image may cost to decode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeLimits {
    /// Most pixels (width × height) an image may claim.
    pub max_pixels: u64,
}

/// The formats Wick decodes, for messages.
pub const FORMATS: &str = "PNG, JPEG, WebP, GIF or BMP";

/// Decodes an image file to upright RGB, or says why it cannot.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, String> {
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("cannot be read: {e}"))
    };
    match reader()?.format() {
        // The JPEG decoder fills a cut-off file with grey and says nothing.
        Some(ImageFormat::Jpeg) if !jpeg_is_whole(bytes) => {
            return Err("could not be decoded (a damaged or truncated file?): \
                        the JPEG ends before its image does"
                .into());
        }
        Some(
            ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::WebP
            | ImageFormat::Gif
            | ImageFormat::Bmp,
        ) => {}
        Some(other) => {
            return Err(format!(
                "is a {other:?} image; Wick decodes {FORMATS} images"
            ));
        }
        None => return Err(format!("is not an image ({FORMATS} expected)")),
    }
    // The header alone first: a claimed size past the limit is refused
    // before a decoder allocates anything for it.
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|e| format!("is not a readable image: {e}"))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(format!(
            "is {width} × {height} pixels; the limit is {} pixels",
            limits.max_pixels
        ));
    }
    if pixels == 0 {
        return Err("has no pixels".into());
    }
    let mut reader = reader()?;
    let mut decoder_limits = Limits::default();
    // RGBA at 4 bytes a pixel, twice over for the decoder's own buffers.
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(1 << 20));
    reader.limits(decoder_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| format!("is not a readable image: {e}"))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| format!("could not be decoded (a damaged or truncated file?): {e}"))?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// Whether a JPEG's last scan is followed by its end-of-image marker.
/// Inside a scan a 0xFF byte is always followed by 0x00 or a restart
/// marker, so neither marker can appear there by accident.
fn jpeg_is_whole(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    last_scan.is_some_and(|at| bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    const LIMITS: DecodeLimits = DecodeLimits {
        max_pixels: 1_000_000,
    };

    #[test]
    fn decoding_refuses_bombs_before_decoding_and_says_what_is_wrong() {
        let ok = decode(&png(30, 20), LIMITS).unwrap();
        assert_eq!(ok.dimensions(), (30, 20));
        // A PNG whose header claims 30,000 × 30,000 pixels (CRC mended).
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&30_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&30_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let error = decode(&bomb, LIMITS).unwrap_err();
        assert!(error.contains("30000 × 30000 pixels"), "{error}");
        let text = decode(b"hello, I am not an image", LIMITS).unwrap_err();
        assert!(text.contains("is not an image"), "{text}");
        let whole = png(64, 64);
        let truncated = decode(&whole[..whole.len() / 2], LIMITS).unwrap_err();
        assert!(truncated.contains("decoded"), "{truncated}");
        let image = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 9]));
        let mut jpeg = Cursor::new(Vec::new());
        image.write_to(&mut jpeg, ImageFormat::Jpeg).unwrap();
        let jpeg = jpeg.into_inner();
        assert!(decode(&jpeg, LIMITS).is_ok());
        let cut = decode(&jpeg[..jpeg.len() * 2 / 3], LIMITS).unwrap_err();
        assert!(cut.contains("truncated"), "{cut}");
    }

    #[test]
    fn exif_orientation_turns_the_image_upright() {
        // A 2 × 1 JPEG, red then blue, tagged "rotate 90° clockwise"
        // (orientation 6): upright it is 1 wide and 2 tall, red on top.
        let image = RgbImage::from_fn(16, 8, |x, _| {
            if x < 8 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        });
        let mut jpeg = Cursor::new(Vec::new());
        image.write_to(&mut jpeg, ImageFormat::Jpeg).unwrap();
        let jpeg = with_exif_orientation(jpeg.into_inner(), 6);
        let upright = decode(&jpeg, LIMITS).unwrap();
        assert_eq!(upright.dimensions(), (8, 16));
        let top = upright.get_pixel(4, 2);
        let bottom = upright.get_pixel(4, 13);
        assert!(top[0] > 200 && top[2] < 60, "top {top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "bottom {bottom:?}");
    }

    /// CRC-32 (IEEE), as PNG chunks carry it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// Inserts an APP1 EXIF segment with one Orientation tag after SOI.
    fn with_exif_orientation(jpeg: Vec<u8>, orientation: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // big-endian, IFD at 8
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // one value
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut segment = b"Exif\0\0".to_vec();
        segment.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((segment.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&segment);
        out.extend_from_slice(&jpeg[2..]);
        out
    }
}
