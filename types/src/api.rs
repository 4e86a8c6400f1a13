//! Bodies of the JSON API, shared by the server and any Rust client.

use serde::{Deserialize, Serialize};

use crate::{Endpoint, Values};

/// `GET /api/models`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Every model served, by name.
    pub models: Vec<ModelInfo>,
}

/// `GET /api/models/{model}`: everything a client or the UI needs to draw
/// and call a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model's name, as in its URL (`/m/{name}`).
    pub name: String,
    /// The version that serves most of the traffic.
    pub version: String,
    /// Every loaded version, in the order they were loaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// The task it runs (`sentence-embedding`, a user's own…).
    pub task: String,
    /// The page's title.
    #[serde(default)]
    pub title: String,
    /// Markdown shown under the title.
    #[serde(default)]
    pub description: String,
    /// Longer markdown shown under the demo.
    #[serde(default)]
    pub article: String,
    /// What it answers, with signatures.
    pub endpoints: Vec<Endpoint>,
    /// Example inputs per endpoint, in the order wick.toml lists them.
    #[serde(default)]
    pub examples: Vec<Example>,
    /// The Flag button's options; none: no button.
    #[serde(default)]
    pub flagging_options: Vec<String>,
}

impl ModelInfo {
    /// The endpoint named `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|endpoint| endpoint.name == name)
    }

    /// The endpoint's name in Gradio's client protocol (`api_name`, without
    /// its slash): the endpoint's own when this is the only model served,
    /// else prefixed by the model (`minilm_similarity`).
    pub fn gradio_api_name(&self, endpoint: &str, models_served: usize) -> String {
        if models_served > 1 {
            format!("{}_{endpoint}", self.name)
        } else {
            endpoint.to_string()
        }
    }

    /// The endpoint's tool name for MCP clients: its Gradio `api_name`
    /// with what tool names may not hold (anything but letters, digits,
    /// `_` and `-`) replaced by `_`, at most 64 characters, as Gradio
    /// names its tools.
    pub fn mcp_tool_name(&self, endpoint: &str, models_served: usize) -> String {
        self.gradio_api_name(endpoint, models_served)
            .chars()
            .map(
                |c| match c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    true => c,
                    false => '_',
                },
            )
            .take(64)
            .collect()
    }
}

/// An example the page offers: inputs for one endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The endpoint it fills.
    pub endpoint: String,
    /// Its inputs, as the JSON API takes them.
    pub inputs: serde_json::Map<String, serde_json::Value>,
}

/// `POST /api/models/{model}/{endpoint}`: one set of inputs, or a list of
/// them for a client-side batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictRequest {
    /// One set of inputs, or several.
    pub inputs: OneOrMany<serde_json::Map<String, serde_json::Value>>,
}

/// One value, or a list of them (a JSON object or an array of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single one.
    One(T),
    /// A client-side batch.
    Many(Vec<T>),
}

/// The answer to a prediction; `outputs` mirrors the request's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    /// The outputs of each set of inputs.
    pub outputs: OneOrMany<Values>,
    /// The model that answered.
    pub model: String,
    /// The version that answered.
    pub version: String,
    /// How long it took, queueing included.
    pub duration_ms: f64,
}

/// Every API error: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// One failure: its code, a readable message, and the input at fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// An `ErrorCode`'s snake_case name.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The input at fault, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The longest flag comment kept, in characters (the API refuses longer
/// ones; the UI's comment box stops there).
pub const MAX_COMMENT_CHARS: usize = 2000;
/// Most bytes of one flag as JSON (inputs, outputs, comment and all): one
/// request cannot grow the feedback store by more.
pub const MAX_FLAG_BYTES: usize = 64 * 1024;

/// `POST /api/models/{model}/feedback`, and the UI's Flag button: a
/// prediction someone flagged, tied to the model version that made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlagRequest {
    /// The endpoint that answered.
    pub endpoint: String,
    /// The inputs it was given.
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// The outputs it gave.
    pub outputs: serde_json::Map<String, serde_json::Value>,
    /// One of the model's flagging options (wick.toml `[flagging]`).
    pub option: String,
    /// What the person flagging said, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// How long the flagged prediction took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// The version that made the prediction; the loaded one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The answer to a stored flag (201 Created).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlagResponse {
    /// The stored flag's id.
    pub id: String,
    /// When it was stored (UTC, RFC 3339).
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_gradio_api_names_made_safe() {
        let model = ModelInfo {
            name: "efficientnet-lite0.v2".into(),
            version: "1".into(),
            versions: Vec::new(),
            task: "image-classification".into(),
            title: String::new(),
            description: String::new(),
            article: String::new(),
            endpoints: Vec::new(),
            examples: Vec::new(),
            flagging_options: Vec::new(),
        };
        assert_eq!(model.mcp_tool_name("classify", 1), "classify");
        assert_eq!(
            model.mcp_tool_name("classify", 2),
            "efficientnet-lite0_v2_classify"
        );
        assert_eq!(model.mcp_tool_name(&"x".repeat(80), 1).len(), 64);
    }
}
