//! Starts the real `wick` binary on 127.0.0.1 with an ephemeral port and
//! stops it when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn wick() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wick"))
}

pub fn minilm_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/minilm");
    assert!(
        dir.join("model.safetensors").is_file(),
        "examples/minilm has no model files: run scripts/fetch-examples first"
    );
    dir
}

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(bundles: &[&Path], extra: &[&str]) -> Server {
        let mut child = wick()
            .arg("serve")
            .args(bundles)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(extra)
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
            Ok(base) => Server { child, base },
            Err(_) => {
                let _ = child.kill();
                panic!("wick serve did not start listening within 60 s");
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
