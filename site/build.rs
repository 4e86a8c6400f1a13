//! Lists the built UI under `files/` for `src/lib.rs` to embed.
//!
//! The files are committed: the WASM UI does not depend on any model, so a
//! crate that serves its own model gets a page that hydrates with a plain
//! `cargo build` (no wasm32 target, wasm-bindgen or wasm-opt). `scripts/build`
//! rebuilds them from `app/` and `frontend/`, and `scripts/test` fails when
//! the committed copy differs from that build.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("files");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for (url, path) in &files {
        let bytes = fs::read(path).expect("a site file reads");
        out.push_str(&format!(
            "    ({url:?}, include_bytes!({:?}), {:?}),\n",
            path.display().to_string(),
            etag(&bytes)
        ));
    }
    out.push_str("]\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out_dir.join("files.rs"), out).expect("files.rs writes");
}

/// A strong ETag keyed to the file's content (SipHash: a cache key, not
/// a security measure).
fn etag(bytes: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let url = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
            files.push((url, path.clone()));
        }
    }
}
