//! Values between Gradio's shapes and Wick's: what a Gradio client sends
//! for an input (a `FileData` for an image, Chatbot messages whose content
//! is a list of parts) becomes the JSON Wick's signature takes, and an
//! output becomes what the Gradio component of its kind returns (a Label
//! dict, a number, JSON, an Image `FileData`).
//!
//! Streams: Wick's partial outputs are increments (the next tokens);
//! Gradio's are the whole value so far, sent whole (`/call`) or as edits
//! of the previous one (`process_generating` in the queue, its "diff").

use serde_json::{Value, json};
use wick_engine::{Engine, Input};
use wick_types::{Field, Kind, Media, ModelInfo, Values};

use super::files::{File, Files};
use crate::download;

/// What Wick takes for `field` of `model` from what a Gradio client sent.
pub async fn input(
    field: &Field,
    value: Value,
    files: &Files,
    engine: &Engine,
    model: &ModelInfo,
) -> Result<Input, String> {
    match &field.kind {
        Kind::Image { .. } | Kind::Audio { .. } => {
            file_input(field, value, files, engine, model).await
        }
        Kind::Chat { .. } => Ok(Input::Json(chat_input(value))),
        _ => Ok(Input::Json(value)),
    }
}

/// A `FileData` (or its URL) becomes the file's bytes; a `data:` URL
/// string stays one, for the engine to read once. The file is one this
/// server holds or one on the web (`named_file`).
async fn file_input(
    field: &Field,
    value: Value,
    files: &Files,
    engine: &Engine,
    model: &ModelInfo,
) -> Result<Input, String> {
    let reference = match reference(field, &value)? {
        Some(reference) => reference,
        // The validator says what is wrong with anything else.
        None => return Ok(Input::Json(value)),
    };
    if reference.starts_with("data:") {
        return Ok(Input::Json(Value::String(reference)));
    }
    if let Some(file) = named_file(field, &reference, files, engine, model).await {
        return file.map(Input::File);
    }
    Err(format!(
        "`{}`: `{reference}` is not a file uploaded to this server; \
         upload it with POST /gradio_api/upload first (gradio_client's handle_file does)",
        field.name
    ))
}

/// The file `reference` names: one this server holds (`held_file`), or
/// one on the web, downloaded (`download`). `None` when it names neither.
pub async fn named_file(
    field: &Field,
    reference: &str,
    files: &Files,
    engine: &Engine,
    model: &ModelInfo,
) -> Option<Result<Media, String>> {
    if let Some(file) = held_file(field, reference, files, engine, model).await {
        return Some(file);
    }
    if !download::is_web_url(reference) {
        return None;
    }
    let limit = download::limit_for(field);
    Some(
        download::download(reference, limit)
            .await
            .map_err(|e| format!("`{}`: {e}", field.name)),
    )
}

/// The file this server holds under `reference`: one uploaded here (its
/// path, or its `file=` URL), or one of the model's example files (its
/// `/api/models/{model}/files/...` URL, as `/gradio_api/info`'s examples
/// name them). `None` when it names neither.
async fn held_file(
    field: &Field,
    reference: &str,
    files: &Files,
    engine: &Engine,
    model: &ModelInfo,
) -> Option<Result<Media, String>> {
    let example = format!("/api/models/{}/files/", model.name);
    if let Some((_, path)) = reference.split_once(&example) {
        let path = percent_decode(path);
        if let Some(file) = engine.example_file(&model.name, &path) {
            let read = tokio::fs::read(&file.path).await.map_err(|e| {
                format!(
                    "`{}`: the example file {path} cannot be read: {e}",
                    field.name
                )
            });
            return Some(read.map(|bytes| Media::new(file.media_type, bytes)));
        }
    }
    uploaded(reference, files).map(Ok)
}

/// A file uploaded here, by its path or its `file=` URL.
fn uploaded(reference: &str, files: &Files) -> Option<Media> {
    let path = reference
        .split_once("/file=")
        .map_or(reference, |(_, path)| path);
    let file = files.get(&percent_decode(path))?;
    Some(Media::new(file.mime.clone(), file.bytes.clone()))
}

/// What a file input names: a path, a URL or a `data:` URL; `None` when
/// it is not a file reference at all.
fn reference(field: &Field, value: &Value) -> Result<Option<String>, String> {
    Ok(Some(match value {
        Value::String(text) => text.clone(),
        Value::Object(data) => match (data.get("url"), data.get("path")) {
            (Some(Value::String(url)), _) if url.starts_with("data:") => url.clone(),
            (_, Some(Value::String(path))) => path.clone(),
            (Some(Value::String(url)), _) => url.clone(),
            _ => return Err(format!("`{}`: a FileData needs a `path`", field.name)),
        },
        _ => return Ok(None),
    }))
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Gradio's Chatbot messages (content a string, or a list of
/// `{"type": "text", "text"}` parts; `metadata` and `options` besides)
/// become Wick's `{"role", "content"}` with text content.
fn chat_input(value: Value) -> Value {
    let Value::Array(messages) = value else {
        return value;
    };
    let messages = messages
        .into_iter()
        .map(|message| match message {
            Value::Object(mut fields) => {
                let content = match fields.remove("content") {
                    Some(Value::Array(parts)) => Value::String(
                        parts
                            .iter()
                            .filter_map(|part| part.get("text").and_then(Value::as_str))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                    Some(Value::Object(part)) if part.contains_key("text") => {
                        part.get("text").cloned().unwrap_or_default()
                    }
                    other => other.unwrap_or(Value::Null),
                };
                json!({
                    "role": fields.remove("role").unwrap_or(Value::Null),
                    "content": content,
                })
            }
            other => other,
        })
        .collect();
    Value::Array(messages)
}

/// What the Gradio component for `field` returns for `value`. `root` is
/// the server's address as the client reached it (`http://host:port`), for
/// the URLs of files.
pub fn output(
    field: &Field,
    value: Option<&wick_types::Value>,
    files: &Files,
    root: &str,
    owner: Option<std::net::IpAddr>,
) -> Value {
    match value {
        None => Value::Null,
        Some(wick_types::Value::Media(media)) => {
            let extension = wick_types::extension_of(&media.mime).unwrap_or("bin");
            let size = media.bytes.len();
            let path = files.keep(File {
                name: format!("{}.{extension}", field.name),
                mime: media.mime.clone(),
                bytes: media.bytes.clone(),
                owner,
            });
            json!({
                "path": path,
                "url": format!("{root}/gradio_api/file={path}"),
                "size": size,
                "orig_name": format!("{}.{extension}", field.name),
                "mime_type": media.mime,
                "is_stream": false,
                "meta": {"_type": "gradio.FileData"},
            })
        }
        Some(wick_types::Value::Json(entities)) if matches!(field.kind, Kind::Entities) => {
            highlighted(entities)
        }
        Some(value) => serde_json::to_value(value).unwrap_or(Value::Null),
    }
}

/// Entities as Gradio's HighlightedText gives them: the whole text in
/// pieces, `{"token", "class_or_confidence"}`, the label of an entity's
/// piece and null between them.
fn highlighted(entities: &Value) -> Value {
    let text: Vec<char> = entities["text"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .collect();
    let piece = |from: usize, to: usize| -> String { text[from.min(to)..to].iter().collect() };
    let mut pieces = Vec::new();
    let mut at = 0;
    for entity in entities["entities"].as_array().into_iter().flatten() {
        let start = (entity["start"].as_u64().unwrap_or(0) as usize).min(text.len());
        let end = (entity["end"].as_u64().unwrap_or(0) as usize).min(text.len());
        if start < at || end < start {
            continue;
        }
        if start > at {
            pieces.push(json!({"token": piece(at, start), "class_or_confidence": null}));
        }
        pieces.push(
            json!({"token": piece(start, end), "class_or_confidence": entity["entity_group"]}),
        );
        at = end;
    }
    if at < text.len() {
        pieces.push(json!({"token": piece(at, text.len()), "class_or_confidence": null}));
    }
    Value::Array(pieces)
}

/// Adds a partial output to the outputs so far: a text grows by it, a
/// JSON list (a transcript's segments) is extended, anything else is
/// replaced.
pub fn accumulate(so_far: &mut Values, partial: Values) {
    for (name, value) in partial {
        match (so_far.get_mut(&name), value) {
            (Some(wick_types::Value::Text(text)), wick_types::Value::Text(more)) => {
                text.push_str(&more)
            }
            (
                Some(wick_types::Value::Json(Value::Array(items))),
                wick_types::Value::Json(Value::Array(more)),
            ) => items.extend(more),
            (_, value) => {
                so_far.insert(name, value);
            }
        }
    }
}

/// The edits that turn `old` into `new`, as Gradio's clients apply them
/// (`[[action, path, value], ...]`): nothing when equal, an `append` when
/// a text grew, else a `replace`.
pub fn diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        _ if old == new => json!([]),
        (Value::String(old), Value::String(new)) if new.starts_with(old.as_str()) => {
            json!([["append", [], &new[old.len()..]]])
        }
        _ => json!([["replace", [], new]]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_field() -> Field {
        Field::new("image", Kind::Image { max_bytes: None })
    }

    #[test]
    fn an_uploaded_file_is_handed_over_as_its_bytes() {
        let files = Files::default();
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        // As `upload` keeps it: its type read from its bytes.
        let path = files.keep(File {
            name: "cat.png".into(),
            mime: "image/png".into(),
            bytes: png.clone(),
            owner: None,
        });
        let expected = Media::new("image/png", png);
        let field = image_field();
        let file = |data: Value| uploaded(&reference(&field, &data).unwrap().unwrap(), &files);
        let data = json!({"path": path, "meta": {"_type": "gradio.FileData"}});
        assert_eq!(file(data), Some(expected.clone()));
        let by_url = json!({"url": format!("http://h/gradio_api/file={path}")});
        assert_eq!(file(by_url), Some(expected));
        // `path` wins over `url` when both are there, as in Gradio.
        let both = json!({"path": "x", "url": format!("http://h/gradio_api/file={path}")});
        assert_eq!(file(both), None);
        assert_eq!(file(json!({"path": "/etc/passwd"})), None);
        assert!(reference(&field, &json!({"size": 3})).is_err());
        assert_eq!(reference(&field, &json!(3)), Ok(None));
    }

    #[test]
    fn chatbot_messages_become_wick_messages() {
        let gradio = json!([
            {"role": "user", "metadata": null, "content": [{"type": "text", "text": "Hi"}], "options": null},
            {"role": "assistant", "content": "Hello"},
        ]);
        let wick = json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
        ]);
        assert_eq!(chat_input(gradio), wick);
    }

    #[test]
    fn texts_grow_and_the_diff_says_so() {
        let mut so_far = Values::new();
        for chunk in ["Hel", "lo"] {
            let partial = [("text".to_string(), wick_types::Value::Text(chunk.into()))];
            accumulate(&mut so_far, partial.into_iter().collect());
        }
        assert_eq!(so_far["text"], wick_types::Value::Text("Hello".into()));
        assert_eq!(
            diff(&json!("Hel"), &json!("Hello")),
            json!([["append", [], "lo"]])
        );
        assert_eq!(diff(&json!(1), &json!(1)), json!([]));
        assert_eq!(
            diff(&json!("ab"), &json!("x")),
            json!([["replace", [], "x"]])
        );
    }

    #[test]
    fn a_media_output_is_a_file_data_the_client_can_fetch() {
        let files = Files::default();
        let media = wick_types::Value::Media(Media::new("image/png", vec![1, 2]));
        let data = output(&image_field(), Some(&media), &files, "http://h:1", None);
        assert_eq!(data["meta"]["_type"], "gradio.FileData");
        assert_eq!(data["size"], 2);
        let path = data["path"].as_str().unwrap();
        assert_eq!(files.get(path).unwrap().bytes, vec![1, 2]);
        assert_eq!(data["url"], format!("http://h:1/gradio_api/file={path}"));
    }
}
