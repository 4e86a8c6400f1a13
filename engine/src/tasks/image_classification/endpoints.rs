//! The endpoint of `image-classification` — classify — its signature, and
//! the `Task` impl that decodes and preprocesses an image when a request
//! arrives and classifies a batch of them in one forward pass.

use wick_types::{Confidence, Endpoint, Field, FieldError, Kind, Label, Value, Values};

use super::classifier::Classifier;
use super::settings::Settings;
use crate::error::{Error, Result};
use crate::images::{self, DecodeError, DecodeLimits};
use crate::task::{Item, Prepared, Task};

/// The endpoints, matched exhaustively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageEndpoint {
    Classify,
}

pub struct ImageClassification {
    classifier: Classifier,
    settings: Settings,
}

/// An image, decoded and preprocessed: the network's input.
pub struct Request {
    input: Vec<f32>,
}

impl ImageClassification {
    pub fn new(classifier: Classifier, settings: Settings) -> ImageClassification {
        ImageClassification {
            classifier,
            settings,
        }
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// The top k labels of one image's probabilities.
    fn label(&self, probabilities: &[f32]) -> Label {
        let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(self.settings.top_k);
        let confidences: Vec<Confidence> = ranked
            .into_iter()
            .map(|(index, probability)| Confidence {
                label: self.classifier.labels()[index].clone(),
                confidence: f64::from(probability),
            })
            .collect();
        Label {
            label: confidences
                .first()
                .map(|c| c.label.clone())
                .unwrap_or_default(),
            confidences,
        }
    }
}

impl Task for ImageClassification {
    type Endpoint = ImageEndpoint;
    type Request = Request;

    fn endpoints(&self) -> Vec<(ImageEndpoint, Endpoint)> {
        vec![(
            ImageEndpoint::Classify,
            Endpoint {
                name: "classify".into(),
                description: "The most likely labels for the image, with their probabilities."
                    .into(),
                inputs: vec![
                    Field::new(
                        "image",
                        Kind::Image {
                            max_bytes: Some(self.settings.max_image_bytes),
                        },
                    )
                    .description(&format!(
                        "{} photo; at most {} megapixels.",
                        images::FORMATS,
                        self.settings.max_image_pixels / 1_000_000
                    )),
                ],
                outputs: vec![Field::new(
                    "label",
                    Kind::Label {
                        top_k: Some(self.settings.top_k),
                    },
                )],
                streams: false,
            },
        )]
    }

    fn prepare(&self, _: ImageEndpoint, inputs: Values) -> Result<Prepared<Request>> {
        let media = inputs
            .get("image")
            .and_then(Value::as_media)
            .ok_or_else(|| Error::Inference("input `image` did not reach the task".into()))?;
        let refuse = |message: String| {
            Error::InvalidInput(FieldError {
                field: "image".into(),
                message,
            })
        };
        let limits = DecodeLimits {
            max_pixels: self.settings.max_image_pixels,
            max_bytes: self.settings.max_image_decode_bytes,
        };
        let image = images::decode(&media.bytes, limits).map_err(|error| match error {
            DecodeError::Refused(message) => refuse(message),
            DecodeError::Busy => Error::Busy(
                "other images are being decoded and hold this server's decode memory".into(),
            ),
        })?;
        let input = self.classifier.preprocess().apply(&image);
        // Every image is the same size once preprocessed.
        Ok(Prepared::new(Request { input }, 1))
    }

    fn run(&self, _: ImageEndpoint, batch: &[Item<Request>]) -> Result<Vec<Values>> {
        let inputs: Vec<&[f32]> = batch.iter().map(|item| &item.request.input[..]).collect();
        let probabilities = self.classifier.probabilities(&inputs)?;
        Ok(probabilities
            .iter()
            .map(|p| Values::from([("label".to_string(), Value::Label(self.label(p)))]))
            .collect())
    }
}
