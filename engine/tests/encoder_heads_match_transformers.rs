//! Every BERT-family architecture and head against the reference code:
//! tiny random-weight models that `bench/encoder_heads_reference.py` made
//! with transformers and saved with `save_pretrained`, and what
//! transformers' pipelines and sentence-transformers answered for them
//! (`tests/fixtures/heads/<model>/expected.json`). Each folder is bundled
//! as `wick bundle` does and served by an engine.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use wick_engine::source::{Source, bundle_from_source};
use wick_engine::tasks::{
    sentence_embedding, text_classification, text_ranking, token_classification,
};
use wick_engine::{Engine, JsonObject, Route, TaskKind};
use wick_types::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/heads")
        .join(name)
}

fn expected<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let text = std::fs::read_to_string(fixture(name).join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// An engine serving the fixture `name` as `kind`, bundled into `out`.
fn serve(name: &str, kind: &TaskKind, out: &Path) -> Engine {
    let bundle = bundle_from_source(
        &Source::Folder(fixture(name)),
        kind,
        name,
        "1.0.0",
        &out.join(name),
    )
    .unwrap();
    let engine = Engine::new();
    engine.load(&bundle, false).unwrap();
    engine
}

fn object(value: serde_json::Value) -> JsonObject {
    value.as_object().cloned().unwrap()
}

#[derive(Deserialize)]
struct Scored {
    label: String,
    score: f64,
}

#[derive(Deserialize)]
struct Classified {
    texts: Vec<String>,
    labels: Vec<Vec<Scored>>,
}

#[tokio::test]
async fn classifiers_give_the_pipeline_s_scores_batched_and_alone() {
    let out = tempfile::tempdir().unwrap();
    for name in [
        "bert-classifier",
        "roberta-multilabel",
        "xlm-roberta-classifier",
        "distilbert-classifier",
        "deberta-classifier",
        "modernbert-classifier",
    ] {
        let engine = serve(name, &text_classification::KIND, out.path());
        let reference: Classified = expected(name);
        let inputs: Vec<JsonObject> = reference
            .texts
            .iter()
            .map(|text| object(serde_json::json!({ "text": text })))
            .collect();
        let batched = engine
            .predict(name, &Route::any(), "classify", inputs.clone())
            .await
            .unwrap();
        let mut worst: f64 = 0.0;
        for (i, want) in reference.labels.iter().enumerate() {
            let alone = engine
                .predict(name, &Route::any(), "classify", vec![inputs[i].clone()])
                .await
                .unwrap();
            for outputs in [&batched.outputs[i], &alone.outputs[0]] {
                let Value::Label(got) = &outputs["label"] else {
                    panic!("{name}: no label");
                };
                assert_eq!(got.label, want[0].label, "{name}: best label of text {i}");
                assert_eq!(
                    got.confidences.len(),
                    want.len(),
                    "{name}: labels of text {i}"
                );
                for scored in want {
                    let ours = got
                        .confidences
                        .iter()
                        .find(|c| c.label == scored.label)
                        .unwrap_or_else(|| panic!("{name}: no {}", scored.label));
                    worst = worst.max((ours.confidence - scored.score).abs());
                }
            }
        }
        assert!(worst <= 1e-4, "{name}: a score differs by {worst}");
        eprintln!("{name}: largest score difference {worst:.2e}");
    }
}

#[derive(Deserialize)]
struct Ranked {
    query: String,
    documents: Vec<String>,
    scores: Vec<f64>,
    order: Vec<usize>,
}

#[tokio::test]
async fn rerankers_give_cross_encoder_scores_and_order() {
    let out = tempfile::tempdir().unwrap();
    for name in ["bert-reranker", "xlm-roberta-reranker"] {
        let engine = serve(name, &text_ranking::KIND, out.path());
        let reference: Ranked = expected(name);
        let inputs = object(serde_json::json!({
            "query": reference.query, "documents": reference.documents
        }));
        let answer = engine
            .predict(name, &Route::any(), "rerank", vec![inputs.clone(), inputs])
            .await
            .unwrap();
        for outputs in &answer.outputs {
            let Value::Json(serde_json::Value::Array(results)) = &outputs["results"] else {
                panic!("{name}: no results");
            };
            let order: Vec<usize> = results
                .iter()
                .map(|r| r["index"].as_u64().unwrap() as usize)
                .collect();
            assert_eq!(order, reference.order, "{name}: order of {results:?}");
            for result in results {
                let index = result["index"].as_u64().unwrap() as usize;
                let diff = (result["score"].as_f64().unwrap() - reference.scores[index]).abs();
                assert!(diff <= 1e-4, "{name}: document {index} differs by {diff}");
            }
            let Value::Label(ranking) = &outputs["ranking"] else {
                panic!("{name}: no ranking");
            };
            assert_eq!(ranking.label, reference.documents[reference.order[0]]);
        }
    }
}

#[derive(Deserialize)]
struct Embedded {
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
    /// With the `query` prompt, for a model that has prompts.
    #[serde(default)]
    query_vectors: Vec<Vec<f32>>,
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// `embed` of every text (with `extra` inputs beside each), one batch.
async fn embed_all(
    engine: &Engine,
    name: &str,
    texts: &[String],
    extra: serde_json::Value,
) -> Vec<Vec<f32>> {
    let inputs: Vec<JsonObject> = texts
        .iter()
        .map(|text| {
            let mut input = object(extra.clone());
            input.insert("text".into(), text.as_str().into());
            input
        })
        .collect();
    let answer = engine
        .predict(name, &Route::any(), "embed", inputs)
        .await
        .unwrap();
    answer
        .outputs
        .iter()
        .map(|outputs| match &outputs["embedding"] {
            Value::Vector(vector) => vector.clone(),
            _ => panic!("{name}: no vector"),
        })
        .collect()
}

#[tokio::test]
async fn embedders_of_other_families_give_sentence_transformers_vectors() {
    let out = tempfile::tempdir().unwrap();
    for name in [
        "xlm-roberta-embedder",
        "distilbert-embedder",
        "modernbert-embedder",
        "nomic-embedder",
        "nomic-embedder-original",
    ] {
        let engine = serve(name, &sentence_embedding::KIND, out.path());
        let reference: Embedded = expected(name);
        let plain = embed_all(&engine, name, &reference.texts, serde_json::json!({})).await;
        assert_eq!(plain.len(), reference.vectors.len());
        for (i, (got, want)) in plain.iter().zip(&reference.vectors).enumerate() {
            let similarity = cosine(got, want);
            assert!(similarity >= 0.9999, "{name}: text {i} cosine {similarity}");
        }
        if reference.query_vectors.is_empty() {
            continue;
        }
        // sentence-transformers' prompts: `prompt_name` puts one first.
        let prompt = serde_json::json!({"prompt_name": "query"});
        let prompted = embed_all(&engine, name, &reference.texts, prompt).await;
        assert_eq!(prompted.len(), reference.query_vectors.len());
        for (i, (got, want)) in prompted.iter().zip(&reference.query_vectors).enumerate() {
            let similarity = cosine(got, want);
            assert!(
                similarity >= 0.9999,
                "{name}: query {i} cosine {similarity}"
            );
            assert!(
                cosine(got, &reference.vectors[i]) < 0.9999,
                "{name}: the prompt changed nothing"
            );
        }
    }
}

#[derive(Deserialize)]
struct Tagged {
    texts: Vec<String>,
    entities: Vec<Vec<serde_json::Value>>,
}

#[tokio::test]
async fn taggers_group_entities_as_the_pipeline_does() {
    let out = tempfile::tempdir().unwrap();
    for name in ["bert-ner", "deberta-ner", "modernbert-ner"] {
        tagger_matches(name, out.path()).await;
    }
}

async fn tagger_matches(name: &str, out: &Path) {
    let engine = serve(name, &token_classification::KIND, out);
    let reference: Tagged = expected(name);
    let inputs: Vec<JsonObject> = reference
        .texts
        .iter()
        .map(|text| object(serde_json::json!({ "text": text })))
        .collect();
    let answer = engine
        .predict(name, &Route::any(), "entities", inputs)
        .await
        .unwrap();
    let mut worst: f64 = 0.0;
    for (i, want) in reference.entities.iter().enumerate() {
        let Value::Json(got) = &answer.outputs[i]["entities"] else {
            panic!("no entities");
        };
        assert_eq!(got["text"], reference.texts[i].as_str());
        let got = got["entities"].as_array().unwrap();
        let key = |e: &serde_json::Value| {
            (
                e["entity_group"].clone(),
                e["word"].clone(),
                e["start"].clone(),
                e["end"].clone(),
            )
        };
        assert_eq!(
            got.iter().map(key).collect::<Vec<_>>(),
            want.iter().map(key).collect::<Vec<_>>(),
            "text {i}: {:?}",
            reference.texts[i]
        );
        for (g, w) in got.iter().zip(want) {
            worst = worst.max((g["score"].as_f64().unwrap() - w["score"].as_f64().unwrap()).abs());
        }
    }
    assert!(worst <= 1e-4, "a score differs by {worst}");
    eprintln!("{name}: largest score difference {worst:.2e}");
}
