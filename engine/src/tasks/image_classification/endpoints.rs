//! The endpoint of `image-classification` — classify — its signature, and
//! the `Task` impl that decodes and preprocesses an image when a request
//! arrives and classifies a batch of them in one forward pass.

use wick_types::{Confidence, Endpoint, Field, Kind, Label, Value, Values};

use super::classifier::Classifier;
use super::settings::Settings;
use crate::error::Result;
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
                inputs: vec![self.settings.image_limits().field("image")],
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
        let image = self.settings.image_limits().decode(&inputs, "image")?;
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
