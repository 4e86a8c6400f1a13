//! What `wick bench` sends an endpoint: texts of several lengths for an
//! endpoint of one text input, a query and one document of several
//! lengths for a reranker's (a text and a list of texts), photos for one
//! of one image input (and five candidate labels for a zero-shot
//! classifier's image and list of texts), clips
//! for one of one audio input. The photos are the bundle's own example
//! images, or, when it has none, a synthetic 640 × 480 picture; the clips
//! are the bundle's example clips (speech cannot be made up).

use anyhow::bail;
use wick_engine::{Bundle, JsonObject};
use wick_types::{Endpoint, Kind, Media};

/// The inputs of one benchmark, by the endpoint's one input.
pub enum Workload {
    Texts {
        field: String,
    },
    /// A short query and one document per input: (query, document) pairs.
    Pairs {
        query: String,
        documents: String,
    },
    Images {
        field: String,
        photos: Vec<String>,
        /// The list input that takes candidate labels, for zero-shot.
        labels: Option<String>,
    },
    /// Clips, and their mean length in seconds (for the real-time factor).
    Clips {
        field: String,
        clips: Vec<String>,
        seconds: f64,
    },
}

impl Workload {
    pub fn of(endpoint: &Endpoint, bundle: &Bundle) -> anyhow::Result<Workload> {
        if let [query, documents] = endpoint.inputs.as_slice()
            && matches!(query.kind, Kind::Text { .. })
            && matches!(documents.kind, Kind::Tags { .. })
        {
            return Ok(Workload::Pairs {
                query: query.name.clone(),
                documents: documents.name.clone(),
            });
        }
        if let [image, labels] = endpoint.inputs.as_slice()
            && matches!(image.kind, Kind::Image { .. })
            && matches!(labels.kind, Kind::Tags { .. })
        {
            return Ok(Workload::Images {
                photos: photos(endpoint, bundle, &image.name),
                field: image.name.clone(),
                labels: Some(labels.name.clone()),
            });
        }
        let [field] = endpoint.inputs.as_slice() else {
            bail!(
                "wick bench drives endpoints of one input; `{}` has {}",
                endpoint.name,
                endpoint.inputs.len()
            );
        };
        let name = field.name.clone();
        Ok(match &field.kind {
            Kind::Text { .. } => Workload::Texts { field: name },
            Kind::Image { .. } => Workload::Images {
                photos: photos(endpoint, bundle, &name),
                field: name,
                labels: None,
            },
            Kind::Audio { .. } => {
                let files = example_files(endpoint, bundle, &name);
                if files.is_empty() {
                    bail!(
                        "wick bench drives an audio input with the bundle's example clips; \
                         `{}` has none ([[examples.{}]] in wick.toml)",
                        endpoint.name,
                        endpoint.name
                    );
                }
                let mut total = 0.0;
                for (media, path) in &files {
                    let clip = wick_engine::audio::decode(&media.bytes, f64::INFINITY)
                        .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
                    total += clip.seconds();
                }
                Workload::Clips {
                    field: name,
                    seconds: total / files.len() as f64,
                    clips: files.iter().map(|(media, _)| media.to_data_url()).collect(),
                }
            }
            other => bail!(
                "wick bench drives a text, an image or an audio input; `{}` takes {}",
                endpoint.name,
                other.expected()
            ),
        })
    }

    /// The cells' sizes: each text length in tokens, or one for photos.
    pub fn sizes(&self, tokens: &[usize]) -> Vec<Option<usize>> {
        match self {
            Workload::Texts { .. } | Workload::Pairs { .. } => {
                tokens.iter().copied().map(Some).collect()
            }
            Workload::Images { .. } | Workload::Clips { .. } => vec![None],
        }
    }

    /// Seconds of audio per input, for an audio endpoint.
    pub fn audio_seconds(&self) -> Option<f64> {
        match self {
            Workload::Clips { seconds, .. } => Some(*seconds),
            _ => None,
        }
    }

    /// What one input is called in the tables.
    pub fn unit(&self) -> &'static str {
        match self {
            Workload::Texts { .. } => "sentences",
            Workload::Pairs { .. } => "pairs",
            Workload::Images { .. } => "images",
            Workload::Clips { .. } => "clips",
        }
    }

    /// `count` sets of inputs of one size, varied.
    pub fn inputs(&self, size: Option<usize>, count: usize) -> Vec<JsonObject> {
        let one = |field: &String, value: serde_json::Value| {
            JsonObject::from_iter([(field.clone(), value)])
        };
        (0..count)
            .map(|seed| match self {
                Workload::Texts { field } => one(field, text_of(size.unwrap_or(16), seed).into()),
                // The document fills the pair's length; the query is 8
                // tokens of it.
                Workload::Pairs { query, documents } => {
                    let document = text_of(size.unwrap_or(16).saturating_sub(7).max(3), seed);
                    JsonObject::from_iter([
                        (query.clone(), text_of(8, seed + 1).into()),
                        (documents.clone(), serde_json::json!([document])),
                    ])
                }
                Workload::Images {
                    field,
                    photos,
                    labels,
                } => {
                    let mut inputs = one(field, photos[seed % photos.len()].clone().into());
                    if let Some(labels) = labels {
                        inputs.insert(labels.clone(), serde_json::json!(CANDIDATE_LABELS));
                    }
                    inputs
                }
                Workload::Clips { field, clips, .. } => {
                    one(field, clips[seed % clips.len()].clone().into())
                }
            })
            .collect()
    }
}

/// What a zero-shot classifier is asked to choose from.
const CANDIDATE_LABELS: [&str; 5] = ["cat", "dog", "car", "tree", "house"];

/// The bundle's example photos for input `name`, as data URLs, or a
/// synthetic 640 × 480 picture when it has none.
fn photos(endpoint: &Endpoint, bundle: &Bundle, name: &str) -> Vec<String> {
    let mut photos: Vec<String> = example_files(endpoint, bundle, name)
        .iter()
        .map(|(media, _)| media.to_data_url())
        .collect();
    if photos.is_empty() {
        photos.push(Media::new("image/bmp", synthetic_bmp(640, 480)).to_data_url());
    }
    photos
}

/// The bundle's example files for input `name` of `endpoint`, read, with
/// their paths.
fn example_files(endpoint: &Endpoint, bundle: &Bundle, name: &str) -> Vec<(Media, String)> {
    bundle
        .manifest
        .examples
        .get(&endpoint.name)
        .into_iter()
        .flatten()
        .filter_map(|row| row.get(name)?.as_str().map(String::from))
        .filter_map(|path| {
            let bytes = std::fs::read(bundle.dir.join(&path)).ok()?;
            let mime = wick_types::media_type_of(&path, &bytes)?;
            Some((Media::new(mime, bytes), path))
        })
        .collect()
}

/// A text of about `tokens` WordPiece tokens ([CLS] and [SEP] included):
/// common English words that are one token each, varied by `seed`.
pub fn text_of(tokens: usize, seed: usize) -> String {
    const WORDS: [&str; 32] = [
        "the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "in", "park", "with", "red",
        "ball", "while", "children", "played", "near", "old", "tree", "under", "blue", "sky",
        "people", "walked", "by", "river", "after", "long", "day", "at", "work",
    ];
    (0..tokens.saturating_sub(2).max(1))
        .map(|i| WORDS[(i * 7 + seed * 13) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// An uncompressed 24-bit BMP of smooth colour gradients.
fn synthetic_bmp(width: u32, height: u32) -> Vec<u8> {
    let row = (width * 3).div_ceil(4) * 4;
    let size = 54 + row * height;
    let mut bmp = Vec::with_capacity(size as usize);
    bmp.extend_from_slice(b"BM");
    for value in [size, 0, 54, 40] {
        bmp.extend_from_slice(&value.to_le_bytes());
    }
    bmp.extend_from_slice(&(width as i32).to_le_bytes());
    bmp.extend_from_slice(&(height as i32).to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    for value in [0u32, row * height, 2835, 2835, 0, 0] {
        bmp.extend_from_slice(&value.to_le_bytes());
    }
    for y in 0..height {
        for x in 0..width {
            bmp.extend_from_slice(&[(x % 256) as u8, (y % 256) as u8, ((x + y) / 5 % 256) as u8]);
        }
        bmp.resize(bmp.len() + (row - width * 3) as usize, 0);
    }
    bmp
}
