//! A real `wick serve` of the MiniLM example tried as a hostile client
//! would: requests that would hold the worker or the memory are refused
//! at once, before any work.

mod common;

use std::time::{Duration, Instant};

use common::{Server, minilm_dir};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post(server: &Server, path: &str, body: String) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let json =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, json, started.elapsed())
}

#[tokio::test]
async fn a_request_of_too_many_inputs_or_too_much_text_is_refused_before_any_work() {
    let server = Server::start(&[&minilm_dir()], &["--max-input-chars", "20000"]);
    let embed = "/api/models/minilm/embed";

    // 100,000 one-letter texts: 1.5 MB, under the body limit.
    let many = json!({"inputs": vec![json!({"text": "a"}); 100_000]}).to_string();
    assert!(many.len() < 2 * 1024 * 1024);
    let (status, body, took) = post(&server, embed, many).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    assert_eq!(body["error"]["field"], "inputs", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 64 sets of inputs"),
        "{body}"
    );
    assert!(took < Duration::from_millis(100), "refused in {took:?}");

    // Eight texts of 3,000 characters: 24,000 over the 20,000 allowed.
    let long = "word ".repeat(600);
    let heavy = json!({"inputs": vec![json!({"text": long}); 8]}).to_string();
    let (status, body, _) = post(&server, embed, heavy).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this one has 24000"),
        "{body}"
    );

    // Within both limits, the same kind of request is answered.
    let fine = json!({"inputs": vec![json!({"text": "a"}); 64]}).to_string();
    let (status, body, _) = post(&server, embed, fine).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outputs"].as_array().unwrap().len(), 64);
}

#[tokio::test]
async fn pages_carry_security_headers_and_other_sites_cannot_write() {
    let server = Server::start(
        &[&minilm_dir()],
        &[
            "--allow-embed",
            "https://huggingface.co",
            "--cors-origin",
            "https://notebook.example",
        ],
    );
    let client = reqwest::Client::new();
    let page = client.get(server.url("/")).send().await.unwrap();
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    let policy = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-"),
        "{policy}"
    );
    assert!(
        policy.contains("frame-ancestors 'self' https://huggingface.co"),
        "{policy}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("referrer-policy"));
    // The page's inline scripts carry the nonce the policy names.
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "{html}");
    let again = client.get(server.url("/")).send().await.unwrap();
    assert!(
        !again.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains(nonce),
        "a nonce is used once"
    );
    let api = client.get(server.url("/api/models")).send().await.unwrap();
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");

    let embed = server.url("/api/models/minilm/embed");
    let from = |origin: &str| {
        client
            .post(&embed)
            .header("origin", origin.to_string())
            .json(&json!({"inputs": {"text": "a"}}))
            .send()
    };
    let evil = from("https://evil.example").await.unwrap();
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    let body: Value = evil.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert_eq!(
        from(&server.url("")).await.unwrap().status(),
        StatusCode::OK
    );
    let allowed = from("https://notebook.example").await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://notebook.example"
    );
    // A cross-site form post to a server function is refused the same way.
    let form = client
        .post(server.url("/_wick/flag"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(r#"{"model": "minilm", "body": {}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
}
