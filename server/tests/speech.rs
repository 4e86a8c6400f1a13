//! Speech to text on the real whisper tiny.en: every container format and
//! sample rate the API reads (`fixtures/speech`, see its README), each
//! transcript within a word error rate of 0.02 of the reference
//! implementation's (faster-whisper on the same weights, greedy); segments
//! streamed as SSE, one event per 30-second window; and the bad inputs:
//! not audio and too long are 422, silence is an empty transcript.

mod common;

use std::path::{Path, PathBuf};

use common::{Server, copy_tree, whisper_dir};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/speech")
        .join(name)
}

fn reference() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixture("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Words, lowercased, without punctuation: how WER is usually counted.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '-')
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate of `hypothesis` against `reference`: edit distance over
/// the reference's length.
fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (words(reference), words(hypothesis));
    let mut previous: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut row = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            row[j + 1] = (previous[j] + usize::from(rw != hw))
                .min(previous[j + 1] + 1)
                .min(row[j] + 1);
        }
        previous = row;
    }
    previous[h.len()] as f64 / r.len().max(1) as f64
}

/// The clip as the JSON API takes it: a `data:` URL of its type.
fn body(bytes: &[u8], name: &str) -> Value {
    use base64::Engine as _;
    let mime = wick_types::media_type_of(name, bytes).unwrap_or("audio/wav");
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    json!({"inputs": {"audio": format!("data:{mime};base64,{data}")}})
}

async fn transcribe(server: &Server, bytes: Vec<u8>, name: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/models/whisper-tiny-en/transcribe"))
        .json(&body(&bytes, name))
        .send()
        .await
        .unwrap()
}

#[test]
fn word_error_rate_counts_edits_per_reference_word() {
    assert_eq!(word_error_rate("The cat sat.", "the cat sat"), 0.0);
    assert!((word_error_rate("a b c d", "a x c") - 0.5).abs() < 1e-9);
}

#[tokio::test]
async fn every_format_and_rate_transcribes_as_the_reference_does() {
    let server = Server::start(&[&whisper_dir()], &[]);
    for (file, expected) in reference() {
        let expected = expected.as_str().unwrap();
        let bytes = std::fs::read(fixture(&file)).unwrap();
        let response = transcribe(&server, bytes, &file).await;
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        let body: Value = response.json().await.unwrap();
        let text = body["outputs"]["text"].as_str().unwrap();
        let wer = word_error_rate(expected, text);
        assert!(
            wer <= 0.02,
            "{file}: WER {wer:.3}\n wick: {text}\n  ref: {expected}"
        );
        let segments = body["outputs"]["segments"].as_array().unwrap();
        assert!(!segments.is_empty(), "{body}");
        let mut previous_end = 0.0;
        for segment in segments {
            let (start, end) = (
                segment["start"].as_f64().unwrap(),
                segment["end"].as_f64().unwrap(),
            );
            assert!(start >= previous_end - 1e-9 && end > start, "{segments:?}");
            previous_end = end;
        }
        let joined: String = segments
            .iter()
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        assert_eq!(joined.trim(), text, "{file}");
    }

    // A file part of a form, as `curl -F audio=@clip.wav` sends it.
    let output = std::process::Command::new("curl")
        .args(["-s", "-F"])
        .arg(format!(
            "audio=@{}",
            fixture("speech-16k-mono.wav").display()
        ))
        .arg(server.url("/api/models/whisper-tiny-en/transcribe"))
        .output()
        .unwrap();
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    let expected = reference()["speech-16k-mono.wav"]
        .as_str()
        .unwrap()
        .to_string();
    let text = body["outputs"]["text"].as_str().unwrap_or_default();
    assert!(word_error_rate(&expected, text) <= 0.02, "{body}");
}

#[tokio::test]
async fn segments_stream_as_server_sent_events_one_window_at_a_time() {
    let server = Server::start(&[&whisper_dir()], &[]);
    let bytes = std::fs::read(fixture("story-48k.mp3")).unwrap();
    let response = reqwest::Client::new()
        .post(server.url("/api/models/whisper-tiny-en/transcribe"))
        .header("accept", "text/event-stream")
        .json(&body(&bytes, "story.mp3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let events = common::sse_events(&response.text().await.unwrap());
    let partials: Vec<&Value> = events
        .iter()
        .filter(|(name, _)| name == "partial")
        .map(|(_, data)| &data["outputs"])
        .collect();
    // 37 s: two windows, each its segments as soon as decoded.
    assert_eq!(partials.len(), 2, "{events:?}");
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done");
    let streamed: String = partials
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        streamed.trim_end(),
        done["outputs"]["text"].as_str().unwrap()
    );
    let streamed_segments: usize = partials
        .iter()
        .map(|p| p["segments"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        streamed_segments,
        done["outputs"]["segments"].as_array().unwrap().len()
    );
}

/// A 16-bit PCM WAV of `seconds` of silence at 16 kHz.
fn silence(seconds: usize) -> Vec<u8> {
    let samples = 16_000 * seconds;
    let data = (samples * 2) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // format chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&32_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    out.resize(out.len() + samples * 2, 0);
    out
}

/// examples/whisper-tiny-en with `[settings]` max_audio_seconds = 10.
fn short_clips_only(parent: &Path) -> PathBuf {
    let dir = parent.join("whisper-short");
    copy_tree(&whisper_dir(), &dir);
    let manifest = dir.join("wick.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("max_audio_seconds = 600.0", "max_audio_seconds = 10.0");
    std::fs::remove_file(&manifest).unwrap();
    std::fs::write(&manifest, text).unwrap();
    dir
}

#[tokio::test]
async fn bad_audio_is_a_422_and_silence_an_empty_transcript() {
    let scratch = tempfile::tempdir().unwrap();
    let server = Server::start(&[&short_clips_only(scratch.path())], &[]);

    let response = transcribe(&server, silence(3), "silence.wav").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outputs"]["text"], "", "{body}");
    assert_eq!(body["outputs"]["segments"], json!([]), "{body}");

    let response = transcribe(&server, b"GIF89a, not a sound".to_vec(), "clip.wav").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "audio", "{body}");

    let bytes = std::fs::read(fixture("story-48k.mp3")).unwrap();
    let response = transcribe(&server, bytes, "story.mp3").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 10 s"), "{message}");
}
