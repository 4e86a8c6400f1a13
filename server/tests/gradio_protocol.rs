//! Gradio's two-step call (POST `/gradio_api/call/{api_name}`, then the
//! result as server-sent events), run as Gradio's docs show it: two curl
//! commands in a shell. A streamed endpoint sends `generating` events
//! before `complete`; bad inputs end in an `error` event with Wick's
//! message.

mod common;

use std::process::Command;

use common::{Server, minilm_dir, smollm2_dir, sse_events};
use serde_json::{Value, json};

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
    assert!(data.as_str().unwrap().contains("`a`"), "{text}");
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
    let streamed: String = events
        .iter()
        .filter(|(name, _)| name == "generating")
        .filter_map(|(_, data)| data[0].as_str())
        .collect();
    assert_eq!(streamed, data[0].as_str().unwrap(), "{text}");
}
