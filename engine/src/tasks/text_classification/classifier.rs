//! The network of `text-classification` and `text-ranking`: a BERT-family
//! encoder with transformers' sequence-classification head, and the
//! labels from `config.json`. Tokenized texts (or pairs) in, each label's
//! score out.

use std::collections::BTreeMap;

use candle_core::{D, DType, Device};
use serde::Deserialize;
use tokenizers::Encoding;

use crate::bundle::Bundle;
use crate::error::Result;
use crate::models::bert::heads::SequenceHead;
use crate::tasks::text_encoder::{TextEncoder, read_json};

/// How logits become scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scoring {
    /// Probabilities over exclusive labels.
    Softmax,
    /// An independent probability per label (multi-label, or one logit).
    Sigmoid,
    /// The logits as they are.
    None,
}

pub struct SequenceClassifier {
    pub(crate) text: TextEncoder,
    head: SequenceHead,
    labels: Vec<String>,
    scoring: Scoring,
}

/// What `config.json` says of the head.
#[derive(Deserialize)]
pub(crate) struct HeadConfig {
    #[serde(default)]
    id2label: BTreeMap<String, String>,
    #[serde(default)]
    num_labels: Option<usize>,
    #[serde(default)]
    problem_type: Option<String>,
}

impl HeadConfig {
    /// A bundle's head, and its labels in index order.
    pub(crate) fn of(bundle: &Bundle) -> Result<(HeadConfig, Vec<String>)> {
        let config_path = bundle.required_file("config.json")?;
        let head: HeadConfig = read_json(&config_path)?
            .ok_or_else(|| bundle.load_error(format!("cannot read {}", config_path.display())))?;
        let labels = head.labels().map_err(|m| bundle.load_error(m))?;
        Ok((head, labels))
    }

    /// Labels in index order; `LABEL_i` where `id2label` has none, as
    /// transformers names them.
    pub(crate) fn labels(&self) -> std::result::Result<Vec<String>, String> {
        let count = self
            .num_labels
            .unwrap_or(self.id2label.len())
            .max(self.id2label.len());
        if count == 0 {
            return Err("config.json names no labels (id2label / num_labels)".into());
        }
        let mut labels: Vec<String> = (0..count).map(|i| format!("LABEL_{i}")).collect();
        for (index, label) in &self.id2label {
            let index: usize = index
                .parse()
                .map_err(|_| format!("config.json: id2label key {index:?} is not a number"))?;
            match labels.get_mut(index) {
                Some(slot) => *slot = label.clone(),
                None => {
                    return Err(format!(
                        "config.json: id2label has index {index} of {count}"
                    ));
                }
            }
        }
        Ok(labels)
    }

    /// transformers' pipeline default: sigmoid for multi-label heads and
    /// one-logit heads, softmax otherwise.
    fn scoring(&self, labels: usize) -> Scoring {
        if labels == 1 || self.problem_type.as_deref() == Some("multi_label_classification") {
            Scoring::Sigmoid
        } else {
            Scoring::Softmax
        }
    }
}

impl SequenceClassifier {
    /// Loads a verified bundle of a `*ForSequenceClassification`
    /// checkpoint; `scoring` overrides what `config.json` implies.
    pub fn from_bundle(
        bundle: &Bundle,
        device: &Device,
        max_seq_length: Option<usize>,
        scoring: Option<Scoring>,
    ) -> Result<SequenceClassifier> {
        let (head_config, labels) = HeadConfig::of(bundle)?;
        let (text, weights) = TextEncoder::from_bundle(bundle, device, max_seq_length)?;
        let head = SequenceHead::load(weights, &text.config, labels.len())
            .map_err(|e| bundle.load_error(format!("the classification head: {e}")))?;
        Ok(SequenceClassifier {
            text,
            head,
            scoring: scoring.unwrap_or(head_config.scoring(labels.len())),
            labels,
        })
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Each text's score per label, in one forward pass.
    pub fn scores(&self, encodings: &[&Encoding]) -> Result<Vec<Vec<f32>>> {
        if encodings.is_empty() {
            return Ok(Vec::new());
        }
        let hidden = self.text.forward(encodings)?;
        let logits = self.head.forward(&hidden.states)?.to_dtype(DType::F32)?;
        let scores = match self.scoring {
            Scoring::Softmax => candle_nn::ops::softmax_last_dim(&logits)?,
            Scoring::Sigmoid => candle_nn::ops::sigmoid(&logits)?,
            Scoring::None => logits,
        };
        debug_assert_eq!(scores.dim(D::Minus1)?, self.labels.len());
        Ok(scores.to_vec2()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(json: serde_json::Value) -> HeadConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn labels_and_scoring_follow_transformers() {
        let two = head(serde_json::json!({"id2label": {"1": "POSITIVE", "0": "NEGATIVE"}}));
        assert_eq!(two.labels().unwrap(), ["NEGATIVE", "POSITIVE"]);
        assert_eq!(two.scoring(2), Scoring::Softmax);
        let unnamed = head(serde_json::json!({"num_labels": 3}));
        assert_eq!(unnamed.labels().unwrap(), ["LABEL_0", "LABEL_1", "LABEL_2"]);
        let multi = head(serde_json::json!({"id2label": {"0": "a", "1": "b"},
            "problem_type": "multi_label_classification"}));
        assert_eq!(multi.scoring(2), Scoring::Sigmoid);
        assert_eq!(
            head(serde_json::json!({"num_labels": 1})).scoring(1),
            Scoring::Sigmoid
        );
        assert!(
            head(serde_json::json!({"id2label": {"x": "a"}}))
                .labels()
                .is_err()
        );
        assert!(
            head(serde_json::json!({"num_labels": 1, "id2label": {"3": "a"}}))
                .labels()
                .is_err()
        );
        assert!(head(serde_json::json!({})).labels().is_err());
    }
}
