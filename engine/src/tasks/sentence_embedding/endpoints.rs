//! The endpoints of `sentence-embedding` — embed, similarity, classify —
//! their signatures, and the `Task` impl that tokenizes a request when it
//! arrives and embeds a batch of them in one forward pass.

use std::collections::{BTreeMap, HashMap};

use tokenizers::Encoding;
use wick_types::{Confidence, Endpoint, Field, Kind, Label, Value, Values};

use super::embedder::Embedder;
use super::settings::Settings;
use crate::error::Result;
use crate::task::{Item, Prepared, Task};
use crate::tasks::text_encoder::{MAX_TEXT_CHARS, missing};

/// Most labels one zero-shot request may name.
const MAX_LABELS: usize = 64;
/// The input of `embed` that names a prompt, when the model has some.
const PROMPT_NAME: &str = "prompt_name";

/// The endpoints, matched exhaustively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentenceEndpoint {
    Embed,
    Similarity,
    Classify,
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b)).max(1e-12)
}

pub struct SentenceEmbedding {
    embedder: Embedder,
    temperature: f64,
    prompts: BTreeMap<String, String>,
    default_prompt_name: Option<String>,
}

impl SentenceEmbedding {
    pub fn new(embedder: Embedder, settings: &Settings) -> SentenceEmbedding {
        SentenceEmbedding {
            embedder,
            temperature: settings.zero_shot_temperature,
            prompts: settings.prompts.clone(),
            default_prompt_name: settings.default_prompt_name.clone(),
        }
    }

    /// The prompt a text gets: the one named, else the default one.
    fn prompt(&self, named: Option<&str>) -> &str {
        named
            .or(self.default_prompt_name.as_deref())
            .and_then(|name| self.prompts.get(name))
            .map_or("", String::as_str)
    }

    fn embed(&self, batch: &[Item<Request>]) -> Result<Vec<Values>> {
        let texts: Vec<&Encoding> = batch.iter().map(|r| &r.request.encodings[0]).collect();
        let embeddings = self.embedder.embed_encodings(&texts)?;
        Ok(embeddings
            .vectors
            .into_iter()
            .map(|vector| Values::from([("embedding".to_string(), Value::Vector(vector))]))
            .collect())
    }

    fn similarity(&self, batch: &[Item<Request>]) -> Result<Vec<Values>> {
        let mut all: Vec<&Encoding> = batch.iter().map(|r| &r.request.encodings[0]).collect();
        all.extend(batch.iter().map(|r| &r.request.encodings[1]));
        let vectors = self.embedder.embed_encodings(&all)?.vectors;
        let (a, b) = vectors.split_at(batch.len());
        Ok(a.iter()
            .zip(b)
            .map(|(a, b)| Values::from([("score".to_string(), Value::Number(cosine(a, b)))]))
            .collect())
    }

    fn classify(&self, batch: &[Item<Request>]) -> Result<Vec<Values>> {
        // Embed every text and every distinct label of the batch together.
        let mut all: Vec<&Encoding> = batch.iter().map(|r| &r.request.encodings[0]).collect();
        let mut label_row: HashMap<&str, usize> = HashMap::new();
        for request in batch.iter().map(|item| &item.request) {
            for (label, encoding) in request.labels.iter().zip(&request.encodings[1..]) {
                if !label_row.contains_key(label.as_str()) {
                    label_row.insert(label.as_str(), all.len());
                    all.push(encoding);
                }
            }
        }
        let vectors = self.embedder.embed_encodings(&all)?.vectors;
        let mut outputs = Vec::with_capacity(batch.len());
        for (row, request) in batch.iter().map(|item| &item.request).enumerate() {
            let scores: Vec<f64> = request
                .labels
                .iter()
                .map(|label| {
                    cosine(&vectors[row], &vectors[label_row[label.as_str()]]) / self.temperature
                })
                .collect();
            let confidences = softmax(&scores);
            let mut ranked: Vec<Confidence> = request
                .labels
                .iter()
                .zip(confidences)
                .map(|(label, confidence)| Confidence {
                    label: label.clone(),
                    confidence,
                })
                .collect();
            ranked.sort_by(|x, y| y.confidence.total_cmp(&x.confidence));
            let best = ranked.first().map(|c| c.label.clone()).unwrap_or_default();
            outputs.push(Values::from([(
                "label".to_string(),
                Value::Label(Label {
                    label: best,
                    confidences: ranked,
                }),
            )]));
        }
        Ok(outputs)
    }

    /// Tokenizes a request's texts: embed `[text]`, similarity `[a, b]`,
    /// classify `[text, each distinct label...]`.
    fn tokenize(&self, endpoint: SentenceEndpoint, inputs: &Values) -> Result<Request> {
        let text = |name: &str| {
            inputs
                .get(name)
                .and_then(Value::as_text)
                .ok_or_else(|| missing(name))
        };
        let mut labels: Vec<String> = Vec::new();
        let named = inputs.get(PROMPT_NAME).and_then(Value::as_text);
        let prompt = self.prompt(if endpoint == SentenceEndpoint::Embed {
            named
        } else {
            None
        });
        let texts: Vec<&str> = match endpoint {
            SentenceEndpoint::Embed => vec![text("text")?],
            SentenceEndpoint::Similarity => vec![text("a")?, text("b")?],
            SentenceEndpoint::Classify => {
                for label in strings(inputs, "labels")? {
                    if !labels.contains(label) {
                        labels.push(label.clone());
                    }
                }
                std::iter::once(text("text")?)
                    .chain(labels.iter().map(String::as_str))
                    .collect()
            }
        };
        let encodings = texts
            .iter()
            .map(|t| match prompt {
                "" => self.embedder.encode(t),
                prompt => self.embedder.encode(&format!("{prompt}{t}")),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Request { encodings, labels })
    }
}

impl SentenceEmbedding {
    /// The text, and the prompt's name when the model has prompts
    /// (`query`, `document`, ...): optional, the default prompt if any.
    fn embed_inputs(&self) -> Vec<Field> {
        let mut inputs = vec![text_field("text", "Text", "Type a sentence…")];
        if !self.prompts.is_empty() {
            inputs.push(
                Field::new(
                    PROMPT_NAME,
                    Kind::Dropdown {
                        choices: self.prompts.keys().cloned().collect(),
                    },
                )
                .label("Prompt")
                .description(
                    "Put before the text, as the model was trained (e.g. query, document).",
                )
                .optional(self.default_prompt_name.clone().map(Value::Text)),
            );
        }
        inputs
    }
}

/// A request's texts, tokenized by `prepare`.
pub struct Request {
    encodings: Vec<Encoding>,
    /// For classify: the distinct labels, in the order of `encodings[1..]`.
    labels: Vec<String>,
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

fn strings<'a>(values: &'a Values, name: &str) -> Result<&'a [String]> {
    values
        .get(name)
        .and_then(Value::as_strings)
        .ok_or_else(|| missing(name))
}

fn text_field(name: &str, label: &str, placeholder: &str) -> Field {
    Field::new(
        name,
        Kind::Text {
            lines: 2,
            placeholder: Some(placeholder.to_string()),
            max_chars: Some(MAX_TEXT_CHARS),
        },
    )
    .label(label)
}

impl Task for SentenceEmbedding {
    type Endpoint = SentenceEndpoint;
    type Request = Request;

    fn endpoints(&self) -> Vec<(SentenceEndpoint, Endpoint)> {
        vec![
            (
                SentenceEndpoint::Embed,
                Endpoint {
                    name: "embed".into(),
                    description: "The sentence's embedding vector.".into(),
                    inputs: self.embed_inputs(),
                    outputs: vec![Field::new(
                        "embedding",
                        Kind::Embedding {
                            dim: self.embedder.dim(),
                        },
                    )],
                    streams: false,
                },
            ),
            (
                SentenceEndpoint::Similarity,
                Endpoint {
                    name: "similarity".into(),
                    description: "Cosine similarity between two sentences.".into(),
                    inputs: vec![
                        text_field("a", "First sentence", "A man is eating food."),
                        text_field("b", "Second sentence", "A man is eating a piece of bread."),
                    ],
                    outputs: vec![Field::new("score", Kind::Score).label("Similarity")],
                    streams: false,
                },
            ),
            (
                SentenceEndpoint::Classify,
                Endpoint {
                    name: "classify".into(),
                    description: "Zero-shot classification: which label is closest in meaning."
                        .into(),
                    inputs: vec![
                        text_field("text", "Text", "Type a sentence…"),
                        Field::new(
                            "labels",
                            Kind::Tags {
                                min_items: Some(1),
                                max_items: Some(MAX_LABELS),
                                max_chars: Some(200),
                            },
                        )
                        .description("Candidate labels, e.g. positive, negative."),
                    ],
                    outputs: vec![Field::new("label", Kind::Label { top_k: None })],
                    streams: false,
                },
            ),
        ]
    }

    fn prepare(&self, endpoint: SentenceEndpoint, inputs: Values) -> Result<Prepared<Request>> {
        let request = self.tokenize(endpoint, &inputs)?;
        let size = request
            .encodings
            .iter()
            .map(Encoding::len)
            .max()
            .unwrap_or(1);
        Ok(Prepared::new(request, size))
    }

    fn run(&self, endpoint: SentenceEndpoint, batch: &[Item<Request>]) -> Result<Vec<Values>> {
        match endpoint {
            SentenceEndpoint::Embed => self.embed(batch),
            SentenceEndpoint::Similarity => self.similarity(batch),
            SentenceEndpoint::Classify => self.classify(batch),
        }
    }
}
