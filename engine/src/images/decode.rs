//! Decoding an image file without trusting it: the header is read first,
//! and an image whose claimed size is past the limit is refused before any
//! pixel is decoded (a 100 KB file can claim 30,000 × 30,000 pixels: 2.7 GB
//! of RGB). The cost of a decode is its pixels times the bytes each takes
//! in the file's own format (16-bit RGBA is 8), plus the RGB copy and the
//! metadata; past the per-image limit it is refused, and within it the
//! bytes are reserved from the process-wide budget (`memory::DECODING`)
//! before the decoder allocates them. Metadata (an ICC profile, text) may
//! take at most `METADATA_BYTES`, however well it compresses. PNG, JPEG,
//! WebP, GIF (the first frame) and BMP decode; EXIF orientation is applied.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{ColorType, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::memory::{DECODING, MemoryBudget, Refusal};

/// What an image may cost to decode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeLimits {
    /// Most pixels (width × height) an image may claim.
    pub max_pixels: u64,
    /// Most bytes its decode may take: the pixels in the file's own
    /// format, the RGB copy and the metadata.
    pub max_bytes: u64,
}

/// Why an image was not decoded.
#[derive(Debug, PartialEq)]
pub enum DecodeError {
    /// The file itself: not an image, damaged, or past a limit. A
    /// message for the caller.
    Refused(String),
    /// Other decodes hold the process's decode memory: retry shortly.
    Busy,
}

impl From<String> for DecodeError {
    fn from(message: String) -> Self {
        DecodeError::Refused(message)
    }
}

/// The formats Wick decodes, for messages.
pub const FORMATS: &str = "PNG, JPEG, WebP, GIF or BMP";

/// Most bytes an image's metadata (ICC profile, text chunks) may unpack
/// to: a 8 MB PNG whose ICC profile is a deflate bomb unpacked to 480 MB
/// when the decoder's only cap was the image's own size. (The PNG decoder
/// drops a profile past the cap and decodes the pixels.)
pub const METADATA_BYTES: u64 = 16 << 20;

/// Decodes an image file to upright RGB, or says why it cannot.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, DecodeError> {
    decode_within(bytes, limits, &DECODING)
}

fn decode_within(
    bytes: &[u8],
    limits: DecodeLimits,
    budget: &MemoryBudget,
) -> Result<RgbImage, DecodeError> {
    // `max_alloc` caps what the decoder allocates besides the image (for
    // PNG: its metadata) and, for GIF, a frame's buffer too.
    let reader = |max_alloc: u64| -> Result<ImageReader<Cursor<&[u8]>>, String> {
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("cannot be read: {e}"))?;
        let mut decoder_limits = Limits::default();
        decoder_limits.max_alloc = Some(max_alloc);
        reader.limits(decoder_limits);
        Ok(reader)
    };
    match reader(METADATA_BYTES)?.format() {
        // The JPEG decoder fills a cut-off file with grey and says nothing.
        Some(ImageFormat::Jpeg) if !jpeg_is_whole(bytes) => {
            return Err(DecodeError::Refused(
                "could not be decoded (a damaged or truncated file?): \
                 the JPEG ends before its image does"
                    .into(),
            ));
        }
        Some(
            ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::WebP
            | ImageFormat::Gif
            | ImageFormat::Bmp,
        ) => {}
        Some(other) => {
            return Err(format!("is a {other:?} image; Wick decodes {FORMATS} images").into());
        }
        None => return Err(format!("is not an image ({FORMATS} expected)").into()),
    }
    // The header and metadata alone first, under the metadata cap: a
    // claimed size past the limit is refused before a decoder allocates
    // anything for the pixels.
    let mut header = reader(METADATA_BYTES)?
        .into_decoder()
        .map_err(|e| format!("is not a readable image: {e}"))?;
    let (width, height) = header.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(format!(
            "is {width} × {height} pixels; the limit is {} pixels",
            limits.max_pixels
        )
        .into());
    }
    if pixels == 0 {
        return Err("has no pixels".to_string().into());
    }
    let orientation = header.orientation().unwrap_or(Orientation::NoTransforms);
    let color = header.color_type();
    let cost = decode_cost(header.total_bytes(), color, pixels, orientation);
    drop(header);
    if cost > limits.max_bytes {
        return Err(format!(
            "is {width} × {height} pixels of {color:?} ({} bytes a pixel): {} MB to decode; \
             the limit is {} MB",
            color.bytes_per_pixel(),
            cost.div_ceil(1_000_000),
            limits.max_bytes / 1_000_000
        )
        .into());
    }
    let _reserved = budget.reserve(cost).map_err(|refusal| match refusal {
        Refusal::Busy => DecodeError::Busy,
        Refusal::TooLarge { total, .. } => DecodeError::Refused(format!(
            "would take {} MB to decode; this server decodes at most {} MB at once",
            cost.div_ceil(1_000_000),
            total / 1_000_000
        )),
    })?;
    let decoder = reader(cost)?
        .into_decoder()
        .map_err(|e| format!("is not a readable image: {e}"))?;
    let mut image = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| format!("could not be decoded (a damaged or truncated file?): {e}"))?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// What decoding takes: the pixels in the file's format, a turned copy
/// when the orientation turns it, the RGB copy unless it is RGB already,
/// and the metadata.
fn decode_cost(native: u64, color: ColorType, pixels: u64, orientation: Orientation) -> u64 {
    let turned = if orientation == Orientation::NoTransforms {
        0
    } else {
        native
    };
    let rgb = if color == ColorType::Rgb8 {
        0
    } else {
        3 * pixels
    };
    native
        .saturating_add(turned)
        .saturating_add(rgb)
        .saturating_add(METADATA_BYTES)
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
        max_bytes: 64 << 20,
    };

    /// The message of a refusal.
    fn refused(decoded: Result<RgbImage, DecodeError>) -> String {
        match decoded {
            Err(DecodeError::Refused(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

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
        let error = refused(decode(&bomb, LIMITS));
        assert!(error.contains("30000 × 30000 pixels"), "{error}");
        let text = refused(decode(b"hello, I am not an image", LIMITS));
        assert!(text.contains("is not an image"), "{text}");
        let whole = png(64, 64);
        let truncated = refused(decode(&whole[..whole.len() / 2], LIMITS));
        assert!(truncated.contains("decoded"), "{truncated}");
        let image = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 9]));
        let mut jpeg = Cursor::new(Vec::new());
        image.write_to(&mut jpeg, ImageFormat::Jpeg).unwrap();
        let jpeg = jpeg.into_inner();
        assert!(decode(&jpeg, LIMITS).is_ok());
        let cut = refused(decode(&jpeg[..jpeg.len() * 2 / 3], LIMITS));
        assert!(cut.contains("truncated"), "{cut}");
    }

    #[test]
    fn the_cost_counts_the_bytes_of_each_pixel_in_the_files_format() {
        let rgb = png(100, 100);
        let rgba16 = {
            let image = image::ImageBuffer::<image::Rgba<u16>, _>::from_pixel(
                100,
                100,
                image::Rgba([1, 2, 3, 4]),
            );
            let mut out = Cursor::new(Vec::new());
            image.write_to(&mut out, ImageFormat::Png).unwrap();
            out.into_inner()
        };
        // Room for 100 × 100 RGB (3 bytes a pixel), not for 16-bit RGBA
        // (8 bytes, and the RGB copy).
        let limits = DecodeLimits {
            max_pixels: 1_000_000,
            max_bytes: METADATA_BYTES + 100 * 100 * 5,
        };
        assert!(decode(&rgb, limits).is_ok());
        let error = refused(decode(&rgba16, limits));
        assert!(error.contains("Rgba16 (8 bytes a pixel)"), "{error}");
    }

    /// The decoder gives up on such a profile at the cap and decodes the
    /// pixels without it; that the cap bounds the memory is measured over
    /// HTTP (`server/tests/hardening.rs`: the process grew 480 MB before).
    #[test]
    fn metadata_that_unpacks_past_its_cap_is_dropped() {
        // A 1 × 1 PNG whose ICC profile is 64 MiB of zeros, deflated.
        let mut profile = b"bomb\0\0".to_vec();
        let mut deflated = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut deflated, &vec![0u8; 64 << 20]).unwrap();
        profile.extend(deflated.finish().unwrap());
        assert!(profile.len() < 1 << 20, "{} bytes", profile.len());
        let plain = png(1, 1);
        let mut bomb = plain[..33].to_vec();
        bomb.extend((profile.len() as u32).to_be_bytes());
        let mut chunk = b"iCCP".to_vec();
        chunk.extend(&profile);
        bomb.extend(&chunk);
        bomb.extend(crc32(&chunk).to_be_bytes());
        bomb.extend(&plain[33..]);
        let image = decode(&bomb, LIMITS).unwrap();
        assert_eq!(image.dimensions(), (1, 1));
    }

    #[test]
    fn a_spent_budget_makes_a_decode_wait_then_busy() {
        let wait = std::time::Duration::from_millis(50);
        let budget = MemoryBudget::waiting(METADATA_BYTES * 2, wait);
        let held = budget.reserve(METADATA_BYTES + 1).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            decode_within(&png(10, 10), LIMITS, &budget).err(),
            Some(DecodeError::Busy)
        );
        assert!(started.elapsed() >= wait);
        drop(held);
        assert!(decode_within(&png(10, 10), LIMITS, &budget).is_ok());
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
