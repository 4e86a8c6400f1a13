//! A speech-to-text bundle's `[settings]`.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Longest clip transcribed, in seconds: a longer one is refused (422)
    /// before it is decoded whole.
    #[serde(default = "default_max_seconds")]
    pub max_audio_seconds: f64,
    /// Largest file accepted, in bytes.
    #[serde(default = "default_max_bytes")]
    pub max_audio_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_audio_seconds: default_max_seconds(),
            max_audio_bytes: default_max_bytes(),
        }
    }
}

impl Settings {
    pub fn check(&self) -> Result<(), String> {
        let positive = self.max_audio_seconds.is_finite() && self.max_audio_seconds > 0.0;
        if !positive || self.max_audio_bytes == 0 {
            return Err("[settings] max_audio_seconds and max_audio_bytes must be positive".into());
        }
        Ok(())
    }
}

/// 10 minutes.
fn default_max_seconds() -> f64 {
    600.0
}

/// 25 MiB: ten minutes of 16 kHz 16-bit WAV with room, or far longer MP3.
fn default_max_bytes() -> usize {
    25 << 20
}
