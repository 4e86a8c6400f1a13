//! Whether feedback survives a Hugging Face Space's restart. A Space's
//! own disk is thrown away whenever it restarts or sleeps; what lasts is a
//! storage bucket mounted at a path of the owner's choosing, or a database
//! elsewhere. When `wick serve` runs in a Space (`SPACE_ID` is set) with
//! its SQLite file on no mount of its own, it says so at start, in the log
//! and at the top of `/admin/feedback`.

use std::path::{Path, PathBuf};

use wick_feedback::StoreConfig;

/// The warning for a store in a Space whose feedback would be lost, if so.
pub fn warning(config: &StoreConfig) -> Option<String> {
    std::env::var_os("SPACE_ID")?;
    let StoreConfig::Sqlite(file) = config else {
        return None;
    };
    let dir = file.parent().unwrap_or(Path::new("/"));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    if on_own_mount(dir, &mounts) {
        return None;
    }
    Some(format!(
        "This Space keeps feedback in {} on the container's own disk, which is lost when the \
         Space restarts or sleeps: mount a storage bucket at {} (the Space's Settings → \
         Volumes), or set the secret WICK_FEEDBACK_DB to a postgres:// URL.",
        dir.display(),
        dir.display()
    ))
}

/// Whether `dir` is on a mount other than the root one, by the mount
/// points of `/proc/self/mountinfo` (the fifth field of each line).
fn on_own_mount(dir: &Path, mountinfo: &str) -> bool {
    let dir = absolute(dir);
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(unescape(point)))
        .filter(|point| point != Path::new("/"))
        .any(|point| dir.starts_with(&point))
}

fn absolute(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|cwd| cwd.join(dir))
            .unwrap_or_else(|_| dir.to_path_buf())
    })
}

/// Mount points escape spaces and the like as octal (`\040`).
fn unescape(point: &str) -> String {
    let mut out = String::new();
    let mut rest = point;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        match code.and_then(|digits| u8::from_str_radix(digits, 8).ok()) {
            Some(byte) => {
                out.push(byte as char);
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
22 1 0:21 / / rw,relatime - overlay overlay rw
30 22 0:25 / /data rw,relatime - fuse bucket rw
31 22 0:26 / /my\\040bucket rw,relatime - fuse bucket rw
";

    #[test]
    fn a_folder_on_a_mount_of_its_own_survives_the_root_one_does_not() {
        assert!(on_own_mount(Path::new("/data"), MOUNTS));
        assert!(on_own_mount(Path::new("/data/feedback"), MOUNTS));
        assert!(on_own_mount(Path::new("/my bucket"), MOUNTS));
        assert!(!on_own_mount(Path::new("/home/user/app/wick-data"), MOUNTS));
        assert!(!on_own_mount(Path::new("/database"), MOUNTS));
    }
}
