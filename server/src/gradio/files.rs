//! Files that Gradio's clients upload (`POST /gradio_api/upload`) and that
//! answers hand out (`GET /gradio_api/file=<path>`), kept in memory.
//!
//! A client uploads a file, gets back a path, and names that path in a
//! `FileData` input; an image output is stored here and sent as a
//! `FileData` whose `url` the client downloads. Paths are made here
//! (`/wick/files/<uuid>/<name>`), never read from disk, so a path a client
//! sends can only ever name one of these files. The store is bounded:
//! files older than `KEPT` go, and the oldest go first past `MAX_BYTES`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an uploaded or answered file stays.
const KEPT: Duration = Duration::from_secs(3600);
/// All files together, at most.
const MAX_BYTES: usize = 512 << 20;
/// Where the paths handed out begin.
const ROOT: &str = "/wick/files/";

pub struct Files {
    /// Oldest first.
    kept: Mutex<VecDeque<Stored>>,
    max_bytes: usize,
}

impl Default for Files {
    fn default() -> Self {
        Files::holding(MAX_BYTES)
    }
}

pub struct File {
    pub name: String,
    pub mime: String,
    pub bytes: Vec<u8>,
}

struct Stored {
    path: String,
    file: Arc<File>,
    since: Instant,
}

impl Files {
    /// A store of `max_bytes` at most.
    pub fn holding(max_bytes: usize) -> Self {
        Files {
            kept: Mutex::default(),
            max_bytes,
        }
    }

    /// Keeps `file` and returns its path.
    pub fn keep(&self, file: File) -> String {
        let path = format!(
            "{ROOT}{}/{}",
            uuid::Uuid::now_v7().simple(),
            safe_name(&file.name)
        );
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let mut total: usize = kept.iter().map(|s| s.file.bytes.len()).sum();
        total += file.bytes.len();
        while let Some(oldest) = kept.front() {
            if total <= self.max_bytes && oldest.since.elapsed() < KEPT {
                break;
            }
            total -= oldest.file.bytes.len();
            kept.pop_front();
        }
        kept.push_back(Stored {
            path: path.clone(),
            file: Arc::new(file),
            since: Instant::now(),
        });
        path
    }

    /// The file at `path`, if this store made that path and still has it.
    pub fn get(&self, path: &str) -> Option<Arc<File>> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .find(|s| s.path == path && s.since.elapsed() < KEPT)
            .map(|s| s.file.clone())
    }
}

/// A file name that stays one path segment: the last component of what the
/// client said, without characters that would need quoting.
fn safe_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let safe: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(100)
        .collect();
    if safe.trim_matches('.').is_empty() {
        "file".to_string()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: usize) -> File {
        File {
            name: name.to_string(),
            mime: "image/png".to_string(),
            bytes: vec![7; size],
        }
    }

    #[test]
    fn a_kept_file_is_found_by_its_path_only() {
        let files = Files::default();
        let path = files.keep(file("../../etc/passwd", 3));
        assert!(
            path.starts_with(ROOT) && path.ends_with("/passwd"),
            "{path}"
        );
        assert_eq!(files.get(&path).unwrap().bytes, vec![7; 3]);
        assert!(files.get("/etc/passwd").is_none());
        assert!(files.get(&format!("{path}x")).is_none());
    }

    #[test]
    fn names_stay_one_segment() {
        assert_eq!(safe_name("cat photo (1).jpg"), "catphoto1.jpg");
        assert_eq!(safe_name("C:\\x\\dog.png"), "dog.png");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name(""), "file");
    }

    #[test]
    fn the_oldest_go_first_past_the_byte_bound() {
        let files = Files::holding(100);
        let first = files.keep(file("a.png", 50));
        let second = files.keep(file("b.png", 50));
        let third = files.keep(file("c.png", 1));
        assert!(files.get(&first).is_none());
        assert!(files.get(&second).is_some() && files.get(&third).is_some());
    }
}
