//! What a developer reads: the server-rendered page works without WASM,
//! /openapi.json is a valid OpenAPI 3.1 document, and every snippet on the
//! "Use via API" page runs as it is against the server.
//!
//! The Python parts need the venv that scripts/test makes (`common::python`).

mod common;

use std::process::Command;

use common::{Server, lite0_dir, minilm_dir, python, run_python, smollm2_dir, whisper_dir};

async fn get_text(server: &Server, path: &str) -> String {
    let response = reqwest::get(server.url(path)).await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_server_rendered_page_shows_the_form_and_examples_without_wasm() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let html = get_text(&server, "/m/minilm/classify").await;
    // In the document itself, not in a deferred <template> filled by script.
    let before_templates = html.split("<template").next().unwrap();
    for hook in [
        "data-testid=\"input-text\"",
        "data-testid=\"input-labels\"",
        "data-testid=\"submit\"",
        "data-testid=\"clear\"",
        "data-testid=\"example-0\"",
        "data-testid=\"output-label\"",
    ] {
        assert!(
            before_templates.contains(hook),
            "{hook} is missing from the HTML:\n{html}"
        );
    }
    assert!(
        before_templates.contains("My package arrived broken"),
        "examples missing:\n{html}"
    );
    assert!(
        before_templates.contains("<label for=\"input-classify-text\""),
        "labels are not tied to inputs"
    );
    // The wick.toml article is rendered from markdown, links included.
    assert!(
        before_templates
            .contains("<a href=\"https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2\">")
    );
    let home = get_text(&server, "/").await;
    assert!(
        home.contains("data-testid=\"input-text\""),
        "/ does not open the first endpoint"
    );
}

#[tokio::test]
async fn openapi_json_is_a_valid_openapi_3_1_document() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let document = get_text(&server, "/openapi.json").await;
    let parsed: serde_json::Value = serde_json::from_str(&document).unwrap();
    assert_eq!(parsed["openapi"], "3.1.0");
    for endpoint in ["embed", "similarity", "classify"] {
        let path = &parsed["paths"][format!("/api/models/minilm/{endpoint}")]["post"];
        assert!(
            path["requestBody"].is_object(),
            "{endpoint} has no request body"
        );
        assert!(
            path["responses"]["422"].is_object(),
            "{endpoint} documents no 422"
        );
    }
    assert_eq!(
        parsed["components"]["schemas"]["minilm.embed.Outputs"]["properties"]["embedding"]["minItems"],
        384
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &document).unwrap();
    run_python(&[
        "-m".as_ref(),
        "openapi_spec_validator".as_ref(),
        file.path().as_os_str(),
    ]);
}

/// The text of `<code data-testid="...">` on a server-rendered page.
fn snippet(html: &str, testid: &str) -> String {
    common::texts_of(html, testid)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no snippet {testid}"))
}

#[tokio::test]
async fn every_snippet_on_the_api_page_runs_against_the_server() {
    let server = Server::start(&[&minilm_dir(), &lite0_dir()], &[]);
    // The image snippets download the example photo: into a scratch folder.
    let scratch = tempfile::tempdir().unwrap();
    // What each prints: the outputs by name, or (gradio_client) the value
    // alone, as Gradio's client returns a single output.
    for (model, endpoint, output_name, value) in [
        ("minilm", "embed", "embedding", "[0."),
        ("minilm", "similarity", "score", "0."),
        ("minilm", "classify", "label", "'label'"),
        ("efficientnet-lite0", "classify", "tiger cat", "tiger cat"),
    ] {
        let html = get_text(&server, &format!("/m/{model}/api")).await;
        let code = |language: &str| snippet(&html, &format!("snippet-{endpoint}-{language}"));
        let runs: [(&str, Command); 4] = [
            ("curl", {
                let mut c = Command::new("bash");
                c.arg("-c").arg(code("curl"));
                c
            }),
            ("python", {
                let mut c = Command::new(python());
                c.arg("-c").arg(code("python"));
                c
            }),
            ("javascript", {
                let mut c = Command::new("node");
                c.args(["--input-type=module", "-e"])
                    .arg(code("javascript"));
                c
            }),
            ("gradio_client", {
                let mut c = Command::new(python());
                c.arg("-c")
                    .arg(code("gradio_client"))
                    .env("GRADIO_ANALYTICS_ENABLED", "False");
                c
            }),
        ];
        for (language, mut command) in runs {
            let output = command
                .current_dir(scratch.path())
                .output()
                .unwrap_or_else(|e| panic!("cannot run the {language} snippet: {e}"));
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{model} {endpoint} {language} snippet failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let expected = if language == "gradio_client" {
                value
            } else {
                output_name
            };
            assert!(
                stdout.contains(expected),
                "{model} {endpoint} {language} printed:\n{stdout}"
            );
        }
    }
}

/// Schemathesis (pinned in scripts/test) with every check, a bounded and
/// deterministic number of cases: the server must never answer 5xx and
/// must accept what the document allows and answer what it promises.
#[tokio::test]
async fn schemathesis_finds_no_mismatch_between_the_document_and_the_server() {
    // Every example model. The chat model replies in at most 8 tokens here
    // (a copy of its bundle with a smaller limit), so that hundreds of
    // generated requests take seconds, not hours.
    let scratch = tempfile::tempdir().unwrap();
    let short_replies =
        common::bundle_copy(&smollm2_dir(), &scratch.path().join("smollm2"), |text| {
            text.replace(
                "max_new_tokens = 256",
                "max_new_tokens = 4\nmax_new_tokens_limit = 8",
            )
        });
    // Flags are limited per address; every generated one must reach the
    // checks behind the limit.
    let server = Server::start(
        &[&minilm_dir(), &lite0_dir(), &short_replies, &whisper_dir()],
        &[
            "--max-flags-per-minute",
            "1000000",
            "--max-flag-mb-per-minute",
            "100000",
        ],
    );
    let python = python();
    let schemathesis = std::path::Path::new(&python).with_file_name("schemathesis");
    // The image, speech and chat models are checked without
    // positive_data_acceptance: no JSON Schema can say "bytes that decode
    // as an image" (or a clip), nor "a prompt of at most 2048 tokens" or
    // "a prompt of at least one token", so schema-valid inputs that are
    // none get the documented 422. Every other check runs on them, and
    // every check on everything else.
    let beyond_schema = "efficientnet|whisper|smollm2";
    let runs: [(&str, &[&str]); 2] = [
        (
            "every operation but the image, speech and chat models'",
            &["--exclude-path-regex", beyond_schema],
        ),
        (
            "the image, speech and chat models' operations",
            &[
                "--include-path-regex",
                beyond_schema,
                "--exclude-checks",
                "positive_data_acceptance",
            ],
        ),
    ];
    for (what, filter) in runs {
        let output = Command::new(&schemathesis)
            .args(["run", &server.url("/openapi.json")])
            .args(["--checks", "all", "--max-examples", "50"])
            .args(["--generation-deterministic", "--request-timeout", "30"])
            .args(["--no-color"])
            .args(filter)
            // Its serializer for the speech model's audio parts.
            .env("PYTHONPATH", common::test_script(""))
            .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", schemathesis.display()));
        let report = String::from_utf8_lossy(&output.stdout);
        println!("{what}:\n{report}");
        assert!(
            output.status.success(),
            "schemathesis found mismatches in {what}:\n{report}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The page's MCP tab: the configuration it shows reaches the server's
/// MCP tools (with the token it asks for), and the tools it lists are the
/// ones the server lists; with `--no-mcp` the tab says there are none.
#[tokio::test]
async fn the_mcp_tab_gives_a_configuration_that_reaches_the_tools_it_lists() {
    let server = Server::start(
        &[&minilm_dir(), &lite0_dir()],
        &["--auth-token", "api-token"],
    );
    let client = reqwest::Client::new();
    let html = client
        .get(server.url("/m/minilm/api?tab=mcp"))
        .bearer_auth("api-token")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let config: serde_json::Value = serde_json::from_str(&snippet(&html, "mcp-config")).unwrap();
    let entry = &config["mcpServers"]["wick"];
    assert_eq!(
        entry["headers"]["Authorization"], "Bearer YOUR_TOKEN",
        "{config}"
    );
    let url = entry["url"].as_str().unwrap();
    assert_eq!(url, server.url("/gradio_api/mcp/"));
    let listed: serde_json::Value = common::list_mcp_tools(url, Some("api-token"))
        .await
        .json()
        .await
        .unwrap();
    let minilm_tools: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .filter(|name| name.starts_with("minilm_"))
        .collect();
    assert_eq!(
        common::texts_of(&html, "mcp-tool"),
        minilm_tools,
        "{listed}"
    );
    let bridge: serde_json::Value = serde_json::from_str(&snippet(&html, "mcp-bridge")).unwrap();
    assert_eq!(bridge["mcpServers"]["wick"]["args"][2], url, "{bridge}");

    let off = Server::start(&[&minilm_dir()], &["--no-mcp"]);
    let html = reqwest::get(off.url("/m/minilm/api?tab=mcp"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-testid=\"mcp-off\""), "{html}");
    assert!(!html.contains("mcpServers"));
}
