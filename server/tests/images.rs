//! The image classifier over HTTP: a real `wick serve` of the
//! EfficientNet-Lite0 example on 127.0.0.1, called with a data URL, with
//! `multipart/form-data` as `curl -F` sends it, and with a batch; every bad
//! image gets its status and a JSON error naming the field, and nothing
//! huge is ever decoded.

mod common;

use base64::Engine as _;
use common::{Server, bundle_folder, lite0_dir, zero_shot_fixtures};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(lite0_dir().join("examples").join(name)).unwrap()
}

fn data_url(mime: &str, bytes: &[u8]) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:{mime};base64,{payload}")
}

/// One part of a form: its name, file name, content type and bytes.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A multipart body, as curl -F makes it.
fn form(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = "wick-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, file, mime, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(file) = file {
            disposition.push_str(&format!("; filename=\"{file}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(mime) = mime {
            body.extend_from_slice(format!("Content-Type: {mime}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

struct Api {
    server: Server,
    client: reqwest::Client,
}

const CLASSIFY: &str = "/api/models/efficientnet-lite0/classify";

impl Api {
    fn start() -> Api {
        Api {
            server: Server::start(&[&lite0_dir()], &["--max-body-bytes", "2000000"]),
            client: reqwest::Client::new(),
        }
    }

    async fn post(&self, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        common::post(&self.client, self.server.url(CLASSIFY), content_type, body).await
    }

    async fn post_json(&self, body: Value) -> (StatusCode, Value) {
        self.post("application/json", body.to_string().into_bytes())
            .await
    }
}

fn best(outputs: &Value) -> &str {
    outputs["label"]["label"].as_str().unwrap_or_default()
}

fn assert_refused(status: StatusCode, body: &Value, expected: StatusCode, message: &str) {
    assert_eq!(status, expected, "{body}");
    let text = body["error"]["message"].as_str().unwrap_or_default();
    assert!(text.contains(message), "expected `{message}` in {body}");
}

#[tokio::test]
async fn a_photo_is_classified_from_a_data_url_a_form_and_in_a_batch() {
    let api = Api::start();
    let chelsea = photo("chelsea.png");
    let coffee = photo("coffee.png");

    let (status, body) = api
        .post_json(json!({"inputs": {"image": data_url("image/png", &chelsea)}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(best(&body["outputs"]), "tiger cat");
    let confidences = body["outputs"]["label"]["confidences"].as_array().unwrap();
    assert_eq!(confidences.len(), 5, "the top 5: {body}");

    // curl -F image=@coffee.png
    let (content_type, multipart) =
        form(&[("image", Some("coffee.png"), Some("image/png"), &coffee)]);
    let (status, body) = api.post(&content_type, multipart).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(best(&body["outputs"]), "espresso");

    // A file part sent as application/octet-stream is typed by its bytes.
    let (content_type, multipart) = form(&[
        (
            "image",
            Some("photo"),
            Some("application/octet-stream"),
            &chelsea,
        ),
        ("version", None, None, b"1.0.0"),
    ]);
    let (status, body) = api.post(&content_type, multipart).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(best(&body["outputs"]), "tiger cat");

    let (status, body) = api
        .post_json(json!({"inputs": [
            {"image": data_url("image/png", &coffee)},
            {"image": data_url("image/png", &chelsea)},
            {"image": data_url("image/png", &coffee)}
        ]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let labels: Vec<&str> = body["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(best)
        .collect();
    assert_eq!(labels, ["espresso", "tiger cat", "espresso"]);
}

#[tokio::test]
async fn bad_images_get_their_status_and_a_json_error_naming_the_field() {
    let api = Api::start();
    let coffee = photo("coffee.png");

    // A text file renamed .png, declared as an image.
    let (content_type, body) = form(&[(
        "image",
        Some("notes.png"),
        Some("image/png"),
        b"These are my notes, not a photo.",
    )]);
    let (status, body) = api.post(&content_type, body).await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "is not an image",
    );
    assert_eq!(body["error"]["field"], "image");

    // A truncated JPEG.
    let jpeg = {
        let image = image::RgbImage::from_fn(320, 240, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    };
    let (status, body) = api
        .post_json(json!({"inputs": {"image": data_url("image/jpeg", &jpeg[..jpeg.len() / 2])}}))
        .await;
    assert_refused(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "truncated");
    assert_eq!(body["error"]["field"], "image");

    // A PNG whose header claims 30,000 × 30,000 pixels (2.7 GB of RGB):
    // refused from the header, quickly, and the server stays small.
    let bomb = png_claiming(30_000, 30_000);
    let rss_before = api.server.rss_bytes();
    let started = std::time::Instant::now();
    let (status, body) = api
        .post_json(json!({"inputs": {"image": data_url("image/png", &bomb)}}))
        .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "30000 × 30000 pixels",
    );
    assert!(
        started.elapsed().as_millis() < 2000,
        "took {:?}",
        started.elapsed()
    );
    let grown = api.server.rss_bytes().saturating_sub(rss_before);
    assert!(grown < 100 << 20, "RSS grew by {grown} bytes");

    // Not an image at all, as a data URL of another type.
    let (status, body) = api
        .post_json(json!({"inputs": {"image": "data:text/plain;base64,aGVsbG8="}}))
        .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "expected an image",
    );

    // A body over --max-body-bytes, on a server that takes 100 KB.
    let small = Api {
        server: Server::start(&[&lite0_dir()], &["--max-body-bytes", "100000"]),
        client: reqwest::Client::new(),
    };
    let url = data_url("image/png", &coffee[..90_000]);
    let (status, body) = small.post_json(json!({"inputs": {"image": url}})).await;
    assert_refused(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "limit");

    // The server still classifies afterwards.
    let (status, body) = api
        .post_json(json!({"inputs": {"image": data_url("image/png", &coffee)}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn example_photos_are_served_but_no_other_bundle_file() {
    let api = Api::start();
    let get = |path: &str| api.client.get(api.server.url(path)).send();
    let response = get("/api/models/efficientnet-lite0/files/examples/chelsea.png")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &photo("chelsea.png")[..]
    );
    for path in [
        "/api/models/efficientnet-lite0/files/model.safetensors",
        "/api/models/efficientnet-lite0/files/examples%2F..%2Fwick.toml",
        "/api/models/nope/files/examples/chelsea.png",
    ] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (status, info) = {
        let response = get("/api/models/efficientnet-lite0").await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        info["examples"][0]["inputs"]["image"],
        "examples/chelsea.png"
    );
}

/// A valid 1 × 1 PNG whose header then claims `width` × `height`.
/// CLIP and SigLIP zero-shot: the labels scored as transformers'
/// pipeline scores them (the fixtures' `expected.json`), the raw
/// similarities, and bad requests refused naming their field.
#[tokio::test]
async fn zero_shot_models_score_labels_chosen_per_request() {
    let out = tempfile::tempdir().unwrap();
    let folders = zero_shot_fixtures();
    let clip = bundle_folder(&folders.join("clip"), "clip", out.path()).0;
    let siglip = bundle_folder(&folders.join("siglip"), "siglip", out.path()).0;
    let server = Server::start(&[&clip, &siglip], &[]);
    let client = reqwest::Client::new();
    let call = |model: &str, endpoint: &str, inputs: Value| {
        let url = server.url(&format!("/api/models/{model}/{endpoint}"));
        let body = json!({ "inputs": inputs }).to_string();
        let client = client.clone();
        async move { common::post(&client, url, "application/json", body).await }
    };
    let pattern = std::fs::read(folders.join("images/pattern.png")).unwrap();
    let image = data_url("image/png", &pattern);
    for model in ["clip", "siglip"] {
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(folders.join(model).join("expected.json")).unwrap(),
        )
        .unwrap();
        let labels = expected["labels"].clone();
        let (status, body) = call(
            model,
            "classify",
            json!({"image": image, "candidate_labels": labels}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let want = &expected["scores"]["pattern.png"];
        let confidences = body["outputs"]["label"]["confidences"].as_array().unwrap();
        assert_eq!(confidences.len(), 5, "{body}");
        for confidence in confidences {
            let label = confidence["label"].as_str().unwrap();
            let ours = confidence["confidence"].as_f64().unwrap();
            let theirs = want[label].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() <= 1e-4,
                "{model} {label}: {ours} vs {theirs}"
            );
        }

        let (status, body) = call(
            model,
            "similarity",
            json!({"image": image, "texts": ["a cat", "a dog"]}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rows = body["outputs"]["similarities"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{body}");
        assert_eq!(rows[1]["text"], "a dog");
        let similarity = rows[0]["similarity"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&similarity), "{body}");
    }

    let (status, body) = call(
        "clip",
        "classify",
        json!({"image": image, "candidate_labels": []}),
    )
    .await;
    assert_refused(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "");
    assert_eq!(body["error"]["field"], "candidate_labels", "{body}");
    let too_many: Vec<String> = (0..65).map(|i| format!("label {i}")).collect();
    let (status, body) = call(
        "clip",
        "classify",
        json!({"image": image, "candidate_labels": too_many}),
    )
    .await;
    assert_refused(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "");
    assert_eq!(body["error"]["field"], "candidate_labels", "{body}");
    let (status, body) = call(
        "siglip",
        "classify",
        json!({"image": data_url("image/png", b"not a png"), "candidate_labels": ["cat"]}),
    )
    .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not an image",
    );
    assert_eq!(body["error"]["field"], "image", "{body}");
}

/// `wick predict` takes a photo and labels for a zero-shot classifier, and
/// `wick bench` drives it: a photo with five candidate labels per input.
#[test]
fn wick_predict_and_bench_drive_a_zero_shot_classifier() {
    let out = tempfile::tempdir().unwrap();
    let folders = zero_shot_fixtures();
    let clip = bundle_folder(&folders.join("clip"), "clip", out.path()).0;
    let photo = folders.join("images/pattern.png");
    let answer = common::output_of(
        common::wick()
            .arg("predict")
            .arg(&clip)
            .args(["classify", "-i"])
            .arg(format!("image=@{}", photo.display()))
            .args(["-i", r#"candidate_labels=["cat", "dog"]"#]),
    );
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let confidences = answer["outputs"]["label"]["confidences"]
        .as_array()
        .unwrap();
    assert_eq!(confidences.len(), 2, "{answer}");

    let table = common::output_of(common::wick().arg("bench").arg(&clip).args([
        "--in-process",
        "--seconds",
        "0.1",
    ]));
    common::assert_images_table(&table);
}

fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(1, 1)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    let mut png = out.into_inner();
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
