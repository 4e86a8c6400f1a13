//! The encoder tasks end to end with the `wick` binary, on the tiny
//! fixtures of `engine/tests/fixtures/heads` (made by
//! `bench/encoder_heads_reference.py` with transformers): `wick bundle`
//! picks each folder's task with no `--task` (and refuses one it cannot
//! serve, saying what it found), and `wick serve` answers TEI's routes,
//! OpenAI's `/v1/embeddings` and the Hugging Face inference API's shapes
//! as the official clients expect them (`encoder_clients.py`).

mod common;

use std::path::PathBuf;

use common::{
    Server, bundle_fixture as bundle, bundle_folder, heads_fixtures as fixtures, run_python,
    test_script, wick, zero_shot_fixtures,
};
use serde_json::{Value, json};

#[test]
fn wick_bundle_picks_each_family_s_task_and_refuses_what_it_cannot_serve() {
    let out = tempfile::tempdir().unwrap();
    for (name, task) in [
        ("bert-classifier", "text-classification"),
        ("roberta-multilabel", "text-classification"),
        ("distilbert-classifier", "text-classification"),
        ("xlm-roberta-reranker", "text-ranking"),
        ("bert-reranker", "text-ranking"),
        ("xlm-roberta-embedder", "sentence-embedding"),
        ("distilbert-embedder", "sentence-embedding"),
        ("bert-ner", "token-classification"),
        ("deberta-classifier", "text-classification"),
        ("deberta-ner", "token-classification"),
        ("modernbert-classifier", "text-classification"),
        ("modernbert-ner", "token-classification"),
        ("modernbert-embedder", "sentence-embedding"),
        ("nomic-embedder-original", "sentence-embedding"),
    ] {
        assert_eq!(bundle(name, out.path()).1, task, "{name}");
    }
    for name in ["clip", "siglip"] {
        let folder = zero_shot_fixtures().join(name);
        let task = bundle_folder(&folder, name, out.path()).1;
        assert_eq!(task, "zero-shot-image-classification", "{name}");
    }
    let qwen = out.path().join("qwen");
    std::fs::create_dir_all(&qwen).unwrap();
    std::fs::write(
        qwen.join("config.json"),
        json!({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}).to_string(),
    )
    .unwrap();
    let refused = wick()
        .args(["bundle", "--name", "qwen"])
        .arg(&qwen)
        .arg(out.path().join("qwen-bundle"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("Qwen2ForCausalLM") && message.contains("--task"),
        "{message}"
    );
}

async fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn tei_openai_and_inference_api_routes_answer_as_their_clients_expect() {
    let out = tempfile::tempdir().unwrap();
    let names = [
        "bert-classifier",
        "bert-ner",
        "xlm-roberta-reranker",
        "xlm-roberta-embedder",
        "distilbert-embedder",
    ];
    let dirs: Vec<PathBuf> = names.iter().map(|n| bundle(n, out.path()).0).collect();
    let server = Server::start(&dirs.iter().map(PathBuf::as_path).collect::<Vec<_>>(), &[]);

    // TEI's /rerank: the cross-encoder's order, texts on request.
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("xlm-roberta-reranker/expected.json")).unwrap(),
    )
    .unwrap();
    let (status, ranked) = post(
        &server,
        "/rerank",
        json!({"query": reference["query"], "texts": reference["documents"], "return_text": true}),
    )
    .await;
    assert_eq!(status, 200, "{ranked}");
    let order: Vec<Value> = ranked
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].clone())
        .collect();
    assert_eq!(Value::from(order), reference["order"]);
    let best = reference["order"][0].as_u64().unwrap() as usize;
    assert_eq!(ranked[0]["text"], reference["documents"][best]);

    // /predict: one text → its labels; a list → a list of them; pairs refused.
    let (status, one) = post(&server, "/predict", json!({"inputs": "I loved it"})).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one.as_array().unwrap().len(), 3, "{one}");
    let (_, many) = post(&server, "/predict", json!({"inputs": ["a", ["b"]]})).await;
    assert_eq!(many.as_array().unwrap().len(), 2, "{many}");
    let (status, refused) = post(&server, "/predict", json!({"inputs": [["a", "b"]]})).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error_type"], "validation", "{refused}");

    // /tokenize: the bundle's tokenizer, as the tokenizers library gives
    // it, special tokens marked, offsets in bytes of each text.
    let text = "Café naïve, Marie Curie";
    let (status, tokens) = post(
        &server,
        "/tei/bert-ner/tokenize",
        json!({"inputs": [text, "Paris"]}),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let tokenizer =
        tokenizers::Tokenizer::from_file(fixtures().join("bert-ner/tokenizer.json")).unwrap();
    let want = tokenizer.encode(text, true).unwrap();
    let first = tokens[0].as_array().unwrap();
    let ids: Vec<u64> = first.iter().map(|t| t["id"].as_u64().unwrap()).collect();
    let want_ids: Vec<u64> = want.get_ids().iter().map(|&id| u64::from(id)).collect();
    assert_eq!(ids, want_ids);
    assert_eq!(first[0]["special"], true, "{tokens}");
    assert_eq!(first[0]["start"], Value::Null, "{tokens}");
    for token in &first[1..first.len() - 1] {
        let (start, stop) = (
            token["start"].as_u64().unwrap(),
            token["stop"].as_u64().unwrap(),
        );
        let piece = &text.as_bytes()[start as usize..stop as usize];
        assert_eq!(token["text"], *String::from_utf8_lossy(piece), "{token}");
    }
    assert_eq!(tokens.as_array().unwrap().len(), 2);
    let (status, bare) = post(
        &server,
        "/tei/bert-ner/tokenize",
        json!({"inputs": "Paris", "add_special_tokens": false}),
    )
    .await;
    assert_eq!(status, 200, "{bare}");
    assert!(
        bare[0]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["special"] == false),
        "{bare}"
    );
    let (status, ambiguous) = post(&server, "/tokenize", json!({"inputs": "x"})).await;
    assert_eq!(status, 400, "{ambiguous}");

    // Two embedders: the top-level route asks which; /tei/{model} names it.
    let (status, ambiguous) = post(&server, "/embed", json!({"inputs": "x"})).await;
    assert_eq!(status, 400, "{ambiguous}");
    let message = ambiguous["error"].as_str().unwrap();
    assert!(
        message.contains("distilbert-embedder") && message.contains("/tei/"),
        "{message}"
    );
    let (status, vectors) = post(
        &server,
        "/tei/distilbert-embedder/embed",
        json!({"inputs": ["a", "b"]}),
    )
    .await;
    assert_eq!(status, 200, "{vectors}");
    assert_eq!(vectors.as_array().unwrap().len(), 2);
    assert_eq!(vectors[0].as_array().unwrap().len(), 32);
    let (status, wrong) = post(
        &server,
        "/tei/bert-classifier/embed",
        json!({"inputs": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{wrong}");
    let info: Value = reqwest::get(server.url("/tei/xlm-roberta-reranker/info"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info["model_type"]["reranker"].is_object(), "{info}");

    let script = test_script("encoder_clients.py");
    run_python(&[
        script.as_os_str(),
        server.base.as_ref(),
        fixtures().as_os_str(),
    ]);
}
