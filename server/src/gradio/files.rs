//! Files that Gradio's clients upload (`POST /gradio_api/upload`) and that
//! answers hand out (`GET /gradio_api/file=<path>`), kept in memory.
//!
//! A client uploads a file, gets back a path, and names that path in a
//! `FileData` input; an image output is stored here and sent as a
//! `FileData` whose `url` the client downloads. Paths are made here
//! (`/wick/files/<uuid>/<name>`), never read from disk, so a path a client
//! sends can only ever name one of these files.
//!
//! The store is bounded, and shared fairly: files older than `KEPT` go;
//! each client (by address, which it cannot choose) holds at most
//! `PER_CLIENT` bytes and `PER_CLIENT_FILES` files of it, past which its
//! own oldest files go; and when the whole store is full (`MAX_BYTES`,
//! `MAX_FILES`), the oldest file of whoever holds the most goes.
//! One client's 400 uploads once evicted everyone else's files.
//!
//! Only media a model takes is kept (its type read from its bytes, never
//! from what the client claims), and it is served as a download in a
//! sandbox (`security::untrusted_file`).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an uploaded or answered file stays.
const KEPT: Duration = Duration::from_secs(3600);
/// All files together, at most.
const MAX_BYTES: usize = 512 << 20;
/// The share of the store one client may hold.
const PER_CLIENT: usize = MAX_BYTES / 8;
/// Files at most, in all and from one client: eviction scans the list,
/// and the smallest image is a few dozen bytes.
const MAX_FILES: usize = 16_384;
const PER_CLIENT_FILES: usize = MAX_FILES / 8;
/// Where the paths handed out begin.
const ROOT: &str = "/wick/files/";

pub struct Files {
    /// Oldest first.
    kept: Mutex<VecDeque<Stored>>,
    max_bytes: usize,
    per_client: usize,
}

impl Default for Files {
    fn default() -> Self {
        Files::holding(MAX_BYTES, PER_CLIENT)
    }
}

pub struct File {
    pub name: String,
    /// Read from the bytes (`wick_types::sniff`), one of the media types
    /// Wick decodes.
    pub mime: String,
    pub bytes: Vec<u8>,
    /// Whose file it is: the client's address (none in tests without one).
    pub owner: Option<IpAddr>,
}

struct Stored {
    path: String,
    file: Arc<File>,
    since: Instant,
}

impl Files {
    /// A store of `max_bytes` at most, `per_client` of it for one client.
    pub fn holding(max_bytes: usize, per_client: usize) -> Self {
        Files {
            kept: Mutex::default(),
            max_bytes,
            per_client: per_client.min(max_bytes),
        }
    }

    /// Keeps `file` and returns its path, making room as the module says.
    pub fn keep(&self, file: File) -> String {
        let path = format!(
            "{ROOT}{}/{}",
            uuid::Uuid::now_v7().simple(),
            safe_name(&file.name)
        );
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|s| s.since.elapsed() < KEPT);
        let mut held: HashMap<Option<IpAddr>, Held> = HashMap::new();
        for stored in kept.iter() {
            held.entry(stored.file.owner).or_default().add(&stored.file);
        }
        let owner = file.owner;
        let mine = held.get(&owner).copied().unwrap_or_default();
        let (mut bytes, mut files) = (mine.bytes, mine.files);
        while bytes + file.bytes.len() > self.per_client || files >= PER_CLIENT_FILES {
            let Some(gone) = remove_oldest(&mut kept, owner) else {
                break;
            };
            held.entry(owner).or_default().remove(&gone);
            (bytes, files) = (bytes - gone.bytes.len(), files - 1);
        }
        let mut total: usize = held.values().map(|h| h.bytes).sum();
        while total + file.bytes.len() > self.max_bytes || kept.len() >= MAX_FILES {
            let Some(largest) = held
                .iter()
                .filter(|(_, h)| h.files > 0)
                .max_by_key(|(_, h)| h.bytes)
                .map(|(owner, _)| *owner)
            else {
                break;
            };
            let Some(gone) = remove_oldest(&mut kept, largest) else {
                break;
            };
            held.entry(largest).or_default().remove(&gone);
            total -= gone.bytes.len();
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

/// What one client holds.
#[derive(Clone, Copy, Default)]
struct Held {
    bytes: usize,
    files: usize,
}

impl Held {
    fn add(&mut self, file: &File) {
        self.bytes += file.bytes.len();
        self.files += 1;
    }

    fn remove(&mut self, file: &File) {
        self.bytes -= file.bytes.len();
        self.files -= 1;
    }
}

/// Removes the oldest file of `owner`, returning it.
fn remove_oldest(kept: &mut VecDeque<Stored>, owner: Option<IpAddr>) -> Option<Arc<File>> {
    let oldest = kept.iter().position(|s| s.file.owner == owner)?;
    kept.remove(oldest).map(|stored| stored.file)
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
        from(None, name, size)
    }

    fn from(owner: Option<IpAddr>, name: &str, size: usize) -> File {
        File {
            name: name.to_string(),
            mime: "image/png".to_string(),
            bytes: vec![7; size],
            owner,
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
    fn one_client_fills_only_its_share_and_evicts_only_its_own() {
        let files = Files::holding(100, 30);
        let (greedy, other) = (
            Some(IpAddr::from([10, 0, 0, 1])),
            Some(IpAddr::from([10, 0, 0, 2])),
        );
        let kept = files.keep(from(other, "kept.png", 20));
        let greedy_paths: Vec<String> = (0..40)
            .map(|i| files.keep(from(greedy, &format!("{i}.png"), 10)))
            .collect();
        assert!(files.get(&kept).is_some(), "another client's file stays");
        let held = greedy_paths
            .iter()
            .filter(|p| files.get(p).is_some())
            .count();
        assert_eq!(held, 3, "the greedy client holds its 30 bytes");
        assert!(files.get(&greedy_paths[39]).is_some(), "its newest stay");
    }

    #[test]
    fn a_full_store_evicts_from_whoever_holds_the_most() {
        let files = Files::holding(100, 60);
        let (a, b, c) = (
            Some(IpAddr::from([10, 0, 0, 1])),
            Some(IpAddr::from([10, 0, 0, 2])),
            Some(IpAddr::from([10, 0, 0, 3])),
        );
        let small = files.keep(from(a, "a.png", 20));
        let big = files.keep(from(b, "b.png", 60));
        let newcomer = files.keep(from(c, "c.png", 30));
        assert!(files.get(&small).is_some() && files.get(&newcomer).is_some());
        assert!(files.get(&big).is_none(), "the largest holder gave way");
    }

    #[test]
    fn the_oldest_go_first_past_the_byte_bound() {
        let files = Files::holding(100, 100);
        let first = files.keep(file("a.png", 50));
        let second = files.keep(file("b.png", 50));
        let third = files.keep(file("c.png", 1));
        assert!(files.get(&first).is_none());
        assert!(files.get(&second).is_some() && files.get(&third).is_some());
    }
}
