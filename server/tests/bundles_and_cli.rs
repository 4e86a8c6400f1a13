//! Bundles are hash-checked at `wick serve`; `wick bundle` makes them from a
//! folder or a hub cache; `wick predict` answers without a server.

mod common;

use std::fs;
use std::path::Path;

use common::{minilm_dir, output_of, wick};

/// Copies the MiniLM bundle; hard links would share the bytes we change.
fn copy_bundle(to: &Path) {
    let from = minilm_dir();
    for entry in [
        "wick.toml",
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "modules.json",
        "sentence_bert_config.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
        "vocab.txt",
        "1_Pooling/config.json",
    ] {
        let target = to.join(entry);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(from.join(entry), target).unwrap();
    }
}

fn serve_fails(bundle: &Path) -> String {
    let output = wick()
        .args(["serve", "--host", "127.0.0.1", "--port", "0"])
        .arg(bundle)
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "wick serve started on a bad bundle"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn serve_refuses_a_bundle_with_one_byte_of_the_weights_changed() {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(dir.path());
    let weights = dir.path().join("model.safetensors");
    let mut bytes = fs::read(&weights).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&weights, bytes).unwrap();
    let message = serve_fails(dir.path());
    assert!(message.contains("model.safetensors"), "{message}");
    assert!(
        message.contains("53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
        "{message}"
    );
}

#[test]
fn serve_refuses_a_bundle_with_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(dir.path());
    fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let message = serve_fails(dir.path());
    assert!(message.contains("tokenizer.json is missing"), "{message}");
}

/// Runs `wick predict BUNDLE ARGS...` and parses what it prints; panics
/// with its stderr when it fails.
fn predict(bundle: &Path, args: &[&str]) -> serde_json::Value {
    let output = wick()
        .arg("predict")
        .arg(bundle)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn predict_prints_the_outputs_as_json() {
    let body = predict(
        &minilm_dir(),
        &[
            "similarity",
            "-i",
            "a=A man is eating food.",
            "-i",
            "b=A man is eating a piece of bread.",
        ],
    );
    let score = body["outputs"]["score"].as_f64().unwrap();
    assert!((score - 0.7553).abs() < 1e-3, "{score}");

    let body = predict(
        &minilm_dir(),
        &[
            "classify",
            "-i",
            "text=The new movie is awesome",
            "-i",
            "labels=negative,positive",
        ],
    );
    assert_eq!(body["outputs"]["label"]["label"], "positive");

    let output = wick()
        .arg("predict")
        .arg(minilm_dir())
        .args(["embed", "-i", "txt=typo"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("txt"));
}

/// The hashes `wick bundle` writes are the hashes of the committed wick.toml.
fn assert_same_files(bundle: &Path) {
    let made: toml::Table = fs::read_to_string(bundle.join("wick.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let committed: toml::Table = fs::read_to_string(minilm_dir().join("wick.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(made["files"], committed["files"]);
    assert_eq!(made["settings"]["max_seq_length"].as_integer(), Some(256));
    assert_eq!(made["settings"]["pooling"].as_str(), Some("mean"));
}

#[test]
fn bundle_makes_a_servable_bundle_from_a_hugging_face_folder() {
    let source = tempfile::tempdir().unwrap();
    copy_bundle(source.path());
    fs::remove_file(source.path().join("wick.toml")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let status = wick()
        .args([
            "bundle",
            "--task",
            "sentence-embedding",
            "--name",
            "mini",
            "--version",
            "2.0.0",
        ])
        .arg(source.path())
        .arg(out.path().join("mini"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_same_files(&out.path().join("mini"));
    let body = predict(
        &out.path().join("mini"),
        &["embed", "-i", "text=hello world"],
    );
    assert_eq!(body["model"], "mini");
    assert_eq!(body["version"], "2.0.0");
}

#[test]
fn bundle_takes_a_hub_id_from_the_local_cache_without_network() {
    // A Hugging Face cache laid out as huggingface_hub writes it.
    let cache = tempfile::tempdir().unwrap();
    let repo = cache
        .path()
        .join("models--sentence-transformers--all-MiniLM-L6-v2");
    let commit = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::write(repo.join("refs/main"), commit).unwrap();
    copy_bundle(&repo.join("snapshots").join(commit));
    let out = tempfile::tempdir().unwrap();
    output_of(
        wick()
            .env("HF_HUB_CACHE", cache.path())
            .env("HF_HUB_OFFLINE", "1")
            .args(["bundle", "--task", "sentence-embedding", "--name", "minilm"])
            .arg("hf://sentence-transformers/all-MiniLM-L6-v2")
            .arg(out.path()),
    );
    assert_same_files(out.path());

    let output = wick()
        .env("HF_HUB_CACHE", cache.path())
        .env("HF_HUB_OFFLINE", "1")
        .args([
            "bundle",
            "--task",
            "sentence-embedding",
            "--name",
            "x",
            "hf://org/absent",
        ])
        .arg(out.path().join("absent"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("HF_HUB_OFFLINE"));
}

#[test]
fn wick_predict_takes_an_image_file_and_bench_measures_images() {
    let photo = common::lite0_dir().join("examples/coffee.png");
    let answer = output_of(
        wick()
            .args(["predict"])
            .arg(common::lite0_dir())
            .args(["classify", "-i"])
            .arg(format!("image=@{}", photo.display())),
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["outputs"]["label"]["label"], "espresso", "{answer}");

    // The forward pass alone, on the bundle's example photos: a table of
    // images/s with a figure in every cell.
    let table = output_of(wick().arg("bench").arg(common::lite0_dir()).args([
        "--in-process",
        "--seconds",
        "0.1",
    ]));
    common::assert_images_table(&table);
}

/// A text-generation bundle gets its own figures: prefill, one stream's
/// decoding, and N streams at once, each a positive rate.
#[test]
fn bench_measures_generation() {
    let table = output_of(
        wick()
            .arg("bench")
            .arg(common::smollm2_dir())
            .args(["--concurrency", "2"]),
    );
    let rate = |line: &str, after: &str| -> f64 {
        let rest = line.split(after).nth(1).unwrap_or_default();
        rest.split_whitespace()
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap_or(0.0)
    };
    let prefill = table
        .lines()
        .find(|l| l.starts_with("prefill:"))
        .expect("a prefill line");
    assert!(prefill.contains("512 prompt tokens"), "{table}");
    assert!(rate(prefill, " at ") > 0.0, "{table}");
    let decode = table
        .lines()
        .find(|l| l.starts_with("decode, one stream:"))
        .expect("a decode line");
    assert!(rate(decode, "stream: ") > 0.0, "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("| 2 |"))
        .expect("a row for 2 streams");
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert!(cells[4].parse::<f64>().is_ok_and(|r| r > 0.0), "{row}");
    assert_eq!(cells[7], "0", "{row}");
}

#[test]
fn hash_password_prints_an_argon2id_hash_of_standard_input() {
    use std::io::Write;
    let mut child = wick()
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let hash = String::from_utf8(output.stdout).unwrap();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    // No password: a message, not a hash of nothing.
    let empty = wick().arg("hash-password").output().unwrap();
    assert!(!empty.status.success());
}
