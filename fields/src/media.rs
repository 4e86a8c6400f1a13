//! The field types that are not plain Rust values: files, conversations,
//! vectors, transcripts and entities.

use serde::{Deserialize, Serialize};
use wick_types::Media;

/// An image input or output: its bytes as sent (PNG, JPEG, WebP, GIF,
/// BMP) and their media type. `wick::decode_image` makes RGB pixels of it
/// (size-limited, EXIF-oriented).
#[derive(Clone, Debug, PartialEq)]
pub struct Image(pub Media);

/// An audio input or output: its bytes as sent (WAV, FLAC, MP3, Ogg) and
/// their media type. `wick::decode_audio` makes mono samples of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio(pub Media);

macro_rules! file {
    ($($media:ident),*) => {
        $(
            impl $media {
                /// The file's bytes.
                pub fn bytes(&self) -> &[u8] {
                    &self.0.bytes
                }

                /// Its media type (`image/png`, `audio/wav`, …).
                pub fn mime(&self) -> &str {
                    &self.0.mime
                }

                /// A file of `bytes` whose media type is `mime`.
                pub fn new(mime: impl Into<String>, bytes: Vec<u8>) -> Self {
                    $media(Media::new(mime, bytes))
                }
            }
        )*
    };
}

file!(Image, Audio);

/// A conversation input: OpenAI's and Gradio's chat shape, a list of
/// messages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Chat(pub Vec<Message>);

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
}

/// An embedding output: a vector (declare its length with
/// `#[wick(dim = 384)]`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embedding(pub Vec<f32>);

/// A transcript output: timed pieces of text, shown as a table whose rows
/// seek the audio input.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Segments(pub Vec<Segment>);

/// One piece of a transcript.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Segment {
    /// Seconds into the audio where it starts.
    pub start: f64,
    /// Seconds into the audio where it ends.
    pub end: f64,
    /// What was said.
    pub text: String,
}

/// Named entities output: the text, shown with its entities marked and
/// labelled (Gradio's HighlightedText).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Entities {
    /// The text the entities are in.
    pub text: String,
    /// Its entities, in order, not overlapping.
    pub entities: Vec<Entity>,
}

/// One entity of a text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entity {
    /// Its label (`PER`, `LOC`, …).
    pub entity_group: String,
    /// How sure the model is, 0 to 1.
    pub score: f64,
    /// The entity as written.
    pub word: String,
    /// Characters (not bytes) into the text where it starts.
    pub start: usize,
    /// Characters into the text where it ends.
    pub end: usize,
}
