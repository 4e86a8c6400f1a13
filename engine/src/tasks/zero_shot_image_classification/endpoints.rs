//! The endpoints of `zero-shot-image-classification` — classify and
//! similarity — their signatures, and the `Task` impl: an image is decoded
//! and preprocessed, and its texts tokenized, when a request arrives; a
//! batch's images go through the image tower in one pass and all their
//! texts through the text tower.

use candle_core::Tensor;
use tokenizers::Encoding;
use wick_types::{Endpoint, Field, Kind, Label, Value, Values};

use super::settings::Settings;
use super::towers::DualEncoder;
use crate::error::Result;
use crate::task::{Item, Prepared, Task};
use crate::tasks::text_encoder::{MAX_TEXT_CHARS, missing};

/// Texts per pass of the text tower.
const TEXTS_PER_PASS: usize = 64;

/// The endpoints, matched exhaustively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroShotEndpoint {
    /// Image + candidate labels → the labels, scored.
    Classify,
    /// Image + texts → each text's cosine similarity to the image.
    Similarity,
}

pub struct ZeroShotImageClassification {
    towers: DualEncoder,
    settings: Settings,
}

/// An image, preprocessed, and its texts, tokenized.
pub struct Request {
    image: Vec<f32>,
    texts: Vec<Encoding>,
    /// The labels (or texts) as the client gave them.
    names: Vec<String>,
}

impl ZeroShotImageClassification {
    pub fn new(towers: DualEncoder, settings: Settings) -> ZeroShotImageClassification {
        ZeroShotImageClassification { towers, settings }
    }

    fn texts_field(&self, name: &str, label: &str, description: &str) -> Field {
        Field::new(
            name,
            Kind::Tags {
                min_items: Some(1),
                max_items: Some(self.settings.max_labels),
                max_chars: Some(MAX_TEXT_CHARS),
            },
        )
        .label(label)
        .description(description)
    }

    /// Each request's cosine similarities to its texts, in their order.
    fn similarities(&self, batch: &[Item<Request>]) -> Result<Vec<Vec<f32>>> {
        let images: Vec<&[f32]> = batch.iter().map(|item| &item.request.image[..]).collect();
        let images = self.towers.embed_images(&images)?;
        let texts: Vec<&Encoding> = batch
            .iter()
            .flat_map(|item| item.request.texts.iter())
            .collect();
        let mut slices = Vec::new();
        for slice in texts.chunks(TEXTS_PER_PASS) {
            slices.push(self.towers.embed_texts(slice)?);
        }
        let texts = Tensor::cat(&slices, 0)?;
        let mut answers = Vec::with_capacity(batch.len());
        let mut start = 0;
        for (row, item) in batch.iter().enumerate() {
            let count = item.request.texts.len();
            let similarities = texts
                .narrow(0, start, count)?
                .matmul(&images.narrow(0, row, 1)?.t()?)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            answers.push(similarities);
            start += count;
        }
        Ok(answers)
    }
}

impl Task for ZeroShotImageClassification {
    type Endpoint = ZeroShotEndpoint;
    type Request = Request;

    fn endpoints(&self) -> Vec<(ZeroShotEndpoint, Endpoint)> {
        let image = self.settings.image_limits().field("image");
        vec![
            (
                ZeroShotEndpoint::Classify,
                Endpoint {
                    name: "classify".into(),
                    description: "The candidate labels that best describe the image, with scores."
                        .into(),
                    inputs: vec![
                        image.clone(),
                        self.texts_field(
                            "candidate_labels",
                            "Candidate labels",
                            &format!(
                                "What the image might show; each is read as {:?}.",
                                self.settings.hypothesis_template
                            ),
                        ),
                    ],
                    outputs: vec![Field::new(
                        "label",
                        Kind::Label {
                            top_k: Some(self.settings.max_labels),
                        },
                    )],
                    streams: false,
                },
            ),
            (
                ZeroShotEndpoint::Similarity,
                Endpoint {
                    name: "similarity".into(),
                    description: "How close each text is to the image: the cosine of their \
                                  embeddings."
                        .into(),
                    inputs: vec![
                        image,
                        self.texts_field("texts", "Texts", "Read as given, with no template."),
                    ],
                    outputs: vec![
                        Field::new("similarities", Kind::Json)
                            .label("Similarities")
                            .description("`{text, similarity}` of every text, in their order."),
                    ],
                    streams: false,
                },
            ),
        ]
    }

    fn prepare(&self, endpoint: ZeroShotEndpoint, inputs: Values) -> Result<Prepared<Request>> {
        let texts_input = match endpoint {
            ZeroShotEndpoint::Classify => "candidate_labels",
            ZeroShotEndpoint::Similarity => "texts",
        };
        let names = inputs
            .get(texts_input)
            .and_then(Value::as_strings)
            .ok_or_else(|| missing(texts_input))?
            .to_vec();
        let texts = names
            .iter()
            .map(|name| match endpoint {
                ZeroShotEndpoint::Classify => self.towers.encode(&self.settings.hypothesis(name)),
                ZeroShotEndpoint::Similarity => self.towers.encode(name),
            })
            .collect::<Result<Vec<_>>>()?;
        let image = self.settings.image_limits().decode(&inputs, "image")?;
        let image = self.towers.preprocess().apply(&image);
        // The image tower's pass is the same for every request; the texts'
        // count is what varies.
        let size = names.len();
        Ok(Prepared::new(
            Request {
                image,
                texts,
                names,
            },
            size,
        ))
    }

    fn run(&self, endpoint: ZeroShotEndpoint, batch: &[Item<Request>]) -> Result<Vec<Values>> {
        let similarities = self.similarities(batch)?;
        Ok(batch
            .iter()
            .zip(similarities)
            .map(|(item, similarities)| {
                let names = &item.request.names;
                match endpoint {
                    ZeroShotEndpoint::Classify => {
                        let logits: Vec<f32> =
                            similarities.iter().map(|&s| self.towers.logit(s)).collect();
                        let scores = self.towers.scores(&logits);
                        let label = Label::from_scores(
                            names
                                .iter()
                                .zip(scores)
                                .map(|(name, score)| (name.as_str(), f64::from(score))),
                        );
                        Values::from([("label".to_string(), Value::Label(label))])
                    }
                    ZeroShotEndpoint::Similarity => {
                        let rows = names
                            .iter()
                            .zip(similarities)
                            .map(|(text, similarity)| {
                                serde_json::json!({"text": text, "similarity": similarity})
                            })
                            .collect();
                        Values::from([(
                            "similarities".to_string(),
                            Value::Json(serde_json::Value::Array(rows)),
                        )])
                    }
                }
            })
            .collect())
    }
}
