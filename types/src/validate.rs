//! Checking a request's inputs against a signature.
//!
//! Every adapter (JSON API, UI, CLI) calls `validate_inputs` before anything
//! reaches a model, so a task only ever sees values of the kinds it declared.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Field, Kind, Media, Value, Values};

/// Why an input was refused; always names the field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// The input's name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

impl FieldError {
    /// The error of input `field`.
    pub fn new(field: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

fn refuse(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

/// Turns a JSON object into typed values, or says which field is wrong.
/// Unknown fields are refused (a typo should not silently use a default);
/// missing optional fields take their default.
pub fn validate_inputs(
    fields: &[Field],
    json: &serde_json::Map<String, serde_json::Value>,
) -> Result<Values, FieldError> {
    refuse_unknown(fields, json, "unknown input; this endpoint takes")?;
    let mut values = Values::new();
    for field in fields {
        match json.get(&field.name) {
            // Null is "no value" only where a client has no other way to
            // say it; elsewhere it is refused, as the schema says (leave the
            // input out for its default).
            Some(serde_json::Value::Null) if !matches!(field.kind, Kind::Json) => {
                let default = if field.required {
                    "it is required".to_string()
                } else {
                    "leave it out for its default".to_string()
                };
                return Err(refuse(
                    &field.name,
                    format!("expected {}, got null ({default})", field.kind.expected()),
                ));
            }
            None => {
                if let Some(default) = &field.default {
                    values.insert(field.name.clone(), default.clone());
                } else if field.required {
                    return Err(refuse(&field.name, "is required"));
                }
            }
            Some(raw) => {
                values.insert(field.name.clone(), validate_value(field, raw)?);
            }
        }
    }
    Ok(values)
}

/// `validate_inputs`, with files that arrived as bytes (a multipart part,
/// a Gradio upload, a V2 tensor) given as `media` rather than as `data:`
/// URLs in the JSON: they are checked as files of their field and become
/// values as they are, never encoded to text and back. (A wrapper, so the
/// WASM UI, which calls only `validate_inputs`, carries none of this.)
pub fn validate_inputs_with(
    fields: &[Field],
    json: &serde_json::Map<String, serde_json::Value>,
    media: std::collections::BTreeMap<String, Media>,
) -> Result<Values, FieldError> {
    let mut files = Values::new();
    for (name, file) in media {
        let field = fields.iter().find(|f| f.name == name);
        let Some((kind, max_bytes)) = field.and_then(|f| f.kind.media()) else {
            return Err(refuse(&name, "is a file, and no file input has this name"));
        };
        if json.contains_key(&name) {
            return Err(refuse(&name, "is given twice, as a file and as JSON"));
        }
        file.check(kind, max_bytes)
            .map_err(|message| refuse(&name, message))?;
        files.insert(name, Value::Media(file));
    }
    let rest: Vec<Field> = fields
        .iter()
        .filter(|field| !files.contains_key(&field.name))
        .cloned()
        .collect();
    let mut values = validate_inputs(&rest, json)?;
    values.extend(files);
    Ok(values)
}

/// Most characters of a label (and of each label's name in its confidences)
/// accepted back with a flag.
pub const MAX_LABEL_CHARS: usize = 500;
/// Most confidences of a label accepted back, where the kind sets no top_k.
pub const MAX_CONFIDENCES: usize = 1000;

/// Checks a prediction's outputs, as sent back with a flag, as strictly as
/// inputs: every output of the signature is present, no other, each of
/// exactly its kind's JSON shape (no extra keys, bounded lengths).
pub fn validate_outputs(
    fields: &[Field],
    json: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), FieldError> {
    refuse_unknown(fields, json, "unknown output; this endpoint gives")?;
    for field in fields {
        let raw = json
            .get(&field.name)
            .ok_or_else(|| refuse(&field.name, "is required"))?;
        let name = field.name.as_str();
        let wrong_type = || wrong_type(field, raw);
        match &field.kind {
            Kind::Label { top_k } => check_label(name, raw, top_k.unwrap_or(MAX_CONFIDENCES))?,
            Kind::Score if raw.is_number() => {}
            Kind::Score => return Err(wrong_type()),
            Kind::Embedding { dim } => {
                let items = raw.as_array().ok_or_else(wrong_type)?;
                if items.len() != *dim {
                    return Err(refuse(
                        name,
                        format!("expected {dim} numbers, got {}", items.len()),
                    ));
                }
                if let Some(index) = items.iter().position(|item| !item.is_number()) {
                    return Err(refuse(name, format!("item {index} is not a number")));
                }
            }
            Kind::Json => {}
            Kind::Segments => check_segments(name, raw)?,
            Kind::Entities => check_entities(name, raw)?,
            _ => {
                validate_value(field, raw)?;
            }
        }
    }
    Ok(())
}

/// A label object: `label` and `confidences` (each `label`, `confidence`)
/// and nothing else, with bounded lengths.
fn check_label(
    name: &str,
    raw: &serde_json::Value,
    max_confidences: usize,
) -> Result<(), FieldError> {
    let object = raw.as_object().ok_or_else(|| {
        refuse(
            name,
            format!("expected a label object, got {}", json_type(raw)),
        )
    })?;
    let short_text = |value: Option<&serde_json::Value>, what: &str| -> Result<(), FieldError> {
        let text = value
            .and_then(|v| v.as_str())
            .ok_or_else(|| refuse(name, format!("{what} must be a string")))?;
        let count = text.chars().count();
        if count > MAX_LABEL_CHARS {
            return Err(refuse(
                name,
                format!("{what} is {count} characters long; the limit is {MAX_LABEL_CHARS}"),
            ));
        }
        Ok(())
    };
    if let Some(key) = object.keys().find(|k| *k != "label" && *k != "confidences") {
        return Err(refuse(
            name,
            format!("unknown key `{key}`; a label has label and confidences"),
        ));
    }
    short_text(object.get("label"), "`label`")?;
    let confidences = object
        .get("confidences")
        .and_then(|c| c.as_array())
        .ok_or_else(|| refuse(name, "`confidences` must be a list"))?;
    if confidences.len() > max_confidences {
        return Err(refuse(
            name,
            format!(
                "has {} confidences; at most {max_confidences}",
                confidences.len()
            ),
        ));
    }
    for (index, item) in confidences.iter().enumerate() {
        let what = format!("`confidences[{index}]`");
        let entry = item
            .as_object()
            .ok_or_else(|| refuse(name, format!("{what} must be an object")))?;
        if entry.len() != 2 || !entry.get("confidence").is_some_and(|c| c.is_number()) {
            return Err(refuse(
                name,
                format!("{what} must be exactly {{\"label\": string, \"confidence\": number}}"),
            ));
        }
        short_text(entry.get("label"), &format!("{what}.label"))?;
    }
    Ok(())
}

/// Refuses the first name in `json` that is not a field, listing the fields.
fn refuse_unknown(
    fields: &[Field],
    json: &serde_json::Map<String, serde_json::Value>,
    message: &str,
) -> Result<(), FieldError> {
    match json
        .keys()
        .find(|key| !fields.iter().any(|f| &f.name == *key))
    {
        Some(unknown) => {
            let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            Err(refuse(unknown, format!("{message}: {}", known.join(", "))))
        }
        None => Ok(()),
    }
}

/// "expected a string, got a number", naming the field.
fn wrong_type(field: &Field, raw: &serde_json::Value) -> FieldError {
    refuse(
        &field.name,
        format!("expected {}, got {}", field.kind.expected(), json_type(raw)),
    )
}

fn validate_value(field: &Field, raw: &serde_json::Value) -> Result<Value, FieldError> {
    let name = field.name.as_str();
    let wrong_type = || wrong_type(field, raw);
    match &field.kind {
        Kind::Text { max_chars, .. } => {
            let text = raw.as_str().ok_or_else(wrong_type)?;
            check_length(name, text, *max_chars)?;
            Ok(Value::Text(text.to_string()))
        }
        Kind::Number { min, max, .. } => {
            let number = raw.as_f64().ok_or_else(wrong_type)?;
            check_number(name, &field.kind, number, *min, *max)?;
            Ok(Value::Number(number))
        }
        Kind::Slider { min, max, .. } => {
            let number = raw.as_f64().ok_or_else(wrong_type)?;
            check_number(name, &field.kind, number, Some(*min), Some(*max))?;
            Ok(Value::Number(number))
        }
        Kind::Checkbox => raw.as_bool().map(Value::Bool).ok_or_else(wrong_type),
        Kind::Dropdown { choices } | Kind::Radio { choices } => {
            let choice = raw.as_str().ok_or_else(wrong_type)?;
            if !choices.iter().any(|c| c == choice) {
                return Err(refuse(
                    name,
                    format!("`{choice}` is not one of: {}", choices.join(", ")),
                ));
            }
            Ok(Value::Text(choice.to_string()))
        }
        Kind::Tags {
            min_items,
            max_items,
            max_chars,
        } => {
            let items = raw.as_array().ok_or_else(wrong_type)?;
            let mut strings = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let text = item.as_str().ok_or_else(|| {
                    refuse(
                        name,
                        format!("item {index} must be a string, got {}", json_type(item)),
                    )
                })?;
                check_length(name, text, *max_chars)?;
                strings.push(text.to_string());
            }
            if let Some(min) = min_items
                && strings.len() < *min
            {
                return Err(refuse(
                    name,
                    format!("needs at least {min} items, got {}", strings.len()),
                ));
            }
            if let Some(max) = max_items
                && strings.len() > *max
            {
                return Err(refuse(
                    name,
                    format!("takes at most {max} items, got {}", strings.len()),
                ));
            }
            Ok(Value::Strings(strings))
        }
        Kind::Json => Ok(Value::Json(raw.clone())),
        Kind::Chat {
            max_messages,
            max_chars,
        } => check_chat(name, raw, *max_messages, *max_chars),
        Kind::Image { .. } | Kind::Audio { .. } => {
            let url = raw.as_str().ok_or_else(wrong_type)?;
            let (kind, max_bytes) = field.kind.media().ok_or_else(wrong_type)?;
            Media::from_data_url(url, kind, max_bytes)
                .map(Value::Media)
                .map_err(|message| refuse(name, message))
        }
        Kind::Label { .. }
        | Kind::Score
        | Kind::Segments
        | Kind::Entities
        | Kind::Embedding { .. } => Err(refuse(name, "is an output kind and cannot be an input")),
    }
}

/// Segments: a list of objects with a numeric `start` and `end` and a
/// string `text`.
fn check_segments(name: &str, raw: &serde_json::Value) -> Result<(), FieldError> {
    let items = raw
        .as_array()
        .ok_or_else(|| refuse(name, "expected a list of segments"))?;
    for (index, item) in items.iter().enumerate() {
        let well_formed =
            item["start"].is_number() && item["end"].is_number() && item["text"].is_string();
        if !well_formed {
            return Err(refuse(
                name,
                format!("segment {index} needs a numeric start and end and a text"),
            ));
        }
    }
    Ok(())
}

/// Entities: a text and spans of it, each with a label, a score and
/// character offsets within the text.
fn check_entities(name: &str, raw: &serde_json::Value) -> Result<(), FieldError> {
    let chars = raw["text"]
        .as_str()
        .ok_or_else(|| refuse(name, "needs a `text`"))?
        .chars()
        .count() as u64;
    let entities = raw["entities"]
        .as_array()
        .ok_or_else(|| refuse(name, "needs a list of `entities`"))?;
    for (index, entity) in entities.iter().enumerate() {
        let (start, end) = (entity["start"].as_u64(), entity["end"].as_u64());
        let well_formed = entity["entity_group"].is_string()
            && entity["score"].is_number()
            && matches!((start, end), (Some(start), Some(end)) if start <= end && end <= chars);
        if !well_formed {
            return Err(refuse(
                name,
                format!(
                    "entity {index} needs an entity_group, a score, and a start and end within the text"
                ),
            ));
        }
    }
    Ok(())
}

/// Roles a chat message may have.
pub const CHAT_ROLES: [&str; 3] = ["system", "user", "assistant"];

/// A conversation, checked message by message; the error names the
/// message and its part (`messages[2].role`).
fn check_chat(
    name: &str,
    raw: &serde_json::Value,
    max_messages: Option<usize>,
    max_chars: Option<usize>,
) -> Result<Value, FieldError> {
    let Some(messages) = raw.as_array() else {
        return Err(refuse(
            name,
            format!(
                "expected a list of {{\"role\", \"content\"}} messages, got {}",
                json_type(raw)
            ),
        ));
    };
    if messages.is_empty() {
        return Err(refuse(name, "needs at least one message"));
    }
    if let Some(max) = max_messages.filter(|max| messages.len() > *max) {
        return Err(refuse(
            name,
            format!("takes at most {max} messages, got {}", messages.len()),
        ));
    }
    let mut total = 0;
    let mut checked = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let at = |part: &str| format!("{name}[{i}]{part}");
        let object = message.as_object().ok_or_else(|| {
            refuse(
                &at(""),
                "a message must be an object with `role` and `content`",
            )
        })?;
        let role = object
            .get("role")
            .and_then(|r| r.as_str())
            .unwrap_or_default();
        if !CHAT_ROLES.contains(&role) {
            return Err(refuse(
                &at(".role"),
                format!("unknown role `{role}`; one of: {}", CHAT_ROLES.join(", ")),
            ));
        }
        let content = object
            .get("content")
            .and_then(|c| c.as_str())
            .ok_or_else(|| refuse(&at(".content"), "must be a string"))?;
        if let Some(extra) = object
            .keys()
            .find(|key| !matches!(key.as_str(), "role" | "content"))
        {
            return Err(refuse(
                &at(&format!(".{extra}")),
                "unknown; a message has `role` and `content`",
            ));
        }
        total += content.chars().count();
        checked.push(serde_json::json!({"role": role, "content": content}));
    }
    if let Some(max) = max_chars.filter(|max| total > *max) {
        return Err(refuse(
            name,
            format!("takes at most {max} characters in all, got {total}"),
        ));
    }
    Ok(Value::Json(serde_json::Value::Array(checked)))
}

fn check_length(name: &str, text: &str, max_chars: Option<usize>) -> Result<(), FieldError> {
    if let Some(max) = max_chars {
        let count = text.chars().count();
        if count > max {
            return Err(refuse(
                name,
                format!("is {count} characters long; the limit is {max}"),
            ));
        }
    }
    Ok(())
}

/// A number within its kind's range, whole where the kind counts, and
/// finite everywhere (JSON has no NaN, but the binary protocols do).
fn check_number(
    name: &str,
    kind: &Kind,
    number: f64,
    min: Option<f64>,
    max: Option<f64>,
) -> Result<(), FieldError> {
    if !number.is_finite() {
        return Err(refuse(name, format!("{number} is not a finite number")));
    }
    if kind.is_integer() && number.fract() != 0.0 {
        return Err(refuse(name, format!("{number} is not a whole number")));
    }
    check_range(name, number, min, max)
}

fn check_range(
    name: &str,
    number: f64,
    min: Option<f64>,
    max: Option<f64>,
) -> Result<(), FieldError> {
    if let Some(min) = min
        && number < min
    {
        return Err(refuse(name, format!("{number} is below the minimum {min}")));
    }
    if let Some(max) = max
        && number > max
    {
        return Err(refuse(name, format!("{number} is above the maximum {max}")));
    }
    Ok(())
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Vec<Field> {
        vec![
            Field::new(
                "text",
                Kind::Text {
                    lines: 1,
                    placeholder: None,
                    max_chars: Some(5),
                },
            ),
            Field::new(
                "labels",
                Kind::Tags {
                    min_items: Some(1),
                    max_items: Some(2),
                    max_chars: None,
                },
            ),
            Field::new(
                "top",
                Kind::Number {
                    min: Some(1.0),
                    max: Some(3.0),
                    step: None,
                },
            )
            .optional(Some(Value::Number(2.0))),
            Field::new(
                "count",
                Kind::Slider {
                    min: 1.0,
                    max: 100.0,
                    step: 1.0,
                },
            )
            .optional(None),
        ]
    }

    #[test]
    fn numbers_must_be_finite_and_counts_whole() {
        let count = &fields()[3];
        assert!(count.kind.is_integer() && !fields()[2].kind.is_integer());
        for bad in [f64::NAN, f64::INFINITY, 2.5] {
            assert!(check_number("count", &count.kind, bad, Some(1.0), None).is_err());
        }
        assert!(check_number("count", &count.kind, 2.0, Some(1.0), None).is_ok());
        assert_eq!(crate::kind_schema(&count.kind)["type"], "integer");
    }

    fn check(body: serde_json::Value) -> Result<Values, FieldError> {
        validate_inputs(&fields(), body.as_object().unwrap())
    }

    #[test]
    fn accepts_good_inputs_and_fills_defaults() {
        let values = check(json!({"text": "hi", "labels": ["a"]})).unwrap();
        assert_eq!(values["text"], Value::Text("hi".into()));
        assert_eq!(values["labels"], Value::Strings(vec!["a".into()]));
        assert_eq!(values["top"], Value::Number(2.0));
    }

    #[test]
    fn names_the_field_that_is_wrong() {
        let cases = [
            (json!({"labels": ["a"]}), "text", "is required"),
            (
                json!({"text": 3, "labels": ["a"]}),
                "text",
                "expected a string",
            ),
            (
                json!({"text": "toolong", "labels": ["a"]}),
                "text",
                "limit is 5",
            ),
            (json!({"text": "a", "labels": []}), "labels", "at least 1"),
            (json!({"text": "a", "labels": ["a", 1]}), "labels", "item 1"),
            (
                json!({"text": "a", "labels": ["a"], "top": 9}),
                "top",
                "maximum",
            ),
            (
                json!({"text": "a", "labels": ["a"], "tpo": 1}),
                "tpo",
                "unknown",
            ),
            (
                json!({"text": "a", "labels": ["a"], "top": null}),
                "top",
                "got null (leave it out for its default)",
            ),
            (
                json!({"text": null, "labels": ["a"]}),
                "text",
                "got null (it is required)",
            ),
            (
                json!({"text": "a", "labels": ["a"], "count": 1.5}),
                "count",
                "not a whole number",
            ),
        ];
        for (body, field, message) in cases {
            let error = check(body.clone()).unwrap_err();
            assert_eq!(error.field, field, "{body}");
            assert!(error.message.contains(message), "{body}: {}", error.message);
        }
    }

    #[test]
    fn files_given_as_bytes_are_checked_as_their_field_and_kept_as_they_are() {
        let fields = [
            Field::new("image", Kind::Image { max_bytes: Some(4) }),
            Field::new(
                "caption",
                Kind::Text {
                    lines: 1,
                    placeholder: None,
                    max_chars: None,
                },
            )
            .optional(None),
        ];
        let file = |mime: &str, bytes: &[u8]| {
            std::collections::BTreeMap::from([(
                "image".to_string(),
                Media::new(mime, bytes.to_vec()),
            )])
        };
        let json = serde_json::Map::new();
        let values = validate_inputs_with(&fields, &json, file("image/png", b"png")).unwrap();
        assert_eq!(
            values["image"],
            Value::Media(Media::new("image/png", b"png".to_vec()))
        );
        for (files, json, field, says) in [
            (
                file("audio/wav", b"wav"),
                json!({}),
                "image",
                "expected an image",
            ),
            (
                file("image/png", b"12345"),
                json!({}),
                "image",
                "limit is 4",
            ),
            (file("image/png", b""), json!({}), "image", "empty"),
            (
                file("image/png", b"png"),
                json!({"image": "x"}),
                "image",
                "given twice",
            ),
        ] {
            let error =
                validate_inputs_with(&fields, json.as_object().unwrap(), files).unwrap_err();
            assert_eq!(error.field, field);
            assert!(error.message.contains(says), "{}", error.message);
        }
        let stray = std::collections::BTreeMap::from([(
            "caption".to_string(),
            Media::new("image/png", b"png".to_vec()),
        )]);
        let error = validate_inputs_with(&fields, &json, stray).unwrap_err();
        assert_eq!(error.field, "caption");
    }

    #[test]
    fn media_is_decided_by_the_field_kind_never_by_the_string() {
        let fields = [
            Field::new("image", Kind::Image { max_bytes: None }),
            Field::new(
                "caption",
                Kind::Text {
                    lines: 1,
                    placeholder: None,
                    max_chars: None,
                },
            ),
        ];
        let url = "data:image/png;base64,iVBORw==";
        let values = validate_inputs(
            &fields,
            json!({"image": url, "caption": url}).as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(
            values["image"],
            Value::Media(Media::new("image/png", vec![0x89, b'P', b'N', b'G']))
        );
        assert_eq!(values["caption"], Value::Text(url.into()));

        let error = validate_inputs(
            &fields,
            json!({"image": "a cat", "caption": ""})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(error.field, "image");
        assert!(error.message.contains("data: URL"), "{}", error.message);
        let error = validate_inputs(
            &fields,
            json!({"image": 3, "caption": ""}).as_object().unwrap(),
        )
        .unwrap_err();
        assert!(
            error.message.contains("expected an image"),
            "{}",
            error.message
        );
    }

    #[test]
    fn outputs_are_checked_by_shape() {
        let outputs = [
            Field::new("label", Kind::Label { top_k: None }),
            Field::new("score", Kind::Score),
        ];
        let check = |body: serde_json::Value| validate_outputs(&outputs, body.as_object().unwrap());
        assert!(check(json!({"label": {"label": "a", "confidences": []}, "score": 0.5})).is_ok());
        let ok = json!({"label": {"label": "a", "confidences": [{"label": "a", "confidence": 0.9}]}, "score": 0.5});
        assert!(check(ok).is_ok());
        for (label, message) in [
            (
                json!({"label": "a", "confidences": [], "extra": 1}),
                "unknown key `extra`",
            ),
            (
                json!({"label": "x".repeat(MAX_LABEL_CHARS + 1), "confidences": []}),
                "limit is 500",
            ),
            (
                json!({"label": "a", "confidences": [{"label": "a", "confidence": 1, "x": 0}]}),
                "exactly",
            ),
            (
                json!({"label": "a", "confidences": [{"label": 3, "confidence": 1}]}),
                "must be a string",
            ),
        ] {
            let error = check(json!({"label": label, "score": 0.5})).unwrap_err();
            assert_eq!(error.field, "label");
            assert!(error.message.contains(message), "{}", error.message);
        }
        let embedding = [Field::new("e", Kind::Embedding { dim: 2 })];
        let error =
            validate_outputs(&embedding, json!({"e": [1, 2, 3]}).as_object().unwrap()).unwrap_err();
        assert_eq!(error.message, "expected 2 numbers, got 3");
        let segments = [Field::new("s", Kind::Segments)];
        let segments_check =
            |value| validate_outputs(&segments, json!({ "s": value }).as_object().unwrap());
        assert!(segments_check(json!([{"start": 0, "end": 1.5, "text": " Hi."}])).is_ok());
        assert!(segments_check(json!([])).is_ok());
        let error =
            segments_check(json!([{"start": 0, "end": 1, "text": "a"}, {"start": 1, "text": "b"}]))
                .unwrap_err();
        assert_eq!(
            error.message,
            "segment 1 needs a numeric start and end and a text"
        );
        assert!(segments_check(json!("text")).is_err());
        let entities = [Field::new("n", Kind::Entities)];
        let entities_check =
            |value| validate_outputs(&entities, json!({ "n": value }).as_object().unwrap());
        let span = |start: u64, end: u64| {
            json!({"text": "Café in Paris", "entities": [
                {"entity_group": "LOC", "score": 0.9, "word": "paris", "start": start, "end": end}]})
        };
        // Offsets count characters: "Café in Paris" is 13 of them.
        assert!(entities_check(span(8, 13)).is_ok());
        assert!(entities_check(span(8, 14)).is_err());
        assert!(entities_check(span(9, 8)).is_err());
        assert!(entities_check(json!({"text": "a"})).is_err());
        assert_eq!(check(json!({"score": 0.5})).unwrap_err().field, "label");
        assert_eq!(
            check(json!({"label": {"label": "a", "confidences": []}, "score": "x"}))
                .unwrap_err()
                .field,
            "score"
        );
        assert_eq!(
            check(json!({"label": {"label": "a"}, "score": 1, "x": 1}))
                .unwrap_err()
                .field,
            "x"
        );
    }
}
