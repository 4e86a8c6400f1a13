//! Task `speech-to-text`: an audio clip in, its transcript and timestamped
//! segments out, on Whisper (candle-transformers), greedy as OpenAI's
//! reference decodes.
//!
//! - `settings`: the bundle's `[settings]` (longest clip, largest file);
//! - `mel`: the log-mel features, as OpenAI computes them;
//! - `transcriber`: the model and its decoding loop;
//! - `endpoints`: the endpoint, its signature, and the `Task` impl.
//!
//! Decoding and resampling are `crate::audio`'s.

mod endpoints;
mod mel;
mod settings;
mod transcriber;

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::task::{AnyTask, TaskDefaults, TaskKind};

pub use endpoints::{SpeechEndpoint, SpeechToText};
pub use settings::Settings;
pub use transcriber::{Segment, Transcriber};

pub const KIND: TaskKind = TaskKind {
    name: "speech-to-text",
    required_files: &[
        "config.json",
        "tokenizer.json",
        "melfilters.bytes",
        "model.safetensors",
    ],
    optional_files: &[],
    defaults,
    derive: None,
    load,
};

fn defaults(_source: &Path) -> Result<TaskDefaults> {
    Ok(TaskDefaults::default())
}

fn load(bundle: &Bundle, device: &Device) -> Result<Arc<dyn AnyTask>> {
    let settings: Settings =
        bundle
            .manifest
            .settings
            .clone()
            .try_into()
            .map_err(|e| Error::Load {
                model: bundle.manifest.name.clone(),
                message: format!("[settings]: {e}"),
            })?;
    settings.check().map_err(|message| Error::Load {
        model: bundle.manifest.name.clone(),
        message,
    })?;
    let transcriber = Transcriber::from_bundle(bundle, device)?;
    Ok(Arc::new(SpeechToText::new(transcriber, settings)))
}
