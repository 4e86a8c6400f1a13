//! Values that flow into and out of endpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Media;

/// One input or output value. It serializes as plain JSON (a string, a
/// number, a list...), so API clients never see the Rust enum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A checkbox.
    Bool(bool),
    /// A number, a slider, a score.
    Number(f64),
    /// A text, a dropdown's or radio's choice.
    Text(String),
    /// Tags.
    Strings(Vec<String>),
    /// An embedding.
    Vector(Vec<f32>),
    /// A classification.
    Label(Label),
    /// Anything else: a conversation, segments, JSON.
    Json(serde_json::Value),
    /// An image or audio clip. On the wire it is a `data:` URL string, so it
    /// is never read back by itself (a string is a `Text`): the validator
    /// makes it from a field whose kind is `Image` or `Audio`.
    #[serde(skip_deserializing)]
    Media(Media),
}

impl Value {
    /// The text, if it is one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The strings, if it is a list of them.
    pub fn as_strings(&self) -> Option<&[String]> {
        match self {
            Value::Strings(items) => Some(items),
            _ => None,
        }
    }

    /// The file, if it is an image or audio clip.
    pub fn as_media(&self) -> Option<&Media> {
        match self {
            Value::Media(media) => Some(media),
            _ => None,
        }
    }

    /// The number, if it is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(number) => Some(*number),
            _ => None,
        }
    }
}

/// A classification result: the best label and every label's confidence,
/// best first (Gradio's Label output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The best label.
    pub label: String,
    /// Every label's confidence, best first.
    pub confidences: Vec<Confidence>,
}

impl Label {
    /// A result from each label's score (probabilities, say): the labels
    /// best first, the best one named.
    pub fn from_scores<S: Into<String>>(scores: impl IntoIterator<Item = (S, f64)>) -> Label {
        let mut confidences: Vec<Confidence> = scores
            .into_iter()
            .map(|(label, confidence)| Confidence {
                label: label.into(),
                confidence,
            })
            .collect();
        confidences.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Label {
            label: confidences
                .first()
                .map(|best| best.label.clone())
                .unwrap_or_default(),
            confidences,
        }
    }
}

/// One label's confidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    /// The label.
    pub label: String,
    /// How sure the model is of it (a probability, say).
    pub confidence: f64,
}

/// Named values: the inputs of one request, or the outputs of one prediction.
pub type Values = BTreeMap<String, Value>;
