//! `Demo`: endpoints from closures, served in process by `Server` on a
//! free port, through the JSON API: a plain function (and its errors), a
//! batched one (requests that arrive together run as one call, each gets
//! its own answer), and a streaming one (pieces as server-sent events; a
//! client that leaves stops the function).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value as Json, json};
use wick::{Demo, Emitter, Inputs, Outputs};

/// Counts words.
#[derive(Inputs)]
struct Words {
    /// Text
    #[wick(lines = 2)]
    text: String,
    /// Shout
    /// Upper-cases the echo.
    #[wick(default = false)]
    shout: bool,
}

#[derive(Outputs)]
struct Counted {
    words: f64,
    echo: String,
}

/// Up to n pieces, 20 ms apart.
#[derive(Inputs)]
struct Steps {
    #[wick(min = 1, max = 1000)]
    n: u32,
}

#[derive(Outputs)]
struct Piece {
    text: String,
}

struct Served {
    base: String,
    _data: tempfile::TempDir,
}

async fn serve(demo: Demo) -> Served {
    serve_with(demo, true).await
}

async fn serve_with(demo: Demo, keep_feedback: bool) -> Served {
    let data = tempfile::tempdir().unwrap();
    let (listening, address) = tokio::sync::oneshot::channel();
    let server = demo
        .server()
        .unwrap()
        .host("127.0.0.1")
        .port(0)
        .data_dir(data.path())
        .feedback(keep_feedback)
        .on_listening(move |address| {
            let _ = listening.send(address);
        });
    tokio::spawn(server.serve());
    Served {
        base: format!("http://{}", address.await.unwrap()),
        _data: data,
    }
}

/// Flags an answer of `count` through the API; the status and body.
async fn flag(served: &Served) -> (u16, Json) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/models/demo/feedback", served.base))
        .json(&json!({
            "endpoint": "count",
            "inputs": {"text": "a b"},
            "outputs": {"words": 2.0, "echo": "a b"},
            "option": "Incorrect",
        }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn call(served: &Served, endpoint: &str, inputs: Json) -> (u16, Json) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/models/demo/{endpoint}", served.base))
        .json(&json!({ "inputs": inputs }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn count(words: Words) -> anyhow::Result<Counted> {
    if words.text.contains("boom") {
        anyhow::bail!("the model cannot read boom");
    }
    let echo = match words.shout {
        true => words.text.to_uppercase(),
        false => words.text.clone(),
    };
    Ok(Counted {
        words: words.text.split_whitespace().count() as f64,
        echo,
    })
}

#[tokio::test]
async fn a_plain_function_answers_and_its_signature_comes_from_its_types() {
    let served = serve(
        Demo::new("demo")
            .title("Words")
            .endpoint("count", count)
            .example("count", json!({"text": "one two"})),
    )
    .await;
    let (status, body) = call(&served, "count", json!({"text": "a b c"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"]["words"], 3.0);
    assert_eq!(body["outputs"]["echo"], "a b c");
    let (_, body) = call(&served, "count", json!({"text": "a b", "shout": true})).await;
    assert_eq!(body["outputs"]["echo"], "A B");

    // The signature, as every client reads it.
    let info: Json = reqwest::get(format!("{}/api/models/demo", served.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = &info["endpoints"][0];
    assert_eq!(endpoint["name"], "count");
    assert_eq!(endpoint["description"], "Counts words.");
    let inputs = &endpoint["inputs"];
    assert_eq!(inputs[0]["name"], "text");
    assert_eq!(inputs[0]["kind"]["type"], "text");
    assert_eq!(inputs[0]["kind"]["lines"], 2);
    assert_eq!(inputs[0]["required"], true);
    assert_eq!(inputs[1]["label"], "Shout");
    assert_eq!(inputs[1]["description"], "Upper-cases the echo.");
    assert_eq!(inputs[1]["required"], false);
    assert_eq!(inputs[1]["kind"]["type"], "checkbox");
    assert_eq!(endpoint["outputs"][0]["kind"]["type"], "score");

    // A wrong input is the client's error, named; the function's own
    // error is a failed inference with its message.
    let (status, body) = call(&served, "count", json!({"text": 5})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "text");
    let (status, body) = call(&served, "count", json!({"text": "boom"})).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the model cannot read boom"),
        "{body}"
    );
    // Feedback is kept by default.
    let (status, body) = flag(&served).await;
    assert_eq!(status, 201, "{body}");

    // The page is drawn from the same signature.
    let page = reqwest::get(format!("{}/m/demo/count", served.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Words") && page.contains("Shout"), "{page}");
}

#[tokio::test]
async fn a_batched_function_takes_requests_that_arrive_together() {
    let largest = Arc::new(AtomicUsize::new(0));
    let seen = largest.clone();
    let demo = Demo::new("demo").batched("count", 8, move |batch: Vec<Words>| {
        seen.fetch_max(batch.len(), Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        batch
            .into_iter()
            .map(count)
            .collect::<anyhow::Result<Vec<_>>>()
    });
    let served = Arc::new(serve(demo).await);
    let calls: Vec<_> = (1..=12)
        .map(|n| {
            let served = served.clone();
            tokio::spawn(async move {
                let text = vec!["word"; n].join(" ");
                let (status, body) = call(&served, "count", json!({ "text": text })).await;
                (n, status, body)
            })
        })
        .collect();
    for answer in calls {
        let (n, status, body) = answer.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["outputs"]["words"], n as f64, "request {n}: {body}");
    }
    let largest = largest.load(Ordering::SeqCst);
    assert!(
        (2..=8).contains(&largest),
        "the largest batch was {largest}"
    );
}

#[tokio::test]
async fn a_streaming_function_sends_pieces_and_stops_when_its_caller_leaves() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let demo = Demo::new("demo").streaming("steps", move |steps: Steps, out: &Emitter<Piece>| {
        let mut text = String::new();
        for i in 0..steps.n {
            let piece = format!("step {i} ");
            if !out.send(Piece {
                text: piece.clone(),
            }) {
                break;
            }
            counter.fetch_add(1, Ordering::SeqCst);
            text.push_str(&piece);
            std::thread::sleep(Duration::from_millis(20));
        }
        anyhow::Ok(Piece { text })
    });
    let served = serve(demo).await;
    let stream = |n: u32| {
        reqwest::Client::new()
            .post(format!("{}/api/models/demo/steps", served.base))
            .header("accept", "text/event-stream")
            .json(&json!({"inputs": {"n": n}}))
    };
    let text = stream(3).send().await.unwrap().text().await.unwrap();
    let partials: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    assert_eq!(partials.len(), 4, "{text}");
    assert!(partials[0].contains("step 0 "), "{text}");
    assert!(partials[3].contains("step 0 step 1 step 2 "), "{text}");
    assert!(text.contains("event: done"), "{text}");

    // The caller leaves after the first piece: the function stops.
    let before = sent.load(Ordering::SeqCst);
    let mut response = stream(1000).send().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .unwrap()
        .unwrap();
    assert!(first.is_some());
    drop(response);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after_leaving = sent.load(Ordering::SeqCst) - before;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sent.load(Ordering::SeqCst) - before, after_leaving);
    assert!(
        after_leaving < 40,
        "{after_leaving} pieces of 1000 were sent"
    );
}

#[tokio::test]
async fn with_feedback_off_flags_are_refused_and_nothing_is_written() {
    let served = serve_with(Demo::new("demo").endpoint("count", count), false).await;
    let (status, body) = flag(&served).await;
    assert_eq!(status, 404, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("feedback is off"), "{message}");
    let (status, _) = call(&served, "count", json!({"text": "a b"})).await;
    assert_eq!(status, 200);
    let written: Vec<_> = std::fs::read_dir(served._data.path()).unwrap().collect();
    assert!(written.is_empty(), "{written:?}");
    // The pages get no flagging options, so they draw no Flag button.
    let site: Json = reqwest::Client::new()
        .post(format!("{}/_wick/site", served.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        site["models"][0]["info"]["flagging_options"],
        json!([]),
        "{site}"
    );
}
