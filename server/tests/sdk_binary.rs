//! `examples/sdk/scaler`, a crate outside the workspace that is its own
//! `wick` (`wick::main_with`) over Wick's tasks and one of its own: it
//! bundles its task from a folder (which `wick` itself refuses to load),
//! refuses a bundle whose file changed, serves a bundle, and loads a
//! second version live with `rollout load`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn scaler() -> Command {
    Command::new(common::example_binary("scaler"))
}

/// A bundle of `scale` with this factor, made by the example's `bundle`.
fn bundle(root: &Path, version: &str, factor: &str) -> std::path::PathBuf {
    let source = root.join(format!("source-{version}"));
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("factor.txt"), factor).unwrap();
    let out = root.join(format!("scaler-{version}"));
    common::output_of(
        scaler()
            .args([
                "bundle",
                "--task",
                "scale",
                "--name",
                "scaler",
                "--version",
                version,
            ])
            .arg(&source)
            .arg(&out),
    );
    out
}

async fn scale(base: &str, version: Option<&str>) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/models/scaler/scale"))
        .json(&json!({"inputs": {"x": 7}}));
    if let Some(version) = version {
        request = request.header("x-wick-version", version);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn a_binary_of_your_own_bundles_serves_and_rolls_out_your_task() {
    let root = tempfile::tempdir().unwrap();
    let first = bundle(root.path(), "1", "2");
    let second = bundle(root.path(), "2", "3");
    let manifest = std::fs::read_to_string(first.join("wick.toml")).unwrap();
    assert!(manifest.contains("task = \"scale\""), "{manifest}");
    assert!(manifest.contains("factor.txt"), "{manifest}");

    // Wick's own binary does not know the task: the bundle is refused by
    // the task's name.
    let unknown = common::wick()
        .arg("predict")
        .arg(&first)
        .args(["scale", "-i", "x=1"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    let message = String::from_utf8_lossy(&unknown.stderr);
    assert!(message.contains("unknown task `scale`"), "{message}");

    // A bundle whose file changed after bundling is refused by name.
    let tampered = bundle(root.path(), "9", "2");
    std::fs::write(tampered.join("factor.txt"), "5").unwrap();
    let refused = scaler()
        .arg("predict")
        .arg(&tampered)
        .args(["scale", "-i", "x=1"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("factor.txt"), "{message}");

    let port = common::free_port();
    let mut served = scaler()
        .arg("serve")
        .arg(&first)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--admin-token", "admin-secret", "--data-dir"])
        .arg(root.path().join("data"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/readyz")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "no server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(scale(&base, None).await["outputs"]["y"], 14.0);

    let loaded = scaler()
        .args(["rollout", "--url", &base, "--token", "admin-secret", "load"])
        .arg(&second)
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let pinned = scale(&base, Some("2")).await;
    assert_eq!(pinned["outputs"]["y"], 21.0, "{pinned}");
    assert_eq!(pinned["version"], "2");
    assert_eq!(scale(&base, None).await["outputs"]["y"], 14.0);
    let _ = served.kill();
    let _ = served.wait();
}
