//! The real all-MiniLM-L6-v2 (examples/minilm, fetched by
//! scripts/fetch-examples) against vectors that sentence-transformers
//! produced on CPU (tests/fixtures/minilm-embeddings.json): every vector,
//! token count and pairwise cosine must match.

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::Device;
use serde::Deserialize;
use wick_engine::tasks::sentence_embedding::Embedder;
use wick_engine::{Bundle, Engine, JsonObject, Route};
use wick_types::Value;

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    rows: Vec<Row>,
    pairs: Vec<Pair>,
}

#[derive(Deserialize)]
struct Row {
    text: String,
    token_count: usize,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct Pair {
    a: usize,
    b: usize,
    cosine: f64,
}

fn reference() -> Reference {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm-embeddings.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn minilm() -> Bundle {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/minilm");
    Bundle::open(&dir).unwrap_or_else(|e| panic!("{e}\n(run scripts/fetch-examples first)"))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn every_vector_and_token_count_matches_the_reference_batched_and_one_by_one() {
    let reference = reference();
    assert_eq!(reference.max_seq_length, 256);
    let (embedder, _) = Embedder::from_bundle(&minilm(), &Device::Cpu).unwrap();
    let texts: Vec<&str> = reference.rows.iter().map(|r| r.text.as_str()).collect();
    let batched = embedder.embed(&texts).unwrap();

    let mut worst = f64::MAX;
    for (i, row) in reference.rows.iter().enumerate() {
        let alone = embedder.embed(&[row.text.as_str()]).unwrap();
        assert_eq!(
            alone.token_counts[0], row.token_count,
            "token count of {:?}",
            row.text
        );
        assert_eq!(
            batched.token_counts[i], row.token_count,
            "batched token count of {:?}",
            row.text
        );
        for vector in [&alone.vectors[0], &batched.vectors[i]] {
            let similarity = cosine(vector, &row.embedding);
            worst = worst.min(similarity);
            assert!(
                similarity >= 0.9999,
                "{:?}: cosine {similarity} to the reference",
                row.text
            );
        }
        let diff = alone.vectors[0]
            .iter()
            .zip(&batched.vectors[i])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(
            diff <= 1e-5,
            "{:?}: batched and alone differ by {diff}",
            row.text
        );
    }
    eprintln!("lowest cosine to the reference: {worst:.7}");
    // The 300-word text is the one that stops at max_seq_length.
    assert!(batched.token_counts.contains(&256));
}

#[test]
fn pairwise_cosines_match_the_reference() {
    let reference = reference();
    let (embedder, _) = Embedder::from_bundle(&minilm(), &Device::Cpu).unwrap();
    let texts: Vec<&str> = reference.rows.iter().map(|r| r.text.as_str()).collect();
    let vectors = embedder.embed(&texts).unwrap().vectors;
    for pair in &reference.pairs {
        let ours = cosine(&vectors[pair.a], &vectors[pair.b]);
        assert!(
            (ours - pair.cosine).abs() < 1e-4,
            "cos({:?}, {:?}) = {ours}, reference {}",
            texts[pair.a],
            texts[pair.b],
            pair.cosine
        );
    }
}

#[test]
fn the_tokenizer_gives_the_reference_ids() {
    let (embedder, _) = Embedder::from_bundle(&minilm(), &Device::Cpu).unwrap();
    assert_eq!(
        embedder.token_ids("The cat sits outside").unwrap(),
        vec![101, 1996, 4937, 7719, 2648, 102]
    );
    // No fixed padding to 128 (the pitfall in MiniLM's tokenizer.json).
    assert_eq!(
        embedder
            .embed(&["The cat sits outside"])
            .unwrap()
            .token_counts,
        vec![6]
    );
}

#[tokio::test]
async fn the_engine_answers_a_client_batch_like_single_requests() {
    let engine = Engine::new();
    engine.load(&minilm(), false).unwrap();
    let engine = Arc::new(engine);
    let inputs: Vec<JsonObject> = reference()
        .rows
        .iter()
        .map(|row| {
            serde_json::json!({"text": row.text})
                .as_object()
                .unwrap()
                .clone()
        })
        .collect();
    let batch = engine
        .predict("minilm", &Route::any(), "embed", inputs.clone())
        .await
        .unwrap();
    assert_eq!(batch.outputs.len(), inputs.len());
    for (i, one) in inputs.into_iter().enumerate() {
        let single = engine
            .predict("minilm", &Route::pinned(Some("1.0.0")), "embed", vec![one])
            .await
            .unwrap();
        let (Value::Vector(a), Value::Vector(b)) = (
            &single.outputs[0]["embedding"],
            &batch.outputs[i]["embedding"],
        ) else {
            panic!("embed answered no vector");
        };
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff <= 1e-5, "row {i} differs by {diff}");
    }
    let similarity = engine
        .predict(
            "minilm",
            &Route::any(),
            "similarity",
            vec![serde_json::json!({"a": "The new movie is awesome", "b": "The new movie is so great"}).as_object().unwrap().clone()],
        )
        .await
        .unwrap();
    let score = similarity.outputs[0]["score"].as_number().unwrap();
    assert!((score - 0.8939).abs() < 1e-3, "{score}");
}
