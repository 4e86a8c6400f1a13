//! Streaming through every adapter, with a toy task that emits counted
//! chunks: the JSON API relays them as server-sent events and the UI's
//! streaming server function as JSON lines, in order, then the final
//! answer; a client that disconnects stops the task on the server
//! (observed through the task's own count of what it emitted); and
//! `gradio_client` sees the task's own declaration that it streams.
//!
//! The router is built in process around an engine holding the toy task,
//! the way a user serves their own Candle model through Wick as a library.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use wick_engine::{Engine, Item, Manifest, Prepared, Task};
use wick_types::{Endpoint, Field, Kind, Value, Values};

use common::sse_events;

/// `count`: emits `{"chunk": i}` for i in 0..n, 10 ms apart, unless its
/// caller went away; answers `{"count": how many it emitted}`.
struct Count {
    emitted: Arc<AtomicUsize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Only {
    Count,
    Tick,
}

impl Task for Count {
    type Endpoint = Only;
    type Request = usize;

    fn endpoints(&self) -> Vec<(Only, Endpoint)> {
        vec![
            (
                Only::Count,
                Endpoint {
                    name: "count".into(),
                    description: "Counts up to n, one chunk at a time.".into(),
                    inputs: vec![Field::new(
                        "n",
                        Kind::Number {
                            min: Some(1.0),
                            max: Some(10_000.0),
                            step: Some(1.0),
                        },
                    )],
                    outputs: vec![Field::new("count", Kind::Score)],
                    streams: true,
                },
            ),
            (
                Only::Tick,
                Endpoint {
                    name: "tick".into(),
                    description: "`tick 0 tick 1 …` up to n, a tick at a time.".into(),
                    inputs: vec![Field::new(
                        "n",
                        Kind::Number {
                            min: Some(1.0),
                            max: Some(100.0),
                            step: Some(1.0),
                        },
                    )],
                    outputs: vec![Field::new(
                        "text",
                        Kind::Text {
                            lines: 1,
                            placeholder: None,
                            max_chars: None,
                        },
                    )],
                    streams: true,
                },
            ),
        ]
    }

    fn prepare(&self, _: Only, inputs: Values) -> wick_engine::Result<Prepared<usize>> {
        let n = inputs["n"].as_number().unwrap_or(0.0) as usize;
        Ok(Prepared::new(n, 1))
    }

    fn run(&self, endpoint: Only, batch: &[Item<usize>]) -> wick_engine::Result<Vec<Values>> {
        match endpoint {
            // Each partial output is the next piece of the one text output.
            Only::Tick => Ok(batch
                .iter()
                .map(|item| {
                    let mut text = String::new();
                    for i in 0..item.request {
                        let tick = format!("tick {i} ");
                        let piece = Values::from([("text".to_string(), Value::Text(tick.clone()))]);
                        if !item.emit(piece) {
                            break;
                        }
                        text.push_str(&tick);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Values::from([("text".to_string(), Value::Text(text))])
                })
                .collect()),
            Only::Count => Ok(batch
                .iter()
                .map(|item| {
                    let mut sent = 0;
                    for i in 0..item.request {
                        let chunk = Values::from([("chunk".to_string(), Value::Number(i as f64))]);
                        if item.cancelled() || !item.emit(chunk) {
                            break;
                        }
                        sent += 1;
                        self.emitted.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Values::from([("count".to_string(), Value::Number(sent as f64))])
                })
                .collect()),
        }
    }
}

struct Toy {
    base: String,
    emitted: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<anyhow::Result<()>>,
    _data: tempfile::TempDir,
}

/// The toy task served through the library's entry point, as a user's
/// binary serves its own model.
async fn serve_toy() -> Toy {
    let emitted = Arc::new(AtomicUsize::new(0));
    let engine = Engine::new();
    let task = Count {
        emitted: emitted.clone(),
    };
    engine
        .add_model(&Manifest::new("toy", "1"), Arc::new(task))
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let (listening, address) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = wick_server::Server::new(engine)
        .host("127.0.0.1")
        .port(0)
        .data_dir(data.path())
        .configure(|options| options.shutdown_grace_secs = 2)
        .on_listening(move |address| {
            let _ = listening.send(address);
        })
        .stop_when(async move {
            let _ = stopped.await;
        });
    let served = tokio::spawn(server.serve());
    let base = format!("http://{}", address.await.unwrap());
    Toy {
        base,
        emitted,
        stop: Some(stop),
        served,
        _data: data,
    }
}

fn api_stream(toy: &Toy, n: u64) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/api/models/toy/count", toy.base))
        .header("accept", "text/event-stream")
        .json(&json!({"inputs": {"n": n}}))
}

fn ui_stream(toy: &Toy, n: u64) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/_wick/predict_stream", toy.base))
        .json(&json!({"model": "toy", "endpoint": "count", "inputs": {"n": n}}))
}

/// Reads chunks until `enough` says the text so far suffices.
async fn read_until(response: &mut reqwest::Response, enough: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    while !enough(&text) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("a chunk within 10 s")
            .unwrap()
            .expect("the stream ended early");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    text
}

/// After a disconnect, the task stops within a few chunks and stays
/// stopped.
async fn assert_stops(toy: &Toy, read: usize, started_at: usize) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let emitted = toy.emitted.load(Ordering::SeqCst) - started_at;
    assert!(
        emitted >= read && emitted < read + 20,
        "the task emitted {emitted} of 1000 chunks after the client left at {read}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        toy.emitted.load(Ordering::SeqCst) - started_at,
        emitted,
        "the task went on after its client left"
    );
}

#[tokio::test]
async fn the_json_api_streams_chunks_as_sse_then_the_whole_answer() {
    let toy = serve_toy().await;
    let response = api_stream(&toy, 5).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    let events = sse_events(&response.text().await.unwrap());
    let chunks: Vec<f64> = events
        .iter()
        .filter(|(name, _)| name == "partial")
        .map(|(_, data)| {
            assert_eq!(data["index"], 0);
            data["outputs"]["chunk"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(chunks, [0.0, 1.0, 2.0, 3.0, 4.0]);
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done");
    assert_eq!(done["outputs"]["count"], 5.0);
    assert_eq!(done["model"], "toy");

    // Without the Accept header: one JSON body, as for every endpoint.
    let plain: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/models/toy/count", toy.base))
        .json(&json!({"inputs": {"n": 3}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plain["outputs"]["count"], 3.0);

    // Refused before streaming: a JSON error with its status.
    let refused = api_stream(&toy, 0).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["field"], "n");
}

/// The entry point stops as `wick serve` does on SIGTERM: new work is
/// refused at once by the probes, a stream open at the time ends with a
/// last event within the grace, and `serve` returns.
#[tokio::test]
async fn the_entry_point_stops_when_asked_and_an_open_stream_gets_a_last_word() {
    let mut toy = serve_toy().await;
    let mut response = api_stream(&toy, 10_000).send().await.unwrap();
    read_until(&mut response, |text| text.contains("\"chunk\":3")).await;
    let asked = Instant::now();
    toy.stop.take().unwrap().send(()).unwrap();
    let rest = read_until(&mut response, |text| text.contains("event: error")).await;
    assert!(rest.contains("unavailable"), "{rest}");
    let served = tokio::time::timeout(Duration::from_secs(10), toy.served)
        .await
        .expect("serve returns after its grace");
    served.unwrap().unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_leaves_an_sse_stream_stops_the_task() {
    let toy = serve_toy().await;
    let before = toy.emitted.load(Ordering::SeqCst);
    let mut response = api_stream(&toy, 1000).send().await.unwrap();
    let text = read_until(&mut response, |t| sse_events(t).len() >= 3).await;
    let read = sse_events(&text).len();
    drop(response);
    assert_stops(&toy, read, before).await;
}

#[tokio::test]
async fn the_ui_server_function_streams_the_same_chunks_and_stops_when_left() {
    let toy = serve_toy().await;
    let started = Instant::now();
    let text = ui_stream(&toy, 5)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON value per line"))
        .collect();
    let chunks: Vec<f64> = lines
        .iter()
        .filter_map(|line| line["partial"]["outputs"]["chunk"].as_f64())
        .collect();
    assert_eq!(chunks, [0.0, 1.0, 2.0, 3.0, 4.0], "{text}");
    let end = &lines.last().unwrap()["end"]["Done"];
    assert_eq!(end["outputs"]["count"], 5.0, "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(40),
        "chunks are 10 ms apart"
    );

    let before = toy.emitted.load(Ordering::SeqCst);
    let mut response = ui_stream(&toy, 1000).send().await.unwrap();
    let text = read_until(&mut response, |t| t.lines().count() >= 3).await;
    let read = text.lines().count();
    drop(response);
    assert_stops(&toy, read, before).await;
}

/// A user's own streaming task is a generator to Gradio's clients because
/// its `Endpoint` says it streams (not because of its task's name):
/// `/config` marks it so, and `gradio_client`'s `submit()` iterates its
/// partial outputs as they come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gradio_client_iterates_a_user_tasks_partial_outputs() {
    let toy = serve_toy().await;
    let script = common::test_script("gradio_streaming_task.py");
    let base = toy.base.clone();
    tokio::task::spawn_blocking(move || {
        common::run_python(&[script.as_os_str(), base.as_ref()]);
    })
    .await
    .unwrap();
}
