//! The endpoint of `text-classification` — classify — its signature, and
//! the `Task` impl that tokenizes a text when the request arrives and
//! classifies a batch of them in one forward pass.

use tokenizers::Encoding;
use wick_types::{Endpoint, Field, Kind, Label, Value, Values};

use super::classifier::SequenceClassifier;
use super::settings::Settings;
use crate::error::Result;
use crate::task::{Item, Prepared, Task};
use crate::tasks::text_encoder::{MAX_TEXT_CHARS, missing};

/// The endpoints, matched exhaustively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextEndpoint {
    Classify,
}

pub struct TextClassification {
    classifier: SequenceClassifier,
    top_k: usize,
}

impl TextClassification {
    pub fn new(classifier: SequenceClassifier, settings: Settings) -> TextClassification {
        let top_k = settings.top_k.min(classifier.labels().len());
        TextClassification { classifier, top_k }
    }

    /// The top k labels of one text's scores.
    fn label(&self, scores: &[f32]) -> Label {
        let mut label = Label::from_scores(
            self.classifier
                .labels()
                .iter()
                .zip(scores)
                .map(|(label, score)| (label.as_str(), f64::from(*score))),
        );
        label.confidences.truncate(self.top_k);
        label
    }
}

impl Task for TextClassification {
    type Endpoint = TextEndpoint;
    type Request = Encoding;

    fn endpoints(&self) -> Vec<(TextEndpoint, Endpoint)> {
        vec![(
            TextEndpoint::Classify,
            Endpoint {
                name: "classify".into(),
                description: "The text's most likely labels, with their scores.".into(),
                inputs: vec![
                    Field::new(
                        "text",
                        Kind::Text {
                            lines: 3,
                            placeholder: Some("Type a text to classify…".into()),
                            max_chars: Some(MAX_TEXT_CHARS),
                        },
                    )
                    .label("Text"),
                ],
                outputs: vec![Field::new(
                    "label",
                    Kind::Label {
                        top_k: Some(self.top_k),
                    },
                )],
                streams: false,
            },
        )]
    }

    fn prepare(&self, _: TextEndpoint, inputs: Values) -> Result<Prepared<Encoding>> {
        let text = inputs
            .get("text")
            .and_then(Value::as_text)
            .ok_or_else(|| missing("text"))?;
        let encoding = self.classifier.text.encode(text)?;
        let size = encoding.len().max(1);
        Ok(Prepared::new(encoding, size))
    }

    fn run(&self, _: TextEndpoint, batch: &[Item<Encoding>]) -> Result<Vec<Values>> {
        let encodings: Vec<&Encoding> = batch.iter().map(|item| &item.request).collect();
        Ok(self
            .classifier
            .scores(&encodings)?
            .iter()
            .map(|scores| Values::from([("label".to_string(), Value::Label(self.label(scores)))]))
            .collect())
    }
}
