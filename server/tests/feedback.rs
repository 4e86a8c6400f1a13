//! Feedback on a real `wick serve`: flags over the API and through the UI's
//! server function, checked and stored, surviving a SIGKILL, exported as
//! CSV (read back with Python's csv module) and JSON lines, and reviewed on
//! /admin/feedback. The same suite runs on SQLite and on a throwaway
//! Postgres server.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::postgres::Postgres;
use common::{Server, minilm_dir, output_of, wick};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Where a run keeps its flags: the options `wick serve` and `wick
/// feedback export` both take.
struct Backend {
    args: Vec<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            args: vec!["--data-dir".into(), dir.path().display().to_string()],
            _dir: Some(dir),
        }
    }

    fn postgres(server: &Postgres) -> Backend {
        Backend {
            args: vec!["--feedback-db".into(), server.url.clone()],
            _dir: None,
        }
    }

    fn serve(&self) -> Server {
        // The durability burst floods from one address, past the default
        // per-client flag limit.
        let mut args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        args.extend(["--max-flags-per-minute", "1000000"]);
        Server::start(&[&minilm_dir()], &args)
    }

    fn export(&self, format: &str) -> String {
        output_of(
            wick()
                .args(["feedback", "export", "--format", format])
                .args(&self.args),
        )
    }

    fn exported_rows(&self) -> Vec<Value> {
        self.export("jsonl")
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

fn embed_flag(comment: &str) -> Value {
    json!({
        "endpoint": "embed",
        "inputs": {"text": "The cat sits outside"},
        "outputs": {"embedding": vec![0.05; 384]},
        "option": "Incorrect",
        "comment": comment,
        "duration_ms": 4.2,
    })
}

async fn post(client: &reqwest::Client, url: String, body: &Value) -> (StatusCode, Value) {
    let response = client.post(url).json(body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")),
    )
}

async fn suite(backend: Backend) {
    flags_are_checked_then_stored(&backend).await;
    ui_and_api_flags_are_all_stored_once(&backend).await;
    acknowledged_flags_survive_sigkill(&backend).await;
    csv_export_reads_back_with_python(&backend);
}

#[tokio::test]
async fn feedback_on_sqlite() {
    suite(Backend::sqlite()).await;
}

#[tokio::test]
async fn feedback_on_postgres() {
    match Postgres::start() {
        Ok(server) => suite(Backend::postgres(&server)).await,
        Err(why) => {
            let banner = "!".repeat(78);
            eprintln!(
                "\n{banner}\n!!! POSTGRES DID NOT START: {why}\n!!! The feedback suite ran on SQLite only.\n{banner}\n"
            );
            if std::env::var_os("WICK_REQUIRE_POSTGRES").is_some() {
                panic!("WICK_REQUIRE_POSTGRES is set and Postgres did not start: {why}");
            }
        }
    }
}

async fn flags_are_checked_then_stored(backend: &Backend) {
    let server = backend.serve();
    let client = reqwest::Client::new();
    let url = || server.url("/api/models/minilm/feedback");

    let (status, body) = post(&client, url(), &embed_flag("checked-then-stored")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));

    let mut long = embed_flag("");
    long["comment"] = json!("x".repeat(2001));
    let mut cases = vec![(long, StatusCode::UNPROCESSABLE_ENTITY, "comment")];
    for (key, value, status, field) in [
        (
            "option",
            json!("Boring"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "option",
        ),
        (
            "endpoint",
            json!("nope"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "endpoint",
        ),
        (
            "inputs",
            json!({"txt": "a"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "inputs.txt",
        ),
        (
            "inputs",
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "inputs.text",
        ),
        (
            "outputs",
            json!({"embedding": [1.0]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outputs.embedding",
        ),
        (
            "duration_ms",
            json!("fast"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duration_ms",
        ),
        ("version", json!("9.9.9"), StatusCode::NOT_FOUND, ""),
    ] {
        let mut body = embed_flag("refused");
        body[key] = value;
        cases.push((body, status, field));
    }
    for (body, expected, field) in cases {
        let (status, answer) = post(&client, url(), &body).await;
        assert_eq!(status, expected, "{answer}");
        if !field.is_empty() {
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
    }
    let (status, answer) = post(
        &client,
        server.url("/api/models/nope/feedback"),
        &embed_flag("refused"),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("model_not_found"))
    );
    let malformed = client
        .post(url())
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    // Not declared JSON: refused whatever the body, so no other site's
    // page can post flags through a visitor's browser without a preflight.
    let plain = client
        .post(url())
        .header("content-type", "text/plain")
        .body(embed_flag("refused").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let plain: serde_json::Value = plain.json().await.unwrap();
    assert_eq!(plain["error"]["code"], "unsupported_media_type");

    let rows = backend.exported_rows();
    assert!(
        rows.iter().all(|r| r["comment"] != "refused"),
        "a refused flag was stored"
    );
    let row = rows
        .iter()
        .find(|r| r["id"] == id.as_str())
        .expect("stored");
    assert_eq!(row["model"], "minilm");
    assert_eq!(row["version"], "1.0.0");
    assert_eq!(row["endpoint"], "embed");
    assert_eq!(row["option"], "Incorrect");
    assert_eq!(row["comment"], "checked-then-stored");
    assert_eq!(row["inputs"], json!({"text": "The cat sits outside"}));
    assert_eq!(row["outputs"]["embedding"].as_array().unwrap().len(), 384);
    assert_eq!(row["duration_ms"], 4.2);
}

/// 100 flags at once, half through the UI's server function and half
/// through the API: every one stored exactly once.
async fn ui_and_api_flags_are_all_stored_once(backend: &Backend) {
    let server = backend.serve();
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for n in 0..100 {
        let client = client.clone();
        let (url, body) = if n % 2 == 0 {
            let request = json!({
                "endpoint": "classify",
                "inputs": {"text": "Great film", "labels": ["positive", "negative"]},
                "outputs": {"label": {"label": "positive", "confidences": [
                    {"label": "positive", "confidence": 0.9},
                    {"label": "negative", "confidence": 0.1}]}},
                "option": "Other",
                "comment": format!("concurrent-{n}"),
                "version": "1.0.0",
            });
            (
                server.url("/_wick/flag"),
                json!({"model": "minilm", "request": request}),
            )
        } else {
            (
                server.url("/api/models/minilm/feedback"),
                embed_flag(&format!("concurrent-{n}")),
            )
        };
        tasks.push(tokio::spawn(async move {
            let response = client.post(url).json(&body).send().await.unwrap();
            let status = response.status();
            let answer: Value = response.json().await.unwrap();
            let id = if n % 2 == 0 {
                answer["Stored"]["id"].as_str().map(String::from)
            } else {
                (status == StatusCode::CREATED).then(|| answer["id"].as_str().unwrap().to_string())
            };
            id.unwrap_or_else(|| panic!("flag {n} not stored ({status}): {answer}"))
        }));
    }
    let mut acknowledged = HashSet::new();
    for task in tasks {
        assert!(
            acknowledged.insert(task.await.unwrap()),
            "an id was given twice"
        );
    }
    let mut stored: HashMap<String, usize> = HashMap::new();
    for row in backend.exported_rows() {
        let comment = row["comment"].as_str().unwrap_or_default();
        if comment.starts_with("concurrent-") {
            *stored.entry(comment.to_string()).or_default() += 1;
            assert!(acknowledged.contains(row["id"].as_str().unwrap()));
        }
    }
    assert_eq!(stored.len(), 100, "every flag stored");
    assert!(
        stored.values().all(|count| *count == 1),
        "none duplicated: {stored:?}"
    );
}

/// 1,000 flags at concurrency 16, the server SIGKILLed in the middle:
/// every flag that got a 201 is there after a restart.
async fn acknowledged_flags_survive_sigkill(backend: &Backend) {
    const TOTAL: usize = 1000;
    const KILL_AFTER: usize = 300;
    let mut server = backend.serve();
    let url = server.url("/api/models/minilm/feedback");
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let client = reqwest::Client::new();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (next, acknowledged, client, url) = (
                next.clone(),
                acknowledged.clone(),
                client.clone(),
                url.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= TOTAL {
                        break;
                    }
                    let sent = client
                        .post(&url)
                        .json(&embed_flag(&format!("burst-{n}")))
                        .send()
                        .await;
                    let Ok(response) = sent else { continue };
                    if response.status() == StatusCode::CREATED
                        && let Ok(answer) = response.json::<Value>().await
                    {
                        acknowledged
                            .lock()
                            .unwrap()
                            .push(answer["id"].as_str().unwrap().to_string());
                    }
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while acknowledged.lock().unwrap().len() < KILL_AFTER {
        assert!(
            std::time::Instant::now() < deadline,
            "the burst did not get {KILL_AFTER} flags stored in 120 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    server.kill();
    for worker in workers {
        worker.await.unwrap();
    }
    let acknowledged: HashSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    assert!(
        acknowledged.len() >= KILL_AFTER && acknowledged.len() < TOTAL,
        "killed mid-burst: {}",
        acknowledged.len()
    );

    // The store opens cleanly after the crash: the server starts, serves
    // a flag, and every acknowledged row is in the export.
    let restarted = backend.serve();
    let (status, body) = post(
        &reqwest::Client::new(),
        restarted.url("/api/models/minilm/feedback"),
        &embed_flag("after-restart"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let stored: Vec<String> = backend
        .exported_rows()
        .into_iter()
        .filter(|row| {
            row["comment"]
                .as_str()
                .is_some_and(|c| c.starts_with("burst-"))
        })
        .map(|row| row["id"].as_str().unwrap().to_string())
        .collect();
    let stored_set: HashSet<&String> = stored.iter().collect();
    assert_eq!(stored_set.len(), stored.len(), "no row stored twice");
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored_set.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged flags were lost: {lost:?}",
        lost.len()
    );
    eprintln!(
        "SIGKILL burst: {} acknowledged, {} stored (rows whose answer the kill cut off count too)",
        acknowledged.len(),
        stored.len()
    );
}

fn csv_export_reads_back_with_python(backend: &Backend) {
    let csv = backend.export("csv");
    let rows = backend.exported_rows();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.csv");
    std::fs::write(&path, &csv).unwrap();
    let python = std::env::var("WICK_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "import csv, json, sys\n\
                  with open(sys.argv[1], newline='') as f:\n\
                  \x20   reader = csv.DictReader(f)\n\
                  \x20   rows = list(reader)\n\
                  print(json.dumps({'header': reader.fieldnames, 'rows': rows}))\n";
    let output = Command::new(python)
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let header: Vec<&str> = parsed["header"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(
        header,
        [
            "text",
            "labels",
            "embedding",
            "label",
            "flag",
            "username",
            "timestamp",
            "id",
            "model",
            "version",
            "endpoint",
            "comment",
            "duration_ms"
        ],
        "inputs, outputs, then Gradio's flag, username, timestamp"
    );
    let read = parsed["rows"].as_array().unwrap();
    assert_eq!(read.len(), rows.len());
    for (csv_row, row) in read.iter().zip(&rows) {
        assert_eq!(csv_row["id"], row["id"]);
        assert_eq!(csv_row["flag"], row["option"]);
        assert_eq!(csv_row["timestamp"], row["created_at"]);
        assert_eq!(csv_row["text"], row["inputs"]["text"]);
        assert_eq!(csv_row["comment"], row["comment"].as_str().unwrap_or(""));
        if let Some(vector) = row["outputs"].get("embedding") {
            let back: Value = serde_json::from_str(csv_row["embedding"].as_str().unwrap()).unwrap();
            assert_eq!(&back, vector);
        }
    }
}

#[tokio::test]
async fn the_review_page_needs_the_admin_token() {
    let off = Server::start(&[&minilm_dir()], &[]);
    let page = reqwest::get(off.url("/admin/feedback")).await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND, "off without a token");

    let server = Server::start_with_env(&[&minilm_dir()], &[], &[("WICK_ADMIN_TOKEN", "s3cret")]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (status, _) = post(
        &client,
        server.url("/api/models/minilm/feedback"),
        &embed_flag("<b>review me</b>"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let get = |auth: Option<&str>, cookie: Option<&str>, path: &str| {
        let mut request = client.get(server.url(path));
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    let denied = get(None, None, "/admin/feedback").await.unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert!(
        denied
            .text()
            .await
            .unwrap()
            .contains("data-testid=\"admin-token\""),
        "a sign-in form"
    );
    assert_eq!(
        get(Some("wrong"), None, "/admin/feedback")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(None, None, "/admin/feedback.csv")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let page = get(Some("s3cret"), None, "/admin/feedback").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-testid=\"admin-counts\""), "{html}");
    assert!(
        html.contains("&lt;b&gt;review me&lt;/b&gt;"),
        "comments are escaped: {html}"
    );
    assert!(!html.contains("<b>review me"), "{html}");

    let wrong = client
        .post(server.url("/admin/login"))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let signed_in = client
        .post(server.url("/admin/login"))
        .form(&[("token", "s3cret")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && !cookie.contains("s3cret"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    assert_eq!(
        get(None, Some(&cookie), "/admin/feedback")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let csv = get(None, Some(&cookie), "/admin/feedback.csv")
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = csv.text().await.unwrap();
    assert!(
        body.starts_with("text,embedding,flag,username,timestamp,"),
        "{body}"
    );
    assert!(body.contains("<b>review me</b>"));

    // Every sign-in is a new random session; signing out revokes it, and
    // behind HTTPS the cookie is Secure.
    let again = client
        .post(server.url("/admin/login"))
        .header("x-forwarded-proto", "https")
        .form(&[("token", "s3cret")])
        .send()
        .await
        .unwrap();
    let again = again.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(again.contains("; Secure"), "{again}");
    let again = again.split(';').next().unwrap().to_string();
    assert_ne!(again, cookie, "a session id is never reused");
    let out = client
        .post(server.url("/admin/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        get(None, Some(&cookie), "/admin/feedback")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "the old cookie stops working after logout"
    );
    assert_eq!(
        get(None, Some(&again), "/admin/feedback")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // Guessing is cut short: ten wrong tokens a minute from one address.
    let mut limited = false;
    for _ in 0..12 {
        let guess = client
            .post(server.url("/admin/login"))
            .form(&[("token", "guess")])
            .send()
            .await
            .unwrap();
        limited |= guess.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "twelve wrong tokens in a row were all tried");
}
