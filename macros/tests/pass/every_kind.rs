//! Every kind of field the derives take, in one signature that compiles.

use wick::{Audio, Chat, Choice, Embedding, Entities, Image, Inputs, Label, Outputs, Segments};

#[derive(Choice)]
enum Tone {
    Plain,
    #[wick(rename = "very formal")]
    Formal,
}

/// Everything an input can be.
#[derive(Inputs)]
struct Everything {
    /// Text
    #[wick(lines = 3, placeholder = "Say something", max_chars = 200)]
    text: String,
    #[wick(slider, min = 0, max = 2, step = 0.1, default = 0.7)]
    temperature: f64,
    #[wick(min = 1, max = 64)]
    count: u32,
    shout: bool,
    #[wick(radio)]
    tone: Tone,
    #[wick(max_items = 8)]
    tags: Vec<String>,
    #[wick(max_bytes = 1_000_000)]
    photo: Option<Image>,
    clip: Option<Audio>,
    #[wick(max_messages = 16)]
    chat: Option<Chat>,
    #[wick(default = "en")]
    language: String,
    extra: Option<serde_json::Value>,
}

/// Everything an output can be.
#[derive(Outputs)]
struct Results {
    text: String,
    score: f32,
    #[wick(top_k = 3)]
    label: Label,
    #[wick(dim = 4)]
    vector: Embedding,
    picture: Option<Image>,
    transcript: Segments,
    names: Entities,
    tone: Tone,
}

fn main() {
    assert_eq!(Everything::fields().len(), 11);
    assert_eq!(Results::fields().len(), 8);
}
