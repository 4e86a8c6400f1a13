//! Files in flags. An image or audio clip that a flagged prediction took or
//! gave is kept once, by its content, in the store itself (the
//! `feedback_files` table: a BLOB in SQLite, BYTEA in Postgres, so replicas
//! sharing a database share the files too). In the flag's inputs and
//! outputs the file is then named `files/<sha256>.<ext>`, the way Gradio's
//! flagged dataset names the files beside its CSV; `wick feedback export`
//! writes them to a `files/` folder beside the export, where those names
//! resolve, and the review page serves them.

use sha2::{Digest, Sha256};
use wick_types::{Field, FieldError, Media, Value, Values};

/// How a flag names a kept file: `files/<name>`.
pub const PREFIX: &str = "files/";

/// A file to keep with a flag.
#[derive(Clone, Debug, PartialEq)]
pub struct FlagFile {
    /// `<sha256>.<ext>`: the same bytes always get the same name.
    pub name: String,
    pub media: Media,
}

impl FlagFile {
    pub fn new(media: Media) -> FlagFile {
        let digest = Sha256::digest(&media.bytes);
        let extension = wick_types::extension_of(&media.mime).unwrap_or("bin");
        let name = format!("{digest:x}.{extension}");
        FlagFile { name, media }
    }

    /// What the flag holds in the file's place.
    pub fn reference(&self) -> String {
        format!("{PREFIX}{}", self.name)
    }
}

/// Whether `name` could be a kept file's name (64 hex digits, a dot, an
/// extension): anything else is refused before it reaches the store.
pub fn is_file_name(name: &str) -> bool {
    match name.split_once('.') {
        Some((hash, extension)) => {
            hash.len() == 64
                && hash.chars().all(|c| c.is_ascii_hexdigit())
                && !extension.is_empty()
                && extension.chars().all(|c| c.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// Replaces every media value of checked inputs by its file's name.
pub fn take_input_files(inputs: &mut Values) -> Vec<FlagFile> {
    let mut files = Vec::new();
    for value in inputs.values_mut() {
        if !matches!(value, Value::Media(_)) {
            continue;
        }
        // Moved out, not copied: a photo can be megabytes.
        if let Value::Media(media) = std::mem::replace(value, Value::Bool(false)) {
            let file = FlagFile::new(media);
            *value = Value::Text(file.reference());
            files.push(file);
        }
    }
    files
}

/// Replaces every image or audio output (a `data:` URL, already checked
/// against its field) by its file's name.
pub fn take_output_files(
    fields: &[Field],
    outputs: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<FlagFile>, FieldError> {
    let mut files = Vec::new();
    for field in fields {
        let Some((kind, max_bytes)) = field.kind.media() else {
            continue;
        };
        let Some(serde_json::Value::String(url)) = outputs.get(&field.name) else {
            continue;
        };
        let media = Media::from_data_url(url, kind, max_bytes).map_err(|message| FieldError {
            field: field.name.clone(),
            message,
        })?;
        let file = FlagFile::new(media);
        outputs.insert(field.name.clone(), file.reference().into());
        files.push(file);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_by_their_content() {
        let a = FlagFile::new(Media::new("image/png", b"same bytes".to_vec()));
        let b = FlagFile::new(Media::new("image/png", b"same bytes".to_vec()));
        let c = FlagFile::new(Media::new("image/jpeg", b"other bytes".to_vec()));
        assert_eq!(a.name, b.name);
        assert_ne!(a.name, c.name);
        assert!(a.name.ends_with(".png") && c.name.ends_with(".jpg"));
        assert!(is_file_name(&a.name), "{}", a.name);
        assert!(a.reference().starts_with("files/"));
        for bad in [
            "../etc/passwd",
            "abc.png",
            &format!("{}.p/g", "a".repeat(64)),
        ] {
            assert!(!is_file_name(bad), "{bad}");
        }
    }
}
