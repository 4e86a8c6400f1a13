//! What the engine's reference tests share.

use std::collections::BTreeMap;

use wick_types::{Value, Values};

/// The largest difference between a `label` output's scores and the
/// reference's (label → score), after checking that the best label is the
/// reference's and that every label is there.
pub fn label_difference(outputs: &Values, want: &BTreeMap<String, f64>, what: &str) -> f64 {
    let Some(Value::Label(label)) = outputs.get("label") else {
        panic!("{what}: no label in {outputs:?}");
    };
    let best = want.iter().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!(&label.label, best, "{what}: best label");
    assert_eq!(label.confidences.len(), want.len(), "{what}: every label");
    label
        .confidences
        .iter()
        .map(|c| (c.confidence - want[&c.label]).abs())
        .fold(0.0, f64::max)
}
