//! The Open Inference Protocol (V2) over HTTP with the MiniLM example:
//! NVIDIA's `tritonclient[http]` from PyPI (`triton_client.py`: health,
//! metadata, a batch of 3 with JSON and binary tensors, requested
//! outputs, bad requests) and `tritonclient[grpc]` against `--grpc-port`,
//! and the protocol's error shape and version paths checked here.

mod common;

use common::{Server, minilm_dir, run_python, test_script};
use serde_json::{Value, json};

#[test]
fn tritonclient_works_unchanged() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let script = test_script("triton_client.py");
    run_python(&[script.as_os_str(), server.base.as_ref()]);
}

#[test]
fn tritonclient_over_grpc_works_unchanged() {
    let port = common::free_port();
    let server = Server::start(&[&minilm_dir()], &["--grpc-port", &port.to_string()]);
    let script = test_script("triton_grpc_client.py");
    let address = format!("127.0.0.1:{port}");
    run_python(&[script.as_os_str(), address.as_ref()]);
    drop(server);
}

#[tokio::test]
async fn errors_are_v2_shaped_and_versions_have_their_paths() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let client = reqwest::Client::new();
    let infer = |path: &str, body: Value| {
        client
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let one =
        json!({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["hi"]}]});
    let pinned = infer("/v2/models/minilm/versions/1.0.0/infer", one.clone())
        .await
        .unwrap();
    assert_eq!(pinned.status(), 200);
    assert_eq!(pinned.headers()["x-wick-version"], "1.0.0");
    let body: Value = pinned.json().await.unwrap();
    assert_eq!(body["outputs"][0]["shape"], json!([1, 384]));
    for (path, body, status, says) in [
        ("/v2/models/minilm/versions/9/infer", one.clone(), 404, "9"),
        ("/v2/models/nope/infer", one.clone(), 404, "nope"),
        (
            "/v2/models/minilm/infer",
            json!({"inputs": []}),
            400,
            "no inputs",
        ),
        (
            "/v2/models/minilm/infer",
            json!({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a"]}]}),
            400,
            "shape",
        ),
        (
            "/v2/models/minilm/infer",
            json!({"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]}),
            422,
            "text",
        ),
    ] {
        let response = infer(path, body).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{path}: {error}");
    }
    let metadata: Value = client
        .get(server.url("/v2/models/minilm.similarity/versions/1.0.0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["inputs"][1]["name"], "b");
    assert_eq!(metadata["outputs"][0]["datatype"], "FP32");
}

/// The classification of one photo sent as binary tensor data: the
/// request's JSON `header` (its `inputs`, `outputs`), then `data`.
async fn classify_binary(header: Value, data: &[u8]) -> Value {
    let server = Server::start(&[&common::lite0_dir()], &[]);
    let header = header.to_string();
    let mut body = header.clone().into_bytes();
    body.extend(data);
    let response = reqwest::Client::new()
        .post(server.url("/v2/models/efficientnet-lite0/infer"))
        .header("content-type", "application/octet-stream")
        .header("inference-header-content-length", header.len())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let label = answer["outputs"][0]["data"][0].as_str().unwrap();
    assert!(label.contains("cat"), "{answer}");
    answer
}

/// An image travels as a BYTES element holding the encoded file, in the
/// binary tensor extension; the label comes back with its top-5 tensors.
#[tokio::test]
async fn an_image_is_classified_from_binary_tensor_data() {
    let photo = std::fs::read(common::lite0_dir().join("examples/chelsea.png")).unwrap();
    let mut data = (photo.len() as u32).to_le_bytes().to_vec();
    data.extend(&photo);
    let header = json!({
        "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                    "parameters": {"binary_data_size": data.len()}}],
        "outputs": [{"name": "label"}, {"name": "label_scores"}],
    });
    let answer = classify_binary(header, &data).await;
    assert_eq!(answer["outputs"][1]["shape"], json!([1, 5]));
}

/// An image as UINT8 RGB pixels `[1, h, w, 3]` in binary data: the
/// same label as its PNG file gives.
#[tokio::test]
async fn an_image_is_classified_from_uint8_pixels() {
    let photo = image::open(common::lite0_dir().join("examples/chelsea.png"))
        .unwrap()
        .to_rgb8();
    let (width, height) = photo.dimensions();
    let pixels = photo.into_raw();
    let header = json!({
        "inputs": [{"name": "image", "shape": [1, height, width, 3], "datatype": "UINT8",
                    "parameters": {"binary_data_size": pixels.len()}}],
        "outputs": [{"name": "label"}],
    });
    classify_binary(header, &pixels).await;
}
