//! The Model Context Protocol server: the official Python SDK lists and
//! calls the four example models' tools (`mcp_client.py`); the MCP routes
//! are behind the same gate as the API, and `--no-mcp` removes them.

mod common;

use common::{Server, lite0_dir, minilm_dir, run_python, smollm2_dir, test_script, whisper_dir};
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

/// An MCP request that lists the tools, as a client's first POST after
/// `initialize` would (stateless: no session needed).
fn list_tools() -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
}

async fn post_mcp(server: &Server, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(server.url(path))
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-06-18")
        .json(&list_tools());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
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

#[tokio::test]
async fn the_schema_lists_each_tool_as_gradio_does() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let tools: serde_json::Value = reqwest::get(server.url("/gradio_api/mcp/schema"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    assert_eq!(tools[0]["meta"]["mcp_type"], "tool");
}
