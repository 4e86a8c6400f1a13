//! The Model Context Protocol server: the official Python SDK lists and
//! calls the four example models' tools (`mcp_client.py`), the official
//! TypeScript SDK a text and an image tool (`mcp_client_test.mjs`); the
//! MCP routes are behind the same gate as the API, and `--no-mcp` removes
//! them.

mod common;

use common::{
    Server, lite0_dir, minilm_dir, run_node, run_python, smollm2_dir, test_script, whisper_dir,
};
use serde_json::json;

#[tokio::test]
async fn the_official_python_sdk_lists_and_calls_every_endpoint() {
    let server = Server::start(
        &[&minilm_dir(), &lite0_dir(), &smollm2_dir(), &whisper_dir()],
        &[],
    );
    let image = lite0_dir().join("examples/chelsea.png");
    run_python(&[
        test_script("mcp_client.py").as_os_str(),
        server.url("").as_ref(),
        image.as_os_str(),
    ]);
}

#[test]
fn the_official_typescript_sdk_lists_and_calls_tools() {
    let server = Server::start(&[&minilm_dir(), &lite0_dir()], &[]);
    let image = lite0_dir().join("examples/chelsea.png");
    run_node(
        "mcp_client_test.mjs",
        &[server.url("").as_ref(), image.as_os_str()],
    );
}

async fn post_mcp(server: &Server, path: &str, token: Option<&str>) -> reqwest::Response {
    common::list_mcp_tools(&server.url(path), token).await
}

#[tokio::test]
async fn mcp_is_behind_the_same_gate_and_can_be_turned_off() {
    let locked = Server::start(&[&minilm_dir()], &["--auth-token", "api-token"]);
    for path in ["/mcp", "/gradio_api/mcp/"] {
        let refused = post_mcp(&locked, path, None).await;
        assert_eq!(refused.status(), 401, "{path} without the token");
        let wrong = post_mcp(&locked, path, Some("nope")).await;
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
        let answered = post_mcp(&locked, path, Some("api-token")).await;
        assert_eq!(answered.status(), 200, "{path} with the token");
        let body = answered.text().await.unwrap();
        assert!(body.contains("\"embed\""), "{path}: {body}");
    }
    let schema = reqwest::get(locked.url("/gradio_api/mcp/schema"))
        .await
        .unwrap();
    assert_eq!(schema.status(), 401);

    let off = Server::start(&[&minilm_dir()], &["--no-mcp"]);
    for path in ["/mcp", "/gradio_api/mcp/", "/gradio_api/mcp/schema"] {
        let response = post_mcp(&off, path, None).await;
        assert!(
            matches!(response.status().as_u16(), 404 | 405),
            "{path} with --no-mcp: {}",
            response.status()
        );
    }
    let schema = reqwest::get(off.url("/gradio_api/mcp/schema"))
        .await
        .unwrap();
    assert_eq!(schema.status(), 404);
}

/// `GET /gradio_api/mcp/schema`.
async fn schema(server: &Server) -> serde_json::Value {
    let response = reqwest::get(server.url("/gradio_api/mcp/schema"))
        .await
        .unwrap();
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_schema_lists_each_tool_as_gradio_does() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let tools = schema(&server).await;
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // One model: the endpoints' own names.
    assert_eq!(names, ["embed", "similarity", "classify"], "{tools}");
    assert_eq!(
        tools[0]["inputSchema"]["required"],
        json!(["text"]),
        "{tools}"
    );
}

/// Against what Gradio 6.31 serves for a demo of the same signatures
/// (tests/fixtures/gradio-mcp-schema.json, bench/gradio_mcp_schema.py):
/// each of Gradio's keys is there with a value of the same kind, the
/// inputs' names, types and required ones are the same, and `meta` says
/// the same. The words (descriptions) are each side's own.
#[tokio::test]
async fn the_schema_has_the_shape_gradio_serves() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(test_script("fixtures/gradio-mcp-schema.json")).unwrap(),
    )
    .unwrap();
    let server = Server::start(&[&minilm_dir(), &lite0_dir()], &[]);
    let ours = schema(&server).await;
    // Gradio's demo has one of each; Wick serves two models.
    let tool_of = |endpoint: &str| match endpoint {
        "similarity" => "minilm_similarity",
        _ => "efficientnet-lite0_classify",
    };
    for gradio in fixture["schema"].as_array().unwrap() {
        let endpoint = gradio["meta"]["endpoint_name"].as_str().unwrap();
        let wick = ours
            .as_array()
            .unwrap()
            .iter()
            .find(|tool| tool["name"] == tool_of(endpoint))
            .unwrap_or_else(|| panic!("no tool for `{endpoint}` in {ours}"));
        for (key, value) in gradio.as_object().unwrap() {
            let kind = |v: &serde_json::Value| std::mem::discriminant(v);
            assert_eq!(
                kind(&wick[key]),
                kind(value),
                "`{endpoint}`: {key} in {wick}"
            );
        }
        let meta = |tool: &serde_json::Value| {
            let mut meta = tool["meta"].clone();
            meta["endpoint_name"] = json!(endpoint);
            meta
        };
        assert_eq!(meta(wick), meta(gradio), "`{endpoint}`");
        let (theirs, mine) = (&gradio["inputSchema"], &wick["inputSchema"]);
        assert_eq!(mine["type"], theirs["type"]);
        assert_eq!(mine["required"], theirs["required"], "`{endpoint}`");
        for (name, property) in theirs["properties"].as_object().unwrap() {
            assert_eq!(
                mine["properties"][name]["type"], property["type"],
                "`{endpoint}`: input {name} in {mine}"
            );
        }
        assert_eq!(
            mine["properties"].as_object().unwrap().len(),
            theirs["properties"].as_object().unwrap().len(),
            "`{endpoint}`: {mine}"
        );
    }
}

#[tokio::test]
async fn a_call_follows_the_version_the_header_pins() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let call = |version: &'static str| {
        reqwest::Client::new()
            .post(server.url("/mcp"))
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-06-18")
            .header("X-Wick-Version", version)
            .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                          "params": {"name": "embed", "arguments": {"text": "hi"}}}))
            .send()
    };
    let pinned: serde_json::Value = call("1.0.0").await.unwrap().json().await.unwrap();
    assert_eq!(pinned["result"]["isError"], false, "{pinned}");
    assert_eq!(
        pinned["result"]["structuredContent"]["embedding"]
            .as_array()
            .map(Vec::len),
        Some(384),
        "{pinned}"
    );
    let missing: serde_json::Value = call("9.9.9").await.unwrap().json().await.unwrap();
    assert_eq!(missing["result"]["isError"], true, "{missing}");
    let message = missing["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("9.9.9"), "{missing}");
}
