//! Recording an audio input from the microphone, as Gradio's Audio
//! component does: Record, then a level meter and a timer while it
//! records, Stop. The samples are taken as PCM and sent as a 16-bit WAV
//! `data:` URL, so the server needs no Opus or WebM decoder; a recording
//! stops by itself at the field's size limit.

use std::cell::RefCell;
use std::rc::Rc;

use base64::Engine as _;
use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::devices::{Device, open_device};
use crate::outputs::clock;

/// Samples a callback receives at a time (~90 ms at 44.1 kHz).
const CHUNK: u32 = 4096;
/// Bytes of a WAV header before the samples.
const WAV_HEADER: usize = 44;

/// An open microphone and the samples taken so far.
struct Recording {
    stream: web_sys::MediaStream,
    context: web_sys::AudioContext,
    tap: web_sys::ScriptProcessorNode,
    samples: Rc<RefCell<Vec<f32>>>,
    // Kept alive while it records: the browser calls it for each chunk.
    _on_audio: Closure<dyn FnMut(web_sys::AudioProcessingEvent)>,
}

#[component]
pub fn Microphone(
    testid: String,
    max_bytes: Option<usize>,
    /// Called with the recording as a `data:` URL of a WAV file.
    on_recorded: Callback<String>,
    problem: RwSignal<Option<String>>,
) -> impl IntoView {
    // The browser's objects, wrapped only while recording. The server
    // renders this widget too and may drop the page on another thread: a
    // thread-bound (`new_local`) value panicked there when cleaned up.
    let recording = StoredValue::new(None::<SendWrapper<Recording>>);
    let active = RwSignal::new(false);
    let seconds = RwSignal::new(0.0f64);
    // The last chunk's loudness, 0 (silence, −60 dB or less) to 1 (full scale).
    let level = RwSignal::new(0.0f64);
    let full = RwSignal::new(false);
    let max_samples = max_bytes.map_or(usize::MAX, |max| max.saturating_sub(WAV_HEADER) / 2);

    // The recorder shows at once (the browser may be asking for
    // permission), so Record cannot open a second microphone.
    let start = move |_| {
        problem.set(None);
        full.set(false);
        seconds.set(0.0);
        active.set(true);
        spawn_local(async move {
            match open(seconds, level, full, max_samples).await {
                // A widget gone meanwhile (a file was dropped) hands the
                // recording back: the microphone is released at once.
                Ok(opened) => {
                    let opened = Some(SendWrapper::new(opened));
                    if let Some(Some(orphan)) = recording.try_set_value(opened) {
                        close(&orphan);
                    }
                }
                Err(message) => {
                    active.set(false);
                    problem.set(Some(message));
                }
            }
        });
    };
    let stop = move || {
        let Some(finished) = recording.try_update_value(Option::take).flatten() else {
            return;
        };
        active.set(false);
        level.set(0.0);
        close(&finished);
        let rate = finished.context.sample_rate() as u32;
        let samples = finished.samples.borrow();
        if samples.is_empty() {
            problem.set(Some("Nothing was recorded.".into()));
            return;
        }
        let wav = wav_bytes(&samples, rate);
        let payload = base64::engine::general_purpose::STANDARD.encode(wav);
        on_recorded.run(format!("data:audio/wav;base64,{payload}"));
    };
    // At the size limit the recording ends as if Stop were pressed.
    Effect::new(move |_| {
        if full.get() {
            stop();
        }
    });
    on_cleanup(move || {
        if let Some(Some(open)) = recording.try_update_value(Option::take) {
            close(&open);
        }
    });

    let decibels = move || {
        let rms = level.get();
        ((20.0 * rms.max(1e-6).log10() + 60.0) / 60.0).clamp(0.0, 1.0)
    };
    view! {
        {move || if active.get() {
            view! {
                <div class="recorder" data-testid=format!("recorder-{testid}")>
                    <span class="recording-dot" aria-hidden="true"></span>
                    <meter class="level" min="0" max="1" value=decibels aria-label="Input level"></meter>
                    <span class="timer" data-testid="record-timer">{move || clock(seconds.get())}</span>
                    <button type="button" class="primary" data-testid=format!("stop-{testid}")
                        on:click=move |_| stop()>"Stop"</button>
                </div>
            }
            .into_any()
        } else {
            view! {
                <button type="button" class="secondary record" data-testid=format!("record-{testid}")
                    on:click=start>"Record"</button>
            }
            .into_any()
        }}
    }
}

/// Opens the microphone and starts taking its samples.
async fn open(
    seconds: RwSignal<f64>,
    level: RwSignal<f64>,
    full: RwSignal<bool>,
    max_samples: usize,
) -> Result<Recording, String> {
    let stream = open_device(Device::Microphone).await?;
    let failed = |_| "The browser could not start recording.".to_string();
    let context = web_sys::AudioContext::new().map_err(failed)?;
    let rate = f64::from(context.sample_rate());
    let source = context
        .create_media_stream_source(&stream)
        .map_err(failed)?;
    // A ScriptProcessorNode hands each chunk of samples to this code as it
    // comes. (An AudioWorklet would need its processor as a JavaScript
    // module served beside the WASM; this needs none, in every browser.)
    let tap = context
        .create_script_processor_with_buffer_size_and_number_of_input_channels_and_number_of_output_channels(CHUNK, 1, 1)
        .map_err(failed)?;
    let samples = Rc::new(RefCell::new(Vec::new()));
    let taken = samples.clone();
    let on_audio = Closure::<dyn FnMut(web_sys::AudioProcessingEvent)>::new(
        move |event: web_sys::AudioProcessingEvent| {
            let Some(chunk) = event
                .input_buffer()
                .ok()
                .and_then(|buffer| buffer.get_channel_data(0).ok())
            else {
                return;
            };
            let mut taken = taken.borrow_mut();
            let room = max_samples.saturating_sub(taken.len());
            taken.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let power = chunk.iter().map(|x| x * x).sum::<f32>() / chunk.len().max(1) as f32;
            level.set(f64::from(power.sqrt()));
            seconds.set(taken.len() as f64 / rate);
            if room <= chunk.len() {
                full.set(true);
            }
        },
    );
    tap.set_onaudioprocess(Some(on_audio.as_ref().unchecked_ref()));
    source.connect_with_audio_node(&tap).map_err(failed)?;
    // The processor runs only while connected to an output; it writes
    // nothing to it, so nothing is heard.
    tap.connect_with_audio_node(&context.destination())
        .map_err(failed)?;
    Ok(Recording {
        stream,
        context,
        tap,
        samples,
        _on_audio: on_audio,
    })
}

/// Releases the microphone (the browser's recording indicator goes off).
fn close(recording: &Recording) {
    // Chunks already queued must not reach the callback once the
    // recording (and with it the closure) is dropped: a dropped closure
    // throws when called.
    recording.tap.set_onaudioprocess(None);
    let _ = recording.tap.disconnect();
    for track in recording.stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            track.stop();
        }
    }
    let _ = recording.context.close();
}

/// Mono samples in [-1, 1] as a 16-bit PCM WAV file. Written here, not
/// with `hound`: the header is eleven fixed fields, and hound's writer
/// added 2,545 bytes to the gzipped WASM (427,558 → 430,103, measured),
/// past its budget in scripts/build.
fn wav_bytes(samples: &[f32], rate: u32) -> Vec<u8> {
    let data = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(WAV_HEADER + data as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // the fmt chunk's size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // one channel
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes()); // bytes per second
    wav.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data.to_le_bytes());
    for sample in samples {
        let value = (sample.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16;
        wav.extend_from_slice(&value.to_le_bytes());
    }
    wav
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn a_wav_file_has_the_header_players_read() {
        let wav = wav_bytes(&[0.0, 1.0, -1.0, 0.5], 48_000);
        assert_eq!(wav.len(), WAV_HEADER + 8);
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(wav[4..8].try_into().unwrap()), 44);
        assert_eq!(&wav[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 48_000);
        assert_eq!(u32::from_le_bytes(wav[28..32].try_into().unwrap()), 96_000);
        assert_eq!(&wav[36..40], b"data");
        let samples: Vec<i16> = wav[44..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(samples, [0, 32767, -32767, 16384]);
        // And the server's decoder reads it back.
        let clip = wick_engine::audio::decode(&wav, 10.0).unwrap();
        assert_eq!(clip.sample_rate, 48_000);
        assert_eq!(clip.samples.len(), 4);
        assert!((clip.samples[3] - 0.5).abs() < 1e-3, "{:?}", clip.samples);
    }
}
