//! Starts the real `wick` binary on 127.0.0.1 with an ephemeral port and
//! stops it when dropped; and what several test files share.

#![allow(dead_code)]

pub mod postgres;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn wick() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wick"));
    // Settings of the machine running the tests must not leak in.
    for variable in [
        "WICK_DATA_DIR",
        "WICK_FEEDBACK_DB",
        "WICK_ADMIN_TOKEN",
        "WICK_HOST",
        "WICK_PORT",
    ] {
        command.env_remove(variable);
    }
    command
}

/// Runs a command to completion; fails the test with its stderr unless it
/// succeeds, and returns its stdout.
pub fn output_of(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// `examples/<name>`, once scripts/fetch-examples has put `file` there.
fn example(name: &str, file: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    assert!(
        dir.join(file).is_file(),
        "examples/{name} has no {file}: run scripts/fetch-examples first"
    );
    dir
}

/// The tiny encoder models of `engine/tests/fixtures/heads` (made by
/// `bench/encoder_heads_reference.py`, no download).
pub fn heads_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/fixtures/heads")
}

/// The tiny CLIP and SigLIP of `engine/tests/fixtures/zero-shot` (made by
/// `bench/zero_shot_reference.py`, no download), and its images.
pub fn zero_shot_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/fixtures/zero-shot")
}

/// `wick bundle` of the encoder fixture `name` into `out`, with no
/// `--task`: the bundle's folder and the task it printed.
pub fn bundle_fixture(name: &str, out: &Path) -> (PathBuf, String) {
    bundle_folder(&heads_fixtures().join(name), name, out)
}

/// `wick bundle --name NAME FOLDER OUT/NAME`, with no `--task`: the
/// bundle's folder and the task it printed.
pub fn bundle_folder(folder: &Path, name: &str, out: &Path) -> (PathBuf, String) {
    let dir = out.join(name);
    let printed = output_of(
        wick()
            .args(["bundle", "--name", name])
            .arg(folder)
            .arg(&dir),
    );
    let task = printed
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(task, _)| task.to_string())
        .unwrap_or_default();
    (dir, task)
}

pub fn minilm_dir() -> PathBuf {
    example("minilm", "model.safetensors")
}

/// A copy of examples/minilm as `version` (the weights hard-linked), its
/// wick.toml edited by `edit`.
pub fn minilm_as(version: &str, parent: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    bundle_copy(
        &minilm_dir(),
        &parent.join(format!("minilm-{version}")),
        |text| edit(text.replace("version = \"1.0.0\"", &format!("version = \"{version}\""))),
    )
}

/// A copy of the bundle `source` in `dir` (its files hard-linked), its
/// wick.toml edited by `edit`.
pub fn bundle_copy(source: &Path, dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    copy_tree(source, dir);
    let manifest = dir.join("wick.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::remove_file(&manifest).unwrap();
    std::fs::write(&manifest, edit(text)).unwrap();
    dir.to_path_buf()
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else if std::fs::hard_link(entry.path(), &target).is_err() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn whisper_dir() -> PathBuf {
    example("whisper-tiny-en", "model.safetensors")
}

pub fn smollm2_dir() -> PathBuf {
    example("smollm2", "model.gguf")
}

/// The sum of the series of a Prometheus metric whose lines start with
/// `prefix` (e.g. `wick_generated_tokens_total{`).
pub async fn metric(server: &Server, prefix: &str) -> f64 {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub fn lite0_dir() -> PathBuf {
    example("efficientnet-lite0", "model.safetensors")
}

/// A port nothing listens on now (for `--grpc-port`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client whose connections come from `address` (any of 127.0.0.0/8
/// reaches the loopback server): another client, as the per-address
/// limits see it.
pub fn client_from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(address))
        .build()
        .expect("a client bound to a loopback address")
}

/// POSTs `body` as `content_type` and reads the JSON answer (failing the
/// test if the answer is not JSON).
pub async fn post(
    client: &reqwest::Client,
    url: String,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let response = client
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let json =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, json)
}

pub struct Server {
    child: Child,
    pub base: String,
    /// The feedback folder, when the caller did not name a store.
    _data: Option<tempfile::TempDir>,
}

impl Server {
    pub fn start(bundles: &[&Path], extra: &[&str]) -> Server {
        Server::start_with_env(bundles, extra, &[])
    }

    /// Feedback goes to a fresh temporary folder unless `extra` names a
    /// store (`--data-dir` or `--feedback-db`).
    pub fn start_with_env(bundles: &[&Path], extra: &[&str], env: &[(&str, &str)]) -> Server {
        let names_store = extra
            .iter()
            .any(|a| *a == "--data-dir" || *a == "--feedback-db");
        let data = (!names_store).then(|| tempfile::tempdir().expect("temporary data dir"));
        let mut command = wick();
        command
            .arg("serve")
            .args(bundles)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(extra)
            .envs(env.iter().copied());
        if let Some(data) = &data {
            command.arg("--data-dir").arg(data.path());
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start wick serve");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(base) = line.strip_prefix("listening on ") {
                    let _ = sender.send(base.to_string());
                }
            }
        });
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => Server {
                child,
                base,
                _data: data,
            },
            Err(_) => {
                let _ = child.kill();
                panic!("wick serve did not start listening within 60 s");
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Resident memory of the server process, from /proc.
    pub fn rss_bytes(&self) -> u64 {
        wick_engine::metrics::resident_bytes(&self.child.id().to_string())
            .expect("VmRSS of the running server in /proc/PID/status")
    }

    /// SIGTERM, as an orchestrator stops a pod; then how long the process
    /// took to exit, if it did within `limit`.
    pub fn terminate_within(&mut self, limit: Duration) -> Option<Duration> {
        let started = std::time::Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        while started.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit code, once the process has ended.
    pub fn exit_code(&mut self) -> Option<i32> {
        self.child.try_wait().ok().flatten().and_then(|s| s.code())
    }

    /// SIGKILL: no graceful shutdown, as in a crash or an OOM kill.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Python of the venv scripts/test makes (with openapi-spec-validator,
/// requests and openai).
pub fn python() -> String {
    std::env::var("WICK_PYTHON")
        .expect("WICK_PYTHON is not set: run the tests with scripts/test, which makes the Python venv these tests use")
}

/// Runs the test venv's Python with `args`; fails the test with its
/// output unless it succeeds.
pub fn run_python(args: &[&std::ffi::OsStr]) {
    let output = Command::new(python()).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "python {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs the Node script `name` beside these tests with `args`, the npm
/// packages scripts/test installs on its NODE_PATH; fails with its output.
pub fn run_node(name: &str, args: &[&std::ffi::OsStr]) {
    let modules = std::env::var("WICK_NODE_MODULES").expect(
        "WICK_NODE_MODULES is not set: run the tests with scripts/test, which installs the npm clients",
    );
    let output = Command::new("node")
        .arg(test_script(name))
        .args(args)
        .env("NODE_PATH", modules)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "node {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A test script beside these tests (`server/tests/NAME`).
pub fn test_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

/// `(event, data)` of every complete server-sent event in `text`.
pub fn sse_events(text: &str) -> Vec<(String, serde_json::Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_string());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(value).expect("JSON data"));
                }
            }
            Some((name?, data?))
        })
        .collect()
}

/// The binary of an SDK example (`examples/sdk/{name}`, a crate outside
/// the workspace that scripts/test builds into the same target folder).
#[allow(dead_code)] // not every test binary runs an example
pub fn example_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let binary = target.join("release").join(name);
    assert!(
        binary.is_file(),
        "{} is not built: scripts/test builds the SDK examples (examples/sdk/)",
        binary.display()
    );
    binary
}

/// `wick bench --in-process` of an image endpoint printed a table of
/// images/s with a positive figure in each of its three batch rows.
pub fn assert_images_table(table: &str) {
    assert!(table.contains("images/s"), "{table}");
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| - |")).collect();
    assert_eq!(rows.len(), 3, "{table}");
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        for rate in &cells[3..5] {
            assert!(rate.parse::<f64>().is_ok_and(|r| r > 0.0), "{row}");
        }
    }
}

/// The texts of every element with `data-testid="{testid}"` on a
/// server-rendered page, as a browser shows them: comments (hydration
/// markers) and tags are not text, entities are decoded.
pub fn texts_of(html: &str, testid: &str) -> Vec<String> {
    let marker = format!("data-testid=\"{testid}\"");
    html.match_indices(&marker)
        .map(|(start, _)| {
            let rest = &html[start..];
            let open = rest.find('>').map_or(rest.len(), |end| end + 1);
            let close = rest[open..].find("</").map_or(rest.len(), |end| open + end);
            let mut body = rest[open..close].to_string();
            while let Some(comment) = body.find("<!") {
                let end = body[comment..]
                    .find('>')
                    .map_or(body.len(), |end| comment + end + 1);
                body.replace_range(comment..end, "");
            }
            body.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#x27;", "'")
                .replace("&#39;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

/// An MCP request that lists the tools at `url`, as a client's first POST
/// after `initialize` would (stateless: no session needed).
pub async fn list_mcp_tools(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-06-18")
        .json(
            &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}),
        );
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}
