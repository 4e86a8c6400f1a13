//! Rolling a new version out on a running `wick serve`: two versions of
//! the real MiniLM bundle (1.1.0 is the same weights under a new version,
//! hard-linked), loaded, split, shadowed, promoted, rolled back and
//! unloaded through the admin API and `wick rollout` while a bounded load
//! generator runs; stickiness, refused loads, restarts and the token.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, copy_tree, minilm_as, minilm_dir, wick};
use serde_json::{Value, json};

const TOKEN: &str = "rollout-test-token";

fn start(bundles: &[&Path], data: &Path) -> Server {
    Server::start_with_env(
        bundles,
        &["--data-dir", data.to_str().unwrap()],
        &[("WICK_ADMIN_TOKEN", TOKEN)],
    )
}

/// `wick rollout ARGS` against `server`; its stdout, or the failure.
fn rollout(server: &Server, args: &[&str]) -> Result<String, String> {
    let output = wick()
        .args(["rollout", "--url", &server.base, "--token", TOKEN])
        .args(args)
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

async fn admin(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn status(server: &Server) -> Value {
    let (code, body) = admin(
        server,
        reqwest::Method::GET,
        "/admin/api/models/minilm/rollout",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    body
}

fn weights(status: &Value) -> BTreeMap<String, u64> {
    status["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["weight"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// One embedding request as `client`: the status and the version that
/// answered (header), checked against the body's.
async fn embed(client: &reqwest::Client, server: &Server, id: &str) -> (u16, String) {
    let response = client
        .post(server.url("/api/models/minilm/embed"))
        .header("x-wick-client", id)
        .json(&json!({"inputs": {"text": "a rollout under load"}}))
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    let header = response
        .headers()
        .get("x-wick-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if code == 200 {
        assert_eq!(body["version"], header.as_str(), "body and header agree");
    }
    (code, header)
}

/// What one request of the load saw.
struct Answer {
    sent_in: usize,
    answered_in: usize,
    code: u16,
    version: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollout_under_load_fails_no_request_and_splits_as_weighted() {
    let temp = tempfile::tempdir().unwrap();
    let candidate = minilm_as("1.1.0", temp.path(), |t| t);
    let server = start(&[&minilm_dir()], &temp.path().join("data"));
    let phase = Arc::new(Mutex::new(0usize));
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let base = server.base.clone();
    let mut workers = Vec::new();
    for worker in 0..16 {
        let (phase, answers, stop) = (phase.clone(), answers.clone(), stop.clone());
        let base = base.clone();
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let started = Instant::now();
            let mut n = 0;
            // Bounded: stops when told, or after 120 s whatever happens.
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(120)
            {
                n += 1;
                let sent_in = *phase.lock().unwrap();
                let response = client
                    .post(format!("{base}/api/models/minilm/embed"))
                    .header("x-wick-client", format!("load-{worker}-{n}"))
                    .json(&json!({"inputs": {"text": format!("request {n} of worker {worker}")}}))
                    .send()
                    .await;
                let answered_in = *phase.lock().unwrap();
                let (code, version) = match response {
                    Ok(r) => (
                        r.status().as_u16(),
                        r.headers()
                            .get("x-wick-version")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string(),
                    ),
                    Err(_) => (0, String::new()),
                };
                answers.lock().unwrap().push(Answer {
                    sent_in,
                    answered_in,
                    code,
                    version,
                });
            }
        }));
    }
    // Each phase: what the routing is, and the share of 1.1.0 expected.
    let hold = Duration::from_millis(2500);
    let server = Arc::new(server);
    let next_phase = |expected| {
        let phase = phase.clone();
        move || *phase.lock().unwrap() = expected
    };
    let mut expected_share = vec![0.0];
    tokio::time::sleep(hold).await;
    let s = server.clone();
    let candidate_path = candidate.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        rollout(&s, &["load", candidate_path.to_str().unwrap()])
    })
    .await
    .unwrap()
    .unwrap();
    assert!(loaded.contains("1.1.0"), "{loaded}");
    let steps: Vec<(Vec<&str>, f64)> = vec![
        (vec!["split", "minilm", "1.0.0=90", "1.1.0=10"], 0.10),
        (vec!["split", "minilm", "1.0.0=50", "1.1.0=50"], 0.50),
        (vec!["promote", "minilm", "1.1.0"], 1.0),
        (vec!["rollback", "minilm"], 0.0),
        (vec!["promote", "minilm", "1.1.0"], 1.0),
        (vec!["unload", "minilm", "1.0.0"], 1.0),
    ];
    for (number, (args, share)) in steps.into_iter().enumerate() {
        let s = server.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let printed = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            rollout(&s, &args)
        })
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("step {number}: {e}"));
        next_phase(number + 1)();
        expected_share.push(share);
        eprintln!("phase {}: {printed}", number + 1);
        tokio::time::sleep(hold).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let answers = std::mem::take(&mut *answers.lock().unwrap());
    // Which versions may answer in each phase.
    let allowed = |phase: usize| -> &[&str] {
        match expected_share[phase] {
            0.0 => &["1.0.0"],
            1.0 => &["1.1.0"],
            _ => &["1.0.0", "1.1.0"],
        }
    };
    let failed: Vec<&Answer> = answers.iter().filter(|a| a.code != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed, e.g. status {}",
        failed.len(),
        answers.len(),
        failed[0].code
    );
    for answer in answers.iter() {
        let ok = (answer.sent_in..=answer.answered_in)
            .any(|phase| allowed(phase).contains(&answer.version.as_str()));
        assert!(
            ok,
            "a request of phases {}..{} was answered by {}",
            answer.sent_in, answer.answered_in, answer.version
        );
    }
    for (phase, share) in expected_share.iter().enumerate() {
        let within: Vec<&Answer> = answers
            .iter()
            .filter(|a| a.sent_in == phase && a.answered_in == phase)
            .collect();
        let n = within.len() as f64;
        let candidate = within.iter().filter(|a| a.version == "1.1.0").count() as f64;
        let tolerance = 4.0 * (n * share * (1.0 - share)).sqrt() + 1.0;
        eprintln!(
            "phase {phase}: {n} requests, {candidate} by 1.1.0 (expected {:.1} ± {tolerance:.1})",
            n * share
        );
        assert!(n >= 50.0, "phase {phase} saw only {n} requests");
        assert!(
            (candidate - n * share).abs() <= tolerance,
            "phase {phase}: {candidate} of {n} by 1.1.0, expected {share}"
        );
    }
    let last = status(&server).await;
    assert_eq!(weights(&last), BTreeMap::from([("1.1.0".into(), 100)]));
}

#[tokio::test]
async fn clients_keep_their_version_refused_loads_change_nothing_and_the_token_is_required() {
    let temp = tempfile::tempdir().unwrap();
    let candidate = minilm_as("1.1.0", temp.path(), |t| t);
    let data = temp.path().join("data");
    let server = start(&[&minilm_dir()], &data);
    let client = reqwest::Client::new();

    // Without the token, or with a wrong one: 401, and nothing changes.
    for token in [None, Some("wrong")] {
        let load = json!({"bundle": candidate});
        let (code, body) = admin(
            &server,
            reqwest::Method::POST,
            "/admin/api/versions",
            token,
            Some(load),
        )
        .await;
        assert_eq!(code, 401, "{body}");
        let (code, _) = admin(
            &server,
            reqwest::Method::GET,
            "/admin/api/models/minilm/rollout",
            token,
            None,
        )
        .await;
        assert_eq!(code, 401);
        let (code, _) = admin(
            &server,
            reqwest::Method::POST,
            "/admin/api/models/minilm/rollback",
            token,
            None,
        )
        .await;
        assert_eq!(code, 401);
    }
    assert_eq!(
        weights(&status(&server).await),
        BTreeMap::from([("1.0.0".into(), 100)])
    );

    // A corrupted file, and a bundle whose signature would break the
    // current clients, are refused; 1.0.0 serves on, alone.
    let corrupted = minilm_as("1.2.0", temp.path(), |t| t);
    std::fs::remove_file(corrupted.join("vocab.txt")).unwrap();
    std::fs::write(corrupted.join("vocab.txt"), "not the vocabulary").unwrap();
    let refused = rollout(&server, &["load", corrupted.to_str().unwrap()]).unwrap_err();
    assert!(
        refused.contains("422") && refused.contains("vocab.txt"),
        "{refused}"
    );
    let other_task = temp.path().join("lite0-as-minilm");
    copy_tree(&common::lite0_dir(), &other_task);
    let manifest = other_task.join("wick.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let renamed = regex_free_rename(&text, "minilm", "3.0.0");
    std::fs::remove_file(&manifest).unwrap();
    std::fs::write(&manifest, renamed).unwrap();
    let refused = rollout(&server, &["load", other_task.to_str().unwrap()]).unwrap_err();
    assert!(
        refused.contains("409") && refused.contains("endpoint"),
        "{refused}"
    );
    assert_eq!(
        weights(&status(&server).await),
        BTreeMap::from([("1.0.0".into(), 100)])
    );
    assert_eq!(
        embed(&client, &server, "anyone").await,
        (200, "1.0.0".into())
    );

    // Stickiness: at 50/50, clients on either version keep it when the
    // weights move without removing it.
    rollout(&server, &["load", candidate.to_str().unwrap()]).unwrap();
    rollout(&server, &["split", "minilm", "1.0.0=50", "1.1.0=50"]).unwrap();
    let mut seen = BTreeMap::new();
    for i in 0..24 {
        let id = format!("user-{i}");
        let (code, version) = embed(&client, &server, &id).await;
        assert_eq!(code, 200);
        seen.insert(id, version);
    }
    let on_candidate = seen.values().filter(|v| *v == "1.1.0").count();
    assert!(
        (3..=21).contains(&on_candidate),
        "{on_candidate} of 24 on 1.1.0"
    );
    for split in [["1.0.0=90", "1.1.0=10"], ["1.0.0=10", "1.1.0=90"]] {
        rollout(&server, &["split", "minilm", split[0], split[1]]).unwrap();
        for (id, version) in &seen {
            for _ in 0..2 {
                assert_eq!(
                    &embed(&client, &server, id).await.1,
                    version,
                    "{id} after {split:?}"
                );
            }
        }
    }
    // Pinning: the body, the header and the path each reach 1.1.0 even
    // at 0 % traffic.
    rollout(&server, &["promote", "minilm", "1.0.0"]).unwrap();
    let pinned = [
        (
            "/api/models/minilm/embed",
            json!({"inputs": {"text": "x"}, "version": "1.1.0"}),
            None,
        ),
        (
            "/api/models/minilm/embed",
            json!({"inputs": {"text": "x"}}),
            Some("1.1.0"),
        ),
        (
            "/api/models/minilm@1.1.0/embed",
            json!({"inputs": {"text": "x"}}),
            None,
        ),
    ];
    for (path, body, header) in pinned {
        let mut request = client.post(server.url(path)).json(&body);
        if let Some(version) = header {
            request = request.header("x-wick-version", version);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["x-wick-version"], "1.1.0", "{path}");
    }
    // The demo: a browser's first page sets its `wick_client` cookie, and
    // the UI's predictions with it stay on one version.
    rollout(&server, &["split", "minilm", "1.0.0=50", "1.1.0=50"]).unwrap();
    let mut demo_versions = BTreeMap::new();
    for _ in 0..16 {
        let page = client
            .get(server.url("/m/minilm/embed"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        let cookie = page.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_string();
        assert!(cookie.starts_with("wick_client="), "{cookie}");
        let mut versions = Vec::new();
        for _ in 0..3 {
            let lines = client
                .post(server.url("/_wick/predict_stream"))
                .header("cookie", &cookie)
                .json(&json!({"model": "minilm", "endpoint": "embed", "inputs": {"text": "hi"}}))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            // The last line is the outcome.
            let answer: Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
            versions.push(
                answer["end"]["Done"]["version"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        assert!(versions.iter().all(|v| *v == versions[0]), "{versions:?}");
        *demo_versions.entry(versions[0].clone()).or_insert(0) += 1;
    }
    // 16 browsers at 50/50 all on one version: 1 chance in 32,768.
    assert_eq!(demo_versions.len(), 2, "{demo_versions:?}");

    let missing = client
        .post(server.url("/api/models/minilm@9.9.9/embed"))
        .json(&json!({"inputs": {"text": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// `name = "..."` and `version = "..."` of a wick.toml replaced.
fn regex_free_rename(text: &str, name: &str, version: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("name = ") {
                format!("name = \"{name}\"")
            } else if line.starts_with("version = ") {
                format!("version = \"{version}\"")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_shadow_never_answers_its_comparisons_move_and_the_routing_survives_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let candidate = minilm_as("1.1.0", temp.path(), |t| t);
    let data = temp.path().join("data");
    let mut server = start(&[&minilm_dir()], &data);
    let client = reqwest::Client::new();
    rollout(&server, &["load", candidate.to_str().unwrap()]).unwrap();
    let printed = rollout(&server, &["shadow", "minilm", "1.1.0", "100"]).unwrap();
    assert!(printed.contains("shadow: 1.1.0"), "{printed}");
    for i in 0..12 {
        let (code, version) = embed(&client, &server, &format!("c{i}")).await;
        assert_eq!((code, version.as_str()), (200, "1.0.0"));
    }
    let classify = client
        .post(server.url("/api/models/minilm/classify"))
        .json(&json!({"inputs": {"text": "I loved this film", "labels": ["positive", "negative"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(classify.headers()["x-wick-version"], "1.0.0");
    // The copies run after the answers: give them a moment.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let compared = common::metric(&server, "wick_shadow_compared{").await;
        if compared >= 13.0 {
            break;
        }
        assert!(Instant::now() < deadline, "only {compared} comparisons");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cosine = common::metric(
        &server,
        "wick_shadow_mean_cosine{model=\"minilm\",version=\"1.1.0\",endpoint=\"embed\"",
    )
    .await;
    assert!((cosine - 1.0).abs() < 1e-5, "same weights, cosine {cosine}");
    let agreement = common::metric(
        &server,
        "wick_shadow_agreement_ratio{model=\"minilm\",version=\"1.1.0\",endpoint=\"classify\",output=\"label\"",
    )
    .await;
    assert_eq!(agreement, 1.0);
    let shadow_served = common::metric(
        &server,
        "wick_requests_total{model=\"minilm\",version=\"1.1.0\"",
    )
    .await;
    assert!(shadow_served >= 13.0, "{shadow_served}");

    // A reviewer flags 1.1.0's answer; the admin page sets the versions
    // side by side, and the export filters by version.
    let flag = json!({
        "endpoint": "embed",
        "inputs": {"text": "The cat sits outside"},
        "outputs": {"embedding": vec![0.05; 384]},
        "option": "Incorrect",
        "version": "1.1.0",
    });
    let stored = client
        .post(server.url("/api/models/minilm/feedback"))
        .json(&flag)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let page = client
        .get(server.url("/admin/feedback?window=1h"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for shown in [
        "data-testid=\"admin-versions\"",
        "data-version=\"minilm@1.1.0\"",
        "Incorrect: 1",
        "data-testid=\"admin-shadows\"",
        "mean cosine 1.0000",
        "100.0 % agree",
    ] {
        assert!(page.contains(shown), "{shown} not on the admin page");
    }
    let export = |version: &str| {
        client
            .get(server.url(&format!(
                "/admin/feedback.csv?model=minilm&version={version}"
            )))
            .bearer_auth(TOKEN)
            .send()
    };
    let of_candidate = export("1.1.0").await.unwrap().text().await.unwrap();
    assert_eq!(of_candidate.lines().count(), 2, "{of_candidate}");
    let of_serving = export("1.0.0").await.unwrap().text().await.unwrap();
    assert_eq!(of_serving.lines().count(), 1, "{of_serving}");

    // Restart with 1.0.0 alone on the command line: 1.1.0, the split
    // and the shadow come back from the data folder.
    rollout(&server, &["split", "minilm", "1.0.0=70", "1.1.0=30"]).unwrap();
    rollout(&server, &["shadow", "minilm", "1.1.0", "20"]).unwrap();
    server.terminate_within(Duration::from_secs(10));
    let server = start(&[&minilm_dir()], &data);
    let back = status(&server).await;
    assert_eq!(
        weights(&back),
        BTreeMap::from([("1.0.0".into(), 70), ("1.1.0".into(), 30)])
    );
    assert_eq!(back["shadow"], json!({"version": "1.1.0", "percent": 20.0}));
    assert_eq!(back["baseline"], "1.0.0");
}
