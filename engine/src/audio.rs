//! Audio on its way into a speech model: any WAV, FLAC, MP3 or Ogg Vorbis
//! file (symphonia), any sample rate and channel count, decoded to mono
//! f32 samples and resampled to the model's rate (rubato's FFT resampler).
//! A clip longer than the caller allows is refused as soon as that is
//! known — from the container's header when it says, else while decoding —
//! so a long file is never decoded whole.

use std::io::Cursor;

use rubato::{FftFixedIn, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as AudioError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// The formats `decode` reads, for messages and docs.
pub const FORMATS: &str = "WAV, FLAC, MP3 or Ogg Vorbis";

/// One clip, mono, at its own rate.
#[derive(Debug)]
pub struct Clip {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

impl Clip {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// The sample rates taken: below 1 kHz no speech survives (and
/// resampling 600 samples at 1 Hz up to 16 kHz took 10 s and 350 MB), and
/// no recording format goes past 384 kHz.
pub const RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// Decodes `bytes` to mono samples, refusing a clip longer than
/// `max_seconds` or at a rate outside `RATES`. The error is a message for
/// the caller. A decoder that panics on a malformed file (symphonia
/// asserts on some header fields, a zero rate among them) is a refusal
/// like any other, never a failure of the server.
pub fn decode(bytes: &[u8], max_seconds: f64) -> Result<Clip, String> {
    check_wav_format(bytes)?;
    std::panic::catch_unwind(|| decode_unchecked(bytes, max_seconds)).unwrap_or_else(|_| {
        Err(format!(
            "not a {FORMATS} file the server can read (its header is malformed)"
        ))
    })
}

/// A WAV's format chunk, checked before the decoder sees it: symphonia
/// asserts on a zero rate, channel count or block size (a panic the
/// caller's request would otherwise reach). Other files pass unchecked.
fn check_wav_format(bytes: &[u8]) -> Result<(), String> {
    if bytes.get(..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Ok(());
    }
    let mut at = 12;
    while let Some(header) = bytes.get(at..at + 8) {
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if &header[..4] == b"fmt " {
            let fmt = bytes
                .get(at + 8..at + 8 + size.min(16))
                .filter(|fmt| fmt.len() == 16)
                .ok_or("the WAV's format chunk is cut short")?;
            let number = |from: usize, len: usize| {
                fmt[from..from + len]
                    .iter()
                    .rev()
                    .fold(0u32, |n, byte| n << 8 | u32::from(*byte))
            };
            let (channels, rate, block) = (number(2, 2), number(4, 4), number(12, 2));
            if !RATES.contains(&rate) {
                return Err(format!(
                    "the clip's sample rate is {rate} Hz; rates from {} to {} Hz are taken",
                    RATES.start(),
                    RATES.end()
                ));
            }
            if channels == 0 || block == 0 {
                return Err("the WAV's format chunk names no channels or no block size".into());
            }
            return Ok(());
        }
        at += 8 + size + size % 2;
    }
    Ok(())
}

fn decode_unchecked(bytes: &[u8], max_seconds: f64) -> Result<Clip, String> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| format!("not a {FORMATS} file the server can read ({e})"))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or("the file has no audio track")?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let sample_rate = params
        .sample_rate
        .ok_or("the audio track names no sample rate")?;
    if !RATES.contains(&sample_rate) {
        return Err(format!(
            "the clip's sample rate is {sample_rate} Hz; rates from {} to {} Hz are taken",
            RATES.start(),
            RATES.end()
        ));
    }
    let too_long = |seconds: f64| {
        format!("the clip is {seconds:.1} s long; at most {max_seconds:.0} s is taken")
    };
    if let Some(frames) = params.n_frames {
        let seconds = frames as f64 / f64::from(sample_rate);
        if seconds > max_seconds {
            return Err(too_long(seconds));
        }
    }
    let max_samples = (max_seconds * f64::from(sample_rate)).ceil() as usize;
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| format!("the audio codec is not one the server reads ({e})"))?;
    let mut samples = Vec::new();
    let mut buffer: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(AudioError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(AudioError::ResetRequired) => break,
            Err(e) => return Err(format!("the audio cannot be read: {e}")),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // A damaged packet is skipped, as players do.
            Err(AudioError::DecodeError(_)) => continue,
            Err(e) => return Err(format!("the audio cannot be decoded: {e}")),
        };
        let channels = decoded.spec().channels.count().max(1);
        let buffer = buffer
            .get_or_insert_with(|| SampleBuffer::new(decoded.capacity() as u64, *decoded.spec()));
        if buffer.capacity() < decoded.capacity() * channels {
            *buffer = SampleBuffer::new(decoded.capacity() as u64, *decoded.spec());
        }
        buffer.copy_interleaved_ref(decoded);
        // Mono: the mean of the channels.
        samples.extend(
            buffer
                .samples()
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        if samples.len() > max_samples {
            return Err(too_long(samples.len() as f64 / f64::from(sample_rate)));
        }
    }
    if samples.is_empty() {
        return Err("the file holds no audio samples".into());
    }
    Ok(Clip {
        samples,
        sample_rate,
    })
}

/// `clip` at `rate`, the same length in seconds.
pub fn resample(clip: &Clip, rate: u32) -> Result<Vec<f32>, String> {
    if clip.sample_rate == rate {
        return Ok(clip.samples.clone());
    }
    const CHUNK: usize = 1024;
    let failed = |e: &dyn std::fmt::Display| format!("the audio cannot be resampled: {e}");
    let mut resampler =
        FftFixedIn::<f32>::new(clip.sample_rate as usize, rate as usize, CHUNK, 2, 1)
            .map_err(|e| failed(&e))?;
    let expected =
        (clip.samples.len() as u64 * u64::from(rate) / u64::from(clip.sample_rate)) as usize;
    let delay = resampler.output_delay();
    let mut out = Vec::with_capacity(expected + delay + CHUNK);
    let mut chunks = clip.samples.chunks_exact(CHUNK);
    for chunk in chunks.by_ref() {
        let frames = resampler.process(&[chunk], None).map_err(|e| failed(&e))?;
        out.extend_from_slice(&frames[0]);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let frames = resampler
            .process_partial(Some(&[rest]), None)
            .map_err(|e| failed(&e))?;
        out.extend_from_slice(&frames[0]);
    }
    // Flush what the resampler still holds (its delay).
    while out.len() < expected + delay {
        let frames = resampler
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| failed(&e))?;
        if frames[0].is_empty() {
            break;
        }
        out.extend_from_slice(&frames[0]);
    }
    out.drain(..delay.min(out.len()));
    out.truncate(expected);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit PCM WAV of `samples` (interleaved) at `rate`.
    pub fn wav(samples: &[i16], rate: u32, channels: u16) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        out.extend_from_slice(&(channels * 2).to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    fn tone(rate: u32, seconds: f32, hz: f32) -> Vec<i16> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| ((i as f32 / rate as f32 * hz * std::f32::consts::TAU).sin() * 12000.0) as i16)
            .collect()
    }

    #[test]
    fn stereo_at_44_1_khz_becomes_mono_at_16_khz_of_the_same_length() {
        let mono = tone(44100, 1.5, 440.0);
        let stereo: Vec<i16> = mono.iter().flat_map(|&s| [s, s]).collect();
        let clip = decode(&wav(&stereo, 44100, 2), 30.0).unwrap();
        assert_eq!(clip.sample_rate, 44100);
        assert_eq!(clip.samples.len(), mono.len());
        let resampled = resample(&clip, 16000).unwrap();
        assert_eq!(resampled.len(), 24000);
        // A 440 Hz tone stays one: the same amplitude, and it crosses zero
        // 880 times a second.
        let peak = resampled.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((peak - 12000.0 / 32768.0).abs() < 0.02, "{peak}");
        let crossings = resampled[1000..17000]
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((878..=882).contains(&crossings), "{crossings}");
    }

    #[test]
    fn a_clip_over_the_limit_and_what_is_not_audio_are_refused() {
        let long = decode(&wav(&tone(8000, 3.0, 300.0), 8000, 1), 2.0);
        assert!(long.unwrap_err().contains("3.0 s long"));
        let error = decode(b"GIF89a not audio", 30.0).unwrap_err();
        assert!(error.contains("not a WAV"), "{error}");
    }

    #[test]
    fn rates_outside_what_speech_needs_are_refused_without_a_panic() {
        let samples = vec![100i16; 600];
        for rate in [0, 1, 999, 400_000] {
            let started = std::time::Instant::now();
            let error = decode(&wav(&samples, rate, 1), 30.0).unwrap_err();
            assert!(error.contains("sample rate"), "{rate} Hz: {error}");
            assert!(started.elapsed().as_millis() < 500, "{rate} Hz");
        }
        assert!(decode(&wav(&samples, 1000, 1), 30.0).is_ok());
        let error = decode(&wav(&samples, 16_000, 0), 30.0).unwrap_err();
        assert!(error.contains("no channels"), "{error}");
    }
}
