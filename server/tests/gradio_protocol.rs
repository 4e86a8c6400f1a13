//! Gradio's client protocol: the official clients — `gradio_client` from
//! PyPI and `@gradio/client` from npm, pinned in scripts/test — run their
//! usual scripts against `wick serve` (`gradio_client_test.py`,
//! `gradio_client_test.mjs`); and the two-step call (POST
//! `/gradio_api/call/{api_name}`, then the result as server-sent events)
//! runs as Gradio's docs show it: two curl commands in a shell. A streamed
//! endpoint sends `generating` events (the output so far) before
//! `complete`; bad inputs end in an `error` event with Wick's message.

mod common;

use std::process::Command;

use common::{
    Server, lite0_dir, minilm_dir, run_node, run_python, smollm2_dir, sse_events, test_script,
};
use serde_json::{Value, json};

fn chelsea() -> std::path::PathBuf {
    lite0_dir().join("examples/chelsea.png")
}

#[test]
fn the_python_gradio_client_works_unchanged() {
    let server = Server::start(&[&minilm_dir(), &lite0_dir(), &smollm2_dir()], &[]);
    run_python(&[
        test_script("gradio_client_test.py").as_os_str(),
        server.base.as_ref(),
        chelsea().as_os_str(),
    ]);
}

#[test]
fn the_javascript_gradio_client_works_unchanged() {
    let server = Server::start(&[&minilm_dir(), &lite0_dir()], &[]);
    run_node(
        "gradio_client_test.mjs",
        &[server.base.as_ref(), chelsea().as_os_str()],
    );
}

#[test]
fn one_model_names_its_endpoints_plainly_and_files_are_checked() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let get = |path: &str| -> Value {
        let output = Command::new("curl")
            .args(["-s", &server.url(path)])
            .output()
            .unwrap();
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let info = get("/gradio_api/info");
    let mut names: Vec<&String> = info["named_endpoints"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    names.sort();
    assert_eq!(names, ["/classify", "/embed", "/similarity"]);
    let config = get("/config");
    assert_eq!(config["protocol"], "sse_v3");
    assert_eq!(config["api_prefix"], "/gradio_api");
    assert_eq!(config["root"], server.base);
    let dependencies = config["dependencies"].as_array().unwrap();
    assert_eq!(dependencies.len(), 3);
    for dependency in dependencies {
        for id in dependency["inputs"].as_array().unwrap() {
            let component = config["components"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == *id)
                .unwrap();
            assert!(component["api_info"].is_object(), "{component}");
        }
    }
    let status = |args: &[&str]| -> String {
        let output = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // No input of this text model takes a file: a photo is not kept (the
    // image model's uploads are kept, and served only by the path they
    // are given: `hardening.rs`).
    let upload = Command::new("curl")
        .args(["-s", "-F"])
        .arg(format!("files=@{}", chelsea().display()))
        .arg(server.url("/gradio_api/upload"))
        .output()
        .unwrap();
    let refused: Value = serde_json::from_slice(&upload.stdout).unwrap();
    assert_eq!(
        refused["error"]["code"], "unsupported_media_type",
        "{refused}"
    );
    assert_eq!(
        status(&[&server.url("/gradio_api/file=/etc/passwd")]),
        "404"
    );
    assert_eq!(
        status(&[
            "-X",
            "POST",
            "-F",
            "other=x",
            &server.url("/gradio_api/upload")
        ]),
        "422"
    );
}

/// The shell recipe from Gradio's docs, against `base`: the SSE text.
fn two_step(base: &str, api_name: &str, data: &Value) -> String {
    let recipe = format!(
        r#"EVENT_ID=$(curl -s -X POST {base}/gradio_api/call/{api_name} -H "Content-Type: application/json" -d '{body}' | awk -F'"' '{{ print $4}}')
curl -s -N {base}/gradio_api/call/{api_name}/$EVENT_ID"#,
        body = json!({"data": data})
    );
    let output = Command::new("bash").args(["-c", &recipe]).output().unwrap();
    assert!(output.status.success(), "{recipe}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_two_step_curl_recipe_works() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let text = two_step(
        &server.base,
        "similarity",
        &json!(["A man is eating food.", "A man is eating a piece of bread."]),
    );
    let events = sse_events(&text);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "complete", "{text}");
    let score = data[0].as_f64().unwrap();
    assert!((score - 0.7553).abs() < 1e-3, "{text}");

    let text = two_step(
        &server.base,
        "classify",
        &json!(["The new movie is awesome", ["positive", "negative"]]),
    );
    let (_, data) = sse_events(&text).pop().unwrap();
    assert_eq!(data[0]["label"], "positive", "{text}");

    let text = two_step(&server.base, "similarity", &json!([12, "b"]));
    let (name, data) = sse_events(&text).pop().unwrap();
    assert_eq!(name, "error", "{text}");
    assert!(data["error"].as_str().unwrap().contains("`a`"), "{text}");

    // The snippet of Gradio's "Use via API" page posts the inputs by name.
    let named = format!(
        r#"EVENT_ID=$(curl -s -X POST {base}/gradio_api/call/v2/similarity -H "Content-Type: application/json" -d '{{"a": "A man is eating food.", "b": "A man is eating a piece of bread."}}' | awk -F'"' '{{ print $4}}')
curl -s -N {base}/gradio_api/call/similarity/$EVENT_ID"#,
        base = server.base
    );
    let output = Command::new("bash").args(["-c", &named]).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let (name, data) = sse_events(&text).pop().unwrap();
    assert_eq!(name, "complete", "{text}");
    assert!((data[0].as_f64().unwrap() - 0.7553).abs() < 1e-3, "{text}");
    let status = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args([
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"data": []}"#,
        ])
        .arg(server.url("/gradio_api/call/nothing"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "404");
}

/// A `FileData` may name a file by URL, as `handle_file(url)` sends it: an
/// example's URL is read here, and any other URL is downloaded only from
/// the public internet, so this machine's own address is refused.
#[test]
fn a_file_by_url_is_read_here_or_downloaded_only_from_public_addresses() {
    let server = Server::start(&[&lite0_dir()], &[]);
    let file =
        |url: String| json!([{"path": url, "url": url, "meta": {"_type": "gradio.FileData"}}]);
    let example = server.url("/api/models/efficientnet-lite0/files/examples/chelsea.png");
    let text = two_step(&server.base, "classify", &file(example));
    let (name, data) = sse_events(&text).pop().unwrap();
    assert_eq!(name, "complete", "{text}");
    assert!(data[0]["label"].as_str().unwrap().contains("cat"), "{text}");

    let text = two_step(&server.base, "classify", &file(server.url("/favicon.svg")));
    let (name, data) = sse_events(&text).pop().unwrap();
    assert_eq!(name, "error", "{text}");
    let message = data["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("127.0.0.1, not an address on the public internet"),
        "{text}"
    );
}

#[test]
fn a_streamed_endpoint_sends_generating_events_then_complete() {
    let server = Server::start(&[&smollm2_dir()], &[]);
    let prompt = "<|im_start|>user\nCount from 1 to 5.<|im_end|>\n<|im_start|>assistant\n";
    let text = two_step(&server.base, "complete", &json!([prompt, 24, 0.0]));
    let events = sse_events(&text);
    let generating = events
        .iter()
        .filter(|(name, _)| name == "generating")
        .count();
    assert!(generating >= 2, "{text}");
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "complete", "{text}");
    // As Gradio's, each `generating` event carries the text so far.
    let streamed: Vec<&str> = events
        .iter()
        .filter(|(name, _)| name == "generating")
        .filter_map(|(_, data)| data[0].as_str())
        .collect();
    assert!(
        streamed.windows(2).all(|w| w[1].starts_with(w[0])),
        "{text}"
    );
    assert!(
        streamed.len() >= 2
            && data[0]
                .as_str()
                .unwrap()
                .starts_with(streamed[streamed.len() - 1]),
        "{text}"
    );
}

#[test]
fn gradio_client_signs_in_to_a_demo_behind_a_password() {
    let server = Server::start(&[&minilm_dir()], &["--auth", "ann:s3cret-pw"]);
    let script = r#"
import os, sys
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError
base = sys.argv[1]
for auth in (None, ("ann", "wrong")):
    try:
        Client(base, auth=auth, verbose=False)
        raise SystemExit(f"connected with auth={auth}")
    except AuthenticationError:
        pass
client = Client(base, auth=("ann", "s3cret-pw"), verbose=False)
score = client.predict("A man is eating food.", "A man is eating a piece of bread.", api_name="/similarity")
assert abs(score - 0.7553) < 1e-3, score
"#;
    run_python(&["-c".as_ref(), script.as_ref(), server.base.as_ref()]);
}
