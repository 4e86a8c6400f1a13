//! Shadowing: a candidate version answers a copy of some live requests,
//! its answer never leaves the server, and how it differs from the
//! serving version's answer is counted per output: labels and texts agree
//! or not, embeddings by their cosine, numbers within 0.1 %. Outputs that
//! describe the run rather than the answer (`usage`, `timings`: JSON) and
//! media are not compared.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use wick_types::{Value, Values};

/// How a shadow's answers compared with the serving version's for one
/// output of one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Agreement {
    /// Answers compared.
    pub compared: u64,
    /// Of those, the same (labels, texts, numbers, flags).
    pub agreed: u64,
    /// Sum and count of the cosines between embeddings.
    pub cosine_sum: f64,
    pub cosines: u64,
}

impl Agreement {
    pub fn rate(&self) -> Option<f64> {
        (self.compared > self.cosines)
            .then(|| self.agreed as f64 / (self.compared - self.cosines) as f64)
    }

    pub fn mean_cosine(&self) -> Option<f64> {
        (self.cosines > 0).then(|| self.cosine_sum / self.cosines as f64)
    }
}

/// Which comparison: the model, the shadow version, the endpoint and the
/// output's name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ShadowKey {
    pub model: String,
    pub version: String,
    pub endpoint: String,
    pub output: String,
}

/// Every comparison so far, and shadow requests that failed.
#[derive(Default)]
pub struct ShadowStats {
    agreements: Mutex<BTreeMap<ShadowKey, Agreement>>,
    failures: Mutex<BTreeMap<(String, String), u64>>,
}

impl ShadowStats {
    /// Compares one request's answers (one `Values` per input).
    pub fn compare(
        &self,
        model: &str,
        version: &str,
        endpoint: &str,
        serving: &[Values],
        shadow: &[Values],
    ) {
        let mut agreements = self.agreements.lock().unwrap_or_else(|e| e.into_inner());
        for (served, shadowed) in serving.iter().zip(shadow) {
            for (output, value) in served {
                let Some(other) = shadowed.get(output) else {
                    continue;
                };
                let Some(outcome) = compare(value, other) else {
                    continue;
                };
                let key = ShadowKey {
                    model: model.to_string(),
                    version: version.to_string(),
                    endpoint: endpoint.to_string(),
                    output: output.clone(),
                };
                let agreement = agreements.entry(key).or_default();
                agreement.compared += 1;
                match outcome {
                    Outcome::Same(same) => agreement.agreed += same as u64,
                    Outcome::Cosine(cosine) => {
                        agreement.cosines += 1;
                        agreement.cosine_sum += cosine;
                    }
                }
            }
        }
    }

    /// A shadow request that failed (or timed out).
    pub fn failed(&self, model: &str, version: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        *failures
            .entry((model.to_string(), version.to_string()))
            .or_default() += 1;
    }

    pub fn agreements(&self) -> BTreeMap<ShadowKey, Agreement> {
        self.agreements
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn failures(&self) -> BTreeMap<(String, String), u64> {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

enum Outcome {
    Same(bool),
    Cosine(f64),
}

fn compare(a: &Value, b: &Value) -> Option<Outcome> {
    Some(match (a, b) {
        (Value::Vector(a), Value::Vector(b)) => Outcome::Cosine(cosine(a, b)),
        (Value::Label(a), Value::Label(b)) => Outcome::Same(a.label == b.label),
        (Value::Number(a), Value::Number(b)) => {
            Outcome::Same((a - b).abs() <= 1e-3 * a.abs().max(b.abs()).max(1.0))
        }
        (Value::Json(_), _) | (Value::Media(_), _) => return None,
        (a, b) => Outcome::Same(a == b),
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64, *y as f64);
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return if aa == bb { 1.0 } else { 0.0 };
    }
    dot / (aa.sqrt() * bb.sqrt())
}

#[cfg(test)]
mod tests {
    use wick_types::Label;

    use super::*;

    fn values(pairs: Vec<(&str, Value)>) -> Values {
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn labels_agree_embeddings_give_cosines_and_run_details_are_skipped() {
        let stats = ShadowStats::default();
        let label = |l: &str| {
            Value::Label(Label {
                label: l.into(),
                confidences: Vec::new(),
            })
        };
        let serving = [
            values(vec![
                ("label", label("cat")),
                ("usage", Value::Json(1.into())),
            ]),
            values(vec![("label", label("dog"))]),
        ];
        let shadow = [
            values(vec![
                ("label", label("cat")),
                ("usage", Value::Json(2.into())),
            ]),
            values(vec![("label", label("cow"))]),
        ];
        stats.compare("m", "2", "classify", &serving, &shadow);
        stats.compare(
            "m",
            "2",
            "embed",
            &[values(vec![("embedding", Value::Vector(vec![1.0, 0.0]))])],
            &[values(vec![("embedding", Value::Vector(vec![1.0, 1.0]))])],
        );
        let agreements = stats.agreements();
        let key = |endpoint: &str, output: &str| ShadowKey {
            model: "m".into(),
            version: "2".into(),
            endpoint: endpoint.into(),
            output: output.into(),
        };
        assert_eq!(agreements[&key("classify", "label")].rate(), Some(0.5));
        let cosine = agreements[&key("embed", "embedding")]
            .mean_cosine()
            .unwrap();
        assert!((cosine - 0.5f64.sqrt()).abs() < 1e-9, "{cosine}");
        assert!(!agreements.contains_key(&key("classify", "usage")));
    }
}
