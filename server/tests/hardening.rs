//! The second hostile-client pass: every door locked the same way, no
//! request able to hurt another's. Each test is one defect the pass found,
//! tried again through every protocol it reached (JSON, multipart, OpenAI,
//! Gradio, V2 REST, gRPC, the UI's server functions); each failed on the
//! code before the fix.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{
    Server, client_from, lite0_dir, minilm_as, minilm_dir, post, smollm2_dir, sse_events,
    whisper_dir,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn data_url(mime: &str, bytes: &[u8]) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:{mime};base64,{data}")
}

async fn post_json(client: &reqwest::Client, url: String, body: Value) -> (StatusCode, Value) {
    post(client, url, "application/json", body.to_string()).await
}

/// What no client may ever read: a panic's words or a backtrace.
fn assert_no_panic_text(what: &str, body: &str) {
    for tell in [
        "panicked",
        "backtrace",
        "RUST_BACKTRACE",
        ".rs:",
        "unwrap()",
    ] {
        assert!(
            !body.contains(tell),
            "{what} answered with `{tell}`: {body}"
        );
    }
}

/// A PNG of `width` × `height` RGB pixels, noise or one colour.
fn png(width: u32, height: u32, noise: bool) -> Vec<u8> {
    let mut state = 0x9E37_79B9u32;
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        if noise {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let [a, b, c, _] = state.to_le_bytes();
            image::Rgb([a, b, c])
        } else {
            image::Rgb([(x % 7) as u8, (y % 5) as u8, 90])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A PNG chunk: length, type, data, CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    out
}

fn zlib(bytes: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    for piece in bytes {
        encoder.write_all(&piece).unwrap();
    }
    encoder.finish().unwrap()
}

/// A PNG of `width` × `height` 16-bit RGBA pixels, all one value: a few
/// hundred kilobytes that claim 8 bytes a pixel.
fn png_rgba16(width: u32, height: u32) -> Vec<u8> {
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[16, 6, 0, 0, 0]);
    let row = vec![0u8; 1 + width as usize * 8];
    let pixels = zlib((0..height).map(|_| row.clone()));
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &header));
    out.extend(chunk(b"IDAT", &pixels));
    out.extend(chunk(b"IEND", &[]));
    out
}

/// A 1 × 1 PNG whose ICC profile inflates to 256 MiB.
fn png_icc_bomb() -> Vec<u8> {
    let plain = png(1, 1, false);
    let mut profile = b"bomb\0\0".to_vec();
    profile.extend(zlib((0..256).map(|_| vec![0u8; 1 << 20])));
    let mut out = plain[..33].to_vec();
    out.extend(chunk(b"iCCP", &profile));
    out.extend_from_slice(&plain[33..]);
    out
}

/// A 16-bit PCM mono WAV of `samples` at `rate` (which may be nonsense).
fn wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&rate.wrapping_mul(2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

/// Gradio's two-step call: the POST, then the events of the GET.
async fn gradio_call(
    client: &reqwest::Client,
    server: &Server,
    api_name: &str,
    data: Value,
) -> Vec<(String, Value)> {
    let (status, started) = post_json(
        client,
        server.url(&format!("/gradio_api/call/{api_name}")),
        json!({ "data": data }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let event_id = started["event_id"].as_str().unwrap();
    let text = client
        .get(server.url(&format!("/gradio_api/call/{api_name}/{event_id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_no_panic_text("gradio", &text);
    sse_events(&text)
}

/// A multipart form with one file part.
fn form_with(part: &str, bytes: Vec<u8>, file_name: &str, mime: &str) -> reqwest::multipart::Form {
    let file = reqwest::multipart::Part::bytes(bytes)
        .file_name(file_name.to_string())
        .mime_str(mime)
        .unwrap();
    reqwest::multipart::Form::new().part(part.to_string(), file)
}

/// A V2 request of one BYTES input, `image`, in the binary tensor
/// extension: the encoded file as it is.
async fn v2_binary(client: &reqwest::Client, url: String, file: &[u8]) -> reqwest::Response {
    let header = json!({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
        "parameters": {"binary_data_size": file.len() + 4}}]})
    .to_string();
    let mut body = header.clone().into_bytes();
    body.extend_from_slice(&(file.len() as u32).to_le_bytes());
    body.extend_from_slice(file);
    client
        .post(url)
        .header("content-type", "application/octet-stream")
        .header("inference-header-content-length", header.len().to_string())
        .body(body)
        .send()
        .await
        .unwrap()
}

/// 1. The gRPC port ignored `--auth` and `--auth-token`.
#[test]
fn the_grpc_port_asks_for_the_same_sign_in_as_http() {
    let port = common::free_port();
    let _server = Server::start(
        &[&minilm_dir(), &smollm2_dir()],
        &[
            "--auth",
            "ann:pw",
            "--auth-token",
            "grpc-token",
            "--grpc-port",
            &port.to_string(),
        ],
    );
    let script = common::test_script("grpc_doors.py");
    let address = format!("127.0.0.1:{port}");
    common::run_python(&[script.as_os_str(), address.as_ref(), "grpc-token".as_ref()]);
}

/// 2. `temperature` 1e-40 (or `top_p` 1e-300) made the sampler fail, and
/// the failure ended every stream decoding beside it, with a backtrace in
/// the 500's body.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parameters_the_sampler_could_not_take_end_no_stream() {
    let server = Server::start(&[&smollm2_dir()], &[]);
    let client = reqwest::Client::new();
    let chat = "/api/models/smollm2/chat";
    let messages = json!([{"role": "user", "content": "Tell me a story about a lighthouse."}]);
    // A long stream decodes while the hostile requests come and go.
    let long = {
        let (url, messages) = (server.url(chat), messages.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .header("accept", "text/event-stream")
                .json(&json!({"inputs": {"messages": messages, "max_new_tokens": 120, "temperature": 0}}))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let greedy = |extra: Value| {
        let mut inputs = json!({"messages": messages, "max_new_tokens": 6});
        inputs
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "inputs": inputs })
    };
    let (status, reference) =
        post_json(&client, server.url(chat), greedy(json!({"temperature": 0}))).await;
    assert_eq!(status, StatusCode::OK, "{reference}");
    let greedy_text = reference["outputs"]["text"].clone();
    for hostile in [
        json!({"temperature": 1e-40}),
        json!({"temperature": 0.7, "top_p": 1e-300}),
        json!({"temperature": 0.7, "top_p": 0}),
        json!({"temperature": 5e-324, "top_k": 1}),
    ] {
        let (status, body) = post_json(&client, server.url(chat), greedy(hostile.clone())).await;
        assert_eq!(status, StatusCode::OK, "{hostile}: {body}");
        assert_eq!(
            body["outputs"]["text"], greedy_text,
            "{hostile}: the likeliest tokens"
        );
    }
    // OpenAI, Gradio and V2 carry the same parameters to the same sampler.
    let (status, body) = post_json(
        &client,
        server.url("/v1/chat/completions"),
        json!({"model": "smollm2", "messages": messages, "max_tokens": 6, "temperature": 1e-40, "top_p": 1e-300}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], greedy_text);
    let events = gradio_call(
        &client,
        &server,
        "chat",
        json!([messages, 6, 1e-40, 1e-300]),
    )
    .await;
    assert_eq!(events.last().unwrap().0, "complete", "{events:?}");
    let v2 = json!({"inputs": [
        {"name": "prompt", "shape": [1], "datatype": "BYTES", "data": ["Once upon a time"]},
        {"name": "max_new_tokens", "shape": [1], "datatype": "INT64", "data": [4]},
        {"name": "temperature", "shape": [1], "datatype": "FP64", "data": [1e-40]},
    ]});
    let (status, body) =
        post_json(&client, server.url("/v2/models/smollm2.complete/infer"), v2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let long = long.await.unwrap();
    assert_no_panic_text("the long stream", &long);
    let events = sse_events(&long);
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done", "the long stream ended with {last}: {done}");
    assert!(events.iter().all(|(name, _)| name != "error"), "{long}");
}

/// 3. An uploaded SVG was served as `image/svg+xml` with no CSP, and an
/// uploaded HTML page could load an uploaded script.
#[tokio::test]
async fn uploads_are_kept_only_as_media_and_served_as_sandboxed_downloads() {
    let server = Server::start(&[&lite0_dir()], &[]);
    let client = reqwest::Client::new();
    let upload = |bytes: Vec<u8>, name: &str, mime: &str| {
        client
            .post(server.url("/gradio_api/upload"))
            .multipart(form_with("files", bytes, name, mime))
            .send()
    };
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    for (bytes, name, mime) in [
        (svg.to_vec(), "x.svg", "image/svg+xml"),
        (
            b"<html><script src=a.js></script></html>".to_vec(),
            "x.html",
            "text/html",
        ),
        (
            b"alert(document.cookie)".to_vec(),
            "a.js",
            "text/javascript",
        ),
        (svg.to_vec(), "x.png", "image/png"),
    ] {
        let response = upload(bytes, name, mime).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{name}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unsupported_media_type", "{body}");
    }
    // A real image claimed as HTML is kept as what its bytes are.
    let paths: Vec<String> = upload(png(4, 4, false), "cat.html", "text/html")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file = client
        .get(server.url(&format!("/gradio_api/file={}", paths[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    let headers = file.headers();
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    let missing = client
        .get(server.url("/gradio_api/file=/wick/files/nope/x.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.expect("a JSON 404");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
}

/// 4. The UI's flag route had no limit (1,000 flags in 1.3 s), and flags'
/// images filled the data folder at 20 MB a second.
#[tokio::test]
async fn the_flag_button_and_the_api_share_one_limit_per_address() {
    let server = Server::start(&[&minilm_dir()], &["--max-flags-per-minute", "3"]);
    let client = reqwest::Client::new();
    let flag = json!({
        "endpoint": "embed",
        "inputs": {"text": "a"},
        "outputs": {"embedding": vec![0.0; 384]},
        "option": "Other"
    });
    let api = |client: reqwest::Client| {
        let (url, flag) = (server.url("/api/models/minilm/feedback"), flag.clone());
        async move { post_json(&client, url, flag).await }
    };
    let button = |client: reqwest::Client| {
        let (url, body) = (
            server.url("/_wick/flag"),
            json!({"model": "minilm", "request": flag}),
        );
        async move { post_json(&client, url, body).await }
    };
    assert_eq!(api(client.clone()).await.0, StatusCode::CREATED);
    assert_eq!(api(client.clone()).await.0, StatusCode::CREATED);
    let (status, stored) = button(client.clone()).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert!(stored["Stored"]["id"].is_string(), "{stored}");
    let (_, refused) = button(client.clone()).await;
    assert_eq!(refused["Refused"]["code"], "overloaded", "{refused}");
    let (status, body) = api(client.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Another address has its own allowance.
    let (status, stored) = button(client_from([127, 0, 0, 2])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(stored["Stored"]["id"].is_string(), "{stored}");

    // Bytes too: 1 MB a minute, and a flag carries a 700 KB photo.
    let images = Server::start(
        &[&lite0_dir()],
        &[
            "--max-flag-mb-per-minute",
            "1",
            "--max-flags-per-minute",
            "100",
        ],
    );
    let photo = data_url("image/png", &png(480, 480, true));
    let flag = |i: usize| {
        json!({
            "endpoint": "classify",
            "inputs": {"image": photo},
            "outputs": {"label": {"label": format!("cat {i}"), "confidences": []}},
            "option": "Incorrect"
        })
    };
    let (first, body) = post_json(
        &client,
        images.url("/api/models/efficientnet-lite0/feedback"),
        flag(1),
    )
    .await;
    assert_eq!(first, StatusCode::CREATED, "{body}");
    let (second, body) = post_json(
        &client,
        images.url("/api/models/efficientnet-lite0/feedback"),
        flag(2),
    )
    .await;
    assert_eq!(second, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("bytes"),
        "{body}"
    );
}

/// Opens a connection from `address` that sends nothing.
async fn hold_from(server: &Server, address: [u8; 4]) -> tokio::net::TcpStream {
    let target: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from((address, 0)))
        .unwrap();
    socket.connect(target).await.unwrap()
}

/// 5. 4,096 held connections locked everyone out, `/healthz` included.
#[tokio::test]
async fn one_address_cannot_hold_every_connection_and_probes_still_answer() {
    let server = Server::start(
        &[&minilm_dir()],
        &[
            "--max-connections",
            "48",
            "--max-connections-per-address",
            "16",
            "--header-timeout-secs",
            "30",
        ],
    );
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(hold_from(&server, [127, 0, 0, 1]).await);
    }
    // The holder's own address is at its cap: probes still answer, work does not.
    let holder = client_from([127, 0, 0, 1]);
    let health = holder.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let refused = holder.get(server.url("/api/models")).send().await;
    if let Ok(refused) = refused {
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.headers().contains_key("retry-after"));
    }
    // Anyone else is served.
    let other = client_from([127, 0, 0, 2]);
    let answer = other.get(server.url("/api/models")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // Two more addresses fill the server: the probes still answer.
    for address in [[127, 0, 0, 3], [127, 0, 0, 4]] {
        for _ in 0..16 {
            held.push(hold_from(&server, address).await);
        }
    }
    let newcomer = client_from([127, 0, 0, 9]);
    let started = Instant::now();
    let health = newcomer.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(1));
    let ready = newcomer.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    drop(held);
}

/// 6. Image decoding had no memory budget: a 381 KB PNG of 7000 × 7000
/// 16-bit pixels cost 515 MB, an 8 MB 1 × 1 PNG with an ICC profile 480 MB.
#[tokio::test]
async fn images_cost_what_their_pixels_take_and_metadata_is_capped() {
    let server = Server::start(&[&lite0_dir()], &[]);
    let client = reqwest::Client::new();
    let classify = server.url("/api/models/efficientnet-lite0/classify");
    let (status, _) = post_json(
        &client,
        classify.clone(),
        json!({"inputs": {"image": data_url("image/png", &png(8, 8, false))}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let before = server.rss_bytes();
    let deep = png_rgba16(7000, 7000);
    let bomb = png_icc_bomb();
    println!(
        "16-bit PNG: {} KB; ICC bomb: {} KB",
        deep.len() >> 10,
        bomb.len() >> 10
    );
    // The deep one is refused before a pixel is decoded; the bomb's
    // profile is dropped at its cap and its one pixel classified.
    for (name, bytes, refused) in [("deep", &deep, true), ("bomb", &bomb, false)] {
        let expected = if refused {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let as_json = json!({"inputs": {"image": data_url("image/png", bytes)}});
        let (status, body) = post_json(&client, classify.clone(), as_json).await;
        assert_eq!(status, expected, "{name}: {body}");
        if refused {
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("Rgba16 (8 bytes a pixel)"),
                "{name}: {body}"
            );
        }
        // Multipart, Gradio and V2 reach the same decoder.
        let response = client
            .post(&classify)
            .multipart(form_with("image", bytes.clone(), "x.png", "image/png"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{name} multipart");
        let v2_url = server.url("/v2/models/efficientnet-lite0/infer");
        let v2 = v2_binary(&client, v2_url, bytes).await;
        assert_eq!(v2.status(), expected, "{name} V2");
        let gradio_data = json!([data_url("image/png", bytes)]);
        let events = gradio_call(&client, &server, "classify", gradio_data).await;
        let last = if refused { "error" } else { "complete" };
        assert_eq!(events.last().unwrap().0, last, "{name} gradio: {events:?}");
    }
    let grown = server.rss_bytes().saturating_sub(before);
    println!(
        "RSS grew {} MB over both bombs, four protocols each",
        grown >> 20
    );
    assert!(grown < 150 << 20, "RSS grew {} MB", grown >> 20);
}

/// 7. A WAV at 0 Hz panicked (500 on every route), 600 samples at 1 Hz
/// cost 10 s and 350 MB, and 30 s of digital silence became "you".
#[tokio::test]
async fn audio_at_rates_no_speech_has_is_refused_and_silence_is_empty() {
    let server = Server::start(&[&whisper_dir()], &[]);
    let client = reqwest::Client::new();
    let transcribe = server.url("/api/models/whisper-tiny-en/transcribe");
    for rate in [0, 1, 500] {
        let clip = wav(&vec![1000; 600], rate);
        let started = Instant::now();
        let (status, body) = post_json(
            &client,
            transcribe.clone(),
            json!({"inputs": {"audio": data_url("audio/wav", &clip)}}),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{rate} Hz: {body}"
        );
        assert_no_panic_text("the JSON API", &body.to_string());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{rate} Hz took {:?}",
            started.elapsed()
        );
        let response = client
            .post(&transcribe)
            .multipart(form_with("audio", clip.clone(), "x.wav", "audio/wav"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{rate} Hz multipart"
        );
        let events = gradio_call(
            &client,
            &server,
            "transcribe",
            json!([data_url("audio/wav", &clip)]),
        )
        .await;
        assert_eq!(
            events.last().unwrap().0,
            "error",
            "{rate} Hz gradio: {events:?}"
        );
    }
    let silence = wav(&vec![0; 16_000 * 30], 16_000);
    let (status, body) = post_json(
        &client,
        transcribe,
        json!({"inputs": {"audio": data_url("audio/wav", &silence)}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outputs"]["text"], "", "{body}");
    assert_eq!(body["outputs"]["segments"], json!([]), "{body}");
}

/// 8. Bearer tokens (the API's and the admin's) could be guessed a
/// thousand times a second.
#[tokio::test]
async fn guessed_tokens_are_limited_per_address_like_passwords() {
    let server = Server::start_with_env(
        &[&minilm_dir()],
        &["--auth-token", "api-token"],
        &[("WICK_ADMIN_TOKEN", "admin-token")],
    );
    let guesser = client_from([127, 0, 0, 1]);
    let get = |client: &reqwest::Client, path: &str, token: &str| {
        client.get(server.url(path)).bearer_auth(token).send()
    };
    for i in 0..10 {
        let wrong = get(&guesser, "/api/models", &format!("guess-{i}"))
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = get(&guesser, "/api/models", "api-token").await.unwrap();
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.headers()["retry-after"], "60");
    let admin = get(&guesser, "/admin/api/models/minilm/rollout", "admin-token")
        .await
        .unwrap();
    assert_eq!(
        admin.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "one allowance for every secret"
    );
    // Another address is not locked out, at either door.
    let other = client_from([127, 0, 0, 2]);
    assert_eq!(
        get(&other, "/api/models", "api-token")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let rollout = "/admin/api/models/minilm/rollout";
    for i in 0..10 {
        let wrong = get(&other, rollout, &format!("admin-{i}")).await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        get(&other, rollout, "admin-token").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The admin page's form sets a Strict cookie (the README says so).
    let signed_in = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 3]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(server.url("/admin/login"))
        .form(&[("token", "admin-token")])
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

/// 9. A bundle's `examples/leak.png -> /etc/passwd` served /etc/passwd.
#[tokio::test]
async fn a_bundle_file_linked_from_outside_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let secret = scratch.path().join("secret.txt");
    std::fs::write(&secret, b"root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let hash = wick_engine::bundle::sha256_file(&secret).unwrap();
    let linked = minilm_as("1.1.0", scratch.path(), |text| {
        text.replace(
            "[files]",
            &format!(
                "[[examples.embed]]\ntext = \"x\"\n\n[files]\n\"examples/leak.png\" = \"{hash}\""
            ),
        )
    });
    std::fs::create_dir_all(linked.join("examples")).unwrap();
    std::os::unix::fs::symlink(&secret, linked.join("examples/leak.png")).unwrap();
    let output = common::wick()
        .args(["serve", linked.to_str().unwrap(), "--port", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("symbolic link"), "{stderr}");
    // Through the admin API, loaded beside a served version.
    let server = Server::start_with_env(&[&minilm_dir()], &[], &[("WICK_ADMIN_TOKEN", "t")]);
    let response = reqwest::Client::new()
        .post(server.url("/admin/api/versions"))
        .bearer_auth("t")
        .json(&json!({"bundle": linked}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{status}: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{body}"
    );
    let leak = reqwest::get(server.url("/api/models/minilm/files/examples/leak.png"))
        .await
        .unwrap();
    assert_eq!(leak.status(), StatusCode::NOT_FOUND);
}

/// 10. Uploads were one shared pool (one client's 400 uploads evicted
/// everyone's files), and queued runs whose caller never listened ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_clients_uploads_evict_only_its_own_and_unread_runs_never_run() {
    let server = Server::start(&[&lite0_dir()], &[]);
    let upload = |client: reqwest::Client, bytes: Vec<u8>| {
        let url = server.url("/gradio_api/upload");
        async move {
            let paths: Vec<String> = client
                .post(url)
                .multipart(form_with("files", bytes, "photo.png", "image/png"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            paths[0].clone()
        }
    };
    let fetch = |path: String| {
        let url = server.url(&format!("/gradio_api/file={path}"));
        async move { reqwest::get(url).await.unwrap().status() }
    };
    let kept = upload(client_from([127, 0, 0, 2]), png(16, 16, true)).await;
    let photo = png(600, 600, true);
    let greedy = client_from([127, 0, 0, 1]);
    let first = upload(greedy.clone(), photo.clone()).await;
    for _ in 0..(80 << 20) / photo.len() {
        upload(greedy.clone(), photo.clone()).await;
    }
    assert_eq!(
        fetch(kept).await,
        StatusCode::OK,
        "another client's file was evicted"
    );
    assert_eq!(
        fetch(first).await,
        StatusCode::NOT_FOUND,
        "the greedy client held past its share"
    );

    let chat = Server::start(&[&smollm2_dir()], &[]);
    let client = reqwest::Client::new();
    let tokens_before = common::metric(&chat, "wick_generated_tokens_total{").await;
    let messages = json!([{"role": "user", "content": "Write a long poem."}]);
    for i in 0..40 {
        let (status, body) = post_json(
            &client,
            chat.url("/gradio_api/queue/join"),
            json!({"data": [messages, 256], "fn_index": 0, "session_hash": format!("unread-{i}")}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let started = Instant::now();
    let (status, body) = post_json(
        &client,
        chat.url("/api/models/smollm2/chat"),
        json!({"inputs": {"messages": messages, "max_new_tokens": 8}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let waited = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let generated = common::metric(&chat, "wick_generated_tokens_total{").await - tokens_before;
    println!("beside 40 unread runs: answered in {waited:?}, {generated} tokens generated in all");
    assert!(
        waited < Duration::from_secs(5),
        "a real user waited {waited:?}"
    );
    assert!(
        generated <= 8.0,
        "{generated} tokens were generated for nobody"
    );
}

/// 11. Smaller holes, each real.
#[tokio::test]
async fn weights_that_overflow_and_parameters_of_the_wrong_shape_are_handled() {
    let scratch = tempfile::tempdir().unwrap();
    let second = minilm_as("1.1.0", scratch.path(), |text| text);
    let server =
        Server::start_with_env(&[&minilm_dir(), &second], &[], &[("WICK_ADMIN_TOKEN", "t")]);
    let split = reqwest::Client::new()
        .put(server.url("/admin/api/models/minilm/split"))
        .bearer_auth("t")
        .json(&json!({"weights": {"1.0.0": 4294967295u64, "1.1.0": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(split.status(), StatusCode::OK);
    let status: Value = split.json().await.unwrap();
    let shares: f64 = status["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["share"].as_f64().unwrap())
        .sum();
    assert!((shares - 100.0).abs() < 1e-6, "{status}");

    let chat = Server::start(&[&smollm2_dir()], &[]);
    let client = reqwest::Client::new();
    let messages = json!([{"role": "user", "content": "Hi"}]);
    for (extra, field, says) in [
        (json!({"top_p": null}), "top_p", "null"),
        (
            json!({"max_new_tokens": 1.5}),
            "max_new_tokens",
            "whole number",
        ),
        (json!({"seed": 2.5}), "seed", "whole number"),
    ] {
        let mut inputs = json!({"messages": messages, "max_new_tokens": 2});
        inputs
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, body) = post_json(
            &client,
            chat.url("/api/models/smollm2/chat"),
            json!({"inputs": inputs}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{extra}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
    // OpenAI's parameters that would change the answer are refused, their
    // "off" values (what clients send by default) are not.
    for (extra, param) in [
        (json!({"logprobs": true}), "logprobs"),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f"}}]}),
            "tools",
        ),
        (
            json!({"response_format": {"type": "json_object"}}),
            "response_format",
        ),
        (json!({"logit_bias": {"50256": -100}}), "logit_bias"),
    ] {
        let mut body = json!({"model": "smollm2", "messages": messages, "max_tokens": 2});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, answer) = post_json(&client, chat.url("/v1/chat/completions"), body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{extra}: {answer}"
        );
        assert_eq!(answer["error"]["param"], param, "{answer}");
    }
    let (status, answer) = post_json(
        &client,
        chat.url("/v1/chat/completions"),
        json!({"model": "smollm2", "messages": messages, "max_tokens": 2, "logprobs": false,
               "response_format": {"type": "text"}, "tools": [], "top_p": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let images = Server::start(&[&lite0_dir()], &[]);
    let pixels = json!({"inputs": [{"name": "image", "shape": [1, 2, 2, 3], "datatype": "UINT8",
        "data": [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 300]}]});
    let (status, body) = post_json(
        &client,
        images.url("/v2/models/efficientnet-lite0/infer"),
        pixels,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("300"), "{body}");
    // A part typed `image/*`, as the OpenAPI document's encoding says.
    let response = client
        .post(images.url("/api/models/efficientnet-lite0/classify"))
        .multipart(form_with("image", png(32, 32, false), "x", "image/*"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// 11. Streams cut at the end of the shutdown grace ended with no last
/// event; now each gets an error event first.
#[tokio::test]
async fn a_stream_still_open_at_the_end_of_the_grace_gets_a_last_event() {
    let mut server = Server::start(&[&smollm2_dir()], &["--shutdown-grace-secs", "2"]);
    let response = reqwest::Client::new()
        .post(server.url("/api/models/smollm2/chat"))
        .header("accept", "text/event-stream")
        .json(&json!({"inputs": {
            "messages": [{"role": "user", "content": "Write a very long story."}],
            "max_new_tokens": 1000, "temperature": 0.8, "seed": 1
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status();
    let text = response.text().await.unwrap_or_default();
    let events = sse_events(&text);
    let (last, body) = events.last().expect("events");
    assert_eq!(last, "error", "{text}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(server.terminate_within(Duration::from_secs(5)).is_some());
}

/// The review page, signed in with the admin token `t`.
async fn admin_page(server: &Server) -> String {
    reqwest::Client::new()
        .get(server.url("/admin/feedback"))
        .bearer_auth("t")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// 12. A Space's feedback was lost at every restart, and nothing said so.
#[tokio::test]
async fn a_space_without_a_bucket_warns_that_feedback_will_be_lost() {
    let scratch = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = scratch.path().canonicalize().unwrap();
    let own_mount = mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| *point != "/")
        .any(|point| dir.starts_with(point));
    let server = Server::start_with_env(
        &[&minilm_dir()],
        &["--data-dir", dir.to_str().unwrap()],
        &[("SPACE_ID", "me/demo"), ("WICK_ADMIN_TOKEN", "t")],
    );
    let page = admin_page(&server).await;
    assert_eq!(
        page.contains("data-testid=\"admin-warning\""),
        !own_mount,
        "{page}"
    );
    if !own_mount {
        assert!(page.contains("mount a storage bucket at"), "{page}");
    }
    // Outside a Space, nothing to say.
    let plain = Server::start_with_env(&[&minilm_dir()], &[], &[("WICK_ADMIN_TOKEN", "t")]);
    let page = admin_page(&plain).await;
    assert!(!page.contains("admin-warning"), "{page}");
}

/// What a hostile client sends, input by input.
fn hostile_values(kind: &str) -> Vec<Value> {
    let numbers = vec![
        json!(1e-40),
        json!(1e308),
        json!(-1e308),
        json!(-1),
        json!(1.5),
        json!(null),
        json!("NaN"),
        json!(true),
    ];
    match kind {
        "image" => vec![
            json!(data_url(
                "image/svg+xml",
                b"<svg><script>alert(1)</script></svg>"
            )),
            json!(data_url("image/png", &png_rgba16(3000, 3000))),
            json!(data_url("image/png", &png_icc_bomb())),
            json!("data:image/png;base64,!!!!"),
            json!("not an image"),
            json!(null),
        ],
        "audio" => vec![
            json!(data_url("audio/wav", &wav(&[1000; 600], 0))),
            json!(data_url("audio/wav", &wav(&[1000; 600], 1))),
            json!(data_url("audio/wav", b"RIFF\xff\xff\xff\xffWAVEfmt ")),
            json!(null),
        ],
        "number" => numbers,
        _ => vec![json!(null), json!(3), json!(["a"]), json!({"a": 1})],
    }
}

/// Every model's every input, each given every hostile value through the
/// JSON API, the UI's server function, Gradio's call and V2 (media also as
/// multipart files), and the chat through OpenAI: never a 5xx, never a
/// panic's words, and the server serves as before afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_hostile_value_of_this_pass_gets_a_plain_answer_on_every_protocol() {
    let server = Server::start(
        &[&minilm_dir(), &lite0_dir(), &smollm2_dir(), &whisper_dir()],
        &["--max-flags-per-minute", "100000"],
    );
    let client = reqwest::Client::new();
    let models: Value = reqwest::get(server.url("/api/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut tried = 0;
    for model in models["models"].as_array().unwrap() {
        let name = model["name"].as_str().unwrap();
        for (index, endpoint) in model["endpoints"].as_array().unwrap().iter().enumerate() {
            let endpoint_name = endpoint["name"].as_str().unwrap();
            let inputs = endpoint["inputs"].as_array().unwrap();
            // A well-formed request to vary one input of at a time.
            let mut base = serde_json::Map::new();
            for field in inputs {
                let value = match field["kind"]["type"].as_str().unwrap() {
                    "text" => json!("hello"),
                    "chat" => json!([{"role": "user", "content": "hello"}]),
                    "image" => json!(data_url("image/png", &png(8, 8, false))),
                    "audio" => json!(data_url("audio/wav", &wav(&[0; 1600], 16_000))),
                    "tags" => json!(["a", "b"]),
                    _ => continue,
                };
                base.insert(field["name"].as_str().unwrap().to_string(), value);
            }
            if name == "smollm2" {
                base.insert("max_new_tokens".into(), json!(2));
            }
            for field in inputs {
                let field_name = field["name"].as_str().unwrap();
                let kind = match field["kind"]["type"].as_str().unwrap() {
                    "number" | "slider" => "number",
                    "image" => "image",
                    "audio" => "audio",
                    _ => "other",
                };
                for value in hostile_values(kind) {
                    let mut inputs = base.clone();
                    inputs.insert(field_name.to_string(), value.clone());
                    let what = format!(
                        "{name}/{endpoint_name} {field_name}={}",
                        &value.to_string()[..value.to_string().len().min(60)]
                    );
                    let api = server.url(&format!("/api/models/{name}/{endpoint_name}"));
                    let (status, body) = post_json(&client, api, json!({"inputs": inputs})).await;
                    assert!(
                        !status.is_server_error(),
                        "JSON API {what}: {status} {body}"
                    );
                    assert_no_panic_text(&what, &body.to_string());
                    let ui = client
                        .post(server.url("/_wick/predict_stream"))
                        .json(&json!({"model": name, "endpoint": endpoint_name, "inputs": inputs, "version": null}))
                        .send()
                        .await
                        .unwrap();
                    assert!(
                        !ui.status().is_server_error(),
                        "server fn {what}: {}",
                        ui.status()
                    );
                    assert_no_panic_text(&what, &ui.text().await.unwrap());
                    let positional: Vec<Value> = endpoint["inputs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| {
                            inputs
                                .get(f["name"].as_str().unwrap())
                                .cloned()
                                .unwrap_or(Value::Null)
                        })
                        .collect();
                    let api_name = if models["models"].as_array().unwrap().len() > 1 {
                        format!("{name}_{endpoint_name}")
                    } else {
                        endpoint_name.to_string()
                    };
                    let (status, started) = post_json(
                        &client,
                        server.url(&format!("/gradio_api/call/{api_name}")),
                        json!({ "data": positional }),
                    )
                    .await;
                    assert!(
                        !status.is_server_error(),
                        "gradio {what}: {status} {started}"
                    );
                    if let Some(event_id) = started["event_id"].as_str() {
                        let text = client
                            .get(server.url(&format!("/gradio_api/call/{api_name}/{event_id}")))
                            .send()
                            .await
                            .unwrap()
                            .text()
                            .await
                            .unwrap();
                        assert_no_panic_text(&what, &text);
                    }
                    if let (Some(url), "image" | "audio") = (value.as_str(), kind)
                        && let Some((mime, data)) = url
                            .strip_prefix("data:")
                            .and_then(|u| u.split_once(";base64,"))
                        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data)
                    {
                        let form = form_with(field_name, bytes.clone(), "file", mime);
                        let form = inputs.iter().filter(|(k, _)| *k != field_name).fold(
                            form,
                            |form, (k, v)| {
                                form.text(k.clone(), v.as_str().map_or(v.to_string(), String::from))
                            },
                        );
                        let multipart = client
                            .post(server.url(&format!("/api/models/{name}/{endpoint_name}")))
                            .multipart(form)
                            .send()
                            .await
                            .unwrap();
                        assert!(
                            !multipart.status().is_server_error(),
                            "multipart {what}: {}",
                            multipart.status()
                        );
                        assert_no_panic_text(&what, &multipart.text().await.unwrap());
                        if field_name == "image" {
                            let v2_model = if index == 0 {
                                name.to_string()
                            } else {
                                format!("{name}.{endpoint_name}")
                            };
                            let v2 = v2_binary(
                                &client,
                                server.url(&format!("/v2/models/{v2_model}/infer")),
                                &bytes,
                            )
                            .await;
                            assert!(!v2.status().is_server_error(), "V2 {what}: {}", v2.status());
                            assert_no_panic_text(&what, &v2.text().await.unwrap());
                        }
                    }
                    tried += 1;
                }
            }
        }
    }
    for (param, value) in [
        ("temperature", json!(1e-40)),
        ("top_p", json!(1e-300)),
        ("max_tokens", json!(-1)),
        ("max_tokens", json!(1.5)),
        ("seed", json!(-5)),
        ("stop", json!([1, 2])),
        ("logprobs", json!(true)),
        ("n", json!(3)),
    ] {
        let mut body = json!({"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2});
        body[param] = value.clone();
        let (status, answer) = post_json(&client, server.url("/v1/chat/completions"), body).await;
        assert!(
            !status.is_server_error(),
            "OpenAI {param}={value}: {status} {answer}"
        );
        assert_no_panic_text("OpenAI", &answer.to_string());
        tried += 1;
    }
    println!("{tried} hostile requests, each through every protocol it reaches");
    assert!(tried > 100, "{tried}");
    let (status, _) = post_json(
        &client,
        server.url("/api/models/minilm/embed"),
        json!({"inputs": {"text": "still serving"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// Decode-heavy images from 16 clients while 4 chat streams decode: the
/// decode budget holds memory, every stream finishes, probes stay fast.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decode_heavy_images_beside_chat_streams_keep_memory_and_probes_in_bounds() {
    let server = Server::start(
        &[&lite0_dir(), &smollm2_dir()],
        &["--decode-memory-mb", "512"],
    );
    let idle = server.rss_bytes();
    // 5000 × 5000 pixels of one colour: 90 KB over the wire, 75 MB to decode.
    let heavy = data_url("image/png", &png(5000, 5000, false));
    let until = Instant::now() + Duration::from_secs(20);
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (url, body) = (
            server.url("/api/models/efficientnet-lite0/classify"),
            json!({"inputs": {"image": heavy}}),
        );
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut statuses = Vec::new();
            while Instant::now() < until {
                let response = client.post(&url).json(&body).send().await.unwrap();
                statuses.push(response.status().as_u16());
                response.bytes().await.unwrap();
            }
            statuses
        }));
    }
    let mut chats = Vec::new();
    for i in 0..4 {
        let url = server.url("/api/models/smollm2/chat");
        chats.push(tokio::spawn(async move {
            let text = reqwest::Client::new()
                .post(url)
                .header("accept", "text/event-stream")
                .json(&json!({"inputs": {
                    "messages": [{"role": "user", "content": format!("Tell story number {i}.")}],
                    "max_new_tokens": 200, "temperature": 0.7, "seed": i
                }}))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            sse_events(&text).last().map(|(name, _)| name.clone())
        }));
    }
    let probe = reqwest::Client::new();
    let mut probes = Vec::new();
    let mut peak = 0;
    while Instant::now() < until {
        let started = Instant::now();
        let health = probe.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        probes.push(started.elapsed());
        peak = peak.max(server.rss_bytes());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut statuses = Vec::new();
    for client in clients {
        statuses.extend(client.await.unwrap());
    }
    for chat in chats {
        assert_eq!(
            chat.await.unwrap().as_deref(),
            Some("done"),
            "a chat stream did not finish"
        );
    }
    probes.sort();
    let p99 = probes[probes.len() * 99 / 100];
    let answered = statuses.iter().filter(|s| **s == 200).count();
    let busy = statuses.iter().filter(|s| **s == 429).count();
    println!(
        "idle {} MB, peak {} MB; {answered} images answered, {busy} told to retry; /healthz p99 {p99:?} over {} probes",
        idle >> 20,
        peak >> 20,
        probes.len()
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert!(answered > 0);
    assert!(
        peak < idle + (1 << 30),
        "peak RSS {} MB over idle {} MB",
        peak >> 20,
        idle >> 20
    );
    assert!(p99 < Duration::from_millis(50), "/healthz p99 {p99:?}");
}
