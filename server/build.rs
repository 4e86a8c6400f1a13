//! Embeds the built web UI (the WASM, its JS glue, CSS, icons) into the
//! `wick` binary, so `wick serve` needs no files beside it.
//!
//! `scripts/build` builds the site into `$WICK_SITE_DIR` (default
//! `target/site`) before building this crate. When the folder is missing
//! (a plain `cargo build`), nothing is embedded and the pages still render
//! on the server, without hydration; `wick serve` warns about it.
//!
//! It also generates the gRPC V2 service (`proto/inference.proto`) with
//! protox, a protobuf compiler in Rust, so that building needs no `protoc`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    embed_site();
    println!("cargo:rerun-if-changed=proto/inference.proto");
    let descriptors =
        protox::compile(["inference.proto"], ["proto"]).expect("proto/inference.proto compiles");
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(descriptors)
        .expect("the gRPC service generates");
}

fn embed_site() {
    println!("cargo:rerun-if-env-changed=WICK_SITE_DIR");
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let site = env::var_os("WICK_SITE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../target/site"));
    println!("cargo:rerun-if-changed={}", site.display());

    let mut files = Vec::new();
    if site.is_dir() {
        collect(&site, &site, &mut files);
    }
    files.sort();
    let mut out = String::from(
        "/// (URL path, contents, ETag) of every embedded site file.\n\
         pub static FILES: &[(&str, &[u8], &str)] = &[\n",
    );
    for (url, path) in &files {
        out.push_str(&format!(
            "    ({url:?}, include_bytes!({:?}), {:?}),\n",
            path.display().to_string(),
            etag(path)
        ));
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out_dir.join("site_files.rs"), out).expect("write site_files.rs");
}

/// A strong ETag keyed to the file's content (SipHash: a cache key, not
/// a security measure).
fn etag(path: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    fs::read(path).unwrap_or_default().hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let url = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
            let absolute = path.canonicalize().unwrap_or(path.clone());
            files.push((url, absolute));
        }
    }
}
