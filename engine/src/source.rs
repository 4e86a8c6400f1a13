//! Where `wick bundle` takes a model from: a local folder in Hugging Face
//! layout, or a hub id (`hf://org/model`, `hf://org/model@revision`).
//!
//! Hub files are resolved from the local Hugging Face cache first
//! (`HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`), so a
//! model that was downloaded once, by Wick or by Python, needs no network.
//! With `HF_HUB_OFFLINE=1` the network is never used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::bundle::{Bundle, Flagging, Manifest, Serving, Ui, check_name};
use crate::error::{Error, Result};
use crate::task::TaskKind;
use crate::tasks::detect::PROBE;

#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Folder(PathBuf),
    Hub { repo: String, revision: String },
}

/// The model files of a source, found locally.
#[derive(Debug)]
pub struct Resolved {
    /// The folder that holds them (a cache snapshot for the hub).
    pub dir: PathBuf,
    /// Bundle file name → local path.
    pub files: BTreeMap<String, PathBuf>,
}

impl Source {
    pub fn parse(text: &str) -> Source {
        match text.strip_prefix("hf://") {
            Some(id) => {
                let (repo, revision) = id.split_once('@').unwrap_or((id, "main"));
                Source::Hub {
                    repo: repo.to_string(),
                    revision: revision.to_string(),
                }
            }
            None => Source::Folder(PathBuf::from(text)),
        }
    }

    /// The task that serves this model (`tasks::detect`): for the hub, from
    /// its `config.json` and sentence-transformers files, fetched first.
    pub fn detect_task(&self) -> Result<&'static str> {
        match self {
            Source::Folder(path) => crate::tasks::detect::task_of(path),
            Source::Hub { .. } => crate::tasks::detect::task_of(&self.resolve(&PROBE)?.dir),
        }
    }

    /// Finds (downloading if needed and allowed) the files `kind` needs.
    pub fn resolve(&self, kind: &TaskKind) -> Result<Resolved> {
        match self {
            Source::Folder(dir) => resolve_folder(dir, kind),
            Source::Hub { repo, revision } => {
                let cache_dir = hub_cache_dir().ok_or_else(|| Error::Hub {
                    source_id: repo.clone(),
                    message: "no cache folder: set HF_HUB_CACHE or HF_HOME".into(),
                })?;
                let offline =
                    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v == "true");
                resolve_hub(&cache_dir, repo, revision, kind, offline)
            }
        }
    }
}

fn resolve_folder(dir: &Path, kind: &TaskKind) -> Result<Resolved> {
    // A single file (`model.gguf`) is the task's first required file; the
    // task derives the rest from it.
    if dir.is_file()
        && kind.derive.is_some()
        && let Some(first) = kind.required_files.first()
    {
        return Ok(Resolved {
            dir: dir.parent().unwrap_or(Path::new(".")).to_path_buf(),
            files: BTreeMap::from([(first.to_string(), dir.to_path_buf())]),
        });
    }
    if !dir.is_dir() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
        });
    }
    let mut files = BTreeMap::new();
    for name in kind.required_files {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(Error::Load {
                model: dir.display().to_string(),
                message: format!(
                    "{name} is missing; a {} model needs {}",
                    kind.name,
                    kind.required_files.join(", ")
                ),
            });
        }
        files.insert(name.to_string(), path);
    }
    for name in kind.optional_files {
        let path = dir.join(name);
        if path.is_file() {
            files.insert(name.to_string(), path);
        }
    }
    Ok(Resolved {
        dir: dir.to_path_buf(),
        files,
    })
}

/// `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hub_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        return Some(dir.into());
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        return Some(PathBuf::from(home).join("hub"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/huggingface/hub"))
}

pub fn resolve_hub(
    cache_dir: &Path,
    repo_id: &str,
    revision: &str,
    kind: &TaskKind,
    offline: bool,
) -> Result<Resolved> {
    let hub_error = |message: String| Error::Hub {
        source_id: format!("hf://{repo_id}@{revision}"),
        message,
    };
    let repo = Repo::with_revision(repo_id.to_string(), RepoType::Model, revision.to_string());
    let cache = Cache::new(cache_dir.to_path_buf()).repo(repo.clone());
    let api = if offline {
        None
    } else {
        let api = ApiBuilder::from_cache(Cache::new(cache_dir.to_path_buf()))
            .with_progress(true)
            .build()
            .map_err(|e| hub_error(e.to_string()))?;
        Some(api.repo(repo))
    };
    let fetch = |name: &str| -> Option<std::result::Result<PathBuf, String>> {
        if let Some(path) = cache.get(name) {
            return Some(Ok(path));
        }
        api.as_ref()
            .map(|api| api.get(name).map_err(|e| e.to_string()))
    };
    let mut files = BTreeMap::new();
    for name in kind.required_files {
        match fetch(name) {
            Some(Ok(path)) => {
                files.insert(name.to_string(), path);
            }
            Some(Err(message)) => return Err(hub_error(format!("{name}: {message}"))),
            None => {
                return Err(hub_error(format!(
                    "{name} is not in the cache at {} and HF_HUB_OFFLINE is set",
                    cache_dir.display()
                )));
            }
        }
    }
    for name in kind.optional_files {
        // An optional file the repository lacks is simply left out.
        if let Some(Ok(path)) = fetch(name) {
            files.insert(name.to_string(), path);
        }
    }
    let first = kind
        .required_files
        .first()
        .and_then(|name| files.get(*name));
    let dir = first
        .and_then(|path| path.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cache_dir.to_path_buf());
    Ok(Resolved { dir, files })
}

/// Makes a bundle in `out_dir` from a source: the task's files, settings
/// read from the source's own configuration, default examples, and the
/// SHA-256 of every file. This is `wick bundle`.
pub fn bundle_from_source(
    source: &Source,
    kind: &TaskKind,
    name: &str,
    version: &str,
    out_dir: &Path,
) -> Result<Bundle> {
    let mut resolved = source.resolve(kind)?;
    let defaults = (kind.defaults)(&resolved.dir)?;
    let manifest = Manifest {
        name: name.to_string(),
        version: version.to_string(),
        task: kind.name.to_string(),
        hub_id: match source {
            Source::Hub { repo, .. } => Some(repo.clone()),
            Source::Folder(_) => None,
        },
        ui: Ui {
            title: name.to_string(),
            description: String::new(),
            article: String::new(),
        },
        examples: defaults.examples,
        flagging: Flagging::default(),
        serving: Serving::default(),
        settings: defaults.settings,
        // Filled in by `Bundle::create` from the files it writes.
        files: BTreeMap::new(),
    };
    // Check name and version before copying any weights.
    check_name("name", name)
        .and_then(|()| check_name("version", version))
        .map_err(|message| Error::Manifest {
            path: out_dir.join(crate::bundle::MANIFEST),
            message,
        })?;
    if let Some(derive) = kind.derive {
        derive(&mut resolved.files, out_dir)?;
    }
    Bundle::create(out_dir, manifest, &resolved.files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::sentence_embedding::KIND;

    #[test]
    fn parses_hub_ids_and_folders() {
        assert_eq!(
            Source::parse("hf://sentence-transformers/all-MiniLM-L6-v2"),
            Source::Hub {
                repo: "sentence-transformers/all-MiniLM-L6-v2".into(),
                revision: "main".into()
            }
        );
        assert_eq!(
            Source::parse("hf://org/m@v2"),
            Source::Hub {
                repo: "org/m".into(),
                revision: "v2".into()
            }
        );
        assert_eq!(Source::parse("./m"), Source::Folder("./m".into()));
    }

    /// Lays out a cache folder exactly as huggingface_hub does:
    /// models--org--name/{refs/main, snapshots/<commit>/<files>}.
    fn fake_cache(root: &Path, files: &[&str]) -> PathBuf {
        let repo_dir = root.join("models--org--tiny");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
        std::fs::write(repo_dir.join("refs/main"), commit).unwrap();
        let snapshot = repo_dir.join("snapshots").join(commit);
        for file in files {
            let path = snapshot.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("contents of {file}")).unwrap();
        }
        snapshot
    }

    #[test]
    fn a_hub_id_resolves_offline_from_a_local_cache() {
        let root = tempfile::tempdir().unwrap();
        let snapshot = fake_cache(
            root.path(),
            &[
                "config.json",
                "tokenizer.json",
                "model.safetensors",
                "1_Pooling/config.json",
            ],
        );
        let resolved = resolve_hub(root.path(), "org/tiny", "main", &KIND, true).unwrap();
        assert_eq!(resolved.dir, snapshot);
        assert_eq!(
            resolved.files["model.safetensors"],
            snapshot.join("model.safetensors")
        );
        assert_eq!(
            resolved.files["1_Pooling/config.json"],
            snapshot.join("1_Pooling/config.json")
        );
        assert!(!resolved.files.contains_key("vocab.txt"));
    }

    #[test]
    fn a_hub_model_s_task_is_read_from_its_cached_files() {
        let root = tempfile::tempdir().unwrap();
        let snapshot = fake_cache(root.path(), &["tokenizer.json"]);
        std::fs::write(
            snapshot.join("config.json"),
            r#"{"architectures": ["XLMRobertaForSequenceClassification"],
                "model_type": "xlm-roberta", "id2label": {"0": "LABEL_0"}}"#,
        )
        .unwrap();
        let resolved = resolve_hub(root.path(), "org/tiny", "main", &PROBE, true).unwrap();
        assert_eq!(
            crate::tasks::detect::task_of(&resolved.dir).unwrap(),
            "text-ranking"
        );
    }

    #[test]
    fn a_file_missing_offline_is_named() {
        let root = tempfile::tempdir().unwrap();
        fake_cache(root.path(), &["config.json", "tokenizer.json"]);
        let message = resolve_hub(root.path(), "org/tiny", "main", &KIND, true)
            .unwrap_err()
            .to_string();
        assert!(message.contains("model.safetensors"), "{message}");
        assert!(message.contains("HF_HUB_OFFLINE"), "{message}");
    }
}
