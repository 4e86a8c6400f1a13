//! `decode_image` and `decode_audio`: a Demo's files decoded as Wick's own
//! tasks decode them, refusals as messages.

use wick::{Audio, Image, decode_audio, decode_image};

#[test]
fn an_image_input_becomes_rgb_pixels_and_garbage_a_message() {
    let mut png = Vec::new();
    image::RgbImage::from_pixel(3, 2, image::Rgb([200, 10, 30]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let pixels = decode_image(&Image::new("image/png", png)).unwrap();
    assert_eq!(pixels.dimensions(), (3, 2));
    assert_eq!(pixels.get_pixel(2, 1).0, [200, 10, 30]);

    let refused = decode_image(&Image::new("image/png", b"not a picture".to_vec()));
    assert!(refused.is_err());
}

/// A mono 16-bit PCM WAV of `samples` at `rate` Hz.
fn wav(rate: u32, samples: &[i16]) -> Vec<u8> {
    let data = (samples.len() * 2) as u32;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.to_le_bytes());
    for sample in samples {
        bytes.extend_from_slice(&sample.to_le_bytes());
    }
    bytes
}

#[test]
fn an_audio_input_becomes_samples_at_the_asked_rate_and_a_bad_one_a_message() {
    // One second at 8 kHz, asked for at 16 kHz: twice the samples.
    let tone: Vec<i16> = (0..8000)
        .map(|i| ((i as f32 * 0.1).sin() * 8000.0) as i16)
        .collect();
    let samples = decode_audio(&Audio::new("audio/wav", wav(8000, &tone)), 16_000).unwrap();
    assert!(
        (15_900..=16_100).contains(&samples.len()),
        "{} samples",
        samples.len()
    );
    assert!(samples.iter().any(|s| s.abs() > 0.1));

    let refused = decode_audio(&Audio::new("audio/wav", wav(0, &tone)), 16_000);
    assert!(refused.is_err());
}
