//! A real `wick serve` of the MiniLM example tried as a hostile client
//! would: requests that would hold the worker or the memory are refused
//! at once, before any work.

mod common;

use std::time::{Duration, Instant};

use common::{Server, minilm_dir};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post(server: &Server, path: &str, body: String) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let client = reqwest::Client::new();
    let (status, json) = common::post(&client, server.url(path), "application/json", body).await;
    (status, json, started.elapsed())
}

#[tokio::test]
async fn a_request_of_too_many_inputs_or_too_much_text_is_refused_before_any_work() {
    let server = Server::start(&[&minilm_dir()], &["--max-input-chars", "20000"]);
    let embed = "/api/models/minilm/embed";

    // 100,000 one-letter texts: 1.5 MB, under the body limit.
    let many = json!({"inputs": vec![json!({"text": "a"}); 100_000]}).to_string();
    assert!(many.len() < 2 * 1024 * 1024);
    // The best of three: the refusal's own cost, not the noise of the
    // other tests sharing these two cores.
    let mut took = Duration::MAX;
    for _ in 0..2 {
        took = took.min(post(&server, embed, many.clone()).await.2);
    }
    let (status, body, last) = post(&server, embed, many).await;
    let took = took.min(last);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    assert_eq!(body["error"]["field"], "inputs", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 64 sets of inputs"),
        "{body}"
    );
    assert!(took < Duration::from_millis(100), "refused in {took:?}");

    // Eight texts of 3,000 characters: 24,000 over the 20,000 allowed.
    let long = "word ".repeat(600);
    let heavy = json!({"inputs": vec![json!({"text": long}); 8]}).to_string();
    let (status, body, _) = post(&server, embed, heavy).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this one has 24000"),
        "{body}"
    );

    // Within both limits, the same kind of request is answered.
    let fine = json!({"inputs": vec![json!({"text": "a"}); 64]}).to_string();
    let (status, body, _) = post(&server, embed, fine).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outputs"].as_array().unwrap().len(), 64);
}

#[tokio::test]
async fn pages_carry_security_headers_and_other_sites_cannot_write() {
    let server = Server::start(
        &[&minilm_dir()],
        &[
            "--allow-embed",
            "https://huggingface.co",
            "--cors-origin",
            "https://notebook.example",
        ],
    );
    let client = reqwest::Client::new();
    let page = client.get(server.url("/")).send().await.unwrap();
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    let policy = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-"),
        "{policy}"
    );
    assert!(
        policy.contains("frame-ancestors 'self' https://huggingface.co"),
        "{policy}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("referrer-policy"));
    // The page's inline scripts carry the nonce the policy names.
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "{html}");
    let again = client.get(server.url("/")).send().await.unwrap();
    assert!(
        !again.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains(nonce),
        "a nonce is used once"
    );
    let api = client.get(server.url("/api/models")).send().await.unwrap();
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");

    let embed = server.url("/api/models/minilm/embed");
    let from = |origin: &str| {
        client
            .post(&embed)
            .header("origin", origin.to_string())
            .json(&json!({"inputs": {"text": "a"}}))
            .send()
    };
    let evil = from("https://evil.example").await.unwrap();
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    let body: Value = evil.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert_eq!(
        from(&server.url("")).await.unwrap().status(),
        StatusCode::OK
    );
    let allowed = from("https://notebook.example").await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://notebook.example"
    );
    // A cross-site form post to a server function is refused the same way.
    let form = client
        .post(server.url("/_wick/flag"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(r#"{"model": "minilm", "body": {}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
}

/// Opens a TCP connection to the server (with a bounded wait).
async fn connect(server: &Server) -> tokio::net::TcpStream {
    let address = server.base.trim_start_matches("http://").to_string();
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(address),
    )
    .await
    .expect("connect within 5 s")
    .expect("connect")
}

/// Whether the server closed `stream` (a read ends or fails) within `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar answer before the close.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn idle_and_slow_connections_cannot_starve_new_clients() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start(&[&minilm_dir()], &["--header-timeout-secs", "2"]);
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(connect(&server).await);
    }
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = connect(&server).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    // A new client is served while all of those hang (from another
    // address: the hanging ones' own is at its cap).
    let client = common::client_from([127, 0, 0, 2]);
    let started = Instant::now();
    let health = client
        .get(server.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("/healthz answers beside 2,200 hanging connections");
    assert_eq!(health.status(), StatusCode::OK);
    println!(
        "/healthz beside 2,200 hanging connections: {:?}",
        started.elapsed()
    );
    let (status, _) = common::post(
        &client,
        server.url("/api/models/minilm/embed"),
        "application/json",
        json!({"inputs": {"text": "still served"}}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The header timeout closes them all, idle and slow alike.
    let mut closed = 0;
    for stream in slow.iter_mut().chain(idle.iter_mut().take(200)) {
        if closed_within(stream, Duration::from_secs(4)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 400, "connections outlived the 2 s header timeout");
}

#[tokio::test]
async fn sigterm_ends_the_process_within_the_grace_period_despite_a_half_sent_request() {
    use tokio::io::AsyncWriteExt;
    let mut server = Server::start(
        &[&minilm_dir()],
        &["--shutdown-grace-secs", "2", "--body-timeout-secs", "60"],
    );
    let mut half = connect(&server).await;
    half.write_all(
        b"POST /api/models/minilm/embed HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inputs\":",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let took = server
        .terminate_within(Duration::from_secs(6))
        .expect("the process exits after SIGTERM");
    assert!(
        took < Duration::from_secs(4),
        "took {took:?} with a 2 s grace"
    );
}

#[tokio::test]
async fn an_over_limit_body_is_refused_before_100_continue() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start(&[&minilm_dir()], &["--max-body-bytes", "1000"]);
    let mut stream = connect(&server).await;
    stream
        .write_all(
            b"POST /api/models/minilm/embed HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/json\r\nContent-Length: 5000000\r\n\
              Expect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("an answer without sending the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");

    // And a route that exists but not for this method answers JSON.
    let wrong = reqwest::Client::new()
        .get(server.url("/api/models/minilm/feedback"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
}

#[tokio::test]
async fn with_auth_nothing_answers_without_a_session_or_token() {
    let server = Server::start(
        &[&minilm_dir()],
        &["--auth", "ann:s3cret-pw", "--auth-token", "api-token"],
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = client.get(server.url(path)).header("accept", "text/html");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie.to_string());
        }
        request.send()
    };
    let page = get("/", None).await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/login?next=/");
    let api = client.get(server.url("/api/models")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    let (status, _, _) = post(
        &server,
        "/api/models/minilm/embed",
        json!({"inputs": {"text": "a"}}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get("/healthz", None).await.unwrap().status(),
        StatusCode::OK
    );
    let login_page = get("/login", None).await.unwrap();
    assert_eq!(login_page.status(), StatusCode::OK);
    assert!(
        login_page
            .text()
            .await
            .unwrap()
            .contains("data-testid=\"login-password\"")
    );

    let with_token = client
        .get(server.url("/api/models"))
        .bearer_auth("api-token")
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);

    let sign_in = |password: &'static str| {
        client
            .post(server.url("/login"))
            .header("x-forwarded-proto", "https")
            .header("accept", "text/html,application/xhtml+xml")
            .form(&[
                ("username", "ann"),
                ("password", password),
                ("next", "/api"),
            ])
            .send()
    };
    assert_eq!(
        sign_in("wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let signed_in = sign_in("s3cret-pw").await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()["location"], "/api");
    let set_cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("; Secure"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    assert_eq!(
        get("/", Some(&cookie)).await.unwrap().status(),
        StatusCode::OK
    );
    // A script (gradio_client's `auth=`) signs in the same way and gets
    // JSON: success with the cookie, or a JSON 401.
    let script = |password: &'static str| {
        client
            .post(server.url("/login"))
            .form(&[("username", "ann"), ("password", password)])
            .send()
    };
    let refused = script("wrong").await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "unauthorized"
    );
    let accepted = script("s3cret-pw").await.unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    assert!(
        accepted.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("wick_session=")
    );
    assert_eq!(
        accepted.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"success": true})
    );
    assert_eq!(
        get("/api/models", Some(&cookie)).await.unwrap().status(),
        StatusCode::OK
    );

    // A cross-site login form is refused before the password is looked at.
    let forged = client
        .post(server.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("username", "ann"), ("password", "s3cret-pw")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let out = client
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        get("/api/models", Some(&cookie)).await.unwrap().status(),
        StatusCode::SEE_OTHER,
        "the old cookie stops working after logout"
    );
}

#[tokio::test]
async fn the_ui_server_functions_answer_bad_bodies_with_a_json_4xx() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let client = reqwest::Client::new();
    for body in ["{", "[]", r#"{"model": 3}"#, r#"{"model": "minilm"}"#] {
        let response = client
            .post(server.url("/_wick/predict_stream"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(status.is_client_error(), "{body}: {status}");
        assert!(kind.starts_with("application/json"), "{body}: {kind}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "bad_request", "{body}: {answer}");
    }
}

#[tokio::test]
async fn api_snippets_use_the_public_url_or_a_plain_host_never_a_raw_header() {
    let configured = Server::start(&[&minilm_dir()], &["--public-url", "https://demo.example/"]);
    let page = reqwest::get(configured.url("/m/minilm/api"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("https://demo.example/api/models/minilm/embed"),
        "{page}"
    );

    let open = Server::start(&[&minilm_dir()], &[]);
    let page = reqwest::Client::new()
        .get(open.url("/m/minilm/api"))
        .header("x-forwarded-host", "evil.example/\"><script>")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("evil.example"), "a raw header was echoed");
}

#[tokio::test]
async fn flags_from_one_address_are_limited_per_minute() {
    let server = Server::start(&[&minilm_dir()], &["--max-flags-per-minute", "3"]);
    let flag = json!({
        "endpoint": "embed",
        "inputs": {"text": "a"},
        "outputs": {"embedding": vec![0.0; 384]},
        "option": "Other"
    })
    .to_string();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, body, _) = post(&server, "/api/models/minilm/feedback", flag.clone()).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["error"]["code"], "overloaded", "{body}");
        }
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429]);
}

#[tokio::test]
async fn a_keep_alive_connection_left_idle_is_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start(&[&minilm_dir()], &["--header-timeout-secs", "2"]);
    let mut stream = connect(&server).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let read = stream.read(&mut answer).await.unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(6)).await,
        "an idle keep-alive connection stayed open"
    );
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_millis(1500),
        "closed too soon: {idle:?}"
    );
}

#[tokio::test]
async fn memory_comes_back_after_a_burst_of_the_largest_requests() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let embed = "/api/models/minilm/embed";
    let small = json!({"inputs": {"text": "The cat sits outside"}}).to_string();
    assert_eq!(post(&server, embed, small.clone()).await.0, StatusCode::OK);
    let idle = server.rss_bytes();
    // The largest request accepted: 64 texts of 3,000 characters.
    let long = "the cat sat on a mat ".repeat(143);
    let heavy = json!({"inputs": vec![json!({"text": &long[..3000]}); 64]}).to_string();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (url, body) = (server.url(embed), heavy.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for _ in 0..2 {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                    response.bytes().await.unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    // The worker gives memory back once it is idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_bytes();
    assert!(
        after < 2 * idle,
        "RSS {} MB after the burst, {} MB idle",
        after >> 20,
        idle >> 20
    );
    assert_eq!(post(&server, embed, small).await.0, StatusCode::OK);
}

/// SIGTERM with requests in flight: readiness turns 503 at once, every
/// request sent before the port closes gets its 200, later ones find the
/// port closed (never an error status), and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_readiness_first_and_fails_no_request() {
    let mut server = Server::start(&[&minilm_dir()], &["--drain-secs", "2"]);
    let base = server.base.clone();
    let stop_at = std::time::Instant::now() + Duration::from_secs(6);
    let mut senders = Vec::new();
    for worker in 0..8 {
        let base = base.clone();
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let inputs: Vec<_> = (0..16)
                .map(|i| json!({"text": format!("worker {worker} sends text {i} ").repeat(20)}))
                .collect();
            let (mut answered, mut refused) = (0, 0);
            while std::time::Instant::now() < stop_at {
                match client
                    .post(format!("{base}/api/models/minilm/embed"))
                    .json(&json!({"inputs": inputs}))
                    .send()
                    .await
                {
                    Ok(response) => {
                        assert_eq!(response.status(), StatusCode::OK, "a request failed");
                        response.bytes().await.expect("the whole answer");
                        answered += 1;
                    }
                    // The port closed after the drain: go elsewhere.
                    Err(_) => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            (answered, refused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ready = |base: String| async move {
        reqwest::get(format!("{base}/readyz"))
            .await
            .map(|r| r.status())
    };
    assert_eq!(ready(base.clone()).await.unwrap(), StatusCode::OK);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        ready(base.clone()).await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "readiness still says ready while draining"
    );
    let (mut answered, mut refused) = (0, 0);
    for sender in senders {
        let (a, r) = sender.await.unwrap();
        answered += a;
        refused += r;
    }
    println!(
        "SIGTERM under load: {answered} answered (all 200), {refused} refused after the drain"
    );
    assert!(
        answered > 0 && refused > 0,
        "{answered} answered, {refused} refused"
    );
    assert!(
        ready(base).await.is_err(),
        "the port is closed after the drain"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.exit_code().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.exit_code(), Some(0));
}
