//! The JSON API of a real `wick serve` of the MiniLM example, over HTTP on
//! 127.0.0.1: every success shape, and every error status with its JSON body.

mod common;

use common::{Server, minilm_dir};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Api {
    server: Server,
    client: reqwest::Client,
}

impl Api {
    fn start() -> Api {
        Api {
            server: Server::start(&[&minilm_dir()], &["--max-body-bytes", "65536"]),
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.client.get(self.server.url(path)).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        common::post(
            &self.client,
            self.server.url(path),
            "application/json",
            body,
        )
        .await
    }

    async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post(path, body.to_string()).await
    }
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn models_are_listed_and_described_with_their_signatures() {
    let api = Api::start();
    let (status, body) = api.get("/api/models").await;
    assert_eq!(status, StatusCode::OK);
    let model = &body["models"][0];
    assert_eq!(model["name"], "minilm");
    assert_eq!(model["version"], "1.0.0");
    assert_eq!(model["task"], "sentence-embedding");
    let names: Vec<&str> = model["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["embed", "similarity", "classify"]);
    let embed = &model["endpoints"][0];
    assert_eq!(embed["inputs"][0]["name"], "text");
    assert_eq!(embed["inputs"][0]["kind"]["type"], "text");
    assert_eq!(
        embed["outputs"][0]["kind"],
        json!({"type": "embedding", "dim": 384})
    );

    let (status, one) = api.get("/api/models/minilm").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&one, model);
}

#[tokio::test]
async fn predictions_answer_one_input_or_a_client_batch() {
    let api = Api::start();
    let (status, body) = api
        .post_json(
            "/api/models/minilm/embed",
            json!({"inputs": {"text": "The cat sits outside"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model"], "minilm");
    assert_eq!(body["version"], "1.0.0");
    assert!(body["duration_ms"].as_f64().unwrap() > 0.0);
    let vector = body["outputs"]["embedding"].as_array().unwrap();
    assert_eq!(vector.len(), 384);
    let norm: f64 = vector
        .iter()
        .map(|x| x.as_f64().unwrap().powi(2))
        .sum::<f64>()
        .sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");

    let (status, body) = api
        .post_json(
            "/api/models/minilm/similarity",
            json!({"inputs": [
                {"a": "A man is eating food.", "b": "A man is eating a piece of bread."},
                {"a": "The new movie is awesome", "b": "The new movie is so great"}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let scores: Vec<f64> = body["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["score"].as_f64().unwrap())
        .collect();
    assert!((scores[0] - 0.7553).abs() < 1e-3, "{scores:?}");
    assert!((scores[1] - 0.8939).abs() < 1e-3, "{scores:?}");

    let (status, body) = api
        .post_json(
            "/api/models/minilm/classify",
            json!({"inputs": {"text": "The new movie is awesome", "labels": ["negative", "positive"]}, "version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let label = &body["outputs"]["label"];
    assert_eq!(label["label"], "positive");
    let confidences: Vec<f64> = label["confidences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["confidence"].as_f64().unwrap())
        .collect();
    assert!((confidences.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(confidences[0] >= confidences[1]);
}

#[tokio::test]
async fn bad_requests_get_json_errors_with_the_right_status() {
    let api = Api::start();
    let embed = "/api/models/minilm/embed";

    let (status, body) = api.post(embed, "{\"inputs\": {").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "malformed_json");

    let (status, body) = api
        .post_json("/api/models/nope/embed", json!({"inputs": {"text": "x"}}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "model_not_found");
    let (status, body) = api.get("/api/models/nope").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "model_not_found");
    let (status, body) = api
        .post_json("/api/models/minilm/nope", json!({"inputs": {"text": "x"}}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "endpoint_not_found");
    let (status, body) = api
        .post_json(embed, json!({"inputs": {"text": "x"}, "version": "9.9.9"}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "version_not_found");
    let (status, body) = api.get("/api/nothing/here").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    for (request, field) in [
        (json!({"inputs": {}}), "text"),
        (json!({"inputs": {"text": 42}}), "text"),
        (json!({"inputs": {"text": "x", "colour": "red"}}), "colour"),
        (json!({"inputs": [{"text": "ok"}, {"txt": "typo"}]}), "txt"),
        (json!({"inputs": []}), "inputs"),
        (json!({"text": "forgot the wrapper"}), "text"),
        (json!({"inputs": "just a string"}), "inputs"),
    ] {
        let (status, body) = api.post_json(embed, request.clone()).await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        );
        assert_eq!(body["error"]["field"], field, "{request} → {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{body}"
        );
    }
    let (status, body) = api
        .post_json(
            "/api/models/minilm/classify",
            json!({"inputs": {"text": "x", "labels": []}}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    assert_eq!(body["error"]["field"], "labels");

    let huge = json!({"inputs": {"text": "a".repeat(100_000)}}).to_string();
    let (status, body) = api.post(embed, huge).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );

    let response = api.client.get(api.server.url(embed)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");

    // After all that, the server still serves.
    let (status, _) = api
        .post_json(embed, json!({"inputs": {"text": "still here"}}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn probes_and_the_page_answer() {
    let api = Api::start();
    assert_eq!(
        api.get("/healthz").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["models"], json!(["minilm@1.0.0"]));
    let page = api.client.get(api.server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    // Server-rendered: the model and its endpoints are in the HTML itself.
    assert!(html.contains("MiniLM sentence embeddings"), "{html}");
    assert!(html.contains("similarity"), "{html}");
    // A text demo hydrates with the light build (app/src/bundle.rs).
    assert!(html.contains("/pkg/wick_light.js"), "{html}");
}

/// Every answer names its request (the client's id, or a new one) and a
/// prediction says where its time went; the server's log has the span.
#[tokio::test]
async fn answers_carry_a_request_id_and_predictions_their_timing() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let client = reqwest::Client::new();
    let embed = server.url("/api/models/minilm/embed");
    let given = client
        .post(&embed)
        .header("x-request-id", "trace-me-1")
        .json(&json!({"inputs": {"text": "The cat sits outside"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(given.status(), StatusCode::OK);
    assert_eq!(given.headers()["x-request-id"], "trace-me-1");
    let timing = given.headers()["server-timing"]
        .to_str()
        .unwrap()
        .to_string();
    let phases: Vec<(&str, f64)> = timing
        .split(", ")
        .map(|phase| {
            let (name, duration) = phase.split_once(";dur=").unwrap();
            (name, duration.parse().unwrap())
        })
        .collect();
    assert_eq!(
        phases.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        ["prepare", "queue", "run"],
        "{timing}"
    );
    assert!(phases.iter().all(|(_, ms)| *ms >= 0.0), "{timing}");
    let (_, _, run) = (phases[0].1, phases[1].1, phases[2].1);
    assert!(run > 0.0, "the model's run took time: {timing}");
    // A new id for a client that sent none, on errors too.
    let refused = client
        .post(&embed)
        .json(&json!({"inputs": {"txt": "a"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let id = refused.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
}
