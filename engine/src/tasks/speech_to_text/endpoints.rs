//! The endpoint of `speech-to-text` — transcribe — its signature, and the
//! `Task` impl: the clip is decoded and resampled when the request arrives
//! (`prepare`), then transcribed on the model's worker, each window's
//! segments streamed to the caller as they are decoded.

use std::sync::Mutex;

use wick_types::{Endpoint, Field, FieldError, Kind, Value, Values};

use super::settings::Settings;
use super::transcriber::{Segment, Transcriber};
use crate::audio;
use crate::error::{Error, Result};
use crate::task::{Item, Prepared, Task};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpeechEndpoint {
    Transcribe,
}

pub struct SpeechToText {
    /// Whisper keeps its decoding state in the model: one request at a time.
    transcriber: Mutex<Transcriber>,
    settings: Settings,
}

/// A clip at the model's rate.
pub struct Request {
    samples: Vec<f32>,
}

impl SpeechToText {
    pub fn new(transcriber: Transcriber, settings: Settings) -> SpeechToText {
        SpeechToText {
            transcriber: Mutex::new(transcriber),
            settings,
        }
    }
}

/// The outputs for `segments`: the transcript and the segments as JSON.
/// A window streamed after the first keeps its leading space, so the
/// streamed texts add up to the transcript.
fn outputs(segments: &[Segment], first: bool) -> Values {
    let text: String = segments.iter().map(|s| s.text.as_str()).collect();
    let text = if first { text.trim_start() } else { &text };
    Values::from([
        ("text".to_string(), Value::Text(text.to_string())),
        (
            "segments".to_string(),
            Value::Json(serde_json::to_value(segments).unwrap_or_default()),
        ),
    ])
}

impl Task for SpeechToText {
    type Endpoint = SpeechEndpoint;
    type Request = Request;

    fn endpoints(&self) -> Vec<(SpeechEndpoint, Endpoint)> {
        vec![(
            SpeechEndpoint::Transcribe,
            Endpoint {
                name: "transcribe".into(),
                description: "The speech in the clip as text, with timestamped segments.".into(),
                inputs: vec![
                    Field::new(
                        "audio",
                        Kind::Audio {
                            max_bytes: Some(self.settings.max_audio_bytes),
                        },
                    )
                    .description(&format!(
                        "A recording: {}, any sample rate and channels; at most {} s.",
                        audio::FORMATS,
                        self.settings.max_audio_seconds
                    )),
                ],
                outputs: vec![
                    Field::new(
                        "text",
                        Kind::Text {
                            lines: 4,
                            placeholder: None,
                            max_chars: None,
                        },
                    )
                    .description("The transcript."),
                    Field::new("segments", Kind::Segments)
                        .description("The transcript in pieces: start and end (seconds) and text."),
                ],
                // Each 30-second window's segments as they are decoded.
                streams: true,
            },
        )]
    }

    fn prepare(&self, _: SpeechEndpoint, inputs: Values) -> Result<Prepared<Request>> {
        let media = inputs
            .get("audio")
            .and_then(Value::as_media)
            .ok_or_else(|| Error::Inference("input `audio` did not reach the task".into()))?;
        let refuse = |message: String| {
            Error::InvalidInput(FieldError {
                field: "audio".into(),
                message,
            })
        };
        let clip = audio::decode(&media.bytes, self.settings.max_audio_seconds).map_err(refuse)?;
        let samples = audio::resample(&clip, Transcriber::SAMPLE_RATE).map_err(refuse)?;
        let size = samples.len() / 16_000 + 1;
        Ok(Prepared::new(Request { samples }, size))
    }

    fn run(&self, _: SpeechEndpoint, batch: &[Item<Request>]) -> Result<Vec<Values>> {
        let mut transcriber = self
            .transcriber
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        batch
            .iter()
            .map(|item| {
                if item.cancelled() {
                    return Ok(Values::new());
                }
                let mut first = true;
                let segments = transcriber.transcribe(&item.request.samples, |window| {
                    if window.is_empty() {
                        return !item.cancelled();
                    }
                    let sent = item.emit(outputs(window, first));
                    first = false;
                    sent
                })?;
                let mut all = outputs(&segments, true);
                if let Some(Value::Text(text)) = all.get_mut("text") {
                    *text = text.trim_end().to_string();
                }
                Ok(all)
            })
            .collect()
    }
}
