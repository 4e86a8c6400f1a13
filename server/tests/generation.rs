//! Text generation over HTTP with the SmolLM2 example: the official
//! `openai` Python client (`openai_client.py`), the JSON API's SSE
//! (partial events, then `done` with usage and timings), bad input
//! answered 422 with the field named, and a client that leaves stopping
//! decoding on the server.

mod common;

use std::time::{Duration, Instant};

use common::{Server, metric, post, run_python, smollm2_dir, sse_events, test_script};
use serde_json::{Value, json};

const RAW: &str =
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";

#[tokio::test]
async fn the_openai_python_client_works_unchanged() {
    let server = Server::start(&[&smollm2_dir()], &[]);
    let tokenizer = tokenizers::Tokenizer::from_file(smollm2_dir().join("tokenizer.json")).unwrap();
    let count = |text: &str| tokenizer.encode(text, false).unwrap().len().to_string();
    let chat_prompt = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    let script = test_script("openai_client.py");
    let (raw, chat) = (count(RAW), count(chat_prompt));
    run_python(&[
        script.as_os_str(),
        server.base.as_ref(),
        raw.as_ref(),
        chat.as_ref(),
    ]);
}

/// The JSON API's events, as (name, data) pairs.
async fn events(server: &Server, path: &str, body: Value) -> Vec<(String, Value)> {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    sse_events(&response.text().await.unwrap())
}

#[tokio::test]
async fn the_json_api_streams_tokens_then_the_whole_answer() {
    let server = Server::start(&[&smollm2_dir()], &[]);
    let body = json!({"inputs": {"prompt": RAW, "temperature": 0, "max_new_tokens": 16}});
    let events = events(&server, "/api/models/smollm2/complete", body).await;
    let partials: Vec<&str> = events
        .iter()
        .filter(|(name, _)| name == "partial")
        .map(|(_, data)| data["outputs"]["text"].as_str().unwrap())
        .collect();
    assert!(partials.len() >= 2, "{events:?}");
    assert_eq!(partials.concat(), "The capital of France is Paris.");
    let (name, done) = events.last().unwrap();
    assert_eq!(name, "done");
    let outputs = &done["outputs"];
    assert_eq!(outputs["text"], "The capital of France is Paris.");
    assert_eq!(outputs["finish_reason"], "stop");
    assert_eq!(outputs["usage"]["prompt_tokens"], 16);
    assert_eq!(outputs["usage"]["completion_tokens"], 7);
    assert!(
        outputs["timings"]["time_to_first_token_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(outputs["timings"]["tokens_per_second"].as_f64().unwrap() > 0.0);

    // Without the header: one body.
    let client = reqwest::Client::new();
    let (status, body) = post(
        &client,
        server.url("/api/models/smollm2/chat"),
        "application/json",
        json!({"inputs": {"messages": [{"role": "user", "content": "Hi"}], "max_new_tokens": 4}})
            .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let completion_tokens = body["outputs"]["usage"]["completion_tokens"].as_u64();
    assert!(
        completion_tokens.is_some_and(|n| (1..=4).contains(&n)),
        "{body}"
    );
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named() {
    let server = Server::start(&[&smollm2_dir()], &[]);
    let client = reqwest::Client::new();
    let long_prompt = "word ".repeat(3000);
    let cases = [
        ("chat", json!({"messages": []}), "messages"),
        (
            "chat",
            json!({"messages": [{"role": "wizard", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            "chat",
            json!({"messages": [{"role": "user"}]}),
            "messages[0].content",
        ),
        (
            "chat",
            json!({"messages": [{"role": "user", "content": "x"}], "max_new_tokens": 100000}),
            "max_new_tokens",
        ),
        ("complete", json!({"prompt": long_prompt}), "prompt"),
        (
            "complete",
            json!({"prompt": "word ".repeat(1500), "max_new_tokens": 1000}),
            "max_new_tokens",
        ),
    ];
    for (endpoint, inputs, field) in cases {
        let (status, body) = post(
            &client,
            server.url(&format!("/api/models/smollm2/{endpoint}")),
            "application/json",
            json!({"inputs": inputs}).to_string(),
        )
        .await;
        assert_eq!(status, 422, "{endpoint} {field}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
}

async fn generated_tokens(server: &Server) -> f64 {
    metric(server, "wick_generated_tokens_total{").await
}

#[tokio::test]
async fn a_client_that_leaves_stops_decoding_within_a_step() {
    let server = Server::start(&[&smollm2_dir()], &[]);
    let body = json!({"inputs": {"prompt": "Once upon a time", "temperature": 0.8, "max_new_tokens": 1000, "seed": 1}});
    let mut response = reqwest::Client::new()
        .post(server.url("/api/models/smollm2/complete"))
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    // Read a few events, then hang up.
    let started = Instant::now();
    let mut read = 0;
    while read < 5 {
        response
            .chunk()
            .await
            .unwrap()
            .expect("the stream ended early");
        read += 1;
    }
    drop(response);
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_stop = generated_tokens(&server).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        generated_tokens(&server).await,
        after_stop,
        "decoding went on after the client left"
    );
    assert!(
        after_stop < 1000.0,
        "it generated everything in {elapsed:?}"
    );
    // It stopped because the client left, not because the text ended.
    let cancelled = r#"wick_requests_total{model="smollm2",version="1.0.0",endpoint="complete",outcome="cancelled"}"#;
    assert_eq!(metric(&server, cancelled).await, 1.0);
}
