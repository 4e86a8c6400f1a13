//! `multipart/form-data` predictions, as `curl -F image=@cat.jpg` sends
//! them: each part is an input of the endpoint, named by the part. A part
//! for an image or audio input is the file (its declared type, or the type
//! its bytes and file name say when it is `application/octet-stream`); any
//! other part is text, typed by its field as `wick predict -i` types it. A
//! `version` part pins the model version. Files are handed to the engine
//! as the bytes they came as, never encoded to a `data:` URL; validation
//! is the engine's as always.
//!
//! The body is already in memory, within `--max-body-bytes`, when this
//! reads it.

use axum::body::Bytes;
use serde_json::Value;
use wick_engine::{Engine, Input, Inputs};
use wick_types::{ErrorCode, Media};

use crate::api_error::ApiError;

/// Whether the body is declared `multipart/form-data`.
pub fn is_multipart(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("multipart/form-data"))
}

/// One set of inputs, and the pinned version if a part named one.
pub struct FormInputs {
    pub inputs: Inputs,
    pub version: Option<String>,
}

pub async fn read(
    engine: &Engine,
    model: &str,
    endpoint: &str,
    content_type: &str,
    body: Bytes,
) -> Result<FormInputs, ApiError> {
    // The signature types the parts; an unknown model or endpoint is the
    // engine's to report, with the fields it has.
    let fields = engine
        .model(model)
        .and_then(|info| info.endpoint(endpoint).map(|e| e.inputs.clone()))
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("the multipart body has no usable boundary: {e}"),
        )
    })?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let broken = |e: multer::Error| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("the multipart body cannot be read: {e}"),
        )
    };
    let mut form = FormInputs {
        inputs: Inputs::default(),
        version: None,
    };
    while let Some(part) = parts.next_field().await.map_err(broken)? {
        let name = part.name().unwrap_or_default().to_string();
        let file_name = part.file_name().map(String::from);
        let declared = part
            .content_type()
            .map(|mime| mime.essence_str().to_string());
        let bytes = part.bytes().await.map_err(broken)?;
        if name.is_empty() {
            return Err(ApiError::invalid_input(
                "inputs",
                "every part of the form needs a name (the input it is)",
            ));
        }
        let seen = form.inputs.json.contains_key(&name) || form.inputs.media.contains_key(&name);
        if seen || (name == "version" && form.version.is_some()) {
            return Err(ApiError::invalid_input(
                &name,
                format!("the form has two parts named `{name}`; send each input once"),
            ));
        }
        let field = fields.iter().find(|field| field.name == name);
        let value = match field {
            Some(field) if field.kind.media().is_some() => {
                // A type that says nothing (`application/octet-stream`, or
                // a range such as `image/*`, as the OpenAPI encoding names
                // it) is read from the bytes instead.
                let mime = declared
                    .filter(|mime| {
                        mime != "application/octet-stream"
                            && mime != "text/plain"
                            && !mime.ends_with("/*")
                    })
                    .or_else(|| {
                        wick_types::media_type_of(file_name.as_deref().unwrap_or(""), &bytes)
                            .map(String::from)
                    })
                    .unwrap_or_else(|| "application/octet-stream".into());
                Input::File(Media::new(mime, bytes.to_vec()))
            }
            _ => {
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    ApiError::invalid_input(&name, "this part must be UTF-8 text, not a file")
                })?;
                if name == "version" && field.is_none() {
                    form.version = Some(text);
                    continue;
                }
                Input::Json(match field {
                    Some(field) => field.value_from_text(&text),
                    // Unknown names go through; validation names them.
                    None => Value::String(text),
                })
            }
        };
        form.inputs.insert(name, value);
    }
    Ok(form)
}
