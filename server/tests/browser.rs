//! The demo page in real headless Chromium (Debian's chromium and
//! chromium-driver, over WebDriver) against a real `wick serve` of MiniLM,
//! EfficientNet-Lite0 and SmolLM2 (the chat demo).
//! Screenshots of each state go to target/browser-screenshots/.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{
    Server, bundle_fixture, lite0_dir, metric, minilm_as, minilm_dir, smollm2_dir, whisper_dir,
};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROME_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
    // A synthetic camera, granted without asking, for the image widget.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
];

struct Browser {
    driver: Child,
    driver_url: String,
    client: Client,
    _profile: tempfile::TempDir,
    _turn: Turn,
}

/// Browsers run side by side, except one that records from the fake
/// microphone: on two busy cores Chromium's audio thread drops chunks of
/// the clip (the transcript lost its last words in two suite runs of
/// eleven), so that test waits for the others to finish and they for it.
static TURNS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

#[allow(dead_code)] // held, never read
enum Turn {
    Shared(tokio::sync::RwLockReadGuard<'static, ()>),
    Alone(tokio::sync::RwLockWriteGuard<'static, ()>),
}

impl Browser {
    async fn start() -> Browser {
        Browser::launch(&[], Turn::Shared(TURNS.read().await)).await
    }

    /// A browser with `extra` flags after the usual ones that runs while
    /// no other does.
    async fn start_alone(extra: &[String]) -> Browser {
        Browser::launch(extra, Turn::Alone(TURNS.write().await)).await
    }

    async fn launch(extra: &[String], turn: Turn) -> Browser {
        let port = common::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: apt-get install chromium chromium-driver (scripts/test does)");
        let driver_url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(format!("{driver_url}/status")).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = CHROME_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend(extra.iter().cloned());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            "goog:loggingPrefs": {"browser": "ALL"}
        });
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&driver_url)
            .await
            .expect("connect to chromedriver");
        Browser {
            driver,
            driver_url,
            client,
            _profile: profile,
            _turn: turn,
        }
    }

    async fn find(&self, testid: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(&format!("[data-testid='{testid}']")))
            .await
            .unwrap_or_else(|e| panic!("no element data-testid={testid}: {e}"))
    }

    /// Waits until `check` returns Some, re-running it every 100 ms.
    async fn until<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if started.elapsed() > Duration::from_secs(30) {
                self.screenshot("timeout").await;
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }

    /// Fails with the console's errors, if it has any.
    async fn assert_no_console_errors(&self) {
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "the browser's console: {errors:#?}");
    }

    /// Severe messages of the browser console (errors), read through
    /// chromedriver's log endpoint.
    async fn console_errors(&self) -> Vec<String> {
        let session = self.client.session_id().await.unwrap().unwrap();
        let logs: Value = reqwest::Client::new()
            .post(format!("{}/session/{session}/se/log", self.driver_url))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        logs["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    async fn predict_requests(&self) -> u64 {
        let count = self
            .client
            .execute(
                "return performance.getEntriesByType('resource').filter(e => e.name.includes('/_wick/predict')).length",
                vec![],
            )
            .await
            .unwrap();
        count.as_u64().unwrap()
    }

    async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        // Proof of hydration: only the WASM app sets this attribute.
        self.until("hydration", || async {
            let marker = self.find("hydrated").await;
            (marker.attr("data-hydrated").await.ok()?? == "true").then_some(())
        })
        .await;
    }

    /// Fetches `url` in the page and hands it to the image widget as the
    /// file `name` through a `drop` or `paste` event, as a person's drag or
    /// Ctrl+V would.
    async fn deliver(&self, url: &str, name: &str, event: &str) {
        let script = format!(
            r#"const done = arguments[arguments.length - 1];
               fetch('{url}')
                 .then(r => r.blob())
                 .then(blob => {{
                   const data = new DataTransfer();
                   data.items.add(new File([blob], '{name}', {{type: blob.type}}));
                   const zone = document.querySelector("[data-testid='drop-input-image']");
                   const init = {{dataTransfer: data, clipboardData: data, bubbles: true, cancelable: true}};
                   zone.dispatchEvent('{event}' === 'drop' ? new DragEvent('drop', init) : new ClipboardEvent('paste', init));
                   done(true);
                 }});"#
        );
        self.client.execute_async(&script, vec![]).await.unwrap();
    }

    /// Waits until the image widget's preview names `file`.
    async fn until_preview_of(&self, file: &str) {
        self.until(&format!("the preview of {file}"), || async {
            let caption = self.text(".media-caption").await?;
            caption.contains(file).then_some(())
        })
        .await;
    }

    async fn type_into(&self, testid: &str, text: &str) {
        let input = self.find(testid).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test]
async fn a_person_uses_the_demo_in_a_real_browser() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let server = Server::start_with_env(
        &[&minilm_dir()],
        &["--data-dir", data_dir],
        &[("WICK_ADMIN_TOKEN", "browser-token")],
    );
    let browser = Browser::start().await;

    // embed: type, submit, an embedding view appears.
    browser.open(&server.url("/m/minilm/embed")).await;
    browser.screenshot("1-embed-empty").await;
    browser
        .type_into("input-text", "The cat sits outside")
        .await;
    browser.find("submit").await.click().await.unwrap();
    let dim = browser
        .until("the embedding view", || {
            browser.text("[data-testid='embedding-dim']")
        })
        .await;
    assert_eq!(dim, "384");
    let meta = browser.find("result-meta").await.text().await.unwrap();
    assert!(meta.contains("1.0.0") && meta.contains("ms"), "{meta}");
    browser.screenshot("2-embed-result").await;

    // An empty required input: inline error, and no request is sent.
    browser.find("clear").await.click().await.unwrap();
    let before = browser.predict_requests().await;
    browser.find("submit").await.click().await.unwrap();
    let error = browser.find("error").await.text().await.unwrap();
    assert!(error.contains("required"), "{error}");
    assert_eq!(
        browser.predict_requests().await,
        before,
        "a request was sent for an empty input"
    );
    browser.screenshot("3-embed-required-error").await;

    // similarity, reached through its tab (client-side navigation).
    browser
        .client
        .find(Locator::Css("a.tab[href='/m/minilm/similarity']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.type_into("input-a", "A man is eating food.").await;
    browser
        .type_into("input-b", "A man is eating a piece of bread.")
        .await;
    browser.find("submit").await.click().await.unwrap();
    let score = browser
        .until("the similarity score", || async {
            browser
                .text("[data-testid='output-score'] .score")
                .await?
                .parse::<f64>()
                .ok()
        })
        .await;
    assert!((score - 0.755).abs() <= 0.001, "similarity shows {score}");
    browser.screenshot("4-similarity").await;

    // classify: bars best first; Ctrl+Enter submits.
    browser.open(&server.url("/m/minilm/classify")).await;
    browser
        .type_into("input-text", "The new movie is awesome")
        .await;
    browser
        .type_into("input-labels", "negative, positive, neutral")
        .await;
    browser
        .find("input-text")
        .await
        .send_keys("\u{E009}\u{E007}")
        .await
        .unwrap(); // Ctrl+Enter
    let confidences = browser
        .until("the label bars", || async {
            let bars = browser
                .client
                .find_all(Locator::Css("[data-testid='output-label'] .bar"))
                .await
                .ok()?;
            let mut values = Vec::new();
            for bar in bars {
                values.push(
                    bar.attr("data-confidence")
                        .await
                        .ok()??
                        .parse::<f64>()
                        .ok()?,
                );
            }
            (values.len() == 3).then_some(values)
        })
        .await;
    assert!(
        confidences.windows(2).all(|w| w[0] >= w[1]),
        "{confidences:?}"
    );
    let best = browser
        .text("[data-testid='output-label'] .best-label")
        .await
        .unwrap();
    assert_eq!(best, "positive");
    browser.screenshot("5-classify").await;

    // Flag the result with a comment: "saved" appears only once stored.
    browser.type_into("flag-comment", "Should be neutral").await;
    browser.find("flag-Incorrect").await.click().await.unwrap();
    let status = browser
        .until("the flag to be saved", || async {
            let text = browser.text("[data-testid='flag-status']").await?;
            text.contains("saved").then_some(text)
        })
        .await;
    assert!(status.contains("Incorrect"), "{status}");
    browser.screenshot("6-classify-flagged").await;

    // An example fills the inputs and runs.
    browser.find("clear").await.click().await.unwrap();
    browser.find("example-1").await.click().await.unwrap();
    let filled = browser
        .find("input-text")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        filled,
        "My package arrived broken and support never answered."
    );
    let labels = browser
        .find("input-labels")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(labels, "shipping, billing, customer service, praise");
    let best = browser
        .until("the example's result", || {
            browser.text("[data-testid='output-label'] .best-label")
        })
        .await;
    assert!(
        ["shipping", "billing", "customer service", "praise"].contains(&best.as_str()),
        "{best}"
    );
    browser.screenshot("7-classify-example").await;

    // The API page and the theme toggle.
    browser.open(&server.url("/m/minilm/api")).await;
    browser.find("snippet-embed-curl").await;
    browser.find("theme").await.click().await.unwrap();
    browser.screenshot("8-api-page-other-theme").await;
    // Its MCP tab, reached by the hydrated page's own navigation.
    browser.find("mcp-tab").await.click().await.unwrap();
    let config = browser
        .until("the MCP tab", || browser.text("[data-testid='mcp-config']"))
        .await;
    assert!(config.contains(&server.url("/gradio_api/mcp/")), "{config}");
    browser.screenshot("8-api-page-mcp-tab").await;

    // The flag is in the export, tied to what ran, and on the review page.
    let export = common::output_of(common::wick().args([
        "feedback",
        "export",
        "--format",
        "jsonl",
        "--data-dir",
        data_dir,
    ]));
    let flagged: Value = export
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|row| row["comment"] == "Should be neutral")
        .expect("the flag is in the export");
    assert_eq!(flagged["option"], "Incorrect");
    assert_eq!(flagged["endpoint"], "classify");
    assert_eq!(flagged["inputs"]["text"], "The new movie is awesome");
    assert_eq!(flagged["outputs"]["label"]["label"], "positive");
    browser
        .client
        .goto(&server.url("/admin/feedback"))
        .await
        .unwrap();
    browser.type_into("admin-token", "browser-token").await;
    browser.find("admin-login").await.click().await.unwrap();
    let rows = browser
        .until("the review page", || {
            browser.text("[data-testid='admin-rows']")
        })
        .await;
    assert!(rows.contains("Should be neutral"), "{rows}");
    browser.screenshot("9-admin-feedback").await;

    // The sign-in page is answered with 401 by design; Chromium logs that.
    let errors: Vec<String> = browser
        .console_errors()
        .await
        .into_iter()
        .filter(|e| !e.contains("/admin/feedback - Failed to load resource: the server responded with a status of 401"))
        .collect();
    assert!(errors.is_empty(), "browser console errors: {errors:#?}");
    browser.client.clone().close().await.unwrap();
}

/// Two versions loaded (the second with no traffic): the answer names
/// the version, and a reviewer's pick pins the next requests to it.
#[tokio::test]
async fn a_reviewer_picks_a_version_in_a_real_browser() {
    let temp = tempfile::tempdir().unwrap();
    let candidate = minilm_as("1.1.0", temp.path(), |t| t);
    let server = Server::start(&[&minilm_dir(), &candidate], &[]);
    let browser = Browser::start().await;
    browser.open(&server.url("/m/minilm/embed")).await;
    browser
        .type_into("input-text", "Which version answers?")
        .await;
    let answered_by = || async {
        browser.find("submit").await.click().await.unwrap();
        browser
            .until("an answer", || async {
                browser
                    .text("[data-testid='result-meta']")
                    .await
                    .filter(|meta| meta.contains(" ms"))
            })
            .await
    };
    let meta = answered_by().await;
    assert!(meta.contains("minilm 1.0.0"), "{meta}");
    browser
        .find("version")
        .await
        .select_by_value("1.1.0")
        .await
        .unwrap();
    browser.find("clear").await.click().await.unwrap();
    browser
        .type_into("input-text", "Which version answers now?")
        .await;
    let meta = answered_by().await;
    assert!(meta.contains("minilm 1.1.0"), "{meta}");
    browser.screenshot("version-picked").await;
    browser.assert_no_console_errors().await;
}

fn speech_clip(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/speech")
        .join(name)
        .canonicalize()
        .unwrap()
}

impl Browser {
    /// Waits for a transcript that contains `words`.
    async fn until_transcript(&self, words: &str) -> String {
        self.until("the transcript", || async {
            let text = self.text("[data-testid='output-text'] pre.text").await?;
            (text.contains(words) && self.text("[data-testid='result-meta']").await.is_some())
                .then_some(text)
        })
        .await
    }

    /// The segments table's rows: each row's start (seconds) and text.
    async fn segment_rows(&self) -> Vec<(f64, String)> {
        let rows = self
            .client
            .find_all(Locator::Css(
                "[data-testid='output-segments'] table.segments tbody tr",
            ))
            .await
            .unwrap();
        let mut segments = Vec::new();
        for row in rows {
            let start = row.attr("data-start").await.unwrap().unwrap();
            segments.push((start.parse().unwrap(), row.text().await.unwrap()));
        }
        segments
    }

    /// Where the audio input's player is, in seconds.
    async fn player_time(&self) -> f64 {
        let time = self
            .client
            .execute(
                "return document.querySelector('form.inputs audio').currentTime",
                vec![],
            )
            .await
            .unwrap();
        time.as_f64().unwrap()
    }
}

#[tokio::test]
async fn a_person_transcribes_audio_files_in_a_real_browser() {
    let server = Server::start(&[&whisper_dir()], &[]);
    let browser = Browser::start().await;
    browser
        .open(&server.url("/m/whisper-tiny-en/transcribe"))
        .await;
    let clip = speech_clip("speech-16k-mono.wav");
    browser
        .find("input-audio")
        .await
        .send_keys(clip.to_str().unwrap())
        .await
        .unwrap();
    browser.until_preview_of("speech-16k-mono.wav").await;
    // The clip can be heard before it is sent.
    assert!(browser.player_time().await == 0.0);
    browser.find("submit").await.click().await.unwrap();
    let transcript = browser.until_transcript("sea shore").await;
    assert!(transcript.starts_with("The quick"), "{transcript}");
    browser.screenshot("speech-1-transcript").await;

    // The segments table: a row plays the clip from its start.
    let segments = browser.segment_rows().await;
    assert!(segments.len() >= 2, "{segments:?}");
    assert!(
        segments.iter().any(|(_, text)| text.contains("sea shore")),
        "{segments:?}"
    );
    let (start, _) = segments.last().unwrap().clone();
    assert!(start > 0.5, "{segments:?}");
    browser
        .client
        .find_all(Locator::Css("table.segments tbody tr"))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .click()
        .await
        .unwrap();
    let time = browser
        .until("the player to seek", || async {
            let time = browser.player_time().await;
            (time >= start - 0.01).then_some(time)
        })
        .await;
    assert!(
        time < start + 2.0,
        "seeked to {time}, the segment starts at {start}"
    );

    // A 37 s clip: two 30-second windows, the first shown before the
    // second is decoded (the outputs stream into the page).
    browser
        .find("remove-input-audio")
        .await
        .click()
        .await
        .unwrap();
    browser
        .find("input-audio")
        .await
        .send_keys(speech_clip("story-48k.mp3").to_str().unwrap())
        .await
        .unwrap();
    browser.until_preview_of("story-48k.mp3").await;
    browser.find("submit").await.click().await.unwrap();
    let partial = browser
        .until("the first window's transcript", || async {
            let text = browser.text("[data-testid='output-text'] pre.text").await?;
            let finished = browser.text("[data-testid='result-meta']").await.is_some();
            (!text.is_empty() && text != "—").then_some((text, finished))
        })
        .await;
    assert!(
        !partial.1,
        "the transcript showed only once finished: {}",
        partial.0
    );
    let whole = browser.until_transcript("bridge").await;
    assert!(whole.starts_with(&partial.0), "{} / {whole}", partial.0);
    assert!(whole.len() > partial.0.len(), "{whole}");
    let last = browser.segment_rows().await.last().unwrap().0;
    assert!(last > 30.0, "the second window's segments: {last}");
    browser.assert_no_console_errors().await;
}

#[tokio::test]
async fn a_person_records_from_the_microphone_in_a_real_browser() {
    // Chromium's fake microphone plays the clip once, then silence.
    let clip = speech_clip("speech-16k-mono.wav");
    let fake = format!(
        "--use-file-for-fake-audio-capture={}%noloop",
        clip.display()
    );
    let server = Server::start(&[&whisper_dir()], &[]);
    let browser = Browser::start_alone(&[fake]).await;
    browser
        .open(&server.url("/m/whisper-tiny-en/transcribe"))
        .await;
    browser
        .find("record-input-audio")
        .await
        .click()
        .await
        .unwrap();
    browser.find("recorder-input-audio").await;
    // The timer runs and the meter moves while the clip plays.
    let loudest = std::cell::Cell::new(0.0f64);
    browser
        .until("6.5 s of recording", || async {
            let level = browser
                .client
                .execute("return document.querySelector('meter.level').value", vec![])
                .await
                .ok()?
                .as_f64()?;
            loudest.set(loudest.get().max(level));
            let timer = browser.text("[data-testid='record-timer']").await?;
            let (minutes, seconds) = timer.split_once(':')?;
            let elapsed = minutes.parse::<f64>().ok()? * 60.0 + seconds.parse::<f64>().ok()?;
            (elapsed >= 6.5).then_some(())
        })
        .await;
    assert!(
        loudest.get() > 0.2,
        "the level meter stayed at {}",
        loudest.get()
    );
    browser.screenshot("speech-2-recording").await;
    browser
        .find("stop-input-audio")
        .await
        .click()
        .await
        .unwrap();
    browser.until_preview_of("recording.wav").await;
    let sent = browser
        .client
        .execute(
            "return document.querySelector('form.inputs audio').src.slice(0, 22)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(sent, "data:audio/wav;base64,");
    browser.find("submit").await.click().await.unwrap();
    let transcript = browser.until_transcript("brown fox").await;
    assert!(transcript.contains("sea"), "{transcript}");
    browser.screenshot("speech-3-recorded").await;
    browser.assert_no_console_errors().await;
}

#[tokio::test]
async fn a_person_classifies_photos_in_a_real_browser() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let server = Server::start(&[&lite0_dir()], &["--data-dir", data_dir]);
    let browser = Browser::start().await;
    let best = || browser.text("[data-testid='output-label'] .best-label");
    browser
        .open(&server.url("/m/efficientnet-lite0/classify"))
        .await;
    browser.screenshot("img-1-empty").await;

    // A real photo through the file input: a preview, then the top label.
    // Chromedriver takes only canonical paths for file inputs.
    let chelsea = browser
        .choose_file("input-image", &lite0_dir().join("examples/chelsea.png"))
        .await;
    browser.find("submit").await.click().await.unwrap();
    let label = browser.until("the label of the chosen photo", best).await;
    assert_eq!(label, "tiger cat");
    browser.screenshot("img-2-chosen-photo").await;

    // Flag it: the photo is kept with the flag.
    browser.find("flag-Incorrect").await.click().await.unwrap();
    browser
        .until("the flag to be saved", || async {
            let text = browser.text("[data-testid='flag-status']").await?;
            text.contains("saved").then_some(())
        })
        .await;

    // Another photo, dropped on the widget as a person drags a file.
    browser.find("clear").await.click().await.unwrap();
    let files = "/api/models/efficientnet-lite0/files/examples";
    browser
        .deliver(&format!("{files}/coffee.png"), "coffee.png", "drop")
        .await;
    browser.until_preview_of("coffee.png").await;
    browser.find("submit").await.click().await.unwrap();
    let label = browser
        .until("the label of the dropped photo", || async {
            best().await.filter(|label| label == "espresso")
        })
        .await;
    assert_eq!(label, "espresso");
    browser.screenshot("img-3-dropped-photo").await;

    // A photo pasted from the clipboard onto the widget.
    browser.find("clear").await.click().await.unwrap();
    browser
        .deliver(&format!("{files}/chelsea.png"), "pasted.png", "paste")
        .await;
    browser.until_preview_of("pasted.png").await;

    // A photo from the (synthetic) camera: open it, take the photo, run.
    browser.find("clear").await.click().await.unwrap();
    browser
        .find("camera-input-image")
        .await
        .click()
        .await
        .unwrap();
    let capture = browser.find("capture-input-image").await;
    // Wait until the video plays, so the frame is not empty.
    browser
        .until("the camera's video", || async {
            let playing = browser
                .client
                .execute(
                    "return document.querySelector('.camera-view video')?.videoWidth || 0",
                    vec![],
                )
                .await
                .ok()?;
            (playing.as_u64()? > 0).then_some(())
        })
        .await;
    capture.click().await.unwrap();
    browser.until_preview_of("camera.png").await;
    browser.screenshot("img-4a-camera-photo").await;
    browser.find("submit").await.click().await.unwrap();
    browser
        .until("a label for the camera photo", || async {
            let meta = browser.text("[data-testid='result-meta']").await?;
            meta.contains("ms").then_some(())
        })
        .await;

    // An example's thumbnail: a click fetches the photo, fills and runs.
    browser.find("clear").await.click().await.unwrap();
    let thumbnail = browser
        .client
        .find(Locator::Css("[data-testid='example-0'] img.thumb"))
        .await
        .unwrap();
    assert!(
        thumbnail
            .attr("src")
            .await
            .unwrap()
            .unwrap()
            .ends_with("/files/examples/chelsea.png")
    );
    browser.find("example-0").await.click().await.unwrap();
    let label = browser
        .until("the example's label", || async {
            best().await.filter(|label| label == "tiger cat")
        })
        .await;
    assert_eq!(label, "tiger cat");
    browser.screenshot("img-4-example").await;

    // A text file renamed .png: the server's refusal, shown inline.
    browser.find("clear").await.click().await.unwrap();
    let notes = data.path().canonicalize().unwrap().join("notes.png");
    std::fs::write(&notes, "These are my notes, not a photo.").unwrap();
    browser.choose_file("input-image", &notes).await;
    browser.find("submit").await.click().await.unwrap();
    let error = browser
        .until("the inline error", || browser.text("[data-testid='error']"))
        .await;
    assert!(error.contains("is not an image"), "{error}");
    browser.screenshot("img-5-not-an-image").await;

    // The flagged photo is exported beside the CSV, where its cell points.
    let out = data.path().join("export");
    std::fs::create_dir_all(&out).unwrap();
    let csv_path = out.join("flags.csv");
    common::output_of(common::wick().args([
        "feedback",
        "export",
        "--data-dir",
        data_dir,
        "-o",
        csv_path.to_str().unwrap(),
    ]));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let cell = csv
        .lines()
        .nth(1)
        .and_then(|row| row.split(',').next())
        .unwrap()
        .to_string();
    assert!(
        cell.starts_with("files/") && cell.ends_with(".png"),
        "{csv}"
    );
    let kept = std::fs::read(out.join(&cell)).unwrap();
    assert_eq!(
        kept,
        std::fs::read(&chelsea).unwrap(),
        "the flagged photo, byte for byte"
    );

    // Only the deliberate 422 of the renamed file reaches the console.
    let errors: Vec<String> = browser
        .console_errors()
        .await
        .into_iter()
        .filter(|e| !e.contains("status of 422"))
        .collect();
    assert!(errors.is_empty(), "browser console errors: {errors:#?}");
    browser.client.clone().close().await.unwrap();
}

impl Browser {
    /// Chooses `file` in file input `testid`, as a person picking it does,
    /// and waits for its preview; the canonical path (the only kind
    /// chromedriver takes) is returned.
    async fn choose_file(&self, testid: &str, file: &std::path::Path) -> PathBuf {
        let file = file.canonicalize().unwrap();
        self.find(testid)
            .await
            .send_keys(file.to_str().unwrap())
            .await
            .unwrap();
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        self.until_preview_of(&name).await;
        file
    }

    /// Sets a slider input (a range) to `value` as a person dragging it would.
    async fn slide(&self, testid: &str, value: &str) {
        let script = format!(
            "const s = document.querySelector(\"[data-testid='{testid}']\");
             s.value = '{value}'; s.dispatchEvent(new Event('input', {{bubbles: true}}));"
        );
        self.client.execute(&script, vec![]).await.unwrap();
    }
}

/// The labels of output `field`'s bars, best first.
async fn bar_labels(browser: &Browser, field: &str) -> Option<Vec<String>> {
    let bars = browser
        .client
        .find_all(Locator::Css(&format!(
            "[data-testid='output-{field}'] .bar"
        )))
        .await
        .ok()?;
    let mut labels = Vec::new();
    for bar in bars {
        labels.push(bar.attr("data-label").await.ok()??);
    }
    (!labels.is_empty()).then_some(labels)
}

#[tokio::test]
async fn a_person_classifies_reranks_and_tags_texts_in_a_real_browser() {
    let out = tempfile::tempdir().unwrap();
    let classifier = bundle_fixture("bert-classifier", out.path()).0;
    let reranker = bundle_fixture("xlm-roberta-reranker", out.path()).0;
    let tagger = bundle_fixture("bert-ner", out.path()).0;
    let server = Server::start(&[&classifier, &reranker, &tagger], &[]);
    let browser = Browser::start().await;
    let api = |model: &str, endpoint: &str, inputs: Value| {
        let url = server.url(&format!("/api/models/{model}/{endpoint}"));
        async move {
            let body: Value = reqwest::Client::new()
                .post(url)
                .json(&json!({ "inputs": inputs }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["outputs"].clone()
        }
    };

    // A classifier: every label as a bar, best first, as the API ranks them.
    let text = "I loved this film: the story, the music, every minute of it.";
    browser
        .open(&server.url("/m/bert-classifier/classify"))
        .await;
    browser.type_into("input-text", text).await;
    browser.find("submit").await.click().await.unwrap();
    let shown = browser
        .until("the label bars", || bar_labels(&browser, "label"))
        .await;
    let answer = api("bert-classifier", "classify", json!({ "text": text })).await;
    let want: Vec<String> = answer["label"]["confidences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown, want);
    assert_eq!(shown.len(), 3);
    browser.screenshot("text-1-classified").await;

    // A reranker: documents typed as tags, shown best first.
    browser
        .open(&server.url("/m/xlm-roberta-reranker/rerank"))
        .await;
    let documents = [
        "Berlin is well known for its museums",
        "New York City is famous for the Metropolitan Museum of Art",
        "Berlin has 3.5 million registered inhabitants",
    ];
    browser
        .type_into("input-query", "How many people live in Berlin?")
        .await;
    browser
        .type_into("input-documents", &documents.join(", "))
        .await;
    browser.find("submit").await.click().await.unwrap();
    let shown = browser
        .until("the ranking", || bar_labels(&browser, "ranking"))
        .await;
    let answer = api(
        "xlm-roberta-reranker",
        "rerank",
        json!({"query": "How many people live in Berlin?", "documents": documents}),
    )
    .await;
    let want: Vec<String> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| documents[r["index"].as_u64().unwrap() as usize].to_string())
        .collect();
    assert_eq!(shown, want);
    browser.screenshot("text-2-reranked").await;

    // A tagger: the text with its entities marked, as the API finds them.
    let text = "Marie Curie worked in Paris with Pierre Curie.";
    browser.open(&server.url("/m/bert-ner/entities")).await;
    browser.type_into("input-text", text).await;
    browser.find("submit").await.click().await.unwrap();
    let marks = browser
        .until("the marked entities", || async {
            let marks = browser
                .client
                .find_all(Locator::Css("[data-testid='output-entities'] mark.entity"))
                .await
                .ok()?;
            let mut shown = Vec::new();
            for mark in marks {
                shown.push(mark.attr("data-entity").await.ok()??);
            }
            (!shown.is_empty()).then_some(shown)
        })
        .await;
    let answer = api("bert-ner", "entities", json!({ "text": text })).await;
    let want: Vec<String> = answer["entities"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity_group"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(marks, want);
    let shown = browser.find("output-entities").await.text().await.unwrap();
    assert!(
        shown.contains("worked") && shown.contains(&want[0]),
        "{shown}"
    );
    browser.screenshot("text-3-entities").await;
    browser.assert_no_console_errors().await;
}

/// CLIP zero-shot: a photo uploaded, labels typed as tags, the labels
/// shown best first as the API scores that photo.
#[tokio::test]
async fn a_person_scores_a_photo_against_labels_of_their_own_in_a_real_browser() {
    let out = tempfile::tempdir().unwrap();
    let clip = common::bundle_folder(
        &common::zero_shot_fixtures().join("clip"),
        "clip",
        out.path(),
    )
    .0;
    let server = Server::start(&[&clip], &[]);
    let browser = Browser::start().await;
    browser.open(&server.url("/m/clip/classify")).await;
    let chelsea = browser
        .choose_file("input-image", &lite0_dir().join("examples/chelsea.png"))
        .await;
    let labels = ["cat", "dog", "red car", "sunset over the sea"];
    browser
        .type_into("input-candidate_labels", &labels.join(", "))
        .await;
    browser.find("submit").await.click().await.unwrap();
    let shown = browser
        .until("the scored labels", || bar_labels(&browser, "label"))
        .await;
    browser.screenshot("zero-shot-1-scored").await;

    let photo = std::fs::read(&chelsea).unwrap();
    let image = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&photo)
    );
    let answer: Value = reqwest::Client::new()
        .post(server.url("/api/models/clip/classify"))
        .json(&json!({"inputs": {"image": image, "candidate_labels": labels}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let want: Vec<String> = answer["outputs"]["label"]["confidences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown, want);
    assert_eq!(shown.len(), labels.len());
    browser.assert_no_console_errors().await;
}

#[tokio::test]
async fn a_person_chats_in_a_real_browser() {
    let server = Server::start(&[&smollm2_dir()], &[]);
    let browser = Browser::start().await;
    browser.open(&server.url("/m/smollm2/chat")).await;
    browser.screenshot("chat-1-empty").await;
    // A long answer: up to 1,024 new tokens (the slider's maximum).
    browser.slide("input-max_new_tokens", "1024").await;
    browser
        .type_into(
            "chat-message",
            "Tell me a very long story about a lighthouse keeper and the sea.",
        )
        .await;
    browser.find("submit").await.click().await.unwrap();

    // The reply grows in place: two renders while it is still streaming,
    // the second extending the first.
    let first = browser
        .until("the reply's first words", || async {
            let text = browser.text("[data-testid='reply']").await?;
            (!text.is_empty()).then_some(text)
        })
        .await;
    let second = browser
        .until("a longer reply", || async {
            let text = browser.text("[data-testid='reply']").await?;
            (text.len() > first.len()).then_some(text)
        })
        .await;
    assert!(
        second.starts_with(first.trim_end()),
        "{first:?} then {second:?}"
    );
    browser.screenshot("chat-2-streaming").await;

    // Stop: decoding ends on the server, not only in the page.
    browser.find("stop").await.click().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let generated = metric(&server, "wick_generated_tokens_total{").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        metric(&server, "wick_generated_tokens_total{").await,
        generated,
        "the server kept decoding after Stop"
    );
    assert!(
        generated < 1024.0,
        "the whole reply was generated before Stop"
    );
    let cancelled = r#"wick_requests_total{model="smollm2",version="1.0.0",endpoint="chat",outcome="cancelled"}"#;
    assert_eq!(metric(&server, cancelled).await, 1.0);
    // What came before Stop stays as the assistant's message.
    let kept = browser
        .find("message-assistant")
        .await
        .text()
        .await
        .unwrap();
    assert!(kept.starts_with(second.trim_end()), "{kept:?}");
    browser.screenshot("chat-3-stopped").await;

    // Undo takes the exchange back and returns the question to the box.
    browser.find("undo").await.click().await.unwrap();
    let draft = browser
        .find("chat-message")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(draft.starts_with("Tell me a very long story"), "{draft}");
    assert!(browser.text("[data-testid='message-user']").await.is_none());

    // A starter prompt runs to its end: the reply and its timings.
    browser.slide("input-max_new_tokens", "24").await;
    browser.find("clear").await.click().await.unwrap();
    browser.find("example-0").await.click().await.unwrap();
    let stats = browser
        .until("the reply's timings", || {
            browser.text("[data-testid='chat-stats']")
        })
        .await;
    assert!(
        stats.contains("first token") && stats.contains("tokens/s"),
        "{stats}"
    );
    let user = browser.find("message-user").await.text().await.unwrap();
    assert_eq!(user, "What is the capital of France?");
    assert!(
        !browser
            .find("message-assistant")
            .await
            .text()
            .await
            .unwrap()
            .is_empty()
    );

    // Retry samples the last reply again: still one exchange.
    browser.find("retry").await.click().await.unwrap();
    browser
        .until("the retried reply", || {
            browser.text("[data-testid='chat-stats']")
        })
        .await;
    let replies = browser
        .client
        .find_all(Locator::Css("[data-testid='message-assistant']"))
        .await
        .unwrap();
    assert_eq!(replies.len(), 1);

    // The whole conversation can be flagged.
    browser.find("flag-Incorrect").await.click().await.unwrap();
    browser
        .until("the flag to be saved", || async {
            let text = browser.text("[data-testid='flag-status']").await?;
            text.contains("saved").then_some(())
        })
        .await;
    browser.screenshot("chat-4-flagged").await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "browser console errors: {errors:#?}");
    browser.client.clone().close().await.unwrap();
}

/// A first visit in a fresh profile moves the page, the compressed WASM,
/// its JS glue and the CSS, and little else: the bytes over the wire are
/// Chromium's own count (`transferSize` of the navigation and of every
/// resource, headers included), after the page hydrated.
#[tokio::test]
async fn a_first_visit_moves_the_compressed_site_only() {
    let server = Server::start(&[&minilm_dir()], &[]);
    let browser = Browser::start().await;
    browser.open(&server.url("/m/minilm/embed")).await;
    let entries = browser
        .client
        .execute(
            "return performance.getEntriesByType('navigation')
               .concat(performance.getEntriesByType('resource'))
               .map(e => [e.name, e.transferSize, e.encodedBodySize, e.decodedBodySize])",
            vec![],
        )
        .await
        .unwrap();
    let entries: Vec<(String, u64, u64, u64)> = serde_json::from_value(entries).unwrap();
    let mut total = 0;
    let mut wasm = None;
    for (name, transferred, encoded, decoded) in &entries {
        println!("{name}: {transferred} B over the wire ({encoded} B body, {decoded} B decoded)");
        total += transferred;
        if name.ends_with(".wasm") {
            wasm = Some((name.clone(), *encoded, *decoded));
        }
    }
    let (wasm_name, wasm_encoded, wasm_decoded) = wasm.expect("the WASM was loaded");
    println!("first visit: {total} B over the wire in all");
    assert!(wasm_encoded < wasm_decoded / 2, "the WASM came compressed");
    assert!(total <= 450 * 1024, "{total} B over the wire");

    // A text demo hydrates with the light build, at most 400 KB gzipped.
    assert!(
        wasm_name.ends_with("/pkg/wick_light_bg.wasm"),
        "{wasm_name}"
    );
    let gzipped = reqwest::Client::new()
        .get(&wasm_name)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let gzipped = gzipped.bytes().await.unwrap().len();
    println!("the light WASM: {gzipped} B gzipped");
    assert!(gzipped <= 400 * 1024, "{gzipped} B of gzipped WASM");

    // A client that takes no compression gets the plain WASM, unpacked
    // from the gzip copy (the only form the site keeps it in besides brotli).
    let plain = reqwest::Client::new()
        .get(&wasm_name)
        .header("accept-encoding", "identity")
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    assert_eq!(plain.len() as u64, wasm_decoded);
    assert_eq!(&plain[..4], b"\0asm");
}

/// The WASM files a page loaded, by name.
async fn loaded_wasm(browser: &Browser) -> Vec<String> {
    let names = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.endsWith('.wasm'))",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(names).unwrap()
}

/// A text demo comes with the light build; following its tab to a photo
/// demo, whose widgets only the full build has, loads that page afresh
/// with the full build, and the way back stays in the page.
#[tokio::test]
async fn each_page_hydrates_with_the_build_its_widgets_need() {
    let server = Server::start(&[&minilm_dir(), &lite0_dir()], &[]);
    let browser = Browser::start().await;
    browser.open(&server.url("/m/minilm/embed")).await;
    let light = loaded_wasm(&browser).await;
    assert!(
        light.len() == 1 && light[0].ends_with("/wick_light_bg.wasm"),
        "{light:?}"
    );

    browser
        .client
        .find(Locator::Css("a[href='/m/efficientnet-lite0/classify']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.find("input-image").await;
    browser
        .until("the photo demo hydrated with the full build", || async {
            let wasm = loaded_wasm(&browser).await;
            let hydrated = browser
                .find("hydrated")
                .await
                .attr("data-hydrated")
                .await
                .ok()??;
            (hydrated == "true" && wasm.len() == 1 && wasm[0].ends_with("/wick_bg.wasm"))
                .then_some(())
        })
        .await;
    assert!(
        browser
            .client
            .find(Locator::Css("[data-testid='full-page']"))
            .await
            .is_err()
    );

    // Back to the text demo: the full build draws it in place.
    browser
        .client
        .find(Locator::Css("a[href='/m/minilm/embed']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .until("the text demo drawn in place", || async {
            let url = browser.client.current_url().await.ok()?;
            let wasm = loaded_wasm(&browser).await;
            (url.path() == "/m/minilm/embed" && wasm.len() == 1).then_some(())
        })
        .await;
    browser.find("input-text").await;
    browser.assert_no_console_errors().await;
    browser.client.clone().close().await.unwrap();
}

/// An SDK example's binary, run as its user runs it: no arguments, the
/// port from `PORT`.
struct Example {
    child: Child,
    base: String,
    data: tempfile::TempDir,
}

impl Example {
    fn start(name: &str) -> Example {
        let binary = common::example_binary(name);
        let port = common::free_port();
        let data = tempfile::tempdir().unwrap();
        let child = Command::new(&binary)
            .env("PORT", port.to_string())
            .env("WICK_HOST", "127.0.0.1")
            .env("WICK_DATA_DIR", data.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{name} did not open its port"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Example { child, base, data }
    }

    /// The stored flags, as `wick feedback export` writes them.
    fn flags(&self) -> Vec<Value> {
        let data_dir = self.data.path().to_str().unwrap();
        common::output_of(common::wick().args([
            "feedback",
            "export",
            "--format",
            "jsonl",
            "--data-dir",
            data_dir,
        ]))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Flags the result shown with `option` and waits until it is saved.
    async fn flag(&self, option: &str) {
        self.find(&format!("flag-{option}"))
            .await
            .click()
            .await
            .unwrap();
        self.until("the flag to be saved", || async {
            let text = self.text("[data-testid='flag-status']").await?;
            text.contains("saved").then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn the_sdk_examples_hydrate_answer_and_keep_flags() {
    let browser = Browser::start().await;

    // mood: a Candle classifier behind a plain function.
    let mood = Example::start("mood");
    browser
        .open(&format!("{}/m/mood/classify", mood.base))
        .await;
    browser
        .type_into("input-text", "What a wonderful film, I loved it")
        .await;
    browser.find("submit").await.click().await.unwrap();
    let best = browser
        .until("the mood", || {
            browser.text("[data-testid='output-mood'] .best-label")
        })
        .await;
    assert_eq!(best, "positive");
    browser.screenshot("sdk-mood").await;
    browser.flag("Incorrect").await;
    let flags = mood.flags();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["endpoint"], "classify");
    assert_eq!(
        flags[0]["inputs"]["text"],
        "What a wonderful film, I loved it"
    );
    assert_eq!(flags[0]["outputs"]["mood"]["label"], "positive");

    // bigram: a streaming function, its text growing on the page.
    let bigram = Example::start("bigram");
    browser
        .open(&format!("{}/m/bigram/write", bigram.base))
        .await;
    browser.type_into("input-text", "Twinkle").await;
    browser.find("submit").await.click().await.unwrap();
    let written = browser
        .until("all 120 characters", || async {
            let shown = browser
                .client
                .find(Locator::Css("[data-testid='output-text'] pre"))
                .await
                .ok()?;
            let text = shown.prop("textContent").await.ok()??;
            (text.chars().count() == 120).then_some(text)
        })
        .await;
    assert!(written.contains(' '), "{written}");
    browser.screenshot("sdk-bigram").await;
    browser.flag("Other").await;
    let flags = bigram.flags();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["endpoint"], "write");
    assert_eq!(flags[0]["outputs"]["text"], written);
    browser.assert_no_console_errors().await;
    browser.client.clone().close().await.unwrap();
}
