//! Wick's web UI, built and committed (see `build.rs`): the pages are
//! rendered by the server, and these files make them interactive.
//!
//! Each WASM build, its JS glue and the CSS come compressed twice, as
//! `.br` (brotli 11) and `.gz` (gzip 9); the JS and CSS also plain. The
//! WASM has no plain copy: a client that takes neither encoding is served
//! the gzip copy unpacked.

/// `(URL path, contents, ETag)` of every file, sorted by path.
pub static FILES: &[(&str, &[u8], &str)] = include!(concat!(env!("OUT_DIR"), "/files.rs"));

/// The file at a URL path (`/pkg/wick_bg.wasm.br`), and its ETag.
pub fn file(path: &str) -> Option<(&'static [u8], &'static str)> {
    FILES
        .binary_search_by(|(p, _, _)| (*p).cmp(path))
        .ok()
        .map(|at| (FILES[at].1, FILES[at].2))
}
