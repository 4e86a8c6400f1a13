//! Signatures: the typed description of an endpoint's inputs and outputs.

use serde::{Deserialize, Serialize};

use crate::{MediaKind, Value};

/// What one endpoint of a model takes and gives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// What it takes, in order.
    pub inputs: Vec<Field>,
    /// What it gives, in order.
    pub outputs: Vec<Field>,
}

impl Signature {
    /// The input named `name`.
    pub fn input(&self, name: &str) -> Option<&Field> {
        self.inputs.iter().find(|field| field.name == name)
    }
}

/// One named input or output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Its name in the API's JSON.
    pub name: String,
    /// What the page calls it.
    pub label: String,
    /// A sentence or two the page shows with it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Whether a request must give it.
    #[serde(default)]
    pub required: bool,
    /// What a request that leaves it out gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Its widget or view.
    pub kind: Kind,
}

impl Field {
    /// A field with a label derived from its name ("max_tokens" → "Max tokens").
    pub fn new(name: &str, kind: Kind) -> Self {
        Field {
            name: name.to_string(),
            label: label_from_name(name),
            description: String::new(),
            required: true,
            default: None,
            kind,
        }
    }

    /// The field with another label.
    pub fn label(mut self, label: &str) -> Self {
        self.label = label.to_string();
        self
    }

    /// The field with a description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_string();
        self
    }

    /// The field optional, with `default` for requests that leave it out.
    pub fn optional(mut self, default: Option<Value>) -> Self {
        self.required = false;
        self.default = default;
        self
    }

    /// The JSON value a text form of an input stands for (a command-line
    /// `-i name=value`, a multipart text part), typed by the field's kind:
    /// text stays text, lists take JSON or commas, anything else is read as
    /// JSON when it parses. Validation then says whether it fits.
    pub fn value_from_text(&self, raw: &str) -> serde_json::Value {
        match &self.kind {
            Kind::Text { .. }
            | Kind::Dropdown { .. }
            | Kind::Radio { .. }
            | Kind::Image { .. }
            | Kind::Audio { .. } => serde_json::Value::String(raw.to_string()),
            Kind::Chat { .. } => serde_json::from_str(raw)
                .unwrap_or_else(|_| serde_json::json!([{"role": "user", "content": raw}])),
            Kind::Tags { .. } => serde_json::from_str(raw).unwrap_or_else(|_| {
                raw.split(',')
                    .map(|item| serde_json::Value::String(item.trim().to_string()))
                    .collect()
            }),
            _ => serde_json::from_str(raw)
                .unwrap_or_else(|_| serde_json::Value::String(raw.to_string())),
        }
    }
}

fn label_from_name(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The widget an input is drawn as, or the view an output is shown in.
/// Input kinds and output kinds share one enum so a signature is one list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    // Inputs.
    /// A text box.
    Text {
        /// Its height in lines (1: a one-line input).
        #[serde(default = "one_line")]
        lines: u32,
        /// Shown while it is empty.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        placeholder: Option<String>,
        /// Most characters taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_chars: Option<usize>,
    },
    /// A number box.
    Number {
        /// The smallest number taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// The largest number taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        /// The step of its arrows (1: whole numbers only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<f64>,
    },
    /// A slider over a range.
    Slider {
        /// Its left end.
        min: f64,
        /// Its right end.
        max: f64,
        /// The distance between its stops.
        step: f64,
    },
    /// A checkbox: true or false.
    Checkbox,
    /// One choice among several, in a list.
    Dropdown {
        /// The choices, in order.
        choices: Vec<String>,
    },
    /// One choice among several, as buttons.
    Radio {
        /// The choices, in order.
        choices: Vec<String>,
    },
    /// A list of strings.
    Tags {
        /// Fewest items taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_items: Option<usize>,
        /// Most items taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_items: Option<usize>,
        /// Most characters of one item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_chars: Option<usize>,
    },
    /// A conversation: a list of `{"role", "content"}` messages, roles
    /// `system`, `user` or `assistant` (OpenAI's and Gradio's chat shape).
    Chat {
        /// Most messages taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_messages: Option<usize>,
        /// Most characters of all messages together.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_chars: Option<usize>,
    },
    // Inputs or outputs: a file, sent as a base64 `data:` URL (`Media`).
    /// An image (PNG, JPEG, WebP, GIF, BMP).
    Image {
        /// The largest file taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_bytes: Option<usize>,
    },
    /// An audio clip (WAV, FLAC, MP3, Ogg).
    Audio {
        /// The largest file taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_bytes: Option<usize>,
    },
    // Outputs.
    /// A classification: the best label and bars of confidence.
    Label {
        /// How many labels are shown (all when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        top_k: Option<usize>,
    },
    /// One number.
    Score,
    /// Any JSON, shown as such.
    Json,
    /// Timed pieces of a transcript: a list of `{"start", "end", "text"}`,
    /// start and end in seconds into the audio input. The demo shows them
    /// as a table whose rows seek the audio player.
    Segments,
    /// Labelled spans of a text (named entities; Gradio's
    /// HighlightedText): `{"text", "entities": [{"entity_group", "score",
    /// "word", "start", "end"}]}`, start and end in characters of `text`,
    /// as transformers' token-classification pipeline gives them.
    Entities,
    /// A vector of numbers.
    Embedding {
        /// Its length (0 when not declared).
        dim: usize,
    },
}

fn one_line() -> u32 {
    1
}

impl Kind {
    /// The JSON type name a client must send, for error messages.
    pub fn expected(&self) -> &'static str {
        match self {
            Kind::Text { .. } | Kind::Dropdown { .. } | Kind::Radio { .. } => "a string",
            Kind::Number { .. } | Kind::Slider { .. } | Kind::Score => "a number",
            Kind::Checkbox => "a boolean",
            Kind::Tags { .. } => "a list of strings",
            Kind::Chat { .. } => "a list of {\"role\", \"content\"} messages",
            Kind::Label { .. } => "a label",
            Kind::Json => "any JSON value",
            Kind::Segments => "a list of {\"start\", \"end\", \"text\"} segments",
            Kind::Entities => "{\"text\", \"entities\"}",
            Kind::Embedding { .. } => "a list of numbers",
            Kind::Image { .. } => "an image as a data: URL",
            Kind::Audio { .. } => "an audio clip as a data: URL",
        }
    }

    /// Whether a number of this kind must be whole: a `Number` or `Slider`
    /// stepping by whole numbers from a whole minimum (token counts, top-k,
    /// seeds). Validation refuses `1.5` there, and the schema says
    /// `integer`.
    pub fn is_integer(&self) -> bool {
        let whole = |x: f64| x.is_finite() && x.fract() == 0.0;
        match self {
            Kind::Number {
                min,
                step: Some(step),
                ..
            } => whole(*step) && *step >= 1.0 && min.is_none_or(whole),
            Kind::Slider { min, step, .. } => whole(*step) && *step >= 1.0 && whole(*min),
            _ => false,
        }
    }

    /// The media type and size limit of an `Image` or `Audio` field.
    pub fn media(&self) -> Option<(MediaKind, Option<usize>)> {
        match self {
            Kind::Image { max_bytes } => Some((MediaKind::Image, *max_bytes)),
            Kind::Audio { max_bytes } => Some((MediaKind::Audio, *max_bytes)),
            _ => None,
        }
    }
}

/// One endpoint of a model: a name, what it does, its signature, and how
/// it answers — everything an adapter needs to know of it, so that none
/// has to guess from the task's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Its name, as in its URL.
    pub name: String,
    /// What it does, for the page and the API's docs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What it takes, in order.
    pub inputs: Vec<Field>,
    /// What it gives, in order.
    pub outputs: Vec<Field>,
    /// Whether it sends partial outputs as it goes (tokens, transcript
    /// windows): a generator to Gradio's clients, SSE `partial` events.
    #[serde(default, skip_serializing_if = "is_false")]
    pub streams: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

impl Endpoint {
    /// Its inputs and outputs.
    pub fn signature(&self) -> Signature {
        Signature {
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_names() {
        assert_eq!(Field::new("max_tokens", Kind::Score).label, "Max tokens");
        assert_eq!(Field::new("a", Kind::Score).label, "A");
    }

    #[test]
    fn text_values_are_typed_by_the_field() {
        let tags = Field::new(
            "labels",
            Kind::Tags {
                min_items: None,
                max_items: None,
                max_chars: None,
            },
        );
        assert_eq!(tags.value_from_text("a, b"), serde_json::json!(["a", "b"]));
        assert_eq!(
            tags.value_from_text(r#"["a,b"]"#),
            serde_json::json!(["a,b"])
        );
        let text = Field::new(
            "text",
            Kind::Text {
                lines: 1,
                placeholder: None,
                max_chars: None,
            },
        );
        assert_eq!(text.value_from_text("42"), serde_json::json!("42"));
        let number = Field::new(
            "n",
            Kind::Number {
                min: None,
                max: None,
                step: None,
            },
        );
        assert_eq!(number.value_from_text("42"), serde_json::json!(42));
        assert_eq!(number.value_from_text("many"), serde_json::json!("many"));
    }

    #[test]
    fn kinds_serialize_with_a_type_tag() {
        let kind = Kind::Embedding { dim: 384 };
        let json = serde_json::to_value(&kind).unwrap();
        assert_eq!(json, serde_json::json!({"type": "embedding", "dim": 384}));
        let back: Kind = serde_json::from_value(json).unwrap();
        assert_eq!(back, kind);
    }
}
