//! `wick deploy space`, proven by building and running its image here:
//! podman with runc on a debootstrapped Debian base (no registry is
//! reachable), the host-built `wick` and the MiniLM bundle. The image must
//! answer a prediction and serve the demo page as uid 1000; then the same
//! image runs as `wick deploy k8s`'s Deployment under `podman kube play`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{minilm_dir, output_of, wick};
use serde_json::{Value, json};

const PODMAN_LIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

fn podman() -> Command {
    let mut command = Command::new("podman");
    command.args(["--runtime", "runc"]);
    command
}

/// Removes the container and the image however the test ends.
struct Cleanup {
    container: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = podman().args(["rm", "-f", &self.container]).output();
        let _ = podman().args(["rmi", "-f", &self.image]).output();
    }
}

fn front_matter(readme: &str) -> Value {
    let python = std::env::var("WICK_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "import json, sys, yaml\n\
                  text = sys.stdin.read()\n\
                  assert text.startswith('---\\n'), 'no front matter'\n\
                  print(json.dumps(yaml.safe_load(text.split('---\\n')[1])))\n";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(readme.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the front matter is not YAML");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn check_dockerfile(dockerfile: &str) {
    assert!(
        !dockerfile.contains(":latest"),
        "no latest tags:\n{dockerfile}"
    );
    let instructions: Vec<&str> = dockerfile
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && !l.trim().is_empty())
        .collect();
    for line in &instructions {
        let image = match line.strip_prefix("FROM ") {
            Some(rest) => rest.split_whitespace().next().unwrap(),
            None => match line
                .strip_prefix("ARG ")
                .and_then(|a| a.split_once("_IMAGE="))
            {
                Some((_, image)) => image,
                None => continue,
            },
        };
        assert!(
            image.starts_with("${") || image.contains(':'),
            "an image without a tag: {line}"
        );
    }
    let runtime = dockerfile
        .rsplit("\nFROM ")
        .next()
        .expect("a runtime stage");
    let user_created = runtime.find("useradd").expect("the runtime creates a user");
    let after = &runtime[user_created..];
    let user = after.find("\nUSER 1000").expect("USER 1000 after useradd");
    assert!(
        !after[user..].contains("\nRUN "),
        "no RUN step after the user switch"
    );
    assert!(
        !after[..user].lines().skip(1).any(|l| l.starts_with("RUN ")),
        "no other RUN step as root after useradd"
    );
    assert!(!after.contains("USER root") && !after.contains("USER 0"));
    assert!(runtime.contains("EXPOSE 7860"));
    assert!(runtime.contains("HEALTHCHECK"));
    assert!(dockerfile.contains("ARG BASE_IMAGE="));
    assert!(dockerfile.contains("ARG WICK_BINARY=bin/wick"));
}

#[tokio::test]
async fn the_space_image_builds_runs_and_serves_as_uid_1000() {
    let out = tempfile::tempdir().unwrap();
    output_of(
        wick()
            .args(["deploy", "space"])
            .arg(out.path())
            .arg(minilm_dir()),
    );
    for file in [
        "Dockerfile",
        "README.md",
        ".dockerignore",
        "bin/wick",
        "bundles/minilm/wick.toml",
        "bundles/minilm/model.safetensors",
    ] {
        assert!(out.path().join(file).is_file(), "{file} was not written");
    }
    let meta = front_matter(&std::fs::read_to_string(out.path().join("README.md")).unwrap());
    assert_eq!(meta["sdk"], "docker");
    assert_eq!(meta["app_port"], 7860);
    assert_eq!(meta["title"], "MiniLM sentence embeddings");
    assert!(meta["emoji"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(meta["colorFrom"], "yellow");
    assert_eq!(meta["colorTo"], "red");
    let short = meta["short_description"].as_str().unwrap();
    assert!(!short.is_empty() && short.chars().count() <= 60, "{short}");
    assert_eq!(
        meta["models"],
        json!(["sentence-transformers/all-MiniLM-L6-v2"])
    );
    check_dockerfile(&std::fs::read_to_string(out.path().join("Dockerfile")).unwrap());

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let base = output_of(Command::new("bash").arg(root.join("scripts/podman-base")));
    let base = base.trim();
    let tag = std::process::id();
    let cleanup = Cleanup {
        container: format!("wick-space-test-{tag}"),
        image: format!("localhost/wick-space-test:{tag}"),
    };
    let started = Instant::now();
    output_of(
        podman()
            .arg("build")
            .args(PODMAN_LIMITS)
            .args(["--network", "host", "--format", "docker"])
            .args(["--build-arg", &format!("BASE_IMAGE={base}")])
            .args(["--build-arg", &format!("BUILD_IMAGE={base}")])
            .args(["-t", &cleanup.image])
            .arg(out.path()),
    );
    let size: u64 =
        output_of(podman().args(["image", "inspect", "--format", "{{.Size}}", &cleanup.image]))
            .trim()
            .parse()
            .unwrap();
    eprintln!(
        "Space image built in {:.0} s: {:.0} MB ({} bytes)",
        started.elapsed().as_secs_f64(),
        size as f64 / 1e6,
        size
    );

    let port = common::free_port();
    output_of(
        podman()
            .args([
                "run",
                "-d",
                "--name",
                &cleanup.container,
                "--network",
                "host",
            ])
            .args(PODMAN_LIMITS)
            .args(["-e", &format!("WICK_PORT={port}")])
            .arg(&cleanup.image),
    );
    let base_url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let waiting = Instant::now();
    loop {
        let ready = client.get(format!("{base_url}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if waiting.elapsed() > Duration::from_secs(60) {
            let logs = podman()
                .args(["logs", &cleanup.container])
                .output()
                .unwrap();
            panic!(
                "the container was not ready in 60 s:\n{}",
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "container ready in {:.1} s",
        waiting.elapsed().as_secs_f64()
    );

    let answer: Value = client
        .post(format!("{base_url}/api/models/minilm/similarity"))
        .json(&json!({"inputs": {"a": "A man is eating food.", "b": "A man is eating a piece of bread."}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let score = answer["outputs"]["score"].as_f64().unwrap();
    assert!((score - 0.7553).abs() < 1e-3, "{answer}");
    let page = client
        .get(&base_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-testid=\"input-text\""), "the demo form");
    assert!(page.contains("<form"), "the demo form");

    let uid = output_of(podman().args(["exec", &cleanup.container, "id", "-u"]));
    assert_eq!(uid.trim(), "1000");
    let top = output_of(podman().args(["top", &cleanup.container, "user", "comm"]));
    assert!(
        top.lines()
            .any(|l| l.contains("wick") && !l.trim_start().starts_with("root")),
        "wick runs as the Space user:\n{top}"
    );
    output_of(podman().args(["healthcheck", "run", &cleanup.container]));
    output_of(podman().args(["stop", "-t", "5", &cleanup.container]));
    kubernetes_runs_the_same_image(&cleanup.image).await;
    drop(cleanup);
}

/// Removes what `podman kube play` started, however the test ends.
struct KubeDown(std::path::PathBuf);

impl Drop for KubeDown {
    fn drop(&mut self) {
        let _ = podman().arg("kube").arg("down").arg(&self.0).output();
    }
}

/// `wick deploy k8s`'s Deployment and Service under `podman kube play`:
/// the pod serves on the manifest's port (published by podman on the
/// host), its own probe finds it healthy, it answers a prediction, and stops as the kubelet stops it —
/// SIGTERM, the drain, the grace — with no request in flight failing;
/// then `podman kube down` removes it. (Podman 4.3 stops a pod's network
/// before its containers, which would cut requests no kubelet cuts: the
/// container is stopped first, as Kubernetes does.)
async fn kubernetes_runs_the_same_image(image: &str) {
    assert!(
        std::net::TcpListener::bind("127.0.0.1:7860").is_ok(),
        "port 7860 is taken: podman kube play publishes the manifest's port there"
    );
    let out = tempfile::tempdir().unwrap();
    output_of(
        wick()
            .args(["deploy", "k8s"])
            .arg(out.path())
            .arg(minilm_dir())
            .args([
                "--image",
                image,
                "--replicas",
                "1",
                "--cpu",
                "1",
                "--memory",
                "1Gi",
            ]),
    );
    let manifests = out.path().join("kubernetes.yaml");
    // The ulimits `podman run` is given here, for the pod's containers.
    let conf = out.path().join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n",
    )
    .unwrap();
    let _down = KubeDown(manifests.clone());
    output_of(
        podman()
            .env("CONTAINERS_CONF", &conf)
            .args(["kube", "play"])
            .arg(&manifests),
    );
    let base = "http://127.0.0.1:7860";
    let client = reqwest::Client::new();
    let waiting = Instant::now();
    while !client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the pod was not ready in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("pod ready in {:.1} s", waiting.elapsed().as_secs_f64());
    let container = output_of(podman().args(["ps", "--format", "{{.Names}}"]))
        .lines()
        .find(|name| name.ends_with("-wick"))
        .expect("the pod's wick container")
        .to_string();
    // Its own probe, as podman runs the manifest's httpGet one.
    output_of(podman().args(["healthcheck", "run", &container]));
    let health = output_of(podman().args([
        "inspect",
        "--format",
        "{{.State.Health.Status}}",
        &container,
    ]));
    assert_eq!(health.trim(), "healthy");
    let stop_at = Instant::now() + Duration::from_secs(12);
    let mut load = Vec::new();
    for worker in 0..4 {
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut answered, mut refused) = (0, 0);
            while Instant::now() < stop_at {
                let sent = client
                    .post(format!("{base}/api/models/minilm/embed"))
                    .json(&json!({"inputs": {"text": format!("worker {worker} ").repeat(60)}}))
                    .send()
                    .await;
                match sent {
                    Ok(response) => {
                        assert_eq!(response.status(), 200, "a request failed");
                        response.bytes().await.expect("the whole answer");
                        answered += 1;
                    }
                    Err(error) => {
                        assert!(error.is_connect(), "a request was cut: {error}");
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            (answered, refused)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopping = Instant::now();
    output_of(podman().args(["stop", "-t", "30", &container]));
    let stopped_in = stopping.elapsed();
    let (mut answered, mut refused) = (0, 0);
    for worker in load {
        let (a, r) = worker.await.unwrap();
        answered += a;
        refused += r;
    }
    let logs = podman().args(["logs", &container]).output().unwrap();
    let logs = String::from_utf8_lossy(&logs.stderr);
    assert!(logs.contains("not ready; still serving"), "{logs}");
    eprintln!(
        "pod stopped in {:.1} s: {answered} requests answered, {refused} refused after the drain, none cut",
        stopped_in.as_secs_f64()
    );
    assert!(answered > 0 && refused > 0);
    output_of(podman().arg("kube").arg("down").arg(&manifests));
}
