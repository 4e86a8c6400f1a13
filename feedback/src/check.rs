//! Checking a flag before it is stored, as predictions are checked: the
//! version, endpoint and option must exist, the inputs and outputs must fit
//! the endpoint's signature, and every refusal names the field.

use serde_json::Value;
use wick_types::{
    ErrorCode, FieldError, FlagRequest, MAX_COMMENT_CHARS, MAX_FLAG_BYTES, ModelInfo,
    validate_inputs, validate_outputs,
};

use crate::files::{take_input_files, take_output_files};
use crate::store::NewFlag;

#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("model `{model}` has no version `{version}` loaded (loaded: {loaded})")]
    UnknownVersion {
        model: String,
        version: String,
        loaded: String,
    },
    #[error("{0}")]
    Invalid(FieldError),
    #[error("the feedback store failed, nothing was saved: {0}")]
    Store(#[from] sqlx::Error),
    #[error("{0}; retry shortly")]
    TooMany(&'static str),
    #[error("feedback is off on this server (--no-feedback): flags are not kept")]
    Off,
}

impl FlagError {
    /// The same codes as predictions use, plus `feedback_unavailable`.
    pub fn code(&self) -> ErrorCode {
        match self {
            FlagError::UnknownVersion { .. } => ErrorCode::VersionNotFound,
            FlagError::Invalid(_) => ErrorCode::InvalidInput,
            FlagError::Store(_) => ErrorCode::FeedbackUnavailable,
            FlagError::TooMany(_) => ErrorCode::Overloaded,
            FlagError::Off => ErrorCode::NotFound,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            FlagError::Invalid(error) => Some(&error.field),
            _ => None,
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> FlagError {
    FlagError::Invalid(FieldError {
        field: field.to_string(),
        message: message.into(),
    })
}

/// `inputs.text`, `outputs.label`: which side of the signature is wrong.
fn within(side: &str) -> impl Fn(FieldError) -> FlagError {
    move |error| {
        invalid(
            &format!("{side}.{}", error.field),
            format!("{side} `{}` {}", error.field, error.message),
        )
    }
}

const REQUIRED: [&str; 4] = ["endpoint", "inputs", "outputs", "option"];

/// Reads a flag from a JSON object field by field, so a refusal names the
/// field at fault: every adapter (the API, the UI's Flag button) sends the
/// object it was given, unchanged.
pub fn parse_flag(object: serde_json::Map<String, Value>) -> Result<FlagRequest, FlagError> {
    for (key, value) in &object {
        let (expected, fits) = match key.as_str() {
            "endpoint" | "option" => ("a string", value.is_string()),
            "comment" | "version" => ("a string", value.is_string() || value.is_null()),
            "inputs" | "outputs" => ("an object", value.is_object()),
            "duration_ms" => ("a number", value.is_number() || value.is_null()),
            _ => {
                return Err(invalid(
                    key,
                    format!(
                        "unknown field `{key}`; a flag takes endpoint, inputs, outputs, option, \
                         comment, duration_ms and version"
                    ),
                ));
            }
        };
        if !fits {
            return Err(invalid(key, format!("`{key}` must be {expected}")));
        }
    }
    if let Some(missing) = REQUIRED.iter().find(|key| !object.contains_key(**key)) {
        return Err(invalid(missing, format!("`{missing}` is required")));
    }
    serde_json::from_value(Value::Object(object)).map_err(|e| invalid("body", e.to_string()))
}

/// Turns a request into a row for `model`, or says what is wrong with it.
/// The inputs are stored as the model saw them, with defaults filled in;
/// images and audio clips become files kept beside the row (`files`), and
/// the rest of the flag is at most `MAX_FLAG_BYTES` of JSON.
pub fn check_flag(model: &ModelInfo, request: FlagRequest) -> Result<NewFlag, FlagError> {
    // The version that answered: any loaded one (a canary too).
    let version = match &request.version {
        None => model.version.clone(),
        Some(version) if *version == model.version || model.versions.contains(version) => {
            version.clone()
        }
        Some(version) => {
            return Err(FlagError::UnknownVersion {
                model: model.name.clone(),
                version: version.clone(),
                loaded: if model.versions.is_empty() {
                    model.version.clone()
                } else {
                    model.versions.join(", ")
                },
            });
        }
    };
    let endpoint = model.endpoint(&request.endpoint).ok_or_else(|| {
        let known: Vec<&str> = model.endpoints.iter().map(|e| e.name.as_str()).collect();
        invalid(
            "endpoint",
            format!(
                "model `{}` has no endpoint `{}`; it has: {}",
                model.name,
                request.endpoint,
                known.join(", ")
            ),
        )
    })?;
    if !model.flagging_options.contains(&request.option) {
        return Err(invalid(
            "option",
            format!(
                "`{}` is not a flagging option of `{}`; use one of: {}",
                request.option,
                model.name,
                model.flagging_options.join(", ")
            ),
        ));
    }
    let comment = request
        .comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(comment) = &comment {
        let length = comment.chars().count();
        if length > MAX_COMMENT_CHARS {
            return Err(invalid(
                "comment",
                format!("is {length} characters long; the limit is {MAX_COMMENT_CHARS}"),
            ));
        }
    }
    if let Some(duration) = request.duration_ms
        && !(duration.is_finite() && duration >= 0.0)
    {
        return Err(invalid(
            "duration_ms",
            "must be a non-negative number of milliseconds",
        ));
    }
    let mut inputs =
        validate_inputs(&endpoint.inputs, &request.inputs).map_err(within("inputs"))?;
    validate_outputs(&endpoint.outputs, &request.outputs).map_err(within("outputs"))?;
    let mut files = take_input_files(&mut inputs);
    let mut outputs = request.outputs;
    files.extend(take_output_files(&endpoint.outputs, &mut outputs).map_err(within("outputs"))?);
    let flag = NewFlag {
        model: model.name.clone(),
        version,
        endpoint: endpoint.name.clone(),
        inputs: serde_json::to_value(inputs).unwrap_or_default(),
        outputs: serde_json::Value::Object(outputs),
        option: request.option,
        comment,
        duration_ms: request.duration_ms,
        user: None,
        attachments: files,
    };
    let size = serde_json::to_vec(&flag).map_or(usize::MAX, |json| json.len());
    if size > MAX_FLAG_BYTES {
        return Err(invalid(
            "body",
            format!(
                "the flag is {size} bytes as JSON (files aside); the limit is {MAX_FLAG_BYTES}"
            ),
        ));
    }
    Ok(flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(body: &str) -> serde_json::Map<String, Value> {
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn flag_bodies_are_parsed_or_refused_naming_the_field() {
        let good = r#"{"endpoint": "embed", "inputs": {"text": "a"}, "outputs": {},
                       "option": "Other", "comment": null, "duration_ms": 3.5}"#;
        let request = parse_flag(object(good)).unwrap();
        assert_eq!(request.option, "Other");
        assert_eq!(request.duration_ms, Some(3.5));

        for (body, field) in [
            (
                r#"{"inputs": {}, "outputs": {}, "option": "x"}"#,
                "endpoint",
            ),
            (
                r#"{"endpoint": 1, "inputs": {}, "outputs": {}, "option": "x"}"#,
                "endpoint",
            ),
            (
                r#"{"endpoint": "e", "inputs": [], "outputs": {}, "option": "x"}"#,
                "inputs",
            ),
            (
                r#"{"endpoint": "e", "inputs": {}, "outputs": {}, "option": "x", "comment": 5}"#,
                "comment",
            ),
            (
                r#"{"endpoint": "e", "inputs": {}, "outputs": {}, "option": "x", "flag": "y"}"#,
                "flag",
            ),
        ] {
            let error = parse_flag(object(body)).unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidInput);
            assert_eq!(error.field(), Some(field), "{body}");
        }
    }
}
