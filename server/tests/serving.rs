//! The serving engine under load, over HTTP against a real `wick serve` of
//! MiniLM: batched answers equal one-by-one answers, overload is refused
//! with 429 and Retry-After and nothing else, requests past their deadline
//! get 503, a client that goes away has its queued work dropped, and
//! /metrics moves as requests are served (parsed, not grepped).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Server, minilm_dir};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `name{labels}` → value, from the OpenMetrics text format; every sample
/// line must parse.
fn scrape(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample: {line}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {line}"));
            (series.to_string(), value)
        })
        .collect()
}

async fn metrics(server: &Server) -> HashMap<String, f64> {
    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        kind.starts_with("application/openmetrics-text; version=1.0.0"),
        "{kind}"
    );
    scrape(&response.text().await.unwrap())
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

const EMBED_OK: &str =
    "wick_requests_total{model=\"minilm\",version=\"1.0.0\",endpoint=\"embed\",outcome=\"ok\"}";
const EMBED_INVALID: &str = "wick_requests_total{model=\"minilm\",version=\"1.0.0\",endpoint=\"embed\",outcome=\"invalid_input\"}";
const LATENCY_COUNT: &str =
    "wick_request_duration_seconds_count{model=\"minilm\",version=\"1.0.0\",endpoint=\"embed\"}";
const BATCH_SUM: &str = "wick_batch_size_sum{model=\"minilm\",version=\"1.0.0\"}";
const BATCH_COUNT: &str = "wick_batch_size_count{model=\"minilm\",version=\"1.0.0\"}";
const INFERENCE_COUNT: &str =
    "wick_inference_duration_seconds_count{model=\"minilm\",version=\"1.0.0\"}";
const QUEUED: &str = "wick_queue_depth{model=\"minilm\",version=\"1.0.0\"}";
const CANCELLED: &str =
    "wick_requests_dropped_total{model=\"minilm\",version=\"1.0.0\",reason=\"cancelled\"}";

fn sentence(seed: usize, words: usize) -> String {
    const WORDS: [&str; 12] = [
        "the", "cat", "sat", "on", "a", "warm", "mat", "while", "dogs", "ran", "in", "rain",
    ];
    (0..words)
        .map(|i| WORDS[(i * 5 + seed * 7) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

async fn embed(client: &reqwest::Client, server: &Server, text: &str) -> (StatusCode, Value) {
    spawn_embed(client, server, text).await.unwrap()
}

/// Posts `text` to embed from a task of its own; answers status and body.
fn spawn_embed(
    client: &reqwest::Client,
    server: &Server,
    text: &str,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let (client, url, text) = (
        client.clone(),
        server.url("/api/models/minilm/embed"),
        text.to_string(),
    );
    tokio::spawn(async move {
        let response = client
            .post(url)
            .json(&json!({"inputs": {"text": text}}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    })
}

fn vector(body: &Value) -> Vec<f64> {
    body["outputs"]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn batched_answers_equal_one_by_one_answers_and_metrics_move() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let client = reqwest::Client::new();
    // Different lengths, so batches mix and get padded and grouped.
    let texts: Vec<String> = (0..24).map(|n| sentence(n, 3 + n * 5)).collect();
    let before = metrics(&server).await;
    let mut alone = Vec::new();
    for text in &texts {
        let (status, body) = embed(&client, &server, text).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        alone.push(vector(&body));
    }
    for _round in 0..2 {
        let tasks: Vec<_> = texts
            .iter()
            .map(|text| spawn_embed(&client, &server, text))
            .collect();
        for (task, expected) in tasks.into_iter().zip(&alone) {
            let (status, body) = task.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            let got = vector(&body);
            let diff = got
                .iter()
                .zip(expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(diff <= 1e-5, "batched differs from alone by {diff}");
        }
    }
    let (status, _) = embed(&client, &server, "").await;
    assert_eq!(status, StatusCode::OK, "an empty text is still a text");
    let refused = client
        .post(server.url("/api/models/minilm/embed"))
        .json(&json!({"inputs": {"txt": "a"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let after = metrics(&server).await;
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(moved(EMBED_OK), 24.0 * 3.0 + 1.0);
    assert_eq!(moved(EMBED_INVALID), 1.0);
    assert_eq!(moved(LATENCY_COUNT), 24.0 * 3.0 + 2.0);
    let inputs_run = moved(BATCH_SUM);
    let passes = moved(BATCH_COUNT);
    assert_eq!(inputs_run, 24.0 * 3.0 + 1.0, "every input ran once");
    assert!(
        passes < inputs_run,
        "concurrent requests shared passes ({passes} passes)"
    );
    assert_eq!(moved(INFERENCE_COUNT), passes);
    let bucket_inf = "wick_batch_size_bucket{le=\"+Inf\",model=\"minilm\",version=\"1.0.0\"}";
    assert_eq!(value(&after, bucket_inf), value(&after, BATCH_COUNT));
    assert!(value(&after, "process_resident_memory_bytes") > 50e6);
    assert!(after.contains_key(QUEUED));
}

#[tokio::test]
async fn overload_is_refused_with_429_and_the_server_keeps_serving() {
    let server = Server::start(
        &[&minilm_dir()],
        &["--max-queue", "4", "--max-batch-size", "4"],
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let rss_before = server.rss_bytes();
    let url = server.url("/api/models/minilm/embed");
    let workers: Vec<_> = (0..256)
        .map(|worker| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut seen: HashMap<u16, usize> = HashMap::new();
                for n in 0..12 {
                    let response = client
                        .post(&url)
                        .json(&json!({"inputs": {"text": sentence(worker + n, 20)}}))
                        .send()
                        .await
                        .unwrap();
                    let status = response.status();
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        assert_eq!(response.headers()["retry-after"], "1");
                        let body: Value = response.json().await.unwrap();
                        assert_eq!(body["error"]["code"], "overloaded", "{body}");
                    } else {
                        response.bytes().await.unwrap();
                    }
                    *seen.entry(status.as_u16()).or_default() += 1;
                }
                seen
            })
        })
        .collect();
    let mut seen: HashMap<u16, usize> = HashMap::new();
    for worker in workers {
        for (status, count) in worker.await.unwrap() {
            *seen.entry(status).or_default() += count;
        }
    }
    eprintln!("overload: {seen:?}");
    assert_eq!(seen.values().sum::<usize>(), 256 * 12);
    assert!(
        seen.keys().all(|s| *s == 200 || *s == 429),
        "only 200 and 429: {seen:?}"
    );
    assert!(seen.get(&429).copied().unwrap_or(0) > 0, "the queue filled");
    assert!(seen.get(&200).copied().unwrap_or(0) > 0, "work was done");

    let (status, _) = embed(&client, &server, "still serving").await;
    assert_eq!(status, StatusCode::OK);
    let grown = server.rss_bytes().saturating_sub(rss_before);
    assert!(grown < 200 << 20, "RSS grew by {} MB", grown >> 20);
}

#[tokio::test]
async fn late_requests_get_503() {
    let server = Server::start(
        &[&minilm_dir()],
        &["--max-batch-size", "1", "--request-timeout-ms", "150"],
    );
    let client = reqwest::Client::new();
    let long = sentence(1, 200);
    // Each long text alone takes tens of ms: eight of them at once keep the
    // worker busy well past the deadline of the last ones.
    let tasks: Vec<_> = (0..8)
        .map(|_| spawn_embed(&client, &server, &long))
        .collect();
    let mut late = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body["error"]["code"], "timeout", "{body}");
                late += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(late > 0, "some requests outlived the 150 ms deadline");
}

/// A client that gives up while its request is queued: it never runs. It
/// is sent once five long requests (tens of ms each) wait behind a running
/// one, and gives up after 60 ms: time enough for the server to read it on
/// a busy machine (with 20 ms it sometimes had not, and had nothing to
/// drop), not for the worker to reach it. No deadline here: a request
/// past one is dropped as `deadline`, not `cancelled`.
#[tokio::test]
async fn gone_clients_are_not_run() {
    let server = Server::start(&[&minilm_dir()], &["--max-batch-size", "1"]);
    let client = reqwest::Client::new();
    let long = sentence(1, 200);
    let before = value(&metrics(&server).await, CANCELLED);
    let busy: Vec<_> = (0..8)
        .map(|_| spawn_embed(&client, &server, &long))
        .collect();
    let mut queued = 0.0;
    for _ in 0..500 {
        queued = value(&metrics(&server).await, QUEUED);
        if queued >= 5.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(queued >= 5.0, "the long requests never queued: {queued}");
    let impatient = client
        .post(server.url("/api/models/minilm/embed"))
        .timeout(Duration::from_millis(60))
        .json(&json!({"inputs": {"text": long}}))
        .send()
        .await;
    assert!(impatient.is_err(), "the impatient client gave up");
    for task in busy {
        assert_eq!(task.await.unwrap().0, StatusCode::OK);
    }
    let mut dropped = 0.0;
    for _ in 0..50 {
        dropped = value(&metrics(&server).await, CANCELLED) - before;
        if dropped >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dropped >= 1.0, "the abandoned request was dropped, not run");
}

/// Tokenizing is CPU work that grows with the input: it runs on blocking
/// threads, so several requests of the largest input the server accepts
/// (`max_input_chars`, 200,000 by default: 10 texts of 20,000 characters)
/// leave the async runtime free to answer /healthz at once, on this 2-core
/// machine too.
#[tokio::test]
async fn requests_of_the_largest_allowed_input_do_not_stall_healthz() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let client = reqwest::Client::new();
    let text: String = sentence(1, 4_000).chars().take(20_000).collect();
    let body = json!({"inputs": vec![json!({"text": text}); 10]}).to_string();
    let heavy: Vec<_> = (0..6)
        .map(|_| {
            let (client, url, body) = (
                client.clone(),
                server.url("/api/models/minilm/embed"),
                body.clone(),
            );
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                response.status()
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    let mut probes = 0;
    while heavy.iter().any(|task| !task.is_finished()) {
        let started = std::time::Instant::now();
        let response = client.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
        probes += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in heavy {
        let status = task.await.unwrap();
        assert!(
            status.is_success() || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}"
        );
    }
    println!("/healthz: slowest of {probes} probes {slowest:?} during 6 largest requests");
    assert!(
        probes >= 10,
        "the heavy requests ended too soon to probe: {probes}"
    );
    assert!(
        slowest < Duration::from_millis(250),
        "/healthz took {slowest:?} while large requests were tokenized"
    );
}
