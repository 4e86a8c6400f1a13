//! Binary values (images, audio clips) and their one wire form: a base64
//! `data:` URL (RFC 2397), as browsers make with `FileReader.readAsDataURL`
//! and as Gradio's clients send.
//!
//! A string is taken for media only where the signature says the field is
//! an image or an audio clip (`validate_inputs`), never by looking at it:
//! a text that happens to start with `data:` stays a text.

use std::fmt;

use base64::Engine as _;
use serde::{Serialize, Serializer};

/// The bytes of one file and what they are (`image/png`, `audio/wav`...).
#[derive(Clone, PartialEq, Eq)]
pub struct Media {
    /// The media type (`image/png`).
    pub mime: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// Which top-level media type a field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    /// `image/*`.
    Image,
    /// `audio/*`.
    Audio,
}

impl MediaKind {
    /// The MIME top-level type: `image` or `audio`.
    pub fn top_level(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
        }
    }

    /// For messages: "an image", "an audio clip".
    pub fn describe(self) -> &'static str {
        match self {
            MediaKind::Image => "an image",
            MediaKind::Audio => "an audio clip",
        }
    }
}

impl Media {
    /// A file of `bytes` whose media type is `mime`.
    pub fn new(mime: impl Into<String>, bytes: Vec<u8>) -> Self {
        Media {
            mime: mime.into(),
            bytes,
        }
    }

    /// Reads a `data:` URL of `kind` (`data:image/png;base64,...`), refusing
    /// another media type, a missing type and bytes past `max_bytes`.
    pub fn from_data_url(
        url: &str,
        kind: MediaKind,
        max_bytes: Option<usize>,
    ) -> Result<Media, String> {
        let expected = kind.top_level();
        let example = format!("data:{expected}/…;base64,…");
        if !url.starts_with("data:") {
            return Err(format!("expected a data: URL ({example})"));
        }
        // The payload's base64 length bounds the bytes, so an oversized file
        // is refused before anything is decoded.
        if let Some(max) = max_bytes
            && url.len() / 4 * 3 > max + 1024
        {
            return Err(too_large(url.len() / 4 * 3, max));
        }
        let parsed = data_url::DataUrl::process(url)
            .map_err(|error| format!("is not a valid data: URL ({error:?})"))?;
        let mime = parsed.mime_type();
        if mime.type_ != expected {
            return Err(format!(
                "expected {} but got {}/{} ({example})",
                kind.describe(),
                mime.type_,
                mime.subtype
            ));
        }
        // A media type of token characters (RFC 9110), as the schema says.
        let token = |text: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
        };
        if !token(&mime.subtype) || !mime.parameters.iter().all(|(k, v)| token(k) && token(v)) {
            return Err(format!("has an unusable media type ({example})"));
        }
        let mime = format!("{}/{}", mime.type_, mime.subtype);
        // Canonical base64 only, as FileReader and every client library
        // write it (and as the OpenAPI pattern says): no whitespace, full
        // groups, padding only at the end.
        let payload = url.split_once(";base64,").map_or("", |(_, p)| p);
        if payload.is_empty() {
            return Err("is an empty file".into());
        }
        if !canonical_base64(payload) {
            return Err("has a payload that is not valid base64".to_string());
        }
        let (bytes, _fragment) = parsed
            .decode_to_vec()
            .map_err(|_| "has a payload that is not valid base64".to_string())?;
        if let Some(max) = max_bytes
            && bytes.len() > max
        {
            return Err(too_large(bytes.len(), max));
        }
        if bytes.is_empty() {
            return Err("is an empty file".into());
        }
        Ok(Media { mime, bytes })
    }

    /// Checks media that arrived as bytes (a multipart part, an upload, a
    /// V2 tensor) as `from_data_url` checks what arrived as text: of
    /// `kind`, with a usable media type, not empty, within `max_bytes`.
    pub fn check(&self, kind: MediaKind, max_bytes: Option<usize>) -> Result<(), String> {
        let expected = kind.top_level();
        let (top, subtype) = self
            .mime
            .split_once('/')
            .unwrap_or((self.mime.as_str(), ""));
        if top != expected {
            return Err(format!(
                "expected {} but got {}",
                kind.describe(),
                if self.mime.is_empty() {
                    "a file of no known type"
                } else {
                    &self.mime
                }
            ));
        }
        let token = !subtype.is_empty()
            && subtype
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c));
        if !token {
            return Err(format!("has an unusable media type `{}`", self.mime));
        }
        if self.bytes.is_empty() {
            return Err("is an empty file".into());
        }
        if let Some(max) = max_bytes
            && self.bytes.len() > max
        {
            return Err(too_large(self.bytes.len(), max));
        }
        Ok(())
    }

    /// The wire form: `data:<mime>;base64,<payload>`.
    pub fn to_data_url(&self) -> String {
        format!(
            "data:{};base64,{}",
            self.mime,
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }
}

/// The media type of a file by its content (magic bytes), else by its
/// name's extension: for uploads that say `application/octet-stream` and
/// for bundle files.
pub fn media_type_of(name: &str, bytes: &[u8]) -> Option<&'static str> {
    sniff(bytes).or_else(|| media_type_of_name(name))
}

/// The media type of the formats Wick reads, by their first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let riff = |kind: &[u8]| starts(b"RIFF") && bytes.get(8..12) == Some(kind);
    Some(if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if riff(b"WEBP") {
        "image/webp"
    } else if starts(b"BM") {
        "image/bmp"
    } else if riff(b"WAVE") {
        "audio/wav"
    } else if starts(b"fLaC") {
        "audio/flac"
    } else if starts(b"OggS") {
        "audio/ogg"
    } else if starts(b"ID3") || starts(&[0xFF, 0xFB]) || starts(&[0xFF, 0xF3]) {
        "audio/mpeg"
    } else {
        return None;
    })
}

/// The media type a file name's extension stands for.
pub fn media_type_of_name(name: &str) -> Option<&'static str> {
    let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
    FILE_TYPES
        .iter()
        .find(|(known, _)| *known == extension)
        .map(|(_, mime)| *mime)
}

/// The usual file extension of a media type (`png` for `image/png`).
pub fn extension_of(mime: &str) -> Option<&'static str> {
    FILE_TYPES
        .iter()
        .find(|(_, known)| *known == mime)
        .map(|(extension, _)| *extension)
}

/// File extensions and media types of the formats Wick reads; the first
/// extension of a type is its usual one, and aliases of a type follow it.
const FILE_TYPES: [(&str, &str); 13] = [
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("bmp", "image/bmp"),
    ("wav", "audio/wav"),
    ("wav", "audio/x-wav"),
    ("wav", "audio/wave"),
    ("flac", "audio/flac"),
    ("ogg", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("mp3", "audio/mpeg"),
];

/// Whether `text` is base64 in whole groups of 4, padded only at the end.
fn canonical_base64(text: &str) -> bool {
    let bytes = text.as_bytes();
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    let padding = bytes.iter().rev().take_while(|b| **b == b'=').count();
    bytes.len().is_multiple_of(4)
        && padding <= 2
        && bytes[..bytes.len() - padding].iter().all(alphabet)
}

fn too_large(bytes: usize, max: usize) -> String {
    format!("is {bytes} bytes; the limit is {max}")
}

impl Serialize for Media {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_data_url())
    }
}

/// Media prints as its type and size: a log line or a panic message must
/// never carry a megabyte of base64.
impl fmt::Debug for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Media({}, {} bytes)", self.mime, self.bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_data_url() {
        let media = Media::new("image/png", vec![0x89, b'P', b'N', b'G', 0, 255]);
        let url = media.to_data_url();
        assert_eq!(url, "data:image/png;base64,iVBORwD/");
        assert_eq!(
            Media::from_data_url(&url, MediaKind::Image, None).unwrap(),
            media
        );
        assert_eq!(
            serde_json::to_value(&media).unwrap(),
            serde_json::json!(url)
        );
    }

    #[test]
    fn refuses_what_is_not_media_of_the_kind() {
        let cases = [
            ("hello", MediaKind::Image, "expected a data: URL"),
            (
                "data:audio/wav;base64,UklGRg==",
                MediaKind::Image,
                "expected an image but got audio/wav",
            ),
            (
                "data:text/plain;base64,aGk=",
                MediaKind::Audio,
                "expected an audio clip",
            ),
            ("data:image/png;base64,", MediaKind::Image, "empty"),
            (
                "data:image/png;base64,iVBOR",
                MediaKind::Image,
                "not valid base64",
            ),
            (
                "data:image/png;base64,iV BO",
                MediaKind::Image,
                "not valid base64",
            ),
            (
                "data:image/png;base64,iV=O",
                MediaKind::Image,
                "not valid base64",
            ),
            (
                "data:image/p\u{e9}g;base64,iVBO",
                MediaKind::Image,
                "media type",
            ),
            (
                "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==",
                MediaKind::Image,
                "limit is 4",
            ),
        ];
        for (url, kind, message) in cases {
            let error = Media::from_data_url(url, kind, Some(4)).unwrap_err();
            assert!(error.contains(message), "{url}: {error}");
        }
    }

    #[test]
    fn media_types_come_from_the_bytes_then_the_name() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"hello"), None);
        // Content wins over a misleading name; a name helps unknown bytes.
        assert_eq!(
            media_type_of("cat.png", &[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
        assert_eq!(media_type_of("photos/Cat.JPG", b"??"), Some("image/jpeg"));
        assert_eq!(media_type_of("notes.txt", b"hello"), None);
        assert_eq!(media_type_of_name("song.WAV"), Some("audio/wav"));
        assert_eq!(extension_of("image/jpeg"), Some("jpg"));
        assert_eq!(extension_of("audio/x-wav"), Some("wav"));
        assert_eq!(extension_of("text/plain"), None);
    }

    #[test]
    fn refuses_an_oversized_payload() {
        let url = format!("data:image/png;base64,{}", "A".repeat(1 << 20));
        let error = Media::from_data_url(&url, MediaKind::Image, Some(1000)).unwrap_err();
        assert!(error.contains("limit is 1000"), "{error}");
    }
}
