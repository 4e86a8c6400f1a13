//! `GET /config` and `GET /gradio_api/info`: every endpoint of every model
//! described the way a Gradio app describes its event listeners, so
//! `Client(url)` connects and `view_api()` lists them. Each field of a
//! signature becomes the Gradio component of its kind (a text is a
//! Textbox, a label a Label, an image an Image taking a `FileData`...);
//! each endpoint is one dependency whose inputs and outputs are its own
//! components, named (`api_name`) as `ApiEndpoint` says.

use serde_json::{Value, json};
use wick_types::{Field, Kind, ModelInfo, kind_schema};

use super::ApiEndpoint;

/// The Gradio release whose protocol this speaks (`sse_v3`, routes under
/// `/gradio_api`): clients pick their code paths by it.
pub const GRADIO_VERSION: &str = "5.49.1";

/// One field as a Gradio component.
struct Component {
    /// The config's `type` (`textbox`); the class name is its capitalized form.
    kind: &'static str,
    class: &'static str,
    schema: Value,
    python_type: String,
    example: Value,
    props: Value,
}

fn component(field: &Field, model: &ModelInfo, root: &str) -> Component {
    let literal = |choices: &[String]| {
        let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
        format!("Literal[{}]", quoted.join(", "))
    };
    let first = |choices: &[String]| choices.first().cloned().map_or(Value::Null, Value::String);
    let range = |min: Option<f64>, max: Option<f64>, step: Option<f64>| json!({"minimum": min, "maximum": max, "step": step});
    let (kind, class, schema, python_type, example, props) = match &field.kind {
        Kind::Text {
            lines, placeholder, ..
        } => (
            "textbox",
            "Textbox",
            json!({"type": "string"}),
            "str".to_string(),
            json!("Hello!!"),
            json!({"lines": lines, "placeholder": placeholder}),
        ),
        Kind::Number { min, max, step } => (
            "number",
            "Number",
            json!({"type": "number"}),
            "float".to_string(),
            json!(min.unwrap_or(3.0)),
            range(*min, *max, *step),
        ),
        Kind::Slider { min, max, step } => (
            "slider",
            "Slider",
            json!({"type": "number", "description": format!("numeric value between {min} and {max}")}),
            "float".to_string(),
            json!(min),
            range(Some(*min), Some(*max), Some(*step)),
        ),
        Kind::Checkbox => (
            "checkbox",
            "Checkbox",
            json!({"type": "boolean"}),
            "bool".to_string(),
            json!(true),
            json!({}),
        ),
        Kind::Dropdown { choices } => (
            "dropdown",
            "Dropdown",
            json!({"type": "string", "enum": choices}),
            literal(choices),
            first(choices),
            json!({"choices": pairs(choices), "multiselect": false}),
        ),
        Kind::Radio { choices } => (
            "radio",
            "Radio",
            json!({"type": "string", "enum": choices, "title": "Radio"}),
            literal(choices),
            first(choices),
            json!({"choices": pairs(choices)}),
        ),
        Kind::Tags { .. } => (
            "dropdown",
            "Dropdown",
            json!({"type": "array", "items": {"type": "string"}}),
            "list[str]".to_string(),
            json!(["Hello!!"]),
            json!({"choices": [], "multiselect": true, "allow_custom_value": true}),
        ),
        Kind::Chat { .. } => (
            "chatbot",
            "Chatbot",
            json!({
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
                    "required": ["role", "content"],
                },
                "title": "ChatbotDataMessages",
            }),
            "list[dict(role: str, content: str)]".to_string(),
            json!([{"role": "user", "content": "Hello!"}]),
            json!({"type": "messages"}),
        ),
        Kind::Image { .. } | Kind::Audio { .. } => {
            let (kind, class) = match field.kind {
                Kind::Image { .. } => ("image", "Image"),
                _ => ("audio", "Audio"),
            };
            (
                kind,
                class,
                file_data_schema(),
                "filepath".to_string(),
                example_file(field, model, root),
                json!({"type": "filepath"}),
            )
        }
        Kind::Label { .. } => (
            "label",
            "Label",
            label_schema(),
            "dict(label: str, confidences: list[dict(label: str, confidence: float)])".to_string(),
            json!({"label": "Cat", "confidences": [{"label": "Cat", "confidence": 0.9}]}),
            json!({}),
        ),
        Kind::Score => (
            "number",
            "Number",
            json!({"type": "number"}),
            "float".to_string(),
            json!(0.5),
            json!({}),
        ),
        Kind::Json => (
            "json",
            "Json",
            json!({"type": {}, "description": "any valid json"}),
            "str | float | bool | list | dict".to_string(),
            json!({"foo": "bar"}),
            json!({}),
        ),
        Kind::Segments => (
            "json",
            "Json",
            kind_schema(&field.kind),
            "list[dict(start: float, end: float, text: str)]".to_string(),
            json!([{"start": 0.0, "end": 2.5, "text": " Hello."}]),
            json!({}),
        ),
        Kind::Entities => (
            "highlightedtext",
            "Highlightedtext",
            json!({
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "token": {"type": "string"},
                        "class_or_confidence": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]}
                    },
                    "required": ["token", "class_or_confidence"]
                },
                "title": "HighlightedText"
            }),
            "list[dict(token: str, class_or_confidence: str | float | None)]".to_string(),
            json!([{"token": "Marie Curie", "class_or_confidence": "PER"}, {"token": " worked in ", "class_or_confidence": null}]),
            json!({"combine_adjacent": false, "show_legend": true}),
        ),
        Kind::Embedding { dim } => (
            "json",
            "Json",
            json!({"type": "array", "items": {"type": "number"}, "description": format!("{dim} numbers")}),
            "list[float]".to_string(),
            json!([0.1, 0.2]),
            json!({}),
        ),
    };
    // The model's own example for this field, where it has one.
    let example = match &field.kind {
        Kind::Image { .. } | Kind::Audio { .. } => example,
        _ => model
            .examples
            .iter()
            .find_map(|e| e.inputs.get(&field.name).cloned())
            .unwrap_or(example),
    };
    Component {
        kind,
        class,
        schema,
        python_type,
        example,
        props,
    }
}

fn pairs(choices: &[String]) -> Vec<[&String; 2]> {
    choices.iter().map(|c| [c, c]).collect()
}

/// A model's example file for `field` as a `FileData` URL (the snippet's
/// `handle_file(...)`), else a placeholder path.
fn example_file(field: &Field, model: &ModelInfo, root: &str) -> Value {
    let url = model
        .examples
        .iter()
        .find_map(|e| e.inputs.get(&field.name).and_then(Value::as_str))
        .filter(|path| !path.starts_with("data:"))
        .map(|path| format!("{root}/api/models/{}/files/{path}", model.name));
    match url {
        Some(url) => json!({"path": url, "url": url, "meta": {"_type": "gradio.FileData"}}),
        None => json!({"path": "cat.jpg", "meta": {"_type": "gradio.FileData"}}),
    }
}

fn file_data_schema() -> Value {
    let optional = |kind: &str, description: &str| json!({"anyOf": [{"type": kind}, {"type": "null"}], "default": null, "description": description});
    json!({
        "title": "FileData",
        "type": "object",
        "properties": {
            "path": optional("string", "Path of a file uploaded to /gradio_api/upload"),
            "url": optional("string", "The file's URL on this server, or a data: URL"),
            "size": optional("integer", "Size in bytes"),
            "orig_name": optional("string", "Original file name"),
            "mime_type": optional("string", "MIME type"),
            "is_stream": {"type": "boolean", "default": false},
            "meta": {"type": "object", "default": {"_type": "gradio.FileData"}},
        },
        "additional_description": "A local filepath or a URL of this server.",
    })
}

fn label_schema() -> Value {
    json!({
        "title": "LabelData",
        "type": "object",
        "properties": {
            "label": {"type": "string"},
            "confidences": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"label": {"type": "string"}, "confidence": {"type": "number"}},
                },
            },
        },
    })
}

/// `GET /config`.
pub fn config(endpoints: &[ApiEndpoint], root: &str, max_file_size: Option<usize>) -> Value {
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    let mut children = Vec::new();
    let mut next_id = 1;
    let mut id = || {
        next_id += 1;
        next_id - 1
    };
    for api in endpoints {
        let mut ids = |fields: &[Field], components: &mut Vec<Value>| -> Vec<usize> {
            fields
                .iter()
                .map(|field| {
                    let c = component(field, &api.model, root);
                    let id = id();
                    let mut props = c.props;
                    props["label"] = json!(field.label);
                    props["show_label"] = json!(true);
                    props["visible"] = json!(true);
                    props["name"] = json!(c.kind);
                    if let Some(default) = &field.default {
                        props["value"] = json!(default);
                    }
                    components.push(json!({
                        "id": id,
                        "type": c.kind,
                        "props": props,
                        "skip_api": false,
                        "api_info": c.schema,
                        "api_info_as_input": c.schema,
                        "api_info_as_output": c.schema,
                        "example_inputs": c.example,
                    }));
                    id
                })
                .collect()
        };
        let inputs = ids(&api.endpoint.inputs, &mut components);
        let outputs = ids(&api.endpoint.outputs, &mut components);
        let button = id();
        components.push(json!({
            "id": button,
            "type": "button",
            "props": {"value": api.api_name, "variant": "primary", "visible": true, "name": "button"},
            "skip_api": true,
        }));
        children.extend(
            inputs
                .iter()
                .chain(&outputs)
                .chain([&button])
                .map(|id| json!({"id": id})),
        );
        dependencies.push(json!({
            "id": api.fn_index,
            "targets": [[button, "click"]],
            "inputs": inputs,
            "outputs": outputs,
            "backend_fn": true,
            "js": null,
            "queue": true,
            "api_name": api.api_name,
            "api_description": api.endpoint.description,
            "scroll_to_output": false,
            "show_progress": "full",
            "batch": false,
            "max_batch_size": 4,
            "cancels": [],
            "types": {"generator": api.streams(), "cancel": false},
            "collects_event_data": false,
            "trigger_after": null,
            "trigger_only_on_success": false,
            "trigger_only_on_failure": false,
            "trigger_mode": "once",
            "api_visibility": "public",
            "show_api": true,
            "rendered_in": null,
            "render_id": null,
            "connection": "sse",
            "time_limit": null,
            "stream_every": 0.5,
            "event_specific_args": null,
            "component_prop_inputs": [],
            "js_implementation": null,
        }));
    }
    let title = match endpoints {
        [first, ..] if endpoints.iter().all(|e| e.model.name == first.model.name) => {
            first.model.title.clone()
        }
        _ => "Wick".to_string(),
    };
    json!({
        "version": GRADIO_VERSION,
        "wick_version": env!("CARGO_PKG_VERSION"),
        "api_prefix": "/gradio_api",
        "mode": "blocks",
        "app_id": 0,
        "dev_mode": false,
        "analytics_enabled": false,
        "components": components,
        "css": null,
        "connect_heartbeat": false,
        "js": null,
        "head": null,
        "title": title,
        "space_id": null,
        "enable_queue": true,
        "show_error": true,
        "is_colab": false,
        "max_file_size": max_file_size,
        "stylesheets": [],
        "theme": "default",
        "protocol": "sse_v3",
        "fill_height": false,
        "fill_width": false,
        "pwa": false,
        "dependencies": dependencies,
        "layout": {"id": 0, "children": children},
        "username": null,
        "root": root,
    })
}

/// `GET /gradio_api/info`.
pub fn info(endpoints: &[ApiEndpoint], root: &str) -> Value {
    let named: serde_json::Map<String, Value> = endpoints
        .iter()
        .map(|api| {
            let parameters: Vec<Value> = api
                .endpoint
                .inputs
                .iter()
                .map(|field| {
                    let c = component(field, &api.model, root);
                    json!({
                        "label": field.label,
                        "parameter_name": field.name,
                        "parameter_has_default": !field.required,
                        "parameter_default": field.default,
                        "type": c.schema,
                        "python_type": {"type": c.python_type, "description": field.description},
                        "component": c.class,
                        "example_input": c.example,
                        "description": field.description,
                    })
                })
                .collect();
            let returns: Vec<Value> = api
                .endpoint
                .outputs
                .iter()
                .map(|field| {
                    let c = component(field, &api.model, root);
                    json!({
                        "label": field.label,
                        "type": c.schema,
                        "python_type": {"type": c.python_type, "description": field.description},
                        "component": c.class,
                    })
                })
                .collect();
            let info = json!({
                "parameters": parameters,
                "returns": returns,
                "api_visibility": "public",
                "show_api": true,
                "description": api.endpoint.description,
            });
            (format!("/{}", api.api_name), info)
        })
        .collect();
    json!({"named_endpoints": named, "unnamed_endpoints": {}})
}
