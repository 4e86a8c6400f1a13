//! Whisper (candle-transformers' model) with OpenAI's greedy decoding:
//! log-mel features of the whole clip (the bundle's mel filters), then
//! 30-second windows, each decoded with timestamp tokens under OpenAI's
//! timestamp rules; the timestamps cut the text into segments and say where
//! the next window starts. A window the model judges silent (`no speech`
//! likely and the text unlikely) gives no segment.

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{D, DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::whisper::{
    self, Config, HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE,
    model::{AudioEncoder, Whisper},
};
use tokenizers::Tokenizer;

use super::mel;
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::models::whisper_decoder::WhisperDecoder;

/// Seconds per timestamp step, and mel frames per encoder position.
const TIME_PRECISION: f64 = 0.02;
const FRAMES_PER_POSITION: usize = 2;
/// Most tokens sampled per window (half the decoder's context, as OpenAI).
const MAX_TOKENS: usize = 224;
/// The first timestamp is at most this many steps in (1 s).
const MAX_INITIAL_TIMESTAMP: u32 = 50;
const NO_SPEECH_THRESHOLD: f64 = 0.6;
const LOGPROB_THRESHOLD: f64 = -1.0;
/// A window whose every sample is quieter than this (-60 dBFS) holds no
/// speech: Whisper would hallucinate into it (30 s of digital silence came
/// out as "you"), so it is not decoded at all. Dither on 16-bit audio is
/// far below (-90 dBFS); quiet speech peaks far above.
const SILENCE: f32 = 0.001;

/// One piece of the transcript, with its place in the clip.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

pub struct Transcriber {
    encoder: Encoder,
    /// Ours: it caches keys and values (candle-transformers' does not).
    decoder: WhisperDecoder,
    config: Config,
    tokenizer: Tokenizer,
    filters: Vec<f32>,
    device: Device,
    tokens: SpecialTokens,
    /// Never sampled: the config's `suppress_tokens` and the special tokens.
    suppressed: Vec<u32>,
    /// Not sampled first: a blank and end-of-text.
    suppressed_at_start: Vec<u32>,
}

/// The packed encoder on CPUs with AVX-512, else candle-transformers'.
enum Encoder {
    #[cfg(target_arch = "x86_64")]
    Packed(crate::models::whisper_encoder::WhisperEncoder),
    Candle(AudioEncoder),
}

impl Encoder {
    fn forward(&mut self, features: &Tensor) -> Result<Tensor> {
        Ok(match self {
            #[cfg(target_arch = "x86_64")]
            Encoder::Packed(encoder) => encoder.forward_tensor(features)?,
            Encoder::Candle(encoder) => encoder.forward(features, true)?,
        })
    }
}

/// config.json: candle-transformers' `Config`, and the tokens never
/// sampled first, which it does not read.
#[derive(serde::Deserialize)]
struct FullConfig {
    #[serde(flatten)]
    config: Config,
    #[serde(default)]
    begin_suppress_tokens: Vec<u32>,
}

struct SpecialTokens {
    end_of_text: u32,
    start_of_transcript: u32,
    no_speech: u32,
    no_timestamps: u32,
    /// `<|0.00|>`: the first timestamp token; the others follow it.
    timestamp_begin: u32,
}

impl Transcriber {
    pub fn from_bundle(bundle: &Bundle, device: &Device) -> Result<Transcriber> {
        let fail = |message: String| Error::Load {
            model: bundle.manifest.name.clone(),
            message,
        };
        let path = bundle.required_file("config.json")?;
        let text = std::fs::read_to_string(&path).map_err(Error::io(path))?;
        let FullConfig {
            config,
            begin_suppress_tokens: suppressed_at_start,
        } = serde_json::from_str(&text).map_err(|e| fail(format!("config.json: {e}")))?;
        let path = bundle.required_file("tokenizer.json")?;
        let tokenizer =
            Tokenizer::from_file(&path).map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| fail(format!("tokenizer.json has no {token}")))
        };
        let no_timestamps = id(whisper::NO_TIMESTAMPS_TOKEN)?;
        let tokens = SpecialTokens {
            end_of_text: id(whisper::EOT_TOKEN)?,
            start_of_transcript: id(whisper::SOT_TOKEN)?,
            no_speech: id(whisper::NO_SPEECH_TOKENS[0])
                .or_else(|_| id(whisper::NO_SPEECH_TOKENS[1]))?,
            no_timestamps,
            timestamp_begin: no_timestamps + 1,
        };
        let mut suppressed = config.suppress_tokens.clone();
        suppressed.extend(tokens.start_of_transcript..=tokens.no_timestamps);
        let path = bundle.required_file("melfilters.bytes")?;
        let bytes = std::fs::read(&path).map_err(Error::io(path))?;
        let filters: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if filters.len() != config.num_mel_bins * (mel::N_FFT / 2 + 1) {
            return Err(fail(format!(
                "melfilters.bytes holds {} filter values, {} mel bins need {}",
                filters.len(),
                config.num_mel_bins,
                config.num_mel_bins * (mel::N_FFT / 2 + 1)
            )));
        }
        let weights = bundle.required_file("model.safetensors")?;
        // SAFETY: the file was just hashed against wick.toml and is not
        // written while served; mmap avoids a second copy in memory.
        let file = unsafe { MmapedSafetensors::new(&weights)? };
        let stored_in_f16 = file
            .get("model.decoder.embed_tokens.weight")
            .is_ok_and(|tensor| DType::try_from(tensor.dtype()).ok() == Some(DType::F16));
        let vb = VarBuilder::from_backend(Box::new(file), DType::F32, device.clone());
        let decoder = WhisperDecoder::load(vb.pp("model.decoder"), &config, stored_in_f16)
            .map_err(|e| fail(format!("weights: {e}")))?;
        #[cfg(target_arch = "x86_64")]
        let packed =
            crate::models::whisper_encoder::WhisperEncoder::load(vb.pp("model.encoder"), &config)
                .map_err(|e| fail(format!("weights: {e}")))?;
        #[cfg(not(target_arch = "x86_64"))]
        let packed: Option<AudioEncoder> = None;
        let encoder = match (packed, device.is_cpu()) {
            #[cfg(target_arch = "x86_64")]
            (Some(packed), true) => Encoder::Packed(packed),
            _ => {
                // candle-transformers loads its encoder only with its
                // decoder: that decoder is dropped at once.
                let Whisper { encoder, .. } = Whisper::load(&vb, config.clone())
                    .map_err(|e| fail(format!("weights: {e}")))?;
                Encoder::Candle(encoder)
            }
        };
        Ok(Transcriber {
            encoder,
            decoder,
            config,
            tokenizer,
            filters,
            device: device.clone(),
            tokens,
            suppressed,
            suppressed_at_start,
        })
    }

    /// The model's sample rate.
    pub const SAMPLE_RATE: u32 = SAMPLE_RATE as u32;

    /// Transcribes 16 kHz mono `samples`, handing each window's segments
    /// to `window` as they are decoded; stops early when it returns false.
    pub fn transcribe(
        &mut self,
        samples: &[f32],
        mut window: impl FnMut(&[Segment]) -> bool,
    ) -> Result<Vec<Segment>> {
        // The clip and 30 s of silence after it, as OpenAI pads it before
        // the features (their maximum is over both).
        let mut padded = samples.to_vec();
        padded.resize(samples.len() + N_SAMPLES, 0.0);
        let bins = self.config.num_mel_bins;
        let (mel, frames) = mel::log_mel(&padded, &self.filters, bins);
        let content_frames = samples.len() / HOP_LENGTH;
        let mut seek = 0;
        let mut all = Vec::new();
        while seek < content_frames {
            let size = N_FRAMES.min(content_frames - seek);
            // The window's frames, then zeros to 30 s, as OpenAI's
            // `pad_or_trim` makes the last window.
            let mut window_features = vec![0f32; bins * N_FRAMES];
            for (bin, row) in window_features.chunks_exact_mut(N_FRAMES).enumerate() {
                let from = bin * frames + seek;
                row[..size].copy_from_slice(&mel[from..from + size]);
            }
            let offset = seek as f64 * HOP_LENGTH as f64 / SAMPLE_RATE as f64;
            let heard =
                &samples[seek * HOP_LENGTH..((seek + size) * HOP_LENGTH).min(samples.len())];
            let (segments, advance) = if is_silent(heard) {
                (Vec::new(), size)
            } else {
                let features =
                    Tensor::from_vec(window_features, (1, bins, N_FRAMES), &self.device)?;
                self.window(&features, offset, size)?
            };
            seek += advance.max(1);
            all.extend(segments.iter().cloned());
            if !window(&segments) {
                break;
            }
        }
        Ok(all)
    }

    /// Decodes one window: its segments, and how many frames it used.
    fn window(
        &mut self,
        features: &Tensor,
        offset: f64,
        size: usize,
    ) -> Result<(Vec<Segment>, usize)> {
        let audio = self.encoder.forward(features)?;
        let mut state = self.decoder.window(&audio)?;
        let mut tokens = vec![self.tokens.start_of_transcript];
        let sample_begin = tokens.len();
        let mut sum_logprob = 0.0;
        let mut no_speech = 0.0;
        let mut fed = 0;
        for step in 0..MAX_TOKENS {
            let logits = self.decoder.step(&tokens[fed..], &mut state)?;
            fed = tokens.len();
            if step == 0 {
                let probabilities = candle_nn::ops::softmax(&logits, D::Minus1)?;
                no_speech = f64::from(
                    probabilities
                        .i(self.tokens.no_speech as usize)?
                        .to_scalar::<f32>()?,
                );
            }
            let mut logits = logits.to_vec1::<f32>()?;
            self.filter(&mut logits, &tokens[sample_begin..]);
            let (next, logprob) = best(&logits);
            sum_logprob += logprob;
            tokens.push(next);
            if next == self.tokens.end_of_text {
                break;
            }
        }
        let sampled = &tokens[sample_begin..];
        let avg_logprob = sum_logprob / sampled.len().max(1) as f64;
        if no_speech > NO_SPEECH_THRESHOLD && avg_logprob < LOGPROB_THRESHOLD {
            return Ok((Vec::new(), size));
        }
        self.segments(sampled, offset, size)
    }

    /// OpenAI's logit filters: suppressed tokens, then the timestamp rules.
    fn filter(&self, logits: &mut [f32], sampled: &[u32]) {
        let ts = self.tokens.timestamp_begin as usize;
        let eot = self.tokens.end_of_text as usize;
        let vocabulary = logits.len();
        for &id in &self.suppressed {
            suppress(logits, id as usize..id as usize + 1);
        }
        if sampled.is_empty() {
            for &id in &self.suppressed_at_start {
                suppress(logits, id as usize..id as usize + 1);
            }
        }
        let is_ts = |t: &u32| *t as usize >= ts;
        let last_was_ts = sampled.last().is_some_and(is_ts);
        let penultimate_was_ts = sampled.len() < 2 || is_ts(&sampled[sampled.len() - 2]);
        if last_was_ts {
            if penultimate_was_ts {
                // A pair closed a segment: text (or the end) follows.
                suppress(logits, ts..vocabulary);
            } else {
                // A segment is open: its end timestamp (or the end) follows.
                suppress(logits, 0..eot);
            }
        }
        if let Some(&last) = sampled.iter().rev().find(|t| is_ts(t)) {
            // Timestamps never go back; a new segment starts after the last.
            let floor = if last_was_ts && !penultimate_was_ts {
                last as usize
            } else {
                last as usize + 1
            };
            suppress(logits, ts..floor);
        }
        if sampled.is_empty() {
            // The first token is a timestamp, within the first second.
            suppress(logits, 0..ts);
            suppress(logits, ts + MAX_INITIAL_TIMESTAMP as usize + 1..vocabulary);
        }
        // When a timestamp is likelier than any one text token, sample one.
        let log_sum = log_sum_exp(logits);
        let timestamps = log_sum_exp(&logits[ts.min(vocabulary)..]) - log_sum;
        let best_text = logits[..ts.min(vocabulary)]
            .iter()
            .fold(f32::NEG_INFINITY, |m, &l| m.max(l))
            - log_sum;
        if timestamps > best_text {
            suppress(logits, 0..ts);
        }
    }

    /// The segments that the timestamps of `sampled` delimit, and the
    /// frames of the window they cover.
    fn segments(&self, sampled: &[u32], offset: f64, size: usize) -> Result<(Vec<Segment>, usize)> {
        let ts = self.tokens.timestamp_begin;
        let eot = self.tokens.end_of_text;
        let tokens: Vec<u32> = sampled.iter().copied().take_while(|&t| t != eot).collect();
        let is_ts = |t: u32| t >= ts;
        let time = |t: u32| offset + f64::from(t - ts) * TIME_PRECISION;
        let single_timestamp_ending = tokens.len() >= 2
            && !is_ts(tokens[tokens.len() - 2])
            && is_ts(tokens[tokens.len() - 1]);
        let mut segments = Vec::new();
        let mut start_of_next = None;
        let mut open: Option<(u32, Vec<u32>)> = None;
        for &token in &tokens {
            match (&mut open, is_ts(token)) {
                (None, true) => open = Some((token, Vec::new())),
                (None, false) => {}
                (Some((_, text)), false) => text.push(token),
                (Some((start, text)), true) => {
                    let (start, text) = (*start, std::mem::take(text));
                    segments.push(Segment {
                        start: time(start),
                        end: time(token),
                        text: self.decode(&text)?,
                    });
                    start_of_next = Some(token);
                    open = None;
                }
            }
        }
        let advance = if single_timestamp_ending || start_of_next.is_none() {
            // The window is done, or no pair closed: its text, if any, runs to its end.
            if let Some((start, text)) = open.filter(|(_, text)| !text.is_empty()) {
                segments.push(Segment {
                    start: time(start),
                    end: offset + size as f64 * HOP_LENGTH as f64 / SAMPLE_RATE as f64,
                    text: self.decode(&text)?,
                });
            }
            size
        } else {
            // Resume where the last complete segment ended.
            let last = start_of_next.unwrap_or(ts);
            ((last - ts) as usize * FRAMES_PER_POSITION).min(size)
        };
        segments.retain(|s| !s.text.trim().is_empty());
        Ok((segments, advance))
    }

    fn decode(&self, tokens: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(tokens, true)
            .map_err(|e| Error::Inference(format!("cannot decode tokens: {e}")))
    }
}

/// Makes the tokens of `range` (cut to the vocabulary) impossible.
/// Whether `samples` stay under the silence level throughout.
fn is_silent(samples: &[f32]) -> bool {
    samples.iter().all(|sample| sample.abs() < SILENCE)
}

fn suppress(logits: &mut [f32], range: std::ops::Range<usize>) {
    let end = range.end.min(logits.len());
    logits[range.start.min(end)..end].fill(f32::NEG_INFINITY);
}

/// The likeliest token and its log-probability.
fn best(logits: &[f32]) -> (u32, f64) {
    let (index, &value) = logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap_or((0, &0.0));
    (index as u32, f64::from(value - log_sum_exp(logits)))
}

fn log_sum_exp(values: &[f32]) -> f32 {
    let max = values.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
}
