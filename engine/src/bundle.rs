//! Model bundles: a folder with `wick.toml` and the model's files in Hugging
//! Face layout. A bundle is what Wick loads, packages and versions, so
//! opening one checks the SHA-256 of every file it lists: a model that is
//! not byte-for-byte the one that was bundled never starts serving.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The manifest's file name in a bundle folder.
pub const MANIFEST: &str = "wick.toml";

/// The contents of `wick.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The model's name, as in its URL (`/m/{name}`).
    pub name: String,
    /// This version's name (`1.0.0`, `2`): versions of one name are rolled
    /// out against each other.
    pub version: String,
    /// The task that loads it (its `TaskKind`'s name).
    pub task: String,
    /// The Hugging Face model it was made from (`org/name`), if any: listed
    /// under `models` in a Space's README.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_id: Option<String>,
    /// How the page presents it.
    #[serde(default)]
    pub ui: Ui,
    /// Example inputs, per endpoint, in the order shown in the UI.
    #[serde(default)]
    pub examples: BTreeMap<String, Vec<serde_json::Map<String, serde_json::Value>>>,
    /// The Flag button's options.
    #[serde(default)]
    pub flagging: Flagging,
    /// Batching, queueing and limits.
    #[serde(default)]
    pub serving: Serving,
    /// Task-specific settings (for sentence-embedding: max_seq_length,
    /// pooling, normalize). Each task documents and checks its own.
    #[serde(default)]
    pub settings: toml::Table,
    /// Every file of the model, relative to the bundle folder, with its
    /// SHA-256 in hex.
    pub files: BTreeMap<String, String>,
}

/// `[ui]`: how the page presents the model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ui {
    /// The page's title.
    #[serde(default)]
    pub title: String,
    /// Markdown shown under the title.
    #[serde(default)]
    pub description: String,
    /// Longer markdown shown under the demo.
    #[serde(default)]
    pub article: String,
}

/// `[flagging]`: what the Flag button offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flagging {
    /// One button per option; none turns flagging off for the model.
    pub options: Vec<String>,
}

impl Default for Flagging {
    fn default() -> Self {
        Flagging {
            options: ["Incorrect", "Offensive", "Other"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// How the model is served.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Serving {
    /// Most inputs in one forward pass; larger client batches are split.
    pub max_batch_size: usize,
    /// Most work in one batch and in one forward pass, in the task's size
    /// units (for text: tokens; a pass counts them padded — the longest
    /// text times the texts): each ends at whichever of this and
    /// `max_batch_size` comes first. It bounds how long the worker is busy
    /// before it looks at the queue again, so a small request that arrives
    /// behind a big one waits one short batch, not one long one.
    pub max_batch_tokens: usize,
    /// Under load (requests queued while the worker was busy), how long the
    /// freed worker holds a batch open for more requests. An idle worker
    /// never waits: a lone request runs at once.
    pub max_batch_delay_ms: u64,
    /// Most requests waiting for a worker before new ones are refused.
    pub max_queue: usize,
    /// Longest a request may take, queueing included, before it is
    /// answered 503 (and dropped from the queue if it has not run).
    pub request_timeout_ms: u64,
    /// Most sets of inputs in one request; more are refused (413) before
    /// any work, so one body cannot hold the worker for long.
    pub max_inputs_per_request: usize,
    /// Most characters of text in one request, summed over its inputs;
    /// more are refused (413) before any work.
    pub max_input_chars: usize,
    /// `cpu`, `cuda` (needs a build with `--features cuda`) or `auto`.
    pub device: String,
}

impl Default for Serving {
    fn default() -> Self {
        Serving {
            max_batch_size: 32,
            max_batch_tokens: 4096,
            max_batch_delay_ms: 5,
            max_queue: 256,
            request_timeout_ms: 30_000,
            max_inputs_per_request: 64,
            max_input_chars: 200_000,
            device: "cpu".to_string(),
        }
    }
}

/// A bundle whose manifest parsed and whose files all match their hashes.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The folder its files are in.
    pub dir: PathBuf,
    /// Its `wick.toml`.
    pub manifest: Manifest,
}

impl Bundle {
    /// Reads `wick.toml` and checks every file's SHA-256.
    pub fn open(dir: impl AsRef<Path>) -> Result<Bundle> {
        let bundle = Bundle::open_unverified(dir)?;
        bundle.verify()?;
        Ok(bundle)
    }

    /// Reads `wick.toml` without hashing the files (for listing bundles).
    pub fn open_unverified(dir: impl AsRef<Path>) -> Result<Bundle> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(MANIFEST);
        let text = fs::read_to_string(&path).map_err(Error::io(&path))?;
        let manifest = Manifest::parse(&text).map_err(|message| Error::Manifest {
            path: path.clone(),
            message,
        })?;
        Ok(Bundle { dir, manifest })
    }

    /// Checks that every listed file exists, is a regular file inside the
    /// bundle (no symbolic link on its way: a bundle loaded through the
    /// admin API could otherwise serve `/etc/passwd` as an example), and
    /// has its recorded hash.
    pub fn verify(&self) -> Result<()> {
        for (file, expected) in &self.manifest.files {
            let path = self.dir.join(file);
            if let Some(link) = first_link(&self.dir, file) {
                return Err(Error::Load {
                    model: self.manifest.name.clone(),
                    message: format!(
                        "bundle file {file}: {} is a symbolic link; a bundle holds its own \
                         files (copy them in, e.g. `cp -L`)",
                        link.display()
                    ),
                });
            }
            if !path.is_file() {
                return Err(Error::MissingFile {
                    bundle: self.manifest.name.clone(),
                    file: file.clone(),
                    expected: expected.clone(),
                });
            }
            let actual = sha256_file(&path)?;
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(Error::HashMismatch {
                    bundle: self.manifest.name.clone(),
                    file: file.clone(),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        Ok(())
    }

    /// The path of a bundle file, if the manifest lists it.
    pub fn file(&self, name: &str) -> Option<PathBuf> {
        self.manifest
            .files
            .contains_key(name)
            .then(|| self.dir.join(name))
    }

    /// The manifest's `[settings]`, read as a task's settings type.
    pub fn settings<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        self.manifest
            .settings
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| self.load_error(format!("[settings]: {e}")))
    }

    /// A failure to load this bundle's model.
    pub fn load_error(&self, message: impl Into<String>) -> Error {
        Error::Load {
            model: self.manifest.name.clone(),
            message: message.into(),
        }
    }

    /// Like `file`, for files the task cannot do without.
    pub fn required_file(&self, name: &str) -> Result<PathBuf> {
        self.file(name).ok_or_else(|| Error::Load {
            model: self.manifest.name.clone(),
            message: format!("wick.toml does not list {name} under [files]"),
        })
    }

    /// Writes a new bundle into `out_dir`: copies `files` (name → path) there,
    /// hashes them, and writes `wick.toml`. When a file already sits at its
    /// place in `out_dir` (bundling a folder in place) it is not copied.
    pub fn create(
        out_dir: &Path,
        mut manifest: Manifest,
        files: &BTreeMap<String, PathBuf>,
    ) -> Result<Bundle> {
        fs::create_dir_all(out_dir).map_err(Error::io(out_dir))?;
        manifest.files.clear();
        for (name, source) in files {
            check_relative(name).map_err(|message| Error::Manifest {
                path: out_dir.join(MANIFEST),
                message,
            })?;
            let target = out_dir.join(name);
            if !same_file(source, &target) {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(Error::io(parent))?;
                }
                fs::copy(source, &target).map_err(Error::io(source))?;
            }
            manifest.files.insert(name.clone(), sha256_file(&target)?);
        }
        let text = manifest.to_toml();
        let path = out_dir.join(MANIFEST);
        fs::write(&path, text).map_err(Error::io(&path))?;
        Bundle::open(out_dir)
    }
}

impl Manifest {
    /// A manifest for a model you serve yourself (`Engine::add_model`):
    /// its name (in URLs) and version, titled by its name, the default
    /// flag options and serving settings, no examples and no files. Its
    /// task is named after the model; a bundle of a task you registered
    /// (`Registry::with`) names that task instead (`Manifest::task`).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Manifest {
        let name = name.into();
        Manifest {
            task: name.clone(),
            ui: Ui {
                title: name.clone(),
                ..Ui::default()
            },
            name,
            version: version.into(),
            hub_id: None,
            examples: BTreeMap::new(),
            flagging: Flagging::default(),
            serving: Serving::default(),
            settings: toml::Table::new(),
            files: BTreeMap::new(),
        }
    }

    /// The task's name, as a bundle's `wick.toml` gives it.
    pub fn task(mut self, task: impl Into<String>) -> Manifest {
        self.task = task.into();
        self
    }

    /// The demo page's title.
    pub fn title(mut self, title: impl Into<String>) -> Manifest {
        self.ui.title = title.into();
        self
    }

    /// The line under the title.
    pub fn description(mut self, description: impl Into<String>) -> Manifest {
        self.ui.description = description.into();
        self
    }

    /// Markdown shown under the demo.
    pub fn article(mut self, article: impl Into<String>) -> Manifest {
        self.ui.article = article.into();
        self
    }

    /// One more example of `endpoint`, as the JSON object of its inputs
    /// (checked against the signature when the model is added).
    pub fn example(mut self, endpoint: impl Into<String>, inputs: serde_json::Value) -> Manifest {
        let inputs = match inputs {
            serde_json::Value::Object(inputs) => inputs,
            // Kept as an object with one odd key, so that adding the model
            // fails naming it rather than dropping it unseen.
            other => serde_json::Map::from_iter([("(not an object)".to_string(), other)]),
        };
        self.examples
            .entry(endpoint.into())
            .or_default()
            .push(inputs);
        self
    }

    /// The Flag button's options (Gradio's `flagging_options`).
    pub fn flag_options<S: Into<String>>(
        mut self,
        options: impl IntoIterator<Item = S>,
    ) -> Manifest {
        self.flagging.options = options.into_iter().map(Into::into).collect();
        self
    }

    /// How it is batched and queued.
    pub fn serving(mut self, serving: Serving) -> Manifest {
        self.serving = serving;
        self
    }

    /// Parses and checks a manifest; the message says what is wrong.
    pub fn parse(text: &str) -> std::result::Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        check_name("name", &manifest.name)?;
        check_name("version", &manifest.version)?;
        if manifest.files.is_empty() {
            return Err("[files] lists no files; run `wick bundle` to make a bundle".into());
        }
        for (file, hash) in &manifest.files {
            check_relative(file)?;
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "[files] `{file}`: `{hash}` is not a SHA-256 in hex (64 characters)"
                ));
            }
        }
        if manifest.serving.max_batch_size == 0 {
            return Err("[serving] max_batch_size must be at least 1".into());
        }
        if manifest.serving.max_batch_tokens == 0 {
            return Err("[serving] max_batch_tokens must be at least 1".into());
        }
        Ok(manifest)
    }

    /// The manifest as `wick.toml` text.
    pub fn to_toml(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// Names and versions appear in URLs and file names: keep them plain.
pub(crate) fn check_name(what: &str, value: &str) -> std::result::Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if value.is_empty() || !value.chars().all(plain) || value.starts_with('.') {
        return Err(format!(
            "{what} `{value}` must be non-empty and use only letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// A bundle file must stay inside the bundle folder.
fn check_relative(file: &str) -> std::result::Result<(), String> {
    let path = Path::new(file);
    if file.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "[files] `{file}` must be a relative path inside the bundle, without `..`"
        ));
    }
    Ok(())
}

/// The first symbolic link on the way from `dir` to `file` inside it
/// (the folder itself may be reached through links).
fn first_link(dir: &Path, file: &str) -> Option<PathBuf> {
    let mut path = dir.to_path_buf();
    for part in Path::new(file).components() {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => return Some(path),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The SHA-256 of a file, in lower-case hex, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).map_err(Error::io(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(Error::io(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A bundle in `out` of `files` from the folder `source`, with default
/// serving and UI (the tasks' tests).
#[cfg(test)]
pub(crate) fn test_bundle(
    source: &Path,
    out: &Path,
    task: &str,
    files: &[&str],
    settings: toml::Table,
) -> Bundle {
    let files = files
        .iter()
        .map(|name| (name.to_string(), source.join(name)))
        .collect::<BTreeMap<_, _>>();
    let manifest = Manifest {
        name: "tiny".into(),
        version: "1".into(),
        task: task.into(),
        hub_id: None,
        ui: Ui::default(),
        examples: BTreeMap::new(),
        flagging: Flagging::default(),
        serving: Serving::default(),
        settings,
        files: BTreeMap::new(),
    };
    Bundle::create(out, manifest, &files).expect("a bundle of the test's files")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            hub_id: None,
            name: "tiny".into(),
            version: "0.1.0".into(),
            task: "sentence-embedding".into(),
            ui: Ui::default(),
            examples: BTreeMap::new(),
            flagging: Flagging::default(),
            serving: Serving::default(),
            settings: toml::Table::new(),
            files: BTreeMap::new(),
        }
    }

    fn bundle_with_one_file(dir: &Path) -> Bundle {
        let source = dir.join("source.bin");
        fs::write(&source, b"weights").unwrap();
        let files = BTreeMap::from([("nested/model.bin".to_string(), source)]);
        Bundle::create(&dir.join("bundle"), manifest(), &files).unwrap()
    }

    #[test]
    fn a_created_bundle_opens_and_round_trips_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = bundle_with_one_file(dir.path());
        let copied = bundle.dir.join("nested/model.bin");
        assert_eq!(fs::read(&copied).unwrap(), b"weights");
        assert_eq!(
            bundle.manifest.files["nested/model.bin"],
            sha256_file(&copied).unwrap()
        );
        let reopened = Bundle::open(&bundle.dir).unwrap();
        assert_eq!(reopened.manifest, bundle.manifest);
    }

    #[test]
    fn hashes_match_a_known_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_changed_file_is_refused_with_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = bundle_with_one_file(dir.path());
        let expected = bundle.manifest.files["nested/model.bin"].clone();
        fs::write(bundle.dir.join("nested/model.bin"), b"weightz").unwrap();
        let message = Bundle::open(&bundle.dir).unwrap_err().to_string();
        assert!(message.contains("nested/model.bin"), "{message}");
        assert!(message.contains(&expected), "{message}");
        let actual = sha256_file(&bundle.dir.join("nested/model.bin")).unwrap();
        assert!(message.contains(&actual), "{message}");
    }

    #[test]
    fn a_missing_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = bundle_with_one_file(dir.path());
        fs::remove_file(bundle.dir.join("nested/model.bin")).unwrap();
        let error = Bundle::open(&bundle.dir).unwrap_err();
        assert!(matches!(error, Error::MissingFile { ref file, .. } if file == "nested/model.bin"));
    }

    #[cfg(unix)]
    #[test]
    fn a_file_or_folder_linked_from_outside_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = bundle_with_one_file(dir.path());
        let outside = dir.path().join("outside.bin");
        fs::write(&outside, b"weights").unwrap();
        // The same bytes, so the hash would match: only the link is wrong.
        fs::remove_file(bundle.dir.join("nested/model.bin")).unwrap();
        std::os::unix::fs::symlink(&outside, bundle.dir.join("nested/model.bin")).unwrap();
        let error = Bundle::open(&bundle.dir).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        // A linked folder on the way is refused the same.
        fs::remove_dir_all(bundle.dir.join("nested")).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::copy(&outside, elsewhere.join("model.bin")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, bundle.dir.join("nested")).unwrap();
        let error = Bundle::open(&bundle.dir).unwrap_err().to_string();
        assert!(error.contains("nested is a symbolic link"), "{error}");
        // The bundle folder itself may be reached through a link.
        fs::remove_file(bundle.dir.join("nested")).unwrap();
        fs::create_dir(bundle.dir.join("nested")).unwrap();
        fs::copy(&outside, bundle.dir.join("nested/model.bin")).unwrap();
        let linked = dir.path().join("linked-bundle");
        std::os::unix::fs::symlink(&bundle.dir, &linked).unwrap();
        assert!(Bundle::open(&linked).is_ok());
    }

    #[test]
    fn manifests_with_unsafe_paths_or_names_are_refused() {
        let good = manifest_text("minilm", "model.safetensors");
        assert!(Manifest::parse(&good).is_ok());
        for (name, file) in [("a/b", "m"), ("ok", "../escape"), ("ok", "/abs"), ("", "m")] {
            let text = manifest_text(name, file);
            assert!(Manifest::parse(&text).is_err(), "{name} {file}");
        }
        let typo = format!("verison = \"2\"\n{good}");
        assert!(Manifest::parse(&typo).unwrap_err().contains("verison"));
    }

    fn manifest_text(name: &str, file: &str) -> String {
        format!(
            "name = \"{name}\"\nversion = \"1\"\ntask = \"t\"\n[files]\n\"{file}\" = \"{}\"\n",
            "a".repeat(64)
        )
    }
}
