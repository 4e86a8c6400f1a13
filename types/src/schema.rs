//! JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) for signatures: what a
//! client must send to an endpoint and what it gets back.

use serde_json::{Value, json};

use crate::{Field, Kind, MAX_CONFIDENCES, MAX_LABEL_CHARS};

/// `integer` for the kinds that count, else `number`.
fn number_type(kind: &Kind) -> &'static str {
    if kind.is_integer() {
        "integer"
    } else {
        "number"
    }
}

/// The schema of one value of `kind`.
pub fn kind_schema(kind: &Kind) -> Value {
    match kind {
        Kind::Text { max_chars, .. } => with_optional(
            json!({"type": "string"}),
            "maxLength",
            max_chars.map(Value::from),
        ),
        Kind::Number { min, max, .. } => {
            let schema = json!({"type": number_type(kind)});
            let schema = with_optional(schema, "minimum", min.map(Value::from));
            with_optional(schema, "maximum", max.map(Value::from))
        }
        Kind::Slider { min, max, .. } => {
            json!({"type": number_type(kind), "minimum": min, "maximum": max})
        }
        Kind::Checkbox => json!({"type": "boolean"}),
        Kind::Dropdown { choices } | Kind::Radio { choices } => {
            json!({"type": "string", "enum": choices})
        }
        Kind::Tags {
            min_items,
            max_items,
            max_chars,
        } => {
            let items = with_optional(
                json!({"type": "string"}),
                "maxLength",
                max_chars.map(Value::from),
            );
            let schema = with_optional(
                json!({"type": "array", "items": items}),
                "minItems",
                min_items.map(Value::from),
            );
            with_optional(schema, "maxItems", max_items.map(Value::from))
        }
        Kind::Label { top_k } => json!({
            "type": "object",
            "properties": {
                "label": {"type": "string", "maxLength": MAX_LABEL_CHARS},
                "confidences": {
                    "type": "array",
                    "maxItems": top_k.unwrap_or(MAX_CONFIDENCES),
                    "items": {
                        "type": "object",
                        "properties": {
                            "label": {"type": "string", "maxLength": MAX_LABEL_CHARS},
                            "confidence": {"type": "number"}
                        },
                        "required": ["label", "confidence"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["label", "confidences"],
            "additionalProperties": false
        }),
        Kind::Score => json!({"type": "number"}),
        Kind::Json => json!({}),
        Kind::Segments => json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "start": {"type": "number", "description": "seconds"},
                    "end": {"type": "number", "description": "seconds"},
                    "text": {"type": "string"}
                },
                "required": ["start", "end", "text"]
            }
        }),
        Kind::Entities => json!({
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "entities": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "entity_group": {"type": "string"},
                            "score": {"type": "number"},
                            "word": {"type": "string"},
                            "start": {"type": "integer", "minimum": 0, "description": "characters into text"},
                            "end": {"type": "integer", "minimum": 0}
                        },
                        "required": ["entity_group", "score", "start", "end"]
                    }
                }
            },
            "required": ["text", "entities"]
        }),
        Kind::Chat { max_messages, .. } => with_optional(
            json!({
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["role", "content"],
                    "additionalProperties": false,
                    "properties": {
                        "role": {"type": "string", "enum": crate::validate::CHAT_ROLES},
                        "content": {"type": "string"},
                    },
                },
            }),
            "maxItems",
            max_messages.map(|max| json!(max)),
        ),
        Kind::Image { max_bytes } | Kind::Audio { max_bytes } => {
            let top = if matches!(kind, Kind::Image { .. }) {
                "image"
            } else {
                "audio"
            };
            let limit = max_bytes
                .map(|max| format!(" of at most {max} bytes"))
                .unwrap_or_default();
            json!({
                "type": "string",
                "format": "uri",
                // Canonical base64 of at least one byte, as the server takes.
                "pattern": format!(
                    "^data:{top}/[A-Za-z0-9!#$&^_.+-]+(;[A-Za-z0-9!#$&^_.+-]+=[A-Za-z0-9!#$&^_.+-]+)*;base64,([A-Za-z0-9+/]{{4}})*([A-Za-z0-9+/]{{4}}|[A-Za-z0-9+/]{{3}}=|[A-Za-z0-9+/]{{2}}==)$"
                ),
                "contentMediaType": format!("{top}/*"),
                "description": format!("A {top} file{limit} as a base64 data: URL (RFC 2397), e.g. data:{top}/…;base64,…"),
            })
        }
        Kind::Embedding { dim } => {
            json!({"type": "array", "items": {"type": "number"}, "minItems": dim, "maxItems": dim})
        }
    }
}

/// The schema of an object holding `fields` by name. Inputs are closed
/// (unknown names are refused); every output is always present.
pub fn fields_schema(fields: &[Field], closed: bool) -> Value {
    let properties: serde_json::Map<String, Value> = fields
        .iter()
        .map(|field| {
            let mut schema = kind_schema(&field.kind);
            if let Value::Object(map) = &mut schema {
                map.insert("title".into(), field.label.clone().into());
                if !field.description.is_empty() {
                    // A field's own words come first; a kind's (how media is
                    // sent) follow rather than being replaced.
                    let description = match map.get("description").and_then(Value::as_str) {
                        Some(wire) => format!("{} {wire}", field.description),
                        None => field.description.clone(),
                    };
                    map.insert("description".into(), description.into());
                }
                if let Some(default) = &field.default
                    && let Ok(default) = serde_json::to_value(default)
                {
                    map.insert("default".into(), default);
                }
            }
            (field.name.clone(), schema)
        })
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|field| !closed || (field.required && field.default.is_none()))
        .map(|field| field.name.as_str())
        .collect();
    let mut schema = json!({"type": "object", "properties": properties, "required": required});
    if closed {
        schema["additionalProperties"] = Value::Bool(false);
    }
    schema
}

fn with_optional(mut schema: Value, key: &str, value: Option<Value>) -> Value {
    if let Some(value) = value {
        schema[key] = value;
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_closed_objects_with_their_required_fields() {
        let fields = vec![
            Field::new(
                "text",
                Kind::Text {
                    lines: 1,
                    placeholder: None,
                    max_chars: Some(10),
                },
            ),
            Field::new("flag", Kind::Checkbox).optional(None),
        ];
        let schema = fields_schema(&fields, true);
        assert_eq!(schema["required"], json!(["text"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["properties"]["text"]["maxLength"], json!(10));
        assert_eq!(schema["properties"]["flag"]["type"], json!("boolean"));
    }

    #[test]
    fn media_is_a_data_url_string_of_its_type() {
        let schema = kind_schema(&Kind::Image {
            max_bytes: Some(1000),
        });
        assert_eq!(schema["type"], json!("string"));
        assert_eq!(schema["contentMediaType"], json!("image/*"));
        let pattern = schema["pattern"].as_str().unwrap();
        assert!(pattern.starts_with("^data:image/"), "{pattern}");
        assert!(
            schema["description"]
                .as_str()
                .unwrap()
                .contains("1000 bytes")
        );
        let audio = kind_schema(&Kind::Audio { max_bytes: None });
        assert_eq!(audio["contentMediaType"], json!("audio/*"));
    }
}
